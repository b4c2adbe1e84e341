//! TCP reassembly: each direction of each TCP connection put back into one ordered byte
//! stream, with every byte that cannot be recovered reported as a gap.
//!
//! [`Reassembler::segment`] takes [`Segment`]s in capture order and pushes
//! [`StreamItem`]s: a connection is [`StreamItem::Opened`] by its SYN (or, for a
//! connection already running when the capture started, by its first segment carrying
//! data), then each direction gets its bytes in order ([`StreamItem::Data`]), each byte
//! once, its losses ([`StreamItem::Gap`]) and its end ([`StreamItem::Fin`]); a reset
//! ([`StreamItem::Rst`]) or both FINs end the connection ([`StreamItem::Closed`]).
//!
//! # What is handled
//!
//! - Sequence numbers are compared with serial-number arithmetic ([`seq_diff`]) and
//!   turned into 64-bit stream offsets, so a stream wraps past 2^32 without a seam.
//! - Out-of-order segments wait in a per-direction buffer until the hole before them
//!   fills. Retransmitted and overlapping bytes are delivered once; when a later copy
//!   differs from the first (checked against the buffer, and against a hash of each of
//!   the last deliveries it covers whole), the first copy is kept and an
//!   [`InconsistentOverlap`](NoticeKind::InconsistentOverlap) notice says where.
//! - Keep-alive probes (zero or one byte at one before the next expected byte) are not
//!   data. A one-byte zero-window probe (sent while the receiver advertises a zero
//!   window) is held back: it becomes data only once the receiver is seen to accept it
//!   (an ACK covering it, or the sender continuing after it).
//! - A record cut by the snap length ([`Segment::missing`]) loses its tail: a gap.
//! - A new SYN on the addresses of a connection that ended (or with another initial
//!   sequence number) starts a new connection.
//!
//! # When a hole becomes a gap
//!
//! Missing bytes are declared lost — a [`StreamItem::Gap`] with their count, plus a
//! [`StreamGap`](NoticeKind::StreamGap) notice naming the cause — only when they cannot
//! come any more, never by guessing:
//!
//! - the peer acknowledged data beyond the hole (it received what the capture missed);
//! - the out-of-order buffer of the direction (or of all connections together) is full;
//! - the connection is reset, its flow is evicted, or the capture ends;
//! - the segment was cut by the snap length.
//!
//! A FIN with a hole before it does not by itself declare the hole lost: retransmissions
//! routinely follow a FIN; the peer's ACK of the FIN (or the end of the capture) does.
//! Delivery then resumes after the hole.
//!
//! # Bounds
//!
//! Memory does not depend on what a capture claims: out-of-order bytes are capped per
//! direction ([`ReassemblyConfig::max_buffer`]) and in total
//! ([`ReassemblyConfig::max_buffer_total`]); at most [`ReassemblyConfig::max_flows`]
//! connections are tracked (the least recently active are evicted, with a
//! [`StreamAbandoned`](NoticeKind::StreamAbandoned) notice); the retransmission history
//! is at most [`MAX_HISTORY`] deliveries per direction (offset, length, hash — not the
//! bytes: copying every delivered byte into a per-direction ring cost a quarter of the
//! analysis once thousands of connections no longer fit in cache); a segment further than
//! [`ReassemblyConfig::max_seq_jump`] from where its stream is is not buffered.
//!
//! In-order data (the common case) is handed out as the segment's own payload slice: no
//! copy and no allocation.

use super::flow_index::FlowIndex;
use super::{Notice, NoticeKind, Segment};
use crate::fasthash::{FastState, hash_bytes};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// The signed distance from `from` to `to` in 32-bit sequence space (RFC 1982 serial
/// number arithmetic): positive when `to` comes after `from`. Meaningful while the two
/// are less than 2^31 apart, which any plausible pair within one TCP window is.
#[inline]
pub fn seq_diff(to: u32, from: u32) -> i32 {
    to.wrapping_sub(from) as i32
}

/// Whether sequence number `a` comes before `b` (serial-number order).
#[inline]
pub fn seq_before(a: u32, b: u32) -> bool {
    seq_diff(a, b) < 0
}

/// Limits of a [`Reassembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblyConfig {
    /// Out-of-order bytes held per direction; beyond it the first hole is declared lost.
    pub max_buffer: usize,
    /// Out-of-order bytes held across all connections; beyond it the direction being
    /// buffered into gives up its holes.
    pub max_buffer_total: usize,
    /// Connections tracked at once; beyond it the least recently active are evicted.
    pub max_flows: usize,
    /// Deliveries remembered per direction (their offset, length and a hash of their
    /// bytes), to check retransmissions against; at most [`MAX_HISTORY`].
    pub history: usize,
    /// Largest distance between a segment's sequence number (or an acknowledgement) and
    /// its stream's position still taken as part of the stream.
    pub max_seq_jump: u32,
}

impl Default for ReassemblyConfig {
    fn default() -> Self {
        Self {
            max_buffer: 1 << 20,
            max_buffer_total: 256 << 20,
            max_flows: 65_536,
            history: MAX_HISTORY,
            max_seq_jump: 64 << 20,
        }
    }
}

/// The direction of a stream item, relative to a connection's two endpoints: `a` is the
/// side that sent the SYN (or, without one in the capture, the sender of the first
/// segment), `b` the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// From `a` to `b`.
    FromA,
    /// From `b` to `a`.
    FromB,
}

impl Dir {
    /// 0 for [`Dir::FromA`], 1 for [`Dir::FromB`].
    pub fn index(self) -> usize {
        match self {
            Self::FromA => 0,
            Self::FromB => 1,
        }
    }

    /// The other direction.
    pub fn reverse(self) -> Self {
        match self {
            Self::FromA => Self::FromB,
            Self::FromB => Self::FromA,
        }
    }

    fn from_index(i: usize) -> Self {
        if i == 0 { Self::FromA } else { Self::FromB }
    }
}

impl fmt::Display for Dir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::FromA => "a→b",
            Self::FromB => "b→a",
        })
    }
}

/// Why a connection's tracking ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// Both directions delivered up to their FIN.
    Finished,
    /// A RST was seen.
    Reset,
    /// A new connection (a SYN with another initial sequence number) took its addresses.
    Replaced,
    /// The flow table was full and this connection was the least recently active.
    Evicted,
    /// The capture ended with the connection still open.
    CaptureEnd,
}

