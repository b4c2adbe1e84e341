//! A small JSON shape language for payload rules: `type`, `required`, `properties`,
//! `items`, `max_length`, `min`, `max`, `enum` — enough for the platforms' documented bodies.

use serde_json::Value;

const KEYS: &[&str] = &[
    "type",
    "required",
    "properties",
    "items",
    "max_length",
    "min_length",
    "min",
    "max",
    "enum",
    "digits",
];

/// Load-time check of a shape.
pub fn validate_schema(schema: &Value) -> Result<(), String> {
    let Value::Object(map) = schema else {
        return Err("a payload schema is a map".into());
    };
    for (k, v) in map {
        if !KEYS.contains(&k.as_str()) {
            return Err(format!(
                "`{k}` is not a schema keyword ({})",
                KEYS.join(", ")
            ));
        }
        match k.as_str() {
            "type" => {
                let types: Vec<&Value> = match v {
                    Value::Array(a) => a.iter().collect(),
                    other => vec![other],
                };
                for t in types {
                    let ok = t.as_str().is_some_and(|t| {
                        [
                            "object", "array", "string", "integer", "number", "boolean", "null",
                        ]
                        .contains(&t)
                    });
                    if !ok {
                        return Err(format!("unknown type {t}"));
                    }
                }
            }
            "properties" => {
                let Value::Object(props) = v else {
                    return Err("`properties` is a map".into());
                };
                props.values().try_for_each(validate_schema)?;
            }
            "items" => validate_schema(v)?,
            _ => {}
        }
    }
    Ok(())
}

/// Checks `value` against `schema`; the error names the JSON path.
pub fn check(value: &Value, schema: &Value, path: &str) -> Result<(), String> {
    let Value::Object(s) = schema else {
        return Ok(());
    };
    if let Some(t) = s.get("type") {
        let allowed: Vec<&str> = match t {
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            other => other.as_str().into_iter().collect(),
        };
        let actual = type_of(value);
        let fits = allowed
            .iter()
            .any(|a| *a == actual || (*a == "number" && actual == "integer"));
        if !fits {
            return Err(format!(
                "{path}: expected {}, found {actual}",
                allowed.join(" or ")
            ));
        }
    }
    if let Some(Value::Array(options)) = s.get("enum") {
        if !options.contains(value) {
            return Err(format!(
                "{path}: {value} is not one of {}",
                Value::Array(options.clone())
            ));
        }
    }
    if let Value::String(text) = value {
        let n = text.chars().count() as u64;
        if let Some(max) = s.get("max_length").and_then(Value::as_u64) {
            if n > max {
                return Err(format!("{path}: {n} characters, more than {max}"));
            }
        }
        if let Some(min) = s.get("min_length").and_then(Value::as_u64) {
            if n < min {
                return Err(format!("{path}: {n} characters, fewer than {min}"));
            }
        }
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = s.get("min").and_then(Value::as_f64) {
            if n < min {
                return Err(format!("{path}: {n} is below {min}"));
            }
        }
        if let Some(max) = s.get("max").and_then(Value::as_f64) {
            if n > max {
                return Err(format!("{path}: {n} is above {max}"));
            }
        }
        if let Some(Value::Array(digits)) = s.get("digits") {
            let len = value.to_string().trim_start_matches('-').len() as u64;
            if !digits.iter().any(|d| d.as_u64() == Some(len)) {
                return Err(format!(
                    "{path}: {len} digits, expected {}",
                    Value::Array(digits.clone())
                ));
            }
        }
    }
    if let Value::Object(obj) = value {
        if let Some(Value::Array(required)) = s.get("required") {
            for r in required.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    return Err(format!("{path}: missing `{r}`"));
                }
            }
        }
        if let Some(Value::Object(props)) = s.get("properties") {
            for (k, sub) in props {
                if k == "*" {
                    for (name, v) in obj {
                        check(v, sub, &format!("{path}.{name}"))?;
                    }
                } else if let Some(v) = obj.get(k) {
                    check(v, sub, &format!("{path}.{k}"))?;
                }
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, s.get("items")) {
        for (i, v) in items.iter().enumerate() {
            check(v, item_schema, &format!("{path}[{i}]"))?;
        }
    }
    Ok(())
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tuya_like_shape() {
        let schema = json!({
            "type": "object",
            "required": ["msgId", "time", "data"],
            "properties": {
                "msgId": {"type": "string", "max_length": 32},
                "time": {"type": "integer", "digits": [10, 13]},
                "version": {"enum": ["1.0"]},
                "data": {"type": "object", "properties": {"*": {"type": "object", "required": ["value", "time"]}}}
            }
        });
        assert!(validate_schema(&schema).is_ok());
        let good = json!({"msgId": "45lkj3551234001", "time": 1626197189638u64, "data": {"color": {"value": "red", "time": 1626197189638u64}}});
        assert_eq!(check(&good, &schema, "$"), Ok(()));
        let bad = json!({"msgId": "x", "time": 12, "data": {}});
        assert_eq!(
            check(&bad, &schema, "$").unwrap_err(),
            "$.time: 2 digits, expected [10,13]"
        );
        let bad = json!({"msgId": "x", "time": 1626197189, "data": {"c": {"value": 1}}});
        assert_eq!(
            check(&bad, &schema, "$").unwrap_err(),
            "$.data.c: missing `time`"
        );
        assert!(validate_schema(&json!({"typo": 1})).is_err());
    }
}
