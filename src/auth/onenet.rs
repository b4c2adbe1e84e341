//! China Mobile OneNET (MQTTS suite / Studio) credentials — `vendor-rules.md` §4.
//!
//! * client id = device name, user name = product ID, password = token (ONENET-AUTH-01)
//! * token = `version=<v>&res=<res>&et=<et>&method=<m>&sign=<sign>`, version `2018-10-31`
//!   (ONENET-AUTH-02)
//! * `sign = base64(HMAC_method(base64decode(accessKey), "et\nmethod\nres\nversion"))`,
//!   method ∈ md5/sha1/sha256 (ONENET-AUTH-03)
//! * every value URL-encoded; a raw `/`, `+`, `=` (or space, `?`, `#`) inside a value is a
//!   format violation (ONENET-AUTH-04)
//! * `et` (Unix seconds) before "now" ⇒ refused (ONENET-AUTH-05); "now" is always a
//!   parameter so results are deterministic
//! * device login uses `res=products/{pid}/devices/{dn}` with the device key; a product-level
//!   `res=products/{pid}` is for API access (ONENET-AUTH-06)
//!
//! Tokens are produced with the same encoding as the reference signer (Python
//! `urllib.parse.quote(safe="")`): everything except `A-Z a-z 0-9 - . _ ~` is percent-encoded.
//! Parameters may appear in any order when parsing (the token is a query string).

use std::fmt::{self, Write as _};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::{AuthError, Credentials, Hash, Presented};
use crate::secret::Secret;

const RULE_FIELDS: &str = "ONENET-AUTH-01";
const RULE_TOKEN: &str = "ONENET-AUTH-02";
const RULE_SIGN: &str = "ONENET-AUTH-03";
const RULE_ENC: &str = "ONENET-AUTH-04";
const RULE_EXP: &str = "ONENET-AUTH-05";
const RULE_RES: &str = "ONENET-AUTH-06";

/// Rules the format alone cannot decide: the token's signature.
pub(crate) const RULES_NEEDING_IDENTITY: &[&str] = &[RULE_SIGN];

/// The only documented token version.
pub const VERSION: &str = "2018-10-31";

/// `et` the official SDK signs with (2050-01-01).
pub const SDK_EXPIRY: u64 = 2_524_579_200;

/// Token `method`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `md5`.
    Md5,
    /// `sha1`.
    Sha1,
    /// `sha256`.
    Sha256,
}

impl Method {
    /// Spelling in the token.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Md5 => "md5",
            Method::Sha1 => "sha1",
            Method::Sha256 => "sha256",
        }
    }

    /// Parses the token spelling (exact).
    pub fn from_token_value(s: &str) -> Option<Method> {
        match s {
            "md5" => Some(Method::Md5),
            "sha1" => Some(Method::Sha1),
            "sha256" => Some(Method::Sha256),
            _ => None,
        }
    }

    fn hash(self) -> Hash {
        match self {
            Method::Md5 => Hash::Md5,
            Method::Sha1 => Hash::Sha1,
            Method::Sha256 => Hash::Sha256,
        }
    }
}

/// Whether a token is scoped to one device or to the whole product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceLevel {
    /// `products/{pid}/devices/{dn}` signed with the device key (device login).
    Device,
    /// `products/{pid}` signed with the product key (API access).
    Product,
}

/// The token's `res` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resource {
    /// `products/{product_id}`.
    Product {
        /// Product ID.
        product_id: String,
    },
    /// `products/{product_id}/devices/{device_name}`.
    Device {
        /// Product ID.
        product_id: String,
        /// Device name.
        device_name: String,
    },
}

impl Resource {
    /// Parses a decoded `res` value (ONENET-AUTH-06 on a wrong shape).
    pub fn parse(res: &str) -> Result<Resource, AuthError> {
        let parts: Vec<&str> = res.split('/').collect();
        let ok = |s: &&str| !s.is_empty();
        match parts.as_slice() {
            ["products", pid] if ok(pid) => Ok(Resource::Product {
                product_id: (*pid).to_owned(),
            }),
            ["products", pid, "devices", dn] if ok(pid) && ok(dn) => Ok(Resource::Device {
                product_id: (*pid).to_owned(),
                device_name: (*dn).to_owned(),
            }),
            _ => Err(AuthError::Malformed {
                rule: RULE_RES,
                field: "token res",
                found: Some(res.to_owned()),
                reason: "expected `products/{pid}/devices/{device-name}` or `products/{pid}`"
                    .into(),
            }),
        }
    }

