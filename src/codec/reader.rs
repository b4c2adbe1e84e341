//! A bounds-checked cursor over one packet, reporting errors at byte offsets.

use super::bytestr::{ByteStr, ascii_str};
use super::error::{DecodeError, Violation};
use super::topic::check_topic_name;
use super::version::ProtocolVersion;
use bytes::Bytes;

/// Reads the fields of one packet; positions are offsets from the packet's first byte.
pub(crate) struct Reader<'a> {
    frame: &'a Bytes,
    pos: usize,
    end: usize,
    pub(crate) version: ProtocolVersion,
}

impl<'a> Reader<'a> {
    /// A reader over `frame[start..end]`.
    pub(crate) fn new(frame: &'a Bytes, start: usize, version: ProtocolVersion) -> Self {
        Self {
            frame,
            pos: start,
            end: frame.len(),
            version,
        }
    }

    /// The current offset.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left before the end of the packet.
    pub(crate) fn remaining(&self) -> usize {
        self.end - self.pos
    }

    /// An error at the current offset.
    pub(crate) fn err(&self, violation: Violation) -> DecodeError {
        DecodeError::new(violation, self.pos, self.version)
    }

    /// An error at a given offset.
    pub(crate) fn err_at(&self, violation: Violation, offset: usize) -> DecodeError {
        DecodeError::new(violation, offset, self.version)
    }

    fn need(&self, n: usize, field: &'static str) -> Result<(), DecodeError> {
        if self.remaining() < n {
            Err(self.err(Violation::Truncated { field }))
        } else {
            Ok(())
        }
    }

    /// One byte.
    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        self.need(1, field)?;
        let b = self.frame[self.pos];
        self.pos += 1;
        Ok(b)
    }

    /// A big-endian two-byte integer.
    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        self.need(2, field)?;
        let v = u16::from_be_bytes([self.frame[self.pos], self.frame[self.pos + 1]]);
        self.pos += 2;
        Ok(v)
    }

    /// A big-endian four-byte integer.
    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        self.need(4, field)?;
        let b = &self.frame[self.pos..self.pos + 4];
        let v = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        self.pos += 4;
        Ok(v)
    }

    /// A Variable Byte Integer (at most four bytes, minimally encoded).
    pub(crate) fn varint(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        let start = self.pos;
        match super::varint::decode(&self.frame[self.pos..self.end]) {
            Ok(Some((value, used))) => {
                self.pos += used;
                Ok(value)
            }
            Ok(None) => Err(self.err(Violation::Truncated { field })),
            Err(v) => Err(self.err_at(v, start)),
        }
    }

    /// `n` raw bytes, shared with the frame (no copy).
    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<Bytes, DecodeError> {
        self.need(n, field)?;
        let b = self.frame.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(b)
    }

    /// Binary Data: a two-byte length and that many bytes.
    pub(crate) fn binary(&mut self, field: &'static str) -> Result<Bytes, DecodeError> {
        let len = self.u16(field)?;
        self.take(usize::from(len), field)
    }

    /// A UTF-8 Encoded String: well-formed, no U+0000; borrowed from the frame.
    pub(crate) fn str(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        let len = usize::from(self.u16(field)?);
        self.need(len, field)?;
        let start = self.pos;
        let frame: &'a Bytes = self.frame;
        let raw = &frame[start..start + len];
        // The common case first: ASCII without U+0000 is valid as it stands.
        let s = match ascii_str::<false>(raw) {
            Some(s) => s,
            None => self.checked_str(raw, start, field)?,
        };
        self.pos += len;
        Ok(s)
    }

    /// A Topic Name: a UTF-8 Encoded String (sharing the frame's memory) without
    /// wildcards. The caller checks emptiness, which 5.0 topic aliases allow.
    pub(crate) fn topic_name(&mut self, field: &'static str) -> Result<ByteStr, DecodeError> {
        let at = self.pos;
        let len = usize::from(self.u16(field)?);
        self.need(len, field)?;
        let start = self.pos;
        let frame: &'a Bytes = self.frame;
        let raw = &frame[start..start + len];
        // One pass for the common case; the checks one by one, in order, otherwise.
        let s = match ascii_str::<true>(raw) {
            Some(s) => s,
            None => {
                let s = self.checked_str(raw, start, field)?;
                check_topic_name(s).map_err(|v| self.err_at(v, at))?;
                s
            }
        };
        self.pos += len;
        Ok(ByteStr::slice_of(frame, s))
    }

    /// The full check of a string that is not plain ASCII: well-formed UTF-8 (the error
    /// at the first ill-formed byte), then no U+0000.
    #[cold]
    fn checked_str<'s>(
        &self,
        raw: &'s [u8],
        start: usize,
        field: &'static str,
    ) -> Result<&'s str, DecodeError> {
        let s = std::str::from_utf8(raw)
            .map_err(|e| self.err_at(Violation::InvalidUtf8 { field }, start + e.valid_up_to()))?;
        if let Some(i) = raw.iter().position(|&b| b == 0) {
            return Err(self.err_at(Violation::NullCharacter { field }, start + i));
        }
        Ok(s)
    }

    /// A UTF-8 Encoded String sharing the frame's memory (no copy).
    pub(crate) fn bytestr(&mut self, field: &'static str) -> Result<ByteStr, DecodeError> {
        let s = self.str(field)?;
        Ok(ByteStr::slice_of(self.frame, s))
    }

    /// A UTF-8 Encoded String as an owned `String`.
    pub(crate) fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        self.str(field).map(str::to_owned)
    }

    /// Fails with [`Violation::TrailingBytes`] when bytes remain.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(self.err(Violation::TrailingBytes { count })),
        }
    }

    /// Restricts the reader's end to `len` bytes from here (for property blocks); returns
    /// the previous end for [`Reader::restore_end`].
    pub(crate) fn limit(&mut self, len: usize, field: &'static str) -> Result<usize, DecodeError> {
        self.need(len, field)?;
        let old = self.end;
        self.end = self.pos + len;
        Ok(old)
    }

    /// Restores an end saved by [`Reader::limit`].
    pub(crate) fn restore_end(&mut self, end: usize) {
        self.end = end;
    }
}
