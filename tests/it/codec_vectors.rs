//! Byte-vector tests for the codec: every packet type in each version, valid and invalid.
//!
//! The test names are the ones the table in `src/codec/mod.rs` gives for each check; every
//! invalid vector asserts the statement (or section) the error names and, where the
//! position is unambiguous, the byte offset.

use ProtocolVersion::{V3_1, V3_1_1, V5};
use bytes::BytesMut;
use mqtt_conform::codec::*;

fn bytes(hex_text: &str) -> Vec<u8> {
    let clean: String = hex_text.split_whitespace().collect();
    hex::decode(clean).expect("test vector is valid hex")
}

fn ok(version: ProtocolVersion, hex_text: &str) -> Packet {
    let b = bytes(hex_text);
    decode_slice(&b, version).unwrap_or_else(|e| panic!("{hex_text} under {version}: {e}"))
}

/// Decodes, re-encodes, and asserts the bytes are identical (canonical vectors).
fn ok_canonical(version: ProtocolVersion, hex_text: &str) -> Packet {
    let packet = ok(version, hex_text);
    let again = encode_to_vec(&packet, version).expect("re-encodes");
    assert_eq!(
        hex::encode(again),
        hex::encode(bytes(hex_text)),
        "re-encoding {packet:?}"
    );
    packet
}

fn err(version: ProtocolVersion, hex_text: &str) -> DecodeError {
    match decode_slice(&bytes(hex_text), version) {
        Ok(p) => panic!("{hex_text} under {version} decoded as {p:?}, expected a violation"),
        Err(e) => e,
    }
}

/// Asserts the violation's reference (`[MQTT-…]` or `MQTT x §…`).
fn violates(version: ProtocolVersion, hex_text: &str, reference: &str) -> DecodeError {
    let e = err(version, hex_text);
    assert_eq!(e.reference(), reference, "{hex_text} under {version}: {e}");
    e
}

fn violates_at(version: ProtocolVersion, hex_text: &str, reference: &str, offset: usize) {
    let e = violates(version, hex_text, reference);
    assert_eq!(e.offset, offset, "{hex_text} under {version}: {e}");
}

// ---------------------------------------------------------------- valid, every type

#[test]
fn connect_valid_each_version() {
    let Packet::Connect(c) = ok_canonical(
        V3_1_1,
        "10 19 0004 4d515454 04 c2 003c 0003 636964 0004 75736572 0002 7077",
    ) else {
        panic!("not CONNECT")
    };
    assert_eq!(c.protocol, V3_1_1);
    assert!(c.clean_session);
    assert_eq!(c.keep_alive, 60);
    assert_eq!(c.client_id, "cid");
    assert_eq!(c.username.as_deref(), Some("user"));
    assert_eq!(c.password.as_deref(), Some(&b"pw"[..]));
    assert!(c.will.is_none());

    // 3.1: MQIsdp, level 3 — judged as 3.1 whatever version the caller assumed.
    let Packet::Connect(c) = ok_canonical(V3_1_1, "10 11 0006 4d5149736470 03 02 003c 0003 636964")
    else {
        panic!("not CONNECT")
    };
    assert_eq!(c.protocol, V3_1);

    // 5.0 with Session Expiry Interval 60.
    let Packet::Connect(c) = ok_canonical(
        V3_1_1,
        "10 15 0004 4d515454 05 02 003c 05 11 0000003c 0003 636964",
    ) else {
        panic!("not CONNECT")
    };
    assert_eq!(c.protocol, V5);
    assert_eq!(
        c.properties.get_int(PropertyId::SessionExpiryInterval),
        Some(60)
    );
}

#[test]
fn connect_with_will() {
    let Packet::Connect(c) = ok_canonical(
        V3_1_1,
        "10 18 0004 4d515454 04 2e 003c 0003 636964 0003 772f74 0002 6869",
    ) else {
        panic!("not CONNECT")
    };
    let will = c.will.expect("will");
    assert_eq!(will.topic, "w/t");
    assert_eq!(&will.payload[..], b"hi");
    assert_eq!(will.qos, QoS::AtLeastOnce);
    assert!(will.retain);

    // 5.0 Will with Will Delay Interval 5.
    let Packet::Connect(c) = ok_canonical(
        V5,
        "10 1f 0004 4d515454 05 0e 003c 00 0003 636964 05 18 00000005 0003 772f74 0002 6869",
    ) else {
        panic!("not CONNECT")
    };
    let will = c.will.expect("will");
    assert_eq!(will.qos, QoS::AtLeastOnce);
    assert_eq!(
        will.properties.get_int(PropertyId::WillDelayInterval),
        Some(5)
    );
}

