//! One connection: a single task that reads, writes, enforces keep-alive and pulls the
//! session's queued messages, all from one `select!` loop (no second task, no per-
//! connection channel: idle connections cost a few kilobytes).

use super::Shared;
use super::acl::{ConnVars, SubRefusal};
use super::state::{
    Bound, Carried, ConnCtl, Delivery, Expiry, Inflight, Kick, Link, Message, Misbehaviour,
    PopState, RouteCtx, Session, Stage, State, forwarded_properties,
};
use super::subs::SubEntry;
use crate::codec::decode::FixedHeader;
use crate::codec::reason::{code, v3};
use crate::codec::topic::shared_subscription;
use crate::codec::{
    ConnAck, Connect, DecodeError, Disconnect, Framer, Packet, Properties, PropertyId,
    PropertyValue, ProtocolVersion, PubResponse, Publish, QoS, RetainHandling, SubAck, Subscribe,
    UnsubAck, Unsubscribe, Violation, Will, encode,
};
use crate::event::{EventKind, Side};
use crate::suite::profile::{
    Feature, QosReaction, RangeReaction, SharedSubscriptions, TopicReaction,
};
use bytes::{Buf, Bytes, BytesMut};
use std::collections::HashMap;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// Queued outbound messages are pulled only while fewer bytes than this wait to be written.
const LOW_WATER: usize = 16 * 1024;
/// Deliveries taken from the session queue per lock.
const PULL_BATCH: usize = 64;
/// Inbound QoS 2 messages awaiting PUBREL (5.0: our Receive Maximum).
const MAX_AWAITING_REL: usize = 1024;
/// Inbound Topic Aliases accepted (5.0).
const TOPIC_ALIAS_MAX: u16 = 10;
/// Smallest read; reads grow up to `READ_STEP` for large packets.
const READ_MIN: usize = 1024;
const READ_STEP: usize = 64 * 1024;
/// Empty buffers larger than this are released (idle connections stay small).
const IDLE_KEEP: usize = 16 * 1024;
/// How long we try to deliver our last packets before closing.
const CLOSE_FLUSH: Duration = Duration::from_secs(1);
/// How long a new connection waits for the one it takes over to let go of the session.
const TAKEOVER_WAIT: Duration = Duration::from_secs(3);

/// Serves one accepted connection (TLS first when configured) until it closes.
pub(crate) async fn serve<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    shared: &Arc<Shared>,
    tcp: S,
    id: u64,
    stop: watch::Receiver<bool>,
) {
    let Some(acceptor) = &shared.tls else {
        return Conn::new(shared.clone(), id, tcp, stop).run().await;
    };
    let limit = shared.policy.limits.connect_timeout;
    let (by, detail) = match tokio::time::timeout(limit, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => return Conn::new(shared.clone(), id, tls, stop).run().await,
        Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => (
            Side::Client,
            format!("closed during the TLS handshake: {e}"),
        ),
        Ok(Err(e)) => (Side::Server, format!("TLS handshake failed: {e}")),
        Err(_) => (
            Side::Server,
            format!("TLS handshake not complete after {limit:?}"),
        ),
    };
    shared.emit(
        id,
        by,
        EventKind::Closed {
            by: Some(by),
            detail,
        },
    );
}

/// Why a connection ends.
enum Exit {
    /// The device closed or reset the connection.
    Peer(String),
    /// The device sent DISCONNECT; `will` for 5.0 reason 0x04.
    Disconnect { will: bool },
    /// We close: why, the 5.0 DISCONNECT reason to send first, and whether the Will goes.
    Close {
        detail: String,
        reason: Option<u8>,
        will: bool,
    },
    /// The server is shutting down.
    Shutdown,
    /// Another connection took the session over.
    TakenOver(Option<oneshot::Sender<()>>),
}

impl Exit {
    fn close(detail: impl Into<String>, reason: u8) -> Self {
        Exit::Close {
            detail: detail.into(),
            reason: Some(reason),
            will: true,
        }
    }

    /// A refusal before the session exists: no DISCONNECT, no Will.
    fn refused(detail: impl Into<String>) -> Self {
        Exit::Close {
            detail: detail.into(),
            reason: None,
            will: false,
        }
    }
}

/// The state of a connection whose CONNECT was accepted.
struct Sess {
    key: Arc<str>,
    /// The device its credentials name, where the platform holds one connection per
    /// device credential.
    device: Option<String>,
    ctl: Arc<ConnCtl>,
    client_id: String,
    username: Option<String>,
    keep_alive: u16,
    will: Option<Will>,
    expiry: Expiry,
    /// 5.0: the CONNECT's Session Expiry Interval was 0 (DISCONNECT may not raise it).
    expiry_was_zero: bool,
    carried: Carried,
    /// Unacknowledged outbound QoS 1/2 messages allowed.
    window: usize,
    /// The client's Maximum Packet Size (5.0).
    client_max_packet: usize,
    aliases: HashMap<u16, String>,
    /// The session queue may hold messages for us.
    maybe_pending: bool,
    /// The next queued message waits for the window.
    window_blocked: bool,
}

impl Sess {
    fn next_pid(&mut self) -> u16 {
        loop {
            self.carried.next_pid = self.carried.next_pid.wrapping_add(1);
            let pid = self.carried.next_pid;
            if pid != 0 && !self.carried.inflight.iter().any(|i| i.pid == pid) {
                return pid;
            }
        }
    }

    fn vars(&self) -> ConnVars<'_> {
        ConnVars {
            client_id: &self.client_id,
            username: self.username.as_deref(),
        }
    }
}

struct Conn<S> {
    sh: Arc<Shared>,
    id: u64,
    rd: ReadHalf<S>,
    wr: WriteHalf<S>,
    stop: watch::Receiver<bool>,
    rbuf: BytesMut,
    wbuf: BytesMut,
    need_flush: bool,
    /// Buffer capacity last added to the server-wide count.
    accounted: usize,
    version: ProtocolVersion,
    framer: Framer,
    last_packet: Instant,
    s: Option<Sess>,
}

async fn write_step<W: AsyncWrite + Unpin>(wr: &mut W, buf: &[u8]) -> io::Result<usize> {
    if buf.is_empty() {
        wr.flush().await.map(|()| 0)
    } else {
        wr.write(buf).await
    }
}

/// Resolves once the server is stopping (or its handle is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

