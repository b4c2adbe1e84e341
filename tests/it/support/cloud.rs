//! Device mode as a separate process (`mqtt-conform --suite S --listen`), the Tuya example
//! identity's credentials, and reading the JSON report it writes.

#![allow(dead_code)]

use mqtt_conform::auth::tuya::{Params, SignMethod};
use mqtt_conform::secret::Secret;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Tuya suite's example device (the seed document's).
pub const DEVICE_ID: &str = "6c828cba434ff40c074wF2";
/// Its DeviceSecret.
pub const SECRET: &str = "ffad8eb66ae8c717";

/// A running `--listen` process and where it listens.
pub struct Cloud {
    child: Child,
    /// The port it listens on.
    pub port: u16,
    /// The certificate devices must trust (TLS suites).
    pub ca: PathBuf,
    /// Where its reports go.
    pub dir: PathBuf,
    console: std::sync::mpsc::Receiver<String>,
}

/// A fresh temporary directory for one device-mode run.
pub fn temp_dir(tag: &str) -> PathBuf {
    super::mosquitto::temp_dir(&format!("device-{tag}"))
}

impl Cloud {
    /// Starts device mode for the Tuya suite, ending after `devices` device connections.
    pub fn start(tag: &str, devices: usize, extra: &[&str]) -> Self {
        Self::start_suite("tuya", tag, devices, extra)
    }

    /// Starts device mode for `suite` (a built-in name or a path).
    pub fn start_suite(suite: &str, tag: &str, devices: usize, extra: &[&str]) -> Self {
        Self::start_suite_for(suite, tag, devices, Duration::from_secs(60), extra)
    }

    /// Starts device mode for `suite`, ending after `devices` device connections or after
    /// `duration`, whichever comes first.
    pub fn start_suite_for(
        suite: &str,
        tag: &str,
        devices: usize,
        duration: Duration,
        extra: &[&str],
    ) -> Self {
        Self::start_listening(suite, tag, "127.0.0.1:0", devices, duration, extra)
    }

