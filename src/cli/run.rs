//! Suite runs from the command line: listing, checking, coverage, and broker mode.

use super::{ColorChoice, Format, RunArgs, exit};
use crate::codec::ProtocolVersion;
use crate::codec::statements::{Party, Spec, Statement};
use crate::event::SharedSink;
use crate::report::console::Console;
use crate::report::pcapng::CaptureFile;
use crate::report::{RunReport, json, junit, markdown};
use crate::runner::transport::{Target, TlsOptions};
use crate::runner::{RunError, RunOptions, Selection, run_suite_until};
use crate::suite::{self, Suite};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Runs the suite command; returns the exit code.
pub fn run(args: &RunArgs) -> i32 {
    if args.list_suites {
        return list_suites();
    }
    if let Err(message) = refuse_options_of_other_modes(args) {
        eprintln!("error: {message}");
        return exit::USAGE;
    }
    let Some(spec) = &args.suite else {
        eprintln!(
            "error: nothing to do: give --suite NAME or a path (built-in: {}), or a subcommand (see --help)",
            builtin_list()
        );
        return exit::USAGE;
    };
    let suite = match suite::load(spec) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let selection = Selection {
        filters: args.filters.clone(),
        exact: args.exact,
        skip: args.skip.clone(),
    };
    if args.check {
        println!(
            "{}: ok ({} tests, {} rules, {} device tests)",
            suite.origin,
            suite.tests.len(),
            suite.rules.len(),
            suite.device_tests.len()
        );
        return exit::OK;
    }
    if args.list {
        let entries = super::list::entries(&suite, &selection);
        match args.format {
            Format::Text => print!("{}", super::list::text(&entries)),
            Format::Json => println!("{}", super::list::json(&entries)),
        }
        return exit::OK;
    }
    if let Some(id) = &args.explain {
        let explained = crate::suite::sources(spec)
            .map_err(|e| e.to_string())
            .and_then(|sources| super::explain::explain(&suite, &sources, id));
        return match explained {
            Ok(explanation) => {
                match args.format {
                    Format::Text => print!("{}", explanation.text()),
                    Format::Json => println!("{}", explanation.json()),
                }
                exit::OK
            }
            Err(message) => {
                eprintln!("error: {message}");
                exit::USAGE
            }
        };
    }
    if args.coverage {
        print!("{}", coverage(&suite));
        return exit::OK;
    }
    if let Err(message) = refuse_an_empty_selection(args, &suite, &selection) {
        eprintln!("error: {message}");
        return exit::USAGE;
    }
    if let Some(listen) = &args.listen {
        return device_mode(args, &suite, listen);
    }
    if !args.pcap.is_empty() {
        return capture_mode(args, &suite);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::USAGE;
        }
    };
    // Without a target the suite runs against its platform's built-in emulator, which is
    // provisioned with the parameters' example identity.
    let use_emulator = args.target.is_none();
    let cli_params: BTreeMap<String, String> = args.params.iter().cloned().collect();
    let params = match suite.resolve_params(&cli_params, use_emulator) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let text = args.format == Format::Text;
    let mut emulator = None;
    let (target, mut tls) = match &args.target {
        Some(url) => match Target::parse_with(url, suite.default_ports()) {
            Ok(t) => (t, TlsOptions::default()),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::USAGE;
            }
        },
        None => {
            let local = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
            match runtime.block_on(crate::emulator::start(&suite, &params, local, false)) {
                Ok(e) => {
                    if text {
                        println!(
                            "no --target given: running against the built-in `{}` emulator at {}",
                            suite.name, e.target
                        );
                    }
                    let found = (e.target.clone(), e.tls.clone());
                    emulator = Some(e);
                    found
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::USAGE;
                }
            }
        }
    };
    if args.ca.is_some() {
        tls.ca = args.ca.clone();
    }
    tls.cert = args.cert.clone();
    tls.key = args.key.clone();
    tls.sni = args.sni.clone();
    tls.insecure = args.insecure;
    // Tests say what they do while they run: for the SLOW lines and the bar of a text run,
    // and the start events `--format json` streams.
    let board = Arc::new(if text {
        crate::runner::progress::Board::default()
    } else {
        crate::runner::progress::Board::observed(Box::new(|id| {
            println!("{}", json::event_line("test", "started", id, None));
        }))
    });
    let opts = RunOptions {
        target: target.clone(),
        tls,
        jobs: args.jobs,
        selection: selection.clone(),
        connect_timeout: Duration::from_secs_f64(args.connect_timeout.clamp(0.1, 600.0)),
        max_packet_size: args.max_packet_size.unwrap_or(CLIENT_MAX_PACKET_SIZE),
        capture: args
            .capture
            .as_ref()
            .map(|path| SharedSink::new(CaptureFile::new(path))),
        progress: Some(board.clone()),
    };
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    let mut console = Console::new(std::io::stdout(), color, args.verbose);
    let selected = suite
        .tests
        .iter()
        .filter(|t| selection.selects(&t.id.value) && target.carries(t))
        .count();
    if text {
        let _ = console.start(&suite.name, &target.to_string(), selected);
    } else {
        println!("{}", json::suite_started(selected));
    }
    let terminal = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    let progress = super::progress::Progress::new(board, selected, text && terminal);
    let suite = Arc::new(suite);
    let result = runtime.block_on(async {
        // Installed before the first test starts: a signal from then on ends the run with
        // its report.
        let stop = crate::interrupt::Interrupt::install().requested();
        let mut show = |case: &crate::report::CaseReport| {
            if text {
                progress.case_done(|| {
                    let _ = console.case(case);
                });
            } else {
                println!("{}", json::case_line(case));
            }
        };
        let run = run_suite_until(suite.clone(), &params, &opts, &mut show, stop);
        tokio::select! {
            r = run => r,
            () = progress.tick(), if text => unreachable!("the ticker runs until the run ends"),
        }
    });
    progress.finish();
    let emulator_target = emulator.as_ref().map(|e| e.target.to_string());
    if let Some(e) = emulator {
        runtime.block_on(e.handle.shutdown());
    }
    let report = match result {
        Ok(r) => r,
        Err(RunError::Unreachable(m)) => {
            eprintln!("error: target unusable: {m}");
            return exit::UNREACHABLE;
        }
        Err(RunError::Config(m)) => {
            eprintln!("error: {m}");
            return exit::USAGE;
        }
    };
    let junit_path = junit_path(args, &suite);
    if let Err(e) = junit::write_junit(&report, &junit_path) {
        eprintln!("error: cannot write {}: {e}", junit_path.display());
        return exit::USAGE;
    }
    if let Some(path) = &args.report_json {
        if let Err(e) = write_file(path, &json::to_json(&report)) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return exit::USAGE;
        }
    }
    if let Err(code) = write_html(args, &suite, &report) {
        return code;
    }
    // The rules judged over the run's connections come with the report, announced as
    // they come (how many apply depends on what the tests did).
    let rule_cases: Vec<&crate::report::CaseReport> = report
        .suites
        .iter()
        .skip(1)
        .flat_map(|g| &g.cases)
        .collect();
    if !rule_cases.is_empty() {
        if text {
            let _ = console.rules_start(rule_cases.len());
        } else {
            println!("{}", json::rules_started(rule_cases.len()));
        }
    }
    for case in rule_cases {
        if text {
            let _ = console.case(case);
        } else {
            println!("{}", json::case_line(case));
        }
    }
    let subject = match &emulator_target {
        Some(at) => format!("the built-in emulator at {at}"),
        None => target.to_string(),
    };
    if let Err(code) = write_markdown(args, &suite, &report, subject) {
        return code;
    }
    if text {
        let _ = console.finish(&report);
        println!("JUnit report: {}", junit_path.display());
    } else {
        println!("{}", json::report_line(&report));
    }
    if report.failed() {
        exit::FAILED
    } else {
        exit::OK
    }
}

