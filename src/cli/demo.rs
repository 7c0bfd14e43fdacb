//! `floe demo`: embedded STUN and TURN servers, the signaling server and two peers in one
//! process, signaling through the WebSocket relay exactly as two browsers running the sample code
//! would. Both peers ask the TURN server for relayed candidates too; the host pair wins, often
//! before a relayed candidate is ready (one that comes after selection is not signalled:
//! RFC 8838 §13).

use std::net::SocketAddr;
use std::time::Duration;

use floe::signaling::{SignalingChannel, SignalingServer};
use floe::stun_tools::StunServer;
use floe::turn_server::{TurnServer, TurnServerConfig};
use floe::{BindConfig, Configuration, Error, IceServer, Result};
use serde_json::json;

use super::output::Timeline;
use super::session::{self, Options, Role};

/// Both peers give up after this long; on loopback the call takes well under a second.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The message the caller sends and the callee echoes.
const MESSAGE: &str = "hello from the caller";

/// Runs the demo and prints its timeline.
pub async fn run(json: bool) -> Result<()> {
    let tl = Timeline::new(json);
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let stun = StunServer::bind(loopback, None).await?;
    let stun_addr = stun.local_addresses()[0];
    let stun_task = stun.spawn();
    // One user with a password made up for this run.
    let turn_pass: String = floe::convert::os_random::<16>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut turn_config =
        TurnServerConfig::new(loopback, "floe-demo", [("demo", turn_pass.as_str())]);
    // Both peers are on loopback, which a TURN server refuses by default (RFC 8656 §21.4).
    turn_config.allowed_peers = floe_turn::IpNet::new([127, 0, 0, 0].into(), 8)
        .into_iter()
        .collect();
    let turn = TurnServer::bind(turn_config).await?.spawn();
    let signaling = SignalingServer::bind(loopback).await?;
    let url = format!("ws://{}/demo", signaling.local_addr()?);
    let signaling_task = signaling.spawn();
    tl.info(
        &format!(
            "STUN server on {stun_addr}, TURN server on {}, signaling server on {url}",
            turn.local_addr()
        ),
        json!({
            "event": "servers",
            "stun": stun_addr.to_string(),
            "turn": turn.local_addr().to_string(),
            "signaling": url,
        }),
    );

    let config = Configuration {
        ice_servers: vec![
            IceServer::new([format!("stun:{stun_addr}")])?,
            IceServer {
                username: Some("demo".into()),
                credential: Some(turn_pass),
                ..IceServer::new([turn.url()])?
            },
        ],
        bind: BindConfig::loopback(),
        ..Configuration::default()
    };
    // The callee joins the room first, as the person answering a call waits for it.
    let callee_channel = SignalingChannel::connect(&url).await?;
    let caller_channel = SignalingChannel::connect(&url).await?;
    let callee_opts = Options {
        name: "callee".into(),
        role: Role::Callee,
        send: None,
        count: None,
        strict: false,
        echo: true,
        timeout: TIMEOUT,
        trickle: true,
    };
    let caller_opts = Options {
        name: "caller".into(),
        role: Role::Caller,
        send: Some(MESSAGE.into()),
        count: None,
        strict: false,
        echo: false,
        timeout: TIMEOUT,
        trickle: true,
    };
    let callee = tokio::spawn(session::run(
        callee_channel,
        config.clone(),
        callee_opts,
        tl,
    ));
    let caller = session::run(caller_channel, config, caller_opts, tl).await;
    if caller.is_err() {
        callee.abort();
    }
    let callee = callee.await;
    stun_task.abort();
    turn.abort();
    signaling_task.abort();
    // The callee's own failure (not the abort above) explains a caller timeout: show it.
    let callee = match callee {
        Ok(result) => result,
        Err(_) => Err(Error::Closed),
    };
    let aborted = caller.is_err() && matches!(callee, Err(Error::Closed));
    if let (Err(e), false) = (&callee, aborted) {
        tl.event(
            "callee",
            "error",
            &e.to_string(),
            json!({ "error": e.to_string() }),
        );
    }
    let caller = caller?;
    let callee = callee?;

    let ms = |o: &session::Outcome| match (o.offer_at, o.connected_at) {
        (Some(a), Some(b)) => b.duration_since(a).as_secs_f64() * 1e3,
        _ => f64::NAN,
    };
    // One clock for both peers: the callee's `connected` measured from the caller's offer.
    let callee_ms = match (caller.offer_at, callee.connected_at) {
        (Some(a), Some(b)) => b.saturating_duration_since(a).as_secs_f64() * 1e3,
        _ => f64::NAN,
    };
    let caller_ms = ms(&caller);
    let pair = caller.selected.clone().unwrap_or_default();
    tl.info(
        &format!(
            "\nselected pair (caller): {pair}\nmessage {MESSAGE:?} went caller -> callee and \
             came back: {}\noffer -> connected: caller {caller_ms:.1} ms, callee {callee_ms:.1} ms\nconnected",
            if caller.echo_ok { "yes" } else { "no" }
        ),
        json!({
            "event": "summary",
            "result": "connected",
            "selected_pair": pair,
            "echo_ok": caller.echo_ok,
            "offer_to_connected_ms": {
                "caller": (caller_ms * 1e3).round() / 1e3,
                "callee": (callee_ms * 1e3).round() / 1e3,
            },
        }),
    );
    Ok(())
}
