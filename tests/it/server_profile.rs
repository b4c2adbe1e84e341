//! Profile variants and misbehaviours: the server bends MQTT the way a platform does.

use crate::support::server as support;

use mqtt_conform::codec::{ConnAck, Connect, Packet, PropertyId, ProtocolVersion, Publish, QoS};
use mqtt_conform::server::{AuthRefusal, Behaviour, ServerConfig};
use mqtt_conform::suite::profile::{
    Feature, KeepaliveRules, Profile, QosReaction, RangeReaction, TopicReaction, TopicRules,
};
use mqtt_conform::suite::vars::Vars;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{Raw, Seen, WAIT, connect_with_will, start, start_profile};

const V4: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;

fn profile(f: impl FnOnce(&mut Profile)) -> Profile {
    let mut p = Profile::default();
    f(&mut p);
    p
}

fn qos_publish(topic: &str, payload: &[u8], qos: QoS, pid: u16) -> Packet {
    let mut p = Publish::new(topic, payload.to_vec());
    p.qos = qos;
    p.packet_id = (qos != QoS::AtMostOnce).then_some(pid);
    Packet::Publish(p)
}

#[tokio::test]
async fn protocols_311_refuses_a_50_connect_with_0x01() {
    let server = start_profile(profile(|p| p.protocols = vec!["3.1.1".into()])).await;
    let addr = server.local_addr;
    let mut c = Raw::open(addr, V5).await;
    c.send(&Packet::Connect(Connect::new(V5, "five").into()))
        .await;
    // The answer is a 3.1.1 CONNACK: read it as one.
    c.version = V4;
    match c.closed(WAIT).await.as_slice() {
        [Packet::ConnAck(ConnAck { code: 0x01, .. })] => {}
        other => panic!("expected CONNACK 0x01 then close, saw {other:?}"),
    }
    Raw::connected(addr, V4, "four").await;
    // And a 5.0-only profile refuses 3.1.1 the same way.
    let server = start_profile(profile(|p| p.protocols = vec!["5".into()])).await;
    let (mut c, ack) = Raw::connect(server.local_addr, Connect::new(V4, "four")).await;
    assert_eq!(ack.code, 0x01);
    c.closed(WAIT).await;
}

#[tokio::test]
async fn max_qos_1_close() {
    let server = start_profile(profile(|p| {
        p.max_qos = 1;
        p.on_qos_above_max = QosReaction::Close;
    }))
    .await;
    let mut c = Raw::connected(server.local_addr, V4, "c").await;
    c.send(&qos_publish("a", b"x", QoS::ExactlyOnce, 1)).await;
    assert!(c.closed(WAIT).await.is_empty());
    // 5.0: DISCONNECT 0x9B first, and CONNACK announced Maximum QoS 1.
    let (mut c, ack) = Raw::connect(server.local_addr, Connect::new(V5, "c5")).await;
    assert_eq!(ack.properties.get_int(PropertyId::MaximumQos), Some(1));
    c.send(&qos_publish("a", b"x", QoS::ExactlyOnce, 1)).await;
    match c.closed(WAIT).await.as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason_code, 0x9B),
        other => panic!("expected DISCONNECT 0x9B, saw {other:?}"),
    }
}

