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
    /// Send this text once connected, again every second until it is echoed back (like
    /// ping); with `count`, `count` probes one second apart.
    pub send: Option<String>,
    /// Send this many probes of `send` (each tagged ` #N`) and report each RTT and the loss.
    pub count: Option<u32>,
    /// With `count`: succeed only if every probe came back (else: at least one).
    pub strict: bool,
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
    /// The `send` text came back (with `count`: enough probes came back).
    pub echo_ok: bool,
    /// Probes sent, and the round-trip time of each that came back.
    pub probes: Vec<(Instant, Option<Duration>)>,
    /// The selected pair, as `local -> remote`.
    pub selected: Option<String>,
}

/// Caller resends its offer and candidates this often until the answer comes: the relay keeps
/// no history, so a callee that joins the room later still gets them.
const RESEND: Duration = Duration::from_secs(1);

/// How long datagrams the peer sent before its `bye` may take to arrive.
const BYE_GRACE: Duration = Duration::from_millis(500);

/// Sleeps until `at`, or forever without one.
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// How often a probe is sent (`--send` until echoed, `--count`).
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// Runs one peer over `signaling` until it is done (see [`Options`]), times out, is
/// interrupted (SIGINT, SIGTERM) or fails. On every way out it says `bye` (unless the peer
/// did) and closes the connection, which deallocates its TURN allocations.
pub async fn run(
    mut signaling: SignalingChannel,
    config: Configuration,
    opts: Options,
    tl: Timeline,
) -> Result<Outcome> {
    let name = opts.name.as_str();
    let pc = PeerConnection::new(config).await?;
    let addrs: Vec<String> = pc.local_addresses().iter().map(|a| a.to_string()).collect();
    let tcp: Vec<String> = pc.tcp_listeners().iter().map(|a| a.to_string()).collect();
    let text = if tcp.is_empty() {
        addrs.join(" ")
    } else {
        format!("{} tcp {}", addrs.join(" "), tcp.join(" "))
    };
    tl.event(
        name,
        "bound",
        text.trim(),
        json!({ "addresses": addrs, "tcp_listeners": tcp }),
    );
    let mut out = Outcome::default();
    let mut bye = false;
    let result = call(&pc, &mut signaling, &opts, &tl, &mut out, &mut bye).await;
    if !bye {
        let _ = signaling.send(&SignalMessage::Bye).await;
    }
    if result.is_ok() {
        print_stats(&pc, name, &tl).await;
    }
    let _ = pc.close().await;
    signaling.close().await;
    result.map(|()| out)
}

/// Resolves on SIGINT or SIGTERM.
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The probe payload: the text itself, or with `count` the text and its number.
fn probe_payload(opts: &Options, text: &str, seq: usize) -> String {
    match opts.count {
        Some(_) => format!("{text} #{}", seq + 1),
        None => text.to_owned(),
    }
}

/// The call itself: signaling, events, data, probes, until done.
async fn call(
    pc: &PeerConnection,
    signaling: &mut SignalingChannel,
    opts: &Options,
    tl: &Timeline,
    out: &mut Outcome,
    bye: &mut bool,
) -> Result<()> {
    let name = opts.name.as_str();
    let deadline = tokio::time::Instant::now() + opts.timeout;
    // After the peer's bye, datagrams it sent just before may still be on their way (the
    // signaling channel can be faster): a short grace to read them.
    let mut left_at: Option<tokio::time::Instant> = None;
    // Everything the caller sent before the answer, for the resends.
    let mut unanswered: Vec<SignalMessage> = Vec::new();
    let mut answered = false;
    let mut gathered = false;
    // The controlling side may send as soon as it has selected a pair, which can be a moment
    // before this side has: what arrives before we can send is echoed once connected.
    let mut to_echo: Vec<Vec<u8>> = Vec::new();
    // Neither --send nor --echo: stay in the call until the peer leaves.
    let stay = opts.send.is_none() && !opts.echo;
    let wanted = opts.count.map_or(1, |n| n.max(1) as usize);
    let interrupt = interrupted();
    tokio::pin!(interrupt);

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
    let mut next_probe = tokio::time::Instant::now();

    loop {
        let connected = out.connected_at.is_some();
        if connected {
            for data in to_echo.drain(..) {
                pc.send(&data).await?;
                let text = String::from_utf8_lossy(&data);
                tl.event(name, "echo", &format!("{text:?}"), json!({ "data": text }));
            }
        }
        let echoed = out.probes.iter().filter(|(_, rtt)| rtt.is_some()).count();
        let probes_done = match (&opts.send, opts.count) {
            (None, _) => true,
            (Some(_), None) => out.echo_ok,
            // Every probe came back, or the last one had its second to.
            (Some(_), Some(_)) => {
                echoed == wanted
                    || (out.probes.len() == wanted && tokio::time::Instant::now() >= next_probe)
            }
        };
        // Gathering ends (`icecandidate` null) before the peer leaves: its timeline is whole
        // and every candidate has reached the other side. It ends within the gathering
        // timeout (3 s) even when a server does not answer.
        if connected && gathered && probes_done && (!(opts.echo || stay) || *bye) {
            break;
        }
        // The probe timer also wakes the loop one interval after the last probe, to end it.
        let probing = connected && !probes_done && opts.send.is_some();
        let limit = if opts.count.is_some() {
            wanted
        } else {
            usize::MAX
        };
        let more = out.probes.len() < limit;
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
                    *bye = true;
                    tl.event(name, "bye received", "", json!({}));
                    if !connected {
                        return Err(Error::Signaling("the other peer left before connecting".into()));
                    }
                    if !probes_done {
                        left_at = Some(tokio::time::Instant::now() + BYE_GRACE);
                    }
                }
                Some(_) => {}
            },
            event = pc.next_event() => {
                let Some(event) = event else { return Err(Error::Closed) };
                on_event(pc, signaling, &event, opts, tl, out).await?;
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
                if !on_echo(opts, &text, tl, out) && opts.echo {
                    to_echo.push(data);
                }
            }
            () = tokio::time::sleep_until(next_probe), if probing => {
                if !more {
                    continue;
                }
                let text = opts.send.as_deref().unwrap_or_default();
                let payload = probe_payload(opts, text, out.probes.len());
                tl.event(name, "send", &format!("{payload:?}"), json!({ "data": payload }));
                out.probes.push((Instant::now(), None));
                // A probe the network or a peer not yet ready loses is sent again in a second.
                if let Err(e) = pc.send(payload.as_bytes()).await {
                    tl.event(name, "send failed", &e.to_string(), json!({ "error": e.to_string() }));
                }
                next_probe = tokio::time::Instant::now() + PROBE_INTERVAL;
            }
            _ = resend.tick(), if opts.role == Role::Caller && !answered => {
                for msg in &unanswered {
                    signaling.send(msg).await?;
                }
            }
            () = sleep_until_some(left_at) => {
                break; // The peer left before the echo: the summary says how it went.
            }
            () = &mut interrupt => {
                tl.event(name, "interrupted", "", json!({}));
                if connected {
                    break;
                }
                return Err(Error::Signaling("interrupted before connecting".into()));
            }
            () = tokio::time::sleep_until(deadline) => {
                // A peer that echoes or stays has no end of its own: connected until the
                // timeout is success.
                if connected && (opts.echo || stay) && opts.send.is_none() {
                    break;
                }
                if connected && (probes_done || opts.count.is_some()) {
                    break; // Gathering did not end in time, or the probes are counted below.
                }
                let what = if connected { "the echo" } else { "a connection" };
                // What the checks went through so far, in the agent's words.
                let why = match pc.status().await.ok().and_then(|s| s.ice_checks) {
                    Some(summary) if !connected => format!(": {summary}"),
                    _ => String::new(),
                };
                return Err(Error::Timeout(format!(
                    "after {:.1} s waiting for {what}{why}",
                    opts.timeout.as_secs_f64()
                )));
            }
        }
    }
    if opts.count.is_some() {
        summarize(opts, tl, out)?;
    } else if opts.send.is_some() && !out.echo_ok {
        return Err(Error::Signaling(
            "the other peer left before the echo".into(),
        ));
    }
    Ok(())
}

