//! The fifteen control packet types, apart from the packets themselves: what the property
//! and reason-code tables name, below both.

use serde::{Serialize, Serializer};
use std::fmt;

/// The fifteen MQTT control packet types (AUTH exists only in 5.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PacketType {
    /// Client request to connect (1).
    Connect = 1,
    /// Connect acknowledgement (2).
    ConnAck = 2,
    /// Publish message (3).
    Publish = 3,
    /// QoS 1 publish acknowledgement (4).
    PubAck = 4,
    /// QoS 2 publish received, part 1 (5).
    PubRec = 5,
    /// QoS 2 publish release, part 2 (6).
    PubRel = 6,
    /// QoS 2 publish complete, part 3 (7).
    PubComp = 7,
    /// Subscribe request (8).
    Subscribe = 8,
    /// Subscribe acknowledgement (9).
    SubAck = 9,
    /// Unsubscribe request (10).
    Unsubscribe = 10,
    /// Unsubscribe acknowledgement (11).
    UnsubAck = 11,
    /// Ping request (12).
    PingReq = 12,
    /// Ping response (13).
    PingResp = 13,
    /// Disconnect notification (14).
    Disconnect = 14,
    /// Authentication exchange, MQTT 5.0 only (15).
    Auth = 15,
}

impl PacketType {
    /// All packet types in numeric order.
    pub const ALL: [PacketType; 15] = [
        Self::Connect,
        Self::ConnAck,
        Self::Publish,
        Self::PubAck,
        Self::PubRec,
        Self::PubRel,
        Self::PubComp,
        Self::Subscribe,
        Self::SubAck,
        Self::Unsubscribe,
        Self::UnsubAck,
        Self::PingReq,
        Self::PingResp,
        Self::Disconnect,
        Self::Auth,
    ];

    /// The packet type encoded in the high nibble of a fixed header's first byte.
    pub fn from_nibble(nibble: u8) -> Option<Self> {
        Self::ALL.get(usize::from(nibble).wrapping_sub(1)).copied()
    }

    /// The name as the specifications write it (upper case).
    pub fn name(self) -> &'static str {
        match self {
            Self::Connect => "CONNECT",
            Self::ConnAck => "CONNACK",
            Self::Publish => "PUBLISH",
            Self::PubAck => "PUBACK",
            Self::PubRec => "PUBREC",
            Self::PubRel => "PUBREL",
            Self::PubComp => "PUBCOMP",
            Self::Subscribe => "SUBSCRIBE",
            Self::SubAck => "SUBACK",
            Self::Unsubscribe => "UNSUBSCRIBE",
            Self::UnsubAck => "UNSUBACK",
            Self::PingReq => "PINGREQ",
            Self::PingResp => "PINGRESP",
            Self::Disconnect => "DISCONNECT",
            Self::Auth => "AUTH",
        }
    }

    /// The packet type with this upper- or lower-case name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name))
    }

    /// The fixed-header flag nibble every packet type but PUBLISH must carry.
    pub fn required_flags(self) -> Option<u8> {
        match self {
            Self::Publish => None,
            Self::PubRel | Self::Subscribe | Self::Unsubscribe => Some(0b0010),
            _ => Some(0),
        }
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for PacketType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}
