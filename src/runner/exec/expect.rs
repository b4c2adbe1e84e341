//! `expect` steps: waiting for packets, closes and silences within a window, `any_of`
//! alternatives, granted QoS, and the timing of what was measured.

use super::*;
use crate::report::Timing;

impl TestRun {
    pub(super) async fn expect(&mut self, def: &ExpectDef) -> StepResult {
        if let Some(wanted) = &def.subprotocol {
            return self.expect_subprotocol(&conn_name(&def.conn), wanted);
        }
        let mut held_back = Vec::new();
        let result = self.expect_now(def, &mut held_back).await;
        if let Some(board) = &self.ctx.progress {
            board.waiting(self.index, None);
        }
        if !held_back.is_empty() {
            let held = self.held.entry(conn_name(&def.conn)).or_default();
            for seen in held_back.into_iter().rev() {
                held.push_front(seen);
            }
        }
        result
    }

    /// The subprotocol the server selected in connection `name`'s opening handshake is
    /// `wanted` (MQTT-6.0.0-4).
    fn expect_subprotocol(&mut self, name: &str, wanted: &str) -> StepResult {
        let Some((handshake, _)) = &self.conn(name)?.websocket else {
            return Err(StepFailure::Harness(format!(
                "connection `{name}` is not a WebSocket connection"
            )));
        };
        let crate::event::WebSocketEvent::Handshake { selected, .. } = handshake else {
            return Err(StepFailure::Harness(
                "no WebSocket handshake recorded".into(),
            ));
        };
        match selected.clone() {
            Some(s) if s == wanted => {
                self.note(
                    name,
                    "",
                    &format!("the server selected the subprotocol `{s}`"),
                );
                Ok(())
            }
            Some(s) => Err(StepFailure::Target(format!(
                "the server selected the subprotocol `{s}`, not `{wanted}`"
            ))),
            None => Err(StepFailure::Target(format!(
                "the server selected no subprotocol, not `{wanted}`"
            ))),
        }
    }

    /// The next thing seen on connection `name`: a held PUBLISH first, else what arrives
    /// before `deadline` (observed: traced and passed to the judge).
    pub(super) async fn next_seen(
        &mut self,
        name: &str,
        deadline: Instant,
    ) -> Result<Option<SeenItem>, StepFailure> {
        if let Some(seen) = self.held.get_mut(name).and_then(|h| h.pop_front()) {
            return Ok(Some(seen));
        }
        self.tap_room().await;
        let item = self.conn(name)?.next(deadline).await;
        Ok(item.map(|item| self.observe(name, item)))
    }

    /// Waits while the judge is behind by [`TAP_BACKLOG_BYTES`] of events.
    pub(super) async fn tap_room(&self) {
        if let Some(tap) = &self.ctx.events {
            tap.room().await;
        }
    }

