//! MQTT over WebSocket: the HTTP upgrade read and reported, the frames of both
//! directions unwrapped, and the payload of binary messages framed as MQTT.

use super::ws::{self, FrameHead, FrameReader, MAX_CONTROL, MAX_HEAD, Piece, RSV1, opcode};
use super::ws_inflate::Inflater;
use super::*;
use crate::event::WebSocketEvent;

/// Client bytes (after its request) held while the server's answer is not read yet.
const WAIT_CAP: usize = 64 * 1024;

/// Protocol-error notices written per connection; beyond it they are counted.
const MAX_ERRORS: u32 = 8;

/// A WebSocket connection carrying MQTT.
#[derive(Debug)]
pub(super) struct WsConn {
    client: Dir,
    pub(super) mqtt: MqttConn,
    /// By [`Dir::index`].
    dirs: [WsDir; 2],
    /// The request: path and offered subprotocols, once read.
    path: String,
    offered: Vec<String>,
    /// The client offered permessage-deflate.
    offered_deflate: bool,
    /// The Handshake event was emitted.
    emitted: bool,
    /// Client bytes after its request that wait for the handshake's event.
    waiting: Vec<(Ctx, Vec<u8>)>,
    waiting_bytes: usize,
    /// Protocol errors found (notices beyond [`MAX_ERRORS`] are only counted).
    errors: u32,
    /// The payload is no longer wanted.
    ignored: bool,
    /// The side that sent the first Close frame: it closed the connection, whichever
    /// side's FIN comes first (RFC 6455 has the server end TCP first).
    pub(super) first_close: Option<Side>,
}

#[derive(Debug, Default)]
struct WsDir {
    phase: Phase,
    reader: FrameReader,
    scratch: Vec<u8>,
    /// The data message in progress.
    msg: Msg,
    /// The frame being read.
    frame: Role,
    /// It is its message's last frame.
    fin: bool,
    /// Payload of the control frame being read (at most 125 bytes kept).
    control: Vec<u8>,
    /// Bytes not analysed (after the direction stopped).
    skipped: u64,
    /// permessage-deflate was accepted: whether this side starts every message with an
    /// empty window.
    deflate: Option<bool>,
    /// The message in progress is compressed (RSV1 on its first frame).
    compressed: bool,
    /// Made at this side's first compressed message.
    inflater: Option<Box<Inflater>>,
}

#[derive(Debug, Default, Clone, Copy)]
enum Phase {
    /// Reading the HTTP head (its bytes so far).
    #[default]
    Head,
    Frames,
    /// Not read any further.
    Stopped,
}

#[derive(Debug, Default)]
enum Msg {
    #[default]
    None,
    Binary,
    NonBinary {
        opcode: u8,
        len: u64,
        head: Vec<u8>,
    },
}

#[derive(Debug, Default, Clone, Copy)]
enum Role {
    /// Part of the data message in `msg`.
    #[default]
    Data,
    /// A control frame (its opcode).
    Control(u8),
    /// Skipped (a continuation without a message).
    Skip,
}

impl WsConn {
    pub(super) fn new(client: Dir, protocol: Option<ProtocolVersion>) -> Self {
        Self {
            client,
            // The payload starts at the stream's start: a CONNECT comes first.
            mqtt: MqttConn::new(true, protocol),
            dirs: [WsDir::default(), WsDir::default()],
            path: String::new(),
            offered: Vec::new(),
            offered_deflate: false,
            emitted: false,
            waiting: Vec::new(),
            waiting_bytes: 0,
            errors: 0,
            ignored: false,
            first_close: None,
        }
    }

    fn side(&self, dir: Dir) -> Side {
        if dir == self.client {
            Side::Client
        } else {
            Side::Server
        }
    }

    pub(super) fn data(
        &mut self,
        dir: Dir,
        bytes: &[u8],
        ctx: Ctx,
        c: ConnRef,
        sh: &mut Shared,
        out: &mut Out,
    ) {
        let d = &mut self.dirs[dir.index()];
        match d.phase {
            Phase::Stopped => d.skipped += bytes.len() as u64,
            Phase::Frames => {
                if dir == self.client && !self.emitted {
                    self.hold(bytes, ctx, c, sh, out);
                } else {
                    self.frames(dir, bytes, ctx, c, sh, out);
                }
            }
            Phase::Head => self.head(dir, bytes, ctx, c, sh, out),
        }
    }

