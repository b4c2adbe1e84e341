//! Real MQTT clients through every device test of the baseline suites (`mqtt-3.1.1`,
//! `mqtt-5`): each client program runs as a device written the way its users write one — it
//! reconnects on its own, subscribes on every CONNACK and (where the program can) publishes a
//! retained 200-byte QoS 1 message every second — while the cloud plays the suite's device
//! tests on it one after the other: the CONNACKs with Session Present 1, Receive Maximum 1,
//! Maximum QoS 0, Retain Available 0, a Maximum Packet Size of 128, a Server Keep Alive of
//! 5 s; a server DISCONNECT; commands with a Topic Alias, in bursts, and QoS 2 flows whose
//! PUBREL comes only on the resumed session. The passive `conduct` rules judge what the client
//! does meanwhile.
//!
//! Every device test's verdict and every rule verdict that is not a pass is pinned per row
//! below, with what its message must hold; every other rule must have passed. Each session is
//! captured (`--capture`) and the capture judged offline (`--pcap`) must give the live verdict
//! of every rule. `device_test_matrix::write_the_device_test_matrix` (ignored) writes
//! docs/client-device-tests.md.
//!
//! Needs: python3 with paho-mqtt 2, node with `npm ci --prefix tests/js` done, mosquitto_sub,
//! paho_c_sub.

use crate::support::capture_cli::{judge_capture, worst_cases};
use crate::support::cloud::Cloud;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The device tests of `mqtt-5`, in the order the cloud plays them.
const V5_TESTS: [&str; 11] = [
    "MQTT5-DEV-SESSION-PRESENT",
    "MQTT5-DEV-DISCONNECT-REASON",
    "MQTT5-DEV-RECEIVE-MAX-1",
    "MQTT5-DEV-MAX-QOS-0",
    "MQTT5-DEV-RETAIN-UNAVAILABLE",
    "MQTT5-DEV-MAX-PACKET-SIZE",
    "MQTT5-DEV-SERVER-KEEP-ALIVE",
    "MQTT5-DEV-TOPIC-ALIAS",
    "MQTT5-DEV-QOS1-BURST",
    "MQTT5-DEV-QOS2-BURST",
    "MQTT5-DEV-QOS2-PUBREL-RESUMED",
];

/// The device tests of `mqtt-3.1.1`, in the order the cloud plays them.
const V311_TESTS: [&str; 3] = [
    "MQTT311-DEV-QOS1-BURST",
    "MQTT311-DEV-QOS2-BURST",
    "MQTT311-DEV-QOS2-PUBREL-RESUMED",
];

/// A client program playing the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Program {
    /// paho-mqtt (Python), tests/py/paho_device_tests.py.
    Paho,
    /// MQTT.js (Node), tests/js/device_tests.js.
    MqttJs,
    /// rumqttc, in this process: its event loop polled again after every error (which
    /// reconnects), a subscription on every CONNACK.
    Rumqttc,
    /// mosquitto_sub (QoS 2); it only subscribes.
    MosquittoSub,
    /// The Paho C sample paho_c_sub (QoS 2); it only subscribes and always asks for a clean
    /// session.
    PahoCSub,
}

impl Program {
    fn name(self) -> &'static str {
        match self {
            Program::Paho => "paho-mqtt 2.2 (Python)",
            Program::MqttJs => "MQTT.js 5 (Node)",
            Program::Rumqttc => "rumqttc 0.25",
            Program::MosquittoSub => "mosquitto_sub 2.0",
            Program::PahoCSub => "paho_c_sub 1.3 (Paho C)",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Program::Paho => "paho",
            Program::MqttJs => "mqttjs",
            Program::Rumqttc => "rumqttc",
            Program::MosquittoSub => "mosqsub",
            Program::PahoCSub => "pahocsub",
        }
    }

    /// Whether the program can ask to resume its session.
    fn resumes(self) -> bool {
        self != Program::PahoCSub
    }
}

/// One row: a program speaking one version, asking for a clean session or resuming one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    program: Program,
    v5: bool,
    clean: bool,
}

