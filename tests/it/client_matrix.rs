//! The client conformance matrix: real MQTT clients as devices of the baseline suites'
//! device mode, in a QoS exchange that puts their client duties to the test — each
//! subscribes at QoS 2 and publishes messages at QoS 1 and QoS 2 that the cloud delivers
//! back, so flows run in both directions at once (packet identifiers, acknowledgements and
//! their kind and order, the QoS 2 handshakes, DISCONNECT and the close). The `conduct`
//! rules judge them; every failed or inconclusive rule of each client is pinned below with
//! what its message must hold, a set of rules each must have passed is asserted, and
//! `client_matrix::write_the_client_matrix` (ignored) writes docs/client-matrix.md. Each
//! session is also captured (`--capture`) and the capture judged offline (`--pcap`): the
//! verdicts must be the live ones.
//!
//! Needs: python3 with paho-mqtt 2, node with `npm ci --prefix tests/js` done, mosquitto_pub
//! and mosquitto_sub, the Paho C samples (`paho_c_pub`, `paho_c_sub`).

use crate::support::capture_cli::{judge_capture, worst_cases};
use crate::support::cloud::Cloud;
use crate::support::program::wait_for;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Messages published at each of QoS 1 and QoS 2.
const COUNT: usize = 3;
/// How long a client program may take for the whole exchange.
const PROGRAM_LIMIT: Duration = Duration::from_secs(40);

/// A client program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Program {
    /// paho-mqtt (Python), tests/py/paho_qos.py.
    Paho,
    /// MQTT.js (Node), tests/js/qos.js.
    MqttJs,
    /// rumqttc, in this process; the event loop dropped once the DISCONNECT is out.
    Rumqttc,
    /// rumqttc, its event loop polled until it reports the end of the connection, as the
    /// crate's examples do.
    RumqttcPolled,
    /// mosquitto_sub (QoS 2) with mosquitto_pub at QoS 1 and at QoS 2: three connections.
    Mosquitto,
    /// The Paho C samples: paho_c_sub (QoS 2) with paho_c_pub at QoS 1 and at QoS 2, one
    /// message each.
    PahoC,
}

impl Program {
    fn name(self) -> &'static str {
        match self {
            Program::Paho => "paho-mqtt 2.2 (Python)",
            Program::MqttJs => "MQTT.js 5 (Node)",
            Program::Rumqttc => "rumqttc 0.25 (event loop dropped after DISCONNECT)",
            Program::RumqttcPolled => "rumqttc 0.25 (event loop polled to its end)",
            Program::Mosquitto => "mosquitto_sub / mosquitto_pub 2.0",
            Program::PahoC => "Paho C 1.3 samples (paho_c_sub / paho_c_pub)",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Program::Paho => "paho",
            Program::MqttJs => "mqttjs",
            Program::Rumqttc => "rumqttc",
            Program::RumqttcPolled => "rumqttc-polled",
            Program::Mosquitto => "mosquitto",
            Program::PahoC => "pahoc",
        }
    }

    /// The connections the exchange opens.
    fn connections(self) -> usize {
        match self {
            Program::Mosquitto | Program::PahoC => 3,
            _ => 1,
        }
    }
}

/// One row: a program speaking one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    program: Program,
    v5: bool,
}

impl Row {
    fn suite(self) -> &'static str {
        if self.v5 { "mqtt-5" } else { "mqtt-3.1.1" }
    }

    fn id(self) -> String {
        format!(
            "cm-{}-{}",
            self.program.tag(),
            if self.v5 { "5" } else { "311" }
        )
    }
}

const PROGRAMS: [Program; 6] = [
    Program::Paho,
    Program::MqttJs,
    Program::Rumqttc,
    Program::RumqttcPolled,
    Program::Mosquitto,
    Program::PahoC,
];

fn rows() -> Vec<Row> {
    PROGRAMS
        .iter()
        .flat_map(|&program| [false, true].map(|v5| Row { program, v5 }))
        .collect()
}

/// What a rule's verdict must be for a row, where it is not a pass: a real client's
/// deviation.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// Failed, and the message holds this.
    Fail(&'static str),
}

