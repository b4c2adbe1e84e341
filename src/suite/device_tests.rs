//! Device tests as the engine uses them: the YAML's `device_tests:` checked and typed.

use super::schema::{DeviceActionDef, DeviceTestDef, Status, WindowDef};
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
}

impl Misbehaviour {
    pub(crate) fn bit(self) -> u8 {
        match self {
            Self::WithholdPingresp => 1,
            Self::WithholdPuback => 2,
            Self::WithholdSuback => 4,
            Self::RejectSubscriptions => 8,
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
    },
    /// Switch a misbehaviour on for the connection.
    Misbehave(Misbehaviour),
    /// Close the connection without DISCONNECT.
    Drop,
}

impl DeviceAction {
    /// A few words for reports (a command's topic as the suite writes it, placeholders
    /// and all).
    pub fn describe(&self) -> String {
        match self {
            Self::Command { topic, qos, .. } => {
                format!("publishes a command on {topic} at QoS {}", qos.as_u8())
            }
            Self::Misbehave(Misbehaviour::WithholdPingresp) => "withheld PINGRESP".into(),
            Self::Misbehave(Misbehaviour::WithholdPuback) => "withheld PUBACK".into(),
            Self::Misbehave(Misbehaviour::WithholdSuback) => "withheld SUBACK".into(),
            Self::Misbehave(Misbehaviour::RejectSubscriptions) => {
                "answered SUBSCRIBE with 0x80".into()
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
}

impl DeviceExpect {
    /// True when nothing is expected (the test only records).
    pub fn is_empty(&self) -> bool {
        self.reply.is_none()
            && self.close.is_none()
            && self.reconnect.is_none()
            && self.resend.is_none()
            && self.stays.is_none()
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
        DeviceActionDef::Command(c) => DeviceAction::Command {
            topic: c.topic.clone(),
            payload: c.payload.clone().unwrap_or_default(),
            qos: match c.qos.unwrap_or(0) {
                0 => QoS::AtMostOnce,
                1 => QoS::AtLeastOnce,
                2 => QoS::ExactlyOnce,
                q => return Err(at(&loc, format!("command QoS {q}: expected 0, 1 or 2"))),
            },
        },
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
            Some(Reply {
                topic: r.topic.clone(),
                within: time(&r.within)?,
                payload_json: r.payload_json.clone(),
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
    };
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
    })
}