/// What the reassembler hands out, in order per connection and direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamItem<'a> {
    /// A connection was seen for the first time.
    Opened {
        /// The connection's id (increasing in order of first appearance, from 1).
        conn: u64,
        /// The side that sent the SYN, or the first segment's sender.
        a: SocketAddr,
        /// The other side.
        b: SocketAddr,
        /// Whether the handshake (a SYN or SYN-ACK) was seen; false when the capture
        /// starts in the middle of the connection.
        handshake: bool,
        /// Capture timestamp (Unix time) of the segment that opened it.
        at: Duration,
        /// Its frame number.
        frame: u64,
    },
    /// The next bytes of one direction.
    Data {
        /// The connection.
        conn: u64,
        /// The direction.
        dir: Dir,
        /// The bytes (borrowed from the segment, or from the out-of-order buffer).
        bytes: &'a [u8],
        /// When they became available in order: the timestamp of the segment that
        /// completed them (for buffered data, the later of its own and the filler's).
        at: Duration,
        /// That segment's frame number.
        frame: u64,
    },
    /// Bytes of one direction were lost; delivery continues after them.
    Gap {
        /// The connection.
        conn: u64,
        /// The direction.
        dir: Dir,
        /// How many bytes.
        bytes: u64,
        /// When the loss was established.
        at: Duration,
        /// The frame that established it.
        frame: u64,
    },
    /// One direction ended (FIN), after all its data.
    Fin {
        /// The connection.
        conn: u64,
        /// The direction that ended.
        dir: Dir,
        /// When.
        at: Duration,
        /// The frame (the FIN's, or the one that let it be delivered).
        frame: u64,
    },
    /// The connection was reset by the sender of `dir`.
    Rst {
        /// The connection.
        conn: u64,
        /// The direction the RST travelled.
        dir: Dir,
        /// When.
        at: Duration,
        /// The RST's frame.
        frame: u64,
    },
    /// The connection's tracking ended; nothing more comes for `conn`.
    Closed {
        /// The connection.
        conn: u64,
        /// Why.
        reason: CloseReason,
        /// When (the last segment's timestamp for evictions and capture end).
        at: Duration,
        /// The frame.
        frame: u64,
    },
    /// Something reported, never silently skipped.
    Notice(Notice),
}

/// Counters of what the reassembler saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    /// Segments given.
    pub segments: u64,
    /// Connections opened.
    pub connections: u64,
    /// Bytes delivered in order.
    pub bytes_delivered: u64,
    /// Payload bytes received more than once (retransmissions, overlaps).
    pub duplicate_bytes: u64,
    /// Segments that had to wait for a hole before them.
    pub out_of_order: u64,
    /// Keep-alive probes.
    pub keepalives: u64,
    /// Zero-window probes.
    pub window_probes: u64,
    /// Gaps declared.
    pub gaps: u64,
    /// Bytes lost in gaps.
    pub gap_bytes: u64,
    /// Overlaps whose bytes differed from the first copy.
    pub inconsistent_overlaps: u64,
    /// Connections evicted from a full flow table.
    pub evicted: u64,
    /// Segments that belonged to no tracked connection (pure ACKs and resets of
    /// connections not seen, late segments of ended ones).
    pub unattached: u64,
    /// Segments too far from their stream's position to be taken.
    pub implausible: u64,
}

/// One endpoint packed for hashing and comparing: the address as 128 bits (IPv4 in the
/// low 32) and the port with the family above it, so that an IPv4 address and its
/// IPv4-mapped IPv6 form stay different endpoints; an IPv6 flow label and scope id are
/// kept too (they are part of a `SocketAddr`'s identity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Endpoint {
    ip: u128,
    port_family: u32,
    v6_extra: u64,
}

impl Endpoint {
    #[inline]
    fn of(a: SocketAddr) -> Self {
        match a {
            SocketAddr::V4(v4) => Self {
                ip: u128::from(u32::from(*v4.ip())),
                port_family: u32::from(v4.port()),
                v6_extra: 0,
            },
            SocketAddr::V6(v6) => Self {
                ip: u128::from(*v6.ip()),
                port_family: u32::from(v6.port()) | 1 << 16,
                v6_extra: u64::from(v6.flowinfo()) << 32 | u64::from(v6.scope_id()),
            },
        }
    }
}

/// The 4-tuple, with the smaller endpoint first so both directions share one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FlowKey(Endpoint, Endpoint);

impl FlowKey {
    #[inline]
    fn new(x: SocketAddr, y: SocketAddr) -> Self {
        let (x, y) = (Endpoint::of(x), Endpoint::of(y));
        if x <= y { Self(x, y) } else { Self(y, x) }
    }
}

/// The hash the reassembler indexes the flow between `src` and `dst` by (either
/// direction gives the same). Computed where the segment is read, so the analysing
/// thread can prefetch the flow's state before it gets to the segment.
pub(crate) fn flow_hash(src: SocketAddr, dst: SocketAddr) -> u64 {
    FlowKey::new(src, dst).hash64()
}

impl FlowKey {
    #[inline]
    fn hash64(&self) -> u64 {
        use std::hash::BuildHasher;
        FastState::process().hash_one(self)
    }
}

impl std::hash::Hash for FlowKey {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        // Five words instead of the fields one by one (IPv4 keys have zero high words).
        h.write_u64(self.0.ip as u64);
        h.write_u64(self.1.ip as u64);
        h.write_u64(((self.0.ip >> 64) as u64) ^ ((self.1.ip >> 64) as u64).rotate_left(32));
        h.write_u64(u64::from(self.0.port_family) | u64::from(self.1.port_family) << 32);
        if self.0.v6_extra | self.1.v6_extra != 0 {
            h.write_u64(self.0.v6_extra ^ self.1.v6_extra.rotate_left(16));
        }
    }
}

/// Out-of-order bytes waiting for the hole before them.
#[derive(Debug)]
struct Chunk {
    data: Vec<u8>,
    at: Duration,
    frame: u64,
}

/// A zero-window probe's byte, held until the receiver is seen to accept it.
#[derive(Debug, Clone, Copy)]
struct Probe {
    byte: u8,
    at: Duration,
    frame: u64,
}

/// Deliveries remembered per direction at most (see [`ReassemblyConfig::history`]).
pub const MAX_HISTORY: usize = 8;

/// A delivery remembered to check retransmissions against.
#[derive(Debug, Default, Clone, Copy)]
struct Delivered {
    start: u64,
    /// 0: an empty slot.
    len: u32,
    hash: u64,
}

/// One direction of a connection.
#[derive(Debug, Default)]
struct Half {
    /// Whether `base` is known (a SYN or a first segment was seen).
    started: bool,
    /// The sequence number of stream offset 0.
    base: u32,
    /// Stream offset of the next byte to deliver.
    next: u64,
    /// The initial sequence number, when the SYN was seen.
    isn: Option<u32>,
    /// Out-of-order chunks by stream offset; they never overlap each other.
    buf: BTreeMap<u64, Chunk>,
    /// Bytes in `buf`.
    buffered: usize,
    /// Stream offset of the FIN, once seen.
    fin: Option<u64>,
    /// Whether the FIN was delivered.
    fin_done: bool,
    /// Ring of the last deliveries; `hist[hist_next]` is overwritten next.
    hist: [Delivered; MAX_HISTORY],
    hist_next: usize,
    /// A zero-window probe waiting.
    probe: Option<Probe>,
    /// The receiver of this direction last advertised a zero window.
    rcv_window_zero: bool,
    /// The receiver's last acknowledgement number.
    peer_ack: Option<u32>,
    /// Consecutive segments too far from the stream's position.
    implausible: u32,
}