#[test]
fn connack_valid_each_version() {
    let Packet::ConnAck(c) = ok_canonical(V3_1_1, "20 02 01 00") else {
        panic!()
    };
    assert!(c.session_present);
    assert_eq!(c.code, 0);
    // 3.1 has no Session Present: the first byte is unused and ignored.
    let Packet::ConnAck(c) = ok(V3_1, "20 02 01 05") else {
        panic!()
    };
    assert!(!c.session_present);
    assert_eq!(c.code, 5);
    let Packet::ConnAck(c) = ok_canonical(V5, "20 07 00 00 04 24 01 25 00") else {
        panic!()
    };
    assert_eq!(c.properties.get_int(PropertyId::MaximumQos), Some(1));
    assert_eq!(c.properties.get_int(PropertyId::RetainAvailable), Some(0));
    let Packet::ConnAck(c) = ok_canonical(V5, "20 03 00 86 00") else {
        panic!()
    };
    assert_eq!(c.code, 0x86);
}

#[test]
fn publish_valid_each_version() {
    let Packet::Publish(p) = ok_canonical(V3_1_1, "30 07 0003 612f62 6869") else {
        panic!()
    };
    assert_eq!(
        (p.topic.as_str(), &p.payload[..], p.qos, p.packet_id),
        ("a/b", &b"hi"[..], QoS::AtMostOnce, None)
    );
    let Packet::Publish(p) = ok_canonical(V3_1, "32 09 0003 612f62 000a 6869") else {
        panic!()
    };
    assert_eq!((p.qos, p.packet_id), (QoS::AtLeastOnce, Some(10)));
    let Packet::Publish(p) = ok_canonical(V3_1_1, "3d 09 0003 612f62 000a 6869") else {
        panic!()
    };
    assert!(p.dup && p.retain);
    assert_eq!(p.qos, QoS::ExactlyOnce);
    let Packet::Publish(p) = ok_canonical(V3_1_1, "30 05 0003 612f62") else {
        panic!()
    };
    assert!(p.payload.is_empty());
    let Packet::Publish(p) = ok_canonical(V5, "30 0b 0003 612f62 03 230001 6869") else {
        panic!()
    };
    assert_eq!(p.properties.get_int(PropertyId::TopicAlias), Some(1));
    // 5.0: an empty topic name is allowed when a Topic Alias is present.
    let Packet::Publish(p) = ok_canonical(V5, "30 08 0000 03 230001 6869") else {
        panic!()
    };
    assert_eq!(p.topic, "");
    // Subscription Identifier may repeat in PUBLISH, and user properties always may.
    ok_canonical(
        V5,
        "30 18 0003 612f62 12 0b01 0b02 260001 6b 0001 76 260001 6b 0001 77",
    );
}

#[test]
fn pub_responses_valid_each_version() {
    for (first, ty) in [
        ("40", PacketType::PubAck),
        ("50", PacketType::PubRec),
        ("62", PacketType::PubRel),
        ("70", PacketType::PubComp),
    ] {
        for v in [V3_1, V3_1_1, V5] {
            let p = ok_canonical(v, &format!("{first} 02 000a"));
            assert_eq!(p.packet_type(), ty);
        }
    }
    let Packet::PubAck(r) = ok_canonical(V5, "40 03 000a 10") else {
        panic!()
    };
    assert_eq!(r.reason_code, 0x10);
    let Packet::PubAck(r) = ok_canonical(V5, "40 07 000a 10 03 1f 0000") else {
        panic!()
    };
    assert_eq!(r.properties.get_str(PropertyId::ReasonString), Some(""));
    let Packet::PubRel(r) = ok_canonical(V5, "62 03 000a 92") else {
        panic!()
    };
    assert_eq!(r.reason_code, 0x92);
    // The shortest form with reason 0 and property length 0 spelled out is also legal.
    let Packet::PubComp(r) = ok(V5, "70 04 000a 00 00") else {
        panic!()
    };
    assert_eq!(r.reason_code, 0);
}

