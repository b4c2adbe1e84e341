//! Device mode over WebSocket (`--listen ws://…`, `wss://…`): real clients — paho-mqtt with
//! its websockets transport and MQTT.js — get the verdicts they get over TCP, and pass the
//! WebSocket rules (MQTT-6.0.0-1 binary messages only, MQTT-6.0.0-3 `mqtt` offered), which a
//! TCP device is not judged by; a client that offers no `mqtt` subprotocol is refused and
//! failed for it; a raw client sending a text message is failed for MQTT-6.0.0-1.

use crate::support::cloud::Cloud;
use crate::support::pki;
use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

/// How long a device-mode run here lasts at most.
const RUN: Duration = Duration::from_secs(20);

/// The same exchange from either client: connect, subscribe at QoS 1, publish one QoS 1
/// message to it, take its delivery, disconnect.
fn play(program: &str, port: u16, websocket: Option<&str>, ca: Option<&std::path::Path>) {
    let tls = ca.is_some();
    let ca_text = ca.map(|p| p.display().to_string()).unwrap_or_default();
    let status = match program {
        "paho" => {
            let transport = if websocket.is_some() {
                "websockets"
            } else {
                "tcp"
            };
            let script = format!(
                "import paho.mqtt.client as mqtt, threading\n\
                 done = threading.Event()\n\
                 c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id='dev-paho', transport='{transport}')\n\
                 if {ws}: c.ws_set_options(path='{path}')\n\
                 if {tls}: c.tls_set(ca_certs='{ca_text}')\n\
                 c.on_connect = lambda c, u, f, rc, p: c.subscribe('dev/paho', qos=1)\n\
                 c.on_subscribe = lambda c, u, m, rc, p: c.publish('dev/paho', b'hi', qos=1)\n\
                 c.on_message = lambda c, u, m: done.set()\n\
                 c.connect('localhost', {port}, 10)\n\
                 c.loop_start()\n\
                 assert done.wait(10), 'no delivery'\n\
                 c.disconnect(); c.loop_stop()\n",
                ws = if websocket.is_some() { "True" } else { "False" },
                path = websocket.unwrap_or("/"),
                tls = if tls { "True" } else { "False" },
            );
            Command::new("python3").args(["-c", &script]).status()
        }
        _ => {
            let scheme = match (websocket.is_some(), tls) {
                (true, true) => "wss",
                (true, false) => "ws",
                (false, true) => "mqtts",
                (false, false) => "mqtt",
            };
            let url = format!("{scheme}://localhost:{port}{}", websocket.unwrap_or(""));
            let script = format!(
                "const fs = require('fs');\n\
                 const opts = {{clientId: 'dev-js', protocolVersion: 4, reconnectPeriod: 0}};\n\
                 if ({tls}) opts.ca = fs.readFileSync('{ca_text}');\n\
                 const c = require('mqtt').connect('{url}', opts);\n\
                 c.on('connect', () => c.subscribe('dev/js', {{qos: 1}}, () => c.publish('dev/js', 'hi', {{qos: 1}})));\n\
                 c.on('message', () => c.end());\n\
                 c.on('close', () => process.exit(0));\n\
                 c.on('error', e => {{ console.error(e.message); process.exit(1); }});\n\
                 setTimeout(() => process.exit(2), 10000);\n"
            );
            node(&script)
        }
    };
    assert!(
        status.expect("the client program runs").success(),
        "{program} over {websocket:?} failed"
    );
}

/// Runs `script` with node where MQTT.js is installed (tests/js).
fn node(script: &str) -> std::io::Result<std::process::ExitStatus> {
    Command::new("node")
        .args(["-e", script])
        .current_dir(crate::support::brokers::js_dir())
        .status()
}

