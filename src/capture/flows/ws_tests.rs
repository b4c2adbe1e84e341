//! MQTT over WebSocket in captures: frames written by tungstenite, fed through the
//! frame reader and the analyzer in every byte split.

use super::ws::{self, FrameHead, FrameReader, Piece, WsLook};
use super::*;
use crate::capture::TcpFlags;
use crate::codec::{ConnAck, Connect, SubAck, Subscribe, Subscription, encode_to_vec};
use crate::event::WebSocketEvent;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};

const V311: ProtocolVersion = ProtocolVersion::V3_1_1;
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn enc(p: Packet) -> Vec<u8> {
    encode_to_vec(&p, V311).unwrap()
}

fn connect(id: &str) -> Vec<u8> {
    enc(Packet::Connect(Box::new(Connect::new(V311, id))))
}

fn connack() -> Vec<u8> {
    enc(Packet::ConnAck(ConnAck {
        session_present: false,
        code: 0,
        properties: Default::default(),
    }))
}

fn publish(topic: &str, payload: &[u8]) -> Vec<u8> {
    enc(Packet::Publish(crate::codec::Publish::new(
        topic,
        payload.to_vec(),
    )))
}

fn subscribe() -> Vec<u8> {
    enc(Packet::Subscribe(Subscribe {
        packet_id: 1,
        subscriptions: vec![Subscription::new("a/#", crate::codec::QoS::AtMostOnce)],
        properties: Default::default(),
    }))
}

fn suback() -> Vec<u8> {
    enc(Packet::SubAck(SubAck {
        packet_id: 1,
        return_codes: vec![0],
        properties: Default::default(),
    }))
}

/// A frame as tungstenite writes it; masked for a client.
fn frame(client: bool, opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    frame_rsv1(client, opcode, fin, false, payload)
}

/// A frame with RSV1 (a compressed message's first frame) set or not.
fn frame_rsv1(client: bool, opcode: OpCode, fin: bool, rsv1: bool, payload: &[u8]) -> Vec<u8> {
    let mut f = Frame::message(payload.to_vec(), opcode, fin);
    f.header_mut().rsv1 = rsv1;
    if client {
        f.header_mut().mask = Some(MASK);
    }
    let mut out = Vec::new();
    f.format(&mut out).unwrap();
    out
}

fn binary(client: bool, payload: &[u8]) -> Vec<u8> {
    frame(client, OpCode::Data(Data::Binary), true, payload)
}

fn control(client: bool, f: Frame) -> Vec<u8> {
    let mut f = f;
    if client {
        f.header_mut().mask = Some(MASK);
    }
    let mut out = Vec::new();
    f.format(&mut out).unwrap();
    out
}

fn request(offered: &str) -> Vec<u8> {
    let proto = if offered.is_empty() {
        String::new()
    } else {
        format!("sec-websocket-protocol: {offered}\r\n")
    };
    format!(
        "GET /mqtt HTTP/1.1\r\nHost: broker\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{proto}\r\n"
    )
    .into_bytes()
}

fn response(status: u16, selected: Option<&str>) -> Vec<u8> {
    let proto = selected.map_or(String::new(), |s| {
        format!("Sec-WebSocket-Protocol: {s}\r\n")
    });
    if status == 101 {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n{proto}\r\n"
        )
        .into_bytes()
    } else {
        format!("HTTP/1.1 {status} Nope\r\nContent-Length: 0\r\n\r\n").into_bytes()
    }
}

/// Every piece a reader hands out for `bytes` fed in `chunks`, payloads joined per frame.
fn read_all(chunks: &[&[u8]]) -> Vec<(FrameHead, Vec<u8>)> {
    let mut r = FrameReader::default();
    let mut scratch = Vec::new();
    let mut out: Vec<(FrameHead, Vec<u8>)> = Vec::new();
    let mut ended = true;
    for chunk in chunks {
        let mut data = *chunk;
        while let Some(p) = r.next(&mut data, &mut scratch) {
            match p {
                Piece::Head(h) => {
                    assert!(ended);
                    ended = false;
                    out.push((h, Vec::new()));
                }
                Piece::Payload(b) => out.last_mut().unwrap().1.extend_from_slice(b),
                Piece::End => ended = true,
            }
        }
    }
    out
}

#[test]
fn frames_read_the_same_at_every_split() {
    let big = vec![0xA5u8; 300];
    let huge = vec![0x5Au8; 70_000];
    let mut stream = Vec::new();
    stream.extend(binary(true, &connect("dev")));
    stream.extend(frame(true, OpCode::Data(Data::Binary), false, b"abc"));
    stream.extend(control(true, Frame::ping(b"hi".to_vec())));
    stream.extend(frame(true, OpCode::Data(Data::Continue), true, &big));
    stream.extend(frame(true, OpCode::Data(Data::Text), true, b"hello"));
    stream.extend(binary(true, &huge));
    stream.extend(binary(true, b""));
    let whole = read_all(&[&stream]);
    let lens: Vec<u64> = whole.iter().map(|f| f.0.len).collect();
    assert_eq!(lens, [connect("dev").len() as u64, 3, 2, 300, 5, 70_000, 0]);
    assert_eq!(whole[0].1, connect("dev"));
    assert_eq!(whole[3].1, big);
    assert_eq!(whole[5].1, huge);
    assert!(
        whole
            .iter()
            .all(|f| f.0.mask == Some(MASK) && !f.0.bad_length)
    );
    assert!(!whole[1].0.fin);
    assert_eq!(whole[3].0.opcode, 0);
    assert_eq!(whole[4].0.opcode, 1);
    // Every split into two pieces, and a few into three.
    for k in 0..=stream.len() {
        if k > 600 && k < stream.len() - 600 && k % 997 != 0 {
            continue;
        }
        assert_eq!(
            read_all(&[&stream[..k], &stream[k..]]),
            whole,
            "split at {k}"
        );
    }
    let ones: Vec<&[u8]> = stream[..400].chunks(1).collect();
    assert_eq!(read_all(&ones), read_all(&[&stream[..400]]));
}

