//! The one test that talks to the internet: `floe stun` against Google's public STUN server.
//! It runs only with `FLOE_ONLINE=1`; otherwise it returns at once with a skip message and sends
//! nothing.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const FLOE: &str = env!("CARGO_BIN_EXE_floe");

#[test]
fn stun_against_google() {
    if std::env::var("FLOE_ONLINE").as_deref() != Ok("1") {
        eprintln!("SKIPPED: online test; set FLOE_ONLINE=1 to query stun.l.google.com:19302");
        return;
    }
    let mut child = Command::new(FLOE)
        .args([
            "stun",
            "stun.l.google.com:19302",
            "--timeout",
            "10",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn floe");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("floe stun did not finish in 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let mapped: std::net::SocketAddr = v["mapped"].as_str().unwrap().parse().unwrap();
    assert_ne!(mapped.port(), 0, "{v}");
    assert!(!mapped.ip().is_unspecified(), "{v}");
    println!("mapped address {mapped}, rtt {} ms", v["rtt_ms"]);
}
