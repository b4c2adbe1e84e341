//! The IBM Watson IoT Platform suite (`suites/watson.yaml`, and its Quickstart variant, the
//! built-in `watson-quickstart`) in every mode, for the device, the gateway (`g:`) and the
//! application (`a:`) the suite provisions:
//!
//! - broker mode against the built-in emulator (all pass) and against a mosquitto configured
//!   as close to Watson as mosquitto allows (every verdict in [`EXPECTED`]);
//! - device mode with real clients (mosquitto_pub, mosquitto_sub, rumqttc) against
//!   `mqtt-conform --suite watson --listen` (TLS, as registered devices use 8883): conforming
//!   clients pass, each violation is flagged with exactly its rule id;
//! - capture mode on a `--capture` of device-mode sessions, giving the live verdicts.

use crate::support::capture_cli;
use crate::support::cloud;
use crate::support::mosquitto;
use crate::support::pki;
use crate::support::suite_run;
use crate::support::verdicts;

use capture_cli::{judge_capture, rank};
use cloud::{Cloud, temp_dir};
use mosquitto::Mosquitto;
use mqtt_conform::report::{CaseReport, Verdict};
use mqtt_conform::runner::transport::TlsOptions;
use mqtt_conform::runner::{RunOptions, Selection, run_suite};
use rustls::pki_types::pem::PemObject;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use verdicts::Want::{self, Branch, Fail, Late, Pass, Recorded, Warn};

/// The suite's example identity (what the emulator provisions).
const ORG: &str = "abc123";
const DEVICE_TYPE: &str = "sensor";
const DEVICE_ID: &str = "dev-01";
const TOKEN: &str = "Wiotp-Example.Token_0042";
const USERNAME: &str = "use-token-auth";
const EVENT: &str = "iot-2/evt/status/fmt/json";
const EVENT_BODY: &str = r#"{"d":{"temp":21.5}}"#;

/// The suite's example gateway and application (`auth.identities`).
const GATEWAY_TYPE: &str = "edge-gw";
const GATEWAY_ID: &str = "gw-01";
const GATEWAY_TOKEN: &str = "Wiotp-Gateway.Token_0077";
const APP_ID: &str = "monitor-01";
const API_KEY: &str = "a-abc123-k3yexample9";
const API_TOKEN: &str = "Wiotp-Api.Token_0099";
/// A gateway's event on behalf of itself (WIOTP-TOPIC-03), outside the device catalogue.
const GATEWAY_EVENT: &str = "iot-2/type/edge-gw/id/gw-01/evt/status/fmt/json";
/// An application's command to the device, outside the device catalogue.
const APP_COMMAND: &str = "iot-2/type/sensor/id/dev-01/cmd/reboot/fmt/json";

fn client_id() -> String {
    format!("d:{ORG}:{DEVICE_TYPE}:{DEVICE_ID}")
}

fn gateway_id() -> String {
    format!("g:{ORG}:{GATEWAY_TYPE}:{GATEWAY_ID}")
}

fn app_client_id() -> String {
    format!("a:{ORG}:{APP_ID}")
}

const QUICKSTART: &str = "watson-quickstart";

fn quickstart_suite() -> String {
    QUICKSTART.to_owned()
}

// ------------------------------------------------------------------ broker mode, emulator

/// A device-only organisation: without the optional gateway and application parameters the
/// run starts, the tests that need them are skipped saying how to set them, and the rest
/// still passes (the emulator, provisioned from the examples, knows all three identities).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_gateway_and_application_parameters_their_tests_are_skipped() {
    let suite = Arc::new(mqtt_conform::suite::load("watson").expect("suite loads"));
    let full = suite
        .resolve_params(&BTreeMap::new(), true)
        .expect("examples fill every parameter");
    let mut device_only = full.clone();
    for name in [
        "gateway_type",
        "gateway_id",
        "gateway_token",
        "app_id",
        "api_key",
        "api_token",
    ] {
        assert!(suite.params[name].def.optional, "{name} is optional");
        device_only.values.remove(name);
    }
    let emulator =
        mqtt_conform::emulator::start(&suite, &full, "127.0.0.1:0".parse().unwrap(), false)
            .await
            .expect("emulator starts");
    let opts = RunOptions {
        target: emulator.target.clone(),
        tls: emulator.tls.clone(),
        jobs: 64,
        selection: Selection {
            filters: vec!["WIOTP-AUTH".into(), "WIOTP-CONNECT-00".into()],
            ..Selection::default()
        },
        connect_timeout: Duration::from_secs(5),
        max_packet_size: 16 << 20,
        capture: None,
        progress: None,
    };
    let report = run_suite(suite, &device_only, &opts, &mut |_| {})
        .await
        .expect("run starts without the optional parameters");
    assert_no_failure(&report);
    let verdict = |id: &str| {
        report
            .cases()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("{id} is reported"))
            .verdict
            .clone()
    };
    for id in ["WIOTP-AUTH-03-GATEWAY", "WIOTP-AUTH-04-APPLICATION"] {
        match verdict(id) {
            Verdict::Skipped { reason } => assert!(
                reason.starts_with("needs the parameter `") && reason.contains("WIOTP_"),
                "{id}: {reason}"
            ),
            other => panic!("{id}: expected skipped, got {other:?}"),
        }
    }
    assert_eq!(verdict("WIOTP-CONNECT-00"), Verdict::Passed);
    assert_eq!(verdict("WIOTP-AUTH-03-WRONG-TOKEN"), Verdict::Passed);
}

fn assert_no_failure(report: &mqtt_conform::report::RunReport) {
    let failures: Vec<String> = report
        .cases()
        .filter(|c| c.verdict.is_failure())
        .map(|c| format!("{}: {:?}", c.id, c.verdict))
        .collect();
    assert!(report.cases().count() > 0, "no test ran");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(start_paused = true)]
