//! Turns suite step specifications into packets or raw bytes, interpolating variables.

use crate::codec::*;
use crate::suite::schema::*;
use crate::suite::vars::{Vars, expand_hex};
use bytes::Bytes;
use serde_json::Value;
use std::collections::BTreeMap;
use std::str::FromStr;

/// What a `send` step puts on the wire.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// A typed packet, encoded under the connection's version.
    Packet(Packet),
    /// Bytes as given.
    Raw(Vec<u8>),
}

pub use crate::session::DefaultCredentials;

/// State the builder needs from the connection.
pub struct BuildContext<'a> {
    /// Variables (parameters and built-ins).
    pub vars: &'a Vars,
    /// The connection's protocol version.
    pub version: ProtocolVersion,
    /// The suite's default protocol.
    pub default_protocol: ProtocolVersion,
    /// The suite's default Keep Alive.
    pub default_keepalive: u16,
    /// The connection's next automatic packet identifier.
    pub next_packet_id: &'a mut u16,
    /// The last packet identifier received on the connection (for acks).
    pub last_received_id: Option<u16>,
    /// Credentials from the suite's auth scheme.
    pub credentials: &'a DefaultCredentials,
    /// The suite's auth scheme and interpolated parameters (for per-step overrides).
    pub auth: Option<&'a (crate::auth::Scheme, crate::auth::suite_params::Values)>,
    /// A client id unique to this test and connection.
    pub unique_client_id: &'a str,
}

impl BuildContext<'_> {
    fn text(&self, s: &str) -> Result<String, String> {
        self.vars.interpolate(s)
    }

    fn packet_id(&mut self, given: Option<u16>) -> u16 {
        given.unwrap_or_else(|| {
            let id = *self.next_packet_id;
            *self.next_packet_id = if id == u16::MAX { 1 } else { id + 1 };
            id
        })
    }
}

fn qos(q: Option<u8>) -> QoS {
    q.and_then(QoS::from_u8).unwrap_or_default()
}

/// Converts `properties:` maps into typed properties.
pub fn properties(
    map: &Option<BTreeMap<String, Value>>,
    vars: &Vars,
) -> Result<Properties, String> {
    let mut out = Properties::new();
    for (key, value) in map.iter().flatten() {
        let id = PropertyId::from_key(key).ok_or_else(|| format!("`{key}` is not a property"))?;
        let values: Vec<&Value> = match value {
            Value::Array(items) if id.may_repeat() => items.iter().collect(),
            other => vec![other],
        };
        for v in values {
            out.0.push(Property::new(id, property_value(id, v, vars)?));
        }
    }
    Ok(out)
}

fn property_value(id: PropertyId, v: &Value, vars: &Vars) -> Result<PropertyValue, String> {
    use crate::codec::properties::PropertyType as T;
    let int = || -> Result<u64, String> {
        v.as_u64()
            .or_else(|| v.as_bool().map(u64::from))
            .ok_or_else(|| format!("{} needs a number", id.name()))
    };
    let text = |v: &Value| -> Result<String, String> {
        match v {
            Value::String(s) => vars.interpolate(s),
            other => Ok(other.to_string()),
        }
    };
    let range = |n: u64, max: u64| -> Result<u64, String> {
        if n > max {
            Err(format!("{} value {n} is too large", id.name()))
        } else {
            Ok(n)
        }
    };
    Ok(match id.value_type() {
        T::Byte => PropertyValue::Byte(range(int()?, 0xFF)? as u8),
        T::TwoByteInteger => PropertyValue::TwoByteInteger(range(int()?, 0xFFFF)? as u16),
        T::FourByteInteger => {
            PropertyValue::FourByteInteger(range(int()?, u64::from(u32::MAX))? as u32)
        }
        T::VariableByteInteger => {
            PropertyValue::VariableByteInteger(range(int()?, u64::from(varint::MAX))? as u32)
        }
        T::Utf8String => PropertyValue::String(text(v)?.into()),
        T::BinaryData => PropertyValue::Binary(Bytes::from(text(v)?.into_bytes())),
        T::Utf8StringPair => match v {
            Value::Array(pair) if pair.len() == 2 => {
                PropertyValue::Pair(text(&pair[0])?.into(), text(&pair[1])?.into())
            }
            Value::Object(o) if o.len() == 1 => {
                let (k, val) = o.iter().next().ok_or("empty user property")?;
                PropertyValue::Pair(vars.interpolate(k)?.into(), text(val)?.into())
            }
            _ => return Err("a user property is [key, value] or {key: value}".into()),
        },
    })
}

