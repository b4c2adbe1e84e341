//! Device tests as the engine uses them: the YAML's `device_tests:` checked and typed.

use super::schema::{ConnackDef, DeviceActionDef, DeviceTestDef, Status, WindowDef};
use super::timing::{TimeExpr, Window};
use crate::codec::QoS;
use serde_json::Value;
use serde_saphyr::{Location, Spanned};
use std::time::Duration;

/// A misbehaviour the harness can switch on for one connection while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Misbehaviour {
    /// Leave PINGREQ unanswered.
    WithholdPingresp,
    /// Leave inbound QoS 1 / QoS 2 PUBLISH unacknowledged (no PUBACK / PUBREC).
    WithholdPuback,
    /// Register subscriptions but send no SUBACK.
    WithholdSuback,
    /// Answer every SUBSCRIBE filter with 0x80.
    RejectSubscriptions,
    /// Leave outbound QoS 2 flows at the client's PUBREC (no PUBREL).
    WithholdPubrel,
    /// Over WebSocket, write every byte in a binary message of its own.
    SplitWebSocketWrites,
    /// Over WebSocket, write each write as one binary message in one-byte frames.
    FragmentWebSocketWrites,
}

impl Misbehaviour {
    pub(crate) fn bit(self) -> u8 {
        match self {
            Self::WithholdPingresp => 1,
            Self::WithholdPuback => 2,
            Self::WithholdSuback => 4,
            Self::RejectSubscriptions => 8,
            Self::WithholdPubrel => 16,
            Self::SplitWebSocketWrites => 32,
            Self::FragmentWebSocketWrites => 64,
        }
    }
}

/// When a device test begins on a device's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStart {
    /// Right after the CONNACK.
    Connected,
    /// After the cloud answered the device's first SUBSCRIBE on the connection.
    Subscribed,
}

/// The Request/Response properties of a command (5.0).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Response Topic.
    pub response_topic: String,
    /// Correlation Data.
    pub correlation_data: Option<String>,
}

/// What the emulated cloud does.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceAction {
    /// Deliver a message (topic and payload may hold `${param}` placeholders).
    Command {
        /// Topic.
        topic: String,
        /// Payload.
        payload: String,
        /// QoS.
        qos: QoS,
        /// Messages in the burst (at least 1).
        count: u16,
        /// 5.0: the topic goes once with a Topic Alias, then the alias alone.
        topic_alias: bool,
        /// QoS 2: no PUBREL after the device's PUBREC; the connection is then dropped.
        withhold_pubrel: bool,
        /// 5.0 Request/Response: the Response Topic and Correlation Data it carries
        /// (placeholders allowed).
        request: Option<Request>,
        /// Over WebSocket: how the cloud frames its writes from the command on.
        websocket: Option<Misbehaviour>,
    },
    /// Switch a misbehaviour on for the connection.
    Misbehave(Misbehaviour),
    /// Close the connection without DISCONNECT.
    Drop,
    /// Send a 5.0 DISCONNECT with this Reason Code and wait for the device to close.
    Disconnect {
        /// The Reason Code.
        reason: u8,
    },
    /// Nothing beyond the test's CONNACK.
    None,
}

/// The CONNACK a device test wants for its connection: Session Present and the 5.0
/// properties that bind the client (`None`: the platform's own).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ConnackPlan {
    /// Session Present 1 whatever session the cloud holds.
    pub session_present: bool,
    /// Maximum QoS (0 or 1).
    pub maximum_qos: Option<QoS>,
    /// Retain Available.
    pub retain_available: Option<bool>,
    /// Server Keep Alive (seconds).
    pub server_keep_alive: Option<u16>,
    /// Receive Maximum (at least 1).
    pub receive_maximum: Option<u16>,
    /// Maximum Packet Size (at least 2).
    pub maximum_packet_size: Option<u32>,
    /// Topic Alias Maximum.
    pub topic_alias_maximum: Option<u16>,
}

