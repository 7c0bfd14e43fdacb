//! The `floe` binary: demo, STUN client against the STUN server, call/answer through the
//! signaling server, and errors. Every child is killed on a deadline so nothing hangs.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const FLOE: &str = env!("CARGO_BIN_EXE_floe");

/// Kills the child when dropped, so a failed assertion leaves no server behind.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `floe args...` to completion, killing it after `limit`. (Outputs are a few KiB, well
/// under a pipe's buffer, so the child never blocks on them before exiting.)
fn run(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(FLOE)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn floe");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("floe {args:?} did not finish in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// Starts a long-running `floe` server with `--json` and returns it with its first line.
fn start_server(args: &[&str]) -> (Guard, serde_json::Value) {
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
    // The server prints its address at once; a hang here would be a bug, and the test harness
    // would report it, but read_line on a dead child returns 0 rather than blocking.
    BufReader::new(stdout).read_line(&mut line).expect("read");
    let value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line:?}"));
    (guard, value)
}

#[test]
fn demo_connects_and_exits_zero() {
    let out = run(&["demo"], Duration::from_secs(30));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("connected"), "{stdout}");
    for event in [
        "icegatheringstatechange",
        "icecandidate",
        "iceconnectionstatechange",
        "connectionstatechange",
        "selectedcandidatepairchange",
        "offer -> connected",
    ] {
        assert!(stdout.contains(event), "{event} missing:\n{stdout}");
    }
}

#[test]
fn demo_json_is_one_object_per_line() {
    let out = run(&["demo", "--json"], Duration::from_secs(30));
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l:?}")))
        .collect();
    let summary = lines.last().unwrap();
    assert_eq!(summary["result"], "connected");
    assert_eq!(summary["echo_ok"], true);
}

#[test]
fn stun_against_stun_server() {
    let (_server, first) = start_server(&["stun-server", "--listen", "127.0.0.1:0"]);
    let addr = first["addresses"][0].as_str().unwrap().to_owned();
    let out = run(
        &["stun", &addr, "--bind", "127.0.0.1", "--json"],
        Duration::from_secs(10),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["mapped"], v["local"]);
    assert_eq!(v["server"], addr.as_str());
    assert!(v["rtt_ms"].as_f64().unwrap() >= 0.0);
    assert!(v["software"].as_str().unwrap().starts_with("floe"));
}

#[test]
fn call_and_answer_through_signal() {
    let (_server, first) = start_server(&["signal", "--listen", "127.0.0.1:0"]);
    let url = format!("{}call-test", first["url"].as_str().unwrap());
    let answer = Command::new(FLOE)
        .args([
            "answer",
            &url,
            "--bind",
            "127.0.0.1",
            "--echo",
            "--timeout",
            "15",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let answer = Guard(answer);
    let call = run(
        &[
            "call",
            &url,
            "--bind",
            "127.0.0.1",
            "--send",
            "hi there",
            "--timeout",
            "15",
        ],
        Duration::from_secs(20),
    );
    let stdout = String::from_utf8_lossy(&call.stdout);
    assert!(
        call.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&call.stderr)
    );
    assert!(stdout.contains("echo received"), "{stdout}");
    // The callee leaves when the caller says bye.
    let mut answer = answer;
    let start = Instant::now();
    let status = loop {
        if let Some(s) = answer.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "answer did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
}

#[test]
fn errors_are_one_line_and_nonzero() {
    let out = run(
        &["stun", "127.0.0.1:9", "--timeout", "0.3"],
        Duration::from_secs(10),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("floe: error:"), "{stderr}");
    let out = run(&["call", "http://nowhere"], Duration::from_secs(10));
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}