/// The verdicts device mode gives `program` listening on `listen` (extra flags `extra`).
fn verdicts(
    program: &str,
    listen: &str,
    extra: &[&str],
    ca: Option<&std::path::Path>,
) -> BTreeMap<String, String> {
    let cloud = Cloud::start_listening("mqtt-3.1.1", "dev-ws", listen, 1, RUN, extra);
    let websocket = listen.contains("://").then_some("/mqtt");
    play(program, cloud.port, websocket, ca);
    cloud.verdicts().into_iter().collect()
}

/// The rules only a WebSocket connection is judged by.
const WEBSOCKET_RULES: [&str; 2] = ["MQTT-6.0.0-1", "MQTT-6.0.0-3"];

/// Over WebSocket: the WebSocket rules pass, and without them the verdicts are `tcp`'s.
fn assert_tcp_verdicts_and_websocket_rules_pass(
    program: &str,
    mut websocket: BTreeMap<String, String>,
    tcp: &BTreeMap<String, String>,
) {
    for rule in WEBSOCKET_RULES {
        assert_eq!(
            tcp.get(rule),
            None,
            "{program}: a TCP device is judged by {rule}"
        );
        assert_eq!(
            websocket.remove(rule).as_deref(),
            Some("passed"),
            "{program} over WebSocket: {rule}"
        );
    }
    assert_eq!(&websocket, tcp, "{program}: WebSocket vs TCP");
}

#[test]
fn real_clients_get_the_same_verdicts_over_websocket_as_over_tcp() {
    for program in ["paho", "mqttjs"] {
        let tcp = verdicts(program, "127.0.0.1:0", &[], None);
        let ws = verdicts(program, "ws://127.0.0.1:0/mqtt", &[], None);
        assert!(tcp.len() >= 8, "{program}: {tcp:?}");
        assert_tcp_verdicts_and_websocket_rules_pass(program, ws, &tcp);
    }
}

