//! The live server's answers and close against the recorded ones: what matches, what
//! differs, within which window.

use super::*;

pub(super) fn responses_case(
    plan: &Plan,
    shared: &Shared,
    out: &Outcome,
    live: &Live,
    late: Duration,
    duration: Duration,
) -> CaseReport {
    let recorded_span = plan
        .items
        .iter()
        .rev()
        .find(|i| i.from == Side::Client)
        .map(|i| i.at.saturating_sub(plan.start))
        .unwrap_or_default();
    let live_span = live
        .last_send
        .map(|s| s.saturating_duration_since(live.opened))
        .unwrap_or_default();
    let mut measured = format!(
        "{}/{} recorded server packets matched, live sent {}; {}/{} client packets sent over {} (recorded {}, speed {})",
        out.matched,
        out.recorded_server,
        live.received,
        out.sent,
        out.client_total,
        secs(live_span),
        secs(recorded_span),
        speed_text(shared.speed),
    );
    if !out.delays.is_empty() {
        let mut rec: Vec<Duration> = out.delays.iter().map(|d| d.0).collect();
        let mut liv: Vec<Duration> = out.delays.iter().map(|d| d.1).collect();
        rec.sort_unstable();
        liv.sort_unstable();
        measured.push_str(&format!(
            "; response delay median {} live vs {} recorded, max {} vs {}",
            ms(liv[liv.len() / 2]),
            ms(rec[rec.len() / 2]),
            ms(liv[liv.len() - 1]),
            ms(rec[rec.len() - 1]),
        ));
    }
    if out.order_changed > 0 {
        measured.push_str(&format!(
            "; {} packet(s) matched out of the live order (independent packets interleaved differently)",
            out.order_changed
        ));
    }
    if late > Duration::from_millis(100) {
        measured.push_str(&format!("; started {} later than scheduled", secs(late)));
    }
    let verdict = if out.differences.is_empty() {
        Verdict::Passed
    } else {
        let shown: Vec<&str> = out
            .differences
            .iter()
            .take(DIFFERENCES_SHOWN)
            .map(String::as_str)
            .collect();
        let mut message = shown.join("; ");
        if out.differences.len() > shown.len() {
            message.push_str(&format!(
                "; … and {} more difference(s)",
                out.differences.len() - shown.len()
            ));
        }
        Verdict::Failed { message }
    };
    CaseReport {
        id: "REPLAY-RESPONSES".into(),
        title: "the live server answers the recorded client's packets as the recorded server did"
            .into(),
        cites: Vec::new(),
        verdict,
        branch: None,
        measured: Some(measured),
        duration,
        trace: Vec::new(),
        timing: None,
    }
}

/// The close verdict and what was measured.
pub(super) fn judge_close(
    end: &RecEnd,
    peer_first: Option<&(Instant, String)>,
    disconnect_sent: Option<Instant>,
    last_before_close: Instant,
    unsent: &Option<(usize, String)>,
    live: &Live,
    window: Duration,
) -> (Verdict, String) {
    let recorded = format!("recorded: {}", end.text());
    let live_text = match peer_first {
        Some((at, detail)) => format!(
            "live: the server closed the connection ({detail}) at {}, {} after the last packet",
            live.rel(*at),
            secs(at.saturating_duration_since(last_before_close))
        ),
        None => match live.our_close {
            Some(at) => format!(
                "live: the connection was open until the replay closed it at {}{}",
                live.rel(at),
                match &live.peer_closed {
                    Some((p, _)) => format!(
                        " (the server closed its side {} later)",
                        secs(p.saturating_duration_since(at))
                    ),
                    None => " (the server had not closed its side within the window)".into(),
                }
            ),
            None => "live: the connection is still open".into(),
        },
    };
    let measured = format!("{recorded}; {live_text}");
    if let Some((n, what)) = unsent {
        return (
            Verdict::Failed {
                message: format!(
                    "{recorded}; {live_text}, before the client's packet {n} ({what}) could be sent"
                ),
            },
            measured,
        );
    }
    let fail = |why: String| Verdict::Failed {
        message: format!("{recorded}; {live_text}{why}"),
    };
    let verdict = match (end, peer_first) {
        (RecEnd::Server { since, .. }, Some((at, _))) => {
            let live_since = at.saturating_duration_since(last_before_close);
            let tol = close_tolerance(*since, window);
            let diff = live_since.abs_diff(*since);
            if diff <= tol {
                Verdict::Passed
            } else {
                fail(format!(
                    " — {} apart, more than the tolerance of {}",
                    secs(diff),
                    secs(tol)
                ))
            }
        }
        (RecEnd::Server { since, .. }, None) => fail(format!(
            " — the live server did not close within {} after the last packet",
            secs(*since + close_tolerance(*since, window))
        )),
        (RecEnd::AfterDisconnect { .. }, Some((at, _))) => match disconnect_sent {
            Some(d) if *at >= d => Verdict::Passed,
            _ => fail(" — before the client's DISCONNECT".into()),
        },
        (
            RecEnd::AfterDisconnect {
                by: Some(Side::Server),
                ..
            },
            None,
        ) => fail(" — the live server did not close the connection after the DISCONNECT".into()),
        (RecEnd::AfterDisconnect { .. }, None) => Verdict::Passed,
        (RecEnd::Client { .. }, Some(_)) => fail(" — the server closed first".into()),
        (RecEnd::Open { .. }, Some(_)) => fail(" — where the recording stays open".into()),
        (RecEnd::Client { .. } | RecEnd::Open { .. }, None) => Verdict::Passed,
    };
    (verdict, measured)
}