/// Every verdict of a row that is not a pass (rule id, what it must be). Anything else a
/// row's clients are judged on must pass: an inconclusive verdict is a problem of the
/// exchange, which waits for every flow to end before it disconnects.
fn expected(row: Row) -> Vec<(&'static str, Want)> {
    match (row.program, row.v5) {
        // rumqttc writes the DISCONNECT and goes on reading until the server closes: the
        // connection ends only when its user drops the event loop (device mode closes it
        // after waiting 3 s).
        (Program::RumqttcPolled, false) => {
            vec![("MQTT-3.14.4-1", Want::Fail("kept the connection open"))]
        }
        (Program::RumqttcPolled, true) => {
            vec![("MQTT-3.14.4-2", Want::Fail("kept the connection open"))]
        }
        _ => Vec::new(),
    }
}

/// Rules every row must have passed: the duties the exchange always puts to the test.
fn must_pass(row: Row) -> Vec<&'static str> {
    if row.v5 {
        vec![
            "MQTT-3.1.0-1",
            "MQTT-2.2.1-3",
            "MQTT-4.3.2-4",
            "MQTT-4.3.3-8",
            "MQTT-4.3.3-11",
            "MQTT-4.3.3-4",
            "MQTT-3.3.4-1",
            "MQTT-4.5.0-2",
        ]
    } else {
        vec![
            "MQTT-3.1.0-1",
            "MQTT-2.3.1-2",
            "MQTT-4.3.2-2",
            "MQTT-4.3.3-2",
            "MQTT-4.3.3-1",
            "MQTT-3.3.4-1",
            "MQTT-4.5.0-2",
        ]
    }
}

/// A rule's verdict on a row: the worst over the row's connections, with its message.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    status: String,
    message: String,
}

/// Runs `row`'s exchange against its suite's device mode; the verdict of every rule its
/// clients were judged on, or why the exchange could not run.
fn run(row: Row) -> RowOutcome {
    let capture = capture_file(row);
    let capture_arg = capture.display().to_string();
    let cloud = Cloud::start_suite_for(
        row.suite(),
        &row.id(),
        row.program.connections(),
        PROGRAM_LIMIT + Duration::from_secs(20),
        &["--capture", &capture_arg],
    );
    let played = play(row, cloud.port);
    let groups = cloud.groups();
    played.map_err(|e| format!("{} ({}): {e}", row.program.name(), row.suite()))?;
    Ok(worst(groups.iter().flat_map(|(_, cases)| cases)))
}

/// Where `row`'s device-mode run writes its capture.
fn capture_file(row: Row) -> PathBuf {
    std::env::temp_dir().join(format!("{}-{}.pcapng", row.id(), std::process::id()))
}

/// The verdict of every rule over `cases`: the worst, with its message.
fn worst<'a>(cases: impl IntoIterator<Item = &'a serde_json::Value>) -> BTreeMap<String, Seen> {
    worst_cases(cases)
        .into_iter()
        .map(|(id, case)| {
            let text = |field: &str| {
                case["verdict"][field]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            };
            let seen = Seen {
                status: text("status"),
                message: text("message"),
            };
            (id, seen)
        })
        .collect()
}

