//! pcapng out: the events of a live session as a capture Wireshark opens.
//!
//! The broker runner and the device server see MQTT packets, not TCP segments: the
//! operating system did the TCP. [`CaptureWriter`] puts a plausible TCP/IP around what
//! they saw so a session can be read in Wireshark or tshark like any other MQTT
//! conversation:
//!
//! - an `Opened` event becomes a three-way handshake, client to server (MSS option,
//!   deterministic initial sequence numbers derived from the connection number);
//! - a `Packet` event becomes its bytes as TCP payload, in segments of at most one MSS
//!   (1460 bytes over IPv4, 1440 over IPv6), PSH on the last one, from the side that
//!   sent it, sequence and acknowledgement numbers consistent in both directions;
//!   [`CaptureWriter::stream_bytes`] writes any stream bytes the same way (a recording
//!   relay's TLS records, say);
//! - the receiver acknowledges like a delayed-ACK stack: its next segment carries the
//!   acknowledgement, or a pure ACK follows 40 ms after the data (written when the
//!   connection's next event or [`CaptureWriter::finish`] shows that much time passed),
//!   and at the latest every 32 KiB so a large packet never fills the 64 KiB window;
//! - a `Closed` event becomes FIN from the closer (the client when unknown), FIN from
//!   the other side and the last ACK; the close's detail is the first FIN's comment;
//! - a `WebSocket` `Handshake` (MQTT over WebSocket: it comes right after `Opened`) becomes
//!   the HTTP upgrade: the client's GET of the path (`Host`, `Upgrade: websocket`,
//!   `Connection: Upgrade`, a `Sec-WebSocket-Key` derived from the connection number,
//!   `Sec-WebSocket-Version: 13`, `Sec-WebSocket-Protocol` listing the offered
//!   subprotocols) and the server's answer (101 with the matching `Sec-WebSocket-Accept`
//!   and the selected subprotocol, or the status it gave; nothing when it was not seen).
//!   From then on every `Packet` of the connection is one binary frame (a client's masked
//!   with a key derived from the connection and the frame's number, a server's unmasked),
//!   a `NonBinary` message one frame of its opcode carrying the bytes the event kept, a
//!   `Close` a Close frame with its status code; each also keeps its note frame (below);
//! - `Tls`, `WebSocket`, `Gap` and `Unframeable` carry no bytes of their own: each becomes
//!   a small Ethernet frame
//!   of the IEEE "local experimental" EtherType 0x88B5 whose payload and frame comment
//!   say what happened. Wireshark lists it in time order as plain data; the TCP stream
//!   is untouched, so its analysis flags nothing.
//!
//! Connections whose `Opened` carries no addresses, or whose `Opened` was never seen
//! (the writer started mid-session), get synthetic addresses: client `10.0.0.2`
//! upwards with a port derived from the connection number, server `10.0.0.1:1883`.
//! Real addresses are kept; an IPv4-mapped IPv6 pair is written as IPv4.
//!
//! MQTT over TLS is written as the decrypted MQTT under the real port numbers; Wireshark
//! expects TLS on port 8883, so open such a capture with "Decode As" (tshark:
//! `-d tcp.port==8883,mqtt`). Any port other than 1883 needs the same. MQTT over
//! WebSocket is HTTP to Wireshark on its HTTP ports only (80, 8080, …): elsewhere
//! `-d tcp.port==PORT,http` (its WebSocket frames then carry MQTT when `mqtt` was
//! selected).
//!
//! Timestamps are the session's start plus each event's `at`, in nanoseconds; they never
//! go backwards in the file (an event stamped earlier than the frame before it is written
//! at that frame's time). Memory is bounded: one frame buffer and a few words per open
//! connection, released when the connection closes.

use crate::event::{
    Endpoints, Event, EventKind, EventSink, Side, TlsInfo, WebSocketEvent, tls_version_name,
};
use etherparse::{IpHeaders, Ipv4Header, Ipv6Header, PacketBuilder, TcpHeader, TcpOptionElement};
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// TCP header flags the writer sets (the low byte of the flags field).
mod tcp_flag {
    /// No more data from the sender.
    pub const FIN: u8 = 0x01;
    /// Synchronise sequence numbers (connection start).
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push.
    pub const PSH: u8 = 0x08;
    /// The acknowledgement field is significant.
    pub const ACK: u8 = 0x10;
}

/// pcapng Section Header Block type.
const BLOCK_SHB: u32 = 0x0A0D_0D0A;
/// pcapng Interface Description Block type.
const BLOCK_IDB: u32 = 0x0000_0001;
/// pcapng Enhanced Packet Block type.
const BLOCK_EPB: u32 = 0x0000_0006;
/// Written in native order; readers detect the byte order from it.
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// LINKTYPE_ETHERNET.
const LINKTYPE_ETHERNET: u16 = 1;
/// Largest frame a reader must accept (ours are far smaller).
const SNAPLEN: u32 = 65_535;

/// End of options.
const OPT_ENDOFOPT: u16 = 0;
/// A comment (any block).
const OPT_COMMENT: u16 = 1;
/// SHB: the application that wrote the file.
const SHB_USERAPPL: u16 = 4;
/// IDB: the interface's name.
const IF_NAME: u16 = 2;
/// IDB: timestamp resolution.
const IF_TSRESOL: u16 = 9;
/// if_tsresol value: 10^-9 s.
const TSRESOL_NANOS: u8 = 9;

