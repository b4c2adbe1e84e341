//! What device tests have the server do: a CONNACK planned for a client id (announced,
//! then enforced), a server DISCONNECT that waits for the client's close, commands with a
//! Topic Alias, and QoS 2 flows left at PUBREC until the session resumes.

use crate::support::server as support;

use mqtt_conform::codec::{
    Connect, Packet, Properties, PropertyId, PropertyValue, ProtocolVersion, PubResponse, Publish,
    QoS,
};
use mqtt_conform::conduct::CONNACK_GRACE;
use mqtt_conform::server::{ConnackPlan, Misbehaviour, ServerConfig};
use mqtt_conform::suite::profile::Profile;
use std::time::{Duration, Instant};
use support::{Raw, Seen, WAIT, start};

const V4: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;

fn qos_publish(topic: &str, qos: QoS, pid: u16) -> Publish {
    let mut p = Publish::new(topic, b"x".to_vec());
    p.qos = qos;
    p.packet_id = (qos != QoS::AtMostOnce).then_some(pid);
    p
}

/// The DISCONNECT reason the server closed with.
async fn disconnected_with(c: &mut Raw) -> u8 {
    match c.closed(WAIT).await.as_slice() {
        [Packet::Disconnect(d)] => d.reason_code,
        other => panic!("expected DISCONNECT then close, saw {other:?}"),
    }
}

async fn server() -> mqtt_conform::server::ServerHandle {
    start(ServerConfig::new(Profile::default())).await
}

/// The CONNACK announces what the plan sets, and the server holds the client to each
/// announced limit with the 5.0 reason its violation calls for.
#[tokio::test]
async fn a_planned_connack_is_announced_and_its_limits_are_enforced() {
    let server = server().await;
    let addr = server.local_addr;
    let control = server.control();
    let plan = ConnackPlan {
        maximum_qos: Some(QoS::AtLeastOnce),
        retain_available: Some(false),
        server_keep_alive: Some(1),
        receive_maximum: Some(1),
        maximum_packet_size: Some(64),
        topic_alias_maximum: Some(2),
        ..ConnackPlan::default()
    };
    control.plan_connack("planned", Some(plan));
    let (mut c, ack) = Raw::connect(addr, Connect::new(V5, "planned")).await;
    let p = &ack.properties;
    assert_eq!(p.get_int(PropertyId::MaximumQos), Some(1));
    assert_eq!(p.get_int(PropertyId::RetainAvailable), Some(0));
    assert_eq!(p.get_int(PropertyId::ServerKeepAlive), Some(1));
    assert_eq!(p.get_int(PropertyId::ReceiveMaximum), Some(1));
    assert_eq!(p.get_int(PropertyId::MaximumPacketSize), Some(64));
    assert_eq!(p.get_int(PropertyId::TopicAliasMaximum), Some(2));
    // The Server Keep Alive of 1 s replaces the CONNECT's 60 s: silence closes after 1.5 s.
    let silent = Instant::now();
    assert_eq!(disconnected_with(&mut c).await, 0x8D);
    let waited = silent.elapsed();
    assert!(
        (Duration::from_millis(1_400)..Duration::from_secs(3)).contains(&waited),
        "{waited:?}"
    );

    let violations: Vec<(&str, Publish, u8)> = vec![
        (
            "QoS 2 above Maximum QoS 1",
            qos_publish("a", QoS::ExactlyOnce, 1),
            0x9B,
        ),
        (
            "RETAIN after Retain Available 0",
            {
                let mut p = qos_publish("a", QoS::AtLeastOnce, 1);
                p.retain = true;
                p
            },
            0x9A,
        ),
        (
            "a packet above 64 bytes",
            {
                let mut p = qos_publish("a", QoS::AtLeastOnce, 1);
                p.payload = vec![b'x'; 100].into();
                p
            },
            0x95,
        ),
        (
            "Topic Alias 3 above 2",
            {
                let mut p = qos_publish("a", QoS::AtLeastOnce, 1);
                p.properties = Properties::new()
                    .with(PropertyId::TopicAlias, PropertyValue::TwoByteInteger(3));
                p
            },
            0x94,
        ),
    ];
    for (what, publish, reason) in violations {
        let (mut c, _) = Raw::connect(addr, Connect::new(V5, "planned")).await;
        // Past the time a packet could have left before the CONNACK arrived.
        tokio::time::sleep(CONNACK_GRACE).await;
        c.send(&Packet::Publish(publish)).await;
        assert_eq!(disconnected_with(&mut c).await, reason, "{what}");
    }
    // Topic Alias 2 is within what was announced.
    let (mut c, _) = Raw::connect(addr, Connect::new(V5, "planned")).await;
    let mut p = qos_publish("a", QoS::AtLeastOnce, 1);
    p.properties = Properties::new().with(PropertyId::TopicAlias, PropertyValue::TwoByteInteger(2));
    c.send(&Packet::Publish(p)).await;
    assert!(matches!(c.recv().await, Packet::PubAck(_)));
    drop(c);
    // Receive Maximum 1 with Maximum QoS 1: the plan without the QoS cap lets QoS 2 in, and
    // a second QoS 2 message awaiting PUBREL is one too many.
    control.plan_connack(
        "planned",
        Some(ConnackPlan {
            receive_maximum: Some(1),
            ..ConnackPlan::default()
        }),
    );
    let (mut c, ack) = Raw::connect(addr, Connect::new(V5, "planned")).await;
    assert_eq!(ack.properties.get_int(PropertyId::MaximumQos), None);
    c.send(&Packet::Publish(qos_publish("a", QoS::ExactlyOnce, 1)))
        .await;
    assert!(matches!(c.recv().await, Packet::PubRec(_)));
    tokio::time::sleep(CONNACK_GRACE).await;
    c.send(&Packet::Publish(qos_publish("a", QoS::ExactlyOnce, 2)))
        .await;
    assert_eq!(disconnected_with(&mut c).await, 0x93);
    // The plan removed: the platform's CONNACK again.
    control.plan_connack("planned", None);
    let (_c, ack) = Raw::connect(addr, Connect::new(V5, "planned")).await;
    assert_eq!(
        ack.properties.get_int(PropertyId::ReceiveMaximum),
        Some(1024)
    );
    assert_eq!(ack.properties.get_int(PropertyId::ServerKeepAlive), None);
}

