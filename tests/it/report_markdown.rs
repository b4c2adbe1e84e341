//! `--report-markdown` from a real run: the `mqtt-3.1.1` suite against mosquitto, which
//! fails some of its tests (pinned in broker_mosquitto.rs). The summary, parsed as
//! GitHub-flavoured Markdown, holds one table whose rows are exactly the failures of the
//! run's JSON report, each with its reason; every line of that table has the header's
//! number of cells.

use crate::support::mosquitto::{self, Mosquitto};
use mqtt_conform::report::reason::reason;
use mqtt_conform::report::{CaseReport, Verdict};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use std::process::Command;
use std::time::Duration;

/// The tables of a Markdown text: each a list of rows, each row its cells' plain text.
fn tables(text: &str) -> Vec<Vec<Vec<String>>> {
    let mut found = Vec::new();
    let mut table: Option<Vec<Vec<String>>> = None;
    for event in Parser::new_ext(text, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::Table(_)) => table = Some(Vec::new()),
            Event::End(TagEnd::Table) => found.extend(table.take()),
            Event::Start(Tag::TableHead | Tag::TableRow) => {
                if let Some(t) = &mut table {
                    t.push(Vec::new());
                }
            }
            Event::Start(Tag::TableCell) => {
                if let Some(row) = table.as_mut().and_then(|t| t.last_mut()) {
                    row.push(String::new());
                }
            }
            Event::Text(s) | Event::Code(s) => {
                if let Some(cell) = table
                    .as_mut()
                    .and_then(|t| t.last_mut())
                    .and_then(|r| r.last_mut())
                {
                    cell.push_str(&s);
                }
            }
            _ => {}
        }
    }
    found
}

/// The cells of a table line, split at its unescaped pipes.
fn raw_cells(line: &str) -> usize {
    let mut count = 0;
    let mut escaped = false;
    for c in line.trim().trim_start_matches('|').chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '|' if !escaped => count += 1,
            _ => escaped = false,
        }
    }
    count
}

#[test]
fn the_markdown_summary_lists_every_failure_of_a_real_run_with_its_reason() {
    let broker = Mosquitto::start("markdown", "allow_anonymous true");
    let dir = mosquitto::temp_dir("markdown-out");
    let md = dir.join("summary.md");
    let json = dir.join("report.json");
    let out = Command::new(env!("CARGO_BIN_EXE_mqtt-conform"))
        .args(["--suite", "mqtt-3.1.1", "--target", &broker.url()])
        .args(["--color", "never", "--report-junit"])
        .arg(dir.join("junit.xml"))
        .arg("--report-json")
        .arg(&json)
        .arg("--report-markdown")
        .arg(&md)
        .output()
        .expect("the binary runs");
    assert_eq!(
        out.status.code(),
        Some(1),
        "mosquitto fails some tests; stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON report")).unwrap();
    let text = std::fs::read_to_string(&md).expect("Markdown summary written");

    // The failures of the run, as the library words their reasons.
    let mut failed = Vec::new();
    for case in report["suites"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["cases"].as_array().unwrap())
    {
        let verdict = &case["verdict"];
        let message = verdict["message"].as_str().unwrap_or_default().to_owned();
        let verdict = match verdict["status"].as_str().unwrap() {
            "failed" => Verdict::Failed { message },
            "error" => Verdict::Error { message },
            _ => continue,
        };
        let case = CaseReport {
            id: case["id"].as_str().unwrap().into(),
            title: case["title"].as_str().unwrap().into(),
            cites: vec![],
            verdict,
            branch: None,
            measured: None,
            duration: Duration::ZERO,
            trace: vec![],
            timing: None,
        };
        failed.push((case.id.clone(), case.title.clone(), reason(&case)));
    }
    assert!(failed.len() >= 8, "mosquitto's pinned failures: {failed:?}");

    let heading = text.lines().next().unwrap_or_default();
    assert!(
        heading.starts_with("## ") && heading.contains("mqtt-3.1.1") && heading.contains("FAILED"),
        "{heading}"
    );
    assert!(text.contains(&broker.url()), "the target is named:\n{text}");
    assert!(
        text.contains(&format!("{} failed**", failed.len())),
        "the counts:\n{text}"
    );
    assert!(text.contains("### Warnings: 0"), "{text}");
    assert!(text.contains("### Inconclusive: 0"), "{text}");

    let tables = tables(&text);
    assert_eq!(tables.len(), 1, "one table, the failures:\n{text}");
    let rows = &tables[0];
    assert_eq!(rows[0], ["id", "title", "reason"], "{text}");
    let body: Vec<(String, String, String)> = rows[1..]
        .iter()
        .map(|r| {
            assert_eq!(r.len(), 3, "a row of three cells: {r:?}");
            (r[0].clone(), r[1].clone(), r[2].clone())
        })
        .collect();
    let mut want = failed.clone();
    let mut got = body.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want, "every failure once, with its title and reason");
    for (id, _, reason) in &body {
        assert!(
            reason.starts_with("observed ") || reason.starts_with("the connection "),
            "{id}: the reason comes first: {reason}"
        );
    }

    // Line by line, as a renderer sees it: a header, the separator, rows of as many cells.
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(lines.len(), failed.len() + 2);
    assert_eq!(lines[1], "|---|---|---|");
    for line in &lines {
        assert_eq!(raw_cells(line), 3, "{line}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_capture_summary_names_the_connection_of_each_failure() {
    let dir = mosquitto::temp_dir("markdown-capture");
    let capture = dir.join("run.pcapng");
    // The harness breaks client rules on purpose in these tests: the capture judge fails them.
    let live = Command::new(env!("CARGO_BIN_EXE_mqtt-conform"))
        .args(["--suite", "mqtt-3.1.1", "--color", "never", "--capture"])
        .arg(&capture)
        .arg("--report-junit")
        .arg(dir.join("live.xml"))
        .arg("MQTT311-CONN-")
        .output()
        .expect("the binary runs");
    assert_eq!(live.status.code(), Some(0));
    let md = dir.join("capture.md");
    let json = dir.join("capture.json");
    let out = Command::new(env!("CARGO_BIN_EXE_mqtt-conform"))
        .args(["--suite", "mqtt-3.1.1", "--pcap"])
        .arg(&capture)
        .arg("--report-junit")
        .arg(dir.join("capture.xml"))
        .arg("--report-json")
        .arg(&json)
        .arg("--report-markdown")
        .arg(&md)
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(1), "the capture has failures");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let mut failed: Vec<(String, String)> = Vec::new();
    for group in report["suites"].as_array().unwrap() {
        for case in group["cases"].as_array().unwrap() {
            if case["verdict"]["status"] == "failed" {
                failed.push((
                    group["name"].as_str().unwrap().into(),
                    case["id"].as_str().unwrap().into(),
                ));
            }
        }
    }
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(text.starts_with("## mqtt-conform: `mqtt-3.1.1` (capture mode) — FAILED"));
    let tables = tables(&text);
    assert_eq!(tables.len(), 1, "{text}");
    assert_eq!(tables[0][0], ["connection", "id", "title", "reason"]);
    let mut got: Vec<(String, String)> = tables[0][1..]
        .iter()
        .map(|r| {
            assert_eq!(r.len(), 4, "{r:?}");
            assert!(!r[3].is_empty(), "a reason: {r:?}");
            (r[0].clone(), r[1].clone())
        })
        .collect();
    got.sort();
    failed.sort();
    assert!(!failed.is_empty());
    assert_eq!(got, failed);
    for line in text.lines().filter(|l| l.starts_with('|')) {
        assert_eq!(raw_cells(line), 4, "{line}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
