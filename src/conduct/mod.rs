//! A client's conduct over one connection, judged against the duties MQTT 3.1.1 and 5.0
//! put on a client: packet identifiers, the QoS 1 and QoS 2 flows in both directions and
//! their order, re-sending on a resumed session, the limits of the server's CONNACK,
//! enhanced authentication, and what may follow a DISCONNECT.
//!
//! It sees packets in the order they crossed the connection and says, per packet, which
//! duties were put to the test and whether they held ([`Note`]). The judge turns notes
//! into the verdicts of the rules that cite the duties' statements; the device server's
//! own protocol checks come from the same duties, so the two never disagree.
//!
//! Duties without a deadline in the specification (an acknowledgement, a PUBREL, a close
//! after DISCONNECT) are judged when the connection ends: kept when the packet came,
//! broken when the connection stayed open [`ACK_WINDOW`] (or [`CLOSE_WINDOW`]) past the
//! moment it was due without it, and unjudged when it ended sooner.

pub mod duty;
pub mod malformed;

pub use duty::Duty;

use crate::codec::{Packet, PropertyId, ProtocolVersion, Publish, QoS};
use std::time::Duration;

/// How long after it became due an acknowledgement (or a PUBREL, a re-sent message) is
/// waited for before its absence counts: the specification sets no deadline, and a device
/// on a slow link acknowledges within seconds.
pub const ACK_WINDOW: Duration = Duration::from_secs(10);

/// How long after the CONNACK the client is held to the limits whose defaults are no limit
/// (Maximum QoS, Retain Available, Maximum Packet Size, Receive Maximum): a client may send
/// packets without waiting for the CONNACK, and those arriving this soon after it may have
/// left before it arrived, when only the defaults bound the client. The Topic Alias
/// Maximum binds at once: its default is 0.
pub const CONNACK_GRACE: Duration = Duration::from_millis(500);

/// How long a client is given to close its connection when it must (after its own
/// DISCONNECT, the server's with an error code, a CONNACK with an error code or with
/// Session Present 1 to a clean client …). Packets it sends within it are not held against
/// it (they may have crossed the server's in flight); one sent after it, or a connection
/// still open at its end, breaks the duty.
pub const CLOSE_WINDOW: Duration = Duration::from_secs(2);

/// How much of a connection's start its source saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Start {
    /// All of it: the first client packet seen is the first the client sent.
    #[default]
    Seen,
    /// None of it: a capture that began after the connection opened.
    JoinedMidway,
    /// The connection opened in view, but the client's first bytes were lost.
    FirstBytesLost,
}

/// What one packet (or the end of the connection) showed about a duty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The duty.
    pub duty: Duty,
    /// What became of it.
    pub outcome: Outcome,
}

/// The outcome of one test of a duty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Put to the test and kept.
    Kept,
    /// Broken: what the client did.
    Broken(String),
    /// Due, but the conversation ended before it could show either: why.
    Unjudged(String),
    /// Perhaps broken, but whether the duty bound the packet cannot be told (it arrived
    /// within [`CONNACK_GRACE`] of the CONNACK whose limit it exceeds): what it was. The
    /// duty's verdict cannot be a pass.
    Doubtful(String),
}

/// Where a QoS>0 flow the client started stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Sent; the PUBACK (QoS 1) or PUBREC (QoS 2), SUBACK or UNSUBACK is awaited.
    AwaitAck,
    /// The server's PUBREC came (at that time); the client's PUBREL is due.
    ReleaseDue(Duration),
    /// PUBREL sent; PUBCOMP awaited.
    Released,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Publish(QoS),
    Subscribe,
    Unsubscribe,
}

/// A flow the client started: a QoS>0 PUBLISH, a SUBSCRIBE or an UNSUBSCRIBE.
#[derive(Debug, Clone, PartialEq)]
struct OutFlow {
    /// Where the flow began in its session's order (a re-sending keeps it).
    begun: u64,
    pid: u16,
    kind: Kind,
    stage: Stage,
    /// The PUBLISH's topic, to tell a re-delivery from a new message.
    topic: String,
    /// A QoS 2 PUBLISH with a Message Expiry Interval (5.0): when the interval runs out.
    /// Only past it does keeping the flow going show expiry not applied.
    expires_at: Option<Duration>,
}

impl OutFlow {
    /// The statement of the QoS 1 or QoS 2 sender that keeps this flow's identifier in use
    /// at its stage (none for a SUBSCRIBE, an UNSUBSCRIBE or a PUBREL still owed), and the
    /// packet that frees it.
    fn in_use(&self) -> (Option<Duty>, &'static str) {
        match (self.kind, self.stage) {
            (Kind::Publish(QoS::AtLeastOnce), _) => (Some(Duty::InUseUntilPuback), "PUBACK"),
            (Kind::Publish(_), Stage::Released) => (Some(Duty::InUseUntilPubcomp), "PUBCOMP"),
            (Kind::Publish(_), Stage::AwaitAck) => (Some(Duty::InUseUntilPubrec), "PUBREC"),
            (Kind::Publish(_), Stage::ReleaseDue(_)) => (None, "PUBREL"),
            (Kind::Subscribe, _) => (None, "SUBACK"),
            (Kind::Unsubscribe, _) => (None, "UNSUBACK"),
        }
    }
}

/// Where a QoS>0 PUBLISH the server delivered stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InStage {
    /// Delivered (at that time); PUBACK or PUBREC due.
    AwaitAck(Duration),
    /// PUBREC sent; the server's PUBREL awaited.
    Received,
    /// The server's PUBREL came (at that time); PUBCOMP due.
    CompleteDue(Duration),
}

#[derive(Debug, Clone, PartialEq)]
struct InFlow {
    pid: u16,
    qos: QoS,
    stage: InStage,
    /// The client's send quota was used up when it arrived (5.0).
    quota_exhausted: bool,
    /// Further duties its acknowledgement keeps: the identifier reused after a finished
    /// flow, a repeat before PUBREL, a Topic Alias, an expiring message.
    also: Vec<Duty>,
    /// A QoS 2 PUBLISH with a Message Expiry Interval: when the interval runs out (the
    /// expiry duty is put to the test only past it).
    expires_at: Option<Duration>,
}

impl InFlow {
    /// The duties its answer keeps at `at`: the expiry duty only once the message expired.
    fn also_at(&self, at: Duration) -> impl Iterator<Item = Duty> + '_ {
        let expired = self.expires_at.is_some_and(|e| at >= e);
        self.also
            .iter()
            .copied()
            .filter(move |d| *d != Duty::CompleteDespiteExpiry || expired)
    }
}

/// When the Message Expiry Interval of a QoS 2 PUBLISH sent at `at` runs out.
fn qos2_expiry(p: &Publish, at: Duration) -> Option<Duration> {
    if p.qos != QoS::ExactlyOnce {
        return None;
    }
    p.properties
        .get_int(PropertyId::MessageExpiryInterval)
        .map(|s| at + Duration::from_secs(u64::from(s)))
}

