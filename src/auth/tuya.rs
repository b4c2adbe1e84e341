//! Tuya (TuyaLink "MQTT standard protocol") credentials — `vendor-rules.md` §2.
//!
//! * client id `tuyalink_<deviceId>` (TUYA-AUTH-01)
//! * user name `<deviceId>|signMethod=hmacSha256,timestamp=<ts>,secureMode=1,accessType=1`
//!   (TUYA-AUTH-02; `securemode` is accepted too, see below)
//! * password = lower-case hex HMAC-SHA256 (or HMAC-SHA1, TUYA-AUTH-04) with the device secret
//!   as key over `deviceId=<id>,timestamp=<ts>,secureMode=1,accessType=1` (TUYA-AUTH-03)
//! * `ts` is 10-digit seconds or 13-digit milliseconds (TUYA-AUTH-05)
//!
//! The verifier always takes `ts` from the user name actually sent: the seed document's user
//! name and password examples use different timestamps. The user-name key may be spelled
//! `secureMode` or `securemode` (an older SDK sends the latter; DOC\*/INF in §2.1); the signed
//! content always uses `secureMode`.

use super::{AuthError, Credentials, Hash, Presented, is_epoch_digits};
use crate::secret::Secret;

const RULE_CID: &str = "TUYA-AUTH-01";
const RULE_USER: &str = "TUYA-AUTH-02";
const RULE_SIGN: &str = "TUYA-AUTH-03";
const RULE_LEN: &str = "TUYA-AUTH-04";
const RULE_TS: &str = "TUYA-AUTH-05";

/// Rules the format alone cannot decide: the signature, and that the timestamp is the one
/// signed.
pub(crate) const RULES_NEEDING_IDENTITY: &[&str] = &[RULE_SIGN, RULE_TS];

/// The format rules [`check_format`] has checked, and found holding, by the time it
/// reports a violation of `rule`: it reads the user name, then the client id, then the
/// password.
pub(crate) fn checked_before(rule: &str) -> &'static [&'static str] {
    match rule {
        RULE_CID => &[RULE_USER],
        RULE_SIGN | RULE_LEN => &[RULE_USER, RULE_CID],
        _ => &[],
    }
}

/// Prefix of every Tuya client id.
pub const CLIENT_ID_PREFIX: &str = "tuyalink_";

/// Signature algorithm announced in the user name's `signMethod`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignMethod {
    /// `hmacSha256` — 64 hex characters.
    HmacSha256,
    /// `hmacSha1` — 40 hex characters.
    HmacSha1,
}

impl SignMethod {
    /// Spelling in the user name (`hmacSha256` / `hmacSha1`).
    pub fn as_str(self) -> &'static str {
        match self {
            SignMethod::HmacSha256 => "hmacSha256",
            SignMethod::HmacSha1 => "hmacSha1",
        }
    }

    /// Parses the user-name spelling; exact, as in the TUYA-AUTH-02 pattern.
    pub fn from_username_value(s: &str) -> Option<SignMethod> {
        match s {
            "hmacSha256" => Some(SignMethod::HmacSha256),
            "hmacSha1" => Some(SignMethod::HmacSha1),
            _ => None,
        }
    }

    /// Number of hex characters in a password made with this method.
    pub fn hex_len(self) -> usize {
        self.hash().len() * 2
    }

    fn hash(self) -> Hash {
        match self {
            SignMethod::HmacSha256 => Hash::Sha256,
            SignMethod::HmacSha1 => Hash::Sha1,
        }
    }
}

/// How the user name spells the secure-mode key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecureModeKey {
    /// `secureMode` (seed document, current SDK).
    Camel,
    /// `securemode` (T-OPEN example, older SDK copy).
    Lower,
}

