//! A capture judged by a suite: files read, TCP reassembled, MQTT decoded, and every event
//! handed to the same judge as device mode — one report group per connection.

use super::flows::{Analyzer, AnalyzerConfig, AnalyzerStats, ConnectionInfo, ConnectionKind};
use super::read::{self, Item};
use super::reassembly::flow_hash;
use super::tls::KeyLog;
use super::{Notice, NoticeKind, Segment};
use crate::codec::ProtocolVersion;
use crate::event::{Event, tls_version_name};
use crate::judge::{Finding, Grouping};
use crate::report::{CaseReport, RunReport, SuiteReport, Verdict};
use crate::suite::{ParamValues, Suite};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Events handed to the judge thread at a time.
const BATCH: usize = 1024;
/// Batches queued for the judge before the reader waits.
const JUDGE_QUEUE: usize = 16;

/// How many events ahead the judge asks for where a coming one's connection state is…
const PREFETCH_ENTRY_AHEAD: usize = 16;
/// …for the state itself…
const PREFETCH_AHEAD: usize = 8;
/// …and for the trace slot it will be kept in (read from that state, by then in cache).
const PREFETCH_TRACE_AHEAD: usize = 3;
/// How many segments ahead the analysing thread asks for a flow's index position…
const FLOW_PREFETCH_AHEAD: usize = 8;
/// …for the flow's state…
const FLOW_STATE_PREFETCH_AHEAD: usize = 4;
/// …and for the MQTT framing state the flow's connection points to.
const FRAMING_PREFETCH_AHEAD: usize = 2;
/// Segments queued for the analysing thread before the reading thread waits.
const READ_QUEUE: usize = 8;
/// How often the analysis looks at a stop request while the reader brings nothing.
const STOP_POLL: Duration = Duration::from_millis(100);
/// How long after a stop request a silent reader (blocked on a pipe) is waited for.
const SILENT_READER_GRACE: Duration = Duration::from_secs(1);
/// A segment batch is sent on once its payloads reach this many bytes…
const READ_BATCH_BYTES: usize = 1 << 20;
/// …or it holds this many segments.
const READ_BATCH_SEGMENTS: usize = 4096;
/// Room in a batch's buffer beyond [`READ_BATCH_BYTES`] for the segment that fills it.
const READ_BATCH_SLACK: usize = 64 * 1024;

/// Segments read from the files, on their way to the analysing thread: headers, and
/// payloads copied into one buffer. The analysing thread takes that buffer over
/// ([`SegmentBatch::take_payloads`]) and shares it with the events cut from it.
#[derive(Default)]
struct SegmentBatch {
    payloads: Vec<u8>,
    /// Each segment with an empty payload, where its payload lies in `payloads`, and its
    /// flow's hash (computed here, so the analysing thread can prefetch the flow's state).
    segments: Vec<(Segment<'static>, std::ops::Range<usize>, u64)>,
    /// Reported by the reader, in order.
    notices: Vec<Notice>,
}

/// A capture file read through: `before_read` runs before every read of a file that is
/// not a regular file (a pipe, `/dev/stdin`), where a read may wait for data.
struct FlushBeforePipeRead<'a> {
    file: std::fs::File,
    before_read: Option<&'a dyn Fn()>,
}

impl std::io::Read for FlushBeforePipeRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(before) = self.before_read {
            before();
        }
        self.file.read(buf)
    }
}

impl SegmentBatch {
    fn is_empty(&self) -> bool {
        self.segments.is_empty() && self.notices.is_empty()
    }

    fn push(&mut self, seg: &Segment<'_>) {
        if self.payloads.capacity() == 0 {
            // A batch's buffer is handed over whole; the next one is allocated at its
            // final size, not grown (and copied) step by step.
            self.payloads.reserve(READ_BATCH_BYTES + READ_BATCH_SLACK);
        }
        let start = self.payloads.len();
        self.payloads.extend_from_slice(seg.payload);
        let header = Segment {
            payload: &[],
            ..*seg
        };
        let hash = flow_hash(seg.src, seg.dst);
        self.segments
            .push((header, start..self.payloads.len(), hash));
    }

