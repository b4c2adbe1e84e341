//! Throughput of the two halves of capture analysis on generated input, each alone (the
//! whole pipeline with judging and tshark beside it is `benches/capture.rs`).
//!
//! - **read**: a classic pcap file of `MQTT_CONFORM_PCAP_MB` MB (default 500) of
//!   Ethernet/IPv4/TCP frames with 0–1400-byte payloads, written to the temporary directory
//!   and removed at the end; timed twice from the page cache: containers only
//!   ([`CaptureReader`]), then down to TCP payloads ([`read_paths`]); then a capture of the
//!   same size with fresh telemetry-like payloads in every frame, plain, gzipped and
//!   zstd-compressed, each down to TCP payloads as `--pcap` reads it.
//! - **flows**: the back half (TCP reassembly and MQTT framing, a default [`Analyzer`]) fed
//!   200,000 in-memory segments of one connection, on large PUBLISHes one per segment and on
//!   small ones many per segment.
//! - **websocket**: the same back half on 5,000 short connections (100 open at a time,
//!   their segments interleaved), each a TCP handshake, CONNECT/CONNACK, 20 PUBLISHes from
//!   the client and 10 from the server, DISCONNECT and the FINs: once as MQTT over plain
//!   TCP, once as MQTT over WebSocket (the HTTP upgrade first, every packet one binary
//!   frame, the client's masked), and once more over WebSocket with permessage-deflate (each
//!   side's messages compressed with its window kept). The throughputs are printed, and the
//!   ratios to plain TCP.
//!
//! Run in release: `cargo bench --bench capture_throughput` (`-- read`, `-- flows` or
//! `-- websocket` for one).

use mqtt_conform::capture::flows::Analyzer;
use mqtt_conform::capture::read::{CaptureReader, Entry, Item, read_paths};
use mqtt_conform::capture::{Segment, TcpFlags};
use mqtt_conform::codec::{ConnAck, Connect, Packet, ProtocolVersion, Publish, encode_to_vec};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn main() {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    if wanted("read") {
        read();
    }
    if wanted("flows") {
        flows();
    }
    if wanted("websocket") {
        websocket();
    }
}

// ------------------------------------------------------------------------------- read

/// A file removed when dropped (also when the bench panics).
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Ethernet + IPv4 + TCP (PSH|ACK) 192.168.1.10:50000 → 10.0.0.1:1883.
fn eth_tcp(seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([192, 168, 1, 10], [10, 0, 0, 1], 64)
        .tcp(50000, 1883, seq, 4096)
        .ack(ack)
        .psh()
        .write(&mut out, payload)
        .expect("build frame");
    out
}

