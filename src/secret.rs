//! Secret values (device secrets, access keys, tokens, passwords) that must never be printed.
//!
//! A [`Secret`] can only be read through [`Secret::expose`], so every place that touches the
//! clear text is easy to find. Its `Debug` and `Display` output is always `***`, which makes
//! it safe to put into structs that derive `Debug`, log lines and error messages.

#![warn(missing_docs)]

use std::fmt;
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// The text every secret prints as.
pub const REDACTED: &str = "***";

/// A secret string whose `Debug` and `Display` output is [`REDACTED`].
///
/// Equality is compared in constant time with respect to the contents (the length may leak),
/// and the buffer is overwritten with zeros on drop (best effort: copies made by the
/// allocator when the string grew are out of reach).
#[derive(Clone)]
pub struct Secret(String);

/// Why a secret could not be loaded.
///
/// No variant ever carries the secret's value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The environment variable is not set.
    #[error("environment variable `{name}` is not set")]
    EnvNotSet {
        /// Name of the variable.
        name: String,
    },
    /// The environment variable is set but is not valid Unicode.
    #[error("environment variable `{name}` is not valid Unicode")]
    EnvNotUnicode {
        /// Name of the variable.
        name: String,
    },
    /// The secret file could not be read.
    #[error("cannot read secret file `{}`: {source}", path.display())]
    Io {
        /// Path of the file.
        path: PathBuf,
        /// The I/O error (it never contains file contents).
        source: std::io::Error,
    },
    /// The secret file is not valid UTF-8.
    #[error("secret file `{}` is not valid UTF-8", path.display())]
    NotUtf8 {
        /// Path of the file.
        path: PathBuf,
    },
    /// The source exists but holds an empty value; an empty secret is always a configuration
    /// mistake, so it is refused instead of silently signing with an empty key.
    #[error("secret from {origin} is empty")]
    Empty {
        /// Where the value came from, e.g. "environment variable `X`".
        origin: String,
    },
}

impl Secret {
    /// Wraps a value as a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// Returns the clear text. This is the only way to read a secret: call it only where
    /// the value is fed into a signature or onto the wire, never for output.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length of the secret in bytes (safe to print).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Compares the secret with untrusted bytes (e.g. a password from a CONNECT packet) in
    /// time that does not depend on where they differ.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        ct_eq(self.0.as_bytes(), candidate)
    }

    /// Reads a secret from the environment variable `name`.
    ///
    /// The value is taken verbatim (no trimming); an empty value is refused.
    pub fn from_env(name: &str) -> Result<Secret, SecretError> {
        match std::env::var(name) {
            Ok(v) if v.is_empty() => Err(SecretError::Empty {
                origin: format!("environment variable `{name}`"),
            }),
            Ok(v) => Ok(Secret(v)),
            Err(std::env::VarError::NotPresent) => Err(SecretError::EnvNotSet {
                name: name.to_owned(),
            }),
            Err(std::env::VarError::NotUnicode(_)) => Err(SecretError::EnvNotUnicode {
                name: name.to_owned(),
            }),
        }
    }

    /// Reads a secret from a file, removing exactly one trailing line end (`\n` or `\r\n`)
    /// as written by editors and `echo`; other white space is part of the secret.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Secret, SecretError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| SecretError::Io {
            path: path.to_owned(),
            source,
        })?;
        // Build the String ourselves so a UTF-8 error cannot quote the contents.
        let mut text = String::from_utf8(bytes).map_err(|e| {
            // Scrub the rejected bytes before they are dropped.
            e.into_bytes().zeroize();
            SecretError::NotUtf8 {
                path: path.to_owned(),
            }
        })?;
        if text.ends_with("\r\n") {
            text.truncate(text.len() - 2);
        } else if text.ends_with('\n') {
            text.truncate(text.len() - 1);
        }
        if text.is_empty() {
            return Err(SecretError::Empty {
                origin: format!("file `{}`", path.display()),
            });
        }
        Ok(Secret(text))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for Secret {}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // zeroize's writes are volatile: the optimiser cannot drop them as dead.
        self.0.zeroize();
    }
}

