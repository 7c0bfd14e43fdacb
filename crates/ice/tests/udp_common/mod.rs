//! Two agents on real UDP sockets on 127.0.0.1, driven by a small single-threaded loop:
//! transmits go out with `send_to`, datagrams come in with `recv_from` (short read timeouts),
//! timers fire when `poll_timeout` passes, and candidates trickle directly between the agents.
//! A TURN server configured as a stream is reached over one TCP connection instead.
//! Shared by the test binaries that run agents over loopback.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use floe_ice::*;

/// Upper bound on loop iterations, in case the clock misbehaves.
const MAX_ITERATIONS: usize = 200_000;

/// One agent with its socket and what it saw.
pub struct Side {
    pub agent: IceAgent,
    pub socket: UdpSocket,
    pub addr: SocketAddr,
    pub states: Vec<IceConnectionState>,
    /// Every candidate it trickled to the peer.
    pub trickled: Vec<Candidate>,
    pub selected: Option<(Candidate, Candidate)>,
    /// Application payloads received, unwrapped from TURN framing where relayed.
    pub received: Vec<Vec<u8>>,
    /// How many of those came through a relay.
    pub relayed_in: usize,
    /// Where its own application datagram was sent.
    pub sent_to: Option<SocketAddr>,
    /// The TCP connection to a TURN server configured with `TurnTransport::Stream`.
    stream: Option<(SocketAddr, Option<TcpStream>)>,
}

