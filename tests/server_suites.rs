//! The built-in suites run in broker mode against the emulator shaped by each suite's own
//! profile: the embedded default (`mqtt-conform --suite NAME` with no target) in a test.

use mqtt_conform::runner::transport::{Target, TlsOptions};
use mqtt_conform::runner::{RunOptions, Selection, run_suite};
use mqtt_conform::server::{Server, ServerConfig};
use mqtt_conform::suite::profile::Profile;
use mqtt_conform::suite::vars::Vars;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// A self-signed certificate for 127.0.0.1: (cert PEM path, key PEM path, DER).
fn certificate(name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("certificate");
    let dir = std::env::temp_dir().join(format!(
        "mqtt-conform-server-suite-{name}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert.cert.pem()).unwrap();
    std::fs::write(&k, cert.signing_key.serialize_pem()).unwrap();
    (c, k)
}

/// Runs suite `name` against an emulator built from its profile, parameters (examples),
/// auth scheme and TLS requirement; panics listing every failing case.
async fn assert_passes_against_emulator(name: &str) {
    let suite = Arc::new(mqtt_conform::suite::load(name).expect("built-in suite"));
    let params = suite
        .resolve_params(&BTreeMap::new(), true)
        .expect("examples fill every parameter");
    let profile = Profile::from_value(suite.profile.as_ref()).expect("profile");
    let mut config = ServerConfig::new(profile);
    let mut vars = Vars::new();
    for (k, v) in &params.values {
        vars.set(k.clone(), v.clone());
    }
    if let Some(auth) = &suite.auth {
        let scheme: mqtt_conform::auth::Scheme = auth.scheme.value.parse().expect("scheme");
        let values = auth
            .params
            .iter()
            .map(|(k, v)| (k.clone(), vars.interpolate(v).expect("auth parameter")))
            .collect();
        let identity = mqtt_conform::auth::suite_params::identity(scheme, &values).unwrap();
        config.auth = Some(Arc::new(identity));
    }
    config.vars = vars;
    config.emit_events = false;
    let tls = suite.tls.as_ref().is_some_and(|t| t.required);
    let mut ca = None;
    if tls {
        let (cert, key) = certificate(name);
        config.tls = Some(mqtt_conform::server::tls_config(&cert, &key).unwrap());
        ca = Some(cert);
    }
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect("emulator binds");
    let opts = RunOptions {
        target: Target::parse(
            &format!(
                "{}://{}",
                if tls { "mqtts" } else { "mqtt" },
                server.local_addr
            ),
            None,
        )
        .unwrap(),
        tls: TlsOptions {
            ca,
            ..TlsOptions::default()
        },
        jobs: 64,
        selection: Selection::default(),
        connect_timeout: Duration::from_secs(5),
        max_packet_size: 16 << 20,
    };
    let report = run_suite(suite, &params, &opts, &mut |_| {})
        .await
        .expect("run starts");
    let failures: Vec<String> = report
        .cases()
        .filter(|c| c.verdict.is_failure())
        .map(|c| format!("{}: {:?}", c.id, c.verdict))
        .collect();
    assert!(report.cases().count() > 0, "{name}: no test ran");
    assert!(
        failures.is_empty(),
        "{name}: {} of {} tests fail against the emulator:\n{}",
        failures.len(),
        report.cases().count(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baseline_suite_passes_against_the_default_emulator() {
    assert_passes_against_emulator("mqtt-3.1.1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tuya_suite_passes_against_the_tuya_emulator() {
    assert_passes_against_emulator("tuya").await;
}
