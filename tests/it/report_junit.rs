//! The reports as CI reads them: JUnit shape (GitLab, Jenkins, GitHub), console summary, JSON.

use mqtt_conform::report::console::Console;
use mqtt_conform::report::json::to_json;
use mqtt_conform::report::junit::{to_junit_string, write_junit};
use mqtt_conform::report::{CaseReport, RunReport, SuiteReport, TraceLine, Verdict};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A message with everything XML and terminals choke on.
const NASTY: &str = "expected CONNACK <rc=0> & \"session present\"\x1b[31m red\x00 nul\n\
                     observed: 20 02 00 05 at 0.120 s (window 0.100 s, margin -0.020 s)";

fn trace() -> Vec<TraceLine> {
    vec![
        TraceLine {
            at: Duration::from_millis(0),
            conn: "a".into(),
            direction: "→".into(),
            text: "CONNECT client_id=\"c<1>\" 10 0c 00 04 4d 51 54 54".into(),
        },
        TraceLine {
            at: Duration::from_millis(120),
            conn: "a".into(),
            direction: "←".into(),
            text: "CONNACK rc=5 & \x1b[0m\x00 20 02 00 05".into(),
        },
        TraceLine {
            at: Duration::from_millis(130),
            conn: "a".into(),
            direction: String::new(),
            text: "closed by peer".into(),
        },
    ]
}

fn case(id: &str, verdict: Verdict, ms: u64) -> CaseReport {
    CaseReport {
        id: id.into(),
        title: format!("title of {id} <&>"),
        cites: vec!["[MQTT-3.1.0-1]".into(), "[MQTT-3.2.2-4]".into()],
        verdict,
        branch: None,
        measured: None,
        duration: Duration::from_millis(ms),
        trace: trace(),
        timing: None,
    }
}

fn report() -> RunReport {
    let mut recorded = case(
        "MQTT311-CONN-05",
        Verdict::Recorded {
            message: "broker closed the connection".into(),
        },
        40,
    );
    recorded.branch = Some("closes".into());
    let suite1 = SuiteReport {
        name: "mqtt-3.1.1".into(),
        classname: "mqtt-3.1.1".into(),
        properties: vec![
            ("target".into(), "mqtt://127.0.0.1:1883".into()),
            ("protocol".into(), "3.1.1".into()),
        ],
        cases: vec![
            case("MQTT311-CONN-01", Verdict::Passed, 30),
            case(
                "MQTT311-CONN-02",
                Verdict::Failed {
                    message: NASTY.into(),
                },
                10_040,
            ),
            case(
                "MQTT311-CONN-03",
                Verdict::Warning {
                    message: "keep-alive grace exceeded by 0.2 s".into(),
                },
                50,
            ),
            recorded,
            case(
                "MQTT311-CONN-06",
                Verdict::Inconclusive {
                    message: "no CONNECT in capture".into(),
                },
                0,
            ),
            case(
                "MQTT311-CONN-07",
                Verdict::Skipped {
                    reason: "filtered out <by> --only".into(),
                },
                0,
            ),
            case(
                "MQTT311-CONN-08",
                Verdict::Error {
                    message: "I/O error: connection refused\x1b".into(),
                },
                2,
            ),
        ],
        duration: Duration::from_millis(10_200),
    };
    let suite2 = SuiteReport {
        name: "tuya".into(),
        classname: "tuya".into(),
        properties: vec![],
        cases: vec![
            case("TUYA-KA-01", Verdict::Passed, 1),
            case(
                "TUYA-KA-02",
                Verdict::Failed {
                    message: "PINGREQ late".into(),
                },
                3,
            ),
        ],
        duration: Duration::from_millis(2_140),
    };
    RunReport {
        suites: vec![suite1, suite2],
        duration: Duration::from_millis(12_340),
    }
}

fn temp_path(name: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir()
        .join(format!("mqtt-conform-{}-{nanos}", std::process::id()))
        .join("nested")
        .join(name)
}

fn attr<'a>(node: roxmltree::Node<'a, '_>, name: &str) -> &'a str {
    node.attribute(name)
        .unwrap_or_else(|| panic!("<{}> lacks {name}", node.tag_name().name()))
}

fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children().find(|n| n.has_tag_name(name))
}

