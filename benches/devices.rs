//! Device-mode load: many Tuya devices against `mqtt-conform --listen`, with the judge on.
//!
//! # What is measured
//!
//! The server is the real binary (`target/release/mqtt-conform`, built first with
//! `cargo build --release --bin mqtt-conform`), started in its own process on a loopback
//! port in device mode with a bench suite (below). This process is the load generator:
//! `DEVICES` raw MQTT 3.1.1 clients on tokio, written with the crate's codec
//! (`encode_to_vec` out, `PacketReader`/`Framer` in), no MQTT client library. Each device
//!
//! 1. connects (at most `CONNECT_CONCURRENCY` handshakes in flight) with Tuya-shaped
//!    credentials (`tuyalink_<id>`, `<id>|signMethod=hmacSha256,…`, HMAC-SHA256 password
//!    from the library) and Keep Alive `KEEPALIVE` (default 30 s);
//! 2. publishes a Tuya property report (`tylink/<device_id>/thing/property/report`,
//!    `{"msgId":…,"time":<ms>,"data":{"temp_current":{"value":…,"time":<ms>}}}`) once a
//!    second at QoS `QOS` (default 1), the devices' seconds spread evenly, and sends PINGREQ
//!    every Keep Alive (so every device pings at least once in a 60 s window);
//! 3. when the window of `SECONDS` (default 60) after the last device connected is over,
//!    sends DISCONNECT and closes.
//!
//! The server runs with `--devices DEVICES`, so it ends by itself after the last close,
//! judges, writes its reports and exits (with a `--duration` bound as a safety net; if it
//! still runs 15 s after the last close it gets SIGINT, and SIGKILL 5 minutes later).
//!
//! Printed: connections established, publishes/s sent and PUBACKs/s received in the
//! window, PUBLISH→PUBACK round trip seen by the devices, the server's CPU (user + system
//! time from `/proc/<pid>/stat` over the window, as cores), its RSS at the end of the
//! window and its peak RSS (`VmHWM`) both at the end of the window and over the whole
//! process (`wait4` rusage, which includes building and writing the final reports), and
//! the judge's figures printed by device mode on stderr at the end of its run: time per
//! `Judge::observe` and delay from an event's timestamp to the judge's verdict, p50 / p99 /
//! max, plus events the server dropped because the judge fell behind.
//!
//! Goal: 10,000 devices in under 1 GiB RSS and under one core.
//!
//! # The bench suite
//!
//! Written to a temporary directory. `IDENTITY=distinct` (default) gives every device its
//! own client id; since a child suite cannot remove its parent's `auth`, it is two files:
//!
//! - `tuya-noauth.yaml`: `suites/tuya.yaml` verbatim **minus its top-level `auth:` block**
//!   (so no credential check: the server accepts any client id, and the judge's
//!   `TUYA-AUTH-*` rules do not apply);
//! - `tuya-bench.yaml`: `extends: tuya-noauth.yaml`, `endpoint: { port: 1883 }` (replaces
//!   Tuya's 8883 + TLS required: plain TCP, no certificate) and
//!   `profile: { one_connection_per_identity: false }`.
//!
//! Everything else is Tuya's: protocol 3.1.1 only, QoS ≤ 1, keepalive 30–1200 s with the
//! 2.5 × server timeout, the topic catalogue (with the suite's example `device_id`, so all
//! devices publish on that device's report topic), payload JSON shapes, every other rule.
//!
//! `IDENTITY=shared`: `tuya-bench.yaml` extends `tuya` itself (Tuya's HMAC auth checked by
//! the server and the judge on every CONNECT) and every device logs in with the suite's
//! one example identity; besides the endpoint and `one_connection_per_identity: false` it
//! skips `TUYA-SESS-01` (one connection per identity, which this load breaks on purpose).
//! All devices then share one client id and one report group.
//!
//! # Running
//!
//! ```text
//! cargo bench --bench devices                      # 10,000 devices, 60 s window (~2–3 min)
//! DEVICES=1000 SECONDS=20 cargo bench --bench devices
//! ```
//!
//! Other knobs: `KEEPALIVE` (s, default 30), `QOS` (0 or 1), `IDENTITY` (`distinct`,
//! `shared`), `CONNECT_CONCURRENCY` (default 200), `SERVER_BIN` (a server binary to use
//! instead of building `target/release/mqtt-conform`), `BUILD=0` (do not run cargo, use
//! the binary as it is), `KEEP_DIR=1` (keep the suite and the server's reports), `HTML=1`
//! (the server also writes its HTML report; its size is printed, and with `KEEP_DIR=1` the
//! page is kept to be opened or measured with `REPORT_HTML=… cargo test --test it --
//! --ignored report_html::a_report_of_many_cases_stays_small_and_draws_quickly`). Linux only
//! (`/proc`, `wait4`).