/// Client-side parameters: everything needed to produce Tuya credentials.
#[derive(Clone, Debug)]
pub struct Params {
    /// Device ID (`${DeviceID}`).
    pub device_id: String,
    /// Device secret (HMAC key; 16 characters with the reference SDK, TUYA-AUTH-06).
    pub device_secret: Secret,
    /// Timestamp put into the user name and the signed content: 10-digit seconds or
    /// 13-digit milliseconds.
    pub timestamp: u64,
    /// Signature algorithm.
    pub sign_method: SignMethod,
}

impl Params {
    /// Builds client id, user name and password.
    pub fn credentials(&self) -> Credentials {
        let ts = self.timestamp.to_string();
        Credentials {
            client_id: client_id(&self.device_id),
            username: Some(username(&self.device_id, self.sign_method, &ts)),
            password: Some(sign(
                &self.device_secret,
                &sign_content(&self.device_id, &ts),
                self.sign_method,
            )),
        }
    }

    /// The server-side view of the same device.
    pub fn identity(&self) -> Identity {
        Identity {
            device_id: self.device_id.clone(),
            device_secret: self.device_secret.clone(),
        }
    }
}

/// Server-side knowledge of one device.
#[derive(Clone, Debug)]
pub struct Identity {
    /// Device ID.
    pub device_id: String,
    /// Device secret.
    pub device_secret: Secret,
}

/// `tuyalink_<deviceId>`.
pub fn client_id(device_id: &str) -> String {
    format!("{CLIENT_ID_PREFIX}{device_id}")
}

/// `<deviceId>|signMethod=<m>,timestamp=<ts>,secureMode=1,accessType=1`.
pub fn username(device_id: &str, method: SignMethod, timestamp: &str) -> String {
    format!(
        "{device_id}|signMethod={},timestamp={timestamp},secureMode=1,accessType=1",
        method.as_str()
    )
}

/// The signed content `deviceId=<id>,timestamp=<ts>,secureMode=1,accessType=1`.
pub fn sign_content(device_id: &str, timestamp: &str) -> String {
    format!("deviceId={device_id},timestamp={timestamp},secureMode=1,accessType=1")
}

/// Lower-case hex HMAC of `content` keyed with the device secret (the MQTT password).
pub fn sign(device_secret: &Secret, content: &str, method: SignMethod) -> Secret {
    Secret::new(hex::encode(
        method
            .hash()
            .hmac(device_secret.expose().as_bytes(), content.as_bytes()),
    ))
}

/// A parsed Tuya user name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username {
    /// Device ID before the `|`.
    pub device_id: String,
    /// Announced signature method.
    pub sign_method: SignMethod,
    /// Timestamp exactly as sent (10 or 13 digits).
    pub timestamp: String,
    /// How the secure-mode key was spelled.
    pub secure_mode_key: SecureModeKey,
}

impl Username {
    /// The timestamp in seconds (13-digit millisecond values are divided by 1000).
    pub fn timestamp_secs(&self) -> u64 {
        // Parsing cannot fail: the parser only accepts 10 or 13 digits.
        let v: u64 = self.timestamp.parse().unwrap_or(0);
        if self.timestamp.len() == 13 {
            v / 1000
        } else {
            v
        }
    }

    /// Seconds the timestamp lies ahead of `now` (negative: behind). Tuya documents no
    /// freshness window (NP under TUYA-AUTH-05), so judging the skew is left to policy.
    pub fn skew_secs(&self, now: u64) -> i64 {
        let diff = i128::from(self.timestamp_secs()) - i128::from(now);
        // Both operands are u64, so the clamp only matters for absurd inputs.
        i64::try_from(diff).unwrap_or(if diff < 0 { i64::MIN } else { i64::MAX })
    }
}

/// Checks the client id form `tuyalink_<deviceId>` (TUYA-AUTH-01) and returns the device ID.
pub fn parse_client_id(client_id: &str) -> Result<&str, AuthError> {
    let bad = |reason: &str| AuthError::Malformed {
        rule: RULE_CID,
        field: "client id",
        found: Some(client_id.to_owned()),
        reason: reason.to_owned(),
    };
    let id = client_id
        .strip_prefix(CLIENT_ID_PREFIX)
        .ok_or_else(|| bad("does not start with `tuyalink_`"))?;
    if id.is_empty() {
        return Err(bad("device id after `tuyalink_` is empty"));
    }
    if id.contains('|') {
        return Err(bad("device id contains `|`"));
    }
    Ok(id)
}