/// The MQTT client's MAC address (locally administered, unicast).
const CLIENT_MAC: [u8; 6] = [0x02, 0x6d, 0x71, 0x74, 0x74, 0x01];
/// The MQTT server's MAC address (locally administered, unicast).
const SERVER_MAC: [u8; 6] = [0x02, 0x6d, 0x71, 0x74, 0x74, 0x02];
/// IEEE 802 Local Experimental EtherType 1: the frames that carry notes.
const NOTE_ETHERTYPE: u16 = 0x88B5;

/// Segment size over IPv4 (Ethernet MTU 1500 − 20 − 20).
const MSS_V4: u16 = 1460;
/// Segment size over IPv6 (Ethernet MTU 1500 − 40 − 20).
const MSS_V6: u16 = 1440;
/// The advertised receive window (no window scaling).
const WINDOW: u16 = 65_535;
/// Unacknowledged bytes after which the receiver acknowledges before more data comes.
const ACK_EVERY: u32 = 32 * 1024;
/// How long a receiver waits before a pure ACK.
const DELAYED_ACK: Duration = Duration::from_millis(40);
/// Time to live / hop limit.
const TTL: u8 = 64;
/// Longest comment written (bytes; cut at a character boundary).
const MAX_COMMENT: usize = 2048;
/// The server address of connections without known addresses.
const SYNTHETIC_SERVER: ([u8; 4], u16) = ([10, 0, 0, 1], 1883);
/// First synthetic client address, 10.0.0.2.
const SYNTHETIC_CLIENT_BASE: u32 = 0x0A00_0002;
/// First synthetic client port.
const SYNTHETIC_PORT_BASE: u16 = 49_152;
/// Synthetic client ports per synthetic client address.
const SYNTHETIC_PORTS: u64 = 16_384;

/// Writes the events of a live session (broker mode: the harness is the client; device
/// mode: the harness is the server) as a pcapng capture of MQTT over TCP.
///
/// See the [module documentation](self) for what each event becomes. Errors are the
/// underlying writer's; after one, the file is incomplete.
///
/// ```no_run
/// # use mqtt_conform::report::pcapng::CaptureWriter;
/// # fn run(events: &[mqtt_conform::event::Event]) -> std::io::Result<()> {
/// let mut capture = CaptureWriter::create("session.pcapng", std::time::SystemTime::now())?;
/// for event in events {
///     capture.event(event)?;
/// }
/// capture.finish()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct CaptureWriter<W: Write> {
    sink: Sink<W>,
    /// Unix time of the session start, in nanoseconds.
    start_ns: u64,
    /// Open connections by number.
    flows: BTreeMap<u64, Flow>,
}

impl CaptureWriter<BufWriter<File>> {
    /// Creates (or truncates) the file at `path` and writes the capture's header;
    /// `start` is the Unix time the events' `at` counts from.
    pub fn create(
        path: impl AsRef<Path>,
        start: SystemTime,
    ) -> io::Result<CaptureWriter<BufWriter<File>>> {
        CaptureWriter::new(BufWriter::new(File::create(path)?), start)
    }
}

impl<W: Write> CaptureWriter<W> {
    /// Writes the section header and the one (Ethernet, nanosecond) interface to
    /// `writer`; `start` is the Unix time the events' `at` counts from (a time before
    /// 1970 counts as 1970).
    pub fn new(writer: W, start: SystemTime) -> io::Result<Self> {
        let start_ns = unix_nanos(start);
        let mut sink = Sink {
            out: writer,
            frame: Vec::with_capacity(usize::from(MSS_V4) + 128),
            last_ts: 0,
            frames: 0,
            ip_id: 0,
        };
        sink.header()?;
        Ok(Self {
            sink,
            start_ns,
            flows: BTreeMap::new(),
        })
    }

    /// Writes the frames for one event. Events of several connections may be
    /// interleaved; each connection's events must come in the order they happened.
    pub fn event(&mut self, event: &Event) -> io::Result<()> {
        let ts = self.start_ns.saturating_add(nanos(event.at));
        let conn = event.conn;
        if let Some(flow) = self.flows.get_mut(&conn) {
            flow.delayed_acks(&mut self.sink, ts)?;
        }
        match &event.kind {
            EventKind::Opened {
                endpoints,
                from_start,
            } => {
                if !self.flows.contains_key(&conn) {
                    let mut comment = match endpoints {
                        Some(_) => format!("mqtt-conform conn {conn}"),
                        None => format!(
                            "mqtt-conform conn {conn} (addresses unknown: synthetic ones shown)"
                        ),
                    };
                    if !from_start {
                        comment.push_str(" (joined midway: no handshake)");
                    }
                    self.open(conn, *endpoints, ts, &comment, *from_start)?;
                }
                Ok(())
            }
            EventKind::Packet { bytes, packet } => {
                if bytes.is_empty() {
                    return Ok(());
                }
                self.ensure_open(conn, ts)?;
                let Some(flow) = self.flows.get_mut(&conn) else {
                    return Err(io::Error::other("connection state missing"));
                };
                let comment = packet.as_ref().err().map(|e| {
                    format!(
                        "mqtt-conform conn {conn}: {} packet does not decode: {e}",
                        side_name(event.from)
                    )
                });
                if flow.websocket.is_some() {
                    let framed = flow.ws_frame(conn, event.from, ws_opcode::BINARY, bytes);
                    return flow.data(&mut self.sink, ts, event.from, &framed, comment.as_deref());
                }
                flow.data(&mut self.sink, ts, event.from, bytes, comment.as_deref())
            }
            EventKind::Tls(info) => {
                let text = format!("mqtt-conform conn {conn}: TLS{}", tls_text(info));
                self.sink.note(ts, event.from, &text)
            }
            EventKind::WebSocket(ws) => {
                let text = format!("mqtt-conform conn {conn}: {ws}");
                self.sink.note(ts, event.from, &text)?;
                self.websocket(conn, ts, event.from, ws)
            }
            EventKind::Gap { bytes } => {
                let text = format!(
                    "mqtt-conform conn {conn}: {bytes} bytes of the {}'s stream lost",
                    side_name(event.from)
                );
                self.sink.note(ts, event.from, &text)
            }
            EventKind::Unframeable(e) => {
                let text = format!(
                    "mqtt-conform conn {conn}: the {}'s byte stream cannot be framed: {e}",
                    side_name(event.from)
                );
                self.sink.note(ts, event.from, &text)
            }
            EventKind::Closed { by, detail } => {
                // A close of a connection never seen has nothing to close.
                let Some(flow) = self.flows.remove(&conn) else {
                    return Ok(());
                };
                let who = match by {
                    Some(side) => format!("by the {}", side_name(*side)),
                    None => "(initiator unknown)".to_owned(),
                };
                let comment = format!("mqtt-conform conn {conn}: closed {who}: {detail}");
                flow.close(&mut self.sink, ts, by.unwrap_or(Side::Client), &comment)
            }
        }
    }

