//! What the judge keeps of a conversation as evidence: the first and last events of each
//! connection, each cut to a bounded size, and one event rendered in words.

use super::*;

/// The evidence of one event: rendered only when a rule reports something.
pub(crate) struct Evidence<'a> {
    pub(super) event: &'a Event,
    pub(super) version: ProtocolVersion,
}

impl std::fmt::Display for Evidence<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "at {:.3} s: {}",
            self.event.at.as_secs_f64(),
            event_text(self.event, self.version)
        )
    }
}

/// One event in words.
fn event_text(event: &Event, version: ProtocolVersion) -> String {
    match &event.kind {
        EventKind::Opened {
            endpoints,
            from_start,
        } => {
            let what = if *from_start {
                "connection opened"
            } else {
                "connection first seen, already open (the capture began after it opened)"
            };
            match endpoints {
                Some(e) => format!("{what}: {} → {}", e.client, e.server),
                None => what.to_owned(),
            }
        }
        EventKind::Tls(tls) => format!(
            "TLS: SNI {}, offered {}, negotiated {}",
            tls.sni.as_deref().unwrap_or("(none)"),
            tls.offered
                .iter()
                .map(|v| crate::event::tls_version_name(*v))
                .collect::<Vec<_>>()
                .join(", "),
            tls.negotiated
                .map(crate::event::tls_version_name)
                .unwrap_or_else(|| "(not seen)".into())
        ),
        EventKind::WebSocket(ws) => ws.to_string(),
        EventKind::Gap { bytes } => format!("{bytes} bytes lost from the stream (capture gap)"),
        EventKind::Packet { bytes, packet } => {
            let version = match packet {
                Ok(Packet::Connect(c)) => c.protocol,
                _ => version,
            };
            describe(bytes, packet, version)
        }
        EventKind::Unframeable(e) => format!("stream cannot be framed: {e}"),
        EventKind::Closed { by, detail } => format!(
            "closed by {} ({detail})",
            match by {
                Some(Side::Client) => "the client",
                Some(Side::Server) => "the server",
                None => "either side",
            }
        ),
    }
}

/// Events kept per connection at the start and at the end of its conversation.
const TRACE_HEAD: usize = 24;
const TRACE_TAIL: usize = 24;

/// Bytes of a packet kept as evidence; a longer PUBLISH keeps its first bytes (topic,
/// packet id, properties and the start of the payload).
const KEPT_BYTES: usize = 160;

/// One kept event, decoded again only when a report shows it. Packets are copied into
/// the entry, never held as a handle on their frame: a handle would keep whatever buffer
/// the frame lives in (a capture's reassembly buffer) alive for as long as the
/// connection lasts, and free it cold when the entry is evicted.
#[derive(Debug)]
pub(super) struct Kept {
    at: Duration,
    from: Side,
    version: ProtocolVersion,
    what: KeptWhat,
}

#[derive(Debug)]
enum KeptWhat {
    /// A packet's first `kept` bytes of `len`.
    Packet {
        len: u32,
        kept: u8,
        bytes: [u8; KEPT_BYTES],
    },
    /// Anything else (and the rare long packet that is not a PUBLISH), as text.
    Text(String),
}

impl Kept {
    fn of(event: &Event, version: ProtocolVersion) -> Self {
        let what = match &event.kind {
            EventKind::Packet { bytes, packet }
                if bytes.len() <= KEPT_BYTES || matches!(packet, Ok(Packet::Publish(_))) =>
            {
                let kept = bytes.len().min(KEPT_BYTES);
                let mut copy = [0u8; KEPT_BYTES];
                copy[..kept].copy_from_slice(&bytes[..kept]);
                KeptWhat::Packet {
                    len: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
                    kept: kept as u8,
                    bytes: copy,
                }
            }
            _ => KeptWhat::Text(event_text(event, version)),
        };
        Self {
            at: event.at,
            from: event.from,
            version,
            what,
        }
    }

    fn line(&self, label: &str) -> TraceLine {
        let (direction, text) = match &self.what {
            KeptWhat::Packet { len, kept, bytes } => {
                let arrow = if self.from == Side::Client {
                    "→"
                } else {
                    "←"
                };
                let prefix = &bytes[..usize::from(*kept)];
                let text = if u32::from(*kept) == *len {
                    let frame = bytes::Bytes::copy_from_slice(prefix);
                    let packet = crate::codec::decode_packet(&frame, self.version);
                    let version = match &packet {
                        Ok(Packet::Connect(c)) => c.protocol,
                        _ => self.version,
                    };
                    describe(prefix, &packet, version)
                } else {
                    cut_publish_text(prefix, *len, self.version)
                };
                (arrow.to_owned(), text)
            }
            KeptWhat::Text(text) => (String::new(), text.clone()),
        };
        TraceLine {
            at: self.at,
            conn: label.to_owned(),
            direction,
            text,
        }
    }
}

/// A long PUBLISH of which only `prefix` was kept: decoded as if its payload ended there
/// (the remaining length rewritten), and said so.
fn cut_publish_text(prefix: &[u8], len: u32, version: ProtocolVersion) -> String {
    let note = format!("{len} bytes, the first {} kept", prefix.len());
    // The fixed header: the type byte and a remaining length of 1–4 bytes.
    let header = prefix
        .iter()
        .skip(1)
        .take(4)
        .position(|b| b & 0x80 == 0)
        .map(|i| i + 2);
    let decoded = header.and_then(|h| {
        let body = prefix.get(h..)?;
        let mut frame = vec![prefix[0]];
        crate::codec::varint::encode(u32::try_from(body.len()).ok()?, &mut frame);
        frame.extend_from_slice(body);
        crate::codec::decode_packet(&bytes::Bytes::from(frame), version).ok()
    });
    match decoded {
        Some(packet) => format!("{} ({note})", describe(prefix, &Ok(packet), version)),
        None => format!("PUBLISH [{}] ({note})", hex_preview(prefix)),
    }
}

