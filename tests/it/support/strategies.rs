//! Proptest generators for arbitrary **valid** MQTT packets of every type, for MQTT 3.1,
//! 3.1.1 and 5.0.
//!
//! "Valid" means what the strict decoder in `src/codec` accepts (see the table in
//! `src/codec/mod.rs`) *and* what the specifications require of well-formed packets, so
//! that encode → decode must give back the very same [`Packet`]:
//!
//! - strings are any Unicode scalar values but U+0000 (non-ASCII included);
//! - topic names are non-empty and free of `+` / `#`; topic filters put `#` alone in the
//!   last level and `+` alone in its level; 5.0 adds `$share/{name}/{filter}`;
//! - packet identifiers are non-zero; a PUBLISH has one exactly when QoS > 0, DUP only with
//!   QoS > 0;
//! - 5.0 properties respect the allowed-in table, the repeat rules (User Property anywhere,
//!   Subscription Identifier repeated only in PUBLISH) and the value ranges (booleans 0/1;
//!   Receive Maximum, Maximum Packet Size, Topic Alias, Subscription Identifier non-zero);
//!   Authentication Data only next to an Authentication Method;
//! - 3.x packets carry no properties and no 5.0 reason codes; 3.1.x CONNACK codes are
//!   0–5, SUBACK codes 0, 1, 2 or 0x80; Session Present only with success (never in 3.1);
//!   a password only after a user name before 5.0; subscription options beyond the QoS
//!   only in 5.0 (and No Local never on a shared subscription).
//!
//! Used from a test module with `use crate::support::strategies;`.

#![allow(dead_code)]

use bytes::Bytes;
use mqtt_conform::codec::properties::PropertyType;
use mqtt_conform::codec::reason::REASON_CODES;
use mqtt_conform::codec::{
    Auth, ConnAck, Connect, Disconnect, Packet, PacketType, Properties, Property, PropertyId,
    PropertyScope, PropertyValue, ProtocolVersion, PubResponse, Publish, QoS, RetainHandling,
    SubAck, Subscribe, Subscription, SubscriptionOptions, UnsubAck, Unsubscribe, Will,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

/// The largest Variable Byte Integer.
pub const VARINT_MAX: u32 = 268_435_455;

/// Every protocol version the codec speaks.
pub const VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V3_1,
    ProtocolVersion::V3_1_1,
    ProtocolVersion::V5,
];

/// One of the three versions.
pub fn version() -> impl Strategy<Value = ProtocolVersion> {
    select(VERSIONS.to_vec())
}

// ---------------------------------------------------------------------------------------
// Scalars, strings, binary data
// ---------------------------------------------------------------------------------------

/// Any Unicode scalar value except U+0000, biased towards ASCII but with plenty of
/// two-, three- and four-byte UTF-8 sequences.
pub fn string_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => proptest::char::range('a', 'z'),
        3 => proptest::char::range(' ', '~'),
        1 => proptest::char::range('\u{1}', '\u{1F}'),
        2 => proptest::char::range('\u{80}', '\u{7FF}'),
        2 => proptest::char::range('\u{800}', '\u{FFFF}'),
        1 => proptest::char::range('\u{10000}', '\u{10FFFF}'),
        1 => any::<char>(),
    ]
    .prop_map(|c| if c == '\0' { '\u{FFFD}' } else { c })
}

/// A UTF-8 string of up to `max_chars` characters, without U+0000.
pub fn mqtt_string(max_chars: usize) -> impl Strategy<Value = String> {
    vec(string_char(), 0..=max_chars).prop_map(String::from_iter)
}

/// A short string (the default for identifiers and property strings).
pub fn short_string() -> impl Strategy<Value = String> {
    mqtt_string(12)
}

/// Binary data of `len` bytes.
pub fn binary(len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), len).prop_map(Bytes::from)
}

/// An application payload: usually short, sometimes long enough for a two-byte
/// Remaining Length.
pub fn payload() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        4 => binary(0..=24),
        1 => binary(100..=400),
    ]
}

/// A non-zero packet identifier, boundaries favoured.
pub fn packet_id() -> impl Strategy<Value = u16> {
    prop_oneof![Just(1u16), Just(u16::MAX), 1u16..=u16::MAX]
}

pub fn qos() -> impl Strategy<Value = QoS> {
    select(vec![QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce])
}

