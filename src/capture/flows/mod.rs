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
//! suites, see [`super::tls`]) and the plaintext is framed like a connection in
//! the clear, the same events following the `Tls` one. A direction that stops being
//! decrypted part way (a record that does not authenticate, a gap) is a
//! [`EventKind::Gap`] for the judge and a notice. Other connections produce no events and
//! are only counted.
//!
//! A connection whose client opens with an HTTP request upgrading to WebSocket (on any
//! port) is MQTT over WebSocket when the client offers the `mqtt` (or `mqttv3.1`)
//! subprotocol, when a port is an MQTT port, or when its first binary message starts like
//! a CONNECT ([`Detection::Subprotocol`], [`Detection::Port`], [`Detection::Connect`]);
//! other HTTP and WebSocket connections are not analysed. Its events are `Opened`, one
//! WebSocket `Handshake` (when the server's answer is read, or at the end), then the MQTT
//! packets its binary messages carry, framed as a stream in the clear is; text messages
//! and Close frames are WebSocket events of their own, frame errors notices
//! ([`NoticeKind::WebSocket`]). WebSocket framing is not resynchronised: a gap is a
//! [`EventKind::Gap`] and the end of that direction's analysis. The same unwrapping runs
//! on the plaintext of a decrypted TLS connection whose client's first bytes are an HTTP
//! GET (`wss://`).
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
use super::tls::{
    DirState, HelloReader, KeyLog, TlsDecryptor, TlsStatus, cipher_suite_name, parse_client_hello,
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

mod conn;
mod mqtt;
mod tls_conn;
mod ws;
mod ws_conn;
mod ws_inflate;
#[cfg(test)]
mod ws_tests;

use conn::*;
use mqtt::*;
use tls_conn::*;
use ws_conn::*;

/// The ports taken as MQTT by default: 1883 (plain) and 8883 (TLS).
pub const DEFAULT_MQTT_PORTS: [u16; 2] = [1883, 8883];

/// Bytes a connection not on an MQTT port may hold from the side that is not the client
/// while waiting for the client's first bytes.
const HOLD_CAP: usize = 64;

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
    /// Its client's first bytes are a CONNECT (for MQTT over WebSocket: the payload of
    /// its first binary message).
    Connect,
    /// A WebSocket upgrade whose client offered MQTT's subprotocol (`mqtt`, `mqttv3.1`).
    Subprotocol,
}

/// What the opening handshake of an MQTT-over-WebSocket connection showed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebSocketInfo {
    /// The request's path.
    pub path: String,
    /// The subprotocols the client offered, in its order.
    pub offered: Vec<String>,
    /// The subprotocol the server selected (when it answered 101 with one).
    pub selected: Option<String>,
    /// The server's HTTP status, when its answer was seen.
    pub status: Option<u16>,
}

impl std::fmt::Display for WebSocketInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "path {}, offered [{}]",
            self.path,
            self.offered.join(", ")
        )?;
        match (self.status, &self.selected) {
            (Some(101), Some(s)) => write!(f, ", selected {s}"),
            (Some(101), None) => write!(f, ", no subprotocol selected"),
            (Some(code), _) => write!(f, ", server answered HTTP {code}"),
            (None, _) => write!(f, ", no server answer seen"),
        }
    }
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
    /// The WebSocket handshake, for MQTT over WebSocket (once read).
    pub websocket: Option<WebSocketInfo>,
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
        let dir = |name: &str, d: &super::tls::DirStatus| {
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
        let whole = |d: &super::tls::DirStatus| {
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
    /// Of them, MQTT in the clear (over WebSocket included).
    pub mqtt_flows: u64,
    /// Of those, MQTT over WebSocket.
    pub websocket_flows: u64,
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
        assert_eq!(look(b"GET / HTTP/1.1", false), Look::Http);
        assert_eq!(look(b"GE", false), Look::NeedMore);
        assert_eq!(look(b"GE", true), Look::Plain);
        assert_eq!(look(b"GEX", false), Look::Plain);
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
