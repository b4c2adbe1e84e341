//! Which TCP connections of a capture are MQTT (or MQTT over TLS), and the conversation
//! [`Event`]s they carry, for the judge.
//!
//! An [`Analyzer`] takes [`Segment`]s in capture order, puts each TCP connection back
//! together with a [`Reassembler`], and for every connection it recognises produces the
//! same events the live sources do: [`EventKind::Opened`] first, then packets
//! ([`EventKind::Packet`], timestamped by the segment that completed them), losses
//! ([`EventKind::Gap`]), [`EventKind::Unframeable`] streams, and [`EventKind::Closed`]
//! with the side that sent the first FIN or RST.
//!
//! # Which connections are MQTT
//!
//! - Either port is one of [`AnalyzerConfig::ports`] (1883 and 8883 by default), or
//! - the client's first bytes are an MQTT CONNECT: the fixed header, then the protocol
//!   name `MQTT` or `MQIsdp` and a level byte. This prefix identifies the packet; the
//!   strict decoder then judges all of it, so a malformed CONNECT on an unusual port is
//!   still reported.
//!
//! The client is the side that sent the SYN; without a SYN in the capture, the side
//! whose port is not an MQTT port, or the side whose first bytes are a CONNECT (or a TLS
//! ClientHello).
//!
//! A connection whose first bytes are a TLS record is TLS: its ClientHello and
//! ServerHello are read (server name, offered and negotiated versions) and reported once
//! as [`EventKind::Tls`]. Its MQTT stays opaque unless the configuration has a key log
//! ([`AnalyzerConfig::tls_keys`]): then its records are decrypted (TLS 1.2 and 1.3 AEAD
//! suites, see [`super::tls_decrypt`]) and the plaintext is framed like a connection in
//! the clear, the same events following the `Tls` one. A direction that stops being
//! decrypted part way (a record that does not authenticate, a gap) is a
//! [`EventKind::Gap`] for the judge and a notice. Other connections produce no events and
//! are only counted.
//!
//! # Losses and resynchronisation
//!
//! A gap in a direction is an [`EventKind::Gap`] with the bytes lost. Framing then
//! resumes at the next offset that looks like a packet: a packet type the direction's
//! side may send, valid fixed-header flags, a Remaining Length within the resync window,
//! a packet that decodes, and after it another plausible fixed header (or the end of
//! the stream). A [`StreamGap`](NoticeKind::StreamGap) notice says how many bytes were
//! skipped. A capture that starts in the middle of a connection is read the same way
//! from its first byte; without a CONNECT the protocol version is the configured one, or
//! inferred from the first packets (see [`VersionSource`]).

use super::reassembly::{
    CloseReason, Dir, Reassembler, ReassemblyConfig, ReassemblyStats, StreamItem, flow_hash,
};
use super::tls_decrypt::{
    DirState, KeyLog, TlsDecryptor, TlsStatus, cipher_suite_name, parse_client_hello,
    parse_server_hello,
};
use super::{Notice, NoticeKind, Segment};
use crate::codec::framing::DEFAULT_MAX_PACKET_SIZE;
use crate::codec::{
    DecodeError, FixedHeader, Framer, Packet, PacketType, ProtocolVersion, decode_frame,
    decode_packet,
};
use crate::event::{Endpoints, Event, EventKind, Side, TlsInfo};
use bytes::{Bytes, BytesMut};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The ports taken as MQTT by default: 1883 (plain) and 8883 (TLS).
pub const DEFAULT_MQTT_PORTS: [u16; 2] = [1883, 8883];

/// Bytes a connection not on an MQTT port may hold from the side that is not the client
/// while waiting for the client's first bytes.
const HOLD_CAP: usize = 64;

/// Largest TLS hello message read (a ClientHello with post-quantum key shares is a few
/// kilobytes; the format allows 16 MiB).
const MAX_HELLO: usize = 128 * 1024;

/// Frames looked at to infer the protocol version of a connection without a CONNECT.
const INFER_FRAMES: u32 = 8;

/// What an [`Analyzer`] looks for and how far it goes.
#[derive(Debug, Clone)]
pub struct AnalyzerConfig {
    /// Ports whose connections are MQTT (either end).
    pub ports: Vec<u16>,
    /// Also recognise connections on other ports by their client's first bytes being a
    /// CONNECT.
    pub detect_connect: bool,
    /// The protocol version of connections whose CONNECT is not in the capture; `None`
    /// infers it from their first packets.
    pub protocol: Option<ProtocolVersion>,
    /// Packets larger than this (header included) make a stream unframeable.
    pub max_packet_size: usize,
    /// Largest packet a resynchronisation waits for, and so the most bytes it buffers.
    pub resync_window: usize,
    /// Notices kept; beyond it they are counted (and the count reported at the end).
    pub max_notices: usize,
    /// TCP reassembly limits.
    pub reassembly: ReassemblyConfig,
    /// Secrets to decrypt TLS connections with (an SSLKEYLOGFILE); without them a TLS
    /// connection's MQTT is opaque.
    pub tls_keys: Option<Arc<KeyLog>>,
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        Self {
            ports: DEFAULT_MQTT_PORTS.to_vec(),
            detect_connect: true,
            protocol: None,
            max_packet_size: DEFAULT_MAX_PACKET_SIZE,
            resync_window: 256 * 1024,
            max_notices: 1000,
            reassembly: ReassemblyConfig::default(),
            tls_keys: None,
        }
    }
}

/// What a recognised connection carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionKind {
    /// MQTT in the clear: its packets are decoded.
    Mqtt,
    /// TLS: only its handshake is read.
    Tls,
}

/// How a connection was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Detection {
    /// One of its ports is an MQTT port.
    Port,
    /// Its client's first bytes are a CONNECT.
    Connect,
}

/// Where a connection's protocol version comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionSource {
    /// The client's CONNECT.
    Connect,
    /// The configuration ([`AnalyzerConfig::protocol`]), the CONNECT not being there.
    Configured,
    /// Inferred from the packets: the first one that decodes under only one of 3.1.1
    /// and 5.0 settles it (after 8 that decode under both, 3.1.1); how many were tried
    /// and how many decode under each.
    Inferred {
        /// Packets tried.
        frames: u32,
        /// Of them, decoding as 3.1.1.
        v3_1_1: u32,
        /// Of them, decoding as 5.0.
        v5: u32,
    },
    /// No CONNECT decoded yet: 3.1.1 (or the configured version) until one says otherwise.
    Default,
}

/// What is known about one recognised connection, for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The connection's id (the `conn` of its events).
    pub id: u64,
    /// MQTT or TLS.
    pub kind: ConnectionKind,
    /// How it was recognised.
    pub detection: Detection,
    /// Client and server addresses.
    pub endpoints: Endpoints,
    /// The capture starts after the connection's handshake.
    pub mid_stream: bool,
    /// The protocol version packets are decoded under (MQTT connections).
    pub version: Option<ProtocolVersion>,
    /// Where that version comes from.
    pub version_source: Option<VersionSource>,
    /// The TLS handshake, for TLS connections (once read).
    pub tls: Option<TlsInfo>,
    /// How decrypting it went, for TLS connections analysed with a key log.
    pub decryption: Option<TlsDecryption>,
    /// First frame of the connection.
    pub first_frame: u64,
    /// Last frame that carried data, a loss or an end for it.
    pub last_frame: u64,
    /// Capture timestamp (Unix time) of the first frame.
    pub first_at: Duration,
    /// Capture timestamp (Unix time) of the last frame.
    pub last_at: Duration,
    /// Stream bytes the client sent (as reassembled).
    pub client_bytes: u64,
    /// Stream bytes the server sent.
    pub server_bytes: u64,
    /// Packets decoded (well-formed or not).
    pub packets: u64,
    /// Gaps in its streams.
    pub gaps: u64,
    /// How it ended, when the capture shows it (e.g. "FIN by client").
    pub closed: Option<String>,
}

/// How a TLS connection's decryption went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsDecryption {
    /// Plaintext came out of it: its MQTT was judged (as far as it was decrypted).
    pub decrypted: bool,
    /// Both directions were decrypted to their end (or to an alert that ended them):
    /// nothing of the conversation is missing.
    pub complete: bool,
    /// In words: the cipher suite, then per direction the records decrypted and how the
    /// direction ended (an alert, or why decryption stopped). Never a secret.
    pub summary: String,
}

impl TlsDecryption {
    fn of(status: &TlsStatus) -> Self {
        let suite = status.cipher_suite().map_or_else(
            || "cipher suite not seen".to_owned(),
            |c| {
                cipher_suite_name(c).map_or_else(|| format!("cipher suite {c:#06x}"), str::to_owned)
            },
        );
        let dir = |name: &str, d: &super::tls_decrypt::DirStatus| {
            let state = match &d.state {
                DirState::Decrypting => "decrypting".to_owned(),
                DirState::Waiting { hello, .. } => format!("waiting for the {hello}"),
                DirState::Closed(alert) => format!("ended by alert {alert}"),
                DirState::Stopped(reason) => format!("stopped: {reason}"),
            };
            format!(
                "{name} {} records ({} bytes) decrypted, {state}",
                d.records, d.plaintext_bytes
            )
        };
        let whole = |d: &super::tls_decrypt::DirStatus| {
            matches!(d.state, DirState::Decrypting | DirState::Closed(_))
        };
        Self {
            decrypted: status.client.plaintext_bytes > 0 || status.server.plaintext_bytes > 0,
            complete: whole(&status.client) && whole(&status.server),
            summary: format!(
                "{suite}; {}; {}",
                dir("client", &status.client),
                dir("server", &status.server)
            ),
        }
    }
}

/// Counters over a whole analysis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnalyzerStats {
    /// TCP segments given.
    pub segments: u64,
    /// TCP connections seen.
    pub flows: u64,
    /// Of them, MQTT in the clear.
    pub mqtt_flows: u64,
    /// Of them, TLS on an MQTT port or with a client speaking TLS on one.
    pub tls_flows: u64,
    /// Of them, neither (no events).
    pub other_flows: u64,
    /// MQTT packets framed.
    pub packets: u64,
    /// Of them, malformed.
    pub malformed: u64,
    /// Gaps in MQTT streams.
    pub gaps: u64,
    /// Bytes lost in those gaps.
    pub gap_bytes: u64,
    /// Times framing resumed after a gap or a mid-stream start.
    pub resyncs: u64,
    /// Streams that became unframeable.
    pub unframeable: u64,
    /// Notices not kept (beyond [`AnalyzerConfig::max_notices`]).
    pub notices_suppressed: u64,
}