#[test]
fn subscribe_valid_each_version() {
    let Packet::Subscribe(s) = ok_canonical(V3_1_1, "82 0c 000a 0003 612f23 01 0001 2b 02") else {
        panic!()
    };
    assert_eq!(s.packet_id, 10);
    assert_eq!(s.subscriptions.len(), 2);
    assert_eq!(s.subscriptions[0].filter, "a/#");
    assert_eq!(s.subscriptions[1].options.qos, QoS::ExactlyOnce);
    ok_canonical(V3_1, "82 08 000a 0003 612f23 01");
    let Packet::Subscribe(s) = ok_canonical(V5, "82 0b 000a 02 0b01 0003 612f23 2d") else {
        panic!()
    };
    let o = s.subscriptions[0].options;
    assert!(o.no_local && o.retain_as_published);
    assert_eq!(o.retain_handling, RetainHandling::DoNotSend);
    assert_eq!(
        s.properties.get_int(PropertyId::SubscriptionIdentifier),
        Some(1)
    );
    // 5.0 shared subscription.
    ok_canonical(V5, "82 10 000a 00 000a 2473686172652f672f61 01");
}

#[test]
fn suback_unsubscribe_unsuback_valid_each_version() {
    let Packet::SubAck(s) = ok_canonical(V3_1_1, "90 04 000a 00 80") else {
        panic!()
    };
    assert_eq!(s.return_codes, [0, 0x80]);
    let Packet::SubAck(s) = ok_canonical(V5, "90 05 000a 00 01 a2") else {
        panic!()
    };
    assert_eq!(s.return_codes, [1, 0xA2]);
    let Packet::Unsubscribe(u) = ok_canonical(V3_1_1, "a2 07 000a 0003 612f62") else {
        panic!()
    };
    assert_eq!(u.filters, ["a/b"]);
    ok_canonical(V5, "a2 08 000a 00 0003 612f62");
    ok_canonical(V3_1, "b0 02 000a");
    let Packet::UnsubAck(u) = ok_canonical(V5, "b0 05 000a 00 00 11") else {
        panic!()
    };
    assert_eq!(u.reason_codes, [0, 0x11]);
}

#[test]
fn ping_disconnect_auth_valid_each_version() {
    for v in [V3_1, V3_1_1, V5] {
        assert_eq!(ok_canonical(v, "c0 00"), Packet::PingReq);
        assert_eq!(ok_canonical(v, "d0 00"), Packet::PingResp);
        assert!(matches!(ok_canonical(v, "e0 00"), Packet::Disconnect(_)));
    }
    let Packet::Disconnect(d) = ok_canonical(V5, "e0 01 8e") else {
        panic!()
    };
    assert_eq!(d.reason_code, 0x8E);
    let Packet::Disconnect(d) = ok_canonical(V5, "e0 07 04 05 11 00000000") else {
        panic!()
    };
    assert_eq!(
        d.properties.get_int(PropertyId::SessionExpiryInterval),
        Some(0)
    );
    let Packet::Auth(a) = ok_canonical(V5, "f0 0a 18 08 15 0005 534352414d") else {
        panic!()
    };
    assert_eq!(a.reason_code, 0x18);
    assert_eq!(
        a.properties.get_str(PropertyId::AuthenticationMethod),
        Some("SCRAM")
    );
    ok_canonical(V5, "f0 00");
}

// ---------------------------------------------------------------- fixed header

#[test]
fn reserved_packet_types() {
    violates_at(V3_1_1, "00 00", "MQTT 3.1.1 §2.2.1", 0);
    violates_at(V5, "00 00", "MQTT 5.0 §2.1.2", 0);
    let e = violates(V3_1_1, "f0 00", "MQTT 3.1.1 §2.2.1");
    assert_eq!(e.violation, Violation::PacketNotInVersion(PacketType::Auth));
}

