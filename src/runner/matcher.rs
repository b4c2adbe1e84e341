//! Matching a received packet against an `expect` matcher: the packet is compared in its
//! JSON form (the one `decode --format json` prints), field by field.

use crate::codec::Packet;
use crate::suite::vars::Vars;
use serde_json::Value;

/// Payload bytes shown from the start and from the end of a payload that did not match.
const PAYLOAD_HEAD: usize = 32;
const PAYLOAD_TAIL: usize = 16;

/// Checks `packet` against `matcher` (a map of field → expected value, or null for any).
/// Returns a description of the first mismatch.
pub fn check(packet: &Packet, matcher: &Value, vars: &Vars) -> Result<(), String> {
    let Value::Object(fields) = matcher else {
        return Ok(());
    };
    // The payload is compared as bytes and shown bounded; only the other fields go
    // through the JSON form (a 16 MB payload would be 32 MB of hex there).
    let (actual, payload) = match packet {
        Packet::Publish(p) => {
            let mut fields_only = p.clone();
            fields_only.payload = bytes::Bytes::new();
            let actual = serde_json::to_value(Packet::Publish(fields_only));
            (actual, &p.payload[..])
        }
        other => (serde_json::to_value(other), &[][..]),
    };
    let actual = actual.map_err(|e| e.to_string())?;
    for (key, expected) in fields {
        let expected = interpolate(expected, vars)?;
        let ok = match key.as_str() {
            "payload" => match &expected {
                Value::String(text) => text.as_bytes() == payload,
                e => compare(e, &Value::String(hex::encode(payload))),
            },
            "payload_hex" => expected
                .as_str()
                .and_then(|h| hex::decode(h.split_whitespace().collect::<String>()).ok())
                .is_some_and(|want| want == payload),
            "payload_size" => compare(&expected, &Value::from(payload.len())),
            // The payload is JSON of the given shape (the judge's shape language).
            "payload_json" => {
                let Packet::Publish(p) = packet else {
                    return Err("payload_json: not a PUBLISH".into());
                };
                match serde_json::from_slice::<Value>(&p.payload) {
                    Ok(v) => crate::suite::shape::check(&v, &expected, "$")
                        .map_err(|e| format!("payload_json: {e}"))?,
                    Err(e) => return Err(format!("payload_json: the payload is not JSON ({e})")),
                }
                true
            }
            _ => compare(&expected, &actual[key.as_str()]),
        };
        if !ok {
            let shown = match key.as_str() {
                "payload_size" => payload.len().to_string(),
                // Shown the way it was asked for: text against text (so a secret payload
                // is masked like any secret text), else hex; bounded either way.
                "payload"
                    if expected.is_string() && payload.len() <= PAYLOAD_HEAD + PAYLOAD_TAIL =>
                {
                    match std::str::from_utf8(payload) {
                        Ok(text) => render(&Value::String(text.to_owned())),
                        Err(_) => bounded_payload(payload),
                    }
                }
                "payload" | "payload_hex" => bounded_payload(payload),
                _ => render(&actual[key.as_str()]),
            };
            return Err(format!(
                "{key}: expected {}, got {shown}",
                render(&expected)
            ));
        }
    }
    Ok(())
}

/// The variable holding the profile's `max_qos` for the `grant` operator.
pub const MAX_QOS_VAR: &str = "profile.max_qos";

/// The SUBACK return codes that answer a request at QoS `requested` on a platform granting
/// at most `max_qos`: any QoS up to both (a server may grant less, MQTT-3.8.4-6), or the
/// failure code 0x80.
fn grants(requested: &Value, vars: &Vars) -> Result<Value, String> {
    let requested = requested
        .as_u64()
        .filter(|q| *q <= 2)
        .ok_or_else(|| format!("grant: {requested} is not a QoS (0, 1 or 2)"))?;
    let max_qos = vars
        .get(MAX_QOS_VAR)
        .and_then(|m| m.parse::<u64>().ok())
        .unwrap_or(2);
    let mut codes: Vec<Value> = (0..=requested.min(max_qos)).map(Value::from).collect();
    codes.push(Value::from(0x80));
    Ok(serde_json::json!({ "in": codes }))
}

