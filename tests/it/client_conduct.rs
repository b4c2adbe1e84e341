//! The client's conduct: for each `conduct` rule of the mqtt-3.1.1 and mqtt-5 suites, a
//! raw client that breaks exactly that statement is flagged with exactly that rule (a
//! behaviour that breaks two statements at once, e.g. an acknowledgement never sent, is
//! flagged with both), and a raw device that keeps every duty is flagged with none.
//!
//! Most cases play against device mode (`--listen`). Those that need a server our device
//! server is not — a CONNACK with a Maximum QoS, Retain Available 0, a small Maximum
//! Packet Size or Receive Maximum, no Topic Alias Maximum, Session Present 1 to a clean
//! client, a reason code of 0x80 or above, an AUTH — play a raw client against a raw
//! server through the recording relay, and the capture is judged with `--pcap`. The
//! WebSocket rules play a raw WebSocket client against device mode listening on `ws://`.

use crate::support::capture_cli::judge_capture;
use crate::support::cloud::{Cloud, id_and_status};
use crate::support::raw_device::{RawDevice, failed};
use crate::support::relay::Relay;
use mqtt_conform::codec::{
    Auth, ConnAck, Connect, Disconnect, Packet, Properties, PropertyId, PropertyValue,
    ProtocolVersion, PubResponse, Publish, QoS, RawBuilder,
};
use mqtt_conform::conduct::{ACK_WINDOW, CLOSE_WINDOW, CONNACK_GRACE};
use mqtt_conform::suite;
use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const V311: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;

/// How many cases run at once (each starts device mode or capture mode as a process).
const PARALLEL_CASES: usize = 6;

/// How long a connection stays open past a missing packet's window, so its absence counts.
const PAST_ACK_WINDOW: Duration = Duration::from_millis(ACK_WINDOW.as_millis() as u64 + 500);

fn suite_of(version: ProtocolVersion) -> &'static str {
    if version.is_v5() {
        "mqtt-5"
    } else {
        "mqtt-3.1.1"
    }
}

/// Runs device mode for `version`'s baseline suite with `extra` flags, lets `device` play
/// its connections (`connections` of them), and returns the failed rules.
fn flagged_after(
    version: ProtocolVersion,
    tag: &str,
    connections: usize,
    extra: &[&str],
    device: impl FnOnce(&Cloud),
) -> Vec<String> {
    let cloud = Cloud::start_suite_for(
        suite_of(version),
        tag,
        connections,
        Duration::from_secs(40),
        extra,
    );
    device(&cloud);
    let (verdicts, console) = cloud.verdicts_and_console();
    let flagged = failed(&verdicts);
    assert_closes_agree(version, &console, &flagged);
    flagged
}

/// The server and the judge agree: every client statement a close of the server's cites
/// is a rule the judge failed.
fn assert_closes_agree(version: ProtocolVersion, console: &[String], flagged: &[String]) {
    let rules = conduct_rules(suite_of(version));
    for line in console
        .iter()
        .filter(|l| l.contains("closed by the cloud ("))
    {
        for cited in line.split('[').skip(1).filter_map(|t| t.split(']').next()) {
            assert!(
                !rules.contains(cited) || flagged.iter().any(|f| f == cited),
                "the server closed citing {cited}, which the judge did not fail ({flagged:?}): {line}"
            );
        }
    }
}

/// Device mode for `version` listening on `ws://…/mqtt`; `device` plays one raw WebSocket
/// connection to the port. Returns the failed rules (DEVICE-LOGIN left out: a device
/// refused at the handshake never logs in).
fn flagged_over_websocket(
    version: ProtocolVersion,
    device: fn(u16, ProtocolVersion),
) -> Vec<String> {
    let cloud = Cloud::start_listening(
        suite_of(version),
        "ws-conduct",
        "ws://127.0.0.1:0/mqtt",
        1,
        Duration::from_secs(4),
        &[],
    );
    device(cloud.port, version);
    let (verdicts, console) = cloud.verdicts_and_console();
    let verdicts: Vec<(String, String)> = verdicts
        .into_iter()
        .filter(|(id, _)| id != "DEVICE-LOGIN")
        .collect();
    let flagged = failed(&verdicts);
    assert_closes_agree(version, &console, &flagged);
    flagged
}

/// A sync WebSocket client to device mode's `ws://127.0.0.1:port/mqtt`, offering
/// `subprotocols` (none: no header): the socket, or the handshake's error.
fn websocket_client(
    port: u16,
    subprotocols: Option<&str>,
) -> Result<
    tokio_tungstenite::tungstenite::WebSocket<std::net::TcpStream>,
    tokio_tungstenite::tungstenite::Error,
> {
    use tokio_tungstenite::tungstenite;
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connects");
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout set");
    let mut request = tungstenite::client::IntoClientRequest::into_client_request(format!(
        "ws://127.0.0.1:{port}/mqtt"
    ))
    .expect("request");
    if let Some(p) = subprotocols {
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", p.parse().expect("header"));
    }
    tungstenite::client(request, tcp)
        .map(|(ws, _)| ws)
        .map_err(|e| match e {
            tungstenite::HandshakeError::Failure(e) => e,
            tungstenite::HandshakeError::Interrupted(_) => {
                tungstenite::Error::Io(std::io::ErrorKind::WouldBlock.into())
            }
        })
}

/// Device mode for `version`; a connection that sends `bytes` as its first packet and
/// closes. A device that never logs in does not count as one: the run ends on its
/// (short) duration. DEVICE-LOGIN, which fails when no device logged in, is no rule of
/// the client's conduct and is left out.
fn flagged_first_bytes(version: ProtocolVersion, bytes: &[u8]) -> Vec<String> {
    let cloud = Cloud::start_suite_for(
        suite_of(version),
        "first-bytes",
        1,
        Duration::from_secs(3),
        &[],
    );
    let mut d = RawDevice::open(&cloud, version);
    d.send_bytes(bytes);
    d.close();
    let run = cloud.finish();
    assert!(
        matches!(run.exit_code, Some(0) | Some(1)),
        "device mode exited with {:?}",
        run.exit_code
    );
    let verdicts: Vec<(String, String)> = run
        .groups
        .iter()
        .flat_map(|(_, cases)| cases)
        .map(id_and_status)
        .filter(|(id, _)| id != "DEVICE-LOGIN")
        .collect();
    failed(&verdicts)
}

/// A fresh path for one capture.
fn capture_path() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "mqtt-conform-conduct-{}-{}.pcapng",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// A raw client and a raw server of `version` talking through the recording relay over
/// `connections` connections, one after the other: on connection `k` (from 0), `server`
/// plays the server's side, then reads until the client closes; `client` plays the
/// client's side, then closes. The capture is judged with `--pcap`; returns the failed
/// rules.
fn flagged_in_capture(
    version: ProtocolVersion,
    connections: usize,
    server: fn(&mut RawDevice, usize),
    client: fn(&mut RawDevice, usize),
) -> Vec<String> {
    let report = captured_report(version, connections, server, client);
    let verdicts: Vec<(String, String)> = report["suites"]
        .as_array()
        .expect("suites")
        .iter()
        .flat_map(|s| s["cases"].as_array().cloned().unwrap_or_default())
        .map(|c| id_and_status(&c))
        .collect();
    let mut flagged = failed(&verdicts);
    flagged.dedup();
    flagged
}

/// The relay that recorded a raw `client` and a raw `server` of `version` over
/// `connections` connections, one after the other (as [`flagged_in_capture`] plays them),
/// once every connection closed.
fn relayed(
    version: ProtocolVersion,
    connections: usize,
    server: fn(&mut RawDevice, usize),
    client: fn(&mut RawDevice, usize),
) -> Relay {
    let listener = TcpListener::bind("127.0.0.1:0").expect("the raw server listens");
    listener.set_nonblocking(true).unwrap();
    let relay = Relay::start(listener.local_addr().unwrap());
    let server_side = std::thread::spawn(move || {
        for k in 0..connections {
            let deadline = Instant::now() + Duration::from_secs(10);
            let stream = loop {
                match listener.accept() {
                    Ok((stream, _)) => break stream,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        assert!(Instant::now() < deadline, "the relay never connected");
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            };
            stream.set_nonblocking(false).unwrap();
            let mut peer = RawDevice::over(stream, version);
            server(&mut peer, k);
            assert!(
                peer.read_until_closed(ACK_WINDOW * 3),
                "the client never closed"
            );
        }
    });
    for k in 0..connections {
        let mut d = RawDevice::connect_to(relay.addr(), version);
        client(&mut d, k);
        d.close();
    }
    server_side.join().expect("the raw server played its part");
    relay.wait_closed(connections as u64, Duration::from_secs(10));
    relay
}

/// `connections` conversations of a raw client and a raw server through the recording
/// relay ([`relayed`]), the capture judged offline: the JSON report.
fn captured_report(
    version: ProtocolVersion,
    connections: usize,
    server: fn(&mut RawDevice, usize),
    client: fn(&mut RawDevice, usize),
) -> serde_json::Value {
    let relay = relayed(version, connections, server, client);
    let path = capture_path();
    relay.write_pcapng(&path, 1883);
    let report = judge_capture(suite_of(version), &[&path], &[], &[]);
    let _ = std::fs::remove_file(&path);
    report
}

fn ids(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------
// What a client sends.

/// A CONNECT of `version` for `client_id` with Keep Alive 60 s.
fn connect(
    version: ProtocolVersion,
    client_id: &str,
    clean: bool,
    properties: Properties,
) -> Packet {
    let mut c = Connect::new(version, client_id);
    c.clean_session = clean;
    c.keep_alive = 60;
    c.properties = properties;
    Packet::Connect(Box::new(c))
}

/// A CONNECT with a given flags byte, built raw (`will`: a Will topic and message follow
/// the client id; `password`: a password follows).
fn raw_connect(
    version: ProtocolVersion,
    flags: u8,
    client_id: &str,
    will: bool,
    password: bool,
) -> Vec<u8> {
    let mut b = RawBuilder::new(0x10).string("MQTT");
    b = if version.is_v5() {
        b.byte(5)
    } else {
        b.byte(4)
    };
    b = b.byte(flags).u16(60);
    if version.is_v5() {
        b = b.byte(0);
    }
    b = b.string(client_id);
    if will {
        if version.is_v5() {
            b = b.byte(0);
        }
        b = b.string("will/t").field(b"bye");
    }
    if password {
        b = b.field(b"pw");
    }
    b.build()
}

/// A PUBLISH of `version` built raw: `first` byte, topic bytes, `props` (5.0: the
/// property bytes, their length computed), payload "x".
fn raw_publish(
    version: ProtocolVersion,
    first: u8,
    topic: &[u8],
    pid: Option<u16>,
    props: &[u8],
) -> Vec<u8> {
    let mut b = RawBuilder::new(first).field(topic);
    if let Some(pid) = pid {
        b = b.u16(pid);
    }
    if version.is_v5() {
        b = b.varint(props.len() as u32).bytes(props);
    }
    b.bytes(b"x").build()
}

/// A SUBSCRIBE built raw: `first` byte, packet id, one filter with options `options`
/// (`None`: an empty payload).
fn raw_subscribe(
    version: ProtocolVersion,
    first: u8,
    pid: u16,
    filter: Option<&str>,
    options: u8,
) -> Vec<u8> {
    let mut b = RawBuilder::new(first).u16(pid);
    if version.is_v5() {
        b = b.byte(0);
    }
    if let Some(f) = filter {
        b = b.string(f).byte(options);
    }
    b.build()
}

/// An UNSUBSCRIBE built raw (`None`: an empty payload).
fn raw_unsubscribe(version: ProtocolVersion, first: u8, filter: Option<&str>) -> Vec<u8> {
    let mut b = RawBuilder::new(first).u16(1);
    if version.is_v5() {
        b = b.byte(0);
    }
    if let Some(f) = filter {
        b = b.string(f);
    }
    b.build()
}

/// Bytes that are no well-formed UTF-8 ("a", then a lead byte without its continuation).
const ILL_FORMED: &[u8] = &[b'a', 0xC3, 0x28];

/// A CONNECT of `version` built raw: the `flags` byte, then `payload` as it is.
fn raw_connect_payload(version: ProtocolVersion, flags: u8, payload: &[u8]) -> Vec<u8> {
    let level = if version.is_v5() { 5 } else { 4 };
    let mut b = RawBuilder::new(0x10)
        .string("MQTT")
        .byte(level)
        .byte(flags)
        .u16(60);
    if version.is_v5() {
        b = b.byte(0);
    }
    b.bytes(payload).build()
}

/// Fields as a payload carries them, each after its two-byte length; `will_properties`
/// (5.0: an empty Will Properties) goes after the first, the client id.
fn payload(fields: &[&[u8]], will_properties: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        out.extend_from_slice(&(f.len() as u16).to_be_bytes());
        out.extend_from_slice(f);
        if i == 0 && will_properties {
            out.push(0);
        }
    }
    out
}

fn publish(topic: &str, qos: QoS, pid: Option<u16>, dup: bool, properties: Properties) -> Packet {
    let mut p = Publish::new(topic.to_owned(), b"x".to_vec());
    p.qos = qos;
    p.packet_id = pid;
    p.dup = dup;
    p.properties = properties;
    Packet::Publish(p)
}

fn auth(reason_code: u8, method: &str) -> Packet {
    Packet::Auth(Auth {
        reason_code,
        properties: Properties::new().with(
            PropertyId::AuthenticationMethod,
            PropertyValue::String(method.to_owned().into()),
        ),
    })
}

fn disconnect() -> Packet {
    Packet::Disconnect(Disconnect::default())
}

/// 5.0: a session that outlives the connection.
fn session_expiry() -> Properties {
    Properties::new().with(
        PropertyId::SessionExpiryInterval,
        PropertyValue::FourByteInteger(300),
    )
}

// ---------------------------------------------------------------------------------------
// Device-mode plays.

fn login(cloud: &Cloud, version: ProtocolVersion) -> RawDevice {
    RawDevice::login(cloud, version, "raw", true, Properties::new()).0
}

/// Logs in with a session that persists (3.1.1 Clean Session 0; 5.0 Clean Start 0 and a
/// Session Expiry Interval); returns whether the CONNACK said Session Present.
fn login_persistent(cloud: &Cloud, version: ProtocolVersion) -> (RawDevice, bool) {
    let props = if version.is_v5() {
        session_expiry()
    } else {
        Properties::new()
    };
    let (d, ack) = RawDevice::login(cloud, version, "raw", false, props);
    (d, ack.session_present)
}

/// The first connection of a persistent session leaves QoS 1 packet ids 1 (`r/1`) and 2
/// (`r/2`) unacknowledged (device mode runs with `--withhold-puback`); the second
/// connection resumes it and is returned.
fn resumed_with_two_in_flight(cloud: &Cloud, version: ProtocolVersion) -> RawDevice {
    let (mut first, _) = login_persistent(cloud, version);
    first.publish("r/1", "one", QoS::AtLeastOnce, Some(1), false);
    first.publish("r/2", "two", QoS::AtLeastOnce, Some(2), false);
    first.close();
    let (again, present) = login_persistent(cloud, version);
    assert!(present, "the session resumes");
    again
}

/// Has device mode deliver a QoS 2 message on `topic` to the device, completing the
/// device's own QoS 2 PUBLISH (id 1) that carries it; returns the delivery.
fn qos2_delivery(d: &mut RawDevice, topic: &str) -> Publish {
    d.subscribe(1, topic, QoS::ExactlyOnce);
    d.publish(topic, "x", QoS::ExactlyOnce, Some(1), false);
    let (mut delivery, mut completed) = (None, false);
    while delivery.is_none() || !completed {
        match d.recv() {
            Some(Packet::PubRec(r)) if r.packet_id == 1 => d.ack(1, Packet::PubRel),
            Some(Packet::PubComp(r)) if r.packet_id == 1 => completed = true,
            Some(Packet::Publish(p)) => delivery = Some(p),
            Some(_) => {}
            None => panic!("the cloud closed or went silent before the QoS 2 delivery"),
        }
    }
    delivery.expect("delivered")
}

// ---------------------------------------------------------------------------------------
// Raw-server plays (capture mode).

/// Reads the client's CONNECT and answers with a CONNACK of `code`, `session_present` and
/// `properties`.
fn answer_connect(peer: &mut RawDevice, code: u8, session_present: bool, properties: Properties) {
    peer.recv_until("the CONNECT", |p| matches!(p, Packet::Connect(_)));
    peer.send(&Packet::ConnAck(ConnAck {
        session_present,
        code,
        properties,
    }));
}

fn connack_with(id: PropertyId, value: PropertyValue) -> Properties {
    Properties::new().with(id, value)
}

/// A 5.0 client logging in clean, waiting for its CONNACK.
fn client_login(d: &mut RawDevice) {
    d.send(&connect(V5, "raw", true, Properties::new()));
    d.recv_until("the CONNACK", |p| matches!(p, Packet::ConnAck(_)));
    // Held to the CONNACK's limits only once it could have read it.
    std::thread::sleep(CONNACK_GRACE);
}

/// A 5.0 CONNECT naming Authentication Method "m".
fn connect_authenticating() -> Packet {
    connect(
        V5,
        "raw",
        true,
        Properties::new().with(
            PropertyId::AuthenticationMethod,
            PropertyValue::String("m".to_owned().into()),
        ),
    )
}

// ---------------------------------------------------------------------------------------
// The table.

/// How a case's client breaks its statement.
enum Play {
    /// Logs in to device mode (clean), sends these bytes, closes.
    AfterLogin(Vec<u8>),
    /// Sends these bytes to device mode as the connection's first packet, closes.
    FirstBytes(Vec<u8>),
    /// Plays `device` against device mode run with `flags` for `connections` connections.
    Device {
        connections: usize,
        flags: &'static [&'static str],
        device: fn(&Cloud, ProtocolVersion),
    },
    /// A raw WebSocket client playing `device` against device mode on `ws://` at a port.
    WebSocket(fn(u16, ProtocolVersion)),
    /// Capture mode: a raw `client` against a raw `server` (5.0).
    Capture {
        connections: usize,
        server: fn(&mut RawDevice, usize),
        client: fn(&mut RawDevice, usize),
    },
}

