//! Two sessions on a virtual network: offer/answer, trickle, restart and the browser's events,
//! with the errors a browser gives for calls in the wrong state.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use floe_ice::{IceConnectionState, IceGatheringState};
use floe_sdp::{IceCandidateInit, SdpType, SessionDescriptionInit};
use floe_session::{
    Over, PeerConnectionState, PeerEvent, Session, SessionConfig, SessionError, SignalingState,
};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const A: &str = "10.0.0.1:5000";
const B: &str = "10.0.0.2:6000";

/// Two sessions and the datagrams between them; candidates are trickled by hand.
struct Pair {
    now: Instant,
    a: Session,
    b: Session,
    a_events: Vec<PeerEvent>,
    b_events: Vec<PeerEvent>,
    /// Application data each side received.
    a_data: Vec<Vec<u8>>,
    b_data: Vec<Vec<u8>>,
    /// Multicast queries each side asked to send.
    queries: usize,
}

impl Pair {
    fn new() -> Self {
        Self::with(SessionConfig::default())
    }

    /// A full offerer, and an answerer with `b_config`.
    fn with(b_config: SessionConfig) -> Self {
        Self {
            now: Instant::now(),
            a: Session::new(SessionConfig::default(), &[addr(A)], [1; 32]),
            b: Session::new(b_config, &[addr(B)], [2; 32]),
            a_events: Vec::new(),
            b_events: Vec::new(),
            a_data: Vec::new(),
            b_data: Vec::new(),
            queries: 0,
        }
    }

    /// Delivers every transmit between the two and collects events, without trickling.
    fn pump(&mut self) {
        let mut buf = vec![0u8; 1500];
        loop {
            let mut moved = false;
            for from_a in [true, false] {
                let (tx, rx) = if from_a {
                    (&mut self.a, &mut self.b)
                } else {
                    (&mut self.b, &mut self.a)
                };
                while let Some(t) = tx.poll_transmit(&mut buf) {
                    moved = true;
                    if t.over == Over::Multicast {
                        self.queries += 1;
                        continue;
                    }
                    let to = if from_a { addr(B) } else { addr(A) };
                    if t.destination != to {
                        continue;
                    }
                    let bytes = buf[..t.len].to_vec();
                    if let Some(r) = rx.handle_datagram(self.now, to, t.source, &bytes) {
                        let data = if from_a {
                            &mut self.b_data
                        } else {
                            &mut self.a_data
                        };
                        data.push(bytes[r].to_vec());
                    }
                }
            }
            self.a_events
                .extend(std::iter::from_fn(|| self.a.poll_event()));
            self.b_events
                .extend(std::iter::from_fn(|| self.b.poll_event()));
            if !moved {
                break;
            }
        }
    }

    /// Runs the clock forward by `d`, firing timers.
    fn run(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.pump();
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.a.handle_timeout(self.now);
                    self.b.handle_timeout(self.now);
                }
                _ => break,
            }
        }
        self.now = end;
        self.pump();
    }

    /// The candidates `events` trickled, `None` for the end.
    fn trickled(events: &[PeerEvent]) -> Vec<Option<IceCandidateInit>> {
        events
            .iter()
            .filter_map(|e| match e {
                PeerEvent::IceCandidate(c) => Some(c.clone()),
                _ => None,
            })
            .collect()
    }

    /// Offer from A, answer from B, candidates trickled both ways.
    fn connect(&mut self) {
        let offer = self.a.create_offer(self.now).unwrap();
        self.a
            .set_local_description(self.now, offer.clone())
            .unwrap();
        self.b.set_remote_description(self.now, offer).unwrap();
        let answer = self.b.create_answer().unwrap();
        self.b
            .set_local_description(self.now, answer.clone())
            .unwrap();
        self.a.set_remote_description(self.now, answer).unwrap();
        self.run(Duration::from_millis(10));
        for c in Self::trickled(&self.a_events) {
            self.b.add_ice_candidate(self.now, c).unwrap();
        }
        for c in Self::trickled(&self.b_events) {
            self.a.add_ice_candidate(self.now, c).unwrap();
        }
        self.run(Duration::from_secs(1));
    }
}

fn connected(events: &[PeerEvent]) -> bool {
    events.contains(&PeerEvent::ConnectionStateChange(
        PeerConnectionState::Connected,
    ))
}

fn names(events: &[PeerEvent]) -> Vec<String> {
    events.iter().map(ToString::to_string).collect()
}

