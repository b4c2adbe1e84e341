//! Known-answer tests for every credential vector in `shared/vendor-rules.md` (§2.1 Tuya,
//! §3.1 Alibaba, §4.1 OneNET, §5.1 Watson), verify() round trips, one crafted bad input per
//! error, and checks that no secret leaks through `Debug` or error messages.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use mqtt_conform::auth::{
    AuthError, AuthParams, Credentials, Identity, Presented, Scheme, aliyun, onenet, plain, tuya,
    watson,
};
use mqtt_conform::secret::Secret;

// ---------------------------------------------------------------------------------------
// Vector inputs (values copied from vendor-rules.md)
// ---------------------------------------------------------------------------------------

const TUYA_ID: &str = "6c828cba434ff40c074wF2";
const TUYA_SECRET: &str = "ffad8eb66ae8c717";
const TUYA_TS: u64 = 1_607_635_284;
const TUYA_TS_USERNAME_EXAMPLE: u64 = 1_607_837_283;
const TUYA_SHA256: &str = "9088f1608df4744e2a933ff905ffdde58dc7213510f25ad786a89896a5ea1104";
const TUYA_SHA1: &str = "867485995e364ab935ca92f01adfd8b91450944e";
const TUYA_SHA256_TS2: &str = "028d9411d7035668f360af6b9ff85a436c7624cfcb08bbc3c47fd885b611b931";
const TUYA_SHA1_TS2: &str = "e04daa6f037d84e3601b8db4f018e0f4327d5432";

const ALI_DOC_SECRET: &str = "secret";
const ALI_DOC_SHA1: &str = "FAFD82A3D602B37FB0FA8B7892F24A477F851A14";
const ALI_DOC_SHA256: &str = "6074A46A91B1EBB2CC4EA42790AD0E80202C9843859FC292E57C4EB19FAD9E57";
const ALI_DOC_MD5: &str = "14B198324FE55E1D3C88F2E705E201EE";
const ALI_PK: &str = "a1hQSwFledE";
const ALI_DN: &str = "eud1jXfEgCsAiP2eId9Q";
const ALI_SECRET: &str = "Test0123456789abcdefTest0123456789";
const ALI_SDK4_SHA256: &str = "D424B916B09BF84DE629916A6EEDDA5325E81485DC5F48612A277F75D3917E5C";
const ALI_MIN_SHA1: &str = "E6EED8435C940DCB215C335992F948CD9F6F8425";

const ONENET_PID: &str = "123123";
const ONENET_DN: &str = "mydev";
const ONENET_ET: u64 = 1_537_255_523;
const ONENET_KEY: &str = "q6cQQucPT58l4SUG4XC5X9nDB/q36tRnlo9aBJmAu9I=";
const ONENET_SHA1_TOKEN: &str = "version=2018-10-31&res=products%2F123123%2Fdevices%2Fmydev&et=1537255523&method=sha1&sign=WxyhGI9%2FH7EJUsRiR2CuNsaYnxw%3D";
const ONENET_MD5_TOKEN: &str = "version=2018-10-31&res=products%2F123123%2Fdevices%2Fmydev&et=1537255523&method=md5&sign=SAS8MQGovCZU0cg25wmb8w%3D%3D";
const ONENET_SHA256_TOKEN: &str = "version=2018-10-31&res=products%2F123123%2Fdevices%2Fmydev&et=1537255523&method=sha256&sign=ETf0JOVXnEyo2XjhyFFjC47GlZqFIAeimnXM4BLLw4E%3D";
const ONENET_PRODUCT_TOKEN: &str = "version=2018-10-31&res=products%2F123123&et=1537255523&method=sha1&sign=qRqmpe4oYfiP8RhtDE5ysh42cuw%3D";
/// A "now" before the vectors' `et`, so the tokens are valid.
const ONENET_NOW: u64 = ONENET_ET - 60;

const WATSON_TOKEN: &str = "w4tson-t0ken-(s3cret)";

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn pw(c: &Credentials) -> &str {
    c.password.as_ref().expect("password").expose()
}

fn tuya_params(ts: u64, m: tuya::SignMethod) -> tuya::Params {
    tuya::Params {
        device_id: TUYA_ID.into(),
        device_secret: Secret::new(TUYA_SECRET),
        timestamp: ts,
        sign_method: m,
    }
}

fn tuya_identity() -> tuya::Identity {
    tuya_params(TUYA_TS, tuya::SignMethod::HmacSha256).identity()
}

fn ali_doc(method: aliyun::SignMethod) -> aliyun::Params {
    aliyun::Params::new(
        "pk",
        "device",
        Secret::new(ALI_DOC_SECRET),
        "12345",
        method,
        3,
        Some(789),
    )
}

fn ali_doc_identity() -> aliyun::Identity {
    ali_doc(aliyun::SignMethod::HmacSha1).identity()
}

fn onenet_params(method: onenet::Method) -> onenet::Params {
    onenet::Params::new(
        ONENET_PID,
        ONENET_DN,
        Secret::new(ONENET_KEY),
        ONENET_ET,
        method,
    )
}

fn onenet_identity() -> onenet::Identity {
    onenet::Identity {
        product_id: ONENET_PID.into(),
        device_name: ONENET_DN.into(),
        access_key: Secret::new(ONENET_KEY),
    }
}

fn watson_device() -> watson::Params {
    watson::Params::device("abc123", "sensor", "dev-01", Secret::new(WATSON_TOKEN))
}

fn watson_app() -> watson::Params {
    watson::Params::application("app1", "a-abc123-k3yk3yk3y", Secret::new(WATSON_TOKEN))
}

/// Asserts that an error's Display and Debug contain none of `forbidden`.
fn assert_no_leak(err: &AuthError, forbidden: &[&str]) {
    let shown = format!("{err} | {err:?}");
    for f in forbidden {
        assert!(!shown.contains(f), "error leaks {f:?}: {shown}");
    }
}

/// Runs `f`, expects an error with `rule`, checks it leaks nothing, and returns it.
fn expect_err<T: std::fmt::Debug>(
    r: Result<T, AuthError>,
    rule: &str,
    forbidden: &[&str],
) -> AuthError {
    let err = r.expect_err("expected an AuthError");
    assert_eq!(err.rule_id(), rule, "wrong rule for: {err}");
    assert_no_leak(&err, forbidden);
    err
}

// ---------------------------------------------------------------------------------------
// Tuya (§2.1)
// ---------------------------------------------------------------------------------------