/// One raw violating client and the rules it must be flagged with, exactly.
struct Case {
    version: ProtocolVersion,
    rules: &'static [&'static str],
    what: &'static str,
    /// It waits past a window for a packet that never comes (run these first).
    slow: bool,
    play: Play,
}

fn after_login(
    version: ProtocolVersion,
    rules: &'static [&'static str],
    what: &'static str,
    bytes: Vec<u8>,
) -> Case {
    Case {
        version,
        rules,
        what,
        slow: false,
        play: Play::AfterLogin(bytes),
    }
}

fn first_bytes(
    version: ProtocolVersion,
    rules: &'static [&'static str],
    what: &'static str,
    bytes: Vec<u8>,
) -> Case {
    Case {
        version,
        rules,
        what,
        slow: false,
        play: Play::FirstBytes(bytes),
    }
}

fn device(
    version: ProtocolVersion,
    rules: &'static [&'static str],
    what: &'static str,
    flags: &'static [&'static str],
    device: fn(&Cloud, ProtocolVersion),
) -> Case {
    Case {
        version,
        rules,
        what,
        slow: false,
        play: Play::Device {
            connections: 1,
            flags,
            device,
        },
    }
}

fn capture(
    rules: &'static [&'static str],
    what: &'static str,
    server: fn(&mut RawDevice, usize),
    client: fn(&mut RawDevice, usize),
) -> Case {
    Case {
        version: V5,
        rules,
        what,
        slow: false,
        play: Play::Capture {
            connections: 1,
            server,
            client,
        },
    }
}

impl Case {
    /// Marks a case that waits past a window for a packet never sent.
    fn slow(mut self) -> Self {
        self.slow = true;
        self
    }

    /// Plays the case in another protocol version.
    fn on(mut self, version: ProtocolVersion) -> Self {
        self.version = version;
        self
    }

    /// The case plays `n` connections.
    fn connections(mut self, n: usize) -> Self {
        match &mut self.play {
            Play::Device { connections, .. } | Play::Capture { connections, .. } => {
                *connections = n
            }
            Play::AfterLogin(_) | Play::FirstBytes(_) | Play::WebSocket(_) => {}
        }
        self
    }

    fn label(&self) -> String {
        format!("MQTT {} {:?} ({})", self.version, self.rules, self.what)
    }

    /// Plays the case; returns the failed rules.
    fn flagged(&self) -> Vec<String> {
        let v = self.version;
        match &self.play {
            Play::AfterLogin(bytes) => flagged_after(v, "raw", 1, &[], |cloud| {
                let mut d = login(cloud, v);
                // A 5.0 client is held to the CONNACK's limits only once it could have
                // read it.
                if v.is_v5() {
                    std::thread::sleep(CONNACK_GRACE);
                }
                d.send_bytes(bytes);
                d.close();
            }),
            Play::FirstBytes(bytes) => flagged_first_bytes(v, bytes),
            Play::WebSocket(device) => flagged_over_websocket(v, *device),
            Play::Device {
                connections,
                flags,
                device,
            } => flagged_after(v, "raw", *connections, flags, |cloud| device(cloud, v)),
            Play::Capture {
                connections,
                server,
                client,
            } => flagged_in_capture(v, *connections, *server, *client),
        }
    }
}

