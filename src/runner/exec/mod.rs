//! Runs one test: its steps in order over named connections, every wait bounded by a window
//! or the test's deadline, and a verdict carrying the evidence.

mod budget;
mod expect;
mod tap;
mod unsubscribed;

pub use budget::PayloadBudget;
pub use tap::{EventTap, TAP_BACKLOG_BYTES, TapReceiver};
pub use unsubscribed::{UNSUBSCRIBED_PUBLISH, UnsubscribedDeliveries};

use super::build::{self, BuildContext, DefaultCredentials, Outgoing};
use super::connection::{Conn, Incoming};
use super::matcher;
use super::transport::Connector;
use crate::codec::framing::Framer;
use crate::codec::{
    DecodeError, Packet, PacketType, ProtocolVersion, SubAck, decode_packet, encode, topic,
};
use crate::event::{EventKind, Side, describe, hex_preview};
use crate::report::{CaseReport, TraceLine, Verdict};
use crate::secret::Redactor;
use crate::suite::profile::Capability;
use crate::suite::schema::{
    ALTERNATIVE_OPTIONS, Condition, ENDS_TEST, ExpectDef, INCONCLUSIVE, Status, Step, TestDef,
};
use crate::suite::timing::{TimeExpr, Window, fmt_secs};
use crate::suite::vars::Vars;
use crate::suite::{DEFAULT_CONN, Suite};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// What every test of a run shares.
pub struct RunContext {
    /// The suite.
    pub suite: Arc<Suite>,
    /// Opens connections to the target.
    pub connector: Connector,
    /// Parameters and the run's built-ins.
    pub vars: Vars,
    /// Credentials from the suite's auth scheme.
    pub credentials: DefaultCredentials,
    /// The suite's auth scheme and interpolated parameters.
    pub auth: Option<(crate::auth::Scheme, crate::auth::suite_params::Values)>,
    /// Hides secrets in everything reported.
    pub redactor: Redactor,
    /// Framing limits for what peers send.
    pub framer: Framer,
    /// A token unique to this run (client ids, topics).
    pub run_token: String,
    /// Where the run's own traffic goes as events (the judge, a capture).
    pub events: Option<EventTap>,
    /// Numbers the run's connections for events.
    pub next_conn: std::sync::atomic::AtomicU64,
    /// PUBLISH packets that arrived on topics their connection never subscribed to.
    pub unsubscribed: std::sync::Mutex<UnsubscribedDeliveries>,
    /// Bounds the generated payloads tests hold at once.
    pub payloads: PayloadBudget,
    /// Where running tests say what they do.
    pub progress: Option<Arc<crate::runner::progress::Board>>,
}
impl RunContext {
    /// Reports that we closed connection `conn`.
    fn tap_closed(&self, conn: u64, why: &str) {
        if let Some(tap) = &self.events {
            let kind = EventKind::Closed {
                by: Some(Side::Client),
                detail: format!("closed by the harness ({why})"),
            };
            tap.emit(conn, Instant::now(), Side::Client, kind);
        }
    }
}

/// Runs `test` (the `index`-th of the suite) to a verdict.
pub async fn run_test(ctx: Arc<RunContext>, test: TestDef, index: usize) -> CaseReport {
    let started = Instant::now();
    if let Some(board) = &ctx.progress {
        board.started(index, &test.id.value);
    }
    let deadline = test.timeout.as_ref().map_or(ctx.suite.timeout, |t| t.value);
    let mut runner = TestRun {
        ctx: ctx.clone(),
        test_id: test.id.value.clone(),
        test_slug: slug(&test.id.value),
        index,
        t0: started,
        conns: BTreeMap::new(),
        trace: Vec::new(),
        trace_left_out: 0,
        ended: false,
        measured: Vec::new(),
        timing: None,
        left_out: Default::default(),
        branch: None,
        deadline: started + deadline,
        subscribed: BTreeMap::new(),
        held: BTreeMap::new(),
    };
    let outcome = match tokio::time::timeout(deadline, runner.steps(&test)).await {
        Ok(r) => r,
        Err(_) => Err(StepFailure::Harness(format!(
            "the test's deadline of {} passed before its steps finished",
            fmt_secs(deadline)
        ))),
    };
    for conn in runner.conns.values_mut() {
        conn.shutdown().await;
        if conn.closed_at.is_none() {
            runner.ctx.tap_closed(conn.id, "the test ended");
        }
    }
    // Lines are pushed as steps consume them; a packet that waited on one connection
    // while a step used another arrived earlier than the lines before it.
    runner.trace.sort_by_key(|line| line.at);
    if let Some(board) = &ctx.progress {
        board.finished(index);
    }
    let verdict = verdict(&test, outcome, runner.branch.as_deref(), &ctx.redactor);
    let trace = runner.finish_trace();
    let timing = runner.timing_in(&trace);
    CaseReport {
        id: test.id.value.clone(),
        title: test.title.clone(),
        cites: test.cites.clone(),
        verdict,
        branch: runner.branch,
        measured: (!runner.measured.is_empty()).then(|| runner.measured.join("; ")),
        duration: started.elapsed(),
        trace,
        timing,
    }
}

