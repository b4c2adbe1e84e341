//! Capture mode's input: pcap / pcapng files in, TCP reassembly, MQTT framing into
//! events for the judge.
//!
//! The pipeline, one stage per module: [`read`] streams records out of capture files and
//! parses their link, IP and TCP headers into [`Segment`]s; [`reassembly`] puts each
//! direction of each TCP connection back into one ordered byte stream and reports what
//! is missing; [`flows`] decides which connections are MQTT (or TLS: [`tls`] frames its
//! records, reads the hellos and, when a key log is given, decrypts), frames and decodes
//! their packets and hands [`crate::event::Event`]s to the judge; [`analyze`] runs the
//! stages on their threads and turns the judge's findings into the report.
//!
//! This is input only: writing a live session's events as pcapng is a report sink
//! (`report::pcapng`), and replaying a capture's clients against a live server is a mode
//! of its own (`replay`), built on this reader and the broker runner's client.

pub mod analyze;
mod flow_index;
pub mod flows;
pub mod read;
pub mod reassembly;
pub mod tls;

use std::net::SocketAddr;
use std::time::Duration;

/// TCP header flags (the low byte of the flags field).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
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

    /// Whether FIN is set.
    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    /// Whether SYN is set.
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    /// Whether RST is set.
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    /// Whether ACK is set.
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
}

/// One TCP segment out of a capture. The payload borrows the reader's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    /// Capture timestamp: time since the Unix epoch.
    pub at: Duration,
    /// The record's number in its file, from 1 (as Wireshark numbers frames).
    pub frame: u64,
    /// The file's index in the list read (notices name it with the frame).
    pub file: usize,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Advertised window (unscaled).
    pub window: u16,
    /// The TCP payload as captured.
    pub payload: &'a [u8],
    /// Payload bytes the wire carried but the capture cut off (snap length); the
    /// reassembler treats them as lost.
    pub missing: u32,
}

/// What a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    /// The file ends inside a record or block: everything before it was analysed.
    Truncated,
    /// A record or block that cannot be read (bad length, bad header).
    Malformed,
    /// A link type this reader does not decode; its records are skipped.
    UnsupportedLinkType,
    /// An IPv4 or IPv6 fragment carrying TCP: not reassembled, reported.
    IpFragment,
    /// Bytes missing from a TCP stream (lost segments or a cut-off record).
    StreamGap,
    /// Overlapping TCP data whose bytes differ from what was already received.
    InconsistentOverlap,
    /// A stream could not be followed (buffer limit, unplausible sequence jump).
    StreamAbandoned,
    /// Bytes in the capture that were not analysed (sent after a close, or after the
    /// stream became unframeable).
    NotAnalysed,
    /// What the analysis assumed (e.g. a protocol version inferred without a CONNECT).
    Info,
    /// The read was stopped (Ctrl-C, SIGTERM) before the files' end.
    Interrupted,
    /// A WebSocket protocol error (an unmasked client frame, a fragmented control frame,
    /// …) in a connection carrying MQTT over WebSocket; its unwrapping went on.
    WebSocket,
}

/// Something in a capture that is reported, never silently skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// What it is about.
    pub kind: NoticeKind,
    /// The file it concerns (its index in the list given).
    pub file: usize,
    /// The record's number in its file, when it concerns one record.
    pub frame: Option<u64>,
    /// Capture timestamp, when known.
    pub at: Option<Duration>,
    /// What happened, in words (offsets, lengths, addresses).
    pub detail: String,
}
