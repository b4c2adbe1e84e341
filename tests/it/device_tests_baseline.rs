//! The baseline suites' device tests against real clients: `mqtt-conform --suite mqtt-5 /
//! mqtt-3.1.1 --listen --device-tests`, with mosquitto_sub (libmosquitto) and MQTT.js as
//! the devices. Each test pins what the client really does under the cloud's CONNACK,
//! DISCONNECT, command burst, Topic Alias or withheld PUBREL.

use crate::support::capture_cli::{judge_capture, worst};
use crate::support::cloud;

use cloud::Cloud;
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// mosquitto_sub on the cloud's port with `args` (it reconnects after a drop).
fn mosquitto_sub(cloud: &Cloud, args: &[&str]) -> Child {
    Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &cloud.port.to_string()])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto_sub is installed (Debian package mosquitto-clients)")
}

/// Where the run of device test `id` writes its capture.
fn capture_file(id: &str) -> String {
    std::env::temp_dir()
        .join(format!("{id}-{}.pcapng", std::process::id()))
        .display()
        .to_string()
}

/// The command line of a run of device test `id` that captures to `capture`.
fn device_test_args<'a>(id: &'a str, capture: &'a str) -> [&'a str; 5] {
    ["--device-tests", "--exact", id, "--capture", capture]
}

/// The verdict of every case of `cases` that a capture can give too (the rules: not the
/// device tests, which only a live run plays, nor the run's login summary).
fn rule_verdicts<'a>(cases: impl IntoIterator<Item = &'a Value>) -> BTreeMap<String, String> {
    let mut verdicts = worst(cases);
    verdicts.retain(|id, _| {
        !id.contains("-DEV-") && id != "DEVICE-LOGIN" && id != "CONNECTIONS-WITHOUT-CONNECT"
    });
    verdicts
}

/// Waits for `id`'s verdict, stops the device, and returns the case. The session's
/// capture, judged offline (`--pcap`), must give the live verdicts of every rule.
fn decided(
    cloud: Cloud,
    mut device: Child,
    id: &str,
    limit: Duration,
    capture: &str,
) -> (Value, String) {
    cloud.wait_for_line(&format!("{id} ..."), limit);
    let _ = device.kill();
    let output = device.wait_with_output().expect("the device ends");
    let cases = cloud.cases();
    let suite = if id.starts_with("MQTT5-") {
        "mqtt-5"
    } else {
        "mqtt-3.1.1"
    };
    let report = judge_capture(suite, &[std::path::Path::new(capture)], &[], &[]);
    let _ = std::fs::remove_file(capture);
    let offline = rule_verdicts(
        report["suites"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s["cases"].as_array().into_iter().flatten()),
    );
    let live = rule_verdicts(&cases);
    assert!(
        live.len() >= 3,
        "{id}: the session put rules to the test: {live:?}"
    );
    assert_eq!(
        offline, live,
        "{id}: the capture judged offline against the live verdicts"
    );
    let case = cases
        .into_iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no case {id}"));
    (case, String::from_utf8_lossy(&output.stdout).into_owned())
}

fn status(case: &Value) -> &str {
    case["verdict"]["status"].as_str().unwrap_or_default()
}

fn recorded(case: &Value) -> &str {
    assert_eq!(status(case), "recorded", "{case}");
    case["verdict"]["message"].as_str().unwrap_or_default()
}

/// Session Present 1 to a Clean Start device (its first connection is dropped so that the
/// reconnect gets the test's CONNACK): libmosquitto stays connected, which MQTT-3.2.2-4
/// forbids; the failure says how long it stayed and in what window.
#[test]
fn libmosquitto_stays_connected_after_session_present_1_to_a_clean_start() {
    let id = "MQTT5-DEV-SESSION-PRESENT";
    let capture = capture_file(id);
    let cloud = Cloud::start_suite(
        "mqtt-5",
        "dev-session-present",
        1,
        &device_test_args(id, &capture),
    );
    let device = mosquitto_sub(
        &cloud,
        &["-V", "mqttv5", "-i", "sp-dev", "-t", "sp/cmd", "-k", "60"],
    );
    let (case, _) = decided(cloud, device, id, Duration::from_secs(20), &capture);
    assert_eq!(status(&case), "failed", "{case}");
    // The measured time is at the window's end or, on a loaded machine, later.
    let message = case["verdict"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("still connected ")
            && message.contains(" s after the CONNACK; window ≤ 10.00 s (a device that asked for a clean session holds no session state; the specification sets no time, the cloud waits 10 s)"),
        "{message}"
    );
    let trace = case["trace"].to_string();
    assert!(
        trace.contains("accepted with the test's CONNACK: Session Present 1"),
        "{trace}"
    );
}

