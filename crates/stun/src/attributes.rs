//! Typed attributes of RFC 8489, RFC 8445, RFC 8656, RFC 5780 and RFC 6062.
//!
//! Every type borrows from the message it was read from; none allocates.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::attribute::{types, Attribute};
use crate::error::{AttributeError, AttributeErrorKind};
use crate::header::{TransactionId, MAGIC_COOKIE};

fn err(attr_type: u16, kind: AttributeErrorKind) -> AttributeError {
    AttributeError::new(attr_type, kind)
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn exact<const N: usize>(attr_type: u16, value: &[u8]) -> Result<&[u8; N], AttributeError> {
    value
        .try_into()
        .map_err(|_| err(attr_type, AttributeErrorKind::BadLength))
}

// ---------------------------------------------------------------------------------------------
// Addresses

/// Address family codes used by the address attributes and REQUESTED-ADDRESS-FAMILY.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum AddressFamily {
    /// 0x01.
    Ipv4,
    /// 0x02.
    Ipv6,
}

impl AddressFamily {
    /// The wire code.
    pub const fn code(self) -> u8 {
        match self {
            AddressFamily::Ipv4 => 0x01,
            AddressFamily::Ipv6 => 0x02,
        }
    }

    fn from_code(attr_type: u16, code: u8) -> Result<Self, AttributeError> {
        match code {
            0x01 => Ok(AddressFamily::Ipv4),
            0x02 => Ok(AddressFamily::Ipv6),
            _ => Err(err(attr_type, AttributeErrorKind::BadFamily)),
        }
    }

    /// The family of an IP address.
    pub const fn of(ip: &IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => AddressFamily::Ipv4,
            IpAddr::V6(_) => AddressFamily::Ipv6,
        }
    }
}

