//! Replay: each recorded client's packets re-sent to a live target, and the live server's
//! answers compared with the recorded server's.
//!
//! `mqtt-conform --suite S --pcap FILE --replay-to URL [--speed X]` reads the capture with
//! the same reader and [`Analyzer`] as capture mode, keeps every MQTT connection's packets
//! (both directions, capture time), then replays the connections concurrently against the
//! target:
//!
//! - each connection starts at its recorded offset from the first one, divided by the
//!   speed (`1.0` keeps the original spacing, `2.0` halves it, `0` or infinity replays as
//!   fast as possible), at most [`MAX_CONCURRENT_CONNECTIONS`] at once;
//! - its client packets are sent as recorded, each at its recorded offset (scaled), and
//!   never before the live server has answered what the recorded server had answered by
//!   then (each expected answer waited for up to [`ReplayOptions::response_window`]);
//! - the client's PUBACK, PUBREC and PUBCOMP for a server PUBLISH carry the packet
//!   identifier the *live* server chose for it (servers pick their own identifiers).
//!
//! Live and recorded server packets are compared on what matters, not on bytes: the packet
//! type, CONNACK code and session present, SUBACK / UNSUBACK codes, acknowledgement packet
//! identifiers and 5.0 reason codes, PUBLISH topic / QoS / retain / payload (the packet
//! identifier of a server PUBLISH may differ), DISCONNECT and AUTH reason codes. A live
//! packet matches a recorded one of the same kind (same type; for acknowledgements the
//! same identifier; for PUBLISH the same topic and payload) even when the live server
//! interleaves independent packets differently. The ends are compared too: who closed the
//! connection and, for a server close, how long after the last packet (within the response
//! window, or a quarter of the recorded delay when that is longer: servers check their
//! keep-alive timers coarsely). Server timers run in real time, so that delay is not
//! scaled by the speed.
//!
//! Every replayed connection is one report group named after its recorded client id and
//! addresses, with two cases: `REPLAY-RESPONSES` and `REPLAY-CLOSE`, timings in
//! `measured`. A TLS connection is replayed when the key log
//! ([`ReplayOptions::tls_keys`]) decrypts it whole (to the target, over whatever its URL
//! says). Connections that cannot be replayed (TLS not decrypted, the CONNECT not
//! captured, bytes lost, beyond the memory limits) are inconclusive with the reason.
//!
//! The replayed CONNECT carries the recorded credentials; reports describe packets with
//! [`describe`], which masks CONNECT passwords.
//!
//! Limits: at most [`MAX_PACKETS_PER_CONNECTION`] packets per connection and
//! [`MAX_RECORDED_BYTES`] of packets over the whole capture are kept; a connection beyond
//! either is left out (inconclusive, with the reason). At speed 0 the connections start
//! together, so conversations between recorded clients (one publishes, another receives)
//! may come out in another order than recorded.

use super::Notice;
use super::flows::{Analyzer, AnalyzerConfig, ConnectionInfo, ConnectionKind};
use super::read::{self, Item};
use super::tls_decrypt::KeyLog;
use crate::codec::framing::{DEFAULT_MAX_PACKET_SIZE, Framer};
use crate::codec::reason::code_name;
use crate::codec::{DecodeError, FixedHeader, Packet, PacketType, ProtocolVersion, decode_packet};
use crate::event::{Event, EventKind, Side, describe, hex_preview, packet_type_of, summarize};
use crate::report::{CaseReport, RunReport, SuiteReport, TraceLine, Verdict};
use crate::runner::connection::{Conn, Incoming};
use crate::runner::transport::{Connector, Target, TlsOptions};
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// How long each expected live response is waited for, by default.
pub const DEFAULT_RESPONSE_WINDOW: Duration = Duration::from_secs(5);

/// Packets (both directions) kept per recorded connection; a connection with more is not
/// replayed.
pub const MAX_PACKETS_PER_CONNECTION: usize = 100_000;

/// Bytes of recorded packets kept over the whole capture; a connection whose packets
/// would go beyond it is not replayed.
pub const MAX_RECORDED_BYTES: usize = 256 << 20;

/// Connections replayed at the same time.
pub const MAX_CONCURRENT_CONNECTIONS: usize = 64;

/// Bookkeeping counted per kept packet on top of its bytes.
const PACKET_OVERHEAD: usize = 64;

/// Live packets looked at when matching one recorded packet (from the oldest unmatched).
const MATCH_SCAN: usize = 1024;

/// Live packets kept beyond the recorded server packets (a flooding target costs no more).
const EXTRA_LIVE_KEPT: usize = 10_000;

/// Trace lines kept per connection.
const MAX_TRACE: usize = 500;

/// Differences spelled out in a failure message.
const DIFFERENCES_SHOWN: usize = 5;

/// A far-away instant's distance, for deadlines computed from huge or overflowing times.
const FAR: Duration = Duration::from_secs(10 * 365 * 86_400);

/// JUnit classname of the replay groups.
const CLASSNAME: &str = "replay";

/// What is replayed where, and how.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The capture files, read together in timestamp order.
    pub paths: Vec<PathBuf>,
    /// Ports whose connections are MQTT, besides 1883 and 8883.
    pub ports: Vec<u16>,
    /// Protocol version of connections whose CONNECT is not in the capture (inferred when
    /// `None`); such connections are not replayed, but the version decodes their packets.
    pub protocol: Option<ProtocolVersion>,
    /// The live target.
    pub target: Target,
    /// TLS settings for the target.
    pub tls: TlsOptions,
    /// `1.0` keeps the recorded spacing, `2.0` replays twice as fast; `0` or infinity as
    /// fast as possible (answers are still waited for).
    pub speed: f64,
    /// Deadline of each TCP (and TLS) connection to the target.
    pub connect_timeout: Duration,
    /// Largest MQTT packet accepted, in the capture and from the target.
    pub max_packet_size: usize,
    /// Secrets to decrypt the capture's TLS connections with (see
    /// [`AnalyzerConfig::tls_keys`]); a connection decrypted whole is replayed like one in
    /// the clear.
    pub tls_keys: Option<Arc<KeyLog>>,
    /// How long each expected response is waited for (default
    /// [`DEFAULT_RESPONSE_WINDOW`]).
    pub response_window: Duration,
}

impl ReplayOptions {
    /// Replays `paths` to `target` at the original spacing with the default limits.
    pub fn new(paths: Vec<PathBuf>, target: Target) -> Self {
        Self {
            paths,
            ports: Vec::new(),
            protocol: None,
            target,
            tls: TlsOptions::default(),
            speed: 1.0,
            connect_timeout: Duration::from_secs(10),
            max_packet_size: DEFAULT_MAX_PACKET_SIZE,
            tls_keys: None,
            response_window: DEFAULT_RESPONSE_WINDOW,
        }
    }
}

/// Replays the capture's MQTT connections to the target and compares the live server's
/// packets and closes with the recorded ones: one report group per recorded connection.
///
/// Errors are for the run as a whole: an unreadable capture, an invalid speed or TLS
/// configuration, a target the first connection cannot reach.
pub async fn replay(opts: &ReplayOptions) -> Result<RunReport, String> {
    replay_with(opts, Limits::default(), std::future::pending()).await
}

/// [`replay`], ended early when `stop` resolves (e.g. on SIGTERM): the connections still
/// being replayed are cancelled and reported as errors carrying `stop`'s reason.
pub async fn replay_until(
    opts: &ReplayOptions,
    stop: impl std::future::Future<Output = &'static str>,
) -> Result<RunReport, String> {
    replay_with(opts, Limits::default(), stop).await
}

/// What the loader keeps.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// Packets per connection.
    packets: usize,
    /// Bytes over the capture.
    bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            packets: MAX_PACKETS_PER_CONNECTION,
            bytes: MAX_RECORDED_BYTES,
        }
    }
}

