//! One connection of a test: a writer, and a reader task that frames what arrives.
//!
//! The reader only frames; the test decodes each frame with the version in force when it
//! consumes it (a CONNECT sent after the reader started changes how replies decode). The
//! channel between them is bounded in frames and in bytes, so a peer that floods — even
//! with packets of many megabytes while the test is busy elsewhere — costs TCP
//! back-pressure, not memory.

use super::transport::{ConnectError, Connector, Stream};
use crate::codec::framing::{Framer, PacketReader, ReadError};
use crate::codec::{DecodeError, ProtocolVersion};
use bytes::Bytes;
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Frames buffered between the reader task and the test.
const CHANNEL_DEPTH: usize = 256;

/// Bytes of frames buffered between the reader task and the test; a larger frame is
/// buffered alone.
const CHANNEL_BYTES: usize = 8 * 1024 * 1024;

/// A frame in the channel, with its share of the byte budget (returned when the test takes it).
type Buffered = (Incoming, Option<tokio::sync::OwnedSemaphorePermit>);

/// What the reader task saw.
#[derive(Debug)]
pub enum Incoming {
    /// One framed packet.
    Frame {
        /// When it was complete.
        at: Instant,
        /// Its bytes.
        bytes: Bytes,
    },
    /// The peer closed (or reset) the connection.
    Closed {
        /// When.
        at: Instant,
        /// EOF, reset, or a close inside a packet.
        detail: String,
    },
    /// The stream cannot be framed any further (e.g. a five-byte Remaining Length).
    Unframeable {
        /// When.
        at: Instant,
        /// The framing fault.
        error: DecodeError,
    },
}

/// A live connection.
pub struct Conn {
    /// The name steps use.
    pub name: String,
    /// The connection's number among the run's connections (for events).
    pub id: u64,
    /// Our address and the target's.
    pub endpoints: Option<crate::event::Endpoints>,
    writer: Option<WriteHalf<Stream>>,
    rx: mpsc::Receiver<Buffered>,
    task: JoinHandle<()>,
    /// Version packets are encoded and decoded under (set by the CONNECT sent).
    pub version: ProtocolVersion,
    /// Keep Alive of the CONNECT sent (for windows written as multiples of it).
    pub keepalive: u16,
    /// When we last sent something.
    pub last_sent: Instant,
    /// When the peer's close was observed.
    pub closed_at: Option<Instant>,
    /// The next automatic packet identifier.
    pub next_packet_id: u16,
    /// The last packet identifier received (default for acks).
    pub last_received_id: Option<u16>,
    /// The Client Identifier of the CONNECT sent, once one was.
    pub client_id: Option<String>,
    /// What a 5.0 CONNACK announced the client may not send: its Maximum QoS, and whether
    /// retained messages are unavailable.
    pub server_limits: ServerLimits,
    /// The Maximum Packet Size our 5.0 CONNECT announced: a larger packet from the server
    /// is a failure of its own (MQTT-3.1.2-24).
    pub max_packet_size: Option<u32>,
    /// Over WebSocket: the opening handshake, and the handle framing the next write.
    pub websocket: Option<(
        crate::event::WebSocketEvent,
        crate::websocket::FramingControl,
    )>,
}

/// Limits a 5.0 server announces in its CONNACK, which bind the client.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerLimits {
    /// Maximum QoS (absent: 2).
    pub max_qos: Option<u8>,
    /// Retain Available 0.
    pub no_retain: bool,
}

impl Conn {
    /// Opens the transport and starts the reader.
    pub async fn open(
        name: &str,
        id: u64,
        connector: &Connector,
        framer: Framer,
        version: ProtocolVersion,
        keepalive: u16,
    ) -> Result<Self, ConnectError> {
        let stream = connector.connect().await?;
        let endpoints = stream.endpoints();
        let websocket = match &stream {
            Stream::WebSocket(ws) => Some((ws.handshake().clone(), ws.framing())),
            _ => None,
        };
        let (read, write) = tokio::io::split(stream);
        let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
        let budget = std::sync::Arc::new(tokio::sync::Semaphore::new(CHANNEL_BYTES));
        let task = tokio::spawn(read_loop(read, framer, tx, budget));
        Ok(Self {
            name: name.to_owned(),
            id,
            endpoints,
            writer: Some(write),
            rx,
            task,
            version,
            keepalive,
            last_sent: Instant::now(),
            closed_at: None,
            next_packet_id: 1,
            last_received_id: None,
            client_id: None,
            server_limits: ServerLimits::default(),
            max_packet_size: None,
            websocket,
        })
    }

    /// Writes bytes; returns when they were handed to the transport.
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<Instant> {
        let writer = self.writer.as_mut().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotConnected, "connection closed by us")
        })?;
        writer.write_all(bytes).await?;
        writer.flush().await?;
        self.last_sent = Instant::now();
        Ok(self.last_sent)
    }

    /// The next thing the reader saw, or `None` when `deadline` passes first.
    pub async fn next(&mut self, deadline: Instant) -> Option<Incoming> {
        match tokio::time::timeout_at(deadline, self.rx.recv()).await {
            Ok(Some((item, _returned_to_the_budget))) => Some(item),
            // The reader ended without a Closed event only when it was aborted.
            Ok(None) => Some(Incoming::Closed {
                at: Instant::now(),
                detail: "reader stopped".into(),
            }),
            Err(_) => None,
        }
    }

    /// Closes our side (TCP FIN after a TLS close_notify).
    pub async fn shutdown(&mut self) {
        if let Some(mut w) = self.writer.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), w.shutdown()).await;
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_loop(
    read: ReadHalf<Stream>,
    framer: Framer,
    tx: mpsc::Sender<Buffered>,
    budget: std::sync::Arc<tokio::sync::Semaphore>,
) {
    let mut reader = PacketReader::new(read, framer, ProtocolVersion::V3_1_1);
    loop {
        let item = match reader.read_bytes().await {
            Ok(Some(bytes)) => Incoming::Frame {
                at: Instant::now(),
                bytes,
            },
            Ok(None) => Incoming::Closed {
                at: Instant::now(),
                detail: "EOF".into(),
            },
            Err(ReadError::Io(e)) => Incoming::Closed {
                at: Instant::now(),
                detail: e.to_string(),
            },
            Err(ReadError::Framing { error, .. }) => Incoming::Unframeable {
                at: Instant::now(),
                error,
            },
            Err(ReadError::TruncatedPacket { buffered }) => Incoming::Closed {
                at: Instant::now(),
                detail: format!("closed inside a packet ({buffered} bytes of it received)"),
            },
        };
        let last = !matches!(item, Incoming::Frame { .. });
        let permit = match &item {
            Incoming::Frame { bytes, .. } => {
                let share = u32::try_from(bytes.len().clamp(1, CHANNEL_BYTES)).unwrap_or(u32::MAX);
                match budget.clone().acquire_many_owned(share).await {
                    Ok(permit) => Some(permit),
                    Err(_) => return,
                }
            }
            _ => None,
        };
        if tx.send((item, permit)).await.is_err() || last {
            return;
        }
    }
}
