//! A platform's profile: what it accepts and how it reacts. The judge checks devices and
//! conversations against it; the built-in emulator behaves by it.

use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;

/// What the platform accepts.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Accepted protocol versions (`3.1`, `3.1.1`, `5`); all when empty.
    #[serde(default)]
    pub protocols: Vec<String>,
    /// Highest QoS for publishes and subscriptions (0–2).
    #[serde(default = "max_qos_default")]
    pub max_qos: u8,
    /// What the server does with a PUBLISH above `max_qos`.
    #[serde(default)]
    pub on_qos_above_max: QosReaction,
    /// Will messages.
    #[serde(default)]
    pub will: Feature,
    /// Retained messages.
    #[serde(default)]
    pub retain: Feature,
    /// Clean Session must be 1.
    #[serde(default)]
    pub clean_session_required: bool,
    /// Keep Alive rules.
    #[serde(default)]
    pub keepalive: KeepaliveRules,
    /// Largest PUBLISH payload accepted, in bytes.
    #[serde(default)]
    pub max_payload: Option<usize>,
    /// What the server does with a larger payload.
    #[serde(default)]
    pub on_payload_too_large: TopicReaction,
    /// Topic rules.
    #[serde(default)]
    pub topics: TopicRules,
    /// A second connection with the same identity closes the first.
    #[serde(default = "yes")]
    pub one_connection_per_identity: bool,
    /// Subscriptions are granted at most this QoS (else `max_qos`).
    #[serde(default)]
    pub max_granted_qos: Option<u8>,
    /// Every delivery to a device uses this QoS (OneNET: 0).
    #[serde(default)]
    pub downlink_qos: Option<u8>,
    /// Publishes per second a device may send (Watson quickstart: 1).
    #[serde(default)]
    pub max_publish_rate: Option<f64>,
    /// Topic Alias Maximum the server announces in a 5.0 CONNACK (default 10; 0: none).
    #[serde(default)]
    pub topic_alias_maximum: Option<u16>,
    /// 5.0 enhanced authentication (§4.12) with the method `mqtt-conform-echo`: the server
    /// answers a CONNECT naming it, and a re-authentication, with one AUTH 0x18 carrying a
    /// challenge of 16 random bytes, and accepts the client's AUTH 0x18 that sends them
    /// back. Any other method is refused (CONNACK 0x8C), as every method is without it.
    #[serde(default)]
    pub enhanced_authentication: bool,
    /// Limits on 5.0 PUBLISH properties (Alibaba Enterprise instances).
    #[serde(default)]
    pub properties: PropertyLimits,
    /// 5.0 shared subscriptions (`$share/<name>/<filter>`).
    #[serde(default)]
    pub shared_subscriptions: SharedSubscriptions,
    /// The platform's answers to device messages (Alink `…_reply`, OneNET `…/accepted`):
    /// the emulator publishes them as the cloud; the first rule whose `on` matches applies.
    #[serde(default)]
    pub replies: Vec<ReplyRule>,
    /// Subscriptions the platform makes itself for devices that announce it (Alibaba's
    /// Link SDKs, ALI-TOPIC-06); none by default.
    #[serde(default)]
    pub auto_subscribe: Option<AutoSubscribe>,
    /// What the platform does not offer a test client that the baseline tests' steps may
    /// need, each with the reason (shown in the report of every test that leaves steps out
    /// because of it). `qos2` is lacking whenever `max_qos` is below 2.
    #[serde(default)]
    pub lacks: BTreeMap<Capability, String>,
}

/// Something a test step may need from the platform beyond MQTT itself (`needs:` on the
/// step); a platform's profile lists those it lacks (`lacks:`).
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// A message a test client publishes is delivered to the test's own subscribers.
    Loopback,
    /// A second connection may stand beside the first (a subscriber, a Will watcher).
    SecondClient,
    /// The client chooses its own client id (rather than the credentials fixing it).
    ChosenClientId,
    /// QoS 2 message flows.
    Qos2,
}

impl Capability {
    /// The name as suites write it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Loopback => "loopback",
            Self::SecondClient => "second_client",
            Self::ChosenClientId => "chosen_client_id",
            Self::Qos2 => "qos2",
        }
    }
}

impl Profile {
    /// Why the platform lacks `capability`, or `None` when it offers it.
    pub fn lacking(&self, capability: Capability) -> Option<String> {
        if let Some(why) = self.lacks.get(&capability) {
            return Some(why.clone());
        }
        (capability == Capability::Qos2 && self.max_qos < 2)
            .then(|| format!("the platform grants at most QoS {}", self.max_qos))
    }
}

/// Subscriptions the platform makes on a device's behalf when it connects, as if the device
/// had sent SUBSCRIBE (no SUBACK is sent). Alibaba subscribes its Link SDK devices, which
/// say so with `_ss=1` in their client id, to their system downlink topics.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AutoSubscribe {
    /// The flag a client id carries among its parameters: one of the comma-separated items
    /// between its first and last `|` (Alibaba: `_ss=1` in `id|_ss=1,securemode=2,…|`).
    pub client_id_flag: String,
    /// The topic filters subscribed (`${param}` placeholders, `+`/`#` wildcards), each
    /// granted at the profile's highest granted QoS.
    pub filters: Vec<String>,
}