#[test]
fn invalid_flags_every_type() {
    let cases_311 = [
        ("11 00", "[MQTT-2.2.2-1]"),
        ("21 02 0000", "[MQTT-2.2.2-1]"),
        ("42 02 000a", "[MQTT-2.2.2-1]"),
        ("51 02 000a", "[MQTT-2.2.2-1]"),
        ("60 02 000a", "[MQTT-3.6.1-1]"),
        ("72 02 000a", "[MQTT-2.2.2-1]"),
        ("80 08 000a 0003 612f23 01", "[MQTT-3.8.1-1]"),
        ("92 03 000a 00", "[MQTT-2.2.2-1]"),
        ("a3 07 000a 0003 612f62", "[MQTT-3.10.1-1]"),
        ("b2 02 000a", "[MQTT-2.2.2-1]"),
        ("c1 00", "[MQTT-2.2.2-1]"),
        ("d8 00", "[MQTT-2.2.2-1]"),
        ("e1 00", "[MQTT-3.14.1-1]"),
    ];
    for (hex_text, reference) in cases_311 {
        violates_at(V3_1_1, hex_text, reference, 0);
        violates_at(V3_1, hex_text, reference, 0);
    }
    let cases_5 = [
        ("11 00", "[MQTT-2.1.3-1]"),
        ("64 02 000a", "[MQTT-3.6.1-1]"),
        ("83 08 000a 0003 612f23 01", "[MQTT-3.8.1-1]"),
        ("a0 07 000a 0003 612f62", "[MQTT-3.10.1-1]"),
        ("e2 00", "[MQTT-3.14.1-1]"),
        ("f1 00", "[MQTT-3.15.1-1]"),
    ];
    for (hex_text, reference) in cases_5 {
        violates_at(V5, hex_text, reference, 0);
    }
}

#[test]
fn publish_qos3() {
    violates_at(V3_1_1, "36 07 0003 612f62 6869", "[MQTT-3.3.1-4]", 0);
    violates_at(V5, "36 08 0003 612f62 00 6869", "[MQTT-3.3.1-4]", 0);
}

#[test]
fn publish_dup_qos0() {
    violates_at(V3_1_1, "38 07 0003 612f62 6869", "[MQTT-3.3.1-2]", 0);
    violates_at(V5, "38 08 0003 612f62 00 6869", "[MQTT-3.3.1-2]", 0);
}

#[test]
fn remaining_length_five_bytes() {
    let e = violates(V3_1_1, "c0 ff ff ff ff 01", "MQTT 3.1.1 §2.2.3");
    assert_eq!(e.violation, Violation::RemainingLengthTooLong);
    violates(V5, "c0 ff ff ff ff 01", "MQTT 5.0 §1.5.5");
}

#[test]
fn remaining_length_non_minimal() {
    violates_at(V3_1_1, "c0 80 00", "MQTT 3.1.1 §2.2.3", 1);
    violates_at(V5, "c0 80 00", "[MQTT-1.5.5-1]", 1);
    // Also inside 5.0: the Property Length is a Variable Byte Integer.
    violates_at(V5, "40 05 000a 10 8000", "[MQTT-1.5.5-1]", 5);
}

#[test]
fn truncated_fields() {
    let e = err(V3_1_1, "30 03 0005 61");
    assert_eq!(
        e.violation,
        Violation::Truncated {
            field: "Topic Name"
        }
    );
    let e = err(V3_1_1, "32 05 0003 612f62");
    assert_eq!(
        e.violation,
        Violation::Truncated {
            field: "Packet Identifier"
        }
    );
    let e = err(V3_1_1, "30 07 0003");
    assert_eq!(
        e.violation,
        Violation::Truncated {
            field: "packet body"
        }
    );
    // A property block longer than the packet.
    let e = err(V5, "40 05 000a 10 09 1f");
    assert_eq!(
        e.violation,
        Violation::Truncated {
            field: "Properties"
        }
    );
    // A property value running past its block.
    let e = err(V5, "40 06 000a 10 02 1f 00");
    assert!(matches!(e.violation, Violation::Truncated { .. }), "{e}");
}

#[test]
fn trailing_bytes() {
    violates_at(V3_1_1, "c0 01 00", "MQTT 3.1.1 §2.2.3", 2);
    violates_at(V3_1_1, "40 03 000a 00", "MQTT 3.1.1 §2.2.3", 4);
    violates_at(V3_1_1, "e0 01 00", "MQTT 3.1.1 §2.2.3", 2);
    violates_at(V3_1_1, "20 03 00 00 00", "MQTT 3.1.1 §2.2.3", 4);
    violates_at(V5, "c0 01 00", "MQTT 5.0 §2.1.4", 2);
    // More bytes handed to the decoder than the Remaining Length covers.
    violates_at(V3_1_1, "c0 00 c0", "MQTT 3.1.1 §2.2.3", 2);
}

#[test]
fn oversize_refused_before_body() {
    // A header announcing 268,435,455 bytes is refused by a 1 KiB framer with no body sent.
    let framer = Framer::new(1024);
    let mut buf = BytesMut::from(&bytes("30 ff ff ff 7f")[..]);
    let e = framer.next_frame(&mut buf, V3_1_1).unwrap_err();
    assert_eq!(
        e.violation,
        Violation::PacketTooLarge {
            size: 268_435_455 + 5,
            max: 1024
        }
    );
    // With the default maximum the same header only waits for bytes.
    assert_eq!(Framer::default().next_frame(&mut buf, V3_1_1), Ok(None));
}

