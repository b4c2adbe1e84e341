//! `completions SHELL` and `man`: shell completion scripts and the man page, generated from
//! the clap definitions of [`super::Cli`], so they never fall behind the options.

use super::{Cli, CompletionsArgs, ManArgs, exit};
use clap::CommandFactory;
use std::io::Write;

/// The binary's name, as completions must call it.
const BIN: &str = "mqtt-conform";

/// Writes the completion script for `shell` to `out`.
pub fn completions_to(shell: clap_complete::Shell, out: &mut dyn Write) {
    clap_complete::generate(shell, &mut Cli::command(), BIN, out);
}

/// Writes the man page of the command (section 1, roff) to `out`.
pub fn man_to(out: &mut dyn Write) -> std::io::Result<()> {
    clap_mangen::Man::new(Cli::command()).render(out)
}

/// `completions SHELL`: the script on standard output.
pub fn completions(args: &CompletionsArgs) -> i32 {
    let mut stdout = std::io::stdout().lock();
    completions_to(args.shell, &mut stdout);
    match stdout.flush() {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: cannot write the completions: {e}");
            exit::USAGE
        }
    }
}

/// `man`: the page on standard output, or with `--out DIR` one page per command in DIR
/// (`mqtt-conform.1`, `mqtt-conform-decode.1`, …).
pub fn man(args: &ManArgs) -> i32 {
    let written = match &args.out {
        Some(dir) => std::fs::create_dir_all(dir)
            .and_then(|()| clap_mangen::generate_to(Cli::command(), dir))
            .map(|()| eprintln!("man pages written to {}", dir.display())),
        None => {
            let mut stdout = std::io::stdout().lock();
            man_to(&mut stdout).and_then(|()| stdout.flush())
        }
    };
    match written {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: cannot write the man page: {e}");
            exit::USAGE
        }
    }
}
