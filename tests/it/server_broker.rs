//! The server as a plain MQTT broker (default profile): routing, QoS, retained messages,
//! wills, sessions. Real sockets, rumqttc and raw bytes.

use crate::support::server as support;

use mqtt_conform::codec::{
    Connect, Disconnect, Packet, Properties, PropertyId, PropertyValue, ProtocolVersion,
    PubResponse, Publish, QoS, Subscribe, Subscription, Unsubscribe,
};
use mqtt_conform::suite::profile::Profile;
use std::time::Duration;
use support::{Raw, Rumq, Seen, WAIT, connect_with_will, start_profile};

const V4: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;

#[tokio::test]
async fn rumqttc_round_trips_at_each_qos_with_downgrade_to_granted() {
    let server = start_profile(Profile::default()).await;
    let addr = server.local_addr;
    let mut sub = Rumq::connect(Rumq::options(addr, "sub")).await;
    for (filter, qos) in [
        ("t/0", rumqttc::QoS::AtMostOnce),
        ("t/1", rumqttc::QoS::AtLeastOnce),
        ("t/2", rumqttc::QoS::ExactlyOnce),
    ] {
        let codes = sub.subscribe(filter, qos).await;
        assert_eq!(codes, [rumqttc::SubscribeReasonCode::Success(qos)]);
    }
    let publisher = Rumq::connect(Rumq::options(addr, "pub")).await;
    // Published at QoS 2: each subscriber gets min(2, granted).
    for topic in ["t/0", "t/1", "t/2"] {
        publisher
            .client
            .publish(
                topic,
                rumqttc::QoS::ExactlyOnce,
                false,
                topic.as_bytes().to_vec(),
            )
            .await
            .unwrap();
        let p = sub.next_publish().await;
        assert_eq!(p.topic, topic);
        assert_eq!(&p.payload[..], topic.as_bytes());
        let want = match topic {
            "t/0" => rumqttc::QoS::AtMostOnce,
            "t/1" => rumqttc::QoS::AtLeastOnce,
            _ => rumqttc::QoS::ExactlyOnce,
        };
        assert_eq!(p.qos, want, "{topic}");
        assert!(!p.retain);
    }
    // Published at QoS 1 to a QoS 2 subscription: delivered at QoS 1.
    publisher
        .client
        .publish("t/2", rumqttc::QoS::AtLeastOnce, false, b"x".to_vec())
        .await
        .unwrap();
    assert_eq!(sub.next_publish().await.qos, rumqttc::QoS::AtLeastOnce);
    // And at QoS 0 to a QoS 1 subscription: QoS 0.
    publisher
        .client
        .publish("t/1", rumqttc::QoS::AtMostOnce, false, b"y".to_vec())
        .await
        .unwrap();
    assert_eq!(sub.next_publish().await.qos, rumqttc::QoS::AtMostOnce);
}

