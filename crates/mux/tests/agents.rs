//! Real floe-ice agents behind one shared socket: two ICE-lite agents (the server case) and two
//! full agents (which also query a STUN server through the shared socket), each with a full
//! controlling client on an address of its own, in an in-memory loop with virtual time.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use floe_ice::{
    AgentConfig, Candidate, CandidateKind, IceAgent, IceConnectionState, IceEvent,
    IceGatheringState, Verdict,
};
use floe_mux::{Mux, MuxConfig};
use floe_stun::{BindingServer, BindingServerConfig};

const STEP: Duration = Duration::from_millis(5);

fn shared() -> SocketAddr {
    "203.0.113.1:3478".parse().unwrap()
}

fn stun_server() -> SocketAddr {
    "192.0.2.100:3478".parse().unwrap()
}

fn client_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([198, 51, 100, 10 + i as u8], 50_000))
}

fn host(address: SocketAddr) -> Candidate {
    Candidate {
        kind: CandidateKind::Host,
        address,
        base: None,
        priority: 0x7e00_00ff,
        foundation: "1".into(),
        component: 1,
        tcp_type: None,
    }
}

fn connected(agent: &IceAgent) -> bool {
    matches!(
        agent.connection_state(),
        IceConnectionState::Connected | IceConnectionState::Completed
    )
}

/// One side of a session.
struct Peer {
    agent: IceAgent,
    /// Application data received.
    received: Vec<Vec<u8>>,
    gathered_at: Option<Instant>,
}

impl Peer {
    fn new(agent: IceAgent) -> Self {
        Self {
            agent,
            received: Vec::new(),
            gathered_at: None,
        }
    }
}

/// The server's sessions on the shared socket (session key = index), their clients, and a
/// STUN server.
struct Net {
    now: Instant,
    start: Instant,
    mux: Mux<usize>,
    servers: Vec<Option<Peer>>,
    clients: Vec<Peer>,
    stun: BindingServer,
    stun_answered: usize,
    /// (from, to, datagram), delivered in order.
    wire: VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>,
    /// The server application echoes the data it receives.
    echo: bool,
}

impl Net {
    /// `lite[i]`: whether server session `i` is ICE-lite.
    fn new(lite: &[bool]) -> Self {
        let now = Instant::now();
        let mut mux = Mux::new(MuxConfig::default());
        let mut servers = Vec::new();
        let mut clients = Vec::new();
        for (i, &lite) in lite.iter().enumerate() {
            let mut seed = [0u8; 32];
            seed[0] = i as u8;
            let config = AgentConfig {
                lite,
                stun_servers: if lite { vec![] } else { vec![stun_server()] },
                ..AgentConfig::default()
            };
            let mut server = IceAgent::new(config, now, seed);
            server.add_local_socket(now, shared());
            mux.insert(i, &server.local_credentials().ufrag).unwrap();
            seed[1] = 1;
            let mut client = IceAgent::new(
                AgentConfig {
                    controlling: true,
                    ..AgentConfig::default()
                },
                now,
                seed,
            );
            client.add_local_socket(now, client_addr(i));
            // Signalling, as an offer and answer would carry it.
            let (s, c) = (
                server.local_credentials().clone(),
                client.local_credentials().clone(),
            );
            client.set_remote_credentials(now, &s.ufrag, &s.pwd);
            server.set_remote_credentials(now, &c.ufrag, &c.pwd);
            client.set_remote_lite(now, lite);
            client.add_remote_candidate(now, host(shared())).unwrap();
            client.add_remote_end_of_candidates(now);
            server
                .add_remote_candidate(now, host(client_addr(i)))
                .unwrap();
            server.add_remote_end_of_candidates(now);
            server.start_gathering(now);
            client.start_gathering(now);
            servers.push(Some(Peer::new(server)));
            clients.push(Peer::new(client));
        }
        let stun = BindingServer::new(BindingServerConfig {
            software: None,
            primary: stun_server(),
            alternate: None,
        })
        .unwrap();
        let mut net = Net {
            now,
            start: now,
            mux,
            servers,
            clients,
            stun,
            stun_answered: 0,
            wire: VecDeque::new(),
            echo: true,
        };
        for i in 0..lite.len() {
            net.flush_server(i);
            net.flush_client(i);
        }
        net
    }

