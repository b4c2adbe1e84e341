//! `mqtt-conform decode`: what is in these bytes, and what is wrong with them?

use super::{DecodeArgs, Format, exit};
use crate::codec::framing::{Framer, InputEnd, split_input};
use crate::codec::reason::code_name;
use crate::codec::{DecodeError, Packet, ProtocolVersion, decode_packet, parse_hex};
use bytes::Bytes;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::io::Read;

/// The version of the first CONNECT in `input`, if any.
fn connect_version(input: &[u8], framer: Framer) -> Option<ProtocolVersion> {
    let mut offset = 0;
    while let Ok(Some(len)) = framer.packet_len(&input[offset..], ProtocolVersion::V3_1_1) {
        let frame = Bytes::copy_from_slice(&input[offset..offset + len]);
        if let Ok(Packet::Connect(c)) = decode_packet(&frame, ProtocolVersion::V3_1_1) {
            return Some(c.protocol);
        }
        offset += len;
    }
    None
}

/// One decoded packet with where it sat in the input.
struct Decoded {
    offset: usize,
    length: usize,
    version: ProtocolVersion,
    packet: Packet,
}

/// The result of decoding an input: the packets before the first violation, and it.
struct Outcome {
    packets: Vec<Decoded>,
    error: Option<DecodeError>,
    /// The input stopped inside a packet: not a violation, there is just no more of it.
    incomplete: Option<Incomplete>,
}

/// A packet the input ends inside of.
struct Incomplete {
    offset: usize,
    have: usize,
    /// Its whole length, when its fixed header is complete.
    need: Option<usize>,
    /// Its type, from the first byte.
    packet_type: Option<crate::codec::PacketType>,
}

impl Incomplete {
    fn describe(&self) -> String {
        let what = self
            .packet_type
            .map_or_else(|| "packet".to_owned(), |t| t.to_string());
        match self.need {
            Some(need) => format!(
                "incomplete: the {what} at byte {} is {need} bytes long but the input ends after {} of them ({} more needed); not a protocol violation",
                self.offset,
                self.have,
                need - self.have
            ),
            None => format!(
                "incomplete: the input ends inside the fixed header of the {what} at byte {} ({} byte(s) given); not a protocol violation",
                self.offset, self.have
            ),
        }
    }
}

fn decode_all(input: &[u8], protocol: Option<ProtocolVersion>, framer: Framer) -> Outcome {
    let version = protocol
        .or_else(|| connect_version(input, framer))
        .unwrap_or(ProtocolVersion::V3_1_1);
    let (frames, end) = split_input(input, framer, version);
    let mut packets = Vec::new();
    let mut tracker_version = version;
    for (offset, frame) in frames {
        match frame.packet {
            Ok(packet) => {
                if let Packet::Connect(c) = &packet {
                    tracker_version = c.protocol;
                }
                packets.push(Decoded {
                    offset,
                    length: frame.bytes.len(),
                    version: tracker_version,
                    packet,
                });
            }
            Err(e) => {
                return Outcome {
                    packets,
                    error: Some(e.shifted(offset)),
                    incomplete: None,
                };
            }
        }
    }
    let (error, incomplete) = match end {
        InputEnd::Complete => (None, None),
        InputEnd::Violation(e) => (Some(e), None),
        InputEnd::Incomplete { offset, have, need } => {
            let packet_type = input
                .get(offset)
                .and_then(|b| crate::codec::PacketType::from_nibble(b >> 4));
            let incomplete = Incomplete {
                offset,
                have,
                need,
                packet_type,
            };
            (None, Some(incomplete))
        }
    };
    Outcome {
        packets,
        error,
        incomplete,
    }
}

/// Runs `decode`; returns the exit code.
pub fn run(args: &DecodeArgs) -> i32 {
    let text = if args.hex.is_empty() {
        let mut s = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut s) {
            eprintln!("error: cannot read standard input: {e}");
            return exit::USAGE;
        }
        s
    } else {
        args.hex.join(" ")
    };
    let input = match parse_hex(&text) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    if input.is_empty() {
        eprintln!("error: no bytes to decode");
        return exit::USAGE;
    }
    let outcome = decode_all(&input, args.protocol, Framer::new(args.max_packet_size));
    match args.format {
        Format::Json => println!("{}", render_json(&outcome)),
        Format::Text => print!("{}", render_text(&outcome)),
    }
    match (&outcome.error, &outcome.incomplete) {
        (Some(_), _) => exit::FAILED,
        // Bytes missing are a fault of the input, not of the peer that sent them.
        (None, Some(_)) => exit::USAGE,
        (None, None) => exit::OK,
    }
}

fn error_json(e: &DecodeError) -> Value {
    let r = e.violation.spec_ref(e.version);
    json!({
        "statement": r.statement,
        "section": r.section,
        "protocol": e.version,
        "offset": e.offset,
        "message": e.violation.message(),
    })
}

