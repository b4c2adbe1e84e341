//! Decoder throughput: our strict codec against rumqttc's, on the same bytes in one run.
//!
//! # What is measured
//!
//! A deterministic (xorshift64*, fixed seed) MQTT byte stream of about `BENCH_MB` MiB
//! (default 256) is built with our encoder, once for MQTT 3.1.1 and once for 5.0:
//!
//! - PUBLISH at QoS 0 and QoS 1 (half each), payloads uniformly 16–512 bytes, topics of
//!   3–6 levels drawn from a pool of 1,024 device topics in the shapes the supported
//!   clouds use (`tylink/<id>/thing/property/report`, `devices/d1234/telemetry/temp`,
//!   `$sys/<pid>/<dev>/dp/post/json`, `iot-2/evt/status/fmt/json`, …);
//! - a PUBACK for every QoS 1 PUBLISH, sent a few packets later;
//! - a PINGREQ/PINGRESP pair in about 1 step of 50;
//! - in 5.0 only: a quarter of the PUBLISHes carry Message Expiry Interval and a User
//!   Property, an eighth carry Payload Format Indicator and Content Type, and one PUBACK
//!   in ten carries reason code 0x10 (No matching subscribers).
//!
//! Each decoder is fed the stream through a `BytesMut` in 64 KiB reads, as a socket
//! would, and must frame and **fully decode** every packet (the packets are passed to
//! `black_box`):
//!
//! - ours: [`Framer::next_frame_header`] then [`decode_frame`] on every frame (the
//!   framing path: the fixed header is parsed once, as `PacketReader::read_frame` does);
//! - rumqttc 0.25: `mqttbytes::v4::Packet::read` (3.1.1) and
//!   `v5::mqttbytes::v5::Packet::read` (5.0), which frame and decode in one call.
//!
//! Both sides are checked against what was generated: packet count, PUBLISH count, total
//! payload bytes and (5.0) number of PUBLISH properties; any decode error aborts the run.
//! rumqttc's 5.0 decoder keeps the topic as raw `Bytes` without checking its UTF-8, so an
//! extra row "rumqttc+utf8" adds `str::from_utf8` on each topic for a like-for-like
//! comparison (ours validates UTF-8, refuses U+0000 and wildcards, and checks every
//! property's identifier, placement, repetition and value).
//!
//! Each measurement is repeated `BENCH_RUNS` times (default 5), alternating decoders;
//! the table reports the best run (and the median throughput). MB/s is 10^6 bytes per
//! second; "ours/this" is our best throughput divided by that row's. Single-threaded.
//!
//! # Running
//!
//! ```text
//! cargo bench --bench decode                    # 256 MiB per version, best of 5
//! BENCH_MB=32 BENCH_RUNS=3 cargo bench --bench decode
//! BENCH_ONLY=ours cargo bench --bench decode   # one decoder (ours, rumqttc, rumqttc+utf8),
//!                                               # e.g. under perf or callgrind
//! ```

use bytes::{Bytes, BytesMut};
use mqtt_conform::codec::{
    Framer, Packet, Properties, PropertyId, PropertyValue, ProtocolVersion, PubResponse, Publish,
    QoS, decode_frame, encode,
};
use std::collections::VecDeque;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Bytes handed to the decoders per simulated socket read.
const READ_CHUNK: usize = 64 * 1024;
/// Largest packet either decoder accepts.
const MAX_PACKET: usize = 1 << 20;
/// Fixed PRNG seed: the stream is identical from run to run.
const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// xorshift64*: small, fast and good enough to shape a traffic mix.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (the modulo bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below((hi - lo + 1) as u64) as usize
    }

    /// One in `n`.
    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    fn alnum(&mut self, len: usize) -> String {
        const CHARS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        (0..len)
            .map(|_| char::from(CHARS[self.below(CHARS.len() as u64) as usize]))
            .collect()
    }

    fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(b"0123456789abcdef"[self.below(16) as usize]))
            .collect()
    }
}

/// Device topics of 3–6 levels, in the shapes real IoT clouds use.
fn topic_pool(rng: &mut Rng, n: usize) -> Vec<String> {
    const METRICS: [&str; 5] = ["temp", "humidity", "pressure", "battery", "rssi"];
    (0..n)
        .map(|_| match rng.below(6) {
            0 => format!("tylink/{}/thing/property/report", rng.alnum(22)),
            1 => format!(
                "devices/d{}/telemetry/{}",
                rng.range(1000, 99_999),
                METRICS[rng.below(5) as usize]
            ),
            2 => format!(
                "$sys/{}/{}/dp/post/json",
                rng.range(100_000, 999_999),
                rng.alnum(12)
            ),
            3 => format!(
                "iot-2/evt/{}/fmt/json",
                ["status", "telemetry", "alarm"][rng.below(3) as usize]
            ),
            4 => format!("sensors/site{}/{}", rng.range(1, 64), rng.range(1, 4096)),
            _ => format!(
                "{}/{}/thing/event/property/post",
                rng.alnum(11),
                rng.alnum(16)
            ),
        })
        .collect()
}

