//! Broker mode: the harness is the client, speaking raw packets to a broker or cloud
//! endpoint. Tests run concurrently on tokio, so a suite lasts about as long as its longest
//! test.

pub mod build;
pub mod connection;
pub mod exec;
pub mod matcher;
pub mod progress;
pub mod transport;

use crate::codec::framing::Framer;
use crate::codec::{Connect, Packet, decode_packet, encode_to_vec};
use crate::report::{CaseReport, RunReport, SuiteReport, Verdict};
use crate::secret::Redactor;
use crate::session::Session;
use crate::suite::vars::Vars;
use crate::suite::{ParamValues, Suite};
use connection::{Conn, Incoming};
use exec::{RunContext, run_test};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use transport::{ConnectError, Connector, Target, TlsOptions};

/// Which tests to run, libtest style.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Run tests whose id contains one of these (all when empty).
    pub filters: Vec<String>,
    /// Filters must equal the id.
    pub exact: bool,
    /// Leave out tests whose id contains one of these.
    pub skip: Vec<String>,
}

impl Selection {
    /// True when the test with this id is selected.
    pub fn selects(&self, id: &str) -> bool {
        let hit = |f: &String| {
            if self.exact {
                id == f
            } else {
                id.contains(f.as_str())
            }
        };
        (self.filters.is_empty() || self.filters.iter().any(hit)) && !self.skip.iter().any(hit)
    }
}

/// Everything a broker-mode run needs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The endpoint.
    pub target: Target,
    /// TLS settings (merged with the suite's endpoint requirements).
    pub tls: TlsOptions,
    /// Most tests at once.
    pub jobs: usize,
    /// Which tests.
    pub selection: Selection,
    /// Deadline of each TCP/TLS connect.
    pub connect_timeout: Duration,
    /// Largest packet accepted from the peer.
    pub max_packet_size: usize,
    /// Where every connection of the run also goes (a pcapng file that opens in
    /// Wireshark); started when the run starts.
    pub capture: Option<crate::event::SharedSink>,
    /// Where running tests say what they do (for progress lines); none: nobody asks.
    pub progress: Option<Arc<progress::Board>>,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The target cannot be used: unreachable, TLS failure, credentials refused.
    #[error("{0}")]
    Unreachable(String),
    /// The configuration is unusable (bad CA file, unknown auth parameter, …).
    #[error("{0}")]
    Config(String),
}

/// Runs the selected tests of `suite` against the target; `on_case` sees each result as
/// it finishes (for live console output).
pub async fn run_suite(
    suite: Arc<Suite>,
    params: &ParamValues,
    opts: &RunOptions,
    on_case: &mut dyn FnMut(&CaseReport),
) -> Result<RunReport, RunError> {
    run_suite_until(suite, params, opts, on_case, std::future::pending()).await
}

