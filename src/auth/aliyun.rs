//! Alibaba Cloud IoT Platform credentials — `vendor-rules.md` §3.
//!
//! * `mqttClientId` = `<clientId>|securemode=<m>,signmethod=<alg>[,timestamp=<ms>]|`, inner
//!   clientId 1–64 characters (ALI-AUTH-01); the key/value list may hold more pairs in any
//!   order and a trailing comma (Link SDK 4.x)
//! * `mqttUsername` = `<deviceName>&<productKey>` (ALI-AUTH-02)
//! * `mqttPassword` = hex HMAC(signmethod, deviceSecret, content) (ALI-AUTH-03) where content
//!   is `clientId<v>deviceName<v>productKey<v>[timestamp<v>]` — the parameters sorted by name,
//!   `name+value` concatenated; signmethod ∈ hmacmd5/hmacsha1/hmacsha256 (ALI-AUTH-04)
//! * the signed clientId/timestamp are the ones in `mqttClientId` (ALI-AUTH-05)
//! * `securemode=-2` uses a DeviceToken instead of an HMAC (ALI-AUTH-06)
//! * hex case is not significant (ALI-AUTH-07); we produce upper case like the doc example.

use super::{AuthError, Credentials, Hash, Presented};
use crate::secret::Secret;

const RULE_CID: &str = "ALI-AUTH-01";
const RULE_USER: &str = "ALI-AUTH-02";
const RULE_SIGN: &str = "ALI-AUTH-03";
const RULE_METHOD: &str = "ALI-AUTH-04";
const RULE_CONTENT: &str = "ALI-AUTH-05";
const RULE_TOKEN: &str = "ALI-AUTH-06";

/// Rules the format alone cannot decide: the HMAC and the content it signs.
pub(crate) const RULES_NEEDING_IDENTITY: &[&str] = &[RULE_SIGN, RULE_CONTENT];

/// Whether `rule` concerns credentials with this client id: `securemode=-2` logins present
/// a DeviceToken (ALI-AUTH-06) and no HMAC; the others an HMAC and no DeviceToken. A client
/// id that does not parse concerns every rule (its own rule reports it).
pub(crate) fn rule_applies(rule: &str, client_id: &str) -> bool {
    let Ok(cid) = parse_client_id(client_id) else {
        return true;
    };
    let token = cid.secure_mode == -2;
    match rule {
        RULE_TOKEN => token,
        RULE_SIGN | RULE_CONTENT => !token,
        _ => true,
    }
}

/// Maximum length of the inner clientId, in characters.
pub const MAX_CLIENT_ID_CHARS: usize = 64;

/// Timestamp both Alibaba C SDKs sign with (2050-01-01); the platform does not check freshness.
pub const SDK_FIXED_TIMESTAMP: u64 = 2_524_608_000_000;

/// `signmethod` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignMethod {
    /// `hmacmd5` (32 hex characters).
    HmacMd5,
    /// `hmacsha1` (40 hex characters).
    HmacSha1,
    /// `hmacsha256` (64 hex characters).
    HmacSha256,
}

impl SignMethod {
    /// Spelling in the client id (`hmacmd5`, `hmacsha1`, `hmacsha256`).
    pub fn as_str(self) -> &'static str {
        match self {
            SignMethod::HmacMd5 => "hmacmd5",
            SignMethod::HmacSha1 => "hmacsha1",
            SignMethod::HmacSha256 => "hmacsha256",
        }
    }

    /// Parses the client-id spelling (exact, lower case as documented).
    pub fn from_client_id_value(s: &str) -> Option<SignMethod> {
        match s {
            "hmacmd5" => Some(SignMethod::HmacMd5),
            "hmacsha1" => Some(SignMethod::HmacSha1),
            "hmacsha256" => Some(SignMethod::HmacSha256),
            _ => None,
        }
    }

    /// Number of hex characters in a password made with this method.
    pub fn hex_len(self) -> usize {
        self.hash().len() * 2
    }

    fn hash(self) -> Hash {
        match self {
            SignMethod::HmacMd5 => Hash::Md5,
            SignMethod::HmacSha1 => Hash::Sha1,
            SignMethod::HmacSha256 => Hash::Sha256,
        }
    }
}

/// One entry of the key/value list between the two `|` of `mqttClientId`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvItem {
    /// `securemode=<Params::secure_mode>`.
    SecureMode,
    /// `signmethod=<Params::sign_method>`.
    SignMethod,
    /// `timestamp=<Params::timestamp>`; left out when the timestamp is `None`.
    Timestamp,
    /// Any other pair, written verbatim (e.g. `_v=sdk-c-4.0.0`).
    Pair(String, String),
}

