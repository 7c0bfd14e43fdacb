//! Two peers, each a [`floe::session::Session`] driven by `std::net::UdpSocket`s and a
//! hand-written loop: no tokio, no async. The offer, the answer and the trickled candidates go
//! between them as the browser's JSON strings, through in-process queues standing in for a
//! signaling channel. Prints both event timelines, reaches `connected`, and sends one datagram
//! each way.
//!
//! ```text
//! cargo run --example custom_runtime
//! ```

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use floe::sdp::{IceCandidateInit, SessionDescriptionInit};
use floe::session::{Over, PeerConnectionState, PeerEvent, Session, SessionConfig};

/// One peer: its socket, its session, and the JSON messages it has yet to read.
struct Peer {
    name: &'static str,
    socket: UdpSocket,
    base: SocketAddr,
    session: Session,
    inbox: VecDeque<String>,
    connected: bool,
    received: Option<Vec<u8>>,
}

impl Peer {
    fn new(name: &'static str, seed: u8) -> std::io::Result<Self> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_nonblocking(true)?;
        let base = socket.local_addr()?;
        // Seed bytes come from the OS in real use (getrandom); fixed here for a quiet example.
        let session = Session::new(SessionConfig::default(), &[base], [seed; 32]);
        Ok(Self {
            name,
            socket,
            base,
            session,
            inbox: VecDeque::new(),
            connected: false,
            received: None,
        })
    }

    /// One turn of the loop: signaling in, datagrams in, timers, transmits and events out.
    /// Returns the JSON messages for the other peer.
    fn turn(&mut self, start: Instant) -> Result<Vec<String>, Box<dyn std::error::Error>> {
        let mut outbox = Vec::new();
        let now = Instant::now();
        while let Some(text) = self.inbox.pop_front() {
            let msg: serde_json::Value = serde_json::from_str(&text)?;
            if msg.get("type").is_some() {
                let desc: SessionDescriptionInit = serde_json::from_value(msg)?;
                let is_offer = desc.sdp_type == floe::sdp::SdpType::Offer;
                self.session.set_remote_description(now, desc)?;
                if is_offer {
                    let answer = self.session.create_answer()?;
                    self.session.set_local_description(now, answer.clone())?;
                    outbox.push(serde_json::to_string(&answer)?);
                }
            } else {
                // A trickled candidate; `{"candidate": ""}` is the end of candidates.
                let c: IceCandidateInit = serde_json::from_value(msg)?;
                let c = (!c.candidate.is_empty()).then_some(c);
                self.session.add_ice_candidate(now, c)?;
            }
        }
        let mut buf = [0u8; 1500];
        loop {
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    let now = Instant::now();
                    if let Some(r) = self
                        .session
                        .handle_datagram(now, self.base, from, &buf[..n])
                    {
                        self.received = Some(buf[r].to_vec());
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.into()),
            }
        }
        if self
            .session
            .poll_timeout()
            .is_some_and(|t| t <= Instant::now())
        {
            self.session.handle_timeout(Instant::now());
        }
        let mut out = [0u8; 1500];
        while let Some(t) = self.session.poll_transmit(&mut out) {
            // No TURN streams or mDNS queries here: host candidates on loopback only.
            if t.over == Over::Udp {
                let _ = self.socket.send_to(&out[..t.len], t.destination);
            }
        }
        while let Some(event) = self.session.poll_event() {
            let ms = start.elapsed().as_secs_f64() * 1e3;
            println!("{ms:8.1} ms  {:6} {event}", self.name);
            match event {
                PeerEvent::IceCandidate(c) => {
                    let c = c.unwrap_or_default();
                    outbox.push(serde_json::to_string(&c)?);
                }
                PeerEvent::ConnectionStateChange(PeerConnectionState::Connected) => {
                    self.connected = true;
                    let t = self.session.send(self.name.as_bytes(), &mut out)?;
                    self.socket.send_to(&out[..t.len], t.destination)?;
                }
                _ => {}
            }
        }
        Ok(outbox)
    }
}

/// Runs the two peers until both are connected and have each other's datagram.
fn run() -> Result<(Peer, Peer), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let mut caller = Peer::new("caller", 1)?;
    let mut callee = Peer::new("callee", 2)?;
    let offer = caller.session.create_offer(start)?;
    caller.session.set_local_description(start, offer.clone())?;
    callee.inbox.push_back(serde_json::to_string(&offer)?);
    while caller.received.is_none() || callee.received.is_none() {
        if start.elapsed() > Duration::from_secs(10) {
            return Err("not connected within 10 s".into());
        }
        let to_callee = caller.turn(start)?;
        callee.inbox.extend(to_callee);
        let to_caller = callee.turn(start)?;
        caller.inbox.extend(to_caller);
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok((caller, callee))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (caller, callee) = run()?;
    for peer in [&caller, &callee] {
        let got = peer.received.as_deref().unwrap_or_default();
        println!("{} received {:?}", peer.name, String::from_utf8_lossy(got));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_hand_driven_sessions_connect_and_exchange_a_datagram() {
        let (caller, callee) = super::run().unwrap();
        assert!(caller.connected && callee.connected);
        assert_eq!(caller.received.as_deref(), Some(&b"callee"[..]));
        assert_eq!(callee.received.as_deref(), Some(&b"caller"[..]));
    }
}