// ---------------------------------------------------------------------------------------
// Topics
// ---------------------------------------------------------------------------------------

/// A character allowed inside one topic level: no separator, no wildcard, no U+0000.
fn level_char() -> impl Strategy<Value = char> {
    string_char().prop_map(|c| match c {
        '/' | '+' | '#' => '_',
        c => c,
    })
}

/// One topic level (possibly empty: `a//b` and `/a` are valid).
pub fn topic_level(max_chars: usize) -> impl Strategy<Value = String> {
    vec(level_char(), 0..=max_chars).prop_map(String::from_iter)
}

/// A valid topic name: non-empty, no wildcards.
pub fn topic_name() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(vec!["$SYS".to_string(), "broker".to_string(), "uptime".to_string()]),
        8 => vec(topic_level(6), 1..=4),
    ]
    .prop_map(|levels| {
        let t = levels.join("/");
        if t.is_empty() { "t".to_string() } else { t }
    })
}

/// A valid topic filter that is not a shared subscription.
pub fn plain_filter() -> impl Strategy<Value = String> {
    let level = prop_oneof![4 => topic_level(5), 1 => Just("+".to_string())];
    (vec(level, 0..=3), any::<bool>()).prop_map(|(mut levels, hash)| {
        if levels.first().is_some_and(|l| l == "$share") {
            // `$share/...` is a shared subscription in 5.0; keep plain filters plain.
            levels[0] = "share".to_string();
        }
        if hash || levels.is_empty() {
            levels.push("#".to_string());
        }
        let f = levels.join("/");
        if f.is_empty() { "+".to_string() } else { f }
    })
}

/// A 5.0 shared subscription `$share/{ShareName}/{filter}`.
pub fn shared_filter() -> impl Strategy<Value = String> {
    (
        vec(level_char(), 1..=6).prop_map(String::from_iter),
        plain_filter(),
    )
        .prop_map(|(name, inner)| format!("$share/{name}/{inner}"))
}

/// A valid topic filter for `version` (shared subscriptions only in 5.0).
pub fn topic_filter(version: ProtocolVersion) -> BoxedStrategy<String> {
    if version.is_v5() {
        prop_oneof![4 => plain_filter(), 1 => shared_filter()].boxed()
    } else {
        plain_filter().boxed()
    }
}

// ---------------------------------------------------------------------------------------
// 5.0 properties
// ---------------------------------------------------------------------------------------

/// A legal value for property `id`.
pub fn property_value(id: PropertyId) -> BoxedStrategy<PropertyValue> {
    use PropertyId as P;
    match id.value_type() {
        PropertyType::Byte if id.is_boolean() => (0u8..=1).prop_map(PropertyValue::Byte).boxed(),
        PropertyType::Byte => any::<u8>().prop_map(PropertyValue::Byte).boxed(),
        PropertyType::TwoByteInteger => match id {
            P::ReceiveMaximum | P::TopicAlias => {
                prop_oneof![Just(1u16), Just(u16::MAX), 1u16..=u16::MAX].boxed()
            }
            _ => prop_oneof![Just(0u16), Just(u16::MAX), any::<u16>()].boxed(),
        }
        .prop_map(PropertyValue::TwoByteInteger)
        .boxed(),
        PropertyType::FourByteInteger => match id {
            P::MaximumPacketSize => prop_oneof![Just(1u32), Just(u32::MAX), 1u32..].boxed(),
            _ => prop_oneof![Just(0u32), Just(u32::MAX), any::<u32>()].boxed(),
        }
        .prop_map(PropertyValue::FourByteInteger)
        .boxed(),
        // Only Subscription Identifier has this type; 0 is not a valid identifier.
        PropertyType::VariableByteInteger => prop_oneof![
            3 => 1u32..=127,
            1 => Just(128u32),
            1 => Just(16_384u32),
            1 => Just(VARINT_MAX),
            2 => 1u32..=VARINT_MAX,
        ]
        .prop_map(PropertyValue::VariableByteInteger)
        .boxed(),
        PropertyType::Utf8String => match id {
            // [MQTT-3.3.2-14] the Response Topic is a topic name (no wildcards).
            P::ResponseTopic => topic_name().boxed(),
            _ => short_string().boxed(),
        }
        .prop_map(|s| PropertyValue::String(s.into()))
        .boxed(),
        PropertyType::BinaryData => binary(0..=16).prop_map(PropertyValue::Binary).boxed(),
        PropertyType::Utf8StringPair => (short_string(), short_string())
            .prop_map(|(k, v)| PropertyValue::Pair(k.into(), v.into()))
            .boxed(),
    }
}

