//! A live console reporter in the style of `cargo test`.
//!
//! One line per case as it finishes, then the failures with their evidence, then a summary line
//! in cargo's closing format (`test result: FAILED. 60 passed; 2 failed; …`) so CI log readers
//! that know cargo's output recognise it.
//!
//! Text that came from the target (messages, trace lines) is printed with control characters
//! made visible (`\x1b`), so a hostile peer cannot drive the terminal.

use super::json::Summary;
use super::{CaseReport, RunReport, TraceLine, Verdict};
use std::fmt::Write as _;
use std::io::{self, Write};

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const RESET: &str = "\x1b[0m";

/// A `cargo test`-like reporter writing to any [`Write`] (stdout, or a buffer in tests).
#[derive(Debug)]
pub struct Console<W: Write> {
    /// Whether to emit ANSI colour escapes.
    color: bool,
    /// Whether to print the message and trace of every non-passing case, not only failures.
    verbose: bool,
    /// Where the report goes.
    out: W,
}

impl<W: Write> Console<W> {
    /// A reporter writing to `out`; `color` enables ANSI colours, `verbose` prints the details
    /// of warnings, recorded, inconclusive and errored cases (with their traces) too.
    pub fn new(out: W, color: bool, verbose: bool) -> Self {
        Self {
            color,
            verbose,
            out,
        }
    }

    /// Gives back the writer (e.g. the buffer a test captured the output in).
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Announces a suite: `running 64 tests of suite mqtt-3.1.1 against mqtt://127.0.0.1:1883`.
    pub fn start(&mut self, suite_name: &str, target_desc: &str, count: usize) -> io::Result<()> {
        writeln!(
            self.out,
            "\nrunning {count} {} of suite {} against {}",
            plural(count, "test"),
            visible(suite_name),
            visible(target_desc)
        )?;
        self.out.flush()
    }

    /// Announces the cases of the rules judged over a run's connections, which follow:
    /// `judging 1 rule over the run's connections`.
    pub fn rules_start(&mut self, count: usize) -> io::Result<()> {
        writeln!(
            self.out,
            "\njudging {count} {} over the run's connections",
            plural(count, "rule")
        )?;
        self.out.flush()
    }

    /// Prints the line of one finished case: `test MQTT311-CONN-01 ... ok (0.03 s)`.
    pub fn case(&mut self, case: &CaseReport) -> io::Result<()> {
        let line = self.case_line(case);
        writeln!(self.out, "{line}")?;
        self.out.flush()
    }

    /// Prints the failures (message and trace), the details of other non-passing cases when
    /// verbose, and the closing `test result:` line.
    pub fn finish(&mut self, report: &RunReport) -> io::Result<()> {
        let mut text = String::new();
        // With several groups (devices, connections) a rule id alone does not say which
        // one failed: each case is then named `group: id`.
        let several = report.suites.len() > 1;
        let named = |group: &str, id: &str| {
            if several {
                format!("{}: {}", visible(group), visible(id))
            } else {
                visible(id)
            }
        };
        let cases = report
            .suites
            .iter()
            .flat_map(|g| g.cases.iter().map(move |c| (g.name.as_str(), c)));
        let failures: Vec<(&str, &CaseReport)> = cases
            .clone()
            .filter(|(_, c)| c.verdict.is_failure())
            .collect();
        if self.verbose {
            let notes: Vec<(&str, &CaseReport)> = cases
                .filter(|(_, c)| {
                    matches!(
                        c.verdict,
                        Verdict::Warning { .. }
                            | Verdict::Recorded { .. }
                            | Verdict::Inconclusive { .. }
                    )
                })
                .collect();
            if !notes.is_empty() {
                text.push_str("\nnotes:\n");
                for (group, case) in notes {
                    self.detail_block(&mut text, &named(group, &case.id), case, true);
                }
            }
        }
        if !failures.is_empty() {
            text.push_str("\nfailures:\n");
            for (group, case) in &failures {
                let with_trace = self.verbose || matches!(case.verdict, Verdict::Failed { .. });
                self.detail_block(&mut text, &named(group, &case.id), case, with_trace);
            }
            text.push_str("\nfailures:\n");
            for (group, case) in &failures {
                let _ = writeln!(text, "    {}", named(group, &case.id));
            }
        }
        let _ = writeln!(text, "\n{}", self.summary_line(report));
        self.out.write_all(text.as_bytes())?;
        self.out.flush()
    }