impl Half {
    #[inline]
    fn next_seq(&self) -> u32 {
        self.base.wrapping_add(self.next as u32)
    }

    /// The stream offset of `seq` (negative: before the stream's start).
    #[inline]
    fn offset_of(&self, seq: u32) -> i64 {
        self.next as i64 + i64::from(seq_diff(seq, self.next_seq()))
    }

    fn start_at(&mut self, seq: u32) {
        self.started = true;
        self.base = seq;
        self.next = 0;
        self.hist = Default::default();
    }

    /// Remembers a delivery (offset, length, hash) in the history ring of `cap` entries.
    fn remember(&mut self, data: &[u8], cap: usize) {
        let cap = cap.min(MAX_HISTORY);
        if cap == 0 {
            return;
        }
        let i = self.hist_next % cap;
        self.hist[i] = Delivered {
            start: self.next,
            len: u32::try_from(data.len()).unwrap_or(u32::MAX),
            hash: hash_bytes(data),
        };
        self.hist_next = (i + 1) % cap;
    }

    /// Whether `data`, at stream offset `at` (before `next`), matches what was delivered:
    /// checked for each remembered delivery it covers whole. Returns the offsets of the
    /// first delivery that differs.
    fn history_mismatch(&self, at: u64, data: &[u8]) -> Option<(u64, u64)> {
        let end = at + data.len() as u64;
        self.hist
            .iter()
            .filter(|d| d.len > 0 && d.start >= at && d.start + u64::from(d.len) <= end)
            .filter(|d| {
                let from = (d.start - at) as usize;
                let copy = data.get(from..from + d.len as usize).unwrap_or_default();
                hash_bytes(copy) != d.hash
            })
            .map(|d| (d.start, d.start + u64::from(d.len)))
            .min()
    }

    /// The first difference between `data` at offset `at` and buffered chunks it overlaps.
    fn buffer_mismatch(&self, at: u64, data: &[u8]) -> Option<(u64, u64)> {
        let end = at + data.len() as u64;
        let before = self.buf.range(..at).next_back();
        let within = self.buf.range(at..end);
        for (&k, c) in before.into_iter().chain(within) {
            let from = k.max(at);
            let to = (k + c.data.len() as u64).min(end);
            if let Some(p) =
                (from..to).find(|&p| c.data.get((p - k) as usize) != data.get((p - at) as usize))
            {
                return Some((p, c.frame));
            }
        }
        None
    }

    fn clear_buffers(&mut self, total: &mut usize) {
        *total = total.saturating_sub(self.buffered);
        self.buf.clear();
        self.buffered = 0;
        self.probe = None;
    }
}

/// One tracked connection.
#[derive(Debug)]
struct Flow {
    key: FlowKey,
    conn: u64,
    a: SocketAddr,
    b: SocketAddr,
    halves: [Half; 2],
    /// Tracking ended (finished or reset): later segments are late or a new connection.
    closed: bool,
    /// Whether payload is wanted (false: only SYN/FIN/RST are followed).
    payload: bool,
    last_tick: u64,
    last_at: Duration,
    last_frame: u64,
}

/// Where the current segment came from, for items it causes.
#[derive(Debug, Clone, Copy)]
struct Ctx {
    at: Duration,
    frame: u64,
}

/// What a SYN means for an open flow.
enum SynOutcome {
    Continue,
    Replace,
}

/// The state every flow shares: limits, counters, the global buffer total.
#[derive(Debug)]
struct Core {
    config: ReassemblyConfig,
    stats: ReassemblyStats,
    file: usize,
    total_buffered: usize,
}

type Out<'o> = dyn FnMut(StreamItem<'_>) + 'o;

/// Where items go with their flow's slot (see [`Reassembler::segment_slotted`]).
pub(crate) type SlotOut<'o> = dyn FnMut(usize, StreamItem<'_>) + 'o;

