use super::*;
use crate::codec::{
    ConnAck, Connect, Properties, PropertyValue, PubResponse, Subscribe, Subscription,
};

const V311: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;

fn t(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn publish(qos: QoS, pid: Option<u16>, dup: bool) -> Packet {
    let mut p = Publish::new("t/1", "x");
    p.qos = qos;
    p.packet_id = pid;
    p.dup = dup;
    Packet::Publish(p)
}

fn ack(code: u8, props: Properties, present: bool) -> Packet {
    Packet::ConnAck(ConnAck {
        session_present: present,
        code,
        properties: props,
    })
}

/// A connected client: CONNECT (with `clean`) and the server's CONNACK.
fn connected(version: ProtocolVersion, clean: bool, props: Properties) -> (Conduct, Vec<Note>) {
    let mut c = Conduct::new(version, Start::Seen);
    let mut notes = Vec::new();
    let mut connect = Connect::new(version, "dev");
    connect.clean_session = clean;
    c.client(t(0), &Packet::Connect(Box::new(connect)), 20, &mut notes);
    c.server(t(1), &ack(0, props, false));
    (c, notes)
}

fn broken_duties(notes: &[Note]) -> Vec<Duty> {
    notes
        .iter()
        .filter(|n| matches!(n.outcome, Outcome::Broken(_)))
        .map(|n| n.duty)
        .collect()
}

/// Why `duty` was broken, for each note breaking it.
fn broken_reasons(notes: &[Note], duty: Duty) -> Vec<&str> {
    notes
        .iter()
        .filter_map(|n| match &n.outcome {
            Outcome::Broken(why) if n.duty == duty => Some(why.as_str()),
            _ => None,
        })
        .collect()
}

fn kept_duties(notes: &[Note]) -> Vec<Duty> {
    notes
        .iter()
        .filter(|n| n.outcome == Outcome::Kept)
        .map(|n| n.duty)
        .collect()
}

#[test]
fn a_conforming_qos1_exchange_breaks_nothing() {
    let (mut c, mut notes) = connected(V311, true, Properties::new());
    c.client(
        t(2),
        &publish(QoS::AtLeastOnce, Some(1), false),
        10,
        &mut notes,
    );
    c.server(t(3), &Packet::PubAck(PubResponse::new(1)));
    c.server(t(4), &publish(QoS::AtLeastOnce, Some(7), false));
    c.client(t(5), &Packet::PubAck(PubResponse::new(7)), 4, &mut notes);
    c.client(t(6), &Packet::Disconnect(Default::default()), 2, &mut notes);
    c.end(t(7), Some(true), &mut notes);
    assert_eq!(broken_duties(&notes), vec![]);
    let k = kept_duties(&notes);
    for d in [
        Duty::FirstPacketConnect,
        Duty::OneConnect,
        Duty::FreshPacketId,
        Duty::AcknowledgeQos1,
        Duty::AckKindPerQos,
        Duty::CloseAfterDisconnect,
        Duty::NothingAfterDisconnect,
    ] {
        assert!(k.contains(&d), "{d:?} not kept in {k:?}");
    }
}

#[test]
fn an_identifier_in_use_a_second_connect_and_a_packet_after_disconnect_are_each_broken() {
    let (mut c, mut notes) = connected(V311, true, Properties::new());
    c.client(
        t(2),
        &publish(QoS::AtLeastOnce, Some(1), false),
        10,
        &mut notes,
    );
    let mut sub = Subscribe {
        packet_id: 1,
        properties: Properties::new(),
        subscriptions: vec![Subscription::new("a", QoS::AtMostOnce)],
    };
    c.client(t(3), &Packet::Subscribe(sub.clone()), 8, &mut notes);
    assert_eq!(broken_duties(&notes), vec![Duty::FreshPacketId]);
    notes.clear();
    c.client(
        t(4),
        &Packet::Connect(Box::new(Connect::new(V311, "dev"))),
        20,
        &mut notes,
    );
    assert_eq!(broken_duties(&notes), vec![Duty::OneConnect]);
    notes.clear();
    c.client(t(5), &Packet::Disconnect(Default::default()), 2, &mut notes);
    sub.packet_id = 2;
    c.client(t(6), &Packet::Subscribe(sub), 8, &mut notes);
    assert_eq!(broken_duties(&notes), vec![Duty::NothingAfterDisconnect]);
}

#[test]
fn acknowledgements_out_of_order_and_of_the_wrong_kind_are_broken() {
    let (mut c, mut notes) = connected(V311, true, Properties::new());
    c.server(t(2), &publish(QoS::AtLeastOnce, Some(1), false));
    c.server(t(3), &publish(QoS::AtLeastOnce, Some(2), false));
    c.client(t(4), &Packet::PubAck(PubResponse::new(2)), 4, &mut notes);
    assert_eq!(broken_duties(&notes), vec![Duty::PubackOrder]);
    notes.clear();
    c.client(t(5), &Packet::PubRec(PubResponse::new(1)), 4, &mut notes);
    assert_eq!(broken_duties(&notes), vec![Duty::AckKindPerQos]);
    notes.clear();
    c.client(t(6), &Packet::PubAck(PubResponse::new(9)), 4, &mut notes);
    assert_eq!(broken_duties(&notes), vec![Duty::AckMatchesPacketId]);
}

#[test]
fn a_missing_acknowledgement_is_broken_only_past_its_window() {
    let (mut c, mut notes) = connected(V311, true, Properties::new());
    c.server(t(2), &publish(QoS::ExactlyOnce, Some(3), false));
    c.end(t(2) + ACK_WINDOW - t(1), Some(false), &mut notes);
    assert!(broken_duties(&notes).is_empty());
    assert!(
        notes
            .iter()
            .any(|n| n.duty == Duty::AcknowledgeQos2 && matches!(n.outcome, Outcome::Unjudged(_)))
    );
    notes.clear();
    c.end(t(2) + ACK_WINDOW, Some(false), &mut notes);
    assert_eq!(broken_duties(&notes), vec![Duty::AcknowledgeQos2]);
    let Outcome::Broken(why) = &notes[0].outcome else {
        unreachable!()
    };
    assert!(
        why.contains("PUBREC for packet id 3") && why.contains("window 10 s"),
        "{why}"
    );
}

#[test]
fn the_qos2_sender_releases_in_order_and_never_republishes_after_pubrel() {
    let (mut c, mut notes) = connected(V311, true, Properties::new());
    c.client(
        t(2),
        &publish(QoS::ExactlyOnce, Some(1), false),
        10,
        &mut notes,
    );
    c.client(
        t(3),
        &publish(QoS::ExactlyOnce, Some(2), false),
        10,
        &mut notes,
    );
    c.server(t(4), &Packet::PubRec(PubResponse::new(1)));
    c.server(t(5), &Packet::PubRec(PubResponse::new(2)));
    c.client(t(6), &Packet::PubRel(PubResponse::new(2)), 4, &mut notes);
    assert_eq!(broken_duties(&notes), vec![Duty::PubrelOrder]);
    notes.clear();
    c.client(
        t(7),
        &publish(QoS::ExactlyOnce, Some(2), true),
        10,
        &mut notes,
    );
    assert_eq!(broken_duties(&notes), vec![Duty::NoPublishAfterPubrel]);
    notes.clear();
    c.end(t(7) + ACK_WINDOW, Some(true), &mut notes);
    assert_eq!(broken_duties(&notes), vec![Duty::ReleaseAfterPubrec]);
}

#[test]
fn a_resumed_session_is_judged_on_its_resends() {
    let (mut c, mut notes) = connected(V311, false, Properties::new());
    c.client(
        t(2),
        &publish(QoS::AtLeastOnce, Some(4), false),
        10,
        &mut notes,
    );
    c.client(
        t(3),
        &publish(QoS::AtLeastOnce, Some(5), false),
        10,
        &mut notes,
    );
    c.end(t(4), Some(false), &mut notes);
    let carried = c.carried().expect("Clean Session 0 persists");
    assert!(!carried.is_empty());

    let mut next = Conduct::new(V311, Start::Seen);
    next.resume(carried);
    let mut notes = Vec::new();
    let mut connect = Connect::new(V311, "dev");
    connect.clean_session = false;
    next.client(t(10), &Packet::Connect(Box::new(connect)), 20, &mut notes);
    next.server(t(11), &ack(0, Properties::new(), true));
    next.client(
        t(12),
        &publish(QoS::AtLeastOnce, Some(5), false),
        10,
        &mut notes,
    );
    assert_eq!(
        broken_duties(&notes),
        vec![Duty::ResendOrder, Duty::RedeliveryDup1]
    );
    notes.clear();
    next.end(t(11) + ACK_WINDOW, Some(true), &mut notes);
    assert_eq!(broken_duties(&notes), vec![Duty::ResendOnResume]);
}

#[test]
fn a_resumed_message_re_sent_under_another_id_breaks_only_the_same_id_duty() {
    let (mut c, mut notes) = connected(V311, false, Properties::new());
    c.client(
        t(2),
        &publish(QoS::AtLeastOnce, Some(4), false),
        10,
        &mut notes,
    );
    c.end(t(3), Some(false), &mut notes);
    let (mut next, mut notes) = resumed_after(&c, V311, t(10), Properties::new());
    next.client(
        t(12),
        &publish(QoS::AtLeastOnce, Some(9), true),
        10,
        &mut notes,
    );
    next.end(t(11) + ACK_WINDOW, Some(true), &mut notes);
    assert_eq!(broken_duties(&notes), vec![Duty::ResendSameId]);
    assert!(kept_duties(&notes).contains(&Duty::ResendOnResume));
}

#[test]
fn a_v5_client_is_held_to_the_connack_limits() {
    let mut props = Properties::new();
    props = props.with(PropertyId::MaximumQos, PropertyValue::Byte(0));
    props = props.with(PropertyId::RetainAvailable, PropertyValue::Byte(0));
    props = props.with(
        PropertyId::MaximumPacketSize,
        PropertyValue::FourByteInteger(64),
    );
    props = props.with(
        PropertyId::TopicAliasMaximum,
        PropertyValue::TwoByteInteger(2),
    );
    let (mut c, mut notes) = connected(V5, true, props);
    let mut p = Publish::new("t", "x");
    p.retain = true;
    p.properties = std::mem::take(&mut p.properties)
        .with(PropertyId::TopicAlias, PropertyValue::TwoByteInteger(3));
    // Sent before the CONNACK could have reached the client: only the defaults bound it,
    // which allow the retained message and the size, but no Topic Alias at all.
    c.client(t(2), &Packet::Publish(p.clone()), 100, &mut notes);
    assert_eq!(broken_duties(&notes), vec![Duty::TopicAliasWithinMaximum]);
    // Beyond the limits it may not have known: doubtful, never kept.
    let mut doubtful: Vec<(Duty, String)> = notes
        .iter()
        .filter_map(|n| match &n.outcome {
            Outcome::Doubtful(why) => Some((n.duty, why.clone())),
            _ => None,
        })
        .collect();
    doubtful.sort_by_key(|(d, _)| format!("{d:?}"));
    assert_eq!(
        doubtful.iter().map(|(d, _)| *d).collect::<Vec<_>>(),
        vec![Duty::MaximumPacketSize, Duty::RetainAvailable]
    );
    assert_eq!(
        doubtful[0].1,
        "PUBLISH of 100 bytes; the server's Maximum Packet Size is 64, 0.001 s after the CONNACK: inside the 0.5 s after it in which a packet may have left the client before the CONNACK reached it, so whether the limit bound it cannot be told"
    );
    assert!(!kept_duties(&notes).contains(&Duty::RetainAvailable));
    notes.clear();
    let bound = t(1) + CONNACK_GRACE;
    c.client(bound, &Packet::Publish(p), 100, &mut notes);
    let mut b = broken_duties(&notes);
    b.sort_by_key(|d| format!("{d:?}"));
    assert_eq!(
        b,
        vec![
            Duty::MaximumPacketSize,
            Duty::RetainAvailable,
            Duty::TopicAliasWithinMaximum
        ]
    );
    notes.clear();
    c.client(
        bound + t(1),
        &publish(QoS::AtLeastOnce, Some(1), false),
        10,
        &mut notes,
    );
    assert_eq!(broken_duties(&notes), vec![Duty::MaximumQos]);
}

#[test]
fn a_v5_client_respects_receive_maximum_and_still_acknowledges() {
    let mut props = Properties::new();
    props = props.with(PropertyId::ReceiveMaximum, PropertyValue::TwoByteInteger(1));
    let (mut c, mut notes) = connected(V5, true, props);
    c.client(
        t(1001),
        &publish(QoS::AtLeastOnce, Some(1), false),
        10,
        &mut notes,
    );
    c.server(t(1002), &publish(QoS::AtLeastOnce, Some(9), false));
    c.client(t(1003), &Packet::PubAck(PubResponse::new(9)), 4, &mut notes);
    assert!(kept_duties(&notes).contains(&Duty::NotHeldBackByQuota));
    c.client(
        t(1004),
        &publish(QoS::AtLeastOnce, Some(2), false),
        10,
        &mut notes,
    );
    assert_eq!(broken_duties(&notes), vec![Duty::ReceiveMaximum]);
}

#[test]
fn a_v5_client_closes_after_an_error_code_and_does_not_use_auth_unasked() {
    let mut c = Conduct::new(V5, Start::Seen);
    let mut notes = Vec::new();
    c.client(
        t(0),
        &Packet::Connect(Box::new(Connect::new(V5, "dev"))),
        20,
        &mut notes,
    );
    c.server(t(1), &ack(0x87, Properties::new(), false));
    // Within the close window a packet may have crossed the CONNACK: allowed.
    c.client(t(2), &Packet::PingReq, 2, &mut notes);
    assert_eq!(broken_duties(&notes), vec![]);
    c.client(t(1) + CLOSE_WINDOW, &Packet::PingReq, 2, &mut notes);
    assert_eq!(broken_duties(&notes), vec![Duty::CloseAfterErrorCode]);
    notes.clear();
    c.client(
        t(3) + CLOSE_WINDOW,
        &Packet::Auth(crate::codec::Auth {
            reason_code: 0x19,
            properties: Properties::new(),
        }),
        4,
        &mut notes,
    );
    assert_eq!(
        broken_duties(&notes),
        vec![Duty::CloseAfterErrorCode, Duty::NoAuthWithoutMethod]
    );
}

#[test]
fn a_capture_joined_midway_does_not_judge_what_came_before() {
    let mut c = Conduct::new(V311, Start::JoinedMidway);
    let mut notes = Vec::new();
    c.client(t(0), &Packet::PubAck(PubResponse::new(3)), 4, &mut notes);
    c.client(
        t(1),
        &publish(QoS::AtLeastOnce, Some(3), true),
        10,
        &mut notes,
    );
    assert_eq!(broken_duties(&notes), vec![]);
}

#[test]
fn a_zero_length_client_id_needs_clean_session_in_3_1_1() {
    let mut c = Conduct::new(V311, Start::Seen);
    let mut notes = Vec::new();
    let mut connect = Connect::new(V311, "");
    connect.clean_session = false;
    c.client(t(0), &Packet::Connect(Box::new(connect)), 14, &mut notes);
    assert_eq!(broken_duties(&notes), vec![Duty::EmptyClientIdClean]);
}

#[test]
fn a_reused_identifier_is_a_new_message_to_acknowledge() {
    let (mut c, mut notes) = connected(V5, true, Properties::new());
    c.server(t(2), &publish(QoS::AtLeastOnce, Some(4), false));
    c.client(t(3), &Packet::PubAck(PubResponse::new(4)), 4, &mut notes);
    c.server(t(4), &publish(QoS::AtLeastOnce, Some(4), false));
    notes.clear();
    c.end(t(4) + ACK_WINDOW, Some(false), &mut notes);
    let mut b = broken_duties(&notes);
    b.sort_by_key(|d| format!("{d:?}"));
    assert_eq!(b, vec![Duty::AcknowledgeQos1, Duty::ReuseAfterPuback]);
}

#[test]
fn a_topic_alias_the_connection_never_set_calls_for_a_close() {
    let (mut c, mut notes) = connected(V5, true, Properties::new());
    let mut p = Publish::new("", "x");
    p.qos = QoS::AtLeastOnce;
    p.packet_id = Some(1);
    p.properties = p
        .properties
        .with(PropertyId::TopicAlias, PropertyValue::TwoByteInteger(3));
    c.server(t(2), &Packet::Publish(p));
    c.client(t(3), &Packet::PubAck(PubResponse::new(1)), 4, &mut notes);
    assert!(!broken_duties(&notes).contains(&Duty::NoAliasCarriedOver));
    c.client(t(2) + CLOSE_WINDOW, &Packet::PingReq, 2, &mut notes);
    assert!(broken_duties(&notes).contains(&Duty::NoAliasCarriedOver));
}

#[test]
fn a_malformed_server_packet_calls_for_a_close_in_3_1_1() {
    let (mut c, mut notes) = connected(V311, true, Properties::new());
    c.server_malformed(t(2), true, "flags".into());
    c.client(t(2) + CLOSE_WINDOW, &Packet::PingReq, 2, &mut notes);
    assert_eq!(broken_duties(&notes), vec![Duty::CloseOnInvalidFlags]);
    assert_eq!(
        Duty::CloseOnInvalidFlags.statements(false),
        ["MQTT-4.8.0-1", "MQTT-2.2.2-2"]
    );
}

#[test]
fn protocol_errors_without_a_statement_number_are_duties_too() {
    let (mut c, mut notes) = connected(V5, true, Properties::new());
    c.client(t(2), &Packet::PingResp, 2, &mut notes);
    assert_eq!(broken_duties(&notes), vec![Duty::OnlyClientPackets]);
    notes.clear();
    let mut d = crate::codec::Disconnect::default();
    d.properties = d.properties.with(
        PropertyId::SessionExpiryInterval,
        PropertyValue::FourByteInteger(60),
    );
    c.client(t(3), &Packet::Disconnect(d), 9, &mut notes);
    assert_eq!(
        broken_duties(&notes),
        vec![Duty::NoExpiryRaisedOnDisconnect]
    );
    assert!(Duty::NoExpiryRaisedOnDisconnect.unnumbered());
    assert!(Duty::NoExpiryRaisedOnDisconnect.statements(true).is_empty());
}

#[test]
fn a_stray_pubcomp_breaks_the_identifier_duty_in_5_0_only() {
    for (version, broken) in [(V311, vec![]), (V5, vec![Duty::AckMatchesPacketId])] {
        let (mut c, mut notes) = connected(version, true, Properties::new());
        c.client(t(2), &Packet::PubComp(PubResponse::new(7)), 4, &mut notes);
        assert_eq!(broken_duties(&notes), broken, "MQTT {version}");
    }
}

#[test]
fn a_resumed_session_re_sends_the_pubrel_not_the_released_publish() {
    let (mut c, mut notes) = connected(V5, false, Properties::new());
    c.session_persists = true;
    c.client(
        t(2),
        &publish(QoS::ExactlyOnce, Some(3), false),
        10,
        &mut notes,
    );
    c.server(t(3), &Packet::PubRec(PubResponse::new(3)));
    c.client(t(4), &Packet::PubRel(PubResponse::new(3)), 4, &mut notes);
    c.end(t(5), Some(true), &mut notes);
    let (mut next, mut notes) = resumed_after(&c, V5, t(10), Properties::new());
    next.client(
        t(12),
        &publish(QoS::ExactlyOnce, Some(3), true),
        10,
        &mut notes,
    );
    assert_eq!(broken_duties(&notes), vec![Duty::NoPublishAfterPubrel]);
    notes.clear();
    next.client(t(13), &Packet::PubRel(PubResponse::new(3)), 4, &mut notes);
    assert_eq!(broken_duties(&notes), vec![]);
    assert!(kept_duties(&notes).contains(&Duty::ResendOnResume));
}

/// The statements the broken notes stand for in `version`, sorted.
fn broken_statements(notes: &[Note], version: ProtocolVersion) -> Vec<&'static str> {
    let mut s: Vec<&'static str> = broken_duties(notes)
        .iter()
        .flat_map(|d| d.statements(version.is_v5()).iter().copied())
        .collect();
    s.sort_unstable();
    s.dedup();
    s
}

