//! Device mode and the built-in emulator: a real MQTT 3.1 / 3.1.1 / 5.0 server shaped by a
//! platform [`Profile`].
//!
//! By default (a default [`Profile`]) the server is a conformant broker: sessions,
//! subscriptions and routing, QoS 0/1/2 in both directions, retained messages, wills and
//! keep-alive enforcement. A platform profile switches features off or bends them the way
//! that platform does (no wills, QoS capped at 1, a topic catalogue, wildcards only from
//! the fourth level, a payload cap, a 2.5 × keep-alive timeout…), and a [`Behaviour`] adds
//! deliberate misbehaviour for testing devices (withheld acknowledgements, refused
//! subscriptions, connections cut after a while).
//!
//! Every packet in both directions, every open and every close is reported as an
//! [`Event`] on a bounded channel ([`ServerHandle::events`]), so the judge checks a device
//! exactly as it checks a broker conversation or a capture.
//!
//! # Emulation choices
//!
//! Where MQTT or the profile leaves room, the server does this:
//!
//! - **Protocol versions** outside `protocols` are refused with a 3.1.1-form CONNACK 0x01
//!   (`20 02 00 01`), as a server without that version answers (MQTT-3.1.2-2), whatever
//!   the client's version: a 3.x client cannot read a 5.0 CONNACK, and a 5.0 client is
//!   refused precisely because the emulated platform does not speak 5.0 (this is the
//!   answer a 3.1.1-only broker gives). 0x84 is therefore never sent.
//! - **Protocol errors**: a malformed packet closes the connection (5.0: DISCONNECT 0x81
//!   first; a packet above the maximum size 0x95); a second CONNECT, AUTH, or a
//!   server-to-client packet type closes it with 0x82. A first packet other than CONNECT
//!   closes without an answer.
//! - **Inbound QoS 2** is delivered onward when the PUBLISH arrives (the specification's
//!   "method B", §4.3.3): only the packet identifier is kept until PUBREL, and a duplicate
//!   PUBLISH with that identifier is acknowledged again but not routed again.
//! - **Keep-alive** is enforced by a per-connection timer reset by every complete packet
//!   from the client; it fires exactly `server_timeout × Keep Alive` after the last one
//!   (tokio timer resolution, 1 ms). Keep Alive 0 disables it. 5.0 clients get DISCONNECT
//!   0x8D first. A client that sends no CONNECT is closed after
//!   [`Limits::connect_timeout`].
//! - **Keep Alive outside `keepalive.min`–`max`** with `out_of_range: refuse` closes the
//!   connection *without* a CONNACK: no 3.1.1 return code means "keep alive refused", and
//!   MQTT-3.2.2-6 forbids inventing one. A Keep Alive of 0 is out of range whenever a
//!   minimum or maximum is set (it means "never"). With `accept` the client's value is
//!   enforced as sent.
//! - **`clean_session_required`** with Clean Session 0 is accepted but treated as a clean
//!   session (nothing persists, Session Present 0): platforms that require it document no
//!   refusal, and the judge flags the device.
//! - **Wills**: `will: refused` answers CONNACK 0x05 (3.x) / 0x87 Not authorized (5.0);
//!   a Will with Will Retain when `retain: refused` answers 0x05 / 0x9A; a 5.0 Will QoS
//!   above `max_qos` answers 0x9B (3.x: accepted and published at `max_qos`). `ignored`
//!   accepts the Will and never publishes it. A Will is published on every close the
//!   client did not ask for: EOF or reset, keep-alive timeout, a protocol error, a profile
//!   rule that closes, a [`Behaviour::close_after`] cut and a session take-over (5.0
//!   §3.1.4 says so; 3.1.1 is silent, and one rule for both versions is simpler to
//!   judge); not after DISCONNECT
//!   (5.0: unless its reason is 0x04) and not at server shutdown. A Will whose topic the
//!   profile does not let the device publish to, or whose payload is over `max_payload`,
//!   is dropped. 5.0 Will Delay Interval is honoured.
//! - **A client's Maximum Packet Size** (5.0) binds the CONNACK too (MQTT-3.1.2-24). One
//!   too large for it leaves out, in turn and only as far as needed, the properties that
//!   state their own default, a Reason String and User Properties (MQTT-3.2.2-19, -20), and
//!   the Topic Alias Maximum (its absence means 0; no alias is then accepted). The limits
//!   the client is held to (Maximum QoS, Retain Available, Receive Maximum, the server's
//!   Maximum Packet Size, a Server Keep Alive, the availability flags, an Assigned Client
//!   Identifier) are never left out: their absence would promise more than the server
//!   keeps. When even that CONNACK does not fit, the specification has no answer beyond
//!   "do not send it" (MQTT-3.1.2-25); the CONNECT is refused as valid but not accepted
//!   (MQTT-3.1.4-2) with the bare CONNACK 0x83 (5 bytes), or closed without a CONNACK
//!   when not even that fits.
//! - **Client identifiers**: empty with Clean Session 1 (3.1.1) or in any 5.0 CONNECT is
//!   assigned `mqtt-conform-<conn>` (5.0: Assigned Client Identifier); empty with Clean
//!   Session 0 (3.1.1) or in 3.1 answers 0x02.
//! - **Take-over**: a second connection with a connected client id closes the first
//!   (5.0: DISCONNECT 0x8E first) and then resumes or discards the session. With
//!   `one_connection_per_identity: false` both stay connected: the second gets a private,
//!   clean session of its own.
//! - **Order of PUBLISH checks**: QoS above `max_qos` (`close`: 5.0 DISCONNECT 0x9B;
//!   `downgrade`: handled entirely as a PUBLISH at `max_qos`, acknowledgement included;
//!   `ignore`: dropped without an answer), then RETAIN (`refused`: close, 5.0 DISCONNECT
//!   0x9A; `ignored`: delivered as non-retained and not stored), then the topic catalogue
//!   (`drop`: acknowledged and dropped, 5.0 reason 0x87; `close`: 5.0 DISCONNECT 0x87), then
//!   `max_payload` (`drop`: acknowledged and dropped, 5.0 reason 0x97 Quota exceeded;
//!   `close`: 5.0 DISCONNECT 0x95), then (5.0) the profile's `properties` limits (`drop`:
//!   acknowledged with 0x83 Implementation specific error and dropped; `close`: DISCONNECT
//!   0x83).
//! - **Subscriptions**: a filter is allowed when one `topics.subscribe` pattern covers
//!   every topic it can match. Refusals answer 0x80 (3.x); in 5.0 0xA2 for wildcard rules,
//!   0x87 for the catalogue, 0x9E for shared subscriptions where the profile refuses them.
//!   Overlapping subscriptions of one client get one copy at the highest granted QoS
//!   (MQTT-3.3.5-1), carrying every matching Subscription Identifier.
//! - **Outbound flow**: at most [`Limits::inflight_window`] unacknowledged QoS 1/2
//!   messages per connection (5.0: also at most the client's Receive Maximum); the rest
//!   waits in the session queue. Unacknowledged messages are re-sent with DUP=1 (PUBREL
//!   for those past PUBREC) when a persistent session resumes (MQTT-4.4.0-1), never on a
//!   live connection.
//! - **Memory bounds** (whatever a peer does): each session queues at most
//!   [`Limits::session_queue`] messages and all queues together hold at most
//!   [`Limits::max_queued_bytes`]. When a message does not fit, a QoS 0 copy is dropped;
//!   a QoS 1/2 copy is dropped too and, if the subscriber is connected, it is
//!   disconnected as too slow (5.0: DISCONNECT 0x97). Drops are counted in
//!   [`ServerStats::messages_dropped`]. The server stops reading from a client while more
//!   than [`Limits::write_high_water`] bytes wait to be written to it. At most 1,024
//!   inbound QoS 2 messages may await PUBREL (5.0: announced as Receive Maximum; beyond it
//!   the connection is closed, 5.0 DISCONNECT 0x93). The retained store keeps at most
//!   [`Limits::max_retained`] messages / [`Limits::max_retained_bytes`]; beyond that new
//!   topics are not retained. Retained messages sent because of a new subscription may
//!   exceed the session queue by up to [`Limits::max_retained`] (never the byte budget).
//!   At most [`Limits::max_offline_sessions`] persistent sessions are kept while
//!   disconnected; the one offline longest is evicted first. A session holds at most
//!   [`Limits::max_subscriptions_per_session`] subscriptions (further filters: 0x80, 5.0
//!   0x97), all sessions at most [`Limits::max_subscriptions`].
//! - **5.0 extras**: inbound Topic Aliases up to 10 (the profile's `topic_alias_maximum`;
//!   0 announces none); Subscription Identifiers, No Local,
//!   Retain As Published, Retain Handling, Message Expiry and the client's Maximum Packet
//!   Size are honoured; enhanced authentication (AUTH) is not offered (a CONNECT with an
//!   Authentication Method gets 0x8C); shared subscriptions are refused (0x9E, announced in
//!   CONNACK) unless the profile's `shared_subscriptions` offers them: then each message
//!   matching a group's filter goes to one member in turn (a session in several groups, or
//!   also subscribed plainly, gets one copy at the highest QoS), no retained messages are
//!   sent for them, and `word_names` refuses ShareNames outside `[A-Za-z0-9_]` with 0x8F. CONNACK announces Maximum QoS, Retain Available (0 only for `refused`),
//!   Wildcard Subscription Available (0 for `no_wildcards`) and Maximum Packet Size.
//! - **Misbehaviour**: [`Behaviour::withhold_puback`] withholds the first acknowledgement
//!   of QoS 1 and QoS 2 (PUBACK, PUBREC); [`Behaviour::withhold_suback`] registers the
//!   subscriptions but sends no SUBACK; [`Behaviour::reject_subscriptions`] registers
//!   nothing and answers 0x80 to every filter; [`Behaviour::close_after`] cuts the
//!   connection (no DISCONNECT, Will published) that long after CONNACK. Device tests
//!   switch misbehaviours on for one connection ([`ServerControl`]), among them leaving
//!   outbound QoS 2 flows at the client's PUBREC (the PUBREL goes when the session
//!   resumes), send a 5.0 DISCONNECT and then nothing more while waiting for the client's
//!   close, and publish commands with a Topic Alias.
//! - **Planned CONNACKs** ([`ServerControl::plan_connack`]): a client id's next CONNECTs
//!   get Session Present 1 and (5.0) the planned Maximum QoS, Retain Available, Server Keep
//!   Alive, Receive Maximum, Maximum Packet Size and Topic Alias Maximum, and the
//!   connection is held to them: above the Maximum QoS DISCONNECT 0x9B, RETAIN 0x9A, a
//!   packet above the size 0x95, an alias above the maximum 0x94, more unacknowledged QoS
//!   1/2 PUBLISHes than the Receive Maximum (withheld PUBACKs included) 0x93, and the
//!   Server Keep Alive replaces the client's. A Will above the planned Maximum QoS, or
//!   with Will Retain under a planned Retain Available 0, is refused (CONNACK 0x9B / 0x9A).
//! - `max_publish_rate` is not enforced.
//!
//! # Events
//!
//! Each connection gets a number from a per-server counter (from 1); `at` is the time
//! since [`Server::bind`]. Packets we send are reported when they are queued for writing.
//! A close is reported with `by: Some(Side::Client)` when the device closed, reset or sent
//! DISCONNECT, and `by: Some(Side::Server)` when we closed. The channel holds at most
//! [`ServerConfig::event_capacity`] events; when it is full, events are dropped and
//! counted ([`ServerStats::events_dropped`]) rather than slowing the server down. With
//! [`ServerConfig::emit_events`] off nothing is built or buffered.