#[test]
fn unmasking_matches_byte_by_byte_at_any_phase() {
    let data: Vec<u8> = (0..41u8).collect();
    for offset in 0..8u64 {
        let mut fast = data.clone();
        ws::unmask(&mut fast, MASK, offset);
        let slow: Vec<u8> = data
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ MASK[(i + offset as usize) % 4])
            .collect();
        assert_eq!(fast, slow, "offset {offset}");
    }
}

#[test]
fn hostile_lengths_are_streamed_not_allocated() {
    // A 64-bit length with the top bit set, then a few bytes: nothing is allocated for
    // it, the reader waits for payload that never comes.
    let mut b = vec![0x82, 0x7F];
    b.extend(u64::MAX.to_be_bytes());
    b.extend(b"xyz");
    let got = read_all(&[&b]);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0.len, u64::MAX);
    assert!(got[0].0.bad_length);
    assert_eq!(got[0].1, b"xyz");
    // Non-minimal 16-bit length.
    let got = read_all(&[&[0x82, 0x7E, 0x00, 0x01, 0x42]]);
    assert!(got[0].0.bad_length);
    assert_eq!(got[0].1, [0x42]);
    // Arbitrary bytes never panic.
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for len in 0..3000usize {
        let bytes: Vec<u8> = (0..len % 200)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let _ = read_all(&[&bytes]);
        let _ = ws::decide(&bytes, len % 2 == 0, len % 3 == 0);
        let mut g = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n".to_vec();
        g.extend(&bytes);
        let _ = ws::decide(&g, true, false);
        let _ = ws::parse_response(&bytes);
    }
}

#[test]
fn heads_are_read_case_insensitively() {
    let req = ws::parse_request(&request("mqtt, foo"));
    assert!(req.get && req.upgrade);
    assert_eq!(req.path, "/mqtt");
    assert_eq!(req.offered, ["mqtt", "foo"]);
    assert!(req.offers_mqtt());
    let resp = ws::parse_response(&response(101, Some("mqtt")));
    assert_eq!((resp.status, resp.selected.as_deref()), (101, Some("mqtt")));
    assert_eq!(ws::parse_response(&response(403, None)).status, 403);
    let end = ws::head_end(&request(""), 0).unwrap();
    assert_eq!(end, request("").len());
}

