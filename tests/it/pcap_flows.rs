//! The capture pipeline's back half: TCP reassembly and MQTT flow analysis, fed with
//! hand-made TCP segments carrying real MQTT bytes from the codec's encoder.

use bytes::Bytes;
use mqtt_conform::capture::flows::{
    Analyzer, AnalyzerConfig, ConnectionKind, Detection, VersionSource,
};
use mqtt_conform::capture::reassembly::{
    CloseReason, Dir, Reassembler, ReassemblyConfig, StreamItem,
};
use mqtt_conform::capture::{Notice, NoticeKind, Segment, TcpFlags};
use mqtt_conform::codec::{
    ConnAck, Connect, Packet, ProtocolVersion, PubResponse, Publish, QoS, encode_to_vec,
};
use mqtt_conform::event::{Endpoints, Event, EventKind, Side, TlsInfo};
use proptest::prelude::*;
use std::net::SocketAddr;
use std::time::Duration;

const V311: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;
/// Capture start: 2024-01-01T00:00:00Z.
const T0: u64 = 1_704_067_200;

/// A segment that owns its payload.
#[derive(Debug, Clone)]
struct Seg {
    at: Duration,
    frame: u64,
    file: usize,
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    payload: Vec<u8>,
    missing: u32,
}

impl Seg {
    fn as_segment(&self) -> Segment<'_> {
        Segment {
            at: self.at,
            frame: self.frame,
            file: self.file,
            src: self.src,
            dst: self.dst,
            seq: self.seq,
            ack: self.ack,
            flags: TcpFlags(self.flags),
            window: self.window,
            payload: &self.payload,
            missing: self.missing,
        }
    }
}

const ACK: u8 = TcpFlags::ACK;
const PSH: u8 = TcpFlags::PSH | TcpFlags::ACK;

/// Builds the segments of one TCP connection, keeping sequence numbers and time.
struct Tcp {
    client: SocketAddr,
    server: SocketAddr,
    /// Next sequence number of each side (client, server).
    next: [u32; 2],
    frame: u64,
    /// The file segments come from (a capture split over several files).
    file: usize,
    ms: u64,
}

impl Tcp {
    fn new(client: &str, server: &str, isn: [u32; 2]) -> Self {
        Self {
            client: client.parse().unwrap(),
            server: server.parse().unwrap(),
            next: isn,
            frame: 0,
            file: 0,
            ms: 0,
        }
    }

    /// A segment from the client (`true`) or server at an explicit sequence number.
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
            file: self.file,
            src,
            dst,
            seq,
            ack,
            flags,
            window: 65_000,
            payload: payload.to_vec(),
            missing: 0,
        }
    }

    /// The next in-order segment of a side, carrying `payload`.
    fn send(&mut self, from_client: bool, payload: &[u8]) -> Seg {
        let i = usize::from(!from_client);
        let seg = self.raw(from_client, self.next[i], PSH, payload);
        self.next[i] = self.next[i].wrapping_add(payload.len() as u32);
        seg
    }

    fn handshake(&mut self) -> Vec<Seg> {
        let syn = self.raw(true, self.next[0], TcpFlags::SYN, &[]);
        self.next[0] = self.next[0].wrapping_add(1);
        let syn_ack = self.raw(false, self.next[1], TcpFlags::SYN | ACK, &[]);
        self.next[1] = self.next[1].wrapping_add(1);
        let ack = self.raw(true, self.next[0], ACK, &[]);
        vec![syn, syn_ack, ack]
    }

    fn fin(&mut self, from_client: bool) -> Seg {
        let i = usize::from(!from_client);
        let seg = self.raw(from_client, self.next[i], TcpFlags::FIN | ACK, &[]);
        self.next[i] = self.next[i].wrapping_add(1);
        seg
    }

    fn rst(&mut self, from_client: bool) -> Seg {
        let i = usize::from(!from_client);
        self.raw(from_client, self.next[i], TcpFlags::RST, &[])
    }

    /// A pure ACK from a side acknowledging everything the other sent so far.
    fn ack(&mut self, from_client: bool) -> Seg {
        let i = usize::from(!from_client);
        self.raw(from_client, self.next[i], ACK, &[])
    }
}

fn enc(p: Packet, v: ProtocolVersion) -> Vec<u8> {
    encode_to_vec(&p, v).unwrap()
}

fn connect(v: ProtocolVersion, id: &str) -> Vec<u8> {
    enc(Packet::Connect(Box::new(Connect::new(v, id))), v)
}

fn connack(v: ProtocolVersion) -> Vec<u8> {
    enc(
        Packet::ConnAck(ConnAck {
            session_present: false,
            code: 0,
            properties: Default::default(),
        }),
        v,
    )
}

fn publish(v: ProtocolVersion, topic: &str, payload: &[u8]) -> Vec<u8> {
    enc(Packet::Publish(Publish::new(topic, payload.to_vec())), v)
}

fn publish_qos1(v: ProtocolVersion, topic: &str, id: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = Publish::new(topic, payload.to_vec());
    p.qos = QoS::AtLeastOnce;
    p.packet_id = Some(id);
    enc(Packet::Publish(p), v)
}

fn puback(v: ProtocolVersion, id: u16, reason: u8) -> Vec<u8> {
    let mut r = PubResponse::new(id);
    r.reason_code = reason;
    enc(Packet::PubAck(r), v)
}

struct Run {
    events: Vec<Event>,
    notices: Vec<Notice>,
    analyzer: Analyzer,
}

fn run_with(config: AnalyzerConfig, segs: &[Seg]) -> Run {
    let mut analyzer = Analyzer::new(config);
    let mut events = Vec::new();
    for s in segs {
        analyzer.segment(&s.as_segment(), &mut |e| events.push(e));
    }
    analyzer.finish(&mut |e| events.push(e));
    let notices = analyzer.notices();
    Run {
        events,
        notices,
        analyzer,
    }
}

fn run(segs: &[Seg]) -> Run {
    run_with(AnalyzerConfig::default(), segs)
}

impl Run {
    /// The packets of one side, decoded well or not, with their bytes.
    fn packets(&self, side: Side) -> Vec<(Bytes, Packet)> {
        self.events
            .iter()
            .filter(|e| e.from == side)
            .filter_map(|e| match &e.kind {
                EventKind::Packet { bytes, packet } => {
                    Some((bytes.clone(), packet.clone().expect("well-formed packet")))
                }
                _ => None,
            })
            .collect()
    }

    fn packet_bytes(&self, side: Side) -> Vec<Vec<u8>> {
        self.packets(side)
            .into_iter()
            .map(|(b, _)| b.to_vec())
            .collect()
    }

