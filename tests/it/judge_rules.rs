//! The judge over events: each violation is flagged with exactly its rule id.

use bytes::Bytes;
use mqtt_conform::codec::*;
use mqtt_conform::event::{Event, EventKind, Side};
use mqtt_conform::judge::{AuthCheck, Grouping, Judge};
use mqtt_conform::report::Verdict;
use mqtt_conform::suite::vars::Vars;
use std::time::Duration;

const SUITE: &str = r#"
name: rules-demo
profile:
  protocols: ["3.1.1"]
  max_qos: 1
  keepalive: { min: 30, max: 1200, warn_below: 60, server_timeout: 2.5 }
  max_payload: 64
  topics:
    publish: ["tylink/${device_id}/thing/property/report", "tylink/${device_id}/thing/event/trigger"]
    subscribe: ["tylink/${device_id}/#"]
params:
  device_id: { example: d1 }
rules:
  - { id: R-VER, title: "MQTT 3.1.1 only", check: { protocol_version: {} } }
  - { id: R-KA, title: "keepalive 30-1200", check: { keepalive_range: {} } }
  - { id: R-WILL, title: "no will", status: SDK, check: no_will }
  - { id: R-CLEAN, title: "clean session", status: INF, check: clean_session }
  - { id: R-RETAIN, title: "no retain", status: NP, check: no_retain }
  - { id: R-QOS, title: "QoS 0/1", check: { max_qos: {} } }
  - { id: R-PUBTOPIC, title: "own uplink topics", check: publish_topics }
  - { id: R-SUBTOPIC, title: "own downlink topics", check: subscribe_topics }
  - { id: R-SIZE, title: "payload cap", check: { payload_size: {} } }
  - { id: R-SILENT, title: "idle devices ping", check: client_silence }
  - { id: R-JSON, title: "report body", check: { payload_json: { topics: ["tylink/+/thing/property/report"], schema: { type: object, required: [msgId, data] } } } }
tests: []
"#;

struct Feed {
    judge: Judge,
    version: ProtocolVersion,
}

impl Feed {
    fn new() -> Self {
        Self::of(SUITE)
    }

    fn of(suite_text: &str) -> Self {
        Self::with_auth(suite_text, None)
    }

    fn with_auth(suite_text: &str, auth: Option<AuthCheck>) -> Self {
        let suite =
            mqtt_conform::suite::load_str("rules-demo.yaml", suite_text).expect("suite loads");
        let mut vars = Vars::new();
        vars.set("device_id", "d1");
        Self {
            judge: Judge::new(&suite, vars, auth).expect("judge"),
            version: ProtocolVersion::V3_1_1,
        }
    }

    fn packet(&mut self, conn: u64, secs: f64, from: Side, packet: Packet) -> Vec<String> {
        if let Packet::Connect(c) = &packet {
            self.version = c.protocol;
        }
        let bytes = Bytes::from(encode_to_vec(&packet, self.version).expect("encodes"));
        let event = Event {
            conn,
            at: Duration::from_secs_f64(secs),
            from,
            kind: EventKind::Packet {
                packet: decode_packet(&bytes, self.version),
                bytes,
            },
        };
        self.judge
            .observe(&event)
            .into_iter()
            .map(|f| f.rule_id)
            .collect()
    }

    fn close(&mut self, conn: u64, secs: f64, by: Side) -> Vec<String> {
        let event = Event {
            conn,
            at: Duration::from_secs_f64(secs),
            from: by,
            kind: EventKind::Closed {
                by: Some(by),
                detail: "EOF".into(),
            },
        };
        self.judge
            .observe(&event)
            .into_iter()
            .map(|f| f.rule_id)
            .collect()
    }
}

fn connect(keepalive: u16) -> Connect {
    let mut c = Connect::new(ProtocolVersion::V3_1_1, "tuyalink_d1");
    c.keep_alive = keepalive;
    c
}

fn publish(topic: &str, qos: QoS, payload: &[u8]) -> Packet {
    let mut p = Publish::new(topic, Bytes::copy_from_slice(payload));
    p.qos = qos;
    p.packet_id = (qos != QoS::AtMostOnce).then_some(1);
    Packet::Publish(p)
}

/// Drives a judge and returns the rule ids flagged.
type Scenario = Box<dyn Fn(&mut Feed) -> Vec<String>>;

const GOOD_BODY: &[u8] = br#"{"msgId":"1","data":{}}"#;