#[tokio::test]
async fn max_qos_1_downgrade() {
    let server = start_profile(profile(|p| {
        p.max_qos = 1;
        p.on_qos_above_max = QosReaction::Downgrade;
    }))
    .await;
    let mut c = Raw::connected(server.local_addr, V4, "c").await;
    // Granted QoS is capped too.
    assert_eq!(c.subscribe(1, &[("a", QoS::ExactlyOnce)]).await, [1]);
    c.send(&qos_publish("a", b"x", QoS::ExactlyOnce, 5)).await;
    let mut acked = false;
    let mut delivered = None;
    for _ in 0..2 {
        match c.recv().await {
            Packet::PubAck(r) => {
                assert_eq!(r.packet_id, 5);
                acked = true;
            }
            Packet::Publish(p) => delivered = Some(p),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(acked, "handled as a QoS 1 PUBLISH: PUBACK");
    assert_eq!(delivered.unwrap().qos, QoS::AtLeastOnce);
}

#[tokio::test]
async fn max_qos_1_ignore() {
    let server = start_profile(profile(|p| {
        p.max_qos = 1;
        p.on_qos_above_max = QosReaction::Ignore;
    }))
    .await;
    let mut c = Raw::connected(server.local_addr, V4, "c").await;
    c.subscribe(1, &[("a", QoS::AtLeastOnce)]).await;
    c.send(&qos_publish("a", b"x", QoS::ExactlyOnce, 5)).await;
    c.assert_silent().await;
    c.ping().await;
}

#[tokio::test]
async fn will_refused_and_ignored() {
    let server = start_profile(profile(|p| p.will = Feature::Refused)).await;
    let addr = server.local_addr;
    let (mut c, ack) = Raw::connect(addr, connect_with_will(V4, "w", "w/t", b"x", false)).await;
    assert_eq!(ack.code, 0x05);
    c.closed(WAIT).await;
    let (mut c, ack) = Raw::connect(addr, connect_with_will(V5, "w", "w/t", b"x", false)).await;
    assert_eq!(ack.code, 0x87);
    c.closed(WAIT).await;

    let server = start_profile(profile(|p| p.will = Feature::Ignored)).await;
    let addr = server.local_addr;
    let mut watcher = Raw::connected(addr, V4, "watcher").await;
    watcher.subscribe(1, &[("w/#", QoS::AtMostOnce)]).await;
    let (c, ack) = Raw::connect(addr, connect_with_will(V4, "w", "w/t", b"x", false)).await;
    assert_eq!(ack.code, 0);
    drop(c);
    watcher.assert_silent().await;
}

#[tokio::test]
async fn retain_ignored_delivers_but_never_stores() {
    let server = start_profile(profile(|p| p.retain = Feature::Ignored)).await;
    let addr = server.local_addr;
    let mut live = Raw::connected(addr, V4, "live").await;
    live.subscribe(1, &[("r", QoS::AtMostOnce)]).await;
    let mut publisher = Raw::connected(addr, V4, "pub").await;
    publisher.publish("r", b"x", QoS::AtLeastOnce, true).await;
    assert!(!live.recv_publish().await.retain);
    let mut late = Raw::connected(addr, V4, "late").await;
    late.subscribe(1, &[("r", QoS::AtMostOnce)]).await;
    late.assert_silent().await;
    assert_eq!(server.stats().retained_messages, 0);
}

#[tokio::test]
async fn retain_refused_closes() {
    let server = start_profile(profile(|p| p.retain = Feature::Refused)).await;
    let (mut c, ack) = Raw::connect(server.local_addr, Connect::new(V5, "r")).await;
    assert_eq!(ack.properties.get_int(PropertyId::RetainAvailable), Some(0));
    let mut p = Publish::new("r", b"x".to_vec());
    p.retain = true;
    c.send(&Packet::Publish(p)).await;
    match c.closed(WAIT).await.as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason_code, 0x9A),
        other => panic!("expected DISCONNECT 0x9A, saw {other:?}"),
    }
}

fn catalogue(on_illegal: TopicReaction) -> ServerConfig {
    let mut vars = Vars::new();
    vars.set("device_id", "dev1");
    let mut config = ServerConfig::new(profile(|p| {
        p.topics = TopicRules {
            publish: vec!["tylink/${device_id}/thing/property/report".into()],
            subscribe: vec![
                "tylink/${device_id}/channel/#".into(),
                "tylink/${device_id}/thing/property/report".into(),
            ],
            on_illegal_publish: on_illegal,
            ..TopicRules::default()
        };
    }));
    config.vars = vars;
    config.emit_events = false;
    config
}

