//! Ending a connection and a run: the close (who closed, takeovers, silence), each
//! connection's rules turned into cases, and the cases grouped for the report.

use super::*;

/// How soon after a newer connection with the same identity the server must have ended
/// the older one (the baseline suites' default `within`).
const TAKEOVER_WINDOW: Duration = Duration::from_secs(5);

impl Judge {
    pub(super) fn closed(&mut self, event: &Event, by: Option<Side>, findings: &mut Vec<Finding>) {
        let at = event.at;
        let Some(state) = self.conns.get_mut(&event.conn) else {
            return;
        };
        if state.closed.is_some() {
            return;
        }
        // After a DISCONNECT the server closing is the normal end (MQTT-3.14.4-1), not a
        // drop.
        let left_on_its_own = state.disconnected;
        let by = if state.disconnected {
            Some(Side::Client)
        } else {
            by
        };
        state.closed = Some((at, by));
        let connect = state.connect.clone();
        let keep_alive = state.keep_alive();
        let last_client = state.last_client;
        let taken_over = state.taken_over_at;
        let who = state.identity.clone().unwrap_or_default();
        // A connection taken over by the device's newer one was not a drop: the device is
        // connected again already, so its next connection is not timed against this close.
        if let (Some(Side::Server), Some((_, c)), None) = (by, &connect, taken_over) {
            self.server_closes.insert(c.client_id.clone(), at);
        }
        let (Some(ka), true) = (keep_alive, connect.is_some()) else {
            return;
        };
        let silent_for = last_client.map(|l| at.saturating_sub(l));
        // The client ended silent (unless it closed itself): that silence is judged too.
        if let (Some(gap), false) = (silent_for, by == Some(Side::Client)) {
            let what = format!(
                "the connection was closed at {:.3} s after",
                at.as_secs_f64()
            );
            self.judge_silence(event.conn, (gap, at), ka, &what, findings);
        }
        let profile = self.profile.clone();
        // Each server-close rule's window, drawn by the report.
        let mut close_windows: Vec<(String, [Duration; 4])> = Vec::new();
        self.each_rule(event.conn, findings, |check, rule| match check {
            Check::ServerClose {
                factor,
                min_factor,
                tolerance,
            } if ka > 0 && by == Some(Side::Server) => {
                let gap = silent_for?;
                if gap < Duration::from_secs(u64::from(ka)) {
                    // Closed for another reason than silence.
                    return None;
                }
                let factor = factor.unwrap_or(profile.keepalive.server_timeout);
                let earliest = min_factor.unwrap_or(factor) * f64::from(ka);
                let tol = tolerance.unwrap_or(1.0);
                let due = factor * f64::from(ka);
                let g = gap.as_secs_f64();
                // A suite's odd numbers (negative, not finite) leave the window undrawn.
                let after = |secs: f64| {
                    let d = Duration::try_from_secs_f64(secs).ok()?;
                    last_client?.checked_add(d)
                };
                if let (Some(last), Some(from), Some(to)) =
                    (last_client, after(earliest), after(due + tol))
                {
                    close_windows.push((rule.to_owned(), [last, from, to, at]));
                }
                Some((g < earliest || g > due + tol).then(|| {
                    format!("the server closed a silent client after {g:.2} s; window {earliest:.2}–{:.2} s (up to {factor}× keepalive {ka} s + {tol} s)", due + tol)
                }))
            }
            Check::OneConnection if by == Some(Side::Server) => taken_over.map(|_| None),
            _ => None,
        });
        for (rule, window) in close_windows {
            let index = self.rules.iter().position(|r| r.id.value == rule);
            if let (Some(i), Some(state)) = (index, self.conns.get_mut(&event.conn)) {
                state.rules[i].detail_mut().close_window = Some(window);
            }
        }
        // Taken over, then ended by the client (or by either side, unseen) rather than by
        // the server: a server that kept it open past the window broke the rule; before
        // that, nothing shows what the server would have done. One that sent DISCONNECT
        // within the window crossed the newer connection: it left on its own, and there was
        // nothing to take over.
        let open_for = taken_over.map(|since| at.saturating_sub(since));
        let crossed = left_on_its_own && open_for.is_some_and(|d| d < TAKEOVER_WINDOW);
        if let (Some(since), false, false) = (taken_over, by == Some(Side::Server), crossed) {
            let open_for = at.saturating_sub(since);
            let ender = if by == Some(Side::Client) {
                "the client"
            } else {
                "either side"
            };
            if open_for >= TAKEOVER_WINDOW {
                let message = format!(
                    "a newer connection with the same identity ({who}) connected at {:.3} s; the server kept this one open for {:.2} s, until {ender} closed it (window: the server ends it within {} s)",
                    since.as_secs_f64(),
                    open_for.as_secs_f64(),
                    TAKEOVER_WINDOW.as_secs()
                );
                self.each_rule(event.conn, findings, |check, _| {
                    matches!(check, Check::OneConnection).then(|| Some(message.clone()))
                });
            } else if let Some(state) = self.conns.get_mut(&event.conn) {
                let why = format!(
                    "{ender} closed this connection {:.2} s after a newer connection with the same identity ({who}) connected, before the server ended it (window {} s): nothing shows what the server would have done",
                    open_for.as_secs_f64(),
                    TAKEOVER_WINDOW.as_secs()
                );
                mark_inconclusive(
                    &self.rules,
                    state,
                    |c| matches!(c, Check::OneConnection),
                    &why,
                );
            }
        }
        if let Some(since) = taken_over {
            if let Some(i) = self.rules.iter().position(|r| {
                r.check
                    .value
                    .as_slice()
                    .iter()
                    .any(|c| matches!(c, Check::OneConnection))
            }) {
                let note = format!(
                    "closed {:.2} s after a newer connection with the same identity ({who}) connected",
                    at.saturating_sub(since).as_secs_f64()
                );
                if let Some(state) = self.conns.get_mut(&event.conn) {
                    state.rules[i].detail_mut().notes.push(note);
                }
            }
        }
    }

