//! Runs one test: its steps in order over named connections, every wait bounded by a window
//! or the test's deadline, and a verdict carrying the evidence.

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
use crate::suite::schema::{
    ALTERNATIVE_OPTIONS, ENDS_TEST, ExpectDef, INCONCLUSIVE, Status, Step, TestDef,
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
}

/// Generated payloads (`payload_size`) of 1 MiB and more take turns once
/// [`PayloadBudget::BYTES`] of memory is held for them: without it, 64 tests sending
/// 16 MiB each would hold gigabytes. A payload is held about [`PayloadBudget::COPIES`]
/// times while it is sent (the packet, its encoding, the judge's event, the masked copy
/// the trace is described from), and is counted so.
#[derive(Debug)]
pub struct PayloadBudget {
    kib: tokio::sync::Semaphore,
}

impl Default for PayloadBudget {
    fn default() -> Self {
        Self {
            kib: tokio::sync::Semaphore::new(Self::BYTES / 1024),
        }
    }
}

impl PayloadBudget {
    /// Bytes of large generated payloads held at once.
    pub const BYTES: usize = 64 * 1024 * 1024;
    /// Payloads below this size never wait.
    pub const LARGE: usize = 1024 * 1024;
    /// Copies of a payload held while it is sent.
    pub const COPIES: usize = 4;

    /// Waits until `bytes` of payload may be held; the budget is back when the permit
    /// drops. A payload larger than the whole budget waits for all of it.
    pub async fn reserve(&self, bytes: usize) -> Option<tokio::sync::SemaphorePermit<'_>> {
        if bytes < Self::LARGE {
            return None;
        }
        let kib = (bytes.saturating_mul(Self::COPIES))
            .div_ceil(1024)
            .min(Self::BYTES / 1024);
        // The semaphore is never closed.
        self.kib.acquire_many(kib as u32).await.ok()
    }
}

/// Id of the finding that names PUBLISH packets delivered on topics the receiving
/// connection never subscribed to.
pub const UNSUBSCRIBED_PUBLISH: &str = "UNSUBSCRIBED-PUBLISH";

/// PUBLISH packets a server sent on topics the receiving connection never subscribed to.
/// Each test sets them aside and judges its own statement without them; the run reports
/// them once, as their own finding, instead of as failures of every test they crossed.
#[derive(Debug, Default)]
pub struct UnsubscribedDeliveries {
    /// How many arrived.
    pub count: usize,
    /// The tests they arrived in.
    pub tests: std::collections::BTreeSet<String>,
    /// The first one: test, connection and packet (redacted, bounded).
    pub first: Option<String>,
}