    /// Client frames that came before the server's answer: held so that the handshake
    /// is reported before the packets (within a bound).
    fn hold(&mut self, bytes: &[u8], ctx: Ctx, c: ConnRef, sh: &mut Shared, out: &mut Out) {
        self.waiting.push((ctx, bytes.to_vec()));
        self.waiting_bytes += bytes.len();
        if self.waiting_bytes > WAIT_CAP {
            self.emit_handshake(None, None, ctx, c, sh, out);
        }
    }

    /// Bytes of a direction's HTTP head (and what follows it).
    fn head(
        &mut self,
        dir: Dir,
        bytes: &[u8],
        ctx: Ctx,
        c: ConnRef,
        sh: &mut Shared,
        out: &mut Out,
    ) {
        let side = self.side(dir);
        let d = &mut self.dirs[dir.index()];
        // The head so far lives in `scratch` until its end is found.
        let before = d.scratch.len();
        let take = bytes.len().min(MAX_HEAD + 4 - before.min(MAX_HEAD + 4));
        d.scratch.extend_from_slice(&bytes[..take]);
        let Some(end) = ws::head_end(&d.scratch, before) else {
            if d.scratch.len() >= MAX_HEAD {
                d.scratch = Vec::new();
                d.phase = Phase::Stopped;
                d.skipped += bytes.len() as u64;
                sh.notice(
                    NoticeKind::NotAnalysed,
                    ctx,
                    format!(
                        "connection {} {}: the WebSocket upgrade's HTTP head is longer than {MAX_HEAD} bytes; the direction is not analysed",
                        c.id,
                        side_name(side)
                    ),
                );
                if side == Side::Server {
                    self.emit_handshake(None, None, ctx, c, sh, out);
                }
                self.check_ignored(c, sh);
            }
            return;
        };
        let head = std::mem::take(&mut d.scratch);
        let rest = &bytes[end - before..];
        d.phase = Phase::Frames;
        if side == Side::Client {
            let req = ws::parse_request(&head[..end]);
            self.path = req.path;
            self.offered = req.offered;
            self.offered_deflate = req.offers_deflate;
            if !rest.is_empty() {
                self.data(dir, rest, ctx, c, sh, out);
            }
            return;
        }
        let resp = ws::parse_response(&head[..end]);
        let status = resp.status;
        if !resp.other_extensions.is_empty() {
            sh.notice(
                NoticeKind::WebSocket,
                ctx,
                format!(
                    "connection {}: the server accepted WebSocket extensions ({}); frames they transform are read as they are",
                    c.id,
                    resp.other_extensions.join(", ")
                ),
            );
        }
        if let (101, Some(d)) = (status, resp.deflate) {
            let client = self.client.index();
            self.dirs[client].deflate = Some(d.client_no_context_takeover);
            self.dirs[1 - client].deflate = Some(d.server_no_context_takeover);
        }
        let selected = if status == 101 { resp.selected } else { None };
        self.emit_handshake(Some(status), selected, ctx, c, sh, out);
        if status != 101 {
            // No WebSocket follows: the rest of both streams is HTTP.
            for d in &mut self.dirs {
                d.phase = Phase::Stopped;
            }
            self.dirs[dir.index()].skipped += rest.len() as u64;
            sh.notice(
                NoticeKind::NotAnalysed,
                ctx,
                format!(
                    "connection {}: the server answered the WebSocket upgrade with HTTP {status}; the rest of the connection is not analysed",
                    c.id
                ),
            );
            self.check_ignored(c, sh);
            return;
        }
        if !rest.is_empty() {
            self.frames(dir, rest, ctx, c, sh, out);
        }
    }

