//! The built-in `mqtt-3.1.1` suite against a real mosquitto 2.0 broker.
//!
//! Every test of the suite has a row in [`EXPECTED`]: the verdict mosquitto 2.0.11 earns,
//! the `any_of` branch it takes where the specification lets the server choose, and for
//! each failure (a place where mosquitto deviates from MQTT 3.1.1) the reason the report
//! must give. A test added to the suite without a row here fails this file, so the table
//! stays complete.
//!
//! The CLI test runs the binary against mosquitto for its exit codes (0 all passed, 1 some
//! failed, 3 unreachable target) and its JUnit file.

#[path = "support/mosquitto.rs"]
mod mosquitto;
#[path = "support/suite_run.rs"]
mod suite_run;
#[path = "support/verdicts.rs"]
mod verdicts;

use mosquitto::Mosquitto;
use mqtt_conform::runner::transport::TlsOptions;
use std::process::Command;
use verdicts::Want::{self, Branch, Fail, KeepAlive, Pass};

/// Every test of the suite and what mosquitto 2.0.11 earns on it.
const EXPECTED: &[(&str, Want)] = &[
    ("MQTT311-CONN-01", Pass),
    ("MQTT311-CONN-02", Branch("CONNACK 0x01")),
    ("MQTT311-CONN-03", Pass),
    ("MQTT311-CONN-04", Pass),
    ("MQTT311-CONN-05", Pass),
    ("MQTT311-CONN-06", Pass),
    ("MQTT311-CONN-07", Pass),
    ("MQTT311-CONN-08", Pass),
    ("MQTT311-CONN-09", Pass),
    ("MQTT311-CONN-10", Pass),
    ("MQTT311-CONN-11", Pass),
    ("MQTT311-CONN-12", Pass),
    ("MQTT311-CONN-13", Pass),
    ("MQTT311-CONN-14", Pass),
    ("MQTT311-CONN-15", Pass),
    ("MQTT311-CONN-16", Pass),
    ("MQTT311-CONN-17", Pass),
    ("MQTT311-VER-01", Branch("close")),
    ("MQTT311-VER-02", Branch("CONNACK 0x01")),
    ("MQTT311-VER-03", Branch("CONNACK 0x01")),
    // mosquitto speaks 5.0 too: it reads the body as a malformed 5.0 CONNECT and closes.
    ("MQTT311-VER-04", Branch("close without CONNACK")),
    // Deviation: mosquitto masks the top bit of the protocol level (its private "bridge"
    // marker) and accepts level 0x84 as 3.1.1 with CONNACK 0.
    (
        "MQTT311-VER-05",
        Fail("observed CONNACK code 0x00 (Connection Accepted)"),
    ),
    ("MQTT311-VER-06", Branch("CONNACK refusing it")),
    ("MQTT311-CID-01", Pass),
    ("MQTT311-CID-02", Pass),
    ("MQTT311-CID-03", Pass),
    // The judge's server rule over the suite's own connections: mosquitto ends the older
    // of two connections with one client id.
    ("MQTT-3.1.4-2", Pass),
    ("MQTT311-CID-04", Pass),
    ("MQTT311-CID-05", Pass),
    ("MQTT311-CID-06", Pass),
    ("MQTT311-CONNACK-01", Pass),
    ("MQTT311-CONNACK-02", Pass),
    ("MQTT311-SESS-01", Pass),
    ("MQTT311-SESS-02", Pass),
    ("MQTT311-SESS-03", Pass),
    ("MQTT311-KA-01", KeepAlive),
    ("MQTT311-KA-02", Pass),
    ("MQTT311-KA-03", Pass),
    ("MQTT311-KA-04", Pass),
    ("MQTT311-KA-05", Pass),
    ("MQTT311-PUB-01", Pass),
    ("MQTT311-PUB-02", Pass),
    // mosquitto acknowledges a refused PUBLISH to `$SYS/…` normally and drops it.
    ("MQTT311-PUB-03", Branch("PUBACK")),
    ("MQTT311-PUB-04", Pass),
    ("MQTT311-PUB-05", Pass),
    ("MQTT311-PUB-06", Pass),
    ("MQTT311-PUB-07", Pass),
    // Deviation: a QoS 0 PUBLISH with DUP 1 is accepted instead of closing the connection.
    (
        "MQTT311-PUB-08",
        Fail(
            "expected the peer closing the connection within 5.00 s of the step's start; the connection was still open",
        ),
    ),
    ("MQTT311-PUB-09", Pass),
    ("MQTT311-PUB-10", Pass),
    ("MQTT311-PUB-11", Pass),
    ("MQTT311-PUB-12", Pass),
    ("MQTT311-PUB-13", Pass),
    ("MQTT311-PUB-14", Pass),
    ("MQTT311-PUB-15", Pass),
    ("MQTT311-QOS-01", Pass),
    ("MQTT311-QOS-02", Pass),
    ("MQTT311-QOS-03", Pass),
    ("MQTT311-QOS-04", Pass),
    ("MQTT311-QOS-05", Pass),
    // mosquitto closes on an invalid filter rather than answering SUBACK 0x80.
    ("MQTT311-SUB-01", Branch("close")),
    ("MQTT311-SUB-02", Pass),
    ("MQTT311-SUB-03", Pass),
    ("MQTT311-SUB-04", Pass),
    ("MQTT311-SUB-05", Pass),
    ("MQTT311-SUB-06", Pass),
    ("MQTT311-SUB-07", Pass),
    ("MQTT311-SUB-08", Pass),
    ("MQTT311-SUB-09", Pass),
    ("MQTT311-SUB-10", Pass),
    ("MQTT311-UNSUB-01", Pass),
    ("MQTT311-UNSUB-02", Pass),
    ("MQTT311-UNSUB-03", Pass),
    ("MQTT311-UNSUB-04", Pass),
    ("MQTT311-UNSUB-05", Pass),
    ("MQTT311-UNSUB-06", Pass),
    ("MQTT311-UNSUB-07", Pass),
    ("MQTT311-UNSUB-08", Pass),
    ("MQTT311-PKT-01", Pass),
    ("MQTT311-PKT-02", Pass),
    ("MQTT311-PKT-03", Pass),
    ("MQTT311-PKT-04", Pass),
    // Deviation: mosquitto 2.0.11 does not check the PINGREQ fixed-header flags.
    ("MQTT311-PKT-05", Fail("observed PINGRESP [d0 00]")),
    ("MQTT311-PKT-06", Pass),
    ("MQTT311-PKT-07", Pass),
    // Deviation: PUBACK with flags 0010 is ignored instead of closing the connection.
    ("MQTT311-PKT-08", Fail("the connection was still open")),
    // Deviation: PUBREC with flags 0001 is answered with PUBREL instead of a close.
    ("MQTT311-PKT-09", Fail("observed PUBREL packet_id=1")),
    // Deviation: PUBCOMP with flags 0001 is ignored instead of closing the connection.
    ("MQTT311-PKT-10", Fail("the connection was still open")),
    ("MQTT311-PKT-11", Pass),
    ("MQTT311-PKT-12", Pass),
    ("MQTT311-PKT-13", Pass),
    // Deviation: a PINGREQ with a one-byte body is answered instead of closing.
    ("MQTT311-PKT-14", Fail("observed PINGRESP [d0 00]")),
    // Deviation: a SUBACK from a client is ignored instead of closing the connection.
    ("MQTT311-PKT-15", Fail("the connection was still open")),
    ("MQTT311-TOPIC-01", Pass),
    ("MQTT311-TOPIC-02", Branch("close")),
    ("MQTT311-TOPIC-03", Pass),
    ("MQTT311-TOPIC-04", Branch("close")),
    ("MQTT311-TOPIC-05", Branch("close")),
    ("MQTT311-TOPIC-06", Branch("close")),
    ("MQTT311-TOPIC-07", Pass),
    ("MQTT311-TOPIC-08", Pass),
    ("MQTT311-TOPIC-09", Pass),
    ("MQTT311-TOPIC-10", Pass),
    ("MQTT311-TOPIC-11", Pass),
    ("MQTT311-TOPIC-12", Pass),
    ("MQTT311-TOPIC-13", Pass),
    ("MQTT311-TOPIC-14", Pass),
    ("MQTT311-RET-01", Pass),
    ("MQTT311-RET-02", Pass),
    ("MQTT311-RET-03", Pass),
    ("MQTT311-RET-04", Pass),
    ("MQTT311-RET-05", Pass),
    ("MQTT311-FLAG-01", Pass),
    ("MQTT311-FLAG-02", Pass),
    ("MQTT311-FLAG-03", Pass),
    ("MQTT311-FLAG-04", Pass),
    ("MQTT311-AUTH-01", Pass),
];

