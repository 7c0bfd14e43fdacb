//! The driver's error type.

use std::fmt;
use std::io;

/// Everything the driver's verbs can fail with.
#[derive(Debug)]
pub enum Error {
    /// The verb is not allowed in the current signaling state (like the browser's
    /// `InvalidStateError`).
    InvalidState(&'static str),
    /// A session description could not be parsed or lacks what ICE needs.
    InvalidDescription(String),
    /// A candidate string could not be parsed.
    InvalidCandidate(String),
    /// An ICE server URL or another configuration value is malformed.
    InvalidConfiguration(String),
    /// No local address could be bound.
    NoUsableAddress,
    /// The ICE agent refused (not connected, closed, ...).
    Ice(floe_ice::IceError),
    /// A socket operation failed.
    Io(io::Error),
    /// The WebSocket signaling channel failed.
    Signaling(String),
    /// A STUN request got no usable answer.
    Stun(String),
    /// The connection (or its driver task) is closed.
    Closed,
    /// ICE failed: no candidate pair works, or consent was lost (the agent's reason, when
    /// known). Its `Display` is the line to show a user: for
    /// [`floe_ice::IceFailure::NoWorkingPair`], what the pairs went through and what to check.
    ConnectionFailed(Option<floe_ice::IceFailure>),
    /// Something did not happen in time.
    Timeout(String),
    /// A TURN server could not be reached, refused the request or lost the allocation (the
    /// message names the server).
    Turn(String),
    /// A TLS connection could not be set up (certificates, handshake).
    Tls(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidState(s) => write!(f, "invalid state: {s}"),
            Error::InvalidDescription(s) => write!(f, "invalid session description: {s}"),
            Error::InvalidCandidate(s) => write!(f, "invalid candidate: {s}"),
            Error::InvalidConfiguration(s) => write!(f, "invalid configuration: {s}"),
            Error::NoUsableAddress => f.write_str("no usable local address to bind"),
            Error::Ice(e) => write!(f, "ICE: {e}"),
            Error::Io(e) => write!(f, "I/O: {e}"),
            Error::Signaling(s) => write!(f, "signaling: {s}"),
            Error::Stun(s) => write!(f, "STUN: {s}"),
            Error::Closed => f.write_str("the peer connection is closed"),
            Error::ConnectionFailed(Some(why)) => write!(f, "ICE failed: {why}"),
            Error::ConnectionFailed(None) => f.write_str("ICE failed"),
            Error::Timeout(s) => write!(f, "timed out {s}"),
            Error::Turn(s) => f.write_str(s),
            Error::Tls(s) => write!(f, "TLS: {s}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Ice(e) => Some(e),
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<floe_session::SessionError> for Error {
    fn from(e: floe_session::SessionError) -> Self {
        use floe_session::SessionError as S;
        match e {
            S::InvalidState(s) => Error::InvalidState(s),
            S::InvalidDescription(s) => Error::InvalidDescription(s),
            S::InvalidCandidate(s) => Error::InvalidCandidate(s),
            S::UnknownEvent(s) => Error::InvalidConfiguration(format!("no event named {s:?}")),
            S::Closed => Error::Closed,
            S::Ice(e) => Error::Ice(e),
            // SessionError is non-exhaustive: anything new reads as a refused verb.
            other => Error::InvalidConfiguration(other.to_string()),
        }
    }
}

impl From<floe_ice::IceError> for Error {
    fn from(e: floe_ice::IceError) -> Self {
        Error::Ice(e)
    }
}

/// `Result` with the driver's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
