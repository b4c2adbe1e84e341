//! Reports: what a run found, for people (console) and for machines (JUnit, JSON); and
//! what a live run saw, as a capture ([`pcapng`]).
//!
//! Every source (broker runner, device server, pcap reader) produces a [`RunReport`]; the
//! renderers know nothing about where it came from.

use serde::Serialize;
use std::time::Duration;

/// How a test or rule came out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Verdict {
    /// Everything held.
    Passed,
    /// A documented rule was broken (gates CI).
    Failed {
        /// What was expected and what was observed, with windows and measured times.
        message: String,
    },
    /// An inferred or secondary-source rule was broken: reported, never gating CI.
    Warning {
        /// What was expected and what was observed.
        message: String,
    },
    /// The behaviour is not pinned down by the platform: what was seen is recorded.
    Recorded {
        /// What was observed.
        message: String,
    },
    /// Could not be judged (e.g. a capture without the CONNECT, a TLS flow without keys).
    Inconclusive {
        /// Why.
        message: String,
    },
    /// Not run (filtered out, or skipped by the suite).
    Skipped {
        /// Why.
        reason: String,
    },
    /// The harness itself failed (I/O error, deadline) — not a verdict on the target.
    Error {
        /// What went wrong.
        message: String,
    },
}

impl Verdict {
    /// True for verdicts that make the run fail (exit code 1).
    pub fn is_failure(&self) -> bool {
        matches!(self, Self::Failed { .. } | Self::Error { .. })
    }

    /// A short lower-case label: `ok`, `FAILED`, `warning`, …
    pub fn label(&self) -> &'static str {
        match self {
            Self::Passed => "ok",
            Self::Failed { .. } => "FAILED",
            Self::Warning { .. } => "warning",
            Self::Recorded { .. } => "recorded",
            Self::Inconclusive { .. } => "inconclusive",
            Self::Skipped { .. } => "skipped",
            Self::Error { .. } => "ERROR",
        }
    }

    /// The status as the JSON report names it: `passed`, `failed`, `warning`, …
    pub fn status(&self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed { .. } => "failed",
            Self::Warning { .. } => "warning",
            Self::Recorded { .. } => "recorded",
            Self::Inconclusive { .. } => "inconclusive",
            Self::Skipped { .. } => "skipped",
            Self::Error { .. } => "error",
        }
    }

    /// The message of a non-passing verdict.
    pub fn message(&self) -> Option<&str> {
        match self {
            Self::Passed => None,
            Self::Failed { message }
            | Self::Warning { message }
            | Self::Recorded { message }
            | Self::Inconclusive { message }
            | Self::Error { message } => Some(message),
            Self::Skipped { reason } => Some(reason),
        }
    }
}

/// One line of a conversation trace, already rendered (secrets redacted by the producer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceLine {
    /// Time since the test (or connection) started.
    #[serde(serialize_with = "serialize_secs")]
    pub at: Duration,
    /// The connection's name (e.g. `a`, or `10.0.0.2:51515 → 10.0.0.1:1883`).
    pub conn: String,
    /// `→` for what we (or the client) sent, `←` for what we (or the client) received;
    /// empty for connection events.
    pub direction: String,
    /// The event: a packet summary with its hex, a close, a note.
    pub text: String,
}

/// The outcome of one test or rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseReport {
    /// The stable ID (e.g. `MQTT311-CONN-01`, `TUYA-KA-02`).
    pub id: String,
    /// A one-line title.
    pub title: String,
    /// The normative statements or vendor sources it cites.
    pub cites: Vec<String>,
    /// The verdict.
    pub verdict: Verdict,
    /// For tests with alternatives (`any_of`): the branch that matched.
    pub branch: Option<String>,
    /// What was measured (times against their windows), and what went unchecked on this
    /// platform and why (`not checked: …`), shown with any verdict — a
    /// passing timing test says how close it came.
    pub measured: Option<String>,
    /// Wall time the case took.
    #[serde(serialize_with = "serialize_secs")]
    pub duration: Duration,
    /// The conversation, for the JUnit `<system-out>` and the JSON report.
    pub trace: Vec<TraceLine>,
    /// What was timed, as data on the trace's clock (for the HTML report's diagrams):
    /// the window, the measured event, the offending trace line. Absent when nothing was
    /// timed and nothing singled out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timing: Option<Timing>,
}