impl ConnackPlan {
    /// True when it sets a property only a 5.0 CONNACK carries.
    pub fn needs_v5(&self) -> bool {
        self.maximum_qos.is_some()
            || self.retain_available.is_some()
            || self.server_keep_alive.is_some()
            || self.receive_maximum.is_some()
            || self.maximum_packet_size.is_some()
            || self.topic_alias_maximum.is_some()
    }

    /// What it sets, for reports (`Session Present 1, Receive Maximum 1`).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.session_present {
            parts.push("Session Present 1".to_owned());
        }
        if let Some(q) = self.maximum_qos {
            parts.push(format!("Maximum QoS {}", q.as_u8()));
        }
        if let Some(r) = self.retain_available {
            parts.push(format!("Retain Available {}", u8::from(r)));
        }
        if let Some(k) = self.server_keep_alive {
            parts.push(format!("Server Keep Alive {k} s"));
        }
        if let Some(r) = self.receive_maximum {
            parts.push(format!("Receive Maximum {r}"));
        }
        if let Some(m) = self.maximum_packet_size {
            parts.push(format!("Maximum Packet Size {m}"));
        }
        if let Some(t) = self.topic_alias_maximum {
            parts.push(format!("Topic Alias Maximum {t}"));
        }
        parts.join(", ")
    }
}

impl DeviceAction {
    /// A few words for reports (a command's topic as the suite writes it, placeholders
    /// and all).
    pub fn describe(&self) -> String {
        match self {
            Self::Command {
                topic, qos, count, ..
            } if *count > 1 => format!(
                "publishes {count} commands on {topic} at QoS {}",
                qos.as_u8()
            ),
            Self::Command { topic, qos, .. } => {
                format!("publishes a command on {topic} at QoS {}", qos.as_u8())
            }
            Self::Misbehave(Misbehaviour::WithholdPubrel) => "withheld PUBREL".into(),
            Self::Disconnect { reason } => format!("sent DISCONNECT {reason:#04x}"),
            Self::None => "answered with the test's CONNACK".into(),
            Self::Misbehave(Misbehaviour::WithholdPingresp) => "withheld PINGRESP".into(),
            Self::Misbehave(Misbehaviour::WithholdPuback) => "withheld PUBACK".into(),
            Self::Misbehave(Misbehaviour::WithholdSuback) => "withheld SUBACK".into(),
            Self::Misbehave(Misbehaviour::RejectSubscriptions) => {
                "answered SUBSCRIBE with 0x80".into()
            }
            Self::Misbehave(Misbehaviour::SplitWebSocketWrites) => {
                "wrote a WebSocket message per byte".into()
            }
            Self::Misbehave(Misbehaviour::FragmentWebSocketWrites) => {
                "wrote WebSocket messages in one-byte frames".into()
            }
            Self::Drop => "dropped the connection".into(),
        }
    }
}

/// The reply a command expects.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// Topic pattern.
    pub topic: String,
    /// Latest time after the delivery.
    pub within: TimeExpr,
    /// JSON shape of the payload.
    pub payload_json: Option<Value>,
    /// The command's Correlation Data comes back unchanged.
    pub echoes_correlation_data: bool,
}

/// What the device must do.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeviceExpect {
    /// Reply to a command.
    pub reply: Option<Reply>,
    /// Close the connection.
    pub close: Option<Window>,
    /// Connect again after the connection ended.
    pub reconnect: Option<Window>,
    /// Re-send the unacknowledged PUBLISH.
    pub resend: Option<Window>,
    /// Keep the connection open this long.
    pub stays: Option<TimeExpr>,
    /// Answer the cloud's AUTH challenges (5.0 enhanced authentication).
    pub authenticates: bool,
    /// Reconnect under the Assigned Client Identifier.
    pub keeps_assigned_id: bool,
}