/// `--listen`: be the cloud, judge the devices that connect.
fn device_mode(args: &RunArgs, suite: &Suite, listen: &crate::websocket::Listen) -> i32 {
    let cli_params: BTreeMap<String, String> = args.params.iter().cloned().collect();
    // A device flashed with the suite's example identity is accepted as it is.
    let params = match suite.resolve_params(&cli_params, true) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let opts = crate::device::DeviceOptions {
        listen: listen.addr,
        websocket: listen.websocket.clone(),
        websocket_tls: listen.tls,
        tls: args.tls_cert.clone().zip(args.tls_key.clone()),
        duration: args.duration,
        devices: args.devices,
        behaviour: crate::server::Behaviour {
            withhold_pingresp: args.withhold_pingresp,
            withhold_puback: args.withhold_puback,
            withhold_suback: args.withhold_suback,
            reject_subscriptions: args.reject_subscriptions,
            close_after: args.drop_after,
            // Past the window a device is given to close after its DISCONNECT, so that
            // the judge sees which side closed.
            await_client_close: Some(crate::conduct::CLOSE_WINDOW + Duration::from_secs(1)),
        },
        capture: args
            .capture
            .as_ref()
            .map(|path| SharedSink::new(CaptureFile::new(path))),
        max_packet_size: args.max_packet_size,
        device_tests: if args.device_tests {
            let selection = crate::runner::Selection {
                filters: args.filters.clone(),
                exact: args.exact,
                skip: args.skip.clone(),
            };
            suite
                .device_tests
                .iter()
                .filter(|t| selection.selects(&t.id))
                .cloned()
                .collect()
        } else {
            Vec::new()
        },
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::USAGE;
        }
    };
    let text = args.format == Format::Text;
    let redactor = crate::secret::Redactor::new(params.secrets.iter());
    let result = runtime.block_on(crate::device::run(suite, &params, &opts, &mut |p| {
        if !text {
            return;
        }
        match p {
            crate::device::Progress::Listening {
                addr,
                tls,
                websocket,
                made_certificate,
            } => {
                let scheme = match (websocket.is_some(), tls) {
                    (true, true) => "wss://",
                    (true, false) => "ws://",
                    (false, true) => "mqtts://",
                    (false, false) => "mqtt://",
                };
                println!(
                    "device mode: the `{}` cloud listens on {scheme}{addr}{}{}",
                    suite.name,
                    websocket.unwrap_or_default(),
                    made_certificate
                        .map(|c| format!(
                            " (TLS certificate made for this run; devices must trust {})",
                            c.display()
                        ))
                        .unwrap_or_default()
                );
                let end = match (opts.duration, opts.devices) {
                    (Some(d), _) => format!("after {}", crate::suite::timing::fmt_secs(d)),
                    (None, Some(n)) => format!("after {n} device connection(s)"),
                    (None, None) => "on Ctrl-C or SIGTERM".into(),
                };
                println!("the run ends {end}");
            }
            crate::device::Progress::Connection { event } => {
                println!("{}", crate::device::describe_connection(event));
            }
            crate::device::Progress::DeviceTest(update) => {
                println!("{}", redactor.text(&crate::device::describe_update(update)));
            }
            crate::device::Progress::Finding(f) => {
                println!(
                    "{} {}: {}",
                    f.client_id.as_deref().unwrap_or("(no client id)"),
                    f.rule_id,
                    redactor.text(&f.message)
                );
            }
        }
    }));
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let code = finish_report(args, suite, &report, text, &redactor);
    // No device logged in: nothing was judged, which is not a device breaking a rule.
    let no_login = report
        .suites
        .iter()
        .any(|s| s.cases.iter().any(|c| c.id == crate::device::NO_LOGIN_CASE));
    if code == exit::FAILED && no_login {
        exit::UNREACHABLE
    } else {
        code
    }
}

