//! Credential schemes of the supported IoT platforms.
//!
//! Every scheme can **produce** the CONNECT credentials a client sends (`Params::credentials`
//! in each submodule) and **verify** credentials a client presented (`verify`, used when the
//! harness plays the cloud). Format checks that need no secret live in separate `parse_*` /
//! `check_format` functions so the judge can apply them to captures.
//!
//! | [`Scheme`] name | module | rules |
//! |---|---|---|
//! | `tuya-hmac-sha256`, `tuya-hmac-sha1` | [`tuya`] | `TUYA-AUTH-01..05` |
//! | `aliyun` | [`aliyun`] | `ALI-AUTH-01..07` |
//! | `onenet` | [`onenet`] | `ONENET-AUTH-01..06` |
//! | `watson` | [`watson`] | `WIOTP-AUTH-01..05` |
//! | `plain` | [`plain`] | `MQTT311-CONN-05`, `PLAIN-AUTH-01..03` (harness-local) |
//!
//! A platform that knows several identities at once (a Watson device, gateway and
//! application) is provisioned as [`Identity::AnyOf`].
//!
//! Every failure is an [`AuthError`] that carries the stable rule ID from
//! `shared/vendor-rules.md` ([`AuthError::rule_id`]). Errors never contain a secret, a
//! presented password or an expected signature.

#![warn(missing_docs)]

pub mod aliyun;
pub mod onenet;
pub mod plain;
pub mod suite_params;
pub mod tuya;
pub mod watson;

use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, KeyInit, Mac};

use crate::secret::{REDACTED, Secret};

/// The three CONNECT fields that carry authentication, as a client sends them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// MQTT client identifier.
    pub client_id: String,
    /// MQTT user name, if any.
    pub username: Option<String>,
    /// MQTT password, if any (always secret: it is a signature, a token or a password).
    pub password: Option<Secret>,
}

impl Credentials {
    /// Borrows the credentials in the form the verifiers take.
    pub fn presented(&self) -> Presented<'_> {
        Presented {
            client_id: &self.client_id,
            username: self.username.as_deref(),
            password: self.password.as_ref().map(|p| p.expose().as_bytes()),
        }
    }
}

/// Credentials as they arrived in a CONNECT packet (borrowed from the decoded packet).
///
/// The password is raw bytes because MQTT allows binary passwords; `Debug` redacts it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Presented<'a> {
    /// Client identifier.
    pub client_id: &'a str,
    /// User name, if the user-name flag was set.
    pub username: Option<&'a str>,
    /// Password bytes, if the password flag was set.
    pub password: Option<&'a [u8]>,
}

impl<'a> Presented<'a> {
    /// Bundles the CONNECT fields.
    pub fn new(client_id: &'a str, username: Option<&'a str>, password: Option<&'a [u8]>) -> Self {
        Presented {
            client_id,
            username,
            password,
        }
    }

    /// The user name, or [`AuthError::Missing`] under `rule`.
    pub(crate) fn require_username(&self, rule: &'static str) -> Result<&'a str, AuthError> {
        self.username.ok_or(AuthError::Missing {
            rule,
            field: "user name",
        })
    }

    /// The password as text, or `Missing` / `Malformed` under `rule`.
    pub(crate) fn require_password_text(&self, rule: &'static str) -> Result<&'a str, AuthError> {
        let bytes = self.password.ok_or(AuthError::Missing {
            rule,
            field: "password",
        })?;
        std::str::from_utf8(bytes).map_err(|_| AuthError::Malformed {
            rule,
            field: "password",
            found: None,
            reason: "not valid UTF-8".into(),
        })
    }

    /// Makes sure no error text accidentally contains the provisioned secret or the
    /// presented password (e.g. a device that put its secret into the user name).
    pub(crate) fn redact(&self, err: AuthError, secret: Option<&Secret>) -> AuthError {
        let mut err = err;
        if let Some(s) = secret.filter(|s| !s.is_empty()) {
            err = err.redacted(s.expose());
        }
        // Very short passwords would blank out unrelated text and hide nothing of value.
        if let Some(pw) = self.password.and_then(|p| std::str::from_utf8(p).ok()) {
            if pw.len() >= 4 {
                err = err.redacted(pw);
            }
        }
        err
    }
}

impl fmt::Debug for Presented<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Presented")
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &self.password.map(|_| REDACTED))
            .finish()
    }
}