/// A server DISCONNECT 0x89: libmosquitto closes at once (MQTT-4.13.2-1), and the close
/// that decides the device's last test ends the run (`--devices 1`).
#[test]
fn libmosquitto_closes_on_a_server_disconnect() {
    let id = "MQTT5-DEV-DISCONNECT-REASON";
    let capture = capture_file(id);
    let started = std::time::Instant::now();
    let cloud = Cloud::start_suite(
        "mqtt-5",
        "dev-disconnect",
        1,
        &device_test_args(id, &capture),
    );
    let mut device = mosquitto_sub(
        &cloud,
        &["-V", "mqttv5", "-i", "dc-dev", "-t", "dc/cmd", "-k", "60"],
    );
    let cases = cloud.cases();
    // Not the 60 s the run may last: its one device is done.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let _ = device.kill();
    let _ = device.wait();
    let case = cases.iter().find(|c| c["id"] == id).expect("the case");
    assert_eq!(status(case), "passed", "{case}");
    let measured = case["measured"].as_str().unwrap_or_default();
    assert!(
        measured.starts_with("closed the connection ")
            && measured.ends_with(" after the DISCONNECT (window ≤ 10.00 s)"),
        "{measured}"
    );
}

/// A Server Keep Alive of 5 s replaces the device's 60 s: libmosquitto sends its PINGREQs
/// on the 5 s, and the record says so.
#[test]
fn libmosquitto_keeps_alive_on_the_server_keep_alive() {
    let id = "MQTT5-DEV-SERVER-KEEP-ALIVE";
    let capture = capture_file(id);
    let cloud = Cloud::start_suite(
        "mqtt-5",
        "dev-server-keep-alive",
        1,
        &device_test_args(id, &capture),
    );
    let device = mosquitto_sub(
        &cloud,
        &["-V", "mqttv5", "-i", "ka-dev", "-t", "ka/cmd", "-k", "60"],
    );
    let (case, _) = decided(cloud, device, id, Duration::from_secs(40), &capture);
    let message = recorded(&case);
    assert!(message.contains(" PINGREQ"), "{message}");
    assert!(message.ends_with("(Keep Alive 5 s)"), "{message}");
    let silence: f64 = message
        .split("longest silence ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{message}"));
    assert!(silence <= 5.0 + 1.0, "{message}");
}

/// Ten QoS 2 commands to a 5.0 subscriber and ten QoS 1 commands to a 3.1.1 one, sent at
/// once: libmosquitto completes every flow, and prints every message.
#[test]
fn libmosquitto_completes_a_burst_of_commands() {
    let id = "MQTT5-DEV-QOS2-BURST";
    let capture = capture_file(id);
    let cloud = Cloud::start_suite(
        "mqtt-5",
        "dev-qos2-burst",
        1,
        &device_test_args(id, &capture),
    );
    let device = mosquitto_sub(
        &cloud,
        &[
            "-V", "mqttv5", "-i", "b2-dev", "-t", "b2/cmd", "-q", "2", "-v",
        ],
    );
    let (case, printed) = decided(cloud, device, id, Duration::from_secs(20), &capture);
    let message = recorded(&case);
    assert!(
        message.starts_with("10 of 10 command(s) delivered at QoS 2 from "),
        "{message}"
    );
    assert!(
        message.ends_with("; 10 PUBREC(s), 10 PUBCOMP(s)"),
        "{message}"
    );
    assert_eq!(
        printed.matches(&format!("b2/cmd burst {id}")).count(),
        10,
        "{printed}"
    );

    let id = "MQTT311-DEV-QOS1-BURST";
    let capture = capture_file(id);
    let cloud = Cloud::start_suite(
        "mqtt-3.1.1",
        "dev-qos1-burst",
        1,
        &device_test_args(id, &capture),
    );
    let device = mosquitto_sub(
        &cloud,
        &[
            "-V", "mqttv311", "-i", "b1-dev", "-t", "b1/+", "-q", "1", "-v",
        ],
    );
    let (case, printed) = decided(cloud, device, id, Duration::from_secs(20), &capture);
    let message = recorded(&case);
    assert!(
        message.starts_with("10 of 10 command(s) delivered at QoS 1 from "),
        "{message}"
    );
    assert!(message.ends_with("; 10 PUBACK(s)"), "{message}");
    assert_eq!(
        printed.matches("b1/mqtt-conform burst").count(),
        10,
        "{printed}"
    );
}