#[test]
fn a_conforming_device_passes_every_rule_that_applied() {
    let mut f = Feed::new();
    assert!(
        f.packet(1, 0.0, Side::Client, Packet::Connect(connect(60).into()))
            .is_empty()
    );
    assert!(
        f.packet(
            1,
            1.0,
            Side::Client,
            publish(
                "tylink/d1/thing/property/report",
                QoS::AtLeastOnce,
                GOOD_BODY
            )
        )
        .is_empty()
    );
    let sub = Subscribe {
        packet_id: 2,
        properties: Properties::new(),
        subscriptions: vec![Subscription::new("tylink/d1/#", QoS::AtLeastOnce)],
    };
    assert!(
        f.packet(1, 2.0, Side::Client, Packet::Subscribe(sub))
            .is_empty()
    );
    assert!(f.packet(1, 50.0, Side::Client, Packet::PingReq).is_empty());
    assert!(
        f.packet(
            1,
            51.0,
            Side::Client,
            Packet::Disconnect(Disconnect::default())
        )
        .is_empty()
    );
    assert!(f.close(1, 51.0, Side::Client).is_empty());
    let groups = f.judge.finish(Grouping::ClientId);
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].name, "tuyalink_d1");
    for case in &groups[0].cases {
        assert_eq!(case.verdict, Verdict::Passed, "{}", case.id);
    }
    assert!(groups[0].cases.iter().any(|c| c.id == "R-JSON"));
}

#[test]
fn each_violation_is_flagged_with_exactly_its_rule() {
    let cases: Vec<(&str, Scenario)> = vec![
        (
            "R-VER",
            Box::new(|f| {
                let mut c = connect(60);
                c.protocol = ProtocolVersion::V5;
                f.packet(1, 0.0, Side::Client, Packet::Connect(c.into()))
            }),
        ),
        (
            "R-KA",
            Box::new(|f| f.packet(1, 0.0, Side::Client, Packet::Connect(connect(10).into()))),
        ),
        (
            "R-WILL",
            Box::new(|f| {
                let mut c = connect(60);
                c.will = Some(Will {
                    topic: "tylink/d1/x".into(),
                    payload: Bytes::new(),
                    qos: QoS::AtMostOnce,
                    retain: false,
                    properties: Properties::new(),
                });
                f.packet(1, 0.0, Side::Client, Packet::Connect(c.into()))
            }),
        ),
        (
            "R-CLEAN",
            Box::new(|f| {
                let mut c = connect(60);
                c.clean_session = false;
                f.packet(1, 0.0, Side::Client, Packet::Connect(c.into()))
            }),
        ),
        (
            "R-RETAIN",
            Box::new(|f| {
                f.packet(1, 0.0, Side::Client, Packet::Connect(connect(60).into()));
                let Packet::Publish(mut p) = publish(
                    "tylink/d1/thing/property/report",
                    QoS::AtMostOnce,
                    GOOD_BODY,
                ) else {
                    unreachable!()
                };
                p.retain = true;
                f.packet(1, 1.0, Side::Client, Packet::Publish(p))
            }),
        ),
        (
            "R-QOS",
            Box::new(|f| {
                f.packet(1, 0.0, Side::Client, Packet::Connect(connect(60).into()));
                f.packet(
                    1,
                    1.0,
                    Side::Client,
                    publish(
                        "tylink/d1/thing/property/report",
                        QoS::ExactlyOnce,
                        GOOD_BODY,
                    ),
                )
            }),
        ),
        (
            "R-PUBTOPIC",
            Box::new(|f| {
                f.packet(1, 0.0, Side::Client, Packet::Connect(connect(60).into()));
                f.packet(
                    1,
                    1.0,
                    Side::Client,
                    publish(
                        "tylink/d2/thing/property/report",
                        QoS::AtMostOnce,
                        GOOD_BODY,
                    ),
                )
            }),
        ),
        (
            "R-SUBTOPIC",
            Box::new(|f| {
                f.packet(1, 0.0, Side::Client, Packet::Connect(connect(60).into()));
                let sub = Subscribe {
                    packet_id: 2,
                    properties: Properties::new(),
                    subscriptions: vec![Subscription::new("tylink/d2/#", QoS::AtMostOnce)],
                };
                f.packet(1, 1.0, Side::Client, Packet::Subscribe(sub))
            }),
        ),
        (
            "R-SIZE",
            Box::new(|f| {
                f.packet(1, 0.0, Side::Client, Packet::Connect(connect(60).into()));
                f.packet(
                    1,
                    1.0,
                    Side::Client,
                    publish(
                        "tylink/d1/thing/event/trigger",
                        QoS::AtMostOnce,
                        &[b'x'; 65],
                    ),
                )
            }),
        ),
        (
            "R-JSON",
            Box::new(|f| {
                f.packet(1, 0.0, Side::Client, Packet::Connect(connect(60).into()));
                f.packet(
                    1,
                    1.0,
                    Side::Client,
                    publish(
                        "tylink/d1/thing/property/report",
                        QoS::AtMostOnce,
                        b"{\"msgId\":\"1\"}",
                    ),
                )
            }),
        ),
        (
            "R-SILENT",
            Box::new(|f| {
                f.packet(1, 0.0, Side::Client, Packet::Connect(connect(60).into()));
                f.close(1, 150.0, Side::Server)
            }),
        ),
    ];
    for (rule, scenario) in cases {
        let mut f = Feed::new();
        let flagged = scenario(&mut f);
        assert_eq!(flagged, [rule], "scenario for {rule}");
        let groups = f.judge.finish(Grouping::ClientId);
        let bad: Vec<(&str, &Verdict)> = groups[0]
            .cases
            .iter()
            .filter(|c| c.verdict != Verdict::Passed)
            .map(|c| (c.id.as_str(), &c.verdict))
            .collect();
        assert_eq!(bad.len(), 1, "{rule}: {bad:?}");
        assert_eq!(bad[0].0, rule);
        let expected_kind = match rule {
            "R-WILL" => "warning",
            "R-CLEAN" => "warning",
            "R-RETAIN" => "recorded",
            _ => "FAILED",
        };
        assert_eq!(bad[0].1.label(), expected_kind, "{rule}: {:?}", bad[0].1);
    }
}