#[tokio::test]
async fn raw_qos2_both_directions_with_duplicate_suppression() {
    let server = start_profile(Profile::default()).await;
    let mut c = Raw::connected(server.local_addr, V4, "q2").await;
    assert_eq!(c.subscribe(1, &[("r/#", QoS::ExactlyOnce)]).await, [2]);
    // Inbound QoS 2 to its own subscription (3.1.1 delivers own publishes).
    let mut p = Publish::new("r/a", b"one".to_vec());
    p.qos = QoS::ExactlyOnce;
    p.packet_id = Some(9);
    c.send(&Packet::Publish(p.clone())).await;
    let mut saw_rec = false;
    let mut delivered = None;
    for _ in 0..2 {
        match c.recv().await {
            Packet::PubRec(r) => {
                assert_eq!(r.packet_id, 9);
                saw_rec = true;
            }
            Packet::Publish(d) => delivered = Some(d),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(saw_rec);
    let d = delivered.expect("delivered on receipt");
    assert_eq!((d.qos, d.retain, d.dup), (QoS::ExactlyOnce, false, false));
    assert_eq!(&d.payload[..], b"one");
    let out_id = d.packet_id.unwrap();
    // A re-sent PUBLISH before PUBREL is acknowledged again but not routed again.
    p.dup = true;
    c.send(&Packet::Publish(p)).await;
    match c.recv().await {
        Packet::PubRec(r) => assert_eq!(r.packet_id, 9),
        other => panic!("expected PUBREC, got {other:?}"),
    }
    c.send(&Packet::PubRel(PubResponse::new(9))).await;
    match c.recv().await {
        Packet::PubComp(r) => assert_eq!(r.packet_id, 9),
        other => panic!("expected PUBCOMP, got {other:?}"),
    }
    // Outbound QoS 2: PUBREC → PUBREL → PUBCOMP.
    c.send(&Packet::PubRec(PubResponse::new(out_id))).await;
    match c.recv().await {
        Packet::PubRel(r) => assert_eq!(r.packet_id, out_id),
        other => panic!("expected PUBREL, got {other:?}"),
    }
    c.send(&Packet::PubComp(PubResponse::new(out_id))).await;
    c.assert_silent().await;
    assert_eq!(server.stats().messages_dropped, 0);
}

#[tokio::test]
async fn retained_messages_are_delivered_to_new_subscribers_and_deleted() {
    let server = start_profile(Profile::default()).await;
    let addr = server.local_addr;
    let mut live = Raw::connected(addr, V4, "live").await;
    live.subscribe(1, &[("ret/#", QoS::AtLeastOnce)]).await;
    let mut publisher = Raw::connected(addr, V4, "pub").await;
    publisher
        .publish("ret/a", b"kept", QoS::AtLeastOnce, true)
        .await;
    // An established subscription gets RETAIN 0 (MQTT-3.3.1-9).
    let p = live.recv_publish().await;
    assert!(!p.retain);
    // A new subscription gets it after the SUBACK, with RETAIN 1 (MQTT-3.3.1-8), at
    // min(stored QoS, granted QoS).
    let mut late = Raw::connected(addr, V4, "late").await;
    assert_eq!(late.subscribe(1, &[("ret/+", QoS::AtMostOnce)]).await, [0]);
    let p = late.recv_publish().await;
    assert_eq!(
        (p.topic.as_str(), p.retain, p.qos),
        ("ret/a", true, QoS::AtMostOnce)
    );
    assert_eq!(&p.payload[..], b"kept");
    assert_eq!(server.stats().retained_messages, 1);
    // An empty retained message deletes it (and is forwarded to live subscribers).
    publisher.publish("ret/a", b"", QoS::AtMostOnce, true).await;
    assert!(live.recv_publish().await.payload.is_empty());
    let mut later = Raw::connected(addr, V4, "later").await;
    later.subscribe(1, &[("ret/#", QoS::AtLeastOnce)]).await;
    later.assert_silent().await;
    assert_eq!(server.stats().retained_messages, 0);
}

#[tokio::test]
async fn will_on_abrupt_close_but_not_after_disconnect() {
    let server = start_profile(Profile::default()).await;
    let addr = server.local_addr;
    let mut watcher = Raw::connected(addr, V4, "watcher").await;
    watcher.subscribe(1, &[("wills/#", QoS::AtLeastOnce)]).await;

    let (abrupt, ack) =
        Raw::connect(addr, connect_with_will(V4, "a", "wills/a", b"gone", false)).await;
    assert_eq!(ack.code, 0);
    drop(abrupt);
    let will = watcher.recv_publish().await;
    assert_eq!(
        (will.topic.as_str(), will.qos),
        ("wills/a", QoS::AtLeastOnce)
    );
    assert_eq!(&will.payload[..], b"gone");
    watcher
        .send(&Packet::PubAck(PubResponse::new(will.packet_id.unwrap())))
        .await;

    let (polite, _) =
        Raw::connect(addr, connect_with_will(V4, "b", "wills/b", b"gone", false)).await;
    polite.disconnect().await;
    watcher.assert_silent().await;

    // rumqttc too: a killed client's will is published, with Will Retain stored.
    let mut o = Rumq::options(addr, "rq");
    o.set_last_will(rumqttc::LastWill::new(
        "wills/rq",
        "bye",
        rumqttc::QoS::AtMostOnce,
        true,
    ));
    Rumq::connect(o).await.kill();
    let will = watcher.recv_publish().await;
    assert_eq!(will.topic, "wills/rq");
    let mut late = Raw::connected(addr, V4, "late").await;
    late.subscribe(1, &[("wills/rq", QoS::AtMostOnce)]).await;
    assert!(late.recv_publish().await.retain);
}

#[tokio::test]
async fn mqtt5_disconnect_with_will_publishes_it() {
    let server = start_profile(Profile::default()).await;
    let addr = server.local_addr;
    let mut watcher = Raw::connected(addr, V4, "watcher").await;
    watcher.subscribe(1, &[("wills/#", QoS::AtMostOnce)]).await;
    let (mut c, _) = Raw::connect(addr, connect_with_will(V5, "c5", "wills/c5", b"x", false)).await;
    c.send(&Packet::Disconnect(Disconnect {
        reason_code: 0x04,
        properties: Properties::new(),
    }))
    .await;
    assert_eq!(watcher.recv_publish().await.topic, "wills/c5");
}

#[tokio::test]
async fn second_connection_takes_the_session_over() {
    let server = start_profile(Profile::default()).await;
    let addr = server.local_addr;
    let mut first = Raw::connected(addr, V4, "same").await;
    let _second = Raw::connected(addr, V4, "same").await;
    assert!(first.closed(WAIT).await.is_empty());

    // 5.0: DISCONNECT 0x8E first.
    let mut first = Raw::connected(addr, V5, "same5").await;
    let _second = Raw::connected(addr, V5, "same5").await;
    match first.closed(WAIT).await.as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason_code, 0x8E),
        other => panic!("expected DISCONNECT 0x8E, saw {other:?}"),
    }
}

