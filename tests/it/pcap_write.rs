//! pcapng output of live sessions: real traffic through the built-in server written by
//! `CaptureWriter`, read back by tshark (installed on CI: `apt-get install -y tshark`);
//! synthetic sessions (IPv6, unknown addresses, connections seen mid-stream, closes by
//! either side) checked frame by frame; the file's blocks checked byte by byte.

use crate::support::server as support;
use crate::support::tshark::{TempFile, fields};

use bytes::Bytes;
use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use mqtt_conform::codec::{
    ConnAck, Packet, ProtocolVersion, PubResponse, Publish, QoS, Subscribe, Subscription,
    decode_slice, encode_to_vec,
};
use mqtt_conform::event::{Endpoints, Event, EventKind, Side, TlsInfo};
use mqtt_conform::report::pcapng::CaptureWriter;
use mqtt_conform::server::ServerConfig;
use mqtt_conform::suite::profile::Profile;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::{Raw, WAIT};

const V4: ProtocolVersion = ProtocolVersion::V3_1_1;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// The frames tshark finds anything wrong with: malformed, any TCP analysis flag
/// (retransmission, out-of-order, lost segment, duplicate ACK, window full, …), or expert
/// information at warning or error severity.
fn complaints(file: &Path, extra: &[&str]) -> Vec<Vec<String>> {
    fields(
        file,
        extra,
        "_ws.malformed || tcp.analysis.flags || _ws.expert.severity >= warning",
        &["frame.number", "_ws.col.Info", "_ws.expert.message"],
    )
}

/// (side, MQTT packet type) of each packet event, per connection.
fn packets_by_conn(events: &[Event]) -> BTreeMap<u64, Vec<(Side, u8)>> {
    let mut out: BTreeMap<u64, Vec<(Side, u8)>> = BTreeMap::new();
    for e in events {
        if let EventKind::Packet { bytes, .. } = &e.kind {
            out.entry(e.conn).or_default().push((e.from, bytes[0] >> 4));
        }
    }
    out
}

/// (side, MQTT packet type) per TCP stream as tshark dissects them, in frame order; the
/// server is the side whose port is `server_port`.
fn mqtt_by_stream(
    file: &Path,
    extra: &[&str],
    server_port: u16,
) -> BTreeMap<u64, (u16, Vec<(Side, u8)>)> {
    let rows = fields(
        file,
        extra,
        "mqtt",
        &["tcp.stream", "tcp.srcport", "tcp.dstport", "mqtt.msgtype"],
    );
    let mut out: BTreeMap<u64, (u16, Vec<(Side, u8)>)> = BTreeMap::new();
    for row in rows {
        let stream: u64 = row[0].parse().expect("tcp.stream");
        let src: u16 = row[1].parse().expect("tcp.srcport");
        let dst: u16 = row[2].parse().expect("tcp.dstport");
        let (side, client_port) = if src == server_port {
            (Side::Server, dst)
        } else {
            (Side::Client, src)
        };
        let entry = out.entry(stream).or_insert((client_port, Vec::new()));
        for t in row[3].split(',') {
            entry.1.push((side, t.parse().expect("mqtt.msgtype")));
        }
    }
    out
}

fn packet(p: Packet) -> EventKind {
    let bytes = encode_to_vec(&p, V4).expect("encodes");
    EventKind::Packet {
        bytes: Bytes::from(bytes),
        packet: Ok(p),
    }
}

fn ev(conn: u64, at_ms: u64, from: Side, kind: EventKind) -> Event {
    Event {
        conn,
        at: Duration::from_millis(at_ms),
        from,
        kind,
    }
}

fn publish(topic: &str, len: usize, qos: QoS, id: Option<u16>) -> EventKind {
    let mut p = Publish::new(topic, vec![b'x'; len]);
    p.qos = qos;
    p.packet_id = id;
    packet(Packet::Publish(p))
}

fn connack() -> EventKind {
    packet(Packet::ConnAck(ConnAck {
        session_present: false,
        code: 0,
        properties: Default::default(),
    }))
}

fn connect(id: &str) -> EventKind {
    packet(Packet::Connect(
        mqtt_conform::codec::Connect::new(V4, id).into(),
    ))
}

fn closed(by: Option<Side>, detail: &str) -> EventKind {
    EventKind::Closed {
        by,
        detail: detail.into(),
    }
}