/// The classic pcap file header: little-endian, microseconds, Ethernet, snap length 65535.
fn pcap_header() -> Vec<u8> {
    let mut out = Vec::with_capacity(24);
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    for v in [0u32, 0, 65535, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

fn read() {
    let mb: usize = std::env::var("MQTT_CONFORM_PCAP_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let frames: Vec<Vec<u8>> = (0..64u32)
        .map(|i| eth_tcp(i, 0, &vec![b'x'; (i as usize * 97) % 1400]))
        .collect();
    let path = std::env::temp_dir().join(format!(
        "mqtt-conform-pcap-read-throughput-{}.pcap",
        std::process::id()
    ));
    let file = TempFile(path.clone());
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
        w.write_all(&pcap_header()).expect("write");
        let mut written = 24;
        let mut i = 0usize;
        while written < mb << 20 {
            let f = &frames[i % frames.len()];
            let mut header = Vec::with_capacity(16);
            for v in [1u32, i as u32 % 1_000_000, f.len() as u32, f.len() as u32] {
                header.extend_from_slice(&v.to_le_bytes());
            }
            w.write_all(&header).expect("write");
            w.write_all(f).expect("write");
            written += 16 + f.len();
            i += 1;
        }
        w.flush().expect("flush");
    }
    // Warm the page cache, then time: containers only, then down to TCP payloads.
    let _ = std::fs::read(&file.0).map(|v| v.len());
    let start = Instant::now();
    let mut reader =
        CaptureReader::new(std::fs::File::open(&file.0).expect("open"), 0).expect("header");
    let mut records = 0u64;
    while let Some(e) = reader.next_entry().expect("read") {
        if let Entry::Record(r) = e {
            records += r.data.len() as u64 / 1024 + 1;
        }
    }
    let containers = start.elapsed();
    let start = Instant::now();
    let mut payload = 0u64;
    let summary = read_paths(&[file.0.as_path()], |item| {
        if let Item::Segment(s) = item {
            payload += s.payload.len() as u64;
        }
    })
    .expect("read");
    let full = start.elapsed();
    let mbytes = summary.bytes as f64 / 1e6;
    println!(
        "{} records, {:.0} MB: containers {:.0} MB/s, to TCP payload {:.0} MB/s \
         ({} payload bytes, {records})",
        summary.records,
        mbytes,
        mbytes / containers.as_secs_f64(),
        mbytes / full.as_secs_f64(),
        payload
    );

    compressed(&path, mb);
}

/// Telemetry-like payloads (`{"seq":…,"temp":…,"ts":…}` with random digits, 0–1400 bytes),
/// fresh for every frame: the 64 repeated frames of `read` would compress far better than
/// any real capture.
fn telemetry_frame(i: usize, rng: &mut u64) -> Vec<u8> {
    let mut payload = Vec::with_capacity(1400);
    let want = (i * 97) % 1400;
    while payload.len() < want {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        let r = *rng;
        let _ = write!(
            payload,
            "{{\"seq\":{i},\"temp\":{}.{},\"hum\":{},\"ts\":{}}}",
            r % 60,
            (r >> 8) % 10,
            (r >> 16) % 100,
            1_704_067_200_000u64 + (r >> 24) % 1_000_000
        );
    }
    payload.truncate(want);
    eth_tcp(i as u32, 0, &payload)
}

/// The capture at `path` read down to TCP payloads: (capture bytes, payload bytes, time).
fn read_to_payload(path: &std::path::Path) -> (u64, u64, Duration) {
    let _ = std::fs::read(path).map(|v| v.len());
    let start = Instant::now();
    let mut payload = 0u64;
    let summary = read_paths(&[path], |item| {
        if let Item::Segment(s) = item {
            payload += s.payload.len() as u64;
        }
    })
    .expect("read");
    (summary.bytes, payload, start.elapsed())
}

/// A capture of telemetry-like frames, plain, gzipped (flate2, default level) and
/// zstd-compressed (level 3), each read down to TCP payloads as `--pcap` reads it; MB/s
/// count capture (decompressed) bytes.
fn compressed(plain_path: &std::path::Path, mb: usize) {
    let path = plain_path.with_extension("telemetry.pcap");
    let file = TempFile(path.clone());
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
        w.write_all(&pcap_header()).expect("write");
        let mut written = 24;
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut i = 0usize;
        while written < mb << 20 {
            let f = telemetry_frame(i, &mut rng);
            for v in [1u32, i as u32 % 1_000_000, f.len() as u32, f.len() as u32] {
                w.write_all(&v.to_le_bytes()).expect("write");
            }
            w.write_all(&f).expect("write");
            written += 16 + f.len();
            i += 1;
        }
        w.flush().expect("flush");
    }
    let (bytes, payload, took) = read_to_payload(&file.0);
    let plain_rate = bytes as f64 / 1e6 / took.as_secs_f64();
    println!(
        "telemetry .pcap ({:.0} MB): to TCP payload {plain_rate:.0} MB/s",
        bytes as f64 / 1e6
    );
    for (ext, compress) in [
        (
            "gz",
            (|from: &mut std::fs::File, to: std::fs::File| {
                let mut enc = flate2::write::GzEncoder::new(
                    std::io::BufWriter::new(to),
                    flate2::Compression::default(),
                );
                std::io::copy(from, &mut enc).expect("gzip");
                enc.finish().expect("gzip").flush().expect("flush");
            }) as fn(&mut std::fs::File, std::fs::File),
        ),
        ("zst", |from, to| {
            zstd::stream::copy_encode(from, std::io::BufWriter::new(to), 3).expect("zstd");
        }),
    ] {
        let packed = TempFile(path.with_extension(format!("pcap.{ext}")));
        compress(
            &mut std::fs::File::open(&file.0).expect("open"),
            std::fs::File::create(&packed.0).expect("create"),
        );
        let size = std::fs::metadata(&packed.0).map(|m| m.len()).unwrap_or(0);
        let (packed_bytes, packed_payload, took) = read_to_payload(&packed.0);
        assert_eq!(
            (packed_bytes, packed_payload),
            (bytes, payload),
            ".{ext}: the same capture"
        );
        let rate = bytes as f64 / 1e6 / took.as_secs_f64();
        println!(
            "telemetry .pcap.{ext} ({:.1} MB on disk, {:.1}:1): to TCP payload {rate:.0} MB/s \
             of capture, {:.2} × the plain file's rate",
            size as f64 / 1e6,
            bytes as f64 / size.max(1) as f64,
            rate / plain_rate
        );
    }
}

// ------------------------------------------------------------------------------- flows

const V311: ProtocolVersion = ProtocolVersion::V3_1_1;
/// Capture start: 2024-01-01T00:00:00Z.
const T0: u64 = 1_704_067_200;

/// A segment that owns its payload.
struct Seg {
    at: Duration,
    frame: u64,
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: Vec<u8>,
}

impl Seg {
    fn as_segment(&self) -> Segment<'_> {
        Segment {
            at: self.at,
            frame: self.frame,
            file: 0,
            src: self.src,
            dst: self.dst,
            seq: self.seq,
            ack: self.ack,
            flags: TcpFlags(self.flags),
            window: 65_000,
            payload: &self.payload,
            missing: 0,
        }
    }
}