fn capture_mode(args: &RunArgs, suite: &Suite) -> i32 {
    let cli_params: BTreeMap<String, String> = args.params.iter().cloned().collect();
    // The example identity is the one the emulator provisions: captures of it judge as is.
    let params = match suite.resolve_params(&cli_params, true) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let tls_keys = match &args.tls_keylog {
        Some(path) => match crate::capture::tls::KeyLog::from_file(path) {
            Ok(keys) => Some(std::sync::Arc::new(keys)),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::USAGE;
            }
        },
        None => None,
    };
    let mut opts = crate::capture::analyze::CaptureOptions {
        paths: args.pcap.clone(),
        ports: args.ports.clone(),
        protocol: args.protocol,
        max_packet_size: args.max_packet_size.unwrap_or(CLIENT_MAX_PACKET_SIZE),
        tls_keys,
        stop: None,
    };
    let text = args.format == Format::Text;
    let redactor = crate::secret::Redactor::new(params.secrets.iter());
    if let Some(url) = &args.replay_to {
        return replay_mode(args, suite, url, opts, text, &redactor);
    }
    // A signal ends the read and judges what was read; a read blocked on a pipe that
    // brings nothing more ends the process 10 s later instead.
    match crate::interrupt::stop_on_signal(Duration::from_secs(10), |reason| {
        eprintln!("{reason}: the capture read stops here; judging what was read")
    }) {
        Ok(stop) => opts.stop = Some(stop),
        Err(e) => eprintln!("warning: Ctrl-C and SIGTERM will end the run without a report: {e}"),
    }
    eprintln!(
        "reading {} capture file(s) (Ctrl-C or SIGTERM ends the read early; what was read is judged)",
        opts.paths.len()
    );
    let (report, summary) =
        match crate::capture::analyze::analyze(suite, &params, &opts, &mut |_| {}) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::USAGE;
            }
        };
    eprintln!("{}", summary.line());
    finish_report(args, suite, &report, text, &redactor)
}

