//! The built-in `aliyun` suite (Alibaba Cloud IoT Platform) end to end: in broker mode against
//! its own emulator and against a mosquitto configured toward Alibaba's rules, in device mode
//! with real clients (mosquitto_pub, mosquitto_sub, rumqttc) against
//! `mqtt-conform --suite aliyun --listen`, and in capture mode over that device-mode traffic.
//!
//! The suite's endpoint is plain TCP on port 1883 (`securemode=3`), so device-mode traffic
//! and its captures hold readable MQTT.

use crate::support::capture_cli;
use crate::support::cloud;
use crate::support::mosquitto;
use crate::support::suite_run;
use crate::support::verdicts;

use capture_cli::{judge_capture, worst};
use cloud::Cloud;
use mosquitto::{Mosquitto, remove_temp_dir_of, temp_dir};
use mqtt_conform::auth::aliyun::{Params, SignMethod};
use mqtt_conform::report::{CaseReport, Verdict};
use mqtt_conform::runner::transport::TlsOptions;
use mqtt_conform::runner::{RunOptions, Selection, run_suite};
use mqtt_conform::secret::Secret;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use verdicts::Want::{self, Branch, Fail, Noted, Pass, Warn};

/// Seed 001's ProductKey and DeviceName, the suite's example identity.
const PRODUCT_KEY: &str = "a1hQSwFledE";
const DEVICE_NAME: &str = "eud1jXfEgCsAiP2eId9Q";
/// The rule catalogue's synthetic DeviceSecret for that identity.
const SECRET: &str = "Test0123456789abcdefTest0123456789";

// ---------------------------------------------------------------- broker mode: the emulator

/// `mqtt-conform --suite aliyun` with no target: the suite against its own emulator passes.
#[tokio::test(start_paused = true)]
async fn aliyun_suite_passes_against_the_aliyun_emulator() {
    let report = suite_run::run_on_emulator("aliyun", &[]).await;
    let failures: Vec<String> = report
        .cases()
        .filter(|c| c.verdict.is_failure())
        .map(|c| format!("{}: {:?}", c.id, c.verdict))
        .collect();
    assert!(report.cases().count() > 100, "the suite ran");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The 256 KB boundary and the signature variants are among the passes.
    for id in [
        "ALI-SIZE-01-MAX",
        "ALI-SIZE-01-OVER",
        "ALI-AUTH-04-MD5",
        "ALI-AUTH-04-SHA1",
        "ALI-AUTH-04-SHA256",
        "ALI-AUTH-03-DOC-LAYOUT",
        "ALI-AUTH-03-WRONG-SECRET",
        "ALI-KA-02-TIMEOUT",
    ] {
        let case = report
            .cases()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("{id} ran"));
        assert_eq!(case.verdict, Verdict::Passed, "{id}: {:?}", case.trace);
    }
}

// ---------------------------------------------------------------- broker mode: mosquitto

/// mosquitto answers CONNACK 0 where Alibaba refuses.
const ACCEPTED: &str = "observed CONNACK code 0x00 (Connection Accepted)";
/// A malformed packet mosquitto does not close on.
const STILL_OPEN: &str = "the connection was still open";