/// The verdicts of `row`'s capture judged offline (`--pcap`), by rule.
fn judged_capture(row: Row) -> BTreeMap<String, String> {
    let file = capture_file(row);
    let report = judge_capture(row.suite(), &[&file], &[], &[]);
    let _ = std::fs::remove_file(&file);
    let cases = report["suites"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|suite| suite["cases"].as_array().into_iter().flatten());
    worst(cases)
        .into_iter()
        .map(|(id, s)| (id, s.status))
        .collect()
}

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Plays `row`'s exchange against the cloud on `port`.
fn play(row: Row, port: u16) -> Result<(), String> {
    let id = row.id();
    let filter = format!("m/{id}/#");
    let topic = format!("m/{id}/x");
    let version = if row.v5 { "5" } else { "3.1.1" };
    let exchange = |command: &mut Command| {
        command
            .env("QX_HOST", "127.0.0.1")
            .env("QX_PORT", port.to_string())
            .env("QX_PROTOCOL", version)
            .env("QX_CLIENT_ID", &id)
            .env("QX_FILTER", &filter)
            .env("QX_TOPIC", &topic)
            .env("QX_COUNT", COUNT.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let child = command.spawn().map_err(|e| format!("cannot start: {e}"))?;
        wait_for(child, PROGRAM_LIMIT)
    };
    match row.program {
        Program::Paho => exchange(Command::new("python3").arg(repo_file("tests/py/paho_qos.py"))),
        Program::MqttJs => exchange(Command::new("node").arg(repo_file("tests/js/qos.js"))),
        Program::Rumqttc | Program::RumqttcPolled => {
            let to_end = row.program == Program::RumqttcPolled;
            if row.v5 {
                rumqttc_v5(&id, port, &filter, &topic, to_end)
            } else {
                rumqttc_v4(&id, port, &filter, &topic, to_end)
            }
        }
        Program::Mosquitto => {
            let v = if row.v5 { "mqttv5" } else { "mqttv311" };
            let common = |cmd: &mut Command, suffix: &str| {
                cmd.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-V", v])
                    .args(["-i", &format!("{id}-{suffix}")]);
            };
            let mut sub = Command::new("mosquitto_sub");
            common(&mut sub, "sub");
            // -d: its debug lines say when the SUBACK came.
            sub.args([
                "-d",
                "-q",
                "2",
                "-t",
                &filter,
                "-C",
                &(2 * COUNT).to_string(),
                "-W",
                "30",
            ]);
            let (sub, lines) = spawn_subscriber(sub, "mosquitto_sub")?;
            await_line(&lines, "the subscriber's SUBACK", |l| l.contains("SUBACK"))?;
            for qos in ["1", "2"] {
                let mut publish = Command::new("mosquitto_pub");
                common(&mut publish, &format!("pub{qos}"));
                publish
                    .args([
                        "-q",
                        qos,
                        "-t",
                        &topic,
                        "-m",
                        "x",
                        "--repeat",
                        &COUNT.to_string(),
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped());
                let child = publish.spawn().map_err(|e| format!("mosquitto_pub: {e}"))?;
                wait_for(child, PROGRAM_LIMIT)
                    .map_err(|e| format!("mosquitto_pub -q {qos}: {e}"))?;
            }
            wait_for(sub, PROGRAM_LIMIT).map_err(|e| format!("mosquitto_sub: {e}"))
        }
        Program::PahoC => {
            let v = if row.v5 { "5" } else { "311" };
            let common = |cmd: &mut Command, suffix: &str| {
                cmd.args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                    "-V",
                    v,
                    "-k",
                    "60",
                ])
                .args(["-i", &format!("{id}-{suffix}")]);
            };
            let mut sub = Command::new("paho_c_sub");
            common(&mut sub, "sub");
            // Its protocol trace says when the SUBACK came.
            sub.args(["-q", "2", "-t", &filter, "--trace", "protocol"]);
            let (sub, lines) = spawn_subscriber(sub, "paho_c_sub")?;
            await_line(&lines, "the subscriber's SUBACK", |l| {
                l.contains("<- SUBACK")
            })?;
            // One message per program: fed from its standard input, paho_c_pub 1.3 does not
            // stop at the end of the input but goes on publishing messages of 0xFF bytes.
            for qos in ["1", "2"] {
                let mut publish = Command::new("paho_c_pub");
                common(&mut publish, &format!("pub{qos}"));
                publish
                    .args(["-q", qos, "-t", &topic, "-m", &format!("q{qos}")])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped());
                let child = publish.spawn().map_err(|e| format!("paho_c_pub: {e}"))?;
                wait_for(child, PROGRAM_LIMIT)?;
            }
            // paho_c_sub prints each message; once both are in, SIGINT makes it disconnect.
            for n in 0..2 {
                // "<length> <topic>\t<payload>", beside its trace lines.
                await_line(&lines, &format!("message {n} at paho_c_sub"), |l| {
                    !l.starts_with("Trace") && l.contains("\tq")
                })?;
            }
            let _ = Command::new("kill")
                .args(["-INT", &sub.id().to_string()])
                .status();
            wait_for(sub, Duration::from_secs(10))
        }
    }
}