#[test]
fn tuya_seed_vector_sha256() {
    let c = tuya_params(TUYA_TS, tuya::SignMethod::HmacSha256).credentials();
    assert_eq!(c.client_id, "tuyalink_6c828cba434ff40c074wF2");
    assert_eq!(
        c.username.as_deref(),
        Some(
            "6c828cba434ff40c074wF2|signMethod=hmacSha256,timestamp=1607635284,secureMode=1,accessType=1"
        )
    );
    assert_eq!(pw(&c), TUYA_SHA256);
    assert_eq!(
        tuya::sign_content(TUYA_ID, "1607635284"),
        "deviceId=6c828cba434ff40c074wF2,timestamp=1607635284,secureMode=1,accessType=1"
    );
}

#[test]
fn tuya_seed_vector_sha1() {
    let c = tuya_params(TUYA_TS, tuya::SignMethod::HmacSha1).credentials();
    assert_eq!(pw(&c), TUYA_SHA1);
    assert_eq!(
        c.username.as_deref(),
        Some(
            "6c828cba434ff40c074wF2|signMethod=hmacSha1,timestamp=1607635284,secureMode=1,accessType=1"
        )
    );
}

#[test]
fn tuya_inconsistent_timestamp_vectors() {
    let secret = Secret::new(TUYA_SECRET);
    let content = tuya::sign_content(TUYA_ID, "1607837283");
    assert_eq!(
        tuya::sign(&secret, &content, tuya::SignMethod::HmacSha256).expose(),
        TUYA_SHA256_TS2
    );
    assert_eq!(
        tuya::sign(&secret, &content, tuya::SignMethod::HmacSha1).expose(),
        TUYA_SHA1_TS2
    );
    let c = tuya_params(TUYA_TS_USERNAME_EXAMPLE, tuya::SignMethod::HmacSha256).credentials();
    assert_eq!(pw(&c), TUYA_SHA256_TS2);
}

#[test]
fn tuya_verify_round_trips() {
    for m in [tuya::SignMethod::HmacSha256, tuya::SignMethod::HmacSha1] {
        for ts in [TUYA_TS, TUYA_TS_USERNAME_EXAMPLE, 1_607_635_284_123] {
            let c = tuya_params(ts, m).credentials();
            let u = tuya::verify(&c.presented(), &tuya_identity()).unwrap();
            assert_eq!(u.sign_method, m);
            assert_eq!(u.timestamp, ts.to_string());
            assert_eq!(u.device_id, TUYA_ID);
        }
    }
}

#[test]
fn tuya_timestamp_comes_from_the_user_name_sent() {
    // The seed's user-name example (ts 1607837283) with the seed's password (signed with
    // 1607635284) must fail; with the matching password it must pass.
    let user = tuya::username(TUYA_ID, tuya::SignMethod::HmacSha256, "1607837283");
    let cid = tuya::client_id(TUYA_ID);
    let seed_pw = Presented::new(&cid, Some(&user), Some(TUYA_SHA256.as_bytes()));
    expect_err(
        tuya::verify(&seed_pw, &tuya_identity()),
        "TUYA-AUTH-03",
        &[TUYA_SECRET, TUYA_SHA256_TS2],
    );
    let good = Presented::new(&cid, Some(&user), Some(TUYA_SHA256_TS2.as_bytes()));
    tuya::verify(&good, &tuya_identity()).unwrap();
}

#[test]
fn tuya_accepts_lower_case_securemode_key_and_upper_case_hex() {
    let user =
        format!("{TUYA_ID}|signMethod=hmacSha256,timestamp=1607635284,securemode=1,accessType=1");
    let cid = tuya::client_id(TUYA_ID);
    let p = Presented::new(&cid, Some(&user), Some(TUYA_SHA256.as_bytes()));
    let u = tuya::verify(&p, &tuya_identity()).unwrap();
    assert_eq!(u.secure_mode_key, tuya::SecureModeKey::Lower);
    let upper = TUYA_SHA256.to_uppercase();
    let p = Presented::new(&cid, Some(&user), Some(upper.as_bytes()));
    tuya::verify(&p, &tuya_identity()).unwrap();
}

#[test]
fn tuya_errors() {
    let good = tuya_params(TUYA_TS, tuya::SignMethod::HmacSha256).credentials();
    let user = good.username.clone().unwrap();
    let id = tuya_identity();
    let forbid = [TUYA_SECRET, TUYA_SHA256];
    let v = |cid: &str, u: Option<&str>, p: Option<&[u8]>| {
        tuya::verify(&Presented::new(cid, u, p), &id)
    };
    let pwb = Some(TUYA_SHA256.as_bytes());

    // TUYA-AUTH-01: client id form, and device id differing from the user name's.
    expect_err(v(TUYA_ID, Some(&user), pwb), "TUYA-AUTH-01", &forbid);
    let e = expect_err(
        v("tuyalink_other", Some(&user), pwb),
        "TUYA-AUTH-01",
        &forbid,
    );
    assert!(matches!(e, AuthError::Mismatch { .. }), "{e:?}");
    // TUYA-AUTH-02: missing user name, malformed user name, wrong device.
    let e = expect_err(v(&good.client_id, None, pwb), "TUYA-AUTH-02", &forbid);
    assert!(matches!(e, AuthError::Missing { .. }));
    let swapped =
        format!("{TUYA_ID}|timestamp=1607635284,signMethod=hmacSha256,secureMode=1,accessType=1");
    let e = expect_err(
        v(&good.client_id, Some(&swapped), pwb),
        "TUYA-AUTH-02",
        &forbid,
    );
    assert!(matches!(e, AuthError::Malformed { .. }));
    let other_user = tuya::username("otherdevice", tuya::SignMethod::HmacSha256, "1607635284");
    let e = expect_err(
        v("tuyalink_otherdevice", Some(&other_user), pwb),
        "TUYA-AUTH-02",
        &forbid,
    );
    assert!(matches!(e, AuthError::Mismatch { .. }));
    let md5_user = user.replace("hmacSha256", "hmacMd5");
    let e = expect_err(
        v(&good.client_id, Some(&md5_user), pwb),
        "TUYA-AUTH-02",
        &forbid,
    );
    assert!(matches!(e, AuthError::SignMethod { .. }));
    // TUYA-AUTH-03: wrong secret, missing password, non-hex password, non-UTF-8 password.
    let wrong = tuya::Identity {
        device_id: TUYA_ID.into(),
        device_secret: Secret::new("0000000000000000"),
    };
    let e = expect_err(
        tuya::verify(&good.presented(), &wrong),
        "TUYA-AUTH-03",
        &["0000000000000000", TUYA_SHA256],
    );
    assert!(matches!(e, AuthError::SignatureMismatch { .. }));
    assert_eq!(
        e.to_string(),
        "[TUYA-AUTH-03] signature does not match (HMAC-SHA256 over \
         `deviceId=6c828cba434ff40c074wF2,timestamp=1607635284,secureMode=1,accessType=1`)"
    );
    let e = expect_err(
        v(&good.client_id, Some(&user), None),
        "TUYA-AUTH-03",
        &forbid,
    );
    assert!(matches!(e, AuthError::Missing { .. }));
    let nonhex = "z".repeat(64);
    expect_err(
        v(&good.client_id, Some(&user), Some(nonhex.as_bytes())),
        "TUYA-AUTH-03",
        &forbid,
    );
    expect_err(
        v(&good.client_id, Some(&user), Some(&[0xff; 64])),
        "TUYA-AUTH-03",
        &forbid,
    );
    // TUYA-AUTH-04: SHA-1 announced, SHA-256-length password (and vice versa).
    let sha1_user = user.replace("hmacSha256", "hmacSha1");
    let e = expect_err(
        v(&good.client_id, Some(&sha1_user), pwb),
        "TUYA-AUTH-04",
        &forbid,
    );
    assert!(matches!(
        e,
        AuthError::SignatureLength {
            expected: 40,
            found: 64,
            ..
        }
    ));
    expect_err(
        v(&good.client_id, Some(&user), Some(TUYA_SHA1.as_bytes())),
        "TUYA-AUTH-04",
        &forbid,
    );
    // TUYA-AUTH-05: timestamp of 9 and 11 digits.
    for ts in ["160763528", "16076352840"] {
        let u = tuya::username(TUYA_ID, tuya::SignMethod::HmacSha256, ts);
        let e = expect_err(v(&good.client_id, Some(&u), pwb), "TUYA-AUTH-05", &forbid);
        assert!(matches!(e, AuthError::Timestamp { .. }));
    }
}

