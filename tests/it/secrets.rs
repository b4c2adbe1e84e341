//! A secret parameter never appears in console, JUnit or JSON output — not as text, not in
//! hex, not in failure messages — and cannot be given on the command line.

use crate::support::cloud;
use crate::support::mosquitto;

use mosquitto::{Mosquitto, temp_dir};
use std::process::Command;

const SECRET: &str = "Sup3r-S3cret-Value";

const SUITE: &str = r#"name: secrets
params:
  password: { env: MC_TEST_SECRET, secret: true }
auth:
  scheme: plain
  params: { username: device, password: "${password}" }
tests:
  - id: SECRET-PASS
    title: the secret travels as password and payload
    steps:
      - connect: {}
      - send: { subscribe: { filters: [ { filter: "t/${run}/${test}", qos: 1 } ] } }
      - expect: { suback: {} }
      - send: { publish: { topic: "t/${run}/${test}", qos: 1, payload: "${password}" } }
      - expect: { any_of: [ { puback: {} }, { publish: {} } ] }
  - id: SECRET-FAIL
    title: a failure whose evidence holds the secret
    steps:
      - connect: {}
      - send: { subscribe: { filters: [ "t/${run}/${test}" ] } }
      - expect: { suback: {} }
      - send: { publish: { topic: "t/${run}/${test}", payload: "${password}" } }
      - expect: { publish: { payload: "not what arrives" } }
"#;

