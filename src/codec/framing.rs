//! Streaming framing: finding packet boundaries in a byte stream, from buffers or sockets.
//!
//! Memory grows only with bytes actually received: a peer that announces a Remaining
//! Length of 268,435,455 costs nothing until it sends them, and a packet announced above
//! the configured maximum is refused as soon as its fixed header is complete.

use super::decode::{FixedHeader, decode_frame, decode_packet};
use super::error::{DecodeError, Violation};
use super::packet::Packet;
use super::version::ProtocolVersion;
use bytes::{Bytes, BytesMut};
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The default maximum packet size: the largest MQTT allows (header included).
pub const DEFAULT_MAX_PACKET_SIZE: usize = 268_435_455 + 5;

/// How much to ask the socket for per read; the buffer never grows ahead of the data.
const READ_CHUNK: usize = 8 * 1024;

/// Splits a byte stream into packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framer {
    /// Packets larger than this (header included) are refused.
    pub max_packet_size: usize,
}

impl Default for Framer {
    fn default() -> Self {
        Self {
            max_packet_size: DEFAULT_MAX_PACKET_SIZE,
        }
    }
}

/// One framed packet: its raw bytes, and the result of decoding them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The packet's bytes, fixed header included.
    pub bytes: Bytes,
    /// The decoded packet, or the first violation in it.
    pub packet: Result<Packet, DecodeError>,
}

impl Framer {
    /// A framer refusing packets over `max_packet_size` bytes.
    pub fn new(max_packet_size: usize) -> Self {
        Self { max_packet_size }
    }

    /// Looks at the start of `buf`: the complete packet's length when it is all there,
    /// `Ok(None)` when more bytes are needed. Errors are unrecoverable framing faults
    /// (an invalid Remaining Length, or a packet above the maximum).
    pub fn packet_len(
        &self,
        buf: &[u8],
        version: ProtocolVersion,
    ) -> Result<Option<usize>, DecodeError> {
        Ok(self.complete_header(buf, version)?.map(|h| h.packet_len()))
    }

    /// The fixed header at the start of `buf` when the whole packet is there, `Ok(None)`
    /// when more bytes are needed; errors as [`Framer::packet_len`].
    #[inline]
    pub fn complete_header(
        &self,
        buf: &[u8],
        version: ProtocolVersion,
    ) -> Result<Option<FixedHeader>, DecodeError> {
        let header = match FixedHeader::parse(buf) {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(None),
            Err(v) => return Err(DecodeError::new(v, 1, version)),
        };
        let size = header.packet_len();
        if size > self.max_packet_size {
            return Err(DecodeError::new(
                Violation::PacketTooLarge {
                    size,
                    max: self.max_packet_size,
                },
                1,
                version,
            ));
        }
        Ok((buf.len() >= size).then_some(header))
    }

    /// Takes the next complete packet off the front of `buf`, if there is one.
    pub fn next_frame(
        &self,
        buf: &mut BytesMut,
        version: ProtocolVersion,
    ) -> Result<Option<Bytes>, DecodeError> {
        Ok(self
            .next_frame_header(buf, version)?
            .map(|(bytes, _)| bytes))
    }

    /// [`Framer::next_frame`] with the packet's parsed fixed header, for
    /// [`super::decode::decode_frame`], which then does not parse it again.
    #[inline]
    pub fn next_frame_header(
        &self,
        buf: &mut BytesMut,
        version: ProtocolVersion,
    ) -> Result<Option<(Bytes, FixedHeader)>, DecodeError> {
        Ok(self
            .complete_header(buf, version)?
            .map(|h| (buf.split_to(h.packet_len()).freeze(), h)))
    }
}

/// Tracks the protocol version of one direction of a conversation: 3.1.1 until a CONNECT
/// says otherwise (or as configured).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionTracker {
    /// The version packets are judged under now.
    pub version: ProtocolVersion,
}

impl VersionTracker {
    /// Starts at `version`.
    pub fn new(version: ProtocolVersion) -> Self {
        Self { version }
    }

    /// Decodes a frame and follows any CONNECT's version.
    pub fn decode(&mut self, bytes: Bytes) -> Frame {
        let packet = decode_packet(&bytes, self.version);
        self.follow(bytes, packet)
    }

    /// [`VersionTracker::decode`] for a frame whose fixed header is already parsed (see
    /// [`decode_frame`]).
    pub fn decode_with_header(&mut self, bytes: Bytes, header: &FixedHeader) -> Frame {
        let packet = decode_frame(bytes.clone(), header, self.version);
        self.follow(bytes, packet)
    }

    fn follow(&mut self, bytes: Bytes, packet: Result<Packet, DecodeError>) -> Frame {
        if let Ok(Packet::Connect(c)) = &packet {
            self.version = c.protocol;
        }
        Frame { bytes, packet }
    }
}

/// Reads packets from an async byte stream (a socket, a TLS stream, a pipe).
#[derive(Debug)]
pub struct PacketReader<R> {
    inner: R,
    buf: BytesMut,
    framer: Framer,
    /// The version packets are decoded under; follows a CONNECT read from this stream.
    pub tracker: VersionTracker,
    consumed: u64,
}

