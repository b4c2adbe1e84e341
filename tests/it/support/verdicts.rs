//! The verdicts a built-in suite must earn against a real broker, test by test: [`Want`], the
//! rows of a test file's `EXPECTED` table; [`check_case`], which asserts one row; and
//! [`check_report`], which holds a whole run against its table.
//!
//! The keep-alive kinds read the runner's measurement through `suite_run::closed_after`, so a
//! test file that includes this module includes `support/suite_run.rs` as `mod suite_run`.

#![allow(dead_code)]

use super::suite_run::closed_after;
use mqtt_conform::report::{CaseReport, Verdict};
use std::collections::{BTreeMap, BTreeSet};

/// What the broker must earn on one test.
#[derive(Debug, Clone, Copy)]
pub enum Want {
    /// Passed; the `any_of` branch taken, if any, is not looked at.
    Pass,
    /// Passed, through the `any_of` branch whose label starts with this.
    Branch(&'static str),
    /// Recorded (a status NP test): the branch taken (the reaction seen) starts with this, and
    /// the message holds it.
    Recorded(&'static str),
    /// Recorded, and the message holds this; the branch is not looked at. For recorded tests
    /// without an `any_of` branch (a window or a server rule), and for tables that pin only the
    /// message.
    Noted(&'static str),
    /// A warning (a secondary-source, SDK or inferred rule was missed), and the message holds
    /// this.
    Warn(&'static str),
    /// Failed, and the message holds this.
    Fail(&'static str),
    /// Inconclusive (the broker did something the specification allows that leaves the
    /// test's statement unobservable), and the message holds this.
    Inconclusive(&'static str),
    /// The baseline keep-alive test against mosquitto (MQTT311-KA-01, MQTT5-KA-01: Keep Alive
    /// 2 s, the suite's window 1 × KA – 1.5 × KA + 1 s from the client's last packet), judged
    /// on the measured close rather than a fixed verdict.
    ///
    /// mosquitto 2.0 does not time keep-alive per connection: a periodic sweep, at most about
    /// 6 s apart, closes the connections whose last packet is more than 1.5 × KA old (counted
    /// in whole seconds), so a silent client is closed anywhere in (1.5 × KA, 1.5 × KA + ~7 s]
    /// and the sweep's phase, not the harness, decides whether that is inside the window.
    /// Asserted: a close was measured (the runner watches past a missed window for a grace
    /// period, at least 10 s, so it always is), it lies in [1.5 × KA − 0.05 s, 1.5 × KA + 7.5 s]
    /// = [2.95 s, 10.5 s], and the verdict is Passed exactly when it is at most
    /// 1.5 × KA + 1 s = 4 s.
    KeepAlive,
    /// TUYA-KA-02-TIMEOUT against mosquitto (Keep Alive 30 s; Tuya's window 2 × KA –
    /// 2.5 × KA + 30 s = 60 s – 105 s from CONNECT): failed as too early, judged on the
    /// measured close.
    ///
    /// mosquitto's sweep (see [`Want::KeepAlive`]) closes a silent client once its last packet
    /// is more than 1.5 × KA = 45 s old, before the window opens. Asserted: a close was
    /// measured, it lies in [1.5 × KA − 0.05 s, 1.5 × KA + 7.5 s] = [44.95 s, 52.5 s], and the
    /// verdict is Failed with a message holding `observed closed too early, after X s` (X the
    /// measured time, two decimals) and `within 60.00 s–105.00 s`.
    KeepAliveTooEarly,
    /// A keep-alive close that mosquitto's sweep may bring late: Passed, or Failed or a
    /// Warning whose message holds `too late, after` (a close after the window) or `closed a
    /// silent client after` (the judge's server rule). No time is asserted: the sweep may
    /// close up to about a second after 1.5 × KA + 1 s at the Keep Alive these tests use, and
    /// the message then names the measured time.
    Late,
    /// A race in the broker decides the verdict (e.g. amqtt publishing a Will after a clean
    /// DISCONNECT in some runs): Passed, or Failed with a message holding this. The row's
    /// comment names the race; any other failure still fails the table.
    Racy(&'static str),
}

/// Keep Alive, in seconds, of the tests judged by [`Want::KeepAlive`].
const BASELINE_KEEPALIVE: f64 = 2.0;
/// Keep Alive, in seconds, of TUYA-KA-02-TIMEOUT, judged by [`Want::KeepAliveTooEarly`].
const TUYA_KEEPALIVE: f64 = 30.0;
/// How long after 1.5 × Keep Alive mosquitto's sweep may close a silent client, in seconds.
const SWEEP_SLACK: f64 = 7.5;

/// Holds a run against its `EXPECTED` table: no row twice, a row for every test that ran, a
/// test run for every row, and every test's verdict as its row wants ([`check_case`]).
/// Returns the run's cases by id.
pub fn check_report<'a>(
    ran: impl IntoIterator<Item = &'a CaseReport>,
    expected: &[(&str, Want)],
) -> BTreeMap<&'a str, &'a CaseReport> {
    let ran: Vec<&CaseReport> = ran.into_iter().collect();
    let cases: BTreeMap<&str, &CaseReport> = ran.iter().map(|c| (c.id.as_str(), *c)).collect();
    let table: BTreeMap<&str, Want> = expected.iter().copied().collect();
    assert_eq!(table.len(), expected.len(), "a duplicate row in EXPECTED");
    let ran_ids: BTreeSet<&str> = cases.keys().copied().collect();
    let listed: BTreeSet<&str> = table.keys().copied().collect();
    let unlisted: Vec<&str> = ran_ids.difference(&listed).copied().collect();
    let not_run: Vec<&str> = listed.difference(&ran_ids).copied().collect();
    if !unlisted.is_empty() || !not_run.is_empty() {
        let rows: Vec<String> = ran.iter().map(|c| describe(c)).collect();
        panic!(
            "tests of the suite without a row in EXPECTED: {unlisted:?}\n\
             rows of EXPECTED the suite did not run: {not_run:?}\n\
             the run, as rows:\n{}",
            rows.join("\n")
        );
    }
    for (id, want) in &table {
        check_case(cases[*id], *want);
    }
    cases
}

/// Asserts that `case` earned what `want` says (see each [`Want`] for exactly what).
pub fn check_case(case: &CaseReport, want: Want) {
    let id = &case.id;
    let branch = case.branch.as_deref().unwrap_or("");
    match want {
        Want::Pass => passed(case),
        Want::Branch(label) => {
            passed(case);
            assert!(
                branch.starts_with(label),
                "{id}: expected branch `{label}`, got `{branch}`"
            );
        }
        Want::Recorded(label) => {
            let message = message(case, want);
            assert!(
                branch.starts_with(label),
                "{id}: expected the reaction `{label}` recorded, got branch `{branch}` ({message})"
            );
            holds(id, message, label);
        }
        Want::Noted(text) | Want::Warn(text) | Want::Fail(text) | Want::Inconclusive(text) => {
            holds(id, message(case, want), text)
        }
        Want::KeepAlive => keepalive_in_window(case),
        Want::KeepAliveTooEarly => keepalive_too_early(case),
        Want::Late => late_close(case),
        Want::Racy(text) => match &case.verdict {
            Verdict::Passed => {}
            Verdict::Failed { message } => holds(id, message, text),
            other => panic!(
                "{id}: expected to pass, or to fail with `{text}`; got {other:?}; trace: {:#?}",
                case.trace
            ),
        },
    }
}

/// How a case would be written in `EXPECTED` (printed when the table and the run differ).
pub fn describe(case: &CaseReport) -> String {
    let branch = case.branch.clone().unwrap_or_default();
    match &case.verdict {
        Verdict::Passed if branch.is_empty() => format!("(\"{}\", Pass),", case.id),
        Verdict::Passed => format!("(\"{}\", Branch({branch:?})),", case.id),
        Verdict::Recorded { .. } => format!("(\"{}\", Recorded({branch:?})),", case.id),
        Verdict::Failed { message } => format!("(\"{}\", Fail({message:?})),", case.id),
        Verdict::Warning { message } => format!("(\"{}\", Warn({message:?})),", case.id),
        Verdict::Inconclusive { message } => {
            format!("(\"{}\", Inconclusive({message:?})),", case.id)
        }
        other => format!("(\"{}\", ?{other:?}),", case.id),
    }
}

fn passed(case: &CaseReport) {
    assert_eq!(
        case.verdict,
        Verdict::Passed,
        "{}: expected to pass; trace: {:#?}",
        case.id,
        case.trace
    );
}

/// The message of `case`'s verdict, which must be the kind `want` names.
fn message(case: &CaseReport, want: Want) -> &str {
    match (want, &case.verdict) {
        (Want::Recorded(_) | Want::Noted(_), Verdict::Recorded { message })
        | (Want::Warn(_), Verdict::Warning { message })
        | (Want::Fail(_), Verdict::Failed { message })
        | (Want::Inconclusive(_), Verdict::Inconclusive { message }) => message,
        (want, got) => panic!(
            "{}: expected {want:?}, got {got:?}; trace: {:#?}",
            case.id, case.trace
        ),
    }
}

fn holds(id: &str, message: &str, text: &str) {
    assert!(
        message.contains(text),
        "{id}: the message lacks `{text}`: {message}"
    );
}

/// The measured close of a keep-alive test against mosquitto, asserted to come from its sweep:
/// within [1.5 × KA, 1.5 × KA + 7.5 s] (less 0.05 s for the measurement's rounding).
fn sweep_close(case: &CaseReport, keepalive: f64) -> f64 {
    let id = &case.id;
    let Some(x) = closed_after(case) else {
        panic!(
            "{id}: no close measured: {:?}; trace: {:#?}",
            case.verdict, case.trace
        );
    };
    eprintln!(
        "{id}: mosquitto closed after {x:.2} s (Keep Alive {keepalive:.0} s; 1.5 × KA = {:.2} s; {})",
        1.5 * keepalive,
        case.verdict.label()
    );
    assert!(
        (1.5 * keepalive - 0.05..=1.5 * keepalive + SWEEP_SLACK).contains(&x),
        "{id}: closed after {x:.2} s, outside [1.5 × KA, 1.5 × KA + 7.5 s]"
    );
    x
}

fn keepalive_in_window(case: &CaseReport) {
    let limit = 1.5 * BASELINE_KEEPALIVE + 1.0;
    let x = sweep_close(case, BASELINE_KEEPALIVE);
    // The trace gives the close to 10 ms; the verdict was judged on the exact time.
    if (x - limit).abs() < 0.01 {
        return;
    }
    assert_eq!(
        case.verdict == Verdict::Passed,
        x <= limit,
        "{}: verdict {:?} inconsistent with the close measured at {x:.2} s (window ends {limit:.2} s)",
        case.id,
        case.verdict
    );
}

fn keepalive_too_early(case: &CaseReport) {
    let id = &case.id;
    let x = sweep_close(case, TUYA_KEEPALIVE);
    let Verdict::Failed { message } = &case.verdict else {
        panic!(
            "{id}: expected a failure (closed too early), got {:?}",
            case.verdict
        );
    };
    let measured = format!("observed closed too early, after {x:.2} s");
    assert!(
        message.contains(&measured),
        "{id}: the message lacks `{measured}`: {message}"
    );
    assert!(
        message.contains("within 60.00 s–105.00 s"),
        "{id}: the message lacks the window: {message}"
    );
}

fn late_close(case: &CaseReport) {
    let id = &case.id;
    match &case.verdict {
        Verdict::Passed => {}
        Verdict::Failed { message } | Verdict::Warning { message } => assert!(
            message.contains("too late, after") || message.contains("closed a silent client after"),
            "{id}: not a late close: {message}"
        ),
        other => panic!("{id}: expected a pass or a late close, got {other:?}"),
    }
}