async fn watson_suite_passes_against_the_watson_emulator() {
    let report = suite_run::run_on_emulator("watson", &[]).await;
    assert_no_failure(&report);
    let ids: BTreeSet<&str> = report.cases().map(|c| c.id.as_str()).collect();
    for id in [
        "WIOTP-SIZE-01-MAX",
        "WIOTP-SIZE-01-OVER",
        "WIOTP-RET-01-STRIPPED",
        "WIOTP-AUTH-01-BAD-FORM",
        "WIOTP-SESS-01-TAKEOVER",
        "WIOTP-AUTH-03-GATEWAY",
        "WIOTP-AUTH-03-GATEWAY-WRONG-TOKEN",
        "WIOTP-AUTH-03-GATEWAY-DEVICE-TOKEN",
        "WIOTP-AUTH-04-APPLICATION",
        "WIOTP-AUTH-04-WRONG-TOKEN",
        "WIOTP-AUTH-04-ORG-MISMATCH",
        "WIOTP-AUTH-04-TOKEN-USERNAME",
        "WIOTP-AUTH-01-APPLICATION-BAD-FORM",
        "WIOTP-SESS-01-PER-CLIENT-ID",
    ] {
        assert!(ids.contains(id), "{id} ran: {ids:?}");
    }
    // The emulator refuses each bad login with CONNACK 0x04 (its authenticator's code).
    for id in [
        "WIOTP-AUTH-03-GATEWAY-WRONG-TOKEN",
        "WIOTP-AUTH-03-GATEWAY-DEVICE-TOKEN",
        "WIOTP-AUTH-04-WRONG-TOKEN",
    ] {
        let case = report.cases().find(|c| c.id == id).expect("ran");
        let branch = case.branch.as_deref().unwrap_or_default();
        assert!(
            branch.starts_with("CONNACK 0x04"),
            "{id}: branch {branch:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn quickstart_variant_passes_against_its_emulator() {
    // Built in, with `inherit_tests: false`: no filter, only its own tests run.
    let report = suite_run::run_on_emulator(QUICKSTART, &[]).await;
    assert_no_failure(&report);
    let suite = mqtt_conform::suite::load(QUICKSTART).expect("suite loads");
    let own: BTreeSet<&str> = suite.tests.iter().map(|t| t.id.value.as_str()).collect();
    assert_eq!(
        own,
        BTreeSet::from([
            "WIOTP-QS-AUTH-05-OPEN",
            "WIOTP-QS-QOS-02-QOS0",
            "WIOTP-QS-QOS-02-QOS1",
            "WIOTP-QS-SESS-04-COMMANDS",
            "WIOTP-QS-SIZE-02-RATE",
        ])
    );
    let by_id: BTreeMap<&str, &CaseReport> = report
        .cases()
        .filter(|c| own.contains(c.id.as_str()))
        .map(|c| (c.id.as_str(), c))
        .collect();
    assert_eq!(by_id.len(), 5, "{:?}", by_id.keys());
    let ran_tests: Vec<&str> = report.suites[0]
        .cases
        .iter()
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(ran_tests.len(), 5, "only its own tests ran: {ran_tests:?}");
    // The emulator handles a Quickstart QoS 1 publish as QoS 0: no receipt confirmation.
    for (id, branch) in [
        ("WIOTP-QS-QOS-02-QOS1", "no answer"),
        ("WIOTP-QS-SESS-04-COMMANDS", "SUBACK 0x80"),
    ] {
        let seen = by_id[id].branch.as_deref().unwrap_or_default();
        assert!(seen.starts_with(branch), "{id}: branch {seen:?}");
    }
}

// ------------------------------------------------------------------ device mode

/// Runs mosquitto_pub against a device-mode cloud with the given identity and arguments.
/// A QoS 1 publish to Quickstart is never acknowledged, so mosquitto_pub would wait for
/// ever: it is stopped after 3 s (its connection then ends without DISCONNECT).
fn pub_with(cloud: &Cloud, ca: Option<&Path>, login: &[&str], args: &[&str]) {
    let mut cmd = Command::new("mosquitto_pub");
    cmd.args(["-h", "127.0.0.1", "-p", &cloud.port.to_string()]);
    if let Some(ca) = ca {
        cmd.arg("--cafile").arg(ca);
    }
    let mut child = cmd
        .args(login)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto_pub is installed (Debian package mosquitto-clients)");
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The registered device's login (client id, user name, token).
fn device_login() -> Vec<String> {
    vec![
        "-i".into(),
        client_id(),
        "-u".into(),
        USERNAME.into(),
        "-P".into(),
        TOKEN.into(),
    ]
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The rules that did not pass, with their status.
fn flagged(verdicts: &[(String, String)]) -> Vec<(String, String)> {
    verdicts
        .iter()
        .filter(|(_, s)| s != "passed")
        .cloned()
        .collect()
}

/// A conforming event publish (QoS 1, Watson event JSON, Keep Alive 60).
fn conforming_event() -> Vec<String> {
    [
        "-V", "mqttv311", "-k", "60", "-q", "1", "-t", EVENT, "-m", EVENT_BODY,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

#[test]
fn a_conforming_mosquitto_pub_passes_every_rule() {
    let cloud = Cloud::start_suite("watson", "wiotp-pub", 1, &[]);
    let ca = cloud.ca.clone();
    pub_with(
        &cloud,
        Some(&ca),
        &refs(&device_login()),
        &refs(&conforming_event()),
    );
    let verdicts = cloud.verdicts();
    assert!(verdicts.len() >= 10, "rules applied: {verdicts:?}");
    assert_eq!(flagged(&verdicts), vec![], "{verdicts:?}");
    for id in [
        "WIOTP-AUTH-01",
        "WIOTP-TOPIC-01",
        "WIOTP-SIZE-01",
        "WIOTP-PAY-02",
    ] {
        assert!(
            verdicts.iter().any(|(i, _)| i == id),
            "{id} judged: {verdicts:?}"
        );
    }
}

/// The payload format of an event is the application's (the `fmt` topic level names it):
/// the Watson IoT device SDKs publish the application's JSON as it is, without wrapping
/// it in `{"d": …}`, and such an event breaks no rule.
#[test]
fn an_event_of_the_applications_own_json_passes_every_rule() {
    let cloud = Cloud::start_suite("watson", "wiotp-plain-json", 1, &[]);
    let ca = cloud.ca.clone();
    let event: Vec<String> = [
        "-V",
        "mqttv311",
        "-k",
        "60",
        "-q",
        "1",
        "-t",
        EVENT,
        "-m",
        r#"{"temp":21.5,"unit":"C"}"#,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    pub_with(&cloud, Some(&ca), &refs(&device_login()), &refs(&event));
    let verdicts = cloud.verdicts();
    assert!(
        verdicts
            .iter()
            .any(|(id, s)| id == "WIOTP-PAY-02" && s == "passed"),
        "the event's JSON was judged: {verdicts:?}"
    );
    assert_eq!(flagged(&verdicts), vec![], "{verdicts:?}");
}

#[test]
fn a_conforming_mosquitto_sub_passes_every_rule() {
    let cloud = Cloud::start_suite("watson", "wiotp-sub", 1, &[]);
    let _ = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &cloud.port.to_string(), "--cafile"])
        .arg(&cloud.ca)
        .args(refs(&device_login()))
        .args(["-V", "mqttv311", "-k", "60", "-q", "1", "-E", "-W", "10"])
        .args(["-t", "iot-2/cmd/+/fmt/+", "-t", "iotdm-1/#"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("mosquitto_sub is installed");
    let verdicts = cloud.verdicts();
    assert_eq!(flagged(&verdicts), vec![], "{verdicts:?}");
    assert!(
        verdicts.iter().any(|(id, _)| id == "WIOTP-TOPIC-02"),
        "the subscription was judged: {verdicts:?}"
    );
}

#[test]
fn a_conforming_rumqttc_device_passes_every_rule() {
    let cloud = Cloud::start_suite("watson", "wiotp-rumqttc", 1, &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut options = rumqttc::MqttOptions::new(client_id(), "127.0.0.1", cloud.port);
        options.set_credentials(USERNAME, TOKEN);
        options.set_keep_alive(Duration::from_secs(60));
        options.set_transport(rumqttc_tls(&cloud.ca));
        let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 10);
        client
            .subscribe("iot-2/cmd/+/fmt/json", rumqttc::QoS::AtLeastOnce)
            .await
            .unwrap();
        client
            .publish(EVENT, rumqttc::QoS::ExactlyOnce, false, EVENT_BODY)
            .await
            .unwrap();
        let (mut subacked, mut completed) = (false, false);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !(subacked && completed) {
            let event = tokio::time::timeout_at(deadline, eventloop.poll())
                .await
                .expect("rumqttc events in time")
                .expect("connected");
            match event {
                rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)) => subacked = true,
                rumqttc::Event::Incoming(rumqttc::Packet::PubComp(_)) => completed = true,
                _ => {}
            }
        }
        client.disconnect().await.unwrap();
        while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(2), eventloop.poll()).await {
        }
    });
    let verdicts = cloud.verdicts();
    assert_eq!(flagged(&verdicts), vec![], "{verdicts:?}");
}

/// A rustls client configuration trusting the PEM certificate(s) at `ca`.
fn rumqttc_tls(ca: &Path) -> rumqttc::Transport {
    let ca_pem = std::fs::read(ca).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&ca_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(Arc::new(config)))
}

/// A rumqttc client logs in to the cloud as (client id, user name, password), answers
/// nothing but the CONNACK, and disconnects: a session with nothing to judge but the login.
fn rumqttc_login(port: u16, ca: &Path, login: (&str, &str, &str)) {
    let (client_id, user, password) = login;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut options = rumqttc::MqttOptions::new(client_id, "127.0.0.1", port);
        options.set_credentials(user, password);
        options.set_keep_alive(Duration::from_secs(60));
        options.set_transport(rumqttc_tls(ca));
        let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 10);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let event = tokio::time::timeout_at(deadline, eventloop.poll())
                .await
                .expect("rumqttc events in time")
                .expect("connected");
            if let rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(ack)) = event {
                assert_eq!(ack.code, rumqttc::ConnectReturnCode::Success, "{client_id}");
                break;
            }
        }
        client.disconnect().await.unwrap();
        while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(2), eventloop.poll()).await {
        }
    });
}