/// Every test of the suite and what mosquitto earns. Failures are Alibaba's rules mosquitto
/// cannot emulate (credentials, Keep Alive range, SUBACK 0x80 by ACL, the 256 KB refusal)
/// and mosquitto's own MQTT 3.1.1 deviations (as in `broker_mosquitto.rs`).
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
    // mosquitto masks the top bit of the level (its bridge marker).
    ("MQTT311-VER-05", Fail(ACCEPTED)),
    ("MQTT311-VER-06", Branch("CONNACK refusing it")),
    ("MQTT311-CID-01", Pass),
    ("MQTT311-CID-02", Pass),
    ("MQTT311-CID-05", Pass),
    ("MQTT311-CID-06", Pass),
    ("MQTT311-KA-02", Pass),
    ("MQTT311-PUB-01", Pass),
    ("MQTT311-PUB-02", Pass),
    ("MQTT311-PUB-04", Pass),
    ("MQTT311-PUB-06", Pass),
    ("MQTT311-PUB-08", Fail(STILL_OPEN)),
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
    ("MQTT311-PKT-05", Fail("observed PINGRESP [d0 00]")),
    ("MQTT311-PKT-06", Pass),
    ("MQTT311-PKT-07", Pass),
    ("MQTT311-PKT-08", Fail(STILL_OPEN)),
    ("MQTT311-PKT-09", Fail("observed PUBREL packet_id=1")),
    ("MQTT311-PKT-10", Fail(STILL_OPEN)),
    ("MQTT311-PKT-11", Pass),
    ("MQTT311-PKT-12", Pass),
    ("MQTT311-PKT-13", Pass),
    ("MQTT311-PKT-14", Fail("observed PINGRESP [d0 00]")),
    ("MQTT311-PKT-15", Fail(STILL_OPEN)),
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
    // ---- Alibaba's rules
    // mosquitto speaks 5.0, like an Enterprise instance.
    ("ALI-VER-01-MQTT5", Branch("accepted (Enterprise instance)")),
    ("ALI-VER-01-MQTT31", Branch("accepted (CONNACK 0)")),
    ("ALI-CONNECT-00", Pass),
    ("ALI-AUTH-01-64", Pass),
    ("ALI-AUTH-01-65", Noted("accepted (CONNACK 0)")),
    // mosquitto cannot verify Alibaba's credentials: it accepts every one of them.
    ("ALI-AUTH-01-NO-CLOSING-BAR", Fail(ACCEPTED)),
    ("ALI-AUTH-02-SWAPPED", Fail(ACCEPTED)),
    ("ALI-AUTH-03-WRONG-SECRET", Fail(ACCEPTED)),
    ("ALI-AUTH-03-DOC-LAYOUT", Pass),
    ("ALI-AUTH-04-MD5", Pass),
    ("ALI-AUTH-04-SHA1", Pass),
    ("ALI-AUTH-04-SHA256", Pass),
    ("ALI-AUTH-04-UNKNOWN", Fail(ACCEPTED)),
    // A secondary-source rule: its miss is a warning.
    ("ALI-AUTH-05-MISMATCH", Warn(ACCEPTED)),
    ("ALI-AUTH-05-NO-TIMESTAMP", Pass),
    ("ALI-AUTH-05-NOW", Pass),
    ("ALI-SESS-01-TAKEOVER", Pass),
    ("ALI-SESS-02-PERSISTENT", Pass),
    ("ALI-KA-01-MIN", Pass),
    ("ALI-KA-01-MAX", Pass),
    // `max_keepalive 1200` applies to 5.0 clients only, and there is no minimum.
    ("ALI-KA-01-BELOW", Fail(ACCEPTED)),
    ("ALI-KA-01-ABOVE", Fail(ACCEPTED)),
    ("ALI-KA-01-ZERO", Noted("accepted (CONNACK 0)")),
    // mosquitto closes at 1.5 × Keep Alive (+ its sweep): inside Alibaba's window.
    ("ALI-KA-02-TIMEOUT", Pass),
    ("ALI-KA-02-SERVER", Pass),
    ("ALI-SESS-01", Pass),
    ("ALI-QOS-01-PUBLISH", Noted("close")),
    ("ALI-QOS-01-SUBSCRIBE", Branch("granted at most QoS 1")),
    ("ALI-PKT-01-PUBREL", Noted("PUBCOMP")),
    ("ALI-FLAG-01-WILL", Noted("Will accepted (CONNACK 0)")),
    ("ALI-FLAG-01-RETAINED", Noted("close")),
    ("ALI-TOPIC-01-PROPERTY-POST", Pass),
    // mosquitto is a broker, not the platform: nothing answers an Alink post.
    ("ALI-TOPIC-01-POST-REPLY", Fail("nothing arrived")),
    ("ALI-TOPIC-01-SYS", Pass),
    ("ALI-TOPIC-01-OTA-NTP-SHADOW", Pass),
    ("ALI-TOPIC-02-USER", Pass),
    ("ALI-TOPIC-02-DOWNLINK", Pass),
    // mosquitto's ACL filters deliveries instead of refusing subscriptions.
    (
        "ALI-TOPIC-04-UNDEFINED",
        Fail("observed SUBACK packet_id=1 codes [0x00"),
    ),
    (
        "ALI-TOPIC-04-OTHER-DEVICE",
        Fail("observed SUBACK packet_id=1 codes [0x01"),
    ),
    ("ALI-TOPIC-05-OTHER-PUBLISH", Branch("PUBACK")),
    ("ALI-SIZE-01-MAX", Pass),
    // `message_size_limit` drops the oversized message but acknowledges it.
    ("ALI-SIZE-01-OVER", Fail("observed PUBACK packet_id=1")),
    ("ALI-PAY-01-NOT-JSON", Noted("PUBACK")),
    ("ALI-PAY-01-NUMERIC-ID", Pass),
];