/// Starts a subscriber program with its output read line by line (stderr with it).
fn spawn_subscriber(
    command: Command,
    what: &str,
) -> Result<(Child, std::sync::mpsc::Receiver<String>), String> {
    use std::io::BufRead;
    // Some write their trace to stderr: both are read, through a shell that joins them; a
    // pipe would have its standard output buffered in blocks, so it is line-buffered.
    let mut joined = Command::new("sh");
    joined
        .arg("-c")
        .arg("exec stdbuf -oL \"$0\" \"$@\" 2>&1")
        .arg(command.get_program())
        .args(command.get_args())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = joined.spawn().map_err(|e| format!("{what}: {e}"))?;
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok((child, rx))
}

/// Waits (within the program limit) for a line that `wanted` matches.
fn await_line(
    lines: &std::sync::mpsc::Receiver<String>,
    what: &str,
    wanted: impl Fn(&str) -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + PROGRAM_LIMIT;
    loop {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) if wanted(&line) => return Ok(()),
            Ok(_) => {}
            Err(_) => return Err(format!("no {what} within {PROGRAM_LIMIT:?}")),
        }
    }
}

/// rumqttc (3.1.1) plays the exchange; `to_end`: its event loop is polled until it ends,
/// else dropped once the DISCONNECT is out.
fn rumqttc_v4(id: &str, port: u16, filter: &str, topic: &str, to_end: bool) -> Result<(), String> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(60));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let (client, mut events) = AsyncClient::new(options, 20);
        client
            .subscribe(filter, QoS::ExactlyOnce)
            .await
            .map_err(|e| e.to_string())?;
        for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
            for n in 0..COUNT {
                client
                    .publish(topic, qos, false, format!("{qos:?}-{n}"))
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        let deadline = tokio::time::Instant::now() + PROGRAM_LIMIT;
        // Deliveries answered (PUBACK, PUBCOMP), own flows completed.
        let (mut answered, mut completed, mut disconnecting) = (0, 0, false);
        loop {
            match tokio::time::timeout_at(deadline, events.poll()).await {
                Ok(Ok(Event::Outgoing(Outgoing::PubAck(_) | Outgoing::PubComp(_)))) => {
                    answered += 1
                }
                Ok(Ok(Event::Incoming(Packet::PubAck(_) | Packet::PubComp(_)))) => completed += 1,
                Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) if disconnecting && !to_end => {
                    return Ok(());
                }
                Ok(Err(_)) if disconnecting => return Ok(()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(format!("connection error: {e}")),
                Err(_) => {
                    return Err(format!(
                        "{answered} deliveries answered, {completed} own flows done"
                    ));
                }
            }
            if !disconnecting && answered >= 2 * COUNT && completed >= 2 * COUNT {
                client.disconnect().await.map_err(|e| e.to_string())?;
                disconnecting = true;
            }
        }
    })
}

/// rumqttc (5.0), as [`rumqttc_v4`].
fn rumqttc_v5(id: &str, port: u16, filter: &str, topic: &str, to_end: bool) -> Result<(), String> {
    use rumqttc::Outgoing;
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(60));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let (client, mut events) = AsyncClient::new(options, 20);
        client
            .subscribe(filter, QoS::ExactlyOnce)
            .await
            .map_err(|e| e.to_string())?;
        for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
            for n in 0..COUNT {
                client
                    .publish(topic, qos, false, format!("{qos:?}-{n}"))
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        let deadline = tokio::time::Instant::now() + PROGRAM_LIMIT;
        // Deliveries answered (PUBACK, PUBCOMP), own flows completed.
        let (mut answered, mut completed, mut disconnecting) = (0, 0, false);
        loop {
            match tokio::time::timeout_at(deadline, events.poll()).await {
                Ok(Ok(Event::Outgoing(Outgoing::PubAck(_) | Outgoing::PubComp(_)))) => {
                    answered += 1
                }
                Ok(Ok(Event::Incoming(Packet::PubAck(_) | Packet::PubComp(_)))) => completed += 1,
                Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) if disconnecting && !to_end => {
                    return Ok(());
                }
                Ok(Err(_)) if disconnecting => return Ok(()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(format!("connection error: {e}")),
                Err(_) => {
                    return Err(format!(
                        "{answered} deliveries answered, {completed} own flows done"
                    ));
                }
            }
            if !disconnecting && answered >= 2 * COUNT && completed >= 2 * COUNT {
                client.disconnect().await.map_err(|e| e.to_string())?;
                disconnecting = true;
            }
        }
    })
}

