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

impl FastState {
    /// One state for the whole process, seeded once: for a hash computed on one thread
    /// (the capture reader) and looked up on another (the reassembler).
    pub(crate) fn process() -> Self {
        static PROCESS: std::sync::OnceLock<FastState> = std::sync::OnceLock::new();
        *PROCESS.get_or_init(Self::default)
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

/// A 64-bit hash of a byte string, for telling whether two copies of some bytes are the
/// same (a retransmission against what was delivered first) without keeping the bytes.
///
/// Every delivered byte of a capture goes through it, so the loop only adds: per lane, a
/// running sum of the words and a running sum of those sums (Fletcher's checksum, on
/// 64-bit words), which any change of one word and any swap of two changes, and which the
/// compiler turns into vector adds. The lanes and the length are mixed with multiplies
/// once at the end. Not keyed: a collision can only hide that a retransmission differed,
/// which a capture's author could show more simply.
pub(crate) fn hash_bytes(data: &[u8]) -> u64 {
    const K: [u64; 4] = [
        0x9E37_79B9_7F4A_7C15,
        0xC2B2_AE3D_27D4_EB4F,
        0x1656_67B1_9E37_79F9,
        0x85EB_CA77_C2B2_AE63,
    ];
    let mix = |x: u64, k: u64| {
        let m = u128::from(x) * u128::from(k);
        (m as u64) ^ ((m >> 64) as u64)
    };
    let word = |b: &[u8]| {
        let mut w = [0u8; 8];
        let n = b.len().min(8);
        w[..n].copy_from_slice(&b[..n]);
        u64::from_le_bytes(w)
    };
    let mut sums = [0u64; 4];
    let mut sums_of_sums = [0u64; 4];
    let mut blocks = data.chunks_exact(32);
    for block in &mut blocks {
        for ((sum, sum2), w) in sums
            .iter_mut()
            .zip(sums_of_sums.iter_mut())
            .zip(block.chunks_exact(8))
        {
            *sum = sum.wrapping_add(u64::from_le_bytes(w.try_into().unwrap_or_default()));
            *sum2 = sum2.wrapping_add(*sum);
        }
    }
    for (i, tail) in blocks.remainder().chunks(8).enumerate() {
        sums[i] = sums[i].wrapping_add(word(tail));
        sums_of_sums[i] = sums_of_sums[i].wrapping_add(sums[i]);
    }
    let mut h = mix(data.len() as u64 ^ K[0], K[1]);
    for i in 0..4 {
        h = mix(h ^ sums[i], K[i]);
        h = mix(h ^ sums_of_sums[i], K[(i + 1) % 4]);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::hash_bytes;

    #[test]
    fn every_byte_and_the_length_count() {
        let base: Vec<u8> = (0..100u8).collect();
        let h = hash_bytes(&base);
        assert_eq!(h, hash_bytes(&base.clone()));
        for i in 0..base.len() {
            let mut changed = base.clone();
            changed[i] ^= 1;
            assert_ne!(hash_bytes(&changed), h, "byte {i}");
        }
        assert_ne!(hash_bytes(&base[..99]), h);
        assert_ne!(hash_bytes(&[0]), hash_bytes(&[0, 0]));
        assert_ne!(hash_bytes(&[]), hash_bytes(&[0]));
    }

    #[test]
    fn swapped_words_and_blocks_count() {
        let base: Vec<u8> = (0..96u8).collect();
        let h = hash_bytes(&base);
        let mut words = base.clone();
        words[..16].rotate_left(8);
        assert_ne!(hash_bytes(&words), h, "two words in two lanes swapped");
        let mut blocks = base.clone();
        blocks[..64].rotate_left(32);
        assert_ne!(hash_bytes(&blocks), h, "two 32-byte blocks swapped");
        let mut lanes = base.clone();
        lanes[..40].rotate_left(32);
        assert_ne!(hash_bytes(&lanes), h);
    }
}