impl DeviceExpect {
    /// True when nothing is expected (the test only records).
    pub fn is_empty(&self) -> bool {
        self.reply.is_none()
            && self.close.is_none()
            && self.reconnect.is_none()
            && self.resend.is_none()
            && self.stays.is_none()
            && !self.authenticates
            && !self.keeps_assigned_id
    }
}

/// One device test, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceTest {
    /// Stable id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Cited rules and statements.
    pub cites: Vec<String>,
    /// Severity of a broken expectation.
    pub status: Status,
    /// Source.
    pub source: Option<String>,
    /// Why the expectation is what it is.
    pub note: Option<String>,
    /// Listed but not run, with the reason.
    pub skip: Option<String>,
    /// When it begins.
    pub start: DeviceStart,
    /// Delay from the start to the action.
    pub after: TimeExpr,
    /// What the cloud does.
    pub action: DeviceAction,
    /// What the device must do.
    pub expect: DeviceExpect,
    /// Longest run once started; `None`: the widest window + 10 s.
    pub timeout: Option<TimeExpr>,
    /// The CONNACK its connection must have been answered with (`None`: the platform's).
    pub connack: Option<ConnackPlan>,
}

impl DeviceTest {
    /// How long the test may run once started, for a connection with this Keep Alive.
    pub fn deadline(&self, keepalive: u16) -> Duration {
        if let Some(t) = self.timeout {
            return t.resolve(keepalive);
        }
        let e = &self.expect;
        let widest = [
            e.reply.as_ref().map(|r| r.within),
            e.close.and_then(|w| w.max.or(w.min)),
            e.resend.and_then(|w| w.max.or(w.min)),
            e.stays,
        ]
        .into_iter()
        .flatten()
        .map(|t| t.resolve(keepalive))
        .max()
        .unwrap_or(Duration::from_secs(5));
        // Waiting for a close includes waiting for a PINGREQ first (up to Keep Alive).
        let ping_wait = match self.action {
            DeviceAction::Misbehave(Misbehaviour::WithholdPingresp) => {
                Duration::from_secs(u64::from(keepalive))
            }
            _ => Duration::ZERO,
        };
        // A reconnect is timed after the close, so its window adds to the close's.
        let reconnect = e
            .reconnect
            .and_then(|w| w.max.or(w.min))
            .map_or(Duration::ZERO, |t| t.resolve(keepalive));
        self.after.resolve(keepalive) + ping_wait + widest + reconnect + Duration::from_secs(10)
    }
}

/// Where a device test's fields fail to make sense: the message and its location.
pub(crate) type DeviceTestError = (Location, String);