/// Credentials from a step's own scheme or parameters, merged over the suite's.
fn override_credentials(
    o: &AuthOverrideDef,
    ctx: &BuildContext<'_>,
) -> Result<DefaultCredentials, String> {
    let (base_scheme, mut values) = match ctx.auth {
        Some((s, v)) => (Some(*s), v.clone()),
        None => (None, crate::auth::suite_params::Values::new()),
    };
    let scheme = match &o.scheme {
        Some(name) => name
            .parse::<crate::auth::Scheme>()
            .map_err(|e| e.to_string())?,
        None => {
            base_scheme.ok_or("`auth` on a connect step needs a scheme when the suite has none")?
        }
    };
    for (k, v) in &o.params {
        values.insert(k.clone(), ctx.vars.interpolate(v)?);
    }
    DefaultCredentials::produce(scheme, &values)
}

/// Builds the CONNECT of a `connect` step (or `send: connect`).
pub fn connect(def: &ConnectDef, ctx: &mut BuildContext<'_>) -> Result<Connect, String> {
    let protocol = match &def.protocol {
        Some(p) => ProtocolVersion::from_str(p)?,
        None => ctx.default_protocol,
    };
    let use_creds = def.credentials.unwrap_or(true);
    let overridden;
    let creds = match &def.auth {
        Some(o) => {
            overridden = override_credentials(o, ctx)?;
            &overridden
        }
        None => ctx.credentials,
    };
    let client_id = match (&def.client_id, use_creds) {
        (Some(c), _) => ctx.text(c)?,
        (None, true) => creds
            .client_id
            .clone()
            .unwrap_or_else(|| ctx.unique_client_id.to_owned()),
        (None, false) => ctx.unique_client_id.to_owned(),
    };
    let username = match (&def.username, use_creds) {
        (Some(u), _) => Some(ctx.text(u)?),
        (None, true) => creds.username.clone(),
        (None, false) => None,
    };
    let password = match (&def.password, use_creds) {
        (Some(p), _) => Some(ctx.text(p)?),
        (None, true) => creds.password.clone(),
        (None, false) => None,
    };
    let will = match &def.will {
        Some(w) => Some(Will {
            topic: ctx.text(&w.topic)?,
            payload: Bytes::from(ctx.text(w.payload.as_deref().unwrap_or(""))?.into_bytes()),
            qos: qos(w.qos),
            retain: w.retain.unwrap_or(false),
            properties: properties(&w.properties, ctx.vars)?,
        }),
        None => None,
    };
    Ok(Connect {
        protocol,
        clean_session: def.clean_session.unwrap_or(true),
        keep_alive: def.keepalive.unwrap_or(ctx.default_keepalive),
        properties: properties(&def.properties, ctx.vars)?,
        client_id,
        will,
        username,
        password: password.map(|p| Bytes::from(p.into_bytes())),
    })
}

