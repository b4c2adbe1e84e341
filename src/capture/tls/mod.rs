//! TLS as a capture shows it: records, hellos, and decryption of TLS 1.2 and TLS 1.3
//! connections given the secrets of an `SSLKEYLOGFILE` (the NSS key log format browsers,
//! OpenSSL, rustls and curl write).
//!
//! One job per module: `record` cuts a direction's stream into records (the one framer,
//! used by the connection classifier's hello reader and by the decryptor) and the
//! handshake records into messages; `hello` parses ClientHello and ServerHello; `keylog`
//! reads the key log; `cipher` holds the suites, key derivation and record protection;
//! `decrypt` follows a connection through its handshake; `status` says how far it got.
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

mod cipher;
mod decrypt;
mod hello;
mod keylog;
mod record;
mod status;
#[cfg(test)]
mod tests;

use cipher::*;
pub use cipher::{cipher_suite_name, supported_cipher_suites};
pub use decrypt::TlsDecryptor;
pub(crate) use hello::HelloReader;
use hello::*;
pub use hello::{ClientHello, ServerHello, parse_client_hello, parse_server_hello};
use keylog::*;
pub use keylog::{KeyLog, KeyLogError};
use record::*;
pub use status::{Alert, DirState, DirStatus, StopReason, TlsStatus};

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
/// The content type of a TLS record carrying handshake messages (a ClientHello first).
pub(crate) const CT_HANDSHAKE: u8 = 22;
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
