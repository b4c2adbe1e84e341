//! `--replay-to`: sessions recorded against a real mosquitto, written to pcapng, replayed
//! against a fresh mosquitto (passing), a differently configured one (differences named),
//! at different speeds, and captures that cannot be replayed.
//!
//! The recordings are made by playing the client over real sockets and writing both
//! directions with [`CaptureWriter`], exactly as `--pcap-out` records a session.

use crate::support::mosquitto;

use bytes::Bytes;
use mosquitto::{Mosquitto, free_port, remove_temp_dir_of, temp_dir};
use mqtt_conform::codec::framing::Framer;
use mqtt_conform::codec::{
    Connect, Disconnect, Packet, PacketType, ProtocolVersion, PubResponse, Publish, QoS, Subscribe,
    Subscription, Unsubscribe, decode_packet, encode_to_vec,
};
use mqtt_conform::event::{Event, EventKind, Side};
use mqtt_conform::replay::{ReplayOptions, replay};
use mqtt_conform::report::pcapng::CaptureWriter;
use mqtt_conform::report::{RunReport, SuiteReport, Verdict};
use mqtt_conform::runner::connection::{Conn, Incoming};
use mqtt_conform::runner::transport::{Connector, Target, TlsOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

const V311: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;
const WAIT: Duration = Duration::from_secs(5);
/// Client B's password (mosquitto with `allow_anonymous true` ignores it): it must never
/// show in a report.
const PASSWORD: &[u8] = b"s3cr3t-pw";
/// Pause between the steps of a recorded session (gives the recording a span).
const STEP: Duration = Duration::from_millis(150);

/// One client session played against a real broker, both directions recorded as events.
struct Session {
    conn: Conn,
    id: u64,
    version: ProtocolVersion,
    start: Instant,
    events: Vec<Event>,
}

impl Session {
    async fn open(port: u16, id: u64, version: ProtocolVersion, start: Instant) -> Self {
        let target = Target::parse(&format!("mqtt://127.0.0.1:{port}"), None).unwrap();
        let connector = Connector::new(target, &TlsOptions::default(), WAIT).unwrap();
        let conn = Conn::open("rec", id, &connector, Framer::new(1 << 20), version, 60)
            .await
            .expect("the recording broker accepts connections");
        let mut s = Self {
            id,
            version,
            start,
            events: Vec::new(),
            conn,
        };
        let endpoints = s.conn.endpoints;
        s.push(Instant::now(), Side::Client, EventKind::opened(endpoints));
        s
    }

    fn push(&mut self, at: Instant, from: Side, kind: EventKind) {
        self.events.push(Event {
            conn: self.id,
            at: at.saturating_duration_since(self.start),
            from,
            kind,
        });
    }

    async fn send(&mut self, p: Packet) {
        let bytes = Bytes::from(encode_to_vec(&p, self.version).unwrap());
        // Stamped before the write: the answer may be read before the write returns.
        let at = Instant::now();
        self.conn.send(&bytes).await.expect("sent");
        self.push(
            at,
            Side::Client,
            EventKind::Packet {
                bytes,
                packet: Ok(p),
            },
        );
    }

    async fn recv(&mut self) -> Packet {
        match self.conn.next(Instant::now() + WAIT).await {
            Some(Incoming::Frame { at, bytes }) => {
                let packet = decode_packet(&bytes, self.version);
                let p = packet.clone().expect("mosquitto sends well-formed packets");
                self.push(at, Side::Server, EventKind::Packet { bytes, packet });
                p
            }
            other => panic!("expected a packet from mosquitto, got {other:?}"),
        }
    }

    /// Receives until packets of each listed type arrived, answering the server's
    /// PUBLISH, PUBREC and PUBREL as a client does.
    async fn converse(&mut self, want: &[PacketType]) {
        let mut want = want.to_vec();
        while !want.is_empty() {
            let p = self.recv().await;
            if let Some(i) = want.iter().position(|t| *t == p.packet_type()) {
                want.remove(i);
            }
            match p {
                Packet::Publish(p) if p.qos == QoS::AtLeastOnce => {
                    self.send(Packet::PubAck(PubResponse::new(p.packet_id.unwrap())))
                        .await
                }
                Packet::Publish(p) if p.qos == QoS::ExactlyOnce => {
                    self.send(Packet::PubRec(PubResponse::new(p.packet_id.unwrap())))
                        .await
                }
                Packet::PubRec(r) => {
                    self.send(Packet::PubRel(PubResponse::new(r.packet_id)))
                        .await
                }
                Packet::PubRel(r) => {
                    self.send(Packet::PubComp(PubResponse::new(r.packet_id)))
                        .await
                }
                _ => {}
            }
        }
    }

    async fn connect(&mut self, client_id: &str, keepalive: u16, password: Option<&[u8]>) {
        let mut c = Connect::new(self.version, client_id);
        c.keep_alive = keepalive;
        if let Some(pw) = password {
            c.username = Some("device".into());
            c.password = Some(Bytes::copy_from_slice(pw));
        }
        self.send(Packet::Connect(c.into())).await;
        self.converse(&[PacketType::ConnAck]).await;
    }

    async fn subscribe(&mut self, id: u16, filter: &str, qos: QoS) {
        self.send(Packet::Subscribe(Subscribe {
            packet_id: id,
            properties: Default::default(),
            subscriptions: vec![Subscription::new(filter, qos)],
        }))
        .await;
        self.converse(&[PacketType::SubAck]).await;
    }

    async fn publish(&mut self, id: u16, topic: &str, payload: &'static [u8], qos: QoS) {
        let mut p = Publish::new(topic, Bytes::from_static(payload));
        p.qos = qos;
        p.packet_id = (qos != QoS::AtMostOnce).then_some(id);
        self.send(Packet::Publish(p)).await;
        // Subscribed to its own topics: the message comes back at the same QoS.
        let want: &[PacketType] = match qos {
            QoS::AtMostOnce => &[PacketType::Publish],
            QoS::AtLeastOnce => &[PacketType::PubAck, PacketType::Publish],
            QoS::ExactlyOnce => &[
                PacketType::PubRec,
                PacketType::PubComp,
                PacketType::Publish,
                PacketType::PubRel,
            ],
        };
        self.converse(want).await;
    }

    /// DISCONNECT, then our FIN; waits for the broker's close.
    async fn disconnect(mut self) -> Vec<Event> {
        self.send(Packet::Disconnect(Disconnect::default())).await;
        self.conn.shutdown().await;
        let at = Instant::now();
        self.push(
            at,
            Side::Client,
            EventKind::Closed {
                by: Some(Side::Client),
                detail: "FIN".into(),
            },
        );
        loop {
            match self.conn.next(Instant::now() + WAIT).await {
                Some(Incoming::Closed { .. }) => break,
                Some(_) => {}
                None => panic!("mosquitto did not close after DISCONNECT"),
            }
        }
        self.events
    }

    /// Waits for the broker to close the connection.
    async fn server_closes(mut self, within: Duration) -> Vec<Event> {
        match self.conn.next(Instant::now() + within).await {
            Some(Incoming::Closed { at, .. }) => self.push(
                at,
                Side::Server,
                EventKind::Closed {
                    by: Some(Side::Server),
                    detail: "FIN".into(),
                },
            ),
            other => panic!("expected mosquitto to close, got {other:?}"),
        }
        self.events
    }
}

/// A 3.1.1 client: subscribe, publish QoS 0/1/2 to itself, ping, disconnect.
async fn client_a(port: u16, start: Instant) -> Vec<Event> {
    let mut s = Session::open(port, 1, V311, start).await;
    s.connect("replay-a", 60, None).await;
    tokio::time::sleep(STEP).await;
    s.subscribe(1, "replay/a/#", QoS::ExactlyOnce).await;
    tokio::time::sleep(STEP).await;
    s.publish(0, "replay/a/0", b"zero", QoS::AtMostOnce).await;
    tokio::time::sleep(STEP).await;
    s.publish(2, "replay/a/1", b"one", QoS::AtLeastOnce).await;
    tokio::time::sleep(STEP).await;
    s.publish(3, "replay/a/2", b"two", QoS::ExactlyOnce).await;
    tokio::time::sleep(STEP).await;
    s.send(Packet::PingReq).await;
    s.converse(&[PacketType::PingResp]).await;
    tokio::time::sleep(STEP).await;
    s.disconnect().await
}

/// A 5.0 client, starting a little later: subscribe, publish QoS 1 to itself,
/// unsubscribe, disconnect.
async fn client_b(port: u16, start: Instant) -> Vec<Event> {
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut s = Session::open(port, 2, V5, start).await;
    s.connect("replay-b", 30, Some(PASSWORD)).await;
    tokio::time::sleep(STEP).await;
    s.subscribe(1, "replay/b", QoS::AtLeastOnce).await;
    tokio::time::sleep(STEP).await;
    s.publish(2, "replay/b", b"bee", QoS::AtLeastOnce).await;
    tokio::time::sleep(STEP).await;
    s.send(Packet::Unsubscribe(Unsubscribe {
        packet_id: 3,
        properties: Default::default(),
        filters: vec!["replay/b".into()],
    }))
    .await;
    s.converse(&[PacketType::UnsubAck]).await;
    tokio::time::sleep(STEP).await;
    s.disconnect().await
}

/// Writes events (of any connections, in any order per connection time) as pcapng.
fn write_capture(path: &Path, start: SystemTime, mut events: Vec<Event>) {
    events.sort_by_key(|e| e.at);
    let mut w = CaptureWriter::create(path, start).unwrap();
    for e in &events {
        w.event(e).unwrap();
    }
    w.finish().unwrap();
}

/// Records clients A and B against a real mosquitto; the capture file and its span.
async fn record_ab(tag: &str) -> (PathBuf, Duration, Vec<Event>) {
    let broker = Mosquitto::start(&format!("{tag}-rec"), "allow_anonymous true");
    let start = Instant::now();
    let wall = SystemTime::now();
    let (a, b) = tokio::join!(client_a(broker.port, start), client_b(broker.port, start));
    let mut events = a;
    events.extend(b);
    let span = span_of(&events);
    let path = temp_dir(tag).join("session.pcapng");
    write_capture(&path, wall, events.clone());
    (path, span, events)
}

fn span_of(events: &[Event]) -> Duration {
    let first = events.iter().map(|e| e.at).min().unwrap_or_default();
    let last = events.iter().map(|e| e.at).max().unwrap_or_default();
    last - first
}

fn options(path: &Path, url: &str, speed: f64) -> ReplayOptions {
    let mut o = ReplayOptions::new(vec![path.to_path_buf()], Target::parse(url, None).unwrap());
    o.speed = speed;
    o.response_window = Duration::from_secs(2);
    o
}

fn case<'a>(group: &'a SuiteReport, id: &str) -> &'a Verdict {
    &group
        .cases
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("{}: no case {id}", group.name))
        .verdict
}

