//! `--list` (text and `--format json`) and `--explain ID` over the built-in suites.

use mqtt_conform::cli::explain::explain;
use mqtt_conform::codec::statements::Spec;
use mqtt_conform::suite;
use std::process::Command;

/// (exit code, stdout, stderr) of the binary.
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

#[test]
fn list_names_every_test_rule_and_device_test_with_its_title() {
    for name in suite::builtin_names() {
        let s = suite::load(name).expect("built-in suite loads");
        let (code, text, stderr) = cli(&["--suite", name, "--list"]);
        assert_eq!(code, Some(0), "{stderr}");
        let lines: Vec<&str> = text.lines().collect();
        let want: Vec<(String, &str, &str)> = s
            .tests
            .iter()
            .map(|t| (t.id.value.clone(), "test", t.title.as_str()))
            .chain(
                s.rules
                    .iter()
                    .map(|r| (r.id.value.clone(), "rule", r.title.as_str())),
            )
            .chain(
                s.device_tests
                    .iter()
                    .map(|d| (d.id.clone(), "device test", d.title.as_str())),
            )
            .collect();
        assert_eq!(lines.len(), want.len(), "{name}: one line per check");
        for (line, (id, kind, title)) in lines.iter().zip(&want) {
            assert!(
                line.starts_with(&format!("{id}: {kind} ")) && line.contains(title),
                "{name}: {line}"
            );
        }

        let (code, json, stderr) = cli(&["--suite", name, "--list", "--format", "json"]);
        assert_eq!(code, Some(0), "{stderr}");
        let v: serde_json::Value = serde_json::from_str(&json).expect("a JSON document");
        let items = v.as_array().expect("a JSON array");
        assert_eq!(items.len(), want.len(), "{name}");
        for (item, (id, kind, title)) in items.iter().zip(&want) {
            assert_eq!(item["id"], id.as_str());
            assert_eq!(item["kind"], kind.replace(' ', "_"));
            assert_eq!(item["title"], *title);
            assert!(item["cites"].is_array(), "{item}");
            let status = item["status"].as_str().expect("a status tag");
            assert!(
                ["DOC", "DOC*", "SDK", "2ND", "OBS", "INF", "NP"].contains(&status),
                "{item}"
            );
        }
    }

    // Filters choose what is listed, in JSON too.
    let (_, json, _) = cli(&[
        "--suite",
        "mqtt-5",
        "--list",
        "--format",
        "json",
        "--exact",
        "MQTT5-DEV-SESSION-PRESENT",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["kind"], "device_test");
}

#[test]
fn explain_gives_a_test_its_statements_and_steps() {
    let (code, text, stderr) = cli(&["--suite", "mqtt-3.1.1", "--explain", "MQTT311-CONN-02"]);
    assert_eq!(code, Some(0), "{stderr}");
    let s = suite::load("mqtt-3.1.1").unwrap();
    let test = s
        .tests
        .iter()
        .find(|t| t.id.value == "MQTT311-CONN-02")
        .unwrap();
    assert!(text.contains(&format!("title:  {}", test.title)), "{text}");
    assert!(text.contains("status: DOC"), "{text}");
    for cite in &test.cites {
        let statement = Spec::V3_1_1.lookup(cite).expect("a 3.1.1 statement");
        assert!(
            text.lines()
                .any(|l| l.contains(cite.as_str()) && l.contains(statement.summary)),
            "{cite} with its summary:\n{text}"
        );
    }
    // The steps as the suite's YAML writes them.
    assert!(text.contains("steps (builtin:mqtt-3.1.1, line "), "{text}");
    assert!(
        text.contains(
            "    - send: { connect: { protocol_level: 3, keepalive: 60, credentials: false } }"
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"- { closed, as: "close without CONNACK" }"#),
        "{text}"
    );

    // A test inherited from the baseline is quoted from the baseline, with its note.
    let (code, text, _) = cli(&["--suite", "tuya", "--explain", "MQTT311-VER-05"]);
    assert_eq!(code, Some(0));
    assert!(text.contains("(builtin:mqtt-3.1.1, line "), "{text}");
    assert!(text.contains("note:   "), "{text}");

    // A rule: its check.
    let (code, text, _) = cli(&["--suite", "tuya", "--explain", "TUYA-KA-01"]);
    assert_eq!(code, Some(0));
    assert!(text.contains("passive rule of suite `tuya`"), "{text}");
    assert!(text.contains("check (builtin:tuya, line "), "{text}");
    assert!(text.contains("  check: keepalive_range"), "{text}");
}

#[test]
fn explain_finds_every_check_of_every_built_in_suite_in_its_yaml() {
    for name in suite::builtin_names() {
        let s = suite::load(name).unwrap();
        let sources = suite::sources(name).unwrap();
        let ids = s
            .tests
            .iter()
            .map(|t| t.id.value.clone())
            .chain(s.rules.iter().map(|r| r.id.value.clone()))
            .chain(s.device_tests.iter().map(|d| d.id.clone()));
        for id in ids {
            let e = explain(&s, &sources, &id).unwrap_or_else(|e| panic!("{name} {id}: {e}"));
            assert!(e.definition.is_some(), "{name} {id}:\n{}", e.text());
            // Every statement cited is found, with its summary.
            assert!(
                e.cites
                    .iter()
                    .all(|c| !c.what.starts_with("(not in the statement")),
                "{name} {id}:\n{}",
                e.text()
            );
        }
    }
}

#[test]
fn explain_in_json_gives_the_same_fields() {
    let (code, text, _) = cli(&["--suite", "tuya", "--explain", "TUYA-KA-01"]);
    assert_eq!(code, Some(0));
    let (code, json, stderr) = cli(&[
        "--suite",
        "tuya",
        "--explain",
        "TUYA-KA-01",
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&json).expect("one JSON document");
    assert_eq!(doc["id"], "TUYA-KA-01");
    assert_eq!(doc["kind"], "rule", "named as --list names it");
    assert_eq!(doc["suite"], "tuya");
    assert!(text.contains(&format!("title:  {}", doc["title"].as_str().unwrap())));
    assert!(text.contains(&format!("status: {} (", doc["status"].as_str().unwrap())));
    let definition = &doc["definition"];
    assert_eq!(definition["origin"], "builtin:tuya");
    let line = definition["line"].as_u64().expect("a line");
    assert!(
        text.contains(&format!("check (builtin:tuya, line {line}):")),
        "{text}"
    );
    let body: Vec<&str> = definition["body"]
        .as_array()
        .expect("body lines")
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(body.contains(&"check: keepalive_range"), "{body:?}");
    for c in doc["cites"].as_array().expect("cites") {
        assert!(
            text.contains(c["id"].as_str().unwrap()) && text.contains(c["what"].as_str().unwrap())
        );
    }
}

#[test]
fn an_unknown_id_is_an_error_naming_near_matches() {
    let (code, stdout, stderr) = cli(&["--suite", "tuya", "--explain", "TUYA-KA-1"]);
    assert_eq!(code, Some(2));
    assert!(stdout.is_empty());
    assert!(
        stderr.starts_with("error: suite `tuya` has no test, rule or device test `TUYA-KA-1`"),
        "{stderr}"
    );
    assert!(stderr.contains("near matches: TUYA-KA-01"), "{stderr}");
    let (code, _, stderr) = cli(&["--suite", "tuya", "--explain", "ZZZZZZZZZZZZZZZZ"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("(see --list)"), "{stderr}");
}
