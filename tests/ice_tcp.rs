//! ICE over TCP (RFC 6544) end to end on loopback: `floe call` / `floe answer` with
//! `--no-udp` (TCP candidates only) on either side or both, UDP still chosen when both sides
//! also offer TCP, and two [`floe::PeerConnection`]s without UDP carrying data both ways.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::*;
use floe::signaling::{SignalMessage, SignalingChannel, SignalingServer};
use floe::{BindConfig, Configuration, PeerConnection, PeerConnectionState, PeerEvent};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(15);

/// Everything a peer printed up to its `result` line (which comes last on success).
fn result_of(
    rx: &mpsc::Receiver<serde_json::Value>,
) -> (serde_json::Value, Vec<serde_json::Value>) {
    until(rx, LIMIT, |v| v["event"] == "result")
}

/// The last `selectedcandidatepairchange` among `events`.
fn selected(events: &[serde_json::Value]) -> &serde_json::Value {
    events
        .iter()
        .rev()
        .find(|v| v["event"] == "selectedcandidatepairchange")
        .unwrap_or_else(|| panic!("no selected pair in {events:#?}"))
}

/// `floe answer --echo` and `floe call --send hi` through `floe signal`, each with its extra
/// flags; both must connect and the echo must come back. Returns each side's selected pair.
fn call(room: &str, caller: &[&str], callee: &[&str]) -> [serde_json::Value; 2] {
    let (_signal, url) = signal_url(room);
    let mut callee_args = vec!["--echo", "--timeout", "15"];
    callee_args.extend_from_slice(callee);
    let (_answer, answer_rx) = peer("answer", &url, &callee_args);
    let mut caller_args = vec!["--send", "hi", "--timeout", "15"];
    caller_args.extend_from_slice(caller);
    let (_call, call_rx) = peer("call", &url, &caller_args);
    let (result, call_events) = result_of(&call_rx);
    assert_eq!(result["echo_ok"], true, "{call_events:#?}");
    assert!(
        call_events.iter().any(|v| v["event"] == "echo received"),
        "{call_events:#?}"
    );
    let (_, answer_events) = result_of(&answer_rx);
    assert!(answer_events.iter().any(connected), "{answer_events:#?}");
    assert!(
        answer_events
            .iter()
            .any(|v| v["event"] == "echo" && v["data"] == "hi"),
        "{answer_events:#?}"
    );
    [
        selected(&call_events).clone(),
        selected(&answer_events).clone(),
    ]
}

/// Both selected pairs are TCP, one side's candidate active and the other's passive.
fn assert_tcp(pairs: &[serde_json::Value; 2]) {
    for p in pairs {
        assert_eq!(p["protocol"], "tcp", "{p}");
        assert!(p["local"].as_str().unwrap().contains(" tcp "), "{p}");
        let types = [p["local_tcptype"].as_str(), p["remote_tcptype"].as_str()];
        assert!(
            types == [Some("active"), Some("passive")]
                || types == [Some("passive"), Some("active")],
            "{p}"
        );
    }
}

#[test]
fn floe_calls_floe_over_tcp_only() {
    let pairs = call("/tcp-only", &["--no-udp"], &["--no-udp"]);
    assert_tcp(&pairs);
}

/// Only the caller lacks UDP: the answerer offers UDP and TCP, and TCP is what works.
#[test]
fn a_caller_without_udp_reaches_an_answerer_over_tcp() {
    let pairs = call("/tcp-caller", &["--no-udp"], &["--ice-tcp"]);
    assert_tcp(&pairs);
}

/// Only the answerer lacks UDP.
#[test]
fn an_answerer_without_udp_is_reached_over_tcp() {
    let pairs = call("/tcp-callee", &["--ice-tcp"], &["--no-udp"]);
    assert_tcp(&pairs);
}

#[test]
fn udp_is_selected_when_both_sides_offer_tcp_too() {
    let (_signal, url) = signal_url("/both");
    let (_answer, answer_rx) = peer("answer", &url, &["--echo", "--ice-tcp", "--timeout", "15"]);
    let (_call, call_rx) = peer(
        "call",
        &url,
        &["--send", "hi", "--ice-tcp", "--timeout", "15"],
    );
    let (result, events) = result_of(&call_rx);
    assert_eq!(result["echo_ok"], true, "{events:#?}");
    // TCP candidates were offered.
    assert!(
        events.iter().any(|v| v["event"] == "icecandidate"
            && v["candidate"]
                .as_str()
                .is_some_and(|c| c.contains("tcptype passive"))),
        "{events:#?}"
    );
    let (_, answer_events) = result_of(&answer_rx);
    for p in [selected(&events), selected(&answer_events)] {
        assert_eq!(p["protocol"], "udp", "{p}");
        assert!(p["local_tcptype"].is_null(), "{p}");
    }
}

