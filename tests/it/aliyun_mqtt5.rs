//! The built-in `aliyun-mqtt5` suite (an Alibaba Enterprise instance: MQTT 5.0 with the
//! limits of seed 002) end to end: in broker mode against its own emulator and against a
//! mosquitto configured toward Alibaba's rules, in device mode with mosquitto_pub speaking
//! 5.0 (conforming, and breaking each ALI-MQTT5 rule alone), and in capture mode over that
//! device-mode traffic.

use crate::support::capture_cli;
use crate::support::cloud;
use crate::support::mosquitto;
use crate::support::suite_run;

use capture_cli::{judge_capture, worst};
use cloud::Cloud;
use mosquitto::{Mosquitto, temp_dir};
use mqtt_conform::auth::aliyun::{Params, SignMethod};
use mqtt_conform::report::{CaseReport, Verdict};
use mqtt_conform::runner::transport::TlsOptions;
use mqtt_conform::runner::{RunOptions, Selection, run_suite};
use mqtt_conform::secret::Secret;
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// Seed 001's ProductKey and DeviceName, the suite's example identity.
const PRODUCT_KEY: &str = "a1hQSwFledE";
const DEVICE_NAME: &str = "eud1jXfEgCsAiP2eId9Q";
/// The rule catalogue's synthetic DeviceSecret for that identity.
const SECRET: &str = "Test0123456789abcdefTest0123456789";
const SUITE: &str = "aliyun-mqtt5";

/// Runs the suite's tests matching `filters` against `url`.
fn run_on(url: &str, filters: &[&str]) -> Vec<CaseReport> {
    let suite = Arc::new(mqtt_conform::suite::load(SUITE).expect("built-in suite"));
    let params = suite
        .resolve_params(&BTreeMap::new(), true)
        .expect("examples fill every parameter");
    let opts = RunOptions {
        target: mqtt_conform::runner::transport::Target::parse(url, suite.port).expect("target"),
        tls: TlsOptions::default(),
        jobs: 64,
        selection: Selection {
            filters: filters.iter().map(|f| (*f).to_owned()).collect(),
            exact: false,
            skip: Vec::new(),
        },
        connect_timeout: Duration::from_secs(5),
        max_packet_size: 16 << 20,
        capture: None,
        progress: None,
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(run_suite(suite, &params, &opts, &mut |_| {}))
        .expect("mosquitto is reachable")
        .cases()
        .cloned()
        .collect()
}

fn verdict_of<'a>(cases: &'a [CaseReport], id: &str) -> &'a CaseReport {
    cases
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("{id} ran"))
}

// ---------------------------------------------------------------- broker mode

/// `mqtt-conform --suite aliyun-mqtt5` with no target passes, and its emulator enforces
/// the documented 5.0 limits (the reactions it chose are the recorded branches).
#[tokio::test(start_paused = true)]
async fn the_variant_passes_against_its_emulator() {
    let cases: Vec<CaseReport> = suite_run::run_on_emulator(SUITE, &[])
        .await
        .cases()
        .cloned()
        .collect();
    let failures: Vec<String> = cases
        .iter()
        .filter(|c| c.verdict.is_failure())
        .map(|c| format!("{}: {:?}", c.id, c.verdict))
        .collect();
    assert!(cases.len() > 110, "the inherited tests ran too");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for id in [
        "ALI-MQTT5-01-TWENTY",
        "ALI-MQTT5-01-PAIR-128",
        "ALI-MQTT5-02-AT-LIMIT",
        "ALI-MQTT5-05-SESSION-EXPIRY",
        "ALI-MQTT5-04-CONNACK",
        "ALI-MQTT5-03-SHARED",
        "ALI-VER-01-MQTT5",
        "ALI-SIZE-01-MAX",
        "ALI-SIZE-01-OVER",
    ] {
        let case = verdict_of(&cases, id);
        assert_eq!(case.verdict, Verdict::Passed, "{id}: {:?}", case.trace);
    }
    // One over each limit: acknowledged with 0x83 and dropped.
    for id in [
        "ALI-MQTT5-01-TWENTY-ONE",
        "ALI-MQTT5-01-UNDERSCORE",
        "ALI-MQTT5-01-PAIR-129",
        "ALI-MQTT5-02-RESPONSE-TOPIC",
        "ALI-MQTT5-02-CORRELATION-DATA",
    ] {
        let case = verdict_of(&cases, id);
        assert!(
            matches!(&case.verdict, Verdict::Recorded { message } if message.starts_with("observed: PUBACK refusing it") && message.contains("83]")),
            "{id}: {:?}",
            case.verdict
        );
    }
    // A ShareName outside [A-Za-z0-9_]: SUBACK 0x8F.
    let share_name = verdict_of(&cases, "ALI-MQTT5-03-SHARE-NAME");
    assert!(
        matches!(&share_name.verdict, Verdict::Recorded { message } if message.starts_with("observed: SUBACK refusing it") && message.contains("8f]")),
        "{:?}",
        share_name.verdict
    );
    let alias = verdict_of(&cases, "ALI-MQTT5-04-ALIAS");
    assert!(
        matches!(&alias.verdict, Verdict::Recorded { message } if message.starts_with("observed: DISCONNECT 0x94")),
        "{:?}",
        alias.verdict
    );
    let connack = verdict_of(&cases, "ALI-MQTT5-04-CONNACK");
    assert!(
        connack
            .branch
            .as_deref()
            .is_some_and(|b| b.starts_with("no Topic Aliases")),
        "{:?}",
        connack.branch
    );
}