/// Counts that both decoders must reproduce.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    packets: u64,
    publishes: u64,
    payload_bytes: u64,
    publish_properties: u64,
}

/// A generated stream and its composition.
struct Stream {
    version: ProtocolVersion,
    bytes: Vec<u8>,
    expected: Tally,
    qos0: u64,
    qos1: u64,
    pubacks: u64,
    pingreqs: u64,
    pingresps: u64,
    publish_bytes: u64,
}

impl Stream {
    fn push(&mut self, packet: &Packet) {
        let before = self.bytes.len();
        encode(packet, self.version, &mut self.bytes).expect("encodable packet");
        let size = (self.bytes.len() - before) as u64;
        self.expected.packets += 1;
        match packet {
            Packet::Publish(p) => {
                self.expected.publishes += 1;
                self.expected.payload_bytes += p.payload.len() as u64;
                self.expected.publish_properties += p.properties.0.len() as u64;
                self.publish_bytes += size;
                match p.qos {
                    QoS::AtMostOnce => self.qos0 += 1,
                    _ => self.qos1 += 1,
                }
            }
            Packet::PubAck(_) => self.pubacks += 1,
            Packet::PingReq => self.pingreqs += 1,
            Packet::PingResp => self.pingresps += 1,
            other => unreachable!("not generated: {:?}", other.packet_type()),
        }
    }

    fn print_composition(&self) {
        let total = self.expected.packets as f64;
        let pct = |n: u64| 100.0 * n as f64 / total;
        println!(
            "MQTT {} stream: {:.1} MiB, {} packets, mean packet {:.1} B (PUBLISH {:.1} B, payload {:.1} B)",
            version_name(self.version),
            self.bytes.len() as f64 / (1024.0 * 1024.0),
            self.expected.packets,
            self.bytes.len() as f64 / total,
            self.publish_bytes as f64 / self.expected.publishes as f64,
            self.expected.payload_bytes as f64 / self.expected.publishes as f64,
        );
        for (name, n) in [
            ("PUBLISH QoS 0", self.qos0),
            ("PUBLISH QoS 1", self.qos1),
            ("PUBACK", self.pubacks),
            ("PINGREQ", self.pingreqs),
            ("PINGRESP", self.pingresps),
        ] {
            println!("  {name:<14} {n:>10}  {:>5.1} %", pct(n));
        }
        if self.version.is_v5() {
            println!(
                "  PUBLISH properties: {} ({:.2} per PUBLISH)",
                self.expected.publish_properties,
                self.expected.publish_properties as f64 / self.expected.publishes as f64
            );
        }
    }
}

fn version_name(version: ProtocolVersion) -> &'static str {
    if version.is_v5() { "5.0" } else { "3.1.1" }
}

