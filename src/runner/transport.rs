//! Where the target is and how to reach it: TCP or TLS, and MQTT over WebSocket on either,
//! every step under a deadline.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::fmt;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

pub use crate::suite::DefaultPorts;

/// A broker or cloud endpoint: `mqtt://host:port`, `mqtts://host:port`, or MQTT over
/// WebSocket at `ws://host:port/path` / `wss://host:port/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Speak TLS.
    pub tls: bool,
    /// MQTT over WebSocket, at this path (`/` when the URL names none).
    pub websocket: Option<String>,
    /// Reach a server of this process through in-memory pipes instead of TCP.
    memory: Option<MemoryDialer>,
}

impl Target {
    /// Whether `test` runs against this target: a `transport: websocket` test only over
    /// WebSocket (elsewhere it does not apply and is not reported).
    pub fn carries(&self, test: &crate::suite::schema::TestDef) -> bool {
        match test.transport {
            None => true,
            Some(crate::suite::schema::Transport::Websocket) => self.websocket.is_some(),
        }
    }

    /// Parses a target URL; `default_port` applies when none is given (else 1883 / 8883;
    /// 80 / 443 for WebSocket).
    pub fn parse(url: &str, default_port: Option<u16>) -> Result<Self, String> {
        Self::parse_with(
            url,
            DefaultPorts {
                mqtt: default_port,
                ..DefaultPorts::default()
            },
        )
    }

    /// Parses a target URL with a suite's default ports for each kind of target.
    pub fn parse_with(url: &str, defaults: DefaultPorts) -> Result<Self, String> {
        let default_port = defaults.mqtt;
        let mut websocket = None;
        let (tls, rest) = if let Some(r) = url.strip_prefix("mqtts://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("mqtt://") {
            (false, r)
        } else if let Some((tls, r)) = url
            .strip_prefix("wss://")
            .map(|r| (true, r))
            .or_else(|| url.strip_prefix("ws://").map(|r| (false, r)))
        {
            let (authority, path) = r.split_once('/').unwrap_or((r, ""));
            websocket = Some(format!("/{path}"));
            (tls, authority)
        } else if let Some(r) = url
            .strip_prefix("ssl://")
            .or_else(|| url.strip_prefix("tls://"))
        {
            (true, r)
        } else if let Some(r) = url.strip_prefix("tcp://") {
            (false, r)
        } else {
            return Err(format!(
                "target `{url}` must start with mqtt://, mqtts://, ws:// or wss://"
            ));
        };
        let rest = rest.trim_end_matches('/');
        // `[v6]`, `[v6]:port`, `host`, `host:port`.
        let (host, port_text) = match rest.strip_prefix('[') {
            Some(r) => match r.split_once(']') {
                Some((h, tail)) => (h, tail.strip_prefix(':')),
                None => return Err(format!("target `{url}`: `[` without `]`")),
            },
            None => match rest.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            },
        };
        let port = match port_text {
            Some(p) => p
                .parse()
                .map_err(|_| format!("target `{url}`: `{p}` is not a port"))?,
            // The suite's port is an MQTT port; WebSocket defaults to the suite's WebSocket
            // ports, else HTTP's.
            None => match (&websocket, tls) {
                (Some(_), true) => defaults.wss.unwrap_or(443),
                (Some(_), false) => defaults.ws.unwrap_or(80),
                (None, true) => default_port.unwrap_or(8883),
                (None, false) => default_port.unwrap_or(1883),
            },
        };
        if host.is_empty() {
            return Err(format!("target `{url}` has no host"));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            tls,
            websocket,
            memory: None,
        })
    }

    /// The same target reached through `dialer` instead of TCP (TLS, when the target speaks
    /// it, runs over the pipe as it would over TCP).
    pub fn in_memory(mut self, dialer: MemoryDialer) -> Self {
        self.memory = Some(dialer);
        self
    }
}

/// Opens connections to a server running in this process as in-memory pipes: each dial
/// hands the server's end to whoever holds the receiver made with it. A client and a
/// server on pipes share one runtime, so a test can run both on a paused clock and let
/// long protocol timers (keep-alive closes) pass without waiting for them.
#[derive(Clone)]
pub struct MemoryDialer {
    server_ends: mpsc::UnboundedSender<DuplexStream>,
}

/// How many bytes a pipe holds in each direction before a write waits for the reader: as
/// much as the largest packet the runner sends, so that a write completes as it would into
/// a TCP socket's buffers.
const PIPE_BYTES: usize = 16 << 20;