/// Turns TCP segments into MQTT conversation events. See the [module documentation](self).
#[derive(Debug)]
pub struct Analyzer {
    reassembler: Reassembler,
    /// The connections by the reassembler's flow slot (no hashing per item).
    conns: Vec<Option<Conn>>,
    sh: Shared,
}

impl Default for Analyzer {
    fn default() -> Self {
        Self::new(AnalyzerConfig::default())
    }
}

impl Analyzer {
    /// An analyzer with this configuration.
    pub fn new(config: AnalyzerConfig) -> Self {
        Self {
            reassembler: Reassembler::new(config.reassembly),
            conns: Vec::new(),
            sh: Shared {
                framer: Framer::new(config.max_packet_size),
                config,
                stats: AnalyzerStats::default(),
                infos: Vec::new(),
                notices: Vec::new(),
                notices_seen: 0,
                epoch: None,
                file: 0,
                ignore: Vec::new(),
                arena: PacketArena::default(),
            },
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AnalyzerConfig {
        &self.sh.config
    }

    /// Sets the file index stamped on notices from now on.
    pub fn set_file(&mut self, file: usize) {
        self.sh.file = file;
        self.reassembler.set_file(file);
    }

    /// Sets the analysis epoch (Unix time) that events' `at` count from. Without it, the
    /// first segment's timestamp is the epoch.
    pub fn set_epoch(&mut self, unix: Duration) {
        self.sh.epoch = Some(unix);
    }

    /// The analysis epoch as Unix time, once known: events' `at` are relative to it.
    pub fn epoch_unix(&self) -> Option<Duration> {
        self.sh.epoch
    }

    /// Takes one segment (in capture order) and pushes the events it causes to `out`.
    pub fn segment<F: FnMut(Event)>(&mut self, seg: &Segment<'_>, out: &mut F) {
        self.segment_hashed(seg, flow_hash(seg.src, seg.dst), out);
    }

    /// First step of a prefetch for a coming segment whose [`flow_hash`] is `hash`
    /// (some eight segments ahead: the flow's index position).
    #[inline]
    pub(crate) fn prefetch_index(&self, hash: u64) {
        self.reassembler.prefetch_index(hash);
    }

    /// Second step (some three segments ahead): the flow's reassembly and connection
    /// state. With thousands of connections interleaved, each segment's state is
    /// otherwise a chain of cache misses.
    #[inline]
    pub(crate) fn prefetch_flow(&self, hash: u64) {
        // The entry is only pointed at, not read: reading it would wait for the miss.
        if let Some(entry) = self
            .reassembler
            .prefetch_flow(hash)
            .and_then(|slot| self.conns.get(slot))
        {
            crate::prefetch::prefetch(entry, std::mem::size_of::<Option<Conn>>().div_ceil(64));
        }
    }

    /// The segments handed in from now on have their payloads inside `buffer`: packets
    /// that lie whole in one payload become slices of it instead of copies, so the
    /// buffer lives on until the last such event is dropped. `Bytes::new()` stops sharing.
    pub(crate) fn share_payloads_of(&mut self, buffer: Bytes) {
        self.sh.arena.payloads = buffer;
    }

    /// Third step (a segment or two ahead, the connection's entry now in cache): the
    /// MQTT framing state it points to.
    #[inline]
    pub(crate) fn prefetch_framing(&self, hash: u64) {
        let conn = self
            .reassembler
            .likely_slot(hash)
            .and_then(|slot| self.conns.get(slot));
        if let Some(Some(Conn {
            state: State::Mqtt(mqtt),
            ..
        })) = conn
        {
            crate::prefetch::prefetch(&**mqtt, std::mem::size_of::<MqttConn>().div_ceil(64));
        }
    }

    /// [`segment`](Self::segment) for a segment whose [`flow_hash`] is already known.
    pub(crate) fn segment_hashed<F: FnMut(Event)>(
        &mut self,
        seg: &Segment<'_>,
        hash: u64,
        out: &mut F,
    ) {
        if self.sh.epoch.is_none() {
            self.sh.epoch = Some(seg.at);
        }
        self.sh.stats.segments += 1;
        if seg.file != self.sh.file {
            self.set_file(seg.file);
        }
        let Self {
            reassembler,
            conns,
            sh,
        } = self;
        reassembler.segment_slotted(seg, hash, &mut |slot, item| {
            handle(conns, slot, sh, item, out);
        });
        for (slot, conn) in sh.ignore.drain(..) {
            reassembler.ignore_payload_at(slot, conn);
        }
    }

    /// The capture ended: pending data is flushed (losses as gaps, incomplete packets as
    /// notices), TLS handshakes seen in part are reported; connections still open get no
    /// [`EventKind::Closed`] (the judge finalises them itself).
    pub fn finish<F: FnMut(Event)>(&mut self, out: &mut F) {
        let Self {
            reassembler,
            conns,
            sh,
        } = self;
        reassembler.finish_slotted(&mut |slot, item| handle(conns, slot, sh, item, out));
        sh.ignore.clear();
        // Connections the reassembler never closed (none expected) end here too.
        let mut rest: Vec<Conn> = conns.drain(..).flatten().collect();
        rest.sort_unstable_by_key(|c| c.id);
        for mut c in rest {
            let ctx = Ctx {
                at: c.first_at,
                frame: c.first_frame,
            };
            c.end(CloseReason::CaptureEnd, ctx, sh, out);
        }
    }

    /// The notices so far (taken: the next call returns only newer ones).
    pub fn notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.sh.notices)
    }

    /// The recognised (MQTT and TLS) connections, in order of recognition. The byte and
    /// packet counts and the last frame of a connection are brought up to date when it
    /// ends (at the latest by [`finish`](Self::finish)).
    pub fn connections(&self) -> &[ConnectionInfo] {
        &self.sh.infos
    }

    /// Counters so far.
    pub fn stats(&self) -> AnalyzerStats {
        self.sh.stats
    }

    /// The reassembler's counters so far.
    pub fn reassembly_stats(&self) -> ReassemblyStats {
        self.reassembler.stats()
    }
}

/// Everything but the connections: configuration, counters, reports.
#[derive(Debug)]
struct Shared {
    config: AnalyzerConfig,
    framer: Framer,
    stats: AnalyzerStats,
    infos: Vec<ConnectionInfo>,
    notices: Vec<Notice>,
    notices_seen: u64,
    epoch: Option<Duration>,
    file: usize,
    /// Connections whose payload is no longer wanted, by slot and id (applied after
    /// each segment).
    ignore: Vec<(usize, u64)>,
    /// Where events' packet bytes are copied to.
    arena: PacketArena,
}

impl Shared {
    fn rel(&self, at: Duration) -> Duration {
        at.saturating_sub(self.epoch.unwrap_or_default())
    }

    fn push_notice(&mut self, mut n: Notice) {
        self.notices_seen += 1;
        if self.notices_seen > self.config.max_notices as u64 {
            self.stats.notices_suppressed += 1;
            return;
        }
        n.file = self.file;
        self.notices.push(n);
    }

    fn notice(&mut self, kind: NoticeKind, ctx: Ctx, detail: String) {
        self.push_notice(Notice {
            kind,
            file: self.file,
            frame: Some(ctx.frame),
            at: Some(ctx.at),
            detail,
        });
    }

    fn info(&mut self, idx: Option<usize>) -> Option<&mut ConnectionInfo> {
        idx.and_then(|i| self.infos.get_mut(i))
    }

    fn event(&self, conn: u64, at: Duration, from: Side, kind: EventKind) -> Event {
        Event {
            conn,
            at: self.rel(at),
            from,
            kind,
        }
    }

    fn is_mqtt_port(&self, port: u16) -> bool {
        self.config.ports.contains(&port)
    }
}

type Out<'o> = dyn FnMut(Event) + 'o;

/// A capture timestamp and frame.
#[derive(Debug, Clone, Copy)]
struct Ctx {
    at: Duration,
    frame: u64,
}

/// The connection in `slot`, when it is `conn`.
#[inline]
fn conn_at(conns: &mut [Option<Conn>], slot: usize, conn: u64) -> Option<&mut Conn> {
    conns
        .get_mut(slot)
        .and_then(Option::as_mut)
        .filter(|c| c.id == conn)
}

/// Dispatches one reassembly item to its connection (`slot`: its flow's slot).
fn handle(
    conns: &mut Vec<Option<Conn>>,
    slot: usize,
    sh: &mut Shared,
    item: StreamItem<'_>,
    out: &mut Out,
) {
    match item {
        StreamItem::Opened {
            conn,
            a,
            b,
            handshake,
            at,
            frame,
        } => {
            sh.stats.flows += 1;
            let port_match = sh.is_mqtt_port(a.port()) || sh.is_mqtt_port(b.port());
            if !port_match && !sh.config.detect_connect {
                sh.stats.other_flows += 1;
                sh.ignore.push((slot, conn));
                return;
            }
            // The client: the SYN's sender, else the side not on the MQTT port.
            let client = if handshake {
                Some(Dir::FromA)
            } else if port_match && sh.is_mqtt_port(a.port()) != sh.is_mqtt_port(b.port()) {
                Some(if sh.is_mqtt_port(b.port()) {
                    Dir::FromA
                } else {
                    Dir::FromB
                })
            } else {
                None
            };
            if conns.len() <= slot {
                conns.resize_with(slot + 1, || None);
            }
            conns[slot] = Some(Conn {
                id: conn,
                slot,
                a,
                b,
                handshake,
                first_at: at,
                first_frame: frame,
                port_match,
                client,
                state: State::Pending(Box::default()),
                closed: false,
                after_close: 0,
                dir_bytes: [0; 2],
                last_frame: frame,
                last_at: at,
                info: None,
            });
        }
        StreamItem::Data {
            conn,
            dir,
            bytes,
            at,
            frame,
        } => {
            if let Some(c) = conn_at(conns, slot, conn) {
                c.data(dir, bytes, Ctx { at, frame }, sh, out);
            }
        }
        StreamItem::Gap {
            conn,
            dir,
            bytes,
            at,
            frame,
        } => {
            if let Some(c) = conn_at(conns, slot, conn) {
                c.gap(dir, bytes, Ctx { at, frame }, sh, out);
            }
        }
        StreamItem::Fin {
            conn,
            dir,
            at,
            frame,
        } => {
            if let Some(c) = conn_at(conns, slot, conn) {
                c.fin(dir, false, Ctx { at, frame }, sh, out);
            }
        }
        StreamItem::Rst {
            conn,
            dir,
            at,
            frame,
        } => {
            if let Some(c) = conn_at(conns, slot, conn) {
                c.fin(dir, true, Ctx { at, frame }, sh, out);
            }
        }
        StreamItem::Closed {
            conn,
            reason,
            at,
            frame,
        } => {
            if conn_at(conns, slot, conn).is_some() {
                if let Some(mut c) = conns.get_mut(slot).and_then(Option::take) {
                    c.end(reason, Ctx { at, frame }, sh, out);
                }
            }
        }
        StreamItem::Notice(n) => sh.push_notice(n),
    }
}