    /// The Handshake event and the report (once), then the client bytes that waited.
    fn emit_handshake(
        &mut self,
        status: Option<u16>,
        selected: Option<String>,
        ctx: Ctx,
        c: ConnRef,
        sh: &mut Shared,
        out: &mut Out,
    ) {
        if self.emitted {
            return;
        }
        self.emitted = true;
        // The server's answer was not read: what the client offered may be in force, and
        // a message marked compressed is read as one (RSV1 says which are).
        if status.is_none() && self.offered_deflate {
            for d in &mut self.dirs {
                d.deflate.get_or_insert(false);
            }
        }
        if let Some(info) = sh.info(c.info) {
            info.websocket = Some(WebSocketInfo {
                path: self.path.clone(),
                offered: self.offered.clone(),
                selected: selected.clone(),
                status,
            });
        }
        let ev = sh.event(
            c.id,
            ctx.at,
            Side::Client,
            EventKind::WebSocket(WebSocketEvent::Handshake {
                path: self.path.clone(),
                offered: self.offered.clone(),
                selected,
                status,
            }),
        );
        out(ev);
        self.waiting_bytes = 0;
        let client = self.client;
        // Timed when they were let through: the events stay in time order.
        for (held, bytes) in std::mem::take(&mut self.waiting) {
            let at = Ctx {
                at: held.at.max(ctx.at),
                frame: held.frame.max(ctx.frame),
            };
            self.data(client, &bytes, at, c, sh, out);
        }
    }

    /// A protocol error: a notice (the first few per connection).
    fn error(&mut self, side: Side, what: &str, ctx: Ctx, c: ConnRef, sh: &mut Shared) {
        self.errors += 1;
        if self.errors <= MAX_ERRORS {
            sh.notice(
                NoticeKind::WebSocket,
                ctx,
                format!("connection {} {}: {what}", c.id, side_name(side)),
            );
        }
    }

    /// Frames of one direction.
    fn frames(
        &mut self,
        dir: Dir,
        bytes: &[u8],
        ctx: Ctx,
        c: ConnRef,
        sh: &mut Shared,
        out: &mut Out,
    ) {
        let side = self.side(dir);
        let mut data = bytes;
        loop {
            let Self { dirs, mqtt, .. } = self;
            let WsDir {
                reader,
                scratch,
                msg,
                frame,
                control,
                phase,
                compressed,
                inflater,
                deflate,
                ..
            } = &mut dirs[dir.index()];
            if !matches!(phase, Phase::Frames) {
                self.dirs[dir.index()].skipped += data.len() as u64;
                return;
            }
            let Some(piece) = reader.next(&mut data, scratch) else {
                // What stays allocated per idle connection does not depend on the
                // largest segment it carried.
                if scratch.capacity() > 4096 {
                    *scratch = Vec::new();
                }
                return;
            };
            match piece {
                Piece::Payload(p) => match frame {
                    Role::Data if *compressed => {
                        let inflater = inflater.get_or_insert_with(|| {
                            Box::new(Inflater::new(deflate.unwrap_or(false)))
                        });
                        let fed = inflater.feed(p, &mut |b| {
                            deliver(msg, mqtt, dir, side, b, ctx, c, sh, out);
                        });
                        if let Err(why) = fed {
                            self.inflate_failed(dir, side, &why, ctx, c, sh, out);
                        }
                    }
                    Role::Data => deliver(msg, mqtt, dir, side, p, ctx, c, sh, out),
                    Role::Control(_) => {
                        let n = (MAX_CONTROL as usize - control.len().min(MAX_CONTROL as usize))
                            .min(p.len());
                        control.extend_from_slice(&p[..n]);
                    }
                    Role::Skip => {}
                },
                Piece::Head(h) => self.frame_head(dir, side, h, ctx, c, sh, out),
                Piece::End => self.frame_end(dir, side, ctx, c, sh, out),
            }
        }
    }