impl MemoryDialer {
    /// A dialer and the receiver of the server ends of the pipes it opens.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<DuplexStream>) {
        let (server_ends, rx) = mpsc::unbounded_channel();
        (Self { server_ends }, rx)
    }

    fn dial(&self, target: &str) -> Result<DuplexStream, ConnectError> {
        let (client, server) = tokio::io::duplex(PIPE_BYTES);
        self.server_ends
            .send(server)
            .map_err(|_| ConnectError::Tcp {
                target: target.to_owned(),
                reason: "the in-memory server has stopped".into(),
            })?;
        Ok(client)
    }
}

impl fmt::Debug for MemoryDialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryDialer").finish_non_exhaustive()
    }
}

impl PartialEq for MemoryDialer {
    fn eq(&self, other: &Self) -> bool {
        self.server_ends.same_channel(&other.server_ends)
    }
}

impl Eq for MemoryDialer {}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match (&self.websocket, self.tls) {
            (Some(_), true) => "wss",
            (Some(_), false) => "ws",
            (None, true) => "mqtts",
            (None, false) => "mqtt",
        };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)?;
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)?;
        }
        match &self.websocket {
            Some(path) => write!(f, "{path}"),
            None => Ok(()),
        }
    }
}

/// TLS settings from the command line and the suite's endpoint.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Extra trusted CA certificates (PEM).
    pub ca: Option<PathBuf>,
    /// Client certificate chain for mutual TLS (PEM).
    pub cert: Option<PathBuf>,
    /// Client private key (PEM).
    pub key: Option<PathBuf>,
    /// Server name to present and verify (default: the target's host).
    pub sni: Option<String>,
    /// Versions to offer: "1.2", "1.3" (empty: both).
    pub versions: Vec<String>,
    /// Accept any server certificate.
    pub insecure: bool,
}

/// Why a connection could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConnectError {
    /// TCP failed (refused, unreachable, DNS).
    #[error("cannot connect to {target}: {reason}")]
    Tcp {
        /// The target.
        target: String,
        /// Why.
        reason: String,
    },
    /// Nothing answered in time.
    #[error("connecting to {target} timed out after {secs:.1} s")]
    Timeout {
        /// The target.
        target: String,
        /// The deadline.
        secs: f64,
    },
    /// The TLS configuration is unusable (bad CA file, key, version).
    #[error("TLS configuration: {0}")]
    TlsConfig(String),
    /// The handshake failed (certificate, protocol version, alert).
    #[error("TLS handshake with {target} failed: {reason}")]
    TlsHandshake {
        /// The target.
        target: String,
        /// Why.
        reason: String,
    },
    /// The WebSocket opening handshake failed (an HTTP error, no `mqtt` subprotocol).
    #[error("{0}")]
    WebSocket(String),
}

/// A byte stream to the target: plain TCP or TLS, or either over an in-memory pipe.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
    /// An in-memory pipe to a server of this process.
    Memory(DuplexStream),
    /// TLS over an in-memory pipe.
    MemoryTls(Box<TlsStream<DuplexStream>>),
    /// MQTT over WebSocket, over TCP or TLS.
    WebSocket(Box<crate::websocket::WsBytes<Stream>>),
}