impl Row {
    fn suite(self) -> &'static str {
        if self.v5 { "mqtt-5" } else { "mqtt-3.1.1" }
    }

    fn id(self) -> String {
        format!(
            "dt-{}-{}{}",
            self.program.tag(),
            if self.v5 { "5" } else { "311" },
            if self.clean { "-clean" } else { "" }
        )
    }

    /// The device tests the row plays: all of its suite's, but for the rows that ask for a
    /// clean session only to play the one test a resuming device cannot
    /// (MQTT5-DEV-SESSION-PRESENT).
    fn tests(self) -> Vec<&'static str> {
        match (self.v5, self.clean && self.program.resumes()) {
            (true, true) => vec!["MQTT5-DEV-SESSION-PRESENT"],
            (true, false) => V5_TESTS.to_vec(),
            (false, _) => V311_TESTS.to_vec(),
        }
    }

    /// How long the cloud runs at most: the tests' timeouts and the reconnects between them.
    fn duration(self) -> Duration {
        Duration::from_secs(match self.tests().len() {
            1 => 30,
            3 => 60,
            _ => 150,
        })
    }

    fn label(self) -> String {
        let session = if self.clean {
            "clean session"
        } else {
            "resumed session"
        };
        format!("{} — `{}`, {session}", self.program.name(), self.suite())
    }
}

/// Every row of one version: each program resuming its session where it can (paho_c_sub
/// cannot), and in 5.0 the resuming ones once more with a clean session for the Session
/// Present test.
fn rows(v5: bool) -> Vec<Row> {
    let programs = [
        Program::Paho,
        Program::MqttJs,
        Program::Rumqttc,
        Program::MosquittoSub,
        Program::PahoCSub,
    ];
    let mut rows: Vec<Row> = programs
        .iter()
        .map(|&program| Row {
            program,
            v5,
            clean: !program.resumes(),
        })
        .collect();
    if v5 {
        rows.extend(programs.iter().filter(|p| p.resumes()).map(|&program| Row {
            program,
            v5,
            clean: true,
        }));
    }
    rows
}

/// A verdict of a row's run: the worst over its connections for a rule, the test's own for
/// a device test.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    status: String,
    message: String,
}

/// A row's verdicts by rule or device test id, or why the row could not run.
type RowOutcome = Result<BTreeMap<String, Seen>, String>;

/// Runs `row` against its suite's device mode: the verdict of every device test and rule,
/// after checking that the capture judged offline gives the live verdict of every rule.
fn run(row: Row) -> RowOutcome {
    let capture = std::env::temp_dir().join(format!("{}-{}.pcapng", row.id(), std::process::id()));
    let capture_arg = capture.display().to_string();
    let tests = row.tests();
    let mut args = vec!["--device-tests", "--capture", &capture_arg];
    if tests.len() == 1 {
        args.extend(["--exact", tests[0]]);
    }
    let cloud = Cloud::start_suite_for(row.suite(), &row.id(), 1, row.duration(), &args);
    let device = Device::start(row, cloud.port)?;
    // Each test's line on the console ("ID ... STATUS"): once all are there, the device has
    // nothing left to do. A test that never starts is reported when the run ends.
    let needles: Vec<String> = tests.iter().map(|t| format!("{t} ... ")).collect();
    cloud.wait_for_each(&needles, row.duration());
    device.stop();
    let groups = cloud.groups();
    let cases: Vec<&serde_json::Value> = groups.iter().flat_map(|(_, c)| c).collect();
    let live = seen(cases.iter().copied());

    let report = judge_capture(row.suite(), &[&capture], &[], &[]);
    let _ = std::fs::remove_file(&capture);
    let offline = seen(
        report["suites"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|suite| suite["cases"].as_array().into_iter().flatten()),
    );
    let statuses = |verdicts: &BTreeMap<String, Seen>| -> BTreeMap<String, String> {
        verdicts
            .iter()
            .filter(|(id, _)| is_rule(id))
            .map(|(id, s)| (id.clone(), s.status.clone()))
            .collect()
    };
    let (live_statuses, offline_statuses) = (statuses(&live), statuses(&offline));
    if offline_statuses != live_statuses {
        let ids: std::collections::BTreeSet<&String> = live_statuses
            .keys()
            .chain(offline_statuses.keys())
            .collect();
        let differing: Vec<String> = ids
            .into_iter()
            .filter(|id| live_statuses.get(*id) != offline_statuses.get(*id))
            .map(|id| {
                let verdict = |v: &BTreeMap<String, Seen>| {
                    v.get(id).map_or("not reported".to_owned(), |s| {
                        format!("{} ({})", s.status, s.message)
                    })
                };
                format!(
                    "{id}: live {}; offline {}",
                    verdict(&live),
                    verdict(&offline)
                )
            })
            .collect();
        return Err(format!(
            "the capture judged offline gives other verdicts than the live run: {}",
            differing.join("; ")
        ));
    }
    Ok(live)
}

