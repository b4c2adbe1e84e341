//! IBM Watson IoT Platform credentials — `vendor-rules.md` §5.
//!
//! | client | client id | user name | password |
//! |---|---|---|---|
//! | device | `d:<org>:<type>:<id>` | `use-token-auth` | auth token |
//! | gateway | `g:<org>:<type>:<id>` | `use-token-auth` | auth token |
//! | application | `a:<org>:<appId>` | API key `a-<org>-<x>` | API token |
//! | scalable application | `A:<org>:<appId>[:<instanceId>]` | API key | API token |
//! | Quickstart | `<kind>:quickstart:…` | none | none |
//!
//! Rules: WIOTP-AUTH-01 (client id forms), -02 (components ≤ 36 characters of
//! `[A-Za-z0-9._-]`, org six alphanumerics or `quickstart`), -03 (device/gateway user name
//! and token), -04 (application API key whose org equals the client id's org), -05
//! (Quickstart needs no credentials). The token is compared literally (in constant time):
//! there is no HMAC, the token itself is the secret.

use std::fmt;

use super::{AuthError, Credentials, Presented};
use crate::secret::Secret;

const RULE_FORM: &str = "WIOTP-AUTH-01";
const RULE_COMPONENT: &str = "WIOTP-AUTH-02";
const RULE_DEVICE: &str = "WIOTP-AUTH-03";
const RULE_APP: &str = "WIOTP-AUTH-04";

/// Rules the format alone cannot decide: the tokens are compared with the provisioned ones.
pub(crate) const RULES_NEEDING_IDENTITY: &[&str] = &[RULE_DEVICE, RULE_APP];

/// The format rules [`check_format`] has checked, and found holding, by the time it
/// reports a violation of `rule`: the client id's form, then its components, then the
/// user name.
pub(crate) fn checked_before(rule: &str) -> &'static [&'static str] {
    match rule {
        RULE_COMPONENT => &[RULE_FORM],
        RULE_DEVICE | RULE_APP => &[RULE_FORM, RULE_COMPONENT],
        _ => &[],
    }
}

/// Whether `rule` concerns credentials with this client id: the device and gateway rule
/// not an application, the application rule not a device, neither a Quickstart device
/// (which logs in without credentials). A client id that does not parse concerns every
/// rule (its own rule reports it).
pub(crate) fn rule_applies(rule: &str, client_id: &str) -> bool {
    let Ok(id) = parse_client_id(client_id) else {
        return true;
    };
    match rule {
        RULE_DEVICE => !id.is_quickstart() && !id.is_application(),
        RULE_APP => !id.is_quickstart() && id.is_application(),
        _ => true,
    }
}

/// User name of devices and gateways.
pub const TOKEN_AUTH_USERNAME: &str = "use-token-auth";

/// Organisation ID of the unauthenticated Quickstart service.
pub const QUICKSTART_ORG: &str = "quickstart";

/// Maximum length of a client-id component other than the org.
pub const MAX_COMPONENT_LEN: usize = 36;

/// A parsed Watson client id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ClientId {
    /// `d:<org>:<device_type>:<device_id>`.
    Device {
        /// Organisation ID.
        org: String,
        /// Device type.
        device_type: String,
        /// Device ID.
        device_id: String,
    },
    /// `g:<org>:<device_type>:<device_id>`.
    Gateway {
        /// Organisation ID.
        org: String,
        /// Gateway type.
        device_type: String,
        /// Gateway ID.
        device_id: String,
    },
    /// `a:<org>:<app_id>`.
    Application {
        /// Organisation ID.
        org: String,
        /// Application ID.
        app_id: String,
    },
    /// `A:<org>:<app_id>[:<instance_id>]` (shared subscription / scalable application).
    SharedApplication {
        /// Organisation ID.
        org: String,
        /// Application ID.
        app_id: String,
        /// Instance ID (mixed-durability shared subscriptions).
        instance_id: Option<String>,
    },
}

