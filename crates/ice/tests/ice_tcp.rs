//! ICE over TCP (RFC 6544) at the agent level: candidates, pairing, connections, framed
//! checks, data and consent, and hostile connections. Two agents run on the in-memory
//! network of `stream_net`; single-agent tests play the peer by hand.

mod stream_net;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use floe_ice::framing::{frame_into, FrameDecoder};
use floe_ice::{
    AgentConfig, Candidate, CandidateKind, IceAgent, IceConnectionState, IceError, PairState,
    StreamCommand, TcpType, MAX_ACCEPTED,
};
use floe_stun::attributes::{IceControlled, Priority, Username};
use floe_stun::{IntegrityKey, Message, MessageType, MessageWriter, TransactionId};
use stream_net::{StreamNet, MS};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const PEER_UFRAG: &str = "peer";
const PEER_PWD: &str = "peer-password-0123456789";

/// An agent with ICE-TCP on, a UDP socket 10.0.0.1:5000 (when `udp`) and a listener
/// 10.0.0.1:7000 (when `listener`), gathering, with the peer's credentials.
fn agent(udp: bool, listener: bool) -> (IceAgent, Instant) {
    let now = Instant::now();
    let config = AgentConfig {
        controlling: true,
        ice_tcp: true,
        ..AgentConfig::default()
    };
    let mut a = IceAgent::new(config, now, [3; 32]);
    if udp {
        a.add_local_socket(now, addr("10.0.0.1:5000"));
    }
    if listener {
        a.add_local_tcp_listener(now, addr("10.0.0.1:7000"));
    }
    a.start_gathering(now);
    a.set_remote_credentials(now, PEER_UFRAG, PEER_PWD);
    (a, now)
}

fn remote(address: &str, tcp_type: Option<TcpType>, priority: u32) -> Candidate {
    Candidate {
        kind: CandidateKind::Host,
        address: addr(address),
        base: None,
        priority,
        foundation: format!("r{}", tcp_type.map_or("udp", |t| t.sdp_name())),
        component: 1,
        tcp_type,
    }
}

fn local_pref(priority: u32) -> u32 {
    (priority >> 8) & 0xffff
}

#[test]
fn tcp_candidates_are_gathered_with_rfc6544_priorities_and_port_9() {
    let (a, _) = agent(true, true);
    let cands = a.local_candidates();
    let udp = cands.iter().find(|c| c.tcp_type.is_none()).unwrap();
    let active = cands
        .iter()
        .find(|c| c.tcp_type == Some(TcpType::Active))
        .unwrap();
    let passive = cands
        .iter()
        .find(|c| c.tcp_type == Some(TcpType::Passive))
        .unwrap();
    // RFC 6544 §4.5: an active candidate is signalled with port 9; tcptype in the SDP.
    assert_eq!(active.address, addr("10.0.0.1:9"));
    assert_eq!(passive.address, addr("10.0.0.1:7000"));
    assert_eq!(
        active.to_sdp_string(),
        format!(
            "candidate:{} 1 tcp {} 10.0.0.1 9 typ host tcptype active",
            active.foundation, active.priority
        )
    );
    assert!(passive
        .to_sdp_string()
        .ends_with("7000 typ host tcptype passive"));
    // RFC 6544 §4.2: local preference = 2^13 · direction-pref + other-pref (one address: 8191).
    assert_eq!(local_pref(active.priority), (6 << 13) + 8191);
    assert_eq!(local_pref(passive.priority), (4 << 13) + 8191);
    // Active and passive have distinct foundations, distinct from UDP's.
    assert_ne!(active.foundation, passive.foundation);
    assert_ne!(active.foundation, udp.foundation);
    // UDP outranks TCP.
    assert!(udp.priority > active.priority && udp.priority > passive.priority);
}

#[test]
fn ice_tcp_off_gathers_no_tcp_and_refuses_tcp_candidates() {
    let now = Instant::now();
    let mut a = IceAgent::new(AgentConfig::default(), now, [3; 32]);
    a.add_local_socket(now, addr("10.0.0.1:5000"));
    a.add_local_tcp_listener(now, addr("10.0.0.1:7000"));
    a.start_gathering(now);
    assert!(a.local_candidates().iter().all(|c| c.tcp_type.is_none()));
    let refused =
        a.add_remote_candidate(now, remote("10.0.0.2:7000", Some(TcpType::Passive), 1000));
    assert!(matches!(refused, Err(IceError::InvalidCandidate(_))));
    assert!(a
        .handle_stream_accepted(now, addr("10.0.0.1:7000"), addr("10.0.0.2:40000"))
        .is_err());
    assert_eq!(a.poll_stream_command(), None);
}

