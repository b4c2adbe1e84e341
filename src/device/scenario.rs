//! Device tests: scenarios the emulated cloud plays on each connected device, timed from
//! the server's own events.
//!
//! A state machine with no I/O: [`Scenarios::observe`] takes every event of the server,
//! [`Scenarios::tick`] the time, and both return the [`Action`]s the server must carry out
//! (misbehave towards a connection, drop it, deliver a command). Each device (client id)
//! runs the suite's device tests in order: a test starts when its start condition holds on
//! the device's current connection, acts after its delay, and ends when every expectation
//! is decided or its deadline passes; the next one then starts on the same connection
//! while it lasts, or on the device's next connection. Every time a verdict states comes
//! from event timestamps (the server's clock), never from when this code ran.
//!
//! A test may want its own CONNACK (`connack:`), which the server sends before any event
//! of the connection reaches this engine. So when such a test becomes a device's next
//! one, the engine has the server answer that client id's next CONNECTs with the test's
//! CONNACK ([`Action::PlanConnack`]); if the device is connected under another CONNACK,
//! the engine drops that connection and the test starts on the device's next one. A test
//! without `connack:` wants the platform's own CONNACK back the same way.

use crate::codec::{Packet, PropertyId, QoS};
use crate::event::{Event, EventKind, Side};
use crate::report::{CaseReport, Timing, TraceLine, Verdict};
use crate::suite::device_tests::Misbehaviour;
use crate::suite::device_tests::{ConnackPlan, DeviceAction, DeviceStart, DeviceTest};
use crate::suite::profile::AutoSubscribe;
use crate::suite::timing::Window;
use crate::suite::timing::{DEVICE_TIMER_TOLERANCE, fmt_secs};
use crate::suite::vars::Vars;
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// What the server must do for a device test.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Switch a misbehaviour on or off for a connection.
    Misbehave {
        /// The connection.
        conn: u64,
        /// Which.
        what: Misbehaviour,
        /// On or off.
        on: bool,
    },
    /// Close a connection without DISCONNECT.
    Drop {
        /// The connection.
        conn: u64,
        /// Why, for the close event.
        detail: String,
    },
    /// Deliver a message as the cloud.
    Publish {
        /// Topic.
        topic: String,
        /// Payload.
        payload: Bytes,
        /// QoS.
        qos: QoS,
        /// Sent with a Topic Alias where the client allows one.
        topic_alias: bool,
        /// 5.0 Request/Response: the Response Topic and Correlation Data it carries.
        request: Option<(String, Option<Bytes>)>,
    },
    /// Answer the device's next CONNECTs with this CONNACK (`None`: the platform's own).
    PlanConnack {
        /// The device's client id.
        device: String,
        /// The CONNACK.
        plan: Option<ConnackPlan>,
    },
    /// Send a 5.0 DISCONNECT, then wait for the device to close.
    Disconnect {
        /// The connection.
        conn: u64,
        /// The Reason Code.
        reason: u8,
        /// How long the server waits for the close before closing itself.
        linger: Duration,
    },
}

/// Something worth a live console line.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// A test acted on a device.
    Acted {
        /// The device's client id.
        device: String,
        /// The test.
        test: String,
        /// What was done.
        what: String,
    },
    /// A test has its verdict.
    Decided {
        /// The device's client id.
        device: String,
        /// The case.
        case: Box<CaseReport>,
    },
}

/// How one expectation came out (or not yet).
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Pending,
    Met(String),
    Missed(String),
}

/// A connection the engine knows.
#[derive(Debug, Clone)]
struct ConnInfo {
    opened: Duration,
    device: Option<String>,
    keepalive: u16,
    accepted: bool,
    subscribed: bool,
    closed: Option<(Duration, Option<Side>, String)>,
    /// The CONNECT was 5.0.
    v5: bool,
    /// Clean Session / Clean Start.
    clean_start: bool,
    /// The device's Topic Alias Maximum (5.0).
    alias_max: u16,
    /// The CONNACK plan the server had for the device when it connected.
    plan: Option<ConnackPlan>,
    /// The CONNACK's Session Present.
    session_present: bool,
    /// The CONNACK was sent (accepting or refusing).
    answered: bool,
    /// The first filter the device subscribed to.
    first_filter: Option<String>,
    /// The cloud has ended this connection (dropped it or sent DISCONNECT): no test
    /// starts on it.
    ended_by_cloud: bool,
    /// Its enhanced authentication before the CONNACK (5.0).
    auth: AuthSeen,
    /// The CONNACK's Assigned Client Identifier (5.0, for an empty client id).
    assigned: Option<String>,
    /// The connection is MQTT over WebSocket (its handshake was seen).
    websocket: bool,
}

/// The enhanced authentication that opened a connection.
#[derive(Debug, Clone, Default, PartialEq)]
struct AuthSeen {
    /// The CONNECT's Authentication Method.
    method: Option<String>,
    /// When the cloud's AUTH 0x18 challenge went out.
    challenged: Option<Duration>,
    /// The device's first AUTH after it: when, its reason code and its method.
    answer: Option<(Duration, u8, Option<String>)>,
}

impl AuthSeen {
    /// The exchange in one line.
    fn describe(&self) -> String {
        let method = self.method.as_deref().unwrap_or_default();
        match (self.challenged, &self.answer) {
            (None, _) => format!("the CONNECT named {method:?}; the cloud sent no AUTH challenge"),
            (Some(_), None) => format!(
                "the CONNECT named {method:?}; the device never answered the cloud's AUTH 0x18 challenge"
            ),
            (Some(c), Some((t, reason, theirs))) => format!(
                "the CONNECT named {method:?}; the device answered the cloud's AUTH 0x18 challenge {} after it with AUTH {reason:#04x} under {:?}",
                fmt_secs(t.saturating_sub(c)),
                theirs.as_deref().unwrap_or_default()
            ),
        }
    }
}

/// A test under way on one device.
#[derive(Debug)]
struct Active {
    test: usize,
    conn: u64,
    started: Duration,
    act_at: Duration,
    deadline: Duration,
    keepalive: u16,
    acted: Option<Duration>,
    /// The command's topic, placeholders filled.
    command_topic: Option<String>,
    /// The expected reply's topic, placeholders filled.
    reply_topic: Option<String>,
    /// The command's PUBLISH to the device (when it was delivered).
    delivered: Option<Duration>,
    /// The first PINGREQ left unanswered.
    ping: Option<Duration>,
    /// The first QoS 1/2 PUBLISH left unacknowledged: packet id and time.
    unacked: Option<(u16, Duration)>,
    resent: Option<Duration>,
    reply: Option<(Duration, Result<(), String>)>,
    closed: Option<(Duration, Option<Side>, String)>,
    reconnected: Option<Duration>,
    /// A topic the device's first subscription matches.
    subscribed_topic: Option<String>,
    /// The command's PUBLISHes to the device.
    deliveries: Vec<Delivered>,
    /// The Topic Alias the command's first PUBLISH set.
    alias: Option<u16>,
    /// Deliveries the device acknowledged (PUBACK, or PUBREC at QoS 2): packet ids.
    acked: Vec<u16>,
    /// QoS 2 deliveries the device completed with PUBCOMP: packet ids.
    completed: Vec<u16>,
    /// The cloud dropped the connection after withholding the PUBRELs.
    dropped: bool,
    /// The device's next connection (where a withheld flow resumes).
    resumed: Option<u64>,
    /// Session Present of the resumed connection's CONNACK.
    resume_present: Option<bool>,
    /// Withheld PUBRELs the cloud sent on the resumed connection: packet ids.
    pubrel_resent: Vec<u16>,
    /// PUBCOMPs the device sent for them: packet ids.
    pubcomp_resumed: Vec<u16>,
    /// When the cloud re-sent the first of them.
    pubrel_resent_at: Option<Duration>,
    /// The resumed connection's close: when, and by whom.
    resumed_closed: Option<(Duration, Option<Side>)>,
    /// The enhanced authentication that opened the test's connection.
    opening: AuthSeen,
    /// The Correlation Data the command carried (5.0 Request/Response).
    correlation_data: Option<Bytes>,
    /// The Assigned Client Identifier of the test's connection, and the client id the
    /// device reconnected with.
    assigned_id: Option<String>,
    reconnect_id: Option<String>,
    /// Re-authentications the device started (AUTH 0x19) and the cloud ended with AUTH
    /// 0x00; why one failed.
    reauth_started: usize,
    reauth_done: usize,
    reauth_failed: Option<String>,
    /// QoS 1/2 PUBLISHes the device sent while PUBACK was withheld: distinct packet ids,
    /// and how many came again with DUP 1.
    unacked_ids: std::collections::BTreeSet<u16>,
    dup_resends: usize,
    /// What the device sent after a test's CONNACK (`action: none`): count per packet type.
    sent: BTreeMap<String, usize>,
    /// The device's last packet then, and the longest silence between its packets.
    last_sent: Option<Duration>,
    longest_silence: Duration,
    trace: Vec<TraceLine>,
}

/// One PUBLISH of a command to the device.
#[derive(Debug, Clone, Copy)]
struct Delivered {
    at: Duration,
    /// The QoS it reached the device at (the subscription may lower it).
    qos: QoS,
    pid: Option<u16>,
    /// Sent with the Topic Alias alone (no topic).
    alias_only: bool,
}

/// One device's progress through the tests.
#[derive(Debug, Default)]
struct DeviceRun {
    next: usize,
    active: Option<Active>,
    /// The device's current connection.
    conn: Option<u64>,
    cases: Vec<CaseReport>,
    /// The CONNACK plan the server holds for the device.
    installed: Option<ConnackPlan>,
    /// The test whose CONNACK the device must connect again to get: its index and the
    /// connection the cloud closed for it.
    awaiting: Option<(usize, u64)>,
}

/// The device tests of a run, over every device.
#[derive(Debug)]
pub struct Scenarios {
    tests: Vec<DeviceTest>,
    vars: Vars,
    conns: HashMap<u64, ConnInfo>,
    devices: BTreeMap<String, DeviceRun>,
    /// Unix time of the server's start (for `${now}` / `${now_ms}`).
    epoch_unix: Duration,
    /// The platform subscribes the devices it covers at CONNACK.
    auto_subscribe: Option<AutoSubscribe>,
    /// Client identifiers the cloud assigned (5.0), with the device they were assigned to:
    /// a CONNECT under one is that device coming back.
    assigned: HashMap<String, String>,
}

impl Scenarios {
    /// The engine for `tests`, with parameter values in `vars`; `epoch_unix` is the Unix
    /// time the events' `at` count from.
    pub fn new(tests: Vec<DeviceTest>, vars: Vars, epoch_unix: Duration) -> Self {
        Self {
            tests,
            vars,
            conns: HashMap::new(),
            devices: BTreeMap::new(),
            epoch_unix,
            auto_subscribe: None,
            assigned: HashMap::new(),
        }
    }

    /// Counts the devices `auto` covers as subscribed once their CONNECT is accepted (a
    /// `start: subscribed` test then starts without a SUBSCRIBE from them).
    pub fn with_auto_subscribe(mut self, auto: Option<AutoSubscribe>) -> Self {
        self.auto_subscribe = auto;
        self
    }

    /// The client id of connection `conn`, once its CONNECT was seen.
    pub fn device_of(&self, conn: u64) -> Option<String> {
        self.conns.get(&conn).and_then(|c| c.device.clone())
    }

    /// True when `device` still has device tests to run (its connections ending are part
    /// of the tests, not the device leaving).
    pub fn device_busy(&self, device: &str) -> bool {
        self.devices
            .get(device)
            .is_some_and(|run| run.active.is_some() || run.next < self.tests.len())
    }

    /// True when the suite has device tests.
    pub fn is_empty(&self) -> bool {
        self.tests.is_empty()
    }

    /// Feeds one server event; returns what the server must do and what to tell.
    pub fn observe(&mut self, event: &Event) -> (Vec<Action>, Vec<Update>) {
        let mut actions = Vec::new();
        let mut updates = Vec::new();
        if self.tests.is_empty() {
            return (actions, updates);
        }
        let at = event.at;
        match &event.kind {
            EventKind::Opened { .. } => {
                self.conns.insert(
                    event.conn,
                    ConnInfo {
                        opened: at,
                        device: None,
                        keepalive: 0,
                        accepted: false,
                        subscribed: false,
                        closed: None,
                        v5: false,
                        clean_start: true,
                        alias_max: 0,
                        plan: None,
                        session_present: false,
                        answered: false,
                        first_filter: None,
                        ended_by_cloud: false,
                        auth: AuthSeen::default(),
                        assigned: None,
                        websocket: false,
                    },
                );
            }
            EventKind::Packet {
                packet: Ok(packet), ..
            } => self.packet(event, packet),
            EventKind::WebSocket(crate::event::WebSocketEvent::Handshake { .. }) => {
                if let Some(info) = self.conns.get_mut(&event.conn) {
                    info.websocket = true;
                }
            }
            EventKind::Closed { by, detail } => {
                if let Some(info) = self.conns.get_mut(&event.conn) {
                    info.closed = Some((at, *by, detail.clone()));
                    let run = info.device.as_ref().and_then(|d| self.devices.get_mut(d));
                    if let (false, Some(_), Some(run)) = (info.answered, info.auth.challenged, run)
                    {
                        let what = format!(
                            "the connection was closed by {} before any CONNACK ({detail})",
                            who(*by)
                        );
                        authentication_failed(&self.tests, run, &info.auth, what);
                    }
                }
                let device = self.conns.get(&event.conn).and_then(|c| c.device.clone());
                if let Some(run) = device.and_then(|d| self.devices.get_mut(&d)) {
                    if run.conn == Some(event.conn) {
                        run.conn = None;
                    }
                    if let Some(a) = run.active.as_mut() {
                        if a.resumed == Some(event.conn) && a.resumed_closed.is_none() {
                            a.resumed_closed = Some((at, *by));
                        }
                    }
                    if let Some(a) = run.active.as_mut().filter(|a| a.conn == event.conn) {
                        if a.closed.is_none() {
                            a.closed = Some((at, *by, detail.clone()));
                            a.trace(at, format!("connection closed by {} ({detail})", who(*by)));
                        }
                    }
                }
                self.conns.remove(&event.conn);
            }
            _ => {}
        }
        self.advance(at, &mut actions, &mut updates);
        (actions, updates)
    }

    /// Lets time pass: starts due actions and ends tests whose deadline passed.
    pub fn tick(&mut self, now: Duration) -> (Vec<Action>, Vec<Update>) {
        let mut actions = Vec::new();
        let mut updates = Vec::new();
        self.advance(now, &mut actions, &mut updates);
        (actions, updates)
    }

    /// The earliest time [`Scenarios::tick`] has something to do.
    pub fn next_wakeup(&self) -> Option<Duration> {
        self.devices
            .values()
            .filter_map(|d| d.active.as_ref())
            .map(|a| match a.acted {
                None => a.act_at,
                Some(_) => a.next_bound(&self.tests[a.test]).min(a.deadline),
            })
            .min()
    }