// ---------------------------------------------------------------------------------------
// Real traffic
// ---------------------------------------------------------------------------------------

/// Two real clients talk to the built-in server: a subscriber and a publisher that
/// publishes at QoS 0, 1 and 2 (one payload of 5000 bytes, several segments), both ping
/// and disconnect. The server's events, written as pcapng, open in tshark as exactly
/// those MQTT packets, in order, on two clean TCP streams.
#[tokio::test]
async fn a_live_session_opens_in_tshark_as_the_same_mqtt_packets() {
    let start = SystemTime::now();
    let mut server = support::start(ServerConfig::new(Profile::default())).await;
    let addr = server.local_addr;

    let mut sub = Raw::connected(addr, V4, "capture-sub").await;
    assert_eq!(sub.subscribe(1, &[("cap/#", QoS::AtLeastOnce)]).await, [1]);
    let mut publ = Raw::connected(addr, V4, "capture-pub").await;
    let big = vec![b'B'; 5000];
    for (topic, payload, qos) in [
        ("cap/0", &b"qos zero"[..], QoS::AtMostOnce),
        ("cap/1", &b"qos one"[..], QoS::AtLeastOnce),
        ("cap/2", &b"qos two"[..], QoS::ExactlyOnce),
        ("cap/big", &big[..], QoS::AtLeastOnce),
    ] {
        publ.publish(topic, payload, qos, false).await;
        let delivered = sub.recv_publish().await;
        assert_eq!(&delivered.payload[..], payload);
        if let Some(id) = delivered.packet_id {
            sub.send(&Packet::PubAck(PubResponse::new(id))).await;
        }
    }
    publ.ping().await;
    sub.ping().await;
    publ.disconnect().await;
    sub.disconnect().await;

    // Every event up to both closes.
    let mut events = Vec::new();
    let mut closes = 0;
    while closes < 2 {
        let e = tokio::time::timeout(WAIT, server.events().recv())
            .await
            .expect("event in time")
            .expect("events on");
        closes += usize::from(matches!(e.kind, EventKind::Closed { .. }));
        events.push(e);
    }
    server.shutdown().await;

    let file = TempFile::new("live");
    let mut capture = CaptureWriter::create(&file.0, start).expect("capture file");
    for e in &events {
        capture.event(e).expect("written");
    }
    assert_eq!(
        capture.connections_open(),
        0,
        "closed connections are freed"
    );
    let frames = capture.frames_written();
    capture.finish().expect("flushed");

    let decode_as = format!("tcp.port=={},mqtt", addr.port());
    let extra = ["-d", decode_as.as_str()];

    // The same packets, same order, same directions, per connection.
    let expected = packets_by_conn(&events);
    let client_ports: HashMap<u16, u64> = events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Opened {
                endpoints: Some(ep),
                ..
            } => Some((ep.client.port(), e.conn)),
            _ => None,
        })
        .collect();
    let seen = mqtt_by_stream(&file.0, &extra, addr.port());
    assert_eq!(seen.len(), 2, "two TCP streams: {seen:?}");
    let mut total = 0;
    for (stream, (client_port, packets)) in &seen {
        let conn = client_ports[client_port];
        assert_eq!(
            packets, &expected[&conn],
            "stream {stream} (conn {conn}) as tshark dissects it"
        );
        total += packets.len();
    }
    let event_packets: usize = expected.values().map(Vec::len).sum();
    assert_eq!(total, event_packets);
    // 2 × (CONNECT, CONNACK, PINGREQ, PINGRESP, DISCONNECT), SUBSCRIBE, SUBACK, four
    // publishes in and four out, PUBACK ×2 (QoS 1 in), PUBREC, PUBREL, PUBCOMP, and the
    // subscriber's three PUBACKs.
    assert_eq!(total, 10 + 2 + 8 + 2 + 3 + 3, "{expected:?}");

    // Nothing wrong anywhere.
    let bad = complaints(&file.0, &extra);
    assert!(bad.is_empty(), "tshark complains: {bad:?}");

    // The 5000-byte payload went as several full segments, reassembled into one PUBLISH.
    let segments = fields(&file.0, &extra, "tcp.len > 0", &["tcp.len"]);
    assert!(
        segments.iter().filter(|r| r[0] == "1460").count() >= 6,
        "two deliveries of 5000 bytes take 3 full segments each: {segments:?}"
    );
    let reassembled = fields(
        &file.0,
        &extra,
        "mqtt.msgtype == 3 && mqtt.msg contains \"BBBB\"",
        &["tcp.reassembled.length"],
    );
    assert_eq!(reassembled.len(), 2, "{reassembled:?}");
    assert!(
        reassembled
            .iter()
            .all(|r| r[0].parse::<u32>().unwrap() > 5000)
    );

    let all = fields(&file.0, &extra, "frame", &["frame.number"]);
    assert_eq!(all.len() as u64, frames, "tshark reads every frame written");
    println!("live session: {frames} frames, {total} MQTT packets on 2 TCP streams, 0 complaints");
}

