//! The kinds of passive rule a suite can declare, with their parameters.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

/// What a rule checks. Parameters left out come from the suite's profile.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// The CONNECT's protocol version is one of `allowed` (default: profile.protocols).
    ProtocolVersion {
        /// Accepted versions (`3.1`, `3.1.1`, `5`).
        #[serde(default)]
        allowed: Vec<String>,
    },
    /// The credential scheme's rule with this rule's id holds (format, and the signature
    /// when the device's secret is known).
    Credentials,
    /// Keep Alive within `min`–`max` (default: profile.keepalive); below `warn_below` the
    /// rule reports a warning whatever its status.
    KeepaliveRange {
        /// Smallest accepted value.
        #[serde(default)]
        min: Option<u16>,
        /// Largest accepted value.
        #[serde(default)]
        max: Option<u16>,
        /// Values below draw a warning.
        #[serde(default)]
        warn_below: Option<u16>,
    },
    /// The CONNECT carries no Will (Will Flag, Will QoS and Will Retain all 0).
    NoWill,
    /// The CONNECT sets Clean Session.
    CleanSession,
    /// No PUBLISH with RETAIN=1.
    NoRetain,
    /// Publishes and subscriptions stay at or below a QoS (default: profile.max_qos).
    MaxQos {
        /// Highest QoS of a PUBLISH.
        #[serde(default)]
        publish: Option<u8>,
        /// Highest QoS a SUBSCRIBE may request.
        #[serde(default)]
        subscribe: Option<u8>,
    },
    /// Every PUBLISH topic matches a profile.topics.publish pattern.
    PublishTopics,
    /// Every SUBSCRIBE filter is covered by a profile.topics.subscribe pattern.
    SubscribeTopics,
    /// Wildcards only after `min_level` literal levels (default: profile.topics.wildcard_min_level).
    WildcardDepth {
        /// Literal levels required before a wildcard.
        #[serde(default)]
        min_level: Option<usize>,
    },
    /// Payloads of at most `max` bytes (default: profile.max_payload).
    PayloadSize {
        /// Largest payload.
        #[serde(default)]
        max: Option<usize>,
    },
    /// Only these packet types from the client.
    PacketTypes {
        /// Upper-case packet type names.
        allowed: Vec<String>,
    },
    /// No more than `max_per_second` PUBLISH per second (sliding one-second window).
    PublishRate {
        /// The limit (default: profile.max_publish_rate).
        #[serde(default)]
        max_per_second: Option<f64>,
    },
    /// An idle client sends something (PINGREQ at least) within each Keep Alive period.
    ClientSilence,
    /// The server closes a silent client after `factor` × Keep Alive (default:
    /// profile.keepalive.server_timeout), not before, within `tolerance` seconds.
    ServerClose {
        /// The factor.
        #[serde(default)]
        factor: Option<f64>,
        /// The earliest acceptable close as a factor of Keep Alive (default: `factor`).
        #[serde(default)]
        min_factor: Option<f64>,
        /// Allowed lateness in seconds (default 1).
        #[serde(default)]
        tolerance: Option<f64>,
    },
    /// One connection per identity: a newer connection with the same client id ends the older.
    OneConnection,
    /// After the server drops it, the device waits at least `min_seconds` before reconnecting.
    ReconnectBackoff {
        /// Smallest acceptable delay.
        min_seconds: f64,
    },
    /// Every packet the client sends is well-formed (the strict decoder accepts it).
    WellFormed,
    /// 5.0 User Properties of PUBLISH and Will messages within limits (default:
    /// profile.properties).
    UserProperties {
        /// Most User Properties on one message.
        #[serde(default)]
        max_count: Option<usize>,
        /// Most characters of key and value together.
        #[serde(default)]
        max_chars: Option<usize>,
        /// Keys may not start with this.
        #[serde(default)]
        reserved_prefix: Option<String>,
    },
    /// 5.0 Response Topic and Correlation Data of PUBLISH and Will messages within limits
    /// (default: profile.properties).
    RequestResponse {
        /// Most characters of a Response Topic.
        #[serde(default)]
        max_response_topic_chars: Option<usize>,
        /// Most bytes of Correlation Data.
        #[serde(default)]
        max_correlation_data: Option<usize>,
    },
    /// 5.0 Topic Aliases from the client at most `max` (default: the Topic Alias Maximum of
    /// the server's CONNACK, absent meaning 0).
    TopicAlias {
        /// The largest alias the client may use (0: none).
        #[serde(default)]
        max: Option<u16>,
    },
    /// PUBLISH topic names of at most `max` bytes.
    TopicLength {
        /// Longest topic name.
        max: usize,
    },
    /// The server delivers to the client at QoS `max` or below (default:
    /// profile.downlink_qos).
    DeliveryQos {
        /// Highest QoS of a server PUBLISH.
        #[serde(default)]
        max: Option<u8>,
    },
    /// The client's conduct by the MQTT version given (`3.1.1`, which 3.1 clients are also
    /// held to, or `5`): the rule's id names the normative statement, and the rule judges
    /// connections of that version on every duty standing for it — packet identifiers,
    /// QoS flows and their order, re-sends, the CONNACK's limits, authentication, the close
    /// after DISCONNECT — and on every malformation the strict decoder names it for.
    Conduct(String),
    /// The client's protocol errors the specification states without a numbered statement,
    /// by the MQTT version given (`3.1.1` or `5`): a packet only a server sends (the packet
    /// tables: 3.1.1 §2.2.1, 5.0 §2.1.2), a DISCONNECT raising a Session Expiry Interval of 0 (5.0
    /// §3.14.2.2.2).
    ProtocolErrors(String),
    /// PUBLISH payloads on matching topics are JSON of the given shape.
    PayloadJson {
        /// Topic patterns (`${param}`, `+`, `#`) the rule applies to.
        topics: Vec<String>,
        /// The shape: `{type, required, properties, items, max_length, min, max, enum}`.
        schema: Value,
    },
}

