//! Capture-mode throughput and memory: a generated pcapng of about a gigabyte of MQTT 3.1.1
//! over thousands of connections, judged by the built-in `mqtt-3.1.1` suite, against
//! `tshark -r FILE -Y mqtt -T fields -e mqtt.msgtype` on the same file in the same run.
//!
//! # The capture
//!
//! Written with the crate's [`CaptureWriter`] (Ethernet/IPv4/TCP synthesised around the
//! MQTT bytes, segments of at most 1460 bytes, delayed ACKs, FIN handshakes) into a fresh
//! temporary directory that is removed at the end (also when the bench panics). The
//! traffic is deterministic (splitmix64, fixed seed): `CONNS` devices (default 5,000),
//! each on its own address (`172.16.x.y`, an ephemeral port) to one broker at
//! `10.0.0.1:1883`, all connected in the first 10 s of capture time and all open at once,
//! their events interleaved in time order. Each device:
//!
//! 1. opens TCP (three-way handshake), sends CONNECT (3.1.1, its own client id, keep
//!    alive 60 s), gets CONNACK 0 a few milliseconds later, subscribes to its command
//!    and config topics (QoS 1 and 0) and gets its SUBACK;
//! 2. publishes about once a second (0.75–1.25 s apart) on one of its telemetry topics
//!    (three topic shapes: `devices/<id>/telemetry/<metric>`,
//!    `site/<n>/floor/<m>/<id>/state`, `tylink/<id>/thing/property/report`), QoS 0 or 1
//!    (half each), payloads uniformly 16–1400 bytes of JSON-like text; one PUBLISH in
//!    `LARGE_EVERY` (default 100; 0: none) carries 2–16 KB (a log or image chunk), which
//!    spans several TCP segments. The broker answers each QoS 1 PUBLISH with a PUBACK
//!    2–40 ms later;
//! 3. receives a QoS 1 command from the broker about once every 30 s and PUBACKs it;
//! 4. sends PINGREQ every 30 s (the broker answers PINGRESP);
//! 5. once the file has reached its size, sends DISCONNECT and closes (FIN both ways).
//!
//! Two captures are generated: the full one (`CAPTURE_MB` MiB, default 1100) and one a
//! quarter of that size with the **same** devices (each publishing a quarter as long), so
//! the memory comparison isolates file size from the number of connections.
//!
//! # What is measured
//!
//! In this process, best of `RUNS` (default 3), rotating the order, on the full file (in
//! the page cache: it has just been written):
//!
//! - **read**: [`read::read_paths`] alone (pcapng blocks, Ethernet/IP/TCP headers), with a
//!   visitor that only sums payload lengths;
//! - **reassemble+frame**: the same plus a default [`Analyzer`] (TCP reassembly, MQTT
//!   detection, framing and strict decoding into events), events counted and dropped;
//! - **analyze**: [`analyze`] with the `mqtt-3.1.1` suite (its example parameters), i.e.
//!   the above plus the judge and the per-connection report, exactly what
//!   `mqtt-conform --suite mqtt-3.1.1 --pcap FILE` does before writing its reports.
//!
//! MB/s is 10^6 file bytes per second of wall time, Mpackets/s millions of MQTT packets
//! (of the file) per second. **read** and **reassemble+frame** run on one thread;
//! **analyze** on three (reading, reassembly and framing, the judge), as capture mode does.
//!
//! Peak memory: this binary re-runs itself (`CAPTURE_BENCH_CHILD=FILE`) to analyze one
//! file once in a fresh process and prints that process's `VmHWM` (peak RSS, from
//! `/proc/self/status`) before and after the analysis; done for the full and the quarter
//! file, with the whole analysis and with the **frame** stage alone
//! (`CAPTURE_BENCH_STAGE=frame`), which tells the analyzer's memory from the judge's. The
//! peak RSS of this process (which generated the files) is printed too but is not the
//! one to quote.
//!
//! tshark (unless `TSHARK=0`): `tshark -r FILE -Y mqtt -T fields -e mqtt.msgtype` on the
//! full file, output counted as it streams (lines, and MQTT messages: a line lists the
//! message types of one frame, comma-separated), its peak RSS sampled from
//! `/proc/<pid>/status`; killed after `TSHARK_TIMEOUT` seconds (default 1800), which is
//! reported. Its message count is checked against what was generated.
//!
//! Goal: ≥ 1 GB/s for **analyze**, with the ratio to tshark printed (tshark 4.0 read the
//! default file at about 12 MB/s on a 2-core VM), and a peak RSS that does not grow with
//! file size.
//!
//! # Running
//!
//! ```text
//! cargo bench --bench capture                        # 1100 MiB, 5,000 connections
//! CAPTURE_MB=64 TSHARK=0 RUNS=1 cargo bench --bench capture
//! ```
//!
//! Without a `--bench` argument (which `cargo bench` passes) the binary does nothing, so
//! `cargo test --all-targets` does not run it; to run the built binary directly (e.g.
//! under perf), pass `--bench`.
//!
//! Other knobs: `CONNS` (devices, default 5000), `KEEP=1` (keep the temporary directory
//! and print its path), `CAPTURE_FILE=PATH` (measure an existing capture instead of
//! generating one; no quarter file then), `ONLY=analyze|read|frame` (one in-process
//! measurement, e.g. under perf), `TSHARK_TIMEOUT` (seconds). Linux only for the memory
//! figures (`/proc`); elsewhere they are shown as `n/a`.

