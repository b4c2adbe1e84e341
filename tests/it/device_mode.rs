//! Device mode with real devices: mosquitto_pub / mosquitto_sub and rumqttc connect to
//! `mqtt-conform --suite tuya --listen` with real Tuya credentials over TLS. Conforming
//! devices pass every rule; each violation is flagged with exactly its rule id.

use crate::support::cloud;

use cloud::{Cloud, DEVICE_ID, SECRET, credentials};
use mqtt_conform::auth::tuya::SignMethod;
use mqtt_conform::suite::timing::DEVICE_TIMER_TOLERANCE;
use rustls::pki_types::pem::PemObject;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::Duration;

const REPORT_BODY: &str =
    r#"{"msgId":"1","time":1626197189638,"data":{"c":{"value":1,"time":1626197189638}}}"#;

fn mosquitto_pub(cloud: &Cloud, args: &[&str]) {
    let (id, user, pw) = credentials(SignMethod::HmacSha256, SECRET);
    let status = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &cloud.port.to_string(), "--cafile"])
        .arg(&cloud.ca)
        .args(["-i", &id, "-u", &user, "-P", &pw])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("mosquitto_pub is installed (Debian package mosquitto-clients)");
    let _ = status;
}

fn report_topic() -> String {
    format!("tylink/{DEVICE_ID}/thing/property/report")
}

/// The rules that did not pass.
fn flagged(verdicts: &[(String, String)]) -> Vec<&str> {
    verdicts
        .iter()
        .filter(|(_, s)| s != "passed")
        .map(|(id, _)| id.as_str())
        .collect()
}

#[test]
fn a_conforming_mosquitto_pub_passes_every_rule() {
    let cloud = Cloud::start("conforming-pub", 1, &[]);
    mosquitto_pub(
        &cloud,
        &[
            "-V",
            "mqttv311",
            "-k",
            "60",
            "-q",
            "1",
            "-t",
            &report_topic(),
            "-m",
            REPORT_BODY,
        ],
    );
    let verdicts = cloud.verdicts();
    assert!(verdicts.len() >= 10, "rules applied: {verdicts:?}");
    assert_eq!(flagged(&verdicts), Vec::<&str>::new(), "{verdicts:?}");
    // The Tuya suite extends mqtt-3.1.1: the device is judged on MQTT's client duties too.
    for inherited in ["MQTT-3.1.0-1", "MQTT-2.3.1-2", "MQTT-3.14.4-1"] {
        assert!(
            verdicts
                .iter()
                .any(|(id, status)| id == inherited && status == "passed"),
            "{inherited} judged: {verdicts:?}"
        );
    }
}

#[test]
fn a_conforming_mosquitto_sub_passes_every_rule() {
    let cloud = Cloud::start("conforming-sub", 1, &[]);
    let (id, user, pw) = credentials(SignMethod::HmacSha256, SECRET);
    let status = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &cloud.port.to_string(), "--cafile"])
        .arg(&cloud.ca)
        .args([
            "-i", &id, "-u", &user, "-P", &pw, "-V", "mqttv311", "-k", "60", "-q", "1", "-E", "-W",
            "10",
        ])
        .args([
            "-t",
            &format!("tylink/{DEVICE_ID}/channel/downlink/auto_subscribe"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("mosquitto_sub is installed");
    let _ = status;
    let verdicts = cloud.verdicts();
    assert_eq!(flagged(&verdicts), Vec::<&str>::new(), "{verdicts:?}");
    assert!(
        verdicts.iter().any(|(id, _)| id == "TUYA-TOPIC-03"),
        "the subscription was judged: {verdicts:?}"
    );
}

#[test]
fn a_conforming_rumqttc_device_passes_every_rule() {
    let cloud = Cloud::start("conforming-rumqttc", 1, &[]);
    let ca_pem = std::fs::read(&cloud.ca).unwrap();
    let (id, user, pw) = credentials(SignMethod::HmacSha256, SECRET);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // Our own rustls configuration with the ring provider named explicitly.
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&ca_pem) {
            roots.add(cert.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut options = rumqttc::MqttOptions::new(id, "127.0.0.1", cloud.port);
        options.set_credentials(user, pw);
        options.set_keep_alive(Duration::from_secs(60));
        options.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(std::sync::Arc::new(config)),
        ));
        let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 10);
        client
            .subscribe(
                format!("tylink/{DEVICE_ID}/thing/property/set"),
                rumqttc::QoS::AtLeastOnce,
            )
            .await
            .unwrap();
        client
            .publish(
                report_topic(),
                rumqttc::QoS::AtLeastOnce,
                false,
                REPORT_BODY,
            )
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
    assert_eq!(flagged(&verdicts), Vec::<&str>::new(), "{verdicts:?}");
}

