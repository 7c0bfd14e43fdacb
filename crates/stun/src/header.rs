//! The 20-byte STUN header: message type (class and method), length, magic cookie and
//! transaction id (RFC 8489 §5).

use core::fmt;

/// The fixed magic cookie every RFC 5389/8489 message carries (RFC 8489 §5).
pub const MAGIC_COOKIE: u32 = 0x2112_A442;

/// Size of the STUN header in bytes.
pub const HEADER_LEN: usize = 20;

/// The 96-bit transaction id that ties a response to its request (RFC 8489 §5).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TransactionId(pub [u8; 12]);

impl TransactionId {
    /// Wraps twelve bytes; the caller supplies the randomness (sans-IO).
    pub const fn new(bytes: [u8; 12]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 12] {
        &self.0
    }
}

impl fmt::Debug for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TransactionId(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// The 24 hex digits, as log lines show a transaction id.
impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// The class of a STUN message (RFC 8489 §5): two bits spread through the type field.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Class {
    /// A request, answered by a success or error response.
    Request,
    /// An indication: no response is sent.
    Indication,
    /// A success response.
    SuccessResponse,
    /// An error response, carrying ERROR-CODE.
    ErrorResponse,
}

impl Class {
    const fn bits(self) -> u16 {
        match self {
            Class::Request => 0b00,
            Class::Indication => 0b01,
            Class::SuccessResponse => 0b10,
            Class::ErrorResponse => 0b11,
        }
    }

    const fn from_bits(bits: u16) -> Self {
        match bits & 0b11 {
            0b00 => Class::Request,
            0b01 => Class::Indication,
            0b10 => Class::SuccessResponse,
            _ => Class::ErrorResponse,
        }
    }

    /// True for success and error responses.
    pub const fn is_response(self) -> bool {
        matches!(self, Class::SuccessResponse | Class::ErrorResponse)
    }
}

/// A 12-bit STUN method (RFC 8489 §18.2 registry).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Method(u16);

impl Method {
    /// Binding (RFC 8489).
    pub const BINDING: Method = Method(0x001);
    /// Allocate (RFC 8656).
    pub const ALLOCATE: Method = Method(0x003);
    /// Refresh (RFC 8656).
    pub const REFRESH: Method = Method(0x004);
    /// Send (RFC 8656, indication only).
    pub const SEND: Method = Method(0x006);
    /// Data (RFC 8656, indication only).
    pub const DATA: Method = Method(0x007);
    /// CreatePermission (RFC 8656).
    pub const CREATE_PERMISSION: Method = Method(0x008);
    /// ChannelBind (RFC 8656).
    pub const CHANNEL_BIND: Method = Method(0x009);
    /// Connect (RFC 6062).
    pub const CONNECT: Method = Method(0x00a);
    /// ConnectionBind (RFC 6062).
    pub const CONNECTION_BIND: Method = Method(0x00b);
    /// ConnectionAttempt (RFC 6062).
    pub const CONNECTION_ATTEMPT: Method = Method(0x00c);

    /// A method from its number; `None` when it does not fit in 12 bits.
    pub const fn new(value: u16) -> Option<Self> {
        if value < 0x1000 {
            Some(Method(value))
        } else {
            None
        }
    }

    /// The method number.
    pub const fn value(self) -> u16 {
        self.0
    }
}

/// Class and method together: the first 16 bits of the header (with the two zero bits).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct MessageType {
    /// Request, indication, success or error response.
    pub class: Class,
    /// The method, such as [`Method::BINDING`].
    pub method: Method,
}

impl MessageType {
    /// Binding request, the ICE connectivity check and the STUN server query.
    pub const BINDING_REQUEST: MessageType = MessageType::new(Class::Request, Method::BINDING);
    /// Binding success response.
    pub const BINDING_SUCCESS: MessageType =
        MessageType::new(Class::SuccessResponse, Method::BINDING);
    /// Binding error response.
    pub const BINDING_ERROR: MessageType = MessageType::new(Class::ErrorResponse, Method::BINDING);
    /// Binding indication, used for keepalives (RFC 8445 §11).
    pub const BINDING_INDICATION: MessageType =
        MessageType::new(Class::Indication, Method::BINDING);

    /// Combines a class and a method.
    pub const fn new(class: Class, method: Method) -> Self {
        Self { class, method }
    }

    /// The wire value: method bits M0-M11 interleaved with class bits C0 (bit 4) and C1 (bit 8).
    pub const fn to_u16(self) -> u16 {
        let m = self.method.0;
        let c = self.class.bits();
        (m & 0x000f) | ((m & 0x0070) << 1) | ((m & 0x0f80) << 2) | ((c & 1) << 4) | ((c & 2) << 7)
    }

    /// Splits a wire value; `None` when either of the top two bits is set.
    pub const fn from_u16(value: u16) -> Option<Self> {
        if value & 0xc000 != 0 {
            return None;
        }
        let method = (value & 0x000f) | ((value >> 1) & 0x0070) | ((value >> 2) & 0x0f80);
        let class = ((value >> 4) & 1) | ((value >> 7) & 2);
        Some(Self {
            class: Class::from_bits(class),
            method: Method(method),
        })
    }

    /// The response type that answers this request with the given success.
    pub const fn response(self, success: bool) -> Self {
        let class = if success {
            Class::SuccessResponse
        } else {
            Class::ErrorResponse
        };
        Self::new(class, self.method)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_type_bits_follow_rfc8489_figure_3() {
        assert_eq!(MessageType::BINDING_REQUEST.to_u16(), 0x0001);
        assert_eq!(MessageType::BINDING_SUCCESS.to_u16(), 0x0101);
        assert_eq!(MessageType::BINDING_ERROR.to_u16(), 0x0111);
        assert_eq!(MessageType::BINDING_INDICATION.to_u16(), 0x0011);
        let data = MessageType::new(Class::Indication, Method::DATA);
        assert_eq!(data.to_u16(), 0x0017);
        for raw in 0..0x4000u16 {
            let t = MessageType::from_u16(raw).unwrap();
            assert_eq!(t.to_u16(), raw);
        }
        assert!(MessageType::from_u16(0x8001).is_none());
    }
}