// ---------------------------------------------------------------- strings

#[test]
fn utf8_ill_formed() {
    violates_at(V3_1_1, "30 06 0003 61ff62 00", "[MQTT-1.5.3-1]", 5);
    violates_at(V5, "30 07 0003 61ff62 00 00", "[MQTT-1.5.4-1]", 5);
    // Overlong encoding of '/' (C0 AF).
    violates_at(V3_1_1, "30 05 0002 c0af 00", "[MQTT-1.5.3-1]", 4);
}

#[test]
fn utf8_surrogate() {
    violates_at(V3_1_1, "30 06 0003 eda080 00", "[MQTT-1.5.3-1]", 4);
    violates_at(V5, "30 07 0003 edbfbf 00 00", "[MQTT-1.5.4-1]", 4);
}

#[test]
fn utf8_null() {
    violates_at(V3_1_1, "30 06 0003 610062 00", "[MQTT-1.5.3-2]", 5);
    violates_at(V5, "30 07 0003 610062 00 00", "[MQTT-1.5.4-2]", 5);
    // In a client identifier too.
    violates_at(
        V3_1_1,
        "10 0f 0004 4d515454 04 02 003c 0003 630064",
        "[MQTT-1.5.3-2]",
        15,
    );
}

// ---------------------------------------------------------------- CONNECT

#[test]
fn connect_protocol_name() {
    violates_at(
        V3_1_1,
        "10 0d 0004 4d515458 04 02 003c 0001 63",
        "[MQTT-3.1.2-1]",
        2,
    );
    // MQIsdp is only valid with level 3.
    violates_at(
        V3_1_1,
        "10 0f 0006 4d5149736470 04 02 003c 0001 63",
        "[MQTT-3.1.2-1]",
        2,
    );
}

#[test]
fn connect_protocol_level() {
    let e = err(V3_1_1, "10 0d 0004 4d515454 06 02 003c 0001 63");
    assert_eq!(e.violation, Violation::UnsupportedProtocolLevel(6));
    assert_eq!(e.reference(), "[MQTT-3.1.2-2]");
    assert_eq!(e.offset, 8);
}

#[test]
fn connect_reserved_flag() {
    violates_at(
        V3_1_1,
        "10 0d 0004 4d515454 04 03 003c 0001 63",
        "[MQTT-3.1.2-3]",
        9,
    );
    violates_at(
        V3_1_1,
        "10 0e 0004 4d515454 05 03 003c 00 0001 63",
        "[MQTT-3.1.2-3]",
        9,
    );
}

#[test]
fn connect_will_combinations() {
    // Will QoS 1 without the Will Flag.
    violates_at(
        V3_1_1,
        "10 0d 0004 4d515454 04 0a 003c 0001 63",
        "[MQTT-3.1.2-13]",
        9,
    );
    violates_at(
        V3_1_1,
        "10 0e 0004 4d515454 05 0a 003c 00 0001 63",
        "[MQTT-3.1.2-11]",
        9,
    );
    // Will Retain without the Will Flag.
    violates_at(
        V3_1_1,
        "10 0d 0004 4d515454 04 22 003c 0001 63",
        "[MQTT-3.1.2-15]",
        9,
    );
    violates_at(
        V3_1_1,
        "10 0e 0004 4d515454 05 22 003c 00 0001 63",
        "[MQTT-3.1.2-13]",
        9,
    );
    // Will QoS 3.
    violates_at(
        V3_1_1,
        "10 16 0004 4d515454 04 1e 003c 0001 63 0003 772f74 0002 6869",
        "[MQTT-3.1.2-14]",
        9,
    );
    violates_at(
        V3_1_1,
        "10 18 0004 4d515454 05 1e 003c 00 0001 63 00 0003 772f74 0002 6869",
        "[MQTT-3.1.2-12]",
        9,
    );
    // 3.1 is judged by the 3.1.1 statements.
    violates_at(
        V3_1_1,
        "10 0f 0006 4d5149736470 03 0a 003c 0001 63",
        "[MQTT-3.1.2-13]",
        11,
    );
}