// ---------------------------------------------------------------------------------------
// Synthetic sessions, frame by frame
// ---------------------------------------------------------------------------------------

/// One TCP frame as tshark shows it.
#[derive(Debug)]
struct Frame {
    stream: u64,
    src: String,
    srcport: u16,
    seq: u64,
    ack: u64,
    flags: u16,
    len: u64,
}

const SYN: u16 = 0x002;
const ACK: u16 = 0x010;
const FIN: u16 = 0x001;
const PSH: u16 = 0x008;

/// Four interleaved connections: IPv6 with real addresses (closed by the client), one
/// without addresses (closed by the server), one whose opening was never seen (closed
/// by the server after an unframeable stream), one with a TLS note (initiator unknown).
fn mixed_session() -> Vec<Event> {
    use Side::{Client as C, Server as S};
    let v6 = Endpoints {
        client: "[2001:db8::10]:50001".parse().unwrap(),
        server: "[2001:db8::1]:1883".parse().unwrap(),
    };
    let unframeable = decode_slice(&[0x00, 0x00], V4).expect_err("type 0 is reserved");
    vec![
        ev(1, 0, C, EventKind::opened(Some(v6))),
        ev(2, 1, C, EventKind::opened(None)),
        ev(1, 2, C, connect("six")),
        ev(2, 3, C, connect("anon")),
        ev(1, 4, S, connack()),
        // Conn 3 was open before the writer started.
        ev(3, 5, C, publish("late/a", 10, QoS::AtMostOnce, None)),
        ev(2, 6, S, connack()),
        ev(
            2,
            7,
            C,
            packet(Packet::Subscribe(Subscribe {
                packet_id: 9,
                properties: Default::default(),
                subscriptions: vec![Subscription::new("a/#", QoS::AtLeastOnce)],
            })),
        ),
        // A large delivery to the IPv6 client, interleaved with the others.
        ev(
            1,
            8,
            S,
            publish("big/v6", 70_000, QoS::AtLeastOnce, Some(5)),
        ),
        ev(3, 9, C, publish("late/b", 3000, QoS::AtMostOnce, None)),
        ev(1, 100, C, packet(Packet::PubAck(PubResponse::new(5)))),
        ev(3, 101, C, EventKind::Unframeable(unframeable)),
        ev(2, 102, C, EventKind::Gap { bytes: 17 }),
        ev(3, 103, S, closed(Some(S), "cannot frame the byte stream")),
        ev(4, 104, C, EventKind::opened(None)),
        ev(
            4,
            105,
            C,
            EventKind::Tls(TlsInfo {
                sni: Some("broker.example".into()),
                offered: vec![0x0303, 0x0304],
                negotiated: Some(0x0304),
            }),
        ),
        ev(2, 300, S, closed(Some(S), "keepalive timeout")),
        ev(1, 301, C, packet(Packet::Disconnect(Default::default()))),
        ev(1, 302, C, closed(Some(C), "EOF")),
        ev(4, 400, C, closed(None, "gone")),
    ]
}

fn write_to(file: &Path, events: &[Event], start: SystemTime) -> u64 {
    let mut capture = CaptureWriter::create(file, start).expect("capture file");
    for e in events {
        capture.event(e).expect("written");
    }
    assert_eq!(capture.connections_open(), 0);
    let frames = capture.frames_written();
    capture.finish().expect("flushed");
    frames
}

