//! The built-in suites run in broker mode against the emulator shaped by each suite's own
//! profile: the embedded default (`mqtt-conform --suite NAME` with no target) in a test, over
//! in-memory pipes on a paused clock (the Tuya suite's keep-alive close waits 2.5 × 30 s).

use crate::support::suite_run;

use mqtt_conform::report::Verdict;

/// Runs suite `name` against the emulator built from its profile, parameters (examples),
/// auth scheme and TLS requirement — what `mqtt-conform --suite NAME` does with no target;
/// panics listing every failing case.
async fn assert_passes_against_emulator(name: &str) {
    let report = suite_run::run_on_emulator(name, &[]).await;
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

#[tokio::test(start_paused = true)]
async fn baseline_suite_passes_against_the_default_emulator() {
    assert_passes_against_emulator("mqtt-3.1.1").await;
}

#[tokio::test(start_paused = true)]
async fn tuya_suite_passes_against_the_tuya_emulator() {
    assert_passes_against_emulator("tuya").await;
}

/// The Tuya keep-alive close (2.5 × Keep Alive 30 s) passes on the paused clock, measured at
/// exactly 75 s, without 75 s of waiting.
#[tokio::test(start_paused = true)]
async fn the_tuya_keep_alive_close_is_measured_without_waiting_for_it() {
    let wall = std::time::Instant::now();
    let report = suite_run::run_on_emulator("tuya", &["TUYA-KA-02-TIMEOUT"]).await;
    let case = report
        .cases()
        .find(|c| c.id == "TUYA-KA-02-TIMEOUT")
        .expect("TUYA-KA-02-TIMEOUT ran");
    assert_eq!(case.verdict, Verdict::Passed, "{:?}", case.trace);
    assert_eq!(
        suite_run::closed_after(case),
        Some(75.0),
        "{:?}",
        case.trace
    );
    assert!(
        wall.elapsed() < std::time::Duration::from_secs(20),
        "took {:?} of wall time",
        wall.elapsed()
    );
}

/// A baseline test on a platform that lacks what some of its steps need (Tuya: no loopback,
/// no second client, a fixed client id, no QoS 2) runs without those steps and says in its
/// report what went unchecked and why; on the default emulator it runs whole.
#[tokio::test(start_paused = true)]
async fn steps_a_platform_cannot_serve_are_left_out_and_reported() {
    let ids = ["MQTT311-PUB-10", "MQTT311-CID-01", "MQTT311-PKT-04"];
    let tuya = suite_run::run_on_emulator("tuya", &ids).await;
    let expected = [
        (
            "MQTT311-PUB-10",
            "not checked: that both messages are delivered",
            "no loopback: the cloud does not deliver a device's uplinks back to it",
        ),
        (
            "MQTT311-CID-01",
            "not checked: a client id of the client's choosing",
            "no chosen_client_id: the client id is tuyalink_ + DeviceID",
        ),
        (
            "MQTT311-PKT-04",
            "not checked: the PUBREL inside a QoS 2 flow",
            "no qos2: the platform grants at most QoS 1",
        ),
    ];
    for (id, what, why) in expected {
        let case = tuya.cases().find(|c| c.id == id).expect("the test ran");
        assert_eq!(case.verdict, Verdict::Passed, "{id}: {:?}", case.trace);
        let measured = case.measured.as_deref().unwrap_or_default();
        assert!(
            measured.contains(what) && measured.contains(why),
            "{id}: {measured}"
        );
        assert!(
            case.trace
                .iter()
                .any(|l| l.text.contains("left out: it needs")),
            "{id}: {:?}",
            case.trace
        );
    }
    let baseline = suite_run::run_on_emulator("mqtt-3.1.1", &ids).await;
    for id in ids {
        let case = baseline.cases().find(|c| c.id == id).expect("the test ran");
        assert_eq!(case.verdict, Verdict::Passed, "{id}: {:?}", case.trace);
        assert!(
            !case
                .measured
                .as_deref()
                .unwrap_or_default()
                .contains("not checked")
                && !case.trace.iter().any(|l| l.text.contains("left out")),
            "{id}: {:?} {:?}",
            case.measured,
            case.trace
        );
    }
}
