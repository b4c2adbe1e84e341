//! A live capture of loopback traffic with tshark, synchronised with what the test sends:
//! marker connections to a listener of its own go into the same capture, and once tshark
//! shows one, everything sent before it is in the file.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// tshark capturing the loopback's traffic on one port (and its marker port) into a file.
pub struct LoopbackCapture {
    child: std::process::Child,
    file: PathBuf,
    /// Marker connections go here, not to the port under test.
    marker: TcpListener,
    lines: std::sync::mpsc::Receiver<String>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl LoopbackCapture {
    /// Starts capturing TCP `port` on `lo` into `file`; returns once the capture runs.
    pub fn start(port: u16, file: PathBuf) -> Self {
        let marker = TcpListener::bind("127.0.0.1:0").expect("a marker listener");
        let marker_port = marker.local_addr().expect("its address").port();
        let mut child = Command::new("tshark")
            .args([
                "-i",
                "lo",
                "-f",
                &format!("tcp port {port} or tcp port {marker_port}"),
                "-l",
                "-P",
                "-w",
            ])
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tshark is installed (Debian package tshark)");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let keep = stderr.clone();
        let err = child.stderr.take().expect("piped");
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(err)).map_while(Result::ok)
            {
                if let Ok(mut s) = keep.lock() {
                    s.push_str(&line);
                    s.push('\n');
                }
            }
        });
        let out = child.stdout.take().expect("piped");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(out)).map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let capture = Self {
            child,
            file,
            marker,
            lines,
            stderr,
        };
        capture.sync();
        capture
    }

    /// Opens (and closes) marker connections until tshark shows one: everything sent
    /// before is in the capture.
    fn sync(&self) {
        let port = self.marker.local_addr().expect("its address").port();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(
                Instant::now() < deadline,
                "the capture showed no marker connection in 30 s (capturing on lo needs root or CAP_NET_RAW); tshark said:\n{}",
                self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
            );
            let marker = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
            let shown = format!("{} → {port}", marker.local_addr().expect("address").port());
            drop(marker);
            let until = Instant::now() + Duration::from_secs(2);
            while let Ok(line) = self
                .lines
                .recv_timeout(until.saturating_duration_since(Instant::now()))
            {
                if line.contains(&shown) {
                    return;
                }
            }
        }
    }

    /// Waits for what was sent to be captured, stops tshark (SIGINT: it closes the file).
    pub fn stop(mut self) -> PathBuf {
        self.sync();
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().expect("wait").is_none() {
            assert!(Instant::now() < deadline, "tshark did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
        self.file.clone()
    }
}

impl Drop for LoopbackCapture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