impl AutoSubscribe {
    /// Whether a device with this client id is subscribed by the platform.
    pub fn applies_to(&self, client_id: &str) -> bool {
        let (Some(first), Some(last)) = (client_id.find('|'), client_id.rfind('|')) else {
            return false;
        };
        first < last
            && client_id[first + 1..last]
                .split(',')
                .any(|item| item == self.client_id_flag)
    }
}

/// One platform answer: a device PUBLISH on a topic matching `on` is answered with a
/// message on `topic` carrying `payload`, routed like any cloud message (the device gets it
/// when subscribed).
///
/// In `topic` and `payload`, `{topic}` is the request's topic and `{request.NAME}` the
/// top-level field `NAME` of its JSON payload, as JSON text (a string with its quotes). A
/// request that is not a JSON object, or lacks a named field, gets no answer.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReplyRule {
    /// Topic pattern of the requests (`${param}` placeholders, `+`/`#` wildcards).
    pub on: String,
    /// The answer's topic.
    pub topic: String,
    /// The answer's payload.
    pub payload: String,
    /// The answer's QoS (default 0; capped by the subscription as usual).
    #[serde(default)]
    pub qos: u8,
}

/// Whether a platform offers 5.0 shared subscriptions.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SharedSubscriptions {
    /// Refused (SUBACK 0x9E; CONNACK announces them unavailable).
    #[default]
    Refused,
    /// Offered: each message matching a group's filter goes to one member of the group.
    Supported,
    /// Offered with ShareNames of `[A-Za-z0-9_]` only (Alibaba); others get SUBACK 0x8F.
    WordNames,
}

/// Limits a platform puts on MQTT 5.0 PUBLISH (and Will) properties; none by default.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PropertyLimits {
    /// Most User Properties on one message.
    #[serde(default)]
    pub max_user_properties: Option<usize>,
    /// Most characters of one User Property's key and value together.
    #[serde(default)]
    pub max_user_property_chars: Option<usize>,
    /// User Property keys may not start with this (Alibaba: `_`, reserved).
    #[serde(default)]
    pub reserved_key_prefix: Option<String>,
    /// Most characters of a Response Topic.
    #[serde(default)]
    pub max_response_topic_chars: Option<usize>,
    /// Most bytes of Correlation Data.
    #[serde(default)]
    pub max_correlation_data: Option<usize>,
    /// What the server does with a PUBLISH over a limit.
    #[serde(default)]
    pub on_violation: TopicReaction,
}