    fn kinds(&self) -> Vec<&'static str> {
        self.events
            .iter()
            .map(|e| match &e.kind {
                EventKind::Opened { .. } => "opened",
                EventKind::Tls(_) => "tls",
                EventKind::WebSocket(_) => "websocket",
                EventKind::Gap { .. } => "gap",
                EventKind::Packet { .. } => "packet",
                EventKind::Unframeable(_) => "unframeable",
                EventKind::Closed { .. } => "closed",
            })
            .collect()
    }

    fn gaps(&self) -> Vec<u64> {
        self.events
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::Gap { bytes } => Some(bytes),
                _ => None,
            })
            .collect()
    }

    fn notices_of(&self, kind: NoticeKind) -> Vec<&Notice> {
        self.notices.iter().filter(|n| n.kind == kind).collect()
    }
}

/// A session: handshake, CONNECT, CONNACK, then the client's `publishes`.
fn session(tcp: &mut Tcp, publishes: &[Vec<u8>]) -> Vec<Seg> {
    let mut segs = tcp.handshake();
    segs.push(tcp.send(true, &connect(V311, "dev-1")));
    segs.push(tcp.send(false, &connack(V311)));
    for p in publishes {
        segs.push(tcp.send(true, p));
    }
    segs
}

fn tcp() -> Tcp {
    Tcp::new("192.168.1.20:50123", "10.0.0.1:1883", [1000, 5000])
}

#[test]
fn a_whole_session_gives_opened_packets_and_closed() {
    let mut t = tcp();
    let mut segs = session(&mut t, &[publish(V311, "a/b", b"hello")]);
    segs.push(t.fin(true));
    segs.push(t.fin(false));
    let r = run(&segs);
    assert_eq!(
        r.kinds(),
        ["opened", "packet", "packet", "packet", "closed"],
        "{:?}",
        r.events
    );
    let opened = &r.events[0];
    assert_eq!(opened.conn, 1);
    assert_eq!(opened.at, Duration::ZERO);
    assert_eq!(
        opened.kind,
        EventKind::opened(Some(Endpoints {
            client: t.client,
            server: t.server
        }))
    );
    assert!(matches!(r.packets(Side::Client)[0].1, Packet::Connect(_)));
    assert!(matches!(r.packets(Side::Server)[0].1, Packet::ConnAck(_)));
    match &r.events[4] {
        Event {
            from: Side::Client,
            kind: EventKind::Closed { by, detail },
            ..
        } => {
            assert_eq!(*by, Some(Side::Client));
            assert_eq!(detail, "FIN");
        }
        other => panic!("{other:?}"),
    }
    // Times count from the first segment: the CONNECT is the fourth (10 ms apart).
    assert_eq!(r.events[1].at, Duration::from_millis(30));
    assert_eq!(
        r.analyzer.epoch_unix(),
        Some(Duration::from_secs(T0) + Duration::from_millis(10))
    );
    let infos = r.analyzer.connections();
    assert_eq!(infos.len(), 1);
    let info = &infos[0];
    assert_eq!(info.kind, ConnectionKind::Mqtt);
    assert_eq!(info.detection, Detection::Port);
    assert!(!info.mid_stream);
    assert_eq!(info.version, Some(V311));
    assert_eq!(info.version_source, Some(VersionSource::Connect));
    assert_eq!(info.packets, 3);
    assert_eq!(info.first_frame, 1);
    assert_eq!(info.closed.as_deref(), Some("FIN by client"));
    let stats = r.analyzer.stats();
    assert_eq!((stats.flows, stats.mqtt_flows, stats.packets), (1, 1, 3));
    assert!(r.notices.is_empty(), "{:?}", r.notices);
}

#[test]
fn a_packet_split_across_three_segments() {
    let mut t = tcp();
    let mut segs = session(&mut t, &[]);
    let p = publish(V311, "sensors/1/temp", &[7u8; 300]);
    segs.push(t.send(true, &p[..2]));
    segs.push(t.send(true, &p[2..150]));
    let last = t.send(true, &p[150..]);
    let last_at = last.at;
    segs.push(last);
    let r = run(&segs);
    let packets = r.packet_bytes(Side::Client);
    assert_eq!(packets.len(), 2);
    assert_eq!(packets[1], p);
    // Timestamped by the segment that completed it.
    let ev = r
        .events
        .iter()
        .rfind(|e| matches!(e.kind, EventKind::Packet { .. }))
        .unwrap();
    assert_eq!(ev.at, last_at - r.analyzer.epoch_unix().unwrap());
}

#[test]
fn one_byte_per_segment() {
    let mut t = tcp();
    let mut segs = t.handshake();
    let mut stream = connect(V5, "tiny");
    stream.extend(publish(V5, "t", b"x"));
    stream.extend(publish(V5, "t/2", b"yz"));
    for b in &stream {
        segs.push(t.send(true, std::slice::from_ref(b)));
    }
    let r = run(&segs);
    let packets = r.packets(Side::Client);
    assert_eq!(packets.len(), 3);
    assert_eq!(
        packets
            .iter()
            .flat_map(|(b, _)| b.to_vec())
            .collect::<Vec<_>>(),
        stream
    );
    assert_eq!(r.analyzer.connections()[0].version, Some(V5));
}

#[test]
fn several_packets_in_one_segment() {
    let mut t = tcp();
    let mut segs = t.handshake();
    let mut all = connect(V311, "batch");
    for i in 0..5 {
        all.extend(publish(V311, &format!("t/{i}"), b"payload"));
    }
    // And half of one more, completed by the next segment.
    let tail = publish(V311, "t/last", b"end");
    all.extend(&tail[..4]);
    segs.push(t.send(true, &all));
    segs.push(t.send(true, &tail[4..]));
    let r = run(&segs);
    let packets = r.packet_bytes(Side::Client);
    assert_eq!(packets.len(), 7);
    assert_eq!(packets[6], tail);
}

#[test]
fn an_identical_retransmission_gives_no_duplicate() {
    let mut t = tcp();
    let mut segs = session(&mut t, &[]);
    let p = publish(V311, "a", b"once");
    let s = t.send(true, &p);
    segs.push(s.clone());
    let mut again = s.clone();
    again.frame += 100;
    segs.push(again);
    // A retransmission straddling old and new bytes delivers only the new ones.
    let q = publish(V311, "b", b"twice");
    let mut both = p.clone();
    both.extend(&q);
    let mut straddle = t.raw(true, s.seq, PSH, &both);
    straddle.seq = s.seq;
    segs.push(straddle);
    let r = run(&segs);
    assert_eq!(r.packet_bytes(Side::Client)[1..], [p, q]);
    assert!(r.notices_of(NoticeKind::InconsistentOverlap).is_empty());
    assert!(r.analyzer.reassembly_stats().duplicate_bytes >= 2 * 8);
}