/// Session Present 1 whatever the session: both versions; a 3.1.1 CONNACK carries no
/// properties.
#[tokio::test]
async fn a_planned_session_present_is_sent_to_a_clean_session_client() {
    let server = server().await;
    let plan = ConnackPlan {
        session_present: true,
        receive_maximum: Some(1),
        ..ConnackPlan::default()
    };
    for (version, id) in [(V4, "sp4"), (V5, "sp5")] {
        server.control().plan_connack(id, Some(plan));
        let (_c, ack) = Raw::connect(server.local_addr, Connect::new(version, id)).await;
        assert!(ack.session_present, "{version:?}");
        assert_eq!(
            ack.properties.get_int(PropertyId::ReceiveMaximum),
            (version == V5).then_some(1)
        );
    }
}

/// A server DISCONNECT: the reason goes out, nothing more follows (no PINGRESP), and the
/// server waits for the client's close — or closes itself once the linger passes.
#[tokio::test]
async fn a_server_disconnect_waits_for_the_client_to_close() {
    let server = server().await;
    let control = server.control();
    // Connections are numbered from 1 in order.
    let mut c = Raw::connected(server.local_addr, V5, "d1").await;
    assert!(control.disconnect(1, 0x89, Duration::from_secs(30)));
    match c.recv().await {
        Packet::Disconnect(d) => assert_eq!(d.reason_code, 0x89),
        other => panic!("expected DISCONNECT 0x89, got {other:?}"),
    }
    c.send(&Packet::PingReq).await;
    c.assert_silent().await;
    drop(c);
    let mut c = Raw::connected(server.local_addr, V5, "d2").await;
    let sent = Instant::now();
    assert!(control.disconnect(2, 0x8B, Duration::from_millis(500)));
    match c.closed(WAIT).await.as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason_code, 0x8B),
        other => panic!("expected DISCONNECT then close, saw {other:?}"),
    }
    assert!(
        sent.elapsed() >= Duration::from_millis(450),
        "{:?}",
        sent.elapsed()
    );
}