    fn is_full(&self) -> bool {
        self.payloads.len() >= READ_BATCH_BYTES || self.segments.len() >= READ_BATCH_SEGMENTS
    }

    /// The payloads' buffer, taken over to be shared with events.
    fn take_payloads(&mut self) -> bytes::Bytes {
        bytes::Bytes::from(std::mem::take(&mut self.payloads))
    }

    /// Segment `i`, its payload attached from `payloads` (the buffer taken over), and its
    /// flow hash.
    fn segment<'a>(&self, i: usize, payloads: &'a [u8]) -> Option<(Segment<'a>, u64)> {
        let (header, range, hash) = self.segments.get(i)?;
        let seg = Segment {
            payload: payloads.get(range.clone()).unwrap_or_default(),
            ..*header
        };
        Some((seg, *hash))
    }

    /// The flow hash of segment `i`.
    fn hash(&self, i: usize) -> Option<u64> {
        self.segments.get(i).map(|s| s.2)
    }

    fn clear(&mut self) {
        self.payloads.clear();
        self.segments.clear();
        self.notices.clear();
    }
}

/// What the reading thread tells the judge thread.
enum ToJudge {
    /// The capture's first timestamp (Unix seconds): token expiry counts from it.
    Epoch(u64),
    /// Events in capture order.
    Events(Vec<Event>),
}

/// How a capture is analysed.
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    /// The files, read together in timestamp order.
    pub paths: Vec<PathBuf>,
    /// Ports whose connections are MQTT, besides 1883 and 8883.
    pub ports: Vec<u16>,
    /// Protocol version of connections whose CONNECT is not in the capture (inferred when
    /// `None`).
    pub protocol: Option<ProtocolVersion>,
    /// Largest MQTT packet accepted.
    pub max_packet_size: usize,
    /// Secrets to decrypt TLS connections with.
    pub tls_keys: Option<std::sync::Arc<KeyLog>>,
    /// Set to end the read early (Ctrl-C, SIGTERM): what was read is judged and the
    /// report says where the read stopped.
    pub stop: Option<std::sync::Arc<crate::interrupt::StopRequest>>,
}

/// What the analysis saw besides verdicts.
#[derive(Debug, Clone)]
pub struct CaptureSummary {
    /// Records, bytes and segments read.
    pub read: read::Summary,
    /// Flows, packets, gaps.
    pub stats: AnalyzerStats,
    /// The recognised connections.
    pub connections: Vec<ConnectionInfo>,
    /// Everything reported about the files and streams.
    pub notices: Vec<Notice>,
    /// Wall time of the analysis.
    pub elapsed: Duration,
}

impl CaptureSummary {
    /// One line: how much was read how fast, and what it held.
    pub fn line(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let mb = self.read.bytes as f64 / 1e6;
        format!(
            "capture: {} file(s), {} records, {:.1} MB in {:.2} s ({:.0} MB/s); {} TCP connections, {} MQTT ({} over WebSocket), {} TLS; {} MQTT packets ({} malformed); {} gaps ({} bytes lost); {} notices",
            self.read.files,
            self.read.records,
            mb,
            secs,
            mb / secs,
            self.stats.flows,
            self.stats.mqtt_flows,
            self.stats.websocket_flows,
            self.stats.tls_flows,
            self.stats.packets,
            self.stats.malformed,
            self.stats.gaps,
            self.stats.gap_bytes,
            self.notices.len() as u64 + self.stats.notices_suppressed,
        )
    }
}

