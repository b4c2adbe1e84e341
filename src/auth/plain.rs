//! Plain MQTT credentials: a literal client id, user name and password.
//!
//! Used for generic brokers (e.g. mosquitto with a password file). Rule IDs: the MQTT 3.1.1
//! baseline `MQTT311-CONN-05` (a password requires a user name) and harness-local IDs
//! `PLAIN-AUTH-01` (client id), `PLAIN-AUTH-02` (user name) and `PLAIN-AUTH-03` (password),
//! which have no counterpart in `vendor-rules.md` because no vendor is involved.

use super::{AuthError, Credentials, Presented};
use crate::secret::Secret;

const RULE_FLAGS: &str = "MQTT311-CONN-05";
const RULE_CID: &str = "PLAIN-AUTH-01";
const RULE_USER: &str = "PLAIN-AUTH-02";
const RULE_PASS: &str = "PLAIN-AUTH-03";

/// Rules the format alone cannot decide: every field is compared with the provisioned one.
pub(crate) const RULES_NEEDING_IDENTITY: &[&str] = &[RULE_CID, RULE_USER, RULE_PASS];

/// Literal credentials; used both to connect and as the identity a server accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// Client identifier; `None` when the suite names none: a client sends an empty one,
    /// and a server accepts any (PLAIN-AUTH-01 then does not apply).
    pub client_id: Option<String>,
    /// User name, if any.
    pub username: Option<String>,
    /// Password, if any.
    pub password: Option<Secret>,
}

impl Params {
    /// The credentials to send (a copy of the fields).
    pub fn credentials(&self) -> Credentials {
        Credentials {
            client_id: self.client_id.clone().unwrap_or_default(),
            username: self.username.clone(),
            password: self.password.clone(),
        }
    }
}

/// Whether `rule` is left unchecked by `expected`: PLAIN-AUTH-01 when no client id is
/// provisioned.
pub fn leaves_open(rule: &str, expected: &Params) -> bool {
    rule == RULE_CID && expected.client_id.is_none()
}

/// MQTT311-CONN-05: a password without a user name is a protocol violation.
pub fn check_format(presented: &Presented<'_>) -> Result<(), AuthError> {
    if presented.password.is_some() && presented.username.is_none() {
        return Err(AuthError::Missing {
            rule: RULE_FLAGS,
            field: "user name (required when a password is sent)",
        });
    }
    Ok(())
}

/// Verifies that all three fields equal the expected ones (`None` means "must be absent").
/// The password is compared in constant time.
pub fn verify(presented: &Presented<'_>, expected: &Params) -> Result<(), AuthError> {
    verify_inner(presented, expected).map_err(|e| presented.redact(e, expected.password.as_ref()))
}

fn verify_inner(presented: &Presented<'_>, expected: &Params) -> Result<(), AuthError> {
    check_format(presented)?;
    if let Some(want) = expected
        .client_id
        .as_ref()
        .filter(|w| *w != presented.client_id)
    {
        return Err(AuthError::Mismatch {
            rule: RULE_CID,
            field: "client id",
            expected: want.clone(),
            found: presented.client_id.to_owned(),
        });
    }
    if presented.username != expected.username.as_deref() {
        let show = |u: Option<&str>| u.map_or_else(|| "(none)".to_owned(), str::to_owned);
        return Err(AuthError::Mismatch {
            rule: RULE_USER,
            field: "user name",
            expected: show(expected.username.as_deref()),
            found: show(presented.username),
        });
    }
    match (&expected.password, presented.password) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(AuthError::Missing {
            rule: RULE_PASS,
            field: "password",
        }),
        (Some(want), Some(got)) if want.matches(got) => Ok(()),
        _ => Err(AuthError::WrongSecret {
            rule: RULE_PASS,
            what: "password",
        }),
    }
}