    /// Ends the run at `now`: tests under way are inconclusive, tests a device never
    /// reached are skipped. Returns each device's cases.
    pub fn finish(mut self, now: Duration) -> BTreeMap<String, Vec<CaseReport>> {
        let mut actions = Vec::new();
        let mut updates = Vec::new();
        self.advance(now, &mut actions, &mut updates);
        let mut out = BTreeMap::new();
        for (device, mut run) in std::mem::take(&mut self.devices) {
            if let Some(a) = run.active.take() {
                let test = &self.tests[a.test];
                let (index, started) = (a.test, a.started);
                // Not `last`: the run ending is not the test's deadline passing.
                let outcomes = Outcomes::evaluate(&a, test, now, false);
                let mut case = a.case(test, now, outcomes);
                if let Verdict::Inconclusive { message } = &case.verdict {
                    case.verdict = Verdict::Inconclusive {
                        message: format!(
                            "the run ended {} after the test started, before it was decided ({message})",
                            fmt_secs(now.saturating_sub(started)),
                        ),
                    };
                }
                run.cases.push(case);
                run.next = index + 1;
            }
            for (index, test) in self.tests.iter().enumerate().skip(run.next) {
                let reason = match (&test.skip, run.awaiting) {
                    (Some(reason), _) => reason.clone(),
                    (None, Some((waiting, conn))) if waiting == index => format!(
                        "the cloud closed connection {conn} so that the device's next CONNECT would get this test's CONNACK ({}), and the device did not connect again before the run ended",
                        test.connack
                            .map_or_else(|| "the platform's own".to_owned(), |p| p.describe())
                    ),
                    (None, _) => {
                        "the device did not stay for this test (the run ended first)".into()
                    }
                };
                run.cases.push(skipped(test, reason));
            }
            out.insert(device, run.cases);
        }
        out
    }

    fn packet(&mut self, event: &Event, packet: &Packet) {
        let at = event.at;
        let Some(info) = self.conns.get_mut(&event.conn) else {
            return;
        };
        match (event.from, packet) {
            (Side::Client, Packet::Connect(c)) => {
                info.device = Some(c.client_id.clone());
                info.keepalive = c.keep_alive;
                info.auth.method = c
                    .properties
                    .get_str(PropertyId::AuthenticationMethod)
                    .filter(|_| c.protocol.is_v5())
                    .map(str::to_owned);
                info.v5 = c.protocol.is_v5();
                info.clean_start = c.clean_session;
                info.alias_max = c
                    .properties
                    .get_int(PropertyId::TopicAliasMaximum)
                    .map_or(0, |m| u16::try_from(m).unwrap_or(u16::MAX));
                let opened = info.opened;
                let run = self.devices.entry(c.client_id.clone()).or_default();
                // The server looks its plan up as it accepts this CONNECT.
                info.plan = run.installed;
                run.conn = Some(event.conn);
                if let Some(a) = run.active.as_mut() {
                    if a.closed.is_some() && a.reconnected.is_none() {
                        a.reconnected = Some(opened);
                        a.reconnect_id = Some(c.client_id.clone());
                        a.resumed = Some(event.conn);
                        let after = a.closed.as_ref().map(|c| opened.saturating_sub(c.0));
                        a.trace(
                            at,
                            format!(
                                "device connected again (connection {}, opened {} after the close)",
                                event.conn,
                                after.map(fmt_secs).unwrap_or_default()
                            ),
                        );
                    }
                }
                // A device back under the identifier the cloud assigned it: its test
                // waiting for the reconnect learns of it (the device keeps its own run
                // under the new identifier).
                if let Some(first) = self.assigned.get(&c.client_id) {
                    let waiting = self.devices.get_mut(first).and_then(|r| r.active.as_mut());
                    if let Some(a) =
                        waiting.filter(|a| a.closed.is_some() && a.reconnected.is_none())
                    {
                        a.reconnected = Some(opened);
                        a.reconnect_id = Some(c.client_id.clone());
                        a.trace(
                            at,
                            format!(
                                "device connected again under its Assigned Client Identifier (connection {})",
                                event.conn
                            ),
                        );
                    }
                }
            }
            (Side::Server, Packet::Auth(x))
                if !info.answered && info.auth.challenged.is_none() && x.reason_code == 0x18 =>
            {
                info.auth.challenged = Some(at);
            }
            (Side::Client, Packet::Auth(x))
                if !info.answered
                    && info.auth.challenged.is_some()
                    && info.auth.answer.is_none() =>
            {
                let method = x
                    .properties
                    .get_str(PropertyId::AuthenticationMethod)
                    .map(str::to_owned);
                info.auth.answer = Some((at, x.reason_code, method));
            }
            (Side::Server, Packet::ConnAck(c)) => {
                info.answered = true;
                info.accepted = c.code == 0;
                info.session_present = c.session_present;
                info.assigned = c
                    .properties
                    .get_str(PropertyId::AssignedClientIdentifier)
                    .map(str::to_owned);
                if let (Some(id), Some(device)) = (&info.assigned, &info.device) {
                    self.assigned.insert(id.clone(), device.clone());
                }
                if !info.accepted && info.auth.challenged.is_some() {
                    let what = format!("the cloud refused it with CONNACK {:#04x}", c.code);
                    let run = info.device.as_ref().and_then(|d| self.devices.get_mut(d));
                    if let Some(run) = run {
                        authentication_failed(&self.tests, run, &info.auth, what);
                    }
                }
                let run = info.device.as_ref().and_then(|d| self.devices.get_mut(d));
                if let (false, Some(run)) = (info.accepted, run) {
                    // A CONNECT the test's own CONNACK makes the server refuse (a Will
                    // above what it announces): the test cannot run on this device.
                    if let Some((index, _)) = run.awaiting.filter(|(i, _)| {
                        info.plan.is_some()
                            && self.tests.get(*i).is_some_and(|t| t.connack == info.plan)
                    }) {
                        let why = c
                            .properties
                            .get_str(PropertyId::ReasonString)
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default();
                        run.cases.push(skipped(
                            &self.tests[index],
                            format!(
                                "the cloud refused the device's CONNECT under this test's CONNACK (reason {:#04x}{why}), so the test cannot run on this device",
                                c.code
                            ),
                        ));
                        run.next = index + 1;
                        run.awaiting = None;
                    }
                }
                // MQTT-3.2.2-21: the Server Keep Alive is the connection's Keep Alive.
                if let Some(k) = c.properties.get_int(PropertyId::ServerKeepAlive) {
                    info.keepalive = u16::try_from(k).unwrap_or(u16::MAX);
                }
                let auto = self.auto_subscribe.as_ref();
                if info.accepted
                    && auto.is_some_and(|a| info.device.as_ref().is_some_and(|d| a.applies_to(d)))
                {
                    info.subscribed = true;
                }
            }
            (Side::Client, Packet::Subscribe(s)) if info.first_filter.is_none() => {
                info.first_filter = s.subscriptions.first().map(|s| s.filter.clone());
            }
            (Side::Server, Packet::SubAck(_)) => info.subscribed = true,
            _ => {}
        }
        let Some(device) = info.device.clone() else {
            return;
        };
        let Some(run) = self.devices.get_mut(&device) else {
            return;
        };
        let Some(a) = run.active.as_mut() else {
            return;
        };
        if a.resumed == Some(event.conn) && a.conn != event.conn {
            a.on_resumed(at, event.from, packet);
            return;
        }
        if a.conn != event.conn {
            return;
        }
        match (event.from, packet) {
            (Side::Client, Packet::Auth(x)) if x.reason_code == 0x19 => {
                a.reauth_started += 1;
                a.trace(at, "device starts a re-authentication (AUTH 0x19)".into());
            }
            (Side::Server, Packet::Auth(x)) if x.reason_code == 0x00 => a.reauth_done += 1,
            (Side::Server, Packet::Disconnect(d)) if a.reauth_started > a.reauth_done => {
                a.reauth_failed = Some(format!(
                    "the cloud ended re-authentication {} with DISCONNECT {:#04x}",
                    a.reauth_started, d.reason_code
                ));
            }
            _ => {}
        }
        let Some(acted) = a.acted else { return };
        let test = &self.tests[a.test];
        if let (Side::Client, DeviceAction::None) = (event.from, &test.action) {
            let since = a.last_sent.unwrap_or(acted);
            a.longest_silence = a.longest_silence.max(at.saturating_sub(since));
            a.last_sent = Some(at);
            *a.sent.entry(packet.packet_type().to_string()).or_default() += 1;
        }
        match (event.from, packet, &test.action) {
            (Side::Server, Packet::Publish(p), DeviceAction::Command { count, .. })
                if !p.dup && a.deliveries.len() < usize::from(*count) =>
            {
                let alias = p
                    .properties
                    .get_int(PropertyId::TopicAlias)
                    .and_then(|v| u16::try_from(v).ok());
                let alias_only = p.topic.is_empty();
                let ours = if alias_only {
                    alias.is_some() && alias == a.alias
                } else {
                    a.command_topic.as_deref() == Some(&*p.topic)
                };
                if ours {
                    if a.delivered.is_none() {
                        a.delivered = Some(at);
                        a.alias = alias;
                        let with_alias = alias
                            .map(|n| format!(" with Topic Alias {n}"))
                            .unwrap_or_default();
                        a.trace(at, format!("command delivered on {}{with_alias}", p.topic));
                    } else if alias_only && !a.deliveries.iter().any(|d| d.alias_only) {
                        a.trace(
                            at,
                            format!(
                                "command delivered with Topic Alias {} alone",
                                alias.unwrap_or_default()
                            ),
                        );
                    }
                    a.deliveries.push(Delivered {
                        at,
                        qos: p.qos,
                        pid: p.packet_id,
                        alias_only,
                    });
                }
            }
            (Side::Client, Packet::PubAck(r) | Packet::PubRec(r), DeviceAction::Command { .. })
                if a.delivered_pid(r.packet_id) && !a.acked.contains(&r.packet_id) =>
            {
                a.acked.push(r.packet_id);
            }
            (Side::Client, Packet::PubComp(r), DeviceAction::Command { .. })
                if a.delivered_pid(r.packet_id) && !a.completed.contains(&r.packet_id) =>
            {
                a.completed.push(r.packet_id);
            }
            (
                Side::Client,
                Packet::PingReq,
                DeviceAction::Misbehave(Misbehaviour::WithholdPingresp),
            ) if a.ping.is_none() => {
                a.ping = Some(at);
                a.trace(at, "PINGREQ left unanswered".into());
            }
            (Side::Client, Packet::Publish(p), _) => {
                if let (Some(pid), DeviceAction::Misbehave(Misbehaviour::WithholdPuback)) =
                    (p.packet_id, &test.action)
                {
                    if at >= acted && !a.unacked_ids.insert(pid) && p.dup {
                        a.dup_resends += 1;
                    }
                    match a.unacked {
                        None if at >= acted => {
                            a.unacked = Some((pid, at));
                            a.trace(
                                at,
                                format!("PUBLISH packet {pid} on {} left unacknowledged", p.topic),
                            );
                        }
                        Some((first, _)) if first == pid && p.dup && a.resent.is_none() => {
                            a.resent = Some(at);
                            a.trace(at, format!("PUBLISH packet {pid} sent again with DUP 1"));
                        }
                        _ => {}
                    }
                }
                if let (Some(reply), Some(topic)) = (&test.expect.reply, &a.reply_topic) {
                    if a.reply.is_none() && *p.topic == **topic {
                        let shape = match &reply.payload_json {
                            None => Ok(()),
                            Some(schema) => serde_json::from_slice::<serde_json::Value>(&p.payload)
                                .map_err(|e| format!("payload is not JSON: {e}"))
                                .and_then(|v| crate::suite::shape::check(&v, schema, "$")),
                        };
                        let shape = shape.and_then(|()| {
                            if !reply.echoes_correlation_data {
                                return Ok(());
                            }
                            correlation_echoed(a.correlation_data.as_ref(), &p.properties)
                        });
                        a.reply = Some((at, shape));
                        a.trace(at, format!("reply on {}", p.topic));
                    }
                }
            }
            _ => {}
        }
    }

    /// Starts, acts and decides whatever is due at `now`.
    fn advance(&mut self, now: Duration, actions: &mut Vec<Action>, updates: &mut Vec<Update>) {
        for (device, run) in self.devices.iter_mut() {
            // Several steps may fall due at once (a decision, then the next start).
            for _ in 0..4 {
                if run.active.is_none()
                    && !start_next(&self.tests, &mut self.conns, device, run, now, actions)
                {
                    break;
                }
                let Some(a) = run.active.as_mut() else { break };
                let test = &self.tests[a.test];
                if a.acted.is_none() {
                    if now < a.act_at {
                        break;
                    }
                    if a.closed.is_some() {
                        // The connection ended before the cloud acted: try again on the next.
                        let test_index = a.test;
                        run.active = None;
                        run.next = test_index;
                        continue;
                    }
                    let what = act(a, test, &self.vars, self.epoch_unix, device, actions);
                    if matches!(test.action, DeviceAction::Disconnect { .. }) {
                        if let Some(info) = self.conns.get_mut(&a.conn) {
                            info.ended_by_cloud = true;
                        }
                    }
                    updates.push(Update::Acted {
                        device: device.clone(),
                        test: test.id.clone(),
                        what,
                    });
                }
                if a.pubrels_withheld(test) {
                    // Every delivered QoS 2 flow waits for its PUBREL: end the connection
                    // so that the flows resume on the device's next one.
                    a.dropped = true;
                    a.trace(
                        now,
                        "cloud drops the connection with the PUBRELs withheld".into(),
                    );
                    actions.push(Action::Drop {
                        conn: a.conn,
                        detail: format!(
                            "device test {}: the cloud drops the connection with {} PUBREL(s) withheld",
                            test.id,
                            a.acked.len()
                        ),
                    });
                    if let Some(info) = self.conns.get_mut(&a.conn) {
                        info.ended_by_cloud = true;
                    }
                }
                let last = now >= a.deadline;
                let outcomes = Outcomes::evaluate(a, test, now, last);
                if !outcomes.decided() && !last {
                    break;
                }
                let a = run.active.take().expect("checked above");
                // What the test switched on goes off with it.
                let misbehaviours = match test.action {
                    DeviceAction::Misbehave(what) => [Some(what), None],
                    DeviceAction::Command {
                        withhold_pubrel,
                        websocket,
                        ..
                    } => [
                        withhold_pubrel.then_some(Misbehaviour::WithholdPubrel),
                        websocket,
                    ],
                    _ => [None, None],
                };
                if a.closed.is_none() {
                    for what in misbehaviours.into_iter().flatten() {
                        actions.push(Action::Misbehave {
                            conn: a.conn,
                            what,
                            on: false,
                        });
                    }
                }
                run.next = a.test + 1;
                let case = a.case(test, now, outcomes);
                updates.push(Update::Decided {
                    device: device.clone(),
                    case: Box::new(case.clone()),
                });
                run.cases.push(case);
            }
        }
    }
}