#[test]
fn interleaved_ipv6_synthetic_and_mid_stream_connections_are_clean_tcp() {
    let events = mixed_session();
    let file = TempFile::new("mixed");
    write_to(
        &file.0,
        &events,
        UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    );

    let bad = complaints(&file.0, &[]);
    assert!(bad.is_empty(), "tshark complains: {bad:?}");

    let rows = fields(
        &file.0,
        &[],
        "tcp",
        &[
            "tcp.stream",
            "ip.src",
            "ipv6.src",
            "tcp.srcport",
            "tcp.seq",
            "tcp.ack",
            "tcp.flags",
            "tcp.len",
        ],
    );
    let frames: Vec<Frame> = rows
        .iter()
        .map(|r| Frame {
            stream: r[0].parse().unwrap(),
            src: if r[1].is_empty() {
                r[2].clone()
            } else {
                r[1].clone()
            },
            srcport: r[3].parse().unwrap(),
            seq: r[4].parse().unwrap(),
            ack: r[5].parse().unwrap(),
            flags: u16::from_str_radix(r[6].trim_start_matches("0x"), 16).unwrap(),
            len: r[7].parse().unwrap(),
        })
        .collect();
    let mut streams: BTreeMap<u64, Vec<&Frame>> = BTreeMap::new();
    for f in &frames {
        streams.entry(f.stream).or_default().push(f);
    }
    assert_eq!(streams.len(), 4, "four connections");

    // Streams in order of their SYN: conn 1 (IPv6), 2 (synthetic), 3 (mid-stream), 4.
    let clients = [
        ("2001:db8::10", 50001),
        ("10.0.0.2", 49154),
        ("10.0.0.2", 49155),
        ("10.0.0.2", 49156),
    ];
    // Who sends the first FIN.
    let closers = [true, false, false, true];
    for (stream, frames) in &streams {
        let i = *stream as usize;
        let (client_ip, client_port) = clients[i];
        let from_client = |f: &Frame| f.srcport == client_port;
        assert_eq!(frames[0].src, client_ip, "stream {stream}");
        // The handshake.
        let flags: Vec<u16> = frames.iter().map(|f| f.flags).collect();
        assert_eq!(flags[..3], [SYN, SYN | ACK, ACK], "stream {stream}");
        assert!(from_client(frames[0]) && !from_client(frames[1]) && from_client(frames[2]));
        // The close: FIN from the closer, FIN from the other side, the last ACK.
        let n = frames.len();
        assert_eq!(
            flags[n - 3..],
            [FIN | ACK, FIN | ACK, ACK],
            "stream {stream}"
        );
        assert_eq!(from_client(frames[n - 3]), closers[i], "stream {stream}");
        assert_eq!(from_client(frames[n - 1]), closers[i], "stream {stream}");
        // Relative sequence and acknowledgement numbers follow each other exactly.
        let mut next = [0u64; 2]; // client, server
        for f in frames {
            let (me, peer) = if from_client(f) { (0, 1) } else { (1, 0) };
            assert_eq!(f.seq, next[me], "stream {stream}: {f:?}");
            if f.flags & ACK != 0 {
                assert_eq!(f.ack, next[peer], "stream {stream}: {f:?}");
            }
            assert!(f.len <= 1460, "{f:?}");
            next[me] = f.seq + f.len + u64::from(f.flags & (SYN | FIN) != 0);
            assert!(f.flags & PSH == 0 || f.len > 0, "{f:?}");
        }
    }
    // The 70 000-byte delivery on IPv6: 1440-byte segments, acknowledged on the way.
    let v6 = &streams[&0];
    let big_len = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Packet { bytes, .. } if bytes.len() > 60_000 => Some(bytes.len()),
            _ => None,
        })
        .unwrap();
    let full = v6.iter().filter(|f| f.len == 1440).count();
    assert_eq!(full, big_len / 1440, "{v6:?}");
    let first = v6.iter().position(|f| f.len == 1440).unwrap();
    let last = v6.iter().rposition(|f| f.len == 1440).unwrap();
    let mid_acks = v6[first..last]
        .iter()
        .filter(|f| f.srcport == 50001 && f.flags == ACK && f.len == 0)
        .count();
    assert_eq!(
        mid_acks,
        big_len / (32 * 1024),
        "the receiver acknowledges every 32 KiB: {v6:?}"
    );

    // MQTT on port 1883 without Decode As, the same packets in the same order.
    let expected = packets_by_conn(&events);
    let seen = mqtt_by_stream(&file.0, &[], 1883);
    for (stream, (_, packets)) in &seen {
        assert_eq!(packets, &expected[&(stream + 1)], "stream {stream}");
    }
    assert_eq!(seen.len(), 3, "conn 4 carried no MQTT");

    // The notes: their own frames, in time order, with their text as comment.
    let notes = fields(
        &file.0,
        &[],
        "eth.type == 0x88b5",
        &["frame.number", "frame.comment"],
    );
    let texts: Vec<&str> = notes.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(texts.len(), 3, "{notes:?}");
    assert!(
        texts[0].starts_with("mqtt-conform conn 3: the client's byte stream cannot be framed"),
        "{texts:?}"
    );
    assert_eq!(
        texts[1],
        "mqtt-conform conn 2: 17 bytes of the client's stream lost"
    );
    assert!(
        texts[2].contains("TLS SNI \"broker.example\"") && texts[2].contains("TLS 1.3"),
        "{texts:?}"
    );
    // Closes and openings are commented on their first frame.
    let comments = fields(&file.0, &[], "tcp && frame.comment", &["frame.comment"]);
    let comments: Vec<&str> = comments.iter().map(|r| r[0].as_str()).collect();
    assert!(comments.contains(&"mqtt-conform conn 1"), "{comments:?}");
    assert!(
        comments.contains(&"mqtt-conform conn 2: closed by the server: keepalive timeout"),
        "{comments:?}"
    );
    assert!(
        comments.contains(&"mqtt-conform conn 4: closed (initiator unknown): gone"),
        "{comments:?}"
    );
    assert!(
        comments
            .iter()
            .any(|c| c.starts_with("mqtt-conform conn 3 (its opening was not seen")),
        "{comments:?}"
    );
}

