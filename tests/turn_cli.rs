//! `floe turn` against coturn on loopback: allocations over UDP, TCP and TLS (a test CA signs
//! coturn's certificate), "hello" relayed to a UDP echo peer and back with Send/Data indications
//! and with a channel, deallocation; one-line errors for wrong credentials, untrusted or
//! misnamed certificates and unreachable servers; and the library's `floe::turn_tools`.
//!
//! Without coturn installed the coturn cases print that they skipped, except in CI (`CI` set),
//! where they fail.

mod coturn;

use std::net::SocketAddr;
use std::process::Output;
use std::time::{Duration, Instant};

use floe::turn_tools::{allocate_once, TurnOptions, TurnSession, TurnTransport};
use serde_json::Value;

use coturn::{coturn_installed, run, text, Coturn, TestCa, FLOE};

/// A UDP echo peer on 127.0.0.1, on a tokio runtime of its own that stops when dropped.
struct EchoPeer {
    addr: SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

fn echo_peer() -> EchoPeer {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let socket = runtime
        .block_on(tokio::net::UdpSocket::bind("127.0.0.1:0"))
        .unwrap();
    let addr = socket.local_addr().unwrap();
    runtime.spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let _ = socket.send_to(&buf[..n], from).await;
        }
    });
    EchoPeer {
        addr,
        _runtime: runtime,
    }
}

/// `floe turn ARGS... --json`: the output and its JSON lines.
fn floe_turn(args: &[&str]) -> (Output, Vec<Value>) {
    let mut all = vec!["turn"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = run(FLOE, &all, Duration::from_secs(30));
    let lines = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l:?}")))
        .collect();
    (out, lines)
}

/// `floe turn ARGS...` expected to fail fast with one line on stderr containing `want`.
fn floe_turn_fails(args: &[&str], want: &str) -> Duration {
    let mut all = vec!["turn"];
    all.extend_from_slice(args);
    let start = Instant::now();
    let out = run(FLOE, &all, Duration::from_secs(30));
    let took = start.elapsed();
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "floe {all:?} succeeded: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("floe: error: ") && stderr.contains(want),
        "floe {all:?}: wanted {want:?} in {stderr}"
    );
    took
}

#[test]
fn floe_turn_relays_hello_over_udp_tcp_and_tls() {
    if !coturn_installed() {
        return;
    }
    let ca = TestCa::new();
    let coturn = Coturn::start_tls(&["127.0.0.1"], &ca);
    let echo = echo_peer();
    let peer = echo.addr.to_string();
    let plain = format!("127.0.0.1:{}", coturn.port);
    let tls_port = coturn.tls_port.unwrap();
    let tls = format!("127.0.0.1:{tls_port}");
    let ca_pem = ca.ca.to_str().unwrap();
    let tcp_url = format!("turn:{plain}?transport=tcp");
    let tls_url = format!("turns:localhost:{tls_port}");
    let cases: [(&str, Vec<&str>); 5] = [
        ("udp", vec![&plain]),
        ("tcp", vec![&plain, "--transport", "tcp"]),
        ("tls", vec![&tls, "--transport", "tls", "--ca", ca_pem]),
        ("tcp", vec![&tcp_url]),
        // A DNS name checked against the certificate; --bind keeps "localhost" on IPv4.
        ("tls", vec![&tls_url, "--ca", ca_pem, "--bind", "127.0.0.1"]),
    ];
    for (transport, target) in &cases {
        for channel in [false, true] {
            let mut args = target.clone();
            args.extend(["--user", "alice", "--pass", "secret"]);
            args.extend(["--peer", &peer, "--send", "hello"]);
            if channel {
                args.push("--channel");
            }
            let (out, lines) = floe_turn(&args);
            assert!(
                out.status.success(),
                "floe turn {args:?} failed\n{}{}",
                text(&out.stdout),
                text(&out.stderr)
            );
            let [allocated, reply, deallocated] = &lines[..] else {
                panic!("three lines expected: {lines:?}");
            };
            assert_eq!(allocated["event"], "allocated", "{allocated}");
            assert_eq!(allocated["transport"], *transport, "{allocated}");
            let relayed = allocated["relayed"].as_str().unwrap();
            assert!(relayed.starts_with("127.0.0.1:"), "{allocated}");
            assert_eq!(allocated["mapped"], allocated["local"], "{allocated}");
            assert!(allocated["lifetime_s"].as_u64().unwrap() > 0, "{allocated}");
            assert_eq!(reply["event"], "reply", "{reply}");
            assert_eq!(reply["data"], "hello", "{reply}");
            assert_eq!(reply["peer"], peer.as_str(), "{reply}");
            assert_eq!(reply["channel"].is_u64(), channel, "{reply}");
            assert_eq!(deallocated["event"], "deallocated", "{deallocated}");
            println!(
                "{transport} {:?} channel={channel}: allocated in {:.2} ms (connect {:.2} ms), rtt {:.3} ms",
                target[0],
                allocated["allocate_ms"].as_f64().unwrap(),
                allocated["connect_ms"].as_f64().unwrap(),
                reply["rtt_ms"].as_f64().unwrap()
            );
        }
    }

    // The human-readable lines.
    let out = run(
        FLOE,
        &[
            "turn",
            &tls,
            "--transport",
            "tls",
            "--ca",
            ca_pem,
            "--user",
            "alice",
            "--pass",
            "secret",
            "--peer",
            &peer,
            "--send",
            "hi there",
        ],
        Duration::from_secs(30),
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines[0].starts_with("relayed address 127.0.0.1:"),
        "{stdout}"
    );
    assert!(lines[0].contains(", mapped address 127.0.0.1:"), "{stdout}");
    assert!(lines[0].contains(", lifetime "), "{stdout}");
    assert!(
        lines[1].starts_with(&format!("reply \"hi there\" from {peer}")),
        "{stdout}"
    );
    assert!(lines[1].contains(", rtt "), "{stdout}");
    assert!(lines[2].starts_with("deallocated"), "{stdout}");
}

