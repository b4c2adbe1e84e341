//! Load-time checks: everything a run would trip over is reported with its position first.

use super::profile::Capability;
use super::schema::*;
use super::timing::{TimeExpr, TimeValue, Timed, parse_duration};
use super::vars::{BUILTINS, references};
use super::{Param, Source, Suite, SuiteError, TlsRequirements, merge};
use crate::auth::Scheme;
use crate::codec::ProtocolVersion;
use serde_json::Value;
use serde_saphyr::{Location, Spanned};
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::time::Duration;

/// Whether a connection opened by steps with `openers` conditions is open for a step with
/// `condition`: an unconditional opener, one with the same condition, or a `needs` and an
/// `unless` of the same capability (one of the two always runs).
fn opened_for(openers: &[Option<Condition>], condition: Option<Condition>) -> bool {
    openers.iter().any(|o| o.is_none() || *o == condition)
        || openers.iter().any(|o| match o {
            Some(Condition::Needs(c)) => openers.contains(&Some(Condition::Unless(*c))),
            _ => false,
        })
}

/// The connection a step names when it names none.
pub const DEFAULT_CONN: &str = "main";

/// Fields a matcher may test, per lower-case packet type.
pub fn matcher_fields(packet: &str) -> Option<&'static [&'static str]> {
    Some(match packet {
        "connect" => &[
            "protocol",
            "clean_session",
            "keep_alive",
            "properties",
            "client_id",
            "will",
            "username",
            "password",
        ],
        "connack" => &["session_present", "code", "properties"],
        "publish" => &[
            "dup",
            "qos",
            "retain",
            "topic",
            "packet_id",
            "properties",
            "payload",
            "payload_hex",
            "payload_size",
            "payload_json",
        ],
        "puback" | "pubrec" | "pubrel" | "pubcomp" => &["packet_id", "reason_code", "properties"],
        "subscribe" => &["packet_id", "properties", "subscriptions"],
        "suback" => &["packet_id", "properties", "return_codes"],
        "unsubscribe" => &["packet_id", "properties", "filters"],
        "unsuback" => &["packet_id", "properties", "reason_codes"],
        "pingreq" | "pingresp" => &[],
        "disconnect" | "auth" => &["reason_code", "properties"],
        _ => return None,
    })
}

/// Operators a matcher value may use instead of a literal.
pub const MATCH_OPERATORS: &[&str] = &["in", "min", "max", "not", "grant"];

struct Checker<'a> {
    src: &'a Source,
    vars: &'a BTreeSet<String>,
    /// The names each of the suite's `vars:` uses, as the merged suite defines them.
    suite_vars: &'a BTreeMap<String, Vec<String>>,
    /// Every name `vars_in` met since it was last taken (a test's parameters).
    used: std::cell::RefCell<BTreeSet<String>>,
}