#[test]
fn timestamps_are_the_start_plus_at_and_never_go_back() {
    let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let events = vec![
        ev(1, 1500, Side::Client, EventKind::opened(None)),
        ev(1, 2000, Side::Client, connect("t")),
        // Stamped earlier than the frame before: written at that frame's time.
        ev(1, 1900, Side::Server, connack()),
        ev(1, 5000, Side::Client, closed(Some(Side::Client), "EOF")),
    ];
    let file = TempFile::new("times");
    write_to(&file.0, &events, start);
    let rows = fields(
        &file.0,
        &[],
        "frame",
        &["frame.time_epoch", "tcp.flags", "tcp.len"],
    );
    let times: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        times,
        [
            "1700000001.500000000", // SYN
            "1700000001.500000000", // SYN-ACK
            "1700000001.500000000", // ACK
            "1700000002.000000000", // CONNECT
            "1700000002.000000000", // CONNACK, moved up
            "1700000002.040000000", // the client's delayed ACK of the CONNACK
            "1700000005.000000000", // FIN
            "1700000005.000000000", // FIN
            "1700000005.000000000", // ACK
        ]
    );
    assert!(complaints(&file.0, &[]).is_empty());
}

// ---------------------------------------------------------------------------------------
// The file, byte by byte
// ---------------------------------------------------------------------------------------

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// (code, value) of the options in `b`, up to opt_endofopt.
fn options(mut b: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        let (code, len) = (u16_at(b, 0), usize::from(u16_at(b, 2)));
        if code == 0 {
            assert_eq!(len, 0);
            assert_eq!(b.len(), 4, "nothing after opt_endofopt");
            return out;
        }
        out.push((code, b[4..4 + len].to_vec()));
        let padded = len.div_ceil(4) * 4;
        assert!(
            b[4 + len..4 + padded].iter().all(|&x| x == 0),
            "zero padding"
        );
        b = &b[4 + padded..];
    }
}