/// How many times `id` may appear in `scope`.
pub fn max_occurrences(id: PropertyId, scope: PropertyScope) -> usize {
    match id {
        PropertyId::UserProperty => 3,
        PropertyId::SubscriptionIdentifier
            if scope == PropertyScope::Packet(PacketType::Publish) =>
        {
            3
        }
        _ => 1,
    }
}

/// Arbitrary valid properties for `scope`: each allowed property zero or one time (user
/// properties and PUBLISH subscription identifiers up to three times), in random order.
pub fn properties(scope: PropertyScope) -> BoxedStrategy<Properties> {
    let parts: Vec<BoxedStrategy<Vec<Property>>> = PropertyId::ALL
        .iter()
        .copied()
        .filter(|id| id.allowed_in(scope))
        .map(|id| {
            let n = max_occurrences(id, scope);
            vec(
                property_value(id).prop_map(move |v| Property::new(id, v)),
                0..=n,
            )
            .boxed()
        })
        .collect();
    let some = parts
        .prop_map(|parts| parts.into_iter().flatten().collect::<Vec<_>>())
        .prop_shuffle()
        .prop_map(|mut list| {
            // Authentication Data is meaningless (and refused in CONNECT / AUTH) without
            // an Authentication Method.
            if !list
                .iter()
                .any(|p| p.id == PropertyId::AuthenticationMethod)
            {
                list.retain(|p| p.id != PropertyId::AuthenticationData);
            }
            Properties(list)
        });
    prop_oneof![1 => Just(Properties::new()), 3 => some].boxed()
}

fn packet_properties(version: ProtocolVersion, packet: PacketType) -> BoxedStrategy<Properties> {
    if version.is_v5() {
        properties(PropertyScope::Packet(packet))
    } else {
        Just(Properties::new()).boxed()
    }
}

/// The 5.0 reason codes `packet` may carry.
pub fn reason_codes_for(packet: PacketType) -> Vec<u8> {
    let mut codes: Vec<u8> = REASON_CODES
        .iter()
        .filter(|(_, _, packets)| packets.contains(&packet))
        .map(|(code, _, _)| *code)
        .collect();
    codes.dedup();
    codes
}

/// A 5.0 reason code `packet` may carry.
pub fn reason_code(packet: PacketType) -> impl Strategy<Value = u8> {
    select(reason_codes_for(packet))
}

// ---------------------------------------------------------------------------------------
// Packets
// ---------------------------------------------------------------------------------------

pub fn will(version: ProtocolVersion) -> impl Strategy<Value = Will> {
    let props = if version.is_v5() {
        properties(PropertyScope::Will)
    } else {
        Just(Properties::new()).boxed()
    };
    (topic_name(), payload(), qos(), any::<bool>(), props).prop_map(
        |(topic, payload, qos, retain, properties)| Will {
            topic,
            payload,
            qos,
            retain,
            properties,
        },
    )
}

/// A password: arbitrary binary data, or the bytes of a string.
pub fn password() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        binary(0..=16),
        short_string().prop_map(|s| Bytes::from(s.into_bytes())),
    ]
}

pub fn connect(version: ProtocolVersion) -> impl Strategy<Value = Connect> {
    (
        any::<bool>(),
        any::<u16>(),
        packet_properties(version, PacketType::Connect),
        mqtt_string(23),
        proptest::option::of(will(version)),
        proptest::option::of(short_string()),
        proptest::option::of(password()),
    )
        .prop_map(
            move |(clean_session, keep_alive, properties, client_id, will, username, password)| {
                // Before 5.0 a password needs a user name [MQTT-3.1.2-22].
                let password = if version.is_v5() || username.is_some() {
                    password
                } else {
                    None
                };
                Connect {
                    protocol: version,
                    clean_session,
                    keep_alive,
                    properties,
                    client_id,
                    will,
                    username,
                    password,
                }
            },
        )
}