impl ClientId {
    /// The organisation ID.
    pub fn org(&self) -> &str {
        match self {
            ClientId::Device { org, .. }
            | ClientId::Gateway { org, .. }
            | ClientId::Application { org, .. }
            | ClientId::SharedApplication { org, .. } => org,
        }
    }

    /// Whether this client connects to Quickstart (no credentials).
    pub fn is_quickstart(&self) -> bool {
        self.org() == QUICKSTART_ORG
    }

    /// The kind prefix of the client id: `d`, `g`, `a` or `A`.
    pub fn kind(&self) -> char {
        match self {
            ClientId::Device { .. } => 'd',
            ClientId::Gateway { .. } => 'g',
            ClientId::Application { .. } => 'a',
            ClientId::SharedApplication { .. } => 'A',
        }
    }

    /// Whether this is an application (`a:` or `A:`), which authenticates with an API key.
    pub fn is_application(&self) -> bool {
        matches!(
            self,
            ClientId::Application { .. } | ClientId::SharedApplication { .. }
        )
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientId::Device {
                org,
                device_type,
                device_id,
            } => write!(f, "d:{org}:{device_type}:{device_id}"),
            ClientId::Gateway {
                org,
                device_type,
                device_id,
            } => write!(f, "g:{org}:{device_type}:{device_id}"),
            ClientId::Application { org, app_id } => write!(f, "a:{org}:{app_id}"),
            ClientId::SharedApplication {
                org,
                app_id,
                instance_id,
            } => {
                write!(f, "A:{org}:{app_id}")?;
                if let Some(i) = instance_id {
                    write!(f, ":{i}")?;
                }
                Ok(())
            }
        }
    }
}

/// Parses a client id (WIOTP-AUTH-01 for the overall form, WIOTP-AUTH-02 for components).
pub fn parse_client_id(client_id: &str) -> Result<ClientId, AuthError> {
    let form = |reason: &str| AuthError::Malformed {
        rule: RULE_FORM,
        field: "client id",
        found: Some(client_id.to_owned()),
        reason: reason.to_owned(),
    };
    let parts: Vec<&str> = client_id.split(':').collect();
    let owned = |i: usize| parts[i].to_owned();
    let id = match (parts[0], parts.len()) {
        ("d", 4) => ClientId::Device {
            org: owned(1),
            device_type: owned(2),
            device_id: owned(3),
        },
        ("g", 4) => ClientId::Gateway {
            org: owned(1),
            device_type: owned(2),
            device_id: owned(3),
        },
        ("a", 3) => ClientId::Application {
            org: owned(1),
            app_id: owned(2),
        },
        ("A", 3 | 4) => ClientId::SharedApplication {
            org: owned(1),
            app_id: owned(2),
            instance_id: parts.get(3).map(|s| (*s).to_owned()),
        },
        ("d" | "g", _) => return Err(form("expected `<d|g>:<org>:<type>:<id>`")),
        ("a", _) => return Err(form("expected `a:<org>:<appId>`")),
        ("A", _) => return Err(form("expected `A:<org>:<appId>[:<instanceId>]`")),
        _ => return Err(form("must start with `d:`, `g:`, `a:` or `A:`")),
    };
    check_org(id.org(), client_id)?;
    for (name, value) in components(&id) {
        check_component(name, value, client_id)?;
    }
    Ok(id)
}

fn components(id: &ClientId) -> Vec<(&'static str, &str)> {
    match id {
        ClientId::Device {
            device_type,
            device_id,
            ..
        }
        | ClientId::Gateway {
            device_type,
            device_id,
            ..
        } => vec![("type id", device_type), ("device id", device_id)],
        ClientId::Application { app_id, .. } => vec![("app id", app_id)],
        ClientId::SharedApplication {
            app_id,
            instance_id,
            ..
        } => {
            let mut v = vec![("app id", app_id.as_str())];
            if let Some(i) = instance_id {
                v.push(("instance id", i.as_str()));
            }
            v
        }
    }
}

