//! The suite file format, as read from YAML.
//!
//! Every struct denies unknown keys, so a typo is an error with its position rather than a
//! silently ignored line. Values that later checks must point at carry their span.

use super::timing::{TimeExpr, Timed};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A whole suite file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SuiteFile {
    /// Short name (`tuya`, `mqtt-3.1.1`): JUnit classname and report file name.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// One-line title.
    #[serde(default)]
    pub title: Option<String>,
    /// The document the suite is built from.
    #[serde(default)]
    pub source: Option<String>,
    /// A built-in suite name or a path (relative to this file) whose content this one extends.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub extends: Option<Spanned<String>>,
    /// With `extends`: whether the parent's `tests:` are inherited (default `true`). With
    /// `false` the suite runs only its own tests (a variant of a platform whose parent tests
    /// need features the variant lacks, e.g. Watson Quickstart); the parent's rules and
    /// device tests are still inherited (`skip:` removes single ones). Only allowed in a file
    /// that `extends` another.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub inherit_tests: Option<Spanned<bool>>,
    /// Protocol version of connections unless a step says otherwise: `3.1`, `3.1.1` or `5`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub protocol: Option<Spanned<String>>,
    /// Parameters: device ids, secrets, …
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, ParamDef>")]
    pub params: BTreeMap<String, Spanned<ParamDef>>,
    /// Text the tests write as `${name}`: the topics and payloads a test uses, which may
    /// themselves use parameters and the built-in variables (`t/${run}/${test}`). A suite
    /// that extends another replaces single entries, so the tests it inherits run on the
    /// platform's own topics and payloads.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub vars: BTreeMap<String, Spanned<String>>,
    /// Where the platform listens and what transport it needs.
    #[serde(default)]
    pub endpoint: Option<EndpointDef>,
    /// The credential scheme connections use by default.
    #[serde(default)]
    pub auth: Option<AuthDef>,
    /// Default windows and deadlines.
    #[serde(default)]
    pub defaults: Option<DefaultsDef>,
    /// What the platform accepts (used by the judge and the emulator); typed into a
    /// [`super::profile::Profile`] once the `extends` chain is merged.
    #[serde(default)]
    #[schemars(with = "Option<super::profile::Profile>")]
    pub profile: Option<Spanned<Value>>,
    /// Passive rules the judge checks on every conversation.
    #[serde(default)]
    pub rules: Vec<RuleDef>,
    /// Inherited test (or rule) ids to leave out.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub skip: Vec<Spanned<String>>,
    /// Active tests.
    #[serde(default)]
    pub tests: Vec<TestDef>,
    /// Scenarios the emulated cloud plays on a connected device (device mode).
    #[serde(default)]
    pub device_tests: Vec<DeviceTestDef>,
}

/// A parameter and where its value comes from.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParamDef {
    /// Environment variable holding the value.
    #[serde(default)]
    pub env: Option<String>,
    /// File holding the value (one trailing newline is trimmed).
    #[serde(default)]
    pub file: Option<String>,
    /// Environment variable naming a file that holds the value (e.g. a CI secret mounted as
    /// a file); read when `env` gives nothing.
    #[serde(default)]
    pub file_env: Option<String>,
    /// Value when nothing else gives one.
    #[serde(default)]
    pub default: Option<String>,
    /// Example value: the identity the built-in emulator provisions.
    #[serde(default)]
    pub example: Option<String>,
    /// The value must never be printed.
    #[serde(default)]
    pub secret: bool,
    /// Nothing gives a value: the parameter stays unset instead of stopping the run; the
    /// tests that use it are skipped (saying how to set it) and `auth.identities` entries
    /// that use it are left out.
    #[serde(default)]
    pub optional: bool,
    /// What the parameter is.
    #[serde(default)]
    pub description: Option<String>,
}

/// The platform's endpoint.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointDef {
    /// Port used when the target gives none.
    #[serde(default)]
    pub port: Option<u16>,
    /// Port of a `ws://` target that gives none (default 80).
    #[serde(default)]
    pub ws_port: Option<u16>,
    /// Port of a `wss://` target that gives none (default 443).
    #[serde(default)]
    pub wss_port: Option<u16>,
    /// TLS requirements.
    #[serde(default)]
    pub tls: Option<TlsDef>,
}

/// TLS requirements of an endpoint.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsDef {
    /// TLS is mandatory.
    #[serde(default)]
    pub required: bool,
    /// Versions to offer: `1.2`, `1.3` (default both).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub versions: Vec<Spanned<String>>,
    /// Server name to send instead of the target's host.
    #[serde(default)]
    pub sni: Option<String>,
}