/// One connection being analysed.
#[derive(Debug)]
struct Conn {
    id: u64,
    /// The reassembler's flow slot.
    slot: usize,
    a: SocketAddr,
    b: SocketAddr,
    handshake: bool,
    first_at: Duration,
    first_frame: u64,
    port_match: bool,
    /// The direction the client sends in, once known.
    client: Option<Dir>,
    state: State,
    /// The Closed event was emitted: nothing more is.
    closed: bool,
    /// Stream bytes that arrived after the Closed event (not analysed).
    after_close: u64,
    /// Stream bytes per direction (for the report).
    dir_bytes: [u64; 2],
    /// Last frame that carried data, a loss or an end (for the report).
    last_frame: u64,
    /// Its timestamp.
    last_at: Duration,
    /// Index of its [`ConnectionInfo`], once recognised.
    info: Option<usize>,
}

#[derive(Debug)]
enum State {
    /// Not decided yet: the first bytes of each direction are held.
    Pending(Box<Pending>),
    Mqtt(Box<MqttConn>),
    Tls(Box<TlsConn>),
    Other,
}

#[derive(Debug, Default)]
struct Pending {
    held: [Held; 2],
    /// The direction ended (FIN) or lost bytes before deciding.
    ended: [bool; 2],
}

/// Stream items held while a connection is being recognised.
#[derive(Debug, Default)]
struct Held {
    items: Vec<HeldItem>,
    /// The first bytes (up to 16), before any gap.
    prefix: Vec<u8>,
    gapped: bool,
    bytes: usize,
}

#[derive(Debug)]
enum HeldItem {
    Data(Ctx, Vec<u8>),
    Gap(Ctx, u64),
}

/// What a direction's first bytes look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    /// Nothing yet.
    Empty,
    /// Not enough bytes to tell.
    NeedMore,
    /// An MQTT CONNECT.
    Connect,
    /// A TLS record.
    Tls,
    /// Something else.
    Plain,
}

/// What the first bytes of a stream are: a CONNECT, a TLS record, or neither.
fn look(prefix: &[u8], ended: bool) -> Look {
    let Some(&first) = prefix.first() else {
        return if ended { Look::Plain } else { Look::Empty };
    };
    let verdict = match first {
        0x10 => connect_prefix(prefix),
        0x14..=0x17 => match (prefix.get(1), prefix.get(2)) {
            (Some(3), Some(minor)) if *minor <= 4 => Look::Tls,
            (Some(3), None) | (None, _) => Look::NeedMore,
            _ => Look::Plain,
        },
        _ => Look::Plain,
    };
    if verdict == Look::NeedMore && ended {
        Look::Plain
    } else {
        verdict
    }
}

/// Whether `b` starts like a CONNECT: type 1 with flags 0, a valid Remaining Length, then
/// the protocol name `MQTT` or `MQIsdp` and a level byte.
fn connect_prefix(b: &[u8]) -> Look {
    let len_bytes = match FixedHeader::parse(b) {
        Ok(Some(h)) => h.length_bytes,
        Ok(None) if b.len() < 5 => return Look::NeedMore,
        _ => return Look::Plain,
    };
    let rest = b.get(1 + len_bytes..).unwrap_or_default();
    let mut need_more = false;
    for name in [&b"\x00\x04MQTT"[..], b"\x00\x06MQIsdp"] {
        let n = rest.len().min(name.len());
        if rest[..n] == name[..n] {
            if rest.len() > name.len() {
                return Look::Connect;
            }
            need_more = true;
        }
    }
    if need_more {
        Look::NeedMore
    } else {
        Look::Plain
    }
}

impl Held {
    fn data(&mut self, ctx: Ctx, bytes: &[u8]) {
        if !self.gapped && self.prefix.len() < 16 {
            let n = (16 - self.prefix.len()).min(bytes.len());
            self.prefix.extend_from_slice(&bytes[..n]);
        }
        self.bytes += bytes.len();
        self.items.push(HeldItem::Data(ctx, bytes.to_vec()));
    }

    fn look(&self, ended: bool) -> Look {
        look(&self.prefix, ended || self.gapped)
    }
}

/// What a pending connection turns out to be.
enum Decision {
    Mqtt { client: Dir, connect: bool },
    Tls { client: Dir },
    Other,
}

impl Conn {
    fn cref(&self) -> ConnRef {
        ConnRef {
            id: self.id,
            slot: self.slot,
            info: self.info,
        }
    }

    fn side(&self, dir: Dir) -> Side {
        if self.client == Some(dir) {
            Side::Client
        } else {
            Side::Server
        }
    }

    fn endpoints(&self) -> Endpoints {
        let (client, server) = if self.client == Some(Dir::FromB) {
            (self.b, self.a)
        } else {
            (self.a, self.b)
        };
        Endpoints { client, server }
    }

    /// Counts stream bytes and the last frame. Kept here rather than in the report,
    /// which is elsewhere in memory (a cache miss per segment): [`Conn::sync_info`]
    /// copies them over when the connection ends.
    fn touch(&mut self, dir: Dir, bytes: usize, ctx: Ctx) {
        self.last_frame = self.last_frame.max(ctx.frame);
        self.last_at = self.last_at.max(ctx.at);
        self.dir_bytes[dir.index()] += bytes as u64;
    }

    /// Brings the report's byte counts and last frame up to date.
    fn sync_info(&self, sh: &mut Shared) {
        let client = self.client.unwrap_or(Dir::FromA);
        let (cb, sb) = (
            self.dir_bytes[client.index()],
            self.dir_bytes[client.reverse().index()],
        );
        let packets = match &self.state {
            State::Mqtt(m) => Some(m.proto.packets),
            State::Tls(t) => t.decrypting.as_ref().map(|d| d.mqtt.proto.packets),
            _ => None,
        };
        if let Some(info) = sh.info(self.info) {
            info.last_frame = info.last_frame.max(self.last_frame);
            info.last_at = info.last_at.max(self.last_at);
            info.client_bytes = cb;
            info.server_bytes = sb;
            if let Some(n) = packets {
                info.packets = n;
            }
        }
    }

    fn data(&mut self, dir: Dir, bytes: &[u8], ctx: Ctx, sh: &mut Shared, out: &mut Out) {
        self.touch(dir, bytes.len(), ctx);
        if self.closed {
            self.after_close += bytes.len() as u64;
            return;
        }
        let side = self.side(dir);
        let cref = self.cref();
        match &mut self.state {
            State::Pending(p) => {
                p.held[dir.index()].data(ctx, bytes);
                self.classify(false, sh, out);
            }
            State::Mqtt(m) => m.data(dir, side, bytes, ctx, cref, sh, out),
            State::Tls(t) => t.data(dir, bytes, ctx, cref, sh, out),
            State::Other => {}
        }
    }

    fn gap(&mut self, dir: Dir, bytes: u64, ctx: Ctx, sh: &mut Shared, out: &mut Out) {
        self.touch(dir, 0, ctx);
        let side = self.side(dir);
        let cref = self.cref();
        let closed = self.closed;
        match &mut self.state {
            State::Pending(p) => {
                let h = &mut p.held[dir.index()];
                h.gapped = true;
                h.items.push(HeldItem::Gap(ctx, bytes));
                self.classify(false, sh, out);
            }
            State::Mqtt(m) => m.gap(dir, side, bytes, closed, ctx, cref, sh, out),
            State::Tls(t) => t.gap(dir, ctx, cref, sh, out),
            State::Other => {}
        }
    }

    /// A FIN (or, with `reset`, a RST) travelling in `dir`.
    fn fin(&mut self, dir: Dir, reset: bool, ctx: Ctx, sh: &mut Shared, out: &mut Out) {
        if let State::Pending(p) = &mut self.state {
            p.ended[dir.index()] = true;
            if reset {
                p.ended = [true, true];
            }
            self.classify(true, sh, out);
        }
        self.touch(dir, 0, ctx);
        let cref = self.cref();
        let client = self.client;
        match &mut self.state {
            State::Mqtt(m) => {
                // The first FIN ends the conversation for the judge (its Closed follows): both
                // directions' complete packets are framed now, so none comes after Closed;
                // what either side sends later is counted as not analysed.
                let dirs: &[Dir] = if reset || !self.closed {
                    &[Dir::FromA, Dir::FromB]
                } else {
                    std::slice::from_ref(&dir)
                };
                m.stream_end(dirs, client, ctx, cref, sh, out);
            }
            State::Tls(t) => {
                let dirs: &[Dir] = if reset || !self.closed {
                    &[Dir::FromA, Dir::FromB]
                } else {
                    std::slice::from_ref(&dir)
                };
                t.stream_end(dirs, ctx, cref, sh, out);
            }
            State::Pending(_) | State::Other => return,
        }
        if !self.closed {
            self.closed = true;
            let by = self.side(dir);
            let how = if reset { "RST" } else { "FIN" };
            if let Some(info) = sh.info(self.info) {
                info.closed = Some(format!("{how} by {}", side_name(by)));
            }
            let ev = sh.event(
                self.id,
                ctx.at,
                by,
                EventKind::Closed {
                    by: Some(by),
                    detail: how.to_owned(),
                },
            );
            out(ev);
        }
    }

