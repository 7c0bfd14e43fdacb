//! States and events in the W3C vocabulary (webrtc-pc §5.6).

use core::fmt;
use core::net::SocketAddr;

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
pub struct Transmit {
    /// The local base to send from.
    pub source: SocketAddr,
    /// Where to send it.
    pub destination: SocketAddr,
    /// The number of bytes written into the caller's buffer.
    pub len: usize,
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