/// The keep-alive test, run on a broker of its own so that the 45 s it holds the device's one
/// identity overlap the rest of the suite.
const SLOW: &str = "ALI-KA-02-TIMEOUT";

fn run_selected(url: &str, selection: Selection) -> Vec<CaseReport> {
    let suite = Arc::new(mqtt_conform::suite::load("aliyun").expect("built-in suite"));
    let params = suite
        .resolve_params(&BTreeMap::new(), true)
        .expect("examples fill every parameter");
    let opts = RunOptions {
        target: mqtt_conform::runner::transport::Target::parse(url, suite.port).expect("target"),
        tls: TlsOptions::default(),
        jobs: 64,
        selection,
        connect_timeout: Duration::from_secs(5),
        max_packet_size: 16 << 20,
        capture: None,
        progress: None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime
        .block_on(run_suite(suite, &params, &opts, &mut |_| {}))
        .expect("mosquitto is reachable")
        .cases()
        .cloned()
        .collect()
}

#[test]
fn aliyun_suite_against_an_aliyun_like_mosquitto() {
    let slow_broker = aliyun_like_mosquitto();
    let broker = aliyun_like_mosquitto();
    let slow_url = slow_broker.url();
    let slow = std::thread::spawn(move || {
        run_selected(
            &slow_url,
            Selection {
                filters: vec![SLOW.into()],
                exact: true,
                skip: Vec::new(),
            },
        )
    });
    let rest = run_selected(
        &broker.url(),
        Selection {
            filters: Vec::new(),
            exact: true,
            skip: vec![SLOW.into()],
        },
    );
    let slow = slow.join().expect("the keep-alive run");
    verdicts::check_report(slow.iter().chain(&rest), EXPECTED);
    let x = slow
        .iter()
        .find(|c| c.id == SLOW)
        .and_then(suite_run::closed_after)
        .expect("the keep-alive close was measured");
    eprintln!("ALI-KA-02-TIMEOUT: mosquitto closed after {x:.2} s (window 30–75 s)");
}

/// mosquitto configured as close to Alibaba's rules as it allows.
fn aliyun_like_mosquitto() -> Mosquitto {
    let dir = temp_dir("aliyun");
    let acl = dir.join("acl");
    let (pk, dn) = (PRODUCT_KEY, DEVICE_NAME);
    std::fs::write(
        &acl,
        format!(
            "pattern readwrite /sys/{pk}/{dn}/#\n\
             pattern readwrite /{pk}/{dn}/user/#\n\
             pattern readwrite /ota/device/+/{pk}/{dn}\n\
             pattern readwrite /ext/ntp/{pk}/{dn}/#\n\
             pattern readwrite /ext/session/{pk}/{dn}/#\n\
             pattern readwrite /shadow/+/{pk}/{dn}\n"
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

/// Client id, user name, password.
type Creds = (String, String, String);

/// Credentials for the example device: (client id, user name, password).
fn credentials(sign: SignMethod, secret: &str, client_id: &str) -> (String, String, String) {
    let c = Params::new(
        PRODUCT_KEY,
        DEVICE_NAME,
        Secret::new(secret.to_owned()),
        client_id,
        sign,
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

fn post_topic() -> String {
    format!("/sys/{PRODUCT_KEY}/{DEVICE_NAME}/thing/event/property/post")
}

const POST_BODY: &str =
    r#"{"id":"1","version":"1.0","params":{"Power":"on"},"method":"thing.event.property.post"}"#;

/// mosquitto_pub as the example device: a conforming property post plus `extra`.
fn mosquitto_pub(port: u16, creds: &(String, String, String), extra: &[&str]) {
    let (id, user, pw) = creds;
    let body: &[&str] = if extra.contains(&"-f") {
        &[]
    } else {
        &["-m", POST_BODY]
    };
    let _ = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args([
            "-i", id, "-u", user, "-P", pw, "-V", "mqttv311", "-k", "300",
        ])
        .args(["-q", "1", "-t", &post_topic()])
        .args(body)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("mosquitto_pub is installed (Debian package mosquitto-clients)");
}

/// The verdicts that did not pass, with their status.
fn flagged(verdicts: &[(String, String)]) -> Vec<(&str, &str)> {
    verdicts
        .iter()
        .filter(|(_, s)| s != "passed")
        .map(|(id, s)| (id.as_str(), s.as_str()))
        .collect()
}

fn start_cloud(tag: &str, devices: usize, extra: &[&str]) -> Cloud {
    let cloud = Cloud::start_suite("aliyun", tag, devices, extra);
    assert_eq!(cloud.ca, Path::new(""), "the aliyun endpoint is plain TCP");
    cloud
}

#[test]
fn conforming_devices_pass_every_rule() {
    let sha256 = credentials(
        SignMethod::HmacSha256,
        SECRET,
        &format!("{PRODUCT_KEY}.{DEVICE_NAME}"),
    );
    let md5 = credentials(SignMethod::HmacMd5, SECRET, "12345");
    let mut handles = Vec::new();
    // mosquitto_pub, signed with hmacsha256, hmacmd5, and hmacsha1 in lower-case hex.
    for (tag, creds) in [("pub-sha256", sha256.clone()), ("pub-md5", md5)] {
        handles.push(std::thread::spawn(move || {
            let cloud = start_cloud(tag, 1, &[]);
            mosquitto_pub(cloud.port, &creds, &[]);
            let verdicts = cloud.verdicts();
            assert!(verdicts.len() >= 10, "{tag}: {verdicts:?}");
            assert_eq!(flagged(&verdicts), vec![], "{tag}: {verdicts:?}");
        }));
    }
    handles.push(std::thread::spawn(|| {
        let cloud = start_cloud("pub-lowercase", 1, &[]);
        let (id, user, pw) = credentials(SignMethod::HmacSha1, SECRET, "dev-1");
        mosquitto_pub(cloud.port, &(id, user, pw.to_lowercase()), &[]);
        let verdicts = cloud.verdicts();
        assert_eq!(flagged(&verdicts), vec![], "lower-case hex: {verdicts:?}");
    }));
    // The Link SDK 4.x vector of the rule catalogue, as literal bytes.
    handles.push(std::thread::spawn(|| {
        let cloud = start_cloud("pub-sdk4-vector", 1, &[]);
        let creds = (
            format!("{PRODUCT_KEY}.{DEVICE_NAME}|timestamp=2524608000000,_ss=1,_v=sdk-c-4.0.0,securemode=2,signmethod=hmacsha256,ext=3,|"),
            format!("{DEVICE_NAME}&{PRODUCT_KEY}"),
            "D424B916B09BF84DE629916A6EEDDA5325E81485DC5F48612A277F75D3917E5C".to_owned(),
        );
        mosquitto_pub(cloud.port, &creds, &[]);
        let verdicts = cloud.verdicts();
        assert!(verdicts.iter().any(|(id, _)| id == "ALI-AUTH-03"), "{verdicts:?}");
        assert_eq!(flagged(&verdicts), vec![], "SDK 4.x vector: {verdicts:?}");
    }));
    // mosquitto_sub on the downlink topics.
    handles.push(std::thread::spawn(move || {
        let cloud = start_cloud("sub", 1, &[]);
        let (id, user, pw) = credentials(SignMethod::HmacSha1, SECRET, "sub-1");
        let _ = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &cloud.port.to_string()])
            .args([
                "-i", &id, "-u", &user, "-P", &pw, "-V", "mqttv311", "-k", "600",
            ])
            .args(["-q", "1", "-E", "-W", "10"])
            .args([
                "-t",
                &format!("/sys/{PRODUCT_KEY}/{DEVICE_NAME}/thing/service/property/set"),
            ])
            .args([
                "-t",
                &format!("/sys/{PRODUCT_KEY}/{DEVICE_NAME}/rrpc/request/+"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("mosquitto_sub is installed");
        let verdicts = cloud.verdicts();
        assert!(
            verdicts.iter().any(|(id, _)| id == "ALI-TOPIC-04"),
            "{verdicts:?}"
        );
        assert_eq!(flagged(&verdicts), vec![], "mosquitto_sub: {verdicts:?}");
    }));
    // rumqttc in-process: subscribe, post, disconnect.
    let cloud = start_cloud("rumqttc", 1, &[]);
    let (id, user, pw) = sha256;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut options = rumqttc::MqttOptions::new(id, "127.0.0.1", cloud.port);
        options.set_credentials(user, pw);
        options.set_keep_alive(Duration::from_secs(300));
        let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 10);
        client
            .subscribe(
                format!("/sys/{PRODUCT_KEY}/{DEVICE_NAME}/thing/event/property/post_reply"),
                rumqttc::QoS::AtLeastOnce,
            )
            .await
            .unwrap();
        client
            .publish(post_topic(), rumqttc::QoS::AtLeastOnce, false, POST_BODY)
            .await
            .unwrap();
        let mut acked = (false, false);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !(acked.0 && acked.1) {
            let event = tokio::time::timeout_at(deadline, eventloop.poll())
                .await
                .expect("rumqttc events in time")
                .expect("connected");
            match event {
                rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)) => acked.0 = true,
                rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_)) => acked.1 = true,
                _ => {}
            }
        }
        client.disconnect().await.unwrap();
        while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(2), eventloop.poll()).await {
        }
    });
    let verdicts = cloud.verdicts();
    assert_eq!(flagged(&verdicts), vec![], "rumqttc: {verdicts:?}");
    for h in handles {
        h.join().expect("a conforming device passed");
    }
}