#[test]
fn a_reused_qos2_identifier_breaks_the_statement_of_the_stage_its_flow_is_in() {
    // Another message on the same identifier (another topic: not a re-sending).
    let other = || {
        let mut p = Publish::new("t/2", "y");
        p.qos = QoS::ExactlyOnce;
        p.packet_id = Some(1);
        Packet::Publish(p)
    };
    // Awaiting the PUBREC: the PUBLISH is unacknowledged, no PUBREL was sent yet.
    let (mut c, mut notes) = connected(V5, true, Properties::new());
    c.client(
        t(2),
        &publish(QoS::ExactlyOnce, Some(1), false),
        10,
        &mut notes,
    );
    notes.clear();
    c.client(t(3), &other(), 10, &mut notes);
    assert_eq!(
        broken_statements(&notes, V5),
        ["MQTT-2.2.1-3", "MQTT-4.3.3-1", "MQTT-4.3.3-3"]
    );
    // Released, awaiting the PUBCOMP: the PUBREL is the unacknowledged packet.
    let (mut c, mut notes) = connected(V5, true, Properties::new());
    c.client(
        t(2),
        &publish(QoS::ExactlyOnce, Some(1), false),
        10,
        &mut notes,
    );
    c.server(t(3), &Packet::PubRec(PubResponse::new(1)));
    c.client(t(4), &Packet::PubRel(PubResponse::new(1)), 4, &mut notes);
    notes.clear();
    c.client(t(5), &other(), 10, &mut notes);
    assert_eq!(
        broken_statements(&notes, V5),
        ["MQTT-2.2.1-3", "MQTT-4.3.3-1", "MQTT-4.3.3-5"]
    );
    // A QoS 2 message on the id of a QoS 1 one awaiting its PUBACK.
    let (mut c, mut notes) = connected(V5, true, Properties::new());
    c.client(
        t(2),
        &publish(QoS::AtLeastOnce, Some(1), false),
        10,
        &mut notes,
    );
    notes.clear();
    c.client(t(3), &other(), 10, &mut notes);
    assert_eq!(
        broken_statements(&notes, V5),
        ["MQTT-2.2.1-3", "MQTT-4.3.2-3", "MQTT-4.3.3-1"]
    );
}

