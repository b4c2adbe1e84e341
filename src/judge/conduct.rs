//! The client's conduct in the judge: each connection's duties, kept or broken, become
//! the verdicts of the `conduct` rules whose ids are the duties' statements; a session
//! that persists carries its unfinished flows to the client's next connection.

use super::*;
use crate::codec::{DecodeError, PacketType};
use crate::conduct::Start;

/// The `conduct` rules by statement, and the `protocol_errors` rules; for 3.1.1 (and 3.1)
/// at index 0, for 5.0 at index 1.
#[derive(Debug, Default)]
pub(super) struct ConductRules {
    by_statement: [HashMap<String, Vec<usize>>; 2],
    unnumbered: [Vec<usize>; 2],
    /// The rules each duty reaches, by duty (looked up for every note of every packet).
    by_duty: [HashMap<crate::conduct::Duty, Vec<usize>, foldhash::fast::RandomState>; 2],
}

impl ConductRules {
    fn is_empty(&self) -> bool {
        self.by_statement.iter().all(HashMap::is_empty) && self.unnumbered.iter().all(Vec::is_empty)
    }

    /// Calls `f` with every rule judging `duty` for the version `v5`.
    fn for_duty(&self, duty: crate::conduct::Duty, v5: bool, f: impl FnMut(usize)) {
        if let Some(rules) = self.by_duty[usize::from(v5)].get(&duty) {
            rules.iter().copied().for_each(f);
        }
    }
}

/// The connection's conduct, begun when first needed (`live`: the source is a live one).
fn conduct_of(state: &mut ConnState, live: bool) -> &mut Conduct {
    state.conduct.get_or_insert_with(|| {
        // A source that did not report the opening: a live one saw it, a capture cannot
        // tell.
        let start = state.start.unwrap_or(if live {
            Start::Seen
        } else {
            Start::JoinedMidway
        });
        Box::new(Conduct::new(state.version, start))
    })
}

/// Indexes the `conduct` and `protocol_errors` rules among `rules`.
pub(super) fn index(rules: &[RuleDef]) -> ConductRules {
    let mut index = ConductRules::default();
    for (i, r) in rules.iter().enumerate() {
        for check in r.check.value.as_slice() {
            if let Some(v5) = check.conduct_v5() {
                index.by_statement[usize::from(v5)]
                    .entry(r.id.value.clone())
                    .or_default()
                    .push(i);
            }
            if let Some(v5) = check.protocol_errors_v5() {
                index.unnumbered[usize::from(v5)].push(i);
            }
        }
    }
    for v5 in [false, true] {
        let v = usize::from(v5);
        for duty in crate::conduct::Duty::ALL {
            let rules: Vec<usize> = if duty.unnumbered() {
                index.unnumbered[v].clone()
            } else {
                duty.statements(v5)
                    .iter()
                    .filter_map(|s| index.by_statement[v].get(*s))
                    .flatten()
                    .copied()
                    .collect()
            };
            if !rules.is_empty() {
                index.by_duty[v].insert(duty, rules);
            }
        }
    }
    index
}

impl Judge {
    /// A client packet: its conduct judged, from the connection's first packet on.
    pub(super) fn conduct_client(
        &mut self,
        event: &Event,
        packet: &Packet,
        size: usize,
        evidence: &Evidence<'_>,
        findings: &mut Vec<Finding>,
    ) {
        if self.conduct_rules.is_empty() {
            return;
        }
        let live = self.summarise_unconnected;
        let Some(state) = self.conns.get_mut(&event.conn) else {
            return;
        };
        let conduct = conduct_of(state, live);
        if let Packet::Connect(c) = packet {
            if c.clean_session {
                self.sessions.remove(&c.client_id);
            } else if let Some(carried) = self.sessions.remove(&c.client_id) {
                conduct.resume(carried);
            }
        }
        // A buffer kept between packets: most packets only keep duties.
        let mut notes = std::mem::take(&mut self.conduct_notes);
        notes.clear();
        conduct.client(event.at, packet, size, &mut notes);
        self.apply_notes(event.conn, &notes, &|| evidence.to_string(), findings);
        self.conduct_notes = notes;
    }

    /// What the WebSocket under the connection showed (its handshake, a text message).
    pub(super) fn conduct_websocket(
        &mut self,
        event: &Event,
        ws: &crate::event::WebSocketEvent,
        evidence: &Evidence<'_>,
        findings: &mut Vec<Finding>,
    ) {
        if self.conduct_rules.is_empty() {
            return;
        }
        let live = self.summarise_unconnected;
        let Some(state) = self.conns.get_mut(&event.conn) else {
            return;
        };
        let mut notes = std::mem::take(&mut self.conduct_notes);
        notes.clear();
        conduct_of(state, live).websocket(event.at, event.from, ws, &mut notes);
        self.apply_notes(event.conn, &notes, &|| evidence.to_string(), findings);
        self.conduct_notes = notes;
    }

    /// A server packet: what the client must answer, and the CONNACK's limits.
    pub(super) fn conduct_server(&mut self, event: &Event, packet: &Packet) {
        if let Some(conduct) = self
            .conns
            .get_mut(&event.conn)
            .and_then(|s| s.conduct.as_mut())
        {
            conduct.server(event.at, packet);
        }
    }