impl Stream {
    /// Our address (the client's) and the target's; none on an in-memory pipe.
    pub fn endpoints(&self) -> Option<crate::event::Endpoints> {
        let tcp = match self {
            Self::Tcp(s) => s,
            Self::Tls(s) => s.get_ref().0,
            Self::Memory(_) | Self::MemoryTls(_) => return None,
            Self::WebSocket(ws) => return ws.get_ref().endpoints(),
        };
        Some(crate::event::Endpoints {
            client: tcp.local_addr().ok()?,
            server: tcp.peer_addr().ok()?,
        })
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Self::Memory(s) => Pin::new(s).poll_read(cx, buf),
            Self::MemoryTls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Self::WebSocket(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Self::Memory(s) => Pin::new(s).poll_write(cx, buf),
            Self::MemoryTls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Self::WebSocket(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Self::Memory(s) => Pin::new(s).poll_flush(cx),
            Self::MemoryTls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Self::WebSocket(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Self::Memory(s) => Pin::new(s).poll_shutdown(cx),
            Self::MemoryTls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Self::WebSocket(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Opens connections to one target with one TLS configuration.
#[derive(Clone)]
pub struct Connector {
    target: Target,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    timeout: Duration,
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector")
            .field("target", &self.target)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Connector {
    /// Prepares a connector; TLS configuration errors surface here, before any test runs.
    pub fn new(target: Target, tls: &TlsOptions, timeout: Duration) -> Result<Self, ConnectError> {
        let tls = if target.tls {
            let config = client_config(tls)?;
            let name = tls.sni.clone().unwrap_or_else(|| target.host.clone());
            let server_name = ServerName::try_from(name.clone()).map_err(|_| {
                ConnectError::TlsConfig(format!("`{name}` is not a valid server name"))
            })?;
            Some((TlsConnector::from(Arc::new(config)), server_name))
        } else {
            None
        };
        Ok(Self {
            target,
            tls,
            timeout,
        })
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Opens one connection (TCP or an in-memory pipe, then TLS when asked), within the
    /// connect deadline.
    pub async fn connect(&self) -> Result<Stream, ConnectError> {
        let stream = self.connect_transport().await?;
        let Some(path) = &self.target.websocket else {
            return Ok(stream);
        };
        // The opening handshake under the same deadline as the transport's.
        let scheme = if self.target.tls { "wss" } else { "ws" };
        let host = if self.target.host.contains(':') {
            format!("[{}]", self.target.host)
        } else {
            self.target.host.clone()
        };
        let url = format!("{scheme}://{host}:{}{path}", self.target.port);
        let ws = tokio::time::timeout(self.timeout, crate::websocket::connect(stream, &url))
            .await
            .map_err(|_| self.timed_out(&url))?
            .map_err(ConnectError::WebSocket)?;
        Ok(Stream::WebSocket(Box::new(ws)))
    }

    /// The transport under MQTT (or under its WebSocket): TCP or a pipe, then TLS when
    /// asked.
    async fn connect_transport(&self) -> Result<Stream, ConnectError> {
        let target = self.target.to_string();
        if let Some(dialer) = &self.target.memory {
            let pipe = dialer.dial(&target)?;
            return Ok(match &self.tls {
                None => Stream::Memory(pipe),
                Some(_) => Stream::MemoryTls(Box::new(self.handshake(&target, pipe).await?)),
            });
        }
        let tcp = tokio::time::timeout(
            self.timeout,
            TcpStream::connect((self.target.host.as_str(), self.target.port)),
        )
        .await
        .map_err(|_| self.timed_out(&target))?
        .map_err(|e| ConnectError::Tcp {
            target: target.clone(),
            reason: e.to_string(),
        })?;
        let _ = tcp.set_nodelay(true);
        if self.tls.is_none() {
            return Ok(Stream::Tcp(tcp));
        }
        Ok(Stream::Tls(Box::new(self.handshake(&target, tcp).await?)))
    }

    /// The TLS handshake over `io`, within the connect deadline; only called with TLS on.
    async fn handshake<IO>(&self, target: &str, io: IO) -> Result<TlsStream<IO>, ConnectError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let Some((connector, name)) = &self.tls else {
            return Err(ConnectError::TlsConfig("TLS is off for this target".into()));
        };
        tokio::time::timeout(self.timeout, connector.connect(name.clone(), io))
            .await
            .map_err(|_| self.timed_out(target))?
            .map_err(|e| ConnectError::TlsHandshake {
                target: target.to_owned(),
                reason: e.to_string(),
            })
    }

    fn timed_out(&self, target: &str) -> ConnectError {
        ConnectError::Timeout {
            target: target.to_owned(),
            secs: self.timeout.as_secs_f64(),
        }
    }
}

fn client_config(opts: &TlsOptions) -> Result<rustls::ClientConfig, ConnectError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    for v in &opts.versions {
        versions.push(match v.as_str() {
            "1.2" => &rustls::version::TLS12,
            "1.3" => &rustls::version::TLS13,
            other => {
                return Err(ConnectError::TlsConfig(format!(
                    "TLS version `{other}` is not supported (1.2, 1.3)"
                )));
            }
        });
    }
    if versions.is_empty() {
        versions = vec![&rustls::version::TLS12, &rustls::version::TLS13];
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| ConnectError::TlsConfig(e.to_string()))?;
    let builder = if opts.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        // System roots are optional: a missing store only matters without --ca.
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        if let Some(ca) = &opts.ca {
            let certs = read_certs(ca)?;
            if certs.is_empty() {
                return Err(ConnectError::TlsConfig(format!(
                    "{}: no certificate found",
                    ca.display()
                )));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| ConnectError::TlsConfig(format!("{}: {e}", ca.display())))?;
            }
        }
        builder.with_root_certificates(roots)
    };
    match (&opts.cert, &opts.key) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| ConnectError::TlsConfig(format!("{}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| ConnectError::TlsConfig(e.to_string()))
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err(ConnectError::TlsConfig(
            "a client certificate needs both --cert and --key".into(),
        )),
    }
}

fn read_certs(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, ConnectError> {
    CertificateDer::pem_file_iter(path)
        .map_err(|e| ConnectError::TlsConfig(format!("{}: {e}", path.display())))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConnectError::TlsConfig(format!("{}: {e}", path.display())))
}

/// `--insecure`: signatures are still checked, the certificate's identity and chain are not.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_urls() {
        let t = Target::parse("mqtt://127.0.0.1:1884", None).unwrap();
        assert_eq!((t.host.as_str(), t.port, t.tls), ("127.0.0.1", 1884, false));
        assert_eq!(
            Target::parse("mqtts://broker.example", None).unwrap().port,
            8883
        );
        assert_eq!(
            Target::parse("mqtts://broker.example", Some(443))
                .unwrap()
                .port,
            443
        );
        let v6 = Target::parse("mqtt://[::1]:1883", None).unwrap();
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.to_string(), "mqtt://[::1]:1883");
        assert!(Target::parse("http://x", None).is_err());
        assert!(Target::parse("mqtt://x:port", None).is_err());
    }

    #[test]
    fn websocket_target_urls() {
        let t = Target::parse("ws://127.0.0.1:8080/mqtt", None).unwrap();
        assert_eq!(
            (t.port, t.tls, t.websocket.as_deref()),
            (8080, false, Some("/mqtt"))
        );
        assert_eq!(t.to_string(), "ws://127.0.0.1:8080/mqtt");
        // Without a port: HTTP's, not the suite's MQTT port; without a path: `/`.
        let t = Target::parse("wss://broker.example", Some(8883)).unwrap();
        assert_eq!(
            (t.port, t.tls, t.websocket.as_deref()),
            (443, true, Some("/"))
        );
        assert_eq!(t.to_string(), "wss://broker.example:443/");
        let t = Target::parse("ws://[::1]/a/b", None).unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 80));
        assert_eq!(t.to_string(), "ws://[::1]:80/a/b");
    }

