//! Framing: TLS records out of a direction's byte stream, handshake messages out of
//! the handshake records.

use super::*;

/// Cuts a direction's byte stream into TLS records, in any chunking: hands out each
/// record's header once its five bytes are in, then its body bytes as they arrive
/// (the caller decides what to keep). Both the connection classifier's hello reader and
/// the decryptor frame records with it.
#[derive(Debug, Default)]
pub(crate) struct RecordFramer {
    header: [u8; HEADER],
    header_len: usize,
    /// Body bytes of the current record still to come.
    body_left: usize,
}

/// A piece of the record stream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RecordPiece<'a> {
    /// A record header, complete: type, version, length.
    Header([u8; HEADER]),
    /// The next bytes of the current record's body.
    Body(&'a [u8]),
}

impl RecordFramer {
    /// Takes the next piece off `data`; `None` once `data` is used up without
    /// completing one (a header's first bytes are kept for the next call).
    pub(crate) fn next<'a>(&mut self, data: &mut &'a [u8]) -> Option<RecordPiece<'a>> {
        if self.body_left > 0 {
            if data.is_empty() {
                return None;
            }
            let (body, rest) = data.split_at(self.body_left.min(data.len()));
            self.body_left -= body.len();
            *data = rest;
            return Some(RecordPiece::Body(body));
        }
        let n = (HEADER - self.header_len).min(data.len());
        self.header[self.header_len..self.header_len + n].copy_from_slice(&data[..n]);
        self.header_len += n;
        *data = &data[n..];
        if self.header_len < HEADER {
            return None;
        }
        self.header_len = 0;
        self.body_left = record_len(&self.header);
        Some(RecordPiece::Header(self.header))
    }

    /// Whether the record whose header was last handed out has all its body.
    pub(crate) fn record_complete(&self) -> bool {
        self.body_left == 0
    }
}

/// Cuts a direction's handshake stream (plaintext or decrypted) into messages; keeps
/// the content of those that matter only, skips over the others whatever their size.
#[derive(Default)]
pub(super) struct HandshakeReader {
    header: [u8; 4],
    header_len: usize,
    /// Body bytes of the current message still to come.
    left: usize,
    keep: bool,
    body: Vec<u8>,
    /// The previous call returned a complete message: start afresh.
    complete: bool,
}

impl HandshakeReader {
    /// Takes bytes off `data`; returns the type and kept body of a message once complete.
    pub(super) fn next(&mut self, data: &mut &[u8]) -> Result<Option<(u8, &[u8])>, StopReason> {
        if self.complete {
            self.complete = false;
            self.header_len = 0;
            self.body.clear();
        }
        if self.header_len < 4 {
            let n = (4 - self.header_len).min(data.len());
            self.header[self.header_len..self.header_len + n].copy_from_slice(&data[..n]);
            self.header_len += n;
            *data = &data[n..];
            if self.header_len < 4 {
                return Ok(None);
            }
            let [ty, l0, l1, l2] = self.header;
            self.left = usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2);
            self.keep = matches!(
                ty,
                HS_CLIENT_HELLO | HS_SERVER_HELLO | HS_ENCRYPTED_EXTENSIONS | HS_KEY_UPDATE
            );
            if self.keep && self.left > MAX_KEPT_MESSAGE {
                return Err(StopReason::Malformed(format!(
                    "a handshake message of type {ty} claims {} bytes",
                    self.left
                )));
            }
        }
        let n = self.left.min(data.len());
        if self.keep {
            self.body.extend_from_slice(&data[..n]);
        }
        self.left -= n;
        *data = &data[n..];
        if self.left > 0 {
            return Ok(None);
        }
        self.complete = true;
        Ok(Some((self.header[0], &self.body)))
    }

    /// Whether a message is partly read.
    pub(super) fn partial(&self) -> bool {
        !self.complete && self.header_len > 0
    }
}

/// The body length a complete record header claims.
pub(super) fn record_len(header: &[u8]) -> usize {
    match header {
        [_, _, _, hi, lo, ..] => usize::from(u16::from_be_bytes([*hi, *lo])),
        _ => 0,
    }
}

/// Checks a record header: a known content type, a TLS version, a sane length.
pub(super) fn check_header(header: &[u8]) -> Result<(), StopReason> {
    let &[ty, major, minor, ..] = header else {
        return Err(StopReason::Malformed("record header cut short".into()));
    };
    if !(CT_CHANGE_CIPHER_SPEC..=CT_HEARTBEAT).contains(&ty) || major != 3 || minor > 4 {
        return Err(StopReason::Malformed(format!(
            "not a TLS record header (type {ty}, version {major}.{minor})"
        )));
    }
    let length = record_len(header);
    if length > MAX_RECORD {
        return Err(StopReason::TooLarge { length });
    }
    Ok(())
}