async fn replay_with(
    opts: &ReplayOptions,
    limits: Limits,
    stop: impl std::future::Future<Output = &'static str>,
) -> Result<RunReport, String> {
    let started = Instant::now();
    if opts.speed.is_nan() || opts.speed < 0.0 {
        return Err(format!(
            "replay speed {} is not a number ≥ 0 (1 = original spacing, 0 = as fast as possible)",
            opts.speed
        ));
    }
    if opts.paths.is_empty() {
        return Err("replay needs at least one capture file".into());
    }
    let connector = Connector::new(opts.target.clone(), &opts.tls, opts.connect_timeout)
        .map_err(|e| format!("replay target {}: {e}", opts.target))?;
    let config = AnalyzerConfig {
        protocol: opts.protocol,
        max_packet_size: opts.max_packet_size,
        tls_keys: opts.tls_keys.clone(),
        ..AnalyzerConfig::default()
    };
    let (paths, ports) = (opts.paths.clone(), opts.ports.clone());
    let recording = tokio::task::spawn_blocking(move || load(&paths, &ports, config, limits))
        .await
        .map_err(|e| format!("reading the capture failed: {e}"))??;

    let capture = opts
        .paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let mut groups: Vec<(u64, SuiteReport)> = Vec::new();
    let mut plans = Vec::new();
    for rc in recording.conns {
        match prepare(rc, recording.end) {
            Ok(plan) => plans.push(plan),
            Err(skip) => groups.push(skip),
        }
    }
    plans.sort_by_key(|p| (p.start, p.id));

    let shared = Arc::new(Shared {
        connector,
        speed: opts.speed,
        window: opts.response_window,
        max_packet_size: opts.max_packet_size,
        base: Instant::now(),
        first_start: plans.first().map(|p| p.start).unwrap_or_default(),
    });
    let semaphore = Arc::new(Semaphore::new(MAX_CONCURRENT_CONNECTIONS));
    let mut tasks = JoinSet::new();
    let mut first = None;
    if let Some(plan) = plans.first() {
        // The first connection doubles as the reachability check: an unreachable target
        // is an error for the run, not a verdict on every connection.
        let permit = semaphore
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| format!("replay scheduling: {e}"))?;
        let conn = open(&shared, plan)
            .await
            .map_err(|e| format!("cannot replay to {}: {e}", opts.target))?;
        first = Some((conn, permit));
    }
    // What an interrupted run reports for the connections it did not finish.
    let mut unfinished: BTreeMap<u64, (String, Vec<(String, String)>)> = BTreeMap::new();
    for plan in plans {
        unfinished.insert(plan.id, (plan.name.clone(), plan.properties.clone()));
        let shared = shared.clone();
        let semaphore = semaphore.clone();
        let pre = first.take();
        tasks.spawn(async move {
            let id = plan.id;
            (id, run_connection(shared, semaphore, plan, pre).await)
        });
    }
    let mut stop = std::pin::pin!(stop);
    let mut interrupted = None;
    loop {
        let done = tokio::select! {
            done = tasks.join_next() => done,
            reason = &mut stop, if interrupted.is_none() => {
                interrupted = Some(reason);
                tasks.abort_all();
                continue;
            }
        };
        let Some(done) = done else { break };
        match done {
            Ok(group) => {
                unfinished.remove(&group.0);
                groups.push(group);
            }
            Err(e) if e.is_cancelled() => {}
            Err(e) => groups.push((
                u64::MAX,
                group_of(
                    "replay task".into(),
                    Vec::new(),
                    both(Verdict::Error {
                        message: format!("a replay task failed: {e}"),
                    }),
                ),
            )),
        }
    }
    if let Some(reason) = interrupted {
        for (id, (name, properties)) in unfinished {
            let verdict = Verdict::Error {
                message: format!("not finished: the replay was interrupted ({reason})"),
            };
            groups.push((id, group_of(name, properties, both(verdict))));
        }
    }
    groups.sort_by_key(|(id, _)| *id);
    let mut suites: Vec<SuiteReport> = groups.into_iter().map(|(_, g)| g).collect();
    if let Some(g) = notices_group(&recording.notices) {
        suites.push(g);
    }
    for s in &mut suites {
        s.properties.push(("mode".into(), "replay".into()));
        s.properties.push(("capture".into(), capture.clone()));
        s.properties
            .push(("target".into(), opts.target.to_string()));
        s.properties.push(("speed".into(), speed_text(opts.speed)));
    }
    Ok(RunReport {
        suites,
        duration: started.elapsed(),
    })
}

// ---------------------------------------------------------------------------------------
// Reading the capture
// ---------------------------------------------------------------------------------------

/// The capture's connections, as kept for replay.
#[derive(Debug)]
struct Recording {
    conns: Vec<RecordedConn>,
    notices: Vec<Notice>,
    /// The capture's last timestamp, relative to its first.
    end: Duration,
}

/// One recorded connection.
#[derive(Debug)]
struct RecordedConn {
    info: ConnectionInfo,
    /// Its first event (relative to the capture's start).
    start: Duration,
    items: Vec<RecItem>,
    close: Option<RecClosed>,
    gaps: u64,
    gap_bytes: u64,
    unframeable: Option<String>,
    dropped: Option<String>,
}

/// One recorded packet.
#[derive(Debug, Clone)]
struct RecItem {
    at: Duration,
    from: Side,
    bytes: Bytes,
}

/// A recorded close.
#[derive(Debug, Clone)]
struct RecClosed {
    at: Duration,
    by: Option<Side>,
    detail: String,
}

/// A connection's events as they come, before its [`ConnectionInfo`] is final.
#[derive(Debug, Default)]
struct Partial {
    start: Duration,
    items: Vec<RecItem>,
    bytes: usize,
    close: Option<RecClosed>,
    gaps: u64,
    gap_bytes: u64,
    unframeable: Option<String>,
    dropped: Option<String>,
}

/// Gathers the analyzer's events within the limits.
#[derive(Debug)]
struct Collector {
    conns: HashMap<u64, Partial>,
    kept: usize,
    limits: Limits,
}

impl Collector {
    fn event(&mut self, ev: Event) {
        let Self {
            conns,
            kept,
            limits,
        } = self;
        let p = conns.entry(ev.conn).or_insert_with(|| Partial {
            start: ev.at,
            ..Partial::default()
        });
        match ev.kind {
            EventKind::Opened(_) | EventKind::Tls(_) => {}
            EventKind::Gap { bytes } => {
                p.gaps += 1;
                p.gap_bytes += bytes;
            }
            EventKind::Unframeable(e) => {
                if p.unframeable.is_none() {
                    p.unframeable = Some(format!("the {}'s stream: {e}", side_name(ev.from)));
                }
            }
            EventKind::Closed { by, detail } => {
                if p.close.is_none() {
                    p.close = Some(RecClosed {
                        at: ev.at,
                        by,
                        detail,
                    });
                }
            }
            EventKind::Packet { bytes, .. } => {
                if p.dropped.is_some() {
                    return;
                }
                let cost = bytes.len() + PACKET_OVERHEAD;
                let reason = if p.items.len() >= limits.packets {
                    Some(format!(
                        "the connection has more than {} packets: replay keeps at most {} per connection",
                        limits.packets, limits.packets
                    ))
                } else if kept.saturating_add(cost) > limits.bytes {
                    Some(format!(
                        "the capture's packets exceed the replay memory limit ({} MiB): this connection was left out (replay fewer connections at once, e.g. a capture filtered by port or time)",
                        limits.bytes >> 20
                    ))
                } else {
                    None
                };
                if let Some(reason) = reason {
                    *kept -= p.bytes;
                    p.bytes = 0;
                    p.items = Vec::new();
                    p.dropped = Some(reason);
                    return;
                }
                *kept += cost;
                p.bytes += cost;
                p.items.push(RecItem {
                    at: ev.at,
                    from: ev.from,
                    // A copy: the frame may share a large reassembly buffer.
                    bytes: Bytes::copy_from_slice(&bytes),
                });
            }
        }
    }
}