#[test]
fn tuya_check_format_needs_no_secret() {
    let c = tuya_params(TUYA_TS, tuya::SignMethod::HmacSha1).credentials();
    let u = tuya::check_format(&c.presented()).unwrap();
    assert_eq!(u.timestamp_secs(), TUYA_TS);
    let u = tuya::parse_username(c.username.as_deref().unwrap()).unwrap();
    assert_eq!(u.sign_method, tuya::SignMethod::HmacSha1);
    assert_eq!(tuya::parse_client_id(&c.client_id).unwrap(), TUYA_ID);
}

// ---------------------------------------------------------------------------------------
// Alibaba (§3.1)
// ---------------------------------------------------------------------------------------

#[test]
fn aliyun_doc_vector_sha1() {
    let p = ali_doc(aliyun::SignMethod::HmacSha1);
    assert_eq!(
        p.sign_content(),
        "clientId12345deviceNamedeviceproductKeypktimestamp789"
    );
    let c = p.credentials();
    assert_eq!(
        c.client_id,
        "12345|securemode=3,signmethod=hmacsha1,timestamp=789|"
    );
    assert_eq!(c.username.as_deref(), Some("device&pk"));
    assert_eq!(pw(&c), ALI_DOC_SHA1);
}

#[test]
fn aliyun_doc_vector_sha256_and_md5() {
    let c = ali_doc(aliyun::SignMethod::HmacSha256).credentials();
    assert_eq!(pw(&c), ALI_DOC_SHA256);
    assert_eq!(
        c.client_id,
        "12345|securemode=3,signmethod=hmacsha256,timestamp=789|"
    );
    let c = ali_doc(aliyun::SignMethod::HmacMd5).credentials();
    assert_eq!(pw(&c), ALI_DOC_MD5);
    assert_eq!(
        c.client_id,
        "12345|securemode=3,signmethod=hmacmd5,timestamp=789|"
    );
}

#[test]
fn aliyun_link_sdk4_vector() {
    let p = aliyun::Params::link_sdk4(ALI_PK, ALI_DN, Secret::new(ALI_SECRET), 2);
    assert_eq!(
        p.sign_content(),
        "clientIda1hQSwFledE.eud1jXfEgCsAiP2eId9QdeviceNameeud1jXfEgCsAiP2eId9QproductKeya1hQSwFledEtimestamp2524608000000"
    );
    let c = p.credentials();
    assert_eq!(
        c.client_id,
        "a1hQSwFledE.eud1jXfEgCsAiP2eId9Q|timestamp=2524608000000,_ss=1,_v=sdk-c-4.0.0,securemode=2,signmethod=hmacsha256,ext=3,|"
    );
    assert_eq!(
        c.username.as_deref(),
        Some("eud1jXfEgCsAiP2eId9Q&a1hQSwFledE")
    );
    assert_eq!(pw(&c), ALI_SDK4_SHA256);

    let (cid, user) = aliyun::verify(&c.presented(), &p.identity()).unwrap();
    assert!(cid.trailing_comma);
    assert_eq!(cid.get("_v"), Some("sdk-c-4.0.0"));
    assert_eq!(cid.get("ext"), Some("3"));
    assert_eq!(cid.timestamp.as_deref(), Some("2524608000000"));
    assert_eq!(user.product_key, ALI_PK);
}

#[test]
fn aliyun_minimal_content_vector() {
    let content = aliyun::sign_content(None, ALI_DN, ALI_PK, None);
    assert_eq!(
        content,
        "deviceNameeud1jXfEgCsAiP2eId9QproductKeya1hQSwFledE"
    );
    assert_eq!(
        aliyun::sign(
            &Secret::new(ALI_SECRET),
            &content,
            aliyun::SignMethod::HmacSha1
        )
        .expose(),
        ALI_MIN_SHA1
    );
}

#[test]
fn aliyun_verify_round_trips_and_hex_case() {
    for m in [
        aliyun::SignMethod::HmacMd5,
        aliyun::SignMethod::HmacSha1,
        aliyun::SignMethod::HmacSha256,
    ] {
        let c = ali_doc(m).credentials();
        aliyun::verify(&c.presented(), &ali_doc_identity()).unwrap();
        // ALI-AUTH-07: lower-case hex is accepted too.
        let lower = pw(&c).to_lowercase();
        let p = Presented::new(&c.client_id, c.username.as_deref(), Some(lower.as_bytes()));
        aliyun::verify(&p, &ali_doc_identity()).unwrap();
    }
    // Without a timestamp, the content has none either.
    let mut p = ali_doc(aliyun::SignMethod::HmacSha1);
    p.timestamp = None;
    let c = p.credentials();
    assert_eq!(c.client_id, "12345|securemode=3,signmethod=hmacsha1|");
    aliyun::verify(&c.presented(), &ali_doc_identity()).unwrap();
}

