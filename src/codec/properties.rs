//! MQTT 5.0 properties: identifiers 0x01–0x2A, their value types, and where each may appear.

use super::bytestr::ByteStr;
use super::packet_type::PacketType;
use bytes::Bytes;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// The wire type of a property's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyType {
    /// One byte.
    Byte,
    /// Two-byte integer.
    TwoByteInteger,
    /// Four-byte integer.
    FourByteInteger,
    /// Variable Byte Integer.
    VariableByteInteger,
    /// UTF-8 encoded string.
    Utf8String,
    /// Binary data.
    BinaryData,
    /// UTF-8 string pair.
    Utf8StringPair,
}

/// Where a property sits: in a packet's variable header, or in CONNECT's Will properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyScope {
    /// The properties of a packet of this type.
    Packet(PacketType),
    /// The Will properties of a CONNECT payload.
    Will,
}

macro_rules! property_ids {
    ($( $(#[$doc:meta])* $variant:ident = $id:literal, $name:literal, $ty:ident, repeat = $rep:literal, [$($scope:tt)*]; )*) => {
        /// The identifier of an MQTT 5.0 property.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum PropertyId {
            $( $(#[$doc])* $variant = $id, )*
        }

        impl PropertyId {
            /// Every property identifier, in numeric order.
            pub const ALL: &'static [PropertyId] = &[$(PropertyId::$variant),*];

            /// The property with this identifier byte.
            pub fn from_u8(id: u8) -> Option<Self> {
                match id {
                    $( $id => Some(Self::$variant), )*
                    _ => None,
                }
            }

            /// The name as the 5.0 specification writes it.
            pub fn name(self) -> &'static str {
                match self { $( Self::$variant => $name, )* }
            }

            /// The wire type of this property's value.
            pub fn value_type(self) -> PropertyType {
                match self { $( Self::$variant => PropertyType::$ty, )* }
            }

            /// True when the property may appear more than once in one packet.
            pub fn may_repeat(self) -> bool {
                match self { $( Self::$variant => $rep, )* }
            }

            /// True when the property may appear in `scope`.
            pub fn allowed_in(self, scope: PropertyScope) -> bool {
                match self { $( Self::$variant => property_ids!(@scope scope, $($scope)*), )* }
            }
        }
    };
    (@scope $s:ident, $($x:ident),*) => {
        false $( || property_ids!(@one $s, $x) )*
    };
    (@one $s:ident, Will) => { $s == PropertyScope::Will };
    (@one $s:ident, $t:ident) => { $s == PropertyScope::Packet(PacketType::$t) };
}

property_ids! {
    /// 0x01 Payload Format Indicator.
    PayloadFormatIndicator = 0x01, "Payload Format Indicator", Byte, repeat = false, [Publish, Will];
    /// 0x02 Message Expiry Interval.
    MessageExpiryInterval = 0x02, "Message Expiry Interval", FourByteInteger, repeat = false, [Publish, Will];
    /// 0x03 Content Type.
    ContentType = 0x03, "Content Type", Utf8String, repeat = false, [Publish, Will];
    /// 0x08 Response Topic.
    ResponseTopic = 0x08, "Response Topic", Utf8String, repeat = false, [Publish, Will];
    /// 0x09 Correlation Data.
    CorrelationData = 0x09, "Correlation Data", BinaryData, repeat = false, [Publish, Will];
    /// 0x0B Subscription Identifier (repeatable in PUBLISH only; see [`Properties`]).
    SubscriptionIdentifier = 0x0B, "Subscription Identifier", VariableByteInteger, repeat = true, [Publish, Subscribe];
    /// 0x11 Session Expiry Interval.
    SessionExpiryInterval = 0x11, "Session Expiry Interval", FourByteInteger, repeat = false, [Connect, ConnAck, Disconnect];
    /// 0x12 Assigned Client Identifier.
    AssignedClientIdentifier = 0x12, "Assigned Client Identifier", Utf8String, repeat = false, [ConnAck];
    /// 0x13 Server Keep Alive.
    ServerKeepAlive = 0x13, "Server Keep Alive", TwoByteInteger, repeat = false, [ConnAck];
    /// 0x15 Authentication Method.
    AuthenticationMethod = 0x15, "Authentication Method", Utf8String, repeat = false, [Connect, ConnAck, Auth];
    /// 0x16 Authentication Data.
    AuthenticationData = 0x16, "Authentication Data", BinaryData, repeat = false, [Connect, ConnAck, Auth];
    /// 0x17 Request Problem Information.
    RequestProblemInformation = 0x17, "Request Problem Information", Byte, repeat = false, [Connect];
    /// 0x18 Will Delay Interval.
    WillDelayInterval = 0x18, "Will Delay Interval", FourByteInteger, repeat = false, [Will];
    /// 0x19 Request Response Information.
    RequestResponseInformation = 0x19, "Request Response Information", Byte, repeat = false, [Connect];
    /// 0x1A Response Information.
    ResponseInformation = 0x1A, "Response Information", Utf8String, repeat = false, [ConnAck];
    /// 0x1C Server Reference.
    ServerReference = 0x1C, "Server Reference", Utf8String, repeat = false, [ConnAck, Disconnect];
    /// 0x1F Reason String.
    ReasonString = 0x1F, "Reason String", Utf8String, repeat = false, [ConnAck, PubAck, PubRec, PubRel, PubComp, SubAck, UnsubAck, Disconnect, Auth];
    /// 0x21 Receive Maximum.
    ReceiveMaximum = 0x21, "Receive Maximum", TwoByteInteger, repeat = false, [Connect, ConnAck];
    /// 0x22 Topic Alias Maximum.
    TopicAliasMaximum = 0x22, "Topic Alias Maximum", TwoByteInteger, repeat = false, [Connect, ConnAck];
    /// 0x23 Topic Alias.
    TopicAlias = 0x23, "Topic Alias", TwoByteInteger, repeat = false, [Publish];
    /// 0x24 Maximum QoS.
    MaximumQos = 0x24, "Maximum QoS", Byte, repeat = false, [ConnAck];
    /// 0x25 Retain Available.
    RetainAvailable = 0x25, "Retain Available", Byte, repeat = false, [ConnAck];
    /// 0x26 User Property.
    UserProperty = 0x26, "User Property", Utf8StringPair, repeat = true, [Connect, ConnAck, Publish, Will, PubAck, PubRec, PubRel, PubComp, Subscribe, SubAck, Unsubscribe, UnsubAck, Disconnect, Auth];
    /// 0x27 Maximum Packet Size.
    MaximumPacketSize = 0x27, "Maximum Packet Size", FourByteInteger, repeat = false, [Connect, ConnAck];
    /// 0x28 Wildcard Subscription Available.
    WildcardSubscriptionAvailable = 0x28, "Wildcard Subscription Available", Byte, repeat = false, [ConnAck];
    /// 0x29 Subscription Identifier Available.
    SubscriptionIdentifierAvailable = 0x29, "Subscription Identifier Available", Byte, repeat = false, [ConnAck];
    /// 0x2A Shared Subscription Available.
    SharedSubscriptionAvailable = 0x2A, "Shared Subscription Available", Byte, repeat = false, [ConnAck];
}

impl PropertyId {
    /// The JSON/YAML key for this property: its name in snake case.
    pub fn key(self) -> String {
        self.name().to_ascii_lowercase().replace(' ', "_")
    }

    /// The property whose [`PropertyId::key`] or name is `key`.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|p| p.key() == key || p.name().eq_ignore_ascii_case(key))
    }

    /// Byte-valued properties whose only legal values are 0 and 1.
    pub fn is_boolean(self) -> bool {
        matches!(
            self,
            Self::PayloadFormatIndicator
                | Self::RequestProblemInformation
                | Self::RequestResponseInformation
                | Self::MaximumQos
                | Self::RetainAvailable
                | Self::WildcardSubscriptionAvailable
                | Self::SubscriptionIdentifierAvailable
                | Self::SharedSubscriptionAvailable
        )
    }
}

/// A property's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertyValue {
    /// A byte.
    Byte(u8),
    /// A two-byte integer.
    TwoByteInteger(u16),
    /// A four-byte integer.
    FourByteInteger(u32),
    /// A variable byte integer.
    VariableByteInteger(u32),
    /// A UTF-8 string (sharing the packet's memory when decoded).
    String(ByteStr),
    /// Binary data.
    Binary(Bytes),
    /// A UTF-8 string pair (user property), sharing the packet's memory when decoded.
    Pair(ByteStr, ByteStr),
}