#[test]
fn reordered_segments_are_put_back_in_order() {
    let mut t = tcp();
    let mut segs = session(&mut t, &[]);
    let p1 = publish(V311, "one", b"1");
    let p2 = publish(V311, "two", b"2");
    let p3 = publish(V311, "three", b"3");
    let s1 = t.send(true, &p1);
    let s2 = t.send(true, &p2);
    let s3 = t.send(true, &p3);
    segs.extend([s3, s2, s1]);
    let r = run(&segs);
    assert_eq!(r.packet_bytes(Side::Client)[1..], [p1, p2, p3]);
    assert!(r.gaps().is_empty());
    assert_eq!(r.analyzer.reassembly_stats().out_of_order, 2);
}

#[test]
fn consistent_overlaps_are_delivered_once() {
    let mut t = tcp();
    let mut segs = session(&mut t, &[]);
    let p = publish(V311, "overlap/topic", &[1, 2, 3, 4, 5, 6, 7, 8]);
    let base = t.next[0];
    // Out of order and overlapping: [10..20], [5..15], then [0..12], then the rest.
    segs.push(t.raw(true, base + 10, PSH, &p[10..20]));
    segs.push(t.raw(true, base + 5, PSH, &p[5..15]));
    segs.push(t.raw(true, base, PSH, &p[..12]));
    segs.push(t.raw(true, base + 18, PSH, &p[18..]));
    let r = run(&segs);
    assert_eq!(r.packet_bytes(Side::Client)[1..], [p]);
    assert!(r.notices_of(NoticeKind::InconsistentOverlap).is_empty());
}

#[test]
fn inconsistent_overlaps_keep_the_first_copy_and_say_so() {
    let mut t = tcp();
    let mut segs = session(&mut t, &[]);
    let p = publish(V311, "first/copy", b"ABCDEFGH");
    let base = t.next[0];
    // The tail arrives first; a later copy of it differs.
    segs.push(t.raw(true, base + 8, PSH, &p[8..]));
    let mut forged = p.clone();
    let n = forged.len();
    forged[n - 1] = b'Z';
    segs.push(t.raw(true, base, PSH, &forged));
    t.next[0] += p.len() as u32;
    // Then a retransmission of delivered bytes that differs too.
    let mut late = p.clone();
    late[n - 2] = b'Y';
    segs.push(t.raw(true, base, PSH, &late));
    let r = run(&segs);
    assert_eq!(r.packet_bytes(Side::Client)[1..], [p]);
    let notices = r.notices_of(NoticeKind::InconsistentOverlap);
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert!(notices[0].detail.contains("first copy is kept"));
    assert_eq!(r.analyzer.reassembly_stats().inconsistent_overlaps, 2);
}

#[test]
fn a_notice_names_the_file_and_frame_of_its_segment() {
    let mut t = tcp();
    let mut segs = session(&mut t, &[]);
    segs.push(t.send(true, &publish(V311, "in/the/first/file", b"1")));
    // The capture continues in a second file, numbered from frame 1, and loses bytes.
    t.file = 1;
    t.frame = 0;
    let lost = publish(V311, "lost", &[9; 40]);
    let _missed = t.send(true, &lost);
    segs.push(t.send(true, &publish(V311, "after", b"3")));
    let ack = t.ack(false);
    let ack_frame = ack.frame;
    segs.push(ack);
    let r = run(&segs);
    let gaps = r.notices_of(NoticeKind::StreamGap);
    // The loss, and framing resuming after it: both found at the ACK.
    assert_eq!(gaps.len(), 2, "{gaps:?}");
    assert!(
        gaps.iter()
            .all(|n| (n.file, n.frame) == (1, Some(ack_frame))),
        "{gaps:?}"
    );
}

#[test]
fn a_gap_is_reported_and_framing_resumes() {
    let mut t = tcp();
    let mut segs = session(&mut t, &[]);
    let p1 = publish(V311, "before", b"1");
    let lost = publish(V311, "lost", &[9; 40]);
    let p3 = publish(V311, "after/1", b"3");
    let p4 = publish(V311, "after/2", b"4");
    segs.push(t.send(true, &p1));
    // The first 10 bytes of `lost` are captured, the rest is not.
    segs.push(t.send(true, &lost[..10]));
    let _missed = t.send(true, &lost[10..]);
    segs.push(t.send(true, &p3));
    segs.push(t.send(true, &p4));
    // The server acknowledges everything: the capture missed what it got.
    segs.push(t.ack(false));
    let r = run(&segs);
    assert_eq!(r.gaps(), [(lost.len() - 10) as u64]);
    let client = r.packet_bytes(Side::Client);
    assert_eq!(client[1..], [p1, p3, p4]);
    // The Gap comes before the packets after it.
    let kinds = r.kinds();
    let gap = kinds.iter().position(|k| *k == "gap").unwrap();
    assert_eq!(kinds[gap + 1..], ["packet", "packet"]);
    let gap_notices = r.notices_of(NoticeKind::StreamGap);
    assert!(
        gap_notices
            .iter()
            .any(|n| n.detail.contains("acknowledged")),
        "{gap_notices:?}"
    );
    assert!(
        gap_notices
            .iter()
            .any(|n| n.detail.contains("framing resumed at a PUBLISH")
                && n.detail.contains("10 of a packet cut by the gap")),
        "{gap_notices:?}"
    );
    let stats = r.analyzer.stats();
    assert_eq!((stats.gaps, stats.resyncs), (1, 1));
    assert_eq!(r.analyzer.connections()[0].gaps, 1);
}

#[test]
fn a_hole_still_open_at_capture_end_is_a_gap() {
    let mut t = tcp();
    let mut segs = session(&mut t, &[]);
    let p1 = publish(V311, "x", b"1");
    let p2 = publish(V311, "y", b"2");
    let p3 = publish(V311, "z", b"3");
    segs.push(t.send(true, &p1));
    let _missed = t.send(true, &p2);
    segs.push(t.send(true, &p3));
    let r = run(&segs);
    assert_eq!(r.gaps(), [p2.len() as u64]);
    // At the end of the stream a lone plausible packet is taken.
    assert_eq!(r.packet_bytes(Side::Client)[1..], [p1, p3]);
    assert!(r.kinds().last() != Some(&"closed"));
}

#[test]
fn sequence_numbers_wrap_past_two_to_the_32() {
    let mut t = Tcp::new("192.168.1.20:50123", "10.0.0.1:1883", [u32::MAX - 40, 7]);
    let mut segs = t.handshake();
    let mut sent = Vec::new();
    let c = connect(V311, "wrap");
    segs.push(t.send(true, &c));
    sent.push(c);
    for i in 0..4 {
        let p = publish(V311, "wrap/around", &[i; 20]);
        segs.push(t.send(true, &p));
        sent.push(p);
    }
    assert!(t.next[0] < 1000, "the stream wrapped");
    // One reordered pair right across the wrap.
    let n = segs.len();
    segs.swap(n - 3, n - 4);
    let r = run(&segs);
    assert_eq!(r.packet_bytes(Side::Client), sent);
    assert!(r.gaps().is_empty());
}