#[tokio::test]
async fn topic_allow_list_with_device_id() {
    let server = start(catalogue(TopicReaction::Drop)).await;
    let addr = server.local_addr;
    let mut c = Raw::connected(addr, V4, "dev1").await;
    assert_eq!(
        c.subscribe(
            1,
            &[
                ("tylink/dev1/channel/downlink", QoS::AtMostOnce),
                ("tylink/dev1/channel/+", QoS::AtMostOnce),
                ("tylink/dev2/channel/downlink", QoS::AtMostOnce),
                ("tylink/dev1/#", QoS::AtMostOnce),
                ("#", QoS::AtMostOnce),
            ],
        )
        .await,
        [0, 0, 0x80, 0x80, 0x80]
    );
    c.subscribe(2, &[("tylink/dev1/thing/property/report", QoS::AtMostOnce)])
        .await;
    // Allowed topic: delivered.
    let mut other = Raw::connected(addr, V4, "other").await;
    other
        .publish(
            "tylink/dev1/thing/property/report",
            b"ok",
            QoS::AtLeastOnce,
            false,
        )
        .await;
    assert_eq!(&c.recv_publish().await.payload[..], b"ok");
    // Illegal topic with `drop`: PUBACK, nothing delivered.
    other
        .publish(
            "tylink/dev1/channel/downlink",
            b"no",
            QoS::AtLeastOnce,
            false,
        )
        .await;
    c.assert_silent().await;
    // 5.0: the PUBACK says 0x87.
    let mut c5 = Raw::connected(addr, V5, "c5").await;
    c5.send(&qos_publish("elsewhere", b"no", QoS::AtLeastOnce, 3))
        .await;
    match c5.recv().await {
        Packet::PubAck(r) => assert_eq!(r.reason_code, 0x87),
        other => panic!("expected PUBACK 0x87, got {other:?}"),
    }
    assert_eq!(c5.subscribe(2, &[("nope", QoS::AtMostOnce)]).await, [0x87]);

    let server = start(catalogue(TopicReaction::Close)).await;
    let mut c = Raw::connected(server.local_addr, V4, "dev1").await;
    c.publish(
        "tylink/dev1/thing/property/report",
        b"fine",
        QoS::AtLeastOnce,
        false,
    )
    .await;
    c.send(&qos_publish(
        "tylink/dev1/other",
        b"no",
        QoS::AtLeastOnce,
        4,
    ))
    .await;
    assert!(c.closed(WAIT).await.is_empty());
}

#[tokio::test]
async fn wildcard_min_level_3() {
    let server = start_profile(profile(|p| p.topics.wildcard_min_level = Some(3))).await;
    let mut c = Raw::connected(server.local_addr, V4, "w").await;
    assert_eq!(
        c.subscribe(
            1,
            &[
                ("$sys/p/d/#", QoS::AtLeastOnce),
                ("$sys/p/#", QoS::AtLeastOnce),
                ("#", QoS::AtLeastOnce),
                ("$sys/p/d", QoS::AtLeastOnce),
            ],
        )
        .await,
        [1, 0x80, 0x80, 1]
    );
    // Granted, and it routes.
    c.publish("$sys/p/d/x", b"1", QoS::AtMostOnce, false).await;
    assert_eq!(c.recv_publish().await.topic, "$sys/p/d/x");
    let mut c5 = Raw::connected(server.local_addr, V5, "w5").await;
    assert_eq!(
        c5.subscribe(1, &[("$sys/+", QoS::AtMostOnce)]).await,
        [0xA2]
    );
}

#[tokio::test]
async fn payload_cap_at_the_exact_boundary() {
    const N: usize = 1000;
    let server = start_profile(profile(|p| p.max_payload = Some(N))).await;
    let mut c = Raw::connected(server.local_addr, V4, "p").await;
    c.subscribe(1, &[("cap", QoS::AtMostOnce)]).await;
    c.publish("cap", &[7u8; N], QoS::AtLeastOnce, false).await;
    assert_eq!(c.recv_publish().await.payload.len(), N);
    // N + 1 with `drop`: acknowledged, not delivered.
    c.publish("cap", &[7u8; N + 1], QoS::AtLeastOnce, false)
        .await;
    c.assert_silent().await;

    let server = start_profile(profile(|p| {
        p.max_payload = Some(N);
        p.on_payload_too_large = TopicReaction::Close;
    }))
    .await;
    let mut c = Raw::connected(server.local_addr, V5, "p").await;
    c.publish("cap", &[7u8; N], QoS::AtLeastOnce, false).await;
    c.send(&qos_publish("cap", &[7u8; N + 1], QoS::AtLeastOnce, 2))
        .await;
    match c.closed(WAIT).await.as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason_code, 0x95),
        other => panic!("expected DISCONNECT 0x95, saw {other:?}"),
    }
}

