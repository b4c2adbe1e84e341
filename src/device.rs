//! Device mode: the harness is the cloud. A device connects to the emulator of its
//! platform, every packet it sends is judged against the suite's rules as it happens, and
//! the run ends after a duration, after a number of device connections, or on Ctrl-C.

use crate::emulator::{Certificate, server_config};
use crate::event::{Event, EventKind, Side};
use crate::judge::{AuthCheck, Finding, Grouping, Judge};
use crate::report::{RunReport, SuiteReport};
use crate::runner::auth_values;
use crate::server::{Behaviour, Server, tls_config};
use crate::suite::vars::Vars;
use crate::suite::{ParamValues, Suite};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::time::Instant;

/// How a device-mode run is set up.
#[derive(Debug, Clone)]
pub struct DeviceOptions {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Server certificate and key (PEM); a certificate is made when TLS is required and
    /// none is given.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// End after this long.
    pub duration: Option<Duration>,
    /// End after this many device connections have finished.
    pub devices: Option<usize>,
    /// Misbehaviours of the emulated cloud.
    pub behaviour: Behaviour,
}

/// What the run tells as it goes.
pub enum Progress<'a> {
    /// The server listens; devices may connect (with the certificate to trust, if made).
    Listening {
        /// The bound address.
        addr: SocketAddr,
        /// TLS is spoken.
        tls: bool,
        /// A certificate made for this run, which devices must trust.
        made_certificate: Option<&'a std::path::Path>,
    },
    /// A device connected or disconnected.
    Connection {
        /// The event.
        event: &'a Event,
    },
    /// A rule found something.
    Finding(&'a Finding),
}

/// Runs device mode until its end condition; returns one group per device client id.
pub async fn run(
    suite: &Suite,
    params: &ParamValues,
    opts: &DeviceOptions,
    on_progress: &mut dyn FnMut(Progress<'_>),
) -> Result<RunReport, String> {
    let started = Instant::now();
    let (mut config, made) = server_config(suite, params)?;
    config.behaviour = opts.behaviour.clone();
    // An explicit certificate replaces the one made for the platform's TLS requirement.
    let made = match &opts.tls {
        Some((cert, key)) => {
            config.tls = Some(tls_config(cert, key)?);
            None::<Certificate>
        }
        None => made,
    };
    config.emit_events = true;
    let mut vars = Vars::new();
    for (k, v) in &params.values {
        vars.set(k.clone(), v.clone());
    }
    let auth = auth_values(suite, &vars)?.map(|(scheme, values)| AuthCheck {
        scheme,
        identity: crate::auth::suite_params::identity(scheme, &values).ok(),
    });
    let mut judge = Judge::new(suite, vars, auth)?;
    let tls = config.tls.is_some();
    let mut server = Server::bind(opts.listen, config)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", opts.listen))?;
    on_progress(Progress::Listening {
        addr: server.local_addr,
        tls,
        made_certificate: made.as_ref().map(|c| c.cert.as_path()),
    });
    let deadline = opts.duration.map(|d| started + d);
    let mut finished_devices = 0usize;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let next = async {
            match deadline {
                Some(d) => tokio::time::timeout_at(d, server.events().recv())
                    .await
                    .ok(),
                None => Some(server.events().recv().await),
            }
        };
        let event = tokio::select! {
            e = next => e,
            _ = &mut ctrl_c => None,
        };
        let Some(Some(event)) = event else { break };
        if matches!(event.kind, EventKind::Opened | EventKind::Closed { .. }) {
            on_progress(Progress::Connection { event: &event });
        }
        for finding in judge.observe(&event) {
            on_progress(Progress::Finding(&finding));
        }
        if let EventKind::Closed { .. } = event.kind {
            finished_devices += 1;
            if opts.devices.is_some_and(|n| finished_devices >= n) {
                break;
            }
        }
    }
    server.shutdown().await;
    let mut suites: Vec<SuiteReport> = judge.finish(Grouping::ClientId);
    for s in &mut suites {
        s.properties.push(("mode".into(), "device".into()));
        s.properties
            .push(("listen".into(), opts.listen.to_string()));
    }
    Ok(RunReport {
        suites,
        duration: started.elapsed(),
    })
}

/// A one-line description of a connection event for the live console.
pub fn describe_connection(event: &Event) -> String {
    match &event.kind {
        EventKind::Opened => format!(
            "[{:>8.3} s] connection {} opened",
            event.at.as_secs_f64(),
            event.conn
        ),
        EventKind::Closed { by, detail } => format!(
            "[{:>8.3} s] connection {} closed by {} ({detail})",
            event.at.as_secs_f64(),
            event.conn,
            match by {
                Some(Side::Client) => "the device",
                Some(Side::Server) => "the cloud",
                None => "either side",
            }
        ),
        _ => String::new(),
    }
}