fn render_json(outcome: &Outcome) -> String {
    let packets: Vec<Value> = outcome
        .packets
        .iter()
        .map(|d| {
            let mut v = serde_json::to_value(&d.packet).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut v {
                map.insert("offset".into(), json!(d.offset));
                map.insert("length".into(), json!(d.length));
            }
            v
        })
        .collect();
    let doc = json!({
        "packets": packets,
        "error": outcome.error.as_ref().map(error_json),
        "incomplete": outcome.incomplete.as_ref().map(|i| json!({
            "offset": i.offset,
            "have": i.have,
            "need": i.need,
            "type": i.packet_type.map(|t| t.to_string()),
            "message": i.describe(),
        })),
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

fn render_text(outcome: &Outcome) -> String {
    let mut out = String::new();
    for d in &outcome.packets {
        let _ = writeln!(
            out,
            "{} (MQTT {}, bytes {}..{})",
            d.packet.packet_type(),
            d.version,
            d.offset,
            d.offset + d.length
        );
        let value = serde_json::to_value(&d.packet).unwrap_or(Value::Null);
        // MQTT 3.x acknowledgements and DISCONNECT carry no reason code or properties.
        let not_on_the_wire =
            |key: &str| !d.version.is_v5() && matches!(key, "reason_code" | "properties");
        if let Value::Object(map) = value {
            for (key, v) in map
                .iter()
                .filter(|(k, _)| *k != "type" && !not_on_the_wire(k))
            {
                write_field(&mut out, 1, key, v, d);
            }
        }
    }
    match (&outcome.error, &outcome.incomplete) {
        (Some(e), _) => {
            let _ = writeln!(out, "violation {e}");
        }
        (None, Some(incomplete)) => {
            let _ = writeln!(out, "{}", incomplete.describe());
        }
        (None, None) => {
            let _ = writeln!(out, "ok: {} packet(s), no violation", outcome.packets.len());
        }
    }
    out
}

fn write_field(out: &mut String, depth: usize, key: &str, v: &Value, d: &Decoded) {
    let pad = "  ".repeat(depth);
    match v {
        Value::Object(map) if map.is_empty() => {}
        Value::Object(map) => {
            let _ = writeln!(out, "{pad}{key}:");
            for (k, inner) in map {
                write_field(out, depth + 1, k, inner, d);
            }
        }
        Value::Array(items) if items.iter().any(Value::is_object) => {
            let _ = writeln!(out, "{pad}{key}:");
            for (i, item) in items.iter().enumerate() {
                write_field(out, depth + 1, &format!("[{i}]"), item, d);
            }
        }
        _ => {
            let _ = writeln!(out, "{pad}{key}: {}", scalar(key, v, d));
        }
    }
}

/// A scalar field, with code names and readable text where they help.
fn scalar(key: &str, v: &Value, d: &Decoded) -> String {
    let ty = d.packet.packet_type();
    match (key, v) {
        ("code" | "reason_code", Value::Number(n)) => {
            let code = n.as_u64().unwrap_or(0) as u8;
            format!("{code:#04x} ({})", code_name(d.version, ty, code))
        }
        ("return_codes" | "reason_codes", Value::Array(codes)) => codes
            .iter()
            .map(|c| {
                let code = c.as_u64().unwrap_or(0) as u8;
                format!("{code:#04x} ({})", code_name(d.version, ty, code))
            })
            .collect::<Vec<_>>()
            .join(", "),
        ("payload" | "password" | "correlation_data" | "authentication_data", Value::String(h)) => {
            describe_binary(h)
        }
        (_, Value::String(s)) => format!("{s:?}"),
        (_, other) => other.to_string(),
    }
}

fn describe_binary(hex_text: &str) -> String {
    let bytes = hex::decode(hex_text).unwrap_or_default();
    match std::str::from_utf8(&bytes) {
        Ok(s) if !s.is_empty() && !s.chars().any(char::is_control) => {
            format!("{} bytes {s:?}", bytes.len())
        }
        _ if bytes.is_empty() => "0 bytes".into(),
        _ => format!("{} bytes 0x{hex_text}", bytes.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_comes_from_a_connect_later_in_the_input() {
        // A 5.0 PUBACK with a reason code first, then a 5.0 CONNECT.
        let input = parse_hex("40 03 000a 10  10 0d 0004 4d515454 05 02 003c 00 0000").unwrap();
        let outcome = decode_all(&input, None, Framer::default());
        assert!(outcome.error.is_none());
        assert_eq!(outcome.packets.len(), 2);
        // Under an explicit 3.1.1 the PUBACK has a trailing byte.
        let outcome = decode_all(&input, Some(ProtocolVersion::V3_1_1), Framer::default());
        assert!(outcome.error.is_some());
    }
}
