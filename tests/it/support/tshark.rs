//! tshark, to read back the captures the harness writes, and the temporary capture files.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long one tshark run may take before the test fails.
pub const TSHARK_DEADLINE: Duration = Duration::from_secs(120);

/// A file in the temporary directory, removed when dropped (kept when `KEEP_PCAP` is set,
/// to open it in Wireshark).
pub struct TempFile(pub PathBuf);

impl TempFile {
    /// A fresh path named after `name` (the file is not created).
    pub fn new(name: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        Self(std::env::temp_dir().join(format!(
            "mqtt-conform-{name}-{}-{nanos}.pcapng",
            std::process::id()
        )))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if std::env::var_os("KEEP_PCAP").is_none() {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// Runs `tshark -r file args…` and returns its standard output. A missing tshark, a
/// failing exit status or a run over [`TSHARK_DEADLINE`] fail the test.
pub fn tshark(file: &Path, args: &[&str]) -> String {
    let mut child = match Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "tshark is not installed: these tests read the written captures with it. \
             Install it with `apt-get install -y tshark` (Debian/Ubuntu)."
        ),
        Err(e) => panic!("cannot start tshark: {e}"),
    };
    let mut stdout = child.stdout.take().expect("stdout piped");
    let mut stderr = child.stderr.take().expect("stderr piped");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).map(|_| s)
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + TSHARK_DEADLINE;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("tshark {args:?} did not finish within {TSHARK_DEADLINE:?}");
            }
            Err(e) => panic!("waiting for tshark: {e}"),
        }
    };
    let out = out
        .join()
        .expect("stdout reader")
        .expect("tshark output is UTF-8");
    let err = err.join().expect("stderr reader");
    assert!(
        status.success(),
        "tshark {args:?} failed ({status}):\n{err}"
    );
    out
}

/// tshark's fields output: one row per frame, one column per field (`|`-separated;
/// several occurrences of a field joined by `,`).
pub fn fields(file: &Path, extra: &[&str], filter: &str, names: &[&str]) -> Vec<Vec<String>> {
    let mut args: Vec<&str> = extra.to_vec();
    args.extend([
        "-Y",
        filter,
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ]);
    for n in names {
        args.extend(["-e", n]);
    }
    tshark(file, &args)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('|').map(str::to_owned).collect())
        .collect()
}