/// One violation per device; (what the device does, the rule it must be flagged by, how).
#[test]
fn each_violation_is_flagged_with_exactly_its_rule() {
    let topic = report_topic();
    let other = "tylink/someotherdevice00000/thing/property/report".to_owned();
    let cases: Vec<(&str, Vec<String>, &str, &str)> = vec![
        (
            "will",
            vec![
                "--will-topic".into(),
                topic.clone(),
                "--will-payload".into(),
                "bye".into(),
            ],
            "TUYA-FLAG-01",
            "warning",
        ),
        (
            "qos2",
            vec!["-q".into(), "2".into()],
            "TUYA-QOS-01",
            "failed",
        ),
        (
            "keepalive10",
            vec!["-k".into(), "10".into()],
            "TUYA-KA-01",
            "failed",
        ),
        (
            "foreign-topic",
            vec!["-t".into(), other],
            "TUYA-TOPIC-01",
            "failed",
        ),
        (
            "mqtt5",
            vec!["-V".into(), "mqttv5".into()],
            "TUYA-VER-01",
            "failed",
        ),
        ("retain", vec!["-r".into()], "TUYA-FLAG-01", "warning"),
    ];
    let mut handles = Vec::new();
    for (tag, extra, rule, status) in cases {
        let topic = topic.clone();
        handles.push(std::thread::spawn(move || {
            let cloud = Cloud::start(tag, 1, &[]);
            let mut args: Vec<String> = vec![
                "-V".into(),
                "mqttv311".into(),
                "-k".into(),
                "60".into(),
                "-q".into(),
                "1".into(),
                "-t".into(),
                topic,
                "-m".into(),
                REPORT_BODY.into(),
            ];
            args.extend(extra);
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            mosquitto_pub(&cloud, &refs);
            let verdicts = cloud.verdicts();
            let bad: Vec<(&str, &str)> = verdicts
                .iter()
                .filter(|(_, s)| s != "passed")
                .map(|(i, s)| (i.as_str(), s.as_str()))
                .collect();
            assert_eq!(bad, vec![(rule, status)], "{tag}: {verdicts:?}");
        }));
    }
    // A wrong signature: the cloud refuses the login, and only the signature rule is flagged;
    // whether the timestamp is the one signed cannot be told from a wrong signature.
    handles.push(std::thread::spawn(|| {
        let cloud = Cloud::start("wrong-signature", 1, &[]);
        let (id, user, pw) = credentials(SignMethod::HmacSha256, "0000000000000000");
        let _ = Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &cloud.port.to_string(), "--cafile"])
            .arg(&cloud.ca)
            .args([
                "-i",
                &id,
                "-u",
                &user,
                "-P",
                &pw,
                "-V",
                "mqttv311",
                "-t",
                &report_topic(),
                "-m",
                REPORT_BODY,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let verdicts = cloud.verdicts();
        let bad: Vec<(&str, &str)> = verdicts
            .iter()
            .filter(|(_, s)| s != "passed")
            .map(|(i, s)| (i.as_str(), s.as_str()))
            .collect();
        assert_eq!(
            bad,
            vec![("TUYA-AUTH-03", "failed"), ("TUYA-AUTH-05", "inconclusive")],
            "wrong signature: {verdicts:?}"
        );
    }));
    for h in handles {
        h.join().expect("scenario passed");
    }
}

/// The number of seconds in `text` right after `prefix` (e.g. "reconnected " → 1.004).
fn seconds_after(text: &str, prefix: &str) -> f64 {
    let rest = text
        .split(prefix)
        .nth(1)
        .unwrap_or_else(|| panic!("`{prefix}` not in {text:?}"));
    let number: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    number
        .parse()
        .unwrap_or_else(|_| panic!("no number after `{prefix}` in {text:?}"))
}

fn case<'a>(cases: &'a [Value], id: &str) -> &'a Value {
    cases
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no case {id} in {cases:?}"))
}

