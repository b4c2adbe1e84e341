//! A Markdown summary of a run, for a CI page: GitHub Actions' `$GITHUB_STEP_SUMMARY`, a
//! GitLab merge-request note.
//!
//! A heading names the suite, the mode and what was tested; a line gives the counts; a
//! table lists the failures (id, title, reason), the reason before its evidence and the
//! evidence cut short; then the warnings and inconclusive cases, counted and listed. Long
//! lists fold into `<details>`. Every text is escaped for a table cell: a pipe or a line
//! break in a message (which may quote what a peer sent) never breaks the table, and no
//! HTML or link syntax in it is rendered.

use super::json::Summary;
use super::reason::reason;
use super::{CaseReport, RunReport, Verdict};
use std::fmt::Write as _;

/// What the heading says about the run.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// The suite's name.
    pub suite: String,
    /// `broker`, `device`, `capture` or `replay`.
    pub mode: String,
    /// What was tested: the target URL, the listening address, the capture files.
    pub subject: String,
}

/// Lists longer than this fold into `<details>`.
const FOLD_ABOVE: usize = 10;
/// At most this many rows per list: a CI summary page has a size limit (GitHub: 1 MiB).
const MAX_ROWS: usize = 500;

/// Renders the summary of `report`.
pub fn to_markdown(report: &RunReport, context: &RunContext) -> String {
    let s = Summary::of(report);
    let mut out = String::new();
    let result = if report.failed() { "FAILED" } else { "passed" };
    let _ = writeln!(
        out,
        "## mqtt-conform: {} ({} mode) — {result}\n",
        code(&context.suite),
        escape(&context.mode)
    );
    let _ = writeln!(
        out,
        "{} mode: {}\n",
        escape(&context.mode),
        code(&context.subject)
    );
    let mut counts = format!("**{} passed, {} failed", s.passed, s.failed + s.errors);
    if s.errors > 0 {
        let _ = write!(counts, " ({} of them harness errors)", s.errors);
    }
    let _ = write!(
        counts,
        "**, {} {}, {} inconclusive, {} recorded, {} skipped — {} cases in {:.2} s",
        s.warnings,
        plural(s.warnings, "warning"),
        s.inconclusive,
        s.recorded,
        s.skipped,
        report.cases().count(),
        report.duration.as_secs_f64()
    );
    let _ = writeln!(out, "{counts}\n");

    // Devices and connections are named; a broker run's groups (its tests, and the rules
    // over its connections) only when a list holds cases of both.
    let by_group = context.mode != "broker";
    let grouped =
        |picked: &[(&str, &CaseReport)]| by_group || picked.iter().any(|(g, _)| *g != picked[0].0);
    let group_column = match context.mode.as_str() {
        "device" => "device",
        "capture" | "replay" => "connection",
        _ => "group",
    };
    let cases = || {
        report
            .suites
            .iter()
            .flat_map(|g| g.cases.iter().map(move |c| (g.name.as_str(), c)))
    };

    let failures: Vec<_> = cases().filter(|(_, c)| c.verdict.is_failure()).collect();
    if !failures.is_empty() {
        let grouped = grouped(&failures);
        let _ = writeln!(out, "### Failures ({})\n", failures.len());
        let mut table = String::new();
        let mut header = vec!["id", "title", "reason"];
        if grouped {
            header.insert(0, group_column);
        }
        let _ = writeln!(table, "| {} |", header.join(" | "));
        let _ = writeln!(table, "|{}", "---|".repeat(header.len()));
        for (group, case) in failures.iter().take(MAX_ROWS) {
            let mut cells = vec![code(&case.id), escape(&case.title), escape(&reason(case))];
            if grouped {
                cells.insert(0, escape(group));
            }
            let _ = writeln!(table, "| {} |", cells.join(" | "));
        }
        fold(&mut out, failures.len(), "failures", &table);
        more(&mut out, failures.len());
    }

    for (heading, noun, pick) in [
        (
            "Warnings",
            "warnings",
            (|v| matches!(v, Verdict::Warning { .. })) as fn(&Verdict) -> bool,
        ),
        ("Inconclusive", "inconclusive cases", |v| {
            matches!(v, Verdict::Inconclusive { .. })
        }),
    ] {
        let picked: Vec<_> = cases().filter(|(_, c)| pick(&c.verdict)).collect();
        let _ = writeln!(out, "### {heading}: {}\n", picked.len());
        if picked.is_empty() {
            continue;
        }
        let grouped = grouped(&picked);
        let mut list = String::new();
        for (group, case) in picked.iter().take(MAX_ROWS) {
            let on = if grouped {
                format!(" on {}", escape(group))
            } else {
                String::new()
            };
            let _ = writeln!(list, "- {}{on}: {}", code(&case.id), escape(&reason(case)));
        }
        fold(&mut out, picked.len(), noun, &list);
        more(&mut out, picked.len());
    }
    out
}

/// `body` as it is, or folded into `<details>` when it has more than [`FOLD_ABOVE`] items.
fn fold(out: &mut String, count: usize, noun: &str, body: &str) {
    if count > FOLD_ABOVE {
        // The blank lines let the Markdown inside the HTML block render.
        let _ = writeln!(
            out,
            "<details><summary>{count} {noun}</summary>\n\n{body}\n</details>\n"
        );
    } else {
        let _ = writeln!(out, "{body}");
    }
}

