//! A raw device: a client written packet by packet, some of them wrong on purpose, that
//! talks to device mode (`--listen`) over a real socket.

#![allow(dead_code)]

use super::cloud::Cloud;
use super::peer::read_frame;
use mqtt_conform::codec::{
    ConnAck, Connect, Packet, Properties, ProtocolVersion, PubResponse, Publish, QoS, Subscribe,
    Subscription, decode_packet, encode_to_vec,
};
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// How long a raw device waits for the cloud's next packet.
const READ_LIMIT: Duration = Duration::from_secs(5);

/// One connection of a raw device.
pub struct RawDevice {
    stream: TcpStream,
    version: ProtocolVersion,
}

impl RawDevice {
    /// Opens a connection to `cloud` for a client of `version` (nothing sent yet).
    pub fn open(cloud: &Cloud, version: ProtocolVersion) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", cloud.port)).expect("device mode listens");
        Self::over(stream, version)
    }

    /// Opens a connection to `addr` (a relay, a raw server) for a client of `version`.
    pub fn connect_to(addr: std::net::SocketAddr, version: ProtocolVersion) -> Self {
        let stream = TcpStream::connect(addr).expect("the peer listens");
        Self::over(stream, version)
    }

    /// Speaks `version` over a connection already open — the server's end of an accepted
    /// one too: a raw peer reads and writes packets alike on either side.
    pub fn over(stream: TcpStream, version: ProtocolVersion) -> Self {
        stream.set_read_timeout(Some(READ_LIMIT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Self { stream, version }
    }

    /// Reads (and answers nothing) until the other side closes, `limit` at most; true
    /// when it closed.
    pub fn read_until_closed(&mut self, limit: Duration) -> bool {
        !self.hold_open(limit)
    }

    /// Opens a connection and logs in as `client_id` (Clean Session / Clean Start as
    /// `clean`, Keep Alive 60 s, with `properties` on a 5.0 CONNECT); returns the CONNACK.
    pub fn login(
        cloud: &Cloud,
        version: ProtocolVersion,
        client_id: &str,
        clean: bool,
        properties: Properties,
    ) -> (Self, ConnAck) {
        let mut device = Self::open(cloud, version);
        let mut connect = Connect::new(version, client_id);
        connect.clean_session = clean;
        connect.keep_alive = 60;
        connect.properties = properties;
        device.send(&Packet::Connect(Box::new(connect)));
        match device.recv() {
            Some(Packet::ConnAck(ack)) => (device, ack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// The protocol version it speaks.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// Sends a well-formed packet.
    pub fn send(&mut self, packet: &Packet) {
        let bytes = encode_to_vec(packet, self.version).expect("the packet encodes");
        self.send_bytes(&bytes);
    }

    /// Sends bytes as they are (a packet built wrong on purpose, or several at once).
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("the cloud reads");
    }

    /// The cloud's next packet, or `None` once it closed (or sent nothing for 5 s).
    pub fn recv(&mut self) -> Option<Packet> {
        let frame = read_frame(&mut self.stream)?;
        Some(decode_packet(&frame, self.version).expect("the cloud's packets decode"))
    }

    /// The peer's next frame as it came, undecoded (a packet malformed on purpose), or
    /// `None` once it closed (or sent nothing for 5 s).
    pub fn recv_frame(&mut self) -> Option<Vec<u8>> {
        read_frame(&mut self.stream).map(|f| f.to_vec())
    }

    /// Reads until a packet `wanted` matches and returns it; panics if the cloud closes
    /// or is silent for 5 s first.
    pub fn recv_until(&mut self, what: &str, wanted: impl Fn(&Packet) -> bool) -> Packet {
        loop {
            match self.recv() {
                Some(p) if wanted(&p) => return p,
                Some(_) => {}
                None => panic!("the cloud closed or went silent before {what}"),
            }
        }
    }

    /// Subscribes to `filter` at `qos` with packet id `pid` and waits for the SUBACK.
    pub fn subscribe(&mut self, pid: u16, filter: &str, qos: QoS) {
        self.send(&Packet::Subscribe(Subscribe {
            packet_id: pid,
            properties: Properties::new(),
            subscriptions: vec![Subscription::new(filter, qos)],
        }));
        self.recv_until("the SUBACK", |p| matches!(p, Packet::SubAck(_)));
    }

    /// Publishes `payload` on `topic` at `qos` (packet id `pid` when QoS > 0).
    pub fn publish(&mut self, topic: &str, payload: &str, qos: QoS, pid: Option<u16>, dup: bool) {
        let mut p = Publish::new(topic.to_owned(), payload.as_bytes().to_vec());
        p.qos = qos;
        p.packet_id = pid;
        p.dup = dup;
        self.send(&Packet::Publish(p));
    }

    /// Has the cloud deliver a message to this device at `qos`: subscribes to a topic of
    /// its own and publishes to it (the cloud's acknowledgement of that publish is read
    /// too); returns the delivered PUBLISH.
    pub fn delivered_to_self(&mut self, topic: &str, qos: QoS, pid: u16) -> Publish {
        self.subscribe(pid, topic, qos);
        self.publish(
            topic,
            "x",
            qos,
            (qos != QoS::AtMostOnce).then_some(pid),
            false,
        );
        match self.recv_until("the delivery", |p| matches!(p, Packet::Publish(_))) {
            Packet::Publish(p) => p,
            _ => unreachable!(),
        }
    }

    /// Sends a PUBACK (or another acknowledgement built by `make`) for packet id `pid`.
    pub fn ack(&mut self, pid: u16, make: fn(PubResponse) -> Packet) {
        self.send(&make(PubResponse::new(pid)));
    }

    /// Keeps the connection open for `d`, reading (and answering nothing) meanwhile; false
    /// when the cloud closed it first.
    pub fn hold_open(&mut self, d: Duration) -> bool {
        let until = Instant::now() + d;
        while Instant::now() < until {
            let left = until.saturating_duration_since(Instant::now());
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            let mut byte = [0u8; 1];
            match std::io::Read::read(&mut self.stream, &mut byte) {
                Ok(0) => return false,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return false,
            }
        }
        self.stream.set_read_timeout(Some(READ_LIMIT)).unwrap();
        true
    }

    /// Closes the connection (after the cloud has read what was sent: a close racing the
    /// last bytes could reset them away). What still comes is drained undecoded.
    pub fn close(mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        while self.recv_frame().is_some() {}
    }

    /// Waits until the cloud closes the connection (5 s at most); true when it did.
    pub fn closed_by_cloud(&mut self) -> bool {
        while self.recv().is_some() {}
        let mut byte = [0u8; 1];
        matches!(
            std::io::Read::read(&mut self.stream, &mut byte),
            Ok(0) | Err(_)
        )
    }
}

/// The ids of the cases that failed.
pub fn failed(verdicts: &[(String, String)]) -> Vec<String> {
    let mut ids: Vec<String> = verdicts
        .iter()
        .filter(|(_, status)| status == "failed")
        .map(|(id, _)| id.clone())
        .collect();
    ids.sort();
    ids
}