/// Builds the segments of one TCP connection, keeping sequence numbers and time.
struct Tcp {
    client: SocketAddr,
    server: SocketAddr,
    /// Next sequence number of each side (client, server).
    next: [u32; 2],
    frame: u64,
    ms: u64,
}

impl Tcp {
    fn raw(&mut self, from_client: bool, seq: u32, flags: u8, payload: &[u8]) -> Seg {
        self.frame += 1;
        self.ms += 10;
        let (src, dst, ack) = if from_client {
            (self.client, self.server, self.next[1])
        } else {
            (self.server, self.client, self.next[0])
        };
        Seg {
            at: Duration::from_secs(T0) + Duration::from_millis(self.ms),
            frame: self.frame,
            src,
            dst,
            seq,
            ack,
            flags,
            payload: payload.to_vec(),
        }
    }

    /// The next in-order segment of a side, carrying `payload`.
    fn send(&mut self, from_client: bool, payload: &[u8]) -> Seg {
        let i = usize::from(!from_client);
        let seg = self.raw(
            from_client,
            self.next[i],
            TcpFlags::PSH | TcpFlags::ACK,
            payload,
        );
        self.next[i] = self.next[i].wrapping_add(payload.len() as u32);
        seg
    }

    /// Handshake, CONNECT and CONNACK.
    fn session(&mut self) -> Vec<Seg> {
        let syn = self.raw(true, self.next[0], TcpFlags::SYN, &[]);
        self.next[0] = self.next[0].wrapping_add(1);
        let syn_ack = self.raw(false, self.next[1], TcpFlags::SYN | TcpFlags::ACK, &[]);
        self.next[1] = self.next[1].wrapping_add(1);
        let ack = self.raw(true, self.next[0], TcpFlags::ACK, &[]);
        let connect = encode_to_vec(
            &Packet::Connect(Box::new(Connect::new(V311, "dev-1"))),
            V311,
        )
        .expect("encode");
        let connack = encode_to_vec(
            &Packet::ConnAck(ConnAck {
                session_present: false,
                code: 0,
                properties: Default::default(),
            }),
            V311,
        )
        .expect("encode");
        vec![
            syn,
            syn_ack,
            ack,
            self.send(true, &connect),
            self.send(false, &connack),
        ]
    }
}