mod acl;
mod conn;
mod replies;
mod state;
mod subs;

pub use crate::suite::device_tests::{ConnackPlan, Misbehaviour};
pub use conn::ECHO_METHOD;

use crate::codec::framing::DEFAULT_MAX_PACKET_SIZE;
use crate::codec::reason::{code, v3};
use crate::codec::{Connect, Properties, PropertyId, PropertyValue};
use crate::event::{Event, EventKind, Side};
use crate::suite::profile::Profile;
use crate::suite::vars::Vars;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Decides whether a CONNECT's credentials are accepted.
pub trait Authenticator: Send + Sync {
    /// `Ok(())` to accept; a refusal carries the CONNACK code to answer with.
    fn check(&self, connect: &Connect) -> Result<(), AuthRefusal>;

    /// The device a login is for, where the platform holds one connection per device
    /// credential rather than per client id ([`crate::auth::Scheme::device_of`]); `None`
    /// where the client id is the identity.
    fn device_of(&self, _connect: &Connect) -> Option<String> {
        None
    }
}

/// Any `Fn(&Connect) -> Result<(), AuthRefusal>` is an authenticator.
impl<F> Authenticator for F
where
    F: Fn(&Connect) -> Result<(), AuthRefusal> + Send + Sync,
{
    fn check(&self, connect: &Connect) -> Result<(), AuthRefusal> {
        self(connect)
    }
}

