//! Command-line interface: argument definitions and the commands behind them.

pub mod decode;
pub mod docs;
pub mod explain;
pub mod list;
pub mod progress;
pub mod run;

use crate::codec::ProtocolVersion;
use clap::{Parser, Subcommand, ValueEnum};

/// Process exit codes, documented in the README.
pub mod exit {
    /// Everything passed / decoded.
    pub const OK: i32 = 0;
    /// A test failed, or the input violates the protocol.
    pub const FAILED: i32 = 1;
    /// Bad arguments, a bad suite, or unreadable input.
    pub const USAGE: i32 = 2;
    /// The target could not be reached (connection, TLS or credentials).
    pub const UNREACHABLE: i32 = 3;
}

/// MQTT conformance harness and protocol verifier for IoT cloud dialects.
#[derive(Debug, Parser)]
#[command(
    name = "mqtt-conform",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to do; without a subcommand, runs a suite.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Run options (used when no subcommand is given).
    #[command(flatten)]
    pub run: RunArgs,
}

/// The options of a suite run.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Suite to run: a built-in name or a path to a YAML file.
    #[arg(long)]
    pub suite: Option<String>,

    /// Broker or cloud endpoint to test: mqtt://host:port or mqtts://host:port.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,

    /// Device mode: be the platform's cloud on ADDR (e.g. 0.0.0.0:8883) and judge the
    /// devices that connect; `ws://ADDR[/path]` or `wss://ADDR[/path]` for MQTT over
    /// WebSocket.
    #[arg(long, value_name = "ADDR", conflicts_with = "target")]
    pub listen: Option<crate::websocket::Listen>,

    /// Capture mode: judge the MQTT connections of these pcap / pcapng files (read
    /// together, in timestamp order) against the suite's rules.
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with_all = ["target", "listen"])]
    pub pcap: Vec<std::path::PathBuf>,

    /// Capture mode: re-send each recorded client's packets to this live target
    /// (mqtt://host:port or mqtts://…) and report where its answers differ from the
    /// recorded ones.
    #[arg(long, value_name = "URL", requires = "pcap")]
    pub replay_to: Option<String>,

    /// Replay: 1 keeps the recorded spacing, 2 is twice as fast, 0 as fast as possible.
    #[arg(
        long,
        value_name = "FACTOR",
        default_value_t = 1.0,
        requires = "replay_to"
    )]
    pub speed: f64,

    /// Capture mode: connections on this port are MQTT too (besides 1883 and 8883, and any
    /// connection that starts with a CONNECT); repeatable.
    #[arg(long = "port", value_name = "PORT")]
    pub ports: Vec<u16>,

    /// Capture mode: the protocol version of connections whose CONNECT is not in the
    /// capture (default: inferred from their packets).
    #[arg(long, value_name = "VERSION", value_parser = parse_version)]
    pub protocol: Option<ProtocolVersion>,

    /// Capture mode: decrypt TLS connections (TLS 1.2 and 1.3, AEAD cipher suites) with
    /// the secrets in this key log (the SSLKEYLOGFILE format browsers, curl and rustls
    /// write) and judge their MQTT; without it their MQTT rules are inconclusive.
    #[arg(long, value_name = "FILE", requires = "pcap")]
    pub tls_keylog: Option<std::path::PathBuf>,

    /// Device mode: server certificate (PEM); one is made when the platform needs TLS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,

    /// Device mode: server private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,

    /// Device mode: end after this long (e.g. 90s, 10m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    pub duration: Option<std::time::Duration>,

    /// Device mode: end after this many device connections have finished.
    #[arg(long, value_name = "N")]
    pub devices: Option<usize>,

    /// Device mode: never answer PINGREQ.
    #[arg(long)]
    pub withhold_pingresp: bool,

    /// Device mode: never acknowledge QoS 1/2 publishes.
    #[arg(long)]
    pub withhold_puback: bool,

    /// Device mode: never answer SUBSCRIBE.
    #[arg(long)]
    pub withhold_suback: bool,

    /// Device mode: answer every subscription with failure (0x80).
    #[arg(long)]
    pub reject_subscriptions: bool,

    /// Device mode: drop each connection this long after its CONNACK (to watch reconnects).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    pub drop_after: Option<std::time::Duration>,

    /// Write every connection of the run (broker or device mode) to this pcapng file, so a
    /// failure opens in Wireshark and `--pcap` can judge it again.
    #[arg(long, value_name = "FILE")]
    pub capture: Option<std::path::PathBuf>,

    /// Device mode: play the suite's device tests on each device that connects (those
    /// selected by FILTER / --skip), in suite order: the cloud delivers commands,
    /// withholds acknowledgements, drops connections, and times what the device does.
    #[arg(long)]
    pub device_tests: bool,

    /// Set a suite parameter (not for secrets: those come from the environment or a file).
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,

    /// Run tests whose id contains FILTER (all when none).
    #[arg(value_name = "FILTER")]
    pub filters: Vec<String>,

    /// Filters must match test ids exactly.
    #[arg(long)]
    pub exact: bool,

    /// Leave out tests whose id contains this (repeatable).
    #[arg(long, value_name = "FILTER")]
    pub skip: Vec<String>,

    /// List the suite's tests, rules and device tests (id, kind, status, title) and exit;
    /// with `--format json`, as a JSON array.
    #[arg(long)]
    pub list: bool,

    /// Explain one test, rule or device test of the suite and exit: its title, status,
    /// source, cited statements with their summaries, note, and its steps (a rule: its
    /// check) as the suite gives them.
    #[arg(long, value_name = "ID")]
    pub explain: Option<String>,

    /// List the built-in suites and exit.
    #[arg(long)]
    pub list_suites: bool,

    /// Validate the suite and exit.
    #[arg(long)]
    pub check: bool,

    /// Show which normative statements of the suite's MQTT version its checks cite, client
    /// and server statements apart.
    #[arg(long)]
    pub coverage: bool,

    /// Most tests running at once.
    #[arg(long, default_value_t = 64)]
    pub jobs: usize,

    /// Console output: text (a line per test) or json (one document at the end).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Where to write JUnit XML (default: `reports/<suite>-<mode>.xml`, the mode being
    /// broker, device, capture or replay).
    #[arg(long, value_name = "FILE")]
    pub report_junit: Option<std::path::PathBuf>,

    /// Also write a Markdown summary to this file (for `$GITHUB_STEP_SUMMARY` or a GitLab
    /// merge-request note): counts, a table of the failures, warnings and inconclusive cases.
    #[arg(long, value_name = "FILE")]
    pub report_markdown: Option<std::path::PathBuf>,

    /// Also write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<std::path::PathBuf>,

    /// Also write a self-contained HTML report to this file: a summary, filters, and a
    /// sequence diagram of each case's conversation with its windows.
    #[arg(long, value_name = "FILE")]
    pub report_html: Option<std::path::PathBuf>,

    /// Extra trusted CA certificate(s), PEM.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<std::path::PathBuf>,

    /// Client certificate chain for mutual TLS, PEM.
    #[arg(long, value_name = "FILE")]
    pub cert: Option<std::path::PathBuf>,

    /// Client private key for mutual TLS, PEM.
    #[arg(long, value_name = "FILE")]
    pub key: Option<std::path::PathBuf>,

    /// Server name to send and verify (default: the target's host).
    #[arg(long, value_name = "NAME")]
    pub sni: Option<String>,

    /// Accept any server certificate (only when asked).
    #[arg(long)]
    pub insecure: bool,

    /// Deadline of each TCP/TLS connect, in seconds.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    pub connect_timeout: f64,

    /// Largest packet accepted from the peer, in bytes (default: 16 MiB as a client and in
    /// captures; in device mode the emulated platform's limit, 1 MiB or its payload cap
    /// plus headers, which MQTT 5.0 devices are told in CONNACK).
    #[arg(long, value_name = "BYTES")]
    pub max_packet_size: Option<usize>,

    /// Show traces of every test, not only failures.
    #[arg(long, short)]
    pub verbose: bool,

    /// Colour: auto, always or never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// When to colour console output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// When standard output is a terminal.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("`{s}`: expected NAME=VALUE"))
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decode MQTT packets from hex and report the first violation.
    Decode(DecodeArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write one per command with --out DIR.
    Man(ManArgs),
}