/// How far a live server close may be from the recorded one (relative to the last
/// packet): the response window, or a quarter of the recorded delay when longer. Servers
/// check keep-alive timers coarsely (mosquitto 2.0 every few seconds), so tighter bounds
/// would judge the timer's granularity, not the server.
pub(super) fn close_tolerance(since: Duration, window: Duration) -> Duration {
    window.max(since / 4)
}

/// Records the live identifier the server chose for a recorded server PUBLISH / PUBREL.
pub(super) fn learn_ids(
    r: &Result<Packet, DecodeError>,
    l: &Result<Packet, DecodeError>,
    ids: &mut HashMap<u16, u16>,
) {
    match (r, l) {
        (Ok(Packet::Publish(a)), Ok(Packet::Publish(b))) => {
            if let (Some(x), Some(y)) = (a.packet_id, b.packet_id) {
                ids.insert(x, y);
            }
        }
        (Ok(Packet::PubRel(a)), Ok(Packet::PubRel(b))) => {
            ids.insert(a.packet_id, b.packet_id);
        }
        _ => {}
    }
}

/// The client's PUBACK / PUBREC / PUBCOMP (which answer server PUBLISH / PUBREL) with the
/// live server's identifier in place of the recorded server's; other packets unchanged.
pub(super) fn remap_ack(bytes: &Bytes, ids: &HashMap<u16, u16>) -> Bytes {
    let Some(&first) = bytes.first() else {
        return bytes.clone();
    };
    if !matches!(first >> 4, 4 | 5 | 7) {
        return bytes.clone();
    }
    let Ok(Some(h)) = FixedHeader::parse(bytes) else {
        return bytes.clone();
    };
    let at = h.header_len();
    let Some(id) = bytes
        .get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
    else {
        return bytes.clone();
    };
    match ids.get(&id) {
        Some(&live) if live != id => {
            let mut out = bytes.to_vec();
            out[at..at + 2].copy_from_slice(&live.to_be_bytes());
            Bytes::from(out)
        }
        _ => bytes.clone(),
    }
}

/// A code with its name: `0x05 (Not authorized)`.
pub(super) fn code(version: ProtocolVersion, ty: PacketType, c: u8) -> String {
    format!("{c:#04x} ({})", code_name(version, ty, c))
}

