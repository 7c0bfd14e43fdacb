//! The rest of the browser-shaped API on two loopback peers: signaling without trickle
//! (`localDescription` after gathering), `addEventListener`-style callbacks, `getStats()` and
//! `restartIce()`.

use std::time::Duration;

use floe::ice::IceGatheringState;
use floe::sdp::SessionDescriptionInit;
use floe::{
    BindConfig, Configuration, EventKind, PeerConnection, PeerConnectionState, PeerEvent,
    StatsReport,
};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(10);

async fn peer() -> PeerConnection {
    PeerConnection::new(Configuration {
        bind: BindConfig::loopback(),
        ..Configuration::default()
    })
    .await
    .unwrap()
}

/// Waits on the event stream until `icegatheringstatechange` says complete.
async fn gathering_complete(pc: &PeerConnection) {
    let events = pc.events();
    tokio::pin!(events);
    while let Some(e) = events.next().await {
        if e == PeerEvent::IceGatheringStateChange(IceGatheringState::Complete) {
            return;
        }
    }
    panic!("events ended before gathering completed");
}

/// The whole local description once gathering is complete: what a non-trickle peer sends.
async fn complete_description(pc: &PeerConnection) -> SessionDescriptionInit {
    gathering_complete(pc).await;
    let desc = pc.local_description().await.unwrap().expect("applied");
    assert!(desc.sdp.contains("a=candidate:"), "{}", desc.sdp);
    assert!(desc.sdp.contains("a=end-of-candidates"), "{}", desc.sdp);
    desc
}

/// Offer and answer without a single trickled candidate.
async fn negotiate_without_trickle(caller: &PeerConnection, callee: &PeerConnection) {
    let offer = caller.create_offer().await.unwrap();
    negotiate_offer(caller, callee, offer).await;
}

/// Registers a `connectionstatechange` listener that forwards the states to a channel.
async fn watch_state(pc: &PeerConnection) -> mpsc::UnboundedReceiver<PeerConnectionState> {
    let (tx, rx) = mpsc::unbounded_channel();
    pc.add_event_listener("connectionstatechange".parse().unwrap(), move |e| {
        if let PeerEvent::ConnectionStateChange(s) = e {
            let _ = tx.send(*s);
        }
    })
    .await
    .unwrap();
    rx
}

async fn wait_state(
    rx: &mut mpsc::UnboundedReceiver<PeerConnectionState>,
    want: PeerConnectionState,
) {
    while let Some(s) = rx.recv().await {
        if s == want {
            return;
        }
    }
    panic!("listener dropped before {want}");
}

async fn ping(from: &PeerConnection, to: &PeerConnection, text: &[u8]) {
    from.send(text).await.unwrap();
    assert_eq!(to.recv().await.unwrap(), text);
}

fn selected_ufrag(stats: &StatsReport) -> String {
    stats.transport.ice_local_username_fragment.clone().unwrap()
}

#[tokio::test]
async fn no_trickle_callbacks_connect() {
    let run = async {
        let (caller, callee) = (peer().await, peer().await);
        let mut caller_states = watch_state(&caller).await;
        let mut callee_states = watch_state(&callee).await;
        negotiate_without_trickle(&caller, &callee).await;
        wait_state(&mut caller_states, PeerConnectionState::Connected).await;
        wait_state(&mut callee_states, PeerConnectionState::Connected).await;
        ping(&caller, &callee, b"ping").await;
        ping(&callee, &caller, b"pong").await;
    };
    timeout(LIMIT, run).await.expect("timed out");
}

#[tokio::test]
async fn listeners_get_only_their_kind() {
    let pc = peer().await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    pc.add_event_listener(EventKind::IceCandidate, move |e| {
        let _ = tx.send(e.name());
    })
    .await
    .unwrap();
    assert!("nosuchevent".parse::<EventKind>().is_err());
    let offer = pc.create_offer().await.unwrap();
    pc.set_local_description(offer).await.unwrap();
    timeout(LIMIT, gathering_complete(&pc)).await.unwrap();
    pc.close().await.unwrap();
    let mut seen = Vec::new();
    while let Some(name) = rx.recv().await {
        seen.push(name);
    }
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|n| *n == "icecandidate"), "{seen:?}");
}

