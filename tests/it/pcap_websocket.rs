//! MQTT over WebSocket in capture mode: the pcapng writer's WebSocket frames read by
//! tshark and by our own reader (round trip), and a real capture of a client talking to
//! mosquitto over ws:// judged with `--pcap`.

use crate::support::loopback::LoopbackCapture;
use crate::support::tshark::{TempFile, fields};
use bytes::Bytes;
use mqtt_conform::capture::flows::{Analyzer, AnalyzerConfig, ConnectionKind, Detection};
use mqtt_conform::capture::read::{CaptureReader, Item, MergedReader};
use mqtt_conform::codec::{
    ConnAck, Connect, Packet, ProtocolVersion, Publish, QoS, SubAck, Subscribe, Subscription,
    encode_to_vec,
};
use mqtt_conform::event::{Endpoints, Event, EventKind, Side, WebSocketEvent};
use mqtt_conform::report::pcapng::CaptureWriter;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, UNIX_EPOCH};

const V4: ProtocolVersion = ProtocolVersion::V3_1_1;

/// tshark's `-X` option loading a Lua line that hands WebSocket messages whose
/// negotiated subprotocol is `mqtt` to the MQTT dissector (Wireshark 4.0 does not; later
/// versions do, and the line then changes nothing).
fn ws_mqtt_lua() -> TempLua {
    let path =
        std::env::temp_dir().join(format!("mqtt-conform-ws-mqtt-{}.lua", std::process::id()));
    std::fs::write(
        &path,
        "DissectorTable.get(\"ws.protocol\"):add(\"mqtt\", Dissector.get(\"mqtt\"))\n",
    )
    .unwrap();
    TempLua(path)
}

/// The Lua file, removed when dropped.
struct TempLua(PathBuf);

impl TempLua {
    fn display(&self) -> std::path::Display<'_> {
        self.0.display()
    }
}

