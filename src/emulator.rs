//! The built-in emulator: the server shaped by a suite's profile, provisioned with the
//! suite's identity (its parameters, by default their examples) and every further identity
//! of its `auth.identities` (e.g. Watson's gateway and application), speaking TLS with a
//! certificate made on the spot when the platform requires TLS.
//!
//! `mqtt-conform --suite NAME` with no target runs the suite against it, and device mode
//! (`--listen`) is the same server facing a real device.

use crate::runner::transport::{MemoryDialer, Target, TlsOptions};
use crate::server::{Server, ServerConfig, ServerHandle, tls_config};
use crate::suite::{ParamValues, Suite};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// A certificate made for this process: files removed when dropped.
#[derive(Debug)]
pub struct Certificate {
    dir: PathBuf,
    /// The certificate (PEM), also the CA a client must trust.
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
}

impl Certificate {
    /// A self-signed certificate for 127.0.0.1 and localhost.
    pub fn self_signed() -> Result<Self, String> {
        let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
            .map_err(|e| format!("cannot make the emulator's certificate: {e}"))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "mqtt-conform-emulator-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, made.cert.pem()).map_err(|e| format!("{}: {e}", cert.display()))?;
        std::fs::write(&key, made.signing_key.serialize_pem())
            .map_err(|e| format!("{}: {e}", key.display()))?;
        Ok(Self { dir, cert, key })
    }
}

impl Drop for Certificate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The server configuration for `suite`: its profile, its identities (the credentials of
/// any of them are accepted, see [`crate::auth::Identity::AnyOf`]), its TLS requirement.
pub fn server_config(
    suite: &Suite,
    params: &ParamValues,
) -> Result<(ServerConfig, Option<Certificate>), String> {
    let mut config = ServerConfig::new(suite.profile.clone());
    let session = crate::session::Session::new(suite, params)?;
    // The auth values carry the further identities too (folded in when the suite compiled).
    if let Some(identity) = session.identity()? {
        config.auth = Some(Arc::new(identity));
    }
    config.vars = session.vars;
    let certificate = if suite.tls.as_ref().is_some_and(|t| t.required) {
        let c = Certificate::self_signed()?;
        config.tls = Some(tls_config(&c.cert, &c.key)?);
        Some(c)
    } else {
        None
    };
    Ok((config, certificate))
}

/// A running emulator and how to reach it.
pub struct Emulator {
    /// The server.
    pub handle: ServerHandle,
    /// Its URL.
    pub target: Target,
    /// What a client must trust to reach it.
    pub tls: TlsOptions,
    _certificate: Option<Certificate>,
}

impl Emulator {
    /// Runs `client` with a target that reaches this emulator through in-memory pipes
    /// instead of its socket, serving each pipe as an accepted connection until `client`
    /// ends. Client and emulator then share one runtime, so on a paused clock (tokio's
    /// `start_paused`) keep-alive closes and other long timers take no wall time.
    pub async fn run_in_memory<F, T>(&self, client: impl FnOnce(Target) -> F) -> T
    where
        F: Future<Output = T>,
    {
        let (dialer, mut pipes) = MemoryDialer::new();
        let run = client(self.target.clone().in_memory(dialer));
        tokio::pin!(run);
        loop {
            tokio::select! {
                out = &mut run => return out,
                Some(pipe) = pipes.recv() => {
                    tokio::spawn(self.handle.serve_stream(pipe));
                }
            }
        }
    }
}

/// Starts the emulator for `suite` on `addr` (port 0 for a free one).
pub async fn start(
    suite: &Suite,
    params: &ParamValues,
    addr: SocketAddr,
    emit_events: bool,
) -> Result<Emulator, String> {
    let (mut config, certificate) = server_config(suite, params)?;
    config.emit_events = emit_events;
    let handle = Server::bind(addr, config)
        .await
        .map_err(|e| format!("the emulator cannot listen on {addr}: {e}"))?;
    let scheme = if certificate.is_some() {
        "mqtts"
    } else {
        "mqtt"
    };
    let target = Target::parse(&format!("{scheme}://{}", handle.local_addr), None)?;
    let tls = TlsOptions {
        ca: certificate.as_ref().map(|c| c.cert.clone()),
        ..TlsOptions::default()
    };
    Ok(Emulator {
        handle,
        target,
        tls,
        _certificate: certificate,
    })
}
