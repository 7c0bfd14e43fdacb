//! `floe serve` / [`floe::server::Server`]: one UDP socket for every peer. Many callers at
//! once (floe's library, `floe call`, aioice), a caller that vanishes, a flood of garbage
//! at the port while sessions run, and callers without UDP over ICE-TCP.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use floe::server::{Server, ServerConfig, ServerHandle};
use floe::signaling::{SignalMessage, SignalingChannel};
use floe::{BindConfig, Configuration, PeerConnection, PeerConnectionState, PeerEvent};

const LIMIT: Duration = Duration::from_secs(30);

fn loopback() -> Configuration {
    Configuration {
        bind: BindConfig {
            addresses: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
            include_loopback: false,
            ipv4_only: true,
        },
        disable_mdns: true,
        ..Configuration::default()
    }
}

async fn server(echo: bool) -> ServerHandle {
    let config = ServerConfig {
        echo,
        ..ServerConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)))
    };
    Server::bind(config).await.unwrap().spawn()
}

/// One caller through the library: offer, trickle, connect, one datagram and its echo. Returns
/// the connection and its signaling channel, still open.
async fn call(url: &str, text: &str) -> (PeerConnection, SignalingChannel) {
    let mut signaling = SignalingChannel::connect(url).await.unwrap();
    let pc = PeerConnection::new(loopback()).await.unwrap();
    let offer = pc.create_offer().await.unwrap();
    pc.set_local_description(offer.clone()).await.unwrap();
    signaling.send(&SignalMessage::Offer(offer)).await.unwrap();
    let mut connected = false;
    let run = async {
        loop {
            tokio::select! {
                msg = signaling.recv() => match msg.unwrap() {
                    Some(SignalMessage::Answer(a)) => pc.set_remote_description(a).await.unwrap(),
                    Some(SignalMessage::IceCandidate(c)) => pc.add_ice_candidate(c).await.unwrap(),
                    Some(SignalMessage::Bye) | None => panic!("the server left"),
                    Some(_) => {}
                },
                event = pc.next_event() => match event.unwrap() {
                    PeerEvent::IceCandidate(c) => {
                        signaling.send(&SignalMessage::IceCandidate(c)).await.unwrap();
                    }
                    PeerEvent::ConnectionStateChange(PeerConnectionState::Connected) if !connected => {
                        connected = true;
                        pc.send(text.as_bytes()).await.unwrap();
                    }
                    PeerEvent::ConnectionStateChange(PeerConnectionState::Failed) => panic!("failed"),
                    _ => {}
                },
                data = pc.recv(), if connected => {
                    if data.unwrap() == text.as_bytes() {
                        return;
                    }
                }
            }
        }
    };
    tokio::time::timeout(LIMIT, run)
        .await
        .unwrap_or_else(|_| panic!("{text}: no echo"));
    (pc, signaling)
}

/// The UDP sockets process `pid` holds: its socket inodes that /proc/net/udp{,6} list.
fn udp_sockets_of(pid: u32) -> usize {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            l.strip_prefix("socket:[")?
                .strip_suffix(']')
                .map(str::to_owned)
        })
        .collect();
    let table = ["udp", "udp6"]
        .iter()
        .filter_map(|t| std::fs::read_to_string(format!("/proc/{pid}/net/{t}")).ok())
        .collect::<String>();
    let udp_inodes: Vec<&str> = table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(9))
        .collect();
    inodes
        .iter()
        .filter(|i| udp_inodes.contains(&i.as_str()))
        .count()
}

