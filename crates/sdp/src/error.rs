//! Parse errors and parser limits.

use std::fmt;

/// How much a single parse may consume, so a hostile peer cannot make the
/// parser allocate without bound.
///
/// The defaults are far above what any browser produces (a Chromium offer
/// with a few dozen m= sections is a few tens of kilobytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParseLimits {
    /// Maximum input length in bytes.
    pub max_input_len: usize,
    /// Maximum number of lines (blank lines included).
    pub max_lines: usize,
    /// Maximum number of `m=` sections.
    pub max_media: usize,
    /// Maximum number of `a=` lines, session and media level together.
    pub max_attributes: usize,
    /// Maximum number of `a=candidate` lines, all sections together.
    pub max_candidates: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self {
            max_input_len: 256 * 1024,
            max_lines: 8192,
            max_media: 256,
            max_attributes: 8192,
            max_candidates: 1024,
        }
    }
}

/// Which [`ParseLimits`] field was exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// [`ParseLimits::max_input_len`].
    InputLength,
    /// [`ParseLimits::max_lines`].
    Lines,
    /// [`ParseLimits::max_media`].
    Media,
    /// [`ParseLimits::max_attributes`].
    Attributes,
    /// [`ParseLimits::max_candidates`].
    Candidates,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::InputLength => "input length",
            Limit::Lines => "number of lines",
            Limit::Media => "number of m= sections",
            Limit::Attributes => "number of attributes",
            Limit::Candidates => "number of candidates",
        })
    }
}

/// What was wrong with an `a=candidate` value or a trickled candidate string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CandidateError {
    /// The string is empty or ends before the named mandatory field.
    Missing(&'static str),
    /// The foundation is not 1 to 32 `ice-char`s (RFC 8839 §5.1).
    InvalidFoundation,
    /// The component id is not a number in range.
    InvalidComponent,
    /// The transport is not a token.
    InvalidTransport,
    /// The priority is not a 32-bit number.
    InvalidPriority,
    /// The connection address is neither an IP address nor a host name.
    InvalidAddress,
    /// The port is not a 16-bit number.
    InvalidPort,
    /// The `typ` keyword is missing or the type is not a token.
    InvalidType,
    /// The `raddr` value is neither an IP address nor a host name.
    InvalidRelatedAddress,
    /// The `rport` value is not a 16-bit number.
    InvalidRelatedPort,
    /// The `tcptype` value is not active, passive or so (RFC 6544 §4.5).
    InvalidTcpType,
    /// An extension name has no value after it.
    DanglingExtension(String),
    /// `raddr`, `rport` or `tcptype` appears twice.
    Duplicate(&'static str),
    /// The string is longer than [`crate::MAX_CANDIDATE_LEN`].
    TooLong,
}

impl fmt::Display for CandidateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CandidateError::Missing(what) => write!(f, "missing {what}"),
            CandidateError::InvalidFoundation => f.write_str("invalid foundation"),
            CandidateError::InvalidComponent => f.write_str("invalid component id"),
            CandidateError::InvalidTransport => f.write_str("invalid transport"),
            CandidateError::InvalidPriority => f.write_str("invalid priority"),
            CandidateError::InvalidAddress => f.write_str("invalid connection address"),
            CandidateError::InvalidPort => f.write_str("invalid port"),
            CandidateError::InvalidType => f.write_str("invalid candidate type"),
            CandidateError::InvalidRelatedAddress => f.write_str("invalid raddr"),
            CandidateError::InvalidRelatedPort => f.write_str("invalid rport"),
            CandidateError::InvalidTcpType => f.write_str("invalid tcptype"),
            CandidateError::DanglingExtension(name) => {
                write!(f, "extension `{name}` has no value")
            }
            CandidateError::Duplicate(what) => write!(f, "duplicate {what}"),
            CandidateError::TooLong => f.write_str("candidate too long"),
        }
    }
}

impl std::error::Error for CandidateError {}

/// What was wrong with a session description.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The description does not start with a `v=` line (RFC 8866 §5).
    MissingVersion,
    /// `v=` is not `0` (RFC 8866 §5.1).
    UnsupportedVersion,
    /// A mandatory line (`o=`, `s=` or `t=`) is missing before this point.
    MissingLine(char),
    /// A line is not of the form `<type>=<value>`.
    Syntax,
    /// A type letter this parser does not know; RFC 8866 §5 says such a
    /// description MUST be ignored or rejected.
    UnknownType(char),
    /// A known line type where the grammar does not allow it (out of order,
    /// repeated, or media-only/session-only).
    Unexpected(char),
    /// A line of the given type whose value does not follow the grammar.
    Malformed {
        /// The line's type letter.
        line_type: char,
        /// What was wrong.
        reason: &'static str,
    },
    /// A known attribute whose value does not follow its grammar.
    InvalidAttribute {
        /// The attribute name.
        name: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
    /// An `a=candidate` value that does not follow RFC 8839 §5.1.
    InvalidCandidate(CandidateError),
    /// A [`ParseLimits`] field was exceeded.
    LimitExceeded(Limit),
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::MissingVersion => f.write_str("expected v= as the first line"),
            ErrorKind::UnsupportedVersion => f.write_str("unsupported protocol version"),
            ErrorKind::MissingLine(c) => write!(f, "missing mandatory {c}= line"),
            ErrorKind::Syntax => f.write_str("expected <type>=<value>"),
            ErrorKind::UnknownType(c) => write!(f, "unknown line type `{c}`"),
            ErrorKind::Unexpected(c) => write!(f, "{c}= line not allowed here"),
            ErrorKind::Malformed { line_type, reason } => {
                write!(f, "malformed {line_type}= line: {reason}")
            }
            ErrorKind::InvalidAttribute { name, reason } => {
                write!(f, "invalid a={name}: {reason}")
            }
            ErrorKind::InvalidCandidate(e) => write!(f, "invalid a=candidate: {e}"),
            ErrorKind::LimitExceeded(l) => write!(f, "limit exceeded: {l}"),
        }
    }
}

/// A session description could not be parsed.
///
/// Names the 1-based line number, the offending line (shortened if long),
/// and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ParseError {
    /// 1-based line number; 0 when the error concerns the whole input
    /// (input too long).
    pub line: usize,
    /// The offending line, without its line ending, cut to 128 characters.
    pub text: String,
    /// What was wrong.
    pub kind: ErrorKind,
}

/// Longest excerpt of an offending line kept in a [`ParseError`].
const MAX_ERROR_TEXT: usize = 128;

impl ParseError {
    pub(crate) fn new(line: usize, text: &str, kind: ErrorKind) -> Self {
        // Cut on a char boundary so hostile input cannot bloat the error.
        let mut end = text.len().min(MAX_ERROR_TEXT);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Self {
            line,
            text: text.get(..end).unwrap_or_default().to_owned(),
            kind,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "SDP: {}", self.kind)
        } else {
            write!(f, "SDP line {} `{}`: {}", self.line, self.text, self.kind)
        }
    }
}

impl std::error::Error for ParseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::InvalidCandidate(e) => Some(e),
            _ => None,
        }
    }
}
