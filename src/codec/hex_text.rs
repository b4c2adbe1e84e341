//! Hex text as people write it in suites and on the command line.

/// Parses hex text: whitespace, `:` and `,` separate nothing; `0x` prefixes are dropped.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let mut digits = String::with_capacity(text.len());
    for token in text.split(|c: char| c.is_whitespace() || c == ':' || c == ',') {
        let token = token
            .strip_prefix("0x")
            .or_else(|| token.strip_prefix("0X"))
            .unwrap_or(token);
        digits.push_str(token);
    }
    if let Some((i, c)) = digits.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(format!("`{c}` is not a hex digit (hex digit {})", i + 1));
    }
    if digits.len() % 2 != 0 {
        return Err(format!(
            "odd number of hex digits ({}): the last byte is incomplete",
            digits.len()
        ));
    }
    hex::decode(&digits).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_parsing_tolerates_separators_and_prefixes() {
        assert_eq!(parse_hex("c0 00").unwrap(), [0xC0, 0]);
        assert_eq!(parse_hex("c0:00\n0xd0,0x00").unwrap(), [0xC0, 0, 0xD0, 0]);
        assert!(parse_hex("c0 0").unwrap_err().contains("odd number"));
        assert!(parse_hex("zz").unwrap_err().contains("not a hex digit"));
    }
}
