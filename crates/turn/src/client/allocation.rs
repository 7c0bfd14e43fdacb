//! The allocation's life (RFC 8656 §7, §8) and the requests the client sends.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use floe_stun::attributes::{
    AdditionalAddressFamily, AddressFamily, ChannelNumber, DontFragment, Lifetime,
    RequestedAddressFamily, RequestedTransport, ReservationToken, Software, XorPeerAddress,
};
use floe_stun::{Class, EncodeError, MessageType, MessageWriter, Method, TransactionId};

use super::auth::Auth;
use super::{AllocationFamily, ClientConfig, RelayTransport};

/// What a request asks for; kept with its transaction so it can be re-sent after a 401 or 438.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RequestKind {
    /// Allocate (RFC 8656 §7.1).
    Allocate,
    /// Refresh with this LIFETIME in seconds; 0 deletes the allocation (RFC 8656 §8.1).
    Refresh { lifetime: Option<u32> },
    /// CreatePermission for these peer addresses (RFC 8656 §10.1).
    CreatePermission { peers: Vec<IpAddr> },
    /// ChannelBind (RFC 8656 §12.1).
    ChannelBind { channel: u16, peer: SocketAddr },
    /// Connect to a peer over TCP (RFC 6062 §4.3).
    Connect { peer: SocketAddr },
}

/// A request in flight.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub(crate) kind: RequestKind,
    /// The request carried MESSAGE-INTEGRITY: a 401 to it means the credentials are wrong.
    pub(crate) authenticated: bool,
    /// How many 438s this request has answered (RFC 8489 §9.2.5: retry with the new nonce).
    pub(crate) stale_retries: u8,
    /// The nonce the request was signed with: a 438 must bring another.
    pub(crate) nonce: Option<String>,
    /// When the request was first sent over UDP and with which initial RTO, for the
    /// round-trip sample its response gives; `None` over streams or before it is sent.
    pub(crate) sent: Option<(Instant, Duration)>,
}

impl Pending {
    pub(crate) fn new(kind: RequestKind) -> Self {
        Self {
            kind,
            authenticated: false,
            stale_retries: 0,
            nonce: None,
            sent: None,
        }
    }

    /// The method's name, as log lines show it (RFC 8656 §18.1).
    pub(crate) fn method(&self) -> &'static str {
        match self.kind {
            RequestKind::Allocate => "Allocate",
            RequestKind::Refresh { .. } => "Refresh",
            RequestKind::CreatePermission { .. } => "CreatePermission",
            RequestKind::ChannelBind { .. } => "ChannelBind",
            RequestKind::Connect { .. } => "Connect",
        }
    }

    /// True for a Refresh with LIFETIME 0.
    pub(crate) fn is_deallocation(&self) -> bool {
        self.kind == RequestKind::Refresh { lifetime: Some(0) }
    }
}

/// Room for any request this client sends: attributes are small and bounded.
const REQUEST_CAPACITY: usize = 1024;