#[test]
fn a_capture_without_connect_is_inconclusive_not_wrong() {
    let mut f = Feed::new();
    f.packet(
        7,
        0.0,
        Side::Client,
        publish(
            "tylink/d1/thing/property/report",
            QoS::AtMostOnce,
            GOOD_BODY,
        ),
    );
    let groups = f.judge.finish(Grouping::Connection);
    let ka = groups[0]
        .cases
        .iter()
        .find(|c| c.id == "R-KA")
        .expect("listed");
    assert_eq!(ka.verdict.label(), "inconclusive");
}

const SESSION_SUITE: &str = r#"
name: sessions-demo
profile:
  protocols: ["3.1.1"]
params:
  device_id: { example: d1 }
rules:
  - { id: R-ONE, title: "one connection per device", check: one_connection }
  - { id: R-BACKOFF, title: "1 s before reconnecting after a drop", check: { reconnect_backoff: { min_seconds: 1.0 } } }
tests: []
"#;

#[test]
fn a_reconnect_right_after_the_server_drops_the_device_is_flagged() {
    let mut f = Feed::of(SESSION_SUITE);
    f.packet(1, 0.0, Side::Client, Packet::Connect(connect(60).into()));
    assert!(f.close(1, 2.0, Side::Server).is_empty());
    assert_eq!(
        f.packet(2, 2.3, Side::Client, Packet::Connect(connect(60).into())),
        vec!["R-BACKOFF"]
    );
    // Only the first connection after the drop is the reconnect the rule times.
    f.packet(2, 2.4, Side::Client, Packet::Disconnect(Default::default()));
    f.close(2, 2.4, Side::Client);
    assert!(
        f.packet(3, 2.6, Side::Client, Packet::Connect(connect(60).into()))
            .is_empty()
    );
}

/// Real clients' 1 s reconnect delay is timed by the device from when it sees the close, a
/// network away from where we time it: a reconnect measured a few milliseconds under 1 s
/// holds, one beyond the stated tolerance (0.10 s) does not, and says what it allowed.
#[test]
fn a_reconnect_a_few_milliseconds_under_the_back_off_holds_within_the_tolerance() {
    let mut f = Feed::of(SESSION_SUITE);
    f.packet(1, 0.0, Side::Client, Packet::Connect(connect(60).into()));
    f.close(1, 2.0, Side::Server);
    assert!(
        f.packet(2, 2.995, Side::Client, Packet::Connect(connect(60).into()))
            .is_empty()
    );
    f.close(2, 4.0, Side::Server);
    assert_eq!(
        f.packet(3, 4.85, Side::Client, Packet::Connect(connect(60).into())),
        vec!["R-BACKOFF"]
    );
    let groups = f.judge.finish(Grouping::ClientId);
    let case = groups[0]
        .cases
        .iter()
        .find(|c| c.id == "R-BACKOFF")
        .expect("the back-off rule applied");
    let Verdict::Failed { message } = &case.verdict else {
        panic!("expected a failure, got {:?}", case.verdict);
    };
    assert!(
        message.contains("reconnected 0.85 s") && message.contains("less 0.10 s of tolerance"),
        "{message}"
    );
}

/// A connection closed because the device opened a newer one (a takeover) was not dropped
/// on a device waiting to reconnect: the device is already connected again, so its next
/// connection is not timed against that close.
#[test]
fn the_close_of_a_taken_over_connection_does_not_time_the_next_reconnect() {
    let mut f = Feed::of(SESSION_SUITE);
    f.packet(1, 0.0, Side::Client, Packet::Connect(connect(60).into()));
    assert!(
        f.packet(2, 1.0, Side::Client, Packet::Connect(connect(60).into()))
            .is_empty()
    );
    f.close(1, 1.01, Side::Server);
    f.packet(2, 1.1, Side::Client, Packet::Disconnect(Default::default()));
    f.close(2, 1.1, Side::Client);
    assert!(
        f.packet(3, 1.2, Side::Client, Packet::Connect(connect(60).into()))
            .is_empty()
    );
}

