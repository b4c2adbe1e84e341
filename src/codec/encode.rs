//! The encoder: every typed packet to its wire form, for each protocol version.

use super::packet::*;
use super::properties::{Properties, PropertyType, PropertyValue};
use super::varint;
use super::version::ProtocolVersion;
use thiserror::Error;

/// Why a typed packet cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// A string or binary field is longer than its two-byte length prefix allows.
    #[error("{field} is {len} bytes, more than the 65,535 a length prefix allows")]
    FieldTooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// The packet is longer than the largest Remaining Length (268,435,455).
    #[error("packet body of {0} bytes exceeds the largest Remaining Length")]
    PacketTooLarge(usize),
    /// A property's value does not have the property's type.
    #[error("property {0} has a value of the wrong type")]
    PropertyType(&'static str),
    /// A value that cannot be a Variable Byte Integer.
    #[error("{0} exceeds the largest Variable Byte Integer")]
    VarintTooLarge(&'static str),
    /// PUBLISH QoS > 0 without packet identifier, or QoS 0 with one.
    #[error("PUBLISH packet identifier must be present exactly when QoS > 0")]
    PacketIdMismatch,
}

/// Encodes `packet` for `version` (a CONNECT uses its own version) and appends it to `out`.
pub fn encode(
    packet: &Packet,
    version: ProtocolVersion,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let mut body = Vec::with_capacity(64);
    let first_byte = match packet {
        Packet::Connect(c) => {
            connect(c, &mut body)?;
            0x10
        }
        Packet::ConnAck(c) => {
            body.push(u8::from(
                c.session_present && version != ProtocolVersion::V3_1,
            ));
            body.push(c.code);
            properties(&c.properties, version, &mut body)?;
            0x20
        }
        Packet::Publish(p) => {
            string(&p.topic, "Topic Name", &mut body)?;
            match (p.qos, p.packet_id) {
                (QoS::AtMostOnce, None) => {}
                (QoS::AtLeastOnce | QoS::ExactlyOnce, Some(id)) => {
                    body.extend_from_slice(&id.to_be_bytes())
                }
                _ => return Err(EncodeError::PacketIdMismatch),
            }
            properties(&p.properties, version, &mut body)?;
            body.extend_from_slice(&p.payload);
            0x30 | (u8::from(p.dup) << 3) | (p.qos.as_u8() << 1) | u8::from(p.retain)
        }
        Packet::PubAck(r) => pub_response(r, version, &mut body).map(|_| 0x40)?,
        Packet::PubRec(r) => pub_response(r, version, &mut body).map(|_| 0x50)?,
        Packet::PubRel(r) => pub_response(r, version, &mut body).map(|_| 0x62)?,
        Packet::PubComp(r) => pub_response(r, version, &mut body).map(|_| 0x70)?,
        Packet::Subscribe(s) => {
            body.extend_from_slice(&s.packet_id.to_be_bytes());
            properties(&s.properties, version, &mut body)?;
            for sub in &s.subscriptions {
                string(&sub.filter, "Topic Filter", &mut body)?;
                let o = &sub.options;
                let mut byte = o.qos.as_u8();
                if version.is_v5() {
                    byte |= (u8::from(o.no_local) << 2)
                        | (u8::from(o.retain_as_published) << 3)
                        | ((o.retain_handling as u8) << 4);
                }
                body.push(byte);
            }
            0x82
        }
        Packet::SubAck(s) => {
            body.extend_from_slice(&s.packet_id.to_be_bytes());
            properties(&s.properties, version, &mut body)?;
            body.extend_from_slice(&s.return_codes);
            0x90
        }
        Packet::Unsubscribe(u) => {
            body.extend_from_slice(&u.packet_id.to_be_bytes());
            properties(&u.properties, version, &mut body)?;
            for f in &u.filters {
                string(f, "Topic Filter", &mut body)?;
            }
            0xA2
        }
        Packet::UnsubAck(u) => {
            body.extend_from_slice(&u.packet_id.to_be_bytes());
            if version.is_v5() {
                properties(&u.properties, version, &mut body)?;
                body.extend_from_slice(&u.reason_codes);
            }
            0xB0
        }
        Packet::PingReq => 0xC0,
        Packet::PingResp => 0xD0,
        Packet::Disconnect(d) => {
            reason_and_properties(d.reason_code, &d.properties, version, &mut body)?;
            0xE0
        }
        Packet::Auth(a) => {
            reason_and_properties(a.reason_code, &a.properties, version, &mut body)?;
            0xF0
        }
    };
    let len = u32::try_from(body.len())
        .ok()
        .filter(|&l| l <= varint::MAX)
        .ok_or(EncodeError::PacketTooLarge(body.len()))?;
    out.reserve(5 + body.len());
    out.push(first_byte);
    varint::encode(len, out);
    out.extend_from_slice(&body);
    Ok(())
}

/// Encodes `packet` into a new vector.
pub fn encode_to_vec(packet: &Packet, version: ProtocolVersion) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    encode(packet, version, &mut out)?;
    Ok(out)
}