use bytes::Bytes;
use mqtt_conform::capture::analyze::{CaptureOptions, analyze};
use mqtt_conform::capture::flows::{Analyzer, AnalyzerConfig};
use mqtt_conform::capture::read::{self, Item};
use mqtt_conform::codec::framing::DEFAULT_MAX_PACKET_SIZE;
use mqtt_conform::codec::{
    ConnAck, Connect, Disconnect, Packet, ProtocolVersion, PubResponse, Publish, QoS, SubAck,
    Subscribe, Subscription, encode_to_vec,
};
use mqtt_conform::event::{Endpoints, Event, EventKind, Side};
use mqtt_conform::report::Verdict;
use mqtt_conform::report::pcapng::CaptureWriter;
use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::File;
use std::hint::black_box;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Environment variable that turns this binary into the single-analysis child.
const CHILD_ENV: &str = "CAPTURE_BENCH_CHILD";
/// The child's stage: `analyze` (default) or `frame`.
const CHILD_STAGE_ENV: &str = "CAPTURE_BENCH_STAGE";
/// Prefix of the child's one result line on stdout.
const CHILD_TAG: &str = "capture-bench-child:";
/// Fixed seed: the capture is identical from run to run.
const SEED: u64 = 0x00C0_FFEE_5EED_1883;
/// Capture start: 2024-05-01T00:00:00Z.
const START_UNIX: u64 = 1_714_521_600;
/// The broker's address.
const BROKER: ([u8; 4], u16) = ([10, 0, 0, 1], 1883);
/// Nanoseconds per millisecond.
const MS: u64 = 1_000_000;
/// Nanoseconds per second.
const SEC: u64 = 1_000_000_000;
/// Keep Alive in every CONNECT.
const KEEP_ALIVE: u16 = 60;
/// PINGREQ period.
const PING_EVERY: u64 = 30 * SEC;
/// Devices connect within this window from the capture start.
const CONNECT_SPREAD: u64 = 10 * SEC;

// ---------------------------------------------------------------------------------------
// Small helpers

/// splitmix64: small, fast, and good enough to shape a traffic mix.
struct Rng(u64);

impl Rng {
    /// The next 64 random bits.
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (modulo bias irrelevant here).
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// True once in `n`.
    fn one_in(&mut self, n: u64) -> bool {
        self.next_u64() % n == 0
    }

    /// `len` lowercase hex digits.
    fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(b"0123456789abcdef"[(self.next_u64() % 16) as usize]))
            .collect()
    }
}

/// The integer in environment variable `name`, or `default` when it is not set.
fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a non-negative integer, not {v:?}")),
        Err(_) => default,
    }
}

/// A `VmHWM:`/`VmRSS:`-style field of a `/proc/.../status` file, in KiB.
fn proc_status_kib(status_path: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(status_path).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

/// This process's peak RSS so far, in KiB.
fn own_hwm_kib() -> Option<u64> {
    proc_status_kib("/proc/self/status", "VmHWM:")
}

/// KiB as MiB with one decimal, `n/a` when unknown.
fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "n/a".to_owned(),
        |k| format!("{:.1} MiB", k as f64 / 1024.0),
    )
}