impl Checker<'_> {
    fn err(&self, loc: &Location, msg: impl Into<String>) -> SuiteError {
        self.src.error_at(loc, msg)
    }

    fn vars_in(&self, text: &str, loc: &Location) -> Result<(), SuiteError> {
        let names = references(text).map_err(|e| self.err(loc, e))?;
        for name in names {
            if let Some(uses) = self.suite_vars.get(&name) {
                self.used.borrow_mut().extend(uses.iter().cloned());
                continue;
            }
            if self.vars.contains(&name) {
                self.used.borrow_mut().insert(name);
                continue;
            }
            return Err(self.err(
                loc,
                format!(
                    "`${{{name}}}` is neither a parameter of the suite nor a built-in ({})",
                    BUILTINS.join(", ")
                ),
            ));
        }
        Ok(())
    }

    fn vars_in_value(&self, v: &Value, loc: &Location) -> Result<(), SuiteError> {
        match v {
            Value::String(s) => self.vars_in(s, loc),
            Value::Array(a) => a.iter().try_for_each(|x| self.vars_in_value(x, loc)),
            Value::Object(o) => o.values().try_for_each(|x| self.vars_in_value(x, loc)),
            _ => Ok(()),
        }
    }

    /// An auth parameter name: dots are reserved for the folded `auth.identities`.
    fn auth_key(&self, key: &str, loc: &Location) -> Result<(), SuiteError> {
        if key.is_empty() || key.contains('.') {
            return Err(self.err(
                loc,
                format!("auth parameter `{key}`: names are non-empty and contain no `.`"),
            ));
        }
        Ok(())
    }

    fn time(&self, s: &Spanned<String>) -> Result<TimeExpr, SuiteError> {
        TimeExpr::parse(&s.value).map_err(|e| self.err(&s.referenced, e))
    }

    fn duration(&self, s: &Spanned<String>) -> Result<Duration, SuiteError> {
        parse_duration(&s.value).map_err(|e| self.err(&s.referenced, e))
    }

    fn protocol(&self, s: Option<&str>, loc: &Location) -> Result<(), SuiteError> {
        match s {
            Some(p) => ProtocolVersion::from_str(p)
                .map(|_| ())
                .map_err(|e| self.err(loc, e)),
            None => Ok(()),
        }
    }

    fn qos(&self, q: Option<u8>, loc: &Location, what: &str) -> Result<(), SuiteError> {
        match q {
            Some(q) if q > 2 => Err(self.err(
                loc,
                format!("{what}: QoS {q} cannot be built structurally; use `raw`"),
            )),
            _ => Ok(()),
        }
    }

    fn properties(
        &self,
        props: &Option<BTreeMap<String, Value>>,
        loc: &Location,
    ) -> Result<(), SuiteError> {
        for (key, value) in props.iter().flatten() {
            if crate::codec::PropertyId::from_key(key).is_none() {
                return Err(self.err(loc, format!("`{key}` is not an MQTT 5.0 property")));
            }
            self.vars_in_value(value, loc)?;
        }
        Ok(())
    }

    fn matcher(&self, packet: &str, m: &Value, loc: &Location) -> Result<(), SuiteError> {
        let fields = matcher_fields(packet)
            .ok_or_else(|| self.err(loc, format!("`{packet}` is not a packet type")))?;
        match m {
            Value::Null => Ok(()),
            Value::Object(map) => {
                for (key, value) in map {
                    if !fields.contains(&key.as_str()) {
                        return Err(self.err(
                            loc,
                            format!(
                                "{packet} has no field `{key}` to match (fields: {})",
                                fields.join(", ")
                            ),
                        ));
                    }
                    if key == "payload_json" {
                        crate::suite::shape::validate_schema(value)
                            .map_err(|e| self.err(loc, format!("payload_json: {e}")))?;
                        continue;
                    }
                    if let Value::Object(ops) = value {
                        if key != "properties" && key != "will" {
                            if ops.contains_key("grant") && ops.len() > 1 {
                                return Err(
                                    self.err(loc, format!("`{key}: {{grant: …}}` stands alone"))
                                );
                            }
                            if let Some(bad) =
                                ops.keys().find(|k| !MATCH_OPERATORS.contains(&k.as_str()))
                            {
                                return Err(self.err(
                                    loc,
                                    format!(
                                        "`{key}: {{{bad}: …}}`: operators are {}",
                                        MATCH_OPERATORS.join(", ")
                                    ),
                                ));
                            }
                        }
                    }
                    self.vars_in_value(value, loc)?;
                }
                Ok(())
            }
            _ => Err(self.err(
                loc,
                format!("`{packet}` expects a map of fields to match (or nothing)"),
            )),
        }
    }

    fn connect(&self, c: &ConnectDef, loc: &Location) -> Result<(), SuiteError> {
        self.protocol(c.protocol.as_deref(), loc)?;
        for s in [&c.client_id, &c.username, &c.password]
            .into_iter()
            .flatten()
        {
            self.vars_in(s, loc)?;
        }
        if let Some(w) = &c.will {
            self.vars_in(&w.topic, loc)?;
            self.vars_in(w.payload.as_deref().unwrap_or(""), loc)?;
            self.qos(w.qos, loc, "will")?;
            self.properties(&w.properties, loc)?;
        }
        self.properties(&c.properties, loc)?;
        if let Some(a) = &c.auth {
            if let Some(scheme) = &a.scheme {
                Scheme::from_str(scheme).map_err(|e| self.err(loc, e.to_string()))?;
            }
            a.params.values().try_for_each(|v| self.vars_in(v, loc))?;
        }
        match &c.connack {
            None | Some(Value::Bool(false)) => Ok(()),
            Some(m) => self.matcher("connack", m, loc),
        }
    }

    fn send(&self, s: &SendDef, loc: &Location) -> Result<(), SuiteError> {
        let present = [
            s.raw.is_some(),
            s.connect.is_some(),
            s.publish.is_some(),
            s.puback.is_some(),
            s.pubrec.is_some(),
            s.pubrel.is_some(),
            s.pubcomp.is_some(),
            s.subscribe.is_some(),
            s.unsubscribe.is_some(),
            s.pingreq.is_some(),
            s.disconnect.is_some(),
            s.auth.is_some(),
        ]
        .iter()
        .filter(|p| **p)
        .count();
        if present != 1 {
            return Err(self.err(
                loc,
                format!("`send` needs exactly one packet (found {present})"),
            ));
        }
        if let Some(c) = &s.connect {
            if let Some(at) = c.needs.as_ref().or(c.unless.as_ref()) {
                return Err(self.err(
                    &at.referenced,
                    "`needs` / `unless` belong to the step: write them beside `connect` in `send`",
                ));
            }
        }
        if let Some(raw) = &s.raw {
            match raw {
                RawDef::Hex(h) => {
                    self.vars_in(h, loc)?;
                    if !h.contains("${") {
                        crate::codec::parse_hex(h)
                            .map_err(|e| self.err(loc, format!("raw: {e}")))?;
                    }
                }
                RawDef::Built(b) => {
                    self.vars_in(&b.body, loc)?;
                    let first_ok = match &b.first_byte {
                        Value::Number(n) => n.as_u64().is_some_and(|v| v <= 0xFF),
                        Value::String(h) => {
                            u8::from_str_radix(h.trim_start_matches("0x"), 16).is_ok()
                        }
                        _ => false,
                    };
                    if !first_ok {
                        return Err(
                            self.err(loc, "raw.first_byte must be a byte: a number or hex text")
                        );
                    }
                }
            }
        }
        if let Some(c) = &s.connect {
            if c.connack.is_some() {
                return Err(self.err(loc, "`send: connect` does not wait for CONNACK; use the `connect` step or a following `expect`"));
            }
            self.connect(c, loc)?;
        }
        if let Some(p) = &s.publish {
            self.vars_in(&p.topic, loc)?;
            self.vars_in(p.payload.as_deref().unwrap_or(""), loc)?;
            self.qos(p.qos, loc, "publish")?;
            let payloads = [
                p.payload.is_some(),
                p.payload_hex.is_some(),
                p.payload_size.is_some(),
            ];
            if payloads.iter().filter(|x| **x).count() > 1 {
                return Err(self.err(
                    loc,
                    "publish: give one of payload, payload_hex, payload_size",
                ));
            }
            if let Some(h) = &p.payload_hex {
                crate::codec::parse_hex(h)
                    .map_err(|e| self.err(loc, format!("payload_hex: {e}")))?;
            }
            self.properties(&p.properties, loc)?;
        }
        if let Some(sub) = &s.subscribe {
            if sub.filters.is_empty() {
                return Err(self.err(
                    loc,
                    "subscribe: at least one filter (use `raw` for an empty SUBSCRIBE)",
                ));
            }
            for f in &sub.filters {
                match f {
                    FilterDef::Bare(f) => self.vars_in(f, loc)?,
                    FilterDef::Full(f) => {
                        self.vars_in(&f.filter, loc)?;
                        self.qos(f.qos, loc, "subscribe")?;
                        if f.retain_handling.is_some_and(|r| r > 2) {
                            return Err(
                                self.err(loc, "retain_handling is 0, 1 or 2 (use `raw` for 3)")
                            );
                        }
                    }
                }
            }
            self.properties(&sub.properties, loc)?;
        }
        if let Some(u) = &s.unsubscribe {
            if u.filters.is_empty() {
                return Err(self.err(
                    loc,
                    "unsubscribe: at least one filter (use `raw` for an empty UNSUBSCRIBE)",
                ));
            }
            u.filters.iter().try_for_each(|f| self.vars_in(f, loc))?;
            self.properties(&u.properties, loc)?;
        }
        for a in [&s.puback, &s.pubrec, &s.pubrel, &s.pubcomp]
            .into_iter()
            .flatten()
        {
            self.properties(&a.properties, loc)?;
        }
        for r in [&s.disconnect, &s.auth].into_iter().flatten() {
            self.properties(&r.properties, loc)?;
        }
        Ok(())
    }

    fn expect(&self, e: &ExpectDef, loc: &Location) -> Result<(), SuiteError> {
        let packets = e.packet_matchers();
        let kinds = packets.len()
            + usize::from(e.any_of.is_some())
            + usize::from(e.closed.is_some())
            + usize::from(e.silence.is_some())
            + usize::from(e.subprotocol.is_some());
        if kinds != 1 {
            return Err(self.err(
                loc,
                format!("`expect` needs exactly one of a packet, `closed`, `silence`, `subprotocol` or `any_of` (found {kinds})"),
            ));
        }
        for (name, m) in packets {
            self.matcher(name, m, loc)?;
        }
        if let Some(alternatives) = &e.any_of {
            if alternatives.len() < 2 {
                return Err(self.err(loc, "`any_of` needs at least two alternatives"));
            }
            for alt in alternatives {
                let mut keys = alt
                    .keys()
                    .filter(|k| !super::schema::ALTERNATIVE_OPTIONS.contains(&k.as_str()));
                let (Some(key), None) = (keys.next(), keys.next()) else {
                    return Err(self.err(loc, "each `any_of` alternative is one packet matcher, `closed` or `silence` (plus an optional `as` label)"));
                };
                if key != "closed" && key != "silence" {
                    self.matcher(key, &alt[key], loc)?;
                }
                if alt
                    .get(super::schema::INCONCLUSIVE)
                    .is_some_and(|why| !why.is_string())
                {
                    return Err(self.err(loc, "`inconclusive` gives the reason as text"));
                }
            }
        }
        if let Some(granted) = &e.granted {
            if e.suback.is_none() {
                return Err(self.err(loc, "`granted` goes with a `suback` expectation"));
            }
            if granted.iter().any(|q| *q > 2) {
                return Err(self.err(loc, "`granted` lists QoS levels 0, 1 or 2"));
            }
        }
        for alt in e.ignore.iter().flatten() {
            let mut keys = alt.keys();
            let (Some(key), None) = (keys.next(), keys.next()) else {
                return Err(self.err(loc, "each `ignore` entry is one packet matcher"));
            };
            if key == "closed" || key == "silence" || key == "as" {
                return Err(self.err(loc, "each `ignore` entry is one packet matcher"));
            }
            self.matcher(key, &alt[key], loc)?;
        }
        if e.inconclusive_if_silent.is_some() && (e.closed.is_some() || e.silence.is_some()) {
            return Err(self.err(
                loc,
                "`inconclusive_if_silent` goes with a packet expectation",
            ));
        }
        for t in [&e.within, &e.after, &e.silence].into_iter().flatten() {
            self.time(&t.text)?;
        }
        if let Some(since) = &e.since {
            if !["step", "last_sent"].contains(&since.value.as_str()) {
                return Err(self.err(&since.referenced, "`since` is `step` or `last_sent`"));
            }
        }
        if let Some(c) = &e.closed {
            if !matches!(c, Value::Null | Value::Bool(true))
                && c.as_object().is_none_or(|o| !o.is_empty())
            {
                return Err(self.err(
                    loc,
                    "`closed` takes no fields: put windows in `within` / `after`",
                ));
            }
        }
        Ok(())
    }

    /// Checks a test; connections must be opened (`open` / `connect`) before use.
    /// `what` (a step of test `t`) means something over WebSocket only.
    fn websocket_only(&self, t: &TestDef, what: &str, loc: &Location) -> Result<(), SuiteError> {
        if t.transport == Some(super::schema::Transport::Websocket) {
            return Ok(());
        }
        Err(self.err(
            loc,
            format!(
                "{what} needs a WebSocket connection: give test `{}` `transport: websocket`",
                t.id.value
            ),
        ))
    }

    fn test(&self, t: &TestDef) -> Result<(), SuiteError> {
        if t.steps.is_empty() {
            return Err(self.err(
                &t.id.referenced,
                format!("test `{}` has no steps", t.id.value),
            ));
        }
        if let Some(timeout) = &t.timeout {
            self.duration(&timeout.text)?;
        }
        // Each connection with the conditions of the steps that opened it.
        let mut open: BTreeMap<String, Vec<Option<Condition>>> = BTreeMap::new();
        let mut conditioned: BTreeSet<Capability> = BTreeSet::new();
        for step in &t.steps {
            let loc = &step.referenced;
            let condition = step.value.condition();
            if let (Some(_), Some(unless)) = step.value.conditions() {
                return Err(self.err(
                    &unless.referenced,
                    "a step has `needs` or `unless`, not both",
                ));
            }
            if let (Some(at), _) | (None, Some(at)) = step.value.conditions() {
                if !t.without.contains_key(&at.value) {
                    return Err(self.err(
                        &at.referenced,
                        format!(
                            "test `{}` has steps that depend on `{}` but no `without: {{ {}: \"what goes unchecked\" }}`",
                            t.id.value,
                            at.value.name(),
                            at.value.name()
                        ),
                    ));
                }
                conditioned.insert(at.value);
            }
            let conn_of = |c: &Option<Spanned<String>>| -> (String, Location) {
                match c {
                    Some(s) => (s.value.clone(), s.referenced),
                    None => (DEFAULT_CONN.to_owned(), *loc),
                }
            };
            let used = match &step.value {
                Step::Open(o) => {
                    open.entry(conn_of(&o.conn).0).or_default().push(condition);
                    None
                }
                Step::Connect(c) => {
                    self.connect(c, loc)?;
                    if c.overrides_header() {
                        return Err(self.err(
                            loc,
                            "`protocol_name`, `protocol_level` and `connect_flags` go in `send: { connect }`: a CONNECT wrong on purpose awaits no CONNACK",
                        ));
                    }
                    open.entry(conn_of(&c.conn).0).or_default().push(condition);
                    None
                }
                Step::Send(s) => {
                    self.send(s, loc)?;
                    if s.websocket.is_some() {
                        self.websocket_only(t, "`websocket` framing", loc)?;
                    }
                    Some(conn_of(&s.conn))
                }
                Step::Expect(e) => {
                    self.expect(e, loc)?;
                    if e.subprotocol.is_some() {
                        self.websocket_only(t, "a `subprotocol` expectation", loc)?;
                    }
                    Some(conn_of(&e.conn))
                }
                Step::Wait(d) => {
                    self.duration(&d.text)?;
                    None
                }
                Step::Close(o) => Some(conn_of(&o.conn)),
            };
            if let Some((name, at)) = used {
                let openers = open.get(&name).map_or(&[][..], Vec::as_slice);
                if !opened_for(openers, condition) {
                    return Err(self.err(
                        &at,
                        format!("connection `{name}` is not opened by an earlier `open` or `connect` step that runs whenever this one does"),
                    ));
                }
            }
        }
        if let Some(unused) = t.without.keys().find(|c| !conditioned.contains(c)) {
            return Err(self.err(
                &t.id.referenced,
                format!(
                    "test `{}` says what goes unchecked without `{}`, but no step `needs` it",
                    t.id.value,
                    unused.name()
                ),
            ));
        }
        Ok(())
    }

    /// Checks a file; records each test's parameters in `params_used`.
    fn file(
        &self,
        f: &SuiteFile,
        params_used: &mut BTreeMap<String, BTreeSet<String>>,
    ) -> Result<(), SuiteError> {
        if f.name.value.trim().is_empty() {
            return Err(self.err(&f.name.referenced, "`name` is empty"));
        }
        if let Some(p) = &f.protocol {
            self.protocol(Some(&p.value), &p.referenced)?;
        }
        for (name, p) in &f.params {
            if p.value.secret && p.value.default.is_some() {
                return Err(self.err(
                    &p.referenced,
                    format!("secret parameter `{name}` may not have a default: give it through `env` or `file`"),
                ));
            }
        }
        for (name, text) in &f.vars {
            if self.vars.contains(name) {
                return Err(self.err(
                    &text.referenced,
                    format!("var `{name}` has the name of a parameter or built-in variable"),
                ));
            }
            for used in references(&text.value).map_err(|e| self.err(&text.referenced, e))? {
                if !self.vars.contains(&used) {
                    return Err(self.err(
                        &text.referenced,
                        format!(
                            "var `{name}`: `${{{used}}}` is neither a parameter of the suite nor a built-in ({})",
                            BUILTINS.join(", ")
                        ),
                    ));
                }
            }
        }
        if let (Some(flag), None) = (&f.inherit_tests, &f.extends) {
            return Err(self.err(
                &flag.referenced,
                "`inherit_tests` needs `extends`: only an extending suite inherits tests",
            ));
        }
        if let Some(auth) = &f.auth {
            Scheme::from_str(&auth.scheme.value)
                .map_err(|e| self.err(&auth.scheme.referenced, e.to_string()))?;
            for (k, v) in &auth.params {
                self.auth_key(k, &auth.scheme.referenced)?;
                self.vars_in(v, &auth.scheme.referenced)?;
            }
            for identity in &auth.identities {
                let at = &identity.referenced;
                if identity.value.is_empty() {
                    return Err(self.err(
                        at,
                        "an entry of `auth.identities` needs parameters that set it apart from `auth.params`",
                    ));
                }
                for (k, v) in &identity.value {
                    self.auth_key(k, at)?;
                    self.vars_in(v, at)?;
                }
            }
        }
        if let Some(tls) = f.endpoint.as_ref().and_then(|e| e.tls.as_ref()) {
            for v in &tls.versions {
                if !["1.2", "1.3"].contains(&v.value.as_str()) {
                    return Err(self.err(&v.referenced, "TLS versions are `1.2` and `1.3`"));
                }
            }
        }
        if let Some(p) = &f.profile {
            // Checked as a whole here; a child may override single keys of a parent's profile.
            if f.extends.is_none() {
                super::profile::Profile::from_value(Some(&p.value))
                    .map_err(|e| self.err(&p.referenced, e))?;
            }
        }
        if let Some(d) = &f.defaults {
            if let Some(w) = &d.within {
                self.time(w)?;
            }
            if let Some(t) = &d.timeout {
                self.duration(t)?;
            }
        }
        let mut seen: BTreeMap<&str, &Location> = BTreeMap::new();
        for r in &f.rules {
            if let Some(first) = seen.insert(&r.id.value, &r.id.referenced) {
                return Err(self.err(
                    &r.id.referenced,
                    format!(
                        "rule id `{}` is already used at line {}",
                        r.id.value,
                        first.line()
                    ),
                ));
            }
            r.check
                .value
                .validate()
                .map_err(|e| self.err(&r.check.referenced, e))?;
            for check in r.check.value.as_slice() {
                if let Some(v5) = check.conduct_v5() {
                    conduct_statement(&r.id.value, v5)
                        .map_err(|e| self.err(&r.id.referenced, e))?;
                }
            }
        }
        for d in &f.device_tests {
            if let Some(first) = seen.insert(&d.id.value, &d.id.referenced) {
                return Err(self.err(
                    &d.id.referenced,
                    format!(
                        "device test id `{}` is already used at line {}",
                        d.id.value,
                        first.line()
                    ),
                ));
            }
            super::device_tests::compile(d).map_err(|(loc, m)| self.err(&loc, m))?;
            if let super::schema::DeviceActionDef::Command(c) = &d.action.value {
                self.vars_in(&c.topic, &d.action.referenced)?;
                self.vars_in(c.payload.as_deref().unwrap_or(""), &d.action.referenced)?;
            }
            if let Some(r) = &d.expect.reply {
                self.vars_in(&r.topic, &r.within.referenced)?;
            }
        }
        for t in &f.tests {
            if let Some(first) = seen.insert(&t.id.value, &t.id.referenced) {
                return Err(self.err(
                    &t.id.referenced,
                    format!(
                        "test id `{}` is already used at line {}",
                        t.id.value,
                        first.line()
                    ),
                ));
            }
            self.used.borrow_mut().clear();
            self.test(t)?;
            let used = std::mem::take(&mut *self.used.borrow_mut());
            params_used.insert(t.id.value.clone(), used);
        }
        Ok(())
    }
}

