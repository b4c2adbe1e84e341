//! Reading the capture: each MQTT connection's packets, both directions, with their
//! capture times; and planning its replay (what the client sends, what the server
//! answered, how it ended).

use super::*;

/// The capture's connections, as kept for replay.
#[derive(Debug)]
pub(super) struct Recording {
    pub(super) conns: Vec<RecordedConn>,
    pub(super) notices: Vec<Notice>,
    /// The capture's last timestamp, relative to its first.
    pub(super) end: Duration,
}

/// One recorded connection.
#[derive(Debug)]
pub(super) struct RecordedConn {
    pub(super) info: ConnectionInfo,
    /// Its first event (relative to the capture's start).
    pub(super) start: Duration,
    pub(super) items: Vec<RecItem>,
    pub(super) close: Option<RecClosed>,
    pub(super) gaps: u64,
    pub(super) gap_bytes: u64,
    pub(super) unframeable: Option<String>,
    pub(super) dropped: Option<String>,
}

/// One recorded packet.
#[derive(Debug, Clone)]
pub(super) struct RecItem {
    pub(super) at: Duration,
    pub(super) from: Side,
    pub(super) bytes: Bytes,
}

/// A recorded close.
#[derive(Debug, Clone)]
pub(super) struct RecClosed {
    pub(super) at: Duration,
    pub(super) by: Option<Side>,
    pub(super) detail: String,
}

/// A connection's events as they come, before its [`ConnectionInfo`] is final.
#[derive(Debug, Default)]
pub(super) struct Partial {
    pub(super) start: Duration,
    pub(super) items: Vec<RecItem>,
    pub(super) bytes: usize,
    pub(super) close: Option<RecClosed>,
    pub(super) gaps: u64,
    pub(super) gap_bytes: u64,
    pub(super) unframeable: Option<String>,
    pub(super) dropped: Option<String>,
}

/// Gathers the analyzer's events within the limits.
#[derive(Debug)]
pub(super) struct Collector {
    pub(super) conns: HashMap<u64, Partial>,
    pub(super) kept: usize,
    pub(super) limits: Limits,
}

impl Collector {
    pub(super) fn event(&mut self, ev: Event) {
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
            EventKind::Opened { .. } | EventKind::Tls(_) | EventKind::WebSocket(_) => {}
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
pub(super) fn load(
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

/// How the recorded connection ended.
#[derive(Debug, Clone)]
pub(super) enum RecEnd {
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
    pub(super) fn text(&self) -> String {
        match self {
            Self::AfterDisconnect {
                by, since, detail, ..
            } => format!(
                "the client sent DISCONNECT and the connection closed {} after it ({detail}{})",
                secs(*since),
                // A WebSocket close's detail names its sides already.
                by.filter(|_| !detail.contains(" by "))
                    .map(|s| format!(" by the {}", side_name(s)))
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
pub(super) struct Plan {
    pub(super) id: u64,
    pub(super) name: String,
    pub(super) properties: Vec<(String, String)>,
    pub(super) version: ProtocolVersion,
    pub(super) keepalive: u16,
    pub(super) start: Duration,
    pub(super) items: Vec<RecItem>,
    pub(super) end: RecEnd,
}

/// Turns a recorded connection into a plan, or into its inconclusive group.
pub(super) fn prepare(rc: RecordedConn, capture_end: Duration) -> Result<Plan, (u64, SuiteReport)> {
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
