//! Decoding errors: what was violated, where, and which normative statement says so.
//!
//! MQTT 3.1.1 and 5.0 number their normative statements differently (e.g. `MQTT-3.1.2-24`
//! is the keep-alive rule in 3.1.1 but the maximum-packet-size rule in 5.0), so every
//! [`Violation`] maps to its statement *per protocol version*. MQTT 3.1 has no numbered
//! statements; it is checked against the 3.1.1 ones. Where a check has no numbered
//! statement (for example the four-byte limit of the Remaining Length), the error names
//! the section instead.

use super::packet::PacketType;
use super::properties::{PropertyId, PropertyScope};
use super::version::ProtocolVersion;
use std::fmt;

/// One way a byte sequence fails to be a well-formed MQTT packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Packet type 0, or 15 before MQTT 5.0.
    ReservedPacketType(u8),
    /// Fixed-header flag bits other than those the packet type requires.
    InvalidFlags {
        /// The packet type.
        packet: PacketType,
        /// The flag nibble received.
        flags: u8,
    },
    /// PUBLISH with both QoS bits set.
    PublishQos3,
    /// PUBLISH with DUP set at QoS 0.
    DupWithQos0,
    /// Remaining Length continues past four bytes.
    RemainingLengthTooLong,
    /// Remaining Length uses more bytes than its value needs.
    RemainingLengthNotMinimal {
        /// Bytes used.
        used: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// The packet is larger than the configured maximum.
    PacketTooLarge {
        /// Total packet size announced.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A field runs past the end of the packet (Remaining Length too small for it).
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// Bytes left over after the last field of the packet.
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// A string is not well-formed UTF-8 (this includes encoded surrogates).
    InvalidUtf8 {
        /// The field.
        field: &'static str,
    },
    /// A string contains U+0000.
    NullCharacter {
        /// The field.
        field: &'static str,
    },
    /// CONNECT protocol name is not `MQTT` (or `MQIsdp` with level 3).
    InvalidProtocolName {
        /// The name received (lossy).
        name: String,
        /// The level received.
        level: u8,
    },
    /// CONNECT protocol level is not 3, 4 or 5 (or does not fit the name).
    UnsupportedProtocolLevel(u8),
    /// CONNECT flags bit 0 is set.
    ConnectReservedFlag,
    /// Will QoS is non-zero while the Will Flag is 0.
    WillQosWithoutWill,
    /// Will Retain is set while the Will Flag is 0.
    WillRetainWithoutWill,
    /// Will QoS is 3.
    WillQos3,
    /// Password Flag set without User Name Flag (3.1, 3.1.1).
    PasswordWithoutUsername,
    /// A packet identifier that must be non-zero is zero.
    ZeroPacketId(PacketType),
    /// A topic name or filter is empty.
    EmptyTopic {
        /// "topic name" or "topic filter".
        field: &'static str,
    },
    /// A topic name contains `+` or `#`.
    WildcardInTopicName,
    /// `#` is not alone in the last level of a filter.
    InvalidMultiLevelWildcard,
    /// `+` does not occupy a whole level of a filter.
    InvalidSingleLevelWildcard,
    /// A `$share/` filter whose share name or filter is malformed (5.0).
    InvalidSharedSubscription,
    /// SUBSCRIBE without any topic filter.
    EmptySubscribe,
    /// UNSUBSCRIBE without any topic filter.
    EmptyUnsubscribe,
    /// Reserved bits of a SUBSCRIBE options byte are set.
    SubscriptionOptionsReserved(u8),
    /// A SUBSCRIBE requests QoS 3.
    SubscriptionQos3,
    /// Retain Handling 3 (5.0).
    RetainHandling3,
    /// No Local on a shared subscription (5.0).
    NoLocalOnShared,
    /// A SUBACK return code outside 0x00, 0x01, 0x02, 0x80 (3.1.1).
    InvalidSubAckReturnCode(u8),
    /// A CONNACK return code above 5 (3.1, 3.1.1).
    InvalidConnAckReturnCode(u8),
    /// A 5.0 reason code the packet type does not define.
    InvalidReasonCode {
        /// The packet type.
        packet: PacketType,
        /// The code.
        code: u8,
    },
    /// CONNACK acknowledge flags bits 7–1 set.
    ConnAckReservedFlags(u8),
    /// CONNACK with Session Present and a failure code.
    SessionPresentWithError,
    /// SUBACK or UNSUBACK (5.0) without any return code.
    EmptyAckPayload(PacketType),
    /// A property identifier 5.0 does not define.
    UnknownProperty(u8),
    /// A property in a packet that may not carry it.
    PropertyNotAllowed {
        /// The property.
        id: PropertyId,
        /// Where it was found.
        scope: PropertyScope,
    },
    /// A property that may appear once appears again.
    DuplicateProperty(PropertyId),
    /// A property value outside its legal range.
    InvalidPropertyValue {
        /// The property.
        id: PropertyId,
        /// The value received.
        value: u32,
    },
    /// Authentication Data without Authentication Method.
    AuthDataWithoutMethod,
    /// A packet type the negotiated version does not have (AUTH before 5.0).
    PacketNotInVersion(PacketType),
}

/// A reference into a specification: a normative statement, or a section when there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecRef {
    /// The normative statement ID (e.g. `MQTT-3.1.2-3`), when the spec numbers one.
    pub statement: Option<&'static str>,
    /// The section of the specification the check comes from.
    pub section: &'static str,
}