/// A platform identity verifies credentials with its scheme (Tuya, Alibaba, OneNET,
/// Watson, plain): any failure answers 0x04 / 0x86 and names the scheme's rule ID.
impl Authenticator for crate::auth::Identity {
    fn check(&self, connect: &Connect) -> Result<(), AuthRefusal> {
        let presented = crate::auth::Presented::new(
            &connect.client_id,
            connect.username.as_deref(),
            connect.password.as_deref(),
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.verify(&presented, now)
            .map_err(|e| AuthRefusal::bad_credentials(e.to_string()).with_rule(e.rule_id()))
    }

    fn device_of(&self, connect: &Connect) -> Option<String> {
        crate::auth::Identity::device_of(
            self,
            &crate::auth::Presented::new(
                &connect.client_id,
                connect.username.as_deref(),
                connect.password.as_deref(),
            ),
        )
    }
}

/// Why an [`Authenticator`] refused a CONNECT, and how to answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRefusal {
    /// CONNACK return code for 3.1 / 3.1.1 (1–5).
    pub code_v3: u8,
    /// CONNACK reason code for 5.0 (0x80 and above).
    pub code_v5: u8,
    /// The rule the credentials break (e.g. `TUYA-AUTH-03`), when known.
    pub rule: Option<String>,
    /// Why, for the close event and the 5.0 Reason String (never a secret).
    pub reason: String,
}