impl<'a> From<&'a Credentials> for Presented<'a> {
    fn from(c: &'a Credentials) -> Self {
        c.presented()
    }
}

/// Why credentials were refused or could not be built.
///
/// Every variant carries `rule`, the stable rule ID from `vendor-rules.md` it violates.
/// Messages name the offending field and, where useful, the presented non-secret value
/// (client id, user name, token parameters) but never a secret, a presented password or an
/// expected signature.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// A CONNECT field the scheme needs is absent.
    #[error("[{rule}] {field} is missing")]
    Missing {
        /// Violated rule.
        rule: &'static str,
        /// Which field ("user name", "password", …).
        field: &'static str,
    },
    /// A field does not have the form the scheme requires.
    #[error("[{rule}] {field}{} is malformed: {reason}", found.as_ref().map(|f| format!(" {f:?}")).unwrap_or_default())]
    Malformed {
        /// Violated rule.
        rule: &'static str,
        /// Which field ("client id", "user name", "password", "token", "API key", …).
        field: &'static str,
        /// The presented value, when it is not secret (never set for passwords).
        found: Option<String>,
        /// What is wrong with it.
        reason: String,
    },
    /// A field differs from another field or from the provisioned identity.
    #[error("[{rule}] {field} is {found:?}, expected {expected:?}")]
    Mismatch {
        /// Violated rule.
        rule: &'static str,
        /// What was compared.
        field: &'static str,
        /// The value required (identity data, never a secret).
        expected: String,
        /// The value presented.
        found: String,
    },
    /// Two fields were exchanged (e.g. OneNET client id and user name).
    #[error("[{rule}] {first} and {second} are swapped")]
    Swapped {
        /// Violated rule.
        rule: &'static str,
        /// First field.
        first: &'static str,
        /// Second field.
        second: &'static str,
    },
    /// A timestamp is neither 10-digit seconds nor 13-digit milliseconds.
    #[error("[{rule}] timestamp {found:?} is not 10-digit seconds or 13-digit milliseconds")]
    Timestamp {
        /// Violated rule.
        rule: &'static str,
        /// The timestamp as sent.
        found: String,
    },
    /// The announced signature method is not one the scheme supports.
    #[error("[{rule}] unsupported signature method {found:?} (allowed: {allowed})")]
    SignMethod {
        /// Violated rule.
        rule: &'static str,
        /// The method as sent.
        found: String,
        /// The allowed spellings.
        allowed: &'static str,
    },
    /// The signature has the wrong length for the announced method.
    #[error("[{rule}] {what} has length {found} but {method} needs {expected}")]
    SignatureLength {
        /// Violated rule.
        rule: &'static str,
        /// What was measured ("hex password", "decoded sign").
        what: &'static str,
        /// The announced method.
        method: &'static str,
        /// Length required by the method.
        expected: usize,
        /// Length presented.
        found: usize,
    },
    /// The signature is well-formed but wrong.
    #[error("[{rule}] signature does not match ({algorithm} over `{content}`)")]
    SignatureMismatch {
        /// Violated rule.
        rule: &'static str,
        /// Algorithm, e.g. `HMAC-SHA256`.
        algorithm: &'static str,
        /// The signed content the verifier used (public data only; line feeds shown as `\n`).
        content: String,
    },
    /// The signature is valid for different content than the fields announce
    /// (Alibaba: the signed clientId/timestamp differ from the `mqttClientId` ones).
    #[error("[{rule}] signature covers `{signed}` but the announced parameters give `{announced}`")]
    SignedContentMismatch {
        /// Violated rule.
        rule: &'static str,
        /// Content the signature is valid for.
        signed: String,
        /// Content the announced parameters require.
        announced: String,
    },
    /// A token is expired (`et` before "now").
    #[error("[{rule}] token expired: et={et} is before now={now}")]
    Expired {
        /// Violated rule.
        rule: &'static str,
        /// Expiry time in the token (Unix seconds).
        et: u64,
        /// The verifier's clock (Unix seconds).
        now: u64,
    },
    /// A token or password (compared literally, not signed) differs from the provisioned one.
    #[error("[{rule}] {what} does not match the provisioned value")]
    WrongSecret {
        /// Violated rule.
        rule: &'static str,
        /// Which secret ("auth token", "password").
        what: &'static str,
    },
    /// OneNET: a product-level token (`res=products/{pid}`) was used for a device login.
    #[error(
        "[{rule}] product-level token (res `{res}`) used for a device login; expected res `products/{{pid}}/devices/{{device-name}}`"
    )]
    ProductLevelToken {
        /// Violated rule.
        rule: &'static str,
        /// The presented resource.
        res: String,
    },
    /// The credentials use a mode this verifier cannot check (e.g. Alibaba `securemode=-2`).
    #[error("[{rule}] {reason}")]
    Unsupported {
        /// Rule that describes the mode.
        rule: &'static str,
        /// What is not supported.
        reason: String,
    },
    /// A provisioned secret cannot be used (e.g. a OneNET key that is not base64). This is a
    /// configuration error of the harness, not of the peer.
    #[error("[{rule}] the provisioned {what} is unusable: {reason}")]
    BadSecret {
        /// Rule that defines the secret's form.
        rule: &'static str,
        /// Which secret.
        what: &'static str,
        /// Why (never the value).
        reason: String,
    },
}