#[test]
fn tcp_pairs_form_active_with_passive_only() {
    let (mut a, now) = agent(true, true);
    for (address, tcp_type) in [
        ("10.0.0.2:5000", None),
        ("10.0.0.2:9", Some(TcpType::Active)),
        ("10.0.0.2:7000", Some(TcpType::Passive)),
        ("10.0.0.2:7001", Some(TcpType::SimultaneousOpen)),
        ("[2001:db8::2]:7000", Some(TcpType::Passive)),
    ] {
        a.add_remote_candidate(now, remote(address, tcp_type, 1000))
            .unwrap();
    }
    let locals = a.local_candidates().to_vec();
    let remotes = a.remote_candidates().to_vec();
    let mut seen = Vec::new();
    for p in a.pairs() {
        let l = &locals[p.local_candidate_index()];
        let r = &remotes[p.remote_candidate_index()];
        seen.push((l.tcp_type, r.tcp_type));
        assert_eq!(p.tcp_type(), l.tcp_type);
        assert_eq!(l.address.is_ipv4(), r.address.is_ipv4());
    }
    seen.sort_by_key(|s| format!("{s:?}"));
    assert_eq!(
        seen,
        vec![
            (None, None),
            (Some(TcpType::Active), Some(TcpType::Passive)),
            (Some(TcpType::Passive), Some(TcpType::Active)),
        ]
    );
}

/// Takes everything the agent has to send: (transmit, bytes, on a stream).
fn drain(a: &mut IceAgent) -> Vec<(floe_ice::Transmit, Vec<u8>, bool)> {
    let mut buf = [0u8; 1500];
    let mut out = Vec::new();
    while let Some(t) = a.poll_transmit(&mut buf).unwrap() {
        let stream = t.ice_tcp;
        out.push((t, buf[..t.len].to_vec(), stream));
    }
    out
}

#[test]
fn checks_over_tcp_are_framed_and_sent_once() {
    let (mut a, mut now) = agent(false, true);
    let peer = addr("10.0.0.2:7000");
    a.add_remote_candidate(now, remote("10.0.0.2:7000", Some(TcpType::Passive), 1000))
        .unwrap();
    for _ in 0..4 {
        now += 25 * MS;
        a.handle_timeout(now);
    }
    let active = addr("10.0.0.1:9");
    assert_eq!(
        a.poll_stream_command(),
        Some(StreamCommand::Connect {
            local: active,
            remote: peer
        })
    );
    // Nothing goes out before the connection is open.
    assert!(drain(&mut a).is_empty());
    let bound = addr("10.0.0.1:40001");
    a.handle_stream_connected(now, active, peer, bound);
    let sent = drain(&mut a);
    assert_eq!(sent.len(), 1);
    let (t, bytes, stream) = &sent[0];
    assert!(stream);
    assert_eq!((t.source, t.destination), (bound, peer));
    // RFC 4571: a 16-bit length, then a STUN Binding request.
    let mut decoder = FrameDecoder::new();
    decoder.push(bytes).unwrap();
    let frame = decoder.next_frame().unwrap().to_vec();
    assert_eq!(frame.len() + 2, bytes.len());
    let msg = Message::decode(&frame).unwrap();
    assert_eq!(msg.message_type(), MessageType::BINDING_REQUEST);
    // Sent once: no retransmission over a reliable transport (RFC 8489 §6.2.2).
    for _ in 0..100 {
        now += 300 * MS;
        a.handle_timeout(now);
        assert!(drain(&mut a).iter().all(|(_, _, s)| !s));
    }
    // ... and it times out after Ti = 39.5 s.
    now += Duration::from_secs(10);
    a.handle_timeout(now);
    assert_eq!(a.pairs()[0].state(), PairState::Failed);
}

