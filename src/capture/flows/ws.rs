//! WebSocket (RFC 6455) as a capture shows it: the HTTP upgrade's request and response
//! heads, and a streaming frame reader whose memory does not depend on what a frame
//! header claims (payloads pass through in the pieces the stream brings them in).

/// Longest HTTP head (request or response) read; a longer one is not a WebSocket upgrade
/// this analysis follows.
pub(crate) const MAX_HEAD: usize = 8 * 1024;

/// Bytes of a client's stream held while deciding whether it is MQTT over WebSocket: the
/// request head and the start of its first frames.
pub(crate) const DECIDE_HOLD: usize = MAX_HEAD + 256;

/// Largest payload of a control frame (RFC 6455 §5.5).
pub(crate) const MAX_CONTROL: u64 = 125;

/// The RSV1 bit of [`FrameHead::rsv`]: a compressed message's first frame under
/// permessage-deflate.
pub(crate) const RSV1: u8 = 0b100;

/// Opcodes.
pub(crate) mod opcode {
    pub(crate) const CONTINUATION: u8 = 0x0;
    pub(crate) const BINARY: u8 = 0x2;
    pub(crate) const CLOSE: u8 = 0x8;
    pub(crate) const PONG: u8 = 0xA;
}

/// Where an HTTP head ends (the offset after its blank line), when `buf` holds it all.
/// `from`: bytes already known not to hold the end (they are looked at again from three
/// before it).
pub(crate) fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(3);
    buf.get(start..)?
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| start + i + 4)
}

/// What an HTTP request head says about a WebSocket upgrade.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Request {
    /// The method is GET.
    pub(crate) get: bool,
    /// The request target (`/mqtt`).
    pub(crate) path: String,
    /// An `Upgrade` header names `websocket`.
    pub(crate) upgrade: bool,
    /// The subprotocols offered (every `Sec-WebSocket-Protocol` header, in order).
    pub(crate) offered: Vec<String>,
    /// permessage-deflate is among the extensions offered.
    pub(crate) offers_deflate: bool,
}

impl Request {
    /// The client offers MQTT's subprotocol (`mqtt`, or 3.1's `mqttv3.1`).
    pub(crate) fn offers_mqtt(&self) -> bool {
        self.offered
            .iter()
            .any(|p| p.eq_ignore_ascii_case("mqtt") || p.eq_ignore_ascii_case("mqttv3.1"))
    }
}

/// What an HTTP response head says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Response {
    /// The status code (0 when the status line does not parse).
    pub(crate) status: u16,
    /// The subprotocol selected (`Sec-WebSocket-Protocol`).
    pub(crate) selected: Option<String>,
    /// permessage-deflate, when the server accepted it.
    pub(crate) deflate: Option<super::ws_inflate::Deflate>,
    /// Other extensions the server accepted (`Sec-WebSocket-Extensions`), by name.
    pub(crate) other_extensions: Vec<String>,
}

/// The lines of a head (without the blank line), `\r\n` or `\n` separated.
fn lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    head.split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .take_while(|l| !l.is_empty())
}

/// A header line's name and trimmed value.
fn header(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = line.iter().position(|b| *b == b':')?;
    Some((line[..colon].trim_ascii(), line[colon + 1..].trim_ascii()))
}

/// Comma-separated tokens of a header value.
fn tokens(value: &[u8]) -> impl Iterator<Item = String> + '_ {
    value
        .split(|b| *b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
        .map(|t| String::from_utf8_lossy(t).into_owned())
}

/// Reads a request head (the bytes up to its blank line).
pub(crate) fn parse_request(head: &[u8]) -> Request {
    let mut lines = lines(head);
    let mut req = Request::default();
    if let Some(first) = lines.next() {
        let mut parts = first.split(|b| *b == b' ').filter(|p| !p.is_empty());
        req.get = parts.next() == Some(b"GET");
        req.path = parts
            .next()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_default();
    }
    for (name, value) in lines.filter_map(header) {
        if name.eq_ignore_ascii_case(b"upgrade") {
            req.upgrade |= tokens(value).any(|t| t.eq_ignore_ascii_case("websocket"));
        } else if name.eq_ignore_ascii_case(b"sec-websocket-protocol") {
            req.offered.extend(tokens(value));
        } else if name.eq_ignore_ascii_case(b"sec-websocket-extensions") {
            let (deflate, _) = super::ws_inflate::accepted(&String::from_utf8_lossy(value));
            req.offers_deflate |= deflate.is_some();
        }
    }
    req
}

/// Reads a response head (the bytes up to its blank line).
pub(crate) fn parse_response(head: &[u8]) -> Response {
    let mut lines = lines(head);
    let mut resp = Response::default();
    if let Some(first) = lines.next() {
        let mut parts = first.split(|b| *b == b' ').filter(|p| !p.is_empty());
        if parts.next().is_some_and(|v| v.starts_with(b"HTTP/")) {
            resp.status = parts
                .next()
                .and_then(|s| std::str::from_utf8(s).ok())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
        }
    }
    for (name, value) in lines.filter_map(header) {
        if name.eq_ignore_ascii_case(b"sec-websocket-protocol") {
            resp.selected = tokens(value).next();
        } else if name.eq_ignore_ascii_case(b"sec-websocket-extensions") {
            let (deflate, others) = super::ws_inflate::accepted(&String::from_utf8_lossy(value));
            resp.deflate = resp.deflate.or(deflate);
            resp.other_extensions.extend(others);
        }
    }
    resp
}

