//! The key log: TLS secrets by client random, read from an `SSLKEYLOGFILE`.

use super::*;

/// A secret out of the key log. Never printed: `Debug` shows its length only.
#[derive(Clone)]
pub(super) struct Secret {
    bytes: [u8; 48],
    len: u8,
}

impl Secret {
    pub(super) fn new(value: &[u8]) -> Option<Self> {
        let mut bytes = [0; 48];
        bytes.get_mut(..value.len())?.copy_from_slice(value);
        Some(Self {
            bytes,
            len: u8::try_from(value.len()).ok()?,
        })
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
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
pub(super) enum Label {
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

    pub(super) fn secret(
        &self,
        client_random: &[u8; 32],
        label: Label,
    ) -> Result<Secret, StopReason> {
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
pub(super) fn decode_hex(hex: &str, out: &mut [u8]) -> Option<()> {
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
pub(super) fn short_random(random: &[u8; 32]) -> String {
    format!(
        "{:02x}{:02x}…{:02x}{:02x}",
        random[0], random[1], random[30], random[31]
    )
}
