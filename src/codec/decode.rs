//! The strict decoder: one complete packet in, a typed [`Packet`] or the first violation out.

use super::error::{DecodeError, Violation};
use super::packet::*;
use super::properties::{
    Properties, Property, PropertyId, PropertyScope, PropertyType, PropertyValue,
};
use super::reader::Reader;
use super::reason::reason_code_allowed;
use super::topic::{check_topic_filter, check_topic_name, shared_subscription};
use super::varint;
use super::version::ProtocolVersion;
use bytes::Bytes;

/// The fixed header of a packet: first byte and Remaining Length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHeader {
    /// The first byte (type in the high nibble, flags in the low nibble).
    pub first_byte: u8,
    /// Length of the Remaining Length field (1–4).
    pub length_bytes: usize,
    /// The Remaining Length value.
    pub remaining_length: u32,
}

impl FixedHeader {
    /// Bytes taken by the fixed header.
    pub fn header_len(&self) -> usize {
        1 + self.length_bytes
    }

    /// Total bytes of the packet (header plus remaining length).
    pub fn packet_len(&self) -> usize {
        self.header_len() + self.remaining_length as usize
    }

    /// Parses a fixed header from the start of `buf`; `Ok(None)` when more bytes are needed.
    /// Only the Remaining Length encoding is checked here (type and flags are the
    /// decoder's job), so a stream can be framed even when a packet is malformed.
    #[inline]
    pub fn parse(buf: &[u8]) -> Result<Option<FixedHeader>, Violation> {
        let Some(&first_byte) = buf.first() else {
            return Ok(None);
        };
        Ok(
            varint::decode(&buf[1..])?.map(|(remaining_length, length_bytes)| FixedHeader {
                first_byte,
                length_bytes,
                remaining_length,
            }),
        )
    }
}

/// Decodes one complete packet (fixed header included) judged under `version`.
///
/// A CONNECT is judged under the version it announces itself. The topic and payload of a
/// PUBLISH and other binary fields share `frame`'s memory.
pub fn decode_packet(frame: &Bytes, version: ProtocolVersion) -> Result<Packet, DecodeError> {
    let header = match FixedHeader::parse(frame) {
        Ok(Some(h)) => h,
        Ok(None) => {
            let field = if frame.is_empty() {
                "fixed header"
            } else {
                "Remaining Length"
            };
            return Err(DecodeError::new(
                Violation::Truncated { field },
                frame.len(),
                version,
            ));
        }
        Err(v) => return Err(DecodeError::new(v, 1, version)),
    };
    let total = header.packet_len();
    if frame.len() < total {
        return Err(DecodeError::new(
            Violation::Truncated {
                field: "packet body",
            },
            frame.len(),
            version,
        ));
    }
    if frame.len() > total {
        return Err(DecodeError::new(
            Violation::TrailingBytes {
                count: frame.len() - total,
            },
            total,
            version,
        ));
    }
    decode_body(frame, &header, version)
}

/// Decodes one complete packet whose fixed header was already parsed by
/// [`FixedHeader::parse`] (as the framing paths do), without parsing it again. The frame
/// is consumed: a PUBLISH payload becomes the frame itself, advanced past the header
/// fields (no reference count is taken for it).
///
/// `header` must be the one [`FixedHeader::parse`] returned for `frame` (as
/// [`Framer::next_frame_header`](super::Framer::next_frame_header) gives it); the result is
/// then exactly [`decode_packet`]'s. A header whose first byte or total length does not
/// match `frame` is not trusted (this falls back to [`decode_packet`]); one that matches
/// them but not the Remaining Length bytes in `frame` gives an unspecified result (never
/// a panic).
pub fn decode_frame(
    frame: Bytes,
    header: &FixedHeader,
    version: ProtocolVersion,
) -> Result<Packet, DecodeError> {
    if frame.len() != header.packet_len() || frame.first() != Some(&header.first_byte) {
        return decode_packet(&frame, version);
    }
    decode_body(frame, header, version)
}

/// A frame being decoded, borrowed or owned: what a PUBLISH payload is made from.
trait FrameSource {
    /// The frame's bytes.
    fn frame(&self) -> &Bytes;
    /// The bytes from `at` to the end, as the PUBLISH payload.
    fn payload(self, at: usize) -> Bytes;
}

