//! `--list`: the suite's tests, passive rules and device tests, one line each with its
//! kind, status and title; with `--format json` a JSON array of the same.

use crate::runner::Selection;
use crate::suite::Suite;
use crate::suite::schema::Status;
use serde::Serialize;

/// What kind of check an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A broker test (`--target`).
    Test,
    /// A passive rule, judging every connection (device and capture modes, and the rules
    /// over a broker run's own connections).
    Rule,
    /// A device test (`--listen --device-tests`).
    DeviceTest,
}

impl Kind {
    fn words(self) -> &'static str {
        match self {
            Kind::Test => "test",
            Kind::Rule => "rule",
            Kind::DeviceTest => "device test",
        }
    }
}

/// One listed check.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Its stable id.
    pub id: String,
    /// Test, rule or device test.
    pub kind: Kind,
    /// Its one-line title.
    pub title: String,
    /// The statements and catalogue rules it cites.
    pub cites: Vec<String>,
    /// Its status tag (`DOC`, `SDK`, `NP`, …).
    pub status: &'static str,
    /// Why it is listed but not run, if it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip: Option<String>,
}

/// The suite's checks that `selection` chooses: tests, then rules, then device tests, each
/// in suite order.
pub fn entries(suite: &Suite, selection: &Selection) -> Vec<Entry> {
    let tag = |s: Option<Status>| s.unwrap_or(Status::Doc).tag();
    let tests = suite.tests.iter().map(|t| Entry {
        id: t.id.value.clone(),
        kind: Kind::Test,
        title: t.title.clone(),
        cites: t.cites.clone(),
        status: tag(t.status),
        skip: t.skip.clone(),
    });
    let rules = suite.rules.iter().map(|r| Entry {
        id: r.id.value.clone(),
        kind: Kind::Rule,
        title: r.title.clone(),
        cites: r.cites.clone(),
        status: tag(r.status),
        skip: None,
    });
    let device_tests = suite.device_tests.iter().map(|d| Entry {
        id: d.id.clone(),
        kind: Kind::DeviceTest,
        title: d.title.clone(),
        cites: d.cites.clone(),
        status: d.status.tag(),
        skip: d.skip.clone(),
    });
    tests
        .chain(rules)
        .chain(device_tests)
        .filter(|e| selection.selects(&e.id))
        .collect()
}

/// One line per entry, `ID: kind` first (the libtest `--list` shape), then the status and
/// the title in aligned columns.
pub fn text(entries: &[Entry]) -> String {
    let width = entries
        .iter()
        .map(|e| e.id.chars().count() + e.kind.words().len() + 2)
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for e in entries {
        let head = format!("{}: {}", e.id, e.kind.words());
        out.push_str(&format!("{head:<width$}  {:<4} {}", e.status, e.title));
        if let Some(reason) = &e.skip {
            out.push_str(&format!(" (skipped: {reason})"));
        }
        out.push('\n');
    }
    out
}

/// The entries as a pretty JSON array.
pub fn json(entries: &[Entry]) -> String {
    serde_json::to_string_pretty(entries).expect("list entries always serialize")
}
