//! The baseline suites against the other real brokers of the verdict matrix: aedes (npm),
//! amqtt (PyPI) and rumqttd (crates.io), beside mosquitto (tests/broker_mosquitto.rs and
//! tests/broker_mqtt5.rs).
//!
//! Every test of a suite has a row in its broker's table: the verdict the broker earns, and
//! for each failure the message the report must give, under a comment naming the broker
//! behaviour and the statement it breaks. A test added to a suite without a row fails here.
//!
//! `docs/broker-matrix.md` is written from live runs by the ignored test
//! [`write_the_broker_matrix`]:
//! `cargo test --test broker_matrix -- --ignored --exact write_the_broker_matrix`.

#[path = "support/brokers.rs"]
mod brokers;
#[path = "support/mosquitto.rs"]
mod mosquitto;
#[path = "support/suite_run.rs"]
mod suite_run;
#[path = "support/verdicts.rs"]
mod verdicts;

use brokers::{Broker, Kind};
use mqtt_conform::report::{RunReport, Verdict};
use mqtt_conform::runner::transport::TlsOptions;
use verdicts::Want;

/// `mqtt-3.1.1` against aedes.
const AEDES_311: &[(&str, Want)] = &[];

/// `mqtt-3.1.1` against amqtt.
const AMQTT_311: &[(&str, Want)] = &[];

/// `mqtt-3.1.1` against rumqttd's 3.1.1 listener.
const RUMQTTD_311: &[(&str, Want)] = &[];

/// `mqtt-5` against rumqttd's 5.0 listener.
const RUMQTTD_5: &[(&str, Want)] = &[];

/// Runs built-in suite `suite` against `url`.
fn run(suite: &str, url: &str) -> RunReport {
    suite_run::run_builtin(suite, url, TlsOptions::default(), 64, false)
}

#[test]
fn mqtt311_suite_against_aedes() {
    let broker = Broker::start(Kind::Aedes);
    verdicts::check_report(run("mqtt-3.1.1", &broker.url()).cases(), AEDES_311);
}

#[test]
fn mqtt311_suite_against_amqtt() {
    let broker = Broker::start(Kind::Amqtt);
    verdicts::check_report(run("mqtt-3.1.1", &broker.url()).cases(), AMQTT_311);
}

#[test]
fn mqtt311_suite_against_rumqttd() {
    let broker = Broker::start(Kind::Rumqttd);
    verdicts::check_report(run("mqtt-3.1.1", &broker.url()).cases(), RUMQTTD_311);
}

#[test]
fn mqtt5_suite_against_rumqttd() {
    let broker = Broker::start(Kind::Rumqttd);
    verdicts::check_report(run("mqtt-5", &broker.url_v5()).cases(), RUMQTTD_5);
}

/// One cell of the matrix: a suite run against a broker.
struct Cell {
    broker: String,
    suite: &'static str,
    report: RunReport,
}

/// The verdict labels of the summary's columns, in order.
const COLUMNS: [&str; 6] = [
    "ok",
    "FAILED",
    "warning",
    "recorded",
    "inconclusive",
    "ERROR",
];

/// How many cases of a run earned each of [`COLUMNS`].
fn counts(report: &RunReport) -> [usize; 6] {
    let mut n = [0; 6];
    for case in report.cases() {
        if let Some(slot) = COLUMNS.iter().position(|&l| l == case.verdict.label()) {
            n[slot] += 1;
        }
    }
    n
}

/// The first line of a verdict's message, with `|` escaped for a Markdown table.
fn reason(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default();
    let line = line.strip_prefix("FAILED: ").unwrap_or(line);
    let short: String = line.chars().take(300).collect();
    let short = if short.len() < line.len() {
        format!("{short}…")
    } else {
        short
    };
    short.replace('|', "\\|")
}