/// A row's verdicts by rule, or why its exchange could not run.
type RowOutcome = Result<BTreeMap<String, Seen>, String>;

/// Runs every row at once (each meets its own cloud) and returns them in order.
fn run_all() -> Vec<(Row, RowOutcome)> {
    let handles: Vec<_> = rows()
        .into_iter()
        .map(|row| (row, std::thread::spawn(move || run(row))))
        .collect();
    handles
        .into_iter()
        .map(|(row, h)| {
            (
                row,
                h.join()
                    .unwrap_or_else(|_| Err("the exchange panicked".into())),
            )
        })
        .collect()
}

/// Holds one row against its pins; the problems found.
fn check(row: Row, seen: &BTreeMap<String, Seen>) -> Vec<String> {
    let mut problems = Vec::new();
    let pins: BTreeMap<&str, Want> = expected(row).into_iter().collect();
    for (id, s) in seen {
        match (pins.get(id.as_str()), s.status.as_str()) {
            (None, "passed") => {}
            (Some(Want::Fail(m)), "failed") if s.message.contains(m) => {}
            (want, status) => {
                problems.push(format!("{id}: {status} ({}), pinned {want:?}", s.message))
            }
        }
    }
    for id in pins.keys() {
        if !seen.contains_key(*id) {
            problems.push(format!("{id}: not judged, pinned {:?}", pins[id]));
        }
    }
    for id in must_pass(row) {
        if seen.get(id).is_none_or(|s| s.status != "passed") {
            problems.push(format!(
                "{id}: must pass (the exchange always puts it to the test), got {:?}",
                seen.get(id)
            ));
        }
    }
    problems
}