fn check_org(org: &str, client_id: &str) -> Result<(), AuthError> {
    if org == QUICKSTART_ORG || (org.len() == 6 && org.bytes().all(|b| b.is_ascii_alphanumeric())) {
        Ok(())
    } else {
        Err(AuthError::Malformed {
            rule: RULE_COMPONENT,
            field: "client id",
            found: Some(client_id.to_owned()),
            reason: format!("org id `{org}` is not six letters/digits (nor `{QUICKSTART_ORG}`)"),
        })
    }
}

fn check_component(name: &str, value: &str, client_id: &str) -> Result<(), AuthError> {
    let reason = if value.is_empty() {
        format!("{name} is empty")
    } else if value.len() > MAX_COMPONENT_LEN {
        format!(
            "{name} has {} characters, at most {MAX_COMPONENT_LEN} allowed",
            value.len()
        )
    } else if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        format!("{name} contains {c:?}; only [A-Za-z0-9._-] allowed")
    } else {
        return Ok(());
    };
    Err(AuthError::Malformed {
        rule: RULE_COMPONENT,
        field: "client id",
        found: Some(client_id.to_owned()),
        reason,
    })
}

/// Parses an application API key `a-<org>-<x>` and returns its org (WIOTP-AUTH-04).
pub fn parse_api_key(api_key: &str) -> Result<&str, AuthError> {
    let bad = || AuthError::Malformed {
        rule: RULE_APP,
        field: "API key",
        found: Some(api_key.to_owned()),
        reason: "expected `a-<orgId>-<suffix>`".into(),
    };
    let rest = api_key.strip_prefix("a-").ok_or_else(bad)?;
    let (org, suffix) = rest.split_once('-').ok_or_else(bad)?;
    if org.is_empty() || suffix.is_empty() {
        return Err(bad());
    }
    Ok(org)
}

/// Checks the credentials' form without a token: client id, the user name required for the
/// client kind, and a non-empty password where one is needed. Quickstart clients pass with
/// any credentials (WIOTP-AUTH-05).
pub fn check_format(presented: &Presented<'_>) -> Result<ClientId, AuthError> {
    let id = parse_client_id(presented.client_id)?;
    if id.is_quickstart() {
        return Ok(id);
    }
    let rule = if id.is_application() {
        RULE_APP
    } else {
        RULE_DEVICE
    };
    let user = presented.require_username(rule)?;
    if id.is_application() {
        let key_org = parse_api_key(user)?;
        if key_org != id.org() {
            return Err(AuthError::Mismatch {
                rule: RULE_APP,
                field: "org in API key (vs client id org)",
                expected: id.org().to_owned(),
                found: key_org.to_owned(),
            });
        }
    } else if user != TOKEN_AUTH_USERNAME {
        return Err(AuthError::Mismatch {
            rule: RULE_DEVICE,
            field: "user name",
            expected: TOKEN_AUTH_USERNAME.to_owned(),
            found: user.to_owned(),
        });
    }
    match presented.password {
        Some(p) if !p.is_empty() => Ok(id),
        _ => Err(AuthError::Missing {
            rule,
            field: "password (auth token)",
        }),
    }
}

/// Client-side parameters, also used as the server-side identity (the token is compared
/// literally, so both sides need the same data).
#[derive(Clone, Debug)]
pub struct Params {
    /// The client id.
    pub client: ClientId,
    /// API key for applications (`a-<org>-<x>`); unused by devices and gateways.
    pub api_key: Option<String>,
    /// Auth token / API token; `None` for Quickstart.
    pub token: Option<Secret>,
}

