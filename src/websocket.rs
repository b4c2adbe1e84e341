//! MQTT over WebSocket (§6 of both specifications): the MQTT byte stream carried in
//! WebSocket binary messages, with no alignment between packets and frames (MQTT-6.0.0-2).
//! [`WsBytes`] turns a WebSocket connection into a byte stream, so the rest of the program
//! reads and writes MQTT over it as over TCP.

use crate::event::WebSocketEvent;
use bytes::{Buf, Bytes};
use futures_util::{Sink, Stream};
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

/// The subprotocol MQTT over WebSocket offers and selects (MQTT-6.0.0-3, MQTT-6.0.0-4).
pub const SUBPROTOCOL: &str = "mqtt";

/// The largest WebSocket message taken in: an MQTT packet of the largest size the framing
/// allows, plus its header. A peer claiming more is refused before its bytes are held.
const MAX_MESSAGE: usize = 256 * 1024 * 1024 + 5;

/// How the detail of a close begins when the peer's WebSocket frames made us close (a text
/// message, a breach of RFC 6455).
pub const CLOSED_ON_PEER_ERROR: &str = "closed on the device's ";

/// What breaks the byte stream: a text message, where MQTT travels in binary ones only.
pub const TEXT_FRAME: &str =
    "WebSocket text message, where MQTT travels in binary messages only [MQTT-6.0.0-1]";

pub use crate::suite::schema::Framing;

/// Where a [`WsBytes`] reports what it sees besides MQTT bytes (a text message, a Close).
pub type Observer = Arc<dyn Fn(WebSocketEvent) + Send + Sync>;

/// Sets how the next write of a [`WsBytes`] goes out; shared with whoever writes to it
/// through a split stream.
#[derive(Debug, Clone, Default)]
pub struct FramingControl(Arc<Mutex<Option<Framing>>>);

impl FramingControl {
    /// The next write (only it) goes out framed this way.
    pub fn next_write(&self, framing: Framing) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(framing);
    }

    fn take(&self) -> Option<Framing> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// A WebSocket connection read and written as a byte stream: each write goes out as one
/// binary message (unless [`FramingControl`] says otherwise); reading yields the bytes of
/// binary messages in order, skips control messages (tungstenite answers pings), and fails
/// on a text message.
pub struct WsBytes<S> {
    ws: WebSocketStream<S>,
    /// The unread rest of the last binary message.
    pending: Bytes,
    /// The opening handshake as an event.
    handshake: WebSocketEvent,
    observer: Option<Observer>,
    framing: FramingControl,
    /// Messages and frames of a write framed otherwise, not yet handed to the WebSocket.
    outbox: VecDeque<Message>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for WsBytes<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsBytes")
            .field("ws", &self.ws)
            .field("handshake", &self.handshake)
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsBytes<S> {
    fn new(ws: WebSocketStream<S>, handshake: WebSocketEvent) -> Self {
        Self {
            ws,
            pending: Bytes::new(),
            handshake,
            observer: None,
            framing: FramingControl::default(),
            outbox: VecDeque::new(),
        }
    }

    /// The transport under the WebSocket.
    pub fn get_ref(&self) -> &S {
        self.ws.get_ref()
    }

    /// The opening handshake: path, subprotocols offered and selected.
    pub fn handshake(&self) -> &WebSocketEvent {
        &self.handshake
    }

    /// Reports to `observer` every text message and Close frame the peer sends.
    pub fn observe(&mut self, observer: Observer) {
        self.observer = Some(observer);
    }

    /// The handle that sets how the next write goes out.
    pub fn framing(&self) -> FramingControl {
        self.framing.clone()
    }

    fn report(&self, event: WebSocketEvent) {
        if let Some(observer) = &self.observer {
            observer(event);
        }
    }
}

/// The messages and frames that carry `buf` framed as `framing` says.
fn framed(buf: &[u8], framing: Framing) -> VecDeque<Message> {
    let bytes = Bytes::copy_from_slice(buf);
    let binary = OpCode::Data(Data::Binary);
    match framing {
        Framing::Text => {
            // Not UTF-8-checked on the way out: the bytes go as they are.
            let frame = Frame::message(bytes, OpCode::Data(Data::Text), true);
            VecDeque::from([Message::Frame(frame)])
        }
        Framing::Split => (0..bytes.len())
            .map(|i| Message::Binary(bytes.slice(i..=i)))
            .collect(),
        Framing::Fragmented => {
            let mut out = VecDeque::new();
            for i in 0..bytes.len() {
                let opcode = if i == 0 {
                    binary
                } else {
                    OpCode::Data(Data::Continue)
                };
                let last = i + 1 == bytes.len();
                out.push_back(Message::Frame(Frame::message(
                    bytes.slice(i..=i),
                    opcode,
                    last,
                )));
                if i == 0 && !last {
                    out.push_back(Message::Ping(Bytes::from_static(b"mqtt-conform")));
                }
            }
            out
        }
        Framing::PingFirst => VecDeque::from([
            Message::Ping(Bytes::from_static(b"mqtt-conform")),
            Message::Binary(bytes),
        ]),
    }
}

fn config() -> WebSocketConfig {
    // Each message goes to the transport as it is written, as a TCP write would.
    WebSocketConfig::default()
        .write_buffer_size(0)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

/// The client's opening handshake on `stream` to `url` (`ws://host:port/path`; the scheme
/// only shapes the request, TLS is already under `stream` for `wss`), offering the `mqtt`
/// subprotocol. A server that does not select it is refused by the handshake
/// (MQTT-6.0.0-4).
pub async fn connect<S>(stream: S, url: &str) -> Result<WsBytes<S>, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut request = url
        .into_client_request()
        .map_err(|e| format!("WebSocket request for {url}: {e}"))?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        SUBPROTOCOL.parse().expect("a valid header value"),
    );
    let path = request.uri().path().to_owned();
    let (ws, response) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(config()))
            .await
            .map_err(|e| {
                use tokio_tungstenite::tungstenite::error::{Error, ProtocolError};
                // tungstenite refuses an answer without the subprotocol offered.
                let subprotocol = matches!(
                    e,
                    Error::Protocol(ProtocolError::SecWebSocketSubProtocolError(_))
                );
                let cite = if subprotocol {
                    " (the server must select the `mqtt` subprotocol [MQTT-6.0.0-4])"
                } else {
                    ""
                };
                format!("WebSocket handshake with {url} failed: {e}{cite}")
            })?;
    let handshake = WebSocketEvent::Handshake {
        path,
        offered: vec![SUBPROTOCOL.to_owned()],
        selected: subprotocols(response.headers()).into_iter().next(),
        status: Some(response.status().as_u16()),
    };
    Ok(WsBytes::new(ws, handshake))
}

