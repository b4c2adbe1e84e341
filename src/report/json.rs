//! The JSON report, for machines: a `summary` of counts followed by the whole [`RunReport`].

use super::{RunReport, Verdict};
use serde::Serialize;

/// How many cases came out each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that broke a documented rule.
    pub failed: usize,
    /// Cases that broke an inferred rule (not gating).
    pub warnings: usize,
    /// Cases whose observed behaviour was recorded.
    pub recorded: usize,
    /// Cases that could not be judged.
    pub inconclusive: usize,
    /// Cases not run.
    pub skipped: usize,
    /// Cases where the harness itself failed.
    pub errors: usize,
}

impl Summary {
    /// Counts the verdicts of every case of `report`.
    pub fn of(report: &RunReport) -> Self {
        let mut s = Self::default();
        for case in report.cases() {
            match case.verdict {
                Verdict::Passed => s.passed += 1,
                Verdict::Failed { .. } => s.failed += 1,
                Verdict::Warning { .. } => s.warnings += 1,
                Verdict::Recorded { .. } => s.recorded += 1,
                Verdict::Inconclusive { .. } => s.inconclusive += 1,
                Verdict::Skipped { .. } => s.skipped += 1,
                Verdict::Error { .. } => s.errors += 1,
            }
        }
        s
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    summary: Summary,
    #[serde(flatten)]
    report: &'a RunReport,
}

/// Renders `report` as pretty JSON: `{"summary": {…}, "suites": […], "duration": …}`.
pub fn to_json(report: &RunReport) -> String {
    let doc = JsonReport {
        summary: Summary::of(report),
        report,
    };
    serde_json::to_string_pretty(&doc).expect("a RunReport always serializes to JSON")
}

/// One line of the event stream `--format json` prints while a broker run runs (JSON
/// Lines, after libtest's and nextest's): `{"type":TYPE,"event":EVENT,"name":NAME,…}`,
/// with `extra`'s fields after them.
pub fn event_line(
    kind: &str,
    event: &str,
    name: &str,
    extra: Option<serde_json::Map<String, serde_json::Value>>,
) -> String {
    let mut line = serde_json::Map::new();
    line.insert("type".into(), kind.into());
    line.insert("event".into(), event.into());
    line.insert("name".into(), name.into());
    line.extend(extra.unwrap_or_default());
    serde_json::Value::Object(line).to_string()
}

/// The stream's first line: how many tests the run announces.
pub fn suite_started(tests: usize) -> String {
    serde_json::json!({"type": "suite", "event": "started", "test_count": tests}).to_string()
}

/// The line before the cases of the rules judged over the run's connections.
pub fn rules_started(rules: usize) -> String {
    serde_json::json!({"type": "rules", "event": "started", "rule_count": rules}).to_string()
}

/// A case's line as it finishes: its status as the event, with its message and time.
pub fn case_line(case: &super::CaseReport) -> String {
    let mut extra = serde_json::Map::new();
    if let Some(message) = case.verdict.message() {
        extra.insert("message".into(), message.into());
    }
    extra.insert("exec_time".into(), case.duration.as_secs_f64().into());
    event_line("test", case.verdict.status(), &case.id, Some(extra))
}

/// The stream's last line: the summary and the whole report (what `--report-json` writes),
/// on one line.
pub fn report_line(report: &RunReport) -> String {
    let doc = JsonReport {
        summary: Summary::of(report),
        report,
    };
    let mut value = serde_json::to_value(&doc).expect("a RunReport always serializes to JSON");
    if let serde_json::Value::Object(map) = &mut value {
        map.insert("type".into(), "report".into());
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{CaseReport, SuiteReport};
    use std::time::Duration;

    #[test]
    fn summary_first_then_report() {
        let report = RunReport {
            suites: vec![SuiteReport {
                name: "s".into(),
                classname: "s".into(),
                properties: vec![("target".into(), "mqtt://x".into())],
                cases: vec![CaseReport {
                    id: "A-01".into(),
                    title: "t".into(),
                    cites: vec![],
                    verdict: Verdict::Skipped {
                        reason: "filtered".into(),
                    },
                    branch: None,
                    measured: None,
                    duration: Duration::ZERO,
                    trace: vec![],
                    timing: None,
                }],
                duration: Duration::from_millis(1500),
            }],
            duration: Duration::from_millis(1500),
        };
        let text = to_json(&report);
        assert!(text.trim_start().starts_with("{\n  \"summary\""));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["summary"]["skipped"], 1);
        assert_eq!(v["summary"]["passed"], 0);
        assert_eq!(v["duration"], 1.5);
        assert_eq!(v["suites"][0]["cases"][0]["verdict"]["status"], "skipped");
    }
}