/// Types one `device_tests:` entry.
pub(crate) fn compile(def: &DeviceTestDef) -> Result<DeviceTest, DeviceTestError> {
    let at = |loc: &Location, msg: String| (*loc, msg);
    let time = |s: &Spanned<String>| TimeExpr::parse(&s.value).map_err(|e| at(&s.referenced, e));
    let window = |w: &WindowDef, what: &str, loc: &Location| -> Result<Window, DeviceTestError> {
        let window = Window {
            min: w.after.as_ref().map(time).transpose()?,
            max: w.within.as_ref().map(time).transpose()?,
        };
        if window.min.is_none() && window.max.is_none() {
            return Err(at(
                loc,
                format!("`{what}` needs `within`, `after`, or both"),
            ));
        }
        Ok(window)
    };
    let loc = def.action.referenced;
    let start = match def.start.as_ref().map(|s| (s.value.as_str(), s.referenced)) {
        None | Some(("connected", _)) => DeviceStart::Connected,
        Some(("subscribed", _)) => DeviceStart::Subscribed,
        Some((other, l)) => {
            return Err(at(
                &l,
                format!("`start: {other}`: expected `connected` or `subscribed`"),
            ));
        }
    };
    let action = match &def.action.value {
        DeviceActionDef::Command(c) => {
            let qos = match c.qos.unwrap_or(0) {
                0 => QoS::AtMostOnce,
                1 => QoS::AtLeastOnce,
                2 => QoS::ExactlyOnce,
                q => return Err(at(&loc, format!("command QoS {q}: expected 0, 1 or 2"))),
            };
            let count = c.count.unwrap_or(1);
            if !(1..=MAX_BURST).contains(&count) {
                return Err(at(
                    &loc,
                    format!("command `count: {count}`: expected 1 to {MAX_BURST}"),
                ));
            }
            if c.withhold_pubrel && qos != QoS::ExactlyOnce {
                return Err(at(&loc, "`withhold_pubrel` needs a QoS 2 command".into()));
            }
            if c.topic.contains("${subscribed_topic}") && start != DeviceStart::Subscribed {
                return Err(at(
                    &loc,
                    "`${subscribed_topic}` needs `start: subscribed` (it is made from the device's first subscription)".into(),
                ));
            }
            if c.correlation_data.is_some() && c.response_topic.is_none() {
                return Err(at(
                    &loc,
                    "`correlation_data` needs a `response_topic` (Request/Response)".into(),
                ));
            }
            if c.response_topic
                .as_ref()
                .is_some_and(|t| t.contains(['+', '#']))
            {
                return Err(at(
                    &loc,
                    "`response_topic` may not hold the wildcards `+` or `#` [MQTT-3.3.2-14]".into(),
                ));
            }
            let websocket = match c.websocket {
                None => None,
                Some(super::schema::Framing::Split) => Some(Misbehaviour::SplitWebSocketWrites),
                Some(super::schema::Framing::Fragmented) => {
                    Some(Misbehaviour::FragmentWebSocketWrites)
                }
                Some(_) => {
                    return Err(at(
                        &loc,
                        "a command's `websocket` framing is `split` or `fragmented`".into(),
                    ));
                }
            };
            DeviceAction::Command {
                websocket,
                topic: c.topic.clone(),
                payload: c.payload.clone().unwrap_or_default(),
                qos,
                count,
                topic_alias: c.topic_alias,
                withhold_pubrel: c.withhold_pubrel,
                request: c.response_topic.clone().map(|response_topic| Request {
                    response_topic,
                    correlation_data: c.correlation_data.clone(),
                }),
            }
        }
        DeviceActionDef::Disconnect(d) => {
            let allowed = crate::codec::reason::reason_code_allowed(
                crate::codec::packet_type::PacketType::Disconnect,
                d.reason,
            );
            // 0x04 (with Will) is the client's alone.
            if !allowed || d.reason == crate::codec::reason::code::DISCONNECT_WITH_WILL {
                return Err(at(
                    &loc,
                    format!(
                        "`disconnect: {{ reason: {:#04x} }}` is not a Reason Code a server's DISCONNECT may carry",
                        d.reason
                    ),
                ));
            }
            DeviceAction::Disconnect { reason: d.reason }
        }
        DeviceActionDef::None => DeviceAction::None,
        DeviceActionDef::WithholdPingresp => {
            DeviceAction::Misbehave(Misbehaviour::WithholdPingresp)
        }
        DeviceActionDef::WithholdPuback => DeviceAction::Misbehave(Misbehaviour::WithholdPuback),
        DeviceActionDef::WithholdSuback => DeviceAction::Misbehave(Misbehaviour::WithholdSuback),
        DeviceActionDef::RejectSubscriptions => {
            DeviceAction::Misbehave(Misbehaviour::RejectSubscriptions)
        }
        DeviceActionDef::Drop => DeviceAction::Drop,
    };
    let e = &def.expect;
    let reply = match &e.reply {
        Some(r) => {
            if !matches!(action, DeviceAction::Command { .. }) {
                return Err(at(&loc, "`expect.reply` needs a `command` action".into()));
            }
            if let Some(shape) = &r.payload_json {
                crate::suite::shape::validate_schema(shape)
                    .map_err(|m| at(&r.within.referenced, format!("`payload_json`: {m}")))?;
            }
            let correlated = matches!(
                &action,
                DeviceAction::Command {
                    request: Some(Request {
                        correlation_data: Some(_),
                        ..
                    }),
                    ..
                }
            );
            if r.echoes_correlation_data && !correlated {
                return Err(at(
                    &loc,
                    "`echoes_correlation_data` needs a command with `correlation_data`".into(),
                ));
            }
            Some(Reply {
                topic: r.topic.clone(),
                within: time(&r.within)?,
                payload_json: r.payload_json.clone(),
                echoes_correlation_data: r.echoes_correlation_data,
            })
        }
        None => None,
    };
    if e.resend.is_some() && action != DeviceAction::Misbehave(Misbehaviour::WithholdPuback) {
        return Err(at(
            &loc,
            "`expect.resend` needs a `withhold_puback` action".into(),
        ));
    }
    if e.stays.is_some() && e.close.is_some() {
        return Err(at(
            &loc,
            "`expect.stays` and `expect.close` contradict each other".into(),
        ));
    }
    let expect = DeviceExpect {
        reply,
        close: e
            .close
            .as_ref()
            .map(|w| window(w, "close", &loc))
            .transpose()?,
        reconnect: e
            .reconnect
            .as_ref()
            .map(|w| window(w, "reconnect", &loc))
            .transpose()?,
        resend: e
            .resend
            .as_ref()
            .map(|w| window(w, "resend", &loc))
            .transpose()?,
        stays: e.stays.as_ref().map(time).transpose()?,
        authenticates: e.authenticates,
        keeps_assigned_id: e.keeps_assigned_id,
    };
    let connack = def
        .connack
        .as_ref()
        .map(|c| connack_plan(c).map_err(|m| at(&def.id.referenced, m)))
        .transpose()?;
    // An authentication test reacts to the challenge every CONNECT naming a method gets.
    if action == DeviceAction::None && connack.is_none() && !expect.authenticates {
        return Err(at(
            &loc,
            "`action: none` needs a `connack` (or `expect: { authenticates: true }`) to react to"
                .into(),
        ));
    }
    Ok(DeviceTest {
        id: def.id.value.clone(),
        title: def.title.clone(),
        cites: def.cites.clone(),
        status: def.status.unwrap_or(Status::Doc),
        source: def.source.clone(),
        note: def.note.clone(),
        skip: def.skip.clone(),
        start,
        after: def
            .after
            .as_ref()
            .map(time)
            .transpose()?
            .unwrap_or(TimeExpr::fixed(Duration::ZERO)),
        action,
        expect,
        timeout: def.timeout.as_ref().map(time).transpose()?,
        connack,
    })
}