/// The 5.0 tests against mosquitto 2.0.11 configured like Alibaba: it has no property
/// limits (everything is acknowledged) and announces Topic Aliases.
#[test]
fn the_5_0_tests_against_an_aliyun_like_mosquitto() {
    let broker = aliyun_like_mosquitto();
    let cases = run_on(&broker.url(), &["ALI-MQTT5", "ALI-VER-01"]);
    let expected: BTreeMap<&str, (&str, &str)> = [
        (
            "ALI-VER-01-MQTT5",
            ("passed", "accepted (Enterprise instance)"),
        ),
        ("ALI-VER-01-MQTT31", ("passed", "accepted (CONNACK 0)")),
        ("ALI-MQTT5-01-TWENTY", ("passed", "")),
        ("ALI-MQTT5-01-PAIR-128", ("passed", "")),
        ("ALI-MQTT5-02-AT-LIMIT", ("passed", "")),
        ("ALI-MQTT5-05-SESSION-EXPIRY", ("passed", "")),
        // mosquitto has no limits on properties: each is acknowledged as a success.
        ("ALI-MQTT5-01-TWENTY-ONE", ("recorded", "PUBACK success")),
        ("ALI-MQTT5-01-UNDERSCORE", ("recorded", "PUBACK success")),
        ("ALI-MQTT5-01-PAIR-129", ("recorded", "PUBACK success")),
        (
            "ALI-MQTT5-02-RESPONSE-TOPIC",
            ("recorded", "PUBACK success"),
        ),
        (
            "ALI-MQTT5-02-CORRELATION-DATA",
            ("recorded", "PUBACK success"),
        ),
        // mosquitto announces Topic Alias Maximum 10 and takes the alias.
        (
            "ALI-MQTT5-04-CONNACK",
            ("passed", "Topic Aliases announced"),
        ),
        ("ALI-MQTT5-04-ALIAS", ("recorded", "PUBACK")),
        ("ALI-MQTT5-03-SHARED", ("passed", "")),
        ("ALI-MQTT5-03-SHARE-NAME", ("recorded", "granted")),
    ]
    .into_iter()
    .collect();
    assert_eq!(cases.len(), expected.len(), "{:#?}", ids(&cases));
    for case in &cases {
        let (status, text) = expected
            .get(case.id.as_str())
            .unwrap_or_else(|| panic!("{} is not expected: {:?}", case.id, case.verdict));
        match (&case.verdict, *status) {
            (Verdict::Passed, "passed") => assert!(
                case.branch.as_deref().unwrap_or("").starts_with(text),
                "{}: branch {:?}",
                case.id,
                case.branch
            ),
            (Verdict::Recorded { message }, "recorded") => {
                assert!(
                    message.starts_with(&format!("observed: {text}")),
                    "{}: {message}",
                    case.id
                )
            }
            (got, want) => panic!("{}: expected {want}, got {got:?}", case.id),
        }
    }
}