/// A v5 conversation already running when the capture starts (the client's first
/// captured segment begins inside a packet).
fn mid_stream_v5() -> (Vec<Seg>, Vec<u8>, Vec<u8>) {
    let mut t = Tcp::new("192.168.1.20:50123", "10.0.0.1:1883", [70_000, 90_000]);
    let mut segs = Vec::new();
    let cut = publish_qos1(V5, "mid/stream", 4, b"tail of a packet");
    let p = publish_qos1(V5, "mid/stream", 5, b"{\"t\":21.5}");
    let ack = puback(V5, 5, 0x10);
    let mut first = cut[6..].to_vec();
    first.extend(&p);
    segs.push(t.send(true, &first));
    segs.push(t.send(false, &ack));
    segs.push(t.send(true, &publish_qos1(V5, "mid/stream", 6, b"{}")));
    (segs, p, ack)
}

#[test]
fn a_mid_stream_start_infers_the_version() {
    let (segs, p, ack) = mid_stream_v5();
    let r = run(&segs);
    assert_eq!(r.kinds()[0], "opened");
    // Joined midway: the judge must not take its first packet for the connection's first.
    assert!(matches!(
        r.events[0].kind,
        EventKind::Opened {
            from_start: false,
            ..
        }
    ));
    let client = r.packets(Side::Client);
    assert_eq!(client[0].0.to_vec(), p);
    assert_eq!(client.len(), 2);
    // Held back until the version was settled, then decoded under 5.0.
    match &client[0].1 {
        Packet::Publish(p) => assert_eq!(&p.payload[..], b"{\"t\":21.5}"),
        other => panic!("{other:?}"),
    }
    let server = r.packets(Side::Server);
    assert_eq!(server[0].0.to_vec(), ack);
    // The PUBACK's reason code exists only in 5.0: that settles it.
    match &server[0].1 {
        Packet::PubAck(r) => assert_eq!(r.reason_code, 0x10),
        other => panic!("{other:?}"),
    }
    let info = &r.analyzer.connections()[0];
    assert!(info.mid_stream);
    assert_eq!(info.version, Some(V5));
    assert!(
        matches!(
            info.version_source,
            Some(VersionSource::Inferred {
                frames: 3,
                v3_1_1: 2,
                v5: 3
            })
        ),
        "{:?} {:?}",
        info.version_source,
        r.notices
    );
    // Client side by port: the server is on 1883.
    assert_eq!(info.endpoints.server.port(), 1883);
    assert!(
        r.notices
            .iter()
            .any(|n| n.detail.contains("inside the stream")),
        "{:?}",
        r.notices
    );
    assert!(r.notices.iter().any(|n| n.detail.contains("inferred")));
}

#[test]
fn a_mid_stream_start_uses_the_configured_version() {
    let (segs, p, _) = mid_stream_v5();
    let config = AnalyzerConfig {
        protocol: Some(V5),
        ..AnalyzerConfig::default()
    };
    let r = run_with(config, &segs);
    let client = r.packets(Side::Client);
    assert_eq!(client[0].0.to_vec(), p);
    match &client[0].1 {
        Packet::Publish(p) => assert_eq!(&p.payload[..], b"{\"t\":21.5}"),
        other => panic!("{other:?}"),
    }
    let info = &r.analyzer.connections()[0];
    assert_eq!(info.version_source, Some(VersionSource::Configured));
    assert!(!r.notices.iter().any(|n| n.detail.contains("inferred")));
}