/// A frame's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameHead {
    /// The last frame of its message.
    pub(crate) fin: bool,
    /// RSV1..3 (bits 2, 1, 0).
    pub(crate) rsv: u8,
    pub(crate) opcode: u8,
    /// The masking key, when the frame is masked.
    pub(crate) mask: Option<[u8; 4]>,
    /// The payload length.
    pub(crate) len: u64,
    /// The length was not written in its shortest form, or a 64-bit length had its most
    /// significant bit set.
    pub(crate) bad_length: bool,
}

impl FrameHead {
    /// A control frame (close, ping, pong, reserved control opcodes).
    pub(crate) fn is_control(&self) -> bool {
        self.opcode & 0x8 != 0
    }

    /// Reads a header from the start of `b`: `Ok(Some((head, header length)))`, or
    /// `Ok(None)` when more bytes are needed (`Err(n)`: `n` bytes in all are).
    pub(crate) fn parse(b: &[u8]) -> Result<(Self, usize), usize> {
        let (Some(&b0), Some(&b1)) = (b.first(), b.get(1)) else {
            return Err(2);
        };
        let masked = b1 & 0x80 != 0;
        let len7 = b1 & 0x7F;
        let ext = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let total = 2 + ext + if masked { 4 } else { 0 };
        if b.len() < total {
            return Err(total);
        }
        let (len, bad_length) = match ext {
            2 => {
                let l = u64::from(u16::from_be_bytes([b[2], b[3]]));
                (l, l < 126)
            }
            8 => {
                let mut x = [0u8; 8];
                x.copy_from_slice(&b[2..10]);
                let l = u64::from_be_bytes(x);
                (l, l <= 0xFFFF || l >> 63 != 0)
            }
            _ => (u64::from(len7), false),
        };
        let mask = masked.then(|| {
            let m = &b[2 + ext..2 + ext + 4];
            [m[0], m[1], m[2], m[3]]
        });
        Ok((
            Self {
                fin: b0 & 0x80 != 0,
                rsv: (b0 >> 4) & 0x7,
                opcode: b0 & 0x0F,
                mask,
                len,
                bad_length,
            },
            total,
        ))
    }
}

/// `bytes` are whole control frames (Close, Ping, Pong, each of at most 125 bytes), and at
/// least one.
pub(crate) fn only_control_frames(bytes: &[u8]) -> bool {
    let mut rest = bytes;
    while !rest.is_empty() {
        let Ok((head, hl)) = FrameHead::parse(rest) else {
            return false;
        };
        let control = head.is_control() && head.opcode <= opcode::PONG && head.len <= MAX_CONTROL;
        let Some(len) = usize::try_from(head.len)
            .ok()
            .filter(|l| control && hl + l <= rest.len())
        else {
            return false;
        };
        rest = &rest[hl + len..];
    }
    !bytes.is_empty()
}

