//! WebSocket's permessage-deflate (RFC 7692) as a capture shows it: what the server's
//! answer accepted, and a streaming inflater for one direction's compressed messages
//! whose memory does not depend on how far a message inflates.

use flate2::{Decompress, FlushDecompress, Status};

/// The tail a sender removes from each compressed message and a receiver puts back
/// (RFC 7692 §7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Inflated bytes handed on at a time.
const CHUNK: usize = 8 * 1024;

/// Largest inflated size of one message read; beyond it the direction is not followed
/// (no MQTT packet is larger than 256 MiB, and a message holding several of that size
/// is a decompression bomb rather than traffic).
pub(crate) const MAX_MESSAGE: u64 = 512 * 1024 * 1024;

/// What the server accepted of permessage-deflate (the parameters that matter to a
/// reader: whether each sender starts every message with an empty window).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Deflate {
    /// `server_no_context_takeover`: the server's messages are compressed independently.
    pub(crate) server_no_context_takeover: bool,
    /// `client_no_context_takeover`: the client's messages are compressed independently.
    pub(crate) client_no_context_takeover: bool,
}

/// Reads a `Sec-WebSocket-Extensions` value (a response's: what the server accepted; a
/// request's: what the client offers): permessage-deflate's first element, if any, and the
/// names of the other extensions.
pub(crate) fn accepted(value: &str) -> (Option<Deflate>, Vec<String>) {
    let mut deflate = None;
    let mut others = Vec::new();
    for element in value.split(',') {
        let mut params = element.split(';').map(str::trim);
        let name = params.next().unwrap_or_default();
        if name.is_empty() {
            continue;
        }
        if !name.eq_ignore_ascii_case("permessage-deflate") || deflate.is_some() {
            others.push(name.to_owned());
            continue;
        }
        let mut d = Deflate::default();
        for param in params {
            let key = param.split('=').next().unwrap_or_default().trim();
            if key.eq_ignore_ascii_case("server_no_context_takeover") {
                d.server_no_context_takeover = true;
            } else if key.eq_ignore_ascii_case("client_no_context_takeover") {
                d.client_no_context_takeover = true;
            }
        }
        deflate = Some(d);
    }
    (deflate, others)
}

/// One direction's compressed messages, inflated as their bytes come.
pub(crate) struct Inflater {
    z: Decompress,
    /// Each message starts with an empty window (`*_no_context_takeover`).
    reset_each_message: bool,
    /// Inflated bytes of the message in progress.
    message_out: u64,
    /// Largest inflated size of a message ([`MAX_MESSAGE`]).
    limit: u64,
    /// A message was cut short while the window carries over: what follows refers to
    /// bytes that were never read.
    window_lost: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("reset_each_message", &self.reset_each_message)
            .field("message_out", &self.message_out)
            .finish_non_exhaustive()
    }
}

impl Inflater {
    /// An inflater for a sender that does (`false`) or does not (`true`) keep its window
    /// from message to message.
    pub(crate) fn new(reset_each_message: bool) -> Self {
        Self {
            // Raw DEFLATE; a 15-bit window reads what any smaller window wrote.
            z: Decompress::new(false),
            reset_each_message,
            message_out: 0,
            limit: MAX_MESSAGE,
            window_lost: false,
        }
    }

