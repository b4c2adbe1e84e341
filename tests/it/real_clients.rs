//! Real conforming clients as devices: paho-mqtt and MQTT.js (3.1.1 and 5.0), rumqttc and
//! mosquitto_pub / mosquitto_sub connect to `mqtt-conform --suite S --listen` with an identity
//! valid for S, subscribe and publish the normal way on the suite's topics, stay idle across
//! two Keep Alive periods (the client's own PINGREQs keep the connection up) and disconnect.
//! A conforming client must get no failed rule, and the suite's keep-alive rule must have
//! judged it.
//!
//! Each client meets its own device-mode cloud. The scenarios are long (two Keep Alive
//! periods, and the vendor suites' minimum Keep Alive is 30 s), so the first test to run
//! starts every scenario the command line selects at once and each test waits for its own:
//! the file takes about as long as its longest scenario (about 75 s).
//!
//! Needs: `python3` with paho-mqtt 2, `node` with `npm ci --prefix tests/js` done,
//! mosquitto_pub / mosquitto_sub.

use crate::support::cloud;
use crate::support::program::wait_for;

use cloud::Cloud;
use mqtt_conform::auth::tuya::SignMethod as TuyaSign;
use mqtt_conform::auth::{aliyun, onenet};
use mqtt_conform::judge::Check;
use mqtt_conform::secret::Secret;
use rustls::pki_types::pem::PemObject;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// How long one step of a client (CONNACK, SUBACK, PUBACK, the end of its connection) may take.
const STEP_DEADLINE: Duration = Duration::from_secs(10);
/// How long a scenario may take beyond its idle period.
const SCENARIO_SLACK: Duration = Duration::from_secs(40);

/// A client program, and the MQTT version it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Client {
    /// paho-mqtt (Python), `paho_device.py`.
    Paho(Version),
    /// MQTT.js (Node), `tests/js/device.js`.
    MqttJs(Version),
    /// rumqttc, in this process (`rumqttc` for 3.1.1, `rumqttc::v5` for 5.0).
    Rumqttc(Version),
    /// `mosquitto_pub -l`: one line published, the idle period, a second line, end of input.
    MosquittoPub(Version),
    /// `mosquitto_sub -W`: subscribes, and ends its connection when the idle period is over.
    MosquittoSub(Version),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Version {
    V311,
    V5,
}

impl Version {
    fn number(self) -> &'static str {
        match self {
            Version::V311 => "3.1.1",
            Version::V5 => "5",
        }
    }
}

/// The identity and the topics a client uses against one suite.
#[derive(Debug, Clone)]
struct Device {
    client_id: String,
    username: Option<String>,
    password: Option<String>,
    /// The Keep Alive, in seconds: the smallest the suite accepts without a failure that the
    /// clients can all send (rumqttc's 5.0 client refuses less than 5 s).
    keepalive: u64,
    /// A filter the device subscribes to, in the suite's catalogue.
    subscribe: String,
    /// A topic the device publishes to, in the suite's catalogue.
    publish: String,
    /// The payload; `{n}` is the publish's number.
    payload: String,
}

impl Device {
    /// Two Keep Alive periods and a second: every client must send PINGREQ at least twice.
    fn idle(&self) -> Duration {
        Duration::from_secs(2 * self.keepalive + 1)
    }
}

/// The Tuya suite's example device (what device mode provisions).
const TUYA_DEVICE_ID: &str = cloud::DEVICE_ID;
/// The Alibaba suite's example identity.
const ALIYUN_PRODUCT_KEY: &str = "a1hQSwFledE";
const ALIYUN_DEVICE_NAME: &str = "eud1jXfEgCsAiP2eId9Q";
const ALIYUN_SECRET: &str = "Test0123456789abcdefTest0123456789";
/// The OneNET suite's example identity.
const ONENET_PRODUCT_ID: &str = "123123";
const ONENET_DEVICE_NAME: &str = "mydev";
const ONENET_ACCESS_KEY: &str = "q6cQQucPT58l4SUG4XC5X9nDB/q36tRnlo9aBJmAu9I=";
/// The Watson suite's example device.
const WATSON_CLIENT_ID: &str = "d:abc123:sensor:dev-01";
const WATSON_TOKEN: &str = "Wiotp-Example.Token_0042";

fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

/// The device a client plays against `suite`: an identity valid for it, a Keep Alive it accepts
/// and topics of its catalogue; `tag` names the client where the client id is free.
fn device(suite: &str, tag: &str) -> Device {
    match suite {
        "mqtt-3.1.1" | "mqtt-5" => Device {
            client_id: format!("real-{tag}"),
            username: None,
            password: None,
            keepalive: 5,
            subscribe: format!("conform/{tag}/#"),
            publish: format!("conform/{tag}/telemetry"),
            payload: r#"{"n":{n},"temp":21.5}"#.into(),
        },
        "tuya" => {
            let (client_id, user, password) =
                cloud::credentials(TuyaSign::HmacSha256, cloud::SECRET);
            Device {
                client_id,
                username: Some(user),
                password: Some(password),
                // Tuya's range starts at 30 s (below 60 s is discouraged: a warning).
                keepalive: 30,
                subscribe: format!("tylink/{TUYA_DEVICE_ID}/thing/property/set"),
                publish: format!("tylink/{TUYA_DEVICE_ID}/thing/property/report"),
                payload: r#"{"msgId":"{n}","time":1626197189638,"data":{"c":{"value":{n},"time":1626197189638}}}"#.into(),
            }
        }
        "aliyun" | "aliyun-mqtt5" => {
            // The SDKs' inner client id is `<ProductKey>.<DeviceName>`; a tag keeps the
            // scenarios' logins apart in the report.
            let c = aliyun::Params::new(
                ALIYUN_PRODUCT_KEY,
                ALIYUN_DEVICE_NAME,
                Secret::new(ALIYUN_SECRET.to_owned()),
                format!("{ALIYUN_PRODUCT_KEY}.{tag}"),
                aliyun::SignMethod::HmacSha256,
                3,
                Some(unix_seconds() * 1000),
            )
            .credentials();
            let sys = format!("/sys/{ALIYUN_PRODUCT_KEY}/{ALIYUN_DEVICE_NAME}");
            Device {
                client_id: c.client_id,
                username: c.username,
                password: c.password.map(|p| p.expose().to_owned()),
                // Alibaba's range starts at 30 s (below 300 s is discouraged: a warning).
                keepalive: 30,
                subscribe: format!("{sys}/thing/event/property/post_reply"),
                publish: format!("{sys}/thing/event/property/post"),
                payload: r#"{"id":"{n}","version":"1.0","params":{"Power":"on"},"method":"thing.event.property.post"}"#.into(),
            }
        }
        "onenet" => {
            let c = onenet::Params::new(
                ONENET_PRODUCT_ID,
                ONENET_DEVICE_NAME,
                Secret::new(ONENET_ACCESS_KEY.to_owned()),
                unix_seconds() + 3600,
                onenet::Method::Sha256,
            )
            .credentials()
            .expect("a base64 access key");
            let own = format!("$sys/{ONENET_PRODUCT_ID}/{ONENET_DEVICE_NAME}");
            Device {
                client_id: c.client_id,
                username: c.username,
                password: c.password.map(|p| p.expose().to_owned()),
                // OneNET's range starts at 10 s.
                keepalive: 10,
                subscribe: format!("{own}/dp/post/json/+"),
                publish: format!("{own}/dp/post/json"),
                payload: r#"{"id":{n},"dp":{"temperature":[{"v":30}]}}"#.into(),
            }
        }
        "watson" => Device {
            client_id: WATSON_CLIENT_ID.into(),
            username: Some("use-token-auth".into()),
            password: Some(WATSON_TOKEN.into()),
            // Watson documents no range.
            keepalive: 5,
            subscribe: "iot-2/cmd/+/fmt/+".into(),
            publish: "iot-2/evt/status/fmt/json".into(),
            // The application's JSON as the Watson device SDKs send it.
            payload: r#"{"n":{n},"temp":21.5}"#.into(),
        },
        other => panic!("no device for suite {other}"),
    }
}