    /// The reassembler stopped tracking the connection.
    fn end(&mut self, reason: CloseReason, ctx: Ctx, sh: &mut Shared, out: &mut Out) {
        if let State::Pending(p) = &mut self.state {
            p.ended = [true, true];
            self.classify(true, sh, out);
        }
        let cref = self.cref();
        let client = self.client;
        match &mut self.state {
            State::Mqtt(m) => m.stream_end(&[Dir::FromA, Dir::FromB], client, ctx, cref, sh, out),
            State::Tls(t) => t.stream_end(&[Dir::FromA, Dir::FromB], ctx, cref, sh, out),
            State::Pending(_) | State::Other => return,
        }
        // After the last packets were framed.
        self.sync_info(sh);
        if self.after_close > 0 {
            let n = self.after_close;
            sh.notice(
                NoticeKind::NotAnalysed,
                ctx,
                format!(
                    "connection {}: {n} bytes sent after the connection was closed were not analysed",
                    self.id
                ),
            );
        }
        if reason == CloseReason::Replaced && !self.closed {
            self.closed = true;
            let detail = "a new connection took its addresses (its end is not in the capture)";
            if let Some(info) = sh.info(self.info) {
                info.closed = Some(detail.to_owned());
            }
            let ev = sh.event(
                self.id,
                ctx.at,
                Side::Client,
                EventKind::Closed {
                    by: None,
                    detail: detail.to_owned(),
                },
            );
            out(ev);
        }
    }

    /// Decides what a pending connection is, when its bytes allow (or `force`).
    fn classify(&mut self, force: bool, sh: &mut Shared, out: &mut Out) {
        let State::Pending(p) = &self.state else {
            return;
        };
        let looks = [
            p.held[0].look(p.ended[0] || force),
            p.held[1].look(p.ended[1] || force),
        ];
        let dirs = [Dir::FromA, Dir::FromB];
        let decision = if self.port_match {
            let decisive = dirs.into_iter().find_map(|d| match looks[d.index()] {
                Look::Tls => Some(Decision::Tls {
                    client: self.client.unwrap_or(d),
                }),
                Look::Connect => Some(Decision::Mqtt {
                    client: self.client.unwrap_or(d),
                    connect: self.client.is_none_or(|c| c == d),
                }),
                _ => None,
            });
            decisive.or_else(|| {
                (force || looks.contains(&Look::Plain)).then(|| Decision::Mqtt {
                    client: self.client.unwrap_or(Dir::FromA),
                    connect: false,
                })
            })
        } else {
            let candidates: &[Dir] = match &self.client {
                Some(c) => std::slice::from_ref(c),
                None => &dirs,
            };
            let possible: Vec<Dir> = candidates
                .iter()
                .copied()
                .filter(|d| {
                    matches!(
                        looks[d.index()],
                        Look::Empty | Look::NeedMore | Look::Connect
                    )
                })
                .collect();
            let talkative = dirs
                .iter()
                .any(|d| !possible.contains(d) && p.held[d.index()].bytes > HOLD_CAP);
            if let Some(&d) = possible.iter().find(|d| looks[d.index()] == Look::Connect) {
                Some(Decision::Mqtt {
                    client: d,
                    connect: true,
                })
            } else if possible.is_empty() || talkative || force {
                Some(Decision::Other)
            } else {
                None
            }
        };
        let Some(decision) = decision else {
            return;
        };
        let State::Pending(p) = std::mem::replace(&mut self.state, State::Other) else {
            return;
        };
        let (kind, client, connect) = match decision {
            Decision::Other => {
                sh.stats.other_flows += 1;
                sh.ignore.push((self.slot, self.id));
                return;
            }
            Decision::Mqtt { client, connect } => (ConnectionKind::Mqtt, client, connect),
            Decision::Tls { client } => (ConnectionKind::Tls, client, false),
        };
        self.client = Some(client);
        let mid_stream = !self.handshake;
        let first = Ctx {
            at: self.first_at,
            frame: self.first_frame,
        };
        let mut info = ConnectionInfo {
            id: self.id,
            kind,
            detection: if self.port_match {
                Detection::Port
            } else {
                Detection::Connect
            },
            endpoints: self.endpoints(),
            mid_stream,
            version: None,
            version_source: None,
            tls: None,
            decryption: None,
            first_frame: self.first_frame,
            last_frame: self.first_frame,
            first_at: self.first_at,
            last_at: self.first_at,
            client_bytes: 0,
            server_bytes: 0,
            packets: 0,
            gaps: 0,
            closed: None,
        };
        match kind {
            ConnectionKind::Mqtt => {
                sh.stats.mqtt_flows += 1;
                // Read from a packet boundary when the stream's start is there.
                let from_start = !mid_stream || connect;
                let m = MqttConn::new(from_start, sh.config.protocol);
                info.version = Some(m.proto.version);
                info.version_source = Some(m.proto.source);
                self.state = State::Mqtt(Box::new(m));
            }
            ConnectionKind::Tls => {
                sh.stats.tls_flows += 1;
                let keys = sh.config.tls_keys.clone();
                self.state = State::Tls(Box::new(TlsConn::new(client, keys, sh.config.protocol)));
            }
        }
        sh.infos.push(info);
        self.info = Some(sh.infos.len() - 1);
        let opened = sh.event(
            self.id,
            first.at,
            Side::Client,
            EventKind::Opened(Some(self.endpoints())),
        );
        out(opened);
        // Replay what was held, the client's stream first (its CONNECT comes first).
        let [h0, h1] = p.held;
        let held = if client == Dir::FromA {
            [(Dir::FromA, h0), (Dir::FromB, h1)]
        } else {
            [(Dir::FromB, h1), (Dir::FromA, h0)]
        };
        for (dir, h) in held {
            for item in h.items {
                match item {
                    HeldItem::Data(ctx, bytes) => {
                        // Counted when they arrived.
                        self.data_recognised(dir, &bytes, ctx, sh, out);
                    }
                    HeldItem::Gap(ctx, n) => self.gap(dir, n, ctx, sh, out),
                }
            }
        }
    }

    /// [`Conn::data`] without the report update (for replayed bytes).
    fn data_recognised(
        &mut self,
        dir: Dir,
        bytes: &[u8],
        ctx: Ctx,
        sh: &mut Shared,
        out: &mut Out,
    ) {
        let side = self.side(dir);
        let cref = self.cref();
        match &mut self.state {
            State::Mqtt(m) => m.data(dir, side, bytes, ctx, cref, sh, out),
            State::Tls(t) => t.data(dir, bytes, ctx, cref, sh, out),
            State::Pending(_) | State::Other => {}
        }
    }
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Client => "client",
        Side::Server => "server",
    }
}

/// What a connection's handlers need to know about it.
#[derive(Debug, Clone, Copy)]
struct ConnRef {
    id: u64,
    slot: usize,
    info: Option<usize>,
}

/// The protocol version packets are decoded under.
#[derive(Debug)]
struct Proto {
    version: ProtocolVersion,
    /// Settled (by a CONNECT, the configuration or inference); otherwise resync tries
    /// both 3.1.1 and 5.0 and infers.
    known: bool,
    source: VersionSource,
    /// While not settled: packets tried, and how many decode as 3.1.1 and as 5.0.
    tally: (u32, u32, u32),
    /// While not settled: packets held back (side, bytes, timestamp).
    held: Vec<(Side, Bytes, Duration)>,
    /// Packets that had to be emitted before the version was settled.
    tentative: u32,
    /// Packets emitted (for the report).
    packets: u64,
}

#[derive(Debug)]
struct MqttConn {
    proto: Proto,
    dirs: [MqttDir; 2],
}

/// How one direction is being read.
#[derive(Debug, Clone, Copy, Default)]
enum Mode {
    /// At a packet boundary (plus the partial packet in `buf`).
    #[default]
    Framing,
    /// Looking for a packet boundary.
    Resync(Resync),
    /// Unframeable: nothing is read until a gap.
    Stopped,
}

/// A resynchronisation in progress.
#[derive(Debug, Clone, Copy)]
struct Resync {
    /// After a gap (rather than at a mid-stream start).
    after_gap: bool,
    /// Bytes lost in the gap(s).
    lost: u64,
    /// Bytes of a packet cut by the gap, discarded.
    partial: u64,
    /// Bytes skipped looking for a packet.
    skipped: u64,
}

#[derive(Debug, Default)]
struct MqttDir {
    buf: BytesMut,
    mode: Mode,
    /// While resynchronising: the buffer length worth scanning again at.
    wait: usize,
    /// While resynchronising: stream offset of `buf[0]` since the resync began.
    rs_pos: u64,
    /// While resynchronising: when bytes arrived (end offset, timestamp).
    marks: Vec<(u64, Duration)>,
    /// Bytes that arrived while the direction was unframeable.
    ignored: u64,
}

impl MqttDir {
    fn start_resync(&mut self, r: Resync) {
        self.buf.clear();
        self.marks.clear();
        self.wait = 0;
        self.rs_pos = 0;
        self.mode = Mode::Resync(r);
    }

    /// When the byte ending at resync offset `end` arrived.
    fn mark_at(&self, end: u64) -> Option<Duration> {
        let i = self.marks.partition_point(|m| m.0 < end);
        self.marks.get(i).or(self.marks.last()).map(|m| m.1)
    }
}

impl MqttConn {
    fn new(from_start: bool, configured: Option<ProtocolVersion>) -> Self {
        let proto = match (from_start, configured) {
            (true, _) => Proto {
                version: configured.unwrap_or(ProtocolVersion::V3_1_1),
                known: true,
                source: VersionSource::Default,
                tally: (0, 0, 0),
                held: Vec::new(),
                tentative: 0,
                packets: 0,
            },
            (false, Some(v)) => Proto {
                version: v,
                known: true,
                source: VersionSource::Configured,
                tally: (0, 0, 0),
                held: Vec::new(),
                tentative: 0,
                packets: 0,
            },
            (false, None) => Proto {
                version: ProtocolVersion::V3_1_1,
                known: false,
                source: VersionSource::Default,
                tally: (0, 0, 0),
                held: Vec::new(),
                tentative: 0,
                packets: 0,
            },
        };
        let mut dirs = [MqttDir::default(), MqttDir::default()];
        if !from_start {
            for d in &mut dirs {
                d.start_resync(Resync {
                    after_gap: false,
                    lost: 0,
                    partial: 0,
                    skipped: 0,
                });
            }
        }
        Self { proto, dirs }
    }

