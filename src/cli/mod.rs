//! Command-line interface: argument definitions and the commands behind them.

pub mod decode;

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
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decode MQTT packets from hex and report the first violation.
    Decode(DecodeArgs),
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