/// What a session carries to the client's next connection: its unfinished outbound flows,
/// in the order they began.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Carried {
    flows: Vec<OutFlow>,
}

impl Carried {
    /// True when nothing is carried.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }
}

/// The CONNACK's limits on what the client sends (5.0).
#[derive(Debug, Clone, Default)]
struct Limits {
    max_qos: Option<u8>,
    retain_available: Option<bool>,
    max_packet: Option<u32>,
    /// Absent means 0.
    alias_max: u16,
    receive_max: Option<u16>,
}

/// One connection's conduct so far.
#[derive(Debug, Default)]
pub struct Conduct {
    v5: bool,
    /// Client packets seen.
    packets: u64,
    /// How much of the connection's start was seen (a capture may begin in the middle).
    start: Start,
    /// Every flow of the connection was seen from its beginning: its start was seen, or
    /// the first client packet seen is a CONNECT (flows begin only after one).
    flows_from_start: bool,
    connected: bool,
    clean_start: bool,
    /// 3.1.1 Clean Session 0, or 5.0 Session Expiry Interval above 0.
    session_persists: bool,
    auth_method: Option<String>,
    /// The server's CONNACK came: whether it said Session Present.
    connack: Option<bool>,
    limits: Limits,
    /// The server asked to continue authentication and awaits the client's AUTH.
    auth_reply_due: bool,
    out: Vec<OutFlow>,
    /// Identifiers refused by a PUBACK or PUBREC of 0x80 or above (5.0).
    refused: Vec<u16>,
    inbound: Vec<InFlow>,
    /// Flows carried from the previous connection not yet re-sent.
    resume: Vec<OutFlow>,
    /// Flows begun in the session so far (carried ones included): the next one's place.
    flows_begun: u64,
    /// When the CONNACK resumed a session (re-sends fall due from then).
    resumed_at: Option<Duration>,
    /// The client's DISCONNECT.
    disconnected_at: Option<Duration>,
    /// A CONNACK or DISCONNECT of 0x80 or above from the server, or a Session Present 1
    /// to a client without a session: when, and which duty it calls on.
    must_close: Option<(Duration, Duty, String)>,
    aliases_used: bool,
    /// When the server's CONNACK was seen.
    connack_at: Option<Duration>,
    /// The CONNACK's limits bind the packet being judged ([`CONNACK_GRACE`] has passed).
    limits_bound: bool,
    /// How long after the CONNACK the packet being judged arrived.
    since_connack: Option<Duration>,
    /// The client started a re-authentication (AUTH 0x19) not yet ended.
    reauthenticating: bool,
    /// Topic Aliases the server set on this connection.
    server_aliases: Vec<u32>,
    /// The Topic Alias Maximum of the client's CONNECT (absent means 0): the aliases it
    /// must accept from the server.
    client_alias_max: u32,
    /// Identifiers of flows from the server the client finished, with the duty a new
    /// PUBLISH reusing one puts to the test.
    finished_in: std::collections::HashMap<u16, Duty>,
    /// MQTT over WebSocket: the client's binary messages are yet to be credited (once, at
    /// its first packet) unless it sent another kind first.
    websocket: Option<WsBinary>,
}

/// Where a WebSocket client's use of binary messages stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WsBinary {
    /// No packet yet.
    Awaited,
    /// Judged (kept at its first packet, or broken by a text message).
    Judged,
}

fn kept(duty: Duty) -> Note {
    Note {
        duty,
        outcome: Outcome::Kept,
    }
}

fn broken(duty: Duty, why: String) -> Note {
    Note {
        duty,
        outcome: Outcome::Broken(why),
    }
}

fn doubtful(duty: Duty, why: String) -> Note {
    Note {
        duty,
        outcome: Outcome::Doubtful(why),
    }
}

fn unjudged(duty: Duty, why: String) -> Note {
    Note {
        duty,
        outcome: Outcome::Unjudged(why),
    }
}