    /// Turns a connection's rule states into cases and frees its state. At the end of a
    /// run (`at_end`), rules only decidable then are decided first.
    pub(super) fn finalize(&mut self, id: u64, at_end: bool) {
        let mut findings = Vec::new();
        let Some((taken_over, closed, has_connect, who)) = self.conns.get(&id).map(|s| {
            (
                s.taken_over_at,
                s.closed,
                s.connect.is_some(),
                s.identity.clone().unwrap_or_default(),
            )
        }) else {
            return;
        };
        if let (None, true) = (closed, at_end) {
            // Still open when the run ended: what was due is judged by then.
            self.conduct_end(id, self.last_at, None, &mut findings);
        }
        if let (Some(since), None, true) = (taken_over, closed, at_end) {
            let open_for = self.last_at.saturating_sub(since);
            if open_for >= TAKEOVER_WINDOW {
                self.each_rule(id, &mut findings, |check, _| {
                    matches!(check, Check::OneConnection).then(|| {
                        Some(format!(
                            "a newer connection with the same identity ({who}) connected at {:.3} s, but this one stayed open for the {:.2} s left of the run (window: the server ends it within {} s)",
                            since.as_secs_f64(),
                            open_for.as_secs_f64(),
                            TAKEOVER_WINDOW.as_secs()
                        ))
                    })
                });
            } else if let Some(state) = self.conns.get_mut(&id) {
                let why = format!(
                    "the run ended {:.2} s after a newer connection with the same identity ({who}) connected, within the server's window of {} s",
                    open_for.as_secs_f64(),
                    TAKEOVER_WINDOW.as_secs()
                );
                mark_inconclusive(
                    &self.rules,
                    state,
                    |c| matches!(c, Check::OneConnection),
                    &why,
                );
            }
        }
        let Some(mut state) = self.conns.remove(&id) else {
            return;
        };
        if !has_connect && !self.report_unconnected {
            return;
        }
        if !has_connect
            && self.summarise_unconnected
            && state.connect_refused.is_none()
            && state.rules.iter().all(|r| r.violation().is_none())
        {
            // Nothing to judge and nothing wrong: counted, and its state freed.
            self.unconnected.count += 1;
            if self.unconnected.examples.len() < UNCONNECTED_EXAMPLES {
                let lines: Vec<String> = state
                    .trace
                    .render(&state.label)
                    .into_iter()
                    .take(3)
                    .map(|l| format!("{:.3} s {}", l.at.as_secs_f64(), l.text))
                    .collect();
                self.unconnected
                    .examples
                    .push(format!("{} ({})", state.label, lines.join(", ")));
            }
            return;
        }
        if !has_connect {
            let why = match (&state.connect_refused, self.summarise_unconnected) {
                (Some(refused), _) => format!(
                    "the CONNECT of this connection was refused ({refused}): the device never logged in, so nothing after it was judged"
                ),
                (None, true) => "the device sent no CONNECT on this connection".to_owned(),
                (None, false) => "no CONNECT seen on this connection (it started before the capture, the capture ends before its CONNECT, or it never logged in)".to_owned(),
            };
            mark_inconclusive(
                &self.rules,
                &mut state,
                // Conduct rules speak only of what the packets seen showed.
                |c| {
                    !matches!(
                        c,
                        Check::WellFormed
                            | Check::PacketTypes { .. }
                            | Check::Conduct(_)
                            | Check::ProtocolErrors(_)
                    )
                },
                &why,
            );
        }
        if let Some(identity) = &state.identity {
            if let Some(ids) = self.open_by_client.get_mut(identity) {
                ids.retain(|x| *x != id);
                if ids.is_empty() {
                    self.open_by_client.remove(identity);
                }
            }
        }
        let lifetime = state
            .closed
            .map(|(t, _)| t)
            .or(state.last_client)
            .unwrap_or(state.opened)
            .saturating_sub(state.opened);
        let mut cases = Vec::new();
        let mut trace = None;
        for (i, rule) in self.rules.iter().enumerate() {
            let rs = &state.rules[i];
            if !rs.applied && rs.warning().is_none() {
                continue;
            }
            let verdict = rule_verdict(rule, rs);
            // Evidence for what did not pass; a passing rule needs no conversation.
            let case_trace = if verdict == Verdict::Passed {
                Vec::new()
            } else {
                trace
                    .get_or_insert_with(|| state.trace.render(&state.label))
                    .clone()
            };
            let silence = match (state.keep_alive(), state.longest_silence) {
                (Some(ka), Some(gap))
                    if ka > 0
                        && rule
                            .check
                            .value
                            .as_slice()
                            .iter()
                            .any(|c| matches!(c, Check::ClientSilence)) =>
                {
                    Some((gap, SilenceWindow::new(ka, &self.profile.keepalive)))
                }
                _ => None,
            };
            let measured = silence.map(|(gap, window)| {
                format!(
                    "longest silence {:.3} s; {}",
                    gap.as_secs_f64(),
                    window.describe()
                )
            });
            let timing = rule_timing(&state, rs, silence, &case_trace);
            cases.push(CaseReport {
                id: rule.id.value.clone(),
                title: rule.title.clone(),
                cites: rule.cites.clone(),
                verdict,
                branch: None,
                measured,
                duration: lifetime,
                trace: case_trace,
                timing,
            });
        }
        self.finished.push(FinishedConn {
            id,
            label: state.label,
            lifetime,
            cases,
        });
    }