/// Builds what a `send` step sends.
pub fn outgoing(def: &SendDef, ctx: &mut BuildContext<'_>) -> Result<Outgoing, String> {
    if let Some(raw) = &def.raw {
        return raw_bytes(raw, ctx.vars).map(Outgoing::Raw);
    }
    let ack = |a: &AckDef, ctx: &BuildContext<'_>| -> Result<PubResponse, String> {
        Ok(PubResponse {
            packet_id: a
                .packet_id
                .or(ctx.last_received_id)
                .ok_or("no packet_id given and none received yet on this connection")?,
            reason_code: a.reason_code.unwrap_or(0),
            properties: properties(&a.properties, ctx.vars)?,
        })
    };
    let packet = if let Some(c) = &def.connect {
        let packet = connect(c, ctx)?;
        if c.overrides_header() {
            return connect_with_overrides(&packet, c).map(Outgoing::Raw);
        }
        // A CONNECT wrong on purpose in its fields (a password without a user name, a
        // property CONNECT may not carry) goes out as bytes, so the trace shows what the
        // strict decoder finds wrong with it, as for raw bytes.
        let packet = Packet::Connect(packet.into());
        let bytes = encode_to_vec(&packet, ctx.version).map_err(|e| e.to_string())?;
        if decode_packet(&Bytes::copy_from_slice(&bytes), ctx.version).is_err() {
            return Ok(Outgoing::Raw(bytes));
        }
        packet
    } else if let Some(p) = &def.publish {
        let q = qos(p.qos);
        let payload = if let Some(t) = &p.payload {
            Bytes::from(ctx.text(t)?.into_bytes())
        } else if let Some(h) = &p.payload_hex {
            Bytes::from(crate::codec::parse_hex(h)?)
        } else if let Some(n) = p.payload_size {
            Bytes::from(vec![b'x'; n])
        } else {
            Bytes::new()
        };
        Packet::Publish(Publish {
            dup: p.dup.unwrap_or(false),
            qos: q,
            retain: p.retain.unwrap_or(false),
            topic: ctx.text(&p.topic)?.into(),
            packet_id: (q != QoS::AtMostOnce).then(|| ctx.packet_id(p.packet_id)),
            properties: properties(&p.properties, ctx.vars)?,
            payload,
        })
    } else if let Some(a) = &def.puback {
        Packet::PubAck(ack(a, ctx)?)
    } else if let Some(a) = &def.pubrec {
        Packet::PubRec(ack(a, ctx)?)
    } else if let Some(a) = &def.pubrel {
        Packet::PubRel(ack(a, ctx)?)
    } else if let Some(a) = &def.pubcomp {
        Packet::PubComp(ack(a, ctx)?)
    } else if let Some(s) = &def.subscribe {
        let mut subscriptions = Vec::new();
        for f in &s.filters {
            subscriptions.push(match f {
                FilterDef::Bare(f) => Subscription::new(ctx.text(f)?, QoS::AtMostOnce),
                FilterDef::Full(f) => Subscription {
                    filter: ctx.text(&f.filter)?,
                    options: SubscriptionOptions {
                        qos: qos(f.qos),
                        no_local: f.no_local.unwrap_or(false),
                        retain_as_published: f.retain_as_published.unwrap_or(false),
                        retain_handling: match f.retain_handling.unwrap_or(0) {
                            1 => RetainHandling::SendIfNew,
                            2 => RetainHandling::DoNotSend,
                            _ => RetainHandling::SendAtSubscribe,
                        },
                    },
                },
            });
        }
        Packet::Subscribe(Subscribe {
            packet_id: ctx.packet_id(s.packet_id),
            properties: properties(&s.properties, ctx.vars)?,
            subscriptions,
        })
    } else if let Some(u) = &def.unsubscribe {
        Packet::Unsubscribe(Unsubscribe {
            packet_id: ctx.packet_id(u.packet_id),
            properties: properties(&u.properties, ctx.vars)?,
            filters: u
                .filters
                .iter()
                .map(|f| ctx.text(f))
                .collect::<Result<_, _>>()?,
        })
    } else if def.pingreq.is_some() {
        Packet::PingReq
    } else if let Some(d) = &def.disconnect {
        Packet::Disconnect(Disconnect {
            reason_code: d.reason_code.unwrap_or(0),
            properties: properties(&d.properties, ctx.vars)?,
        })
    } else if let Some(a) = &def.auth {
        Packet::Auth(Auth {
            reason_code: a.reason_code.unwrap_or(0),
            properties: properties(&a.properties, ctx.vars)?,
        })
    } else {
        return Err("`send` names no packet".into());
    };
    Ok(Outgoing::Packet(packet))
}