/// `--pcap … --replay-to URL`: the recorded clients against a live target.
fn replay_mode(
    args: &RunArgs,
    suite: &Suite,
    url: &str,
    capture: crate::capture::analyze::CaptureOptions,
    text: bool,
    redactor: &crate::secret::Redactor,
) -> i32 {
    let target = match Target::parse_with(url, suite.default_ports()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let mut opts = crate::replay::ReplayOptions::new(capture.paths, target);
    opts.ports = capture.ports;
    opts.protocol = capture.protocol;
    opts.max_packet_size = capture.max_packet_size;
    opts.tls_keys = capture.tls_keys;
    opts.speed = args.speed;
    opts.connect_timeout = Duration::from_secs_f64(args.connect_timeout.clamp(0.1, 600.0));
    opts.tls.ca = args.ca.clone();
    opts.tls.cert = args.cert.clone();
    opts.tls.key = args.key.clone();
    opts.tls.sni = args.sni.clone();
    opts.tls.insecure = args.insecure;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::USAGE;
        }
    };
    let replayed = runtime.block_on(async {
        // Installed before the first connection is replayed: a signal from then on ends
        // the replay with its report.
        let stop = crate::interrupt::Interrupt::install().requested();
        if text {
            println!(
                "replaying the recorded clients to {} (ends early on Ctrl-C or SIGTERM)",
                opts.target
            );
        }
        crate::replay::replay_until(&opts, stop).await
    });
    let mut report = match replayed {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::UNREACHABLE;
        }
    };
    for group in &mut report.suites {
        group.classname = suite.name.clone();
    }
    finish_report(args, suite, &report, text, redactor)
}

/// Writes JUnit (and JSON) and prints the summary; returns the exit code.
fn finish_report(
    args: &RunArgs,
    suite: &Suite,
    report: &crate::report::RunReport,
    text: bool,
    redactor: &crate::secret::Redactor,
) -> i32 {
    // Every output is rendered from one redacted copy: console, JUnit and JSON agree.
    let report = &report.redacted(|text| redactor.text(text));
    let junit_path = junit_path(args, suite);
    if let Err(e) = junit::write_junit(report, &junit_path) {
        eprintln!("error: cannot write {}: {e}", junit_path.display());
        return exit::USAGE;
    }
    // Built only when asked: a long device run has a case per rule per device.
    let json_text = (args.report_json.is_some() || !text).then(|| json::to_json(report));
    if let (Some(path), Some(json_text)) = (&args.report_json, &json_text) {
        if let Err(e) = write_file(path, json_text) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return exit::USAGE;
        }
    }
    if let Err(code) = write_html(args, suite, report) {
        return code;
    }
    if let Err(code) = write_markdown(args, suite, report, subject(args)) {
        return code;
    }
    if text {
        let mut console = Console::new(std::io::stdout(), false, args.verbose);
        let grouped = report.suites.len() > 1;
        for group in &report.suites {
            if grouped {
                println!("\n{}:", group.name);
            }
            for case in &group.cases {
                let _ = console.case(case);
            }
        }
        let _ = console.finish(report);
        println!("JUnit report: {}", junit_path.display());
    } else if let Some(json_text) = json_text {
        println!("{json_text}");
    }
    if report.failed() {
        exit::FAILED
    } else {
        exit::OK
    }
}

