//! The `floe` STUN tools against coturn, a real third-party STUN/TURN server, on loopback:
//! `floe stun` against `turnserver`, coturn's `turnutils_stunclient` against `floe stun-server`,
//! and RFC 5780 NAT behaviour discovery (`floe stun --nat`) against both servers.
//!
//! Without coturn installed the tests print that they skipped, except in CI (`CI` set), where
//! they fail.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const FLOE: &str = env!("CARGO_BIN_EXE_floe");

/// Kills the child when dropped (also when a test panics).
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `program args...` to completion, killing it after `limit`. (Outputs are a few KiB, well
/// under a pipe's buffer, so the child never blocks on them before exiting.)
fn run(program: &str, args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{program} {args:?} did not finish in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `floe ARGS... --json` expected to succeed with one JSON object on stdout.
fn floe_json(args: &[&str]) -> Value {
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

fn coturn_installed() -> bool {
    let found = ["turnserver", "turnutils_stunclient"].iter().all(|p| {
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
            "coturn (turnserver, turnutils_stunclient) is not installed in CI"
        );
        eprintln!("SKIPPED: coturn is not installed (turnserver, turnutils_stunclient)");
    }
    found
}

fn ipv6_loopback() -> bool {
    UdpSocket::bind("[::1]:0").is_ok()
}

/// A port free for UDP and TCP on every address given (racy by nature; fine for a test).
fn free_port(ips: &[&str]) -> u16 {
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

/// A coturn process on loopback, killed (and its log removed) on drop.
struct Coturn {
    guard: Guard,
    port: u16,
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
    fn start(listen: &[&str], alt_port: Option<u16>) -> Self {
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
        args.extend(
            [
                "-a",
                "-u",
                "alice:secret",
                "-r",
                "example.test",
                "--fingerprint",
                "--no-tls",
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
            log,
        };
        coturn.wait_ready(listen[0]);
        coturn
    }

    /// Polls with a bare Binding request until coturn answers; panics (with its log) after 10 s.
    fn wait_ready(&self, ip: &str) {
        let s = UdpSocket::bind((ip, 0)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut req = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
        req.extend_from_slice(b"floe-ready!!");
        let start = Instant::now();
        let mut buf = [0u8; 1500];
        while start.elapsed() < Duration::from_secs(10) {
            let _ = s.send_to(&req, (ip, self.port));
            if s.recv_from(&mut buf).is_ok() {
                return;
            }
        }
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        panic!("coturn did not answer on {ip}:{}\n{log}", self.port);
    }
}

/// Starts `floe stun-server ARGS... --json`; returns it and the addresses it listens on.
fn floe_stun_server(args: &[&str]) -> (Guard, Vec<SocketAddr>) {
    let mut child = Command::new(FLOE)
        .arg("stun-server")
        .args(args)
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn floe stun-server");
    let stdout = child.stdout.take().unwrap();
    let guard = Guard(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read");
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line:?}"));
    let addrs = v["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().parse().unwrap())
        .collect();
    (guard, addrs)
}

#[test]
fn floe_stun_against_coturn() {
    if !coturn_installed() {
        return;
    }
    let v6 = ipv6_loopback();
    let listen: &[&str] = if v6 {
        &["127.0.0.1", "::1"]
    } else {
        &["127.0.0.1"]
    };
    let coturn = Coturn::start(listen, None);
    let server = format!("127.0.0.1:{}", coturn.port);
    let v = floe_json(&["stun", &server, "--bind", "127.0.0.1"]);
    assert_eq!(v["server"], server.as_str());
    assert_eq!(v["mapped"], v["local"], "{v}");
    assert!(v["local"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(
        v["software"]
            .as_str()
            .unwrap_or_default()
            .contains("Coturn"),
        "{v}"
    );
    // The human-readable line names the mapped address too.
    let out = run(
        FLOE,
        &["stun", &format!("stun:{server}"), "--bind", "127.0.0.1"],
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("mapped address 127.0.0.1:"),
        "{}",
        text(&out.stdout)
    );
    if v6 {
        let server6 = format!("[::1]:{}", coturn.port);
        let v = floe_json(&["stun", &server6, "--bind", "::1"]);
        assert_eq!(v["mapped"], v["local"], "{v}");
        assert!(v["mapped"].as_str().unwrap().starts_with("[::1]:"), "{v}");
    } else {
        eprintln!("no ::1 here: the IPv6 part is skipped");
    }
}

#[test]
fn turnutils_stunclient_against_floe_stun_server() {
    if !coturn_installed() {
        return;
    }
    let (_server, addrs) = floe_stun_server(&["--listen", "127.0.0.1:0"]);
    let port = addrs[0].port().to_string();
    let out = run(
        "turnutils_stunclient",
        &["-p", &port, "127.0.0.1"],
        Duration::from_secs(30),
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("UDP reflexive addr: 127.0.0.1:"),
        "{stdout}"
    );

    // With an alternate address, coturn's client runs its RFC 5780 exchanges too.
    let alt = free_port(&["127.0.0.2"]);
    let (_server, addrs) = floe_stun_server(&[
        "--listen",
        "127.0.0.1:0",
        "--alternate",
        &format!("127.0.0.2:{alt}"),
    ]);
    let port = addrs[0].port().to_string();
    let out = run(
        "turnutils_stunclient",
        &["-p", &port, "127.0.0.1"],
        Duration::from_secs(30),
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!("Other addr: : 127.0.0.2:{alt}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("Response origin: : 127.0.0.2:{alt}")),
        "CHANGE-REQUEST not honoured:\n{stdout}"
    );
    assert!(
        stdout.contains("UDP reflexive addr: 127.0.0.1:"),
        "{stdout}"
    );
}

/// On loopback there is no NAT: endpoint-independent mapping and filtering, and hairpinning
/// (a request to our own mapped address reaches us).
fn check_no_nat(v: &Value, other: &str) {
    assert_eq!(v["event"], "nat", "{v}");
    assert_eq!(v["other_address"], other, "{v}");
    assert_eq!(v["nat"], false, "{v}");
    assert_eq!(v["mapped"], v["local"], "{v}");
    assert_eq!(v["mapped_test_ii"], v["mapped"], "{v}");
    assert_eq!(v["mapping"], "endpoint-independent", "{v}");
    assert_eq!(v["filtering"], "endpoint-independent", "{v}");
    assert_eq!(v["hairpinning"], true, "{v}");
}

#[test]
fn nat_discovery_against_coturn() {
    if !coturn_installed() {
        return;
    }
    let alt = free_port(&["127.0.0.1", "127.0.0.2"]);
    // Two addresses of one family: coturn enables RFC 5780 by itself (4.6; no --rfc5780 flag).
    let coturn = Coturn::start(&["127.0.0.1", "127.0.0.2"], Some(alt));
    let server = format!("127.0.0.1:{}", coturn.port);
    let v = floe_json(&["stun", "--nat", &server, "--bind", "127.0.0.1"]);
    check_no_nat(&v, &format!("127.0.0.2:{alt}"));
    println!("floe stun --nat vs coturn: {v}");
}

#[test]
fn nat_discovery_against_floe_stun_server() {
    let alt = free_port(&["127.0.0.2"]);
    let (_server, addrs) = floe_stun_server(&[
        "--listen",
        "127.0.0.1:0",
        "--alternate",
        &format!("127.0.0.2:{alt}"),
    ]);
    let v = floe_json(&[
        "stun",
        "--nat",
        &addrs[0].to_string(),
        "--bind",
        "127.0.0.1",
    ]);
    check_no_nat(&v, &format!("127.0.0.2:{alt}"));
    // Without the bind option the local address is the one the kernel picks.
    let v = floe_json(&["stun", "--nat", &addrs[0].to_string()]);
    check_no_nat(&v, &format!("127.0.0.2:{alt}"));

    // A server without RFC 5780 is a clear one-line error.
    let (_plain, addrs) = floe_stun_server(&["--listen", "127.0.0.1:0"]);
    let out = run(
        FLOE,
        &["stun", "--nat", &addrs[0].to_string(), "--timeout", "2"],
        Duration::from_secs(30),
    );
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("does not support RFC 5780"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
