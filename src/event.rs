//! Conversation events: the one type every source (broker runner, device server, pcap
//! reader) produces and the judge consumes.

use crate::codec::reason::code_name;
use crate::codec::{DecodeError, Packet, PacketType, ProtocolVersion};
use bytes::Bytes;
use std::net::SocketAddr;
use std::time::Duration;

/// Which end of an MQTT connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The MQTT client (device).
    Client,
    /// The MQTT server (broker, cloud).
    Server,
}

impl Side {
    /// The other end.
    pub fn peer(self) -> Self {
        match self {
            Self::Client => Self::Server,
            Self::Server => Self::Client,
        }
    }
}

/// The two transport addresses of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoints {
    /// The MQTT client's address.
    pub client: SocketAddr,
    /// The MQTT server's address.
    pub server: SocketAddr,
}

/// What a TLS handshake showed in the clear.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// The Server Name Indication the client sent.
    pub sni: Option<String>,
    /// Versions the client offered (e.g. `0x0303` TLS 1.2, `0x0304` TLS 1.3).
    pub offered: Vec<u16>,
    /// The version the server chose, once seen.
    pub negotiated: Option<u16>,
}

/// A TLS protocol version's name (`0x0303` → "TLS 1.2").
pub fn tls_version_name(v: u16) -> String {
    match v {
        0x0300 => "SSL 3.0".into(),
        0x0301 => "TLS 1.0".into(),
        0x0302 => "TLS 1.1".into(),
        0x0303 => "TLS 1.2".into(),
        0x0304 => "TLS 1.3".into(),
        other => format!("TLS {other:#06x}"),
    }
}

/// What a WebSocket connection showed besides the MQTT bytes its binary messages carried
/// (MQTT over WebSocket, MQTT-6.0.0-1..4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebSocketEvent {
    /// The opening handshake (sent by the client; the event's side is the client's).
    Handshake {
        /// The request's path (`/mqtt`).
        path: String,
        /// The subprotocols the client offered (`Sec-WebSocket-Protocol`), in its order.
        offered: Vec<String>,
        /// The subprotocol the server selected, when it answered 101 with one.
        selected: Option<String>,
        /// The server's HTTP status (101 when it switched protocols), when seen.
        status: Option<u16>,
    },
    /// A data message that is not binary (a text message, opcode 1, or a reserved data
    /// opcode): the event's side sent it. MQTT travels in binary messages only.
    NonBinary {
        /// The first frame's opcode.
        opcode: u8,
        /// The message's length in bytes.
        len: u64,
        /// Its first bytes (at most [`WebSocketEvent::HEAD`]), for reports and captures.
        head: Bytes,
    },
    /// A Close frame: the event's side sent it, with its status code when it had one.
    Close {
        /// The close status code (1000 normal, 1002 protocol error, …).
        code: Option<u16>,
    },
}

impl WebSocketEvent {
    /// How many of a non-binary message's first bytes its event keeps.
    pub const HEAD: usize = 125;

    /// The name of a WebSocket opcode (for reports).
    pub fn opcode_name(opcode: u8) -> &'static str {
        match opcode {
            0x0 => "continuation",
            0x1 => "text",
            0x2 => "binary",
            0x8 => "close",
            0x9 => "ping",
            0xA => "pong",
            0x3..=0x7 => "reserved data",
            _ => "reserved control",
        }
    }
}

impl std::fmt::Display for WebSocketEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Handshake {
                path,
                offered,
                selected,
                status,
            } => {
                write!(
                    f,
                    "WebSocket handshake for {path}: offered [{}]",
                    offered.join(", ")
                )?;
                match (status, selected) {
                    (Some(101), Some(s)) => write!(f, ", server selected `{s}`"),
                    (Some(101), None) => write!(f, ", server selected no subprotocol"),
                    (Some(code), _) => write!(f, ", server answered HTTP {code}"),
                    (None, _) => write!(f, ", no server answer seen"),
                }
            }
            Self::NonBinary { opcode, len, .. } => write!(
                f,
                "WebSocket {} message ({len} bytes, opcode {opcode:#x})",
                Self::opcode_name(*opcode)
            ),
            Self::Close { code: Some(code) } => write!(f, "WebSocket Close frame (status {code})"),
            Self::Close { code: None } => write!(f, "WebSocket Close frame (no status)"),
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// The transport connection was established (or, in a capture, first seen).
    Opened {
        /// The addresses, when the source knows them.
        endpoints: Option<Endpoints>,
        /// The source saw the connection from its start, so the first packet its events
        /// show from each side is the first that side sent: always for a live source;
        /// for a capture, when it holds the connection's TCP handshake (or, for TLS, its
        /// ClientHello). False for a connection a capture joined midway.
        from_start: bool,
    },
    /// The connection is TLS: what its handshake showed (its MQTT content is opaque).
    Tls(TlsInfo),
    /// The connection is MQTT over WebSocket: its handshake, or a frame that is not MQTT's
    /// binary data.
    WebSocket(WebSocketEvent),
    /// Bytes of the stream were lost (a capture gap): `bytes` were skipped and framing
    /// resumed at the next plausible packet.
    Gap {
        /// How many bytes were lost, when known.
        bytes: u64,
    },
    /// A packet crossed the connection: its bytes and its decoding.
    Packet {
        /// The packet's bytes.
        bytes: Bytes,
        /// The decoded packet, or the first violation.
        packet: Result<Packet, DecodeError>,
    },
    /// The byte stream cannot be framed any further.
    Unframeable(DecodeError),
    /// The connection ended; `by` is the side that closed it when known.
    Closed {
        /// Who closed.
        by: Option<Side>,
        /// How (EOF, reset, …).
        detail: String,
    },
}