#[test]
fn an_upgrade_is_mqtt_by_subprotocol_port_or_first_message() {
    assert_eq!(
        ws::decide(&request("mqtt"), false, false),
        WsLook::Subprotocol
    );
    assert_eq!(
        ws::decide(&request("mqttv3.1"), false, false),
        WsLook::Subprotocol
    );
    assert_eq!(ws::decide(&request(""), false, true), WsLook::Upgrade);
    assert_eq!(ws::decide(&request(""), false, false), WsLook::NeedMore);
    assert_eq!(
        ws::decide(&request("")[..20], false, false),
        WsLook::NeedMore
    );
    assert_eq!(ws::decide(&request("")[..20], true, false), WsLook::No);
    let mut r = request("chat");
    r.extend(control(true, Frame::ping(b"p".to_vec())));
    r.extend(binary(true, &connect("dev")));
    assert_eq!(ws::decide(&r, false, false), WsLook::Connect);
    let mut r = request("chat");
    r.extend(binary(true, b"\x10\x0cnot mqtt at all"));
    assert_eq!(ws::decide(&r, false, false), WsLook::Upgrade);
    assert_eq!(
        ws::decide(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", false, true),
        WsLook::No
    );
    let mut long = b"GET / HTTP/1.1\r\n".to_vec();
    long.extend(vec![b'a'; ws::MAX_HEAD]);
    assert_eq!(ws::decide(&long, false, false), WsLook::No);
}

/// One TCP connection's segments.
struct Tcp {
    client: SocketAddr,
    server: SocketAddr,
    next: [u32; 2],
    frame: u64,
}

/// An owned segment.
struct Seg {
    frame: u64,
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: Vec<u8>,
}

impl Seg {
    fn segment(&self) -> Segment<'_> {
        Segment {
            at: Duration::from_secs(1_700_000_000) + Duration::from_millis(self.frame * 10),
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

impl Tcp {
    fn new(server_port: u16) -> Self {
        Self {
            client: "10.1.0.2:50000".parse().unwrap(),
            server: SocketAddr::from(([10, 1, 0, 1], server_port)),
            next: [1000, 5000],
            frame: 0,
        }
    }

    fn raw(&mut self, client: bool, flags: u8, payload: &[u8], advance: u32) -> Seg {
        self.frame += 1;
        let i = usize::from(!client);
        let (src, dst) = if client {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        };
        let seg = Seg {
            frame: self.frame,
            src,
            dst,
            seq: self.next[i],
            ack: self.next[1 - i],
            flags,
            payload: payload.to_vec(),
        };
        self.next[i] = self.next[i].wrapping_add(advance);
        seg
    }

    fn open(&mut self) -> Vec<Seg> {
        vec![
            self.raw(true, TcpFlags::SYN, &[], 1),
            self.raw(false, TcpFlags::SYN | TcpFlags::ACK, &[], 1),
            self.raw(true, TcpFlags::ACK, &[], 0),
        ]
    }

    fn send(&mut self, client: bool, payload: &[u8]) -> Seg {
        self.raw(
            client,
            TcpFlags::PSH | TcpFlags::ACK,
            payload,
            payload.len() as u32,
        )
    }

    fn fin(&mut self, client: bool) -> Seg {
        self.raw(client, TcpFlags::FIN | TcpFlags::ACK, &[], 1)
    }
}

struct Run {
    events: Vec<Event>,
    notices: Vec<Notice>,
    analyzer: Analyzer,
}

fn run(segs: &[Seg]) -> Run {
    let mut analyzer = Analyzer::default();
    let mut events = Vec::new();
    for s in segs {
        analyzer.segment(&s.segment(), &mut |e| events.push(e));
    }
    analyzer.finish(&mut |e| events.push(e));
    Run {
        notices: analyzer.notices(),
        events,
        analyzer,
    }
}

/// What the judge would see, without times.
fn kinds(events: &[Event]) -> Vec<(Side, String)> {
    events
        .iter()
        .map(|e| {
            let k = match &e.kind {
                EventKind::Packet { packet, bytes } => match packet {
                    Ok(p) => format!("{} {}", p.packet_type(), bytes.len()),
                    Err(err) => format!("malformed {err}"),
                },
                EventKind::Opened { from_start, .. } => format!("opened {from_start}"),
                other => format!("{other:?}"),
            };
            (e.from, k)
        })
        .collect()
}

/// A WebSocket MQTT conversation: (from client, bytes) messages as the sides send them.
fn conversation() -> Vec<(bool, Vec<u8>)> {
    let mut c1 = binary(true, &subscribe());
    c1.extend(binary(
        true,
        &[publish("a/b", b"1"), publish("a/c", b"2")].concat(),
    ));
    let p = publish("a/b", &[7u8; 200]);
    // A PUBLISH over a fragmented message with a ping between its frames, and a CONNACK
    // split over two messages.
    let mut c2 = frame(true, OpCode::Data(Data::Binary), false, &p[..50]);
    c2.extend(control(true, Frame::ping(b"ping".to_vec())));
    c2.extend(frame(true, OpCode::Data(Data::Continue), true, &p[50..]));
    let ca = connack();
    vec![
        (true, request("mqtt")),
        (false, response(101, Some("mqtt"))),
        (true, binary(true, &connect("dev"))),
        (
            false,
            [binary(false, &ca[..1]), binary(false, &ca[1..])].concat(),
        ),
        (true, c1),
        (
            false,
            binary(false, &[suback(), publish("a/b", b"1")].concat()),
        ),
        (false, control(false, Frame::pong(b"ping".to_vec()))),
        (true, c2),
        (
            true,
            frame(true, OpCode::Data(Data::Text), true, b"not mqtt"),
        ),
        (
            true,
            control(
                true,
                Frame::close(Some(CloseFrame {
                    code: CloseCode::Normal,
                    reason: "bye".into(),
                })),
            ),
        ),
        (false, control(false, Frame::close(None))),
    ]
}

fn segments(msgs: &[(bool, Vec<u8>)], split: Option<(usize, usize)>) -> Vec<Seg> {
    let mut tcp = Tcp::new(8080);
    let mut segs = tcp.open();
    for (i, (client, bytes)) in msgs.iter().enumerate() {
        match split {
            Some((m, k)) if m == i => {
                segs.push(tcp.send(*client, &bytes[..k]));
                segs.push(tcp.send(*client, &bytes[k..]));
            }
            _ => segs.push(tcp.send(*client, bytes)),
        }
    }
    segs.push(tcp.fin(false));
    segs.push(tcp.fin(true));
    segs
}

#[test]
fn a_websocket_conversation_is_unwrapped() {
    let r = run(&segments(&conversation(), None));
    let got = kinds(&r.events);
    let want: Vec<(Side, String)> = [
        (Side::Client, "opened true".to_owned()),
        (
            Side::Client,
            format!(
                "{:?}",
                EventKind::WebSocket(WebSocketEvent::Handshake {
                    path: "/mqtt".into(),
                    offered: vec!["mqtt".into()],
                    selected: Some("mqtt".into()),
                    status: Some(101),
                })
            ),
        ),
        (Side::Client, format!("CONNECT {}", connect("dev").len())),
        (Side::Server, "CONNACK 4".into()),
        (Side::Client, format!("SUBSCRIBE {}", subscribe().len())),
        (
            Side::Client,
            format!("PUBLISH {}", publish("a/b", b"1").len()),
        ),
        (
            Side::Client,
            format!("PUBLISH {}", publish("a/c", b"2").len()),
        ),
        (Side::Server, format!("SUBACK {}", suback().len())),
        (
            Side::Server,
            format!("PUBLISH {}", publish("a/b", b"1").len()),
        ),
        (
            Side::Client,
            format!("PUBLISH {}", publish("a/b", &[7; 200]).len()),
        ),
        (
            Side::Client,
            format!(
                "{:?}",
                EventKind::WebSocket(WebSocketEvent::NonBinary {
                    opcode: 1,
                    len: 8,
                    head: Bytes::from_static(b"not mqtt"),
                })
            ),
        ),
        (
            Side::Client,
            format!(
                "{:?}",
                EventKind::WebSocket(WebSocketEvent::Close { code: Some(1000) })
            ),
        ),
        (
            Side::Server,
            format!(
                "{:?}",
                EventKind::WebSocket(WebSocketEvent::Close { code: None })
            ),
        ),
        // The client's Close frame came first: it closed, though the server's FIN did.
        (
            Side::Client,
            format!(
                "{:?}",
                EventKind::Closed {
                    by: Some(Side::Client),
                    detail: "WebSocket Close frame by the client, then FIN by server".into()
                }
            ),
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
    assert!(r.notices.is_empty(), "{:?}", r.notices);
    let stats = r.analyzer.stats();
    assert_eq!(
        (stats.mqtt_flows, stats.websocket_flows, stats.other_flows),
        (1, 1, 0)
    );
    let info = &r.analyzer.connections()[0];
    assert_eq!(info.kind, ConnectionKind::Mqtt);
    assert_eq!(info.detection, Detection::Subprotocol);
    assert_eq!(info.packets, 8);
    assert_eq!(
        info.websocket,
        Some(WebSocketInfo {
            path: "/mqtt".into(),
            offered: vec!["mqtt".into()],
            selected: Some("mqtt".into()),
            status: Some(101),
        })
    );
    // Packets are timed by the segment that completed them: the fragmented PUBLISH by
    // the segment of its last frame, the CONNECT by its own.
    let connect_at = r
        .events
        .iter()
        .find(|e| {
            matches!(
                &e.kind,
                EventKind::Packet {
                    packet: Ok(Packet::Connect(_)),
                    ..
                }
            )
        })
        .unwrap()
        .at;
    assert_eq!(connect_at, Duration::from_millis(60 - 10));
}

#[test]
fn every_split_point_gives_the_same_events() {
    let msgs = conversation();
    let want = kinds(&run(&segments(&msgs, None)).events);
    for (m, (_, bytes)) in msgs.iter().enumerate() {
        for k in 1..bytes.len() {
            let r = run(&segments(&msgs, Some((m, k))));
            assert_eq!(kinds(&r.events), want, "message {m} split at {k}");
            assert!(r.notices.is_empty(), "{:?}", r.notices);
        }
    }
    // Byte by byte, both directions.
    let mut tcp = Tcp::new(8080);
    let mut segs = tcp.open();
    for (client, bytes) in &msgs {
        for b in bytes.chunks(1) {
            segs.push(tcp.send(*client, b));
        }
    }
    segs.push(tcp.fin(false));
    assert_eq!(kinds(&run(&segs).events), want);
}

#[test]
fn a_client_offering_no_mqtt_is_judged_when_it_speaks_mqtt() {
    let mut msgs = conversation();
    msgs[0].1 = request("");
    msgs[1].1 = response(101, None);
    let r = run(&segments(&msgs, None));
    let info = &r.analyzer.connections()[0];
    assert_eq!(info.detection, Detection::Connect);
    assert_eq!(
        info.websocket.as_ref().unwrap().offered,
        Vec::<String>::new()
    );
    assert_eq!(info.websocket.as_ref().unwrap().selected, None);
    assert_eq!(info.packets, 8);
    // The same upgrade carrying something else is not MQTT.
    let mut tcp = Tcp::new(8080);
    let mut segs = tcp.open();
    segs.push(tcp.send(true, &request("chat")));
    segs.push(tcp.send(false, &response(101, Some("chat"))));
    segs.push(tcp.send(true, &binary(true, b"\x10\x05hello")));
    segs.push(tcp.fin(true));
    let r = run(&segs);
    assert!(r.events.is_empty(), "{:?}", r.events);
    assert_eq!(r.analyzer.stats().other_flows, 1);
    // And a plain HTTP request is not either.
    let mut tcp = Tcp::new(80);
    let mut segs = tcp.open();
    segs.push(tcp.send(true, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    segs.push(tcp.send(false, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    let r = run(&segs);
    assert!(r.events.is_empty());
    assert_eq!(r.analyzer.stats().websocket_flows, 0);
}

#[test]
fn an_upgrade_on_an_mqtt_port_is_mqtt_and_a_refusal_is_reported() {
    let mut tcp = Tcp::new(1883);
    let mut segs = tcp.open();
    segs.push(tcp.send(true, &request("")));
    segs.push(tcp.send(false, &response(400, None)));
    segs.push(tcp.fin(false));
    let r = run(&segs);
    assert_eq!(r.analyzer.connections()[0].detection, Detection::Port);
    let hs: Vec<&EventKind> = r
        .events
        .iter()
        .map(|e| &e.kind)
        .filter(|k| matches!(k, EventKind::WebSocket(_)))
        .collect();
    assert_eq!(
        hs,
        [&EventKind::WebSocket(WebSocketEvent::Handshake {
            path: "/mqtt".into(),
            offered: vec![],
            selected: None,
            status: Some(400),
        })]
    );
    assert!(
        r.notices
            .iter()
            .any(|n| n.kind == NoticeKind::NotAnalysed && n.detail.contains("HTTP 400")),
        "{:?}",
        r.notices
    );
}

#[test]
fn a_handshake_without_answer_is_reported_at_the_end() {
    let mut tcp = Tcp::new(8080);
    let mut segs = tcp.open();
    segs.push(tcp.send(true, &request("mqtt")));
    let r = run(&segs);
    let k = kinds(&r.events);
    assert_eq!(k.len(), 2, "{k:?}");
    assert!(k[1].1.contains("status: None"), "{k:?}");
}

#[test]
fn masking_errors_are_noticed_and_unwrapping_goes_on() {
    let mut tcp = Tcp::new(8080);
    let mut segs = tcp.open();
    segs.push(tcp.send(true, &request("mqtt")));
    segs.push(tcp.send(false, &response(101, Some("mqtt"))));
    segs.push(tcp.send(true, &binary(false, &connect("dev"))));
    segs.push(tcp.send(false, &binary(true, &connack())));
    // A fragmented ping and a continuation out of nowhere.
    let ping = Frame::from_payload(
        FrameHeader {
            is_final: false,
            opcode: OpCode::Control(Control::Ping),
            ..FrameHeader::default()
        },
        Bytes::from_static(b"x"),
    );
    segs.push(tcp.send(true, &control(true, ping)));
    segs.push(tcp.send(true, &frame(true, OpCode::Data(Data::Continue), true, b"y")));
    segs.push(tcp.send(true, &binary(true, &publish("t", b"p"))));
    let r = run(&segs);
    let k = kinds(&r.events);
    assert!(k.iter().any(|(_, s)| s.starts_with("CONNECT")));
    assert!(k.iter().any(|(_, s)| s.starts_with("CONNACK")));
    assert!(k.iter().any(|(_, s)| s.starts_with("PUBLISH")));
    let ws: Vec<&str> = r
        .notices
        .iter()
        .filter(|n| n.kind == NoticeKind::WebSocket)
        .map(|n| n.detail.as_str())
        .collect();
    assert_eq!(ws.len(), 4, "{ws:?}");
    assert!(ws[0].contains("client: an unmasked binary frame"), "{ws:?}");
    assert!(ws[1].contains("server: a masked binary frame"), "{ws:?}");
    assert!(
        ws[2].contains("ping frame of 1 bytes without FIN"),
        "{ws:?}"
    );
    assert!(ws[3].contains("continuation frame outside"), "{ws:?}");
}

#[test]
fn a_gap_stops_its_direction_only() {
    let mut tcp = Tcp::new(8080);
    let mut segs = tcp.open();
    segs.push(tcp.send(true, &request("mqtt")));
    segs.push(tcp.send(false, &response(101, Some("mqtt"))));
    segs.push(tcp.send(true, &binary(true, &connect("dev"))));
    segs.push(tcp.send(false, &binary(false, &connack())));
    // A client segment lost: the next one starts later in the stream.
    let lost = binary(true, &publish("lost", b"x"));
    let _ = tcp.send(true, &lost);
    segs.push(tcp.send(true, &binary(true, &publish("t", b"after"))));
    segs.push(tcp.send(false, &binary(false, &publish("s", b"server"))));
    segs.push(tcp.fin(true));
    let r = run(&segs);
    let k = kinds(&r.events);
    let gaps: Vec<_> = r
        .events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Gap { bytes } => Some((e.from, bytes)),
            _ => None,
        })
        .collect();
    assert_eq!(gaps, [(Side::Client, lost.len() as u64)], "{k:?}");
    let publishes: Vec<Side> = k
        .iter()
        .filter(|(_, s)| s.starts_with("PUBLISH"))
        .map(|(side, _)| *side)
        .collect();
    assert_eq!(publishes, [Side::Server], "{k:?}");
    assert!(
        r.notices
            .iter()
            .any(|n| n.kind == NoticeKind::NotAnalysed && n.detail.contains("not resynchronised")),
        "{:?}",
        r.notices
    );
    assert_eq!(r.analyzer.stats().gaps, 1);
}

#[test]
fn a_huge_claimed_length_ends_in_a_notice() {
    let mut tcp = Tcp::new(8080);
    let mut segs = tcp.open();
    segs.push(tcp.send(true, &request("mqtt")));
    segs.push(tcp.send(false, &response(101, Some("mqtt"))));
    segs.push(tcp.send(true, &binary(true, &connect("dev"))));
    let mut hostile = vec![0x82, 0xFF];
    hostile.extend(u64::MAX.to_be_bytes());
    hostile.extend(MASK);
    hostile.extend([0u8; 64]);
    segs.push(tcp.send(true, &hostile));
    segs.push(tcp.fin(true));
    let r = run(&segs);
    assert!(
        kinds(&r.events)
            .iter()
            .any(|(_, s)| s.starts_with("CONNECT"))
    );
    assert!(
        r.notices.iter().any(|n| n
            .detail
            .contains("not in its shortest form or has its top bit set")),
        "{:?}",
        r.notices
    );
    assert!(
        r.notices
            .iter()
            .any(|n| n.kind == NoticeKind::StreamGap
                && n.detail.contains("inside a WebSocket frame")),
        "{:?}",
        r.notices
    );
}

#[test]
fn a_long_text_message_keeps_its_head() {
    let text = vec![b'x'; 1000];
    let mut tcp = Tcp::new(8080);
    let mut segs = tcp.open();
    segs.push(tcp.send(true, &request("mqtt")));
    segs.push(tcp.send(false, &response(101, Some("mqtt"))));
    segs.push(tcp.send(
        false,
        &frame(false, OpCode::Data(Data::Text), false, &text[..600]),
    ));
    segs.push(tcp.send(
        false,
        &frame(false, OpCode::Data(Data::Continue), true, &text[600..]),
    ));
    let r = run(&segs);
    let nb = r
        .events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::WebSocket(WebSocketEvent::NonBinary { opcode, len, head }) => {
                Some((e.from, *opcode, *len, head.len()))
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(nb, (Side::Server, 1, 1000, WebSocketEvent::HEAD));
}

#[test]
fn frames_sent_before_the_answer_come_after_the_handshake() {
    // The client pipelines its CONNECT with the request.
    let mut tcp = Tcp::new(8080);
    let mut segs = tcp.open();
    segs.push(tcp.send(
        true,
        &[request("mqtt"), binary(true, &connect("dev"))].concat(),
    ));
    segs.push(tcp.send(
        false,
        &[response(101, Some("mqtt")), binary(false, &connack())].concat(),
    ));
    segs.push(tcp.fin(true));
    let r = run(&segs);
    let k: Vec<String> = kinds(&r.events).into_iter().map(|(_, s)| s).collect();
    assert!(k[1].starts_with("WebSocket(Handshake"), "{k:?}");
    assert!(
        k[2].starts_with("CONNECT") && k[3].starts_with("CONNACK"),
        "{k:?}"
    );
    // The CONNECT is timed by the server's answer, which let it through.
    let at: Vec<Duration> = r.events.iter().map(|e| e.at).collect();
    assert_eq!(at[1], at[2]);
}

#[test]
fn arbitrary_frames_keep_the_event_order() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..400 {
        let mut tcp = Tcp::new(if round % 2 == 0 { 8080 } else { 1883 });
        let mut segs = tcp.open();
        segs.push(tcp.send(true, &request(if round % 3 == 0 { "" } else { "mqtt" })));
        if round % 5 != 0 {
            segs.push(tcp.send(false, &response(101, Some("mqtt"))));
        }
        for _ in 0..(rnd() % 12) {
            let client = rnd() % 2 == 0;
            // Frame-like bytes: a real frame, cut, or noise.
            let mut b = match rnd() % 4 {
                0 => binary(client, &connect("d")),
                1 => frame(client, OpCode::Data(Data::Text), rnd() % 2 == 0, b"t"),
                2 => {
                    let mut f = binary(client, &publish("t", &[1; 300]));
                    f.truncate((rnd() % 300) as usize);
                    f
                }
                _ => (0..rnd() % 40).map(|_| rnd() as u8).collect(),
            };
            if b.is_empty() {
                b.push(0x88);
            }
            if rnd() % 7 == 0 {
                // Lose it: a gap.
                let _ = tcp.send(client, &b);
            } else {
                segs.push(tcp.send(client, &b));
            }
        }
        if rnd() % 2 == 0 {
            segs.push(tcp.fin(rnd() % 2 == 0));
        }
        let r = run(&segs);
        let mut opened = 0;
        let mut closed = false;
        for e in &r.events {
            assert!(
                !closed,
                "round {round}: an event after Closed: {:?}",
                r.events
            );
            match &e.kind {
                EventKind::Opened { .. } => {
                    assert_eq!(opened, 0);
                    opened += 1;
                }
                EventKind::Closed { .. } => closed = true,
                EventKind::Packet { bytes, .. } => assert!(!bytes.is_empty()),
                _ => assert_eq!(opened, 1, "round {round}: {:?}", r.events),
            }
        }
        let times: Vec<Duration> = r.events.iter().map(|e| e.at).collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "round {round}: {:?}",
            r.events
        );
    }
}

/// A side that compresses its messages (permessage-deflate).
struct Packer {
    z: flate2::Compress,
    client: bool,
    /// `*_no_context_takeover`: every message starts with an empty window.
    reset: bool,
}

impl Packer {
    fn new(client: bool, reset: bool) -> Self {
        Self {
            z: flate2::Compress::new(flate2::Compression::default(), false),
            client,
            reset,
        }
    }

    fn packed(&mut self, m: &[u8]) -> Vec<u8> {
        if self.reset {
            self.z.reset();
        }
        super::ws_inflate::deflate_message(&mut self.z, m)
    }

    /// A compressed message in one frame.
    fn message(&mut self, opcode: OpCode, m: &[u8]) -> Vec<u8> {
        let packed = self.packed(m);
        frame_rsv1(self.client, opcode, true, true, &packed)
    }

    fn binary(&mut self, m: &[u8]) -> Vec<u8> {
        self.message(OpCode::Data(Data::Binary), m)
    }
}

fn response_deflate(params: &str) -> Vec<u8> {
    let mut r = response(101, Some("mqtt"));
    r.truncate(r.len() - 2);
    r.extend_from_slice(
        format!("Sec-WebSocket-Extensions: permessage-deflate{params}\r\n\r\n").as_bytes(),
    );
    r
}

/// [`conversation`] with permessage-deflate accepted and every data message compressed
/// (the fragmented PUBLISH's compressed bytes over two frames, RSV1 on the first only);
/// `server_reset`: the server keeps no window from message to message.
fn compressed_conversation(server_reset: bool) -> Vec<(bool, Vec<u8>)> {
    let mut client = Packer::new(true, false);
    let mut server = Packer::new(false, server_reset);
    let params = if server_reset {
        "; server_no_context_takeover"
    } else {
        ""
    };
    let mut c1 = client.binary(&subscribe());
    c1.extend(client.binary(&[publish("a/b", b"1"), publish("a/c", b"2")].concat()));
    let p = client.packed(&publish("a/b", &[7u8; 200]));
    let mut c2 = frame_rsv1(
        true,
        OpCode::Data(Data::Binary),
        false,
        true,
        &p[..p.len() / 2],
    );
    c2.extend(control(true, Frame::ping(b"ping".to_vec())));
    c2.extend(frame(
        true,
        OpCode::Data(Data::Continue),
        true,
        &p[p.len() / 2..],
    ));
    let ca = connack();
    vec![
        (true, request("mqtt")),
        (false, response_deflate(params)),
        (true, client.binary(&connect("dev"))),
        (
            false,
            [server.binary(&ca[..1]), server.binary(&ca[1..])].concat(),
        ),
        (true, c1),
        (
            false,
            server.binary(&[suback(), publish("a/b", b"1")].concat()),
        ),
        (false, control(false, Frame::pong(b"ping".to_vec()))),
        (true, c2),
        (true, client.message(OpCode::Data(Data::Text), b"not mqtt")),
        (
            true,
            control(
                true,
                Frame::close(Some(CloseFrame {
                    code: CloseCode::Normal,
                    reason: "bye".into(),
                })),
            ),
        ),
        (false, control(false, Frame::close(None))),
    ]
}

#[test]
fn compressed_messages_give_the_events_of_the_plain_ones_at_every_split() {
    let want = kinds(&run(&segments(&conversation(), None)).events);
    for server_reset in [false, true] {
        let msgs = compressed_conversation(server_reset);
        let r = run(&segments(&msgs, None));
        assert_eq!(kinds(&r.events), want, "server_reset {server_reset}");
        assert!(r.notices.is_empty(), "{:?}", r.notices);
        assert_eq!(r.analyzer.connections()[0].packets, 8);
        for (m, (_, bytes)) in msgs.iter().enumerate().skip(2) {
            for k in 1..bytes.len() {
                let r = run(&segments(&msgs, Some((m, k))));
                assert_eq!(kinds(&r.events), want, "message {m} split at {k}");
                assert!(r.notices.is_empty(), "{:?}", r.notices);
            }
        }
    }
}

#[test]
fn a_compressed_first_message_is_looked_at_inflated() {
    // No `mqtt` offered, not an MQTT port: the inflated CONNECT decides.
    let mut msgs = compressed_conversation(false);
    msgs[0].1 = request("");
    let r = run(&segments(&msgs, None));
    let info = &r.analyzer.connections()[0];
    assert_eq!(info.detection, Detection::Connect);
    assert_eq!(info.packets, 8);
}

#[test]
fn compression_errors_are_named_and_stop_only_their_direction() {
    let mut client = Packer::new(true, false);
    let mut server = Packer::new(false, false);
    let mut tcp = Tcp::new(8080);
    let mut segs = tcp.open();
    segs.push(tcp.send(true, &request("mqtt")));
    segs.push(tcp.send(false, &response_deflate("")));
    segs.push(tcp.send(true, &client.binary(&connect("dev"))));
    segs.push(tcp.send(false, &server.binary(&connack())));
    // RSV1 on a continuation and on a ping: noticed, the message still read.
    let p = client.packed(&publish("t", b"one"));
    segs.push(tcp.send(
        true,
        &frame_rsv1(true, OpCode::Data(Data::Binary), false, true, &p[..2]),
    ));
    segs.push(tcp.send(
        true,
        &frame_rsv1(true, OpCode::Data(Data::Continue), true, true, &p[2..]),
    ));
    let mut ping = Frame::ping(b"p".to_vec());
    ping.header_mut().rsv1 = true;
    segs.push(tcp.send(true, &control(true, ping)));
    // Bytes that do not inflate: the client's direction ends there.
    segs.push(tcp.send(
        true,
        &frame_rsv1(true, OpCode::Data(Data::Binary), true, true, &[0xff; 12]),
    ));
    segs.push(tcp.send(true, &client.binary(&publish("t", b"lost"))));
    segs.push(tcp.send(false, &server.binary(&publish("s", b"server"))));
    segs.push(tcp.fin(true));
    let r = run(&segs);
    let k = kinds(&r.events);
    let publishes: Vec<Side> = k
        .iter()
        .filter(|(_, s)| s.starts_with("PUBLISH"))
        .map(|(side, _)| *side)
        .collect();
    assert_eq!(publishes, [Side::Client, Side::Server], "{k:?}");
    // The judge is told the client's direction is not read any further.
    assert!(
        r.events
            .iter()
            .any(|e| e.from == Side::Client && matches!(e.kind, EventKind::Gap { bytes: 0 })),
        "{k:?}"
    );
    let ws: Vec<&str> = r
        .notices
        .iter()
        .filter(|n| n.kind == NoticeKind::WebSocket)
        .map(|n| n.detail.as_str())
        .collect();
    assert_eq!(ws.len(), 3, "{ws:?}");
    assert!(
        ws[0].contains("continuation frame with RSV bits 0b100 set (permessage-deflate"),
        "{ws:?}"
    );
    assert!(ws[1].contains("ping frame with RSV bits 0b100"), "{ws:?}");
    assert!(
        ws[2].contains("client: a compressed message does not inflate"),
        "{ws:?}"
    );
    assert!(
        r.notices.iter().any(|n| n.kind == NoticeKind::NotAnalysed
            && n.detail.contains("permessage-deflate cannot be followed")),
        "{:?}",
        r.notices
    );
    // Without permessage-deflate accepted, RSV1 is an error and the bytes are read as
    // they are.
    let mut tcp = Tcp::new(8080);
    let mut segs = tcp.open();
    segs.push(tcp.send(true, &request("mqtt")));
    segs.push(tcp.send(false, &response(101, Some("mqtt"))));
    segs.push(tcp.send(
        true,
        &frame_rsv1(
            true,
            OpCode::Data(Data::Binary),
            true,
            true,
            &connect("dev"),
        ),
    ));
    let r = run(&segs);
    assert!(
        kinds(&r.events)
            .iter()
            .any(|(_, s)| s.starts_with("CONNECT"))
    );
    assert!(
        r.notices.iter().any(|n| n
            .detail
            .contains("RSV bits 0b100 set and no extension negotiated")),
        "{:?}",
        r.notices
    );
}

#[test]
fn a_close_frame_answering_after_the_fin_is_not_left_unanalysed() {
    let close = |client| control(client, Frame::close(None));
    let after = |tail: Vec<u8>| {
        let mut tcp = Tcp::new(8080);
        let mut segs = tcp.open();
        segs.push(tcp.send(true, &request("mqtt")));
        segs.push(tcp.send(false, &response(101, Some("mqtt"))));
        segs.push(tcp.send(true, &binary(true, &connect("dev"))));
        segs.push(tcp.send(false, &binary(false, &connack())));
        segs.push(tcp.send(false, &close(false)));
        segs.push(tcp.fin(false));
        segs.push(tcp.send(true, &tail));
        segs.push(tcp.fin(true));
        run(&segs).notices
    };
    let notices = after(close(true));
    assert!(notices.is_empty(), "{notices:?}");
    // A ping with it is control too; a data frame is not, nor is half a Close frame.
    let pinged = [control(true, Frame::ping(b"x".to_vec())), close(true)].concat();
    assert!(after(pinged).is_empty());
    for tail in [
        binary(true, &publish("t", b"late")),
        close(true)[..3].to_vec(),
    ] {
        let notices = after(tail.clone());
        assert!(
            notices.iter().any(|n| n.detail.contains(&format!(
                "{} bytes sent after the connection was closed",
                tail.len()
            ))),
            "{notices:?}"
        );
    }
}

#[test]
fn compressed_client_messages_are_read_when_the_servers_answer_is_not() {
    let mut client = Packer::new(true, false);
    let mut request = request("mqtt");
    request.truncate(request.len() - 2);
    request.extend_from_slice(
        b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
    );
    let mut tcp = Tcp::new(8080);
    let mut segs = tcp.open();
    segs.push(tcp.send(true, &request));
    segs.push(tcp.send(true, &client.binary(&connect("dev"))));
    segs.push(tcp.send(true, &client.binary(&publish("t", b"compressed"))));
    segs.push(tcp.fin(true));
    let r = run(&segs);
    let k = kinds(&r.events);
    assert!(k.iter().any(|(_, s)| s.starts_with("CONNECT")), "{k:?}");
    assert!(k.iter().any(|(_, s)| s.starts_with("PUBLISH")), "{k:?}");
    assert!(
        r.notices.iter().all(|n| n.kind != NoticeKind::WebSocket),
        "{:?}",
        r.notices
    );
}

#[test]
fn reserved_control_frames_after_the_fin_are_still_noted() {
    let mut tcp = Tcp::new(8080);
    let mut segs = tcp.open();
    segs.push(tcp.send(true, &request("mqtt")));
    segs.push(tcp.send(false, &response(101, Some("mqtt"))));
    segs.push(tcp.send(true, &binary(true, &connect("dev"))));
    segs.push(tcp.fin(false));
    let reserved = [0x8B, 0x80, 1, 2, 3, 4];
    segs.push(tcp.send(true, &reserved));
    let notices = run(&segs).notices;
    assert!(
        notices.iter().any(|n| n
            .detail
            .contains("6 bytes sent after the connection was closed")),
        "{notices:?}"
    );
}
