//! Interop with a real third-party ICE stack: aioice (Python), both roles, over UDP on
//! 127.0.0.1. The peer is `tests/aioice_peer.py` at the repository root, run with the Python
//! named by `FLOE_PYTHON` (CI installs aioice 0.13.0 in a venv and sets it) or `python3`.
//!
//! Without aioice the test is skipped with a message, except in CI (`CI` set), where it fails.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use floe_ice::{
    AgentConfig, Candidate, CandidateKind, IceAgent, IceConnectionState, IceEvent, Verdict,
};

fn python() -> String {
    std::env::var("FLOE_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn aioice_available() -> bool {
    let ok = Command::new(python())
        .args(["-c", "import aioice"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "aioice is not importable by {} in CI",
            python()
        );
        eprintln!(
            "SKIPPED: aioice is not installed (pip install aioice==0.13.0, or set FLOE_PYTHON)"
        );
    }
    ok
}

/// Kills the peer even when the test panics.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn to_ice(c: &floe_sdp::Candidate) -> Option<Candidate> {
    let floe_sdp::CandidateAddress::Ip(ip) = c.address else {
        return None;
    };
    let kind = match c.typ {
        floe_sdp::CandidateType::Host => CandidateKind::Host,
        floe_sdp::CandidateType::ServerReflexive => CandidateKind::ServerReflexive,
        floe_sdp::CandidateType::PeerReflexive => CandidateKind::PeerReflexive,
        floe_sdp::CandidateType::Relay => CandidateKind::Relayed,
        floe_sdp::CandidateType::Other(_) => return None,
    };
    Some(Candidate {
        kind,
        address: SocketAddr::new(ip, c.port),
        base: None,
        priority: c.priority,
        foundation: c.foundation.clone(),
        component: c.component,
        tcp_type: None,
    })
}

fn interop(floe_controlling: bool) {
    if !aioice_available() {
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/aioice_peer.py");
    let role = if floe_controlling {
        "controlled"
    } else {
        "controlling"
    };
    let child = Command::new(python())
        .args(["-u", script, role, "15"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the aioice peer");
    let mut peer = Peer(child);
    let mut stdin = peer.0.stdin.take().unwrap();
    let stdout = peer.0.stdout.take().unwrap();
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let local = socket.local_addr().unwrap();
    let start = Instant::now();
    let config = AgentConfig {
        controlling: floe_controlling,
        ..AgentConfig::default()
    };
    let mut agent = IceAgent::new(config, start, [7; 32]);
    agent.add_local_socket(start, local);
    agent.start_gathering(start);

    // Our side of the signalling: credentials, then candidates as they come, then the end.
    let creds = agent.local_credentials().clone();
    writeln!(stdin, "ufrag {}\npwd {}", creds.ufrag, creds.pwd).unwrap();
    while let Some(event) = agent.poll_event() {
        match event {
            IceEvent::LocalCandidate(c) => {
                let line = c.to_sdp_string();
                writeln!(stdin, "cand {}", line.trim_start_matches("candidate:")).unwrap();
            }
            IceEvent::EndOfCandidates => writeln!(stdin, "end").unwrap(),
            _ => {}
        }
    }
    stdin.flush().unwrap();

    let deadline = start + Duration::from_secs(20);
    let (mut ufrag, mut pwd) = (None, None);
    let mut connected_at = None;
    let mut peer_connected = false;
    let mut got_hello = false;
    let mut echoed = false;
    let mut ping_sent = false;
    let mut buf = [0u8; 1500];
    let mut out = [0u8; 1500];
    while Instant::now() < deadline && !(got_hello && echoed && peer_connected) {
        let now = Instant::now();
        while let Ok(line) = lines.try_recv() {
            let (word, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            match word {
                "ufrag" => ufrag = Some(rest.to_owned()),
                "pwd" => pwd = Some(rest.to_owned()),
                "cand" => {
                    let c: floe_sdp::Candidate = rest.parse().expect("aioice candidate parses");
                    if let Some(c) = to_ice(&c) {
                        let _ = agent.add_remote_candidate(now, c);
                    }
                }
                "end" => {
                    agent.set_remote_credentials(
                        now,
                        ufrag.as_deref().unwrap(),
                        pwd.as_deref().unwrap(),
                    );
                    agent.add_remote_end_of_candidates(now);
                }
                "connected" => peer_connected = true,
                "got" => echoed |= rest == "ping from floe",
                _ => {}
            }
        }
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                if agent.handle_datagram(Instant::now(), local, from, &buf[..n])
                    == Verdict::ApplicationData
                {
                    let text = String::from_utf8_lossy(&buf[..n]).to_string();
                    got_hello |= text == "hello from aioice";
                    echoed |= text == "ping from floe";
                }
            }
            Err(_) => agent.handle_timeout(Instant::now()),
        }
        if agent.poll_timeout().is_some_and(|t| t <= Instant::now()) {
            agent.handle_timeout(Instant::now());
        }
        while let Some(t) = agent.poll_transmit(&mut out).unwrap() {
            assert_eq!(t.source, local);
            socket.send_to(&out[..t.len], t.destination).unwrap();
        }
        while let Some(event) = agent.poll_event() {
            if let IceEvent::ConnectionStateChange(
                IceConnectionState::Connected | IceConnectionState::Completed,
            ) = event
            {
                connected_at.get_or_insert(start.elapsed());
            }
        }
        if connected_at.is_some() && !ping_sent {
            let t = agent.send(b"ping from floe", &mut out).unwrap();
            socket.send_to(&out[..t.len], t.destination).unwrap();
            ping_sent = true;
        }
    }
    let selected = agent.selected_path();
    println!(
        "floe {} vs aioice: connected after {connected_at:?}, selected {selected:?}",
        if floe_controlling {
            "controlling"
        } else {
            "controlled"
        }
    );
    assert!(connected_at.is_some(), "floe never connected");
    assert!(peer_connected, "aioice never connected");
    assert!(got_hello, "no datagram from aioice");
    assert!(echoed, "aioice did not echo our datagram");
    let loopback: IpAddr = "127.0.0.1".parse().unwrap();
    assert_eq!(selected.map(|(l, r)| (l, r.ip())), Some((local, loopback)));
}

#[test]
fn connects_to_aioice_as_controlling_agent() {
    interop(true);
}

#[test]
fn connects_to_aioice_as_controlled_agent() {
    interop(false);
}