#[test]
fn each_violation_is_flagged_with_exactly_its_rule() {
    let big = temp_dir("aliyun-big").join("payload.bin");
    std::fs::write(&big, vec![b'x'; 262_145]).expect("payload file");
    let big_arg = big.to_string_lossy().into_owned();
    let other = format!("/sys/{PRODUCT_KEY}/someotherdevice/thing/event/property/post");
    let good = credentials(SignMethod::HmacSha256, SECRET, "v1");
    let wrong = credentials(SignMethod::HmacSha256, "0000000000000000", "v1");
    let cases: Vec<(&str, Vec<String>, Creds, &str, &str)> = vec![
        (
            "will",
            vec![
                "--will-topic".into(),
                post_topic(),
                "--will-payload".into(),
                "bye".into(),
            ],
            good.clone(),
            "ALI-FLAG-01",
            "failed",
        ),
        (
            "retain",
            vec!["-r".into()],
            good.clone(),
            "ALI-FLAG-01",
            "failed",
        ),
        (
            "qos2",
            vec!["-q".into(), "2".into()],
            good.clone(),
            "ALI-QOS-01",
            "failed",
        ),
        (
            "foreign-topic",
            vec!["-t".into(), other],
            good.clone(),
            "ALI-TOPIC-01",
            "failed",
        ),
        (
            "too-large",
            vec![
                "-t".into(),
                format!("/{PRODUCT_KEY}/{DEVICE_NAME}/user/update"),
                "-f".into(),
                big_arg,
            ],
            good.clone(),
            "ALI-SIZE-01",
            "failed",
        ),
        (
            "keepalive10",
            vec!["-k".into(), "10".into()],
            good.clone(),
            "ALI-KA-01",
            "failed",
        ),
        ("wrong-signature", vec![], wrong, "ALI-AUTH-03", "failed"),
    ];
    let handles: Vec<_> = cases
        .into_iter()
        .map(|(tag, extra, creds, rule, status)| {
            std::thread::spawn(move || {
                let cloud = start_cloud(tag, 1, &[]);
                let refs: Vec<&str> = extra.iter().map(String::as_str).collect();
                mosquitto_pub(cloud.port, &creds, &refs);
                let verdicts = cloud.verdicts();
                let mut want = vec![(rule, status)];
                // Whether the content signed is the one announced cannot be told from a
                // wrong signature.
                if tag == "wrong-signature" {
                    want.push(("ALI-AUTH-05", "inconclusive"));
                }
                assert_eq!(flagged(&verdicts), want, "{tag}: {verdicts:?}");
            })
        })
        .collect();
    for h in handles {
        h.join().expect("each violation flagged with its rule");
    }
    remove_temp_dir_of(&big);
}

