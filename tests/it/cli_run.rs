//! The suite-run command line as CI meets it: selections that match nothing, options of
//! another mode, oversized suite files, SIGTERM, and where reports go by default.

use crate::support::cloud;
use crate::support::mosquitto;

use cloud::Cloud;
use mosquitto::{Mosquitto, remove_temp_dir_of, temp_dir};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn harness() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mqtt-conform"))
}

/// Waits for `child` to end within `limit`; kills it and panics when it does not.
fn wait_at_most(mut child: Child, limit: Duration, what: &str) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// Runs the harness with `args`; panics when it has not ended within `limit`.
fn run_at_most(args: &[&str], cwd: Option<&Path>, limit: Duration) -> Output {
    let mut cmd = harness();
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let child = cmd.spawn().expect("binary runs");
    wait_at_most(child, limit, &format!("mqtt-conform {}", args.join(" ")))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Sends SIGTERM to `pid` with the shell's built-in `kill` (no procps needed).
fn sigterm(pid: u32) {
    let status = Command::new("sh")
        .args(["-c", &format!("kill -TERM {pid}")])
        .status()
        .expect("sh runs");
    assert!(status.success(), "kill -TERM {pid}");
}

#[test]
fn a_filter_that_matches_no_test_is_a_usage_error() {
    let broker = Mosquitto::start("cli-empty", "allow_anonymous true");
    let url = broker.url();
    let limit = Duration::from_secs(30);
    let cases: [&[&str]; 3] = [
        &["--suite", "mqtt-3.1.1", "--target", &url, "MQTT311-NO-SUCH"],
        &["--suite", "mqtt-3.1.1", "--target", &url, "--skip", "MQTT"],
        &[
            "--suite",
            "mqtt-3.1.1",
            "--target",
            &url,
            "--exact",
            "MQTT311-CONN",
        ],
    ];
    for args in cases {
        let out = run_at_most(args, None, limit);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("no test of suite `mqtt-3.1.1` matches"),
            "{err}"
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("test result: ok"));
    }
    // Device tests too: a typo must not leave a cloud that judges nothing of what was asked.
    let out = run_at_most(
        &[
            "--suite",
            "aliyun",
            "--listen",
            "127.0.0.1:0",
            "--device-tests",
            "ALI-NO-SUCH",
        ],
        None,
        limit,
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no device test of suite `aliyun` matches"),
        "{err}"
    );
    // A filter that matches still runs.
    let junit = temp_dir("cli-empty").join("ok.xml");
    let out = run_at_most(
        &[
            "--suite",
            "mqtt-3.1.1",
            "--target",
            &url,
            "--exact",
            "MQTT311-CONN-01",
            "--report-junit",
            junit.to_str().unwrap(),
        ],
        None,
        limit,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    remove_temp_dir_of(&junit);
}

#[test]
fn options_of_another_mode_are_refused() {
    let broker = Mosquitto::start("cli-modes", "allow_anonymous true");
    let url = broker.url();
    let keylog_file = temp_dir("cli-modes").join("keys.log");
    std::fs::write(&keylog_file, "").unwrap();
    let keylog = keylog_file.to_str().unwrap();
    let one_test = ["--exact", "MQTT311-CONN-01"];
    let cases: [(Vec<&str>, &str); 4] = [
        (
            [
                &["--target", url.as_str(), "--withhold-pingresp"][..],
                &one_test,
            ]
            .concat(),
            "--withhold-pingresp applies to device mode (--listen) only, not to broker mode",
        ),
        (
            [
                &["--target", url.as_str(), "--duration", "5s"][..],
                &one_test,
            ]
            .concat(),
            "--duration applies to device mode (--listen) only",
        ),
        (
            vec![
                "--listen",
                "127.0.0.1:0",
                "--duration",
                "1s",
                "--tls-keylog",
                keylog,
            ],
            "--tls-keylog applies to capture mode (--pcap)",
        ),
        (
            vec![
                "--listen",
                "127.0.0.1:0",
                "--duration",
                "1s",
                "MQTT311-CONN-01",
            ],
            "add --device-tests",
        ),
    ];
    for (args, needle) in cases {
        let args = [&["--suite", "mqtt-3.1.1"][..], &args].concat();
        let out = run_at_most(&args, None, Duration::from_secs(30));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "`{needle}` not in: {err}");
    }
    remove_temp_dir_of(&keylog_file);
}

