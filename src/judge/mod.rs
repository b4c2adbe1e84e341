//! The judge: a suite's passive rules evaluated over conversation events.
//!
//! It does not know where events come from — the broker runner's sockets, the device
//! server, or a capture — so a rule written once is checked in all three places. Each rule
//! on each connection ends as one verdict, with the evidence (packets in hex and decoded,
//! timestamps, windows and measured values) that decided it.

mod conns;

pub use crate::suite::check::{Check, Checks};

use crate::auth::{Identity, Presented, RuleOutcome, Scheme};
use crate::codec::{Connect, Packet, PropertyId, ProtocolVersion, topic};
use crate::event::{Event, EventKind, Side, describe, hex_preview};
use crate::report::{CaseReport, SuiteReport, TraceLine, Verdict};
use crate::suite::Suite;
use crate::suite::profile::{Profile, PropertyLimits};
use crate::suite::schema::{RuleDef, Status};
use crate::suite::shape;
use crate::suite::timing::DEVICE_TIMER_TOLERANCE;
use crate::suite::vars::Vars;
use conns::ConnTable;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::str::FromStr;
use std::time::Duration;

/// A rule's finding on one connection, reported as it happens.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The connection.
    pub conn: u64,
    /// The client id, when known.
    pub client_id: Option<String>,
    /// The rule.
    pub rule_id: String,
    /// What was seen.
    pub message: String,
}

/// How reports are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// One group per client id (device mode).
    ClientId,
    /// One group per connection (captures).
    Connection,
    /// One group for everything (the broker runner's own connections).
    All,
}

#[derive(Debug, Default, Clone)]
struct RuleState {
    applied: bool,
    violation: Option<String>,
    violations: u32,
    warning: Option<String>,
    notes: Vec<String>,
    inconclusive: Option<String>,
}

#[derive(Debug)]
struct ConnState {
    label: String,
    opened: Duration,
    connect: Option<(Duration, Connect)>,
    version: ProtocolVersion,
    last_client: Option<Duration>,
    closed: Option<(Duration, Option<Side>)>,
    rules: Vec<RuleState>,
    /// Rules (the first 128) marked applied in `rules`.
    applied_mask: u128,
    publishes: VecDeque<Duration>,
    trace: Trace,
    /// A newer connection with the same identity connected at this time.
    taken_over_at: Option<Duration>,
    /// The client sent DISCONNECT: the end is its doing, whichever side's FIN came first.
    disconnected: bool,
    /// The Topic Alias Maximum of the server's 5.0 CONNACK (absent: 0), once seen.
    topic_alias_max: Option<u16>,
    /// The longest silence of the client measured so far (for the keep-alive verdict).
    longest_silence: Option<Duration>,
    /// The Server Keep Alive of the server's 5.0 CONNACK: the client must use it in place
    /// of its own (MQTT-3.1.2-21).
    server_keep_alive: Option<u16>,
    /// The identity a takeover is judged by (`client id …`, or the device its credentials
    /// name), once its CONNECT is seen.
    identity: Option<String>,
    /// Why the connection's CONNECT was refused (it did not decode, or the server answered
    /// with a refusing CONNACK), once it was.
    connect_refused: Option<String>,
}

impl ConnState {
    /// The Keep Alive in force: the server's when its CONNACK set one, else the CONNECT's.
    fn keep_alive(&self) -> Option<u16> {
        self.server_keep_alive
            .or(self.connect.as_ref().map(|(_, c)| c.keep_alive))
    }
}

/// Credential checking: the scheme, and the identity when its secret is known.
#[derive(Debug, Clone)]
pub struct AuthCheck {
    /// The scheme.
    pub scheme: Scheme,
    /// The identity (with its secret) to verify signatures against.
    pub identity: Option<Identity>,
}

/// Rules over events.
pub struct Judge {
    suite_name: String,
    rules: Vec<RuleDef>,
    // Shared, because every packet's checks borrow them alongside the mutable state.
    profile: std::sync::Arc<Profile>,
    vars: std::sync::Arc<Vars>,
    auth: Option<AuthCheck>,
    // Looked up several times per event. Boxed, so that the table stays small enough to
    // stay in cache and the state a coming event needs can be fetched ahead
    // ([`Judge::prefetch`]).
    conns: ConnTable<ConnState>,
    /// Open connections by identity (for takeovers), so a CONNECT costs O(1).
    open_by_client: HashMap<String, Vec<u64>>,
    /// Connections already closed and judged: their cases, ready for the report.
    finished: Vec<FinishedConn>,
    /// Last drop of each client id by the server not yet followed by a reconnect (for
    /// back-off).
    server_closes: BTreeMap<String, Duration>,
    /// Unix time of the source's start, for token expiry checks.
    epoch_unix: u64,
    /// Names of connections for reports (e.g. their addresses), by connection id.
    conn_names: HashMap<u64, String>,
    /// Connections that never sent a CONNECT are reported (inconclusive rules); the broker
    /// runner opens such connections on purpose and leaves them out.
    report_unconnected: bool,
    /// A rule checks the publish rate: each connection keeps its last second of PUBLISH
    /// times (otherwise not, one write less per packet).
    tracks_rate: bool,
    /// The time of the latest event seen (where a run ends, for rules decided then).
    last_at: Duration,
    /// Live connections that never sent a CONNECT (scans, health checks, failed TLS
    /// handshakes) are counted in one summary instead of a group each (device mode).
    summarise_unconnected: bool,
    /// The summary of such connections so far.
    unconnected: Unconnected,
}

/// Connections that never sent a CONNECT, summarised: how many, and a few examples.
#[derive(Debug, Default)]
struct Unconnected {
    count: u64,
    examples: Vec<String>,
}

/// Examples kept in the summary of connections without CONNECT.
const UNCONNECTED_EXAMPLES: usize = 3;

/// The id of the case summarising connections that never sent a CONNECT.
pub const NO_CONNECT_CASE: &str = "CONNECTIONS-WITHOUT-CONNECT";

impl Judge {
    /// A judge for `suite`'s rules, with parameter values in `vars`.
    pub fn new(suite: &Suite, vars: Vars, auth: Option<AuthCheck>) -> Result<Self, String> {
        let profile = suite.profile.clone();
        let epoch_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let tracks_rate = suite.rules.iter().any(|r| {
            r.check
                .value
                .as_slice()
                .iter()
                .any(|c| matches!(c, Check::PublishRate { .. }))
        });
        Ok(Self {
            tracks_rate,
            suite_name: suite.name.clone(),
            rules: suite.rules.clone(),
            profile: std::sync::Arc::new(profile),
            vars: std::sync::Arc::new(vars),
            auth,
            conns: ConnTable::default(),
            open_by_client: HashMap::new(),
            finished: Vec::new(),
            server_closes: BTreeMap::new(),
            epoch_unix,
            report_unconnected: true,
            conn_names: HashMap::new(),
            last_at: Duration::ZERO,
            summarise_unconnected: false,
            unconnected: Unconnected::default(),
        })
    }

    /// Sets the Unix time the events' `at` counts from (captures carry their own).
    pub fn set_epoch_unix(&mut self, secs: u64) {
        self.epoch_unix = secs;
    }

    /// Names connection `conn` in reports grouped by connection (e.g. by its addresses).
    pub fn name_connection(&mut self, conn: u64, name: impl Into<String>) {
        self.conn_names.insert(conn, name.into());
    }

    /// Judges live connections where the judge's server is the other side (device mode):
    /// connections that never send a CONNECT (port scans, health checks, failed TLS
    /// handshakes) are summarised in one case and their state freed, and reasons speak of
    /// a live device, not of a capture's edges.
    pub fn summarise_connections_without_connect(&mut self) {
        self.summarise_unconnected = true;
    }