/// Reads the capture files and keeps every recognised connection's packets.
fn load(
    paths: &[PathBuf],
    ports: &[u16],
    mut config: AnalyzerConfig,
    limits: Limits,
) -> Result<Recording, String> {
    for p in ports {
        if !config.ports.contains(p) {
            config.ports.push(*p);
        }
    }
    let mut analyzer = Analyzer::new(config);
    let mut collector = Collector {
        conns: HashMap::new(),
        kept: 0,
        limits,
    };
    let mut notices = Vec::new();
    let mut first: Option<Duration> = None;
    let mut last = Duration::ZERO;
    read::read_paths(paths, |item| match item {
        Item::Segment(seg) => {
            let epoch = match first {
                Some(e) => e,
                None => {
                    first = Some(seg.at);
                    analyzer.set_epoch(seg.at);
                    seg.at
                }
            };
            last = last.max(seg.at.saturating_sub(epoch));
            analyzer.segment(&seg, &mut |ev| collector.event(ev));
        }
        Item::Notice(n) => notices.push(n),
    })
    .map_err(|e| e.to_string())?;
    analyzer.finish(&mut |ev| collector.event(ev));
    notices.extend(analyzer.notices());
    let conns = analyzer
        .connections()
        .iter()
        .map(|info| {
            let p = collector.conns.remove(&info.id).unwrap_or_default();
            RecordedConn {
                info: info.clone(),
                start: p.start,
                items: p.items,
                close: p.close,
                gaps: p.gaps,
                gap_bytes: p.gap_bytes,
                unframeable: p.unframeable,
                dropped: p.dropped,
            }
        })
        .collect();
    Ok(Recording {
        conns,
        notices,
        end: last,
    })
}

// ---------------------------------------------------------------------------------------
// Planning
// ---------------------------------------------------------------------------------------

/// How the recorded connection ended.
#[derive(Debug, Clone)]
enum RecEnd {
    /// The client sent DISCONNECT and the connection closed `since` later.
    AfterDisconnect {
        at: Duration,
        by: Option<Side>,
        since: Duration,
        detail: String,
    },
    /// The client closed without DISCONNECT, `since` after the last packet.
    Client {
        at: Duration,
        since: Duration,
        detail: String,
    },
    /// The server closed, `since` after the last packet.
    Server { since: Duration, detail: String },
    /// The capture shows no close (or no initiator): open until `at`, `since` after the
    /// last packet.
    Open {
        at: Duration,
        since: Duration,
        detail: Option<String>,
    },
}

impl RecEnd {
    fn text(&self) -> String {
        match self {
            Self::AfterDisconnect {
                by, since, detail, ..
            } => format!(
                "the client sent DISCONNECT and the connection closed {} after it ({detail}{})",
                secs(*since),
                by.map(|s| format!(" by the {}", side_name(s)))
                    .unwrap_or_default()
            ),
            Self::Client { since, detail, .. } => format!(
                "the client closed the connection ({detail}) {} after the last packet",
                secs(*since)
            ),
            Self::Server { since, detail } => format!(
                "the server closed the connection ({detail}) {} after the last packet",
                secs(*since)
            ),
            Self::Open { since, detail, .. } => match detail {
                Some(d) => format!(
                    "the capture shows no close by either side ({d}), {} after the last packet",
                    secs(*since)
                ),
                None => format!(
                    "the connection was still open when the capture ended, {} after its last packet",
                    secs(*since)
                ),
            },
        }
    }
}

/// A connection to replay.
#[derive(Debug)]
struct Plan {
    id: u64,
    name: String,
    properties: Vec<(String, String)>,
    version: ProtocolVersion,
    keepalive: u16,
    start: Duration,
    items: Vec<RecItem>,
    end: RecEnd,
}

/// Turns a recorded connection into a plan, or into its inconclusive group.
fn prepare(rc: RecordedConn, capture_end: Duration) -> Result<Plan, (u64, SuiteReport)> {
    let addrs = format!(
        "{} → {}",
        rc.info.endpoints.client, rc.info.endpoints.server
    );
    let id = rc.info.id;
    let mut properties = vec![("recorded".to_owned(), addrs.clone())];
    let first_client = rc.items.iter().find(|i| i.from == Side::Client);
    let fallback_version = rc.info.version.unwrap_or(ProtocolVersion::V3_1_1);
    let decoded = first_client.map(|i| decode_packet(&i.bytes, fallback_version));
    let client_id = match &decoded {
        Some(Ok(Packet::Connect(c))) if !c.client_id.is_empty() => Some(c.client_id.clone()),
        _ => None,
    };
    let label = client_id
        .clone()
        .unwrap_or_else(|| format!("connection {id}"));
    let name = match rc.info.kind {
        ConnectionKind::Mqtt => format!("{label} ({addrs})"),
        ConnectionKind::Tls => format!("{label} (TLS {addrs})"),
    };
    let skip = |message: String, properties: Vec<(String, String)>| {
        Err((
            id,
            group_of(
                name.clone(),
                properties,
                both(Verdict::Inconclusive { message }),
            ),
        ))
    };
    if rc.info.kind == ConnectionKind::Tls {
        match &rc.info.decryption {
            Some(d) if d.decrypted && d.complete => {
                properties.push(("tls decryption".to_owned(), d.summary.clone()));
            }
            Some(d) => {
                return skip(
                    format!(
                        "the connection is TLS and was not decrypted whole with the key log, so its packets cannot be re-sent as recorded: {}",
                        d.summary
                    ),
                    properties,
                );
            }
            None => {
                return skip(
                    "the connection is TLS: its MQTT packets are encrypted in the capture and cannot be replayed (give the key log with --tls-keylog to replay it)".into(),
                    properties,
                );
            }
        }
    }
    if let Some(reason) = rc.dropped {
        return skip(format!("not replayed: {reason}"), properties);
    }
    if rc.gaps > 0 {
        return skip(
            format!(
                "not replayed: {} byte(s) of the connection are missing from the capture ({} gap(s)), so its packets cannot be re-sent as recorded",
                rc.gap_bytes, rc.gaps
            ),
            properties,
        );
    }
    if let Some(u) = rc.unframeable {
        return skip(
            format!("not replayed: the recording cannot be framed any further ({u})"),
            properties,
        );
    }
    let (version, keepalive) = match (&decoded, first_client) {
        (Some(Ok(Packet::Connect(c))), _) => (c.protocol, c.keep_alive),
        // A malformed CONNECT is replayed as recorded: how the target takes it is the point.
        (Some(Err(_)), Some(i)) if i.bytes.first().map(|b| b >> 4) == Some(1) => {
            (fallback_version, 0)
        }
        (Some(result), Some(i)) => {
            let what = match packet_type_of(&i.bytes, result) {
                Some(t) => t.name().to_owned(),
                None => "not an MQTT packet".to_owned(),
            };
            let message = if rc.info.mid_stream {
                format!(
                    "the capture starts in the middle of this connection (its first client packet is {what}): without its CONNECT it cannot be replayed"
                )
            } else {
                format!(
                    "the client's first packet in the capture is {what}, not a CONNECT: the connection cannot be replayed"
                )
            };
            return skip(message, properties);
        }
        _ => {
            return skip(
                "the client sent no MQTT packet in the capture: nothing to replay".into(),
                properties,
            );
        }
    };
    properties.push(("protocol".into(), version.to_string()));
    let last_packet = rc.items.last().map(|i| i.at).unwrap_or(rc.start);
    let disconnect = rc
        .items
        .iter()
        .rev()
        .find(|i| i.from == Side::Client && i.bytes.first().map(|b| b >> 4) == Some(14))
        .map(|i| i.at);
    let end = match rc.close {
        Some(c) => match (disconnect, c.by) {
            (Some(d), by) if d <= c.at => RecEnd::AfterDisconnect {
                at: c.at,
                by,
                since: c.at.saturating_sub(d),
                detail: c.detail,
            },
            (_, Some(Side::Client)) => RecEnd::Client {
                at: c.at,
                since: c.at.saturating_sub(last_packet),
                detail: c.detail,
            },
            (_, Some(Side::Server)) => RecEnd::Server {
                since: c.at.saturating_sub(last_packet),
                detail: c.detail,
            },
            (_, None) => RecEnd::Open {
                at: c.at,
                since: c.at.saturating_sub(last_packet),
                detail: Some(c.detail),
            },
        },
        None => RecEnd::Open {
            at: capture_end,
            since: capture_end.saturating_sub(last_packet),
            detail: None,
        },
    };
    Ok(Plan {
        id,
        name,
        properties,
        version,
        keepalive,
        start: rc.start,
        items: rc.items,
        end,
    })
}