#[tokio::test]
async fn persistent_session_resumes_with_queued_messages() {
    let server = start_profile(Profile::default()).await;
    let addr = server.local_addr;
    let mut persistent = Connect::new(V4, "keeper");
    persistent.clean_session = false;
    let (mut c, ack) = Raw::connect(addr, persistent.clone()).await;
    assert!(!ack.session_present);
    c.subscribe(1, &[("q/#", QoS::AtLeastOnce)]).await;
    c.disconnect().await;

    let mut publisher = Raw::connected(addr, V4, "pub").await;
    publisher
        .publish("q/1", b"m1", QoS::AtLeastOnce, false)
        .await;
    publisher
        .publish("q/2", b"m2", QoS::AtMostOnce, false)
        .await;
    publisher
        .publish("q/3", b"m3", QoS::ExactlyOnce, false)
        .await;
    assert_eq!(server.stats().queued_messages, 3);
    assert_eq!(server.stats().sessions_offline, 1);

    let (mut c, ack) = Raw::connect(addr, persistent.clone()).await;
    assert!(ack.session_present, "session present 1 on resume");
    let mut got = Vec::new();
    for _ in 0..3 {
        let p = c.recv_publish().await;
        got.push((p.topic.to_string(), p.qos));
        if p.qos == QoS::AtLeastOnce {
            // Leave it unacknowledged: it must come back with DUP on the next resume.
            continue;
        }
    }
    assert_eq!(
        got,
        [
            ("q/1".to_owned(), QoS::AtLeastOnce),
            ("q/2".to_owned(), QoS::AtMostOnce),
            ("q/3".to_owned(), QoS::AtLeastOnce),
        ]
    );
    drop(c);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (mut c, ack) = Raw::connect(addr, persistent.clone()).await;
    assert!(ack.session_present);
    for topic in ["q/1", "q/3"] {
        let p = c.recv_publish().await;
        assert_eq!(p.topic, topic);
        assert!(p.dup, "re-sent with DUP=1 (MQTT-4.4.0-1)");
        c.send(&Packet::PubAck(PubResponse::new(p.packet_id.unwrap())))
            .await;
    }
    c.assert_silent().await;
    c.disconnect().await;

    // Clean Session 1 discards it.
    let (c, ack) = Raw::connect(addr, Connect::new(V4, "keeper")).await;
    assert!(!ack.session_present);
    c.disconnect().await;
    let (_c, ack) = Raw::connect(addr, persistent).await;
    assert!(!ack.session_present);
}

