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

use crate::capture::Notice;
use crate::capture::flows::{Analyzer, AnalyzerConfig, ConnectionInfo, ConnectionKind};
use crate::capture::read::{self, Item};
use crate::capture::tls::KeyLog;
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

mod compare;
mod groups;
mod live;
mod recording;

use compare::*;
use groups::*;
use live::*;
use recording::*;

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