    /// Writes `bytes` as the next payload of connection `conn`'s TCP stream from `from`,
    /// at `at` after the start: segments, sequence and acknowledgement numbers exactly as
    /// for a `Packet` event, but the bytes need not be MQTT (a recording relay writes the
    /// TLS records it forwarded) and no frame is commented. A connection not opened yet
    /// gets a synthesised handshake; open and close connections with [`Self::event`]
    /// (`Opened`, `Closed`). Empty `bytes` write nothing.
    pub fn stream_bytes(
        &mut self,
        conn: u64,
        at: Duration,
        from: Side,
        bytes: &[u8],
    ) -> io::Result<()> {
        let ts = self.start_ns.saturating_add(nanos(at));
        if let Some(flow) = self.flows.get_mut(&conn) {
            flow.delayed_acks(&mut self.sink, ts)?;
        }
        if bytes.is_empty() {
            return Ok(());
        }
        self.ensure_open(conn, ts)?;
        let Some(flow) = self.flows.get_mut(&conn) else {
            return Err(io::Error::other("connection state missing"));
        };
        flow.data(&mut self.sink, ts, from, bytes, None)
    }

    /// The bytes a WebSocket event stands for: the HTTP upgrade, a non-binary message,
    /// a Close frame.
    fn websocket(&mut self, conn: u64, ts: u64, from: Side, ws: &WebSocketEvent) -> io::Result<()> {
        self.ensure_open(conn, ts)?;
        let Some(flow) = self.flows.get_mut(&conn) else {
            return Err(io::Error::other("connection state missing"));
        };
        match ws {
            WebSocketEvent::Handshake {
                path,
                offered,
                selected,
                status,
            } => {
                let (request, response) = upgrade(
                    conn,
                    flow.server,
                    path,
                    offered,
                    selected.as_deref(),
                    *status,
                );
                flow.data(&mut self.sink, ts, Side::Client, &request, None)?;
                if let Some(response) = response {
                    flow.data(&mut self.sink, ts, Side::Server, &response, None)?;
                }
                // Frames follow unless the server refused (what follows a refusal is
                // not WebSocket).
                if status.is_none_or(|s| s == 101) {
                    flow.websocket = Some(0);
                }
                Ok(())
            }
            WebSocketEvent::NonBinary { opcode, head, .. } if flow.websocket.is_some() => {
                let framed = flow.ws_frame(conn, from, *opcode & 0x0F, head);
                flow.data(&mut self.sink, ts, from, &framed, None)
            }
            WebSocketEvent::Close { code } if flow.websocket.is_some() => {
                let payload = code.map(u16::to_be_bytes);
                let payload = payload.as_ref().map_or(&[][..], |p| &p[..]);
                let framed = flow.ws_frame(conn, from, ws_opcode::CLOSE, payload);
                flow.data(&mut self.sink, ts, from, &framed, None)
            }
            _ => Ok(()),
        }
    }

    /// Connections open in the capture now (opened or first seen, not yet closed).
    pub fn connections_open(&self) -> usize {
        self.flows.len()
    }

    /// Frames (Enhanced Packet Blocks) written so far.
    pub fn frames_written(&self) -> u64 {
        self.sink.frames
    }

    /// Writes the acknowledgements still owed for data already written (connections left
    /// open stay open), flushes, and gives the writer back.
    pub fn finish(mut self) -> io::Result<W> {
        self.complete()?;
        Ok(self.sink.out)
    }

    /// Writes the acknowledgements still owed and flushes.
    fn complete(&mut self) -> io::Result<()> {
        for flow in self.flows.values_mut() {
            flow.delayed_acks(&mut self.sink, u64::MAX)?;
        }
        self.sink.out.flush()
    }

