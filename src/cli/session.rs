//! One peer's side of a call, as the browser sample code does it: the caller creates and sends
//! an offer, the callee answers, both trickle candidates as `icecandidate` fires and add the
//! other's with `addIceCandidate`. Shared by `floe call`, `floe answer` and `floe demo`.

use std::time::{Duration, Instant};

use floe::signaling::{SignalMessage, SignalingChannel};
use floe::{Configuration, Error, PeerConnection, PeerConnectionState, PeerEvent, Result};
use serde_json::json;

use super::output::Timeline;

/// Which side of the call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    /// Sends the offer (controlling).
    Caller,
    /// Answers it (controlled).
    Callee,
}

/// What a peer does once connected.
#[derive(Clone, Debug)]
pub struct Options {
    /// Peer name in the timeline.
    pub name: String,
    /// Caller or callee.
    pub role: Role,
    /// Send this text once connected and wait until it is echoed back.
    pub send: Option<String>,
    /// Echo every message received (other than the echo of our own `send`), and stay until the
    /// other side says `bye`.
    pub echo: bool,
    /// Give up after this long.
    pub timeout: Duration,
    /// Trickle candidates as they are gathered; otherwise send the offer or answer once
    /// gathering is complete, with every candidate in it.
    pub trickle: bool,
}

/// How it went.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// When the offer was sent (caller) or received (callee).
    pub offer_at: Option<Instant>,
    /// When `connectionstatechange` reported `connected`.
    pub connected_at: Option<Instant>,
    /// The `send` text came back.
    pub echo_ok: bool,
    /// The selected pair, as `local -> remote`.
    pub selected: Option<String>,
}

/// Caller resends its offer and candidates this often until the answer comes: the relay keeps
/// no history, so a callee that joins the room later still gets them.
const RESEND: Duration = Duration::from_secs(1);