/// The credential scheme and its parameters (values may use `${param}`).
///
/// ```yaml
/// auth:
///   scheme: watson
///   params: { org: "${org}", device_type: "${device_type}", device_id: "${device_id}", token: "${token}" }
///   identities:                      # further clients the platform knows
///     - { kind: gateway, device_type: "${gateway_type}", device_id: "${gateway_id}", token: "${gateway_token}" }
///     - { kind: application, app_id: "${app_id}", api_key: "${api_key}", token: "${api_token}" }
/// ```
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthDef {
    /// Scheme name: `plain`, `tuya-hmac-sha256`, `aliyun`, `onenet`, `watson`, …
    #[schemars(with = "String")]
    pub scheme: Spanned<String>,
    /// Scheme parameters of the suite's identity: what connections log in with unless a
    /// step says otherwise.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Further identities the platform knows (e.g. a Watson gateway and application next to
    /// the device), each a map of parameters merged over `params` (values may use
    /// `${param}`; keys may not contain `.`). The emulator and device mode accept any of
    /// them, and the judge's `credentials` rules verify a client against the identity it
    /// aims at (same client id, else same client-id kind). Tests log in as one with
    /// `connect: { auth: { params: {…} } }`. A suite that replaces `auth:` replaces these too.
    /// In a compiled [`crate::suite::Suite`] this list is empty: its entries are folded into
    /// `params` under `identities.N.KEY` (see [`crate::auth::suite_params::fold_identities`]).
    #[serde(default)]
    #[schemars(with = "Vec<BTreeMap<String, String>>")]
    pub identities: Vec<Spanned<BTreeMap<String, String>>>,
}

/// Suite-wide defaults.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultsDef {
    /// Window of an `expect` that states none.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub within: Option<Spanned<String>>,
    /// Deadline of a test that states none.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<String>>,
    /// Keep Alive of a `connect` that states none.
    #[serde(default)]
    pub keepalive: Option<u16>,
}

/// How a test's result counts, after the status tags of the rule catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum Status {
    /// Documented: a failure fails the run.
    #[serde(rename = "DOC")]
    Doc,
    /// Documented but ambiguous: asserted.
    #[serde(rename = "DOC*")]
    DocAmbiguous,
    /// From the vendor SDK: a warning.
    #[serde(rename = "SDK")]
    Sdk,
    /// Secondary source: a warning.
    #[serde(rename = "2ND")]
    Secondary,
    /// Observed by users: a warning.
    #[serde(rename = "OBS")]
    Observed,
    /// Inferred: a warning.
    #[serde(rename = "INF")]
    Inferred,
    /// Not pinned down: what was seen is recorded.
    #[serde(rename = "NP")]
    NotPinned,
}

impl Status {
    /// The tag as suites write it: `DOC`, `DOC*`, `SDK`, `2ND`, `OBS`, `INF`, `NP`.
    pub fn tag(self) -> &'static str {
        match self {
            Status::Doc => "DOC",
            Status::DocAmbiguous => "DOC*",
            Status::Sdk => "SDK",
            Status::Secondary => "2ND",
            Status::Observed => "OBS",
            Status::Inferred => "INF",
            Status::NotPinned => "NP",
        }
    }
}

/// One active test.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestDef {
    /// Stable id (`MQTT311-CONN-01`).
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    /// One-line title.
    pub title: String,
    /// Normative statements and catalogue rules it checks.
    #[serde(default)]
    pub cites: Vec<String>,
    /// Status tag; `DOC` when absent.
    #[serde(default)]
    pub status: Option<Status>,
    /// Where the rule comes from.
    #[serde(default)]
    pub source: Option<String>,
    /// Deadline for the whole test.
    #[serde(default)]
    pub timeout: Option<Timed<Duration>>,
    /// The test is listed but not run; the reason is reported.
    #[serde(default)]
    pub skip: Option<String>,
    /// Why the test expects what it expects (shown in failure messages).
    #[serde(default)]
    pub note: Option<String>,
    /// The transport the test needs: a `websocket` test (MQTT over WebSocket, §6) runs
    /// against a `ws://` or `wss://` target only, and is not reported against others.
    #[serde(default)]
    pub transport: Option<Transport>,
    /// What goes unchecked on a platform that lacks a capability some steps `need`, by
    /// capability (reported with the platform's reason whenever such steps are left out).
    #[serde(default)]
    pub without: BTreeMap<super::profile::Capability, String>,
    /// The steps, in order.
    #[schemars(with = "Vec<StepSchema>")]
    pub steps: Vec<Spanned<Step>>,
    /// The suite parameters its steps use (filled in when the suite is compiled).
    #[serde(skip)]
    pub params_used: BTreeSet<String>,
}

/// How the next write goes out, when not as one binary message: the ways a test puts a
/// peer's handling of WebSocket framing to the test (MQTT-6.0.0-1, MQTT-6.0.0-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    /// One text message (which MQTT-6.0.0-1 forbids: the recipient must close).
    Text,
    /// Every byte in a binary message of its own.
    Split,
    /// One binary message in one-byte frames (a first frame, then continuation frames),
    /// with a ping between the first two.
    Fragmented,
    /// A ping, then the bytes as one binary message.
    PingFirst,
}

/// A transport a test may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// MQTT over WebSocket (over TCP or TLS).
    Websocket,
}

/// One step of a test: a map with one key, or (for `open`, `connect` and `close` with
/// nothing to say) the bare name.
#[derive(Debug, Clone, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "StepMap")]
pub enum Step {
    /// Open a transport connection without sending anything.
    Open(OpenDef),
    /// Open (if needed), send CONNECT and expect CONNACK (code 0 unless stated).
    Connect(Box<ConnectDef>),
    /// Send a packet.
    Send(Box<SendDef>),
    /// Expect a packet, a close, or silence, within a window.
    Expect(Box<ExpectDef>),
    /// Let time pass.
    Wait(Timed<Duration>),
    /// Close a connection (TCP FIN) from our side.
    Close(OpenDef),
}

