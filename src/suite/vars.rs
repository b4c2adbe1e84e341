//! `${…}` interpolation: suite parameters and the run's built-in variables.

use std::collections::BTreeMap;

/// Built-in variables every run defines (`subscribed_topic`, a topic the device's first
/// subscription matches, has a value only in device tests that start `subscribed`).
pub const BUILTINS: &[&str] = &[
    "run",
    "test",
    "conn",
    "client_id",
    "now",
    "now_ms",
    "subscribed_topic",
];

/// Variable values for one interpolation.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    values: BTreeMap<String, String>,
}

impl Vars {
    /// No variables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a variable.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.values.insert(name.into(), value.into());
    }

    /// A variable's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Replaces every `${name}` in `text`; an unknown name is an error.
    pub fn interpolate(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("unterminated `${{` in `{text}`"))?;
            let name = &after[..end];
            let value = self
                .get(name)
                .ok_or_else(|| format!("`${{{name}}}` is not a parameter or built-in variable"))?;
            out.push_str(value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// The raw-packet functions: `${str:TEXT}`, `${strx:TEXT}` and `${hex:TEXT}`.
const FUNCTIONS: [&str; 3] = ["str", "strx", "hex"];

/// The variable names `text` refers to (for load-time checks). The argument of a
/// `${str:…}`, `${strx:…}` or `${hex:…}` function is literal text that may itself hold
/// variables.
pub fn references(text: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        if let Some(arg) = FUNCTIONS
            .iter()
            .find_map(|f| after.strip_prefix(f).and_then(|a| a.strip_prefix(':')))
        {
            let end = find_closing(arg).ok_or_else(|| format!("unterminated `${{` in `{text}`"))?;
            names.extend(references(&arg[..end])?);
            rest = &arg[end + 1..];
        } else {
            let end = after
                .find('}')
                .ok_or_else(|| format!("unterminated `${{` in `{text}`"))?;
            names.push(after[..end].to_owned());
            rest = &after[end + 1..];
        }
    }
    Ok(names)
}

/// Expands a raw-packet hex template: `${str:TEXT}` becomes TEXT's bytes with a two-byte
/// length prefix, `${strx:TEXT}` the same with each `\xHH` in TEXT one byte of that value
/// (to write ill-formed UTF-8 behind a topic of any length), and `${hex:TEXT}` TEXT's bytes
/// (all in hex); other `${name}` are interpolated first. Returns the bytes.
pub fn expand_hex(template: &str, vars: &Vars) -> Result<Vec<u8>, String> {
    let mut hex_text = String::new();
    let mut rest = template;
    // The first function call left, as (its start, its name).
    let next_call = |rest: &str| {
        FUNCTIONS
            .iter()
            .filter_map(|f| rest.find(&format!("${{{f}:")).map(|at| (at, *f)))
            .min()
    };
    while let Some((start, func)) = next_call(rest) {
        hex_text.push_str(&vars.interpolate(&rest[..start])?);
        let after = &rest[start + 3 + func.len()..];
        let end = find_closing(after)
            .ok_or_else(|| format!("unterminated `${{{func}:` in `{template}`"))?;
        let arg = vars.interpolate(&after[..end])?;
        let bytes = match func {
            "strx" => unescape_bytes(&arg)?,
            _ => arg.into_bytes(),
        };
        if func != "hex" {
            let len = u16::try_from(bytes.len())
                .map_err(|_| format!("`${{{func}:…}}` argument is longer than 65,535 bytes"))?;
            hex_text.push_str(&hex::encode(len.to_be_bytes()));
        }
        hex_text.push_str(&hex::encode(bytes));
        rest = &after[end + 1..];
    }
    hex_text.push_str(&vars.interpolate(rest)?);
    crate::codec::parse_hex(&hex_text)
}

/// TEXT's bytes with each `\xHH` replaced by the byte HH.
fn unescape_bytes(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("\\x") {
        out.extend_from_slice(&rest.as_bytes()[..at]);
        let digits = rest.get(at + 2..at + 4).unwrap_or("");
        let byte = u8::from_str_radix(digits, 16)
            .map_err(|_| format!("`${{strx:…}}`: `\\x` needs two hex digits in `{text}`"))?;
        out.push(byte);
        rest = &rest[at + 4..];
    }
    out.extend_from_slice(rest.as_bytes());
    Ok(out)
}

/// The index of the `}` closing a function argument that may itself contain `${…}`.
fn find_closing(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1) == Some(&b'{') {
            depth += 1;
            i += 2;
            continue;
        }
        if bytes[i] == b'}' {
            if depth == 0 {
                return Some(i);
            }
            depth -= 1;
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation() {
        let mut v = Vars::new();
        v.set("device_id", "d1");
        assert_eq!(
            v.interpolate("tylink/${device_id}/x").unwrap(),
            "tylink/d1/x"
        );
        assert!(v.interpolate("${nope}").unwrap_err().contains("nope"));
        assert!(v.interpolate("${open").is_err());
        assert_eq!(references("a ${x} b ${y}").unwrap(), ["x", "y"]);
        assert_eq!(
            references("${str:w/x} ${hex:a${run}b} ${z}").unwrap(),
            ["run", "z"]
        );
    }

    #[test]
    fn hex_templates() {
        let mut v = Vars::new();
        v.set("cid", "ab");
        assert_eq!(
            expand_hex("10 ${str:${cid}} ${hex:x}", &v).unwrap(),
            [0x10, 0, 2, b'a', b'b', b'x']
        );
        // Ill-formed UTF-8 behind a topic of any length, its length counted.
        v.set("topic", "t/abc");
        assert_eq!(
            expand_hex("${strx:${topic}/\\xc3\\x28} 00", &v).unwrap(),
            [0, 8, b't', b'/', b'a', b'b', b'c', b'/', 0xC3, 0x28, 0]
        );
        assert_eq!(references("${strx:${topic}/\\xc3}").unwrap(), ["topic"]);
        assert!(
            expand_hex("${strx:a\\xzz}", &v)
                .unwrap_err()
                .contains("two hex digits")
        );
    }
}