#[test]
fn a_passive_pair_sends_no_check_until_the_peer_connects() {
    let (mut a, mut now) = agent(false, true);
    a.add_remote_candidate(now, remote("10.0.0.2:9", Some(TcpType::Active), 1000))
        .unwrap();
    assert!(a
        .pairs()
        .iter()
        .any(|p| p.tcp_type() == Some(TcpType::Passive)));
    for _ in 0..100 {
        now += 25 * MS;
        a.handle_timeout(now);
    }
    // Our active candidate has no passive one to pair with; the passive pair waits.
    assert_eq!(a.poll_stream_command(), None);
    assert!(drain(&mut a).is_empty());
}

#[test]
fn agents_connect_over_tcp_only() {
    let mut net = StreamNet::new(false, true);
    net.start();
    net.run_for(Duration::from_secs(3));
    for i in 0..2 {
        assert!(
            net.connected(i),
            "agent {i} not connected: {:?}",
            net.events[i]
        );
        let pair = net.agents[i].selected_pair().unwrap();
        assert!(pair.tcp_type().is_some());
        // RFC 6544 §7.1 in floe: no peer-reflexive local candidate from a TCP check's
        // mapped address (an ephemeral port nothing can connect to).
        assert!(net.agents[i]
            .local_candidates()
            .iter()
            .all(|c| c.kind != CandidateKind::PeerReflexive));
        // Both roles: each agent opened a connection and accepted one.
        assert!(
            net.connects[i] >= 1 && net.accepts[i] >= 1,
            "{:?} {:?}",
            net.connects,
            net.accepts
        );
    }
    net.send(0, b"ping over tcp");
    net.send(1, b"pong over tcp");
    net.run_for(Duration::from_millis(50));
    assert_eq!(net.received[1], vec![b"ping over tcp".to_vec()]);
    assert_eq!(net.received[0], vec![b"pong over tcp".to_vec()]);
}

#[test]
fn connections_of_pairs_not_selected_are_closed_once_a_pair_is_selected() {
    // TCP only: each agent opens one connection and accepts one; one pair is selected.
    let mut net = StreamNet::new(false, true);
    net.start();
    net.run_for(Duration::from_secs(3));
    assert!(net.connected(0) && net.connected(1));
    assert_eq!((net.connects, net.accepts), ([1, 1], [1, 1]));
    assert_eq!(net.conns.len(), 1, "{:?}", net.conns);
    // The one left is the selected pair's, on both sides, and it keeps working well past
    // consent's 30 s without a connection reopened.
    net.run_for(Duration::from_secs(40));
    assert_eq!(net.conns.len(), 1);
    assert_eq!(net.connects, [1, 1]);
    net.send(0, b"on the one connection left");
    net.send(1, b"and back");
    net.run_for(Duration::from_millis(50));
    assert_eq!(
        net.received[1],
        vec![b"on the one connection left".to_vec()]
    );
    assert_eq!(net.received[0], vec![b"and back".to_vec()]);

    // UDP and TCP: the UDP pair is selected and no TCP connection stays open.
    let mut net = StreamNet::new(true, true);
    net.start();
    net.run_for(Duration::from_secs(3));
    assert!(net.connected(0) && net.connected(1));
    assert_eq!(net.agents[0].selected_pair().unwrap().tcp_type(), None);
    assert!(net.conns.is_empty(), "{:?}", net.conns);
}

#[test]
fn a_lite_agent_accepts_tcp_and_is_reached_over_it() {
    let mut net = StreamNet::with_answerer(false, true, true);
    net.start();
    // The lite agent never checks, so it offers its passive candidate and no active one.
    let lite_tcp: Vec<_> = net.agents[1]
        .local_candidates()
        .iter()
        .filter_map(|c| c.tcp_type)
        .collect();
    assert_eq!(lite_tcp, vec![TcpType::Passive]);
    net.run_for(Duration::from_secs(3));
    for i in 0..2 {
        assert!(net.connected(i), "agent {i}: {:?}", net.events[i]);
        assert!(net.agents[i].selected_pair().unwrap().tcp_type().is_some());
    }
    // One connection, opened by the full agent; the lite agent opened none.
    assert_eq!((net.connects, net.accepts), ([1, 0], [0, 1]));
    // Consent holds over the connection: the lite agent hears the full agent's checks.
    net.run_for(Duration::from_secs(40));
    assert!(net.connected(0) && net.connected(1));
    net.send(0, b"to the lite agent");
    net.send(1, b"and back");
    net.run_for(Duration::from_millis(50));
    assert_eq!(net.received[1], vec![b"to the lite agent".to_vec()]);
    assert_eq!(net.received[0], vec![b"and back".to_vec()]);
}