/// The cloud drops a real device (mosquitto_sub, which reconnects after 1 s), then withholds
/// PINGRESP (mosquitto_sub, Keep Alive 5 s, gives up one Keep Alive after its unanswered
/// PINGREQ): both device tests report what they measured, and their verdicts agree with it.
#[test]
fn device_tests_withhold_pingresp_and_drop_the_connection_with_measured_timings() {
    let cloud = Cloud::start(
        "scenarios",
        1,
        &[
            "--device-tests",
            "--exact",
            "TUYA-SESS-01-DROPPED",
            "TUYA-KA-02-NO-PINGRESP",
        ],
    );
    let (id, user, pw) = credentials(SignMethod::HmacSha256, SECRET);
    let mut device = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &cloud.port.to_string(), "--cafile"])
        .arg(&cloud.ca)
        .args([
            "-i", &id, "-u", &user, "-P", &pw, "-V", "mqttv311", "-k", "5", "-q", "1",
        ])
        .args(["-t", &format!("tylink/{DEVICE_ID}/thing/property/set")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto_sub is installed");
    // The cloud's console tells when each test is decided; the device is stopped after the
    // last, which ends the run (--devices 1).
    cloud.wait_for_line("TUYA-SESS-01-DROPPED ...", Duration::from_secs(20));
    cloud.wait_for_line("TUYA-KA-02-NO-PINGRESP ...", Duration::from_secs(40));
    let _ = device.kill();
    let _ = device.wait();
    let cases = cloud.cases();

    let dropped = case(&cases, "TUYA-SESS-01-DROPPED");
    let measured = dropped["measured"].as_str().expect("a measurement");
    let backoff = seconds_after(measured, "reconnected ");
    assert!(
        (0.5..10.0).contains(&backoff),
        "mosquitto_sub reconnects after its 1 s delay: {measured}"
    );
    // A reconnect up to the device timer tolerance early still passes: the device times from
    // when it sees the close, a network away.
    let earliest = 1.0 - DEVICE_TIMER_TOLERANCE.as_secs_f64();
    let status = dropped["verdict"]["status"].as_str().unwrap();
    assert_eq!(
        status,
        if backoff >= earliest {
            "passed"
        } else {
            "warning"
        },
        "{dropped}"
    );

    let no_ping = case(&cases, "TUYA-KA-02-NO-PINGRESP");
    let measured = no_ping["measured"].as_str().expect("a measurement");
    assert!(
        measured.contains("first PINGREQ left unanswered"),
        "{measured}"
    );
    let gave_up = seconds_after(measured, "closed the connection ");
    assert!(
        (3.0..8.5).contains(&gave_up),
        "libmosquitto closes one Keep Alive (5 s) after an unanswered PINGREQ: {measured}"
    );
    assert!(measured.contains("window ≤ 7.50 s"), "{measured}");
    let reconnect = seconds_after(measured, "reconnected ");
    let status = no_ping["verdict"]["status"].as_str().unwrap();
    let expected = if gave_up <= 7.5 && reconnect >= earliest {
        "passed"
    } else {
        "warning"
    };
    // The measurement gives times to 10 ms; the verdict was judged on the exact ones.
    let at_an_edge = (gave_up - 7.5).abs() < 0.01 || (reconnect - earliest).abs() < 0.01;
    if at_an_edge {
        assert!(["passed", "warning"].contains(&status), "{no_ping}");
    } else {
        assert_eq!(status, expected, "{no_ping}");
    }
}

/// The cloud delivers a property set to a subscribed rumqttc device that answers on
/// `…/set_response`; the test passes and says how long the answer took. A second run with
/// a device that never answers fails the same test as a warning (the rule is SDK-sourced).
#[test]
fn a_device_test_delivers_a_command_and_times_the_reply() {
    for answers in [true, false] {
        let cloud = Cloud::start(
            if answers { "command" } else { "command-silent" },
            1,
            &["--device-tests", "--exact", "TUYA-TOPIC-02-PROPERTY-SET"],
        );
        let ca_pem = std::fs::read(&cloud.ca).unwrap();
        let (id, user, pw) = credentials(SignMethod::HmacSha256, SECRET);
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&ca_pem) {
                roots.add(cert.unwrap()).unwrap();
            }
            let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
            let mut options = rumqttc::MqttOptions::new(id, "127.0.0.1", cloud.port);
            options.set_credentials(user, pw);
            options.set_keep_alive(Duration::from_secs(60));
            options.set_transport(rumqttc::Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(std::sync::Arc::new(config)),
            ));
            let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 10);
            client
                .subscribe(
                    format!("tylink/{DEVICE_ID}/thing/property/set"),
                    rumqttc::QoS::AtLeastOnce,
                )
                .await
                .unwrap();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            loop {
                let event = tokio::time::timeout_at(deadline, eventloop.poll())
                    .await
                    .expect("the command arrives in time")
                    .expect("connected");
                if let rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) = event {
                    let command: Value = serde_json::from_slice(&p.payload).unwrap();
                    assert_eq!(command["data"]["switch"], true, "{command}");
                    if answers {
                        let reply = serde_json::json!({
                            "msgId": command["msgId"], "time": command["time"], "code": 0
                        });
                        client
                            .publish(
                                format!("tylink/{DEVICE_ID}/thing/property/set_response"),
                                rumqttc::QoS::AtLeastOnce,
                                false,
                                reply.to_string(),
                            )
                            .await
                            .unwrap();
                    }
                    break;
                }
            }
            // Keep the connection served until the cloud has its verdict (10 s window when
            // the device stays silent).
            let decided = tokio::task::spawn_blocking(move || {
                cloud.wait_for_line("TUYA-TOPIC-02-PROPERTY-SET ...", Duration::from_secs(20));
                cloud
            });
            tokio::pin!(decided);
            let cloud = loop {
                tokio::select! {
                    done = &mut decided => break done.unwrap(),
                    _ = eventloop.poll() => {}
                }
            };
            client.disconnect().await.unwrap();
            while let Ok(Ok(_)) =
                tokio::time::timeout(Duration::from_secs(2), eventloop.poll()).await
            {}
            let cases = cloud.cases();
            let command = case(&cases, "TUYA-TOPIC-02-PROPERTY-SET");
            let status = command["verdict"]["status"].as_str().unwrap();
            let measured = command["measured"].as_str().expect("a measurement");
            assert!(measured.contains("command delivered"), "{measured}");
            if answers {
                assert_eq!(status, "passed", "{command}");
                let after = seconds_after(measured, "replied after ");
                assert!(after < 10.0, "{measured}");
            } else {
                assert_eq!(status, "warning", "{command}");
                assert!(
                    measured.contains(&format!(
                        "no reply on tylink/{DEVICE_ID}/thing/property/set_response within 10.00 s"
                    )),
                    "{measured}"
                );
            }
        });
    }
}