#[test]
fn aliyun_errors() {
    let good = ali_doc(aliyun::SignMethod::HmacSha1).credentials();
    let id = ali_doc_identity();
    let forbid = [ALI_DOC_SECRET, ALI_DOC_SHA1];
    let pwb = Some(ALI_DOC_SHA1.as_bytes());
    let v = |cid: &str, u: Option<&str>, p: Option<&[u8]>| {
        aliyun::verify(&Presented::new(cid, u, p), &id)
    };
    // ALI-AUTH-01: missing trailing `|`, inner id too long.
    expect_err(
        v(
            "12345|securemode=3,signmethod=hmacsha1,timestamp=789",
            Some("device&pk"),
            pwb,
        ),
        "ALI-AUTH-01",
        &forbid,
    );
    let long = format!("{}|securemode=3,signmethod=hmacsha1|", "x".repeat(65));
    expect_err(v(&long, Some("device&pk"), pwb), "ALI-AUTH-01", &forbid);
    // ALI-AUTH-02: swapped order, wrong device, missing user name.
    let e = expect_err(
        v(&good.client_id, Some("pk&device"), pwb),
        "ALI-AUTH-02",
        &forbid,
    );
    assert!(matches!(e, AuthError::Swapped { .. }), "{e:?}");
    let e = expect_err(
        v(&good.client_id, Some("other&pk"), pwb),
        "ALI-AUTH-02",
        &forbid,
    );
    assert!(matches!(e, AuthError::Mismatch { .. }));
    expect_err(
        v(&good.client_id, Some("device"), pwb),
        "ALI-AUTH-02",
        &forbid,
    );
    expect_err(v(&good.client_id, None, pwb), "ALI-AUTH-02", &forbid);
    // ALI-AUTH-03: one flipped hex digit, wrong secret, missing password.
    let flipped = format!("0{}", &ALI_DOC_SHA1[1..]);
    let e = expect_err(
        v(&good.client_id, Some("device&pk"), Some(flipped.as_bytes())),
        "ALI-AUTH-03",
        &forbid,
    );
    assert!(matches!(e, AuthError::SignatureMismatch { .. }));
    assert!(
        e.to_string()
            .contains("HMAC-SHA1 over `clientId12345deviceNamedeviceproductKeypktimestamp789`")
    );
    let wrong = aliyun::Identity {
        device_secret: Secret::new("not-the-secret"),
        ..id.clone()
    };
    expect_err(
        aliyun::verify(&good.presented(), &wrong),
        "ALI-AUTH-03",
        &["not-the-secret", ALI_DOC_SHA1],
    );
    expect_err(
        v(&good.client_id, Some("device&pk"), None),
        "ALI-AUTH-03",
        &forbid,
    );
    // ALI-AUTH-04: unknown signmethod, length not matching signmethod (the JS SDK bug:
    // advertises hmacsha256, signs with SHA-1).
    let e = expect_err(
        v(
            "12345|securemode=3,signmethod=sha256,timestamp=789|",
            Some("device&pk"),
            pwb,
        ),
        "ALI-AUTH-04",
        &forbid,
    );
    assert!(matches!(e, AuthError::SignMethod { .. }));
    let e = expect_err(
        v(
            "12345|securemode=3,signmethod=hmacsha256,timestamp=789|",
            Some("device&pk"),
            pwb,
        ),
        "ALI-AUTH-04",
        &forbid,
    );
    assert!(matches!(
        e,
        AuthError::SignatureLength {
            expected: 64,
            found: 40,
            ..
        }
    ));
    // ALI-AUTH-05: signature over content without the announced timestamp.
    let no_ts = aliyun::sign_content(Some("12345"), "device", "pk", None);
    let sig = aliyun::sign(
        &Secret::new(ALI_DOC_SECRET),
        &no_ts,
        aliyun::SignMethod::HmacSha1,
    );
    let e = expect_err(
        v(
            &good.client_id,
            Some("device&pk"),
            Some(sig.expose().as_bytes()),
        ),
        "ALI-AUTH-05",
        &[ALI_DOC_SECRET, sig.expose(), ALI_DOC_SHA1],
    );
    assert!(matches!(e, AuthError::SignedContentMismatch { .. }));
    // … and signed with another timestamp than announced: plain mismatch (ALI-AUTH-03).
    let other_ts = aliyun::sign_content(Some("12345"), "device", "pk", Some("790"));
    let sig = aliyun::sign(
        &Secret::new(ALI_DOC_SECRET),
        &other_ts,
        aliyun::SignMethod::HmacSha1,
    );
    expect_err(
        v(
            &good.client_id,
            Some("device&pk"),
            Some(sig.expose().as_bytes()),
        ),
        "ALI-AUTH-03",
        &forbid,
    );
    // ALI-AUTH-06: securemode=-2 with a hex HMAC (format), and verification not applicable.
    let cid = "12345|securemode=-2,signmethod=hmacsha1|";
    let e = expect_err(
        aliyun::check_format(&Presented::new(cid, Some("device&pk"), pwb)),
        "ALI-AUTH-06",
        &forbid,
    );
    assert!(matches!(e, AuthError::Malformed { .. }));
    let e = expect_err(
        v(
            cid,
            Some("device&pk"),
            Some(b"device-token-from-registration"),
        ),
        "ALI-AUTH-06",
        &["device-token-from-registration", ALI_DOC_SECRET],
    );
    assert!(matches!(e, AuthError::Unsupported { .. }));
}

#[test]
fn aliyun_parse_without_secret() {
    let c =
        aliyun::parse_client_id("12345|securemode=3,signmethod=hmacsha1,timestamp=789|").unwrap();
    assert_eq!(c.client_id, "12345");
    assert_eq!(c.sign_method, aliyun::SignMethod::HmacSha1);
    let u = aliyun::parse_username("device&pk").unwrap();
    assert_eq!(
        (u.device_name.as_str(), u.product_key.as_str()),
        ("device", "pk")
    );
    let good = ali_doc(aliyun::SignMethod::HmacMd5).credentials();
    aliyun::check_format(&good.presented()).unwrap();
}

// ---------------------------------------------------------------------------------------
// OneNET (§4.1)
// ---------------------------------------------------------------------------------------