/// One case per `conduct` rule of both suites (several where a rule is easy to break
/// several ways).
fn cases() -> Vec<Case> {
    let mut t = Vec::new();
    // ---- Both versions alike, in device mode.
    for v in [V311, V5] {
        t.push(Case {
            version: v,
            rules: &["MQTT-6.0.0-1"],
            what: "a PINGREQ in a WebSocket text message after logging in",
            slow: false,
            play: Play::WebSocket(|port, v| {
                use tokio_tungstenite::tungstenite::Message;
                let mut ws = websocket_client(port, Some("mqtt")).expect("handshake");
                let login = mqtt_conform::codec::encode_to_vec(
                    &connect(v, "raw", true, Properties::new()),
                    v,
                )
                .expect("CONNECT encodes");
                ws.send(Message::binary(login)).expect("CONNECT sent");
                assert!(matches!(ws.read(), Ok(Message::Binary(_))), "a CONNACK");
                ws.send(Message::text("\u{c0}\u{0}")).expect("text sent");
                // The cloud closes (MQTT-6.0.0-1: the recipient must).
                while ws.read().is_ok() {}
            }),
        });
        t.push(Case {
            version: v,
            rules: &["MQTT-6.0.0-3"],
            what: "a WebSocket handshake offering no `mqtt` subprotocol",
            slow: false,
            play: Play::WebSocket(|port, _| {
                let refused = websocket_client(port, Some("wamp")).expect_err("refused");
                assert!(refused.to_string().contains("400"), "{refused}");
            }),
        });
        t.push(first_bytes(
            v,
            &["MQTT-3.1.0-1"],
            "PINGREQ first",
            vec![0xC0, 0x00],
        ));
        t.push(device(
            v,
            &["MQTT-3.1.0-2"],
            "a second CONNECT",
            &[],
            |cloud, v| {
                let mut d = login(cloud, v);
                d.send(&connect(v, "raw", true, Properties::new()));
                d.closed_by_cloud();
            },
        ));
        t.push(device(
            v,
            &["MQTT-3.3.1-1"],
            "an unacknowledged QoS 1 PUBLISH sent again with DUP 0",
            &["--withhold-puback"],
            |cloud, v| {
                let mut d = login(cloud, v);
                d.publish("d/1", "x", QoS::AtLeastOnce, Some(1), false);
                d.publish("d/1", "x", QoS::AtLeastOnce, Some(1), false);
                d.close();
            },
        ));
        t.push(
            device(
                v,
                &["MQTT-3.3.1-1"],
                "a resumed session's PUBLISHes re-sent with DUP 0",
                &["--withhold-puback"],
                |cloud, v| {
                    let mut d = resumed_with_two_in_flight(cloud, v);
                    d.publish("r/1", "one", QoS::AtLeastOnce, Some(1), false);
                    d.publish("r/2", "two", QoS::AtLeastOnce, Some(2), false);
                    d.close();
                },
            )
            .connections(2),
        );
        t.push(device(
            v,
            &["MQTT-3.3.4-1"],
            "a QoS 1 delivery answered with PUBREC",
            &[],
            |cloud, v| {
                let mut d = login(cloud, v);
                let delivered = d.delivered_to_self("k/1", QoS::AtLeastOnce, 1);
                d.ack(delivered.packet_id.unwrap(), Packet::PubRec);
                d.close();
            },
        ));
        t.push(
            device(
                v,
                &["MQTT-4.6.0-1"],
                "a resumed session's PUBLISHes re-sent out of order",
                &["--withhold-puback"],
                |cloud, v| {
                    let mut d = resumed_with_two_in_flight(cloud, v);
                    d.publish("r/2", "two", QoS::AtLeastOnce, Some(2), true);
                    d.publish("r/1", "one", QoS::AtLeastOnce, Some(1), true);
                    d.close();
                },
            )
            .connections(2),
        );
        t.push(device(
            v,
            &["MQTT-4.6.0-2"],
            "PUBACKs out of arrival order",
            &[],
            |cloud, v| {
                let mut d = login(cloud, v);
                let first = d.delivered_to_self("o/1", QoS::AtLeastOnce, 1);
                d.publish("o/1", "second", QoS::AtLeastOnce, Some(2), false);
                let Packet::Publish(second) =
                    d.recv_until("the second delivery", |p| matches!(p, Packet::Publish(_)))
                else {
                    unreachable!()
                };
                d.ack(second.packet_id.unwrap(), Packet::PubAck);
                d.ack(first.packet_id.unwrap(), Packet::PubAck);
                d.send(&disconnect());
            },
        ));
        t.push(device(
            v,
            &["MQTT-4.6.0-3"],
            "PUBRECs out of arrival order",
            &[],
            |cloud, v| {
                let mut d = login(cloud, v);
                let first = qos2_delivery(&mut d, "o/2");
                d.publish("o/2", "second", QoS::ExactlyOnce, Some(2), false);
                let mut second = None;
                while second.is_none() {
                    match d.recv() {
                        Some(Packet::PubRec(r)) => d.ack(r.packet_id, Packet::PubRel),
                        Some(Packet::Publish(p)) => second = Some(p),
                        Some(_) => {}
                        None => panic!("no second delivery"),
                    }
                }
                d.ack(second.unwrap().packet_id.unwrap(), Packet::PubRec);
                d.ack(first.packet_id.unwrap(), Packet::PubRec);
                d.close();
            },
        ));
        t.push(device(
            v,
            &["MQTT-4.6.0-4"],
            "PUBRELs out of the PUBRECs' order",
            &[],
            |cloud, v| {
                let mut d = login(cloud, v);
                d.publish("q/1", "one", QoS::ExactlyOnce, Some(1), false);
                d.publish("q/2", "two", QoS::ExactlyOnce, Some(2), false);
                d.recv_until(
                    "PUBREC 1",
                    |p| matches!(p, Packet::PubRec(r) if r.packet_id == 1),
                );
                d.recv_until(
                    "PUBREC 2",
                    |p| matches!(p, Packet::PubRec(r) if r.packet_id == 2),
                );
                d.ack(2, Packet::PubRel);
                d.ack(1, Packet::PubRel);
                d.close();
            },
        ));
    }
    // ---- Both versions alike, in capture mode: what a capture shows is judged alike.
    for v in [V311, V5] {
        t.push(
            capture(
                &["MQTT-3.1.0-1"],
                "PINGREQ first, in a capture that holds the TCP handshake",
                |_, _| {},
                |c, _| c.send_bytes(&[0xC0, 0x00]),
            )
            .on(v),
        );
        t.push(
            capture(
                // The DUP flag's statement and the QoS 0 sender's (DUP 0).
                &["MQTT-3.3.1-2", "MQTT-4.3.1-1"],
                "QoS 0 PUBLISH with DUP 1",
                |s, _| answer_connect(s, 0, false, Properties::new()),
                |c, _| {
                    let v = c.version();
                    c.send(&connect(v, "raw", true, Properties::new()));
                    c.recv_until("the CONNACK", |p| matches!(p, Packet::ConnAck(_)));
                    c.send_bytes(&raw_publish(v, 0x38, b"t", None, &[]));
                },
            )
            .on(v),
        );
    }
    t.push(
        capture(
            &["MQTT-3.1.2-14"],
            "Will QoS 3",
            |_, _| {},
            |c, _| c.send_bytes(&raw_connect(V311, 0x1E, "raw", true, false)),
        )
        .on(V311),
    );
    t.push(capture(
        &["MQTT-3.1.2-12"],
        "Will QoS 3",
        |_, _| {},
        |c, _| c.send_bytes(&raw_connect(V5, 0x1E, "raw", true, false)),
    ));

    // ---- MQTT 3.1.1, in device mode.
    let v = V311;
    t.push(after_login(
        v,
        // UTF-8 in general, and the Topic Name's "a UTF-8 encoded string".
        &["MQTT-1.5.3-1", "MQTT-3.3.2-1"],
        "ill-formed UTF-8 in a topic",
        raw_publish(v, 0x30, &[b'a', 0xC3, 0x28], None, &[]),
    ));
    t.push(after_login(
        v,
        // U+0000 in any string, in the Topic Name, and in topics in particular.
        &["MQTT-1.5.3-2", "MQTT-3.3.2-1", "MQTT-4.7.3-2"],
        "U+0000 in a topic",
        raw_publish(v, 0x30, b"a\0b", None, &[]),
    ));
    t.push(after_login(
        v,
        &["MQTT-2.2.2-1"],
        "PINGREQ with flags 0001",
        vec![0xC1, 0x00],
    ));
    t.push(after_login(
        v,
        &["MQTT-2.3.1-1"],
        "SUBSCRIBE with packet id 0",
        raw_subscribe(v, 0x82, 0, Some("a"), 0),
    ));
    t.push(device(
        v,
        &["MQTT-2.3.1-2"],
        "a SUBSCRIBE reusing an unacknowledged SUBSCRIBE's id",
        &["--withhold-suback"],
        |cloud, v| {
            let mut d = login(cloud, v);
            d.send_bytes(&raw_subscribe(v, 0x82, 1, Some("s/1"), 0));
            d.send_bytes(&raw_subscribe(v, 0x82, 1, Some("s/2"), 0));
            d.close();
        },
    ));
    // The general statement on identifiers in use and the QoS 1 sender's both name it.
    t.push(device(
        v,
        &["MQTT-2.3.1-2", "MQTT-4.3.2-1"],
        "a QoS 1 PUBLISH reusing an unacknowledged one's id",
        &["--withhold-puback"],
        |cloud, v| {
            let mut d = login(cloud, v);
            d.publish("a/1", "x", QoS::AtLeastOnce, Some(1), false);
            d.publish("a/2", "y", QoS::AtLeastOnce, Some(1), false);
            d.close();
        },
    ));
    t.push(
        device(
            v,
            &["MQTT-2.3.1-3"],
            "a resumed session's PUBLISH re-sent with another id",
            &["--withhold-puback"],
            |cloud, v| {
                let mut d = resumed_with_two_in_flight(cloud, v);
                d.publish("r/1", "one", QoS::AtLeastOnce, Some(3), true);
                d.publish("r/2", "two", QoS::AtLeastOnce, Some(2), true);
                d.close();
            },
        )
        .connections(2),
    );
    t.push(after_login(
        v,
        &["MQTT-2.3.1-6"],
        "PUBACK for an id no delivery carries",
        vec![0x40, 0x02, 0x00, 0x07],
    ));
    t.push(first_bytes(
        v,
        // Will QoS on its own, and Will QoS and Will Retain together without the Will Flag.
        &["MQTT-3.1.2-11", "MQTT-3.1.2-13"],
        "Will QoS 1 without the Will Flag",
        raw_connect(v, 0x0A, "raw", false, false),
    ));
    t.push(first_bytes(
        v,
        &["MQTT-3.1.2-14"],
        "Will QoS 3",
        raw_connect(v, 0x1E, "raw", true, false),
    ));
    t.push(first_bytes(
        v,
        // Will Retain on its own, and Will QoS and Will Retain together without the Will Flag.
        &["MQTT-3.1.2-11", "MQTT-3.1.2-15"],
        "Will Retain without the Will Flag",
        raw_connect(v, 0x22, "raw", false, false),
    ));
    t.push(first_bytes(
        v,
        &["MQTT-3.1.2-22"],
        "a password without a user name",
        raw_connect(v, 0x42, "raw", false, true),
    ));
    t.push(first_bytes(
        v,
        &["MQTT-3.1.3-7"],
        "an empty client id with Clean Session 0",
        raw_connect(v, 0x00, "", false, false),
    ));
    t.push(after_login(
        v,
        // The DUP flag's statement and the QoS 0 sender's (DUP 0).
        &["MQTT-3.3.1-2", "MQTT-4.3.1-1"],
        "QoS 0 PUBLISH with DUP 1",
        raw_publish(v, 0x38, b"t", None, &[]),
    ));
    t.push(after_login(
        v,
        &["MQTT-3.3.1-4"],
        "PUBLISH with QoS 3",
        raw_publish(v, 0x36, b"t", Some(1), &[]),
    ));
    t.push(after_login(
        v,
        // The Topic Name's statement and the wildcards' (never within a Topic Name).
        &["MQTT-3.3.2-2", "MQTT-4.7.1-1"],
        "a wildcard in a topic name",
        raw_publish(v, 0x30, b"a/+", None, &[]),
    ));
    t.push(after_login(
        v,
        &["MQTT-3.6.1-1"],
        "PUBREL with flags 0000",
        vec![0x60, 0x02, 0x00, 0x01],
    ));
    t.push(after_login(
        v,
        &["MQTT-3.8.1-1"],
        "SUBSCRIBE with flags 0000",
        raw_subscribe(v, 0x80, 1, Some("a"), 0),
    ));
    t.push(after_login(
        v,
        &["MQTT-3.8.3-3"],
        "SUBSCRIBE without a filter",
        raw_subscribe(v, 0x82, 1, None, 0),
    ));
    t.push(after_login(
        v,
        &["MQTT-3.10.1-1"],
        "UNSUBSCRIBE with flags 0000",
        raw_unsubscribe(v, 0xA0, Some("a")),
    ));
    t.push(after_login(
        v,
        &["MQTT-3.10.3-2"],
        "UNSUBSCRIBE without a filter",
        raw_unsubscribe(v, 0xA2, None),
    ));
    t.push(device(
        v,
        &["MQTT-3.14.4-1"],
        "the connection left open after DISCONNECT",
        &[],
        stays_after_disconnect,
    ));
    t.push(after_login(
        v,
        &["MQTT-3.14.4-2"],
        "PINGREQ after DISCONNECT",
        vec![0xE0, 0x00, 0xC0, 0x00],
    ));
    t.push(device(
        v,
        // DUP 1 on a clean session's first sending re-sends from a session Clean Session 1 dropped.
        &["MQTT-3.1.2-6", "MQTT-4.3.2-1"],
        "a first QoS 1 sending with DUP 1",
        &[],
        |cloud, v| {
            let mut d = login(cloud, v);
            d.publish("f/1", "x", QoS::AtLeastOnce, Some(1), true);
            d.recv_until("the PUBACK", |p| matches!(p, Packet::PubAck(_)));
            d.send(&disconnect());
        },
    ));
    // An acknowledgement never sent breaks the receiver's statement and MQTT-4.5.0-2's
    // "acknowledge every PUBLISH" at once.
    t.push(
        device(
            v,
            &["MQTT-4.3.2-2", "MQTT-4.5.0-2"],
            "a QoS 1 delivery never acknowledged",
            &[],
            no_puback,
        )
        .slow(),
    );
    t.push(device(
        v,
        // DUP 1 on a clean session's first sending re-sends from a session Clean Session 1 dropped.
        &["MQTT-3.1.2-6", "MQTT-4.3.3-1"],
        "a first QoS 2 sending with DUP 1",
        &[],
        first_qos2_with_dup,
    ));
    t.push(
        device(
            v,
            &["MQTT-4.3.3-2", "MQTT-4.5.0-2"],
            "a QoS 2 delivery never answered with PUBREC",
            &[],
            no_pubrec,
        )
        .slow(),
    );
    t.push(
        device(
            v,
            &["MQTT-4.3.3-2", "MQTT-4.5.0-2"],
            "a PUBREL never answered with PUBCOMP",
            &[],
            no_pubcomp,
        )
        .slow(),
    );
    t.push(
        device(
            v,
            // The re-send missing shows the session Clean Session 0 keeps under the client id lost.
            &["MQTT-3.1.2-4", "MQTT-3.1.3-2", "MQTT-4.4.0-1"],
            "a resumed session's PUBLISHes never re-sent",
            &["--withhold-puback"],
            no_resend,
        )
        .connections(2)
        .slow(),
    );
    t.push(after_login(
        v,
        &["MQTT-4.7.1-2"],
        "'#' not last in a filter",
        raw_subscribe(v, 0x82, 1, Some("a/#/b"), 0),
    ));
    t.push(after_login(
        v,
        &["MQTT-4.7.1-3"],
        "'+' sharing a level",
        raw_subscribe(v, 0x82, 1, Some("a+/b"), 0),
    ));
    t.push(after_login(
        v,
        &["MQTT-4.7.3-1"],
        "an empty topic filter",
        raw_subscribe(v, 0x82, 1, Some(""), 0),
    ));

    // MQTT-4.3.3-1 stands for every duty of the 3.1.1 QoS 2 sender: each is broken once.
    t.push(device(
        v,
        &["MQTT-2.3.1-2", "MQTT-4.3.3-1"],
        "a QoS 2 PUBLISH reusing an unreceived one's id",
        &["--withhold-puback"],
        |cloud, v| {
            let mut d = login(cloud, v);
            d.publish("a/1", "x", QoS::ExactlyOnce, Some(1), false);
            d.publish("a/2", "y", QoS::ExactlyOnce, Some(1), false);
            d.close();
        },
    ));
    t.push(
        device(
            v,
            // A flow left half done shows the session state not kept while the connection lasts.
            &["MQTT-4.1.0-1", "MQTT-4.1.0-2", "MQTT-4.3.3-1"],
            "a PUBREC never answered with PUBREL",
            &[],
            no_pubrel,
        )
        .slow(),
    );
    t.push(
        capture(
            &["MQTT-4.3.3-1"],
            "a QoS 2 PUBLISH sent again after its PUBREL",
            republish_server,
            |c, _| {
                c.send(&connect(V311, "raw", true, Properties::new()));
                c.recv_until("the CONNACK", |p| matches!(p, Packet::ConnAck(_)));
                republish_after_pubrel(c);
            },
        )
        .on(V311),
    );
    t.push(after_login(
        v,
        &["MQTT-2.3.1-6"],
        "PUBREL for an id no PUBREC carries",
        vec![0x62, 0x02, 0x00, 0x07],
    ));

    // MQTT-2.3.1-6 names PUBACK, PUBREC and PUBREL only; 3.1.1 numbers no statement a
    // stray PUBCOMP breaks.
    t.push(after_login(
        v,
        &[],
        "PUBCOMP for an id no PUBREL carries",
        vec![0x70, 0x02, 0x00, 0x07],
    ));

    t.push(
        capture(
            &["MQTT-4.3.3-1"],
            "a resumed session's QoS 2 PUBLISH re-sent after its PUBREL",
            pubcomp_withheld_then_resumed,
            publish_re_sent_after_pubrel_on_resume,
        )
        .on(V311)
        .connections(2),
    );

    // ---- MQTT 5.0, in device mode.
    let v = V5;
    t.push(after_login(
        v,
        // UTF-8 in general, and the Topic Name's "a UTF-8 Encoded String".
        &["MQTT-1.5.4-1", "MQTT-3.3.2-1"],
        "ill-formed UTF-8 in a topic",
        raw_publish(v, 0x30, &[b'a', 0xC3, 0x28], None, &[]),
    ));
    t.push(after_login(
        v,
        // U+0000 in any string, in the Topic Name, and in topics in particular.
        &["MQTT-1.5.4-2", "MQTT-3.3.2-1", "MQTT-4.7.3-2"],
        "U+0000 in a topic",
        raw_publish(v, 0x30, b"a\0b", None, &[]),
    ));
    t.push(after_login(
        v,
        &["MQTT-1.5.5-1"],
        "a Remaining Length in two bytes for 0",
        vec![0xC0, 0x80, 0x00],
    ));
    t.push(after_login(
        v,
        &["MQTT-2.1.3-1"],
        "PINGREQ with flags 0001",
        vec![0xC1, 0x00],
    ));
    t.push(device(
        v,
        &["MQTT-2.2.1-3"],
        "a SUBSCRIBE reusing an unacknowledged SUBSCRIBE's id",
        &["--withhold-suback"],
        |cloud, v| {
            let mut d = login(cloud, v);
            d.send_bytes(&raw_subscribe(v, 0x82, 1, Some("s/1"), 0));
            d.send_bytes(&raw_subscribe(v, 0x82, 1, Some("s/2"), 0));
            d.close();
        },
    ));
    t.push(after_login(
        v,
        &["MQTT-2.2.1-3"],
        "SUBSCRIBE with packet id 0",
        raw_subscribe(v, 0x82, 0, Some("a"), 0),
    ));
    t.push(after_login(
        v,
        &["MQTT-2.2.1-5"],
        "PUBACK for an id no delivery carries",
        vec![0x40, 0x02, 0x00, 0x07],
    ));
    t.push(first_bytes(
        v,
        &["MQTT-3.1.2-11"],
        "Will QoS 1 without the Will Flag",
        raw_connect(v, 0x0A, "raw", false, false),
    ));
    t.push(first_bytes(
        v,
        &["MQTT-3.1.2-12"],
        "Will QoS 3",
        raw_connect(v, 0x1E, "raw", true, false),
    ));
    t.push(first_bytes(
        v,
        &["MQTT-3.1.2-13"],
        "Will Retain without the Will Flag",
        raw_connect(v, 0x22, "raw", false, false),
    ));
    // One duty, two statements: the Topic Alias Maximum in CONNACK's and PUBLISH's words.
    t.push(after_login(
        v,
        &["MQTT-3.2.2-17", "MQTT-3.3.2-9"],
        "Topic Alias 11, above the CONNACK's 10",
        raw_publish(v, 0x30, b"t", None, &[0x23, 0x00, 0x0B]),
    ));
    t.push(after_login(
        v,
        // The DUP flag's statement and the QoS 0 sender's (DUP 0).
        &["MQTT-3.3.1-2", "MQTT-4.3.1-1"],
        "QoS 0 PUBLISH with DUP 1",
        raw_publish(v, 0x38, b"t", None, &[]),
    ));
    t.push(after_login(
        v,
        &["MQTT-3.3.1-4"],
        "PUBLISH with QoS 3",
        raw_publish(v, 0x36, b"t", Some(1), &[]),
    ));
    t.push(after_login(
        v,
        // The Topic Name's statement and the wildcards' (never within a Topic Name).
        &["MQTT-3.3.2-2", "MQTT-4.7.0-1"],
        "a wildcard in a topic name",
        raw_publish(v, 0x30, b"a/+", None, &[]),
    ));
    t.push(after_login(
        v,
        &["MQTT-3.3.2-8"],
        "Topic Alias 0",
        raw_publish(v, 0x30, b"t", None, &[0x23, 0x00, 0x00]),
    ));
    t.push(after_login(
        v,
        &["MQTT-3.3.2-14"],
        "a wildcard in a Response Topic",
        raw_publish(v, 0x30, b"t", None, &[0x08, 0x00, 0x03, b'r', b'/', b'#']),
    ));
    t.push(after_login(
        v,
        &["MQTT-3.3.4-6"],
        "a Subscription Identifier on a PUBLISH to the server",
        raw_publish(v, 0x30, b"t", None, &[0x0B, 0x01]),
    ));
    t.push(after_login(
        v,
        &["MQTT-3.4.2-1"],
        "PUBACK reason 0x05",
        vec![0x40, 0x03, 0x00, 0x01, 0x05],
    ));
    t.push(after_login(
        v,
        &["MQTT-3.5.2-1"],
        "PUBREC reason 0x05",
        vec![0x50, 0x03, 0x00, 0x01, 0x05],
    ));
    t.push(after_login(
        v,
        &["MQTT-3.6.1-1"],
        "PUBREL with flags 0000",
        vec![0x60, 0x02, 0x00, 0x01],
    ));
    t.push(after_login(
        v,
        &["MQTT-3.6.2-1"],
        "PUBREL reason 0x05",
        vec![0x62, 0x03, 0x00, 0x01, 0x05],
    ));
    t.push(after_login(
        v,
        &["MQTT-3.7.2-1"],
        "PUBCOMP reason 0x05",
        vec![0x70, 0x03, 0x00, 0x01, 0x05],
    ));
    t.push(after_login(
        v,
        &["MQTT-3.8.1-1"],
        "SUBSCRIBE with flags 0000",
        raw_subscribe(v, 0x80, 1, Some("a"), 0),
    ));
    t.push(after_login(
        v,
        &["MQTT-3.8.3-2"],
        "SUBSCRIBE without a filter",
        raw_subscribe(v, 0x82, 1, None, 0),
    ));
    t.push(after_login(
        v,
        &["MQTT-3.8.3-4"],
        "No Local on a shared subscription",
        raw_subscribe(v, 0x82, 1, Some("$share/g/a"), 0x04),
    ));
    t.push(after_login(
        v,
        &["MQTT-3.10.1-1"],
        "UNSUBSCRIBE with flags 0000",
        raw_unsubscribe(v, 0xA0, Some("a")),
    ));
    t.push(after_login(
        v,
        &["MQTT-3.10.3-2"],
        "UNSUBSCRIBE without a filter",
        raw_unsubscribe(v, 0xA2, None),
    ));
    t.push(after_login(
        v,
        &["MQTT-3.14.1-1"],
        "DISCONNECT with flags 0001",
        vec![0xE1, 0x00],
    ));
    t.push(after_login(
        v,
        &["MQTT-3.14.2-1"],
        "DISCONNECT reason 0x05",
        vec![0xE0, 0x01, 0x05],
    ));
    t.push(after_login(
        v,
        &["MQTT-3.14.4-1"],
        "PINGREQ after DISCONNECT",
        vec![0xE0, 0x00, 0xC0, 0x00],
    ));
    t.push(device(
        v,
        &["MQTT-3.14.4-2"],
        "the connection left open after DISCONNECT",
        &[],
        stays_after_disconnect,
    ));
    t.push(after_login(
        v,
        &["MQTT-3.15.1-1"],
        "AUTH with flags 0001",
        vec![0xF1, 0x00],
    ));
    t.push(after_login(
        v,
        &["MQTT-3.15.2-1"],
        "AUTH reason 0x05",
        vec![0xF0, 0x01, 0x05],
    ));
    // The general statement on identifiers in use and the QoS 1 (QoS 2) sender's both name it.
    t.push(device(
        v,
        // The earlier PUBLISH is unacknowledged until its PUBACK (MQTT-4.3.2-3).
        &["MQTT-2.2.1-3", "MQTT-4.3.2-1", "MQTT-4.3.2-3"],
        "a QoS 1 PUBLISH reusing an unacknowledged one's id",
        &["--withhold-puback"],
        |cloud, v| {
            let mut d = login(cloud, v);
            d.publish("a/1", "x", QoS::AtLeastOnce, Some(1), false);
            d.publish("a/2", "y", QoS::AtLeastOnce, Some(1), false);
            d.close();
        },
    ));
    t.push(device(
        v,
        // The earlier PUBLISH is unacknowledged until its PUBREC (MQTT-4.3.3-3).
        &["MQTT-2.2.1-3", "MQTT-4.3.3-1", "MQTT-4.3.3-3"],
        "a QoS 2 PUBLISH reusing an unreceived one's id",
        &["--withhold-puback"],
        |cloud, v| {
            let mut d = login(cloud, v);
            d.publish("a/1", "x", QoS::ExactlyOnce, Some(1), false);
            d.publish("a/2", "y", QoS::ExactlyOnce, Some(1), false);
            d.close();
        },
    ));
    t.push(device(
        v,
        // DUP 1 on a Clean Start's first sending re-sends from a session it had to discard
        // and the CONNACK said was not present.
        &["MQTT-3.1.2-4", "MQTT-3.2.2-5", "MQTT-4.3.2-2"],
        "a first QoS 1 sending with DUP 1",
        &[],
        |cloud, v| {
            let mut d = login(cloud, v);
            d.publish("f/1", "x", QoS::AtLeastOnce, Some(1), true);
            d.recv_until("the PUBACK", |p| matches!(p, Packet::PubAck(_)));
            d.send(&disconnect());
        },
    ));
    t.push(
        device(
            v,
            &["MQTT-4.3.2-4", "MQTT-4.5.0-2"],
            "a QoS 1 delivery never acknowledged",
            &[],
            no_puback,
        )
        .slow(),
    );
    t.push(device(
        v,
        // DUP 1 on a Clean Start's first sending re-sends from a session it had to discard
        // and the CONNACK said was not present.
        &["MQTT-3.1.2-4", "MQTT-3.2.2-5", "MQTT-4.3.3-2"],
        "a first QoS 2 sending with DUP 1",
        &[],
        first_qos2_with_dup,
    ));
    t.push(
        device(
            v,
            // A flow left half done shows the session state not kept while the connection lasts.
            &["MQTT-4.1.0-1", "MQTT-4.3.3-4"],
            "a PUBREC never answered with PUBREL",
            &[],
            |cloud, v| {
                let mut d = login(cloud, v);
                d.publish("q/1", "x", QoS::ExactlyOnce, Some(1), false);
                d.recv_until("the PUBREC", |p| matches!(p, Packet::PubRec(_)));
                d.hold_open(PAST_ACK_WINDOW);
                d.close();
            },
        )
        .slow(),
    );
    t.push(
        device(
            v,
            &["MQTT-4.3.3-8", "MQTT-4.5.0-2"],
            "a QoS 2 delivery never answered with PUBREC",
            &[],
            no_pubrec,
        )
        .slow(),
    );
    t.push(
        device(
            v,
            &["MQTT-4.3.3-11"],
            "a PUBREL never answered with PUBCOMP",
            &[],
            no_pubcomp,
        )
        .slow(),
    );
    t.push(
        device(
            v,
            // The re-send missing shows the session a Session Expiry keeps under the client id lost.
            &["MQTT-3.1.2-23", "MQTT-3.1.3-2", "MQTT-4.4.0-1"],
            "a resumed session's PUBLISHes never re-sent",
            &["--withhold-puback"],
            no_resend,
        )
        .connections(2)
        .slow(),
    );
    t.push(
        device(
            v,
            &["MQTT-4.4.0-1"],
            "a resumed session's PUBLISH re-sent with another id",
            &["--withhold-puback"],
            |cloud, v| {
                let mut d = resumed_with_two_in_flight(cloud, v);
                d.publish("r/1", "one", QoS::AtLeastOnce, Some(3), true);
                d.publish("r/2", "two", QoS::AtLeastOnce, Some(2), true);
                d.close();
            },
        )
        .connections(2),
    );
    t.push(after_login(
        v,
        &["MQTT-4.7.1-1"],
        "'#' not last in a filter",
        raw_subscribe(v, 0x82, 1, Some("a/#/b"), 0),
    ));
    t.push(after_login(
        v,
        &["MQTT-4.7.1-2"],
        "'+' sharing a level",
        raw_subscribe(v, 0x82, 1, Some("a+/b"), 0),
    ));
    t.push(after_login(
        v,
        &["MQTT-4.7.3-1"],
        "an empty topic filter",
        raw_subscribe(v, 0x82, 1, Some(""), 0),
    ));
    t.push(after_login(
        v,
        &["MQTT-4.8.2-2"],
        "a ShareName with a wildcard",
        raw_subscribe(v, 0x82, 1, Some("$share/a+/x"), 0),
    ));
    t.push(device(
        v,
        &["MQTT-4.12.0-7"],
        "AUTH without an Authentication Method",
        &[],
        |cloud, v| {
            let mut d = login(cloud, v);
            d.send(&auth(0x18, "m"));
            d.closed_by_cloud();
        },
    ));

    t.push(after_login(
        v,
        &["MQTT-2.2.1-5"],
        "PUBREL for an id no PUBREC carries",
        vec![0x62, 0x02, 0x00, 0x07],
    ));
    t.push(after_login(
        v,
        &["MQTT-2.2.1-5"],
        "PUBCOMP for an id no PUBREL carries",
        vec![0x70, 0x02, 0x00, 0x07],
    ));
    // The Remaining Length alone says it: the server refuses before reading the body.
    t.push(after_login(
        v,
        &["MQTT-3.2.2-15"],
        "a PUBLISH above the CONNACK's Maximum Packet Size (1 MiB)",
        RawBuilder::new(0x30)
            .remaining_length(2 * 1024 * 1024)
            .string("t")
            .build(),
    ));

    // ---- MQTT 5.0 in capture mode: what our device server never sends.
    t.push(
        capture(
            &["MQTT-4.3.3-6"],
            "a resumed session's QoS 2 PUBLISH re-sent after its PUBREL",
            pubcomp_withheld_then_resumed,
            publish_re_sent_after_pubrel_on_resume,
        )
        .connections(2),
    );
    t.push(capture(
        &["MQTT-3.1.2-30"],
        "PUBLISH before the CONNACK while authenticating",
        |s, _| {
            s.recv_until("the CONNECT", |p| matches!(p, Packet::Connect(_)));
            s.recv_until("the PUBLISH", |p| matches!(p, Packet::Publish(_)));
            s.send(&Packet::ConnAck(ConnAck {
                session_present: false,
                code: 0,
                properties: Properties::new().with(
                    PropertyId::AuthenticationMethod,
                    PropertyValue::String("m".to_owned().into()),
                ),
            }));
        },
        |c, _| {
            c.send(&connect_authenticating());
            c.send(&publish(
                "t",
                QoS::AtMostOnce,
                None,
                false,
                Properties::new(),
            ));
            c.recv_until("the CONNACK", |p| matches!(p, Packet::ConnAck(_)));
            c.send(&disconnect());
        },
    ));
    t.push(capture(
        &["MQTT-3.2.2-4"],
        "staying on after Session Present 1 to a clean client",
        |s, _| {
            answer_connect(s, 0, true, Properties::new());
        },
        |c, _| {
            client_login(c);
            past_the_close_window(c);
            c.send(&disconnect());
        },
    ));
    t.push(capture(
        &["MQTT-3.2.2-11"],
        "QoS 2 PUBLISH above Maximum QoS 1",
        |s, _| {
            answer_connect(
                s,
                0,
                false,
                connack_with(PropertyId::MaximumQos, PropertyValue::Byte(1)),
            );
        },
        |c, _| {
            client_login(c);
            c.send(&publish(
                "t",
                QoS::ExactlyOnce,
                Some(1),
                false,
                Properties::new(),
            ));
            c.send(&disconnect());
        },
    ));
    t.push(capture(
        &["MQTT-3.2.2-14"],
        "a retained PUBLISH after Retain Available 0",
        |s, _| {
            answer_connect(
                s,
                0,
                false,
                connack_with(PropertyId::RetainAvailable, PropertyValue::Byte(0)),
            );
        },
        |c, _| {
            client_login(c);
            let mut p = Publish::new("t".to_owned(), b"x".to_vec());
            p.retain = true;
            c.send(&Packet::Publish(p));
            c.send(&disconnect());
        },
    ));
    t.push(capture(
        &["MQTT-3.2.2-15"],
        "a PUBLISH above the Maximum Packet Size",
        |s, _| {
            answer_connect(
                s,
                0,
                false,
                connack_with(
                    PropertyId::MaximumPacketSize,
                    PropertyValue::FourByteInteger(64),
                ),
            );
        },
        |c, _| {
            client_login(c);
            let p = Publish::new("t".to_owned(), vec![b'x'; 100]);
            c.send(&Packet::Publish(p));
            c.send(&disconnect());
        },
    ));
    t.push(capture(
        &["MQTT-3.2.2-18"],
        "a Topic Alias where the CONNACK allows none",
        |s, _| {
            answer_connect(s, 0, false, Properties::new());
        },
        |c, _| {
            client_login(c);
            let alias =
                Properties::new().with(PropertyId::TopicAlias, PropertyValue::TwoByteInteger(1));
            c.send(&publish("t", QoS::AtMostOnce, None, false, alias));
            c.send(&disconnect());
        },
    ));
    // One duty, three statements: the Receive Maximum as the PUBLISH section, the flow
    // control's start and its zero quota name it.
    t.push(capture(
        &["MQTT-3.3.4-7", "MQTT-4.9.0-1", "MQTT-4.9.0-2"],
        "a second QoS 1 PUBLISH past Receive Maximum 1",
        |s, _| {
            answer_connect(
                s,
                0,
                false,
                connack_with(PropertyId::ReceiveMaximum, PropertyValue::TwoByteInteger(1)),
            );
        },
        |c, _| {
            client_login(c);
            c.send(&publish(
                "t",
                QoS::AtLeastOnce,
                Some(1),
                false,
                Properties::new(),
            ));
            c.send(&publish(
                "t",
                QoS::AtLeastOnce,
                Some(2),
                false,
                Properties::new(),
            ));
            c.send(&disconnect());
        },
    ));
    // Held back by the used-up quota shows as an acknowledgement never sent: the
    // receiver's statements are broken with the flow control's.
    t.push(
        capture(
            &[
                "MQTT-3.3.4-8",
                "MQTT-4.9.0-3",
                "MQTT-4.3.2-4",
                "MQTT-4.5.0-2",
            ],
            "a delivery left unacknowledged while the send quota is used up",
            |s, _| {
                answer_connect(
                    s,
                    0,
                    false,
                    connack_with(PropertyId::ReceiveMaximum, PropertyValue::TwoByteInteger(1)),
                );
                s.recv_until("the PUBLISH", |p| matches!(p, Packet::Publish(_)));
                s.send(&publish(
                    "in",
                    QoS::AtLeastOnce,
                    Some(9),
                    false,
                    Properties::new(),
                ));
            },
            |c, _| {
                client_login(c);
                c.send(&publish(
                    "t",
                    QoS::AtLeastOnce,
                    Some(1),
                    false,
                    Properties::new(),
                ));
                c.recv_until("the delivery", |p| matches!(p, Packet::Publish(_)));
                c.hold_open(PAST_ACK_WINDOW);
                c.send(&disconnect());
            },
        )
        .slow(),
    );
    t.push(capture(
        &["MQTT-4.3.3-6"],
        "a QoS 2 PUBLISH sent again after its PUBREL",
        republish_server,
        |c, _| {
            client_login(c);
            republish_after_pubrel(c);
        },
    ));
    t.push(capture(
        &["MQTT-4.4.0-2"],
        "a PUBLISH re-sent after a PUBACK of 0x80",
        |s, _| {
            answer_connect(s, 0, false, Properties::new());
            s.recv_until("the PUBLISH", |p| matches!(p, Packet::Publish(_)));
            let mut refusal = PubResponse::new(1);
            refusal.reason_code = 0x80;
            s.send(&Packet::PubAck(refusal));
        },
        |c, _| {
            client_login(c);
            c.send(&publish(
                "t",
                QoS::AtLeastOnce,
                Some(1),
                false,
                Properties::new(),
            ));
            c.recv_until("the PUBACK", |p| matches!(p, Packet::PubAck(_)));
            c.send(&publish(
                "t",
                QoS::AtLeastOnce,
                Some(1),
                true,
                Properties::new(),
            ));
            c.send(&disconnect());
        },
    ));
    t.push(capture(
        &["MQTT-4.12.0-3"],
        "an AUTH answering the server's AUTH with reason 0x00",
        |s, _| {
            s.recv_until("the CONNECT", |p| matches!(p, Packet::Connect(_)));
            s.send(&auth(0x18, "m"));
            s.recv_until("the AUTH", |p| matches!(p, Packet::Auth(_)));
            s.send(&Packet::ConnAck(ConnAck {
                session_present: false,
                code: 0,
                properties: Properties::new().with(
                    PropertyId::AuthenticationMethod,
                    PropertyValue::String("m".to_owned().into()),
                ),
            }));
        },
        |c, _| {
            c.send(&connect_authenticating());
            c.recv_until("the server's AUTH", |p| matches!(p, Packet::Auth(_)));
            c.send(&auth(0x00, "m"));
            c.recv_until("the CONNACK", |p| matches!(p, Packet::ConnAck(_)));
            c.send(&disconnect());
        },
    ));
    // One duty, two statements: the same method in an authentication and in a
    // re-authentication.
    t.push(capture(
        &["MQTT-4.12.0-5", "MQTT-4.12.1-1"],
        "an AUTH naming another method",
        |s, _| {
            s.recv_until("the CONNECT", |p| matches!(p, Packet::Connect(_)));
            s.send(&auth(0x18, "m"));
            s.recv_until("the AUTH", |p| matches!(p, Packet::Auth(_)));
            s.send(&Packet::ConnAck(ConnAck {
                session_present: false,
                code: 0,
                properties: Properties::new().with(
                    PropertyId::AuthenticationMethod,
                    PropertyValue::String("m".to_owned().into()),
                ),
            }));
        },
        |c, _| {
            c.send(&connect_authenticating());
            c.recv_until("the server's AUTH", |p| matches!(p, Packet::Auth(_)));
            c.send(&auth(0x18, "other"));
            c.recv_until("the CONNACK", |p| matches!(p, Packet::ConnAck(_)));
            c.send(&disconnect());
        },
    ));
    t.push(capture(
        &["MQTT-4.13.2-1"],
        "PINGREQ after a CONNACK of 0x87",
        |s, _| {
            answer_connect(s, 0x87, false, Properties::new());
        },
        |c, _| {
            c.send(&connect(V5, "raw", true, Properties::new()));
            c.recv_until("the CONNACK", |p| matches!(p, Packet::ConnAck(_)));
            past_the_close_window(c);
        },
    ));
    t.push(capture(
        &["MQTT-4.13.2-1"],
        "PINGREQ after the server's DISCONNECT 0x89",
        |s, _| {
            answer_connect(s, 0, false, Properties::new());
            s.send(&Packet::Disconnect(Disconnect {
                reason_code: 0x89,
                properties: Properties::new(),
            }));
        },
        |c, _| {
            client_login(c);
            c.recv_until("the DISCONNECT", |p| matches!(p, Packet::Disconnect(_)));
            past_the_close_window(c);
        },
    ));

    // ---- Malformed fields, both versions in device mode: the field's own statement, and
    // the general one on UTF-8 where the string is ill-formed.
    for v in [V311, V5] {
        let v5 = v.is_v5();
        t.push(first_bytes(
            v,
            &["MQTT-3.1.2-9"],
            "the Will Flag without a Will Topic",
            raw_connect_payload(v, 0x06, &payload(&[b"raw"], v5)),
        ));
        t.push(first_bytes(
            v,
            if v5 {
                &["MQTT-3.1.2-16"]
            } else {
                &["MQTT-3.1.2-18"]
            },
            "a User Name the flags do not announce",
            raw_connect_payload(v, 0x02, &payload(&[b"raw", b"u"], false)),
        ));
        t.push(first_bytes(
            v,
            if v5 {
                &["MQTT-3.1.2-17"]
            } else {
                &["MQTT-3.1.2-19"]
            },
            "the User Name Flag without a User Name",
            raw_connect_payload(v, 0x82, &payload(&[b"raw"], false)),
        ));
        t.push(first_bytes(
            v,
            if v5 {
                &["MQTT-3.1.2-18"]
            } else {
                &["MQTT-3.1.2-20"]
            },
            "a Password the flags do not announce",
            raw_connect_payload(v, 0x82, &payload(&[b"raw", b"u", b"pw"], false)),
        ));
        t.push(first_bytes(
            v,
            if v5 {
                &["MQTT-3.1.2-19"]
            } else {
                &["MQTT-3.1.2-21"]
            },
            "the Password Flag without a Password",
            raw_connect_payload(v, 0xC2, &payload(&[b"raw", b"u"], false)),
        ));
        t.push(first_bytes(
            v,
            &["MQTT-3.1.3-3"],
            "no Client Identifier",
            raw_connect_payload(v, 0x02, &[]),
        ));
        t.push(first_bytes(
            v,
            if v5 {
                &["MQTT-1.5.4-1", "MQTT-3.1.3-4"]
            } else {
                &["MQTT-1.5.3-1", "MQTT-3.1.3-4"]
            },
            "ill-formed UTF-8 in the Client Identifier",
            raw_connect_payload(v, 0x02, &payload(&[ILL_FORMED], false)),
        ));
        t.push(first_bytes(
            v,
            if v5 {
                &["MQTT-1.5.4-1", "MQTT-3.1.3-11"]
            } else {
                &["MQTT-1.5.3-1", "MQTT-3.1.3-10"]
            },
            "ill-formed UTF-8 in the Will Topic",
            raw_connect_payload(v, 0x06, &payload(&[b"raw", ILL_FORMED, b"bye"], v5)),
        ));
        t.push(first_bytes(
            v,
            if v5 {
                &["MQTT-1.5.4-1", "MQTT-3.1.3-12"]
            } else {
                &["MQTT-1.5.3-1", "MQTT-3.1.3-11"]
            },
            "ill-formed UTF-8 in the User Name",
            raw_connect_payload(v, 0x82, &payload(&[b"raw", ILL_FORMED], false)),
        ));
        let props: &[u8] = if v5 { &[0] } else { &[] };
        t.push(after_login(
            v,
            if v5 {
                &["MQTT-1.5.4-1", "MQTT-3.8.3-1"]
            } else {
                &["MQTT-1.5.3-1", "MQTT-3.8.3-1"]
            },
            "ill-formed UTF-8 in a SUBSCRIBE's filter",
            RawBuilder::new(0x82)
                .u16(1)
                .bytes(props)
                .field(ILL_FORMED)
                .byte(0)
                .build(),
        ));
        t.push(after_login(
            v,
            if v5 {
                &["MQTT-1.5.4-1", "MQTT-3.10.3-1"]
            } else {
                &["MQTT-1.5.3-1", "MQTT-3.10.3-1"]
            },
            "ill-formed UTF-8 in an UNSUBSCRIBE's filter",
            RawBuilder::new(0xA2)
                .u16(1)
                .bytes(props)
                .field(ILL_FORMED)
                .build(),
        ));
    }

    // ---- MQTT 3.1.1 in capture mode: a malformed packet from the server.
    t.push(
        capture(
            &["MQTT-2.2.2-2", "MQTT-4.8.0-1"],
            "PINGREQ after the server's PINGRESP with flags 0001",
            |s, _| {
                answer_connect(s, 0, false, Properties::new());
                s.send_bytes(&[0xD1, 0x00]);
            },
            pingreq_after_malformed,
        )
        .on(V311),
    );
    t.push(
        capture(
            &["MQTT-4.8.0-1"],
            "PINGREQ after the server's PUBACK cut short",
            |s, _| {
                answer_connect(s, 0, false, Properties::new());
                s.send_bytes(&[0x40, 0x01, 0x00]);
            },
            pingreq_after_malformed,
        )
        .on(V311),
    );

    // ---- MQTT 5.0: malformed properties, in device mode.
    let v = V5;
    t.push(after_login(
        v,
        &["MQTT-1.5.4-1", "MQTT-1.5.7-1"],
        "ill-formed UTF-8 in a User Property",
        raw_publish(
            v,
            0x30,
            b"t",
            None,
            &[0x26, 0x00, 0x03, b'a', 0xC3, 0x28, 0x00, 0x01, b'v'],
        ),
    ));
    t.push(after_login(
        v,
        &["MQTT-1.5.4-1", "MQTT-3.3.2-13"],
        "ill-formed UTF-8 in a Response Topic",
        raw_publish(v, 0x30, b"t", None, &[0x08, 0x00, 0x03, b'a', 0xC3, 0x28]),
    ));
    t.push(after_login(
        v,
        &["MQTT-1.5.4-1", "MQTT-3.3.2-19"],
        "ill-formed UTF-8 in a Content Type",
        raw_publish(v, 0x30, b"t", None, &[0x03, 0x00, 0x03, b'a', 0xC3, 0x28]),
    ));
    t.push(after_login(
        v,
        &["MQTT-2.2.2-1"],
        "a PUBLISH without a Property Length",
        RawBuilder::new(0x30).string("t").build(),
    ));
    // Clean Start 0: only the statement on a session the CONNACK says is not present.
    t.push(device(
        v,
        &["MQTT-3.2.2-5", "MQTT-4.3.2-2"],
        "a first QoS 1 sending with DUP 1 after Session Present 0 to Clean Start 0",
        &[],
        |cloud, v| {
            let (mut d, present) = login_persistent(cloud, v);
            assert!(!present, "no session to resume");
            d.publish("f/1", "x", QoS::AtLeastOnce, Some(1), true);
            d.recv_until("the PUBACK", |p| matches!(p, Packet::PubAck(_)));
            d.send(&disconnect());
        },
    ));

    // ---- MQTT 5.0 in capture mode: identifiers, repeats and expiring messages.
    // The PUBREL is unacknowledged until its PUBCOMP (MQTT-4.3.3-5).
    t.push(capture(
        &["MQTT-2.2.1-3", "MQTT-4.3.3-1", "MQTT-4.3.3-5"],
        "a QoS 2 PUBLISH reusing the id of a PUBREL awaiting its PUBCOMP",
        republish_server,
        |c, _| {
            client_login(c);
            c.send(&publish(
                "t",
                QoS::ExactlyOnce,
                Some(1),
                false,
                Properties::new(),
            ));
            c.recv_until("the PUBREC", |p| matches!(p, Packet::PubRec(_)));
            c.ack(1, Packet::PubRel);
            c.send(&publish(
                "u",
                QoS::ExactlyOnce,
                Some(1),
                false,
                Properties::new(),
            ));
            c.send(&disconnect());
        },
    ));
    // The release is owed all the same; a flow left half done shows the session state not
    // kept while the connection lasts.
    t.push(
        capture(
            &["MQTT-4.1.0-1", "MQTT-4.3.3-4", "MQTT-4.3.3-7"],
            "an expiring QoS 2 PUBLISH never released",
            republish_server,
            |c, _| {
                client_login(c);
                c.send(&publish("t", QoS::ExactlyOnce, Some(1), false, expiry()));
                c.recv_until("the PUBREC", |p| matches!(p, Packet::PubRec(_)));
                c.hold_open(PAST_ACK_WINDOW);
                c.send(&disconnect());
            },
        )
        .slow(),
    );
    t.push(
        capture(
            &["MQTT-4.3.3-11", "MQTT-4.3.3-13"],
            "an expiring QoS 2 delivery never completed",
            |s, _| {
                answer_connect(s, 0, false, Properties::new());
                s.send(&publish("in", QoS::ExactlyOnce, Some(9), false, expiry()));
                s.recv_until("the PUBREC", |p| matches!(p, Packet::PubRec(_)));
                s.ack(9, Packet::PubRel);
            },
            |c, _| {
                client_login(c);
                c.recv_until("the delivery", |p| matches!(p, Packet::Publish(_)));
                c.ack(9, Packet::PubRec);
                c.recv_until("the PUBREL", |p| matches!(p, Packet::PubRel(_)));
                c.hold_open(PAST_ACK_WINDOW);
                c.send(&disconnect());
            },
        )
        .slow(),
    );
    // A new message on a finished flow's identifier is owed its acknowledgement like any.
    t.push(
        capture(
            &["MQTT-4.3.2-4", "MQTT-4.3.2-5", "MQTT-4.5.0-2"],
            "a new QoS 1 delivery on an acknowledged one's id left unacknowledged",
            |s, _| {
                answer_connect(s, 0, false, Properties::new());
                s.send(&publish(
                    "in",
                    QoS::AtLeastOnce,
                    Some(9),
                    false,
                    Properties::new(),
                ));
                s.recv_until("the PUBACK", |p| matches!(p, Packet::PubAck(_)));
                s.send(&publish(
                    "in2",
                    QoS::AtLeastOnce,
                    Some(9),
                    false,
                    Properties::new(),
                ));
            },
            |c, _| {
                client_login(c);
                c.recv_until("the delivery", |p| matches!(p, Packet::Publish(_)));
                c.ack(9, Packet::PubAck);
                c.recv_until("the second delivery", |p| matches!(p, Packet::Publish(_)));
                c.hold_open(PAST_ACK_WINDOW);
                c.send(&disconnect());
            },
        )
        .slow(),
    );
    // DUP 1 changes nothing: the PUBACK ended the earlier flow.
    t.push(
        capture(
            &["MQTT-4.3.2-4", "MQTT-4.3.2-5", "MQTT-4.5.0-2"],
            "a QoS 1 delivery sent again with DUP 1 after its PUBACK left unacknowledged",
            |s, _| {
                answer_connect(s, 0, false, Properties::new());
                s.send(&publish(
                    "in",
                    QoS::AtLeastOnce,
                    Some(9),
                    false,
                    Properties::new(),
                ));
                s.recv_until("the PUBACK", |p| matches!(p, Packet::PubAck(_)));
                s.send(&publish(
                    "in",
                    QoS::AtLeastOnce,
                    Some(9),
                    true,
                    Properties::new(),
                ));
            },
            |c, _| {
                client_login(c);
                c.recv_until("the delivery", |p| matches!(p, Packet::Publish(_)));
                c.ack(9, Packet::PubAck);
                c.recv_until("the second delivery", |p| matches!(p, Packet::Publish(_)));
                c.hold_open(PAST_ACK_WINDOW);
                c.send(&disconnect());
            },
        )
        .slow(),
    );
    t.push(
        capture(
            &["MQTT-4.3.3-8", "MQTT-4.3.3-12", "MQTT-4.5.0-2"],
            "a new QoS 2 delivery on a completed one's id left unanswered",
            |s, _| {
                answer_connect(s, 0, false, Properties::new());
                s.send(&publish(
                    "in",
                    QoS::ExactlyOnce,
                    Some(9),
                    false,
                    Properties::new(),
                ));
                s.recv_until("the PUBREC", |p| matches!(p, Packet::PubRec(_)));
                s.ack(9, Packet::PubRel);
                s.recv_until("the PUBCOMP", |p| matches!(p, Packet::PubComp(_)));
                s.send(&publish(
                    "in2",
                    QoS::ExactlyOnce,
                    Some(9),
                    false,
                    Properties::new(),
                ));
            },
            |c, _| {
                client_login(c);
                c.recv_until("the delivery", |p| matches!(p, Packet::Publish(_)));
                c.ack(9, Packet::PubRec);
                c.recv_until("the PUBREL", |p| matches!(p, Packet::PubRel(_)));
                c.ack(9, Packet::PubComp);
                c.recv_until("the second delivery", |p| matches!(p, Packet::Publish(_)));
                c.hold_open(PAST_ACK_WINDOW);
                c.send(&disconnect());
            },
        )
        .slow(),
    );
    t.push(
        capture(
            &["MQTT-4.3.3-8", "MQTT-4.3.3-9", "MQTT-4.5.0-2"],
            "a new QoS 2 delivery on the id of one refused with PUBREC 0x80 left unanswered",
            |s, _| {
                answer_connect(s, 0, false, Properties::new());
                s.send(&publish(
                    "in",
                    QoS::ExactlyOnce,
                    Some(9),
                    false,
                    Properties::new(),
                ));
                s.recv_until("the PUBREC", |p| matches!(p, Packet::PubRec(_)));
                s.send(&publish(
                    "in2",
                    QoS::ExactlyOnce,
                    Some(9),
                    false,
                    Properties::new(),
                ));
            },
            |c, _| {
                client_login(c);
                c.recv_until("the delivery", |p| matches!(p, Packet::Publish(_)));
                let mut refusal = PubResponse::new(9);
                refusal.reason_code = 0x80;
                c.send(&Packet::PubRec(refusal));
                c.recv_until("the second delivery", |p| matches!(p, Packet::Publish(_)));
                c.hold_open(PAST_ACK_WINDOW);
                c.send(&disconnect());
            },
        )
        .slow(),
    );
    t.push(
        capture(
            &["MQTT-4.3.3-8", "MQTT-4.3.3-10", "MQTT-4.5.0-2"],
            "a QoS 2 delivery repeated before its PUBREL left unanswered",
            |s, _| {
                answer_connect(s, 0, false, Properties::new());
                s.send(&publish(
                    "in",
                    QoS::ExactlyOnce,
                    Some(9),
                    false,
                    Properties::new(),
                ));
                s.recv_until("the PUBREC", |p| matches!(p, Packet::PubRec(_)));
                s.send(&publish(
                    "in",
                    QoS::ExactlyOnce,
                    Some(9),
                    true,
                    Properties::new(),
                ));
            },
            |c, _| {
                client_login(c);
                c.recv_until("the delivery", |p| matches!(p, Packet::Publish(_)));
                c.ack(9, Packet::PubRec);
                c.recv_until("the repeat", |p| matches!(p, Packet::Publish(_)));
                c.hold_open(PAST_ACK_WINDOW);
                c.send(&disconnect());
            },
        )
        .slow(),
    );

    // ---- MQTT 5.0 in capture mode: Topic Aliases from the server, re-authentication.
    // A topic named by an alias within the client's Topic Alias Maximum is not taken, so
    // the PUBLISH goes unacknowledged.
    t.push(
        capture(
            &["MQTT-3.3.2-10", "MQTT-4.3.2-4", "MQTT-4.5.0-2"],
            "a delivery naming its topic by a Topic Alias set earlier left unacknowledged",
            |s, _| {
                answer_connect(s, 0, false, Properties::new());
                s.send(&publish("in", QoS::AtLeastOnce, Some(8), false, alias(1)));
                s.recv_until("the PUBACK", |p| matches!(p, Packet::PubAck(_)));
                s.send(&publish("", QoS::AtLeastOnce, Some(9), false, alias(1)));
            },
            |c, _| {
                let aliases = Properties::new().with(
                    PropertyId::TopicAliasMaximum,
                    PropertyValue::TwoByteInteger(5),
                );
                c.send(&connect(V5, "raw", true, aliases));
                c.recv_until("the CONNACK", |p| matches!(p, Packet::ConnAck(_)));
                c.recv_until("the delivery", |p| matches!(p, Packet::Publish(_)));
                c.ack(8, Packet::PubAck);
                c.recv_until("the aliased delivery", |p| matches!(p, Packet::Publish(_)));
                c.hold_open(PAST_ACK_WINDOW);
                c.send(&disconnect());
            },
        )
        .slow(),
    );
    t.push(capture(
        &["MQTT-3.3.2-7"],
        "PINGREQ after a PUBLISH naming a Topic Alias never set",
        |s, _| {
            answer_connect(s, 0, false, Properties::new());
            s.send(&publish("", QoS::AtMostOnce, None, false, alias(3)));
        },
        |c, _| {
            client_login(c);
            c.recv_until("the aliased delivery", |p| matches!(p, Packet::Publish(_)));
            past_the_close_window(c);
            c.send(&disconnect());
        },
    ));
    // One close, two statements: after a failed re-authentication and after any
    // DISCONNECT of 0x80 or above.
    t.push(capture(
        &["MQTT-4.12.1-2", "MQTT-4.13.2-1"],
        "PINGREQ after a failed re-authentication",
        |s, _| {
            s.recv_until("the CONNECT", |p| matches!(p, Packet::Connect(_)));
            s.send(&Packet::ConnAck(ConnAck {
                session_present: false,
                code: 0,
                properties: Properties::new().with(
                    PropertyId::AuthenticationMethod,
                    PropertyValue::String("m".to_owned().into()),
                ),
            }));
            s.recv_until("the AUTH", |p| matches!(p, Packet::Auth(_)));
            s.send(&Packet::Disconnect(Disconnect {
                reason_code: 0x87,
                properties: Properties::new(),
            }));
        },
        |c, _| {
            c.send(&connect_authenticating());
            c.recv_until("the CONNACK", |p| matches!(p, Packet::ConnAck(_)));
            c.send(&auth(0x19, "m"));
            c.recv_until("the DISCONNECT", |p| matches!(p, Packet::Disconnect(_)));
            past_the_close_window(c);
        },
    ));

    // ---- MQTT 5.0 in capture mode: a Reason String or User Properties that take a
    // packet past the server's Maximum Packet Size (which the packet breaks as well).
    t.push(capture(
        &["MQTT-3.2.2-15", "MQTT-3.4.2-2"],
        "a PUBACK's Reason String past the Maximum Packet Size",
        oversized_server::<4>,
        oversized_client::<4, false>,
    ));
    t.push(capture(
        &["MQTT-3.2.2-15", "MQTT-3.4.2-3"],
        "a PUBACK's User Property past the Maximum Packet Size",
        oversized_server::<4>,
        oversized_client::<4, true>,
    ));
    t.push(capture(
        &["MQTT-3.2.2-15", "MQTT-3.5.2-2"],
        "a PUBREC's Reason String past the Maximum Packet Size",
        oversized_server::<5>,
        oversized_client::<5, false>,
    ));
    t.push(capture(
        &["MQTT-3.2.2-15", "MQTT-3.5.2-3"],
        "a PUBREC's User Property past the Maximum Packet Size",
        oversized_server::<5>,
        oversized_client::<5, true>,
    ));
    t.push(capture(
        &["MQTT-3.2.2-15", "MQTT-3.6.2-2"],
        "a PUBREL's Reason String past the Maximum Packet Size",
        oversized_server::<6>,
        oversized_client::<6, false>,
    ));
    t.push(capture(
        &["MQTT-3.2.2-15", "MQTT-3.6.2-3"],
        "a PUBREL's User Property past the Maximum Packet Size",
        oversized_server::<6>,
        oversized_client::<6, true>,
    ));
    t.push(capture(
        &["MQTT-3.2.2-15", "MQTT-3.7.2-2"],
        "a PUBCOMP's Reason String past the Maximum Packet Size",
        oversized_server::<7>,
        oversized_client::<7, false>,
    ));
    t.push(capture(
        &["MQTT-3.2.2-15", "MQTT-3.7.2-3"],
        "a PUBCOMP's User Property past the Maximum Packet Size",
        oversized_server::<7>,
        oversized_client::<7, true>,
    ));
    t.push(capture(
        &["MQTT-3.14.2-3", "MQTT-3.2.2-15"],
        "a DISCONNECT's Reason String past the Maximum Packet Size",
        oversized_server::<14>,
        oversized_client::<14, false>,
    ));
    t.push(capture(
        &["MQTT-3.14.2-4", "MQTT-3.2.2-15"],
        "a DISCONNECT's User Property past the Maximum Packet Size",
        oversized_server::<14>,
        oversized_client::<14, true>,
    ));
    t.push(capture(
        &["MQTT-3.15.2-2", "MQTT-3.2.2-15"],
        "an AUTH's Reason String past the Maximum Packet Size",
        oversized_server::<15>,
        oversized_client::<15, false>,
    ));
    t.push(capture(
        &["MQTT-3.15.2-3", "MQTT-3.2.2-15"],
        "an AUTH's User Property past the Maximum Packet Size",
        oversized_server::<15>,
        oversized_client::<15, true>,
    ));
    t
}

