//! Starts a real mosquitto broker for a test: a free loopback port, a config the test
//! writes, stopped when dropped.

#![allow(dead_code)]

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running mosquitto.
pub struct Mosquitto {
    child: Child,
    /// The loopback port it listens on.
    pub port: u16,
    /// Its working directory (config, password files, certificates).
    pub dir: PathBuf,
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A fresh temporary directory for one test (unique within the process even for tests
/// with one tag started in the same nanosecond).
pub fn temp_dir(tag: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "mqtt-conform-{tag}-{}-{nanos}-{n}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir
}

/// Removes the temporary directory (from [`temp_dir`]) that `file` was written in.
pub fn remove_temp_dir_of(file: &std::path::Path) {
    if let Some(dir) = file.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

impl Mosquitto {
    /// Starts mosquitto with `listener PORT 127.0.0.1` followed by `extra` config lines.
    /// Panics with a clear message when mosquitto is not installed (CI installs it).
    pub fn start(tag: &str, extra: &str) -> Self {
        let dir = temp_dir(tag);
        Self::start_in(dir, extra)
    }

    /// Starts mosquitto in an existing directory (holding files `extra` refers to).
    pub fn start_in(dir: PathBuf, extra: &str) -> Self {
        let port = free_port();
        let conf = dir.join("mosquitto.conf");
        let mut f = std::fs::File::create(&conf).expect("config file");
        writeln!(f, "listener {port} 127.0.0.1\n{extra}").expect("config written");
        drop(f);
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("mosquitto.log")).expect("log file"),
            ))
            .spawn()
            .expect("mosquitto is installed (Debian package `mosquitto`; .ci/run installs it)");
        let mut m = Self { child, port, dir };
        m.wait_ready();
        m
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let log =
                    std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default();
                panic!("mosquitto exited with {status}: {log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("mosquitto did not listen on port {} within 10 s", self.port);
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
