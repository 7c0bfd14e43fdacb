//! Two driver peers on loopback, signaling through the real WebSocket relay the way the browser
//! sample code does: offer, answer, trickled candidates both ways.

use std::net::SocketAddr;
use std::time::Duration;

use floe::ice::{IceConnectionState, IceGatheringState};
use floe::sdp::CandidateType;
use floe::signaling::{SignalMessage, SignalingChannel, SignalingServer};
use floe::stun_tools::{binding_request, StunServer};
use floe::turn_server::{TurnServer, TurnServerConfig};
use floe::{
    BindConfig, Configuration, Error, IceServer, IceTransportPolicy, PeerConnection,
    PeerConnectionState, PeerEvent,
};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(10);

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Runs one side until it is connected and has trickled all its candidates; returns every
/// event seen.
async fn negotiate(
    pc: &PeerConnection,
    mut signaling: SignalingChannel,
    caller: bool,
) -> Vec<PeerEvent> {
    let mut events = Vec::new();
    if caller {
        let offer = pc.create_offer().await.unwrap();
        assert!(offer.sdp.contains("a=setup:actpass"));
        pc.set_local_description(offer.clone()).await.unwrap();
        signaling.send(&SignalMessage::Offer(offer)).await.unwrap();
    }
    let mut connected = false;
    let mut gathered = false;
    while !(connected && gathered) {
        tokio::select! {
            msg = signaling.recv() => match msg.unwrap().expect("signaling closed") {
                SignalMessage::Offer(offer) => {
                    assert!(!caller);
                    pc.set_remote_description(offer).await.unwrap();
                    let answer = pc.create_answer().await.unwrap();
                    assert!(answer.sdp.contains("a=setup:active"));
                    assert!(answer.sdp.contains("a=sctp-port:5000"));
                    pc.set_local_description(answer.clone()).await.unwrap();
                    signaling.send(&SignalMessage::Answer(answer)).await.unwrap();
                }
                SignalMessage::Answer(answer) => {
                    assert!(caller);
                    pc.set_remote_description(answer).await.unwrap();
                }
                SignalMessage::IceCandidate(c) => pc.add_ice_candidate(c).await.unwrap(),
                other => panic!("unexpected {other:?}"),
            },
            event = pc.next_event() => {
                let event = event.expect("events ended");
                match &event {
                    PeerEvent::IceCandidate(c) => {
                        gathered |= c.is_none();
                        signaling.send(&SignalMessage::IceCandidate(c.clone())).await.unwrap();
                    }
                    PeerEvent::ConnectionStateChange(PeerConnectionState::Connected) => {
                        connected = true;
                    }
                    _ => {}
                }
                events.push(event);
            }
        }
    }
    events
}

/// The W3C order: gathering new → gathering → complete; candidates then the null one;
/// checking → connected; a selected pair.
fn check_order(events: &[PeerEvent]) {
    let gathering: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::IceGatheringStateChange(s) => Some(*s),
            _ => None,
        })
        .collect();
    assert_eq!(
        gathering,
        [IceGatheringState::Gathering, IceGatheringState::Complete]
    );
    let candidates: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::IceCandidate(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    assert!(candidates.len() >= 2, "{candidates:?}");
    assert!(candidates.last().unwrap().is_none());
    assert!(candidates[..candidates.len() - 1]
        .iter()
        .all(Option::is_some));
    for c in candidates.iter().flatten() {
        assert!(c.candidate.starts_with("candidate:"), "{c:?}");
        assert_eq!(c.sdp_mid.as_deref(), Some("0"));
        assert_eq!(c.sdp_m_line_index, Some(0));
    }
    let ice: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::IceConnectionStateChange(s) => Some(*s),
            _ => None,
        })
        .collect();
    assert_eq!(
        ice[..2],
        [IceConnectionState::Checking, IceConnectionState::Connected]
    );
    let pc: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::ConnectionStateChange(s) => Some(*s),
            _ => None,
        })
        .collect();
    assert_eq!(
        pc,
        [
            PeerConnectionState::Connecting,
            PeerConnectionState::Connected
        ]
    );
    assert!(events
        .iter()
        .any(|e| matches!(e, PeerEvent::SelectedCandidatePairChange { .. })));
}

