//! Runs a built-in suite through the library against a live target, and reads the timing
//! notes the runner leaves in a case's trace.

#![allow(dead_code)]

use mqtt_conform::report::{CaseReport, RunReport};
use mqtt_conform::runner::transport::{Target, TlsOptions};
use mqtt_conform::runner::{RunOptions, Selection, run_suite};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Runs built-in suite `name` against `url`; `examples` fills parameters from their
/// examples (the identity the emulator provisions).
pub fn run_builtin(
    name: &str,
    url: &str,
    tls: TlsOptions,
    jobs: usize,
    examples: bool,
) -> RunReport {
    run_builtin_selected(name, url, tls, jobs, examples, Selection::default())
}

/// [`run_builtin`] of the tests `selection` selects.
pub fn run_builtin_selected(
    name: &str,
    url: &str,
    tls: TlsOptions,
    jobs: usize,
    examples: bool,
    selection: Selection,
) -> RunReport {
    let suite = mqtt_conform::suite::load(name).expect("the built-in suite loads");
    let params = suite
        .resolve_params(&BTreeMap::new(), examples)
        .expect("every parameter has a value");
    let opts = RunOptions {
        target: Target::parse(url, suite.port).expect("a valid target"),
        tls,
        jobs,
        selection,
        connect_timeout: Duration::from_secs(5),
        max_packet_size: 16 * 1024 * 1024,
        capture: None,
        progress: None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime
        .block_on(run_suite(Arc::new(suite), &params, &opts, &mut |_| {}))
        .expect("the target is reachable")
}

/// Runs built-in suite `name` against `url`, only the tests whose id contains one of
/// `filters`, with parameters `params` (as `--param` gives them).
pub fn run_selected(name: &str, url: &str, filters: &[&str], params: &[(&str, &str)]) -> RunReport {
    let suite = mqtt_conform::suite::load(name).expect("the built-in suite loads");
    let cli: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let params = suite
        .resolve_params(&cli, false)
        .expect("every parameter has a value");
    let opts = RunOptions {
        target: Target::parse(url, suite.port).expect("a valid target"),
        tls: TlsOptions::default(),
        jobs: 64,
        selection: Selection {
            filters: filters.iter().map(|f| (*f).to_owned()).collect(),
            ..Selection::default()
        },
        connect_timeout: Duration::from_secs(5),
        max_packet_size: 16 * 1024 * 1024,
        capture: None,
        progress: None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime
        .block_on(run_suite(Arc::new(suite), &params, &opts, &mut |_| {}))
        .expect("the target is reachable")
}

/// Runs suite `name` (built-in or a path), tests selected by `filters` (substrings; all
/// when empty), against the emulator built from it with its example parameters. Runner and
/// emulator talk over in-memory pipes in the caller's runtime: under
/// `#[tokio::test(start_paused = true)]` the suite's keep-alive closes and other long timers
/// take no wall time, and every measured duration is exact.
pub async fn run_on_emulator(name: &str, filters: &[&str]) -> RunReport {
    let suite = Arc::new(mqtt_conform::suite::load(name).expect("the suite loads"));
    let params = suite
        .resolve_params(&BTreeMap::new(), true)
        .expect("examples fill every parameter");
    let emulator =
        mqtt_conform::emulator::start(&suite, &params, "127.0.0.1:0".parse().unwrap(), false)
            .await
            .expect("the emulator starts");
    emulator
        .run_in_memory(|target| async {
            let opts = RunOptions {
                target,
                tls: emulator.tls.clone(),
                jobs: 64,
                selection: Selection {
                    filters: filters.iter().map(|f| (*f).to_owned()).collect(),
                    ..Selection::default()
                },
                connect_timeout: Duration::from_secs(5),
                max_packet_size: 16 * 1024 * 1024,
                capture: None,
                progress: None,
            };
            run_suite(suite, &params, &opts, &mut |_| {})
                .await
                .expect("the run starts")
        })
        .await
}

/// The `closed after X s` measurement the runner notes in a test's trace.
pub fn closed_after(case: &CaseReport) -> Option<f64> {
    case.trace.iter().find_map(|line| {
        let rest = line.text.strip_prefix("closed after ")?;
        rest.split(" s;").next()?.trim().parse().ok()
    })
}

/// Asserts that `run` gives every test the verdict `baseline` gives it, but for the
/// keep-alive timing tests (their windows depend on the phase of the broker's keep-alive
/// sweep, so two runs may legitimately differ there; they are asserted elsewhere). `what`
/// names `run`'s transport in the failure. Returns how many tests were compared.
pub fn assert_same_verdicts_but_timing(run: &RunReport, baseline: &RunReport, what: &str) -> usize {
    let baseline_cases: BTreeMap<&str, &CaseReport> =
        baseline.cases().map(|c| (c.id.as_str(), c)).collect();
    let timing = |c: &CaseReport| c.trace.iter().any(|t| t.text.contains("with keepalive"));
    let mut compared = 0;
    let shared = |c: &&CaseReport| baseline_cases.contains_key(c.id.as_str()) || !run_only(c);
    let run_only_count = run.cases().filter(|c| !shared(c)).count();
    for case in run.cases().filter(|c| shared(c)) {
        let other = baseline_cases
            .get(case.id.as_str())
            .expect("same tests in both runs");
        if timing(case) || timing(other) {
            continue;
        }
        assert_eq!(
            case.verdict.label(),
            other.verdict.label(),
            "{}: {what} {:?} vs TCP {:?}",
            case.id,
            case.verdict,
            other.verdict
        );
        compared += 1;
    }
    assert_eq!(
        run.cases().count() - run_only_count,
        baseline.cases().count()
    );
    compared
}

/// A case only a WebSocket run has: the suites' `transport: websocket` tests (ids
/// `…-WS-NN`), which a TCP run does not report.
fn run_only(case: &CaseReport) -> bool {
    case.id.contains("-WS-")
}
