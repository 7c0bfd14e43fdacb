//! Why a call on a [`crate::Session`] was refused.

use std::fmt;

/// A refused call. The session's state is unchanged by it.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum SessionError {
    /// The call is not allowed in the current signaling state (JSEP §5.2, §5.5), e.g.
    /// `createAnswer` without a remote offer.
    InvalidState(&'static str),
    /// A description that does not parse, lacks an `m=` section or ICE credentials, or was
    /// not made by this session.
    InvalidDescription(String),
    /// A trickled candidate that does not parse.
    InvalidCandidate(String),
    /// No browser event has this name.
    UnknownEvent(String),
    /// The session is closed.
    Closed,
    /// The agent refused (no selected pair to send on, too many candidates, …).
    Ice(floe_ice::IceError),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::InvalidState(s) => write!(f, "invalid state: {s}"),
            SessionError::InvalidDescription(s) => write!(f, "invalid session description: {s}"),
            SessionError::InvalidCandidate(s) => write!(f, "invalid candidate: {s}"),
            SessionError::UnknownEvent(s) => write!(f, "no event named {s:?}"),
            SessionError::Closed => f.write_str("the session is closed"),
            SessionError::Ice(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SessionError {}

impl From<floe_ice::IceError> for SessionError {
    fn from(e: floe_ice::IceError) -> Self {
        SessionError::Ice(e)
    }
}