#[test]
fn a_first_sending_with_dup_names_the_new_session_only_after_clean_start() {
    for (version, clean, statements) in [
        (V311, true, &["MQTT-3.1.2-6", "MQTT-4.3.2-1"][..]),
        (V311, false, &["MQTT-4.3.2-1"][..]),
        (
            V5,
            true,
            &["MQTT-3.1.2-4", "MQTT-3.2.2-5", "MQTT-4.3.2-2"][..],
        ),
        (V5, false, &["MQTT-3.2.2-5", "MQTT-4.3.2-2"][..]),
    ] {
        let (mut c, mut notes) = connected(version, clean, Properties::new());
        notes.clear();
        c.client(
            t(2),
            &publish(QoS::AtLeastOnce, Some(1), true),
            10,
            &mut notes,
        );
        assert_eq!(
            broken_statements(&notes, version),
            statements,
            "MQTT {version}, clean {clean}"
        );
    }
}

#[test]
fn only_a_topic_alias_within_the_clients_maximum_must_be_accepted() {
    for (alias_max, broken) in [
        (None, vec!["MQTT-4.3.2-4", "MQTT-4.5.0-2"]),
        (
            Some(5),
            vec!["MQTT-3.3.2-10", "MQTT-4.3.2-4", "MQTT-4.5.0-2"],
        ),
    ] {
        let mut c = Conduct::new(V5, Start::Seen);
        let mut notes = Vec::new();
        let mut connect = Connect::new(V5, "dev");
        if let Some(m) = alias_max {
            connect.properties = Properties::new().with(
                PropertyId::TopicAliasMaximum,
                PropertyValue::TwoByteInteger(m),
            );
        }
        c.client(t(0), &Packet::Connect(Box::new(connect)), 20, &mut notes);
        c.server(t(1), &ack(0, Properties::new(), false));
        let aliased = |topic: &str, pid: u16| {
            let mut p = Publish::new(topic, "x");
            p.qos = QoS::AtLeastOnce;
            p.packet_id = Some(pid);
            p.properties =
                Properties::new().with(PropertyId::TopicAlias, PropertyValue::TwoByteInteger(1));
            Packet::Publish(p)
        };
        c.server(t(2), &aliased("in", 1));
        c.client(t(3), &Packet::PubAck(PubResponse::new(1)), 4, &mut notes);
        c.server(t(4), &aliased("", 2));
        c.end(t(4) + ACK_WINDOW, Some(false), &mut notes);
        assert_eq!(
            broken_statements(&notes, V5),
            broken,
            "Topic Alias Maximum {alias_max:?}"
        );
    }
}