const KEEPALIVE_SUITE: &str = r#"
name: keepalive-demo
profile:
  keepalive: { server_timeout: 1.5, client_tolerance: 0.5 }
rules:
  - { id: R-SILENT, title: "idle devices ping", check: client_silence }
tests: []
"#;

/// Feeds a CONNECT with Keep Alive 5 s and a PINGREQ `gap` seconds later; returns the
/// rules flagged and the verdict with what was measured.
fn keepalive_5s_with_gap(gap: f64) -> (Vec<String>, Verdict, Option<String>) {
    let mut f = Feed::of(KEEPALIVE_SUITE);
    f.packet(1, 0.0, Side::Client, Packet::Connect(connect(5).into()));
    let flagged = f.packet(1, gap, Side::Client, Packet::PingReq);
    f.packet(
        1,
        gap + 0.1,
        Side::Client,
        Packet::Disconnect(Default::default()),
    );
    f.close(1, gap + 0.1, Side::Client);
    let groups = f.judge.finish(Grouping::ClientId);
    let case = groups[0]
        .cases
        .iter()
        .find(|c| c.id == "R-SILENT")
        .expect("the keep-alive rule applied")
        .clone();
    (flagged, case.verdict, case.measured)
}

/// Real clients ping once the Keep Alive has fully elapsed, and the gap is measured at the
/// far end of a network: a few milliseconds over the period pass, and the verdict states
/// the window, the measured gap and the tolerance.
#[test]
fn a_ping_just_after_the_keepalive_passes_with_the_window_stated() {
    let (flagged, verdict, measured) = keepalive_5s_with_gap(5.012);
    assert!(flagged.is_empty(), "{flagged:?}");
    assert_eq!(verdict, Verdict::Passed);
    let measured = measured.expect("the measured gap is reported");
    assert!(measured.contains("longest silence 5.012 s"), "{measured}");
    assert!(measured.contains("passes up to 5.50 s"), "{measured}");
    assert!(measured.contains("0.50 s tolerance"), "{measured}");
    assert!(measured.contains("fails from 7.50 s"), "{measured}");
}

/// Beyond the tolerance but before a server may drop the client (1.5 × Keep Alive) the
/// client is late, not yet cut off: a warning that says why.
#[test]
fn a_ping_beyond_the_tolerance_but_before_the_drop_point_is_a_warning() {
    let (flagged, verdict, _) = keepalive_5s_with_gap(6.5);
    assert!(flagged.is_empty(), "{flagged:?}");
    let Verdict::Warning { message } = &verdict else {
        panic!("expected a warning, got {verdict:?}");
    };
    assert!(message.contains("6.500 s of silence"), "{message}");
    assert!(
        message.contains("before a server may drop the client"),
        "{message}"
    );
}

/// From the point where a conforming server may drop the client the rule fails, with the
/// window in the message.
#[test]
fn silence_past_the_drop_point_fails_with_the_window_stated() {
    let (flagged, verdict, _) = keepalive_5s_with_gap(7.6);
    assert_eq!(flagged, ["R-SILENT"]);
    let Verdict::Failed { message } = &verdict else {
        panic!("expected a failure, got {verdict:?}");
    };
    assert!(message.contains("7.600 s of silence"), "{message}");
    assert!(
        message.contains("fails from 7.50 s (1.5 × keepalive"),
        "{message}"
    );
}

const CREDENTIAL_SUITE: &str = r#"
name: credentials-demo
rules:
  - { id: TUYA-AUTH-01, title: "client id", check: credentials }
  - { id: TUYA-AUTH-02, title: "user name", check: credentials }
  - { id: TUYA-AUTH-03, title: "signature", check: credentials }
  - { id: TUYA-AUTH-04, title: "signature length", check: credentials }
  - { id: TUYA-AUTH-05, title: "timestamp", check: credentials }
  - { id: WIOTP-AUTH-01, title: "client id form", check: credentials }
  - { id: WIOTP-AUTH-02, title: "client id components", check: credentials }
  - { id: WIOTP-AUTH-03, title: "device token", check: credentials }
  - { id: WIOTP-AUTH-04, title: "application API key", check: credentials }
tests: []
"#;

const TUYA_DEVICE: &str = "6c828cba434ff40c074wF2";

