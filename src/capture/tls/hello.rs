//! ClientHello and ServerHello: what they say (server name, versions, cipher suites).

use super::*;

/// Largest TLS hello message read (a ClientHello with post-quantum key shares is a few
/// kilobytes; the format allows 16 MiB).
const MAX_HELLO: usize = 128 * 1024;

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
pub(super) fn accepts_early_data(body: &[u8]) -> bool {
    extensions(Cursor(body).vec16().unwrap_or_default()).any(|(ty, _)| ty == EXT_EARLY_DATA)
}

/// Reads the first handshake message of one direction out of its TLS records, as the
/// bytes arrive (the hello is known as soon as its last byte is in, before the rest of
/// its record).
#[derive(Debug)]
pub(crate) struct HelloReader {
    /// The handshake type wanted (1 ClientHello, 2 ServerHello).
    want: u8,
    framer: RecordFramer,
    msg: Vec<u8>,
    state: HelloState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HelloState {
    Reading,
    Done,
    Failed,
}

impl HelloReader {
    /// A reader of the hello of handshake type `want` (1 ClientHello, 2 ServerHello).
    pub(crate) fn new(want: u8) -> Self {
        Self {
            want,
            framer: RecordFramer::default(),
            msg: Vec::new(),
            state: HelloState::Reading,
        }
    }

    /// Whether the hello was read or given up on.
    pub(crate) fn finished(&self) -> bool {
        self.state != HelloState::Reading
    }

    /// Gives up (bytes of the stream were lost).
    pub(crate) fn fail(&mut self) {
        if self.state == HelloState::Reading {
            self.state = HelloState::Failed;
            self.msg = Vec::new();
        }
    }

    /// Takes stream bytes; returns the hello's body once complete.
    pub(crate) fn feed(&mut self, mut data: &[u8]) -> Option<Vec<u8>> {
        while self.state == HelloState::Reading && !data.is_empty() {
            match self.framer.next(&mut data)? {
                RecordPiece::Header(header) => {
                    let len = record_len(&header);
                    // A handshake record of a sane length (2^14 plus expansion).
                    if header[0] != CT_HANDSHAKE || header[1] != 3 || len == 0 || len > 18_432 {
                        self.fail();
                        return None;
                    }
                }
                RecordPiece::Body(body) => {
                    if self.msg.len() + body.len() > MAX_HELLO + 4 {
                        self.fail();
                        return None;
                    }
                    self.msg.extend_from_slice(body);
                    if let [ty, l0, l1, l2, ..] = self.msg[..] {
                        let len = usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2);
                        if ty != self.want || len > MAX_HELLO {
                            self.fail();
                            return None;
                        }
                        if self.msg.len() >= 4 + len {
                            self.state = HelloState::Done;
                            let mut msg = std::mem::take(&mut self.msg);
                            msg.truncate(4 + len);
                            msg.drain(..4);
                            return Some(msg);
                        }
                    }
                }
            }
        }
        None
    }
}
