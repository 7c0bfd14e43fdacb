//! Domain names (RFC 1035 §3.1): parsing from text, the uncompressed wire form, and decoding
//! with compression pointers (RFC 1035 §4.1.4), bounded against loops and overlong names.

use core::fmt;
use core::hash::{Hash, Hasher};
use core::str::FromStr;

use crate::message::DecodeError;

/// Longest label: 63 octets (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;

/// Longest name in wire form, length octets and the terminating zero included: 255 octets
/// (RFC 1035 §2.3.4, §3.1).
pub const MAX_NAME_LEN: usize = 255;

/// Most compression pointers followed while decoding one name. A name has at most 127 labels,
/// so an honest encoder never needs more; the bound keeps pointer chains from costing more
/// than a fixed amount of work per name.
const MAX_POINTERS: usize = 128;

/// Why text is not a valid domain name.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NameError {
    /// Two dots in a row, or a leading dot: a label is empty.
    EmptyLabel,
    /// A label is longer than 63 octets (RFC 1035 §2.3.4).
    LabelTooLong,
    /// The name is longer than 255 octets in wire form (RFC 1035 §3.1).
    NameTooLong,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameError::EmptyLabel => "empty label",
            NameError::LabelTooLong => "label longer than 63 octets",
            NameError::NameTooLong => "name longer than 255 octets",
        })
    }
}

impl std::error::Error for NameError {}

/// A domain name, kept in its uncompressed wire form (length-prefixed labels and a final zero
/// octet), at most [`MAX_NAME_LEN`] octets.
///
/// Equality and hashing ignore ASCII case, as DNS name comparison does (RFC 1035 §2.3.3,
/// RFC 4343 §3; RFC 6762 §16 for Multicast DNS). [`Name::as_wire`] gives the exact octets.
#[derive(Clone)]
pub struct Name {
    wire: Vec<u8>,
}

impl Name {
    /// The root name (a single zero octet).
    pub fn root() -> Self {
        Name { wire: vec![0] }
    }

    /// Parses dotted text (`host.local`, with or without the final dot). Labels are taken
    /// byte for byte: no escapes. `""` and `"."` are the root name.
    pub fn from_dotted(text: &str) -> Result<Self, NameError> {
        let text = text.strip_suffix('.').unwrap_or(text);
        let mut wire = Vec::with_capacity(text.len() + 2);
        if !text.is_empty() {
            for label in text.split('.') {
                if label.is_empty() {
                    return Err(NameError::EmptyLabel);
                }
                if label.len() > MAX_LABEL_LEN {
                    return Err(NameError::LabelTooLong);
                }
                // The label, its length octet and the final zero octet must still fit.
                if wire.len() + 1 + label.len() + 1 > MAX_NAME_LEN {
                    return Err(NameError::NameTooLong);
                }
                wire.push(label.len() as u8);
                wire.extend_from_slice(label.as_bytes());
            }
        }
        wire.push(0);
        Ok(Name { wire })
    }

    /// Builds a name from its labels (each 1 to 63 octets, any bytes).
    pub fn from_labels<'a, I>(labels: I) -> Result<Self, NameError>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let mut wire = Vec::new();
        for label in labels {
            if label.is_empty() {
                return Err(NameError::EmptyLabel);
            }
            if label.len() > MAX_LABEL_LEN {
                return Err(NameError::LabelTooLong);
            }
            if wire.len() + 1 + label.len() + 1 > MAX_NAME_LEN {
                return Err(NameError::NameTooLong);
            }
            wire.push(label.len() as u8);
            wire.extend_from_slice(label);
        }
        wire.push(0);
        Ok(Name { wire })
    }

    /// The uncompressed wire form: length-prefixed labels and the final zero octet.
    pub fn as_wire(&self) -> &[u8] {
        &self.wire
    }

    /// The labels, first (leftmost) to last, without the empty root label.
    pub fn labels(&self) -> Labels<'_> {
        Labels { rest: &self.wire }
    }

    /// Whether this is the root name.
    pub fn is_root(&self) -> bool {
        self.wire.len() == 1
    }

    /// Whether the last label is `local` (any case): a Multicast DNS name (RFC 6762 §3).
    pub fn is_local(&self) -> bool {
        self.labels()
            .last()
            .is_some_and(|l| l.eq_ignore_ascii_case(b"local"))
    }

    /// Decodes the name starting at `start` in `msg` (a whole DNS message, since compression
    /// pointers are offsets from its first octet). Returns the name and the offset just past
    /// it in the original position.
    ///
    /// Every pointer must point strictly before the data it was reached from (the name's start,
    /// or the previous pointer's target), so pointer chains cannot loop; at most 128 pointers
    /// are followed; labels with the reserved type bits 01 and 10 are rejected (RFC 1035
    /// §4.1.4, RFC 6891 §5); the decoded name may not exceed 255 octets (RFC 1035 §3.1).
    pub(crate) fn decode(msg: &[u8], start: usize) -> Result<(Name, usize), DecodeError> {
        let mut wire = Vec::new();
        let mut pos = start;
        // Where the caller's cursor resumes: set at the first pointer, or at the final zero.
        let mut end = None;
        // Every pointer's target must be below this.
        let mut limit = start;
        let mut pointers = 0;
        loop {
            let len = *msg.get(pos).ok_or(DecodeError::Truncated)?;
            match len & 0xC0 {
                0x00 => {
                    let len = usize::from(len);
                    if len == 0 {
                        wire.push(0);
                        let end = *end.get_or_insert(pos + 1);
                        return Ok((Name { wire }, end));
                    }
                    let label = msg
                        .get(pos + 1..pos + 1 + len)
                        .ok_or(DecodeError::Truncated)?;
                    if wire.len() + 1 + len + 1 > MAX_NAME_LEN {
                        return Err(DecodeError::NameTooLong);
                    }
                    wire.push(len as u8);
                    wire.extend_from_slice(label);
                    pos += 1 + len;
                }
                0xC0 => {
                    let low = *msg.get(pos + 1).ok_or(DecodeError::Truncated)?;
                    let target = (usize::from(len & 0x3F) << 8) | usize::from(low);
                    end.get_or_insert(pos + 2);
                    pointers += 1;
                    if target >= limit || pointers > MAX_POINTERS {
                        return Err(DecodeError::BadPointer);
                    }
                    limit = target;
                    pos = target;
                }
                _ => return Err(DecodeError::BadLabelType),
            }
        }
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        // Length octets are below 64, so they are unchanged by ASCII case folding and the
        // whole wire forms can be compared at once.
        self.wire.eq_ignore_ascii_case(&other.wire)
    }
}