/// 5.0: a Message Expiry Interval of 1 s, run out well before [`PAST_ACK_WINDOW`] (only
/// past it does a flow left unfinished show expiry applied).
fn expiry() -> Properties {
    Properties::new().with(
        PropertyId::MessageExpiryInterval,
        PropertyValue::FourByteInteger(1),
    )
}

/// 5.0: Topic Alias `n`.
fn alias(n: u16) -> Properties {
    Properties::new().with(PropertyId::TopicAlias, PropertyValue::TwoByteInteger(n))
}

/// A 3.1.1 client that logs in, waits for the server's malformed packet and sends a
/// PINGREQ where it must close.
fn pingreq_after_malformed(c: &mut RawDevice, _: usize) {
    c.send(&connect(V311, "raw", true, Properties::new()));
    c.recv_until("the CONNACK", |p| matches!(p, Packet::ConnAck(_)));
    assert!(c.recv_frame().is_some(), "the malformed packet came");
    past_the_close_window(c);
}

/// A client that owes a close stays on past the window for it, then sends a PINGREQ: a
/// packet sent within the window may have crossed the server's, one after it shows the
/// connection was not closed.
fn past_the_close_window(c: &mut RawDevice) {
    std::thread::sleep(CLOSE_WINDOW);
    c.send(&Packet::PingReq);
}