    /// The level of this resource.
    pub fn level(&self) -> ResourceLevel {
        match self {
            Resource::Product { .. } => ResourceLevel::Product,
            Resource::Device { .. } => ResourceLevel::Device,
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Product { product_id } => write!(f, "products/{product_id}"),
            Resource::Device {
                product_id,
                device_name,
            } => write!(f, "products/{product_id}/devices/{device_name}"),
        }
    }
}

/// Client-side parameters: everything needed to produce OneNET credentials.
#[derive(Clone, Debug)]
pub struct Params {
    /// Product ID (the MQTT user name).
    pub product_id: String,
    /// Device name (the MQTT client id).
    pub device_name: String,
    /// Access key, base64 as shown in the console (device key or product key, see `level`).
    pub access_key: Secret,
    /// Expiry `et`, Unix seconds.
    pub expiry: u64,
    /// Signature method.
    pub method: Method,
    /// Token version (normally [`VERSION`]).
    pub version: String,
    /// Device-level or product-level `res`.
    pub level: ResourceLevel,
}

impl Params {
    /// Device-level parameters with version [`VERSION`].
    pub fn new(
        product_id: impl Into<String>,
        device_name: impl Into<String>,
        access_key: Secret,
        expiry: u64,
        method: Method,
    ) -> Self {
        Params {
            product_id: product_id.into(),
            device_name: device_name.into(),
            access_key,
            expiry,
            method,
            version: VERSION.to_owned(),
            level: ResourceLevel::Device,
        }
    }

    /// The `res` these parameters sign.
    pub fn resource(&self) -> Resource {
        match self.level {
            ResourceLevel::Device => Resource::Device {
                product_id: self.product_id.clone(),
                device_name: self.device_name.clone(),
            },
            ResourceLevel::Product => Resource::Product {
                product_id: self.product_id.clone(),
            },
        }
    }

    /// The token (MQTT password).
    pub fn token(&self) -> Result<Secret, AuthError> {
        token(
            &self.resource(),
            self.expiry,
            self.method,
            &self.version,
            &self.access_key,
        )
    }

    /// Builds client id (device name), user name (product ID) and password (token).
    /// Fails only if the access key is not base64.
    pub fn credentials(&self) -> Result<Credentials, AuthError> {
        Ok(Credentials {
            client_id: self.device_name.clone(),
            username: Some(self.product_id.clone()),
            password: Some(self.token()?),
        })
    }
}

/// Server-side knowledge of one device.
#[derive(Clone, Debug)]
pub struct Identity {
    /// Product ID.
    pub product_id: String,
    /// Device name.
    pub device_name: String,
    /// Device access key (base64).
    pub access_key: Secret,
}

/// `et + "\n" + method + "\n" + res + "\n" + version` (values sorted by parameter name).
pub fn string_for_signature(et: u64, method: Method, res: &str, version: &str) -> String {
    format!("{et}\n{}\n{res}\n{version}", method.as_str())
}

fn decode_key(access_key: &Secret) -> Result<Vec<u8>, AuthError> {
    B64.decode(access_key.expose())
        .map_err(|_| AuthError::BadSecret {
            rule: RULE_SIGN,
            what: "access key",
            reason: "not valid base64".into(),
        })
}

/// `base64(HMAC_method(base64decode(access_key), string_for_signature))` — the `sign` value
/// before URL encoding.
pub fn sign(
    access_key: &Secret,
    string_for_signature: &str,
    method: Method,
) -> Result<Secret, AuthError> {
    let key = decode_key(access_key)?;
    Ok(Secret::new(B64.encode(
        method.hash().hmac(&key, string_for_signature.as_bytes()),
    )))
}