    /// Inflates more of the message in progress, handing the output to `sink` in pieces.
    pub(crate) fn feed(&mut self, input: &[u8], sink: &mut dyn FnMut(&[u8])) -> Result<(), String> {
        if self.window_lost {
            return Err(
                "a compressed message follows one cut short, and its window is lost".to_owned(),
            );
        }
        let mut input = input;
        let mut buf = [0u8; CHUNK];
        loop {
            let (in_before, out_before) = (self.z.total_in(), self.z.total_out());
            let status = self
                .z
                .decompress(input, &mut buf, FlushDecompress::Sync)
                .map_err(|e| format!("a compressed message does not inflate ({e})"))?;
            let used = (self.z.total_in() - in_before) as usize;
            let made = (self.z.total_out() - out_before) as usize;
            input = &input[used..];
            if made > 0 {
                self.message_out += made as u64;
                if self.message_out > self.limit {
                    return Err(format!(
                        "a compressed message inflates beyond {} MiB",
                        self.limit >> 20
                    ));
                }
                sink(&buf[..made]);
            }
            if status == Status::StreamEnd {
                // A block with BFINAL set ends the DEFLATE stream; what follows starts a
                // new one (RFC 7692 §7.2.3.3).
                self.z.reset(false);
            }
            let full = made == buf.len();
            if !full && (input.is_empty() || (used == 0 && made == 0)) {
                if !input.is_empty() {
                    return Err("a compressed message does not inflate (no progress)".to_owned());
                }
                return Ok(());
            }
        }
    }

    /// The message's last frame ended: its removed tail is put back, and the window kept
    /// or dropped for the next message.
    pub(crate) fn end_message(&mut self, sink: &mut dyn FnMut(&[u8])) -> Result<(), String> {
        let result = self.feed(&TAIL, sink);
        self.message_out = 0;
        if self.reset_each_message {
            self.z.reset(false);
        }
        result
    }

    /// A message was cut short (a new message started before it ended, a gap, the
    /// stream's end): nothing more of it is read. Where each message starts afresh the
    /// next one can still be read; where the window carries over it cannot.
    pub(crate) fn abandon_message(&mut self) {
        self.message_out = 0;
        if self.reset_each_message {
            self.z.reset(false);
        } else {
            self.window_lost = true;
        }
    }

    /// Each message starts with an empty window: nothing needs keeping between messages.
    pub(crate) fn resets_each_message(&self) -> bool {
        self.reset_each_message
    }
}

/// The first bytes (up to `want`) `compressed`, the start of a message, inflates to;
/// used to decide whether a connection's first message is a CONNECT.
pub(crate) fn first_bytes(compressed: &[u8], want: usize) -> Vec<u8> {
    let mut z = Decompress::new(false);
    let mut out = vec![0u8; want];
    // An error or too little input leaves fewer bytes: the caller decides on what came.
    let _ = z.decompress(compressed, &mut out, FlushDecompress::Sync);
    out.truncate(z.total_out() as usize);
    out
}