impl AuthError {
    /// The stable rule ID (e.g. `TUYA-AUTH-03`) this error reports a violation of.
    pub fn rule_id(&self) -> &'static str {
        match self {
            AuthError::Missing { rule, .. }
            | AuthError::Malformed { rule, .. }
            | AuthError::Mismatch { rule, .. }
            | AuthError::Swapped { rule, .. }
            | AuthError::Timestamp { rule, .. }
            | AuthError::SignMethod { rule, .. }
            | AuthError::SignatureLength { rule, .. }
            | AuthError::SignatureMismatch { rule, .. }
            | AuthError::SignedContentMismatch { rule, .. }
            | AuthError::Expired { rule, .. }
            | AuthError::WrongSecret { rule, .. }
            | AuthError::ProductLevelToken { rule, .. }
            | AuthError::Unsupported { rule, .. }
            | AuthError::BadSecret { rule, .. } => rule,
        }
    }

    /// [`AuthError::redacted`] for several values; values shorter than 4 bytes are skipped
    /// (used where no [`Presented`] is at hand).
    pub(crate) fn redacted_all(self, needles: &[&str]) -> AuthError {
        needles
            .iter()
            .filter(|n| n.len() >= 4)
            .fold(self, |e, n| e.redacted(n))
    }

    /// Replaces every occurrence of `needle` in the error's text fields by `***`.
    fn redacted(self, needle: &str) -> AuthError {
        // Only where the value stands on its own: a short secret never blanks out part
        // of a word of the message.
        let r = |s: String| crate::secret::mask_text(&s, needle.as_bytes());
        match self {
            AuthError::Malformed {
                rule,
                field,
                found,
                reason,
            } => AuthError::Malformed {
                rule,
                field,
                found: found.map(r),
                reason: r(reason),
            },
            AuthError::Mismatch {
                rule,
                field,
                expected,
                found,
            } => AuthError::Mismatch {
                rule,
                field,
                expected: r(expected),
                found: r(found),
            },
            AuthError::Timestamp { rule, found } => AuthError::Timestamp {
                rule,
                found: r(found),
            },
            AuthError::SignMethod {
                rule,
                found,
                allowed,
            } => AuthError::SignMethod {
                rule,
                found: r(found),
                allowed,
            },
            AuthError::SignatureMismatch {
                rule,
                algorithm,
                content,
            } => AuthError::SignatureMismatch {
                rule,
                algorithm,
                content: r(content),
            },
            AuthError::SignedContentMismatch {
                rule,
                signed,
                announced,
            } => AuthError::SignedContentMismatch {
                rule,
                signed: r(signed),
                announced: r(announced),
            },
            AuthError::ProductLevelToken { rule, res } => {
                AuthError::ProductLevelToken { rule, res: r(res) }
            }
            AuthError::Unsupported { rule, reason } => AuthError::Unsupported {
                rule,
                reason: r(reason),
            },
            AuthError::BadSecret { rule, what, reason } => AuthError::BadSecret {
                rule,
                what,
                reason: r(reason),
            },
            other @ (AuthError::Missing { .. }
            | AuthError::Swapped { .. }
            | AuthError::SignatureLength { .. }
            | AuthError::Expired { .. }
            | AuthError::WrongSecret { .. }) => other,
        }
    }
}