    #[allow(clippy::too_many_arguments)]
    fn data(
        &mut self,
        dir: Dir,
        side: Side,
        bytes: &[u8],
        ctx: Ctx,
        c: ConnRef,
        sh: &mut Shared,
        out: &mut Out,
    ) {
        let d = &mut self.dirs[dir.index()];
        match d.mode {
            Mode::Framing => frame_slice(d, &mut self.proto, side, bytes, ctx, c, sh, out),
            Mode::Resync(_) => {
                d.buf.extend_from_slice(bytes);
                let end = d.rs_pos + d.buf.len() as u64;
                d.marks.push((end, ctx.at));
                if d.buf.len() >= d.wait {
                    resync(d, &mut self.proto, side, false, ctx, c, sh, out);
                }
            }
            Mode::Stopped => d.ignored += bytes.len() as u64,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn gap(
        &mut self,
        dir: Dir,
        side: Side,
        bytes: u64,
        closed: bool,
        ctx: Ctx,
        c: ConnRef,
        sh: &mut Shared,
        out: &mut Out,
    ) {
        sh.stats.gaps += 1;
        sh.stats.gap_bytes += bytes;
        if let Some(info) = sh.info(c.info) {
            info.gaps += 1;
        }
        flush_held(&mut self.proto, c, sh, out);
        if !closed {
            let ev = sh.event(c.id, ctx.at, side, EventKind::Gap { bytes });
            out(ev);
        }
        let d = &mut self.dirs[dir.index()];
        let held = d.buf.len() as u64;
        let r = match d.mode {
            Mode::Resync(r) => Resync {
                after_gap: true,
                lost: r.lost + bytes,
                partial: r.partial,
                skipped: r.skipped + held,
            },
            Mode::Framing => Resync {
                after_gap: true,
                lost: bytes,
                partial: held,
                skipped: 0,
            },
            // What arrived while unframeable was skipped too.
            Mode::Stopped => Resync {
                after_gap: true,
                lost: bytes,
                partial: 0,
                skipped: std::mem::take(&mut d.ignored),
            },
        };
        d.start_resync(r);
    }

    /// Directions ended (FIN, RST, end of tracking): what is pending is read as far as
    /// it goes and the rest reported.
    fn stream_end(
        &mut self,
        dirs: &[Dir],
        client: Option<Dir>,
        ctx: Ctx,
        c: ConnRef,
        sh: &mut Shared,
        out: &mut Out,
    ) {
        let side = |d: Dir| {
            if client == Some(d) {
                Side::Client
            } else {
                Side::Server
            }
        };
        // Resynchronisations finish first: their packets may still settle the version.
        for &dir in dirs {
            let d = &mut self.dirs[dir.index()];
            if let Mode::Resync(_) = d.mode {
                if !d.buf.is_empty() {
                    resync(d, &mut self.proto, side(dir), true, ctx, c, sh, out);
                }
            }
        }
        flush_held(&mut self.proto, c, sh, out);
        for &dir in dirs {
            let d = &mut self.dirs[dir.index()];
            if let Mode::Framing = d.mode {
                if !d.buf.is_empty() {
                    let what = d
                        .buf
                        .first()
                        .and_then(|b| PacketType::from_nibble(b >> 4))
                        .map_or("packet", |t| t.name());
                    let n = d.buf.len();
                    let whole = FixedHeader::parse(&d.buf)
                        .ok()
                        .flatten()
                        .map_or_else(String::new, |h| format!(" of {}", h.packet_len()));
                    sh.notice(
                        NoticeKind::StreamGap,
                        ctx,
                        format!(
                            "connection {} {}: the stream ends inside a {what} ({n}{whole} \
                             bytes received)",
                            c.id,
                            side_name(side(dir))
                        ),
                    );
                }
            }
            if d.ignored > 0 {
                sh.notice(
                    NoticeKind::NotAnalysed,
                    ctx,
                    format!(
                        "connection {} {}: {} bytes after the stream became unframeable were \
                         not analysed",
                        c.id,
                        side_name(side(dir)),
                        d.ignored
                    ),
                );
                d.ignored = 0;
            }
            d.buf.clear();
            d.marks.clear();
            d.mode = Mode::Stopped;
        }
    }
}

/// Emits one framed packet, following the client's CONNECT's version.
///
/// While the version is not settled (a connection seen without its CONNECT), each packet
/// is decoded under both 3.1.1 and 5.0 and held back: the first packet only one of them
/// accepts settles it, and the packets held are then emitted decoded under it. After
/// [`INFER_FRAMES`] packets both accept, 3.1.1 it is.
#[allow(clippy::too_many_arguments)]
fn emit_packet(
    proto: &mut Proto,
    side: Side,
    bytes: Bytes,
    header: &FixedHeader,
    ctx: Ctx,
    c: ConnRef,
    sh: &mut Shared,
    out: &mut Out,
) {
    if proto.known {
        let packet = decode_frame(bytes.clone(), header, proto.version);
        return send(proto, side, bytes, packet, ctx.at, c, sh, out);
    }
    let as311 = decode_packet(&bytes, ProtocolVersion::V3_1_1);
    if let (Side::Client, Ok(Packet::Connect(connect))) = (side, &as311) {
        // A CONNECT carries its own version (send records it).
        proto.version = connect.protocol;
        proto.known = true;
        flush_held(proto, c, sh, out);
        return send(proto, side, bytes, as311, ctx.at, c, sh, out);
    }
    let as5 = decode_packet(&bytes, ProtocolVersion::V5);
    let (frames, v311, v5) = &mut proto.tally;
    *frames += 1;
    *v311 += u32::from(as311.is_ok());
    *v5 += u32::from(as5.is_ok());
    let settled = match (as311.is_ok(), as5.is_ok()) {
        (true, false) => Some(ProtocolVersion::V3_1_1),
        (false, true) => Some(ProtocolVersion::V5),
        _ if *frames >= INFER_FRAMES => Some(proto.version),
        _ => None,
    };
    let Some(v) = settled else {
        proto.held.push((side, bytes, ctx.at));
        return;
    };
    let (frames, v311, v5) = proto.tally;
    proto.version = v;
    proto.known = true;
    proto.source = VersionSource::Inferred {
        frames,
        v3_1_1: v311,
        v5,
    };
    let source = proto.source;
    if let Some(info) = sh.info(c.info) {
        info.version = Some(v);
        info.version_source = Some(source);
    }
    let early = if proto.tentative > 0 {
        format!(
            "; {} packets before it had to be read as 3.1.1",
            proto.tentative
        )
    } else {
        String::new()
    };
    sh.notice(
        NoticeKind::Info,
        ctx,
        format!(
            "connection {}: no CONNECT in the capture; MQTT {v} inferred from {frames} \
             packets ({v311} decode as 3.1.1, {v5} as 5.0){early}",
            c.id
        ),
    );
    flush_held(proto, c, sh, out);
    let packet = if v == ProtocolVersion::V5 { as5 } else { as311 };
    send(proto, side, bytes, packet, ctx.at, c, sh, out);
}

/// Emits the packets held back while the version is unsettled, decoded under the
/// current version (called before any other event of the connection, to keep order).
fn flush_held(proto: &mut Proto, c: ConnRef, sh: &mut Shared, out: &mut Out) {
    if !proto.known {
        proto.tentative += proto.held.len() as u32;
    }
    for (side, bytes, at) in std::mem::take(&mut proto.held) {
        let packet = decode_packet(&bytes, proto.version);
        send(proto, side, bytes, packet, at, c, sh, out);
    }
}

/// Emits a decoded packet (and follows a client's CONNECT).
#[allow(clippy::too_many_arguments)]
fn send(
    proto: &mut Proto,
    side: Side,
    bytes: Bytes,
    packet: Result<Packet, DecodeError>,
    at: Duration,
    c: ConnRef,
    sh: &mut Shared,
    out: &mut Out,
) {
    if side == Side::Client {
        if let Ok(Packet::Connect(connect)) = &packet {
            proto.version = connect.protocol;
            proto.known = true;
            proto.source = VersionSource::Connect;
            let (v, s) = (proto.version, proto.source);
            if let Some(info) = sh.info(c.info) {
                info.version = Some(v);
                info.version_source = Some(s);
            }
        }
    }
    sh.stats.packets += 1;
    if packet.is_err() {
        sh.stats.malformed += 1;
    }
    // Copied to the report by `Conn::sync_info`.
    proto.packets += 1;
    let ev = sh.event(c.id, at, side, EventKind::Packet { bytes, packet });
    out(ev);
}

#[allow(clippy::too_many_arguments)]
fn unframeable(
    d: &mut MqttDir,
    proto: &mut Proto,
    side: Side,
    error: DecodeError,
    at: Duration,
    c: ConnRef,
    sh: &mut Shared,
    out: &mut Out,
) {
    flush_held(proto, c, sh, out);
    sh.stats.unframeable += 1;
    d.buf.clear();
    d.marks.clear();
    d.mode = Mode::Stopped;
    let ev = sh.event(c.id, at, side, EventKind::Unframeable(error));
    out(ev);
}

/// Frames bytes arriving at a packet boundary (or completing the partial packet in
/// `d.buf`). Whole packets in the slice are copied once, straight into their event.
#[allow(clippy::too_many_arguments)]
fn frame_slice(
    d: &mut MqttDir,
    proto: &mut Proto,
    side: Side,
    data: &[u8],
    ctx: Ctx,
    c: ConnRef,
    sh: &mut Shared,
    out: &mut Out,
) {
    let framer = sh.framer;
    let mut data = data;
    // First complete the packet already begun.
    while !d.buf.is_empty() {
        match framer.complete_header(&d.buf, proto.version) {
            Ok(Some(h)) => {
                let bytes = d.buf.split_to(h.packet_len().min(d.buf.len())).freeze();
                emit_packet(proto, side, bytes, &h, ctx, c, sh, out);
            }
            Ok(None) => {
                let need = match FixedHeader::parse(&d.buf) {
                    Ok(Some(h)) => h.packet_len().saturating_sub(d.buf.len()).max(1),
                    _ => 1,
                };
                if data.is_empty() {
                    return;
                }
                let (take, rest) = data.split_at(need.min(data.len()));
                d.buf.extend_from_slice(take);
                data = rest;
            }
            Err(e) => return unframeable(d, proto, side, e, ctx.at, c, sh, out),
        }
    }
    // A large packet grew the buffer: give the memory back, so that what stays allocated
    // per idle connection does not depend on the biggest packet it ever carried.
    if d.buf.capacity() > 4096 {
        d.buf = BytesMut::new();
    }
    // Several packets in one slice share one copy of it (one allocation, not one each).
    let mut shared: Option<Bytes> = None;
    let mut pos = 0usize;
    while let Some(rest) = data.get(pos..).filter(|r| !r.is_empty()) {
        match framer.complete_header(rest, proto.version) {
            Ok(Some(h)) => {
                let len = h.packet_len();
                let bytes = if pos == 0 && len == data.len() {
                    sh.arena.copy(data)
                } else {
                    let whole = shared.get_or_insert_with(|| sh.arena.copy(data));
                    if pos + len > whole.len() {
                        return;
                    }
                    whole.slice(pos..pos + len)
                };
                emit_packet(proto, side, bytes, &h, ctx, c, sh, out);
                pos += len;
            }
            Ok(None) => {
                d.buf.extend_from_slice(rest);
                return;
            }
            Err(e) => return unframeable(d, proto, side, e, ctx.at, c, sh, out),
        }
    }
}

/// Largest packet copied into an arena block; bigger ones get an allocation of their own.
const ARENA_MAX_COPY: usize = 8 * 1024;
/// Size of an arena block.
const ARENA_BLOCK: usize = 64 * 1024;

/// Copies of packet bytes for events, carved out of shared blocks.
///
/// An event's bytes (and the decoded packet's fields, which slice them) outlive the
/// segment they came from: the judge reads them on another thread. Copied one allocation
/// per packet, that was a malloc here and a free over there for every packet, the frees
/// contending for this thread's heap. Carved out of a block, a copy is a reference-count
/// increment, and a block goes back in one free once every event cut from it has been
/// judged. Nothing may keep such bytes for long (the judge keeps copies), or it would
/// pin its whole block.
///
/// When the segments' own buffer is shared ([`Analyzer::share_payloads_of`]), bytes inside
/// it are not copied at all: the event's bytes are a slice of that buffer, which the same
/// rule then protects (a kept event would pin the whole buffer).
#[derive(Debug, Default)]
struct PacketArena {
    block: BytesMut,
    /// The buffer the current segments' payloads lie in, when shared.
    payloads: Bytes,
}

impl PacketArena {
    fn copy(&mut self, data: &[u8]) -> Bytes {
        let base = self.payloads.as_ptr() as usize;
        let start = (data.as_ptr() as usize).wrapping_sub(base);
        if !data.is_empty()
            && start < self.payloads.len()
            && data.len() <= self.payloads.len() - start
        {
            return self.payloads.slice(start..start + data.len());
        }
        if data.len() > ARENA_MAX_COPY {
            return Bytes::copy_from_slice(data);
        }
        // Never grow a block in place: its start is shared with events already sent.
        if self.block.capacity() - self.block.len() < data.len() {
            self.block = BytesMut::with_capacity(ARENA_BLOCK);
        }
        self.block.extend_from_slice(data);
        self.block.split().freeze()
    }
}

/// Looks for a packet boundary in a direction being resynchronised; `at_end` when no
/// more bytes will come (a candidate at the very end is then taken).
#[allow(clippy::too_many_arguments)]
fn resync(
    d: &mut MqttDir,
    proto: &mut Proto,
    side: Side,
    at_end: bool,
    ctx: Ctx,
    c: ConnRef,
    sh: &mut Shared,
    out: &mut Out,
) {
    let Mode::Resync(mut r) = d.mode else {
        return;
    };
    let versions: &[ProtocolVersion] = if proto.known {
        std::slice::from_ref(&proto.version)
    } else {
        &[ProtocolVersion::V3_1_1, ProtocolVersion::V5]
    };
    let max_len = sh.framer.max_packet_size.min(sh.config.resync_window);
    let frozen = d.buf.split().freeze();
    match scan_resync(&frozen, side, versions, max_len, at_end) {
        ResyncScan::Found { offset } => {
            r.skipped += offset as u64;
            let rest = frozen.slice(offset..);
            sh.stats.resyncs += 1;
            let what = rest
                .first()
                .and_then(|b| PacketType::from_nibble(b >> 4))
                .map_or("packet", |t| t.name());
            let who = side_name(side);
            if r.after_gap {
                sh.notice(
                    NoticeKind::StreamGap,
                    ctx,
                    format!(
                        "connection {} {who}: framing resumed at a {what} after a gap of {} bytes; \
                         {} bytes skipped ({} of a packet cut by the gap, {} before the {what})",
                        c.id,
                        r.lost,
                        r.partial + r.skipped,
                        r.partial,
                        r.skipped
                    ),
                );
            } else if r.skipped > 0 {
                sh.notice(
                    NoticeKind::StreamGap,
                    ctx,
                    format!(
                        "connection {} {who}: the capture starts inside the stream; {} bytes \
                         skipped before the first plausible packet (a {what})",
                        c.id, r.skipped
                    ),
                );
            }
            let base = d.rs_pos + offset as u64;
            d.mode = Mode::Framing;
            d.wait = 0;
            frame_buffered(d, proto, side, rest, base, ctx, c, sh, out);
            d.marks.clear();
        }
        ResyncScan::Wait { skip, need } => {
            r.skipped += skip as u64;
            d.rs_pos += skip as u64;
            let pos = d.rs_pos;
            d.marks.retain(|m| m.0 > pos);
            let rest = frozen.slice(skip.min(frozen.len())..);
            if at_end {
                r.skipped += rest.len() as u64;
                if r.after_gap || r.skipped > 0 {
                    sh.notice(
                        NoticeKind::StreamGap,
                        ctx,
                        format!(
                            "connection {} {}: the stream ended before framing could resume; \
                             {} bytes skipped{}",
                            c.id,
                            side_name(side),
                            r.partial + r.skipped,
                            if r.after_gap {
                                format!(" after a gap of {} bytes", r.lost)
                            } else {
                                String::new()
                            }
                        ),
                    );
                }
                d.marks.clear();
                d.mode = Mode::Stopped;
                return;
            }
            d.buf = rest
                .try_into_mut()
                .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
            d.wait = need.saturating_sub(skip);
            d.mode = Mode::Resync(r);
        }
    }
}

/// Frames the bytes found by a resynchronisation: each packet is timestamped by the
/// segment that brought its last byte.
#[allow(clippy::too_many_arguments)]
fn frame_buffered(
    d: &mut MqttDir,
    proto: &mut Proto,
    side: Side,
    data: Bytes,
    base: u64,
    ctx: Ctx,
    c: ConnRef,
    sh: &mut Shared,
    out: &mut Out,
) {
    let framer = sh.framer;
    let mut off = 0usize;
    while off < data.len() {
        let rest = data.get(off..).unwrap_or_default();
        match framer.complete_header(rest, proto.version) {
            Ok(Some(h)) => {
                let len = h.packet_len();
                let Some(packet) = rest.get(..len) else {
                    return;
                };
                let at = d.mark_at(base + (off + len) as u64).unwrap_or(ctx.at);
                emit_packet(
                    proto,
                    side,
                    Bytes::copy_from_slice(packet),
                    &h,
                    Ctx { at, ..ctx },
                    c,
                    sh,
                    out,
                );
                off += len;
            }
            Ok(None) => {
                d.buf.extend_from_slice(rest);
                return;
            }
            Err(e) => {
                let at = d.mark_at(base + off as u64 + 1).unwrap_or(ctx.at);
                return unframeable(d, proto, side, e, at, c, sh, out);
            }
        }
    }
}

/// Where framing can resume in a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResyncScan {
    /// A plausible packet starts at `offset`.
    Found {
        /// Bytes before it.
        offset: usize,
    },
    /// Nothing before `skip` can start a packet; scan again once the buffer holds
    /// `need` bytes.
    Wait {
        /// Bytes that can be dropped.
        skip: usize,
        /// Buffer length worth scanning again at.
        need: usize,
    },
}

/// Whether `side` may send packets of type `t`.
fn sent_by(side: Side, t: PacketType) -> bool {
    use PacketType::*;
    match t {
        Publish | PubAck | PubRec | PubRel | PubComp | Disconnect | Auth => true,
        Connect | Subscribe | Unsubscribe | PingReq => side == Side::Client,
        ConnAck | SubAck | UnsubAck | PingResp => side == Side::Server,
    }
}

/// Whether `b` can be the first byte of a packet `side` sends under one of `versions`.
fn plausible_first_byte(b: u8, side: Side, versions: &[ProtocolVersion]) -> bool {
    let Some(t) = PacketType::from_nibble(b >> 4) else {
        return false;
    };
    if t == PacketType::Auth && !versions.iter().any(|v| v.is_v5()) {
        return false;
    }
    if !sent_by(side, t) {
        return false;
    }
    let flags = b & 0x0F;
    match t.required_flags() {
        Some(required) => flags == required,
        None => {
            let qos = (flags >> 1) & 0b11;
            qos != 3 && !(qos == 0 && flags & 0b1000 != 0)
        }
    }
}

/// Candidate verdicts of [`scan_resync`].
enum Candidate {
    Reject,
    NeedMore(usize),
    Accept,
}

/// Whether a packet plausibly starts at the beginning of `b`.
fn candidate(
    b: &Bytes,
    side: Side,
    versions: &[ProtocolVersion],
    max_len: usize,
    at_end: bool,
) -> Candidate {
    let Some(&first) = b.first() else {
        return Candidate::NeedMore(1);
    };
    if !plausible_first_byte(first, side, versions) {
        return Candidate::Reject;
    }
    let h = match FixedHeader::parse(b) {
        Ok(Some(h)) => h,
        Ok(None) if at_end => return Candidate::Reject,
        Ok(None) => return Candidate::NeedMore(b.len() + 1),
        Err(_) => return Candidate::Reject,
    };
    let len = h.packet_len();
    if len > max_len {
        return Candidate::Reject;
    }
    if b.len() < len {
        return if at_end {
            Candidate::Reject
        } else {
            Candidate::NeedMore(len)
        };
    }
    let frame = b.slice(..len);
    if !versions.iter().any(|&v| decode_packet(&frame, v).is_ok()) {
        return Candidate::Reject;
    }
    let Some(rest) = b.get(len..) else {
        return Candidate::Reject;
    };
    let Some(&next) = rest.first() else {
        // Nothing after it yet: wait for one more byte to confirm, unless none comes.
        return if at_end {
            Candidate::Accept
        } else {
            Candidate::NeedMore(len + 1)
        };
    };
    if !plausible_first_byte(next, side, versions) {
        return Candidate::Reject;
    }
    match FixedHeader::parse(rest) {
        Err(_) => Candidate::Reject,
        Ok(Some(h2)) if h2.packet_len() > max_len => Candidate::Reject,
        _ => Candidate::Accept,
    }
}

/// Finds the first offset of `buf` where a packet `side` sends plausibly starts: a valid
/// type and flags, a sane Remaining Length, a packet that decodes under one of
/// `versions`, followed by another plausible fixed header (or, `at_end`, by nothing).
pub(crate) fn scan_resync(
    buf: &Bytes,
    side: Side,
    versions: &[ProtocolVersion],
    max_len: usize,
    at_end: bool,
) -> ResyncScan {
    for i in 0..buf.len() {
        match candidate(&buf.slice(i..), side, versions, max_len, at_end) {
            Candidate::Reject => {}
            Candidate::Accept => return ResyncScan::Found { offset: i },
            Candidate::NeedMore(n) => {
                return ResyncScan::Wait {
                    skip: i,
                    need: i + n,
                };
            }
        }
    }
    ResyncScan::Wait {
        skip: buf.len(),
        need: buf.len() + 1,
    }
}

/// A TLS connection: its two hellos being read, and with a key log its records
/// decrypted and their plaintext framed as MQTT.
#[derive(Debug)]
struct TlsConn {
    client: Dir,
    /// Without a key log: the hellos, read here.
    readers: [HelloReader; 2],
    info: TlsInfo,
    emitted: bool,
    /// With a key log.
    decrypting: Option<Box<Decrypting>>,
}

/// A TLS connection being decrypted.
#[derive(Debug)]
struct Decrypting {
    tls: TlsDecryptor,
    mqtt: MqttConn,
    /// Plaintext of the last records, reused.
    plain: Vec<u8>,
    /// Directions (by [`Dir::index`]) no longer decrypted, already reported.
    ended: [bool; 2],
    /// Payload is no longer wanted (both directions ended).
    ignored: bool,
}

impl TlsConn {
    fn new(client: Dir, keys: Option<Arc<KeyLog>>, protocol: Option<ProtocolVersion>) -> Self {
        let mut readers = [HelloReader::new(1), HelloReader::new(2)];
        if client == Dir::FromB {
            readers.swap(0, 1);
        }
        Self {
            client,
            readers,
            info: TlsInfo::default(),
            emitted: false,
            decrypting: keys.map(|keys| {
                Box::new(Decrypting {
                    tls: TlsDecryptor::new(keys),
                    // The plaintext starts at its stream's start: a CONNECT comes first.
                    mqtt: MqttConn::new(true, protocol),
                    plain: Vec::new(),
                    ended: [false; 2],
                    ignored: false,
                })
            }),
        }
    }