// ---------------------------------------------------------------------------------------
// Replaying
// ---------------------------------------------------------------------------------------

/// What every connection task shares.
struct Shared {
    connector: Connector,
    speed: f64,
    window: Duration,
    max_packet_size: usize,
    /// When the replay started.
    base: Instant,
    /// The earliest replayed connection's recorded start.
    first_start: Duration,
}

impl Shared {
    /// A recorded interval at the replay's speed.
    fn scaled(&self, d: Duration) -> Duration {
        scale(d, self.speed)
    }
}

/// `d` divided by `speed`; zero for speed 0 or infinity.
fn scale(d: Duration, speed: f64) -> Duration {
    if speed == 0.0 || !speed.is_finite() {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(d.as_secs_f64() / speed).unwrap_or(FAR)
}

/// `base + d`, saturating far in the future.
fn later(base: Instant, d: Duration) -> Instant {
    base.checked_add(d)
        .or_else(|| base.checked_add(FAR))
        .unwrap_or(base)
}

async fn open(shared: &Shared, plan: &Plan) -> Result<Conn, String> {
    Conn::open(
        &plan.name,
        plan.id,
        &shared.connector,
        Framer::new(shared.max_packet_size),
        plan.version,
        plan.keepalive,
    )
    .await
    .map_err(|e| e.to_string())
}

/// One live packet.
#[derive(Debug)]
struct LivePacket {
    /// Its number among the live server's packets, from 1.
    n: usize,
    at: Instant,
    bytes: Bytes,
    packet: Result<Packet, DecodeError>,
}

/// The live side of one connection.
struct Live {
    conn: Conn,
    name: String,
    version: ProtocolVersion,
    /// When the connection was open (the replay's time zero for it).
    opened: Instant,
    /// Live server packets; `None` once matched.
    packets: Vec<Option<LivePacket>>,
    /// Index of the first unmatched live packet.
    front: usize,
    received: usize,
    not_kept: usize,
    keep: usize,
    peer_closed: Option<(Instant, String)>,
    our_close: Option<Instant>,
    /// The last packet sent or received.
    last_activity: Instant,
    last_send: Option<Instant>,
    trace: Vec<TraceLine>,
    trace_dropped: usize,
}

impl Live {
    fn line(&mut self, at: Instant, direction: &str, text: String) {
        if self.trace.len() >= MAX_TRACE {
            self.trace_dropped += 1;
            return;
        }
        self.trace.push(TraceLine {
            at: at.saturating_duration_since(self.opened),
            conn: self.name.clone(),
            direction: direction.into(),
            text,
        });
    }

    /// Waits for one thing from the target until `deadline`: true when something came.
    async fn pump(&mut self, deadline: Instant) -> bool {
        if self.peer_closed.is_some() {
            return false;
        }
        match self.conn.next(deadline).await {
            Some(Incoming::Frame { at, bytes }) => {
                let packet = decode_packet(&bytes, self.version);
                self.line(at, "←", describe(&bytes, &packet, self.version));
                self.received += 1;
                self.last_activity = self.last_activity.max(at);
                if self.packets.len() - self.front < self.keep {
                    self.packets.push(Some(LivePacket {
                        n: self.received,
                        at,
                        bytes,
                        packet,
                    }));
                } else {
                    self.not_kept += 1;
                }
                true
            }
            Some(Incoming::Closed { at, detail }) => {
                self.line(at, "", format!("closed by the server ({detail})"));
                self.peer_closed = Some((at, detail));
                true
            }
            Some(Incoming::Unframeable { at, error }) => {
                let detail = format!("its byte stream cannot be framed: {error}");
                self.line(at, "", format!("server stream unframeable: {error}"));
                self.peer_closed = Some((at, detail));
                true
            }
            None => false,
        }
    }

    /// Reads what comes until `deadline` or the server's close.
    async fn idle_until(&mut self, deadline: Instant) {
        while self.pump(deadline).await {}
    }

    /// Sends one client packet; false when the connection cannot take it.
    async fn send(&mut self, bytes: &[u8], window: Duration) -> bool {
        let text = describe(
            bytes,
            &decode_packet(&Bytes::copy_from_slice(bytes), self.version),
            self.version,
        );
        // The time the bytes went out: an answer (even a close) may come back before the
        // write returns.
        let started = Instant::now();
        match tokio::time::timeout(window.max(Duration::from_secs(1)), self.conn.send(bytes)).await
        {
            Ok(Ok(_)) => {
                self.line(started, "→", text);
                self.last_send = Some(started);
                self.last_activity = self.last_activity.max(started);
                true
            }
            Ok(Err(e)) => {
                let now = Instant::now();
                self.line(now, "", format!("send failed: {e}"));
                if self.peer_closed.is_none() {
                    self.peer_closed = Some((now, format!("sending failed: {e}")));
                }
                false
            }
            Err(_) => {
                let now = Instant::now();
                self.line(now, "", "send timed out: the target reads nothing".into());
                if self.peer_closed.is_none() {
                    self.peer_closed =
                        Some((now, "the target stopped reading (send timed out)".into()));
                }
                false
            }
        }
    }

    /// Closes our side.
    async fn close(&mut self) {
        if self.our_close.is_none() {
            self.conn.shutdown().await;
            let now = Instant::now();
            self.line(now, "", "closed by the client (replay)".into());
            self.our_close = Some(now);
        }
    }

    /// Seconds since the connection opened.
    fn rel(&self, at: Instant) -> String {
        secs(at.saturating_duration_since(self.opened))
    }

    /// The first unmatched live packet that matches `r` exactly, within the scan.
    fn find(&self, r: &RecServer, ids: &HashMap<u16, u16>, exact: bool) -> Option<usize> {
        self.packets[self.front..]
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().map(|p| (self.front + i, p)))
            .take(MATCH_SCAN)
            .find(|(_, l)| {
                if exact {
                    same_identity(r, l, ids)
                } else {
                    same_type(&r.bytes, &r.packet, &l.bytes, &l.packet)
                }
            })
            .map(|(i, _)| i)
    }

    /// The oldest unmatched live packet, when it is of `r`'s kind.
    fn front_counterpart(&self, r: &RecServer) -> Option<usize> {
        let (i, l) = self.packets[self.front..]
            .iter()
            .enumerate()
            .find_map(|(i, p)| p.as_ref().map(|p| (self.front + i, p)))?;
        if !same_type(&r.bytes, &r.packet, &l.bytes, &l.packet) {
            return None;
        }
        let counterpart = match (&r.packet, &l.packet) {
            // Acknowledgements are matched by identifier only.
            (Ok(p), _) if has_id(p) => false,
            (Ok(Packet::Publish(a)), Ok(Packet::Publish(b))) => a.topic == b.topic,
            _ => true,
        };
        counterpart.then_some(i)
    }

    fn take(&mut self, i: usize) -> Option<LivePacket> {
        let p = self.packets.get_mut(i)?.take();
        while self.front < self.packets.len() && self.packets[self.front].is_none() {
            self.front += 1;
        }
        p
    }
}