/// Validates every file of an `extends` chain (outermost ancestor first), merges them and
/// builds the suite.
pub(crate) fn compile(mut chain: Vec<(Source, SuiteFile)>) -> Result<Suite, SuiteError> {
    let mut vars: BTreeSet<String> = BUILTINS.iter().map(|s| (*s).to_owned()).collect();
    for (_, f) in &chain {
        vars.extend(f.params.keys().cloned());
    }
    // The tests' vars as the last file to define each leaves it, with the names it uses.
    let mut suite_vars: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (_, f) in &chain {
        for (name, text) in &f.vars {
            suite_vars.insert(name.clone(), references(&text.value).unwrap_or_default());
        }
    }
    // A test a later file redefines uses the later definition's parameters.
    let mut params_used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (src, f) in &mut chain {
        Checker {
            src,
            vars: &vars,
            suite_vars: &suite_vars,
            used: Default::default(),
        }
        .file(f, &mut params_used)?;
        parse_times(src, f)?;
    }
    let origin = chain
        .last()
        .map(|(s, _)| s.origin.clone())
        .unwrap_or_default();
    let mut iter = chain.into_iter();
    let (mut last_src, mut merged) = iter.next().ok_or_else(|| SuiteError {
        origin: origin.clone(),
        line: 0,
        column: 0,
        message: "empty suite chain".into(),
        snippet: None,
    })?;
    for (src, child) in iter {
        merged = merge(merged, child, &src)?;
        last_src = src;
    }
    let checker = Checker {
        src: &last_src,
        vars: &vars,
        suite_vars: &suite_vars,
        used: Default::default(),
    };
    let protocol = match &merged.protocol {
        Some(p) => {
            ProtocolVersion::from_str(&p.value).map_err(|e| checker.err(&p.referenced, e))?
        }
        None => ProtocolVersion::V3_1_1,
    };
    let profile = super::profile::Profile::from_value(merged.profile.as_ref().map(|p| &p.value))
        .map_err(|e| {
            let at = merged
                .profile
                .as_ref()
                .map_or(merged.name.referenced, |p| p.referenced);
            checker.err(&at, e)
        })?;
    let defaults = merged.defaults.clone();
    let within = match defaults.as_ref().and_then(|d| d.within.as_ref()) {
        Some(w) => checker.time(w)?,
        None => TimeExpr::fixed(Duration::from_secs(5)),
    };
    let timeout = match defaults.as_ref().and_then(|d| d.timeout.as_ref()) {
        Some(t) => checker.duration(t)?,
        None => Duration::from_secs(30),
    };
    let tls = merged
        .endpoint
        .as_ref()
        .and_then(|e| e.tls.as_ref())
        .map(|t| TlsRequirements {
            required: t.required,
            versions: t.versions.iter().map(|v| v.value.clone()).collect(),
            sni: t.sni.clone(),
        });
    Ok(Suite {
        name: merged.name.value.clone(),
        title: merged
            .title
            .clone()
            .unwrap_or_else(|| merged.name.value.clone()),
        source: merged.source.clone(),
        origin,
        protocol,
        params: merged
            .params
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    Param {
                        name: k.clone(),
                        def: v.value.clone(),
                    },
                )
            })
            .collect(),
        vars: merged
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect(),
        port: merged.endpoint.as_ref().and_then(|e| e.port),
        websocket_ports: (
            merged.endpoint.as_ref().and_then(|e| e.ws_port),
            merged.endpoint.as_ref().and_then(|e| e.wss_port),
        ),
        tls,
        auth: merged.auth.clone().map(|mut auth| {
            let identities: Vec<_> = auth.identities.drain(..).map(|i| i.value).collect();
            crate::auth::suite_params::fold_identities(&mut auth.params, &identities);
            auth
        }),
        within,
        timeout,
        keepalive: defaults.and_then(|d| d.keepalive).unwrap_or(60),
        profile,
        device_tests: merged
            .device_tests
            .iter()
            .map(|d| super::device_tests::compile(d).map_err(|(loc, m)| checker.err(&loc, m)))
            .collect::<Result<_, _>>()?,
        rules: merged.rules,
        tests: merged
            .tests
            .into_iter()
            .map(|mut t| {
                t.params_used = params_used
                    .get(&t.id.value)
                    .map(|used| {
                        used.iter()
                            .filter(|name| !BUILTINS.contains(&name.as_str()))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                t
            })
            .collect(),
    })
}