/// Runs one peer over `signaling` until it is done (see [`Options`]) or times out.
pub async fn run(
    mut signaling: SignalingChannel,
    config: Configuration,
    opts: Options,
    tl: Timeline,
) -> Result<Outcome> {
    let name = opts.name.as_str();
    let pc = PeerConnection::new(config).await?;
    let addrs: Vec<String> = pc.local_addresses().iter().map(|a| a.to_string()).collect();
    tl.event(
        name,
        "bound",
        &addrs.join(" "),
        json!({ "addresses": addrs }),
    );
    let deadline = tokio::time::Instant::now() + opts.timeout;
    let mut out = Outcome::default();
    // Everything the caller sent before the answer, for the resends.
    let mut unanswered: Vec<SignalMessage> = Vec::new();
    let mut answered = false;
    let mut bye = false;
    let mut gathered = false;
    // The controlling side may send as soon as it has selected a pair, which can be a moment
    // before this side has: what arrives before we can send is echoed once connected.
    let mut to_echo: Vec<Vec<u8>> = Vec::new();

    if opts.role == Role::Caller {
        let offer = pc.create_offer().await?;
        pc.set_local_description(offer.clone()).await?;
        out.offer_at = Some(Instant::now());
        if opts.trickle {
            let msg = SignalMessage::Offer(offer);
            tl.event(name, "offer sent", "", json!({}));
            signaling.send(&msg).await?;
            unanswered.push(msg);
        }
    }
    let mut resend = tokio::time::interval_at(tokio::time::Instant::now() + RESEND, RESEND);

    loop {
        let connected = out.connected_at.is_some();
        if connected {
            for data in to_echo.drain(..) {
                pc.send(&data).await?;
                let text = String::from_utf8_lossy(&data);
                tl.event(name, "echo", &format!("{text:?}"), json!({ "data": text }));
            }
        }
        // Gathering ends (`icecandidate` null) before the peer leaves: its timeline is whole
        // and every candidate has reached the other side. It ends within the gathering
        // timeout (3 s) even when a server does not answer.
        if connected && gathered && (opts.send.is_none() || out.echo_ok) && (!opts.echo || bye) {
            break;
        }
        tokio::select! {
            msg = signaling.recv() => match msg? {
                None => {
                    if connected { break; }
                    return Err(Error::Signaling("the signaling server closed the connection".into()));
                }
                Some(SignalMessage::Offer(offer)) if opts.role == Role::Callee => {
                    if out.offer_at.is_some() {
                        continue; // A resent offer: already answered.
                    }
                    out.offer_at = Some(Instant::now());
                    tl.event(name, "offer received", "", json!({}));
                    pc.set_remote_description(offer).await?;
                    let answer = pc.create_answer().await?;
                    pc.set_local_description(answer.clone()).await?;
                    if opts.trickle {
                        signaling.send(&SignalMessage::Answer(answer)).await?;
                        tl.event(name, "answer sent", "", json!({}));
                    }
                }
                Some(SignalMessage::Answer(answer)) if opts.role == Role::Caller => {
                    if answered { continue; }
                    answered = true;
                    tl.event(name, "answer received", "", json!({}));
                    pc.set_remote_description(answer).await?;
                }
                Some(SignalMessage::IceCandidate(c)) => {
                    let text = c.as_ref().map_or("null".to_owned(), |c| c.candidate.clone());
                    tl.event(name, "addIceCandidate", &text, json!({ "candidate": text }));
                    pc.add_ice_candidate(c).await?;
                }
                Some(SignalMessage::Bye) => {
                    bye = true;
                    tl.event(name, "bye received", "", json!({}));
                    if !connected {
                        return Err(Error::Signaling("the other peer left before connecting".into()));
                    }
                }
                Some(_) => {}
            },
            event = pc.next_event() => {
                let Some(event) = event else { return Err(Error::Closed) };
                on_event(&pc, &mut signaling, &event, &opts, &tl, &mut out).await?;
                gathered |= matches!(event, PeerEvent::IceCandidate(None));
                match event {
                    PeerEvent::IceCandidate(c)
                        if opts.trickle && opts.role == Role::Caller && !answered =>
                    {
                        unanswered.push(SignalMessage::IceCandidate(c));
                    }
                    // Without trickle, the description goes once gathering is complete.
                    PeerEvent::IceCandidate(None) if !opts.trickle => {
                        let desc = pc.local_description().await?.ok_or(Error::Closed)?;
                        let msg = if opts.role == Role::Caller {
                            tl.event(name, "offer sent", "with every candidate", json!({}));
                            SignalMessage::Offer(desc)
                        } else {
                            tl.event(name, "answer sent", "with every candidate", json!({}));
                            SignalMessage::Answer(desc)
                        };
                        signaling.send(&msg).await?;
                        if opts.role == Role::Caller {
                            unanswered.push(msg);
                        }
                    }
                    _ => {}
                }
            }
            data = pc.recv() => {
                let data = data?;
                if is_dtls_record(&data) {
                    // A browser's DTLS handshake: floe does no DTLS, and bouncing the record
                    // back would only make the browser abort it.
                    tl.event(name, "dtls record ignored", "floe does not implement DTLS",
                        json!({ "len": data.len() }));
                    continue;
                }
                let text = String::from_utf8_lossy(&data).into_owned();
                tl.event(name, "message", &format!("{text:?}"), json!({ "data": text }));
                if opts.send.as_deref() == Some(text.as_str()) {
                    out.echo_ok = true;
                } else if opts.echo {
                    to_echo.push(data);
                }
            }
            _ = resend.tick(), if opts.role == Role::Caller && !answered => {
                for msg in &unanswered {
                    signaling.send(msg).await?;
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                // An echoing peer has no end of its own: connected until the timeout is success.
                if connected && opts.echo && (opts.send.is_none() || out.echo_ok) {
                    break;
                }
                if connected && !gathered && (opts.send.is_none() || out.echo_ok) {
                    break; // Gathering did not end in time: not a reason to fail the call.
                }
                let what = if connected { "the echo" } else { "a connection" };
                return Err(Error::Timeout(format!(
                    "after {:.1} s waiting for {what}",
                    opts.timeout.as_secs_f64()
                )));
            }
        }
    }
    if !bye {
        let _ = signaling.send(&SignalMessage::Bye).await;
    }
    print_stats(&pc, name, &tl).await;
    pc.close().await?;
    signaling.close().await;
    Ok(out)
}

/// What `getStats()` says of the selected pair, and every remote candidate (mDNS names
/// resolved, peer-reflexive ones learned).
async fn print_stats(pc: &PeerConnection, name: &str, tl: &Timeline) {
    let Ok(stats) = pc.stats().await else { return };
    let remote: Vec<&str> = stats
        .remote_candidates
        .iter()
        .map(|c| c.candidate.as_str())
        .collect();
    let Some(pair) = stats.selected_pair() else {
        return;
    };
    let rtt_ms = pair.current_round_trip_time.map(|d| d.as_secs_f64() * 1e3);
    tl.event(
        name,
        "stats",
        &format!(
            "pair {}: {} requests sent, {} responses received, rtt {:.2} ms, {} bytes sent, {} received; {} remote candidates",
            pair.id,
            pair.requests_sent,
            pair.responses_received,
            rtt_ms.unwrap_or(f64::NAN),
            pair.bytes_sent,
            pair.bytes_received,
            remote.len()
        ),
        json!({
            "pair": pair.id,
            "requests_sent": pair.requests_sent,
            "responses_received": pair.responses_received,
            "rtt_ms": rtt_ms,
            "bytes_sent": pair.bytes_sent,
            "bytes_received": pair.bytes_received,
            "remote_candidates": remote,
        }),
    );
}

/// A DTLS record (RFC 6347 §4.1): content type 20..=25, then a DTLS version (254, x). RFC 7983
/// demultiplexes on the first byte alone, which would take text starting with e.g. a digit.
fn is_dtls_record(data: &[u8]) -> bool {
    data.len() >= 13 && (20..=25).contains(&data[0]) && data[1] == 0xFE
}

/// The JSON fields of an event, named as in the browser's event objects: `state` for state
/// changes, `candidate` (null at the end of gathering), `local` / `remote` candidate lines.
fn event_fields(event: &PeerEvent) -> serde_json::Value {
    match event {
        PeerEvent::SignalingStateChange(s) => json!({ "state": s.as_str() }),
        PeerEvent::IceGatheringStateChange(s) => json!({ "state": s.to_string() }),
        PeerEvent::IceCandidate(Some(c)) => json!({
            "candidate": c.candidate,
            "sdpMid": c.sdp_mid,
            "sdpMLineIndex": c.sdp_m_line_index,
        }),
        PeerEvent::IceCandidate(None) => json!({ "candidate": null }),
        PeerEvent::IceConnectionStateChange(s) => json!({ "state": s.to_string() }),
        PeerEvent::ConnectionStateChange(s) => json!({ "state": s.as_str() }),
        PeerEvent::SelectedCandidatePairChange { local, remote } => json!({
            "local": local.to_string(),
            "remote": remote.to_string(),
        }),
    }
}

async fn on_event(
    pc: &PeerConnection,
    signaling: &mut SignalingChannel,
    event: &PeerEvent,
    opts: &Options,
    tl: &Timeline,
    out: &mut Outcome,
) -> Result<()> {
    let name = opts.name.as_str();
    let detail = event.to_string();
    let detail = detail.strip_prefix(event.name()).unwrap_or(&detail).trim();
    tl.event(name, event.name(), detail, event_fields(event));
    match event {
        PeerEvent::IceCandidate(c) if opts.trickle => {
            signaling
                .send(&SignalMessage::IceCandidate(c.clone()))
                .await?;
        }
        PeerEvent::SelectedCandidatePairChange { .. } => out.selected = Some(detail.to_owned()),
        PeerEvent::ConnectionStateChange(PeerConnectionState::Connected)
            if out.connected_at.is_none() =>
        {
            let now = Instant::now();
            out.connected_at = Some(now);
            if let Some(offer) = out.offer_at {
                let ms = now.duration_since(offer).as_secs_f64() * 1e3;
                let from = if opts.role == Role::Caller {
                    "sent"
                } else {
                    "received"
                };
                tl.event(
                    name,
                    "connected",
                    &format!("{ms:.1} ms after the offer was {from}"),
                    json!({ "offer_to_connected_ms": ms }),
                );
            }
            if let Some(text) = &opts.send {
                tl.event(name, "send", &format!("{text:?}"), json!({ "data": text }));
                pc.send(text.as_bytes()).await?;
            }
        }
        PeerEvent::ConnectionStateChange(PeerConnectionState::Failed) => {
            let why = pc.status().await.ok().and_then(|s| s.ice_failure);
            return Err(Error::ConnectionFailed(why));
        }
        _ => {}
    }
    Ok(())
}