/// The complete token `version=…&res=…&et=…&method=…&sign=…` with URL-encoded values.
pub fn token(
    res: &Resource,
    et: u64,
    method: Method,
    version: &str,
    access_key: &Secret,
) -> Result<Secret, AuthError> {
    let res = res.to_string();
    let sign = sign(
        access_key,
        &string_for_signature(et, method, &res, version),
        method,
    )?;
    Ok(Secret::new(format!(
        "version={}&res={}&et={et}&method={}&sign={}",
        url_encode(version),
        url_encode(&res),
        method.as_str(),
        url_encode(sign.expose())
    )))
}

/// Percent-encodes everything except the unreserved characters `A-Z a-z 0-9 - . _ ~`
/// (upper-case hex digits), like Python's `urllib.parse.quote(s, safe="")`.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Decodes one token value; raw reserved characters and bad escapes are ONENET-AUTH-04.
/// `what` names the value for messages; `show` says whether the raw value may be quoted.
fn url_decode(value: &str, what: &'static str, show: bool) -> Result<String, AuthError> {
    let bad = |reason: String| AuthError::Malformed {
        rule: RULE_ENC,
        field: what,
        found: show.then(|| value.to_owned()),
        reason,
    };
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| bad("`%` not followed by two hex digits".into()))?;
                out.push(hex);
                i += 3;
            }
            c @ (b'/' | b'+' | b'=' | b' ' | b'?' | b'#') => {
                return Err(bad(format!(
                    "contains a raw `{}`; reserved characters must be percent-encoded",
                    char::from(c)
                )));
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| bad("decodes to invalid UTF-8".into()))
}

/// A parsed (URL-decoded) token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// `version`.
    pub version: String,
    /// `res`.
    pub res: Resource,
    /// `et`, Unix seconds.
    pub et: u64,
    /// `method`.
    pub method: Method,
    /// `sign`, base64 text after URL decoding (part of the credential, hence secret).
    pub sign: Secret,
}

impl Token {
    /// ONENET-AUTH-05: refuses an `et` before `now` (both Unix seconds).
    pub fn check_expiry(&self, now: u64) -> Result<(), AuthError> {
        if self.et < now {
            Err(AuthError::Expired {
                rule: RULE_EXP,
                et: self.et,
                now,
            })
        } else {
            Ok(())
        }
    }

    /// The string the signature must cover.
    pub fn string_for_signature(&self) -> String {
        string_for_signature(self.et, self.method, &self.res.to_string(), &self.version)
    }

    /// ONENET-AUTH-03: checks `sign` against `access_key` (base64) in constant time.
    /// Does not check expiry (see [`Token::check_expiry`]).
    pub fn verify_signature(&self, access_key: &Secret) -> Result<(), AuthError> {
        let key = decode_key(access_key)?;
        // Parsing already checked that `sign` is base64 of the right length.
        let tag = B64.decode(self.sign.expose()).unwrap_or_default();
        let sfs = self.string_for_signature();
        let hash = self.method.hash();
        if hash.hmac_verify(&key, sfs.as_bytes(), &tag) {
            Ok(())
        } else {
            Err(AuthError::SignatureMismatch {
                rule: RULE_SIGN,
                algorithm: hash.hmac_name(),
                content: sfs.replace('\n', "\\n"),
            })
        }
    }
}

