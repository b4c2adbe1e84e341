//! The HTML report (`--report-html`) in each mode, drawn by a real browser: headless
//! Chromium loads the file and dumps the DOM its script built. A failing case's sequence
//! diagram must be there with its offending packet highlighted, and the page's script must
//! have run to its end without an error.

use crate::support::cloud::Cloud;
use crate::support::mosquitto::{Mosquitto, temp_dir};
use crate::support::raw_device::RawDevice;
use mqtt_conform::codec::ProtocolVersion;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long Chromium may take to load and dump one report.
const BROWSER_LIMIT: Duration = Duration::from_secs(90);

/// The browser, or a clear panic when it is missing.
fn chromium() -> &'static str {
    let found = Command::new("chromium")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "chromium is not installed: the HTML report tests draw the report in a headless browser \
         (Debian package `chromium`; .ci/run installs it)"
    );
    "chromium"
}

/// Runs `chromium` with `args` (and a profile of its own) to its end, `BROWSER_LIMIT` at
/// most; returns its stdout and stderr.
fn browser(args: &[String]) -> (String, String) {
    let profile = temp_dir("html-browser");
    let mut child = Command::new(chromium())
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + BROWSER_LIMIT;
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&profile);
            panic!("chromium did not finish within {BROWSER_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_dir_all(&profile);
    (
        reader.join().unwrap_or_default(),
        err_reader.join().unwrap_or_default(),
    )
}

/// The DOM Chromium built from `page`, after checking the page's script ended well.
fn rendered(page: &Path) -> String {
    rendered_with(page, &["--virtual-time-budget=10000"])
}

/// [`rendered`] at `fragment` of the page (`#q=…` etc.).
fn rendered_at(page: &Path, fragment: &str) -> String {
    rendered_url(
        &format!("file://{}{fragment}", page.display()),
        &["--virtual-time-budget=10000"],
    )
}

/// [`rendered`] with the browser options `extra`.
fn rendered_with(page: &Path, extra: &[&str]) -> String {
    rendered_url(&format!("file://{}", page.display()), extra)
}

fn rendered_url(url: &str, extra: &[&str]) -> String {
    let url = url.to_owned();
    let mut args: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
    args.extend(["--dump-dom".into(), url]);
    let (dom, stderr) = browser(&args);
    assert!(
        !stderr.contains("Uncaught"),
        "the report's script threw: {stderr}"
    );
    assert!(
        !dom.contains("id=\"report-error\""),
        "the page reports an error: {}",
        dom.split("id=\"report-error\"").nth(1).unwrap_or_default()
    );
    assert!(
        dom.contains("id=\"report-ready\""),
        "the report's script did not run to its end (DOM of {} bytes)",
        dom.len()
    );
    dom
}

/// The drawn element of case `id` (its `<div class="case …" data-id="id">` up to the next
/// case).
fn case_html<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("data-id=\"{id}\""))
        .unwrap_or_else(|| panic!("case {id} is not on the page"));
    let rest = &dom[start..];
    let end = rest[1..]
        .find("<div class=\"case ")
        .map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

/// A failing case drawn expanded: its sequence diagram, its offending packet highlighted
/// with the statement it breaks.
fn assert_failure_drawn(dom: &str, id: &str, offending: &str) {
    let case = case_html(dom, id);
    assert!(
        case.contains("data-status=\"failed\""),
        "{id} is not failed: {case}"
    );
    assert!(case.contains("<svg"), "no diagram for {id}: {case}");
    assert!(
        case.contains(&format!("class=\"{offending} offending\"")),
        "no offending {offending} highlighted in {id}: {case}"
    );
    assert!(
        case.contains("class=\"breaks\""),
        "the broken statement is not named in {id}: {case}"
    );
}

fn html_path(dir: &Path) -> PathBuf {
    dir.join("report.html")
}

fn run_cli(args: &[&str], limit: Duration) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mqtt-conform"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mqtt-conform {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

/// A keep-alive window mosquitto never meets: it closes a client silent at Keep Alive 2 s
/// by its sweep 3–9 s after the client's last packet (MQTT311-KA-01 itself passes or fails
/// with the sweep's phase), never 10 s or later.
const EARLY_CLOSE_SUITE: &str = r#"name: html-demo
extends: mqtt-3.1.1
tests:
  - id: HTML-KA-EARLY
    title: a client silent at Keep Alive 2 s is closed 10–30 s after its last packet
    timeout: 40s
    steps:
      - connect: { keepalive: 2 }
      - expect: { closed, since: last_sent, after: 10s, within: 30s }