/// Step names that may stand alone, meaning the step with all fields left out.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum BareStep {
    /// `open` on the connection `main`.
    Open,
    /// `connect` on the connection `main`, as the suite says.
    Connect,
    /// `close` of the connection `main`.
    Close,
}

/// The schema of a step: the bare name or the map.
#[derive(JsonSchema)]
#[serde(untagged)]
// Never built, so the size of its variants is moot.
#[allow(dead_code, clippy::large_enum_variant)]
enum StepSchema {
    Bare(BareStep),
    Map(Step),
}

/// When a step runs: only with a capability, or only without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// `needs:` the capability.
    Needs(super::profile::Capability),
    /// `unless:` the platform offers the capability.
    Unless(super::profile::Capability),
}

impl Step {
    /// The step's `needs:` and `unless:`, as written.
    pub fn conditions(
        &self,
    ) -> (
        Option<&Spanned<super::profile::Capability>>,
        Option<&Spanned<super::profile::Capability>>,
    ) {
        match self {
            Step::Open(o) | Step::Close(o) => (o.needs.as_ref(), o.unless.as_ref()),
            Step::Connect(c) => (c.needs.as_ref(), c.unless.as_ref()),
            Step::Send(s) => (s.needs.as_ref(), s.unless.as_ref()),
            Step::Expect(e) => (e.needs.as_ref(), e.unless.as_ref()),
            Step::Wait(_) => (None, None),
        }
    }

    /// The step's condition (validation allows at most one of `needs` and `unless`).
    pub fn condition(&self) -> Option<Condition> {
        match self.conditions() {
            (Some(n), _) => Some(Condition::Needs(n.value)),
            (None, Some(u)) => Some(Condition::Unless(u.value)),
            (None, None) => None,
        }
    }

    /// The step keys.
    const NAMES: &'static [&'static str] = &["open", "connect", "send", "expect", "wait", "close"];

    /// A step written as its bare name.
    fn bare(name: &str) -> Option<Self> {
        Some(match name {
            "open" => Self::Open(OpenDef::default()),
            "connect" => Self::Connect(Box::default()),
            "close" => Self::Close(OpenDef::default()),
            _ => return None,
        })
    }
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{Error, MapAccess, Visitor};
        struct StepVisitor;
        impl<'de> Visitor<'de> for StepVisitor {
            type Value = Step;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "a step: `open`, `connect` or `close` alone, or a map with one step key",
                )
            }
            fn visit_str<E: Error>(self, name: &str) -> Result<Step, E> {
                Step::bare(name).ok_or_else(|| {
                    if Step::NAMES.contains(&name) {
                        E::invalid_value(
                            serde::de::Unexpected::Str(name),
                            &"a step with its fields (only `open`, `connect` and `close` stand alone)",
                        )
                    } else {
                        E::unknown_variant(name, Step::NAMES)
                    }
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Step, A::Error> {
                let Some(key) = map.next_key::<String>()? else {
                    return Err(A::Error::invalid_length(0, &"one step key"));
                };
                let step = match key.as_str() {
                    "open" => Step::Open(map.next_value()?),
                    "connect" => Step::Connect(map.next_value()?),
                    "send" => Step::Send(map.next_value()?),
                    "expect" => Step::Expect(map.next_value()?),
                    "wait" => Step::Wait(map.next_value()?),
                    "close" => Step::Close(map.next_value()?),
                    other => return Err(A::Error::unknown_variant(other, Step::NAMES)),
                };
                if map.next_key::<serde::de::IgnoredAny>()?.is_some() {
                    return Err(A::Error::invalid_length(
                        2,
                        &"one step key (each step is its own list entry)",
                    ));
                }
                Ok(step)
            }
        }
        d.deserialize_any(StepVisitor)
    }
}

/// Reads a key that may stand without a value (`{ pingreq }`, `{ puback }`): present with
/// nothing is the same as present with `{}`.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(Option::<T>::deserialize(d)?.unwrap_or_default()))
}

/// [`present`] for a matcher: `{ closed }` and `{ pingresp }` match like `{ closed: {} }`.
fn present_matcher<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Ok(Some(
        Option::<Value>::deserialize(d)?.unwrap_or_else(|| Value::Object(Default::default())),
    ))
}

/// [`present_matcher`] for `any_of` and `ignore` entries: `{ closed, as: "…" }` and
/// `{ puback }` are `{ closed: {}, as: "…" }` and `{ puback: {} }`.
fn alternatives<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<BTreeMap<String, Value>>>, D::Error> {
    let mut entries = Option::<Vec<BTreeMap<String, Value>>>::deserialize(d)?;
    for entry in entries.iter_mut().flatten() {
        for (key, value) in entry.iter_mut() {
            if value.is_null() && !ALTERNATIVE_OPTIONS.contains(&key.as_str()) {
                *value = Value::Object(Default::default());
            }
        }
    }
    Ok(entries)
}