impl Core {
    fn notice(&self, kind: NoticeKind, ctx: Ctx, detail: String) -> StreamItem<'static> {
        StreamItem::Notice(Notice {
            kind,
            file: self.file,
            frame: Some(ctx.frame),
            at: Some(ctx.at),
            detail,
        })
    }

    /// Hands out in-order bytes.
    fn deliver(&mut self, h: &mut Half, conn: u64, dir: Dir, data: &[u8], ctx: Ctx, out: &mut Out) {
        if data.is_empty() {
            return;
        }
        h.remember(data, self.config.history);
        h.next += data.len() as u64;
        h.probe = None;
        self.stats.bytes_delivered += data.len() as u64;
        out(StreamItem::Data {
            conn,
            dir,
            bytes: data,
            at: ctx.at,
            frame: ctx.frame,
        });
    }

    /// Declares `len` bytes at the stream's position lost.
    #[allow(clippy::too_many_arguments)]
    fn gap(
        &mut self,
        h: &mut Half,
        conn: u64,
        dir: Dir,
        len: u64,
        cause: &str,
        ctx: Ctx,
        out: &mut Out,
    ) {
        if len == 0 {
            return;
        }
        let offset = h.next;
        h.next += len;
        h.probe = None;
        self.stats.gaps += 1;
        self.stats.gap_bytes += len;
        out(StreamItem::Gap {
            conn,
            dir,
            bytes: len,
            at: ctx.at,
            frame: ctx.frame,
        });
        out(self.notice(
            NoticeKind::StreamGap,
            ctx,
            format!(
                "connection {conn} {dir}: {len} bytes missing at stream offset {offset} ({cause})"
            ),
        ));
    }

    /// Delivers the buffered chunks that the stream's position has reached.
    fn drain(&mut self, h: &mut Half, conn: u64, dir: Dir, ctx: Ctx, out: &mut Out) {
        while let Some(entry) = h.buf.first_entry() {
            let k = *entry.key();
            if k > h.next {
                break;
            }
            let chunk = entry.remove();
            h.buffered -= chunk.data.len();
            self.total_buffered = self.total_buffered.saturating_sub(chunk.data.len());
            let skip = (h.next - k) as usize;
            if let Some(rest) = chunk.data.get(skip..) {
                let when = if chunk.at > ctx.at {
                    Ctx {
                        at: chunk.at,
                        frame: chunk.frame,
                    }
                } else {
                    ctx
                };
                self.deliver(h, conn, dir, rest, when, out);
            }
        }
    }

    /// Declares the hole before the first buffered chunk lost and delivers what follows.
    fn flush_first_hole(
        &mut self,
        h: &mut Half,
        conn: u64,
        dir: Dir,
        cause: &str,
        ctx: Ctx,
        out: &mut Out,
    ) {
        if let Some(&k) = h.buf.keys().next() {
            let len = k.saturating_sub(h.next);
            self.gap(h, conn, dir, len, cause, ctx, out);
            self.drain(h, conn, dir, ctx, out);
        }
    }

    /// Moves the stream's position to `target`: buffered data is delivered, holes are
    /// declared lost.
    #[allow(clippy::too_many_arguments)]
    fn flush_to(
        &mut self,
        h: &mut Half,
        conn: u64,
        dir: Dir,
        target: u64,
        cause: &str,
        ctx: Ctx,
        out: &mut Out,
    ) {
        if let Some(p) = h.probe.take() {
            // The receiver acknowledged past the probe: it took the byte.
            let when = Ctx {
                at: p.at,
                frame: p.frame,
            };
            self.deliver(h, conn, dir, &[p.byte], when, out);
        }
        loop {
            self.drain(h, conn, dir, ctx, out);
            if h.next >= target {
                break;
            }
            let until = h.buf.keys().next().map_or(target, |&k| k.min(target));
            if until <= h.next {
                break;
            }
            self.gap(h, conn, dir, until - h.next, cause, ctx, out);
        }
    }

    /// Gives up every hole of a direction (reset, eviction, capture end).
    fn flush_all(
        &mut self,
        h: &mut Half,
        conn: u64,
        dir: Dir,
        cause: &str,
        ctx: Ctx,
        out: &mut Out,
    ) {
        h.probe = None;
        while !h.buf.is_empty() {
            self.flush_first_hole(h, conn, dir, cause, ctx, out);
        }
        if let Some(f) = h.fin {
            if f > h.next {
                self.gap(h, conn, dir, f - h.next, cause, ctx, out);
            }
        }
    }

    /// Buffers the parts of `data` (at stream offset `start`, after the position) that no
    /// chunk covers yet, then enforces the buffer limits.
    #[allow(clippy::too_many_arguments)]
    fn buffer(
        &mut self,
        h: &mut Half,
        conn: u64,
        dir: Dir,
        start: u64,
        data: &[u8],
        ctx: Ctx,
        out: &mut Out,
    ) {
        self.stats.out_of_order += 1;
        let end = start + data.len() as u64;
        let mut pos = start;
        if let Some((&k, c)) = h.buf.range(..start).next_back() {
            pos = pos.max(k + c.data.len() as u64).min(end);
        }
        while pos < end {
            let next = h
                .buf
                .range(pos..end)
                .next()
                .map(|(&k, c)| (k, k + c.data.len() as u64));
            let (piece_end, resume) = match next {
                Some((k, chunk_end)) => (k, chunk_end.max(pos).min(end)),
                None => (end, end),
            };
            if piece_end > pos {
                let lo = (pos - start) as usize;
                let hi = (piece_end - start) as usize;
                if let Some(piece) = data.get(lo..hi) {
                    h.buf.insert(
                        pos,
                        Chunk {
                            data: piece.to_vec(),
                            at: ctx.at,
                            frame: ctx.frame,
                        },
                    );
                    h.buffered += piece.len();
                    self.total_buffered += piece.len();
                }
            }
            self.stats.duplicate_bytes += resume - piece_end;
            pos = resume;
        }
        while h.buffered > self.config.max_buffer {
            self.flush_first_hole(h, conn, dir, "out-of-order buffer limit reached", ctx, out);
        }
        if self.total_buffered > self.config.max_buffer_total {
            while !h.buf.is_empty() {
                self.flush_first_hole(h, conn, dir, "total buffer limit reached", ctx, out);
            }
        }
    }

    /// Takes `data` at stream offset `start`, followed by `lost` bytes the capture cut.
    #[allow(clippy::too_many_arguments)]
    fn accept(
        &mut self,
        h: &mut Half,
        conn: u64,
        dir: Dir,
        start: i64,
        data: &[u8],
        lost: u64,
        ctx: Ctx,
        out: &mut Out,
    ) {
        let mut start = start;
        let mut data = data;
        let mut lost = lost;
        // Nothing counts after the FIN.
        if let Some(f) = h.fin {
            let f = f as i64;
            if start >= f {
                return;
            }
            let room = (f - start) as u64;
            if data.len() as u64 > room {
                data = data.get(..room as usize).unwrap_or_default();
                lost = 0;
            } else {
                lost = lost.min(room - data.len() as u64);
            }
        }
        // Bytes before the position: already delivered (or before the stream's start).
        let next = h.next as i64;
        if start < next {
            let behind = (next - start) as u64;
            let dup = behind.min(data.len() as u64) as usize;
            let (old, rest) = data.split_at(dup);
            if start >= 0 {
                if let Some((from, to)) = h.history_mismatch(start as u64, old) {
                    let at = format!("in stream offsets {from}–{to} (delivered earlier)");
                    self.inconsistent(conn, dir, &at, None, ctx, out);
                }
            }
            self.stats.duplicate_bytes += old.len() as u64;
            data = rest;
            lost = lost.saturating_sub(behind - dup as u64);
            start = next;
        }
        if data.is_empty() && lost == 0 {
            return;
        }
        let start = start as u64;
        if !h.buf.is_empty() {
            if let Some((p, frame)) = h.buffer_mismatch(start, data) {
                self.inconsistent(
                    conn,
                    dir,
                    &format!("at stream offset {p}"),
                    Some(frame),
                    ctx,
                    out,
                );
            }
        }
        if start > h.next {
            // The capture's cut tail of an out-of-order segment stays a hole.
            self.buffer(h, conn, dir, start, data, ctx, out);
            return;
        }
        // In order: hand the slice out directly, up to each buffered chunk (which, being
        // the first copy, wins where they overlap).
        let mut pos = start;
        loop {
            let skip = h.next.saturating_sub(pos) as usize;
            data = data.get(skip..).unwrap_or_default();
            pos = h.next;
            let limit = h.buf.keys().next().map(|&k| k - h.next);
            let n = limit.map_or(data.len(), |l| (l as usize).min(data.len()));
            let (now, rest) = data.split_at(n);
            self.deliver(h, conn, dir, now, ctx, out);
            pos += n as u64;
            data = rest;
            if data.is_empty() {
                if lost > 0 {
                    let room = h
                        .buf
                        .keys()
                        .next()
                        .map_or(lost, |&k| (k - h.next).min(lost));
                    self.gap(
                        h,
                        conn,
                        dir,
                        room,
                        "record cut by the snap length",
                        ctx,
                        out,
                    );
                }
                self.drain(h, conn, dir, ctx, out);
                return;
            }
            self.drain(h, conn, dir, ctx, out);
            if h.next <= pos {
                // Cannot happen (the chunk started at `pos`); never loop forever.
                return;
            }
        }
    }

    fn inconsistent(
        &mut self,
        conn: u64,
        dir: Dir,
        at: &str,
        first_frame: Option<u64>,
        ctx: Ctx,
        out: &mut Out,
    ) {
        self.stats.inconsistent_overlaps += 1;
        let first = first_frame.map_or_else(String::new, |f| format!(" (frame {f})"));
        out(self.notice(
            NoticeKind::InconsistentOverlap,
            ctx,
            format!(
                "connection {conn} {dir}: retransmitted bytes {at} differ from the copy \
                 received first{first}; the first copy is kept"
            ),
        ));
    }

    /// What the acknowledgement `ack` from the receiver says about direction `h`: data it
    /// acknowledged that the capture does not have is lost.
    #[allow(clippy::too_many_arguments)]
    fn on_ack(&mut self, h: &mut Half, conn: u64, dir: Dir, ack: u32, ctx: Ctx, out: &mut Out) {
        if !h.started {
            return;
        }
        let rel = seq_diff(ack, h.next_seq());
        if rel <= 0 || rel as u32 > self.config.max_seq_jump {
            return;
        }
        let mut target = h.next + rel as u64;
        if let Some(f) = h.fin {
            // An ACK of the FIN counts one past the last byte.
            target = target.min(f);
        }
        if target > h.next {
            self.flush_to(
                h,
                conn,
                dir,
                target,
                "the receiver acknowledged bytes the capture does not have",
                ctx,
                out,
            );
        }
    }

    /// The payload of a segment for a direction whose payload is followed.
    #[allow(clippy::too_many_arguments)]
    fn data_segment(
        &mut self,
        h: &mut Half,
        conn: u64,
        dir: Dir,
        seq: u32,
        payload: &[u8],
        missing: u32,
        ctx: Ctx,
        out: &mut Out,
    ) {
        let total = payload.len() as u64 + u64::from(missing);
        if !h.started {
            if total <= 1 && h.peer_ack == Some(seq.wrapping_add(1)) {
                self.stats.keepalives += 1;
                return;
            }
            // Start where the receiver says the stream is, when that is just before this
            // segment (reordered first segments then still fill in).
            let base = match h.peer_ack {
                Some(pa)
                    if seq_diff(seq, pa) > 0
                        && seq_diff(seq, pa) as u64 <= self.config.max_buffer as u64 =>
                {
                    pa
                }
                _ => seq,
            };
            h.start_at(base);
        }
        let mut rel = i64::from(seq_diff(seq, h.next_seq()));
        if total <= 1 && rel == -1 {
            self.stats.keepalives += 1;
            return;
        }
        let jump = i64::from(self.config.max_seq_jump);
        if rel > jump || rel < -jump {
            self.stats.implausible += 1;
            h.implausible += 1;
            if h.implausible < 4 {
                return;
            }
            // The stream has moved on without us: give up what is pending and follow it.
            out(self.notice(
                NoticeKind::StreamAbandoned,
                ctx,
                format!(
                    "connection {conn} {dir}: sequence numbers jumped by {rel} bytes in {} \
                     segments; the stream is followed from sequence number {seq} on",
                    h.implausible
                ),
            ));
            self.flush_all(h, conn, dir, "sequence number jump", ctx, out);
            if rel > 0 {
                let ahead = i64::from(seq_diff(seq, h.next_seq())).max(0) as u64;
                self.gap(h, conn, dir, ahead, "sequence number jump", ctx, out);
            }
            h.base = seq.wrapping_sub(h.next as u32);
            h.fin = None;
            rel = 0;
        }
        h.implausible = 0;
        let probe_shape = payload.len() == 1 && missing == 0 && rel == 0 && h.rcv_window_zero;
        if probe_shape && h.buf.is_empty() {
            if h.probe.is_none() {
                h.probe = Some(Probe {
                    byte: payload[0],
                    at: ctx.at,
                    frame: ctx.frame,
                });
            }
            self.stats.window_probes += 1;
            return;
        }
        if let Some(p) = h.probe.take() {
            if rel == 1 {
                // The sender went on after the probe: the receiver took it.
                let when = Ctx {
                    at: p.at,
                    frame: p.frame,
                };
                self.deliver(h, conn, dir, &[p.byte], when, out);
            } else if rel != 0 {
                h.probe = Some(p);
            }
        }
        let start = h.offset_of(seq);
        self.accept(h, conn, dir, start, payload, u64::from(missing), ctx, out);
    }

    /// Records a FIN at `fin_seq`.
    fn fin_at(&mut self, h: &mut Half, fin_seq: u32) {
        if !h.started {
            h.start_at(fin_seq);
        }
        if h.fin.is_some() {
            return;
        }
        let rel = seq_diff(fin_seq, h.next_seq());
        if rel.unsigned_abs() > self.config.max_seq_jump {
            return;
        }
        let f = h.offset_of(fin_seq).max(h.next as i64) as u64;
        h.fin = Some(f);
        // Buffered bytes beyond the FIN are not part of the stream.
        let beyond = h.buf.split_off(&f);
        for c in beyond.values() {
            h.buffered -= c.data.len();
            self.total_buffered = self.total_buffered.saturating_sub(c.data.len());
        }
        if let Some((&k, c)) = h.buf.iter_mut().next_back() {
            let keep = f.saturating_sub(k) as usize;
            if c.data.len() > keep {
                let cut = c.data.len() - keep;
                c.data.truncate(keep);
                h.buffered -= cut;
                self.total_buffered = self.total_buffered.saturating_sub(cut);
            }
        }
    }

    /// Delivers a direction's FIN once its data is all there.
    fn check_fin(&mut self, h: &mut Half, conn: u64, dir: Dir, ctx: Ctx, out: &mut Out) {
        if let Some(f) = h.fin {
            if !h.fin_done && h.next >= f {
                h.fin_done = true;
                out(StreamItem::Fin {
                    conn,
                    dir,
                    at: ctx.at,
                    frame: ctx.frame,
                });
            }
        }
    }

    /// Ends a connection: gives up its holes (unless it finished), says so, frees it.
    fn close(&mut self, flow: &mut Flow, reason: CloseReason, ctx: Ctx, out: &mut Out) {
        if flow.closed {
            return;
        }
        let mut reason = reason;
        if reason != CloseReason::Finished && flow.payload {
            let cause = match reason {
                CloseReason::Reset => "connection reset",
                CloseReason::Replaced => "connection replaced by a new one",
                CloseReason::Evicted => "connection evicted from the flow table",
                _ => "end of capture",
            };
            for (i, h) in flow.halves.iter_mut().enumerate() {
                let dir = Dir::from_index(i);
                self.flush_all(h, flow.conn, dir, cause, ctx, out);
                self.check_fin(h, flow.conn, dir, ctx, out);
            }
            if reason == CloseReason::CaptureEnd && flow.halves.iter().all(|h| h.fin_done) {
                reason = CloseReason::Finished;
            }
        }
        flow.closed = true;
        for h in &mut flow.halves {
            h.clear_buffers(&mut self.total_buffered);
        }
        out(StreamItem::Closed {
            conn: flow.conn,
            reason,
            at: ctx.at,
            frame: ctx.frame,
        });
    }

    /// A SYN (or SYN-ACK) from direction `d` of an open flow.
    fn syn(&mut self, flow: &mut Flow, d: usize, seq: u32) -> SynOutcome {
        let h = &mut flow.halves[d];
        match h.isn {
            Some(isn) if isn == seq => SynOutcome::Continue,
            Some(_) => SynOutcome::Replace,
            None if !h.started || (h.next == 0 && h.buf.is_empty() && h.fin.is_none()) => {
                h.isn = Some(seq);
                h.start_at(seq.wrapping_add(1));
                SynOutcome::Continue
            }
            None => SynOutcome::Replace,
        }
    }

    /// Processes a segment on an open flow. Returns `true` when a SYN says a new
    /// connection took the addresses (the caller replaces the flow and tries again).
    fn process(&mut self, flow: &mut Flow, seg: &Segment<'_>, out: &mut Out) -> bool {
        let ctx = Ctx {
            at: seg.at,
            frame: seg.frame,
        };
        let dir = if seg.src == flow.a {
            Dir::FromA
        } else {
            Dir::FromB
        };
        let d = dir.index();
        let conn = flow.conn;
        let flags = seg.flags;
        if flags.syn() && !flags.rst() {
            if let SynOutcome::Replace = self.syn(flow, d, seg.seq) {
                return true;
            }
        }
        let seq = if flags.syn() {
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };
        let total = seg.payload.len() as u64 + u64::from(seg.missing);

        if !flow.payload {
            // Only the connection's shape is followed.
            if flags.rst() {
                out(StreamItem::Rst {
                    conn,
                    dir,
                    at: ctx.at,
                    frame: ctx.frame,
                });
                self.close(flow, CloseReason::Reset, ctx, out);
                return false;
            }
            let h = &mut flow.halves[d];
            if total > 0 {
                if !h.started {
                    h.start_at(seq);
                }
                let end = h.offset_of(seq) + total as i64;
                if end > h.next as i64
                    && end - (h.next as i64) <= i64::from(self.config.max_seq_jump)
                {
                    h.next = end as u64;
                }
            }
            if flags.fin() && h.fin.is_none() {
                h.fin = Some(h.next);
            }
            for (i, h) in flow.halves.iter_mut().enumerate() {
                if h.fin.is_some() && !h.fin_done {
                    h.fin_done = true;
                    out(StreamItem::Fin {
                        conn,
                        dir: Dir::from_index(i),
                        at: ctx.at,
                        frame: ctx.frame,
                    });
                }
            }
            if flow.halves.iter().all(|h| h.fin_done) {
                self.close(flow, CloseReason::Finished, ctx, out);
            }
            return false;
        }

        let [h0, h1] = &mut flow.halves;
        let (h, other) = if d == 0 { (h0, h1) } else { (h1, h0) };
        let odir = dir.reverse();
        // What the segment says about the reverse direction.
        if flags.ack() && !flags.rst() {
            other.peer_ack = Some(seg.ack);
            other.rcv_window_zero = seg.window == 0 && !flags.syn();
            self.on_ack(other, conn, odir, seg.ack, ctx, out);
            self.check_fin(other, conn, odir, ctx, out);
        }
        if flags.rst() {
            self.flush_all(h, conn, dir, "connection reset", ctx, out);
            self.flush_all(other, conn, odir, "connection reset", ctx, out);
            self.check_fin(h, conn, dir, ctx, out);
            self.check_fin(other, conn, odir, ctx, out);
            out(StreamItem::Rst {
                conn,
                dir,
                at: ctx.at,
                frame: ctx.frame,
            });
            self.close(flow, CloseReason::Reset, ctx, out);
            return false;
        }
        if total > 0 {
            self.data_segment(h, conn, dir, seq, seg.payload, seg.missing, ctx, out);
        } else if h.started && !flags.syn() && !flags.fin() && seq == h.next_seq().wrapping_sub(1) {
            // An empty keep-alive probe.
            self.stats.keepalives += 1;
        }
        if flags.fin() {
            self.fin_at(h, seq.wrapping_add(total as u32));
        }
        self.check_fin(h, conn, dir, ctx, out);
        if flow.halves.iter().all(|h| h.fin_done) {
            self.close(flow, CloseReason::Finished, ctx, out);
        }
        false
    }
}