    /// Ends judging: every rule that applied on every connection becomes one case.
    pub fn finish(mut self, grouping: Grouping) -> Vec<SuiteReport> {
        let mut open: Vec<u64> = self.conns.ids().collect();
        // In connection order, as if they had closed: reports do not depend on hashing.
        open.sort_unstable();
        for id in open {
            self.finalize(id, true);
        }
        let mut groups: BTreeMap<String, SuiteReport> = BTreeMap::new();
        if self.unconnected.count > 0 {
            let name = "connections without CONNECT".to_owned();
            let message = format!(
                "{} connection(s) never sent a CONNECT (port scans, health checks, failed TLS handshakes): nothing to judge; e.g. {}",
                self.unconnected.count,
                self.unconnected.examples.join("; ")
            );
            groups.insert(
                name.clone(),
                SuiteReport {
                    name,
                    classname: self.suite_name.clone(),
                    properties: Vec::new(),
                    cases: vec![CaseReport {
                        id: NO_CONNECT_CASE.into(),
                        title: "connections that never logged in, summarised".into(),
                        cites: Vec::new(),
                        verdict: Verdict::Inconclusive { message },
                        branch: None,
                        measured: None,
                        duration: Duration::ZERO,
                        trace: Vec::new(),
                        timing: None,
                    }],
                    duration: Duration::ZERO,
                },
            );
        }
        for done in std::mem::take(&mut self.finished) {
            let key = match grouping {
                Grouping::ClientId => done.label.clone(),
                Grouping::Connection => match self.conn_names.get(&done.id) {
                    Some(name) => format!("{} ({name})", done.label),
                    None => format!("{} (connection {})", done.label, done.id),
                },
                Grouping::All => format!("{} (rules over the run's connections)", self.suite_name),
            };
            let group = groups.entry(key.clone()).or_insert_with(|| SuiteReport {
                name: key.clone(),
                classname: self.suite_name.clone(),
                properties: Vec::new(),
                cases: Vec::new(),
                duration: Duration::ZERO,
            });
            group.duration += done.lifetime;
            for case in done.cases {
                // Several connections of one device: the worst verdict per rule wins.
                match group.cases.iter_mut().find(|c| c.id == case.id) {
                    Some(existing) if severity(&case.verdict) > severity(&existing.verdict) => {
                        *existing = case
                    }
                    Some(_) => {}
                    None => group.cases.push(case),
                }
            }
        }
        groups.into_values().collect()
    }
}