fn tuya_auth(with_identity: bool) -> AuthCheck {
    use mqtt_conform::auth::tuya::{Identity, SignMethod};
    AuthCheck {
        scheme: mqtt_conform::auth::Scheme::Tuya(SignMethod::HmacSha256),
        identity: with_identity.then(|| {
            mqtt_conform::auth::Identity::Tuya(Identity {
                device_id: TUYA_DEVICE.into(),
                device_secret: mqtt_conform::secret::Secret::new("ffad8eb66ae8c717".to_owned()),
            })
        }),
    }
}

/// The verdict label of each case whose id starts with `prefix`, after one CONNECT.
fn credential_verdicts(
    auth: AuthCheck,
    client_id: &str,
    username: &str,
    password: &str,
    prefix: &str,
) -> Vec<(String, String)> {
    let mut f = Feed::with_auth(CREDENTIAL_SUITE, Some(auth));
    let mut c = Connect::new(ProtocolVersion::V3_1_1, client_id);
    c.username = Some(username.into());
    c.password = Some(Bytes::copy_from_slice(password.as_bytes()));
    c.keep_alive = 60;
    f.packet(1, 0.0, Side::Client, Packet::Connect(c.into()));
    f.packet(1, 1.0, Side::Client, Packet::Disconnect(Default::default()));
    f.close(1, 1.0, Side::Client);
    let groups = f.judge.finish(Grouping::ClientId);
    groups[0]
        .cases
        .iter()
        .filter(|c| c.id.starts_with(prefix))
        .map(|c| (c.id.clone(), c.verdict.label().to_owned()))
        .collect()
}

