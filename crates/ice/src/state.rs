//! States and events in the W3C vocabulary (webrtc-pc §5.6).

use core::fmt;
use core::net::SocketAddr;

use std::time::Instant;

use tracing::{info, warn};

use crate::agent::{IceAgent, IceFailure};
use crate::candidate::Candidate;

/// RTCIceGatheringState (webrtc-pc §5.6.3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum IceGatheringState {
    /// Nothing gathered yet.
    New,
    /// Gathering is under way.
    Gathering,
    /// Every base and server has been dealt with.
    Complete,
}

/// RTCIceTransportState / RTCIceConnectionState (webrtc-pc §5.6.4).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum IceConnectionState {
    /// No checks yet.
    New,
    /// Checks are under way; no usable pair yet.
    Checking,
    /// A pair is selected and carries data; more candidates or checks may still come.
    Connected,
    /// A pair is selected, the peer signalled end-of-candidates and all checks are done.
    Completed,
    /// Consent checks on the selected pair go unanswered (RFC 7675).
    Disconnected,
    /// No pair works, or consent was lost.
    Failed,
    /// [`crate::IceAgent::close`] was called.
    Closed,
}

impl IceGatheringState {
    /// The W3C enum string.
    pub const fn as_str(self) -> &'static str {
        match self {
            IceGatheringState::New => "new",
            IceGatheringState::Gathering => "gathering",
            IceGatheringState::Complete => "complete",
        }
    }
}

impl IceConnectionState {
    /// The W3C enum string.
    pub const fn as_str(self) -> &'static str {
        match self {
            IceConnectionState::New => "new",
            IceConnectionState::Checking => "checking",
            IceConnectionState::Connected => "connected",
            IceConnectionState::Completed => "completed",
            IceConnectionState::Disconnected => "disconnected",
            IceConnectionState::Failed => "failed",
            IceConnectionState::Closed => "closed",
        }
    }
}

impl fmt::Display for IceGatheringState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for IceConnectionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the agent reports, in the order things happen.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum IceEvent {
    /// `icegatheringstatechange`.
    GatheringStateChange(IceGatheringState),
    /// `icecandidate` with a candidate: trickle it to the peer.
    LocalCandidate(Candidate),
    /// `icecandidate` with null: no more local candidates (RFC 8838 §4.4).
    EndOfCandidates,
    /// `iceconnectionstatechange`.
    ConnectionStateChange(IceConnectionState),
    /// `selectedcandidatepairchange`: data now flows between these addresses.
    SelectedPairChange {
        /// The local candidate of the pair.
        local: Candidate,
        /// The remote candidate of the pair.
        remote: Candidate,
    },
    /// The agent switched roles after a role conflict (RFC 8445 §7.3.1.1).
    RoleChange {
        /// The new role.
        controlling: bool,
    },
}

/// A datagram for the driver to send.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[must_use = "a transmit that is not sent is a lost packet"]
pub struct Transmit {
    /// The local base to send from.
    pub source: SocketAddr,
    /// Where to send it.
    pub destination: SocketAddr,
    /// The number of bytes written into the caller's buffer.
    pub len: usize,
    /// True when the bytes go on the ICE-TCP connection (RFC 6544) between `source` and
    /// `destination`, already framed (RFC 4571); false for a UDP datagram, or for bytes to a
    /// TURN server (which go on the TURN stream when that server is configured with
    /// [`floe_turn::Transport::Stream`]: the caller knows from its configuration).
    pub ice_tcp: bool,
}

/// What [`crate::IceAgent::handle_datagram`] made of a datagram.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Verdict {
    /// A STUN message for this agent: consumed (or dropped after checks).
    Stun,
    /// Application data from the peer on a known pair: the caller's to deliver.
    ApplicationData,
    /// Application data from the peer that came through a TURN relay: the payload is
    /// `datagram[start..end]` of the buffer passed to [`crate::IceAgent::handle_datagram`]
    /// (the rest is ChannelData or Data-indication framing, RFC 8656 §11.6, §12.6). Nothing is
    /// copied.
    RelayedData {
        /// Offset of the payload in the datagram.
        start: usize,
        /// End (exclusive) of the payload in the datagram.
        end: usize,
    },
    /// Not for this agent (unknown sender, or another protocol).
    NotForUs,
}