/// TCP reassembly for a whole capture. See the [module documentation](self).
#[derive(Debug)]
pub struct Reassembler {
    core: Core,
    slab: Vec<Option<Flow>>,
    free: Vec<usize>,
    index: FlowIndex,
    by_conn: HashMap<u64, usize, FastState>,
    /// The last flow looked up: consecutive segments of one flow skip the hash.
    last: Option<(FlowKey, usize)>,
    next_conn: u64,
    tick: u64,
    last_ctx: Option<Ctx>,
}

impl Default for Reassembler {
    fn default() -> Self {
        Self::new(ReassemblyConfig::default())
    }
}

impl Reassembler {
    /// A reassembler with these limits.
    pub fn new(config: ReassemblyConfig) -> Self {
        Self {
            core: Core {
                config,
                stats: ReassemblyStats::default(),
                file: 0,
                total_buffered: 0,
            },
            slab: Vec::new(),
            free: Vec::new(),
            index: FlowIndex::default(),
            by_conn: HashMap::default(),
            last: None,
            next_conn: 1,
            tick: 0,
            last_ctx: None,
        }
    }

    /// Sets the file index stamped on notices from now on.
    pub fn set_file(&mut self, file: usize) {
        self.core.file = file;
    }

    /// Counters so far.
    pub fn stats(&self) -> ReassemblyStats {
        self.core.stats
    }