fn group<'a>(report: &'a RunReport, client_id: &str) -> &'a SuiteReport {
    report
        .suites
        .iter()
        .find(|s| s.name.starts_with(&format!("{client_id} (")))
        .unwrap_or_else(|| panic!("no group for {client_id}: {:#?}", names(report)))
}

fn names(report: &RunReport) -> Vec<&str> {
    report.suites.iter().map(|s| s.name.as_str()).collect()
}

fn show(report: &RunReport) {
    for s in &report.suites {
        for c in &s.cases {
            eprintln!(
                "{} / {}: {} {} | {}",
                s.name,
                c.id,
                c.verdict.label(),
                c.verdict.message().unwrap_or(""),
                c.measured.as_deref().unwrap_or("")
            );
        }
    }
}

fn assert_all_pass(report: &RunReport) {
    show(report);
    assert!(!report.suites.is_empty());
    for s in &report.suites {
        for c in &s.cases {
            assert_eq!(
                c.verdict,
                Verdict::Passed,
                "{} / {}: {:?}",
                s.name,
                c.id,
                c.measured
            );
        }
    }
}

/// Shifts every identifier the recorded server chose (its PUBLISH and PUBREL, and the
/// client's PUBACK / PUBREC / PUBCOMP answering them) by `by`: a recording from a server
/// that numbers its messages differently from the live one.
fn shift_server_ids(events: &[Event], by: u16) -> Vec<Event> {
    events
        .iter()
        .map(|e| {
            let EventKind::Packet {
                packet: Ok(p),
                bytes,
            } = &e.kind
            else {
                return e.clone();
            };
            let version = if e.conn == 2 { V5 } else { V311 };
            let mut p = p.clone();
            let shifted = match (&mut p, e.from) {
                (Packet::Publish(x), Side::Server) => match x.packet_id.as_mut() {
                    Some(id) => {
                        *id += by;
                        true
                    }
                    None => false,
                },
                (Packet::PubRel(r), Side::Server)
                | (Packet::PubAck(r), Side::Client)
                | (Packet::PubRec(r), Side::Client)
                | (Packet::PubComp(r), Side::Client) => {
                    r.packet_id += by;
                    true
                }
                _ => false,
            };
            if !shifted {
                return Event {
                    kind: EventKind::Packet {
                        bytes: bytes.clone(),
                        packet: Ok(p),
                    },
                    ..e.clone()
                };
            }
            Event {
                kind: EventKind::Packet {
                    bytes: Bytes::from(encode_to_vec(&p, version).unwrap()),
                    packet: Ok(p),
                },
                ..e.clone()
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_recorded_session_replayed_to_a_fresh_mosquitto_passes() {
    let (path, _, events) = record_ab("replay-pass").await;
    let fresh = Mosquitto::start("replay-pass-live", "allow_anonymous true");
    let report = replay(&options(&path, &fresh.url(), 0.0)).await.unwrap();
    assert_eq!(report.suites.len(), 2, "{:?}", names(&report));
    assert_all_pass(&report);
    let a = group(&report, "replay-a");
    assert!(a.name.contains(" → 127.0.0.1:"), "{}", a.name);
    let measured = a.cases[0].measured.as_deref().unwrap();
    // Server: CONNACK, SUBACK, PUBLISH, PUBACK + PUBLISH, PUBREC + PUBCOMP + PUBLISH +
    // PUBREL, PINGRESP. Client: CONNECT, SUBSCRIBE, 3 PUBLISH, PUBACK, PUBREL, PUBREC,
    // PUBCOMP, PINGREQ, DISCONNECT.
    assert!(
        measured.starts_with(
            "10/10 recorded server packets matched, live sent 10; 11/11 client packets sent"
        ),
        "{measured}"
    );
    assert!(measured.contains("response delay median"), "{measured}");
    // The replayed CONNECT carried the recorded password; no report shows it.
    let json = serde_json::to_string(&report).unwrap();
    let hex: Vec<String> = PASSWORD.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!json.contains("s3cr3t"), "{json}");
    assert!(!json.contains(&hex.join(" ")), "{json}");
    assert!(json.contains("password=***"), "{json}");
    let props: Vec<&str> = a.properties.iter().map(|(k, _)| k.as_str()).collect();
    for key in ["recorded", "live", "protocol", "mode", "target", "speed"] {
        assert!(props.contains(&key), "{props:?}");
    }

    // A recording whose server numbered its messages from 101: the client's acks are
    // re-sent with the live server's identifiers, and the server's PUBREL is matched
    // through them (else mosquitto would never send it and the replay would fail).
    let shifted = temp_dir("replay-ids").join("shifted.pcapng");
    write_capture(&shifted, SystemTime::now(), shift_server_ids(&events, 100));
    let fresh = Mosquitto::start("replay-ids-live", "allow_anonymous true");
    let report = replay(&options(&shifted, &fresh.url(), 0.0)).await.unwrap();
    assert_all_pass(&report);
    let trace = &group(&report, "replay-a").cases[0].trace;
    let acks: Vec<&str> = trace
        .iter()
        .filter(|l| l.direction == "→")
        .map(|l| l.text.as_str())
        .filter(|t| t.starts_with("PUBACK") || t.starts_with("PUBREC") || t.starts_with("PUBCOMP"))
        .collect();
    assert_eq!(acks.len(), 3, "{trace:#?}");
    for a in acks {
        assert!(
            !a.contains("packet_id=10"),
            "a recorded identifier was re-sent: {a}"
        );
    }
    remove_temp_dir_of(&path);
    remove_temp_dir_of(&shifted);
}

/// A target that accepts one connection, answers its CONNECT with CONNACK 0 and then
/// keeps the connection open until the client closes it (at most 30 s).
async fn never_closing_target() -> (u16, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let Ok(Ok((mut socket, _))) =
            tokio::time::timeout(Duration::from_secs(30), listener.accept()).await
        else {
            return;
        };
        let mut buf = [0u8; 256];
        if !matches!(
            tokio::time::timeout(WAIT, socket.read(&mut buf)).await,
            Ok(Ok(n)) if n > 0
        ) {
            return;
        }
        let _ = socket.write_all(&[0x20, 0x02, 0x00, 0x00]).await;
        let _ = tokio::time::timeout(Duration::from_secs(30), async {
            while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
        })
        .await;
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_close_is_compared_with_its_timing() {
    let broker = Mosquitto::start("replay-ka-rec", "allow_anonymous true");
    let start = Instant::now();
    let wall = SystemTime::now();
    let mut s = Session::open(broker.port, 1, V311, start).await;
    s.connect("replay-ka", 1, None).await;
    // Silent: mosquitto closes after 1.5 × the keep-alive, checked every few seconds
    // (2.0.11 closes a 1 s keep-alive after 1.5–6.5 s).
    let events = s.server_closes(Duration::from_secs(10)).await;
    let path = temp_dir("replay-ka").join("ka.pcapng");
    write_capture(&path, wall, events);

    // A window wider than mosquitto's timer granularity: the close times compare.
    let fresh = Mosquitto::start("replay-ka-live", "allow_anonymous true");
    let mut opts = options(&path, &fresh.url(), 0.0);
    opts.response_window = Duration::from_secs(6);
    let report = replay(&opts).await.unwrap();
    assert_all_pass(&report);
    let g = group(&report, "replay-ka");
    let close = g.cases[1].measured.as_deref().unwrap();
    assert!(
        close.starts_with("recorded: the server closed the connection (FIN) "),
        "{close}"
    );
    assert!(
        close.contains("live: the server closed the connection (EOF)"),
        "{close}"
    );

    // A target that never closes the connection.
    let (port, target) = never_closing_target().await;
    let report = replay(&options(&path, &format!("mqtt://127.0.0.1:{port}"), 0.0))
        .await
        .unwrap();
    show(&report);
    let g = group(&report, "replay-ka");
    assert_eq!(case(g, "REPLAY-RESPONSES"), &Verdict::Passed);
    let Verdict::Failed { message } = case(g, "REPLAY-CLOSE") else {
        panic!("{:?}", g.cases[1]);
    };
    assert!(
        message.contains("the live server did not close within"),
        "{message}"
    );
    let _ = target.await;
    remove_temp_dir_of(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn differences_are_failures_naming_the_packet_and_both_values() {
    let (path, _, _) = record_ab("replay-diff").await;

    // No anonymous clients: both CONNECTs are refused.
    let refusing = Mosquitto::start("replay-diff-auth", "allow_anonymous false");
    let report = replay(&options(&path, &refusing.url(), 0.0)).await.unwrap();
    show(&report);
    let a = group(&report, "replay-a");
    let Verdict::Failed { message } = case(a, "REPLAY-RESPONSES") else {
        panic!("{:?}", a.cases);
    };
    assert!(
        message.starts_with(
            "recorded CONNACK 0x00 (Connection Accepted), live CONNACK 0x05 (Connection Refused, not authorized) at server packet 1"
        ),
        "{message}"
    );
    assert!(
        message.contains("where the recording has SUBACK 1 [0x02] (server packet 2) and 8 more recorded server packet(s) after it"),
        "{message}"
    );
    let Verdict::Failed { message } = case(a, "REPLAY-CLOSE") else {
        panic!("{:?}", a.cases);
    };
    assert!(
        message.contains("recorded: the client sent DISCONNECT"),
        "{message}"
    );
    assert!(message.contains("before the client's packet "), "{message}");
    let b = group(&report, "replay-b");
    let Verdict::Failed { message } = case(b, "REPLAY-RESPONSES") else {
        panic!("{:?}", b.cases);
    };
    assert!(
        message.starts_with("recorded CONNACK 0x00 (Success), live CONNACK 0x87 (Not authorized)"),
        "{message}"
    );

    // QoS capped at 1: the QoS 2 subscription is granted QoS 1, and what follows differs.
    let capped = Mosquitto::start("replay-diff-qos", "allow_anonymous true\nmax_qos 1");
    let report = replay(&options(&path, &capped.url(), 0.0)).await.unwrap();
    show(&report);
    let a = group(&report, "replay-a");
    let Verdict::Failed { message } = case(a, "REPLAY-RESPONSES") else {
        panic!("{:?}", a.cases);
    };
    assert!(
        message.contains("recorded SUBACK [0x02 (Success - Maximum QoS 2)], live [0x01 (Success - Maximum QoS 1)] at server packet 2"),
        "{message}"
    );
    // The 5.0 client used QoS 1 only: it passes.
    let b = group(&report, "replay-b");
    assert_eq!(case(b, "REPLAY-RESPONSES"), &Verdict::Passed);
    remove_temp_dir_of(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn speed_zero_is_fast_and_speed_one_keeps_the_recorded_spacing() {
    let (path, span, _) = record_ab("replay-speed").await;
    assert!(span >= Duration::from_millis(700), "recorded span {span:?}");
    let live = Mosquitto::start("replay-speed-live", "allow_anonymous true");

    let t = std::time::Instant::now();
    let fast = replay(&options(&path, &live.url(), 0.0)).await.unwrap();
    let fast_took = t.elapsed();
    assert_all_pass(&fast);

    let t = std::time::Instant::now();
    let real = replay(&options(&path, &live.url(), 1.0)).await.unwrap();
    let real_took = t.elapsed();
    assert_all_pass(&real);

    eprintln!("recorded span {span:?}; speed 0 took {fast_took:?}; speed 1 took {real_took:?}");
    // Speed 0 leaves out the recorded pauses: what load adds to both runs cancels out.
    assert!(
        real_took.saturating_sub(fast_took) >= span / 2,
        "speed 0 took {fast_took:?}, speed 1 {real_took:?}, for a {span:?} recording"
    );
    assert!(
        real_took >= span.mul_f64(0.8),
        "speed 1 took {real_took:?} for a {span:?} recording"
    );
    let measured = real.suites[0].cases[0].measured.as_deref().unwrap();
    assert!(measured.contains("speed 1×"), "{measured}");
    remove_temp_dir_of(&path);
}

/// A pcapng file without its first `skip` packet blocks (as if the capture had started
/// later).
fn drop_first_packets(file: &[u8], skip: u64) -> Vec<u8> {
    let le = file.get(8..12) == Some(&0x1A2B_3C4Du32.to_le_bytes()[..]);
    let word = |b: &[u8]| {
        let b = [b[0], b[1], b[2], b[3]];
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let mut out = Vec::new();
    let mut i = 0;
    let mut packets = 0;
    while i + 8 <= file.len() {
        let ty = word(&file[i..]);
        let len = word(&file[i + 4..]) as usize;
        let block = &file[i..i + len];
        i += len;
        if ty == 6 {
            packets += 1;
            if packets <= skip {
                continue;
            }
        }
        out.extend_from_slice(block);
    }
    out
}

fn packet_event(conn: u64, ms: u64, from: Side, p: Packet, v: ProtocolVersion) -> Event {
    let bytes = Bytes::from(encode_to_vec(&p, v).unwrap());
    Event {
        conn,
        at: Duration::from_millis(ms),
        from,
        kind: EventKind::Packet {
            bytes,
            packet: Ok(p),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_that_cannot_be_replayed_are_inconclusive() {
    use mqtt_conform::codec::{ConnAck, SubAck};
    let subscribe = || {
        Packet::Subscribe(Subscribe {
            packet_id: 1,
            properties: Default::default(),
            subscriptions: vec![Subscription::new("x", QoS::AtMostOnce)],
        })
    };
    let suback = || {
        Packet::SubAck(SubAck {
            packet_id: 1,
            properties: Default::default(),
            return_codes: vec![0],
        })
    };
    let opened = |conn: u64, ms: u64| Event {
        conn,
        at: Duration::from_millis(ms),
        from: Side::Client,
        kind: EventKind::opened(None),
    };
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut w = CaptureWriter::new(Vec::new(), start).unwrap();
    // Connection 1: its start (handshake, CONNECT, CONNACK) is cut off below.
    w.event(&opened(1, 0)).unwrap();
    w.event(&packet_event(
        1,
        1,
        Side::Client,
        Packet::Connect(Connect::new(V311, "midway").into()),
        V311,
    ))
    .unwrap();
    w.event(&packet_event(
        1,
        2,
        Side::Server,
        Packet::ConnAck(ConnAck {
            session_present: false,
            code: 0,
            properties: Default::default(),
        }),
        V311,
    ))
    .unwrap();
    let cut = w.frames_written();
    for e in [
        packet_event(1, 100, Side::Client, subscribe(), V311),
        packet_event(1, 101, Side::Server, suback(), V311),
        packet_event(1, 200, Side::Client, Packet::PingReq, V311),
        packet_event(1, 201, Side::Server, Packet::PingResp, V311),
        // Connection 2: complete, but its client starts with SUBSCRIBE.
        opened(2, 300),
        packet_event(2, 301, Side::Client, subscribe(), V311),
        packet_event(2, 302, Side::Server, suback(), V311),
        // Connection 3: TLS.
        opened(3, 400),
    ] {
        w.event(&e).unwrap();
    }
    let hello = Bytes::from_static(&[0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00]);
    let not_mqtt = decode_packet(&hello, V311);
    assert!(not_mqtt.is_err());
    w.event(&Event {
        conn: 3,
        at: Duration::from_millis(401),
        from: Side::Client,
        kind: EventKind::Packet {
            bytes: hello,
            packet: not_mqtt,
        },
    })
    .unwrap();
    let file = w.finish().unwrap();
    let path = temp_dir("replay-inconclusive").join("partial.pcapng");
    std::fs::write(&path, drop_first_packets(&file, cut)).unwrap();

    let live = Mosquitto::start("replay-inconclusive-live", "allow_anonymous true");
    let report = replay(&options(&path, &live.url(), 0.0)).await.unwrap();
    show(&report);
    let inconclusive = |name_part: &str, text: &str| {
        let g = report
            .suites
            .iter()
            .find(|s| s.name.contains(name_part))
            .unwrap_or_else(|| panic!("no group {name_part}: {:?}", names(&report)));
        for c in &g.cases {
            let Verdict::Inconclusive { message } = &c.verdict else {
                panic!("{}: {:?}", g.name, c.verdict);
            };
            assert!(message.contains(text), "{message}");
        }
    };
    inconclusive(
        "connection 1 (",
        "the capture starts in the middle of this connection (its first client packet is SUBSCRIBE): without its CONNECT it cannot be replayed",
    );
    inconclusive(
        "connection 2 (",
        "the client's first packet in the capture is SUBSCRIBE, not a CONNECT",
    );
    inconclusive("(TLS ", "the connection is TLS");
    assert!(!report.failed());
    remove_temp_dir_of(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_target_is_an_error() {
    let (path, _, _) = record_ab("replay-unreachable").await;
    let port = free_port();
    let url = format!("mqtt://127.0.0.1:{port}");
    let err = replay(&options(&path, &url, 0.0)).await.unwrap_err();
    assert!(
        err.starts_with(&format!("cannot replay to {url}: cannot connect to {url}")),
        "{err}"
    );

    let mut bad = options(&path, &url, 0.0);
    bad.speed = -1.0;
    let err = replay(&bad).await.unwrap_err();
    assert!(err.contains("not a number ≥ 0"), "{err}");
    remove_temp_dir_of(&path);
}

/// The command line end to end: a broker run against mosquitto writes `--capture`, and
/// `--pcap … --replay-to` sends those recorded sessions to a second mosquitto, which
/// answers them the same way.
#[test]
fn the_command_line_records_a_run_and_replays_it_to_another_broker() {
    let first = Mosquitto::start("replay-cli-a", "allow_anonymous true");
    let second = Mosquitto::start("replay-cli-b", "allow_anonymous true");
    let dir = temp_dir("replay-cli");
    let capture = dir.join("run.pcapng");
    let bin = env!("CARGO_BIN_EXE_mqtt-conform");
    let recorded = std::process::Command::new(bin)
        .args([
            "--suite",
            "mqtt-3.1.1",
            "--target",
            &first.url(),
            "--capture",
        ])
        .arg(&capture)
        .args(["--report-junit"])
        .arg(dir.join("run.xml"))
        // Single-connection tests: across connections, replay timing may legitimately
        // reorder deliveries, which would be reported as differences.
        .args(["--exact", "MQTT311-SUB-01", "MQTT311-SUB-02"])
        .output()
        .expect("binary runs");
    assert_eq!(recorded.status.code(), Some(0), "{recorded:?}");
    let replayed = std::process::Command::new(bin)
        .args(["--suite", "mqtt-3.1.1", "--pcap"])
        .arg(&capture)
        .args(["--replay-to", &second.url(), "--report-json"])
        .arg(dir.join("replay.json"))
        .args(["--report-junit"])
        .arg(dir.join("replay.xml"))
        .output()
        .expect("binary runs");
    let json = std::fs::read_to_string(dir.join("replay.json")).expect("JSON report");
    assert_eq!(replayed.status.code(), Some(0), "{json}");
    let doc: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let cases: Vec<&serde_json::Value> = doc["suites"]
        .as_array()
        .expect("suites")
        .iter()
        .flat_map(|s| s["cases"].as_array().expect("cases"))
        .collect();
    let responses = cases
        .iter()
        .filter(|c| c["id"] == "REPLAY-RESPONSES")
        .count();
    assert!(responses >= 2, "one replayed connection per test: {json}");
    assert!(
        cases.iter().all(|c| c["verdict"]["status"] == "passed"),
        "{json}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