impl AuthRefusal {
    /// 0x04 Bad user name or password / 0x86 Bad User Name or Password.
    pub fn bad_credentials(reason: impl Into<String>) -> Self {
        Self {
            code_v3: v3::BAD_USER_NAME_OR_PASSWORD,
            code_v5: code::BAD_USER_NAME_OR_PASSWORD,
            rule: None,
            reason: reason.into(),
        }
    }

    /// 0x05 Not authorized / 0x87 Not authorized.
    pub fn not_authorized(reason: impl Into<String>) -> Self {
        Self {
            code_v3: v3::NOT_AUTHORIZED,
            code_v5: code::NOT_AUTHORIZED,
            rule: None,
            reason: reason.into(),
        }
    }

    /// 0x02 Identifier rejected / 0x85 Client Identifier not valid.
    pub fn identifier_rejected(reason: impl Into<String>) -> Self {
        Self {
            code_v3: v3::IDENTIFIER_REJECTED,
            code_v5: code::CLIENT_IDENTIFIER_NOT_VALID,
            rule: None,
            reason: reason.into(),
        }
    }

    /// Sets the rule ID (builder style).
    pub fn with_rule(mut self, rule: impl Into<String>) -> Self {
        self.rule = Some(rule.into());
        self
    }

    /// `[RULE] reason`, or the reason alone.
    pub fn describe(&self) -> String {
        match &self.rule {
            Some(rule) if !self.reason.contains(rule.as_str()) => {
                format!("[{rule}] {}", self.reason)
            }
            _ => self.reason.clone(),
        }
    }
}

/// Deliberate misbehaviour, for testing how a device copes. All off by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Behaviour {
    /// Never answer PINGREQ.
    pub withhold_pingresp: bool,
    /// Never send the first acknowledgement of an inbound QoS 1 / QoS 2 PUBLISH (PUBACK,
    /// PUBREC); the message is still delivered.
    pub withhold_puback: bool,
    /// Register subscriptions but never send SUBACK.
    pub withhold_suback: bool,
    /// Answer every SUBSCRIBE filter with 0x80 and register nothing.
    pub reject_subscriptions: bool,
    /// Close each connection (no DISCONNECT; the Will is published) this long after its
    /// CONNACK.
    pub close_after: Option<Duration>,
    /// After a client's DISCONNECT, wait this long for the client to close the connection
    /// itself (MQTT-3.14.4-1 in 3.1.1, MQTT-3.14.4-2 in 5.0), reporting whatever it still
    /// sends, before closing it; `None` closes at once.
    pub await_client_close: Option<Duration>,
}