/// A connection's conversation, bounded: its first and last events.
#[derive(Debug, Default)]
pub(super) struct Trace {
    head: Vec<Kept>,
    /// The last events, a ring once full: `tail[next]` is the oldest. Overwritten in
    /// place, so keeping an event touches one slot of this connection's memory (with
    /// thousands of connections a slot is rarely in cache).
    tail: Vec<Kept>,
    next: usize,
    skipped: usize,
}

impl Trace {
    pub(super) fn push(&mut self, event: &Event, version: ProtocolVersion) {
        let kept = Kept::of(event, version);
        if self.head.len() < TRACE_HEAD {
            self.head.push(kept);
        } else if self.tail.len() < TRACE_TAIL {
            self.tail.push(kept);
        } else {
            self.tail[self.next] = kept;
            self.next = (self.next + 1) % TRACE_TAIL;
            self.skipped += 1;
        }
    }

    /// Where the next event will be kept, or next to it (for a prefetch).
    pub(super) fn next_slot(&self) -> Option<&Kept> {
        if self.tail.len() == TRACE_TAIL {
            self.tail.get(self.next)
        } else {
            self.tail.last().or(self.head.last())
        }
    }

    /// The tail, oldest first.
    fn tail_in_order(&self) -> impl Iterator<Item = &Kept> {
        let (newer, older) = self.tail.split_at(self.next);
        older.iter().chain(newer)
    }

    pub(super) fn render(&self, label: &str) -> Vec<TraceLine> {
        let mut out: Vec<TraceLine> = self.head.iter().map(|k| k.line(label)).collect();
        if self.skipped > 0 {
            out.push(TraceLine {
                at: self.tail_in_order().next().map_or(Duration::ZERO, |k| k.at),
                conn: label.to_owned(),
                direction: String::new(),
                text: format!("… {} events not kept …", self.skipped),
            });
        }
        out.extend(self.tail_in_order().map(|k| k.line(label)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet_event(packet: Packet) -> Event {
        let bytes = bytes::Bytes::from(
            crate::codec::encode_to_vec(&packet, ProtocolVersion::V3_1_1).expect("encodes"),
        );
        let decoded = crate::codec::decode_packet(&bytes, ProtocolVersion::V3_1_1);
        Event {
            conn: 1,
            at: Duration::from_millis(5),
            from: Side::Client,
            kind: EventKind::Packet {
                bytes,
                packet: decoded,
            },
        }
    }

    #[test]
    fn a_long_publish_is_kept_cut_and_still_shows_its_topic() {
        let mut p = crate::codec::Publish::new("devices/d1/telemetry", vec![b'x'; 1000]);
        p.qos = crate::codec::QoS::AtLeastOnce;
        p.packet_id = Some(7);
        let kept = Kept::of(&packet_event(Packet::Publish(p)), ProtocolVersion::V3_1_1);
        let text = kept.line("d1").text;
        assert!(
            text.starts_with("PUBLISH topic=\"devices/d1/telemetry\" qos=1"),
            "{text}"
        );
        assert!(text.contains("packet_id=7"), "{text}");
        assert!(
            text.ends_with(&format!("(1027 bytes, the first {KEPT_BYTES} kept)")),
            "{text}"
        );
    }

    #[test]
    fn a_long_trace_keeps_its_first_and_last_events_in_order() {
        let mut trace = Trace::default();
        let total = TRACE_HEAD + TRACE_TAIL + 13;
        for n in 0..total {
            let mut ev = packet_event(Packet::PingReq);
            ev.at = Duration::from_millis(n as u64);
            trace.push(&ev, ProtocolVersion::V3_1_1);
        }
        let lines = trace.render("d1");
        assert_eq!(lines.len(), TRACE_HEAD + 1 + TRACE_TAIL);
        let at = |i: usize| lines[i].at.as_millis() as usize;
        assert!((0..TRACE_HEAD).all(|i| at(i) == i));
        assert_eq!(lines[TRACE_HEAD].text, "… 13 events not kept …");
        assert_eq!(at(TRACE_HEAD), TRACE_HEAD + 13);
        let tail: Vec<usize> = (TRACE_HEAD + 1..lines.len()).map(at).collect();
        let want: Vec<usize> = (TRACE_HEAD + 13..total).collect();
        assert_eq!(tail, want);
    }

    #[test]
    fn a_short_packet_is_kept_whole() {
        let p = crate::codec::Publish::new("t", b"hello".to_vec());
        let kept = Kept::of(&packet_event(Packet::Publish(p)), ProtocolVersion::V3_1_1);
        let text = kept.line("d1").text;
        assert!(text.contains("payload=5 bytes"), "{text}");
        assert!(!text.contains("kept"), "{text}");
    }

    #[test]
    fn a_long_connect_is_kept_as_text_with_its_password_masked() {
        let mut c = Connect::new(ProtocolVersion::V3_1_1, "d1");
        c.username = Some("user".into());
        c.password = Some(bytes::Bytes::from(vec![b's'; 300]));
        let kept = Kept::of(
            &packet_event(Packet::Connect(Box::new(c))),
            ProtocolVersion::V3_1_1,
        );
        assert!(matches!(kept.what, KeptWhat::Text(_)));
        let text = kept.line("d1").text;
        assert!(text.starts_with("CONNECT"), "{text}");
        assert!(!text.contains("73 73 73"), "the password shows: {text}");
    }
}