#[test]
fn report_junit_file_has_the_shape_ci_reads() {
    let path = temp_path("junit.xml");
    write_junit(&report(), &path).unwrap();
    let xml = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());

    assert!(!xml.contains('\x1b') && !xml.contains('\x00'));
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(attr(root, "tests"), "9");
    assert_eq!(attr(root, "failures"), "2");
    assert_eq!(attr(root, "errors"), "1");

    let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    assert_eq!(suites.len(), 2);
    let s1 = suites[0];
    assert_eq!(s1.tag_name().name(), "testsuite");
    assert_eq!(attr(s1, "name"), "mqtt-3.1.1");
    assert_eq!(attr(s1, "tests"), "7");
    assert_eq!(attr(s1, "failures"), "1");
    assert_eq!(attr(s1, "errors"), "1");
    assert_eq!(attr(s1, "skipped"), "2");
    assert_eq!(attr(s1, "time").parse::<f64>().unwrap(), 10.2);
    assert_eq!(attr(suites[1], "name"), "tuya");
    assert_eq!(attr(suites[1], "failures"), "1");

    let props = child(s1, "properties").expect("properties");
    let props: Vec<(&str, &str)> = props
        .children()
        .filter(|n| n.has_tag_name("property"))
        .map(|p| (attr(p, "name"), attr(p, "value")))
        .collect();
    assert_eq!(
        props,
        [("target", "mqtt://127.0.0.1:1883"), ("protocol", "3.1.1")]
    );

    let cases: Vec<_> = s1
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 7);
    for tc in &cases {
        assert!(attr(*tc, "name").starts_with("MQTT311-CONN-"));
        assert_eq!(attr(*tc, "classname"), "mqtt-3.1.1");
        attr(*tc, "time").parse::<f64>().expect("numeric time");
        let out = child(*tc, "system-out")
            .expect("system-out")
            .text()
            .unwrap();
        assert!(out.contains("[  0.000 s] a → CONNECT client_id=\"c<1>\""));
        assert!(out.contains("[  0.120 s] a ← CONNACK rc=5 & "));
        assert!(out.contains("[  0.130 s] a closed by peer"));
        assert!(out.contains("cites: [MQTT-3.1.0-1], [MQTT-3.2.2-4]"));
        assert!(out.contains(&format!(
            "{}: title of {} <&>",
            attr(*tc, "name"),
            attr(*tc, "name")
        )));
    }
    let by_name = |name: &str| *cases.iter().find(|c| attr(**c, "name") == name).unwrap();

    // Passed: no failure, error or skipped child.
    let passed = by_name("MQTT311-CONN-01");
    assert!(child(passed, "failure").is_none() && child(passed, "skipped").is_none());
    assert_eq!(attr(passed, "time").parse::<f64>().unwrap(), 0.03);

    // Failed: short message attribute, full evidence in the text, control characters gone.
    let failed = by_name("MQTT311-CONN-02");
    assert_eq!(attr(failed, "time").parse::<f64>().unwrap(), 10.04);
    let failure = child(failed, "failure").expect("failure");
    let message = attr(failure, "message");
    assert!(message.starts_with("expected CONNACK <rc=0> & \"session present\""));
    assert!(!message.contains("observed"));
    assert!(failure.attribute("type").is_some());
    let body = failure.text().unwrap();
    assert!(body.contains("observed: 20 02 00 05 at 0.120 s (window 0.100 s, margin -0.020 s)"));
    assert!(body.contains(" red nul"));

    // Error.
    let errored = by_name("MQTT311-CONN-08");
    let error = child(errored, "error").expect("error");
    assert_eq!(attr(error, "message"), "I/O error: connection refused");
    assert!(child(errored, "failure").is_none());

    // Skipped.
    let skipped = by_name("MQTT311-CONN-07");
    assert_eq!(
        attr(child(skipped, "skipped").expect("skipped"), "message"),
        "filtered out <by> --only"
    );

    // Inconclusive: skipped (nothing was judged), with the reason.
    let inconclusive = child(by_name("MQTT311-CONN-06"), "skipped").expect("skipped");
    assert_eq!(attr(inconclusive, "message"), "no CONNECT in capture");
    assert_eq!(attr(inconclusive, "type"), "inconclusive");

    // Warning / Recorded: passing, with the verdict heading system-out; an inconclusive
    // case's system-out starts the same way.
    for (name, head) in [
        (
            "MQTT311-CONN-03",
            "WARNING: keep-alive grace exceeded by 0.2 s\n",
        ),
        (
            "MQTT311-CONN-05",
            "RECORDED: broker closed the connection\n",
        ),
        ("MQTT311-CONN-06", "INCONCLUSIVE: no CONNECT in capture\n"),
    ] {
        let tc = by_name(name);
        assert!(child(tc, "failure").is_none() && child(tc, "error").is_none());
        assert_eq!(child(tc, "skipped").is_some(), name == "MQTT311-CONN-06");
        let out = child(tc, "system-out").unwrap().text().unwrap();
        assert!(out.starts_with(head), "{name}: {out}");
    }
    let recorded = child(by_name("MQTT311-CONN-05"), "system-out").unwrap();
    assert!(recorded.text().unwrap().contains("branch: closes\n"));
}