#[tokio::test]
async fn authenticator_refuses_with_0x04() {
    let mut config = ServerConfig::new(Profile::default());
    config.emit_events = false;
    config.auth = Some(Arc::new(|c: &Connect| {
        if c.username.as_deref() == Some("user") && c.password.as_deref() == Some(&b"pass"[..]) {
            Ok(())
        } else {
            Err(AuthRefusal::bad_credentials("wrong password").with_rule("PLAIN-AUTH-02"))
        }
    }));
    let server = start(config).await;
    let addr = server.local_addr;
    let mut c = Connect::new(V4, "a");
    c.username = Some("user".into());
    c.password = Some(b"nope".to_vec().into());
    let (mut raw, ack) = Raw::connect(addr, c.clone()).await;
    assert_eq!(ack.code, 0x04);
    raw.closed(WAIT).await;
    c.protocol = V5;
    let (mut raw, ack) = Raw::connect(addr, c.clone()).await;
    assert_eq!(ack.code, 0x86);
    assert!(
        ack.properties
            .get_str(PropertyId::ReasonString)
            .unwrap()
            .contains("PLAIN-AUTH-02")
    );
    raw.closed(WAIT).await;
    c.password = Some(b"pass".to_vec().into());
    let (_raw, ack) = Raw::connect(addr, c).await;
    assert_eq!(ack.code, 0);
    // rumqttc sees the refusal too.
    let mut o = support::Rumq::options(addr, "rq");
    o.set_credentials("user", "bad");
    let (_client, mut eventloop) = rumqttc::AsyncClient::new(o, 8);
    let err = tokio::time::timeout(WAIT, eventloop.poll())
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            err,
            rumqttc::ConnectionError::ConnectionRefused(
                rumqttc::ConnectReturnCode::BadUserNamePassword
            )
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn keepalive_out_of_range_refused_without_connack() {
    let server = start_profile(profile(|p| {
        p.keepalive = KeepaliveRules {
            min: Some(30),
            max: Some(1200),
            out_of_range: RangeReaction::Refuse,
            ..KeepaliveRules::default()
        };
    }))
    .await;
    let addr = server.local_addr;
    for ka in [10, 0, 1201] {
        let mut c = Raw::open(addr, V4).await;
        let mut connect = Connect::new(V4, "ka");
        connect.keep_alive = ka;
        c.send(&Packet::Connect(connect.into())).await;
        assert!(
            c.closed(WAIT).await.is_empty(),
            "keepalive {ka}: no CONNACK"
        );
    }
    let mut connect = Connect::new(V4, "ka");
    connect.keep_alive = 60;
    assert_eq!(Raw::connect(addr, connect).await.1.code, 0);
}

#[tokio::test]
async fn clean_session_required_accepts_but_keeps_nothing() {
    let server = start_profile(profile(|p| p.clean_session_required = true)).await;
    let mut connect = Connect::new(V4, "cs");
    connect.clean_session = false;
    let (c, ack) = Raw::connect(server.local_addr, connect.clone()).await;
    assert_eq!((ack.code, ack.session_present), (0, false));
    c.disconnect().await;
    let (_c, ack) = Raw::connect(server.local_addr, connect).await;
    assert!(!ack.session_present);
}

#[tokio::test]
async fn downlink_qos_overrides_delivery_qos() {
    let server = start_profile(profile(|p| p.downlink_qos = Some(0))).await;
    let mut c = Raw::connected(server.local_addr, V4, "d").await;
    c.subscribe(1, &[("d", QoS::AtLeastOnce)]).await;
    c.publish("d", b"x", QoS::AtLeastOnce, false).await;
    assert_eq!(c.recv_publish().await.qos, QoS::AtMostOnce);
}

#[tokio::test]
async fn second_identity_allowed_when_not_one_connection_per_identity() {
    let server = start_profile(profile(|p| p.one_connection_per_identity = false)).await;
    let mut a = Raw::connected(server.local_addr, V4, "twin").await;
    let mut b = Raw::connected(server.local_addr, V4, "twin").await;
    a.ping().await;
    b.ping().await;
}

async fn misbehaving(b: Behaviour) -> (mqtt_conform::server::ServerHandle, Raw) {
    let mut config = ServerConfig::new(Profile::default());
    config.behaviour = b;
    config.emit_events = false;
    let server = start(config).await;
    let raw = Raw::connected(server.local_addr, V4, "m").await;
    (server, raw)
}

#[tokio::test]
async fn behaviour_withholds_pingresp_puback_suback() {
    let (_s, mut c) = misbehaving(Behaviour {
        withhold_pingresp: true,
        ..Behaviour::default()
    })
    .await;
    c.send(&Packet::PingReq).await;
    c.assert_silent().await;

    let (_s, mut c) = misbehaving(Behaviour {
        withhold_puback: true,
        ..Behaviour::default()
    })
    .await;
    c.subscribe(1, &[("t", QoS::AtMostOnce)]).await;
    c.send(&qos_publish("t", b"x", QoS::AtLeastOnce, 3)).await;
    // Delivered, but never acknowledged.
    assert_eq!(c.recv_publish().await.topic, "t");
    c.assert_silent().await;

    let (s, mut c) = misbehaving(Behaviour {
        withhold_suback: true,
        ..Behaviour::default()
    })
    .await;
    c.send(&Packet::Subscribe(mqtt_conform::codec::Subscribe {
        packet_id: 1,
        properties: Default::default(),
        subscriptions: vec![mqtt_conform::codec::Subscription::new("t", QoS::AtMostOnce)],
    }))
    .await;
    c.assert_silent().await;
    assert_eq!(s.stats().subscriptions, 1);
}

#[tokio::test]
async fn behaviour_rejects_subscriptions() {
    let (s, mut c) = misbehaving(Behaviour {
        reject_subscriptions: true,
        ..Behaviour::default()
    })
    .await;
    assert_eq!(
        c.subscribe(1, &[("a", QoS::AtMostOnce), ("b", QoS::AtLeastOnce)])
            .await,
        [0x80, 0x80]
    );
    assert_eq!(s.stats().subscriptions, 0);
}

#[tokio::test]
async fn behaviour_closes_after_connack() {
    let mut config = ServerConfig::new(Profile::default());
    config.behaviour.close_after = Some(Duration::from_millis(500));
    config.emit_events = false;
    let server = start(config).await;
    let addr = server.local_addr;
    let mut watcher = Raw::connected(addr, V4, "watcher").await;
    watcher.subscribe(1, &[("w", QoS::AtMostOnce)]).await;
    let started = Instant::now();
    let (mut c, _) = Raw::connect(addr, connect_with_will(V4, "cut", "w", b"x", false)).await;
    c.closed(WAIT).await;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(500), "{took:?}");
    assert!(took < Duration::from_millis(1500), "{took:?}");
    // The will goes out: for the device this was an unexpected loss.
    match watcher.next(WAIT).await {
        Seen::Packet(Packet::Publish(p)) => assert_eq!(p.topic, "w"),
        Seen::Closed(_) => {}
        other => panic!("expected the will, saw {other:?}"),
    }
}