/// Bytes in MB (10^6).
fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// A temporary directory removed when dropped (unless `keep`).
struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl TempDir {
    /// A fresh directory under the system's temporary directory.
    fn new() -> io::Result<Self> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "mqtt-conform-capture-bench-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir(&path)?;
        Ok(Self {
            path,
            keep: env_u64("KEEP", 0) != 0,
        })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("kept {}", self.path.display());
        } else if let Err(e) = std::fs::remove_dir_all(&self.path) {
            eprintln!("cannot remove {}: {e}", self.path.display());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Generation

/// A writer that counts the bytes that went through it, readable while it is owned.
struct Counting<W> {
    inner: W,
    count: Rc<Cell<u64>>,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What a device does next. The derive orders heap entries with equal time and sequence
/// number (which never happens: sequence numbers are unique).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    /// Handshake and CONNECT.
    Open,
    /// The broker's CONNACK.
    ConnAck,
    /// The device's SUBSCRIBE.
    Subscribe,
    /// The broker's SUBACK.
    SubAck,
    /// A telemetry PUBLISH (and PINGREQ when due), or DISCONNECT once the file is full.
    Tick,
    /// The broker's PUBACK for this packet id.
    PubAck(u16),
    /// The broker's PINGRESP.
    PingResp,
    /// A QoS 1 command from the broker with this packet id.
    Command(u16),
    /// The device's PUBACK for a command.
    CommandAck(u16),
    /// FIN handshake.
    Close,
}

/// One simulated device (one TCP connection).
struct Device {
    conn: u64,
    client: SocketAddr,
    client_id: String,
    /// Telemetry topics it publishes on.
    topics: Vec<String>,
    /// Its command topic prefix (subscribed with `/#`).
    commands: String,
    next_id: u16,
    next_command_id: u16,
    last_ping: u64,
    /// Scheduled broker or device answers not yet written.
    pending: u32,
}

/// What was generated.
#[derive(Debug, Default, Clone)]
struct Generated {
    file_bytes: u64,
    frames: u64,
    connections: u64,
    /// MQTT packets by type name.
    packets: BTreeMap<&'static str, u64>,
    mqtt_bytes: u64,
    payload_bytes: u64,
    publishes: u64,
    spanning: u64,
    capture_secs: f64,
    wall: Duration,
}

impl Generated {
    /// MQTT packets of all types.
    fn total_packets(&self) -> u64 {
        self.packets.values().sum()
    }
}

/// Everything the generator needs while running.
struct Gen {
    rng: Rng,
    writer: CaptureWriter<Counting<BufWriter<File>>>,
    written: Rc<Cell<u64>>,
    heap: BinaryHeap<Reverse<(u64, u64, u32, Action)>>,
    seq: u64,
    devices: Vec<Device>,
    /// JSON-like text payloads are windows of.
    pool: Bytes,
    /// One telemetry PUBLISH in this many carries 2–16 KB (0: none).
    large_every: u64,
    out: Generated,
}

impl Gen {
    /// Queues `action` of `device` at `at` (ns of capture time).
    fn schedule(&mut self, at: u64, device: u32, action: Action) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, device, action)));
    }

    /// Schedules an answer: counted as pending so the device waits for it before closing.
    fn schedule_answer(&mut self, at: u64, device: u32, action: Action) {
        self.devices[device as usize].pending += 1;
        self.schedule(at, device, action);
    }

    /// A window of `lo..=hi` bytes of the text pool.
    fn payload(&mut self, lo: u64, hi: u64) -> Bytes {
        let len = self.rng.range(lo, hi) as usize;
        let at = self.rng.range(0, (self.pool.len() - len) as u64) as usize;
        self.pool.slice(at..at + len)
    }

    /// Encodes `packet`, counts it and writes it as sent by `from` at `at`.
    fn emit(&mut self, device: u32, at: u64, from: Side, packet: Packet) -> io::Result<()> {
        let bytes = encode_to_vec(&packet, ProtocolVersion::V3_1_1).map_err(io::Error::other)?;
        let name = match &packet {
            Packet::Connect(_) => "CONNECT",
            Packet::ConnAck(_) => "CONNACK",
            Packet::Publish(p) => {
                self.out.publishes += 1;
                self.out.payload_bytes += p.payload.len() as u64;
                if bytes.len() > 1460 {
                    self.out.spanning += 1;
                }
                "PUBLISH"
            }
            Packet::PubAck(_) => "PUBACK",
            Packet::Subscribe(_) => "SUBSCRIBE",
            Packet::SubAck(_) => "SUBACK",
            Packet::PingReq => "PINGREQ",
            Packet::PingResp => "PINGRESP",
            Packet::Disconnect(_) => "DISCONNECT",
            other => unreachable!("not generated: {:?}", other.packet_type()),
        };
        *self.out.packets.entry(name).or_default() += 1;
        self.out.mqtt_bytes += bytes.len() as u64;
        let event = Event {
            conn: self.devices[device as usize].conn,
            at: Duration::from_nanos(at),
            from,
            kind: EventKind::Packet {
                bytes: Bytes::from(bytes),
                packet: Ok(packet),
            },
        };
        self.writer.event(&event)
    }

    /// Runs one action of one device at `now`.
    fn step(&mut self, now: u64, d: u32, action: Action, stopping: bool) -> io::Result<()> {
        let dev = d as usize;
        if !matches!(action, Action::Open | Action::Tick | Action::Close) {
            self.devices[dev].pending -= 1;
        }
        match action {
            Action::Open => {
                let endpoints = Endpoints {
                    client: self.devices[dev].client,
                    server: SocketAddr::new(IpAddr::V4(Ipv4Addr::from(BROKER.0)), BROKER.1),
                };
                self.writer.event(&Event {
                    conn: self.devices[dev].conn,
                    at: Duration::from_nanos(now),
                    from: Side::Client,
                    kind: EventKind::opened(Some(endpoints)),
                })?;
                let mut connect =
                    Connect::new(ProtocolVersion::V3_1_1, self.devices[dev].client_id.clone());
                connect.keep_alive = KEEP_ALIVE;
                if self.rng.one_in(2) {
                    connect.username = Some(format!("fleet-{}", d % 64));
                    connect.password = Some(Bytes::from(self.rng.hex(32)));
                }
                let at = now + self.rng.range(100_000, 2 * MS);
                self.emit(d, at, Side::Client, Packet::Connect(Box::new(connect)))?;
                let at = at + self.rng.range(2 * MS, 20 * MS);
                self.schedule_answer(at, d, Action::ConnAck);
            }
            Action::ConnAck => {
                let ack = ConnAck {
                    session_present: false,
                    code: 0,
                    properties: Default::default(),
                };
                self.emit(d, now, Side::Server, Packet::ConnAck(ack))?;
                let at = now + self.rng.range(MS, 5 * MS);
                self.schedule_answer(at, d, Action::Subscribe);
            }
            Action::Subscribe => {
                let commands = &self.devices[dev].commands;
                let subscribe = Subscribe {
                    packet_id: 1,
                    properties: Default::default(),
                    subscriptions: vec![
                        Subscription::new(format!("{commands}/#"), QoS::AtLeastOnce),
                        Subscription::new(format!("{commands}/config"), QoS::AtMostOnce),
                    ],
                };
                self.emit(d, now, Side::Client, Packet::Subscribe(subscribe))?;
                let at = now + self.rng.range(2 * MS, 20 * MS);
                self.schedule_answer(at, d, Action::SubAck);
            }
            Action::SubAck => {
                let ack = SubAck {
                    packet_id: 1,
                    properties: Default::default(),
                    return_codes: vec![1, 0],
                };
                self.emit(d, now, Side::Server, Packet::SubAck(ack))?;
                self.devices[dev].last_ping = now;
                let at = now + self.rng.range(10 * MS, SEC);
                self.schedule(at, d, Action::Tick);
            }
            Action::Tick => {
                if stopping {
                    if self.devices[dev].pending > 0 {
                        self.schedule(now + 50 * MS, d, Action::Tick);
                    } else {
                        let bye = Packet::Disconnect(Disconnect::default());
                        self.emit(d, now, Side::Client, bye)?;
                        let at = now + self.rng.range(100_000, MS);
                        self.schedule(at, d, Action::Close);
                    }
                    return Ok(());
                }
                self.publish(now, d)?;
                if now - self.devices[dev].last_ping >= PING_EVERY {
                    self.devices[dev].last_ping = now;
                    self.emit(d, now, Side::Client, Packet::PingReq)?;
                    let at = now + self.rng.range(MS, 15 * MS);
                    self.schedule_answer(at, d, Action::PingResp);
                }
                if self.rng.one_in(30) {
                    let id = self.devices[dev].next_command_id;
                    self.devices[dev].next_command_id = id.checked_add(1).unwrap_or(1);
                    let at = now + self.rng.range(20 * MS, 200 * MS);
                    self.schedule_answer(at, d, Action::Command(id));
                }
                let at = now + self.rng.range(750 * MS, 1250 * MS);
                self.schedule(at, d, Action::Tick);
            }
            Action::PubAck(id) => {
                let ack = Packet::PubAck(PubResponse::new(id));
                self.emit(d, now, Side::Server, ack)?;
            }
            Action::PingResp => self.emit(d, now, Side::Server, Packet::PingResp)?,
            Action::Command(id) => {
                let name = ["reboot", "set", "ota", "query"][(id % 4) as usize];
                let topic = format!("{}/{name}", self.devices[dev].commands);
                let mut command = Publish::new(topic, self.payload(40, 200));
                command.qos = QoS::AtLeastOnce;
                command.packet_id = Some(id);
                self.emit(d, now, Side::Server, Packet::Publish(command))?;
                let at = now + self.rng.range(2 * MS, 20 * MS);
                self.schedule_answer(at, d, Action::CommandAck(id));
            }
            Action::CommandAck(id) => {
                let ack = Packet::PubAck(PubResponse::new(id));
                self.emit(d, now, Side::Client, ack)?;
            }
            Action::Close => {
                self.writer.event(&Event {
                    conn: self.devices[dev].conn,
                    at: Duration::from_nanos(now),
                    from: Side::Client,
                    kind: EventKind::Closed {
                        by: Some(Side::Client),
                        detail: "DISCONNECT".into(),
                    },
                })?;
            }
        }
        Ok(())
    }

    /// One telemetry PUBLISH of device `d`, and the broker's PUBACK if QoS 1.
    fn publish(&mut self, now: u64, d: u32) -> io::Result<()> {
        let dev = d as usize;
        let topic = {
            let topics = &self.devices[dev].topics;
            topics[self.rng.range(0, topics.len() as u64 - 1) as usize].clone()
        };
        let payload = if self.large_every > 0 && self.rng.one_in(self.large_every) {
            self.payload(2_000, 16_000)
        } else {
            self.payload(16, 1400)
        };
        let mut publish = Publish::new(topic, payload);
        let qos1 = self.rng.one_in(2);
        if qos1 {
            let id = self.devices[dev].next_id;
            self.devices[dev].next_id = id.checked_add(1).unwrap_or(2);
            publish.qos = QoS::AtLeastOnce;
            publish.packet_id = Some(id);
            let at = now + self.rng.range(2 * MS, 40 * MS);
            self.schedule_answer(at, d, Action::PubAck(id));
        }
        self.emit(d, now, Side::Client, Packet::Publish(publish))
    }
}