/// The Maximum Packet Size the oversized cases' server allows.
const SMALL_MAXIMUM_PACKET_SIZE: u32 = 30;

/// A raw server with a Maximum Packet Size of 30 that sets up what a client answers with
/// a packet of type `KIND` (4 PUBACK, 5 PUBREC, 6 PUBREL, 7 PUBCOMP; 14 DISCONNECT and
/// 15 AUTH need nothing).
fn oversized_server<const KIND: u8>(s: &mut RawDevice, _: usize) {
    answer_connect(
        s,
        0,
        false,
        connack_with(
            PropertyId::MaximumPacketSize,
            PropertyValue::FourByteInteger(SMALL_MAXIMUM_PACKET_SIZE),
        ),
    );
    match KIND {
        4 => s.send(&publish(
            "in",
            QoS::AtLeastOnce,
            Some(9),
            false,
            Properties::new(),
        )),
        5 => s.send(&publish(
            "in",
            QoS::ExactlyOnce,
            Some(9),
            false,
            Properties::new(),
        )),
        6 => {
            s.recv_until("the PUBLISH", |p| matches!(p, Packet::Publish(_)));
            s.ack(1, Packet::PubRec);
        }
        7 => {
            s.send(&publish(
                "in",
                QoS::ExactlyOnce,
                Some(9),
                false,
                Properties::new(),
            ));
            s.recv_until("the PUBREC", |p| matches!(p, Packet::PubRec(_)));
            s.ack(9, Packet::PubRel);
        }
        _ => {}
    }
}