/// Two peers with `config` connected through a signaling server (returned, to abort), with
/// the events each saw, in the W3C order.
async fn connected_pair(
    config: Configuration,
) -> (
    PeerConnection,
    PeerConnection,
    [Vec<PeerEvent>; 2],
    tokio::task::JoinHandle<()>,
) {
    let server = SignalingServer::bind(loopback()).await.unwrap();
    let url = format!("ws://{}/room", server.local_addr().unwrap());
    let server = server.spawn();
    let callee_channel = SignalingChannel::connect(&url).await.unwrap();
    let caller_channel = SignalingChannel::connect(&url).await.unwrap();
    let caller = PeerConnection::new(config.clone()).await.unwrap();
    let callee = PeerConnection::new(config).await.unwrap();
    let (caller_events, callee_events) = tokio::join!(
        negotiate(&caller, caller_channel, true),
        negotiate(&callee, callee_channel, false)
    );
    check_order(&caller_events);
    check_order(&callee_events);
    (caller, callee, [caller_events, callee_events], server)
}

async fn call(config: Configuration) {
    let (caller, callee, _, server) = connected_pair(config).await;

    caller.send(b"ping").await.unwrap();
    assert_eq!(callee.recv().await.unwrap(), b"ping");
    callee.send(b"pong").await.unwrap();
    assert_eq!(caller.recv().await.unwrap(), b"pong");

    let status = caller.status().await.unwrap();
    let (local, remote) = status.selected_path.unwrap();
    assert!(caller.local_addresses().contains(&local));
    assert!(callee.local_addresses().contains(&remote));

    caller.close().await.unwrap();
    // The final events arrive, then the stream ends.
    let mut last = None;
    while let Some(e) = caller.next_event().await {
        last = Some(e);
    }
    assert_eq!(
        last,
        Some(PeerEvent::ConnectionStateChange(
            PeerConnectionState::Closed
        ))
    );
    assert!(matches!(caller.send(b"late").await, Err(Error::Closed)));
    server.abort();
}

#[tokio::test]
async fn host_candidates_over_loopback() {
    let config = Configuration {
        bind: BindConfig::loopback(),
        ..Configuration::default()
    };
    timeout(LIMIT, call(config)).await.expect("call timed out");
}

#[tokio::test]
async fn with_the_embedded_stun_server() {
    let stun = StunServer::bind(loopback(), None).await.unwrap();
    let stun_addr = stun.local_addresses()[0];
    let stun = stun.spawn();
    let config = Configuration {
        ice_servers: vec![IceServer::new([format!("stun:{stun_addr}")]).unwrap()],
        bind: BindConfig::loopback(),
        ..Configuration::default()
    };
    timeout(LIMIT, call(config)).await.expect("call timed out");
    stun.abort();
}

/// Both peers relay-only (iceTransportPolicy "relay") through floe's own TURN server: only relay
/// candidates, the selected pair relay to relay, and data both ways through the relays.
#[tokio::test]
async fn relay_only_through_the_floe_turn_server() {
    let turn = TurnServer::bind(TurnServerConfig {
        // Both peers are on loopback, refused by default (RFC 8656 §21.4).
        allowed_peers: vec!["127.0.0.0/8".parse().unwrap()],
        ..TurnServerConfig::new(loopback(), "floe.test", [("alice", "secret")])
    })
    .await
    .unwrap()
    .spawn();
    let config = Configuration {
        ice_servers: vec![IceServer {
            username: Some("alice".into()),
            credential: Some("secret".into()),
            ..IceServer::new([turn.url()]).unwrap()
        }],
        ice_transport_policy: IceTransportPolicy::Relay,
        bind: BindConfig::loopback(),
        ..Configuration::default()
    };
    let run = async {
        let (caller, callee, events, server) = connected_pair(config).await;
        for events in &events {
            for e in events {
                match e {
                    PeerEvent::IceCandidate(Some(c)) => {
                        assert!(c.candidate.contains(" typ relay"), "{c:?}");
                        // RFC 8839 §5.1: a relayed candidate's raddr/rport is the mapped
                        // address of the allocation: on loopback, the peer's own socket.
                        let c = c.parse_candidate().unwrap().unwrap();
                        let related =
                            format!("{}:{}", c.related_address.unwrap(), c.related_port.unwrap());
                        let sockets = [caller.local_addresses(), callee.local_addresses()];
                        assert!(
                            sockets.concat().iter().any(|a| a.to_string() == related),
                            "{related}"
                        );
                    }
                    PeerEvent::SelectedCandidatePairChange { local, remote } => {
                        assert_eq!(local.typ, CandidateType::Relay, "{local}");
                        assert_eq!(remote.typ, CandidateType::Relay, "{remote}");
                    }
                    _ => {}
                }
            }
        }
        for i in 0..3u8 {
            caller.send(&[b'p', i]).await.unwrap();
            assert_eq!(callee.recv().await.unwrap(), [b'p', i]);
            callee.send(&[b'q', i]).await.unwrap();
            assert_eq!(caller.recv().await.unwrap(), [b'q', i]);
        }
        caller.close().await.unwrap();
        callee.close().await.unwrap();
        server.abort();
    };
    timeout(LIMIT, run).await.expect("relayed call timed out");
}