    /// Waits for what `def` expects; PUBLISHes that came before an awaited SUBACK go to
    /// `held_back`.
    pub(super) async fn expect_now(
        &mut self,
        def: &ExpectDef,
        held_back: &mut Vec<SeenItem>,
    ) -> StepResult {
        let name = conn_name(&def.conn);
        let vars = self.vars(&name);
        let suite_within = self.ctx.suite.within;
        let conn = self.conn(&name)?;
        let keepalive = conn.keepalive;
        let within_expr = def.within.as_ref().map_or(suite_within, |t| t.value);
        let after_expr = def
            .after
            .as_ref()
            .map_or(TimeExpr::fixed(Duration::ZERO), |t| t.value);
        let within = within_expr.resolve(keepalive);
        let after = after_expr.resolve(keepalive);
        let since_last_sent = def.since.as_ref().is_some_and(|s| s.value == "last_sent");
        let anchor = if since_last_sent {
            conn.last_sent
        } else {
            Instant::now()
        };
        let since = if since_last_sent {
            "our last packet"
        } else {
            "the step's start"
        };
        let window = OpenWindow {
            bounds: Window {
                min: (after_expr.resolve(keepalive) > Duration::ZERO).then_some(after_expr),
                max: Some(within_expr),
            },
            anchor,
            after,
            within,
            keepalive,
            since,
            close_optional: def
                .any_of
                .iter()
                .flatten()
                .any(|alt| alt.contains_key("silence")),
        };
        if let Some(board) = &self.ctx.progress {
            let until = match &def.silence {
                Some(s) => Instant::now() + s.value.resolve(keepalive),
                None => anchor + within,
            };
            board.waiting(self.index, Some((awaited(def), until)));
        }

        if let Some(silence) = &def.silence {
            let d = silence.value.resolve(keepalive);
            let start = Instant::now();
            let conn = self.conn(&name)?;
            if conn.closed_at.is_some() {
                return Err(StepFailure::Target(
                    "expected silence, but the connection is already closed".into(),
                ));
            }
            loop {
                let Some(seen) = self.next_seen(&name, start + d).await? else {
                    self.note(
                        &name,
                        "",
                        &format!("silent for {} as expected", fmt_secs(d)),
                    );
                    return Ok(());
                };
                if let Seen::Packet(Ok(packet)) = &seen.kind {
                    if self.unsubscribed(&name, packet) {
                        self.set_aside_unsubscribed(&name, &seen);
                        continue;
                    }
                }
                let silence = OpenWindow {
                    bounds: Window::default(),
                    anchor: start,
                    after: Duration::ZERO,
                    within: d,
                    keepalive,
                    since: "the step's start",
                    close_optional: false,
                };
                self.set_timing(&name, &silence, Some(seen.at), Rank::Failed);
                return Err(StepFailure::Target(format!(
                    "expected silence for {}; observed {} after {}",
                    fmt_secs(d),
                    seen.text,
                    fmt_secs(seen.at.saturating_duration_since(start))
                )));
            }
        }

        let alternatives: Vec<Alternative> = if let Some(any) = &def.any_of {
            any.iter()
                .map(|alt| {
                    let label = alt.get("as").and_then(Value::as_str).map(str::to_owned);
                    let ends_test = alt.get(ENDS_TEST).and_then(Value::as_bool) == Some(true);
                    let inconclusive = alt_inconclusive(alt);
                    let (key, m) = alt
                        .iter()
                        .find(|(k, _)| !ALTERNATIVE_OPTIONS.contains(&k.as_str()))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .unwrap_or_default();
                    let mut alt = Alternative::new(key, m, label);
                    alt.ends_test = ends_test;
                    alt.inconclusive = inconclusive;
                    alt
                })
                .collect()
        } else if def.closed.is_some() {
            vec![Alternative::new("closed".into(), Value::Null, None)]
        } else {
            def.packet_matchers()
                .into_iter()
                .map(|(k, m)| Alternative::new(k.to_owned(), m.clone(), None))
                .collect()
        };
        let expected = alternatives
            .iter()
            .map(Alternative::describe)
            .collect::<Vec<_>>()
            .join(" or ");
        // A 5.0 server may say why (DISCONNECT) before it closes: an expected close lets
        // that DISCONNECT pass unless an alternative expects it.
        let only_close = alternatives.iter().any(|a| a.key == "closed")
            && !alternatives.iter().any(|a| a.key == "disconnect");

        // A close already observed can satisfy a `closed` expectation (or alternative),
        // once the PUBLISHes held from before it are taken.
        let nothing_held = self.held.get(&name).is_none_or(|h| h.is_empty());
        if let (Some(closed_at), true) = (self.conn(&name)?.closed_at, nothing_held) {
            return match alternatives.iter().find(|a| a.key == "closed") {
                Some(alt) => {
                    let label = alt.label();
                    self.timed(&name, &window, closed_at, "closed", &expected)?;
                    if def.any_of.is_some() {
                        self.branch = Some(label);
                    }
                    self.taken(alt)?;
                    Ok(())
                }
                None => Err(StepFailure::Target(format!(
                    "expected {expected}; the connection was already closed by the peer {} into the test",
                    fmt_secs(self.at(closed_at))
                ))),
            };
        }

        let deadline = window.anchor + window.within;
        // A server may send PUBLISHes matching a subscription before its SUBACK (section
        // 3.8.4): while a SUBACK is awaited they are held for the steps after it.
        let awaits_suback = alternatives.iter().any(|a| a.key == "suback")
            && !alternatives.iter().any(|a| a.key == "publish");
        loop {
            let version = self.conn(&name)?.version;
            let Some(seen) = self.next_seen(&name, deadline).await? else {
                if let Some(alt) = alternatives.iter().find(|a| a.key == "silence") {
                    let label = alt.label();
                    self.note(
                        &name,
                        "",
                        &format!("nothing arrived within {}", window.describe()),
                    );
                    self.branch = Some(label);
                    self.taken(alt)?;
                    return Ok(());
                }
                if alternatives.iter().any(|a| a.key == "closed") {
                    return Err(self.late_close(&name, &window, &expected).await);
                }
                if let Some(reason) = &def.inconclusive_if_silent {
                    return Err(StepFailure::Inconclusive(format!(
                        "expected {expected} within {}; nothing arrived, which the server may do: {reason}",
                        window.describe()
                    )));
                }
                self.set_timing(&name, &window, None, Rank::Failed);
                return Err(StepFailure::Target(format!(
                    "expected {expected} within {}; nothing arrived",
                    window.describe()
                )));
            };
            let hold = awaits_suback
                && matches!(&seen.kind, Seen::Packet(Ok(p @ Packet::Publish(_))) if !self.unsubscribed(&name, p));
            if hold {
                self.note(
                    &name,
                    "",
                    "held for the next steps: a PUBLISH before the SUBACK, which a server may send first",
                );
                held_back.push(seen);
                continue;
            }
            match &seen.kind {
                Seen::Closed => {
                    if let Some(alt) = alternatives.iter().find(|a| a.key == "closed") {
                        let label = alt.label();
                        self.timed(&name, &window, seen.at, "closed", &expected)?;
                        if def.any_of.is_some() {
                            self.branch = Some(label);
                        }
                        self.taken(alt)?;
                        return Ok(());
                    }
                    self.set_timing(&name, &window, Some(seen.at), Rank::Failed);
                    return Err(StepFailure::Target(format!(
                        "expected {expected} within {}; observed: {} after {}",
                        window.describe(),
                        seen.text,
                        fmt_secs(seen.at.saturating_duration_since(window.anchor))
                    )));
                }
                Seen::Broken => {
                    self.set_timing(&name, &window, Some(seen.at), Rank::Failed);
                    return Err(StepFailure::Target(format!(
                        "expected {expected}; observed {}",
                        seen.text
                    )));
                }
                Seen::Packet(Err(e)) => {
                    self.set_timing(&name, &window, Some(seen.at), Rank::Failed);
                    return Err(StepFailure::Target(format!(
                        "expected {expected}; the peer sent a malformed packet: {e} [{}]",
                        hex_preview(&seen.bytes)
                    )));
                }
                Seen::Packet(Ok(packet)) => {
                    // A 5.0 server may say why before it closes.
                    if only_close
                        && packet.packet_type() == PacketType::Disconnect
                        && version.is_v5()
                    {
                        continue;
                    }
                    let mut mismatch = None;
                    for alt in &alternatives {
                        if alt.key != packet.packet_type().name().to_ascii_lowercase() {
                            continue;
                        }
                        match matcher::check(packet, &alt.matcher, &vars) {
                            Ok(()) => {
                                let label = alt.label();
                                self.timed(&name, &window, seen.at, &label, &expected)?;
                                if def.any_of.is_some() {
                                    self.branch =
                                        Some(format!("{label} [{}]", hex_preview(&seen.bytes)));
                                }
                                self.taken(alt)?;
                                if let (Some(needed), Packet::SubAck(suback)) =
                                    (&def.granted, packet)
                                {
                                    self.granted(&name, suback, needed)?;
                                }
                                return Ok(());
                            }
                            Err(m) => mismatch = Some(m),
                        }
                    }
                    let ignored = def.ignore.iter().flatten().any(|alt| {
                        alt.iter().any(|(key, m)| {
                            *key == packet.packet_type().name().to_ascii_lowercase()
                                && matcher::check(packet, m, &vars).is_ok()
                        })
                    });
                    if ignored {
                        self.note(&name, "", "set aside: the step ignores this packet");
                        continue;
                    }
                    if self.unsubscribed(&name, packet) {
                        self.set_aside_unsubscribed(&name, &seen);
                        continue;
                    }
                    let why = mismatch.map(|m| format!(" ({m})")).unwrap_or_default();
                    self.set_timing(&name, &window, Some(seen.at), Rank::Failed);
                    return Err(StepFailure::Target(format!(
                        "expected {expected} within {}; observed {}{why} after {}",
                        window.describe(),
                        seen.text,
                        fmt_secs(seen.at.saturating_duration_since(window.anchor))
                    )));
                }
            }
        }
    }