#[test]
fn report_junit_string_matches_file() {
    let path = temp_path("same.xml");
    let r = report();
    write_junit(&r, &path).unwrap();
    let file = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
    assert_eq!(file, to_junit_string(&r));
}

#[test]
fn report_console_has_a_line_per_case_and_the_result_line() {
    let r = report();
    let mut console = Console::new(Vec::new(), false, false);
    for suite in &r.suites {
        console
            .start(&suite.name, "mqtt://127.0.0.1:41234", suite.cases.len())
            .unwrap();
        for case in &suite.cases {
            console.case(case).unwrap();
        }
    }
    console.finish(&r).unwrap();
    let out = String::from_utf8(console.into_inner()).unwrap();

    assert!(out.contains("running 7 tests of suite mqtt-3.1.1 against mqtt://127.0.0.1:41234"));
    assert!(out.contains("running 2 tests of suite tuya against"));
    let case_lines: Vec<&str> = out.lines().filter(|l| l.starts_with("test ")).collect();
    let case_lines: Vec<&str> = case_lines
        .into_iter()
        .filter(|l| !l.starts_with("test result:"))
        .collect();
    assert_eq!(case_lines.len(), 9, "{out}");
    assert!(out.contains("test MQTT311-CONN-01 ... ok (0.03 s)\n"));
    // A failure's line gives its reason, the observation first.
    let failed = out
        .lines()
        .find(|l| l.starts_with("test MQTT311-CONN-02 ... FAILED: "))
        .expect("the failure's line");
    assert!(failed.ends_with(" (10.04 s)"), "{failed}");
    assert!(failed.contains("expected CONNACK"), "{failed}");
    assert!(
        !failed.contains('\x1b'),
        "control characters shown, not sent: {failed}"
    );
    assert!(out.contains("test MQTT311-CONN-03 ... warning"));
    assert!(out.contains("test MQTT311-CONN-05 ... recorded: closes"));
    assert!(out.contains("test MQTT311-CONN-07 ... skipped\n"));
    // Several groups: each failure is named `group: id`.
    assert!(out.contains("---- mqtt-3.1.1: MQTT311-CONN-02 ----"));
    assert!(out.contains("---- tuya: TUYA-KA-02 ----"));
    assert!(out.contains("---- mqtt-3.1.1: MQTT311-CONN-08 ----"));
    assert!(
        !out.contains('\x1b'),
        "no colour or raw escapes when color is false"
    );
    let result = out
        .lines()
        .find(|l| l.starts_with("test result:"))
        .expect("result line");
    assert_eq!(
        result,
        "test result: FAILED. 2 passed; 2 failed; 1 warning; 1 recorded; 1 inconclusive; \
         1 skipped; 1 error; finished in 12.34s"
    );
}

#[test]
fn report_json_parses_and_has_the_summary() {
    let v: serde_json::Value = serde_json::from_str(&to_json(&report())).expect("valid JSON");
    let s = &v["summary"];
    assert_eq!(s["passed"], 2);
    assert_eq!(s["failed"], 2);
    assert_eq!(s["warnings"], 1);
    assert_eq!(s["recorded"], 1);
    assert_eq!(s["inconclusive"], 1);
    assert_eq!(s["skipped"], 1);
    assert_eq!(s["errors"], 1);
    assert_eq!(v["suites"].as_array().unwrap().len(), 2);
    assert_eq!(
        v["suites"][0]["cases"][1]["verdict"]["message"]
            .as_str()
            .unwrap(),
        NASTY
    );
}