#[tokio::test]
async fn binding_request_against_the_stun_server() {
    let stun = StunServer::bind(loopback(), None).await.unwrap();
    let addr = stun.local_addresses()[0];
    let stun = stun.spawn();
    let r = timeout(LIMIT, binding_request(addr, Some(loopback()), LIMIT))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.mapped, r.local);
    assert_eq!(r.transmissions, 1);
    stun.abort();
    // Nobody answers on a closed port: a clear error after the timeout, no hang.
    let dead = binding_request(addr, Some(loopback()), Duration::from_millis(300)).await;
    assert!(matches!(dead, Err(Error::Stun(_))), "{dead:?}");
}

#[tokio::test]
async fn relay_keeps_rooms_apart() {
    let server = SignalingServer::bind(loopback()).await.unwrap();
    let base = format!("ws://{}", server.local_addr().unwrap());
    let server = server.spawn();
    let run = async {
        let mut a1 = SignalingChannel::connect(&format!("{base}/a"))
            .await
            .unwrap();
        let mut a2 = SignalingChannel::connect(&format!("{base}/a"))
            .await
            .unwrap();
        let mut b1 = SignalingChannel::connect(&format!("{base}/b"))
            .await
            .unwrap();
        a1.send(&SignalMessage::Bye).await.unwrap();
        assert_eq!(a2.recv().await.unwrap(), Some(SignalMessage::Bye));
        b1.send(&SignalMessage::IceCandidate(None)).await.unwrap();
        a2.send(&SignalMessage::IceCandidate(None)).await.unwrap();
        // a1 gets a2's message, not b1's (nor its own).
        assert_eq!(
            a1.recv().await.unwrap(),
            Some(SignalMessage::IceCandidate(None))
        );
        let nothing = timeout(Duration::from_millis(200), a1.recv()).await;
        assert!(nothing.is_err(), "{nothing:?}");
    };
    timeout(LIMIT, run).await.expect("relay test timed out");
    server.abort();
}

#[tokio::test]
async fn verbs_out_of_order_are_refused() {
    let pc = PeerConnection::new(Configuration {
        bind: BindConfig::loopback(),
        ..Configuration::default()
    })
    .await
    .unwrap();
    assert!(matches!(
        pc.create_answer().await,
        Err(Error::InvalidState(_))
    ));
    assert!(pc.send(b"x").await.is_err());
    let offer = pc.create_offer().await.unwrap();
    let mut foreign = offer.clone();
    foreign.sdp = foreign.sdp.replace("a=ice-ufrag:", "a=ice-ufrag:X");
    assert!(pc.set_local_description(foreign).await.is_err());
    assert!(pc
        .add_ice_candidate(Some(floe::sdp::IceCandidateInit {
            candidate: "candidate:garbage".into(),
            ..Default::default()
        }))
        .await
        .is_err());
    pc.close().await.unwrap();
    assert!(matches!(pc.create_offer().await, Err(Error::Closed)));
}