/// Names a connection; `main` when absent.
#[derive(Debug, Clone, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct OpenDef {
    /// The connection's name.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub conn: Option<Spanned<String>>,
    /// Run this step only on a platform that offers this capability (the test's
    /// `without:` says what goes unchecked elsewhere).
    #[serde(default)]
    #[schemars(with = "Option<super::profile::Capability>")]
    pub needs: Option<Spanned<super::profile::Capability>>,
    /// Run this step only on a platform that lacks this capability (the stand-in for the
    /// steps that need it).
    #[serde(default)]
    #[schemars(with = "Option<super::profile::Capability>")]
    pub unless: Option<Spanned<super::profile::Capability>>,
}

/// A structured CONNECT.
#[derive(Debug, Clone, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ConnectDef {
    /// The connection's name.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub conn: Option<Spanned<String>>,
    /// Run this step only on a platform that offers this capability (the test's
    /// `without:` says what goes unchecked elsewhere).
    #[serde(default)]
    #[schemars(with = "Option<super::profile::Capability>")]
    pub needs: Option<Spanned<super::profile::Capability>>,
    /// Run this step only on a platform that lacks this capability (the stand-in for the
    /// steps that need it).
    #[serde(default)]
    #[schemars(with = "Option<super::profile::Capability>")]
    pub unless: Option<Spanned<super::profile::Capability>>,
    /// Protocol version (`3.1`, `3.1.1`, `5`); the suite's when absent.
    #[serde(default)]
    pub protocol: Option<String>,
    /// Client Identifier; the auth scheme's, else a unique one.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Clean Session / Clean Start (default true).
    #[serde(default)]
    pub clean_session: Option<bool>,
    /// Keep Alive seconds (default: the suite's, else 60).
    #[serde(default)]
    pub keepalive: Option<u16>,
    /// User Name (overrides the auth scheme).
    #[serde(default)]
    pub username: Option<String>,
    /// Password (overrides the auth scheme).
    #[serde(default)]
    pub password: Option<String>,
    /// Use the suite's auth scheme for fields not given (default true).
    #[serde(default)]
    pub credentials: Option<bool>,
    /// Credentials from another scheme or other parameters than the suite's (e.g. the
    /// HMAC-SHA1 variant, or another timestamp); `params` are merged over the suite's.
    #[serde(default)]
    pub auth: Option<AuthOverrideDef>,
    /// Will message.
    #[serde(default)]
    pub will: Option<WillDef>,
    /// 5.0 CONNECT properties by snake-case name.
    #[serde(default)]
    pub properties: Option<BTreeMap<String, Value>>,
    /// CONNACK expectation: a matcher (default `{code: 0}`), or `false` to expect nothing.
    #[serde(default)]
    pub connack: Option<Value>,
    /// With `send`: the Protocol Name written instead of the version's (`MQTX`; `MQIsdp`
    /// beside level 4), for a CONNECT wrong in that field on purpose.
    #[serde(default)]
    pub protocol_name: Option<String>,
    /// With `send`: the Protocol Level byte written instead of the version's.
    #[serde(default)]
    pub protocol_level: Option<u8>,
    /// With `send`: the Connect Flags byte written instead of the one the fields give (a
    /// reserved bit, a Will QoS without the Will Flag, a User Name Flag without a name, …);
    /// the payload still holds exactly the fields given.
    #[serde(default)]
    pub connect_flags: Option<u8>,
}

impl ConnectDef {
    /// Whether the CONNECT overrides a header field the other fields would set.
    pub fn overrides_header(&self) -> bool {
        self.protocol_name.is_some()
            || self.protocol_level.is_some()
            || self.connect_flags.is_some()
    }
}

/// A Will message.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WillDef {
    /// Will Topic.
    pub topic: String,
    /// Will payload as text.
    #[serde(default)]
    pub payload: Option<String>,
    /// Will QoS.
    #[serde(default)]
    pub qos: Option<u8>,
    /// Will Retain.
    #[serde(default)]
    pub retain: Option<bool>,
    /// 5.0 Will properties.
    #[serde(default)]
    pub properties: Option<BTreeMap<String, Value>>,
}

/// Sends one packet: exactly one of the packet keys.
#[derive(Debug, Clone, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SendDef {
    /// The connection's name.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub conn: Option<Spanned<String>>,
    /// Run this step only on a platform that offers this capability (the test's
    /// `without:` says what goes unchecked elsewhere).
    #[serde(default)]
    #[schemars(with = "Option<super::profile::Capability>")]
    pub needs: Option<Spanned<super::profile::Capability>>,
    /// Run this step only on a platform that lacks this capability (the stand-in for the
    /// steps that need it).
    #[serde(default)]
    #[schemars(with = "Option<super::profile::Capability>")]
    pub unless: Option<Spanned<super::profile::Capability>>,
    /// Raw bytes: hex text, or a raw-builder description.
    #[serde(default)]
    pub raw: Option<RawDef>,
    /// A structured CONNECT (no CONNACK awaited).
    #[serde(default, deserialize_with = "present")]
    pub connect: Option<ConnectDef>,
    /// PUBLISH.
    #[serde(default)]
    pub publish: Option<PublishDef>,
    /// PUBACK.
    #[serde(default, deserialize_with = "present")]
    pub puback: Option<AckDef>,
    /// PUBREC.
    #[serde(default, deserialize_with = "present")]
    pub pubrec: Option<AckDef>,
    /// PUBREL.
    #[serde(default, deserialize_with = "present")]
    pub pubrel: Option<AckDef>,
    /// PUBCOMP.
    #[serde(default, deserialize_with = "present")]
    pub pubcomp: Option<AckDef>,
    /// SUBSCRIBE.
    #[serde(default)]
    pub subscribe: Option<SubscribeDef>,
    /// UNSUBSCRIBE.
    #[serde(default)]
    pub unsubscribe: Option<UnsubscribeDef>,
    /// PINGREQ.
    #[serde(default, deserialize_with = "present")]
    pub pingreq: Option<EmptyDef>,
    /// DISCONNECT.
    #[serde(default, deserialize_with = "present")]
    pub disconnect: Option<ReasonDef>,
    /// AUTH (5.0).
    #[serde(default, deserialize_with = "present")]
    pub auth: Option<ReasonDef>,
    /// Over WebSocket, how the bytes go out instead of one binary message: `text` (a text
    /// message), `split` (a binary message per byte), `fragmented` (one message in one-byte
    /// frames, a ping among them) or `ping_first`. Only in `transport: websocket` tests.
    #[serde(default)]
    pub websocket: Option<Framing>,
}