impl UnsubscribedDeliveries {
    /// The finding, when any arrived.
    pub fn finding(&self) -> Option<CaseReport> {
        let first = self.first.as_ref()?;
        let tests: Vec<&str> = self.tests.iter().map(String::as_str).take(10).collect();
        let more = self.tests.len().saturating_sub(tests.len());
        let message = format!(
            "the server sent {} PUBLISH packet(s) on topics the receiving connection never subscribed to, in {} test(s): {}{}; \
             a server sends an Application Message to the clients whose subscription matches its topic \
             (MQTT 3.1.1 §3.3.5 and §3.8.4, MQTT 5.0 §3.3.4); no normative statement forbids other deliveries, \
             so this is a warning, not a failure. \
             Each test set these packets aside and judged its own statement without them.\nfirst: {first}",
            self.count,
            self.tests.len(),
            tests.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
        Some(CaseReport {
            id: UNSUBSCRIBED_PUBLISH.into(),
            title: "PUBLISH on a topic this connection never subscribed to".into(),
            cites: Vec::new(),
            verdict: Verdict::Warning { message },
            branch: None,
            measured: None,
            duration: Duration::ZERO,
            trace: Vec::new(),
        })
    }
}

/// The run's own traffic as conversation events: every connection it opens, every packet
/// either way, every close — for the judge's server rules and for `--capture`.
///
/// The events wait in memory until the judge has taken them; the bytes they hold are
/// counted, and a test that would send or read more while [`TAP_BACKLOG_BYTES`] wait
/// first waits for the judge ([`EventTap::room`]), so large packets keep memory bounded.
#[derive(Debug, Clone)]
pub struct EventTap {
    tx: tokio::sync::mpsc::UnboundedSender<(crate::event::Event, usize)>,
    start: Instant,
    backlog: Arc<TapBacklog>,
}

/// Bytes of events sent and not yet taken by the judge, and a wake-up for tests that
/// wait for them to drop.
#[derive(Debug, Default)]
struct TapBacklog {
    bytes: std::sync::atomic::AtomicUsize,
    peak: std::sync::atomic::AtomicUsize,
    drained: tokio::sync::Notify,
}

/// Event bytes that may wait for the judge before tests pause (a few large packets).
pub const TAP_BACKLOG_BYTES: usize = 32 * 1024 * 1024;

/// The judge's end of an [`EventTap`].
#[derive(Debug)]
pub struct TapReceiver {
    rx: tokio::sync::mpsc::UnboundedReceiver<(crate::event::Event, usize)>,
    backlog: Arc<TapBacklog>,
    /// The weight of the event handed out last: released when the next is asked for,
    /// once the judge is done with it.
    taken: usize,
}

impl TapReceiver {
    /// The next event; `None` once every tap is gone.
    pub async fn recv(&mut self) -> Option<crate::event::Event> {
        self.release();
        let (event, weight) = self.rx.recv().await?;
        self.taken = weight;
        Some(event)
    }

    /// The most event bytes that waited for the judge at once.
    pub fn peak_backlog(&self) -> usize {
        self.backlog.peak.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn release(&mut self) {
        if self.taken > 0 {
            let weight = std::mem::take(&mut self.taken);
            self.backlog
                .bytes
                .fetch_sub(weight, std::sync::atomic::Ordering::Relaxed);
            self.backlog.drained.notify_waiters();
        }
    }
}

impl Drop for TapReceiver {
    fn drop(&mut self) {
        self.release();
        // Nobody will drain what is left: let waiting tests go on.
        self.backlog
            .bytes
            .store(0, std::sync::atomic::Ordering::Relaxed);
        self.backlog.drained.notify_waiters();
    }
}

impl EventTap {
    /// A tap whose events count time from `start`, and the receiving end.
    pub fn new(start: Instant) -> (Self, TapReceiver) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let backlog = Arc::new(TapBacklog::default());
        (
            Self {
                tx,
                start,
                backlog: backlog.clone(),
            },
            TapReceiver {
                rx,
                backlog,
                taken: 0,
            },
        )
    }

    fn emit(&self, conn: u64, at: Instant, from: Side, kind: EventKind) {
        use std::sync::atomic::Ordering::Relaxed;
        // What an event costs beyond its bytes (its struct, the decoded packet's fields).
        const EVENT_OVERHEAD: usize = 256;
        let weight = EVENT_OVERHEAD
            + match &kind {
                EventKind::Packet { bytes, .. } => bytes.len(),
                _ => 0,
            };
        let now = self.backlog.bytes.fetch_add(weight, Relaxed) + weight;
        self.backlog.peak.fetch_max(now, Relaxed);
        let event = crate::event::Event {
            conn,
            at: at.saturating_duration_since(self.start),
            from,
            kind,
        };
        if self.tx.send((event, weight)).is_err() {
            self.backlog.bytes.fetch_sub(weight, Relaxed);
        }
    }

