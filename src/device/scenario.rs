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

use crate::codec::{Packet, QoS};
use crate::event::{Event, EventKind, Side};
use crate::report::{CaseReport, TraceLine, Verdict};
use crate::suite::device_tests::Misbehaviour;
use crate::suite::device_tests::{DeviceAction, DeviceStart, DeviceTest};
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
    trace: Vec<TraceLine>,
}

/// One device's progress through the tests.
#[derive(Debug, Default)]
struct DeviceRun {
    next: usize,
    active: Option<Active>,
    /// The device's current connection.
    conn: Option<u64>,
    cases: Vec<CaseReport>,
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
        }
    }

    /// Counts the devices `auto` covers as subscribed once their CONNECT is accepted (a
    /// `start: subscribed` test then starts without a SUBSCRIBE from them).
    pub fn with_auto_subscribe(mut self, auto: Option<AutoSubscribe>) -> Self {
        self.auto_subscribe = auto;
        self
    }

    /// True when connection `conn` belongs to a device that still has device tests to
    /// run (its connections ending are part of the tests, not the device leaving).
    pub fn busy(&self, conn: u64) -> bool {
        let Some(device) = self.conns.get(&conn).and_then(|c| c.device.as_ref()) else {
            return false;
        };
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
            EventKind::Opened(_) => {
                self.conns.insert(
                    event.conn,
                    ConnInfo {
                        opened: at,
                        device: None,
                        keepalive: 0,
                        accepted: false,
                        subscribed: false,
                        closed: None,
                    },
                );
            }
            EventKind::Packet {
                packet: Ok(packet), ..
            } => self.packet(event, packet),
            EventKind::Closed { by, detail } => {
                if let Some(info) = self.conns.get_mut(&event.conn) {
                    info.closed = Some((at, *by, detail.clone()));
                }
                let device = self.conns.get(&event.conn).and_then(|c| c.device.clone());
                if let Some(run) = device.and_then(|d| self.devices.get_mut(&d)) {
                    if run.conn == Some(event.conn) {
                        run.conn = None;
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
            for test in &self.tests[run.next.min(self.tests.len())..] {
                run.cases.push(skipped(
                    test,
                    test.skip.clone().unwrap_or_else(|| {
                        "the device did not stay for this test (the run ended first)".into()
                    }),
                ));
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
                let opened = info.opened;
                let run = self.devices.entry(c.client_id.clone()).or_default();
                run.conn = Some(event.conn);
                if let Some(a) = run.active.as_mut() {
                    if a.closed.is_some() && a.reconnected.is_none() {
                        a.reconnected = Some(opened);
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
            }
            (Side::Server, Packet::ConnAck(c)) => {
                info.accepted = c.code == 0;
                let auto = self.auto_subscribe.as_ref();
                if info.accepted
                    && auto.is_some_and(|a| info.device.as_ref().is_some_and(|d| a.applies_to(d)))
                {
                    info.subscribed = true;
                }
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
        let Some(a) = run.active.as_mut().filter(|a| a.conn == event.conn) else {
            return;
        };
        let Some(acted) = a.acted else { return };
        let test = &self.tests[a.test];
        match (event.from, packet, &test.action) {
            (Side::Server, Packet::Publish(p), DeviceAction::Command { .. })
                if a.delivered.is_none() && a.command_topic.as_deref() == Some(&*p.topic) =>
            {
                a.delivered = Some(at);
                a.trace(at, format!("command delivered on {}", p.topic));
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
                if run.active.is_none() && !start_next(&self.tests, &self.conns, run, now) {
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
                    let what = act(a, test, &self.vars, self.epoch_unix, actions);
                    updates.push(Update::Acted {
                        device: device.clone(),
                        test: test.id.clone(),
                        what,
                    });
                }
                let last = now >= a.deadline;
                let outcomes = Outcomes::evaluate(a, test, now, last);
                if !outcomes.decided() && !last {
                    break;
                }
                let a = run.active.take().expect("checked above");
                if let DeviceAction::Misbehave(what) = test.action {
                    if a.closed.is_none() {
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

/// Starts the device's next test when its start condition holds; true when one started.
fn start_next(
    tests: &[DeviceTest],
    conns: &HashMap<u64, ConnInfo>,
    run: &mut DeviceRun,
    now: Duration,
) -> bool {
    // Tests the suite skips are reported at once.
    while let Some(test) = tests.get(run.next).filter(|t| t.skip.is_some()) {
        run.cases
            .push(skipped(test, test.skip.clone().unwrap_or_default()));
        run.next += 1;
    }
    let Some(test) = tests.get(run.next) else {
        return false;
    };
    let Some(conn) = run.conn else { return false };
    let Some(info) = conns
        .get(&conn)
        .filter(|c| c.accepted && c.closed.is_none())
    else {
        return false;
    };
    if test.start == DeviceStart::Subscribed && !info.subscribed {
        return false;
    }
    let act_at = now + test.after.resolve(info.keepalive);
    run.active = Some(Active {
        test: run.next,
        conn,
        started: now,
        act_at,
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
        trace: Vec::new(),
    });
    true
}

/// Carries out a test's action; returns what the cloud did, placeholders filled.
fn act(
    a: &mut Active,
    test: &DeviceTest,
    vars: &Vars,
    epoch_unix: Duration,
    out: &mut Vec<Action>,
) -> String {
    let now = a.act_at;
    a.acted = Some(now);
    match &test.action {
        DeviceAction::Command { payload, qos, .. } => {
            let mut vars = vars.clone();
            let unix = epoch_unix + now;
            vars.set("now", unix.as_secs().to_string());
            vars.set("now_ms", unix.as_millis().to_string());
            vars.set("test", test.id.clone());
            let DeviceAction::Command { topic, .. } = &test.action else {
                unreachable!("matched above")
            };
            let topic = vars.interpolate(topic).unwrap_or_else(|_| topic.clone());
            a.command_topic = Some(topic.clone());
            a.reply_topic = test.expect.reply.as_ref().map(|r| {
                vars.interpolate(&r.topic)
                    .unwrap_or_else(|_| r.topic.clone())
            });
            let payload = vars
                .interpolate(payload)
                .unwrap_or_else(|_| payload.clone());
            a.trace(now, format!("cloud publishes a command on {topic}"));
            // Published, not delivered: whether the device gets it shows in the events.
            let what = format!("published a command on {topic} at QoS {}", qos.as_u8());
            out.push(Action::Publish {
                topic,
                payload: Bytes::from(payload),
                qos: *qos,
            });
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
    }
}

impl Active {
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

    fn case(self, test: &DeviceTest, now: Duration, outcomes: Outcomes) -> CaseReport {
        let measured = outcomes.summary();
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
        let verdict = if let Some(topic) = undelivered {
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
        }
    }
}

/// Every expectation's outcome, plus what was observed without an expectation.
#[derive(Debug)]
struct Outcomes {
    items: Vec<(&'static str, Outcome)>,
    observed: Vec<String>,
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
        if let DeviceAction::Command { .. } = test.action {
            match a.delivered {
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
            items.push(("resend", outcome));
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
        // A test with no expectation records until its deadline (or a reconnect).
        Self { items, observed }
    }

    /// Every expectation is met or missed. A test with none (it only records) is decided
    /// by its deadline.
    fn decided(&self) -> bool {
        !self.items.is_empty() && !self.items.iter().any(|(_, o)| *o == Outcome::Pending)
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{ConnAck, Connect, Properties, ProtocolVersion, Publish};

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
            .observe(&ev(conn, ms, Side::Client, EventKind::Opened(None)))
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
}