#[test]
fn onenet_worked_example_sha1_every_step() {
    let p = onenet_params(onenet::Method::Sha1);
    let res = p.resource();
    assert_eq!(res.to_string(), "products/123123/devices/mydev");
    let sfs = onenet::string_for_signature(
        ONENET_ET,
        onenet::Method::Sha1,
        &res.to_string(),
        onenet::VERSION,
    );
    assert_eq!(
        sfs,
        "1537255523\nsha1\nproducts/123123/devices/mydev\n2018-10-31"
    );
    assert_eq!(
        hex::encode(B64.decode(ONENET_KEY).unwrap()),
        "aba71042e70f4f9f25e12506e170b95fd9c307fab7ead467968f5a049980bbd2"
    );
    let sign = onenet::sign(&Secret::new(ONENET_KEY), &sfs, onenet::Method::Sha1).unwrap();
    assert_eq!(sign.expose(), "WxyhGI9/H7EJUsRiR2CuNsaYnxw=");
    assert_eq!(
        hex::encode(B64.decode(sign.expose()).unwrap()),
        "5b1ca1188f7f1fb10952c4624760ae36c6989f1c"
    );
    assert_eq!(
        onenet::url_encode(&res.to_string()),
        "products%2F123123%2Fdevices%2Fmydev"
    );
    assert_eq!(
        onenet::url_encode(sign.expose()),
        "WxyhGI9%2FH7EJUsRiR2CuNsaYnxw%3D"
    );
    let c = p.credentials().unwrap();
    assert_eq!(c.client_id, "mydev");
    assert_eq!(c.username.as_deref(), Some("123123"));
    assert_eq!(pw(&c), ONENET_SHA1_TOKEN);
}

#[test]
fn onenet_md5_and_sha256_variants() {
    for (m, hmac_hex, sign, token) in [
        (
            onenet::Method::Md5,
            "4804bc3101a8bc2654d1c836e7099bf3",
            "SAS8MQGovCZU0cg25wmb8w==",
            ONENET_MD5_TOKEN,
        ),
        (
            onenet::Method::Sha256,
            "1137f424e5579c4ca8d978e1c851630b8ec6959a852007a29a75cce012cbc381",
            "ETf0JOVXnEyo2XjhyFFjC47GlZqFIAeimnXM4BLLw4E=",
            ONENET_SHA256_TOKEN,
        ),
    ] {
        let sfs = onenet::string_for_signature(
            ONENET_ET,
            m,
            "products/123123/devices/mydev",
            onenet::VERSION,
        );
        let s = onenet::sign(&Secret::new(ONENET_KEY), &sfs, m).unwrap();
        assert_eq!(s.expose(), sign);
        assert_eq!(hex::encode(B64.decode(s.expose()).unwrap()), hmac_hex);
        assert_eq!(pw(&onenet_params(m).credentials().unwrap()), token);
    }
}

#[test]
fn onenet_product_level_doc_example() {
    let mut p = onenet_params(onenet::Method::Sha1);
    p.level = onenet::ResourceLevel::Product;
    let sfs = onenet::string_for_signature(
        ONENET_ET,
        onenet::Method::Sha1,
        "products/123123",
        onenet::VERSION,
    );
    assert_eq!(sfs, "1537255523\nsha1\nproducts/123123\n2018-10-31");
    assert_eq!(
        onenet::sign(&Secret::new(ONENET_KEY), &sfs, onenet::Method::Sha1)
            .unwrap()
            .expose(),
        "qRqmpe4oYfiP8RhtDE5ysh42cuw="
    );
    assert_eq!(p.token().unwrap().expose(), ONENET_PRODUCT_TOKEN);
    // verify_token accepts it with the (product) key; device login refuses it (ONENET-AUTH-06).
    let t =
        onenet::verify_token(ONENET_PRODUCT_TOKEN, &Secret::new(ONENET_KEY), ONENET_NOW).unwrap();
    assert_eq!(t.res.level(), onenet::ResourceLevel::Product);
    let c = p.credentials().unwrap();
    let e = expect_err(
        onenet::verify(&c.presented(), &onenet_identity(), ONENET_NOW),
        "ONENET-AUTH-06",
        &[
            ONENET_KEY,
            ONENET_PRODUCT_TOKEN,
            "qRqmpe4oYfiP8RhtDE5ysh42cuw",
        ],
    );
    assert!(matches!(e, AuthError::ProductLevelToken { .. }));
}

#[test]
fn onenet_verify_round_trips() {
    for m in [
        onenet::Method::Md5,
        onenet::Method::Sha1,
        onenet::Method::Sha256,
    ] {
        let c = onenet_params(m).credentials().unwrap();
        let t = onenet::verify(&c.presented(), &onenet_identity(), ONENET_NOW).unwrap();
        assert_eq!(t.method, m);
        assert_eq!(t.et, ONENET_ET);
        // `et` equal to now is still valid.
        onenet::verify(&c.presented(), &onenet_identity(), ONENET_ET).unwrap();
    }
    let t = onenet::parse_token(ONENET_SHA1_TOKEN).unwrap();
    assert_eq!(t.sign.expose(), "WxyhGI9/H7EJUsRiR2CuNsaYnxw=");
    assert_eq!(
        t.res,
        onenet::Resource::Device {
            product_id: "123123".into(),
            device_name: "mydev".into()
        }
    );
}

