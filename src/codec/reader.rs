//! A bounds-checked cursor over one packet, reporting errors at byte offsets.

use super::error::{DecodeError, Violation};
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

    /// The rest of the packet.
    pub(crate) fn rest(&mut self) -> Bytes {
        let b = self.frame.slice(self.pos..self.end);
        self.pos = self.end;
        b
    }

    /// Binary Data: a two-byte length and that many bytes.
    pub(crate) fn binary(&mut self, field: &'static str) -> Result<Bytes, DecodeError> {
        let len = self.u16(field)?;
        self.take(usize::from(len), field)
    }

    /// A UTF-8 Encoded String: well-formed, no U+0000.
    pub(crate) fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let len = usize::from(self.u16(field)?);
        self.need(len, field)?;
        let start = self.pos;
        let raw = &self.frame[start..start + len];
        // One branch-free pass (vectorised by the compiler) answers the common case: every
        // byte in 1..=127 means ASCII without U+0000, which is valid UTF-8 as it stands.
        let outside_1_to_127 = raw
            .iter()
            .fold(0u8, |acc, &b| acc | ((b | b.wrapping_sub(1)) & 0x80));
        if outside_1_to_127 != 0 {
            std::str::from_utf8(raw).map_err(|e| {
                self.err_at(Violation::InvalidUtf8 { field }, start + e.valid_up_to())
            })?;
            if let Some(i) = raw.iter().position(|&b| b == 0) {
                return Err(self.err_at(Violation::NullCharacter { field }, start + i));
            }
        }
        self.pos += len;
        // Validated above (ASCII, or checked UTF-8), so this conversion cannot fail.
        String::from_utf8(raw.to_vec()).map_err(|e| {
            self.err_at(
                Violation::InvalidUtf8 { field },
                start + e.utf8_error().valid_up_to(),
            )
        })
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