impl FrameSource for &Bytes {
    #[inline]
    fn frame(&self) -> &Bytes {
        self
    }

    #[inline]
    fn payload(self, at: usize) -> Bytes {
        self.slice(at..)
    }
}

impl FrameSource for Bytes {
    #[inline]
    fn frame(&self) -> &Bytes {
        self
    }

    #[inline]
    fn payload(mut self, at: usize) -> Bytes {
        bytes::Buf::advance(&mut self, at);
        self
    }
}

/// Decodes a packet whose fixed header is `header` and whose length is `header`'s.
#[inline]
fn decode_body<F: FrameSource>(
    source: F,
    header: &FixedHeader,
    version: ProtocolVersion,
) -> Result<Packet, DecodeError> {
    let frame = source.frame();
    let nibble = header.first_byte >> 4;
    let flags = header.first_byte & 0x0F;
    let Some(packet_type) = PacketType::from_nibble(nibble) else {
        return Err(DecodeError::new(
            Violation::ReservedPacketType(nibble),
            0,
            version,
        ));
    };
    if packet_type == PacketType::Auth && !version.is_v5() {
        return Err(DecodeError::new(
            Violation::PacketNotInVersion(packet_type),
            0,
            version,
        ));
    }
    if let Some(required) = packet_type.required_flags() {
        if flags != required {
            return Err(DecodeError::new(
                Violation::InvalidFlags {
                    packet: packet_type,
                    flags,
                },
                0,
                version,
            ));
        }
    }
    // The commonest packet after PUBLISH: a bare acknowledgement, no reader needed.
    if header.remaining_length == 2
        && matches!(
            packet_type,
            PacketType::PubAck | PacketType::PubRec | PacketType::PubRel | PacketType::PubComp
        )
    {
        let at = header.header_len();
        let packet_id = u16::from_be_bytes([frame[at], frame[at + 1]]);
        if packet_id == 0 {
            return Err(DecodeError::new(
                Violation::ZeroPacketId(packet_type),
                at,
                version,
            ));
        }
        let r = PubResponse::new(packet_id);
        return Ok(match packet_type {
            PacketType::PubAck => Packet::PubAck(r),
            PacketType::PubRec => Packet::PubRec(r),
            PacketType::PubRel => Packet::PubRel(r),
            _ => Packet::PubComp(r),
        });
    }
    let mut r = Reader::new(frame, header.header_len(), version);
    let packet = match packet_type {
        PacketType::Connect => Packet::Connect(Box::new(connect(&mut r)?)),
        PacketType::ConnAck => Packet::ConnAck(connack(&mut r)?),
        // Built in place, with its own reader (the commonest packet): see `publish`.
        PacketType::Publish => return publish(source, header.header_len(), version, flags),
        PacketType::PubAck => Packet::PubAck(pub_response(&mut r, packet_type)?),
        PacketType::PubRec => Packet::PubRec(pub_response(&mut r, packet_type)?),
        PacketType::PubRel => Packet::PubRel(pub_response(&mut r, packet_type)?),
        PacketType::PubComp => Packet::PubComp(pub_response(&mut r, packet_type)?),
        PacketType::Subscribe => Packet::Subscribe(subscribe(&mut r)?),
        PacketType::SubAck => Packet::SubAck(suback(&mut r)?),
        PacketType::Unsubscribe => Packet::Unsubscribe(unsubscribe(&mut r)?),
        PacketType::UnsubAck => Packet::UnsubAck(unsuback(&mut r)?),
        PacketType::PingReq => Packet::PingReq,
        PacketType::PingResp => Packet::PingResp,
        PacketType::Disconnect => {
            let (reason_code, properties) = reason_and_properties(&mut r, packet_type)?;
            Packet::Disconnect(Disconnect {
                reason_code,
                properties,
            })
        }
        PacketType::Auth => {
            let (reason_code, properties) = reason_and_properties(&mut r, packet_type)?;
            Packet::Auth(Auth {
                reason_code,
                properties,
            })
        }
    };
    r.finish()?;
    Ok(packet)
}

/// Decodes a packet from a byte slice (copying it once).
pub fn decode_slice(frame: &[u8], version: ProtocolVersion) -> Result<Packet, DecodeError> {
    decode_packet(&Bytes::copy_from_slice(frame), version)
}