#[test]
fn the_file_is_well_formed_pcapng_byte_for_byte() {
    let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let endpoints = Endpoints {
        client: "127.0.0.1:50000".parse().unwrap(),
        server: "127.0.0.1:1883".parse().unwrap(),
    };
    let mut capture = CaptureWriter::new(Vec::new(), start).unwrap();
    for e in [
        ev(1, 250, Side::Client, EventKind::opened(Some(endpoints))),
        ev(
            1,
            500,
            Side::Client,
            EventKind::Packet {
                bytes: Bytes::from_static(&[0xC0, 0x00]),
                packet: Ok(Packet::PingReq),
            },
        ),
    ] {
        capture.event(&e).unwrap();
    }
    let bytes = capture.finish().unwrap();

    // Walk the blocks: types, lengths multiple of 4, trailing length = leading length.
    let mut blocks = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let kind = u32_at(&bytes, at);
        let len = u32_at(&bytes, at + 4) as usize;
        assert_eq!(len % 4, 0, "block at {at}");
        assert!(len >= 12 && at + len <= bytes.len(), "block at {at}");
        assert_eq!(u32_at(&bytes, at + len - 4) as usize, len, "block at {at}");
        blocks.push((kind, &bytes[at + 8..at + len - 4]));
        at += len;
    }
    assert_eq!(at, bytes.len());
    let kinds: Vec<u32> = blocks.iter().map(|b| b.0).collect();
    // SHB, IDB, SYN, SYN-ACK, ACK, PINGREQ, the server's delayed ACK (written by finish).
    assert_eq!(kinds, [0x0A0D0D0A, 1, 6, 6, 6, 6, 6]);

    // Section Header Block.
    let shb = blocks[0].1;
    assert_eq!(&bytes[..4], [0x0A, 0x0D, 0x0D, 0x0A]);
    assert_eq!(
        shb[..4],
        [0x4D, 0x3C, 0x2B, 0x1A],
        "byte-order magic, little-endian"
    );
    assert_eq!((u16_at(shb, 4), u16_at(shb, 6)), (1, 0), "version 1.0");
    assert_eq!(shb[8..16], [0xFF; 8], "section length unspecified");
    let opts = options(&shb[16..]);
    let userappl = opts.iter().find(|(c, _)| *c == 4).expect("shb_userappl");
    assert!(userappl.1.starts_with(b"mqtt-conform"));

    // Interface Description Block, exactly.
    let mut idb = vec![0x01, 0x00, 0x00, 0x00]; // linktype, reserved
    idb.extend([0xFF, 0xFF, 0x00, 0x00]); // snaplen 65535
    idb.extend([0x02, 0x00, 0x0C, 0x00]); // if_name, 12 bytes
    idb.extend(b"mqtt-conform");
    idb.extend([0x09, 0x00, 0x01, 0x00, 0x09, 0x00, 0x00, 0x00]); // if_tsresol = 9
    idb.extend([0x00, 0x00, 0x00, 0x00]); // opt_endofopt
    assert_eq!(blocks[1].1, &idb[..]);
    let shb_len = u32_at(&bytes, 4) as usize;
    let total = (idb.len() + 12) as u32;
    let mut whole = vec![0x01, 0x00, 0x00, 0x00];
    whole.extend(total.to_le_bytes());
    whole.extend(&idb);
    whole.extend(total.to_le_bytes());
    assert_eq!(&bytes[shb_len..shb_len + whole.len()], &whole[..]);

    // Enhanced Packet Blocks: interface 0, nanosecond timestamps, valid frames.
    let expected_ts =
        [250, 250, 250, 500, 540].map(|ms| 1_700_000_000_000_000_000u64 + ms * 1_000_000);
    let mut seqs = Vec::new();
    for (i, (_, epb)) in blocks[2..].iter().enumerate() {
        assert_eq!(u32_at(epb, 0), 0, "interface 0");
        let ts = (u64::from(u32_at(epb, 4)) << 32) | u64::from(u32_at(epb, 8));
        assert_eq!(ts, expected_ts[i], "frame {i}");
        let (caplen, origlen) = (u32_at(epb, 12) as usize, u32_at(epb, 16) as usize);
        assert_eq!(caplen, origlen);
        let data = &epb[20..20 + caplen];
        let rest = &epb[20 + caplen.div_ceil(4) * 4..];
        let comments = if rest.is_empty() {
            Vec::new()
        } else {
            options(rest)
        };
        if i == 0 {
            assert_eq!(comments, [(1, b"mqtt-conform conn 1".to_vec())]);
        } else {
            assert!(comments.is_empty());
        }

        let p = SlicedPacket::from_ethernet(data).expect("a valid frame");
        let Some(etherparse::LinkSlice::Ethernet2(eth)) = &p.link else {
            panic!("Ethernet II")
        };
        assert_eq!(
            eth.source()[0] & 0x03,
            0x02,
            "locally administered unicast MAC"
        );
        let Some(NetSlice::Ipv4(ip)) = &p.net else {
            panic!("IPv4")
        };
        let ip_header = ip.header().to_header();
        assert_eq!(ip_header.header_checksum, ip_header.calc_header_checksum());
        let Some(TransportSlice::Tcp(tcp)) = &p.transport else {
            panic!("TCP")
        };
        let header = tcp.to_header();
        assert_eq!(
            header.checksum,
            header
                .calc_checksum_ipv4(&ip_header, tcp.payload())
                .unwrap(),
            "frame {i}: TCP checksum"
        );
        seqs.push((
            header.source_port,
            header.sequence_number,
            header.acknowledgment_number,
            header.syn,
            header.ack,
            tcp.payload().to_vec(),
        ));
    }
    let (c, s) = (seqs[0].1, seqs[1].1);
    assert_eq!(seqs[0], (50000, c, 0, true, false, vec![]));
    assert_eq!(seqs[1], (1883, s, c + 1, true, true, vec![]));
    assert_eq!(seqs[2], (50000, c + 1, s + 1, false, true, vec![]));
    assert_eq!(
        seqs[3],
        (50000, c + 1, s + 1, false, true, vec![0xC0, 0x00])
    );
    assert_eq!(seqs[4], (1883, s + 1, c + 3, false, true, vec![]));
}