impl Params {
    /// A device `d:<org>:<type>:<id>` with token authentication.
    pub fn device(
        org: impl Into<String>,
        device_type: impl Into<String>,
        device_id: impl Into<String>,
        token: Secret,
    ) -> Self {
        Params {
            client: ClientId::Device {
                org: org.into(),
                device_type: device_type.into(),
                device_id: device_id.into(),
            },
            api_key: None,
            token: Some(token),
        }
    }

    /// A gateway `g:<org>:<type>:<id>` with token authentication.
    pub fn gateway(
        org: impl Into<String>,
        device_type: impl Into<String>,
        device_id: impl Into<String>,
        token: Secret,
    ) -> Self {
        Params {
            client: ClientId::Gateway {
                org: org.into(),
                device_type: device_type.into(),
                device_id: device_id.into(),
            },
            api_key: None,
            token: Some(token),
        }
    }

    /// An application `a:<org>:<appId>`, where `org` is taken from the API key (as the SDK
    /// does); if the key is malformed the org is left empty and [`Params::credentials`] fails.
    pub fn application(
        app_id: impl Into<String>,
        api_key: impl Into<String>,
        token: Secret,
    ) -> Self {
        let api_key = api_key.into();
        let org = parse_api_key(&api_key).unwrap_or_default().to_owned();
        Params {
            client: ClientId::Application {
                org,
                app_id: app_id.into(),
            },
            api_key: Some(api_key),
            token: Some(token),
        }
    }

    /// A scalable application `A:<org>:<appId>[:<instanceId>]` (org from the API key).
    pub fn shared_application(
        app_id: impl Into<String>,
        instance_id: Option<String>,
        api_key: impl Into<String>,
        token: Secret,
    ) -> Self {
        let api_key = api_key.into();
        let org = parse_api_key(&api_key).unwrap_or_default().to_owned();
        Params {
            client: ClientId::SharedApplication {
                org,
                app_id: app_id.into(),
                instance_id,
            },
            api_key: Some(api_key),
            token: Some(token),
        }
    }

    /// A Quickstart device `d:quickstart:<type>:<id>` without credentials.
    pub fn quickstart(device_type: impl Into<String>, device_id: impl Into<String>) -> Self {
        Params {
            client: ClientId::Device {
                org: QUICKSTART_ORG.to_owned(),
                device_type: device_type.into(),
                device_id: device_id.into(),
            },
            api_key: None,
            token: None,
        }
    }

    /// Builds the credentials, refusing parameters that break WIOTP-AUTH-01..04.
    pub fn credentials(&self) -> Result<Credentials, AuthError> {
        // For applications the org comes from the API key: report a bad key as such
        // (WIOTP-AUTH-04) rather than as the empty org it leads to.
        if let Some(key) = self
            .api_key
            .as_deref()
            .filter(|_| self.client.is_application())
        {
            parse_api_key(key)?;
        }
        let client_id = self.client.to_string();
        parse_client_id(&client_id)?;
        if self.client.is_quickstart() {
            return Ok(Credentials {
                client_id,
                username: None,
                password: None,
            });
        }
        let (rule, username) = if self.client.is_application() {
            let key = self.api_key.clone().ok_or(AuthError::Missing {
                rule: RULE_APP,
                field: "API key",
            })?;
            (RULE_APP, key)
        } else {
            (RULE_DEVICE, TOKEN_AUTH_USERNAME.to_owned())
        };
        let token = self
            .token
            .clone()
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Missing {
                rule,
                field: "auth token",
            })?;
        let creds = Credentials {
            client_id,
            username: Some(username),
            password: Some(token),
        };
        check_format(&creds.presented())?;
        Ok(creds)
    }
}

/// How closely a presented client id aims at the provisioned client: 2 when it is that
/// client id, 1 when it is of the same kind (`d:`, `g:`, `a:` or `A:`), else 0. Used to pick
/// the identity whose refusal to report when several are provisioned.
pub fn affinity(client_id: &str, expected: &Params) -> u8 {
    if client_id == expected.client.to_string() {
        2
    } else if client_id
        .split(':')
        .next()
        .is_some_and(|k| k.len() == 1 && k.starts_with(expected.client.kind()))
    {
        1
    } else {
        0
    }
}