/// The credential rules of the suite.
const CREDENTIAL_RULES: [&str; 4] = [
    "WIOTP-AUTH-01",
    "WIOTP-AUTH-02",
    "WIOTP-AUTH-03",
    "WIOTP-AUTH-04",
];

/// The gateway (`g:`) and the application (`a:`) of the suite's `auth.identities` in device
/// mode: conforming logins pass the credential rules, each bad login is flagged with exactly
/// its rule id. One cloud per client, all at once.
#[test]
fn gateways_and_applications_in_device_mode() {
    let s = |v: &str| v.to_owned();
    let gateway =
        |cid: &str, token: &str| vec![s("-i"), s(cid), s("-u"), s(USERNAME), s("-P"), s(token)];
    let app = |cid: &str, user: &str, token: &str| {
        vec![s("-i"), s(cid), s("-u"), s(user), s("-P"), s(token)]
    };
    let publish = |topic: &str| -> Vec<String> {
        [
            "-V", "mqttv311", "-k", "60", "-q", "0", "-t", topic, "-m", EVENT_BODY,
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .collect()
    };
    let flag = |id: &str, status: &str| vec![(id.to_owned(), status.to_owned())];
    let flags = |want: &[(&str, &str)]| -> Vec<(String, String)> {
        want.iter()
            .map(|(id, status)| ((*id).to_owned(), (*status).to_owned()))
            .collect()
    };
    // (tag, mosquitto_pub login, publish arguments, expected flags)
    type Case = (
        &'static str,
        Vec<String>,
        Vec<String>,
        Vec<(String, String)>,
    );
    let cases: Vec<Case> = vec![
        // Conforming logins publishing on their own documented topics: the credential rules
        // pass; the topic rule, whose catalogue is the device's (see the suite's `topics:`),
        // flags them — a gap the suite states, asserted here so that it stays visible.
        (
            "gw-publishes",
            gateway(&gateway_id(), GATEWAY_TOKEN),
            publish(GATEWAY_EVENT),
            flag("WIOTP-TOPIC-01", "failed"),
        ),
        (
            "app-publishes",
            app(&app_client_id(), API_KEY, API_TOKEN),
            publish(APP_COMMAND),
            flag("WIOTP-TOPIC-01", "failed"),
        ),
        // Bad logins: refused by the cloud, flagged by the rule they break; the credential
        // rules the check never reached are inconclusive. A refusal that only warns leaves
        // a run in which no device logged in: DEVICE-LOGIN fails it.
        (
            "gw-wrong-token",
            gateway(&gateway_id(), "not-the-gateway-token"),
            publish(GATEWAY_EVENT),
            flag("WIOTP-AUTH-03", "failed"),
        ),
        (
            "gw-device-token",
            gateway(&gateway_id(), TOKEN),
            publish(GATEWAY_EVENT),
            flag("WIOTP-AUTH-03", "failed"),
        ),
        (
            "gw-malformed-id",
            gateway(&format!("g:{ORG}:{GATEWAY_TYPE}"), GATEWAY_TOKEN),
            publish(GATEWAY_EVENT),
            flags(&[
                ("WIOTP-AUTH-01", "failed"),
                ("WIOTP-AUTH-02", "inconclusive"),
                ("WIOTP-AUTH-03", "inconclusive"),
                ("WIOTP-AUTH-04", "inconclusive"),
            ]),
        ),
        (
            "gw-unknown-id",
            gateway(&format!("g:{ORG}:{GATEWAY_TYPE}:gw-99"), GATEWAY_TOKEN),
            publish(GATEWAY_EVENT),
            flags(&[
                ("WIOTP-AUTH-01", "failed"),
                ("WIOTP-AUTH-03", "inconclusive"),
            ]),
        ),
        (
            "gw-long-id",
            gateway(
                &format!("g:{ORG}:{GATEWAY_TYPE}:{}", "g".repeat(37)),
                GATEWAY_TOKEN,
            ),
            publish(GATEWAY_EVENT),
            flags(&[
                ("WIOTP-AUTH-02", "failed"),
                ("WIOTP-AUTH-03", "inconclusive"),
                ("WIOTP-AUTH-04", "inconclusive"),
            ]),
        ),
        // WIOTP-AUTH-04 is an SDK rule: its violations warn.
        (
            "app-org-mismatch",
            app(&format!("a:xyz789:{APP_ID}"), API_KEY, API_TOKEN),
            publish(APP_COMMAND),
            flags(&[("DEVICE-LOGIN", "failed"), ("WIOTP-AUTH-04", "warning")]),
        ),
        (
            "app-wrong-token",
            app(&app_client_id(), API_KEY, "not-the-api-token"),
            publish(APP_COMMAND),
            flags(&[("DEVICE-LOGIN", "failed"), ("WIOTP-AUTH-04", "warning")]),
        ),
        (
            "app-token-username",
            app(&app_client_id(), USERNAME, API_TOKEN),
            publish(APP_COMMAND),
            flags(&[("DEVICE-LOGIN", "failed"), ("WIOTP-AUTH-04", "warning")]),
        ),
    ];
    let mut handles = Vec::new();
    for (tag, login, args, want) in cases {
        handles.push(std::thread::spawn(move || {
            let mut cloud = Cloud::start_suite("watson", tag, 1, &[]);
            let ca = cloud.ca.clone();
            pub_with(&cloud, Some(&ca), &refs(&login), &refs(&args));
            let text = cloud.report_text();
            for secret in [TOKEN, GATEWAY_TOKEN, API_TOKEN] {
                assert!(
                    !text.contains(secret),
                    "{tag}: a token leaked into the report"
                );
            }
            let run = cloud.finish();
            let no_login = want.iter().any(|(id, _)| id == "DEVICE-LOGIN");
            let failed = want.iter().any(|(_, status)| status == "failed");
            let code = match (no_login, failed) {
                (true, _) => 3,
                (false, true) => 1,
                (false, false) => 0,
            };
            assert_eq!(run.exit_code, Some(code), "{tag}: {:?}", run.groups);
            let verdicts: Vec<(String, String)> = run
                .groups
                .iter()
                .flat_map(|(_, cases)| cases)
                .map(|c| {
                    (
                        c["id"].as_str().unwrap_or_default().to_owned(),
                        c["verdict"]["status"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    )
                })
                .collect();
            assert_eq!(flagged(&verdicts), want, "{tag}: {verdicts:?}");
            if want.iter().all(|(id, _)| !id.starts_with("WIOTP-AUTH")) {
                for id in ["WIOTP-AUTH-01", "WIOTP-AUTH-02"] {
                    assert!(
                        verdicts.contains(&(id.to_owned(), "passed".to_owned())),
                        "{tag}: {id} passed: {verdicts:?}"
                    );
                }
            }
        }));
    }
    // rumqttc logins that only connect and disconnect: every rule that applies passes, and
    // the rule of the other kind of identity is not reported.
    for (tag, login, other_kind) in [
        (
            "gw-rumqttc",
            (gateway_id(), USERNAME, GATEWAY_TOKEN),
            "WIOTP-AUTH-04",
        ),
        (
            "app-rumqttc",
            (app_client_id(), API_KEY, API_TOKEN),
            "WIOTP-AUTH-03",
        ),
    ] {
        handles.push(std::thread::spawn(move || {
            let cloud = Cloud::start_suite("watson", tag, 1, &[]);
            rumqttc_login(cloud.port, &cloud.ca.clone(), (&login.0, login.1, login.2));
            let verdicts = cloud.verdicts();
            assert_eq!(flagged(&verdicts), vec![], "{tag}: {verdicts:?}");
            let judged: BTreeSet<&str> = verdicts.iter().map(|(id, _)| id.as_str()).collect();
            for id in CREDENTIAL_RULES {
                assert_eq!(
                    judged.contains(id),
                    id != other_kind,
                    "{tag}: {id} judged: {verdicts:?}"
                );
            }
        }));
    }
    for h in handles {
        h.join().expect("scenario passed");
    }
}

/// A payload file of `len` bytes in `dir`.
fn payload_file(dir: &Path, len: usize) -> String {
    let path = dir.join(format!("payload-{len}.bin"));
    std::fs::write(&path, vec![b'x'; len]).expect("payload file");
    path.to_string_lossy().into_owned()
}

/// One violation per device: each is flagged with exactly its rule id, nothing else.
#[test]
fn each_violation_is_flagged_with_exactly_its_rule() {
    let files = temp_dir("wiotp-payloads");
    let over = payload_file(&files, 131_073);
    let at_limit = payload_file(&files, 131_072);
    let login = device_login();
    let with_login = |i: usize, v: &str| {
        let mut l = login.clone();
        l[i] = v.to_owned();
        l
    };
    // (tag, suite, login, publish arguments, expected flags)
    type Case = (
        &'static str,
        String,
        Vec<String>,
        Vec<String>,
        Vec<(String, String)>,
    );
    let event = |extra: &[&str]| -> Vec<String> {
        let mut v = conforming_event();
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v
    };
    let flag = |id: &str, status: &str| vec![(id.to_owned(), status.to_owned())];
    let cases: Vec<Case> = vec![
        (
            "bad-client-id",
            "watson".into(),
            with_login(1, &format!("x:{ORG}:{DEVICE_TYPE}:{DEVICE_ID}")),
            event(&[]),
            // The client id names no kind of identity: the rules of both kinds are
            // unchecked.
            vec![
                ("WIOTP-AUTH-01".to_owned(), "failed".to_owned()),
                ("WIOTP-AUTH-02".to_owned(), "inconclusive".to_owned()),
                ("WIOTP-AUTH-03".to_owned(), "inconclusive".to_owned()),
                ("WIOTP-AUTH-04".to_owned(), "inconclusive".to_owned()),
            ],
        ),
        (
            "wrong-username",
            "watson".into(),
            with_login(3, "token-user"),
            event(&[]),
            flag("WIOTP-AUTH-03", "failed"),
        ),
        (
            "foreign-topic",
            "watson".into(),
            login.clone(),
            event(&["-t", "iot-2/type/sensor/id/dev-01/evt/status/fmt/json"]),
            flag("WIOTP-TOPIC-01", "failed"),
        ),
        (
            "oversize",
            "watson".into(),
            login.clone(),
            vec![
                "-V".into(),
                "mqttv311".into(),
                "-q".into(),
                "1".into(),
                "-t".into(),
                "iot-2/evt/blob/fmt/bin".into(),
                "-f".into(),
                over.clone(),
            ],
            flag("WIOTP-SIZE-01", "failed"),
        ),
        (
            "at-limit",
            "watson".into(),
            login.clone(),
            vec![
                "-V".into(),
                "mqttv311".into(),
                "-q".into(),
                "1".into(),
                "-t".into(),
                "iot-2/evt/blob/fmt/bin".into(),
                "-f".into(),
                at_limit.clone(),
            ],
            vec![],
        ),
        (
            "retain",
            "watson".into(),
            login.clone(),
            event(&["-r"]),
            flag("WIOTP-RET-01", "warning"),
        ),
        (
            "quickstart-qos1",
            quickstart_suite(),
            vec![
                "-i".into(),
                format!("d:quickstart:{DEVICE_TYPE}:{DEVICE_ID}"),
            ],
            event(&[]),
            flag("WIOTP-QOS-02", "failed"),
        ),
        (
            "quickstart-qos0",
            quickstart_suite(),
            vec![
                "-i".into(),
                format!("d:quickstart:{DEVICE_TYPE}:{DEVICE_ID}"),
            ],
            event(&["-q", "0"]),
            vec![],
        ),
    ];
    let mut handles = Vec::new();
    for (tag, suite, login, args, want) in cases {
        handles.push(std::thread::spawn(move || {
            let cloud = Cloud::start_suite(&suite, tag, 1, &[]);
            let ca = (!cloud.ca.as_os_str().is_empty()).then(|| cloud.ca.clone());
            pub_with(&cloud, ca.as_deref(), &refs(&login), &refs(&args));
            let verdicts = cloud.verdicts();
            assert_eq!(flagged(&verdicts), want, "{tag}: {verdicts:?}");
        }));
    }
    // Quickstart faster than one message a second: three QoS 0 lines from stdin at once.
    handles.push(std::thread::spawn(|| {
        let cloud = Cloud::start_suite(&quickstart_suite(), "quickstart-rate", 1, &[]);
        let mut child = Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &cloud.port.to_string()])
            .args(["-i", &format!("d:quickstart:{DEVICE_TYPE}:{DEVICE_ID}")])
            .args(["-V", "mqttv311", "-q", "0", "-t", EVENT, "-l"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_pub runs");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            for n in 0..3 {
                writeln!(stdin, r#"{{"d":{{"n":{n}}}}}"#).unwrap();
            }
        }
        let _ = child.wait();
        let verdicts = cloud.verdicts();
        assert_eq!(
            flagged(&verdicts),
            vec![("WIOTP-SIZE-02".to_owned(), "failed".to_owned())],
            "quickstart rate: {verdicts:?}"
        );
    }));
    for h in handles {
        h.join().expect("scenario passed");
    }
    let _ = std::fs::remove_dir_all(&files);
}

// ------------------------------------------------------------------ broker mode, mosquitto

/// mosquitto answers CONNACK 0 where Watson refuses the credentials.
const ACCEPTED: &str = "observed CONNACK code 0x00 (Connection Accepted)";

/// Every test of the suite and what mosquitto earns on it.
const EXPECTED: &[(&str, Want)] = &[
    ("MQTT311-CONN-01", Pass),
    ("MQTT311-CONN-02", Branch("CONNACK 0x01")),
    ("MQTT311-CONN-03", Pass),
    ("MQTT311-CONN-04", Pass),
    ("MQTT311-CONN-05", Pass),
    ("MQTT311-CONN-06", Pass),
    ("MQTT311-CONN-07", Pass),
    ("MQTT311-CONN-08", Pass),
    ("MQTT311-CONN-09", Pass),
    ("MQTT311-CONN-10", Pass),
    ("MQTT311-CONN-11", Pass),
    ("MQTT311-CONN-12", Pass),
    ("MQTT311-CONN-13", Pass),
    ("MQTT311-CONN-14", Pass),
    ("MQTT311-CONN-15", Pass),
    ("MQTT311-CONN-16", Pass),
    ("MQTT311-CONN-17", Pass),
    ("MQTT311-VER-01", Branch("close")),
    ("MQTT311-VER-02", Branch("CONNACK 0x01")),
    ("MQTT311-VER-03", Branch("CONNACK 0x01")),
    ("MQTT311-VER-04", Branch("close without CONNACK")),
    (
        "MQTT311-VER-05",
        Fail("observed CONNACK code 0x00 (Connection Accepted) session_present=false"),
    ),
    ("MQTT311-VER-06", Branch("CONNACK refusing it")),
    ("MQTT311-CID-01", Pass),
    ("MQTT311-CID-02", Pass),
    ("MQTT311-CID-05", Pass),
    ("MQTT311-CID-06", Pass),
    ("MQTT311-KA-01", Late),
    ("MQTT311-KA-02", Pass),
    ("MQTT311-KA-03", Pass),
    ("MQTT311-KA-04", Pass),
    ("MQTT311-KA-05", Pass),
    ("MQTT311-PUB-01", Pass),
    ("MQTT311-PUB-02", Pass),
    ("MQTT311-PUB-03", Branch("PUBACK")),
    ("MQTT311-PUB-04", Pass),
    ("MQTT311-PUB-06", Pass),
    ("MQTT311-PUB-07", Pass),
    ("MQTT311-PUB-08", Fail("the connection was still open")),
    ("MQTT311-PUB-09", Pass),
    ("MQTT311-PUB-10", Pass),
    ("MQTT311-SUB-01", Branch("close")),
    ("MQTT311-SUB-02", Pass),
    ("MQTT311-SUB-03", Pass),
    ("MQTT311-SUB-04", Pass),
    ("MQTT311-SUB-05", Pass),
    ("MQTT311-SUB-06", Pass),
    ("MQTT311-SUB-08", Pass),
    ("MQTT311-SUB-09", Pass),
    ("MQTT311-SUB-10", Pass),
    ("MQTT311-UNSUB-01", Pass),
    ("MQTT311-UNSUB-02", Pass),
    ("MQTT311-UNSUB-03", Pass),
    ("MQTT311-UNSUB-04", Pass),
    ("MQTT311-UNSUB-05", Pass),
    ("MQTT311-UNSUB-07", Pass),
    ("MQTT311-PKT-01", Pass),
    ("MQTT311-PKT-02", Pass),
    ("MQTT311-PKT-03", Pass),
    ("MQTT311-PKT-04", Pass),
    ("MQTT311-PKT-05", Fail("observed PINGRESP")),
    ("MQTT311-PKT-06", Pass),
    ("MQTT311-PKT-07", Pass),
    ("MQTT311-PKT-08", Fail("the connection was still open")),
    ("MQTT311-PKT-09", Fail("observed PUBREL packet_id=1")),
    ("MQTT311-PKT-10", Fail("the connection was still open")),
    ("MQTT311-PKT-11", Pass),
    ("MQTT311-PKT-12", Pass),
    ("MQTT311-PKT-13", Pass),
    ("MQTT311-PKT-14", Fail("observed PINGRESP")),
    ("MQTT311-PKT-15", Fail("the connection was still open")),
    ("MQTT311-TOPIC-01", Pass),
    ("MQTT311-TOPIC-02", Branch("close")),
    ("MQTT311-TOPIC-04", Branch("close")),
    ("MQTT311-TOPIC-05", Branch("close")),
    ("MQTT311-TOPIC-06", Branch("close")),
    ("MQTT311-TOPIC-07", Pass),
    ("MQTT311-TOPIC-08", Pass),
    ("MQTT311-TOPIC-09", Pass),
    ("MQTT311-TOPIC-10", Pass),
    ("MQTT311-FLAG-04", Pass),
    ("MQTT311-AUTH-01", Pass),
    ("WIOTP-VER-01-MQTT31", Pass),
    ("WIOTP-VER-01-MQTT5", Pass),
    ("WIOTP-CONNECT-00", Pass),
    ("WIOTP-AUTH-01-BAD-FORM", Fail(ACCEPTED)),
    ("WIOTP-AUTH-02-LONG-ID", Fail(ACCEPTED)),
    ("WIOTP-AUTH-03-USERNAME", Fail(ACCEPTED)),
    ("WIOTP-AUTH-03-WRONG-TOKEN", Fail(ACCEPTED)),
    ("WIOTP-AUTH-03-NO-CREDENTIALS", Fail(ACCEPTED)),
    // The gateway and the application log in as any client would; mosquitto admits their
    // bad logins as it admits the device's.
    ("WIOTP-AUTH-03-GATEWAY", Pass),
    ("WIOTP-AUTH-03-GATEWAY-WRONG-TOKEN", Fail(ACCEPTED)),
    ("WIOTP-AUTH-03-GATEWAY-DEVICE-TOKEN", Fail(ACCEPTED)),
    ("WIOTP-AUTH-04-APPLICATION", Pass),
    ("WIOTP-AUTH-04-WRONG-TOKEN", Fail(ACCEPTED)),
    // An SDK rule: a miss warns.
    ("WIOTP-AUTH-04-ORG-MISMATCH", Warn(ACCEPTED)),
    ("WIOTP-AUTH-04-TOKEN-USERNAME", Fail(ACCEPTED)),
    ("WIOTP-AUTH-01-APPLICATION-BAD-FORM", Fail(ACCEPTED)),
    ("WIOTP-SESS-01-PER-CLIENT-ID", Pass),
    ("WIOTP-SESS-01-TAKEOVER", Pass),
    ("WIOTP-SESS-02-DURABLE", Pass),
    ("WIOTP-KA-02-TIMEOUT", Late),
    ("WIOTP-QOS-01-EVENTS", Pass),
    ("WIOTP-QOS-01-COMMANDS", Pass),
    // mosquitto keeps the retained event and sends it to the new subscriber.
    ("WIOTP-RET-01-STRIPPED", Fail("observed PUBLISH")),
    ("WIOTP-TOPIC-01-EVENTS", Pass),
    ("WIOTP-TOPIC-01-MANAGED", Pass),
    ("WIOTP-TOPIC-01-FOREIGN", Recorded("PUBACK")),
    ("WIOTP-TOPIC-02-COMMANDS", Pass),
    ("WIOTP-TOPIC-02-FOREIGN", Recorded("granted")),
    ("WIOTP-SIZE-01-MAX", Pass),
    ("WIOTP-SIZE-01-OVER", Fail("observed PUBACK packet_id=32")),
    ("WIOTP-PAY-02-NOT-JSON", Recorded("PUBACK")),
    ("WIOTP-SESS-01", Pass),
    ("WIOTP-KA-02-SERVER", Late),
];

/// mosquitto configured as close to Watson as it allows: TLS 1.2, payloads up to 131,072
/// bytes, the iot-2 / iotdevice-1 / iotdm-1 topics. It cannot check Watson's token
/// credentials (anyone is admitted), cannot ignore RETAIN (it keeps retained messages), and
/// cannot refuse subscriptions by ACL (it filters deliveries instead).
fn watson_like_mosquitto() -> Mosquitto {
    let dir = mosquitto::temp_dir("watson");
    let pki = pki::make(&dir, "watson");
    let acl = dir.join("acl");
    std::fs::write(
        &acl,
        "pattern readwrite iot-2/#\npattern write iotdevice-1/#\npattern read iotdm-1/#\n",
    )
    .expect("ACL file");
    Mosquitto::start_in(
        dir,
        &format!(
            "allow_anonymous true\n\
             cafile {}\ncertfile {}\nkeyfile {}\n\
             tls_version tlsv1.2\n\
             message_size_limit 131072\n\
             acl_file {}",
            pki.ca.display(),
            pki.server_cert.display(),
            pki.server_key.display(),
            acl.display()
        ),
    )
}

#[test]
fn watson_suite_against_a_watson_like_mosquitto() {
    let broker = watson_like_mosquitto();
    let tls = TlsOptions {
        ca: Some(broker.dir.join("watson-ca.pem")),
        ..TlsOptions::default()
    };
    let url = format!("mqtts://localhost:{}", broker.port);
    // The runner lets tests that log in as the suite's one identity take turns.
    let report = suite_run::run_builtin("watson", &url, tls, 64, true);
    let cases = verdicts::check_report(report.cases(), EXPECTED);
    eprintln!(
        "watson against mosquitto: {} tests in {:.2} s",
        cases.len(),
        report.duration.as_secs_f64()
    );
}

// ------------------------------------------------------------------ capture mode

/// Rule id → worst verdict over `cases` (CAPTURE-* bookkeeping cases left out).
fn worst<'a>(cases: impl Iterator<Item = &'a Value>) -> BTreeMap<String, String> {
    capture_cli::worst(
        cases.filter(|c| !c["id"].as_str().unwrap_or_default().starts_with("CAPTURE-")),
    )
}