/// Client-side parameters: everything needed to produce Alibaba credentials.
#[derive(Clone, Debug)]
pub struct Params {
    /// ProductKey.
    pub product_key: String,
    /// DeviceName.
    pub device_name: String,
    /// DeviceSecret (HMAC key).
    pub device_secret: Secret,
    /// Inner clientId (free text ≤ 64 characters; the SDKs use `<pk>.<dn>`).
    pub client_id: String,
    /// Optional timestamp (milliseconds); signed only if announced in the client id.
    pub timestamp: Option<u64>,
    /// Signature algorithm.
    pub sign_method: SignMethod,
    /// `securemode` (2 = TLS, 3 = plain TCP, −2 = DeviceToken, 8 / −1 SDK-only).
    pub secure_mode: i32,
    /// Layout of the key/value list; [`Params::new`] uses the documented
    /// `securemode, signmethod, timestamp`.
    pub kv: Vec<KvItem>,
    /// Whether the key/value list ends with `,` before the closing `|` (Link SDK 4.x does).
    pub trailing_comma: bool,
}

impl Params {
    /// Parameters in the documented layout `<clientId>|securemode=…,signmethod=…[,timestamp=…]|`.
    pub fn new(
        product_key: impl Into<String>,
        device_name: impl Into<String>,
        device_secret: Secret,
        client_id: impl Into<String>,
        sign_method: SignMethod,
        secure_mode: i32,
        timestamp: Option<u64>,
    ) -> Self {
        Params {
            product_key: product_key.into(),
            device_name: device_name.into(),
            device_secret,
            client_id: client_id.into(),
            timestamp,
            sign_method,
            secure_mode,
            kv: vec![KvItem::SecureMode, KvItem::SignMethod, KvItem::Timestamp],
            trailing_comma: false,
        }
    }

    /// Parameters laid out like Link SDK for C 4.x (`core_auth.c`): clientId `<pk>.<dn>`,
    /// fixed timestamp [`SDK_FIXED_TIMESTAMP`], HMAC-SHA256 and
    /// `timestamp=…,_ss=1,_v=sdk-c-4.0.0,securemode=<m>,signmethod=hmacsha256,ext=3,`.
    pub fn link_sdk4(
        product_key: impl Into<String>,
        device_name: impl Into<String>,
        device_secret: Secret,
        secure_mode: i32,
    ) -> Self {
        let (product_key, device_name) = (product_key.into(), device_name.into());
        let pair = |k: &str, v: &str| KvItem::Pair(k.to_owned(), v.to_owned());
        Params {
            client_id: format!("{product_key}.{device_name}"),
            product_key,
            device_name,
            device_secret,
            timestamp: Some(SDK_FIXED_TIMESTAMP),
            sign_method: SignMethod::HmacSha256,
            secure_mode,
            kv: vec![
                KvItem::Timestamp,
                pair("_ss", "1"),
                pair("_v", "sdk-c-4.0.0"),
                KvItem::SecureMode,
                KvItem::SignMethod,
                pair("ext", "3"),
            ],
            trailing_comma: true,
        }
    }

    /// Whether the timestamp will appear in the client id (and hence is signed).
    fn announces_timestamp(&self) -> bool {
        self.timestamp.is_some() && self.kv.contains(&KvItem::Timestamp)
    }

    /// The full `mqttClientId`.
    pub fn mqtt_client_id(&self) -> String {
        let mut parts = Vec::with_capacity(self.kv.len());
        for item in &self.kv {
            match item {
                KvItem::SecureMode => parts.push(format!("securemode={}", self.secure_mode)),
                KvItem::SignMethod => {
                    parts.push(format!("signmethod={}", self.sign_method.as_str()))
                }
                KvItem::Timestamp => {
                    if let Some(ts) = self.timestamp {
                        parts.push(format!("timestamp={ts}"));
                    }
                }
                KvItem::Pair(k, v) => parts.push(format!("{k}={v}")),
            }
        }
        let comma = if self.trailing_comma { "," } else { "" };
        format!("{}|{}{comma}|", self.client_id, parts.join(","))
    }

    /// The content that is signed (clientId and timestamp exactly as announced).
    pub fn sign_content(&self) -> String {
        let ts = self
            .timestamp
            .filter(|_| self.announces_timestamp())
            .map(|t| t.to_string());
        sign_content(
            Some(&self.client_id),
            &self.device_name,
            &self.product_key,
            ts.as_deref(),
        )
    }