    /// Keeps only the rules that judge the server (server close time, one connection per
    /// identity): for the broker runner, whose own client traffic breaks client rules on
    /// purpose.
    pub fn keep_server_rules(&mut self) {
        self.report_unconnected = false;
        self.rules
            .retain(|r| r.check.value.as_slice().iter().all(Check::judges_server));
    }

    /// The rules' ids, in suite order.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.id.value.as_str())
    }

    /// A hint that `event` will be observed soon: its connection's state is brought into
    /// cache meanwhile (a source that sees events some way ahead calls it). Reads nothing
    /// of the state itself, which would wait for the very miss it is meant to hide.
    pub fn prefetch(&self, event: &Event) {
        if let Some(state) = self.conns.get(&event.conn) {
            crate::prefetch::prefetch(state, 4);
        }
    }

    /// The step before [`Judge::prefetch`], some events earlier: where the pointer to
    /// the connection's state is kept.
    pub fn prefetch_entry(&self, event: &Event) {
        self.conns.prefetch_entry(event.conn);
    }

    /// The second step of [`Judge::prefetch`], a few events later, once the state is in
    /// cache: where the event will be kept in the connection's trace.
    pub fn prefetch_trace(&self, event: &Event) {
        if let Some(slot) = self
            .conns
            .get(&event.conn)
            .and_then(|state| state.trace.next_slot())
        {
            crate::prefetch::prefetch(slot, 3);
        }
    }

    /// Feeds one event; returns the findings it caused.
    pub fn observe(&mut self, event: &Event) -> Vec<Finding> {
        let mut findings = Vec::new();
        self.last_at = self.last_at.max(event.at);
        let n_rules = self.rules.len();
        let conn = self.conns.get_or_insert_with(event.conn, || ConnState {
            label: format!("connection {}", event.conn),
            opened: event.at,
            connect: None,
            version: ProtocolVersion::V3_1_1,
            last_client: None,
            closed: None,
            rules: vec![RuleState::default(); n_rules],
            applied_mask: 0,
            publishes: VecDeque::new(),
            trace: Trace::default(),
            taken_over_at: None,
            disconnected: false,
            topic_alias_max: None,
            longest_silence: None,
            server_keep_alive: None,
            identity: None,
            connect_refused: None,
        });
        // Kept raw (a shared handle on the frame); rendered only for reports that need it.
        conn.trace.push(event, conn.version);
        let evidence = Evidence {
            event,
            version: conn.version,
        };

        match &event.kind {
            EventKind::Opened(_) | EventKind::Tls(_) => {}
            // Lost client bytes were sent at an unknown time: the silence up to the next
            // packet is not measured.
            EventKind::Gap { .. } => {
                if event.from == Side::Client {
                    if let Some(state) = self.conns.get_mut(&event.conn) {
                        state.last_client = None;
                    }
                }
            }
            EventKind::Unframeable(_) => {
                if event.from == Side::Client {
                    self.each_rule(event.conn, &mut findings, |check, _| {
                        matches!(check, Check::WellFormed).then(|| Some(evidence.to_string()))
                    });
                }
            }
            EventKind::Packet { packet, .. } if event.from == Side::Client => {
                self.client_packet(
                    event,
                    packet.as_ref().ok(),
                    packet.as_ref().err().map(|e| e.to_string()),
                    &evidence,
                    &mut findings,
                );
            }
            EventKind::Packet {
                packet: Ok(packet), ..
            } => self.server_packet(event, packet, &evidence, &mut findings),
            EventKind::Packet { .. } => {}
            EventKind::Closed { by, .. } => {
                self.closed(event, *by, &mut findings);
                // Judged for good: keep its cases, free its state.
                self.finalize(event.conn, false);
            }
        }
        findings
    }

    /// Applies `f` to every rule: `None` = rule not concerned; `Some(None)` = applies, holds;
    /// `Some(Some(evidence))` = violated.
    fn each_rule(
        &mut self,
        conn: u64,
        findings: &mut Vec<Finding>,
        mut f: impl FnMut(&Check, &str) -> Option<Option<String>>,
    ) {
        let Some(state) = self.conns.get_mut(&conn) else {
            return;
        };
        for (i, rule) in self.rules.iter().enumerate() {
            // A rule applies when any of its checks does; the first check that finds
            // something decides the evidence.
            let mut outcome: Option<Option<String>> = None;
            for check in rule.check.value.as_slice() {
                match f(check, &rule.id.value) {
                    None => {}
                    Some(None) => {
                        outcome.get_or_insert(None);
                    }
                    Some(Some(evidence)) if outcome.as_ref().is_none_or(Option::is_none) => {
                        outcome = Some(Some(evidence));
                    }
                    Some(Some(_)) => {}
                }
            }
            let Some(outcome) = outcome else {
                continue;
            };
            // A rule that holds again changes nothing: known from the connection's own
            // mask, without touching its rule states (elsewhere in memory, so a cache
            // miss per packet with thousands of connections).
            let bit = 1u128.checked_shl(i as u32).unwrap_or(0);
            if outcome.is_none() && state.applied_mask & bit != 0 {
                continue;
            }
            state.applied_mask |= bit;
            let rs = &mut state.rules[i];
            rs.applied = true;
            if let Some(evidence) = outcome {
                rs.violations += 1;
                if rs.violation.is_none() {
                    rs.violation = Some(evidence.clone());
                    findings.push(Finding {
                        conn,
                        // Cloned only for a finding: this runs for every packet.
                        client_id: state.connect.as_ref().map(|(_, c)| c.client_id.clone()),
                        rule_id: rule.id.value.clone(),
                        message: evidence,
                    });
                }
            }
        }
    }

    fn client_packet(
        &mut self,
        event: &Event,
        packet: Option<&Packet>,
        decode_error: Option<String>,
        evidence: &Evidence<'_>,
        findings: &mut Vec<Finding>,
    ) {
        let at = event.at;
        if let (Some(Packet::Disconnect(_)), Some(state)) =
            (packet, self.conns.get_mut(&event.conn))
        {
            state.disconnected = true;
        }
        // Silence is judged at every client packet: the gap since the previous one.
        let (gap, keepalive) = {
            let state = self
                .conns
                .get_mut(&event.conn)
                .expect("connection state exists");
            let gap = state.last_client.map(|last| at.saturating_sub(last));
            state.last_client = Some(at);
            (gap, state.keep_alive())
        };
        if let (Some(gap), Some(ka)) = (gap, keepalive) {
            let what = format!("{evidence} came after");
            self.judge_silence(event.conn, gap, ka, &what, findings);
        }
        if let Some(err) = decode_error {
            let is_connect = matches!(&event.kind, EventKind::Packet { bytes, .. } if bytes.first().is_some_and(|b| b >> 4 == 1));
            if let (true, Some(state)) = (is_connect, self.conns.get_mut(&event.conn)) {
                if state.connect.is_none() {
                    state.connect_refused = Some(format!("it does not decode: {err}"));
                }
            }
            self.each_rule(event.conn, findings, |check, _| {
                matches!(check, Check::WellFormed).then(|| Some(format!("{evidence} ({err})")))
            });
            return;
        }
        let Some(packet) = packet else { return };
        self.each_rule(event.conn, findings, |check, _| match check {
            Check::WellFormed => Some(None),
            Check::PacketTypes { allowed } => Some(
                (!allowed
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(packet.packet_type().name())))
                .then(|| {
                    format!(
                        "{evidence}: {} is not among {}",
                        packet.packet_type(),
                        allowed.join(", ")
                    )
                }),
            ),
            _ => None,
        });
        match packet {
            Packet::Connect(c) => self.connect(event, c, evidence, findings),
            Packet::Publish(p) => self.publish(event, p, evidence, findings),
            Packet::Subscribe(s) => self.subscribe(event, s, evidence, findings),
            _ => {}
        }
    }

    /// What the server sends: its CONNACK's limits, and the QoS it delivers at.
    fn server_packet(
        &mut self,
        event: &Event,
        packet: &Packet,
        evidence: &Evidence<'_>,
        findings: &mut Vec<Finding>,
    ) {
        match packet {
            Packet::ConnAck(ack) => {
                if ack.code != 0 {
                    self.login_refused(event.conn);
                }
                if let Some(state) = self.conns.get_mut(&event.conn) {
                    if ack.code != 0 {
                        state.connect_refused =
                            Some(format!("the server answered CONNACK 0x{:02X}", ack.code));
                    }
                    if state.version.is_v5() {
                        let max = ack.properties.get_int(PropertyId::TopicAliasMaximum);
                        state.topic_alias_max =
                            Some(max.map_or(0, |m| u16::try_from(m).unwrap_or(u16::MAX)));
                        state.server_keep_alive = ack
                            .properties
                            .get_int(PropertyId::ServerKeepAlive)
                            .map(|k| u16::try_from(k).unwrap_or(u16::MAX));
                    }
                }
            }
            Packet::Publish(p) => {
                let profile = self.profile.clone();
                self.each_rule(event.conn, findings, |check, _| match check {
                    Check::DeliveryQos { max } => max.or(profile.downlink_qos).map(|max| {
                        (p.qos.as_u8() > max).then(|| {
                            format!(
                                "{evidence}: delivered at QoS {}; the platform delivers at QoS {max} or below",
                                p.qos.as_u8()
                            )
                        })
                    }),
                    _ => None,
                });
            }
            _ => {}
        }
    }

    fn connect(
        &mut self,
        event: &Event,
        c: &Connect,
        evidence: &Evidence<'_>,
        findings: &mut Vec<Finding>,
    ) {
        // Another open connection with this identity is being taken over: the device its
        // credentials name where the platform holds one connection per device credential,
        // else the client id. An empty client id is no identity: the server assigns each
        // such connection its own.
        let now = event.at;
        let device = self.auth.as_ref().and_then(|a| {
            a.scheme.device_of(&Presented::new(
                &c.client_id,
                c.username.as_deref(),
                c.password.as_deref(),
            ))
        });
        let identity = device
            .or_else(|| (!c.client_id.is_empty()).then(|| format!("client id {}", c.client_id)));
        if let Some(identity) = &identity {
            let same_id = self.open_by_client.entry(identity.clone()).or_default();
            for id in same_id.iter() {
                // One that sent DISCONNECT is leaving on its own: nothing to take over.
                if let Some(other) = self.conns.get_mut(id) {
                    if *id != event.conn && other.closed.is_none() && !other.disconnected {
                        other.taken_over_at.get_or_insert(now);
                    }
                }
            }
            if !same_id.contains(&event.conn) {
                same_id.push(event.conn);
            }
        }
        // Only the first connection after a drop is the reconnect the backoff rule times.
        let backoff_since = self.server_closes.remove(&c.client_id);
        {
            let state = self
                .conns
                .get_mut(&event.conn)
                .expect("connection state exists");
            state.version = c.protocol;
            state.identity = identity;
            state.label = if c.client_id.is_empty() {
                format!("connection {}", event.conn)
            } else {
                c.client_id.clone()
            };
            // Detached: the packet's bytes come from a source's shared buffer.
            state.connect = Some((now, c.detached()));
        }
        let profile = self.profile.clone();
        // Each credential rule on its own: checked and holding, broken, unchecked (with
        // why), or not concerning credentials of this kind.
        let credentials: HashMap<String, RuleOutcome> = match &self.auth {
            None => HashMap::new(),
            Some(a) => {
                let presented =
                    Presented::new(&c.client_id, c.username.as_deref(), c.password.as_deref());
                let now = self.epoch_unix + now.as_secs();
                let format = a.scheme.check_format(&presented, now);
                let verified = a
                    .identity
                    .as_ref()
                    .filter(|_| format.is_ok())
                    .map(|identity| identity.verify(&presented, now));
                self.rules
                    .iter()
                    .filter(|r| {
                        r.check
                            .value
                            .as_slice()
                            .iter()
                            .any(|c| matches!(c, Check::Credentials))
                    })
                    .map(|r| {
                        let id = r.id.value.as_str();
                        let outcome = if a.identity.as_ref().is_some_and(|i| i.leaves_open(id)) {
                            RuleOutcome::NotApplicable
                        } else {
                            a.scheme
                                .rule_outcome(id, &presented, &format, verified.as_ref())
                        };
                        (id.to_owned(), outcome)
                    })
                    .collect()
            }
        };
        self.each_rule(event.conn, findings, |check, rule_id| match check {
            Check::ProtocolVersion { allowed } => {
                let allowed = if allowed.is_empty() { &profile.protocols } else { allowed };
                if allowed.is_empty() {
                    return Some(None);
                }
                let ok = allowed.iter().any(|a| ProtocolVersion::from_str(a).is_ok_and(|v| v == c.protocol));
                Some((!ok).then(|| format!("{evidence}: MQTT {} is not among {}", c.protocol, allowed.join(", "))))
            }
            Check::Credentials => match credentials.get(rule_id)? {
                RuleOutcome::Holds => Some(None),
                RuleOutcome::Violated(e) => Some(Some(format!("{evidence}: {e}"))),
                RuleOutcome::NotApplicable | RuleOutcome::Unchecked(_) => None,
            },
            Check::KeepaliveRange { min, max, .. } => {
                let min = min.or(profile.keepalive.min);
                let max = max.or(profile.keepalive.max);
                let ka = c.keep_alive;
                let bad = min.is_some_and(|m| ka < m) || max.is_some_and(|m| ka > m);
                Some(bad.then(|| {
                    format!(
                        "{evidence}: keepalive {ka} s is outside {}–{} s",
                        min.map_or("0".into(), |m| m.to_string()),
                        max.map_or("65535".into(), |m| m.to_string())
                    )
                }))
            }
            Check::NoWill => Some(c.will.as_ref().map(|w| {
                format!("{evidence}: Will set (topic {:?}, QoS {}, retain {})", w.topic, w.qos.as_u8(), w.retain)
            })),
            Check::CleanSession => Some((!c.clean_session).then(|| format!("{evidence}: Clean Session is 0"))),
            Check::UserProperties { .. } | Check::RequestResponse { .. } if c.protocol.is_v5() => {
                let limits = property_limits(check, &profile)?;
                Some(c.will.as_ref().and_then(|w| limits.violation(&w.properties)).map(|why| format!("{evidence}: Will: {why}")))
            }
            Check::ReconnectBackoff { min_seconds } => backoff_since.map(|closed_at| {
                let waited = now.saturating_sub(closed_at).as_secs_f64();
                let tolerance = DEVICE_TIMER_TOLERANCE.as_secs_f64();
                (waited + tolerance < *min_seconds).then(|| {
                    format!("{evidence}: reconnected {waited:.2} s after the server closed the previous connection; at least {min_seconds:.2} s expected, less {tolerance:.2} s of tolerance (the device times from when it sees the close, a network away)")
                })
            }),
            _ => None,
        });
        // A warning below the recommended keepalive, whatever the rule's status.
        let state = self
            .conns
            .get_mut(&event.conn)
            .expect("connection state exists");
        for (i, rule) in self.rules.iter().enumerate() {
            if let Some(RuleOutcome::Unchecked(why)) = credentials.get(rule.id.value.as_str()) {
                let rs = &mut state.rules[i];
                if rs.violation.is_none() {
                    rs.applied = true;
                    rs.inconclusive = Some(format!("{evidence}: {why}"));
                }
            }
        }
        for (i, rule) in self.rules.iter().enumerate() {
            for check in rule.check.value.as_slice() {
                let Check::KeepaliveRange { warn_below, .. } = check else {
                    continue;
                };
                if let Some(w) = warn_below.or(profile.keepalive.warn_below) {
                    if c.keep_alive < w && state.rules[i].violation.is_none() {
                        state.rules[i].warning = Some(format!(
                            "{evidence}: keepalive {} s is below the recommended {w} s",
                            c.keep_alive
                        ));
                    }
                }
            }
        }
    }

    fn publish(
        &mut self,
        event: &Event,
        p: &crate::codec::Publish,
        evidence: &Evidence<'_>,
        findings: &mut Vec<Finding>,
    ) {
        let at = event.at;
        let rate = if !self.tracks_rate {
            0
        } else {
            let state = self
                .conns
                .get_mut(&event.conn)
                .expect("connection state exists");
            state.publishes.push_back(at);
            while state
                .publishes
                .front()
                .is_some_and(|t| at.saturating_sub(*t) >= Duration::from_secs(1))
            {
                state.publishes.pop_front();
            }
            state.publishes.len()
        };
        let profile = self.profile.clone();
        let vars = self.vars.clone();
        let (v5, alias_max) = self
            .conns
            .get(&event.conn)
            .map_or((false, None), |s| (s.version.is_v5(), s.topic_alias_max));
        let allowed_topic = |patterns: &[String]| -> bool {
            patterns.is_empty()
                || patterns.iter().any(|pat| {
                    vars.interpolate(pat)
                        .is_ok_and(|pat| topic::matches(&pat, &p.topic))
                })
        };
        self.each_rule(event.conn, findings, |check, _| match check {
            Check::NoRetain => Some(p.retain.then(|| format!("{evidence}: RETAIN is set"))),
            Check::MaxQos { publish, .. } => {
                let max = publish.unwrap_or(profile.max_qos);
                Some(
                    (p.qos.as_u8() > max).then(|| {
                        format!("{evidence}: QoS {} above the maximum {max}", p.qos.as_u8())
                    }),
                )
            }
            Check::PublishTopics => Some((!allowed_topic(&profile.topics.publish)).then(|| {
                format!(
                    "{evidence}: topic {:?} is not one the device may publish to",
                    p.topic
                )
            })),
            Check::PayloadSize { max } => max.or(profile.max_payload).map(|max| {
                (p.payload.len() > max).then(|| {
                    format!(
                        "{evidence}: payload of {} bytes exceeds {max}",
                        p.payload.len()
                    )
                })
            }),
            Check::PublishRate { max_per_second } => {
                max_per_second.or(profile.max_publish_rate).map(|max| {
                    (rate as f64 > max).then(|| {
                        format!(
                            "{evidence}: {rate} PUBLISH within one second; at most {max} allowed"
                        )
                    })
                })
            }
            Check::UserProperties { .. } | Check::RequestResponse { .. } if v5 => {
                let limits = property_limits(check, &profile)?;
                Some(
                    limits
                        .violation(&p.properties)
                        .map(|why| format!("{evidence}: {why}")),
                )
            }
            Check::TopicAlias { max } if v5 => {
                let max = max.or(alias_max)?;
                let alias = p.properties.get_int(PropertyId::TopicAlias);
                Some(alias.filter(|a| *a > u32::from(max)).map(|a| {
                    if max == 0 {
                        format!("{evidence}: Topic Alias {a} used; the server allows none")
                    } else {
                        format!("{evidence}: Topic Alias {a} above the maximum {max}")
                    }
                }))
            }
            Check::TopicLength { max } => Some((p.topic.len() > *max).then(|| {
                format!(
                    "{evidence}: topic name of {} bytes; at most {max}",
                    p.topic.len()
                )
            })),
            Check::PayloadJson { topics, schema } => {
                let applies = topics.iter().any(|pat| {
                    vars.interpolate(pat)
                        .is_ok_and(|pat| topic::matches(&pat, &p.topic))
                });
                applies.then(
                    || match serde_json::from_slice::<serde_json::Value>(&p.payload) {
                        Err(e) => Some(format!("{evidence}: payload is not JSON ({e})")),
                        Ok(v) => shape::check(&v, schema, "$")
                            .err()
                            .map(|m| format!("{evidence}: {m}")),
                    },
                )
            }
            _ => None,
        });
    }

    fn subscribe(
        &mut self,
        event: &Event,
        s: &crate::codec::Subscribe,
        evidence: &Evidence<'_>,
        findings: &mut Vec<Finding>,
    ) {
        let profile = self.profile.clone();
        let vars = self.vars.clone();
        // A filter whose wildcard comes too early belongs to the wildcard-depth rule when
        // the suite has one: the topic allow-list does not flag it a second time.
        let wildcard_min = self
            .rules
            .iter()
            .flat_map(|r| r.check.value.as_slice())
            .find_map(|c| match c {
                Check::WildcardDepth { min_level } => {
                    Some(min_level.or(profile.topics.wildcard_min_level))
                }
                _ => None,
            })
            .flatten();
        let too_shallow = |filter: &str| {
            wildcard_min.is_some_and(|min| {
                filter
                    .split('/')
                    .position(|l| l == "+" || l == "#")
                    .is_some_and(|first| first < min)
            })
        };
        self.each_rule(event.conn, findings, |check, _| match check {
            Check::MaxQos { subscribe, .. } => {
                let max = subscribe.unwrap_or(profile.max_qos);
                let over = s.subscriptions.iter().find(|x| x.options.qos.as_u8() > max);
                Some(over.map(|x| {
                    format!(
                        "{evidence}: {:?} requests QoS {} above the maximum {max}",
                        x.filter,
                        x.options.qos.as_u8()
                    )
                }))
            }
            Check::SubscribeTopics => {
                let patterns = &profile.topics.subscribe;
                if patterns.is_empty() {
                    return Some(None);
                }
                let bad = s.subscriptions.iter().find(|x| {
                    !too_shallow(&x.filter)
                        && !patterns.iter().any(|pat| {
                            vars.interpolate(pat)
                                .is_ok_and(|pat| covers(&pat, &x.filter))
                        })
                });
                Some(bad.map(|x| {
                    format!(
                        "{evidence}: filter {:?} is not one the device may subscribe to",
                        x.filter
                    )
                }))
            }
            Check::WildcardDepth { min_level } => {
                min_level.or(profile.topics.wildcard_min_level).map(|min| {
                    let bad = s.subscriptions.iter().find(|x| {
                        x.filter
                            .split('/')
                            .position(|l| l == "+" || l == "#")
                            .is_some_and(|first| first < min)
                    });
                    bad.map(|x| {
                        format!(
                            "{evidence}: {:?} has a wildcard before level {}",
                            x.filter,
                            min + 1
                        )
                    })
                })
            }
            _ => None,
        });
    }

    /// The server refused connection `conn`'s login: it takes nothing over (MQTT-3.1.4-2
    /// follows a successful CONNECT), and holds its identity no longer.
    fn login_refused(&mut self, conn: u64) {
        let Some((identity, at)) = self
            .conns
            .get(&conn)
            .and_then(|s| Some((s.identity.clone()?, s.connect.as_ref()?.0)))
        else {
            return;
        };
        let Some(ids) = self.open_by_client.get_mut(&identity) else {
            return;
        };
        ids.retain(|id| *id != conn);
        for id in ids.clone() {
            if let Some(other) = self.conns.get_mut(&id) {
                if other.taken_over_at == Some(at) {
                    other.taken_over_at = None;
                }
            }
        }
    }

    /// Judges `gap`, a silence of the client with Keep Alive `ka`, against the keep-alive
    /// window (`what` says what ended the silence). Within the tolerance it holds; beyond
    /// it, but before a server may drop the client, it draws a warning; from there on it
    /// is a violation.
    fn judge_silence(
        &mut self,
        conn: u64,
        gap: Duration,
        ka: u16,
        what: &str,
        findings: &mut Vec<Finding>,
    ) {
        if ka == 0 {
            return;
        }
        let window = SilenceWindow::new(ka, &self.profile.keepalive);
        let g = gap.as_secs_f64();
        let text = format!("{what} {g:.3} s of silence; {}", window.describe());
        let fails = g >= window.drop_at;
        self.each_rule(conn, findings, |check, _| match check {
            Check::ClientSilence => Some(fails.then(|| text.clone())),
            _ => None,
        });
        let Some(state) = self.conns.get_mut(&conn) else {
            return;
        };
        if state.longest_silence.is_none_or(|l| gap > l) {
            state.longest_silence = Some(gap);
        }
        if g > window.pass_until && !fails {
            for (i, rule) in self.rules.iter().enumerate() {
                let silence = rule
                    .check
                    .value
                    .as_slice()
                    .iter()
                    .any(|c| matches!(c, Check::ClientSilence));
                if silence && state.rules[i].warning.is_none() {
                    state.rules[i].warning = Some(format!(
                        "{}: {text}; late beyond the tolerance, but before a server may drop the client",
                        rule.title
                    ));
                }
            }
        }
    }

    fn closed(&mut self, event: &Event, by: Option<Side>, findings: &mut Vec<Finding>) {
        let at = event.at;
        let Some(state) = self.conns.get_mut(&event.conn) else {
            return;
        };
        if state.closed.is_some() {
            return;
        }
        // After a DISCONNECT the server closing is the normal end (MQTT-3.14.4-1), not a
        // drop.
        let left_on_its_own = state.disconnected;
        let by = if state.disconnected {
            Some(Side::Client)
        } else {
            by
        };
        state.closed = Some((at, by));
        let connect = state.connect.clone();
        let keep_alive = state.keep_alive();
        let last_client = state.last_client;
        let taken_over = state.taken_over_at;
        let who = state.identity.clone().unwrap_or_default();
        // A connection taken over by the device's newer one was not a drop: the device is
        // connected again already, so its next connection is not timed against this close.
        if let (Some(Side::Server), Some((_, c)), None) = (by, &connect, taken_over) {
            self.server_closes.insert(c.client_id.clone(), at);
        }
        let (Some(ka), true) = (keep_alive, connect.is_some()) else {
            return;
        };
        let silent_for = last_client.map(|l| at.saturating_sub(l));
        // The client ended silent (unless it closed itself): that silence is judged too.
        if let (Some(gap), false) = (silent_for, by == Some(Side::Client)) {
            let what = format!(
                "the connection was closed at {:.3} s after",
                at.as_secs_f64()
            );
            self.judge_silence(event.conn, gap, ka, &what, findings);
        }
        let profile = self.profile.clone();
        self.each_rule(event.conn, findings, |check, _| match check {
            Check::ServerClose {
                factor,
                min_factor,
                tolerance,
            } if ka > 0 && by == Some(Side::Server) => {
                let gap = silent_for?;
                if gap < Duration::from_secs(u64::from(ka)) {
                    // Closed for another reason than silence.
                    return None;
                }
                let factor = factor.unwrap_or(profile.keepalive.server_timeout);
                let earliest = min_factor.unwrap_or(factor) * f64::from(ka);
                let tol = tolerance.unwrap_or(1.0);
                let due = factor * f64::from(ka);
                let g = gap.as_secs_f64();
                Some((g < earliest || g > due + tol).then(|| {
                    format!("the server closed a silent client after {g:.2} s; window {earliest:.2}–{:.2} s (up to {factor}× keepalive {ka} s + {tol} s)", due + tol)
                }))
            }
            Check::OneConnection if by == Some(Side::Server) => taken_over.map(|_| None),
            _ => None,
        });
        // Taken over, then ended by the client (or by either side, unseen) rather than by
        // the server: a server that kept it open past the window broke the rule; before
        // that, nothing shows what the server would have done. One that sent DISCONNECT
        // within the window crossed the newer connection: it left on its own, and there was
        // nothing to take over.
        let open_for = taken_over.map(|since| at.saturating_sub(since));
        let crossed = left_on_its_own && open_for.is_some_and(|d| d < TAKEOVER_WINDOW);
        if let (Some(since), false, false) = (taken_over, by == Some(Side::Server), crossed) {
            let open_for = at.saturating_sub(since);
            let ender = if by == Some(Side::Client) {
                "the client"
            } else {
                "either side"
            };
            if open_for >= TAKEOVER_WINDOW {
                let message = format!(
                    "a newer connection with the same identity ({who}) connected at {:.3} s; the server kept this one open for {:.2} s, until {ender} closed it (window: the server ends it within {} s)",
                    since.as_secs_f64(),
                    open_for.as_secs_f64(),
                    TAKEOVER_WINDOW.as_secs()
                );
                self.each_rule(event.conn, findings, |check, _| {
                    matches!(check, Check::OneConnection).then(|| Some(message.clone()))
                });
            } else if let Some(state) = self.conns.get_mut(&event.conn) {
                let why = format!(
                    "{ender} closed this connection {:.2} s after a newer connection with the same identity ({who}) connected, before the server ended it (window {} s): nothing shows what the server would have done",
                    open_for.as_secs_f64(),
                    TAKEOVER_WINDOW.as_secs()
                );
                mark_inconclusive(
                    &self.rules,
                    state,
                    |c| matches!(c, Check::OneConnection),
                    &why,
                );
            }
        }
        if let Some(since) = taken_over {
            if let Some(i) = self.rules.iter().position(|r| {
                r.check
                    .value
                    .as_slice()
                    .iter()
                    .any(|c| matches!(c, Check::OneConnection))
            }) {
                let note = format!(
                    "closed {:.2} s after a newer connection with the same identity ({who}) connected",
                    at.saturating_sub(since).as_secs_f64()
                );
                if let Some(state) = self.conns.get_mut(&event.conn) {
                    state.rules[i].notes.push(note);
                }
            }
        }
    }

    /// Turns a connection's rule states into cases and frees its state. At the end of a
    /// run (`at_end`), rules only decidable then are decided first.
    fn finalize(&mut self, id: u64, at_end: bool) {
        let mut findings = Vec::new();
        let Some((taken_over, closed, has_connect, who)) = self.conns.get(&id).map(|s| {
            (
                s.taken_over_at,
                s.closed,
                s.connect.is_some(),
                s.identity.clone().unwrap_or_default(),
            )
        }) else {
            return;
        };
        if let (Some(since), None, true) = (taken_over, closed, at_end) {
            let open_for = self.last_at.saturating_sub(since);
            if open_for >= TAKEOVER_WINDOW {
                self.each_rule(id, &mut findings, |check, _| {
                    matches!(check, Check::OneConnection).then(|| {
                        Some(format!(
                            "a newer connection with the same identity ({who}) connected at {:.3} s, but this one stayed open for the {:.2} s left of the run (window: the server ends it within {} s)",
                            since.as_secs_f64(),
                            open_for.as_secs_f64(),
                            TAKEOVER_WINDOW.as_secs()
                        ))
                    })
                });
            } else if let Some(state) = self.conns.get_mut(&id) {
                let why = format!(
                    "the run ended {:.2} s after a newer connection with the same identity ({who}) connected, within the server's window of {} s",
                    open_for.as_secs_f64(),
                    TAKEOVER_WINDOW.as_secs()
                );
                mark_inconclusive(
                    &self.rules,
                    state,
                    |c| matches!(c, Check::OneConnection),
                    &why,
                );
            }
        }
        let Some(mut state) = self.conns.remove(&id) else {
            return;
        };
        if !has_connect && !self.report_unconnected {
            return;
        }
        if !has_connect
            && self.summarise_unconnected
            && state.connect_refused.is_none()
            && state.rules.iter().all(|r| r.violation.is_none())
        {
            // Nothing to judge and nothing wrong: counted, and its state freed.
            self.unconnected.count += 1;
            if self.unconnected.examples.len() < UNCONNECTED_EXAMPLES {
                let lines: Vec<String> = state
                    .trace
                    .render(&state.label)
                    .into_iter()
                    .take(3)
                    .map(|l| format!("{:.3} s {}", l.at.as_secs_f64(), l.text))
                    .collect();
                self.unconnected
                    .examples
                    .push(format!("{} ({})", state.label, lines.join(", ")));
            }
            return;
        }
        if !has_connect {
            let why = match (&state.connect_refused, self.summarise_unconnected) {
                (Some(refused), _) => format!(
                    "the CONNECT of this connection was refused ({refused}): the device never logged in, so nothing after it was judged"
                ),
                (None, true) => "the device sent no CONNECT on this connection".to_owned(),
                (None, false) => "no CONNECT seen on this connection (it started before the capture, the capture ends before its CONNECT, or it never logged in)".to_owned(),
            };
            mark_inconclusive(
                &self.rules,
                &mut state,
                |c| !matches!(c, Check::WellFormed | Check::PacketTypes { .. }),
                &why,
            );
        }
        if let Some(identity) = &state.identity {
            if let Some(ids) = self.open_by_client.get_mut(identity) {
                ids.retain(|x| *x != id);
                if ids.is_empty() {
                    self.open_by_client.remove(identity);
                }
            }
        }
        let lifetime = state
            .closed
            .map(|(t, _)| t)
            .or(state.last_client)
            .unwrap_or(state.opened)
            .saturating_sub(state.opened);
        let mut cases = Vec::new();
        let mut trace = None;
        for (i, rule) in self.rules.iter().enumerate() {
            let rs = &state.rules[i];
            if !rs.applied && rs.warning.is_none() {
                continue;
            }
            let verdict = rule_verdict(rule, rs);
            // Evidence for what did not pass; a passing rule needs no conversation.
            let case_trace = if verdict == Verdict::Passed {
                Vec::new()
            } else {
                trace
                    .get_or_insert_with(|| state.trace.render(&state.label))
                    .clone()
            };
            let measured = match (state.keep_alive(), state.longest_silence) {
                (Some(ka), Some(gap))
                    if ka > 0
                        && rule
                            .check
                            .value
                            .as_slice()
                            .iter()
                            .any(|c| matches!(c, Check::ClientSilence)) =>
                {
                    Some(format!(
                        "longest silence {:.3} s; {}",
                        gap.as_secs_f64(),
                        SilenceWindow::new(ka, &self.profile.keepalive).describe()
                    ))
                }
                _ => None,
            };
            cases.push(CaseReport {
                id: rule.id.value.clone(),
                title: rule.title.clone(),
                cites: rule.cites.clone(),
                verdict,
                branch: None,
                measured,
                duration: lifetime,
                trace: case_trace,
            });
        }
        self.finished.push(FinishedConn {
            id,
            label: state.label,
            lifetime,
            cases,
        });
    }

    /// Ends judging: every rule that applied on every connection becomes one case.
    pub fn finish(mut self, grouping: Grouping) -> Vec<SuiteReport> {
        let mut open: Vec<u64> = self.conns.ids().collect();
        // In connection order, as if they had closed: reports do not depend on hashing.
        open.sort_unstable();
        for id in open {
            self.finalize(id, true);
        }
        let mut groups: BTreeMap<String, SuiteReport> = BTreeMap::new();
        if self.unconnected.count > 0 {
            let name = "connections without CONNECT".to_owned();
            let message = format!(
                "{} connection(s) never sent a CONNECT (port scans, health checks, failed TLS handshakes): nothing to judge; e.g. {}",
                self.unconnected.count,
                self.unconnected.examples.join("; ")
            );
            groups.insert(
                name.clone(),
                SuiteReport {
                    name,
                    classname: self.suite_name.clone(),
                    properties: Vec::new(),
                    cases: vec![CaseReport {
                        id: NO_CONNECT_CASE.into(),
                        title: "connections that never logged in, summarised".into(),
                        cites: Vec::new(),
                        verdict: Verdict::Inconclusive { message },
                        branch: None,
                        measured: None,
                        duration: Duration::ZERO,
                        trace: Vec::new(),
                    }],
                    duration: Duration::ZERO,
                },
            );
        }
        for done in std::mem::take(&mut self.finished) {
            let key = match grouping {
                Grouping::ClientId => done.label.clone(),
                Grouping::Connection => match self.conn_names.get(&done.id) {
                    Some(name) => format!("{} ({name})", done.label),
                    None => format!("{} (connection {})", done.label, done.id),
                },
                Grouping::All => format!("{} (rules over the run's connections)", self.suite_name),
            };
            let group = groups.entry(key.clone()).or_insert_with(|| SuiteReport {
                name: key.clone(),
                classname: self.suite_name.clone(),
                properties: Vec::new(),
                cases: Vec::new(),
                duration: Duration::ZERO,
            });
            group.duration += done.lifetime;
            for case in done.cases {
                // Several connections of one device: the worst verdict per rule wins.
                match group.cases.iter_mut().find(|c| c.id == case.id) {
                    Some(existing) if severity(&case.verdict) > severity(&existing.verdict) => {
                        *existing = case
                    }
                    Some(_) => {}
                    None => group.cases.push(case),
                }
            }
        }
        groups.into_values().collect()
    }
}