/// Why a [`PacketReader`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The transport failed.
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
    /// The byte stream cannot be framed any further.
    #[error("{error} (stream offset {stream_offset})")]
    Framing {
        /// The framing fault.
        error: DecodeError,
        /// Offset in the stream of the packet that could not be framed.
        stream_offset: u64,
    },
    /// The peer closed the stream in the middle of a packet.
    #[error("stream closed inside a packet ({buffered} bytes of it received)")]
    TruncatedPacket {
        /// Bytes of the incomplete packet already received.
        buffered: usize,
    },
}

impl<R: AsyncRead + Unpin> PacketReader<R> {
    /// Wraps a stream.
    pub fn new(inner: R, framer: Framer, version: ProtocolVersion) -> Self {
        Self {
            inner,
            buf: BytesMut::new(),
            framer,
            tracker: VersionTracker::new(version),
            consumed: 0,
        }
    }

    /// The next packet, decoded; `Ok(None)` on a clean end of stream between packets.
    pub async fn read_frame(&mut self) -> Result<Option<Frame>, ReadError> {
        Ok(self
            .read_bytes_header()
            .await?
            .map(|(bytes, header)| self.tracker.decode_with_header(bytes, &header)))
    }

    /// The next packet's bytes, undecoded (for callers that learn the version later).
    pub async fn read_bytes(&mut self) -> Result<Option<Bytes>, ReadError> {
        Ok(self.read_bytes_header().await?.map(|(bytes, _)| bytes))
    }

    /// The next packet's bytes and parsed fixed header.
    async fn read_bytes_header(&mut self) -> Result<Option<(Bytes, FixedHeader)>, ReadError> {
        loop {
            match self
                .framer
                .next_frame_header(&mut self.buf, self.tracker.version)
            {
                Ok(Some(frame)) => {
                    self.consumed += frame.0.len() as u64;
                    return Ok(Some(frame));
                }
                Ok(None) => {}
                Err(error) => {
                    return Err(ReadError::Framing {
                        error,
                        stream_offset: self.consumed,
                    });
                }
            }
            self.buf.reserve(READ_CHUNK);
            if self.inner.read_buf(&mut self.buf).await? == 0 {
                return match self.buf.len() {
                    0 => Ok(None),
                    buffered => Err(ReadError::TruncatedPacket { buffered }),
                };
            }
        }
    }

    /// Bytes buffered but not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The buffer's capacity (for memory-bound checks).
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The underlying stream.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

/// How a buffer split by [`split_input`] ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputEnd {
    /// On a packet boundary.
    Complete,
    /// Inside a packet: the buffer stops before the bytes the packet's fixed header
    /// announces, or inside the fixed header. Not a protocol violation: the rest of the
    /// packet was never given.
    Incomplete {
        /// Where the unfinished packet starts.
        offset: usize,
        /// Its bytes present.
        have: usize,
        /// Its whole length when the fixed header is complete.
        need: Option<usize>,
    },
    /// The stream cannot be framed (an invalid Remaining Length, a packet above the
    /// maximum): the violation, with its stream offset.
    Violation(DecodeError),
}

/// Splits a complete byte buffer into frames. Returns the frames and, if the buffer does
/// not end on a packet boundary or cannot be framed, the error with its stream offset (a
/// buffer that ends inside a packet is [`Violation::Truncated`]; [`split_input`] tells that
/// case apart).
pub fn split_frames(
    input: &[u8],
    framer: Framer,
    version: ProtocolVersion,
) -> (Vec<(usize, Frame)>, Option<DecodeError>) {
    let (frames, end, version) = split_tracked(input, framer, version);
    let error = match end {
        InputEnd::Complete => None,
        InputEnd::Incomplete { need, .. } => {
            let field = if need.is_some() {
                "packet body"
            } else {
                "Remaining Length"
            };
            Some(DecodeError::new(
                Violation::Truncated { field },
                input.len(),
                version,
            ))
        }
        InputEnd::Violation(e) => Some(e),
    };
    (frames, error)
}

/// Splits a complete byte buffer into frames, and says how it ends: on a packet boundary,
/// inside a packet (an input that stops early), or at a framing violation.
pub fn split_input(
    input: &[u8],
    framer: Framer,
    version: ProtocolVersion,
) -> (Vec<(usize, Frame)>, InputEnd) {
    let (frames, end, _) = split_tracked(input, framer, version);
    (frames, end)
}

/// [`split_input`], and the version the stream ended in.
fn split_tracked(
    input: &[u8],
    framer: Framer,
    version: ProtocolVersion,
) -> (Vec<(usize, Frame)>, InputEnd, ProtocolVersion) {
    let mut tracker = VersionTracker::new(version);
    let whole = Bytes::copy_from_slice(input);
    let mut offset = 0;
    let mut frames = Vec::new();
    while offset < whole.len() {
        match framer.complete_header(&whole[offset..], tracker.version) {
            Ok(Some(header)) => {
                let len = header.packet_len();
                let frame = whole.slice(offset..offset + len);
                frames.push((offset, tracker.decode_with_header(frame, &header)));
                offset += len;
            }
            Ok(None) => {
                let need = match FixedHeader::parse(&whole[offset..]) {
                    Ok(Some(h)) => Some(h.packet_len()),
                    _ => None,
                };
                let end = InputEnd::Incomplete {
                    offset,
                    have: whole.len() - offset,
                    need,
                };
                return (frames, end, tracker.version);
            }
            Err(e) => {
                return (
                    frames,
                    InputEnd::Violation(e.shifted(offset)),
                    tracker.version,
                );
            }
        }
    }
    (frames, InputEnd::Complete, tracker.version)
}