/// The properties of a packet that may carry a Reason String the receiver's Maximum Packet
/// Size bounds.
fn reason_properties(packet: &Packet) -> Option<&crate::codec::Properties> {
    match packet {
        Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubRel(r) | Packet::PubComp(r) => {
            Some(&r.properties)
        }
        Packet::Disconnect(d) => Some(&d.properties),
        Packet::Auth(a) => Some(&a.properties),
        _ => None,
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl Conduct {
    /// A connection of protocol `version` whose first client packet is about to be seen;
    /// `start`: how much of the connection's start the source saw.
    pub fn new(version: ProtocolVersion, start: Start) -> Self {
        Self {
            v5: version.is_v5(),
            start,
            ..Self::default()
        }
    }

    /// Unacknowledged QoS>0 PUBLISH packets the client has out (its used send quota).
    fn quota_used(&self) -> usize {
        self.out
            .iter()
            .filter(|f| matches!(f.kind, Kind::Publish(_)))
            .count()
    }

    fn quota_exhausted(&self) -> bool {
        self.limits
            .receive_max
            .is_some_and(|m| self.quota_used() >= usize::from(m))
    }

    /// What the WebSocket under the connection showed at `at`, sent by `from`: the
    /// handshake (the client offers `mqtt`, MQTT-6.0.0-3), a message that is not binary
    /// (MQTT-6.0.0-1: from the client it breaks the duty; from the server the client must
    /// close within [`CLOSE_WINDOW`]).
    pub fn websocket(
        &mut self,
        at: Duration,
        from: crate::event::Side,
        event: &crate::event::WebSocketEvent,
        notes: &mut Vec<Note>,
    ) {
        use crate::event::{Side, WebSocketEvent};
        match (event, from) {
            (WebSocketEvent::Handshake { offered, .. }, _) => {
                self.websocket.get_or_insert(WsBinary::Awaited);
                notes.push(
                    if offered.iter().any(|p| p == crate::websocket::SUBPROTOCOL) {
                        kept(Duty::OfferMqttSubprotocol)
                    } else {
                        broken(
                            Duty::OfferMqttSubprotocol,
                            format!(
                                "the client's WebSocket handshake offers [{}], without `mqtt`",
                                offered.join(", ")
                            ),
                        )
                    },
                );
            }
            (WebSocketEvent::NonBinary { .. }, Side::Client) => {
                self.websocket = Some(WsBinary::Judged);
                notes.push(broken(
                    Duty::BinaryMessagesOnly,
                    "not a binary message, where MQTT travels in binary messages only".to_owned(),
                ));
            }
            (WebSocketEvent::NonBinary { .. }, Side::Server) => {
                self.must_close.get_or_insert((
                    at,
                    Duty::CloseOnNonBinary,
                    format!("the server's {event}"),
                ));
            }
            (WebSocketEvent::Close { .. }, _) => {}
        }
    }

    /// A packet the client sent at `at`, `size` bytes on the wire.
    pub fn client(&mut self, at: Duration, packet: &Packet, size: usize, notes: &mut Vec<Note>) {
        if self.websocket == Some(WsBinary::Awaited) {
            // Its packets come out of binary messages: none before was of another kind.
            self.websocket = Some(WsBinary::Judged);
            notes.push(kept(Duty::BinaryMessagesOnly));
        }
        self.packets += 1;
        let first = self.packets == 1;
        self.limits_bound = self.connack_at.is_some_and(|t| at >= t + CONNACK_GRACE);
        self.since_connack = self.connack_at.map(|t| at.saturating_sub(t));
        if first {
            let connect = matches!(packet, Packet::Connect(_));
            self.flows_from_start = self.start == Start::Seen || connect;
            notes.push(match self.start {
                Start::Seen if connect => kept(Duty::FirstPacketConnect),
                Start::Seen => broken(
                    Duty::FirstPacketConnect,
                    format!(
                        "the first packet on the connection is {}, not CONNECT",
                        packet.packet_type()
                    ),
                ),
                Start::JoinedMidway => unjudged(
                    Duty::FirstPacketConnect,
                    "the capture began after the connection opened (its TCP handshake is not in it): the client's first packet is not in the capture".into(),
                ),
                Start::FirstBytesLost => unjudged(
                    Duty::FirstPacketConnect,
                    "the capture lost the client's first bytes: its first packet is not in the capture".into(),
                ),
            });
        }
        if let Some(d) = self.disconnected_at {
            notes.push(broken(
                Duty::NothingAfterDisconnect,
                format!(
                    "{} sent {:.3} s after the client's DISCONNECT",
                    packet.packet_type(),
                    secs(at.saturating_sub(d))
                ),
            ));
        }
        if let Some((since, duty, why)) = &self.must_close {
            // The client must close, not fall silent: a packet may cross the server's in
            // flight, and one sent before the close is allowed. One still coming after
            // the window shows the connection was not closed.
            let after = at.saturating_sub(*since);
            if !matches!(packet, Packet::Disconnect(_)) && after >= CLOSE_WINDOW {
                notes.push(broken(
                    *duty,
                    format!(
                        "{} sent {:.3} s after {why}: the connection still open past the {} s in which the client must close it",
                        packet.packet_type(),
                        secs(after),
                        CLOSE_WINDOW.as_secs()
                    ),
                ));
            }
        }
        if let Some(max) = self.limits.max_packet {
            let max = max as usize;
            let what = || {
                format!(
                    "{} of {size} bytes; the server's Maximum Packet Size is {max}",
                    packet.packet_type()
                )
            };
            match (self.limits_bound, size > max) {
                (true, true) => notes.push(broken(Duty::MaximumPacketSize, what())),
                (true, false) => notes.push(kept(Duty::MaximumPacketSize)),
                (false, true) => notes.push(self.in_grace(Duty::MaximumPacketSize, what())),
                (false, false) => {}
            }
        }
        if let (Some(max), Some(props), true) = (
            self.limits.max_packet,
            reason_properties(packet),
            self.limits_bound,
        ) {
            let fits = size <= max as usize;
            let kind = packet.packet_type();
            let why = |what: &str| {
                format!(
                    "{kind} of {size} bytes with {what}; the server's Maximum Packet Size is {max}"
                )
            };
            if props.get(PropertyId::ReasonString).is_some() {
                let d = Duty::ReasonStringFits(kind);
                notes.push(if fits {
                    kept(d)
                } else {
                    broken(d, why("a Reason String"))
                });
            }
            if props.user_properties().next().is_some() {
                let d = Duty::UserPropertiesFit(kind);
                notes.push(if fits {
                    kept(d)
                } else {
                    broken(d, why("User Properties"))
                });
            }
        }
        if self.v5 && self.auth_method.is_some() && self.connack.is_none() && self.connected {
            if !matches!(
                packet,
                Packet::Auth(_) | Packet::Disconnect(_) | Packet::Connect(_)
            ) {
                notes.push(broken(
                    Duty::OnlyAuthBeforeConnack,
                    format!(
                        "{} sent before the CONNACK while authenticating with {:?}",
                        packet.packet_type(),
                        self.auth_method.as_deref().unwrap_or_default()
                    ),
                ));
            } else if !matches!(packet, Packet::Connect(_)) {
                notes.push(kept(Duty::OnlyAuthBeforeConnack));
            }
        }
        match packet {
            Packet::Connect(c) => {
                if self.connected {
                    notes.push(broken(
                        Duty::OneConnect,
                        "a second CONNECT on the connection".to_owned(),
                    ));
                    return;
                }
                self.connected = true;
                self.v5 = c.protocol.is_v5();
                notes.push(kept(Duty::OneConnect));
                self.clean_start = c.clean_session;
                self.session_persists = if self.v5 {
                    c.properties
                        .get_int(PropertyId::SessionExpiryInterval)
                        .is_some_and(|s| s > 0)
                } else {
                    !c.clean_session
                };
                self.client_alias_max = c
                    .properties
                    .get_int(PropertyId::TopicAliasMaximum)
                    .unwrap_or(0);
                self.auth_method = c
                    .properties
                    .get_str(PropertyId::AuthenticationMethod)
                    .map(str::to_owned);
                if c.client_id.is_empty() && !self.v5 {
                    notes.push(if c.clean_session {
                        kept(Duty::EmptyClientIdClean)
                    } else {
                        broken(
                            Duty::EmptyClientIdClean,
                            "zero-length client id with Clean Session 0".to_owned(),
                        )
                    });
                }
                if let Some(w) = c.will.as_ref().filter(|_| self.v5) {
                    self.response_topic(&w.properties, "the Will", notes);
                }
            }
            Packet::Publish(p) => self.client_publish(at, p, notes),
            Packet::Subscribe(s) => {
                self.start_flow(s.packet_id, Kind::Subscribe, String::new(), notes)
            }
            Packet::Unsubscribe(u) => {
                self.start_flow(u.packet_id, Kind::Unsubscribe, String::new(), notes);
            }
            Packet::PubAck(r) => {
                self.client_ack(r.packet_id, QoS::AtLeastOnce, r.reason_code, notes);
            }
            Packet::PubRec(r) => {
                self.client_ack(r.packet_id, QoS::ExactlyOnce, r.reason_code, notes);
            }
            // 3.1.1's identifier statement (MQTT-2.3.1-6) names PUBACK, PUBREC and PUBREL
            // only; 5.0's names PUBCOMP too.
            Packet::PubComp(r) => match self.inbound.iter().position(|f| f.pid == r.packet_id) {
                Some(i) if matches!(self.inbound[i].stage, InStage::CompleteDue(_)) => {
                    let flow = self.inbound.remove(i);
                    for d in flow.also_at(at) {
                        notes.push(kept(d));
                    }
                    self.finished_in
                        .insert(r.packet_id, Duty::ReuseAfterPubcomp);
                    notes.push(kept(Duty::CompleteQos2));
                    if self.v5 {
                        notes.push(kept(Duty::AckMatchesPacketId));
                    }
                }
                _ if self.v5 && self.knows_all_flows() => notes.push(broken(
                    Duty::AckMatchesPacketId,
                    format!(
                        "PUBCOMP for packet id {}, to which no PUBREL awaits one",
                        r.packet_id
                    ),
                )),
                _ => {}
            },
            Packet::PubRel(r) => self.client_release(at, r.packet_id, notes),
            Packet::Disconnect(d) => {
                self.disconnected_at.get_or_insert(at);
                if self.v5 && self.connected {
                    let raised = d
                        .properties
                        .get_int(PropertyId::SessionExpiryInterval)
                        .filter(|secs| *secs != 0 && !self.session_persists);
                    notes.push(match raised {
                        Some(secs) => broken(
                            Duty::NoExpiryRaisedOnDisconnect,
                            format!("DISCONNECT sets a Session Expiry Interval of {secs} s where the CONNECT's was 0"),
                        ),
                        None => kept(Duty::NoExpiryRaisedOnDisconnect),
                    });
                }
            }
            Packet::Auth(a) => {
                let method = a.properties.get_str(PropertyId::AuthenticationMethod);
                match (&self.auth_method, method) {
                    (None, _) => notes.push(broken(
                        Duty::NoAuthWithoutMethod,
                        "AUTH sent, but the CONNECT named no Authentication Method".to_owned(),
                    )),
                    (Some(ours), Some(m)) if ours == m => notes.push(kept(Duty::SameAuthMethod)),
                    (Some(ours), m) => notes.push(broken(
                        Duty::SameAuthMethod,
                        format!("AUTH names {m:?}; the CONNECT named {ours:?}"),
                    )),
                }
                if a.reason_code == 0x19 && self.connack.is_some() {
                    self.reauthenticating = true;
                }
                if std::mem::take(&mut self.auth_reply_due) {
                    notes.push(if a.reason_code == 0x18 {
                        kept(Duty::AuthContinue)
                    } else {
                        broken(
                            Duty::AuthContinue,
                            format!("AUTH answering the server's AUTH carries reason 0x{:02X}, not 0x18", a.reason_code),
                        )
                    });
                }
            }
            Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => {
                notes.push(broken(
                    Duty::OnlyClientPackets,
                    format!("{} is a packet only a server sends", packet.packet_type()),
                ));
            }
            _ => {}
        }
        if !matches!(
            packet,
            Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp
        ) {
            notes.push(kept(Duty::OnlyClientPackets));
        }
    }

    /// True when every flow of the connection is known: it was seen from its start and
    /// resumed no session whose flows an earlier connection began unseen.
    fn knows_all_flows(&self) -> bool {
        self.flows_from_start
            && self
                .connack
                .is_some_and(|present| !present || self.resumed_at.is_some())
    }

    fn response_topic(&self, props: &crate::codec::Properties, what: &str, notes: &mut Vec<Note>) {
        if let Some(t) = props.get_str(PropertyId::ResponseTopic) {
            notes.push(if t.contains(['+', '#']) {
                broken(
                    Duty::ResponseTopicNoWildcard,
                    format!("{what} has Response Topic {t:?}, with a wildcard"),
                )
            } else {
                kept(Duty::ResponseTopicNoWildcard)
            });
        }
    }

    fn start_flow(&mut self, pid: u16, kind: Kind, topic: String, notes: &mut Vec<Note>) {
        let per_qos = match kind {
            Kind::Publish(QoS::AtLeastOnce) => Some(Duty::Qos1FreshPacketId),
            Kind::Publish(QoS::ExactlyOnce) => Some(Duty::Qos2FreshPacketId),
            _ => None,
        };
        if let Some(f) = self.out.iter().find(|f| f.pid == pid) {
            let what = match f.kind {
                Kind::Publish(q) => format!("a QoS {} PUBLISH", q.as_u8()),
                Kind::Subscribe => "a SUBSCRIBE".to_owned(),
                Kind::Unsubscribe => "an UNSUBSCRIBE".to_owned(),
            };
            let new = match kind {
                Kind::Publish(_) => "a new PUBLISH",
                Kind::Subscribe => "a SUBSCRIBE",
                Kind::Unsubscribe => "an UNSUBSCRIBE",
            };
            let (in_use, until) = f.in_use();
            let why =
                format!("{new} uses packet id {pid}, still in use by {what} awaiting its {until}");
            // A SUBSCRIBE or UNSUBSCRIBE on the id breaks the general statement only.
            for d in per_qos
                .into_iter()
                .chain(in_use.filter(|_| per_qos.is_some()))
            {
                notes.push(broken(d, why.clone()));
            }
            notes.push(broken(Duty::FreshPacketId, why));
            return;
        }
        // A new message on a fresh identifier while others are in flight keeps theirs in
        // use: each one's sender statement is put to the test.
        let mut in_use: Vec<Duty> = Vec::new();
        if per_qos.is_some() {
            for d in self.out.iter().filter_map(|f| f.in_use().0) {
                if !in_use.contains(&d) {
                    in_use.push(d);
                }
            }
        }
        for d in per_qos.into_iter().chain(in_use) {
            notes.push(kept(d));
        }
        notes.push(kept(Duty::FreshPacketId));
        self.flows_begun += 1;
        self.out.push(OutFlow {
            begun: self.flows_begun,
            pid,
            kind,
            stage: Stage::AwaitAck,
            topic,
            expires_at: None,
        });
    }

    fn client_publish(&mut self, at: Duration, p: &Publish, notes: &mut Vec<Note>) {
        let bound = self.limits_bound;
        if self.v5 {
            if let Some(max) = self.limits.max_qos {
                let what = || {
                    format!(
                        "PUBLISH at QoS {}; the CONNACK's Maximum QoS is {max}",
                        p.qos.as_u8()
                    )
                };
                match (bound, p.qos.as_u8() > max) {
                    (true, true) => notes.push(broken(Duty::MaximumQos, what())),
                    (true, false) => notes.push(kept(Duty::MaximumQos)),
                    (false, true) => notes.push(self.in_grace(Duty::MaximumQos, what())),
                    (false, false) => {}
                }
            }
            if self.limits.retain_available == Some(false) {
                let what = "PUBLISH with RETAIN 1; the CONNACK says Retain Available 0";
                match (bound, p.retain) {
                    (true, true) => notes.push(broken(Duty::RetainAvailable, what.to_owned())),
                    (true, false) => notes.push(kept(Duty::RetainAvailable)),
                    (false, true) => {
                        notes.push(self.in_grace(Duty::RetainAvailable, what.to_owned()))
                    }
                    (false, false) => {}
                }
            }
            let alias = p.properties.get_int(PropertyId::TopicAlias);
            match alias {
                Some(0) => notes.push(broken(
                    Duty::TopicAliasNonZero,
                    "PUBLISH with Topic Alias 0".to_owned(),
                )),
                // No grace for aliases: before the CONNACK the maximum is 0 (absent), so an
                // alias above the announced maximum breaks a limit either way.
                Some(a) => {
                    self.aliases_used = true;
                    notes.push(kept(Duty::TopicAliasNonZero));
                    let max = self.limits.alias_max;
                    if max == 0 {
                        notes.push(broken(
                            Duty::TopicAliasNoneAllowed,
                            format!(
                                "PUBLISH with Topic Alias {a}; the CONNACK allows no Topic Alias"
                            ),
                        ));
                    } else if a > u32::from(max) {
                        notes.push(broken(
                            Duty::TopicAliasWithinMaximum,
                            format!("PUBLISH with Topic Alias {a}, above the CONNACK's Topic Alias Maximum {max}"),
                        ));
                    } else {
                        notes.push(kept(Duty::TopicAliasWithinMaximum));
                    }
                }
                None if self.connack.is_some() && self.limits.alias_max == 0 => {
                    notes.push(kept(Duty::TopicAliasNoneAllowed));
                }
                None => {}
            }
            notes.push(
                if p.properties
                    .get(PropertyId::SubscriptionIdentifier)
                    .is_some()
                {
                    broken(
                        Duty::NoSubscriptionIdentifier,
                        "PUBLISH to the server carries a Subscription Identifier".to_owned(),
                    )
                } else {
                    kept(Duty::NoSubscriptionIdentifier)
                },
            );
            self.response_topic(&p.properties, "PUBLISH", notes);
        }
        let Some(pid) = p.packet_id else { return };
        // A re-send of a flow carried over from the previous connection.
        let carried = self.resume.iter().position(|f| f.pid == pid).or_else(|| {
            // A carried message re-sent under another identifier: same topic and QoS, DUP 1.
            self.resume
                .iter()
                .position(|f| p.dup && f.kind == Kind::Publish(p.qos) && *f.topic == *p.topic)
        });
        if let Some(i) = carried {
            if self.resume[i].stage == Stage::Released {
                // Its PUBREL went out: the PUBREL is what a resumed session re-sends.
                notes.push(broken(
                    Duty::NoPublishAfterPubrel,
                    format!("PUBLISH id {pid} re-sent on the resumed session after its PUBREL"),
                ));
                return;
            }
            // A re-sending uses the send quota as a first sending does.
            self.within_receive_maximum(bound, p, "re-sent", notes);
            self.resent(i, pid, "PUBLISH", notes);
            notes.push(if p.dup {
                kept(Duty::RedeliveryDup1)
            } else {
                broken(
                    Duty::RedeliveryDup1,
                    format!("PUBLISH id {pid} re-sent on the resumed session with DUP 0"),
                )
            });
            return;
        }
        // The same message re-sent under another identifier.
        if p.dup {
            if let Some(i) = self
                .resume
                .iter()
                .position(|f| f.kind == Kind::Publish(p.qos) && *f.topic == *p.topic)
            {
                let was = self.resume.remove(i).pid;
                notes.push(broken(
                    Duty::ResendSameId,
                    format!(
                        "the unacknowledged PUBLISH id {was} on {:?} re-sent with packet id {pid}",
                        p.topic.to_string()
                    ),
                ));
                return;
            }
        }
        if let Some(f) = self.out.iter().find(|f| f.pid == pid) {
            match (f.kind, f.stage) {
                // The same message (or one marked a re-sending) after its PUBREL; another
                // message on the identifier is a new flow while the id is in use.
                (Kind::Publish(_), Stage::Released) if p.dup || *f.topic == *p.topic => {
                    notes.push(broken(
                        Duty::NoPublishAfterPubrel,
                        format!("PUBLISH id {pid} sent again after its PUBREL"),
                    ));
                    return;
                }
                (Kind::Publish(q), _) if p.dup && q == p.qos => {
                    // A re-delivery within the connection: DUP set, nothing new.
                    notes.push(kept(Duty::RedeliveryDup1));
                    return;
                }
                (Kind::Publish(q), _) if q == p.qos && *f.topic == *p.topic => {
                    notes.push(broken(
                        Duty::RedeliveryDup1,
                        format!(
                            "PUBLISH id {pid} on {:?} sent again while unacknowledged, with DUP 0",
                            f.topic
                        ),
                    ));
                    return;
                }
                _ => {}
            }
        }
        if self.v5 && p.dup && self.refused.contains(&pid) {
            notes.push(broken(
                Duty::NoResendAfterRefusal,
                format!("PUBLISH id {pid} re-sent (DUP 1) after the server refused it with a reason code of 0x80 or above"),
            ));
            return;
        }
        self.refused.retain(|r| *r != pid);
        self.within_receive_maximum(bound, p, "new", notes);
        let first_duty = match p.qos {
            QoS::ExactlyOnce => Duty::Qos2FirstSendingDup0,
            _ => Duty::Qos1FirstSendingDup0,
        };
        // Without a resumed session, nothing sent before this connection can be re-sent:
        // a new session's statement, or (Clean Start 0) the one on a session not present.
        let fresh_session = self.connack == Some(false);
        let session_duty = if self.clean_start {
            Duty::NoStaleSession
        } else {
            Duty::DiscardAbsentSession
        };
        if !p.dup {
            notes.push(kept(first_duty));
            if fresh_session && self.out.is_empty() {
                notes.push(kept(session_duty));
            }
        } else if self.knows_all_flows() {
            let why =
                format!("PUBLISH id {pid} sent with DUP 1, though no earlier sending of it exists");
            if fresh_session {
                notes.push(broken(
                    session_duty,
                    format!("{why} on this connection, whose CONNACK resumed no session"),
                ));
            }
            notes.push(broken(first_duty, why));
        }
        self.start_flow(pid, Kind::Publish(p.qos), p.topic.to_string(), notes);
        if let Some(f) = self.out.last_mut().filter(|f| f.pid == pid) {
            f.expires_at = qos2_expiry(p, at);
        }
    }

    /// A QoS>0 PUBLISH (`what`: new or re-sent) against the CONNACK's Receive Maximum
    /// (5.0): the unacknowledged ones already out must leave room for it.
    fn within_receive_maximum(&self, bound: bool, p: &Publish, what: &str, notes: &mut Vec<Note>) {
        let (true, Some(max), Some(pid)) = (self.v5, self.limits.receive_max, p.packet_id) else {
            return;
        };
        let used = self.quota_used();
        let why = || {
            format!(
                "a {what} QoS {} PUBLISH (id {pid}) with {used} already unacknowledged; the CONNACK's Receive Maximum is {max}",
                p.qos.as_u8()
            )
        };
        match (bound, used >= usize::from(max)) {
            (true, true) => notes.push(broken(Duty::ReceiveMaximum, why())),
            (true, false) => notes.push(kept(Duty::ReceiveMaximum)),
            (false, true) => notes.push(self.in_grace(Duty::ReceiveMaximum, why())),
            (false, false) => {}
        }
    }

    /// A carried flow `resume[i]` was re-sent with packet id `pid`: in order, with its own
    /// identifier.
    fn resent(&mut self, i: usize, pid: u16, what: &str, notes: &mut Vec<Note>) {
        let flow = self.resume.remove(i);
        notes.push(kept(Duty::ResendOnResume));
        notes.push(if pid == flow.pid {
            kept(Duty::ResendSameId)
        } else {
            broken(
                Duty::ResendSameId,
                format!(
                    "{what} first sent with packet id {} re-sent on the resumed session with id {pid}",
                    flow.pid
                ),
            )
        });
        if i > 0 {
            let skipped: Vec<String> = self.resume[..i].iter().map(|f| f.pid.to_string()).collect();
            notes.push(broken(
                Duty::ResendOrder,
                format!(
                    "{what} id {} re-sent before id {} begun earlier",
                    flow.pid,
                    skipped.join(", ")
                ),
            ));
        } else {
            notes.push(kept(Duty::ResendOrder));
        }
        let mut flow = flow;
        flow.pid = pid;
        if what == "PUBREL" {
            flow.stage = Stage::Released;
        }
        self.out.push(flow);
    }

    fn client_ack(&mut self, pid: u16, ack_qos: QoS, reason: u8, notes: &mut Vec<Note>) {
        let name = if ack_qos == QoS::AtLeastOnce {
            "PUBACK"
        } else {
            "PUBREC"
        };
        let Some(i) = self
            .inbound
            .iter()
            .position(|f| f.pid == pid && matches!(f.stage, InStage::AwaitAck(_)))
        else {
            if self.knows_all_flows() {
                notes.push(broken(
                    Duty::AckMatchesPacketId,
                    format!("{name} for packet id {pid}, which no unacknowledged PUBLISH from the server carries"),
                ));
            }
            return;
        };
        notes.push(kept(Duty::AckMatchesPacketId));
        let flow = self.inbound[i].clone();
        if flow.qos != ack_qos {
            notes.push(broken(
                Duty::AckKindPerQos,
                format!(
                    "{name} answers the QoS {} PUBLISH id {pid}",
                    flow.qos.as_u8()
                ),
            ));
        } else {
            notes.push(kept(Duty::AckKindPerQos));
        }
        let (order, acknowledge) = if flow.qos == QoS::AtLeastOnce {
            (Duty::PubackOrder, Duty::AcknowledgeQos1)
        } else {
            (Duty::PubrecOrder, Duty::AcknowledgeQos2)
        };
        notes.push(kept(acknowledge));
        if flow.quota_exhausted {
            notes.push(kept(Duty::NotHeldBackByQuota));
        }
        // Order is put to the test when another PUBLISH of the same QoS is outstanding.
        let waiting = |f: &InFlow| f.qos == flow.qos && matches!(f.stage, InStage::AwaitAck(_));
        let earlier: Vec<String> = self.inbound[..i]
            .iter()
            .filter(|f| waiting(f))
            .map(|f| f.pid.to_string())
            .collect();
        let later = self.inbound[i + 1..].iter().any(waiting);
        if !earlier.is_empty() {
            notes.push(broken(
                order,
                format!(
                    "{name} for id {pid} before the {name} for id {}, delivered earlier",
                    earlier.join(", ")
                ),
            ));
        } else if later {
            notes.push(kept(order));
        }
        for d in flow
            .also
            .iter()
            .filter(|d| **d != Duty::CompleteDespiteExpiry)
        {
            notes.push(kept(*d));
        }
        if flow.qos == QoS::ExactlyOnce && !(self.v5 && reason >= 0x80) {
            self.inbound[i].stage = InStage::Received;
            self.inbound[i]
                .also
                .retain(|d| *d == Duty::CompleteDespiteExpiry);
        } else {
            self.inbound.remove(i);
            let reuse = if flow.qos == QoS::ExactlyOnce {
                Duty::ReuseAfterRefusedPubrec
            } else {
                Duty::ReuseAfterPuback
            };
            self.finished_in.insert(pid, reuse);
        }
    }

    fn client_release(&mut self, at: Duration, pid: u16, notes: &mut Vec<Note>) {
        if let Some(i) = self.resume.iter().position(|f| f.pid == pid) {
            self.resent(i, pid, "PUBREL", notes);
            return;
        }
        let due: Vec<(usize, u16)> = self
            .out
            .iter()
            .enumerate()
            .filter(|(_, f)| matches!(f.stage, Stage::ReleaseDue(_)))
            .map(|(i, f)| (i, f.pid))
            .collect();
        let Some(pos) = due.iter().position(|(_, p)| *p == pid) else {
            if self
                .out
                .iter()
                .any(|f| f.pid == pid && f.stage == Stage::Released)
            {
                // A repeated PUBREL: the PUBCOMP is still awaited.
                return;
            }
            if self.knows_all_flows() {
                notes.push(broken(
                    Duty::AckMatchesPacketId,
                    format!("PUBREL for packet id {pid}, which no PUBREC from the server carries"),
                ));
            }
            return;
        };
        notes.push(kept(Duty::AckMatchesPacketId));
        notes.push(kept(Duty::ReleaseAfterPubrec));
        if self.out[due[pos].0].expires_at.is_some_and(|e| at >= e) {
            notes.push(kept(Duty::ReleaseDespiteExpiry));
        }
        if pos > 0 {
            let earlier: Vec<String> = due[..pos].iter().map(|(_, p)| p.to_string()).collect();
            notes.push(broken(
                Duty::PubrelOrder,
                format!(
                    "PUBREL for id {pid} before the PUBREL for id {}, whose PUBREC came first",
                    earlier.join(", ")
                ),
            ));
        } else if due.len() > 1 {
            notes.push(kept(Duty::PubrelOrder));
        }
        self.out[due[pos].0].stage = Stage::Released;
    }

    /// A packet the server sent at `at`.
    pub fn server(&mut self, at: Duration, packet: &Packet) {
        match packet {
            Packet::ConnAck(ack) => {
                self.connack = Some(ack.session_present);
                self.connack_at = Some(at);
                if self.v5 && ack.code >= 0x80 {
                    self.must_close = Some((
                        at,
                        Duty::CloseAfterErrorCode,
                        format!("the CONNACK with reason 0x{:02X}", ack.code),
                    ));
                }
                if self.v5 && ack.code == 0 && ack.session_present && self.clean_start {
                    self.must_close = Some((
                        at,
                        Duty::CloseOnUnexpectedSession,
                        "a CONNACK with Session Present 1 to a CONNECT with Clean Start 1"
                            .to_owned(),
                    ));
                }
                if !ack.session_present {
                    self.resume.clear();
                } else if !self.resume.is_empty() {
                    self.resumed_at = Some(at);
                }
                if self.v5 && ack.code == 0 {
                    let p = &ack.properties;
                    self.limits = Limits {
                        max_qos: p.get_int(PropertyId::MaximumQos).map(|q| q.min(2) as u8),
                        retain_available: p.get_int(PropertyId::RetainAvailable).map(|r| r != 0),
                        max_packet: p.get_int(PropertyId::MaximumPacketSize),
                        alias_max: p
                            .get_int(PropertyId::TopicAliasMaximum)
                            .map_or(0, |m| u16::try_from(m).unwrap_or(u16::MAX)),
                        receive_max: p
                            .get_int(PropertyId::ReceiveMaximum)
                            .map(|m| u16::try_from(m).unwrap_or(u16::MAX)),
                    };
                }
            }
            Packet::Publish(p) => {
                let alias = p.properties.get_int(PropertyId::TopicAlias);
                let mut also = Vec::new();
                match alias {
                    Some(a) if !p.topic.is_empty() => self.server_aliases.push(a),
                    Some(a) if self.server_aliases.contains(&a) && a <= self.client_alias_max => {
                        also.push(Duty::AcceptTopicAlias)
                    }
                    // One above what the client announced is the server's error.
                    Some(a) if self.server_aliases.contains(&a) => {}
                    Some(a) => {
                        self.must_close.get_or_insert((
                            at,
                            Duty::NoAliasCarriedOver,
                            format!("a PUBLISH naming its topic by Topic Alias {a}, never set on this connection"),
                        ));
                    }
                    None => {}
                }
                if let Some(pid) = p.packet_id {
                    // A new message whatever its DUP flag: the earlier flow is over.
                    if let Some(d) = self.finished_in.remove(&pid) {
                        also.push(d);
                    }
                    let expires_at = qos2_expiry(p, at);
                    if expires_at.is_some() {
                        also.push(Duty::CompleteDespiteExpiry);
                    }
                    // A repeat of a QoS 2 PUBLISH already received: PUBREC again.
                    if let Some(f) = self
                        .inbound
                        .iter_mut()
                        .find(|f| f.pid == pid && f.stage == InStage::Received)
                    {
                        f.stage = InStage::AwaitAck(at);
                        f.also.push(Duty::RepeatAcknowledged);
                        return;
                    }
                    let quota_exhausted = self.quota_exhausted();
                    // A re-delivery of one still unacknowledged replaces it.
                    self.inbound
                        .retain(|f| f.pid != pid || !matches!(f.stage, InStage::AwaitAck(_)));
                    self.inbound.push(InFlow {
                        pid,
                        qos: p.qos,
                        stage: InStage::AwaitAck(at),
                        quota_exhausted,
                        also,
                        expires_at,
                    });
                }
            }
            Packet::PubRel(r) => {
                if let Some(f) = self.inbound.iter_mut().find(|f| f.pid == r.packet_id) {
                    f.stage = InStage::CompleteDue(at);
                } else {
                    // A PUBREL re-sent on a resumed session: the PUBCOMP is due all the same.
                    self.inbound.push(InFlow {
                        pid: r.packet_id,
                        qos: QoS::ExactlyOnce,
                        stage: InStage::CompleteDue(at),
                        quota_exhausted: false,
                        also: Vec::new(),
                        expires_at: None,
                    });
                }
            }
            Packet::PubAck(r) => {
                self.finish_out(
                    r.packet_id,
                    |k| matches!(k, Kind::Publish(QoS::AtLeastOnce)),
                    r.reason_code,
                );
            }
            Packet::PubRec(r) => {
                let v5 = self.v5;
                if let Some(i) = self.out.iter().position(|f| {
                    f.pid == r.packet_id
                        && f.kind == Kind::Publish(QoS::ExactlyOnce)
                        && f.stage == Stage::AwaitAck
                }) {
                    if v5 && r.reason_code >= 0x80 {
                        self.out.remove(i);
                        self.refused.push(r.packet_id);
                    } else {
                        self.out[i].stage = Stage::ReleaseDue(at);
                    }
                }
            }
            Packet::PubComp(r) => {
                self.finish_out(
                    r.packet_id,
                    |k| matches!(k, Kind::Publish(QoS::ExactlyOnce)),
                    0,
                );
            }
            Packet::SubAck(a) => {
                self.finish_out(a.packet_id, |k| k == Kind::Subscribe, 0);
            }
            Packet::UnsubAck(a) => {
                self.finish_out(a.packet_id, |k| k == Kind::Unsubscribe, 0);
            }
            Packet::Disconnect(d) if self.v5 && d.reason_code >= 0x80 => {
                let duty = if self.reauthenticating {
                    Duty::CloseOnFailedReauthentication
                } else {
                    Duty::CloseAfterErrorCode
                };
                self.must_close.get_or_insert((
                    at,
                    duty,
                    format!(
                        "the server's DISCONNECT with reason 0x{:02X}",
                        d.reason_code
                    ),
                ));
            }
            Packet::Auth(a) => {
                self.auth_reply_due = a.reason_code == 0x18;
                if a.reason_code == 0x00 {
                    self.reauthenticating = false;
                }
            }
            _ => {}
        }
    }

    /// A packet from the server at `at` that is malformed (`what` says how; `flags` when
    /// its fixed-header flags are invalid): the client must close the connection.
    pub fn server_malformed(&mut self, at: Duration, flags: bool, what: String) {
        let duty = if flags {
            Duty::CloseOnInvalidFlags
        } else {
            Duty::CloseOnViolation
        };
        self.must_close.get_or_insert((
            at,
            duty,
            format!("the server's malformed packet ({what})"),
        ));
    }

    fn finish_out(&mut self, pid: u16, kind: impl Fn(Kind) -> bool, reason: u8) {
        if let Some(i) = self.out.iter().position(|f| f.pid == pid && kind(f.kind)) {
            self.out.remove(i);
            if self.v5 && reason >= 0x80 {
                self.refused.push(pid);
            }
        }
    }

    /// A packet beyond a CONNACK limit that arrived within [`CONNACK_GRACE`] of it
    /// (`what` it was): it may have left the client before the CONNACK arrived.
    fn in_grace(&self, duty: Duty, what: String) -> Note {
        let after = self.since_connack.unwrap_or_default();
        doubtful(
            duty,
            format!(
                "{what}, {:.3} s after the CONNACK: inside the {:.1} s after it in which a packet may have left the client before the CONNACK reached it, so whether the limit bound it cannot be told",
                secs(after),
                secs(CONNACK_GRACE)
            ),
        )
    }

    /// The Maximum Packet Size of the server's 5.0 CONNACK, when it binds a packet arriving
    /// at `at` ([`CONNACK_GRACE`] after the CONNACK).
    pub fn max_packet_size(&self, at: Duration) -> Option<u32> {
        let bound = self.connack_at.is_some_and(|t| at >= t + CONNACK_GRACE);
        self.limits.max_packet.filter(|_| bound)
    }

    /// The session this connection's flows continue: the previous connection's unfinished
    /// flows, to be re-sent once the CONNACK says the session is present.
    pub fn resume(&mut self, carried: Carried) {
        self.flows_begun = carried.flows.iter().map(|f| f.begun).max().unwrap_or(0);
        self.resume = carried.flows;
    }

    /// What the session carries to the next connection, when it persists.
    pub fn carried(&self) -> Option<Carried> {
        self.session_persists.then(|| {
            let mut flows: Vec<OutFlow> = self
                .resume
                .iter()
                .chain(self.out.iter())
                .filter(|f| matches!(f.kind, Kind::Publish(_)))
                .cloned()
                .collect();
            // Re-sent flows sit in `out` after carried ones still waiting: their original
            // order is the order they began in.
            flows.sort_by_key(|f| f.begun);
            Carried { flows }
        })
    }

    /// The connection ended at `at`; `client_closed` when the client closed it (its
    /// FIN or reset came first), `false` when the server did, `None` when unknown.
    /// Judges what was due and never came.
    pub fn end(&mut self, at: Duration, client_closed: Option<bool>, notes: &mut Vec<Note>) {
        let overdue = |since: Duration, window: Duration| at.saturating_sub(since) >= window;
        let late = |since: Duration| secs(at.saturating_sub(since));
        for f in &self.inbound {
            let (duty, since, what) = match f.stage {
                InStage::AwaitAck(t) if f.qos == QoS::AtLeastOnce => {
                    (Duty::AcknowledgeQos1, t, "PUBACK")
                }
                InStage::AwaitAck(t) => (Duty::AcknowledgeQos2, t, "PUBREC"),
                InStage::CompleteDue(t) => (Duty::CompleteQos2, t, "PUBCOMP"),
                InStage::Received => continue,
            };
            let mut duties = vec![duty];
            if f.quota_exhausted {
                duties.push(Duty::NotHeldBackByQuota);
            }
            duties.extend(f.also_at(at));
            for d in &duties {
                notes.push(if overdue(since, ACK_WINDOW) {
                    broken(
                        *d,
                        format!("no {what} for packet id {} in the {:.3} s the connection stayed open after it was due (window {} s)", f.pid, late(since), ACK_WINDOW.as_secs()),
                    )
                } else {
                    unjudged(
                        *d,
                        format!("the connection ended {:.3} s after the {what} for packet id {} fell due, inside the {} s it is waited for", late(since), f.pid, ACK_WINDOW.as_secs()),
                    )
                });
            }
        }
        for f in &self.out {
            if let Stage::ReleaseDue(since) = f.stage {
                let duties: &[Duty] = if f.expires_at.is_some_and(|e| at >= e) {
                    &[Duty::ReleaseAfterPubrec, Duty::ReleaseDespiteExpiry]
                } else {
                    &[Duty::ReleaseAfterPubrec]
                };
                for d in duties {
                    notes.push(if overdue(since, ACK_WINDOW) {
                        broken(
                            *d,
                            format!("no PUBREL for packet id {} in the {:.3} s the connection stayed open after the server's PUBREC (window {} s)", f.pid, late(since), ACK_WINDOW.as_secs()),
                        )
                    } else {
                        unjudged(
                            *d,
                            format!("the connection ended {:.3} s after the server's PUBREC for packet id {}, inside the {} s a PUBREL is waited for", late(since), f.pid, ACK_WINDOW.as_secs()),
                        )
                    });
                }
            }
        }
        // A PUBLISH the used-up send quota holds back is not owed yet (a PUBREL always is).
        let quota_full = self.quota_exhausted();
        let (held, owed): (Vec<&OutFlow>, Vec<&OutFlow>) = self
            .resume
            .iter()
            .partition(|f| quota_full && f.stage != Stage::Released);
        if let (Some(max), false) = (self.limits.receive_max, held.is_empty()) {
            let ids: Vec<String> = held.iter().map(|f| f.pid.to_string()).collect();
            notes.push(unjudged(
                Duty::ResendOnResume,
                format!("packet ids {} of the resumed session not re-sent while {} PUBLISH(es) stayed unacknowledged, the CONNACK's Receive Maximum of {max}: the send quota held them back", ids.join(", "), self.quota_used()),
            ));
        }
        if let (Some(since), false) = (self.resumed_at, owed.is_empty()) {
            let ids: Vec<String> = owed.iter().map(|f| f.pid.to_string()).collect();
            notes.push(if overdue(since, ACK_WINDOW) {
                broken(
                    Duty::ResendOnResume,
                    format!("packet ids {} of the resumed session never re-sent in the {:.3} s after the CONNACK (window {} s)", ids.join(", "), late(since), ACK_WINDOW.as_secs()),
                )
            } else {
                unjudged(
                    Duty::ResendOnResume,
                    format!("the connection ended {:.3} s after the CONNACK resumed the session, inside the {} s re-sends are waited for", late(since), ACK_WINDOW.as_secs()),
                )
            });
        }
        let closes = [
            self.disconnected_at
                .map(|t| (t, Duty::CloseAfterDisconnect, "its DISCONNECT".to_owned())),
            self.must_close.clone(),
        ];
        for (since, duty, what) in closes.into_iter().flatten() {
            let took = late(since);
            let window = CLOSE_WINDOW.as_secs();
            // After its own DISCONNECT nothing of the server's crosses the client's close
            // and the specification sets no time: any close of the client's keeps the duty.
            // A close the server demands is judged against the window.
            let timed = duty != Duty::CloseAfterDisconnect;
            match client_closed {
                Some(true) if timed && overdue(since, CLOSE_WINDOW) => notes.push(broken(
                    duty,
                    format!("the client closed the connection only {took:.3} s after {what} (window {window} s)"),
                )),
                Some(true) => notes.push(kept(duty)),
                Some(false) if overdue(since, CLOSE_WINDOW) => notes.push(broken(
                    duty,
                    format!("the client kept the connection open {took:.3} s after {what}, until the server closed it (window {window} s)"),
                )),
                // The server closed first, inside the window: the connection is closed
                // and nothing was left for the client to do.
                Some(false) => {}
                None if overdue(since, CLOSE_WINDOW) => notes.push(broken(
                    duty,
                    format!("the connection was still open {took:.3} s after {what} (window {window} s)"),
                )),
                None => notes.push(unjudged(
                    duty,
                    format!("the conversation ended {took:.3} s after {what}, before the client's close was due (window {window} s)"),
                )),
            }
        }
        if self.disconnected_at.is_some() && client_closed.is_some() {
            notes.push(kept(Duty::NothingAfterDisconnect));
        }
    }
}

#[cfg(test)]
mod tests;