/// How long a client with a given Keep Alive may stay silent.
///
/// The client must send within each Keep Alive period (MQTT-3.1.2-23), but the gap is
/// measured at the far end of a network and clients ping once the period has fully
/// elapsed: up to Keep Alive plus the profile's `client_tolerance` it passes. A server may
/// drop the client only after `server_timeout` × Keep Alive (MQTT-3.1.2-24: 1.5 ×, or the
/// platform's own factor): silence from there on fails; in between it is a warning.
#[derive(Debug, Clone, Copy)]
struct SilenceWindow {
    keepalive: u16,
    tolerance: f64,
    factor: f64,
    /// Silence up to this many seconds passes.
    pass_until: f64,
    /// Silence of this many seconds or more fails.
    drop_at: f64,
}

impl SilenceWindow {
    fn new(keepalive: u16, rules: &crate::suite::profile::KeepaliveRules) -> Self {
        let ka = f64::from(keepalive);
        let factor = rules.server_timeout.max(1.0);
        let drop_at = factor * ka;
        Self {
            keepalive,
            tolerance: rules.client_tolerance,
            factor,
            pass_until: (ka + rules.client_tolerance).min(drop_at),
            drop_at,
        }
    }

    /// The window in words, for every verdict that judged a silence.
    fn describe(&self) -> String {
        format!(
            "keepalive {} s: passes up to {:.2} s ({:.2} s tolerance for network delay), fails from {:.2} s ({} × keepalive, when a server may drop the client)",
            self.keepalive, self.pass_until, self.tolerance, self.drop_at, self.factor
        )
    }
}