/// The Markdown of the matrix: a summary table, then every failure, warning and inconclusive
/// case of each cell with its reason and the statements it cites.
fn matrix_markdown(cells: &[Cell]) -> String {
    let mut out = String::from(
        "# Broker verdict matrix\n\n\
         The built-in baseline suites against real brokers, as `mqtt-conform` judges them. \
         Written by `cargo test --test broker_matrix -- --ignored --exact write_the_broker_matrix` \
         (mosquitto from Debian, aedes and MQTT.js from `tests/js`, amqtt from PyPI, rumqttd from \
         crates.io, each started on loopback with anonymous logins allowed); the verdicts each broker \
         must keep are pinned in `tests/broker_mosquitto.rs`, `tests/broker_mqtt5.rs` and \
         `tests/broker_matrix.rs`.\n\n\
         A failure is a place where the broker does not do what a MUST of the specification \
         requires, as the test observed it; the reason is the observation, the cited statements \
         are the requirement. Timing verdicts (keep-alive) depend on the broker's timer and can \
         differ between runs.\n\n\
         | broker | suite | tests | passed | failed | warnings | recorded | inconclusive | harness errors |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for cell in cells {
        let n = counts(&cell.report);
        let columns: Vec<String> = n.iter().map(usize::to_string).collect();
        out += &format!(
            "| {} | `{}` | {} | {} |\n",
            cell.broker,
            cell.suite,
            cell.report.cases().count(),
            columns.join(" | ")
        );
    }
    for cell in cells {
        out += &format!("\n## {} — `{}`\n\n", cell.broker, cell.suite);
        let mut rows = String::new();
        for case in cell.report.cases() {
            if matches!(
                case.verdict,
                Verdict::Passed | Verdict::Recorded { .. } | Verdict::Skipped { .. }
            ) {
                continue;
            }
            let kind = case.verdict.label();
            let message = case.verdict.message().unwrap_or_default();
            rows += &format!(
                "| {} | {kind} | {} | {} |\n",
                case.id,
                reason(message),
                case.cites.join(", ")
            );
        }
        if rows.is_empty() {
            out += "Every test passed or recorded an allowed reaction.\n";
        } else {
            out += "| test | verdict | reason | statements |\n|---|---|---|---|\n";
            out += &rows;
        }
    }
    out
}

/// Writes `docs/broker-matrix.md` from live runs of every broker × suite of the matrix.
#[test]
#[ignore = "writes docs/broker-matrix.md; run on purpose"]
fn write_the_broker_matrix() {
    let mut cells = Vec::new();
    {
        let broker = mosquitto::Mosquitto::start("matrix", "allow_anonymous true");
        for suite in ["mqtt-3.1.1", "mqtt-5"] {
            cells.push(Cell {
                broker: format!("mosquitto {}", mosquitto_version()),
                suite,
                report: run(suite, &broker.url()),
            });
        }
    }
    for (kind, suites) in [
        (Kind::Aedes, &["mqtt-3.1.1"][..]),
        (Kind::Amqtt, &["mqtt-3.1.1"][..]),
        (Kind::Rumqttd, &["mqtt-3.1.1", "mqtt-5"][..]),
    ] {
        let broker = Broker::start(kind);
        for &suite in suites {
            let url = if suite == "mqtt-5" {
                broker.url_v5()
            } else {
                broker.url()
            };
            cells.push(Cell {
                broker: format!("{} {}", kind.name(), kind.version()),
                suite,
                report: run(suite, &url),
            });
        }
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/broker-matrix.md");
    std::fs::create_dir_all(path.parent().expect("docs/")).expect("docs/ created");
    std::fs::write(&path, matrix_markdown(&cells)).expect("docs/broker-matrix.md written");
    eprintln!("wrote {}", path.display());
}

/// mosquitto's version, from its `-h` banner.
fn mosquitto_version() -> String {
    let out = std::process::Command::new("mosquitto")
        .arg("-h")
        .output()
        .expect("mosquitto is installed");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .next()
        .and_then(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with(char::is_numeric))
        })
        .unwrap_or("?")
        .to_owned()
}
