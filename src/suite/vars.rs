//! `${…}` interpolation: suite parameters and the run's built-in variables.

use std::collections::BTreeMap;

/// Built-in variables every run defines.
pub const BUILTINS: &[&str] = &["run", "test", "conn", "client_id", "now", "now_ms"];

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

/// The variable names `text` refers to (for load-time checks). The argument of a
/// `${str:…}` or `${hex:…}` function is literal text that may itself hold variables.
pub fn references(text: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        if let Some(arg) = after
            .strip_prefix("str:")
            .or_else(|| after.strip_prefix("hex:"))
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
/// length prefix and `${hex:TEXT}` TEXT's bytes (both in hex); other `${name}` are
/// interpolated first. Returns the bytes.
pub fn expand_hex(template: &str, vars: &Vars) -> Result<Vec<u8>, String> {
    let mut hex_text = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("${str:").or_else(|| rest.find("${hex:")) {
        // Take whichever function comes first.
        let start = [rest.find("${str:"), rest.find("${hex:")]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(start);
        hex_text.push_str(&vars.interpolate(&rest[..start])?);
        let func = &rest[start + 2..start + 5];
        let after = &rest[start + 6..];
        let end = find_closing(after)
            .ok_or_else(|| format!("unterminated `${{{func}:` in `{template}`"))?;
        let arg = vars.interpolate(&after[..end])?;
        if func == "str" {
            let len = u16::try_from(arg.len())
                .map_err(|_| "`${str:…}` argument is longer than 65,535 bytes".to_string())?;
            hex_text.push_str(&hex::encode(len.to_be_bytes()));
        }
        hex_text.push_str(&hex::encode(arg.as_bytes()));
        rest = &after[end + 1..];
    }
    hex_text.push_str(&vars.interpolate(rest)?);
    crate::codec::parse_hex(&hex_text)
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
    }
}
