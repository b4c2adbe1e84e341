//! Broker state shared by all connections: sessions, subscriptions, the retained store,
//! and the routing of messages into session queues.

use super::acl::Acl;
use super::subs::{SubEntry, SubTree};
use super::{Behaviour, Limits, ServerConfig, ServerStats};
use crate::codec::topic::matches;
use crate::codec::{Properties, PropertyId, ProtocolVersion, QoS};
pub(super) use crate::suite::device_tests::Misbehaviour;
use crate::suite::profile::Profile;
use bytes::Bytes;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

/// The configuration, compiled once at bind time.
#[derive(Debug)]
pub(crate) struct Policy {
    pub(crate) profile: Profile,
    /// Accepted versions; empty accepts all.
    pub(crate) protocols: Vec<ProtocolVersion>,
    pub(crate) acl: Acl,
    pub(crate) replies: super::replies::Replies,
    /// The profile's `auto_subscribe` filters, compiled.
    pub(crate) auto_subscribe: Vec<super::acl::Pattern>,
    pub(crate) max_qos: QoS,
    pub(crate) max_granted_qos: QoS,
    pub(crate) downlink_qos: Option<QoS>,
    pub(crate) behaviour: Behaviour,
    pub(crate) limits: Limits,
    pub(crate) max_packet_size: usize,
    pub(crate) keepalive_factor: f64,
}

fn qos(n: u8) -> QoS {
    QoS::from_u8(n.min(2)).unwrap_or(QoS::ExactlyOnce)
}

impl Policy {
    pub(crate) fn new(config: &ServerConfig) -> Result<Self, String> {
        let profile = config.profile.clone();
        let protocols = profile
            .protocols
            .iter()
            .map(|p| p.parse::<ProtocolVersion>())
            .collect::<Result<Vec<_>, _>>()?;
        let acl = Acl::new(&profile.topics, &config.vars)?;
        let replies = super::replies::Replies::new(&profile.replies, &config.vars)?;
        let auto_subscribe = profile
            .auto_subscribe
            .iter()
            .flat_map(|a| &a.filters)
            .map(|f| super::acl::Pattern::compile(f, &config.vars))
            .collect::<Result<_, _>>()?;
        let max_qos = qos(profile.max_qos);
        let factor = profile.keepalive.server_timeout;
        Ok(Self {
            protocols,
            acl,
            replies,
            auto_subscribe,
            max_qos,
            max_granted_qos: profile.max_granted_qos.map_or(max_qos, qos).min(max_qos),
            downlink_qos: profile.downlink_qos.map(qos),
            behaviour: config.behaviour.clone(),
            limits: config.limits.clone(),
            max_packet_size: config.max_packet_size.max(2),
            keepalive_factor: if factor.is_finite() && factor > 0.0 {
                factor
            } else {
                1.5
            },
            profile,
        })
    }
}

/// Bytes charged per queued or retained copy besides topic and payload.
pub(crate) const COPY_OVERHEAD: usize = 64;

/// An application message as routed: shared by every copy.
#[derive(Debug)]
pub(crate) struct Message {
    pub(crate) topic: String,
    /// Owned bytes (copied out of the read buffer so a small message never pins it).
    pub(crate) payload: Bytes,
    /// The 5.0 properties forwarded to subscribers.
    pub(crate) properties: Properties,
    /// From a 5.0 Message Expiry Interval, on tokio's clock like the server's timers.
    pub(crate) expires_at: Option<Instant>,
    /// The RETAIN flag it was published with (for Retain As Published).
    pub(crate) retain: bool,
    /// Delivered with a Topic Alias where the receiving client allows one (5.0): the
    /// topic once with the alias, then the alias alone.
    pub(crate) topic_alias: bool,
}

impl Message {
    /// Bytes charged to queue and retained budgets: topic, payload and a fixed overhead
    /// for the bookkeeping of each copy (so that even empty messages are bounded).
    pub(crate) fn cost(&self) -> usize {
        self.topic.len() + self.payload.len() + COPY_OVERHEAD
    }

    pub(crate) fn expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

/// Keeps the properties a server forwards (MQTT-3.3.2-*): not the Topic Alias, not the
/// publisher's Subscription Identifiers.
pub(crate) fn forwarded_properties(props: &Properties) -> (Properties, Option<Instant>) {
    let expires_at = props
        .get_int(PropertyId::MessageExpiryInterval)
        .map(|s| Instant::now() + Duration::from_secs(u64::from(s)));
    let kept = props
        .0
        .iter()
        .filter(|p| {
            matches!(
                p.id,
                PropertyId::PayloadFormatIndicator
                    | PropertyId::ContentType
                    | PropertyId::ResponseTopic
                    | PropertyId::CorrelationData
                    | PropertyId::UserProperty
            )
        })
        .cloned()
        .collect();
    (Properties(kept), expires_at)
}

/// One copy of a message for one session.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub(crate) msg: Arc<Message>,
    pub(crate) qos: QoS,
    pub(crate) retain: bool,
    pub(crate) sub_ids: Vec<u32>,
}