/// A packet with no fields.
#[derive(Debug, Clone, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct EmptyDef {}

/// Raw bytes.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawDef {
    /// The whole packet in hex (may contain `${…}`).
    Hex(String),
    /// First byte, body and a Remaining Length that may lie.
    Built(RawBuiltDef),
}

/// A packet described to the raw builder.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBuiltDef {
    /// The first byte (type and flags), in hex (`"30"`) or as a number.
    pub first_byte: Value,
    /// The body in hex; `${str:TEXT}` writes TEXT with its two-byte length prefix and
    /// `${hex:TEXT}` writes TEXT's bytes (both after parameter interpolation).
    #[serde(default)]
    pub body: String,
    /// A stated Remaining Length (number), or exact bytes in hex (string); computed when absent.
    #[serde(default)]
    pub remaining_length: Option<Value>,
}

/// PUBLISH.
#[derive(Debug, Clone, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct PublishDef {
    /// Topic Name.
    pub topic: String,
    /// QoS (default 0).
    #[serde(default)]
    pub qos: Option<u8>,
    /// RETAIN.
    #[serde(default)]
    pub retain: Option<bool>,
    /// DUP.
    #[serde(default)]
    pub dup: Option<bool>,
    /// Packet Identifier (automatic at QoS > 0 when absent).
    #[serde(default)]
    pub packet_id: Option<u16>,
    /// Payload as text.
    #[serde(default)]
    pub payload: Option<String>,
    /// Payload as hex.
    #[serde(default)]
    pub payload_hex: Option<String>,
    /// Payload of this many generated bytes.
    #[serde(default)]
    pub payload_size: Option<usize>,
    /// 5.0 properties.
    #[serde(default)]
    pub properties: Option<BTreeMap<String, Value>>,
}

/// PUBACK, PUBREC, PUBREL, PUBCOMP.
#[derive(Debug, Clone, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct AckDef {
    /// Packet Identifier (default: the last one received on the connection).
    #[serde(default)]
    pub packet_id: Option<u16>,
    /// 5.0 reason code.
    #[serde(default)]
    pub reason_code: Option<u8>,
    /// 5.0 properties.
    #[serde(default)]
    pub properties: Option<BTreeMap<String, Value>>,
}

/// One subscription: a bare filter (QoS 0) or a filter with options.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum FilterDef {
    /// A filter at QoS 0.
    Bare(String),
    /// A filter with options.
    Full(FullFilterDef),
}

/// A filter with its subscription options.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FullFilterDef {
    /// The topic filter.
    pub filter: String,
    /// Requested QoS.
    #[serde(default)]
    pub qos: Option<u8>,
    /// No Local (5.0).
    #[serde(default)]
    pub no_local: Option<bool>,
    /// Retain As Published (5.0).
    #[serde(default)]
    pub retain_as_published: Option<bool>,
    /// Retain Handling (5.0).
    #[serde(default)]
    pub retain_handling: Option<u8>,
}

/// SUBSCRIBE.
#[derive(Debug, Clone, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SubscribeDef {
    /// Packet Identifier (automatic when absent).
    #[serde(default)]
    pub packet_id: Option<u16>,
    /// The subscriptions.
    pub filters: Vec<FilterDef>,
    /// 5.0 properties.
    #[serde(default)]
    pub properties: Option<BTreeMap<String, Value>>,
}

/// UNSUBSCRIBE.
#[derive(Debug, Clone, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UnsubscribeDef {
    /// Packet Identifier (automatic when absent).
    #[serde(default)]
    pub packet_id: Option<u16>,
    /// The filters.
    pub filters: Vec<String>,
    /// 5.0 properties.
    #[serde(default)]
    pub properties: Option<BTreeMap<String, Value>>,
}

/// DISCONNECT or AUTH.
#[derive(Debug, Clone, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ReasonDef {
    /// 5.0 reason code.
    #[serde(default)]
    pub reason_code: Option<u8>,
    /// 5.0 properties.
    #[serde(default)]
    pub properties: Option<BTreeMap<String, Value>>,
}