/// A closed connection's cases.
struct FinishedConn {
    id: u64,
    label: String,
    lifetime: Duration,
    cases: Vec<CaseReport>,
}

/// The evidence of one event: rendered only when a rule reports something.
pub(crate) struct Evidence<'a> {
    event: &'a Event,
    version: ProtocolVersion,
}

impl std::fmt::Display for Evidence<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "at {:.3} s: {}",
            self.event.at.as_secs_f64(),
            event_text(self.event, self.version)
        )
    }
}

/// One event in words.
fn event_text(event: &Event, version: ProtocolVersion) -> String {
    match &event.kind {
        EventKind::Opened(None) => "connection opened".to_owned(),
        EventKind::Opened(Some(e)) => format!("connection opened: {} → {}", e.client, e.server),
        EventKind::Tls(tls) => format!(
            "TLS: SNI {}, offered {}, negotiated {}",
            tls.sni.as_deref().unwrap_or("(none)"),
            tls.offered
                .iter()
                .map(|v| crate::event::tls_version_name(*v))
                .collect::<Vec<_>>()
                .join(", "),
            tls.negotiated
                .map(crate::event::tls_version_name)
                .unwrap_or_else(|| "(not seen)".into())
        ),
        EventKind::Gap { bytes } => format!("{bytes} bytes lost from the stream (capture gap)"),
        EventKind::Packet { bytes, packet } => {
            let version = match packet {
                Ok(Packet::Connect(c)) => c.protocol,
                _ => version,
            };
            describe(bytes, packet, version)
        }
        EventKind::Unframeable(e) => format!("stream cannot be framed: {e}"),
        EventKind::Closed { by, detail } => format!(
            "closed by {} ({detail})",
            match by {
                Some(Side::Client) => "the client",
                Some(Side::Server) => "the server",
                None => "either side",
            }
        ),
    }
}