/// Parses the time texts of `file`'s tests into their values, once, so that runs use
/// durations and never parse text (the checks above have already vetted each text).
fn parse_times(src: &Source, file: &mut SuiteFile) -> Result<(), SuiteError> {
    fn parse<T: TimeValue>(src: &Source, t: &mut Timed<T>) -> Result<(), SuiteError> {
        t.parse()
            .map(drop)
            .map_err(|e| src.error_at(&t.text.referenced, e))
    }
    for test in &mut file.tests {
        if let Some(t) = &mut test.timeout {
            parse(src, t)?;
        }
        for step in &mut test.steps {
            match &mut step.value {
                Step::Wait(d) => parse(src, d)?,
                Step::Expect(e) => {
                    for t in [&mut e.within, &mut e.after, &mut e.silence]
                        .into_iter()
                        .flatten()
                    {
                        parse(src, t)?;
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// A `conduct` rule's id must be a statement binding the client in its version, so that
/// the rule judges what it names.
fn conduct_statement(id: &str, v5: bool) -> Result<(), String> {
    use crate::codec::statements::Spec;
    let spec = if v5 { Spec::V5_0 } else { Spec::V3_1_1 };
    let version = if v5 { "5.0" } else { "3.1.1" };
    match spec.lookup(id) {
        None => Err(format!(
            "a `conduct` rule's id names the statement it judges: `{id}` is not a statement of MQTT {version}"
        )),
        Some(s) if !s.binds.binds_client() && !crate::conduct::Duty::judges(id, v5) => {
            Err(format!(
                "`{id}` binds the server in MQTT {version}: a `conduct` rule judges the client"
            ))
        }
        Some(_) => Ok(()),
    }
}
