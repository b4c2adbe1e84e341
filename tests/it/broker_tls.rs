//! Broker mode over TLS against a real mosquitto with certificates made in the test.

use crate::support::mosquitto;
use crate::support::pki;
use crate::support::suite_run;

use mosquitto::{Mosquitto, free_port, temp_dir};
use mqtt_conform::runner::transport::TlsOptions;
use std::process::Command;

const CONNECT_SUITE: &str = "name: tls-smoke\ntests:\n  - id: TLS-CONNECT\n    title: CONNECT over the transport is accepted\n    steps:\n      - connect: {}\n      - send: { pingreq: {} }\n      - expect: { pingresp: {} }\n";

fn tls_listener(pki: &pki::Pki, extra: &str) -> String {
    format!(
        "allow_anonymous true\ncafile {}\ncertfile {}\nkeyfile {}\n{extra}",
        pki.ca.display(),
        pki.server_cert.display(),
        pki.server_key.display()
    )
}

fn cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mqtt-conform"))
        .args(args)
        .output()
        .expect("binary runs");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_baseline_suite_gives_the_same_verdicts_over_tls_as_over_tcp() {
    let dir = temp_dir("tls-same");
    let pki = pki::make(&dir, "good");
    let tls_port = free_port();
    // Two listeners on one broker: plain (the helper's first listener) and TLS.
    let broker = Mosquitto::start_in(
        dir,
        &format!(
            "allow_anonymous true\nlistener {tls_port} 127.0.0.1\n{}",
            tls_listener(&pki, "")
        ),
    );
    let plain = suite_run::run_builtin(
        "mqtt-3.1.1",
        &broker.url(),
        TlsOptions::default(),
        64,
        false,
    );
    let tls = suite_run::run_builtin(
        "mqtt-3.1.1",
        &format!("mqtts://localhost:{tls_port}"),
        TlsOptions {
            ca: Some(pki.ca.clone()),
            ..TlsOptions::default()
        },
        64,
        false,
    );
    let compared = suite_run::assert_same_verdicts_but_timing(&tls, &plain, "TLS");
    assert!(compared >= 1, "no test compared");
}

#[test]
fn a_wrong_ca_ends_the_run_with_one_clear_tls_error() {
    let dir = temp_dir("tls-wrong-ca");
    let good = pki::make(&dir, "good");
    let other = pki::make(&dir, "other");
    let broker = Mosquitto::start_in(dir.clone(), &tls_listener(&good, ""));
    let url = format!("mqtts://localhost:{}", broker.port);
    let junit = dir.join("wrong-ca.xml");
    let (code, stdout, stderr) = cli(&[
        "--suite",
        "mqtt-3.1.1",
        "--target",
        &url,
        "--ca",
        other.ca.to_str().unwrap(),
        "--report-junit",
        junit.to_str().unwrap(),
        "--color",
        "never",
    ]);
    assert_eq!(
        code, 3,
        "documented exit code for an unusable target\n{stdout}\n{stderr}"
    );
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("TLS handshake with")
            && errors[0].to_lowercase().contains("certificate"),
        "{stderr}"
    );
    assert!(!stdout.contains("test MQTT311"), "no test ran: {stdout}");
    // With the right CA the same broker is usable.
    let suite_file = dir.join("smoke.yaml");
    std::fs::write(&suite_file, CONNECT_SUITE).unwrap();
    let (code, stdout, stderr) = cli(&[
        "--suite",
        suite_file.to_str().unwrap(),
        "--target",
        &url,
        "--ca",
        good.ca.to_str().unwrap(),
        "--report-junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
}

#[test]
fn mutual_tls_needs_the_client_certificate() {
    let dir = temp_dir("tls-mutual");
    let pki = pki::make(&dir, "mutual");
    let broker = Mosquitto::start_in(
        dir.clone(),
        &tls_listener(&pki, "require_certificate true\n"),
    );
    let url = format!("mqtts://localhost:{}", broker.port);
    let suite_file = dir.join("smoke.yaml");
    std::fs::write(&suite_file, CONNECT_SUITE).unwrap();
    let junit = dir.join("mutual.xml");
    let base = [
        "--suite",
        suite_file.to_str().unwrap(),
        "--target",
        &url,
        "--ca",
        pki.ca.to_str().unwrap(),
        "--report-junit",
        junit.to_str().unwrap(),
    ];
    let (code, _, stderr) = cli(&base);
    assert_eq!(code, 3, "without a client certificate: {stderr}");
    assert!(stderr.contains("TLS"), "{stderr}");
    assert!(
        stderr.contains("client certificate") || stderr.contains("certificate required"),
        "{stderr}"
    );
    let mut with_cert = base.to_vec();
    with_cert.extend([
        "--cert",
        pki.client_cert.to_str().unwrap(),
        "--key",
        pki.client_key.to_str().unwrap(),
    ]);
    let (code, stdout, stderr) = cli(&with_cert);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("test TLS-CONNECT ... ok"), "{stdout}");
}

#[test]
fn a_pinned_tls_version_the_server_refuses_is_a_handshake_error() {
    let dir = temp_dir("tls-version");
    let pki = pki::make(&dir, "pin");
    let broker = Mosquitto::start_in(dir.clone(), &tls_listener(&pki, "tls_version tlsv1.3\n"));
    let url = format!("mqtts://localhost:{}", broker.port);
    let pinned = dir.join("pinned.yaml");
    std::fs::write(
        &pinned,
        format!(
            "name: pinned\nendpoint: {{ tls: {{ required: true, versions: [\"1.2\"] }} }}\n{}",
            &CONNECT_SUITE["name: tls-smoke\n".len()..]
        ),
    )
    .unwrap();
    let junit = dir.join("pin.xml");
    let (code, _, stderr) = cli(&[
        "--suite",
        pinned.to_str().unwrap(),
        "--target",
        &url,
        "--ca",
        pki.ca.to_str().unwrap(),
        "--report-junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("TLS handshake"), "{stderr}");
    // The suite requires TLS: a plain target is refused before anything is sent.
    let (code, _, stderr) = cli(&[
        "--suite",
        pinned.to_str().unwrap(),
        "--target",
        "mqtt://127.0.0.1:1",
        "--report-junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("requires TLS"), "{stderr}");
}
