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
        let suite =
            mqtt_conform::suite::load_str("rules-demo.yaml", suite_text).expect("suite loads");
        let mut vars = Vars::new();
        vars.set("device_id", "d1");
        Self {
            judge: Judge::new(&suite, vars, None::<AuthCheck>).expect("judge"),
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