/// XOR mask for the address bytes: the cookie, then the transaction id (RFC 8489 §14.2).
fn xor_mask(transaction_id: &TransactionId) -> [u8; 16] {
    let mut mask = [0u8; 16];
    mask[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    mask[4..].copy_from_slice(&transaction_id.0);
    mask
}

fn decode_address(
    attr_type: u16,
    value: &[u8],
    xor: Option<&TransactionId>,
) -> Result<SocketAddr, AttributeError> {
    if value.len() < 4 {
        return Err(err(attr_type, AttributeErrorKind::BadLength));
    }
    let family = AddressFamily::from_code(attr_type, value[1])?;
    let mut port = be16(&value[2..4]);
    let mask = xor.map(xor_mask);
    if mask.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    let body = &value[4..];
    let ip = match family {
        AddressFamily::Ipv4 => {
            let mut b = *exact::<4>(attr_type, body)?;
            if let Some(m) = mask {
                b.iter_mut().zip(m).for_each(|(x, k)| *x ^= k);
            }
            IpAddr::V4(Ipv4Addr::from(b))
        }
        AddressFamily::Ipv6 => {
            let mut b = *exact::<16>(attr_type, body)?;
            if let Some(m) = mask {
                b.iter_mut().zip(m).for_each(|(x, k)| *x ^= k);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
    };
    Ok(SocketAddr::new(ip, port))
}

fn address_len(addr: &SocketAddr) -> usize {
    match addr {
        SocketAddr::V4(_) => 8,
        SocketAddr::V6(_) => 20,
    }
}

fn encode_address(addr: &SocketAddr, xor: Option<&TransactionId>, out: &mut [u8]) {
    let mask = xor.map(xor_mask);
    out[0] = 0;
    out[1] = AddressFamily::of(&addr.ip()).code();
    let mut port = addr.port();
    if mask.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    out[2..4].copy_from_slice(&port.to_be_bytes());
    let ip: &mut [u8] = &mut out[4..];
    match addr.ip() {
        IpAddr::V4(v4) => ip.copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => ip.copy_from_slice(&v6.octets()),
    }
    if let Some(m) = mask {
        ip.iter_mut().zip(m).for_each(|(x, k)| *x ^= k);
    }
}

macro_rules! address_attribute {
    ($(#[$doc:meta])* $name:ident, $code:expr, $xor:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        pub struct $name(pub SocketAddr);

        impl<'a> Attribute<'a> for $name {
            const TYPE: u16 = $code;

            fn decode(value: &'a [u8], tid: &TransactionId) -> Result<Self, AttributeError> {
                decode_address(Self::TYPE, value, if $xor { Some(tid) } else { None }).map($name)
            }

            fn value_len(&self) -> usize {
                address_len(&self.0)
            }

            fn encode(&self, tid: &TransactionId, out: &mut [u8]) {
                encode_address(&self.0, if $xor { Some(tid) } else { None }, out)
            }
        }
    };
}

address_attribute!(
    /// MAPPED-ADDRESS: the reflexive address, unobfuscated (RFC 8489 §14.1; legacy servers).
    MappedAddress, types::MAPPED_ADDRESS, false);
address_attribute!(
    /// XOR-MAPPED-ADDRESS: the reflexive transport address of the client (RFC 8489 §14.2).
    XorMappedAddress, types::XOR_MAPPED_ADDRESS, true);
address_attribute!(
    /// ALTERNATE-SERVER: where a 300 Try Alternate redirects (RFC 8489 §14.15).
    AlternateServer, types::ALTERNATE_SERVER, false);
address_attribute!(
    /// XOR-PEER-ADDRESS: the peer's address as seen from the TURN server (RFC 8656 §18.3).
    XorPeerAddress, types::XOR_PEER_ADDRESS, true);
address_attribute!(
    /// XOR-RELAYED-ADDRESS: the relayed transport address of an allocation (RFC 8656 §18.5).
    XorRelayedAddress, types::XOR_RELAYED_ADDRESS, true);
address_attribute!(
    /// RESPONSE-ORIGIN: the address the response was sent from (RFC 5780 §7.3).
    ResponseOrigin, types::RESPONSE_ORIGIN, false);
address_attribute!(
    /// OTHER-ADDRESS: the server's alternate IP and port (RFC 5780 §7.4).
    OtherAddress, types::OTHER_ADDRESS, false);

// ---------------------------------------------------------------------------------------------
// Text

fn decode_text(attr_type: u16, value: &[u8], max_bytes: usize) -> Result<&str, AttributeError> {
    if value.len() > max_bytes {
        return Err(err(attr_type, AttributeErrorKind::TooLong));
    }
    core::str::from_utf8(value).map_err(|_| err(attr_type, AttributeErrorKind::NotUtf8))
}

macro_rules! text_attribute {
    ($(#[$doc:meta])* $name:ident, $code:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        pub struct $name<'a>(pub &'a str);

        impl<'a> $name<'a> {
            /// The longest value allowed, in bytes.
            pub const MAX_BYTES: usize = $max;
        }

        impl<'a> Attribute<'a> for $name<'a> {
            const TYPE: u16 = $code;

            fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, AttributeError> {
                decode_text(Self::TYPE, value, $max).map($name)
            }

            fn value_len(&self) -> usize {
                self.0.len()
            }

            fn encode(&self, _: &TransactionId, out: &mut [u8]) {
                out.copy_from_slice(self.0.as_bytes())
            }
        }
    };
}

text_attribute!(
    /// USERNAME: user name and, for ICE, `remote-ufrag:local-ufrag` (RFC 8489 §14.3, < 509 bytes).
    Username, types::USERNAME, 513);
text_attribute!(
    /// REALM (RFC 8489 §14.9, fewer than 128 characters).
    Realm, types::REALM, 763);
text_attribute!(
    /// NONCE (RFC 8489 §14.10, fewer than 128 characters).
    Nonce, types::NONCE, 763);
text_attribute!(
    /// SOFTWARE: the agent's name and version (RFC 8489 §14.14).
    Software, types::SOFTWARE, 763);
text_attribute!(
    /// ALTERNATE-DOMAIN: the domain of an ALTERNATE-SERVER for TLS checks (RFC 8489 §14.16).
    AlternateDomain, types::ALTERNATE_DOMAIN, 255);

// ---------------------------------------------------------------------------------------------
// Opaque byte values

macro_rules! bytes_attribute {
    ($(#[$doc:meta])* $name:ident, $code:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        pub struct $name<'a>(pub &'a [u8]);

        impl<'a> Attribute<'a> for $name<'a> {
            const TYPE: u16 = $code;

            fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, AttributeError> {
                Ok($name(value))
            }

            fn value_len(&self) -> usize {
                self.0.len()
            }

            fn encode(&self, _: &TransactionId, out: &mut [u8]) {
                out.copy_from_slice(self.0)
            }
        }
    };
}

bytes_attribute!(
    /// DATA: an application datagram in a Send or Data indication (RFC 8656 §18.4).
    Data, types::DATA);
bytes_attribute!(
    /// PADDING: filler to test path MTU (RFC 5780 §7.6); its content is meaningless.
    Padding, types::PADDING);

/// USERHASH: SHA-256 of `username ":" realm`, for username anonymity (RFC 8489 §14.4).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Userhash<'a>(pub &'a [u8; 32]);

impl<'a> Attribute<'a> for Userhash<'a> {
    const TYPE: u16 = types::USERHASH;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, AttributeError> {
        exact::<32>(Self::TYPE, value).map(Userhash)
    }

    fn value_len(&self) -> usize {
        32
    }

    fn encode(&self, _: &TransactionId, out: &mut [u8]) {
        out.copy_from_slice(self.0)
    }
}

/// MESSAGE-INTEGRITY as read: the 20-byte HMAC-SHA1 (RFC 8489 §14.5).
///
/// Written with [`crate::MessageWriter::add_message_integrity`], which computes it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct MessageIntegrity<'a>(pub &'a [u8; 20]);

impl<'a> Attribute<'a> for MessageIntegrity<'a> {
    const TYPE: u16 = types::MESSAGE_INTEGRITY;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, AttributeError> {
        exact::<20>(Self::TYPE, value).map(MessageIntegrity)
    }

    fn value_len(&self) -> usize {
        20
    }

    fn encode(&self, _: &TransactionId, out: &mut [u8]) {
        out.copy_from_slice(self.0)
    }
}

/// MESSAGE-INTEGRITY-SHA256 as read: an HMAC-SHA256, possibly truncated to 16-32 bytes in steps of
/// four (RFC 8489 §14.6).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct MessageIntegritySha256<'a>(pub &'a [u8]);

impl<'a> Attribute<'a> for MessageIntegritySha256<'a> {
    const TYPE: u16 = types::MESSAGE_INTEGRITY_SHA256;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, AttributeError> {
        if value.len() < 16 || value.len() > 32 || value.len() % 4 != 0 {
            return Err(err(Self::TYPE, AttributeErrorKind::BadLength));
        }
        Ok(MessageIntegritySha256(value))
    }

    fn value_len(&self) -> usize {
        self.0.len()
    }

    fn encode(&self, _: &TransactionId, out: &mut [u8]) {
        out.copy_from_slice(self.0)
    }
}

// ---------------------------------------------------------------------------------------------
// Fixed-size numbers and flags

macro_rules! number_attribute {
    ($(#[$doc:meta])* $name:ident, $code:expr, $ty:ty, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        pub struct $name(pub $ty);

        impl<'a> Attribute<'a> for $name {
            const TYPE: u16 = $code;

            fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, AttributeError> {
                let b = exact::<$len>(Self::TYPE, value)?;
                Ok($name(<$ty>::from_be_bytes(*b)))
            }

            fn value_len(&self) -> usize {
                $len
            }

            fn encode(&self, _: &TransactionId, out: &mut [u8]) {
                out.copy_from_slice(&self.0.to_be_bytes())
            }
        }
    };
}

number_attribute!(
    /// FINGERPRINT as read: CRC-32 of the message XOR 0x5354554e (RFC 8489 §14.7).
    ///
    /// Written with [`crate::MessageWriter::add_fingerprint`], which computes it.
    Fingerprint, types::FINGERPRINT, u32, 4);
number_attribute!(
    /// PRIORITY: the priority a peer-reflexive candidate learnt from this check would get
    /// (RFC 8445 §7.1.1).
    Priority, types::PRIORITY, u32, 4);
number_attribute!(
    /// ICE-CONTROLLED with the sender's tie-breaker (RFC 8445 §7.1.3).
    IceControlled, types::ICE_CONTROLLED, u64, 8);
number_attribute!(
    /// ICE-CONTROLLING with the sender's tie-breaker (RFC 8445 §7.1.3).
    IceControlling, types::ICE_CONTROLLING, u64, 8);
number_attribute!(
    /// LIFETIME of an allocation, in seconds (RFC 8656 §18.2).
    Lifetime, types::LIFETIME, u32, 4);
number_attribute!(
    /// RESERVATION-TOKEN: names a port reserved by an earlier EVEN-PORT allocation
    /// (RFC 8656 §18.10).
    ReservationToken, types::RESERVATION_TOKEN, u64, 8);
number_attribute!(
    /// CONNECTION-ID of a TCP relay connection (RFC 6062 §6.2.1).
    ConnectionId, types::CONNECTION_ID, u32, 4);

macro_rules! flag_attribute {
    ($(#[$doc:meta])* $name:ident, $code:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
        pub struct $name;

        impl<'a> Attribute<'a> for $name {
            const TYPE: u16 = $code;

            fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, AttributeError> {
                if value.is_empty() {
                    Ok($name)
                } else {
                    Err(err(Self::TYPE, AttributeErrorKind::BadLength))
                }
            }

            fn value_len(&self) -> usize {
                0
            }

            fn encode(&self, _: &TransactionId, _: &mut [u8]) {}
        }
    };
}

flag_attribute!(
    /// USE-CANDIDATE: the controlling agent nominates this pair (RFC 8445 §7.1.2).
    UseCandidate, types::USE_CANDIDATE);
flag_attribute!(
    /// DONT-FRAGMENT: set the DF bit on relayed packets (RFC 8656 §18.9).
    DontFragment, types::DONT_FRAGMENT);

/// A 16-bit number followed by two reserved bytes.
macro_rules! u16_rffu_attribute {
    ($(#[$doc:meta])* $name:ident, $code:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        pub struct $name(pub u16);

        impl<'a> Attribute<'a> for $name {
            const TYPE: u16 = $code;

            fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, AttributeError> {
                let b = exact::<4>(Self::TYPE, value)?;
                Ok($name(be16(b)))
            }

            fn value_len(&self) -> usize {
                4
            }

            fn encode(&self, _: &TransactionId, out: &mut [u8]) {
                out[..2].copy_from_slice(&self.0.to_be_bytes());
                out[2..].fill(0);
            }
        }
    };
}

u16_rffu_attribute!(
    /// CHANNEL-NUMBER: a channel 0x4000-0x4FFF (RFC 8656 §18.1); the range is the TURN layer's
    /// check, so any value can be read here.
    ChannelNumber, types::CHANNEL_NUMBER);
u16_rffu_attribute!(
    /// RESPONSE-PORT: the port the response should be sent to (RFC 5780 §7.5).
    ResponsePort, types::RESPONSE_PORT);

/// A one-byte family followed by three reserved bytes.
macro_rules! family_attribute {
    ($(#[$doc:meta])* $name:ident, $code:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        pub struct $name(pub AddressFamily);

        impl<'a> Attribute<'a> for $name {
            const TYPE: u16 = $code;

            fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, AttributeError> {
                let b = exact::<4>(Self::TYPE, value)?;
                AddressFamily::from_code(Self::TYPE, b[0]).map($name)
            }

            fn value_len(&self) -> usize {
                4
            }

            fn encode(&self, _: &TransactionId, out: &mut [u8]) {
                out.copy_from_slice(&[self.0.code(), 0, 0, 0]);
            }
        }
    };
}

family_attribute!(
    /// REQUESTED-ADDRESS-FAMILY of the relayed address (RFC 8656 §18.6).
    RequestedAddressFamily, types::REQUESTED_ADDRESS_FAMILY);
family_attribute!(
    /// ADDITIONAL-ADDRESS-FAMILY: ask for an IPv6 relayed address besides the IPv4 one
    /// (RFC 8656 §18.11; only IPv6 is valid there, which the TURN layer checks).
    AdditionalAddressFamily, types::ADDITIONAL_ADDRESS_FAMILY);

/// REQUESTED-TRANSPORT: the IP protocol number of the relayed transport, 17 for UDP
/// (RFC 8656 §18.8).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct RequestedTransport(pub u8);

impl RequestedTransport {
    /// UDP, the only transport RFC 8656 relays.
    pub const UDP: RequestedTransport = RequestedTransport(17);
    /// TCP, for RFC 6062 allocations.
    pub const TCP: RequestedTransport = RequestedTransport(6);
}

impl<'a> Attribute<'a> for RequestedTransport {
    const TYPE: u16 = types::REQUESTED_TRANSPORT;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, AttributeError> {
        Ok(RequestedTransport(exact::<4>(Self::TYPE, value)?[0]))
    }

    fn value_len(&self) -> usize {
        4
    }

    fn encode(&self, _: &TransactionId, out: &mut [u8]) {
        out.copy_from_slice(&[self.0, 0, 0, 0]);
    }
}

/// EVEN-PORT: ask for an even relayed port, and with `reserve_next` also reserve the next one
/// (RFC 8656 §18.7).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct EvenPort {
    /// The R bit.
    pub reserve_next: bool,
}

impl<'a> Attribute<'a> for EvenPort {
    const TYPE: u16 = types::EVEN_PORT;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, AttributeError> {
        let b = exact::<1>(Self::TYPE, value)?;
        Ok(EvenPort {
            reserve_next: b[0] & 0x80 != 0,
        })
    }

    fn value_len(&self) -> usize {
        1
    }

    fn encode(&self, _: &TransactionId, out: &mut [u8]) {
        out[0] = if self.reserve_next { 0x80 } else { 0 };
    }
}

/// CHANGE-REQUEST: ask the server to answer from its other IP and/or port (RFC 5780 §7.2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct ChangeRequest {
    /// The "A" flag: answer from the alternate IP address.
    pub change_ip: bool,
    /// The "B" flag: answer from the alternate port.
    pub change_port: bool,
}

impl<'a> Attribute<'a> for ChangeRequest {
    const TYPE: u16 = types::CHANGE_REQUEST;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, AttributeError> {
        let flags = be32(exact::<4>(Self::TYPE, value)?);
        Ok(ChangeRequest {
            change_ip: flags & 0x4 != 0,
            change_port: flags & 0x2 != 0,
        })
    }

    fn value_len(&self) -> usize {
        4
    }

    fn encode(&self, _: &TransactionId, out: &mut [u8]) {
        let flags = (u32::from(self.change_ip) << 2) | (u32::from(self.change_port) << 1);
        out.copy_from_slice(&flags.to_be_bytes());
    }
}

/// ICMP: an ICMP error the TURN server received for a relayed packet (RFC 8656 §18.13).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Icmp {
    /// ICMP type.
    pub icmp_type: u8,
    /// ICMP code.
    pub code: u8,
    /// Error data (for example the MTU of a "fragmentation needed" error).
    pub error_data: u32,
}

impl<'a> Attribute<'a> for Icmp {
    const TYPE: u16 = types::ICMP;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, AttributeError> {
        let b = exact::<8>(Self::TYPE, value)?;
        Ok(Icmp {
            icmp_type: b[2],
            code: b[3],
            error_data: be32(&b[4..8]),
        })
    }

    fn value_len(&self) -> usize {
        8
    }

    fn encode(&self, _: &TransactionId, out: &mut [u8]) {
        out[..2].fill(0);
        out[2] = self.icmp_type;
        out[3] = self.code;
        out[4..].copy_from_slice(&self.error_data.to_be_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// Error codes

/// Splits a code such as 438 into the class (4) and number (38) bytes of RFC 8489 §14.8.
fn decode_code(attr_type: u16, class: u8, number: u8) -> Result<u16, AttributeError> {
    let class = class & 0x07;
    if !(3..=6).contains(&class) || number > 99 {
        return Err(err(attr_type, AttributeErrorKind::BadValue));
    }
    Ok(u16::from(class) * 100 + u16::from(number))
}

/// ERROR-CODE: a code 300-699 and a reason phrase (RFC 8489 §14.8).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ErrorCode<'a> {
    /// The code, such as 401 or 438.
    pub code: u16,
    /// A human-readable reason (fewer than 128 characters).
    pub reason: &'a str,
}

impl<'a> ErrorCode<'a> {
    /// 300 Try Alternate.
    pub const TRY_ALTERNATE: u16 = 300;
    /// 400 Bad Request.
    pub const BAD_REQUEST: u16 = 400;
    /// 401 Unauthenticated.
    pub const UNAUTHENTICATED: u16 = 401;
    /// 403 Forbidden (RFC 8656).
    pub const FORBIDDEN: u16 = 403;
    /// 420 Unknown Attribute.
    pub const UNKNOWN_ATTRIBUTE: u16 = 420;
    /// 437 Allocation Mismatch (RFC 8656).
    pub const ALLOCATION_MISMATCH: u16 = 437;
    /// 438 Stale Nonce.
    pub const STALE_NONCE: u16 = 438;
    /// 440 Address Family not Supported (RFC 8656).
    pub const ADDRESS_FAMILY_NOT_SUPPORTED: u16 = 440;
    /// 441 Wrong Credentials (RFC 8656).
    pub const WRONG_CREDENTIALS: u16 = 441;
    /// 442 Unsupported Transport Protocol (RFC 8656).
    pub const UNSUPPORTED_TRANSPORT: u16 = 442;
    /// 443 Peer Address Family Mismatch (RFC 8656).
    pub const PEER_ADDRESS_FAMILY_MISMATCH: u16 = 443;
    /// 486 Allocation Quota Reached (RFC 8656).
    pub const ALLOCATION_QUOTA_REACHED: u16 = 486;
    /// 487 Role Conflict (RFC 8445).
    pub const ROLE_CONFLICT: u16 = 487;
    /// 500 Server Error.
    pub const SERVER_ERROR: u16 = 500;
    /// 508 Insufficient Capacity (RFC 8656).
    pub const INSUFFICIENT_CAPACITY: u16 = 508;

    /// An error code with its reason phrase.
    pub const fn new(code: u16, reason: &'a str) -> Self {
        Self { code, reason }
    }
}

impl<'a> Attribute<'a> for ErrorCode<'a> {
    const TYPE: u16 = types::ERROR_CODE;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, AttributeError> {
        if value.len() < 4 {
            return Err(err(Self::TYPE, AttributeErrorKind::BadLength));
        }
        let code = decode_code(Self::TYPE, value[2], value[3])?;
        let reason = decode_text(Self::TYPE, &value[4..], 763)?;
        Ok(ErrorCode { code, reason })
    }

    fn value_len(&self) -> usize {
        4 + self.reason.len()
    }

    fn encode(&self, _: &TransactionId, out: &mut [u8]) {
        out[..2].fill(0);
        out[2] = ((self.code / 100) & 0x07) as u8;
        out[3] = (self.code % 100) as u8;
        out[4..].copy_from_slice(self.reason.as_bytes());
    }
}

/// ADDRESS-ERROR-CODE: why the allocation of one address family failed (RFC 8656 §18.12).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct AddressErrorCode<'a> {
    /// The family that could not be allocated.
    pub family: AddressFamily,
    /// The code, such as 440.
    pub code: u16,
    /// A human-readable reason.
    pub reason: &'a str,
}

impl<'a> Attribute<'a> for AddressErrorCode<'a> {
    const TYPE: u16 = types::ADDRESS_ERROR_CODE;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, AttributeError> {
        if value.len() < 4 {
            return Err(err(Self::TYPE, AttributeErrorKind::BadLength));
        }
        let family = AddressFamily::from_code(Self::TYPE, value[0])?;
        let code = decode_code(Self::TYPE, value[2], value[3])?;
        let reason = decode_text(Self::TYPE, &value[4..], 763)?;
        Ok(AddressErrorCode {
            family,
            code,
            reason,
        })
    }

    fn value_len(&self) -> usize {
        4 + self.reason.len()
    }

    fn encode(&self, _: &TransactionId, out: &mut [u8]) {
        out[0] = self.family.code();
        out[1] = 0;
        out[2] = ((self.code / 100) & 0x07) as u8;
        out[3] = (self.code % 100) as u8;
        out[4..].copy_from_slice(self.reason.as_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// Lists

/// One password algorithm: its number and parameters (RFC 8489 §14.11).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct PasswordAlgorithm<'a> {
    /// 0x0001 MD5 or 0x0002 SHA-256 (RFC 8489 §18.5).
    pub algorithm: u16,
    /// Algorithm parameters; empty for both defined algorithms.
    pub parameters: &'a [u8],
}

impl<'a> PasswordAlgorithm<'a> {
    /// MD5, the default when a server offers no PASSWORD-ALGORITHMS.
    pub const MD5: u16 = 0x0001;
    /// SHA-256.
    pub const SHA256: u16 = 0x0002;

    /// An algorithm without parameters.
    pub const fn new(algorithm: u16) -> Self {
        Self {
            algorithm,
            parameters: &[],
        }
    }

    fn encoded_len(&self) -> usize {
        4 + self.parameters.len().next_multiple_of(4)
    }

    fn write(&self, out: &mut [u8]) {
        out[..2].copy_from_slice(&self.algorithm.to_be_bytes());
        out[2..4].copy_from_slice(&(self.parameters.len() as u16).to_be_bytes());
        let end = 4 + self.parameters.len();
        out[4..end].copy_from_slice(self.parameters);
        out[end..].fill(0);
    }

    /// Reads one algorithm from the front of `bytes`; returns it and the bytes it took.
    fn read(attr_type: u16, bytes: &'a [u8]) -> Result<(Self, usize), AttributeError> {
        if bytes.len() < 4 {
            return Err(err(attr_type, AttributeErrorKind::BadLength));
        }
        let algorithm = be16(bytes);
        let len = usize::from(be16(&bytes[2..4]));
        let padded = 4 + len.next_multiple_of(4);
        // The last entry's padding may be absent in PASSWORD-ALGORITHM, whose length is exact.
        let parameters = bytes
            .get(4..4 + len)
            .ok_or(err(attr_type, AttributeErrorKind::BadLength))?;
        Ok((
            PasswordAlgorithm {
                algorithm,
                parameters,
            },
            padded.min(bytes.len()),
        ))
    }
}

impl<'a> Attribute<'a> for PasswordAlgorithm<'a> {
    const TYPE: u16 = types::PASSWORD_ALGORITHM;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, AttributeError> {
        let (alg, used) = PasswordAlgorithm::read(Self::TYPE, value)?;
        if used != value.len() {
            return Err(err(Self::TYPE, AttributeErrorKind::BadLength));
        }
        Ok(alg)
    }

    fn value_len(&self) -> usize {
        self.encoded_len()
    }

    fn encode(&self, _: &TransactionId, out: &mut [u8]) {
        self.write(out)
    }
}

/// A list read lazily from the wire or given as a slice for writing.
#[derive(Clone, Copy, Debug)]
pub enum List<'a, T> {
    /// Validated wire bytes, decoded as they are iterated.
    Encoded(&'a [u8]),
    /// Items to write.
    Items(&'a [T]),
}

/// UNKNOWN-ATTRIBUTES: the comprehension-required types a 420 response did not understand
/// (RFC 8489 §14.13).
#[derive(Clone, Copy, Debug)]
pub struct UnknownAttributes<'a>(pub List<'a, u16>);

impl<'a> UnknownAttributes<'a> {
    /// The attribute types listed.
    pub fn iter(&self) -> impl Iterator<Item = u16> + 'a {
        let (encoded, items): (&'a [u8], &'a [u16]) = match self.0 {
            List::Encoded(b) => (b, &[]),
            List::Items(i) => (&[], i),
        };
        encoded
            .chunks_exact(2)
            .map(be16)
            .chain(items.iter().copied())
    }
}

impl PartialEq for UnknownAttributes<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for UnknownAttributes<'_> {}

impl<'a> Attribute<'a> for UnknownAttributes<'a> {
    const TYPE: u16 = types::UNKNOWN_ATTRIBUTES;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, AttributeError> {
        if value.len() % 2 != 0 {
            return Err(err(Self::TYPE, AttributeErrorKind::BadLength));
        }
        Ok(UnknownAttributes(List::Encoded(value)))
    }

    fn value_len(&self) -> usize {
        self.iter().count() * 2
    }

    fn encode(&self, _: &TransactionId, out: &mut [u8]) {
        for (chunk, t) in out.chunks_exact_mut(2).zip(self.iter()) {
            chunk.copy_from_slice(&t.to_be_bytes());
        }
    }
}

