//! From a suite's `auth: { scheme, params }` (strings after `${…}` interpolation) to the
//! scheme's own parameters: what the runner logs in with, and what the judge and the
//! emulator verify against.

use super::{AuthParams, Identity, Scheme, plain, tuya};
use crate::secret::Secret;
use std::collections::BTreeMap;

/// Interpolated `auth.params` of a suite.
pub type Values = BTreeMap<String, String>;

fn need(values: &Values, scheme: Scheme, key: &str) -> Result<String, String> {
    values
        .get(key)
        .cloned()
        .ok_or_else(|| format!("auth scheme `{scheme}` needs the parameter `{key}`"))
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The client-side parameters: what a device presents.
pub fn client_params(scheme: Scheme, values: &Values) -> Result<AuthParams, String> {
    Ok(match scheme {
        Scheme::Plain => AuthParams::Plain(plain::Params {
            client_id: values.get("client_id").cloned().unwrap_or_default(),
            username: values.get("username").cloned(),
            password: values.get("password").cloned().map(Secret::new),
        }),
        Scheme::Tuya(sign_method) => {
            let timestamp = match values.get("timestamp") {
                Some(t) => t
                    .parse()
                    .map_err(|_| format!("auth timestamp `{t}` is not a number"))?,
                None => now_secs(),
            };
            AuthParams::Tuya(tuya::Params {
                device_id: need(values, scheme, "device_id")?,
                device_secret: Secret::new(need(values, scheme, "device_secret")?),
                timestamp,
                sign_method,
            })
        }
        other => {
            return Err(format!(
                "auth scheme `{other}` cannot produce credentials from suite parameters yet"
            ));
        }
    })
}

/// The server-side identity: what the cloud knows of the device (its secret).
pub fn identity(scheme: Scheme, values: &Values) -> Result<Identity, String> {
    Ok(match scheme {
        Scheme::Plain => Identity::Plain(plain::Params {
            client_id: values.get("client_id").cloned().unwrap_or_default(),
            username: values.get("username").cloned(),
            password: values.get("password").cloned().map(Secret::new),
        }),
        Scheme::Tuya(_) => Identity::Tuya(tuya::Identity {
            device_id: need(values, scheme, "device_id")?,
            device_secret: Secret::new(need(values, scheme, "device_secret")?),
        }),
        other => {
            return Err(format!(
                "auth scheme `{other}` cannot build an identity from suite parameters yet"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Presented;

    #[test]
    fn tuya_round_trip_through_suite_parameters() {
        let mut v = Values::new();
        v.insert("device_id".into(), "6c828cba434ff40c074wF2".into());
        v.insert("device_secret".into(), "ffad8eb66ae8c717".into());
        v.insert("timestamp".into(), "1607635284".into());
        let scheme: Scheme = "tuya-hmac-sha256".parse().unwrap();
        let creds = client_params(scheme, &v).unwrap().credentials().unwrap();
        assert_eq!(
            creds.password.as_ref().unwrap().expose(),
            "9088f1608df4744e2a933ff905ffdde58dc7213510f25ad786a89896a5ea1104"
        );
        let id = identity(scheme, &v).unwrap();
        let pw = creds
            .password
            .as_ref()
            .unwrap()
            .expose()
            .as_bytes()
            .to_vec();
        let presented = Presented::new(&creds.client_id, creds.username.as_deref(), Some(&pw));
        assert!(id.verify(&presented, 0).is_ok());
        v.remove("device_secret");
        assert!(
            client_params(scheme, &v)
                .unwrap_err()
                .contains("device_secret")
        );
    }
}