/// What a scenario produced: the cloud's JSON report groups (one per client id), or why it
/// could not run.
type Outcome = Result<Vec<(String, Vec<Value>)>, String>;

/// The scenarios this run of the test binary asks for: those whose test name holds one of the
/// name filters on the command line (all when there is none). Only a head start: a test whose
/// scenario was not started here starts it itself.
fn selected_scenarios() -> Vec<(&'static str, Client)> {
    // libtest options that take a value in the next argument.
    const WITH_VALUE: &[&str] = &[
        "--skip",
        "--test-threads",
        "--logfile",
        "--format",
        "--color",
        "--shuffle-seed",
        "-Z",
    ];
    let mut filters = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if WITH_VALUE.contains(&arg.as_str()) {
            args.next();
        } else if !arg.starts_with('-') {
            filters.push(arg);
        }
    }
    SCENARIOS
        .iter()
        .filter(|(name, _, _)| {
            filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
        })
        .map(|&(_, suite, client)| (suite, client))
        .collect()
}

/// Runs `suite` × `client` on a thread of its own; the outcome arrives on the receiver.
fn start(suite: &'static str, client: Client) -> Receiver<Outcome> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(|| run_scenario(suite, client))
            .unwrap_or_else(|panic| Err(panic_text(&*panic)));
        let _ = tx.send(result);
    });
    rx
}