/// Aliased commands: the topic once with alias 1, then the alias alone; never to a client
/// that allows no Topic Alias.
#[tokio::test]
async fn an_aliased_command_uses_the_topic_once_then_the_alias() {
    let server = server().await;
    let mut connect = Connect::new(V5, "aliases");
    connect.properties = Properties::new().with(
        PropertyId::TopicAliasMaximum,
        PropertyValue::TwoByteInteger(1),
    );
    let (mut c, _) = Raw::connect(server.local_addr, connect).await;
    c.subscribe(1, &[("cmd/#", QoS::AtMostOnce)]).await;
    let mut plain = Raw::connected(server.local_addr, V5, "plain").await;
    plain.subscribe(1, &[("cmd/#", QoS::AtMostOnce)]).await;
    let control = server.control();
    for _ in 0..2 {
        control
            .publish_aliased("cmd/a", "x".into(), QoS::AtMostOnce)
            .unwrap();
    }
    control
        .publish_aliased("cmd/b", "x".into(), QoS::AtMostOnce)
        .unwrap();
    let alias = |p: &Publish| p.properties.get_int(PropertyId::TopicAlias);
    let first = c.recv_publish().await;
    assert_eq!((&*first.topic, alias(&first)), ("cmd/a", Some(1)));
    let second = c.recv_publish().await;
    assert_eq!((&*second.topic, alias(&second)), ("", Some(1)));
    // The only alias is taken: another topic goes in full.
    let third = c.recv_publish().await;
    assert_eq!((&*third.topic, alias(&third)), ("cmd/b", None));
    for topic in ["cmd/a", "cmd/a", "cmd/b"] {
        let p = plain.recv_publish().await;
        assert_eq!((&*p.topic, alias(&p)), (topic, None));
    }
}

/// PUBREL withheld on a connection: the flow stays at PUBREC, and the PUBREL goes out
/// when the client's session resumes.
#[tokio::test]
async fn a_withheld_pubrel_is_sent_when_the_session_resumes() {
    let server = server().await;
    let mut connect = Connect::new(V4, "q2");
    connect.clean_session = false;
    let (mut c, _) = Raw::connect(server.local_addr, connect.clone()).await;
    c.subscribe(1, &[("q/2", QoS::ExactlyOnce)]).await;
    let control = server.control();
    assert!(control.misbehave(1, Misbehaviour::WithholdPubrel, true));
    control
        .publish("q/2", "x".into(), QoS::ExactlyOnce, false)
        .unwrap();
    let p = c.recv_publish().await;
    let pid = p.packet_id.expect("QoS 2");
    c.send(&Packet::PubRec(PubResponse::new(pid))).await;
    c.assert_silent().await;
    drop(c);
    let (mut c, ack) = Raw::connect(server.local_addr, connect).await;
    assert!(ack.session_present);
    match c.recv().await {
        Packet::PubRel(r) => assert_eq!(r.packet_id, pid),
        other => panic!("expected the PUBREL, got {other:?}"),
    }
    c.send(&Packet::PubComp(PubResponse::new(pid))).await;
    assert!(matches!(c.next(support::QUIET).await, Seen::Nothing));
}