    /// Opens connection `conn` with a synthesised handshake when its `Opened` was not
    /// seen.
    fn ensure_open(&mut self, conn: u64, ts: u64) -> io::Result<()> {
        if self.flows.contains_key(&conn) {
            return Ok(());
        }
        let comment =
            format!("mqtt-conform conn {conn} (its opening was not seen: handshake synthesised)");
        self.open(conn, None, ts, &comment, true)
    }

    /// Starts tracking `conn` and writes its handshake (`with_handshake`), or only
    /// `comment` for a connection its source joined midway: read back, the capture shows
    /// it joined midway as well.
    fn open(
        &mut self,
        conn: u64,
        endpoints: Option<Endpoints>,
        ts: u64,
        comment: &str,
        with_handshake: bool,
    ) -> io::Result<()> {
        let (client, server) = match endpoints {
            Some(e) => addresses(e),
            None => synthetic(conn),
        };
        let isn = mix(conn);
        let mss = if client.is_ipv4() { MSS_V4 } else { MSS_V6 };
        let mut flow = Flow {
            client,
            server,
            mss,
            // The truncations pick two halves of one 64-bit mix.
            next: [isn as u32, (isn >> 32) as u32],
            unacked: [0; 2],
            last_data: [0; 2],
            websocket: None,
        };
        if with_handshake {
            flow.handshake(&mut self.sink, ts, comment)?;
        } else {
            self.sink.note(ts, Side::Client, comment)?;
        }
        self.flows.insert(conn, flow);
        Ok(())
    }
}

impl<W: Write + Send + fmt::Debug> EventSink for CaptureWriter<W> {
    /// Moves the time the events' `at` counts from (the header written at creation does
    /// not depend on it).
    fn start(&mut self, zero: SystemTime) -> io::Result<()> {
        self.start_ns = unix_nanos(zero);
        Ok(())
    }

    fn event(&mut self, event: &Event) -> io::Result<()> {
        CaptureWriter::event(self, event)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.complete()
    }
}

/// A pcapng file as an [`EventSink`]: the command line names it, the mode running the
/// session creates it when the session starts (a run that cannot start leaves no file)
/// and writes its events with a [`CaptureWriter`]. Errors name the file.
#[derive(Debug)]
pub struct CaptureFile {
    path: PathBuf,
    writer: Option<CaptureWriter<BufWriter<File>>>,
}

impl CaptureFile {
    /// The file at `path`, created (or truncated) when the session starts.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            writer: None,
        }
    }

    /// The writer, once the session has started.
    fn writer(&mut self) -> io::Result<&mut CaptureWriter<BufWriter<File>>> {
        self.writer
            .as_mut()
            .ok_or_else(|| io::Error::other("the session has not started"))
    }

    /// `e`, saying which capture it concerns.
    fn about(&self, e: io::Error) -> io::Error {
        io::Error::new(
            e.kind(),
            format!("the capture {}: {e}", self.path.display()),
        )
    }
}

impl EventSink for CaptureFile {
    /// Creates the file and writes its header; the error reads "cannot write PATH: …".
    fn start(&mut self, zero: SystemTime) -> io::Result<()> {
        let writer = CaptureWriter::create(&self.path, zero).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot write {}: {e}", self.path.display()),
            )
        })?;
        self.writer = Some(writer);
        Ok(())
    }

    fn event(&mut self, event: &Event) -> io::Result<()> {
        let result = self.writer().and_then(|w| w.event(event));
        result.map_err(|e| self.about(e))
    }

    fn finish(&mut self) -> io::Result<()> {
        let result = self.writer().and_then(|w| w.complete());
        result.map_err(|e| self.about(e))
    }
}

/// The output and the one frame being built.
#[derive(Debug)]
struct Sink<W: Write> {
    out: W,
    /// The frame being written; reused.
    frame: Vec<u8>,
    /// Timestamp of the last frame written (ns since the epoch).
    last_ts: u64,
    /// Frames written.
    frames: u64,
    /// IPv4 identification of the next IPv4 frame.
    ip_id: u16,
}

/// One TCP segment to write.
struct Segment<'a> {
    from: Side,
    flags: u8,
    seq: u32,
    ack: u32,
    payload: &'a [u8],
    /// MSS option (SYN segments).
    mss: Option<u16>,
    comment: Option<&'a str>,
}

impl<W: Write> Sink<W> {
    /// The Section Header Block and the Interface Description Block.
    fn header(&mut self) -> io::Result<()> {
        let appl = format!("mqtt-conform {}", env!("CARGO_PKG_VERSION"));
        let comment = "Reconstructed by mqtt-conform from a live session: the MQTT bytes \
                       as sent and received (decrypted when the session used TLS) in \
                       synthesised Ethernet/IP/TCP frames";
        let mut options = Vec::new();
        option(&mut options, SHB_USERAPPL, appl.as_bytes());
        option(&mut options, OPT_COMMENT, comment.as_bytes());
        option(&mut options, OPT_ENDOFOPT, &[]);
        let mut body = Vec::with_capacity(16 + options.len());
        body.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes()); // major version
        body.extend_from_slice(&0u16.to_le_bytes()); // minor version
        body.extend_from_slice(&(-1i64).to_le_bytes()); // section length: not given
        body.extend_from_slice(&options);
        self.block(BLOCK_SHB, &body)?;