#[tokio::test]
async fn slow_subscriber_is_bounded() {
    let mut config = ServerConfig::new(Profile::default());
    config.emit_events = false;
    config.limits.session_queue = 10;
    config.limits.inflight_window = 2;
    let server = start(config).await;
    let addr = server.local_addr;
    // A subscriber that never acknowledges: 2 in flight, 10 queued, then QoS 0 drops and
    // a QoS 1 overflow disconnects it.
    let mut slow = Raw::connected(addr, V4, "slow").await;
    slow.subscribe(1, &[("s/#", QoS::AtLeastOnce)]).await;
    let mut publisher = Raw::connected(addr, V4, "pub").await;
    for i in 0..12 {
        publisher
            .publish(&format!("s/{i}"), b"x", QoS::AtLeastOnce, false)
            .await;
    }
    support::eventually(|| server.stats().queued_messages == 10).await;
    for _ in 0..3 {
        publisher
            .publish("s/q0", b"x", QoS::AtMostOnce, false)
            .await;
    }
    support::eventually(|| server.stats().messages_dropped == 3).await;
    publisher
        .publish("s/over", b"x", QoS::AtLeastOnce, false)
        .await;
    let seen = slow.closed(WAIT).await;
    assert_eq!(seen.len(), 2, "only the window was sent: {seen:?}");
}