/// A rule of the suite, as opposed to a device test or the run's login summary (which only
/// a live run gives).
fn is_rule(id: &str) -> bool {
    !id.contains("-DEV-") && id != "DEVICE-LOGIN" && id != "CONNECTIONS-WITHOUT-CONNECT"
}

/// The worst verdict of every id over `cases`, with its message.
fn seen<'a>(cases: impl IntoIterator<Item = &'a serde_json::Value>) -> BTreeMap<String, Seen> {
    worst_cases(cases)
        .into_iter()
        .map(|(id, case)| {
            let text = |field: &str| {
                case["verdict"][field]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            };
            // A skipped case gives its reason where the others give a message.
            let message = match text("message") {
                m if m.is_empty() => text("reason"),
                m => m,
            };
            let seen = Seen {
                status: text("status"),
                message,
            };
            (id, seen)
        })
        .collect()
}

/// A running device: a client program, or rumqttc on a thread of this process.
enum Device {
    Program(Child),
    Rumqttc {
        stop: tokio::sync::oneshot::Sender<()>,
        thread: std::thread::JoinHandle<()>,
    },
}

impl Device {
    /// Starts `row`'s program against the cloud on `port`.
    fn start(row: Row, port: u16) -> Result<Device, String> {
        let id = row.id();
        let filter = format!("{id}/cmd");
        let topic = format!("{id}/up");
        let version = if row.v5 { "5" } else { "3.1.1" };
        let script = |command: &mut Command| {
            command
                .env("DT_HOST", "127.0.0.1")
                .env("DT_PORT", port.to_string())
                .env("DT_PROTOCOL", version)
                .env("DT_CLIENT_ID", &id)
                .env("DT_FILTER", &filter)
                .env("DT_TOPIC", &topic)
                .env("DT_CLEAN", if row.clean { "1" } else { "0" });
        };
        let mut command = match row.program {
            Program::Paho => {
                let mut c = Command::new("python3");
                c.arg(repo_file("tests/py/paho_device_tests.py"));
                script(&mut c);
                c
            }
            Program::MqttJs => {
                let mut c = Command::new("node");
                c.arg(repo_file("tests/js/device_tests.js"));
                script(&mut c);
                c
            }
            Program::MosquittoSub => {
                let mut c = Command::new("mosquitto_sub");
                c.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-i", &id])
                    .args(["-V", if row.v5 { "mqttv5" } else { "mqttv311" }])
                    .args(["-t", &filter, "-q", "2", "-k", "10", "-v"]);
                if !row.clean {
                    c.arg("-c");
                }
                if row.v5 {
                    c.args(["-D", "connect", "topic-alias-maximum", "5"]);
                    if !row.clean {
                        c.args(["-x", "300"]);
                    }
                }
                c
            }
            Program::PahoCSub => {
                let mut c = Command::new("paho_c_sub");
                c.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-i", &id])
                    .args(["-V", if row.v5 { "5" } else { "311" }])
                    .args(["-t", &filter, "-q", "2", "-k", "10"]);
                c
            }
            Program::Rumqttc => {
                let (stop, stopped) = tokio::sync::oneshot::channel();
                let thread = std::thread::spawn(move || {
                    rumqttc_device(row, port, &filter, &topic, stopped);
                });
                return Ok(Device::Rumqttc { stop, thread });
            }
        };
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(Device::Program)
            .map_err(|e| format!("cannot start {}: {e}", row.program.name()))
    }