/// Parses a user name against the TUYA-AUTH-02 pattern
/// `^<id>|signMethod=(hmacSha256|hmacSha1),timestamp=(\d{10}|\d{13}),secure[Mm]ode=1,accessType=1$`.
///
/// A timestamp that is not 10 or 13 digits is reported under TUYA-AUTH-05, everything else
/// (including an unknown `signMethod`) under TUYA-AUTH-02.
pub fn parse_username(username: &str) -> Result<Username, AuthError> {
    let bad = |reason: String| AuthError::Malformed {
        rule: RULE_USER,
        field: "user name",
        found: Some(username.to_owned()),
        reason,
    };
    let (device_id, rest) = username
        .split_once('|')
        .ok_or_else(|| bad("no `|` between device id and parameters".into()))?;
    if device_id.is_empty() {
        return Err(bad("device id before `|` is empty".into()));
    }
    if rest.contains('|') {
        return Err(bad("more than one `|`".into()));
    }
    let items: Vec<&str> = rest.split(',').collect();
    const ORDER: [&str; 4] = ["signMethod", "timestamp", "secureMode", "accessType"];
    if items.len() != ORDER.len() {
        return Err(bad(format!(
            "expected the 4 parameters signMethod, timestamp, secureMode, accessType; found {}",
            items.len()
        )));
    }
    let mut sign_method = None;
    let mut timestamp = String::new();
    let mut secure_mode_key = SecureModeKey::Camel;
    for (item, want) in items.iter().zip(ORDER) {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| bad(format!("parameter `{item}` has no `=`")))?;
        let key_ok = match want {
            "secureMode" if key == "securemode" => {
                secure_mode_key = SecureModeKey::Lower;
                true
            }
            _ => key == want,
        };
        if !key_ok {
            return Err(bad(format!("expected `{want}=…` but found `{key}=…`")));
        }
        match want {
            "signMethod" => {
                sign_method = Some(SignMethod::from_username_value(value).ok_or_else(|| {
                    AuthError::SignMethod {
                        rule: RULE_USER,
                        found: value.to_owned(),
                        allowed: "hmacSha256, hmacSha1",
                    }
                })?);
            }
            "timestamp" => {
                if !is_epoch_digits(value) {
                    return Err(AuthError::Timestamp {
                        rule: RULE_TS,
                        found: value.to_owned(),
                    });
                }
                timestamp = value.to_owned();
            }
            _ => {
                if value != "1" {
                    return Err(bad(format!("`{key}` must be 1, found `{value}`")));
                }
            }
        }
    }
    Ok(Username {
        device_id: device_id.to_owned(),
        // Set in the first loop iteration; the loop returns early otherwise.
        sign_method: sign_method.unwrap_or(SignMethod::HmacSha256),
        timestamp,
        secure_mode_key,
    })
}

/// Checks every rule that needs no secret: client id and user name forms, the same device
/// ID in both, and a password of the length the sign method implies (TUYA-AUTH-01..05).
pub fn check_format(presented: &Presented<'_>) -> Result<Username, AuthError> {
    format(presented).map(|(user, _)| user)
}

/// [`check_format`], also returning the decoded password.
fn format(presented: &Presented<'_>) -> Result<(Username, Vec<u8>), AuthError> {
    let cid_device = parse_client_id(presented.client_id)?;
    let user = parse_username(presented.require_username(RULE_USER)?)?;
    if cid_device != user.device_id {
        return Err(AuthError::Mismatch {
            rule: RULE_CID,
            field: "client id device id",
            expected: user.device_id,
            found: cid_device.to_owned(),
        });
    }
    let pw = presented.require_password_text(RULE_SIGN)?;
    let tag = check_password_form(pw, user.sign_method)?;
    Ok((user, tag))
}