/// Why a test did not pass.
enum StepFailure {
    /// The target did something else than the suite expects.
    Target(String),
    /// The harness could not carry out the step (I/O error, deadline, bad value).
    Harness(String),
    /// The target did something the specification allows that leaves the rest of the test
    /// unobservable (a lower QoS granted, a delivery it may withhold).
    Inconclusive(String),
}

fn verdict(
    test: &TestDef,
    outcome: Result<(), StepFailure>,
    branch: Option<&str>,
    redactor: &Redactor,
) -> Verdict {
    let status = test.status.unwrap_or(Status::Doc);
    let with_note = |m: String| match &test.note {
        Some(n) => redactor.text(&format!("{m}\nnote: {n}")),
        None => redactor.text(&m),
    };
    match (outcome, status) {
        (Err(StepFailure::Harness(m)), _) => Verdict::Error {
            message: redactor.text(&m),
        },
        (Err(StepFailure::Inconclusive(m)), _) => Verdict::Inconclusive {
            message: redactor.text(&m),
        },
        (Ok(()), _) => status.met(|| {
            Some(match branch {
                Some(b) => format!("observed: {b}"),
                None => "observed: the expected behaviour".into(),
            })
        }),
        (Err(StepFailure::Target(m)), _) => status.missed(with_note(m)),
    }
}