/// JSON-like telemetry text, `len` bytes.
fn payload_pool(rng: &mut Rng, len: usize) -> Bytes {
    let mut text = String::with_capacity(len + 256);
    let mut ts = START_UNIX * 1000;
    while text.len() < len {
        ts += rng.range(1, 1500);
        text.push_str(&format!(
            "{{\"ts\":{ts},\"temp\":{}.{},\"hum\":{}.{},\"bat\":{},\"rssi\":-{},\"fw\":\"{}\",\"seq\":{}}},",
            rng.range(0, 40),
            rng.range(0, 9),
            rng.range(20, 90),
            rng.range(0, 9),
            rng.range(5, 100),
            rng.range(40, 100),
            rng.hex(8),
            rng.range(0, 1_000_000)
        ));
    }
    text.truncate(len);
    Bytes::from(text)
}

/// Writes a capture of at least `target` bytes with `conns` devices at `path`.
fn generate(path: &Path, target: u64, conns: u32, large_every: u64) -> io::Result<Generated> {
    let started = Instant::now();
    let mut rng = Rng(SEED);
    let pool = payload_pool(&mut rng, 64 * 1024);
    let written = Rc::new(Cell::new(0));
    let sink = Counting {
        inner: BufWriter::with_capacity(1 << 20, File::create(path)?),
        count: Rc::clone(&written),
    };
    let start = UNIX_EPOCH + Duration::from_secs(START_UNIX);
    let writer = CaptureWriter::new(sink, start)?;
    const METRICS: [&str; 5] = ["temp", "humidity", "power", "battery", "door"];
    let devices = (0..conns)
        .map(|i| {
            let client_id = format!("sensor-{i:05}-{}", rng.hex(8));
            let topics = match i % 3 {
                0 => (0..3)
                    .map(|k| format!("devices/{client_id}/telemetry/{}", METRICS[k]))
                    .collect(),
                1 => vec![format!(
                    "site/{}/floor/{}/{client_id}/state",
                    rng.range(1, 40),
                    rng.range(0, 12)
                )],
                _ => vec![
                    format!("tylink/{client_id}/thing/property/report"),
                    format!("tylink/{client_id}/thing/event/trigger"),
                ],
            };
            let host = 0xAC10_0002u32 + i; // 172.16.0.2 upwards
            Device {
                conn: u64::from(i) + 1,
                client: SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::from(host)),
                    rng.range(32_768, 60_999) as u16,
                ),
                commands: format!("cmd/{client_id}"),
                client_id,
                topics,
                next_id: 2,
                next_command_id: 1,
                last_ping: 0,
                pending: 0,
            }
        })
        .collect();
    let mut g = Gen {
        rng,
        writer,
        written,
        heap: BinaryHeap::new(),
        seq: 0,
        devices,
        pool,
        large_every,
        out: Generated {
            connections: u64::from(conns),
            ..Generated::default()
        },
    };
    for d in 0..conns {
        let at = g.rng.range(0, CONNECT_SPREAD);
        g.schedule(at, d, Action::Open);
    }
    let mut last = 0;
    while let Some(Reverse((now, _, d, action))) = g.heap.pop() {
        let stopping = g.written.get() >= target;
        g.step(now, d, action, stopping)?;
        last = now;
    }
    g.out.frames = g.writer.frames_written();
    assert_eq!(g.writer.connections_open(), 0, "every connection closed");
    let mut sink = g.writer.finish()?;
    sink.flush()?;
    drop(sink);
    g.out.file_bytes = std::fs::metadata(path)?.len();
    g.out.capture_secs = last as f64 / SEC as f64;
    g.out.wall = started.elapsed();
    Ok(g.out)
}

