//! Durations and time windows as suites write them: `500ms`, `5s`, `2m`, `1.5x keepalive + 1s`.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// How far below the lower bound of its window a device's timed reaction (a reconnect after
/// the cloud's close, a close after an unanswered PINGREQ) may be measured and still hold. The
/// device's timer starts when it sees the event, which we time on our side of the network:
/// real clients' 1 s reconnect delay (paho-mqtt, MQTT.js, libmosquitto) measures a few
/// milliseconds either side of 1.00 s here.
pub const DEVICE_TIMER_TOLERANCE: Duration = Duration::from_millis(100);

/// A duration that may scale with the connection's Keep Alive.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TimeExpr {
    /// Multiple of the connection's Keep Alive (0 when absolute).
    pub keepalive_factor: f64,
    /// Fixed part.
    pub fixed: Duration,
}

impl TimeExpr {
    /// An absolute duration.
    pub fn fixed(d: Duration) -> Self {
        Self {
            keepalive_factor: 0.0,
            fixed: d,
        }
    }

    /// True when the value depends on Keep Alive.
    pub fn uses_keepalive(&self) -> bool {
        self.keepalive_factor != 0.0
    }

    /// The duration for a connection with this Keep Alive (seconds).
    pub fn resolve(&self, keepalive: u16) -> Duration {
        self.fixed + Duration::from_secs_f64(self.keepalive_factor * f64::from(keepalive))
    }

    /// Parses `5s`, `500ms`, `2m`, `1.5`, `1.5x keepalive`, `1.5x keepalive + 1s`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if let Some((factor, rest)) = t.split_once('x') {
            let factor: f64 = factor
                .trim()
                .parse()
                .map_err(|_| format!("`{text}`: expected a number before `x`"))?;
            let rest = rest.trim();
            let rest = rest
                .strip_prefix("keepalive")
                .ok_or_else(|| format!("`{text}`: only `x keepalive` may follow a factor"))?
                .trim();
            let fixed = match rest.strip_prefix('+') {
                Some(plus) => parse_duration(plus.trim())?,
                None if rest.is_empty() => Duration::ZERO,
                None => return Err(format!("`{text}`: expected `+ <duration>` after keepalive")),
            };
            if !(factor.is_finite() && factor >= 0.0) {
                return Err(format!("`{text}`: factor must be a non-negative number"));
            }
            return Ok(Self {
                keepalive_factor: factor,
                fixed,
            });
        }
        parse_duration(t).map(Self::fixed)
    }
}

impl fmt::Display for TimeExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.uses_keepalive(), self.fixed.is_zero()) {
            (false, _) => write!(f, "{}", fmt_secs(self.fixed)),
            (true, true) => write!(f, "{}× keepalive", self.keepalive_factor),
            (true, false) => write!(
                f,
                "{}× keepalive + {}",
                self.keepalive_factor,
                fmt_secs(self.fixed)
            ),
        }
    }
}

/// A time a suite writes: the text with its position, and its value, parsed once when the
/// suite is compiled ([`Timed::parse`]) so that runs never parse time text.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct Timed<T: TimeValue> {
    /// The text as written, with where it is written.
    pub text: Spanned<String>,
    /// The value of the text (set by [`Timed::parse`] when the suite is compiled).
    #[serde(skip)]
    pub value: T,
}

impl<T: TimeValue> Timed<T> {
    /// Parses the text into `value`; the error is the parser's.
    pub fn parse(&mut self) -> Result<T, String> {
        self.value = T::parse_text(&self.text.value)?;
        Ok(self.value)
    }
}

impl<T: TimeValue> JsonSchema for Timed<T> {
    fn schema_name() -> Cow<'static, str> {
        "Time".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A time: `500ms`, `5s`, `2m`, a number of seconds, or (for windows) `1.5x keepalive + 1s`.",
            "type": ["string", "number"]
        })
    }
}

/// What a [`Timed`] text parses to: a [`Duration`], or a [`TimeExpr`] that may scale with
/// Keep Alive.
pub trait TimeValue: Copy + Default {
    /// Parses suite text.
    fn parse_text(text: &str) -> Result<Self, String>;
}

impl TimeValue for Duration {
    fn parse_text(text: &str) -> Result<Self, String> {
        parse_duration(text)
    }
}

impl TimeValue for TimeExpr {
    fn parse_text(text: &str) -> Result<Self, String> {
        TimeExpr::parse(text)
    }
}

/// Parses `500ms`, `5s`, `1.5s`, `2m`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (e.g. 500ms, 5s, 2m)"))?;
    let secs = match unit.trim() {
        "ms" => value / 1000.0,
        "s" => value,
        "m" | "min" => value * 60.0,
        other => return Err(format!("`{text}`: unknown unit `{other}` (ms, s, m)")),
    };
    if !(secs.is_finite() && (0.0..=86_400.0).contains(&secs)) {
        return Err(format!("`{text}` is out of range (0 to 24 h)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Seconds with two decimals, as verdicts print them.
pub fn fmt_secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// A time window; either bound may be absent. Bounds may scale with Keep Alive.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Window {
    /// Earliest.
    pub min: Option<TimeExpr>,
    /// Latest.
    pub max: Option<TimeExpr>,
}

impl Window {
    /// The bounds for a connection with this Keep Alive.
    pub fn resolve(&self, keepalive: u16) -> (Option<Duration>, Option<Duration>) {
        (
            self.min.map(|t| t.resolve(keepalive)),
            self.max.map(|t| t.resolve(keepalive)),
        )
    }

    /// Whether a bound scales with Keep Alive.
    pub fn uses_keepalive(&self) -> bool {
        self.min.is_some_and(|t| t.uses_keepalive()) || self.max.is_some_and(|t| t.uses_keepalive())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("3h").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn keepalive_expressions() {
        let e = TimeExpr::parse("1.5x keepalive + 1s").unwrap();
        assert_eq!(e.resolve(4), Duration::from_secs(7));
        assert_eq!(e.to_string(), "1.5× keepalive + 1.00 s");
        assert_eq!(
            TimeExpr::parse("2.5x keepalive").unwrap().resolve(2),
            Duration::from_secs(5)
        );
        assert!(TimeExpr::parse("2x speed").is_err());
    }
}