    fn side(&self, dir: Dir) -> Side {
        if dir == self.client {
            Side::Client
        } else {
            Side::Server
        }
    }

    fn data(
        &mut self,
        dir: Dir,
        bytes: &[u8],
        ctx: Ctx,
        c: ConnRef,
        sh: &mut Shared,
        out: &mut Out,
    ) {
        if self.decrypting.is_some() {
            return self.decrypt(dir, Some(bytes), ctx, c, sh, out);
        }
        let r = &mut self.readers[dir.index()];
        if let Some(msg) = r.feed(bytes) {
            if dir == self.client {
                if let Some(hello) = parse_client_hello(&msg) {
                    self.info.sni = hello.sni;
                    self.info.offered = hello.offered;
                }
            } else if let Some(hello) = parse_server_hello(&msg) {
                self.info.negotiated = Some(hello.version);
            }
        }
        self.maybe_emit(ctx, c, sh, out);
    }

    /// Feeds one direction's ciphertext (`None`: flushes what waited for a hello) and
    /// frames the plaintext that comes out.
    fn decrypt(
        &mut self,
        dir: Dir,
        bytes: Option<&[u8]>,
        ctx: Ctx,
        c: ConnRef,
        sh: &mut Shared,
        out: &mut Out,
    ) {
        let side = self.side(dir);
        let from_client = side == Side::Client;
        let Some(d) = self.decrypting.as_deref_mut() else {
            return;
        };
        d.plain.clear();
        match bytes {
            Some(b) => d.tls.feed(from_client, b, &mut d.plain),
            None => d.tls.flush(from_client, &mut d.plain),
        }
        // The handshake is reported before the first packet it protects.
        if !self.emitted && d.tls.server_hello().is_some() {
            self.info = d.tls.status().info();
            self.emit_info(ctx, c, sh, out);
        }
        let Some(d) = self.decrypting.as_deref_mut() else {
            return;
        };
        if !d.plain.is_empty() {
            if !self.emitted {
                self.info = d.tls.status().info();
                self.emit_info(ctx, c, sh, out);
            }
            let Some(d) = self.decrypting.as_deref_mut() else {
                return;
            };
            let Decrypting { mqtt, plain, .. } = d;
            mqtt.data(dir, side, plain, ctx, c, sh, out);
        }
        self.check_ended(dir, ctx, c, sh, out);
    }