/// `--report-markdown`: the run's summary for a CI page; on failure, the exit code.
fn write_markdown(
    args: &RunArgs,
    suite: &Suite,
    report: &RunReport,
    subject: String,
) -> Result<(), i32> {
    let Some(path) = &args.report_markdown else {
        return Ok(());
    };
    let context = markdown::RunContext {
        suite: suite.name.clone(),
        mode: Mode::of(args).name().into(),
        subject,
    };
    write_file(path, &markdown::to_markdown(report, &context)).map_err(|e| {
        eprintln!("error: cannot write {}: {e}", path.display());
        exit::USAGE
    })
}

/// What a device, capture or replay run tested, in words: the listening address, the
/// capture files (and the replay's target).
fn subject(args: &RunArgs) -> String {
    let files = || {
        args.pcap
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (&args.listen, &args.replay_to) {
        (Some(listen), _) => {
            let scheme = match (listen.websocket.is_some(), listen.tls) {
                (true, true) => "wss://",
                (true, false) => "ws://",
                (false, _) => "",
            };
            format!(
                "{scheme}{}{}",
                listen.addr,
                listen.websocket.as_deref().unwrap_or_default()
            )
        }
        (None, Some(url)) => format!("{} replayed to {url}", files()),
        (None, None) => files(),
    }
}

/// Largest packet accepted from the peer as a client and in captures, unless
/// `--max-packet-size` says otherwise.
const CLIENT_MAX_PACKET_SIZE: usize = 16 * 1024 * 1024;

/// How a run meets its peer, chosen by `--listen`, `--pcap` and `--replay-to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// We are the client of a broker (`--target`, or the built-in emulator).
    Broker,
    /// We are the cloud (`--listen`).
    Device,
    /// We judge recorded connections (`--pcap`).
    Capture,
    /// We re-send recorded clients to a live target (`--pcap … --replay-to`).
    Replay,
}

impl Mode {
    fn of(args: &RunArgs) -> Mode {
        match (&args.listen, args.pcap.is_empty(), &args.replay_to) {
            (Some(_), _, _) => Mode::Device,
            (None, false, Some(_)) => Mode::Replay,
            (None, false, None) => Mode::Capture,
            (None, true, _) => Mode::Broker,
        }
    }

    /// The word in default report names and messages.
    fn name(self) -> &'static str {
        match self {
            Mode::Broker => "broker",
            Mode::Device => "device",
            Mode::Capture => "capture",
            Mode::Replay => "replay",
        }
    }

    /// How the mode is chosen, for messages.
    fn chosen_by(self) -> &'static str {
        match self {
            Mode::Broker => "broker mode (--target, or the built-in emulator)",
            Mode::Device => "device mode (--listen)",
            Mode::Capture => "capture mode (--pcap)",
            Mode::Replay => "replay mode (--pcap … --replay-to)",
        }
    }
}

/// `--report-junit`, else `reports/<suite>-<mode>.xml`: a broker run and a device run of
/// one suite keep both reports.
fn junit_path(args: &RunArgs, suite: &Suite) -> PathBuf {
    args.report_junit.clone().unwrap_or_else(|| {
        PathBuf::from("reports").join(format!("{}-{}.xml", suite.name, Mode::of(args).name()))
    })
}