    /// A close that did not come within its window: keep watching for a bounded grace
    /// period (never past the test's deadline) so the verdict states when it did come.
    pub(super) async fn late_close(
        &mut self,
        name: &str,
        w: &OpenWindow,
        expected: &str,
    ) -> StepFailure {
        // Timing windows get a long look, so the verdict can state how late; behavioural
        // ones ("closes within 5 s") only need to show the connection stayed open.
        let timing =
            w.bounds.max.is_some_and(|max| max.uses_keepalive()) || w.after > Duration::ZERO;
        let grace = if timing {
            w.within.max(Duration::from_secs(10))
        } else {
            Duration::from_secs(1)
        };
        let grace_end = (w.anchor + w.within + grace).min(
            self.deadline
                .checked_sub(Duration::from_millis(500))
                .unwrap_or(self.deadline),
        );
        let item = loop {
            let seen = match self.next_seen(name, grace_end).await {
                Ok(Some(seen)) => seen,
                Ok(None) => break None,
                Err(failure) => return failure,
            };
            if let Seen::Packet(Ok(packet)) = &seen.kind {
                if self.unsubscribed(name, packet) {
                    self.set_aside_unsubscribed(name, &seen);
                    continue;
                }
            }
            break Some(seen);
        };
        let waited = Instant::now().saturating_duration_since(w.anchor);
        self.set_timing(name, w, item.as_ref().map(|seen| seen.at), Rank::Failed);
        match item {
            None => {
                let note = format!(
                    "still open {} after {}; window {}",
                    fmt_secs(waited),
                    w.since,
                    w.describe()
                );
                self.note(name, "", &note);
                StepFailure::Target(format!(
                    "expected {expected} within {}; the connection was still open {} after {}",
                    w.describe(),
                    fmt_secs(waited),
                    w.since
                ))
            }
            Some(seen) => {
                let elapsed = seen.at.saturating_duration_since(w.anchor);
                match seen.kind {
                    Seen::Closed => {
                        let late = elapsed.saturating_sub(w.within);
                        let note = format!(
                            "closed after {}; window {}; late by {}",
                            fmt_secs(elapsed),
                            w.describe(),
                            fmt_secs(late)
                        );
                        self.note(name, "", &note);
                        self.measured.push(note);
                        StepFailure::Target(format!(
                            "expected {expected} within {}; observed the close too late, after {} (late by {})",
                            w.describe(),
                            fmt_secs(elapsed),
                            fmt_secs(late)
                        ))
                    }
                    _ => StepFailure::Target(format!(
                        "expected {expected} within {}; nothing arrived in the window, then {} after {}",
                        w.describe(),
                        seen.text,
                        fmt_secs(elapsed)
                    )),
                }
            }
        }
    }