#[test]
fn a_capture_of_device_mode_sessions_gets_the_live_verdicts() {
    let dir = temp_dir("aliyun-capture");
    let capture = dir.join("live.pcapng");
    let capture_arg = capture.to_string_lossy().into_owned();
    let cloud = start_cloud("capture", 3, &["--capture", &capture_arg]);
    let good = credentials(SignMethod::HmacSha1, SECRET, "cap-1");
    mosquitto_pub(cloud.port, &good, &[]);
    // The retained publish, which the cloud answers by closing, comes last: a device
    // reconnecting at once after that close would (rightly) draw ALI-SESS-01-BACKOFF.
    let other = format!("/sys/{PRODUCT_KEY}/someotherdevice/thing/event/property/post");
    mosquitto_pub(cloud.port, &good, &["-t", &other]);
    mosquitto_pub(cloud.port, &good, &["-r"]);
    let live_cases = cloud.cases();
    let live = worst(&live_cases);
    let flags: Vec<(&str, &str)> = live
        .iter()
        .filter(|(_, s)| s.as_str() != "passed")
        .map(|(i, s)| (i.as_str(), s.as_str()))
        .collect();
    let flagged_cases: Vec<&Value> = live_cases
        .iter()
        .filter(|c| c["verdict"]["status"] != "passed")
        .collect();
    assert_eq!(
        flags,
        vec![("ALI-FLAG-01", "failed"), ("ALI-TOPIC-01", "failed")],
        "{flagged_cases:#?}"
    );
    let recorded = judge_capture("aliyun", &[&capture], &[], &[SECRET]);
    let groups = recorded["suites"].as_array().expect("suites").clone();
    let device_groups: Vec<&Value> = groups
        .iter()
        .filter(|g| g["name"].as_str().unwrap_or_default().starts_with("cap-1|"))
        .collect();
    assert_eq!(
        device_groups.len(),
        3,
        "one group per connection: {groups:#?}"
    );
    let from_capture = worst(
        device_groups
            .iter()
            .flat_map(|g| g["cases"].as_array().expect("cases")),
    );
    assert_eq!(from_capture, live);
    let _ = std::fs::remove_dir_all(&dir);
}