impl Verdict {
    /// Where the application payload sits in the datagram given to
    /// [`crate::IceAgent::handle_datagram`]: all of it for [`Verdict::ApplicationData`]
    /// (`len` is the datagram's length), a sub-range for [`Verdict::RelayedData`], `None`
    /// otherwise.
    pub fn payload_range(&self, len: usize) -> Option<core::ops::Range<usize>> {
        match *self {
            Verdict::ApplicationData => Some(0..len),
            Verdict::RelayedData { start, end } => Some(start..end),
            Verdict::Stun | Verdict::NotForUs => None,
        }
    }
}

impl IceAgent {
    pub(crate) fn set_gathering_state(&mut self, state: IceGatheringState) {
        if self.gathering_state != state {
            info!(state = %state, "gathering state");
            self.gathering_state = state;
            self.events.push_back(IceEvent::GatheringStateChange(state));
        }
    }

    pub(crate) fn set_connection_state(&mut self, state: IceConnectionState) {
        // Browsers always pass through `connected` on the way to `completed`.
        if state == IceConnectionState::Completed
            && !matches!(
                self.connection_state,
                IceConnectionState::Connected | IceConnectionState::Completed
            )
        {
            self.set_connection_state(IceConnectionState::Connected);
        }
        if self.connection_state != state {
            info!(state = %state, "connection state");
            self.connection_state = state;
            self.events
                .push_back(IceEvent::ConnectionStateChange(state));
        }
    }

    /// Recomputes gathering and connection state (webrtc-pc §5.6.3, §5.6.4).
    pub(crate) fn update_states(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        if self.gathering.is_complete()
            && self.relays_done()
            && self.gathering_state == IceGatheringState::Gathering
        {
            self.set_gathering_state(IceGatheringState::Complete);
            if !self.end_of_candidates_sent {
                self.end_of_candidates_sent = true;
                self.events.push_back(IceEvent::EndOfCandidates);
            }
        }
        match self.derive_connection_state(now) {
            Ok(state) => self.set_connection_state(state),
            Err(failure) => {
                if self.failure.is_none() {
                    warn!(reason = %failure, "ICE failed");
                }
                self.failure = Some(Box::new(failure));
                self.set_connection_state(IceConnectionState::Failed);
            }
        }
    }

    /// The connection state as webrtc-pc §5.6.4 defines it, or why the agent failed.
    fn derive_connection_state(&self, now: Instant) -> Result<IceConnectionState, IceFailure> {
        use crate::consent::ConsentLoss;
        // `failed` is sticky until a restart.
        if let Some(failure) = self.failure.as_deref().copied() {
            return Err(failure);
        }
        let timeout = self.consent_response_timeout();
        let cap = self.config.disconnect_timeout;
        if let Some(consent) = &self.consent {
            match consent.lost {
                Some(ConsentLoss::Expired) => return Err(IceFailure::ConsentExpired),
                Some(ConsentLoss::Revoked) => return Err(IceFailure::ConsentRevoked),
                None => {}
            }
            if now >= consent.disconnect_at(timeout, cap) {
                return Ok(IceConnectionState::Disconnected);
            }
        }
        if self.selected.is_some() {
            let done = self.remote.end_of_candidates
                && self.gathering_state == IceGatheringState::Complete
                && !self.checklist.has_pending();
            return Ok(if done {
                IceConnectionState::Completed
            } else {
                IceConnectionState::Connected
            });
        }
        if let Some(previous) = &self.previous {
            // An ICE restart: the old path carries data, and its consent decides.
            if now >= previous.consent.disconnect_at(timeout, cap) {
                return Ok(IceConnectionState::Disconnected);
            }
            return Ok(match self.connection_state {
                IceConnectionState::Disconnected => IceConnectionState::Connected,
                state => state,
            });
        }
        let any_valid = self.checklist.pairs().iter().any(|p| p.valid);
        // RFC 8863 §4: never give up before the PAC timer. Then give up without a valid pair,
        // or when the peer has no more candidates and nothing left to check can be selected.
        if self.pac_deadline.is_some_and(|pac| now >= pac) {
            let exhausted = self.remote.end_of_candidates && !self.checklist.has_pending();
            if !any_valid || exhausted {
                return Err(IceFailure::NoWorkingPair(self.check_summary()));
            }
        }
        if self.lost_selection {
            return Ok(IceConnectionState::Disconnected);
        }
        if self.remote.credentials.is_some()
            && (self.checklist.len() > 0 || !self.remote.candidates.is_empty())
        {
            return Ok(IceConnectionState::Checking);
        }
        Ok(IceConnectionState::New)
    }
}