fn packet_id(r: &mut Reader<'_>, packet: PacketType) -> Result<u16, DecodeError> {
    let at = r.pos();
    let id = r.u16("Packet Identifier")?;
    if id == 0 {
        return Err(r.err_at(Violation::ZeroPacketId(packet), at));
    }
    Ok(id)
}

fn connect(r: &mut Reader<'_>) -> Result<Connect, DecodeError> {
    let name_at = r.pos();
    let name = r.string("Protocol Name")?;
    let level = r.u8("Protocol Level")?;
    let protocol = match (name.as_str(), level) {
        ("MQIsdp", 3) => ProtocolVersion::V3_1,
        ("MQTT", 4) => ProtocolVersion::V3_1_1,
        ("MQTT", 5) => ProtocolVersion::V5,
        ("MQTT", other) => {
            return Err(r.err_at(
                Violation::UnsupportedProtocolLevel(other),
                name_at + 2 + name.len(),
            ));
        }
        (_, level) => return Err(r.err_at(Violation::InvalidProtocolName { name, level }, name_at)),
    };
    // From here on the packet is judged under the version it announces.
    r.version = protocol;
    let flags_at = r.pos();
    let flags = r.u8("Connect Flags")?;
    let will_flag = flags & 0x04 != 0;
    let will_qos = (flags >> 3) & 0x03;
    let will_retain = flags & 0x20 != 0;
    let password_flag = flags & 0x40 != 0;
    let username_flag = flags & 0x80 != 0;
    let violation = if flags & 0x01 != 0 {
        Some(Violation::ConnectReservedFlag)
    } else if !will_flag && will_qos != 0 {
        Some(Violation::WillQosWithoutWill)
    } else if !will_flag && will_retain {
        Some(Violation::WillRetainWithoutWill)
    } else if will_qos == 3 {
        Some(Violation::WillQos3)
    } else if password_flag && !username_flag && !protocol.is_v5() {
        Some(Violation::PasswordWithoutUsername)
    } else {
        None
    };
    if let Some(v) = violation {
        return Err(r.err_at(v, flags_at));
    }
    let keep_alive = r.u16("Keep Alive")?;
    let connect_properties = properties(r, PropertyScope::Packet(PacketType::Connect))?;
    let client_id = r.string("Client Identifier")?;
    let will = if will_flag {
        let will_properties = properties(r, PropertyScope::Will)?;
        let topic_at = r.pos();
        let topic = r.string("Will Topic")?;
        if topic.is_empty() {
            return Err(r.err_at(
                Violation::EmptyTopic {
                    field: "Will Topic",
                },
                topic_at,
            ));
        }
        check_topic_name(&topic).map_err(|v| r.err_at(v, topic_at))?;
        let payload = r.binary("Will Payload")?;
        Some(Will {
            topic,
            payload,
            qos: QoS::from_u8(will_qos).unwrap_or_default(),
            retain: will_retain,
            properties: will_properties,
        })
    } else {
        None
    };
    let username = if username_flag {
        Some(r.string("User Name")?)
    } else {
        None
    };
    let password = if password_flag {
        Some(r.binary("Password")?)
    } else {
        None
    };
    Ok(Connect {
        protocol,
        clean_session: flags & 0x02 != 0,
        keep_alive,
        properties: connect_properties,
        client_id,
        will,
        username,
        password,
    })
}

fn connack(r: &mut Reader<'_>) -> Result<ConnAck, DecodeError> {
    let flags_at = r.pos();
    let flags = r.u8("Connect Acknowledge Flags")?;
    let code_at = r.pos();
    let code = r.u8("Connect Return Code")?;
    if r.version == ProtocolVersion::V3_1 {
        // 3.1 has no Session Present flag; the first byte is reserved and unused.
        if code > 5 {
            return Err(r.err_at(Violation::InvalidConnAckReturnCode(code), code_at));
        }
        return Ok(ConnAck {
            session_present: false,
            code,
            properties: Properties::new(),
        });
    }
    if flags & 0xFE != 0 {
        return Err(r.err_at(Violation::ConnAckReservedFlags(flags), flags_at));
    }
    let session_present = flags & 0x01 != 0;
    let failed = if r.version.is_v5() {
        if !reason_code_allowed(PacketType::ConnAck, code) {
            return Err(r.err_at(
                Violation::InvalidReasonCode {
                    packet: PacketType::ConnAck,
                    code,
                },
                code_at,
            ));
        }
        code >= 0x80
    } else {
        if code > 5 {
            return Err(r.err_at(Violation::InvalidConnAckReturnCode(code), code_at));
        }
        code != 0
    };
    if session_present && failed {
        return Err(r.err_at(Violation::SessionPresentWithError, flags_at));
    }
    let properties = properties(r, PropertyScope::Packet(PacketType::ConnAck))?;
    Ok(ConnAck {
        session_present,
        code,
        properties,
    })
}