/// Why `test` cannot run on a connection like `info`, if it cannot.
fn not_applicable(test: &DeviceTest, info: &ConnInfo) -> Option<String> {
    let plan = test.connack.unwrap_or_default();
    let needs_v5 = match &test.action {
        DeviceAction::Disconnect { .. } => Some("a server DISCONNECT"),
        DeviceAction::Command {
            topic_alias: true, ..
        } => Some("a Topic Alias"),
        DeviceAction::Command {
            request: Some(_), ..
        } => Some("a Response Topic (Request/Response)"),
        _ if plan.needs_v5() => Some("its CONNACK properties"),
        _ => None,
    };
    let needs_v5 = needs_v5.or(test
        .expect
        .authenticates
        .then_some("enhanced authentication"));
    if let (false, Some(what)) = (info.v5, needs_v5) {
        return Some(format!(
            "the device speaks MQTT 3.1.1, and this test needs {what} (MQTT 5.0)"
        ));
    }
    if matches!(
        test.action,
        DeviceAction::Command {
            topic_alias: true,
            ..
        }
    ) && info.alias_max == 0
    {
        return Some(
            "the device's CONNECT allows no Topic Alias (Topic Alias Maximum 0 or absent), so the cloud may send none [MQTT-3.3.2-11]".into(),
        );
    }
    if matches!(
        test.action,
        DeviceAction::Command {
            websocket: Some(_),
            ..
        }
    ) && !info.websocket
    {
        return Some(
            "the device connects over TCP: this test frames the cloud's packets over WebSocket"
                .into(),
        );
    }
    if test.expect.keeps_assigned_id && info.assigned.is_none() {
        return Some(
            "the CONNACK assigned the device no client identifier: it chose its own".into(),
        );
    }
    if test.expect.authenticates && info.auth.method.is_none() {
        return Some(
            "the device's CONNECT names no Authentication Method: it does not use enhanced authentication".into(),
        );
    }
    if plan.session_present && !info.clean_start {
        return Some(
            "the device asks to resume its session (Clean Start 0): it may hold session state, so Session Present 1 need not make it close".into(),
        );
    }
    None
}

/// Starts the device's next test when its start condition holds; true when one started.
/// Tests that cannot run on the device's connection are reported skipped; a test that
/// wants another CONNACK than the connection got has the server plan it and the
/// connection dropped.
fn start_next(
    tests: &[DeviceTest],
    conns: &mut HashMap<u64, ConnInfo>,
    device: &str,
    run: &mut DeviceRun,
    now: Duration,
    actions: &mut Vec<Action>,
) -> bool {
    loop {
        let Some(test) = tests.get(run.next) else {
            // Every test is done: later connections get the platform's own CONNACK.
            if run.installed.take().is_some() {
                actions.push(Action::PlanConnack {
                    device: device.to_owned(),
                    plan: None,
                });
            }
            return false;
        };
        // Tests the suite skips are reported at once.
        if let Some(reason) = &test.skip {
            run.cases.push(skipped(test, reason.clone()));
            run.next += 1;
            continue;
        }
        let usable = |c: &&ConnInfo| c.accepted && c.closed.is_none() && !c.ended_by_cloud;
        let current = run.conn.and_then(|c| conns.get(&c)).filter(usable);
        if let Some(reason) = current.and_then(|info| not_applicable(test, info)) {
            run.cases.push(skipped(test, reason));
            run.next += 1;
            continue;
        }
        // The server looks the plan up while it accepts a CONNECT: a new plan goes in only
        // when no CONNECT of the device is being answered, so that each connection's plan
        // is known.
        let settled = run
            .conn
            .and_then(|c| conns.get(&c))
            .is_none_or(|c| c.answered);
        if settled && run.installed != test.connack {
            run.installed = test.connack;
            actions.push(Action::PlanConnack {
                device: device.to_owned(),
                plan: test.connack,
            });
        }
        let Some(conn) = run.conn else { return false };
        let Some(info) = conns.get_mut(&conn).filter(|c| usable(&&**c)) else {
            return false;
        };
        if info.plan != test.connack {
            info.ended_by_cloud = true;
            run.awaiting = Some((run.next, conn));
            let wanted = test
                .connack
                .map_or_else(|| "the platform's own".to_owned(), |p| p.describe());
            actions.push(Action::Drop {
                conn,
                detail: format!(
                    "device test {}: the cloud closes the connection so that the device's next CONNECT gets the test's CONNACK ({wanted})",
                    test.id
                ),
            });
            return false;
        }
        if test.start == DeviceStart::Subscribed && !info.subscribed {
            return false;
        }
        let needs_subscription = matches!(&test.action,
            DeviceAction::Command { topic, .. } if topic.contains("${subscribed_topic}"));
        if needs_subscription && info.first_filter.is_none() {
            run.cases.push(skipped(
                test,
                "the device sent no SUBSCRIBE of its own (the platform subscribed it), so no topic of its choosing is known for the command".into(),
            ));
            run.next += 1;
            continue;
        }
        run.awaiting = None;
        let mut active = Active {
            test: run.next,
            conn,
            started: now,
            act_at: now + test.after.resolve(info.keepalive),
            deadline: now + test.deadline(info.keepalive),
            keepalive: info.keepalive,
            acted: None,
            command_topic: None,
            reply_topic: None,
            delivered: None,
            ping: None,
            unacked: None,
            resent: None,
            reply: None,
            closed: None,
            reconnected: None,
            subscribed_topic: info.first_filter.as_deref().map(topic_matching),
            deliveries: Vec::new(),
            alias: None,
            acked: Vec::new(),
            completed: Vec::new(),
            dropped: false,
            resumed: None,
            resume_present: None,
            pubrel_resent: Vec::new(),
            pubcomp_resumed: Vec::new(),
            pubrel_resent_at: None,
            resumed_closed: None,
            opening: info.auth.clone(),
            correlation_data: None,
            assigned_id: info.assigned.clone(),
            reconnect_id: None,
            reauth_started: 0,
            reauth_done: 0,
            reauth_failed: None,
            unacked_ids: std::collections::BTreeSet::new(),
            dup_resends: 0,
            sent: BTreeMap::new(),
            last_sent: None,
            longest_silence: Duration::ZERO,
            trace: Vec::new(),
        };
        if let Some(plan) = test.connack {
            active.trace(
                now,
                format!(
                    "connection {conn} accepted with the test's CONNACK: {}",
                    plan.describe()
                ),
            );
        }
        run.active = Some(active);
        return true;
    }
}