/// Parses a token (the MQTT password) without a key: all five parameters exactly once
/// (ONENET-AUTH-02), version `2018-10-31` (-02), values URL-encoded (-04), `res` shape (-06),
/// `method` known and `sign` base64 of the digest length (-03).
pub fn parse_token(token: &str) -> Result<Token, AuthError> {
    let bad = |reason: String| AuthError::Malformed {
        rule: RULE_TOKEN,
        field: "token",
        found: None,
        reason,
    };
    let mut slots: [Option<&str>; 5] = [None; 5];
    const KEYS: [&str; 5] = ["version", "res", "et", "method", "sign"];
    for item in token.split('&') {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| bad("a parameter is not `name=value`".into()))?;
        let idx = KEYS.iter().position(|key| *key == k).ok_or_else(|| {
            // Quote the name only if short: a garbled token could hold key material.
            bad(if k.len() <= 16 {
                format!("unknown parameter `{k}`")
            } else {
                "unknown parameter".into()
            })
        })?;
        if slots[idx].replace(v).is_some() {
            return Err(bad(format!("parameter `{k}` appears twice")));
        }
    }
    let get = |i: usize| slots[i].ok_or_else(|| bad(format!("parameter `{}` is missing", KEYS[i])));
    let version = url_decode(get(0)?, "token version", true)?;
    let res = url_decode(get(1)?, "token res", true)?;
    let et_text = url_decode(get(2)?, "token et", true)?;
    let method_text = url_decode(get(3)?, "token method", true)?;
    let sign = Secret::new(url_decode(get(4)?, "token sign", false)?);

    if version != VERSION {
        return Err(AuthError::Mismatch {
            rule: RULE_TOKEN,
            field: "token version",
            expected: VERSION.to_owned(),
            found: version,
        });
    }
    let et = et_text
        .parse::<u64>()
        .ok()
        .filter(|_| et_text.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| AuthError::Malformed {
            rule: RULE_TOKEN,
            field: "token et",
            found: Some(et_text.clone()),
            reason: "not a Unix time in seconds".into(),
        })?;
    let method = Method::from_token_value(&method_text).ok_or(AuthError::SignMethod {
        rule: RULE_SIGN,
        found: method_text,
        allowed: "md5, sha1, sha256",
    })?;
    let res = Resource::parse(&res)?;
    let tag = B64
        .decode(sign.expose())
        .map_err(|_| AuthError::Malformed {
            rule: RULE_SIGN,
            field: "token sign",
            found: None,
            reason: "not valid base64".into(),
        })?;
    if tag.len() != method.hash().len() {
        return Err(AuthError::SignatureLength {
            rule: RULE_SIGN,
            what: "decoded sign",
            method: method.as_str(),
            expected: method.hash().len(),
            found: tag.len(),
        });
    }
    Ok(Token {
        version,
        res,
        et,
        method,
        sign,
    })
}

/// Checks every rule that needs no key: token format, `res` naming the client id and user
/// name at device level, and expiry against `now` (Unix seconds).
pub fn check_format(presented: &Presented<'_>, now: u64) -> Result<Token, AuthError> {
    let token = format(presented)?;
    token.check_expiry(now)?;
    Ok(token)
}

/// Format checks without expiry.
fn format(presented: &Presented<'_>) -> Result<Token, AuthError> {
    let product_id = presented.require_username(RULE_FIELDS)?;
    let pw = presented.require_password_text(RULE_FIELDS)?;
    let token = parse_token(pw)?;
    match &token.res {
        Resource::Product { .. } => Err(AuthError::ProductLevelToken {
            rule: RULE_RES,
            res: token.res.to_string(),
        }),
        Resource::Device {
            product_id: pid,
            device_name: dn,
        } => {
            if pid == presented.client_id && dn == product_id {
                return Err(AuthError::Swapped {
                    rule: RULE_FIELDS,
                    first: "client id",
                    second: "user name",
                });
            }
            if pid != product_id {
                return Err(AuthError::Mismatch {
                    rule: RULE_RES,
                    field: "product id in token res (vs user name)",
                    expected: product_id.to_owned(),
                    found: pid.clone(),
                });
            }
            if dn != presented.client_id {
                return Err(AuthError::Mismatch {
                    rule: RULE_RES,
                    field: "device name in token res (vs client id)",
                    expected: presented.client_id.to_owned(),
                    found: dn.clone(),
                });
            }
            Ok(token)
        }
    }
}

/// Verifies presented credentials against a provisioned device: client id = device name and
/// user name = product ID (ONENET-AUTH-01), the token format, a device-level `res` naming this
/// device (-06), the signature with the device key (-03) and expiry against `now` (-05).
pub fn verify(
    presented: &Presented<'_>,
    identity: &Identity,
    now: u64,
) -> Result<Token, AuthError> {
    verify_inner(presented, identity, now)
        .map_err(|e| presented.redact(e, Some(&identity.access_key)))
}