/// Where an unacknowledged outbound message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// QoS 1 PUBLISH sent; PUBACK awaited.
    Qos1Sent,
    /// QoS 2 PUBLISH sent; PUBREC awaited.
    Qos2Sent,
    /// PUBREL sent; PUBCOMP awaited.
    Released,
}

/// An unacknowledged outbound message.
#[derive(Debug, Clone)]
pub(crate) struct Inflight {
    pub(crate) pid: u16,
    pub(crate) delivery: Delivery,
    pub(crate) stage: Stage,
}

/// Protocol state a persistent session keeps while its client is away.
#[derive(Debug, Default)]
pub(crate) struct Carried {
    pub(crate) inflight: VecDeque<Inflight>,
    pub(crate) next_pid: u16,
    /// Inbound QoS 2 packet identifiers awaiting PUBREL.
    pub(crate) awaiting_rel: HashSet<u16>,
}

/// When a session ends after its connection closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// With the connection (clean session, 5.0 expiry 0).
    AtClose,
    /// This long after the connection closes (5.0).
    After(Duration),
    /// Never (3.x Clean Session 0, 5.0 0xFFFFFFFF).
    Never,
}

/// Why a connection is told to go.
#[derive(Debug)]
pub(crate) enum Kick {
    /// Another connection with the same client id; signal when the session is released.
    TakenOver(Option<oneshot::Sender<()>>),
    /// Its queue overflowed with QoS 1/2 messages.
    TooSlow,
    /// The harness drops it on purpose (a device test): close without DISCONNECT.
    Drop(String),
    /// The harness sends a 5.0 DISCONNECT with this Reason Code (a device test), then
    /// sends nothing more and waits up to `linger` for the client to close.
    Disconnect {
        /// The Reason Code.
        reason: u8,
        /// Longest wait for the client's close.
        linger: Duration,
    },
}

/// How the rest of the server reaches a connection.
#[derive(Debug, Default)]
pub(crate) struct ConnCtl {
    /// New messages in the session queue.
    pub(crate) wake: Notify,
    /// Go away; the reason is in `reason`.
    pub(crate) kick: Notify,
    pub(crate) reason: Mutex<Option<Kick>>,
    /// Misbehaviours switched on for this connection alone (bits of [`Misbehaviour`]).
    pub(crate) misbehaviour: std::sync::atomic::AtomicU8,
}

impl ConnCtl {
    pub(crate) fn kick(&self, kick: Kick) {
        let mut reason = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        // A take-over outranks "too slow": its waiter must be told.
        if !matches!(*reason, Some(Kick::TakenOver(_))) || matches!(kick, Kick::TakenOver(_)) {
            *reason = Some(kick);
        }
        drop(reason);
        self.kick.notify_one();
    }

    /// Whether `m` is switched on for this connection.
    pub(crate) fn misbehaves(&self, m: Misbehaviour) -> bool {
        self.misbehaviour.load(std::sync::atomic::Ordering::Relaxed) & m.bit() != 0
    }

    pub(crate) fn take_reason(&self) -> Option<Kick> {
        self.reason.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// The connection a session is attached to.
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) conn: u64,
    pub(crate) ctl: Arc<ConnCtl>,
}

/// One session.
#[derive(Debug)]
pub(crate) struct Session {
    /// Filter → options (mirrors the tree, for UNSUBSCRIBE and clean-up).
    pub(crate) subs: HashMap<String, SubEntry>,
    pub(crate) queue: VecDeque<Delivery>,
    pub(crate) link: Option<Link>,
    pub(crate) expiry: Expiry,
    /// The connection that last owned it.
    pub(crate) generation: u64,
    pub(crate) carried: Carried,
}

impl Session {
    pub(crate) fn new(generation: u64, expiry: Expiry) -> Self {
        Self {
            subs: HashMap::new(),
            queue: VecDeque::new(),
            link: None,
            expiry,
            generation,
            carried: Carried::default(),
        }
    }
}

/// A retained message.
#[derive(Debug)]
pub(crate) struct Retained {
    pub(crate) msg: Arc<Message>,
    pub(crate) qos: QoS,
}

/// All broker state, behind one mutex (critical sections are short and never await).
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) sessions: HashMap<Arc<str>, Session>,
    pub(crate) subs: SubTree,
    retained: HashMap<String, Retained>,
    retained_bytes: usize,
    queued_messages: usize,
    queued_bytes: usize,
    /// Persistent sessions that went offline, oldest first (entries may be stale).
    offline_order: VecDeque<(Arc<str>, u64)>,
    offline: usize,
}

