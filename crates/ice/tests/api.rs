//! The agent's output API: buffers and transmits.

mod wire;

use floe_ice::{AgentConfig, IceError, MIN_TRANSMIT_BUFFER};
use wire::*;

#[test]
fn poll_transmit_reports_a_too_small_buffer_and_keeps_the_datagram() {
    let mut w = Wire::new(AgentConfig {
        controlling: true,
        ..AgentConfig::default()
    });
    w.agent
        .add_remote_candidate(w.now, host(remote(), 0x7e00_00ff))
        .unwrap();
    let mut small = [0u8; 100];
    assert_eq!(
        w.agent.poll_transmit(&mut small),
        Err(IceError::BufferTooSmall)
    );
    // Nothing was lost: the first check comes out with a buffer of the documented size.
    let mut buf = vec![0u8; MIN_TRANSMIT_BUFFER];
    let t = w
        .agent
        .poll_transmit(&mut buf)
        .unwrap()
        .expect("the first check");
    assert_eq!(t.destination, remote());
}

#[test]
fn udp_and_tcp_relays_to_one_server_both_gather() {
    use floe_ice::{TurnServerConfig, TurnTransport};
    use floe_stun::{Message, Method};
    let server: std::net::SocketAddr = "192.0.2.20:3478".parse().unwrap();
    let turn = |transport| TurnServerConfig {
        server,
        transport,
        username: "user".into(),
        password: "pass".into(),
    };
    let w = Wire::new(AgentConfig {
        turn_servers: vec![turn(TurnTransport::Udp), turn(TurnTransport::Stream)],
        ..AgentConfig::default()
    });
    // One allocation per (base, server, transport): two Allocate requests to the one server.
    let allocates = w
        .sent
        .iter()
        .filter(|(t, b)| {
            t.destination == server
                && Message::decode(b).is_ok_and(|m| m.method() == Method::ALLOCATE)
        })
        .count();
    assert_eq!(allocates, 2);
}

/// Hands `from`'s new local candidates to `to`.
fn trickle(from: &mut floe_ice::IceAgent, to: &mut floe_ice::IceAgent, now: std::time::Instant) {
    while let Some(e) = from.poll_event() {
        if let floe_ice::IceEvent::LocalCandidate(c) = e {
            to.add_remote_candidate(now, c).unwrap();
        }
    }
}

/// A relay-only agent reaching floe-turn's server over a byte stream, a host-only peer, and
/// the server in process; returns them connected through the relay.
#[test]
fn closed_turn_stream_fails_its_pairs_and_clears_the_selection() {
    use std::net::SocketAddr;
    use std::time::Duration;

    use floe_ice::{
        IceAgent, IceConnectionState, PairState, TransportPolicy, TurnServerConfig, TurnTransport,
    };
    use floe_turn::{ServerConfig, ServerEvent, TurnServer};

    let server: SocketAddr = "192.0.2.20:3478".parse().unwrap();
    let relay: SocketAddr = "192.0.2.20:50000".parse().unwrap();
    let (a_base, b_base): (SocketAddr, SocketAddr) = (
        "10.0.0.1:5000".parse().unwrap(),
        "192.0.2.30:6000".parse().unwrap(),
    );
    let start = std::time::Instant::now();
    let mut turn = TurnServer::new(ServerConfig::new("floe.test", "user", "pass"), [9; 32]);
    let mut a = IceAgent::new(
        AgentConfig {
            controlling: true,
            transport_policy: TransportPolicy::Relay,
            turn_servers: vec![TurnServerConfig {
                server,
                transport: TurnTransport::Stream,
                username: "user".into(),
                password: "pass".into(),
            }],
            ..AgentConfig::default()
        },
        start,
        [1; 32],
    );
    let mut b = IceAgent::new(AgentConfig::default(), start, [2; 32]);
    a.add_local_socket(start, a_base);
    b.add_local_socket(start, b_base);
    let (ca, cb) = (a.local_credentials().clone(), b.local_credentials().clone());
    a.set_remote_credentials(start, &cb.ufrag, &cb.pwd);
    b.set_remote_credentials(start, &ca.ufrag, &ca.pwd);
    a.start_gathering(start);
    b.start_gathering(start);

    let mut now = start;
    let mut buf = vec![0u8; 1500];
    for _ in 0..400 {
        now += Duration::from_millis(5);
        a.handle_timeout(now);
        b.handle_timeout(now);
        turn.handle_timeout(now);
        // Candidates trickle both ways.
        trickle(&mut a, &mut b, now);
        trickle(&mut b, &mut a, now);
        while let Some(t) = a.poll_transmit(&mut buf).unwrap() {
            assert_eq!(t.destination, server);
            turn.handle_client(now, server, a_base, TurnTransport::Stream, &buf[..t.len]);
        }
        while let Some(t) = b.poll_transmit(&mut buf).unwrap() {
            turn.handle_peer(now, t.destination, b_base, &buf[..t.len]);
        }
        while let Some(e) = turn.poll_event() {
            if let ServerEvent::BindRelay {
                allocation, family, ..
            } = e
            {
                turn.relay_bound(now, allocation, family, Some(relay));
            }
        }
        while let Some(t) = turn.poll_transmit() {
            if t.destination == a_base {
                a.handle_stream_data(now, a_base, server, &t.payload)
                    .unwrap();
            } else {
                b.handle_datagram(now, b_base, t.source, &t.payload);
            }
        }
        if a.selected_path().is_some() && b.selected_path().is_some() {
            break;
        }
    }
    assert_eq!(
        a.selected_path().map(|p| p.0),
        Some(relay),
        "{:?}",
        a.connection_state()
    );
    // The stream to the server closes: the allocation and every pair on it are gone.
    a.handle_stream_closed(now, a_base, server);
    assert!(a.selected_pair().is_none());
    assert!(a.selected_path().is_none());
    assert!(a
        .pairs()
        .iter()
        .filter(|p| p.local_address() == relay)
        .all(|p| p.state() == PairState::Failed && !p.is_valid()));
    assert_eq!(a.connection_state(), IceConnectionState::Disconnected);
}
