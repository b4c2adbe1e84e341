//! The raw builder: packets that are wrong on purpose.
//!
//! Any first byte, any Remaining Length (computed, a stated value that may lie, or exact
//! bytes that may be over-long or non-minimal), any field with any length prefix, and
//! arbitrary trailing bytes.
//!
//! ```
//! use mqtt_conform::codec::RawBuilder;
//! // A PINGREQ whose Remaining Length is encoded in five bytes.
//! let bytes = RawBuilder::new(0xC0).remaining_length_bytes(&[0x80, 0x80, 0x80, 0x80, 0x00]).build();
//! assert_eq!(bytes, [0xC0, 0x80, 0x80, 0x80, 0x80, 0x00]);
//! ```

use super::varint;

/// How the builder writes the Remaining Length.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RemainingLength {
    /// The true length of the body, minimally encoded.
    Computed,
    /// A given value, minimally encoded (values above 268,435,455 are written as five
    /// continuation-chained bytes, which no decoder should accept).
    Value(u64),
    /// These exact bytes.
    Bytes(Vec<u8>),
}

/// Builds a packet byte by byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawBuilder {
    first_byte: u8,
    remaining_length: RemainingLength,
    body: Vec<u8>,
}

impl RawBuilder {
    /// Starts a packet with this first byte (type nibble and flags).
    pub fn new(first_byte: u8) -> Self {
        Self {
            first_byte,
            remaining_length: RemainingLength::Computed,
            body: Vec::new(),
        }
    }

    /// States a Remaining Length regardless of the body (it may lie).
    pub fn remaining_length(mut self, value: u64) -> Self {
        self.remaining_length = RemainingLength::Value(value);
        self
    }

    /// Writes exactly these bytes as the Remaining Length.
    pub fn remaining_length_bytes(mut self, bytes: &[u8]) -> Self {
        self.remaining_length = RemainingLength::Bytes(bytes.to_vec());
        self
    }

    /// Appends one byte.
    pub fn byte(mut self, b: u8) -> Self {
        self.body.push(b);
        self
    }

    /// Appends raw bytes.
    pub fn bytes(mut self, b: &[u8]) -> Self {
        self.body.extend_from_slice(b);
        self
    }

    /// Appends a big-endian two-byte integer.
    pub fn u16(self, v: u16) -> Self {
        self.bytes(&v.to_be_bytes())
    }

    /// Appends a big-endian four-byte integer.
    pub fn u32(self, v: u32) -> Self {
        self.bytes(&v.to_be_bytes())
    }

    /// Appends a minimally encoded Variable Byte Integer.
    pub fn varint(mut self, v: u32) -> Self {
        varint::encode(v.min(varint::MAX), &mut self.body);
        self
    }

    /// Appends a string with its true two-byte length prefix.
    pub fn string(self, s: &str) -> Self {
        self.field(s.as_bytes())
    }

    /// Appends bytes with their true two-byte length prefix (truncated to 65,535).
    pub fn field(self, b: &[u8]) -> Self {
        let len = u16::try_from(b.len()).unwrap_or(u16::MAX);
        self.field_with_len(len, &b[..usize::from(len)])
    }

    /// Appends bytes preceded by a stated length prefix that may lie.
    pub fn field_with_len(self, len: u16, b: &[u8]) -> Self {
        self.u16(len).bytes(b)
    }

    /// Appends `n` copies of `b` (generated payloads).
    pub fn repeat(mut self, b: u8, n: usize) -> Self {
        self.body.resize(self.body.len() + n, b);
        self
    }

    /// The body written so far.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The finished packet.
    pub fn build(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 6);
        out.push(self.first_byte);
        match &self.remaining_length {
            RemainingLength::Computed => {
                varint::encode_unbounded(self.body.len() as u64, &mut out);
            }
            RemainingLength::Value(v) => varint::encode_unbounded(*v, &mut out),
            RemainingLength::Bytes(b) => out.extend_from_slice(b),
        }
        out.extend_from_slice(&self.body);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computed_stated_and_exact_lengths() {
        let p = RawBuilder::new(0x30).string("a").bytes(b"xy").build();
        assert_eq!(p, [0x30, 5, 0, 1, b'a', b'x', b'y']);
        let lying = RawBuilder::new(0x30)
            .remaining_length(200)
            .string("a")
            .build();
        assert_eq!(&lying[..3], &[0x30, 0xC8, 0x01]);
        let too_big = RawBuilder::new(0x30).remaining_length(1 << 28).build();
        assert_eq!(too_big, [0x30, 0x80, 0x80, 0x80, 0x80, 0x01]);
        let lying_prefix = RawBuilder::new(0x30).field_with_len(9, b"ab").build();
        assert_eq!(lying_prefix, [0x30, 4, 0, 9, b'a', b'b']);
    }
}
