//! Shared by the test binaries that run the `floe` command against coturn (`turnserver`) on
//! loopback: running children on a deadline, starting coturn (optionally with TLS), and a
//! test CA for coturn's certificate. Include it with `mod coturn;`.
#![allow(dead_code)] // each test binary uses its own part

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const FLOE: &str = env!("CARGO_BIN_EXE_floe");

/// Kills the child when dropped (also when a test panics).
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `program args...` to completion, killing it after `limit`. (Outputs are a few KiB, well
/// under a pipe's buffer, so the child never blocks on them before exiting.)
pub fn run(program: &str, args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    wait_for(&mut child, limit, &format!("{program} {args:?}"));
    child.wait_with_output().expect("output")
}

/// Waits for `child` to exit, killing it (and failing the test) after `limit`.
pub fn wait_for(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `floe ARGS... --json` expected to succeed with one JSON object on stdout.
pub fn floe_json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = run(FLOE, &all, Duration::from_secs(30));
    assert!(
        out.status.success(),
        "floe {args:?} failed\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("not JSON: {}", text(&out.stdout)))
}

/// True when coturn is installed; otherwise says the test is skipped, or fails under `CI`.
pub fn coturn_installed() -> bool {
    programs_installed(&["turnserver", "turnutils_stunclient"])
}

/// True when every program answers `-h`; otherwise says the test is skipped, or fails under
/// `CI`.
pub fn programs_installed(programs: &[&str]) -> bool {
    let found = programs.iter().all(|p| {
        Command::new(p)
            .arg("-h")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    });
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{programs:?} are not installed in CI"
        );
        eprintln!("SKIPPED: one of {programs:?} is not installed");
    }
    found
}

/// A port free for UDP and TCP on every address given (racy by nature; fine for a test).
pub fn free_port(ips: &[&str]) -> u16 {
    'retry: loop {
        let probe = UdpSocket::bind((ips[0], 0)).unwrap();
        let port = probe.local_addr().unwrap().port();
        for ip in ips {
            if TcpListener::bind((*ip, port)).is_err()
                || (*ip != ips[0] && UdpSocket::bind((*ip, port)).is_err())
            {
                continue 'retry;
            }
        }
        return port;
    }
}

/// A throwaway CA and a server certificate it signed for `localhost` and `127.0.0.1`, as PEM
/// files in a fresh temporary directory (removed on drop).
pub struct TestCa {
    pub dir: PathBuf,
    /// The CA certificate, to trust with `floe turn --ca`.
    pub ca: PathBuf,
    /// The server certificate and its key, for coturn's `--cert` and `--pkey`.
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    pub fn new() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "floe test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let cert = params.signed_by(&key, &issuer).unwrap();

        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("floe-test-ca-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, pem: String| {
            let path = dir.join(name);
            std::fs::write(&path, pem).unwrap();
            path
        };
        TestCa {
            ca: write("ca.pem", ca_cert.pem()),
            cert: write("server.pem", cert.pem()),
            key: write("server.key", key.serialize_pem()),
            dir: dir.clone(),
        }
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A coturn process on loopback, killed (and its log removed) on drop.
pub struct Coturn {
    guard: Guard,
    /// UDP and TCP.
    pub port: u16,
    /// TLS, when started with [`Coturn::start_tls`].
    pub tls_port: Option<u16>,
    log: PathBuf,
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.guard.0.kill();
        let _ = self.guard.0.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Coturn {
    /// Starts `turnserver` listening on `listen` (all on one port; `alt_port`: RFC 5780's
    /// alternate port) with the long-term user alice:secret, and waits until it answers.
    pub fn start(listen: &[&str], alt_port: Option<u16>) -> Self {
        Self::launch(listen, alt_port, None)
    }

    /// Like [`Coturn::start`], plus TLS on [`Coturn::tls_port`] with `ca`'s server certificate.
    pub fn start_tls(listen: &[&str], ca: &TestCa) -> Self {
        Self::launch(listen, None, Some((&ca.cert, &ca.key)))
    }

    fn launch(listen: &[&str], alt_port: Option<u16>, tls: Option<(&Path, &Path)>) -> Self {
        let port = free_port(listen);
        let relay = free_port(&["127.0.0.1"]).min(65_000);
        let log =
            std::env::temp_dir().join(format!("floe-coturn-{}-{port}.log", std::process::id()));
        let mut args: Vec<String> = vec!["-n".into()];
        for ip in listen {
            args.extend(["-L".into(), (*ip).into()]);
        }
        args.push(format!("--listening-port={port}"));
        if let Some(alt) = alt_port {
            args.push(format!("--alt-listening-port={alt}"));
        }
        for ip in listen.iter().filter(|ip| **ip != "127.0.0.2") {
            args.extend(["-E".into(), (*ip).into()]);
        }
        let tls_port = match tls {
            Some((cert, key)) => {
                let tls_port = free_port(listen);
                args.push(format!("--tls-listening-port={tls_port}"));
                args.push(format!("--cert={}", cert.display()));
                args.push(format!("--pkey={}", key.display()));
                Some(tls_port)
            }
            None => {
                args.push("--no-tls".into());
                None
            }
        };
        args.extend(
            [
                "-a",
                "-u",
                "alice:secret",
                "-r",
                "example.test",
                "--fingerprint",
                "--no-dtls",
                "--no-cli",
                "--allow-loopback-peers",
                "--simple-log",
                "-v",
            ]
            .map(String::from),
        );
        args.push(format!("--min-port={relay}"));
        args.push(format!("--max-port={}", relay + 40));
        args.push(format!("--log-file={}", log.display()));
        let child = Command::new("turnserver")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start turnserver");
        let coturn = Coturn {
            guard: Guard(child),
            port,
            tls_port,
            log,
        };
        coturn.wait_ready(listen[0]);
        coturn
    }

    /// Polls with a bare Binding request until coturn answers, and until its TLS port accepts
    /// connections; panics (with its log) after 10 s.
    fn wait_ready(&self, ip: &str) {
        let s = UdpSocket::bind((ip, 0)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut req = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
        req.extend_from_slice(b"floe-ready!!");
        let start = Instant::now();
        let mut buf = [0u8; 1500];
        let mut udp_ready = false;
        while start.elapsed() < Duration::from_secs(10) {
            if !udp_ready {
                let _ = s.send_to(&req, (ip, self.port));
                udp_ready = s.recv_from(&mut buf).is_ok();
            }
            let tls_ready = self
                .tls_port
                .map_or(true, |p| TcpStream::connect((ip, p)).is_ok());
            if udp_ready && tls_ready {
                return;
            }
            if udp_ready {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        panic!("coturn did not answer on {ip}:{}\n{log}", self.port);
    }
}
