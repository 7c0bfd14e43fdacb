//! What the CLI tests share: running `floe`, `floe call` / `floe answer` peers read event by
//! event, a signaling room, and killing what they started. Built on the
//! coturn tests' module, which has the child-process helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[path = "../coturn/mod.rs"]
mod coturn;

// Each test binary uses its own part.
#[allow(unused_imports)]
pub use coturn::{coturn_installed, wait_for, Coturn, Guard, FLOE};

/// Runs `floe args...` to completion, killing it after `limit`.
pub fn run(args: &[&str], limit: Duration) -> Output {
    coturn::run(FLOE, args, limit)
}

/// Starts a long-running `floe` server with `--json` and returns it with its first line.
pub fn start_server(args: &[&str]) -> (Guard, serde_json::Value) {
    let mut child = Command::new(FLOE)
        .args(args)
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn floe");
    let stdout = child.stdout.take().expect("stdout");
    let guard = Guard(child);
    let mut line = String::new();
    // The server prints its address at once; read_line on a dead child returns 0 rather than
    // blocking.
    BufReader::new(stdout).read_line(&mut line).expect("read");
    let value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line:?}"));
    (guard, value)
}

/// `floe VERB URL --bind 127.0.0.1 --json EXTRA…`, its stdout lines coming through a channel.
pub fn peer(verb: &str, url: &str, extra: &[&str]) -> (Guard, mpsc::Receiver<serde_json::Value>) {
    let mut child: Child = Command::new(FLOE)
        .args([verb, url, "--bind", "127.0.0.1", "--json"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn floe");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&line) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        }
    });
    (Guard(child), rx)
}

/// Reads events until one satisfies `pred`; returns it and everything read.
pub fn until(
    rx: &mpsc::Receiver<serde_json::Value>,
    limit: Duration,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> (serde_json::Value, Vec<serde_json::Value>) {
    let end = Instant::now() + limit;
    let mut seen = Vec::new();
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(v) if pred(&v) => return (v, seen),
            Ok(v) => seen.push(v),
            Err(_) => panic!("not seen within {limit:?}; events: {seen:#?}"),
        }
    }
}

pub fn signal_url(room: &str) -> (Guard, String) {
    let (server, first) = start_server(&["signal", "--listen", "127.0.0.1:0"]);
    let url = format!("{}{room}", first["url"].as_str().unwrap());
    (server, url)
}

pub fn connected(v: &serde_json::Value) -> bool {
    v["event"] == "connectionstatechange" && v["state"] == "connected"
}

/// True when `python -c check` succeeds (a module the test's peer needs is importable);
/// otherwise says the test is skipped, with how to get it, or fails under `CI`.
pub fn python_can(python: &str, check: &str, what: &str, install: &str) -> bool {
    let ok = Command::new(python)
        .args(["-c", check])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{what} is not importable by {python} in CI"
        );
        eprintln!("SKIPPED: {what} is not importable by {python} ({install})");
    }
    ok
}