#[test]
fn onenet_errors() {
    let id = onenet_identity();
    let forbid = [ONENET_KEY, ONENET_SHA1_TOKEN, "WxyhGI9"];
    let v = |cid: &str, u: Option<&str>, p: Option<&str>, now: u64| {
        onenet::verify(&Presented::new(cid, u, p.map(str::as_bytes)), &id, now)
    };
    let tok = Some(ONENET_SHA1_TOKEN);
    // ONENET-AUTH-01: client id and user name swapped, missing password, wrong device.
    let e = expect_err(
        v("123123", Some("mydev"), tok, ONENET_NOW),
        "ONENET-AUTH-01",
        &forbid,
    );
    assert!(matches!(e, AuthError::Swapped { .. }));
    let e = expect_err(
        v("mydev", Some("123123"), None, ONENET_NOW),
        "ONENET-AUTH-01",
        &forbid,
    );
    assert!(matches!(e, AuthError::Missing { .. }));
    let e = expect_err(
        v("otherdev", Some("123123"), tok, ONENET_NOW),
        "ONENET-AUTH-01",
        &forbid,
    );
    assert!(matches!(e, AuthError::Mismatch { .. }));
    // ONENET-AUTH-02: wrong version, missing parameter.
    let other_version = ONENET_SHA1_TOKEN.replace("2018-10-31", "2019-01-01");
    expect_err(
        v("mydev", Some("123123"), Some(&other_version), ONENET_NOW),
        "ONENET-AUTH-02",
        &forbid,
    );
    let no_method = ONENET_SHA1_TOKEN.replace("&method=sha1", "");
    expect_err(
        v("mydev", Some("123123"), Some(&no_method), ONENET_NOW),
        "ONENET-AUTH-02",
        &forbid,
    );
    // ONENET-AUTH-03: tampered sign, unknown method, wrong key.
    let tampered = ONENET_SHA1_TOKEN.replace("sign=Wxyh", "sign=Xxyh");
    let e = expect_err(
        v("mydev", Some("123123"), Some(&tampered), ONENET_NOW),
        "ONENET-AUTH-03",
        &forbid,
    );
    assert!(matches!(e, AuthError::SignatureMismatch { .. }));
    assert!(
        e.to_string()
            .contains(r"1537255523\nsha1\nproducts/123123/devices/mydev\n2018-10-31")
    );
    let sha512 = ONENET_SHA1_TOKEN.replace("method=sha1", "method=sha512");
    let e = expect_err(
        v("mydev", Some("123123"), Some(&sha512), ONENET_NOW),
        "ONENET-AUTH-03",
        &forbid,
    );
    assert!(matches!(e, AuthError::SignMethod { .. }));
    let other_key = onenet::Identity {
        access_key: Secret::new(B64.encode([7u8; 32])),
        ..onenet_identity()
    };
    let c = onenet_params(onenet::Method::Sha1).credentials().unwrap();
    expect_err(
        onenet::verify(&c.presented(), &other_key, ONENET_NOW),
        "ONENET-AUTH-03",
        &forbid,
    );
    // ONENET-AUTH-04: raw `/` in res, raw `=` in sign, raw `+` in a value.
    let raw_slash = ONENET_SHA1_TOKEN.replace(
        "products%2F123123%2Fdevices%2Fmydev",
        "products/123123/devices/mydev",
    );
    expect_err(
        v("mydev", Some("123123"), Some(&raw_slash), ONENET_NOW),
        "ONENET-AUTH-04",
        &forbid,
    );
    let raw_eq = ONENET_SHA1_TOKEN.replace("%3D", "=");
    expect_err(
        v("mydev", Some("123123"), Some(&raw_eq), ONENET_NOW),
        "ONENET-AUTH-04",
        &forbid,
    );
    let raw_sign = ONENET_SHA1_TOKEN.replace("%2FH7", "/H7");
    expect_err(
        v("mydev", Some("123123"), Some(&raw_sign), ONENET_NOW),
        "ONENET-AUTH-04",
        &forbid,
    );
    let raw_plus = ONENET_SHA256_TOKEN
        .replace("%3D", "%2B")
        .replace("4E%2B", "4E+");
    expect_err(
        v("mydev", Some("123123"), Some(&raw_plus), ONENET_NOW),
        "ONENET-AUTH-04",
        &forbid,
    );
    // ONENET-AUTH-05: expired.
    let e = expect_err(
        v("mydev", Some("123123"), tok, ONENET_ET + 1),
        "ONENET-AUTH-05",
        &forbid,
    );
    assert_eq!(
        e,
        AuthError::Expired {
            rule: "ONENET-AUTH-05",
            et: ONENET_ET,
            now: ONENET_ET + 1
        }
    );
    let e = expect_err(
        onenet::check_format(
            &Presented::new("mydev", Some("123123"), tok.map(str::as_bytes)),
            ONENET_ET + 3600,
        ),
        "ONENET-AUTH-05",
        &forbid,
    );
    assert!(matches!(e, AuthError::Expired { .. }));
    // ONENET-AUTH-06: res naming another device than the client id.
    let other = onenet::Params::new(
        ONENET_PID,
        "otherdev",
        Secret::new(ONENET_KEY),
        ONENET_ET,
        onenet::Method::Sha1,
    );
    let other_tok = other.token().unwrap();
    let e = expect_err(
        v(
            "mydev",
            Some("123123"),
            Some(other_tok.expose()),
            ONENET_NOW,
        ),
        "ONENET-AUTH-06",
        &[ONENET_KEY, other_tok.expose()],
    );
    assert!(matches!(e, AuthError::Mismatch { .. }));
    // A key that is not base64 is a configuration error, reported without the key.
    let bad = onenet::Params::new(
        ONENET_PID,
        ONENET_DN,
        Secret::new("not*base64!"),
        ONENET_ET,
        onenet::Method::Sha1,
    );
    let e = expect_err(bad.credentials(), "ONENET-AUTH-03", &["not*base64!"]);
    assert!(matches!(e, AuthError::BadSecret { .. }));
}

// ---------------------------------------------------------------------------------------
// Watson (§5.1)
// ---------------------------------------------------------------------------------------

#[test]
fn watson_credentials() {
    let c = watson_device().credentials().unwrap();
    assert_eq!(c.client_id, "d:abc123:sensor:dev-01");
    assert_eq!(c.username.as_deref(), Some("use-token-auth"));
    assert_eq!(pw(&c), WATSON_TOKEN);
    let g = watson::Params::gateway("abc123", "gw", "gw-1", Secret::new(WATSON_TOKEN));
    assert_eq!(g.credentials().unwrap().client_id, "g:abc123:gw:gw-1");
    let a = watson_app().credentials().unwrap();
    assert_eq!(a.client_id, "a:abc123:app1");
    assert_eq!(a.username.as_deref(), Some("a-abc123-k3yk3yk3y"));
    let s = watson::Params::shared_application(
        "app1",
        Some("i1".into()),
        "a-abc123-k",
        Secret::new("t"),
    );
    assert_eq!(s.credentials().unwrap().client_id, "A:abc123:app1:i1");
    let q = watson::Params::quickstart("t", "i").credentials().unwrap();
    assert_eq!(
        q,
        Credentials {
            client_id: "d:quickstart:t:i".into(),
            username: None,
            password: None
        }
    );
}

#[test]
fn watson_verify_round_trips() {
    for p in [
        watson_device(),
        watson_app(),
        watson::Params::quickstart("t", "i"),
    ] {
        let c = p.credentials().unwrap();
        assert_eq!(watson::verify(&c.presented(), &p).unwrap(), p.client);
    }
    // WIOTP-AUTH-05: Quickstart needs no credentials and ignores any that are sent.
    let q = watson::Params::quickstart("t", "i");
    watson::verify(
        &Presented::new("d:quickstart:t:i", Some("x"), Some(b"y")),
        &q,
    )
    .unwrap();
}

