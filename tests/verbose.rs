//! `floe -v call` against a peer nobody can reach: the log shows the checks timing out and the
//! reason no pair works, and with `--json` every line of stdout parses.
//!
//! The peer is played by the test: it answers the offer through the signaling server with
//! real ICE credentials and one host candidate on a UDP socket that never reads, so the
//! caller's checks go unanswered, deterministically. A STUN server on loopback gives the
//! caller a measured round trip, so its checks use the least RTO (50 ms) and time out after
//! about 4 s rather than the 39.5 s of an unmeasured path.

use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use floe::sdp::IceCandidateInit;
use floe::session::{Session, SessionConfig};
use floe::signaling::{SignalMessage, SignalingChannel, SignalingServer};
use floe::stun_tools::StunServer;

const FLOE: &str = env!("CARGO_BIN_EXE_floe");

/// The caller gives up after this many seconds: past its checks' timeout (~4 s).
const CALL_TIMEOUT: &str = "6";

/// The signaling and STUN servers and the unreachable peer, on a runtime of their own.
struct Peer {
    _runtime: tokio::runtime::Runtime,
    url: String,
    stun: SocketAddr,
    /// Where the peer's only candidate points: bound, so no ICMP comes back, never read.
    _silent: UdpSocket,
}

impl Peer {
    fn start(room: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let candidate = silent.local_addr().unwrap();
        let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let (url, stun) = runtime.block_on(async {
            let signal = SignalingServer::bind(loopback).await.unwrap();
            let url = format!("ws://{}/{room}", signal.local_addr().unwrap());
            signal.spawn();
            let stun = StunServer::bind(loopback, None).await.unwrap();
            let stun_addr = stun.local_addresses()[0];
            stun.spawn();
            (url, stun_addr)
        });
        let channel = runtime.block_on(SignalingChannel::connect(&url)).unwrap();
        runtime.spawn(answer_unreachable(channel, candidate));
        Self {
            _runtime: runtime,
            url,
            stun,
            _silent: silent,
        }
    }

    /// Runs `floe <global> call URL …` to its end.
    fn call(&self, global: &[&str]) -> Output {
        let stun = format!("stun:{}", self.stun);
        let mut child = Command::new(FLOE)
            .args(global)
            .args(["call", &self.url, "--bind", "127.0.0.1", "--stun", &stun])
            .args(["--timeout", CALL_TIMEOUT])
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn floe");
        // Outputs are a few KiB, under a pipe's buffer: the child never blocks on them.
        let start = Instant::now();
        while child.try_wait().expect("wait").is_none() {
            if start.elapsed() > Duration::from_secs(12) {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "floe call did not finish:\n{}\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().expect("output")
    }
}

/// Answers the first offer with credentials and one candidate nothing answers on, then stays
/// in the room, ignoring the caller's candidates. The answer waits for the caller's
/// end-of-candidates: its gathering is then complete, so its STUN query was answered and its
/// first check already uses the measured round trip (answered earlier, the check could go out
/// first, with the 500 ms RTO of an unmeasured path, and not time out within the call).
async fn answer_unreachable(mut channel: SignalingChannel, candidate: SocketAddr) {
    let mut offer = None;
    let offer = loop {
        match channel.recv().await {
            Ok(Some(SignalMessage::Offer(o))) => offer = offer.or(Some(o)),
            Ok(Some(SignalMessage::IceCandidate(None))) => {
                if let Some(offer) = offer.take() {
                    break offer;
                }
            }
            Ok(Some(_)) => continue,
            _ => return,
        }
    };
    let mut session = Session::new(SessionConfig::default(), &[candidate], [9; 32]);
    session
        .set_remote_description(std::time::Instant::now(), offer)
        .unwrap();
    let mut answer = session.create_answer().unwrap();
    answer.sdp = answer
        .sdp
        .lines()
        .filter(|l| !l.starts_with("a=candidate") && !l.starts_with("a=end-of-candidates"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    let host = IceCandidateInit {
        candidate: format!(
            "candidate:1 1 udp 2130706431 {} {} typ host",
            candidate.ip(),
            candidate.port()
        ),
        sdp_m_line_index: Some(0),
        ..IceCandidateInit::default()
    };
    for msg in [
        SignalMessage::Answer(answer),
        SignalMessage::IceCandidate(Some(host)),
        SignalMessage::IceCandidate(None),
    ] {
        channel.send(&msg).await.unwrap();
    }
    while let Ok(Some(_)) = channel.recv().await {}
}

#[test]
fn verbose_call_to_an_unreachable_peer_says_why() {
    let peer = Peer::start("verbose-human");
    let out = peer.call(&["-v"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    let line = |what: &str| {
        stderr
            .lines()
            .position(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what:?} in\n{stderr}"))
    };
    // -v: the state changes, among them the pair failing because its checks timed out.
    line("local candidate gathered");
    line("remote candidate added");
    let failed = line("candidate pair failed");
    assert!(
        stderr
            .lines()
            .nth(failed)
            .unwrap()
            .contains("reason=timed out"),
        "{stderr}"
    );
    // Then why no pair works, in words.
    let why = line("every candidate pair failed");
    assert!(
        stderr
            .lines()
            .nth(why)
            .unwrap()
            .contains("no candidate pair succeeded: 1 pair tried, 1 timed out — nothing answered"),
        "{stderr}"
    );
    // No per-check events at -v: those are -vv.
    assert!(!stderr.contains("check sent"), "{stderr}");
    // The last line is the error the call ended with.
    let last = stderr.lines().last().unwrap();
    assert!(last.starts_with("floe: error: "), "{stderr}");
    assert!(failed < why && why < stderr.lines().count() - 1, "{stderr}");
}

#[test]
fn verbose_json_call_prints_only_json_lines() {
    let peer = Peer::start("verbose-json");
    let out = peer.call(&["-vv", "--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l:?}")))
        .collect();
    let logs = |message: &str| -> Vec<&serde_json::Value> {
        lines
            .iter()
            .filter(|l| l["event"] == "log" && l["message"] == message)
            .collect()
    };
    // -vv: every check, with the stable field names.
    let sent = logs("check sent");
    assert!(!sent.is_empty(), "{stdout}");
    for field in ["pair", "tid", "local", "remote"] {
        assert!(!sent[0][field].is_null(), "{field} missing: {}", sent[0]);
    }
    assert!(!logs("check timed out").is_empty(), "{stdout}");
    let failed = logs("candidate pair failed");
    assert_eq!(failed[0]["reason"], "timed out", "{stdout}");
    let why = logs("every candidate pair failed");
    assert!(
        why[0]["summary"]
            .as_str()
            .unwrap()
            .starts_with("no candidate pair succeeded: 1 pair tried, 1 timed out"),
        "{stdout}"
    );
    // The timeline's events are among them, and the error comes last.
    assert!(lines.iter().any(|l| l["event"] == "offer sent"), "{stdout}");
    let last = lines.last().unwrap();
    assert_eq!(last["event"], "error", "{stdout}");
    assert!(last["error"].as_str().is_some_and(|e| !e.is_empty()));
}