/// Without the flag nothing listens on TCP and no TCP candidate is offered.
#[test]
fn ice_tcp_is_off_by_default() {
    let (_signal, url) = signal_url("/default");
    let (_answer, answer_rx) = peer("answer", &url, &["--echo", "--timeout", "15"]);
    let (_call, call_rx) = peer("call", &url, &["--send", "hi", "--timeout", "15"]);
    let (result, events) = result_of(&call_rx);
    assert_eq!(result["echo_ok"], true, "{events:#?}");
    let bound = events.iter().find(|v| v["event"] == "bound").unwrap();
    assert_eq!(bound["tcp_listeners"], serde_json::json!([]), "{bound}");
    assert!(
        !events
            .iter()
            .any(|v| v["candidate"].as_str().is_some_and(|c| c.contains(" tcp "))),
        "{events:#?}"
    );
    let _ = result_of(&answer_rx);
}

/// Runs one side through `channel` until connected (trickling candidates); returns the
/// selected pair's local candidate line.
async fn negotiate(pc: &PeerConnection, mut channel: SignalingChannel, caller: bool) -> String {
    if caller {
        let offer = pc.create_offer().await.unwrap();
        pc.set_local_description(offer.clone()).await.unwrap();
        channel.send(&SignalMessage::Offer(offer)).await.unwrap();
    }
    let mut pair = None;
    loop {
        tokio::select! {
            msg = channel.recv() => match msg.unwrap().expect("signaling closed") {
                SignalMessage::Offer(offer) => {
                    pc.set_remote_description(offer).await.unwrap();
                    let answer = pc.create_answer().await.unwrap();
                    pc.set_local_description(answer.clone()).await.unwrap();
                    channel.send(&SignalMessage::Answer(answer)).await.unwrap();
                }
                SignalMessage::Answer(answer) => pc.set_remote_description(answer).await.unwrap(),
                SignalMessage::IceCandidate(c) => pc.add_ice_candidate(c).await.unwrap(),
                other => panic!("unexpected {other:?}"),
            },
            event = pc.next_event() => match event.expect("events ended") {
                PeerEvent::IceCandidate(c) => {
                    channel.send(&SignalMessage::IceCandidate(c)).await.unwrap();
                }
                PeerEvent::SelectedCandidatePairChange { local, .. } => {
                    pair = Some(local.to_string());
                }
                PeerEvent::ConnectionStateChange(PeerConnectionState::Connected) => {
                    return pair.expect("connected without a selected pair");
                }
                _ => {}
            },
        }
    }
}

#[tokio::test]
async fn peer_connections_without_udp_carry_data_both_ways_over_tcp() {
    let config = Configuration {
        bind: BindConfig::loopback(),
        no_udp: true,
        ..Configuration::default()
    };
    let server = SignalingServer::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = format!("ws://{}/lib", server.local_addr().unwrap());
    let server = server.spawn();
    let callee_channel = SignalingChannel::connect(&url).await.unwrap();
    let caller_channel = SignalingChannel::connect(&url).await.unwrap();
    let caller = PeerConnection::new(config.clone()).await.unwrap();
    let callee = PeerConnection::new(config).await.unwrap();
    for pc in [&caller, &callee] {
        assert!(pc.local_addresses().is_empty());
        assert_eq!(pc.tcp_listeners().len(), 1);
    }
    let (a, b) = timeout(LIMIT, async {
        tokio::join!(
            negotiate(&caller, caller_channel, true),
            negotiate(&callee, callee_channel, false)
        )
    })
    .await
    .expect("no connection");
    assert!(a.contains(" tcp ") && b.contains(" tcp "), "{a} / {b}");

    for i in 0..20u8 {
        caller.send(&[i; 100]).await.unwrap();
        assert_eq!(
            timeout(LIMIT, callee.recv()).await.unwrap().unwrap(),
            [i; 100]
        );
        callee.send(&[i; 1000]).await.unwrap();
        assert_eq!(
            timeout(LIMIT, caller.recv()).await.unwrap().unwrap(),
            [i; 1000]
        );
    }
    caller.close().await.unwrap();
    callee.close().await.unwrap();
    server.abort();
}