/// An MQTT 5.0 device is judged too: mosquitto_pub speaking 5.0 passes the 5.0 suite's
/// rules, and a device whose SUBSCRIBE sets reserved option bits fails the well-formedness
/// rule.
#[test]
fn a_mqtt5_device_is_judged_on_the_mqtt5_rules() {
    let cloud = Cloud::start_suite("mqtt-5", "mqtt5-pub", 1, &[]);
    let _ = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &cloud.port.to_string()])
        .args(["-V", "mqttv5", "-k", "60", "-q", "1", "-i", "m5-pub"])
        .args(["-t", "m5/telemetry", "-m", "hello"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("mosquitto_pub is installed");
    let verdicts = cloud.verdicts();
    assert!(
        verdicts
            .iter()
            .any(|(id, s)| id == "MQTT5-WELL-FORMED" && s == "passed"),
        "{verdicts:?}"
    );
    assert_eq!(flagged(&verdicts), Vec::<&str>::new(), "{verdicts:?}");

    let cloud = Cloud::start_suite("mqtt-5", "mqtt5-malformed", 1, &[]);
    {
        use std::io::{Read, Write};
        let mut device =
            std::net::TcpStream::connect(("127.0.0.1", cloud.port)).expect("the cloud listens");
        device
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // CONNECT (5.0, Clean Start, Keep Alive 60, client id "m5"), then a SUBSCRIBE to
        // "a/b" whose options set the reserved bits 6 and 7.
        device
            .write_all(&[
                0x10, 0x0f, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02, 0x00, 0x3c, 0x00, 0x00,
                0x02, b'm', b'5', 0x82, 0x09, 0x00, 0x01, 0x00, 0x00, 0x03, b'a', b'/', b'b', 0xc1,
            ])
            .unwrap();
        // Read until the cloud closes the connection.
        let mut sink = [0u8; 256];
        while matches!(device.read(&mut sink), Ok(n) if n > 0) {}
    }
    let verdicts = cloud.verdicts();
    assert_eq!(
        flagged(&verdicts),
        vec!["MQTT5-WELL-FORMED"],
        "{verdicts:?}"
    );
}

/// Opens a connection to the cloud, writes `bytes` and reads until the cloud closes it.
fn raw_connection(cloud: &Cloud, bytes: &[u8]) {
    use std::io::{Read, Write};
    let mut conn =
        std::net::TcpStream::connect(("127.0.0.1", cloud.port)).expect("the cloud listens");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    if bytes.is_empty() {
        return;
    }
    conn.write_all(bytes).unwrap();
    let mut sink = [0u8; 256];
    while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
}

fn case_in<'a>(groups: &'a [(String, Vec<Value>)], id: &str) -> &'a Value {
    groups
        .iter()
        .flat_map(|(_, cases)| cases)
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no case {id} in {groups:?}"))
}