    /// An `any_of` alternative was taken: it may end the test, passed or inconclusive.
    pub(super) fn taken(&mut self, alt: &Alternative) -> StepResult {
        self.ended |= alt.ends_test;
        match &alt.inconclusive {
            Some(why) => Err(StepFailure::Inconclusive(format!(
                "observed {}: {why}",
                alt.label()
            ))),
            None => Ok(()),
        }
    }

    /// Holds a SUBACK's grants against what the rest of the test needs: a lower grant or a
    /// refusal is the server's right, and leaves the test inconclusive.
    pub(super) fn granted(&mut self, name: &str, suback: &SubAck, needed: &[u8]) -> StepResult {
        let codes = &suback.return_codes;
        if codes.len() != needed.len() {
            return Err(StepFailure::Target(format!(
                "SUBACK holds {} return code(s) for {} topic filter(s) [MQTT-3.8.4-5]",
                codes.len(),
                needed.len()
            )));
        }
        let grants = codes
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        self.note(name, "", &format!("granted QoS [{grants}]"));
        for (n, (&code, &need)) in codes.iter().zip(needed).enumerate() {
            let filter = n + 1;
            if code >= 0x80 {
                return Err(StepFailure::Inconclusive(format!(
                    "the server refused topic filter {filter} (SUBACK {code:#04x}), which it may do; \
                     what the test checks needs that subscription"
                )));
            }
            if code < need {
                return Err(StepFailure::Inconclusive(format!(
                    "the server granted QoS {code} on topic filter {filter} where the test needs QoS {need}; \
                     a server may grant a lower QoS than asked [MQTT-3.8.4-6], and what the test checks \
                     cannot be observed below QoS {need}"
                )));
            }
        }
        Ok(())
    }