fn slug(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// Trace lines kept from a test's start and from its end: a peer that streams packets
/// costs a bounded trace (the lines between are counted, not kept).
const TRACE_HEAD: usize = 100;
const TRACE_TAIL: usize = 100;

/// Bytes of a received packet kept as a step's evidence (its hex preview shows fewer).
const KEPT_BYTES: usize = 160;

struct TestRun {
    ctx: Arc<RunContext>,
    test_id: String,
    test_slug: String,
    index: usize,
    t0: Instant,
    conns: BTreeMap<String, Conn>,
    /// The first [`TRACE_HEAD`] lines, then the last [`TRACE_TAIL`].
    trace: Vec<TraceLine>,
    /// Lines dropped between the head and the tail.
    trace_left_out: usize,
    /// An `any_of` alternative that ends the test was taken.
    ended: bool,
    branch: Option<String>,
    /// Times measured against windows, and what went unchecked on this platform, for the
    /// report (passing or not).
    measured: Vec<String>,
    /// The window the verdict rests on, for the report's diagrams.
    timing: Option<expect::Timed>,
    /// Capabilities the platform lacks whose steps this test left out.
    left_out: std::collections::BTreeSet<Capability>,
    /// When the test's deadline passes.
    deadline: Instant,
    /// The topic filters subscribed in this test, by the Client Identifier that subscribed
    /// (a session resumed on another connection keeps them).
    subscribed: BTreeMap<String, Vec<String>>,
    /// Per connection, PUBLISHes that arrived before an expected SUBACK (a server may send
    /// them first): the next expectations on the connection take them before new packets.
    held: BTreeMap<String, std::collections::VecDeque<SeenItem>>,
}

type StepResult = Result<(), StepFailure>;

impl TestRun {
    async fn steps(&mut self, test: &TestDef) -> StepResult {
        // Steps are numbered among those that run on this platform: a baseline test's
        // messages read the same wherever its `needs` / `unless` steps are left out.
        let mut n = 0;
        for step in &test.steps {
            if !self.applies(test, &step.value) {
                continue;
            }
            n += 1;
            let prefix = |m: String| format!("step {n} ({}): {m}", step_name(&step.value));
            let r = match &step.value {
                Step::Open(o) => self.open(&conn_name(&o.conn)).await,
                Step::Connect(c) => self.connect(c).await,
                Step::Send(s) => self.send(s).await,
                Step::Expect(e) => self.expect(e).await,
                Step::Wait(d) => {
                    tokio::time::sleep(d.value).await;
                    Ok(())
                }
                Step::Close(o) => {
                    let name = conn_name(&o.conn);
                    if let Some(c) = self.conns.get_mut(&name) {
                        c.shutdown().await;
                        if c.closed_at.is_none() {
                            c.closed_at = Some(Instant::now());
                            self.ctx.tap_closed(c.id, "a close step");
                        }
                    }
                    self.note(&name, "", "we closed the connection");
                    Ok(())
                }
            };
            r.map_err(|f| match f {
                StepFailure::Target(m) => StepFailure::Target(prefix(m)),
                StepFailure::Harness(m) => StepFailure::Harness(prefix(m)),
                StepFailure::Inconclusive(m) => StepFailure::Inconclusive(prefix(m)),
            })?;
            if self.ended {
                self.note(
                    "",
                    "",
                    "the reaction seen ends the test: its remaining steps do not apply",
                );
                break;
            }
        }
        Ok(())
    }

    /// Whether step `n` runs on this platform. A step that `needs` a capability the
    /// platform lacks is left out, noted in the trace, and the test's report says once per
    /// capability what went unchecked and why; an `unless` step runs only then.
    fn applies(&mut self, test: &TestDef, step: &Step) -> bool {
        let profile = &self.ctx.suite.profile;
        match step.condition() {
            None => true,
            Some(Condition::Unless(capability)) => profile.lacking(capability).is_some(),
            Some(Condition::Needs(capability)) => {
                let Some(why) = profile.lacking(capability) else {
                    return true;
                };
                let name = capability.name();
                self.note(
                    "",
                    "",
                    &format!("a step ({}) left out: it needs {name}", step_name(step)),
                );
                if self.left_out.insert(capability) {
                    let what = test.without.get(&capability).map_or("", String::as_str);
                    self.measured
                        .push(format!("not checked: {what} (no {name}: {why})"));
                }
                false
            }
        }
    }

    fn vars(&self, conn: &str) -> Vars {
        let mut v = self.ctx.vars.clone();
        v.set("test", self.test_slug.clone());
        v.set("conn", conn.to_owned());
        v.set("client_id", self.unique_client_id(conn));
        // Read by the `grant` matcher operator (a name no `${…}` can spell).
        v.set(
            matcher::MAX_QOS_VAR,
            self.ctx.suite.profile.max_qos.to_string(),
        );
        // Timestamps for credentials that sign the current time.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        v.set("now", now.as_secs().to_string());
        v.set("now_ms", now.as_millis().to_string());
        self.ctx.suite.bind_vars(&mut v);
        v
    }

    fn unique_client_id(&self, conn: &str) -> String {
        // Short and alphanumeric: within the 23 characters every server must accept.
        let conn_tag: String = conn
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(4)
            .collect();
        format!("mc{}t{}{}", self.ctx.run_token, self.index, conn_tag)
    }

    /// Keeps a trace line: all of the first [`TRACE_HEAD`], then a window of the last
    /// [`TRACE_TAIL`].
    fn push_trace(&mut self, line: TraceLine) {
        if self.trace.len() == TRACE_HEAD + TRACE_TAIL {
            self.trace.remove(TRACE_HEAD);
            self.trace_left_out += 1;
        }
        self.trace.push(line);
    }

    /// The kept trace, with a line saying how many were left out between head and tail.
    fn finish_trace(&mut self) -> Vec<TraceLine> {
        let mut trace = std::mem::take(&mut self.trace);
        if self.trace_left_out > 0 {
            let at = trace[TRACE_HEAD].at;
            trace.insert(
                TRACE_HEAD,
                TraceLine {
                    at,
                    conn: String::new(),
                    direction: String::new(),
                    text: format!("… {} lines left out …", self.trace_left_out),
                },
            );
        }
        trace
    }

    /// Remembers what a packet we sent changes: the client id a CONNECT names, the filters
    /// a SUBSCRIBE adds.
    fn sent(&mut self, name: &str, packet: &Packet) {
        match packet {
            Packet::Connect(c) => {
                if let Some(conn) = self.conns.get_mut(name) {
                    conn.client_id = Some(c.client_id.clone());
                    conn.max_packet_size = c
                        .properties
                        .get_int(crate::codec::PropertyId::MaximumPacketSize);
                }
            }
            Packet::Subscribe(s) => {
                let Some(client_id) = self.conns.get(name).and_then(|c| c.client_id.clone()) else {
                    return;
                };
                let filters = self.subscribed.entry(client_id).or_default();
                filters.extend(s.subscriptions.iter().map(|x| x.filter.clone()));
            }
            _ => {}
        }
    }

    /// True when `packet` is a PUBLISH on a topic no subscription of this test by the
    /// connection's client id matches. Connections with the suite's own identity are not
    /// judged: a platform may subscribe a device on its behalf.
    fn unsubscribed(&self, name: &str, packet: &Packet) -> bool {
        let Packet::Publish(p) = packet else {
            return false;
        };
        // A 5.0 PUBLISH may carry its topic as an alias only.
        if p.topic.is_empty() {
            return false;
        }
        let Some(client_id) = self.conns.get(name).and_then(|c| c.client_id.as_deref()) else {
            return false;
        };
        if self.ctx.credentials.client_id.as_deref() == Some(client_id) {
            return false;
        }
        !self
            .subscribed
            .get(client_id)
            .is_some_and(|filters| filters.iter().any(|f| topic::matches(f, &p.topic)))
    }

    /// Sets aside a PUBLISH on a topic the connection never subscribed to: noted in the
    /// trace and counted for the run's one finding.
    fn set_aside_unsubscribed(&mut self, name: &str, seen: &SeenItem) {
        self.note(
            name,
            "",
            &format!(
                "set aside: PUBLISH on a topic this connection never subscribed to (reported once as {UNSUBSCRIBED_PUBLISH})"
            ),
        );
        let mut log = match self.ctx.unsubscribed.lock() {
            Ok(log) => log,
            Err(poisoned) => poisoned.into_inner(),
        };
        log.count += 1;
        log.tests.insert(self.test_id.clone());
        if log.first.is_none() {
            log.first = Some(format!("{} conn {name}: {}", self.test_id, seen.text));
        }
    }

    fn at(&self, instant: Instant) -> Duration {
        instant.saturating_duration_since(self.t0)
    }

    fn note(&mut self, conn: &str, direction: &str, text: &str) {
        let at = self.at(Instant::now());
        let text = self.ctx.redactor.text(text);
        self.push_trace(TraceLine {
            at,
            conn: conn.to_owned(),
            direction: direction.to_owned(),
            text,
        });
    }

    fn record(
        &mut self,
        conn: &str,
        direction: &str,
        at: Instant,
        bytes: &[u8],
        packet: &Result<Packet, DecodeError>,
        version: ProtocolVersion,
    ) {
        if let (Some(tap), Some(c)) = (&self.ctx.events, self.conns.get(conn)) {
            let from = if direction == "→" {
                Side::Client
            } else {
                Side::Server
            };
            let kind = EventKind::Packet {
                bytes: bytes::Bytes::copy_from_slice(bytes),
                packet: packet.clone(),
            };
            tap.emit(c.id, at, from, kind);
        }
        let shown = self.ctx.redactor.packet_bytes(bytes, packet);
        let text = self.ctx.redactor.text(&describe(&shown, packet, version));
        let at = self.at(at);
        self.push_trace(TraceLine {
            at,
            conn: conn.to_owned(),
            direction: direction.to_owned(),
            text,
        });
    }

    async fn open(&mut self, name: &str) -> StepResult {
        if self.conns.contains_key(name) {
            return Err(StepFailure::Harness(format!(
                "connection `{name}` is already open"
            )));
        }
        let suite = &self.ctx.suite;
        let id = self
            .ctx
            .next_conn
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let conn = Conn::open(
            name,
            id,
            &self.ctx.connector,
            self.ctx.framer,
            suite.protocol,
            suite.keepalive,
        )
        .await
        .map_err(|e| StepFailure::Harness(e.to_string()))?;
        let handshake = conn.websocket.as_ref().map(|(h, _)| h.clone());
        if let Some(tap) = &self.ctx.events {
            let now = Instant::now();
            tap.emit(id, now, Side::Client, EventKind::opened(conn.endpoints));
            if let Some(h) = &handshake {
                tap.emit(id, now, Side::Client, EventKind::WebSocket(h.clone()));
            }
        }
        self.conns.insert(name.to_owned(), conn);
        self.note(
            name,
            "",
            &format!("opened to {}", self.ctx.connector.target()),
        );
        if let Some(h) = handshake {
            self.note(name, "", &h.to_string());
        }
        Ok(())
    }

    fn conn(&mut self, name: &str) -> Result<&mut Conn, StepFailure> {
        self.conns
            .get_mut(name)
            .ok_or_else(|| StepFailure::Harness(format!("connection `{name}` is not open")))
    }

    /// Runs a packet builder with the connection's state and the test's variables.
    fn build<T>(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut BuildContext<'_>) -> Result<T, String>,
    ) -> Result<T, StepFailure> {
        let vars = self.vars(name);
        let unique = self.unique_client_id(name);
        let ctx = self.ctx.clone();
        let conn = self.conn(name)?;
        let mut bctx = BuildContext {
            vars: &vars,
            version: conn.version,
            default_protocol: ctx.suite.protocol,
            default_keepalive: ctx.suite.keepalive,
            next_packet_id: &mut conn.next_packet_id,
            last_received_id: conn.last_received_id,
            credentials: &ctx.credentials,
            auth: ctx.auth.as_ref(),
            unique_client_id: &unique,
        };
        f(&mut bctx).map_err(StepFailure::Harness)
    }

    async fn connect(&mut self, def: &crate::suite::schema::ConnectDef) -> StepResult {
        let name = conn_name(&def.conn);
        if !self.conns.contains_key(&name) {
            self.open(&name).await?;
        }
        let connect = self.build(&name, |b| build::connect(def, b))?;
        self.send_packet(&name, Packet::Connect(connect.into()))
            .await?;
        match &def.connack {
            Some(Value::Bool(false)) => Ok(()),
            other => {
                let matcher = other.clone().unwrap_or_else(|| json!({"code": 0}));
                let expect = ExpectDef {
                    conn: def.conn.clone(),
                    connack: Some(matcher),
                    ..ExpectDef::default()
                };
                self.expect(&expect).await
            }
        }
    }

    async fn send_packet(&mut self, name: &str, packet: Packet) -> StepResult {
        let conn = self.conn(name)?;
        if let Packet::Publish(p) = &packet {
            // A 5.0 client must keep within what the CONNACK announced (MQTT-3.2.2-11,
            // MQTT-3.2.2-14): a server without QoS 2 or retained messages is its right.
            let limits = conn.server_limits;
            if let Some(max) = limits.max_qos.filter(|max| p.qos.as_u8() > *max) {
                return Err(StepFailure::Inconclusive(format!(
                    "the server's CONNACK announced Maximum QoS {max}, which it may [MQTT-3.2.2-9]; \
                     a QoS {} PUBLISH would be the client's protocol error [MQTT-3.2.2-11], so what the test checks cannot be observed",
                    p.qos.as_u8()
                )));
            }
            if limits.no_retain && p.retain {
                return Err(StepFailure::Inconclusive(
                    "the server's CONNACK announced Retain Available 0, which it may (section 3.2.2.3.5); \
                     a retained PUBLISH would be the client's protocol error [MQTT-3.2.2-14], so what the test checks cannot be observed"
                        .into(),
                ));
            }
        }
        if let Packet::Connect(c) = &packet {
            conn.version = c.protocol;
            conn.keepalive = c.keep_alive;
        }
        let version = conn.version;
        self.tap_room().await;
        let conn = self.conn(name)?;
        let mut bytes = Vec::new();
        encode(&packet, version, &mut bytes).map_err(|e| StepFailure::Harness(e.to_string()))?;
        let at = conn
            .send(&bytes)
            .await
            .map_err(|e| StepFailure::Target(format!("sending failed: {e}")))?;
        self.sent(name, &packet);
        self.record(name, "→", at, &bytes, &Ok(packet), version);
        Ok(())
    }

    async fn send(&mut self, def: &crate::suite::schema::SendDef) -> StepResult {
        let name = conn_name(&def.conn);
        let generated = def.publish.as_ref().and_then(|p| p.payload_size);
        let ctx = self.ctx.clone();
        let _payload = ctx.payloads.reserve(generated.unwrap_or(0)).await;
        if let Some(framing) = def.websocket {
            return self.send_framed(&name, def, framing).await;
        }
        match self.build(&name, |b| build::outgoing(def, b))? {
            Outgoing::Packet(p) => self.send_packet(&name, p).await,
            Outgoing::Raw(bytes) => {
                self.tap_room().await;
                let conn = self.conn(&name)?;
                let version = conn.version;
                let at = conn
                    .send(&bytes)
                    .await
                    .map_err(|e| StepFailure::Target(format!("sending failed: {e}")))?;
                let decoded = decode_packet(&bytes::Bytes::copy_from_slice(&bytes), version);
                if let Ok(Packet::Connect(c)) = &decoded {
                    let conn = self.conn(&name)?;
                    conn.version = c.protocol;
                    conn.keepalive = c.keep_alive;
                }
                if let Ok(packet) = &decoded {
                    self.sent(&name, packet);
                }
                let shown = self.ctx.redactor.packet_bytes(&bytes, &decoded);
                let text = match &decoded {
                    Ok(_) => describe(&shown, &decoded, version),
                    Err(e) => format!(
                        "raw bytes ({}) [{}]",
                        e.violation.message(),
                        hex_preview(&shown)
                    ),
                };
                let at = self.at(at);
                let text = self.ctx.redactor.text(&text);
                self.push_trace(TraceLine {
                    at,
                    conn: name,
                    direction: "→".into(),
                    text,
                });
                Ok(())
            }
        }
    }
}

impl TestRun {
    /// A `send` step with WebSocket `framing`: the bytes go out framed that way. A text
    /// message is not MQTT's (MQTT-6.0.0-1): it is reported as such, not as a packet.
    async fn send_framed(
        &mut self,
        name: &str,
        def: &crate::suite::schema::SendDef,
        framing: crate::websocket::Framing,
    ) -> StepResult {
        use crate::websocket::Framing;
        let bytes = match self.build(name, |b| build::outgoing(def, b))? {
            Outgoing::Packet(p) => {
                let version = self.conn(name)?.version;
                let mut bytes = Vec::new();
                encode(&p, version, &mut bytes).map_err(|e| StepFailure::Harness(e.to_string()))?;
                bytes
            }
            Outgoing::Raw(bytes) => bytes,
        };
        self.tap_room().await;
        let conn = self.conn(name)?;
        let (version, id) = (conn.version, conn.id);
        let Some((_, control)) = &conn.websocket else {
            return Err(StepFailure::Harness(
                "`websocket` framing needs a WebSocket connection".into(),
            ));
        };
        control.next_write(framing);
        let at = conn
            .send(&bytes)
            .await
            .map_err(|e| StepFailure::Target(format!("sending failed: {e}")))?;
        let decoded = decode_packet(&bytes::Bytes::copy_from_slice(&bytes), version);
        let how = match framing {
            Framing::Text => "as a WebSocket text message",
            Framing::Split => "as one WebSocket binary message per byte",
            Framing::Fragmented => {
                "as one WebSocket binary message in one-byte frames, a ping among them"
            }
            Framing::PingFirst => "as one WebSocket binary message after a ping",
        };
        if framing == Framing::Text {
            let event = crate::event::WebSocketEvent::NonBinary {
                opcode: 1,
                len: bytes.len() as u64,
                head: bytes::Bytes::copy_from_slice(
                    &bytes[..bytes.len().min(crate::event::WebSocketEvent::HEAD)],
                ),
            };
            if let Some(tap) = &self.ctx.events {
                tap.emit(id, at, Side::Client, EventKind::WebSocket(event));
            }
            let shown = self.ctx.redactor.packet_bytes(&bytes, &decoded);
            let text = format!("{how}: {}", describe(&shown, &decoded, version));
            self.note(name, "→", &text);
        } else {
            self.note(name, "", &format!("the next packet goes {how}"));
            if let Ok(packet) = &decoded {
                self.sent(name, packet);
            }
            self.record(name, "→", at, &bytes, &decoded, version);
        }
        Ok(())
    }
}

enum Seen {
    Packet(Result<Packet, DecodeError>),
    Closed,
    Broken,
}

struct SeenItem {
    at: Instant,
    text: String,
    bytes: Vec<u8>,
    kind: Seen,
}
fn conn_name(c: &Option<serde_saphyr::Spanned<String>>) -> String {
    c.as_ref()
        .map(|s| s.value.clone())
        .unwrap_or_else(|| DEFAULT_CONN.to_owned())
}

fn step_name(step: &Step) -> String {
    match step {
        Step::Open(_) => "open".into(),
        Step::Connect(_) => "connect".into(),
        Step::Send(s) => {
            let kind = if s.raw.is_some() {
                "raw"
            } else if s.publish.is_some() {
                "publish"
            } else if s.subscribe.is_some() {
                "subscribe"
            } else if s.unsubscribe.is_some() {
                "unsubscribe"
            } else if s.connect.is_some() {
                "connect"
            } else {
                "packet"
            };
            format!("send {kind}")
        }
        Step::Expect(e) => {
            if e.closed.is_some() {
                "expect closed".into()
            } else if e.silence.is_some() {
                "expect silence".into()
            } else if e.any_of.is_some() {
                "expect any_of".into()
            } else if e.subprotocol.is_some() {
                "expect subprotocol".into()
            } else {
                format!(
                    "expect {}",
                    e.packet_matchers()
                        .first()
                        .map(|(k, _)| *k)
                        .unwrap_or("packet")
                )
            }
        }
        Step::Wait(_) => "wait".into(),
        Step::Close(_) => "close".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet_of(len: usize) -> EventKind {
        EventKind::Packet {
            bytes: bytes::Bytes::from(vec![0x30; len]),
            packet: Ok(Packet::PingReq),
        }
    }

    #[tokio::test]
    async fn a_test_waits_while_the_judge_is_behind_by_the_backlog_limit() {
        let (tap, mut judge) = EventTap::new(Instant::now());
        let big = TAP_BACKLOG_BYTES / 4;
        for _ in 0..4 {
            tap.emit(1, Instant::now(), Side::Client, packet_of(big));
        }
        // Four packets of a quarter of the limit each (and their overhead): full.
        let mut room = std::pin::pin!(tap.room());
        assert!(
            futures_poll_once(room.as_mut()).await.is_none(),
            "no room yet"
        );
        judge.recv().await.expect("an event");
        // The first one is released once the judge asks for the next.
        judge.recv().await.expect("an event");
        tokio::time::timeout(Duration::from_secs(5), room)
            .await
            .expect("room once the judge has taken events");
        assert!(judge.peak_backlog() >= 4 * big);
        assert!(judge.peak_backlog() < TAP_BACKLOG_BYTES + 4096);
    }

    #[tokio::test]
    async fn large_generated_payloads_take_turns_within_the_budget() {
        let budget = PayloadBudget::default();
        let small = budget.reserve(PayloadBudget::LARGE - 1).await;
        assert!(small.is_none(), "small payloads never wait");
        let half = PayloadBudget::BYTES / 2 / PayloadBudget::COPIES;
        let first = budget.reserve(half).await;
        let second = budget.reserve(half).await;
        assert!(first.is_some() && second.is_some());
        let mut third = std::pin::pin!(budget.reserve(PayloadBudget::LARGE));
        assert!(
            futures_poll_once(third.as_mut()).await.is_none(),
            "the budget is spent"
        );
        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(5), third)
            .await
            .expect("room once a payload is sent");
        assert!(third.is_some());
        // Larger than the whole budget: waits for all of it, then goes alone.
        drop((second, third));
        let huge = budget.reserve(4 * PayloadBudget::BYTES).await;
        assert!(huge.is_some());
    }

    #[tokio::test]
    async fn a_gone_judge_never_holds_a_test_up() {
        let (tap, judge) = EventTap::new(Instant::now());
        for _ in 0..2 {
            tap.emit(
                1,
                Instant::now(),
                Side::Client,
                packet_of(TAP_BACKLOG_BYTES),
            );
        }
        drop(judge);
        tokio::time::timeout(Duration::from_secs(5), tap.room())
            .await
            .expect("room once nobody judges");
    }

    /// Polls `f` once: `Some` when it is ready.
    async fn futures_poll_once<F: std::future::Future + Unpin>(f: F) -> Option<F::Output> {
        let mut f = f;
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut f).poll(cx) {
                std::task::Poll::Ready(v) => Some(v),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}