#[test]
fn connect_password_without_username() {
    violates_at(
        V3_1_1,
        "10 11 0004 4d515454 04 42 003c 0001 63 0002 7077",
        "[MQTT-3.1.2-22]",
        9,
    );
    violates_at(
        V3_1_1,
        "10 13 0006 4d5149736470 03 42 003c 0001 63 0002 7077",
        "[MQTT-3.1.2-22]",
        11,
    );
    // 5.0 allows a password without a user name.
    let Packet::Connect(c) =
        ok_canonical(V5, "10 12 0004 4d515454 05 42 003c 00 0001 63 0002 7077")
    else {
        panic!()
    };
    assert!(c.username.is_none());
    assert_eq!(c.password.as_deref(), Some(&b"pw"[..]));
}

#[test]
fn connect_will_topic() {
    violates_at(
        V3_1_1,
        "10 16 0004 4d515454 04 06 003c 0001 63 0003 612f2b 0002 6869",
        "[MQTT-3.3.2-2]",
        15,
    );
    violates_at(
        V3_1_1,
        "10 13 0004 4d515454 04 06 003c 0001 63 0000 0002 6869",
        "[MQTT-4.7.3-1]",
        15,
    );
}

#[test]
fn connect_field_truncated() {
    // Will Flag set but no Will fields.
    let e = err(V3_1_1, "10 0d 0004 4d515454 04 06 003c 0001 63");
    assert_eq!(
        e.violation,
        Violation::Truncated {
            field: "Will Topic"
        }
    );
    // User Name Flag set but no user name.
    let e = err(V3_1_1, "10 0d 0004 4d515454 04 82 003c 0001 63");
    assert_eq!(e.violation, Violation::Truncated { field: "User Name" });
}

// ---------------------------------------------------------------- identifiers and topics

#[test]
fn zero_packet_ids() {
    violates_at(V3_1_1, "32 09 0003 612f62 0000 6869", "[MQTT-2.3.1-1]", 7);
    violates_at(V3_1_1, "82 08 0000 0003 612f23 01", "[MQTT-2.3.1-1]", 2);
    violates_at(V3_1_1, "a2 07 0000 0003 612f62", "[MQTT-2.3.1-1]", 2);
    violates_at(V3_1_1, "40 02 0000", "[MQTT-2.3.1-6]", 2);
    violates_at(V3_1_1, "90 03 0000 00", "[MQTT-2.3.1-7]", 2);
    violates_at(V5, "32 0a 0003 612f62 0000 00 6869", "[MQTT-2.2.1-3]", 7);
    violates_at(V5, "50 02 0000", "[MQTT-2.2.1-5]", 2);
    violates_at(V5, "b0 04 0000 00 00", "[MQTT-2.2.1-6]", 2);
}

#[test]
fn publish_topic_rules() {
    violates_at(V3_1_1, "30 04 0000 6869", "[MQTT-4.7.3-1]", 2);
    violates_at(V5, "30 05 0000 00 6869", "[MQTT-4.7.3-1]", 2);
    violates_at(V3_1_1, "30 07 0003 612f23 6869", "[MQTT-3.3.2-2]", 2);
    violates_at(V5, "30 08 0003 2b2f62 00 6869", "[MQTT-3.3.2-2]", 2);
}

#[test]
fn filter_rules() {
    violates_at(V3_1_1, "82 0a 000a 0005 612f232f62 00", "[MQTT-4.7.1-2]", 4);
    violates_at(V5, "82 0b 000a 00 0005 612f232f62 00", "[MQTT-4.7.1-1]", 5);
    violates_at(V3_1_1, "82 07 000a 0002 612b 00", "[MQTT-4.7.1-3]", 4);
    violates_at(V5, "82 08 000a 00 0002 612b 00", "[MQTT-4.7.1-2]", 5);
    violates_at(V3_1_1, "82 05 000a 0000 00", "[MQTT-4.7.3-1]", 4);
    violates_at(V3_1_1, "a2 06 000a 0002 232f", "[MQTT-4.7.1-2]", 4);
}

#[test]
fn shared_subscription_syntax() {
    // "$share/g+/a" is malformed in 5.0, an ordinary (if odd) filter in 3.1.1 ... except
    // that there '+' must occupy a whole level, so use "$share/g" for the 3.1.1 case.
    violates_at(
        V5,
        "82 11 000a 00 000b 2473686172652f672b2f61 00",
        "[MQTT-4.8.2-2]",
        5,
    );
    violates_at(
        V5,
        "82 0e 000a 00 0008 2473686172652f67 00",
        "[MQTT-4.8.2-2]",
        5,
    );
    ok(V3_1_1, "82 0d 000a 0008 2473686172652f67 00");
}