/// [`run_suite`], ended early when `stop` resolves (e.g. on SIGTERM): the tests still
/// running are cancelled and reported as errors carrying `stop`'s reason, so the report
/// of an interrupted run is written and never passes.
pub async fn run_suite_until(
    suite: Arc<Suite>,
    params: &ParamValues,
    opts: &RunOptions,
    on_case: &mut dyn FnMut(&CaseReport),
    stop: impl std::future::Future<Output = &'static str>,
) -> Result<RunReport, RunError> {
    let started = Instant::now();
    let mut tls = opts.tls.clone();
    if let Some(req) = &suite.tls {
        if req.required && !opts.target.tls {
            return Err(RunError::Config(format!(
                "suite `{}` requires TLS: use an mqtts:// target",
                suite.name
            )));
        }
        if tls.versions.is_empty() {
            tls.versions = req.versions.clone();
        }
        if tls.sni.is_none() {
            tls.sni = req.sni.clone();
        }
    }
    let connector =
        Connector::new(opts.target.clone(), &tls, opts.connect_timeout).map_err(|e| match e {
            ConnectError::TlsConfig(_) => RunError::Config(e.to_string()),
            other => RunError::Unreachable(other.to_string()),
        })?;
    let mut vars = crate::session::vars_of(params);
    let run_token = run_token();
    vars.set("run", run_token.clone());
    let mut redactor = Redactor::new(params.secrets.iter());
    let session = Session::with_vars(&suite, vars).map_err(RunError::Config)?;
    let credentials = session.credentials(&suite).map_err(RunError::Config)?;
    let Session { vars, auth } = session;
    if let Some(p) = &credentials.password {
        redactor.add(p);
    }
    // The run's own traffic goes to the judge, which checks what the suite's rules say
    // about the server (close times, one connection per identity).
    let (tap, mut events) = exec::EventTap::new(started);
    let mut judge =
        crate::judge::Judge::new(&suite, vars.clone(), None).map_err(RunError::Config)?;
    judge.keep_server_rules();
    let mut capture = opts.capture.clone();
    if let Some(sink) = &capture {
        sink.start(std::time::SystemTime::now())
            .map_err(|e| RunError::Config(e.to_string()))?;
    }
    let judging = tokio::spawn(async move {
        let mut capture_error = None;
        while let Some(event) = events.recv().await {
            judge.observe(&event);
            if let Some(sink) = &capture {
                if let Err(e) = sink.event(&event) {
                    capture_error = Some(e.to_string());
                    capture = None;
                }
            }
        }
        if let Some(sink) = capture {
            if let Err(e) = sink.finish() {
                capture_error = Some(e.to_string());
            }
        }
        (judge, capture_error)
    });
    let ctx = Arc::new(RunContext {
        suite: suite.clone(),
        connector,
        vars,
        credentials,
        auth,
        redactor,
        framer: Framer::new(opts.max_packet_size),
        run_token,
        events: Some(tap),
        next_conn: std::sync::atomic::AtomicU64::new(1),
        unsubscribed: std::sync::Mutex::new(exec::UnsubscribedDeliveries::default()),
        payloads: exec::PayloadBudget::default(),
        progress: opts.progress.clone(),
    });
    preflight(&ctx).await?;

    let semaphore = Arc::new(Semaphore::new(opts.jobs.max(1)));
    // A platform with one connection per identity drops the older of two logins with the
    // suite's credentials, so the tests that log in as the suite's identity take turns;
    // the others (throw-away client ids, raw packets) still run concurrently.
    let one_identity =
        ctx.credentials.client_id.is_some() && suite.profile.one_connection_per_identity;
    let identity_lock = Arc::new(tokio::sync::Mutex::new(()));
    let mut set = JoinSet::new();
    let mut results: Vec<Option<CaseReport>> = vec![None; suite.tests.len()];
    for (index, test) in suite.tests.iter().enumerate() {
        if !opts.selection.selects(&test.id.value) || !opts.target.carries(test) {
            continue;
        }
        let unset = test
            .params_used
            .iter()
            .find(|name| !params.values.contains_key(*name))
            .and_then(|name| suite.params.get(name));
        let reason = match (&test.skip, unset) {
            (Some(reason), _) => Some(reason.clone()),
            (None, Some(param)) => Some(format!(
                "needs the parameter `{}` ({})",
                param.name,
                param.how_to_set()
            )),
            (None, None) => None,
        };
        if let Some(reason) = reason {
            let case = skipped(test, &reason);
            on_case(&case);
            results[index] = Some(case);
            continue;
        }
        let ctx = ctx.clone();
        let test = test.clone();
        let semaphore = semaphore.clone();
        let identity = (one_identity
            && uses_identity(&test, &ctx.vars, ctx.credentials.client_id.as_deref()))
        .then(|| identity_lock.clone());
        set.spawn(async move {
            let _turn = match &identity {
                Some(lock) => Some(lock.lock().await),
                None => None,
            };
            let _permit = semaphore.acquire_owned().await;
            (index, run_test(ctx, test, index).await)
        });
    }
    let mut stop = std::pin::pin!(stop);
    let mut interrupted = None;
    loop {
        let joined = tokio::select! {
            joined = set.join_next() => joined,
            reason = &mut stop, if interrupted.is_none() => {
                interrupted = Some(reason);
                set.abort_all();
                continue;
            }
        };
        match joined {
            None => break,
            Some(Ok((index, case))) => {
                on_case(&case);
                results[index] = Some(case);
            }
            Some(Err(e)) if e.is_cancelled() => {}
            Some(Err(e)) => return Err(RunError::Config(format!("a test task failed: {e}"))),
        }
    }
    if let Some(reason) = interrupted {
        for (index, test) in suite.tests.iter().enumerate() {
            if results[index].is_none()
                && opts.selection.selects(&test.id.value)
                && opts.target.carries(test)
            {
                let case = interrupted_case(test, reason);
                on_case(&case);
                results[index] = Some(case);
            }
        }
    }
    let unsubscribed = match ctx.unsubscribed.lock() {
        Ok(log) => log.finding(),
        Err(poisoned) => poisoned.into_inner().finding(),
    };
    if let Some(case) = unsubscribed {
        on_case(&case);
        results.push(Some(case));
    }
    // Every sender is gone with the context: the judge has seen everything.
    drop(ctx);
    let (judge, capture_error) = judging
        .await
        .map_err(|e| RunError::Config(format!("the judge failed: {e}")))?;
    if let Some(e) = capture_error {
        return Err(RunError::Config(format!("cannot write {e}")));
    }
    let has_rules = judge.rule_ids().next().is_some();
    let rule_groups = judge.finish(crate::judge::Grouping::All);
    let duration = started.elapsed();
    let cases: Vec<CaseReport> = results.into_iter().flatten().collect();
    let mut suites = vec![SuiteReport {
        name: suite.name.clone(),
        classname: suite.name.clone(),
        properties: vec![
            ("target".into(), opts.target.to_string()),
            ("protocol".into(), suite.protocol.to_string()),
            ("suite_origin".into(), suite.origin.clone()),
        ],
        cases,
        duration,
    }];
    if has_rules {
        suites.extend(rule_groups.into_iter().map(|mut g| {
            g.properties
                .push(("target".into(), opts.target.to_string()));
            g
        }));
    }
    Ok(RunReport { suites, duration })
}