// ---------------------------------------------------------------------------------------
// Measurements

/// What one in-process pass over the file saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Pass {
    records: u64,
    segments: u64,
    payload_bytes: u64,
    events: u64,
    packets: u64,
    connections: u64,
    findings: u64,
    failed_cases: u64,
    cases: u64,
}

/// Reading alone: container, link, IP and TCP headers.
fn pass_read(path: &Path) -> Pass {
    let mut payload = 0u64;
    let summary = read::read_paths(&[path], |item| {
        if let Item::Segment(s) = item {
            payload += s.payload.len() as u64;
        }
    })
    .expect("capture readable");
    Pass {
        records: summary.records,
        segments: summary.segments,
        payload_bytes: payload,
        ..Pass::default()
    }
}

/// Reading, reassembly, MQTT framing and decoding; events counted and dropped.
fn pass_frame(path: &Path) -> Pass {
    let mut analyzer = Analyzer::new(AnalyzerConfig::default());
    let mut events = 0u64;
    let mut count = |e: Event| {
        events += 1;
        black_box(e);
    };
    let summary = read::read_paths(&[path], |item| {
        if let Item::Segment(s) = item {
            analyzer.segment(&s, &mut count);
        }
    })
    .expect("capture readable");
    analyzer.finish(&mut count);
    let stats = analyzer.stats();
    Pass {
        records: summary.records,
        segments: summary.segments,
        events,
        packets: stats.packets,
        connections: stats.mqtt_flows,
        ..Pass::default()
    }
}