impl Drop for TempLua {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn packet(p: Packet) -> EventKind {
    EventKind::Packet {
        bytes: Bytes::from(encode_to_vec(&p, V4).expect("encodes")),
        packet: Ok(p),
    }
}

fn ev(at_ms: u64, from: Side, kind: EventKind) -> Event {
    Event {
        conn: 1,
        at: Duration::from_millis(at_ms),
        from,
        kind,
    }
}

fn publish(topic: &str, len: usize) -> EventKind {
    let mut p = Publish::new(topic, vec![b'x'; len]);
    if len > 100 {
        p.qos = QoS::AtLeastOnce;
        p.packet_id = Some(7);
    }
    packet(Packet::Publish(p))
}

const SERVER_PORT: u16 = 9001;

/// A WebSocket conversation as a live session's events: upgrade, CONNECT/CONNACK,
/// SUBSCRIBE/SUBACK, PUBLISHes both ways (one over several TCP segments, one over 64 KiB:
/// a 64-bit frame length), a text message from the server, Close frames, the end.
fn conversation() -> Vec<Event> {
    let endpoints = Endpoints {
        client: "127.0.0.1:53111".parse().unwrap(),
        server: format!("127.0.0.1:{SERVER_PORT}").parse().unwrap(),
    };
    vec![
        ev(0, Side::Client, EventKind::opened(Some(endpoints))),
        ev(
            1,
            Side::Client,
            EventKind::WebSocket(WebSocketEvent::Handshake {
                path: "/mqtt".into(),
                offered: vec!["mqtt".into(), "mqttv3.1".into()],
                selected: Some("mqtt".into()),
                status: Some(101),
            }),
        ),
        ev(
            2,
            Side::Client,
            packet(Packet::Connect(Box::new(Connect::new(V4, "ws-dev")))),
        ),
        ev(
            3,
            Side::Server,
            packet(Packet::ConnAck(ConnAck {
                session_present: false,
                code: 0,
                properties: Default::default(),
            })),
        ),
        ev(
            4,
            Side::Client,
            packet(Packet::Subscribe(Subscribe {
                packet_id: 1,
                subscriptions: vec![Subscription::new("a/#", QoS::AtLeastOnce)],
                properties: Default::default(),
            })),
        ),
        ev(
            5,
            Side::Server,
            packet(Packet::SubAck(SubAck {
                packet_id: 1,
                return_codes: vec![1],
                properties: Default::default(),
            })),
        ),
        ev(6, Side::Client, publish("a/b", 10)),
        ev(7, Side::Server, publish("a/b", 10)),
        ev(8, Side::Client, publish("a/big", 3000)),
        ev(9, Side::Server, publish("a/huge", 70_000)),
        ev(
            10,
            Side::Server,
            EventKind::WebSocket(WebSocketEvent::NonBinary {
                opcode: 1,
                len: 5,
                head: Bytes::from_static(b"hello"),
            }),
        ),
        ev(
            11,
            Side::Client,
            EventKind::WebSocket(WebSocketEvent::Close { code: Some(1000) }),
        ),
        ev(
            12,
            Side::Server,
            EventKind::WebSocket(WebSocketEvent::Close { code: Some(1000) }),
        ),
        // The client's Close frame came first: the client closed (the server's FIN ends TCP,
        // as RFC 6455 has it).
        ev(
            13,
            Side::Client,
            EventKind::Closed {
                by: Some(Side::Client),
                detail: "EOF".into(),
            },
        ),
    ]
}

fn write(events: &[Event], file: &Path) {
    let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut w = CaptureWriter::create(file, start).unwrap();
    for e in events {
        w.event(e).unwrap();
    }
    w.finish().unwrap();
}

/// (side, what) of the events a reader should agree on: packets by their bytes, the
/// WebSocket events, the close.
fn essentials(events: &[Event]) -> Vec<(Side, String)> {
    events
        .iter()
        .filter_map(|e| {
            let what = match &e.kind {
                EventKind::Packet { bytes, packet } => {
                    format!(
                        "packet {} ok={}",
                        mqtt_conform::event::hex_preview(bytes),
                        packet.is_ok()
                    )
                }
                EventKind::WebSocket(ws) => format!("{ws:?}"),
                EventKind::Closed { by, .. } => format!("closed by {by:?}"),
                _ => return None,
            };
            Some((e.from, what))
        })
        .collect()
}

#[test]
fn pcap_websocket_frames_written_open_in_tshark_as_mqtt() {
    let file = TempFile::new("write");
    let events = conversation();
    write(&events, &file.0);
    let lua_file = ws_mqtt_lua();
    let lua = format!("lua_script:{}", lua_file.display());
    let decode = format!("tcp.port=={SERVER_PORT},http");
    let extra = ["-X", lua.as_str(), "-d", decode.as_str()];
    // The upgrade is HTTP, the rest WebSocket frames, binary ones carrying MQTT.
    let http = fields(
        &file.0,
        &extra,
        "http",
        &["http.request.method", "http.response.code", "http.upgrade"],
    );
    assert_eq!(http.len(), 2, "{http:?}");
    assert_eq!(http[0][0], "GET");
    assert_eq!(http[1][1], "101");
    let ws = fields(
        &file.0,
        &extra,
        "websocket",
        &[
            "tcp.srcport",
            "websocket.opcode",
            "websocket.mask",
            "mqtt.msgtype",
        ],
    );
    let flat: Vec<(bool, String, String, String)> = ws
        .iter()
        .flat_map(|row| {
            let client = row[0] != SERVER_PORT.to_string();
            let ops: Vec<&str> = row[1].split(',').collect();
            let masks: Vec<&str> = row[2].split(',').collect();
            ops.iter()
                .zip(masks)
                .map(|(o, m)| (client, o.to_string(), m.to_string(), row[3].clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let opcodes: Vec<(bool, &str)> = flat.iter().map(|(c, o, _, _)| (*c, o.as_str())).collect();
    assert_eq!(
        opcodes,
        [
            (true, "2"),
            (false, "2"),
            (true, "2"),
            (false, "2"),
            (true, "2"),
            (false, "2"),
            (true, "2"),
            (false, "2"),
            (false, "1"),
            (true, "8"),
            (false, "8"),
        ],
        "{ws:?}"
    );
    assert!(
        flat.iter()
            .all(|(c, _, m, _)| (m == "1" || m == "True") == *c),
        "{ws:?}"
    );
    // (tshark hands text messages to the subprotocol's dissector too: binary ones only.)
    let mqtt: Vec<String> = fields(
        &file.0,
        &extra,
        "mqtt && websocket.opcode == 2",
        &["mqtt.msgtype"],
    )
    .into_iter()
    .flat_map(|r| r[0].split(',').map(str::to_owned).collect::<Vec<_>>())
    .collect();
    assert_eq!(mqtt, ["1", "2", "8", "9", "3", "3", "3", "3"], "{ws:?}");
    // Nothing malformed, no TCP analysis flag, no expert warning.
    let complaints = fields(
        &file.0,
        &extra,
        "_ws.malformed || tcp.analysis.flags || _ws.expert.severity >= warning",
        &["frame.number", "_ws.col.Info", "_ws.expert.message"],
    );
    assert!(complaints.is_empty(), "{complaints:?}");

    // Our own reader: the same packets, the same handshake and WebSocket events.
    let bytes = std::fs::read(&file.0).unwrap();
    let mut analyzer = Analyzer::new(AnalyzerConfig::default());
    let mut read = Vec::new();
    MergedReader::new(vec![CaptureReader::new(&bytes[..], 0).unwrap()])
        .for_each_item(|item| match item {
            Item::Segment(seg) => analyzer.segment(&seg, &mut |e| read.push(e)),
            Item::Notice(n) => panic!("{n:?}"),
        })
        .unwrap();
    analyzer.finish(&mut |e| read.push(e));
    let notices = analyzer.notices();
    assert!(notices.is_empty(), "{notices:?}");
    assert_eq!(essentials(&read), essentials(&events));
    let info = &analyzer.connections()[0];
    assert_eq!(
        (info.kind, info.detection),
        (ConnectionKind::Mqtt, Detection::Subprotocol)
    );
    assert_eq!(analyzer.stats().websocket_flows, 1);
}

// ---------------------------------------------------------------------------------------
// A real capture
// ---------------------------------------------------------------------------------------

/// Two paho-mqtt clients over ws:// (MQTT 3.1.1, path `/mqtt`, subprotocol `mqtt`): a
/// subscriber to `ws/#` at QoS 2 and a publisher sending QoS 0, 1 and 2 messages that
/// the subscriber receives; both disconnect.
const PAHO_CLIENTS: &str = r#"
import sys, time
import paho.mqtt.client as mqtt
port = int(sys.argv[1])
def client(cid):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, transport="websockets", protocol=mqtt.MQTTv311)
    c.ws_set_options(path="/mqtt")
    return c
import threading
got = []
subscribed = threading.Event()
sub = client("ws-sub")
sub.on_message = lambda c, u, m: got.append(m.payload)
sub.on_subscribe = lambda *args: subscribed.set()
sub.connect("127.0.0.1", port, keepalive=30)
sub.loop_start()
r, mid = sub.subscribe("ws/#", qos=2)
assert subscribed.wait(10), "no SUBACK"
pub = client("ws-pub")
pub.connect("127.0.0.1", port, keepalive=30)
pub.loop_start()
for qos in (0, 1, 2):
    pub.publish("ws/t%d" % qos, b"x" * (10 + 1000 * qos), qos=qos).wait_for_publish(10)
deadline = time.time() + 10
while len(got) < 3 and time.time() < deadline:
    time.sleep(0.05)
pub.disconnect(); pub.loop_stop()
sub.disconnect(); sub.loop_stop()
assert len(got) == 3, got
"#;

#[test]
fn pcap_websocket_a_real_capture_of_paho_over_ws_is_judged() {
    use crate::support::capture_cli::judge_capture;
    use crate::support::mosquitto::{Mosquitto, free_port, temp_dir};

    let ws_port = free_port();
    let broker = Mosquitto::start_in(
        temp_dir("ws-capture"),
        &format!("allow_anonymous true\nlistener {ws_port} 127.0.0.1\nprotocol websockets"),
    );
    // The websockets listener may come up after the TCP one the start waited for.
    let ready = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", ws_port)).is_err() {
        assert!(
            Instant::now() < ready,
            "mosquitto's websockets listener did not come up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let kept = TempFile::new("capture");
    let wire = LoopbackCapture::start(ws_port, kept.0.clone());
    let out = Command::new("python3")
        .args(["-c", PAHO_CLIENTS, &ws_port.to_string()])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "the paho clients failed (python3-paho-mqtt installed?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = wire.stop();
    let port = ws_port.to_string();
    let doc = judge_capture("mqtt-3.1.1", &[&file], &["--port", &port], &[]);
    let groups = doc["suites"].as_array().expect("suites");
    // The two clients' connections are WebSocket ones, named after their client ids.
    let ws_groups: Vec<&serde_json::Value> = groups
        .iter()
        .filter(|g| {
            g["name"]
                .as_str()
                .unwrap_or_default()
                .contains("(WebSocket ")
        })
        .collect();
    let names: Vec<&str> = ws_groups
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("ws-sub")), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("ws-pub")), "{names:?}");
    for g in &ws_groups {
        let props = g["properties"].as_array().expect("properties");
        let ws = props
            .iter()
            .find(|p| p[0] == "websocket" || p["name"] == "websocket")
            .unwrap_or_else(|| panic!("no websocket property: {props:?}"));
        let text = ws.to_string();
        assert!(
            text.contains("path /mqtt, offered [mqtt], selected mqtt"),
            "{text}"
        );
        // Every rule that applies to what the clients did passes: nothing failed, no
        // error, and the packets were judged (passed verdicts).
        let statuses: Vec<(&str, &str)> = g["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .map(|c| {
                (
                    c["id"].as_str().unwrap_or_default(),
                    c["verdict"]["status"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        let bad: Vec<_> = statuses
            .iter()
            .filter(|(_, s)| matches!(*s, "failed" | "error" | "warning"))
            .collect();
        assert!(bad.is_empty(), "{}: {bad:?}", g["name"]);
        assert!(
            statuses.iter().filter(|(_, s)| *s == "passed").count() >= 5,
            "{}: {statuses:?}",
            g["name"]
        );
    }
    // The capture's own notes: no WebSocket protocol error, nothing not analysed.
    let capture = groups.iter().find(|g| g["name"] == "capture");
    if let Some(c) = capture {
        let text = c.to_string();
        assert!(!text.contains("CAPTURE-WEBSOCKET"), "{text}");
        assert!(!text.contains("CAPTURE-STREAM-GAP"), "{text}");
    }
    drop(broker);
}

/// The same two clients over wss:// (TLS to `localhost`, trusting `ca`), writing their
/// TLS secrets to a key log.
const PAHO_TLS_CLIENTS: &str = r#"
import ssl, sys
port, ca, keylog = int(sys.argv[1]), sys.argv[2], sys.argv[3]
import paho.mqtt.client as mqtt
real = mqtt.Client
def tls_client(*args, **kwargs):
    c = real(*args, **kwargs)
    ctx = ssl.create_default_context(cafile=ca)
    ctx.keylog_filename = keylog
    c.tls_set_context(ctx)
    return c
mqtt.Client = tls_client
HOST = "localhost"
"#;

#[test]
fn pcap_websocket_a_real_wss_capture_is_judged_with_a_key_log() {
    use crate::support::capture_cli::judge_capture;
    use crate::support::mosquitto::{Mosquitto, free_port, temp_dir};

    let dir = temp_dir("wss-capture");
    let pki = crate::support::pki::make(&dir, "good");
    let wss_port = free_port();
    let broker = Mosquitto::start_in(
        dir.clone(),
        &format!(
            "allow_anonymous true\nlistener {wss_port} 127.0.0.1\nprotocol websockets\ncafile {}\ncertfile {}\nkeyfile {}",
            pki.ca.display(),
            pki.server_cert.display(),
            pki.server_key.display()
        ),
    );
    let ready = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", wss_port)).is_err() {
        assert!(
            Instant::now() < ready,
            "mosquitto's wss listener did not come up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let kept = TempFile::new("wss-capture");
    let keylog = dir.join("keys.log");
    let wire = LoopbackCapture::start(wss_port, kept.0.clone());
    let script = format!(
        "{PAHO_TLS_CLIENTS}{}",
        PAHO_CLIENTS.replace("\"127.0.0.1\"", "HOST")
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .arg(wss_port.to_string())
        .arg(&pki.ca)
        .arg(&keylog)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "the paho clients failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = wire.stop();
    let port = wss_port.to_string();
    let keylog_arg = keylog.display().to_string();
    let doc = judge_capture(
        "mqtt-3.1.1",
        &[&file],
        &["--port", &port, "--tls-keylog", &keylog_arg],
        &[],
    );
    let groups = doc["suites"].as_array().expect("suites");
    let ws_groups: Vec<&serde_json::Value> = groups
        .iter()
        .filter(|g| g.to_string().contains("offered [mqtt]"))
        .collect();
    let names: Vec<&str> = ws_groups
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names.iter().any(|n| n.starts_with("ws-sub (TLS ")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.starts_with("ws-pub (TLS ")),
        "{names:?}"
    );
    for g in &ws_groups {
        let text = g["properties"].to_string();
        assert!(
            text.contains("path /mqtt, offered [mqtt], selected mqtt"),
            "{text}"
        );
        let statuses: Vec<&str> = g["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .map(|c| c["verdict"]["status"].as_str().unwrap_or_default())
            .collect();
        assert!(
            statuses.iter().all(|s| *s == "passed") && statuses.len() >= 5,
            "{}: {statuses:?}",
            g["name"]
        );
    }
    drop(broker);
}

// ---------------------------------------------------------------------------------------
// permessage-deflate
// ---------------------------------------------------------------------------------------

/// What one capture of MQTT.js's QoS exchange with aedes over ws:// gives: the packets our
/// reader found, the WebSocket notices, and every rule's verdict.
struct Judged {
    packets: u64,
    notices: Vec<String>,
    verdicts: std::collections::BTreeMap<String, String>,
    /// The replay of the capture's client to the same broker over TCP: (id, status,
    /// what was measured) of its cases.
    replay: Vec<(String, String, String)>,
}

/// MQTT.js (tests/js/qos.js: 5 QoS 1 and 5 QoS 2 messages to itself) talks to aedes over
/// ws:// with `deflate` (`None`: no compression offered; `takeover` or
/// `no-context-takeover`: accepted, every message compressed) while tshark captures the
/// loopback; the capture is judged by our reader and with `--pcap`, and its client
/// replayed to the broker's TCP listener with `--replay-to`.
fn mqttjs_to_aedes_over_ws(deflate: Option<&str>) -> Judged {
    use crate::support::brokers::Broker;
    use crate::support::capture_cli::{judge_capture, worst};
    use crate::support::program::wait_for;

    let broker = Broker::start_aedes_with_websocket(deflate);
    let port = broker.port_ws.expect("a WebSocket listener");
    let kept = TempFile::new("deflate");
    let wire = LoopbackCapture::start(port, kept.0.clone());
    let client = Command::new("node")
        .arg(crate::support::brokers::js_dir().join("qos.js"))
        .envs([
            ("QX_HOST", "127.0.0.1"),
            ("QX_PORT", &port.to_string()),
            ("QX_PROTOCOL", "3.1.1"),
            ("QX_CLIENT_ID", "ws-deflate"),
            ("QX_FILTER", "wsd/#"),
            ("QX_TOPIC", "wsd/t"),
            ("QX_COUNT", "5"),
            (
                "QX_WEBSOCKET",
                if deflate.is_some() {
                    "deflate"
                } else {
                    "plain"
                },
            ),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    wait_for(client, Duration::from_secs(30)).expect("MQTT.js over ws:// to aedes");
    let file = wire.stop();

    // tshark: the data frames of both sides carry the Per-Message Compressed bit exactly
    // when compression was accepted.
    let decode = format!("tcp.port=={port},http");
    let frames = fields(
        &file,
        &["-d", decode.as_str()],
        "websocket.opcode == 2",
        &["websocket.pmc", "websocket.mask"],
    );
    // A row per TCP segment, its frames' values comma-separated; no `pmc` field at all
    // where the extension was not negotiated.
    let seen: std::collections::BTreeSet<(&str, &str)> = frames
        .iter()
        .flat_map(|f| {
            let masks = f[1].split(',');
            let pmcs = f[0]
                .split(',')
                .filter(|p| !p.is_empty())
                .chain(std::iter::repeat("0"));
            pmcs.zip(masks)
        })
        .collect();
    let pmc = if deflate.is_some() { "1" } else { "0" };
    // Server frames unmasked, client frames masked, all compressed or none.
    assert_eq!(
        seen,
        [(pmc, "0"), (pmc, "1")].into_iter().collect(),
        "(pmc, mask) of the binary frames: {frames:?}"
    );

    let bytes = std::fs::read(&file).expect("the capture");
    let mut analyzer = Analyzer::new(AnalyzerConfig {
        ports: vec![port],
        ..AnalyzerConfig::default()
    });
    MergedReader::new(vec![CaptureReader::new(&bytes[..], 0).expect("a capture")])
        .for_each_item(|item| match item {
            Item::Segment(seg) => analyzer.segment(&seg, &mut |_| {}),
            Item::Notice(n) => panic!("{n:?}"),
        })
        .expect("read");
    analyzer.finish(&mut |_| {});
    let notices = analyzer.notices().into_iter().map(|n| n.detail).collect();
    let packets = analyzer.stats().packets;
    let port = port.to_string();
    let doc = judge_capture("mqtt-3.1.1", &[&file], &["--port", &port], &[]);
    let cases: Vec<&serde_json::Value> = doc["suites"]
        .as_array()
        .expect("suites")
        .iter()
        .filter(|g| {
            g["name"]
                .as_str()
                .unwrap_or_default()
                .starts_with("ws-deflate ")
        })
        .flat_map(|g| g["cases"].as_array().expect("cases"))
        .collect();
    let verdicts = worst(cases);
    let replayed = judge_capture(
        "mqtt-3.1.1",
        &[&file],
        &[
            "--port",
            &port,
            "--replay-to",
            &broker.url(),
            "--speed",
            "0",
        ],
        &[],
    );
    let replay = replayed["suites"]
        .as_array()
        .expect("suites")
        .iter()
        .flat_map(|g| g["cases"].as_array().expect("cases"))
        .map(|c| {
            let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
            (
                text(&c["id"]),
                text(&c["verdict"]["status"]),
                text(&c["measured"]),
            )
        })
        .collect();
    Judged {
        packets,
        notices,
        verdicts,
        replay,
    }
}

#[test]
fn pcap_websocket_compressed_messages_are_judged_as_the_plain_ones() {
    // Which ordering rules apply depends on how the flows interleaved in each run; these
    // apply to every run of the exchange.
    const ALWAYS: [&str; 8] = [
        "MQTT311-WELL-FORMED",
        "MQTT311-PROTOCOL-ERRORS",
        "MQTT-4.3.2-1",
        "MQTT-4.3.2-2",
        "MQTT-4.3.3-1",
        "MQTT-4.3.3-2",
        "MQTT-6.0.0-1",
        "MQTT-6.0.0-3",
    ];
    for deflate in [None, Some("takeover"), Some("no-context-takeover")] {
        let judged = mqttjs_to_aedes_over_ws(deflate);
        assert!(
            judged.notices.is_empty(),
            "{deflate:?}: {:?}",
            judged.notices
        );
        // CONNECT, SUBSCRIBE, 5 QoS 1 and 5 QoS 2 flows each way, DISCONNECT, the acks.
        assert_eq!(judged.packets, 65, "{deflate:?}");
        assert!(
            judged.verdicts.values().all(|s| s == "passed")
                && ALWAYS.iter().all(|id| judged.verdicts.contains_key(*id)),
            "{deflate:?}: {:?}",
            judged.verdicts
        );
        // Replayed over TCP, the broker answers as it did over WebSocket.
        let replay: Vec<(&str, &str)> = judged
            .replay
            .iter()
            .map(|(id, status, _)| (id.as_str(), status.as_str()))
            .collect();
        assert_eq!(
            replay,
            [("REPLAY-RESPONSES", "passed"), ("REPLAY-CLOSE", "passed")],
            "{deflate:?}: {:?}",
            judged.replay
        );
        assert!(
            judged.replay[0]
                .2
                .contains("32/32 recorded server packets matched"),
            "{:?}",
            judged.replay
        );
        assert!(
            judged.replay[1]
                .2
                .contains("recorded: the client sent DISCONNECT")
                && !judged.replay[1].2.contains("by server by"),
            "{:?}",
            judged.replay
        );
    }
}

/// The capture fuzz target's seeds (fuzz/seeds/capture: tshark captures of MQTT.js and
/// aedes over ws://, plain and with permessage-deflate both ways) are whole sessions our
/// reader follows to the end: 29 MQTT packets each, one WebSocket flow, no note.
#[test]
fn pcap_websocket_the_fuzz_seeds_are_whole_sessions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/capture");
    let mut seeds: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fuzz/seeds/capture")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    seeds.sort();
    assert_eq!(seeds.len(), 3, "{seeds:?}");
    for seed in seeds {
        let bytes = std::fs::read(&seed).expect("a seed");
        let mut analyzer = Analyzer::new(AnalyzerConfig::default());
        MergedReader::new(vec![CaptureReader::new(&bytes[..], 0).expect("a capture")])
            .for_each_item(|item| match item {
                Item::Segment(seg) => analyzer.segment(&seg, &mut |_| {}),
                Item::Notice(n) => panic!("{}: {n:?}", seed.display()),
            })
            .expect("read");
        analyzer.finish(&mut |_| {});
        let stats = analyzer.stats();
        assert_eq!(
            (stats.packets, stats.websocket_flows),
            (29, 1),
            "{}",
            seed.display()
        );
        assert!(analyzer.notices().is_empty(), "{}", seed.display());
    }
}