/// What routing needs besides the state.
pub(crate) struct RouteCtx<'a> {
    pub(crate) policy: &'a Policy,
    pub(crate) dropped: &'a std::sync::atomic::AtomicU64,
}

impl State {
    pub(crate) fn fill_stats(&self, stats: &mut ServerStats) {
        stats.sessions = self.sessions.len();
        stats.sessions_offline = self.offline;
        stats.subscriptions = self.subs.len();
        stats.retained_messages = self.retained.len();
        stats.retained_bytes = self.retained_bytes;
        stats.queued_messages = self.queued_messages;
        stats.queued_bytes = self.queued_bytes;
    }

    /// Removes a session with its subscriptions and queue.
    pub(crate) fn remove_session(&mut self, key: &str) {
        let Some(session) = self.sessions.remove(key) else {
            return;
        };
        for filter in session.subs.keys() {
            self.subs.remove(filter, key);
        }
        self.unqueue_all(&session.queue);
        if session.link.is_none() && session.expiry != Expiry::AtClose {
            self.offline = self.offline.saturating_sub(1);
        }
    }

    fn unqueue_all(&mut self, queue: &VecDeque<Delivery>) {
        self.queued_messages -= queue.len();
        self.queued_bytes -= queue.iter().map(|d| d.msg.cost()).sum::<usize>();
    }

    /// Attaches a connection to the (offline) session `key`.
    pub(crate) fn attach(&mut self, key: &Arc<str>, link: Link) -> Option<&mut Session> {
        let session = self.sessions.get_mut(key)?;
        if session.link.is_none() && session.expiry != Expiry::AtClose {
            self.offline = self.offline.saturating_sub(1);
        }
        session.generation = link.conn;
        session.link = Some(link);
        Some(session)
    }

    /// Detaches connection `conn` from session `key`: a non-persistent session ends, a
    /// persistent one keeps `carried` and counts as offline. Returns the session's
    /// expiry when it stays.
    pub(crate) fn detach(
        &mut self,
        key: &Arc<str>,
        conn: u64,
        expiry: Expiry,
        carried: Carried,
        limits: &Limits,
    ) -> Option<Expiry> {
        let session = self.sessions.get_mut(key)?;
        if session.link.as_ref().is_none_or(|l| l.conn != conn) {
            return None;
        }
        session.link = None;
        session.expiry = expiry;
        if expiry == Expiry::AtClose {
            self.remove_session(key);
            return None;
        }
        session.carried = carried;
        self.offline += 1;
        self.offline_order.push_back((key.clone(), conn));
        self.evict_offline(limits.max_offline_sessions);
        Some(expiry)
    }

    /// Drops the offline sessions that went offline first while there are too many.
    fn evict_offline(&mut self, max: usize) {
        while self.offline > max {
            let Some((key, generation)) = self.offline_order.pop_front() else {
                break;
            };
            let stale = self
                .sessions
                .get(&key)
                .is_none_or(|s| s.link.is_some() || s.generation != generation);
            if !stale {
                self.remove_session(&key);
            }
        }
        // Stale entries pile up when clients reconnect; drop them now and then.
        if self.offline_order.len() > 2 * max.max(self.offline).max(64) {
            let sessions = &self.sessions;
            self.offline_order.retain(|(key, generation)| {
                sessions
                    .get(key)
                    .is_some_and(|s| s.link.is_none() && s.generation == *generation)
            });
        }
    }

    /// Ends session `key` if it is still the offline session of `generation`.
    pub(crate) fn expire(&mut self, key: &str, generation: u64) {
        if self
            .sessions
            .get(key)
            .is_some_and(|s| s.link.is_none() && s.generation == generation)
        {
            self.remove_session(key);
        }
    }

    /// Takes up to `max` deliveries for connection `conn` from the front of its session
    /// queue, at most `window` of them QoS 1/2. Returns them and whether more wait.
    pub(crate) fn pop_for(
        &mut self,
        key: &str,
        conn: u64,
        mut window: usize,
        max: usize,
    ) -> (Vec<Delivery>, PopState) {
        let Some(session) = self.sessions.get_mut(key) else {
            return (Vec::new(), PopState::Empty);
        };
        if session.generation != conn {
            return (Vec::new(), PopState::Empty);
        }
        let mut out = Vec::new();
        let state = loop {
            let Some(front) = session.queue.front() else {
                break PopState::Empty;
            };
            if out.len() >= max {
                break PopState::More;
            }
            if front.qos != QoS::AtMostOnce {
                if window == 0 {
                    break PopState::WindowFull;
                }
                window -= 1;
            }
            if let Some(d) = session.queue.pop_front() {
                self.queued_messages -= 1;
                self.queued_bytes -= d.msg.cost();
                out.push(d);
            }
        };
        (out, state)
    }