/// Refuses options that mean nothing in the chosen mode instead of ignoring them.
fn refuse_options_of_other_modes(args: &RunArgs) -> Result<(), String> {
    use Mode::{Broker, Capture, Device, Replay};
    let mode = Mode::of(args);
    let given: [(&str, bool, &[Mode]); 22] = [
        ("--tls-cert", args.tls_cert.is_some(), &[Device]),
        ("--tls-key", args.tls_key.is_some(), &[Device]),
        ("--duration", args.duration.is_some(), &[Device]),
        ("--devices", args.devices.is_some(), &[Device]),
        ("--withhold-pingresp", args.withhold_pingresp, &[Device]),
        ("--withhold-puback", args.withhold_puback, &[Device]),
        ("--withhold-suback", args.withhold_suback, &[Device]),
        (
            "--reject-subscriptions",
            args.reject_subscriptions,
            &[Device],
        ),
        ("--drop-after", args.drop_after.is_some(), &[Device]),
        ("--device-tests", args.device_tests, &[Device]),
        ("--port", !args.ports.is_empty(), &[Capture, Replay]),
        ("--protocol", args.protocol.is_some(), &[Capture, Replay]),
        (
            "--tls-keylog",
            args.tls_keylog.is_some(),
            &[Capture, Replay],
        ),
        ("--capture", args.capture.is_some(), &[Broker, Device]),
        ("--ca", args.ca.is_some(), &[Broker, Replay]),
        ("--cert", args.cert.is_some(), &[Broker, Replay]),
        ("--key", args.key.is_some(), &[Broker, Replay]),
        ("--sni", args.sni.is_some(), &[Broker, Replay]),
        ("--insecure", args.insecure, &[Broker, Replay]),
        // Filters choose tests: broker-mode tests, or with --device-tests device tests.
        (
            "a test FILTER",
            !args.filters.is_empty() && !args.list,
            &[Broker, Device],
        ),
        ("--exact", args.exact && !args.list, &[Broker, Device]),
        (
            "--skip",
            !args.skip.is_empty() && !args.list,
            &[Broker, Device],
        ),
    ];
    for (option, is_given, modes) in given {
        if is_given && !modes.contains(&mode) {
            let applies: Vec<&str> = modes.iter().map(|m| m.chosen_by()).collect();
            return Err(format!(
                "{option} applies to {} only, not to {}",
                applies.join(" and "),
                mode.chosen_by()
            ));
        }
    }
    let selects_tests = !args.filters.is_empty() || args.exact || !args.skip.is_empty();
    if mode == Device && selects_tests && !args.device_tests && !args.list {
        return Err(
            "test filters choose the device tests to play: add --device-tests (device mode \
             judges every connection by all of the suite's rules)"
                .into(),
        );
    }
    Ok(())
}

/// A selection that leaves nothing to run is a mistake (a typo in a CI filter), not a pass.
fn refuse_an_empty_selection(
    args: &RunArgs,
    suite: &Suite,
    selection: &Selection,
) -> Result<(), String> {
    let (kind, ids): (&str, Vec<&str>) = match Mode::of(args) {
        Mode::Broker => (
            "test",
            suite.tests.iter().map(|t| t.id.value.as_str()).collect(),
        ),
        Mode::Device if args.device_tests => (
            "device test",
            suite.device_tests.iter().map(|t| t.id.as_str()).collect(),
        ),
        _ => return Ok(()),
    };
    if ids.iter().any(|id| selection.selects(id)) {
        return Ok(());
    }
    let mut chosen: Vec<String> = args.filters.iter().map(|f| format!("`{f}`")).collect();
    if args.exact {
        chosen.push("--exact".into());
    }
    chosen.extend(args.skip.iter().map(|s| format!("--skip `{s}`")));
    Err(if chosen.is_empty() {
        format!("suite `{}` has no {kind} to run", suite.name)
    } else {
        format!(
            "no {kind} of suite `{}` matches {} ({} {kind}s; see --list)",
            suite.name,
            chosen.join(" "),
            ids.len()
        )
    })
}

/// `--report-html`: the HTML report, titled by suite and mode.
fn write_html(args: &RunArgs, suite: &Suite, report: &crate::report::RunReport) -> Result<(), i32> {
    let Some(path) = &args.report_html else {
        return Ok(());
    };
    let title = format!(
        "mqtt-conform: {} ({} mode)",
        suite.name,
        Mode::of(args).name()
    );
    write_file(path, &crate::report::html::to_html(report, &title)).map_err(|e| {
        eprintln!("error: cannot write {}: {e}", path.display());
        exit::USAGE
    })
}

fn write_file(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)
}

fn builtin_list() -> String {
    suite::builtin_names().collect::<Vec<_>>().join(", ")
}

fn list_suites() -> i32 {
    for name in suite::builtin_names() {
        match suite::load(name) {
            Ok(s) => println!("{name:<14} {:>3} tests  {}", s.tests.len(), s.title),
            Err(e) => println!("{name:<14} (does not load: {e})"),
        }
    }
    exit::OK
}