pub fn connack(version: ProtocolVersion) -> BoxedStrategy<ConnAck> {
    let code = if version.is_v5() {
        reason_code(PacketType::ConnAck).boxed()
    } else {
        prop_oneof![2 => Just(0u8), 1 => 0u8..=5].boxed()
    };
    (
        any::<bool>(),
        code,
        packet_properties(version, PacketType::ConnAck),
    )
        .prop_map(move |(session, code, properties)| {
            let success = if version.is_v5() {
                code < 0x80
            } else {
                code == 0
            };
            ConnAck {
                // 3.1 has no Session Present flag; elsewhere only with success.
                session_present: session && success && version != ProtocolVersion::V3_1,
                code,
                properties,
            }
        })
        .boxed()
}

pub fn publish(version: ProtocolVersion) -> impl Strategy<Value = Publish> {
    let topic = if version.is_v5() {
        prop_oneof![5 => topic_name(), 1 => Just(String::new())].boxed()
    } else {
        topic_name().boxed()
    };
    (
        any::<bool>(),
        qos(),
        any::<bool>(),
        topic,
        packet_id(),
        packet_properties(version, PacketType::Publish),
        payload(),
        1u16..=u16::MAX,
    )
        .prop_map(
            |(dup, qos, retain, topic, id, mut properties, payload, alias)| {
                // An empty topic name is valid only with a Topic Alias (5.0).
                if topic.is_empty() && properties.get(PropertyId::TopicAlias).is_none() {
                    properties.0.push(Property::new(
                        PropertyId::TopicAlias,
                        PropertyValue::TwoByteInteger(alias),
                    ));
                }
                let at_least_once = qos != QoS::AtMostOnce;
                Publish {
                    dup: dup && at_least_once,
                    qos,
                    retain,
                    topic: topic.into(),
                    packet_id: at_least_once.then_some(id),
                    properties,
                    payload,
                }
            },
        )
}

pub fn pub_response(version: ProtocolVersion, packet: PacketType) -> BoxedStrategy<PubResponse> {
    let code = if version.is_v5() {
        prop_oneof![1 => Just(0u8), 2 => reason_code(packet)].boxed()
    } else {
        Just(0u8).boxed()
    };
    (packet_id(), code, packet_properties(version, packet))
        .prop_map(|(packet_id, reason_code, properties)| PubResponse {
            packet_id,
            reason_code,
            properties,
        })
        .boxed()
}

pub fn subscription(version: ProtocolVersion) -> impl Strategy<Value = Subscription> {
    (
        topic_filter(version),
        qos(),
        any::<bool>(),
        any::<bool>(),
        select(vec![
            RetainHandling::SendAtSubscribe,
            RetainHandling::SendIfNew,
            RetainHandling::DoNotSend,
        ]),
    )
        .prop_map(move |(filter, qos, no_local, rap, rh)| {
            let options = if version.is_v5() {
                SubscriptionOptions {
                    qos,
                    // [MQTT-3.8.3-4] No Local is a Protocol Error on a shared subscription.
                    no_local: no_local && !filter.starts_with("$share/"),
                    retain_as_published: rap,
                    retain_handling: rh,
                }
            } else {
                SubscriptionOptions {
                    qos,
                    ..SubscriptionOptions::default()
                }
            };
            Subscription { filter, options }
        })
}

pub fn subscribe(version: ProtocolVersion) -> impl Strategy<Value = Subscribe> {
    (
        packet_id(),
        packet_properties(version, PacketType::Subscribe),
        vec(subscription(version), 1..=4),
    )
        .prop_map(|(packet_id, properties, subscriptions)| Subscribe {
            packet_id,
            properties,
            subscriptions,
        })
}

pub fn suback(version: ProtocolVersion) -> impl Strategy<Value = SubAck> {
    let code = if version.is_v5() {
        reason_code(PacketType::SubAck).boxed()
    } else {
        select(vec![0u8, 1, 2, 0x80]).boxed()
    };
    (
        packet_id(),
        packet_properties(version, PacketType::SubAck),
        vec(code, 1..=5),
    )
        .prop_map(|(packet_id, properties, return_codes)| SubAck {
            packet_id,
            properties,
            return_codes,
        })
}

pub fn unsubscribe(version: ProtocolVersion) -> impl Strategy<Value = Unsubscribe> {
    (
        packet_id(),
        packet_properties(version, PacketType::Unsubscribe),
        vec(topic_filter(version), 1..=4),
    )
        .prop_map(|(packet_id, properties, filters)| Unsubscribe {
            packet_id,
            properties,
            filters,
        })
}