/// Builds about `target` bytes of traffic for `version`.
fn generate(version: ProtocolVersion, target: usize) -> Stream {
    let mut rng = Rng(SEED);
    let topics = topic_pool(&mut rng, 1024);
    let payload_pool: Bytes = (0..64 * 1024)
        .map(|_| b' ' + rng.below(95) as u8)
        .collect::<Vec<u8>>()
        .into();
    let mut s = Stream {
        version,
        bytes: Vec::with_capacity(target + 4096),
        expected: Tally::default(),
        qos0: 0,
        qos1: 0,
        pubacks: 0,
        pingreqs: 0,
        pingresps: 0,
        publish_bytes: 0,
    };
    let mut pending_acks = VecDeque::new();
    let mut next_id: u16 = 1;
    while s.bytes.len() < target {
        if rng.one_in(50) {
            s.push(&Packet::PingReq);
            s.push(&Packet::PingResp);
        }
        let len = rng.range(16, 512);
        let at = rng.below((payload_pool.len() - len) as u64) as usize;
        let mut publish = Publish::new(
            topics[rng.below(topics.len() as u64) as usize].clone(),
            payload_pool.slice(at..at + len),
        );
        if rng.one_in(2) {
            publish.qos = QoS::AtLeastOnce;
            publish.packet_id = Some(next_id);
            pending_acks.push_back(next_id);
            next_id = next_id.checked_add(1).unwrap_or(1);
        }
        if version.is_v5() {
            let mut props = Properties::new();
            if rng.one_in(4) {
                props = props
                    .with(
                        PropertyId::MessageExpiryInterval,
                        PropertyValue::FourByteInteger(3600),
                    )
                    .with(
                        PropertyId::UserProperty,
                        PropertyValue::Pair("trace-id".into(), rng.hex(16).into()),
                    );
            }
            if rng.one_in(8) {
                props = props
                    .with(PropertyId::PayloadFormatIndicator, PropertyValue::Byte(1))
                    .with(
                        PropertyId::ContentType,
                        PropertyValue::String("application/json".into()),
                    );
            }
            publish.properties = props;
        }
        s.push(&Packet::Publish(publish));
        // Acknowledge a few packets later, as a broker under load would.
        while pending_acks.len() > rng.range(0, 4) {
            let id = pending_acks.pop_front().expect("non-empty");
            let mut ack = PubResponse::new(id);
            if version.is_v5() && rng.one_in(10) {
                ack.reason_code = 0x10;
            }
            s.push(&Packet::PubAck(ack));
        }
    }
    while let Some(id) = pending_acks.pop_front() {
        s.push(&Packet::PubAck(PubResponse::new(id)));
    }
    s
}

/// Our decoder: frame with [`Framer`], then decode every frame.
fn decode_ours(stream: &[u8], version: ProtocolVersion) -> Tally {
    let framer = Framer::new(MAX_PACKET);
    let mut buf = BytesMut::with_capacity(2 * READ_CHUNK);
    let mut t = Tally::default();
    let mut offset = 0u64;
    for chunk in stream.chunks(READ_CHUNK) {
        buf.extend_from_slice(chunk);
        loop {
            let (frame, header) = match framer.next_frame_header(&mut buf, version) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => panic!("ours: framing error at stream offset {offset}: {e}"),
            };
            let len = frame.len() as u64;
            let packet = decode_frame(frame, &header, version)
                .unwrap_or_else(|e| panic!("ours: decode error at stream offset {offset}: {e}"));
            offset += len;
            t.packets += 1;
            if let Packet::Publish(p) = &packet {
                t.publishes += 1;
                t.payload_bytes += p.payload.len() as u64;
                t.publish_properties += p.properties.0.len() as u64;
            }
            black_box(packet);
        }
    }
    assert!(buf.is_empty(), "ours: {} bytes left over", buf.len());
    t
}

/// rumqttc's 3.1.1 decoder (`mqttbytes::v4`).
fn decode_rumqttc_v4(stream: &[u8]) -> Tally {
    use rumqttc::mqttbytes::{Error, v4};
    let mut buf = BytesMut::with_capacity(2 * READ_CHUNK);
    let mut t = Tally::default();
    for chunk in stream.chunks(READ_CHUNK) {
        buf.extend_from_slice(chunk);
        loop {
            let packet = match v4::Packet::read(&mut buf, MAX_PACKET) {
                Ok(packet) => packet,
                Err(Error::InsufficientBytes(_)) => break,
                Err(e) => panic!("rumqttc v4: decode error after {} packets: {e}", t.packets),
            };
            t.packets += 1;
            if let v4::Packet::Publish(p) = &packet {
                t.publishes += 1;
                t.payload_bytes += p.payload.len() as u64;
            }
            black_box(packet);
        }
    }
    assert!(buf.is_empty(), "rumqttc v4: {} bytes left over", buf.len());
    t
}

/// rumqttc's 5.0 decoder (`v5::mqttbytes::v5`); with `check_utf8`, each topic is also
/// validated as UTF-8 (which rumqttc leaves as raw bytes).
fn decode_rumqttc_v5(stream: &[u8], check_utf8: bool) -> Tally {
    use rumqttc::v5::mqttbytes::{Error, v5};
    let mut buf = BytesMut::with_capacity(2 * READ_CHUNK);
    let mut t = Tally::default();
    for chunk in stream.chunks(READ_CHUNK) {
        buf.extend_from_slice(chunk);
        loop {
            let packet = match v5::Packet::read(&mut buf, Some(MAX_PACKET as u32)) {
                Ok(packet) => packet,
                Err(Error::InsufficientBytes(_)) => break,
                Err(e) => panic!("rumqttc v5: decode error after {} packets: {e}", t.packets),
            };
            t.packets += 1;
            if let v5::Packet::Publish(p) = &packet {
                if check_utf8 {
                    assert!(std::str::from_utf8(&p.topic).is_ok(), "topic not UTF-8");
                }
                t.publishes += 1;
                t.payload_bytes += p.payload.len() as u64;
                if let Some(props) = &p.properties {
                    t.publish_properties += u64::from(props.payload_format_indicator.is_some())
                        + u64::from(props.message_expiry_interval.is_some())
                        + u64::from(props.content_type.is_some())
                        + props.user_properties.len() as u64;
                }
            }
            black_box(packet);
        }
    }
    assert!(buf.is_empty(), "rumqttc v5: {} bytes left over", buf.len());
    t
}