        let mut body = Vec::with_capacity(32);
        body.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes()); // reserved
        body.extend_from_slice(&SNAPLEN.to_le_bytes());
        option(&mut body, IF_NAME, b"mqtt-conform");
        option(&mut body, IF_TSRESOL, &[TSRESOL_NANOS]);
        option(&mut body, OPT_ENDOFOPT, &[]);
        self.block(BLOCK_IDB, &body)
    }

    /// A block whose body (already 32-bit aligned) is `body`.
    fn block(&mut self, kind: u32, body: &[u8]) -> io::Result<()> {
        let total = block_len(body.len())?;
        self.out.write_all(&kind.to_le_bytes())?;
        self.out.write_all(&total.to_le_bytes())?;
        self.out.write_all(body)?;
        self.out.write_all(&total.to_le_bytes())
    }

    /// Writes the frame in `self.frame` as an Enhanced Packet Block at `ts` (moved up to
    /// the previous frame's time if earlier).
    fn packet(&mut self, ts: u64, comment: Option<&str>) -> io::Result<()> {
        let ts = ts.max(self.last_ts);
        self.last_ts = ts;
        let len = u32::try_from(self.frame.len())
            .map_err(|_| io::Error::other("frame longer than 4 GiB"))?;
        let comment = comment.map(clip);
        let options_len = comment.map_or(0, |c| 4 + padded(c.len()) + 4);
        let total = block_len(20 + padded(self.frame.len()) + options_len)?;
        let mut head = [0u8; 28];
        head[0..4].copy_from_slice(&BLOCK_EPB.to_le_bytes());
        head[4..8].copy_from_slice(&total.to_le_bytes());
        // head[8..12]: interface 0.
        // The truncations split the 64-bit timestamp into its two halves.
        head[12..16].copy_from_slice(&((ts >> 32) as u32).to_le_bytes());
        head[16..20].copy_from_slice(&(ts as u32).to_le_bytes());
        head[20..24].copy_from_slice(&len.to_le_bytes());
        head[24..28].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&head)?;
        self.out.write_all(&self.frame)?;
        self.out
            .write_all(&[0; 3][..padded(self.frame.len()) - self.frame.len()])?;
        if let Some(c) = comment {
            let mut options = Vec::with_capacity(options_len);
            option(&mut options, OPT_COMMENT, c.as_bytes());
            option(&mut options, OPT_ENDOFOPT, &[]);
            self.out.write_all(&options)?;
        }
        self.out.write_all(&total.to_le_bytes())?;
        self.frames += 1;
        Ok(())
    }

    /// Builds and writes one TCP segment of `flow`.
    fn segment(&mut self, ts: u64, flow: &Flow, seg: Segment<'_>) -> io::Result<()> {
        let (src, dst) = match seg.from {
            Side::Client => (flow.client, flow.server),
            Side::Server => (flow.server, flow.client),
        };
        let mut tcp = TcpHeader::new(src.port(), dst.port(), seg.seq, WINDOW);
        tcp.fin = seg.flags & tcp_flag::FIN != 0;
        tcp.syn = seg.flags & tcp_flag::SYN != 0;
        tcp.rst = seg.flags & tcp_flag::RST != 0;
        tcp.psh = seg.flags & tcp_flag::PSH != 0;
        tcp.ack = seg.flags & tcp_flag::ACK != 0;
        if tcp.ack {
            tcp.acknowledgment_number = seg.ack;
        }
        if let Some(mss) = seg.mss {
            tcp.set_options(&[TcpOptionElement::MaximumSegmentSize(mss)])
                .map_err(io::Error::other)?;
        }
        let ip = match (src.ip(), dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                self.ip_id = self.ip_id.wrapping_add(1);
                IpHeaders::Ipv4(
                    Ipv4Header {
                        source: s.octets(),
                        destination: d.octets(),
                        time_to_live: TTL,
                        identification: self.ip_id,
                        dont_fragment: true,
                        ..Default::default()
                    },
                    Default::default(),
                )
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => IpHeaders::Ipv6(
                Ipv6Header {
                    source: s.octets(),
                    destination: d.octets(),
                    hop_limit: TTL,
                    ..Default::default()
                },
                Default::default(),
            ),
            // `addresses` never mixes families.
            _ => return Err(io::Error::other("mixed IPv4/IPv6 connection")),
        };
        let (src_mac, dst_mac) = macs(seg.from);
        self.frame.clear();
        PacketBuilder::ethernet2(src_mac, dst_mac)
            .ip(ip)
            .tcp_header(tcp)
            .write_to_vec(&mut self.frame, seg.payload)
            .map_err(io::Error::other)?;
        self.packet(ts, seg.comment)
    }

    /// A note frame (EtherType 0x88B5) from `from`'s MAC address: `text` as payload and
    /// as the frame's comment.
    fn note(&mut self, ts: u64, from: Side, text: &str) -> io::Result<()> {
        let text = clip(text);
        let (src_mac, dst_mac) = macs(from);
        self.frame.clear();
        self.frame.extend_from_slice(&dst_mac);
        self.frame.extend_from_slice(&src_mac);
        self.frame.extend_from_slice(&NOTE_ETHERTYPE.to_be_bytes());
        self.frame.extend_from_slice(text.as_bytes());
        self.packet(ts, Some(text))
    }
}

/// One connection's TCP state.
#[derive(Debug)]
struct Flow {
    client: SocketAddr,
    server: SocketAddr,
    mss: u16,
    /// Per side (client, server): the next sequence number it sends.
    next: [u32; 2],
    /// Per side: bytes it sent that the other side has not acknowledged.
    unacked: [u32; 2],
    /// Per side: when it last sent data (ns since the epoch).
    last_data: [u64; 2],
    /// MQTT over WebSocket, once its upgrade was written: frames written so far (each
    /// client frame's masking key derives from it).
    websocket: Option<u64>,
}

