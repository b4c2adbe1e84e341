//! Replaying one connection against the live target: the client's packets at their
//! offsets, each after the answers the recorded server had given by then.

use super::*;

/// What every connection task shares.
pub(super) struct Shared {
    pub(super) connector: Connector,
    pub(super) speed: f64,
    pub(super) window: Duration,
    pub(super) max_packet_size: usize,
    /// When the replay started.
    pub(super) base: Instant,
    /// The earliest replayed connection's recorded start.
    pub(super) first_start: Duration,
}

impl Shared {
    /// A recorded interval at the replay's speed.
    pub(super) fn scaled(&self, d: Duration) -> Duration {
        scale(d, self.speed)
    }
}

/// `d` divided by `speed`; zero for speed 0 or infinity.
pub(super) fn scale(d: Duration, speed: f64) -> Duration {
    if speed == 0.0 || !speed.is_finite() {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(d.as_secs_f64() / speed).unwrap_or(FAR)
}

/// `base + d`, saturating far in the future.
pub(super) fn later(base: Instant, d: Duration) -> Instant {
    base.checked_add(d)
        .or_else(|| base.checked_add(FAR))
        .unwrap_or(base)
}

pub(super) async fn open(shared: &Shared, plan: &Plan) -> Result<Conn, String> {
    Conn::open(
        &plan.name,
        plan.id,
        &shared.connector,
        Framer::new(shared.max_packet_size),
        plan.version,
        plan.keepalive,
    )
    .await
    .map_err(|e| e.to_string())
}

/// One live packet.
#[derive(Debug)]
pub(super) struct LivePacket {
    /// Its number among the live server's packets, from 1.
    pub(super) n: usize,
    pub(super) at: Instant,
    pub(super) bytes: Bytes,
    pub(super) packet: Result<Packet, DecodeError>,
}

/// The live side of one connection.
pub(super) struct Live {
    pub(super) conn: Conn,
    pub(super) name: String,
    pub(super) version: ProtocolVersion,
    /// When the connection was open (the replay's time zero for it).
    pub(super) opened: Instant,
    /// Live server packets; `None` once matched.
    pub(super) packets: Vec<Option<LivePacket>>,
    /// Index of the first unmatched live packet.
    pub(super) front: usize,
    pub(super) received: usize,
    pub(super) not_kept: usize,
    pub(super) keep: usize,
    pub(super) peer_closed: Option<(Instant, String)>,
    pub(super) our_close: Option<Instant>,
    /// The last packet sent or received.
    pub(super) last_activity: Instant,
    pub(super) last_send: Option<Instant>,
    pub(super) trace: Vec<TraceLine>,
    pub(super) trace_dropped: usize,
}

impl Live {
    pub(super) fn line(&mut self, at: Instant, direction: &str, text: String) {
        if self.trace.len() >= MAX_TRACE {
            self.trace_dropped += 1;
            return;
        }
        self.trace.push(TraceLine {
            at: at.saturating_duration_since(self.opened),
            conn: self.name.clone(),
            direction: direction.into(),
            text,
        });
    }

    /// Waits for one thing from the target until `deadline`: true when something came.
    async fn pump(&mut self, deadline: Instant) -> bool {
        if self.peer_closed.is_some() {
            return false;
        }
        match self.conn.next(deadline).await {
            Some(Incoming::Frame { at, bytes }) => {
                let packet = decode_packet(&bytes, self.version);
                self.line(at, "←", describe(&bytes, &packet, self.version));
                self.received += 1;
                self.last_activity = self.last_activity.max(at);
                if self.packets.len() - self.front < self.keep {
                    self.packets.push(Some(LivePacket {
                        n: self.received,
                        at,
                        bytes,
                        packet,
                    }));
                } else {
                    self.not_kept += 1;
                }
                true
            }
            Some(Incoming::Closed { at, detail }) => {
                self.line(at, "", format!("closed by the server ({detail})"));
                self.peer_closed = Some((at, detail));
                true
            }
            Some(Incoming::Unframeable { at, error }) => {
                let detail = format!("its byte stream cannot be framed: {error}");
                self.line(at, "", format!("server stream unframeable: {error}"));
                self.peer_closed = Some((at, detail));
                true
            }
            None => false,
        }
    }

    /// Reads what comes until `deadline` or the server's close.
    async fn idle_until(&mut self, deadline: Instant) {
        while self.pump(deadline).await {}
    }

    /// Sends one client packet; false when the connection cannot take it.
    async fn send(&mut self, bytes: &[u8], window: Duration) -> bool {
        let text = describe(
            bytes,
            &decode_packet(&Bytes::copy_from_slice(bytes), self.version),
            self.version,
        );
        // The time the bytes went out: an answer (even a close) may come back before the
        // write returns.
        let started = Instant::now();
        match tokio::time::timeout(window.max(Duration::from_secs(1)), self.conn.send(bytes)).await
        {
            Ok(Ok(_)) => {
                self.line(started, "→", text);
                self.last_send = Some(started);
                self.last_activity = self.last_activity.max(started);
                true
            }
            Ok(Err(e)) => {
                let now = Instant::now();
                self.line(now, "", format!("send failed: {e}"));
                if self.peer_closed.is_none() {
                    self.peer_closed = Some((now, format!("sending failed: {e}")));
                }
                false
            }
            Err(_) => {
                let now = Instant::now();
                self.line(now, "", "send timed out: the target reads nothing".into());
                if self.peer_closed.is_none() {
                    self.peer_closed =
                        Some((now, "the target stopped reading (send timed out)".into()));
                }
                false
            }
        }
    }

    /// Closes our side.
    async fn close(&mut self) {
        if self.our_close.is_none() {
            self.conn.shutdown().await;
            let now = Instant::now();
            self.line(now, "", "closed by the client (replay)".into());
            self.our_close = Some(now);
        }
    }

    /// Seconds since the connection opened.
    pub(super) fn rel(&self, at: Instant) -> String {
        secs(at.saturating_duration_since(self.opened))
    }

    /// The first unmatched live packet that matches `r` exactly, within the scan.
    pub(super) fn find(
        &self,
        r: &RecServer,
        ids: &HashMap<u16, u16>,
        exact: bool,
    ) -> Option<usize> {
        self.packets[self.front..]
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().map(|p| (self.front + i, p)))
            .take(MATCH_SCAN)
            .find(|(_, l)| {
                if exact {
                    same_identity(r, l, ids)
                } else {
                    same_type(&r.bytes, &r.packet, &l.bytes, &l.packet)
                }
            })
            .map(|(i, _)| i)
    }

    /// The oldest unmatched live packet, when it is of `r`'s kind.
    pub(super) fn front_counterpart(&self, r: &RecServer) -> Option<usize> {
        let (i, l) = self.packets[self.front..]
            .iter()
            .enumerate()
            .find_map(|(i, p)| p.as_ref().map(|p| (self.front + i, p)))?;
        if !same_type(&r.bytes, &r.packet, &l.bytes, &l.packet) {
            return None;
        }
        let counterpart = match (&r.packet, &l.packet) {
            // Acknowledgements are matched by identifier only.
            (Ok(p), _) if has_id(p) => false,
            (Ok(Packet::Publish(a)), Ok(Packet::Publish(b))) => a.topic == b.topic,
            _ => true,
        };
        counterpart.then_some(i)
    }

    pub(super) fn take(&mut self, i: usize) -> Option<LivePacket> {
        let p = self.packets.get_mut(i)?.take();
        while self.front < self.packets.len() && self.packets[self.front].is_none() {
            self.front += 1;
        }
        p
    }
}