/// Encodes the request for `kind` with transaction id `tid`, signed when `auth` holds
/// credentials.
pub(crate) fn encode_request(
    kind: &RequestKind,
    config: &ClientConfig,
    auth: &Auth,
    tid: TransactionId,
) -> Result<Vec<u8>, EncodeError> {
    let mut buf = vec![0u8; REQUEST_CAPACITY];
    let method = match kind {
        RequestKind::Allocate => Method::ALLOCATE,
        RequestKind::Refresh { .. } => Method::REFRESH,
        RequestKind::CreatePermission { .. } => Method::CREATE_PERMISSION,
        RequestKind::ChannelBind { .. } => Method::CHANNEL_BIND,
        RequestKind::Connect { .. } => Method::CONNECT,
    };
    let mut w = MessageWriter::new(&mut buf, MessageType::new(Class::Request, method), tid)?;
    if let Some(software) = &config.software {
        w.add(&Software(software))?;
    }
    match kind {
        RequestKind::Allocate if config.relay_transport == RelayTransport::Tcp => {
            // RFC 6062 §4.1: REQUESTED-TRANSPORT TCP, and none of DONT-FRAGMENT,
            // RESERVATION-TOKEN or EVEN-PORT, which only mean something for UDP relaying.
            w.add(&RequestedTransport::TCP)?;
            match config.family {
                AllocationFamily::Ipv4 => {}
                AllocationFamily::Ipv6 => {
                    w.add(&RequestedAddressFamily(AddressFamily::Ipv6))?;
                }
                AllocationFamily::DualStack => {
                    w.add(&AdditionalAddressFamily(AddressFamily::Ipv6))?;
                }
            }
            if let Some(lifetime) = config.lifetime {
                w.add(&Lifetime(secs(lifetime)))?;
            }
        }
        RequestKind::Allocate => {
            // RFC 8656 §7.1: the client MUST include REQUESTED-TRANSPORT; UDP is what §7 relays.
            w.add(&RequestedTransport::UDP)?;
            if let Some(token) = config.reservation_token {
                w.add(&ReservationToken(token))?;
            }
            match config.family {
                // RFC 8656 §7.1: a RESERVATION-TOKEN goes without family or EVEN-PORT.
                _ if config.reservation_token.is_some() => {}
                AllocationFamily::Ipv4 => {}
                AllocationFamily::Ipv6 => {
                    w.add(&RequestedAddressFamily(AddressFamily::Ipv6))?;
                }
                // RFC 8656 §7.1: ADDITIONAL-ADDRESS-FAMILY (IPv6) asks for an IPv6 address
                // besides the IPv4 one; it MUST NOT come with REQUESTED-ADDRESS-FAMILY.
                AllocationFamily::DualStack => {
                    w.add(&AdditionalAddressFamily(AddressFamily::Ipv6))?;
                }
            }
            if let Some(even) = config
                .even_port
                .filter(|_| config.reservation_token.is_none())
            {
                w.add(&even)?;
            }
            if config.dont_fragment {
                w.add(&DontFragment)?;
            }
            if let Some(lifetime) = config.lifetime {
                w.add(&Lifetime(secs(lifetime)))?;
            }
        }
        RequestKind::Refresh { lifetime } => {
            if let Some(lifetime) = lifetime {
                w.add(&Lifetime(*lifetime))?;
            }
        }
        RequestKind::CreatePermission { peers } => {
            for ip in peers {
                // The port is ignored by the server (RFC 8656 §10.1).
                w.add(&XorPeerAddress(SocketAddr::new(*ip, 0)))?;
            }
        }
        RequestKind::ChannelBind { channel, peer } => {
            w.add(&ChannelNumber(*channel))?;
            w.add(&XorPeerAddress(*peer))?;
        }
        // RFC 6062 §4.3: the peer to open a TCP connection to.
        RequestKind::Connect { peer } => w.add(&XorPeerAddress(*peer))?,
    }
    auth.sign(&mut w)?;
    let len = w.finish();
    buf.truncate(len);
    Ok(buf)
}

/// Whole seconds, saturating.
pub(crate) fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

/// When to refresh an allocation granted for `lifetime`: at 80 % of it or one minute before it
/// runs out, whichever is earlier, but never in the first half (short lifetimes).
pub(crate) fn refresh_after(lifetime: Duration) -> Duration {
    let eighty = lifetime.mul_f64(0.8);
    let minute_before = lifetime.saturating_sub(Duration::from_secs(60));
    if minute_before >= lifetime / 2 {
        eighty.min(minute_before)
    } else {
        eighty
    }
}

/// The allocation once granted.
#[derive(Clone, Debug)]
pub(crate) struct Allocation {
    /// One relayed address, or two for a dual-stack allocation (RFC 8656 §7.3).
    pub(crate) relayed: Vec<SocketAddr>,
    /// XOR-MAPPED-ADDRESS: the client's server-reflexive address.
    pub(crate) mapped: Option<SocketAddr>,
    pub(crate) lifetime: Duration,
    pub(crate) refresh_at: Instant,
    pub(crate) refresh_in_flight: bool,
    /// When the server lets the allocation go unless refreshed.
    pub(crate) expires: Instant,
    /// RESERVATION-TOKEN of the port reserved next to this one (EVEN-PORT's R bit).
    pub(crate) reservation_token: Option<u64>,
}

impl Allocation {
    pub(crate) fn granted(&mut self, now: Instant, lifetime: Duration) {
        self.lifetime = lifetime;
        self.refresh_at = now + refresh_after(lifetime);
        self.refresh_in_flight = false;
        self.expires = now + lifetime;
    }
}

/// Where the client stands.
#[derive(Clone, Debug)]
pub(crate) enum State {
    /// Nothing requested yet.
    Idle,
    /// Allocate in flight.
    Allocating,
    /// Granted.
    Allocated(Allocation),
    /// Refresh with LIFETIME 0 in flight.
    Closing,
    /// Deallocated, or failed: nothing more happens.
    Closed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_schedule() {
        let s = Duration::from_secs;
        assert_eq!(refresh_after(s(600)), s(480));
        assert_eq!(refresh_after(s(3600)), s(2880));
        assert_eq!(refresh_after(s(200)), s(140));
        assert_eq!(refresh_after(s(100)), s(80));
        assert_eq!(refresh_after(s(10)), s(8));
    }
}