/// A QoS 2 PUBLISH (id `pid`) with a Message Expiry Interval of `secs`.
fn expiring_qos2(pid: u16, secs: u32) -> Packet {
    let mut p = Publish::new("t/1", "x");
    p.qos = QoS::ExactlyOnce;
    p.packet_id = Some(pid);
    p.properties = Properties::new().with(
        PropertyId::MessageExpiryInterval,
        PropertyValue::FourByteInteger(secs),
    );
    Packet::Publish(p)
}

#[test]
fn an_expiring_qos2_flow_tests_the_expiry_duties_only_once_the_message_expired() {
    // The sender: a PUBREL never sent breaks the expiry duty only past the expiry.
    for (secs, broken) in [
        (60, vec!["MQTT-4.1.0-1", "MQTT-4.3.3-4"]),
        (1, vec!["MQTT-4.1.0-1", "MQTT-4.3.3-4", "MQTT-4.3.3-7"]),
    ] {
        let (mut c, mut notes) = connected(V5, true, Properties::new());
        c.client(t(2), &expiring_qos2(1, secs), 12, &mut notes);
        c.server(t(3), &Packet::PubRec(PubResponse::new(1)));
        notes.clear();
        c.end(t(3) + ACK_WINDOW, Some(false), &mut notes);
        assert_eq!(broken_statements(&notes, V5), broken, "expiry {secs} s");
    }
    // A PUBREL before the expiry shows nothing about it; one after it keeps it.
    for (released, kept) in [(t(500), false), (t(1500), true)] {
        let (mut c, mut notes) = connected(V5, true, Properties::new());
        c.client(t(2), &expiring_qos2(1, 1), 12, &mut notes);
        c.server(t(3), &Packet::PubRec(PubResponse::new(1)));
        notes.clear();
        c.client(
            released,
            &Packet::PubRel(PubResponse::new(1)),
            4,
            &mut notes,
        );
        assert_eq!(
            kept_duties(&notes).contains(&Duty::ReleaseDespiteExpiry),
            kept,
            "PUBREL at {released:?}"
        );
    }
    // The receiver: a PUBCOMP never sent likewise.
    for (secs, broken) in [
        (60, vec!["MQTT-4.3.3-11"]),
        (1, vec!["MQTT-4.3.3-11", "MQTT-4.3.3-13"]),
    ] {
        let (mut c, mut notes) = connected(V5, true, Properties::new());
        c.server(t(2), &expiring_qos2(9, secs));
        c.client(t(3), &Packet::PubRec(PubResponse::new(9)), 4, &mut notes);
        c.server(t(4), &Packet::PubRel(PubResponse::new(9)));
        notes.clear();
        c.end(t(4) + ACK_WINDOW, Some(false), &mut notes);
        assert_eq!(broken_statements(&notes, V5), broken, "expiry {secs} s");
    }
}