/// The key of an `any_of` alternative that, when taken, ends the test there (passed): the
/// server chose a reaction after which the remaining steps have nothing to observe.
pub const ENDS_TEST: &str = "ends_test";

/// The key of an `any_of` alternative that, when taken, ends the test inconclusive with the
/// reason it gives: the server chose a reaction the specification allows after which the
/// test's statement cannot be observed.
pub const INCONCLUSIVE: &str = "inconclusive";

/// Keys of an `any_of` alternative besides its one packet matcher: its label,
/// [`ENDS_TEST`] and [`INCONCLUSIVE`].
pub const ALTERNATIVE_OPTIONS: [&str; 3] = ["as", ENDS_TEST, INCONCLUSIVE];

/// What to wait for, and how long: exactly one of `any_of`, `closed`, `silence` or a
/// packet matcher (keyed by the lower-case packet type).
#[derive(Debug, Clone, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ExpectDef {
    /// The connection's name.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub conn: Option<Spanned<String>>,
    /// Run this step only on a platform that offers this capability (the test's
    /// `without:` says what goes unchecked elsewhere).
    #[serde(default)]
    #[schemars(with = "Option<super::profile::Capability>")]
    pub needs: Option<Spanned<super::profile::Capability>>,
    /// Run this step only on a platform that lacks this capability (the stand-in for the
    /// steps that need it).
    #[serde(default)]
    #[schemars(with = "Option<super::profile::Capability>")]
    pub unless: Option<Spanned<super::profile::Capability>>,
    /// Latest time the expectation may be met (e.g. `5s`, `1.5x keepalive + 1s`).
    #[serde(default)]
    pub within: Option<Timed<TimeExpr>>,
    /// Earliest time it may be met.
    #[serde(default)]
    pub after: Option<Timed<TimeExpr>>,
    /// What times are measured from: `step` (default) or `last_sent` on the connection.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub since: Option<Spanned<String>>,
    /// Alternatives: the first event must match one of them; the report names it (`as`);
    /// `ends_test: true` makes the test end there, passed, and `inconclusive: "why"` ends it
    /// inconclusive.
    #[serde(default, deserialize_with = "alternatives")]
    pub any_of: Option<Vec<BTreeMap<String, Value>>>,
    /// The peer closes the connection.
    #[serde(default, deserialize_with = "present_matcher")]
    pub closed: Option<Value>,
    /// Nothing at all arrives (and no close) for this long.
    #[serde(default)]
    pub silence: Option<Timed<TimeExpr>>,
    /// The WebSocket subprotocol the server selected in the connection's opening handshake
    /// (met at once, or not at all). Only in `transport: websocket` tests.
    #[serde(default)]
    pub subprotocol: Option<String>,
    /// With a `suback` expectation: the least QoS each filter, in order, must be granted for
    /// the rest of the test to observe what it checks. A server may grant less than asked
    /// (MQTT-3.8.4-6) or refuse a filter; the test then ends inconclusive, naming the grant.
    #[serde(default)]
    pub granted: Option<Vec<u8>>,
    /// Packets set aside while waiting, each a one-packet matcher (e.g. the further copies
    /// of a message that overlapping subscriptions may deliver, MQTT-3.3.5-1); the trace
    /// notes them.
    #[serde(default, deserialize_with = "alternatives")]
    pub ignore: Option<Vec<BTreeMap<String, Value>>>,
    /// When nothing arrives within the window, the test ends inconclusive with this reason
    /// instead of failing: for a delivery the specification lets the server withhold.
    #[serde(default)]
    pub inconclusive_if_silent: Option<String>,
    /// A CONNECT matching these fields.
    #[serde(default, deserialize_with = "present_matcher")]
    pub connect: Option<Value>,
    /// A CONNACK matching these fields.
    #[serde(default, deserialize_with = "present_matcher")]
    pub connack: Option<Value>,
    /// A PUBLISH matching these fields.
    #[serde(default, deserialize_with = "present_matcher")]
    pub publish: Option<Value>,
    /// A PUBACK matching these fields.
    #[serde(default, deserialize_with = "present_matcher")]
    pub puback: Option<Value>,
    /// A PUBREC matching these fields.
    #[serde(default, deserialize_with = "present_matcher")]
    pub pubrec: Option<Value>,
    /// A PUBREL matching these fields.
    #[serde(default, deserialize_with = "present_matcher")]
    pub pubrel: Option<Value>,
    /// A PUBCOMP matching these fields.
    #[serde(default, deserialize_with = "present_matcher")]
    pub pubcomp: Option<Value>,
    /// A SUBSCRIBE matching these fields.
    #[serde(default, deserialize_with = "present_matcher")]
    pub subscribe: Option<Value>,
    /// A SUBACK matching these fields.
    #[serde(default, deserialize_with = "present_matcher")]
    pub suback: Option<Value>,
    /// A UNSUBSCRIBE matching these fields.
    #[serde(default, deserialize_with = "present_matcher")]
    pub unsubscribe: Option<Value>,
    /// A UNSUBACK matching these fields.
    #[serde(default, deserialize_with = "present_matcher")]
    pub unsuback: Option<Value>,
    /// A PINGREQ matching these fields.
    #[serde(default, deserialize_with = "present_matcher")]
    pub pingreq: Option<Value>,
    /// A PINGRESP matching these fields.
    #[serde(default, deserialize_with = "present_matcher")]
    pub pingresp: Option<Value>,
    /// A DISCONNECT matching these fields.
    #[serde(default, deserialize_with = "present_matcher")]
    pub disconnect: Option<Value>,
    /// A AUTH matching these fields.
    #[serde(default, deserialize_with = "present_matcher")]
    pub auth: Option<Value>,
}