/// QoS 2 flows left at PUBREC, the connection dropped: libmosquitto with a persistent
/// session (Clean Session 0) reconnects, gets the PUBRELs again and completes both flows.
#[test]
fn libmosquitto_completes_withheld_qos_2_flows_on_its_resumed_session() {
    let id = "MQTT311-DEV-QOS2-PUBREL-RESUMED";
    let capture = capture_file(id);
    let cloud = Cloud::start_suite(
        "mqtt-3.1.1",
        "dev-pubrel",
        1,
        &device_test_args(id, &capture),
    );
    let device = mosquitto_sub(
        &cloud,
        &[
            "-V", "mqttv311", "-i", "rel-dev", "-c", "-t", "rel/cmd", "-q", "2", "-v",
        ],
    );
    let (case, printed) = decided(cloud, device, id, Duration::from_secs(40), &capture);
    let message = recorded(&case);
    assert!(
        message.contains("2 PUBREC(s), 0 PUBCOMP(s); PUBREL withheld and the connection dropped; reconnected with Session Present 1: 2 PUBREL(s) re-sent, 2 PUBCOMP(s) for them"),
        "{message}"
    );
    // Each message reached the application once.
    assert_eq!(
        printed.matches(&format!("rel/cmd resume {id}")).count(),
        2,
        "{printed}"
    );
}

/// Commands whose topic comes as a Topic Alias: MQTT.js resolves the alias and
/// acknowledges all three; libmosquitto, which announced a Topic Alias Maximum of 5,
/// breaks the connection at the first PUBLISH carrying the alias alone (MQTT-3.3.2-10):
/// the test fails it.
#[test]
fn mqtt_js_accepts_commands_with_a_topic_alias_and_libmosquitto_does_not() {
    let id = "MQTT5-DEV-TOPIC-ALIAS";
    let capture = capture_file(id);
    let cloud = Cloud::start_suite("mqtt-5", "dev-alias-js", 1, &device_test_args(id, &capture));
    let script = format!(
        "const c = require('mqtt').connect({{host: '127.0.0.1', port: {}, protocolVersion: 5, \
         clientId: 'alias-js', properties: {{topicAliasMaximum: 5}}}});\n\
         c.on('connect', () => c.subscribe('alias/cmd', {{qos: 1}}));\n\
         c.on('message', (topic, payload) => console.log(topic + ' ' + payload));\n\
         setTimeout(() => process.exit(3), 30000);",
        cloud.port
    );
    let device = Command::new("node")
        .args(["-e", &script])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node is installed");
    let (case, printed) = decided(cloud, device, id, Duration::from_secs(20), &capture);
    let message = recorded(&case);
    assert!(
        message.contains(
            "the first with the topic and Topic Alias 1, 2 with the alias alone; 3 PUBACK(s)"
        ),
        "{message}"
    );
    assert_eq!(
        printed.matches(&format!("alias/cmd alias {id}")).count(),
        3,
        "{printed}"
    );

    // The device leaves in the middle of the test, which then records until its deadline
    // (10 s): the run ends after 20 s.
    let cloud = Cloud::start_suite_for(
        "mqtt-5",
        "dev-alias-mosquitto",
        1,
        Duration::from_secs(20),
        &device_test_args(id, &capture),
    );
    let device = mosquitto_sub(
        &cloud,
        &[
            "-V",
            "mqttv5",
            "-i",
            "alias-mosq",
            "-t",
            "alias/cmd",
            "-q",
            "1",
            "-v",
            "-D",
            "connect",
            "topic-alias-maximum",
            "5",
        ],
    );
    let (case, printed) = decided(cloud, device, id, Duration::from_secs(20), &capture);
    assert_eq!(status(&case), "failed", "{case}");
    let message = case["verdict"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("the device closed the connection ")
            && message.contains(" after the cloud's PUBLISH id 2 (the first carrying the Topic Alias alone), with no PUBACK for packet id(s) 2"),
        "{message}"
    );
    // The close races the cloud's third write: whether that one still went out depends on
    // when libmosquitto's close reaches the cloud, so 2 or 3 were delivered.
    let measured = case["measured"].as_str().unwrap_or_default();
    assert!(
        (measured.starts_with("2 of 3 command(s) delivered at QoS 1")
            || measured.starts_with("3 of 3 command(s) delivered at QoS 1"))
            && measured.contains("; 1 PUBACK(s); connection closed by the device"),
        "{measured}"
    );
    assert_eq!(printed.matches("alias/cmd alias").count(), 1, "{printed}");
}