/// Resource limits that keep memory bounded whatever a peer does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// A connection that has not completed CONNECT (and TLS) by then is closed.
    pub connect_timeout: Duration,
    /// Messages queued per session (connected or not).
    pub session_queue: usize,
    /// Bytes queued across all sessions (topic, payload and 64 bytes of bookkeeping per
    /// copy).
    pub max_queued_bytes: usize,
    /// Unacknowledged outbound QoS 1/2 messages per connection.
    pub inflight_window: u16,
    /// Retained messages kept.
    pub max_retained: usize,
    /// Bytes of retained messages kept (counted like [`Limits::max_queued_bytes`]).
    pub max_retained_bytes: usize,
    /// Persistent sessions kept while their client is disconnected.
    pub max_offline_sessions: usize,
    /// Bytes waiting to be written to a client above which we stop reading from it.
    pub write_high_water: usize,
    /// Subscriptions one session may hold; more are refused (3.x 0x80, 5.0 0x97).
    pub max_subscriptions_per_session: usize,
    /// Subscriptions all sessions together may hold.
    pub max_subscriptions: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            session_queue: 1000,
            max_queued_bytes: 256 * 1024 * 1024,
            inflight_window: 32,
            max_retained: 10_000,
            max_retained_bytes: 64 * 1024 * 1024,
            max_offline_sessions: 10_000,
            write_high_water: 64 * 1024,
            max_subscriptions_per_session: 1000,
            max_subscriptions: 1_000_000,
        }
    }
}

/// How a [`Server`] behaves.
#[derive(Clone)]
pub struct ServerConfig {
    /// What the emulated platform accepts and how it reacts.
    pub profile: Profile,
    /// Values for `${param}` placeholders in the profile's topic patterns (e.g.
    /// `device_id`). `${client_id}` and `${username}` resolve per connection when not set.
    pub vars: Vars,
    /// Credential check; `None` accepts everyone.
    pub auth: Option<Arc<dyn Authenticator>>,
    /// TLS; `None` for plain TCP. See [`tls_config`].
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Largest packet accepted (fixed header included); larger ones close the connection
    /// (5.0: DISCONNECT 0x95 first).
    pub max_packet_size: usize,
    /// Deliberate misbehaviour.
    pub behaviour: Behaviour,
    /// Report events on [`ServerHandle::events`]; off, nothing is built or buffered.
    pub emit_events: bool,
    /// Events buffered before new ones are dropped (and counted).
    pub event_capacity: usize,
    /// Resource limits.
    pub limits: Limits,
    /// MQTT over WebSocket at this path (after TLS when `tls` is set).
    pub websocket: Option<String>,
}

impl ServerConfig {
    /// A server for `profile`, everything else at its default: no authentication, plain
    /// TCP, events on, and a maximum packet size of 1 MiB, raised when needed so that a
    /// PUBLISH just over the profile's `max_payload` still reaches the profile's reaction
    /// instead of the framing limit.
    pub fn new(profile: Profile) -> Self {
        let max_packet_size = match profile.max_payload {
            Some(cap) => (cap.saturating_add(128 * 1024)).max(1024 * 1024),
            None => 1024 * 1024,
        }
        .min(DEFAULT_MAX_PACKET_SIZE);
        Self {
            profile,
            vars: Vars::new(),
            auth: None,
            tls: None,
            max_packet_size,
            behaviour: Behaviour::default(),
            emit_events: true,
            event_capacity: 4096,
            limits: Limits::default(),
            websocket: None,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self::new(Profile::default())
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("profile", &self.profile)
            .field("vars", &self.vars)
            .field("auth", &self.auth.is_some())
            .field("tls", &self.tls.is_some())
            .field("max_packet_size", &self.max_packet_size)
            .field("behaviour", &self.behaviour)
            .field("emit_events", &self.emit_events)
            .field("event_capacity", &self.event_capacity)
            .field("limits", &self.limits)
            .finish()
    }
}

/// A TLS server configuration from a PEM certificate chain and a PEM private key (ring
/// provider, TLS 1.2 and 1.3, no client authentication).
pub fn tls_config(cert_pem: &Path, key_pem: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs = CertificateDer::pem_file_iter(cert_pem)
        .map_err(|e| format!("{}: {e}", cert_pem.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", cert_pem.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", cert_pem.display()));
    }
    let key =
        PrivateKeyDer::from_pem_file(key_pem).map_err(|e| format!("{}: {e}", key_pem.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| e.to_string())?;
    Ok(Arc::new(config))
}

/// Counters and sizes of a running server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections open now (TCP accepted, not yet closed).
    pub connections_open: u64,
    /// Connections accepted since the start.
    pub connections_total: u64,
    /// Packets received (malformed ones included).
    pub packets_in: u64,
    /// Packets sent.
    pub packets_out: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Sessions, connected or not.
    pub sessions: usize,
    /// Persistent sessions whose client is disconnected.
    pub sessions_offline: usize,
    /// Subscriptions across all sessions.
    pub subscriptions: usize,
    /// Retained messages stored.
    pub retained_messages: usize,
    /// Bytes of retained messages (topic, payload, 64 bytes of bookkeeping each).
    pub retained_bytes: usize,
    /// Messages waiting in session queues.
    pub queued_messages: usize,
    /// Bytes waiting in session queues (counted like [`Limits::max_queued_bytes`]).
    pub queued_bytes: usize,
    /// Message copies dropped because a queue or the byte budget was full, or because the
    /// client's Maximum Packet Size was too small.
    pub messages_dropped: u64,
    /// Events dropped because the event channel was full.
    pub events_dropped: u64,
    /// Capacity of all connections' read and write buffers together.
    pub buffer_bytes: usize,
}