fn flows() {
    for (size, per_segment) in [(1400, 1), (90, 16)] {
        let mut t = Tcp {
            client: "192.168.1.20:50123".parse().expect("an address"),
            server: "10.0.0.1:1883".parse().expect("an address"),
            next: [1000, 5000],
            frame: 0,
            ms: 0,
        };
        let mut segs = t.session();
        let p = encode_to_vec(
            &Packet::Publish(Publish::new("bulk/data", vec![0xAB; size])),
            V311,
        )
        .expect("encode");
        let payload = p.repeat(per_segment);
        for _ in 0..200_000 {
            segs.push(t.send(true, &payload));
        }
        let bytes: usize = segs.iter().map(|s| s.payload.len()).sum();
        let borrowed: Vec<Segment<'_>> = segs.iter().map(Seg::as_segment).collect();
        let start = Instant::now();
        let mut a = Analyzer::default();
        let mut n = 0u64;
        for s in &borrowed {
            a.segment(s, &mut |_| n += 1);
        }
        a.finish(&mut |_| n += 1);
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{size}-byte payloads, {per_segment} per segment: {n} events, {:.2} GB/s",
            bytes as f64 / secs / 1e9
        );
    }
}

// --------------------------------------------------------------------------- websocket

/// How the short connections carry MQTT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    Tcp,
    WebSocket,
    /// WebSocket with permessage-deflate, windows kept.
    Deflate,
}