/// A recorded server packet.
struct RecServer {
    /// Its number among the recorded server packets, from 1.
    n: usize,
    at: Duration,
    bytes: Bytes,
    packet: Result<Packet, DecodeError>,
}

fn has_id(p: &Packet) -> bool {
    matches!(
        p,
        Packet::PubAck(_)
            | Packet::PubRec(_)
            | Packet::PubRel(_)
            | Packet::PubComp(_)
            | Packet::SubAck(_)
            | Packet::UnsubAck(_)
    )
}

fn same_type(
    rb: &[u8],
    r: &Result<Packet, DecodeError>,
    lb: &[u8],
    l: &Result<Packet, DecodeError>,
) -> bool {
    let rt = packet_type_of(rb, r);
    rt.is_some() && rt == packet_type_of(lb, l)
}

/// The live packet is the recorded one's counterpart: same type and, for acknowledgements,
/// the same (mapped) identifier; for PUBLISH the same topic, payload, QoS and retain.
fn same_identity(r: &RecServer, l: &LivePacket, ids: &HashMap<u16, u16>) -> bool {
    match (&r.packet, &l.packet) {
        (Ok(Packet::Publish(a)), Ok(Packet::Publish(b))) => {
            a.topic == b.topic && a.payload == b.payload && a.qos == b.qos && a.retain == b.retain
        }
        (Ok(Packet::PubRel(a)), Ok(Packet::PubRel(b))) => {
            ids.get(&a.packet_id).copied().unwrap_or(a.packet_id) == b.packet_id
        }
        (Ok(Packet::PubAck(a)), Ok(Packet::PubAck(b)))
        | (Ok(Packet::PubRec(a)), Ok(Packet::PubRec(b)))
        | (Ok(Packet::PubComp(a)), Ok(Packet::PubComp(b))) => a.packet_id == b.packet_id,
        (Ok(Packet::SubAck(a)), Ok(Packet::SubAck(b))) => a.packet_id == b.packet_id,
        (Ok(Packet::UnsubAck(a)), Ok(Packet::UnsubAck(b))) => a.packet_id == b.packet_id,
        (Ok(p), _) if has_id(p) => false,
        _ => same_type(&r.bytes, &r.packet, &l.bytes, &l.packet),
    }
}

/// What one connection's replay found.
#[derive(Default)]
struct Outcome {
    differences: Vec<String>,
    matched: usize,
    recorded_server: usize,
    sent: usize,
    client_total: usize,
    /// (recorded, live) delays between a client packet and the server packet answering it.
    delays: Vec<(Duration, Duration)>,
    order_changed: usize,
    /// The first client packet not sent because the target had closed.
    unsent: Option<(usize, String)>,
    /// The difference saying the live connection closed where the recording goes on
    /// (its index), and how many more recorded server packets it stands for.
    missing_after_close: Option<(usize, usize)>,
}

async fn run_connection(
    shared: Arc<Shared>,
    semaphore: Arc<Semaphore>,
    plan: Plan,
    pre: Option<(Conn, OwnedSemaphorePermit)>,
) -> SuiteReport {
    let scheduled = later(
        shared.base,
        shared.scaled(plan.start.saturating_sub(shared.first_start)),
    );
    let (conn, _permit) = match pre {
        Some(pre) => pre,
        None => {
            tokio::time::sleep_until(scheduled).await;
            let permit = match semaphore.acquire_owned().await {
                Ok(p) => p,
                Err(e) => return error_group(&plan, format!("replay scheduling: {e}")),
            };
            match open(&shared, &plan).await {
                Ok(c) => (c, permit),
                Err(e) => {
                    return error_group(&plan, format!("cannot connect to the target: {e}"));
                }
            }
        }
    };
    let opened = Instant::now();
    let late = opened.saturating_duration_since(scheduled);
    let mut properties = plan.properties.clone();
    if let Some(e) = conn.endpoints {
        properties.push(("live".into(), format!("{} → {}", e.client, e.server)));
    }
    let server_total = plan.items.iter().filter(|i| i.from == Side::Server).count();
    let mut live = Live {
        conn,
        name: plan.name.clone(),
        version: plan.version,
        opened,
        packets: Vec::new(),
        front: 0,
        received: 0,
        not_kept: 0,
        keep: server_total + EXTRA_LIVE_KEPT,
        peer_closed: None,
        our_close: None,
        last_activity: opened,
        last_send: None,
        trace: Vec::new(),
        trace_dropped: 0,
    };
    let sched = |at: Duration| later(opened, shared.scaled(at.saturating_sub(plan.start)));
    let window = shared.window;
    let mut out = Outcome {
        recorded_server: server_total,
        client_total: plan.items.len() - server_total,
        ..Outcome::default()
    };
    // Recorded server packet identifiers → the live server's.
    let mut ids: HashMap<u16, u16> = HashMap::new();
    let mut last_client_rec: Option<Duration> = None;
    let mut disconnect_sent: Option<Instant> = None;
    let mut server_n = 0;
    let mut client_n = 0;
    let mut last_matched_n = 0;
    for item in &plan.items {
        match item.from {
            Side::Server => {
                server_n += 1;
                let r = RecServer {
                    n: server_n,
                    at: item.at,
                    packet: decode_packet(&item.bytes, plan.version),
                    bytes: item.bytes.clone(),
                };
                let base = live.last_send.unwrap_or(opened).max(sched(r.at));
                let deadline = later(base, window);
                let waited_from = Instant::now();
                let received_before = live.received;
                let found = loop {
                    if let Some(i) = live.find(&r, &ids, true) {
                        break Some(i);
                    }
                    if let Some(i) = live.front_counterpart(&r) {
                        break Some(i);
                    }
                    if !live.pump(deadline).await {
                        break live.find(&r, &ids, false);
                    }
                };
                match found.and_then(|i| live.take(i)) {
                    Some(l) => {
                        out.matched += 1;
                        if l.n < last_matched_n {
                            out.order_changed += 1;
                        }
                        last_matched_n = last_matched_n.max(l.n);
                        learn_ids(&r.packet, &l.packet, &mut ids);
                        out.differences.extend(compare(&r, &l, &ids, plan.version));
                        if let (Some(c), Some(s)) = (last_client_rec, live.last_send) {
                            out.delays
                                .push((r.at.saturating_sub(c), l.at.saturating_duration_since(s)));
                        }
                    }
                    None => {
                        let what = short(&r.bytes, &r.packet, plan.version);
                        if live.peer_closed.is_some() && out.missing_after_close.is_some() {
                            // One difference for everything the closed connection lacks.
                            out.missing_after_close =
                                out.missing_after_close.map(|(i, n)| (i, n + 1));
                            continue;
                        }
                        let message = match &live.peer_closed {
                            Some((at, detail)) => format!(
                                "live closed the connection ({detail}) at {} where the recording has {what} (server packet {})",
                                live.rel(*at),
                                r.n
                            ),
                            None if live.received == received_before => format!(
                                "live sent nothing within {} where the recording has {what} (server packet {})",
                                secs(deadline.saturating_duration_since(waited_from)),
                                r.n
                            ),
                            None => format!(
                                "live sent no {what} within {} (server packet {}); it sent other packets",
                                secs(deadline.saturating_duration_since(waited_from)),
                                r.n
                            ),
                        };
                        if live.peer_closed.is_some() {
                            out.missing_after_close = Some((out.differences.len(), 0));
                        }
                        out.differences.push(message);
                    }
                }
            }
            Side::Client => {
                client_n += 1;
                if live.peer_closed.is_some() {
                    if out.unsent.is_none() {
                        let p = decode_packet(&item.bytes, plan.version);
                        out.unsent = Some((client_n, short(&item.bytes, &p, plan.version)));
                    }
                    continue;
                }
                live.idle_until(sched(item.at)).await;
                if live.peer_closed.is_some() {
                    let p = decode_packet(&item.bytes, plan.version);
                    out.unsent = Some((client_n, short(&item.bytes, &p, plan.version)));
                    continue;
                }
                let bytes = remap_ack(&item.bytes, &ids);
                if live.send(&bytes, window).await {
                    out.sent += 1;
                    last_client_rec = Some(item.at);
                    if bytes.first().map(|b| b >> 4) == Some(14) {
                        disconnect_sent = live.last_send;
                    }
                } else if out.unsent.is_none() {
                    let p = decode_packet(&item.bytes, plan.version);
                    out.unsent = Some((client_n, short(&item.bytes, &p, plan.version)));
                }
            }
        }
    }

    // The end of the connection.
    match &plan.end {
        // Server timers run in real time: the recorded delay is not scaled.
        RecEnd::Server { since, .. } => {
            let deadline = later(live.last_activity, *since + close_tolerance(*since, window));
            live.idle_until(deadline).await;
        }
        RecEnd::AfterDisconnect {
            by: Some(Side::Server),
            since,
            ..
        } => {
            let deadline = later(live.last_activity, *since + window);
            live.idle_until(deadline).await;
        }
        RecEnd::AfterDisconnect { at, .. }
        | RecEnd::Client { at, .. }
        | RecEnd::Open { at, .. } => {
            live.idle_until(sched(*at)).await;
        }
    }
    let peer_first = live.peer_closed.clone();
    let last_before_close = live.last_activity;
    if live.peer_closed.is_none() {
        live.close().await;
        // The server's answer to our close, and anything it still sends.
        let deadline = later(Instant::now(), window);
        live.idle_until(deadline).await;
    }
    let close = judge_close(
        &plan.end,
        peer_first.as_ref(),
        disconnect_sent,
        last_before_close,
        &out.unsent,
        &live,
        window,
    );

    if let Some((i, more)) = out.missing_after_close.filter(|(_, more)| *more > 0) {
        if let Some(d) = out.differences.get_mut(i) {
            d.push_str(&format!(
                " and {more} more recorded server packet(s) after it"
            ));
        }
    }
    // Live packets nothing recorded matched.
    for l in live.packets.iter().flatten() {
        out.differences.push(format!(
            "live sent {} which the recording does not have (live packet {})",
            short(&l.bytes, &l.packet, plan.version),
            l.n
        ));
    }
    if live.not_kept > 0 {
        out.differences.push(format!(
            "live sent {} more packet(s) beyond what the replay keeps",
            live.not_kept
        ));
    }
    let duration = opened.elapsed();
    let responses = responses_case(&plan, &shared, &out, &live, late, duration);
    let mut trace = std::mem::take(&mut live.trace);
    if live.trace_dropped > 0 {
        trace.push(TraceLine {
            at: duration,
            conn: plan.name.clone(),
            direction: String::new(),
            text: format!("… {} more trace line(s) not kept", live.trace_dropped),
        });
    }
    let mut responses = responses;
    responses.trace = trace;
    let close_case = CaseReport {
        id: "REPLAY-CLOSE".into(),
        title: "the live connection ends as the recorded one did".into(),
        cites: Vec::new(),
        verdict: close.0,
        branch: None,
        measured: Some(close.1),
        duration,
        trace: Vec::new(),
    };
    drop(live);
    SuiteReport {
        name: plan.name,
        classname: CLASSNAME.into(),
        properties,
        cases: vec![responses, close_case],
        duration,
    }
}

