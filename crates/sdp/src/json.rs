//! The JavaScript-facing shapes: RTCSessionDescriptionInit
//! (`{"type":"offer","sdp":"..."}`) and RTCIceCandidateInit
//! (`{candidate, sdpMid, sdpMLineIndex, usernameFragment}`); serde
//! support behind the `serde` feature.

use std::fmt;

use crate::candidate::Candidate;
use crate::description::SessionDescription;
use crate::error::{CandidateError, ParseError};

/// The `type` of an RTCSessionDescriptionInit (W3C WebRTC §4.8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum SdpType {
    /// `offer`.
    Offer,
    /// `pranswer`.
    Pranswer,
    /// `answer`.
    Answer,
    /// `rollback`.
    Rollback,
}

impl fmt::Display for SdpType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SdpType::Offer => "offer",
            SdpType::Pranswer => "pranswer",
            SdpType::Answer => "answer",
            SdpType::Rollback => "rollback",
        })
    }
}

/// RTCSessionDescriptionInit: `{"type":"offer","sdp":"v=0\r\n..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SessionDescriptionInit {
    /// `type`.
    #[cfg_attr(feature = "serde", serde(rename = "type"))]
    pub sdp_type: SdpType,
    /// `sdp`: the description text.
    #[cfg_attr(feature = "serde", serde(default))]
    pub sdp: String,
}

impl SessionDescriptionInit {
    /// Wraps a description, writing it with CRLF line endings.
    pub fn new(sdp_type: SdpType, description: &SessionDescription) -> Self {
        Self {
            sdp_type,
            sdp: description.to_string(),
        }
    }

    /// Parses the `sdp` text.
    pub fn description(&self) -> Result<SessionDescription, ParseError> {
        SessionDescription::parse(&self.sdp)
    }
}

/// RTCIceCandidateInit, as trickled one candidate at a time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct IceCandidateInit {
    /// `candidate`: `candidate:...`, or empty for end-of-candidates.
    #[cfg_attr(feature = "serde", serde(default))]
    pub candidate: String,
    /// `sdpMid`.
    #[cfg_attr(feature = "serde", serde(default))]
    pub sdp_mid: Option<String>,
    /// `sdpMLineIndex`.
    #[cfg_attr(feature = "serde", serde(default))]
    pub sdp_m_line_index: Option<u16>,
    /// `usernameFragment`.
    #[cfg_attr(feature = "serde", serde(default))]
    pub username_fragment: Option<String>,
}

impl IceCandidateInit {
    /// Wraps a candidate for section `mid` / `index`, with its ufrag.
    pub fn new(
        candidate: &Candidate,
        mid: Option<&str>,
        index: Option<u16>,
        ufrag: Option<&str>,
    ) -> Self {
        Self {
            candidate: candidate.to_string(),
            sdp_mid: mid.map(str::to_owned),
            sdp_m_line_index: index,
            username_fragment: ufrag.map(str::to_owned),
        }
    }

    /// Whether this is an end-of-candidates indication (empty candidate,
    /// RFC 8840 §4.4 as mapped by JSEP).
    pub fn is_end_of_candidates(&self) -> bool {
        self.candidate.trim().is_empty()
    }

    /// The parsed candidate; `Ok(None)` for end-of-candidates.
    pub fn parse_candidate(&self) -> Result<Option<Candidate>, CandidateError> {
        if self.is_end_of_candidates() {
            return Ok(None);
        }
        self.candidate.parse().map(Some)
    }
}