/// 200 callers at once against one `floe serve` process: 180 through floe's library, 10
/// `floe call` processes and 10 aioice peers (when aioice is there); every one gets its echo,
/// and the server holds exactly one UDP socket throughout.
#[test]
fn two_hundred_callers_share_one_udp_socket() {
    let mut serve = Command::new(FLOE)
        .args(["serve", "--listen", "127.0.0.1:0", "--echo", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = serve.stdout.take().unwrap();
    let serve = Guard(serve);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
    let first: serde_json::Value = serde_json::from_str(&line).unwrap();
    let url = first["url"].as_str().unwrap().to_owned();
    assert_eq!(udp_sockets_of(serve.0.id()), 1);

    // Processes first: they take longest to start.
    let calls: Vec<Guard> = (0..10)
        .map(|i| {
            let child = Command::new(FLOE)
                .args(["call", &format!("{url}cli-{i}"), "--bind", "127.0.0.1"])
                .args(["--send", &format!("cli {i}"), "--timeout", "30"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            Guard(child)
        })
        .collect();
    let python = std::env::var("FLOE_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/aioice_signaling_peer.py"
    );
    let aioice = Command::new(&python)
        .args(["-c", "import aioice"])
        .status()
        .is_ok_and(|s| s.success());
    let pythons: Vec<Guard> = if aioice {
        (0..10)
            .map(|i| {
                let child = Command::new(&python)
                    .args(["-u", script, "offer", &format!("{url}aioice-{i}"), "30"])
                    .arg("--echo-only")
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                Guard(child)
            })
            .collect()
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "aioice is not importable by {python} in CI"
        );
        Vec::new()
    };

    let rt = tokio::runtime::Runtime::new().unwrap();
    let peak = rt.block_on(async {
        let tasks: Vec<_> = (0..180)
            .map(|i| {
                let url = format!("{url}lib-{i}");
                tokio::spawn(async move { call(&url, &format!("lib {i}")).await })
            })
            .collect();
        let mut open = Vec::new();
        for t in tasks {
            open.push(t.await.unwrap());
        }
        let sockets = udp_sockets_of(serve.0.id());
        for (pc, mut signaling) in open {
            let _ = signaling.send(&SignalMessage::Bye).await;
            pc.close().await.unwrap();
        }
        sockets
    });
    assert_eq!(peak, 1, "with 180+ sessions up, still one UDP socket");
    for mut c in calls {
        let status = wait_for(&mut c.0, LIMIT, "floe call");
        assert!(status.success(), "a floe call failed");
    }
    for mut p in pythons {
        let status = wait_for(&mut p.0, LIMIT, "aioice peer");
        assert!(status.success(), "an aioice peer failed");
    }
    assert_eq!(udp_sockets_of(serve.0.id()), 1);
}

/// A caller that vanishes (no bye, its socket gone, its signaling left open) is dropped when
/// consent expires, and its table entries with it.
#[test]
fn a_vanished_caller_is_dropped_after_consent_expiry() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let server = server(true).await;
        let url = format!("ws://{}/vanish", server.local_addr());
        let (pc, signaling) = call(&url, "here").await;
        let stats = server.stats().await.unwrap();
        assert_eq!(stats.sessions, 1);
        assert!(stats.mux.remotes >= 1);
        // Gone without a word: the socket closes, the signaling stays open.
        drop(pc);
        let start = Instant::now();
        loop {
            let stats = server.stats().await.unwrap();
            if stats.sessions == 0 {
                assert_eq!(stats.mux.sessions, 0);
                assert_eq!(stats.mux.remotes, 0);
                assert_eq!(stats.ended, 1);
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(45),
                "still there after {:?}: {stats:?}",
                start.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        drop(signaling);
    });
}

/// 1,000,000 random and malformed datagrams at the port (garbage, STUN with unknown ufrags,
/// ChannelData headers) while a session runs: it keeps echoing, the tables stay flat.
#[test]
fn a_flood_of_garbage_disturbs_no_session() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let server = server(true).await;
        let target = server.local_addr();
        let url = format!("ws://{target}/flood");
        let (pc, _signaling) = call(&url, "before").await;
        let before = server.stats().await.unwrap();
        let flood = std::thread::spawn(move || {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            let mut rng = 0x2545_f491_4f6c_dd1du64;
            let mut next = || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            let stun_unknown = {
                // A Binding request for a ufrag nobody has.
                let mut buf = [0u8; 128];
                let ty = floe::stun::MessageType::BINDING_REQUEST;
                let mut w = floe::stun::MessageWriter::new(
                    &mut buf,
                    ty,
                    floe::stun::TransactionId::new([9; 12]),
                )
                .unwrap();
                w.add(&floe::stun::attributes::Username("nobody:x"))
                    .unwrap();
                w.add_fingerprint().unwrap();
                let n = w.finish();
                buf[..n].to_vec()
            };
            for i in 0..1_000_000u32 {
                let datagram: Vec<u8> = match i % 3 {
                    0 => (0..(next() % 200) as usize).map(|_| next() as u8).collect(),
                    1 => stun_unknown.clone(),
                    _ => {
                        let mut d = vec![0x40, (next() % 256) as u8, 0, 8];
                        d.extend_from_slice(&next().to_be_bytes());
                        d
                    }
                };
                let _ = socket.send_to(&datagram, target);
            }
        });
        // The session keeps working during the flood.
        let mut echoes = 0;
        while !flood.is_finished() {
            let text = format!("during {echoes}");
            pc.send(text.as_bytes()).await.unwrap();
            if let Ok(Ok(data)) = tokio::time::timeout(Duration::from_millis(500), pc.recv()).await
            {
                if data == text.as_bytes() {
                    echoes += 1;
                }
            }
        }
        flood.join().unwrap();
        pc.send(b"after").await.unwrap();
        let data = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let d = pc.recv().await.unwrap();
                if d == b"after" {
                    return d;
                }
            }
        })
        .await
        .expect("no echo after the flood");
        assert_eq!(data, b"after");
        let after = server.stats().await.unwrap();
        assert_eq!(after.sessions, 1);
        assert!(echoes > 0, "no echo during the flood");
        assert_eq!(after.mux.sessions, before.mux.sessions);
        assert!(after.mux.remotes <= before.mux.remotes + 1, "{after:?}");
        assert!(
            after.mux.transactions <= before.mux.transactions + 16,
            "{after:?}"
        );
        assert!(after.mux.dropped_unknown_ufrag > 0, "{after:?}");
    });
}