fn ids(cases: &[CaseReport]) -> Vec<&str> {
    cases.iter().map(|c| c.id.as_str()).collect()
}

/// mosquitto configured as close to Alibaba's rules as it allows (as in tests/it/aliyun.rs).
fn aliyun_like_mosquitto() -> Mosquitto {
    let dir = temp_dir("aliyun-mqtt5");
    let acl = dir.join("acl");
    let (pk, dn) = (PRODUCT_KEY, DEVICE_NAME);
    std::fs::write(
        &acl,
        format!(
            "pattern readwrite /sys/{pk}/{dn}/#\n\
             pattern readwrite /{pk}/{dn}/user/#\n"
        ),
    )
    .expect("ACL file");
    Mosquitto::start_in(
        dir,
        &format!(
            "allow_anonymous true\n\
             max_qos 1\n\
             max_keepalive 1200\n\
             retain_available false\n\
             message_size_limit 262144\n\
             acl_file {}",
            acl.display()
        ),
    )
}

// ---------------------------------------------------------------- device mode and captures

/// Client id, user name and password of the example device, signed with HMAC-SHA256.
fn credentials(client_id: &str) -> (String, String, String) {
    let c = Params::new(
        PRODUCT_KEY,
        DEVICE_NAME,
        Secret::new(SECRET.to_owned()),
        client_id,
        SignMethod::HmacSha256,
        3,
        Some(2_524_608_000_000),
    )
    .credentials();
    (
        c.client_id,
        c.username.expect("a user name"),
        c.password.expect("a password").expose().to_owned(),
    )
}

fn user_topic() -> String {
    format!("/{PRODUCT_KEY}/{DEVICE_NAME}/user/update")
}