#[test]
fn a_publish_reusing_an_acknowledged_identifier_is_new_whatever_its_dup_flag() {
    let (mut c, mut notes) = connected(V5, true, Properties::new());
    c.server(t(2), &publish(QoS::AtLeastOnce, Some(4), false));
    c.client(t(3), &Packet::PubAck(PubResponse::new(4)), 4, &mut notes);
    c.server(t(4), &publish(QoS::AtLeastOnce, Some(4), true));
    notes.clear();
    c.client(t(5), &Packet::PubAck(PubResponse::new(4)), 4, &mut notes);
    assert!(
        kept_duties(&notes).contains(&Duty::ReuseAfterPuback),
        "{notes:?}"
    );
}

#[test]
fn an_identifier_is_shown_kept_in_use_only_by_a_new_message_while_it_is_in_flight() {
    let in_use = |notes: &[Note]| -> Vec<Duty> {
        kept_duties(notes)
            .into_iter()
            .filter(|d| {
                matches!(
                    d,
                    Duty::InUseUntilPuback | Duty::InUseUntilPubrec | Duty::InUseUntilPubcomp
                )
            })
            .collect()
    };
    let (mut c, mut notes) = connected(V5, true, Properties::new());
    c.client(
        t(2),
        &publish(QoS::ExactlyOnce, Some(1), false),
        10,
        &mut notes,
    );
    assert_eq!(in_use(&notes), vec![], "nothing else in flight");
    c.server(t(3), &Packet::PubRec(PubResponse::new(1)));
    c.client(t(4), &Packet::PubRel(PubResponse::new(1)), 4, &mut notes);
    c.client(
        t(5),
        &publish(QoS::AtLeastOnce, Some(2), false),
        10,
        &mut notes,
    );
    notes.clear();
    c.client(
        t(6),
        &publish(QoS::ExactlyOnce, Some(3), false),
        10,
        &mut notes,
    );
    assert_eq!(
        in_use(&notes),
        vec![Duty::InUseUntilPubcomp, Duty::InUseUntilPuback]
    );
}