#[test]
fn secrets_appear_in_no_output() {
    let broker = Mosquitto::start("secrets", "allow_anonymous true");
    let dir = temp_dir("secrets-out");
    let suite = dir.join("secrets.yaml");
    std::fs::write(&suite, SUITE).unwrap();
    let junit = dir.join("out.xml");
    let json = dir.join("out.json");
    let out = Command::new(env!("CARGO_BIN_EXE_mqtt-conform"))
        .args([
            "--suite",
            suite.to_str().unwrap(),
            "--target",
            &broker.url(),
            "--verbose",
            "--color",
            "never",
        ])
        .args([
            "--report-junit",
            junit.to_str().unwrap(),
            "--report-json",
            json.to_str().unwrap(),
        ])
        .env("MC_TEST_SECRET", SECRET)
        .output()
        .expect("binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "one test fails on purpose\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("test SECRET-PASS ... ok"), "{stdout}");
    assert!(stdout.contains("test SECRET-FAIL ... FAILED"), "{stdout}");
    let outputs = [
        ("stdout", stdout.clone()),
        ("stderr", stderr),
        (
            "junit",
            std::fs::read_to_string(&junit).expect("JUnit written"),
        ),
        (
            "json",
            std::fs::read_to_string(&json).expect("JSON written"),
        ),
    ];
    let hex_secret = hex::encode(SECRET);
    let spaced_hex: String = SECRET.bytes().map(|b| format!("{b:02x} ")).collect();
    for (name, text) in &outputs {
        assert!(
            !text.contains(SECRET),
            "{name} contains the secret:\n{text}"
        );
        assert!(
            !text.contains(&hex_secret),
            "{name} contains the secret in hex"
        );
        assert!(
            !text.contains(spaced_hex.trim_end()),
            "{name} contains the secret in spaced hex"
        );
    }
    // The evidence is still there, redacted.
    assert!(stdout.contains("password=***"), "{stdout}");
    assert!(outputs[2].1.contains("SECRET-FAIL"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_secret_on_the_command_line_is_refused() {
    let dir = temp_dir("secrets-cli");
    let suite = dir.join("secrets.yaml");
    std::fs::write(&suite, SUITE).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mqtt-conform"))
        .args([
            "--suite",
            suite.to_str().unwrap(),
            "--target",
            "mqtt://127.0.0.1:1",
            "--param",
            &format!("password={SECRET}"),
        ])
        .env_remove("MC_TEST_SECRET")
        .output()
        .expect("binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`password` is secret"), "{stderr}");
    assert!(!stderr.contains(SECRET), "{stderr}");
    // Without the environment variable: a clear message naming it.
    let out = Command::new(env!("CARGO_BIN_EXE_mqtt-conform"))
        .args([
            "--suite",
            suite.to_str().unwrap(),
            "--target",
            "mqtt://127.0.0.1:1",
        ])
        .env_remove("MC_TEST_SECRET")
        .output()
        .expect("binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("MC_TEST_SECRET"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A one-letter password is masked where it is the password (and where a field holds
/// exactly it), never inside other words, bytes or hex of the report.
#[test]
fn a_short_secret_masks_its_fields_not_other_text() {
    let broker = Mosquitto::start("secrets-short", "allow_anonymous true");
    let dir = temp_dir("secrets-short");
    let suite = dir.join("secrets.yaml");
    let closed_test = r#"  - id: SECRET-CLOSED
    title: a failure whose message reads expect closed
    steps:
      - connect: {}
      - expect: { closed: {}, within: 500ms }
"#;
    std::fs::write(&suite, format!("{SUITE}{closed_test}")).unwrap();
    let junit = dir.join("out.xml");
    let out = Command::new(env!("CARGO_BIN_EXE_mqtt-conform"))
        .args([
            "--suite",
            suite.to_str().unwrap(),
            "--target",
            &broker.url(),
        ])
        .args(["--verbose", "--color", "never", "--report-junit"])
        .arg(&junit)
        .env("MC_TEST_SECRET", "e")
        .output()
        .expect("binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let xml = std::fs::read_to_string(&junit)
        .expect("JUnit written")
        .replace("&quot;", "\"")
        .replace("&apos;", "'");
    for (name, text) in [("stdout", &stdout), ("junit", &xml)] {
        assert!(
            text.contains("step 2 (expect closed): expected the peer closing the connection"),
            "{name}:\n{text}"
        );
        assert!(!text.contains("***xp"), "{name}:\n{text}");
        // The echoed payload is the secret: masked as a field.
        assert!(text.contains(r#"got "***""#), "{name}:\n{text}");
        assert!(!text.contains(r#"got "e""#), "{name}:\n{text}");
    }
    // The CONNECT's bytes: the user name `device` intact (64 65 76 69 63 65), the one-byte
    // password field masked.
    assert!(
        stdout.contains(r#"username="device" password=*** ["#),
        "{stdout}"
    );
    assert!(
        stdout.contains("00 06 64 65 76 69 63 65 00 01 2a]"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Device mode masks a short secret in each text of its report, never in the JSON or XML
/// around them: the documents keep their keys and numbers, and parse.
#[test]
fn device_mode_reports_stay_whole_with_a_short_secret() {
    // `e` is inside most JSON keys; `null` is a JSON value of its own.
    for secret in ["e", "null"] {
        device_run_with_password(secret);
    }
}

fn device_run_with_password(secret: &str) {
    let dir = temp_dir("secrets-device");
    let password = dir.join("password.txt");
    std::fs::write(&password, format!("{secret}\n")).unwrap();
    let suite = dir.join("short.yaml");
    std::fs::write(
        &suite,
        format!(
            "name: short\nextends: mqtt-3.1.1\nparams:\n  password: {{ file: \"{}\", secret: true }}\n\
             auth:\n  scheme: plain\n  params: {{ client_id: short-secret-device, username: device, password: \"${{password}}\" }}\n",
            password.display()
        ),
    )
    .unwrap();
    let mut cloud = cloud::Cloud::start_suite(suite.to_str().unwrap(), "secrets-device", 1, &[]);
    let status = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &cloud.port.to_string()])
        .args(["-i", "short-secret-device", "-u", "device", "-P", secret])
        .args(["-t", "t/short", "-q", "1", "-m", "hello"])
        .status()
        .expect("mosquitto_pub is installed (Debian package mosquitto-clients)");
    assert!(status.success(), "the cloud accepted the device");
    let json = cloud.report_text();
    let xml = std::fs::read_to_string(cloud.dir.join("report.xml")).expect("JUnit written");
    roxmltree::Document::parse(&xml).expect("the JUnit report is well-formed");
    assert!(
        xml.contains("<testsuite name=\"short-secret-device\""),
        "{xml}"
    );
    let doc: serde_json::Value = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("the JSON report does not parse ({e}): {json}"));
    let names: Vec<&str> = doc["suites"]
        .as_array()
        .unwrap_or_else(|| panic!("no `suites` key: {json}"))
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert_eq!(names, ["short-secret-device"], "{json}");
    assert!(
        doc["summary"]["passed"].as_u64().is_some_and(|n| n > 0),
        "{json}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