#[test]
fn an_ice_restart_over_tcp_reconnects_with_new_credentials_on_one_connection() {
    let mut net = StreamNet::new(false, true);
    net.start();
    net.run_for(Duration::from_secs(3));
    assert!(net.connected(0) && net.connected(1));
    let old = [0, 1].map(|i| net.agents[i].local_credentials().clone());
    // Both sides restart (a new offer and its answer) and learn each other's new credentials;
    // the new candidates trickle through the harness.
    let now = net.now;
    for i in 0..2 {
        net.agents[i].restart(now);
    }
    let new = [0, 1].map(|i| net.agents[i].local_credentials().clone());
    for i in 0..2 {
        assert_ne!(new[i], old[i]);
        net.agents[i].set_remote_credentials(now, &new[1 - i].ufrag, &new[1 - i].pwd);
    }
    net.run_for(Duration::from_secs(3));
    for i in 0..2 {
        assert!(
            net.connected(i),
            "agent {i} after the restart: {:?}",
            net.events[i]
        );
        assert!(net.agents[i].selected_pair().unwrap().tcp_type().is_some());
    }
    // The path is one connection again, and it carries data both ways.
    assert_eq!(net.conns.len(), 1, "{:?}", net.conns);
    net.send(0, b"after the restart");
    net.send(1, b"here too");
    net.run_for(Duration::from_millis(50));
    assert_eq!(net.received[1], vec![b"after the restart".to_vec()]);
    assert_eq!(net.received[0], vec![b"here too".to_vec()]);
}

#[test]
fn a_pair_that_succeeded_on_the_peers_connection_is_nominated_without_opening_another() {
    // The controlled agent is quicker: its connection and check reach the controlling agent
    // before the controlling agent has its candidates (as seen with floe call/answer over
    // loopback), and the controlling agent's triggered check on that connection is on its way.
    let mut net = StreamNet::new(false, true);
    net.hold_candidates[0] = true;
    net.start();
    net.run_for(Duration::from_micros(1500));
    assert_eq!((net.connects, net.accepts), ([0, 1], [1, 0]));
    let states: Vec<PairState> = net.agents[0].pairs().iter().map(|p| p.state()).collect();
    assert_eq!(states, vec![PairState::InProgress]);
    // Its candidates arrive before the answer: a better pair (our active candidate to its
    // passive one) forms, but it is the same path as the one in flight, opened from the other
    // end. Once the triggered check succeeds nothing is worth waiting for: that pair is
    // nominated, and no second connection is opened.
    net.release_candidates();
    net.run_for(Duration::from_secs(3));
    assert!(net.connected(0) && net.connected(1));
    assert_eq!(net.connects, [0, 1]);
    assert_eq!(
        net.agents[0].selected_pair().unwrap().tcp_type(),
        Some(TcpType::Passive)
    );
}

#[test]
fn udp_is_selected_when_udp_and_tcp_both_work() {
    let mut net = StreamNet::new(true, true);
    net.start();
    net.run_for(Duration::from_secs(3));
    for i in 0..2 {
        assert!(net.connected(i));
        assert_eq!(net.agents[i].selected_pair().unwrap().tcp_type(), None);
    }
}

#[test]
fn tcp_is_selected_when_udp_is_blocked() {
    let mut net = StreamNet::new(true, true);
    net.udp_blocked = true;
    net.start();
    net.run_for(Duration::from_secs(10));
    for i in 0..2 {
        assert!(net.connected(i), "agent {i}: {:?}", net.events[i]);
        assert!(net.agents[i].selected_pair().unwrap().tcp_type().is_some());
    }
}

#[test]
fn consent_over_tcp_keeps_the_pair_alive_past_30_s() {
    let mut net = StreamNet::new(false, true);
    net.start();
    net.run_for(Duration::from_secs(60));
    for i in 0..2 {
        assert!(net.connected(i));
        assert!(matches!(
            net.agents[i].connection_state(),
            IceConnectionState::Connected | IceConnectionState::Completed
        ));
        assert!(net.agents[i].selected_pair().unwrap().stats().requests_sent >= 8);
    }
    net.send(0, b"still here");
    net.run_for(Duration::from_millis(50));
    assert_eq!(net.received[1], vec![b"still here".to_vec()]);
}