#[test]
fn a_close_owed_counts_only_within_its_window() {
    let start = |notes: &mut Vec<Note>| {
        let mut c = Conduct::new(V5, Start::Seen);
        c.client(
            t(0),
            &Packet::Connect(Box::new(Connect::new(V5, "dev"))),
            20,
            notes,
        );
        c.server(t(1), &ack(0x87, Properties::new(), false));
        c
    };
    let mut notes = Vec::new();
    start(&mut notes).end(t(1) + CLOSE_WINDOW - t(1), Some(true), &mut notes);
    assert!(kept_duties(&notes).contains(&Duty::CloseAfterErrorCode));
    notes.clear();
    start(&mut notes).end(t(1) + CLOSE_WINDOW, Some(true), &mut notes);
    assert_eq!(
        broken_reasons(&notes, Duty::CloseAfterErrorCode),
        [
            "the client closed the connection only 2.000 s after the CONNACK with reason 0x87 (window 2 s)"
        ]
    );
}

#[test]
fn a_close_after_the_clients_own_disconnect_keeps_the_duty_whenever_it_comes() {
    let mut notes = Vec::new();
    let mut c = Conduct::new(V5, Start::Seen);
    c.client(
        t(0),
        &Packet::Connect(Box::new(Connect::new(V5, "dev"))),
        20,
        &mut notes,
    );
    c.server(t(0), &ack(0x00, Properties::new(), false));
    c.client(t(1), &Packet::Disconnect(Default::default()), 2, &mut notes);
    c.end(t(1) + CLOSE_WINDOW * 3, Some(true), &mut notes);
    assert!(kept_duties(&notes).contains(&Duty::CloseAfterDisconnect));
    assert!(
        !notes
            .iter()
            .any(|n| matches!(n.outcome, Outcome::Broken(_))),
        "{notes:?}"
    );
}