/// The client's side of [`oversized_server`]: its packet of type `KIND` carries a Reason
/// String (`USER` false) or a User Property (`USER` true) 40 bytes long.
fn oversized_client<const KIND: u8, const USER: bool>(c: &mut RawDevice, _: usize) {
    let long = "r".repeat(40);
    let props = if USER {
        Properties::new().with(
            PropertyId::UserProperty,
            PropertyValue::Pair(long.into(), "v".to_owned().into()),
        )
    } else {
        Properties::new().with(PropertyId::ReasonString, PropertyValue::String(long.into()))
    };
    let response = |pid: u16| {
        let mut r = PubResponse::new(pid);
        r.properties = props.clone();
        r
    };
    if KIND == 15 {
        c.send(&connect_authenticating());
        c.recv_until("the CONNACK", |p| matches!(p, Packet::ConnAck(_)));
        // Held to the CONNACK's limits only once it could have read it.
        std::thread::sleep(CONNACK_GRACE);
    } else {
        client_login(c);
    }
    match KIND {
        4 => {
            c.recv_until("the delivery", |p| matches!(p, Packet::Publish(_)));
            c.send(&Packet::PubAck(response(9)));
        }
        5 => {
            c.recv_until("the delivery", |p| matches!(p, Packet::Publish(_)));
            c.send(&Packet::PubRec(response(9)));
        }
        6 => {
            c.send(&publish(
                "t",
                QoS::ExactlyOnce,
                Some(1),
                false,
                Properties::new(),
            ));
            c.recv_until("the PUBREC", |p| matches!(p, Packet::PubRec(_)));
            c.send(&Packet::PubRel(response(1)));
        }
        7 => {
            c.recv_until("the delivery", |p| matches!(p, Packet::Publish(_)));
            c.ack(9, Packet::PubRec);
            c.recv_until("the PUBREL", |p| matches!(p, Packet::PubRel(_)));
            c.send(&Packet::PubComp(response(9)));
        }
        14 => {
            c.send(&Packet::Disconnect(Disconnect {
                reason_code: 0,
                properties: props,
            }));
            return;
        }
        _ => {
            let mut a = auth(0x19, "m");
            if let Packet::Auth(a) = &mut a {
                a.properties.0.extend(props.0);
            }
            c.send(&a);
        }
    }
    c.send(&disconnect());
}

