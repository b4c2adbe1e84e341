//! Decryption of TLS 1.2 and TLS 1.3 connections seen in a capture, given the secrets of
//! an `SSLKEYLOGFILE` (the NSS key log format browsers, OpenSSL, rustls and curl write).
//!
//! [`KeyLog`] holds the secrets by client random. A [`TlsDecryptor`] follows one
//! connection: it takes each direction's TCP stream bytes as the reassembler hands them
//! over, reads the hellos in the clear (server name, versions, cipher suite: see
//! [`parse_client_hello`] and [`parse_server_hello`]), and from the point each direction
//! turns on encryption it authenticates and decrypts the records and hands back the
//! application data.
//!
//! Supported: TLS 1.3 (RFC 8446) with its three AEAD suites, including HelloRetryRequest,
//! KeyUpdate, session tickets and resumption; TLS 1.2 (RFC 5246) with the AES-GCM
//! (RFC 5288, 5289, 5487, 8442) and ChaCha20-Poly1305 (RFC 7905) suites, full and
//! abbreviated (resumed) handshakes. Not supported, and reported as such per direction
//! ([`StopReason`]): CBC, CCM and other non-AEAD suites, versions before TLS 1.2, 0-RTT
//! early data the server accepted, TLS 1.2 renegotiation, streams with lost bytes.
//!
//! Memory is bounded per direction whatever the peer sends: one partial record
//! (at most 2^14 + 256 bytes of body), at most 64 KiB of records waiting for the other
//! direction's hello, and at most 64 KiB of one handshake message whose content matters
//! (hellos, EncryptedExtensions, KeyUpdate); other handshake messages are skipped over.

#![warn(missing_docs)]

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use ring::{aead, hkdf, hmac};

use crate::event::{TlsInfo, tls_version_name};

/// The TLS 1.2 protocol version.
const TLS12: u16 = 0x0303;
/// The TLS 1.3 protocol version.
const TLS13: u16 = 0x0304;

/// A record header: type, version, length.
const HEADER: usize = 5;
/// The largest record body accepted: 2^14 plus the 256 bytes of expansion TLS 1.3
/// allows (TLS 1.2 AEAD expansion is smaller).
const MAX_RECORD: usize = (1 << 14) + 256;
/// Records held back per direction until the other direction's hello arrives.
const MAX_BACKLOG: usize = 64 * 1024;
/// The largest handshake message whose content is kept (hellos, EncryptedExtensions).
const MAX_KEPT_MESSAGE: usize = 64 * 1024;
/// The AEAD tag of every supported suite.
const TAG: usize = 16;

const CT_CHANGE_CIPHER_SPEC: u8 = 20;
const CT_ALERT: u8 = 21;
const CT_HANDSHAKE: u8 = 22;
const CT_APPLICATION_DATA: u8 = 23;
const CT_HEARTBEAT: u8 = 24;

const HS_CLIENT_HELLO: u8 = 1;
const HS_SERVER_HELLO: u8 = 2;
const HS_ENCRYPTED_EXTENSIONS: u8 = 8;
const HS_FINISHED: u8 = 20;
const HS_KEY_UPDATE: u8 = 24;

const EXT_SERVER_NAME: u16 = 0;
const EXT_EARLY_DATA: u16 = 42;
const EXT_SUPPORTED_VERSIONS: u16 = 43;

const ALERT_CLOSE_NOTIFY: u8 = 0;
const ALERT_USER_CANCELED: u8 = 90;
const ALERT_LEVEL_FATAL: u8 = 2;

/// The random of a ServerHello that is really a HelloRetryRequest (RFC 8446 4.1.3):
/// SHA-256 of "HelloRetryRequest".
const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

/// Index of the client-to-server direction in per-direction arrays.
const CLIENT: usize = 0;
/// Index of the server-to-client direction.
const SERVER: usize = 1;

// ---------------------------------------------------------------------------------------
// Key log
// ---------------------------------------------------------------------------------------

/// A secret out of the key log. Never printed: `Debug` shows its length only.
#[derive(Clone)]
struct Secret {
    bytes: [u8; 48],
    len: u8,
}

impl Secret {
    fn new(value: &[u8]) -> Option<Self> {
        let mut bytes = [0; 48];
        bytes.get_mut(..value.len())?.copy_from_slice(value);
        Some(Self {
            bytes,
            len: u8::try_from(value.len()).ok()?,
        })
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.len)
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // Best effort: keys do not outlive the analysis in memory dumps.
        self.bytes.fill(0);
        std::hint::black_box(&self.bytes);
    }
}

/// The key log labels this module uses; others (EXPORTER_SECRET, …) are skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    /// TLS 1.2 master secret.
    ClientRandom,
    ClientHandshake,
    ServerHandshake,
    ClientTraffic0,
    ServerTraffic0,
}

impl Label {
    const ALL: [Label; 5] = [
        Label::ClientRandom,
        Label::ClientHandshake,
        Label::ServerHandshake,
        Label::ClientTraffic0,
        Label::ServerTraffic0,
    ];

    fn name(self) -> &'static str {
        match self {
            Label::ClientRandom => "CLIENT_RANDOM",
            Label::ClientHandshake => "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
            Label::ServerHandshake => "SERVER_HANDSHAKE_TRAFFIC_SECRET",
            Label::ClientTraffic0 => "CLIENT_TRAFFIC_SECRET_0",
            Label::ServerTraffic0 => "SERVER_TRAFFIC_SECRET_0",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The secrets of one client random.
#[derive(Default, Clone)]
struct Entry {
    secrets: [Option<Secret>; 5],
}

/// Secrets out of an `SSLKEYLOGFILE` (NSS key log format), by client random.
///
/// Lines are `LABEL <client random, 64 hex digits> <secret, hex>`; `#` comments and blank
/// lines are skipped, and so are labels this module does not use (`EXPORTER_SECRET`,
/// `CLIENT_EARLY_TRAFFIC_SECRET`, `RSA`, …). Used: `CLIENT_RANDOM` (the TLS 1.2 master
/// secret), `CLIENT_HANDSHAKE_TRAFFIC_SECRET`, `SERVER_HANDSHAKE_TRAFFIC_SECRET`,
/// `CLIENT_TRAFFIC_SECRET_0` and `SERVER_TRAFFIC_SECRET_0`. A later line for the same
/// client random and label replaces an earlier one.
///
/// `Debug` shows counts only, never a secret.
#[derive(Default, Clone)]
pub struct KeyLog {
    entries: HashMap<[u8; 32], Entry>,
}

impl fmt::Debug for KeyLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secrets: usize = self
            .entries
            .values()
            .map(|e| e.secrets.iter().flatten().count())
            .sum();
        f.debug_struct("KeyLog")
            .field("client_randoms", &self.entries.len())
            .field("secrets", &secrets)
            .finish()
    }
}

/// Why a key log could not be loaded. Never carries a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyLogError {
    /// The file could not be read.
    #[error("{origin}: cannot read the key log: {source}")]
    Io {
        /// The file.
        origin: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is not in the NSS key log format.
    #[error("{origin}:{line}:{column}: {message}")]
    Syntax {
        /// The file (or whatever `origin` was given to [`KeyLog::parse`]).
        origin: String,
        /// The line, from 1.
        line: usize,
        /// The column (in characters, from 1) where the problem starts.
        column: usize,
        /// What is wrong, in words (never the secret itself).
        message: String,
    },
}

impl KeyLog {
    /// Reads a key log file. Bytes that are not UTF-8 are reported on their line.
    pub fn from_file(path: &Path) -> Result<KeyLog, KeyLogError> {
        let origin = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| KeyLogError::Io {
            origin: origin.clone(),
            source,
        })?;
        Self::parse(&String::from_utf8_lossy(&bytes), &origin)
    }

    /// Parses key log text; `origin` names it in errors (`keys.log:3:1: …`).
    pub fn parse(text: &str, origin: &str) -> Result<KeyLog, KeyLogError> {
        let mut log = KeyLog::default();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (index, line) in text.lines().enumerate() {
            let syntax = |offset: usize, message: String| KeyLogError::Syntax {
                origin: origin.to_string(),
                line: index + 1,
                column: line.get(..offset).map_or(1, |s| s.chars().count() + 1),
                message,
            };
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let mut fields = [("", 0usize); 3];
            let mut count = 0;
            for (offset, field) in split_fields(line) {
                if count == 3 {
                    return Err(syntax(
                        offset,
                        "expected 3 fields (LABEL CLIENT_RANDOM SECRET), found more".into(),
                    ));
                }
                fields[count] = (field, offset);
                count += 1;
            }
            if count != 3 {
                return Err(syntax(
                    line.len(),
                    format!("expected 3 fields (LABEL CLIENT_RANDOM SECRET), found {count}"),
                ));
            }
            let [(label, _), (random, random_at), (secret, secret_at)] = fields;
            let Some(label) = Label::ALL.into_iter().find(|l| l.name() == label) else {
                continue;
            };
            let mut client_random = [0u8; 32];
            if random.len() != 64 || decode_hex(random, &mut client_random).is_none() {
                return Err(syntax(
                    random_at,
                    format!(
                        "the client random must be 64 hex digits, found {} characters{}",
                        random.chars().count(),
                        if random.bytes().all(|b| b.is_ascii_hexdigit()) {
                            ""
                        } else {
                            " that are not all hex"
                        }
                    ),
                ));
            }
            let mut value = [0u8; 48];
            let lengths: &[usize] = if label == Label::ClientRandom {
                &[48]
            } else {
                &[32, 48]
            };
            let len = secret.len() / 2;
            if secret.len() % 2 != 0 || !lengths.contains(&len) {
                return Err(syntax(
                    secret_at,
                    format!(
                        "a {} secret is {} bytes ({} hex digits), this one has {} hex digits",
                        label.name(),
                        if lengths.len() == 1 { "48" } else { "32 or 48" },
                        if lengths.len() == 1 { "96" } else { "64 or 96" },
                        secret.len()
                    ),
                ));
            }
            if decode_hex(secret, &mut value[..len]).is_none() {
                return Err(syntax(secret_at, "the secret is not hex".into()));
            }
            let secret = Secret::new(&value[..len]);
            value.fill(0);
            log.entries.entry(client_random).or_default().secrets[label.index()] = secret;
        }
        Ok(log)
    }

    /// The number of client randoms with at least one usable secret.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the key log has no usable secret.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the key log has secrets for this client random.
    pub fn contains(&self, client_random: &[u8; 32]) -> bool {
        self.entries.contains_key(client_random)
    }

    fn secret(&self, client_random: &[u8; 32], label: Label) -> Result<Secret, StopReason> {
        let entry = self.entries.get(client_random).ok_or(StopReason::NoKeys {
            client_random: *client_random,
        })?;
        entry.secrets[label.index()]
            .clone()
            .ok_or(StopReason::MissingSecret {
                label: label.name(),
                client_random: *client_random,
            })
    }
}

/// The whitespace-separated fields of a line with their byte offsets.
fn split_fields(line: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut rest = line;
    let mut base = 0;
    std::iter::from_fn(move || {
        let skip = rest.len() - rest.trim_start().len();
        base += skip;
        rest = &rest[skip..];
        if rest.is_empty() {
            return None;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let field = (base, &rest[..end]);
        base += end;
        rest = &rest[end..];
        Some(field)
    })
}

/// Decodes `hex` (exactly twice `out.len()` digits) into `out`.
fn decode_hex(hex: &str, out: &mut [u8]) -> Option<()> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    if hex.len() != out.len() * 2 {
        return None;
    }
    for (o, pair) in out.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
        *o = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(())
}

/// A client random as `3f2a…c09c`: enough to find it in a key log, short in a report.
fn short_random(random: &[u8; 32]) -> String {
    format!(
        "{:02x}{:02x}…{:02x}{:02x}",
        random[0], random[1], random[30], random[31]
    )
}

// ---------------------------------------------------------------------------------------
// Hellos
// ---------------------------------------------------------------------------------------

