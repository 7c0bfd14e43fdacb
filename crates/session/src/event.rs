//! The browser's states and events: RTCSignalingState, RTCPeerConnectionState, and the
//! events a peer connection fires (webrtc-pc §4.3), with their W3C names.

use std::fmt;
use std::net::SocketAddr;

use floe_ice::{IceConnectionState, IceGatheringState};
use floe_sdp::{IceCandidateInit, SessionDescriptionInit};

use crate::error::SessionError;

/// RTCPeerConnectionState (webrtc-pc §4.3.3). Without DTLS it follows the ICE state:
/// `checking` is `connecting`, `completed` is `connected`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PeerConnectionState {
    /// Nothing yet.
    New,
    /// Connectivity checks under way.
    Connecting,
    /// A candidate pair carries data.
    Connected,
    /// Consent checks go unanswered for now.
    Disconnected,
    /// No pair works, or consent was lost.
    Failed,
    /// `close()` was called.
    Closed,
}

impl PeerConnectionState {
    /// The state a browser would report for this ICE connection state.
    pub fn from_ice(state: IceConnectionState) -> Self {
        match state {
            IceConnectionState::New => Self::New,
            IceConnectionState::Checking => Self::Connecting,
            IceConnectionState::Connected | IceConnectionState::Completed => Self::Connected,
            IceConnectionState::Disconnected => Self::Disconnected,
            IceConnectionState::Failed => Self::Failed,
            IceConnectionState::Closed => Self::Closed,
        }
    }

    /// The W3C enum string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Disconnected => "disconnected",
            Self::Failed => "failed",
            Self::Closed => "closed",
        }
    }
}

impl fmt::Display for PeerConnectionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// RTCSignalingState, the subset floe goes through (no rollback, no provisional answers).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum SignalingState {
    /// No offer outstanding.
    Stable,
    /// Our offer is applied locally; waiting for the answer.
    HaveLocalOffer,
    /// The peer's offer is applied; our answer is due.
    HaveRemoteOffer,
    /// Closed.
    Closed,
}

impl SignalingState {
    /// The W3C enum string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Stable => "stable",
            Self::HaveLocalOffer => "have-local-offer",
            Self::HaveRemoteOffer => "have-remote-offer",
            Self::Closed => "closed",
        }
    }
}

impl fmt::Display for SignalingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a [`crate::Session`] reports, named like the browser's events, in the browser's order.
// Events are few (a handful per connection), so the candidates are not boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum PeerEvent {
    /// `signalingstatechange`: a description was applied, or the session closed.
    SignalingStateChange(SignalingState),
    /// `icegatheringstatechange`.
    IceGatheringStateChange(IceGatheringState),
    /// `icecandidate`: a candidate to trickle to the peer, or `None` (the null candidate) once
    /// gathering is complete.
    IceCandidate(Option<IceCandidateInit>),
    /// `iceconnectionstatechange`.
    IceConnectionStateChange(IceConnectionState),
    /// `connectionstatechange`.
    ConnectionStateChange(PeerConnectionState),
    /// `selectedcandidatepairchange` (on RTCIceTransport): data now flows on this pair.
    SelectedCandidatePairChange {
        /// The local candidate.
        local: floe_sdp::Candidate,
        /// The remote candidate.
        remote: floe_sdp::Candidate,
    },
}

impl PeerEvent {
    /// Which kind of event this is.
    pub const fn kind(&self) -> EventKind {
        match self {
            PeerEvent::SignalingStateChange(_) => EventKind::SignalingStateChange,
            PeerEvent::IceGatheringStateChange(_) => EventKind::IceGatheringStateChange,
            PeerEvent::IceCandidate(_) => EventKind::IceCandidate,
            PeerEvent::IceConnectionStateChange(_) => EventKind::IceConnectionStateChange,
            PeerEvent::ConnectionStateChange(_) => EventKind::ConnectionStateChange,
            PeerEvent::SelectedCandidatePairChange { .. } => EventKind::SelectedCandidatePairChange,
        }
    }

    /// The browser's event name, e.g. `icecandidate`.
    pub const fn name(&self) -> &'static str {
        self.kind().name()
    }
}

/// The kinds of [`PeerEvent`] (`addEventListener` takes these names).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum EventKind {
    /// `signalingstatechange`.
    SignalingStateChange,
    /// `icegatheringstatechange`.
    IceGatheringStateChange,
    /// `icecandidate`.
    IceCandidate,
    /// `iceconnectionstatechange`.
    IceConnectionStateChange,
    /// `connectionstatechange`.
    ConnectionStateChange,
    /// `selectedcandidatepairchange`.
    SelectedCandidatePairChange,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 6] = [
        EventKind::SignalingStateChange,
        EventKind::IceGatheringStateChange,
        EventKind::IceCandidate,
        EventKind::IceConnectionStateChange,
        EventKind::ConnectionStateChange,
        EventKind::SelectedCandidatePairChange,
    ];

    /// The browser's event name.
    pub const fn name(self) -> &'static str {
        match self {
            EventKind::SignalingStateChange => "signalingstatechange",
            EventKind::IceGatheringStateChange => "icegatheringstatechange",
            EventKind::IceCandidate => "icecandidate",
            EventKind::IceConnectionStateChange => "iceconnectionstatechange",
            EventKind::ConnectionStateChange => "connectionstatechange",
            EventKind::SelectedCandidatePairChange => "selectedcandidatepairchange",
        }
    }
}

impl std::str::FromStr for EventKind {
    type Err = SessionError;

    /// Parses a browser event name, as given to `addEventListener`.
    fn from_str(s: &str) -> Result<Self, SessionError> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| SessionError::UnknownEvent(s.to_owned()))
    }
}

impl fmt::Display for PeerEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match self {
            PeerEvent::SignalingStateChange(s) => write!(f, " {s}"),
            PeerEvent::IceGatheringStateChange(s) => write!(f, " {s}"),
            PeerEvent::IceCandidate(Some(c)) => write!(f, " {}", c.candidate),
            PeerEvent::IceCandidate(None) => f.write_str(" null"),
            PeerEvent::IceConnectionStateChange(s) => write!(f, " {s}"),
            PeerEvent::ConnectionStateChange(s) => write!(f, " {s}"),
            PeerEvent::SelectedCandidatePairChange { local, remote } => write!(
                f,
                " {} {}:{} -> {} {}:{}",
                local.typ, local.address, local.port, remote.typ, remote.address, remote.port
            ),
        }
    }
}

/// A snapshot of a connection's state.
#[derive(Clone, Debug)]
pub struct Status {
    /// `signalingState`.
    pub signaling_state: SignalingState,
    /// `iceGatheringState`.
    pub ice_gathering_state: IceGatheringState,
    /// `iceConnectionState`.
    pub ice_connection_state: IceConnectionState,
    /// `connectionState`.
    pub connection_state: PeerConnectionState,
    /// `(local base, remote address)` of the selected pair, if any.
    pub selected_path: Option<(SocketAddr, SocketAddr)>,
    /// Why ICE failed, once `iceConnectionState` is `failed`.
    pub ice_failure: Option<floe_ice::IceFailure>,
    /// What the candidates and checks went through so far (once there is an ICE agent): its
    /// `Display` says why no pair works yet, e.g. for an application that stops waiting.
    pub ice_checks: Option<floe_ice::CheckSummary>,
    /// `localDescription`: as last set, with the candidates gathered since.
    pub local_description: Option<SessionDescriptionInit>,
    /// `remoteDescription`, as last set.
    pub remote_description: Option<SessionDescriptionInit>,
}