fn stays_after_disconnect(cloud: &Cloud, v: ProtocolVersion) {
    let mut d = login(cloud, v);
    d.send(&disconnect());
    let stayed = d.hold_open(CLOSE_WINDOW + Duration::from_secs(3));
    assert!(!stayed, "the cloud closes after its wait");
}

fn no_puback(cloud: &Cloud, v: ProtocolVersion) {
    let mut d = login(cloud, v);
    d.delivered_to_self("n/1", QoS::AtLeastOnce, 1);
    d.hold_open(PAST_ACK_WINDOW);
    d.close();
}

fn no_pubrec(cloud: &Cloud, v: ProtocolVersion) {
    let mut d = login(cloud, v);
    qos2_delivery(&mut d, "n/2");
    d.hold_open(PAST_ACK_WINDOW);
    d.close();
}

fn no_pubcomp(cloud: &Cloud, v: ProtocolVersion) {
    let mut d = login(cloud, v);
    let delivered = qos2_delivery(&mut d, "n/3");
    d.ack(delivered.packet_id.unwrap(), Packet::PubRec);
    d.recv_until("the PUBREL", |p| matches!(p, Packet::PubRel(_)));
    d.hold_open(PAST_ACK_WINDOW);
    d.close();
}

fn first_qos2_with_dup(cloud: &Cloud, v: ProtocolVersion) {
    let mut d = login(cloud, v);
    d.publish("f/2", "x", QoS::ExactlyOnce, Some(1), true);
    d.recv_until("the PUBREC", |p| matches!(p, Packet::PubRec(_)));
    d.ack(1, Packet::PubRel);
    d.recv_until("the PUBCOMP", |p| matches!(p, Packet::PubComp(_)));
    d.send(&disconnect());
}

