//! Two floe ICE agents with the `relay` transport policy connect through a real TURN server on
//! loopback: coturn (`turnserver`), and floe's own `TurnServer` behind a small socket loop.
//! Real UDP sockets on 127.0.0.1, driven by the bounded loop of `udp_common`.
//!
//! Without `turnserver` on the PATH the coturn case is skipped with a message, or fails when
//! the `CI` environment variable is set.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use floe_ice::*;
use floe_turn::{ServerConfig, ServerEvent, Transport, TurnServer};

mod udp_common;
use udp_common::{run, Side};

// The TURN crate's tests own the one coturn launcher (and the realm it uses).
#[path = "../../turn/tests/common/mod.rs"]
mod turn_common;
use turn_common::{coturn, CoturnOptions, REALM};
/// The whole exchange gives up after this much wall time.
const BUDGET: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Servers

struct FloeGuard {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for FloeGuard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// floe's `TurnServer` behind non-blocking UDP sockets on loopback, in a thread.
fn floe_server() -> (SocketAddr, FloeGuard) {
    let mut config = ServerConfig::new(REALM, "alice", "secret");
    // The agents are on loopback, refused by default (RFC 8656 §21.4).
    config.allowed_peers = vec!["127.0.0.0/8".parse().unwrap()];
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_addr = udp.local_addr().unwrap();
    udp.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let thread = std::thread::spawn(move || {
        let mut server = TurnServer::new(config, [42; 32]);
        let mut relays: HashMap<SocketAddr, UdpSocket> = HashMap::new();
        let mut buf = vec![0u8; 65536];
        while !stop2.load(Ordering::Relaxed) {
            let now = Instant::now();
            let mut busy = false;
            while let Ok((n, from)) = udp.recv_from(&mut buf) {
                busy = true;
                server.handle_client(now, udp_addr, from, Transport::Udp, &buf[..n]);
            }
            for (relay, sock) in &relays {
                while let Ok((n, from)) = sock.recv_from(&mut buf) {
                    busy = true;
                    server.handle_peer(now, *relay, from, &buf[..n]);
                }
            }
            if server.poll_timeout().is_some_and(|t| t <= now) {
                server.handle_timeout(now);
            }
            while let Some(ev) = server.poll_event() {
                match ev {
                    ServerEvent::BindRelay {
                        allocation, family, ..
                    } => {
                        let bound = UdpSocket::bind("127.0.0.1:0").ok().map(|s| {
                            s.set_nonblocking(true).unwrap();
                            let a = s.local_addr().unwrap();
                            relays.insert(a, s);
                            a
                        });
                        server.relay_bound(now, allocation, family, bound);
                    }
                    ServerEvent::ReleaseRelay { relay } => {
                        relays.remove(&relay);
                    }
                }
            }
            while let Some(t) = server.poll_transmit() {
                busy = true;
                if t.source == udp_addr {
                    let _ = udp.send_to(&t.payload, t.destination);
                } else if let Some(sock) = relays.get(&t.source) {
                    let _ = sock.send_to(&t.payload, t.destination);
                }
            }
            if !busy {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    (
        udp_addr,
        FloeGuard {
            stop,
            thread: Some(thread),
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Agents

/// Runs two relay-only agents through the TURN server at `turn` until both delivered a
/// datagram; asserts relayed candidates on both ends of both selected pairs.
fn connect_through(turn: SocketAddr, transport: TurnTransport, name: &str) {
    let start = Instant::now();
    let config = |controlling| AgentConfig {
        controlling,
        transport_policy: TransportPolicy::Relay,
        turn_servers: vec![TurnServerConfig {
            server: turn,
            transport,
            username: "alice".into(),
            password: "secret".into(),
        }],
        ..AgentConfig::default()
    };
    let mut a = Side::new(config(true), 11, start);
    let mut b = Side::new(config(false), 22, start);
    let payloads: [&[u8]; 2] = [b"\x80hello from a", b"\x80hello from b"];
    let outcome = run(&mut a, &mut b, payloads, BUDGET);
    println!(
        "{name}: after {:?} ({} iterations): connected at {:?}; selected a {:?}, b {:?}",
        outcome.elapsed,
        outcome.iterations,
        outcome.connected_at,
        a.selected.as_ref().map(|(l, r)| format!("{l} -> {r}")),
        b.selected.as_ref().map(|(l, r)| format!("{l} -> {r}")),
    );
    for side in [&a, &b] {
        for c in &side.trickled {
            assert_eq!(c.kind, CandidateKind::Relayed, "{name}: policy relay: {c}");
        }
        assert!(
            side.connected(),
            "{name}: {:?}",
            side.agent.connection_state()
        );
        assert_eq!(
            side.sent_to,
            Some(turn),
            "relayed data goes to the TURN server"
        );
        let (local, remote) = side.selected.as_ref().expect("selected pair");
        assert_eq!(local.kind, CandidateKind::Relayed, "{name}: local {local}");
        assert_eq!(
            remote.kind,
            CandidateKind::Relayed,
            "{name}: remote {remote}"
        );
        assert!(side.relayed_in >= 1, "{name}: data came through the relay");
        assert_eq!(
            side.has_turn_stream(),
            transport == TurnTransport::Stream,
            "{name}: TCP to the server"
        );
    }
    assert_eq!(a.received, vec![payloads[1].to_vec()], "{name}");
    assert_eq!(b.received, vec![payloads[0].to_vec()], "{name}");

    // Closing deletes the allocations: the Refresh (LIFETIME 0) still goes out.
    let now = Instant::now();
    a.agent.close(now);
    let mut buf = [0u8; 1500];
    let t = a
        .agent
        .poll_transmit(&mut buf)
        .unwrap()
        .expect("deallocation after close");
    assert_eq!(t.destination, turn);
}

#[test]
fn relay_only_agents_connect_through_coturn() {
    let Some(coturn) = coturn(CoturnOptions::default()) else {
        return;
    };
    connect_through(coturn.addr, TurnTransport::Udp, "coturn");
}

#[test]
fn relay_only_agents_connect_through_coturn_over_tcp() {
    let Some(coturn) = coturn(CoturnOptions::default()) else {
        return;
    };
    connect_through(coturn.addr, TurnTransport::Stream, "coturn over TCP");
}

#[test]
fn relay_only_agents_connect_through_floe_turn_server() {
    let (server, _guard) = floe_server();
    connect_through(server, TurnTransport::Udp, "floe TurnServer");
}