    /// Builds `mqttClientId`, `mqttUsername` and `mqttPassword`.
    pub fn credentials(&self) -> Credentials {
        Credentials {
            client_id: self.mqtt_client_id(),
            username: Some(username(&self.device_name, &self.product_key)),
            password: Some(sign(
                &self.device_secret,
                &self.sign_content(),
                self.sign_method,
            )),
        }
    }

    /// The server-side view of the same device.
    pub fn identity(&self) -> Identity {
        Identity {
            product_key: self.product_key.clone(),
            device_name: self.device_name.clone(),
            device_secret: self.device_secret.clone(),
        }
    }
}

/// Server-side knowledge of one device.
#[derive(Clone, Debug)]
pub struct Identity {
    /// ProductKey.
    pub product_key: String,
    /// DeviceName.
    pub device_name: String,
    /// DeviceSecret.
    pub device_secret: Secret,
}

/// `<deviceName>&<productKey>`.
pub fn username(device_name: &str, product_key: &str) -> String {
    format!("{device_name}&{product_key}")
}

/// The signed content: present parameters sorted by name, `name+value`, no separators.
pub fn sign_content(
    client_id: Option<&str>,
    device_name: &str,
    product_key: &str,
    timestamp: Option<&str>,
) -> String {
    // The four names are already in sorted order: clientId < deviceName < productKey < timestamp.
    let mut s = String::new();
    if let Some(c) = client_id {
        s.push_str("clientId");
        s.push_str(c);
    }
    s.push_str("deviceName");
    s.push_str(device_name);
    s.push_str("productKey");
    s.push_str(product_key);
    if let Some(t) = timestamp {
        s.push_str("timestamp");
        s.push_str(t);
    }
    s
}

/// Upper-case hex HMAC of `content` keyed with the device secret (the MQTT password).
pub fn sign(device_secret: &Secret, content: &str, method: SignMethod) -> Secret {
    Secret::new(hex::encode_upper(
        method
            .hash()
            .hmac(device_secret.expose().as_bytes(), content.as_bytes()),
    ))
}

/// A parsed `mqttClientId`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientId {
    /// Inner clientId (before the first `|`).
    pub client_id: String,
    /// `securemode` value.
    pub secure_mode: i32,
    /// `signmethod` value.
    pub sign_method: SignMethod,
    /// `timestamp` value as sent, if present.
    pub timestamp: Option<String>,
    /// Every key/value pair in the order sent.
    pub pairs: Vec<(String, String)>,
    /// Whether the list ended with a `,`.
    pub trailing_comma: bool,
}

impl ClientId {
    /// Value of a key in the list.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses `mqttClientId` (ALI-AUTH-01: `^[^|]{1,64}[|][^|]*[|]$` with `securemode` and
/// `signmethod` in the list; an unknown signmethod is ALI-AUTH-04).
pub fn parse_client_id(mqtt_client_id: &str) -> Result<ClientId, AuthError> {
    let bad = |reason: String| AuthError::Malformed {
        rule: RULE_CID,
        field: "client id",
        found: Some(mqtt_client_id.to_owned()),
        reason,
    };
    let parts: Vec<&str> = mqtt_client_id.split('|').collect();
    if parts.len() != 3 || !parts[2].is_empty() {
        return Err(bad(
            "expected `<clientId>|<key=value,…>|` with exactly two `|`, the last one at the end"
                .into(),
        ));
    }
    let (inner, list) = (parts[0], parts[1]);
    let chars = inner.chars().count();
    if chars == 0 {
        return Err(bad("inner clientId is empty".into()));
    }
    if chars > MAX_CLIENT_ID_CHARS {
        return Err(bad(format!(
            "inner clientId has {chars} characters, at most {MAX_CLIENT_ID_CHARS} allowed"
        )));
    }
    let trailing_comma = list.ends_with(',');
    let body = list.strip_suffix(',').unwrap_or(list);
    let mut pairs: Vec<(String, String)> = Vec::new();
    if !body.is_empty() {
        for item in body.split(',') {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| bad(format!("list item `{item}` is not `key=value`")))?;
            if k.is_empty() {
                return Err(bad(format!("list item `{item}` has an empty key")));
            }
            if pairs.iter().any(|(seen, _)| seen == k) {
                return Err(bad(format!("key `{k}` appears twice")));
            }
            pairs.push((k.to_owned(), v.to_owned()));
        }
    }
    let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let secure_mode = get("securemode")
        .ok_or_else(|| bad("no `securemode`".into()))?
        .parse::<i32>()
        .map_err(|_| bad("`securemode` is not an integer".into()))?;
    let method_text = get("signmethod").ok_or_else(|| bad("no `signmethod`".into()))?;
    let sign_method =
        SignMethod::from_client_id_value(&method_text).ok_or(AuthError::SignMethod {
            rule: RULE_METHOD,
            found: method_text,
            allowed: "hmacmd5, hmacsha1, hmacsha256",
        })?;
    Ok(ClientId {
        client_id: inner.to_owned(),
        secure_mode,
        sign_method,
        timestamp: get("timestamp"),
        pairs,
        trailing_comma,
    })
}

