//! The typed packet model: every MQTT control packet of 3.1, 3.1.1 and 5.0.
//!
//! The model holds only what a well-formed packet can express; deliberately malformed
//! packets are built with [`crate::codec::RawBuilder`] instead.

use super::bytestr::ByteStr;
pub use super::packet_type::PacketType;
use super::properties::Properties;
use super::version::ProtocolVersion;
use bytes::Bytes;
use serde::{Serialize, Serializer};

/// Quality of service of a message or subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum QoS {
    /// QoS 0: at most once.
    #[default]
    AtMostOnce = 0,
    /// QoS 1: at least once.
    AtLeastOnce = 1,
    /// QoS 2: exactly once.
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS with this numeric value (0–2); 3 is not a QoS.
    pub fn from_u8(value: u8) -> Option<Self> {
        match value {
            0 => Some(Self::AtMostOnce),
            1 => Some(Self::AtLeastOnce),
            2 => Some(Self::ExactlyOnce),
            _ => None,
        }
    }

    /// The numeric value 0–2.
    pub fn as_u8(self) -> u8 {
        self as u8
    }
}

impl Serialize for QoS {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.as_u8())
    }
}

/// Serialises binary fields as lower-case hex in JSON output.
pub(crate) fn serialize_hex<S: Serializer>(bytes: &Bytes, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

fn serialize_opt_hex<S: Serializer>(bytes: &Option<Bytes>, s: S) -> Result<S::Ok, S::Error> {
    match bytes {
        Some(b) => s.serialize_str(&hex::encode(b)),
        None => s.serialize_none(),
    }
}

/// A decoded MQTT control packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type")]
pub enum Packet {
    /// CONNECT (boxed: it is large and rare, and keeps every `Packet` small).
    #[serde(rename = "CONNECT")]
    Connect(Box<Connect>),
    /// CONNACK.
    #[serde(rename = "CONNACK")]
    ConnAck(ConnAck),
    /// PUBLISH.
    #[serde(rename = "PUBLISH")]
    Publish(Publish),
    /// PUBACK.
    #[serde(rename = "PUBACK")]
    PubAck(PubResponse),
    /// PUBREC.
    #[serde(rename = "PUBREC")]
    PubRec(PubResponse),
    /// PUBREL.
    #[serde(rename = "PUBREL")]
    PubRel(PubResponse),
    /// PUBCOMP.
    #[serde(rename = "PUBCOMP")]
    PubComp(PubResponse),
    /// SUBSCRIBE.
    #[serde(rename = "SUBSCRIBE")]
    Subscribe(Subscribe),
    /// SUBACK.
    #[serde(rename = "SUBACK")]
    SubAck(SubAck),
    /// UNSUBSCRIBE.
    #[serde(rename = "UNSUBSCRIBE")]
    Unsubscribe(Unsubscribe),
    /// UNSUBACK.
    #[serde(rename = "UNSUBACK")]
    UnsubAck(UnsubAck),
    /// PINGREQ.
    #[serde(rename = "PINGREQ")]
    PingReq,
    /// PINGRESP.
    #[serde(rename = "PINGRESP")]
    PingResp,
    /// DISCONNECT.
    #[serde(rename = "DISCONNECT")]
    Disconnect(Disconnect),
    /// AUTH (5.0).
    #[serde(rename = "AUTH")]
    Auth(Auth),
}

impl Packet {
    /// This packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Self::Connect(_) => PacketType::Connect,
            Self::ConnAck(_) => PacketType::ConnAck,
            Self::Publish(_) => PacketType::Publish,
            Self::PubAck(_) => PacketType::PubAck,
            Self::PubRec(_) => PacketType::PubRec,
            Self::PubRel(_) => PacketType::PubRel,
            Self::PubComp(_) => PacketType::PubComp,
            Self::Subscribe(_) => PacketType::Subscribe,
            Self::SubAck(_) => PacketType::SubAck,
            Self::Unsubscribe(_) => PacketType::Unsubscribe,
            Self::UnsubAck(_) => PacketType::UnsubAck,
            Self::PingReq => PacketType::PingReq,
            Self::PingResp => PacketType::PingResp,
            Self::Disconnect(_) => PacketType::Disconnect,
            Self::Auth(_) => PacketType::Auth,
        }
    }
}

/// CONNECT: the first packet a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Connect {
    /// The protocol version this CONNECT announces (from name and level).
    pub protocol: ProtocolVersion,
    /// Clean Session (3.x) / Clean Start (5.0).
    pub clean_session: bool,
    /// Keep Alive in seconds; 0 disables the mechanism.
    pub keep_alive: u16,
    /// CONNECT properties (5.0).
    pub properties: Properties,
    /// The Client Identifier (possibly empty).
    pub client_id: String,
    /// The Will message, when the Will Flag is set.
    pub will: Option<Will>,
    /// The User Name, when its flag is set.
    pub username: Option<String>,
    /// The Password, when its flag is set (binary data).
    #[serde(serialize_with = "serialize_opt_hex")]
    pub password: Option<Bytes>,
}

impl Connect {
    /// A CONNECT with the given version and client id, clean session and keepalive 60.
    pub fn new(protocol: ProtocolVersion, client_id: impl Into<String>) -> Self {
        Self {
            protocol,
            clean_session: true,
            keep_alive: 60,
            properties: Properties::default(),
            client_id: client_id.into(),
            will: None,
            username: None,
            password: None,
        }
    }