/// One message compressed as an RFC 7692 sender does: a sync flush, its four-byte tail
/// removed (the window kept in `z` for the next).
#[cfg(test)]
pub(crate) fn deflate_message(z: &mut flate2::Compress, m: &[u8]) -> Vec<u8> {
    use flate2::FlushCompress;
    let mut out = Vec::with_capacity(m.len() + 64);
    let start = z.total_in();
    loop {
        let used = (z.total_in() - start) as usize;
        z.compress_vec(&m[used..], &mut out, FlushCompress::Sync)
            .expect("compresses");
        // Done when all of it went in and the flush's empty stored block came out.
        if (z.total_in() - start) as usize == m.len() && out.ends_with(&TAIL) {
            break;
        }
        out.reserve(out.capacity().max(64));
    }
    out.truncate(out.len() - TAIL.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compress, Compression};

    /// Compresses messages the way RFC 7692 senders do; `takeover`: one compressor for
    /// all.
    fn compress(messages: &[&[u8]], takeover: bool) -> Vec<Vec<u8>> {
        let mut z = Compress::new(Compression::default(), false);
        messages
            .iter()
            .map(|m| {
                if !takeover {
                    z.reset();
                }
                deflate_message(&mut z, m)
            })
            .collect()
    }

    fn inflate_all(inf: &mut Inflater, pieces: &[&[u8]]) -> Vec<u8> {
        let mut got = Vec::new();
        for p in pieces {
            inf.feed(p, &mut |b| got.extend_from_slice(b)).unwrap();
        }
        inf.end_message(&mut |b| got.extend_from_slice(b)).unwrap();
        got
    }

    #[test]
    fn the_accepted_parameters_are_read() {
        assert_eq!(
            accepted("permessage-deflate; client_max_window_bits=10; server_no_context_takeover"),
            (
                Some(Deflate {
                    server_no_context_takeover: true,
                    client_no_context_takeover: false,
                }),
                vec![]
            )
        );
        assert_eq!(
            accepted("x-webkit-deflate-frame, permessage-deflate;client_no_context_takeover"),
            (
                Some(Deflate {
                    server_no_context_takeover: false,
                    client_no_context_takeover: true,
                }),
                vec!["x-webkit-deflate-frame".to_owned()]
            )
        );
        assert_eq!(accepted("foo"), (None, vec!["foo".to_owned()]));
    }

    #[test]
    fn messages_inflate_across_any_split_with_the_window_kept() {
        let first = b"\x30\x0f\x00\x03a/bhello world hello".repeat(3);
        let second = b"\x30\x0f\x00\x03a/bhello world hello".repeat(2);
        let packed = compress(&[&first, &second], true);
        for split in 0..packed[0].len() {
            let mut inf = Inflater::new(false);
            let (a, b) = packed[0].split_at(split);
            assert_eq!(inflate_all(&mut inf, &[a, b]), first, "split at {split}");
            // The second message refers back into the first's window.
            assert_eq!(inflate_all(&mut inf, &[&packed[1]]), second);
        }
    }

    #[test]
    fn without_context_takeover_each_message_stands_alone() {
        let m = b"the same words, the same words".to_vec();
        let packed = compress(&[&m, &m], false);
        let mut inf = Inflater::new(true);
        assert_eq!(inflate_all(&mut inf, &[&packed[0]]), m);
        assert_eq!(inflate_all(&mut inf, &[&packed[1]]), m);
    }

    #[test]
    fn a_message_cut_short_is_survived_only_without_context_takeover() {
        let m = b"a message long enough to be compressed in more than one piece".to_vec();
        for reset in [true, false] {
            let packed = compress(&[&m, &m], !reset);
            let mut inf = Inflater::new(reset);
            inf.feed(&packed[0][..packed[0].len() / 2], &mut |_| {})
                .unwrap();
            inf.abandon_message();
            let next = inf.feed(&packed[1], &mut |_| {});
            if reset {
                next.unwrap();
            } else {
                assert!(next.unwrap_err().contains("its window is lost"));
            }
        }
    }

    #[test]
    fn garbage_is_an_error_and_a_bomb_stops_at_the_limit() {
        let mut inf = Inflater::new(false);
        let err = inf.feed(&[0xff; 16], &mut |_| {}).unwrap_err();
        assert!(
            err.starts_with("a compressed message does not inflate"),
            "{err}"
        );

        // One message of 12 MiB of zeros against a 10 MiB limit: handed on a chunk at a
        // time, cut at the limit.
        let bomb = deflate_message(
            &mut Compress::new(Compression::best(), false),
            &vec![0u8; 12 << 20],
        );
        assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
        let mut inf = Inflater::new(false);
        inf.limit = 10 << 20;
        let mut largest = 0;
        let mut total = 0u64;
        let err = inf
            .feed(&bomb, &mut |b| {
                largest = largest.max(b.len());
                total += b.len() as u64;
            })
            .unwrap_err();
        assert!(err.contains("inflates beyond 10 MiB"), "{err}");
        assert!(total <= inf.limit && total > inf.limit - CHUNK as u64 && largest <= CHUNK);
    }

    #[test]
    fn the_first_bytes_of_a_compressed_message_are_seen() {
        let connect = b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04dev1";
        let packed = compress(&[connect], true);
        assert_eq!(first_bytes(&packed[0], 8), connect[..8]);
        assert!(first_bytes(&packed[0][..1], 8).len() < 8);
    }
}
