//! Helpers shared by the `server_*` tests: starting the server,
//! a raw-bytes client speaking our codec, and a rumqttc client driven in the background.

#![allow(dead_code)]

use mqtt_conform::codec::framing::{Framer, PacketReader, ReadError};
use mqtt_conform::codec::{
    ConnAck, Connect, Packet, PropertyId, ProtocolVersion, PubResponse, Publish, QoS, SubAck,
    Subscribe, Subscription, Will, encode_to_vec,
};
use mqtt_conform::server::{Server, ServerConfig, ServerHandle};
use mqtt_conform::suite::profile::Profile;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long a test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long a test waits to be sure something does not happen.
pub const QUIET: Duration = Duration::from_millis(400);

/// Starts a server on a free loopback port.
pub async fn start(config: ServerConfig) -> ServerHandle {
    Server::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect("server binds")
}

/// Starts a server for `profile` with events off.
pub async fn start_profile(profile: Profile) -> ServerHandle {
    let mut config = ServerConfig::new(profile);
    config.emit_events = false;
    start(config).await
}

/// Waits (up to [`WAIT`]) until `cond` holds.
pub async fn eventually(mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "condition not met in time");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What a raw client saw next.
#[derive(Debug)]
pub enum Seen {
    Packet(Packet),
    Closed(String),
    Nothing,
}

/// A client speaking raw bytes through our own codec.
pub struct Raw {
    reader: PacketReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    pub version: ProtocolVersion,
}

impl Raw {
    /// Opens a TCP connection.
    pub async fn open(addr: SocketAddr, version: ProtocolVersion) -> Self {
        Self::open_framed(addr, version, Framer::default()).await
    }

    /// Opens a TCP connection whose packets `framer` frames.
    async fn open_framed(addr: SocketAddr, version: ProtocolVersion, framer: Framer) -> Self {
        let tcp = TcpStream::connect(addr).await.expect("TCP connect");
        tcp.set_nodelay(true).unwrap();
        let (r, w) = tcp.into_split();
        Self {
            reader: PacketReader::new(r, framer, version),
            writer: w,
            version,
        }
    }