/// Three QoS 1 PUBLISHes left unacknowledged, carried to a connection resumed with
/// Session Present 1 and the CONNACK's `props`.
fn resumed_with_three_carried(props: Properties) -> (Conduct, Vec<Note>) {
    let (mut c, mut notes) = connected(V5, false, Properties::new());
    c.session_persists = true;
    for pid in 1..=3 {
        c.client(
            t(1_000 + u64::from(pid)),
            &publish(QoS::AtLeastOnce, Some(pid), false),
            10,
            &mut notes,
        );
    }
    c.end(t(2_000), Some(false), &mut notes);
    resumed_after(&c, V5, t(10_000), props)
}

/// The session `prev` carries, resumed on a new connection of `version`: a CONNECT with
/// Clean Start 0 at `at`, and 1 ms later a CONNACK with `props` and Session Present 1.
fn resumed_after(
    prev: &Conduct,
    version: ProtocolVersion,
    at: Duration,
    props: Properties,
) -> (Conduct, Vec<Note>) {
    let mut next = Conduct::new(version, Start::Seen);
    next.resume(prev.carried().expect("the session persists"));
    let mut notes = Vec::new();
    let mut connect = Connect::new(version, "dev");
    connect.clean_session = false;
    next.client(at, &Packet::Connect(Box::new(connect)), 20, &mut notes);
    next.session_persists = true;
    next.server(at + t(1), &ack(0, props, true));
    (next, notes)
}

#[test]
fn re_sendings_use_the_send_quota_and_a_full_quota_holds_the_rest_back() {
    let one =
        || Properties::new().with(PropertyId::ReceiveMaximum, PropertyValue::TwoByteInteger(1));
    let after_grace = t(10_001) + CONNACK_GRACE;
    // One re-sent, the quota of 1 used up until the connection ends: the other two are
    // not owed yet.
    let (mut c, mut notes) = resumed_with_three_carried(one());
    c.client(
        after_grace,
        &publish(QoS::AtLeastOnce, Some(1), true),
        10,
        &mut notes,
    );
    c.end(after_grace + ACK_WINDOW * 2, Some(false), &mut notes);
    assert_eq!(broken_duties(&notes), vec![]);
    assert!(
        notes.iter().any(|n| n.duty == Duty::ResendOnResume
            && matches!(&n.outcome, Outcome::Unjudged(why) if why.starts_with("packet ids 2, 3 of the resumed session not re-sent while 1 PUBLISH(es) stayed unacknowledged"))),
        "{notes:?}"
    );
    // A second re-sending past the quota breaks the Receive Maximum.
    let (mut c, mut notes) = resumed_with_three_carried(one());
    c.client(
        after_grace,
        &publish(QoS::AtLeastOnce, Some(1), true),
        10,
        &mut notes,
    );
    c.client(
        after_grace,
        &publish(QoS::AtLeastOnce, Some(2), true),
        10,
        &mut notes,
    );
    assert_eq!(
        broken_reasons(&notes, Duty::ReceiveMaximum),
        [
            "a re-sent QoS 1 PUBLISH (id 2) with 1 already unacknowledged; the CONNACK's Receive Maximum is 1"
        ]
    );
}

