//! Real MQTT clients through every device test of the baseline suites (`mqtt-3.1.1`,
//! `mqtt-5`): each client program runs as a device written the way its users write one — it
//! reconnects on its own (or is started again by a supervisor when it exits), subscribes on every CONNACK and (where the program can) publishes a
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
//! of every rule. `device_test_matrix::write_the_device_test_doc` (ignored) writes
//! docs/client-device-tests.md from the pins.
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
const V5_TESTS: [&str; 14] = [
    "MQTT5-DEV-ENHANCED-AUTH",
    "MQTT5-DEV-SESSION-PRESENT",
    "MQTT5-DEV-DISCONNECT-REASON",
    "MQTT5-DEV-RECEIVE-MAX-1",
    "MQTT5-DEV-MAX-QOS-0",
    "MQTT5-DEV-RETAIN-UNAVAILABLE",
    "MQTT5-DEV-MAX-PACKET-SIZE",
    "MQTT5-DEV-SERVER-KEEP-ALIVE",
    "MQTT5-DEV-TOPIC-ALIAS",
    "MQTT5-DEV-REQUEST-RESPONSE",
    "MQTT5-DEV-QOS1-BURST",
    "MQTT5-DEV-QOS2-BURST",
    "MQTT5-DEV-QOS2-PUBREL-RESUMED",
    "MQTT5-DEV-ASSIGNED-ID",
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

/// One row: a program speaking one version, asking for a clean session or resuming one,
/// and (5.0) naming the cloud's enhanced-authentication method or not, connecting with its
/// own client id or an empty one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    program: Program,
    v5: bool,
    clean: bool,
    auth: bool,
    anon: bool,
}