#[test]
fn watson_errors() {
    let dev = watson_device();
    let app = watson_app();
    let forbid = [WATSON_TOKEN];
    let tok = Some(WATSON_TOKEN.as_bytes());
    // WIOTP-AUTH-01: bad prefix / shape, another device's id.
    for bad in [
        "x:abc123:sensor:dev-01",
        "d:abc123:sensor",
        "a:abc123:app:extra",
    ] {
        expect_err(
            watson::verify(&Presented::new(bad, Some("use-token-auth"), tok), &dev),
            "WIOTP-AUTH-01",
            &forbid,
        );
    }
    let e = expect_err(
        watson::verify(
            &Presented::new("d:abc123:sensor:dev-02", Some("use-token-auth"), tok),
            &dev,
        ),
        "WIOTP-AUTH-01",
        &forbid,
    );
    assert!(matches!(e, AuthError::Mismatch { .. }));
    // WIOTP-AUTH-02: 37-character device id, 5-character org, bad character.
    let long = format!("d:abc123:sensor:{}", "x".repeat(37));
    for bad in [
        long.as_str(),
        "d:abc12:sensor:dev-01",
        "d:abc123:sen/sor:dev-01",
    ] {
        expect_err(
            watson::verify(&Presented::new(bad, Some("use-token-auth"), tok), &dev),
            "WIOTP-AUTH-02",
            &forbid,
        );
    }
    // WIOTP-AUTH-03: wrong user name (here the token itself, swapped), wrong token, none.
    let e = expect_err(
        watson::verify(
            &Presented::new(
                "d:abc123:sensor:dev-01",
                Some(WATSON_TOKEN),
                Some(b"use-token-auth"),
            ),
            &dev,
        ),
        "WIOTP-AUTH-03",
        &forbid,
    );
    assert!(matches!(e, AuthError::Mismatch { .. }));
    let e = expect_err(
        watson::verify(
            &Presented::new(
                "d:abc123:sensor:dev-01",
                Some("use-token-auth"),
                Some(b"guess-token"),
            ),
            &dev,
        ),
        "WIOTP-AUTH-03",
        &forbid,
    );
    assert_eq!(
        e,
        AuthError::WrongSecret {
            rule: "WIOTP-AUTH-03",
            what: "auth token"
        }
    );
    assert!(!e.to_string().contains("guess-token"));
    let e = expect_err(
        watson::verify(
            &Presented::new("d:abc123:sensor:dev-01", Some("use-token-auth"), None),
            &dev,
        ),
        "WIOTP-AUTH-03",
        &forbid,
    );
    assert!(matches!(e, AuthError::Missing { .. }));
    expect_err(
        watson::verify(&Presented::new("d:abc123:sensor:dev-01", None, tok), &dev),
        "WIOTP-AUTH-03",
        &forbid,
    );
    // WIOTP-AUTH-04: API key of another org, malformed key, wrong app token.
    let e = expect_err(
        watson::verify(
            &Presented::new("a:abc123:app1", Some("a-zzz999-k3yk3yk3y"), tok),
            &app,
        ),
        "WIOTP-AUTH-04",
        &forbid,
    );
    assert!(matches!(e, AuthError::Mismatch { .. }));
    expect_err(
        watson::verify(
            &Presented::new("a:abc123:app1", Some("use-token-auth"), tok),
            &app,
        ),
        "WIOTP-AUTH-04",
        &forbid,
    );
    expect_err(
        watson::verify(
            &Presented::new("a:abc123:app1", Some("a-abc123-k3yk3yk3y"), Some(b"nope")),
            &app,
        ),
        "WIOTP-AUTH-04",
        &forbid,
    );
    // Producing refuses broken parameters.
    let bad = watson::Params::application("app1", "not-a-key", Secret::new(WATSON_TOKEN));
    expect_err(bad.credentials(), "WIOTP-AUTH-04", &forbid);
    let bad = watson::Params::device(
        "abc123",
        "sensor",
        "x".repeat(37),
        Secret::new(WATSON_TOKEN),
    );
    expect_err(bad.credentials(), "WIOTP-AUTH-02", &forbid);
    let no_token = watson::Params {
        token: None,
        ..watson_device()
    };
    expect_err(no_token.credentials(), "WIOTP-AUTH-03", &forbid);
}

#[test]
fn watson_check_format_without_token() {
    let c = watson_app().credentials().unwrap();
    let id = watson::check_format(&c.presented()).unwrap();
    assert!(id.is_application());
    assert_eq!(id.org(), "abc123");
    assert_eq!(
        watson::parse_api_key("a-abc123-k3yk3yk3y").unwrap(),
        "abc123"
    );
}

// ---------------------------------------------------------------------------------------
// Plain, dispatch and secrecy
// ---------------------------------------------------------------------------------------

#[test]
fn plain_verify() {
    let p = plain::Params {
        client_id: Some("c1".into()),
        username: Some("user".into()),
        password: Some(Secret::new("pa55word")),
    };
    plain::verify(&p.credentials().presented(), &p).unwrap();
    let forbid = ["pa55word"];
    expect_err(
        plain::verify(&Presented::new("c2", Some("user"), Some(b"pa55word")), &p),
        "PLAIN-AUTH-01",
        &forbid,
    );
    expect_err(
        plain::verify(&Presented::new("c1", Some("u"), Some(b"pa55word")), &p),
        "PLAIN-AUTH-02",
        &forbid,
    );
    let e = expect_err(
        plain::verify(&Presented::new("c1", Some("user"), Some(b"pa55wore")), &p),
        "PLAIN-AUTH-03",
        &forbid,
    );
    assert!(matches!(e, AuthError::WrongSecret { .. }));
    expect_err(
        plain::verify(&Presented::new("c1", Some("user"), None), &p),
        "PLAIN-AUTH-03",
        &forbid,
    );
    expect_err(
        plain::verify(&Presented::new("c1", None, Some(b"pa55word")), &p),
        "MQTT311-CONN-05",
        &forbid,
    );
}

