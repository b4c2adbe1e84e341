//! Compressed captures: a capture the harness wrote (`--capture` of a run against the
//! built-in emulator), gzipped and zstd-compressed, judges with `--pcap` exactly as the
//! plain file does, whatever the files are called (the magic bytes choose); a cut-off
//! compressed file is an error naming it, not a panic.

use crate::support::capture_cli::judge_capture;
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::Command;

/// (group, id, status, message) of every case of a JSON report.
fn verdicts(report: &Value) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for group in report["suites"].as_array().expect("suites") {
        for case in group["cases"].as_array().expect("cases") {
            out.push((
                group["name"].as_str().unwrap_or_default().to_owned(),
                case["id"].as_str().unwrap_or_default().to_owned(),
                case["verdict"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                case["verdict"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            ));
        }
    }
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

#[test]
fn gzip_and_zstd_captures_judge_as_the_plain_capture_does() {
    let dir = crate::support::mosquitto::temp_dir("pcap-compressed");
    let plain = dir.join("run.pcapng");
    // Tests that break rules on purpose, so the judge has failures to find too.
    let out = Command::new(env!("CARGO_BIN_EXE_mqtt-conform"))
        .args(["--suite", "mqtt-3.1.1", "--color", "never", "--capture"])
        .arg(&plain)
        .arg("--report-junit")
        .arg(dir.join("live.xml"))
        .args(["MQTT311-CONN-", "MQTT311-PKT-0", "MQTT311-QOS-"])
        .output()
        .expect("the binary runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&plain).expect("the capture was written");
    let gz = dir.join("run.pcapng.gz");
    let zst = dir.join("run.pcapng.zst");
    // Named like neither: the magic bytes decide.
    let unnamed = dir.join("run.capture");
    std::fs::write(&gz, gzip(&bytes)).unwrap();
    std::fs::write(&zst, zstd::encode_all(&bytes[..], 3).unwrap()).unwrap();
    std::fs::write(&unnamed, gzip(&bytes)).unwrap();

    let want = verdicts(&judge_capture("mqtt-3.1.1", &[&plain], &[], &[]));
    assert!(want.len() > 20, "{want:?}");
    assert!(
        want.iter().any(|(_, _, status, _)| status == "failed"),
        "the broken rules are found: {want:?}"
    );
    for file in [&gz, &zst, &unnamed] {
        let got = verdicts(&judge_capture("mqtt-3.1.1", &[file.as_path()], &[], &[]));
        assert_eq!(got, want, "{}", file.display());
    }
    // Several files, compressed and not, merge as before.
    let two = verdicts(&judge_capture(
        "mqtt-3.1.1",
        &[gz.as_path(), Path::new(&zst)],
        &[],
        &[],
    ));
    let both = verdicts(&judge_capture(
        "mqtt-3.1.1",
        &[plain.as_path(), plain.as_path()],
        &[],
        &[],
    ));
    assert_eq!(two, both);

    // Cut off: exit 2 and one error naming the file and the cut, never a panic.
    for (name, whole) in [
        ("gzip", std::fs::read(&gz).unwrap()),
        ("zstd", std::fs::read(&zst).unwrap()),
    ] {
        let cut = dir.join(format!("cut.{name}"));
        std::fs::write(&cut, &whole[..whole.len() * 2 / 3]).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_mqtt-conform"))
            .args(["--suite", "mqtt-3.1.1", "--pcap"])
            .arg(&cut)
            .arg("--report-junit")
            .arg(dir.join("cut.xml"))
            .output()
            .expect("the binary runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let error = stderr
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_else(|| panic!("an error line: {stderr}"));
        assert!(
            error.contains(&cut.display().to_string())
                && error.contains(&format!("the {name} stream is cut off or corrupt")),
            "{error}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
