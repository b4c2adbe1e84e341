//! The Variable Byte Integer: Remaining Length and 5.0 lengths and identifiers.

use super::error::Violation;

/// The largest value a Variable Byte Integer can carry (four bytes).
pub const MAX: u32 = 268_435_455;

/// Decodes a Variable Byte Integer from the start of `buf`.
///
/// `Ok(None)` means more bytes are needed (and at most three were seen, all with the
/// continuation bit set). A fourth continuation bit, or a value encoded in more bytes
/// than needed, is a violation.
#[inline]
pub fn decode(buf: &[u8]) -> Result<Option<(u32, usize)>, Violation> {
    let mut value: u32 = 0;
    for i in 0..4 {
        let Some(&byte) = buf.get(i) else {
            return Ok(None);
        };
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            let used = i + 1;
            let needed = encoded_len(value);
            if used != needed {
                return Err(Violation::RemainingLengthNotMinimal { used, needed });
            }
            return Ok(Some((value, used)));
        }
    }
    Err(Violation::RemainingLengthTooLong)
}

/// The number of bytes the minimal encoding of `value` takes.
pub fn encoded_len(value: u32) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Appends the minimal encoding of `value` (which must be at most [`MAX`]).
pub fn encode(value: u32, out: &mut Vec<u8>) {
    debug_assert!(value <= MAX);
    encode_unbounded(u64::from(value), out);
}

/// Appends `value` in the variable-length scheme, past four bytes if it must (for
/// deliberately invalid packets).
pub fn encode_unbounded(value: u64, out: &mut Vec<u8>) {
    let mut v = value;
    loop {
        let mut byte = (v & 0x7F) as u8;
        v >>= 7;
        if v > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if v == 0 {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_round_trip() {
        for v in [0, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, MAX] {
            let mut out = Vec::new();
            encode(v, &mut out);
            assert_eq!(out.len(), encoded_len(v));
            assert_eq!(decode(&out), Ok(Some((v, out.len()))));
        }
    }

    #[test]
    fn spec_examples() {
        assert_eq!(decode(&[0xC1, 0x02]), Ok(Some((321, 2))));
        assert_eq!(decode(&[0xFF, 0xFF, 0xFF, 0x7F]), Ok(Some((MAX, 4))));
    }

    #[test]
    fn incomplete_too_long_and_non_minimal() {
        assert_eq!(decode(&[0x80, 0x80]), Ok(None));
        assert_eq!(
            decode(&[0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            Err(Violation::RemainingLengthTooLong)
        );
        assert_eq!(
            decode(&[0x80, 0x00]),
            Err(Violation::RemainingLengthNotMinimal { used: 2, needed: 1 })
        );
    }
}
