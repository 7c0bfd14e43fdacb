//! `a=` lines: the stored name/value form, and typed values for the
//! attributes ICE and the driver use.

use std::fmt;
use std::str::FromStr;

use crate::candidate::{is_token, Candidate};
use crate::error::ErrorKind;

/// One `a=` line, kept as written so unknown attributes survive a round
/// trip (RFC 8866 §5.13: unknown attributes MUST be ignored, we keep them).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attribute {
    /// The name (`att-field`).
    pub name: String,
    /// The text after the first `:`, byte for byte, or `None` for a
    /// property attribute such as `a=rtcp-mux`.
    pub value: Option<String>,
}

impl Attribute {
    /// A property attribute (`a=name`).
    pub fn flag(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: None,
        }
    }

    /// A value attribute (`a=name:value`).
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: Some(value.into()),
        }
    }

    /// Splits the text after `a=` at the first `:`; the name is trimmed
    /// (liberal about trailing whitespace), the value kept as written.
    pub(crate) fn parse(line: &str) -> Self {
        match line.split_once(':') {
            Some((n, v)) => Attribute::new(n.trim(), v),
            None => Attribute::flag(line.trim()),
        }
    }

    /// The value with surrounding whitespace removed, as typed views read it.
    pub fn trimmed_value(&self) -> Option<&str> {
        self.value.as_deref().map(str::trim)
    }
}

impl fmt::Display for Attribute {
    /// Writes `name` or `name:value` (without `a=`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(v) = &self.value {
            write!(f, ":{v}")?;
        }
        Ok(())
    }
}

/// The `a=setup` role of RFC 4145 §4 / RFC 8842 §5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Setup {
    /// `active`: initiates the DTLS connection.
    Active,
    /// `passive`: accepts it.
    Passive,
    /// `actpass`: either; what an offer MUST say (RFC 8842 §5.2).
    ActPass,
    /// `holdconn`: not now.
    HoldConn,
}

impl FromStr for Setup {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim() {
            "active" => Ok(Setup::Active),
            "passive" => Ok(Setup::Passive),
            "actpass" => Ok(Setup::ActPass),
            "holdconn" => Ok(Setup::HoldConn),
            _ => Err(()),
        }
    }
}

impl fmt::Display for Setup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Setup::Active => "active",
            Setup::Passive => "passive",
            Setup::ActPass => "actpass",
            Setup::HoldConn => "holdconn",
        })
    }
}

/// An `a=fingerprint` value (RFC 8122 §5): hash function and hex digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    /// Hash function name as written, e.g. `sha-256`.
    pub hash_function: String,
    /// Colon-separated upper-case hex digest as written.
    pub fingerprint: String,
}

impl Fingerprint {
    /// A fingerprint from a hash function name and its digest text.
    pub fn new(hash_function: impl Into<String>, fingerprint: impl Into<String>) -> Self {
        Self {
            hash_function: hash_function.into(),
            fingerprint: fingerprint.into(),
        }
    }
}

impl FromStr for Fingerprint {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let mut it = s.split_ascii_whitespace();
        let (Some(h), Some(fp), None) = (it.next(), it.next(), it.next()) else {
            return Err(());
        };
        let hex_ok = fp
            .split(':')
            .all(|b| b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit()));
        if !is_token(h) || !hex_ok {
            return Err(());
        }
        Ok(Fingerprint::new(h, fp))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.hash_function, self.fingerprint)
    }
}

/// The media direction attributes of RFC 8866 §6.7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `a=sendrecv` (the default when none is given).
    SendRecv,
    /// `a=sendonly`.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One token of `a=ice-options` (RFC 8839 §5.6).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IceOption {
    /// `trickle` (RFC 8840).
    Trickle,
    /// `ice2` (RFC 8445).
    Ice2,
    /// `renomination` (draft-thatcher-ice-renomination).
    Renomination,
    /// Any other token.
    Other(String),
}

impl IceOption {
    /// Reads one token.
    pub fn parse(s: &str) -> Self {
        match s {
            "trickle" => IceOption::Trickle,
            "ice2" => IceOption::Ice2,
            "renomination" => IceOption::Renomination,
            _ => IceOption::Other(s.to_owned()),
        }
    }

    /// Reads a whitespace-separated `a=ice-options` value.
    pub fn parse_list(s: &str) -> Vec<Self> {
        s.split_ascii_whitespace().map(IceOption::parse).collect()
    }
}

impl fmt::Display for IceOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IceOption::Trickle => "trickle",
            IceOption::Ice2 => "ice2",
            IceOption::Renomination => "renomination",
            IceOption::Other(s) => s,
        })
    }
}

/// An `a=group` value (RFC 5888 §5), e.g. `BUNDLE 0 1` (RFC 8843).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Group {
    /// The semantics, e.g. `BUNDLE`.
    pub semantics: String,
    /// The identification tags (`a=mid` values) in order.
    pub mids: Vec<String>,
}