/// A recorded server packet.
pub(super) struct RecServer {
    /// Its number among the recorded server packets, from 1.
    pub(super) n: usize,
    pub(super) at: Duration,
    pub(super) bytes: Bytes,
    pub(super) packet: Result<Packet, DecodeError>,
}

pub(super) fn has_id(p: &Packet) -> bool {
    matches!(
        p,
        Packet::PubAck(_)
            | Packet::PubRec(_)
            | Packet::PubRel(_)
            | Packet::PubComp(_)
            | Packet::SubAck(_)
            | Packet::UnsubAck(_)
    )
}

pub(super) fn same_type(
    rb: &[u8],
    r: &Result<Packet, DecodeError>,
    lb: &[u8],
    l: &Result<Packet, DecodeError>,
) -> bool {
    let rt = packet_type_of(rb, r);
    rt.is_some() && rt == packet_type_of(lb, l)
}

/// The live packet is the recorded one's counterpart: same type and, for acknowledgements,
/// the same (mapped) identifier; for PUBLISH the same topic, payload, QoS and retain.
pub(super) fn same_identity(r: &RecServer, l: &LivePacket, ids: &HashMap<u16, u16>) -> bool {
    match (&r.packet, &l.packet) {
        (Ok(Packet::Publish(a)), Ok(Packet::Publish(b))) => {
            a.topic == b.topic && a.payload == b.payload && a.qos == b.qos && a.retain == b.retain
        }
        (Ok(Packet::PubRel(a)), Ok(Packet::PubRel(b))) => {
            ids.get(&a.packet_id).copied().unwrap_or(a.packet_id) == b.packet_id
        }
        (Ok(Packet::PubAck(a)), Ok(Packet::PubAck(b)))
        | (Ok(Packet::PubRec(a)), Ok(Packet::PubRec(b)))
        | (Ok(Packet::PubComp(a)), Ok(Packet::PubComp(b))) => a.packet_id == b.packet_id,
        (Ok(Packet::SubAck(a)), Ok(Packet::SubAck(b))) => a.packet_id == b.packet_id,
        (Ok(Packet::UnsubAck(a)), Ok(Packet::UnsubAck(b))) => a.packet_id == b.packet_id,
        (Ok(p), _) if has_id(p) => false,
        _ => same_type(&r.bytes, &r.packet, &l.bytes, &l.packet),
    }
}

