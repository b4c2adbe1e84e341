//! The built-in suites run in broker mode against the emulator shaped by each suite's own
//! profile: the embedded default (`mqtt-conform --suite NAME` with no target) in a test.

use mqtt_conform::runner::{RunOptions, Selection, run_suite};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Runs suite `name` against the emulator built from its profile, parameters (examples),
/// auth scheme and TLS requirement — exactly what `mqtt-conform --suite NAME` does with no
/// target; panics listing every failing case.
async fn assert_passes_against_emulator(name: &str) {
    let suite = Arc::new(mqtt_conform::suite::load(name).expect("built-in suite"));
    let params = suite
        .resolve_params(&BTreeMap::new(), true)
        .expect("examples fill every parameter");
    let local = "127.0.0.1:0".parse().unwrap();
    let emulator = mqtt_conform::emulator::start(&suite, &params, local, false)
        .await
        .expect("emulator starts");
    let opts = RunOptions {
        target: emulator.target.clone(),
        tls: emulator.tls.clone(),
        jobs: 64,
        selection: Selection::default(),
        connect_timeout: Duration::from_secs(5),
        max_packet_size: 16 << 20,
        capture: None,
    };
    let report = run_suite(suite, &params, &opts, &mut |_| {})
        .await
        .expect("run starts");
    let failures: Vec<String> = report
        .cases()
        .filter(|c| c.verdict.is_failure())
        .map(|c| format!("{}: {:?}", c.id, c.verdict))
        .collect();
    assert!(report.cases().count() > 0, "{name}: no test ran");
    assert!(
        failures.is_empty(),
        "{name}: {} of {} tests fail against the emulator:\n{}",
        failures.len(),
        report.cases().count(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baseline_suite_passes_against_the_default_emulator() {
    assert_passes_against_emulator("mqtt-3.1.1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tuya_suite_passes_against_the_tuya_emulator() {
    assert_passes_against_emulator("tuya").await;
}