/// One WebSocket binary frame (a compressed message's when `rsv1`); masked (from a
/// client) with `mask`.
fn ws_binary(payload: &[u8], rsv1: bool, mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(if rsv1 { 0xC2 } else { 0x82 });
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(m | n as u8),
        n @ 126..=0xFFFF => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(k) => {
            out.extend_from_slice(&k);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// One message compressed as a permessage-deflate sender does: a sync flush, the
/// trailing `00 00 ff ff` removed.
fn deflate(z: &mut flate2::Compress, m: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.len() + 64);
    let start = z.total_in();
    loop {
        let used = (z.total_in() - start) as usize;
        z.compress_vec(&m[used..], &mut out, flate2::FlushCompress::Sync)
            .expect("compresses");
        if (z.total_in() - start) as usize == m.len() && out.ends_with(&[0, 0, 0xff, 0xff]) {
            break;
        }
        out.reserve(out.capacity().max(64));
    }
    out.truncate(out.len() - 4);
    out
}

/// The segments of one short connection, as plain MQTT or MQTT over WebSocket.
fn short_connection(i: u32, wire: Wire) -> Vec<Seg> {
    let ws = wire != Wire::Tcp;
    let mut t = Tcp {
        client: SocketAddr::from(([192, 168, (i >> 14) as u8, 2], 20_000 + (i & 0x3FFF) as u16)),
        server: SocketAddr::from(([10, 0, 0, 1], if ws { 8080 } else { 1883 })),
        next: [1000 + i, 5000 + i],
        frame: 0,
        ms: 0,
    };
    let mut windows = [0, 1].map(|_| flate2::Compress::new(flate2::Compression::fast(), false));
    let mut frame = |client: bool, p: &[u8]| -> Vec<u8> {
        let mask = client.then(|| (i.wrapping_mul(2_654_435_761)).to_be_bytes());
        match wire {
            Wire::Tcp => p.to_vec(),
            Wire::WebSocket => ws_binary(p, false, mask),
            Wire::Deflate => ws_binary(&deflate(&mut windows[usize::from(!client)], p), true, mask),
        }
    };
    let syn = t.raw(true, t.next[0], TcpFlags::SYN, &[]);
    t.next[0] = t.next[0].wrapping_add(1);
    let syn_ack = t.raw(false, t.next[1], TcpFlags::SYN | TcpFlags::ACK, &[]);
    t.next[1] = t.next[1].wrapping_add(1);
    let ack = t.raw(true, t.next[0], TcpFlags::ACK, &[]);
    let mut segs = vec![syn, syn_ack, ack];
    if ws {
        let request = "GET /mqtt HTTP/1.1\r\nHost: 10.0.0.1:8080\r\nUpgrade: websocket\r\n\
                       Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                       Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";
        let response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                        Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
                        Sec-WebSocket-Protocol: mqtt\r\n";
        let extensions = if wire == Wire::Deflate {
            "Sec-WebSocket-Extensions: permessage-deflate\r\n"
        } else {
            ""
        };
        segs.push(t.send(true, request.as_bytes()));
        segs.push(t.send(false, format!("{response}{extensions}\r\n").as_bytes()));
    }
    let enc = |p: Packet| encode_to_vec(&p, V311).expect("encode");
    let connect = enc(Packet::Connect(Box::new(Connect::new(
        V311,
        format!("dev-{i}"),
    ))));
    let connack = enc(Packet::ConnAck(ConnAck {
        session_present: false,
        code: 0,
        properties: Default::default(),
    }));
    segs.push(t.send(true, &frame(true, &connect)));
    segs.push(t.send(false, &frame(false, &connack)));
    for k in 0..20usize {
        let p = enc(Packet::Publish(Publish::new(
            "sensors/temperature",
            vec![b'0' + (k % 10) as u8; 40 + (k * 37) % 300],
        )));
        segs.push(t.send(true, &frame(true, &p)));
        if k % 2 == 1 {
            let p = enc(Packet::Publish(Publish::new(
                "commands/device",
                vec![b'c'; 60],
            )));
            segs.push(t.send(false, &frame(false, &p)));
        }
    }
    segs.push(t.send(true, &frame(true, &[0xE0, 0x00])));
    for client in [true, false] {
        let i = usize::from(!client);
        let fin = t.raw(client, t.next[i], TcpFlags::FIN | TcpFlags::ACK, &[]);
        t.next[i] = t.next[i].wrapping_add(1);
        segs.push(fin);
    }
    segs
}

fn websocket() {
    const CONNS: u32 = 5_000;
    const OPEN: u32 = 100;
    let mut results = Vec::new();
    for wire in [Wire::Tcp, Wire::WebSocket, Wire::Deflate] {
        let ws = wire != Wire::Tcp;
        // 100 connections at a time, their segments round-robin; frame numbers and
        // times rewritten in capture order.
        let mut segs: Vec<Seg> = Vec::new();
        for group in 0..CONNS / OPEN {
            let mut conns: Vec<std::vec::IntoIter<Seg>> = (0..OPEN)
                .map(|j| short_connection(group * OPEN + j, wire).into_iter())
                .collect();
            loop {
                let before = segs.len();
                for c in &mut conns {
                    segs.extend(c.next());
                }
                if segs.len() == before {
                    break;
                }
            }
        }
        for (n, s) in segs.iter_mut().enumerate() {
            s.frame = n as u64 + 1;
            s.at = Duration::from_secs(T0) + Duration::from_micros(n as u64 * 10);
        }
        let bytes: usize = segs.iter().map(|s| s.payload.len()).sum();
        let borrowed: Vec<Segment<'_>> = segs.iter().map(Seg::as_segment).collect();
        let mut best = f64::MAX;
        let mut packets = 0u64;
        let mut events = 0u64;
        for _ in 0..5 {
            let start = Instant::now();
            let mut a = Analyzer::default();
            let mut n = 0u64;
            for s in &borrowed {
                a.segment(s, &mut |_| n += 1);
            }
            a.finish(&mut |_| n += 1);
            best = best.min(start.elapsed().as_secs_f64());
            let st = a.stats();
            assert_eq!(st.mqtt_flows, u64::from(CONNS));
            assert_eq!(st.websocket_flows, if ws { u64::from(CONNS) } else { 0 });
            assert_eq!((st.malformed, st.gaps), (0, 0));
            packets = st.packets;
            events = n;
        }
        let name = match wire {
            Wire::Tcp => "plain TCP",
            Wire::WebSocket => "WebSocket",
            Wire::Deflate => "WebSocket, permessage-deflate",
        };
        println!(
            "{name}: {CONNS} connections, {} segments, {:.1} MB, {packets} MQTT packets, {events} events: \
             {:.3} s, {:.2} M packets/s, {:.0} MB/s, {:.2} M segments/s",
            segs.len(),
            bytes as f64 / 1e6,
            best,
            packets as f64 / best / 1e6,
            bytes as f64 / best / 1e6,
            segs.len() as f64 / best / 1e6,
        );
        results.push((best, packets));
    }
    let (plain, ws, deflated) = (results[0], results[1], results[2]);
    assert!(
        plain.1 == ws.1 && plain.1 == deflated.1,
        "the same MQTT packets every way"
    );
    println!(
        "WebSocket takes {:.2}× the time of plain TCP for the same MQTT traffic, with permessage-deflate {:.2}×",
        ws.0 / plain.0,
        deflated.0 / plain.0
    );
}