#[test]
fn a_plain_identity_without_a_client_id_accepts_any_and_leaves_plain_auth_01_open() {
    let open = plain::Params {
        client_id: None,
        username: Some("user".into()),
        password: Some(Secret::new("pa55word")),
    };
    for client_id in ["", "sensor-7", "anything"] {
        plain::verify(
            &Presented::new(client_id, Some("user"), Some(b"pa55word")),
            &open,
        )
        .unwrap_or_else(|e| panic!("{client_id:?} refused: {e}"));
    }
    expect_err(
        plain::verify(&Presented::new("x", Some("user"), Some(b"nope")), &open),
        "PLAIN-AUTH-03",
        &["pa55word"],
    );
    let identity = Identity::Plain(open.clone());
    assert!(identity.leaves_open("PLAIN-AUTH-01"));
    assert!(!identity.leaves_open("PLAIN-AUTH-02"));
    let pinned = Identity::Plain(plain::Params {
        client_id: Some("c1".into()),
        ..open
    });
    assert!(!pinned.leaves_open("PLAIN-AUTH-01"));
    // The client side of such a suite sends an empty client id.
    assert_eq!(
        AuthParams::Plain(plain::Params {
            client_id: None,
            username: None,
            password: None,
        })
        .credentials()
        .unwrap()
        .client_id,
        ""
    );
}

#[test]
fn scheme_dispatch() {
    assert_eq!(
        "tuya-hmac-sha1".parse::<Scheme>().unwrap(),
        Scheme::Tuya(tuya::SignMethod::HmacSha1)
    );
    assert_eq!("onenet".parse::<Scheme>().unwrap().name(), "onenet");
    let params = [
        AuthParams::Tuya(tuya_params(TUYA_TS, tuya::SignMethod::HmacSha1)),
        AuthParams::Aliyun(ali_doc(aliyun::SignMethod::HmacSha256)),
        AuthParams::OneNet(onenet_params(onenet::Method::Sha256)),
        AuthParams::Watson(watson_device()),
        AuthParams::Plain(plain::Params {
            client_id: Some("c".into()),
            username: None,
            password: None,
        }),
    ];
    let identities = [
        Identity::Tuya(tuya_identity()),
        Identity::Aliyun(ali_doc_identity()),
        Identity::OneNet(onenet_identity()),
        Identity::Watson(watson_device()),
        Identity::Plain(plain::Params {
            client_id: Some("c".into()),
            username: None,
            password: None,
        }),
    ];
    for (p, id) in params.iter().zip(&identities) {
        let c = p.credentials().unwrap();
        id.verify(&c.presented(), ONENET_NOW).unwrap();
        p.scheme().check_format(&c.presented(), ONENET_NOW).unwrap();
    }
    assert_eq!(params[0].scheme().name(), "tuya-hmac-sha1");
    // Cross-scheme credentials are refused.
    let tuya_creds = params[0].credentials().unwrap();
    assert!(
        identities[1]
            .verify(&tuya_creds.presented(), ONENET_NOW)
            .is_err()
    );
    assert!(
        Scheme::OneNet
            .check_format(&tuya_creds.presented(), ONENET_NOW)
            .is_err()
    );
}

#[test]
fn debug_output_never_contains_secrets() {
    // ALI_DOC_SECRET is the word "secret", which field names contain; it is left out.
    let all_secrets = [
        TUYA_SECRET,
        TUYA_SHA256,
        TUYA_SHA1,
        ALI_DOC_SHA1,
        ALI_SECRET,
        ALI_SDK4_SHA256,
        ONENET_KEY,
        "WxyhGI9",
        WATSON_TOKEN,
    ];
    let creds = [
        tuya_params(TUYA_TS, tuya::SignMethod::HmacSha256).credentials(),
        tuya_params(TUYA_TS, tuya::SignMethod::HmacSha1).credentials(),
        ali_doc(aliyun::SignMethod::HmacSha1).credentials(),
        aliyun::Params::link_sdk4(ALI_PK, ALI_DN, Secret::new(ALI_SECRET), 2).credentials(),
        onenet_params(onenet::Method::Sha1).credentials().unwrap(),
        watson_device().credentials().unwrap(),
    ];
    for c in &creds {
        for shown in [
            format!("{c:?}"),
            format!("{c:#?}"),
            format!("{:?}", c.presented()),
        ] {
            for s in all_secrets {
                assert!(!shown.contains(s), "{shown} leaks {s}");
            }
            assert!(shown.contains("***"));
        }
    }
    let debug_params = format!(
        "{:?} {:?} {:?} {:?} {:?}",
        tuya_params(TUYA_TS, tuya::SignMethod::HmacSha256),
        ali_doc(aliyun::SignMethod::HmacSha1),
        onenet_params(onenet::Method::Sha1),
        watson_device(),
        onenet::parse_token(ONENET_SHA1_TOKEN).unwrap(),
    );
    for s in all_secrets {
        assert!(!debug_params.contains(s), "{debug_params} leaks {s}");
    }
}

#[test]
fn secret_placed_in_a_public_field_is_redacted_from_errors() {
    // A misconfigured device that sends its secret as user name / client id.
    let cid = tuya::client_id(TUYA_ID);
    let p = Presented::new(&cid, Some(TUYA_SECRET), Some(TUYA_SHA256.as_bytes()));
    let e = expect_err(
        tuya::verify(&p, &tuya_identity()),
        "TUYA-AUTH-02",
        &[TUYA_SECRET],
    );
    assert!(e.to_string().contains("***"));
    let p = Presented::new(
        ALI_DOC_SHA1,
        Some("device&pk"),
        Some(ALI_DOC_SHA1.as_bytes()),
    );
    expect_err(
        aliyun::verify(&p, &ali_doc_identity()),
        "ALI-AUTH-01",
        &[ALI_DOC_SHA1],
    );
    let p = Presented::new(
        ONENET_KEY,
        Some("123123"),
        Some(ONENET_SHA1_TOKEN.as_bytes()),
    );
    expect_err(
        onenet::verify(&p, &onenet_identity(), ONENET_NOW),
        "ONENET-AUTH-01",
        &[ONENET_KEY],
    );
}

#[test]
fn secret_type_contract() {
    let s = Secret::new(TUYA_SECRET);
    assert_eq!(format!("{s}"), "***");
    assert_eq!(format!("{s:?}"), "***");
    assert_eq!(s.expose(), TUYA_SECRET);
    assert_eq!(s.clone(), s);
    assert!(s.matches(TUYA_SECRET.as_bytes()));
    let e = Secret::from_env("MQTT_CONFORM_TEST_UNSET_VARIABLE").unwrap_err();
    assert!(e.to_string().contains("MQTT_CONFORM_TEST_UNSET_VARIABLE"));
}