/// How soon after a newer connection with the same identity the server must have ended
/// the older one (the baseline suites' default `within`).
const TAKEOVER_WINDOW: Duration = Duration::from_secs(5);

/// Events kept per connection at the start and at the end of its conversation.
const TRACE_HEAD: usize = 24;
const TRACE_TAIL: usize = 24;

/// Bytes of a packet kept as evidence; a longer PUBLISH keeps its first bytes (topic,
/// packet id, properties and the start of the payload).
const KEPT_BYTES: usize = 160;

/// One kept event, decoded again only when a report shows it. Packets are copied into
/// the entry, never held as a handle on their frame: a handle would keep whatever buffer
/// the frame lives in (a capture's reassembly buffer) alive for as long as the
/// connection lasts, and free it cold when the entry is evicted.
#[derive(Debug)]
struct Kept {
    at: Duration,
    from: Side,
    version: ProtocolVersion,
    what: KeptWhat,
}

#[derive(Debug)]
enum KeptWhat {
    /// A packet's first `kept` bytes of `len`.
    Packet {
        len: u32,
        kept: u8,
        bytes: [u8; KEPT_BYTES],
    },
    /// Anything else (and the rare long packet that is not a PUBLISH), as text.
    Text(String),
}

impl Kept {
    fn of(event: &Event, version: ProtocolVersion) -> Self {
        let what = match &event.kind {
            EventKind::Packet { bytes, packet }
                if bytes.len() <= KEPT_BYTES || matches!(packet, Ok(Packet::Publish(_))) =>
            {
                let kept = bytes.len().min(KEPT_BYTES);
                let mut copy = [0u8; KEPT_BYTES];
                copy[..kept].copy_from_slice(&bytes[..kept]);
                KeptWhat::Packet {
                    len: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
                    kept: kept as u8,
                    bytes: copy,
                }
            }
            _ => KeptWhat::Text(event_text(event, version)),
        };
        Self {
            at: event.at,
            from: event.from,
            version,
            what,
        }
    }