impl Side {
    /// An agent with `config` on a fresh socket on 127.0.0.1.
    pub fn new(config: AgentConfig, seed: u8, now: Instant) -> Side {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        socket
            .set_read_timeout(Some(Duration::from_millis(1)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let stream = config
            .turn_servers
            .iter()
            .find(|t| t.transport == TurnTransport::Stream)
            .map(|t| (t.server, None));
        let mut agent = IceAgent::new(config, now, [seed; 32]);
        agent.add_local_socket(now, addr);
        Side {
            agent,
            socket,
            addr,
            states: Vec::new(),
            trickled: Vec::new(),
            selected: None,
            received: Vec::new(),
            relayed_in: 0,
            sent_to: None,
            stream,
        }
    }

    /// True while a TCP connection to a stream TURN server is open.
    #[allow(dead_code)] // Only the relay tests configure a stream TURN server.
    pub fn has_turn_stream(&self) -> bool {
        matches!(self.stream, Some((_, Some(_))))
    }

    /// Sends from our socket, or writes to the TURN stream when that is the destination
    /// (connected on first use).
    fn transmit(&mut self, bytes: &[u8], destination: SocketAddr) {
        match &mut self.stream {
            Some((server, conn)) if *server == destination => {
                let conn = conn.get_or_insert_with(|| {
                    let s = TcpStream::connect(destination).expect("connect to the TURN server");
                    s.set_nonblocking(true).unwrap();
                    s.set_nodelay(true).unwrap();
                    s
                });
                conn.set_nonblocking(false).unwrap();
                conn.write_all(bytes).expect("write to the TURN stream");
                conn.set_nonblocking(true).unwrap();
            }
            _ => {
                self.socket.send_to(bytes, destination).unwrap();
            }
        }
    }

    /// Feeds what the TURN stream has for us to the agent.
    fn receive_stream(&mut self) {
        let Some((server, Some(conn))) = &mut self.stream else {
            return;
        };
        let mut buf = [0u8; 4096];
        loop {
            match conn.read(&mut buf) {
                Ok(0) => {
                    self.agent
                        .handle_stream_closed(Instant::now(), self.addr, *server);
                    self.stream = None;
                    return;
                }
                Ok(n) => {
                    let now = Instant::now();
                    let server = *server;
                    self.agent
                        .handle_stream_data(now, self.addr, server, &buf[..n])
                        .expect("stream framing");
                    while let Some(data) = self.agent.poll_stream_data() {
                        self.relayed_in += 1;
                        self.received.push(data);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => panic!("TURN stream: {e}"),
            }
        }
    }

    pub fn connected(&self) -> bool {
        matches!(
            self.agent.connection_state(),
            IceConnectionState::Connected | IceConnectionState::Completed
        )
    }

    /// Sends every queued transmit; returns the candidates signalling to trickle to the peer.
    fn flush(&mut self) -> Vec<Option<Candidate>> {
        let mut buf = [0u8; 1500];
        for _ in 0..10_000 {
            let Some(t) = self.agent.poll_transmit(&mut buf).unwrap() else {
                break;
            };
            assert_eq!(t.source, self.addr, "transmit from a socket we do not have");
            self.transmit(&buf[..t.len], t.destination);
        }
        let mut trickle = Vec::new();
        for _ in 0..10_000 {
            let Some(e) = self.agent.poll_event() else {
                break;
            };
            match e {
                IceEvent::LocalCandidate(c) => {
                    self.trickled.push(c.clone());
                    trickle.push(Some(c));
                }
                IceEvent::EndOfCandidates => trickle.push(None),
                IceEvent::ConnectionStateChange(s) => self.states.push(s),
                IceEvent::SelectedPairChange { local, remote } => {
                    self.selected = Some((local, remote))
                }
                _ => {}
            }
        }
        trickle
    }

    /// Reads what has arrived (waiting at most the read timeout once).
    fn receive(&mut self) {
        self.receive_stream();
        let mut buf = [0u8; 2048];
        for _ in 0..1_000 {
            match self.socket.recv_from(&mut buf) {
                Ok((len, from)) => {
                    let now = Instant::now();
                    let verdict = self
                        .agent
                        .handle_datagram(now, self.addr, from, &buf[..len]);
                    if let Some(range) = verdict.payload_range(len) {
                        if matches!(verdict, Verdict::RelayedData { .. }) {
                            self.relayed_in += 1;
                        }
                        self.received.push(buf[range].to_vec());
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

    /// Sends `payload` once connected.
    fn send_once(&mut self, payload: &[u8]) {
        if self.sent_to.is_some() || !self.connected() {
            return;
        }
        let mut buf = [0u8; 128];
        let t = self.agent.send(payload, &mut buf).unwrap();
        assert_eq!(t.source, self.addr);
        self.transmit(&buf[..t.len], t.destination);
        self.sent_to = Some(t.destination);
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

/// What a run measured.
pub struct Outcome {
    pub elapsed: Duration,
    pub iterations: usize,
    pub connected_at: [Option<Duration>; 2],
}

/// Exchanges credentials, gathers, trickles and runs both agents until each received the other's
/// payload (sent once connected) or `budget` passes.
pub fn run(a: &mut Side, b: &mut Side, payloads: [&[u8]; 2], budget: Duration) -> Outcome {
    let start = Instant::now();
    let (ca, cb) = (
        a.agent.local_credentials().clone(),
        b.agent.local_credentials().clone(),
    );
    a.agent.set_remote_credentials(start, &cb.ufrag, &cb.pwd);
    b.agent.set_remote_credentials(start, &ca.ufrag, &ca.pwd);
    a.agent.start_gathering(start);
    b.agent.start_gathering(start);

    let mut connected_at = [None, None];
    let mut iterations = 0;
    while start.elapsed() < budget && iterations < MAX_ITERATIONS {
        iterations += 1;
        let from_a = a.flush();
        trickle(b, from_a);
        let from_b = b.flush();
        trickle(a, from_b);
        // Trickling may have queued work on either side.
        let from_a = a.flush();
        trickle(b, from_a);

        for (i, (side, payload)) in [(&mut *a, payloads[0]), (&mut *b, payloads[1])]
            .into_iter()
            .enumerate()
        {
            if side.connected() && connected_at[i].is_none() {
                connected_at[i] = Some(start.elapsed());
            }
            side.send_once(payload);
        }
        if !a.received.is_empty() && !b.received.is_empty() {
            break;
        }
        a.receive();
        b.receive();
        a.timers();
        b.timers();
    }
    Outcome {
        elapsed: start.elapsed(),
        iterations,
        connected_at,
    }
}