/// The outcome of `suite` × `client`. The first call starts every selected scenario, so they
/// all run at once; each call waits for its own.
fn outcome(suite: &'static str, client: Client) -> Outcome {
    type Started = Mutex<BTreeMap<(&'static str, Client), Receiver<Outcome>>>;
    static STARTED: OnceLock<Started> = OnceLock::new();
    let started = STARTED.get_or_init(|| {
        let receivers = selected_scenarios()
            .into_iter()
            .map(|(suite, client)| ((suite, client), start(suite, client)))
            .collect();
        Mutex::new(receivers)
    });
    let rx = started
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .remove(&(suite, client))
        .unwrap_or_else(|| start(suite, client));
    let limit = device(suite, "limit").idle() + SCENARIO_SLACK + Duration::from_secs(60);
    rx.recv_timeout(limit)
        .unwrap_or_else(|e| panic!("{suite} × {client:?}: no outcome within {limit:?}: {e}"))
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic without a message".into())
}

/// A short name for `client` (free client ids, temporary directories).
fn tag(client: Client) -> String {
    let (name, version) = match client {
        Client::Paho(v) => ("paho", v),
        Client::MqttJs(v) => ("mqttjs", v),
        Client::Rumqttc(v) => ("rumqttc", v),
        Client::MosquittoPub(v) => ("mosquitto-pub", v),
        Client::MosquittoSub(v) => ("mosquitto-sub", v),
    };
    let version = match version {
        Version::V311 => "311",
        Version::V5 => "5",
    };
    format!("{name}-{version}")
}

/// Starts the suite's cloud, runs the client against it, returns the cloud's report.
fn run_scenario(suite: &'static str, client: Client) -> Outcome {
    let tag = tag(client);
    let device = device(suite, &tag);
    let cloud = Cloud::start_suite_for(
        suite,
        &format!("real-{suite}-{tag}"),
        1,
        device.idle() + SCENARIO_SLACK,
        &[],
    );
    let ca = (!cloud.ca.as_os_str().is_empty()).then(|| cloud.ca.clone());
    let ran = match client {
        Client::Paho(v) => run_program(
            Command::new("python3").arg(repo_file("tests/py/paho_device.py")),
            "python3 with paho-mqtt 2",
            &device,
            v,
            cloud.port,
            ca.as_deref(),
        ),
        Client::MqttJs(v) => run_program(
            Command::new("node").arg(mqtt_js_device()),
            "node",
            &device,
            v,
            cloud.port,
            ca.as_deref(),
        ),
        Client::Rumqttc(Version::V311) => rumqttc_v4(&device, cloud.port, ca.as_deref()),
        Client::Rumqttc(Version::V5) => rumqttc_v5(&device, cloud.port, ca.as_deref()),
        Client::MosquittoPub(v) => mosquitto_pub(&device, v, cloud.port, ca.as_deref()),
        Client::MosquittoSub(v) => mosquitto_sub(&device, v, cloud.port, ca.as_deref()),
    };
    let groups = cloud.groups();
    ran.map_err(|e| format!("the client did not complete: {e}"))?;
    Ok(groups)
}

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// `tests/js/device.js`, once MQTT.js is installed beside it.
fn mqtt_js_device() -> PathBuf {
    let installed = repo_file("tests/js/node_modules/mqtt/package.json");
    assert!(
        installed.exists(),
        "MQTT.js is not installed: run `npm ci --prefix tests/js` (no {})",
        installed.display()
    );
    repo_file("tests/js/device.js")
}

/// Runs a device program (paho or MQTT.js) with the device in its environment; Ok when it
/// completed its script within the idle period and its steps' deadlines.
fn run_program(
    command: &mut Command,
    what: &str,
    device: &Device,
    version: Version,
    port: u16,
    ca: Option<&Path>,
) -> Result<(), String> {
    command
        .env("RC_HOST", "127.0.0.1")
        .env("RC_PORT", port.to_string())
        .env("RC_PROTOCOL", version.number())
        .env("RC_CLIENT_ID", &device.client_id)
        .env("RC_USERNAME", device.username.as_deref().unwrap_or(""))
        .env("RC_PASSWORD", device.password.as_deref().unwrap_or(""))
        .env("RC_KEEPALIVE", device.keepalive.to_string())
        .env("RC_IDLE", device.idle().as_secs().to_string())
        .env("RC_SUBSCRIBE", &device.subscribe)
        .env("RC_PUBLISH", &device.publish)
        .env("RC_PAYLOAD", &device.payload)
        .env("RC_CA", ca.map(Path::as_os_str).unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("{what} is installed: {e}"));
    wait_for(child, device.idle() + 4 * STEP_DEADLINE)
}

/// The mosquitto clients' connection arguments for `device`.
fn mosquitto_args(device: &Device, version: Version, port: u16, ca: Option<&Path>) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "-h".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
        "-V".into(),
        match version {
            Version::V311 => "mqttv311",
            Version::V5 => "mqttv5",
        }
        .into(),
        "-i".into(),
        device.client_id.clone(),
        "-k".into(),
        device.keepalive.to_string(),
        "-q".into(),
        "1".into(),
    ];
    if let Some(user) = &device.username {
        args.extend(["-u".into(), user.clone()]);
    }
    if let Some(password) = &device.password {
        args.extend(["-P".into(), password.clone()]);
    }
    if let Some(ca) = ca {
        args.extend(["--cafile".into(), ca.display().to_string()]);
    }
    args
}

