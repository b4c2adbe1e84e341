//! From a suite's `auth: { scheme, params, identities }` (strings after `${…}`
//! interpolation) to the scheme's own parameters: what the runner logs in with, and what the
//! judge and the emulator verify against.
//!
//! A suite's further identities (`auth.identities`, e.g. a Watson gateway and application
//! next to the device) travel in the same [`Values`] as the main one, so that every consumer
//! of the suite's auth values (runner, emulator, device mode, capture mode) sees them: when a
//! suite is compiled, [`fold_identities`] stores parameter `KEY` of the `N`-th entry under
//! `identities.N.KEY` (scheme parameters never contain a dot). [`client_params`] ignores
//! these keys (a client logs in as the main identity unless a step overrides it), and
//! [`identity`] provisions the main identity and every further one, each entry's parameters
//! merged over the main ones, as [`Identity::AnyOf`].

use super::{AuthParams, Identity, Scheme, aliyun, onenet, plain, tuya, watson};
use crate::secret::Secret;
use std::collections::BTreeMap;

/// Interpolated `auth.params` of a suite.
pub type Values = BTreeMap<String, String>;

/// Prefix of the keys that carry further identities in [`Values`]: `identities.N.KEY`.
pub const IDENTITY_PREFIX: &str = "identities.";

/// Stores `identities` (each a map of parameters, values still with their `${…}`
/// placeholders) in `params` under `identities.N.KEY`, N counting from 0.
pub fn fold_identities(params: &mut BTreeMap<String, String>, identities: &[Values]) {
    for (n, identity) in identities.iter().enumerate() {
        for (k, v) in identity {
            params.insert(format!("{IDENTITY_PREFIX}{n}.{k}"), v.clone());
        }
    }
}

/// The index of the further identity a folded key belongs to (`None` for the main one's).
pub fn identity_index(key: &str) -> Option<usize> {
    let rest = key.strip_prefix(IDENTITY_PREFIX)?;
    rest.split_once('.')?.0.parse().ok()
}

/// Splits values into the main identity's parameters and, in order, each further
/// identity's parameters merged over them.
pub fn split_identities(values: &Values) -> (Values, Vec<Values>) {
    let mut main = Values::new();
    let mut extra: BTreeMap<usize, Values> = BTreeMap::new();
    for (k, v) in values {
        let folded = identity_index(k).and_then(|n| {
            let key = k.strip_prefix(IDENTITY_PREFIX)?.split_once('.')?.1;
            Some((n, key))
        });
        match folded {
            Some((n, key)) => {
                extra
                    .entry(n)
                    .or_default()
                    .insert(key.to_owned(), v.clone());
            }
            None => {
                main.insert(k.clone(), v.clone());
            }
        }
    }
    let extra = extra
        .into_values()
        .map(|own| {
            let mut merged = main.clone();
            merged.extend(own);
            merged
        })
        .collect();
    (main, extra)
}

fn need(values: &Values, scheme: Scheme, key: &str) -> Result<String, String> {
    values
        .get(key)
        .cloned()
        .ok_or_else(|| format!("auth scheme `{scheme}` needs the parameter `{key}`"))
}

/// An optional number parameter.
fn number(values: &Values, key: &str) -> Result<Option<u64>, String> {
    values
        .get(key)
        .map(|t| {
            t.parse()
                .map_err(|_| format!("auth parameter `{key}` = `{t}` is not a number"))
        })
        .transpose()
}

fn aliyun_params(values: &Values, scheme: Scheme) -> Result<aliyun::Params, String> {
    let product_key = need(values, scheme, "product_key")?;
    let device_name = need(values, scheme, "device_name")?;
    let sign_method = match values.get("sign_method") {
        Some(m) => aliyun::SignMethod::from_client_id_value(m).ok_or_else(|| {
            format!("auth sign_method `{m}`: expected hmacmd5, hmacsha1 or hmacsha256")
        })?,
        None => aliyun::SignMethod::HmacSha256,
    };
    let secure_mode = match values.get("secure_mode") {
        Some(m) => m
            .parse()
            .map_err(|_| format!("auth secure_mode `{m}` is not a number"))?,
        // 2: TLS direct connection; 3: TCP (the platform's documented values).
        None => 2,
    };
    // A timestamp in milliseconds, as the platform's examples sign it; `none` leaves it out.
    let timestamp = match values.get("timestamp").map(String::as_str) {
        Some("none") => None,
        Some(t) => Some(
            t.parse()
                .map_err(|_| format!("auth timestamp `{t}` is not a number"))?,
        ),
        None => Some(now_secs() * 1000),
    };
    let client_id = values
        .get("client_id")
        .cloned()
        .unwrap_or_else(|| format!("{product_key}.{device_name}"));
    Ok(aliyun::Params::new(
        product_key,
        device_name,
        Secret::new(need(values, scheme, "device_secret")?),
        client_id,
        sign_method,
        secure_mode,
        timestamp,
    ))
}