fn check_password_form(pw: &str, method: SignMethod) -> Result<Vec<u8>, AuthError> {
    if pw.len() != method.hex_len() {
        return Err(AuthError::SignatureLength {
            rule: RULE_LEN,
            what: "hex password",
            method: method.as_str(),
            expected: method.hex_len(),
            found: pw.len(),
        });
    }
    hex::decode(pw).map_err(|_| AuthError::Malformed {
        rule: RULE_SIGN,
        field: "password",
        found: None,
        reason: "not hexadecimal".into(),
    })
}

/// Verifies presented credentials against a provisioned device: the format rules
/// ([`check_format`]), the device ID, and the HMAC recomputed with the timestamp from the
/// user name that was sent. Hex case is not significant.
pub fn verify(presented: &Presented<'_>, identity: &Identity) -> Result<Username, AuthError> {
    verify_inner(presented, identity)
        .map_err(|e| presented.redact(e, Some(&identity.device_secret)))
}

fn verify_inner(presented: &Presented<'_>, identity: &Identity) -> Result<Username, AuthError> {
    let (user, tag) = format(presented)?;
    if user.device_id != identity.device_id {
        return Err(AuthError::Mismatch {
            rule: RULE_USER,
            field: "device id",
            expected: identity.device_id.clone(),
            found: user.device_id,
        });
    }
    let content = sign_content(&user.device_id, &user.timestamp);
    let hash = user.sign_method.hash();
    if !hash.hmac_verify(
        identity.device_secret.expose().as_bytes(),
        content.as_bytes(),
        &tag,
    ) {
        return Err(AuthError::SignatureMismatch {
            rule: RULE_SIGN,
            algorithm: hash.hmac_name(),
            content,
        });
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_variants() {
        let u = parse_username(
            "dev|signMethod=hmacSha1,timestamp=1607635284123,securemode=1,accessType=1",
        )
        .unwrap();
        assert_eq!(u.sign_method, SignMethod::HmacSha1);
        assert_eq!(u.secure_mode_key, SecureModeKey::Lower);
        assert_eq!(u.timestamp_secs(), 1_607_635_284);
        assert_eq!(u.skew_secs(1_607_635_300), -16);
        for (bad, rule) in [
            ("dev", RULE_USER),
            (
                "|signMethod=hmacSha256,timestamp=1607635284,secureMode=1,accessType=1",
                RULE_USER,
            ),
            (
                "dev|timestamp=1607635284,signMethod=hmacSha256,secureMode=1,accessType=1",
                RULE_USER,
            ),
            (
                "dev|signMethod=hmacSha256,timestamp=1607635284,secureMode=1",
                RULE_USER,
            ),
            (
                "dev|signMethod=hmacSha256,timestamp=1607635284,secureMode=2,accessType=1",
                RULE_USER,
            ),
            (
                "dev|signMethod=hmacSha256,timestamp=1607635284,SecureMode=1,accessType=1",
                RULE_USER,
            ),
            (
                "dev|signMethod=HMACSHA256,timestamp=1607635284,secureMode=1,accessType=1",
                RULE_USER,
            ),
            (
                "dev|signMethod=hmacSha256,timestamp=160763528,secureMode=1,accessType=1",
                RULE_TS,
            ),
            (
                "dev|signMethod=hmacSha256,timestamp=16076352840,secureMode=1,accessType=1",
                RULE_TS,
            ),
        ] {
            assert_eq!(parse_username(bad).unwrap_err().rule_id(), rule, "{bad}");
        }
    }

    #[test]
    fn client_id_form() {
        assert_eq!(parse_client_id("tuyalink_abc").unwrap(), "abc");
        assert!(parse_client_id("tuyalink_").is_err());
        assert!(parse_client_id("abc").is_err());
        assert!(parse_client_id("TUYALINK_abc").is_err());
    }
}