impl Flow {
    /// `payload` as one WebSocket frame (FIN set) from `from`: masked when the client
    /// sends it, with a key derived from the connection and the frame's number.
    fn ws_frame(&mut self, conn: u64, from: Side, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let n = self.websocket.get_or_insert(0);
        *n += 1;
        let mask = (from == Side::Client).then(|| {
            let m = mix(conn.rotate_left(32) ^ *n);
            // The truncation keeps the low 32 bits of the mix.
            (m as u32).to_be_bytes()
        });
        ws_frame(opcode, payload, mask)
    }

    /// SYN, SYN-ACK, ACK; `comment` on the SYN.
    fn handshake<W: Write>(
        &mut self,
        sink: &mut Sink<W>,
        ts: u64,
        comment: &str,
    ) -> io::Result<()> {
        let [c, s] = self.next;
        sink.segment(
            ts,
            self,
            Segment {
                from: Side::Client,
                flags: tcp_flag::SYN,
                seq: c,
                ack: 0,
                payload: &[],
                mss: Some(self.mss),
                comment: Some(comment),
            },
        )?;
        sink.segment(
            ts,
            self,
            Segment {
                from: Side::Server,
                flags: tcp_flag::SYN | tcp_flag::ACK,
                seq: s,
                ack: c.wrapping_add(1),
                payload: &[],
                mss: Some(self.mss),
                comment: None,
            },
        )?;
        self.next = [c.wrapping_add(1), s.wrapping_add(1)];
        self.pure_ack(sink, ts, Side::Client)
    }

    /// A segment from `from` without data or SYN/FIN: acknowledges everything the other
    /// side sent.
    fn pure_ack<W: Write>(&mut self, sink: &mut Sink<W>, ts: u64, from: Side) -> io::Result<()> {
        self.send(sink, ts, from, tcp_flag::ACK, &[], None)
    }

    /// Writes a segment from `from` with the current sequence and acknowledgement
    /// numbers and advances them.
    fn send<W: Write>(
        &mut self,
        sink: &mut Sink<W>,
        ts: u64,
        from: Side,
        flags: u8,
        payload: &[u8],
        comment: Option<&str>,
    ) -> io::Result<()> {
        let (me, peer) = (idx(from), idx(from.peer()));
        // Segments are at most one MSS: the length fits.
        let len = u32::try_from(payload.len()).map_err(|_| io::Error::other("segment too long"))?;
        sink.segment(
            ts,
            self,
            Segment {
                from,
                flags,
                seq: self.next[me],
                ack: self.next[peer],
                payload,
                mss: None,
                comment,
            },
        )?;
        // Everything the peer sent is acknowledged by this segment.
        self.unacked[peer] = 0;
        let fin = u32::from(flags & tcp_flag::FIN != 0);
        self.next[me] = self.next[me].wrapping_add(len).wrapping_add(fin);
        if len > 0 {
            self.unacked[me] = self.unacked[me].saturating_add(len);
            // The time it was written at (never before the previous frame).
            self.last_data[me] = sink.last_ts;
        }
        Ok(())
    }

    /// The pure ACKs a delayed-ACK receiver would have sent by `now`.
    fn delayed_acks<W: Write>(&mut self, sink: &mut Sink<W>, now: u64) -> io::Result<()> {
        for side in [Side::Client, Side::Server] {
            let i = idx(side);
            let due = self.last_data[i].saturating_add(nanos(DELAYED_ACK));
            if self.unacked[i] > 0 && due <= now {
                self.pure_ack(sink, due, side.peer())?;
            }
        }
        Ok(())
    }

    /// `bytes` from `from` in segments of at most one MSS; `comment` on the first.
    fn data<W: Write>(
        &mut self,
        sink: &mut Sink<W>,
        ts: u64,
        from: Side,
        bytes: &[u8],
        comment: Option<&str>,
    ) -> io::Result<()> {
        let mut comment = comment;
        let mut chunks = bytes.chunks(usize::from(self.mss)).peekable();
        while let Some(chunk) = chunks.next() {
            let pending = self.unacked[idx(from)];
            if pending > 0 && pending.saturating_add(chunk.len() as u32) > ACK_EVERY {
                self.pure_ack(sink, ts, from.peer())?;
            }
            let flags = if chunks.peek().is_none() {
                tcp_flag::PSH | tcp_flag::ACK
            } else {
                tcp_flag::ACK
            };
            self.send(sink, ts, from, flags, chunk, comment.take())?;
        }
        Ok(())
    }

    /// FIN from `closer` (with `comment`), FIN from the other side, the last ACK.
    fn close<W: Write>(
        mut self,
        sink: &mut Sink<W>,
        ts: u64,
        closer: Side,
        comment: &str,
    ) -> io::Result<()> {
        let fin = tcp_flag::FIN | tcp_flag::ACK;
        self.send(sink, ts, closer, fin, &[], Some(comment))?;
        self.send(sink, ts, closer.peer(), fin, &[], None)?;
        self.pure_ack(sink, ts, closer)
    }
}

/// WebSocket opcodes written.
mod ws_opcode {
    /// A binary message (MQTT's).
    pub const BINARY: u8 = 0x2;
    /// A Close frame.
    pub const CLOSE: u8 = 0x8;
}

