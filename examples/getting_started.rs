//! The browser tutorial "Getting started with peer connections", step by step, in Rust: make a
//! call, answer it, trickle ICE candidates, and know when the peers are connected. Callback
//! style, like the tutorial's `addEventListener`.
//!
//! ```text
//! cargo run -- signal --listen 127.0.0.1:8080                                   # the signaling server
//! cargo run --example getting_started -- answer ws://127.0.0.1:8080/room        # one terminal
//! cargo run --example getting_started -- call ws://127.0.0.1:8080/room          # another
//! ```
//!
//! Either side can also be the page `floe signal` serves, in a browser.

use floe::signaling::{SignalMessage, SignalingChannel};
use floe::{BindConfig, Configuration, EventKind, PeerConnection, PeerConnectionState, PeerEvent};
use tokio::sync::mpsc;

/// What the listeners hand to the signaling loop.
enum Local {
    /// `icecandidate`: send it to the peer (`None`: gathering is complete).
    Candidate(Option<floe::sdp::IceCandidateInit>),
    /// `connectionstatechange` to `connected` (or `failed`).
    State(PeerConnectionState),
}

#[tokio::main]
async fn main() -> floe::Result<()> {
    let mut args = std::env::args().skip(1);
    let role = args.next().unwrap_or_else(|| "call".into());
    let url = args
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:8080/room".into());

    // const peerConnection = new RTCPeerConnection(configuration);
    let configuration = Configuration {
        bind: BindConfig {
            include_loopback: true,
            ..BindConfig::default()
        },
        ..Configuration::default()
    };
    let peer_connection = PeerConnection::new(configuration).await?;
    let mut signaling_channel = SignalingChannel::connect(&url).await?;

    // Listen for local ICE candidates on the local RTCPeerConnection, and for
    // connectionstatechange. Listeners run on the connection's task, so they hand their work
    // to the loop below, which owns the signaling channel.
    let (local_tx, mut local_rx) = mpsc::unbounded_channel();
    let tx = local_tx.clone();
    peer_connection
        .add_event_listener(EventKind::IceCandidate, move |event| {
            if let PeerEvent::IceCandidate(candidate) = event {
                let _ = tx.send(Local::Candidate(candidate.clone()));
            }
        })
        .await?;
    peer_connection
        .add_event_listener(EventKind::ConnectionStateChange, move |event| {
            if let PeerEvent::ConnectionStateChange(state) = event {
                let _ = local_tx.send(Local::State(*state));
            }
        })
        .await?;

    // makeCall(): create the offer, apply it, send it.
    if role == "call" {
        let offer = peer_connection.create_offer().await?;
        peer_connection.set_local_description(offer.clone()).await?;
        signaling_channel.send(&SignalMessage::Offer(offer)).await?;
    }

    loop {
        tokio::select! {
            message = signaling_channel.recv() => match message? {
                // The answering side: apply the offer, create and send the answer.
                Some(SignalMessage::Offer(offer)) if role == "answer" => {
                    peer_connection.set_remote_description(offer).await?;
                    let answer = peer_connection.create_answer().await?;
                    peer_connection.set_local_description(answer.clone()).await?;
                    signaling_channel.send(&SignalMessage::Answer(answer)).await?;
                }
                // The calling side: apply the answer.
                Some(SignalMessage::Answer(answer)) if role == "call" => {
                    peer_connection.set_remote_description(answer).await?;
                }
                // Listen for remote ICE candidates and add them to the local RTCPeerConnection.
                Some(SignalMessage::IceCandidate(candidate)) => {
                    if let Err(e) = peer_connection.add_ice_candidate(candidate).await {
                        eprintln!("Error adding received ice candidate: {e}");
                    }
                }
                Some(_) => {}
                None => return Err(floe::Error::Signaling("the signaling server left".into())),
            },
            Some(local) = local_rx.recv() => match local {
                Local::Candidate(candidate) => {
                    signaling_channel.send(&SignalMessage::IceCandidate(candidate)).await?;
                }
                Local::State(PeerConnectionState::Connected) => {
                    // Peers connected!
                    let pair = peer_connection.stats().await?;
                    let pair = pair.selected_pair().map(|p| p.id.clone()).unwrap_or_default();
                    println!("Peers connected! (selected candidate pair {pair})");
                    break;
                }
                Local::State(PeerConnectionState::Failed) => {
                    let why = peer_connection.status().await?.ice_failure;
                    return Err(floe::Error::ConnectionFailed(why));
                }
                Local::State(_) => {}
            },
        }
    }
    peer_connection
        .send(format!("hello from the {role} side").as_bytes())
        .await?;
    let data = peer_connection.recv().await?;
    println!("received {:?}", String::from_utf8_lossy(&data));
    // Give the peer's echo of ours a moment to leave before closing.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    peer_connection.close().await?;
    Ok(())
}
