//! The client statements a malformed packet breaks besides the one the strict decoder
//! names: the decoder names the general rule (a string that is not UTF-8, a truncated
//! field), the specification also has a statement for the field it happened in (the client
//! id, the Will Topic, the password the Password Flag promised).

use crate::codec::{PacketType, Violation};

/// The field-specific statements `violation`, found in a client packet of type `packet`,
/// breaks in MQTT 5.0 (`v5`) or 3.1.1; `flags`: a CONNECT's flags byte, when read.
pub fn field_statements(
    violation: &Violation,
    packet: PacketType,
    v5: bool,
    flags: Option<u8>,
) -> &'static [&'static str] {
    use PacketType as P;
    use Violation as V;
    match violation {
        V::InvalidUtf8 { field } | V::NullCharacter { field } => {
            let null_in_topic = matches!(violation, V::NullCharacter { .. })
                && matches!(*field, "Topic Name" | "Topic Filter");
            match (*field, packet, v5) {
                ("Client Identifier", _, _) => &["MQTT-3.1.3-4"],
                ("Will Topic", _, false) => &["MQTT-3.1.3-10"],
                ("Will Topic", _, true) => &["MQTT-3.1.3-11"],
                ("User Name", _, false) => &["MQTT-3.1.3-11"],
                ("User Name", _, true) => &["MQTT-3.1.3-12"],
                ("Topic Name", _, _) if null_in_topic => &["MQTT-3.3.2-1", "MQTT-4.7.3-2"],
                ("Topic Name", _, _) => &["MQTT-3.3.2-1"],
                ("Topic Filter", P::Subscribe, _) if null_in_topic => {
                    &["MQTT-3.8.3-1", "MQTT-4.7.3-2"]
                }
                ("Topic Filter", P::Subscribe, _) => &["MQTT-3.8.3-1"],
                ("Topic Filter", P::Unsubscribe, _) if null_in_topic => {
                    &["MQTT-3.10.3-1", "MQTT-4.7.3-2"]
                }
                ("Topic Filter", P::Unsubscribe, _) => &["MQTT-3.10.3-1"],
                ("Response Topic", _, true) => &["MQTT-3.3.2-13"],
                ("Content Type", _, true) => &["MQTT-3.3.2-19"],
                ("User Property", _, true) => &["MQTT-1.5.7-1"],
                _ => &[],
            }
        }
        V::WildcardInTopicName if v5 => &["MQTT-4.7.0-1"],
        V::WildcardInTopicName => &["MQTT-4.7.1-1"],
        V::DupWithQos0 => &["MQTT-4.3.1-1"],
        V::WillQosWithoutWill | V::WillRetainWithoutWill if !v5 => &["MQTT-3.1.2-11"],
        V::Truncated {
            field: "Property Length",
        } if v5 => &["MQTT-2.2.2-1"],
        // Bytes after the last field the flags announce: a User Name the User Name Flag
        // does not announce, or else a Password the Password Flag does not.
        V::TrailingBytes { .. } if packet == P::Connect => match (flags, v5) {
            (Some(f), false) if f & 0x80 == 0 => &["MQTT-3.1.2-18"],
            (Some(f), false) if f & 0x40 == 0 => &["MQTT-3.1.2-20"],
            (Some(f), true) if f & 0x80 == 0 => &["MQTT-3.1.2-16"],
            (Some(f), true) if f & 0x40 == 0 => &["MQTT-3.1.2-18"],
            _ => &[],
        },
        V::Truncated { field } if packet == P::Connect => match (*field, v5) {
            ("Client Identifier", _) => &["MQTT-3.1.3-3"],
            ("Will Topic" | "Will Payload", _) => &["MQTT-3.1.2-9"],
            ("User Name", false) => &["MQTT-3.1.2-19"],
            ("User Name", true) => &["MQTT-3.1.2-17"],
            ("Password", false) => &["MQTT-3.1.2-21"],
            ("Password", true) => &["MQTT-3.1.2-19"],
            _ => &[],
        },
        _ => &[],
    }
}

/// The flags byte of a CONNECT's bytes, when they reach it.
pub fn connect_flags(bytes: &[u8]) -> Option<u8> {
    // The fixed header: the type byte and a Remaining Length of up to four bytes.
    let header = 1 + bytes.iter().skip(1).take(4).position(|b| b & 0x80 == 0)? + 1;
    let name_len = usize::from(u16::from_be_bytes([
        *bytes.get(header)?,
        *bytes.get(header + 1)?,
    ]));
    // The name, then the protocol level, then the flags.
    bytes.get(header + 2 + name_len + 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::statements::Spec;

    #[test]
    fn every_field_statement_exists_and_binds_the_client() {
        let fields = [
            "Client Identifier",
            "Will Topic",
            "Will Payload",
            "User Name",
            "Password",
            "Topic Name",
            "Topic Filter",
            "Response Topic",
            "Content Type",
            "User Property",
        ];
        let packets = [
            PacketType::Connect,
            PacketType::Publish,
            PacketType::Subscribe,
            PacketType::Unsubscribe,
        ];
        for (v5, spec) in [(false, Spec::V3_1_1), (true, Spec::V5_0)] {
            for field in fields {
                for packet in packets {
                    for v in [
                        Violation::InvalidUtf8 { field },
                        Violation::NullCharacter { field },
                        Violation::Truncated { field },
                        Violation::WildcardInTopicName,
                        Violation::DupWithQos0,
                    ] {
                        for id in field_statements(&v, packet, v5, Some(0)) {
                            let s = spec
                                .lookup(id)
                                .unwrap_or_else(|| panic!("{id} is not in {spec:?}"));
                            assert!(s.binds.binds_client(), "{id} does not bind the client");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_filter_names_the_statement_of_its_packet() {
        let v = Violation::InvalidUtf8 {
            field: "Topic Filter",
        };
        assert_eq!(
            field_statements(&v, PacketType::Subscribe, true, None),
            ["MQTT-3.8.3-1"]
        );
        assert_eq!(
            field_statements(&v, PacketType::Unsubscribe, false, None),
            ["MQTT-3.10.3-1"]
        );
        let missing = Violation::Truncated { field: "Password" };
        assert_eq!(
            field_statements(&missing, PacketType::Connect, false, None),
            ["MQTT-3.1.2-21"]
        );
        assert_eq!(
            field_statements(&missing, PacketType::Connect, true, None),
            ["MQTT-3.1.2-19"]
        );
        // A password after a user name, without the Password Flag.
        let extra = Violation::TrailingBytes { count: 4 };
        let connect = [0x10, 0x10, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x82];
        assert_eq!(connect_flags(&connect), Some(0x82));
        assert_eq!(
            field_statements(&extra, PacketType::Connect, false, connect_flags(&connect)),
            ["MQTT-3.1.2-20"]
        );
    }
}