fn connect(c: &Connect, body: &mut Vec<u8>) -> Result<(), EncodeError> {
    let version = c.protocol;
    string(version.protocol_name(), "Protocol Name", body)?;
    body.push(version.level());
    let mut flags = u8::from(c.clean_session) << 1;
    if let Some(w) = &c.will {
        flags |= 0x04 | (w.qos.as_u8() << 3) | (u8::from(w.retain) << 5);
    }
    if c.password.is_some() {
        flags |= 0x40;
    }
    if c.username.is_some() {
        flags |= 0x80;
    }
    body.push(flags);
    body.extend_from_slice(&c.keep_alive.to_be_bytes());
    properties(&c.properties, version, body)?;
    string(&c.client_id, "Client Identifier", body)?;
    if let Some(w) = &c.will {
        properties(&w.properties, version, body)?;
        string(&w.topic, "Will Topic", body)?;
        binary(&w.payload, "Will Payload", body)?;
    }
    if let Some(u) = &c.username {
        string(u, "User Name", body)?;
    }
    if let Some(p) = &c.password {
        binary(p, "Password", body)?;
    }
    Ok(())
}

fn pub_response(
    r: &PubResponse,
    version: ProtocolVersion,
    body: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    body.extend_from_slice(&r.packet_id.to_be_bytes());
    reason_and_properties(r.reason_code, &r.properties, version, body)
}

/// 5.0 shortest form: nothing for success without properties, the code alone without properties.
fn reason_and_properties(
    code: u8,
    props: &Properties,
    version: ProtocolVersion,
    body: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if !version.is_v5() || (code == 0 && props.is_empty()) {
        return Ok(());
    }
    body.push(code);
    if !props.is_empty() {
        properties(props, version, body)?;
    }
    Ok(())
}

fn string(s: &str, field: &'static str, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    binary(s.as_bytes(), field, out)
}

fn binary(b: &[u8], field: &'static str, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let len = u16::try_from(b.len()).map_err(|_| EncodeError::FieldTooLong {
        field,
        len: b.len(),
    })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(b);
    Ok(())
}

/// Appends a property block (length and properties) in 5.0; nothing in 3.x.
pub(crate) fn properties(
    props: &Properties,
    version: ProtocolVersion,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if !version.is_v5() {
        return Ok(());
    }
    let mut block = Vec::new();
    for p in &props.0 {
        let name = p.id.name();
        block.push(p.id as u8);
        match (p.id.value_type(), &p.value) {
            (PropertyType::Byte, PropertyValue::Byte(v)) => block.push(*v),
            (PropertyType::TwoByteInteger, PropertyValue::TwoByteInteger(v)) => {
                block.extend_from_slice(&v.to_be_bytes())
            }
            (PropertyType::FourByteInteger, PropertyValue::FourByteInteger(v)) => {
                block.extend_from_slice(&v.to_be_bytes())
            }
            (PropertyType::VariableByteInteger, PropertyValue::VariableByteInteger(v)) => {
                if *v > varint::MAX {
                    return Err(EncodeError::VarintTooLarge(name));
                }
                varint::encode(*v, &mut block);
            }
            (PropertyType::Utf8String, PropertyValue::String(s)) => string(s, name, &mut block)?,
            (PropertyType::BinaryData, PropertyValue::Binary(b)) => binary(b, name, &mut block)?,
            (PropertyType::Utf8StringPair, PropertyValue::Pair(k, v)) => {
                string(k, name, &mut block)?;
                string(v, name, &mut block)?;
            }
            _ => return Err(EncodeError::PropertyType(name)),
        }
    }
    let len = u32::try_from(block.len())
        .ok()
        .filter(|&l| l <= varint::MAX)
        .ok_or(EncodeError::VarintTooLarge("Property Length"))?;
    varint::encode(len, out);
    out.extend_from_slice(&block);
    Ok(())
}