fn responses_case(
    plan: &Plan,
    shared: &Shared,
    out: &Outcome,
    live: &Live,
    late: Duration,
    duration: Duration,
) -> CaseReport {
    let recorded_span = plan
        .items
        .iter()
        .rev()
        .find(|i| i.from == Side::Client)
        .map(|i| i.at.saturating_sub(plan.start))
        .unwrap_or_default();
    let live_span = live
        .last_send
        .map(|s| s.saturating_duration_since(live.opened))
        .unwrap_or_default();
    let mut measured = format!(
        "{}/{} recorded server packets matched, live sent {}; {}/{} client packets sent over {} (recorded {}, speed {})",
        out.matched,
        out.recorded_server,
        live.received,
        out.sent,
        out.client_total,
        secs(live_span),
        secs(recorded_span),
        speed_text(shared.speed),
    );
    if !out.delays.is_empty() {
        let mut rec: Vec<Duration> = out.delays.iter().map(|d| d.0).collect();
        let mut liv: Vec<Duration> = out.delays.iter().map(|d| d.1).collect();
        rec.sort_unstable();
        liv.sort_unstable();
        measured.push_str(&format!(
            "; response delay median {} live vs {} recorded, max {} vs {}",
            ms(liv[liv.len() / 2]),
            ms(rec[rec.len() / 2]),
            ms(liv[liv.len() - 1]),
            ms(rec[rec.len() - 1]),
        ));
    }
    if out.order_changed > 0 {
        measured.push_str(&format!(
            "; {} packet(s) matched out of the live order (independent packets interleaved differently)",
            out.order_changed
        ));
    }
    if late > Duration::from_millis(100) {
        measured.push_str(&format!("; started {} later than scheduled", secs(late)));
    }
    let verdict = if out.differences.is_empty() {
        Verdict::Passed
    } else {
        let shown: Vec<&str> = out
            .differences
            .iter()
            .take(DIFFERENCES_SHOWN)
            .map(String::as_str)
            .collect();
        let mut message = shown.join("; ");
        if out.differences.len() > shown.len() {
            message.push_str(&format!(
                "; … and {} more difference(s)",
                out.differences.len() - shown.len()
            ));
        }
        Verdict::Failed { message }
    };
    CaseReport {
        id: "REPLAY-RESPONSES".into(),
        title: "the live server answers the recorded client's packets as the recorded server did"
            .into(),
        cites: Vec::new(),
        verdict,
        branch: None,
        measured: Some(measured),
        duration,
        trace: Vec::new(),
    }
}

/// The close verdict and what was measured.
fn judge_close(
    end: &RecEnd,
    peer_first: Option<&(Instant, String)>,
    disconnect_sent: Option<Instant>,
    last_before_close: Instant,
    unsent: &Option<(usize, String)>,
    live: &Live,
    window: Duration,
) -> (Verdict, String) {
    let recorded = format!("recorded: {}", end.text());
    let live_text = match peer_first {
        Some((at, detail)) => format!(
            "live: the server closed the connection ({detail}) at {}, {} after the last packet",
            live.rel(*at),
            secs(at.saturating_duration_since(last_before_close))
        ),
        None => match live.our_close {
            Some(at) => format!(
                "live: the connection was open until the replay closed it at {}{}",
                live.rel(at),
                match &live.peer_closed {
                    Some((p, _)) => format!(
                        " (the server closed its side {} later)",
                        secs(p.saturating_duration_since(at))
                    ),
                    None => " (the server had not closed its side within the window)".into(),
                }
            ),
            None => "live: the connection is still open".into(),
        },
    };
    let measured = format!("{recorded}; {live_text}");
    if let Some((n, what)) = unsent {
        return (
            Verdict::Failed {
                message: format!(
                    "{recorded}; {live_text}, before the client's packet {n} ({what}) could be sent"
                ),
            },
            measured,
        );
    }
    let fail = |why: String| Verdict::Failed {
        message: format!("{recorded}; {live_text}{why}"),
    };
    let verdict = match (end, peer_first) {
        (RecEnd::Server { since, .. }, Some((at, _))) => {
            let live_since = at.saturating_duration_since(last_before_close);
            let tol = close_tolerance(*since, window);
            let diff = live_since.abs_diff(*since);
            if diff <= tol {
                Verdict::Passed
            } else {
                fail(format!(
                    " — {} apart, more than the tolerance of {}",
                    secs(diff),
                    secs(tol)
                ))
            }
        }
        (RecEnd::Server { since, .. }, None) => fail(format!(
            " — the live server did not close within {} after the last packet",
            secs(*since + close_tolerance(*since, window))
        )),
        (RecEnd::AfterDisconnect { .. }, Some((at, _))) => match disconnect_sent {
            Some(d) if *at >= d => Verdict::Passed,
            _ => fail(" — before the client's DISCONNECT".into()),
        },
        (
            RecEnd::AfterDisconnect {
                by: Some(Side::Server),
                ..
            },
            None,
        ) => fail(" — the live server did not close the connection after the DISCONNECT".into()),
        (RecEnd::AfterDisconnect { .. }, None) => Verdict::Passed,
        (RecEnd::Client { .. }, Some(_)) => fail(" — the server closed first".into()),
        (RecEnd::Open { .. }, Some(_)) => fail(" — where the recording stays open".into()),
        (RecEnd::Client { .. } | RecEnd::Open { .. }, None) => Verdict::Passed,
    };
    (verdict, measured)
}