/// A PUBLISH whose variable header starts at `start`. It takes the frame and returns the
/// finished `Packet`, so the payload (the rest of the packet, so nothing can trail it)
/// need not be sliced from a borrowed frame, nor the packet moved once more.
#[inline]
fn publish<F: FrameSource>(
    source: F,
    start: usize,
    version: ProtocolVersion,
    flags: u8,
) -> Result<Packet, DecodeError> {
    let r = &mut Reader::new(source.frame(), start, version);
    let qos = match QoS::from_u8((flags >> 1) & 0x03) {
        Some(q) => q,
        None => return Err(r.err_at(Violation::PublishQos3, 0)),
    };
    let dup = flags & 0x08 != 0;
    if dup && qos == QoS::AtMostOnce {
        return Err(r.err_at(Violation::DupWithQos0, 0));
    }
    let topic_at = r.pos();
    let topic = r.topic_name("Topic Name")?;
    let packet_id = if qos == QoS::AtMostOnce {
        None
    } else {
        Some(packet_id(r, PacketType::Publish)?)
    };
    let properties = properties(r, PropertyScope::Packet(PacketType::Publish))?;
    if topic.is_empty() && properties.get(PropertyId::TopicAlias).is_none() {
        return Err(r.err_at(
            Violation::EmptyTopic {
                field: "Topic Name",
            },
            topic_at,
        ));
    }
    let at = r.pos();
    Ok(Packet::Publish(Publish {
        dup,
        qos,
        retain: flags & 0x01 != 0,
        topic,
        packet_id,
        properties,
        payload: source.payload(at),
    }))
}

fn pub_response(r: &mut Reader<'_>, packet: PacketType) -> Result<PubResponse, DecodeError> {
    let packet_id = packet_id(r, packet)?;
    let (reason_code, properties) = reason_and_properties(r, packet)?;
    Ok(PubResponse {
        packet_id,
        reason_code,
        properties,
    })
}

/// The optional reason code and properties that close PUBACK…PUBCOMP, DISCONNECT and AUTH
/// in 5.0 (absent means 0 and none); nothing in 3.x.
fn reason_and_properties(
    r: &mut Reader<'_>,
    packet: PacketType,
) -> Result<(u8, Properties), DecodeError> {
    if !r.version.is_v5() || r.remaining() == 0 {
        return Ok((0, Properties::new()));
    }
    let at = r.pos();
    let code = r.u8("Reason Code")?;
    if !reason_code_allowed(packet, code) {
        return Err(r.err_at(Violation::InvalidReasonCode { packet, code }, at));
    }
    let properties = if r.remaining() == 0 {
        Properties::new()
    } else {
        properties(r, PropertyScope::Packet(packet))?
    };
    Ok((code, properties))
}

fn filter(r: &mut Reader<'_>) -> Result<String, DecodeError> {
    let at = r.pos();
    let filter = r.string("Topic Filter")?;
    check_topic_filter(&filter, r.version.is_v5()).map_err(|v| r.err_at(v, at))?;
    Ok(filter)
}

fn subscribe(r: &mut Reader<'_>) -> Result<Subscribe, DecodeError> {
    let packet_id = packet_id(r, PacketType::Subscribe)?;
    let properties = properties(r, PropertyScope::Packet(PacketType::Subscribe))?;
    let mut subscriptions = Vec::new();
    if r.remaining() == 0 {
        return Err(r.err(Violation::EmptySubscribe));
    }
    while r.remaining() > 0 {
        let filter = filter(r)?;
        let at = r.pos();
        let byte = r.u8("Subscription Options")?;
        let options =
            subscription_options(byte, r.version, &filter).map_err(|v| r.err_at(v, at))?;
        subscriptions.push(Subscription { filter, options });
    }
    Ok(Subscribe {
        packet_id,
        properties,
        subscriptions,
    })
}