pub(super) fn codes(version: ProtocolVersion, ty: PacketType, list: &[u8]) -> String {
    format!(
        "[{}]",
        list.iter()
            .map(|c| code(version, ty, *c))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// A packet in a few words: `CONNACK 0x00`, `PUBACK 3`, `PUBLISH "a/b" QoS 1`.
pub(super) fn short(
    bytes: &[u8],
    packet: &Result<Packet, DecodeError>,
    version: ProtocolVersion,
) -> String {
    match packet {
        Ok(Packet::ConnAck(c)) => format!("CONNACK {:#04x}", c.code),
        Ok(Packet::SubAck(s)) => format!(
            "SUBACK {} [{}]",
            s.packet_id,
            s.return_codes
                .iter()
                .map(|c| format!("{c:#04x}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Ok(Packet::UnsubAck(u)) => format!("UNSUBACK {}", u.packet_id),
        Ok(
            p @ (Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubRel(r) | Packet::PubComp(r)),
        ) => format!("{} {}", p.packet_type(), r.packet_id),
        Ok(Packet::Publish(p)) => format!(
            "PUBLISH {:?} QoS {}{} ({} bytes)",
            p.topic.as_str(),
            p.qos.as_u8(),
            if p.retain { " retained" } else { "" },
            p.payload.len()
        ),
        Ok(Packet::Disconnect(d)) => format!("DISCONNECT {:#04x}", d.reason_code),
        Ok(p @ Packet::Connect(_)) => summarize(p, version),
        Ok(p) => p.packet_type().name().to_owned(),
        Err(e) => match packet_type_of(bytes, packet) {
            Some(t) => format!("a malformed {} ({e})", t.name()),
            None => format!("a malformed packet ({e})"),
        },
    }
}

/// Differences between a recorded server packet and its live counterpart.
pub(super) fn compare(
    r: &RecServer,
    l: &LivePacket,
    ids: &HashMap<u16, u16>,
    version: ProtocolVersion,
) -> Vec<String> {
    let n = r.n;
    let at = format!("at server packet {n}");
    let (rp, lp) = match (&r.packet, &l.packet) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(_), Err(_)) => {
            return if r.bytes == l.bytes {
                Vec::new()
            } else {
                vec![format!(
                    "recorded {}, live {} {at}",
                    short(&r.bytes, &r.packet, version),
                    short(&l.bytes, &l.packet, version)
                )]
            };
        }
        (Ok(_), Err(e)) => {
            return vec![format!(
                "recorded {}, live {} does not decode: {e} [{}] {at}",
                short(&r.bytes, &r.packet, version),
                packet_type_of(&l.bytes, &l.packet)
                    .map(|t| t.name())
                    .unwrap_or("packet"),
                hex_preview(&l.bytes)
            )];
        }
        (Err(_), Ok(_)) => {
            return vec![format!(
                "recorded {}, live {} (well-formed) {at}",
                short(&r.bytes, &r.packet, version),
                short(&l.bytes, &l.packet, version)
            )];
        }
    };
    let ty = rp.packet_type();
    let mut d = Vec::new();
    if ty != lp.packet_type() {
        d.push(format!(
            "recorded {}, live {} {at}",
            short(&r.bytes, &r.packet, version),
            short(&l.bytes, &l.packet, version)
        ));
        return d;
    }
    let reason = |d: &mut Vec<String>, a: u8, b: u8| {
        if a != b {
            d.push(format!(
                "recorded {ty} reason {}, live {ty} reason {} {at}",
                code(version, ty, a),
                code(version, ty, b)
            ));
        }
    };
    match (rp, lp) {
        (Packet::ConnAck(a), Packet::ConnAck(b)) => {
            if a.code != b.code {
                d.push(format!(
                    "recorded CONNACK {}, live CONNACK {} {at}",
                    code(version, ty, a.code),
                    code(version, ty, b.code)
                ));
            }
            if a.session_present != b.session_present {
                d.push(format!(
                    "recorded CONNACK session present {}, live {} {at}",
                    a.session_present, b.session_present
                ));
            }
        }
        (Packet::SubAck(a), Packet::SubAck(b)) => {
            if a.packet_id != b.packet_id {
                d.push(format!(
                    "recorded SUBACK {}, live SUBACK {} {at}",
                    a.packet_id, b.packet_id
                ));
            }
            if a.return_codes != b.return_codes {
                d.push(format!(
                    "recorded SUBACK {}, live {} {at}",
                    codes(version, ty, &a.return_codes),
                    codes(version, ty, &b.return_codes)
                ));
            }
        }
        (Packet::UnsubAck(a), Packet::UnsubAck(b)) => {
            if a.packet_id != b.packet_id {
                d.push(format!(
                    "recorded UNSUBACK {}, live UNSUBACK {} {at}",
                    a.packet_id, b.packet_id
                ));
            }
            if a.reason_codes != b.reason_codes {
                d.push(format!(
                    "recorded UNSUBACK {}, live {} {at}",
                    codes(version, ty, &a.reason_codes),
                    codes(version, ty, &b.reason_codes)
                ));
            }
        }
        (Packet::PubAck(a), Packet::PubAck(b))
        | (Packet::PubRec(a), Packet::PubRec(b))
        | (Packet::PubComp(a), Packet::PubComp(b))
        | (Packet::PubRel(a), Packet::PubRel(b)) => {
            let expected = if ty == PacketType::PubRel {
                ids.get(&a.packet_id).copied().unwrap_or(a.packet_id)
            } else {
                a.packet_id
            };
            if expected != b.packet_id {
                d.push(format!(
                    "recorded {ty} {}, live {ty} {} {at}",
                    a.packet_id, b.packet_id
                ));
            }
            reason(&mut d, a.reason_code, b.reason_code);
        }
        (Packet::Publish(a), Packet::Publish(b)) => {
            if a.topic != b.topic {
                d.push(format!(
                    "recorded PUBLISH topic {:?}, live {:?} {at}",
                    a.topic.as_str(),
                    b.topic.as_str()
                ));
            }
            if a.qos != b.qos {
                d.push(format!(
                    "recorded PUBLISH {:?} QoS {}, live QoS {} {at}",
                    a.topic.as_str(),
                    a.qos.as_u8(),
                    b.qos.as_u8()
                ));
            }
            if a.retain != b.retain {
                d.push(format!(
                    "recorded PUBLISH {:?} retain {}, live retain {} {at}",
                    a.topic.as_str(),
                    a.retain,
                    b.retain
                ));
            }
            if a.payload != b.payload {
                d.push(format!(
                    "recorded PUBLISH {:?} payload {} bytes [{}], live {} bytes [{}] {at}",
                    a.topic.as_str(),
                    a.payload.len(),
                    hex_preview(&a.payload),
                    b.payload.len(),
                    hex_preview(&b.payload)
                ));
            }
        }
        (Packet::Disconnect(a), Packet::Disconnect(b)) => {
            reason(&mut d, a.reason_code, b.reason_code)
        }
        (Packet::Auth(a), Packet::Auth(b)) => reason(&mut d, a.reason_code, b.reason_code),
        (Packet::PingResp, Packet::PingResp) => {}
        // Packets a server does not send: compared as bytes.
        _ => {
            if r.bytes != l.bytes {
                d.push(format!(
                    "recorded {}, live {} {at}",
                    summarize(rp, version),
                    summarize(lp, version)
                ));
            }
        }
    }
    d
}