/// True when a test logs in with the suite's identity: a CONNECT that takes its client id
/// from the auth scheme, or names that client id itself (a platform with one connection per
/// identity would otherwise drop a concurrent test's connection).
fn uses_identity(
    test: &crate::suite::schema::TestDef,
    vars: &Vars,
    identity_client_id: Option<&str>,
) -> bool {
    use crate::suite::schema::{ConnectDef, Step};
    let same_id = |c: &ConnectDef| match (&c.client_id, identity_client_id) {
        (None, _) => c.credentials != Some(false),
        (Some(id), Some(identity)) => vars.interpolate(id).is_ok_and(|id| id == identity),
        (Some(_), None) => false,
    };
    test.steps.iter().any(|s| match &s.value {
        Step::Connect(c) => same_id(c),
        Step::Send(send) => send.connect.as_ref().is_some_and(same_id),
        _ => false,
    })
}

/// A test the run was stopped before it finished: not a verdict on the target.
fn interrupted_case(test: &crate::suite::schema::TestDef, signal: &str) -> CaseReport {
    CaseReport {
        id: test.id.value.clone(),
        title: test.title.clone(),
        cites: test.cites.clone(),
        verdict: Verdict::Error {
            message: format!("not finished: the run was interrupted ({signal})"),
        },
        branch: None,
        measured: None,
        duration: Duration::ZERO,
        trace: Vec::new(),
        timing: None,
    }
}

fn skipped(test: &crate::suite::schema::TestDef, reason: &str) -> CaseReport {
    CaseReport {
        id: test.id.value.clone(),
        title: test.title.clone(),
        cites: test.cites.clone(),
        verdict: Verdict::Skipped {
            reason: reason.to_owned(),
        },
        branch: None,
        measured: None,
        duration: Duration::ZERO,
        trace: Vec::new(),
        timing: None,
    }
}

/// A short token unique to this run, so concurrent runs and tests do not share client ids
/// or topics.
fn run_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mixed = (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32);
    format!("{:06x}", mixed & 0xFF_FFFF)
}