    /// Connections currently tracked (open or recently ended).
    pub fn tracked(&self) -> usize {
        self.index.len()
    }

    /// Out-of-order bytes currently buffered, all connections together.
    pub fn buffered(&self) -> usize {
        self.core.total_buffered
    }

    /// Stops following the payload of connection `conn`: its buffers are freed and from
    /// now on only its SYN, FIN and RST are reported (for connections nobody analyses).
    pub fn ignore_payload(&mut self, conn: u64) {
        if let Some(&slot) = self.by_conn.get(&conn) {
            self.ignore_payload_at(slot, conn);
        }
    }

    /// Takes one segment (in capture order) and pushes what it causes to `out`.
    pub fn segment<F: FnMut(StreamItem<'_>)>(&mut self, seg: &Segment<'_>, out: &mut F) {
        self.segment_dyn(seg, flow_hash(seg.src, seg.dst), &mut |_, item| out(item));
    }

    /// [`segment`](Self::segment), with each item's flow slot: an index into
    /// the flow table, stable for the life of the connection and reused only
    /// after its `Closed`. Lets the [`Analyzer`](super::flows::Analyzer) keep its
    /// per-connection state in a vector beside the reassembler's instead of a map.
    /// `hash` is the segment's [`flow_hash`].
    pub(crate) fn segment_slotted(&mut self, seg: &Segment<'_>, hash: u64, out: &mut SlotOut) {
        self.segment_dyn(seg, hash, out);
    }