/// One WebSocket frame (RFC 6455 §5.2) with FIN set: `opcode`, the shortest length
/// encoding, `payload` masked with `mask` when given.
fn ws_frame(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(0x80 | (opcode & 0x0F));
    let masked = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(masked | n as u8),
        n @ 126..=0xFFFF => {
            out.push(masked | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(masked | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(m) => {
            out.extend_from_slice(&m);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// The HTTP upgrade of connection `conn` to `server`: the client's request and, when
/// the server's answer was seen (`status`), that answer.
fn upgrade(
    conn: u64,
    server: SocketAddr,
    path: &str,
    offered: &[String],
    selected: Option<&str>,
    status: Option<u16>,
) -> (Vec<u8>, Option<Vec<u8>>) {
    use base64::Engine as _;
    let mut nonce = [0u8; 16];
    nonce[..8].copy_from_slice(&mix(conn ^ 0x5753).to_be_bytes());
    nonce[8..].copy_from_slice(&mix(conn ^ 0x4b45).to_be_bytes());
    let key = base64::engine::general_purpose::STANDARD.encode(nonce);
    // Request-target and header values cannot hold line breaks.
    let clean = |s: &str| s.replace(['\r', '\n'], " ");
    let path = if path.is_empty() {
        "/".to_owned()
    } else {
        clean(path).replace(' ', "%20")
    };
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {server}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    );
    if !offered.is_empty() {
        let list: Vec<String> = offered.iter().map(|p| clean(p)).collect();
        request.push_str(&format!("Sec-WebSocket-Protocol: {}\r\n", list.join(", ")));
    }
    request.push_str("\r\n");
    let response = status.map(|status| {
        if status == 101 {
            let accept =
                tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
            let mut r = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {accept}\r\n"
            );
            if let Some(s) = selected {
                r.push_str(&format!("Sec-WebSocket-Protocol: {}\r\n", clean(s)));
            }
            r.push_str("\r\n");
            r.into_bytes()
        } else {
            format!("HTTP/1.1 {status} Refused\r\nContent-Length: 0\r\n\r\n").into_bytes()
        }
    });
    (request.into_bytes(), response)
}

/// Index of a side in the per-side arrays.
fn idx(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Client => "client",
        Side::Server => "server",
    }
}

/// (source, destination) MAC addresses of a frame from `from`.
fn macs(from: Side) -> ([u8; 6], [u8; 6]) {
    match from {
        Side::Client => (CLIENT_MAC, SERVER_MAC),
        Side::Server => (SERVER_MAC, CLIENT_MAC),
    }
}

/// Client and server addresses of one family: IPv4 when both are IPv4 (or IPv4-mapped
/// IPv6), IPv6 otherwise (IPv4 addresses mapped).
fn addresses(e: Endpoints) -> (SocketAddr, SocketAddr) {
    let v4 = |ip: IpAddr| match ip {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(a) => a.to_ipv4_mapped(),
    };
    let v6 = |ip: IpAddr| match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    };
    let (c, s) = (e.client, e.server);
    match (v4(c.ip()), v4(s.ip())) {
        (Some(ci), Some(si)) => (
            SocketAddr::new(IpAddr::V4(ci), c.port()),
            SocketAddr::new(IpAddr::V4(si), s.port()),
        ),
        _ => (
            SocketAddr::new(IpAddr::V6(v6(c.ip())), c.port()),
            SocketAddr::new(IpAddr::V6(v6(s.ip())), s.port()),
        ),
    }
}

/// Synthetic addresses for connection `conn`: a client port from 49152 up, a new client
/// address every 16384 connections, the server at 10.0.0.1:1883.
fn synthetic(conn: u64) -> (SocketAddr, SocketAddr) {
    // Both values are reduced into range before the conversions.
    let port = SYNTHETIC_PORT_BASE + (conn % SYNTHETIC_PORTS) as u16;
    let host = ((conn / SYNTHETIC_PORTS) & 0x00FF_FFFF) as u32;
    let client = 0x0A00_0000 | (SYNTHETIC_CLIENT_BASE.wrapping_add(host) & 0x00FF_FFFF);
    (
        SocketAddr::new(IpAddr::V4(Ipv4Addr::from(client)), port),
        SocketAddr::new(
            IpAddr::V4(Ipv4Addr::from(SYNTHETIC_SERVER.0)),
            SYNTHETIC_SERVER.1,
        ),
    )
}

/// A 64-bit mix of `x` (splitmix64's finaliser): initial sequence numbers that differ
/// per connection and are the same on every run.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Unix time in nanoseconds (a time before 1970 counts as 1970).
fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(nanos).unwrap_or_default()
}

/// A duration in nanoseconds, saturating.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `n` rounded up to a multiple of 4.
fn padded(n: usize) -> usize {
    n.div_ceil(4) * 4
}

/// The total length of a block whose body is `body` bytes (padded).
fn block_len(body: usize) -> io::Result<u32> {
    u32::try_from(12 + padded(body)).map_err(|_| io::Error::other("pcapng block too long"))
}