/// A credential scheme, as named in a suite file (`auth: { scheme: … }`).
///
/// Names are matched case-insensitively and `_` counts as `-`, so `tuya_hmac_sha256` works too.
///
/// | canonical name | aliases | meaning |
/// |---|---|---|
/// | `tuya-hmac-sha256` | `tuya` | Tuya, password = hex HMAC-SHA256 |
/// | `tuya-hmac-sha1` | | Tuya, password = hex HMAC-SHA1 |
/// | `aliyun` | `alibaba`, `ali` | Alibaba Cloud IoT (sign method from the client id) |
/// | `onenet` | | China Mobile OneNET token |
/// | `watson` | `wiotp`, `ibm-watson` | IBM Watson IoT Platform token |
/// | `plain` | `none` | literal client id / user name / password |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Scheme {
    /// Tuya; the sign method is the one used when producing credentials (both are accepted
    /// when verifying, TUYA-AUTH-04).
    Tuya(tuya::SignMethod),
    /// Alibaba Cloud IoT Platform.
    Aliyun,
    /// China Mobile OneNET (MQTTS suite / Studio).
    OneNet,
    /// IBM Watson IoT Platform.
    Watson,
    /// Plain MQTT user name / password.
    Plain,
}

impl Scheme {
    /// Every scheme, in documentation order.
    pub const ALL: [Scheme; 6] = [
        Scheme::Tuya(tuya::SignMethod::HmacSha256),
        Scheme::Tuya(tuya::SignMethod::HmacSha1),
        Scheme::Aliyun,
        Scheme::OneNet,
        Scheme::Watson,
        Scheme::Plain,
    ];

    /// Canonical name (see the table on [`Scheme`]).
    pub fn name(&self) -> &'static str {
        match self {
            Scheme::Tuya(tuya::SignMethod::HmacSha256) => "tuya-hmac-sha256",
            Scheme::Tuya(tuya::SignMethod::HmacSha1) => "tuya-hmac-sha1",
            Scheme::Aliyun => "aliyun",
            Scheme::OneNet => "onenet",
            Scheme::Watson => "watson",
            Scheme::Plain => "plain",
        }
    }

    /// Checks the format rules of this scheme that need no secret (for passive checks).
    ///
    /// `now` (Unix seconds) is used for OneNET token expiry.
    pub fn check_format(&self, presented: &Presented<'_>, now: u64) -> Result<(), AuthError> {
        match self {
            Scheme::Tuya(_) => tuya::check_format(presented).map(drop),
            Scheme::Aliyun => aliyun::check_format(presented).map(drop),
            Scheme::OneNet => onenet::check_format(presented, now).map(drop),
            Scheme::Watson => watson::check_format(presented).map(drop),
            Scheme::Plain => plain::check_format(presented),
        }
    }
}

