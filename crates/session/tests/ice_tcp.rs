//! ICE-TCP (RFC 6544) through the session's pass-throughs: two sessions with TCP listeners and
//! no UDP socket, connections opened in memory when the agent asks, data both ways.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use floe_session::{Over, PeerConnectionState, PeerEvent, Session, SessionConfig, StreamCommand};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const LISTENERS: [&str; 2] = ["10.0.0.1:7000", "10.0.0.2:7000"];

/// One open connection: each end's (session, local, remote).
type Conn = [(usize, SocketAddr, SocketAddr); 2];

struct Net {
    now: Instant,
    s: [Session; 2],
    conns: Vec<Conn>,
    next_port: u16,
    events: [Vec<PeerEvent>; 2],
    data: [Vec<Vec<u8>>; 2],
}

impl Net {
    fn new(ice_tcp: bool) -> Self {
        let now = Instant::now();
        let config = SessionConfig {
            ice_tcp,
            mdns: false,
            ..SessionConfig::default()
        };
        let mut s = [
            Session::new(config.clone(), &[], [1; 32]),
            Session::new(config, &[], [2; 32]),
        ];
        for (i, session) in s.iter_mut().enumerate() {
            // Registered before the agent exists: it gets them when it is created.
            session.add_local_tcp_listener(now, addr(LISTENERS[i]));
        }
        Net {
            now,
            s,
            conns: Vec::new(),
            next_port: 50000,
            events: [Vec::new(), Vec::new()],
            data: [Vec::new(), Vec::new()],
        }
    }

    fn negotiate(&mut self) {
        let now = self.now;
        let offer = self.s[0].create_offer(now).unwrap();
        self.s[0].set_local_description(now, offer.clone()).unwrap();
        self.s[1].set_remote_description(now, offer).unwrap();
        let answer = self.s[1].create_answer().unwrap();
        self.s[1]
            .set_local_description(now, answer.clone())
            .unwrap();
        self.s[0].set_remote_description(now, answer).unwrap();
    }

    fn owner(&self, listener: SocketAddr) -> Option<usize> {
        LISTENERS.iter().position(|l| addr(l) == listener)
    }

    /// Carries bytes from session `i`'s end (local, remote) to the other end, at once.
    fn write(&mut self, i: usize, local: SocketAddr, remote: SocketAddr, bytes: &[u8]) {
        let Some(c) = self.conns.iter().find(|c| c.contains(&(i, local, remote))) else {
            return;
        };
        let (j, l, r) = if c[0].0 == i { c[1] } else { c[0] };
        let _ = self.s[j].handle_stream_data(self.now, l, r, bytes);
        while let Some(d) = self.s[j].poll_stream_data() {
            self.data[j].push(d);
        }
    }

    fn flush(&mut self) {
        let mut buf = vec![0u8; 1500];
        loop {
            let mut idle = true;
            for i in 0..2 {
                while let Some(c) = self.s[i].poll_stream_command() {
                    idle = false;
                    match c {
                        StreamCommand::Connect { local, remote } => {
                            let Some(j) = self.owner(remote) else {
                                self.s[i].handle_stream_closed(self.now, local, remote);
                                continue;
                            };
                            self.next_port += 1;
                            let bound = SocketAddr::new(local.ip(), self.next_port);
                            self.conns.push([(i, bound, remote), (j, remote, bound)]);
                            let _ = self.s[j].handle_stream_accepted(self.now, remote, bound);
                            self.s[i].handle_stream_connected(self.now, local, remote, bound);
                        }
                        StreamCommand::Close { local, remote } => {
                            self.conns.retain(|c| !c.contains(&(i, local, remote)));
                        }
                        _ => {}
                    }
                }
                while let Some(t) = self.s[i].poll_transmit(&mut buf) {
                    idle = false;
                    assert_eq!(t.over, Over::Stream, "no UDP socket: {t:?}");
                    let bytes = buf[..t.len].to_vec();
                    self.write(i, t.source, t.destination, &bytes);
                }
                while let Some(e) = self.s[i].poll_event() {
                    idle = false;
                    if let PeerEvent::IceCandidate(c) = &e {
                        let _ = self.s[1 - i].add_ice_candidate(self.now, c.clone());
                    }
                    self.events[i].push(e);
                }
            }
            if idle {
                break;
            }
        }
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.flush();
            self.now += Duration::from_millis(5);
            for s in &mut self.s {
                s.handle_timeout(self.now);
            }
        }
        self.flush();
    }
}

#[test]
fn two_sessions_connect_over_tcp_only_and_carry_data_both_ways() {
    let mut net = Net::new(true);
    net.negotiate();
    net.run_for(Duration::from_secs(3));
    for i in 0..2 {
        assert_eq!(
            net.s[i].connection_state(),
            PeerConnectionState::Connected,
            "{:#?}",
            net.events[i]
        );
        let pair = net.events[i].iter().rev().find_map(|e| match e {
            PeerEvent::SelectedCandidatePairChange { local, .. } => Some(local.to_string()),
            _ => None,
        });
        assert!(
            pair.as_deref().is_some_and(|l| l.contains(" tcp ")),
            "{pair:?}"
        );
    }
    let mut buf = vec![0u8; 1500];
    for (from, payload) in [(0, b"ping"), (1, b"pong")] {
        let t = net.s[from].send(payload, &mut buf).unwrap();
        assert_eq!(t.over, Over::Stream);
        let bytes = buf[..t.len].to_vec();
        net.write(from, t.source, t.destination, &bytes);
        assert_eq!(net.data[1 - from], vec![payload.to_vec()]);
    }
}

#[test]
fn without_ice_tcp_listeners_are_ignored_and_nothing_connects() {
    let mut net = Net::new(false);
    net.negotiate();
    net.run_for(Duration::from_secs(1));
    let tcp = net.events[0]
        .iter()
        .any(|e| matches!(e, PeerEvent::IceCandidate(Some(c)) if c.candidate.contains(" tcp ")));
    assert!(!tcp, "{:#?}", net.events[0]);
    assert!(net.conns.is_empty());
    assert_ne!(net.s[0].connection_state(), PeerConnectionState::Connected);
}