#[test]
fn offer_answer_and_trickle_connect_with_the_browsers_event_order() {
    let mut p = Pair::new();
    p.connect();
    assert!(connected(&p.a_events), "{:#?}", names(&p.a_events));
    assert!(connected(&p.b_events), "{:#?}", names(&p.b_events));
    let a = names(&p.a_events);
    let pos = |s: &str| {
        a.iter()
            .position(|e| e.starts_with(s))
            .unwrap_or(usize::MAX)
    };
    // webrtc-pc: the signaling state changes with the descriptions; gathering starts with the
    // local one; `complete` is announced, then the null candidate (§5.6.3); checking comes
    // before connected.
    assert_eq!(a[0], "signalingstatechange have-local-offer");
    assert!(pos("icegatheringstatechange gathering") < pos("icecandidate candidate:"));
    assert!(pos("icecandidate candidate:") < pos("icegatheringstatechange complete"));
    assert!(pos("icegatheringstatechange complete") < pos("icecandidate null"));
    assert!(pos("signalingstatechange stable") < pos("iceconnectionstatechange checking"));
    assert!(pos("iceconnectionstatechange checking") < pos("connectionstatechange connecting"));
    assert!(pos("connectionstatechange connecting") < pos("connectionstatechange connected"));
    assert!(pos("selectedcandidatepairchange") < usize::MAX);
    let b = names(&p.b_events);
    assert_eq!(b[0], "signalingstatechange have-remote-offer");
    assert!(b.contains(&"signalingstatechange stable".to_owned()));
    assert_eq!(p.a.signaling_state(), SignalingState::Stable);

    // Data both ways over the selected pair.
    let mut buf = vec![0u8; 1500];
    let t = p.a.send(b"hello b", &mut buf).unwrap();
    let bytes = buf[..t.len].to_vec();
    let r =
        p.b.handle_datagram(p.now, addr(B), t.source, &bytes)
            .unwrap();
    assert_eq!(&bytes[r], b"hello b");
    let t = p.b.send(b"hello a", &mut buf).unwrap();
    assert_eq!(t.destination, addr(A));
}

#[test]
fn calls_in_the_wrong_state_are_refused_as_a_browser_would() {
    let now = Instant::now();
    let mut s = Session::new(SessionConfig::default(), &[addr(A)], [3; 32]);
    assert!(matches!(
        s.create_answer(),
        Err(SessionError::InvalidState(_))
    ));
    let offer = s.create_offer(now).unwrap();
    let as_answer = SessionDescriptionInit {
        sdp_type: SdpType::Answer,
        ..offer.clone()
    };
    assert!(matches!(
        s.set_remote_description(now, as_answer),
        Err(SessionError::InvalidState(_))
    ));
    let garbage = SessionDescriptionInit {
        sdp_type: SdpType::Offer,
        sdp: "v=0\r\nnonsense".into(),
    };
    assert!(matches!(
        s.set_remote_description(now, garbage),
        Err(SessionError::InvalidDescription(_))
    ));
    let mut other = Session::new(SessionConfig::default(), &[addr(B)], [4; 32]);
    let foreign = other.create_offer(now).unwrap();
    assert!(matches!(
        s.set_local_description(now, foreign),
        Err(SessionError::InvalidDescription(_))
    ));
    let bad = IceCandidateInit {
        candidate: "candidate:nonsense".into(),
        ..IceCandidateInit::default()
    };
    assert!(matches!(
        s.add_ice_candidate(now, Some(bad)),
        Err(SessionError::InvalidCandidate(_))
    ));
    assert_eq!(
        s.signaling_state(),
        SignalingState::Stable,
        "nothing changed"
    );
    s.set_local_description(now, offer).unwrap();
    s.close(now);
    assert_eq!(s.signaling_state(), SignalingState::Closed);
    assert_eq!(s.create_offer(now), Err(SessionError::Closed));
    let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(events.contains(&PeerEvent::ConnectionStateChange(
        PeerConnectionState::Closed
    )));
}

#[test]
fn candidates_trickled_before_the_remote_description_are_applied_with_it() {
    let mut p = Pair::new();
    let offer = p.a.create_offer(p.now).unwrap();
    p.a.set_local_description(p.now, offer.clone()).unwrap();
    p.run(Duration::from_millis(10));
    // B gets A's candidates first, then the offer.
    for c in Pair::trickled(&p.a_events) {
        p.b.add_ice_candidate(p.now, c).unwrap();
    }
    p.b.set_remote_description(p.now, offer).unwrap();
    let answer = p.b.create_answer().unwrap();
    p.b.set_local_description(p.now, answer.clone()).unwrap();
    p.a.set_remote_description(p.now, answer).unwrap();
    // A never hears B's candidates: B checks towards A's, and A learns B peer-reflexively.
    p.run(Duration::from_secs(2));
    assert!(connected(&p.b_events), "{:#?}", names(&p.b_events));
}

#[test]
fn candidates_of_an_earlier_generation_are_dropped() {
    let mut p = Pair::new();
    let offer = p.a.create_offer(p.now).unwrap();
    p.a.set_local_description(p.now, offer.clone()).unwrap();
    p.b.set_remote_description(p.now, offer).unwrap();
    let answer = p.b.create_answer().unwrap();
    p.b.set_local_description(p.now, answer.clone()).unwrap();
    p.a.set_remote_description(p.now, answer).unwrap();
    p.run(Duration::from_millis(10));
    for c in Pair::trickled(&p.a_events).into_iter().flatten() {
        let stale = IceCandidateInit {
            username_fragment: Some("old-generation".into()),
            ..c
        };
        p.b.add_ice_candidate(p.now, Some(stale)).unwrap();
    }
    // A never hears B's candidates and B took none of A's: no pair to check.
    p.run(Duration::from_secs(2));
    assert!(!connected(&p.b_events), "{:#?}", names(&p.b_events));
    assert_eq!(
        p.b.stats().remote_candidates.len(),
        0,
        "stale candidates were added"
    );
}