/// `mosquitto_pub -l`: publishes a line, stays idle, publishes a second and ends its input.
fn mosquitto_pub(
    device: &Device,
    version: Version,
    port: u16,
    ca: Option<&Path>,
) -> Result<(), String> {
    let mut child = Command::new("mosquitto_pub")
        .args(mosquitto_args(device, version, port, ca))
        .args(["-t", &device.publish, "-l"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mosquitto_pub is installed (Debian package mosquitto-clients)");
    let mut input = child.stdin.take().expect("stdin");
    let line = |n: u32| format!("{}\n", device.payload.replace("{n}", &n.to_string()));
    let fed = input.write_all(line(1).as_bytes()).and_then(|()| {
        // The idle period is what is tested: the client must keep its connection up alone.
        std::thread::sleep(device.idle());
        input.write_all(line(2).as_bytes())
    });
    // End of input: mosquitto_pub sends what it has, disconnects and exits.
    drop(input);
    let ended = wait_for(child, STEP_DEADLINE);
    fed.map_err(|e| format!("its input: {e}"))?;
    ended
}

/// `mosquitto_sub -W`: subscribes, and ends its connection when the idle period is over.
fn mosquitto_sub(
    device: &Device,
    version: Version,
    port: u16,
    ca: Option<&Path>,
) -> Result<(), String> {
    let child = Command::new("mosquitto_sub")
        .args(mosquitto_args(device, version, port, ca))
        .args(["-t", &device.subscribe])
        .args(["-W", &device.idle().as_secs().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mosquitto_sub is installed (Debian package mosquitto-clients)");
    // `-W` ends mosquitto_sub with status 27 (timed out), which is its normal end here.
    match wait_for(child, device.idle() + STEP_DEADLINE) {
        Err(e) if e.contains("exit status: 27") => Ok(()),
        other => other,
    }
}

/// A rustls client configuration trusting the cloud's certificate.
fn rustls_transport(ca: &Path) -> rumqttc::Transport {
    let pem = std::fs::read(ca).expect("the cloud's certificate");
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.expect("a PEM certificate")).expect("a CA");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(Arc::new(config)))
}

/// rumqttc (MQTT 3.1.1): subscribe, publish, idle, publish, unsubscribe, disconnect.
fn rumqttc_v4(device: &Device, port: u16, ca: Option<&Path>) -> Result<(), String> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let mut options = MqttOptions::new(device.client_id.clone(), "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(device.keepalive));
    if let (Some(user), Some(password)) = (&device.username, &device.password) {
        options.set_credentials(user.clone(), password.clone());
    }
    if let Some(ca) = ca {
        options.set_transport(rustls_transport(ca));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let (client, mut events) = AsyncClient::new(options, 10);
        let payload = |n: u32| device.payload.replace("{n}", &n.to_string());
        client
            .subscribe(&device.subscribe, QoS::AtLeastOnce)
            .await
            .map_err(|e| e.to_string())?;
        client
            .publish(&device.publish, QoS::AtLeastOnce, false, payload(1))
            .await
            .map_err(|e| e.to_string())?;
        let idle_until = tokio::time::Instant::now() + device.idle();
        let mut acks = 0;
        let mut second_sent = false;
        loop {
            let wake = if second_sent {
                idle_until + STEP_DEADLINE
            } else {
                idle_until
            };
            match tokio::time::timeout_at(wake, events.poll()).await {
                Ok(Ok(Event::Incoming(Packet::SubAck(ack)))) => {
                    if ack
                        .return_codes
                        .contains(&rumqttc::SubscribeReasonCode::Failure)
                    {
                        return Err(format!("SUBACK refused: {ack:?}"));
                    }
                }
                Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => {
                    acks += 1;
                    if acks == 2 {
                        client
                            .unsubscribe(&device.subscribe)
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                }
                Ok(Ok(Event::Incoming(Packet::UnsubAck(_)))) => break,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(format!("connection error: {e}")),
                Err(_) if !second_sent => {
                    client
                        .publish(&device.publish, QoS::AtLeastOnce, false, payload(2))
                        .await
                        .map_err(|e| e.to_string())?;
                    second_sent = true;
                }
                Err(_) => return Err("no PUBACK for the second publish, or no UNSUBACK".into()),
            }
        }
        client.disconnect().await.map_err(|e| e.to_string())?;
        // rumqttc leaves the close to its user: the connection lives as long as the event
        // loop is polled. Once the DISCONNECT is out, the loop is dropped, which closes it
        // (MQTT-3.14.4-1).
        let deadline = tokio::time::Instant::now() + STEP_DEADLINE;
        loop {
            match tokio::time::timeout_at(deadline, events.poll()).await {
                Ok(Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect))) | Ok(Err(_)) => {
                    return Ok(());
                }
                Ok(Ok(_)) => {}
                Err(_) => return Err("the DISCONNECT did not go out".into()),
            }
        }
    })
}