    /// A server packet that does not decode: the client must close.
    pub(super) fn conduct_server_malformed(&mut self, event: &Event, error: &DecodeError) {
        if let Some(conduct) = self
            .conns
            .get_mut(&event.conn)
            .and_then(|s| s.conduct.as_mut())
        {
            let flags = matches!(error.violation, Violation::InvalidFlags { .. });
            conduct.server_malformed(event.at, flags, error.to_string());
        }
    }

    /// The connection ended at `at` (`client_closed`: whether the client closed it, when
    /// known): what was due and never came is judged, and a persisting session is kept
    /// for the client's next connection.
    pub(super) fn conduct_end(
        &mut self,
        conn: u64,
        at: Duration,
        client_closed: Option<bool>,
        findings: &mut Vec<Finding>,
    ) {
        let Some(state) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(mut conduct) = state.conduct.take() else {
            return;
        };
        let mut notes = Vec::new();
        conduct.end(at, client_closed, &mut notes);
        let client_id = state.connect.as_ref().map(|(_, c)| c.client_id.clone());
        if let (Some(id), Some(carried)) = (client_id, conduct.carried()) {
            if !id.is_empty() && !carried.is_empty() {
                self.sessions.insert(id, carried);
            }
        }
        self.apply_notes(
            conn,
            &notes,
            &|| format!("at {:.3} s, the connection's end", at.as_secs_f64()),
            findings,
        );
    }

    /// A client packet the strict decoder refused: when a `conduct` rule judges the
    /// statement the refusal names, the malformation is that rule's (true), not the
    /// catch-all well-formedness rule's.
    pub(super) fn conduct_malformed(
        &mut self,
        conn: u64,
        at: Duration,
        error: &DecodeError,
        packet: Option<(PacketType, &[u8])>,
        evidence: &str,
        findings: &mut Vec<Finding>,
    ) -> bool {
        let Some(state) = self.conns.get(&conn) else {
            return false;
        };
        // The version the bytes were judged under: before a CONNECT is accepted the
        // connection's own is not known yet, and a malformed CONNECT names its level.
        let v5 = error.version.is_v5();
        // In 5.0 a packet above the Maximum Packet Size the server announced breaks the
        // client's duty to it (the decoder knows only its own limit's section).
        let too_large_for_connack = v5
            && matches!(error.violation, Violation::PacketTooLarge { .. })
            && state
                .conduct
                .as_ref()
                .is_some_and(|c| c.max_packet_size(at).is_some());
        let statement = if too_large_for_connack {
            Some("MQTT-3.2.2-15")
        } else {
            error.statement()
        };
        let fields = packet.map_or(&[][..], |(p, bytes)| {
            let flags = crate::conduct::malformed::connect_flags(bytes);
            crate::conduct::malformed::field_statements(&error.violation, p, v5, flags)
        });
        let index = &self.conduct_rules.by_statement[usize::from(v5)];
        let rules: Vec<usize> = statement
            .into_iter()
            .chain(fields.iter().copied())
            .filter_map(|s| index.get(s))
            .flatten()
            .copied()
            .collect();
        if rules.is_empty() {
            return false;
        }
        let state = self.conns.get_mut(&conn).expect("looked up above");
        for i in rules {
            record(
                state,
                &self.rules,
                i,
                Some(format!("{evidence} ({error})")),
                conn,
                findings,
            );
        }
        true
    }

    fn apply_notes(
        &mut self,
        conn: u64,
        notes: &[Note],
        evidence: &dyn Fn() -> String,
        findings: &mut Vec<Finding>,
    ) {
        // The evidence is written out only for a broken duty (formatting it is the
        // costliest part of a packet's judging).
        let mut evidence_text: Option<String> = None;
        let Some(state) = self.conns.get_mut(&conn) else {
            return;
        };
        // Before a CONNECT the version is unknown: the rules of both judge.
        let versions: &[bool] = match (&state.connect, state.version.is_v5()) {
            (None, _) => &[false, true],
            (Some(_), v5) => {
                if v5 {
                    &[true]
                } else {
                    &[false]
                }
            }
        };
        let (rules, index) = (&self.rules, &self.conduct_rules);
        for note in notes {
            for &v5 in versions {
                index.for_duty(note.duty, v5, |i| match &note.outcome {
                    Outcome::Kept => record(state, rules, i, None, conn, findings),
                    Outcome::Broken(why) => {
                        let evidence = evidence_text.get_or_insert_with(evidence);
                        let text = format!("{evidence}: {why}");
                        record(state, rules, i, Some(text), conn, findings);
                    }
                    // Perhaps broken: no pass, whatever else the connection showed.
                    Outcome::Doubtful(why) => {
                        let rs = &mut state.rules[i];
                        if rs.violation().is_none() && rs.inconclusive().is_none() {
                            rs.applied = true;
                            rs.detail_mut().inconclusive = Some(why.clone());
                        }
                    }
                    Outcome::Unjudged(why) => {
                        let rs = &mut state.rules[i];
                        if !rs.applied && rs.violation().is_none() {
                            rs.applied = true;
                            rs.detail_mut().inconclusive = Some(why.clone());
                        }
                    }
                });
            }
        }
    }
}