/// How far a live server close may be from the recorded one (relative to the last
/// packet): the response window, or a quarter of the recorded delay when longer. Servers
/// check keep-alive timers coarsely (mosquitto 2.0 every few seconds), so tighter bounds
/// would judge the timer's granularity, not the server.
fn close_tolerance(since: Duration, window: Duration) -> Duration {
    window.max(since / 4)
}

/// Records the live identifier the server chose for a recorded server PUBLISH / PUBREL.
fn learn_ids(
    r: &Result<Packet, DecodeError>,
    l: &Result<Packet, DecodeError>,
    ids: &mut HashMap<u16, u16>,
) {
    match (r, l) {
        (Ok(Packet::Publish(a)), Ok(Packet::Publish(b))) => {
            if let (Some(x), Some(y)) = (a.packet_id, b.packet_id) {
                ids.insert(x, y);
            }
        }
        (Ok(Packet::PubRel(a)), Ok(Packet::PubRel(b))) => {
            ids.insert(a.packet_id, b.packet_id);
        }
        _ => {}
    }
}

/// The client's PUBACK / PUBREC / PUBCOMP (which answer server PUBLISH / PUBREL) with the
/// live server's identifier in place of the recorded server's; other packets unchanged.
fn remap_ack(bytes: &Bytes, ids: &HashMap<u16, u16>) -> Bytes {
    let Some(&first) = bytes.first() else {
        return bytes.clone();
    };
    if !matches!(first >> 4, 4 | 5 | 7) {
        return bytes.clone();
    }
    let Ok(Some(h)) = FixedHeader::parse(bytes) else {
        return bytes.clone();
    };
    let at = h.header_len();
    let Some(id) = bytes
        .get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
    else {
        return bytes.clone();
    };
    match ids.get(&id) {
        Some(&live) if live != id => {
            let mut out = bytes.to_vec();
            out[at..at + 2].copy_from_slice(&live.to_be_bytes());
            Bytes::from(out)
        }
        _ => bytes.clone(),
    }
}

/// A code with its name: `0x05 (Not authorized)`.
fn code(version: ProtocolVersion, ty: PacketType, c: u8) -> String {
    format!("{c:#04x} ({})", code_name(version, ty, c))
}