    /// Checks that an event at `at` fell inside the window and notes the measurement.
    pub(super) fn timed(
        &mut self,
        conn: &str,
        w: &OpenWindow,
        at: Instant,
        what: &str,
        expected: &str,
    ) -> StepResult {
        let elapsed = at.saturating_duration_since(w.anchor);
        let rank = if elapsed < w.after || elapsed > w.within {
            Rank::Failed
        } else if (what == "closed" && !w.close_optional)
            || w.after > Duration::ZERO
            || w.bounds.max.is_some_and(|max| max.uses_keepalive())
        {
            Rank::Measured
        } else {
            Rank::Met
        };
        self.set_timing(conn, w, Some(at), rank);
        if elapsed < w.after {
            let note = format!(
                "{what} after {}; window {}; early by {}",
                fmt_secs(elapsed),
                w.describe(),
                fmt_secs(w.after - elapsed)
            );
            self.note(conn, "", &note);
            self.measured.push(note);
            return Err(StepFailure::Target(format!(
                "expected {expected} within {}; observed {what} too early, after {} (early by {})",
                w.describe(),
                fmt_secs(elapsed),
                fmt_secs(w.after - elapsed)
            )));
        }
        // An event buffered before the step began can still be too late for its window.
        if elapsed > w.within {
            let note = format!(
                "{what} after {}; window {}; late by {}",
                fmt_secs(elapsed),
                w.describe(),
                fmt_secs(elapsed - w.within)
            );
            self.note(conn, "", &note);
            self.measured.push(note);
            return Err(StepFailure::Target(format!(
                "expected {expected} within {}; observed {what} too late, after {} (late by {})",
                w.describe(),
                fmt_secs(elapsed),
                fmt_secs(elapsed - w.within)
            )));
        }
        if (what == "closed" && !w.close_optional)
            || w.after > Duration::ZERO
            || w.bounds.max.is_some_and(|max| max.uses_keepalive())
        {
            let margin = w.within.saturating_sub(elapsed);
            let conn_note = format!(
                "{what} after {}; window {}; margin {}",
                fmt_secs(elapsed),
                w.describe(),
                fmt_secs(margin)
            );
            self.note(conn, "", &conn_note);
            self.measured.push(conn_note);
        }
        Ok(())
    }