impl Check {
    /// Load-time checks of the parameters.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Self::ProtocolVersion { allowed } => allowed
                .iter()
                .try_for_each(|v| v.parse::<crate::codec::ProtocolVersion>().map(drop)),
            Self::PacketTypes { allowed } => allowed.iter().try_for_each(|t| {
                crate::codec::PacketType::from_name(t)
                    .map(drop)
                    .ok_or_else(|| format!("`{t}` is not a packet type"))
            }),
            Self::DeliveryQos { max: Some(q) } if *q > 2 => Err("QoS limits are 0, 1 or 2".into()),
            Self::MaxQos { publish, subscribe } => {
                if publish.iter().chain(subscribe.iter()).any(|q| *q > 2) {
                    Err("QoS limits are 0, 1 or 2".into())
                } else {
                    Ok(())
                }
            }
            Self::PayloadJson { schema, .. } => super::shape::validate_schema(schema),
            Self::Conduct(version) | Self::ProtocolErrors(version) => version
                .parse::<crate::codec::ProtocolVersion>()
                .map(drop)
                .map_err(|e| format!("conduct: {e}")),
            Self::ReconnectBackoff { min_seconds }
                if min_seconds.is_nan() || *min_seconds < 0.0 =>
            {
                Err("min_seconds must be a non-negative number".into())
            }
            _ => Ok(()),
        }
    }

    /// For a `conduct` check, whether it judges 5.0 connections (else 3.1.1 and 3.1 ones).
    pub fn conduct_v5(&self) -> Option<bool> {
        match self {
            Self::Conduct(v) => v
                .parse::<crate::codec::ProtocolVersion>()
                .ok()
                .map(|v| v.is_v5()),
            _ => None,
        }
    }

    /// For a `protocol_errors` check, whether it judges 5.0 connections.
    pub fn protocol_errors_v5(&self) -> Option<bool> {
        match self {
            Self::ProtocolErrors(v) => v
                .parse::<crate::codec::ProtocolVersion>()
                .ok()
                .map(|v| v.is_v5()),
            _ => None,
        }
    }

    /// True when the rule judges what the server does (the rest judge the client).
    pub fn judges_server(&self) -> bool {
        matches!(
            self,
            Self::ServerClose { .. } | Self::OneConnection | Self::DeliveryQos { .. }
        )
    }
}

/// A check as a suite writes it: the check's map, or its bare name when every parameter is
/// left to the profile (`protocol_version` for `protocol_version: {}`).
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
enum CheckSpelling {
    /// The map, or the name of a check without parameters.
    Full(Check),
    /// The bare name of a check whose parameters all have defaults.
    Name(String),
}

impl TryFrom<CheckSpelling> for Check {
    type Error = String;

    fn try_from(spelling: CheckSpelling) -> Result<Self, String> {
        match spelling {
            CheckSpelling::Full(check) => Ok(check),
            CheckSpelling::Name(name) => {
                let mut map = serde_json::Map::new();
                map.insert(name.clone(), Value::Object(serde_json::Map::new()));
                serde_json::from_value(Value::Object(map))
                    .map_err(|e| format!("check `{name}`: {e}"))
            }
        }
    }
}

/// [`Checks`] as a suite writes them.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
enum ChecksSpelling {
    One(CheckSpelling),
    Many(Vec<CheckSpelling>),
}

impl TryFrom<ChecksSpelling> for Checks {
    type Error = String;

    fn try_from(spelling: ChecksSpelling) -> Result<Self, String> {
        Ok(match spelling {
            ChecksSpelling::One(c) => Self::One(c.try_into()?),
            ChecksSpelling::Many(v) => Self::Many(
                v.into_iter()
                    .map(Check::try_from)
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}

/// A rule's checks: one, or several that must all hold (a catalogue rule often covers
/// several facts, e.g. "no Will, Clean Session 1, no RETAIN").
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(try_from = "ChecksSpelling")]
pub enum Checks {
    /// One check.
    One(Check),
    /// Several checks.
    Many(Vec<Check>),
}

impl Checks {
    /// The checks as a slice.
    pub fn as_slice(&self) -> &[Check] {
        match self {
            Self::One(c) => std::slice::from_ref(c),
            Self::Many(v) => v,
        }
    }

    /// Load-time checks of every check.
    pub fn validate(&self) -> Result<(), String> {
        if self.as_slice().is_empty() {
            return Err("a rule needs at least one check".into());
        }
        self.as_slice().iter().try_for_each(Check::validate)
    }
}