    /// What the server's driver does after every call into session `i`'s agent.
    fn flush_server(&mut self, i: usize) {
        let Some(peer) = self.servers[i].as_mut() else {
            return;
        };
        let mut buf = [0u8; 1500];
        while let Some(t) = peer.agent.poll_transmit(&mut buf).unwrap() {
            assert_eq!(
                t.source,
                shared(),
                "every session sends from the shared socket"
            );
            self.mux.on_transmit(i, t.destination, &buf[..t.len]);
            self.wire
                .push_back((t.source, t.destination, buf[..t.len].to_vec()));
        }
        while let Some(event) = peer.agent.poll_event() {
            match event {
                IceEvent::SelectedPairChange { remote, .. } => {
                    self.mux.learn_remote(i, remote.address)
                }
                IceEvent::GatheringStateChange(IceGatheringState::Complete) => {
                    peer.gathered_at = Some(self.now)
                }
                _ => {}
            }
        }
        // The application: echo what arrives.
        if self.echo {
            for payload in std::mem::take(&mut peer.received) {
                let mut out = [0u8; 1500];
                let t = peer.agent.send(&payload, &mut out).unwrap();
                self.wire
                    .push_back((t.source, t.destination, out[..t.len].to_vec()));
            }
        }
    }

    fn flush_client(&mut self, i: usize) {
        let peer = &mut self.clients[i];
        let mut buf = [0u8; 1500];
        while let Some(t) = peer.agent.poll_transmit(&mut buf).unwrap() {
            self.wire
                .push_back((t.source, t.destination, buf[..t.len].to_vec()));
        }
        while peer.agent.poll_event().is_some() {}
    }

    fn deliver(&mut self) {
        while let Some((from, to, bytes)) = self.wire.pop_front() {
            if to == shared() {
                let Some(i) = self.mux.route(from, &bytes) else {
                    continue;
                };
                let Some(peer) = self.servers[i].as_mut() else {
                    panic!("the mux routed to session {i}, which was removed");
                };
                let verdict = peer.agent.handle_datagram(self.now, shared(), from, &bytes);
                if verdict == Verdict::ApplicationData {
                    peer.received.push(bytes);
                }
                self.flush_server(i);
            } else if to == stun_server() {
                let mut out = [0u8; 512];
                if let Some(reply) = self.stun.handle(to, from, &bytes, &mut out) {
                    self.stun_answered += 1;
                    self.wire.push_back((
                        reply.source,
                        reply.destination,
                        out[..reply.len].to_vec(),
                    ));
                }
            } else if let Some(i) = (0..self.clients.len()).find(|&i| client_addr(i) == to) {
                let peer = &mut self.clients[i];
                let verdict = peer.agent.handle_datagram(self.now, to, from, &bytes);
                if verdict == Verdict::ApplicationData {
                    peer.received.push(bytes);
                }
                self.flush_client(i);
            }
        }
    }

    fn step(&mut self) {
        self.now += STEP;
        for i in 0..self.servers.len() {
            if let Some(peer) = self.servers[i].as_mut() {
                if peer.agent.poll_timeout().is_some_and(|t| t <= self.now) {
                    peer.agent.handle_timeout(self.now);
                }
                self.flush_server(i);
            }
            if self.clients[i]
                .agent
                .poll_timeout()
                .is_some_and(|t| t <= self.now)
            {
                self.clients[i].agent.handle_timeout(self.now);
            }
            self.flush_client(i);
        }
        self.deliver();
    }

    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Net) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            self.step();
            if done(self) {
                return true;
            }
        }
        false
    }

    fn all_connected(&self) -> bool {
        self.servers.iter().flatten().all(|p| connected(&p.agent))
            && self.clients.iter().all(|p| connected(&p.agent))
    }

    /// Each client sends one datagram of application data; returns what came back.
    fn echo_round(&mut self, tag: &str) -> Vec<Option<Vec<u8>>> {
        for i in 0..self.clients.len() {
            let mut out = [0u8; 1500];
            let payload = format!("{tag} from client {i}");
            let t = self.clients[i]
                .agent
                .send(payload.as_bytes(), &mut out)
                .unwrap();
            self.wire
                .push_back((t.source, t.destination, out[..t.len].to_vec()));
        }
        self.deliver();
        self.clients.iter_mut().map(|c| c.received.pop()).collect()
    }
}

