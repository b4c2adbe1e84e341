//! [`ByteStr`]: an immutable, cheaply cloned UTF-8 string that can share a frame's memory.
//!
//! The decoder hands out the topic of every PUBLISH and every 5.0 property string as a
//! `ByteStr` sliced from the frame it read, so it copies none of them and allocates
//! nothing for them.

use bytes::Bytes;
use serde::{Serialize, Serializer};
use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::str::Utf8Error;

/// An immutable UTF-8 string backed by [`Bytes`]: clones share memory, and a string
/// decoded from a packet shares the packet's.
///
/// **Invariant:** the bytes are always valid UTF-8. Every constructor guarantees it: each
/// takes a `&str` or `String` (valid by type), or validates with [`std::str::from_utf8`]
/// ([`ByteStr::try_from`] on `Bytes`), and [`ByteStr::slice_of`] keeps exactly the bytes
/// of a `&str`. The bytes are never mutated after construction.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteStr(Bytes);

impl ByteStr {
    /// The empty string.
    pub const fn new() -> Self {
        Self(Bytes::new())
    }

    /// A string over static memory, without copying or allocating.
    pub const fn from_static(s: &'static str) -> Self {
        Self(Bytes::from_static(s.as_bytes()))
    }

    /// `s`, which must lie inside `buf`, as a `ByteStr` sharing `buf`'s memory (no copy).
    ///
    /// # Panics
    ///
    /// When `s` is not a sub-slice of `buf` (as [`Bytes::slice_ref`] does).
    pub fn slice_of(buf: &Bytes, s: &str) -> Self {
        // The result holds exactly the bytes of `s`, a `&str`: valid UTF-8.
        Self(buf.slice_ref(s.as_bytes()))
    }

    /// The string.
    #[inline]
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor stores valid UTF-8 (see the type's invariant): `new`,
        // `from_static`, `From<&str>`, `From<String>` and `slice_of` take their bytes from
        // a `str`, and `TryFrom<Bytes>` checks them with `std::str::from_utf8`. `Bytes` is
        // immutable, and the field is private, so the bytes never change afterwards.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The UTF-8 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The underlying [`Bytes`] (shares memory).
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

/// `raw` as a `&str` when every byte is in 1..=127 (ASCII without U+0000) and, with
/// `NO_WILDCARDS`, none is `+` or `#`; else `None`. One pass, eight bytes at a time,
/// instead of a full UTF-8 validation: this is the common case for every string on the
/// wire.
#[inline]
pub(crate) fn ascii_str<const NO_WILDCARDS: bool>(raw: &[u8]) -> Option<&str> {
    let mut chunks = raw.chunks_exact(8);
    let mut rejected = 0;
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        rejected |= rejected_bytes::<NO_WILDCARDS>(u64::from_le_bytes(word));
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        // Padded with a byte that is never rejected.
        let mut word = [b'a'; 8];
        word[..tail.len()].copy_from_slice(tail);
        rejected |= rejected_bytes::<NO_WILDCARDS>(u64::from_le_bytes(word));
    }
    if rejected != 0 {
        return None;
    }
    // SAFETY: every byte is in 1..=127, so below 0x80 (checked just above), and a
    // sequence of ASCII bytes is valid UTF-8.
    Some(unsafe { std::str::from_utf8_unchecked(raw) })
}

/// Non-zero when one of the eight bytes of `word` is 0 or above 127 (or, with
/// `NO_WILDCARDS`, `+` or `#`). `(x - 0x01…01) & !x & 0x80…80` is non-zero exactly when a
/// byte of `x` is zero: a borrow only starts at a zero byte.
#[inline(always)]
fn rejected_bytes<const NO_WILDCARDS: bool>(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x;
    let mut rejected = word | has_zero(word);
    if NO_WILDCARDS {
        rejected |= has_zero(word ^ (ONES * u64::from(b'+')));
        rejected |= has_zero(word ^ (ONES * u64::from(b'#')));
    }
    rejected & HIGH
}

impl Deref for ByteStr {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for ByteStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for ByteStr {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Borrow<str> for ByteStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl Hash for ByteStr {
    // Hashes as `str` does, so that `Borrow<str>` lookups in hash maps agree.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Display for ByteStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for ByteStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl From<String> for ByteStr {
    fn from(s: String) -> Self {
        Self(Bytes::from(s.into_bytes()))
    }
}

impl From<&str> for ByteStr {
    fn from(s: &str) -> Self {
        Self(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<&String> for ByteStr {
    fn from(s: &String) -> Self {
        Self::from(s.as_str())
    }
}

impl From<ByteStr> for String {
    fn from(s: ByteStr) -> Self {
        s.as_str().to_owned()
    }
}

impl From<ByteStr> for Bytes {
    fn from(s: ByteStr) -> Self {
        s.0
    }
}

impl TryFrom<Bytes> for ByteStr {
    type Error = Utf8Error;

    /// Checks that `bytes` are UTF-8 (U+0000 is allowed here; MQTT's own rules are the
    /// decoder's business).
    fn try_from(bytes: Bytes) -> Result<Self, Utf8Error> {
        std::str::from_utf8(&bytes)?;
        Ok(Self(bytes))
    }
}

impl PartialEq<str> for ByteStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ByteStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for ByteStr {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<ByteStr> for str {
    fn eq(&self, other: &ByteStr) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<ByteStr> for &str {
    fn eq(&self, other: &ByteStr) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<ByteStr> for String {
    fn eq(&self, other: &ByteStr) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Serialize for ByteStr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ascii_fast_path_is_exact() {
        // Every length up to 20 with one special byte at every position.
        for len in 0..20usize {
            let plain = vec![b'x'; len];
            assert_eq!(ascii_str::<true>(&plain).map(str::len), Some(len));
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut raw = plain.clone();
                    raw[at] = b;
                    let ascii_ok = (1..=127).contains(&b);
                    let topic_ok = ascii_ok && b != b'+' && b != b'#';
                    assert_eq!(ascii_str::<false>(&raw).is_some(), ascii_ok, "{raw:?}");
                    assert_eq!(ascii_str::<true>(&raw).is_some(), topic_ok, "{raw:?}");
                }
            }
        }
    }

    #[test]
    fn constructors_and_comparisons() {
        let frame = Bytes::from_static(b"\x00\x03a/b");
        let s = std::str::from_utf8(&frame[2..]).unwrap();
        let t = ByteStr::slice_of(&frame, s);
        assert_eq!(t, "a/b");
        assert_eq!(t, *"a/b");
        assert_eq!(t, ByteStr::from("a/b".to_owned()));
        assert_eq!(t, ByteStr::from_static("a/b"));
        assert_eq!("a/b", t);
        assert_eq!(t.len(), 3);
        assert_eq!(t.to_string(), "a/b");
        assert_eq!(format!("{t:?}"), "\"a/b\"");
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"a/b\"");
        assert_eq!(ByteStr::default(), "");
        assert!(ByteStr::try_from(Bytes::from_static(b"\xff")).is_err());
        assert_eq!(ByteStr::try_from(Bytes::from_static(b"x")).unwrap(), "x");
        let set: HashSet<ByteStr> = [t.clone()].into();
        assert!(set.contains("a/b"));
        assert!(ByteStr::from_static("a") < ByteStr::from_static("b"));
        assert_eq!(String::from(t), "a/b");
    }
}