/// `connect` encoded, then its Protocol Name, Protocol Level and Connect Flags replaced by
/// the step's overrides (the variable header's first fields; the rest stays as encoded).
fn connect_with_overrides(connect: &Connect, def: &ConnectDef) -> Result<Vec<u8>, String> {
    let encoded = encode_to_vec(&Packet::Connect(connect.clone().into()), connect.protocol)
        .map_err(|e| e.to_string())?;
    // The fixed header: the first byte, then a Remaining Length of 1–4 bytes.
    let length_bytes = encoded[1..]
        .iter()
        .position(|b| b & 0x80 == 0)
        .ok_or("the encoded CONNECT has no Remaining Length")?
        + 1;
    let body = &encoded[1 + length_bytes..];
    // Protocol Name (two-byte length and text), Protocol Level, Connect Flags.
    let name = connect.protocol.protocol_name();
    let rest = &body[2 + name.len() + 2..];
    let name = def.protocol_name.as_deref().unwrap_or(name);
    let name_length =
        u16::try_from(name.len()).map_err(|_| "protocol_name is longer than 65,535 bytes")?;
    let mut new_body = Vec::with_capacity(body.len() + name.len());
    new_body.extend_from_slice(&name_length.to_be_bytes());
    new_body.extend_from_slice(name.as_bytes());
    new_body.push(def.protocol_level.unwrap_or(connect.protocol.level()));
    new_body.push(
        def.connect_flags
            .unwrap_or(body[2 + connect.protocol.protocol_name().len() + 1]),
    );
    new_body.extend_from_slice(rest);
    Ok(RawBuilder::new(0x10).bytes(&new_body).build())
}

