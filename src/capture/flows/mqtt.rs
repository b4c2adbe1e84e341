//! MQTT over a reassembled stream: framing and decoding packets into events, losses,
//! and resynchronising after a gap.

use super::*;

/// What a connection's handlers need to know about it.
#[derive(Debug, Clone, Copy)]
pub(super) struct ConnRef {
    pub(super) id: u64,
    pub(super) slot: usize,
    pub(super) info: Option<usize>,
}

/// The protocol version packets are decoded under.
#[derive(Debug)]
pub(super) struct Proto {
    pub(super) version: ProtocolVersion,
    /// Settled (by a CONNECT, the configuration or inference); otherwise resync tries
    /// both 3.1.1 and 5.0 and infers.
    known: bool,
    pub(super) source: VersionSource,
    /// While not settled: packets tried, and how many decode as 3.1.1 and as 5.0.
    tally: (u32, u32, u32),
    /// While not settled: packets held back (side, bytes, timestamp).
    held: Vec<(Side, Bytes, Duration)>,
    /// Packets that had to be emitted before the version was settled.
    tentative: u32,
    /// Packets emitted (for the report).
    pub(super) packets: u64,
}

#[derive(Debug)]
pub(super) struct MqttConn {
    pub(super) proto: Proto,
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
    pub(super) fn new(from_start: bool, configured: Option<ProtocolVersion>) -> Self {
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
    pub(super) fn data(
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
    pub(super) fn gap(
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
    pub(super) fn stream_end(
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
pub(super) const ARENA_MAX_COPY: usize = 8 * 1024;
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
pub(super) struct PacketArena {
    block: BytesMut,
    /// The buffer the current segments' payloads lie in, when shared.
    pub(super) payloads: Bytes,
}

impl PacketArena {
    pub(super) fn copy(&mut self, data: &[u8]) -> Bytes {
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