#[test]
fn mqtt311_suite_against_mosquitto() {
    let broker = Mosquitto::start("suite311", "allow_anonymous true");
    let report = suite_run::run_builtin(
        "mqtt-3.1.1",
        &broker.url(),
        TlsOptions::default(),
        64,
        false,
    );

    let cases = verdicts::check_report(report.cases(), EXPECTED);

    // Concurrency: the suite should take about as long as its longest test.
    let wall = report.duration.as_secs_f64();
    let sum: f64 = report.cases().map(|c| c.duration.as_secs_f64()).sum();
    let longest = report
        .cases()
        .max_by(|a, b| a.duration.cmp(&b.duration))
        .expect("the suite has tests");
    let longest_secs = longest.duration.as_secs_f64();
    eprintln!(
        "mqtt-3.1.1 against mosquitto: {} tests; wall time {wall:.2} s; sum of test durations {sum:.2} s; \
         longest test {} {longest_secs:.2} s; wall / longest = {:.3}",
        cases.len(),
        longest.id,
        wall / longest_secs
    );
    assert!(
        wall <= 1.2 * longest_secs + 0.25,
        "the run took {wall:.2} s, more than 1.2 × its longest test ({longest_secs:.2} s)"
    );
}

/// Runs the binary; returns (exit code, stdout, stderr).
fn cli(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mqtt-conform"))
        .args(args)
        .output()
        .expect("the binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// (testcase names, names of those with a `<failure>`) of a JUnit file.
fn junit_cases(path: &std::path::Path) -> (Vec<String>, Vec<String>) {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("JUnit file {} not written: {e}", path.display()));
    let doc = roxmltree::Document::parse(&text).expect("well-formed JUnit XML");
    let mut names = Vec::new();
    let mut failed = Vec::new();
    for tc in doc.descendants().filter(|n| n.has_tag_name("testcase")) {
        let name = tc.attribute("name").unwrap_or_default().to_owned();
        if tc.children().any(|c| c.has_tag_name("failure")) {
            failed.push(name.clone());
        }
        names.push(name);
    }
    (names, failed)
}

#[test]
fn cli_exit_codes_and_junit_against_mosquitto() {
    let broker = Mosquitto::start("cli311", "allow_anonymous true");
    let url = broker.url();
    let dir = mosquitto::temp_dir("cli311-out");

    // Only passing tests selected: exit code 0.
    let ok = dir.join("ok.xml");
    let (code, stdout, stderr) = cli(&[
        "--suite",
        "mqtt-3.1.1",
        "--target",
        &url,
        "--color",
        "never",
        "--report-junit",
        ok.to_str().expect("utf-8 path"),
        "MQTT311-CONN-",
        "MQTT311-QOS-",
    ]);
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let (names, failed) = junit_cases(&ok);
    assert_eq!(names.len(), 22, "17 CONN and 5 QOS tests: {names:?}");
    assert!(failed.is_empty(), "{failed:?}");

    // A deviation selected: exit code 1, the failure in the JUnit file.
    let bad = dir.join("bad.xml");
    let (code, stdout, stderr) = cli(&[
        "--suite",
        "mqtt-3.1.1",
        "--target",
        &url,
        "--color",
        "never",
        "--report-junit",
        bad.to_str().expect("utf-8 path"),
        "--exact",
        "MQTT311-VER-05",
        "MQTT311-CONN-01",
    ]);
    assert_eq!(code, Some(1), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("MQTT311-VER-05"), "{stdout}");
    let (names, failed) = junit_cases(&bad);
    assert_eq!(names, ["MQTT311-CONN-01", "MQTT311-VER-05"]);
    assert_eq!(failed, ["MQTT311-VER-05"]);

    // Nothing listening: exit code 3 and one clear error line, no report.
    let nowhere = format!("mqtt://127.0.0.1:{}", mosquitto::free_port());
    let none = dir.join("none.xml");
    let (code, stdout, stderr) = cli(&[
        "--suite",
        "mqtt-3.1.1",
        "--target",
        &nowhere,
        "--color",
        "never",
        "--report-junit",
        none.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(code, Some(3), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one error line expected: {stderr}");
    assert!(
        lines[0].starts_with("error: target unusable:") && lines[0].contains(&nowhere[7..]),
        "{}",
        lines[0]
    );
    assert!(!none.exists(), "no JUnit file for a run that never started");

    let _ = std::fs::remove_dir_all(&dir);
}