#[test]
fn empty_subscribe_unsubscribe() {
    violates_at(V3_1_1, "82 02 000a", "[MQTT-3.8.3-3]", 4);
    violates_at(V5, "82 03 000a 00", "[MQTT-3.8.3-2]", 5);
    violates_at(V3_1_1, "a2 02 000a", "[MQTT-3.10.3-2]", 4);
    violates_at(V5, "a2 03 000a 00", "[MQTT-3.10.3-2]", 5);
}

#[test]
fn subscription_options() {
    violates_at(V3_1_1, "82 08 000a 0003 612f62 04", "[MQTT-3-8.3-4]", 9);
    violates_at(V3_1_1, "82 08 000a 0003 612f62 03", "[MQTT-3-8.3-4]", 9);
    violates_at(V5, "82 09 000a 00 0003 612f62 40", "[MQTT-3.8.3-5]", 10);
    violates_at(V5, "82 09 000a 00 0003 612f62 03", "MQTT 5.0 §3.8.3.1", 10);
    let e = violates(V5, "82 09 000a 00 0003 612f62 30", "MQTT 5.0 §3.8.3.1");
    assert_eq!(e.violation, Violation::RetainHandling3);
    // No Local on a shared subscription.
    violates_at(
        V5,
        "82 10 000a 00 000a 2473686172652f672f61 05",
        "[MQTT-3.8.3-4]",
        17,
    );
}

#[test]
fn suback_codes() {
    violates_at(V3_1_1, "90 03 000a 03", "[MQTT-3.9.3-2]", 4);
    violates_at(V5, "90 04 000a 00 8e", "[MQTT-3.9.3-2]", 5);
}

#[test]
fn connack_codes() {
    violates_at(V3_1_1, "20 02 00 06", "MQTT 3.1.1 §3.2.2.3", 3);
    violates_at(V3_1_1, "20 02 02 00", "MQTT 3.1.1 §3.2.2.1", 2);
    violates_at(V3_1_1, "20 02 01 05", "[MQTT-3.2.2-4]", 2);
    violates_at(V5, "20 03 00 8e 00", "[MQTT-3.2.2-8]", 3);
    violates_at(V5, "20 03 02 00 00", "[MQTT-3.2.2-1]", 2);
    violates_at(V5, "20 03 01 86 00", "[MQTT-3.2.2-6]", 2);
    violates(V3_1, "20 02 00 06", "MQTT 3.1 §3.2.2.3");
}

#[test]
fn reason_codes_per_packet() {
    violates_at(V5, "40 03 000a 92", "[MQTT-3.4.2-1]", 4);
    violates_at(V5, "50 03 000a 8e", "[MQTT-3.5.2-1]", 4);
    violates_at(V5, "62 03 000a 80", "[MQTT-3.6.2-1]", 4);
    violates_at(V5, "70 03 000a 10", "[MQTT-3.7.2-1]", 4);
    violates_at(V5, "b0 04 000a 00 8e", "[MQTT-3.11.3-2]", 5);
    violates_at(V5, "e0 01 02", "[MQTT-3.14.2-1]", 2);
    violates_at(V5, "f0 01 01", "[MQTT-3.15.2-1]", 2);
}

#[test]
fn empty_ack_payloads() {
    violates_at(V3_1_1, "90 02 000a", "[MQTT-3.8.4-5]", 4);
    violates_at(V5, "90 03 000a 00", "[MQTT-3.8.4-6]", 5);
    violates_at(V5, "b0 03 000a 00", "MQTT 5.0 §3.11.3", 5);
}

// ---------------------------------------------------------------- 5.0 properties

#[test]
fn properties_unknown() {
    let e = violates(V5, "30 0a 0003 612f62 02 0401 6869", "MQTT 5.0 §2.2.2.2");
    assert_eq!(e.violation, Violation::UnknownProperty(0x04));
    assert_eq!(e.offset, 8);
}