#[test]
fn device_mode_honours_max_packet_size() {
    use mqtt_conform::codec::PropertyId;
    use mqtt_conform::codec::{Packet, ProtocolVersion, decode_packet};
    let junit = temp_dir("cli-max-packet").join("r.xml");
    let mut child = harness()
        .args(["--suite", "mqtt-5", "--listen", "127.0.0.1:0"])
        .args(["--duration", "30s", "--max-packet-size", "5000"])
        .arg("--report-junit")
        .arg(&junit)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a line").expect("utf-8");
    let port: u16 = first
        .rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no port in {first:?}"));
    let mut device = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    device
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // CONNECT, MQTT 5.0, clean start, keep-alive 30 s, no properties, client id "mps".
    device
        .write_all(&[
            0x10, 0x10, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 30, 0, 0, 3, b'm', b'p', b's',
        ])
        .unwrap();
    let mut head = [0u8; 2];
    device.read_exact(&mut head).expect("CONNACK header");
    assert!(head[1] < 0x80, "short CONNACK expected");
    let mut body = vec![0u8; usize::from(head[1])];
    device.read_exact(&mut body).expect("CONNACK body");
    let packet = decode_packet(&[&head[..], &body].concat().into(), ProtocolVersion::V5);
    let Ok(Packet::ConnAck(ack)) = packet else {
        panic!("not a CONNACK: {packet:?}");
    };
    assert_eq!(
        ack.properties.get_int(PropertyId::MaximumPacketSize),
        Some(5000)
    );
    let _ = child.kill();
    let _ = child.wait();
    remove_temp_dir_of(&junit);
}

#[test]
fn a_suite_file_without_end_is_refused_quickly() {
    let out = run_at_most(
        &["--suite", "/dev/zero", "--check"],
        None,
        Duration::from_secs(20),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("/dev/zero"), "{err}");
    assert!(
        err.contains("suite file too large: more than 4 MiB"),
        "{err}"
    );
}

#[test]
fn sigterm_ends_a_device_run_with_its_report() {
    let cloud = Cloud::start_suite("mqtt-3.1.1", "cli-sigterm", 5, &[]);
    // Line-buffered, so its debug lines reach the pipe as they happen.
    let mut device = Command::new("stdbuf")
        .args(["-oL", "mosquitto_sub"])
        .args(["-h", "127.0.0.1", "-p", &cloud.port.to_string(), "-d"])
        .args(["-i", "sigterm-device", "-t", "t/sigterm", "-k", "30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto_sub is installed (Debian package mosquitto-clients)");
    // Once the device holds its SUBACK, the cloud has seen its CONNECT and SUBSCRIBE.
    let debug = BufReader::new(device.stdout.take().unwrap());
    let (tx, subacks) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in debug.lines().map_while(Result::ok) {
            if line.contains("received SUBACK") {
                let _ = tx.send(());
            }
        }
    });
    let subscribed = subacks.recv_timeout(Duration::from_secs(10));
    if subscribed.is_err() {
        let _ = device.kill();
        panic!("mosquitto_sub got no SUBACK within 10 s");
    }
    sigterm(cloud.pid());
    // The cloud ends on its own (groups() waits at most 60 s) and writes its report.
    let groups = cloud.groups();
    let _ = device.kill();
    let _ = device.wait();
    let names: Vec<&str> = groups.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"sigterm-device"), "{names:?}");
    let cases = &groups
        .iter()
        .find(|(n, _)| n == "sigterm-device")
        .unwrap()
        .1;
    assert!(!cases.is_empty(), "the device was judged");
}