#[test]
fn many_connections_leave_no_state_behind() {
    let mut capture = CaptureWriter::new(std::io::sink(), SystemTime::now()).unwrap();
    for conn in 1..=2000u64 {
        let from = Side::Client;
        capture
            .event(&ev(conn, conn, from, EventKind::opened(None)))
            .unwrap();
        capture.event(&ev(conn, conn, from, connect("m"))).unwrap();
        if conn % 100 == 0 {
            assert_eq!(capture.connections_open(), 100);
        }
        if conn > 99 {
            let old = conn - 99;
            capture
                .event(&ev(
                    old,
                    conn,
                    Side::Server,
                    closed(Some(Side::Server), "bye"),
                ))
                .unwrap();
        }
    }
    assert_eq!(capture.connections_open(), 99);
    // A close of a connection never seen writes nothing.
    let before = capture.frames_written();
    capture
        .event(&ev(9999, 3000, Side::Client, closed(None, "?")))
        .unwrap();
    assert_eq!(capture.frames_written(), before);
    capture.finish().unwrap();
}

#[test]
fn addresses_are_reported_as_given() {
    // A real IPv4 pair keeps its addresses and ports.
    let ep = Endpoints {
        client: "192.0.2.7:41000".parse::<SocketAddr>().unwrap(),
        server: "198.51.100.1:8883".parse::<SocketAddr>().unwrap(),
    };
    let events = vec![
        ev(7, 0, Side::Client, EventKind::opened(Some(ep))),
        ev(7, 1, Side::Client, connect("tls")),
        ev(7, 2, Side::Server, connack()),
        ev(7, 3, Side::Client, closed(Some(Side::Client), "EOF")),
    ];
    let file = TempFile::new("tls-port");
    write_to(&file.0, &events, SystemTime::now());
    // Port 8883 is TLS to Wireshark: the decrypted MQTT needs Decode As.
    let extra = ["-d", "tcp.port==8883,mqtt"];
    let rows = fields(
        &file.0,
        &extra,
        "mqtt",
        &[
            "ip.src",
            "tcp.srcport",
            "ip.dst",
            "tcp.dstport",
            "mqtt.msgtype",
        ],
    );
    assert_eq!(
        rows,
        [
            ["192.0.2.7", "41000", "198.51.100.1", "8883", "1"],
            ["198.51.100.1", "8883", "192.0.2.7", "41000", "2"],
        ]
    );
    assert!(complaints(&file.0, &extra).is_empty());
}

