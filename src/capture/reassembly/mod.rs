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
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

mod flow;

pub use flow::MAX_HISTORY;
pub(crate) use flow::flow_hash;
use flow::*;

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

/// TCP reassembly for a whole capture. See the [module documentation](self).
#[derive(Debug)]
pub struct Reassembler {
    core: Core,
    slab: Vec<Option<Flow>>,
    free: Vec<usize>,
    index: FlowIndex,
    by_conn: HashMap<u64, usize, foldhash::fast::RandomState>,
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
    use crate::capture::TcpFlags;

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
        assert_eq!(FlowKey::new(a, b).hash64(), FlowKey::new(b, a).hash64());
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