    /// The closing line: `test result: ok. 3 passed; 0 failed; 0 warnings; 0 recorded;
    /// 0 skipped; finished in 1.23s`. Inconclusive and errored counts are added (before
    /// `finished in`) only when non-zero.
    pub fn summary_line(&self, report: &RunReport) -> String {
        let s = Summary::of(report);
        let result = if report.failed() {
            self.paint(RED, "FAILED")
        } else {
            self.paint(GREEN, "ok")
        };
        let mut line = format!(
            "test result: {result}. {} passed; {} failed; {} {}; {} recorded; ",
            s.passed,
            s.failed,
            s.warnings,
            plural(s.warnings, "warning"),
            s.recorded,
        );
        if s.inconclusive > 0 {
            let _ = write!(line, "{} inconclusive; ", s.inconclusive);
        }
        let _ = write!(line, "{} skipped; ", s.skipped);
        if s.errors > 0 {
            let _ = write!(line, "{} {}; ", s.errors, plural(s.errors, "error"));
        }
        let _ = write!(line, "finished in {:.2}s", report.duration.as_secs_f64());
        line
    }

    fn case_line(&self, case: &CaseReport) -> String {
        let secs = case.duration.as_secs_f64();
        let status = match &case.verdict {
            Verdict::Passed => match &case.measured {
                Some(m) => format!(
                    "{}: {} ({secs:.2} s)",
                    self.paint(GREEN, "ok"),
                    visible(first_line(m))
                ),
                None => format!("{} ({secs:.2} s)", self.paint(GREEN, "ok")),
            },
            // The reason first, its evidence cut short: the whole message and the trace
            // follow under `failures:`.
            Verdict::Failed { .. } => format!(
                "{}: {} ({secs:.2} s)",
                self.paint(RED, "FAILED"),
                visible(&super::reason::reason(case))
            ),
            Verdict::Error { message } => format!(
                "{}: {} ({secs:.2} s)",
                self.paint(RED, "ERROR"),
                visible(first_line(message))
            ),
            Verdict::Warning { message } => format!(
                "{}: {} ({secs:.2} s)",
                self.paint(YELLOW, "warning"),
                visible(first_line(message))
            ),
            Verdict::Inconclusive { message } => format!(
                "{}: {} ({secs:.2} s)",
                self.paint(YELLOW, "inconclusive"),
                visible(first_line(message))
            ),
            Verdict::Recorded { message } => {
                let what = case.branch.as_deref().unwrap_or(first_line(message));
                format!(
                    "{}: {} ({secs:.2} s)",
                    self.paint(YELLOW, "recorded"),
                    visible(what)
                )
            }
            Verdict::Skipped { .. } => self.paint(YELLOW, "skipped"),
        };
        format!("test {} ... {status}", visible(&case.id))
    }

    /// A case's title, verdict, measurement and trace under a `---- name ----` header.
    fn detail_block(&self, text: &mut String, name: &str, case: &CaseReport, with_trace: bool) {
        let _ = writeln!(text, "\n---- {name} ----");
        let _ = writeln!(text, "{}", visible(&case.title));
        if !case.cites.is_empty() {
            let _ = writeln!(text, "cites: {}", visible(&case.cites.join(", ")));
        }
        if let Some(branch) = &case.branch {
            let _ = writeln!(text, "branch: {}", visible(branch));
        }
        if let Some(message) = case.verdict.message() {
            let label = case.verdict.label();
            let _ = writeln!(text, "{label}: {}", visible(message));
        }
        if let Some(measured) = &case.measured {
            let _ = writeln!(text, "measured: {}", visible(measured));
        }
        if with_trace && !case.trace.is_empty() {
            text.push_str("trace:\n");
            for line in &case.trace {
                let _ = writeln!(text, "  {}", visible(&trace_line(line)));
            }
        }
    }