/// Judges the capture files against `suite`'s rules, both directions, on capture time.
/// Returns one report group per MQTT or TLS connection (client id and addresses), plus a
/// `capture` group for what the files and streams lacked. Findings reach `on_finding` once
/// the capture is read (the judge runs on a thread of its own).
pub fn analyze(
    suite: &Suite,
    params: &ParamValues,
    opts: &CaptureOptions,
    on_finding: &mut dyn FnMut(&Finding),
) -> Result<(RunReport, CaptureSummary), String> {
    let started = Instant::now();
    let mut judge = crate::session::Session::new(suite, params)?.judge(suite)?;
    let mut config = AnalyzerConfig {
        protocol: opts.protocol,
        max_packet_size: opts.max_packet_size,
        tls_keys: opts.tls_keys.clone(),
        ..AnalyzerConfig::default()
    };
    for p in &opts.ports {
        if !config.ports.contains(p) {
            config.ports.push(*p);
        }
    }
    let mut analyzer = Analyzer::new(config);
    let mut notices = Vec::new();
    // Reassembly on this thread, reading and the judge on two others: segments and
    // events cross in batches over bounded channels, so memory stays bounded whichever
    // side is slower.
    let stop = opts.stop.clone().unwrap_or_default();
    let (read, mut judge, findings) = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<ToJudge>(JUDGE_QUEUE);
        // Emptied batches go back to be filled again: a batch is a few hundred KB, which
        // malloc would otherwise map and unmap (page faults included) every time.
        let (back_tx, back_rx) = std::sync::mpsc::sync_channel::<Vec<Event>>(JUDGE_QUEUE + 2);
        let judging = scope.spawn(move || {
            let mut findings = Vec::new();
            for message in rx {
                match message {
                    ToJudge::Epoch(secs) => judge.set_epoch_unix(secs),
                    ToJudge::Events(mut events) => {
                        for (i, event) in events.iter().enumerate() {
                            if let Some(ahead) = events.get(i + PREFETCH_ENTRY_AHEAD) {
                                judge.prefetch_entry(ahead);
                            }
                            if let Some(ahead) = events.get(i + PREFETCH_AHEAD) {
                                judge.prefetch(ahead);
                            }
                            if let Some(ahead) = events.get(i + PREFETCH_TRACE_AHEAD) {
                                judge.prefetch_trace(ahead);
                            }
                            findings.extend(judge.observe(event));
                        }
                        events.clear();
                        // Full or gone: the batch is just freed.
                        let _ = back_tx.try_send(events);
                    }
                }
            }
            (judge, findings)
        });
        let mut batch: Vec<Event> = Vec::with_capacity(BATCH);
        let mut to_judge = |event: Event| {
            batch.push(event);
            if batch.len() >= BATCH {
                let empty = back_rx
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(BATCH));
                let full = std::mem::replace(&mut batch, empty);
                // A judge that stopped has panicked; the join below reports it.
                let _ = tx.send(ToJudge::Events(full));
            }
        };
        // The files are read on a third thread: segments cross in batches (payloads
        // copied into one buffer per batch), emptied batches come back to be refilled.
        let (seg_tx, seg_rx) = std::sync::mpsc::sync_channel::<SegmentBatch>(READ_QUEUE);
        let (seg_back_tx, seg_back_rx) =
            std::sync::mpsc::sync_channel::<SegmentBatch>(READ_QUEUE + 2);
        // Not scoped: a read blocked on a pipe that brings nothing more must not hold up
        // a requested stop (the thread ends with the process).
        let paths = opts.paths.clone();
        let reader_stop = stop.clone();
        let reading = std::thread::Builder::new()
            .name("capture-read".into())
            .spawn(move || {
                let batch = std::cell::RefCell::new(SegmentBatch::default());
                let send = |b: &mut SegmentBatch| {
                    let empty = seg_back_rx.try_recv().unwrap_or_default();
                    // The analysis stopped only if it panicked; the join reports that.
                    let _ = seg_tx.send(std::mem::replace(b, empty));
                };
                // Before a read that may wait on a pipe, what was read so far goes to
                // the analysis: a stop while it waits loses nothing.
                let flush = || {
                    let mut b = batch.borrow_mut();
                    if !b.is_empty() {
                        send(&mut b);
                    }
                };
                let read = read::MergedReader::open_with(&paths, |file| FlushBeforePipeRead {
                    before_read: (!file.metadata().is_ok_and(|m| m.is_file()))
                        .then_some(&flush as &dyn Fn()),
                    file,
                })
                .and_then(|mut merged| {
                    merged.for_each_item_until(reader_stop.flag(), |item| {
                        let mut b = batch.borrow_mut();
                        match item {
                            Item::Segment(seg) => b.push(&seg),
                            Item::Notice(n) => b.notices.push(n),
                        }
                        if b.is_full() {
                            send(&mut b);
                        }
                    })
                });
                let _ = seg_tx.send(batch.into_inner());
                read
            })
            .map_err(|e| read::CaptureError::Io {
                offset: 0,
                error: e,
            });
        let mut epoch_set = false;
        let mut segments_seen = 0u64;
        let mut abandoned_read = false;
        let mut stop_seen: Option<Instant> = None;
        loop {
            let mut batch = match seg_rx.recv_timeout(STOP_POLL) {
                Ok(batch) => batch,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if stop.requested().is_some() {
                        let since = *stop_seen.get_or_insert_with(Instant::now);
                        if since.elapsed() >= SILENT_READER_GRACE {
                            abandoned_read = true;
                            break;
                        }
                    }
                    continue;
                }
            };
            segments_seen += batch.segments.len() as u64;
            let payloads = batch.take_payloads();
            analyzer.share_payloads_of(payloads.clone());
            for i in 0..batch.segments.len() {
                // In steps, as in the judge: the flow's index position eight segments
                // on, its reassembly and connection entries four on (found through the
                // index position, by now in cache), its framing state two on.
                if let Some(ahead) = batch.hash(i + FLOW_PREFETCH_AHEAD) {
                    analyzer.prefetch_index(ahead);
                }
                if let Some(ahead) = batch.hash(i + FLOW_STATE_PREFETCH_AHEAD) {
                    analyzer.prefetch_flow(ahead);
                }
                if let Some(ahead) = batch.hash(i + FRAMING_PREFETCH_AHEAD) {
                    analyzer.prefetch_framing(ahead);
                }
                let Some((seg, hash)) = batch.segment(i, &payloads) else {
                    break;
                };
                if !epoch_set {
                    // Timing rules and token expiry count on capture time.
                    analyzer.set_epoch(seg.at);
                    let _ = tx.send(ToJudge::Epoch(seg.at.as_secs()));
                    epoch_set = true;
                }
                analyzer.segment_hashed(&seg, hash, &mut to_judge);
            }
            // Events cut from the buffer keep it alive; this thread lets go of it.
            analyzer.share_payloads_of(bytes::Bytes::new());
            notices.append(&mut batch.notices);
            batch.clear();
            let _ = seg_back_tx.try_send(batch);
        }
        let read = match reading {
            _ if abandoned_read => Ok(read::Summary {
                files: opts.paths.len(),
                segments: segments_seen,
                stopped: true,
                ..read::Summary::default()
            }),
            Ok(reading) => match reading.join() {
                Ok(read) => read,
                Err(panic) => std::panic::resume_unwind(panic),
            },
            Err(e) => Err(e),
        };
        if read.is_ok() {
            analyzer.finish(&mut to_judge);
        }
        if !batch.is_empty() {
            let _ = tx.send(ToJudge::Events(batch));
        }
        drop(tx);
        let (judge, findings) = match judging.join() {
            Ok(done) => done,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        (read, judge, findings)
    });
    let read = read.map_err(|e| e.to_string())?;
    if read.stopped {
        let reason = opts
            .stop
            .as_deref()
            .and_then(|s| s.requested())
            .unwrap_or("a stop request");
        notices.push(Notice {
            kind: NoticeKind::Interrupted,
            file: 0,
            frame: None,
            at: None,
            detail: if read.records > 0 {
                format!(
                    "the read stopped at {reason} after {} records ({} bytes): the rest of the capture is not judged, and connections still open there are judged as at the capture's end",
                    read.records, read.bytes
                )
            } else {
                format!(
                    "the read stopped at {reason} while it waited for more data, after {} TCP segments: what follows is not judged, and connections still open are judged as at the capture's end",
                    read.segments
                )
            },
        });
    }
    for finding in &findings {
        on_finding(finding);
    }
    notices.extend(analyzer.notices());
    let connections = analyzer.connections().to_vec();
    for c in &connections {
        judge.name_connection(c.id, connection_name(c));
    }
    let mut suites = judge.finish(Grouping::Connection);
    explain_tls(&mut suites, &connections, opts.tls_keys.is_some());
    explain_websocket(&mut suites, &connections);
    let stats = analyzer.stats();
    if let Some(group) = notices_group(suite, &notices, &stats) {
        suites.push(group);
    }
    let elapsed = started.elapsed();
    for s in &mut suites {
        s.properties.push(("mode".into(), "pcap".into()));
        s.properties.push((
            "capture".into(),
            opts.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" "),
        ));
    }
    Ok((
        RunReport {
            suites,
            duration: elapsed,
        },
        CaptureSummary {
            read,
            stats,
            connections,
            notices,
            elapsed,
        },
    ))
}

