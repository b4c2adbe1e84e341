//! Starts a real amqtt broker (PyPI `amqtt`, MQTT 3.1.1) for a test: a free loopback port,
//! anonymous logins, stopped when dropped.

#![allow(dead_code)]

use super::mosquitto::{free_port, temp_dir};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running amqtt.
pub struct Amqtt {
    child: Child,
    /// The loopback port it listens on.
    pub port: u16,
    dir: PathBuf,
}

impl Amqtt {
    /// Starts amqtt on a free loopback port. Panics with a clear message when amqtt is not
    /// installed (`pip install amqtt`).
    pub fn start(tag: &str) -> Self {
        let dir = temp_dir(tag);
        let port = free_port();
        let conf = dir.join("amqtt.yaml");
        std::fs::write(
            &conf,
            format!(
                "listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:{port}\n\
                 plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n"
            ),
        )
        .expect("amqtt config written");
        let child = Command::new("amqtt")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("amqtt.log")).expect("log file"),
            ))
            .spawn()
            .expect("amqtt is installed (`pip install amqtt`)");
        let mut broker = Self { child, port, dir };
        broker.wait_ready();
        broker
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self.dir.join("amqtt.log")).unwrap_or_default();
                panic!("amqtt exited with {status}: {log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("amqtt did not listen on port {} within 20 s", self.port);
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for Amqtt {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