/// A run in which no device logged in (a failed TLS handshake, a connection that sends
/// nothing) judged nothing: it fails with exit code 3 and says why; the connections are
/// summarised in one inconclusive case, `<skipped>` in JUnit, not a group each.
#[test]
fn a_run_without_a_login_fails_and_summarises_the_connections() {
    let cloud = Cloud::start("no-login", 2, &[]);
    // Not TLS: the handshake fails.
    raw_connection(&cloud, b"GET / HTTP/1.0\r\n\r\n");
    // Opens and closes without a byte.
    raw_connection(&cloud, b"");
    let run = cloud.finish();
    assert_eq!(run.exit_code, Some(3), "{:?}", run.groups);
    let names: Vec<&str> = run.groups.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["device mode", "connections without CONNECT"],
        "{:?}",
        run.groups
    );
    let login = case_in(&run.groups, "DEVICE-LOGIN");
    assert_eq!(login["verdict"]["status"], "failed");
    let message = login["verdict"]["message"].as_str().unwrap();
    assert!(
        message.contains("no device logged in: 2 connection(s) opened, 0 CONNECT(s)"),
        "{message}"
    );
    assert!(message.contains("TLS handshake"), "{message}");
    let summary = case_in(&run.groups, "CONNECTIONS-WITHOUT-CONNECT");
    assert_eq!(summary["verdict"]["status"], "inconclusive");
    let message = summary["verdict"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("2 connection(s) never sent a CONNECT"),
        "{message}"
    );
    assert!(!message.contains("capture"), "{message}");
    let junit = roxmltree::Document::parse(&run.junit).expect("JUnit parses");
    let testcase = |name: &str| {
        junit
            .descendants()
            .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(name))
            .unwrap_or_else(|| panic!("no testcase {name}"))
    };
    let has = |name: &str, tag: &str| testcase(name).children().any(|n| n.has_tag_name(tag));
    assert!(has("DEVICE-LOGIN", "failure"));
    assert!(has("CONNECTIONS-WITHOUT-CONNECT", "skipped"));
}

/// Health checks beside a device that logs in are summarised, and the run passes; a
/// CONNECT that does not decode is named as a refused CONNECT, never as a capture's edge.
#[test]
fn connections_without_a_login_beside_a_device_are_summarised() {
    let cloud = Cloud::start_suite("mqtt-3.1.1", "health-checks", 4, &[]);
    raw_connection(&cloud, b"");
    raw_connection(&cloud, b"");
    // Protocol level 9: the CONNECT does not decode.
    raw_connection(
        &cloud,
        &[
            0x10, 0x0e, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x09, 0x02, 0x00, 0x3c, 0x00, 0x02,
            b'z', b'9',
        ],
    );
    let _ = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &cloud.port.to_string()])
        .args([
            "-V", "mqttv311", "-k", "60", "-i", "hc-pub", "-t", "hc/t", "-m", "x",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("mosquitto_pub is installed");
    let run = cloud.finish();
    let names: Vec<&str> = run.groups.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"hc-pub"), "{names:?}");
    assert!(!names.contains(&"device mode"), "{names:?}");
    let summary = case_in(&run.groups, "CONNECTIONS-WITHOUT-CONNECT");
    let message = summary["verdict"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("2 connection(s) never sent a CONNECT"),
        "{message}"
    );
    // The refused CONNECT: its own group, the well-formedness rule failed, the others
    // inconclusive as a refused CONNECT.
    let (_, refused) = run
        .groups
        .iter()
        .find(|(_, cases)| {
            cases
                .iter()
                .any(|c| c["id"] == "MQTT311-WELL-FORMED" && c["verdict"]["status"] == "failed")
        })
        .expect("the undecodable CONNECT is flagged");
    let inconclusive: Vec<&Value> = refused
        .iter()
        .filter(|c| c["verdict"]["status"] == "inconclusive")
        .collect();
    assert!(!inconclusive.is_empty(), "{refused:?}");
    for c in inconclusive {
        let why = c["verdict"]["message"].as_str().unwrap();
        assert!(
            why.contains("CONNECT of this connection was refused"),
            "{why}"
        );
        assert!(!why.contains("capture"), "{why}");
    }
    assert_eq!(run.exit_code, Some(1), "{:?}", run.groups);
}

