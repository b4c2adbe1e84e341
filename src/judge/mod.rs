//! The judge: a suite's passive rules evaluated over conversation events.
//!
//! It does not know where events come from — the broker runner's sockets, the device
//! server, or a capture — so a rule written once is checked in all three places. Each rule
//! on each connection ends as one verdict, with the evidence (packets in hex and decoded,
//! timestamps, windows and measured values) that decided it.

mod conduct;
mod conns;
mod finish;
mod rules;
mod trace;

pub use crate::suite::check::{Check, Checks};

use crate::auth::{Identity, Presented, RuleOutcome, Scheme};
use crate::codec::{Connect, Packet, PacketType, PropertyId, ProtocolVersion, Violation, topic};
use crate::conduct::{Carried, Conduct, Note, Outcome};
use crate::event::{Event, EventKind, Side, describe, hex_preview};
use crate::report::{CaseReport, SuiteReport, Timing, TraceLine, Verdict};
use crate::suite::Suite;
use crate::suite::profile::{Profile, PropertyLimits};
use crate::suite::schema::{RuleDef, Status};
use crate::suite::shape;
use crate::suite::timing::DEVICE_TIMER_TOLERANCE;
use crate::suite::vars::Vars;
use conns::ConnTable;
use finish::{FinishedConn, SilenceWindow};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::str::FromStr;
use std::time::Duration;
use trace::{Evidence, Trace};

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

/// Whether `rule` judges the server, so that the broker runner judges it over its own
/// connections (see [`Judge::keep_server_rules`]).
pub fn judges_the_server(rule: &RuleDef) -> bool {
    rule.check.value.as_slice().iter().all(Check::judges_server)
}

/// A rule's state on one connection: kept small (most rules on most connections never
/// hold any text), the text boxed once there is some.
#[derive(Debug, Default, Clone)]
struct RuleState {
    applied: bool,
    violations: u32,
    detail: Option<Box<RuleDetail>>,
}

/// What a rule saw on a connection, in words.
#[derive(Debug, Default, Clone)]
struct RuleDetail {
    violation: Option<String>,
    warning: Option<String>,
    notes: Vec<String>,
    inconclusive: Option<String>,
    /// When the first violation was found (the time of its connection's event).
    violation_at: Option<Duration>,
    /// A server-close rule's window over a silent client: (the client's last packet, the
    /// earliest and the latest close passing, the close), for the report to draw.
    close_window: Option<[Duration; 4]>,
}

impl RuleState {
    fn violation(&self) -> Option<&String> {
        self.detail.as_ref()?.violation.as_ref()
    }

    fn warning(&self) -> Option<&String> {
        self.detail.as_ref()?.warning.as_ref()
    }

    fn inconclusive(&self) -> Option<&String> {
        self.detail.as_ref()?.inconclusive.as_ref()
    }

    fn notes(&self) -> &[String] {
        self.detail.as_ref().map_or(&[], |d| &d.notes)
    }