    /// Records what arrived and classifies it.
    pub(super) fn observe(&mut self, name: &str, item: Incoming) -> SeenItem {
        match item {
            Incoming::Frame { at, bytes } => {
                let mut version = self
                    .conns
                    .get(name)
                    .map_or(ProtocolVersion::V3_1_1, |c| c.version);
                // A 5.0 CONNACK always has a property length, so two bytes of CONNACK on a
                // 5.0 connection are a 3.1.1-form answer: a server without 5.0 refusing the
                // level with return code 0x01 ([MQTT-3.1.2-2] of 3.1.1).
                if version.is_v5() && bytes.len() == 4 && bytes[0] == 0x20 && bytes[1] == 2 {
                    version = ProtocolVersion::V3_1_1;
                }
                let limit = self
                    .conns
                    .get(name)
                    .and_then(|c| c.max_packet_size)
                    .map(|m| m as usize);
                let decoded = match limit {
                    // Larger than the Maximum Packet Size our CONNECT announced: the server
                    // must not send it (MQTT-3.1.2-24), whatever it holds.
                    Some(max) if bytes.len() > max => Err(crate::codec::DecodeError::new(
                        crate::codec::Violation::PacketTooLarge {
                            size: bytes.len(),
                            max,
                        },
                        0,
                        version,
                    )),
                    _ => decode_packet(&bytes, version),
                };
                if let Ok(Packet::Publish(p)) = &decoded {
                    if let Some(c) = self.conns.get_mut(name) {
                        c.last_received_id = p.packet_id.or(c.last_received_id);
                    }
                }
                if let (Ok(Packet::ConnAck(ack)), true) = (&decoded, version.is_v5()) {
                    if let Some(c) = self.conns.get_mut(name) {
                        let props = &ack.properties;
                        c.server_limits = crate::runner::connection::ServerLimits {
                            max_qos: props
                                .get_int(crate::codec::PropertyId::MaximumQos)
                                .and_then(|q| u8::try_from(q).ok()),
                            no_retain: props.get_int(crate::codec::PropertyId::RetainAvailable)
                                == Some(0),
                        };
                    }
                }
                // Acks without a packet id answer the last one that asked for an answer.
                if let Ok(Packet::PubRec(r) | Packet::PubRel(r)) = &decoded {
                    if let Some(c) = self.conns.get_mut(name) {
                        c.last_received_id = Some(r.packet_id);
                    }
                }
                self.record(name, "←", at, &bytes, &decoded, version);
                // Everything kept for messages is redacted: evidence may carry secrets.
                // Masked whole, then cut: a secret field at the end of a long packet is
                // found only in the whole packet.
                let mut shown = self.ctx.redactor.packet_bytes(&bytes, &decoded);
                let text = self.ctx.redactor.text(&describe(&shown, &decoded, version));
                shown.truncate(KEPT_BYTES);
                SeenItem {
                    at,
                    text,
                    bytes: shown,
                    kind: Seen::Packet(decoded),
                }
            }
            Incoming::Closed { at, detail } => {
                if let Some(c) = self.conns.get_mut(name) {
                    c.closed_at = Some(at);
                    if let Some(tap) = &self.ctx.events {
                        let kind = EventKind::Closed {
                            by: Some(Side::Server),
                            detail: detail.clone(),
                        };
                        tap.emit(c.id, at, Side::Server, kind);
                    }
                }
                let text = format!("connection closed by the peer ({detail})");
                let rel = self.at(at);
                self.push_trace(TraceLine {
                    at: rel,
                    conn: name.to_owned(),
                    direction: String::new(),
                    text: text.clone(),
                });
                SeenItem {
                    at,
                    text,
                    bytes: Vec::new(),
                    kind: Seen::Closed,
                }
            }
            Incoming::Unframeable { at, error } => {
                if let Some(c) = self.conns.get_mut(name) {
                    c.closed_at = Some(at);
                    if let Some(tap) = &self.ctx.events {
                        tap.emit(
                            c.id,
                            at,
                            Side::Server,
                            EventKind::Unframeable(error.clone()),
                        );
                    }
                }
                let text = format!("a byte stream that cannot be framed: {error}");
                let rel = self.at(at);
                self.push_trace(TraceLine {
                    at: rel,
                    conn: name.to_owned(),
                    direction: "←".into(),
                    text: text.clone(),
                });
                SeenItem {
                    at,
                    text,
                    bytes: Vec::new(),
                    kind: Seen::Broken,
                }
            }
        }
    }
}

/// How much a window says about a verdict: a failure's window is kept over a timed pass's,
/// a timed pass's over that of an expectation merely met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Rank {
    Met,
    Measured,
    Failed,
}

/// The window a test's verdict rests on, on the test's clock; the offending event is found
/// in the trace once it is final.
pub(super) struct Timed {
    rank: Rank,
    timing: Timing,
    /// The event that broke the expectation (its trace line is highlighted).
    offending: bool,
}