const SLOW_SUITE: &str = r#"name: slow
tests:
  - id: SLOW-QUICK
    title: connects
    steps:
      - connect: {}
      - send: { pingreq: {} }
      - expect: { pingresp: {} }
  - id: SLOW-WAITS
    title: waits a minute for a message nobody sends
    steps:
      - connect: {}
      - expect: { publish: {}, within: 60s }
"#;

#[test]
fn sigterm_ends_a_broker_run_with_its_report() {
    let broker = Mosquitto::start("cli-sigterm-broker", "allow_anonymous true");
    let dir = temp_dir("cli-sigterm-broker");
    let suite = dir.join("slow.yaml");
    std::fs::write(&suite, SLOW_SUITE).unwrap();
    let junit = dir.join("slow.xml");
    let mut child = harness()
        .args([
            "--suite",
            suite.to_str().unwrap(),
            "--target",
            &broker.url(),
        ])
        .args([
            "--color",
            "never",
            "--report-junit",
            junit.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("test SLOW-QUICK ... ok") {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).expect("utf-8") > 0,
            "the run ended early: {seen}"
        );
        seen.push_str(&line);
    }
    sigterm(child.id());
    let out = wait_at_most(child, Duration::from_secs(20), "the interrupted broker run");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(out.status.code(), Some(1), "{seen}{rest}\n{}", stderr(&out));
    assert!(
        rest.contains("test SLOW-WAITS ... ERROR"),
        "{seen}{rest}\n{}",
        stderr(&out)
    );
    let xml = std::fs::read_to_string(&junit).expect("the JUnit report is written");
    let doc = roxmltree::Document::parse(&xml).expect("XML");
    let case = |id: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(id))
            .unwrap_or_else(|| panic!("{id} in {xml}"))
    };
    let verdict_of = |id: &str| {
        case(id)
            .children()
            .find(|c| ["failure", "error", "skipped"].contains(&c.tag_name().name()))
    };
    assert!(verdict_of("SLOW-QUICK").is_none(), "{xml}");
    let error = verdict_of("SLOW-WAITS")
        .unwrap_or_else(|| panic!("SLOW-WAITS has no verdict element: {xml}"));
    assert_eq!(error.tag_name().name(), "error", "{xml}");
    assert!(
        error
            .attribute("message")
            .is_some_and(|m| m.contains("interrupted (SIGTERM)")),
        "{xml}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn default_report_names_differ_per_mode() {
    let broker = Mosquitto::start("cli-names", "allow_anonymous true");
    let dir = temp_dir("cli-names");
    let limit = Duration::from_secs(60);
    let one_test = ["--exact", "MQTT311-CONN-01"];
    let target = broker.url();
    let broker_run = [
        &[
            "--suite",
            "mqtt-3.1.1",
            "--target",
            &target,
            "--capture",
            "run.pcapng",
        ][..],
        &one_test,
    ]
    .concat();
    let out = run_at_most(&broker_run, Some(&dir), limit);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run_at_most(
        &["--suite", "mqtt-3.1.1", "--pcap", "run.pcapng"],
        Some(&dir),
        limit,
    );
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let out = run_at_most(
        &[
            "--suite",
            "mqtt-3.1.1",
            "--listen",
            "127.0.0.1:0",
            "--duration",
            "1s",
        ],
        Some(&dir),
        limit,
    );
    assert!(out.status.code().is_some(), "{}", stderr(&out));
    for mode in ["broker", "capture", "device"] {
        let path = dir.join(format!("reports/mqtt-3.1.1-{mode}.xml"));
        let xml =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        roxmltree::Document::parse(&xml).expect("XML");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("JUnit report: reports/mqtt-3.1.1-device.xml"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

const IDLE_SUITE: &str = r#"name: idle
tests:
  - id: IDLE-3S
    title: a connection idle for three seconds, then a PINGREQ
    steps:
      - connect: {}
      - expect: { silence: 3s }
      - send: { pingreq: {} }
      - expect: { pingresp: {} }
"#;

#[test]
fn sigterm_ends_a_replay_with_its_report() {
    let broker = Mosquitto::start("cli-sigterm-replay", "allow_anonymous true");
    let dir = temp_dir("cli-sigterm-replay");
    let suite = dir.join("idle.yaml");
    std::fs::write(&suite, IDLE_SUITE).unwrap();
    let capture = dir.join("idle.pcapng");
    let recorded = run_at_most(
        &[
            "--suite",
            suite.to_str().unwrap(),
            "--target",
            &broker.url(),
            "--capture",
            capture.to_str().unwrap(),
            "--report-junit",
            dir.join("recorded.xml").to_str().unwrap(),
        ],
        None,
        Duration::from_secs(30),
    );
    assert_eq!(recorded.status.code(), Some(0), "{}", stderr(&recorded));
    // Replayed with its recorded spacing, the connection lasts three seconds.
    let junit = dir.join("replay.xml");
    let mut child = harness()
        .args(["--suite", "mqtt-3.1.1", "--pcap", capture.to_str().unwrap()])
        .args(["--replay-to", &broker.url(), "--color", "never"])
        .args(["--report-junit", junit.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).expect("utf-8");
    assert!(
        first.starts_with("replaying the recorded clients"),
        "{first:?}"
    );
    sigterm(child.id());
    let out = wait_at_most(child, Duration::from_secs(20), "the interrupted replay");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(out.status.code(), Some(1), "{rest}\n{}", stderr(&out));
    let xml = std::fs::read_to_string(&junit).expect("the JUnit report is written");
    let doc = roxmltree::Document::parse(&xml).expect("XML");
    let errors: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("error"))
        .filter_map(|n| n.attribute("message"))
        .collect();
    assert!(!errors.is_empty(), "{xml}");
    assert!(
        errors
            .iter()
            .all(|m| m.contains("not finished: the replay was interrupted (SIGTERM)")),
        "{xml}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigterm_ends_a_capture_read_with_its_report() {
    let broker = Mosquitto::start("cli-sigterm-capture", "allow_anonymous true");
    let dir = temp_dir("cli-sigterm-capture");
    let capture = dir.join("run.pcapng");
    let recorded = run_at_most(
        &[
            "--suite",
            "mqtt-3.1.1",
            "--target",
            &broker.url(),
            "--exact",
            "MQTT311-CONN-01",
            "--capture",
            capture.to_str().unwrap(),
            "--report-junit",
            dir.join("recorded.xml").to_str().unwrap(),
        ],
        None,
        Duration::from_secs(30),
    );
    assert_eq!(recorded.status.code(), Some(0), "{}", stderr(&recorded));
    // The capture goes through a pipe that stays open, as from a live `tcpdump -w -`:
    // without a stop the read would wait for more data for ever.
    let bytes = std::fs::read(&capture).unwrap();
    let fifo = dir.join("live.pcapng");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let junit = dir.join("capture.xml");
    let mut child = harness()
        .args(["--suite", "mqtt-3.1.1", "--pcap", fifo.to_str().unwrap()])
        .args([
            "--report-junit",
            junit.to_str().unwrap(),
            "--color",
            "never",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).expect("utf-8");
    assert!(first.starts_with("reading 1 capture file"), "{first:?}");
    let mut pipe = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    pipe.write_all(&bytes).unwrap();
    sigterm(child.id());
    let out = wait_at_most(
        child,
        Duration::from_secs(8),
        "the interrupted capture read",
    );
    drop(pipe);
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    assert_eq!(out.status.code(), Some(1), "{rest}");
    let xml = std::fs::read_to_string(&junit).expect("the JUnit report is written");
    let doc = roxmltree::Document::parse(&xml).expect("XML");
    let interrupted = doc
        .descendants()
        .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some("CAPTURE-INTERRUPTED"))
        .unwrap_or_else(|| panic!("no CAPTURE-INTERRUPTED case: {xml}"));
    let message = interrupted
        .descendants()
        .find(|n| n.has_tag_name("error"))
        .and_then(|n| n.attribute("message"))
        .unwrap_or_default();
    assert!(message.contains("the read stopped at SIGTERM"), "{xml}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// One section of the `--coverage` output: the statement IDs listed in it, which of them are
/// marked covered, and the figures of its closing `covered:` line.
struct CoverageSection {
    listed: Vec<String>,
    covered: Vec<String>,
    summary: Option<(usize, usize, f64)>,
}

/// Splits `--coverage` output into its sections by their headings.
fn coverage_sections(text: &str) -> std::collections::BTreeMap<String, CoverageSection> {
    let mut sections = std::collections::BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("Client statements")
            || line.starts_with("Server statements")
            || line.starts_with("Not testable over the wire")
        {
            let name = line.split_whitespace().next().expect("heading").to_owned();
            let fresh = CoverageSection {
                listed: Vec::new(),
                covered: Vec::new(),
                summary: None,
            };
            assert!(
                sections.insert(name.clone(), fresh).is_none(),
                "section {name} twice"
            );
            current = Some(name);
            continue;
        }
        let Some(section) = current.as_ref().and_then(|n| sections.get_mut(n)) else {
            continue;
        };
        if let Some(rest) = line
            .strip_prefix("[x] ")
            .or_else(|| line.strip_prefix("[ ] "))
            .or_else(|| line.strip_prefix("[-] "))
        {
            let id = rest.split_whitespace().next().expect("id").to_owned();
            if line.starts_with("[x]") {
                section.covered.push(id.clone());
            }
            section.listed.push(id);
        } else if let Some(rest) = line.strip_prefix("covered: ") {
            // "covered: N of M wire-testable (P %)"
            let words: Vec<&str> = rest.split_whitespace().collect();
            let n = words[0].parse().expect("covered count");
            assert_eq!(words[1], "of", "{line}");
            let m = words[2].parse().expect("testable count");
            assert_eq!(words[3], "wire-testable", "{line}");
            let p = words[4].trim_start_matches('(').parse().expect("percent");
            section.summary = Some((n, m, p));
        }
    }
    sections
}

#[test]
fn coverage_is_split_by_the_party_each_statement_binds() {
    use mqtt_conform::codec::statements::{Party, Spec};
    for (suite_name, spec) in [("mqtt-3.1.1", Spec::V3_1_1), ("mqtt-5", Spec::V5_0)] {
        let out = run_at_most(
            &["--suite", suite_name, "--coverage"],
            None,
            Duration::from_secs(30),
        );
        assert!(out.status.success(), "{suite_name}: {}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        let sections = coverage_sections(&text);
        let names: Vec<&str> = sections.keys().map(String::as_str).collect();
        assert_eq!(names, ["Client", "Not", "Server"], "{suite_name}");

        let suite = mqtt_conform::suite::load(suite_name).expect("builtin suite");
        let cited = |cites: &mut dyn Iterator<Item = &str>| -> Vec<&'static str> {
            cites.filter_map(|c| spec.lookup(c).map(|s| s.id)).collect()
        };
        let mut by_device_checks: Vec<&str> = Vec::new();
        for r in &suite.rules {
            by_device_checks.extend(cited(
                &mut std::iter::once(r.id.value.as_str()).chain(r.cites.iter().map(String::as_str)),
            ));
        }
        for d in &suite.device_tests {
            by_device_checks.extend(cited(&mut d.cites.iter().map(String::as_str)));
        }
        let mut by_broker_tests: Vec<&str> = Vec::new();
        for t in &suite.tests {
            by_broker_tests.extend(cited(&mut t.cites.iter().map(String::as_str)));
        }

        // Every statement is listed exactly once in each section of a party it binds, and
        // nowhere else; a section's covered ones are exactly those its side's checks cite.
        let statements = spec.statements();
        for (section, belongs, checks) in [
            (
                "Client",
                Party::binds_client as fn(Party) -> bool,
                &by_device_checks,
            ),
            ("Server", Party::binds_server, &by_broker_tests),
            ("Not", |p| matches!(p, Party::OffWire(_)), &Vec::new()),
        ] {
            let listed = &sections[section].listed;
            for s in statements {
                let times = listed.iter().filter(|id| *id == s.id).count();
                let expected = usize::from(belongs(s.binds));
                assert_eq!(times, expected, "{suite_name}: {} in {section}", s.id);
            }
            assert_eq!(
                listed.len(),
                statements.iter().filter(|s| belongs(s.binds)).count(),
                "{suite_name}: {section} lists only statements of the version"
            );
            let covered = &sections[section].covered;
            for id in listed {
                assert_eq!(
                    covered.contains(id),
                    checks.contains(&id.as_str()),
                    "{suite_name}: {id} covered in {section}"
                );
            }
        }
        for side in ["Client", "Server"] {
            let section = &sections[side];
            let (n, m, p) = section.summary.expect("covered line");
            assert_eq!(n, section.covered.len(), "{suite_name} {side}");
            assert_eq!(m, section.listed.len(), "{suite_name} {side}");
            assert!(m > 0 && n <= m, "{suite_name} {side}");
            let exact = 100.0 * n as f64 / m as f64;
            assert!(
                (p - exact).abs() <= 0.05,
                "{suite_name} {side}: {p} vs {exact}"
            );
        }
        assert!(
            sections["Not"].summary.is_none(),
            "off-wire ones are in no percentage"
        );
        // Each off-the-wire statement gives its reason.
        assert_eq!(
            text.matches("\n    why: ").count(),
            sections["Not"].listed.len(),
            "{suite_name}"
        );
    }
}

/// The first run a newcomer makes, `mqtt-conform --suite tuya` against the built-in
/// emulator, as a CI log shows it (stdout not a terminal): no line is more than 10 s after
/// the one before (the keep-alive test waits 2.5 × 30 s for the server's close, and says so
/// every 5 s in a `SLOW` line), and it announces its tests, then the rules judged over its
/// connections, and prints a case line for each and counts each in its summary.
#[test]
fn the_first_run_is_never_silent_for_long_and_counts_what_it_announced() {
    let dir = temp_dir("first-run");
    let mut child = harness()
        .args(["--suite", "tuya"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the harness starts");
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send((Instant::now(), line));
        }
    });
    let deadline = Instant::now() + Duration::from_secs(150);
    let mut lines: Vec<(Instant, String)> = Vec::new();
    while let Ok(item) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        lines.push(item);
    }
    let _ = child.kill();
    let status = child.wait().expect("the harness ends");
    let _ = std::fs::remove_dir_all(&dir);
    let text: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(status.code(), Some(0), "{}", text.join("\n"));
    let start = text
        .iter()
        .position(|l| l.starts_with("running "))
        .expect("an announcement");
    let end = text
        .iter()
        .position(|l| l.starts_with("test result: "))
        .expect("a summary");
    let longest = lines[start..=end]
        .windows(2)
        .map(|w| (w[1].0 - w[0].0, w[1].1.clone()))
        .max_by_key(|(gap, _)| *gap)
        .expect("lines");
    assert!(
        longest.0 < Duration::from_secs(10),
        "{:.1} s of silence before `{}`",
        longest.0.as_secs_f64(),
        longest.1
    );
    assert!(
        text.iter()
            .any(|l| l.starts_with("    SLOW TUYA-KA-02-TIMEOUT waiting for the server to close: ")),
        "{}",
        text.join("\n")
    );
    // "running 117 tests of suite tuya against …", later "judging 1 rule over the run's
    // connections": each announced case gets its line.
    let tests: usize = text[start]
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a test count");
    let rules: usize = text[start..end]
        .iter()
        .find_map(|l| {
            l.strip_prefix("judging ")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0);
    let case_lines = text[start..end]
        .iter()
        .filter(|l| l.starts_with("test ") && l.contains(" ... "))
        .count();
    assert!(
        rules >= 1,
        "tuya's one-connection rule is judged: {}",
        text.join("\n")
    );
    assert_eq!(case_lines, tests + rules, "{}", text.join("\n"));
    // "test result: ok. 103 passed; 0 failed; 0 warnings; 14 recorded; 0 skipped; …"
    let summary: usize = text[end]
        .split(['.', ';'])
        .filter_map(|part| part.split_whitespace().next()?.parse::<usize>().ok())
        .sum();
    assert_eq!(summary, tests + rules, "{}", text[end]);
}