/// rumqttc (MQTT 5.0): subscribe, publish, idle, publish, unsubscribe, disconnect.
fn rumqttc_v5(device: &Device, port: u16, ca: Option<&Path>) -> Result<(), String> {
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};
    let mut options = MqttOptions::new(device.client_id.clone(), "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(device.keepalive));
    if let (Some(user), Some(password)) = (&device.username, &device.password) {
        options.set_credentials(user.clone(), password.clone());
    }
    if let Some(ca) = ca {
        options.set_transport(rustls_transport(ca));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let (client, mut events) = AsyncClient::new(options, 10);
        let payload = |n: u32| device.payload.replace("{n}", &n.to_string());
        client
            .subscribe(&device.subscribe, QoS::AtLeastOnce)
            .await
            .map_err(|e| e.to_string())?;
        client
            .publish(&device.publish, QoS::AtLeastOnce, false, payload(1))
            .await
            .map_err(|e| e.to_string())?;
        let idle_until = tokio::time::Instant::now() + device.idle();
        let mut acks = 0;
        let mut second_sent = false;
        loop {
            let wake = if second_sent {
                idle_until + STEP_DEADLINE
            } else {
                idle_until
            };
            match tokio::time::timeout_at(wake, events.poll()).await {
                Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => {
                    acks += 1;
                    if acks == 2 {
                        client
                            .unsubscribe(&device.subscribe)
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                }
                Ok(Ok(Event::Incoming(Packet::UnsubAck(_)))) => break,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(format!("connection error: {e}")),
                Err(_) if !second_sent => {
                    client
                        .publish(&device.publish, QoS::AtLeastOnce, false, payload(2))
                        .await
                        .map_err(|e| e.to_string())?;
                    second_sent = true;
                }
                Err(_) => return Err("no PUBACK for the second publish, or no UNSUBACK".into()),
            }
        }
        client.disconnect().await.map_err(|e| e.to_string())?;
        // rumqttc leaves the close to its user: the connection lives as long as the event
        // loop is polled. Once the DISCONNECT is out, the loop is dropped, which closes it
        // (MQTT-3.14.4-2).
        let deadline = tokio::time::Instant::now() + STEP_DEADLINE;
        loop {
            match tokio::time::timeout_at(deadline, events.poll()).await {
                Ok(Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect))) | Ok(Err(_)) => {
                    return Ok(());
                }
                Ok(Ok(_)) => {}
                Err(_) => return Err("the DISCONNECT did not go out".into()),
            }
        }
    })
}

/// The ids of `suite`'s rules that judge an idle client's keep-alive (`client_silence`).
fn keepalive_rules(suite: &str) -> Vec<String> {
    let suite = mqtt_conform::suite::load(suite).expect("the built-in suite loads");
    suite
        .rules
        .iter()
        .filter(|r| {
            r.check
                .value
                .as_slice()
                .iter()
                .any(|c| matches!(c, Check::ClientSilence))
        })
        .map(|r| r.id.value.clone())
        .collect()
}

/// A report's cases as (group, case).
fn cases_of(groups: &[(String, Vec<Value>)]) -> Vec<(&str, &Value)> {
    groups
        .iter()
        .flat_map(|(name, cases)| cases.iter().map(move |c| (name.as_str(), c)))
        .collect()
}

fn status(case: &Value) -> &str {
    case["verdict"]["status"].as_str().unwrap_or("")
}