    /// Resolves once fewer than [`TAP_BACKLOG_BYTES`] wait for the judge.
    pub async fn room(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        loop {
            let drained = self.backlog.drained.notified();
            let mut drained = std::pin::pin!(drained);
            // Registered before the check: a drain between the two is not missed.
            drained.as_mut().enable();
            if self.backlog.bytes.load(Relaxed) < TAP_BACKLOG_BYTES {
                return;
            }
            drained.await;
        }
    }
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
    let verdict = verdict(&test, outcome, runner.branch.as_deref(), &ctx.redactor);
    let trace = runner.finish_trace();
    CaseReport {
        id: test.id.value.clone(),
        title: test.title.clone(),
        cites: test.cites.clone(),
        verdict,
        branch: runner.branch,
        measured: (!runner.measured.is_empty()).then(|| runner.measured.join("; ")),
        duration: started.elapsed(),
        trace,
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
    /// Times measured against windows, for the report (passing or not).
    measured: Vec<String>,
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
        for (i, step) in test.steps.iter().enumerate() {
            let n = i + 1;
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

    fn vars(&self, conn: &str) -> Vars {
        let mut v = self.ctx.vars.clone();
        v.set("test", self.test_slug.clone());
        v.set("conn", conn.to_owned());
        v.set("client_id", self.unique_client_id(conn));
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
        if let Some(tap) = &self.ctx.events {
            tap.emit(
                id,
                Instant::now(),
                Side::Client,
                EventKind::Opened(conn.endpoints),
            );
        }
        self.conns.insert(name.to_owned(), conn);
        self.note(
            name,
            "",
            &format!("opened to {}", self.ctx.connector.target()),
        );
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

    async fn expect(&mut self, def: &ExpectDef) -> StepResult {
        let mut held_back = Vec::new();
        let result = self.expect_now(def, &mut held_back).await;
        if !held_back.is_empty() {
            let held = self.held.entry(conn_name(&def.conn)).or_default();
            for seen in held_back.into_iter().rev() {
                held.push_front(seen);
            }
        }
        result
    }

    /// The next thing seen on connection `name`: a held PUBLISH first, else what arrives
    /// before `deadline` (observed: traced and passed to the judge).
    async fn next_seen(
        &mut self,
        name: &str,
        deadline: Instant,
    ) -> Result<Option<SeenItem>, StepFailure> {
        if let Some(seen) = self.held.get_mut(name).and_then(|h| h.pop_front()) {
            return Ok(Some(seen));
        }
        self.tap_room().await;
        let item = self.conn(name)?.next(deadline).await;
        Ok(item.map(|item| self.observe(name, item)))
    }

    /// Waits while the judge is behind by [`TAP_BACKLOG_BYTES`] of events.
    async fn tap_room(&self) {
        if let Some(tap) = &self.ctx.events {
            tap.room().await;
        }
    }

    /// Waits for what `def` expects; PUBLISHes that came before an awaited SUBACK go to
    /// `held_back`.
    async fn expect_now(&mut self, def: &ExpectDef, held_back: &mut Vec<SeenItem>) -> StepResult {
        let name = conn_name(&def.conn);
        let vars = self.vars(&name);
        let suite_within = self.ctx.suite.within;
        let conn = self.conn(&name)?;
        let keepalive = conn.keepalive;
        let within_expr = def.within.as_ref().map_or(suite_within, |t| t.value);
        let after_expr = def
            .after
            .as_ref()
            .map_or(TimeExpr::fixed(Duration::ZERO), |t| t.value);
        let within = within_expr.resolve(keepalive);
        let after = after_expr.resolve(keepalive);
        let since_last_sent = def.since.as_ref().is_some_and(|s| s.value == "last_sent");
        let anchor = if since_last_sent {
            conn.last_sent
        } else {
            Instant::now()
        };
        let since = if since_last_sent {
            "our last packet"
        } else {
            "the step's start"
        };
        let window = OpenWindow {
            bounds: Window {
                min: (after_expr.resolve(keepalive) > Duration::ZERO).then_some(after_expr),
                max: Some(within_expr),
            },
            anchor,
            after,
            within,
            keepalive,
            since,
            close_optional: def
                .any_of
                .iter()
                .flatten()
                .any(|alt| alt.contains_key("silence")),
        };

        if let Some(silence) = &def.silence {
            let d = silence.value.resolve(keepalive);
            let start = Instant::now();
            let conn = self.conn(&name)?;
            if conn.closed_at.is_some() {
                return Err(StepFailure::Target(
                    "expected silence, but the connection is already closed".into(),
                ));
            }
            loop {
                let Some(seen) = self.next_seen(&name, start + d).await? else {
                    self.note(
                        &name,
                        "",
                        &format!("silent for {} as expected", fmt_secs(d)),
                    );
                    return Ok(());
                };
                if let Seen::Packet(Ok(packet)) = &seen.kind {
                    if self.unsubscribed(&name, packet) {
                        self.set_aside_unsubscribed(&name, &seen);
                        continue;
                    }
                }
                return Err(StepFailure::Target(format!(
                    "expected silence for {}; observed {} after {}",
                    fmt_secs(d),
                    seen.text,
                    fmt_secs(seen.at.saturating_duration_since(start))
                )));
            }
        }

        let alternatives: Vec<Alternative> = if let Some(any) = &def.any_of {
            any.iter()
                .map(|alt| {
                    let label = alt.get("as").and_then(Value::as_str).map(str::to_owned);
                    let ends_test = alt.get(ENDS_TEST).and_then(Value::as_bool) == Some(true);
                    let inconclusive = alt_inconclusive(alt);
                    let (key, m) = alt
                        .iter()
                        .find(|(k, _)| !ALTERNATIVE_OPTIONS.contains(&k.as_str()))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .unwrap_or_default();
                    let mut alt = Alternative::new(key, m, label);
                    alt.ends_test = ends_test;
                    alt.inconclusive = inconclusive;
                    alt
                })
                .collect()
        } else if def.closed.is_some() {
            vec![Alternative::new("closed".into(), Value::Null, None)]
        } else {
            def.packet_matchers()
                .into_iter()
                .map(|(k, m)| Alternative::new(k.to_owned(), m.clone(), None))
                .collect()
        };
        let expected = alternatives
            .iter()
            .map(Alternative::describe)
            .collect::<Vec<_>>()
            .join(" or ");
        // A 5.0 server may say why (DISCONNECT) before it closes: an expected close lets
        // that DISCONNECT pass unless an alternative expects it.
        let only_close = alternatives.iter().any(|a| a.key == "closed")
            && !alternatives.iter().any(|a| a.key == "disconnect");

        // A close already observed can satisfy a `closed` expectation (or alternative),
        // once the PUBLISHes held from before it are taken.
        let nothing_held = self.held.get(&name).is_none_or(|h| h.is_empty());
        if let (Some(closed_at), true) = (self.conn(&name)?.closed_at, nothing_held) {
            return match alternatives.iter().find(|a| a.key == "closed") {
                Some(alt) => {
                    let label = alt.label();
                    self.timed(&name, &window, closed_at, "closed", &expected)?;
                    if def.any_of.is_some() {
                        self.branch = Some(label);
                    }
                    self.taken(alt)?;
                    Ok(())
                }
                None => Err(StepFailure::Target(format!(
                    "expected {expected}; the connection was already closed by the peer {} into the test",
                    fmt_secs(self.at(closed_at))
                ))),
            };
        }

        let deadline = window.anchor + window.within;
        // A server may send PUBLISHes matching a subscription before its SUBACK (section
        // 3.8.4): while a SUBACK is awaited they are held for the steps after it.
        let awaits_suback = alternatives.iter().any(|a| a.key == "suback")
            && !alternatives.iter().any(|a| a.key == "publish");
        loop {
            let version = self.conn(&name)?.version;
            let Some(seen) = self.next_seen(&name, deadline).await? else {
                if let Some(alt) = alternatives.iter().find(|a| a.key == "silence") {
                    let label = alt.label();
                    self.note(
                        &name,
                        "",
                        &format!("nothing arrived within {}", window.describe()),
                    );
                    self.branch = Some(label);
                    self.taken(alt)?;
                    return Ok(());
                }
                if alternatives.iter().any(|a| a.key == "closed") {
                    return Err(self.late_close(&name, &window, &expected).await);
                }
                if let Some(reason) = &def.inconclusive_if_silent {
                    return Err(StepFailure::Inconclusive(format!(
                        "expected {expected} within {}; nothing arrived, which the server may do: {reason}",
                        window.describe()
                    )));
                }
                return Err(StepFailure::Target(format!(
                    "expected {expected} within {}; nothing arrived",
                    window.describe()
                )));
            };
            let hold = awaits_suback
                && matches!(&seen.kind, Seen::Packet(Ok(p @ Packet::Publish(_))) if !self.unsubscribed(&name, p));
            if hold {
                self.note(
                    &name,
                    "",
                    "held for the next steps: a PUBLISH before the SUBACK, which a server may send first",
                );
                held_back.push(seen);
                continue;
            }
            match &seen.kind {
                Seen::Closed => {
                    if let Some(alt) = alternatives.iter().find(|a| a.key == "closed") {
                        let label = alt.label();
                        self.timed(&name, &window, seen.at, "closed", &expected)?;
                        if def.any_of.is_some() {
                            self.branch = Some(label);
                        }
                        self.taken(alt)?;
                        return Ok(());
                    }
                    return Err(StepFailure::Target(format!(
                        "expected {expected} within {}; observed: {} after {}",
                        window.describe(),
                        seen.text,
                        fmt_secs(seen.at.saturating_duration_since(window.anchor))
                    )));
                }
                Seen::Broken => {
                    return Err(StepFailure::Target(format!(
                        "expected {expected}; observed {}",
                        seen.text
                    )));
                }
                Seen::Packet(Err(e)) => {
                    return Err(StepFailure::Target(format!(
                        "expected {expected}; the peer sent a malformed packet: {e} [{}]",
                        hex_preview(&seen.bytes)
                    )));
                }
                Seen::Packet(Ok(packet)) => {
                    // A 5.0 server may say why before it closes.
                    if only_close
                        && packet.packet_type() == PacketType::Disconnect
                        && version.is_v5()
                    {
                        continue;
                    }
                    let mut mismatch = None;
                    for alt in &alternatives {
                        if alt.key != packet.packet_type().name().to_ascii_lowercase() {
                            continue;
                        }
                        match matcher::check(packet, &alt.matcher, &vars) {
                            Ok(()) => {
                                let label = alt.label();
                                self.timed(&name, &window, seen.at, &label, &expected)?;
                                if def.any_of.is_some() {
                                    self.branch =
                                        Some(format!("{label} [{}]", hex_preview(&seen.bytes)));
                                }
                                self.taken(alt)?;
                                if let (Some(needed), Packet::SubAck(suback)) =
                                    (&def.granted, packet)
                                {
                                    self.granted(&name, suback, needed)?;
                                }
                                return Ok(());
                            }
                            Err(m) => mismatch = Some(m),
                        }
                    }
                    let ignored = def.ignore.iter().flatten().any(|alt| {
                        alt.iter().any(|(key, m)| {
                            *key == packet.packet_type().name().to_ascii_lowercase()
                                && matcher::check(packet, m, &vars).is_ok()
                        })
                    });
                    if ignored {
                        self.note(&name, "", "set aside: the step ignores this packet");
                        continue;
                    }
                    if self.unsubscribed(&name, packet) {
                        self.set_aside_unsubscribed(&name, &seen);
                        continue;
                    }
                    let why = mismatch.map(|m| format!(" ({m})")).unwrap_or_default();
                    return Err(StepFailure::Target(format!(
                        "expected {expected} within {}; observed {}{why} after {}",
                        window.describe(),
                        seen.text,
                        fmt_secs(seen.at.saturating_duration_since(window.anchor))
                    )));
                }
            }
        }
    }

    /// A close that did not come within its window: keep watching for a bounded grace
    /// period (never past the test's deadline) so the verdict states when it did come.
    async fn late_close(&mut self, name: &str, w: &OpenWindow, expected: &str) -> StepFailure {
        // Timing windows get a long look, so the verdict can state how late; behavioural
        // ones ("closes within 5 s") only need to show the connection stayed open.
        let timing =
            w.bounds.max.is_some_and(|max| max.uses_keepalive()) || w.after > Duration::ZERO;
        let grace = if timing {
            w.within.max(Duration::from_secs(10))
        } else {
            Duration::from_secs(1)
        };
        let grace_end = (w.anchor + w.within + grace).min(
            self.deadline
                .checked_sub(Duration::from_millis(500))
                .unwrap_or(self.deadline),
        );
        let item = loop {
            let seen = match self.next_seen(name, grace_end).await {
                Ok(Some(seen)) => seen,
                Ok(None) => break None,
                Err(failure) => return failure,
            };
            if let Seen::Packet(Ok(packet)) = &seen.kind {
                if self.unsubscribed(name, packet) {
                    self.set_aside_unsubscribed(name, &seen);
                    continue;
                }
            }
            break Some(seen);
        };
        let waited = Instant::now().saturating_duration_since(w.anchor);
        match item {
            None => {
                let note = format!(
                    "still open {} after {}; window {}",
                    fmt_secs(waited),
                    w.since,
                    w.describe()
                );
                self.note(name, "", &note);
                StepFailure::Target(format!(
                    "expected {expected} within {}; the connection was still open {} after {}",
                    w.describe(),
                    fmt_secs(waited),
                    w.since
                ))
            }
            Some(seen) => {
                let elapsed = seen.at.saturating_duration_since(w.anchor);
                match seen.kind {
                    Seen::Closed => {
                        let late = elapsed.saturating_sub(w.within);
                        let note = format!(
                            "closed after {}; window {}; late by {}",
                            fmt_secs(elapsed),
                            w.describe(),
                            fmt_secs(late)
                        );
                        self.note(name, "", &note);
                        self.measured.push(note);
                        StepFailure::Target(format!(
                            "expected {expected} within {}; observed the close too late, after {} (late by {})",
                            w.describe(),
                            fmt_secs(elapsed),
                            fmt_secs(late)
                        ))
                    }
                    _ => StepFailure::Target(format!(
                        "expected {expected} within {}; nothing arrived in the window, then {} after {}",
                        w.describe(),
                        seen.text,
                        fmt_secs(elapsed)
                    )),
                }
            }
        }
    }

    /// An `any_of` alternative was taken: it may end the test, passed or inconclusive.
    fn taken(&mut self, alt: &Alternative) -> StepResult {
        self.ended |= alt.ends_test;
        match &alt.inconclusive {
            Some(why) => Err(StepFailure::Inconclusive(format!(
                "observed {}: {why}",
                alt.label()
            ))),
            None => Ok(()),
        }
    }

    /// Holds a SUBACK's grants against what the rest of the test needs: a lower grant or a
    /// refusal is the server's right, and leaves the test inconclusive.
    fn granted(&mut self, name: &str, suback: &SubAck, needed: &[u8]) -> StepResult {
        let codes = &suback.return_codes;
        if codes.len() != needed.len() {
            return Err(StepFailure::Target(format!(
                "SUBACK holds {} return code(s) for {} topic filter(s) [MQTT-3.8.4-5]",
                codes.len(),
                needed.len()
            )));
        }
        let grants = codes
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        self.note(name, "", &format!("granted QoS [{grants}]"));
        for (n, (&code, &need)) in codes.iter().zip(needed).enumerate() {
            let filter = n + 1;
            if code >= 0x80 {
                return Err(StepFailure::Inconclusive(format!(
                    "the server refused topic filter {filter} (SUBACK {code:#04x}), which it may do; \
                     what the test checks needs that subscription"
                )));
            }
            if code < need {
                return Err(StepFailure::Inconclusive(format!(
                    "the server granted QoS {code} on topic filter {filter} where the test needs QoS {need}; \
                     a server may grant a lower QoS than asked [MQTT-3.8.4-6], and what the test checks \
                     cannot be observed below QoS {need}"
                )));
            }
        }
        Ok(())
    }

    /// Checks that an event at `at` fell inside the window and notes the measurement.
    fn timed(
        &mut self,
        conn: &str,
        w: &OpenWindow,
        at: Instant,
        what: &str,
        expected: &str,
    ) -> StepResult {
        let elapsed = at.saturating_duration_since(w.anchor);
        if elapsed < w.after {
            let note = format!(
                "{what} after {}; window {}; early by {}",
                fmt_secs(elapsed),
                w.describe(),
                fmt_secs(w.after - elapsed)
            );
            self.note(conn, "", &note);
            self.measured.push(note);
            return Err(StepFailure::Target(format!(
                "expected {expected} within {}; observed {what} too early, after {} (early by {})",
                w.describe(),
                fmt_secs(elapsed),
                fmt_secs(w.after - elapsed)
            )));
        }
        // An event buffered before the step began can still be too late for its window.
        if elapsed > w.within {
            let note = format!(
                "{what} after {}; window {}; late by {}",
                fmt_secs(elapsed),
                w.describe(),
                fmt_secs(elapsed - w.within)
            );
            self.note(conn, "", &note);
            self.measured.push(note);
            return Err(StepFailure::Target(format!(
                "expected {expected} within {}; observed {what} too late, after {} (late by {})",
                w.describe(),
                fmt_secs(elapsed),
                fmt_secs(elapsed - w.within)
            )));
        }
        if (what == "closed" && !w.close_optional)
            || w.after > Duration::ZERO
            || w.bounds.max.is_some_and(|max| max.uses_keepalive())
        {
            let margin = w.within.saturating_sub(elapsed);
            let conn_note = format!(
                "{what} after {}; window {}; margin {}",
                fmt_secs(elapsed),
                w.describe(),
                fmt_secs(margin)
            );
            self.note(conn, "", &conn_note);
            self.measured.push(conn_note);
        }
        Ok(())
    }

    /// Records what arrived and classifies it.
    fn observe(&mut self, name: &str, item: Incoming) -> SeenItem {
        match item {
            Incoming::Frame { at, bytes } => {
                let mut version = self
                    .conns
                    .get(name)
                    .map_or(ProtocolVersion::V3_1_1, |c| c.version);
                // A 5.0 CONNACK always has a property length, so two bytes of CONNACK on a
                // 5.0 connection are a 3.1.1-form answer: a server without 5.0 refusing the
                // level with return code 0x01 ([MQTT-3.1.2-2] of 3.1.1).
                if version.is_v5() && bytes.len() == 4 && bytes[0] == 0x20 && bytes[1] == 2 {
                    version = ProtocolVersion::V3_1_1;
                }
                let decoded = decode_packet(&bytes, version);
                if let Ok(Packet::Publish(p)) = &decoded {
                    if let Some(c) = self.conns.get_mut(name) {
                        c.last_received_id = p.packet_id.or(c.last_received_id);
                    }
                }
                if let (Ok(Packet::ConnAck(ack)), true) = (&decoded, version.is_v5()) {
                    if let Some(c) = self.conns.get_mut(name) {
                        let props = &ack.properties;
                        c.server_limits = super::connection::ServerLimits {
                            max_qos: props
                                .get_int(crate::codec::PropertyId::MaximumQos)
                                .and_then(|q| u8::try_from(q).ok()),
                            no_retain: props.get_int(crate::codec::PropertyId::RetainAvailable)
                                == Some(0),
                        };
                    }
                }
                // Acks without a packet id answer the last one that asked for an answer.
                if let Ok(Packet::PubRec(r) | Packet::PubRel(r)) = &decoded {
                    if let Some(c) = self.conns.get_mut(name) {
                        c.last_received_id = Some(r.packet_id);
                    }
                }
                self.record(name, "←", at, &bytes, &decoded, version);
                // Everything kept for messages is redacted: evidence may carry secrets.
                // Masked whole, then cut: a secret field at the end of a long packet is
                // found only in the whole packet.
                let mut shown = self.ctx.redactor.packet_bytes(&bytes, &decoded);
                let text = self.ctx.redactor.text(&describe(&shown, &decoded, version));
                shown.truncate(KEPT_BYTES);
                SeenItem {
                    at,
                    text,
                    bytes: shown,
                    kind: Seen::Packet(decoded),
                }
            }
            Incoming::Closed { at, detail } => {
                if let Some(c) = self.conns.get_mut(name) {
                    c.closed_at = Some(at);
                    if let Some(tap) = &self.ctx.events {
                        let kind = EventKind::Closed {
                            by: Some(Side::Server),
                            detail: detail.clone(),
                        };
                        tap.emit(c.id, at, Side::Server, kind);
                    }
                }
                let text = format!("connection closed by the peer ({detail})");
                let rel = self.at(at);
                self.push_trace(TraceLine {
                    at: rel,
                    conn: name.to_owned(),
                    direction: String::new(),
                    text: text.clone(),
                });
                SeenItem {
                    at,
                    text,
                    bytes: Vec::new(),
                    kind: Seen::Closed,
                }
            }
            Incoming::Unframeable { at, error } => {
                if let Some(c) = self.conns.get_mut(name) {
                    c.closed_at = Some(at);
                    if let Some(tap) = &self.ctx.events {
                        tap.emit(
                            c.id,
                            at,
                            Side::Server,
                            EventKind::Unframeable(error.clone()),
                        );
                    }
                }
                let text = format!("a byte stream that cannot be framed: {error}");
                let rel = self.at(at);
                self.push_trace(TraceLine {
                    at: rel,
                    conn: name.to_owned(),
                    direction: "←".into(),
                    text: text.clone(),
                });
                SeenItem {
                    at,
                    text,
                    bytes: Vec::new(),
                    kind: Seen::Broken,
                }
            }
        }
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

/// An expectation's window, opened at `anchor`: its bounds as the suite wrote them and as
/// they resolve for the connection's Keep Alive.
struct OpenWindow {
    bounds: Window,
    anchor: Instant,
    after: Duration,
    within: Duration,
    keepalive: u16,
    since: &'static str,
    /// The close is one accepted outcome among others (e.g. after our DISCONNECT, where
    /// closing is the client's duty): its time is not a measurement.
    close_optional: bool,
}

impl OpenWindow {
    fn describe(&self) -> String {
        let mut s = if self.after > Duration::ZERO {
            format!("{}–{}", fmt_secs(self.after), fmt_secs(self.within))
        } else {
            fmt_secs(self.within)
        };
        if self.bounds.uses_keepalive() {
            s.push_str(&format!(
                " ({}{} with keepalive {} s)",
                match self.bounds.min {
                    Some(min) if self.after > Duration::ZERO => format!("{min} – "),
                    _ => String::new(),
                },
                self.bounds
                    .max
                    .map(|max| max.to_string())
                    .unwrap_or_default(),
                self.keepalive
            ));
        }
        format!("{s} of {}", self.since)
    }
}

struct Alternative {
    key: String,
    matcher: Value,
    label: Option<String>,
    ends_test: bool,
    /// Taking this alternative ends the test inconclusive, for this reason.
    inconclusive: Option<String>,
}

fn alt_inconclusive(alt: &BTreeMap<String, Value>) -> Option<String> {
    alt.get(INCONCLUSIVE)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

impl Alternative {
    fn new(key: String, matcher: Value, label: Option<String>) -> Self {
        Self {
            key,
            matcher,
            label,
            ends_test: false,
            inconclusive: None,
        }
    }

    fn describe(&self) -> String {
        if self.key == "closed" {
            return "the peer closing the connection".into();
        }
        if self.key == "silence" {
            return "no answer".into();
        }
        match &self.matcher {
            Value::Object(o) if !o.is_empty() => format!(
                "{} {}",
                self.key.to_uppercase(),
                matcher::render(&self.matcher)
            ),
            _ => self.key.to_uppercase(),
        }
    }

    fn label(&self) -> String {
        self.label.clone().unwrap_or_else(|| self.describe())
    }
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