/// Every normative statement of the suite's MQTT version, and which tests cite it, split by
/// the party it binds: Client statements (checked on devices by passive rules and device
/// tests), Server statements (checked on brokers by broker tests), and last the statements no
/// over-the-wire test can check, with the reason. A statement binding both parties appears
/// in both sections; the off-the-wire ones count in neither percentage.
pub fn coverage(suite: &Suite) -> String {
    let spec = match suite.protocol {
        ProtocolVersion::V5 => Spec::V5_0,
        _ => Spec::V3_1_1,
    };
    let mut on_devices: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut on_brokers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for t in &suite.tests {
        let cites: Vec<&str> = t.cites.iter().map(String::as_str).collect();
        cite_into(spec, &mut on_brokers, &t.id.value, &cites);
    }
    for r in &suite.rules {
        // A rule named after a statement checks that statement.
        let mut cites: Vec<&str> = vec![r.id.value.as_str()];
        cites.extend(r.cites.iter().map(String::as_str));
        cite_into(spec, &mut on_devices, &r.id.value, &cites);
    }
    for d in &suite.device_tests {
        let cites: Vec<&str> = d.cites.iter().map(String::as_str).collect();
        cite_into(spec, &mut on_devices, &d.id, &cites);
    }
    let statements = spec.statements();
    let mut out = format!(
        "Normative statements of MQTT {} and the checks of suite `{}` that cite them\n",
        if spec == Spec::V5_0 { "5.0" } else { "3.1.1" },
        suite.name
    );
    out.push_str(&side_section(
        "Client statements (checked on devices: passive rules and device tests)",
        statements.iter().filter(|s| s.binds.binds_client()),
        &on_devices,
        (
            "cited by broker tests only (they check the server's side)",
            &on_brokers,
        ),
    ));
    out.push_str(&side_section(
        "Server statements (checked on brokers: broker tests)",
        statements.iter().filter(|s| s.binds.binds_server()),
        &on_brokers,
        (
            "cited by device checks only (they check the client's side)",
            &on_devices,
        ),
    ));
    out.push_str("\nNot testable over the wire (in neither percentage)\n\n");
    for s in statements {
        if let Party::OffWire(reason) = s.binds {
            out.push_str(&format!(
                "[-] {:<16} {}\n    why: {reason}\n",
                s.id, s.summary
            ));
        }
    }
    out
}

/// Which checks cite each statement, by statement ID.
type ChecksByStatement<'a> = BTreeMap<&'static str, Vec<&'a str>>;

/// One side's part of `--coverage`: its statements with the checks of that side citing
/// them (and, for the uncovered ones, the other side's cites, which check the other party),
/// then its covered fraction.
fn side_section<'a>(
    heading: &str,
    statements: impl Iterator<Item = &'a Statement>,
    checked_by: &ChecksByStatement,
    (other_note, other_side): (&str, &ChecksByStatement),
) -> String {
    let mut out = format!("\n{heading}\n\n");
    let mut testable = 0;
    let mut covered = 0;
    for s in statements {
        testable += 1;
        let checks = checked_by.get(s.id);
        covered += usize::from(checks.is_some());
        let mark = if checks.is_some() { "x" } else { " " };
        out.push_str(&format!("[{mark}] {:<16} {}\n", s.id, s.summary));
        if let Some(checks) = checks {
            out.push_str(&format!("    tested by: {}\n", checks.join(", ")));
        } else if let Some(others) = other_side.get(s.id) {
            out.push_str(&format!("    {other_note}: {}\n", others.join(", ")));
        }
    }
    out.push_str(&format!(
        "\ncovered: {covered} of {testable} wire-testable ({:.1} %)\n",
        percent(covered, testable)
    ));
    out
}

/// Records `by` as a check of every statement of `spec` among `cites` (other cites, such
/// as catalogue rules, are not statements and are left out).
fn cite_into<'a>(spec: Spec, map: &mut ChecksByStatement<'a>, by: &'a str, cites: &[&str]) {
    for c in cites {
        if let Some(s) = spec.lookup(c) {
            let checks = map.entry(s.id).or_default();
            if !checks.contains(&by) {
                checks.push(by);
            }
        }
    }
}

/// `part` of `whole` in per cent (0 of 0 is 0 %).
fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}