fn subscription_options(
    byte: u8,
    version: ProtocolVersion,
    filter: &str,
) -> Result<SubscriptionOptions, Violation> {
    let reserved = if version.is_v5() { 0xC0 } else { 0xFC };
    if byte & reserved != 0 {
        return Err(Violation::SubscriptionOptionsReserved(byte));
    }
    let qos = QoS::from_u8(byte & 0x03).ok_or(Violation::SubscriptionQos3)?;
    let no_local = byte & 0x04 != 0;
    let retain_handling = match (byte >> 4) & 0x03 {
        0 => RetainHandling::SendAtSubscribe,
        1 => RetainHandling::SendIfNew,
        2 => RetainHandling::DoNotSend,
        _ => return Err(Violation::RetainHandling3),
    };
    if no_local && matches!(shared_subscription(filter), Some(Ok(_))) {
        return Err(Violation::NoLocalOnShared);
    }
    Ok(SubscriptionOptions {
        qos,
        no_local,
        retain_as_published: byte & 0x08 != 0,
        retain_handling,
    })
}

fn suback(r: &mut Reader<'_>) -> Result<SubAck, DecodeError> {
    let packet_id = packet_id(r, PacketType::SubAck)?;
    let properties = properties(r, PropertyScope::Packet(PacketType::SubAck))?;
    if r.remaining() == 0 {
        return Err(r.err(Violation::EmptyAckPayload(PacketType::SubAck)));
    }
    let mut return_codes = Vec::with_capacity(r.remaining());
    while r.remaining() > 0 {
        let at = r.pos();
        let code = r.u8("Return Code")?;
        let valid = if r.version.is_v5() {
            reason_code_allowed(PacketType::SubAck, code)
        } else {
            matches!(code, 0 | 1 | 2 | 0x80)
        };
        if !valid {
            let v = if r.version.is_v5() {
                Violation::InvalidReasonCode {
                    packet: PacketType::SubAck,
                    code,
                }
            } else {
                Violation::InvalidSubAckReturnCode(code)
            };
            return Err(r.err_at(v, at));
        }
        return_codes.push(code);
    }
    Ok(SubAck {
        packet_id,
        properties,
        return_codes,
    })
}

fn unsubscribe(r: &mut Reader<'_>) -> Result<Unsubscribe, DecodeError> {
    let packet_id = packet_id(r, PacketType::Unsubscribe)?;
    let properties = properties(r, PropertyScope::Packet(PacketType::Unsubscribe))?;
    if r.remaining() == 0 {
        return Err(r.err(Violation::EmptyUnsubscribe));
    }
    let mut filters = Vec::new();
    while r.remaining() > 0 {
        filters.push(filter(r)?);
    }
    Ok(Unsubscribe {
        packet_id,
        properties,
        filters,
    })
}

fn unsuback(r: &mut Reader<'_>) -> Result<UnsubAck, DecodeError> {
    let packet_id = packet_id(r, PacketType::UnsubAck)?;
    if !r.version.is_v5() {
        return Ok(UnsubAck {
            packet_id,
            properties: Properties::new(),
            reason_codes: Vec::new(),
        });
    }
    let properties = properties(r, PropertyScope::Packet(PacketType::UnsubAck))?;
    if r.remaining() == 0 {
        return Err(r.err(Violation::EmptyAckPayload(PacketType::UnsubAck)));
    }
    let mut reason_codes = Vec::with_capacity(r.remaining());
    while r.remaining() > 0 {
        let at = r.pos();
        let code = r.u8("Reason Code")?;
        if !reason_code_allowed(PacketType::UnsubAck, code) {
            return Err(r.err_at(
                Violation::InvalidReasonCode {
                    packet: PacketType::UnsubAck,
                    code,
                },
                at,
            ));
        }
        reason_codes.push(code);
    }
    Ok(UnsubAck {
        packet_id,
        properties,
        reason_codes,
    })
}