fn more(out: &mut String, count: usize) {
    if count > MAX_ROWS {
        let _ = writeln!(
            out,
            "… and {} more (see the JUnit or JSON report)\n",
            count - MAX_ROWS
        );
    }
}

/// `text` safe in a table cell and inert as Markdown: line breaks become `<br>`, control
/// characters are shown as `\xNN`, and punctuation Markdown or HTML would act on
/// (pipes, emphasis, links, tags, headings, entities) is escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        for c in line.chars() {
            match c {
                '\\' | '|' | '*' | '_' | '`' | '[' | ']' | '<' | '>' | '#' | '~' | '!' | '&' => {
                    out.push('\\');
                    out.push(c);
                }
                c if c.is_control() && c != '\t' => {
                    let _ = write!(out, "\\\\x{:02x}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        if lines.peek().is_some() {
            out.push_str("<br>");
        }
    }
    out
}

/// `text` as a code span when it can be one (no backtick, pipe or line break), else escaped.
pub fn code(text: &str) -> String {
    if text.is_empty()
        || text.contains(['`', '|', '\n', '\r'])
        || text.chars().any(char::is_control)
    {
        escape(text)
    } else {
        format!("`{text}`")
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_owned()
    } else {
        format!("{word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::SuiteReport;
    use crate::report::reason::MAX_REASON_CHARS;
    use std::time::Duration;

    fn case(id: &str, verdict: Verdict) -> CaseReport {
        CaseReport {
            id: id.into(),
            title: format!("title of {id}"),
            cites: vec![],
            verdict,
            branch: None,
            measured: None,
            duration: Duration::ZERO,
            trace: vec![],
            timing: None,
        }
    }

    fn context() -> RunContext {
        RunContext {
            suite: "mqtt-3.1.1".into(),
            mode: "broker".into(),
            subject: "mqtt://127.0.0.1:1883".into(),
        }
    }

    #[test]
    fn the_reason_comes_first_and_its_evidence_is_cut() {
        let c = case(
            "X-01",
            Verdict::Failed {
                message: "step 3 (expect closed): expected the peer closing the connection \
                          within 5.00 s; observed PUBLISH [30 0c 00 03 61 2f 62 68 65 6c 6c 6f] \
                          after 0.01 s\nnote: a long note"
                    .into(),
            },
        );
        assert_eq!(
            reason(&c),
            "observed PUBLISH [30 0c 00 03 61 2f 62 68 …] after 0.01 s — expected the peer \
             closing the connection within 5.00 s (step 3 (expect closed))"
        );
        let long = case(
            "X-02",
            Verdict::Warning {
                message: "y".repeat(1000),
            },
        );
        assert_eq!(reason(&long).chars().count(), MAX_REASON_CHARS + 1);
    }

    #[test]
    fn pipes_newlines_and_markup_cannot_break_the_table() {
        assert_eq!(escape("a|b\nc <b> [x](y)"), "a\\|b<br>c \\<b\\> \\[x\\](y)");
        assert_eq!(code("MQTT-3.1.0-2"), "`MQTT-3.1.0-2`");
        assert_eq!(code("a|b"), "a\\|b");
        let report = RunReport {
            suites: vec![SuiteReport {
                name: "s".into(),
                classname: "s".into(),
                properties: vec![],
                cases: vec![
                    case("A-01", Verdict::Passed),
                    case(
                        "A-02",
                        Verdict::Failed {
                            message: "observed | a pipe\nand a line".into(),
                        },
                    ),
                    case(
                        "A-03",
                        Verdict::Inconclusive {
                            message: "no CONNECT".into(),
                        },
                    ),
                ],
                duration: Duration::ZERO,
            }],
            duration: Duration::from_millis(1500),
        };
        let text = to_markdown(&report, &context());
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(rows.len(), 3, "{text}");
        assert_eq!(rows[1], "|---|---|---|");
        assert_eq!(rows[2], "| `A-02` | title of A-02 | observed \\| a pipe |");
        assert!(text.contains("### Warnings: 0"), "{text}");
        assert!(
            text.contains("### Inconclusive: 1\n\n- `A-03`: no CONNECT"),
            "{text}"
        );
        assert!(text.contains("**1 passed, 1 failed**"), "{text}");
    }

    #[test]
    fn long_lists_fold_and_several_groups_get_a_column() {
        let failures: Vec<CaseReport> = (0..12)
            .map(|i| {
                case(
                    &format!("F-{i:02}"),
                    Verdict::Failed {
                        message: "observed nothing".into(),
                    },
                )
            })
            .collect();
        let group = |name: &str| SuiteReport {
            name: name.into(),
            classname: "s".into(),
            properties: vec![],
            cases: failures.clone(),
            duration: Duration::ZERO,
        };
        let report = RunReport {
            suites: vec![group("dev-1"), group("dev-2")],
            duration: Duration::ZERO,
        };
        let mut ctx = context();
        ctx.mode = "device".into();
        let text = to_markdown(&report, &ctx);
        assert!(
            text.contains(
                "<details><summary>24 failures</summary>\n\n| device | id | title | reason |"
            ),
            "{text}"
        );
        assert!(text.contains("| dev-1 | `F-00` |"), "{text}");
    }
}