impl Eq for Name {}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.wire.len());
        for b in &self.wire {
            state.write_u8(b.to_ascii_lowercase());
        }
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

/// Dotted text without the final dot (the root name is `.`). Dots and backslashes inside a
/// label are escaped as `\.` and `\\`, octets outside printable ASCII as `\DDD` (RFC 4343 §2.1).
impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            return f.write_str(".");
        }
        for (i, label) in self.labels().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            for &b in label {
                match b {
                    b'.' | b'\\' => write!(f, "\\{}", b as char)?,
                    0x21..=0x7E => write!(f, "{}", b as char)?,
                    _ => write!(f, "\\{b:03}")?,
                }
            }
        }
        Ok(())
    }
}

impl FromStr for Name {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Name::from_dotted(s)
    }
}

/// Iterator over a [`Name`]'s labels; see [`Name::labels`].
#[derive(Clone, Debug)]
pub struct Labels<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (&len, tail) = self.rest.split_first()?;
        let len = usize::from(len);
        if len == 0 || len > tail.len() {
            self.rest = &[];
            return None;
        }
        let (label, rest) = tail.split_at(len);
        self.rest = rest;
        Some(label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_round_trip() {
        let n = Name::from_dotted("Host-1.local.").unwrap();
        assert_eq!(n.as_wire(), b"\x06Host-1\x05local\x00");
        assert_eq!(n.to_string(), "Host-1.local");
        assert!(n.is_local());
        assert_eq!(n.labels().count(), 2);
        assert_eq!(Name::from_dotted("").unwrap(), Name::root());
        assert_eq!(Name::from_dotted(".").unwrap().to_string(), ".");
    }

    #[test]
    fn case_insensitive_equality_and_hash() {
        use std::collections::HashSet;
        let a = Name::from_dotted("ABC.Local").unwrap();
        let b = Name::from_dotted("abc.local").unwrap();
        assert_eq!(a, b);
        let set: HashSet<Name> = [a].into_iter().collect();
        assert!(set.contains(&b));
        assert_ne!(b, Name::from_dotted("abd.local").unwrap());
        assert_ne!(b, Name::from_dotted("abc.local.x").unwrap());
    }

    #[test]
    fn text_limits() {
        assert_eq!(Name::from_dotted("a..local"), Err(NameError::EmptyLabel));
        assert_eq!(Name::from_dotted(".local"), Err(NameError::EmptyLabel));
        let long = "x".repeat(64);
        assert_eq!(
            Name::from_dotted(&format!("{long}.local")),
            Err(NameError::LabelTooLong)
        );
        let ok = "x".repeat(63);
        assert!(Name::from_dotted(&format!("{ok}.local")).is_ok());
        // Four 63-octet labels: 4 * 64 + 1 = 257 octets.
        let four = [ok.as_str(); 4].join(".");
        assert_eq!(Name::from_dotted(&four), Err(NameError::NameTooLong));
        // 3 * 64 + 62 + 1 = 255 octets: the longest allowed.
        let max = format!("{ok}.{ok}.{ok}.{}", "y".repeat(61));
        assert_eq!(Name::from_dotted(&max).unwrap().as_wire().len(), 255);
    }

    #[test]
    fn display_escapes() {
        let n = Name::from_labels([&b"a.b"[..], b"c\\d", b"\x00 "]).unwrap();
        assert_eq!(n.to_string(), "a\\.b.c\\\\d.\\000\\032");
    }
}