/// How one credential rule stands for one set of presented credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleOutcome {
    /// The rule does not concern credentials of this kind (e.g. an application rule for a
    /// device): it is not reported.
    NotApplicable,
    /// The rule was checked and holds.
    Holds,
    /// The rule was checked and is broken.
    Violated(AuthError),
    /// The rule could not be checked; why.
    Unchecked(String),
}

impl Scheme {
    /// Whether `rule` concerns credentials presented with this client id.
    pub fn rule_applies(&self, rule: &str, presented: &Presented<'_>) -> bool {
        match self {
            Scheme::Aliyun => aliyun::rule_applies(rule, presented.client_id),
            Scheme::Watson => watson::rule_applies(rule, presented.client_id),
            Scheme::Tuya(_) | Scheme::OneNet | Scheme::Plain => true,
        }
    }

    /// The device a login is for, on platforms that hold one connection per device
    /// credential rather than per client id: Tuya's device id (from the user name),
    /// Alibaba's `deviceName&productKey` user name. `None` where the client id is the
    /// identity, or when the credentials do not name a device.
    pub fn device_of(&self, presented: &Presented<'_>) -> Option<String> {
        let username = presented.username?;
        match self {
            Scheme::Tuya(_) => tuya::parse_username(username)
                .ok()
                .map(|u| format!("tuya device {}", u.device_id)),
            Scheme::Aliyun => username
                .contains('&')
                .then(|| format!("aliyun device {username}")),
            Scheme::OneNet | Scheme::Watson | Scheme::Plain => None,
        }
    }

    /// Whether checking `rule` needs the provisioned identity (a signature, a token, a
    /// provisioned value): the format alone does not decide it.
    pub fn needs_identity(&self, rule: &str) -> bool {
        let rules = match self {
            Scheme::Tuya(_) => tuya::RULES_NEEDING_IDENTITY,
            Scheme::Aliyun => aliyun::RULES_NEEDING_IDENTITY,
            Scheme::OneNet => onenet::RULES_NEEDING_IDENTITY,
            Scheme::Watson => watson::RULES_NEEDING_IDENTITY,
            Scheme::Plain => plain::RULES_NEEDING_IDENTITY,
        };
        rules.contains(&rule)
    }

    /// Each credential rule of `rules` on its own, for `presented`: `format` is
    /// [`Scheme::check_format`]'s result and `verified` [`Identity::verify`]'s (`None`
    /// when no identity is provisioned). A check stops at the first broken rule, so a rule
    /// is known to hold only when the checks that decide it all ran: a format rule when the
    /// format holds or was checked before the format check stopped, a rule needing the
    /// identity when the verification passed. Any other rule is unchecked, with the rule
    /// that stopped the check as the reason.
    pub fn rule_outcome(
        &self,
        rule: &str,
        presented: &Presented<'_>,
        format: &Result<(), AuthError>,
        verified: Option<&Result<(), AuthError>>,
    ) -> RuleOutcome {
        if !self.rule_applies(rule, presented) {
            return RuleOutcome::NotApplicable;
        }
        let broken = |e: &AuthError| match e {
            AuthError::Unsupported { reason, .. } => {
                RuleOutcome::Unchecked(format!("not verifiable here: {reason}"))
            }
            e => RuleOutcome::Violated(e.clone()),
        };
        let stopped = |e: &AuthError| {
            RuleOutcome::Unchecked(format!(
                "not checked: the credentials break {} first, and the check stops there",
                e.rule_id()
            ))
        };
        let checked_before = |e: &AuthError| match self {
            Scheme::Tuya(_) => tuya::checked_before(e.rule_id()),
            Scheme::Watson => watson::checked_before(e.rule_id()),
            Scheme::Aliyun | Scheme::OneNet | Scheme::Plain => &[],
        };
        match (format, verified) {
            (Err(e), _) if e.rule_id() == rule => broken(e),
            // Checked, and found holding, before the format check stopped.
            (Err(e), _) if checked_before(e).contains(&rule) && !self.needs_identity(rule) => {
                RuleOutcome::Holds
            }
            (Err(e), _) => stopped(e),
            (Ok(()), Some(Err(e))) if e.rule_id() == rule => broken(e),
            (Ok(()), _) if !self.needs_identity(rule) => RuleOutcome::Holds,
            (Ok(()), None) => RuleOutcome::Unchecked(
                "not checked: no identity with its secret is provisioned, so only the format was checked".into(),
            ),
            (Ok(()), Some(Ok(()))) => RuleOutcome::Holds,
            (Ok(()), Some(Err(e))) => stopped(e),
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown scheme name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown auth scheme {0:?} (known: tuya-hmac-sha256, tuya-hmac-sha1, aliyun, onenet, watson, plain)"
)]
pub struct UnknownScheme(pub String);

impl FromStr for Scheme {
    type Err = UnknownScheme;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        Ok(match norm.as_str() {
            "tuya" | "tuya-hmac-sha256" => Scheme::Tuya(tuya::SignMethod::HmacSha256),
            "tuya-hmac-sha1" => Scheme::Tuya(tuya::SignMethod::HmacSha1),
            "aliyun" | "alibaba" | "ali" => Scheme::Aliyun,
            "onenet" => Scheme::OneNet,
            "watson" | "wiotp" | "ibm-watson" => Scheme::Watson,
            "plain" | "none" => Scheme::Plain,
            _ => return Err(UnknownScheme(s.to_owned())),
        })
    }
}