/// mosquitto_pub reading its messages from stdin (`-l`) with `args`, once it has read the
/// CONNACK of its second connection (the cloud closes the first so that the reconnect gets
/// the test's CONNACK) and the CONNACK's limits bind it; its stdin, and its stderr
/// collected in the background.
fn mosquitto_pub_after_second_connack(
    cloud: &Cloud,
    args: &[&str],
) -> (
    Child,
    std::process::ChildStdin,
    std::sync::mpsc::Receiver<String>,
) {
    use std::io::{BufRead, BufReader};
    // Line-buffered, so that its debug lines arrive as it prints them.
    let mut device = Command::new("stdbuf")
        .args(["-oL", "mosquitto_pub"])
        .args(["-h", "127.0.0.1", "-p", &cloud.port.to_string(), "-l", "-d"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mosquitto_pub is installed (Debian package mosquitto-clients)");
    let debug = BufReader::new(device.stdout.take().expect("stdout"));
    let (tx, connacks) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in debug.lines().map_while(Result::ok) {
            if line.contains("received CONNACK") {
                let _ = tx.send(());
            }
        }
    });
    let errors = BufReader::new(device.stderr.take().expect("stderr"));
    let (tx, stderr) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in errors.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    for _ in 0..2 {
        connacks
            .recv_timeout(Duration::from_secs(20))
            .expect("mosquitto_pub reads a CONNACK in time");
    }
    // libmosquitto prints that it received the CONNACK before it applies the CONNACK's
    // limits (messages published meanwhile go out beyond them), and the judge holds a
    // client to them only from CONNACK_GRACE after the CONNACK: the messages come later.
    std::thread::sleep(mqtt_conform::conduct::CONNACK_GRACE);
    let stdin = device.stdin.take().expect("stdin");
    (device, stdin, stderr)
}

/// Receive Maximum 1 with PUBACKs withheld and five messages waiting: libmosquitto keeps
/// one QoS 1 PUBLISH in flight and holds the rest back (MQTT-3.3.4-7).
#[test]
fn libmosquitto_keeps_to_receive_maximum_1() {
    use std::io::Write;
    let id = "MQTT5-DEV-RECEIVE-MAX-1";
    let capture = capture_file(id);
    let cloud = Cloud::start_suite(
        "mqtt-5",
        "dev-receive-max",
        1,
        &device_test_args(id, &capture),
    );
    let (device, mut stdin, _) = mosquitto_pub_after_second_connack(
        &cloud,
        &["-V", "mqttv5", "-i", "rm-dev", "-t", "rm/up", "-q", "1"],
    );
    for n in 1..=5 {
        writeln!(stdin, "reading {n}").expect("mosquitto_pub reads stdin");
    }
    let (case, _) = decided(cloud, device, id, Duration::from_secs(20), &capture);
    drop(stdin);
    assert_eq!(
        recorded(&case),
        "1 QoS 1/2 PUBLISH(es) with distinct packet ids left unacknowledged, 0 re-sent with DUP 1"
    );
}

/// Maximum QoS 0: libmosquitto refuses a QoS 1 message itself and sends nothing
/// (MQTT-3.2.2-11); mosquitto_pub then gives up, which the record shows.
#[test]
fn libmosquitto_sends_nothing_above_maximum_qos_0() {
    use std::io::Write;
    let id = "MQTT5-DEV-MAX-QOS-0";
    let capture = capture_file(id);
    // The device leaves in the middle of the test, which records until its deadline
    // (10 s): the run ends after 20 s.
    let cloud = Cloud::start_suite_for(
        "mqtt-5",
        "dev-max-qos",
        1,
        Duration::from_secs(20),
        &device_test_args(id, &capture),
    );
    let (device, mut stdin, stderr) = mosquitto_pub_after_second_connack(
        &cloud,
        &["-V", "mqttv5", "-i", "mq-dev", "-t", "mq/up", "-q", "1"],
    );
    writeln!(stdin, "reading").expect("mosquitto_pub reads stdin");
    let (case, _) = decided(cloud, device, id, Duration::from_secs(20), &capture);
    let message = recorded(&case);
    assert!(
        message.starts_with("connection closed by the device ")
            && message.contains("the device sent nothing in the "),
        "{message}"
    );
    let errors: Vec<String> = stderr.try_iter().collect();
    assert!(
        errors.iter().any(|e| e.contains("QoS not supported")),
        "{errors:?}"
    );
}