/// How long a client with a given Keep Alive may stay silent.
///
/// The client must send within each Keep Alive period (MQTT-3.1.2-23), but the gap is
/// measured at the far end of a network and clients ping once the period has fully
/// elapsed: up to Keep Alive plus the profile's `client_tolerance` it passes. A server may
/// drop the client only after `server_timeout` × Keep Alive (MQTT-3.1.2-24: 1.5 ×, or the
/// platform's own factor): silence from there on fails; in between it is a warning.
#[derive(Debug, Clone, Copy)]
pub(super) struct SilenceWindow {
    keepalive: u16,
    tolerance: f64,
    factor: f64,
    /// Silence up to this many seconds passes.
    pub(super) pass_until: f64,
    /// Silence of this many seconds or more fails.
    pub(super) drop_at: f64,
}

impl SilenceWindow {
    pub(super) fn new(keepalive: u16, rules: &crate::suite::profile::KeepaliveRules) -> Self {
        let ka = f64::from(keepalive);
        let factor = rules.server_timeout.max(1.0);
        let drop_at = factor * ka;
        Self {
            keepalive,
            tolerance: rules.client_tolerance,
            factor,
            pass_until: (ka + rules.client_tolerance).min(drop_at),
            drop_at,
        }
    }

    /// The window in words, for every verdict that judged a silence.
    pub(super) fn describe(&self) -> String {
        format!(
            "keepalive {} s: passes up to {:.2} s ({:.2} s tolerance for network delay), fails from {:.2} s ({} × keepalive, when a server may drop the client)",
            self.keepalive, self.pass_until, self.tolerance, self.drop_at, self.factor
        )
    }
}