/// One connection per device certificate (ALI-SESS-01): a second login with the device's
/// credentials under another client id ends the first, and the rule passes on that
/// evidence.
#[test]
fn a_second_login_of_the_device_under_another_client_id_ends_the_first() {
    let cloud = start_cloud("one-per-device", 2, &[]);
    let (id, user, pw) = credentials(SignMethod::HmacSha256, SECRET, "first");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ended = rt.block_on(async {
        let mut options = rumqttc::MqttOptions::new(id, "127.0.0.1", cloud.port);
        options.set_credentials(user, pw);
        options.set_keep_alive(Duration::from_secs(300));
        let (_client, mut eventloop) = rumqttc::AsyncClient::new(options, 10);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut second_sent = false;
        loop {
            let event = tokio::time::timeout_at(deadline, eventloop.poll())
                .await
                .expect("the first login ends in time");
            match event {
                // Logged in: the same device logs in again under another client id.
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) if !second_sent => {
                    second_sent = true;
                    let port = cloud.port;
                    tokio::task::spawn_blocking(move || {
                        mosquitto_pub(
                            port,
                            &credentials(SignMethod::HmacSha256, SECRET, "second"),
                            &[],
                        );
                    });
                }
                Ok(_) => {}
                Err(e) => break e.to_string(),
            }
        }
    });
    let groups = cloud.verdicts_by_device();
    let (_, verdicts) = groups
        .iter()
        .find(|(name, _)| name.starts_with("first|"))
        .unwrap_or_else(|| panic!("the first login is reported ({ended}): {groups:?}"));
    assert!(
        verdicts
            .iter()
            .any(|(rule, status)| rule == "ALI-SESS-01" && status == "passed"),
        "{groups:?}"
    );
    for (name, verdicts) in &groups {
        assert_eq!(flagged(verdicts), Vec::new(), "{name}: {groups:?}");
    }
}

