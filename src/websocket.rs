//! MQTT over WebSocket (§6 of both specifications): the MQTT byte stream carried in
//! WebSocket binary messages, with no alignment between packets and frames (MQTT-6.0.0-2).
//! [`WsBytes`] turns a WebSocket connection into a byte stream, so the rest of the program
//! reads and writes MQTT over it as over TCP.

use bytes::{Buf, Bytes};
use futures_util::{Sink, Stream};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// The subprotocol MQTT over WebSocket offers and selects (MQTT-6.0.0-3, MQTT-6.0.0-4).
pub const SUBPROTOCOL: &str = "mqtt";

/// The largest WebSocket message taken in: an MQTT packet of the largest size the framing
/// allows, plus its header. A peer claiming more is refused before its bytes are held.
const MAX_MESSAGE: usize = 256 * 1024 * 1024 + 5;

/// What breaks the byte stream: a text message, where MQTT travels in binary ones only.
pub const TEXT_FRAME: &str =
    "a WebSocket text message, where MQTT travels in binary messages only [MQTT-6.0.0-1]";

/// A WebSocket connection read and written as a byte stream: each write goes out as one
/// binary message; reading yields the bytes of binary messages in order, skips control
/// messages (tungstenite answers pings), and fails on a text message.
#[derive(Debug)]
pub struct WsBytes<S> {
    ws: WebSocketStream<S>,
    /// The unread rest of the last binary message.
    pending: Bytes,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsBytes<S> {
    /// The transport under the WebSocket.
    pub fn get_ref(&self) -> &S {
        self.ws.get_ref()
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
    let (ws, _response) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(config()))
            .await
            .map_err(|e| format!("WebSocket handshake with {url} failed: {e}"))?;
    Ok(WsBytes {
        ws,
        pending: Bytes::new(),
    })
}

fn io_error(e: tokio_tungstenite::tungstenite::Error) -> io::Error {
    io::Error::other(e.to_string())
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
                Some(Ok(Message::Text(_))) => {
                    let _ = Pin::new(this.ws.get_mut()).poll_shutdown(cx);
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        TEXT_FRAME,
                    )));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                // tungstenite queues the answer to the peer's close: send it now, so the
                // peer sees the close handshake end rather than waiting for it.
                Some(Ok(Message::Close(_))) => {
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

/// The server's opening handshake on `stream`: a request for `path` offering the `mqtt`
/// subprotocol is answered selecting it (MQTT-6.0.0-4); any other is refused with an HTTP
/// error, and the error says why (a client must offer `mqtt`, MQTT-6.0.0-3).
pub async fn accept<S>(stream: S, path: &str) -> Result<WsBytes<S>, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
    use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
    let mut refusal = None;
    let check = |request: &Request, mut response: Response| -> Result<Response, ErrorResponse> {
        let offered = request
            .headers()
            .get_all("Sec-WebSocket-Protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim() == SUBPROTOCOL);
        let why = if request.uri().path() != path {
            Some((
                StatusCode::NOT_FOUND,
                format!(
                    "a WebSocket request for {}, not {path}",
                    request.uri().path()
                ),
            ))
        } else if !offered {
            Some((
                StatusCode::BAD_REQUEST,
                "the client's WebSocket handshake offers no `mqtt` subprotocol [MQTT-6.0.0-3]"
                    .to_owned(),
            ))
        } else {
            None
        };
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
    match tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(config())).await {
        Ok(ws) => Ok(WsBytes {
            ws,
            pending: Bytes::new(),
        }),
        Err(e) => Err(refusal.unwrap_or_else(|| format!("WebSocket handshake failed: {e}"))),
    }
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
            server.expect("server handshake").ws,
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
            server.err().as_deref(),
            Some("the client's WebSocket handshake offers no `mqtt` subprotocol [MQTT-6.0.0-3]")
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