#[tokio::test]
async fn stats_show_the_selected_pair() {
    let run = async {
        let (caller, callee) = (peer().await, peer().await);
        let mut states = watch_state(&caller).await;
        negotiate_without_trickle(&caller, &callee).await;
        wait_state(&mut states, PeerConnectionState::Connected).await;
        ping(&caller, &callee, b"four").await;
        ping(&callee, &caller, b"fives").await;
        let stats = caller.stats().await.unwrap();
        let pair = stats.selected_pair().expect("a selected pair");
        assert!(pair.nominated && pair.selected, "{pair:?}");
        assert_eq!(pair.state, "succeeded");
        assert!(
            pair.requests_sent >= 1 && pair.responses_received >= 1,
            "{pair:?}"
        );
        assert_eq!((pair.bytes_sent, pair.bytes_received), (4, 5), "{pair:?}");
        assert!(pair.current_round_trip_time.is_some());
        let local = stats.candidate(&pair.local_candidate_id).unwrap();
        let remote = stats.candidate(&pair.remote_candidate_id).unwrap();
        let (l, r) = caller.status().await.unwrap().selected_path.unwrap();
        assert_eq!(
            (local.address.as_str(), local.port),
            (l.ip().to_string().as_str(), l.port())
        );
        assert_eq!(remote.port, r.port());
        assert_eq!(stats.transport.ice_role, Some("controlling"));
        assert_eq!(stats.transport.bytes_sent, 4);
        let empty = peer().await.stats().await.unwrap();
        assert!(empty.candidate_pairs.is_empty() && empty.selected_pair().is_none());
    };
    timeout(LIMIT, run).await.expect("timed out");
}

#[tokio::test]
async fn ice_restart_keeps_data_flowing_and_selects_again() {
    let run = async {
        let (caller, callee) = (peer().await, peer().await);
        let mut states = watch_state(&caller).await;
        let (tx, mut selected) = mpsc::unbounded_channel();
        caller
            .add_event_listener(EventKind::SelectedCandidatePairChange, move |_| {
                let _ = tx.send(());
            })
            .await
            .unwrap();
        negotiate_without_trickle(&caller, &callee).await;
        wait_state(&mut states, PeerConnectionState::Connected).await;
        selected.recv().await.unwrap();
        let (before_caller, before_callee) = (
            selected_ufrag(&caller.stats().await.unwrap()),
            selected_ufrag(&callee.stats().await.unwrap()),
        );

        caller.restart_ice().await.unwrap();
        let offer = caller.create_offer().await.unwrap();
        assert!(!offer.sdp.contains(&format!("a=ice-ufrag:{before_caller}")));
        // Until the new pair is selected, the old one still carries data.
        ping(&caller, &callee, b"during").await;
        negotiate_offer(&caller, &callee, offer).await;
        selected
            .recv()
            .await
            .expect("a pair selected after the restart");
        ping(&caller, &callee, b"after").await;
        ping(&callee, &caller, b"back").await;
        assert_ne!(
            selected_ufrag(&caller.stats().await.unwrap()),
            before_caller
        );
        assert_ne!(
            selected_ufrag(&callee.stats().await.unwrap()),
            before_callee
        );
        assert_eq!(
            caller.status().await.unwrap().connection_state,
            PeerConnectionState::Connected
        );
    };
    timeout(LIMIT, run).await.expect("timed out");
}

/// Applies `offer` and completes the exchange, without trickle.
async fn negotiate_offer(
    caller: &PeerConnection,
    callee: &PeerConnection,
    offer: SessionDescriptionInit,
) {
    caller.set_local_description(offer).await.unwrap();
    let offer = complete_description(caller).await;
    callee.set_remote_description(offer).await.unwrap();
    let answer = callee.create_answer().await.unwrap();
    callee.set_local_description(answer).await.unwrap();
    let answer = complete_description(callee).await;
    caller.set_remote_description(answer).await.unwrap();
}
