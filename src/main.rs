//! The `mqtt-conform` binary: argument parsing and dispatch only.

use clap::Parser;
use mqtt_conform::cli::{Cli, Command, decode, exit};

fn main() {
    let cli = Cli::parse();
    let code = match &cli.command {
        Some(Command::Decode(args)) => decode::run(args),
        None => match &cli.run.suite {
            Some(suite) => {
                eprintln!("error: running suites is not available in this build (suite `{suite}`)");
                exit::USAGE
            }
            None => {
                eprintln!("error: nothing to do: give --suite NAME, or a subcommand (see --help)");
                exit::USAGE
            }
        },
    };
    std::process::exit(code);
}