fn verify_inner(
    presented: &Presented<'_>,
    identity: &Identity,
    now: u64,
) -> Result<Token, AuthError> {
    let username = presented.require_username(RULE_FIELDS)?;
    if presented.client_id == identity.product_id && username == identity.device_name {
        return Err(AuthError::Swapped {
            rule: RULE_FIELDS,
            first: "client id",
            second: "user name",
        });
    }
    if presented.client_id != identity.device_name {
        return Err(AuthError::Mismatch {
            rule: RULE_FIELDS,
            field: "client id (device name)",
            expected: identity.device_name.clone(),
            found: presented.client_id.to_owned(),
        });
    }
    if username != identity.product_id {
        return Err(AuthError::Mismatch {
            rule: RULE_FIELDS,
            field: "user name (product id)",
            expected: identity.product_id.clone(),
            found: username.to_owned(),
        });
    }
    let token = format(presented)?;
    token.verify_signature(&identity.access_key)?;
    token.check_expiry(now)?;
    Ok(token)
}

/// Verifies a token on its own (any `res` level) with the matching key: signature, then
/// expiry. Use this to accept product-level tokens, which [`verify`] refuses for device login.
pub fn verify_token(token: &str, access_key: &Secret, now: u64) -> Result<Token, AuthError> {
    let run = || {
        let t = parse_token(token)?;
        t.verify_signature(access_key)?;
        t.check_expiry(now)?;
        Ok(t)
    };
    run().map_err(|e: AuthError| e.redacted_all(&[access_key.expose(), token]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_coding() {
        assert_eq!(url_encode("a/b+c=d e~_.-"), "a%2Fb%2Bc%3Dd%20e~_.-");
        assert_eq!(url_decode("a%2Fb%2bc", "x", true).unwrap(), "a/b+c");
        for bad in ["a/b", "a+b", "a=b", "a%2", "a%zz", "a b"] {
            assert_eq!(
                url_decode(bad, "x", true).unwrap_err().rule_id(),
                RULE_ENC,
                "{bad}"
            );
        }
    }

    #[test]
    fn resource_shapes() {
        assert_eq!(
            Resource::parse("products/1/devices/d").unwrap().to_string(),
            "products/1/devices/d"
        );
        assert_eq!(
            Resource::parse("products/1").unwrap().level(),
            ResourceLevel::Product
        );
        for bad in [
            "products",
            "products/",
            "product/1",
            "products/1/devices",
            "products/1/devices/d/x",
            "products//devices/d",
        ] {
            assert_eq!(
                Resource::parse(bad).unwrap_err().rule_id(),
                RULE_RES,
                "{bad}"
            );
        }
    }

    #[test]
    fn token_structure_errors() {
        let ok = "version=2018-10-31&res=products%2F1%2Fdevices%2Fd&et=1&method=sha1&sign=WxyhGI9%2FH7EJUsRiR2CuNsaYnxw%3D";
        assert!(parse_token(ok).is_ok());
        // Any parameter order is accepted.
        let reordered = "sign=WxyhGI9%2FH7EJUsRiR2CuNsaYnxw%3D&et=1&method=sha1&res=products%2F1%2Fdevices%2Fd&version=2018-10-31";
        assert_eq!(parse_token(reordered).unwrap(), parse_token(ok).unwrap());
        for (bad, rule) in [
            (
                "version=2018-10-31&res=products%2F1%2Fdevices%2Fd&et=1&method=sha1",
                RULE_TOKEN,
            ),
            (&format!("{ok}&x=1"), RULE_TOKEN),
            (&format!("{ok}&et=2"), RULE_TOKEN),
            (&ok.replace("2018-10-31", "2020-01-01"), RULE_TOKEN),
            (&ok.replace("et=1", "et=-1"), RULE_TOKEN),
            (&ok.replace("et=1", "et=+1"), RULE_ENC),
            (&ok.replace("sha1", "sha512"), RULE_SIGN),
            (&ok.replace("sign=Wxyh", "sign=Wxy"), RULE_SIGN),
            (&ok.replace("method=sha1", "method=sha256"), RULE_SIGN),
            (&ok.replace("%3D", "="), RULE_ENC),
            (&ok.replace("%2F1%2F", "/1/"), RULE_ENC),
            (
                &ok.replace("products%2F1%2Fdevices%2Fd", "items%2F1"),
                RULE_RES,
            ),
        ] {
            assert_eq!(parse_token(bad).unwrap_err().rule_id(), rule, "{bad}");
        }
    }
}