/// Verifies presented credentials against provisioned ones: client id equal to
/// `expected.client`, then (unless Quickstart) the user name / API key and the token.
pub fn verify(presented: &Presented<'_>, expected: &Params) -> Result<ClientId, AuthError> {
    verify_inner(presented, expected).map_err(|e| presented.redact(e, expected.token.as_ref()))
}

fn verify_inner(presented: &Presented<'_>, expected: &Params) -> Result<ClientId, AuthError> {
    let id = check_format(presented)?;
    if id != expected.client {
        return Err(AuthError::Mismatch {
            rule: RULE_FORM,
            field: "client id",
            expected: expected.client.to_string(),
            found: presented.client_id.to_owned(),
        });
    }
    if id.is_quickstart() {
        return Ok(id);
    }
    let rule = if id.is_application() {
        RULE_APP
    } else {
        RULE_DEVICE
    };
    if id.is_application() {
        let user = presented.require_username(rule)?;
        if expected.api_key.as_deref() != Some(user) {
            return Err(AuthError::Mismatch {
                rule,
                field: "API key",
                expected: expected.api_key.clone().unwrap_or_default(),
                found: user.to_owned(),
            });
        }
    }
    let token = expected.token.as_ref().ok_or(AuthError::BadSecret {
        rule,
        what: "auth token",
        reason: "none provisioned".into(),
    })?;
    // check_format guarantees a password is present.
    if !token.matches(presented.password.unwrap_or_default()) {
        return Err(AuthError::WrongSecret {
            rule,
            what: "auth token",
        });
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_id_forms() {
        for ok in [
            "d:abc123:sensor:dev-01",
            "g:abc123:gw.type:gw_1",
            "a:abc123:app",
            "A:abc123:app",
            "A:abc123:app:inst-1",
            "d:quickstart:t:i",
        ] {
            let id = parse_client_id(ok).unwrap();
            assert_eq!(id.to_string(), ok);
        }
        for (bad, rule) in [
            ("x:abc123:t:i", RULE_FORM),
            ("d:abc123:t", RULE_FORM),
            ("d:abc123:t:i:j", RULE_FORM),
            ("a:abc123:app:x", RULE_FORM),
            ("A:abc123:app:x:y", RULE_FORM),
            ("D:abc123:t:i", RULE_FORM),
            ("", RULE_FORM),
            ("d:abc12:t:i", RULE_COMPONENT),
            ("d:abc1234:t:i", RULE_COMPONENT),
            ("d:abc-12:t:i", RULE_COMPONENT),
            ("d:QuickStart:t:i", RULE_COMPONENT),
            ("d:abc123::i", RULE_COMPONENT),
            ("d:abc123:t:a b", RULE_COMPONENT),
            ("d:abc123:t:é", RULE_COMPONENT),
        ] {
            assert_eq!(parse_client_id(bad).unwrap_err().rule_id(), rule, "{bad}");
        }
        let long = format!("d:abc123:t:{}", "x".repeat(37));
        assert_eq!(
            parse_client_id(&long).unwrap_err().rule_id(),
            RULE_COMPONENT
        );
        let max = format!("d:abc123:{}:{}", "x".repeat(36), "y".repeat(36));
        assert!(parse_client_id(&max).is_ok());
    }

    #[test]
    fn api_keys() {
        assert_eq!(parse_api_key("a-abc123-xyz").unwrap(), "abc123");
        for bad in [
            "abc123-xyz",
            "a-abc123",
            "a--xyz",
            "a-abc123-",
            "b-abc123-x",
        ] {
            assert_eq!(parse_api_key(bad).unwrap_err().rule_id(), RULE_APP, "{bad}");
        }
    }
}