#[cfg(target_os = "linux")]
fn main() {
    linux::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("the devices bench reads /proc and needs Linux");
}

#[cfg(target_os = "linux")]
mod linux {
    use libc::c_int;
    use mqtt_conform::auth::tuya::{Params, SignMethod};
    use mqtt_conform::codec::{
        Connect, Disconnect, Framer, Packet, PacketReader, ProtocolVersion, Publish, QoS,
        encode_to_vec,
    };
    use mqtt_conform::device::LatencyHistogram;
    use mqtt_conform::secret::Secret;
    use std::collections::VecDeque;
    use std::io::{BufRead, BufReader};
    use std::net::SocketAddr;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;
    use tokio::sync::{Semaphore, watch};
    use tokio::time::MissedTickBehavior;

    /// The Tuya suite's example identity (provisioned by the emulator).
    const DEVICE_ID: &str = "6c828cba434ff40c074wF2";
    const DEVICE_SECRET: &str = "ffad8eb66ae8c717";

    /// Raises the soft limit on open files to the hard one; returns the soft limit now.
    fn raise_nofile() -> u64 {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: plain libc calls on libc's own struct.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
                return 0;
            }
            if r.rlim_cur < r.rlim_max {
                let want = libc::rlimit {
                    rlim_cur: r.rlim_max,
                    rlim_max: r.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                    r.rlim_cur = r.rlim_max;
                }
            }
        }
        r.rlim_cur
    }

    fn clock_ticks() -> f64 {
        // SAFETY: sysconf has no preconditions.
        let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if t > 0 { t as f64 } else { 100.0 }
    }

    fn signal(pid: u32, sig: c_int) {
        // SAFETY: signalling our own child by its id.
        unsafe {
            libc::kill(pid as libc::pid_t, sig);
        }
    }

    /// Reaps the child if it has exited: its exit code and resource usage.
    fn try_reap(pid: u32) -> Option<(i32, libc::rusage)> {
        let mut status: c_int = 0;
        // SAFETY: an all-zero `rusage` is a valid value (integers and timevals only).
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `pid` is our child; the pointers are valid for the call.
        let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, libc::WNOHANG, &mut usage) };
        (r == pid as libc::pid_t).then(|| {
            let code = if status & 0x7f == 0 {
                (status >> 8) & 0xff
            } else {
                -(status & 0x7f)
            };
            (code, usage)
        })
    }

    // ----- configuration ------------------------------------------------------------------

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Identity {
        Distinct,
        Shared,
    }

    #[derive(Debug, Clone)]
    struct Config {
        devices: usize,
        seconds: u64,
        keepalive: u16,
        qos: QoS,
        identity: Identity,
        connect_concurrency: usize,
        build: bool,
        keep_dir: bool,
        /// The server also writes `report.html`.
        html: bool,
        mem_cap_mib: u64,
    }

    fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
        match std::env::var(name) {
            Ok(v) => v.trim().parse().unwrap_or_else(|_| {
                eprintln!("{name}={v:?} is not a number");
                std::process::exit(2)
            }),
            Err(_) => default,
        }
    }

    impl Config {
        fn from_env() -> Self {
            let qos = match env_num("QOS", 1u8) {
                0 => QoS::AtMostOnce,
                1 => QoS::AtLeastOnce,
                q => {
                    eprintln!("QOS={q}: Tuya allows 0 or 1");
                    std::process::exit(2)
                }
            };
            let identity = match std::env::var("IDENTITY").as_deref() {
                Err(_) | Ok("distinct") => Identity::Distinct,
                Ok("shared") => Identity::Shared,
                Ok(other) => {
                    eprintln!("IDENTITY={other:?}: expected distinct or shared");
                    std::process::exit(2)
                }
            };
            Self {
                devices: env_num("DEVICES", 10_000usize).max(1),
                seconds: env_num("SECONDS", 60u64).max(1),
                keepalive: env_num("KEEPALIVE", 30u16).max(1),
                qos,
                identity,
                connect_concurrency: env_num("CONNECT_CONCURRENCY", 200usize).max(1),
                build: std::env::var("BUILD").map_or(true, |v| v != "0"),
                keep_dir: std::env::var("KEEP_DIR").is_ok_and(|v| v == "1"),
                html: std::env::var("HTML").is_ok_and(|v| v == "1"),
                mem_cap_mib: env_num("SERVER_MEM_CAP_MB", 4096u64),
            }
        }

        /// How long all devices may take to connect before the window starts anyway.
        fn connect_budget(&self) -> Duration {
            Duration::from_secs(30 + (self.devices / 200) as u64)
        }
    }

    // ----- the server process -------------------------------------------------------------

    fn manifest_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    fn server_binary(cfg: &Config) -> PathBuf {
        if let Some(bin) = std::env::var_os("SERVER_BIN") {
            return PathBuf::from(bin);
        }
        let dir = manifest_dir();
        let bin = dir.join("target/release/mqtt-conform");
        if cfg.build || !bin.exists() {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            eprintln!("building the server: cargo build --release --bin mqtt-conform");
            let ok = Command::new(cargo)
                .args(["build", "--release", "--bin", "mqtt-conform"])
                .current_dir(&dir)
                .status()
                .is_ok_and(|s| s.success());
            if !ok && bin.exists() {
                eprintln!(
                    "warning: the build failed; using the existing {}",
                    bin.display()
                );
            } else if !ok {
                eprintln!("error: cannot build {}", bin.display());
                std::process::exit(2);
            }
        }
        bin
    }

    /// `text` without its top-level `auth:` mapping.
    fn without_auth(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut skipping = false;
        for line in text.lines() {
            let top_level = line.chars().next().is_some_and(|c| !c.is_whitespace());
            if top_level {
                skipping = line.starts_with("auth:");
            }
            if !skipping {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// Writes the bench suite into `dir`; returns its path.
    fn write_suite(cfg: &Config, dir: &Path) -> PathBuf {
        let parent = match cfg.identity {
            Identity::Distinct => {
                let tuya = std::fs::read_to_string(manifest_dir().join("suites/tuya.yaml"))
                    .expect("suites/tuya.yaml");
                let stripped = without_auth(&tuya);
                assert!(
                    stripped.len() < tuya.len() && !stripped.contains("\nauth:"),
                    "no top-level auth block found in suites/tuya.yaml"
                );
                std::fs::write(dir.join("tuya-noauth.yaml"), stripped).expect("write suite");
                "tuya-noauth.yaml"
            }
            Identity::Shared => "tuya",
        };
        let skip = match cfg.identity {
            Identity::Distinct => "",
            Identity::Shared => "skip: [TUYA-SESS-01]\n",
        };
        let text = format!(
            "name: tuya-bench\n\
             extends: {parent}\n\
             title: Tuya device-mode load bench (plain TCP, many connections per identity)\n\
             endpoint: {{ port: 1883 }}\n\
             profile:\n  one_connection_per_identity: false\n\
             {skip}"
        );
        let path = dir.join("tuya-bench.yaml");
        std::fs::write(&path, text).expect("write suite");
        path
    }

    /// User + system CPU seconds of a process, from /proc/<pid>/stat.
    fn cpu_seconds(pid: &str) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name may hold spaces: fields count from after its ')'.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        Some((utime + stime) / clock_ticks())
    }

    /// A `Vm…:` line of /proc/<pid>/status, in bytes.
    fn vm(pid: &str, key: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with(key))?;
        let kb: u64 = line[key.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb * 1024)
    }

    /// The server process and the threads draining its output.
    struct Server {
        child: std::process::Child,
        addr: SocketAddr,
        stdout_lines: Arc<AtomicU64>,
        stdout_tail: Arc<Mutex<VecDeque<String>>>,
        stderr: Arc<Mutex<Vec<String>>>,
    }

    impl Server {
        fn stderr_has(&self, prefix: &str) -> bool {
            let lines = self.stderr.lock().expect("stderr");
            lines.iter().any(|l| l.starts_with(prefix))
        }
    }

    fn start_server(cfg: &Config, bin: &Path, suite: &Path, dir: &Path) -> Server {
        let duration =
            cfg.connect_budget().as_secs() + cfg.seconds + 60 + (cfg.devices / 100) as u64;
        let mut cmd = Command::new(bin);
        if cfg.mem_cap_mib > 0 {
            let cap = cfg.mem_cap_mib * 1024 * 1024;
            // SAFETY: only setrlimit (async-signal-safe) runs between fork and exec.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                    let r = libc::rlimit {
                        rlim_cur: cap,
                        rlim_max: cap,
                    };
                    libc::setrlimit(libc::RLIMIT_AS, &r);
                    Ok(())
                });
            }
        }
        let mut child = cmd
            .arg("--suite")
            .arg(suite)
            .args(["--listen", "127.0.0.1:0"])
            .args(["--devices", &cfg.devices.to_string()])
            .args(["--duration", &format!("{duration}s")])
            .arg("--report-junit")
            .arg(dir.join("report.xml"))
            .args(
                cfg.html
                    .then(|| ["--report-html".into(), dir.join("report.html")])
                    .into_iter()
                    .flatten(),
            )
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stderr_pipe = child.stderr.take().expect("stderr");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        {
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
                    stderr.lock().expect("stderr").push(line);
                }
            });
        }
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = match lines.next() {
            Some(Ok(line)) => line,
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "the server printed nothing; stderr:\n{}",
                    stderr.lock().expect("stderr").join("\n")
                );
            }
        };
        // "device mode: the `tuya-bench` cloud listens on mqtt://127.0.0.1:PORT"
        let addr: SocketAddr = first
            .split("mqtt://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no plain-TCP address in {first:?}"));
        let stdout_lines = Arc::new(AtomicU64::new(1));
        let stdout_tail = Arc::new(Mutex::new(VecDeque::new()));
        {
            let (count, tail) = (stdout_lines.clone(), stdout_tail.clone());
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    count.fetch_add(1, Ordering::Relaxed);
                    let mut t = tail.lock().expect("tail");
                    if t.len() == 40 {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            });
        }
        Server {
            child,
            addr,
            stdout_lines,
            stdout_tail,
            stderr,
        }
    }

    // ----- the devices --------------------------------------------------------------------

    #[derive(Default)]
    struct Counters {
        connected: AtomicU64,
        failed: AtomicU64,
        published: AtomicU64,
        acked: AtomicU64,
        pings: AtomicU64,
        pongs: AtomicU64,
        closed_by_server: AtomicU64,
    }

    #[derive(Debug, Clone, Copy, Default)]
    struct Snapshot {
        published: u64,
        acked: u64,
        pings: u64,
        pongs: u64,
    }

    impl Counters {
        fn snapshot(&self) -> Snapshot {
            Snapshot {
                published: self.published.load(Ordering::Relaxed),
                acked: self.acked.load(Ordering::Relaxed),
                pings: self.pings.load(Ordering::Relaxed),
                pongs: self.pongs.load(Ordering::Relaxed),
            }
        }
    }

    struct Shared {
        addr: SocketAddr,
        qos: QoS,
        keepalive: u16,
        identity: Identity,
        devices: usize,
        connecting: Semaphore,
        counters: Counters,
        rtt: Mutex<LatencyHistogram>,
    }

    fn unix_millis() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    fn connect_packet(sh: &Shared, i: usize) -> Vec<u8> {
        let device_id = match sh.identity {
            Identity::Distinct => format!("bench{i:017}"),
            Identity::Shared => DEVICE_ID.to_owned(),
        };
        let creds = Params {
            device_id,
            device_secret: Secret::new(DEVICE_SECRET),
            timestamp: unix_millis() / 1000,
            sign_method: SignMethod::HmacSha256,
        }
        .credentials();
        let mut c = Connect::new(ProtocolVersion::V3_1_1, creds.client_id);
        c.keep_alive = sh.keepalive;
        c.username = creds.username;
        c.password = creds
            .password
            .map(|p| bytes::Bytes::copy_from_slice(p.expose().as_bytes()));
        encode_to_vec(&Packet::Connect(c.into()), ProtocolVersion::V3_1_1).expect("CONNECT encodes")
    }

    fn report_packet(sh: &Shared, seq: u64, packet_id: u16) -> Vec<u8> {
        let now = unix_millis();
        let payload = format!(
            "{{\"msgId\":\"m{seq:011}\",\"time\":{now},\"data\":{{\"temp_current\":{{\"value\":{},\"time\":{now}}}}}}}",
            200 + seq % 100
        );
        let mut p = Publish::new(
            format!("tylink/{DEVICE_ID}/thing/property/report"),
            payload.into_bytes(),
        );
        p.qos = sh.qos;
        if sh.qos != QoS::AtMostOnce {
            p.packet_id = Some(packet_id);
        }
        encode_to_vec(&Packet::Publish(p), ProtocolVersion::V3_1_1).expect("PUBLISH encodes")
    }

    /// TCP connect, CONNECT, CONNACK 0; a few retries on refused or reset connects.
    async fn log_in(
        sh: &Shared,
        i: usize,
    ) -> Option<(
        PacketReader<tokio::net::tcp::OwnedReadHalf>,
        tokio::net::tcp::OwnedWriteHalf,
    )> {
        let _permit = sh.connecting.acquire().await.ok()?;
        for attempt in 0..4u64 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(250 * attempt)).await;
            }
            let Ok(Ok(tcp)) =
                tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(sh.addr)).await
            else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let (rd, mut wr) = tcp.into_split();
            if wr.write_all(&connect_packet(sh, i)).await.is_err() {
                continue;
            }
            let mut reader = PacketReader::new(rd, Framer::new(64 * 1024), ProtocolVersion::V3_1_1);
            match tokio::time::timeout(Duration::from_secs(15), reader.read_frame()).await {
                Ok(Ok(Some(frame))) => match frame.packet {
                    Ok(Packet::ConnAck(a)) if a.code == 0 => return Some((reader, wr)),
                    other => {
                        eprintln!("device {i}: no CONNACK 0 but {other:?}");
                        return None;
                    }
                },
                _ => continue,
            }
        }
        None
    }

    async fn device(sh: Arc<Shared>, i: usize, mut stop: watch::Receiver<bool>) {
        let Some((mut reader, mut wr)) = log_in(&sh, i).await else {
            sh.counters.failed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        sh.counters.connected.fetch_add(1, Ordering::Relaxed);
        let now = tokio::time::Instant::now();
        // Spread the devices' publishes evenly over the second.
        let offset = Duration::from_nanos((i as u64 * 1_000_000_000) / sh.devices as u64);
        let mut publish = tokio::time::interval_at(now + offset, Duration::from_secs(1));
        publish.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let ka = Duration::from_secs(u64::from(sh.keepalive));
        let mut ping = tokio::time::interval_at(now + ka, ka);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let pingreq = encode_to_vec(&Packet::PingReq, ProtocolVersion::V3_1_1).expect("PINGREQ");
        let mut seq = 0u64;
        // (packet id, sent at) of unacknowledged QoS 1 publishes.
        let mut inflight: VecDeque<(u16, Instant)> = VecDeque::new();
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                _ = publish.tick() => {
                    seq += 1;
                    let pid = (seq % 65_535) as u16 + 1;
                    if wr.write_all(&report_packet(&sh, seq, pid)).await.is_err() {
                        sh.counters.closed_by_server.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    if sh.qos != QoS::AtMostOnce {
                        inflight.push_back((pid, Instant::now()));
                    }
                    sh.counters.published.fetch_add(1, Ordering::Relaxed);
                }
                _ = ping.tick() => {
                    if wr.write_all(&pingreq).await.is_err() {
                        sh.counters.closed_by_server.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    sh.counters.pings.fetch_add(1, Ordering::Relaxed);
                }
                frame = reader.read_frame() => match frame {
                    Ok(Some(frame)) => match frame.packet {
                        Ok(Packet::PubAck(a)) => {
                            if let Some(k) = inflight.iter().position(|(p, _)| *p == a.packet_id) {
                                let (_, sent) = inflight.remove(k).expect("present");
                                sh.rtt.lock().expect("rtt").record(sent.elapsed());
                            }
                            sh.counters.acked.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(Packet::PingResp) => {
                            sh.counters.pongs.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {}
                    },
                    Ok(None) | Err(_) => {
                        sh.counters.closed_by_server.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                },
            }
        }
        let disconnect = encode_to_vec(
            &Packet::Disconnect(Disconnect::default()),
            ProtocolVersion::V3_1_1,
        )
        .expect("DISCONNECT");
        let _ = wr.write_all(&disconnect).await;
        let _ = wr.shutdown().await;
    }

    // ----- the run ------------------------------------------------------------------------

    struct Sample {
        at: Instant,
        cpu: f64,
        rss: u64,
        hwm: u64,
        own_cpu: f64,
    }

    fn sample(pid: &str) -> Sample {
        Sample {
            at: Instant::now(),
            cpu: cpu_seconds(pid).unwrap_or(f64::NAN),
            rss: vm(pid, "VmRSS:").unwrap_or(0),
            hwm: vm(pid, "VmHWM:").unwrap_or(0),
            own_cpu: cpu_seconds("self").unwrap_or(f64::NAN),
        }
    }

    struct LoadResult {
        connected: u64,
        failed: u64,
        connect_time: Duration,
        start: Sample,
        ready: Sample,
        end: Sample,
        window: (Snapshot, Snapshot),
        closed_by_server: u64,
        rtt: LatencyHistogram,
        max_rss: u64,
    }

    async fn load(cfg: &Config, addr: SocketAddr, server_pid: &str) -> LoadResult {
        let sh = Arc::new(Shared {
            addr,
            qos: cfg.qos,
            keepalive: cfg.keepalive,
            identity: cfg.identity,
            devices: cfg.devices,
            connecting: Semaphore::new(cfg.connect_concurrency),
            counters: Counters::default(),
            rtt: Mutex::new(LatencyHistogram::default()),
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let start = sample(server_pid);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..cfg.devices {
            tasks.spawn(device(sh.clone(), i, stop_rx.clone()));
        }
        let budget = start.at + cfg.connect_budget();
        let mut last_note = Instant::now();
        let mut max_rss = 0;
        loop {
            let c = &sh.counters;
            let (ok, failed) = (
                c.connected.load(Ordering::Relaxed),
                c.failed.load(Ordering::Relaxed),
            );
            if ok + failed >= cfg.devices as u64 || Instant::now() >= budget {
                break;
            }
            if last_note.elapsed() >= Duration::from_secs(5) {
                eprintln!("  … {ok} connected, {failed} failed");
                last_note = Instant::now();
            }
            max_rss = max_rss.max(vm(server_pid, "VmRSS:").unwrap_or(0));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let ready = sample(server_pid);
        let connected = sh.counters.connected.load(Ordering::Relaxed);
        let failed = cfg.devices as u64 - connected;
        eprintln!(
            "  {connected} connected in {:.2} s; {} s window …",
            (ready.at - start.at).as_secs_f64(),
            cfg.seconds
        );
        let first = sh.counters.snapshot();
        let window_end = ready.at + Duration::from_secs(cfg.seconds);
        while Instant::now() < window_end {
            max_rss = max_rss.max(vm(server_pid, "VmRSS:").unwrap_or(0));
            let left = window_end.saturating_duration_since(Instant::now());
            tokio::time::sleep(left.min(Duration::from_secs(1))).await;
        }
        let end = sample(server_pid);
        let last = sh.counters.snapshot();
        max_rss = max_rss.max(end.rss);
        let _ = stop_tx.send(true);
        let drain = tokio::time::timeout(Duration::from_secs(60), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drain.is_err() {
            eprintln!("warning: some devices did not finish within 60 s");
            tasks.abort_all();
        }
        LoadResult {
            connected,
            failed,
            connect_time: ready.at - start.at,
            start,
            ready,
            end,
            window: (first, last),
            closed_by_server: sh.counters.closed_by_server.load(Ordering::Relaxed),
            rtt: sh.rtt.lock().expect("rtt").clone(),
            max_rss,
        }
    }

    fn mib(bytes: u64) -> String {
        format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
    }

    /// The text after `label` on the judge's stderr line that has it.
    fn judge_figure<'a>(stderr: &'a str, label: &str) -> &'a str {
        stderr
            .lines()
            .find_map(|l| l.strip_prefix("judge: ")?.strip_prefix(label))
            .map_or("(not printed)", str::trim)
    }

    pub fn main() {
        let cfg = Config::from_env();
        let nofile = raise_nofile();
        if nofile < cfg.devices as u64 + 256 {
            eprintln!(
                "warning: open files limit {nofile} is low for {} devices",
                cfg.devices
            );
        }
        let bin = server_binary(&cfg);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "mqtt-conform-bench-devices-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let suite = write_suite(&cfg, &dir);
        eprintln!(
            "devices bench: {} devices, {} s window, QoS {}, keepalive {} s, identity {:?}, server {}",
            cfg.devices,
            cfg.seconds,
            cfg.qos.as_u8(),
            cfg.keepalive,
            cfg.identity,
            bin.display()
        );
        let server = start_server(&cfg, &bin, &suite, &dir);
        let pid = server.child.id();
        let pid_s = pid.to_string();
        eprintln!("  server pid {pid} listens on {}", server.addr);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let r = runtime.block_on(load(&cfg, server.addr, &pid_s));
        drop(runtime);
        let closed_at = Instant::now();
        eprintln!("  devices disconnected; waiting for the server to judge and exit …");

        // The server ends after its `--devices` closes; SIGINT it if not, then SIGKILL.
        let mut hwm_before_exit = r.end.hwm;
        let mut interrupted = false;
        let mut killed = false;
        // When the judge's figures appear, the event loop is over and the final verdicts
        // and reports are being built: (time, RSS then).
        let mut loop_ended: Option<(Instant, u64)> = None;
        let (code, usage) = loop {
            if let Some(done) = try_reap(pid) {
                break done;
            }
            hwm_before_exit = hwm_before_exit.max(vm(&pid_s, "VmHWM:").unwrap_or(0));
            if loop_ended.is_none() && server.stderr_has("judge: event-to-verdict") {
                loop_ended = Some((Instant::now(), vm(&pid_s, "VmRSS:").unwrap_or(0)));
            }
            let waited = closed_at.elapsed();
            if !interrupted && loop_ended.is_none() && waited > Duration::from_secs(15) {
                eprintln!("  the server is still running 15 s after the last close: SIGINT");
                signal(pid, libc::SIGINT);
                interrupted = true;
            }
            if !killed && waited > Duration::from_secs(315) {
                eprintln!("  the server is still running: SIGKILL");
                signal(pid, libc::SIGKILL);
                killed = true;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let exited = Instant::now();
        let exit_time = exited - closed_at;
        std::thread::sleep(Duration::from_millis(200));
        let stderr = server.stderr.lock().expect("stderr").join("\n");
        let report_size = std::fs::metadata(dir.join("report.xml")).map_or(0, |m| m.len());
        let html_size = cfg
            .html
            .then(|| std::fs::metadata(dir.join("report.html")).map_or(0, |m| m.len()));
        let exit = match code {
            c if c >= 0 => format!("exit code {c}"),
            -6 => format!(
                "aborted (SIGABRT{})",
                if stderr.contains("memory allocation") {
                    format!(": memory cap of {} MiB hit", cfg.mem_cap_mib)
                } else {
                    String::new()
                }
            ),
            c => format!("killed by signal {}", -c),
        };
        let window = (r.end.at - r.ready.at).as_secs_f64();
        let (a, b) = r.window;
        let pub_rate = (b.published - a.published) as f64 / window;
        let ack_rate = (b.acked - a.acked) as f64 / window;
        let cpu_window = (r.end.cpu - r.ready.cpu) / window;
        let cpu_connect = (r.ready.cpu - r.start.cpu) / r.connect_time.as_secs_f64().max(1e-3);
        let own_cpu = (r.end.own_cpu - r.ready.own_cpu) / window;
        let total_cpu = (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) as f64
            + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) as f64 / 1e6;
        let peak_rss_total = usage.ru_maxrss.max(0) as u64 * 1024;
        let rows: Vec<(String, String)> = vec![
            (
                "connections established".into(),
                format!(
                    "{} / {} ({} failed) in {:.2} s",
                    r.connected,
                    cfg.devices,
                    r.failed,
                    r.connect_time.as_secs_f64()
                ),
            ),
            (
                "publishes/s sent (window)".into(),
                format!("{pub_rate:.0} (target {})", r.connected),
            ),
            (
                "PUBACKs/s received (window)".into(),
                if cfg.qos == QoS::AtMostOnce {
                    "— (QoS 0)".into()
                } else {
                    format!("{ack_rate:.0}")
                },
            ),
            (
                "PINGREQ / PINGRESP (window)".into(),
                format!("{} / {}", b.pings - a.pings, b.pongs - a.pongs),
            ),
            (
                "PUBLISH→PUBACK at the device".into(),
                format!("{} ({} samples)", r.rtt.summary(), r.rtt.count()),
            ),
            (
                "connections closed by the server".into(),
                r.closed_by_server.to_string(),
            ),
            (
                "server CPU, window".into(),
                format!(
                    "{:.2} cores ({:.1} s user+sys / {window:.1} s)",
                    cpu_window,
                    r.end.cpu - r.ready.cpu
                ),
            ),
            (
                "server CPU, connect phase".into(),
                format!("{cpu_connect:.2} cores"),
            ),
            (
                "server RSS, end of window".into(),
                format!(
                    "{} (sampled max {}; VmHWM {})",
                    mib(r.end.rss),
                    mib(r.max_rss),
                    mib(r.end.hwm)
                ),
            ),
            (
                "server peak RSS, whole process".into(),
                format!(
                    "{} (rusage maxrss; VmHWM before exit {})",
                    mib(peak_rss_total),
                    mib(hwm_before_exit)
                ),
            ),
            (
                "server CPU, whole process".into(),
                format!("{total_cpu:.1} s user+sys"),
            ),
            (
                "server RSS when the event loop ended".into(),
                loop_ended.map_or("(not seen)".into(), |(_, rss)| mib(rss)),
            ),
            (
                "server report phase".into(),
                format!(
                    "{} (verdicts {}), {exit}; JUnit {}{}",
                    loop_ended.map_or("(not seen)".into(), |(t, _)| format!(
                        "{:.1} s from loop end to exit",
                        exited.duration_since(t).as_secs_f64()
                    )),
                    judge_figure(&stderr, "final verdicts built in"),
                    mib(report_size),
                    html_size.map_or(String::new(), |n| format!(", HTML {}", mib(n)))
                ),
            ),
            (
                "server: last close → exit".into(),
                format!(
                    "{:.1} s{}",
                    exit_time.as_secs_f64(),
                    if interrupted { ", after SIGINT" } else { "" },
                ),
            ),
            (
                "judge: events".into(),
                stderr
                    .lines()
                    .find_map(|l| l.strip_prefix("judge: ").filter(|l| l.contains("judged")))
                    .unwrap_or("(not printed)")
                    .to_owned(),
            ),
            (
                "judge: time per event".into(),
                judge_figure(&stderr, "time per event").to_owned(),
            ),
            (
                "judge: event-to-verdict delay".into(),
                judge_figure(&stderr, "event-to-verdict").to_owned(),
            ),
            (
                "generator CPU, window".into(),
                format!("{own_cpu:.2} cores"),
            ),
        ];
        let width = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        println!();
        println!(
            "device mode under load: {} devices × 1 PUBLISH/s (QoS {}), keepalive {} s, {} s window, identity {:?}",
            cfg.devices,
            cfg.qos.as_u8(),
            cfg.keepalive,
            cfg.seconds,
            cfg.identity
        );
        println!("{:-<w$}", "", w = width + 60);
        for (k, v) in &rows {
            println!("{k:<width$}  {v}");
        }
        println!("{:-<w$}", "", w = width + 60);
        let goal_rss = r.end.hwm < 1 << 30;
        let goal_cpu = cpu_window < 1.0;
        println!(
            "goal (window): RSS < 1 GiB {}; CPU < 1 core {}",
            if goal_rss { "met" } else { "NOT met" },
            if goal_cpu { "met" } else { "NOT met" }
        );
        println!(
            "server output: {} stdout lines; last: {}",
            server.stdout_lines.load(Ordering::Relaxed),
            server
                .stdout_tail
                .lock()
                .expect("tail")
                .iter()
                .rev()
                .find(|l| l.starts_with("test result"))
                .map_or("(no summary)", String::as_str)
        );
        let other_stderr: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.starts_with("judge: "))
            .take(20)
            .collect();
        if !other_stderr.is_empty() {
            println!("server stderr:\n  {}", other_stderr.join("\n  "));
        }
        if cfg.keep_dir {
            let _ = std::fs::write(dir.join("server.stderr"), &stderr);
            println!("kept {} (suite, reports, server.stderr)", dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