#[tokio::test]
async fn rumqttc_persistent_session_gets_queued_qos1() {
    let server = start_profile(Profile::default()).await;
    let addr = server.local_addr;
    let mut o = Rumq::options(addr, "rq-keeper");
    o.set_clean_session(false);
    let mut c = Rumq::connect(o.clone()).await;
    c.subscribe("rq/t", rumqttc::QoS::AtLeastOnce).await;
    c.client.disconnect().await.unwrap();
    support::eventually(|| server.stats().sessions_offline == 1).await;
    c.kill();
    let mut publisher = Raw::connected(addr, V4, "pub").await;
    publisher
        .publish("rq/t", b"while away", QoS::AtLeastOnce, false)
        .await;
    let mut c = Rumq::connect(o).await;
    let p = c.next_publish().await;
    assert_eq!(
        (&p.payload[..], p.qos),
        (&b"while away"[..], rumqttc::QoS::AtLeastOnce)
    );
}

#[tokio::test]
async fn mqtt5_session_expiry_is_honoured() {
    let server = start_profile(Profile::default()).await;
    let addr = server.local_addr;
    let mut c = Connect::new(V5, "exp");
    c.clean_session = false;
    c.properties = Properties::new().with(
        PropertyId::SessionExpiryInterval,
        PropertyValue::FourByteInteger(1),
    );
    let (raw, _) = Raw::connect(addr, c.clone()).await;
    raw.disconnect().await;
    let (raw, ack) = Raw::connect(addr, c.clone()).await;
    assert!(ack.session_present, "kept within the expiry interval");
    raw.disconnect().await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (raw, ack) = Raw::connect(addr, c).await;
    assert!(!ack.session_present, "ended after the expiry interval");
    raw.disconnect().await;
    // Expiry 0 (the default) ends the session at close.
    let mut zero = Connect::new(V5, "zero");
    zero.clean_session = false;
    let (raw, _) = Raw::connect(addr, zero.clone()).await;
    raw.disconnect().await;
    let (_raw, ack) = Raw::connect(addr, zero).await;
    assert!(!ack.session_present);
}

#[tokio::test]
async fn client_ids_empty_assigned_or_refused() {
    let server = start_profile(Profile::default()).await;
    let addr = server.local_addr;
    let (_c, ack) = Raw::connect(addr, Connect::new(V5, "")).await;
    assert_eq!(ack.code, 0);
    let id = ack
        .properties
        .get_str(PropertyId::AssignedClientIdentifier)
        .expect("assigned id");
    assert!(!id.is_empty());
    let (_c, ack) = Raw::connect(addr, Connect::new(V4, "")).await;
    assert_eq!(ack.code, 0);
    let mut c = Connect::new(V4, "");
    c.clean_session = false;
    let (mut c, ack) = Raw::connect(addr, c).await;
    assert_eq!(ack.code, 0x02);
    c.closed(WAIT).await;
}

#[tokio::test]
async fn protocol_violations_close_the_connection() {
    let server = start_profile(Profile::default()).await;
    let addr = server.local_addr;
    // First packet not CONNECT.
    let mut c = Raw::open(addr, V4).await;
    c.send(&Packet::PingReq).await;
    assert!(c.closed(WAIT).await.is_empty());
    // Second CONNECT.
    let mut c = Raw::connected(addr, V4, "twice").await;
    c.send(&Packet::Connect(Connect::new(V4, "twice").into()))
        .await;
    assert!(c.closed(WAIT).await.is_empty());
    // Malformed packet (SUBSCRIBE with reserved flags 0000): 5.0 gets DISCONNECT 0x81.
    let mut c = Raw::connected(addr, V5, "bad").await;
    c.send_raw(&[0x80, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, b'a'])
        .await;
    match c.closed(WAIT).await.as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason_code, 0x81),
        other => panic!("expected DISCONNECT 0x81, saw {other:?}"),
    }
    // Unsupported protocol level: CONNACK 0x01, then close.
    let mut c = Raw::open(addr, V4).await;
    c.send_raw(&[
        0x10, 0x0c, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x07, 0x02, 0x00, 0x3c, 0x00, 0x00,
    ])
    .await;
    match c.closed(WAIT).await.as_slice() {
        [Packet::ConnAck(a)] => assert_eq!(a.code, 0x01),
        other => panic!("expected CONNACK 0x01, saw {other:?}"),
    }
}