#[test]
fn properties_not_allowed() {
    // Topic Alias in CONNACK.
    let e = violates(V5, "20 06 00 00 03 230001", "MQTT 5.0 §2.2.2.2");
    assert_eq!(
        e.violation,
        Violation::PropertyNotAllowed {
            id: PropertyId::TopicAlias,
            scope: PropertyScope::Packet(PacketType::ConnAck)
        }
    );
    // Will Delay Interval in CONNECT (it belongs in the Will properties).
    let e = err(V5, "10 13 0004 4d515454 05 02 003c 05 18 00000005 0001 63");
    assert!(matches!(
        e.violation,
        Violation::PropertyNotAllowed {
            id: PropertyId::WillDelayInterval,
            ..
        }
    ));
    // Session Expiry Interval in the Will properties.
    let e = err(
        V5,
        "10 1d 0004 4d515454 05 06 003c 00 0001 63 05 11 00000005 0003 772f74 0002 6869",
    );
    assert_eq!(
        e.violation,
        Violation::PropertyNotAllowed {
            id: PropertyId::SessionExpiryInterval,
            scope: PropertyScope::Will
        }
    );
}

#[test]
fn properties_duplicate() {
    let e = violates(
        V5,
        "30 12 0003 612f62 0a 0200000001 0200000002 6869",
        "MQTT 5.0 §2.2.2.2",
    );
    assert_eq!(
        e.violation,
        Violation::DuplicateProperty(PropertyId::MessageExpiryInterval)
    );
    assert_eq!(e.offset, 13);
    // Subscription Identifier may appear once in SUBSCRIBE.
    let e = err(V5, "82 0d 000a 04 0b01 0b02 0003 612f23 01");
    assert_eq!(
        e.violation,
        Violation::DuplicateProperty(PropertyId::SubscriptionIdentifier)
    );
}

#[test]
fn properties_values() {
    let e = err(V5, "30 0a 0003 612f62 02 0102 6869");
    assert_eq!(
        e.violation,
        Violation::InvalidPropertyValue {
            id: PropertyId::PayloadFormatIndicator,
            value: 2
        }
    );
    let e = err(V5, "10 11 0004 4d515454 05 02 003c 03 210000 0001 63");
    assert_eq!(
        e.violation,
        Violation::InvalidPropertyValue {
            id: PropertyId::ReceiveMaximum,
            value: 0
        }
    );
    violates_at(V5, "30 0b 0003 612f62 03 230000 6869", "[MQTT-3.3.2-8]", 9);
    let e = err(V5, "82 0b 000a 02 0b00 0003 612f23 01");
    assert_eq!(
        e.violation,
        Violation::InvalidPropertyValue {
            id: PropertyId::SubscriptionIdentifier,
            value: 0
        }
    );
    let e = err(V5, "20 05 00 00 02 2402");
    assert_eq!(
        e.violation,
        Violation::InvalidPropertyValue {
            id: PropertyId::MaximumQos,
            value: 2
        }
    );
    let e = err(V5, "10 13 0004 4d515454 05 02 003c 05 27 00000000 0001 63");
    assert_eq!(
        e.violation,
        Violation::InvalidPropertyValue {
            id: PropertyId::MaximumPacketSize,
            value: 0
        }
    );
}

#[test]
fn properties_auth_data_without_method() {
    let e = violates(
        V5,
        "10 11 0004 4d515454 05 02 003c 03 160000 0001 63",
        "MQTT 5.0 §3.1.2.11.10",
    );
    assert_eq!(e.violation, Violation::AuthDataWithoutMethod);
}

#[test]
fn properties_rejected_before_5() {
    // In 3.1.1 a PUBACK has exactly two bytes; what 5.0 reads as properties is trailing.
    let e = err(V3_1_1, "40 04 000a 00 00");
    assert_eq!(e.violation, Violation::TrailingBytes { count: 2 });
}

// ---------------------------------------------------------------- streams

#[test]
fn stream_follows_the_connect_version() {
    // CONNECT 5.0, then a PUBACK with a reason code: valid only because the stream is 5.0.
    let input = bytes("10 0d 0004 4d515454 05 02 003c 00 0000  40 03 000a 10");
    let (frames, error) = split_frames(&input, Framer::default(), V3_1_1);
    assert!(error.is_none());
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[1].0, 15);
    assert!(matches!(frames[1].1.packet, Ok(Packet::PubAck(ref r)) if r.reason_code == 0x10));
}

#[test]
fn stream_reports_truncated_tail_with_offset() {
    let input = bytes("c0 00 d0 00 30 07 0003");
    let (frames, error) = split_frames(&input, Framer::default(), V3_1_1);
    assert_eq!(frames.len(), 2);
    let e = error.expect("truncated tail");
    assert_eq!(
        e.violation,
        Violation::Truncated {
            field: "packet body"
        }
    );
    assert_eq!(e.offset, input.len());
}
