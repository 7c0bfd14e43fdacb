//! ICE over TCP (RFC 6544) against an independent stack: libnice, through its GObject
//! introspection bindings (`tests/libnice_peer.py`, run with the system python3 and Debian's
//! python3-gi and gir1.2-nice-0.1). `floe call` / `floe answer --ice-tcp` meet a libnice peer
//! that gathers TCP host candidates only (active and passive), through
//! `floe signal` on loopback; data goes both ways. With UDP on both sides too, UDP is selected.
//!
//! Without libnice the tests print that they skipped, except in CI (`CI` set), where they fail.

mod common;

use std::process::{Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use common::*;

const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/libnice_peer.py");
const LIMIT: Duration = Duration::from_secs(20);

/// The Python that has libnice's bindings: the system one unless `FLOE_LIBNICE_PYTHON` says.
fn python() -> String {
    std::env::var("FLOE_LIBNICE_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into())
}

fn libnice_available() -> bool {
    python_can(
        &python(),
        "import gi; gi.require_version('Nice', '0.1')",
        "libnice's bindings",
        "apt install python3-gi gir1.2-nice-0.1, or set FLOE_LIBNICE_PYTHON",
    )
}

/// Runs the libnice peer to its end (it exits by itself within `LIMIT`).
fn libnice(role: &str, url: &str, extra: &[&str]) -> JoinHandle<Output> {
    let mut args = vec![
        PEER.to_owned(),
        role.to_owned(),
        url.to_owned(),
        LIMIT.as_secs().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let py = python();
    std::thread::spawn(move || {
        Command::new(py)
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .expect("start the libnice peer")
    })
}

/// The libnice peer finished its exchange; returns its `selected …` line.
fn libnice_done(peer: JoinHandle<Output>) -> String {
    let out = peer.join().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success() && stdout.lines().any(|l| l == "done"),
        "libnice peer failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("selected "))
        .unwrap_or_else(|| panic!("no selected pair from libnice\n{stdout}"))
        .to_owned()
}

/// floe's result line and its last selected pair, from its `--json` events.
fn floe_outcome(
    rx: &std::sync::mpsc::Receiver<serde_json::Value>,
) -> (serde_json::Value, serde_json::Value) {
    let (result, events) = until(rx, LIMIT, |v| v["event"] == "result");
    assert_eq!(result["result"], "connected", "{events:#?}");
    let selected = events
        .iter()
        .rev()
        .find(|v| v["event"] == "selectedcandidatepairchange")
        .unwrap_or_else(|| panic!("no selected pair in {events:#?}"))
        .clone();
    (result, selected)
}

/// floe's pair and libnice's are the same TCP connection seen from both ends: one side active,
/// the other passive.
fn assert_tcp(floe: &serde_json::Value, libnice: &str) {
    assert_eq!(floe["protocol"], "tcp", "{floe}");
    let types = [
        floe["local_tcptype"].as_str(),
        floe["remote_tcptype"].as_str(),
    ];
    assert!(
        types == [Some("active"), Some("passive")] || types == [Some("passive"), Some("active")],
        "{floe}"
    );
    assert!(libnice.starts_with("tcp "), "libnice selected {libnice}");
    let passive_port = |s: &str| s.rsplit(':').next().map(str::to_owned);
    // The passive end's listening port is the one both name.
    let floe_passive = if types[0] == Some("passive") {
        floe["local"].as_str().unwrap().split(' ').nth(5)
    } else {
        floe["remote"].as_str().unwrap().split(' ').nth(5)
    };
    let (ours, theirs) = libnice.split_once(" -> ").unwrap();
    let libnice_passive = if ours.contains(" passive ") {
        passive_port(ours)
    } else {
        passive_port(theirs)
    };
    assert_eq!(
        floe_passive.map(str::to_owned),
        libnice_passive,
        "floe {floe}, libnice {libnice}"
    );
}

#[test]
fn libnice_calls_floe_over_tcp() {
    if !libnice_available() {
        return;
    }
    let (_signal, url) = signal_url("/libnice-calls");
    let (_floe, rx) = peer("answer", &url, &["--echo", "--ice-tcp", "--timeout", "20"]);
    let nice = libnice("offer", &url, &["--echo-only"]);
    let (_, floe) = floe_outcome(&rx);
    let libnice = libnice_done(nice);
    assert_tcp(&floe, &libnice);
    println!("libnice calls floe: floe {floe}, libnice {libnice}");
}

#[test]
fn floe_calls_libnice_over_tcp() {
    if !libnice_available() {
        return;
    }
    let (_signal, url) = signal_url("/floe-calls-libnice");
    let nice = libnice("answer", &url, &["--no-hello"]);
    let (_floe, rx) = peer(
        "call",
        &url,
        &["--send", "hi", "--ice-tcp", "--timeout", "20"],
    );
    let (result, floe) = floe_outcome(&rx);
    assert_eq!(result["echo_ok"], true, "{result}");
    let libnice = libnice_done(nice);
    assert_tcp(&floe, &libnice);
    println!("floe calls libnice: floe {floe}, libnice {libnice}");
}

#[test]
fn udp_is_selected_with_libnice_when_both_offer_tcp_too() {
    if !libnice_available() {
        return;
    }
    let (_signal, url) = signal_url("/libnice-udp");
    let (_floe, rx) = peer("answer", &url, &["--echo", "--ice-tcp", "--timeout", "20"]);
    let nice = libnice("offer", &url, &["--echo-only", "--udp"]);
    let (_, floe) = floe_outcome(&rx);
    let libnice = libnice_done(nice);
    assert_eq!(floe["protocol"], "udp", "{floe}");
    assert!(libnice.starts_with("udp "), "libnice selected {libnice}");
}