/// A parsed `mqttUsername`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username {
    /// DeviceName (before `&`).
    pub device_name: String,
    /// ProductKey (after `&`).
    pub product_key: String,
}

/// Parses `mqttUsername` (ALI-AUTH-02: `^[^&]+&[^&]+$`).
pub fn parse_username(username: &str) -> Result<Username, AuthError> {
    match username.split_once('&') {
        Some((dn, pk)) if !dn.is_empty() && !pk.is_empty() && !pk.contains('&') => Ok(Username {
            device_name: dn.to_owned(),
            product_key: pk.to_owned(),
        }),
        _ => Err(AuthError::Malformed {
            rule: RULE_USER,
            field: "user name",
            found: Some(username.to_owned()),
            reason: "expected `<deviceName>&<productKey>`".into(),
        }),
    }
}

/// Whether `s` looks like a hex HMAC (32, 40 or 64 hex digits).
fn looks_like_hex_hmac(s: &str) -> bool {
    matches!(s.len(), 32 | 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Checks every rule that needs no secret (ALI-AUTH-01, -02, -04, -06): client id and user
/// name forms, and a password whose length matches the signmethod (or, for
/// `securemode=-2`, a password that is not a hex HMAC).
pub fn check_format(presented: &Presented<'_>) -> Result<(ClientId, Username), AuthError> {
    format(presented).map(|(cid, user, _)| (cid, user))
}

/// [`check_format`], also returning the decoded password for HMAC modes.
fn format(presented: &Presented<'_>) -> Result<(ClientId, Username, Vec<u8>), AuthError> {
    let cid = parse_client_id(presented.client_id)?;
    let user = parse_username(presented.require_username(RULE_USER)?)?;
    let pw = presented.require_password_text(RULE_SIGN)?;
    if cid.secure_mode == -2 {
        if looks_like_hex_hmac(pw) {
            return Err(AuthError::Malformed {
                rule: RULE_TOKEN,
                field: "password",
                found: None,
                reason: "securemode=-2 expects a DeviceToken, not a hex HMAC".into(),
            });
        }
        return Ok((cid, user, Vec::new()));
    }
    let method = cid.sign_method;
    if pw.len() != method.hex_len() {
        return Err(AuthError::SignatureLength {
            rule: RULE_METHOD,
            what: "hex password",
            method: method.as_str(),
            expected: method.hex_len(),
            found: pw.len(),
        });
    }
    // `hex` accepts either case, which is ALI-AUTH-07.
    let tag = hex::decode(pw).map_err(|_| AuthError::Malformed {
        rule: RULE_SIGN,
        field: "password",
        found: None,
        reason: "not hexadecimal".into(),
    })?;
    Ok((cid, user, tag))
}

/// Verifies presented credentials against a provisioned device: format
/// ([`check_format`]), device name and product key, and the HMAC over the content built from
/// the clientId and timestamp announced in `mqttClientId`. Upper- and lower-case hex are
/// both accepted (ALI-AUTH-07).
///
/// A signature that is valid only for content without the announced clientId or timestamp
/// is reported as [`AuthError::SignedContentMismatch`] (ALI-AUTH-05); `securemode=-2`
/// (DeviceToken) cannot be verified with the device secret and is reported as
/// [`AuthError::Unsupported`] (ALI-AUTH-06).
pub fn verify(
    presented: &Presented<'_>,
    identity: &Identity,
) -> Result<(ClientId, Username), AuthError> {
    verify_inner(presented, identity)
        .map_err(|e| presented.redact(e, Some(&identity.device_secret)))
}

fn verify_inner(
    presented: &Presented<'_>,
    identity: &Identity,
) -> Result<(ClientId, Username), AuthError> {
    let (cid, user, tag) = format(presented)?;
    if user.device_name == identity.product_key && user.product_key == identity.device_name {
        return Err(AuthError::Swapped {
            rule: RULE_USER,
            first: "device name",
            second: "product key",
        });
    }
    if user.device_name != identity.device_name {
        return Err(AuthError::Mismatch {
            rule: RULE_USER,
            field: "device name",
            expected: identity.device_name.clone(),
            found: user.device_name,
        });
    }
    if user.product_key != identity.product_key {
        return Err(AuthError::Mismatch {
            rule: RULE_USER,
            field: "product key",
            expected: identity.product_key.clone(),
            found: user.product_key,
        });
    }
    if cid.secure_mode == -2 {
        return Err(AuthError::Unsupported {
            rule: RULE_TOKEN,
            reason: "securemode=-2 authenticates with a DeviceToken from dynamic registration, \
                     not with an HMAC; it cannot be recomputed here"
                .into(),
        });
    }
    let hash = cid.sign_method.hash();
    let key = identity.device_secret.expose().as_bytes();
    let announced = sign_content(
        Some(&cid.client_id),
        &user.device_name,
        &user.product_key,
        cid.timestamp.as_deref(),
    );
    if hash.hmac_verify(key, announced.as_bytes(), &tag) {
        return Ok((cid, user));
    }
    // Diagnose the common mistake of signing fewer parameters than were announced.
    let cid_opts = [Some(cid.client_id.as_str()), None];
    let ts_opts = [cid.timestamp.as_deref(), None];
    for c in cid_opts {
        for t in ts_opts {
            let alt = sign_content(c, &user.device_name, &user.product_key, t);
            if alt != announced && hash.hmac_verify(key, alt.as_bytes(), &tag) {
                return Err(AuthError::SignedContentMismatch {
                    rule: RULE_CONTENT,
                    signed: alt,
                    announced,
                });
            }
        }
    }
    Err(AuthError::SignatureMismatch {
        rule: RULE_SIGN,
        algorithm: hash.hmac_name(),
        content: announced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_id_forms() {
        let c = parse_client_id("12345|securemode=3,signmethod=hmacsha1,timestamp=789|").unwrap();
        assert_eq!(c.client_id, "12345");
        assert_eq!(c.secure_mode, 3);
        assert_eq!(c.sign_method, SignMethod::HmacSha1);
        assert_eq!(c.timestamp.as_deref(), Some("789"));
        assert!(!c.trailing_comma);
        let c = parse_client_id("x|securemode=-2,signmethod=hmacmd5,|").unwrap();
        assert!(c.trailing_comma);
        assert_eq!(c.secure_mode, -2);
        assert_eq!(c.timestamp, None);
        for (bad, rule) in [
            ("12345", RULE_CID),
            ("12345|securemode=3,signmethod=hmacsha1", RULE_CID),
            ("12345|securemode=3,signmethod=hmacsha1|x", RULE_CID),
            ("|securemode=3,signmethod=hmacsha1|", RULE_CID),
            ("12345|signmethod=hmacsha1|", RULE_CID),
            ("12345|securemode=3|", RULE_CID),
            ("12345|securemode=x,signmethod=hmacsha1|", RULE_CID),
            (
                "12345|securemode=3,securemode=2,signmethod=hmacsha1|",
                RULE_CID,
            ),
            ("12345|securemode=3,,signmethod=hmacsha1|", RULE_CID),
            ("12345|securemode=3,signmethod=sha256|", RULE_METHOD),
            ("12345|securemode=3,signmethod=HMACSHA1|", RULE_METHOD),
        ] {
            assert_eq!(parse_client_id(bad).unwrap_err().rule_id(), rule, "{bad}");
        }
        let long = format!("{}|securemode=3,signmethod=hmacsha1|", "a".repeat(65));
        assert_eq!(parse_client_id(&long).unwrap_err().rule_id(), RULE_CID);
        let ok = format!("{}|securemode=3,signmethod=hmacsha1|", "a".repeat(64));
        assert!(parse_client_id(&ok).is_ok());
    }

    #[test]
    fn username_form() {
        assert_eq!(
            parse_username("device&pk").unwrap(),
            Username {
                device_name: "device".into(),
                product_key: "pk".into()
            }
        );
        for bad in ["device", "&pk", "device&", "a&b&c", "pk.device"] {
            assert_eq!(parse_username(bad).unwrap_err().rule_id(), RULE_USER);
        }
    }
}