    fn paint(&self, color: &str, text: &str) -> String {
        if self.color {
            format!("{color}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }
}

/// Renders one trace line as `[  0.012 s] a → CONNECT …` (used by the console and JUnit).
pub fn trace_line(line: &TraceLine) -> String {
    let mut s = format!("[{:>7.3} s] {}", line.at.as_secs_f64(), line.conn);
    if !line.direction.is_empty() {
        s.push(' ');
        s.push_str(&line.direction);
    }
    s.push(' ');
    s.push_str(&line.text);
    s
}

/// The first line of a (possibly multi-line) message.
pub(crate) fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or("")
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        noun.to_owned()
    } else {
        format!("{noun}s")
    }
}

/// Makes control characters visible (`\x1b`, `\x00`), keeping newlines and tabs.
fn visible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::SuiteReport;
    use std::time::Duration;

    fn case(id: &str, verdict: Verdict) -> CaseReport {
        CaseReport {
            id: id.into(),
            title: format!("title of {id}"),
            cites: vec!["[MQTT-3.1.0-1]".into()],
            verdict,
            branch: None,
            measured: None,
            duration: Duration::from_millis(30),
            trace: vec![TraceLine {
                at: Duration::from_millis(12),
                conn: "a".into(),
                direction: "→".into(),
                text: "CONNECT".into(),
            }],
            timing: None,
        }
    }

    fn report(cases: Vec<CaseReport>) -> RunReport {
        RunReport {
            suites: vec![SuiteReport {
                name: "s".into(),
                classname: "s".into(),
                properties: vec![],
                cases,
                duration: Duration::from_secs(1),
            }],
            duration: Duration::from_millis(12_340),
        }
    }

    #[test]
    fn trace_line_format() {
        let line = TraceLine {
            at: Duration::from_millis(12),
            conn: "a".into(),
            direction: "→".into(),
            text: "CONNECT".into(),
        };
        assert_eq!(trace_line(&line), "[  0.012 s] a → CONNECT");
        let close = TraceLine {
            direction: String::new(),
            text: "closed by peer".into(),
            ..line
        };
        assert_eq!(trace_line(&close), "[  0.012 s] a closed by peer");
    }

    #[test]
    fn case_lines() {
        let c = Console::new(Vec::new(), false, false);
        assert_eq!(
            c.case_line(&case("X-01", Verdict::Passed)),
            "test X-01 ... ok (0.03 s)"
        );
        let failed = Verdict::Failed {
            message: "m".into(),
        };
        assert_eq!(
            c.case_line(&case("X-02", failed)),
            "test X-02 ... FAILED: m (0.03 s)"
        );
        // The observation before the expectation, the hex cut to its first 8 bytes.
        let long = Verdict::Failed {
            message: "step 3 (expect closed): expected the peer closing the connection within 5.00 s; observed PUBLISH [30 0f 00 03 61 2f 62 78 78 78 78]".into(),
        };
        assert_eq!(
            c.case_line(&case("X-03", long)),
            "test X-03 ... FAILED: observed PUBLISH [30 0f 00 03 61 2f 62 78 …] — expected the peer closing the connection within 5.00 s (step 3 (expect closed)) (0.03 s)"
        );
        let skipped = Verdict::Skipped { reason: "r".into() };
        assert_eq!(c.case_line(&case("X-03", skipped)), "test X-03 ... skipped");
        let mut rec = case(
            "X-04",
            Verdict::Recorded {
                message: "saw it".into(),
            },
        );
        assert_eq!(c.case_line(&rec), "test X-04 ... recorded: saw it (0.03 s)");
        rec.branch = Some("closes".into());
        assert_eq!(c.case_line(&rec), "test X-04 ... recorded: closes (0.03 s)");
    }