    /// First step of a prefetch for a coming segment of flow `hash`: its index position.
    #[inline]
    pub(crate) fn prefetch_index(&self, hash: u64) {
        self.index.prefetch(hash);
    }

    /// The slot of flow `hash` as its index position says, unconfirmed (for prefetches).
    #[inline]
    pub(crate) fn likely_slot(&self, hash: u64) -> Option<usize> {
        self.index.likely(hash)
    }

    /// Second step, a few segments later (the index position now in cache): the flow's
    /// state. Returns the flow's likely slot, for the caller's own per-slot state.
    #[inline]
    pub(crate) fn prefetch_flow(&self, hash: u64) -> Option<usize> {
        let slot = self.index.likely(hash)?;
        if let Some(flow) = self.slab.get(slot) {
            crate::prefetch::prefetch(flow, std::mem::size_of::<Option<Flow>>().div_ceil(64));
        }
        Some(slot)
    }

    /// [`ignore_payload`](Self::ignore_payload) for a connection whose slot is known.
    pub(crate) fn ignore_payload_at(&mut self, slot: usize, conn: u64) {
        if let Some(Some(flow)) = self.slab.get_mut(slot) {
            if flow.conn == conn && flow.payload {
                flow.payload = false;
                for h in &mut flow.halves {
                    h.clear_buffers(&mut self.core.total_buffered);
                }
            }
        }
    }

    fn segment_dyn(&mut self, seg: &Segment<'_>, hash: u64, out: &mut SlotOut) {
        self.tick += 1;
        self.core.stats.segments += 1;
        let ctx = Ctx {
            at: seg.at,
            frame: seg.frame,
        };
        self.last_ctx = Some(ctx);
        let key = FlowKey::new(seg.src, seg.dst);
        let slot = match self.last {
            Some((k, s)) if k == key => Some(s),
            _ => {
                let slab = &self.slab;
                self.index.find(
                    hash,
                    |s| matches!(slab.get(s), Some(Some(f)) if f.key == key),
                )
            }
        };
        let has_data = !seg.payload.is_empty() || seg.missing > 0;
        let slot = match slot {
            None => {
                if seg.flags.rst() || !(seg.flags.syn() || has_data) {
                    self.core.stats.unattached += 1;
                    return;
                }
                self.open(key, seg, None, out)
            }
            Some(s) => {
                let Some(flow) = self.slab.get(s).and_then(Option::as_ref) else {
                    return;
                };
                if flow.closed {
                    if !self.starts_again(s, seg) {
                        self.core.stats.unattached += 1;
                        return;
                    }
                    self.open(key, seg, Some(s), out)
                } else {
                    s
                }
            }
        };
        self.last = Some((key, slot));
        let tick = self.tick;
        let Some(flow) = self.slab.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        flow.last_tick = tick;
        flow.last_at = seg.at;
        flow.last_frame = seg.frame;
        if self.core.process(flow, seg, &mut |item| out(slot, item)) {
            // A new connection on these addresses: the old one is over.
            self.core
                .close(flow, CloseReason::Replaced, ctx, &mut |item| {
                    out(slot, item)
                });
            let slot = self.open(key, seg, Some(slot), out);
            if let Some(flow) = self.slab.get_mut(slot).and_then(Option::as_mut) {
                flow.last_tick = tick;
                self.core.process(flow, seg, &mut |item| out(slot, item));
            }
        }
    }

    /// Whether a segment on an ended flow starts a new connection (rather than being a
    /// late retransmission or ACK of the old one).
    fn starts_again(&self, slot: usize, seg: &Segment<'_>) -> bool {
        let Some(Some(flow)) = self.slab.get(slot) else {
            return false;
        };
        let d = usize::from(seg.src != flow.a);
        let h = &flow.halves[d];
        if seg.flags.rst() {
            return false;
        }
        if seg.flags.syn() {
            return h.isn != Some(seg.seq);
        }
        if seg.payload.is_empty() && seg.missing == 0 {
            return false;
        }
        if !h.started {
            return true;
        }
        let rel = i64::from(seq_diff(seg.seq, h.next_seq()));
        rel.unsigned_abs() > u64::from(self.core.config.max_seq_jump)
    }

    /// Starts a new connection for `seg`, in `slot` (replacing an ended flow) or a new one.
    fn open(
        &mut self,
        key: FlowKey,
        seg: &Segment<'_>,
        slot: Option<usize>,
        out: &mut SlotOut,
    ) -> usize {
        let conn = self.next_conn;
        self.next_conn += 1;
        self.core.stats.connections += 1;
        let handshake = seg.flags.syn() && !seg.flags.rst();
        // A SYN-ACK's receiver sent the SYN.
        let (a, b) = if handshake && seg.flags.ack() {
            (seg.dst, seg.src)
        } else {
            (seg.src, seg.dst)
        };
        let flow = Flow {
            key,
            conn,
            a,
            b,
            halves: [Half::default(), Half::default()],
            closed: false,
            payload: true,
            last_tick: self.tick,
            last_at: seg.at,
            last_frame: seg.frame,
        };
        let slot = match slot {
            Some(s) => {
                if let Some(Some(old)) = self.slab.get(s) {
                    self.by_conn.remove(&old.conn);
                }
                if let Some(entry) = self.slab.get_mut(s) {
                    *entry = Some(flow);
                }
                s
            }
            None => {
                if self.index.len() >= self.core.config.max_flows.max(1) {
                    self.evict(out);
                }
                let s = match self.free.pop() {
                    Some(s) => {
                        if let Some(entry) = self.slab.get_mut(s) {
                            *entry = Some(flow);
                        }
                        s
                    }
                    None => {
                        self.slab.push(Some(flow));
                        self.slab.len() - 1
                    }
                };
                self.index.insert(key.hash64(), s);
                s
            }
        };
        self.by_conn.insert(conn, slot);
        out(
            slot,
            StreamItem::Opened {
                conn,
                a,
                b,
                handshake,
                at: seg.at,
                frame: seg.frame,
            },
        );
        slot
    }