/// PUBACKs a device test withholds leave QoS 1 PUBLISHes unacknowledged: with Receive
/// Maximum 2 announced, a third new one closes the connection with 0x93, while a re-sent
/// one (same packet id, DUP 1) is no new message.
#[tokio::test]
async fn withheld_pubacks_count_against_the_announced_receive_maximum() {
    let server = server().await;
    let control = server.control();
    control.plan_connack(
        "rm",
        Some(ConnackPlan {
            receive_maximum: Some(2),
            ..ConnackPlan::default()
        }),
    );
    let mut c = Raw::connected(server.local_addr, V5, "rm").await;
    assert!(control.misbehave(1, Misbehaviour::WithholdPuback, true));
    tokio::time::sleep(CONNACK_GRACE).await;
    for pid in [1, 2] {
        c.send(&Packet::Publish(qos_publish("a", QoS::AtLeastOnce, pid)))
            .await;
    }
    let mut again = qos_publish("a", QoS::AtLeastOnce, 2);
    again.dup = true;
    c.send(&Packet::Publish(again)).await;
    c.assert_silent().await;
    c.send(&Packet::Publish(qos_publish("a", QoS::AtLeastOnce, 3)))
        .await;
    assert_eq!(disconnected_with(&mut c).await, 0x93);
}

/// What a planned CONNACK announces binds the CONNECT's Will too: a Will QoS above the
/// planned Maximum QoS is refused with 0x9B, Will Retain under Retain Available 0 with 0x9A.
#[tokio::test]
async fn a_will_beyond_the_planned_connack_is_refused() {
    let server = server().await;
    let control = server.control();
    control.plan_connack(
        "will",
        Some(ConnackPlan {
            maximum_qos: Some(QoS::AtMostOnce),
            retain_available: Some(false),
            ..ConnackPlan::default()
        }),
    );
    let will = |qos, retain| {
        let mut c = Connect::new(V5, "will");
        c.will = Some(mqtt_conform::codec::Will {
            topic: "w".into(),
            payload: "bye".into(),
            qos,
            retain,
            properties: Properties::new(),
        });
        c
    };
    for (connect, code) in [
        (will(QoS::AtLeastOnce, false), 0x9B),
        (will(QoS::AtMostOnce, true), 0x9A),
    ] {
        let (mut c, ack) = Raw::connect(server.local_addr, connect).await;
        assert_eq!(ack.code, code);
        c.closed(WAIT).await;
    }
    let (_c, ack) = Raw::connect(server.local_addr, will(QoS::AtMostOnce, false)).await;
    assert_eq!(ack.code, 0);
}

/// A client need not wait for the CONNACK: what arrives within CONNACK_GRACE of it may have
/// left before the client knew the limits, and is not held to them (a QoS 2 PUBLISH above
/// the announced Maximum QoS 1 is taken, not answered with DISCONNECT 0x9B). The judge
/// applies the same grace, so the two never disagree.
#[tokio::test]
async fn packets_arriving_right_after_the_connack_are_not_held_to_its_limits() {
    let server = server().await;
    let control = server.control();
    control.plan_connack(
        "early",
        Some(ConnackPlan {
            maximum_qos: Some(QoS::AtLeastOnce),
            ..ConnackPlan::default()
        }),
    );
    let (mut c, ack) = Raw::connect(server.local_addr, Connect::new(V5, "early")).await;
    assert_eq!(ack.properties.get_int(PropertyId::MaximumQos), Some(1));
    c.send(&Packet::Publish(qos_publish("a", QoS::ExactlyOnce, 1)))
        .await;
    assert!(matches!(c.recv().await, Packet::PubRec(_)));
}

/// A 5.0 CONNECT of `id` announcing Maximum Packet Size `max`, with `will_qos` a Will.
fn connect_with_max(id: &str, max: u32, will_qos: Option<QoS>) -> Connect {
    let mut c = Connect::new(V5, id);
    c.properties = Properties::new().with(
        PropertyId::MaximumPacketSize,
        PropertyValue::FourByteInteger(max),
    );
    if let Some(qos) = will_qos {
        c.will = Some(mqtt_conform::codec::Will {
            topic: "w".into(),
            payload: b"bye".to_vec().into(),
            qos,
            retain: false,
            properties: Properties::new(),
        });
    }
    c
}