    /// Reports a direction that is no longer decrypted (once); stops taking payload once
    /// neither is.
    fn check_ended(&mut self, dir: Dir, ctx: Ctx, c: ConnRef, sh: &mut Shared, out: &mut Out) {
        let side = self.side(dir);
        let Some(d) = self.decrypting.as_deref_mut() else {
            return;
        };
        let i = dir.index();
        if d.ended[i] || d.tls.is_active(side == Side::Client) {
            return;
        }
        d.ended[i] = true;
        let status = d.tls.status();
        let dir_status = if side == Side::Client {
            &status.client
        } else {
            &status.server
        };
        if let DirState::Stopped(reason) = &dir_status.state {
            sh.notice(
                NoticeKind::NotAnalysed,
                ctx,
                format!(
                    "connection {} {}: TLS decryption stopped after {} records: {reason}; the rest of the direction is not analysed",
                    c.id,
                    side_name(side),
                    dir_status.records
                ),
            );
            // What was not decrypted was sent at unknown times: silence is not measured.
            if dir_status.records > 0 {
                out(sh.event(c.id, ctx.at, side, EventKind::Gap { bytes: 0 }));
            }
        }
        if d.ended.iter().all(|e| *e) && !d.ignored {
            d.ignored = true;
            sh.ignore.push((c.slot, c.id));
        }
    }

    fn gap(&mut self, dir: Dir, ctx: Ctx, c: ConnRef, sh: &mut Shared, out: &mut Out) {
        if let Some(d) = self.decrypting.as_deref_mut() {
            let from_client = dir == self.client;
            d.tls.gap(from_client);
            return self.check_ended(dir, ctx, c, sh, out);
        }
        self.readers[dir.index()].fail();
        self.maybe_emit(ctx, c, sh, out);
    }

    /// Directions ended: what waited for a hello is decrypted, the MQTT streams end, and
    /// the handshake is reported if it was not yet.
    fn stream_end(&mut self, dirs: &[Dir], ctx: Ctx, c: ConnRef, sh: &mut Shared, out: &mut Out) {
        if self.decrypting.is_none() {
            return self.emit(ctx, c, sh, out);
        }
        for &dir in dirs {
            self.decrypt(dir, None, ctx, c, sh, out);
        }
        if !self.emitted {
            if let Some(d) = &self.decrypting {
                self.info = d.tls.status().info();
            }
            self.emit_info(ctx, c, sh, out);
        }
        let client = Some(self.client);
        if let Some(d) = self.decrypting.as_deref_mut() {
            d.mqtt.stream_end(dirs, client, ctx, c, sh, out);
            let decryption = TlsDecryption::of(&d.tls.status());
            if let Some(info) = sh.info(c.info) {
                info.decryption = Some(decryption);
            }
        }
    }

    /// Emits once both hellos have been read (or given up on).
    fn maybe_emit(&mut self, ctx: Ctx, c: ConnRef, sh: &mut Shared, out: &mut Out) {
        if self.readers.iter().all(HelloReader::finished) {
            self.emit(ctx, c, sh, out);
        }
    }

    /// Emits what is known (once); without decryption the rest is opaque.
    fn emit(&mut self, ctx: Ctx, c: ConnRef, sh: &mut Shared, out: &mut Out) {
        if self.emitted {
            return;
        }
        // The rest of the connection is opaque.
        sh.ignore.push((c.slot, c.id));
        self.emit_info(ctx, c, sh, out);
    }

    /// The handshake as an event and in the report (once).
    fn emit_info(&mut self, ctx: Ctx, c: ConnRef, sh: &mut Shared, out: &mut Out) {
        if self.emitted {
            return;
        }
        self.emitted = true;
        if let Some(info) = sh.info(c.info) {
            info.tls = Some(self.info.clone());
        }
        let ev = sh.event(
            c.id,
            ctx.at,
            Side::Client,
            EventKind::Tls(self.info.clone()),
        );
        out(ev);
    }
}

/// Reads the first handshake message of one direction out of its TLS records.
#[derive(Debug)]
struct HelloReader {
    /// The handshake type wanted (1 ClientHello, 2 ServerHello).
    want: u8,
    header: [u8; 5],
    header_len: usize,
    /// Bytes of the current record's body still to come.
    body_left: usize,
    msg: Vec<u8>,
    state: HelloState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HelloState {
    Reading,
    Done,
    Failed,
}

impl HelloReader {
    fn new(want: u8) -> Self {
        Self {
            want,
            header: [0; 5],
            header_len: 0,
            body_left: 0,
            msg: Vec::new(),
            state: HelloState::Reading,
        }
    }

