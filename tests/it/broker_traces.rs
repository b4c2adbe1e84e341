//! The conversation traces a broker run keeps as evidence, against a real mosquitto: lines
//! of several connections in the order things happened, and MQTT 3.1.1 packets described
//! with 3.1.1's fields only.

use crate::support::mosquitto;
use crate::support::suite_run;

use mosquitto::{Mosquitto, temp_dir};
use mqtt_conform::report::{CaseReport, Verdict};
use mqtt_conform::runner::transport::TlsOptions;

const SUITE: &str = r#"name: traces
tests:
  - id: TRACE-TWO-CONNS
    title: a reply waits on one connection while a step uses the other
    steps:
      - connect: { conn: a }
      - connect: { conn: b }
      - send: { conn: a, pingreq: {} }
      # a's PINGRESP arrives during this window, and is consumed only after b's.
      - expect: { conn: b, silence: 300ms }
      - send: { conn: b, pingreq: {} }
      - expect: { conn: b, pingresp: {} }
      - expect: { conn: a, pingresp: {} }
  - id: TRACE-311-ACKS
    title: a QoS 1 publish and a DISCONNECT in MQTT 3.1.1
    steps:
      - connect: {}
      - send: { publish: { topic: "t/${run}/${test}", qos: 1, payload: "x" } }
      - expect: { puback: {} }
      - send: { disconnect: {} }
      - expect: { closed: {} }
"#;

fn run() -> Vec<CaseReport> {
    let broker = Mosquitto::start("traces", "allow_anonymous true");
    let dir = temp_dir("traces");
    let suite = dir.join("traces.yaml");
    std::fs::write(&suite, SUITE).unwrap();
    let report = suite_run::run_builtin(
        suite.to_str().unwrap(),
        &broker.url(),
        TlsOptions::default(),
        4,
        false,
    );
    let _ = std::fs::remove_dir_all(&dir);
    report.suites[0].cases.clone()
}

fn lines(case: &CaseReport) -> String {
    case.trace
        .iter()
        .map(|l| format!("[{:?}] {} {} {}", l.at, l.conn, l.direction, l.text))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn traces_are_in_time_order_and_speak_the_connections_version() {
    let cases = run();
    for case in &cases {
        assert_eq!(
            case.verdict,
            Verdict::Passed,
            "{}: {:?}",
            case.id,
            case.verdict
        );
    }
    let two = cases.iter().find(|c| c.id == "TRACE-TWO-CONNS").unwrap();
    let trace = lines(two);
    assert!(
        two.trace.windows(2).all(|w| w[0].at <= w[1].at),
        "trace lines out of time order:\n{trace}"
    );
    // a's PINGRESP comes before b's PINGREQ, sent after the 300 ms of silence.
    let position = |conn: &str, text: &str| {
        two.trace
            .iter()
            .position(|l| l.conn == conn && l.text.starts_with(text))
            .unwrap_or_else(|| panic!("no `{conn} {text}` line in:\n{trace}"))
    };
    assert!(
        position("a", "PINGRESP") < position("b", "PINGREQ"),
        "{trace}"
    );

    let acks = cases.iter().find(|c| c.id == "TRACE-311-ACKS").unwrap();
    let trace = lines(acks);
    assert!(
        trace.contains("← PUBACK packet_id=1 [40 02 00 01]"),
        "{trace}"
    );
    assert!(trace.contains("→ DISCONNECT [e0 00]"), "{trace}");
    assert!(!trace.contains("reason"), "{trace}");
    assert!(!trace.contains("Success"), "{trace}");
}