    fn detail_mut(&mut self) -> &mut RuleDetail {
        self.detail.get_or_insert_with(Box::default)
    }
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
    /// When that longest silence ended (the report draws it).
    longest_silence_end: Option<Duration>,
    /// The time of the connection's latest event: when a rule found a violation.
    last_event: Duration,
    /// The Server Keep Alive of the server's 5.0 CONNACK: the client must use it in place
    /// of its own (MQTT-3.1.2-21).
    server_keep_alive: Option<u16>,
    /// The identity a takeover is judged by (`client id …`, or the device its credentials
    /// name), once its CONNECT is seen.
    identity: Option<String>,
    /// Why the connection's CONNECT was refused (it did not decode, or the server answered
    /// with a refusing CONNACK), once it was.
    connect_refused: Option<String>,
    /// The client's conduct, from its first packet on, when the suite judges it.
    conduct: Option<Box<Conduct>>,
    /// How much of the connection's start its source saw, once its opening was reported
    /// (and before the client's first packet, whether its first bytes were lost).
    start: Option<crate::conduct::Start>,
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
    /// The rules judging each statement by conduct.
    conduct_rules: conduct::ConductRules,
    /// The rules with a check other than the conduct ones, which every packet's checks
    /// visit (conduct rules are reached through `conduct_rules` instead).
    packet_rules: Vec<usize>,
    /// Sessions that persist between connections, by client id: what the client's next
    /// connection must re-send.
    sessions: HashMap<String, Carried>,
    /// The notes of the packet being judged (a buffer kept between packets).
    conduct_notes: Vec<Note>,
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
            conduct_rules: conduct::index(&suite.rules),
            packet_rules: packet_rules(&suite.rules),
            sessions: HashMap::new(),
            conduct_notes: Vec::new(),
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
        self.rules.retain(judges_the_server);
        self.conduct_rules = conduct::index(&self.rules);
        self.packet_rules = packet_rules(&self.rules);
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
            longest_silence_end: None,
            last_event: event.at,
            server_keep_alive: None,
            identity: None,
            connect_refused: None,
            conduct: None,
            start: None,
        });
        conn.last_event = event.at;
        // Kept raw (a shared handle on the frame); rendered only for reports that need it.
        conn.trace.push(event, conn.version);
        let evidence = Evidence {
            event,
            version: conn.version,
        };

        match &event.kind {
            EventKind::Opened { from_start, .. } => {
                if let Some(state) = self.conns.get_mut(&event.conn) {
                    state.start = Some(if *from_start {
                        crate::conduct::Start::Seen
                    } else {
                        crate::conduct::Start::JoinedMidway
                    });
                }
            }
            EventKind::Tls(_) => {}
            EventKind::WebSocket(ws) => {
                self.conduct_websocket(event, ws, &evidence, &mut findings);
            }
            // Lost client bytes were sent at an unknown time: the silence up to the next
            // packet is not measured.
            EventKind::Gap { .. } => {
                if event.from == Side::Client {
                    if let Some(state) = self.conns.get_mut(&event.conn) {
                        state.last_client = None;
                        // Lost before its first packet: that packet may not be the first.
                        if state.conduct.is_none()
                            && state.start == Some(crate::conduct::Start::Seen)
                        {
                            state.start = Some(crate::conduct::Start::FirstBytesLost);
                        }
                    }
                }
            }
            EventKind::Unframeable(error) => {
                if event.from == Side::Client
                    && !self.conduct_malformed(
                        event.conn,
                        event.at,
                        error,
                        None,
                        &evidence.to_string(),
                        &mut findings,
                    )
                {
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
            EventKind::Packet {
                packet: Err(error), ..
            } => self.conduct_server_malformed(event, error),
            EventKind::Closed { by, .. } => {
                let client_closed = by.map(|b| b == Side::Client);
                self.conduct_end(event.conn, event.at, client_closed, &mut findings);
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
        for &i in &self.packet_rules {
            let rule = &self.rules[i];
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
            record(state, &self.rules, i, outcome, conn, findings);
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
            self.judge_silence(event.conn, (gap, at), ka, &what, findings);
        }
        if let Some(err) = decode_error {
            let claimed = match &event.kind {
                EventKind::Packet {
                    bytes,
                    packet: Err(error),
                } => {
                    let packet_type = bytes
                        .first()
                        .and_then(|b| PacketType::from_nibble(b >> 4))
                        .map(|t| (t, &bytes[..]));
                    self.conduct_malformed(
                        event.conn,
                        event.at,
                        error,
                        packet_type,
                        &evidence.to_string(),
                        findings,
                    )
                }
                _ => false,
            };
            let is_connect = matches!(&event.kind, EventKind::Packet { bytes, .. } if bytes.first().is_some_and(|b| b >> 4 == 1));
            if let (true, Some(state)) = (is_connect, self.conns.get_mut(&event.conn)) {
                if state.connect.is_none() {
                    state.connect_refused = Some(format!("it does not decode: {err}"));
                }
            }
            if !claimed {
                self.each_rule(event.conn, findings, |check, _| {
                    matches!(check, Check::WellFormed).then(|| Some(format!("{evidence} ({err})")))
                });
            }
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
        let size = match &event.kind {
            EventKind::Packet { bytes, .. } => bytes.len(),
            _ => 0,
        };
        self.conduct_client(event, packet, size, evidence, findings);
    }

    /// What the server sends: its CONNACK's limits, and the QoS it delivers at.
    fn server_packet(
        &mut self,
        event: &Event,
        packet: &Packet,
        evidence: &Evidence<'_>,
        findings: &mut Vec<Finding>,
    ) {
        self.conduct_server(event, packet);
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
        (gap, end): (Duration, Duration),
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
            state.longest_silence_end = Some(end);
        }
        if g > window.pass_until && !fails {
            for (i, rule) in self.rules.iter().enumerate() {
                let silence = rule
                    .check
                    .value
                    .as_slice()
                    .iter()
                    .any(|c| matches!(c, Check::ClientSilence));
                if silence && state.rules[i].warning().is_none() {
                    state.rules[i].detail_mut().warning = Some(format!(
                        "{}: {text}; late beyond the tolerance, but before a server may drop the client",
                        rule.title
                    ));
                }
            }
        }
    }
}

/// The indices of the rules with a check judged packet by packet (not `conduct` nor
/// `protocol_errors`).
fn packet_rules(rules: &[RuleDef]) -> Vec<usize> {
    rules
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.check
                .value
                .as_slice()
                .iter()
                .any(|c| !matches!(c, Check::Conduct(_) | Check::ProtocolErrors(_)))
        })
        .map(|(i, _)| i)
        .collect()
}

/// Records rule `i`'s outcome on a connection: `None` it held, `Some(evidence)` it was
/// violated (the first violation becomes a finding).
fn record(
    state: &mut ConnState,
    rules: &[RuleDef],
    i: usize,
    outcome: Option<String>,
    conn: u64,
    findings: &mut Vec<Finding>,
) {
    // A rule that holds again changes nothing: known from the connection's own mask,
    // without touching its rule states (elsewhere in memory, so a cache miss per packet
    // with thousands of connections).
    let bit = 1u128.checked_shl(i as u32).unwrap_or(0);
    if outcome.is_none() && state.applied_mask & bit != 0 {
        return;
    }
    state.applied_mask |= bit;
    let now = state.last_event;
    let rs = &mut state.rules[i];
    rs.applied = true;
    if let Some(evidence) = outcome {
        rs.violations += 1;
        if rs.violation().is_none() {
            rs.detail_mut().violation = Some(evidence.clone());
            rs.detail_mut().violation_at = Some(now);
            findings.push(Finding {
                conn,
                // Cloned only for a finding: this runs for every packet.
                client_id: state.connect.as_ref().map(|(_, c)| c.client_id.clone()),
                rule_id: rules[i].id.value.clone(),
                message: evidence,
            });
        }
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
}