    /// Puts `d` in session `key`'s queue, or drops it when the queue or the byte budget is
    /// full (a routed QoS 1/2 drop also disconnects a connected, too slow subscriber).
    pub(crate) fn enqueue(&mut self, key: &str, d: Delivery, ctx: &RouteCtx<'_>, bound: Bound) {
        let Some(session) = self.sessions.get_mut(key) else {
            return;
        };
        let limits = &ctx.policy.limits;
        // Retained messages sent at subscribe time may fill a queue as large as the
        // retained store (a `#` subscription gets them all), but no larger.
        let max = match bound {
            Bound::Routed => limits.session_queue,
            Bound::Retained => limits.session_queue + limits.max_retained,
        };
        if session.queue.len() >= max || self.queued_bytes + d.msg.cost() > limits.max_queued_bytes
        {
            ctx.dropped.fetch_add(1, Ordering::Relaxed);
            if d.qos != QoS::AtMostOnce && bound == Bound::Routed {
                if let Some(link) = &session.link {
                    link.ctl.kick(Kick::TooSlow);
                }
            }
            return;
        }
        self.queued_messages += 1;
        self.queued_bytes += d.msg.cost();
        session.queue.push_back(d);
        if let Some(link) = &session.link {
            link.ctl.wake.notify_one();
        }
    }

    /// Routes a message published at `qos` to every matching subscription.
    /// `publisher` is the publishing session (for No Local).
    pub(crate) fn route(
        &mut self,
        msg: Arc<Message>,
        qos: QoS,
        publisher: Option<&str>,
        ctx: &RouteCtx<'_>,
    ) {
        struct Target {
            qos: QoS,
            retain_as_published: bool,
            ids: Vec<u32>,
        }
        let mut targets: HashMap<Arc<str>, Target> = HashMap::new();
        self.subs.for_each_match(&msg.topic, &mut |key, entry| {
            if entry.no_local && publisher == Some(&**key) {
                return;
            }
            let t = targets.entry(key.clone()).or_insert(Target {
                qos: QoS::AtMostOnce,
                retain_as_published: false,
                ids: Vec::new(),
            });
            // One copy per client at the highest matching QoS (MQTT-3.3.5-1).
            t.qos = t.qos.max(entry.qos);
            t.retain_as_published |= entry.retain_as_published;
            t.ids.extend(entry.id);
        });
        for (key, t) in targets {
            let d = Delivery {
                qos: ctx.policy.downlink_qos.unwrap_or(qos.min(t.qos)),
                // MQTT-3.3.1-9: RETAIN 0 to established subscriptions, unless 5.0
                // Retain As Published.
                retain: t.retain_as_published && msg.retain,
                sub_ids: t.ids,
                msg: msg.clone(),
            };
            self.enqueue(&key, d, ctx, Bound::Routed);
        }
    }

    /// Stores (or, with an empty payload, deletes) the retained message of a topic.
    /// Returns false when the store is full.
    pub(crate) fn retain(&mut self, msg: &Arc<Message>, qos: QoS, limits: &Limits) -> bool {
        if let Some(old) = self.retained.remove(&msg.topic) {
            self.retained_bytes -= old.msg.cost();
        }
        // MQTT-3.3.1-10/11: an empty retained message deletes and is not stored.
        if msg.payload.is_empty() {
            return true;
        }
        if self.retained.len() >= limits.max_retained
            || self.retained_bytes + msg.cost() > limits.max_retained_bytes
        {
            return false;
        }
        self.retained_bytes += msg.cost();
        self.retained.insert(
            msg.topic.clone(),
            Retained {
                msg: msg.clone(),
                qos,
            },
        );
        true
    }

    /// Retained messages matching `filter`, expired ones removed on the way.
    pub(crate) fn retained_matching(&mut self, filter: &str) -> Vec<(Arc<Message>, QoS)> {
        let now = Instant::now();
        let mut expired = Vec::new();
        let mut out = Vec::new();
        for (topic, r) in &self.retained {
            if r.msg.expired(now) {
                expired.push(topic.clone());
            } else if matches(filter, topic) {
                out.push((r.msg.clone(), r.qos));
            }
        }
        for topic in expired {
            if let Some(old) = self.retained.remove(&topic) {
                self.retained_bytes -= old.msg.cost();
            }
        }
        out
    }
}

/// Which queue bound applies to a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bound {
    /// A routed message: [`Limits::session_queue`].
    Routed,
    /// A retained message sent because of a new subscription.
    Retained,
}

/// Why [`State::pop_for`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PopState {
    /// The queue is empty.
    Empty,
    /// The next message is QoS 1/2 and the window is full.
    WindowFull,
    /// The batch is full; more wait.
    More,
}