/// What the report draws of a rule's verdict on a connection: for a server-close rule the
/// close against its window (from the client's last packet); for a silence rule the
/// longest silence of the client against its keep-alive window (from the last packet
/// before it, passing up to Keep Alive plus the tolerance); and the line of the first
/// violation.
fn rule_timing(
    state: &ConnState,
    rs: &RuleState,
    silence: Option<(Duration, SilenceWindow)>,
    trace: &[TraceLine],
) -> Option<Timing> {
    // Without a conversation (a passing rule keeps none) there is nothing to draw.
    if trace.is_empty() {
        return None;
    }
    let conn = Some(state.label.as_str());
    let offending_at = rs.detail.as_ref().and_then(|d| d.violation_at);
    let close_window = rs.detail.as_ref().and_then(|d| d.close_window);
    let mut timing = match (close_window, silence, state.longest_silence_end) {
        (Some([last, from, to, closed]), _, _) => Timing {
            anchor: Some(last),
            from: Some(from),
            to: Some(to),
            measured: Some(closed),
            what: "server closed the silent client".to_owned(),
            ..Timing::default()
        },
        (None, Some((gap, window)), Some(end)) => {
            let start = end.saturating_sub(gap);
            Timing {
                anchor: Some(start),
                to: Some(start + Duration::from_secs_f64(window.pass_until)),
                measured: Some(end),
                what: format!("client silence; fails from {:.2} s", window.drop_at),
                offending: None,
                ..Timing::default()
            }
        }
        _ if offending_at.is_some() => Timing::default(),
        _ => return None,
    };
    timing.conn = conn.map(str::to_owned);
    // The silence's end when it is what broke the rule, else the first violation's event.
    let at = match (
        rs.violation().is_some() || rs.warning().is_some(),
        timing.measured,
    ) {
        (true, Some(end)) if offending_at.is_none_or(|v| v == end) => Some(end),
        (true, _) => offending_at,
        _ => None,
    };
    timing.offending = at.and_then(|at| Timing::line_at(trace, conn, at));
    Some(timing)
}

/// A closed connection's cases.
pub(super) struct FinishedConn {
    id: u64,
    label: String,
    lifetime: Duration,
    cases: Vec<CaseReport>,
}

/// Marks the rules with a check `concerned` inconclusive for `why`, unless already violated.
fn mark_inconclusive(
    rules: &[RuleDef],
    state: &mut ConnState,
    concerned: impl Fn(&Check) -> bool,
    why: &str,
) {
    for (i, rule) in rules.iter().enumerate() {
        let rs = &mut state.rules[i];
        if rule.check.value.as_slice().iter().any(&concerned) && rs.violation().is_none() {
            rs.applied = true;
            rs.detail_mut().inconclusive = Some(why.to_owned());
        }
    }
}

fn severity(v: &Verdict) -> u8 {
    match v {
        Verdict::Skipped { .. } => 0,
        Verdict::Passed => 1,
        Verdict::Inconclusive { .. } => 2,
        Verdict::Recorded { .. } => 3,
        Verdict::Warning { .. } => 4,
        Verdict::Failed { .. } => 5,
        Verdict::Error { .. } => 6,
    }
}

fn rule_verdict(rule: &RuleDef, rs: &RuleState) -> Verdict {
    if let Some(v) = rs.violation() {
        let more = if rs.violations > 1 {
            format!(" (and {} more)", rs.violations - 1)
        } else {
            String::new()
        };
        let message = format!("{}: {v}{more}", rule.title);
        return rule.status.unwrap_or(Status::Doc).missed(message);
    }
    if let Some(w) = rs.warning() {
        return Verdict::Warning { message: w.clone() };
    }
    if let Some(i) = rs.inconclusive() {
        return Verdict::Inconclusive { message: i.clone() };
    }
    rule.status
        .unwrap_or(Status::Doc)
        .met(|| (!rs.notes().is_empty()).then(|| rs.notes().join("; ")))
}