impl ExpectDef {
    /// The packet matchers present, as (lower-case packet type, matcher).
    pub fn packet_matchers(&self) -> Vec<(&'static str, &Value)> {
        [
            ("connect", &self.connect),
            ("connack", &self.connack),
            ("publish", &self.publish),
            ("puback", &self.puback),
            ("pubrec", &self.pubrec),
            ("pubrel", &self.pubrel),
            ("pubcomp", &self.pubcomp),
            ("subscribe", &self.subscribe),
            ("suback", &self.suback),
            ("unsubscribe", &self.unsubscribe),
            ("unsuback", &self.unsuback),
            ("pingreq", &self.pingreq),
            ("pingresp", &self.pingresp),
            ("disconnect", &self.disconnect),
            ("auth", &self.auth),
        ]
        .into_iter()
        .filter_map(|(name, m)| m.as_ref().map(|m| (name, m)))
        .collect()
    }
}

/// A passive rule: checked by the judge on every conversation (device mode, captures, and
/// the broker runner's own traffic).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    /// Stable id from the rule catalogue (`TUYA-KA-01`).
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    /// One-line title.
    pub title: String,
    /// Status tag (severity follows it); `DOC` when absent.
    #[serde(default)]
    pub status: Option<Status>,
    /// Where the rule comes from.
    #[serde(default)]
    pub source: Option<String>,
    /// Statements or catalogue rules it relates to.
    #[serde(default)]
    pub cites: Vec<String>,
    /// What to check: one check, or a list of checks that must all hold.
    #[schemars(with = "super::check::Checks")]
    pub check: Spanned<super::check::Checks>,
}

/// A `connect` step's own credential scheme or parameters.
#[derive(Debug, Clone, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct AuthOverrideDef {
    /// Scheme name (default: the suite's).
    #[serde(default)]
    pub scheme: Option<String>,
    /// Parameters merged over the suite's `auth.params` (values may use `${param}`).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

/// A device test: something the emulated cloud does to a connected device, and what the
/// device must do about it. Device tests run in order on each device, one after the other,
/// on its current connection or, once that has ended, on its next one.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceTestDef {
    /// Stable id (`TUYA-DEV-KA-01`).
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    /// One-line title.
    pub title: String,
    /// Catalogue rules and statements it checks.
    #[serde(default)]
    pub cites: Vec<String>,
    /// Status tag (severity follows it); `DOC` when absent.
    #[serde(default)]
    pub status: Option<Status>,
    /// Where the rule comes from.
    #[serde(default)]
    pub source: Option<String>,
    /// Why the test expects what it expects.
    #[serde(default)]
    pub note: Option<String>,
    /// The test is listed but not run; the reason is reported.
    #[serde(default)]
    pub skip: Option<String>,
    /// When the scenario starts: `connected` (after CONNACK, the default) or `subscribed`
    /// (after the device's first SUBSCRIBE was answered).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub start: Option<Spanned<String>>,
    /// How long after the start the cloud acts (default 0).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub after: Option<Spanned<String>>,
    /// The CONNACK the cloud answers the device's connection with while this test runs
    /// (default: the platform's own). The cloud closes a connection accepted under another
    /// CONNACK and the test starts on the device's next connection.
    #[serde(default)]
    pub connack: Option<ConnackDef>,
    /// What the cloud does.
    #[schemars(with = "DeviceActionDef")]
    pub action: Spanned<DeviceActionDef>,
    /// What the device must do; with no expectation the test records what happened.
    #[serde(default)]
    pub expect: DeviceExpectDef,
    /// Longest the test may run once started (default: its widest window + 10 s).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<String>>,
}

/// What the emulated cloud does in a device test.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceActionDef {
    /// Deliver a message to the device (a command on a downlink topic).
    Command(CommandDef),
    /// Leave the device's PINGREQs unanswered from now on (this connection).
    WithholdPingresp,
    /// Leave the device's QoS 1/2 PUBLISHes unacknowledged from now on (this connection).
    WithholdPuback,
    /// Register the device's subscriptions but send no SUBACK (this connection).
    WithholdSuback,
    /// Answer the device's SUBSCRIBE filters with 0x80 from now on (this connection).
    RejectSubscriptions,
    /// Close the connection without DISCONNECT, as a cloud that loses the device.
    Drop,
    /// Send a DISCONNECT with this 5.0 Reason Code, then wait for the device to close
    /// (nothing more is sent on the connection).
    Disconnect(DisconnectDef),
    /// Nothing beyond the test's CONNACK, which is what the device reacts to.
    None,
}

/// A server DISCONNECT the cloud sends.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DisconnectDef {
    /// The 5.0 Reason Code (e.g. `0x89` Server busy).
    pub reason: u8,
}