#[test]
fn a_flow_re_sent_on_one_connection_keeps_its_place_on_the_next() {
    let (mut c, mut notes) = resumed_with_three_carried(
        Properties::new().with(PropertyId::ReceiveMaximum, PropertyValue::TwoByteInteger(1)),
    );
    let after_grace = t(10_001) + CONNACK_GRACE;
    c.client(
        after_grace,
        &publish(QoS::AtLeastOnce, Some(1), true),
        10,
        &mut notes,
    );
    c.end(after_grace + t(100), Some(false), &mut notes);
    let (mut next, mut notes) = resumed_after(&c, V5, t(20_000), Properties::new());
    for pid in 1..=3 {
        next.client(
            t(20_600),
            &publish(QoS::AtLeastOnce, Some(pid), true),
            10,
            &mut notes,
        );
    }
    assert_eq!(broken_duties(&notes), vec![]);
    assert_eq!(
        kept_duties(&notes)
            .iter()
            .filter(|d| **d == Duty::ResendOrder)
            .count(),
        3
    );
}

fn handshake(offered: &[&str]) -> crate::event::WebSocketEvent {
    crate::event::WebSocketEvent::Handshake {
        path: "/mqtt".into(),
        offered: offered.iter().map(|s| s.to_string()).collect(),
        selected: Some("mqtt".into()),
        status: Some(101),
    }
}

fn text_message() -> crate::event::WebSocketEvent {
    crate::event::WebSocketEvent::NonBinary {
        opcode: 1,
        len: 2,
        head: bytes::Bytes::from_static(b"hi"),
    }
}

#[test]
fn over_websocket_the_subprotocol_offered_and_binary_messages_are_judged() {
    use crate::event::Side;
    // Offered `mqtt`, then packets only: both duties kept (binary once, at the first packet).
    let mut c = Conduct::new(V311, Start::Seen);
    let mut notes = Vec::new();
    c.websocket(
        t(0),
        Side::Client,
        &handshake(&["mqttv3.1", "mqtt"]),
        &mut notes,
    );
    assert_eq!(kept_duties(&notes), [Duty::OfferMqttSubprotocol]);
    let connect = Packet::Connect(Box::new(Connect::new(V311, "dev")));
    c.client(t(1), &connect, 20, &mut notes);
    c.client(t(2), &Packet::PingReq, 2, &mut notes);
    let binary = notes
        .iter()
        .filter(|n| n.duty == Duty::BinaryMessagesOnly)
        .count();
    assert_eq!(binary, 1);
    assert!(broken_duties(&notes).is_empty(), "{notes:?}");

    // No `mqtt` offered, and a text message before any packet.
    let mut c = Conduct::new(V311, Start::Seen);
    let mut notes = Vec::new();
    c.websocket(t(0), Side::Client, &handshake(&["wamp"]), &mut notes);
    c.websocket(t(1), Side::Client, &text_message(), &mut notes);
    c.client(t(2), &connect, 20, &mut notes);
    assert_eq!(
        broken_duties(&notes),
        [Duty::OfferMqttSubprotocol, Duty::BinaryMessagesOnly]
    );
    assert_eq!(
        broken_reasons(&notes, Duty::OfferMqttSubprotocol),
        ["the client's WebSocket handshake offers [wamp], without `mqtt`"]
    );
    assert!(!kept_duties(&notes).contains(&Duty::BinaryMessagesOnly));
    // A TCP connection is never judged by either.
    let (_, notes) = connected(V311, true, Properties::new());
    assert!(notes.iter().all(|n| !matches!(
        n.duty,
        Duty::BinaryMessagesOnly | Duty::OfferMqttSubprotocol
    )));
}

#[test]
fn a_text_message_from_the_server_must_be_answered_by_a_close() {
    use crate::event::Side;
    let (mut c, mut notes) = connected(V5, true, Properties::new());
    c.websocket(t(10), Side::Server, &text_message(), &mut notes);
    // Still talking 3 s later: the close was owed within the window.
    c.client(t(3_010), &Packet::PingReq, 2, &mut notes);
    assert_eq!(broken_duties(&notes), [Duty::CloseOnNonBinary]);
    // Closed in time: kept.
    let (mut c, mut notes) = connected(V5, true, Properties::new());
    c.websocket(t(10), Side::Server, &text_message(), &mut notes);
    c.end(t(500), Some(true), &mut notes);
    assert!(
        kept_duties(&notes).contains(&Duty::CloseOnNonBinary),
        "{notes:?}"
    );
}
