//! Return codes (3.x) and reason codes (5.0) with their names and the packets each may appear in.

use super::packet::PacketType;
use super::version::ProtocolVersion;

/// MQTT 5.0 reason codes by name (one value may carry several names by packet type; see
/// [`REASON_CODES`]).
pub mod code {
    /// Success; also Normal disconnection and Granted QoS 0.
    pub const SUCCESS: u8 = 0x00;
    /// Granted QoS 1 (SUBACK).
    pub const GRANTED_QOS_1: u8 = 0x01;
    /// Granted QoS 2 (SUBACK).
    pub const GRANTED_QOS_2: u8 = 0x02;
    /// Disconnect with Will Message (DISCONNECT).
    pub const DISCONNECT_WITH_WILL: u8 = 0x04;
    /// No matching subscribers.
    pub const NO_MATCHING_SUBSCRIBERS: u8 = 0x10;
    /// No subscription existed (UNSUBACK).
    pub const NO_SUBSCRIPTION_EXISTED: u8 = 0x11;
    /// 0x18 Continue authentication.
    pub const CONTINUE_AUTHENTICATION: u8 = 0x18;
    /// 0x19 Re-authenticate.
    pub const RE_AUTHENTICATE: u8 = 0x19;
    /// Unspecified error.
    pub const UNSPECIFIED_ERROR: u8 = 0x80;
    /// Malformed Packet.
    pub const MALFORMED_PACKET: u8 = 0x81;
    /// Protocol Error.
    pub const PROTOCOL_ERROR: u8 = 0x82;
    /// Implementation specific error.
    pub const IMPLEMENTATION_SPECIFIC_ERROR: u8 = 0x83;
    /// Unsupported Protocol Version.
    pub const UNSUPPORTED_PROTOCOL_VERSION: u8 = 0x84;
    /// Client Identifier not valid.
    pub const CLIENT_IDENTIFIER_NOT_VALID: u8 = 0x85;
    /// Bad User Name or Password.
    pub const BAD_USER_NAME_OR_PASSWORD: u8 = 0x86;
    /// Not authorized.
    pub const NOT_AUTHORIZED: u8 = 0x87;
    /// Server unavailable.
    pub const SERVER_UNAVAILABLE: u8 = 0x88;
    /// Server busy.
    pub const SERVER_BUSY: u8 = 0x89;
    /// Banned.
    pub const BANNED: u8 = 0x8A;
    /// Server shutting down.
    pub const SERVER_SHUTTING_DOWN: u8 = 0x8B;
    /// Bad authentication method.
    pub const BAD_AUTHENTICATION_METHOD: u8 = 0x8C;
    /// Keep Alive timeout.
    pub const KEEP_ALIVE_TIMEOUT: u8 = 0x8D;
    /// Session taken over.
    pub const SESSION_TAKEN_OVER: u8 = 0x8E;
    /// Topic Filter invalid.
    pub const TOPIC_FILTER_INVALID: u8 = 0x8F;
    /// Topic Name invalid.
    pub const TOPIC_NAME_INVALID: u8 = 0x90;
    /// Packet Identifier in use.
    pub const PACKET_IDENTIFIER_IN_USE: u8 = 0x91;
    /// Packet Identifier not found.
    pub const PACKET_IDENTIFIER_NOT_FOUND: u8 = 0x92;
    /// Receive Maximum exceeded.
    pub const RECEIVE_MAXIMUM_EXCEEDED: u8 = 0x93;
    /// Topic Alias invalid.
    pub const TOPIC_ALIAS_INVALID: u8 = 0x94;
    /// Packet too large.
    pub const PACKET_TOO_LARGE: u8 = 0x95;
    /// Message rate too high.
    pub const MESSAGE_RATE_TOO_HIGH: u8 = 0x96;
    /// Quota exceeded.
    pub const QUOTA_EXCEEDED: u8 = 0x97;
    /// Administrative action.
    pub const ADMINISTRATIVE_ACTION: u8 = 0x98;
    /// Payload format invalid.
    pub const PAYLOAD_FORMAT_INVALID: u8 = 0x99;
    /// Retain not supported.
    pub const RETAIN_NOT_SUPPORTED: u8 = 0x9A;
    /// QoS not supported.
    pub const QOS_NOT_SUPPORTED: u8 = 0x9B;
    /// Use another server.
    pub const USE_ANOTHER_SERVER: u8 = 0x9C;
    /// Server moved.
    pub const SERVER_MOVED: u8 = 0x9D;
    /// Shared Subscriptions not supported.
    pub const SHARED_SUBSCRIPTIONS_NOT_SUPPORTED: u8 = 0x9E;
    /// Connection rate exceeded.
    pub const CONNECTION_RATE_EXCEEDED: u8 = 0x9F;
    /// Maximum connect time.
    pub const MAXIMUM_CONNECT_TIME: u8 = 0xA0;
    /// Subscription Identifiers not supported.
    pub const SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED: u8 = 0xA1;
    /// Wildcard Subscriptions not supported.
    pub const WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED: u8 = 0xA2;
}