const fn stmt(statement: &'static str, section: &'static str) -> SpecRef {
    SpecRef {
        statement: Some(statement),
        section,
    }
}

const fn sect(section: &'static str) -> SpecRef {
    SpecRef {
        statement: None,
        section,
    }
}

impl Violation {
    /// The statement (or section) this violation breaks, in the given protocol version.
    pub fn spec_ref(&self, version: ProtocolVersion) -> SpecRef {
        use PacketType as P;
        use Violation as V;
        if version.is_v5() {
            return match self {
                V::ReservedPacketType(_) | V::PacketNotInVersion(_) => sect("2.1.2"),
                V::InvalidFlags { packet, .. } => match packet {
                    P::PubRel => stmt("MQTT-3.6.1-1", "3.6.1"),
                    P::Subscribe => stmt("MQTT-3.8.1-1", "3.8.1"),
                    P::Unsubscribe => stmt("MQTT-3.10.1-1", "3.10.1"),
                    P::Disconnect => stmt("MQTT-3.14.1-1", "3.14.1"),
                    P::Auth => stmt("MQTT-3.15.1-1", "3.15.1"),
                    _ => stmt("MQTT-2.1.3-1", "2.1.3"),
                },
                V::PublishQos3 => stmt("MQTT-3.3.1-4", "3.3.1.2"),
                V::DupWithQos0 => stmt("MQTT-3.3.1-2", "3.3.1.1"),
                V::RemainingLengthTooLong => sect("1.5.5"),
                V::RemainingLengthNotMinimal { .. } => stmt("MQTT-1.5.5-1", "1.5.5"),
                V::PacketTooLarge { .. } => sect("3.1.2.11.4"),
                V::Truncated { .. } | V::TrailingBytes { .. } => sect("2.1.4"),
                V::InvalidUtf8 { .. } => stmt("MQTT-1.5.4-1", "1.5.4"),
                V::NullCharacter { .. } => stmt("MQTT-1.5.4-2", "1.5.4"),
                V::InvalidProtocolName { .. } => stmt("MQTT-3.1.2-1", "3.1.2.1"),
                V::UnsupportedProtocolLevel(_) => stmt("MQTT-3.1.2-2", "3.1.2.2"),
                V::ConnectReservedFlag => stmt("MQTT-3.1.2-3", "3.1.2.3"),
                V::WillQosWithoutWill => stmt("MQTT-3.1.2-11", "3.1.2.6"),
                V::WillQos3 => stmt("MQTT-3.1.2-12", "3.1.2.6"),
                V::WillRetainWithoutWill => stmt("MQTT-3.1.2-13", "3.1.2.7"),
                V::PasswordWithoutUsername => sect("3.1.2.9"),
                V::ZeroPacketId(p) => match p {
                    P::Publish | P::Subscribe | P::Unsubscribe => stmt("MQTT-2.2.1-3", "2.2.1"),
                    P::SubAck | P::UnsubAck => stmt("MQTT-2.2.1-6", "2.2.1"),
                    _ => stmt("MQTT-2.2.1-5", "2.2.1"),
                },
                V::EmptyTopic { .. } => stmt("MQTT-4.7.3-1", "4.7.3"),
                V::WildcardInTopicName => stmt("MQTT-3.3.2-2", "3.3.2.1"),
                V::InvalidMultiLevelWildcard => stmt("MQTT-4.7.1-1", "4.7.1.2"),
                V::InvalidSingleLevelWildcard => stmt("MQTT-4.7.1-2", "4.7.1.3"),
                V::InvalidSharedSubscription => stmt("MQTT-4.8.2-2", "4.8.2"),
                V::EmptySubscribe => stmt("MQTT-3.8.3-2", "3.8.3"),
                V::EmptyUnsubscribe => stmt("MQTT-3.10.3-2", "3.10.3"),
                V::SubscriptionOptionsReserved(_) => stmt("MQTT-3.8.3-5", "3.8.3.1"),
                V::SubscriptionQos3 | V::RetainHandling3 => sect("3.8.3.1"),
                V::NoLocalOnShared => stmt("MQTT-3.8.3-4", "3.8.3.1"),
                V::InvalidSubAckReturnCode(_) => stmt("MQTT-3.9.3-2", "3.9.3"),
                V::InvalidConnAckReturnCode(_) => stmt("MQTT-3.2.2-8", "3.2.2.2"),
                V::InvalidReasonCode { packet, .. } => match packet {
                    P::ConnAck => stmt("MQTT-3.2.2-8", "3.2.2.2"),
                    P::PubAck => stmt("MQTT-3.4.2-1", "3.4.2.1"),
                    P::PubRec => stmt("MQTT-3.5.2-1", "3.5.2.1"),
                    P::PubRel => stmt("MQTT-3.6.2-1", "3.6.2.1"),
                    P::PubComp => stmt("MQTT-3.7.2-1", "3.7.2.1"),
                    P::SubAck => stmt("MQTT-3.9.3-2", "3.9.3"),
                    P::UnsubAck => stmt("MQTT-3.11.3-2", "3.11.3"),
                    P::Disconnect => stmt("MQTT-3.14.2-1", "3.14.2.1"),
                    P::Auth => stmt("MQTT-3.15.2-1", "3.15.2.1"),
                    _ => sect("2.4"),
                },
                V::ConnAckReservedFlags(_) => stmt("MQTT-3.2.2-1", "3.2.2.1"),
                V::SessionPresentWithError => stmt("MQTT-3.2.2-6", "3.2.2.1.1"),
                V::EmptyAckPayload(P::SubAck) => stmt("MQTT-3.8.4-6", "3.9.3"),
                V::EmptyAckPayload(_) => sect("3.11.3"),
                V::UnknownProperty(_) | V::PropertyNotAllowed { .. } | V::DuplicateProperty(_) => {
                    sect("2.2.2.2")
                }
                V::InvalidPropertyValue {
                    id: PropertyId::TopicAlias,
                    ..
                } => stmt("MQTT-3.3.2-8", "3.3.2.3.4"),
                V::InvalidPropertyValue { .. } => sect("2.2.2.2"),
                V::AuthDataWithoutMethod => sect("3.1.2.11.10"),
            };
        }
        match self {
            V::ReservedPacketType(_) | V::PacketNotInVersion(_) => sect("2.2.1"),
            V::InvalidFlags { packet, .. } => match packet {
                P::PubRel => stmt("MQTT-3.6.1-1", "3.6.1"),
                P::Subscribe => stmt("MQTT-3.8.1-1", "3.8.1"),
                P::Unsubscribe => stmt("MQTT-3.10.1-1", "3.10.1"),
                P::Disconnect => stmt("MQTT-3.14.1-1", "3.14.1"),
                _ => stmt("MQTT-2.2.2-1", "2.2.2"),
            },
            V::PublishQos3 => stmt("MQTT-3.3.1-4", "3.3.1.2"),
            V::DupWithQos0 => stmt("MQTT-3.3.1-2", "3.3.1.1"),
            V::RemainingLengthTooLong | V::RemainingLengthNotMinimal { .. } => sect("2.2.3"),
            V::PacketTooLarge { .. } | V::Truncated { .. } | V::TrailingBytes { .. } => {
                sect("2.2.3")
            }
            V::InvalidUtf8 { .. } => stmt("MQTT-1.5.3-1", "1.5.3"),
            V::NullCharacter { .. } => stmt("MQTT-1.5.3-2", "1.5.3"),
            V::InvalidProtocolName { .. } => stmt("MQTT-3.1.2-1", "3.1.2.1"),
            V::UnsupportedProtocolLevel(_) => stmt("MQTT-3.1.2-2", "3.1.2.2"),
            V::ConnectReservedFlag => stmt("MQTT-3.1.2-3", "3.1.2.3"),
            V::WillQosWithoutWill => stmt("MQTT-3.1.2-13", "3.1.2.6"),
            V::WillQos3 => stmt("MQTT-3.1.2-14", "3.1.2.6"),
            V::WillRetainWithoutWill => stmt("MQTT-3.1.2-15", "3.1.2.7"),
            V::PasswordWithoutUsername => stmt("MQTT-3.1.2-22", "3.1.2.9"),
            V::ZeroPacketId(p) => match p {
                P::Publish | P::Subscribe | P::Unsubscribe => stmt("MQTT-2.3.1-1", "2.3.1"),
                P::SubAck | P::UnsubAck => stmt("MQTT-2.3.1-7", "2.3.1"),
                _ => stmt("MQTT-2.3.1-6", "2.3.1"),
            },
            V::EmptyTopic { .. } => stmt("MQTT-4.7.3-1", "4.7.3"),
            V::WildcardInTopicName => stmt("MQTT-3.3.2-2", "3.3.2.1"),
            V::InvalidMultiLevelWildcard => stmt("MQTT-4.7.1-2", "4.7.1.2"),
            V::InvalidSingleLevelWildcard => stmt("MQTT-4.7.1-3", "4.7.1.3"),
            V::InvalidSharedSubscription => sect("4.7"),
            V::EmptySubscribe => stmt("MQTT-3.8.3-3", "3.8.3"),
            V::EmptyUnsubscribe => stmt("MQTT-3.10.3-2", "3.10.3"),
            V::SubscriptionOptionsReserved(_) | V::SubscriptionQos3 => {
                stmt("MQTT-3-8.3-4", "3.8.3.1")
            }
            V::RetainHandling3 | V::NoLocalOnShared => sect("3.8.3.1"),
            V::InvalidSubAckReturnCode(_) => stmt("MQTT-3.9.3-2", "3.9.3"),
            V::InvalidConnAckReturnCode(_) | V::InvalidReasonCode { .. } => sect("3.2.2.3"),
            V::ConnAckReservedFlags(_) => sect("3.2.2.1"),
            V::SessionPresentWithError => stmt("MQTT-3.2.2-4", "3.2.2.2"),
            V::EmptyAckPayload(_) => stmt("MQTT-3.8.4-5", "3.9.3"),
            V::UnknownProperty(_)
            | V::PropertyNotAllowed { .. }
            | V::DuplicateProperty(_)
            | V::InvalidPropertyValue { .. }
            | V::AuthDataWithoutMethod => sect("2.2"),
        }
    }