/// What a ClientHello says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    /// The client random: the key log's index.
    pub random: [u8; 32],
    /// The Server Name Indication (the first host name), if any.
    pub sni: Option<String>,
    /// The versions offered: the supported_versions extension without GREASE values
    /// when present, else the legacy version alone.
    pub offered: Vec<u16>,
    /// Whether the client offered 0-RTT early data.
    pub early_data: bool,
}

/// What a ServerHello (or HelloRetryRequest) says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// The server random.
    pub random: [u8; 32],
    /// The cipher suite chosen.
    pub cipher_suite: u16,
    /// The version chosen: the supported_versions extension when present, else the
    /// legacy version.
    pub version: u16,
    /// Whether this is a HelloRetryRequest (its special random): a second ClientHello
    /// and the real ServerHello follow.
    pub hello_retry: bool,
}

/// A bounds-checked reader over handshake bytes.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).and_then(|b| b.first().copied())
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn random(&mut self) -> Option<[u8; 32]> {
        self.take(32).and_then(|b| b.try_into().ok())
    }

    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }

    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

/// GREASE values (RFC 8701) are placeholders, not versions.
fn is_grease(v: u16) -> bool {
    v & 0x0F0F == 0x0A0A && v >> 8 == v & 0xFF
}

/// The extensions block of a hello, as (type, data) pairs; stops at the first
/// malformed one.
fn extensions(block: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut c = Cursor(block);
    std::iter::from_fn(move || {
        let ty = c.u16()?;
        let data = c.vec16()?;
        Some((ty, data))
    })
}

/// Parses a ClientHello body (the handshake message without its 4-byte header).
/// `None` if it is cut short before the extensions; a malformed extension block ends
/// the extensions read.
pub fn parse_client_hello(body: &[u8]) -> Option<ClientHello> {
    let mut c = Cursor(body);
    let legacy = c.u16()?;
    let random = c.random()?;
    c.vec8()?; // session id
    c.vec16()?; // cipher suites
    c.vec8()?; // compression methods
    let mut sni = None;
    let mut offered = None;
    let mut early_data = false;
    for (ty, data) in extensions(c.vec16().unwrap_or_default()) {
        match ty {
            EXT_SERVER_NAME => {
                let mut list = Cursor(data);
                let mut names = Cursor(list.vec16().unwrap_or_default());
                while let (Some(kind), Some(name)) = (names.u8(), names.vec16()) {
                    if kind == 0 {
                        sni = Some(String::from_utf8_lossy(name).into_owned());
                        break;
                    }
                }
            }
            EXT_EARLY_DATA => early_data = true,
            EXT_SUPPORTED_VERSIONS => {
                let mut list = Cursor(Cursor(data).vec8().unwrap_or_default());
                let mut versions = Vec::new();
                while let Some(v) = list.u16() {
                    if !is_grease(v) {
                        versions.push(v);
                    }
                }
                offered = Some(versions);
            }
            _ => {}
        }
    }
    Some(ClientHello {
        random,
        sni,
        offered: offered.unwrap_or_else(|| vec![legacy]),
        early_data,
    })
}

/// Parses a ServerHello body (the handshake message without its 4-byte header).
pub fn parse_server_hello(body: &[u8]) -> Option<ServerHello> {
    let mut c = Cursor(body);
    let legacy = c.u16()?;
    let random = c.random()?;
    c.vec8()?; // session id
    let cipher_suite = c.u16()?;
    c.u8()?; // compression method
    let chosen = extensions(c.vec16().unwrap_or_default())
        .find(|(ty, _)| *ty == EXT_SUPPORTED_VERSIONS)
        .and_then(|(_, data)| Cursor(data).u16());
    Some(ServerHello {
        random,
        cipher_suite,
        version: chosen.unwrap_or(legacy),
        hello_retry: random == HELLO_RETRY_RANDOM,
    })
}

/// Whether an EncryptedExtensions body accepts 0-RTT early data.
fn accepts_early_data(body: &[u8]) -> bool {
    extensions(Cursor(body).vec16().unwrap_or_default()).any(|(ty, _)| ty == EXT_EARLY_DATA)
}