#[test]
fn real_clients_keep_their_duties_as_pinned() {
    let mut problems = Vec::new();
    for (row, outcome) in run_all() {
        match outcome {
            Ok(seen) => {
                problems.extend(
                    check(row, &seen)
                        .into_iter()
                        .map(|p| format!("{} × {}: {p}", row.program.name(), row.suite())),
                );
                // The same session captured live and judged offline: the same verdicts.
                let live: BTreeMap<String, String> =
                    seen.into_iter().map(|(id, s)| (id, s.status)).collect();
                let offline = judged_capture(row);
                if offline != live {
                    problems.push(format!(
                        "{} × {}: the capture judged offline gives {offline:?}, live {live:?}",
                        row.program.name(),
                        row.suite()
                    ));
                }
            }
            Err(e) => problems.push(e),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// What the device tests showed of real clients, as `tests/it/device_tests_baseline.rs`
/// pins it (those tests run the cloud's scenarios and assert each verdict).
const DEVICE_TESTS_SECTION: &str = "## Device tests with real clients\n\nThe cloud shapes the connection (its CONNACK) or acts, and the client is judged; each row is pinned by a test in `tests/it/device_tests_baseline.rs`. Every client through every device test of both suites: [client-device-tests.md](client-device-tests.md).\n\n| device test | client | verdict | what the client did |\n|---|---|---|---|\n| MQTT5-DEV-SESSION-PRESENT | libmosquitto 2.0.11 (`mosquitto_sub -V 5`) | failed | stays connected after a CONNACK with Session Present 1 to its Clean Start, where it must close (MQTT-3.2.2-4) |\n| MQTT5-DEV-TOPIC-ALIAS | MQTT.js 5 | passed | resolves the Topic Alias and acknowledges all three commands |\n| MQTT5-DEV-TOPIC-ALIAS | libmosquitto 2.0.11 | failed | announces a Topic Alias Maximum of 5, then drops the connection at the first PUBLISH carrying alias 1 alone (MQTT-3.3.2-10) |\n| MQTT5-DEV-DISCONNECT-REASON | libmosquitto 2.0.11 | passed | closes at once after DISCONNECT 0x89 (MQTT-4.13.2-1) |\n| MQTT5-DEV-SERVER-KEEP-ALIVE | libmosquitto 2.0.11 | passed | pings on the 5 s Server Keep Alive instead of its own 60 s (MQTT-3.2.2-21) |\n| MQTT5-DEV-RECEIVE-MAX-1 | libmosquitto 2.0.11 (`mosquitto_pub -V 5 -l`) | passed | keeps one QoS 1 PUBLISH in flight with five waiting (MQTT-3.3.4-7) |\n| MQTT5-DEV-QOS2-BURST, MQTT311-DEV-QOS1-BURST | libmosquitto 2.0.11 | passed | completes ten flows sent at once, in order |\n| MQTT5-DEV-QOS2-PUBREL-RESUMED | libmosquitto 2.0.11 (Clean Session 0) | passed | reconnects, gets the withheld PUBRELs again and completes both flows |\n\n";

/// Writes docs/client-matrix.md from a fresh run.
#[test]
#[ignore = "writes docs/client-matrix.md; run on purpose"]
fn write_the_client_matrix() {
    let mut doc = String::from(
        "# Client conformance matrix\n\nReal MQTT clients as devices of the baseline suites (`mqtt-3.1.1`, `mqtt-5`) in device mode, judged by the suites' `conduct` rules. Written by `cargo test --test it -- --ignored --exact client_matrix::write_the_client_matrix`; the verdicts are pinned in `tests/it/client_matrix.rs`.\n\nThe exchange: each client subscribes at QoS 2 and publishes 3 messages at QoS 1 and 3 at QoS 2 that the cloud delivers back, so flows run in both directions at once, waits until every flow has ended, then disconnects. mosquitto and the Paho C samples play it with three programs (one subscriber, a publisher per QoS; the Paho C publishers one message each), each its own connection. A rule a client's conversation did not put to the test (an order rule needs two acknowledgements due at once) is not listed for it, so the counts vary a little from run to run. Verdicts: the worst over the row's connections.\n\nDeviations seen:\n\n- rumqttc writes the DISCONNECT and goes on reading until the server closes the connection (MQTT-3.14.4-1 in 3.1.1, MQTT-3.14.4-2 in 5.0 require the client to close it). An application that polls the event loop to its end, as the crate's examples do, keeps the connection open until the server gives up (device mode waits 3 s); one that drops the event loop once the DISCONNECT is out conforms.\n- Outside the protocol: `paho_c_pub` 1.3.11 reading messages from its standard input does not stop at the end of the input; it goes on publishing messages of 0xFF bytes until killed (46,000 in 2 s to a local mosquitto), so the matrix gives it its message with `-m`.\n\n",
    );
    doc.push_str(DEVICE_TESTS_SECTION);
    doc.push_str("## The QoS exchange\n\n| client | suite | rules judged | passed | failed | inconclusive |\n|---|---|---|---|---|---|\n");
    let results = run_all();
    for (row, outcome) in &results {
        match outcome {
            Ok(seen) => {
                let count = |s: &str| seen.values().filter(|v| v.status == s).count();
                doc.push_str(&format!(
                    "| {} | `{}` | {} | {} | {} | {} |\n",
                    row.program.name(),
                    row.suite(),
                    seen.len(),
                    count("passed"),
                    count("failed"),
                    count("inconclusive")
                ));
            }
            Err(e) => doc.push_str(&format!(
                "| {} | `{}` | could not run: {e} | | | |\n",
                row.program.name(),
                row.suite()
            )),
        }
    }
    for (row, outcome) in &results {
        let Ok(seen) = outcome else { continue };
        doc.push_str(&format!(
            "\n## {} — `{}`\n\n| rule | verdict | message |\n|---|---|---|\n",
            row.program.name(),
            row.suite()
        ));
        for (id, s) in seen {
            let message = s.message.replace('|', "\\|").replace('\n', " ");
            doc.push_str(&format!(
                "| {id} | {} | {} |\n",
                s.status,
                if s.status == "passed" {
                    String::new()
                } else {
                    message
                }
            ));
        }
    }
    std::fs::write(repo_file("docs/client-matrix.md"), doc).expect("docs/ is writable");
}