#[test]
fn ipv6_connections_are_followed() {
    let mut t = Tcp::new("[2001:db8::20]:50123", "[2001:db8::1]:8883", [1, 2]);
    let mut segs = session(&mut t, &[publish(V311, "v6", b"ok")]);
    segs.push(t.rst(false));
    let r = run(&segs);
    match &r.events[0].kind {
        EventKind::Opened {
            endpoints: Some(e),
            from_start: true,
        } => {
            assert_eq!(e.client, "[2001:db8::20]:50123".parse().unwrap());
            assert_eq!(e.server, "[2001:db8::1]:8883".parse().unwrap());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.packets(Side::Client).len(), 2);
    assert_eq!(
        r.events.last().unwrap().kind,
        EventKind::Closed {
            by: Some(Side::Server),
            detail: "RST".into()
        }
    );
}

#[test]
fn a_flow_on_another_port_is_ignored() {
    let mut t = Tcp::new("192.168.1.20:50123", "10.0.0.1:80", [1, 2]);
    let mut segs = t.handshake();
    segs.push(t.send(true, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"));
    segs.push(t.send(false, b"HTTP/1.1 200 OK\r\n\r\n"));
    segs.push(t.fin(true));
    segs.push(t.fin(false));
    let r = run(&segs);
    assert!(r.events.is_empty(), "{:?}", r.events);
    let stats = r.analyzer.stats();
    assert_eq!(
        (stats.flows, stats.other_flows, stats.mqtt_flows),
        (1, 1, 0)
    );
    assert!(r.analyzer.connections().is_empty());
}

#[test]
fn a_connect_on_an_unusual_port_is_recognised() {
    let mut t = Tcp::new("192.168.1.20:50123", "10.0.0.1:9999", [1, 2]);
    let mut segs = session(&mut t, &[publish(V311, "odd/port", b"!")]);
    segs.push(t.fin(false));
    let r = run(&segs);
    assert_eq!(
        r.kinds(),
        ["opened", "packet", "packet", "packet", "closed"]
    );
    let info = &r.analyzer.connections()[0];
    assert_eq!(info.detection, Detection::Connect);
    assert_eq!(info.endpoints.client, t.client);
    // Without a SYN either, the side sending the CONNECT is the client.
    let mut t = Tcp::new("10.0.0.1:9999", "192.168.1.20:50123", [1, 2]);
    let segs = vec![
        t.send(false, &connect(V311, "no-syn")),
        t.send(true, &connack(V311)),
    ];
    let r = run(&segs);
    let info = &r.analyzer.connections()[0];
    assert_eq!(info.endpoints.client, "192.168.1.20:50123".parse().unwrap());
    assert!(info.mid_stream);
    assert_eq!(info.version_source, Some(VersionSource::Connect));
    assert_eq!(r.packets(Side::Server).len(), 1);
    // Disabled, it is not looked for.
    let config = AnalyzerConfig {
        detect_connect: false,
        ..AnalyzerConfig::default()
    };
    assert!(run_with(config, &segs).events.is_empty());
}

#[test]
fn extra_ports_are_mqtt_ports() {
    let mut t = Tcp::new("192.168.1.20:50123", "10.0.0.1:2883", [1, 2]);
    let mut segs = t.handshake();
    segs.push(t.send(true, &publish(V311, "no/connect", b"x")));
    let config = AnalyzerConfig {
        ports: vec![1883, 8883, 2883],
        ..AnalyzerConfig::default()
    };
    let r = run_with(config, &segs);
    assert_eq!(r.kinds(), ["opened", "packet"]);
    assert_eq!(r.analyzer.connections()[0].detection, Detection::Port);
}

/// A ClientHello record with a server name and supported_versions (GREASE, 1.3, 1.2).
fn client_hello(sni: &str) -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend([0x11; 32]);
    body.push(32);
    body.extend([0x22; 32]);
    body.extend([0x00, 0x04, 0x13, 0x01, 0x13, 0x02]);
    body.extend([0x01, 0x00]);
    let mut exts = Vec::new();
    let name = sni.as_bytes();
    let mut entry = vec![0];
    entry.extend((name.len() as u16).to_be_bytes());
    entry.extend(name);
    let mut server_name = (entry.len() as u16).to_be_bytes().to_vec();
    server_name.extend(entry);
    extension(&mut exts, 0, &server_name);
    extension(&mut exts, 10, &[0x00, 0x02, 0x00, 0x1d]);
    extension(&mut exts, 43, &[6, 0x3a, 0x3a, 0x03, 0x04, 0x03, 0x03]);
    body.extend((exts.len() as u16).to_be_bytes());
    body.extend(exts);
    record(1, &body, 0x01)
}

/// A TLS 1.3 ServerHello record.
fn server_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend([0x33; 32]);
    body.push(32);
    body.extend([0x22; 32]);
    body.extend([0x13, 0x01, 0x00]);
    let mut exts = Vec::new();
    extension(&mut exts, 43, &[0x03, 0x04]);
    body.extend((exts.len() as u16).to_be_bytes());
    body.extend(exts);
    record(2, &body, 0x03)
}

fn extension(out: &mut Vec<u8>, ty: u16, data: &[u8]) {
    out.extend(ty.to_be_bytes());
    out.extend((data.len() as u16).to_be_bytes());
    out.extend(data);
}

fn record(handshake_type: u8, body: &[u8], minor: u8) -> Vec<u8> {
    let mut msg = vec![handshake_type];
    msg.extend(&(body.len() as u32).to_be_bytes()[1..]);
    msg.extend(body);
    let mut rec = vec![0x16, 0x03, minor];
    rec.extend((msg.len() as u16).to_be_bytes());
    rec.extend(msg);
    rec
}

#[test]
fn tls_handshakes_are_read_not_decoded() {
    let mut t = Tcp::new("192.168.1.20:50123", "10.0.0.1:8883", [1, 2]);
    let mut segs = t.handshake();
    let hello = client_hello("example.com");
    segs.push(t.send(true, &hello[..60]));
    segs.push(t.send(true, &hello[60..]));
    let mut sh = server_hello();
    sh.extend([0x14, 0x03, 0x03, 0x00, 0x01, 0x01]);
    segs.push(t.send(false, &sh));
    segs.push(t.send(true, &[0x17, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5]));
    segs.push(t.fin(true));
    let r = run(&segs);
    assert_eq!(r.kinds(), ["opened", "tls", "closed"], "{:?}", r.events);
    let expected = TlsInfo {
        sni: Some("example.com".into()),
        offered: vec![0x0304, 0x0303],
        negotiated: Some(0x0304),
    };
    assert_eq!(r.events[1].kind, EventKind::Tls(expected.clone()));
    let info = &r.analyzer.connections()[0];
    assert_eq!(info.kind, ConnectionKind::Tls);
    assert_eq!(info.tls, Some(expected));
    assert_eq!(r.analyzer.stats().tls_flows, 1);
}

#[test]
fn a_tls_handshake_without_server_hello_is_reported_at_the_end() {
    let mut t = Tcp::new("192.168.1.20:50123", "10.0.0.1:8883", [1, 2]);
    let mut segs = t.handshake();
    segs.push(t.send(true, &client_hello("broker.example")));
    let r = run(&segs);
    assert_eq!(r.kinds(), ["opened", "tls"]);
    match &r.events[1].kind {
        EventKind::Tls(info) => {
            assert_eq!(info.sni.as_deref(), Some("broker.example"));
            assert_eq!(info.negotiated, None);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn closed_says_who_closed_first() {
    let mut t = tcp();
    let mut segs = session(&mut t, &[]);
    segs.push(t.fin(false));
    segs.push(t.fin(true));
    let r = run(&segs);
    let closed: Vec<_> = r
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Closed { by, detail } => Some((*by, detail.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(closed, [(Some(Side::Server), "FIN".to_owned())]);

    let mut t = tcp();
    let mut segs = session(&mut t, &[]);
    segs.push(t.rst(true));
    let r = run(&segs);
    assert_eq!(
        r.events.last().unwrap().kind,
        EventKind::Closed {
            by: Some(Side::Client),
            detail: "RST".into()
        }
    );
    assert_eq!(
        r.analyzer.connections()[0].closed.as_deref(),
        Some("RST by client")
    );
}

#[test]
fn a_refused_connection_is_opened_and_reset() {
    let mut t = tcp();
    let syn = t.raw(true, 1000, TcpFlags::SYN, &[]);
    t.next[0] += 1;
    let rst = t.raw(false, 0, TcpFlags::RST | ACK, &[]);
    let r = run(&[syn, rst]);
    assert_eq!(r.kinds(), ["opened", "closed"]);
}

#[test]
fn a_new_syn_on_the_same_addresses_is_a_new_connection() {
    let mut t = tcp();
    let mut segs = session(&mut t, &[]);
    segs.push(t.fin(true));
    segs.push(t.fin(false));
    segs.push(t.ack(true));
    t.next = [777_000, 888_000];
    segs.extend(session(&mut t, &[publish(V311, "second", b"2")]));
    let r = run(&segs);
    let opened: Vec<u64> = r
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Opened { .. }))
        .map(|e| e.conn)
        .collect();
    assert_eq!(opened, [1, 2]);
    let second: Vec<_> = r.events.iter().filter(|e| e.conn == 2).collect();
    assert_eq!(second.len(), 1 + 3);
    assert_eq!(r.analyzer.connections().len(), 2);

    // A SYN with a new ISN while the old connection looks open replaces it.
    let mut t = tcp();
    let mut segs = session(&mut t, &[]);
    t.next = [42, 4242];
    segs.extend(session(&mut t, &[]));
    let r = run(&segs);
    assert!(r.events.iter().any(|e| e.conn == 1
        && matches!(&e.kind, EventKind::Closed { by: None, detail } if detail.contains("new connection"))));
    assert!(
        r.events
            .iter()
            .any(|e| e.conn == 2 && matches!(e.kind, EventKind::Opened { .. }))
    );
}

#[test]
fn a_full_out_of_order_buffer_gives_up_the_hole() {
    let mut t = tcp();
    let mut segs = session(&mut t, &[]);
    let _missed = t.send(true, &publish(V311, "lost", b"gone"));
    let mut later = Vec::new();
    for i in 0..6 {
        let p = publish(V311, "buffered", &[i; 30]);
        segs.push(t.send(true, &p));
        later.push(p);
    }
    let config = AnalyzerConfig {
        reassembly: ReassemblyConfig {
            max_buffer: 100,
            ..ReassemblyConfig::default()
        },
        ..AnalyzerConfig::default()
    };
    let r = run_with(config, &segs);
    let gap_notices = r.notices_of(NoticeKind::StreamGap);
    assert!(
        gap_notices
            .iter()
            .any(|n| n.detail.contains("buffer limit")),
        "{gap_notices:?}"
    );
    assert_eq!(r.gaps().len(), 1);
    assert_eq!(r.packet_bytes(Side::Client)[1..], later[..]);
}

#[test]
fn keepalive_and_zero_window_probes_are_not_data() {
    let mut t = tcp();
    let mut segs = session(&mut t, &[]);
    let p = publish(V311, "probe", b"data");
    segs.push(t.send(true, &p));
    // Keep-alive: one garbage byte at one before the next.
    let next = t.next[0];
    segs.push(t.raw(true, next.wrapping_sub(1), ACK, &[0]));
    segs.push(t.raw(true, next.wrapping_sub(1), ACK, &[]));
    // The server closes its window; the client probes with the next byte, twice.
    let mut zero = t.ack(false);
    zero.window = 0;
    segs.push(zero);
    let q = publish(V311, "after/probe", b"more");
    segs.push(t.raw(true, next, ACK, &q[..1]));
    segs.push(t.raw(true, next, ACK, &q[..1]));
    // The window opens; the whole packet is sent.
    segs.push(t.ack(false));
    segs.push(t.send(true, &q));
    let r = run(&segs);
    assert_eq!(r.packet_bytes(Side::Client)[1..], [p, q]);
    assert!(r.gaps().is_empty());
    let stats = r.analyzer.reassembly_stats();
    assert_eq!(stats.keepalives, 2);
    assert_eq!(stats.window_probes, 2);
}

#[test]
fn an_accepted_zero_window_probe_byte_is_data() {
    let mut t = tcp();
    let mut segs = session(&mut t, &[]);
    let mut zero = t.ack(false);
    zero.window = 0;
    segs.push(zero);
    let p = publish(V311, "accepted", b"probe");
    // The receiver takes the probe byte: the sender continues after it.
    segs.push(t.send(true, &p[..1]));
    segs.push(t.send(true, &p[1..]));
    let r = run(&segs);
    assert_eq!(r.packet_bytes(Side::Client)[1..], [p]);
}

#[test]
fn bytes_cut_by_the_snap_length_are_a_gap() {
    let mut t = tcp();
    let mut segs = session(&mut t, &[]);
    let big = publish(V311, "big", &[5; 200]);
    let mut cut = t.send(true, &big);
    cut.payload.truncate(64);
    cut.missing = (big.len() - 64) as u32;
    segs.push(cut);
    let after = publish(V311, "after", b"ok");
    segs.push(t.send(true, &after));
    segs.push(t.send(true, &after));
    let r = run(&segs);
    assert_eq!(r.gaps(), [(big.len() - 64) as u64]);
    assert!(
        r.notices_of(NoticeKind::StreamGap)
            .iter()
            .any(|n| n.detail.contains("snap length"))
    );
    assert_eq!(r.packet_bytes(Side::Client)[1..], [after.clone(), after]);
}

#[test]
fn an_unframeable_stream_stops_until_a_gap() {
    let mut t = tcp();
    let mut segs = session(&mut t, &[]);
    // A Remaining Length of five bytes cannot be framed.
    segs.push(t.send(true, &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00]));
    segs.push(t.send(true, &publish(V311, "ignored", b"x")));
    let r = run(&segs);
    assert_eq!(
        r.kinds(),
        ["opened", "packet", "packet", "unframeable"],
        "{:?}",
        r.events
    );
    assert_eq!(r.analyzer.stats().unframeable, 1);
}

#[test]
fn packets_after_the_first_fin_are_not_analysed_but_reported() {
    let mut t = tcp();
    let mut segs = session(&mut t, &[]);
    segs.push(t.fin(true));
    segs.push(t.send(false, &publish(V311, "late", b"x")));
    let r = run(&segs);
    assert_eq!(r.kinds().last(), Some(&"closed"));
    assert!(
        r.notices
            .iter()
            .any(|n| n.detail.contains("after the connection was closed")),
        "{:?}",
        r.notices
    );
}

#[test]
fn an_incomplete_packet_at_the_end_is_a_notice() {
    let mut t = tcp();
    let mut segs = session(&mut t, &[]);
    let p = publish(V311, "partial", &[1; 50]);
    segs.push(t.send(true, &p[..20]));
    let r = run(&segs);
    assert!(
        r.notices
            .iter()
            .any(|n| n.detail.contains("ends inside a PUBLISH") && n.detail.contains("20 of")),
        "{:?}",
        r.notices
    );
}

#[test]
fn a_full_flow_table_evicts_the_least_recently_active() {
    let config = AnalyzerConfig {
        reassembly: ReassemblyConfig {
            max_flows: 2,
            ..ReassemblyConfig::default()
        },
        ..AnalyzerConfig::default()
    };
    let mut segs = Vec::new();
    for port in [50001, 50002, 50003] {
        let mut t = Tcp::new(&format!("192.168.1.20:{port}"), "10.0.0.1:1883", [1, 2]);
        segs.extend(session(&mut t, &[]));
    }
    let r = run_with(config, &segs);
    assert_eq!(r.analyzer.connections().len(), 3);
    let abandoned = r.notices_of(NoticeKind::StreamAbandoned);
    assert_eq!(abandoned.len(), 1, "{abandoned:?}");
    assert!(abandoned[0].detail.contains("connection 1"));
    assert_eq!(r.analyzer.reassembly_stats().evicted, 1);
}

#[test]
fn notices_are_capped() {
    let config = AnalyzerConfig {
        max_notices: 3,
        ..AnalyzerConfig::default()
    };
    let mut t = tcp();
    let mut segs = session(&mut t, &[]);
    for _ in 0..10 {
        let _missed = t.send(true, &publish(V311, "lost", b"x"));
        segs.push(t.send(true, &publish(V311, "kept", b"y")));
        segs.push(t.ack(false));
    }
    let r = run_with(config, &segs);
    assert_eq!(r.notices.len(), 3);
    assert!(r.analyzer.stats().notices_suppressed > 0);
}

#[test]
fn the_reassembler_alone_reports_items_in_order() {
    let mut t = tcp();
    let mut segs = t.handshake();
    let s1 = t.send(true, b"hello ");
    let s2 = t.send(true, b"world");
    segs.extend([s2, s1]);
    segs.push(t.fin(true));
    segs.push(t.fin(false));
    let mut r = Reassembler::default();
    let mut items = Vec::new();
    for s in &segs {
        r.segment(&s.as_segment(), &mut |i| items.push(format!("{i:?}")));
    }
    r.finish(&mut |i| items.push(format!("{i:?}")));
    let mut data = Vec::new();
    let mut shape = Vec::new();
    let mut r2 = Reassembler::default();
    for s in &segs {
        r2.segment(&s.as_segment(), &mut |i| match i {
            StreamItem::Data { dir, bytes, .. } => {
                assert_eq!(dir, Dir::FromA);
                data.extend_from_slice(bytes);
            }
            StreamItem::Opened { handshake, .. } => shape.push(format!("opened {handshake}")),
            StreamItem::Fin { dir, .. } => shape.push(format!("fin {dir:?}")),
            StreamItem::Closed { reason, .. } => shape.push(format!("closed {reason:?}")),
            other => shape.push(format!("{other:?}")),
        });
    }
    assert_eq!(data, b"hello world");
    assert_eq!(
        shape,
        ["opened true", "fin FromA", "fin FromB", "closed Finished"]
    );
    assert_eq!(r2.tracked(), 1);
    assert_eq!(r2.buffered(), 0);
    let mut ended = Vec::new();
    r2.finish(&mut |i| ended.push(format!("{i:?}")));
    assert!(
        ended.is_empty(),
        "a finished connection is not closed twice"
    );
    let _ = CloseReason::CaptureEnd;
}

/// Arbitrary segments between a few addresses: any sequence numbers, flags, payloads.
fn arb_segment() -> impl Strategy<Value = Seg> {
    let addrs = [
        "10.0.0.1:1883",
        "10.0.0.2:50000",
        "10.0.0.3:8883",
        "[::1]:1883",
        "10.0.0.4:9999",
    ];
    (
        0..addrs.len(),
        0..addrs.len(),
        prop_oneof![any::<u32>(), 0u32..4096, (u32::MAX - 4096)..=u32::MAX],
        any::<u32>(),
        any::<u8>(),
        any::<u16>(),
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            Just(vec![
                0x10, 0x0c, 0x00, 0x04, b'M', b'Q', b'T', b'T', 4, 2, 0, 60, 0, 0
            ]),
            Just(vec![
                0x16, 0x03, 0x01, 0x00, 0x30, 0x01, 0x00, 0x00, 0x2c, 0x03, 0x03
            ]),
            Just(vec![0x30, 0x05, 0x00, 0x01, b't', 0xC0, 0x00]),
        ],
        0u32..3000,
    )
        .prop_map(
            move |(s, d, seq, ack, flags, window, payload, missing)| Seg {
                file: 0,
                at: Duration::from_secs(T0),
                frame: 0,
                src: addrs[s].parse().unwrap(),
                dst: addrs[d].parse().unwrap(),
                seq,
                ack,
                flags,
                window,
                payload,
                missing: if missing > 2000 { missing } else { 0 },
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_segments_never_panic_and_stay_bounded(segs in prop::collection::vec(arb_segment(), 0..120)) {
        let config = ReassemblyConfig {
            max_buffer: 512,
            max_buffer_total: 2048,
            max_flows: 3,
            history: 64,
            max_seq_jump: 1 << 16,
        };
        let mut r = Reassembler::new(config);
        let mut a = Analyzer::new(AnalyzerConfig {
            reassembly: config,
            resync_window: 4096,
            ..AnalyzerConfig::default()
        });
        // The judge frees a connection at its Closed: nothing may follow it.
        let mut closed = std::collections::HashSet::new();
        let mut after_close = Vec::new();
        let mut check = |e: Event| {
            if closed.contains(&e.conn) {
                after_close.push(format!("{e:?}"));
            }
            if matches!(e.kind, EventKind::Closed { .. }) {
                closed.insert(e.conn);
            }
        };
        for (i, s) in segs.iter().enumerate() {
            let mut s = s.clone();
            s.frame = i as u64 + 1;
            s.at += Duration::from_millis(i as u64);
            r.segment(&s.as_segment(), &mut |_| {});
            prop_assert!(r.tracked() <= 3);
            prop_assert!(r.buffered() <= 2048 + 64);
            a.segment(&s.as_segment(), &mut check);
        }
        r.finish(&mut |_| {});
        a.finish(&mut check);
        prop_assert!(after_close.is_empty(), "events after Closed: {after_close:?}");
        prop_assert_eq!(r.buffered(), 0);
        prop_assert_eq!(r.tracked(), 0);
    }

    #[test]
    fn any_segmentation_of_a_stream_gives_the_same_packets(
        cuts in prop::collection::vec(1usize..40, 1..40),
        order in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
        isn in any::<u32>(),
    ) {
        let mut stream = connect(V5, "prop");
        for i in 0..6u8 {
            stream.extend(publish(V5, "p/q", &[i; 25]));
        }
        let mut t = Tcp::new("192.168.1.20:50123", "10.0.0.1:1883", [isn, 9]);
        let mut segs = t.handshake();
        let mut data = Vec::new();
        let mut at = 0;
        for c in cuts.iter().cycle() {
            if at >= stream.len() {
                break;
            }
            let end = (at + c).min(stream.len());
            data.push(t.send(true, &stream[at..end]));
            at = end;
        }
        // Swap a few segments (reordering within the capture).
        for ix in &order {
            let i = ix.index(data.len());
            let j = (i + 1).min(data.len() - 1);
            data.swap(i, j);
        }
        segs.extend(data);
        let r = run(&segs);
        let got: Vec<u8> = r.packet_bytes(Side::Client).concat();
        prop_assert_eq!(got, stream);
        prop_assert!(r.gaps().is_empty());
    }
}

/// What happens to one segment of a stream on its way to the capture.
#[derive(Debug, Clone, Copy)]
enum Fate {
    Kept,
    Dropped,
    Twice,
    Cut(u8),
}

fn arb_fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        12 => Just(Fate::Kept),
        2 => Just(Fate::Dropped),
        2 => Just(Fate::Twice),
        1 => any::<u8>().prop_map(Fate::Cut),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Whatever is lost, repeated, cut or reordered, every byte delivered is the stream's
    /// byte at that offset, gaps account for the rest, and memory stays within bounds.
    #[test]
    fn delivered_bytes_are_always_the_streams_bytes(
        stream in prop::collection::vec(any::<u8>(), 0..3000),
        cuts in prop::collection::vec(1usize..300, 1..50),
        fates in prop::collection::vec(arb_fate(), 1..50),
        swaps in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        acks in prop::collection::vec(any::<bool>(), 1..50),
        isn in prop_oneof![any::<u32>(), (u32::MAX - 3000)..=u32::MAX],
        handshake in any::<bool>(),
        fin in any::<bool>(),
    ) {
        let mut t = Tcp::new("192.168.1.20:50123", "10.0.0.1:1883", [isn, 77]);
        let mut segs = if handshake { t.handshake() } else { Vec::new() };
        let mut at = 0;
        let mut i = 0;
        let mut sent = Vec::new();
        while at < stream.len() {
            let end = (at + cuts[i % cuts.len()]).min(stream.len());
            let seg = t.send(true, &stream[at..end]);
            // Without a handshake the first segment seen is where the stream starts.
            let fate = if i == 0 && !handshake { Fate::Kept } else { fates[i % fates.len()] };
            match fate {
                Fate::Kept => sent.push(seg),
                Fate::Dropped => {}
                Fate::Twice => {
                    sent.push(seg.clone());
                    sent.push(seg);
                }
                Fate::Cut(n) => {
                    let mut seg = seg;
                    let keep = usize::from(n) % (seg.payload.len() + 1);
                    seg.missing = (seg.payload.len() - keep) as u32;
                    seg.payload.truncate(keep);
                    sent.push(seg);
                }
            }
            if acks[i % acks.len()] {
                // The receiver acknowledges what was sent so far.
                sent.push(t.ack(false));
            }
            at = end;
            i += 1;
        }
        if fin {
            sent.push(t.fin(true));
        }
        let first = usize::from(!handshake);
        for ix in &swaps {
            if sent.len() > first + 1 {
                let a = first + ix.index(sent.len() - first - 1);
                sent.swap(a, a + 1);
            }
        }
        segs.extend(sent);
        let config = ReassemblyConfig {
            max_buffer: 700,
            history: 128,
            ..ReassemblyConfig::default()
        };
        let mut r = Reassembler::new(config);
        let mut offset = 0usize;
        let mut fins = 0;
        let mut bad = None;
        let mut check = |item: StreamItem<'_>| match item {
            StreamItem::Data { dir: Dir::FromA, bytes, .. } => {
                if stream.get(offset..offset + bytes.len()) != Some(bytes) && bad.is_none() {
                    bad = Some(offset);
                }
                offset += bytes.len();
            }
            StreamItem::Gap { dir: Dir::FromA, bytes, .. } => offset += bytes as usize,
            StreamItem::Fin { dir: Dir::FromA, .. } => fins += 1,
            _ => {}
        };
        for s in &segs {
            r.segment(&s.as_segment(), &mut check);
            prop_assert!(r.buffered() <= 700 + 300);
        }
        r.finish(&mut check);
        prop_assert_eq!(bad, None);
        prop_assert!(offset <= stream.len());
        prop_assert!(fins <= 1);
        if fins == 1 {
            prop_assert_eq!(offset, stream.len());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Through losses, cuts and repeats, every packet the analyzer emits is a piece of
    /// the stream that was sent (a packet never spans a gap), and without losses the
    /// packets are exactly the ones sent.
    #[test]
    fn packets_are_always_pieces_of_the_stream(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 1..30),
        cuts in prop::collection::vec(1usize..300, 1..20),
        fates in prop::collection::vec(arb_fate(), 1..20),
        acks in prop::collection::vec(any::<bool>(), 1..20),
    ) {
        let mut packets = vec![connect(V311, "prop")];
        for (i, p) in payloads.iter().enumerate() {
            packets.push(publish(V311, &format!("t/{i}"), p));
        }
        let stream = packets.concat();
        let mut t = tcp();
        let mut segs = t.handshake();
        let (mut at, mut i, mut lossless) = (0, 0, true);
        while at < stream.len() {
            let end = (at + cuts[i % cuts.len()]).min(stream.len());
            let seg = t.send(true, &stream[at..end]);
            match fates[i % fates.len()] {
                Fate::Kept => segs.push(seg),
                Fate::Twice => {
                    segs.push(seg.clone());
                    segs.push(seg);
                }
                Fate::Dropped => lossless = false,
                Fate::Cut(n) => {
                    let mut seg = seg;
                    let keep = usize::from(n) % (seg.payload.len() + 1);
                    lossless &= keep == seg.payload.len();
                    seg.missing = (seg.payload.len() - keep) as u32;
                    seg.payload.truncate(keep);
                    segs.push(seg);
                }
            }
            if acks[i % acks.len()] {
                segs.push(t.ack(false));
            }
            at = end;
            i += 1;
        }
        let r = run(&segs);
        for e in &r.events {
            if let EventKind::Packet { bytes, .. } = &e.kind {
                prop_assert!(
                    stream.windows(bytes.len()).any(|w| w == &bytes[..]),
                    "not a piece of the stream: {:?}",
                    bytes
                );
            }
        }
        if lossless {
            prop_assert_eq!(r.packet_bytes(Side::Client), packets);
        }
    }
}

/// Found by fuzzing: on a connection seen mid-stream, packets held back while the version
/// is unsettled were framed after the first FIN's Closed. The first FIN now frames both
/// directions first; what either side sends later is not analysed.
#[test]
fn no_packet_follows_the_close_of_a_mid_stream_connection() {
    let mut t = Tcp::new("192.168.1.20:50123", "10.0.0.1:1883", [70_000, 90_000]);
    // A SUBACK (3.1.1 and 5.0 both accept it: the version stays unsettled), then a FIN
    // from the client, then more from the server, then its FIN.
    let suback = vec![0x90, 0x03, 0x00, 0x01, 0x01];
    let segs = vec![
        t.send(false, &suback),
        t.fin(true),
        t.send(false, &suback),
        t.fin(false),
    ];
    let r = run(&segs);
    let kinds = r.kinds();
    let closed = kinds
        .iter()
        .position(|k| *k == "closed")
        .expect("a Closed event");
    assert_eq!(closed, kinds.len() - 1, "nothing after Closed: {kinds:?}");
    assert_eq!(r.packet_bytes(Side::Server), vec![suback.clone()]);
    assert_eq!(
        r.notices_of(NoticeKind::NotAnalysed).len(),
        1,
        "{:?}",
        r.notices
    );
}
