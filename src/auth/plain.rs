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
    /// Client identifier.
    pub client_id: String,
    /// User name, if any.
    pub username: Option<String>,
    /// Password, if any.
    pub password: Option<Secret>,
}

impl Params {
    /// The credentials to send (a copy of the fields).
    pub fn credentials(&self) -> Credentials {
        Credentials {
            client_id: self.client_id.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
        }
    }
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
    if presented.client_id != expected.client_id {
        return Err(AuthError::Mismatch {
            rule: RULE_CID,
            field: "client id",
            expected: expected.client_id.clone(),
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