/// PASSWORD-ALGORITHMS: the algorithms a server offers, in its order of preference
/// (RFC 8489 §14.11).
#[derive(Clone, Copy, Debug)]
pub struct PasswordAlgorithms<'a>(pub List<'a, PasswordAlgorithm<'a>>);

impl<'a> PasswordAlgorithms<'a> {
    /// The algorithms offered.
    pub fn iter(&self) -> impl Iterator<Item = PasswordAlgorithm<'a>> + 'a {
        let (mut encoded, items): (&'a [u8], &'a [PasswordAlgorithm<'a>]) = match self.0 {
            List::Encoded(b) => (b, &[]),
            List::Items(i) => (&[], i),
        };
        core::iter::from_fn(move || {
            // Decoding validated the bytes, so an error here only ends the iteration.
            let (alg, used) = PasswordAlgorithm::read(Self::TYPE_CODE, encoded).ok()?;
            encoded = &encoded[used..];
            Some(alg)
        })
        .chain(items.iter().copied())
    }

    const TYPE_CODE: u16 = types::PASSWORD_ALGORITHMS;
}

impl PartialEq for PasswordAlgorithms<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for PasswordAlgorithms<'_> {}

impl<'a> Attribute<'a> for PasswordAlgorithms<'a> {
    const TYPE: u16 = types::PASSWORD_ALGORITHMS;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, AttributeError> {
        let mut rest = value;
        while !rest.is_empty() {
            let (_, used) = PasswordAlgorithm::read(Self::TYPE, rest)?;
            rest = &rest[used..];
        }
        Ok(PasswordAlgorithms(List::Encoded(value)))
    }

    fn value_len(&self) -> usize {
        self.iter().map(|a| a.encoded_len()).sum()
    }

    fn encode(&self, _: &TransactionId, out: &mut [u8]) {
        let mut at = 0;
        for alg in self.iter() {
            let len = alg.encoded_len();
            alg.write(&mut out[at..at + len]);
            at += len;
        }
    }
}