/// Arguments of `completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell, e.g. `mqtt-conform completions bash > /etc/bash_completion.d/mqtt-conform`.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments of `man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write `mqtt-conform.1` and a page for each subcommand into this directory instead
    /// of the main page to standard output.
    #[arg(long, value_name = "DIR")]
    pub out: Option<std::path::PathBuf>,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable text.
    Text,
    /// One JSON document.
    Json,
}

/// Arguments of `decode`.
#[derive(Debug, clap::Args)]
pub struct DecodeArgs {
    /// Hex bytes (whitespace, `:` and `,` separators and `0x` prefixes are ignored);
    /// read from standard input when none are given.
    pub hex: Vec<String>,

    /// Protocol version to judge packets by (default: the version of a CONNECT found in the
    /// input, else 3.1.1).
    #[arg(long, value_parser = parse_version)]
    pub protocol: Option<ProtocolVersion>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Largest packet accepted, in bytes.
    #[arg(long, default_value_t = crate::codec::framing::DEFAULT_MAX_PACKET_SIZE)]
    pub max_packet_size: usize,
}

fn parse_version(s: &str) -> Result<ProtocolVersion, String> {
    s.parse()
}

fn parse_duration_arg(s: &str) -> Result<std::time::Duration, String> {
    crate::suite::timing::parse_duration(s)
}