/// The whole capture mode: [`analyze`] with the `mqtt-3.1.1` suite.
fn pass_analyze(path: &Path) -> Pass {
    let suite = mqtt_conform::suite::load("mqtt-3.1.1").expect("built-in suite");
    let params = suite
        .resolve_params(&BTreeMap::new(), true)
        .expect("example parameters");
    let opts = CaptureOptions {
        paths: vec![path.to_path_buf()],
        ports: Vec::new(),
        protocol: None,
        max_packet_size: DEFAULT_MAX_PACKET_SIZE,
        tls_keys: None,
        stop: None,
    };
    let mut findings = 0u64;
    let (report, summary) =
        analyze(&suite, &params, &opts, &mut |_| findings += 1).expect("analysis runs");
    let cases = report.suites.iter().flat_map(|s| &s.cases);
    Pass {
        records: summary.read.records,
        segments: summary.read.segments,
        packets: summary.stats.packets,
        connections: summary.stats.mqtt_flows,
        findings,
        failed_cases: cases
            .clone()
            .filter(|c| matches!(c.verdict, Verdict::Failed { .. } | Verdict::Error { .. }))
            .count() as u64,
        cases: cases.count() as u64,
        ..Pass::default()
    }
}

/// One in-process measurement and its timings.
struct Measured {
    name: &'static str,
    run: fn(&Path) -> Pass,
    times: Vec<Duration>,
    pass: Option<Pass>,
}

impl Measured {
    /// The fastest run.
    fn best(&self) -> Duration {
        self.times.iter().copied().min().unwrap_or_default()
    }

    /// The median run.
    fn median(&self) -> Duration {
        let mut t = self.times.clone();
        t.sort();
        t.get(t.len() / 2).copied().unwrap_or_default()
    }
}

/// The child's figures: one analysis in a fresh process.
#[derive(Debug, Clone, Default)]
struct ChildReport {
    secs: f64,
    bytes: u64,
    base_kib: Option<u64>,
    hwm_kib: Option<u64>,
    packets: u64,
    connections: u64,
}

/// Child mode: analyze `path` once (or only frame it, with `CAPTURE_BENCH_STAGE=frame`)
/// and print one result line.
fn child_main(path: &str) {
    let stage = std::env::var(CHILD_STAGE_ENV).unwrap_or_default();
    let base = own_hwm_kib();
    let started = Instant::now();
    let pass = if stage == "frame" {
        pass_frame(Path::new(path))
    } else {
        pass_analyze(Path::new(path))
    };
    let secs = started.elapsed().as_secs_f64();
    let hwm = own_hwm_kib();
    let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
    println!(
        "{CHILD_TAG} secs={secs} bytes={bytes} base_kib={} hwm_kib={} packets={} connections={}",
        base.map_or("na".into(), |v| v.to_string()),
        hwm.map_or("na".into(), |v| v.to_string()),
        pass.packets,
        pass.connections
    );
}