    /// The vendor suites declare their WebSocket ports (the catalogue's endpoint tables):
    /// a `wss://` or `ws://` target without a port gets them.
    #[test]
    fn suites_give_websocket_targets_their_ports() {
        for (suite, url, port) in [
            (
                "aliyun",
                "wss://pk.iot-as-mqtt.cn-shanghai.aliyuncs.com",
                443,
            ),
            (
                "watson",
                "wss://abc123.messaging.internetofthings.ibmcloud.com",
                443,
            ),
            (
                "watson",
                "ws://abc123.messaging.internetofthings.ibmcloud.com",
                80,
            ),
            (
                "watson-quickstart",
                "ws://quickstart.messaging.internetofthings.ibmcloud.com",
                80,
            ),
        ] {
            let suite = crate::suite::load(suite).unwrap();
            let t = Target::parse_with(url, suite.default_ports()).unwrap();
            assert_eq!((t.port, t.websocket.as_deref()), (port, Some("/")), "{url}");
        }
        let ports = DefaultPorts {
            mqtt: Some(1883),
            ws: Some(8083),
            wss: Some(8084),
        };
        assert_eq!(Target::parse_with("ws://h", ports).unwrap().port, 8083);
        assert_eq!(
            Target::parse_with("wss://h/mqtt", ports).unwrap().port,
            8084
        );
        assert_eq!(Target::parse_with("mqtts://h", ports).unwrap().port, 1883);
        assert_eq!(Target::parse_with("ws://h:9001", ports).unwrap().port, 9001);
    }

    #[tokio::test]
    async fn an_in_memory_target_hands_the_server_end_of_each_pipe_over() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (dialer, mut server_ends) = MemoryDialer::new();
        let target = Target::parse("mqtt://127.0.0.1:1", None)
            .unwrap()
            .in_memory(dialer);
        let connector =
            Connector::new(target, &TlsOptions::default(), Duration::from_secs(1)).unwrap();
        let mut client = connector
            .connect()
            .await
            .expect("a pipe, not TCP to port 1");
        assert!(client.endpoints().is_none());
        let mut server = server_ends.recv().await.expect("the server end");
        client.write_all(b"\x10").await.unwrap();
        let mut byte = [0u8; 1];
        server.read_exact(&mut byte).await.unwrap();
        assert_eq!(byte, [0x10]);
        drop(server_ends);
        match connector.connect().await {
            Err(ConnectError::Tcp { reason, .. }) => {
                assert_eq!(reason, "the in-memory server has stopped")
            }
            other => panic!("expected a named error, got {other:?}"),
        }
    }
}