// ---------------------------------------------------------------- device tests

/// The device tests' cases for `id` in the cloud's JSON report (after the run ended).
fn device_test_case(cloud: Cloud, id: &str) -> Value {
    cloud
        .cases()
        .into_iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no case {id}"))
}

/// A generic client (mosquitto_sub, no `_ss=1`) subscribed to its post replies only: the
/// property set the cloud publishes matches none of its subscriptions and never reaches
/// it. The console says the cloud *published* the command, on the topic with its
/// placeholders filled, and the test is inconclusive for want of a delivery rather than
/// warned for a reply the device could not give.
#[test]
fn a_device_test_command_that_reaches_no_subscription_is_inconclusive() {
    let cloud = start_cloud(
        "command-undelivered",
        1,
        &["--device-tests", "--exact", "ALI-TOPIC-01-PROPERTY-SET"],
    );
    let (id, user, pw) = credentials(SignMethod::HmacSha1, SECRET, "generic-1");
    let mut device = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &cloud.port.to_string()])
        .args([
            "-i", &id, "-u", &user, "-P", &pw, "-V", "mqttv311", "-k", "300", "-q", "1",
        ])
        .args([
            "-t",
            &format!("/sys/{PRODUCT_KEY}/{DEVICE_NAME}/thing/event/+/post_reply"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto_sub is installed");
    let acted = cloud.wait_for_line(
        "ALI-TOPIC-01-PROPERTY-SET: the cloud",
        Duration::from_secs(20),
    );
    assert!(
        acted.contains(&format!(
            "the cloud published a command on /sys/{PRODUCT_KEY}/{DEVICE_NAME}/thing/service/property/set at QoS 1"
        )),
        "{acted}"
    );
    // The reply window is 10 s.
    let decided = cloud.wait_for_line("ALI-TOPIC-01-PROPERTY-SET ...", Duration::from_secs(30));
    let _ = device.kill();
    let _ = device.wait();
    assert!(!decided.contains("${"), "{decided}");
    let case = device_test_case(cloud, "ALI-TOPIC-01-PROPERTY-SET");
    assert_eq!(case["verdict"]["status"], "inconclusive", "{case}");
    let message = case["verdict"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "the command on /sys/{PRODUCT_KEY}/{DEVICE_NAME}/thing/service/property/set was never delivered"
        )),
        "{case}"
    );
}

