//! The supported cipher suites, their key derivation (TLS 1.2 PRF, TLS 1.3 HKDF) and
//! record protection.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cipher {
    Aes128Gcm,
    Aes256Gcm,
    Chacha20Poly1305,
}

impl Cipher {
    fn algorithm(self) -> &'static aead::Algorithm {
        match self {
            Cipher::Aes128Gcm => &aead::AES_128_GCM,
            Cipher::Aes256Gcm => &aead::AES_256_GCM,
            Cipher::Chacha20Poly1305 => &aead::CHACHA20_POLY1305,
        }
    }

    pub(super) fn key_len(self) -> usize {
        self.algorithm().key_len()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hash {
    Sha256,
    Sha384,
}

impl Hash {
    fn hkdf(self) -> hkdf::Algorithm {
        match self {
            Hash::Sha256 => hkdf::HKDF_SHA256,
            Hash::Sha384 => hkdf::HKDF_SHA384,
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            Hash::Sha256 => hmac::HMAC_SHA256,
            Hash::Sha384 => hmac::HMAC_SHA384,
        }
    }

    pub(super) fn len(self) -> usize {
        match self {
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
        }
    }
}

/// A supported cipher suite.
#[derive(Debug, Clone, Copy)]
pub(super) struct Suite {
    code: u16,
    pub(super) name: &'static str,
    pub(super) cipher: Cipher,
    pub(super) hash: Hash,
    tls13: bool,
}

const fn suite(code: u16, name: &'static str, cipher: Cipher, tls13: bool) -> Suite {
    // Every AEAD suite of TLS 1.2 and 1.3 pairs AES-256 with SHA-384, the others with
    // SHA-256.
    let hash = match cipher {
        Cipher::Aes256Gcm => Hash::Sha384,
        _ => Hash::Sha256,
    };
    Suite {
        code,
        name,
        cipher,
        hash,
        tls13,
    }
}

use Cipher::{Aes128Gcm as A128, Aes256Gcm as A256, Chacha20Poly1305 as C20};

/// Every cipher suite this module decrypts.
const SUITES: &[Suite] = &[
    // TLS 1.3 (RFC 8446).
    suite(0x1301, "TLS_AES_128_GCM_SHA256", A128, true),
    suite(0x1302, "TLS_AES_256_GCM_SHA384", A256, true),
    suite(0x1303, "TLS_CHACHA20_POLY1305_SHA256", C20, true),
    // TLS 1.2 AES-GCM (RFC 5288).
    suite(0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256", A128, false),
    suite(0x009D, "TLS_RSA_WITH_AES_256_GCM_SHA384", A256, false),
    suite(0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", A128, false),
    suite(0x009F, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", A256, false),
    suite(0x00A0, "TLS_DH_RSA_WITH_AES_128_GCM_SHA256", A128, false),
    suite(0x00A1, "TLS_DH_RSA_WITH_AES_256_GCM_SHA384", A256, false),
    suite(0x00A2, "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256", A128, false),
    suite(0x00A3, "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384", A256, false),
    suite(0x00A4, "TLS_DH_DSS_WITH_AES_128_GCM_SHA256", A128, false),
    suite(0x00A5, "TLS_DH_DSS_WITH_AES_256_GCM_SHA384", A256, false),
    suite(0x00A6, "TLS_DH_anon_WITH_AES_128_GCM_SHA256", A128, false),
    suite(0x00A7, "TLS_DH_anon_WITH_AES_256_GCM_SHA384", A256, false),
    // TLS 1.2 PSK with AES-GCM (RFC 5487).
    suite(0x00A8, "TLS_PSK_WITH_AES_128_GCM_SHA256", A128, false),
    suite(0x00A9, "TLS_PSK_WITH_AES_256_GCM_SHA384", A256, false),
    suite(0x00AA, "TLS_DHE_PSK_WITH_AES_128_GCM_SHA256", A128, false),
    suite(0x00AB, "TLS_DHE_PSK_WITH_AES_256_GCM_SHA384", A256, false),
    suite(0x00AC, "TLS_RSA_PSK_WITH_AES_128_GCM_SHA256", A128, false),
    suite(0x00AD, "TLS_RSA_PSK_WITH_AES_256_GCM_SHA384", A256, false),
    // TLS 1.2 ECC with AES-GCM (RFC 5289).
    suite(
        0xC02B,
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        A128,
        false,
    ),
    suite(
        0xC02C,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        A256,
        false,
    ),
    suite(
        0xC02D,
        "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256",
        A128,
        false,
    ),
    suite(
        0xC02E,
        "TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384",
        A256,
        false,
    ),
    suite(0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", A128, false),
    suite(0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", A256, false),
    suite(0xC031, "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256", A128, false),
    suite(0xC032, "TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384", A256, false),
    // TLS 1.2 ChaCha20-Poly1305 (RFC 7905).
    suite(
        0xCCA8,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        C20,
        false,
    ),
    suite(
        0xCCA9,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        C20,
        false,
    ),
    suite(
        0xCCAA,
        "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        C20,
        false,
    ),
    suite(0xCCAB, "TLS_PSK_WITH_CHACHA20_POLY1305_SHA256", C20, false),
    suite(
        0xCCAC,
        "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256",
        C20,
        false,
    ),
    suite(
        0xCCAD,
        "TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256",
        C20,
        false,
    ),
    suite(
        0xCCAE,
        "TLS_RSA_PSK_WITH_CHACHA20_POLY1305_SHA256",
        C20,
        false,
    ),
    // TLS 1.2 ECDHE_PSK with AES-GCM (RFC 8442).
    suite(0xD001, "TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256", A128, false),
    suite(0xD002, "TLS_ECDHE_PSK_WITH_AES_256_GCM_SHA384", A256, false),
];

pub(super) fn find_suite(code: u16, version: u16) -> Option<Suite> {
    SUITES
        .iter()
        .find(|s| s.code == code && s.tls13 == (version == TLS13))
        .copied()
}

/// The IANA code points of the cipher suites decrypted under `version` (0x0303 or
/// 0x0304); empty for any other version.
pub fn supported_cipher_suites(version: u16) -> Vec<u16> {
    match version {
        TLS12 | TLS13 => SUITES
            .iter()
            .filter(|s| s.tls13 == (version == TLS13))
            .map(|s| s.code)
            .collect(),
        _ => Vec::new(),
    }
}

/// The IANA name of a cipher suite this module decrypts (`None` for others).
pub fn cipher_suite_name(code: u16) -> Option<&'static str> {
    SUITES.iter().find(|s| s.code == code).map(|s| s.name)
}

/// An output length for ring's HKDF.
struct OutLen(usize);

impl hkdf::KeyType for OutLen {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-Expand-Label(secret, label, "", out.len()) of RFC 8446 7.1.
pub(super) fn expand_label(hash: Hash, secret: &[u8], label: &[u8], out: &mut [u8]) -> Option<()> {
    let prk = hkdf::Prk::new_less_safe(hash.hkdf(), secret);
    let len = u16::try_from(out.len()).ok()?.to_be_bytes();
    let label_len = [u8::try_from(b"tls13 ".len() + label.len()).ok()?];
    let info: [&[u8]; 5] = [&len, &label_len, b"tls13 ", label, &[0]];
    prk.expand(&info, OutLen(out.len()))
        .and_then(|okm| okm.fill(out))
        .ok()
}

/// The TLS 1.2 PRF (RFC 5246 5): P_hash(secret, label + seed) into `out`.
pub(super) fn prf(hash: Hash, secret: &[u8], label: &[u8], seed: [&[u8]; 2], out: &mut [u8]) {
    let key = hmac::Key::new(hash.hmac(), secret);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(label);
    seed.iter().for_each(|s| ctx.update(s));
    let mut a = ctx.sign();
    for chunk in out.chunks_mut(hash.len()) {
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(a.as_ref());
        ctx.update(label);
        seed.iter().for_each(|s| ctx.update(s));
        let block = ctx.sign();
        chunk.copy_from_slice(&block.as_ref()[..chunk.len()]);
        a = hmac::sign(&key, a.as_ref());
    }
}

/// One direction's record key and its sequence number.
pub(super) struct RecordKey {
    key: aead::LessSafeKey,
    /// TLS 1.3 and ChaCha20: the 12-byte IV the sequence number is XORed into.
    /// TLS 1.2 GCM: the 4-byte implicit part, then zeros.
    iv: [u8; 12],
    seq: u64,
}

impl RecordKey {
    pub(super) fn new(cipher: Cipher, key: &[u8], iv: &[u8]) -> Option<Self> {
        let key = aead::UnboundKey::new(cipher.algorithm(), key).ok()?;
        let mut fixed = [0u8; 12];
        fixed.get_mut(..iv.len())?.copy_from_slice(iv);
        Some(Self {
            key: aead::LessSafeKey::new(key),
            iv: fixed,
            seq: 0,
        })
    }

    /// A TLS 1.3 traffic key (RFC 8446 7.3).
    pub(super) fn tls13(suite: Suite, secret: &[u8]) -> Option<Self> {
        let mut key = [0u8; 32];
        let key = key.get_mut(..suite.cipher.key_len())?;
        let mut iv = [0u8; 12];
        expand_label(suite.hash, secret, b"key", key)?;
        expand_label(suite.hash, secret, b"iv", &mut iv)?;
        let made = Self::new(suite.cipher, key, &iv);
        key.fill(0);
        made
    }

    /// The IV XORed with the sequence number (RFC 8446 5.3, RFC 7905 2).
    fn xor_nonce(&self) -> aead::Nonce {
        let mut nonce = self.iv;
        for (n, s) in nonce[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *n ^= s;
        }
        aead::Nonce::assume_unique_for_key(nonce)
    }
}

/// How one direction's records are protected.
pub(super) enum Protection {
    Tls12 {
        key: RecordKey,
        /// GCM: an 8-byte explicit nonce opens each record (RFC 5288 3).
        explicit_nonce: bool,
    },
    Tls13 {
        key: RecordKey,
        suite: Suite,
        /// The current traffic secret: the next KeyUpdate derives from it.
        secret: Secret,
        /// Under the application traffic secret (after this direction's Finished).
        application: bool,
    },
}

/// Why a record did not open.
pub(super) enum OpenError {
    /// The tag does not match.
    Auth,
    /// Not even room for the tag (and the nonce or content type).
    Short(usize),
    /// TLS 1.3: the inner plaintext is all padding.
    NoContentType,
}

impl Protection {
    /// Authenticates and decrypts `rec` (header and body) in place; returns the content
    /// type and where the content is in `rec`.
    pub(super) fn open(&mut self, rec: &mut [u8]) -> Result<(u8, Range<usize>), OpenError> {
        let Some((header, body)) = rec.split_first_chunk_mut::<HEADER>() else {
            return Err(OpenError::Short(rec.len()));
        };
        match self {
            Protection::Tls13 { key, .. } => {
                if body.len() < TAG + 1 {
                    return Err(OpenError::Short(body.len()));
                }
                let nonce = key.xor_nonce();
                let n = key
                    .key
                    .open_in_place(nonce, aead::Aad::from(*header), body)
                    .map_err(|_| OpenError::Auth)?
                    .len();
                key.seq = key.seq.wrapping_add(1);
                // The real content type is the last non-zero byte (RFC 8446 5.2).
                let end = body[..n]
                    .iter()
                    .rposition(|&b| b != 0)
                    .ok_or(OpenError::NoContentType)?;
                Ok((body[end], HEADER..HEADER + end))
            }
            Protection::Tls12 {
                key,
                explicit_nonce,
            } => {
                let skip = if *explicit_nonce { 8 } else { 0 };
                if body.len() < skip + TAG {
                    return Err(OpenError::Short(body.len()));
                }
                let (explicit, sealed) = body.split_at_mut(skip);
                let nonce = if *explicit_nonce {
                    let mut n = key.iv;
                    n[4..].copy_from_slice(explicit);
                    aead::Nonce::assume_unique_for_key(n)
                } else {
                    key.xor_nonce()
                };
                let len = sealed.len() - TAG;
                let len16 = u16::try_from(len).map_err(|_| OpenError::Short(len))?;
                let mut aad = [0u8; 13];
                aad[..8].copy_from_slice(&key.seq.to_be_bytes());
                aad[8..11].copy_from_slice(&header[..3]);
                aad[11..].copy_from_slice(&len16.to_be_bytes());
                key.key
                    .open_in_place(nonce, aead::Aad::from(aad), sealed)
                    .map_err(|_| OpenError::Auth)?;
                key.seq = key.seq.wrapping_add(1);
                Ok((header[0], HEADER + skip..HEADER + skip + len))
            }
        }
    }
}
