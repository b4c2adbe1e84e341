//! `completions SHELL` and `man`: generated from the clap definitions, so every option of a
//! run is in each script and in the man page. The options are read from clap's definition of
//! the run arguments, never listed here by hand.

use clap::{Args, CommandFactory};
use clap_complete::Shell;
use mqtt_conform::cli::{Cli, RunArgs};
use std::io::Write;
use std::process::{Command, Stdio};

/// The long options of a suite run (`suite`, `target`, `report-markdown`, …).
fn run_options() -> Vec<String> {
    let cmd = RunArgs::augment_args(clap::Command::new("run"));
    let longs: Vec<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_long())
        .map(str::to_owned)
        .collect();
    assert!(longs.len() > 30, "the run arguments: {longs:?}");
    longs
}

/// The binary's output for `args`, which must succeed.
fn stdout_of(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_mqtt-conform"))
        .args(args)
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn every_shell_completes_every_run_option() {
    let options = run_options();
    for shell in [
        Shell::Bash,
        Shell::Zsh,
        Shell::Fish,
        Shell::Elvish,
        Shell::PowerShell,
    ] {
        let script = stdout_of(&["completions", &shell.to_string()]);
        assert!(script.len() > 1000, "{shell}: {} bytes", script.len());
        // The library function writes the same script.
        let mut direct = Vec::new();
        mqtt_conform::cli::docs::completions_to(shell, &mut direct);
        assert_eq!(String::from_utf8_lossy(&direct), script, "{shell}");
        for long in &options {
            // fish names long options without their dashes (`-l suite`, `suite=`).
            let named = match shell {
                Shell::Fish => {
                    script.contains(&format!("-l {long}"))
                        || script.contains(&format!(" {long}="))
                        || script.contains(&format!(" {long} "))
                }
                _ => script.contains(&format!("--{long}")),
            };
            assert!(named, "{shell}: --{long} missing");
        }
        for sub in ["decode", "completions", "man"] {
            assert!(script.contains(sub), "{shell}: subcommand {sub} missing");
        }
    }
}

#[test]
fn bash_accepts_the_bash_completions() {
    let script = stdout_of(&["completions", "bash"]);
    let mut bash = Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash runs");
    bash.stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("script written");
    let out = bash.wait_with_output().expect("bash ends");
    assert!(
        out.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_man_page_names_every_option() {
    let page = stdout_of(&["man"]);
    assert!(
        page.contains(".TH mqtt-conform 1"),
        "a roff page: {page:.200}"
    );
    assert!(page.contains(".SH OPTIONS") && page.contains(".SH SUBCOMMANDS"));
    // roff writes a hyphen as `\-`.
    let text = page.replace("\\-", "-");
    let mut every: Vec<String> = run_options();
    every.extend(
        Cli::command()
            .get_arguments()
            .filter_map(|a| a.get_long())
            .map(str::to_owned),
    );
    for long in &every {
        assert!(text.contains(&format!("--{long}")), "--{long} missing");
    }

    // --out DIR: a page for the command and each subcommand.
    let dir = std::env::temp_dir().join(format!("mqtt-conform-man-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_mqtt-conform"))
        .arg("man")
        .arg("--out")
        .arg(&dir)
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for page in [
        "mqtt-conform.1",
        "mqtt-conform-decode.1",
        "mqtt-conform-completions.1",
        "mqtt-conform-man.1",
    ] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap_or_default();
        assert!(text.contains(".TH"), "{page} written");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