/// One property: identifier and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// The identifier.
    pub id: PropertyId,
    /// The value, of the identifier's type.
    pub value: PropertyValue,
}

impl Property {
    /// A property; the caller is responsible for matching value type and identifier.
    pub fn new(id: PropertyId, value: PropertyValue) -> Self {
        Self { id, value }
    }
}

/// The properties of one packet (or of a Will), in wire order, repeats kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Properties(pub Vec<Property>);

impl Properties {
    /// No properties.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// A copy that shares no memory with the packet they were decoded from, for keeping
    /// them longer than the packet's buffer should live.
    pub fn detached(&self) -> Self {
        let copy = |s: &ByteStr| ByteStr::from(s.as_str());
        Self(
            self.0
                .iter()
                .map(|p| Property {
                    id: p.id,
                    value: match &p.value {
                        PropertyValue::String(s) => PropertyValue::String(copy(s)),
                        PropertyValue::Binary(b) => {
                            PropertyValue::Binary(Bytes::copy_from_slice(b))
                        }
                        PropertyValue::Pair(k, v) => PropertyValue::Pair(copy(k), copy(v)),
                        other => other.clone(),
                    },
                })
                .collect(),
        )
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds a property (builder style).
    pub fn with(mut self, id: PropertyId, value: PropertyValue) -> Self {
        self.0.push(Property::new(id, value));
        self
    }

    /// The first value of `id`, if present.
    pub fn get(&self, id: PropertyId) -> Option<&PropertyValue> {
        self.0.iter().find(|p| p.id == id).map(|p| &p.value)
    }

    /// The first value of `id` as an integer, whatever its integer width.
    pub fn get_int(&self, id: PropertyId) -> Option<u32> {
        match self.get(id)? {
            PropertyValue::Byte(v) => Some(u32::from(*v)),
            PropertyValue::TwoByteInteger(v) => Some(u32::from(*v)),
            PropertyValue::FourByteInteger(v) | PropertyValue::VariableByteInteger(v) => Some(*v),
            _ => None,
        }
    }

    /// The first value of `id` as a string.
    pub fn get_str(&self, id: PropertyId) -> Option<&str> {
        match self.get(id)? {
            PropertyValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// All user properties as (key, value) pairs.
    pub fn user_properties(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().filter_map(|p| match &p.value {
            PropertyValue::Pair(k, v) => Some((k.as_str(), v.as_str())),
            _ => None,
        })
    }
}

impl Serialize for PropertyValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Byte(v) => s.serialize_u8(*v),
            Self::TwoByteInteger(v) => s.serialize_u16(*v),
            Self::FourByteInteger(v) | Self::VariableByteInteger(v) => s.serialize_u32(*v),
            Self::String(v) => s.serialize_str(v),
            Self::Binary(v) => s.serialize_str(&hex::encode(v)),
            Self::Pair(k, v) => (k, v).serialize(s),
        }
    }
}

impl Serialize for Properties {
    /// Serialises as a map keyed by snake-case property name; repeatable properties
    /// (user property, subscription identifier) become arrays.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut keys: Vec<PropertyId> = Vec::new();
        for p in &self.0 {
            if !keys.contains(&p.id) {
                keys.push(p.id);
            }
        }
        let mut map = s.serialize_map(Some(keys.len()))?;
        for id in keys {
            let values: Vec<&PropertyValue> = self
                .0
                .iter()
                .filter(|p| p.id == id)
                .map(|p| &p.value)
                .collect();
            if id.may_repeat() || values.len() > 1 {
                map.serialize_entry(&id.key(), &values)?;
            } else {
                map.serialize_entry(&id.key(), values[0])?;
            }
        }
        map.end()
    }
}