    /// A short human description.
    pub fn message(&self) -> String {
        match self {
            Self::ReservedPacketType(t) => format!("packet type {t} is reserved"),
            Self::InvalidFlags { packet, flags } => format!(
                "{packet} fixed-header flags are {flags:04b}, must be {:04b}",
                packet.required_flags().unwrap_or(0)
            ),
            Self::PublishQos3 => "PUBLISH has both QoS bits set (QoS 3)".into(),
            Self::DupWithQos0 => "PUBLISH has DUP set at QoS 0".into(),
            Self::RemainingLengthTooLong => {
                "Remaining Length is longer than four bytes".into()
            }
            Self::RemainingLengthNotMinimal { used, needed } => format!(
                "Remaining Length is encoded in {used} bytes where {needed} suffice"
            ),
            Self::PacketTooLarge { size, max } => {
                format!("packet of {size} bytes exceeds the maximum of {max} bytes")
            }
            Self::Truncated { field } => {
                format!("{field} runs past the end of the packet")
            }
            Self::TrailingBytes { count } => {
                format!("{count} unexpected byte(s) after the last field")
            }
            Self::InvalidUtf8 { field } => format!("{field} is not well-formed UTF-8"),
            Self::NullCharacter { field } => format!("{field} contains U+0000"),
            Self::InvalidProtocolName { name, level } => {
                format!("protocol name {name:?} is not valid with level {level}")
            }
            Self::UnsupportedProtocolLevel(l) => format!("protocol level {l} is not supported"),
            Self::ConnectReservedFlag => "CONNECT reserved flag (bit 0) is set".into(),
            Self::WillQosWithoutWill => "Will QoS is non-zero but the Will Flag is 0".into(),
            Self::WillRetainWithoutWill => "Will Retain is set but the Will Flag is 0".into(),
            Self::WillQos3 => "Will QoS is 3".into(),
            Self::PasswordWithoutUsername => {
                "Password Flag is set without the User Name Flag".into()
            }
            Self::ZeroPacketId(p) => format!("{p} has packet identifier 0"),
            Self::EmptyTopic { field } => format!("{field} is empty"),
            Self::WildcardInTopicName => "topic name contains a wildcard (+ or #)".into(),
            Self::InvalidMultiLevelWildcard => {
                "'#' must be the last character and occupy a whole level".into()
            }
            Self::InvalidSingleLevelWildcard => "'+' must occupy a whole level".into(),
            Self::InvalidSharedSubscription => {
                "shared subscription must be $share/{ShareName}/{filter} with a ShareName free of / + #"
                    .into()
            }
            Self::EmptySubscribe => "SUBSCRIBE carries no topic filter".into(),
            Self::EmptyUnsubscribe => "UNSUBSCRIBE carries no topic filter".into(),
            Self::SubscriptionOptionsReserved(b) => {
                format!("subscription options byte {b:#04x} has reserved bits set")
            }
            Self::SubscriptionQos3 => "subscription requests QoS 3".into(),
            Self::RetainHandling3 => "Retain Handling is 3".into(),
            Self::NoLocalOnShared => "No Local is set on a shared subscription".into(),
            Self::InvalidSubAckReturnCode(c) => {
                format!("SUBACK return code {c:#04x} is reserved")
            }
            Self::InvalidConnAckReturnCode(c) => {
                format!("CONNACK return code {c} is reserved (0–5 are defined)")
            }
            Self::InvalidReasonCode { packet, code } => {
                format!("reason code {code:#04x} is not defined for {packet}")
            }
            Self::ConnAckReservedFlags(b) => {
                format!("CONNACK acknowledge flags {b:#04x} have reserved bits 7–1 set")
            }
            Self::SessionPresentWithError => {
                "CONNACK has Session Present set with a failure code".into()
            }
            Self::EmptyAckPayload(p) => format!("{p} carries no return code"),
            Self::UnknownProperty(id) => format!("property identifier {id:#04x} is not defined"),
            Self::PropertyNotAllowed { id, scope } => {
                let place = match scope {
                    PropertyScope::Packet(p) => p.name(),
                    PropertyScope::Will => "Will properties",
                };
                format!("{} ({:#04x}) is not allowed in {place}", id.name(), *id as u8)
            }
            Self::DuplicateProperty(id) => {
                format!("{} ({:#04x}) appears more than once", id.name(), *id as u8)
            }
            Self::InvalidPropertyValue { id, value } => {
                format!("{} has the invalid value {value}", id.name())
            }
            Self::AuthDataWithoutMethod => {
                "Authentication Data without Authentication Method".into()
            }
            Self::PacketNotInVersion(p) => format!("{p} does not exist before MQTT 5.0"),
        }
    }
}