/// Atomic counters shared by all connections.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connections_open: AtomicU64,
    pub(crate) connections_total: AtomicU64,
    pub(crate) packets_in: AtomicU64,
    pub(crate) packets_out: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) messages_dropped: AtomicU64,
    pub(crate) events_dropped: AtomicU64,
    pub(crate) buffer_bytes: AtomicUsize,
}

/// Everything the connection tasks share.
pub(crate) struct Shared {
    pub(crate) policy: state::Policy,
    pub(crate) auth: Option<Arc<dyn Authenticator>>,
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
    /// The WebSocket path devices reach MQTT at.
    pub(crate) websocket: Option<String>,
    events: Option<mpsc::Sender<Event>>,
    /// What event times count from, on tokio's clock (as every server timer and message
    /// expiry is): a paused clock moves them all alike.
    start: Instant,
    pub(crate) counters: Counters,
    pub(crate) state: Mutex<state::State>,
    next_conn: AtomicU64,
    all_closed: Notify,
    /// Connections with an accepted CONNECT, for [`ServerControl`].
    pub(crate) links: Mutex<std::collections::HashMap<u64, Arc<state::ConnCtl>>>,
    /// The connection each logged-in device holds, where the platform holds one connection
    /// per device credential (whatever the client id).
    pub(crate) devices: Mutex<std::collections::HashMap<String, u64>>,
    /// The CONNACK device tests want for a client id's next CONNECT.
    pub(crate) connack_plans: Mutex<std::collections::HashMap<String, ConnackPlan>>,
}

impl Shared {
    /// Whether anyone may still read events.
    pub(crate) fn events_on(&self) -> bool {
        self.events.as_ref().is_some_and(|tx| !tx.is_closed())
    }