/// MQTT 3.1 / 3.1.1 return codes by name (CONNACK, and SUBACK's failure).
pub mod v3 {
    /// Connection Accepted.
    pub const ACCEPTED: u8 = 0x00;
    /// Connection Refused, unacceptable protocol version.
    pub const UNACCEPTABLE_PROTOCOL_VERSION: u8 = 0x01;
    /// Connection Refused, identifier rejected.
    pub const IDENTIFIER_REJECTED: u8 = 0x02;
    /// Connection Refused, Server unavailable.
    pub const SERVER_UNAVAILABLE: u8 = 0x03;
    /// Connection Refused, bad user name or password.
    pub const BAD_USER_NAME_OR_PASSWORD: u8 = 0x04;
    /// Connection Refused, not authorized.
    pub const NOT_AUTHORIZED: u8 = 0x05;
    /// SUBACK: Failure.
    pub const SUBACK_FAILURE: u8 = 0x80;
}

/// Name of a 3.1 / 3.1.1 CONNACK return code.
pub fn connack_return_code_name(code: u8) -> &'static str {
    match code {
        0 => "Connection Accepted",
        1 => "Connection Refused, unacceptable protocol version",
        2 => "Connection Refused, identifier rejected",
        3 => "Connection Refused, Server unavailable",
        4 => "Connection Refused, bad user name or password",
        5 => "Connection Refused, not authorized",
        _ => "Reserved",
    }
}

/// Name of a 3.1.1 SUBACK return code.
pub fn suback_return_code_name(code: u8) -> &'static str {
    match code {
        0 => "Success - Maximum QoS 0",
        1 => "Success - Maximum QoS 1",
        2 => "Success - Maximum QoS 2",
        0x80 => "Failure",
        _ => "Reserved",
    }
}