    /// [`Cloud::start_suite_for`] listening on `listen` (an address, or a `ws://` /
    /// `wss://` URL for MQTT over WebSocket).
    pub fn start_listening(
        suite: &str,
        tag: &str,
        listen: &str,
        devices: usize,
        duration: Duration,
        extra: &[&str],
    ) -> Self {
        let dir = temp_dir(tag);
        let mut child = Command::new(env!("CARGO_BIN_EXE_mqtt-conform"))
            .args([
                "--suite",
                suite,
                "--listen",
                listen,
                "--devices",
                &devices.to_string(),
                "--duration",
                &format!("{}s", duration.as_secs()),
            ])
            .arg("--report-json")
            .arg(dir.join("report.json"))
            .arg("--report-junit")
            .arg(dir.join("report.xml"))
            .args(extra)
            .env_remove("TUYA_DEVICE_ID")
            .env_remove("TUYA_DEVICE_SECRET")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary runs");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = lines.next().expect("a first line").expect("utf-8");
        // "device mode: the `tuya` cloud listens on mqtts://127.0.0.1:PORT (…devices must trust
        // PATH)", or mqtt://… without a certificate.
        let port: u16 = line
            .split("://127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        let ca = line
            .split("devices must trust ")
            .nth(1)
            .map(|rest| PathBuf::from(rest.trim_end_matches(')')))
            .unwrap_or_default();
        // Keep draining stdout so the process never blocks on a full pipe; the lines go
        // to the test, which may wait for one.
        let (tx, console) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Self {
            child,
            port,
            ca,
            dir,
            console,
        }
    }

    /// The process id of the running cloud (to signal it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the cloud prints a line containing `needle`; panics after `limit`.
    pub fn wait_for_line(&self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.console.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("the cloud printed no line with `{needle}` within {limit:?}"),
            }
        }
    }

    /// Waits until the cloud has printed, for each of `needles`, a line containing it, or
    /// until `limit` has passed; returns the needles no line contained.
    pub fn wait_for_each(&self, needles: &[String], limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        let mut missing: Vec<String> = needles.to_vec();
        while !missing.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.console.recv_timeout(left) {
                Ok(line) => missing.retain(|needle| !line.contains(needle.as_str())),
                Err(_) => break,
            }
        }
        missing
    }

    /// Waits for the run to end; returns rule id → verdict status for the device.
    pub fn verdicts(self) -> Vec<(String, String)> {
        self.cases().iter().map(id_and_status).collect()
    }

    /// Waits for the run to end; returns every case of the JSON report.
    pub fn cases(self) -> Vec<Value> {
        self.groups()
            .into_iter()
            .flat_map(|(_, cases)| cases)
            .collect()
    }

    /// Waits for the run to end; returns rule id → verdict status per report group (one per
    /// device client id), in report order.
    pub fn verdicts_by_device(self) -> Vec<(String, Vec<(String, String)>)> {
        self.groups()
            .into_iter()
            .map(|(name, cases)| {
                let verdicts = cases.iter().map(id_and_status).collect();
                (name, verdicts)
            })
            .collect()
    }

    /// Waits for the run to end; returns the JSON report's groups (one per device client id)
    /// as (name, cases).
    pub fn groups(self) -> Vec<(String, Vec<Value>)> {
        let run = self.finish();
        assert!(
            matches!(run.exit_code, Some(0) | Some(1)),
            "device mode exited with {:?}",
            run.exit_code
        );
        run.groups
    }

    /// Waits for the run to end; returns the verdicts (as [`Cloud::verdicts`]) and every
    /// console line not yet read.
    pub fn verdicts_and_console(mut self) -> (Vec<(String, String)>, Vec<String>) {
        let (_, empty) = std::sync::mpsc::channel();
        let console = std::mem::replace(&mut self.console, empty);
        let run = self.finish();
        // The reader thread ends at the process's end of output.
        let lines = console.iter().collect();
        let verdicts = run
            .groups
            .iter()
            .flat_map(|(_, cases)| cases)
            .map(id_and_status)
            .collect();
        (verdicts, lines)
    }

    /// Waits for the run to end; returns its exit code, the JSON report's groups and the
    /// JUnit report's text.
    pub fn finish(mut self) -> Finished {
        let deadline = Instant::now() + Duration::from_secs(60);
        let exit_code = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status.code();
            }
            assert!(
                Instant::now() < deadline,
                "device mode did not end after its devices"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let junit = std::fs::read_to_string(self.dir.join("report.xml")).expect("JUnit report");
        let groups = self.read_groups();
        Finished {
            exit_code,
            groups,
            junit,
        }
    }

    fn read_groups(&self) -> Vec<(String, Vec<Value>)> {
        let text = std::fs::read_to_string(self.dir.join("report.json")).expect("JSON report");
        assert!(
            !text.contains(SECRET),
            "the device secret leaked into the report"
        );
        let doc: Value = serde_json::from_str(&text).expect("JSON");
        let mut out = Vec::new();
        for suite in doc["suites"].as_array().expect("suites") {
            out.push((
                suite["name"].as_str().unwrap_or_default().to_owned(),
                suite["cases"].as_array().expect("cases").clone(),
            ));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        out
    }

    /// The text of the JSON report once the run has ended (for leak checks); call before
    /// [`Cloud::groups`] and friends, which remove it. Panics if the run has not ended
    /// within 60 s.
    pub fn report_text(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait().expect("wait").is_none() {
            assert!(
                Instant::now() < deadline,
                "device mode did not end after its devices"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::fs::read_to_string(self.dir.join("report.json")).expect("JSON report")
    }
}

/// A test that ends early (a panic before the run's end) leaves no device-mode process and no
/// report directory behind.
impl Drop for Cloud {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A finished device-mode run.
pub struct Finished {
    /// The process's exit code.
    pub exit_code: Option<i32>,
    /// The JSON report's groups as (name, cases).
    pub groups: Vec<(String, Vec<Value>)>,
    /// The JUnit report.
    pub junit: String,
}

/// Tuya credentials for the example identity: (client id, user name, password).
pub fn credentials(sign: SignMethod, secret: &str) -> (String, String, String) {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let c = Params {
        device_id: DEVICE_ID.into(),
        device_secret: Secret::new(secret.to_owned()),
        timestamp: ts,
        sign_method: sign,
    }
    .credentials();
    (
        c.client_id,
        c.username.unwrap(),
        c.password.unwrap().expose().to_owned(),
    )
}

/// A JSON report case as (rule id, verdict status).
/// A JSON report case's id and verdict status.
pub fn id_and_status(case: &Value) -> (String, String) {
    (
        case["id"].as_str().unwrap_or_default().to_owned(),
        case["verdict"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}