/// A decoder run over a whole stream.
type DecodeFn<'a> = Box<dyn Fn(&[u8]) -> Tally + 'a>;

/// One decoder under test and its timings.
struct Contender<'a> {
    name: &'static str,
    run: DecodeFn<'a>,
    times: Vec<Duration>,
}

/// Times every contender `runs` times on `stream` (rotating the order), checking each
/// result against the generated counts; returns the table rows.
fn measure(stream: &Stream, contenders: &mut [Contender<'_>], runs: usize) -> Vec<String> {
    let n = contenders.len();
    for round in 0..runs {
        for k in 0..n {
            let c = &mut contenders[(round + k) % n];
            let start = Instant::now();
            let tally = (c.run)(black_box(&stream.bytes));
            c.times.push(start.elapsed());
            assert_eq!(tally, stream.expected, "{}: decoded counts differ", c.name);
        }
    }
    let bytes = stream.bytes.len() as f64;
    let packets = stream.expected.packets as f64;
    let best = |c: &Contender<'_>| c.times.iter().min().expect("timed").as_secs_f64();
    let median = |c: &Contender<'_>| {
        let mut t = c.times.clone();
        t.sort();
        t[t.len() / 2].as_secs_f64()
    };
    let ours_best = contenders
        .iter()
        .find(|c| c.name == "ours")
        .map_or(f64::NAN, best);
    contenders
        .iter()
        .map(|c| {
            let b = best(c);
            format!(
                "{:<14} {:>6} {:>10.0} {:>10.0} {:>12.2} {:>10.1} {:>10}",
                c.name,
                version_name(stream.version),
                bytes / b / 1e6,
                bytes / median(c) / 1e6,
                packets / b / 1e6,
                b * 1e9 / packets,
                if ours_best.is_nan() {
                    "-".to_owned()
                } else {
                    format!("{:.2}", b / ours_best)
                },
            )
        })
        .collect()
}

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a positive integer, not {v:?}")),
        Err(_) => default,
    }
}

fn main() {
    let mib = env_usize("BENCH_MB", 256).max(1);
    let runs = env_usize("BENCH_RUNS", 5).max(1);
    let target = mib * 1024 * 1024;
    println!("decode benchmark: ~{mib} MiB per version, best of {runs}, {READ_CHUNK} B reads\n");

    let mut rows = Vec::new();
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let started = Instant::now();
        let stream = generate(version, target);
        stream.print_composition();
        println!("  (generated in {:.2} s)", started.elapsed().as_secs_f64());
        let mut contenders = vec![Contender {
            name: "ours",
            run: Box::new(move |s: &[u8]| decode_ours(s, version)),
            times: Vec::new(),
        }];
        if version.is_v5() {
            contenders.push(Contender {
                name: "rumqttc",
                run: Box::new(|s: &[u8]| decode_rumqttc_v5(s, false)),
                times: Vec::new(),
            });
            contenders.push(Contender {
                name: "rumqttc+utf8",
                run: Box::new(|s: &[u8]| decode_rumqttc_v5(s, true)),
                times: Vec::new(),
            });
        } else {
            contenders.push(Contender {
                name: "rumqttc",
                run: Box::new(decode_rumqttc_v4),
                times: Vec::new(),
            });
        }
        if let Ok(only) = std::env::var("BENCH_ONLY") {
            contenders.retain(|c| c.name == only);
            if contenders.is_empty() {
                continue;
            }
        }
        let started = Instant::now();
        rows.extend(measure(&stream, &mut contenders, runs));
        println!("  (measured in {:.2} s)\n", started.elapsed().as_secs_f64());
    }
    println!(
        "{:<14} {:>6} {:>10} {:>10} {:>12} {:>10} {:>10}",
        "decoder", "ver", "MB/s best", "MB/s med", "Mpackets/s", "ns/packet", "ours/this"
    );
    for row in rows {
        println!("{row}");
    }
}