/// Takes `text` as the echo of a probe (true), recording its round trip; false if it is not
/// one.
fn on_echo(opts: &Options, text: &str, tl: &Timeline, out: &mut Outcome) -> bool {
    let Some(sent) = opts.send.as_deref() else {
        return false;
    };
    let seq = match opts.count {
        None if text == sent => out.probes.len().checked_sub(1),
        Some(_) => text
            .strip_prefix(sent)
            .and_then(|rest| rest.strip_prefix(" #"))
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| n.checked_sub(1)),
        None => None,
    };
    let Some(seq) = seq.filter(|&i| i < out.probes.len()) else {
        return false;
    };
    let (at, rtt) = &mut out.probes[seq];
    if rtt.is_none() {
        let took = at.elapsed();
        *rtt = Some(took);
        let ms = took.as_secs_f64() * 1e3;
        tl.event(
            opts.name.as_str(),
            "echo received",
            &format!("#{} rtt {ms:.2} ms", seq + 1),
            json!({ "seq": seq + 1, "rtt_ms": ms }),
        );
    }
    if opts.count.is_none() {
        out.echo_ok = true;
    }
    true
}

/// `--count`: the loss and RTT summary, like ping's; an error when too few probes came back.
fn summarize(opts: &Options, tl: &Timeline, out: &mut Outcome) -> Result<()> {
    let sent = out.probes.len();
    let rtts: Vec<f64> = out
        .probes
        .iter()
        .filter_map(|(_, r)| r.map(|d| d.as_secs_f64() * 1e3))
        .collect();
    let received = rtts.len();
    let loss = if sent == 0 {
        100.0
    } else {
        100.0 * (sent - received) as f64 / sent as f64
    };
    let (min, max) = rtts.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &r| {
        (lo.min(r), hi.max(r))
    });
    let avg = rtts.iter().sum::<f64>() / received.max(1) as f64;
    tl.event(
        opts.name.as_str(),
        "probes",
        &format!(
            "{sent} sent, {received} echoed, {loss:.0}% loss, rtt min/avg/max {:.2}/{avg:.2}/{max:.2} ms",
            if received == 0 { 0.0 } else { min }
        ),
        json!({ "sent": sent, "received": received, "loss_percent": loss,
                "rtt_min_ms": (received > 0).then_some(min), "rtt_avg_ms": (received > 0).then_some(avg),
                "rtt_max_ms": (received > 0).then_some(max) }),
    );
    let wanted = opts.count.unwrap_or(1).max(1) as usize;
    out.echo_ok = if opts.strict {
        received == wanted
    } else {
        received > 0
    };
    if out.echo_ok {
        Ok(())
    } else {
        Err(Error::Timeout(format!(
            "{received} of {sent} probes came back{}",
            if opts.strict {
                " (--strict wants all)"
            } else {
                ""
            }
        )))
    }
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
            "protocol": local.transport.to_string(),
            "local_tcptype": local.tcp_type.map(|t| t.to_string()),
            "remote_tcptype": remote.tcp_type.map(|t| t.to_string()),
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
        }
        PeerEvent::ConnectionStateChange(PeerConnectionState::Failed) => {
            let why = pc.status().await.ok().and_then(|s| s.ice_failure);
            return Err(Error::ConnectionFailed(why));
        }
        _ => {}
    }
    Ok(())
}