#[tokio::test]
async fn oversize_packet_closes() {
    let mut config = mqtt_conform::server::ServerConfig::new(Profile::default());
    config.max_packet_size = 100;
    config.emit_events = false;
    let server = support::start(config).await;
    let mut c = Raw::connected(server.local_addr, V5, "big").await;
    let mut p = Publish::new("big", vec![0u8; 200]);
    p.qos = QoS::AtMostOnce;
    c.send(&Packet::Publish(p)).await;
    match c.closed(WAIT).await.as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason_code, 0x95),
        other => panic!("expected DISCONNECT 0x95, saw {other:?}"),
    }
}

#[tokio::test]
async fn unsubscribe_stops_delivery_and_reports_codes() {
    let server = start_profile(Profile::default()).await;
    let mut c = Raw::connected(server.local_addr, V5, "u").await;
    c.subscribe(1, &[("u/t", QoS::AtMostOnce)]).await;
    c.send(&Packet::Unsubscribe(Unsubscribe {
        packet_id: 2,
        properties: Properties::new(),
        filters: vec!["u/t".into(), "never".into()],
    }))
    .await;
    match c.recv().await {
        Packet::UnsubAck(u) => assert_eq!((u.packet_id, u.reason_codes), (2, vec![0x00, 0x11])),
        other => panic!("expected UNSUBACK, got {other:?}"),
    }
    c.publish("u/t", b"x", QoS::AtMostOnce, false).await;
    c.assert_silent().await;
    assert_eq!(server.stats().subscriptions, 0);
}

#[tokio::test]
async fn mqtt5_no_local_and_subscription_identifier() {
    let server = start_profile(Profile::default()).await;
    let mut c = Raw::connected(server.local_addr, V5, "nl").await;
    let mut local = Subscription::new("nl/a", QoS::AtMostOnce);
    local.options.no_local = true;
    c.send(&Packet::Subscribe(Subscribe {
        packet_id: 1,
        properties: Properties::new().with(
            PropertyId::SubscriptionIdentifier,
            PropertyValue::VariableByteInteger(7),
        ),
        subscriptions: vec![local, Subscription::new("nl/b", QoS::AtMostOnce)],
    }))
    .await;
    assert!(matches!(c.recv().await, Packet::SubAck(_)));
    c.publish("nl/a", b"mine", QoS::AtMostOnce, false).await;
    c.assert_silent().await;
    c.publish("nl/b", b"mine", QoS::AtMostOnce, false).await;
    let p = c.recv_publish().await;
    assert_eq!(p.topic, "nl/b");
    assert_eq!(
        p.properties.get_int(PropertyId::SubscriptionIdentifier),
        Some(7)
    );
    match c.next(Duration::from_millis(200)).await {
        Seen::Nothing => {}
        other => panic!("one copy only, saw {other:?}"),
    }
}

#[tokio::test]
async fn dollar_topics_are_not_matched_by_leading_wildcards() {
    let server = start_profile(Profile::default()).await;
    let mut c = Raw::connected(server.local_addr, V4, "d").await;
    c.subscribe(1, &[("#", QoS::AtMostOnce), ("+/x", QoS::AtMostOnce)])
        .await;
    c.publish("$sys/x", b"1", QoS::AtMostOnce, false).await;
    c.assert_silent().await;
    c.subscribe(2, &[("$sys/#", QoS::AtMostOnce)]).await;
    c.publish("$sys/x", b"2", QoS::AtMostOnce, false).await;
    assert_eq!(c.recv_publish().await.topic, "$sys/x");
}