#[test]
fn floe_turn_errors_are_one_line() {
    if !coturn_installed() {
        return;
    }
    let ca = TestCa::new();
    let coturn = Coturn::start_tls(&["127.0.0.1"], &ca);
    let plain = format!("127.0.0.1:{}", coturn.port);
    let tls = format!("127.0.0.1:{}", coturn.tls_port.unwrap());
    let ca_pem = ca.ca.to_str().unwrap();
    let wrong = ["--user", "alice", "--pass", "wrong"];
    for target in [
        vec![plain.as_str()],
        vec![&plain, "--transport", "tcp"],
        vec![&tls, "--transport", "tls", "--ca", ca_pem],
    ] {
        let mut args = target.clone();
        args.extend(wrong);
        let took = floe_turn_fails(&args, "rejected the credentials");
        assert!(took < Duration::from_secs(5), "{args:?} took {took:?}");
    }
    let good = ["--user", "alice", "--pass", "secret", "--timeout", "3"];
    // Our CA is not among the system's roots.
    let mut args = vec![tls.as_str(), "--transport", "tls"];
    args.extend(good);
    floe_turn_fails(&args, "TLS: handshake with TURN server");
    // The certificate is for localhost and 127.0.0.1 only.
    let mut args = vec![tls.as_str(), "--transport", "tls", "--ca", ca_pem];
    args.extend(["--server-name", "turn.example.org"]);
    args.extend(good);
    floe_turn_fails(&args, "not valid for name");
    // A CA file that is not PEM.
    let mut args = vec![tls.as_str(), "--transport", "tls", "--ca", "/dev/null"];
    args.extend(good);
    floe_turn_fails(&args, "no PEM certificate");
    // turns: and --transport tcp disagree.
    let turns = format!("turns:{tls}");
    let mut args = vec![turns.as_str(), "--transport", "tcp"];
    args.extend(good);
    floe_turn_fails(&args, "not tcp");
}

#[test]
fn floe_turn_unreachable_server_fails_fast() {
    // A port nothing listens on: TCP and TLS are refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let auth = ["--user", "alice", "--pass", "secret"];
    for transport in ["tcp", "tls"] {
        let mut args = vec![closed.as_str(), "--transport", transport];
        args.extend(auth);
        let took = floe_turn_fails(&args, "cannot connect to TURN server 127.0.0.1:");
        assert!(took < Duration::from_secs(2), "{transport} took {took:?}");
    }
    // UDP cannot tell: it times out.
    let mut args = vec![closed.as_str(), "--timeout", "1"];
    args.extend(auth);
    let took = floe_turn_fails(&args, "timed out waiting for TURN server 127.0.0.1:");
    assert!(took < Duration::from_secs(3), "udp took {took:?}");
    // --json adds an error object on stdout.
    let mut args = vec![closed.as_str(), "--transport", "tcp", "--json"];
    args.extend(auth);
    let mut all = vec!["turn"];
    all.extend(args);
    let out = run(FLOE, &all, Duration::from_secs(30));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["event"], "error", "{v}");
}

#[test]
fn turn_tools_library_against_coturn() {
    if !coturn_installed() {
        return;
    }
    let ca = TestCa::new();
    let coturn = Coturn::start_tls(&["127.0.0.1"], &ca);
    let echo = echo_peer();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let plain: SocketAddr = ([127, 0, 0, 1], coturn.port).into();
        let tls: SocketAddr = ([127, 0, 0, 1], coturn.tls_port.unwrap()).into();

        let mut opts = TurnOptions::new(tls, TurnTransport::Tls, "alice", "secret");
        opts.ca_files = vec![ca.ca.clone()];
        opts.server_name = Some("localhost".into());
        let info = allocate_once(&opts).await.unwrap();
        assert_eq!(info.transport, TurnTransport::Tls);
        assert_eq!(info.mapped, Some(info.local));
        assert!(info.connect_time <= info.allocate_time);

        let opts = TurnOptions::new(plain, TurnTransport::Tcp, "alice", "secret");
        let mut session = TurnSession::allocate(&opts).await.unwrap();
        for channel in [false, true] {
            let reply = session.echo(echo.addr, b"hello", channel).await.unwrap();
            assert_eq!(reply.data, b"hello");
            assert_eq!(reply.peer, echo.addr);
            assert_eq!(reply.channel.is_some(), channel);
        }
        session.close().await.unwrap();
    });
}