/// A device on Alibaba's Link SDK, played by paho-mqtt: `_ss=1` among its client id's
/// parameters and no SUBSCRIBE at all. It publishes a property post, waits (at most
/// `limit_s`) for a message on each topic of `wait_for`, and answers a property set on
/// `…/set_reply` as the SDK does; every message it receives is printed as
/// `RECEIVED <topic> <payload>`.
const LINK_SDK_DEVICE: &str = r#"
import json, sys, time
import paho.mqtt.client as mqtt
host, port, cid, user, pw, pk, dn, limit_s = sys.argv[1:9]
wait_for = set(sys.argv[9:])
prefix = f"/sys/{pk}/{dn}/thing/"
def on_message(client, userdata, msg):
    print("RECEIVED", msg.topic, msg.payload.decode(), flush=True)
    wait_for.discard(msg.topic)
    if msg.topic == prefix + "service/property/set":
        request = json.loads(msg.payload)
        reply = {"id": request["id"], "code": 200, "data": {}}
        client.publish(prefix + "service/property/set_reply", json.dumps(reply), qos=1)
client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv311)
client.username_pw_set(user, pw)
client.on_message = on_message
client.connect(host, int(port), keepalive=300)
client.loop_start()
post = {"id": "1", "version": "1.0", "params": {"Power": "on"}, "method": "thing.event.property.post"}
client.publish(prefix + "event/property/post", json.dumps(post), qos=1).wait_for_publish(5)
deadline = time.monotonic() + float(limit_s)
while wait_for and time.monotonic() < deadline:
    time.sleep(0.02)
client.disconnect()
client.loop_stop()
"#;

/// ALI-TOPIC-06: the platform subscribes a Link SDK device (`_ss=1`) to its system
/// downlink topics. The paho-mqtt device above never subscribes, yet it gets the reply to
/// its property post and the property set of the device test, which it answers: the
/// device test passes and no rule flags the device.
#[test]
fn a_link_sdk_device_is_subscribed_by_the_platform() {
    let cloud = start_cloud(
        "link-sdk-auto-subscribe",
        1,
        &["--device-tests", "--exact", "ALI-TOPIC-01-PROPERTY-SET"],
    );
    let (id, user, pw) = credentials(
        SignMethod::HmacSha256,
        SECRET,
        &format!("{PRODUCT_KEY}.{DEVICE_NAME}"),
    );
    let id = id.replacen('|', "|_ss=1,_v=sdk-c-4.0.0,", 1);
    assert!(id.contains("|_ss=1,_v=sdk-c-4.0.0,securemode=3,"), "{id}");
    let post_reply = format!("/sys/{PRODUCT_KEY}/{DEVICE_NAME}/thing/event/property/post_reply");
    let property_set = format!("/sys/{PRODUCT_KEY}/{DEVICE_NAME}/thing/service/property/set");
    let out = Command::new("python3")
        .args(["-c", LINK_SDK_DEVICE, "127.0.0.1", &cloud.port.to_string()])
        .args([&id, &user, &pw, PRODUCT_KEY, DEVICE_NAME, "15"])
        .args([&post_reply, &property_set])
        .stderr(Stdio::inherit())
        .output()
        .expect("python3 with paho-mqtt is installed");
    let received = String::from_utf8_lossy(&out.stdout);
    let reply_line = received
        .lines()
        .find(|l| l.starts_with(&format!("RECEIVED {post_reply} ")))
        .unwrap_or_else(|| panic!("no property post reply: {received}"));
    let reply: Value =
        serde_json::from_str(reply_line.splitn(3, ' ').nth(2).unwrap_or_default()).expect("JSON");
    assert_eq!(
        (&reply["id"], &reply["code"]),
        (&Value::from("1"), &Value::from(200)),
        "{reply}"
    );
    assert!(
        received.contains(&format!("RECEIVED {property_set} ")),
        "no property set: {received}"
    );
    let cases = cloud.cases();
    let command = cases
        .iter()
        .find(|c| c["id"] == "ALI-TOPIC-01-PROPERTY-SET")
        .expect("the device test ran");
    assert_eq!(command["verdict"]["status"], "passed", "{command}");
    let flagged: Vec<&Value> = cases
        .iter()
        .filter(|c| c["verdict"]["status"] != "passed")
        .collect();
    assert!(flagged.is_empty(), "{flagged:#?}");
}
