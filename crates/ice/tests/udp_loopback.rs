//! Two agents on real UDP sockets on 127.0.0.1, driven by a tiny single-threaded loop: transmits
//! go out with `send_to`, datagrams come in with `recv_from` (short read timeouts), timers fire
//! when `poll_timeout` passes, and candidates trickle directly between the agents in-process.
//! Both must connect within 5 s of wall time and carry an application datagram each way.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use floe_ice::*;

/// The whole test gives up after this much wall time.
const BUDGET: Duration = Duration::from_secs(5);
/// Upper bound on loop iterations, in case the clock misbehaves.
const MAX_ITERATIONS: usize = 100_000;

struct Side {
    agent: IceAgent,
    socket: UdpSocket,
    addr: SocketAddr,
    states: Vec<IceConnectionState>,
    received: Vec<Vec<u8>>,
}

impl Side {
    fn new(controlling: bool, seed: u64, now: Instant) -> Side {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        socket
            .set_read_timeout(Some(Duration::from_millis(1)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let config = AgentConfig {
            controlling,
            ..AgentConfig::default()
        };
        let mut agent = IceAgent::new(config, now, seed);
        agent.add_local_socket(now, addr);
        Side {
            agent,
            socket,
            addr,
            states: Vec::new(),
            received: Vec::new(),
        }
    }

    fn connected(&self) -> bool {
        matches!(
            self.agent.connection_state(),
            IceConnectionState::Connected | IceConnectionState::Completed
        )
    }

    /// Sends every queued transmit; returns the candidates signalling to trickle to the peer.
    fn flush(&mut self) -> Vec<Option<Candidate>> {
        let mut buf = [0u8; 1500];
        for _ in 0..10_000 {
            let Some(t) = self.agent.poll_transmit(&mut buf) else {
                break;
            };
            assert_eq!(t.source, self.addr, "transmit from a socket we do not have");
            self.socket.send_to(&buf[..t.len], t.destination).unwrap();
        }
        let mut trickle = Vec::new();
        for _ in 0..10_000 {
            let Some(e) = self.agent.poll_event() else {
                break;
            };
            match e {
                IceEvent::LocalCandidate(c) => trickle.push(Some(c)),
                IceEvent::EndOfCandidates => trickle.push(None),
                IceEvent::ConnectionStateChange(s) => self.states.push(s),
                _ => {}
            }
        }
        trickle
    }

    /// Reads what has arrived (waiting at most the read timeout once).
    fn receive(&mut self) {
        let mut buf = [0u8; 2048];
        for _ in 0..1_000 {
            match self.socket.recv_from(&mut buf) {
                Ok((len, from)) => {
                    let now = Instant::now();
                    let verdict = self
                        .agent
                        .handle_datagram(now, self.addr, from, &buf[..len]);
                    if verdict == Verdict::ApplicationData {
                        self.received.push(buf[..len].to_vec());
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return,
                Err(e) => panic!("recv_from: {e}"),
            }
        }
    }

    fn timers(&mut self) {
        let now = Instant::now();
        if self.agent.poll_timeout().is_some_and(|t| t <= now) {
            self.agent.handle_timeout(now);
        }
    }
}

fn trickle(to: &mut Side, signalling: Vec<Option<Candidate>>) {
    let now = Instant::now();
    for c in signalling {
        match c {
            Some(c) => to.agent.add_remote_candidate(now, c).unwrap(),
            None => to.agent.add_remote_end_of_candidates(now),
        }
    }
}

#[test]
fn two_agents_connect_over_udp_loopback_and_exchange_data() {
    let start = Instant::now();
    let mut a = Side::new(true, 11, start);
    let mut b = Side::new(false, 22, start);
    let (ca, cb) = (
        a.agent.local_credentials().clone(),
        b.agent.local_credentials().clone(),
    );
    a.agent.set_remote_credentials(start, &cb.ufrag, &cb.pwd);
    b.agent.set_remote_credentials(start, &ca.ufrag, &ca.pwd);
    a.agent.start_gathering(start);
    b.agent.start_gathering(start);

    let payloads: [&[u8]; 2] = [b"\x80hello from a", b"\x80hello from b"];
    let mut sent = [false, false];
    let mut connected_at = [None, None];
    let mut iterations = 0;
    while start.elapsed() < BUDGET && iterations < MAX_ITERATIONS {
        iterations += 1;
        let from_a = a.flush();
        trickle(&mut b, from_a);
        let from_b = b.flush();
        trickle(&mut a, from_b);
        // Trickling may have queued work on either side.
        let from_a = a.flush();
        trickle(&mut b, from_a);

        for (i, side) in [&mut a, &mut b].into_iter().enumerate() {
            if side.connected() && connected_at[i].is_none() {
                connected_at[i] = Some(start.elapsed());
            }
            if side.connected() && !sent[i] {
                let mut buf = [0u8; 64];
                let t = side.agent.send(payloads[i], &mut buf).unwrap();
                assert_eq!(t.source, side.addr);
                side.socket.send_to(&buf[..t.len], t.destination).unwrap();
                sent[i] = true;
            }
        }
        if !a.received.is_empty() && !b.received.is_empty() {
            break;
        }
        a.receive();
        b.receive();
        a.timers();
        b.timers();
    }
    let elapsed = start.elapsed();
    println!(
        "after {elapsed:?} ({iterations} iterations): connected at {connected_at:?}; \
         states a {:?}, b {:?}",
        a.states, b.states
    );
    assert!(a.connected(), "a is {:?}", a.agent.connection_state());
    assert!(b.connected(), "b is {:?}", b.agent.connection_state());
    assert!(elapsed < BUDGET, "took {elapsed:?}");
    assert_eq!(a.agent.selected_path(), Some((a.addr, b.addr)));
    assert_eq!(b.agent.selected_path(), Some((b.addr, a.addr)));
    assert_eq!(a.received, vec![payloads[1].to_vec()]);
    assert_eq!(b.received, vec![payloads[0].to_vec()]);
}