/// What a verdict timed, on the clock of the case's trace lines (`TraceLine::at`).
///
/// Every field is optional: a window without a measured event (nothing arrived), a
/// measured event without a window, or only the offending trace line (a rule broken by
/// one packet).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Timing {
    /// The connection the window watched, as its trace lines name it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conn: Option<String>,
    /// What the window's time counts from (a step's start, the last packet sent, the
    /// close).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_opt_secs"
    )]
    pub anchor: Option<Duration>,
    /// The window's lower bound (absent: it opens at the anchor).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_opt_secs"
    )]
    pub from: Option<Duration>,
    /// The window's upper bound (absent: open-ended).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_opt_secs"
    )]
    pub to: Option<Duration>,
    /// When the measured event happened.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_opt_secs"
    )]
    pub measured: Option<Duration>,
    /// What was measured (`closed`, `reply`, `silence` …).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub what: String,
    /// The index in the case's trace of the line that broke the expectation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offending: Option<usize>,
}

impl Timing {
    /// The index of the first line of `trace` on `conn` (any, when `None`) at exactly
    /// `at`, preferring a packet (a line with a direction) over a note.
    pub fn line_at(trace: &[TraceLine], conn: Option<&str>, at: Duration) -> Option<usize> {
        let on = |l: &TraceLine| l.at == at && conn.is_none_or(|c| l.conn == c);
        trace
            .iter()
            .position(|l| on(l) && !l.direction.is_empty())
            .or_else(|| trace.iter().position(on))
    }
}

/// A group of cases: one suite run against one target, or one device / connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SuiteReport {
    /// The group's name (suite name, device client id, or connection addresses).
    pub name: String,
    /// The JUnit classname of its cases (the suite's name).
    pub classname: String,
    /// Free-form properties shown in reports (target, protocol, …; never secrets).
    pub properties: Vec<(String, String)>,
    /// The cases, in suite order.
    pub cases: Vec<CaseReport>,
    /// Wall time of the group.
    #[serde(serialize_with = "serialize_secs")]
    pub duration: Duration,
}

/// Everything a run produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// Groups of cases.
    pub suites: Vec<SuiteReport>,
    /// Wall time of the run.
    #[serde(serialize_with = "serialize_secs")]
    pub duration: Duration,
}

impl RunReport {
    /// True when any case failed or errored.
    pub fn failed(&self) -> bool {
        self.cases().any(|c| c.verdict.is_failure())
    }

    /// Every case of every group.
    pub fn cases(&self) -> impl Iterator<Item = &CaseReport> {
        self.suites.iter().flat_map(|s| s.cases.iter())
    }

    /// The report with `redact` applied to every text that may quote what a peer sent
    /// (group names, messages, measurements, branches, trace lines) — field by field, so
    /// the rendered JSON and XML around them are never touched.
    pub fn redacted(&self, redact: impl Fn(&str) -> String) -> RunReport {
        let mut out = self.clone();
        for group in &mut out.suites {
            group.name = redact(&group.name);
            for case in &mut group.cases {
                match &mut case.verdict {
                    Verdict::Passed => {}
                    Verdict::Failed { message }
                    | Verdict::Warning { message }
                    | Verdict::Recorded { message }
                    | Verdict::Inconclusive { message }
                    | Verdict::Error { message }
                    | Verdict::Skipped { reason: message } => *message = redact(message),
                }
                for text in case.measured.iter_mut().chain(case.branch.iter_mut()) {
                    *text = redact(text);
                }
                for line in &mut case.trace {
                    line.text = redact(&line.text);
                }
                if let Some(timing) = &mut case.timing {
                    timing.what = redact(&timing.what);
                }
            }
        }
        out
    }
}

fn serialize_opt_secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => serialize_secs(d, s),
        None => s.serialize_none(),
    }
}

fn serialize_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

pub mod console;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod pcapng;
pub mod reason;
mod status;