    /// Reports an event; never waits (a full channel drops and counts it).
    pub(crate) fn emit(&self, conn: u64, from: Side, kind: EventKind) {
        let Some(tx) = &self.events else { return };
        let event = Event {
            conn,
            at: self.start.elapsed(),
            from,
            kind,
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(event) {
            self.counters.events_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Locks the broker state (a poisoned lock is still usable: every critical section
    /// leaves the state consistent before anything that can panic).
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, state::State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Acts on single connections of a running server: misbehave towards one device, drop
/// it, or deliver a message as the cloud. Every call is a no-op once the server is gone.
#[derive(Clone)]
pub struct ServerControl {
    shared: std::sync::Weak<Shared>,
}

impl fmt::Debug for ServerControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerControl").finish_non_exhaustive()
    }
}

impl ServerControl {
    fn link(&self, conn: u64) -> Option<Arc<state::ConnCtl>> {
        let shared = self.shared.upgrade()?;
        let links = shared.links.lock().unwrap_or_else(|e| e.into_inner());
        links.get(&conn).cloned()
    }

    /// Switches `m` on or off for connection `conn`; false when it is not connected.
    pub fn misbehave(&self, conn: u64, m: Misbehaviour, on: bool) -> bool {
        let Some(ctl) = self.link(conn) else {
            return false;
        };
        let bit = m.bit();
        if on {
            ctl.misbehaviour.fetch_or(bit, Ordering::Relaxed);
        } else {
            ctl.misbehaviour.fetch_and(!bit, Ordering::Relaxed);
        }
        true
    }

    /// Closes connection `conn` without DISCONNECT (its Will is published), as a cloud
    /// that loses a device; false when it is not connected.
    pub fn drop_connection(&self, conn: u64, detail: impl Into<String>) -> bool {
        let Some(ctl) = self.link(conn) else {
            return false;
        };
        ctl.kick(state::Kick::Drop(detail.into()));
        true
    }

    /// Answers the next CONNECTs of `client_id` with `plan` (`None`: the platform's own
    /// CONNACK again). The server then holds the connection to the limits it announced.
    pub fn plan_connack(&self, client_id: &str, plan: Option<ConnackPlan>) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let mut plans = shared
            .connack_plans
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match plan {
            Some(plan) => plans.insert(client_id.to_owned(), plan),
            None => plans.remove(client_id),
        };
    }

    /// Sends connection `conn` a 5.0 DISCONNECT with `reason` (nothing on a 3.x
    /// connection), then nothing more, and closes it if the client has not after
    /// `linger`; false when it is not connected.
    pub fn disconnect(&self, conn: u64, reason: u8, linger: Duration) -> bool {
        let Some(ctl) = self.link(conn) else {
            return false;
        };
        ctl.kick(state::Kick::Disconnect { reason, linger });
        true
    }

    /// Publishes a message as the cloud: routed to every matching subscription like any
    /// other, with the profile's downlink QoS. Fails on an invalid topic name or once the
    /// server is gone.
    pub fn publish(
        &self,
        topic: &str,
        payload: bytes::Bytes,
        qos: crate::codec::QoS,
        retain: bool,
    ) -> Result<(), String> {
        self.publish_message(topic, payload, qos, retain, false, Properties::new())
    }

    /// [`ServerControl::publish`] as a 5.0 request: with `response_topic` and, when given,
    /// `correlation` as Correlation Data (subscribers on 3.1.1 get the message without them).
    pub fn publish_request(
        &self,
        topic: &str,
        payload: bytes::Bytes,
        qos: crate::codec::QoS,
        response_topic: &str,
        correlation: Option<bytes::Bytes>,
    ) -> Result<(), String> {
        let mut properties = Properties::new().with(
            PropertyId::ResponseTopic,
            PropertyValue::String(response_topic.to_owned().into()),
        );
        if let Some(data) = correlation {
            properties = properties.with(PropertyId::CorrelationData, PropertyValue::Binary(data));
        }
        self.publish_message(topic, payload, qos, false, false, properties)
    }

    /// [`ServerControl::publish`] with a Topic Alias for every 5.0 client that allows one
    /// (the topic with the alias on the first message, the alias alone afterwards).
    pub fn publish_aliased(
        &self,
        topic: &str,
        payload: bytes::Bytes,
        qos: crate::codec::QoS,
    ) -> Result<(), String> {
        self.publish_message(topic, payload, qos, false, true, Properties::new())
    }

    fn publish_message(
        &self,
        topic: &str,
        payload: bytes::Bytes,
        qos: crate::codec::QoS,
        retain: bool,
        topic_alias: bool,
        properties: Properties,
    ) -> Result<(), String> {
        let shared = self
            .shared
            .upgrade()
            .ok_or_else(|| "the server has stopped".to_owned())?;
        crate::codec::topic::check_topic_name(topic)
            .map_err(|e| format!("cannot publish to `{topic}`: {}", e.message()))?;
        let msg = Arc::new(state::Message {
            topic: topic.to_owned(),
            payload,
            properties,
            expires_at: None,
            retain,
            topic_alias,
        });
        let ctx = state::RouteCtx {
            policy: &shared.policy,
            dropped: &shared.counters.messages_dropped,
        };
        let mut st = shared.lock();
        if retain && !st.retain(&msg, qos, &shared.policy.limits) {
            shared
                .counters
                .messages_dropped
                .fetch_add(1, Ordering::Relaxed);
        }
        st.route(msg, qos, None, &ctx);
        Ok(())
    }
}

/// The MQTT server.
#[derive(Debug)]
pub struct Server;

impl Server {
    /// Listens on `addr` (port 0 picks a free port) and starts accepting connections.
    ///
    /// Fails when the address cannot be bound or the configuration is unusable (an
    /// unknown protocol version in the profile, a topic pattern naming a variable that
    /// has no value).
    pub async fn bind(addr: SocketAddr, config: ServerConfig) -> io::Result<ServerHandle> {
        let policy = state::Policy::new(&config)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let (events, rx) = if config.emit_events {
            let (tx, rx) = mpsc::channel(config.event_capacity.max(1));
            (Some(tx), rx)
        } else {
            // A receiver whose sender is gone: `recv` returns `None` at once.
            let (_, rx) = mpsc::channel(1);
            (None, rx)
        };
        let shared = Arc::new(Shared {
            policy,
            auth: config.auth.clone(),
            tls: config.tls.clone().map(tokio_rustls::TlsAcceptor::from),
            websocket: config.websocket.clone(),
            events,
            start: Instant::now(),
            counters: Counters::default(),
            state: Mutex::new(state::State::default()),
            next_conn: AtomicU64::new(1),
            all_closed: Notify::new(),
            links: Mutex::new(std::collections::HashMap::new()),
            devices: Mutex::new(std::collections::HashMap::new()),
            connack_plans: Mutex::new(std::collections::HashMap::new()),
        });
        let (stop, stop_rx) = watch::channel(false);
        let accept = tokio::spawn(accept_loop(listener, shared.clone(), stop_rx));
        Ok(ServerHandle {
            local_addr,
            events: rx,
            shared,
            stop,
            accept: Some(accept),
        })
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            biased;
            _ = conn::stopped(&mut stop) => return,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true);
                    let endpoints = tcp.local_addr().ok().map(|server| crate::event::Endpoints {
                        client: peer,
                        server,
                    });
                    tokio::spawn(serve_connection(shared.clone(), tcp, endpoints, stop.clone()));
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
        }
    }
}