/// `10.0.0.2:51515 → 10.0.0.1:1883` (with `TLS` in front for TLS connections,
/// `WebSocket` for MQTT over WebSocket).
fn connection_name(c: &ConnectionInfo) -> String {
    let addrs = format!("{} → {}", c.endpoints.client, c.endpoints.server);
    match c.kind {
        ConnectionKind::Mqtt if c.websocket.is_some() => format!("WebSocket {addrs}"),
        ConnectionKind::Mqtt => addrs,
        ConnectionKind::Tls => format!("TLS {addrs}"),
    }
}

/// What the opening handshake of each MQTT-over-WebSocket connection showed, as a
/// property of its report group.
fn explain_websocket(suites: &mut [SuiteReport], connections: &[ConnectionInfo]) {
    for c in connections {
        let Some(ws) = &c.websocket else {
            continue;
        };
        let name = connection_name(c);
        for s in suites
            .iter_mut()
            .filter(|s| s.name.ends_with(&format!("({name})")))
        {
            s.properties.push(("websocket".into(), ws.to_string()));
        }
    }
}

/// What the handshake of each TLS connection showed and how its decryption went; rules
/// on one whose MQTT stayed encrypted are inconclusive, and say why.
fn explain_tls(suites: &mut [SuiteReport], connections: &[ConnectionInfo], key_log: bool) {
    for c in connections.iter().filter(|c| c.kind == ConnectionKind::Tls) {
        let name = connection_name(c);
        let handshake = match &c.tls {
            Some(t) => format!(
                "SNI {}, offered {}, negotiated {}",
                t.sni.as_deref().unwrap_or("(none)"),
                t.offered
                    .iter()
                    .map(|v| tls_version_name(*v))
                    .collect::<Vec<_>>()
                    .join(", "),
                t.negotiated
                    .map(tls_version_name)
                    .unwrap_or_else(|| "(not seen)".into())
            ),
            None => "no handshake seen".into(),
        };
        let decrypted = c.decryption.as_ref().is_some_and(|d| d.decrypted);
        let why = match (&c.decryption, key_log) {
            (Some(d), _) => format!("not decrypted with the key log: {}", d.summary),
            (None, true) => "not decrypted with the key log".to_owned(),
            (None, false) => "give the key log (--tls-keylog FILE) to decrypt it".to_owned(),
        };
        for s in suites
            .iter_mut()
            .filter(|s| s.name.ends_with(&format!("({name})")))
        {
            s.properties.push(("tls".into(), handshake.clone()));
            if let Some(d) = &c.decryption {
                s.properties
                    .push(("tls decryption".into(), d.summary.clone()));
            }
            if decrypted {
                continue;
            }
            for case in &mut s.cases {
                if let Verdict::Inconclusive { .. } = case.verdict {
                    case.verdict = Verdict::Inconclusive {
                        message: format!(
                            "the connection is TLS ({handshake}): its MQTT packets are encrypted and cannot be judged from the capture ({why})"
                        ),
                    };
                }
            }
        }
    }
}