/// Appends option `code` with `value`, padded to 32 bits.
fn option(out: &mut Vec<u8>, code: u16, value: &[u8]) {
    // Values are clipped to MAX_COMMENT or are short constants.
    let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
    let value = &value[..usize::from(len)];
    out.extend_from_slice(&code.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(value);
    out.resize(out.len() + padded(value.len()) - value.len(), 0);
}

/// `text` cut to at most [`MAX_COMMENT`] bytes at a character boundary.
fn clip(text: &str) -> &str {
    if text.len() <= MAX_COMMENT {
        return text;
    }
    let mut end = MAX_COMMENT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// What a TLS event showed, for its note.
fn tls_text(info: &TlsInfo) -> String {
    let mut s = String::new();
    if let Some(sni) = &info.sni {
        let _ = write!(s, " SNI {sni:?}");
    }
    if !info.offered.is_empty() {
        let offered: Vec<String> = info.offered.iter().map(|v| tls_version_name(*v)).collect();
        let _ = write!(s, "; client offered {}", offered.join(", "));
    }
    if let Some(v) = info.negotiated {
        let _ = write!(s, "; server chose {}", tls_version_name(v));
    }
    s.push_str(" (its content is not in this capture)");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    #[test]
    fn options_are_padded_and_comments_clipped_at_characters() {
        let mut out = Vec::new();
        option(&mut out, OPT_COMMENT, b"abcde");
        assert_eq!(out, [1, 0, 5, 0, b'a', b'b', b'c', b'd', b'e', 0, 0, 0]);
        let long = "é".repeat(MAX_COMMENT);
        let clipped = clip(&long);
        assert!(clipped.len() <= MAX_COMMENT && clipped.len() >= MAX_COMMENT - 1);
    }

    #[test]
    fn mapped_addresses_become_ipv4_and_mixed_ones_ipv6() {
        let e = Endpoints {
            client: "[::ffff:127.0.0.1]:5000".parse().unwrap(),
            server: "[::ffff:127.0.0.1]:1883".parse().unwrap(),
        };
        let (c, s) = addresses(e);
        assert!(c.is_ipv4() && s.is_ipv4());
        let e = Endpoints {
            client: "127.0.0.1:5000".parse().unwrap(),
            server: "[::1]:1883".parse().unwrap(),
        };
        let (c, s) = addresses(e);
        assert!(c.is_ipv6() && s.is_ipv6());
        assert_eq!(
            c.ip(),
            IpAddr::V6(Ipv6Addr::from([0, 0, 0, 0, 0, 0xffff, 0x7f00, 1]))
        );
    }

    #[test]
    fn a_capture_file_is_created_when_its_session_starts_and_its_errors_name_it() {
        let dir =
            std::env::temp_dir().join(format!("mqtt-conform-capture-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("run.pcapng");
        let mut sink = CaptureFile::new(&path);
        let opened = Event {
            conn: 1,
            at: Duration::from_millis(5),
            from: Side::Client,
            kind: EventKind::opened(None),
        };
        assert!(sink.event(&opened).is_err(), "an event before the start");
        assert!(!path.exists());
        sink.start(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
            .unwrap();
        sink.event(&opened).unwrap();
        sink.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes[..4], BLOCK_SHB.to_ne_bytes());
        // The same bytes as a writer given the same start and event.
        let mut reread = Vec::new();
        let mut writer =
            CaptureWriter::new(&mut reread, UNIX_EPOCH + Duration::from_secs(1_700_000_000))
                .unwrap();
        writer.event(&opened).unwrap();
        writer.finish().unwrap();
        assert_eq!(bytes, reread);

        let missing = dir.join("no-such-dir").join("run.pcapng");
        let error = CaptureFile::new(&missing)
            .start(SystemTime::now())
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(&format!("cannot write {}: ", missing.display())),
            "{error}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn websocket_frames_parse_back_with_tungstenite() {
        use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;
        for (len, mask) in [
            (0, None),
            (125, Some([1, 2, 3, 4])),
            (126, None),
            (65_535, Some([9; 4])),
            (65_536, Some([7, 0, 7, 0])),
        ] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let framed = ws_frame(ws_opcode::BINARY, &payload, mask);
            let mut cursor = std::io::Cursor::new(&framed[..]);
            let (head, n) = FrameHeader::parse(&mut cursor).unwrap().unwrap();
            assert_eq!((n, head.mask, head.is_final), (len as u64, mask, true));
            let mut body = framed[cursor.position() as usize..].to_vec();
            if let Some(m) = mask {
                body.iter_mut()
                    .enumerate()
                    .for_each(|(i, b)| *b ^= m[i % 4]);
            }
            assert_eq!(body, payload);
        }
        let (request, response) = upgrade(
            3,
            "10.0.0.1:80".parse().unwrap(),
            "/mqtt",
            &["mqtt".into()],
            Some("mqtt"),
            Some(101),
        );
        let request = String::from_utf8(request).unwrap();
        let key = request
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap();
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
        let response = String::from_utf8(response.unwrap()).unwrap();
        assert!(
            response.contains(&format!("Sec-WebSocket-Accept: {accept}\r\n")),
            "{response}"
        );
        assert!(
            request.starts_with("GET /mqtt HTTP/1.1\r\nHost: 10.0.0.1:80\r\n"),
            "{request}"
        );
        assert!(
            request.ends_with("Sec-WebSocket-Protocol: mqtt\r\n\r\n"),
            "{request}"
        );
    }

    #[test]
    fn synthetic_addresses_are_distinct_per_connection() {
        let a = synthetic(1);
        let b = synthetic(1 + SYNTHETIC_PORTS);
        assert_ne!(a.0, b.0);
        assert_eq!(a.1, b.1);
        assert_eq!(a.0.to_string(), "10.0.0.2:49153");
    }
}