    /// A frame starts: checks it and decides what its payload is.
    #[allow(clippy::too_many_arguments)]
    fn frame_head(
        &mut self,
        dir: Dir,
        side: Side,
        h: FrameHead,
        ctx: Ctx,
        c: ConnRef,
        sh: &mut Shared,
        out: &mut Out,
    ) {
        let name = WebSocketEvent::opcode_name(h.opcode);
        match (side, h.mask.is_some()) {
            (Side::Client, false) => self.error(
                side,
                &format!("an unmasked {name} frame (a client masks every frame, RFC 6455 §5.1)"),
                ctx,
                c,
                sh,
            ),
            (Side::Server, true) => self.error(
                side,
                &format!("a masked {name} frame (a server never masks, RFC 6455 §5.1)"),
                ctx,
                c,
                sh,
            ),
            _ => {}
        }
        // Under permessage-deflate RSV1 marks a compressed message's first frame, and
        // only that (RFC 7692 §6).
        let deflate = self.dirs[dir.index()].deflate.is_some();
        let starts_message = !h.is_control() && h.opcode != opcode::CONTINUATION;
        let allowed = if deflate && starts_message { RSV1 } else { 0 };
        if h.rsv & !allowed != 0 {
            let why = if deflate && h.rsv & !RSV1 == 0 {
                "(permessage-deflate sets RSV1 on a data message's first frame only)"
            } else if deflate {
                "(no extension using RSV2 or RSV3 was negotiated)"
            } else {
                "and no extension negotiated"
            };
            self.error(
                side,
                &format!("a {name} frame with RSV bits {:#05b} set {why}", h.rsv),
                ctx,
                c,
                sh,
            );
        }
        if h.bad_length {
            self.error(
                side,
                &format!("a {name} frame whose length {} is not in its shortest form or has its top bit set", h.len),
                ctx,
                c,
                sh,
            );
        }
        if h.is_control() {
            if h.opcode > opcode::PONG {
                self.error(
                    side,
                    &format!("a frame with the reserved control opcode {:#x}", h.opcode),
                    ctx,
                    c,
                    sh,
                );
            }
            if !h.fin || h.len > MAX_CONTROL {
                self.error(
                    side,
                    &format!(
                        "a {name} frame of {} bytes{} (a control frame is one frame of at most 125 bytes)",
                        h.len,
                        if h.fin { "" } else { " without FIN" }
                    ),
                    ctx,
                    c,
                    sh,
                );
            }
            let d = &mut self.dirs[dir.index()];
            d.control.clear();
            d.frame = Role::Control(h.opcode);
            return;
        }
        if h.opcode == opcode::CONTINUATION {
            let d = &mut self.dirs[dir.index()];
            if matches!(d.msg, Msg::None) {
                d.frame = Role::Skip;
                self.error(
                    side,
                    "a continuation frame outside a fragmented message",
                    ctx,
                    c,
                    sh,
                );
            } else {
                d.frame = Role::Data;
            }
            self.continue_or_end(dir, h.fin);
            return;
        }
        if !matches!(self.dirs[dir.index()].msg, Msg::None) {
            self.error(
                side,
                &format!(
                    "a new {name} message starts before the fragmented message in progress ended"
                ),
                ctx,
                c,
                sh,
            );
            self.message_end(dir, side, ctx, c, sh, out);
        }
        let d = &mut self.dirs[dir.index()];
        d.frame = Role::Data;
        d.compressed = h.rsv & allowed != 0;
        d.msg = if h.opcode == opcode::BINARY {
            Msg::Binary
        } else {
            Msg::NonBinary {
                opcode: h.opcode,
                len: 0,
                head: Vec::new(),
            }
        };
        self.continue_or_end(dir, h.fin);
    }

    /// Remembers whether the data frame just started ends its message.
    fn continue_or_end(&mut self, dir: Dir, fin: bool) {
        self.dirs[dir.index()].fin = fin;
    }

