//! The local ice-ufrag as a table key: kept inline when short, so that looking up a check's
//! ufrag reads the table's own memory and nothing behind a pointer.

use core::borrow::Borrow;
use core::hash::{Hash, Hasher};

/// Longest ufrag kept inline: browsers use 4 to 16 characters, floe 8; RFC 8839 allows 256.
const INLINE: usize = 22;

/// An ice-ufrag, validated: 4 to 256 ice-chars (RFC 8839 §5.4).
#[derive(Clone, Debug)]
pub(crate) enum Ufrag {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

/// The ice-char set of RFC 8839 §5.4: ALPHA / DIGIT / "+" / "/".
fn is_ice_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

impl Ufrag {
    /// `None` unless `ufrag` is 4 to 256 ice-chars.
    pub(crate) fn new(ufrag: &str) -> Option<Self> {
        let b = ufrag.as_bytes();
        if !(4..=256).contains(&b.len()) || !b.iter().copied().all(is_ice_char) {
            return None;
        }
        Some(if b.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..b.len()].copy_from_slice(b);
            Ufrag::Inline {
                len: b.len() as u8,
                bytes,
            }
        } else {
            Ufrag::Heap(b.into())
        })
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Ufrag::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Ufrag::Heap(bytes) => bytes,
        }
    }
}

// Equality and hashing are those of the bytes, as `Borrow<[u8]>` requires: a table keyed by
// `Ufrag` is looked up with the `&[u8]` taken from USERNAME.
impl PartialEq for Ufrag {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Ufrag {}

impl Hash for Ufrag {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl Borrow<[u8]> for Ufrag {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}