"#;

/// Broker mode against mosquitto, which answers a malformed PINGREQ (MQTT311-PKT-05) and
/// closes a silent client before the window of HTML-KA-EARLY: both fail, the first on a
/// packet, the second on its window.
#[test]
fn a_broker_run_draws_its_failures_with_the_offending_packet_and_the_window() {
    let broker = Mosquitto::start("html-broker", "allow_anonymous true");
    let dir = temp_dir("html-broker-report");
    let page = html_path(&dir);
    let suite = dir.join("html-demo.yaml");
    std::fs::write(&suite, EARLY_CLOSE_SUITE).expect("suite written");
    let out = run_cli(
        &[
            "--suite",
            suite.to_str().unwrap(),
            "--target",
            &broker.url(),
            "--exact",
            "MQTT311-PKT-05",
            "HTML-KA-EARLY",
            "MQTT311-CONN-01",
            "--report-junit",
            dir.join("report.xml").to_str().unwrap(),
            "--report-html",
            page.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let dom = rendered(&page);
    assert_failure_drawn(&dom, "MQTT311-PKT-05", "arrow");
    // The early close: the window drawn as a band, the close measured outside it.
    let ka = case_html(&dom, "HTML-KA-EARLY");
    assert!(ka.contains("class=\"window\""), "{ka}");
    assert!(ka.contains("class=\"measured outside\""), "{ka}");
    assert!(ka.contains("class=\"note offending\""), "{ka}");
    // A passing case stays collapsed, its diagram not drawn.
    let passed = case_html(&dom, "MQTT311-CONN-01");
    assert!(passed.contains("data-status=\"passed\""), "{passed}");
    assert!(!passed.contains("<svg"), "{passed}");
    // Filters from the address: a search, and the status toggles.
    let searched = rendered_at(&page, "#q=conn-01");
    assert!(searched.contains("data-id=\"MQTT311-CONN-01\""));
    assert!(!searched.contains("data-id=\"MQTT311-PKT-05\""));
    let only_passed = rendered_at(&page, "#status=passed");
    assert!(only_passed.contains("data-id=\"MQTT311-CONN-01\""));
    assert!(!only_passed.contains("data-id=\"HTML-KA-EARLY\""));
    // The summary counts the statuses.
    let chip = dom
        .split("class=\"chip st-failed\"")
        .nth(1)
        .map(|rest| &rest[..rest.len().min(300)])
        .expect("a status toggle for failures");
    assert!(chip.contains("class=\"count\">2<"), "summary: {chip}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Device mode: a device that sends a PINGREQ with reserved flags set fails the
/// statement on fixed-header flags (MQTT-2.2.2-1) on that packet.
#[test]
fn a_device_run_draws_the_malformed_packet_of_its_device() {
    let report_dir = temp_dir("html-device-report");
    let page = html_path(&report_dir);
    let cloud = Cloud::start_suite(
        "mqtt-3.1.1",
        "html-device",
        1,
        &["--report-html", page.to_str().unwrap()],
    );
    let (mut device, _) = RawDevice::login(
        &cloud,
        ProtocolVersion::V3_1_1,
        "html-device",
        true,
        Default::default(),
    );
    device.send_bytes(&[0xc1, 0x00]);
    device.read_until_closed(Duration::from_secs(5));
    drop(device);
    let verdicts = cloud.verdicts();
    assert!(
        verdicts
            .iter()
            .any(|(id, status)| id == "MQTT-2.2.2-1" && status == "failed"),
        "{verdicts:?}"
    );
    let dom = rendered(&page);
    assert_failure_drawn(&dom, "MQTT-2.2.2-1", "arrow");
    let _ = std::fs::remove_dir_all(&report_dir);
}

/// Device tests: a device sent a server DISCONNECT must close within 10 s
/// (MQTT5-DEV-DISCONNECT-REASON); one that stays connected fails, its diagram showing the
/// window it let pass.
#[test]
fn a_device_test_draws_the_window_its_device_let_pass() {
    let report_dir = temp_dir("html-device-test-report");
    let page = html_path(&report_dir);
    let cloud = Cloud::start_suite(
        "mqtt-5",
        "html-device-test",
        1,
        &[
            "--device-tests",
            "--exact",
            "MQTT5-DEV-DISCONNECT-REASON",
            "--report-html",
            page.to_str().unwrap(),
        ],
    );
    let (mut device, _) = RawDevice::login(
        &cloud,
        ProtocolVersion::V5,
        "html-device-test",
        true,
        Default::default(),
    );
    // The DISCONNECT comes 1 s in; the window ends 10 s later.
    device.hold_open(Duration::from_secs(13));
    drop(device);
    let verdicts = cloud.verdicts();
    assert!(
        verdicts
            .iter()
            .any(|(id, status)| id == "MQTT5-DEV-DISCONNECT-REASON" && status == "failed"),
        "{verdicts:?}"
    );
    let dom = rendered(&page);
    let case = case_html(&dom, "MQTT5-DEV-DISCONNECT-REASON");
    assert!(case.contains("<svg"), "{case}");
    assert!(case.contains("class=\"window\""), "{case}");
    let _ = std::fs::remove_dir_all(&report_dir);
}

/// Capture mode: device mode's own capture (`--capture`) of a device that sends a
/// malformed PINGREQ, judged again with `--pcap`: the same statement fails on that packet.
#[test]
fn a_capture_run_draws_each_connection_with_its_malformed_packet() {
    let dir = temp_dir("html-capture-report");
    let capture = dir.join("live.pcapng");
    let cloud = Cloud::start_suite(
        "mqtt-3.1.1",
        "html-capture",
        1,
        &["--capture", capture.to_str().unwrap()],
    );
    let (mut device, _) = RawDevice::login(
        &cloud,
        ProtocolVersion::V3_1_1,
        "html-capture",
        true,
        Default::default(),
    );
    device.send_bytes(&[0xc1, 0x00]);
    device.read_until_closed(Duration::from_secs(5));
    drop(device);
    cloud.verdicts();
    let page = html_path(&dir);
    let out = run_cli(
        &[
            "--suite",
            "mqtt-3.1.1",
            "--pcap",
            capture.to_str().unwrap(),
            "--report-junit",
            dir.join("capture.xml").to_str().unwrap(),
            "--report-html",
            page.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let dom = rendered(&page);
    assert_failure_drawn(&dom, "MQTT-2.2.2-1", "arrow");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A large run's report: its size and how long Chromium takes to draw it, printed (run with
/// `--ignored --nocapture`). A 10,000-device run judged by 10 rules is 100,000 cases.
/// `REPORT_HTML=FILE` measures that page instead (one a real run wrote, e.g. the devices
/// bench with `HTML=1 KEEP_DIR=1`).
#[test]
#[ignore = "measures; prints figures"]
fn a_report_of_many_cases_stays_small_and_draws_quickly() {
    if let Some(page) = std::env::var_os("REPORT_HTML") {
        let page = std::path::PathBuf::from(page);
        let size = std::fs::metadata(&page)
            .expect("REPORT_HTML names a file")
            .len();
        let started = Instant::now();
        // A large page inflates its data asynchronously: the budget lets that finish.
        let dom = rendered_with(&page, &["--virtual-time-budget=600000"]);
        let browser_wall = started.elapsed();
        println!(
            "{}: {:.1} MB of HTML, {} cases on its first page; drawn {} ms after navigation (page clock); chromium --dump-dom {:.2} s wall",
            page.display(),
            size as f64 / 1e6,
            dom.matches("class=\"case ").count(),
            drawn_ms(&dom),
            browser_wall.as_secs_f64()
        );
        return;
    }
    for (devices, rules) in [(1_000, 10), (10_000, 1), (10_000, 10)] {
        let report = synthetic_run(devices, rules);
        let started = Instant::now();
        let html = mqtt_conform::report::html::to_html(&report, "scale");
        let rendered_in = started.elapsed();
        let dir = temp_dir("html-scale");
        let page = dir.join("report.html");
        std::fs::write(&page, &html).unwrap();
        let started = Instant::now();
        // The page's own clock says when it was drawn; a gzipped page (from
        // COMPRESS_FROM on) inflates asynchronously, and the budget lets that finish.
        let dom = rendered_with(&page, &["--virtual-time-budget=600000"]);
        let browser_wall = started.elapsed();
        let ms = drawn_ms(&dom);
        println!(
            "{devices} devices × {rules} rules = {} cases: {:.1} MB of HTML (written in {:.0} ms); \
             drawn {ms} ms after navigation; chromium --dump-dom {:.2} s wall",
            devices * rules,
            html.len() as f64 / 1e6,
            rendered_in.as_secs_f64() * 1e3,
            browser_wall.as_secs_f64()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// When the page says it was drawn, in ms after navigation (its `data-ms`).
fn drawn_ms(dom: &str) -> String {
    dom.split("data-ms=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or("?")
        .to_owned()
}

/// A device-mode-like run: `devices` groups of `rules` cases, one device in fifty failing
/// its keep-alive rule with a trace of 30 lines.
fn synthetic_run(devices: usize, rules: usize) -> mqtt_conform::report::RunReport {
    use mqtt_conform::report::{CaseReport, RunReport, SuiteReport, Timing, TraceLine, Verdict};
    let suites = (0..devices)
        .map(|d| {
            let cases = (0..rules)
                .map(|r| {
                    let failing = r == 0 && d % 50 == 0;
                    let trace: Vec<TraceLine> = if failing {
                        (0..30)
                            .map(|i| TraceLine {
                                at: Duration::from_millis(i * 500),
                                conn: format!("client id device-{d:05}"),
                                direction: if i % 2 == 0 { "→" } else { "←" }.into(),
                                text: "PUBLISH qos=1 packet_id=7 topic=\"devices/d/telemetry\" payload=42 bytes [32 2c 00 13 64 65 76 69 63 65 73 2f 64 2f 74 65 6c 65 6d 65 74 72 79 00 07]".into(),
                            })
                            .collect()
                    } else {
                        Vec::new()
                    };
                    CaseReport {
                        id: format!("RULE-{r:02}"),
                        title: format!("rule number {r}, judged on every connection"),
                        cites: vec!["MQTT-3.1.2-23".into()],
                        verdict: if failing {
                            Verdict::Failed {
                                message: "the client sends within every Keep Alive period: at 14.500 s: PINGREQ came after 9.500 s of silence".into(),
                            }
                        } else {
                            Verdict::Passed
                        },
                        branch: None,
                        measured: None,
                        duration: Duration::from_secs(15),
                        timing: failing.then(|| Timing {
                            conn: Some(format!("client id device-{d:05}")),
                            anchor: Some(Duration::from_secs(5)),
                            to: Some(Duration::from_secs(11)),
                            measured: Some(Duration::from_millis(14_500)),
                            offending: Some(29),
                            what: "client silence".into(),
                            ..Timing::default()
                        }),
                        trace,
                    }
                })
                .collect();
            SuiteReport {
                name: format!("device-{d:05}"),
                classname: "mqtt-3.1.1".into(),
                properties: vec![("mode".into(), "device".into())],
                cases,
                duration: Duration::from_secs(15),
            }
        })
        .collect();
    RunReport {
        suites,
        duration: Duration::from_secs(60),
    }
}

/// A run whose data passes [`mqtt_conform::report::html::COMPRESS_FROM`] is embedded
/// gzipped; Chromium inflates it and draws the same list, the failures' diagrams open.
#[test]
fn a_large_report_is_inflated_and_drawn() {
    let report = synthetic_run(4_000, 10);
    let html = mqtt_conform::report::html::to_html(&report, "large");
    assert!(html.contains("data-encoding=\"gzip+base64\""));
    let dir = temp_dir("html-large");
    let page = dir.join("report.html");
    std::fs::write(&page, &html).unwrap();
    let dom = rendered(&page);
    assert!(
        dom.contains("data-cases=\"40000\""),
        "the ready marker counts every case"
    );
    assert!(!dom.contains("id=\"report-loading\""));
    // Failures first, opened with their diagram; the first page holds 100 cases.
    assert_eq!(dom.matches("<div class=\"case ").count(), 100);
    assert_failure_drawn(&dom, "RULE-00", "arrow");
    let _ = std::fs::remove_dir_all(&dir);
}