impl EventKind {
    /// A connection the source saw open (a live source's every connection).
    pub fn opened(endpoints: Option<Endpoints>) -> Self {
        Self::Opened {
            endpoints,
            from_start: true,
        }
    }
}

/// One event on one connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The connection's number within its source.
    pub conn: u64,
    /// Time since the source's start (run start or capture start).
    pub at: Duration,
    /// The side that sent the packet (for packets), or that the event concerns.
    pub from: Side,
    /// What happened.
    pub kind: EventKind,
}

/// Where a live session's events go besides the judge (a pcapng capture, say). The mode
/// running the session starts the sink, hands it every event in order and finishes it;
/// whoever chose the sink (the command line) made it.
pub trait EventSink: Send + std::fmt::Debug {
    /// The session starts: its events' `at` counts from the wall-clock time `zero`.
    /// Called once, before the first event.
    fn start(&mut self, zero: std::time::SystemTime) -> std::io::Result<()>;
    /// Takes one event. Events of several connections may be interleaved; each
    /// connection's come in the order they happened.
    fn event(&mut self, event: &Event) -> std::io::Result<()>;
    /// The session is over: completes and flushes the output. No event follows.
    fn finish(&mut self) -> std::io::Result<()>;
}

/// An [`EventSink`] shared between whoever made it and the mode that feeds it (options
/// are cloned and handed around by reference; the sink itself is not `Clone`).
#[derive(Debug, Clone)]
pub struct SharedSink(std::sync::Arc<std::sync::Mutex<dyn EventSink>>);

impl SharedSink {
    /// Shares `sink`.
    pub fn new(sink: impl EventSink + 'static) -> Self {
        Self(std::sync::Arc::new(std::sync::Mutex::new(sink)))
    }

    /// See [`EventSink::start`].
    pub fn start(&self, zero: std::time::SystemTime) -> std::io::Result<()> {
        self.lock().start(zero)
    }

    /// See [`EventSink::event`].
    pub fn event(&self, event: &Event) -> std::io::Result<()> {
        self.lock().event(event)
    }

    /// See [`EventSink::finish`].
    pub fn finish(&self) -> std::io::Result<()> {
        self.lock().finish()
    }