/// Reads a property block (5.0 only; nothing in 3.x) and checks every property against
/// the packet (or Will) it sits in.
#[inline]
fn properties(r: &mut Reader<'_>, scope: PropertyScope) -> Result<Properties, DecodeError> {
    if !r.version.is_v5() {
        return Ok(Properties::new());
    }
    properties_v5(r, scope)
}

/// [`properties`] in 5.0.
fn properties_v5(r: &mut Reader<'_>, scope: PropertyScope) -> Result<Properties, DecodeError> {
    let len = r.varint("Property Length")? as usize;
    if len == 0 {
        return Ok(Properties::new());
    }
    let saved_end = r.limit(len, "Properties")?;
    let mut list = Vec::new();
    let mut seen: u64 = 0;
    while r.remaining() > 0 {
        let at = r.pos();
        let raw_id = r.varint("Property Identifier")?;
        let id = u8::try_from(raw_id)
            .ok()
            .and_then(PropertyId::from_u8)
            .ok_or_else(|| r.err_at(Violation::UnknownProperty(raw_id.min(255) as u8), at))?;
        if !id.allowed_in(scope) {
            return Err(r.err_at(Violation::PropertyNotAllowed { id, scope }, at));
        }
        let bit = 1u64 << (id as u8);
        let repeatable = match id {
            PropertyId::UserProperty => true,
            PropertyId::SubscriptionIdentifier => {
                scope == PropertyScope::Packet(PacketType::Publish)
            }
            _ => false,
        };
        if seen & bit != 0 && !repeatable {
            return Err(r.err_at(Violation::DuplicateProperty(id), at));
        }
        seen |= bit;
        let value_at = r.pos();
        let field = id.name();
        let value = match id.value_type() {
            PropertyType::Byte => PropertyValue::Byte(r.u8(field)?),
            PropertyType::TwoByteInteger => PropertyValue::TwoByteInteger(r.u16(field)?),
            PropertyType::FourByteInteger => PropertyValue::FourByteInteger(r.u32(field)?),
            PropertyType::VariableByteInteger => {
                PropertyValue::VariableByteInteger(r.varint(field)?)
            }
            PropertyType::Utf8String => PropertyValue::String(r.bytestr(field)?),
            PropertyType::BinaryData => PropertyValue::Binary(r.binary(field)?),
            PropertyType::Utf8StringPair => {
                PropertyValue::Pair(r.bytestr(field)?, r.bytestr(field)?)
            }
        };
        if let Some(bad) = invalid_value(id, &value) {
            return Err(r.err_at(Violation::InvalidPropertyValue { id, value: bad }, value_at));
        }
        list.push(Property { id, value });
    }
    r.restore_end(saved_end);
    let properties = Properties(list);
    let auth_scope = matches!(
        scope,
        PropertyScope::Packet(PacketType::Connect | PacketType::Auth)
    );
    if auth_scope
        && properties.get(PropertyId::AuthenticationData).is_some()
        && properties.get(PropertyId::AuthenticationMethod).is_none()
    {
        return Err(r.err(Violation::AuthDataWithoutMethod));
    }
    Ok(properties)
}