/// Every MQTT 5.0 reason code: value, name, and the packet types that may carry it.
pub const REASON_CODES: &[(u8, &str, &[PacketType])] = {
    use PacketType::*;
    &[
        (
            0x00,
            "Success",
            &[ConnAck, PubAck, PubRec, PubRel, PubComp, UnsubAck, Auth],
        ),
        (0x00, "Normal disconnection", &[Disconnect]),
        (0x00, "Granted QoS 0", &[SubAck]),
        (0x01, "Granted QoS 1", &[SubAck]),
        (0x02, "Granted QoS 2", &[SubAck]),
        (0x04, "Disconnect with Will Message", &[Disconnect]),
        (0x10, "No matching subscribers", &[PubAck, PubRec]),
        (0x11, "No subscription existed", &[UnsubAck]),
        (0x18, "Continue authentication", &[Auth]),
        (0x19, "Re-authenticate", &[Auth]),
        (
            0x80,
            "Unspecified error",
            &[ConnAck, PubAck, PubRec, SubAck, UnsubAck, Disconnect],
        ),
        (0x81, "Malformed Packet", &[ConnAck, Disconnect]),
        (0x82, "Protocol Error", &[ConnAck, Disconnect]),
        (
            0x83,
            "Implementation specific error",
            &[ConnAck, PubAck, PubRec, SubAck, UnsubAck, Disconnect],
        ),
        (0x84, "Unsupported Protocol Version", &[ConnAck]),
        (0x85, "Client Identifier not valid", &[ConnAck]),
        (0x86, "Bad User Name or Password", &[ConnAck]),
        (
            0x87,
            "Not authorized",
            &[ConnAck, PubAck, PubRec, SubAck, UnsubAck, Disconnect],
        ),
        (0x88, "Server unavailable", &[ConnAck]),
        (0x89, "Server busy", &[ConnAck, Disconnect]),
        (0x8A, "Banned", &[ConnAck]),
        (0x8B, "Server shutting down", &[Disconnect]),
        (0x8C, "Bad authentication method", &[ConnAck, Disconnect]),
        (0x8D, "Keep Alive timeout", &[Disconnect]),
        (0x8E, "Session taken over", &[Disconnect]),
        (
            0x8F,
            "Topic Filter invalid",
            &[SubAck, UnsubAck, Disconnect],
        ),
        (
            0x90,
            "Topic Name invalid",
            &[ConnAck, PubAck, PubRec, Disconnect],
        ),
        (
            0x91,
            "Packet Identifier in use",
            &[PubAck, PubRec, SubAck, UnsubAck],
        ),
        (0x92, "Packet Identifier not found", &[PubRel, PubComp]),
        (0x93, "Receive Maximum exceeded", &[Disconnect]),
        (0x94, "Topic Alias invalid", &[Disconnect]),
        (0x95, "Packet too large", &[ConnAck, Disconnect]),
        (0x96, "Message rate too high", &[Disconnect]),
        (
            0x97,
            "Quota exceeded",
            &[ConnAck, PubAck, PubRec, SubAck, Disconnect],
        ),
        (0x98, "Administrative action", &[Disconnect]),
        (
            0x99,
            "Payload format invalid",
            &[ConnAck, PubAck, PubRec, Disconnect],
        ),
        (0x9A, "Retain not supported", &[ConnAck, Disconnect]),
        (0x9B, "QoS not supported", &[ConnAck, Disconnect]),
        (0x9C, "Use another server", &[ConnAck, Disconnect]),
        (0x9D, "Server moved", &[ConnAck, Disconnect]),
        (
            0x9E,
            "Shared Subscriptions not supported",
            &[SubAck, Disconnect],
        ),
        (0x9F, "Connection rate exceeded", &[ConnAck, Disconnect]),
        (0xA0, "Maximum connect time", &[Disconnect]),
        (
            0xA1,
            "Subscription Identifiers not supported",
            &[SubAck, Disconnect],
        ),
        (
            0xA2,
            "Wildcard Subscriptions not supported",
            &[SubAck, Disconnect],
        ),
    ]
};

/// True when `code` is a 5.0 reason code `packet` may carry.
pub fn reason_code_allowed(packet: PacketType, code: u8) -> bool {
    REASON_CODES
        .iter()
        .any(|(c, _, packets)| *c == code && packets.contains(&packet))
}

/// The 5.0 name of `code` as carried by `packet`, or "Reserved" when it is not one of its codes.
pub fn reason_code_name(packet: PacketType, code: u8) -> &'static str {
    REASON_CODES
        .iter()
        .find(|(c, _, packets)| *c == code && packets.contains(&packet))
        .or_else(|| REASON_CODES.iter().find(|(c, _, _)| *c == code))
        .map(|(_, name, _)| *name)
        .unwrap_or("Reserved")
}

/// The human name of a return/reason code in `packet` under `version`.
pub fn code_name(version: ProtocolVersion, packet: PacketType, code: u8) -> &'static str {
    match (version.is_v5(), packet) {
        (true, _) => reason_code_name(packet, code),
        (false, PacketType::ConnAck) => connack_return_code_name(code),
        (false, PacketType::SubAck) => suback_return_code_name(code),
        (false, _) => "Success",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_code_from_0x80_to_0xa2_is_named() {
        for code in 0x80..=0xA2u8 {
            assert!(
                REASON_CODES.iter().any(|(c, _, _)| *c == code),
                "missing reason code {code:#04x}"
            );
        }
    }

    #[test]
    fn names_depend_on_the_packet() {
        assert_eq!(
            reason_code_name(PacketType::Disconnect, 0),
            "Normal disconnection"
        );
        assert_eq!(reason_code_name(PacketType::SubAck, 0), "Granted QoS 0");
        assert_eq!(
            reason_code_name(PacketType::ConnAck, 0x86),
            "Bad User Name or Password"
        );
        assert!(!reason_code_allowed(PacketType::PubRel, 0x80));
        assert!(reason_code_allowed(PacketType::PubRel, 0x92));
    }
}