    fn line(&self, label: &str) -> TraceLine {
        let (direction, text) = match &self.what {
            KeptWhat::Packet { len, kept, bytes } => {
                let arrow = if self.from == Side::Client {
                    "→"
                } else {
                    "←"
                };
                let prefix = &bytes[..usize::from(*kept)];
                let text = if u32::from(*kept) == *len {
                    let frame = bytes::Bytes::copy_from_slice(prefix);
                    let packet = crate::codec::decode_packet(&frame, self.version);
                    let version = match &packet {
                        Ok(Packet::Connect(c)) => c.protocol,
                        _ => self.version,
                    };
                    describe(prefix, &packet, version)
                } else {
                    cut_publish_text(prefix, *len, self.version)
                };
                (arrow.to_owned(), text)
            }
            KeptWhat::Text(text) => (String::new(), text.clone()),
        };
        TraceLine {
            at: self.at,
            conn: label.to_owned(),
            direction,
            text,
        }
    }
}

/// A long PUBLISH of which only `prefix` was kept: decoded as if its payload ended there
/// (the remaining length rewritten), and said so.
fn cut_publish_text(prefix: &[u8], len: u32, version: ProtocolVersion) -> String {
    let note = format!("{len} bytes, the first {} kept", prefix.len());
    // The fixed header: the type byte and a remaining length of 1–4 bytes.
    let header = prefix
        .iter()
        .skip(1)
        .take(4)
        .position(|b| b & 0x80 == 0)
        .map(|i| i + 2);
    let decoded = header.and_then(|h| {
        let body = prefix.get(h..)?;
        let mut frame = vec![prefix[0]];
        crate::codec::varint::encode(u32::try_from(body.len()).ok()?, &mut frame);
        frame.extend_from_slice(body);
        crate::codec::decode_packet(&bytes::Bytes::from(frame), version).ok()
    });
    match decoded {
        Some(packet) => format!("{} ({note})", describe(prefix, &Ok(packet), version)),
        None => format!("PUBLISH [{}] ({note})", hex_preview(prefix)),
    }
}