impl Row {
    fn suite(self) -> &'static str {
        if self.v5 { "mqtt-5" } else { "mqtt-3.1.1" }
    }

    fn id(self) -> String {
        format!(
            "dt-{}-{}{}{}{}",
            self.program.tag(),
            if self.v5 { "5" } else { "311" },
            if self.clean { "-clean" } else { "" },
            if self.auth { "-auth" } else { "" },
            if self.anon { "-anon" } else { "" }
        )
    }

    /// The device tests the row plays: all of its suite's, but for the rows that ask for a
    /// clean session only to play the one test a resuming device cannot
    /// (MQTT5-DEV-SESSION-PRESENT), and the enhanced-authentication rows only to play
    /// MQTT5-DEV-ENHANCED-AUTH.
    fn tests(self) -> Vec<&'static str> {
        if self.auth {
            return vec!["MQTT5-DEV-ENHANCED-AUTH"];
        }
        if self.anon {
            return vec!["MQTT5-DEV-ASSIGNED-ID"];
        }
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
            _ => 180,
        })
    }

    fn label(self) -> String {
        let session = match (self.auth, self.anon, self.clean) {
            (true, _, _) => "enhanced authentication",
            (_, true, _) => "empty client id",
            (false, false, true) => "clean session",
            (false, false, false) => "resumed session",
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
    let row = |program, clean, auth, anon| Row {
        program,
        v5,
        clean,
        auth,
        anon,
    };
    let mut rows: Vec<Row> = programs
        .iter()
        .map(|&p| row(p, !p.resumes(), false, false))
        .collect();
    if v5 {
        let libraries = [Program::Paho, Program::MqttJs, Program::Rumqttc];
        rows.extend(
            programs
                .iter()
                .filter(|p| p.resumes())
                .map(|&p| row(p, true, false, false)),
        );
        // The libraries whose applications can name an Authentication Method.
        rows.extend(libraries.map(|p| row(p, false, true, false)));
        // The libraries that connect with an empty client id when given one (MQTT.js only
        // with a clean session).
        rows.extend(libraries.map(|p| row(p, p == Program::MqttJs, false, true)));
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

/// A running device: a client program kept running by a supervisor, or rumqttc on a
/// thread of this process.
enum Device {
    Program {
        stop: std::sync::mpsc::Sender<()>,
        supervisor: std::thread::JoinHandle<()>,
    },
    Rumqttc {
        stop: tokio::sync::oneshot::Sender<()>,
        thread: std::thread::JoinHandle<()>,
    },
}

/// How a client program is started: the program, its arguments and its environment.
struct Launch {
    program: String,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
}

impl Launch {
    fn new(program: &str) -> Self {
        Launch {
            program: program.to_owned(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    fn args<'a>(mut self, args: impl IntoIterator<Item = &'a str>) -> Self {
        self.args.extend(args.into_iter().map(str::to_owned));
        self
    }

    fn spawn(&self) -> std::io::Result<Child> {
        Command::new(&self.program)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (*k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
    }
}

/// How long the supervisor waits before starting an exited program again.
const RESTART_AFTER: Duration = Duration::from_secs(1);

impl Device {
    /// Starts `row`'s program against the cloud on `port`.
    fn start(row: Row, port: u16) -> Result<Device, String> {
        let name = row.id();
        let id = if row.anon {
            String::new()
        } else {
            name.clone()
        };
        let filter = format!("{name}/cmd");
        let topic = format!("{name}/up");
        let version = if row.v5 { "5" } else { "3.1.1" };
        let port_text = port.to_string();
        let script = |interpreter: &str, path: &str| {
            let mut launch = Launch::new(interpreter);
            launch.args.push(repo_file(path).display().to_string());
            launch.env = vec![
                ("DT_HOST", "127.0.0.1".to_owned()),
                ("DT_PORT", port_text.clone()),
                ("DT_PROTOCOL", version.to_owned()),
                ("DT_CLIENT_ID", id.clone()),
                ("DT_FILTER", filter.clone()),
                ("DT_TOPIC", topic.clone()),
                ("DT_CLEAN", if row.clean { "1" } else { "0" }.to_owned()),
                ("DT_AUTH", if row.auth { "1" } else { "0" }.to_owned()),
            ];
            launch
        };
        let launch = match row.program {
            Program::Paho => script("python3", "tests/py/paho_device_tests.py"),
            Program::MqttJs => script("node", "tests/js/device_tests.js"),
            Program::MosquittoSub => {
                let mut launch = Launch::new("mosquitto_sub")
                    .args(["-h", "127.0.0.1", "-p", &port_text, "-i", &id])
                    .args(["-V", if row.v5 { "mqttv5" } else { "mqttv311" }])
                    .args(["-t", &filter, "-q", "2", "-k", "10", "-v"]);
                if !row.clean {
                    launch = launch.args(["-c"]);
                }
                if row.v5 {
                    launch = launch.args(["-D", "connect", "topic-alias-maximum", "5"]);
                    if !row.clean {
                        launch = launch.args(["-x", "300"]);
                    }
                }
                launch
            }
            Program::PahoCSub => Launch::new("paho_c_sub")
                .args(["-h", "127.0.0.1", "-p", &port_text, "-i", &id])
                .args(["-V", if row.v5 { "5" } else { "311" }])
                .args(["-t", &filter, "-q", "2", "-k", "10"]),
            Program::Rumqttc => {
                let (stop, stopped) = tokio::sync::oneshot::channel();
                let thread = std::thread::spawn(move || {
                    rumqttc_device(row, port, &filter, &topic, stopped);
                });
                return Ok(Device::Rumqttc { stop, thread });
            }
        };
        let first = launch
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", row.program.name()))?;
        let (stop, stopped) = std::sync::mpsc::channel();
        let supervisor = std::thread::spawn(move || supervise(launch, first, stopped));
        Ok(Device::Program { stop, supervisor })
    }

    /// Ends the device: the program is killed, rumqttc's event loop dropped.
    fn stop(self) {
        match self {
            Device::Program { stop, supervisor } => {
                let _ = stop.send(());
                let _ = supervisor.join();
            }
            Device::Rumqttc { stop, thread } => {
                let _ = stop.send(());
                let _ = thread.join();
            }
        }
    }
}

/// Keeps a device program running the way a device's service manager does: started again
/// [`RESTART_AFTER`] once it exits (mosquitto_sub ends on a server's DISCONNECT, paho_c_sub
/// on a lost connection), killed when `stopped` fires.
fn supervise(launch: Launch, first: Child, stopped: std::sync::mpsc::Receiver<()>) {
    let mut child = Some(first);
    let mut exited_at: Option<std::time::Instant> = None;
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
        stopped.recv_timeout(Duration::from_millis(50))
    {
        if let Some(c) = child.as_mut() {
            if !matches!(c.try_wait(), Ok(None)) {
                child = None;
                exited_at = Some(std::time::Instant::now());
            }
        } else if exited_at.is_some_and(|t| t.elapsed() >= RESTART_AFTER) {
            child = launch.spawn().ok();
            exited_at = child.is_none().then(std::time::Instant::now);
        }
    }
    if let Some(mut c) = child {
        let _ = c.kill();
        let _ = c.wait();
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
    let id = if row.anon { String::new() } else { row.id() };
    runtime.block_on(async move {
        let driven = async {
            if row.v5 {
                rumqttc_v5(&id, port, row.clean, row.auth, filter, topic).await
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
/// Maximum of 5, with `auth` the cloud's Authentication Method), forever.
async fn rumqttc_v5(id: &str, port: u16, clean: bool, auth: bool, filter: &str, topic: &str) {
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options
        .set_keep_alive(KEEP_ALIVE)
        .set_clean_start(clean)
        .set_topic_alias_max(Some(5));
    if !clean {
        options.set_session_expiry_interval(Some(300));
    }
    if auth {
        options.set_authentication_method(Some("mqtt-conform-echo".to_owned()));
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
            // A request: answered on its Response Topic with its Correlation Data.
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let request = p.properties.as_ref().and_then(|props| {
                    let topic = props.response_topic.clone()?;
                    Some((topic, props.correlation_data.clone()))
                });
                if let Some((response_topic, correlation_data)) = request {
                    let reply = PublishProperties {
                        correlation_data,
                        ..PublishProperties::default()
                    };
                    let _ = client.try_publish_with_properties(
                        response_topic,
                        QoS::AtMostOnce,
                        false,
                        "response",
                        reply,
                    );
                }
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

/// A pinned verdict: the row, the device test or rule, the statuses it may have (`|`
/// between them where the timing of the client's packets decides), what its message must
/// hold, and the client's behaviour behind it in one line.
struct Pin {
    row: &'static str,
    id: &'static str,
    statuses: &'static str,
    holds: &'static str,
    why: &'static str,
}

const fn pin(
    row: &'static str,
    id: &'static str,
    statuses: &'static str,
    holds: &'static str,
    why: &'static str,
) -> Pin {
    Pin {
        row,
        id,
        statuses,
        holds,
        why,
    }
}

const RESUMES: &str =
    "asks to resume its session (Clean Start 0), so Session Present 1 need not make it close";
const PAHO_QOS: &str = "passes the application's QoS 1 through after a CONNACK with Maximum QoS 0";
const PAHO_RETAIN: &str =
    "passes the application's RETAIN 1 through after a CONNACK with Retain Available 0";
const PAHO_SIZE: &str = "sends its 220-byte PUBLISH after a CONNACK with Maximum Packet Size 128";
const PAHO_QUOTA: &str = "ignores the CONNACK's Receive Maximum of 1: a new QoS 1 PUBLISH every second while the first is unacknowledged";
const JS_QOS: &str = "passes the application's QoS 1 through after a CONNACK with Maximum QoS 0";
const JS_RETAIN: &str =
    "passes the application's RETAIN 1 through after a CONNACK with Retain Available 0";
const JS_SIZE: &str = "sends its 222-byte PUBLISH after a CONNACK with Maximum Packet Size 128";
const JS_DISCONNECT: &str = "emits `disconnect` on the server's DISCONNECT 0x89 and keeps the connection open, publishing, until the cloud closes it";
const JS_DUP: &str = "re-sends its stored PUBLISHes on a resumed session with DUP 0 (one at a time, each after the previous one's PUBACK)";
const RUMQTTC_QOS: &str =
    "sends the application's QoS 1 PUBLISH after a CONNACK with Maximum QoS 0";
const RUMQTTC_RETAIN: &str =
    "sends the application's RETAIN 1 after a CONNACK with Retain Available 0";
const RUMQTTC_DISCONNECT: &str = "hands the server's DISCONNECT 0x89 to the application as an event and keeps the connection open, publishing, until the cloud closes it";
const RUMQTTC_DUP: &str = "re-sends the session's unacknowledged PUBLISHes on reconnect with DUP 0";
const RUMQTTC_QUOTA: &str = "re-sends every unacknowledged PUBLISH at once on reconnect whatever the Receive Maximum (about 20 under Receive Maximum 1), within 0.5 s of the CONNACK, where a packet may have left before the CONNACK arrived: inconclusive (failed if they come later)";
const RUMQTTC_PUBREL: &str = "forgets its QoS 2 receive state on reconnect and closes the connection on the re-sent PUBREL (\"unsolicited\") instead of answering PUBCOMP";
const RUMQTTC_PUBCOMP: &str =
    "closed the connection inside the window a PUBCOMP is waited for (the device test fails it)";
const FORGETS_ID: &str = "reconnects with an empty client id again, not under the Assigned Client Identifier of its CONNACK: a new identifier each time, so its session never resumes";
const OWN_ID: &str = "connects with its own client id in this row (its empty-client-id row, where it has one, does not)";
const ANSWERS: &str = "the device's application answers on the Response Topic with the Correlation Data (the library passes both through)";
const NO_METHOD: &str = "names no Authentication Method in this row (its enhanced-authentication row, where it has one, does)";
const STAYS: &str = "stays connected, sending, after Session Present 1 to its Clean Start";

/// Every verdict that is not a pass, and every device test's verdict, per row. A device
/// test not listed is `recorded` (its rules judge it); a rule not listed passed.
const PINS: &[Pin] = &[
    // Seen once, in a full `cargo test` run on a loaded machine.
    pin(
        "dt-paho-5",
        "MQTT-4.6.0-1",
        "passed|failed",
        "re-sent before id",
        "once, under load: re-sent packet id 2 before id 3, which it had first sent earlier (a message published while it reconnects may go out after a later one, while it re-sends in packet-id order); the order held in every other run",
    ),
    // An empty client id: none of the libraries keeps the Assigned Client Identifier.
    pin(
        "dt-paho-5-anon",
        "MQTT5-DEV-ASSIGNED-ID",
        "recorded",
        "with an empty client id again",
        FORGETS_ID,
    ),
    pin(
        "dt-mqttjs-5-clean-anon",
        "MQTT5-DEV-ASSIGNED-ID",
        "recorded",
        "with an empty client id again",
        FORGETS_ID,
    ),
    pin(
        "dt-rumqttc-5-anon",
        "MQTT5-DEV-ASSIGNED-ID",
        "recorded",
        "with an empty client id again",
        FORGETS_ID,
    ),
    pin(
        "dt-paho-5",
        "MQTT5-DEV-ASSIGNED-ID",
        "skipped",
        "assigned the device no client identifier",
        OWN_ID,
    ),
    pin(
        "dt-mqttjs-5",
        "MQTT5-DEV-ASSIGNED-ID",
        "skipped",
        "assigned the device no client identifier",
        OWN_ID,
    ),
    pin(
        "dt-rumqttc-5",
        "MQTT5-DEV-ASSIGNED-ID",
        "skipped",
        "assigned the device no client identifier",
        OWN_ID,
    ),
    pin(
        "dt-mosqsub-5",
        "MQTT5-DEV-ASSIGNED-ID",
        "skipped",
        "assigned the device no client identifier",
        OWN_ID,
    ),
    pin(
        "dt-pahocsub-5-clean",
        "MQTT5-DEV-ASSIGNED-ID",
        "skipped",
        "",
        "not connected when the test's turn came",
    ),
    // Request/Response: the applications of the libraries answer; the command-line
    // subscribers cannot.
    pin(
        "dt-paho-5",
        "MQTT5-DEV-REQUEST-RESPONSE",
        "passed",
        "",
        ANSWERS,
    ),
    pin(
        "dt-mqttjs-5",
        "MQTT5-DEV-REQUEST-RESPONSE",
        "passed",
        "",
        ANSWERS,
    ),
    pin(
        "dt-rumqttc-5",
        "MQTT5-DEV-REQUEST-RESPONSE",
        "passed",
        "",
        ANSWERS,
    ),
    pin(
        "dt-mosqsub-5",
        "MQTT5-DEV-REQUEST-RESPONSE",
        "recorded",
        "no reply on dt-mosqsub-5/response within 5.00 s",
        "prints the request; a command-line subscriber has no way to answer it",
    ),
    pin(
        "dt-pahocsub-5-clean",
        "MQTT5-DEV-REQUEST-RESPONSE",
        "skipped",
        "",
        "not connected when the test's turn came",
    ),
    // Enhanced authentication.
    pin(
        "dt-paho-5-auth",
        "MQTT5-DEV-ENHANCED-AUTH",
        "failed",
        "the device never answered the cloud's AUTH 0x18 challenge; the connection was closed by the device before any CONNACK",
        "lets the application name an Authentication Method but handles no AUTH packet: it closes the connection at the server's challenge",
    ),
    pin(
        "dt-mqttjs-5-auth",
        "MQTT5-DEV-ENHANCED-AUTH",
        "passed",
        "",
        "answers the challenge through its `handleAuth` hook (the application sends the data back) and gets the CONNACK",
    ),
    pin(
        "dt-rumqttc-5-auth",
        "MQTT5-DEV-ENHANCED-AUTH",
        "failed",
        "the device never answered the cloud's AUTH 0x18 challenge; the connection was closed by the device before any CONNACK",
        "sends the Authentication Method it is given but handles no AUTH packet: it closes the connection at the server's challenge",
    ),
    // Rows whose programs name no Authentication Method.
    pin(
        "dt-paho-5",
        "MQTT5-DEV-ENHANCED-AUTH",
        "skipped",
        "names no Authentication Method",
        NO_METHOD,
    ),
    pin(
        "dt-mqttjs-5",
        "MQTT5-DEV-ENHANCED-AUTH",
        "skipped",
        "names no Authentication Method",
        NO_METHOD,
    ),
    pin(
        "dt-rumqttc-5",
        "MQTT5-DEV-ENHANCED-AUTH",
        "skipped",
        "names no Authentication Method",
        NO_METHOD,
    ),
    pin(
        "dt-mosqsub-5",
        "MQTT5-DEV-ENHANCED-AUTH",
        "skipped",
        "names no Authentication Method",
        NO_METHOD,
    ),
    pin(
        "dt-pahocsub-5-clean",
        "MQTT5-DEV-ENHANCED-AUTH",
        "skipped",
        "names no Authentication Method",
        NO_METHOD,
    ),
    // MQTT 3.1.1.
    pin(
        "dt-rumqttc-311",
        "MQTT311-DEV-QOS2-PUBREL-RESUMED",
        "failed",
        "after the cloud re-sent the PUBREL(s), with no PUBCOMP for packet id(s)",
        RUMQTTC_PUBREL,
    ),
    pin(
        "dt-rumqttc-311",
        "MQTT-4.3.3-2",
        "inconclusive",
        "inside the 10 s it is waited for",
        RUMQTTC_PUBCOMP,
    ),
    pin(
        "dt-rumqttc-311",
        "MQTT-4.5.0-2",
        "inconclusive",
        "inside the 10 s it is waited for",
        RUMQTTC_PUBCOMP,
    ),
    pin(
        "dt-pahocsub-311-clean",
        "MQTT311-DEV-QOS2-PUBREL-RESUMED",
        "inconclusive",
        "connected again with a new session (Session Present 0)",
        "always asks for a clean session: no flow to resume",
    ),
    // MQTT 5.0, sessions resumed.
    pin(
        "dt-paho-5",
        "MQTT5-DEV-SESSION-PRESENT",
        "skipped",
        "the device asks to resume its session",
        RESUMES,
    ),
    pin(
        "dt-paho-5",
        "MQTT5-DEV-DISCONNECT-REASON",
        "passed",
        "",
        "closes after the server's DISCONNECT 0x89",
    ),
    pin(
        "dt-paho-5",
        "MQTT-3.2.2-11",
        "failed",
        "PUBLISH at QoS 1; the CONNACK's Maximum QoS is 0",
        PAHO_QOS,
    ),
    pin(
        "dt-paho-5",
        "MQTT-3.2.2-14",
        "failed",
        "PUBLISH with RETAIN 1; the CONNACK says Retain Available 0",
        PAHO_RETAIN,
    ),
    pin(
        "dt-paho-5",
        "MQTT-3.2.2-15",
        "failed",
        "PUBLISH of 220 bytes; the server's Maximum Packet Size is 128",
        PAHO_SIZE,
    ),
    pin(
        "dt-paho-5",
        "MQTT-3.3.4-7",
        "failed",
        "already unacknowledged; the CONNACK's Receive Maximum is 1",
        PAHO_QUOTA,
    ),
    pin(
        "dt-paho-5",
        "MQTT-4.9.0-1",
        "failed",
        "already unacknowledged; the CONNACK's Receive Maximum is 1",
        PAHO_QUOTA,
    ),
    pin(
        "dt-paho-5",
        "MQTT-4.9.0-2",
        "failed",
        "already unacknowledged; the CONNACK's Receive Maximum is 1",
        PAHO_QUOTA,
    ),
    pin(
        "dt-mqttjs-5",
        "MQTT5-DEV-SESSION-PRESENT",
        "skipped",
        "the device asks to resume its session",
        RESUMES,
    ),
    pin(
        "dt-mqttjs-5",
        "MQTT5-DEV-DISCONNECT-REASON",
        "failed",
        "after the DISCONNECT; window ≤ 10.00 s",
        JS_DISCONNECT,
    ),
    pin(
        "dt-mqttjs-5",
        "MQTT-4.13.2-1",
        "failed",
        "after the server's DISCONNECT with reason 0x89: the connection still open past the 2 s",
        JS_DISCONNECT,
    ),
    pin(
        "dt-mqttjs-5",
        "MQTT-3.2.2-11",
        "failed",
        "PUBLISH at QoS 1; the CONNACK's Maximum QoS is 0",
        JS_QOS,
    ),
    pin(
        "dt-mqttjs-5",
        "MQTT-3.2.2-14",
        "failed",
        "PUBLISH with RETAIN 1; the CONNACK says Retain Available 0",
        JS_RETAIN,
    ),
    pin(
        "dt-mqttjs-5",
        "MQTT-3.2.2-15",
        "failed",
        "PUBLISH of 222 bytes; the server's Maximum Packet Size is 128",
        JS_SIZE,
    ),
    pin(
        "dt-mqttjs-5",
        "MQTT-3.3.1-1",
        "failed",
        "re-sent on the resumed session with DUP 0",
        JS_DUP,
    ),
    pin(
        "dt-rumqttc-5",
        "MQTT5-DEV-SESSION-PRESENT",
        "skipped",
        "the device asks to resume its session",
        RESUMES,
    ),
    pin(
        "dt-rumqttc-5",
        "MQTT5-DEV-DISCONNECT-REASON",
        "failed",
        "after the DISCONNECT; window ≤ 10.00 s",
        RUMQTTC_DISCONNECT,
    ),
    pin(
        "dt-rumqttc-5",
        "MQTT-4.13.2-1",
        "failed",
        "after the server's DISCONNECT with reason 0x89: the connection still open past the 2 s",
        RUMQTTC_DISCONNECT,
    ),
    pin(
        "dt-rumqttc-5",
        "MQTT-3.2.2-11",
        "failed",
        "PUBLISH at QoS 1; the CONNACK's Maximum QoS is 0",
        RUMQTTC_QOS,
    ),
    pin(
        "dt-rumqttc-5",
        "MQTT-3.2.2-14",
        "failed",
        "PUBLISH with RETAIN 1; the CONNACK says Retain Available 0",
        RUMQTTC_RETAIN,
    ),
    pin(
        "dt-rumqttc-5",
        "MQTT-3.3.1-1",
        "failed",
        "re-sent on the resumed session with DUP 0",
        RUMQTTC_DUP,
    ),
    pin(
        "dt-rumqttc-5",
        "MQTT-3.3.4-7",
        "inconclusive|failed",
        "a re-sent QoS 1 PUBLISH",
        RUMQTTC_QUOTA,
    ),
    pin(
        "dt-rumqttc-5",
        "MQTT-4.9.0-1",
        "inconclusive|failed",
        "a re-sent QoS 1 PUBLISH",
        RUMQTTC_QUOTA,
    ),
    pin(
        "dt-rumqttc-5",
        "MQTT-4.9.0-2",
        "inconclusive|failed",
        "a re-sent QoS 1 PUBLISH",
        RUMQTTC_QUOTA,
    ),
    pin(
        "dt-rumqttc-5",
        "MQTT5-DEV-QOS2-PUBREL-RESUMED",
        "failed",
        "after the cloud re-sent the PUBREL(s), with no PUBCOMP for packet id(s)",
        RUMQTTC_PUBREL,
    ),
    pin(
        "dt-rumqttc-5",
        "MQTT-4.3.3-11",
        "inconclusive",
        "inside the 10 s it is waited for",
        RUMQTTC_PUBCOMP,
    ),
    pin(
        "dt-mosqsub-5",
        "MQTT5-DEV-SESSION-PRESENT",
        "skipped",
        "the device asks to resume its session",
        RESUMES,
    ),
    pin(
        "dt-mosqsub-5",
        "MQTT5-DEV-DISCONNECT-REASON",
        "passed",
        "",
        "closes at once after the server's DISCONNECT 0x89 (and exits; its supervisor starts it again)",
    ),
    pin(
        "dt-mosqsub-5",
        "MQTT5-DEV-TOPIC-ALIAS",
        "failed",
        "(the first carrying the Topic Alias alone), with no PUBACK for packet id(s) 2",
        "announces a Topic Alias Maximum of 5, then resets the connection at the first PUBLISH carrying alias 1 alone",
    ),
    pin(
        "dt-mosqsub-5",
        "MQTT-3.3.2-10",
        "inconclusive",
        "inside the 10 s it is waited for",
        "reset the connection inside the window a PUBACK is waited for (the device test fails it)",
    ),
    // MQTT 5.0, clean sessions: the Session Present test.
    pin(
        "dt-pahocsub-5-clean",
        "MQTT5-DEV-SESSION-PRESENT",
        "failed",
        "after the CONNACK; window ≤ 10.00 s",
        "stays connected after Session Present 1 to its Clean Start",
    ),
    pin(
        "dt-pahocsub-5-clean",
        "MQTT-3.2.2-4",
        "failed",
        "after a CONNACK with Session Present 1 to a CONNECT with Clean Start 1",
        "stays connected after Session Present 1 to its Clean Start",
    ),
    pin(
        "dt-pahocsub-5-clean",
        "MQTT5-DEV-DISCONNECT-REASON",
        "passed",
        "",
        "closes after the server's DISCONNECT 0x89",
    ),
    pin(
        "dt-pahocsub-5-clean",
        "MQTT-3.1.2-20",
        "failed",
        "keepalive 5 s",
        "keeps its own Keep Alive of 10 s after a Server Keep Alive of 5 s: silent until the cloud drops it at 7.5 s",
    ),
    pin(
        "dt-pahocsub-5-clean",
        "MQTT5-DEV-QOS1-BURST",
        "skipped",
        "",
        "does not come back in time after the cloud closes its connection for the next test (its reconnect delay grows)",
    ),
    pin(
        "dt-pahocsub-5-clean",
        "MQTT5-DEV-QOS2-BURST",
        "skipped",
        "",
        "not connected when the test's turn came",
    ),
    pin(
        "dt-pahocsub-5-clean",
        "MQTT5-DEV-QOS2-PUBREL-RESUMED",
        "skipped",
        "",
        "not connected when the test's turn came",
    ),
    pin(
        "dt-pahocsub-5-clean",
        "MQTT5-DEV-TOPIC-ALIAS",
        "skipped",
        "allows no Topic Alias",
        "allows no Topic Alias (no Topic Alias Maximum in its CONNECT)",
    ),
    pin(
        "dt-paho-5-clean",
        "MQTT5-DEV-SESSION-PRESENT",
        "failed",
        "after the CONNACK; window ≤ 10.00 s",
        STAYS,
    ),
    pin(
        "dt-paho-5-clean",
        "MQTT-3.2.2-4",
        "failed",
        "after a CONNACK with Session Present 1 to a CONNECT with Clean Start 1",
        STAYS,
    ),
    pin(
        "dt-mqttjs-5-clean",
        "MQTT5-DEV-SESSION-PRESENT",
        "failed",
        "after the CONNACK; window ≤ 10.00 s",
        STAYS,
    ),
    pin(
        "dt-mqttjs-5-clean",
        "MQTT-3.2.2-4",
        "failed",
        "after a CONNACK with Session Present 1 to a CONNECT with Clean Start 1",
        STAYS,
    ),
    pin(
        "dt-rumqttc-5-clean",
        "MQTT5-DEV-SESSION-PRESENT",
        "failed",
        "after the CONNACK; window ≤ 10.00 s",
        STAYS,
    ),
    pin(
        "dt-rumqttc-5-clean",
        "MQTT-3.2.2-4",
        "failed",
        "after a CONNACK with Session Present 1 to a CONNECT with Clean Start 1",
        STAYS,
    ),
    pin(
        "dt-mosqsub-5-clean",
        "MQTT5-DEV-SESSION-PRESENT",
        "failed",
        "after the CONNACK; window ≤ 10.00 s",
        "stays connected after Session Present 1 to its Clean Start",
    ),
    pin(
        "dt-mosqsub-5-clean",
        "MQTT-3.2.2-4",
        "failed",
        "after a CONNACK with Session Present 1 to a CONNECT with Clean Start 1",
        "stays connected after Session Present 1 to its Clean Start",
    ),
];

/// What `row` gave that its pins do not say: one line per difference.
fn check(row: Row, verdicts: &BTreeMap<String, Seen>) -> Vec<String> {
    let id = row.id();
    let pins: Vec<&Pin> = PINS.iter().filter(|p| p.row == id).collect();
    let mut wrong = Vec::new();
    for test in row.tests() {
        if !verdicts.contains_key(test) {
            wrong.push(format!("{id}: device test {test} not reported"));
        }
    }
    for (name, seen) in verdicts {
        if !name.contains("-DEV-") && !is_rule(name) {
            continue;
        }
        let expected = pins.iter().find(|p| p.id == name);
        let (statuses, holds) = match expected {
            Some(p) => (p.statuses, p.holds),
            // The rows connect over TCP: the WebSocket device tests skip, saying why (or,
            // last in the suite, are not reached before the run ends).
            None if name.contains("-DEV-WS-") => ("skipped", ""),
            None if name.contains("-DEV-") => ("recorded", ""),
            None => ("passed", ""),
        };
        // A pass has no message to hold anything.
        let holds_it = seen.status == "passed" || seen.message.contains(holds);
        if !statuses.split('|').any(|s| s == seen.status) || !holds_it {
            wrong.push(format!(
                "{id}: {name} is {} ({}); pinned {statuses} holding {holds:?}",
                seen.status, seen.message
            ));
        }
    }
    for p in &pins {
        if !verdicts.contains_key(p.id) {
            wrong.push(format!(
                "{id}: {} pinned {} but not reported",
                p.id, p.statuses
            ));
        }
    }
    wrong
}

/// Runs every row of one version and checks it against its pins.
fn every_row_keeps_its_pins(v5: bool) {
    let mut wrong = Vec::new();
    for (row, outcome) in run_all(rows(v5)) {
        match outcome {
            Ok(verdicts) => wrong.extend(check(row, &verdicts)),
            Err(e) => wrong.push(format!("{}: {e}", row.id())),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn real_3_1_1_clients_keep_their_pinned_device_test_verdicts() {
    every_row_keeps_its_pins(false);
}

#[test]
fn real_5_0_clients_keep_their_pinned_device_test_verdicts() {
    every_row_keeps_its_pins(true);
}

const DOC: &str = "docs/client-device-tests.md";

/// docs/client-device-tests.md, from the pins.
fn doc() -> String {
    let mut out = String::from(
        "# Real clients through the device tests\n\n\
         Written from the pins of `tests/it/device_test_matrix.rs` by `cargo test --test it -- --ignored --exact device_test_matrix::write_the_device_test_doc`; \
         the tests `device_test_matrix::real_3_1_1_clients_keep_their_pinned_device_test_verdicts` and `…real_5_0…` run every row and hold it to them.\n\n\
         Each client program runs as a device is written: it reconnects on its own (mosquitto_sub and paho_c_sub, which exit on some closes, under a supervisor that starts them again after 1 s), \
         subscribes on every CONNACK and, where it can, publishes a retained 200-byte QoS 1 message every second with a Keep Alive of 10 s. \
         The cloud plays every device test of the suite on it in turn; the passive rules judge everything the client sends meanwhile, and the capture of each run, judged offline with `--pcap`, gives every rule the live verdict.\n\n\
         A device test not listed under a row was `recorded` (the rules judge what it brought about); a rule not listed passed.\n\n",
    );
    for v5 in [false, true] {
        for row in rows(v5) {
            let id = row.id();
            out.push_str(&format!("## {}\n\n", row.label()));
            let mut pins: Vec<&Pin> = PINS.iter().filter(|p| p.row == id).collect();
            // The device tests in the order they are played, then the rules.
            let tests = row.tests();
            pins.sort_by_key(|p| tests.iter().position(|t| *t == p.id).unwrap_or(usize::MAX));
            if pins.is_empty() {
                out.push_str(&format!(
                    "Every device test recorded; every rule passed ({}).\n\n",
                    row.tests().join(", ")
                ));
                continue;
            }
            out.push_str(
                "| device test or rule | verdict | what the client does |\n|---|---|---|\n",
            );
            for p in pins {
                out.push_str(&format!(
                    "| {} | {} | {} |\n",
                    p.id,
                    p.statuses.replace('|', " or "),
                    p.why
                ));
            }
            out.push('\n');
        }
    }
    out
}

#[test]
fn the_device_test_doc_is_written_from_the_pins() {
    let written = std::fs::read_to_string(repo_file(DOC)).unwrap_or_default();
    assert!(
        written == doc(),
        "{DOC} is not the one the pins give: run device_test_matrix::write_the_device_test_doc"
    );
}

#[test]
#[ignore = "writes docs/client-device-tests.md; run on purpose"]
fn write_the_device_test_doc() {
    std::fs::write(repo_file(DOC), doc()).expect("docs/ is writable");
}

/// Prints what every row gives, for pinning: each device test's verdict and every rule's
/// that is not a pass. `DEVICE_TEST_MATRIX_ROW=dt-paho-5` runs only the rows whose id holds
/// it.
#[test]
#[ignore = "prints the device-test verdicts of every real client"]
fn print_the_device_test_matrix() {
    let only = std::env::var("DEVICE_TEST_MATRIX_ROW").unwrap_or_default();
    for v5 in [false, true] {
        let chosen = rows(v5)
            .into_iter()
            .filter(|row| row.id().contains(&only))
            .collect();
        for (row, outcome) in run_all(chosen) {
            println!("== {} ({})", row.label(), row.id());
            match outcome {
                Ok(verdicts) => {
                    for (id, s) in verdicts {
                        if s.status != "passed" || id.contains("-DEV-") {
                            println!("  {id}: {} — {}", s.status, s.message);
                        }
                    }
                }
                Err(e) => println!("  could not run: {e}"),
            }
        }
    }
}