#[test]
fn a_plain_suite_without_a_client_id_accepts_devices_of_any_client_id() {
    let dir = cloud::temp_dir("plain-any-client-id");
    let suite = dir.join("plain.yaml");
    std::fs::write(
        &suite,
        "name: plain-any\nextends: mqtt-3.1.1\n\
         auth:\n  scheme: plain\n  params: { username: fleet, password: fleet-pass }\n",
    )
    .unwrap();
    let cloud = Cloud::start_suite(suite.to_str().unwrap(), "plain-any", 2, &[]);
    for id in ["sensor-1", "sensor-2"] {
        let status = Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &cloud.port.to_string()])
            .args(["-i", id, "-u", "fleet", "-P", "fleet-pass"])
            .args(["-t", "t/plain", "-q", "1", "-m", "hello"])
            .status()
            .expect("mosquitto_pub is installed (Debian package mosquitto-clients)");
        assert!(status.success(), "the cloud accepted {id}");
    }
    let by_device = cloud.verdicts_by_device();
    let names: Vec<&str> = by_device.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["sensor-1", "sensor-2"]);
    for (device, verdicts) in &by_device {
        assert!(
            verdicts.iter().all(|(id, _)| id != "PLAIN-AUTH-01"),
            "no client id is provisioned, so PLAIN-AUTH-01 is not reported: {device} {verdicts:?}"
        );
        assert!(flagged(verdicts).is_empty(), "{device} {verdicts:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_mqtt_3_1_1_cloud_refuses_a_5_0_connect() {
    let cloud = Cloud::start_suite("mqtt-3.1.1", "v311-refuses-v5", 1, &[]);
    let status = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &cloud.port.to_string()])
        .args([
            "-V",
            "mqttv5",
            "-i",
            "v5-device",
            "-t",
            "t/v5",
            "-m",
            "hello",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("mosquitto_pub is installed (Debian package mosquitto-clients)");
    assert!(!status.success(), "a 5.0 CONNECT is refused");
    let run = cloud.finish();
    // No device logged in: the run fails with exit code 3, naming the refusal.
    assert_eq!(run.exit_code, Some(3), "{}", run.junit);
    assert!(
        run.junit
            .contains("CONNACK 0x01: protocol 5.0 is not accepted by the profile"),
        "{}",
        run.junit
    );
}

/// A device that sends a packet only a server sends (a PINGRESP) is flagged by the suite's
/// protocol-errors rule, the one that judges what the specification calls a protocol error
/// without a statement number; the cloud closes, and the rule names the packet.
#[test]
fn a_server_packet_from_a_device_is_a_protocol_error_of_its_own_rule() {
    use crate::support::raw_device::RawDevice;
    use mqtt_conform::codec::{Packet, Properties, ProtocolVersion};
    for (version, suite, rule) in [
        (
            ProtocolVersion::V3_1_1,
            "mqtt-3.1.1",
            "MQTT311-PROTOCOL-ERRORS",
        ),
        (ProtocolVersion::V5, "mqtt-5", "MQTT5-PROTOCOL-ERRORS"),
    ] {
        let cloud = Cloud::start_suite(suite, "server-packet", 1, &[]);
        let (mut device, _) =
            RawDevice::login(&cloud, version, "server-packet", true, Properties::new());
        device.send(&Packet::PingResp);
        assert!(
            device.closed_by_cloud(),
            "the cloud closes on a protocol error"
        );
        let cases = cloud.cases();
        let failed: Vec<&str> = cases
            .iter()
            .filter(|c| c["verdict"]["status"] == "failed")
            .filter_map(|c| c["id"].as_str())
            .collect();
        assert_eq!(failed, [rule], "MQTT {version}");
        let message = cases
            .iter()
            .find(|c| c["id"] == rule)
            .and_then(|c| c["verdict"]["message"].as_str())
            .unwrap_or_default();
        assert!(
            message.contains("PINGRESP is a packet only a server sends"),
            "{message}"
        );
    }
}