#[test]
fn stream_bytes_split_and_coalesced_still_connect() {
    let mut net = StreamNet::new(false, true);
    net.chunked = true;
    net.start();
    net.run_for(Duration::from_secs(3));
    assert!(net.connected(0) && net.connected(1));
    let big = vec![0x42u8; 1200];
    net.send(0, &big);
    net.send(0, b"second");
    net.run_for(Duration::from_millis(50));
    assert_eq!(net.received[1], vec![big, b"second".to_vec()]);
}

/// A framed check from the peer, signed with `pwd`.
fn framed_check(a: &IceAgent, pwd: &str) -> Vec<u8> {
    let mut buf = [0u8; 548];
    let username = format!("{}:{}", a.local_credentials().ufrag, PEER_UFRAG);
    let mut w = MessageWriter::new(
        &mut buf,
        MessageType::BINDING_REQUEST,
        TransactionId::new([9; 12]),
    )
    .unwrap();
    w.add(&Username(&username)).unwrap();
    w.add(&Priority(1000)).unwrap();
    w.add(&IceControlled(1)).unwrap();
    w.add_message_integrity(&IntegrityKey::short_term(pwd))
        .unwrap();
    w.add_fingerprint().unwrap();
    let len = w.finish();
    let mut out = vec![0u8; len + 2];
    frame_into(&buf[..len], &mut out).unwrap();
    out
}

#[test]
fn an_accepted_connection_sending_garbage_is_closed() {
    let listener = addr("10.0.0.1:7000");
    type Garbage = Box<dyn Fn(&IceAgent) -> Vec<u8>>;
    let cases: Vec<Garbage> = vec![
        // Not STUN.
        Box::new(|_| {
            let mut out = vec![0u8; 12];
            frame_into(b"0123456789", &mut out).unwrap();
            out
        }),
        // A check whose MESSAGE-INTEGRITY fails.
        Box::new(|a| framed_check(a, "not-the-password-at-all")),
    ];
    for (n, case) in cases.iter().enumerate() {
        let (mut a, now) = agent(false, true);
        let from = addr("10.0.0.2:40000");
        a.handle_stream_accepted(now, listener, from).unwrap();
        let bytes = case(&a);
        assert!(
            a.handle_stream_data(now, listener, from, &bytes).is_err(),
            "case {n}"
        );
        assert_eq!(
            a.poll_stream_command(),
            Some(StreamCommand::Close {
                local: listener,
                remote: from
            })
        );
        assert!(drain(&mut a).is_empty(), "case {n}: nothing answered");
        // Gone: later bytes are not taken as ICE-TCP.
        assert!(a.handle_stream_data(now, listener, from, &bytes).is_ok());
        assert!(drain(&mut a).is_empty());
    }
}

/// The STUN message types in framed stream bytes.
fn framed_types(bytes: &[u8]) -> Vec<MessageType> {
    let mut decoder = FrameDecoder::new();
    decoder.push(bytes).unwrap();
    let mut types = Vec::new();
    while let Some(frame) = decoder.next_frame() {
        types.push(Message::decode(frame).unwrap().message_type());
    }
    types
}

#[test]
fn a_check_on_an_accepted_connection_is_answered_and_triggers_ours_on_it() {
    let (mut a, mut now) = agent(false, true);
    let (listener, from) = (addr("10.0.0.1:7000"), addr("10.0.0.2:40000"));
    a.handle_stream_accepted(now, listener, from).unwrap();
    let good = framed_check(&a, &a.local_credentials().pwd.clone());
    a.handle_stream_data(now, listener, from, &good).unwrap();
    let mut types = Vec::new();
    for _ in 0..4 {
        for (t, bytes, stream) in drain(&mut a) {
            // RFC 6544 §7.2: the answer and our triggered check go on the same connection.
            assert!(stream && (t.source, t.destination) == (listener, from));
            types.extend(framed_types(&bytes));
        }
        now += 25 * MS;
        a.handle_timeout(now);
    }
    assert_eq!(
        types,
        vec![MessageType::BINDING_SUCCESS, MessageType::BINDING_REQUEST]
    );
    // The peer that connected is a peer-reflexive active candidate.
    let prflx = a
        .remote_candidates()
        .iter()
        .find(|c| c.address == from)
        .unwrap();
    assert_eq!(prflx.tcp_type, Some(TcpType::Active));
    assert_eq!(prflx.kind, CandidateKind::PeerReflexive);
    assert_eq!(a.poll_stream_command(), None);
}

