//! What decryption achieved per direction, and why it stopped.

use super::*;

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