/// A decoding failure: the violation, the protocol version it was judged under, and the
/// byte offset (from the start of the packet) where the offending field begins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// What is wrong.
    pub violation: Violation,
    /// Byte offset of the offending field from the start of the packet.
    pub offset: usize,
    /// The protocol version the bytes were judged under.
    pub version: ProtocolVersion,
}

impl DecodeError {
    /// A new error.
    pub fn new(violation: Violation, offset: usize, version: ProtocolVersion) -> Self {
        Self {
            violation,
            offset,
            version,
        }
    }

    /// The normative statement broken, when the specification numbers one.
    pub fn statement(&self) -> Option<&'static str> {
        self.violation.spec_ref(self.version).statement
    }

    /// The statement or section reference as one string, e.g. `[MQTT-3.1.2-3]` or `§2.2.3`.
    pub fn reference(&self) -> String {
        let r = self.violation.spec_ref(self.version);
        match r.statement {
            Some(s) => format!("[{s}]"),
            None => format!("MQTT {} §{}", self.version, r.section),
        }
    }

    /// The same error with its offset moved by `base` (to report offsets in a stream).
    pub fn shifted(mut self, base: usize) -> Self {
        self.offset += base;
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at byte {}: {}",
            self.reference(),
            self.offset,
            self.violation.message()
        )
    }
}