/// The CONNACK of a device test's connection: Session Present and (5.0) the properties
/// that bind the client; a property left out is the platform's own.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnackDef {
    /// Session Present 1, whatever session the cloud holds (both versions).
    #[serde(default)]
    pub session_present: bool,
    /// Maximum QoS (0 or 1).
    #[serde(default)]
    pub maximum_qos: Option<u8>,
    /// Retain Available.
    #[serde(default)]
    pub retain_available: Option<bool>,
    /// Server Keep Alive in seconds; the cloud then times the connection out on it.
    #[serde(default)]
    pub server_keep_alive: Option<u16>,
    /// Receive Maximum (1–65535): QoS 1/2 PUBLISHes the device may have unacknowledged.
    #[serde(default)]
    pub receive_maximum: Option<u16>,
    /// Maximum Packet Size in bytes; the cloud refuses larger packets.
    #[serde(default)]
    pub maximum_packet_size: Option<u32>,
    /// Topic Alias Maximum (0: no Topic Aliases).
    #[serde(default)]
    pub topic_alias_maximum: Option<u16>,
}

/// A message the cloud delivers.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandDef {
    /// Topic (with `${param}` placeholders).
    pub topic: String,
    /// Payload text (with placeholders).
    #[serde(default)]
    pub payload: Option<String>,
    /// QoS (default 0; the profile's downlink QoS wins when it has one).
    #[serde(default)]
    pub qos: Option<u8>,
    /// How many messages the cloud delivers in one burst (default 1).
    #[serde(default)]
    pub count: Option<u16>,
    /// 5.0: the first PUBLISH carries the topic and a Topic Alias, the later ones the
    /// alias alone (needs a Topic Alias Maximum of at least 1 from the device).
    #[serde(default)]
    pub topic_alias: bool,
    /// QoS 2: the cloud leaves the flows at the device's PUBREC (no PUBREL), then drops
    /// the connection, so that it re-sends the PUBRELs when the device's session resumes.
    #[serde(default)]
    pub withhold_pubrel: bool,
    /// 5.0 Request/Response: the command carries this Response Topic (with placeholders;
    /// no wildcards, MQTT-3.3.2-14).
    #[serde(default)]
    pub response_topic: Option<String>,
    /// Over WebSocket: the cloud's packets go out unaligned with its messages from the
    /// command on, `split` (a binary message per byte) or `fragmented` (one-byte frames of
    /// one message, a ping among them), for the rest of the connection (MQTT-6.0.0-2). A
    /// device connected over TCP skips the test.
    #[serde(default)]
    pub websocket: Option<Framing>,
    /// 5.0 Request/Response: the command carries this Correlation Data (text, with
    /// placeholders; needs `response_topic`).
    #[serde(default)]
    pub correlation_data: Option<String>,
}

/// What the device must do in a device test.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceExpectDef {
    /// A PUBLISH on this topic (a reply to a command), timed from the command's delivery.
    #[serde(default)]
    pub reply: Option<ReplyDef>,
    /// The device closes the connection, timed from the action — or, when PINGRESP is
    /// withheld, from its first unanswered PINGREQ.
    #[serde(default)]
    pub close: Option<WindowDef>,
    /// The device connects again, timed from the end of the connection.
    #[serde(default)]
    pub reconnect: Option<WindowDef>,
    /// The device sends the unacknowledged PUBLISH again (same packet id, DUP 1), timed
    /// from its first sending.
    #[serde(default)]
    pub resend: Option<WindowDef>,
    /// The device keeps the connection open at least this long after the action.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub stays: Option<Spanned<String>>,
    /// 5.0 enhanced authentication: the device, naming an Authentication Method in its
    /// CONNECT, answers the cloud's AUTH challenge (the profile's `enhanced_authentication`)
    /// and each re-authentication it starts; a device naming none is not tested.
    #[serde(default)]
    pub authenticates: bool,
    /// A device that connected with an empty client id and got an Assigned Client
    /// Identifier reconnects under it (timed from the end of the connection, within the
    /// test's timeout); a device that chose its own id is not tested.
    #[serde(default)]
    pub keeps_assigned_id: bool,
}

/// The reply a command expects.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyDef {
    /// Topic (with `${param}` placeholders).
    pub topic: String,
    /// Latest time (e.g. `10s`).
    #[schemars(with = "String")]
    pub within: Spanned<String>,
    /// A JSON shape the reply's payload must have (the judge's `payload_json` shapes).
    #[serde(default)]
    pub payload_json: Option<Value>,
    /// The reply carries the command's Correlation Data unchanged (5.0 Request/Response).
    #[serde(default)]
    pub echoes_correlation_data: bool,
}

/// A time window: no earlier than `after`, no later than `within`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowDef {
    /// Earliest time (e.g. `1s`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub after: Option<Spanned<String>>,
    /// Latest time (e.g. `1.5x keepalive`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub within: Option<Spanned<String>>,
}

/// The JSON Schema of a suite file (draft 2020-12), generated from the types above; the
/// committed copy is `docs/suite.schema.json`, which editors use for completion and errors.
pub fn json_schema() -> Value {
    let mut schema = schemars::schema_for!(SuiteFile);
    schema.insert("title".into(), "mqtt-conform suite".into());
    schema.to_value()
}