    /// Makes room in a full flow table: ended flows go first, then the least recently
    /// active open ones (a sixty-fourth of the table at a time, so a full table costs one
    /// scan per many new connections).
    fn evict(&mut self, out: &mut SlotOut) {
        self.last = None;
        let ended: Vec<usize> = self
            .slab
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.as_ref().filter(|f| f.closed).map(|_| i))
            .collect();
        if !ended.is_empty() {
            for i in ended {
                self.remove(i);
            }
            return;
        }
        let mut open: Vec<(u64, usize)> = self
            .slab
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.as_ref().map(|f| (f.last_tick, i)))
            .collect();
        let n = (self.core.config.max_flows / 64).max(1).min(open.len());
        if n == 0 {
            return;
        }
        if n < open.len() {
            open.select_nth_unstable(n - 1);
        }
        let max_flows = self.core.config.max_flows;
        for &(_, i) in &open[..n] {
            if let Some(Some(flow)) = self.slab.get_mut(i) {
                let ctx = Ctx {
                    at: flow.last_at,
                    frame: flow.last_frame,
                };
                out(
                    i,
                    self.core.notice(
                        NoticeKind::StreamAbandoned,
                        ctx,
                        format!(
                            "connection {} ({} ↔ {}) evicted: more than {max_flows} connections \
                         tracked at once and it was among the least recently active",
                            flow.conn, flow.a, flow.b
                        ),
                    ),
                );
                self.core.stats.evicted += 1;
                self.core
                    .close(flow, CloseReason::Evicted, ctx, &mut |item| out(i, item));
            }
            self.remove(i);
        }
    }

    fn remove(&mut self, slot: usize) {
        if let Some(entry) = self.slab.get_mut(slot) {
            if let Some(mut flow) = entry.take() {
                for h in &mut flow.halves {
                    h.clear_buffers(&mut self.core.total_buffered);
                }
                self.index.remove(flow.key.hash64(), slot);
                self.by_conn.remove(&flow.conn);
                self.free.push(slot);
            }
        }
        self.last = None;
    }

    /// The capture ended: every open connection gives up its holes (each reported as a
    /// gap) and is closed with [`CloseReason::CaptureEnd`] (or
    /// [`CloseReason::Finished`] when both FINs were there). The reassembler is empty
    /// afterwards and can take another capture.
    pub fn finish<F: FnMut(StreamItem<'_>)>(&mut self, out: &mut F) {
        self.finish_slotted(&mut |_, item| out(item));
    }

    /// [`finish`](Self::finish), with each item's flow slot.
    pub(crate) fn finish_slotted(&mut self, out: &mut SlotOut) {
        let mut open: Vec<(u64, usize)> = self
            .slab
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.as_ref().filter(|f| !f.closed).map(|f| (f.conn, i)))
            .collect();
        open.sort_unstable();
        let last = self.last_ctx;
        for (_, i) in open {
            if let Some(Some(flow)) = self.slab.get_mut(i) {
                let ctx = last.unwrap_or(Ctx {
                    at: flow.last_at,
                    frame: flow.last_frame,
                });
                self.core
                    .close(flow, CloseReason::CaptureEnd, ctx, &mut |item| out(i, item));
            }
        }
        self.slab.clear();
        self.free.clear();
        self.index.clear();
        self.by_conn.clear();
        self.last = None;
        self.core.total_buffered = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pcap::TcpFlags;

    #[test]
    fn serial_arithmetic_wraps() {
        assert_eq!(seq_diff(5, 3), 2);
        assert_eq!(seq_diff(3, 5), -2);
        assert_eq!(seq_diff(2, u32::MAX - 1), 4);
        assert_eq!(seq_diff(u32::MAX - 1, 2), -4);
        assert!(seq_before(u32::MAX, 0));
        assert!(!seq_before(0, u32::MAX));
        assert!(seq_before(0x7fff_ffff, 0xffff_fff0));
        assert_eq!(seq_diff(0x8000_0000, 0), i32::MIN);
    }

    #[test]
    fn offsets_continue_across_the_wrap() {
        let mut h = Half::default();
        h.start_at(u32::MAX - 2);
        assert_eq!(h.offset_of(u32::MAX - 2), 0);
        assert_eq!(h.offset_of(1), 4);
        h.next = 10;
        assert_eq!(h.next_seq(), 7);
        assert_eq!(h.offset_of(u32::MAX - 3), -1);
    }

    #[test]
    fn history_remembers_the_last_deliveries() {
        let mut h = Half::default();
        h.start_at(0);
        for chunk in [&b"abcdef"[..], b"ghij", b"klmnopq"] {
            h.remember(chunk, 2);
            h.next += chunk.len() as u64;
        }
        // The last two deliveries are remembered: "ghij" at 6..10, "klmnopq" at 10..17.
        assert_eq!(h.history_mismatch(6, b"ghijklmnopq"), None);
        assert_eq!(h.history_mismatch(6, b"ghijklmXopq"), Some((10, 17)));
        assert_eq!(h.history_mismatch(4, b"efgXij"), Some((6, 10)));
        // A retransmission covering no remembered delivery whole is not checked.
        assert_eq!(h.history_mismatch(7, b"Xij"), None);
        assert_eq!(h.history_mismatch(0, b"zzzzzz"), None);
    }

    #[test]
    fn flow_keys_join_directions_and_keep_families_apart() {
        let a: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:1883".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:10.0.0.1]:5000".parse().unwrap();
        assert_eq!(FlowKey::new(a, b), FlowKey::new(b, a));
        assert_ne!(FlowKey::new(a, b), FlowKey::new(mapped, b));
        let scoped: SocketAddr = "[fe80::1%2]:5000".parse().unwrap();
        let unscoped: SocketAddr = "[fe80::1]:5000".parse().unwrap();
        assert_ne!(FlowKey::new(scoped, b), FlowKey::new(unscoped, b));
        let state = FastState::default();
        use std::hash::BuildHasher;
        assert_eq!(
            state.hash_one(FlowKey::new(a, b)),
            state.hash_one(FlowKey::new(b, a))
        );
    }

    fn seg(seq: u32, flags: u8, payload: &[u8]) -> Segment<'_> {
        Segment {
            at: Duration::from_secs(1),
            frame: 1,
            file: 0,
            src: "10.0.0.1:5000".parse().unwrap(),
            dst: "10.0.0.2:1883".parse().unwrap(),
            seq,
            ack: 0,
            flags: TcpFlags(flags),
            window: 100,
            payload,
            missing: 0,
        }
    }

    #[test]
    fn in_order_data_is_the_segments_own_slice() {
        let mut r = Reassembler::default();
        let payload = b"hello".to_vec();
        let s = seg(100, TcpFlags::PSH, &payload);
        let mut seen = None;
        r.segment(&s, &mut |item| {
            if let StreamItem::Data { bytes, .. } = item {
                seen = Some(bytes.as_ptr());
            }
        });
        assert_eq!(seen, Some(payload.as_ptr()));
    }
}