impl std::error::Error for DecodeError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::statements::Spec;

    /// Every violation, for table checks.
    fn all_violations() -> Vec<Violation> {
        use PacketType as P;
        let mut v = vec![
            Violation::ReservedPacketType(0),
            Violation::PublishQos3,
            Violation::DupWithQos0,
            Violation::RemainingLengthTooLong,
            Violation::RemainingLengthNotMinimal { used: 2, needed: 1 },
            Violation::PacketTooLarge { size: 2, max: 1 },
            Violation::Truncated { field: "x" },
            Violation::TrailingBytes { count: 1 },
            Violation::InvalidUtf8 { field: "x" },
            Violation::NullCharacter { field: "x" },
            Violation::InvalidProtocolName {
                name: "x".into(),
                level: 4,
            },
            Violation::UnsupportedProtocolLevel(9),
            Violation::ConnectReservedFlag,
            Violation::WillQosWithoutWill,
            Violation::WillRetainWithoutWill,
            Violation::WillQos3,
            Violation::PasswordWithoutUsername,
            Violation::EmptyTopic { field: "x" },
            Violation::WildcardInTopicName,
            Violation::InvalidMultiLevelWildcard,
            Violation::InvalidSingleLevelWildcard,
            Violation::InvalidSharedSubscription,
            Violation::EmptySubscribe,
            Violation::EmptyUnsubscribe,
            Violation::SubscriptionOptionsReserved(0xC0),
            Violation::SubscriptionQos3,
            Violation::RetainHandling3,
            Violation::NoLocalOnShared,
            Violation::InvalidSubAckReturnCode(3),
            Violation::InvalidConnAckReturnCode(6),
            Violation::ConnAckReservedFlags(2),
            Violation::SessionPresentWithError,
            Violation::UnknownProperty(0),
            Violation::DuplicateProperty(PropertyId::TopicAlias),
            Violation::InvalidPropertyValue {
                id: PropertyId::TopicAlias,
                value: 0,
            },
            Violation::AuthDataWithoutMethod,
            Violation::PacketNotInVersion(P::Auth),
        ];
        for p in PacketType::ALL {
            v.push(Violation::InvalidFlags {
                packet: p,
                flags: 0xF,
            });
            v.push(Violation::ZeroPacketId(p));
            v.push(Violation::InvalidReasonCode {
                packet: p,
                code: 0xFF,
            });
            v.push(Violation::EmptyAckPayload(p));
            v.push(Violation::PropertyNotAllowed {
                id: PropertyId::TopicAlias,
                scope: PropertyScope::Packet(p),
            });
        }
        v
    }

    #[test]
    fn every_cited_statement_exists_in_its_specification() {
        for violation in all_violations() {
            for (version, spec) in [
                (ProtocolVersion::V3_1, Spec::V3_1_1),
                (ProtocolVersion::V3_1_1, Spec::V3_1_1),
                (ProtocolVersion::V5, Spec::V5_0),
            ] {
                let r = violation.spec_ref(version);
                if let Some(id) = r.statement {
                    assert!(
                        spec.lookup(id).is_some(),
                        "{violation:?} cites {id}, which MQTT {version} does not have"
                    );
                }
                assert!(!r.section.is_empty());
                assert!(!violation.message().is_empty());
            }
        }
    }

    #[test]
    fn versions_number_statements_differently() {
        let e3 = DecodeError::new(Violation::WillQos3, 9, ProtocolVersion::V3_1_1);
        let e5 = DecodeError::new(Violation::WillQos3, 9, ProtocolVersion::V5);
        assert_eq!(e3.statement(), Some("MQTT-3.1.2-14"));
        assert_eq!(e5.statement(), Some("MQTT-3.1.2-12"));
        assert_eq!(e3.to_string(), "[MQTT-3.1.2-14] at byte 9: Will QoS is 3");
        let r = DecodeError::new(
            Violation::RemainingLengthTooLong,
            1,
            ProtocolVersion::V3_1_1,
        );
        assert_eq!(r.reference(), "MQTT 3.1.1 §2.2.3");
    }
}