/// mosquitto_pub speaking 5.0 as the example device: one QoS 1 publish on `topic` with
/// `extra` arguments (`-D publish …` properties).
fn mosquitto_pub_v5(port: u16, client_id: &str, topic: &str, extra: &[String]) {
    let (id, user, pw) = credentials(client_id);
    let _ = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args([
            "-i", &id, "-u", &user, "-P", &pw, "-V", "mqttv5", "-k", "300",
        ])
        .args(["-q", "1", "-t", topic, "-m", "p"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("mosquitto_pub is installed (Debian package mosquitto-clients)");
}

/// `-D publish user-property k v` for each pair.
fn user_properties(pairs: &[(String, String)]) -> Vec<String> {
    pairs
        .iter()
        .flat_map(|(k, v)| {
            [
                "-D".into(),
                "publish".into(),
                "user-property".into(),
                k.clone(),
                v.clone(),
            ]
        })
        .collect()
}

fn d(property: &str, value: &str) -> Vec<String> {
    vec!["-D".into(), "publish".into(), property.into(), value.into()]
}

/// `n` characters.
fn chars(n: usize) -> String {
    "x".repeat(n)
}

/// The verdicts that did not pass, with their status.
fn flagged(verdicts: &[(String, String)]) -> Vec<(&str, &str)> {
    verdicts
        .iter()
        .filter(|(_, s)| s != "passed")
        .map(|(id, s)| (id.as_str(), s.as_str()))
        .collect()
}

#[test]
fn a_conforming_5_0_device_passes_every_rule() {
    let cloud = Cloud::start_suite(SUITE, "aliyun5-good", 1, &[]);
    let mut extra = user_properties(
        &(1..=20)
            .map(|i| (format!("k{i}"), "v".to_owned()))
            .collect::<Vec<_>>(),
    );
    extra.extend(d("response-topic", &chars(128)));
    extra.extend(d("correlation-data", &chars(128)));
    mosquitto_pub_v5(cloud.port, "good", &user_topic(), &extra);
    let verdicts = cloud.verdicts();
    assert_eq!(
        flagged(&verdicts),
        Vec::<(&str, &str)>::new(),
        "{verdicts:?}"
    );
    for rule in ["ALI-VER-01", "ALI-MQTT5-01", "ALI-MQTT5-02", "ALI-MQTT5-04"] {
        assert!(
            verdicts.iter().any(|(id, s)| id == rule && s == "passed"),
            "{rule} applied and passed: {verdicts:?}"
        );
    }
}

#[test]
fn each_5_0_violation_is_flagged_with_exactly_its_rule() {
    let long_topic = format!("{}/{}", user_topic(), chars(129 - user_topic().len() - 1));
    assert_eq!(long_topic.len(), 129);
    let cases: Vec<(&str, String, Vec<String>, &str, &str)> = vec![
        (
            "twenty-one",
            user_topic(),
            user_properties(
                &(1..=21)
                    .map(|i| (format!("k{i}"), "v".to_owned()))
                    .collect::<Vec<_>>(),
            ),
            "ALI-MQTT5-01",
            "failed",
        ),
        (
            "underscore",
            user_topic(),
            user_properties(&[("_k".into(), "v".into())]),
            "ALI-MQTT5-01",
            "failed",
        ),
        (
            "pair-129",
            user_topic(),
            user_properties(&[("key".into(), chars(126))]),
            "ALI-MQTT5-01",
            "failed",
        ),
        (
            "response-topic",
            user_topic(),
            d("response-topic", &chars(129)),
            "ALI-MQTT5-02",
            "failed",
        ),
        (
            "correlation-data",
            user_topic(),
            d("correlation-data", &chars(129)),
            "ALI-MQTT5-02",
            "failed",
        ),
        // Topic Alias "not applicable": a warning.
        (
            "topic-alias",
            user_topic(),
            d("topic-alias", "1"),
            "ALI-MQTT5-04",
            "warning",
        ),
        // The SDKs' 128-byte topic limit (the platform's is unconfirmed): a warning.
        (
            "long-topic",
            long_topic,
            Vec::new(),
            "ALI-SIZE-02",
            "warning",
        ),
    ];
    let handles: Vec<_> = cases
        .into_iter()
        .map(|(tag, topic, extra, rule, status)| {
            std::thread::spawn(move || {
                let cloud = Cloud::start_suite(SUITE, &format!("aliyun5-{tag}"), 1, &[]);
                mosquitto_pub_v5(cloud.port, tag, &topic, &extra);
                let verdicts = cloud.verdicts();
                assert_eq!(
                    flagged(&verdicts),
                    vec![(rule, status)],
                    "{tag}: {verdicts:?}"
                );
            })
        })
        .collect();
    for h in handles {
        h.join().expect("each violation flagged with its rule");
    }
}

/// A 5.0 device on the public-instance suite (`aliyun`) is flagged by ALI-VER-01 alone.
#[test]
fn a_5_0_device_on_a_public_instance_breaks_ali_ver_01() {
    let cloud = Cloud::start_suite("aliyun", "aliyun-public-v5", 1, &[]);
    mosquitto_pub_v5(cloud.port, "public", &user_topic(), &[]);
    let verdicts = cloud.verdicts();
    assert_eq!(
        flagged(&verdicts),
        vec![("ALI-VER-01", "failed")],
        "{verdicts:?}"
    );
}

#[test]
fn a_capture_of_5_0_device_sessions_gets_the_live_verdicts() {
    let dir = temp_dir("aliyun5-capture");
    let capture = dir.join("live.pcapng");
    let capture_arg = capture.to_string_lossy().into_owned();
    let cloud = Cloud::start_suite(SUITE, "aliyun5-capture", 1, &["--capture", &capture_arg]);
    let mut extra = user_properties(&[("_k".into(), "v".into())]);
    extra.extend(d("response-topic", &chars(129)));
    mosquitto_pub_v5(cloud.port, "cap", &user_topic(), &extra);
    let live = worst(&cloud.cases());
    assert_eq!(live.get("ALI-MQTT5-01").map(String::as_str), Some("failed"));
    assert_eq!(live.get("ALI-MQTT5-02").map(String::as_str), Some("failed"));
    let recorded = judge_capture(SUITE, &[&capture], &[], &[SECRET]);
    let groups = recorded["suites"].as_array().expect("suites");
    let device: Vec<&Value> = groups
        .iter()
        .filter(|g| g["name"].as_str().unwrap_or_default().starts_with("cap|"))
        .collect();
    assert_eq!(
        device.len(),
        1,
        "one group for the one connection: {groups:#?}"
    );
    let from_capture = worst(device[0]["cases"].as_array().expect("cases"));
    assert_eq!(from_capture, live);
    let _ = std::fs::remove_dir_all(&dir);
}
