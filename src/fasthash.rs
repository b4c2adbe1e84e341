//! A fast keyed hasher for tables keyed by connection (flow keys, connection ids), used
//! on every packet by the capture analyzer and the judge.

/// A fast keyed hasher for the per-connection tables (flow keys, connection ids).
///
/// SipHash on two socket addresses per segment was a measurable part of capture analysis;
/// this folds each word into the state with one widening multiply. The keys are seeded
/// per table from std's random source, so a capture cannot be crafted to make every
/// flow collide (the tables are also capped in size).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FastState {
    seed: u64,
}

impl Default for FastState {
    fn default() -> Self {
        use std::hash::{BuildHasher, RandomState};
        Self {
            seed: RandomState::new().hash_one(0x5eed_u64) | 1,
        }
    }
}

impl std::hash::BuildHasher for FastState {
    type Hasher = FastHasher;
    #[inline]
    fn build_hasher(&self) -> FastHasher {
        FastHasher(self.seed)
    }
}

/// The hasher of [`FastState`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct FastHasher(u64);

impl FastHasher {
    /// A 64×64→128-bit multiply folded back to 64 bits (as in foldhash / wyhash).
    #[inline]
    fn mix(&mut self, word: u64) {
        const K: u64 = 0x9E37_79B9_7F4A_7C15;
        let m = u128::from(self.0 ^ word) * u128::from(K);
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }
}

impl std::hash::Hasher for FastHasher {
    #[inline]
    fn finish(&self) -> u64 {
        // One more round so that the last word reaches the high bits hashbrown uses.
        let mut h = *self;
        h.mix(0x2d35_8dcc_aa6c_78a5);
        h.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(w));
        }
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }
    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }
}