/// Numbers, counts and serves one connection until it closes.
async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    shared: Arc<Shared>,
    stream: S,
    endpoints: Option<crate::event::Endpoints>,
    stop: watch::Receiver<bool>,
) {
    let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    shared
        .counters
        .connections_open
        .fetch_add(1, Ordering::Relaxed);
    shared
        .counters
        .connections_total
        .fetch_add(1, Ordering::Relaxed);
    shared.emit(id, Side::Client, EventKind::opened(endpoints));
    conn::serve(&shared, stream, id, stop).await;
    if shared
        .counters
        .connections_open
        .fetch_sub(1, Ordering::AcqRel)
        == 1
    {
        shared.all_closed.notify_waiters();
    }
}

/// A running server. Dropping it stops the server like [`ServerHandle::shutdown`], without
/// waiting.
pub struct ServerHandle {
    /// The address the server listens on.
    pub local_addr: SocketAddr,
    events: mpsc::Receiver<Event>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    accept: Option<JoinHandle<()>>,
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The event stream: every open, close and packet of every connection. Always empty
    /// when events are off.
    pub fn events(&mut self) -> &mut mpsc::Receiver<Event> {
        &mut self.events
    }

    /// Stops accepting, closes every connection (5.0 clients get DISCONNECT 0x8B) and
    /// waits up to five seconds for them to finish.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let notified = self.shared.all_closed.notified();
            if self
                .shared
                .counters
                .connections_open
                .load(Ordering::Acquire)
                == 0
            {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }

    /// Serves one client over `stream` exactly as an accepted TCP connection (same
    /// numbering, events, limits and TLS), without endpoints; resolves when it closes. For
    /// clients that are not on a socket: in-memory pipes in tests and fuzzing.
    pub fn serve_stream<S>(&self, stream: S) -> impl Future<Output = ()> + Send + 'static
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        serve_connection(self.shared.clone(), stream, None, self.stop.subscribe())
    }

    /// Time since the server started: the clock its events' `at` count on.
    pub fn elapsed(&self) -> Duration {
        self.shared.start.elapsed()
    }

    /// A handle that changes how single connections behave while the server runs (what
    /// device tests use).
    pub fn control(&self) -> ServerControl {
        ServerControl {
            shared: Arc::downgrade(&self.shared),
        }
    }

    /// Counters and sizes now.
    pub fn stats(&self) -> ServerStats {
        let c = &self.shared.counters;
        let mut stats = ServerStats {
            connections_open: c.connections_open.load(Ordering::Relaxed),
            connections_total: c.connections_total.load(Ordering::Relaxed),
            packets_in: c.packets_in.load(Ordering::Relaxed),
            packets_out: c.packets_out.load(Ordering::Relaxed),
            bytes_in: c.bytes_in.load(Ordering::Relaxed),
            bytes_out: c.bytes_out.load(Ordering::Relaxed),
            messages_dropped: c.messages_dropped.load(Ordering::Relaxed),
            events_dropped: c.events_dropped.load(Ordering::Relaxed),
            buffer_bytes: c.buffer_bytes.load(Ordering::Relaxed),
            ..ServerStats::default()
        };
        self.shared.lock().fill_stats(&mut stats);
        stats
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