#[test]
fn restart_ice_gives_new_credentials_and_the_peer_restarts_too() {
    let mut p = Pair::new();
    p.connect();
    assert!(connected(&p.a_events));
    let ufrag = |s: &Session| s.agent().unwrap().local_credentials().ufrag.clone();
    let (a_before, b_before) = (ufrag(&p.a), ufrag(&p.b));
    p.a.restart_ice().unwrap();
    let offer = p.a.create_offer(p.now).unwrap();
    assert_ne!(ufrag(&p.a), a_before);
    p.a.set_local_description(p.now, offer.clone()).unwrap();
    p.b.set_remote_description(p.now, offer).unwrap();
    assert_ne!(
        ufrag(&p.b),
        b_before,
        "a new remote ufrag restarts the answerer"
    );
    let answer = p.b.create_answer().unwrap();
    assert!(answer.sdp.contains(&format!("a=ice-ufrag:{}", ufrag(&p.b))));
    p.b.set_local_description(p.now, answer.clone()).unwrap();
    p.a.set_remote_description(p.now, answer).unwrap();
    let (a_seen, b_seen) = (p.a_events.len(), p.b_events.len());
    p.run(Duration::from_millis(10));
    for c in Pair::trickled(&p.a_events[a_seen..]) {
        p.b.add_ice_candidate(p.now, c).unwrap();
    }
    for c in Pair::trickled(&p.b_events[b_seen..]) {
        p.a.add_ice_candidate(p.now, c).unwrap();
    }
    p.run(Duration::from_secs(1));
    assert!(matches!(
        p.a.status().ice_connection_state,
        IceConnectionState::Connected | IceConnectionState::Completed
    ));
    assert_eq!(p.a.connection_state(), PeerConnectionState::Connected);
    let a_after = &p.a_events[a_seen..];
    assert!(a_after.contains(&PeerEvent::IceGatheringStateChange(
        IceGatheringState::Gathering
    )));
}

/// A browser's `.local` host candidate: the session asks for an mDNS query, and holds the
/// peer's end-of-candidates back until the lookup ends (the 2 s resolver timeout here).
#[test]
fn a_local_name_is_looked_up_and_end_of_candidates_waits_for_it() {
    let mut p = Pair::new();
    let offer = p.a.create_offer(p.now).unwrap();
    p.a.set_local_description(p.now, offer.clone()).unwrap();
    p.b.set_remote_description(p.now, offer).unwrap();
    let mdns = IceCandidateInit {
        candidate:
            "candidate:1 1 udp 2122260223 1f2e3d4c-0000-4000-8000-000000000001.local 5000 typ host"
                .into(),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
        username_fragment: None,
    };
    p.b.add_ice_candidate(p.now, Some(mdns)).unwrap();
    p.b.add_ice_candidate(p.now, None).unwrap();
    p.pump();
    assert!(p.queries >= 1, "an mDNS query went out");
    let remote_eoc = |s: &Session| s.agent().unwrap().remote_end_of_candidates();
    assert!(!remote_eoc(&p.b), "held back while the name is looked up");
    p.run(Duration::from_millis(2100));
    assert!(remote_eoc(&p.b), "applied once the lookup timed out");
}

/// The server case: an ICE-lite answerer (RFC 8445 §2.5) says so in its answer, never checks,
/// and the full offerer connects to it.
#[test]
fn a_lite_answerer_says_ice_lite_and_the_full_offerer_connects() {
    let mut p = Pair::with(SessionConfig {
        lite: true,
        ..SessionConfig::default()
    });
    let offer = p.a.create_offer(p.now).unwrap();
    p.a.set_local_description(p.now, offer.clone()).unwrap();
    p.b.set_remote_description(p.now, offer).unwrap();
    let answer = p.b.create_answer().unwrap();
    assert!(answer.sdp.contains("a=ice-lite"), "{}", answer.sdp);
    p.b.set_local_description(p.now, answer.clone()).unwrap();
    p.a.set_remote_description(p.now, answer).unwrap();
    p.run(Duration::from_millis(10));
    for c in Pair::trickled(&p.b_events) {
        p.a.add_ice_candidate(p.now, c).unwrap();
    }
    p.run(Duration::from_secs(1));
    assert!(connected(&p.a_events), "{:#?}", names(&p.a_events));
    assert!(connected(&p.b_events), "{:#?}", names(&p.b_events));
    assert!(p.b.agent().unwrap().is_lite());
}