impl PropertyLimits {
    /// Why `properties` break these limits (the first broken one), if they do.
    pub fn violation(&self, properties: &crate::codec::Properties) -> Option<String> {
        use crate::codec::{PropertyId, PropertyValue};
        let mut user_properties = 0usize;
        for p in &properties.0 {
            match (&p.id, &p.value) {
                (PropertyId::UserProperty, PropertyValue::Pair(k, v)) => {
                    user_properties += 1;
                    if let Some(max) = self.max_user_properties {
                        if user_properties > max {
                            return Some(format!("more than {max} User Properties"));
                        }
                    }
                    if let Some(max) = self.max_user_property_chars {
                        let chars = k.chars().count() + v.chars().count();
                        if chars > max {
                            return Some(format!(
                                "User Property {k:?} has {chars} characters of key and value; at most {max}"
                            ));
                        }
                    }
                    if let Some(prefix) = self.reserved_key_prefix.as_deref() {
                        if !prefix.is_empty() && k.starts_with(prefix) {
                            return Some(format!(
                                "User Property key {k:?} starts with the reserved {prefix:?}"
                            ));
                        }
                    }
                }
                (PropertyId::ResponseTopic, PropertyValue::String(t)) => {
                    if let Some(max) = self.max_response_topic_chars {
                        let chars = t.chars().count();
                        if chars > max {
                            return Some(format!(
                                "Response Topic of {chars} characters; at most {max}"
                            ));
                        }
                    }
                }
                (PropertyId::CorrelationData, PropertyValue::Binary(d)) => {
                    if let Some(max) = self.max_correlation_data {
                        if d.len() > max {
                            return Some(format!(
                                "Correlation Data of {} bytes; at most {max}",
                                d.len()
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        None
    }
}

fn max_qos_default() -> u8 {
    2
}

fn yes() -> bool {
    true
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            protocols: Vec::new(),
            max_qos: 2,
            on_qos_above_max: QosReaction::default(),
            will: Feature::default(),
            retain: Feature::default(),
            clean_session_required: false,
            keepalive: KeepaliveRules::default(),
            max_payload: None,
            on_payload_too_large: TopicReaction::default(),
            topics: TopicRules::default(),
            one_connection_per_identity: true,
            max_granted_qos: None,
            downlink_qos: None,
            max_publish_rate: None,
            topic_alias_maximum: None,
            enhanced_authentication: false,
            properties: PropertyLimits::default(),
            shared_subscriptions: SharedSubscriptions::default(),
            replies: Vec::new(),
            auto_subscribe: None,
            lacks: BTreeMap::new(),
        }
    }
}

/// How a platform treats an optional MQTT feature.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// Supported as MQTT specifies.
    #[default]
    Supported,
    /// Accepted, then ignored (Watson strips RETAIN).
    Ignored,
    /// Refused: CONNACK failure for a Will, connection closed for a retained PUBLISH.
    Refused,
}

/// What a server does with a PUBLISH above its maximum QoS.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum QosReaction {
    /// Close the connection.
    #[default]
    Close,
    /// Treat it as the maximum QoS.
    Downgrade,
    /// Drop it without an answer.
    Ignore,
}

/// What a server does with a PUBLISH it does not allow (topic, size).
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TopicReaction {
    /// Acknowledge (at QoS 1) and drop.
    #[default]
    Drop,
    /// Close the connection.
    Close,
}

/// Keep Alive rules.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeepaliveRules {
    /// Smallest accepted value (seconds).
    #[serde(default)]
    pub min: Option<u16>,
    /// Largest accepted value (seconds).
    #[serde(default)]
    pub max: Option<u16>,
    /// Recommended value.
    #[serde(default)]
    pub recommended: Option<u16>,
    /// Values below this draw a warning.
    #[serde(default)]
    pub warn_below: Option<u16>,
    /// The server closes a silent connection after this × Keep Alive (MQTT: 1.5).
    #[serde(default = "one_and_a_half")]
    pub server_timeout: f64,
    /// What happens to a CONNECT outside min–max: `refuse` (CONNACK failure) or `accept`.
    #[serde(default)]
    pub out_of_range: RangeReaction,
    /// Seconds a client's silence may exceed its Keep Alive and still pass: the gap is
    /// measured at the far end of a network (and clients ping once the period has fully
    /// elapsed), so it carries the network's delay and the client's timer granularity.
    /// Longer silence draws a warning until `server_timeout` × Keep Alive, from which a
    /// conforming server may drop the client and the rule fails.
    #[serde(default = "one_second")]
    pub client_tolerance: f64,
}

fn one_second() -> f64 {
    1.0
}

fn one_and_a_half() -> f64 {
    1.5
}

impl Default for KeepaliveRules {
    fn default() -> Self {
        Self {
            min: None,
            max: None,
            recommended: None,
            warn_below: None,
            server_timeout: 1.5,
            out_of_range: RangeReaction::default(),
            client_tolerance: one_second(),
        }
    }
}

/// What happens to a value outside its documented range.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RangeReaction {
    /// Accepted anyway.
    #[default]
    Accept,
    /// Refused with a CONNACK failure.
    Refuse,
}

/// Which topics a device may use.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TopicRules {
    /// Topic patterns a device may publish to (`${param}` placeholders, `+`/`#` wildcards);
    /// any topic when empty.
    #[serde(default)]
    pub publish: Vec<String>,
    /// Topic patterns a device may subscribe to; any filter when empty.
    #[serde(default)]
    pub subscribe: Vec<String>,
    /// Topics the platform delivers to the device (its downlink).
    #[serde(default)]
    pub downlink: Vec<String>,
    /// What the server does with a PUBLISH to a topic outside `publish`.
    #[serde(default)]
    pub on_illegal_publish: TopicReaction,
    /// Wildcards are allowed only after this many literal levels (OneNET: 3).
    #[serde(default)]
    pub wildcard_min_level: Option<usize>,
    /// Wildcard subscriptions are refused altogether.
    #[serde(default)]
    pub no_wildcards: bool,
}

impl Profile {
    /// The profile of a suite (defaults when the suite has none).
    pub fn from_value(value: Option<&serde_json::Value>) -> Result<Self, String> {
        match value {
            None => Ok(Self::default()),
            Some(v) => {
                let profile: Self =
                    serde_json::from_value(v.clone()).map_err(|e| format!("profile: {e}"))?;
                let tolerance = profile.keepalive.client_tolerance;
                if !tolerance.is_finite() || tolerance < 0.0 {
                    return Err(format!(
                        "profile: keepalive.client_tolerance must be a non-negative number of seconds, not {tolerance}"
                    ));
                }
                Ok(profile)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_auto_subscribe_flag_is_one_of_the_client_ids_parameters() {
        let auto = AutoSubscribe {
            client_id_flag: "_ss=1".into(),
            filters: Vec::new(),
        };
        assert!(auto.applies_to("pk.dn|timestamp=1,_ss=1,_v=sdk-c-4.0.0,securemode=2,|"));
        assert!(auto.applies_to("dev|_ss=1|"));
        // Not a parameter: in the inner client id, a longer item, no parameter list.
        assert!(!auto.applies_to("_ss=1|securemode=3,signmethod=hmacsha1|"));
        assert!(!auto.applies_to("dev|_ss=10,securemode=3|"));
        assert!(!auto.applies_to("dev_ss=1"));
        assert!(!auto.applies_to("dev|_ss=1"));
    }
}