    /// A frame ended.
    fn frame_end(
        &mut self,
        dir: Dir,
        side: Side,
        ctx: Ctx,
        c: ConnRef,
        sh: &mut Shared,
        out: &mut Out,
    ) {
        let d = &mut self.dirs[dir.index()];
        match d.frame {
            Role::Data | Role::Skip => {
                if d.fin && matches!(d.frame, Role::Data) {
                    if std::mem::take(&mut d.compressed) {
                        // Ended whole: nothing for `message_end` to abandon.
                        self.inflate_tail(dir, side, ctx, c, sh, out);
                    }
                    self.message_end(dir, side, ctx, c, sh, out);
                }
            }
            Role::Control(op) => {
                let payload = std::mem::take(&mut d.control);
                d.frame = Role::Data;
                if op == opcode::CLOSE {
                    self.first_close.get_or_insert(side);
                    let code =
                        (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                    if payload.len() == 1 {
                        self.error(side, "a Close frame with a 1-byte payload", ctx, c, sh);
                    }
                    let ev = sh.event(
                        c.id,
                        ctx.at,
                        side,
                        EventKind::WebSocket(WebSocketEvent::Close { code }),
                    );
                    out(ev);
                }
            }
        }
    }

    /// The data message in progress ended: a non-binary one is reported, and a compressed
    /// one still marked as such was cut short.
    fn message_end(
        &mut self,
        dir: Dir,
        side: Side,
        ctx: Ctx,
        c: ConnRef,
        sh: &mut Shared,
        out: &mut Out,
    ) {
        let d = &mut self.dirs[dir.index()];
        if std::mem::take(&mut d.compressed)
            && let Some(inflater) = &mut d.inflater
        {
            inflater.abandon_message();
        }
        if let Msg::NonBinary { opcode, len, head } = std::mem::take(&mut d.msg) {
            let ev = sh.event(
                c.id,
                ctx.at,
                side,
                EventKind::WebSocket(WebSocketEvent::NonBinary {
                    opcode,
                    len,
                    head: Bytes::from(head),
                }),
            );
            out(ev);
        }
    }

    /// A compressed message's last frame ended: the inflater's rest of it is delivered.
    fn inflate_tail(
        &mut self,
        dir: Dir,
        side: Side,
        ctx: Ctx,
        c: ConnRef,
        sh: &mut Shared,
        out: &mut Out,
    ) {
        let Self { dirs, mqtt, .. } = self;
        let WsDir {
            msg,
            inflater: slot,
            ..
        } = &mut dirs[dir.index()];
        let Some(inflater) = slot.as_mut() else {
            return;
        };
        let ended = inflater.end_message(&mut |b| {
            deliver(msg, mqtt, dir, side, b, ctx, c, sh, out);
        });
        // Nothing carries over to the next message: its ~40 KB of state need not wait
        // on an idle connection.
        if inflater.resets_each_message() {
            *slot = None;
        }
        if let Err(why) = ended {
            self.inflate_failed(dir, side, &why, ctx, c, sh, out);
        }
    }

    /// A compressed message does not inflate: the window that later messages refer to is
    /// lost, so the direction is not read any further.
    #[allow(clippy::too_many_arguments)]
    fn inflate_failed(
        &mut self,
        dir: Dir,
        side: Side,
        why: &str,
        ctx: Ctx,
        c: ConnRef,
        sh: &mut Shared,
        out: &mut Out,
    ) {
        self.error(side, why, ctx, c, sh);
        self.mqtt
            .stream_end(&[dir], Some(self.client), ctx, c, sh, out);
        // What the direction sends from here is not read: its silence is not measured.
        out(sh.event(c.id, ctx.at, side, EventKind::Gap { bytes: 0 }));
        let d = &mut self.dirs[dir.index()];
        d.phase = Phase::Stopped;
        d.msg = Msg::None;
        d.compressed = false;
        d.inflater = None;
        sh.notice(
            NoticeKind::NotAnalysed,
            ctx,
            format!(
                "connection {} {}: permessage-deflate cannot be followed past a message that does not inflate; the rest of the direction is not analysed",
                c.id,
                side_name(side)
            ),
        );
        self.check_ignored(c, sh);
    }

    /// Bytes of a direction were lost: WebSocket framing is not resynchronised, the
    /// direction is not read any further.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn gap(
        &mut self,
        dir: Dir,
        bytes: u64,
        closed: bool,
        ctx: Ctx,
        c: ConnRef,
        sh: &mut Shared,
        out: &mut Out,
    ) {
        let side = self.side(dir);
        if !self.emitted
            && (side == Side::Server || !matches!(self.dirs[dir.index()].phase, Phase::Head))
        {
            self.emit_handshake(None, None, ctx, c, sh, out);
        }
        sh.stats.gaps += 1;
        sh.stats.gap_bytes += bytes;
        if let Some(info) = sh.info(c.info) {
            info.gaps += 1;
        }
        if matches!(self.dirs[dir.index()].phase, Phase::Stopped) {
            return;
        }
        // What the direction carried so far is framed as far as it goes.
        self.mqtt
            .stream_end(&[dir], Some(self.client), ctx, c, sh, out);
        if !closed {
            out(sh.event(c.id, ctx.at, side, EventKind::Gap { bytes }));
        }
        let d = &mut self.dirs[dir.index()];
        d.phase = Phase::Stopped;
        d.msg = Msg::None;
        d.inflater = None;
        sh.notice(
            NoticeKind::NotAnalysed,
            ctx,
            format!(
                "connection {} {}: {bytes} bytes lost inside the WebSocket stream; its framing is not resynchronised, the rest of the direction is not analysed",
                c.id,
                side_name(side)
            ),
        );
        self.check_ignored(c, sh);
    }

