//! Device mode over WebSocket (`--listen ws://…`, `wss://…`): real clients — paho-mqtt with
//! its websockets transport and MQTT.js — get the verdicts they get over TCP; a client that
//! offers no `mqtt` subprotocol is refused and told why.

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
            Command::new("node")
                .args(["-e", &script])
                .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js"))
                .status()
        }
    };
    assert!(
        status.expect("the client program runs").success(),
        "{program} over {websocket:?} failed"
    );
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

#[test]
fn real_clients_get_the_same_verdicts_over_websocket_as_over_tcp() {
    for program in ["paho", "mqttjs"] {
        let tcp = verdicts(program, "127.0.0.1:0", &[], None);
        let ws = verdicts(program, "ws://127.0.0.1:0/mqtt", &[], None);
        assert!(tcp.len() >= 8, "{program}: {tcp:?}");
        assert_eq!(ws, tcp, "{program}: WebSocket vs TCP");
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
        assert_eq!(wss, tcp, "{program}: wss vs TCP");
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
}