/// The most messages one command burst may hold (memory and time stay bounded).
pub const MAX_BURST: u16 = 1000;

/// Types a `connack:` block; values the 5.0 CONNACK cannot carry are refused.
fn connack_plan(c: &ConnackDef) -> Result<ConnackPlan, String> {
    let maximum_qos = match c.maximum_qos {
        None => None,
        Some(0) => Some(QoS::AtMostOnce),
        Some(1) => Some(QoS::AtLeastOnce),
        Some(q) => {
            return Err(format!(
                "`connack.maximum_qos: {q}`: expected 0 or 1 (a server supporting QoS 2 sends no Maximum QoS)"
            ));
        }
    };
    if c.receive_maximum == Some(0) {
        return Err("`connack.receive_maximum: 0` is a protocol error: expected 1–65535".into());
    }
    if c.maximum_packet_size.is_some_and(|m| m < 2) {
        return Err("`connack.maximum_packet_size`: expected at least 2 bytes".into());
    }
    Ok(ConnackPlan {
        session_present: c.session_present,
        maximum_qos,
        retain_available: c.retain_available,
        server_keep_alive: c.server_keep_alive,
        receive_maximum: c.receive_maximum,
        maximum_packet_size: c.maximum_packet_size,
        topic_alias_maximum: c.topic_alias_maximum,
    })
}