/// One connect with the suite's defaults before anything else, so an unreachable target,
/// a TLS failure or refused credentials end the run with one clear error.
async fn preflight(ctx: &RunContext) -> Result<(), RunError> {
    let suite = &ctx.suite;
    let target = ctx.connector.target().to_string();
    let mut conn = Conn::open(
        "preflight",
        0,
        &ctx.connector,
        ctx.framer,
        suite.protocol,
        suite.keepalive,
    )
    .await
    .map_err(|e| RunError::Unreachable(e.to_string()))?;
    let mut connect = Connect::new(suite.protocol, format!("mc{}pre", ctx.run_token));
    if let Some(c) = &ctx.credentials.client_id {
        connect.client_id = c.clone();
    }
    connect.username = ctx.credentials.username.clone();
    connect.password = ctx
        .credentials
        .password
        .clone()
        .map(|p| bytes::Bytes::from(p.into_bytes()));
    let bytes = encode_to_vec(&Packet::Connect(connect.into()), suite.protocol)
        .map_err(|e| RunError::Config(e.to_string()))?;
    // With TLS 1.3 a server's refusal (e.g. a missing client certificate) arrives as an
    // alert after the handshake, on the first write or read.
    let tls_note = |detail: &str| -> String {
        if ctx.connector.target().tls {
            format!(
                "TLS session with {target} failed after the handshake ({detail}); does the server require a client certificate (--cert/--key)?"
            )
        } else {
            format!("{target}: {detail}")
        }
    };
    conn.send(&bytes)
        .await
        .map_err(|e| RunError::Unreachable(tls_note(&format!("sending CONNECT failed: {e}"))))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let result = match conn.next(deadline).await {
        None => Err(format!(
            "{target} accepted the connection but sent no CONNACK within 10 s"
        )),
        Some(Incoming::Closed { detail, .. }) if detail.contains("alert") => Err(tls_note(&detail)),
        Some(Incoming::Closed { detail, .. }) => Err(format!(
            "{target} closed the connection after CONNECT without a CONNACK ({detail}): is it an MQTT {} server?",
            suite.protocol
        )),
        Some(Incoming::Unframeable { error, .. }) => {
            Err(format!("{target} does not speak MQTT: {error}"))
        }
        Some(Incoming::Frame { bytes, .. }) => match decode_packet(&bytes, suite.protocol) {
            Ok(Packet::ConnAck(c)) if c.code == 0 => Ok(()),
            Ok(Packet::ConnAck(c)) => Err(format!(
                "{target} refused the suite's credentials: CONNACK {:#04x} ({}){}",
                c.code,
                crate::codec::reason::code_name(
                    suite.protocol,
                    crate::codec::PacketType::ConnAck,
                    c.code
                ),
                if suite.params.contains_key("username") && ctx.credentials.username.is_none() {
                    "; a broker that requires credentials: --param username=NAME and the password in MQTT_PASSWORD (or a file named by MQTT_PASSWORD_FILE)"
                } else {
                    ""
                }
            )),
            Ok(other) => Err(format!(
                "{target} answered CONNECT with {}",
                other.packet_type()
            )),
            Err(e) => Err(format!(
                "{target} answered CONNECT with a malformed packet: {e}"
            )),
        },
    };
    if result.is_ok() {
        let _ = conn.send(&[0xE0, 0x00]).await;
    }
    conn.shutdown().await;
    result.map_err(|m| RunError::Unreachable(ctx.redactor.text(&m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_filters() {
        let s = Selection {
            filters: vec!["CONN".into()],
            exact: false,
            skip: vec!["CONN-02".into()],
        };
        assert!(s.selects("MQTT311-CONN-01"));
        assert!(!s.selects("MQTT311-CONN-02"));
        assert!(!s.selects("MQTT311-SUB-01"));
        let exact = Selection {
            filters: vec!["MQTT311-CONN-01".into()],
            exact: true,
            skip: vec![],
        };
        assert!(exact.selects("MQTT311-CONN-01"));
        assert!(!exact.selects("MQTT311-CONN-011"));
        assert!(Selection::default().selects("anything"));
    }

    #[test]
    fn a_test_naming_the_identity_client_id_takes_its_turn_with_the_identity() {
        let suite = crate::suite::load("watson").expect("built-in suite");
        let params = suite
            .resolve_params(&std::collections::BTreeMap::new(), true)
            .expect("examples");
        let vars = crate::session::vars_of(&params);
        let identity = vars
            .interpolate("d:${org}:${device_type}:${device_id}")
            .expect("the device's client id");
        let test = |id: &str| {
            suite
                .tests
                .iter()
                .find(|t| t.id.value == id)
                .unwrap_or_else(|| panic!("{id} exists"))
        };
        // Logs in with the scheme's credentials.
        assert!(uses_identity(
            test("WIOTP-CONNECT-00"),
            &vars,
            Some(&identity)
        ));
        // Names the device's client id without credentials: same identity on the wire.
        let named = test("WIOTP-AUTH-03-NO-CREDENTIALS");
        assert!(uses_identity(named, &vars, Some(&identity)));
        assert!(!uses_identity(named, &vars, Some("d:other:t:i")));
        // A client id of another form is another identity.
        assert!(!uses_identity(
            test("WIOTP-AUTH-01-BAD-FORM"),
            &vars,
            Some(&identity)
        ));
    }
}
