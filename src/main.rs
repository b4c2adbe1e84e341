//! The `mqtt-conform` binary: argument parsing and dispatch only.

use clap::Parser;
use mqtt_conform::cli::{Cli, Command, decode, docs, run};

fn main() {
    // `mqtt-conform --list | head` closes the pipe early: end quietly, as other tools do.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let broken_pipe = info
            .payload()
            .downcast_ref::<String>()
            .is_some_and(|m| m.contains("Broken pipe"));
        if broken_pipe {
            std::process::exit(0);
        }
        default_hook(info);
    }));
    let cli = Cli::parse();
    let code = match &cli.command {
        Some(Command::Decode(args)) => decode::run(args),
        Some(Command::Completions(args)) => docs::completions(args),
        Some(Command::Man(args)) => docs::man(args),
        None => run::run(&cli.run),
    };
    std::process::exit(code);
}
