//! JUnit XML, as GitLab, Jenkins and GitHub read it (written with `quick-junit`, which also
//! strips ANSI escapes and control characters that XML 1.0 cannot carry).
//!
//! One `<testsuites>`; one `<testsuite>` per [`SuiteReport`](super::SuiteReport) with its
//! properties; one `<testcase>` per case, named by its ID, classed by its suite. A failure
//! carries the first line of its message as `message` and the whole message (the evidence) as
//! its text; an inconclusive case is `<skipped>` (type `inconclusive`) with its reason the
//! same way, never a pass; every case's `<system-out>` holds its title, cites, branch and
//! trace.

use super::console::{first_line, trace_line};
use super::{CaseReport, RunReport, Verdict};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// The `name` of the `<testsuites>` element.
const REPORT_NAME: &str = "mqtt-conform";

/// Builds the JUnit document for `report`.
fn build(report: &RunReport) -> Report {
    let mut junit = Report::new(REPORT_NAME);
    junit.set_time(report.duration);
    for suite in &report.suites {
        let mut ts = TestSuite::new(suite.name.as_str());
        ts.set_time(suite.duration);
        ts.add_properties(
            suite
                .properties
                .iter()
                .map(|(k, v)| Property::new(k.as_str(), v.as_str())),
        );
        for case in &suite.cases {
            ts.add_test_case(test_case(case, &suite.classname));
        }
        junit.add_test_suite(ts);
    }
    junit
}

fn test_case(case: &CaseReport, classname: &str) -> TestCase {
    let status = match &case.verdict {
        Verdict::Failed { message } => non_success(NonSuccessKind::Failure, "failed", message),
        Verdict::Error { message } => non_success(NonSuccessKind::Error, "error", message),
        Verdict::Skipped { reason } => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(reason.as_str());
            s
        }
        // Nothing was judged: never shown as a pass, with the reason.
        Verdict::Inconclusive { message } => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(first_line(message));
            s.set_type("inconclusive");
            s.set_description(message.as_str());
            s
        }
        Verdict::Passed | Verdict::Warning { .. } | Verdict::Recorded { .. } => {
            TestCaseStatus::success()
        }
    };
    let mut tc = TestCase::new(case.id.as_str(), status);
    tc.set_classname(classname);
    tc.set_time(case.duration);
    tc.set_system_out(system_out(case));
    tc
}

fn non_success(kind: NonSuccessKind, ty: &str, message: &str) -> TestCaseStatus {
    let mut s = TestCaseStatus::non_success(kind);
    s.set_message(first_line(message));
    s.set_type(ty);
    s.set_description(message);
    s
}

/// The `<system-out>` of a case: a `WARNING:`/`RECORDED:`/`INCONCLUSIVE:` line first when the
/// verdict is one of those, then the ID and title, the cites, the branch and the trace.
fn system_out(case: &CaseReport) -> String {
    let mut out = String::new();
    let note = match &case.verdict {
        Verdict::Warning { message } => Some(("WARNING", message)),
        Verdict::Recorded { message } => Some(("RECORDED", message)),
        Verdict::Inconclusive { message } => Some(("INCONCLUSIVE", message)),
        _ => None,
    };
    if let Some((label, message)) = note {
        let _ = writeln!(out, "{label}: {message}");
    }
    let _ = writeln!(out, "{}: {}", case.id, case.title);
    if !case.cites.is_empty() {
        let _ = writeln!(out, "cites: {}", case.cites.join(", "));
    }
    if let Some(branch) = &case.branch {
        let _ = writeln!(out, "branch: {branch}");
    }
    if let Some(measured) = &case.measured {
        let _ = writeln!(out, "measured: {measured}");
    }
    if !case.trace.is_empty() {
        out.push_str("trace:\n");
        for line in &case.trace {
            let _ = writeln!(out, "{}", trace_line(line));
        }
    }
    out
}

/// Renders `report` as a JUnit XML document.
pub fn to_junit_string(report: &RunReport) -> String {
    build(report)
        .to_string()
        .expect("JUnit serialization into memory cannot fail")
}

/// Writes `report` as JUnit XML to `path`, creating its parent directories.
pub fn write_junit(report: &RunReport, path: &Path) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    let mut file = BufWriter::new(fs::File::create(path)?);
    build(report)
        .serialize(&mut file)
        .map_err(io::Error::other)?;
    file.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::TraceLine;
    use std::time::Duration;

    fn case(verdict: Verdict) -> CaseReport {
        CaseReport {
            id: "T-01".into(),
            title: "a title".into(),
            cites: vec!["[MQTT-3.1.0-1]".into(), "[MQTT-3.1.2-2]".into()],
            verdict,
            branch: Some("closes".into()),
            measured: None,
            duration: Duration::from_millis(5),
            trace: vec![TraceLine {
                at: Duration::from_millis(12),
                conn: "a".into(),
                direction: "→".into(),
                text: "CONNECT".into(),
            }],
            timing: None,
        }
    }

    #[test]
    fn system_out_layout() {
        let out = system_out(&case(Verdict::Warning {
            message: "late".into(),
        }));
        assert_eq!(
            out,
            "WARNING: late\nT-01: a title\ncites: [MQTT-3.1.0-1], [MQTT-3.1.2-2]\n\
             branch: closes\ntrace:\n[  0.012 s] a → CONNECT\n"
        );
        let out = system_out(&case(Verdict::Passed));
        assert!(out.starts_with("T-01: a title\n"));
    }

    #[test]
    fn failure_message_is_first_line() {
        let tc = test_case(
            &case(Verdict::Failed {
                message: "no CONNACK\nwindow 10 s".into(),
            }),
            "suite",
        );
        match tc.status {
            TestCaseStatus::NonSuccess {
                message,
                description,
                ..
            } => {
                assert_eq!(message.unwrap().as_str(), "no CONNACK");
                assert_eq!(description.unwrap().as_str(), "no CONNACK\nwindow 10 s");
            }
            other => panic!("{other:?}"),
        }
    }
}
