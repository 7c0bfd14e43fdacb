//! Two `PeerConnection`s with `iceTransportPolicy: "relay"` connect through a real coturn on
//! loopback when the TURN server is reached over TCP (`turn:...?transport=tcp`) and over TLS
//! (`turns:`, trusting a throwaway CA), and carry data both ways on relayed candidates.

mod coturn;

use std::time::Duration;

use coturn::{coturn_installed, Coturn, TestCa};
use floe::ice::IceGatheringState;
use floe::sdp::SessionDescriptionInit;
use floe::{
    BindConfig, Configuration, IceServer, IceTransportPolicy, PeerConnection, PeerConnectionState,
    PeerEvent,
};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(15);

fn config(url: String, ca: Option<&TestCa>) -> Configuration {
    let mut server = IceServer::new([url]).unwrap();
    server.username = Some("alice".into());
    server.credential = Some("secret".into());
    Configuration {
        ice_servers: vec![server],
        ice_transport_policy: IceTransportPolicy::Relay,
        bind: BindConfig::loopback(),
        tls_ca_files: ca.map(|ca| ca.ca.clone()).into_iter().collect(),
        ..Configuration::default()
    }
}

/// Waits for an event matching `want`, returning it.
async fn wait_for(pc: &PeerConnection, want: impl Fn(&PeerEvent) -> bool) -> PeerEvent {
    while let Some(e) = pc.next_event().await {
        if want(&e) {
            return e;
        }
    }
    panic!("events ended");
}

async fn complete_description(pc: &PeerConnection) -> SessionDescriptionInit {
    wait_for(pc, |e| {
        *e == PeerEvent::IceGatheringStateChange(IceGatheringState::Complete)
    })
    .await;
    let desc = pc.local_description().await.unwrap().unwrap();
    assert!(
        desc.sdp.contains(" typ relay"),
        "no relayed candidate:\n{}",
        desc.sdp
    );
    desc
}

async fn relayed_call(url: String, ca: Option<&TestCa>) {
    let caller = PeerConnection::new(config(url.clone(), ca)).await.unwrap();
    let callee = PeerConnection::new(config(url, ca)).await.unwrap();
    let offer = caller.create_offer().await.unwrap();
    caller.set_local_description(offer).await.unwrap();
    callee
        .set_remote_description(complete_description(&caller).await)
        .await
        .unwrap();
    let answer = callee.create_answer().await.unwrap();
    callee.set_local_description(answer).await.unwrap();
    caller
        .set_remote_description(complete_description(&callee).await)
        .await
        .unwrap();
    for pc in [&caller, &callee] {
        let e = wait_for(pc, |e| {
            matches!(e, PeerEvent::SelectedCandidatePairChange { .. })
        })
        .await;
        let PeerEvent::SelectedCandidatePairChange { local, remote } = e else {
            unreachable!()
        };
        assert_eq!(remote.typ.to_string(), "relay", "{remote}");
        let _ = local;
        wait_for(pc, |e| {
            *e == PeerEvent::ConnectionStateChange(PeerConnectionState::Connected)
        })
        .await;
    }
    caller.send(b"over the stream").await.unwrap();
    assert_eq!(callee.recv().await.unwrap(), b"over the stream");
    callee.send(b"and back").await.unwrap();
    assert_eq!(caller.recv().await.unwrap(), b"and back");
    let stats = caller.stats().await.unwrap();
    let pair = stats.selected_pair().unwrap();
    let local = stats.candidate(&pair.local_candidate_id).unwrap();
    assert_eq!(local.candidate_type, "relay");
    caller.close().await.unwrap();
    callee.close().await.unwrap();
}

#[tokio::test]
async fn relay_only_over_tcp_to_coturn() {
    if !coturn_installed() {
        return;
    }
    let server = Coturn::start(&["127.0.0.1"], None);
    let url = format!("turn:127.0.0.1:{}?transport=tcp", server.port);
    timeout(LIMIT, relayed_call(url, None))
        .await
        .expect("call over TCP timed out");
}

#[tokio::test]
async fn relay_only_over_tls_to_coturn() {
    if !coturn_installed() {
        return;
    }
    let ca = TestCa::new();
    let server = Coturn::start_tls(&["127.0.0.1"], &ca);
    let url = format!("turns:127.0.0.1:{}", server.tls_port.unwrap());
    timeout(LIMIT, relayed_call(url, Some(&ca)))
        .await
        .expect("call over TLS timed out");
}

#[tokio::test]
async fn untrusted_tls_server_gives_no_relay_candidate() {
    if !coturn_installed() {
        return;
    }
    let ca = TestCa::new();
    let server = Coturn::start_tls(&["127.0.0.1"], &ca);
    // Without the CA the handshake fails: gathering still completes, with nothing relayed.
    let url = format!("turns:127.0.0.1:{}", server.tls_port.unwrap());
    let pc = PeerConnection::new(config(url, None)).await.unwrap();
    let offer = pc.create_offer().await.unwrap();
    pc.set_local_description(offer).await.unwrap();
    let run = async {
        wait_for(&pc, |e| {
            *e == PeerEvent::IceGatheringStateChange(IceGatheringState::Complete)
        })
        .await;
        pc.local_description().await.unwrap().unwrap()
    };
    let desc = timeout(LIMIT, run)
        .await
        .expect("gathering never completed");
    assert!(!desc.sdp.contains(" typ relay"), "{}", desc.sdp);
}
