//! The built-in `mqtt-5` suite against a real mosquitto 2.0 broker and against the
//! built-in emulator.
//!
//! Every test of the suite has a row in [`EXPECTED`]: the verdict mosquitto 2.0.11 earns,
//! the `any_of` branch it takes where MQTT 5.0 lets the server choose, and for each failure
//! (a place where mosquitto deviates from MQTT 5.0) the text the report must give. A test
//! added to the suite without a row here fails this file, so the table stays complete.
//!
//! Against the emulator every test passes.

#[path = "support/mosquitto.rs"]
mod mosquitto;
#[path = "support/suite_run.rs"]
mod suite_run;
#[path = "support/verdicts.rs"]
mod verdicts;

use mosquitto::Mosquitto;
use mqtt_conform::runner::transport::TlsOptions;
use mqtt_conform::runner::{RunOptions, Selection, run_suite};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use verdicts::Want::{self, Branch, Fail, KeepAlive, Pass};

/// Every test of the suite and what mosquitto 2.0.11 earns on it.
const EXPECTED: &[(&str, Want)] = &[
    ("MQTT5-CONN-01", Pass),
    ("MQTT5-CONN-02", Branch("close")),
    ("MQTT5-CONN-03", Branch("close")),
    // mosquitto answers an unknown protocol level with the 3.1.1-shaped CONNACK 0x01, the
    // shape a client of unknown version is most likely to read; the suite accepts it.
    ("MQTT5-CONN-04", Branch("3.1.1 CONNACK 0x01")),
    ("MQTT5-CONN-05", Branch("close")),
    ("MQTT5-CONN-06", Branch("close")),
    ("MQTT5-CONN-07", Branch("close")),
    ("MQTT5-CONN-08", Branch("close")),
    ("MQTT5-CONN-09", Branch("close")),
    ("MQTT5-CONN-10", Pass),
    ("MQTT5-CONN-11", Branch("close")),
    ("MQTT5-CONN-12", Branch("close")),
    ("MQTT5-CONN-13", Branch("close")),
    ("MQTT5-CONN-14", Pass),
    // The same refusal, and nothing after the refused CONNECT is processed (no PINGRESP).
    ("MQTT5-CONN-15", Branch("3.1.1 CONNACK 0x01")),
    ("MQTT5-CID-01", Pass),
    ("MQTT5-CID-02", Pass),
    ("MQTT5-CID-03", Pass),
    // Deviation: on a session take-over mosquitto 2.0.11 closes the older connection
    // without first sending it DISCONNECT 0x8E (Session taken over) [MQTT-3.1.4-3].
    (
        "MQTT5-CID-04",
        Fail("observed: connection closed by the peer (EOF)"),
    ),
    ("MQTT5-CID-05", Branch("close")),
    // The judge's server rule over the suite's own connections: mosquitto ends the older
    // of two connections with one client id (the DISCONNECT 0x8E it omits is MQTT5-CID-04's).
    ("MQTT-3.1.4-3", Pass),
    ("MQTT5-CAP-01", Pass),
    ("MQTT5-CAP-02", Pass),
    ("MQTT5-CAP-03", Pass),
    ("MQTT5-CAP-04", Pass),
    ("MQTT5-CAP-05", Pass),
    ("MQTT5-CAP-06", Pass),
    ("MQTT5-CAP-07", Pass),
    ("MQTT5-CAP-08", Pass),
    ("MQTT5-CAP-09", Pass),
    ("MQTT5-CAP-10", Pass),
    ("MQTT5-CAP-11", Pass),
    ("MQTT5-SESS-01", Pass),
    ("MQTT5-SESS-02", Pass),
    ("MQTT5-SESS-03", Pass),
    ("MQTT5-SESS-04", Pass),
    ("MQTT5-SESS-05", Pass),
    ("MQTT5-SESS-06", Pass),
    ("MQTT5-SESS-07", Pass),
    ("MQTT5-SESS-08", Pass),
    ("MQTT5-SESS-09", Pass),
    ("MQTT5-KA-01", KeepAlive),
    ("MQTT5-KA-02", Pass),
    ("MQTT5-PUB-01", Pass),
    ("MQTT5-PUB-02", Pass),
    // mosquitto answers a PUBREL for an unknown packet id with PUBCOMP 0x00, not 0x92.
    ("MQTT5-PUB-03", Branch("PUBCOMP 0x00")),
    ("MQTT5-PUB-04", Pass),
    ("MQTT5-PUB-05", Pass),
    // Deviation: a client PUBLISH carrying a Subscription Identifier is acknowledged
    // (PUBACK 0x10) instead of being treated as a Protocol Error [MQTT-3.3.4-6].
    (
        "MQTT5-PUB-06",
        Fail("observed PUBACK packet_id=1 reason 0x10"),
    ),
    ("MQTT5-PUB-07", Pass),
    ("MQTT5-PUB-08", Pass),
    ("MQTT5-PUB-09", Pass),
    ("MQTT5-PUB-10", Pass),
    ("MQTT5-PUB-11", Pass),
    ("MQTT5-PROP-01", Pass),
    ("MQTT5-PROP-02", Pass),
    ("MQTT5-PROP-03", Pass),
    ("MQTT5-PROP-04", Pass),
    // Deviation: a Response Topic holding `#` is accepted and acknowledged; it must not
    // contain wildcards [MQTT-3.3.2-14].
    (
        "MQTT5-PROP-05",
        Fail("observed PUBACK packet_id=1 reason 0x10"),
    ),
    ("MQTT5-PROP-06", Pass),
    ("MQTT5-PROP-07", Pass),
    ("MQTT5-PROP-08", Pass),
    ("MQTT5-PROP-09", Pass),
    ("MQTT5-EXP-01", Pass),
    ("MQTT5-EXP-02", Pass),
    ("MQTT5-EXP-03", Pass),
    ("MQTT5-EXP-04", Pass),
    ("MQTT5-ALIAS-01", Pass),
    ("MQTT5-ALIAS-02", Pass),
    ("MQTT5-ALIAS-03", Pass),
    ("MQTT5-ALIAS-04", Pass),
    ("MQTT5-ALIAS-05", Pass),
    ("MQTT5-ALIAS-06", Pass),
    ("MQTT5-SUB-01", Pass),
    ("MQTT5-SUB-02", Pass),
    ("MQTT5-SUB-03", Pass),
    ("MQTT5-SUB-04", Pass),
    ("MQTT5-SUB-05", Pass),
    // mosquitto ends the connection with DISCONNECT 0x81 on an invalid filter instead of
    // answering SUBACK 0x8F.
    ("MQTT5-SUB-06", Branch("DISCONNECT")),
    ("MQTT5-SUB-07", Pass),
    ("MQTT5-SUB-08", Pass),
    ("MQTT5-SUB-09", Pass),
    ("MQTT5-SUB-10", Pass),
    ("MQTT5-SUB-11", Pass),
    ("MQTT5-SUB-12", Pass),
    ("MQTT5-SUB-13", Pass),
    // mosquitto sends one copy per matching subscription, each with its own identifier.
    ("MQTT5-SUB-14", Branch("one copy per subscription")),
    ("MQTT5-SUB-15", Pass),
    ("MQTT5-SUB-16", Pass),
    ("MQTT5-SUB-17", Pass),
    ("MQTT5-SUB-18", Pass),
    ("MQTT5-UNSUB-01", Pass),
    ("MQTT5-UNSUB-02", Pass),
    ("MQTT5-UNSUB-03", Pass),
    ("MQTT5-UNSUB-04", Pass),
    // mosquitto supports shared subscriptions.
    ("MQTT5-SHARE-01", Branch("granted")),
    // An invalid ShareName is answered with DISCONNECT 0x81.
    ("MQTT5-SHARE-02", Branch("DISCONNECT")),
    // Deviation: `$share/NAME` with no Topic Filter after the ShareName is granted as if it
    // were an ordinary filter [MQTT-4.8.2-1, MQTT-4.8.2-2].
    (
        "MQTT5-SHARE-03",
        Fail("observed SUBACK packet_id=1 codes [0x00"),
    ),
    // Deviation: No Local on a shared subscription is granted instead of being a Protocol
    // Error [MQTT-3.8.3-4].
    (
        "MQTT5-SHARE-04",
        Fail("observed SUBACK packet_id=1 codes [0x00"),
    ),
    ("MQTT5-SHARE-05", Branch("delivered at QoS 0")),
    ("MQTT5-FLOW-01", Pass),
    ("MQTT5-FLOW-02", Pass),
    ("MQTT5-FLOW-03", Pass),
    ("MQTT5-WILL-01", Pass),
    ("MQTT5-WILL-02", Pass),
    ("MQTT5-WILL-03", Pass),
    ("MQTT5-WILL-04", Pass),
    ("MQTT5-WILL-05", Pass),
    ("MQTT5-WILL-06", Pass),
    ("MQTT5-WILL-07", Pass),
    ("MQTT5-WILL-08", Branch("close")),
    ("MQTT5-REQ-01", Pass),
    ("MQTT5-REQ-02", Pass),
    ("MQTT5-DISC-01", Branch("close")),
    // mosquitto calls Topic Alias 0 malformed (DISCONNECT 0x81) rather than a Protocol Error.
    ("MQTT5-DISC-02", Branch("DISCONNECT")),
    ("MQTT5-DISC-03", Branch("close")),
    ("MQTT5-DISC-04", Pass),
    ("MQTT5-DISC-05", Pass),
    ("MQTT5-TOPIC-01", Pass),
    ("MQTT5-TOPIC-02", Pass),
    ("MQTT5-TOPIC-03", Pass),
    ("MQTT5-RET-01", Pass),
    ("MQTT5-RET-02", Pass),
];

#[test]
fn mqtt5_suite_against_mosquitto() {
    let broker = Mosquitto::start("suite5", "allow_anonymous true");
    let report = suite_run::run_builtin("mqtt-5", &broker.url(), TlsOptions::default(), 64, false);

    let cases = verdicts::check_report(report.cases(), EXPECTED);
    assert!(cases.len() >= 60, "the 5.0 baseline has at least 60 tests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt5_suite_against_the_default_emulator() {
    let suite = Arc::new(mqtt_conform::suite::load("mqtt-5").expect("built-in suite"));
    let params = suite
        .resolve_params(&BTreeMap::new(), true)
        .expect("examples fill every parameter");
    let local = "127.0.0.1:0".parse().expect("an address");
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
    assert!(
        report.cases().count() >= 60,
        "the 5.0 baseline has at least 60 tests"
    );
    let failures: Vec<String> = report
        .cases()
        .filter(|c| c.verdict.is_failure())
        .map(|c| format!("{}: {:?}", c.id, c.verdict))
        .collect();
    assert!(
        failures.is_empty(),
        "mqtt-5 against the emulator: {} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