/// XORs `data` with `mask`, starting `offset` bytes into the payload.
pub(crate) fn unmask(data: &mut [u8], mask: [u8; 4], offset: u64) {
    let r = (offset % 4) as usize;
    let m = [
        mask[r],
        mask[(r + 1) % 4],
        mask[(r + 2) % 4],
        mask[(r + 3) % 4],
    ];
    let word = u64::from_ne_bytes([m[0], m[1], m[2], m[3], m[0], m[1], m[2], m[3]]);
    let mut chunks = data.chunks_exact_mut(8);
    for c in &mut chunks {
        let mut x = [0u8; 8];
        x.copy_from_slice(c);
        c.copy_from_slice(&(u64::from_ne_bytes(x) ^ word).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= m[i % 4];
    }
}

/// What a [`FrameReader`] hands out, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// A frame starts.
    Head(FrameHead),
    /// Some of its payload, unmasked.
    Payload(&'a [u8]),
    /// The frame ended.
    End,
}

/// Reads one direction's frames as the stream brings its bytes.
#[derive(Debug, Default)]
pub(crate) struct FrameReader {
    /// A header being gathered.
    hdr: [u8; 14],
    hdr_len: usize,
    /// The frame whose payload is being read, and its payload bytes still to come.
    cur: Option<(FrameHead, u64)>,
    /// Payload bytes of the current frame read so far (the mask's phase).
    offset: u64,
}

impl FrameReader {
    /// The next piece out of `data` (consuming what it used), or `None` when `data` is
    /// used up. A masked payload is unmasked into `scratch`.
    pub(crate) fn next<'s, 'd: 's>(
        &mut self,
        data: &mut &'d [u8],
        scratch: &'s mut Vec<u8>,
    ) -> Option<Piece<'s>> {
        if let Some((head, remaining)) = &mut self.cur {
            if *remaining == 0 {
                self.cur = None;
                return Some(Piece::End);
            }
            if data.is_empty() {
                return None;
            }
            let n = usize::try_from(*remaining).map_or(data.len(), |r| r.min(data.len()));
            let (chunk, rest) = data.split_at(n);
            *data = rest;
            *remaining -= n as u64;
            let offset = self.offset;
            self.offset += n as u64;
            return Some(Piece::Payload(match head.mask {
                Some(mask) => {
                    scratch.clear();
                    scratch.extend_from_slice(chunk);
                    unmask(scratch, mask, offset);
                    scratch
                }
                None => chunk,
            }));
        }
        // Gather the header (at most 14 bytes) a byte range at a time.
        loop {
            match FrameHead::parse(&self.hdr[..self.hdr_len]) {
                Ok((head, _)) => {
                    self.hdr_len = 0;
                    self.offset = 0;
                    self.cur = Some((head, head.len));
                    return Some(Piece::Head(head));
                }
                Err(need) => {
                    if data.is_empty() {
                        return None;
                    }
                    let n = (need - self.hdr_len).min(data.len());
                    self.hdr[self.hdr_len..self.hdr_len + n].copy_from_slice(&data[..n]);
                    self.hdr_len += n;
                    *data = &data[n..];
                }
            }
        }
    }

    /// Inside a frame (or its header): how many of its payload bytes are still to come,
    /// and its length; `None` at a frame boundary.
    pub(crate) fn inside(&self) -> Option<(u64, u64)> {
        match &self.cur {
            Some((head, remaining)) => Some((*remaining, head.len)),
            None if self.hdr_len > 0 => Some((0, 0)),
            None => None,
        }
    }
}

/// How a client's first bytes, an HTTP request, decide a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WsLook {
    /// More bytes are needed.
    NeedMore,
    /// A WebSocket upgrade offering MQTT's subprotocol.
    Subprotocol,
    /// A WebSocket upgrade; MQTT is decided by the port.
    Upgrade,
    /// A WebSocket upgrade whose first binary message starts like a CONNECT.
    Connect,
    /// Not MQTT over WebSocket.
    No,
}

/// Decides from the first bytes a client sent (`prefix`, at most [`DECIDE_HOLD`]) whether
/// they are an HTTP WebSocket upgrade carrying MQTT; `ended` when no more will come;
/// `port_match`: the connection is on an MQTT port (an upgrade is then enough).
pub(crate) fn decide(prefix: &[u8], ended: bool, port_match: bool) -> WsLook {
    let full = ended || prefix.len() >= DECIDE_HOLD;
    let Some(end) = head_end(prefix, 0).filter(|e| *e <= MAX_HEAD) else {
        return if full || prefix.len() >= MAX_HEAD {
            WsLook::No
        } else {
            WsLook::NeedMore
        };
    };
    let req = parse_request(&prefix[..end]);
    if !req.get || !req.upgrade {
        return WsLook::No;
    }
    if req.offers_mqtt() {
        return WsLook::Subprotocol;
    }
    if port_match {
        return WsLook::Upgrade;
    }
    // The client's first data frame (control frames skipped).
    let mut pos = end;
    loop {
        let rest = &prefix[pos..];
        let (head, hl) = match FrameHead::parse(rest) {
            Ok(h) => h,
            Err(_) if full => return WsLook::Upgrade,
            Err(_) => return WsLook::NeedMore,
        };
        if head.is_control() {
            match usize::try_from(head.len) {
                Ok(len) if head.len <= MAX_CONTROL => {
                    pos += hl + len;
                    if pos > prefix.len() {
                        return if full {
                            WsLook::Upgrade
                        } else {
                            WsLook::NeedMore
                        };
                    }
                    continue;
                }
                _ => return WsLook::Upgrade,
            }
        }
        if head.opcode != opcode::BINARY {
            return WsLook::Upgrade;
        }
        let avail = &rest[hl..];
        let n = avail
            .len()
            .min(16)
            .min(usize::try_from(head.len).unwrap_or(usize::MAX));
        let whole = n as u64 == head.len;
        let mut first = avail[..n].to_vec();
        if let Some(mask) = head.mask {
            unmask(&mut first, mask, 0);
        }
        if head.rsv & RSV1 != 0 {
            // Compressed (permessage-deflate): its start, inflated, is what is looked at.
            let n = avail
                .len()
                .min(usize::try_from(head.len).unwrap_or(usize::MAX));
            let mut packed = avail[..n].to_vec();
            if let Some(mask) = head.mask {
                unmask(&mut packed, mask, 0);
            }
            first = super::ws_inflate::first_bytes(&packed, 16);
        }
        return match super::conn::look(&first, full || whole) {
            super::conn::Look::Connect => WsLook::Connect,
            super::conn::Look::NeedMore | super::conn::Look::Empty if !full => WsLook::NeedMore,
            _ => WsLook::Upgrade,
        };
    }
}