    fn finished(&self) -> bool {
        self.state != HelloState::Reading
    }

    fn fail(&mut self) {
        if self.state == HelloState::Reading {
            self.state = HelloState::Failed;
            self.msg = Vec::new();
        }
    }

    /// Takes stream bytes; returns the hello's body once complete.
    fn feed(&mut self, mut data: &[u8]) -> Option<Vec<u8>> {
        while self.state == HelloState::Reading && !data.is_empty() {
            if self.body_left == 0 {
                let n = (5 - self.header_len).min(data.len());
                let (take, rest) = data.split_at(n);
                self.header[self.header_len..self.header_len + n].copy_from_slice(take);
                self.header_len += n;
                data = rest;
                if self.header_len < 5 {
                    return None;
                }
                self.header_len = 0;
                let len = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
                // A handshake record of a sane length (2^14 plus expansion).
                if self.header[0] != 22 || self.header[1] != 3 || len == 0 || len > 18_432 {
                    self.fail();
                    return None;
                }
                self.body_left = len;
            } else {
                let n = self.body_left.min(data.len());
                if self.msg.len() + n > MAX_HELLO + 4 {
                    self.fail();
                    return None;
                }
                let (take, rest) = data.split_at(n);
                self.msg.extend_from_slice(take);
                self.body_left -= n;
                data = rest;
                if let [ty, l0, l1, l2, ..] = self.msg[..] {
                    let len = usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2);
                    if ty != self.want || len > MAX_HELLO {
                        self.fail();
                        return None;
                    }
                    if self.msg.len() >= 4 + len {
                        self.state = HelloState::Done;
                        let mut msg = std::mem::take(&mut self.msg);
                        msg.truncate(4 + len);
                        msg.drain(..4);
                        return Some(msg);
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{PubResponse, Publish, QoS, encode_to_vec};

    fn publish(topic: &str, payload: &[u8]) -> Vec<u8> {
        encode_to_vec(
            &Packet::Publish(Publish::new(topic, payload.to_vec())),
            ProtocolVersion::V3_1_1,
        )
        .unwrap()
    }

    const V311: &[ProtocolVersion] = &[ProtocolVersion::V3_1_1];

    #[test]
    fn resync_skips_garbage_to_a_packet_followed_by_a_header() {
        let mut buf = vec![0xFF, 0x00, 0x37, 0x99];
        buf.extend(publish("a/b", b"hello"));
        buf.extend(publish("a/c", b"x"));
        let buf = Bytes::from(buf);
        assert_eq!(
            scan_resync(&buf, Side::Client, V311, 1 << 16, false),
            ResyncScan::Found { offset: 4 }
        );
    }

    #[test]
    fn resync_waits_for_the_byte_after_a_lone_candidate() {
        let mut buf = vec![0x00];
        buf.extend(publish("t", b"p"));
        let len = buf.len();
        let b = Bytes::from(buf);
        assert_eq!(
            scan_resync(&b, Side::Client, V311, 1 << 16, false),
            ResyncScan::Wait {
                skip: 1,
                need: len + 1
            }
        );
        // At the end of the stream, the candidate stands alone.
        assert_eq!(
            scan_resync(&b, Side::Client, V311, 1 << 16, true),
            ResyncScan::Found { offset: 1 }
        );
    }

    #[test]
    fn resync_rejects_types_the_side_does_not_send_and_bad_flags() {
        // CONNACK (from a client), PUBACK with flags, PUBLISH QoS 3, then a PUBACK.
        let mut buf = vec![0x20, 0x02, 0x00, 0x00, 0x41, 0x02, 0x00, 0x01, 0x36, 0x00];
        let ack = encode_to_vec(
            &Packet::PubAck(PubResponse::new(7)),
            ProtocolVersion::V3_1_1,
        )
        .unwrap();
        buf.extend(&ack);
        buf.extend(&ack);
        let b = Bytes::from(buf);
        assert_eq!(
            scan_resync(&b, Side::Client, V311, 1 << 16, false),
            ResyncScan::Found { offset: 10 }
        );
        // From the server, a CONNACK is plausible, when what follows is too.
        let b = Bytes::from([&[0x20, 0x02, 0x00, 0x00][..], &ack].concat());
        assert_eq!(
            scan_resync(&b, Side::Server, V311, 1 << 16, false),
            ResyncScan::Found { offset: 0 }
        );
    }

    #[test]
    fn resync_does_not_wait_for_candidates_beyond_the_window() {
        // A PUBLISH header claiming 100000 bytes, then a real PINGREQ pair.
        let mut buf = vec![0x30, 0xA0, 0x8D, 0x06];
        buf.extend([0xC0, 0x00, 0xC0, 0x00]);
        let b = Bytes::from(buf);
        assert_eq!(
            scan_resync(&b, Side::Client, V311, 1024, false),
            ResyncScan::Found { offset: 4 }
        );
        // Within the window it is worth waiting for.
        assert_eq!(
            scan_resync(&b, Side::Client, V311, 1 << 20, false),
            ResyncScan::Wait {
                skip: 0,
                need: 100_004
            }
        );
    }

    #[test]
    fn resync_requires_a_packet_that_decodes() {
        // A SUBSCRIBE with no subscriptions does not decode; a PINGREQ pair does.
        let b = Bytes::from(vec![0x82, 0x02, 0x00, 0x01, 0xC0, 0x00, 0xC0, 0x00]);
        assert_eq!(
            scan_resync(&b, Side::Client, V311, 1 << 16, false),
            ResyncScan::Found { offset: 4 }
        );
        let qos1 = {
            let mut p = Publish::new("t", b"x".to_vec());
            p.qos = QoS::AtLeastOnce;
            p.packet_id = Some(1);
            encode_to_vec(&Packet::Publish(p), ProtocolVersion::V3_1_1).unwrap()
        };
        let b = Bytes::from([&qos1[..], &qos1[..]].concat());
        assert_eq!(
            scan_resync(&b, Side::Server, V311, 1 << 16, false),
            ResyncScan::Found { offset: 0 }
        );
    }

    #[test]
    fn first_bytes_are_told_apart() {
        let connect = encode_to_vec(
            &Packet::Connect(Box::new(crate::codec::Connect::new(
                ProtocolVersion::V5,
                "dev",
            ))),
            ProtocolVersion::V5,
        )
        .unwrap();
        assert_eq!(look(&connect, false), Look::Connect);
        assert_eq!(look(&connect[..5], false), Look::NeedMore);
        assert_eq!(look(&connect[..5], true), Look::Plain);
        assert_eq!(look(b"\x16\x03\x01\x02\x00", false), Look::Tls);
        assert_eq!(look(b"\x16", false), Look::NeedMore);
        assert_eq!(look(b"GET / HTTP/1.1", false), Look::Plain);
        assert_eq!(look(b"\x10\x0c\x00\x04HTTP", false), Look::Plain);
        assert_eq!(look(b"", false), Look::Empty);
    }

    #[test]
    fn hellos_and_resync_survive_arbitrary_bytes() {
        // A small deterministic generator: every length and many byte patterns.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for len in 0..2000usize {
            let bytes: Vec<u8> = (0..len % 300)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 24) as u8
                })
                .collect();
            let _ = parse_client_hello(&bytes);
            let _ = parse_server_hello(&bytes);
            let mut r = HelloReader::new(1);
            let mut framed = vec![0x16, 0x03, 0x01, 0x00, bytes.len().min(255) as u8, 0x01];
            framed.extend(&bytes);
            for chunk in framed.chunks(7) {
                let _ = r.feed(chunk);
            }
            let b = Bytes::from(bytes);
            for side in [Side::Client, Side::Server] {
                for at_end in [false, true] {
                    let _ = scan_resync(
                        &b,
                        side,
                        &[ProtocolVersion::V3_1_1, ProtocolVersion::V5],
                        512,
                        at_end,
                    );
                }
            }
        }
    }

    #[test]
    fn arena_copies_keep_every_byte_and_stay_apart() {
        let mut arena = PacketArena::default();
        let mut copies = Vec::new();
        // Enough to fill several blocks, with sizes around the block and copy limits.
        for (n, len) in [0, 1, 5000, ARENA_MAX_COPY, ARENA_MAX_COPY + 1, 100_000]
            .into_iter()
            .cycle()
            .take(120)
            .enumerate()
        {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + n) as u8).collect();
            copies.push((arena.copy(&data), data));
        }
        for (b, data) in &copies {
            assert_eq!(&b[..], &data[..]);
            let half = data.len() / 2;
            assert_eq!(&b.slice(half..)[..], &data[half..]);
        }
    }

    /// Bytes inside the shared payload buffer become slices of it (same memory); bytes
    /// elsewhere are copied, and so is everything once sharing stops.
    #[test]
    fn bytes_in_the_shared_payloads_are_sliced_and_others_copied() {
        let mut arena = PacketArena::default();
        let buffer = Bytes::from((0..=255u8).collect::<Vec<u8>>());
        arena.payloads = buffer.clone();
        let within = arena.copy(&buffer[10..60]);
        assert_eq!(within.as_ptr(), buffer[10..].as_ptr(), "sliced, not copied");
        assert_eq!(&within[..], &buffer[10..60]);
        let whole = arena.copy(&buffer[..]);
        assert_eq!(whole.as_ptr(), buffer.as_ptr());
        assert_eq!(whole.len(), 256);
        let elsewhere: Vec<u8> = (0..50u8).collect();
        let copied = arena.copy(&elsewhere);
        assert_ne!(copied.as_ptr(), elsewhere.as_ptr());
        assert_eq!(&copied[..], &elsewhere[..]);
        arena.payloads = Bytes::new();
        let after = arena.copy(&buffer[10..60]);
        assert_ne!(after.as_ptr(), buffer[10..].as_ptr(), "sharing stopped");
    }
}
