//! Why a case did not pass, in one line a person reads first: the observation before the
//! expectation, the hex evidence cut short (the console's failure lines, the Markdown
//! summary's table).

use super::{CaseReport, Verdict};

/// A reason longer than this (in characters) is cut, with `…`.
pub(crate) const MAX_REASON_CHARS: usize = 300;
/// Hex evidence (`[20 02 00 00 …]`) longer than this many bytes is cut, with `…`.
const MAX_HEX_BYTES: usize = 8;

/// The reason a case did not pass, in one line: what was observed first, then what was
/// expected and where; hex evidence and the whole cut short; the suite's note left out
/// (the full message and the trace keep it).
pub fn reason(case: &CaseReport) -> String {
    let message = case.verdict.message().unwrap_or_default();
    let first = message.lines().next().unwrap_or_default();
    let mut text = match split_expectation(first) {
        Some((place, expected, observed)) => {
            let place = if place.is_empty() {
                String::new()
            } else {
                format!(" ({place})")
            };
            format!("{observed} — expected {expected}{place}")
        }
        None => first.to_owned(),
    };
    if let Verdict::Error { .. } = case.verdict {
        text = format!("harness error: {text}");
    }
    cut(&trim_hex(&text), MAX_REASON_CHARS)
}

/// `step 3 (expect closed): expected X; observed Y` as (`step 3 (expect closed)`, `X`,
/// `observed Y`); any other shape is `None`.
fn split_expectation(line: &str) -> Option<(&str, &str, &str)> {
    let (place, rest) = match line.find("expected ") {
        Some(0) => ("", line),
        Some(at) => (line[..at].trim_end().trim_end_matches(':'), &line[at..]),
        None => return None,
    };
    let rest = rest.strip_prefix("expected ")?;
    let (expected, observed) = rest.split_once("; ")?;
    Some((place, expected, observed))
}

/// Hex evidence in brackets (`[62 02 00 01]`) longer than [`MAX_HEX_BYTES`] bytes cut to
/// its first bytes and `…`.
fn trim_hex(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find(']') {
            Some(close) if is_hex_bytes(&after[..close]) => {
                let bytes: Vec<&str> = after[..close].split(' ').collect();
                out.push('[');
                if bytes.len() > MAX_HEX_BYTES {
                    out.push_str(&bytes[..MAX_HEX_BYTES].join(" "));
                    out.push_str(" …");
                } else {
                    out.push_str(&after[..close]);
                }
                out.push(']');
                rest = &after[close + 1..];
            }
            _ => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_hex_bytes(s: &str) -> bool {
    !s.is_empty()
        && s.split(' ')
            .all(|b| b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit()))
}

/// At most `max` characters of `text`, `…` ending a cut one.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}
