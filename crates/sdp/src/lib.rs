//! SDP (RFC 8866) parser and writer with typed ICE attributes (RFC 8839),
//! for the floe ICE/STUN/TURN stack.
//!
//! * [`SessionDescription::parse`] reads a whole description, with
//!   [`ParseLimits`] against hostile input; errors name the line.
//! * `Display` writes it back with CRLF line endings; a well-formed input
//!   comes out byte for byte the same (text and attribute values are kept
//!   as written, structured lines are written canonically).
//! * Typed views over the stored attributes: ICE credentials and options,
//!   candidates, mid, BUNDLE, setup, fingerprint, sctp-port, ...
//! * [`Candidate`] parses and prints a single trickled candidate string.
//! * [`OfferBuilder`] and [`AnswerBuilder`] build data channel offers and
//!   answers a browser accepts.
//!
//! ```
//! use floe_sdp::SessionDescription;
//!
//! let sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
//!            m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
//!            a=ice-ufrag:abcd\r\na=mid:0\r\n";
//! let desc = SessionDescription::parse(sdp).unwrap();
//! assert_eq!(desc.ice_ufrag_for(0), Some("abcd"));
//! assert_eq!(desc.to_string(), sdp);
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod attribute;
mod builder;
mod candidate;
mod description;
mod error;
mod json;
mod media;
mod parse;

pub use attribute::{Attribute, Direction, Fingerprint, Group, IceOption, Setup};
pub use builder::{
    AnswerBuilder, OfferBuilder, DATA_CHANNEL_FORMAT, DATA_CHANNEL_PROTO, DEFAULT_MAX_MESSAGE_SIZE,
};
pub use candidate::{
    Candidate, CandidateAddress, CandidateType, TcpType, Transport, MAX_CANDIDATE_LEN,
};
pub use description::{
    Bandwidth, Connection, Origin, Repeat, SessionDescription, TimeUnit, TimeZoneAdjustment,
    Timing, TypedTime,
};
pub use error::{CandidateError, ErrorKind, Limit, ParseError, ParseLimits};
pub use json::{IceCandidateInit, SdpType, SessionDescriptionInit};
pub use media::MediaDescription;