    /// A copy that shares no memory with the packet it was decoded from, for keeping it
    /// longer than the packet's buffer should live.
    pub fn detached(&self) -> Self {
        Self {
            properties: self.properties.detached(),
            will: self.will.as_ref().map(|w| Will {
                topic: w.topic.clone(),
                payload: Bytes::copy_from_slice(&w.payload),
                qos: w.qos,
                retain: w.retain,
                properties: w.properties.detached(),
            }),
            password: self.password.as_deref().map(Bytes::copy_from_slice),
            ..self.clone()
        }
    }
}

/// The Will message of a CONNECT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Will {
    /// Will Topic.
    pub topic: String,
    /// Will Payload (3.1.1 calls it Will Message).
    #[serde(serialize_with = "serialize_hex")]
    pub payload: Bytes,
    /// Will QoS.
    pub qos: QoS,
    /// Will Retain.
    pub retain: bool,
    /// Will properties (5.0).
    pub properties: Properties,
}

/// CONNACK: the server's answer to CONNECT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnAck {
    /// Session Present (always false in 3.1, which has no such flag).
    pub session_present: bool,
    /// Return code (3.x, 0–5) or reason code (5.0).
    pub code: u8,
    /// CONNACK properties (5.0).
    pub properties: Properties,
}

/// PUBLISH: an application message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Publish {
    /// DUP flag: a re-delivery.
    pub dup: bool,
    /// QoS of this delivery.
    pub qos: QoS,
    /// RETAIN flag.
    pub retain: bool,
    /// Topic Name (may be empty in 5.0 when a Topic Alias is used); shares the frame's
    /// memory when decoded.
    pub topic: ByteStr,
    /// Packet Identifier, present exactly when QoS > 0.
    pub packet_id: Option<u16>,
    /// PUBLISH properties (5.0).
    pub properties: Properties,
    /// The application payload.
    #[serde(serialize_with = "serialize_hex")]
    pub payload: Bytes,
}

impl Publish {
    /// A QoS 0, non-retained PUBLISH.
    pub fn new(topic: impl Into<ByteStr>, payload: impl Into<Bytes>) -> Self {
        Self {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: topic.into(),
            packet_id: None,
            properties: Properties::default(),
            payload: payload.into(),
        }
    }
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PubResponse {
    /// Packet Identifier of the PUBLISH this answers.
    pub packet_id: u16,
    /// Reason code (5.0; 0 = Success, the only value in 3.x).
    pub reason_code: u8,
    /// Properties (5.0).
    pub properties: Properties,
}

impl PubResponse {
    /// A success response for `packet_id`.
    pub fn new(packet_id: u16) -> Self {
        Self {
            packet_id,
            reason_code: 0,
            properties: Properties::default(),
        }
    }
}

/// Retain Handling subscription option (5.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RetainHandling {
    /// 0: send retained messages at subscribe time.
    #[default]
    SendAtSubscribe = 0,
    /// 1: send retained messages only if the subscription is new.
    SendIfNew = 1,
    /// 2: do not send retained messages.
    DoNotSend = 2,
}

impl Serialize for RetainHandling {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(*self as u8)
    }
}

/// The options byte of one SUBSCRIBE entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct SubscriptionOptions {
    /// Requested maximum QoS.
    pub qos: QoS,
    /// No Local (5.0).
    pub no_local: bool,
    /// Retain As Published (5.0).
    pub retain_as_published: bool,
    /// Retain Handling (5.0).
    pub retain_handling: RetainHandling,
}

/// One topic filter with its options in a SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subscription {
    /// The topic filter.
    pub filter: String,
    /// The subscription options.
    pub options: SubscriptionOptions,
}

impl Subscription {
    /// A subscription to `filter` at `qos` with default 5.0 options.
    pub fn new(filter: impl Into<String>, qos: QoS) -> Self {
        Self {
            filter: filter.into(),
            options: SubscriptionOptions {
                qos,
                ..SubscriptionOptions::default()
            },
        }
    }
}

/// SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subscribe {
    /// Packet Identifier (non-zero).
    pub packet_id: u16,
    /// Properties (5.0).
    pub properties: Properties,
    /// The requested subscriptions (at least one).
    pub subscriptions: Vec<Subscription>,
}

/// SUBACK.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubAck {
    /// Packet Identifier of the SUBSCRIBE.
    pub packet_id: u16,
    /// Properties (5.0).
    pub properties: Properties,
    /// One return/reason code per requested filter.
    pub return_codes: Vec<u8>,
}

/// UNSUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unsubscribe {
    /// Packet Identifier (non-zero).
    pub packet_id: u16,
    /// Properties (5.0).
    pub properties: Properties,
    /// Topic filters to remove (at least one).
    pub filters: Vec<String>,
}

/// UNSUBACK.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnsubAck {
    /// Packet Identifier of the UNSUBSCRIBE.
    pub packet_id: u16,
    /// Properties (5.0).
    pub properties: Properties,
    /// One reason code per filter (5.0; empty in 3.x).
    pub reason_codes: Vec<u8>,
}

/// DISCONNECT.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Disconnect {
    /// Reason code (5.0; 0 = Normal disconnection).
    pub reason_code: u8,
    /// Properties (5.0).
    pub properties: Properties,
}

/// AUTH (5.0).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Auth {
    /// Reason code: 0x00 Success, 0x18 Continue authentication, 0x19 Re-authenticate.
    pub reason_code: u8,
    /// Properties.
    pub properties: Properties,
}