/// Runs this binary again on `path` in child mode, `stage` `analyze` or `frame`, and
/// parses its result line.
fn run_child(path: &Path, stage: &str) -> Result<ChildReport, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .env(CHILD_ENV, path)
        .env(CHILD_STAGE_ENV, stage)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run the child: {e}"))?;
    if !out.status.success() {
        return Err(format!("child failed: {}", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(CHILD_TAG))
        .ok_or_else(|| format!("no result line from the child: {text:?}"))?;
    let mut r = ChildReport::default();
    for kv in line.split_whitespace() {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        match k {
            "secs" => r.secs = v.parse().unwrap_or(f64::NAN),
            "bytes" => r.bytes = v.parse().unwrap_or(0),
            "base_kib" => r.base_kib = v.parse().ok(),
            "hwm_kib" => r.hwm_kib = v.parse().ok(),
            "packets" => r.packets = v.parse().unwrap_or(0),
            "connections" => r.connections = v.parse().unwrap_or(0),
            _ => {}
        }
    }
    Ok(r)
}

/// How the tshark run went.
#[derive(Debug, Default)]
struct TsharkRun {
    secs: f64,
    lines: u64,
    messages: u64,
    hwm_kib: Option<u64>,
    timed_out: bool,
    status: String,
    stderr: String,
}

/// `tshark -r FILE -Y mqtt -T fields -e mqtt.msgtype`, output counted as it streams.
fn run_tshark(path: &Path, timeout: Duration) -> Result<TsharkRun, String> {
    let started = Instant::now();
    let mut child = Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(["-Y", "mqtt", "-T", "fields", "-e", "mqtt.msgtype"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run tshark: {e}"))?;
    let pid = child.id();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let counter = std::thread::spawn(move || {
        let (mut lines, mut messages) = (0u64, 0u64);
        let mut reader = BufReader::with_capacity(1 << 16, stdout);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).map_or(0, |n| n) > 0 {
            lines += 1;
            let text = line.trim_ascii();
            if !text.is_empty() {
                messages += 1 + text.iter().filter(|&&b| b == b',').count() as u64;
            }
            line.clear();
        }
        (lines, messages)
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status_path = format!("/proc/{pid}/status");
    let mut run = TsharkRun::default();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if let Some(h) = proc_status_kib(&status_path, "VmHWM:") {
            run.hwm_kib = Some(run.hwm_kib.unwrap_or(0).max(h));
        }
        if started.elapsed() > timeout {
            run.timed_out = true;
            // Only the process this bench started, by its handle.
            let _ = child.kill();
            break child.wait().map_err(|e| e.to_string())?;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    run.secs = started.elapsed().as_secs_f64();
    (run.lines, run.messages) = counter.join().map_err(|_| "counter thread panicked")?;
    run.stderr = errors.join().unwrap_or_default();
    run.status = status.to_string();
    Ok(run)
}

// ---------------------------------------------------------------------------------------
// Main

/// Width of the table's first column.
const W: usize = 40;

/// What a generated capture holds, in two or three lines.
fn print_generated(label: &str, g: &Generated) {
    let packets = g.total_packets();
    println!(
        "{label}: {:.1} MB ({:.1} MiB), {} frames, {} connections, {:.0} s of capture time, generated in {:.1} s ({:.0} MB/s)",
        mb(g.file_bytes),
        g.file_bytes as f64 / (1024.0 * 1024.0),
        g.frames,
        g.connections,
        g.capture_secs,
        g.wall.as_secs_f64(),
        mb(g.file_bytes) / g.wall.as_secs_f64()
    );
    println!(
        "  {packets} MQTT packets ({:.1} MB of MQTT, mean {:.0} B); {} PUBLISH (mean payload {:.0} B, {} spanning segments)",
        mb(g.mqtt_bytes),
        g.mqtt_bytes as f64 / packets as f64,
        g.publishes,
        g.payload_bytes as f64 / g.publishes as f64,
        g.spanning
    );
    let mix: Vec<String> = g
        .packets
        .iter()
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    println!("  {}", mix.join(", "));
}

/// Generates, measures, prints the tables, removes the files (or, as the child, analyzes
/// one file once).
fn main() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        child_main(&path);
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs bench targets too,
    // without it, and must not write gigabytes.
    if !std::env::args().any(|a| a == "--bench") {
        println!("capture bench: skipped (run it with `cargo bench --bench capture`)");
        return;
    }
    let target_mib = env_u64("CAPTURE_MB", 1100).max(1);
    let conns = u32::try_from(env_u64("CONNS", 5000).clamp(1, 1_000_000)).unwrap_or(5000);
    let runs = env_u64("RUNS", 3).max(1);
    let large_every = env_u64("LARGE_EVERY", 100);
    let tshark = env_u64("TSHARK", 1) != 0;
    let tshark_timeout = Duration::from_secs(env_u64("TSHARK_TIMEOUT", 1800));
    let only = std::env::var("ONLY").ok();

    let dir = TempDir::new().expect("temporary directory");
    let (full, quarter, generated) = match std::env::var("CAPTURE_FILE") {
        Ok(file) => {
            println!("capture benchmark on {file}, best of {runs}\n");
            (PathBuf::from(file), None, None)
        }
        Err(_) => {
            println!(
                "capture benchmark: ~{target_mib} MiB, {conns} connections, best of {runs}; files in {}\n",
                dir.path.display()
            );
            let full = dir.path.join("full.pcapng");
            let g = generate(&full, target_mib << 20, conns, large_every)
                .expect("full capture written");
            print_generated("full capture", &g);
            let quarter = dir.path.join("quarter.pcapng");
            let q = generate(&quarter, (target_mib << 20) / 4, conns, large_every)
                .expect("quarter written");
            print_generated("quarter capture", &q);
            println!();
            (full, Some(quarter), Some(g))
        }
    };
    let file_bytes = std::fs::metadata(&full).expect("capture file").len();

    // In-process timings.
    let mut measured = vec![
        Measured {
            name: "read",
            run: pass_read,
            times: Vec::new(),
            pass: None,
        },
        Measured {
            name: "frame",
            run: pass_frame,
            times: Vec::new(),
            pass: None,
        },
        Measured {
            name: "analyze",
            run: pass_analyze,
            times: Vec::new(),
            pass: None,
        },
    ];
    if let Some(only) = &only {
        measured.retain(|m| m.name == only);
    }
    let n = measured.len();
    for round in 0..runs as usize {
        for k in 0..n {
            let m = &mut measured[(round + k) % n];
            let started = Instant::now();
            let pass = (m.run)(&full);
            let t = started.elapsed();
            println!(
                "  {:<8} run {}: {:.2} s ({:.0} MB/s)",
                m.name,
                round + 1,
                t.as_secs_f64(),
                mb(file_bytes) / t.as_secs_f64()
            );
            m.times.push(t);
            if let Some(previous) = &m.pass {
                assert_eq!(previous, &pass, "{}: runs disagree", m.name);
            }
            m.pass = Some(pass);
        }
    }
    let parent_hwm = own_hwm_kib();
    println!();
    if let Some(a) = measured.iter().find(|m| m.name == "analyze") {
        if let Some(p) = &a.pass {
            println!(
                "analyze: {} records, {} segments, {} MQTT packets, {} MQTT connections; {} findings, {} failed/error cases of {}",
                p.records,
                p.segments,
                p.packets,
                p.connections,
                p.findings,
                p.failed_cases,
                p.cases
            );
            if let Some(g) = &generated {
                if p.packets != g.total_packets() {
                    println!(
                        "  WARNING: {} packets generated, {} analysed",
                        g.total_packets(),
                        p.packets
                    );
                }
            }
        }
    }

    // Peak RSS in fresh processes.
    let mut children = Vec::new();
    if only.is_none() {
        for stage in ["analyze", "frame"] {
            children.push((stage, "full", run_child(&full, stage)));
            if let Some(q) = &quarter {
                children.push((stage, "quarter", run_child(q, stage)));
            }
        }
    }

    // tshark.
    let tshark_run = if tshark && only.is_none() {
        println!("running tshark on the full file (timeout {tshark_timeout:?}) ...");
        Some(run_tshark(&full, tshark_timeout))
    } else {
        None
    };

    // The table.
    println!(
        "\n{:<W$} {:>10} {:>10} {:>10} {:>12}",
        "stage (full file)", "best s", "median s", "MB/s", "Mpackets/s"
    );
    let packets = measured
        .iter()
        .find_map(|m| m.pass.as_ref().filter(|p| p.packets > 0).map(|p| p.packets))
        .or(generated.as_ref().map(Generated::total_packets))
        .unwrap_or(0);
    let title = |name: &str| match name {
        "read" => "read (pcapng→TCP segments)",
        "frame" => "read+reassemble+frame+decode",
        _ => "analyze (mqtt-3.1.1 judge)",
    };
    let mut analyze_best = None;
    for m in &measured {
        let b = m.best().as_secs_f64();
        if m.name == "analyze" {
            analyze_best = Some(b);
        }
        println!(
            "{:<W$} {:>10.3} {:>10.3} {:>10.0} {:>12.2}",
            title(m.name),
            b,
            m.median().as_secs_f64(),
            mb(file_bytes) / b,
            packets as f64 / b / 1e6
        );
    }
    if !children.is_empty() {
        println!(
            "\n{:<W$} {:>10} {:>10} {:>10} {:>12} {:>12}",
            "fresh process (peak memory)", "file MB", "s", "MB/s", "peak RSS", "RSS before"
        );
    }
    for (stage, label, child) in &children {
        let name = format!("{stage}, {label} file");
        match child {
            Ok(c) => println!(
                "{:<W$} {:>10.1} {:>10.3} {:>10.0} {:>12} {:>12}",
                name,
                mb(c.bytes),
                c.secs,
                mb(c.bytes) / c.secs,
                mib(c.hwm_kib),
                mib(c.base_kib),
            ),
            Err(e) => println!("{name:<W$} {e}"),
        }
    }
    println!();
    match &tshark_run {
        Some(Ok(t)) => {
            if t.timed_out {
                println!(
                    "tshark -r FILE -Y mqtt -T fields -e mqtt.msgtype: TIMED OUT, killed after {:.1} s (so below {:.1} MB/s), peak RSS {} (sampled) by then",
                    t.secs,
                    mb(file_bytes) / t.secs,
                    mib(t.hwm_kib),
                );
            } else {
                println!(
                    "tshark -r FILE -Y mqtt -T fields -e mqtt.msgtype: {:.1} s, {:.1} MB/s, peak RSS {} (sampled), {}",
                    t.secs,
                    mb(file_bytes) / t.secs,
                    mib(t.hwm_kib),
                    t.status,
                );
            }
            if let Some(a) = analyze_best {
                println!(
                    "analyze is {:.0}× tshark's throughput{}",
                    t.secs / a,
                    if t.timed_out { " (at least)" } else { "" }
                );
            }
            if !t.timed_out {
                if let Some(g) = &generated {
                    let ok = t.messages == g.total_packets();
                    println!(
                        "tshark printed {} lines listing {} MQTT messages; {} generated: {}",
                        t.lines,
                        t.messages,
                        g.total_packets(),
                        if ok { "match" } else { "MISMATCH" }
                    );
                }
            }
            let stderr: Vec<&str> = t
                .stderr
                .lines()
                .filter(|l| !l.trim().is_empty() && !l.contains("Running as user"))
                .collect();
            let stderr = stderr.join(" | ");
            if !stderr.is_empty() {
                println!(
                    "tshark stderr: {}",
                    stderr.chars().take(500).collect::<String>()
                );
            }
        }
        Some(Err(e)) => println!("tshark: {e}"),
        None => println!("tshark: skipped"),
    }
    println!(
        "this process's peak RSS (generation + in-process runs): {}",
        mib(parent_hwm)
    );
    drop(dir);
}
