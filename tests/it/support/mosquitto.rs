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

    /// Starts mosquitto in an existing directory (holding files `extra` refers to). A port
    /// taken between being picked and being bound (another program's ephemeral port) is
    /// replaced by a new one, up to three times.
    pub fn start_in(dir: PathBuf, extra: &str) -> Self {
        for attempt in 1..=3 {
            let port = free_port();
            let conf = dir.join("mosquitto.conf");
            let mut f = std::fs::File::create(&conf).expect("config file");
            writeln!(f, "listener {port} 127.0.0.1\n{extra}").expect("config written");
            drop(f);
            let mut child = Command::new("mosquitto")
                .arg("-c")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::from(
                    std::fs::File::create(dir.join("mosquitto.log")).expect("log file"),
                ))
                .spawn()
                .expect("mosquitto is installed (Debian package `mosquitto`; .ci/run installs it)");
            match wait_ready(&mut child, port, &dir) {
                Ok(()) => return Self { child, port, dir },
                Err(log) if attempt < 3 && log.contains("Address already in use") => {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                Err(log) => {
                    let _ = child.kill();
                    panic!("mosquitto did not start on port {port}: {log}")
                }
            }
        }
        unreachable!("the third attempt returns or panics")
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

/// Waits until mosquitto says it runs (every listener bound) and `port` answers; `Err`
/// with its log when it exits first or takes over 10 s.
fn wait_ready(child: &mut Child, port: u16, dir: &std::path::Path) -> Result<(), String> {
    let log = || std::fs::read_to_string(dir.join("mosquitto.log")).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited with {status}: {}", log()));
        }
        if log().contains(" running") && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("not running within 10 s: {}", log()))
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
