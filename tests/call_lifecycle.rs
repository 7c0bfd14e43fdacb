//! `floe call` / `floe answer` as a call: staying up after `connected`, leaving on `bye` or a
//! signal, probes like ping.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// Without --send or --echo the caller does not leave at `connected`: it stays (consent
/// running) until the other side says bye, then exits 0.
#[test]
fn a_call_stays_up_after_connected_until_the_peer_leaves() {
    let (_signal, url) = signal_url("/stay");
    let (mut answer, answer_rx) = peer("answer", &url, &["--timeout", "20"]);
    let (mut call, call_rx) = peer("call", &url, &["--timeout", "20"]);
    until(&call_rx, Duration::from_secs(10), connected);
    until(&answer_rx, Duration::from_secs(10), connected);
    // Two seconds later both are still in the call.
    std::thread::sleep(Duration::from_secs(2));
    assert!(call.0.try_wait().unwrap().is_none(), "the caller left");
    assert!(answer.0.try_wait().unwrap().is_none(), "the callee left");
    // SIGTERM to the callee: it says bye and exits 0; the caller follows within a second.
    let pid = answer.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = wait_for(&mut answer.0, Duration::from_secs(5), "floe answer");
    assert!(
        status.success(),
        "SIGTERM after connecting exits 0: {status}"
    );
    let left_at = Instant::now();
    until(&call_rx, Duration::from_secs(5), |v| {
        v["event"] == "bye received"
    });
    let status = wait_for(&mut call.0, Duration::from_secs(5), "floe call");
    assert!(status.success(), "{status}");
    assert!(
        left_at.elapsed() < Duration::from_secs(2),
        "the caller saw the callee leave within a second or so: {:?}",
        left_at.elapsed()
    );
}

/// `--count 3`: three probes a second apart, each RTT printed, and a loss summary.
#[test]
fn count_sends_probes_and_prints_a_loss_summary() {
    let (_signal, url) = signal_url("/count");
    let (_answer, _answer_rx) = peer("answer", &url, &["--echo", "--timeout", "20"]);
    let (mut call, call_rx) = peer(
        "call",
        &url,
        &[
            "--send",
            "ping",
            "--count",
            "3",
            "--strict",
            "--timeout",
            "20",
        ],
    );
    let (summary, seen) = until(&call_rx, Duration::from_secs(15), |v| {
        v["event"] == "probes"
    });
    let echoes: Vec<_> = seen
        .iter()
        .filter(|v| v["event"] == "echo received")
        .map(|v| v["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(echoes, [1, 2, 3], "{seen:#?}");
    assert_eq!(summary["sent"], 3);
    assert_eq!(summary["received"], 3);
    assert_eq!(summary["loss_percent"], 0.0);
    assert!(summary["rtt_max_ms"].as_f64().unwrap() > 0.0);
    let status = wait_for(&mut call.0, Duration::from_secs(10), "floe call");
    assert!(status.success(), "{status}");
}

/// `--count` against a peer that never echoes: the summary says 100% loss and the exit is not
/// 0.
#[test]
fn count_without_an_echo_fails_with_the_summary() {
    let (_signal, url) = signal_url("/silent");
    let (_answer, _answer_rx) = peer("answer", &url, &["--timeout", "20"]);
    let (mut call, call_rx) = peer(
        "call",
        &url,
        &["--send", "ping", "--count", "2", "--timeout", "20"],
    );
    let (summary, _) = until(&call_rx, Duration::from_secs(15), |v| {
        v["event"] == "probes"
    });
    assert_eq!(summary["sent"], 2);
    assert_eq!(summary["received"], 0);
    let status = wait_for(&mut call.0, Duration::from_secs(10), "floe call");
    assert!(!status.success());
}