/// Asserts that no case of `cases` failed, listing every failure with its message; warnings
/// and inconclusive verdicts are allowed and printed for the record.
fn assert_no_failure(label: &str, cases: &[(&str, &Value)]) {
    let line = |(group, case): &(&str, &Value)| {
        format!(
            "  {group} {} {}: {}",
            case["id"].as_str().unwrap_or("?"),
            status(case),
            case["verdict"]["message"].as_str().unwrap_or("")
        )
    };
    for case in cases.iter().filter(|(_, c)| status(c) != "passed") {
        eprintln!("{label}:{}", line(case));
    }
    let failed: Vec<String> = cases
        .iter()
        .filter(|(_, c)| status(c) == "failed")
        .map(line)
        .collect();
    assert!(
        failed.is_empty(),
        "{label}: {} failed rule(s) for a conforming client:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// Asserts that the scenario's client ran, that no rule failed (every failure is listed with
/// its message), and that each of the suite's keep-alive rules judged the idle client and
/// passed.
fn assert_conforming(suite: &'static str, client: Client) {
    let groups = outcome(suite, client).unwrap_or_else(|e| panic!("{suite} × {client:?}: {e}"));
    let cases = cases_of(&groups);
    assert_no_failure(&format!("{suite} × {client:?}"), &cases);
    let judged: Vec<String> = cases
        .iter()
        .map(|(_, c)| format!("{} {}", c["id"].as_str().unwrap_or("?"), status(c)))
        .collect();
    let rules = keepalive_rules(suite);
    assert!(
        !rules.is_empty(),
        "{suite} × {client:?}: the suite has no rule judging an idle client's keep-alive, so \
         nothing was judged across the idle period; the report has: {judged:?}"
    );
    for rule in rules {
        assert!(
            cases
                .iter()
                .any(|(_, c)| c["id"] == rule.as_str() && status(c) == "passed"),
            "{suite} × {client:?}: the keep-alive rule {rule} did not pass on the idle client; \
             the report has: {judged:?}"
        );
    }
}

/// Alibaba's Link SDK 4.x posts properties as `{"id", "version", "params", "sys": {"ack"}}`
/// with no `method` (its `ALINK_REQUEST_FMT`, components/data-model/dm_private.h): the topic
/// names the method. mosquitto_pub posts that shape once.
#[test]
fn a_property_post_shaped_like_the_alibaba_link_sdk_passes() {
    let device = device("aliyun", "link-sdk");
    let cloud = Cloud::start_suite("aliyun", "real-aliyun-link-sdk", 1, &[]);
    let payload = r#"{"id":"1","version":"1.0","params":{"Power":"on"},"sys":{"ack":0}}"#;
    let child = Command::new("mosquitto_pub")
        .args(mosquitto_args(&device, Version::V311, cloud.port, None))
        .args(["-t", &device.publish, "-m", payload])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mosquitto_pub is installed (Debian package mosquitto-clients)");
    let sent = wait_for(child, STEP_DEADLINE);
    let groups = cloud.groups();
    sent.unwrap_or_else(|e| panic!("mosquitto_pub did not complete: {e}"));
    let cases = cases_of(&groups);
    assert!(
        cases.iter().any(|(_, c)| c["id"] == "ALI-PAY-01"),
        "the property post was judged: {groups:?}"
    );
    assert_no_failure("aliyun × Link SDK property post", &cases);
}

/// One test per scenario, and [`SCENARIOS`]: `name => (suite, client)`.
macro_rules! conforming_clients {
    ($($name:ident => ($suite:literal, $client:expr),)*) => {
        /// Every scenario of the file: (test name, suite, client).
        const SCENARIOS: &[(&str, &str, Client)] = {
            use Client::*;
            use Version::*;
            &[$((stringify!($name), $suite, $client),)*]
        };
        $(
            #[test]
            fn $name() {
                use Client::*;
                use Version::*;
                assert_conforming($suite, $client);
            }
        )*
    };
}

conforming_clients! {
    paho_311_as_a_plain_mqtt_311_device => ("mqtt-3.1.1", Paho(V311)),
    mqtt_js_311_as_a_plain_mqtt_311_device => ("mqtt-3.1.1", MqttJs(V311)),
    rumqttc_311_as_a_plain_mqtt_311_device => ("mqtt-3.1.1", Rumqttc(V311)),
    mosquitto_pub_311_as_a_plain_mqtt_311_device => ("mqtt-3.1.1", MosquittoPub(V311)),
    mosquitto_sub_311_as_a_plain_mqtt_311_device => ("mqtt-3.1.1", MosquittoSub(V311)),
    paho_5_as_a_plain_mqtt_5_device => ("mqtt-5", Paho(V5)),
    mqtt_js_5_as_a_plain_mqtt_5_device => ("mqtt-5", MqttJs(V5)),
    rumqttc_5_as_a_plain_mqtt_5_device => ("mqtt-5", Rumqttc(V5)),
    mosquitto_pub_5_as_a_plain_mqtt_5_device => ("mqtt-5", MosquittoPub(V5)),
    mosquitto_sub_5_as_a_plain_mqtt_5_device => ("mqtt-5", MosquittoSub(V5)),
    paho_311_as_a_tuya_device => ("tuya", Paho(V311)),
    mqtt_js_311_as_a_tuya_device => ("tuya", MqttJs(V311)),
    rumqttc_311_as_a_tuya_device => ("tuya", Rumqttc(V311)),
    mosquitto_pub_311_as_a_tuya_device => ("tuya", MosquittoPub(V311)),
    mosquitto_sub_311_as_a_tuya_device => ("tuya", MosquittoSub(V311)),
    paho_311_as_an_aliyun_device => ("aliyun", Paho(V311)),
    mqtt_js_311_as_an_aliyun_device => ("aliyun", MqttJs(V311)),
    rumqttc_311_as_an_aliyun_device => ("aliyun", Rumqttc(V311)),
    mosquitto_pub_311_as_an_aliyun_device => ("aliyun", MosquittoPub(V311)),
    mosquitto_sub_311_as_an_aliyun_device => ("aliyun", MosquittoSub(V311)),
    paho_311_as_a_onenet_device => ("onenet", Paho(V311)),
    mqtt_js_311_as_a_onenet_device => ("onenet", MqttJs(V311)),
    rumqttc_311_as_a_onenet_device => ("onenet", Rumqttc(V311)),
    mosquitto_pub_311_as_a_onenet_device => ("onenet", MosquittoPub(V311)),
    mosquitto_sub_311_as_a_onenet_device => ("onenet", MosquittoSub(V311)),
    paho_311_as_a_watson_device => ("watson", Paho(V311)),
    mqtt_js_311_as_a_watson_device => ("watson", MqttJs(V311)),
    rumqttc_311_as_a_watson_device => ("watson", Rumqttc(V311)),
    mosquitto_pub_311_as_a_watson_device => ("watson", MosquittoPub(V311)),
    mosquitto_sub_311_as_a_watson_device => ("watson", MosquittoSub(V311)),
    paho_5_as_an_aliyun_enterprise_device => ("aliyun-mqtt5", Paho(V5)),
    mqtt_js_5_as_an_aliyun_enterprise_device => ("aliyun-mqtt5", MqttJs(V5)),
    rumqttc_5_as_an_aliyun_enterprise_device => ("aliyun-mqtt5", Rumqttc(V5)),
    mosquitto_pub_5_as_an_aliyun_enterprise_device => ("aliyun-mqtt5", MosquittoPub(V5)),
    mosquitto_sub_5_as_an_aliyun_enterprise_device => ("aliyun-mqtt5", MosquittoSub(V5)),
    paho_5_as_a_watson_device => ("watson", Paho(V5)),
    mqtt_js_5_as_a_watson_device => ("watson", MqttJs(V5)),
    rumqttc_5_as_a_watson_device => ("watson", Rumqttc(V5)),
    mosquitto_pub_5_as_a_watson_device => ("watson", MosquittoPub(V5)),
    mosquitto_sub_5_as_a_watson_device => ("watson", MosquittoSub(V5)),
}