fn interpolate(v: &Value, vars: &Vars) -> Result<Value, String> {
    Ok(match v {
        Value::Object(o) if o.len() == 1 && o.contains_key("grant") => grants(&o["grant"], vars)?,
        Value::String(s) => Value::String(vars.interpolate(s)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| interpolate(x, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), interpolate(x, vars)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// Equality with operators (`in`, `min`, `max`, `not`) and subset matching of maps.
fn compare(expected: &Value, actual: &Value) -> bool {
    match expected {
        Value::Object(ops) if is_operator_map(ops) => {
            ops.iter().all(|(op, arg)| match op.as_str() {
                "in" => arg
                    .as_array()
                    .is_some_and(|opts| opts.iter().any(|o| compare(o, actual))),
                "min" => num(actual).zip(num(arg)).is_some_and(|(a, m)| a >= m),
                "max" => num(actual).zip(num(arg)).is_some_and(|(a, m)| a <= m),
                "not" => !compare(arg, actual),
                _ => false,
            })
        }
        Value::Object(want) => match actual {
            Value::Object(have) => want
                .iter()
                .all(|(k, v)| compare(v, have.get(k).unwrap_or(&Value::Null))),
            _ => false,
        },
        Value::Array(want) => match actual {
            Value::Array(have) => {
                want.len() == have.len() && want.iter().zip(have).all(|(w, h)| compare(w, h))
            }
            _ => false,
        },
        Value::Number(_) => num(expected) == num(actual),
        other => other == actual,
    }
}

fn is_operator_map(map: &serde_json::Map<String, Value>) -> bool {
    !map.is_empty()
        && map
            .keys()
            .all(|k| crate::suite::MATCH_OPERATORS.contains(&k.as_str()))
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// A payload for a message: whole when short, else its length, first and last bytes in hex.
pub fn bounded_payload(payload: &[u8]) -> String {
    if payload.len() <= PAYLOAD_HEAD + PAYLOAD_TAIL {
        return format!("\"{}\"", hex::encode(payload));
    }
    format!(
        "{} bytes: \"{}…{}\"",
        payload.len(),
        hex::encode(&payload[..PAYLOAD_HEAD]),
        hex::encode(&payload[payload.len() - PAYLOAD_TAIL..])
    )
}

/// A compact rendering of a matcher value for messages.
pub fn render(v: &Value) -> String {
    match v {
        Value::Object(o) if o.is_empty() => "{}".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{ConnAck, Properties, Publish, QoS, SubAck};
    use serde_json::json;

    /// `grant: N` accepts any QoS up to N and the profile's max_qos, or 0x80.
    #[test]
    fn a_grant_is_at_most_the_request_and_the_profiles_max_qos() {
        let suback = |codes: Vec<u8>| {
            Packet::SubAck(SubAck {
                packet_id: 1,
                properties: Properties::new(),
                return_codes: codes,
            })
        };
        let want = json!({"return_codes": [{"grant": 2}, {"grant": 0}, {"grant": 1}]});
        let mut up_to_2 = Vars::new();
        up_to_2.set(MAX_QOS_VAR, "2");
        let mut up_to_1 = Vars::new();
        up_to_1.set(MAX_QOS_VAR, "1");
        for vars in [&up_to_2, &up_to_1] {
            assert!(check(&suback(vec![1, 0, 1]), &want, vars).is_ok());
            assert!(check(&suback(vec![0x80, 0x80, 0]), &want, vars).is_ok());
            assert!(check(&suback(vec![0, 1, 0]), &want, vars).is_err());
        }
        assert!(check(&suback(vec![2, 0, 1]), &want, &up_to_2).is_ok());
        let e = check(&suback(vec![2, 0, 1]), &want, &up_to_1).unwrap_err();
        assert_eq!(
            e,
            r#"return_codes: expected [{"in":[0,1,128]},{"in":[0,128]},{"in":[0,1,128]}], got [2,0,1]"#
        );
    }

    #[test]
    fn fields_operators_and_payloads() {
        let vars = Vars::new();
        let connack = Packet::ConnAck(ConnAck {
            session_present: false,
            code: 5,
            properties: Properties::new(),
        });
        assert!(check(&connack, &json!({"code": 5}), &vars).is_ok());
        assert!(check(&connack, &json!({"code": {"in": [4, 5]}}), &vars).is_ok());
        let e = check(&connack, &json!({"code": 0}), &vars).unwrap_err();
        assert_eq!(e, "code: expected 0, got 5");
        let suback = Packet::SubAck(SubAck {
            packet_id: 1,
            properties: Properties::new(),
            return_codes: vec![1, 0x80],
        });
        assert!(check(&suback, &json!({"return_codes": [1, 128]}), &vars).is_ok());
        assert!(check(&suback, &json!({"return_codes": [{"max": 1}, 128]}), &vars).is_ok());
        assert!(check(&suback, &json!({"return_codes": [1]}), &vars).is_err());
        let mut p = Publish::new("a/b", &b"hi"[..]);
        p.qos = QoS::AtLeastOnce;
        p.packet_id = Some(3);
        let p = Packet::Publish(p);
        assert!(
            check(
                &p,
                &json!({"payload": "hi", "qos": 1, "topic": "a/b"}),
                &vars
            )
            .is_ok()
        );
        assert!(
            check(
                &p,
                &json!({"payload_hex": "68 69", "payload_size": 2}),
                &vars
            )
            .is_ok()
        );
        assert!(check(&p, &json!({"qos": {"not": 2}}), &vars).is_ok());
        assert_eq!(
            check(&p, &json!({"payload_size": 3}), &vars).unwrap_err(),
            "payload_size: expected 3, got 2"
        );
    }

    #[test]
    fn a_large_payload_that_does_not_match_is_shown_bounded() {
        let vars = Vars::new();
        let mut big = vec![b'x'; 1 << 20];
        big[..4].copy_from_slice(b"head");
        let p = Packet::Publish(Publish::new("t", big));
        let e = check(&p, &json!({"payload": "small"}), &vars).unwrap_err();
        assert!(
            e.starts_with(r#"payload: expected "small", got 1048576 bytes: "68656164"#),
            "{e}"
        );
        assert!(e.len() < 200, "{} bytes: {e}", e.len());
        let e = check(&p, &json!({"payload_hex": "00"}), &vars).unwrap_err();
        assert!(e.len() < 200, "{} bytes: {e}", e.len());
        assert!(check(&p, &json!({"payload_size": 1 << 20}), &vars).is_ok());
        let short = Packet::Publish(Publish::new("t", &b"hi"[..]));
        assert_eq!(
            check(&short, &json!({"payload": "ho"}), &vars).unwrap_err(),
            r#"payload: expected "ho", got "hi""#
        );
        // Against hex, or when it is not text, a short payload is shown in hex.
        assert_eq!(
            check(&short, &json!({"payload_hex": "686f"}), &vars).unwrap_err(),
            r#"payload_hex: expected "686f", got "6869""#
        );
    }

    #[test]
    fn payload_json_checks_the_payload_against_a_shape() {
        use crate::codec::Publish;
        let vars = Vars::new();
        let reply = Packet::Publish(Publish::new("t", &br#"{"id":"302","code":200}"#[..]));
        let shape = json!({"type": "object", "required": ["id", "code"],
            "properties": {"id": {"enum": ["302"]}, "code": {"enum": [200]}}});
        assert!(check(&reply, &json!({"payload_json": shape}), &vars).is_ok());
        let other = Packet::Publish(Publish::new("t", &br#"{"id":"303","code":200}"#[..]));
        let e = check(&other, &json!({"payload_json": shape}), &vars).unwrap_err();
        assert!(e.starts_with("payload_json: "), "{e}");
        let text = Packet::Publish(Publish::new("t", &b"not json"[..]));
        let e = check(&text, &json!({"payload_json": shape}), &vars).unwrap_err();
        assert!(e.contains("not JSON"), "{e}");
    }
}
