//! # floe-session
//!
//! A sans-IO RTCPeerConnection: the browser's signaling verbs (`createOffer`,
//! `setRemoteDescription`, `addIceCandidate`, `restartIce`, …), its states and events, over a
//! [`floe_ice::IceAgent`], for one data transport. No sockets, clocks, threads or hidden
//! randomness: the runtime passes `now`, datagrams and seed bytes in, and takes transmits,
//! events and the next deadline out, in any runtime it likes.
//!
//! [`Session`] owns everything between SDP and the agent: the JSEP signaling states, offer and
//! answer construction, restart detection from a changed `ice-ufrag`, candidates trickled
//! before the remote description, stale-generation candidates, mDNS lookups of `.local`
//! candidates (which names are pending, answers only from the local link, end-of-candidates
//! held back while they run), and which transmits go on TURN streams. The runtime owns the
//! sockets, timers, DNS, TLS and the signaling channel.
//!
//! ## The drive loop
//!
//! One UDP socket per base, non-blocking or with a read timeout; `exchange` stands for the
//! signaling channel. Every [`Transmit`] is the first `len` bytes of the buffer passed in:
//!
//! ```no_run
//! # use std::net::UdpSocket;
//! # use std::time::{Duration, Instant};
//! # use floe_session::{Over, PeerEvent, Session, SessionConfig};
//! # fn exchange(_: &PeerEvent) {}
//! let socket = UdpSocket::bind("127.0.0.1:0")?;
//! let base = socket.local_addr()?;
//! let seed = [7u8; 32]; // from the OS in real use (getrandom)
//! let mut session = Session::new(SessionConfig::default(), &[base], seed);
//! let offer = session.create_offer(Instant::now())?;
//! session.set_local_description(Instant::now(), offer)?; // send it to the peer, apply its answer
//! let (mut out, mut buf) = (vec![0u8; 1500], vec![0u8; 1500]);
//! loop {
//!     while let Some(t) = session.poll_transmit(&mut out) {
//!         if t.over == Over::Udp {
//!             socket.send_to(&out[..t.len], t.destination)?;
//!         }
//!     }
//!     while let Some(event) = session.poll_event() {
//!         exchange(&event); // trickle `icecandidate`s, watch the states
//!     }
//!     let now = Instant::now();
//!     let wait = session.poll_timeout().map_or(Duration::from_millis(100), |t| t - now);
//!     socket.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
//!     match socket.recv_from(&mut buf) {
//!         Ok((n, from)) => {
//!             if let Some(data) = session.handle_datagram(Instant::now(), base, from, &buf[..n]) {
//!                 println!("peer says {:?}", &buf[data]);
//!             }
//!         }
//!         Err(_) => session.handle_timeout(Instant::now()),
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `examples/custom_runtime.rs` in the repository runs two such loops against each other.
//!
//! ## One transmit shape
//!
//! Every sans-IO crate of floe hands out what to send the same way: a `#[must_use]` value
//! naming the destination (and, where there is a choice, the source), with the bytes written
//! into a buffer the caller owns ([`floe_ice::Transmit`], this crate's [`Transmit`],
//! `floe_mdns::Transmit`) or borrowed from the crate until the next call
//! (`floe_stun::Transmit`, `floe_turn::Transmit`, whose requests are kept for retransmission
//! anyway). Nothing is sent or allocated behind the caller's back.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod convert;
mod description;
mod error;
mod event;
mod lookups;
mod session;
pub mod stats;

pub use error::SessionError;
pub use event::{EventKind, PeerConnectionState, PeerEvent, SignalingState, Status};
pub use floe_ice::StreamCommand;
pub use lookups::LocalNetwork;
pub use session::{Over, Session, SessionConfig, Transmit, MIN_TRANSMIT_BUFFER};
pub use stats::StatsReport;