/// What one connection's replay found.
#[derive(Default)]
pub(super) struct Outcome {
    pub(super) differences: Vec<String>,
    pub(super) matched: usize,
    pub(super) recorded_server: usize,
    pub(super) sent: usize,
    pub(super) client_total: usize,
    /// (recorded, live) delays between a client packet and the server packet answering it.
    pub(super) delays: Vec<(Duration, Duration)>,
    pub(super) order_changed: usize,
    /// The first client packet not sent because the target had closed.
    pub(super) unsent: Option<(usize, String)>,
    /// The difference saying the live connection closed where the recording goes on
    /// (its index), and how many more recorded server packets it stands for.
    pub(super) missing_after_close: Option<(usize, usize)>,
}

pub(super) async fn run_connection(
    shared: Arc<Shared>,
    semaphore: Arc<Semaphore>,
    plan: Plan,
    pre: Option<(Conn, OwnedSemaphorePermit)>,
) -> SuiteReport {
    let scheduled = later(
        shared.base,
        shared.scaled(plan.start.saturating_sub(shared.first_start)),
    );
    let (conn, _permit) = match pre {
        Some(pre) => pre,
        None => {
            tokio::time::sleep_until(scheduled).await;
            let permit = match semaphore.acquire_owned().await {
                Ok(p) => p,
                Err(e) => return error_group(&plan, format!("replay scheduling: {e}")),
            };
            match open(&shared, &plan).await {
                Ok(c) => (c, permit),
                Err(e) => {
                    return error_group(&plan, format!("cannot connect to the target: {e}"));
                }
            }
        }
    };
    let opened = Instant::now();
    let late = opened.saturating_duration_since(scheduled);
    let mut properties = plan.properties.clone();
    if let Some(e) = conn.endpoints {
        properties.push(("live".into(), format!("{} → {}", e.client, e.server)));
    }
    let server_total = plan.items.iter().filter(|i| i.from == Side::Server).count();
    let mut live = Live {
        conn,
        name: plan.name.clone(),
        version: plan.version,
        opened,
        packets: Vec::new(),
        front: 0,
        received: 0,
        not_kept: 0,
        keep: server_total + EXTRA_LIVE_KEPT,
        peer_closed: None,
        our_close: None,
        last_activity: opened,
        last_send: None,
        trace: Vec::new(),
        trace_dropped: 0,
    };
    let sched = |at: Duration| later(opened, shared.scaled(at.saturating_sub(plan.start)));
    let window = shared.window;
    let mut out = Outcome {
        recorded_server: server_total,
        client_total: plan.items.len() - server_total,
        ..Outcome::default()
    };
    // Recorded server packet identifiers → the live server's.
    let mut ids: HashMap<u16, u16> = HashMap::new();
    let mut last_client_rec: Option<Duration> = None;
    let mut disconnect_sent: Option<Instant> = None;
    let mut server_n = 0;
    let mut client_n = 0;
    let mut last_matched_n = 0;
    for item in &plan.items {
        match item.from {
            Side::Server => {
                server_n += 1;
                let r = RecServer {
                    n: server_n,
                    at: item.at,
                    packet: decode_packet(&item.bytes, plan.version),
                    bytes: item.bytes.clone(),
                };
                let base = live.last_send.unwrap_or(opened).max(sched(r.at));
                let deadline = later(base, window);
                let waited_from = Instant::now();
                let received_before = live.received;
                let found = loop {
                    if let Some(i) = live.find(&r, &ids, true) {
                        break Some(i);
                    }
                    if let Some(i) = live.front_counterpart(&r) {
                        break Some(i);
                    }
                    if !live.pump(deadline).await {
                        break live.find(&r, &ids, false);
                    }
                };
                match found.and_then(|i| live.take(i)) {
                    Some(l) => {
                        out.matched += 1;
                        if l.n < last_matched_n {
                            out.order_changed += 1;
                        }
                        last_matched_n = last_matched_n.max(l.n);
                        learn_ids(&r.packet, &l.packet, &mut ids);
                        out.differences.extend(compare(&r, &l, &ids, plan.version));
                        if let (Some(c), Some(s)) = (last_client_rec, live.last_send) {
                            out.delays
                                .push((r.at.saturating_sub(c), l.at.saturating_duration_since(s)));
                        }
                    }
                    None => {
                        let what = short(&r.bytes, &r.packet, plan.version);
                        if live.peer_closed.is_some() && out.missing_after_close.is_some() {
                            // One difference for everything the closed connection lacks.
                            out.missing_after_close =
                                out.missing_after_close.map(|(i, n)| (i, n + 1));
                            continue;
                        }
                        let message = match &live.peer_closed {
                            Some((at, detail)) => format!(
                                "live closed the connection ({detail}) at {} where the recording has {what} (server packet {})",
                                live.rel(*at),
                                r.n
                            ),
                            None if live.received == received_before => format!(
                                "live sent nothing within {} where the recording has {what} (server packet {})",
                                secs(deadline.saturating_duration_since(waited_from)),
                                r.n
                            ),
                            None => format!(
                                "live sent no {what} within {} (server packet {}); it sent other packets",
                                secs(deadline.saturating_duration_since(waited_from)),
                                r.n
                            ),
                        };
                        if live.peer_closed.is_some() {
                            out.missing_after_close = Some((out.differences.len(), 0));
                        }
                        out.differences.push(message);
                    }
                }
            }
            Side::Client => {
                client_n += 1;
                if live.peer_closed.is_some() {
                    if out.unsent.is_none() {
                        let p = decode_packet(&item.bytes, plan.version);
                        out.unsent = Some((client_n, short(&item.bytes, &p, plan.version)));
                    }
                    continue;
                }
                live.idle_until(sched(item.at)).await;
                if live.peer_closed.is_some() {
                    let p = decode_packet(&item.bytes, plan.version);
                    out.unsent = Some((client_n, short(&item.bytes, &p, plan.version)));
                    continue;
                }
                let bytes = remap_ack(&item.bytes, &ids);
                if live.send(&bytes, window).await {
                    out.sent += 1;
                    last_client_rec = Some(item.at);
                    if bytes.first().map(|b| b >> 4) == Some(14) {
                        disconnect_sent = live.last_send;
                    }
                } else if out.unsent.is_none() {
                    let p = decode_packet(&item.bytes, plan.version);
                    out.unsent = Some((client_n, short(&item.bytes, &p, plan.version)));
                }
            }
        }
    }

    // The end of the connection.
    match &plan.end {
        // Server timers run in real time: the recorded delay is not scaled.
        RecEnd::Server { since, .. } => {
            let deadline = later(live.last_activity, *since + close_tolerance(*since, window));
            live.idle_until(deadline).await;
        }
        RecEnd::AfterDisconnect {
            by: Some(Side::Server),
            since,
            ..
        } => {
            let deadline = later(live.last_activity, *since + window);
            live.idle_until(deadline).await;
        }
        RecEnd::AfterDisconnect { at, .. }
        | RecEnd::Client { at, .. }
        | RecEnd::Open { at, .. } => {
            live.idle_until(sched(*at)).await;
        }
    }
    let peer_first = live.peer_closed.clone();
    let last_before_close = live.last_activity;
    if live.peer_closed.is_none() {
        live.close().await;
        // The server's answer to our close, and anything it still sends.
        let deadline = later(Instant::now(), window);
        live.idle_until(deadline).await;
    }
    let close = judge_close(
        &plan.end,
        peer_first.as_ref(),
        disconnect_sent,
        last_before_close,
        &out.unsent,
        &live,
        window,
    );

    if let Some((i, more)) = out.missing_after_close.filter(|(_, more)| *more > 0) {
        if let Some(d) = out.differences.get_mut(i) {
            d.push_str(&format!(
                " and {more} more recorded server packet(s) after it"
            ));
        }
    }
    // Live packets nothing recorded matched.
    for l in live.packets.iter().flatten() {
        out.differences.push(format!(
            "live sent {} which the recording does not have (live packet {})",
            short(&l.bytes, &l.packet, plan.version),
            l.n
        ));
    }
    if live.not_kept > 0 {
        out.differences.push(format!(
            "live sent {} more packet(s) beyond what the replay keeps",
            live.not_kept
        ));
    }
    let duration = opened.elapsed();
    let responses = responses_case(&plan, &shared, &out, &live, late, duration);
    let mut trace = std::mem::take(&mut live.trace);
    if live.trace_dropped > 0 {
        trace.push(TraceLine {
            at: duration,
            conn: plan.name.clone(),
            direction: String::new(),
            text: format!("… {} more trace line(s) not kept", live.trace_dropped),
        });
    }
    let mut responses = responses;
    responses.trace = trace;
    let close_case = CaseReport {
        id: "REPLAY-CLOSE".into(),
        title: "the live connection ends as the recorded one did".into(),
        cites: Vec::new(),
        verdict: close.0,
        branch: None,
        measured: Some(close.1),
        duration,
        trace: Vec::new(),
        timing: None,
    };
    drop(live);
    SuiteReport {
        name: plan.name,
        classname: CLASSNAME.into(),
        properties,
        cases: vec![responses, close_case],
        duration,
    }
}