#[test]
fn wss_with_a_certificate_made_in_the_test_gives_the_tcp_verdicts() {
    let dir = crate::support::mosquitto::temp_dir("dev-wss");
    let pki = pki::make(&dir, "good");
    let cert = pki.server_cert.display().to_string();
    let key = pki.server_key.display().to_string();
    let tls = ["--tls-cert", cert.as_str(), "--tls-key", key.as_str()];
    for program in ["paho", "mqttjs"] {
        let tcp = verdicts(program, "127.0.0.1:0", &[], None);
        let wss = verdicts(program, "wss://127.0.0.1:0/mqtt", &tls, Some(&pki.ca));
        assert_tcp_verdicts_and_websocket_rules_pass(program, wss, &tcp);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A WebSocket client that offers no `mqtt` subprotocol gets HTTP 400, and the run says
/// why (MQTT-6.0.0-3).
#[test]
fn a_client_offering_no_mqtt_subprotocol_is_refused() {
    let cloud = Cloud::start_listening(
        "mqtt-3.1.1",
        "dev-ws-noproto",
        "ws://127.0.0.1:0/mqtt",
        1,
        Duration::from_secs(5),
        &[],
    );
    let mut tcp = TcpStream::connect(("127.0.0.1", cloud.port)).expect("connects");
    tcp.write_all(
        b"GET /mqtt HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .expect("request written");
    let mut answer = String::new();
    let _ = std::io::Read::read_to_string(&mut tcp, &mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let line = cloud.wait_for_line(
        "offers no `mqtt` subprotocol [MQTT-6.0.0-3]",
        Duration::from_secs(5),
    );
    assert!(line.contains("closed by the cloud"), "{line}");
    let verdicts: BTreeMap<String, String> = cloud.verdicts().into_iter().collect();
    assert_eq!(
        verdicts.get("MQTT-6.0.0-3").map(String::as_str),
        Some("failed"),
        "{verdicts:?}"
    );
}

/// A raw WebSocket client that sends its CONNECT in a binary message and then a PINGREQ in
/// a text message: the cloud closes the connection (the recipient must, MQTT-6.0.0-1) and
/// the device fails MQTT-6.0.0-1, naming the text message.
#[test]
fn a_text_message_from_the_device_is_flagged_with_mqtt_6_0_0_1() {
    use tokio_tungstenite::tungstenite::{self, Message};
    let cloud = Cloud::start_listening(
        "mqtt-3.1.1",
        "dev-ws-text",
        "ws://127.0.0.1:0/mqtt",
        1,
        Duration::from_secs(5),
        &[],
    );
    let tcp = TcpStream::connect(("127.0.0.1", cloud.port)).expect("connects");
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout set");
    let mut request = tungstenite::client::IntoClientRequest::into_client_request(format!(
        "ws://127.0.0.1:{}/mqtt",
        cloud.port
    ))
    .expect("request");
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "mqtt".parse().expect("header"));
    let (mut ws, _) = tungstenite::client(request, tcp).expect("handshake");
    // CONNECT, client id "raw-text", Keep Alive 60.
    let connect = b"\x10\x14\x00\x04MQTT\x04\x02\x00\x3c\x00\x08raw-text";
    ws.send(Message::binary(connect.to_vec()))
        .expect("CONNECT sent");
    match ws.read().expect("CONNACK") {
        Message::Binary(b) => assert_eq!(&b[..], &[0x20, 0x02, 0x00, 0x00]),
        other => panic!("{other:?}"),
    }
    ws.send(Message::text("\u{c0}\u{0}")).expect("text sent");
    // The cloud closes: the read ends (a Close frame, or the connection's end).
    if let Ok(other) = ws.read() {
        assert!(
            matches!(other, Message::Close(_)),
            "after the text message: {other:?}"
        );
    }
    let cases = cloud.cases();
    let case = cases
        .iter()
        .find(|c| c["id"] == "MQTT-6.0.0-1")
        .unwrap_or_else(|| panic!("no MQTT-6.0.0-1 case: {cases:?}"));
    assert_eq!(case["verdict"]["status"], "failed", "{case}");
    let message = case["verdict"]["message"].to_string();
    assert!(message.contains("WebSocket text message"), "{message}");
    let trace = case["trace"].to_string();
    assert!(
        trace.contains("closed by the server (closed on the device's WebSocket text message"),
        "{trace}"
    );
}

/// A client program subscribed to `topic` at QoS 1 over `ws://localhost:port/mqtt`, staying
/// until it got `wanted` messages, or (paho) lost its first connection after at least
/// three (25 s at most), then disconnecting.
fn subscribe_and_stay(program: &str, port: u16, topic: &str, wanted: usize) {
    let status = match program {
        "paho" => {
            let script = format!(
                "import paho.mqtt.client as mqtt, threading\n\
                 got = []\n\
                 done = threading.Event()\n\
                 c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id='ws-paho', transport='websockets')\n\
                 c.ws_set_options(path='/mqtt')\n\
                 c.on_connect = lambda c, u, f, rc, p: c.subscribe('{topic}', qos=1)\n\
                 def on_message(c, u, m):\n\
                 \x20   got.append(m.payload)\n\
                 \x20   if len(got) >= {wanted}: done.set()\n\
                 def on_disconnect(c, u, f, rc, p):\n\
                 \x20   if len(got) >= 3: done.set()\n\
                 c.on_message = on_message\n\
                 c.on_disconnect = on_disconnect\n\
                 c.connect('localhost', {port}, 30)\n\
                 c.loop_start()\n\
                 assert done.wait(25), f'only {{len(got)}} messages'\n\
                 c.disconnect(); c.loop_stop()\n"
            );
            Command::new("python3").args(["-c", &script]).status()
        }
        _ => {
            let script = format!(
                "const c = require('mqtt').connect('ws://localhost:{port}/mqtt', {{clientId: 'ws-js', protocolVersion: 4, reconnectPeriod: 0, keepalive: 30}});\n\
                 let got = 0;\n\
                 c.on('connect', () => c.subscribe('{topic}', {{qos: 1}}));\n\
                 // MQTT.js writes a PUBACK after its store's callback, and a DISCONNECT from\n\
                 // end() overtakes it (the cloud then fails MQTT-3.14.4-2, seen in this test):\n\
                 // it ends half a second after handing over its last PUBACK.\n\
                 c.on('packetsend', p => {{ if (p.cmd === 'puback' && ++got >= {wanted}) setTimeout(() => c.end(), 500); }});\n\
                 c.on('close', () => process.exit(got >= {wanted} ? 0 : 3));\n\
                 c.on('error', e => {{ console.error(e.message); process.exit(1); }});\n\
                 setTimeout(() => process.exit(2), 25000);\n"
            );
            node(&script)
        }
    };
    assert!(
        status.expect("the client program runs").success(),
        "{program} did not get its messages"
    );
}

/// The WebSocket device tests: the cloud's commands arrive one byte per message, then in
/// one-byte frames with a ping among them (MQTT-6.0.0-2). MQTT.js reads and acknowledges
/// all six. paho-mqtt 2.2 reads the split ones, but answers the ping with an unmasked Pong
/// (RFC 6455 §5.1: a client masks every frame), so the cloud closes the connection with
/// two commands unacknowledged and the test fails, naming the unmasked frame. Every rule
/// the run judges passes. Over TCP the tests are skipped, saying why.
#[test]
fn real_clients_read_commands_unaligned_with_websocket_messages() {
    for (program, fragments) in [("mqttjs", "recorded"), ("paho", "failed")] {
        let cloud = Cloud::start_listening(
            "mqtt-3.1.1",
            "dev-ws-unaligned",
            "ws://127.0.0.1:0/mqtt",
            1,
            Duration::from_secs(40),
            &["--device-tests", "MQTT311-DEV-WS-"],
        );
        subscribe_and_stay(program, cloud.port, "dev/ws/unaligned", 6);
        let cases = cloud.cases();
        let statuses: BTreeMap<String, String> = cases
            .iter()
            .map(crate::support::cloud::id_and_status)
            .collect();
        for (test, wanted) in [
            ("MQTT311-DEV-WS-SPLIT", "recorded"),
            ("MQTT311-DEV-WS-FRAGMENTS", fragments),
        ] {
            assert_eq!(
                statuses.get(test).map(String::as_str),
                Some(wanted),
                "{program}: {statuses:?}"
            );
            let case = cases.iter().find(|c| c["id"] == test).expect("the case");
            let trace = case["trace"].to_string();
            assert!(trace.contains("from now on"), "{program} {test}: {trace}");
            if wanted == "failed" {
                let message = case["verdict"]["message"].to_string();
                assert!(
                    message.contains("Received an unmasked frame from client")
                        && message.contains("with no PUBACK"),
                    "{program} {test}: {message}"
                );
            }
        }
        for (id, status) in &statuses {
            if !id.contains("-DEV-") {
                assert_eq!(status, "passed", "{program}: {id}");
            }
        }
        assert_eq!(
            statuses.get("MQTT-4.3.2-2").map(String::as_str),
            Some("passed"),
            "{program}: the PUBACKs were judged: {statuses:?}"
        );
    }
    // Over TCP: skipped, saying why.
    let cloud = Cloud::start_listening(
        "mqtt-3.1.1",
        "dev-tcp-unaligned",
        "127.0.0.1:0",
        1,
        Duration::from_secs(15),
        &["--device-tests", "MQTT311-DEV-WS-SPLIT"],
    );
    // It exits on its -W timeout, which is all it is for here.
    let _ = Command::new("mosquitto_sub")
        .args([
            "-p",
            &cloud.port.to_string(),
            "-t",
            "dev/tcp",
            "-q",
            "1",
            "-i",
            "tcp-sub",
        ])
        .args(["-W", "3"])
        .status()
        .expect("mosquitto_sub runs");
    let cases = cloud.cases();
    let case = cases
        .iter()
        .find(|c| c["id"] == "MQTT311-DEV-WS-SPLIT")
        .expect("the case");
    assert_eq!(case["verdict"]["status"], "skipped", "{case}");
    assert!(
        case["verdict"]["reason"]
            .to_string()
            .contains("connects over TCP"),
        "{case}"
    );
}

/// Device mode over ws:// with paho-mqtt and MQTT.js: the cloud's own `--capture` and a
/// tshark capture of the loopback, each judged with `--pcap`, give every rule the live
/// verdict; tshark reads the `--capture` file as an HTTP upgrade and WebSocket frames
/// (every client frame masked, no server frame) with nothing malformed.
#[test]
fn captures_of_websocket_devices_give_the_live_verdicts() {
    use crate::support::capture_cli::{judge_capture, worst};
    use crate::support::loopback::LoopbackCapture;
    for program in ["paho", "mqttjs"] {
        let dir = crate::support::mosquitto::temp_dir(&format!("dev-ws-capture-{program}"));
        let ours = dir.join("cloud.pcapng");
        let ours_arg = ours.display().to_string();
        let cloud = Cloud::start_listening(
            "mqtt-3.1.1",
            "dev-ws-capture",
            "ws://127.0.0.1:0/mqtt",
            1,
            RUN,
            &["--capture", &ours_arg],
        );
        let server = cloud.port.to_string();
        let wire = LoopbackCapture::start(cloud.port, dir.join("wire.pcapng"));
        play(program, cloud.port, Some("/mqtt"), None);
        let wire = wire.stop();
        let live_cases = cloud.cases();
        let rules = |verdicts: BTreeMap<String, String>| -> BTreeMap<String, String> {
            verdicts
                .into_iter()
                .filter(|(id, _)| !id.contains("-DEV-") && id != "DEVICE-LOGIN")
                .collect()
        };
        let live = rules(worst(&live_cases));
        assert_eq!(
            live.get("MQTT-6.0.0-3").map(String::as_str),
            Some("passed"),
            "{program}: {live:?}"
        );
        for (what, file, extra) in [
            ("the cloud's --capture", &ours, vec![]),
            (
                "tshark on lo",
                &wire,
                vec!["--port".to_owned(), server.clone()],
            ),
        ] {
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            let doc = judge_capture("mqtt-3.1.1", &[file], &extra, &[]);
            let cases: Vec<serde_json::Value> = doc["suites"]
                .as_array()
                .expect("suites")
                .iter()
                .flat_map(|g| g["cases"].as_array().cloned().unwrap_or_default())
                .collect();
            let judged = rules(worst(&cases));
            assert_eq!(judged, live, "{program}: {what} judged with --pcap");
        }
        let frames = Command::new("tshark")
            .arg("-r")
            .arg(&ours)
            .args(["-d", &format!("tcp.port=={server},http")])
            .args(["-Y", "websocket", "-T", "fields", "-e", "websocket.opcode"])
            .args(["-e", "websocket.mask", "-e", "tcp.dstport"])
            .output()
            .expect("tshark runs");
        let text = String::from_utf8_lossy(&frames.stdout);
        assert!(text.lines().count() >= 6, "{program}: {text}");
        // Binary frames carrying MQTT, then at most the Close frames of the close handshake.
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let f: Vec<&str> = line.split('\t').collect();
            let from_client = f.get(2) == Some(&server.as_str());
            let closing = lines[i..].iter().all(|l| l.starts_with("8\t"));
            assert!(
                f[0] == "2" || (f[0] == "8" && closing),
                "{program}: a binary frame, or the closing Close frames: {line}"
            );
            assert_eq!(
                f[1],
                if from_client { "1" } else { "0" },
                "{program}: {line}"
            );
        }
        let malformed = Command::new("tshark")
            .arg("-r")
            .arg(&ours)
            .args(["-d", &format!("tcp.port=={server},http")])
            .args(["-Y", "_ws.malformed || _ws.expert.severity >= warning"])
            .output()
            .expect("tshark runs");
        assert_eq!(
            String::from_utf8_lossy(&malformed.stdout),
            "",
            "{program}: malformed frames"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