/// `floe serve --ice-tcp`: callers without UDP (`floe call --no-udp`) reach their ICE-lite
/// sessions over TCP, each connection finding its session by the ufrag of its first check,
/// while a UDP caller on the same server stays on UDP; a connection that names no session, or
/// sends nothing that parses, is closed.
#[test]
fn callers_without_udp_reach_the_server_over_ice_tcp() {
    let (_serve, first) =
        start_server(&["serve", "--listen", "127.0.0.1:0", "--echo", "--ice-tcp"]);
    let url = first["url"].as_str().unwrap().to_owned();
    let tcp: SocketAddr = first["ice_tcp"].as_str().unwrap().parse().unwrap();
    assert_ne!(tcp.port(), 0);

    // A stranger's connection: a check for no session, then silence; the server closes it.
    let mut stranger = std::net::TcpStream::connect(tcp).unwrap();
    stranger
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    std::io::Write::write_all(&mut stranger, &[0, 4, 0, 1, 0, 0]).unwrap();
    let mut buf = [0u8; 64];
    let n = std::io::Read::read(&mut stranger, &mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the server answered a stranger's connection");
    // A silent one: closed once the stream timeout (10 s) passes, checked at the end.
    let mut silent = std::net::TcpStream::connect(tcp).unwrap();
    let opened = Instant::now();

    let callers: Vec<_> = (0..3)
        .map(|i| {
            let flags: &[&str] = if i < 2 { &["--no-udp"] } else { &["--ice-tcp"] };
            let mut args = vec!["--send", "over tcp?", "--timeout", "20"];
            args.extend_from_slice(flags);
            peer("call", &format!("{url}tcp-{i}"), &args)
        })
        .collect();
    for (i, (_guard, rx)) in callers.iter().enumerate() {
        let (result, events) = until(rx, LIMIT, |v| v["event"] == "result");
        assert_eq!(result["echo_ok"], true, "caller {i}: {events:#?}");
        let pair = events
            .iter()
            .rev()
            .find(|v| v["event"] == "selectedcandidatepairchange")
            .expect("a selected pair");
        let want = if i < 2 { "tcp" } else { "udp" };
        assert_eq!(pair["protocol"], want, "caller {i}: {pair}");
        if i < 2 {
            // The caller connects actively to the server's one passive candidate.
            assert_eq!(pair["local_tcptype"], "active", "{pair}");
            assert_eq!(pair["remote_tcptype"], "passive", "{pair}");
            assert!(pair["remote"]
                .as_str()
                .unwrap()
                .contains(&format!(" {} ", tcp.port())));
        }
    }
    silent
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let n = std::io::Read::read(&mut silent, &mut buf).unwrap_or(usize::MAX);
    assert_eq!(n, 0, "a silent connection was not closed");
    assert!(opened.elapsed() >= floe::ice::STREAM_IDLE_TIMEOUT);
}
