//! The `mqtt-conform` binary: argument parsing and dispatch only.

use clap::Parser;
use mqtt_conform::cli::{Cli, Command, decode, run};

fn main() {
    let cli = Cli::parse();
    let code = match &cli.command {
        Some(Command::Decode(args)) => decode::run(args),
        None => run::run(&cli.run),
    };
    std::process::exit(code);
}