    /// Stops taking payload once neither direction is read.
    fn check_ignored(&mut self, c: ConnRef, sh: &mut Shared) {
        if !self.ignored && self.dirs.iter().all(|d| matches!(d.phase, Phase::Stopped)) {
            self.ignored = true;
            sh.ignore.push((c.slot, c.id));
        }
    }

    /// Directions ended (FIN, RST, end of tracking): the handshake is reported if it was
    /// not, what is pending is read, and the MQTT streams end.
    pub(super) fn stream_end(
        &mut self,
        dirs: &[Dir],
        ctx: Ctx,
        c: ConnRef,
        sh: &mut Shared,
        out: &mut Out,
    ) {
        if !self.emitted {
            self.emit_handshake(None, None, ctx, c, sh, out);
        }
        for &dir in dirs {
            let side = self.side(dir);
            let d = &mut self.dirs[dir.index()];
            if let (Phase::Frames, Some((remaining, len))) = (&d.phase, d.reader.inside()) {
                let what = if len == 0 && remaining == 0 {
                    "a WebSocket frame header".to_owned()
                } else {
                    format!(
                        "a WebSocket frame ({} of {len} payload bytes received)",
                        len - remaining
                    )
                };
                sh.notice(
                    NoticeKind::StreamGap,
                    ctx,
                    format!(
                        "connection {} {}: the stream ends inside {what}",
                        c.id,
                        side_name(side)
                    ),
                );
            }
            if matches!(d.phase, Phase::Frames) {
                // A message cut short is reported as far as it went.
                self.message_end(dir, side, ctx, c, sh, out);
            }
            let d = &mut self.dirs[dir.index()];
            d.phase = Phase::Stopped;
            d.inflater = None;
            if d.skipped > 0 {
                let n = std::mem::take(&mut d.skipped);
                sh.notice(
                    NoticeKind::NotAnalysed,
                    ctx,
                    format!(
                        "connection {} {}: {n} bytes of the WebSocket stream were not analysed",
                        c.id,
                        side_name(side)
                    ),
                );
            }
        }
        if self.errors > MAX_ERRORS && dirs.len() == 2 {
            sh.notice(
                NoticeKind::WebSocket,
                ctx,
                format!(
                    "connection {}: {} more WebSocket protocol errors (not listed)",
                    c.id,
                    self.errors - MAX_ERRORS
                ),
            );
            self.errors = MAX_ERRORS;
        }
        self.mqtt
            .stream_end(dirs, Some(self.client), ctx, c, sh, out);
    }
}

/// A data message's payload (inflated if it was compressed): MQTT bytes of a binary
/// message, the length and start of any other.
#[allow(clippy::too_many_arguments)]
fn deliver(
    msg: &mut Msg,
    mqtt: &mut MqttConn,
    dir: Dir,
    side: Side,
    p: &[u8],
    ctx: Ctx,
    c: ConnRef,
    sh: &mut Shared,
    out: &mut Out,
) {
    match msg {
        Msg::Binary => mqtt.data(dir, side, p, ctx, c, sh, out),
        Msg::NonBinary { len, head, .. } => {
            *len += p.len() as u64;
            let n = (WebSocketEvent::HEAD - head.len().min(WebSocketEvent::HEAD)).min(p.len());
            head.extend_from_slice(&p[..n]);
        }
        Msg::None => {}
    }
}