    /// The sink; one that panicked part way is still usable (its output says how far it got).
    fn lock(&self) -> std::sync::MutexGuard<'_, dyn EventSink + 'static> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Largest number of bytes shown in hex in a one-line description.
const HEX_SHOWN: usize = 48;

/// A one-line description of a packet and its bytes, e.g.
/// `CONNACK code 0x00 (Connection Accepted) session_present=false [20 02 00 00]`.
pub fn describe(
    bytes: &[u8],
    packet: &Result<Packet, DecodeError>,
    version: ProtocolVersion,
) -> String {
    let summary = match packet {
        Ok(p) => summarize(p, version),
        Err(e) => format!("malformed packet: {e}"),
    };
    // A CONNECT's password is a secret (or derived from one): mask it in the bytes too —
    // the field only (the packet's last bytes), never equal bytes elsewhere in the packet.
    if let Ok(Packet::Connect(c)) = packet {
        if let Some(pw) = c.password.as_ref().filter(|pw| !pw.is_empty()) {
            let mut masked = bytes.to_vec();
            let start = masked.len().saturating_sub(pw.len());
            masked[start..].fill(b'*');
            return format!("{summary} [{}]", hex_preview(&masked));
        }
    }
    format!("{summary} [{}]", hex_preview(bytes))
}

/// Bytes in spaced hex, cut after a preview length.
pub fn hex_preview(bytes: &[u8]) -> String {
    let shown: Vec<String> = bytes
        .iter()
        .take(HEX_SHOWN)
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut s = shown.join(" ");
    if bytes.len() > HEX_SHOWN {
        s.push_str(&format!(" … ({} bytes)", bytes.len()));
    }
    s
}

/// The packet's type and its defining fields on one line.
pub fn summarize(p: &Packet, version: ProtocolVersion) -> String {
    let ty = p.packet_type();
    let code = |c: u8| format!("{c:#04x} ({})", code_name(version, ty, c));
    match p {
        Packet::Connect(c) => format!(
            "CONNECT {} client_id={:?} clean_session={} keepalive={}{}{}{}",
            c.protocol,
            c.client_id,
            c.clean_session,
            c.keep_alive,
            c.will
                .as_ref()
                .map(|w| format!(
                    " will(topic={:?} qos={} retain={})",
                    w.topic,
                    w.qos.as_u8(),
                    w.retain
                ))
                .unwrap_or_default(),
            c.username
                .as_ref()
                .map(|u| format!(" username={u:?}"))
                .unwrap_or_default(),
            if c.password.is_some() {
                " password=***"
            } else {
                ""
            },
        ),
        Packet::ConnAck(c) => format!(
            "CONNACK code {} session_present={}",
            code(c.code),
            c.session_present
        ),
        Packet::Publish(p) => format!(
            "PUBLISH topic={:?} qos={} retain={} dup={}{} payload={} bytes",
            p.topic,
            p.qos.as_u8(),
            p.retain,
            p.dup,
            p.packet_id
                .map(|i| format!(" packet_id={i}"))
                .unwrap_or_default(),
            p.payload.len()
        ),
        // MQTT 3.x acknowledgements and DISCONNECT carry no reason code.
        Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubRel(r) | Packet::PubComp(r)
            if !version.is_v5() =>
        {
            format!("{ty} packet_id={}", r.packet_id)
        }
        Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubRel(r) | Packet::PubComp(r) => {
            format!(
                "{ty} packet_id={} reason {}",
                r.packet_id,
                code(r.reason_code)
            )
        }
        Packet::Subscribe(s) => format!(
            "SUBSCRIBE packet_id={} {}",
            s.packet_id,
            s.subscriptions
                .iter()
                .map(|x| format!("{:?}@{}", x.filter, x.options.qos.as_u8()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Packet::SubAck(s) => format!(
            "SUBACK packet_id={} codes [{}]",
            s.packet_id,
            s.return_codes
                .iter()
                .map(|c| code(*c))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Packet::Unsubscribe(u) => format!("UNSUBSCRIBE packet_id={} {:?}", u.packet_id, u.filters),
        Packet::UnsubAck(u) => format!(
            "UNSUBACK packet_id={}{}",
            u.packet_id,
            if u.reason_codes.is_empty() {
                String::new()
            } else {
                format!(
                    " codes [{}]",
                    u.reason_codes
                        .iter()
                        .map(|c| code(*c))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ),
        Packet::PingReq | Packet::PingResp => ty.name().to_owned(),
        Packet::Disconnect(_) if !version.is_v5() => "DISCONNECT".to_owned(),
        Packet::Disconnect(d) => format!("DISCONNECT reason {}", code(d.reason_code)),
        Packet::Auth(a) => format!("AUTH reason {}", code(a.reason_code)),
    }
}

/// The packet type of a decoded packet or of a frame's first byte.
pub fn packet_type_of(bytes: &[u8], packet: &Result<Packet, DecodeError>) -> Option<PacketType> {
    match packet {
        Ok(p) => Some(p.packet_type()),
        Err(_) => bytes.first().and_then(|b| PacketType::from_nibble(b >> 4)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Connect;

    #[test]
    fn connect_passwords_never_show_in_descriptions() {
        let mut c = Connect::new(ProtocolVersion::V3_1_1, "dev");
        c.username = Some("u".into());
        c.password = Some(bytes::Bytes::from_static(b"hunter2"));
        let bytes = crate::codec::encode_to_vec(
            &Packet::Connect(c.clone().into()),
            ProtocolVersion::V3_1_1,
        )
        .unwrap();
        let text = describe(
            &bytes,
            &Ok(Packet::Connect(c.into())),
            ProtocolVersion::V3_1_1,
        );
        assert!(text.contains("password=***"), "{text}");
        assert!(!text.contains(&hex_preview(b"hunter2")), "{text}");
        assert!(text.contains("2a 2a 2a 2a 2a 2a 2a"), "{text}");
    }

    #[test]
    fn only_the_password_field_is_masked() {
        // Password `e`: the client id `device` keeps its `e` bytes (0x65).
        let mut c = Connect::new(ProtocolVersion::V3_1_1, "device");
        c.username = Some("u".into());
        c.password = Some(bytes::Bytes::from_static(b"e"));
        let packet = Packet::Connect(c.into());
        let bytes = crate::codec::encode_to_vec(&packet, ProtocolVersion::V3_1_1).unwrap();
        let text = describe(&bytes, &Ok(packet), ProtocolVersion::V3_1_1);
        assert!(text.contains(&hex_preview(b"device")), "{text}");
        assert!(text.ends_with("00 01 2a]"), "{text}");
    }
}