#[test]
fn a_silent_accepted_connection_is_closed_after_10_s() {
    let (mut a, now) = agent(false, true);
    let (listener, from) = (addr("10.0.0.1:7000"), addr("10.0.0.2:40000"));
    a.handle_stream_accepted(now, listener, from).unwrap();
    assert!(a
        .poll_timeout()
        .is_some_and(|t| t <= now + Duration::from_secs(10)));
    a.handle_timeout(now + Duration::from_secs(10));
    assert_eq!(
        a.poll_stream_command(),
        Some(StreamCommand::Close {
            local: listener,
            remote: from
        })
    );
}

#[test]
fn a_peer_opening_connections_past_the_limit_is_refused() {
    let (mut a, now) = agent(false, true);
    let listener = addr("10.0.0.1:7000");
    for port in 0..MAX_ACCEPTED as u16 {
        let from = SocketAddr::new(addr("10.0.0.2:1").ip(), 40000 + port);
        a.handle_stream_accepted(now, listener, from).unwrap();
    }
    assert_eq!(a.poll_stream_command(), None);
    let one_more = addr("10.0.0.2:50000");
    assert!(matches!(
        a.handle_stream_accepted(now, listener, one_more),
        Err(IceError::StreamRefused(_))
    ));
    assert_eq!(
        a.poll_stream_command(),
        Some(StreamCommand::Close {
            local: listener,
            remote: one_more
        })
    );
}

#[test]
fn stream_entry_points_take_any_bytes_without_panicking() {
    let (mut a, mut now) = agent(true, true);
    let listener = addr("10.0.0.1:7000");
    let mut seed = 1u64;
    for round in 0..200u16 {
        let from = SocketAddr::new(addr("10.0.0.2:1").ip(), 30000 + round % 20);
        let _ = a.handle_stream_accepted(now, listener, from);
        let mut bytes = Vec::new();
        for _ in 0..(round % 64) {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            bytes.push((seed >> 33) as u8);
        }
        let _ = a.handle_stream_data(now, listener, from, &bytes);
        if round % 7 == 0 {
            a.handle_stream_closed(now, listener, from);
        }
        a.handle_stream_connected(now, addr("10.0.0.1:9"), from, addr("10.0.0.1:40000"));
        now += 100 * MS;
        a.handle_timeout(now);
        while a.poll_stream_command().is_some() {}
        let _ = drain(&mut a);
    }
}

#[test]
fn a_connect_that_fails_or_never_opens_fails_the_pair() {
    for report_failure in [true, false] {
        let (mut a, mut now) = agent(false, true);
        let peer = addr("10.0.0.2:7000");
        a.add_remote_candidate(now, remote("10.0.0.2:7000", Some(TcpType::Passive), 1000))
            .unwrap();
        now += 25 * MS;
        a.handle_timeout(now);
        let Some(StreamCommand::Connect { local, remote }) = a.poll_stream_command() else {
            panic!("no connect");
        };
        assert_eq!(remote, peer);
        if report_failure {
            a.handle_stream_closed(now, local, remote);
            assert_eq!(a.poll_stream_command(), None);
        } else {
            // The runtime never answers: given up on after 10 s, and closed.
            now += Duration::from_secs(10);
            a.handle_timeout(now);
            assert_eq!(
                a.poll_stream_command(),
                Some(StreamCommand::Close { local, remote })
            );
        }
        assert_eq!(a.pairs()[0].state(), PairState::Failed);
    }
}

#[test]
fn closing_the_selected_connection_loses_the_selection() {
    let mut net = StreamNet::new(false, true);
    net.start();
    net.run_for(Duration::from_secs(3));
    assert!(net.connected(0) && net.connected(1));
    let now = net.now;
    // The runtime sees every connection close.
    for c in std::mem::take(&mut net.conns) {
        for (agent, local, remote) in c.ends {
            net.agents[agent].handle_stream_closed(now, local, remote);
        }
    }
    for i in 0..2 {
        assert!(!net.connected(i));
        assert_ne!(
            net.agents[i].connection_state(),
            IceConnectionState::Connected
        );
    }
}