/// A topic name that `filter` matches: each wildcard level becomes `mqtt-conform`, and a
/// shared subscription's `$share/<group>/` is left out.
fn topic_matching(filter: &str) -> String {
    let filter = match crate::codec::topic::shared_subscription(filter) {
        Some(Ok((_, inner))) => inner,
        _ => filter,
    };
    filter
        .split('/')
        .map(|level| match level {
            "+" | "#" => "mqtt-conform",
            other => other,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Carries out a test's action; returns what the cloud did, placeholders filled.
fn act(
    a: &mut Active,
    test: &DeviceTest,
    vars: &Vars,
    epoch_unix: Duration,
    device: &str,
    out: &mut Vec<Action>,
) -> String {
    let now = a.act_at;
    a.acted = Some(now);
    match &test.action {
        DeviceAction::Command {
            topic,
            payload,
            qos,
            count,
            topic_alias,
            withhold_pubrel,
            request,
            websocket,
        } => {
            let mut vars = vars.clone();
            let unix = epoch_unix + now;
            vars.set("now", unix.as_secs().to_string());
            vars.set("now_ms", unix.as_millis().to_string());
            vars.set("test", test.id.clone());
            vars.set("client_id", device.to_owned());
            if let Some(t) = &a.subscribed_topic {
                vars.set("subscribed_topic", t.clone());
            }
            let topic = vars.interpolate(topic).unwrap_or_else(|_| topic.clone());
            a.command_topic = Some(topic.clone());
            a.reply_topic = test.expect.reply.as_ref().map(|r| {
                vars.interpolate(&r.topic)
                    .unwrap_or_else(|_| r.topic.clone())
            });
            let payload = vars
                .interpolate(payload)
                .unwrap_or_else(|_| payload.clone());
            let fill = |text: &String| vars.interpolate(text).unwrap_or_else(|_| text.clone());
            let request = request.as_ref().map(|r| {
                let data = r.correlation_data.as_ref().map(|d| Bytes::from(fill(d)));
                (fill(&r.response_topic), data)
            });
            a.correlation_data = request.as_ref().and_then(|(_, d)| d.clone());
            if let Some(framing) = websocket {
                a.trace(
                    now,
                    format!(
                        "cloud {} from now on",
                        DeviceAction::Misbehave(*framing)
                            .describe()
                            .replacen("wrote", "writes", 1)
                    ),
                );
                out.push(Action::Misbehave {
                    conn: a.conn,
                    what: *framing,
                    on: true,
                });
            }
            if *withhold_pubrel {
                a.trace(now, "cloud withholds PUBREL".into());
                out.push(Action::Misbehave {
                    conn: a.conn,
                    what: Misbehaviour::WithholdPubrel,
                    on: true,
                });
            }
            let what = if *count > 1 {
                a.trace(now, format!("cloud publishes {count} commands on {topic}"));
                format!(
                    "published {count} commands on {topic} at QoS {}",
                    qos.as_u8()
                )
            } else {
                a.trace(now, format!("cloud publishes a command on {topic}"));
                format!("published a command on {topic} at QoS {}", qos.as_u8())
            };
            // Published, not delivered: whether the device gets it shows in the events.
            for _ in 0..*count {
                out.push(Action::Publish {
                    topic: topic.clone(),
                    payload: Bytes::from(payload.clone()),
                    qos: *qos,
                    topic_alias: *topic_alias,
                    request: request.clone(),
                });
            }
            what
        }
        DeviceAction::Misbehave(what) => {
            a.trace(now, test.action.describe());
            out.push(Action::Misbehave {
                conn: a.conn,
                what: *what,
                on: true,
            });
            test.action.describe()
        }
        DeviceAction::Drop => {
            a.trace(now, "cloud drops the connection".into());
            out.push(Action::Drop {
                conn: a.conn,
                detail: format!("device test {}: the cloud drops the connection", test.id),
            });
            test.action.describe()
        }
        DeviceAction::Disconnect { reason } => {
            a.trace(now, format!("cloud sends DISCONNECT {reason:#04x}"));
            out.push(Action::Disconnect {
                conn: a.conn,
                reason: *reason,
                linger: a.deadline.saturating_sub(now),
            });
            test.action.describe()
        }
        DeviceAction::None => test.action.describe(),
    }
}

impl Active {
    /// The highest QoS the command's messages reached the device at.
    fn delivered_qos(&self) -> QoS {
        self.deliveries
            .iter()
            .map(|d| d.qos)
            .max()
            .unwrap_or(QoS::AtMostOnce)
    }

    /// True when `pid` is the packet id of one of the command's PUBLISHes.
    fn delivered_pid(&self, pid: u16) -> bool {
        self.deliveries.iter().any(|d| d.pid == Some(pid))
    }

    /// True when the cloud should now drop the connection of a `withhold_pubrel` command:
    /// every message of the burst was delivered and answered with PUBREC.
    fn pubrels_withheld(&self, test: &DeviceTest) -> bool {
        let DeviceAction::Command {
            withhold_pubrel: true,
            count,
            ..
        } = test.action
        else {
            return false;
        };
        !self.dropped
            && self.closed.is_none()
            && self.deliveries.iter().all(|d| d.qos == QoS::ExactlyOnce)
            && self.deliveries.len() == usize::from(count)
            && self.acked.len() == self.deliveries.len()
    }

    /// A packet on the device's next connection, where withheld QoS 2 flows resume.
    fn on_resumed(&mut self, at: Duration, from: Side, packet: &Packet) {
        match (from, packet) {
            (Side::Server, Packet::ConnAck(c)) if self.resume_present.is_none() => {
                self.resume_present = Some(c.session_present);
                self.trace(
                    at,
                    format!(
                        "the new connection's CONNACK has Session Present {}",
                        u8::from(c.session_present)
                    ),
                );
            }
            (Side::Server, Packet::PubRel(r))
                if self.acked.contains(&r.packet_id)
                    && !self.pubrel_resent.contains(&r.packet_id) =>
            {
                if self.pubrel_resent.is_empty() {
                    self.trace(at, format!("cloud re-sends PUBREL {}", r.packet_id));
                    self.pubrel_resent_at = Some(at);
                }
                self.pubrel_resent.push(r.packet_id);
            }
            (Side::Client, Packet::PubComp(r))
                if self.pubrel_resent.contains(&r.packet_id)
                    && !self.pubcomp_resumed.contains(&r.packet_id) =>
            {
                if self.pubcomp_resumed.is_empty() {
                    self.trace(at, format!("device answers PUBCOMP {}", r.packet_id));
                }
                self.pubcomp_resumed.push(r.packet_id);
            }
            _ => {}
        }
    }

    /// True when a test with no expectation has recorded all it can: every message of
    /// its command burst has been through its whole QoS flow.
    fn flows_complete(&self, test: &DeviceTest) -> bool {
        let DeviceAction::Command {
            count,
            withhold_pubrel,
            ..
        } = test.action
        else {
            return false;
        };
        let n = usize::from(count);
        if self.deliveries.len() < n {
            return false;
        }
        match (self.delivered_qos(), withhold_pubrel) {
            (QoS::AtMostOnce, _) => true,
            (QoS::AtLeastOnce, _) => self.acked.len() >= n,
            (QoS::ExactlyOnce, false) => self.completed.len() >= n,
            (QoS::ExactlyOnce, true) => {
                self.resume_present == Some(false)
                    || !self.pubrel_resent.is_empty()
                        && self.pubcomp_resumed.len() >= self.pubrel_resent.len()
                        && self.pubrel_resent.len() >= self.acked.len()
            }
        }
    }

    fn trace(&mut self, at: Duration, text: String) {
        self.trace.push(TraceLine {
            at,
            conn: format!("connection {}", self.conn),
            direction: String::new(),
            text,
        });
    }

    /// The next time an expectation's window closes (to wake up for it).
    fn next_bound(&self, test: &DeviceTest) -> Duration {
        let ka = self.keepalive;
        let acted = self.acted.unwrap_or(self.act_at);
        let e = &test.expect;
        let mut bounds = Vec::new();
        if let Some(r) = &e.reply {
            bounds.push(self.delivered.unwrap_or(acted) + r.within.resolve(ka));
        }
        if let (Some(w), None) = (e.close, &self.closed) {
            if let Some(max) = w.max {
                bounds.push(self.close_origin(test).unwrap_or(acted) + max.resolve(ka));
            }
        }
        if let (Some(w), Some(closed), None) = (e.reconnect, &self.closed, self.reconnected) {
            if let Some(max) = w.max {
                bounds.push(closed.0 + max.resolve(ka));
            }
        }
        if let (Some(w), Some((_, first)), None) = (e.resend, self.unacked, self.resent) {
            if let Some(max) = w.max {
                bounds.push(first + max.resolve(ka));
            }
        }
        if let Some(stays) = e.stays {
            bounds.push(acted + stays.resolve(ka));
        }
        bounds.into_iter().min().unwrap_or(self.deadline)
    }

    /// What a `close` expectation is timed from.
    fn close_origin(&self, test: &DeviceTest) -> Option<Duration> {
        match test.action {
            DeviceAction::Misbehave(Misbehaviour::WithholdPingresp) => self.ping,
            _ => self.acted,
        }
    }

    /// Why a `withhold_pubrel` command left nothing to judge, if it did.
    fn unresumed(&self, test: &DeviceTest) -> Option<String> {
        if !matches!(
            test.action,
            DeviceAction::Command {
                withhold_pubrel: true,
                ..
            }
        ) || !self.dropped
        {
            return None;
        }
        match (self.resumed, self.resume_present) {
            (None, _) => Some(
                "the device did not connect again after the cloud dropped it with its PUBRELs withheld, so no flow resumed".into(),
            ),
            (Some(_), Some(false)) => Some(
                "the device connected again with a new session (Session Present 0): no QoS 2 flow to resume, so its answer to a re-sent PUBREL cannot be judged (the session persists with Clean Session 0 / a Session Expiry Interval above 0)".into(),
            ),
            _ => None,
        }
    }

    /// The device closed the resumed connection with PUBCOMPs still owed for the PUBRELs
    /// the cloud re-sent there: it ends the session's QoS 2 flows instead of completing
    /// them (each reconnection meets the same PUBRELs again).
    fn release_abandoned(&self) -> Option<String> {
        let (at, by) = self.resumed_closed?;
        let resent_at = self.pubrel_resent_at?;
        let owed: Vec<String> = self
            .pubrel_resent
            .iter()
            .filter(|id| !self.pubcomp_resumed.contains(id))
            .map(u16::to_string)
            .collect();
        if by != Some(Side::Client) || owed.is_empty() {
            return None;
        }
        Some(format!(
            "the device closed the resumed connection {} after the cloud re-sent the PUBREL(s), with no PUBCOMP for packet id(s) {}",
            fmt_secs(at.saturating_sub(resent_at)),
            owed.join(", ")
        ))
    }

    /// The device closed the test's connection with a command's QoS 1/2 PUBLISH still
    /// unacknowledged: it refused the message instead of accepting it (a Topic Alias it
    /// allowed, a burst).
    fn command_abandoned(&self) -> Option<String> {
        // The device closed, or broke the WebSocket under MQTT so that the cloud had to.
        let (at, by, detail) = self.closed.as_ref()?;
        let who = match by {
            Some(Side::Client) => "the device closed the connection".to_owned(),
            Some(Side::Server) if detail.starts_with(crate::websocket::CLOSED_ON_PEER_ERROR) => {
                format!("the cloud closed the connection ({detail})")
            }
            _ => return None,
        };
        let unacked: Vec<&Delivered> = self
            .deliveries
            .iter()
            .filter(|d| d.qos != QoS::AtMostOnce && d.at <= *at)
            .filter(|d| d.pid.is_some_and(|pid| !self.acked.contains(&pid)))
            .collect();
        let first = unacked.first()?;
        let ack = if first.qos == QoS::AtLeastOnce {
            "PUBACK"
        } else {
            "PUBREC"
        };
        let ids: Vec<String> = unacked
            .iter()
            .filter_map(|d| d.pid.map(|p| p.to_string()))
            .collect();
        let alias = if first.alias_only {
            " (the first carrying the Topic Alias alone)"
        } else {
            ""
        };
        Some(format!(
            "{who} {} after the cloud's PUBLISH id {}{alias}, with no {ack} for packet id(s) {}",
            fmt_secs(at.saturating_sub(first.at)),
            ids[0],
            ids.join(", ")
        ))
    }

    /// What the device sent after the test's CONNACK, in one line: packets per type and
    /// the longest silence (up to its close or `now`), with the Keep Alive in force.
    fn sent_summary(&self, now: Duration) -> String {
        let acted = self.acted.unwrap_or(self.act_at);
        let end = self.closed.as_ref().map_or(now, |c| c.0);
        let silence = self
            .longest_silence
            .max(end.saturating_sub(self.last_sent.unwrap_or(acted)));
        let ka = format!("Keep Alive {} s", self.keepalive);
        if self.sent.is_empty() {
            return format!(
                "the device sent nothing in the {} after the CONNACK ({ka})",
                fmt_secs(end.saturating_sub(acted))
            );
        }
        let counts: Vec<String> = self
            .sent
            .iter()
            .map(|(kind, n)| format!("{n} {kind}"))
            .collect();
        format!(
            "the device sent {} after the CONNACK; longest silence {} ({ka})",
            counts.join(", "),
            fmt_secs(silence)
        )
    }

    /// What became of a command burst, in one line: deliveries, acknowledgements and a
    /// withheld flow's resumption.
    fn burst_summary(&self, count: u16, qos: QoS, acted: Duration) -> String {
        let n = self.deliveries.len();
        let span = match (self.deliveries.first(), self.deliveries.last()) {
            (Some(first), Some(last)) => format!(
                " from {} to {} after the cloud published them",
                fmt_secs(first.at.saturating_sub(acted)),
                fmt_secs(last.at.saturating_sub(acted))
            ),
            _ => String::new(),
        };
        let delivered_qos = self.delivered_qos();
        let lowered = if n > 0 && delivered_qos != qos {
            format!(" (published at QoS {})", qos.as_u8())
        } else {
            String::new()
        };
        let mut line = format!(
            "{n} of {count} command(s) delivered at QoS {}{lowered}{span}",
            delivered_qos.as_u8()
        );
        let alias_only = self.deliveries.iter().filter(|d| d.alias_only).count();
        if let Some(alias) = self.alias {
            line.push_str(&format!(
                "; the first with the topic and Topic Alias {alias}, {alias_only} with the alias alone"
            ));
        }
        match delivered_qos.max(if n == 0 { qos } else { QoS::AtMostOnce }) {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => line.push_str(&format!("; {} PUBACK(s)", self.acked.len())),
            QoS::ExactlyOnce => line.push_str(&format!(
                "; {} PUBREC(s), {} PUBCOMP(s)",
                self.acked.len(),
                self.completed.len()
            )),
        }
        if self.dropped {
            line.push_str("; PUBREL withheld and the connection dropped");
            match (self.resume_present, self.resumed) {
                (Some(present), Some(_)) => line.push_str(&format!(
                    "; reconnected with Session Present {}: {} PUBREL(s) re-sent, {} PUBCOMP(s) for them",
                    u8::from(present),
                    self.pubrel_resent.len(),
                    self.pubcomp_resumed.len()
                )),
                (None, Some(_)) => line.push_str("; reconnected (not yet accepted)"),
                _ => line.push_str("; not reconnected"),
            }
        }
        line
    }

    fn case(self, test: &DeviceTest, now: Duration, outcomes: Outcomes) -> CaseReport {
        let measured = outcomes.summary();
        let timing = outcomes.timed.map(|t| t.timing(&self.trace));
        let missed: Vec<&str> = outcomes
            .items
            .iter()
            .filter_map(|(_, o)| match o {
                Outcome::Missed(m) => Some(m.as_str()),
                _ => None,
            })
            .collect();
        let pending: Vec<&str> = outcomes
            .items
            .iter()
            .filter(|(_, o)| *o == Outcome::Pending)
            .map(|(name, _)| *name)
            .collect();
        let undelivered = match (&test.action, self.acted, self.delivered) {
            (DeviceAction::Command { .. }, Some(_), None) => self.command_topic.as_deref(),
            _ => None,
        };
        let unresumed = self.unresumed(test);
        let verdict = if let Some(why) = unresumed {
            Verdict::Inconclusive { message: why }
        } else if let Some(why) = self
            .release_abandoned()
            .or_else(|| self.command_abandoned())
        {
            test.status.missed(why)
        } else if let Some(topic) = undelivered {
            // The action did not happen as far as the device is concerned: nothing it did
            // or did not do afterwards is a reaction to it.
            let why = match &self.closed {
                Some((t, by, _)) => format!(
                    "the connection was closed by {} {} after the cloud published it",
                    who(*by),
                    fmt_secs(t.saturating_sub(self.acted.unwrap_or(self.act_at)))
                ),
                None => "none of its subscriptions matches the topic".into(),
            };
            Verdict::Inconclusive {
                message: format!(
                    "the command on {topic} was never delivered to the device ({why}), so its reaction cannot be judged"
                ),
            }
        } else if !missed.is_empty() {
            let mut message = missed.join("; ");
            if let Some(note) = &test.note {
                message.push_str(&format!(" ({note})"));
            }
            test.status.missed(message)
        } else if !pending.is_empty() {
            Verdict::Inconclusive {
                message: format!("not decided: {}", pending.join(", ")),
            }
        } else if test.expect.is_empty() {
            Verdict::Recorded {
                message: measured
                    .clone()
                    .unwrap_or_else(|| "nothing happened".into()),
            }
        } else {
            Verdict::Passed
        };
        CaseReport {
            id: test.id.clone(),
            title: test.title.clone(),
            cites: test.cites.clone(),
            verdict,
            branch: None,
            measured,
            duration: now.saturating_sub(self.started),
            trace: self.trace,
            timing,
        }
    }
}

/// Every expectation's outcome, plus what was observed without an expectation.
#[derive(Debug)]
struct Outcomes {
    items: Vec<(&'static str, Outcome)>,
    /// The window of the first expectation missed, else of the last one timed.
    timed: Option<Timed>,
    observed: Vec<String>,
    /// A recording test has seen its command's flows through.
    complete: bool,
}

impl Outcomes {
    /// Judges `a` at `now`; `last` turns what is still pending into a miss where the
    /// window is open-ended (a deadline passed).
    fn evaluate(a: &Active, test: &DeviceTest, now: Duration, last: bool) -> Self {
        let ka = a.keepalive;
        let acted = a.acted.unwrap_or(a.act_at);
        let e = &test.expect;
        let mut items = Vec::new();
        let mut observed = Vec::new();
        let mut timed: Option<Timed> = None;
        if let DeviceAction::Command {
            count,
            qos,
            withhold_pubrel,
            ..
        } = test.action
        {
            match a.delivered {
                Some(_) if count > 1 || withhold_pubrel => {
                    observed.push(a.burst_summary(count, qos, acted));
                }
                Some(t) => observed.push(format!(
                    "command delivered {} after the cloud published it",
                    fmt_secs(t.saturating_sub(acted))
                )),
                None if a.acted.is_some() => {
                    observed.push("the command was not delivered (no matching subscription)".into())
                }
                None => {}
            }
        }
        if let Some(r) = &e.reply {
            let origin = a.delivered.unwrap_or(acted);
            let within = r.within.resolve(ka);
            let outcome = match &a.reply {
                Some((t, shape)) => {
                    let d = t.saturating_sub(origin);
                    match (d <= within, shape) {
                        (true, Ok(())) => Outcome::Met(format!(
                            "replied after {} (window ≤ {})",
                            fmt_secs(d),
                            fmt_secs(within)
                        )),
                        (true, Err(m)) => Outcome::Missed(format!(
                            "replied after {} but the payload is wrong: {m}",
                            fmt_secs(d)
                        )),
                        (false, _) => Outcome::Missed(format!(
                            "replied after {}, window ≤ {}: late by {}",
                            fmt_secs(d),
                            fmt_secs(within),
                            fmt_secs(d - within)
                        )),
                    }
                }
                None if now >= origin + within || a.closed.is_some() && last => {
                    Outcome::Missed(format!(
                        "no reply on {} within {}",
                        a.reply_topic.as_deref().unwrap_or(&r.topic),
                        fmt_secs(within)
                    ))
                }
                None => Outcome::Pending,
            };
            Timed::keep(
                &mut timed,
                &outcome,
                "reply",
                origin,
                (None, Some(within)),
                a.reply.as_ref().map(|r| r.0),
            );
            items.push(("reply", outcome));
        }
        if matches!(
            test.action,
            DeviceAction::Misbehave(Misbehaviour::WithholdPingresp)
        ) {
            if let Some(p) = a.ping {
                observed.push(format!(
                    "first PINGREQ left unanswered {} after PINGRESP was withheld",
                    fmt_secs(p.saturating_sub(acted))
                ));
            }
        }
        let close_origin = a.close_origin(test);
        match (e.close, &a.closed) {
            (Some(w), closed) => {
                let outcome = match (closed, close_origin) {
                    (Some((t, Some(Side::Server), detail)), _) => Outcome::Missed(format!(
                        "the cloud closed the connection first, after {} ({detail})",
                        fmt_secs(t.saturating_sub(acted))
                    )),
                    (Some((t, _, _)), origin) => {
                        let origin = origin.unwrap_or(acted);
                        window_outcome(
                            "closed the connection",
                            t.saturating_sub(origin),
                            w,
                            ka,
                            origin_name(test),
                        )
                    }
                    (None, Some(origin)) => match w.max {
                        Some(max) if now >= origin + max.resolve(ka) => Outcome::Missed(format!(
                            "still connected {} after {}; window ≤ {}",
                            fmt_secs(now.saturating_sub(origin)),
                            origin_name(test),
                            fmt_secs(max.resolve(ka))
                        )),
                        _ if last => Outcome::Missed(format!(
                            "did not close the connection within {} of {}",
                            fmt_secs(now.saturating_sub(origin)),
                            origin_name(test)
                        )),
                        _ => Outcome::Pending,
                    },
                    (None, None) if last => Outcome::Missed(match test.action {
                        DeviceAction::Misbehave(Misbehaviour::WithholdPingresp) => format!(
                            "sent no PINGREQ within {} of PINGRESP being withheld",
                            fmt_secs(now.saturating_sub(acted))
                        ),
                        _ => "did not close the connection".into(),
                    }),
                    (None, None) => Outcome::Pending,
                };
                Timed::keep(
                    &mut timed,
                    &outcome,
                    "close",
                    close_origin.unwrap_or(acted),
                    w.resolve(ka),
                    a.closed.as_ref().map(|c| c.0),
                );
                items.push(("close", outcome));
            }
            (None, Some((t, by, detail))) => observed.push(format!(
                "connection closed by {} {} after {} ({detail})",
                who(*by),
                fmt_secs(t.saturating_sub(close_origin.unwrap_or(acted))),
                origin_name(test)
            )),
            (None, None) => {}
        }
        if let Some(w) = e.reconnect {
            let outcome = match (&a.closed, a.reconnected) {
                (Some((closed, _, _)), Some(t)) => {
                    window_outcome("reconnected", t.saturating_sub(*closed), w, ka, "the close")
                }
                (Some((closed, _, _)), None) => match w.max {
                    Some(max) if now >= *closed + max.resolve(ka) => Outcome::Missed(format!(
                        "did not reconnect within {} of the close",
                        fmt_secs(max.resolve(ka))
                    )),
                    _ if last => Outcome::Missed(format!(
                        "did not reconnect within {} of the close",
                        fmt_secs(now.saturating_sub(*closed))
                    )),
                    _ => Outcome::Pending,
                },
                (None, _) if last => {
                    Outcome::Missed("the connection never ended, so no reconnect to time".into())
                }
                (None, _) => Outcome::Pending,
            };
            if let Some((closed, _, _)) = &a.closed {
                Timed::keep(
                    &mut timed,
                    &outcome,
                    "reconnect",
                    *closed,
                    w.resolve(ka),
                    a.reconnected,
                );
            }
            items.push(("reconnect", outcome));
        } else if let (Some((closed, _, _)), Some(t)) = (&a.closed, a.reconnected) {
            observed.push(format!(
                "reconnected {} after the close",
                fmt_secs(t.saturating_sub(*closed))
            ));
        }
        if let Some(w) = e.resend {
            let outcome = match (a.unacked, a.resent) {
                (Some((_, first)), Some(t)) => window_outcome(
                    "re-sent the PUBLISH",
                    t.saturating_sub(first),
                    w,
                    ka,
                    "its first sending",
                ),
                (Some((_, first)), None) => match w.max {
                    Some(max) if now >= first + max.resolve(ka) => Outcome::Missed(format!(
                        "did not re-send the unacknowledged PUBLISH within {}",
                        fmt_secs(max.resolve(ka))
                    )),
                    _ if last => Outcome::Missed(format!(
                        "did not re-send the unacknowledged PUBLISH within {}",
                        fmt_secs(now.saturating_sub(first))
                    )),
                    _ => Outcome::Pending,
                },
                (None, _) if last => {
                    Outcome::Missed("sent no QoS 1/2 PUBLISH while PUBACK was withheld".into())
                }
                (None, _) => Outcome::Pending,
            };
            if let Some((_, first)) = a.unacked {
                Timed::keep(
                    &mut timed,
                    &outcome,
                    "resend",
                    first,
                    w.resolve(ka),
                    a.resent,
                );
            }
            items.push(("resend", outcome));
        }
        if e.keeps_assigned_id {
            let assigned = a.assigned_id.as_deref().unwrap_or_default();
            let outcome = match (&a.closed, a.reconnected, a.reconnect_id.as_deref()) {
                (Some((closed, _, _)), Some(t), Some(id)) => {
                    let after = fmt_secs(t.saturating_sub(*closed));
                    if id == assigned {
                        Outcome::Met(format!(
                            "reconnected {after} after the close under its Assigned Client Identifier {assigned:?}"
                        ))
                    } else if id.is_empty() {
                        Outcome::Missed(format!(
                            "reconnected {after} after the close with an empty client id again, not its Assigned Client Identifier {assigned:?}: each connection gets a new identifier, so its session cannot resume"
                        ))
                    } else {
                        Outcome::Missed(format!(
                            "reconnected {after} after the close as {id:?}, not under its Assigned Client Identifier {assigned:?}"
                        ))
                    }
                }
                _ if last => Outcome::Missed(format!(
                    "did not reconnect within {} of the action",
                    fmt_secs(now.saturating_sub(acted))
                )),
                _ => Outcome::Pending,
            };
            items.push(("keeps_assigned_id", outcome));
        }
        if e.authenticates {
            let opening = a.opening.describe();
            let rounds = match a.reauth_started {
                0 => "; it started no re-authentication".to_owned(),
                n => format!(
                    "; {} of its {n} re-authentication(s) completed",
                    a.reauth_done
                ),
            };
            let outcome = match (&a.reauth_failed, &a.closed) {
                (Some(why), _) => Outcome::Missed(format!("{opening}; {why}")),
                // The connection was accepted: the answer passed; re-authentications are
                // recorded until the test ends.
                (None, Some(_)) => Outcome::Met(format!("{opening}{rounds}")),
                (None, None) if last => Outcome::Met(format!("{opening}{rounds}")),
                (None, None) => Outcome::Pending,
            };
            items.push(("authenticates", outcome));
        }
        if let Some(stays) = e.stays {
            let need = stays.resolve(ka);
            let outcome = match &a.closed {
                Some((t, _, detail)) if t.saturating_sub(acted) < need => Outcome::Missed(format!(
                    "connection closed after {} ({detail}); expected it to stay ≥ {}",
                    fmt_secs(t.saturating_sub(acted)),
                    fmt_secs(need)
                )),
                _ if now >= acted + need => {
                    Outcome::Met(format!("stayed connected ≥ {}", fmt_secs(need)))
                }
                _ => Outcome::Pending,
            };
            items.push(("stays", outcome));
        }
        if let DeviceAction::None = test.action {
            observed.push(a.sent_summary(now));
        }
        if let (DeviceAction::Misbehave(Misbehaviour::WithholdPuback), None) =
            (&test.action, e.resend)
        {
            // Without a resend expectation: how many the device let go unacknowledged
            // (what a Receive Maximum bounds).
            observed.push(format!(
                "{} QoS 1/2 PUBLISH(es) with distinct packet ids left unacknowledged, {} re-sent with DUP 1",
                a.unacked_ids.len(),
                a.dup_resends
            ));
        }
        // A test with no expectation records until its deadline, or until its command's
        // flows are complete.
        let complete = e.is_empty() && a.flows_complete(test);
        Self {
            items,
            timed,
            observed,
            complete,
        }
    }

    /// Every expectation is met or missed. A test with none (it only records) is decided
    /// by its deadline, or once its command's flows are complete.
    fn decided(&self) -> bool {
        if self.items.is_empty() {
            return self.complete;
        }
        !self.items.iter().any(|(_, o)| *o == Outcome::Pending)
    }

    /// Everything measured, in one line.
    fn summary(&self) -> Option<String> {
        let mut parts: Vec<String> = self.observed.clone();
        for (_, o) in &self.items {
            if let Outcome::Met(m) | Outcome::Missed(m) = o {
                parts.push(m.clone());
            }
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// An expectation's window on the run's clock, for the report's diagram.
#[derive(Debug, Clone, Copy)]
struct Timed {
    missed: bool,
    what: &'static str,
    origin: Duration,
    /// The window's bounds, relative to `origin`.
    bounds: (Option<Duration>, Option<Duration>),
    at: Option<Duration>,
}

impl Timed {
    /// Keeps this window unless one already kept was missed (the first miss stays).
    fn keep(
        kept: &mut Option<Timed>,
        outcome: &Outcome,
        what: &'static str,
        origin: Duration,
        bounds: (Option<Duration>, Option<Duration>),
        at: Option<Duration>,
    ) {
        if kept.is_some_and(|k| k.missed) || *outcome == Outcome::Pending {
            return;
        }
        *kept = Some(Timed {
            missed: matches!(outcome, Outcome::Missed(_)),
            what,
            origin,
            bounds,
            at,
        });
    }

    /// The report's timing; the missed event's line is found in `trace`.
    fn timing(self, trace: &[TraceLine]) -> Timing {
        Timing {
            conn: None,
            anchor: Some(self.origin),
            from: self.bounds.0.map(|d| self.origin + d),
            to: self.bounds.1.map(|d| self.origin + d),
            measured: self.at,
            what: self.what.to_owned(),
            offending: match (self.missed, self.at) {
                (true, Some(at)) => Timing::line_at(trace, None, at),
                _ => None,
            },
        }
    }
}

/// `d` against window `w`; below its lower bound by at most [`DEVICE_TIMER_TOLERANCE`] holds,
/// and says so.
fn window_outcome(what: &str, d: Duration, w: Window, ka: u16, origin: &str) -> Outcome {
    let (min, max) = w.resolve(ka);
    let shown = match (min, max) {
        (Some(lo), Some(hi)) => format!("window {}–{}", fmt_secs(lo), fmt_secs(hi)),
        (Some(lo), None) => format!("window ≥ {}", fmt_secs(lo)),
        (None, Some(hi)) => format!("window ≤ {}", fmt_secs(hi)),
        (None, None) => "no window".into(),
    };
    let tolerance = format!(
        "{} of tolerance below the window: the device times from when it sees the event, a network away",
        fmt_secs(DEVICE_TIMER_TOLERANCE)
    );
    let text = format!("{what} {} after {origin} ({shown})", fmt_secs(d));
    match (min, max) {
        (Some(lo), _) if d + DEVICE_TIMER_TOLERANCE < lo => Outcome::Missed(format!(
            "{text}: too early by {} ({tolerance})",
            fmt_secs(lo - d)
        )),
        (Some(lo), _) if d < lo => Outcome::Met(format!(
            "{text}: early by {}, within the {tolerance}",
            fmt_secs(lo - d)
        )),
        (_, Some(hi)) if d > hi => Outcome::Missed(format!("{text}: late by {}", fmt_secs(d - hi))),
        _ => Outcome::Met(text),
    }
}

fn origin_name(test: &DeviceTest) -> &'static str {
    match test.action {
        DeviceAction::Misbehave(Misbehaviour::WithholdPingresp) => "the unanswered PINGREQ",
        DeviceAction::Drop => "the drop",
        DeviceAction::Disconnect { .. } => "the DISCONNECT",
        DeviceAction::None => "the CONNACK",
        _ => "the action",
    }
}

fn who(by: Option<Side>) -> &'static str {
    match by {
        Some(Side::Client) => "the device",
        Some(Side::Server) => "the cloud",
        None => "either side",
    }
}

/// Whether a reply's `properties` carry the request's Correlation Data `sent` unchanged.
fn correlation_echoed(
    sent: Option<&Bytes>,
    properties: &crate::codec::Properties,
) -> Result<(), String> {
    let got = match properties.get(PropertyId::CorrelationData) {
        Some(crate::codec::PropertyValue::Binary(b)) => Some(b),
        _ => None,
    };
    let show = |b: &Bytes| format!("[{}]", crate::event::hex_preview(b));
    match (sent, got) {
        (Some(s), Some(g)) if s == g => Ok(()),
        (Some(s), Some(g)) => Err(format!(
            "the reply carries Correlation Data {}, not the request's {}",
            show(g),
            show(s)
        )),
        (Some(s), None) => Err(format!(
            "the reply carries no Correlation Data (the request's was {})",
            show(s)
        )),
        (None, _) => Ok(()),
    }
}

/// A connection whose enhanced authentication failed before any CONNACK accepted it
/// (`what` happened): the device's authentication test, when it is the next, fails.
fn authentication_failed(tests: &[DeviceTest], run: &mut DeviceRun, auth: &AuthSeen, what: String) {
    let Some(test) = tests.get(run.next).filter(|t| t.expect.authenticates) else {
        return;
    };
    if run.active.is_some() {
        return;
    }
    let mut case = skipped(test, String::new());
    case.verdict = test.status.missed(format!("{}; {what}", auth.describe()));
    run.cases.push(case);
    run.next += 1;
}

fn skipped(test: &DeviceTest, reason: String) -> CaseReport {
    CaseReport {
        id: test.id.clone(),
        title: test.title.clone(),
        cites: test.cites.clone(),
        verdict: Verdict::Skipped { reason },
        branch: None,
        measured: None,
        duration: Duration::ZERO,
        trace: Vec::new(),
        timing: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{ConnAck, Connect, Properties, ProtocolVersion, PubResponse, Publish};

    fn tests_of(yaml_device_tests: &str) -> Vec<DeviceTest> {
        let text = format!("name: t\nprotocol: \"3.1.1\"\ndevice_tests:\n{yaml_device_tests}");
        crate::suite::load_str("t.yaml", &text)
            .unwrap_or_else(|e| panic!("{e}"))
            .device_tests
    }

    fn at(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    fn ev(conn: u64, ms: u64, from: Side, kind: EventKind) -> Event {
        Event {
            conn,
            at: at(ms),
            from,
            kind,
        }
    }

    fn packet(conn: u64, ms: u64, from: Side, p: Packet) -> Event {
        ev(
            conn,
            ms,
            from,
            EventKind::Packet {
                bytes: Bytes::new(),
                packet: Ok(p),
            },
        )
    }

    /// Opens connection `conn` of device `dev` at `ms` with Keep Alive `ka`, accepted.
    fn connect(s: &mut Scenarios, conn: u64, ms: u64, ka: u16) -> Vec<Action> {
        let mut c = Connect::new(ProtocolVersion::V3_1_1, "dev");
        c.keep_alive = ka;
        let mut actions = s
            .observe(&ev(conn, ms, Side::Client, EventKind::opened(None)))
            .0;
        actions.extend(
            s.observe(&packet(conn, ms, Side::Client, Packet::Connect(c.into())))
                .0,
        );
        let ack = ConnAck {
            session_present: false,
            code: 0,
            properties: Properties::new(),
        };
        actions.extend(
            s.observe(&packet(conn, ms, Side::Server, Packet::ConnAck(ack)))
                .0,
        );
        actions
    }

    fn closed(conn: u64, ms: u64, by: Side) -> Event {
        ev(
            conn,
            ms,
            by,
            EventKind::Closed {
                by: Some(by),
                detail: "EOF".into(),
            },
        )
    }

    #[test]
    fn an_unacknowledged_publish_sent_again_in_time_passes_with_its_timing() {
        let tests = tests_of(
            "  - id: A\n    title: a\n    action: withhold_puback\n    expect: { resend: { within: 10s } }\n",
        );
        let mut s = Scenarios::new(tests, Vars::new(), Duration::ZERO);
        let actions = connect(&mut s, 1, 0, 30);
        assert_eq!(
            actions,
            vec![Action::Misbehave {
                conn: 1,
                what: Misbehaviour::WithholdPuback,
                on: true
            }]
        );
        let mut p = Publish::new("t", "x");
        p.qos = QoS::AtLeastOnce;
        p.packet_id = Some(7);
        s.observe(&packet(1, 1_000, Side::Client, Packet::Publish(p.clone())));
        p.dup = true;
        let (actions, updates) = s.observe(&packet(1, 4_500, Side::Client, Packet::Publish(p)));
        // Decided: the misbehaviour is switched off for the rest of the connection.
        assert_eq!(
            actions,
            vec![Action::Misbehave {
                conn: 1,
                what: Misbehaviour::WithholdPuback,
                on: false
            }]
        );
        let Update::Decided { case, .. } = &updates[0] else {
            panic!("{updates:?}")
        };
        assert_eq!(case.verdict, Verdict::Passed);
        assert_eq!(
            case.measured.as_deref(),
            Some("re-sent the PUBLISH 3.50 s after its first sending (window ≤ 10.00 s)")
        );
    }

    #[test]
    fn a_close_outside_its_window_fails_and_says_by_how_much() {
        let tests = tests_of(
            "  - id: P\n    title: p\n    action: withhold_pingresp\n    expect: { close: { within: 1.5x keepalive } }\n",
        );
        let mut s = Scenarios::new(tests, Vars::new(), Duration::ZERO);
        connect(&mut s, 1, 0, 10);
        s.observe(&packet(1, 10_000, Side::Client, Packet::PingReq));
        let (_, updates) = s.observe(&closed(1, 26_000, Side::Client));
        let Update::Decided { case, .. } = &updates[0] else {
            panic!("{updates:?}")
        };
        assert_eq!(
            case.verdict,
            Verdict::Failed {
                message: "closed the connection 16.00 s after the unanswered PINGREQ (window ≤ 15.00 s): late by 1.00 s".into()
            }
        );
    }

    #[test]
    fn a_device_that_never_closes_misses_the_window_when_time_passes() {
        let tests = tests_of(
            "  - id: P\n    title: p\n    status: INF\n    action: withhold_pingresp\n    expect: { close: { within: 2s } }\n",
        );
        let mut s = Scenarios::new(tests, Vars::new(), Duration::ZERO);
        connect(&mut s, 1, 0, 10);
        s.observe(&packet(1, 10_000, Side::Client, Packet::PingReq));
        assert_eq!(s.next_wakeup(), Some(at(12_000)));
        assert!(s.tick(at(11_999)).1.is_empty());
        let (_, updates) = s.tick(at(12_000));
        let Update::Decided { case, .. } = &updates[0] else {
            panic!("{updates:?}")
        };
        assert!(
            matches!(&case.verdict, Verdict::Warning { message } if message.contains("still connected 2.00 s after the unanswered PINGREQ")),
            "{:?}",
            case.verdict
        );
    }

    /// A reconnect measured a few milliseconds under the window's lower bound holds (the
    /// device times from when it sees the close), and the verdict says by how much.
    #[test]
    fn a_reconnect_just_under_the_lower_bound_holds_within_the_tolerance() {
        let tests = tests_of(
            "  - id: D\n    title: d\n    action: drop\n    after: 1s\n    expect: { reconnect: { after: 1s, within: 5s } }\n",
        );
        let mut s = Scenarios::new(tests, Vars::new(), Duration::ZERO);
        connect(&mut s, 1, 0, 30);
        let (actions, _) = s.tick(at(1_000));
        assert!(matches!(&actions[..], [Action::Drop { conn: 1, .. }]));
        s.observe(&closed(1, 1_010, Side::Server));
        connect(&mut s, 2, 2_006, 30);
        let cases = s.finish(at(3_000));
        let case = &cases["dev"][0];
        assert_eq!(case.verdict, Verdict::Passed, "{case:?}");
        let measured = case.measured.as_deref().unwrap_or_default();
        assert!(
            measured.contains("reconnected 1.00 s after the close (window 1.00 s–5.00 s): early by 0.00 s, within the 0.10 s of tolerance"),
            "{measured}"
        );
    }

    #[test]
    fn tests_run_in_order_across_connections_and_unreached_ones_are_skipped() {
        let tests = tests_of(concat!(
            "  - id: D\n    title: d\n    action: drop\n    after: 1s\n    expect: { reconnect: { after: 1s, within: 5s } }\n",
            "  - id: S\n    title: s\n    action: reject_subscriptions\n    expect: { stays: 3s }\n",
            "  - id: Z\n    title: z\n    action: drop\n",
        ));
        let mut s = Scenarios::new(tests, Vars::new(), Duration::ZERO);
        connect(&mut s, 1, 0, 30);
        assert_eq!(s.next_wakeup(), Some(at(1_000)));
        let (actions, _) = s.tick(at(1_000));
        assert!(matches!(&actions[..], [Action::Drop { conn: 1, .. }]));
        s.observe(&closed(1, 1_010, Side::Server));
        // The reconnect decides D; S starts on the new connection once it is accepted.
        let actions = connect(&mut s, 2, 1_600, 30);
        assert_eq!(
            actions,
            vec![Action::Misbehave {
                conn: 2,
                what: Misbehaviour::RejectSubscriptions,
                on: true
            }]
        );
        let cases = s.finish(at(2_000));
        let cases = &cases["dev"];
        assert_eq!(cases[0].id, "D");
        assert!(
            matches!(&cases[0].verdict, Verdict::Failed { message } if message.contains("reconnected 0.59 s after the close (window 1.00 s–5.00 s): too early by 0.41 s (0.10 s of tolerance below the window")),
            "{:?}",
            cases[0].verdict
        );
        assert!(
            matches!(&cases[1].verdict, Verdict::Inconclusive { message } if message.starts_with("the run ended 0.40 s after the test started")),
            "{:?}",
            cases[1].verdict
        );
        assert!(matches!(cases[2].verdict, Verdict::Skipped { .. }));
    }

    /// A command whose topic no subscription of the device matches never reaches it: the
    /// test cannot judge the reply (inconclusive, with the reason), and every message
    /// names the topic with its placeholders filled.
    #[test]
    fn an_undelivered_command_is_inconclusive_and_names_the_expanded_topic() {
        let text = concat!(
            "name: t\nprotocol: \"3.1.1\"\nparams:\n  pk: { example: P1 }\ndevice_tests:\n",
            "  - id: C\n    title: c\n    after: 1s\n    action:\n      command: { topic: \"/sys/${pk}/d/set\", qos: 1 }\n",
            "    expect: { reply: { topic: \"/sys/${pk}/d/set_reply\", within: 5s } }\n",
        );
        let tests = crate::suite::load_str("t.yaml", text)
            .unwrap_or_else(|e| panic!("{e}"))
            .device_tests;
        let mut vars = Vars::new();
        vars.set("pk", "P1");
        let mut s = Scenarios::new(tests, vars, Duration::ZERO);
        connect(&mut s, 1, 0, 30);
        let (actions, updates) = s.tick(at(1_000));
        assert!(
            matches!(&actions[..], [Action::Publish { topic, .. }] if topic == "/sys/P1/d/set"),
            "{actions:?}"
        );
        let [Update::Acted { what, .. }] = &updates[..] else {
            panic!("{updates:?}")
        };
        assert_eq!(what, "published a command on /sys/P1/d/set at QoS 1");
        // No PUBLISH to the device follows: nothing matched the command's topic.
        let (_, updates) = s.tick(at(6_000));
        let Update::Decided { case, .. } = &updates[0] else {
            panic!("{updates:?}")
        };
        assert_eq!(
            case.verdict,
            Verdict::Inconclusive {
                message: "the command on /sys/P1/d/set was never delivered to the device (none of its subscriptions matches the topic), so its reaction cannot be judged".into()
            }
        );
        let text = format!("{case:?}");
        assert!(!text.contains("${"), "{text}");
    }

    /// A connection that ends before the command reaches the device: inconclusive too,
    /// and the reason says so rather than blaming the subscriptions.
    #[test]
    fn a_command_cut_off_by_the_close_is_inconclusive_and_says_why() {
        let tests = tests_of(concat!(
            "  - id: C\n    title: c\n    action:\n      command: { topic: \"t/set\", qos: 1 }\n",
            "    expect: { reply: { topic: \"t/reply\", within: 5s } }\n",
        ));
        let mut s = Scenarios::new(tests, Vars::new(), Duration::ZERO);
        connect(&mut s, 1, 0, 30);
        s.observe(&closed(1, 500, Side::Client));
        let cases = s.finish(at(20_000));
        assert_eq!(
            cases["dev"][0].verdict,
            Verdict::Inconclusive {
                message: "the command on t/set was never delivered to the device (the connection was closed by the device 0.50 s after the cloud published it), so its reaction cannot be judged".into()
            }
        );
    }

    #[test]
    fn a_recording_test_records_what_it_saw_at_its_deadline() {
        let tests = tests_of(
            "  - id: R\n    title: r\n    status: NP\n    action: withhold_suback\n    timeout: 5s\n",
        );
        let mut s = Scenarios::new(tests, Vars::new(), Duration::ZERO);
        connect(&mut s, 1, 0, 30);
        s.observe(&closed(1, 2_000, Side::Client));
        let (_, updates) = s.tick(at(5_000));
        let Update::Decided { case, .. } = &updates[0] else {
            panic!("{updates:?}")
        };
        assert_eq!(
            case.verdict,
            Verdict::Recorded {
                message: "connection closed by the device 2.00 s after the action (EOF)".into()
            }
        );
    }

    /// Request/Response: the command carries the Response Topic and Correlation Data
    /// (placeholders filled); a reply on the Response Topic passes only with the Correlation
    /// Data unchanged.
    #[test]
    fn a_request_is_answered_on_its_response_topic_with_the_correlation_data() {
        let yaml = concat!(
            "  - id: Q\n    title: q\n    action:\n      command: { topic: \"t/set\", qos: 1, ",
            "response_topic: \"${client_id}/resp\", correlation_data: \"c-${test}\" }\n",
            "    expect: { reply: { topic: \"${client_id}/resp\", within: 5s, echoes_correlation_data: true } }\n",
        );
        let reply = |data: &[u8]| {
            let mut p = Publish::new("dev/resp", "answer");
            p.properties = Properties::new().with(
                PropertyId::CorrelationData,
                crate::codec::PropertyValue::Binary(Bytes::copy_from_slice(data)),
            );
            Packet::Publish(p)
        };
        for (data, want) in [
            (&b"c-Q"[..], None),
            (
                &b"c-X"[..],
                Some("the reply carries Correlation Data [63 2d 58], not the request's [63 2d 51]"),
            ),
        ] {
            let mut s = Scenarios::new(tests5_of(yaml), Vars::new(), Duration::ZERO);
            let actions = connect5(&mut s, 1, 0, true, 0, ack(false, Properties::new()));
            assert!(
                matches!(&actions[..], [Action::Publish { request: Some((topic, Some(c))), .. }] if topic == "dev/resp" && &c[..] == b"c-Q"),
                "{actions:?}"
            );
            s.observe(&packet(
                1,
                10,
                Side::Server,
                delivered(1, "t/set", QoS::AtLeastOnce, None),
            ));
            let (_, updates) = s.observe(&packet(1, 20, Side::Client, reply(data)));
            let case = decided(&updates);
            match want {
                None => assert_eq!(case.verdict, Verdict::Passed, "{case:?}"),
                Some(why) => assert!(
                    matches!(&case.verdict, Verdict::Failed { message } if message.contains(why)),
                    "{case:?}"
                ),
            }
        }
    }

    /// An empty client id: the test records whether the device comes back under the
    /// identifier its CONNACK assigned; a device with its own id is not tested.
    #[test]
    fn a_device_is_seen_coming_back_under_its_assigned_client_identifier() {
        let yaml = concat!(
            "  - id: I\n    title: i\n    status: NP\n    action: drop\n",
            "    expect: { keeps_assigned_id: true }\n    timeout: 20s\n",
        );
        let open = |s: &mut Scenarios, conn: u64, ms: u64, id: &str, assigned: Option<&str>| {
            s.observe(&ev(conn, ms, Side::Client, EventKind::opened(None)));
            let c = Connect::new(ProtocolVersion::V5, id);
            s.observe(&packet(conn, ms, Side::Client, Packet::Connect(c.into())));
            let mut properties = Properties::new();
            if let Some(a) = assigned {
                properties = properties.with(
                    PropertyId::AssignedClientIdentifier,
                    crate::codec::PropertyValue::String(a.to_owned().into()),
                );
            }
            s.observe(&packet(
                conn,
                ms,
                Side::Server,
                Packet::ConnAck(ack(false, properties)),
            ))
            .0
        };
        for (back_as, want) in [
            ("srv-1", Verdict::Passed),
            ("", Verdict::Recorded {
                message: "reconnected 0.90 s after the close with an empty client id again, not its Assigned Client Identifier \"srv-1\": each connection gets a new identifier, so its session cannot resume".into(),
            }),
        ] {
            let mut s = Scenarios::new(tests5_of(yaml), Vars::new(), Duration::ZERO);
            let actions = open(&mut s, 1, 0, "", Some("srv-1"));
            assert!(matches!(&actions[..], [Action::Drop { conn: 1, .. }]), "{actions:?}");
            s.observe(&closed(1, 100, Side::Server));
            open(&mut s, 2, 1_000, back_as, (back_as.is_empty()).then_some("srv-2"));
            let cases = s.finish(at(2_000));
            let case = &cases[""][0];
            match (&want, &case.verdict) {
                (Verdict::Passed, Verdict::Passed) => {}
                (Verdict::Recorded { message: w }, Verdict::Recorded { message: got }) => {
                    assert!(got.starts_with(w.as_str()), "{got}");
                }
                _ => panic!("{case:?}"),
            }
        }
        // Its own client id: not tested.
        let mut s = Scenarios::new(tests5_of(yaml), Vars::new(), Duration::ZERO);
        open(&mut s, 1, 0, "dev", None);
        let cases = s.finish(at(100));
        assert!(
            matches!(&cases["dev"][0].verdict, Verdict::Skipped { reason } if reason.contains("assigned the device no client identifier")),
            "{:?}",
            cases["dev"][0]
        );
    }

    fn tests5_of(yaml_device_tests: &str) -> Vec<DeviceTest> {
        let text = format!("name: t\nprotocol: \"5\"\ndevice_tests:\n{yaml_device_tests}");
        crate::suite::load_str("t.yaml", &text)
            .unwrap_or_else(|e| panic!("{e}"))
            .device_tests
    }

    /// Opens 5.0 connection `conn` of device `dev` (Clean Start `clean`, Topic Alias
    /// Maximum `alias_max`), answered with `ack`.
    fn connect5(
        s: &mut Scenarios,
        conn: u64,
        ms: u64,
        clean: bool,
        alias_max: u16,
        ack: ConnAck,
    ) -> Vec<Action> {
        let mut c = Connect::new(ProtocolVersion::V5, "dev");
        c.keep_alive = 30;
        c.clean_session = clean;
        if alias_max > 0 {
            c.properties = Properties::new().with(
                PropertyId::TopicAliasMaximum,
                crate::codec::PropertyValue::TwoByteInteger(alias_max),
            );
        }
        let mut actions = s
            .observe(&ev(conn, ms, Side::Client, EventKind::opened(None)))
            .0;
        actions.extend(
            s.observe(&packet(conn, ms, Side::Client, Packet::Connect(c.into())))
                .0,
        );
        actions.extend(
            s.observe(&packet(conn, ms, Side::Server, Packet::ConnAck(ack)))
                .0,
        );
        actions
    }

    fn ack(session_present: bool, properties: Properties) -> ConnAck {
        ConnAck {
            session_present,
            code: 0,
            properties,
        }
    }

    fn subscribe(s: &mut Scenarios, conn: u64, ms: u64, filter: &str) -> Vec<Action> {
        let sub = crate::codec::Subscribe {
            packet_id: 1,
            properties: Properties::new(),
            subscriptions: vec![crate::codec::Subscription {
                filter: filter.into(),
                options: Default::default(),
            }],
        };
        let mut actions = s
            .observe(&packet(conn, ms, Side::Client, Packet::Subscribe(sub)))
            .0;
        let suback = crate::codec::SubAck {
            packet_id: 1,
            properties: Properties::new(),
            return_codes: vec![1],
        };
        actions.extend(
            s.observe(&packet(conn, ms, Side::Server, Packet::SubAck(suback)))
                .0,
        );
        actions
    }

    fn delivered(pid: u16, topic: &str, qos: QoS, alias: Option<u16>) -> Packet {
        let mut p = Publish::new(topic, "x");
        p.qos = qos;
        p.packet_id = Some(pid);
        if let Some(alias) = alias {
            p.properties = Properties::new().with(
                PropertyId::TopicAlias,
                crate::codec::PropertyValue::TwoByteInteger(alias),
            );
        }
        Packet::Publish(p)
    }

    fn decided(updates: &[Update]) -> &CaseReport {
        updates
            .iter()
            .find_map(|u| match u {
                Update::Decided { case, .. } => Some(&**case),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no decision in {updates:?}"))
    }

    /// A test with its own CONNACK on a device connected under the platform's: the server
    /// is told to answer the device's next CONNECT with it and the connection is dropped;
    /// the test starts on the reconnect. The next test, without one, gets the platform's
    /// CONNACK back the same way.
    #[test]
    fn a_test_with_its_own_connack_starts_on_the_connection_that_got_it() {
        let tests = tests5_of(concat!(
            "  - id: K\n    title: k\n    connack: { server_keep_alive: 5, receive_maximum: 1 }\n",
            "    action: withhold_pingresp\n    expect: { close: { within: 1.5x keepalive } }\n",
            "  - id: Z\n    title: z\n    action: drop\n",
        ));
        let mut s = Scenarios::new(tests, Vars::new(), Duration::ZERO);
        let plan = ConnackPlan {
            server_keep_alive: Some(5),
            receive_maximum: Some(1),
            ..ConnackPlan::default()
        };
        let actions = connect5(&mut s, 1, 0, true, 0, ack(false, Properties::new()));
        assert!(
            matches!(&actions[..], [
                Action::PlanConnack { device, plan: Some(p) },
                Action::Drop { conn: 1, detail },
            ] if device == "dev" && *p == plan && detail.contains("Server Keep Alive 5 s, Receive Maximum 1")),
            "{actions:?}"
        );
        s.observe(&closed(1, 10, Side::Server));
        let props = Properties::new().with(
            PropertyId::ServerKeepAlive,
            crate::codec::PropertyValue::TwoByteInteger(5),
        );
        let actions = connect5(&mut s, 2, 1_000, true, 0, ack(false, props));
        assert_eq!(
            actions,
            vec![Action::Misbehave {
                conn: 2,
                what: Misbehaviour::WithholdPingresp,
                on: true
            }]
        );
        // Timed on the Server Keep Alive (5 s), not the device's 30 s.
        s.observe(&packet(2, 6_000, Side::Client, Packet::PingReq));
        let (actions, updates) = s.observe(&closed(2, 12_000, Side::Client));
        let case = decided(&updates);
        assert_eq!(case.id, "K");
        assert_eq!(case.verdict, Verdict::Passed, "{case:?}");
        assert!(
            case.measured.as_deref().unwrap_or_default().contains(
                "closed the connection 6.00 s after the unanswered PINGREQ (window ≤ 7.50 s)"
            ),
            "{case:?}"
        );
        // The device is away: the platform's CONNACK is planned back at once, and Z starts
        // on the reconnect.
        assert_eq!(
            actions,
            vec![Action::PlanConnack {
                device: "dev".into(),
                plan: None
            }]
        );
        let actions = connect5(&mut s, 3, 13_000, true, 0, ack(false, Properties::new()));
        assert!(
            matches!(&actions[..], [Action::Drop { conn: 3, detail }] if detail == "device test Z: the cloud drops the connection"),
            "{actions:?}"
        );
        // A device still connected under a test's CONNACK is dropped for the next test, and
        // one that does not come back leaves that test skipped, saying why.
        let tests = tests5_of(concat!(
            "  - id: K\n    title: k\n    connack: { receive_maximum: 1 }\n    action: none\n",
            "    timeout: 1s\n",
            "  - id: Z\n    title: z\n    action: drop\n",
        ));
        let mut s = Scenarios::new(tests, Vars::new(), Duration::ZERO);
        connect5(&mut s, 1, 0, true, 0, ack(false, Properties::new()));
        s.observe(&closed(1, 10, Side::Server));
        connect5(&mut s, 2, 1_000, true, 0, ack(false, Properties::new()));
        let (actions, _) = s.tick(at(2_000));
        assert!(
            matches!(
                &actions[..],
                [
                    Action::PlanConnack { plan: None, .. },
                    Action::Drop { conn: 2, .. },
                ]
            ),
            "{actions:?}"
        );
        s.observe(&closed(2, 2_010, Side::Server));
        let cases = s.finish(at(20_000));
        assert!(
            matches!(&cases["dev"][1].verdict, Verdict::Skipped { reason } if reason.starts_with("the cloud closed connection 2 so that the device's next CONNECT would get this test's CONNACK (the platform's own), and the device did not connect again")),
            "{:?}",
            cases["dev"][1]
        );
    }

    /// CONNACK properties need a 5.0 connection: a 3.1.1 device skips the test, saying why,
    /// and is not disconnected for it.
    #[test]
    fn a_3_1_1_device_skips_a_test_that_needs_connack_properties() {
        let tests = tests_of(concat!(
            "  - id: M\n    title: m\n    connack: { maximum_qos: 0 }\n    action: none\n",
            "    timeout: 5s\n",
        ));
        let mut s = Scenarios::new(tests, Vars::new(), Duration::ZERO);
        let actions = connect(&mut s, 1, 0, 30);
        assert!(actions.is_empty(), "{actions:?}");
        let cases = s.finish(at(1_000));
        assert_eq!(
            cases["dev"][0].verdict,
            Verdict::Skipped {
                reason: "the device speaks MQTT 3.1.1, and this test needs its CONNACK properties (MQTT 5.0)".into()
            }
        );
    }

    /// Session Present 1 to a Clean Start device: the device must close, timed from the
    /// CONNACK; a device asking to resume its session is not tested (it may hold a session).
    #[test]
    fn session_present_to_a_clean_start_device_expects_it_to_close() {
        let yaml = concat!(
            "  - id: SP\n    title: sp\n    connack: { session_present: true }\n    action: none\n",
            "    expect: { close: { within: 5s } }\n",
        );
        let mut s = Scenarios::new(tests5_of(yaml), Vars::new(), Duration::ZERO);
        connect5(&mut s, 1, 0, true, 0, ack(false, Properties::new()));
        s.observe(&closed(1, 10, Side::Server));
        let actions = connect5(&mut s, 2, 1_000, true, 0, ack(true, Properties::new()));
        assert!(actions.is_empty(), "{actions:?}");
        let (_, updates) = s.observe(&closed(2, 1_020, Side::Client));
        let case = decided(&updates);
        assert_eq!(case.verdict, Verdict::Passed, "{case:?}");
        assert_eq!(
            case.measured.as_deref(),
            Some(
                "the device sent nothing in the 0.02 s after the CONNACK (Keep Alive 30 s); closed the connection 0.02 s after the CONNACK (window ≤ 5.00 s)"
            )
        );
        // A device that stays connected misses the window.
        let mut s = Scenarios::new(tests5_of(yaml), Vars::new(), Duration::ZERO);
        connect5(&mut s, 1, 0, true, 0, ack(false, Properties::new()));
        s.observe(&closed(1, 10, Side::Server));
        connect5(&mut s, 2, 1_000, true, 0, ack(true, Properties::new()));
        let (_, updates) = s.tick(at(6_000));
        assert!(
            matches!(&decided(&updates).verdict, Verdict::Failed { message } if message == "still connected 5.00 s after the CONNACK; window ≤ 5.00 s"),
            "{updates:?}"
        );
        // Clean Start 0: skipped, with the reason, and no connection dropped for it.
        let mut s = Scenarios::new(tests5_of(yaml), Vars::new(), Duration::ZERO);
        let actions = connect5(&mut s, 1, 0, false, 0, ack(false, Properties::new()));
        assert!(actions.is_empty(), "{actions:?}");
        let cases = s.finish(at(1_000));
        assert!(
            matches!(&cases["dev"][0].verdict, Verdict::Skipped { reason } if reason.contains("Clean Start 0")),
            "{:?}",
            cases["dev"][0]
        );
    }

    /// A server DISCONNECT: the server is told to send it and wait (until the test's
    /// deadline); the device's close is timed from it, and no later test starts on the
    /// connection the cloud has ended.
    #[test]
    fn a_server_disconnect_is_sent_and_the_device_close_is_timed_from_it() {
        let tests = tests5_of(concat!(
            "  - id: D\n    title: d\n    after: 1s\n    action: { disconnect: { reason: 0x89 } }\n",
            "    expect: { close: { within: 2s } }\n",
            "  - id: Z\n    title: z\n    action: drop\n",
        ));
        assert_eq!(tests[0].action, DeviceAction::Disconnect { reason: 0x89 });
        let mut s = Scenarios::new(tests, Vars::new(), Duration::ZERO);
        connect5(&mut s, 1, 0, true, 0, ack(false, Properties::new()));
        let (actions, updates) = s.tick(at(1_000));
        // Deadline: 1 s after + 2 s window + 10 s, from the start at 0.
        assert_eq!(
            actions,
            vec![Action::Disconnect {
                conn: 1,
                reason: 0x89,
                linger: Duration::from_secs(12)
            }]
        );
        assert!(
            matches!(&updates[..], [Update::Acted { what, .. }] if what == "sent DISCONNECT 0x89"),
            "{updates:?}"
        );
        // A PUBLISH the device still sends starts nothing.
        let (actions, updates) = s.observe(&packet(
            1,
            1_100,
            Side::Client,
            delivered(3, "t", QoS::AtLeastOnce, None),
        ));
        assert!(actions.is_empty() && updates.is_empty());
        let (actions, updates) = s.observe(&closed(1, 1_300, Side::Client));
        assert!(actions.is_empty(), "{actions:?}");
        let case = decided(&updates);
        assert_eq!(case.verdict, Verdict::Passed, "{case:?}");
        assert_eq!(
            case.measured.as_deref(),
            Some("closed the connection 0.30 s after the DISCONNECT (window ≤ 2.00 s)")
        );
    }

    /// A burst of QoS 1 commands to the topic of the device's subscription: every message
    /// is published, each delivery and PUBACK is counted, and the recording test is decided
    /// as soon as every flow is complete.
    #[test]
    fn a_device_closing_with_a_command_unacknowledged_fails_a_documented_test() {
        let tests = tests_of(concat!(
            "  - id: B\n    title: b\n    status: DOC\n    start: subscribed\n",
            "    action: { command: { topic: \"${subscribed_topic}\", qos: 1, count: 2 } }\n",
            "    timeout: 10s\n",
        ));
        let mut s = Scenarios::new(tests, Vars::new(), Duration::ZERO);
        connect(&mut s, 1, 0, 30);
        assert_eq!(subscribe(&mut s, 1, 100, "a/cmd").len(), 2);
        for (pid, ms) in [(1u16, 110), (2, 120)] {
            s.observe(&packet(
                1,
                ms,
                Side::Server,
                delivered(pid, "a/cmd", QoS::AtLeastOnce, None),
            ));
        }
        s.observe(&packet(
            1,
            130,
            Side::Client,
            Packet::PubAck(PubResponse::new(1)),
        ));
        s.observe(&closed(1, 135, Side::Client));
        let cases = s.finish(at(20_000));
        assert_eq!(
            cases["dev"][0].verdict,
            Verdict::Failed {
                message: "the device closed the connection 0.01 s after the cloud's PUBLISH id 2, with no PUBACK for packet id(s) 2".into()
            },
            "{:?}",
            cases["dev"][0]
        );
    }

    #[test]
    fn a_qos_1_burst_is_recorded_once_every_message_is_acknowledged() {
        let tests = tests_of(concat!(
            "  - id: B\n    title: b\n    status: NP\n    start: subscribed\n",
            "    action: { command: { topic: \"${subscribed_topic}\", qos: 1, count: 3 } }\n",
            "    timeout: 10s\n",
        ));
        let mut s = Scenarios::new(tests, Vars::new(), Duration::ZERO);
        connect(&mut s, 1, 0, 30);
        let actions = subscribe(&mut s, 1, 100, "$share/g/dev/+/cmd/#");
        assert_eq!(actions.len(), 3, "{actions:?}");
        for a in &actions {
            assert_eq!(
                *a,
                Action::Publish {
                    topic: "dev/mqtt-conform/cmd/mqtt-conform".into(),
                    payload: Bytes::new(),
                    qos: QoS::AtLeastOnce,
                    topic_alias: false,
                    request: None,
                }
            );
        }
        let topic = "dev/mqtt-conform/cmd/mqtt-conform";
        for (i, pid) in [1u16, 2, 3].into_iter().enumerate() {
            let ms = 110 + i as u64 * 10;
            s.observe(&packet(
                1,
                ms,
                Side::Server,
                delivered(pid, topic, QoS::AtLeastOnce, None),
            ));
        }
        s.observe(&packet(
            1,
            150,
            Side::Client,
            Packet::PubAck(PubResponse::new(1)),
        ));
        let (_, updates) = s.observe(&packet(
            1,
            160,
            Side::Client,
            Packet::PubAck(PubResponse::new(2)),
        ));
        assert!(updates.is_empty(), "one flow is still open: {updates:?}");
        let (_, updates) = s.observe(&packet(
            1,
            170,
            Side::Client,
            Packet::PubAck(PubResponse::new(3)),
        ));
        let case = decided(&updates);
        assert_eq!(
            case.verdict,
            Verdict::Recorded {
                message: "3 of 3 command(s) delivered at QoS 1 from 0.01 s to 0.03 s after the cloud published them; 3 PUBACK(s)".into()
            }
        );
    }

    /// A Topic Alias command: the deliveries that carry the alias alone count as the
    /// command's; a device that allows no alias skips the test.
    #[test]
    fn a_topic_alias_command_counts_the_alias_only_deliveries() {
        let yaml = concat!(
            "  - id: TA\n    title: ta\n    status: NP\n    start: subscribed\n",
            "    action: { command: { topic: \"${subscribed_topic}\", qos: 1, count: 2, topic_alias: true } }\n",
            "    timeout: 10s\n",
        );
        let mut s = Scenarios::new(tests5_of(yaml), Vars::new(), Duration::ZERO);
        connect5(&mut s, 1, 0, true, 4, ack(false, Properties::new()));
        let actions = subscribe(&mut s, 1, 100, "a/b");
        assert!(
            actions.len() == 2
                && actions
                    .iter()
                    .all(|a| matches!(a, Action::Publish { topic_alias: true, topic, .. } if topic == "a/b")),
            "{actions:?}"
        );
        s.observe(&packet(
            1,
            110,
            Side::Server,
            delivered(1, "a/b", QoS::AtLeastOnce, Some(1)),
        ));
        s.observe(&packet(
            1,
            120,
            Side::Server,
            delivered(2, "", QoS::AtLeastOnce, Some(1)),
        ));
        s.observe(&packet(
            1,
            130,
            Side::Client,
            Packet::PubAck(PubResponse::new(1)),
        ));
        let (_, updates) = s.observe(&packet(
            1,
            140,
            Side::Client,
            Packet::PubAck(PubResponse::new(2)),
        ));
        let case = decided(&updates);
        assert_eq!(
            case.verdict,
            Verdict::Recorded {
                message: "2 of 2 command(s) delivered at QoS 1 from 0.01 s to 0.02 s after the cloud published them; the first with the topic and Topic Alias 1, 1 with the alias alone; 2 PUBACK(s)".into()
            }
        );
        assert!(
            case.trace
                .iter()
                .any(|t| t.text == "command delivered with Topic Alias 1 alone"),
            "{:?}",
            case.trace
        );
        let mut s = Scenarios::new(tests5_of(yaml), Vars::new(), Duration::ZERO);
        connect5(&mut s, 1, 0, true, 0, ack(false, Properties::new()));
        assert!(subscribe(&mut s, 1, 100, "a/b").is_empty());
        let cases = s.finish(at(1_000));
        assert!(
            matches!(&cases["dev"][0].verdict, Verdict::Skipped { reason } if reason.contains("Topic Alias Maximum 0 or absent")),
            "{:?}",
            cases["dev"][0]
        );
    }

    /// QoS 2 with PUBREL withheld: once every delivery has its PUBREC the connection is
    /// dropped; on the reconnect the PUBRELs re-sent and the device's PUBCOMPs are
    /// recorded. A device that comes back with a new session leaves nothing to judge; one
    /// that closes the resumed connection with a PUBCOMP owed fails.
    #[test]
    fn withheld_pubrels_are_resumed_on_the_reconnect() {
        let yaml = concat!(
            "  - id: W\n    title: w\n    status: DOC\n    start: subscribed\n",
            "    action: { command: { topic: \"${subscribed_topic}\", qos: 2, count: 2, withhold_pubrel: true } }\n",
            "    timeout: 20s\n",
        );
        for (present, completes) in [(true, true), (false, true), (true, false)] {
            let mut s = Scenarios::new(tests_of(yaml), Vars::new(), Duration::ZERO);
            connect(&mut s, 1, 0, 30);
            let actions = subscribe(&mut s, 1, 100, "q/2");
            assert_eq!(
                actions[0],
                Action::Misbehave {
                    conn: 1,
                    what: Misbehaviour::WithholdPubrel,
                    on: true
                }
            );
            assert_eq!(actions.len(), 3, "{actions:?}");
            s.observe(&packet(
                1,
                110,
                Side::Server,
                delivered(1, "q/2", QoS::ExactlyOnce, None),
            ));
            s.observe(&packet(
                1,
                120,
                Side::Server,
                delivered(2, "q/2", QoS::ExactlyOnce, None),
            ));
            let (actions, _) = s.observe(&packet(
                1,
                130,
                Side::Client,
                Packet::PubRec(PubResponse::new(1)),
            ));
            assert!(actions.is_empty(), "{actions:?}");
            let (actions, _) = s.observe(&packet(
                1,
                140,
                Side::Client,
                Packet::PubRec(PubResponse::new(2)),
            ));
            assert!(
                matches!(&actions[..], [Action::Drop { conn: 1, .. }]),
                "{actions:?}"
            );
            s.observe(&closed(1, 150, Side::Server));
            // The reconnect: same client id, the session resumed or not.
            let mut c = Connect::new(ProtocolVersion::V3_1_1, "dev");
            c.clean_session = !present;
            s.observe(&ev(2, 1_000, Side::Client, EventKind::opened(None)));
            s.observe(&packet(2, 1_000, Side::Client, Packet::Connect(c.into())));
            let (_, updates) = s.observe(&packet(
                2,
                1_000,
                Side::Server,
                Packet::ConnAck(ack(present, Properties::new())),
            ));
            if !present {
                assert!(
                    matches!(&decided(&updates).verdict, Verdict::Inconclusive { message } if message.starts_with("the device connected again with a new session (Session Present 0)")),
                    "{updates:?}"
                );
                continue;
            }
            for pid in [1u16, 2] {
                s.observe(&packet(
                    2,
                    1_001,
                    Side::Server,
                    Packet::PubRel(PubResponse::new(pid)),
                ));
            }
            s.observe(&packet(
                2,
                1_010,
                Side::Client,
                Packet::PubComp(PubResponse::new(1)),
            ));
            if !completes {
                s.observe(&closed(2, 1_025, Side::Client));
                let cases = s.finish(at(2_000));
                assert_eq!(
                    cases["dev"][0].verdict,
                    Verdict::Failed {
                        message: "the device closed the resumed connection 0.02 s after the cloud re-sent the PUBREL(s), with no PUBCOMP for packet id(s) 2".into()
                    },
                    "{:?}",
                    cases["dev"][0]
                );
                continue;
            }
            let (_, updates) = s.observe(&packet(
                2,
                1_020,
                Side::Client,
                Packet::PubComp(PubResponse::new(2)),
            ));
            let case = decided(&updates);
            assert_eq!(
                case.verdict,
                Verdict::Recorded {
                    message: "2 of 2 command(s) delivered at QoS 2 from 0.01 s to 0.02 s after the cloud published them; 2 PUBREC(s), 0 PUBCOMP(s); PUBREL withheld and the connection dropped; reconnected with Session Present 1: 2 PUBREL(s) re-sent, 2 PUBCOMP(s) for them; connection closed by the cloud 0.05 s after the action (EOF); reconnected 0.85 s after the close".into()
                },
                "{case:?}"
            );
        }
    }

    /// Enhanced authentication: a device answering the challenge passes (its
    /// re-authentications recorded), one naming no method is not tested, one refused or
    /// closing before any CONNACK fails.
    #[test]
    fn the_authentication_test_judges_the_exchange_that_opened_the_connection() {
        let yaml = concat!(
            "  - id: A\n    title: a\n    action: none\n    expect: { authenticates: true }\n",
            "    timeout: 5s\n",
        );
        let auth = |reason: u8, method: &str| {
            Packet::Auth(crate::codec::Auth {
                reason_code: reason,
                properties: Properties::new().with(
                    PropertyId::AuthenticationMethod,
                    crate::codec::PropertyValue::String(method.to_owned().into()),
                ),
            })
        };
        let opened_with = |s: &mut Scenarios, method: Option<&str>| {
            let mut c = Connect::new(ProtocolVersion::V5, "dev");
            if let Some(m) = method {
                c.properties = Properties::new().with(
                    PropertyId::AuthenticationMethod,
                    crate::codec::PropertyValue::String(m.to_owned().into()),
                );
            }
            s.observe(&ev(1, 0, Side::Client, EventKind::opened(None)));
            s.observe(&packet(1, 0, Side::Client, Packet::Connect(c.into())));
            if method.is_some() {
                s.observe(&packet(1, 1, Side::Server, auth(0x18, "m")));
            }
        };
        // Answered and accepted; one re-authentication completed.
        let mut s = Scenarios::new(tests5_of(yaml), Vars::new(), Duration::ZERO);
        opened_with(&mut s, Some("m"));
        s.observe(&packet(1, 21, Side::Client, auth(0x18, "m")));
        s.observe(&packet(
            1,
            22,
            Side::Server,
            Packet::ConnAck(ack(false, Properties::new())),
        ));
        s.observe(&packet(1, 1_000, Side::Client, auth(0x19, "m")));
        s.observe(&packet(1, 1_001, Side::Server, auth(0x18, "m")));
        s.observe(&packet(1, 1_002, Side::Client, auth(0x18, "m")));
        s.observe(&packet(1, 1_003, Side::Server, auth(0x00, "m")));
        let (_, updates) = s.tick(at(6_000));
        assert_eq!(
            decided(&updates).verdict,
            Verdict::Passed,
            "{:?}",
            decided(&updates)
        );
        let measured = decided(&updates).measured.clone().unwrap_or_default();
        assert!(
            measured.ends_with("the CONNECT named \"m\"; the device answered the cloud's AUTH 0x18 challenge 0.02 s after it with AUTH 0x18 under \"m\"; 1 of its 1 re-authentication(s) completed"),
            "{measured}"
        );
        // No method: not tested.
        let mut s = Scenarios::new(tests5_of(yaml), Vars::new(), Duration::ZERO);
        opened_with(&mut s, None);
        s.observe(&packet(
            1,
            2,
            Side::Server,
            Packet::ConnAck(ack(false, Properties::new())),
        ));
        let cases = s.finish(at(100));
        assert!(
            matches!(&cases["dev"][0].verdict, Verdict::Skipped { reason } if reason.contains("names no Authentication Method")),
            "{:?}",
            cases["dev"][0]
        );
        // A wrong answer refused, and a close instead of an answer: failed.
        for refused in [true, false] {
            let mut s = Scenarios::new(tests5_of(yaml), Vars::new(), Duration::ZERO);
            opened_with(&mut s, Some("m"));
            if refused {
                s.observe(&packet(1, 5, Side::Client, auth(0x18, "m")));
                let mut nack = ack(false, Properties::new());
                nack.code = 0x87;
                s.observe(&packet(1, 6, Side::Server, Packet::ConnAck(nack)));
            }
            s.observe(&closed(1, 7, Side::Client));
            let cases = s.finish(at(100));
            let want = if refused {
                "the CONNECT named \"m\"; the device answered the cloud's AUTH 0x18 challenge 0.00 s after it with AUTH 0x18 under \"m\"; the cloud refused it with CONNACK 0x87"
            } else {
                "the CONNECT named \"m\"; the device never answered the cloud's AUTH 0x18 challenge; the connection was closed by the device before any CONNACK (EOF)"
            };
            assert_eq!(
                cases["dev"][0].verdict,
                Verdict::Failed {
                    message: want.into()
                }
            );
        }
    }

    #[test]
    fn connack_and_action_values_the_protocol_forbids_are_refused_when_the_suite_loads() {
        for (yaml, want) in [
            (
                "connack: { maximum_qos: 2 }\n    action: none\n",
                "expected 0 or 1",
            ),
            (
                "connack: { receive_maximum: 0 }\n    action: none\n",
                "protocol error",
            ),
            (
                "action: { disconnect: { reason: 0x04 } }\n",
                "not a Reason Code a server's DISCONNECT may carry",
            ),
            (
                "action: { disconnect: { reason: 0x01 } }\n",
                "not a Reason Code",
            ),
            ("action: none\n", "`action: none` needs a `connack`"),
            (
                "action: { command: { topic: t, qos: 1, withhold_pubrel: true } }\n",
                "needs a QoS 2 command",
            ),
            (
                "action: { command: { topic: t, count: 0 } }\n",
                "expected 1 to 1000",
            ),
            (
                "action: { command: { topic: \"${subscribed_topic}\" } }\n",
                "needs `start: subscribed`",
            ),
        ] {
            let text = format!(
                "name: t\nprotocol: \"5\"\ndevice_tests:\n  - id: X\n    title: x\n    {yaml}"
            );
            let err = crate::suite::load_str("t.yaml", &text)
                .map(|_| ())
                .expect_err(yaml)
                .to_string();
            assert!(err.contains(want), "{yaml}: {err}");
        }
    }

    /// A Server Keep Alive test records what the device sent under the CONNACK's Keep
    /// Alive, and its longest silence, so the record shows whether it adopted the value.
    #[test]
    fn a_connack_only_test_records_what_the_device_sent_and_its_longest_silence() {
        let tests = tests5_of(concat!(
            "  - id: KA\n    title: ka\n    status: NP\n    connack: { server_keep_alive: 5 }\n",
            "    action: none\n    timeout: 2x keepalive + 5s\n",
        ));
        let mut s = Scenarios::new(tests, Vars::new(), Duration::ZERO);
        connect5(&mut s, 1, 0, true, 0, ack(false, Properties::new()));
        s.observe(&closed(1, 10, Side::Server));
        let props = Properties::new().with(
            PropertyId::ServerKeepAlive,
            crate::codec::PropertyValue::TwoByteInteger(5),
        );
        connect5(&mut s, 2, 1_000, true, 0, ack(false, props));
        for ms in [6_000, 11_000] {
            s.observe(&packet(2, ms, Side::Client, Packet::PingReq));
        }
        s.observe(&packet(
            2,
            12_000,
            Side::Client,
            delivered(1, "t", QoS::AtLeastOnce, None),
        ));
        assert_eq!(s.next_wakeup(), Some(at(16_000)));
        let (_, updates) = s.tick(at(16_000));
        assert_eq!(
            decided(&updates).verdict,
            Verdict::Recorded {
                message: "the device sent 2 PINGREQ, 1 PUBLISH after the CONNACK; longest silence 5.00 s (Keep Alive 5 s)".into()
            }
        );
    }

    /// A device that ignores the server DISCONNECT fails at the window's end, and the next
    /// test does not start on the connection the cloud has ended (it waits for the next).
    #[test]
    fn no_test_starts_on_a_connection_the_cloud_has_disconnected() {
        let tests = tests5_of(concat!(
            "  - id: D\n    title: d\n    action: { disconnect: { reason: 0x89 } }\n",
            "    expect: { close: { within: 2s } }\n",
            "  - id: Z\n    title: z\n    action: drop\n",
        ));
        let mut s = Scenarios::new(tests, Vars::new(), Duration::ZERO);
        let actions = connect5(&mut s, 1, 0, true, 0, ack(false, Properties::new()));
        assert!(
            matches!(
                &actions[..],
                [Action::Disconnect {
                    conn: 1,
                    reason: 0x89,
                    ..
                }]
            ),
            "{actions:?}"
        );
        let (actions, updates) = s.tick(at(2_000));
        assert!(
            matches!(&decided(&updates).verdict, Verdict::Failed { message } if message == "still connected 2.00 s after the DISCONNECT; window ≤ 2.00 s"),
            "{updates:?}"
        );
        assert!(
            actions.is_empty(),
            "Z must not act on connection 1: {actions:?}"
        );
        assert_eq!(s.next_wakeup(), None);
        // The server closes it once its linger ends; Z starts on the device's next connection.
        s.observe(&closed(1, 12_000, Side::Server));
        let actions = connect5(&mut s, 2, 13_000, true, 0, ack(false, Properties::new()));
        assert!(
            matches!(&actions[..], [Action::Drop { conn: 2, .. }]),
            "{actions:?}"
        );
    }

    /// Withheld PUBACKs without a resend expectation: the record counts the distinct
    /// packet ids left unacknowledged and the DUP re-sends (what a Receive Maximum bounds).
    #[test]
    fn withheld_pubacks_are_counted_for_the_record() {
        let tests = tests5_of(concat!(
            "  - id: R\n    title: r\n    status: NP\n    connack: { receive_maximum: 1 }\n",
            "    action: withhold_puback\n    timeout: 5s\n",
        ));
        let mut s = Scenarios::new(tests, Vars::new(), Duration::ZERO);
        connect5(&mut s, 1, 0, true, 0, ack(false, Properties::new()));
        s.observe(&closed(1, 10, Side::Server));
        let actions = connect5(&mut s, 2, 1_000, true, 0, ack(false, Properties::new()));
        assert_eq!(
            actions,
            vec![Action::Misbehave {
                conn: 2,
                what: Misbehaviour::WithholdPuback,
                on: true
            }]
        );
        let mut p = Publish::new("up", "x");
        p.qos = QoS::AtLeastOnce;
        p.packet_id = Some(4);
        s.observe(&packet(2, 1_100, Side::Client, Packet::Publish(p.clone())));
        p.dup = true;
        s.observe(&packet(2, 2_100, Side::Client, Packet::Publish(p)));
        let (_, updates) = s.tick(at(6_000));
        assert_eq!(
            decided(&updates).verdict,
            Verdict::Recorded {
                message: "1 QoS 1/2 PUBLISH(es) with distinct packet ids left unacknowledged, 1 re-sent with DUP 1".into()
            }
        );
    }

    /// A CONNECT the test's CONNACK makes the server refuse (its Will above the Maximum QoS
    /// the CONNACK announces): the test is skipped with the refusal, and the next test's
    /// CONNACK is planned at once so that the device can connect again.
    #[test]
    fn a_connect_refused_under_the_test_s_connack_skips_the_test() {
        let tests = tests5_of(concat!(
            "  - id: M\n    title: m\n    status: NP\n    connack: { maximum_qos: 0 }\n",
            "    action: none\n    timeout: 5s\n",
            "  - id: Z\n    title: z\n    action: drop\n",
        ));
        let mut s = Scenarios::new(tests, Vars::new(), Duration::ZERO);
        connect5(&mut s, 1, 0, true, 0, ack(false, Properties::new()));
        s.observe(&closed(1, 10, Side::Server));
        let refusal = ConnAck {
            session_present: false,
            code: 0x9B,
            properties: Properties::new().with(
                PropertyId::ReasonString,
                crate::codec::PropertyValue::String("Will QoS 1 above the Maximum QoS 0".into()),
            ),
        };
        let actions = connect5(&mut s, 2, 1_000, true, 0, refusal);
        assert_eq!(
            actions,
            vec![Action::PlanConnack {
                device: "dev".into(),
                plan: None
            }]
        );
        s.observe(&closed(2, 1_010, Side::Server));
        let actions = connect5(&mut s, 3, 2_000, true, 0, ack(false, Properties::new()));
        assert!(
            matches!(&actions[..], [Action::Drop { conn: 3, .. }]),
            "{actions:?}"
        );
        let cases = s.finish(at(3_000));
        assert_eq!(
            cases["dev"][0].verdict,
            Verdict::Skipped {
                reason: "the cloud refused the device's CONNECT under this test's CONNACK (reason 0x9b: Will QoS 1 above the Maximum QoS 0), so the test cannot run on this device".into()
            }
        );
    }

    /// A command to `${subscribed_topic}` for a device the platform subscribed (no
    /// SUBSCRIBE of its own) has no topic to go to: skipped, saying why.
    #[test]
    fn a_command_to_the_subscribed_topic_skips_a_device_that_never_subscribed() {
        let tests = tests_of(concat!(
            "  - id: B\n    title: b\n    status: NP\n    start: subscribed\n",
            "    action: { command: { topic: \"${subscribed_topic}\", qos: 1 } }\n",
        ));
        let auto = crate::suite::profile::AutoSubscribe {
            client_id_flag: "_ss=1".into(),
            filters: vec!["cmd/#".into()],
        };
        let mut s =
            Scenarios::new(tests, Vars::new(), Duration::ZERO).with_auto_subscribe(Some(auto));
        let device = "dev|_ss=1|";
        let c = Connect::new(ProtocolVersion::V3_1_1, device);
        s.observe(&ev(1, 0, Side::Client, EventKind::opened(None)));
        s.observe(&packet(1, 0, Side::Client, Packet::Connect(c.into())));
        let (actions, _) = s.observe(&packet(
            1,
            0,
            Side::Server,
            Packet::ConnAck(ack(false, Properties::new())),
        ));
        assert!(actions.is_empty(), "{actions:?}");
        let cases = s.finish(at(1_000));
        assert!(
            matches!(&cases[device][0].verdict, Verdict::Skipped { reason } if reason.starts_with("the device sent no SUBSCRIBE of its own")),
            "{:?}",
            cases[device][0]
        );
    }
}