fn raw_bytes(raw: &RawDef, vars: &Vars) -> Result<Vec<u8>, String> {
    match raw {
        RawDef::Hex(h) => expand_hex(h, vars),
        RawDef::Built(b) => {
            let first = match &b.first_byte {
                Value::Number(n) => n.as_u64().and_then(|v| u8::try_from(v).ok()),
                Value::String(h) => u8::from_str_radix(h.trim_start_matches("0x"), 16).ok(),
                _ => None,
            }
            .ok_or("raw.first_byte is not a byte")?;
            let body = expand_hex(&b.body, vars)?;
            let mut builder = RawBuilder::new(first).bytes(&body);
            match &b.remaining_length {
                None => {}
                Some(Value::Number(n)) => {
                    builder = builder.remaining_length(
                        n.as_u64()
                            .ok_or("remaining_length must be a whole number")?,
                    );
                }
                Some(Value::String(h)) => {
                    builder = builder.remaining_length_bytes(&crate::codec::parse_hex(h)?);
                }
                Some(_) => return Err("remaining_length is a number or hex text".into()),
            }
            Ok(builder.build())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each `send` step of the test, built under fixed variables and no suite credentials.
    fn sent(suite_text: &str) -> Vec<String> {
        let suite =
            crate::suite::load_str("demo.yaml", suite_text).unwrap_or_else(|e| panic!("{e}"));
        let mut vars = Vars::new();
        vars.set("run", "r1");
        vars.set("client_id", "c1");
        let credentials = DefaultCredentials::default();
        let mut next = 1;
        let mut ctx = BuildContext {
            vars: &vars,
            version: suite.protocol,
            default_protocol: suite.protocol,
            default_keepalive: suite.keepalive,
            next_packet_id: &mut next,
            last_received_id: None,
            credentials: &credentials,
            auth: None,
            unique_client_id: "c1",
        };
        suite.tests[0]
            .steps
            .iter()
            .filter_map(|step| match &step.value {
                Step::Send(s) => Some(match outgoing(s, &mut ctx).unwrap() {
                    Outgoing::Raw(bytes) => hex::encode(bytes),
                    Outgoing::Packet(p) => hex::encode(encode_to_vec(&p, ctx.version).unwrap()),
                }),
                _ => None,
            })
            .collect()
    }

    /// A CONNECT wrong in its name, level or flags on purpose is the encoded CONNECT with
    /// just that byte replaced: each structured step sends what the raw one beside it does.
    #[test]
    fn connect_overrides_replace_only_their_field() {
        let pairs = [
            (
                "protocol_level: 3",
                r#"{ raw: { first_byte: "10", body: "00 04 4d 51 54 54 03 02 00 3c ${str:c1}" } }"#,
            ),
            (
                r#"protocol_name: "MQIsdp""#,
                r#"{ raw: { first_byte: "10", body: "00 06 4d 51 49 73 64 70 04 02 00 3c ${str:c1}" } }"#,
            ),
            (
                "connect_flags: 0x03",
                r#"{ raw: { first_byte: "10", body: "00 04 4d 51 54 54 04 03 00 3c ${str:c1}" } }"#,
            ),
            (
                r#"will: { topic: "t", payload: "hi" }, connect_flags: 0x02"#,
                r#"{ raw: { first_byte: "10", body: "00 04 4d 51 54 54 04 02 00 3c ${str:c1} ${str:t} ${str:hi}" } }"#,
            ),
            (
                r#"username: "u${run}", connect_flags: 0xc2"#,
                r#"{ raw: { first_byte: "10", body: "00 04 4d 51 54 54 04 c2 00 3c ${str:c1} ${str:ur1}" } }"#,
            ),
        ];
        for (fields, raw) in pairs {
            let text = format!(
                "name: demo\nprotocol: \"3.1.1\"\ntests:\n  - id: T1\n    title: t\n    steps:\n      - open\n      - send: {{ connect: {{ {fields}, keepalive: 60, credentials: false }} }}\n      - send: {raw}\n"
            );
            let sent = sent(&text);
            assert_eq!(sent[0], sent[1], "{fields}");
        }
        // A CONNECT wrong only in its fields goes out as bytes too, so the trace names what
        // the strict decoder finds wrong, as for raw bytes; a valid one stays a packet.
        let def = |fields: &str| -> SendDef {
            serde_saphyr::from_str(&format!("connect: {{ {fields}, credentials: false }}")).unwrap()
        };
        let vars = Vars::new();
        let credentials = DefaultCredentials::default();
        let mut next = 1;
        let mut ctx = BuildContext {
            vars: &vars,
            version: ProtocolVersion::V3_1_1,
            default_protocol: ProtocolVersion::V3_1_1,
            default_keepalive: 60,
            next_packet_id: &mut next,
            last_received_id: None,
            credentials: &credentials,
            auth: None,
            unique_client_id: "c1",
        };
        assert!(matches!(
            outgoing(&def(r#"password: "p""#), &mut ctx),
            Ok(Outgoing::Raw(_))
        ));
        assert!(matches!(
            outgoing(&def(r#"username: "u", password: "p""#), &mut ctx),
            Ok(Outgoing::Packet(Packet::Connect(_)))
        ));
        // 5.0: the properties stay where the encoder put them.
        let text = "name: demo\nprotocol: \"5\"\ntests:\n  - id: T1\n    title: t\n    steps:\n      - open\n      - send: { connect: { protocol_level: 6, properties: { receive_maximum: 0 }, keepalive: 60, credentials: false } }\n      - send: { raw: { first_byte: \"10\", body: \"00 04 4d 51 54 54 06 02 00 3c 03 21 00 00 ${str:c1}\" } }\n";
        let sent = sent(text);
        assert_eq!(sent[0], sent[1]);
    }
}