/// The `capture` group: a broken file is an error; losses and skipped traffic are
/// recorded so that no verdict hides them.
fn notices_group(suite: &Suite, notices: &[Notice], stats: &AnalyzerStats) -> Option<SuiteReport> {
    let mut by_kind: BTreeMap<&'static str, (NoticeKind, Vec<&Notice>)> = BTreeMap::new();
    for n in notices {
        by_kind
            .entry(kind_id(n.kind))
            .or_insert_with(|| (n.kind, Vec::new()))
            .1
            .push(n);
    }
    if by_kind.is_empty() {
        return None;
    }
    let cases = by_kind
        .into_iter()
        .map(|(id, (kind, list))| {
            let shown: Vec<String> = list.iter().take(5).map(|n| describe(n)).collect();
            let mut message = format!(
                "{} × {}: {}",
                list.len(),
                kind_title(kind),
                shown.join("; ")
            );
            if list.len() > shown.len() {
                message.push_str(&format!("; … {} more", list.len() - shown.len()));
            }
            if kind == NoticeKind::StreamGap && stats.notices_suppressed > 0 {
                message.push_str(&format!(
                    " ({} further notices were counted, not kept)",
                    stats.notices_suppressed
                ));
            }
            let verdict = match kind {
                NoticeKind::Truncated | NoticeKind::Malformed | NoticeKind::Interrupted => {
                    Verdict::Error { message }
                }
                _ => Verdict::Recorded { message },
            };
            CaseReport {
                id: id.into(),
                title: kind_title(kind).into(),
                cites: Vec::new(),
                verdict,
                branch: None,
                measured: None,
                duration: Duration::ZERO,
                trace: Vec::new(),
                timing: None,
            }
        })
        .collect();
    Some(SuiteReport {
        name: "capture".into(),
        classname: suite.name.clone(),
        properties: Vec::new(),
        cases,
        duration: Duration::ZERO,
    })
}