fn onenet_params(values: &Values, scheme: Scheme) -> Result<onenet::Params, String> {
    let method = match values.get("method") {
        Some(m) => onenet::Method::from_token_value(m)
            .ok_or_else(|| format!("auth method `{m}`: expected md5, sha1 or sha256"))?,
        None => onenet::Method::Sha256,
    };
    // Tokens made here are valid for a day unless the suite says until when.
    let expiry = number(values, "expiry")?.unwrap_or(now_secs() + 86_400);
    let mut params = onenet::Params::new(
        need(values, scheme, "product_id")?,
        need(values, scheme, "device_name")?,
        Secret::new(need(values, scheme, "access_key")?),
        expiry,
        method,
    );
    match values.get("level").map(String::as_str) {
        None | Some("device") => {}
        Some("product") => params.level = onenet::ResourceLevel::Product,
        Some(other) => {
            return Err(format!("auth level `{other}`: expected device or product"));
        }
    }
    Ok(params)
}

fn watson_params(values: &Values, scheme: Scheme) -> Result<watson::Params, String> {
    let token = values.get("token").cloned().map(Secret::new);
    let kind = values.get("kind").map_or("device", String::as_str);
    Ok(match (kind, token) {
        ("application", Some(token)) => watson::Params::application(
            need(values, scheme, "app_id")?,
            need(values, scheme, "api_key")?,
            token,
        ),
        ("gateway", Some(token)) => watson::Params::gateway(
            need(values, scheme, "org")?,
            need(values, scheme, "device_type")?,
            need(values, scheme, "device_id")?,
            token,
        ),
        ("device", Some(token)) => watson::Params::device(
            need(values, scheme, "org")?,
            need(values, scheme, "device_type")?,
            need(values, scheme, "device_id")?,
            token,
        ),
        // Quickstart devices present no credentials.
        ("device", None) => watson::Params::quickstart(
            need(values, scheme, "device_type")?,
            need(values, scheme, "device_id")?,
        ),
        (kind @ ("application" | "gateway"), None) => {
            return Err(format!("auth scheme `{scheme}`: a {kind} needs `token`"));
        }
        (other, _) => {
            return Err(format!(
                "auth kind `{other}`: expected device, gateway or application"
            ));
        }
    })
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The client-side parameters: what a device presents (the main identity's; the keys of
/// further identities are ignored).
pub fn client_params(scheme: Scheme, values: &Values) -> Result<AuthParams, String> {
    let (values, _) = split_identities(values);
    let values = &values;
    Ok(match scheme {
        Scheme::Plain => AuthParams::Plain(plain::Params {
            client_id: values.get("client_id").cloned(),
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
        Scheme::Aliyun => AuthParams::Aliyun(aliyun_params(values, scheme)?),
        Scheme::OneNet => AuthParams::OneNet(onenet_params(values, scheme)?),
        Scheme::Watson => AuthParams::Watson(watson_params(values, scheme)?),
    })
}

/// The server-side identity: what the cloud knows of the device (its secret) — and, when
/// the values carry further identities, of each of them ([`Identity::AnyOf`], the main one
/// first).
pub fn identity(scheme: Scheme, values: &Values) -> Result<Identity, String> {
    let (main, extra) = split_identities(values);
    if extra.is_empty() {
        return one_identity(scheme, &main);
    }
    let mut all = vec![one_identity(scheme, &main)?];
    for (n, values) in extra.iter().enumerate() {
        all.push(one_identity(scheme, values).map_err(|e| format!("auth.identities[{n}]: {e}"))?);
    }
    Ok(Identity::AnyOf(all))
}

fn one_identity(scheme: Scheme, values: &Values) -> Result<Identity, String> {
    Ok(match scheme {
        Scheme::Plain => Identity::Plain(plain::Params {
            client_id: values.get("client_id").cloned(),
            username: values.get("username").cloned(),
            password: values.get("password").cloned().map(Secret::new),
        }),
        Scheme::Tuya(_) => Identity::Tuya(tuya::Identity {
            device_id: need(values, scheme, "device_id")?,
            device_secret: Secret::new(need(values, scheme, "device_secret")?),
        }),
        Scheme::Aliyun => Identity::Aliyun(aliyun_params(values, scheme)?.identity()),
        Scheme::OneNet => {
            let p = onenet_params(values, scheme)?;
            Identity::OneNet(onenet::Identity {
                product_id: p.product_id,
                device_name: p.device_name,
                access_key: p.access_key,
            })
        }
        Scheme::Watson => Identity::Watson(watson_params(values, scheme)?),
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

    fn values(pairs: &[(&str, &str)]) -> Values {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Produces credentials from suite parameters and verifies them against the identity
    /// built from the same parameters; returns (client id, user name, password).
    fn round_trip(scheme: &str, v: &Values, now: u64) -> (String, Option<String>, String) {
        let scheme: Scheme = scheme.parse().unwrap();
        let creds = client_params(scheme, v).unwrap().credentials().unwrap();
        let pw = creds
            .password
            .as_ref()
            .map(|p| p.expose().to_owned())
            .unwrap_or_default();
        let presented = Presented::new(
            &creds.client_id,
            creds.username.as_deref(),
            creds.password.as_ref().map(|p| p.expose().as_bytes()),
        );
        identity(scheme, v)
            .unwrap()
            .verify(&presented, now)
            .unwrap();
        (creds.client_id, creds.username, pw)
    }

    #[test]
    fn aliyun_documented_vector_through_suite_parameters() {
        let v = values(&[
            ("product_key", "pk"),
            ("device_name", "device"),
            ("device_secret", "secret"),
            ("client_id", "12345"),
            ("sign_method", "hmacsha1"),
            ("secure_mode", "3"),
            ("timestamp", "789"),
        ]);
        let (cid, user, pw) = round_trip("aliyun", &v, 0);
        assert_eq!(cid, "12345|securemode=3,signmethod=hmacsha1,timestamp=789|");
        assert_eq!(user.as_deref(), Some("device&pk"));
        assert_eq!(pw, "FAFD82A3D602B37FB0FA8B7892F24A477F851A14");
        let mut md5 = v.clone();
        md5.insert("sign_method".into(), "hmacmd5".into());
        assert_eq!(
            round_trip("aliyun", &md5, 0).2,
            "14B198324FE55E1D3C88F2E705E201EE"
        );
        md5.insert("sign_method".into(), "hmacsha512".into());
        assert!(client_params("aliyun".parse().unwrap(), &md5).is_err());
    }

    #[test]
    fn onenet_documented_vector_through_suite_parameters() {
        let v = values(&[
            ("product_id", "123123"),
            ("device_name", "mydev"),
            ("access_key", "q6cQQucPT58l4SUG4XC5X9nDB/q36tRnlo9aBJmAu9I="),
            ("expiry", "1537255523"),
            ("method", "sha256"),
        ]);
        let (cid, user, pw) = round_trip("onenet", &v, 1_537_255_523 - 60);
        assert_eq!(cid, "mydev");
        assert_eq!(user.as_deref(), Some("123123"));
        assert_eq!(
            pw,
            "version=2018-10-31&res=products%2F123123%2Fdevices%2Fmydev&et=1537255523&method=sha256&sign=ETf0JOVXnEyo2XjhyFFjC47GlZqFIAeimnXM4BLLw4E%3D"
        );
    }

    #[test]
    fn watson_device_and_quickstart_through_suite_parameters() {
        let v = values(&[
            ("org", "abc123"),
            ("device_type", "sensor"),
            ("device_id", "dev1"),
            ("token", "w4tson-t0ken-(s3cret)"),
        ]);
        let (cid, user, pw) = round_trip("watson", &v, 0);
        assert_eq!(cid, "d:abc123:sensor:dev1");
        assert_eq!(user.as_deref(), Some("use-token-auth"));
        assert_eq!(pw, "w4tson-t0ken-(s3cret)");
        let quick = values(&[("device_type", "sensor"), ("device_id", "dev1")]);
        let (cid, user, _) = round_trip("watson", &quick, 0);
        assert_eq!(cid, "d:quickstart:sensor:dev1");
        assert_eq!(user, None);
        let mut gw = v.clone();
        gw.insert("kind".into(), "gateway".into());
        assert_eq!(round_trip("watson", &gw, 0).0, "g:abc123:sensor:dev1");
    }

    /// Presents (client id, user name, password) to `id`; the rule of the refusal, if any.
    fn refusal(id: &Identity, cid: &str, user: Option<&str>, pw: &str) -> Option<&'static str> {
        id.verify(&Presented::new(cid, user, Some(pw.as_bytes())), 0)
            .err()
            .map(|e| e.rule_id())
    }

    #[test]
    fn watson_further_identities_are_provisioned_next_to_the_device() {
        let mut params = values(&[
            ("org", "${org}"),
            ("device_type", "sensor"),
            ("device_id", "dev1"),
            ("token", "device-token-1"),
        ]);
        let gateway = values(&[
            ("kind", "gateway"),
            ("device_type", "gw"),
            ("device_id", "gw1"),
            ("token", "gateway-token-2"),
        ]);
        let app = values(&[
            ("kind", "application"),
            ("app_id", "app1"),
            ("api_key", "a-abc123-key9"),
            ("token", "api-token-3"),
        ]);
        fold_identities(&mut params, &[gateway, app]);
        assert_eq!(params["identities.0.kind"], "gateway");
        params.insert("org".into(), "abc123".into());
        let scheme = Scheme::Watson;
        // A client logs in as the main identity.
        let creds = client_params(scheme, &params)
            .unwrap()
            .credentials()
            .unwrap();
        assert_eq!(creds.client_id, "d:abc123:sensor:dev1");
        let id = identity(scheme, &params).unwrap();
        let Identity::AnyOf(all) = &id else {
            panic!("several identities: {id:?}")
        };
        assert_eq!(all.len(), 3);
        let tok = Some("use-token-auth");
        assert_eq!(
            refusal(&id, "d:abc123:sensor:dev1", tok, "device-token-1"),
            None
        );
        assert_eq!(
            refusal(&id, "g:abc123:gw:gw1", tok, "gateway-token-2"),
            None
        );
        let key = Some("a-abc123-key9");
        assert_eq!(refusal(&id, "a:abc123:app1", key, "api-token-3"), None);
        // Each refusal is the one of the identity the client meant.
        let wrong = [
            ("g:abc123:gw:gw1", tok, "device-token-1", "WIOTP-AUTH-03"),
            (
                "d:abc123:sensor:dev1",
                tok,
                "gateway-token-2",
                "WIOTP-AUTH-03",
            ),
            ("a:abc123:app1", key, "gateway-token-2", "WIOTP-AUTH-04"),
            ("a:xyz789:app1", key, "api-token-3", "WIOTP-AUTH-04"),
            ("a:abc123:app1", tok, "api-token-3", "WIOTP-AUTH-04"),
            ("g:abc123:gw:other", tok, "gateway-token-2", "WIOTP-AUTH-01"),
            ("g:abc123:gw", tok, "gateway-token-2", "WIOTP-AUTH-01"),
            ("g:abc123:gw:g w", tok, "gateway-token-2", "WIOTP-AUTH-02"),
        ];
        for (cid, user, pw, rule) in wrong {
            assert_eq!(refusal(&id, cid, user, pw), Some(rule), "{cid} {user:?}");
        }
        // A further identity that cannot be built names itself.
        params.insert("identities.1.api_key".into(), "no-key".into());
        params.remove("identities.1.app_id");
        let e = identity(scheme, &params).unwrap_err();
        assert!(e.starts_with("auth.identities[1]:"), "{e}");
    }

    #[test]
    fn an_empty_any_of_accepts_nobody() {
        let id = Identity::AnyOf(Vec::new());
        assert_eq!(refusal(&id, "c", None, "p"), Some("HARNESS-AUTH-00"));
    }
}
