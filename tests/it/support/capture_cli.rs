//! Capture mode from the command line (`mqtt-conform --suite S --pcap FILE…`) and the
//! comparison of its verdicts with a live run's: the JSON report, and verdict ranking.

#![allow(dead_code)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `--suite suite --pcap files… extra…`; returns its JSON report after checking that
/// none of `secrets` appears in it.
pub fn judge_capture(suite: &str, files: &[&Path], extra: &[&str], secrets: &[&str]) -> Value {
    let dir = scratch_dir();
    let json = dir.join("report.json");
    let out = Command::new(env!("CARGO_BIN_EXE_mqtt-conform"))
        .args(["--suite", suite, "--pcap"])
        .args(files)
        .args(extra)
        .arg("--report-json")
        .arg(&json)
        .arg("--report-junit")
        .arg(dir.join("report.xml"))
        .output()
        .expect("binary runs");
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "capture mode exited with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&json).expect("JSON report");
    for secret in secrets {
        assert!(!text.contains(secret), "a secret leaked into the report");
    }
    let _ = std::fs::remove_dir_all(&dir);
    serde_json::from_str(&text).expect("JSON")
}

/// A fresh directory for one capture run's reports.
fn scratch_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "mqtt-conform-pcap-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// How bad a verdict status is (JSON `verdict.status`), for "the worst verdict per rule".
pub fn rank(status: &str) -> u8 {
    match status {
        "error" => 6,
        "failed" => 5,
        "warning" => 4,
        "recorded" => 3,
        "inconclusive" => 2,
        "passed" => 1,
        _ => 0,
    }
}

/// Rule id → the case with the worst verdict over `cases` (JSON report cases); of cases
/// equally bad, the first.
pub fn worst_cases<'a>(cases: impl IntoIterator<Item = &'a Value>) -> BTreeMap<String, &'a Value> {
    let mut out: BTreeMap<String, &Value> = BTreeMap::new();
    for case in cases {
        let id = case["id"].as_str().unwrap_or_default();
        let status = |c: &Value| rank(c["verdict"]["status"].as_str().unwrap_or_default());
        match out.get(id) {
            Some(kept) if status(kept) >= status(case) => {}
            _ => {
                out.insert(id.to_owned(), case);
            }
        }
    }
    out
}

/// Rule id → the worst verdict status over `cases` (JSON report cases).
pub fn worst<'a>(cases: impl IntoIterator<Item = &'a Value>) -> BTreeMap<String, String> {
    worst_cases(cases)
        .into_iter()
        .map(|(id, case)| {
            let status = case["verdict"]["status"].as_str().unwrap_or_default();
            (id, status.to_owned())
        })
        .collect()
}