/// The CONNACK never exceeds the client's Maximum Packet Size (MQTT-3.1.2-24): a planned
/// CONNACK of 25 bytes leaves out its Topic Alias Maximum for a client announcing 22 (its
/// absence means 0, and an alias is then refused); a client with room for no CONNACK that
/// states its limits is refused with the bare 0x83 (MQTT-3.1.4-2), one with room for
/// not even that gets a close; a refusal leaves out a Reason String it has no room for
/// (MQTT-3.2.2-19).
#[tokio::test]
async fn the_connack_fits_the_clients_maximum_packet_size() {
    let server = server().await;
    let addr = server.local_addr;
    let plan = ConnackPlan {
        maximum_qos: Some(QoS::AtLeastOnce),
        retain_available: Some(false),
        server_keep_alive: Some(30),
        receive_maximum: Some(5),
        maximum_packet_size: Some(64),
        topic_alias_maximum: Some(2),
        ..ConnackPlan::default()
    };
    server.control().plan_connack("small", Some(plan));
    let (_c, whole) = Raw::connect(addr, Connect::new(V5, "small")).await;
    let size = |ack: &mqtt_conform::codec::ConnAck| {
        mqtt_conform::codec::encode_to_vec(&Packet::ConnAck(ack.clone()), V5)
            .unwrap()
            .len()
    };
    assert_eq!(size(&whole), 25, "{whole:?}");

    // Room for all but the Topic Alias Maximum (the reader holds the CONNACK to 22 bytes).
    let (mut c, ack) = Raw::connect(addr, connect_with_max("small", 22, None)).await;
    assert_eq!(ack.code, 0);
    let p = &ack.properties;
    assert_eq!(p.get_int(PropertyId::TopicAliasMaximum), None);
    assert_eq!(p.get_int(PropertyId::MaximumQos), Some(1));
    assert_eq!(p.get_int(PropertyId::RetainAvailable), Some(0));
    assert_eq!(p.get_int(PropertyId::ServerKeepAlive), Some(30));
    assert_eq!(p.get_int(PropertyId::ReceiveMaximum), Some(5));
    assert_eq!(p.get_int(PropertyId::MaximumPacketSize), Some(64));
    tokio::time::sleep(CONNACK_GRACE).await;
    let mut aliased = qos_publish("a", QoS::AtLeastOnce, 1);
    aliased.properties =
        Properties::new().with(PropertyId::TopicAlias, PropertyValue::TwoByteInteger(1));
    c.send(&Packet::Publish(aliased)).await;
    assert_eq!(
        disconnected_with(&mut c).await,
        0x94,
        "Topic Alias 1 above 0"
    );

    // One byte short: the limits cannot be stated, the CONNECT is refused.
    let (mut c, ack) = Raw::connect(addr, connect_with_max("small", 21, None)).await;
    assert_eq!((ack.code, ack.properties.0.len()), (0x83, 0), "{ack:?}");
    assert_eq!(c.closed(WAIT).await, Vec::<Packet>::new());

    // No room for any CONNACK (5 bytes at least): closed without one.
    let mut c = Raw::open(addr, V5).await;
    c.send(&Packet::Connect(connect_with_max("small", 4, None).into()))
        .await;
    assert_eq!(c.closed(WAIT).await, Vec::<Packet>::new());

    // A refusal explains itself in a Reason String only where it fits.
    let will_qos_2 = |max| connect_with_max("small", max, Some(QoS::ExactlyOnce));
    let (_c, roomy) = Raw::connect(addr, will_qos_2(1024)).await;
    assert_eq!(roomy.code, 0x9B);
    assert!(roomy.properties.get(PropertyId::ReasonString).is_some());
    let (_c, tight) = Raw::connect(addr, will_qos_2(16)).await;
    assert_eq!(
        (tight.code, tight.properties.0.len()),
        (0x9B, 0),
        "{tight:?}"
    );
}