    /// Opens a connection, sends `connect` and returns the CONNACK. A Maximum Packet Size
    /// in `connect` binds every packet the server sends, the CONNACK included, as it binds
    /// a real client's server: a larger one fails the test.
    pub async fn connect(addr: SocketAddr, connect: Connect) -> (Self, ConnAck) {
        let framer = connect
            .properties
            .get_int(PropertyId::MaximumPacketSize)
            .map_or_else(Framer::default, |max| Framer::new(max as usize));
        let mut raw = Self::open_framed(addr, connect.protocol, framer).await;
        raw.send(&Packet::Connect(connect.into())).await;
        match raw.recv().await {
            Packet::ConnAck(c) => (raw, c),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Connects with a default 3.1.1 / 5.0 CONNECT and expects acceptance.
    pub async fn connected(addr: SocketAddr, version: ProtocolVersion, id: &str) -> Self {
        let (raw, ack) = Self::connect(addr, Connect::new(version, id)).await;
        assert_eq!(ack.code, 0, "CONNACK {ack:?}");
        raw
    }

    pub async fn send(&mut self, packet: &Packet) {
        let bytes = encode_to_vec(packet, self.version).expect("encodes");
        self.send_raw(&bytes).await;
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("write");
    }

    /// The next packet, a close, or nothing within `within`.
    pub async fn next(&mut self, within: Duration) -> Seen {
        self.reader.tracker.version = self.version;
        match tokio::time::timeout(within, self.reader.read_frame()).await {
            Err(_) => Seen::Nothing,
            Ok(Ok(Some(frame))) => Seen::Packet(frame.packet.expect("server sends valid packets")),
            Ok(Ok(None)) => Seen::Closed("EOF".into()),
            Ok(Err(ReadError::Io(e))) => Seen::Closed(e.to_string()),
            Ok(Err(e)) => panic!("server stream unframeable: {e}"),
        }
    }

    /// The next packet; panics on close or timeout.
    pub async fn recv(&mut self) -> Packet {
        match self.next(WAIT).await {
            Seen::Packet(p) => p,
            other => panic!("expected a packet, saw {other:?}"),
        }
    }

    /// The next PUBLISH (skipping nothing: anything else is a failure).
    pub async fn recv_publish(&mut self) -> Publish {
        match self.recv().await {
            Packet::Publish(p) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    /// Asserts nothing arrives for a while.
    pub async fn assert_silent(&mut self) {
        match self.next(QUIET).await {
            Seen::Nothing => {}
            other => panic!("expected silence, saw {other:?}"),
        }
    }

    /// Waits for the server to close the connection, skipping packets; returns the
    /// packets seen before the close.
    pub async fn closed(&mut self, within: Duration) -> Vec<Packet> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Seen::Packet(p) => seen.push(p),
                Seen::Closed(_) => return seen,
                Seen::Nothing => panic!("not closed within {within:?}; saw {seen:?}"),
            }
        }
    }

    /// Subscribes and returns the SUBACK codes.
    pub async fn subscribe(&mut self, pid: u16, filters: &[(&str, QoS)]) -> Vec<u8> {
        self.send(&Packet::Subscribe(Subscribe {
            packet_id: pid,
            properties: Default::default(),
            subscriptions: filters
                .iter()
                .map(|(f, q)| Subscription::new(*f, *q))
                .collect(),
        }))
        .await;
        match self.recv().await {
            Packet::SubAck(SubAck {
                packet_id,
                return_codes,
                ..
            }) => {
                assert_eq!(packet_id, pid);
                return_codes
            }
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// Publishes; QoS 1 waits for PUBACK, QoS 2 completes the exchange.
    pub async fn publish(&mut self, topic: &str, payload: &[u8], qos: QoS, retain: bool) {
        let mut p = Publish::new(topic, payload.to_vec());
        p.qos = qos;
        p.retain = retain;
        p.packet_id = (qos != QoS::AtMostOnce).then_some(77);
        self.send(&Packet::Publish(p)).await;
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => match self.recv().await {
                Packet::PubAck(r) => assert_eq!(r.packet_id, 77),
                other => panic!("expected PUBACK, got {other:?}"),
            },
            QoS::ExactlyOnce => {
                match self.recv().await {
                    Packet::PubRec(r) => assert_eq!(r.packet_id, 77),
                    other => panic!("expected PUBREC, got {other:?}"),
                }
                self.send(&Packet::PubRel(PubResponse::new(77))).await;
                match self.recv().await {
                    Packet::PubComp(r) => assert_eq!(r.packet_id, 77),
                    other => panic!("expected PUBCOMP, got {other:?}"),
                }
            }
        }
    }

    /// Sends PINGREQ and expects PINGRESP.
    pub async fn ping(&mut self) {
        self.send(&Packet::PingReq).await;
        match self.recv().await {
            Packet::PingResp => {}
            other => panic!("expected PINGRESP, got {other:?}"),
        }
    }

    /// Sends DISCONNECT and closes.
    pub async fn disconnect(mut self) {
        self.send(&Packet::Disconnect(Default::default())).await;
        let _ = self.writer.shutdown().await;
        // Wait for the server's close so the next step sees the session released.
        self.closed(WAIT).await;
    }
}

/// A CONNECT with a Will.
pub fn connect_with_will(
    version: ProtocolVersion,
    id: &str,
    topic: &str,
    payload: &[u8],
    retain: bool,
) -> Connect {
    let mut c = Connect::new(version, id);
    c.will = Some(Will {
        topic: topic.into(),
        payload: payload.to_vec().into(),
        qos: QoS::AtLeastOnce,
        retain,
        properties: Default::default(),
    });
    c
}

/// A rumqttc 3.1.1 client with its event loop polled in the background.
pub struct Rumq {
    pub client: rumqttc::AsyncClient,
    pub events: mpsc::UnboundedReceiver<Result<rumqttc::Event, String>>,
    task: tokio::task::JoinHandle<()>,
}

impl Rumq {
    /// Connects and waits for a successful CONNACK.
    pub async fn connect(options: rumqttc::MqttOptions) -> Self {
        let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 64);
        let (tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(ev) => {
                        if tx.send(Ok(ev)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                        return;
                    }
                }
            }
        });
        let mut me = Self {
            client,
            events,
            task,
        };
        me.wait_for(|p| match p {
            rumqttc::Packet::ConnAck(c) => {
                assert_eq!(c.code, rumqttc::ConnectReturnCode::Success);
                true
            }
            _ => false,
        })
        .await;
        me
    }

    /// Options for a client `id` of the server at `addr`.
    pub fn options(addr: SocketAddr, id: &str) -> rumqttc::MqttOptions {
        let mut o = rumqttc::MqttOptions::new(id, addr.ip().to_string(), addr.port());
        o.set_keep_alive(Duration::from_secs(30));
        o
    }

    /// Waits for an incoming packet accepted by `pick`.
    pub async fn wait_for(
        &mut self,
        mut pick: impl FnMut(&rumqttc::Packet) -> bool,
    ) -> rumqttc::Packet {
        let deadline = Instant::now() + WAIT;
        loop {
            let ev = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .expect("rumqttc event in time")
                .expect("event loop running");
            match ev {
                Ok(rumqttc::Event::Incoming(p)) if pick(&p) => return p,
                Ok(_) => {}
                Err(e) => panic!("rumqttc connection error: {e}"),
            }
        }
    }

    /// The next incoming PUBLISH.
    pub async fn next_publish(&mut self) -> rumqttc::Publish {
        match self
            .wait_for(|p| matches!(p, rumqttc::Packet::Publish(_)))
            .await
        {
            rumqttc::Packet::Publish(p) => p,
            _ => unreachable!(),
        }
    }

    /// Subscribes and waits for the SUBACK.
    pub async fn subscribe(
        &mut self,
        filter: &str,
        qos: rumqttc::QoS,
    ) -> Vec<rumqttc::SubscribeReasonCode> {
        self.client.subscribe(filter, qos).await.unwrap();
        match self
            .wait_for(|p| matches!(p, rumqttc::Packet::SubAck(_)))
            .await
        {
            rumqttc::Packet::SubAck(s) => s.return_codes,
            _ => unreachable!(),
        }
    }

    /// No PUBLISH arrives for a while (other events are ignored).
    pub async fn assert_no_publish(&mut self) {
        let deadline = Instant::now() + QUIET;
        while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            if let Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) = ev {
                panic!("unexpected PUBLISH {p:?}");
            }
        }
    }

    /// Drops the connection without DISCONNECT.
    pub fn kill(self) {
        self.task.abort();
    }
}
