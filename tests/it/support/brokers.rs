//! Starts the other real brokers of the verdict matrix for a test — aedes (npm), amqtt (PyPI)
//! and rumqttd (crates.io) — each on free loopback ports with a config the test writes,
//! stopped when dropped. Uses `support/mosquitto.rs` (included as `mod mosquitto`) for free
//! ports and temporary directories.

#![allow(dead_code)]

use super::mosquitto::{free_port, temp_dir};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A broker of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// aedes, the Node.js broker (MQTT 3.1 / 3.1.1), started by `tests/js/aedes-broker.js`.
    Aedes,
    /// amqtt, the Python asyncio broker (MQTT 3.1.1).
    Amqtt,
    /// rumqttd, the Rust broker: one listener for 3.1.1 and one for 5.0.
    Rumqttd,
}

impl Kind {
    /// The broker's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Aedes => "aedes",
            Kind::Amqtt => "amqtt",
            Kind::Rumqttd => "rumqttd",
        }
    }

    /// The installed version, as the broker or its package states it.
    pub fn version(self) -> String {
        let stated = match self {
            Kind::Aedes => {
                let manifest = js_dir().join("node_modules/aedes/package.json");
                std::fs::read_to_string(&manifest)
                    .ok()
                    .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
                    .and_then(|v| v["version"].as_str().map(str::to_owned))
            }
            Kind::Amqtt | Kind::Rumqttd => Command::new(self.name())
                .arg("--version")
                .output()
                .ok()
                .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
                .and_then(|text| {
                    text.split_whitespace()
                        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
                        .map(str::to_owned)
                }),
        };
        stated.unwrap_or_else(|| "(version unknown)".to_owned())
    }
}

/// A running broker.
pub struct Broker {
    child: Child,
    /// Which broker.
    pub kind: Kind,
    /// The loopback port of its MQTT 3.1.1 listener.
    pub port: u16,
    /// The loopback port of its MQTT 5.0 listener, for brokers that listen for 5.0 apart.
    pub port_v5: Option<u16>,
    /// The loopback port of its WebSocket listener, when it was started with one.
    pub port_ws: Option<u16>,
    /// Its working directory (config, log).
    pub dir: PathBuf,
}

/// The directory of the npm packages the tests use (`npm ci --prefix tests/js`).
pub fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}

/// Panics with the command that installs the npm packages when they are missing.
pub fn require_js_packages() {
    let modules = js_dir().join("node_modules");
    assert!(
        modules.join("aedes").is_dir() && modules.join("mqtt").is_dir(),
        "the npm packages of the tests are missing: run `npm ci --prefix tests/js` (.ci/run does)"
    );
}

impl Broker {
    /// Starts `kind` with anonymous logins allowed. Panics with a clear message when the broker
    /// is not installed (.ci/run installs all three).
    pub fn start(kind: Kind) -> Self {
        Self::start_with(kind, None)
    }

    /// Starts aedes with a WebSocket listener as well (the `ws` server), accepting
    /// permessage-deflate as `deflate` says (`takeover`, `no-context-takeover`; `None`:
    /// not at all).
    pub fn start_aedes_with_websocket(deflate: Option<&str>) -> Self {
        Self::start_with(Kind::Aedes, Some(deflate))
    }

    fn start_with(kind: Kind, websocket: Option<Option<&str>>) -> Self {
        let dir = temp_dir(kind.name());
        let port = free_port();
        let mut port_v5 = None;
        let port_ws = websocket.map(|_| free_port());
        let mut command = match kind {
            Kind::Aedes => {
                require_js_packages();
                let mut c = Command::new("node");
                c.arg(js_dir().join("aedes-broker.js"))
                    .arg(port.to_string());
                if let Some(ws) = port_ws {
                    c.arg(ws.to_string());
                }
                if let Some(Some(deflate)) = websocket {
                    c.arg(deflate);
                }
                c
            }
            Kind::Amqtt => {
                let conf = dir.join("amqtt.yaml");
                // No $SYS publications (they would reach the suite's `#` subscriptions) and no
                // topic ACLs: the broker as it comes, open to anonymous clients.
                std::fs::write(
                    &conf,
                    format!(
                        "listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:{port}\n\
                         sys_interval: 0\nauth:\n  allow-anonymous: true\n\
                         topic-check:\n  enabled: false\n"
                    ),
                )
                .expect("amqtt config written");
                let mut c = Command::new("amqtt");
                c.arg("-c").arg(&conf);
                c
            }
            Kind::Rumqttd => {
                let v5 = free_port();
                port_v5 = Some(v5);
                let conf = dir.join("rumqttd.toml");
                std::fs::write(&conf, rumqttd_config(port, v5)).expect("rumqttd config written");
                let mut c = Command::new("rumqttd");
                c.arg("--config").arg(&conf);
                c
            }
        };
        let log = std::fs::File::create(dir.join("broker.log")).expect("log file");
        let child = command
            .stdout(Stdio::from(log.try_clone().expect("log file handle")))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{} does not start ({e}); .ci/run installs it (aedes: npm ci --prefix tests/js; \
                     amqtt: pip install amqtt; rumqttd: cargo install rumqttd)",
                    kind.name()
                )
            });
        let mut broker = Self {
            child,
            kind,
            port,
            port_v5,
            port_ws,
            dir,
        };
        broker.wait_ready(port);
        for other in port_v5.into_iter().chain(port_ws) {
            broker.wait_ready(other);
        }
        broker
    }

    fn wait_ready(&mut self, port: u16) {
        // amqtt's Python start-up takes a few seconds on a loaded machine.
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited with {status}: {}", self.kind.name(), self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "{} did not listen on port {port} within 30 s: {}",
            self.kind.name(),
            self.log()
        );
    }

    /// What the broker wrote to its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("broker.log")).unwrap_or_default()
    }

    /// `mqtt://127.0.0.1:PORT` of the 3.1.1 listener.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// `mqtt://127.0.0.1:PORT` of the listener that speaks 5.0 (for aedes and amqtt, which
    /// speak no 5.0, the one listener).
    pub fn url_v5(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port_v5.unwrap_or(self.port))
    }
}

/// rumqttd's configuration: a 3.1.1 and a 5.0 listener on loopback, no metrics or console
/// listener (their fixed ports would collide between tests).
fn rumqttd_config(v4: u16, v5: u16) -> String {
    format!(
        "id = 0\n\n\
         [router]\nid = 0\nmax_connections = 10010\nmax_outgoing_packet_count = 200\n\
         max_segment_size = 104857600\nmax_segment_count = 10\n\n\
         [v4.1]\nname = \"v4-1\"\nlisten = \"127.0.0.1:{v4}\"\nnext_connection_delay_ms = 1\n\
         [v4.1.connections]\nconnection_timeout_ms = 60000\nmax_payload_size = 1048576\n\
         max_inflight_count = 100\ndynamic_filters = true\n\n\
         [v5.1]\nname = \"v5-1\"\nlisten = \"127.0.0.1:{v5}\"\nnext_connection_delay_ms = 1\n\
         [v5.1.connections]\nconnection_timeout_ms = 60000\nmax_payload_size = 1048576\n\
         max_inflight_count = 100\n"
    )
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