// ---------------------------------------------------------------------------------------
// Cipher suites
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cipher {
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

    fn key_len(self) -> usize {
        self.algorithm().key_len()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
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

    fn len(self) -> usize {
        match self {
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
        }
    }
}

/// A supported cipher suite.
#[derive(Debug, Clone, Copy)]
struct Suite {
    code: u16,
    name: &'static str,
    cipher: Cipher,
    hash: Hash,
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

fn find_suite(code: u16, version: u16) -> Option<Suite> {
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

// ---------------------------------------------------------------------------------------
// Key derivation
// ---------------------------------------------------------------------------------------

/// An output length for ring's HKDF.
struct OutLen(usize);

impl hkdf::KeyType for OutLen {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-Expand-Label(secret, label, "", out.len()) of RFC 8446 7.1.
fn expand_label(hash: Hash, secret: &[u8], label: &[u8], out: &mut [u8]) -> Option<()> {
    let prk = hkdf::Prk::new_less_safe(hash.hkdf(), secret);
    let len = u16::try_from(out.len()).ok()?.to_be_bytes();
    let label_len = [u8::try_from(b"tls13 ".len() + label.len()).ok()?];
    let info: [&[u8]; 5] = [&len, &label_len, b"tls13 ", label, &[0]];
    prk.expand(&info, OutLen(out.len()))
        .and_then(|okm| okm.fill(out))
        .ok()
}

/// The TLS 1.2 PRF (RFC 5246 5): P_hash(secret, label + seed) into `out`.
fn prf(hash: Hash, secret: &[u8], label: &[u8], seed: [&[u8]; 2], out: &mut [u8]) {
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
struct RecordKey {
    key: aead::LessSafeKey,
    /// TLS 1.3 and ChaCha20: the 12-byte IV the sequence number is XORed into.
    /// TLS 1.2 GCM: the 4-byte implicit part, then zeros.
    iv: [u8; 12],
    seq: u64,
}

impl RecordKey {
    fn new(cipher: Cipher, key: &[u8], iv: &[u8]) -> Option<Self> {
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
    fn tls13(suite: Suite, secret: &[u8]) -> Option<Self> {
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
enum Protection {
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
enum OpenError {
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
    fn open(&mut self, rec: &mut [u8]) -> Result<(u8, Range<usize>), OpenError> {
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

// ---------------------------------------------------------------------------------------
// Status
// ---------------------------------------------------------------------------------------

/// Why a direction is no longer decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The key log has nothing for the connection's client random.
    NoKeys {
        /// The ClientHello's random.
        client_random: [u8; 32],
    },
    /// The key log has the client random but not the secret this direction needs now.
    MissingSecret {
        /// The key log label missing (e.g. `SERVER_TRAFFIC_SECRET_0`).
        label: &'static str,
        /// The ClientHello's random.
        client_random: [u8; 32],
    },
    /// The server chose a cipher suite this module does not decrypt (CBC, CCM, …).
    UnsupportedCipherSuite(u16),
    /// The server chose a version this module does not decrypt (before TLS 1.2).
    UnsupportedVersion(u16),
    /// A protected record did not authenticate: the key log's secret is not this
    /// connection's, or the capture is corrupt.
    DecryptFailed {
        /// The record: its number among the direction's protected records, from 1.
        record: u64,
    },
    /// Bytes of the direction were lost: record boundaries and sequence numbers are gone.
    Gap,
    /// The bytes are not TLS as expected.
    Malformed(String),
    /// The client sent 0-RTT early data the server accepted: decrypting it would need
    /// CLIENT_EARLY_TRAFFIC_SECRET, which is not supported.
    EarlyData,
    /// A record header claims more than 2^14 + 256 bytes.
    TooLarge {
        /// The claimed length.
        length: usize,
    },
    /// More than 64 KiB of protected records arrived before the other direction's hello
    /// that says how to decrypt them (or that direction ended without one).
    HelloNotSeen(&'static str),
    /// The TLS 1.2 connection renegotiated (a second ChangeCipherSpec).
    Renegotiation,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::NoKeys { client_random } => write!(
                f,
                "no key for client random {} in the key log",
                short_random(client_random)
            ),
            StopReason::MissingSecret {
                label,
                client_random,
            } => write!(
                f,
                "the key log has client random {} but no {label}",
                short_random(client_random)
            ),
            StopReason::UnsupportedCipherSuite(code) => write!(
                f,
                "cipher suite {code:#06x} is not supported (only AES-GCM and \
                 ChaCha20-Poly1305 suites are decrypted)"
            ),
            StopReason::UnsupportedVersion(v) => write!(
                f,
                "{} ({v:#06x}) is not supported (TLS 1.2 and 1.3 are)",
                tls_version_name(*v)
            ),
            StopReason::DecryptFailed { record } => write!(
                f,
                "protected record {record} does not authenticate: the key log's secret is \
                 not this connection's, or the capture is corrupt"
            ),
            StopReason::Gap => f.write_str(
                "bytes are missing from the capture: record boundaries and sequence numbers \
                 are lost",
            ),
            StopReason::Malformed(what) => write!(f, "malformed TLS: {what}"),
            StopReason::EarlyData => f.write_str(
                "the client sent 0-RTT early data the server accepted, which is not supported",
            ),
            StopReason::TooLarge { length } => write!(
                f,
                "a record claims {length} bytes, more than the {MAX_RECORD} TLS allows"
            ),
            StopReason::HelloNotSeen(hello) => write!(
                f,
                "protected records arrived without the {hello} needed to decrypt them"
            ),
            StopReason::Renegotiation => {
                f.write_str("the connection renegotiated, which is not supported")
            }
        }
    }
}

/// A TLS alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alert {
    /// 1 warning, 2 fatal.
    pub level: u8,
    /// The alert description (0 close_notify, 40 handshake_failure, …).
    pub description: u8,
}

impl Alert {
    /// Whether this is close_notify: the orderly end of the direction.
    pub fn is_close_notify(&self) -> bool {
        self.description == ALERT_CLOSE_NOTIFY
    }

    /// The description's name (RFC 8446 6), when known.
    pub fn name(&self) -> Option<&'static str> {
        Some(match self.description {
            0 => "close_notify",
            10 => "unexpected_message",
            20 => "bad_record_mac",
            22 => "record_overflow",
            40 => "handshake_failure",
            42 => "bad_certificate",
            43 => "unsupported_certificate",
            44 => "certificate_revoked",
            45 => "certificate_expired",
            46 => "certificate_unknown",
            47 => "illegal_parameter",
            48 => "unknown_ca",
            49 => "access_denied",
            50 => "decode_error",
            51 => "decrypt_error",
            70 => "protocol_version",
            71 => "insufficient_security",
            80 => "internal_error",
            86 => "inappropriate_fallback",
            90 => "user_canceled",
            100 => "no_renegotiation",
            109 => "missing_extension",
            110 => "unsupported_extension",
            112 => "unrecognized_name",
            113 => "bad_certificate_status_response",
            115 => "unknown_psk_identity",
            116 => "certificate_required",
            120 => "no_application_protocol",
            _ => return None,
        })
    }
}

impl fmt::Display for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            1 => "warning",
            ALERT_LEVEL_FATAL => "fatal",
            _ => "alert",
        };
        match self.name() {
            Some(name) if self.is_close_notify() => f.write_str(name),
            Some(name) => write!(f, "{level} {name} ({})", self.description),
            None => write!(f, "{level} alert {}", self.description),
        }
    }
}

/// Where one direction stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirState {
    /// Following the direction: hellos read, protected records decrypted as they come.
    Decrypting,
    /// Protected records are held back until the other direction's hello arrives; feed
    /// (or [`TlsDecryptor::flush`]) this direction again once it has.
    Waiting {
        /// The hello waited for ("ServerHello" or "ClientHello").
        hello: &'static str,
        /// Bytes held back.
        queued: usize,
    },
    /// An alert ended the direction (close_notify or fatal): the decryption itself went
    /// fine.
    Closed(Alert),
    /// The direction is no longer decrypted.
    Stopped(StopReason),
}

/// One direction's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirStatus {
    /// Where it stands.
    pub state: DirState,
    /// Protected records decrypted.
    pub records: u64,
    /// Application data bytes handed out.
    pub plaintext_bytes: u64,
    /// TLS 1.3 KeyUpdates followed.
    pub key_updates: u32,
    /// The last alert seen (warnings do not end a TLS 1.2 direction).
    pub alert: Option<Alert>,
    /// Client records skipped as 0-RTT early data the server rejected (it discards
    /// them too). Should the server's EncryptedExtensions not be readable, whether it
    /// rejected them is unknown: non-zero then means application data may be missing.
    pub skipped_early_records: u64,
}

/// Where a connection stands: the hellos seen and each direction's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsStatus {
    /// The (first) ClientHello.
    pub client_hello: Option<ClientHello>,
    /// The ServerHello (the real one when a HelloRetryRequest came first).
    pub server_hello: Option<ServerHello>,
    /// Whether the server sent a HelloRetryRequest.
    pub hello_retry: bool,
    /// Whether the server accepted 0-RTT early data (TLS 1.3), once known.
    pub early_data_accepted: Option<bool>,
    /// Client to server.
    pub client: DirStatus,
    /// Server to client.
    pub server: DirStatus,
}

impl TlsStatus {
    /// The server name the client asked for.
    pub fn sni(&self) -> Option<&str> {
        self.client_hello.as_ref()?.sni.as_deref()
    }

    /// The version the server chose.
    pub fn negotiated(&self) -> Option<u16> {
        self.server_hello.as_ref().map(|s| s.version)
    }

    /// The cipher suite the server chose.
    pub fn cipher_suite(&self) -> Option<u16> {
        self.server_hello.as_ref().map(|s| s.cipher_suite)
    }

    /// The facts as the event model carries them.
    pub fn info(&self) -> TlsInfo {
        TlsInfo {
            sni: self.sni().map(str::to_owned),
            offered: self
                .client_hello
                .as_ref()
                .map(|c| c.offered.clone())
                .unwrap_or_default(),
            negotiated: self.negotiated(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Handshake messages
// ---------------------------------------------------------------------------------------

/// Cuts a direction's handshake stream (plaintext or decrypted) into messages; keeps
/// the content of those that matter only, skips over the others whatever their size.
#[derive(Default)]
struct HandshakeReader {
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
    fn next(&mut self, data: &mut &[u8]) -> Result<Option<(u8, &[u8])>, StopReason> {
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
    fn partial(&self) -> bool {
        !self.complete && self.header_len > 0
    }
}

/// What a complete handshake message means here.
enum Message {
    ClientHello(Option<ClientHello>),
    ServerHello(Option<ServerHello>),
    EncryptedExtensions { early_data: bool },
    Finished,
    KeyUpdate { valid: bool },
    Other,
}

impl Message {
    fn new(ty: u8, body: &[u8]) -> Self {
        match ty {
            HS_CLIENT_HELLO => Message::ClientHello(parse_client_hello(body)),
            HS_SERVER_HELLO => Message::ServerHello(parse_server_hello(body)),
            HS_ENCRYPTED_EXTENSIONS => Message::EncryptedExtensions {
                early_data: accepts_early_data(body),
            },
            HS_FINISHED => Message::Finished,
            HS_KEY_UPDATE => Message::KeyUpdate {
                valid: matches!(body, [0 | 1]),
            },
            _ => Message::Other,
        }
    }
}

// ---------------------------------------------------------------------------------------
// The decryptor
// ---------------------------------------------------------------------------------------

/// Whether a direction goes on.
enum Run {
    Active,
    Closed(Alert),
    Stopped(StopReason),
}

/// One direction of the connection.
struct Direction {
    /// The current record: header, then as much of the body as has arrived.
    rec: Vec<u8>,
    /// Complete records waiting for the other direction's hello, in order.
    backlog: Vec<u8>,
    /// The hello the backlog waits for.
    waiting_for: &'static str,
    handshake: HandshakeReader,
    protection: Option<Protection>,
    run: Run,
    /// Protected records tried (the number a DecryptFailed names).
    tried: u64,
    records: u64,
    plaintext: u64,
    key_updates: u32,
    alert: Option<Alert>,
    skipped_early: u64,
}

impl Direction {
    fn new() -> Self {
        Self {
            rec: Vec::new(),
            backlog: Vec::new(),
            waiting_for: "",
            handshake: HandshakeReader::default(),
            protection: None,
            run: Run::Active,
            tried: 0,
            records: 0,
            plaintext: 0,
            key_updates: 0,
            alert: None,
            skipped_early: 0,
        }
    }

    fn active(&self) -> bool {
        matches!(self.run, Run::Active)
    }

    /// Ends the direction (keeping the first outcome) and frees its buffers.
    fn end(&mut self, run: Run) {
        if self.active() {
            self.run = run;
        }
        self.rec = Vec::new();
        self.backlog = Vec::new();
        self.handshake = HandshakeReader::default();
        self.protection = None;
    }

    fn status(&self) -> DirStatus {
        let state = match &self.run {
            Run::Closed(alert) => DirState::Closed(*alert),
            Run::Stopped(reason) => DirState::Stopped(reason.clone()),
            Run::Active if !self.backlog.is_empty() => DirState::Waiting {
                hello: self.waiting_for,
                queued: self.backlog.len(),
            },
            Run::Active => DirState::Decrypting,
        };
        DirStatus {
            state,
            records: self.records,
            plaintext_bytes: self.plaintext,
            key_updates: self.key_updates,
            alert: self.alert,
            skipped_early_records: self.skipped_early,
        }
    }

    fn application(&self) -> bool {
        matches!(
            self.protection,
            Some(Protection::Tls13 {
                application: true,
                ..
            })
        )
    }
}

/// The body length a complete record header claims.
fn record_len(header: &[u8]) -> usize {
    match header {
        [_, _, _, hi, lo, ..] => usize::from(u16::from_be_bytes([*hi, *lo])),
        _ => 0,
    }
}

/// Checks a record header: a known content type, a TLS version, a sane length.
fn check_header(header: &[u8]) -> Result<(), StopReason> {
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

/// What the hellos established for the whole connection.
#[derive(Default)]
struct Facts {
    client_hello: Option<ClientHello>,
    server_hello: Option<ServerHello>,
    hello_retry: bool,
    early_accepted: Option<bool>,
}

/// One TLS connection being decrypted, both directions.
///
/// Feed each direction's stream bytes in order with [`feed`](Self::feed), in any
/// chunking, both directions interleaved as captured; the application data of that
/// direction comes out. Records a direction can only decrypt once the other direction's
/// hello is known (a capture whose reassembly hands the client's stream over before the
/// server's) are held back, up to 64 KiB, and decrypted at that direction's next `feed`
/// or [`flush`](Self::flush).
pub struct TlsDecryptor {
    keys: Arc<KeyLog>,
    facts: Facts,
    dirs: [Direction; 2],
}

impl fmt::Debug for TlsDecryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsDecryptor")
            .field("keys", &self.keys)
            .field("status", &self.status())
            .finish()
    }
}

impl TlsDecryptor {
    /// A decryptor for one connection, with the secrets of `keys`.
    pub fn new(keys: Arc<KeyLog>) -> Self {
        Self {
            keys,
            facts: Facts::default(),
            dirs: [Direction::new(), Direction::new()],
        }
    }

    /// Takes ciphertext stream bytes of one direction, in order (a record may be split
    /// across calls, several records may come in one) and appends that direction's
    /// decrypted application data to `plain`. Bytes of a direction that has stopped or
    /// closed are ignored.
    pub fn feed(&mut self, from_client: bool, mut bytes: &[u8], plain: &mut Vec<u8>) {
        let d = if from_client { CLIENT } else { SERVER };
        self.drain(d, plain);
        loop {
            let dir = &mut self.dirs[d];
            if !dir.active() {
                return;
            }
            if dir.rec.len() < HEADER {
                let n = (HEADER - dir.rec.len()).min(bytes.len());
                dir.rec.extend_from_slice(&bytes[..n]);
                bytes = &bytes[n..];
                if dir.rec.len() < HEADER {
                    return;
                }
                if let Err(reason) = check_header(&dir.rec) {
                    self.stop(d, reason);
                    return;
                }
            }
            let need = HEADER + record_len(&dir.rec);
            let n = need.saturating_sub(dir.rec.len()).min(bytes.len());
            dir.rec.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if dir.rec.len() < need {
                return;
            }
            // Taken out so the record can be decrypted in place while `self` changes.
            let mut rec = std::mem::take(&mut dir.rec);
            self.record(d, &mut rec, plain);
            let dir = &mut self.dirs[d];
            if dir.active() {
                rec.clear();
                dir.rec = rec;
            }
        }
    }

    /// Decrypts the records of a direction that were waiting for the other direction's
    /// hello, if it has arrived since; appends the application data to `plain`.
    pub fn flush(&mut self, from_client: bool, plain: &mut Vec<u8>) {
        self.feed(from_client, &[], plain);
    }

    /// Bytes of a direction were lost: it cannot be decrypted any more (record
    /// boundaries and sequence numbers are gone). A direction already closed by an
    /// alert stays closed.
    pub fn gap(&mut self, from_client: bool) {
        let d = if from_client { CLIENT } else { SERVER };
        self.stop(d, StopReason::Gap);
    }

    /// Where the connection stands: the hellos seen and each direction's state.
    pub fn status(&self) -> TlsStatus {
        TlsStatus {
            client_hello: self.facts.client_hello.clone(),
            server_hello: self.facts.server_hello.clone(),
            hello_retry: self.facts.hello_retry,
            early_data_accepted: self.facts.early_accepted,
            client: self.dirs[CLIENT].status(),
            server: self.dirs[SERVER].status(),
        }
    }

    /// Whether a direction is still followed (not closed by an alert, not stopped).
    pub fn is_active(&self, from_client: bool) -> bool {
        self.dirs[if from_client { CLIENT } else { SERVER }].active()
    }

    /// The first ClientHello, once seen.
    pub fn client_hello(&self) -> Option<&ClientHello> {
        self.facts.client_hello.as_ref()
    }

    /// The ServerHello (the real one after a HelloRetryRequest), once seen.
    pub fn server_hello(&self) -> Option<&ServerHello> {
        self.facts.server_hello.as_ref()
    }

    fn stop(&mut self, d: usize, reason: StopReason) {
        self.dirs[d].end(Run::Stopped(reason));
    }

    fn stop_both(&mut self, reason: StopReason) {
        self.stop(CLIENT, reason.clone());
        self.stop(SERVER, reason);
    }

    /// The version the server chose (a HelloRetryRequest tells it too).
    fn version(&self) -> Option<u16> {
        self.facts.server_hello.as_ref().map(|s| s.version)
    }

    /// The hello a record of direction `d` and content type `ty` needs from the other
    /// direction before it can be processed, if not seen yet.
    fn missing(&self, d: usize, ty: u8) -> Option<&'static str> {
        if !matches!(ty, CT_CHANGE_CIPHER_SPEC | CT_APPLICATION_DATA) {
            return None;
        }
        if d == CLIENT && self.facts.server_hello.is_none() {
            Some("ServerHello")
        } else if d == SERVER
            && self.facts.client_hello.is_none()
            && self.dirs[SERVER].protection.is_none()
        {
            Some("ClientHello")
        } else {
            None
        }
    }

    /// A complete record of direction `d`: processed now, or held back in order.
    fn record(&mut self, d: usize, rec: &mut [u8], plain: &mut Vec<u8>) {
        let ty = rec[0];
        let missing = self.missing(d, ty);
        if self.dirs[d].backlog.is_empty() && missing.is_none() {
            self.process(d, rec, plain);
            return;
        }
        let other_active = self.dirs[if d == CLIENT { SERVER } else { CLIENT }].active();
        let dir = &mut self.dirs[d];
        if dir.backlog.is_empty() {
            dir.waiting_for = missing.unwrap_or("hello");
        }
        if dir.backlog.len() + rec.len() > MAX_BACKLOG || !other_active {
            // The other direction will never (or not soon enough) tell.
            let hello = dir.waiting_for;
            self.stop(d, StopReason::HelloNotSeen(hello));
        } else {
            dir.backlog.extend_from_slice(rec);
        }
    }

    /// Processes the held-back records the other direction's hello now allows.
    fn drain(&mut self, d: usize, plain: &mut Vec<u8>) {
        if self.dirs[d].backlog.is_empty() {
            return;
        }
        let mut queue = std::mem::take(&mut self.dirs[d].backlog);
        let mut at = 0;
        while at + HEADER <= queue.len() && self.dirs[d].active() {
            let end = (at + HEADER + record_len(&queue[at..])).min(queue.len());
            if self.missing(d, queue[at]).is_some() {
                break;
            }
            self.process(d, &mut queue[at..end], plain);
            at = end;
        }
        if self.dirs[d].active() {
            queue.drain(..at);
            self.dirs[d].backlog = queue;
        }
    }

    /// A complete record of direction `d` whose turn it is.
    fn process(&mut self, d: usize, rec: &mut [u8], plain: &mut Vec<u8>) {
        let ty = rec[0];
        let protected = self.dirs[d].protection.is_some();
        let body = HEADER..rec.len();
        if self.version() == Some(TLS13) {
            match ty {
                CT_APPLICATION_DATA => self.open(d, rec, plain),
                // Sent for middlebox compatibility only (RFC 8446 D.4).
                CT_CHANGE_CIPHER_SPEC | CT_HEARTBEAT => {}
                CT_ALERT => self.alerts(d, &rec[body]),
                // ClientHello (again after a HelloRetryRequest), ServerHello.
                CT_HANDSHAKE if !protected => self.handshake(d, &rec[body]),
                _ => self.stop(
                    d,
                    StopReason::Malformed("a plaintext handshake record after encryption".into()),
                ),
            }
        } else if protected {
            if ty == CT_CHANGE_CIPHER_SPEC {
                self.stop(d, StopReason::Renegotiation);
            } else {
                self.open(d, rec, plain);
            }
        } else {
            match ty {
                CT_HANDSHAKE => self.handshake(d, &rec[body]),
                CT_CHANGE_CIPHER_SPEC => self.change_cipher_spec(d),
                CT_ALERT => self.alerts(d, &rec[body]),
                CT_HEARTBEAT => {}
                _ => self.stop(
                    d,
                    StopReason::Malformed(
                        "application data before the handshake protected it".into(),
                    ),
                ),
            }
        }
    }

    /// TLS 1.2: this direction's records are encrypted from here on (RFC 5246 7.1).
    fn change_cipher_spec(&mut self, d: usize) {
        match self.tls12_protection(d) {
            Ok(p) => self.dirs[d].protection = Some(p),
            Err(reason) => self.stop(d, reason),
        }
    }

    fn tls12_protection(&self, d: usize) -> Result<Protection, StopReason> {
        let (Some(ch), Some(sh)) = (&self.facts.client_hello, &self.facts.server_hello) else {
            return Err(StopReason::Malformed(
                "ChangeCipherSpec before the hellos".into(),
            ));
        };
        if sh.version != TLS12 {
            return Err(StopReason::UnsupportedVersion(sh.version));
        }
        let suite = find_suite(sh.cipher_suite, TLS12)
            .ok_or(StopReason::UnsupportedCipherSuite(sh.cipher_suite))?;
        let master = self.keys.secret(&ch.random, Label::ClientRandom)?;
        // AEAD suites have no MAC keys: client key, server key, client IV, server IV.
        let key_len = suite.cipher.key_len();
        let iv_len = if suite.cipher == Cipher::Chacha20Poly1305 {
            12
        } else {
            4
        };
        let mut block = [0u8; 2 * 32 + 2 * 12];
        let block = &mut block[..2 * (key_len + iv_len)];
        prf(
            suite.hash,
            master.as_bytes(),
            b"key expansion",
            [&sh.random, &ch.random],
            block,
        );
        let (keys, ivs) = block.split_at(2 * key_len);
        let (key, iv) = if d == CLIENT {
            (&keys[..key_len], &ivs[..iv_len])
        } else {
            (&keys[key_len..], &ivs[iv_len..])
        };
        let key = RecordKey::new(suite.cipher, key, iv);
        block.fill(0);
        Ok(Protection::Tls12 {
            key: key.ok_or_else(|| StopReason::Malformed("bad key length".into()))?,
            explicit_nonce: suite.cipher != Cipher::Chacha20Poly1305,
        })
    }

    /// TLS 1.3 protection of direction `d` under its handshake (or, `application`,
    /// its first application) traffic secret.
    fn tls13_protection(&self, d: usize, application: bool) -> Result<Protection, StopReason> {
        let (Some(ch), Some(sh)) = (&self.facts.client_hello, &self.facts.server_hello) else {
            return Err(StopReason::Malformed(
                "a protected record before the hellos".into(),
            ));
        };
        let suite = find_suite(sh.cipher_suite, TLS13)
            .ok_or(StopReason::UnsupportedCipherSuite(sh.cipher_suite))?;
        let label = match (d == CLIENT, application) {
            (true, false) => Label::ClientHandshake,
            (false, false) => Label::ServerHandshake,
            (true, true) => Label::ClientTraffic0,
            (false, true) => Label::ServerTraffic0,
        };
        let secret = self.keys.secret(&ch.random, label)?;
        Ok(Protection::Tls13 {
            key: tls13_key(suite, &secret)?,
            suite,
            secret,
            application,
        })
    }

    /// A protected record of direction `d`.
    fn open(&mut self, d: usize, rec: &mut [u8], plain: &mut Vec<u8>) {
        if self.dirs[d].protection.is_none() {
            // TLS 1.3: the first protected record of the direction.
            match self.tls13_protection(d, false) {
                Ok(p) => self.dirs[d].protection = Some(p),
                Err(reason) => return self.stop(d, reason),
            }
        }
        let dir = &mut self.dirs[d];
        let Some(protection) = dir.protection.as_mut() else {
            return;
        };
        let tls13 = matches!(protection, Protection::Tls13 { .. });
        match protection.open(rec) {
            Ok((ty, range)) => {
                dir.tried += 1;
                dir.records += 1;
                self.content(d, ty, &rec[range], plain);
            }
            Err(OpenError::Auth) => {
                let early = d == CLIENT
                    && tls13
                    && dir.records == 0
                    && self
                        .facts
                        .client_hello
                        .as_ref()
                        .is_some_and(|c| c.early_data);
                if !early {
                    let record = dir.tried + 1;
                    self.stop(d, StopReason::DecryptFailed { record });
                } else if self.facts.early_accepted == Some(true) {
                    self.stop(d, StopReason::EarlyData);
                } else {
                    // 0-RTT data under a key not logged: fine as long as the server
                    // rejects it (and discards it too, RFC 8446 4.2.10).
                    dir.skipped_early += 1;
                }
            }
            Err(OpenError::Short(n)) => self.stop(
                d,
                StopReason::Malformed(format!(
                    "a protected record of {n} bytes is too short for its tag"
                )),
            ),
            Err(OpenError::NoContentType) => self.stop(
                d,
                StopReason::Malformed("a protected record has no content type".into()),
            ),
        }
    }

    /// Decrypted content of direction `d`.
    fn content(&mut self, d: usize, ty: u8, data: &[u8], plain: &mut Vec<u8>) {
        let tls13 = self.version() == Some(TLS13);
        match ty {
            CT_APPLICATION_DATA if tls13 && !self.dirs[d].application() => self.stop(
                d,
                StopReason::Malformed("application data under the handshake keys".into()),
            ),
            CT_APPLICATION_DATA => {
                plain.extend_from_slice(data);
                self.dirs[d].plaintext += data.len() as u64;
            }
            CT_HANDSHAKE => self.handshake(d, data),
            CT_ALERT => self.alerts(d, data),
            CT_HEARTBEAT => {}
            CT_CHANGE_CIPHER_SPEC if !tls13 => self.stop(d, StopReason::Renegotiation),
            _ => self.stop(
                d,
                StopReason::Malformed(format!("a protected record of content type {ty}")),
            ),
        }
    }

    /// Alert messages of direction `d`.
    fn alerts(&mut self, d: usize, data: &[u8]) {
        let tls13 = self.version() == Some(TLS13);
        if data.is_empty() || data.len() % 2 != 0 {
            let what = format!("an alert record of {} bytes", data.len());
            return self.stop(d, StopReason::Malformed(what));
        }
        for pair in data.chunks_exact(2) {
            let alert = Alert {
                level: pair[0],
                description: pair[1],
            };
            self.dirs[d].alert = Some(alert);
            // TLS 1.3 alerts all end the connection but user_canceled (RFC 8446 6);
            // TLS 1.2 warnings do not.
            let ends = alert.is_close_notify()
                || alert.level == ALERT_LEVEL_FATAL
                || (tls13 && alert.description != ALERT_USER_CANCELED);
            if ends {
                self.dirs[d].end(Run::Closed(alert));
                return;
            }
        }
    }

    /// Handshake bytes of direction `d` (one record's worth).
    fn handshake(&mut self, d: usize, mut data: &[u8]) {
        loop {
            let message = match self.dirs[d].handshake.next(&mut data) {
                Err(reason) => return self.stop(d, reason),
                Ok(None) => return,
                Ok(Some((ty, body))) => Message::new(ty, body),
            };
            self.message(d, message, data.is_empty());
            if !self.dirs[d].active() {
                return;
            }
        }
    }

    /// A complete handshake message of direction `d`; `record_end`: nothing follows it
    /// in its record.
    fn message(&mut self, d: usize, message: Message, record_end: bool) {
        let tls13 = self.version() == Some(TLS13);
        let protected = self.dirs[d].protection.is_some();
        match message {
            Message::ClientHello(hello) if d == CLIENT && !protected => match hello {
                // The first one's random is the key log's index, also after a
                // HelloRetryRequest.
                Some(hello) if self.facts.client_hello.is_none() => {
                    self.facts.client_hello = Some(hello);
                }
                Some(_) => {}
                None => self.stop_both(StopReason::Malformed("an unreadable ClientHello".into())),
            },
            Message::ServerHello(hello) if d == SERVER && !protected => self.on_server_hello(hello),
            Message::EncryptedExtensions { early_data } if d == SERVER && tls13 => {
                self.facts.early_accepted = Some(early_data);
                if early_data && self.dirs[CLIENT].skipped_early > 0 {
                    self.stop(CLIENT, StopReason::EarlyData);
                }
            }
            Message::Finished if tls13 && protected && !self.dirs[d].application() => {
                self.switch_keys(d, record_end, |this, _| this.tls13_protection(d, true));
            }
            Message::KeyUpdate { valid } if tls13 && self.dirs[d].application() => {
                if !valid {
                    return self.stop(d, StopReason::Malformed("a malformed KeyUpdate".into()));
                }
                self.switch_keys(d, record_end, |_, old| {
                    let Some(Protection::Tls13 { suite, secret, .. }) = old else {
                        return Err(StopReason::Malformed("KeyUpdate out of place".into()));
                    };
                    // RFC 8446 7.2: the next generation of the traffic secret.
                    let mut next = [0u8; 48];
                    let next = &mut next[..suite.hash.len()];
                    expand_label(suite.hash, secret.as_bytes(), b"traffic upd", next)
                        .ok_or_else(|| StopReason::Malformed("KeyUpdate derivation".into()))?;
                    let secret = Secret::new(next)
                        .ok_or_else(|| StopReason::Malformed("KeyUpdate derivation".into()))?;
                    next.fill(0);
                    Ok(Protection::Tls13 {
                        key: tls13_key(*suite, &secret)?,
                        suite: *suite,
                        secret,
                        application: true,
                    })
                });
                if self.dirs[d].active() {
                    self.dirs[d].key_updates += 1;
                }
            }
            _ => {}
        }
    }

    /// TLS 1.3 key change after a Finished or KeyUpdate of direction `d`, which must end
    /// its record (RFC 8446 5.1).
    fn switch_keys(
        &mut self,
        d: usize,
        record_end: bool,
        make: impl FnOnce(&Self, Option<&Protection>) -> Result<Protection, StopReason>,
    ) {
        if !record_end || self.dirs[d].handshake.partial() {
            return self.stop(
                d,
                StopReason::Malformed("handshake data after a key change in its record".into()),
            );
        }
        match make(self, self.dirs[d].protection.as_ref()) {
            Ok(p) => self.dirs[d].protection = Some(p),
            Err(reason) => self.stop(d, reason),
        }
    }

    fn on_server_hello(&mut self, hello: Option<ServerHello>) {
        let Some(hello) = hello else {
            return self.stop_both(StopReason::Malformed("an unreadable ServerHello".into()));
        };
        if self
            .facts
            .server_hello
            .as_ref()
            .is_some_and(|s| !s.hello_retry)
        {
            return; // only one real ServerHello per connection
        }
        if hello.version != TLS12 && hello.version != TLS13 {
            self.facts.server_hello = Some(hello.clone());
            return self.stop_both(StopReason::UnsupportedVersion(hello.version));
        }
        let supported = find_suite(hello.cipher_suite, hello.version).is_some();
        if hello.hello_retry {
            self.facts.hello_retry = true;
            // The client cannot send 0-RTT data after a HelloRetryRequest.
            self.facts.early_accepted = Some(false);
        }
        let code = hello.cipher_suite;
        self.facts.server_hello = Some(hello);
        if !supported {
            self.stop_both(StopReason::UnsupportedCipherSuite(code));
        }
    }
}

/// The TLS 1.3 record key of a traffic secret.
fn tls13_key(suite: Suite, secret: &Secret) -> Result<RecordKey, StopReason> {
    if secret.as_bytes().len() != suite.hash.len() {
        return Err(StopReason::Malformed(format!(
            "the key log's secret is {} bytes, {} needs {}",
            secret.as_bytes().len(),
            suite.name,
            suite.hash.len()
        )));
    }
    RecordKey::tls13(suite, secret.as_bytes())
        .ok_or_else(|| StopReason::Malformed("traffic key derivation".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::io::{ErrorKind, Read, Write};
    use std::sync::{Mutex, OnceLock};

    use proptest::prelude::*;
    use rustls::crypto::ring::{cipher_suite as cs, default_provider, kx_group};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use rustls::{
        ClientConfig, ClientConnection, Connection, HandshakeKind, RootCertStore, ServerConfig,
        ServerConnection, SupportedCipherSuite, SupportedProtocolVersion,
    };

    fn hex(s: &str) -> Vec<u8> {
        let digits: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let mut out = vec![0; digits.len() / 2];
        decode_hex(&digits, &mut out).expect("hex");
        out
    }

    const CLOSE_NOTIFY: Alert = Alert {
        level: 1,
        description: 0,
    };

    /// Where two byte strings first differ (assert_eq! on 20 KB is unreadable).
    #[track_caller]
    fn same(got: &[u8], want: &[u8], what: &str) {
        if got != want {
            let at = got.iter().zip(want).position(|(a, b)| a != b);
            panic!(
                "{what}: got {} bytes, want {}; first difference at {at:?}",
                got.len(),
                want.len()
            );
        }
    }

    // --- RFC 8448 section 3, "Simple 1-RTT Handshake" -----------------------------------

    const RFC_RANDOM: &str = "cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7";
    const RFC_CHTS: &str = "b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21";
    const RFC_SHTS: &str = "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38";
    const RFC_CATS: &str = "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5";
    const RFC_SATS: &str = "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643";

    /// The ClientHello handshake message (header included).
    const RFC_CH: &str = "010000c00303cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7000006130113031302010000910000000b0009000006736572766572ff01000100000a00140012001d0017001800190100010101020103010400230000003300260024001d002099381de560e4bd43d23d8e435a7dbafeb3c06e51c13cae4d5413691e529aaf2c002b0003020304000d0020001e040305030603020308040805080604010501060102010402050206020202002d00020101001c00024001";
    const RFC_SH_REC: &str = "160303005a020000560303a6af06a4121860dc5e6e60249cd34c95930c8ac5cb1434dac155772ed3e2692800130100002e00330024001d0020c9828876112095fe66762bdbf7c672e156d6cc253b833df1dd69b1b04e751f0f002b00020304";
    /// EncryptedExtensions, Certificate, CertificateVerify, Finished in one record.
    const RFC_FLIGHT_REC: &str = "17030302a2d1ff334a56f5bff6594a07cc87b580233f500f45e489e7f33af35edf7869fcf40aa40aa2b8ea73f848a7ca07612ef9f945cb960b4068905123ea78b111b429ba9191cd05d2a389280f526134aadc7fc78c4b729df828b5ecf7b13bd9aefb0e57f271585b8ea9bb355c7c79020716cfb9b1183ef3ab20e37d57a6b9d7477609aee6e122a4cf51427325250c7d0e509289444c9b3a648f1d71035d2ed65b0e3cdd0cbae8bf2d0b227812cbb360987255cc744110c453baa4fcd610928d809810e4b7ed1a8fd991f06aa6248204797e36a6a73b70a2559c09ead686945ba246ab66e5edd8044b4c6de3fcf2a89441ac66272fd8fb330ef8190579b3684596c960bd596eea520a56a8d650f563aad27409960dca63d3e688611ea5e22f4415cf9538d51a200c27034272968a264ed6540c84838d89f72c24461aad6d26f59ecaba9acbbb317b66d902f4f292a36ac1b639c637ce343117b659622245317b49eeda0c6258f100d7d961ffb138647e92ea330faeea6dfa31c7a84dc3bd7e1b7a6c7178af36879018e3f252107f243d243dc7339d5684c8b0378bf30244da8c87c843f5e56eb4c5e8280a2b48052cf93b16499a66db7cca71e4599426f7d461e66f99882bd89fc50800becca62d6c74116dbd2972fda1fa80f85df881edbe5a37668936b335583b599186dc5c6918a396fa48a181d6b6fa4f9d62d513afbb992f2b992f67f8afe67f76913fa388cb5630c8ca01e0c65d11c66a1e2ac4c85977b7c7a6999bbf10dc35ae69f5515614636c0b9b68c19ed2e31c0b3b66763038ebba42f3b38edc0399f3a9f23faa63978c317fc9fa66a73f60f0504de93b5b845e275592c12335ee340bbc4fddd502784016e4b3be7ef04dda49f4b440a30cb5d2af939828fd4ae3794e44f94df5a631ede42c1719bfdabf0253fe5175be898e750edc53370d2b";
    const RFC_FIN_REC: &str = "170303003575ec4dc238cce60b298044a71e219c56cc77b0517fe9b93c7a4bfc44d87f38f80338ac98fc46deb384bd1caeacab6867d726c40546";
    const RFC_TICKET_REC: &str = "17030300de3a6b8f90414a97d6959c3487680de5134a2b240e6cffac116e95d41d6af8f6b580dcf3d11d63c758db289a015940252f55713e061dc13e078891a38efbcf5753ad8ef170ad3c7353d16d9da773b9ca7f2b9fa1b6c0d4a3d03f75e09c30ba1e62972ac46f75f7b981be63439b2999ce13064615139891d5e4c5b406f16e3fc181a77ca475840025db2f0a77f81b5ab05b94c01346755f69232c86519d86cbeeac87aac347d143f9605d64f650db4d023e70e952ca49fe5137121c74bc2697687e248746d6df353005f3bce18696129c8153556b3b6c6779b37bf15985684f";
    const RFC_CLIENT_APP_REC: &str = "1703030043a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66bcab3f2b9819a8a5b46b395bd54a9a20441e2b62974e1f5a6292a2977014bd1e3deae63aeebb21694915e4";
    const RFC_SERVER_APP_REC: &str = "17030300432e937e11ef4ac740e538ad36005fc4a46932fc3225d05f82aa1b36e30efaf97d90e6dffc602dcb501a59a8fcc49c4bf2e5f0a21c0047c2abf332540dd032e167c2955d";
    const RFC_SERVER_ALERT_REC: &str = "1703030013b58fd67166ebf599d24720cfbe7efa7a8864a9";
    const RFC_CLIENT_ALERT_REC: &str = "1703030013c9872760655666b74d7ff1153efd6db6d0b0e3";

    fn rfc_keylog() -> String {
        format!(
            "# RFC 8448 section 3\n\
             CLIENT_HANDSHAKE_TRAFFIC_SECRET {RFC_RANDOM} {RFC_CHTS}\n\
             SERVER_HANDSHAKE_TRAFFIC_SECRET {RFC_RANDOM} {RFC_SHTS}\n\
             CLIENT_TRAFFIC_SECRET_0 {RFC_RANDOM} {RFC_CATS}\n\
             SERVER_TRAFFIC_SECRET_0 {RFC_RANDOM} {RFC_SATS}\n"
        )
    }

    fn rfc_ch_record() -> Vec<u8> {
        let mut rec = hex("16030100c4");
        rec.extend(hex(RFC_CH));
        rec
    }

    /// The trace's records in the order they crossed the wire.
    fn rfc_chunks() -> Vec<(bool, Vec<u8>)> {
        let mut flight = hex(RFC_SH_REC);
        flight.extend(hex(RFC_FLIGHT_REC));
        vec![
            (true, rfc_ch_record()),
            (false, flight),
            (true, hex(RFC_FIN_REC)),
            (false, hex(RFC_TICKET_REC)),
            (true, hex(RFC_CLIENT_APP_REC)),
            (false, hex(RFC_SERVER_APP_REC)),
            (false, hex(RFC_SERVER_ALERT_REC)),
            (true, hex(RFC_CLIENT_ALERT_REC)),
        ]
    }

    /// The trace's application data, both ways: 00 01 … 31.
    fn rfc_payload() -> Vec<u8> {
        (0u8..=0x31).collect()
    }

    // --- Feeding -------------------------------------------------------------------------

    /// A small deterministic generator for chunk sizes.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n.max(1) as u64) as usize
        }
    }

    /// How the recorded streams are handed to the decryptor.
    #[derive(Debug, Clone, Copy)]
    enum Split {
        /// Each write as it was produced, interleaved as produced.
        AsWritten,
        /// One byte per call.
        Bytes,
        /// Each write cut at random points.
        Random(u64),
        /// Consecutive writes of a direction merged, as TCP would.
        Coalesced,
        /// The client's first write, then the server's whole stream, then the rest of
        /// the client's.
        WholeStreams,
    }

    const SPLITS: [Split; 6] = [
        Split::AsWritten,
        Split::Bytes,
        Split::Random(1),
        Split::Random(0x5eed),
        Split::Coalesced,
        Split::WholeStreams,
    ];

    fn decrypt(
        keys: &KeyLog,
        chunks: &[(bool, Vec<u8>)],
        split: Split,
    ) -> ([Vec<u8>; 2], TlsStatus) {
        let mut dec = TlsDecryptor::new(Arc::new(keys.clone()));
        let mut plain = [Vec::new(), Vec::new()];
        let mut feed = |from_client: bool, bytes: &[u8]| {
            dec.feed(from_client, bytes, &mut plain[usize::from(!from_client)]);
        };
        match split {
            Split::AsWritten => chunks.iter().for_each(|(c, b)| feed(*c, b)),
            Split::Bytes => {
                for (c, b) in chunks {
                    b.chunks(1).for_each(|x| feed(*c, x));
                }
            }
            Split::Random(seed) => {
                let mut rng = Rng(seed | 1);
                for (c, b) in chunks {
                    let mut rest = &b[..];
                    while !rest.is_empty() {
                        let max = if rng.below(4) == 0 { 6 } else { 3000 };
                        let n = 1 + rng.below(max.min(rest.len()));
                        feed(*c, &rest[..n]);
                        rest = &rest[n..];
                    }
                }
            }
            Split::Coalesced => {
                let mut pending: Option<(bool, Vec<u8>)> = None;
                for (c, b) in chunks {
                    match &mut pending {
                        Some((pc, pb)) if pc == c => pb.extend_from_slice(b),
                        _ => {
                            if let Some((pc, pb)) = pending.take() {
                                feed(pc, &pb);
                            }
                            pending = Some((*c, b.clone()));
                        }
                    }
                }
                if let Some((pc, pb)) = pending {
                    feed(pc, &pb);
                }
            }
            Split::WholeStreams => {
                let first = chunks.iter().position(|(c, _)| *c).expect("a client write");
                feed(true, &chunks[first].1);
                let server: Vec<u8> = chunks
                    .iter()
                    .filter(|(c, _)| !c)
                    .flat_map(|(_, b)| b.clone())
                    .collect();
                feed(false, &server);
                let client: Vec<u8> = chunks
                    .iter()
                    .enumerate()
                    .filter(|(i, (c, _))| *c && *i != first)
                    .flat_map(|(_, (_, b))| b.clone())
                    .collect();
                feed(true, &client);
            }
        }
        dec.flush(true, &mut plain[0]);
        dec.flush(false, &mut plain[1]);
        let status = dec.status();
        (plain, status)
    }

    #[test]
    fn the_public_types_can_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<TlsDecryptor>();
        send_sync::<KeyLog>();
        send_sync::<TlsStatus>();
        send_sync::<KeyLogError>();
    }

    // --- Key derivation known answers ----------------------------------------------------

    #[test]
    fn expand_label_gives_rfc8448_traffic_keys() {
        let suite = find_suite(0x1301, TLS13).unwrap();
        let (mut key, mut iv) = ([0u8; 16], [0u8; 12]);
        expand_label(suite.hash, &hex(RFC_SHTS), b"key", &mut key).unwrap();
        expand_label(suite.hash, &hex(RFC_SHTS), b"iv", &mut iv).unwrap();
        assert_eq!(key.to_vec(), hex("3fce516009c21727d0f2e4e86ee403bc"));
        assert_eq!(iv.to_vec(), hex("5d313eb2671276ee13000b30"));
        expand_label(suite.hash, &hex(RFC_CATS), b"key", &mut key).unwrap();
        expand_label(suite.hash, &hex(RFC_CATS), b"iv", &mut iv).unwrap();
        assert_eq!(key.to_vec(), hex("17422dda596ed5d9acd890e3c63f5051"));
        assert_eq!(iv.to_vec(), hex("5b78923dee08579033e523d9"));
    }

    #[test]
    fn prf_gives_the_published_tls12_sha256_vector() {
        let mut out = [0u8; 100];
        prf(
            Hash::Sha256,
            &hex("9bbe436ba940f017b17652849a71db35"),
            b"test label",
            [&hex("a0ba9f936cda311827a6f796ffd5198c"), &[]],
            &mut out,
        );
        assert_eq!(
            out.to_vec(),
            hex(
                "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a\
                 6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab\
                 4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701\
                 87347b66"
            )
        );
    }

    // --- Hellos --------------------------------------------------------------------------

    #[test]
    fn hellos_of_rfc8448_parse() {
        let ch = parse_client_hello(&hex(RFC_CH)[4..]).unwrap();
        assert_eq!(ch.random.to_vec(), hex(RFC_RANDOM));
        assert_eq!(ch.sni.as_deref(), Some("server"));
        assert_eq!(ch.offered, vec![0x0304]);
        assert!(!ch.early_data);
        let sh = parse_server_hello(&hex(RFC_SH_REC)[9..]).unwrap();
        assert_eq!(sh.random[..4], [0xa6, 0xaf, 0x06, 0xa4]);
        assert_eq!(
            (sh.cipher_suite, sh.version, sh.hello_retry),
            (0x1301, 0x0304, false)
        );
    }

    /// A ServerHello body: `version` as legacy, `supported` in supported_versions.
    fn server_hello_body(
        random: [u8; 32],
        suite: u16,
        legacy: u16,
        supported: Option<u16>,
    ) -> Vec<u8> {
        let mut b = legacy.to_be_bytes().to_vec();
        b.extend(random);
        b.push(0); // session id
        b.extend(suite.to_be_bytes());
        b.push(0); // compression
        let ext: Vec<u8> = supported.map_or(Vec::new(), |v| {
            let mut e = vec![0, 43, 0, 2];
            e.extend(v.to_be_bytes());
            e
        });
        b.extend(u16::try_from(ext.len()).unwrap().to_be_bytes());
        b.extend(ext);
        b
    }

    /// A handshake record around one message.
    fn handshake_record(ty: u8, body: &[u8]) -> Vec<u8> {
        let len = u32::try_from(body.len()).unwrap().to_be_bytes();
        let mut r = vec![22, 3, 3];
        r.extend(u16::try_from(body.len() + 4).unwrap().to_be_bytes());
        r.push(ty);
        r.extend(&len[1..]);
        r.extend(body);
        r
    }

    #[test]
    fn hello_variants_parse_as_flows_did() {
        // No supported_versions: the legacy version alone, as before.
        let sh = parse_server_hello(&server_hello_body([7; 32], 0xC02F, 0x0303, None)).unwrap();
        assert_eq!((sh.version, sh.hello_retry), (0x0303, false));
        let hrr = parse_server_hello(&server_hello_body(
            HELLO_RETRY_RANDOM,
            0x1301,
            0x0303,
            Some(0x0304),
        ))
        .unwrap();
        assert_eq!((hrr.version, hrr.hello_retry), (0x0304, true));
        // GREASE is not a version; early_data is seen.
        let mut ch = hex(RFC_CH)[4..].to_vec();
        let ext_at = ch.len() - 0x91;
        let extra = [
            0x00, 0x2a, 0x00, 0x00, 0x00, 0x2b, 0x00, 0x05, 0x04, 0x1a, 0x1a, 0x03, 0x03,
        ];
        ch.extend(extra);
        let len = u16::from_be_bytes([ch[ext_at - 2], ch[ext_at - 1]]) + extra.len() as u16;
        ch[ext_at - 2..ext_at].copy_from_slice(&len.to_be_bytes());
        let parsed = parse_client_hello(&ch).unwrap();
        assert!(parsed.early_data);
        // The last supported_versions extension wins, GREASE dropped.
        assert_eq!(parsed.offered, vec![0x0303]);
        assert!(parse_client_hello(&ch[..40]).is_none());
    }

    // --- RFC 8448 through the decryptor --------------------------------------------------

    #[test]
    fn rfc8448_simple_1rtt_decrypts_both_directions() {
        let keys = KeyLog::parse(&rfc_keylog(), "rfc8448.keys").unwrap();
        assert_eq!(keys.len(), 1);
        for split in SPLITS {
            let (plain, status) = decrypt(&keys, &rfc_chunks(), split);
            same(&plain[0], &rfc_payload(), &format!("{split:?} client"));
            same(&plain[1], &rfc_payload(), &format!("{split:?} server"));
            assert_eq!(
                status.client.state,
                DirState::Closed(CLOSE_NOTIFY),
                "{split:?}"
            );
            assert_eq!(
                status.server.state,
                DirState::Closed(CLOSE_NOTIFY),
                "{split:?}"
            );
            // Finished, application data, alert; flight, ticket, application data, alert.
            assert_eq!((status.client.records, status.server.records), (3, 4));
            assert_eq!(
                (status.client.plaintext_bytes, status.server.plaintext_bytes),
                (50, 50)
            );
            assert_eq!(status.sni(), Some("server"));
            assert_eq!(status.negotiated(), Some(0x0304));
            assert_eq!(status.cipher_suite(), Some(0x1301));
            assert!(!status.hello_retry);
            let info = status.info();
            assert_eq!(info.offered, vec![0x0304]);
            assert_eq!(info.negotiated, Some(0x0304));
        }
    }

    #[test]
    fn client_records_before_the_server_hello_wait_then_decrypt() {
        let keys = Arc::new(KeyLog::parse(&rfc_keylog(), "k").unwrap());
        let mut dec = TlsDecryptor::new(keys);
        let (mut client, mut server) = (Vec::new(), Vec::new());
        let chunks = rfc_chunks();
        for (_, b) in chunks.iter().filter(|(c, _)| *c) {
            dec.feed(true, b, &mut client);
        }
        assert!(client.is_empty());
        assert!(matches!(
            dec.status().client.state,
            DirState::Waiting { hello: "ServerHello", queued } if queued > 0
        ));
        for (_, b) in chunks.iter().filter(|(c, _)| !*c) {
            dec.feed(false, b, &mut server);
        }
        same(&server, &rfc_payload(), "server");
        dec.flush(true, &mut client);
        same(&client, &rfc_payload(), "client");
        assert_eq!(dec.status().client.state, DirState::Closed(CLOSE_NOTIFY));
    }

    // --- Failures ------------------------------------------------------------------------

    #[test]
    fn unknown_client_random_is_no_keys_for_both_directions() {
        let other = rfc_keylog().replace(RFC_RANDOM, &"ab".repeat(32));
        let keys = KeyLog::parse(&other, "k").unwrap();
        let (plain, status) = decrypt(&keys, &rfc_chunks(), Split::AsWritten);
        assert!(plain[0].is_empty() && plain[1].is_empty());
        let random: [u8; 32] = hex(RFC_RANDOM).try_into().unwrap();
        let want = StopReason::NoKeys {
            client_random: random,
        };
        assert_eq!(status.client.state, DirState::Stopped(want.clone()));
        assert_eq!(status.server.state, DirState::Stopped(want.clone()));
        // The hellos are still known.
        assert_eq!(status.sni(), Some("server"));
        let text = want.to_string();
        assert_eq!(text, "no key for client random cb34…ece7 in the key log");
        assert!(!text.contains(RFC_RANDOM));
    }

    #[test]
    fn a_wrong_secret_fails_authentication_of_its_direction_only() {
        let mut wrong = hex(RFC_SHTS);
        wrong[0] ^= 1;
        let text = rfc_keylog().replace(RFC_SHTS, &hex::encode(wrong));
        let keys = KeyLog::parse(&text, "k").unwrap();
        let (plain, status) = decrypt(&keys, &rfc_chunks(), Split::AsWritten);
        assert_eq!(
            status.server.state,
            DirState::Stopped(StopReason::DecryptFailed { record: 1 })
        );
        assert!(plain[1].is_empty());
        same(&plain[0], &rfc_payload(), "client");

        // The application secret wrong: the handshake decrypts, the first application
        // record (the ticket, the server's second protected record) does not.
        let mut wrong = hex(RFC_SATS);
        wrong[31] ^= 0x80;
        let text = rfc_keylog().replace(RFC_SATS, &hex::encode(wrong));
        let keys = KeyLog::parse(&text, "k").unwrap();
        let (_, status) = decrypt(&keys, &rfc_chunks(), Split::AsWritten);
        assert_eq!(
            status.server.state,
            DirState::Stopped(StopReason::DecryptFailed { record: 2 })
        );
    }

    #[test]
    fn a_missing_label_names_it() {
        let text: String = rfc_keylog()
            .lines()
            .filter(|l| !l.starts_with("SERVER_TRAFFIC"))
            .map(|l| format!("{l}\n"))
            .collect();
        let keys = KeyLog::parse(&text, "k").unwrap();
        let (_, status) = decrypt(&keys, &rfc_chunks(), Split::AsWritten);
        let DirState::Stopped(reason) = status.server.state else {
            panic!("{:?}", status.server.state)
        };
        assert_eq!(
            reason.to_string(),
            "the key log has client random cb34…ece7 but no SERVER_TRAFFIC_SECRET_0"
        );
        assert_eq!(status.client.state, DirState::Closed(CLOSE_NOTIFY));
    }

    #[test]
    fn a_gap_stops_its_direction() {
        let keys = Arc::new(KeyLog::parse(&rfc_keylog(), "k").unwrap());
        let mut dec = TlsDecryptor::new(keys);
        let mut plain = [Vec::new(), Vec::new()];
        for (i, (c, b)) in rfc_chunks().into_iter().enumerate() {
            if i == 2 {
                dec.gap(true);
            }
            dec.feed(c, &b, &mut plain[usize::from(!c)]);
        }
        assert_eq!(
            dec.status().client.state,
            DirState::Stopped(StopReason::Gap)
        );
        assert!(plain[0].is_empty());
        same(&plain[1], &rfc_payload(), "server");
        // A closed direction stays closed.
        dec.gap(false);
        assert_eq!(dec.status().server.state, DirState::Closed(CLOSE_NOTIFY));
        assert!(!dec.is_active(true) && !dec.is_active(false));
    }

    fn fresh() -> TlsDecryptor {
        TlsDecryptor::new(Arc::new(KeyLog::parse(&rfc_keylog(), "k").unwrap()))
    }

    #[test]
    fn a_record_over_the_limit_is_too_large() {
        let mut dec = fresh();
        let mut plain = Vec::new();
        dec.feed(true, &[23, 3, 3, 0x80], &mut plain);
        assert_eq!(dec.status().client.state, DirState::Decrypting);
        dec.feed(true, &[0x00, 1, 2, 3], &mut plain);
        assert_eq!(
            dec.status().client.state,
            DirState::Stopped(StopReason::TooLarge { length: 32768 })
        );
        // The largest allowed length is fine.
        let mut dec = fresh();
        dec.feed(true, &rfc_ch_record(), &mut plain);
        dec.feed(true, &[22, 3, 3, 0x41, 0x00], &mut plain);
        assert_eq!(dec.status().client.state, DirState::Decrypting);
    }

    #[test]
    fn bytes_that_are_not_tls_are_malformed() {
        let mut dec = fresh();
        let mut plain = Vec::new();
        dec.feed(true, b"GET / HTTP/1.1\r\n", &mut plain);
        let DirState::Stopped(StopReason::Malformed(what)) = dec.status().client.state else {
            panic!("{:?}", dec.status().client.state)
        };
        assert!(what.contains("not a TLS record"), "{what}");
    }

    #[test]
    fn protected_records_without_a_server_hello_are_held_back_up_to_64_kib() {
        let mut dec = fresh();
        let mut plain = Vec::new();
        dec.feed(true, &rfc_ch_record(), &mut plain);
        let mut rec = vec![23, 3, 3, 0x40, 0x00];
        rec.resize(5 + 0x4000, 0xAA);
        for _ in 0..3 {
            dec.feed(true, &rec, &mut plain);
        }
        assert_eq!(
            dec.status().client.state,
            DirState::Waiting {
                hello: "ServerHello",
                queued: 3 * rec.len()
            }
        );
        for _ in 0..2 {
            dec.feed(true, &rec, &mut plain);
        }
        assert_eq!(
            dec.status().client.state,
            DirState::Stopped(StopReason::HelloNotSeen("ServerHello"))
        );
        assert!(plain.is_empty());

        // The server direction gone: no point waiting.
        let mut dec = fresh();
        dec.feed(true, &rfc_ch_record(), &mut plain);
        dec.gap(false);
        dec.feed(true, &hex(RFC_FIN_REC), &mut plain);
        assert_eq!(
            dec.status().client.state,
            DirState::Stopped(StopReason::HelloNotSeen("ServerHello"))
        );
    }

    #[test]
    fn unsupported_suites_and_versions_stop_both_directions() {
        for (body, want, text) in [
            (
                server_hello_body([1; 32], 0xC013, 0x0303, None),
                StopReason::UnsupportedCipherSuite(0xC013),
                "cipher suite 0xc013 is not supported",
            ),
            (
                server_hello_body([1; 32], 0xC02F, 0x0302, None),
                StopReason::UnsupportedVersion(0x0302),
                "TLS 1.1 (0x0302) is not supported",
            ),
            (
                // A TLS 1.2 code point under TLS 1.3.
                server_hello_body([1; 32], 0xC02F, 0x0303, Some(0x0304)),
                StopReason::UnsupportedCipherSuite(0xC02F),
                "0xc02f",
            ),
        ] {
            let mut dec = fresh();
            let mut plain = Vec::new();
            dec.feed(true, &rfc_ch_record(), &mut plain);
            dec.feed(false, &handshake_record(2, &body), &mut plain);
            let status = dec.status();
            assert_eq!(status.client.state, DirState::Stopped(want.clone()));
            assert_eq!(status.server.state, DirState::Stopped(want.clone()));
            assert!(want.to_string().contains(text), "{want}");
            assert!(status.server_hello.is_some());
        }
    }

    #[test]
    fn alerts_display_by_name() {
        assert_eq!(CLOSE_NOTIFY.to_string(), "close_notify");
        let fatal = Alert {
            level: 2,
            description: 40,
        };
        assert_eq!(fatal.to_string(), "fatal handshake_failure (40)");
        assert_eq!(
            Alert {
                level: 1,
                description: 200
            }
            .to_string(),
            "warning alert 200"
        );
    }

    #[test]
    fn a_plaintext_fatal_alert_closes_the_direction() {
        let mut dec = fresh();
        let mut plain = Vec::new();
        dec.feed(true, &rfc_ch_record(), &mut plain);
        dec.feed(false, &[21, 3, 3, 0, 2, 2, 40], &mut plain);
        let fatal = Alert {
            level: 2,
            description: 40,
        };
        assert_eq!(dec.status().server.state, DirState::Closed(fatal));
        assert_eq!(dec.status().server.alert, Some(fatal));
    }

    // --- Key log -------------------------------------------------------------------------

    #[test]
    fn key_log_errors_name_the_line_and_column() {
        let random = "0".repeat(64);
        let master = "1".repeat(96);
        let cases = [
            (
                format!("# keys\n\nCLIENT_RANDOM {random}\n"),
                "keys.log:3:",
                "expected 3 fields",
            ),
            (
                format!("CLIENT_RANDOM {random} {master} extra\n"),
                "keys.log:1:",
                "found more",
            ),
            (
                format!("CLIENT_RANDOM abcd {master}\n"),
                "keys.log:1:15:",
                "64 hex digits",
            ),
            (
                format!("\nCLIENT_RANDOM {} {master}\n", "g".repeat(64)),
                "keys.log:2:15:",
                "not all hex",
            ),
            (
                format!("CLIENT_RANDOM {random} {}\n", "2".repeat(64)),
                "keys.log:1:80:",
                "48 bytes",
            ),
            (
                format!("SERVER_TRAFFIC_SECRET_0 {random} {}zz\n", "3".repeat(62)),
                "keys.log:1:",
                "not hex",
            ),
        ];
        for (text, at, what) in cases {
            let err = KeyLog::parse(&text, "keys.log").unwrap_err().to_string();
            assert!(err.starts_with(at), "{err:?} should start with {at}");
            assert!(err.contains(what), "{err:?} should say {what}");
            assert!(
                !err.contains(&master) && !err.contains(&"3".repeat(62)),
                "{err}"
            );
        }
    }

    #[test]
    fn key_log_skips_comments_unknown_labels_and_accepts_crlf() {
        let r1 = "01".repeat(32);
        let r2 = "02".repeat(32);
        let text = format!(
            "\u{feff}# SSL/TLS secrets log file\r\n\
             CLIENT_RANDOM {r1} {}\r\n\
             EXPORTER_SECRET {r2} {}\r\n\
             RSA 0102030405060708 {}\r\n\
             \r\n\
             \tSERVER_TRAFFIC_SECRET_0 {r2} {}  \r\n",
            "aa".repeat(48),
            "bb".repeat(32),
            "cc".repeat(48),
            "dd".repeat(48),
        );
        let keys = KeyLog::parse(&text, "k").unwrap();
        assert_eq!(keys.len(), 2);
        assert!(!keys.is_empty());
        assert!(keys.contains(&[1; 32]) && keys.contains(&[2; 32]));
        assert!(KeyLog::parse("", "k").unwrap().is_empty());
    }

    #[test]
    fn key_log_from_a_missing_file_names_it() {
        let err = KeyLog::from_file(Path::new("/nonexistent/keys.log")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/nonexistent/keys.log: cannot read"),
            "{err}"
        );
    }

    #[test]
    fn key_log_from_a_file_reads_it() {
        let path =
            std::env::temp_dir().join(format!("tls-decrypt-keys-{}.log", std::process::id()));
        std::fs::write(&path, rfc_keylog()).unwrap();
        let keys = KeyLog::from_file(&path);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(keys.unwrap().len(), 1);
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let keys = KeyLog::parse(&rfc_keylog(), "k").unwrap();
        let shown = format!("{keys:?}");
        assert_eq!(shown, "KeyLog { client_randoms: 1, secrets: 4 }");
        let keys = Arc::new(keys);
        let mut dec = TlsDecryptor::new(keys);
        let mut plain = Vec::new();
        for (c, b) in rfc_chunks().into_iter().take(4) {
            dec.feed(c, &b, &mut plain);
        }
        let shown = format!("{dec:?} {:?}", dec.status());
        for secret in [RFC_CHTS, RFC_SHTS, RFC_CATS, RFC_SATS] {
            assert!(!shown.contains(&secret[..16]), "{shown}");
        }
        assert!(shown.contains("TlsDecryptor"));
        let secret = Secret::new(&hex(RFC_SATS)).unwrap();
        assert_eq!(format!("{secret:?}"), "Secret(32 bytes)");
    }

    // --- Real handshakes with rustls -----------------------------------------------------

    /// Collects the NSS key log lines rustls hands out.
    #[derive(Debug, Default)]
    struct Lines(Mutex<String>);

    impl rustls::KeyLog for Lines {
        fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
            let line = format!(
                "{label} {} {}\n",
                hex::encode(client_random),
                hex::encode(secret)
            );
            self.0.lock().unwrap().push_str(&line);
        }
    }

    fn certificate() -> &'static (CertificateDer<'static>, Vec<u8>) {
        static CERT: OnceLock<(CertificateDer<'static>, Vec<u8>)> = OnceLock::new();
        CERT.get_or_init(|| {
            let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
            (made.cert.der().clone(), made.signing_key.serialize_der())
        })
    }

    #[derive(Clone)]
    struct Configs {
        client: Arc<ClientConfig>,
        server: Arc<ServerConfig>,
        keys: Arc<Lines>,
    }

    /// Client and server restricted to one version and suite; `hello_retry`: the server
    /// only accepts a group the client does not send a key share for.
    fn configs(
        version: &'static SupportedProtocolVersion,
        suite: SupportedCipherSuite,
        hello_retry: bool,
    ) -> Configs {
        let (cert, key) = certificate();
        let mut provider = default_provider();
        provider.cipher_suites = vec![suite];
        let mut server_provider = provider.clone();
        if hello_retry {
            provider.kx_groups = vec![kx_group::X25519, kx_group::SECP256R1];
            server_provider.kx_groups = vec![kx_group::SECP256R1];
        }
        let mut roots = RootCertStore::empty();
        roots.add(cert.clone()).unwrap();
        let keys = Arc::new(Lines::default());
        let mut client = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.key_log = keys.clone();
        let server = ServerConfig::builder_with_provider(Arc::new(server_provider))
            .with_protocol_versions(&[version])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.clone())),
            )
            .unwrap();
        Configs {
            client: Arc::new(client),
            server: Arc::new(server),
            keys,
        }
    }

    /// A recorded connection.
    struct Session {
        /// Every write of either side, in the order produced.
        chunks: Vec<(bool, Vec<u8>)>,
        /// The application data each side's peer read: [client→server, server→client].
        received: [Vec<u8>; 2],
        keylog: String,
        kind: Option<HandshakeKind>,
        early_accepted: bool,
    }

    struct Pair {
        conns: [Connection; 2],
        chunks: Vec<(bool, Vec<u8>)>,
        received: [Vec<u8>; 2],
    }

    impl Pair {
        /// Moves bytes both ways until neither side has anything to write.
        fn pump(&mut self) {
            loop {
                let [client, server] = &mut self.conns;
                let a = move_tls(
                    client,
                    server,
                    true,
                    &mut self.chunks,
                    &mut self.received[0],
                );
                let b = move_tls(
                    server,
                    client,
                    false,
                    &mut self.chunks,
                    &mut self.received[1],
                );
                if !a && !b {
                    return;
                }
            }
        }

        fn send(&mut self, client: bool, data: &[u8]) {
            self.conns[usize::from(!client)]
                .writer()
                .write_all(data)
                .unwrap();
            self.pump();
        }
    }

    fn move_tls(
        from: &mut Connection,
        to: &mut Connection,
        from_client: bool,
        chunks: &mut Vec<(bool, Vec<u8>)>,
        received: &mut Vec<u8>,
    ) -> bool {
        let mut moved = false;
        while from.wants_write() {
            let mut buf = Vec::new();
            from.write_tls(&mut buf).unwrap();
            if buf.is_empty() {
                break;
            }
            let mut rest = &buf[..];
            while !rest.is_empty() {
                if to.read_tls(&mut rest).unwrap() == 0 {
                    break;
                }
                to.process_new_packets().unwrap();
            }
            let mut tmp = [0u8; 4096];
            loop {
                match to.reader().read(&mut tmp) {
                    Ok(0) => break,
                    Ok(n) => received.extend_from_slice(&tmp[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e}"),
                }
            }
            if let Connection::Server(s) = to {
                // Early data is read (and not counted as ordinary application data).
                if let Some(mut early) = s.early_data() {
                    let mut sink = Vec::new();
                    early.read_to_end(&mut sink).unwrap();
                }
            }
            chunks.push((from_client, buf));
            moved = true;
        }
        moved
    }

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
            .collect()
    }

    /// A handshake, application data both ways (one message larger than a record), a
    /// key update each way when `key_update`, and close_notify both ways.
    fn converse(cfg: &Configs, early: Option<&[u8]>, key_update: bool) -> Session {
        cfg.keys.0.lock().unwrap().clear();
        let mut client =
            ClientConnection::new(cfg.client.clone(), "localhost".try_into().unwrap()).unwrap();
        if let Some(data) = early {
            client
                .early_data()
                .expect("0-RTT possible")
                .write_all(data)
                .unwrap();
        }
        let server = ServerConnection::new(cfg.server.clone()).unwrap();
        let mut pair = Pair {
            conns: [Connection::Client(client), Connection::Server(server)],
            chunks: Vec::new(),
            received: [Vec::new(), Vec::new()],
        };
        pair.pump();
        let mut sent = [Vec::new(), Vec::new()];
        let mut send = |pair: &mut Pair, client: bool, data: &[u8]| {
            sent[usize::from(!client)].extend_from_slice(data);
            pair.send(client, data);
        };
        send(&mut pair, true, b"CONNECT from the client");
        send(&mut pair, false, b"CONNACK from the server");
        send(&mut pair, true, &pattern(20_000, 1));
        if key_update {
            pair.conns[0].refresh_traffic_keys().unwrap();
            pair.pump();
            pair.conns[1].refresh_traffic_keys().unwrap();
            pair.pump();
        }
        send(&mut pair, true, b"after the key update");
        send(&mut pair, false, &pattern(17_000, 2));
        send(&mut pair, false, b"bye");
        pair.conns[0].send_close_notify();
        pair.pump();
        pair.conns[1].send_close_notify();
        pair.pump();
        let Connection::Client(client) = &pair.conns[0] else {
            unreachable!()
        };
        let early_accepted = client.is_early_data_accepted();
        let kind = client.handshake_kind();
        // The harness itself: each side read what the other sent.
        same(&pair.received[0], &sent[0], "rustls client→server");
        same(&pair.received[1], &sent[1], "rustls server→client");
        Session {
            chunks: pair.chunks,
            received: pair.received,
            keylog: cfg.keys.0.lock().unwrap().clone(),
            kind,
            early_accepted,
        }
    }

    /// Decrypts `session` in every split and checks the plaintext both ways.
    fn check(session: &Session, version: u16, suite: u16) {
        let keys = KeyLog::parse(&session.keylog, "rustls").unwrap();
        assert_eq!(keys.len(), 1);
        for split in SPLITS {
            let (plain, status) = decrypt(&keys, &session.chunks, split);
            same(
                &plain[0],
                &session.received[0],
                &format!("{split:?} client→server"),
            );
            same(
                &plain[1],
                &session.received[1],
                &format!("{split:?} server→client"),
            );
            assert_eq!(
                status.client.state,
                DirState::Closed(CLOSE_NOTIFY),
                "{split:?}"
            );
            assert_eq!(
                status.server.state,
                DirState::Closed(CLOSE_NOTIFY),
                "{split:?}"
            );
            assert_eq!(status.negotiated(), Some(version));
            assert_eq!(status.cipher_suite(), Some(suite));
            assert_eq!(status.sni(), Some("localhost"));
        }
    }

    #[test]
    fn rustls_tls13_all_suites_with_key_updates() {
        for (suite, code) in [
            (cs::TLS13_AES_128_GCM_SHA256, 0x1301),
            (cs::TLS13_AES_256_GCM_SHA384, 0x1302),
            (cs::TLS13_CHACHA20_POLY1305_SHA256, 0x1303),
        ] {
            let cfg = configs(&rustls::version::TLS13, suite, false);
            let session = converse(&cfg, None, true);
            assert_eq!(session.kind, Some(HandshakeKind::Full));
            check(&session, 0x0304, code);
            let (_, status) = decrypt(
                &KeyLog::parse(&session.keylog, "k").unwrap(),
                &session.chunks,
                Split::AsWritten,
            );
            assert!(status.client.key_updates >= 1 && status.server.key_updates >= 1);
        }
    }

    #[test]
    fn rustls_tls12_all_suites() {
        for (suite, code) in [
            (cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 0xC02B),
            (cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, 0xC02C),
            (cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, 0xCCA9),
        ] {
            let cfg = configs(&rustls::version::TLS12, suite, false);
            let session = converse(&cfg, None, false);
            check(&session, 0x0303, code);
        }
    }

    #[test]
    fn rustls_hello_retry_request() {
        let cfg = configs(&rustls::version::TLS13, cs::TLS13_AES_128_GCM_SHA256, true);
        let session = converse(&cfg, None, false);
        assert_eq!(session.kind, Some(HandshakeKind::FullWithHelloRetryRequest));
        check(&session, 0x0304, 0x1301);
        let keys = KeyLog::parse(&session.keylog, "k").unwrap();
        let (_, status) = decrypt(&keys, &session.chunks, Split::AsWritten);
        assert!(status.hello_retry);
        assert!(!status.server_hello.unwrap().hello_retry);
    }

    #[test]
    fn rustls_resumed_sessions() {
        for (version, suite, code, v) in [
            (
                &rustls::version::TLS12,
                cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                0xC02B,
                0x0303,
            ),
            (
                &rustls::version::TLS13,
                cs::TLS13_AES_256_GCM_SHA384,
                0x1302,
                0x0304,
            ),
        ] {
            let cfg = configs(version, suite, false);
            converse(&cfg, None, false);
            let session = converse(&cfg, None, false);
            assert_eq!(session.kind, Some(HandshakeKind::Resumed), "{v:#x}");
            check(&session, v, code);
        }
    }

    #[test]
    fn rustls_accepted_early_data_stops_the_client_direction() {
        let mut cfg = configs(&rustls::version::TLS13, cs::TLS13_AES_128_GCM_SHA256, false);
        let mut client = (*cfg.client).clone();
        client.enable_early_data = true;
        cfg.client = Arc::new(client);
        let mut server = (*cfg.server).clone();
        server.max_early_data_size = 1 << 14;
        cfg.server = Arc::new(server);
        converse(&cfg, None, false);
        let session = converse(&cfg, Some(b"0-RTT CONNECT"), false);
        assert!(session.early_accepted);
        let keys = KeyLog::parse(&session.keylog, "k").unwrap();
        let (plain, status) = decrypt(&keys, &session.chunks, Split::AsWritten);
        assert_eq!(status.early_data_accepted, Some(true));
        assert_eq!(
            status.client.state,
            DirState::Stopped(StopReason::EarlyData)
        );
        assert!(plain[0].is_empty());
        same(&plain[1], &session.received[1], "server→client");

        // Rejected: the server discards the 0-RTT records, so can the decryptor.
        let mut server = (*cfg.server).clone();
        server.max_early_data_size = 0;
        let rejecting = Configs {
            server: Arc::new(server),
            ..cfg.clone()
        };
        converse(&cfg, None, false);
        let session = converse(&rejecting, Some(b"0-RTT CONNECT"), false);
        assert!(!session.early_accepted);
        let keys = KeyLog::parse(&session.keylog, "k").unwrap();
        for split in [Split::AsWritten, Split::Bytes, Split::Random(3)] {
            let (plain, status) = decrypt(&keys, &session.chunks, split);
            assert_eq!(status.early_data_accepted, Some(false));
            assert!(status.client.skipped_early_records >= 1);
            same(&plain[0], &session.received[0], "client→server");
            same(&plain[1], &session.received[1], "server→client");
            assert_eq!(status.client.state, DirState::Closed(CLOSE_NOTIFY));
        }
    }

    // --- Hostile input -------------------------------------------------------------------

    /// Two recorded sessions to corrupt: TLS 1.3 with key updates, TLS 1.2 ChaCha20.
    fn recorded() -> &'static [Session; 2] {
        static SESSIONS: OnceLock<[Session; 2]> = OnceLock::new();
        SESSIONS.get_or_init(|| {
            [
                converse(
                    &configs(&rustls::version::TLS13, cs::TLS13_AES_128_GCM_SHA256, false),
                    None,
                    true,
                ),
                converse(
                    &configs(
                        &rustls::version::TLS12,
                        cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                        false,
                    ),
                    None,
                    false,
                ),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Corrupt one byte anywhere: never a panic, and what comes out is a prefix of
        /// the real plaintext (authentication lets nothing forged through).
        #[test]
        fn corrupted_sessions_yield_a_prefix_of_the_plaintext(
            which in 0usize..2,
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
            seed in any::<u64>(),
        ) {
            let session = &recorded()[which];
            let mut chunks = session.chunks.clone();
            let total: usize = chunks.iter().map(|(_, b)| b.len()).sum();
            let mut at = at.index(total);
            for (_, b) in &mut chunks {
                if at < b.len() {
                    b[at] ^= flip;
                    break;
                }
                at -= b.len();
            }
            let keys = KeyLog::parse(&session.keylog, "k").unwrap();
            let (plain, _) = decrypt(&keys, &chunks, Split::Random(seed));
            prop_assert!(session.received[0].starts_with(&plain[0]));
            prop_assert!(session.received[1].starts_with(&plain[1]));
        }

        /// Random bytes after real hellos, in random chunks: no panic, no plaintext.
        #[test]
        fn garbage_never_panics_nor_decrypts(
            client in prop::collection::vec(any::<u8>(), 0..3000),
            server in prop::collection::vec(any::<u8>(), 0..3000),
            hellos in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let keys = KeyLog::parse(&rfc_keylog(), "k").unwrap();
            let mut chunks = Vec::new();
            if hellos {
                chunks.push((true, rfc_ch_record()));
                chunks.push((false, hex(RFC_SH_REC)));
            }
            chunks.push((true, client));
            chunks.push((false, server));
            let (plain, status) = decrypt(&keys, &chunks, Split::Random(seed));
            prop_assert!(plain[0].is_empty() && plain[1].is_empty());
            prop_assert!(status.client.records == 0 && status.server.records == 0);
        }

        /// Records with plausible headers and random bodies (and the hellos first).
        #[test]
        fn random_records_never_panic(
            records in prop::collection::vec(
                (any::<bool>(), 20u8..=24, prop::collection::vec(any::<u8>(), 0..200)),
                0..40,
            ),
            seed in any::<u64>(),
        ) {
            let keys = KeyLog::parse(&rfc_keylog(), "k").unwrap();
            let mut chunks = vec![(true, rfc_ch_record()), (false, hex(RFC_SH_REC))];
            for (client, ty, body) in records {
                let mut r = vec![ty, 3, 3];
                r.extend(u16::try_from(body.len()).unwrap().to_be_bytes());
                r.extend(body);
                chunks.push((client, r));
            }
            let (plain, _) = decrypt(&keys, &chunks, Split::Random(seed));
            prop_assert!(plain[0].is_empty() && plain[1].is_empty());
        }
    }
}