/// Constant-time comparison of two byte strings (only the lengths may leak).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{:#?}", Some(s.clone())), "Some(\n    ***,\n)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn equality_and_matches() {
        assert_eq!(Secret::new("abc"), Secret::from("abc"));
        assert_ne!(Secret::new("abc"), Secret::new("abd"));
        assert_ne!(Secret::new("abc"), Secret::new("abcd"));
        assert!(Secret::new("abc").matches(b"abc"));
        assert!(!Secret::new("abc").matches(b"ab"));
        assert!(!Secret::new("abc").matches(b"abC"));
    }

    #[test]
    fn from_file_trims_one_line_end() {
        let dir = std::env::temp_dir().join(format!("secret-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases: [(&str, &[u8], Option<&str>); 6] = [
            ("lf", b"s3cret\n", Some("s3cret")),
            ("crlf", b"s3cret\r\n", Some("s3cret")),
            ("two", b"s3cret\n\n", Some("s3cret\n")),
            ("none", b" s3cret ", Some(" s3cret ")),
            ("empty", b"\n", None),
            ("binary", b"\xff\xfe", None),
        ];
        for (name, content, want) in cases {
            let p = dir.join(name);
            std::fs::write(&p, content).unwrap();
            let got = Secret::from_file(&p);
            match want {
                Some(w) => assert_eq!(got.unwrap().expose(), w, "{name}"),
                None => assert!(got.is_err(), "{name}"),
            }
        }
        assert!(matches!(
            Secret::from_file(dir.join("missing")),
            Err(SecretError::Io { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn from_env_missing() {
        let err = Secret::from_env("MQTT_CONFORM_SURELY_UNSET_VARIABLE_42").unwrap_err();
        assert!(matches!(err, SecretError::EnvNotSet { .. }));
        assert!(
            err.to_string()
                .contains("MQTT_CONFORM_SURELY_UNSET_VARIABLE_42")
        );
    }
}

/// Secrets at least this long are masked wherever they occur, in text, in hex spellings
/// and in raw bytes: a string this long does not turn up inside unrelated text by chance.
pub const MASK_ANYWHERE_LEN: usize = 8;

/// Removes secret values from bytes and text before anything is printed or written.
///
/// It masks the fields that carry secrets, never arbitrary substrings of other text: a
/// secret of [`MASK_ANYWHERE_LEN`] bytes or more is masked wherever it occurs; a shorter
/// one (a test password such as `e`) only where it stands as a whole token in text, or fills
/// a whole field of a packet ([`Redactor::packet_bytes`]) — so with password `e`, `expect
/// closed` stays `expect closed`. A CONNECT's password field is always masked in packet
/// bytes, whatever it holds.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<Vec<u8>>,
}

impl Redactor {
    /// A redactor for these secrets (empty ones are ignored).
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Self {
        let mut r = Self::default();
        for s in secrets {
            r.add(s.expose());
        }
        r
    }

    /// Adds a value to hide (e.g. a password derived from a secret).
    pub fn add(&mut self, value: &str) {
        if !value.is_empty() && !self.secrets.iter().any(|s| s == value.as_bytes()) {
            self.secrets.push(value.as_bytes().to_vec());
            // Longest first, so a secret containing another is hidden whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// Bytes of unknown structure with every long secret replaced by `*` bytes (short ones
    /// would match unrelated bytes: see [`Redactor::packet_bytes`] for packets).
    pub fn bytes(&self, data: &[u8]) -> Vec<u8> {
        let mut out = data.to_vec();
        for s in self.secrets.iter().filter(|s| s.len() >= MASK_ANYWHERE_LEN) {
            mask_all(&mut out, s);
        }
        out
    }

    /// A packet's bytes for a hex dump: its secret-carrying fields masked with `*` bytes —
    /// a CONNECT's password always, a PUBLISH payload that is a secret — and long secrets
    /// wherever they occur.
    pub fn packet_bytes(
        &self,
        data: &[u8],
        packet: &Result<crate::codec::Packet, crate::codec::DecodeError>,
    ) -> Vec<u8> {
        use crate::codec::Packet;
        let mut out = self.bytes(data);
        // Both fields end the packet: the password is the last field of a CONNECT, the
        // payload the rest of a PUBLISH.
        let tail = match packet {
            Ok(Packet::Connect(c)) => c.password.as_deref(),
            Ok(Packet::Publish(p)) if self.secrets.iter().any(|s| s[..] == p.payload[..]) => {
                Some(&p.payload[..])
            }
            _ => None,
        };
        if let Some(field) = tail.filter(|f| !f.is_empty()) {
            if out.ends_with(field) {
                let start = out.len() - field.len();
                out[start..].fill(b'*');
            }
        }
        out
    }

    /// Text with every secret replaced by `***`: long secrets (and their lower-case hex
    /// spellings, plain or spaced) wherever they occur, short ones where they stand as a
    /// whole token (not inside a word or number).
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            out = mask_text(&out, s);
            if s.len() >= MASK_ANYWHERE_LEN {
                out = out.replace(&hex::encode(s), REDACTED);
                let spaced: Vec<String> = s.iter().map(|b| format!("{b:02x}")).collect();
                out = out.replace(&spaced.join(" "), REDACTED);
            }
        }
        out
    }
}

/// Replaces every occurrence of `secret` in `data` by `*` bytes.
fn mask_all(data: &mut [u8], secret: &[u8]) {
    let mut i = 0;
    while i + secret.len() <= data.len() {
        if data[i..i + secret.len()] == *secret {
            data[i..i + secret.len()].fill(b'*');
            i += secret.len();
        } else {
            i += 1;
        }
    }
}

/// `text` with `secret` replaced by `***`: everywhere when it is at least
/// [`MASK_ANYWHERE_LEN`] bytes long, else only where it is a whole token — the characters
/// around it are not letters or digits — so a short secret never blanks out part of a word.
pub(crate) fn mask_text(text: &str, secret: &[u8]) -> String {
    let Ok(secret) = std::str::from_utf8(secret) else {
        return text.to_owned();
    };
    if secret.is_empty() || !text.contains(secret) {
        return text.to_owned();
    }
    if secret.len() >= MASK_ANYWHERE_LEN {
        return text.replace(secret, REDACTED);
    }
    let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut before: Option<char> = None;
    while let Some(i) = rest.find(secret) {
        let (head, tail) = rest.split_at(i);
        let prev = head.chars().next_back().or(before);
        let next = tail[secret.len()..].chars().next();
        out.push_str(head);
        if word(prev) && word(secret.chars().next())
            || word(next) && word(secret.chars().next_back())
        {
            // Part of a longer word: keep the first character and look again after it.
            let first = tail.chars().next().map_or(1, char::len_utf8);
            out.push_str(&tail[..first]);
            before = tail[..first].chars().next_back();
            rest = &tail[first..];
        } else {
            out.push_str(REDACTED);
            before = secret.chars().next_back();
            rest = &tail[secret.len()..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod redactor_tests {
    use super::*;

    #[test]
    fn hides_secrets_in_bytes_and_text() {
        let mut r = Redactor::new([&Secret::new("s3cret-value".to_owned())]);
        r.add("pw");
        assert_eq!(r.bytes(b"a s3cret-value pw"), b"a ************ pw");
        assert_eq!(
            r.text("x s3cret-value 73336372657420 74 pw"),
            "x *** 73336372657420 74 ***"
        );
        assert_eq!(r.text(&hex::encode("s3cret-value")), "***");
    }

    #[test]
    fn a_short_secret_is_masked_as_a_token_never_inside_words() {
        let r = Redactor::new([&Secret::new("e")]);
        assert_eq!(r.text("step 2 (expect closed)"), "step 2 (expect closed)");
        assert_eq!(
            r.text(r#"got "e", password e"#),
            r#"got "***", password ***"#
        );
        assert_eq!(r.text("e"), "***");
        let r = Redactor::new([&Secret::new("o")]);
        assert_eq!(
            r.text("failed: observed CONNACK"),
            "failed: observed CONNACK"
        );
        // Its bytes are not masked in unrelated fields: hex dumps stay true.
        assert_eq!(r.bytes(b"topic/o"), b"topic/o");
    }

    #[test]
    fn packet_fields_that_carry_secrets_are_masked() {
        use crate::codec::{Connect, Packet, ProtocolVersion, Publish, encode_to_vec};
        let r = Redactor::new([&Secret::new("e")]);
        let mut c = Connect::new(ProtocolVersion::V3_1_1, "device-e");
        c.username = Some("e-user".into());
        c.password = Some(bytes::Bytes::from_static(b"e"));
        let packet = Packet::Connect(c.into());
        let bytes = encode_to_vec(&packet, ProtocolVersion::V3_1_1).unwrap();
        let shown = r.packet_bytes(&bytes, &Ok(packet));
        assert_eq!(shown[..bytes.len() - 1], bytes[..bytes.len() - 1]);
        assert_eq!(shown.last(), Some(&b'*'));
        let publish = Packet::Publish(Publish::new("t/e", bytes::Bytes::from_static(b"e")));
        let bytes = encode_to_vec(&publish, ProtocolVersion::V3_1_1).unwrap();
        let shown = r.packet_bytes(&bytes, &Ok(publish));
        assert_eq!(
            &shown[..bytes.len() - 1],
            &bytes[..bytes.len() - 1],
            "topic kept"
        );
        assert_eq!(shown.last(), Some(&b'*'));
    }
}