#[tokio::test]
async fn subscriptions_per_session_are_capped() {
    let mut config = ServerConfig::new(Profile::default());
    config.emit_events = false;
    config.limits.max_subscriptions_per_session = 2;
    let server = start(config).await;
    let mut c = Raw::connected(server.local_addr, V4, "cap").await;
    assert_eq!(
        c.subscribe(
            1,
            &[
                ("a", QoS::AtMostOnce),
                ("b", QoS::AtMostOnce),
                ("c", QoS::AtMostOnce)
            ]
        )
        .await,
        [0, 0, 0x80]
    );
    // Replacing an existing subscription is not a new one.
    assert_eq!(c.subscribe(2, &[("a", QoS::AtLeastOnce)]).await, [1]);
    let mut c5 = Raw::connected(server.local_addr, V5, "cap5").await;
    assert_eq!(
        c5.subscribe(
            1,
            &[
                ("a", QoS::AtMostOnce),
                ("b", QoS::AtMostOnce),
                ("c", QoS::AtMostOnce)
            ]
        )
        .await,
        [0, 0, 0x97]
    );
}

#[tokio::test]
async fn shared_subscriptions_go_to_one_member_in_turn_and_word_names_refuse_others() {
    use mqtt_conform::suite::profile::SharedSubscriptions;
    let server = start_profile(profile(|p| {
        p.shared_subscriptions = SharedSubscriptions::WordNames;
    }))
    .await;
    let addr = server.local_addr;
    let (mut a, ack) = Raw::connect(addr, Connect::new(V5, "a")).await;
    // Available: the CONNACK does not say 0.
    assert_eq!(
        ack.properties
            .get_int(PropertyId::SharedSubscriptionAvailable),
        None
    );
    let mut b = Raw::connected(addr, V5, "b").await;
    let mut other_group = Raw::connected(addr, V5, "c").await;
    assert_eq!(
        a.subscribe(1, &[("$share/g/s/+", QoS::AtLeastOnce)]).await,
        [1]
    );
    assert_eq!(
        b.subscribe(1, &[("$share/g/s/+", QoS::AtLeastOnce)]).await,
        [1]
    );
    assert_eq!(
        other_group
            .subscribe(1, &[("$share/h/s/#", QoS::AtMostOnce)])
            .await,
        [0]
    );
    // A ShareName outside [A-Za-z0-9_]: 0x8F Topic Filter invalid.
    assert_eq!(
        b.subscribe(2, &[("$share/a-b/s/+", QoS::AtMostOnce)]).await,
        [0x8F]
    );
    let mut p = Raw::connected(addr, V5, "p").await;
    for n in 0..4u8 {
        p.publish("s/x", &[b'0' + n], QoS::AtMostOnce, false).await;
    }
    // Group g: two each, alternating; group h: every message.
    let mut got_a = Vec::new();
    let mut got_b = Vec::new();
    for _ in 0..2 {
        got_a.push(a.recv_publish().await.payload[0]);
        got_b.push(b.recv_publish().await.payload[0]);
    }
    got_a.sort_unstable();
    got_b.sort_unstable();
    let mut all = [got_a.clone(), got_b.clone()].concat();
    all.sort_unstable();
    assert_eq!(
        all, b"0123",
        "each message to one member: a {got_a:?}, b {got_b:?}"
    );
    for n in 0..4u8 {
        assert_eq!(other_group.recv_publish().await.payload[0], b'0' + n);
    }
    a.assert_silent().await;
    b.assert_silent().await;
    // Refused by default (0x9E, announced in CONNACK).
    let server = start_profile(Profile::default()).await;
    let (mut c, ack) = Raw::connect(server.local_addr, Connect::new(V5, "c")).await;
    assert_eq!(
        ack.properties
            .get_int(PropertyId::SharedSubscriptionAvailable),
        Some(0)
    );
    assert_eq!(
        c.subscribe(1, &[("$share/g/s/+", QoS::AtMostOnce)]).await,
        [0x9E]
    );
}