fn kind_id(kind: NoticeKind) -> &'static str {
    match kind {
        NoticeKind::Truncated => "CAPTURE-TRUNCATED",
        NoticeKind::Malformed => "CAPTURE-MALFORMED",
        NoticeKind::UnsupportedLinkType => "CAPTURE-LINK-TYPE",
        NoticeKind::IpFragment => "CAPTURE-IP-FRAGMENT",
        NoticeKind::StreamGap => "CAPTURE-STREAM-GAP",
        NoticeKind::InconsistentOverlap => "CAPTURE-TCP-OVERLAP",
        NoticeKind::StreamAbandoned => "CAPTURE-STREAM-ABANDONED",
        NoticeKind::NotAnalysed => "CAPTURE-NOT-ANALYSED",
        NoticeKind::Info => "CAPTURE-ASSUMPTIONS",
        NoticeKind::Interrupted => "CAPTURE-INTERRUPTED",
        NoticeKind::WebSocket => "CAPTURE-WEBSOCKET",
    }
}

fn kind_title(kind: NoticeKind) -> &'static str {
    match kind {
        NoticeKind::Truncated => "the capture file ends inside a record",
        NoticeKind::Malformed => "a capture record or block cannot be read",
        NoticeKind::UnsupportedLinkType => "records of a link type that is not decoded",
        NoticeKind::IpFragment => "IP fragments (not reassembled)",
        NoticeKind::StreamGap => "bytes missing from TCP streams",
        NoticeKind::InconsistentOverlap => "retransmitted TCP data that differs from the original",
        NoticeKind::StreamAbandoned => "TCP streams that could not be followed",
        NoticeKind::NotAnalysed => "captured bytes that were not analysed",
        NoticeKind::Info => "what the analysis assumed",
        NoticeKind::Interrupted => "the capture was not read to its end",
        NoticeKind::WebSocket => "WebSocket protocol errors in MQTT-over-WebSocket connections",
    }
}

fn describe(n: &Notice) -> String {
    let mut s = String::new();
    if let Some(frame) = n.frame {
        s.push_str(&format!("file {} frame {frame}: ", n.file + 1));
    } else {
        s.push_str(&format!("file {}: ", n.file + 1));
    }
    s.push_str(&n.detail);
    s
}