/// Device-mode sessions of a conforming device, one publishing outside iot-2/evt and one
/// sending an oversized event, captured with `--capture`; `--pcap` on the file gives the
/// verdicts the live run gave.
#[test]
fn a_capture_of_device_mode_sessions_gets_the_live_verdicts() {
    let dir = temp_dir("wiotp-capture");
    let capture = dir.join("live.pcapng");
    let over = payload_file(&dir, 131_073);
    let cloud = Cloud::start_suite(
        "watson",
        "wiotp-capture",
        3,
        &["--capture", &capture.to_string_lossy()],
    );
    let ca = cloud.ca.clone();
    let login = device_login();
    pub_with(&cloud, Some(&ca), &refs(&login), &refs(&conforming_event()));
    let mut foreign = conforming_event();
    foreign.extend([
        "-t".into(),
        "iot-2/type/sensor/id/dev-01/evt/status/fmt/json".into(),
    ]);
    pub_with(&cloud, Some(&ca), &refs(&login), &refs(&foreign));
    let oversize: Vec<String> = [
        "-V",
        "mqttv311",
        "-q",
        "1",
        "-t",
        "iot-2/evt/blob/fmt/bin",
        "-f",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain([over])
    .collect();
    pub_with(&cloud, Some(&ca), &refs(&login), &refs(&oversize));
    let live_cases = cloud.cases();
    let live = worst(live_cases.iter());
    let flagged: Vec<(&str, &str)> = live
        .iter()
        .filter(|(_, s)| s.as_str() != "passed")
        .map(|(i, s)| (i.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        flagged,
        // The cloud closed the two violators; the next device logged in (same client id) at
        // once, which the back-off rule notes as a warning.
        vec![
            ("WIOTP-SESS-01-BACKOFF", "warning"),
            ("WIOTP-SIZE-01", "failed"),
            ("WIOTP-TOPIC-01", "failed")
        ],
        "{live:?}"
    );

    let doc = judge_capture("watson", &[&capture], &[], &[TOKEN]);
    let recorded = worst(
        doc["suites"]
            .as_array()
            .expect("suites")
            .iter()
            .flat_map(|g| g["cases"].as_array().expect("cases").iter()),
    );
    assert_eq!(recorded, live);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Client id → rule id → worst verdict, from report groups named by client id (device mode)
/// or `client-id (addresses)` (capture mode); CAPTURE-* bookkeeping groups left out.
fn worst_by_client<'a>(
    groups: impl Iterator<Item = (&'a str, &'a [Value])>,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (name, cases) in groups {
        let client = name.split(" (").next().unwrap_or(name);
        let slot = out.entry(client.to_owned()).or_default();
        for (id, status) in worst(cases.iter()) {
            let cell = slot.entry(id).or_default();
            if rank(&status) > rank(cell) {
                *cell = status;
            }
        }
    }
    out.retain(|_, rules| !rules.is_empty());
    out
}

/// Device-mode sessions of the gateway and the application — conforming logins and bad ones —
/// captured with `--capture`; `--pcap` on the file gives, client by client, the verdicts the
/// live run gave.
#[test]
fn a_capture_of_gateway_and_application_sessions_gets_the_live_verdicts() {
    let dir = temp_dir("wiotp-capture-gw-app");
    let capture = dir.join("live.pcapng");
    let cloud = Cloud::start_suite(
        "watson",
        "wiotp-capture-gw-app",
        5,
        &["--capture", &capture.to_string_lossy()],
    );
    let ca = cloud.ca.clone();
    // Conforming logins first: each ends with the client's DISCONNECT, so the bad logins after
    // them (some with the same client id) are no reconnects after a cloud's close.
    rumqttc_login(cloud.port, &ca, (&gateway_id(), USERNAME, GATEWAY_TOKEN));
    rumqttc_login(cloud.port, &ca, (&app_client_id(), API_KEY, API_TOKEN));
    let s = |v: &str| v.to_owned();
    let event = [
        "-V",
        "mqttv311",
        "-q",
        "0",
        "-t",
        GATEWAY_EVENT,
        "-m",
        EVENT_BODY,
    ];
    let malformed = format!("g:{ORG}:{GATEWAY_TYPE}");
    let mismatched = format!("a:xyz789:{APP_ID}");
    for login in [
        vec![
            s("-i"),
            gateway_id(),
            s("-u"),
            s(USERNAME),
            s("-P"),
            s("not-the-gateway-token"),
        ],
        vec![
            s("-i"),
            mismatched.clone(),
            s("-u"),
            s(API_KEY),
            s("-P"),
            s(API_TOKEN),
        ],
        vec![
            s("-i"),
            malformed.clone(),
            s("-u"),
            s(USERNAME),
            s("-P"),
            s(GATEWAY_TOKEN),
        ],
    ] {
        pub_with(&cloud, Some(&ca), &refs(&login), &event);
    }
    let live_groups = cloud.groups();
    let live = worst_by_client(
        live_groups
            .iter()
            .map(|(name, cases)| (name.as_str(), cases.as_slice())),
    );
    let flagged: BTreeMap<String, Vec<(&str, &str)>> = live
        .iter()
        .map(|(client, rules)| {
            (
                client.clone(),
                rules
                    .iter()
                    .filter(|(_, s)| s.as_str() != "passed")
                    .map(|(i, s)| (i.as_str(), s.as_str()))
                    .collect(),
            )
        })
        .collect();
    // The gateway's client id holds a conforming session and one with a wrong token.
    let want: BTreeMap<String, Vec<(&str, &str)>> = BTreeMap::from([
        (gateway_id(), vec![("WIOTP-AUTH-03", "failed")]),
        (app_client_id(), vec![]),
        (mismatched.clone(), vec![("WIOTP-AUTH-04", "warning")]),
        (
            malformed.clone(),
            vec![
                ("WIOTP-AUTH-01", "failed"),
                ("WIOTP-AUTH-02", "inconclusive"),
                ("WIOTP-AUTH-03", "inconclusive"),
                ("WIOTP-AUTH-04", "inconclusive"),
            ],
        ),
    ]);
    assert_eq!(flagged, want, "{live:?}");
    // Each identity is judged by the credential rules of its kind only.
    for (client, other_kind) in [
        (gateway_id(), "WIOTP-AUTH-04"),
        (app_client_id(), "WIOTP-AUTH-03"),
    ] {
        for id in CREDENTIAL_RULES {
            assert_eq!(
                live[&client].contains_key(id),
                id != other_kind,
                "{client}: {id} judged"
            );
        }
    }

    let doc = judge_capture(
        "watson",
        &[&capture],
        &[],
        &[GATEWAY_TOKEN, API_TOKEN, "not-the-gateway-token"],
    );
    let groups: Vec<(&str, &[Value])> = doc["suites"]
        .as_array()
        .expect("suites")
        .iter()
        .map(|g| {
            (
                g["name"].as_str().unwrap_or_default(),
                g["cases"].as_array().expect("cases").as_slice(),
            )
        })
        .collect();
    let recorded = worst_by_client(groups.into_iter());
    assert_eq!(recorded, live);
    let _ = std::fs::remove_dir_all(&dir);
}