fn pairs(want: &[(&str, &str)]) -> Vec<(String, String)> {
    want.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// A bare user name and an md5 password: the user name rule fails, and the rules the check
/// never reached are inconclusive, not passed.
#[test]
fn credential_rules_the_check_never_reached_are_inconclusive() {
    let verdicts = credential_verdicts(
        tuya_auth(true),
        &format!("tuyalink_{TUYA_DEVICE}"),
        TUYA_DEVICE,
        "5f4dcc3b5aa765d61d8327deb882cf99",
        "TUYA-",
    );
    assert_eq!(
        verdicts,
        pairs(&[
            ("TUYA-AUTH-01", "inconclusive"),
            ("TUYA-AUTH-02", "FAILED"),
            ("TUYA-AUTH-03", "inconclusive"),
            ("TUYA-AUTH-04", "inconclusive"),
            ("TUYA-AUTH-05", "inconclusive"),
        ])
    );
}

/// The signed HMAC-SHA256 credentials of the example Tuya device, at a fixed timestamp.
fn tuya_example_credentials() -> mqtt_conform::auth::Credentials {
    mqtt_conform::auth::tuya::Params {
        device_id: TUYA_DEVICE.into(),
        device_secret: mqtt_conform::secret::Secret::new("ffad8eb66ae8c717".to_owned()),
        timestamp: 1_700_000_000,
        sign_method: mqtt_conform::auth::tuya::SignMethod::HmacSha256,
    }
    .credentials()
}

/// Without the device's secret only the format is checked: the signature rules are
/// inconclusive, the format rules pass.
#[test]
fn signature_rules_without_the_secret_are_inconclusive() {
    let c = tuya_example_credentials();
    let (user, pw) = (c.username.unwrap(), c.password.unwrap());
    let without = credential_verdicts(tuya_auth(false), &c.client_id, &user, pw.expose(), "TUYA-");
    assert_eq!(
        without,
        pairs(&[
            ("TUYA-AUTH-01", "ok"),
            ("TUYA-AUTH-02", "ok"),
            ("TUYA-AUTH-03", "inconclusive"),
            ("TUYA-AUTH-04", "ok"),
            ("TUYA-AUTH-05", "inconclusive"),
        ])
    );
    let with = credential_verdicts(tuya_auth(true), &c.client_id, &user, pw.expose(), "TUYA-");
    assert!(with.iter().all(|(_, v)| v == "ok"), "{with:?}");
}

/// A device is not reported under the application rule, nor an application under the
/// device rule.
#[test]
fn a_credential_rule_of_another_identity_kind_is_not_reported() {
    let watson = || AuthCheck {
        scheme: mqtt_conform::auth::Scheme::Watson,
        identity: None,
    };
    let device = credential_verdicts(
        watson(),
        "d:abc123:sensor:dev1",
        "use-token-auth",
        "secret-token",
        "WIOTP-",
    );
    assert_eq!(
        device,
        pairs(&[
            ("WIOTP-AUTH-01", "ok"),
            ("WIOTP-AUTH-02", "ok"),
            ("WIOTP-AUTH-03", "inconclusive"),
        ])
    );
    let application = credential_verdicts(
        watson(),
        "a:abc123:app1",
        "a-abc123-xyz7890abc",
        "secret-token",
        "WIOTP-",
    );
    assert_eq!(
        application,
        pairs(&[
            ("WIOTP-AUTH-01", "ok"),
            ("WIOTP-AUTH-02", "ok"),
            ("WIOTP-AUTH-04", "inconclusive"),
        ])
    );
}

/// The built-in MQTT 5.0 suite's passive rules, over one 5.0 connection with Keep Alive 5 s
/// whose CONNACK sets `server_keep_alive`, pinging after `gap` seconds.
fn mqtt5_keepalive(server_keep_alive: Option<u16>, gap: f64) -> Vec<(String, String)> {
    let mut f = Feed::of("name: m5\nextends: mqtt-5\ninherit_tests: false\n");
    let mut c = connect(5);
    c.protocol = ProtocolVersion::V5;
    f.packet(1, 0.0, Side::Client, Packet::Connect(c.into()));
    let mut properties = Properties::new();
    if let Some(k) = server_keep_alive {
        properties = properties.with(
            PropertyId::ServerKeepAlive,
            PropertyValue::TwoByteInteger(k),
        );
    }
    f.packet(
        1,
        0.01,
        Side::Server,
        Packet::ConnAck(ConnAck {
            session_present: false,
            code: 0,
            properties,
        }),
    );
    f.packet(1, gap, Side::Client, Packet::PingReq);
    f.packet(
        1,
        gap + 0.1,
        Side::Client,
        Packet::Disconnect(Default::default()),
    );
    f.close(1, gap + 0.1, Side::Client);
    let groups = f.judge.finish(Grouping::ClientId);
    // The conduct rules the exchange also puts to the test are tested on their own.
    groups[0]
        .cases
        .iter()
        .filter(|c| ["MQTT5-WELL-FORMED", "MQTT-3.1.2-20"].contains(&c.id.as_str()))
        .map(|c| (c.id.clone(), c.verdict.label().to_owned()))
        .collect()
}

/// A 5.0 device is judged on what a 3.1.1 device is (well-formedness, keep-alive), and with
/// the Server Keep Alive of the CONNACK in place of its own (MQTT-3.1.2-21).
#[test]
fn a_mqtt5_device_is_judged_on_well_formedness_and_the_keepalive_in_force() {
    assert_eq!(
        mqtt5_keepalive(None, 5.01),
        pairs(&[("MQTT5-WELL-FORMED", "ok"), ("MQTT-3.1.2-20", "ok")])
    );
    assert_eq!(
        mqtt5_keepalive(None, 9.9),
        pairs(&[("MQTT5-WELL-FORMED", "ok"), ("MQTT-3.1.2-20", "FAILED")])
    );
    assert_eq!(
        mqtt5_keepalive(Some(10), 9.9),
        pairs(&[("MQTT5-WELL-FORMED", "ok"), ("MQTT-3.1.2-20", "ok")])
    );
}

fn connect_as(client_id: &str) -> Packet {
    let mut c = Connect::new(ProtocolVersion::V3_1_1, client_id);
    c.keep_alive = 60;
    Packet::Connect(c.into())
}

/// The one-connection rule's verdicts, over every connection.
fn one_connection_verdicts(f: Feed) -> Vec<Verdict> {
    f.judge
        .finish(Grouping::All)
        .iter()
        .flat_map(|g| g.cases.iter())
        .filter(|c| c.id == "R-ONE")
        .map(|c| c.verdict.clone())
        .collect()
}

/// Zero-length client ids are no identity (the server assigns each its own): a server that
/// closes one of two such connections has taken nothing over, and the rule has no evidence.
#[test]
fn connections_without_a_client_id_do_not_take_each_other_over() {
    let mut f = Feed::of(SESSION_SUITE);
    f.packet(1, 0.0, Side::Client, connect_as(""));
    f.packet(2, 0.5, Side::Client, connect_as(""));
    f.close(1, 1.0, Side::Server);
    assert_eq!(one_connection_verdicts(f), Vec::<Verdict>::new());
}

/// A taken-over connection the client closes itself shows nothing of the server before the
/// window ends, and a server breaking the rule once it has.
#[test]
fn a_taken_over_connection_the_client_closes_is_not_evidence_of_a_takeover() {
    let mut f = Feed::of(SESSION_SUITE);
    f.packet(1, 0.0, Side::Client, connect_as("k1"));
    f.packet(2, 1.0, Side::Client, connect_as("k1"));
    f.close(1, 1.5, Side::Client);
    let verdicts = one_connection_verdicts(f);
    assert_eq!(verdicts.len(), 1, "{verdicts:?}");
    assert_eq!(verdicts[0].label(), "inconclusive", "{verdicts:?}");

    let mut f = Feed::of(SESSION_SUITE);
    f.packet(1, 0.0, Side::Client, connect_as("k1"));
    f.packet(2, 1.0, Side::Client, connect_as("k1"));
    assert_eq!(f.close(1, 7.0, Side::Client), vec!["R-ONE"]);
    let verdicts = one_connection_verdicts(f);
    let Verdict::Failed { message } = &verdicts[0] else {
        panic!("expected a failure: {verdicts:?}");
    };
    assert!(
        message.contains("kept this one open for 6.00 s"),
        "{message}"
    );
    assert!(message.contains("within 5 s"), "{message}");

    let mut f = Feed::of(SESSION_SUITE);
    f.packet(1, 0.0, Side::Client, connect_as("k1"));
    f.packet(2, 1.0, Side::Client, connect_as("k1"));
    f.close(1, 1.2, Side::Server);
    assert_eq!(
        one_connection_verdicts(f)
            .iter()
            .map(Verdict::label)
            .collect::<Vec<_>>(),
        ["ok"]
    );
}

/// Where the platform holds one connection per device credential (Tuya), two logins with
/// the same device's credentials take over whatever their client ids: a server that keeps
/// both open breaks the rule.
#[test]
fn one_connection_per_device_credential_whatever_the_client_id() {
    let creds = tuya_example_credentials();
    let login = |client_id: &str| {
        let mut c = Connect::new(ProtocolVersion::V3_1_1, client_id);
        c.username = creds.username.clone();
        c.password = Some(Bytes::copy_from_slice(
            creds.password.as_ref().unwrap().expose().as_bytes(),
        ));
        c.keep_alive = 60;
        Packet::Connect(c.into())
    };
    let mut f = Feed::with_auth(SESSION_SUITE, Some(tuya_auth(true)));
    f.packet(1, 0.0, Side::Client, login(&creds.client_id));
    f.packet(2, 1.0, Side::Client, login("another-client-id"));
    f.packet(2, 10.0, Side::Client, Packet::PingReq);
    let verdicts = one_connection_verdicts(f);
    let [Verdict::Failed { message }] = verdicts.as_slice() else {
        panic!("expected one failure: {verdicts:?}");
    };
    assert!(
        message.contains(&format!("same identity (tuya device {TUYA_DEVICE})")),
        "{message}"
    );
}

/// A connection that sends DISCONNECT as a newer one with its client id logs in crossed
/// it (the server's events of the two may come in either order): it left on its own, and
/// nothing was taken over.
#[test]
fn a_disconnect_crossing_a_newer_login_is_no_takeover() {
    let mut f = Feed::of(SESSION_SUITE);
    f.packet(1, 0.0, Side::Client, connect_as("k1"));
    f.packet(2, 1.0, Side::Client, connect_as("k1"));
    f.packet(
        1,
        1.001,
        Side::Client,
        Packet::Disconnect(Default::default()),
    );
    f.close(1, 1.001, Side::Client);
    assert_eq!(one_connection_verdicts(f), Vec::<Verdict>::new());
}

/// The credential rules the format check read, and found holding, before the rule it
/// stopped at pass; the ones after it are inconclusive.
#[test]
fn credential_rules_checked_before_the_violation_hold() {
    let c = tuya_example_credentials();
    let (user, pw) = (c.username.unwrap(), c.password.unwrap());
    let verdicts = credential_verdicts(
        tuya_auth(true),
        &format!("not-tuyalink_{TUYA_DEVICE}"),
        &user,
        pw.expose(),
        "TUYA-",
    );
    assert_eq!(
        verdicts,
        pairs(&[
            ("TUYA-AUTH-01", "FAILED"),
            ("TUYA-AUTH-02", "ok"),
            ("TUYA-AUTH-03", "inconclusive"),
            ("TUYA-AUTH-04", "inconclusive"),
            ("TUYA-AUTH-05", "inconclusive"),
        ])
    );
}

/// A login the server refuses takes nothing over: the older connection rightly stays.
#[test]
fn a_refused_login_takes_nothing_over() {
    let mut f = Feed::of(SESSION_SUITE);
    f.packet(1, 0.0, Side::Client, connect_as("k1"));
    f.packet(2, 1.0, Side::Client, connect_as("k1"));
    f.packet(
        2,
        1.001,
        Side::Server,
        Packet::ConnAck(ConnAck {
            session_present: false,
            code: 5,
            properties: Properties::new(),
        }),
    );
    f.close(2, 1.002, Side::Server);
    f.packet(1, 10.0, Side::Client, Packet::PingReq);
    assert_eq!(one_connection_verdicts(f), Vec::<Verdict>::new());
}

/// MQTT-3.1.0-1 (the first packet is CONNECT) on a connection whose opening the source
/// reported as `from_start`, after `lost` bytes of the client's stream were lost, then a
/// PINGREQ: the verdict's label and message.
fn first_packet_verdict(from_start: bool, lost: Option<u64>) -> (String, String) {
    let suite = mqtt_conform::suite::load("mqtt-3.1.1").expect("the built-in suite loads");
    let mut judge = Judge::new(&suite, Vars::new(), None).expect("judge");
    let event = |ms: u64, from: Side, kind: EventKind| Event {
        conn: 1,
        at: Duration::from_millis(ms),
        from,
        kind,
    };
    judge.observe(&event(
        0,
        Side::Client,
        EventKind::Opened {
            endpoints: None,
            from_start,
        },
    ));
    if let Some(bytes) = lost {
        judge.observe(&event(1, Side::Client, EventKind::Gap { bytes }));
    }
    let bytes = Bytes::from_static(&[0xC0, 0x00]);
    judge.observe(&event(
        2,
        Side::Client,
        EventKind::Packet {
            packet: decode_packet(&bytes, ProtocolVersion::V3_1_1),
            bytes,
        },
    ));
    let groups = judge.finish(Grouping::Connection);
    let case = groups
        .iter()
        .flat_map(|g| &g.cases)
        .find(|c| c.id == "MQTT-3.1.0-1")
        .expect("MQTT-3.1.0-1 reported");
    let message = case.verdict.message().unwrap_or_default().to_owned();
    (case.verdict.label().to_owned(), message)
}

#[test]
fn the_first_packet_is_judged_only_when_the_connections_start_was_seen() {
    let (label, message) = first_packet_verdict(true, None);
    assert_eq!(label, "FAILED", "{message}");
    assert!(message.contains("the first packet on the connection is PINGREQ, not CONNECT"));

    let (label, message) = first_packet_verdict(false, None);
    assert_eq!(label, "inconclusive", "{message}");
    assert!(message.contains("the capture began after the connection opened"));

    // Opened in view, but the client's first bytes lost: its first packet is unknown.
    let (label, message) = first_packet_verdict(true, Some(20));
    assert_eq!(label, "inconclusive", "{message}");
    assert!(message.contains("the capture lost the client's first bytes"));
}

/// A server-close rule's failure carries its window for the report to draw: from the
/// client's last packet, the earliest and latest close allowed, the close measured and
/// the trace line of that close.
#[test]
fn a_late_server_close_carries_its_window_and_the_close() {
    const DROP_SUITE: &str = r#"
name: drop-demo
rules:
  - { id: R-DROP, title: "silent clients are dropped", check: { server_close: { factor: 2.5, min_factor: 2.0, tolerance: 1 } } }
tests: []
"#;
    let mut f = Feed::of(DROP_SUITE);
    f.packet(1, 0.0, Side::Client, Packet::Connect(connect(10).into()));
    f.packet(1, 1.0, Side::Client, Packet::PingReq);
    assert_eq!(f.close(1, 40.0, Side::Server), ["R-DROP"]);
    let groups = f.judge.finish(Grouping::ClientId);
    let case = groups[0]
        .cases
        .iter()
        .find(|c| c.id == "R-DROP")
        .expect("the rule applied");
    let Verdict::Failed { message } = &case.verdict else {
        panic!("expected a failure: {:?}", case.verdict);
    };
    assert!(
        message.contains("after 39.00 s; window 20.00–26.00 s"),
        "{message}"
    );
    let timing = case.timing.as_ref().expect("the window is drawn");
    let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
    assert_eq!(
        (
            secs(timing.anchor),
            secs(timing.from),
            secs(timing.to),
            secs(timing.measured)
        ),
        (Some(1.0), Some(21.0), Some(27.0), Some(40.0))
    );
    let line = &case.trace[timing.offending.expect("the close is marked")];
    assert_eq!(line.at, Duration::from_secs(40), "{line:?}");
}

/// A suite's odd numbers for a server-close rule (a negative tolerance) give a verdict and
/// no window to draw, never a panic.
#[test]
fn a_server_close_rule_with_odd_numbers_draws_no_window() {
    const ODD_SUITE: &str = r#"
name: odd-demo
rules:
  - { id: R-DROP, title: "silent clients are dropped", check: { server_close: { factor: 1.5, tolerance: -100 } } }
tests: []
"#;
    let mut f = Feed::of(ODD_SUITE);
    f.packet(1, 0.0, Side::Client, Packet::Connect(connect(10).into()));
    assert_eq!(f.close(1, 20.0, Side::Server), ["R-DROP"]);
    let groups = f.judge.finish(Grouping::ClientId);
    let case = groups[0]
        .cases
        .iter()
        .find(|c| c.id == "R-DROP")
        .expect("the rule applied");
    assert!(
        matches!(case.verdict, Verdict::Failed { .. }),
        "{:?}",
        case.verdict
    );
    assert!(
        case.timing.as_ref().is_none_or(|t| t.from.is_none()),
        "{:?}",
        case.timing
    );
}