/// A connection's conversation, bounded: its first and last events.
#[derive(Debug, Default)]
struct Trace {
    head: Vec<Kept>,
    /// The last events, a ring once full: `tail[next]` is the oldest. Overwritten in
    /// place, so keeping an event touches one slot of this connection's memory (with
    /// thousands of connections a slot is rarely in cache).
    tail: Vec<Kept>,
    next: usize,
    skipped: usize,
}

impl Trace {
    fn push(&mut self, event: &Event, version: ProtocolVersion) {
        let kept = Kept::of(event, version);
        if self.head.len() < TRACE_HEAD {
            self.head.push(kept);
        } else if self.tail.len() < TRACE_TAIL {
            self.tail.push(kept);
        } else {
            self.tail[self.next] = kept;
            self.next = (self.next + 1) % TRACE_TAIL;
            self.skipped += 1;
        }
    }

    /// Where the next event will be kept, or next to it (for a prefetch).
    fn next_slot(&self) -> Option<&Kept> {
        if self.tail.len() == TRACE_TAIL {
            self.tail.get(self.next)
        } else {
            self.tail.last().or(self.head.last())
        }
    }

    /// The tail, oldest first.
    fn tail_in_order(&self) -> impl Iterator<Item = &Kept> {
        let (newer, older) = self.tail.split_at(self.next);
        older.iter().chain(newer)
    }

    fn render(&self, label: &str) -> Vec<TraceLine> {
        let mut out: Vec<TraceLine> = self.head.iter().map(|k| k.line(label)).collect();
        if self.skipped > 0 {
            out.push(TraceLine {
                at: self.tail_in_order().next().map_or(Duration::ZERO, |k| k.at),
                conn: label.to_owned(),
                direction: String::new(),
                text: format!("… {} events not kept …", self.skipped),
            });
        }
        out.extend(self.tail_in_order().map(|k| k.line(label)));
        out
    }
}