impl TryFrom<String> for Scheme {
    type Error = UnknownScheme;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Scheme> for String {
    fn from(s: Scheme) -> Self {
        s.name().to_owned()
    }
}

/// Client-side parameters of any scheme: what the harness needs to log in as a device.
#[derive(Clone, Debug)]
pub enum AuthParams {
    /// Tuya.
    Tuya(tuya::Params),
    /// Alibaba.
    Aliyun(aliyun::Params),
    /// OneNET.
    OneNet(onenet::Params),
    /// Watson.
    Watson(watson::Params),
    /// Plain.
    Plain(plain::Params),
}

impl AuthParams {
    /// The scheme these parameters belong to.
    pub fn scheme(&self) -> Scheme {
        match self {
            AuthParams::Tuya(p) => Scheme::Tuya(p.sign_method),
            AuthParams::Aliyun(_) => Scheme::Aliyun,
            AuthParams::OneNet(_) => Scheme::OneNet,
            AuthParams::Watson(_) => Scheme::Watson,
            AuthParams::Plain(_) => Scheme::Plain,
        }
    }

    /// Builds the CONNECT credentials.
    pub fn credentials(&self) -> Result<Credentials, AuthError> {
        match self {
            AuthParams::Tuya(p) => Ok(p.credentials()),
            AuthParams::Aliyun(p) => Ok(p.credentials()),
            AuthParams::OneNet(p) => p.credentials(),
            AuthParams::Watson(p) => p.credentials(),
            AuthParams::Plain(p) => Ok(p.credentials()),
        }
    }
}

/// Server-side knowledge of one identity: what the harness needs to accept a device.
#[derive(Clone, Debug)]
pub enum Identity {
    /// Tuya device.
    Tuya(tuya::Identity),
    /// Alibaba device.
    Aliyun(aliyun::Identity),
    /// OneNET device.
    OneNet(onenet::Identity),
    /// Watson device, gateway or application (client id, API key and token).
    Watson(watson::Params),
    /// Plain credentials.
    Plain(plain::Params),
    /// Several identities the platform knows (e.g. a Watson device, gateway and
    /// application): credentials are accepted when any of them accepts them. A refusal
    /// reports the error of the identity the client meant — the one with the presented client
    /// id, else one of the same client-id kind (Watson `d:` / `g:` / `a:` / `A:`), else the
    /// first — so the error names the rule the credentials break for *that* identity.
    AnyOf(Vec<Identity>),
}

/// Rule reported when an [`Identity::AnyOf`] holds no identity (a harness configuration
/// error, never a peer's).
const RULE_NO_IDENTITY: &str = "HARNESS-AUTH-00";

impl Identity {
    /// Verifies presented CONNECT credentials against this identity.
    ///
    /// `now` (Unix seconds) is only used by schemes with expiring tokens (OneNET).
    pub fn verify(&self, presented: &Presented<'_>, now: u64) -> Result<(), AuthError> {
        match self {
            Identity::Tuya(id) => tuya::verify(presented, id).map(drop),
            Identity::Aliyun(id) => aliyun::verify(presented, id).map(drop),
            Identity::OneNet(id) => onenet::verify(presented, id, now).map(drop),
            Identity::Watson(p) => watson::verify(presented, p).map(drop),
            Identity::Plain(p) => plain::verify(presented, p),
            Identity::AnyOf(ids) => {
                let mut best: Option<(u8, AuthError)> = None;
                for id in ids {
                    match id.verify(presented, now) {
                        Ok(()) => return Ok(()),
                        Err(e) => {
                            let affinity = id.affinity(presented);
                            if best.as_ref().is_none_or(|(b, _)| affinity > *b) {
                                best = Some((affinity, e));
                            }
                        }
                    }
                }
                Err(best.map(|(_, e)| e).unwrap_or(AuthError::BadSecret {
                    rule: RULE_NO_IDENTITY,
                    what: "identity",
                    reason: "no identity is provisioned".into(),
                }))
            }
        }
    }