fn codes(version: ProtocolVersion, ty: PacketType, list: &[u8]) -> String {
    format!(
        "[{}]",
        list.iter()
            .map(|c| code(version, ty, *c))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// A packet in a few words: `CONNACK 0x00`, `PUBACK 3`, `PUBLISH "a/b" QoS 1`.
fn short(bytes: &[u8], packet: &Result<Packet, DecodeError>, version: ProtocolVersion) -> String {
    match packet {
        Ok(Packet::ConnAck(c)) => format!("CONNACK {:#04x}", c.code),
        Ok(Packet::SubAck(s)) => format!(
            "SUBACK {} [{}]",
            s.packet_id,
            s.return_codes
                .iter()
                .map(|c| format!("{c:#04x}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Ok(Packet::UnsubAck(u)) => format!("UNSUBACK {}", u.packet_id),
        Ok(
            p @ (Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubRel(r) | Packet::PubComp(r)),
        ) => format!("{} {}", p.packet_type(), r.packet_id),
        Ok(Packet::Publish(p)) => format!(
            "PUBLISH {:?} QoS {}{} ({} bytes)",
            p.topic.as_str(),
            p.qos.as_u8(),
            if p.retain { " retained" } else { "" },
            p.payload.len()
        ),
        Ok(Packet::Disconnect(d)) => format!("DISCONNECT {:#04x}", d.reason_code),
        Ok(p @ Packet::Connect(_)) => summarize(p, version),
        Ok(p) => p.packet_type().name().to_owned(),
        Err(e) => match packet_type_of(bytes, packet) {
            Some(t) => format!("a malformed {} ({e})", t.name()),
            None => format!("a malformed packet ({e})"),
        },
    }
}

/// Differences between a recorded server packet and its live counterpart.
fn compare(
    r: &RecServer,
    l: &LivePacket,
    ids: &HashMap<u16, u16>,
    version: ProtocolVersion,
) -> Vec<String> {
    let n = r.n;
    let at = format!("at server packet {n}");
    let (rp, lp) = match (&r.packet, &l.packet) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(_), Err(_)) => {
            return if r.bytes == l.bytes {
                Vec::new()
            } else {
                vec![format!(
                    "recorded {}, live {} {at}",
                    short(&r.bytes, &r.packet, version),
                    short(&l.bytes, &l.packet, version)
                )]
            };
        }
        (Ok(_), Err(e)) => {
            return vec![format!(
                "recorded {}, live {} does not decode: {e} [{}] {at}",
                short(&r.bytes, &r.packet, version),
                packet_type_of(&l.bytes, &l.packet)
                    .map(|t| t.name())
                    .unwrap_or("packet"),
                hex_preview(&l.bytes)
            )];
        }
        (Err(_), Ok(_)) => {
            return vec![format!(
                "recorded {}, live {} (well-formed) {at}",
                short(&r.bytes, &r.packet, version),
                short(&l.bytes, &l.packet, version)
            )];
        }
    };
    let ty = rp.packet_type();
    let mut d = Vec::new();
    if ty != lp.packet_type() {
        d.push(format!(
            "recorded {}, live {} {at}",
            short(&r.bytes, &r.packet, version),
            short(&l.bytes, &l.packet, version)
        ));
        return d;
    }
    let reason = |d: &mut Vec<String>, a: u8, b: u8| {
        if a != b {
            d.push(format!(
                "recorded {ty} reason {}, live {ty} reason {} {at}",
                code(version, ty, a),
                code(version, ty, b)
            ));
        }
    };
    match (rp, lp) {
        (Packet::ConnAck(a), Packet::ConnAck(b)) => {
            if a.code != b.code {
                d.push(format!(
                    "recorded CONNACK {}, live CONNACK {} {at}",
                    code(version, ty, a.code),
                    code(version, ty, b.code)
                ));
            }
            if a.session_present != b.session_present {
                d.push(format!(
                    "recorded CONNACK session present {}, live {} {at}",
                    a.session_present, b.session_present
                ));
            }
        }
        (Packet::SubAck(a), Packet::SubAck(b)) => {
            if a.packet_id != b.packet_id {
                d.push(format!(
                    "recorded SUBACK {}, live SUBACK {} {at}",
                    a.packet_id, b.packet_id
                ));
            }
            if a.return_codes != b.return_codes {
                d.push(format!(
                    "recorded SUBACK {}, live {} {at}",
                    codes(version, ty, &a.return_codes),
                    codes(version, ty, &b.return_codes)
                ));
            }
        }
        (Packet::UnsubAck(a), Packet::UnsubAck(b)) => {
            if a.packet_id != b.packet_id {
                d.push(format!(
                    "recorded UNSUBACK {}, live UNSUBACK {} {at}",
                    a.packet_id, b.packet_id
                ));
            }
            if a.reason_codes != b.reason_codes {
                d.push(format!(
                    "recorded UNSUBACK {}, live {} {at}",
                    codes(version, ty, &a.reason_codes),
                    codes(version, ty, &b.reason_codes)
                ));
            }
        }
        (Packet::PubAck(a), Packet::PubAck(b))
        | (Packet::PubRec(a), Packet::PubRec(b))
        | (Packet::PubComp(a), Packet::PubComp(b))
        | (Packet::PubRel(a), Packet::PubRel(b)) => {
            let expected = if ty == PacketType::PubRel {
                ids.get(&a.packet_id).copied().unwrap_or(a.packet_id)
            } else {
                a.packet_id
            };
            if expected != b.packet_id {
                d.push(format!(
                    "recorded {ty} {}, live {ty} {} {at}",
                    a.packet_id, b.packet_id
                ));
            }
            reason(&mut d, a.reason_code, b.reason_code);
        }
        (Packet::Publish(a), Packet::Publish(b)) => {
            if a.topic != b.topic {
                d.push(format!(
                    "recorded PUBLISH topic {:?}, live {:?} {at}",
                    a.topic.as_str(),
                    b.topic.as_str()
                ));
            }
            if a.qos != b.qos {
                d.push(format!(
                    "recorded PUBLISH {:?} QoS {}, live QoS {} {at}",
                    a.topic.as_str(),
                    a.qos.as_u8(),
                    b.qos.as_u8()
                ));
            }
            if a.retain != b.retain {
                d.push(format!(
                    "recorded PUBLISH {:?} retain {}, live retain {} {at}",
                    a.topic.as_str(),
                    a.retain,
                    b.retain
                ));
            }
            if a.payload != b.payload {
                d.push(format!(
                    "recorded PUBLISH {:?} payload {} bytes [{}], live {} bytes [{}] {at}",
                    a.topic.as_str(),
                    a.payload.len(),
                    hex_preview(&a.payload),
                    b.payload.len(),
                    hex_preview(&b.payload)
                ));
            }
        }
        (Packet::Disconnect(a), Packet::Disconnect(b)) => {
            reason(&mut d, a.reason_code, b.reason_code)
        }
        (Packet::Auth(a), Packet::Auth(b)) => reason(&mut d, a.reason_code, b.reason_code),
        (Packet::PingResp, Packet::PingResp) => {}
        // Packets a server does not send: compared as bytes.
        _ => {
            if r.bytes != l.bytes {
                d.push(format!(
                    "recorded {}, live {} {at}",
                    summarize(rp, version),
                    summarize(lp, version)
                ));
            }
        }
    }
    d
}

// ---------------------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------------------

fn both(verdict: Verdict) -> Vec<CaseReport> {
    [
        (
            "REPLAY-RESPONSES",
            "the live server answers the recorded client's packets as the recorded server did",
        ),
        (
            "REPLAY-CLOSE",
            "the live connection ends as the recorded one did",
        ),
    ]
    .into_iter()
    .map(|(id, title)| CaseReport {
        id: id.into(),
        title: title.into(),
        cites: Vec::new(),
        verdict: verdict.clone(),
        branch: None,
        measured: None,
        duration: Duration::ZERO,
        trace: Vec::new(),
    })
    .collect()
}

fn group_of(
    name: String,
    properties: Vec<(String, String)>,
    cases: Vec<CaseReport>,
) -> SuiteReport {
    SuiteReport {
        name,
        classname: CLASSNAME.into(),
        properties,
        cases,
        duration: Duration::ZERO,
    }
}

fn error_group(plan: &Plan, message: String) -> SuiteReport {
    group_of(
        plan.name.clone(),
        plan.properties.clone(),
        both(Verdict::Error { message }),
    )
}

/// What the capture lacked, recorded so no verdict hides it.
fn notices_group(notices: &[Notice]) -> Option<SuiteReport> {
    if notices.is_empty() {
        return None;
    }
    let shown: Vec<String> = notices
        .iter()
        .take(DIFFERENCES_SHOWN)
        .map(|n| match n.frame {
            Some(f) => format!("file {} frame {f}: {}", n.file + 1, n.detail),
            None => format!("file {}: {}", n.file + 1, n.detail),
        })
        .collect();
    let mut message = format!(
        "{} notice(s) about the capture: {}",
        notices.len(),
        shown.join("; ")
    );
    if notices.len() > shown.len() {
        message.push_str(&format!("; … {} more", notices.len() - shown.len()));
    }
    Some(group_of(
        "capture".into(),
        Vec::new(),
        vec![CaseReport {
            id: "CAPTURE-NOTICES".into(),
            title: "what the capture files and streams lacked".into(),
            cites: Vec::new(),
            verdict: Verdict::Recorded { message },
            branch: None,
            measured: None,
            duration: Duration::ZERO,
            trace: Vec::new(),
        }],
    ))
}

fn side_name(s: Side) -> &'static str {
    match s {
        Side::Client => "client",
        Side::Server => "server",
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn speed_text(speed: f64) -> String {
    if speed == 0.0 || speed.is_infinite() {
        "as fast as possible".into()
    } else {
        format!("{speed}×")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{PubResponse, encode_to_vec};

    #[test]
    fn client_acks_take_the_live_identifier() {
        let v = ProtocolVersion::V3_1_1;
        let mut ids = HashMap::new();
        ids.insert(101u16, 1u16);
        for p in [
            Packet::PubAck(PubResponse::new(101)),
            Packet::PubRec(PubResponse::new(101)),
            Packet::PubComp(PubResponse::new(101)),
        ] {
            let bytes = Bytes::from(encode_to_vec(&p, v).unwrap());
            let out = remap_ack(&bytes, &ids);
            match decode_packet(&out, v).unwrap() {
                Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubComp(r) => {
                    assert_eq!(r.packet_id, 1)
                }
                other => panic!("{other:?}"),
            }
        }
        // The client's own PUBREL keeps its identifier.
        let rel = Bytes::from(encode_to_vec(&Packet::PubRel(PubResponse::new(101)), v).unwrap());
        assert_eq!(remap_ack(&rel, &ids), rel);
        // Unknown identifiers are sent as recorded.
        let other = Bytes::from(encode_to_vec(&Packet::PubAck(PubResponse::new(7)), v).unwrap());
        assert_eq!(remap_ack(&other, &ids), other);
    }

    #[test]
    fn speed_scaling() {
        let d = Duration::from_secs(2);
        assert_eq!(scale(d, 1.0), d);
        assert_eq!(scale(d, 2.0), Duration::from_secs(1));
        assert_eq!(scale(d, 0.0), Duration::ZERO);
        assert_eq!(scale(d, f64::INFINITY), Duration::ZERO);
        assert_eq!(scale(d, 1e-300), FAR);
    }

    #[test]
    fn the_collector_drops_connections_beyond_the_limits() {
        let mut c = Collector {
            conns: HashMap::new(),
            kept: 0,
            limits: Limits {
                packets: 3,
                bytes: 10 * (PACKET_OVERHEAD + 4),
            },
        };
        let packet = |conn: u64| Event {
            conn,
            at: Duration::ZERO,
            from: Side::Client,
            kind: EventKind::Packet {
                bytes: Bytes::from_static(&[0xc0, 0x00, 0, 0]),
                packet: Ok(Packet::PingReq),
            },
        };
        for _ in 0..4 {
            c.event(packet(1));
        }
        let p = &c.conns[&1];
        assert!(p.items.is_empty());
        assert!(
            p.dropped
                .as_deref()
                .unwrap_or("")
                .contains("more than 3 packets")
        );
        assert_eq!(c.kept, 0);
        for conn in 2..=5 {
            for _ in 0..3 {
                c.event(packet(conn));
            }
        }
        // 10 packets fit: connections 2, 3 and 4 (9 packets); 5 goes beyond.
        assert_eq!(c.conns[&4].items.len(), 3);
        assert!(
            c.conns[&5]
                .dropped
                .as_deref()
                .unwrap_or("")
                .contains("memory limit")
        );
        assert_eq!(c.kept, 9 * (PACKET_OVERHEAD + 4));
    }
}