/// The subprotocols a `Sec-WebSocket-Protocol` header (or several) lists, in order.
fn subprotocols(headers: &tokio_tungstenite::tungstenite::http::HeaderMap) -> Vec<String> {
    headers
        .get_all("Sec-WebSocket-Protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// A WebSocket error as an I/O error: the peer breaking the WebSocket protocol (RFC 6455:
/// an unmasked client frame, a bad opcode …) is `InvalidData`, so that the reader knows it
/// closes the connection for the peer's fault rather than seeing it go.
fn io_error(e: tokio_tungstenite::tungstenite::Error) -> io::Error {
    use tokio_tungstenite::tungstenite::Error;
    match e {
        Error::Protocol(_) | Error::Capacity(_) | Error::Utf8(_) => {
            io::Error::new(io::ErrorKind::InvalidData, e.to_string())
        }
        other => io::Error::other(other.to_string()),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsBytes<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.pending.is_empty() {
                let n = this.pending.len().min(buf.remaining());
                buf.put_slice(&this.pending[..n]);
                this.pending.advance(n);
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut this.ws).poll_next(cx)) {
                // The end of the stream (after a close handshake or the TCP end): end the
                // transport on our side too, as a browser does — a server may wait for it
                // (mosquitto's TLS websockets listener does, for 5 s, before publishing
                // the Will).
                None => {
                    let _ = Pin::new(this.ws.get_mut()).poll_shutdown(cx);
                    return Poll::Ready(Ok(()));
                }
                Some(Ok(Message::Binary(bytes))) => this.pending = bytes,
                // MQTT-6.0.0-1: the recipient closes the connection.
                Some(Ok(Message::Text(text))) => {
                    let bytes = Bytes::from(text);
                    this.report(WebSocketEvent::NonBinary {
                        opcode: 1,
                        len: bytes.len() as u64,
                        head: bytes.slice(..bytes.len().min(WebSocketEvent::HEAD)),
                    });
                    let _ = Pin::new(this.ws.get_mut()).poll_shutdown(cx);
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        TEXT_FRAME,
                    )));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                // tungstenite queues the answer to the peer's close: send it now, so the
                // peer sees the close handshake end rather than waiting for it.
                Some(Ok(Message::Close(frame))) => {
                    this.report(WebSocketEvent::Close {
                        code: frame.map(|f| u16::from(f.code)),
                    });
                    let _ = Pin::new(&mut this.ws).poll_flush(cx);
                }
                Some(Err(e)) => {
                    let _ = Pin::new(this.ws.get_mut()).poll_shutdown(cx);
                    return Poll::Ready(Err(io_error(e)));
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsBytes<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // A write framed otherwise goes out message by message; a write interrupted part
        // way is resumed when the caller writes the same bytes again.
        if this.outbox.is_empty() {
            if let Some(framing) = this.framing.take() {
                this.outbox = framed(buf, framing);
            }
        }
        if !this.outbox.is_empty() {
            while let Some(message) = this.outbox.pop_front() {
                let ready = Pin::new(&mut this.ws).poll_ready(cx).map_err(io_error)?;
                if ready.is_pending() {
                    this.outbox.push_front(message);
                    return Poll::Pending;
                }
                Pin::new(&mut this.ws)
                    .start_send(message)
                    .map_err(io_error)?;
            }
            if let Poll::Ready(Err(e)) = Pin::new(&mut this.ws).poll_flush(cx) {
                return Poll::Ready(Err(io_error(e)));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        ready!(Pin::new(&mut this.ws).poll_ready(cx)).map_err(io_error)?;
        Pin::new(&mut this.ws)
            .start_send(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(io_error)?;
        // Push it out now; what stays pending goes with the next write or flush.
        if let Poll::Ready(Err(e)) = Pin::new(&mut this.ws).poll_flush(cx) {
            return Poll::Ready(Err(io_error(e)));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().ws)
            .poll_flush(cx)
            .map_err(io_error)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().ws)
            .poll_close(cx)
            .map_err(io_error)
    }
}

/// Where device mode listens: an address, and MQTT over WebSocket at a path when the
/// `--listen` URL is `ws://ADDR[/path]` or `wss://ADDR[/path]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    /// The address to bind.
    pub addr: std::net::SocketAddr,
    /// The WebSocket path, for MQTT over WebSocket.
    pub websocket: Option<String>,
    /// `wss://`: TLS under the WebSocket, whatever the platform speaks.
    pub tls: bool,
}

impl std::str::FromStr for Listen {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (tls, rest) = match text.strip_prefix("wss://") {
            Some(r) => (true, Some(r)),
            None => (false, text.strip_prefix("ws://")),
        };
        let Some(rest) = rest else {
            let addr = text
                .parse()
                .map_err(|_| format!("`{text}` is neither ADDR:PORT nor ws://ADDR:PORT[/path]"))?;
            return Ok(Listen {
                addr,
                websocket: None,
                tls: false,
            });
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let addr = authority
            .parse()
            .map_err(|_| format!("`{text}`: `{authority}` is not ADDR:PORT"))?;
        Ok(Listen {
            addr,
            websocket: Some(format!("/{path}")),
            tls,
        })
    }
}

/// What the server side of an opening handshake came to: the handshake as an event (when
/// the request was read) and the WebSocket, or why there is none.
pub struct Accepted<S> {
    /// The request's path and subprotocols, and our answer.
    pub handshake: Option<WebSocketEvent>,
    /// The WebSocket, or why the handshake failed.
    pub ws: Result<WsBytes<S>, String>,
}

/// The server's opening handshake on `stream`: a request for `path` offering the `mqtt`
/// subprotocol is answered selecting it (MQTT-6.0.0-4); any other is refused with an HTTP
/// error, and the error says why (a client must offer `mqtt`, MQTT-6.0.0-3).
pub async fn accept<S>(stream: S, path: &str) -> Accepted<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
    use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
    let mut refusal = None;
    let mut handshake = None;
    let check = |request: &Request, mut response: Response| -> Result<Response, ErrorResponse> {
        let offered = subprotocols(request.headers());
        let asked = request.uri().path().to_owned();
        let why = if asked != path {
            Some((
                StatusCode::NOT_FOUND,
                format!("a WebSocket request for {asked}, not {path}"),
            ))
        } else if !offered.iter().any(|p| p == SUBPROTOCOL) {
            Some((
                StatusCode::BAD_REQUEST,
                "the client's WebSocket handshake offers no `mqtt` subprotocol [MQTT-6.0.0-3]"
                    .to_owned(),
            ))
        } else {
            None
        };
        let (status, selected) = match &why {
            Some((status, _)) => (status.as_u16(), None),
            None => (101, Some(SUBPROTOCOL.to_owned())),
        };
        handshake = Some(WebSocketEvent::Handshake {
            path: asked,
            offered,
            selected,
            status: Some(status),
        });
        if let Some((status, why)) = why {
            let mut error = ErrorResponse::new(Some(why.clone()));
            *error.status_mut() = status;
            refusal = Some(why);
            return Err(error);
        }
        response.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(SUBPROTOCOL),
        );
        Ok(response)
    };
    let result =
        tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(config())).await;
    let ws = match result {
        Ok(ws) => match &handshake {
            Some(h) => Ok(WsBytes::new(ws, h.clone())),
            None => Err("WebSocket handshake accepted without a request".to_owned()),
        },
        Err(e) => Err(refusal.unwrap_or_else(|| format!("WebSocket handshake failed: {e}"))),
    };
    Accepted { handshake, ws }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::SinkExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A client [`WsBytes`] and the raw server end of the same WebSocket, over a pipe.
    async fn pair() -> (
        WsBytes<tokio::io::DuplexStream>,
        WebSocketStream<tokio::io::DuplexStream>,
    ) {
        let (client, server) = tokio::io::duplex(1 << 16);
        let (client, server) = tokio::join!(
            connect(client, "ws://localhost/mqtt"),
            accept(server, "/mqtt")
        );
        (
            client.expect("client handshake"),
            server.ws.expect("server handshake").ws,
        )
    }

    #[tokio::test]
    async fn packets_cross_frame_boundaries_both_ways_and_a_text_message_breaks_the_stream() {
        let (mut client, mut server) = pair().await;
        // PINGREQ split over two messages, then PINGRESP and DISCONNECT in one (MQTT-6.0.0-2).
        server
            .send(Message::Binary(Bytes::from_static(&[0xc0])))
            .await
            .unwrap();
        server
            .send(Message::Ping(Bytes::from_static(b"p")))
            .await
            .unwrap();
        server
            .send(Message::Binary(Bytes::from_static(&[0x00])))
            .await
            .unwrap();
        server
            .send(Message::Binary(Bytes::from_static(&[
                0xd0, 0x00, 0xe0, 0x00,
            ])))
            .await
            .unwrap();
        let mut got = [0u8; 6];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(got, [0xc0, 0x00, 0xd0, 0x00, 0xe0, 0x00]);
        // Our write goes out as one binary message.
        client.write_all(&[0xc0, 0x00]).await.unwrap();
        use futures_util::StreamExt;
        let mut from_client = Vec::new();
        while from_client.is_empty() {
            match server.next().await.expect("a message").unwrap() {
                Message::Binary(b) => from_client = b.to_vec(),
                Message::Pong(_) => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(from_client, [0xc0, 0x00]);
        // A text message ends the byte stream, citing MQTT-6.0.0-1.
        server.send(Message::text("hello")).await.unwrap();
        let mut byte = [0u8; 1];
        let error = client
            .read(&mut byte)
            .await
            .expect_err("a text message is refused");
        assert_eq!(error.to_string(), TEXT_FRAME);
    }

    #[tokio::test]
    async fn a_client_offering_no_mqtt_subprotocol_is_refused_and_told_why() {
        let (client, server) = tokio::io::duplex(1 << 16);
        let plain = async {
            let request = "ws://localhost/mqtt".into_client_request().unwrap();
            tokio_tungstenite::client_async(request, client).await
        };
        let (client, server) = tokio::join!(plain, accept(server, "/mqtt"));
        assert!(client.is_err());
        assert_eq!(
            server.ws.err().as_deref(),
            Some("the client's WebSocket handshake offers no `mqtt` subprotocol [MQTT-6.0.0-3]")
        );
        assert_eq!(
            server.handshake,
            Some(WebSocketEvent::Handshake {
                path: "/mqtt".into(),
                offered: vec![],
                selected: None,
                status: Some(400),
            })
        );
    }

    #[test]
    fn listen_addresses() {
        let plain: Listen = "127.0.0.1:1883".parse().unwrap();
        assert_eq!((plain.websocket, plain.tls), (None, false));
        let ws: Listen = "ws://0.0.0.0:8080/mqtt".parse().unwrap();
        assert_eq!((ws.websocket.as_deref(), ws.tls), (Some("/mqtt"), false));
        let wss: Listen = "wss://[::1]:8443".parse().unwrap();
        assert_eq!((wss.websocket.as_deref(), wss.tls), (Some("/"), true));
        assert!("ws://nowhere/mqtt".parse::<Listen>().is_err());
    }
}