    /// Whether this identity provisions nothing that `rule` could be checked against
    /// (a plain identity without a client id, for PLAIN-AUTH-01): the rule is then not
    /// reported.
    pub fn leaves_open(&self, rule: &str) -> bool {
        match self {
            Identity::Plain(p) => plain::leaves_open(rule, p),
            Identity::AnyOf(ids) => !ids.is_empty() && ids.iter().all(|i| i.leaves_open(rule)),
            _ => false,
        }
    }

    /// The device a login with `presented` is for ([`Scheme::device_of`] of this
    /// identity's scheme).
    pub fn device_of(&self, presented: &Presented<'_>) -> Option<String> {
        match self {
            Identity::Tuya(_) => Scheme::Tuya(tuya::SignMethod::HmacSha256).device_of(presented),
            Identity::Aliyun(_) => Scheme::Aliyun.device_of(presented),
            Identity::OneNet(_) | Identity::Watson(_) | Identity::Plain(_) => None,
            Identity::AnyOf(ids) => ids.iter().find_map(|i| i.device_of(presented)),
        }
    }

    /// How closely `presented` aims at this identity: 2 for its very client id, 1 for a
    /// client id of the same kind (Watson device / gateway / application), 0 otherwise.
    fn affinity(&self, presented: &Presented<'_>) -> u8 {
        match self {
            Identity::Watson(p) => watson::affinity(presented.client_id, p),
            Identity::Plain(p) if p.client_id.as_deref() == Some(presented.client_id) => 2,
            Identity::AnyOf(ids) => ids.iter().map(|i| i.affinity(presented)).max().unwrap_or(0),
            _ => 0,
        }
    }
}

/// Hash functions used by the HMAC-based schemes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hash {
    Md5,
    Sha1,
    Sha256,
}

impl Hash {
    /// Digest length in bytes.
    pub(crate) fn len(self) -> usize {
        match self {
            Hash::Md5 => 16,
            Hash::Sha1 => 20,
            Hash::Sha256 => 32,
        }
    }