/// The property limits a `user_properties` or `request_response` check enforces: its own
/// values over the profile's, and only the ones of its kind. `None` when it has none.
fn property_limits(check: &Check, profile: &Profile) -> Option<PropertyLimits> {
    let base = &profile.properties;
    let limits = match check {
        Check::UserProperties {
            max_count,
            max_chars,
            reserved_prefix,
        } => PropertyLimits {
            max_user_properties: max_count.or(base.max_user_properties),
            max_user_property_chars: max_chars.or(base.max_user_property_chars),
            reserved_key_prefix: reserved_prefix
                .clone()
                .or_else(|| base.reserved_key_prefix.clone()),
            ..PropertyLimits::default()
        },
        Check::RequestResponse {
            max_response_topic_chars,
            max_correlation_data,
        } => PropertyLimits {
            max_response_topic_chars: max_response_topic_chars.or(base.max_response_topic_chars),
            max_correlation_data: max_correlation_data.or(base.max_correlation_data),
            ..PropertyLimits::default()
        },
        _ => return None,
    };
    (limits != PropertyLimits::default()).then_some(limits)
}

/// Marks the rules with a check `concerned` inconclusive for `why`, unless already violated.
fn mark_inconclusive(
    rules: &[RuleDef],
    state: &mut ConnState,
    concerned: impl Fn(&Check) -> bool,
    why: &str,
) {
    for (i, rule) in rules.iter().enumerate() {
        let rs = &mut state.rules[i];
        if rule.check.value.as_slice().iter().any(&concerned) && rs.violation.is_none() {
            rs.applied = true;
            rs.inconclusive = Some(why.to_owned());
        }
    }
}

fn severity(v: &Verdict) -> u8 {
    match v {
        Verdict::Skipped { .. } => 0,
        Verdict::Passed => 1,
        Verdict::Inconclusive { .. } => 2,
        Verdict::Recorded { .. } => 3,
        Verdict::Warning { .. } => 4,
        Verdict::Failed { .. } => 5,
        Verdict::Error { .. } => 6,
    }
}

fn rule_verdict(rule: &RuleDef, rs: &RuleState) -> Verdict {
    if let Some(v) = &rs.violation {
        let more = if rs.violations > 1 {
            format!(" (and {} more)", rs.violations - 1)
        } else {
            String::new()
        };
        let message = format!("{}: {v}{more}", rule.title);
        return match rule.status.unwrap_or(Status::Doc) {
            Status::Doc | Status::DocAmbiguous => Verdict::Failed { message },
            Status::NotPinned => Verdict::Recorded { message },
            _ => Verdict::Warning { message },
        };
    }
    if let Some(w) = &rs.warning {
        return Verdict::Warning { message: w.clone() };
    }
    if let Some(i) = &rs.inconclusive {
        return Verdict::Inconclusive { message: i.clone() };
    }
    if !rs.notes.is_empty() && rule.status == Some(Status::NotPinned) {
        return Verdict::Recorded {
            message: rs.notes.join("; "),
        };
    }
    Verdict::Passed
}

/// True when every topic matching `filter` also matches `pattern` (both may hold wildcards).
pub fn covers(pattern: &str, filter: &str) -> bool {
    let mut p = pattern.split('/');
    let mut f = filter.split('/');
    loop {
        match (p.next(), f.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(fl)) if fl != "#" => {}
            (Some(pl), Some(fl)) if pl == fl && pl != "+" && pl != "#" => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_of_filters_by_patterns() {
        assert!(covers("tylink/d1/#", "tylink/d1/thing/property/set"));
        assert!(covers("tylink/d1/#", "tylink/d1/+/x"));
        assert!(covers("a/+/c", "a/b/c"));
        assert!(!covers("a/+/c", "a/#"));
        assert!(!covers("tylink/d1/#", "tylink/d2/x"));
        assert!(!covers("a/b", "a/+"));
        assert!(covers("$sys/p/d/#", "$sys/p/d/cmd/request/+"));
    }

    fn packet_event(packet: Packet) -> Event {
        let bytes = bytes::Bytes::from(
            crate::codec::encode_to_vec(&packet, ProtocolVersion::V3_1_1).expect("encodes"),
        );
        let decoded = crate::codec::decode_packet(&bytes, ProtocolVersion::V3_1_1);
        Event {
            conn: 1,
            at: Duration::from_millis(5),
            from: Side::Client,
            kind: EventKind::Packet {
                bytes,
                packet: decoded,
            },
        }
    }

    #[test]
    fn a_long_publish_is_kept_cut_and_still_shows_its_topic() {
        let mut p = crate::codec::Publish::new("devices/d1/telemetry", vec![b'x'; 1000]);
        p.qos = crate::codec::QoS::AtLeastOnce;
        p.packet_id = Some(7);
        let kept = Kept::of(&packet_event(Packet::Publish(p)), ProtocolVersion::V3_1_1);
        let text = kept.line("d1").text;
        assert!(
            text.starts_with("PUBLISH topic=\"devices/d1/telemetry\" qos=1"),
            "{text}"
        );
        assert!(text.contains("packet_id=7"), "{text}");
        assert!(
            text.ends_with(&format!("(1027 bytes, the first {KEPT_BYTES} kept)")),
            "{text}"
        );
    }

    #[test]
    fn a_long_trace_keeps_its_first_and_last_events_in_order() {
        let mut trace = Trace::default();
        let total = TRACE_HEAD + TRACE_TAIL + 13;
        for n in 0..total {
            let mut ev = packet_event(Packet::PingReq);
            ev.at = Duration::from_millis(n as u64);
            trace.push(&ev, ProtocolVersion::V3_1_1);
        }
        let lines = trace.render("d1");
        assert_eq!(lines.len(), TRACE_HEAD + 1 + TRACE_TAIL);
        let at = |i: usize| lines[i].at.as_millis() as usize;
        assert!((0..TRACE_HEAD).all(|i| at(i) == i));
        assert_eq!(lines[TRACE_HEAD].text, "… 13 events not kept …");
        assert_eq!(at(TRACE_HEAD), TRACE_HEAD + 13);
        let tail: Vec<usize> = (TRACE_HEAD + 1..lines.len()).map(at).collect();
        let want: Vec<usize> = (TRACE_HEAD + 13..total).collect();
        assert_eq!(tail, want);
    }

    #[test]
    fn a_short_packet_is_kept_whole() {
        let p = crate::codec::Publish::new("t", b"hello".to_vec());
        let kept = Kept::of(&packet_event(Packet::Publish(p)), ProtocolVersion::V3_1_1);
        let text = kept.line("d1").text;
        assert!(text.contains("payload=5 bytes"), "{text}");
        assert!(!text.contains("kept"), "{text}");
    }

    #[test]
    fn a_long_connect_is_kept_as_text_with_its_password_masked() {
        let mut c = Connect::new(ProtocolVersion::V3_1_1, "d1");
        c.username = Some("user".into());
        c.password = Some(bytes::Bytes::from(vec![b's'; 300]));
        let kept = Kept::of(
            &packet_event(Packet::Connect(Box::new(c))),
            ProtocolVersion::V3_1_1,
        );
        assert!(matches!(kept.what, KeptWhat::Text(_)));
        let text = kept.line("d1").text;
        assert!(text.starts_with("CONNECT"), "{text}");
        assert!(!text.contains("73 73 73"), "the password shows: {text}");
    }
}