fn no_pubrel(cloud: &Cloud, v: ProtocolVersion) {
    let mut d = login(cloud, v);
    d.publish("q/1", "x", QoS::ExactlyOnce, Some(1), false);
    d.recv_until("the PUBREC", |p| matches!(p, Packet::PubRec(_)));
    d.hold_open(PAST_ACK_WINDOW);
    d.close();
}

/// A raw server that answers the CONNECT and the first PUBLISH's PUBREC, and never sends
/// the PUBCOMP.
fn republish_server(s: &mut RawDevice, _: usize) {
    answer_connect(s, 0, false, Properties::new());
    s.recv_until("the PUBLISH", |p| matches!(p, Packet::Publish(_)));
    s.ack(1, Packet::PubRec);
}

/// A QoS 2 PUBLISH (id 1) released with PUBREL and then sent again.
fn republish_after_pubrel(c: &mut RawDevice) {
    c.send(&publish(
        "t",
        QoS::ExactlyOnce,
        Some(1),
        false,
        Properties::new(),
    ));
    c.recv_until("the PUBREC", |p| matches!(p, Packet::PubRec(_)));
    c.ack(1, Packet::PubRel);
    c.send(&publish(
        "t",
        QoS::ExactlyOnce,
        Some(1),
        true,
        Properties::new(),
    ));
    c.send(&disconnect());
}

/// A raw server that withholds the PUBCOMP of the first connection's QoS 2 PUBLISH and
/// resumes the session on the second.
fn pubcomp_withheld_then_resumed(s: &mut RawDevice, k: usize) {
    answer_connect(s, 0, k > 0, Properties::new());
    if k == 0 {
        s.recv_until("the PUBLISH", |p| matches!(p, Packet::Publish(_)));
        s.ack(1, Packet::PubRec);
        s.recv_until("the PUBREL", |p| matches!(p, Packet::PubRel(_)));
    }
}

/// A persistent session's QoS 2 PUBLISH (id 1) released, and on the resumed session the
/// PUBLISH re-sent before the PUBREL.
fn publish_re_sent_after_pubrel_on_resume(c: &mut RawDevice, k: usize) {
    let v = c.version();
    let props = if v.is_v5() {
        session_expiry()
    } else {
        Properties::new()
    };
    c.send(&connect(v, "raw", false, props));
    c.recv_until("the CONNACK", |p| matches!(p, Packet::ConnAck(_)));
    if k == 0 {
        c.send(&publish(
            "t",
            QoS::ExactlyOnce,
            Some(1),
            false,
            Properties::new(),
        ));
        c.recv_until("the PUBREC", |p| matches!(p, Packet::PubRec(_)));
        c.ack(1, Packet::PubRel);
    } else {
        c.send(&publish(
            "t",
            QoS::ExactlyOnce,
            Some(1),
            true,
            Properties::new(),
        ));
        c.ack(1, Packet::PubRel);
        c.send(&disconnect());
    }
}

fn no_resend(cloud: &Cloud, v: ProtocolVersion) {
    let mut d = resumed_with_two_in_flight(cloud, v);
    d.hold_open(PAST_ACK_WINDOW);
    d.close();
}

#[test]
fn each_conduct_rule_flags_exactly_the_client_that_breaks_it() {
    let mut table = cases();
    // The cases that wait past a window start first, so the rest run meanwhile.
    table.sort_by_key(|c| !c.slow);
    let next = AtomicUsize::new(0);
    let mismatches = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL_CASES {
            scope.spawn(|| {
                while let Some(case) = table.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let outcome =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case.flagged()));
                    let line = match outcome {
                        Ok(flagged) if flagged == ids(case.rules) => continue,
                        Ok(flagged) => format!("{}: flagged {flagged:?}", case.label()),
                        Err(panic) => format!(
                            "{}: panicked: {}",
                            case.label(),
                            panic
                                .downcast_ref::<String>()
                                .map(String::as_str)
                                .or_else(|| panic.downcast_ref::<&str>().copied())
                                .unwrap_or("?")
                        ),
                    };
                    mismatches.lock().unwrap().push(line);
                }
            });
        }
    });
    let mismatches = mismatches.into_inner().unwrap();
    assert!(
        mismatches.is_empty(),
        "{} of {} cases went wrong:\n{}",
        mismatches.len(),
        table.len(),
        mismatches.join("\n")
    );
}

/// The `conduct` rules of a built-in suite.
fn conduct_rules(name: &str) -> BTreeSet<String> {
    let suite = suite::load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    suite
        .rules
        .iter()
        .filter(|r| {
            r.check
                .value
                .as_slice()
                .iter()
                .any(|c| c.conduct_v5().is_some())
        })
        .map(|r| r.id.value.clone())
        .collect()
}

#[test]
fn every_conduct_rule_of_both_suites_has_a_raw_client_that_breaks_it() {
    let table = cases();
    for version in [V311, V5] {
        let rules = conduct_rules(suite_of(version));
        assert!(!rules.is_empty(), "{} has conduct rules", suite_of(version));
        let played: BTreeSet<String> = table
            .iter()
            .filter(|c| c.version == version)
            .flat_map(|c| c.rules.iter().map(|r| (*r).to_owned()))
            .collect();
        let unplayed: Vec<&String> = rules.difference(&played).collect();
        assert!(
            unplayed.is_empty(),
            "MQTT {version}: no raw client breaks {unplayed:?}"
        );
        let unknown: Vec<&String> = played.difference(&rules).collect();
        assert!(
            unknown.is_empty(),
            "MQTT {version}: cases expect {unknown:?}, which are no conduct rules of {}",
            suite_of(version)
        );
    }
}

#[test]
fn a_device_keeping_every_duty_is_flagged_with_nothing() {
    for version in [V311, V5] {
        let flagged = flagged_after(version, "conforming", 1, &[], |cloud| {
            let (mut d, _) =
                RawDevice::login(cloud, version, "conforming", true, Properties::new());
            let delivered = d.delivered_to_self("c/1", QoS::AtLeastOnce, 1);
            d.ack(delivered.packet_id.unwrap(), Packet::PubAck);
            d.send(&Packet::Disconnect(Default::default()));
        });
        assert_eq!(flagged, Vec::<String>::new(), "MQTT {version}");
    }
}

/// PUBLISH packets beyond the CONNACK's Receive Maximum that arrive within the grace after
/// it may have left before the client read it: the rule is inconclusive and says so, even
/// though the client then keeps the quota for as long as the connection lasts — never a
/// pass.
#[test]
fn a_quota_exceeded_within_the_connack_grace_is_inconclusive_not_passed() {
    let report = captured_report(
        V5,
        1,
        |s, _| {
            answer_connect(
                s,
                0,
                false,
                connack_with(PropertyId::ReceiveMaximum, PropertyValue::TwoByteInteger(1)),
            );
        },
        |c, _| {
            c.send(&connect(V5, "raw", true, Properties::new()));
            c.recv_until("the CONNACK", |p| matches!(p, Packet::ConnAck(_)));
            for pid in [1, 2] {
                let p = publish("t", QoS::AtLeastOnce, Some(pid), false, Properties::new());
                c.send(&p);
            }
            // Past the grace, the quota used up: nothing more is sent.
            std::thread::sleep(CONNACK_GRACE * 2);
            c.send(&disconnect());
        },
    );
    let case = report["suites"]
        .as_array()
        .expect("suites")
        .iter()
        .flat_map(|s| s["cases"].as_array().cloned().unwrap_or_default())
        .find(|c| c["id"] == "MQTT-3.3.4-7")
        .expect("MQTT-3.3.4-7 is reported");
    assert_eq!(case["verdict"]["status"], "inconclusive", "{case}");
    let message = case["verdict"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("a new QoS 1 PUBLISH (id 2) with 1 already unacknowledged; the CONNACK's Receive Maximum is 1, ")
            && message.ends_with(" s after the CONNACK: inside the 0.5 s after it in which a packet may have left the client before the CONNACK reached it, so whether the limit bound it cannot be told"),
        "{message}"
    );
}

/// MQTT-3.1.0-1's verdict on each connection of the capture at `path` judged with
/// `--pcap`, by the connection's group (its client id and addresses): status and message.
fn first_packet_verdicts(
    version: ProtocolVersion,
    path: &std::path::Path,
) -> Vec<(String, String, String)> {
    let report = judge_capture(suite_of(version), &[path], &[], &[]);
    let mut verdicts: Vec<(String, String, String)> = report["suites"]
        .as_array()
        .expect("suites")
        .iter()
        .flat_map(|s| {
            let group = s["name"].as_str().unwrap_or_default().to_owned();
            s["cases"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["id"] == "MQTT-3.1.0-1")
                .map(move |c| {
                    (
                        group.clone(),
                        c["verdict"]["status"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        c["verdict"]["message"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    )
                })
        })
        .collect();
    verdicts.sort();
    verdicts
}

/// A capture that holds a connection's TCP handshake shows its first packet: MQTT-3.1.0-1
/// gets the live verdict (passed for a CONNECT first, failed for a PINGREQ first). The
/// same connections in a capture that began after they opened stay inconclusive, and say
/// why.
#[test]
fn the_first_packet_is_judged_in_a_capture_only_when_it_holds_the_connections_start() {
    fn server(s: &mut RawDevice, _: usize) {
        answer_connect(s, 0, false, Properties::new());
    }
    fn client(c: &mut RawDevice, k: usize) {
        let v = c.version();
        let id = if k == 0 {
            "connect-first"
        } else {
            c.send_bytes(&[0xC0, 0x00]);
            "pingreq-first"
        };
        c.send(&connect(v, id, true, Properties::new()));
        c.recv_until("the CONNACK", |p| matches!(p, Packet::ConnAck(_)));
        c.send(&disconnect());
    }
    for v in [V311, V5] {
        let relay = relayed(v, 2, server, client);
        let whole = capture_path();
        relay.write_pcapng(&whole, 1883);
        let midway = capture_path();
        relay.write_pcapng_joined_midway(&midway, 1883);
        let seen_whole = first_packet_verdicts(v, &whole);
        let seen_midway = first_packet_verdicts(v, &midway);
        let _ = std::fs::remove_file(&whole);
        let _ = std::fs::remove_file(&midway);

        let statuses = |seen: &[(String, String, String)]| -> Vec<(String, String)> {
            seen.iter()
                .map(|(group, status, _)| {
                    let id = group.split(' ').next().unwrap_or_default().to_owned();
                    (id, status.clone())
                })
                .collect()
        };
        assert_eq!(
            statuses(&seen_whole),
            [
                ("connect-first".to_owned(), "passed".to_owned()),
                ("pingreq-first".to_owned(), "failed".to_owned())
            ],
            "MQTT {v}, with the handshakes: {seen_whole:#?}"
        );
        assert!(
            seen_whole[1]
                .2
                .contains("the first packet on the connection is PINGREQ, not CONNECT"),
            "MQTT {v}: {seen_whole:#?}"
        );
        assert_eq!(
            statuses(&seen_midway),
            [
                ("connect-first".to_owned(), "inconclusive".to_owned()),
                ("pingreq-first".to_owned(), "inconclusive".to_owned())
            ],
            "MQTT {v}, joined midway: {seen_midway:#?}"
        );
        for (group, _, message) in &seen_midway {
            assert!(
                message.contains("the capture began after the connection opened"),
                "MQTT {v}, {group}: {message}"
            );
        }
    }
}