#[test]
fn undecodable_packets_keep_their_bytes_and_say_why() {
    let bytes = [0x82, 0x04, 0x00, 0x01, 0x00, 0x00];
    let error = decode_slice(&bytes, V4).expect_err("a SUBSCRIBE without a filter");
    let events = vec![
        ev(1, 0, Side::Client, EventKind::opened(None)),
        ev(1, 1, Side::Client, connect("bad")),
        ev(1, 2, Side::Server, connack()),
        ev(
            1,
            3,
            Side::Client,
            EventKind::Packet {
                bytes: Bytes::copy_from_slice(&bytes),
                packet: Err(error.clone()),
            },
        ),
        ev(
            1,
            4,
            Side::Server,
            closed(Some(Side::Server), "protocol violation"),
        ),
    ];
    let file = TempFile::new("undecodable");
    write_to(&file.0, &events, SystemTime::now());
    let rows = fields(
        &file.0,
        &[],
        "tcp.len > 0",
        &["tcp.payload", "frame.comment"],
    );
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[2][0], "820400010000", "the bytes as sent");
    assert_eq!(
        rows[2][1],
        format!("mqtt-conform conn 1: client packet does not decode: {error}")
    );
}

#[test]
fn stream_bytes_are_read_back_in_order_by_the_reader_and_the_reassembler() {
    use mqtt_conform::capture::read::{CaptureReader, Item, MergedReader};
    use mqtt_conform::capture::reassembly::{CloseReason, Dir, Reassembler, StreamItem};

    let endpoints = Endpoints {
        client: "127.0.0.1:40001".parse().unwrap(),
        server: "127.0.0.1:8883".parse().unwrap(),
    };
    let at = |ms: u64| Duration::from_millis(ms);
    // Arbitrary bytes (not MQTT), both directions interleaved: a chunk longer than one
    // MSS, and more than 32 KiB (the writer's ACK interval) from the client before the server sends again.
    let pattern = |len: usize, seed: u8| -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    };
    let chunks = [
        (Side::Client, pattern(517, 1)),
        (Side::Server, pattern(5_000, 2)),
        (Side::Client, pattern(80, 3)),
        (Side::Client, pattern(40_000, 4)),
        (Side::Server, pattern(1, 5)),
        (Side::Client, Vec::new()),
        (Side::Server, pattern(1_460, 6)),
    ];
    let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut writer = CaptureWriter::new(Vec::new(), start).unwrap();
    writer
        .event(&Event {
            conn: 7,
            at: at(0),
            from: Side::Client,
            kind: EventKind::opened(Some(endpoints)),
        })
        .unwrap();
    for (i, (side, bytes)) in chunks.iter().enumerate() {
        // 30 ms apart: some delayed ACKs fall due in between, some do not.
        writer
            .stream_bytes(7, at(1 + 30 * i as u64), *side, bytes)
            .unwrap();
    }
    writer
        .event(&Event {
            conn: 7,
            at: at(500),
            from: Side::Client,
            kind: EventKind::Closed {
                by: Some(Side::Client),
                detail: "EOF".into(),
            },
        })
        .unwrap();
    let file = writer.finish().unwrap();

    let mut streams: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut addresses = None;
    let mut ends = Vec::new();
    let mut unexpected = Vec::new();
    let mut on_item = |item: StreamItem<'_>| match item {
        StreamItem::Opened {
            a, b, handshake, ..
        } => addresses = Some((a, b, handshake)),
        StreamItem::Data { dir, bytes, .. } => streams[dir.index()].extend_from_slice(bytes),
        StreamItem::Fin { dir, .. } => ends.push(format!("fin {dir}")),
        StreamItem::Closed { reason, .. } => ends.push(format!("closed {reason:?}")),
        other => unexpected.push(format!("{other:?}")),
    };
    let mut reassembler = Reassembler::default();
    let reader = CaptureReader::new(&file[..], 0).unwrap();
    MergedReader::new(vec![reader])
        .for_each_item(|item| match item {
            Item::Segment(seg) => reassembler.segment(&seg, &mut on_item),
            Item::Notice(n) => panic!("notice reading the capture: {n:?}"),
        })
        .unwrap();
    reassembler.finish(&mut on_item);

    assert_eq!(addresses, Some((endpoints.client, endpoints.server, true)));
    let sent = |side: Side| -> Vec<u8> {
        chunks
            .iter()
            .filter(|(s, _)| *s == side)
            .flat_map(|(_, b)| b.iter().copied())
            .collect()
    };
    assert!(streams[Dir::FromA.index()] == sent(Side::Client));
    assert!(streams[Dir::FromB.index()] == sent(Side::Server));
    assert_eq!(
        ends,
        [
            "fin a→b".to_owned(),
            "fin b→a".to_owned(),
            format!("closed {:?}", CloseReason::Finished)
        ]
    );
    assert!(unexpected.is_empty(), "{unexpected:?}");
}