#[test]
fn two_lite_and_two_full_agents_connect_through_one_mux() {
    let mut net = Net::new(&[true, true, false, false]);
    assert!(
        net.run_until(Duration::from_secs(5), Net::all_connected),
        "not connected: servers {:?}, clients {:?}",
        net.servers
            .iter()
            .flatten()
            .map(|p| p.agent.connection_state())
            .collect::<Vec<_>>(),
        net.clients
            .iter()
            .map(|p| p.agent.connection_state())
            .collect::<Vec<_>>(),
    );
    println!("connected after {:?}", net.now - net.start);
    // The full agents' STUN server queries went out on the shared socket and their responses
    // came back through the mux by transaction id: gathering completed well before the 3 s
    // gather timeout.
    assert_eq!(net.stun_answered, 2);
    for peer in net.servers[2..].iter().flatten() {
        let gathered = peer.gathered_at.expect("gathering completed") - net.start;
        assert!(gathered < Duration::from_secs(1), "{gathered:?}");
    }
    // Data goes by remote address, to the right session, and back.
    let echoes = net.echo_round("hello");
    for (i, echo) in echoes.iter().enumerate() {
        assert_eq!(
            echo.as_deref(),
            Some(format!("hello from client {i}").as_bytes())
        );
    }
    let stats = net.mux.stats();
    assert_eq!(stats.sessions, 4);
    assert_eq!(stats.remotes, 4, "one client address per session");
    assert_eq!(stats.dropped_unknown_ufrag, 0);
    assert_eq!(stats.dropped_unknown_remote, 0);
    assert_eq!(stats.dropped_malformed, 0);
    println!("{stats:?}");
}

#[test]
fn sessions_keep_consent_through_the_mux_and_leave_no_entry_when_removed() {
    let mut net = Net::new(&[true, true, false, false]);
    assert!(net.run_until(Duration::from_secs(5), Net::all_connected));
    // 40 s: past the 30 s consent timeout (RFC 7675) several times over for each side; the
    // lite agents answer the clients' consent checks, the full ones also send their own.
    let stayed = !net.run_until(Duration::from_secs(40), |n| !n.all_connected());
    assert!(stayed, "a session lost consent");
    println!(
        "still connected at {:?}: {:?}",
        net.now - net.start,
        net.mux.stats()
    );
    let stats = net.mux.stats();
    // Consent requests are answered: few transactions are pending at any moment.
    assert!(stats.transactions <= 4, "{stats:?}");
    assert_eq!(stats.dropped_unknown_remote, 0);

    // Session 0 ends (its agent closes, the driver forgets it): its client's traffic now goes
    // nowhere, counted, and no other session notices.
    let mut closing = net.servers[0].take().unwrap();
    closing.agent.close(net.now);
    net.mux.remove(0);
    let stats = net.mux.stats();
    assert_eq!((stats.sessions, stats.remotes), (3, 3));
    let echoes = net.echo_round("after");
    assert_eq!(echoes[0], None);
    for (i, echo) in echoes.iter().enumerate().skip(1) {
        assert_eq!(
            echo.as_deref(),
            Some(format!("after from client {i}").as_bytes())
        );
    }
    let dropped = net.mux.stats().dropped_unknown_remote;
    assert_eq!(dropped, 1);
    // Its client's consent checks now name an unknown ufrag and are dropped unanswered.
    net.run_until(Duration::from_secs(10), |_| false);
    assert!(net.mux.stats().dropped_unknown_ufrag > 0);
    assert!(net.servers[1..]
        .iter()
        .flatten()
        .all(|p| connected(&p.agent)));
    for i in 1..4 {
        net.mux.remove(i);
    }
    let stats = net.mux.stats();
    assert_eq!(
        (stats.sessions, stats.remotes, stats.transactions),
        (0, 0, 0)
    );
}