    #[test]
    fn colour_only_when_asked() {
        let plain = Console::new(Vec::new(), false, false);
        let coloured = Console::new(Vec::new(), true, false);
        let c = case("X-01", Verdict::Passed);
        assert!(!plain.case_line(&c).contains('\x1b'));
        assert!(coloured.case_line(&c).contains("\x1b[32mok\x1b[0m"));
    }

    #[test]
    fn summary_ok_and_failed() {
        let c = Console::new(Vec::new(), false, false);
        let ok = report(vec![case("A", Verdict::Passed)]);
        assert_eq!(
            c.summary_line(&ok),
            "test result: ok. 1 passed; 0 failed; 0 warnings; 0 recorded; 0 skipped; \
             finished in 12.34s"
        );
        let bad = report(vec![
            case("A", Verdict::Passed),
            case(
                "B",
                Verdict::Failed {
                    message: "x".into(),
                },
            ),
            case(
                "C",
                Verdict::Warning {
                    message: "w".into(),
                },
            ),
            case(
                "D",
                Verdict::Error {
                    message: "e".into(),
                },
            ),
        ]);
        assert_eq!(
            c.summary_line(&bad),
            "test result: FAILED. 1 passed; 1 failed; 1 warning; 0 recorded; 0 skipped; \
             1 error; finished in 12.34s"
        );
    }

    #[test]
    fn failure_block_has_message_and_trace() {
        let mut c = Console::new(Vec::new(), false, false);
        let r = report(vec![case(
            "B-01",
            Verdict::Failed {
                message: "expected CONNACK\x1b[31m".into(),
            },
        )]);
        c.finish(&r).unwrap();
        let out = String::from_utf8(c.into_inner()).unwrap();
        assert!(out.contains("---- B-01 ----"));
        assert!(out.contains("FAILED: expected CONNACK\\x1b[31m"));
        assert!(out.contains("  [  0.012 s] a → CONNECT"));
        assert!(!out.contains('\x1b'));
    }

    #[test]
    fn with_several_groups_each_failure_names_its_group() {
        let mut c = Console::new(Vec::new(), false, false);
        let failed = || Verdict::Failed {
            message: "bad client id".into(),
        };
        let mut r = report(vec![case("AUTH-01", failed())]);
        let mut second = r.suites[0].clone();
        r.suites[0].name = "dev1 (127.0.0.1:5000 → 127.0.0.1:1883)".into();
        second.name = "dev2 (127.0.0.1:5001 → 127.0.0.1:1883)".into();
        second.cases.push(case("TOPIC-01", failed()));
        r.suites.push(second);
        c.finish(&r).unwrap();
        let out = String::from_utf8(c.into_inner()).unwrap();
        assert!(
            out.contains("---- dev1 (127.0.0.1:5000 → 127.0.0.1:1883): AUTH-01 ----"),
            "{out}"
        );
        assert!(
            out.contains("---- dev2 (127.0.0.1:5001 → 127.0.0.1:1883): TOPIC-01 ----"),
            "{out}"
        );
        let list = out.rsplit("failures:\n").next().unwrap();
        let names: Vec<&str> = list
            .lines()
            .filter_map(|l| l.strip_prefix("    "))
            .collect();
        assert_eq!(
            names,
            [
                "dev1 (127.0.0.1:5000 → 127.0.0.1:1883): AUTH-01",
                "dev2 (127.0.0.1:5001 → 127.0.0.1:1883): AUTH-01",
                "dev2 (127.0.0.1:5001 → 127.0.0.1:1883): TOPIC-01",
            ]
        );
    }
}