impl FromStr for Group {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let mut it = s.split_ascii_whitespace();
        let semantics = it.next().filter(|t| is_token(t)).ok_or(())?;
        Ok(Group {
            semantics: semantics.to_owned(),
            mids: it.map(str::to_owned).collect(),
        })
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.semantics)?;
        for m in &self.mids {
            write!(f, " {m}")?;
        }
        Ok(())
    }
}

/// Names of the attributes with a typed view, so setters can find them.
pub(crate) mod names {
    pub const ICE_UFRAG: &str = "ice-ufrag";
    pub const ICE_PWD: &str = "ice-pwd";
    pub const ICE_OPTIONS: &str = "ice-options";
    pub const ICE_LITE: &str = "ice-lite";
    pub const CANDIDATE: &str = "candidate";
    pub const END_OF_CANDIDATES: &str = "end-of-candidates";
    pub const MID: &str = "mid";
    pub const GROUP: &str = "group";
    pub const SETUP: &str = "setup";
    pub const FINGERPRINT: &str = "fingerprint";
    pub const SCTP_PORT: &str = "sctp-port";
    pub const MAX_MESSAGE_SIZE: &str = "max-message-size";
    pub const RTCP_MUX: &str = "rtcp-mux";
}

/// Checks the value of an attribute with a typed view while parsing, so
/// that typed accessors never meet a malformed value from the wire.
pub(crate) fn validate(attr: &Attribute) -> Result<(), ErrorKind> {
    use names::*;
    let bad = |name: &'static str, reason: &'static str| {
        Err(ErrorKind::InvalidAttribute { name, reason })
    };
    let v = attr.trimmed_value();
    match attr.name.as_str() {
        CANDIDATE => {
            let v = v.unwrap_or_default();
            Candidate::parse_value(v)
                .map(drop)
                .map_err(ErrorKind::InvalidCandidate)
        }
        ICE_UFRAG | ICE_PWD => {
            let name = if attr.name == ICE_UFRAG {
                ICE_UFRAG
            } else {
                ICE_PWD
            };
            // RFC 8839 §5.4: ice-char only; lengths are left to the agent.
            match v {
                Some(v) if !v.is_empty() && v.bytes().all(crate::candidate::is_ice_char) => Ok(()),
                _ => bad(name, "expected 1*ice-char"),
            }
        }
        ICE_OPTIONS => match v {
            Some(v) if !v.is_empty() => Ok(()),
            _ => bad(ICE_OPTIONS, "expected at least one option"),
        },
        MID => match v {
            Some(v) if !v.is_empty() => Ok(()),
            _ => bad(MID, "expected an identification tag"),
        },
        GROUP => match v.map(Group::from_str) {
            Some(Ok(_)) => Ok(()),
            _ => bad(GROUP, "expected semantics and tags"),
        },
        SETUP => match v.map(Setup::from_str) {
            Some(Ok(_)) => Ok(()),
            _ => bad(SETUP, "expected active, passive, actpass or holdconn"),
        },
        FINGERPRINT => match v.map(Fingerprint::from_str) {
            Some(Ok(_)) => Ok(()),
            _ => bad(FINGERPRINT, "expected hash function and hex digest"),
        },
        SCTP_PORT => match v.and_then(|v| crate::candidate::parse_digits::<u16>(v, 5)) {
            Some(_) => Ok(()),
            _ => bad(SCTP_PORT, "expected a port number"),
        },
        MAX_MESSAGE_SIZE => match v.and_then(|v| crate::candidate::parse_digits::<u64>(v, 20)) {
            Some(_) => Ok(()),
            _ => bad(MAX_MESSAGE_SIZE, "expected a number"),
        },
        _ => Ok(()),
    }
}

/// Typed read and write access over an ordered attribute list; shared by
/// the session level and media sections.
pub(crate) trait AttributeList {
    fn attrs(&self) -> &[Attribute];
    fn attrs_mut(&mut self) -> &mut Vec<Attribute>;

    fn first(&self, name: &str) -> Option<&Attribute> {
        self.attrs().iter().find(|a| a.name == name)
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.first(name).and_then(Attribute::trimmed_value)
    }

    fn has(&self, name: &str) -> bool {
        self.first(name).is_some()
    }

    /// Replaces the first `name` attribute in place (dropping later ones),
    /// or appends one.
    fn set(&mut self, attr: Attribute) {
        let list = self.attrs_mut();
        match list.iter().position(|a| a.name == attr.name) {
            Some(i) => {
                let name = attr.name.clone();
                if let Some(slot) = list.get_mut(i) {
                    *slot = attr;
                }
                let mut seen = 0usize;
                list.retain(|a| {
                    if a.name != name {
                        return true;
                    }
                    seen += 1;
                    seen == 1
                });
            }
            None => list.push(attr),
        }
    }

    fn remove(&mut self, name: &str) {
        self.attrs_mut().retain(|a| a.name != name);
    }
}