impl TestRun {
    /// Keeps window `w` of connection `conn` and the event at `at` as the test's timing,
    /// unless a window of a higher rank is kept already (the first failure stays).
    pub(super) fn set_timing(
        &mut self,
        conn: &str,
        w: &OpenWindow,
        at: Option<Instant>,
        rank: Rank,
    ) {
        if self
            .timing
            .as_ref()
            .is_some_and(|t| t.rank > rank || t.rank == Rank::Failed)
        {
            return;
        }
        let timing = Timing {
            conn: Some(conn.to_owned()),
            anchor: Some(self.at(w.anchor)),
            from: (w.after > Duration::ZERO).then(|| self.at(w.anchor + w.after)),
            to: Some(self.at(w.anchor + w.within)),
            measured: at.map(|at| self.at(at)),
            what: format!("of {}", w.since),
            offending: None,
        };
        self.timing = Some(Timed {
            rank,
            timing,
            offending: rank == Rank::Failed && at.is_some(),
        });
    }

    /// The kept timing, its offending event located in the final `trace`.
    pub(super) fn timing_in(&mut self, trace: &[TraceLine]) -> Option<Timing> {
        let Timed {
            timing, offending, ..
        } = self.timing.take()?;
        let offending = match (offending, timing.measured) {
            (true, Some(at)) => Timing::line_at(trace, timing.conn.as_deref(), at),
            _ => None,
        };
        Some(Timing {
            offending,
            ..timing
        })
    }
}

/// An expectation's window, opened at `anchor`: its bounds as the suite wrote them and as
/// they resolve for the connection's Keep Alive.
pub(super) struct OpenWindow {
    bounds: Window,
    anchor: Instant,
    after: Duration,
    within: Duration,
    keepalive: u16,
    since: &'static str,
    /// The close is one accepted outcome among others (e.g. after our DISCONNECT, where
    /// closing is the client's duty): its time is not a measurement.
    close_optional: bool,
}

impl OpenWindow {
    pub(super) fn describe(&self) -> String {
        let mut s = if self.after > Duration::ZERO {
            format!("{}–{}", fmt_secs(self.after), fmt_secs(self.within))
        } else {
            fmt_secs(self.within)
        };
        if self.bounds.uses_keepalive() {
            s.push_str(&format!(
                " ({}{} with keepalive {} s)",
                match self.bounds.min {
                    Some(min) if self.after > Duration::ZERO => format!("{min} – "),
                    _ => String::new(),
                },
                self.bounds
                    .max
                    .map(|max| max.to_string())
                    .unwrap_or_default(),
                self.keepalive
            ));
        }
        format!("{s} of {}", self.since)
    }
}

pub(super) struct Alternative {
    key: String,
    matcher: Value,
    label: Option<String>,
    ends_test: bool,
    /// Taking this alternative ends the test inconclusive, for this reason.
    inconclusive: Option<String>,
}

pub(super) fn alt_inconclusive(alt: &BTreeMap<String, Value>) -> Option<String> {
    alt.get(INCONCLUSIVE)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

impl Alternative {
    pub(super) fn new(key: String, matcher: Value, label: Option<String>) -> Self {
        Self {
            key,
            matcher,
            label,
            ends_test: false,
            inconclusive: None,
        }
    }

    pub(super) fn describe(&self) -> String {
        if self.key == "closed" {
            return "the peer closing the connection".into();
        }
        if self.key == "silence" {
            return "no answer".into();
        }
        match &self.matcher {
            Value::Object(o) if !o.is_empty() => format!(
                "{} {}",
                self.key.to_uppercase(),
                matcher::render(&self.matcher)
            ),
            _ => self.key.to_uppercase(),
        }
    }

    pub(super) fn label(&self) -> String {
        self.label.clone().unwrap_or_else(|| self.describe())
    }
}

/// What an `expect` step waits for, in words for progress lines.
fn awaited(def: &ExpectDef) -> String {
    if def.closed.is_some() {
        return "the server to close".into();
    }
    if def.silence.is_some() {
        return "silence from the server".into();
    }
    let name = |key: &str| match key {
        "closed" => "a close".to_owned(),
        "silence" => "silence".to_owned(),
        other => other.to_uppercase(),
    };
    if let Some(alternatives) = &def.any_of {
        let names: Vec<String> = alternatives
            .iter()
            .filter_map(|alt| {
                alt.keys()
                    .find(|k| !ALTERNATIVE_OPTIONS.contains(&k.as_str()))
                    .map(|k| name(k))
            })
            .collect();
        return names.join(" or ");
    }
    def.packet_matchers()
        .first()
        .map_or_else(|| "a packet".to_owned(), |(k, _)| name(k))
}