    /// Name for messages, e.g. `HMAC-SHA256`.
    pub(crate) fn hmac_name(self) -> &'static str {
        match self {
            Hash::Md5 => "HMAC-MD5",
            Hash::Sha1 => "HMAC-SHA1",
            Hash::Sha256 => "HMAC-SHA256",
        }
    }

    /// HMAC of `msg` under `key`.
    pub(crate) fn hmac(self, key: &[u8], msg: &[u8]) -> Vec<u8> {
        fn run<M: Mac + KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
            let mut m =
                <M as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        }
        match self {
            Hash::Md5 => run::<Hmac<md5::Md5>>(key, msg),
            Hash::Sha1 => run::<Hmac<sha1::Sha1>>(key, msg),
            Hash::Sha256 => run::<Hmac<sha2::Sha256>>(key, msg),
        }
    }

    /// Checks `tag` against the HMAC of `msg` in constant time.
    pub(crate) fn hmac_verify(self, key: &[u8], msg: &[u8], tag: &[u8]) -> bool {
        fn run<M: Mac + KeyInit>(key: &[u8], msg: &[u8], tag: &[u8]) -> bool {
            let mut m =
                <M as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
            m.update(msg);
            m.verify_slice(tag).is_ok()
        }
        match self {
            Hash::Md5 => run::<Hmac<md5::Md5>>(key, msg, tag),
            Hash::Sha1 => run::<Hmac<sha1::Sha1>>(key, msg, tag),
            Hash::Sha256 => run::<Hmac<sha2::Sha256>>(key, msg, tag),
        }
    }
}

/// Whether `s` is 10 or 13 ASCII digits (seconds or milliseconds since the epoch).
pub(crate) fn is_epoch_digits(s: &str) -> bool {
    (s.len() == 10 || s.len() == 13) && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_names_round_trip() {
        for s in Scheme::ALL {
            assert_eq!(s.name().parse::<Scheme>().unwrap(), s);
            assert_eq!(s.to_string(), s.name());
        }
        assert_eq!(
            "TUYA_HMAC_SHA256".parse::<Scheme>().unwrap(),
            Scheme::Tuya(tuya::SignMethod::HmacSha256)
        );
        assert_eq!("tuya".parse::<Scheme>().unwrap(), Scheme::ALL[0]);
        assert_eq!("wiotp".parse::<Scheme>().unwrap(), Scheme::Watson);
        assert!("kerberos".parse::<Scheme>().is_err());
    }

    #[test]
    fn scheme_serde() {
        let s: Scheme = serde_json::from_str("\"tuya_hmac_sha256\"").unwrap();
        assert_eq!(s, Scheme::Tuya(tuya::SignMethod::HmacSha256));
        assert_eq!(
            serde_json::to_string(&Scheme::OneNet).unwrap(),
            "\"onenet\""
        );
        assert!(serde_json::from_str::<Scheme>("\"x\"").is_err());
    }

    #[test]
    fn presented_debug_hides_password() {
        let p = Presented::new("c", Some("u"), Some(b"topsecret"));
        let s = format!("{p:?}");
        assert!(!s.contains("topsecret"), "{s}");
        assert!(s.contains("***"));
    }

    #[test]
    fn redaction_replaces_secret_everywhere() {
        let e = AuthError::Malformed {
            rule: "X-1",
            field: "user name",
            found: Some("abc-SECRET-def".into()),
            reason: "has SECRET".into(),
        };
        let r = e.redacted("SECRET");
        assert!(!r.to_string().contains("SECRET"));
        assert_eq!(r.rule_id(), "X-1");
    }

    #[test]
    fn hmac_known_answer() {
        // RFC 2202 / RFC 4231 test case 2 ("Jefe").
        let msg = b"what do ya want for nothing?";
        assert_eq!(
            hex::encode(Hash::Md5.hmac(b"Jefe", msg)),
            "750c783e6ab0b503eaa86e310a5db738"
        );
        assert_eq!(
            hex::encode(Hash::Sha1.hmac(b"Jefe", msg)),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            hex::encode(Hash::Sha256.hmac(b"Jefe", msg)),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let tag = Hash::Sha1.hmac(b"Jefe", msg);
        assert!(Hash::Sha1.hmac_verify(b"Jefe", msg, &tag));
        assert!(!Hash::Sha1.hmac_verify(b"Jeff", msg, &tag));
        assert!(!Hash::Sha1.hmac_verify(b"Jefe", msg, &tag[..19]));
    }
}