pub fn unsuback(version: ProtocolVersion) -> BoxedStrategy<UnsubAck> {
    if version.is_v5() {
        (
            packet_id(),
            properties(PropertyScope::Packet(PacketType::UnsubAck)),
            vec(reason_code(PacketType::UnsubAck), 1..=5),
        )
            .prop_map(|(packet_id, properties, reason_codes)| UnsubAck {
                packet_id,
                properties,
                reason_codes,
            })
            .boxed()
    } else {
        packet_id()
            .prop_map(|packet_id| UnsubAck {
                packet_id,
                properties: Properties::new(),
                reason_codes: Vec::new(),
            })
            .boxed()
    }
}

pub fn disconnect(version: ProtocolVersion) -> BoxedStrategy<Disconnect> {
    if version.is_v5() {
        (
            prop_oneof![1 => Just(0u8), 2 => reason_code(PacketType::Disconnect)],
            properties(PropertyScope::Packet(PacketType::Disconnect)),
        )
            .prop_map(|(reason_code, properties)| Disconnect {
                reason_code,
                properties,
            })
            .boxed()
    } else {
        Just(Disconnect::default()).boxed()
    }
}

/// An AUTH packet (5.0 only).
pub fn auth() -> impl Strategy<Value = Auth> {
    (
        reason_code(PacketType::Auth),
        properties(PropertyScope::Packet(PacketType::Auth)),
    )
        .prop_map(|(reason_code, properties)| Auth {
            reason_code,
            properties,
        })
}

/// A valid packet of type `packet` for `version` (AUTH only in 5.0).
pub fn packet_of(version: ProtocolVersion, packet: PacketType) -> BoxedStrategy<Packet> {
    match packet {
        PacketType::Connect => connect(version)
            .prop_map(|c| Packet::Connect(c.into()))
            .boxed(),
        PacketType::ConnAck => connack(version).prop_map(Packet::ConnAck).boxed(),
        PacketType::Publish => publish(version).prop_map(Packet::Publish).boxed(),
        PacketType::PubAck => pub_response(version, packet)
            .prop_map(Packet::PubAck)
            .boxed(),
        PacketType::PubRec => pub_response(version, packet)
            .prop_map(Packet::PubRec)
            .boxed(),
        PacketType::PubRel => pub_response(version, packet)
            .prop_map(Packet::PubRel)
            .boxed(),
        PacketType::PubComp => pub_response(version, packet)
            .prop_map(Packet::PubComp)
            .boxed(),
        PacketType::Subscribe => subscribe(version).prop_map(Packet::Subscribe).boxed(),
        PacketType::SubAck => suback(version).prop_map(Packet::SubAck).boxed(),
        PacketType::Unsubscribe => unsubscribe(version).prop_map(Packet::Unsubscribe).boxed(),
        PacketType::UnsubAck => unsuback(version).prop_map(Packet::UnsubAck).boxed(),
        PacketType::PingReq => Just(Packet::PingReq).boxed(),
        PacketType::PingResp => Just(Packet::PingResp).boxed(),
        PacketType::Disconnect => disconnect(version).prop_map(Packet::Disconnect).boxed(),
        PacketType::Auth => {
            assert!(version.is_v5(), "AUTH exists only in MQTT 5.0");
            auth().prop_map(Packet::Auth).boxed()
        }
    }
}

/// The packet types that exist in `version`.
pub fn packet_types(version: ProtocolVersion) -> Vec<PacketType> {
    PacketType::ALL
        .into_iter()
        .filter(|t| version.is_v5() || *t != PacketType::Auth)
        .collect()
}

/// A valid packet of any type for `version`, every type equally likely.
pub fn packet(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let arms: Vec<(u32, BoxedStrategy<Packet>)> = packet_types(version)
        .into_iter()
        .map(|t| (1, packet_of(version, t)))
        .collect();
    proptest::strategy::Union::new_weighted(arms).boxed()
}

/// A version and a valid packet for it.
pub fn versioned_packet() -> impl Strategy<Value = (ProtocolVersion, Packet)> {
    version().prop_flat_map(|v| (Just(v), packet(v)))
}
