//! Two peer connections in one process, signaling by passing the descriptions and candidates
//! directly (no server), then one datagram each way over the selected pair.
//!
//! `cargo run --example loopback_call`

use floe::{BindConfig, Configuration, PeerConnection, PeerConnectionState, PeerEvent};

/// Forwards `from`'s trickled candidates to `to` until `from` is connected.
async fn trickle(from: &PeerConnection, to: &PeerConnection, name: &str) -> floe::Result<()> {
    while let Some(event) = from.next_event().await {
        println!("{name}: {event}");
        match event {
            PeerEvent::IceCandidate(c) => to.add_ice_candidate(c).await?,
            PeerEvent::ConnectionStateChange(PeerConnectionState::Connected) => return Ok(()),
            PeerEvent::ConnectionStateChange(PeerConnectionState::Failed) => {
                let why = from.status().await?.ice_failure;
                return Err(floe::Error::ConnectionFailed(why));
            }
            _ => {}
        }
    }
    Err(floe::Error::Closed)
}

#[tokio::main]
async fn main() -> floe::Result<()> {
    let config = Configuration {
        bind: BindConfig::loopback(),
        ..Configuration::default()
    };
    let caller = PeerConnection::new(config.clone()).await?;
    let callee = PeerConnection::new(config).await?;

    let offer = caller.create_offer().await?;
    caller.set_local_description(offer.clone()).await?;
    callee.set_remote_description(offer).await?;
    let answer = callee.create_answer().await?;
    callee.set_local_description(answer.clone()).await?;
    caller.set_remote_description(answer).await?;

    let (a, b) = tokio::join!(
        trickle(&caller, &callee, "caller"),
        trickle(&callee, &caller, "callee")
    );
    a?;
    b?;

    caller.send(b"ping").await?;
    println!(
        "callee got {:?}",
        String::from_utf8_lossy(&callee.recv().await?)
    );
    callee.send(b"pong").await?;
    println!(
        "caller got {:?}",
        String::from_utf8_lossy(&caller.recv().await?)
    );
    caller.close().await?;
    callee.close().await?;
    Ok(())
}