    /// Ends the device: the program is killed, rumqttc's event loop dropped.
    fn stop(self) {
        match self {
            Device::Program(mut child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Device::Rumqttc { stop, thread } => {
                let _ = stop.send(());
                let _ = thread.join();
            }
        }
    }
}

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Keep Alive of every device, in seconds.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// rumqttc as the device of `row` until `stopped` fires: 3.1.1 or 5.0 per the row.
fn rumqttc_device(
    row: Row,
    port: u16,
    filter: &str,
    topic: &str,
    stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let id = row.id();
    runtime.block_on(async move {
        let driven = async {
            if row.v5 {
                rumqttc_v5(&id, port, row.clean, filter, topic).await
            } else {
                rumqttc_v4(&id, port, row.clean, filter, topic).await
            }
        };
        tokio::select! {
            () = driven => {}
            _ = stopped => {}
        }
    });
}

/// rumqttc speaking 3.1.1, forever.
async fn rumqttc_v4(id: &str, port: u16, clean: bool, filter: &str, topic: &str) {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options.set_keep_alive(KEEP_ALIVE).set_clean_session(clean);
    let (client, mut events) = AsyncClient::new(options, 100);
    let publisher = client.clone();
    let topic = topic.to_owned();
    tokio::spawn(async move {
        let mut every_second = tokio::time::interval(Duration::from_secs(1));
        loop {
            every_second.tick().await;
            let _ = publisher.try_publish(&topic, QoS::AtLeastOnce, true, vec![b'r'; 200]);
        }
    });
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                let _ = client.try_subscribe(filter, QoS::ExactlyOnce);
            }
            Ok(_) => {}
            // The next poll reconnects.
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

/// rumqttc speaking 5.0 (a Session Expiry Interval of 300 s unless `clean`, a Topic Alias
/// Maximum of 5), forever.
async fn rumqttc_v5(id: &str, port: u16, clean: bool, filter: &str, topic: &str) {
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options
        .set_keep_alive(KEEP_ALIVE)
        .set_clean_start(clean)
        .set_topic_alias_max(Some(5));
    if !clean {
        options.set_session_expiry_interval(Some(300));
    }
    let (client, mut events) = AsyncClient::new(options, 100);
    let publisher = client.clone();
    let topic = topic.to_owned();
    tokio::spawn(async move {
        let mut every_second = tokio::time::interval(Duration::from_secs(1));
        loop {
            every_second.tick().await;
            let _ = publisher.try_publish(&topic, QoS::AtLeastOnce, true, vec![b'r'; 200]);
        }
    });
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                let _ = client.try_subscribe(filter, QoS::ExactlyOnce);
            }
            Ok(_) => {}
            // The next poll reconnects.
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

/// Runs every row at once (each meets its own cloud) and returns them in order.
fn run_all(rows: Vec<Row>) -> Vec<(Row, RowOutcome)> {
    let handles: Vec<_> = rows
        .into_iter()
        .map(|row| (row, std::thread::spawn(move || run(row))))
        .collect();
    handles
        .into_iter()
        .map(|(row, handle)| {
            let outcome = handle
                .join()
                .unwrap_or_else(|_| Err("the run panicked".into()));
            (row, outcome)
        })
        .collect()
}

/// Prints what every row gave (for pinning by hand).
#[test]
#[ignore = "prints the device-test verdicts of every real client"]
fn print_the_device_test_matrix() {
    // DEVICE_TEST_MATRIX_ROW=dt-paho-5 prints only the rows whose id holds it.
    let only = std::env::var("DEVICE_TEST_MATRIX_ROW").unwrap_or_default();
    for v5 in [false, true] {
        let chosen = rows(v5)
            .into_iter()
            .filter(|row| row.id().contains(&only))
            .collect();
        for (row, outcome) in run_all(chosen) {
            println!("== {}", row.label());
            match outcome {
                Ok(verdicts) => {
                    let mut all = String::new();
                    for (id, s) in verdicts {
                        all.push_str(&format!("{id}: {} — {}\n", s.status, s.message));
                        if s.status != "passed" || id.contains("-DEV-") {
                            println!("  {id}: {} — {}", s.status, s.message);
                        }
                    }
                    let _ = std::fs::create_dir_all("/tmp/dtm");
                    let _ = std::fs::write(format!("/tmp/dtm/{}.txt", row.id()), all);
                }
                Err(e) => println!("  could not run: {e}"),
            }
        }
    }
}