/// The offending value when a property's value is out of its legal range.
fn invalid_value(id: PropertyId, value: &PropertyValue) -> Option<u32> {
    let n = match value {
        PropertyValue::Byte(v) => u32::from(*v),
        PropertyValue::TwoByteInteger(v) => u32::from(*v),
        PropertyValue::FourByteInteger(v) | PropertyValue::VariableByteInteger(v) => *v,
        _ => return None,
    };
    let bad = match id {
        _ if id.is_boolean() => n > 1,
        PropertyId::ReceiveMaximum
        | PropertyId::MaximumPacketSize
        | PropertyId::TopicAlias
        | PropertyId::SubscriptionIdentifier => n == 0,
        _ => false,
    };
    bad.then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::encode_to_vec;

    /// One packet of every type, with the optional parts present.
    fn samples(version: ProtocolVersion) -> Vec<Packet> {
        let v5 = version.is_v5();
        let props = |p: Properties| if v5 { p } else { Properties::new() };
        let mut connect = Connect::new(version, "dev-1");
        connect.will = Some(Will {
            topic: "a/will".into(),
            payload: Bytes::from_static(b"bye"),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: props(Properties::new().with(
                PropertyId::WillDelayInterval,
                PropertyValue::FourByteInteger(5),
            )),
        });
        connect.username = Some("user".into());
        connect.password = Some(Bytes::from_static(b"pw"));
        let mut publish = Publish::new("d/é/temp", Bytes::from_static(b"{\"t\":1}"));
        publish.qos = QoS::AtLeastOnce;
        publish.packet_id = Some(7);
        publish.properties = props(
            Properties::new()
                .with(
                    PropertyId::ContentType,
                    PropertyValue::String("json".into()),
                )
                .with(
                    PropertyId::UserProperty,
                    PropertyValue::Pair("k".into(), "v".into()),
                ),
        );
        let mut ack = PubResponse::new(9);
        if v5 {
            ack.reason_code = 0x10;
        }
        let mut packets = vec![
            Packet::Connect(Box::new(connect)),
            Packet::ConnAck(ConnAck {
                session_present: false,
                code: 0,
                properties: Properties::new(),
            }),
            Packet::Publish(publish),
            Packet::Publish(Publish::new("t", Bytes::new())),
            Packet::PubAck(ack),
            Packet::PubRec(PubResponse::new(3)),
            Packet::PubRel(PubResponse::new(8)),
            Packet::PubComp(PubResponse::new(4)),
            Packet::Subscribe(Subscribe {
                packet_id: 2,
                properties: Properties::new(),
                subscriptions: vec![Subscription::new("a/+/#", QoS::ExactlyOnce)],
            }),
            Packet::SubAck(SubAck {
                packet_id: 2,
                properties: Properties::new(),
                return_codes: vec![1],
            }),
            Packet::Unsubscribe(Unsubscribe {
                packet_id: 5,
                properties: Properties::new(),
                filters: vec!["a/#".into()],
            }),
            Packet::UnsubAck(UnsubAck {
                packet_id: 5,
                properties: Properties::new(),
                reason_codes: if v5 { vec![0] } else { Vec::new() },
            }),
            Packet::PingReq,
            Packet::PingResp,
            Packet::Disconnect(Disconnect::default()),
        ];
        if v5 {
            packets.push(Packet::Auth(Auth {
                reason_code: 0x18,
                properties: Properties::new().with(
                    PropertyId::AuthenticationMethod,
                    PropertyValue::String("m".into()),
                ),
            }));
        }
        packets
    }

    /// `decode_frame` with the parsed header gives `decode_packet`'s answer, for valid
    /// packets and for every one-byte mutation of them (the fuzz target checks the same on
    /// arbitrary input through `split_frames`).
    #[test]
    fn decode_frame_agrees_with_decode_packet() {
        let versions = [
            ProtocolVersion::V3_1,
            ProtocolVersion::V3_1_1,
            ProtocolVersion::V5,
        ];
        let mut compared = 0;
        for version in versions {
            for packet in samples(version) {
                let bytes = encode_to_vec(&packet, version).expect("encodable");
                let valid = Bytes::from(bytes.clone());
                let header = FixedHeader::parse(&valid).unwrap().unwrap();
                assert_eq!(decode_frame(valid.clone(), &header, version), Ok(packet));
                for i in 0..bytes.len() {
                    for b in [0x00, 0x01, 0x23, 0x2B, 0x7F, 0x80, 0xC3, 0xFF, bytes[i] ^ 1] {
                        let mut mutated = bytes.clone();
                        mutated[i] = b;
                        let frame = Bytes::from(mutated);
                        let expected = decode_packet(&frame, version);
                        if let Ok(Some(h)) = FixedHeader::parse(&frame) {
                            if h.packet_len() == frame.len() {
                                assert_eq!(decode_frame(frame.clone(), &h, version), expected);
                                compared += 1;
                            }
                        }
                        // A header of another length or first byte is not trusted.
                        let longer = FixedHeader {
                            remaining_length: header.remaining_length + 1,
                            ..header
                        };
                        let other_type = FixedHeader {
                            first_byte: frame[0] ^ 0x10,
                            ..header
                        };
                        for wrong in [longer, other_type] {
                            assert_eq!(decode_frame(frame.clone(), &wrong, version), expected);
                        }
                    }
                }
            }
        }
        assert!(compared > 1000, "{compared}");
    }
}