fn io_detail(r: &io::Result<usize>) -> String {
    match r {
        Ok(_) => "EOF".to_owned(),
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => "connection reset".to_owned(),
        Err(e) => e.to_string(),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Conn<S> {
    /// Whether `m` is on: server-wide, or for this connection by a device test.
    fn misbehaves(&self, m: Misbehaviour) -> bool {
        let b = &self.sh.policy.behaviour;
        let global = match m {
            Misbehaviour::WithholdPingresp => b.withhold_pingresp,
            Misbehaviour::WithholdPuback => b.withhold_puback,
            Misbehaviour::WithholdSuback => b.withhold_suback,
            Misbehaviour::RejectSubscriptions => b.reject_subscriptions,
        };
        global || self.s.as_ref().is_some_and(|s| s.ctl.misbehaves(m))
    }

    fn new(sh: Arc<Shared>, id: u64, stream: S, stop: watch::Receiver<bool>) -> Self {
        let (rd, wr) = tokio::io::split(stream);
        let framer = Framer::new(sh.policy.max_packet_size);
        Self {
            sh,
            id,
            rd,
            wr,
            stop,
            rbuf: BytesMut::new(),
            wbuf: BytesMut::new(),
            need_flush: false,
            accounted: 0,
            version: ProtocolVersion::V3_1_1,
            framer,
            last_packet: Instant::now(),
            s: None,
        }
    }

    async fn run(mut self) {
        let exit = match self.wait_connect().await {
            Ok(connect) => match self.accept(connect).await {
                Ok(()) => self.main_loop().await,
                Err(exit) => exit,
            },
            Err(exit) => exit,
        };
        self.finish(exit).await;
    }

    fn sess(&mut self) -> &mut Sess {
        self.s.as_mut().expect("a session exists after CONNACK")
    }

    // ----- bytes in and out -------------------------------------------------------------

    /// Keeps the read buffer small when idle and big enough for the packet being read.
    fn prepare_buffers(&mut self) {
        if self.rbuf.is_empty() && self.rbuf.capacity() > IDLE_KEEP {
            self.rbuf = BytesMut::new();
        }
        if self.wbuf.is_empty() && self.wbuf.capacity() > IDLE_KEEP {
            self.wbuf = BytesMut::new();
        }
        if self.rbuf.capacity() - self.rbuf.len() < 256 {
            // Never more than the packet still needs (the framer has already refused
            // anything over the maximum), so a claimed length costs nothing up front.
            let want = match FixedHeader::parse(&self.rbuf) {
                Ok(Some(h)) => h
                    .packet_len()
                    .saturating_sub(self.rbuf.len())
                    .clamp(READ_MIN, READ_STEP),
                _ => READ_MIN,
            };
            self.rbuf.reserve(want);
        }
        self.account();
    }

    /// Keeps the server-wide buffer count up to date.
    fn account(&mut self) {
        let now = self.rbuf.capacity() + self.wbuf.capacity();
        let counter = &self.sh.counters.buffer_bytes;
        if now > self.accounted {
            counter.fetch_add(now - self.accounted, Ordering::Relaxed);
        } else {
            counter.fetch_sub(self.accounted - now, Ordering::Relaxed);
        }
        self.accounted = now;
    }

    fn after_read(&mut self, r: io::Result<usize>) -> Result<(), Exit> {
        match r {
            Ok(n) if n > 0 => {
                self.sh
                    .counters
                    .bytes_in
                    .fetch_add(n as u64, Ordering::Relaxed);
                Ok(())
            }
            other => Err(Exit::Peer(io_detail(&other))),
        }
    }

    fn after_write(&mut self, r: io::Result<usize>) -> Result<(), Exit> {
        match r {
            Ok(0) if !self.wbuf.is_empty() => Err(Exit::Peer("write returned zero".into())),
            Ok(0) => {
                self.need_flush = false;
                Ok(())
            }
            Ok(n) => {
                self.wbuf.advance(n);
                self.need_flush = true;
                self.sh
                    .counters
                    .bytes_out
                    .fetch_add(n as u64, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => Err(Exit::Peer(io_detail(&Err(e)))),
        }
    }

    /// The next complete packet in the read buffer.
    fn next_frame(&mut self) -> Result<Option<Bytes>, Exit> {
        match self.framer.next_frame(&mut self.rbuf, self.version) {
            Ok(frame) => Ok(frame),
            Err(e) => {
                let reason = if matches!(e.violation, Violation::PacketTooLarge { .. }) {
                    code::PACKET_TOO_LARGE
                } else {
                    code::MALFORMED_PACKET
                };
                let detail = format!("cannot frame the byte stream: {e}");
                self.sh
                    .emit(self.id, Side::Client, EventKind::Unframeable(e));
                Err(Exit::close(detail, reason))
            }
        }
    }

    /// Decodes a frame and reports it.
    fn decode(&mut self, bytes: Bytes) -> Result<Packet, DecodeError> {
        self.last_packet = Instant::now();
        let packet = crate::codec::decode_packet(&bytes, self.version);
        self.sh.counters.packets_in.fetch_add(1, Ordering::Relaxed);
        if self.sh.events_on() {
            let kind = EventKind::Packet {
                bytes,
                packet: packet.clone(),
            };
            self.sh.emit(self.id, Side::Client, kind);
        }
        packet
    }

    /// Encodes and queues a packet for writing, and reports it.
    fn send(&mut self, packet: Packet) {
        let mut out = Vec::new();
        if encode(&packet, self.version, &mut out).is_ok() {
            self.push(out, packet);
        }
    }

    fn push(&mut self, out: Vec<u8>, packet: Packet) {
        self.sh.counters.packets_out.fetch_add(1, Ordering::Relaxed);
        self.wbuf.extend_from_slice(&out);
        if self.sh.events_on() {
            let kind = EventKind::Packet {
                bytes: Bytes::from(out),
                packet: Ok(packet),
            };
            self.sh.emit(self.id, Side::Server, kind);
        }
    }

    // ----- CONNECT ----------------------------------------------------------------------

    async fn wait_connect(&mut self) -> Result<Connect, Exit> {
        let limit = self.sh.policy.limits.connect_timeout;
        let deadline = Instant::now() + limit;
        loop {
            if let Some(bytes) = self.next_frame()? {
                return match self.decode(bytes) {
                    Ok(Packet::Connect(c)) => Ok(*c),
                    Ok(p) => Err(Exit::refused(format!(
                        "first packet is {}, not CONNECT [MQTT-3.1.0-1]",
                        p.packet_type()
                    ))),
                    // MQTT-3.1.2-2: an unsupported level is answered with 0x01 first.
                    Err(e) if matches!(e.violation, Violation::UnsupportedProtocolLevel(_)) => {
                        self.send(Packet::ConnAck(ConnAck {
                            session_present: false,
                            code: v3::UNACCEPTABLE_PROTOCOL_VERSION,
                            properties: Properties::new(),
                        }));
                        Err(Exit::refused(format!(
                            "CONNACK 0x01: unsupported protocol level ({e})"
                        )))
                    }
                    Err(e) => Err(Exit::refused(format!("malformed CONNECT: {e}"))),
                };
            }
            self.prepare_buffers();
            tokio::select! {
                biased;
                _ = stopped(&mut self.stop) => return Err(Exit::Shutdown),
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(Exit::refused(format!("no CONNECT within {limit:?}")));
                }
                r = self.rd.read_buf(&mut self.rbuf) => self.after_read(r)?,
            }
        }
    }

    /// Answers a CONNECT with a refusal and ends the connection.
    fn refuse(&mut self, code: u8, detail: impl Into<String>, why: Option<String>) -> Exit {
        let mut properties = Properties::new();
        if let (true, Some(why)) = (self.version.is_v5(), why) {
            properties =
                properties.with(PropertyId::ReasonString, PropertyValue::String(why.into()));
        }
        self.send(Packet::ConnAck(ConnAck {
            session_present: false,
            code,
            properties,
        }));
        Exit::refused(format!("CONNACK {code:#04x}: {}", detail.into()))
    }

    async fn accept(&mut self, c: Connect) -> Result<(), Exit> {
        let sh = self.sh.clone();
        let policy = &sh.policy;
        let profile = &policy.profile;
        self.version = c.protocol;
        let v5 = c.protocol.is_v5();
        let pick = |v3: u8, v5c: u8| if v5 { v5c } else { v3 };

        if !policy.protocols.is_empty() && !policy.protocols.contains(&c.protocol) {
            // Answered the way a server without that version would (MQTT-3.1.2-2): a
            // 3.1.1 CONNACK 0x01, the one form every client version can read (0x84 would
            // need a 5.0 CONNACK, which only a 5.0 client could parse, and 5.0 is then
            // the version being refused).
            self.version = ProtocolVersion::V3_1_1;
            let detail = format!("protocol {} is not accepted by the profile", c.protocol);
            return Err(self.refuse(v3::UNACCEPTABLE_PROTOCOL_VERSION, detail, None));
        }
        if v5 && c.properties.get(PropertyId::AuthenticationMethod).is_some() {
            return Err(self.refuse(
                code::BAD_AUTHENTICATION_METHOD,
                "enhanced authentication is not offered",
                None,
            ));
        }
        let mut assigned = None;
        let client_id = if c.client_id.is_empty() {
            if c.protocol == ProtocolVersion::V3_1 || (!v5 && !c.clean_session) {
                let detail = "empty client id with Clean Session 0 [MQTT-3.1.3-8]";
                return Err(self.refuse(v3::IDENTIFIER_REJECTED, detail, None));
            }
            let id = format!("mqtt-conform-{}", self.id);
            assigned = Some(id.clone());
            id
        } else {
            c.client_id.clone()
        };
        if let Some(auth) = &sh.auth {
            if let Err(r) = auth.check(&c) {
                let detail = format!("refused by the authenticator: {}", r.describe());
                return Err(self.refuse(pick(r.code_v3, r.code_v5), detail, Some(r.describe())));
            }
        }
        let device = sh
            .auth
            .as_ref()
            .filter(|_| profile.one_connection_per_identity)
            .and_then(|auth| auth.device_of(&c));
        if let Some(w) = &c.will {
            if profile.will == Feature::Refused {
                let detail = "the profile refuses Will messages";
                return Err(self.refuse(
                    pick(v3::NOT_AUTHORIZED, code::NOT_AUTHORIZED),
                    detail,
                    None,
                ));
            }
            if w.retain && profile.retain == Feature::Refused {
                let detail = "Will Retain, and the profile refuses retained messages";
                return Err(self.refuse(
                    pick(v3::NOT_AUTHORIZED, code::RETAIN_NOT_SUPPORTED),
                    detail,
                    None,
                ));
            }
            if v5 && w.qos > policy.max_qos {
                let detail = format!("Will QoS {} above the maximum", w.qos.as_u8());
                return Err(self.refuse(code::QOS_NOT_SUPPORTED, detail, None));
            }
        }
        let ka = &profile.keepalive;
        let bounded = ka.min.is_some() || ka.max.is_some();
        let in_range = !bounded
            || (c.keep_alive != 0
                && ka.min.is_none_or(|m| c.keep_alive >= m)
                && ka.max.is_none_or(|m| c.keep_alive <= m));
        if !in_range && ka.out_of_range == RangeReaction::Refuse {
            // No return code means "keep alive refused" and MQTT-3.2.2-6 forbids
            // inventing one: close without CONNACK.
            return Err(Exit::refused(format!(
                "Keep Alive {} outside {}–{}: closed without CONNACK",
                c.keep_alive,
                ka.min.unwrap_or(0),
                ka.max.unwrap_or(u16::MAX)
            )));
        }

        // Session: Clean Session / Clean Start and (5.0) Session Expiry Interval.
        let required_clean = profile.clean_session_required;
        let clean = c.clean_session || required_clean;
        let requested_expiry = c.properties.get_int(PropertyId::SessionExpiryInterval);
        let expiry = if required_clean {
            Expiry::AtClose
        } else if v5 {
            expiry_of(requested_expiry.unwrap_or(0))
        } else if clean {
            Expiry::AtClose
        } else {
            Expiry::Never
        };
        let ctl = Arc::new(ConnCtl::default());
        let (key, present, carried) = self.take_session(&client_id, clean, expiry, &ctl).await;
        self.sh
            .links
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(self.id, ctl.clone());
        // One connection per device credential: the device's older connection under
        // another client id is taken over too.
        if let Some(device) = &device {
            let older = self
                .sh
                .devices
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(device.clone(), self.id);
            let older_link = older.filter(|o| *o != self.id).and_then(|o| {
                let links = self.sh.links.lock().unwrap_or_else(|e| e.into_inner());
                links.get(&o).cloned()
            });
            if let Some(link) = older_link {
                link.kick(Kick::TakenOver(None));
            }
        }
        self.auto_subscribe(
            &key,
            ConnVars {
                client_id: &client_id,
                username: c.username.as_deref(),
            },
        );

        let mut properties = Properties::new();
        if v5 {
            let mut add = |id, value| properties.0.push(crate::codec::Property::new(id, value));
            if let Some(id) = &assigned {
                add(
                    PropertyId::AssignedClientIdentifier,
                    PropertyValue::String(id.clone().into()),
                );
            }
            if policy.max_qos < QoS::ExactlyOnce {
                add(
                    PropertyId::MaximumQos,
                    PropertyValue::Byte(policy.max_qos.as_u8()),
                );
            }
            if profile.retain == Feature::Refused {
                add(PropertyId::RetainAvailable, PropertyValue::Byte(0));
            }
            if profile.topics.no_wildcards {
                add(
                    PropertyId::WildcardSubscriptionAvailable,
                    PropertyValue::Byte(0),
                );
            }
            if profile.shared_subscriptions == SharedSubscriptions::Refused {
                add(
                    PropertyId::SharedSubscriptionAvailable,
                    PropertyValue::Byte(0),
                );
            }
            // Absent means 0: no Topic Aliases (MQTT-3.2.2-17).
            let alias_max = profile.topic_alias_maximum.unwrap_or(TOPIC_ALIAS_MAX);
            if alias_max > 0 {
                add(
                    PropertyId::TopicAliasMaximum,
                    PropertyValue::TwoByteInteger(alias_max),
                );
            }
            add(
                PropertyId::ReceiveMaximum,
                PropertyValue::TwoByteInteger(MAX_AWAITING_REL as u16),
            );
            if let Ok(max) = u32::try_from(policy.max_packet_size) {
                add(
                    PropertyId::MaximumPacketSize,
                    PropertyValue::FourByteInteger(max),
                );
            }
        }
        self.send(Packet::ConnAck(ConnAck {
            session_present: present,
            code: code::SUCCESS,
            properties,
        }));

        let receive_max = c
            .properties
            .get_int(PropertyId::ReceiveMaximum)
            .map_or(usize::MAX, |v| v as usize);
        let will = match (profile.will, c.will) {
            (Feature::Supported, Some(mut w)) => {
                // 3.x has no refusal for it: publish at the maximum QoS instead.
                w.qos = w.qos.min(policy.max_qos);
                Some(w)
            }
            _ => None,
        };
        self.s = Some(Sess {
            key,
            device,
            ctl,
            client_id,
            username: c.username,
            keep_alive: c.keep_alive,
            will,
            expiry,
            expiry_was_zero: requested_expiry.unwrap_or(0) == 0,
            carried,
            window: usize::from(policy.limits.inflight_window.max(1)).min(receive_max),
            client_max_packet: c
                .properties
                .get_int(PropertyId::MaximumPacketSize)
                .map_or(usize::MAX, |v| v as usize),
            aliases: HashMap::new(),
            maybe_pending: true,
            window_blocked: false,
        });
        if present {
            self.resend_inflight();
        }
        Ok(())
    }

    /// Subscribes a device the profile's `auto_subscribe` covers to its filters, as the
    /// platform does (no SUBSCRIBE from the device, no SUBACK from us). Done before the
    /// CONNACK goes out, so that whatever reacts to the CONNACK reaches the device.
    fn auto_subscribe(&self, key: &Arc<str>, vars: ConnVars<'_>) {
        let policy = &self.sh.policy;
        let Some(auto) = &policy.profile.auto_subscribe else {
            return;
        };
        if !auto.applies_to(vars.client_id) {
            return;
        }
        let entry = SubEntry {
            qos: policy.max_granted_qos,
            no_local: false,
            retain_as_published: false,
            id: None,
        };
        let mut st = self.sh.lock();
        for pattern in &policy.auto_subscribe {
            let Some(filter) = pattern.resolve(vars) else {
                continue;
            };
            if let Some(session) = st.sessions.get_mut(key) {
                session.subs.insert(filter.to_string(), entry);
            }
            st.subs.insert(&filter, key, entry);
        }
    }

    /// Finds, takes over or creates the session for `client_id`. Returns its key, Session
    /// Present, and the protocol state it carried.
    async fn take_session(
        &mut self,
        client_id: &str,
        clean: bool,
        expiry: Expiry,
        ctl: &Arc<ConnCtl>,
    ) -> (Arc<str>, bool, Carried) {
        let one_per_identity = self.sh.policy.profile.one_connection_per_identity;
        let mut key: Arc<str> = Arc::from(client_id);
        let (mut clean, mut expiry) = (clean, expiry);
        let mut attempts = 0;
        loop {
            let rx = {
                let mut st = self.sh.lock();
                let live = st
                    .sessions
                    .get(&key)
                    .and_then(|s| s.link.as_ref())
                    .map(|l| l.ctl.clone());
                let rx = match live {
                    Some(_) if !one_per_identity => {
                        // Both stay connected: the newcomer gets a private, clean session.
                        key = Arc::from(format!("{client_id}\u{0}{}", self.id));
                        (clean, expiry) = (true, Expiry::AtClose);
                        None
                    }
                    Some(old) if attempts < 3 => {
                        let (tx, rx) = oneshot::channel();
                        old.kick(Kick::TakenOver(Some(tx)));
                        Some(rx)
                    }
                    // Free, or the old connection did not let go in time: take it anyway.
                    _ => None,
                };
                match rx {
                    Some(rx) => rx,
                    None => {
                        let (present, carried) =
                            establish(&mut st, &key, self.id, ctl, clean, expiry);
                        return (key, present, carried);
                    }
                }
            };
            attempts += 1;
            let _ = tokio::time::timeout(TAKEOVER_WAIT, rx).await;
        }
    }

    // ----- the connected loop -----------------------------------------------------------

    async fn main_loop(&mut self) -> Exit {
        let sh = self.sh.clone();
        let ctl = self.sess().ctl.clone();
        let keep_alive = self.sess().keep_alive;
        // MQTT-3.1.2-24: close after server_timeout × Keep Alive without a packet.
        let timeout = (keep_alive > 0)
            .then(|| Duration::from_secs_f64(f64::from(keep_alive) * sh.policy.keepalive_factor));
        let far = Instant::now() + Duration::from_secs(100 * 365 * 86_400);
        let ka = tokio::time::sleep_until(timeout.map_or(far, |t| self.last_packet + t));
        tokio::pin!(ka);
        let cut_after = sh.policy.behaviour.close_after;
        let cut = tokio::time::sleep_until(cut_after.map_or(far, |d| Instant::now() + d));
        tokio::pin!(cut);
        let high_water = sh.policy.limits.write_high_water.max(1);

        // Packets that arrived together with the CONNECT.
        match self.process_frames() {
            Err(exit) => return exit,
            Ok(true) => {
                if let Some(t) = timeout {
                    ka.as_mut().reset(self.last_packet + t);
                }
            }
            Ok(false) => {}
        }
        loop {
            self.pull();
            self.prepare_buffers();
            // Back-pressure: a client that does not read its answers is not read either.
            let can_read = self.wbuf.len() < high_water;
            let can_write = !self.wbuf.is_empty() || self.need_flush;
            // Not `biased`: a subscriber fed without pause must not starve its own reads
            // (nor a flooding client its writes); tokio picks the first branch at random.
            tokio::select! {
                _ = ctl.kick.notified() => {
                    if let Some(exit) = kicked(&ctl) {
                        return exit;
                    }
                }
                _ = stopped(&mut self.stop) => return Exit::Shutdown,
                _ = &mut ka, if timeout.is_some() => {
                    let t = timeout.unwrap_or_default();
                    return Exit::close(
                        format!(
                            "keep-alive timeout: no packet for {:.3} s ({} × Keep Alive {} s)",
                            t.as_secs_f64(),
                            sh.policy.keepalive_factor,
                            keep_alive
                        ),
                        code::KEEP_ALIVE_TIMEOUT,
                    );
                }
                _ = &mut cut, if cut_after.is_some() => {
                    return Exit::Close {
                        detail: format!(
                            "closed {:?} after CONNACK (behaviour close_after)",
                            cut_after.unwrap_or_default()
                        ),
                        reason: None,
                        will: true,
                    };
                }
                r = write_step(&mut self.wr, &self.wbuf), if can_write => {
                    if let Err(exit) = self.after_write(r) {
                        return exit;
                    }
                }
                r = self.rd.read_buf(&mut self.rbuf), if can_read => {
                    if let Err(exit) = self.after_read(r) {
                        return exit;
                    }
                    match self.process_frames() {
                        Err(exit) => return exit,
                        Ok(true) => {
                            if let Some(t) = timeout {
                                ka.as_mut().reset(self.last_packet + t);
                            }
                        }
                        Ok(false) => {}
                    }
                }
                _ = ctl.wake.notified() => self.sess().maybe_pending = true,
            }
        }
    }

    /// Handles every complete packet in the read buffer; true when there was one.
    fn process_frames(&mut self) -> Result<bool, Exit> {
        let mut any = false;
        while let Some(bytes) = self.next_frame()? {
            any = true;
            match self.decode(bytes) {
                Ok(packet) => self.on_packet(packet)?,
                Err(e) => {
                    return Err(Exit::close(
                        format!("malformed packet: {e}"),
                        code::MALFORMED_PACKET,
                    ));
                }
            }
        }
        Ok(any)
    }

    fn on_packet(&mut self, packet: Packet) -> Result<(), Exit> {
        let v5 = self.version.is_v5();
        match packet {
            Packet::Publish(p) => self.on_publish(p),
            Packet::PubAck(r) => {
                self.acknowledged(r.packet_id, Stage::Qos1Sent);
                Ok(())
            }
            Packet::PubRec(r) => {
                let pid = r.packet_id;
                let s = self.sess();
                let found = s
                    .carried
                    .inflight
                    .iter()
                    .position(|i| i.pid == pid && i.stage != Stage::Qos1Sent);
                let code = match found {
                    // 5.0: a PUBREC with an error code ends the flow.
                    Some(i) if v5 && r.reason_code >= code::UNSPECIFIED_ERROR => {
                        s.carried.inflight.remove(i);
                        s.window_blocked = false;
                        return Ok(());
                    }
                    Some(i) => {
                        s.carried.inflight[i].stage = Stage::Released;
                        code::SUCCESS
                    }
                    None if v5 => code::PACKET_IDENTIFIER_NOT_FOUND,
                    None => code::SUCCESS,
                };
                self.send(Packet::PubRel(PubResponse {
                    packet_id: pid,
                    reason_code: code,
                    properties: Properties::new(),
                }));
                Ok(())
            }
            Packet::PubComp(r) => {
                self.acknowledged(r.packet_id, Stage::Released);
                Ok(())
            }
            Packet::PubRel(r) => {
                let known = self.sess().carried.awaiting_rel.remove(&r.packet_id);
                self.send(Packet::PubComp(PubResponse {
                    packet_id: r.packet_id,
                    reason_code: if known || !v5 {
                        code::SUCCESS
                    } else {
                        code::PACKET_IDENTIFIER_NOT_FOUND
                    },
                    properties: Properties::new(),
                }));
                Ok(())
            }
            Packet::Subscribe(s) => {
                self.on_subscribe(s);
                Ok(())
            }
            Packet::Unsubscribe(u) => {
                self.on_unsubscribe(u);
                Ok(())
            }
            Packet::PingReq => {
                if !self.misbehaves(Misbehaviour::WithholdPingresp) {
                    self.send(Packet::PingResp);
                }
                Ok(())
            }
            Packet::Disconnect(d) => {
                if let Some(secs) = d.properties.get_int(PropertyId::SessionExpiryInterval) {
                    let required_clean = self.sh.policy.profile.clean_session_required;
                    let s = self.sess();
                    if s.expiry_was_zero && secs != 0 {
                        return Err(Exit::close(
                            "DISCONNECT raises a Session Expiry Interval of 0 [MQTT-3.14.2-2]",
                            code::PROTOCOL_ERROR,
                        ));
                    }
                    if !required_clean {
                        s.expiry = expiry_of(secs);
                    }
                }
                Err(Exit::Disconnect {
                    will: v5 && d.reason_code == code::DISCONNECT_WITH_WILL,
                })
            }
            Packet::Connect(_) => Err(Exit::close(
                "second CONNECT [MQTT-3.1.0-2]".to_owned(),
                code::PROTOCOL_ERROR,
            )),
            Packet::Auth(_) => Err(Exit::close(
                "AUTH without an authentication method".to_owned(),
                code::PROTOCOL_ERROR,
            )),
            other => Err(Exit::close(
                format!(
                    "{} is a server-to-client packet [MQTT-4.8.0-1]",
                    other.packet_type()
                ),
                code::PROTOCOL_ERROR,
            )),
        }
    }

    /// A PUBACK (`stage` Qos1Sent) or PUBCOMP (`stage` Released) for an outbound message.
    fn acknowledged(&mut self, pid: u16, stage: Stage) {
        let s = self.sess();
        if let Some(i) = s
            .carried
            .inflight
            .iter()
            .position(|i| i.pid == pid && i.stage == stage)
        {
            s.carried.inflight.remove(i);
            s.window_blocked = false;
        }
    }

    /// The first acknowledgement of an inbound PUBLISH at `qos`.
    fn ack(&mut self, qos: QoS, pid: Option<u16>, code: u8) {
        let (Some(packet_id), false) = (pid, self.misbehaves(Misbehaviour::WithholdPuback)) else {
            return;
        };
        let r = PubResponse {
            packet_id,
            reason_code: if self.version.is_v5() { code } else { 0 },
            properties: Properties::new(),
        };
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => self.send(Packet::PubAck(r)),
            QoS::ExactlyOnce => self.send(Packet::PubRec(r)),
        }
    }

    fn on_publish(&mut self, mut p: Publish) -> Result<(), Exit> {
        let sh = self.sh.clone();
        let policy = &sh.policy;
        let profile = &policy.profile;
        let v5 = self.version.is_v5();
        if v5 {
            // Only the server adds Subscription Identifiers (MQTT-3.3.4-6).
            if p.properties
                .get_int(PropertyId::SubscriptionIdentifier)
                .is_some()
            {
                return Err(Exit::close(
                    "a client PUBLISH carries a Subscription Identifier [MQTT-3.3.4-6]",
                    code::PROTOCOL_ERROR,
                ));
            }
            let response_topic = p.properties.get_str(PropertyId::ResponseTopic);
            if response_topic.is_some_and(|t| t.contains(['+', '#'])) {
                return Err(Exit::close(
                    "the Response Topic contains a wildcard [MQTT-3.3.2-14]",
                    code::PROTOCOL_ERROR,
                ));
            }
            if let Some(alias) = p.properties.get_int(PropertyId::TopicAlias) {
                let s = self.sess();
                let alias = u16::try_from(alias).unwrap_or(0);
                let max = profile.topic_alias_maximum.unwrap_or(TOPIC_ALIAS_MAX);
                if alias == 0 || alias > max {
                    return Err(Exit::close(
                        format!("Topic Alias {alias} above the maximum {max} [MQTT-3.3.2-9]"),
                        code::TOPIC_ALIAS_INVALID,
                    ));
                }
                if p.topic.is_empty() {
                    match s.aliases.get(&alias) {
                        Some(topic) => p.topic = topic.as_str().into(),
                        None => {
                            return Err(Exit::close(
                                format!("Topic Alias {alias} was never set"),
                                code::PROTOCOL_ERROR,
                            ));
                        }
                    }
                } else {
                    s.aliases.insert(alias, p.topic.to_string());
                }
            }
        }
        let pid = p.packet_id;
        let mut qos = p.qos;
        if qos > policy.max_qos {
            match profile.on_qos_above_max {
                QosReaction::Close => {
                    return Err(Exit::close(
                        format!(
                            "PUBLISH QoS {} above the profile's max_qos {}",
                            qos.as_u8(),
                            policy.max_qos.as_u8()
                        ),
                        code::QOS_NOT_SUPPORTED,
                    ));
                }
                QosReaction::Downgrade => qos = policy.max_qos,
                QosReaction::Ignore => return Ok(()),
            }
        }
        let mut retain = p.retain;
        if retain {
            match profile.retain {
                Feature::Supported => {}
                Feature::Ignored => retain = false,
                Feature::Refused => {
                    return Err(Exit::close(
                        "retained PUBLISH, and the profile refuses retained messages",
                        code::RETAIN_NOT_SUPPORTED,
                    ));
                }
            }
        }
        if !policy.acl.may_publish(&p.topic, self.sess().vars()) {
            match profile.topics.on_illegal_publish {
                TopicReaction::Drop => {
                    self.ack(qos, pid, code::NOT_AUTHORIZED);
                    return Ok(());
                }
                TopicReaction::Close => {
                    return Err(Exit::close(
                        format!("PUBLISH to {:?}, outside the profile's topics", p.topic),
                        code::NOT_AUTHORIZED,
                    ));
                }
            }
        }
        if let Some(max) = profile.max_payload.filter(|&m| p.payload.len() > m) {
            match profile.on_payload_too_large {
                TopicReaction::Drop => {
                    self.ack(qos, pid, code::QUOTA_EXCEEDED);
                    return Ok(());
                }
                TopicReaction::Close => {
                    return Err(Exit::close(
                        format!(
                            "PUBLISH payload of {} bytes above the profile's max_payload {max}",
                            p.payload.len()
                        ),
                        code::PACKET_TOO_LARGE,
                    ));
                }
            }
        }
        if let Some(why) = v5
            .then(|| profile.properties.violation(&p.properties))
            .flatten()
        {
            match profile.properties.on_violation {
                TopicReaction::Drop => {
                    self.ack(qos, pid, code::IMPLEMENTATION_SPECIFIC_ERROR);
                    return Ok(());
                }
                TopicReaction::Close => {
                    return Err(Exit::close(
                        format!("PUBLISH over the profile's property limits: {why}"),
                        code::IMPLEMENTATION_SPECIFIC_ERROR,
                    ));
                }
            }
        }
        if qos == QoS::ExactlyOnce {
            // Delivered on receipt ("method B", §4.3.3): remember only the identifier, and
            // do not route a re-sent PUBLISH again before its PUBREL.
            let id = pid.unwrap_or(0);
            let s = self.sess();
            if s.carried.awaiting_rel.contains(&id) {
                self.ack(qos, pid, code::SUCCESS);
                return Ok(());
            }
            if s.carried.awaiting_rel.len() >= MAX_AWAITING_REL {
                return Err(Exit::close(
                    format!("more than {MAX_AWAITING_REL} QoS 2 messages await PUBREL"),
                    code::RECEIVE_MAXIMUM_EXCEEDED,
                ));
            }
            s.carried.awaiting_rel.insert(id);
        }
        let answer = policy
            .replies
            .answer(&p.topic, &p.payload, self.sess().vars());
        let (properties, expires_at) = forwarded_properties(&p.properties);
        let msg = Arc::new(Message {
            topic: p.topic.into(),
            payload: Bytes::copy_from_slice(&p.payload),
            properties,
            expires_at,
            retain,
        });
        {
            let key = self.sess().key.clone();
            let mut st = sh.lock();
            let ctx = RouteCtx {
                policy,
                dropped: &sh.counters.messages_dropped,
            };
            if retain && !st.retain(&msg, qos, &policy.limits) {
                sh.counters.messages_dropped.fetch_add(1, Ordering::Relaxed);
            }
            st.route(msg, qos, Some(&key), &ctx);
        }
        self.ack(qos, pid, code::SUCCESS);
        if let Some(reply) = answer {
            // The platform's answer, routed as a cloud message after the acknowledgement.
            let msg = Arc::new(Message {
                topic: reply.topic,
                payload: Bytes::from(reply.payload),
                properties: Properties::new(),
                expires_at: None,
                retain: false,
            });
            let ctx = RouteCtx {
                policy,
                dropped: &sh.counters.messages_dropped,
            };
            sh.lock().route(msg, reply.qos, None, &ctx);
        }
        Ok(())
    }

    fn on_subscribe(&mut self, sub: Subscribe) {
        let sh = self.sh.clone();
        let policy = &sh.policy;
        let v5 = self.version.is_v5();
        let sub_id = if v5 {
            sub.properties.get_int(PropertyId::SubscriptionIdentifier)
        } else {
            None
        };
        let retain_supported = policy.profile.retain == Feature::Supported;
        let reject_all = self.misbehaves(Misbehaviour::RejectSubscriptions);
        let mut codes = Vec::with_capacity(sub.subscriptions.len());
        {
            let s = self.s.as_mut().expect("a session exists after CONNACK");
            let key = s.key.clone();
            let mut st = sh.lock();
            for request in &sub.subscriptions {
                let filter = &request.filter;
                let verdict = if reject_all {
                    Err(if v5 {
                        code::UNSPECIFIED_ERROR
                    } else {
                        v3::SUBACK_FAILURE
                    })
                } else if let (true, Some(shared)) = (v5, shared_subscription(filter)) {
                    // The decoder has refused malformed shared filters and No Local on them.
                    match (policy.profile.shared_subscriptions, shared) {
                        (SharedSubscriptions::Refused, _) | (_, Err(())) => {
                            Err(code::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED)
                        }
                        (SharedSubscriptions::WordNames, Ok((name, _)))
                            if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
                        {
                            Err(code::TOPIC_FILTER_INVALID)
                        }
                        (_, Ok((_, inner))) => match policy.acl.may_subscribe(inner, s.vars()) {
                            Ok(()) => Ok(request.options.qos.min(policy.max_granted_qos)),
                            Err(SubRefusal::Wildcard) => {
                                Err(code::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED)
                            }
                            Err(SubRefusal::NotAllowed) => Err(code::NOT_AUTHORIZED),
                        },
                    }
                } else {
                    match policy.acl.may_subscribe(filter, s.vars()) {
                        Ok(()) => Ok(request.options.qos.min(policy.max_granted_qos)),
                        Err(SubRefusal::Wildcard) => Err(if v5 {
                            code::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED
                        } else {
                            v3::SUBACK_FAILURE
                        }),
                        Err(SubRefusal::NotAllowed) => Err(if v5 {
                            code::NOT_AUTHORIZED
                        } else {
                            v3::SUBACK_FAILURE
                        }),
                    }
                };
                // Quota: per session and in all (5.0 0x97 Quota exceeded).
                let limits = &policy.limits;
                let count = st.sessions.get(&key).map_or(0, |x| x.subs.len());
                let known = st
                    .sessions
                    .get(&key)
                    .is_some_and(|x| x.subs.contains_key(filter));
                let verdict = verdict.and_then(|granted| {
                    let full = count >= limits.max_subscriptions_per_session
                        || st.subs.len() >= limits.max_subscriptions;
                    if full && !known {
                        Err(if v5 {
                            code::QUOTA_EXCEEDED
                        } else {
                            v3::SUBACK_FAILURE
                        })
                    } else {
                        Ok(granted)
                    }
                });
                let granted = match verdict {
                    Ok(granted) => granted,
                    Err(code) => {
                        codes.push(code);
                        continue;
                    }
                };
                codes.push(granted.as_u8());
                let entry = SubEntry {
                    qos: granted,
                    no_local: v5 && request.options.no_local,
                    retain_as_published: v5 && request.options.retain_as_published,
                    id: sub_id,
                };
                let existed = st
                    .sessions
                    .get_mut(&key)
                    .map(|session| session.subs.insert(filter.clone(), entry).is_some())
                    .unwrap_or(false);
                st.subs.insert(filter, &key, entry);
                // Retained messages are not sent for a shared subscription (MQTT 5.0
                // §4.8.2).
                let send_retained = retain_supported
                    && shared_subscription(filter).is_none()
                    && match request.options.retain_handling {
                        RetainHandling::SendAtSubscribe => true,
                        RetainHandling::SendIfNew => !existed,
                        RetainHandling::DoNotSend => false,
                    };
                if send_retained {
                    // Queued behind the SUBACK, which is written first (MQTT-3.3.1-8:
                    // RETAIN 1 for messages sent because of a new subscription).
                    let ctx = RouteCtx {
                        policy,
                        dropped: &sh.counters.messages_dropped,
                    };
                    for (msg, stored_qos) in st.retained_matching(filter) {
                        let d = Delivery {
                            qos: policy.downlink_qos.unwrap_or(stored_qos.min(granted)),
                            retain: true,
                            sub_ids: sub_id.into_iter().collect(),
                            msg,
                        };
                        st.enqueue(&key, d, &ctx, Bound::Retained);
                    }
                }
            }
            s.maybe_pending = true;
        }
        if !self.misbehaves(Misbehaviour::WithholdSuback) {
            self.send(Packet::SubAck(SubAck {
                packet_id: sub.packet_id,
                properties: Properties::new(),
                return_codes: codes,
            }));
        }
    }

    fn on_unsubscribe(&mut self, u: Unsubscribe) {
        let sh = self.sh.clone();
        let key = self.sess().key.clone();
        let mut codes = Vec::new();
        {
            let mut st = sh.lock();
            for filter in &u.filters {
                let existed = st
                    .sessions
                    .get_mut(&key)
                    .is_some_and(|session| session.subs.remove(filter).is_some());
                st.subs.remove(filter, &key);
                codes.push(if existed {
                    code::SUCCESS
                } else {
                    code::NO_SUBSCRIPTION_EXISTED
                });
            }
        }
        // MQTT-3.10.4-5: UNSUBACK even when nothing matched.
        self.send(Packet::UnsubAck(UnsubAck {
            packet_id: u.packet_id,
            properties: Properties::new(),
            reason_codes: if self.version.is_v5() {
                codes
            } else {
                Vec::new()
            },
        }));
    }

    // ----- outbound messages ------------------------------------------------------------

    /// Moves queued messages into the write buffer while the window and buffer allow.
    fn pull(&mut self) {
        let batch = {
            let Some(s) = self.s.as_mut() else { return };
            if !s.maybe_pending || s.window_blocked || self.wbuf.len() >= LOW_WATER {
                return;
            }
            let room = s.window.saturating_sub(s.carried.inflight.len());
            let (batch, state) = self.sh.lock().pop_for(&s.key, self.id, room, PULL_BATCH);
            match state {
                PopState::Empty => s.maybe_pending = false,
                PopState::WindowFull => s.window_blocked = true,
                PopState::More => {}
            }
            batch
        };
        for d in batch {
            self.deliver(d);
        }
    }

    /// The PUBLISH for one delivery.
    fn publish_packet(&self, d: &Delivery, packet_id: Option<u16>, dup: bool) -> Publish {
        let mut properties = Properties::new();
        if self.version.is_v5() {
            properties = d.msg.properties.clone();
            if let Some(at) = d.msg.expires_at {
                // MQTT-3.3.2-6: the remaining lifetime.
                let left = at.saturating_duration_since(std::time::Instant::now());
                let secs = u32::try_from(left.as_secs() + u64::from(left.subsec_nanos() > 0))
                    .unwrap_or(u32::MAX);
                properties.0.push(crate::codec::Property::new(
                    PropertyId::MessageExpiryInterval,
                    PropertyValue::FourByteInteger(secs),
                ));
            }
            for id in &d.sub_ids {
                properties.0.push(crate::codec::Property::new(
                    PropertyId::SubscriptionIdentifier,
                    PropertyValue::VariableByteInteger(*id),
                ));
            }
        }
        Publish {
            dup,
            qos: d.qos,
            retain: d.retain,
            topic: d.msg.topic.as_str().into(),
            packet_id,
            properties,
            payload: d.msg.payload.clone(),
        }
    }

    fn deliver(&mut self, d: Delivery) {
        if d.msg.expired(std::time::Instant::now()) {
            return;
        }
        let pid = (d.qos != QoS::AtMostOnce).then(|| self.sess().next_pid());
        let publish = self.publish_packet(&d, pid, false);
        let mut out = Vec::new();
        if encode(&Packet::Publish(publish.clone()), self.version, &mut out).is_err()
            || out.len() > self.sess().client_max_packet
        {
            // MQTT-3.1.2-25: too big for the client; discarded as if sent.
            self.sh
                .counters
                .messages_dropped
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        if let Some(pid) = pid {
            let stage = if d.qos == QoS::AtLeastOnce {
                Stage::Qos1Sent
            } else {
                Stage::Qos2Sent
            };
            self.sess().carried.inflight.push_back(Inflight {
                pid,
                delivery: d,
                stage,
            });
        }
        self.push(out, Packet::Publish(publish));
    }

    /// On a resumed session, re-sends what was unacknowledged (MQTT-4.4.0-1).
    fn resend_inflight(&mut self) {
        let pending: Vec<(u16, Stage, Delivery)> = self
            .sess()
            .carried
            .inflight
            .iter()
            .map(|i| (i.pid, i.stage, i.delivery.clone()))
            .collect();
        for (pid, stage, d) in pending {
            match stage {
                Stage::Qos1Sent | Stage::Qos2Sent => {
                    let publish = self.publish_packet(&d, Some(pid), true);
                    self.send(Packet::Publish(publish));
                }
                Stage::Released => self.send(Packet::PubRel(PubResponse::new(pid))),
            }
        }
    }

    // ----- closing ----------------------------------------------------------------------

    async fn finish(mut self, exit: Exit) {
        let mut waiter = None;
        let (by, detail, will, reason) = match exit {
            Exit::Peer(detail) => (Side::Client, detail, true, None),
            Exit::Disconnect { will } => {
                (Side::Client, "client sent DISCONNECT".into(), will, None)
            }
            Exit::Close {
                detail,
                reason,
                will,
            } => (Side::Server, detail, will, reason),
            Exit::Shutdown => (
                Side::Server,
                "server shutting down".into(),
                false,
                Some(code::SERVER_SHUTTING_DOWN),
            ),
            Exit::TakenOver(tx) => {
                waiter = tx;
                let detail = "session taken over by a new connection".into();
                (Side::Server, detail, true, Some(code::SESSION_TAKEN_OVER))
            }
        };
        if by == Side::Server {
            if let (true, Some(code)) = (self.s.is_some() && self.version.is_v5(), reason) {
                self.send(Packet::Disconnect(Disconnect {
                    reason_code: code,
                    properties: Properties::new(),
                }));
            }
            let (wr, wbuf) = (&mut self.wr, &self.wbuf);
            let _ = tokio::time::timeout(CLOSE_FLUSH, async {
                wr.write_all(wbuf).await?;
                wr.shutdown().await
            })
            .await;
        }
        self.detach(will, waiter);
        self.sh
            .links
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
        self.sh.emit(
            self.id,
            by,
            EventKind::Closed {
                by: Some(by),
                detail,
            },
        );
        self.rbuf = BytesMut::new();
        self.wbuf = BytesMut::new();
        self.account();
    }

    /// Hands the session back (or ends it), publishes the Will, releases a take-over.
    fn detach(&mut self, will_goes: bool, waiter: Option<oneshot::Sender<()>>) {
        let Some(s) = self.s.take() else { return };
        if let Some(device) = &s.device {
            let mut devices = self.sh.devices.lock().unwrap_or_else(|e| e.into_inner());
            if devices.get(device) == Some(&self.id) {
                devices.remove(device);
            }
        }
        let mut waiter = waiter;
        let sh = self.sh.clone();
        {
            let mut st = sh.lock();
            let kept = st.detach(&s.key, self.id, s.expiry, s.carried, &sh.policy.limits);
            // A take-over that raced with our own end waits for us too. Taken under the
            // state lock, after the release: a newcomer that kicks later sees no link.
            if waiter.is_none() {
                if let Some(Kick::TakenOver(tx)) = s.ctl.take_reason() {
                    waiter = tx;
                }
            }
            if let Some(Expiry::After(d)) = kept {
                spawn_expiry(Arc::downgrade(&sh), s.key.clone(), self.id, d);
            }
            if let Some(will) = s.will.filter(|_| will_goes) {
                let delay = will
                    .properties
                    .get_int(PropertyId::WillDelayInterval)
                    .map_or(Duration::ZERO, |d| Duration::from_secs(u64::from(d)));
                // Until the delay passes or the session ends, whichever comes first.
                let delay = match kept {
                    None => Duration::ZERO,
                    Some(Expiry::After(d)) => delay.min(d),
                    Some(_) => delay,
                };
                let vars = ConnVars {
                    client_id: &s.client_id,
                    username: s.username.as_deref(),
                };
                if will_allowed(&sh, &will, vars) {
                    if delay.is_zero() {
                        publish_will(&sh, &mut st, will, &s.key);
                    } else {
                        spawn_will(Arc::downgrade(&sh), will, s.key.clone(), self.id, delay);
                    }
                }
            }
        }
        if let Some(tx) = waiter {
            let _ = tx.send(());
        }
    }
}

/// The exit a kick asks for (`None` for a spurious wake-up).
fn kicked(ctl: &ConnCtl) -> Option<Exit> {
    match ctl.take_reason()? {
        Kick::TakenOver(tx) => Some(Exit::TakenOver(tx)),
        Kick::TooSlow => Some(Exit::close(
            "subscriber too slow: its queue overflowed with QoS 1/2 messages",
            code::QUOTA_EXCEEDED,
        )),
        // Like a cloud that loses the device: no DISCONNECT, the Will goes.
        Kick::Drop(detail) => Some(Exit::Close {
            detail,
            reason: None,
            will: true,
        }),
    }
}

/// The session expiry a 5.0 Session Expiry Interval asks for.
fn expiry_of(secs: u32) -> Expiry {
    match secs {
        0 => Expiry::AtClose,
        u32::MAX => Expiry::Never,
        s => Expiry::After(Duration::from_secs(u64::from(s))),
    }
}

/// Attaches connection `conn` to the session `key`, creating it (or, with `clean`,
/// replacing it). Returns Session Present and the carried protocol state.
fn establish(
    st: &mut State,
    key: &Arc<str>,
    conn: u64,
    ctl: &Arc<ConnCtl>,
    clean: bool,
    expiry: Expiry,
) -> (bool, Carried) {
    if clean {
        st.remove_session(key);
    }
    let link = Link {
        conn,
        ctl: ctl.clone(),
    };
    if st.sessions.contains_key(key) {
        if let Some(session) = st.attach(key, link) {
            session.expiry = expiry;
            return (true, std::mem::take(&mut session.carried));
        }
        return (false, Carried::default());
    }
    let mut session = Session::new(conn, expiry);
    session.link = Some(link);
    st.sessions.insert(key.clone(), session);
    (false, Carried::default())
}

/// A Will goes only to a topic the device may publish to and within the payload cap.
fn will_allowed(sh: &Shared, will: &Will, vars: ConnVars<'_>) -> bool {
    let profile = &sh.policy.profile;
    sh.policy.acl.may_publish(&will.topic, vars)
        && profile.max_payload.is_none_or(|m| will.payload.len() <= m)
}

fn publish_will(sh: &Shared, st: &mut State, will: Will, key: &str) {
    let retain = will.retain && sh.policy.profile.retain == Feature::Supported;
    let (properties, expires_at) = forwarded_properties(&will.properties);
    let msg = Arc::new(Message {
        topic: will.topic,
        payload: will.payload,
        properties,
        expires_at,
        retain,
    });
    let ctx = RouteCtx {
        policy: &sh.policy,
        dropped: &sh.counters.messages_dropped,
    };
    if retain && !st.retain(&msg, will.qos, &sh.policy.limits) {
        sh.counters.messages_dropped.fetch_add(1, Ordering::Relaxed);
    }
    st.route(msg, will.qos, Some(key), &ctx);
}

/// Ends an offline session when its expiry interval passes (unless it was resumed).
fn spawn_expiry(sh: Weak<Shared>, key: Arc<str>, generation: u64, after: Duration) {
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        if let Some(sh) = sh.upgrade() {
            sh.lock().expire(&key, generation);
        }
    });
}

/// Publishes a Will after its delay unless a new connection resumed the session first.
fn spawn_will(sh: Weak<Shared>, will: Will, key: Arc<str>, generation: u64, after: Duration) {
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        let Some(sh) = sh.upgrade() else { return };
        let mut st = sh.lock();
        let resumed = st
            .sessions
            .get(&key)
            .is_some_and(|s| s.generation != generation);
        if !resumed {
            publish_will(&sh, &mut st, will, &key);
        }
    });
}
