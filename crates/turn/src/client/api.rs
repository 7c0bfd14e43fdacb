//! The client's public types: configuration, events, errors and what received input was.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use floe_stun::attributes::{AddressFamily, EvenPort};
use floe_stun::{RttEstimator, TransactionConfig};

use crate::Transport;

/// Which relayed addresses to ask for (RFC 8656 §7.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum AllocationFamily {
    /// One IPv4 relayed address (the default, no attribute sent).
    #[default]
    Ipv4,
    /// One IPv6 relayed address: REQUESTED-ADDRESS-FAMILY IPv6.
    Ipv6,
    /// An IPv4 and an IPv6 relayed address: ADDITIONAL-ADDRESS-FAMILY IPv6.
    DualStack,
}

/// The transport the server relays to peers: REQUESTED-TRANSPORT of the Allocate.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum RelayTransport {
    /// UDP relaying (RFC 8656): Send/Data indications and channels.
    #[default]
    Udp,
    /// TCP relaying (RFC 6062): one TCP connection to the server per peer connection, opened
    /// with [`TurnClient::connect`](super::TurnClient::connect) or accepted after a
    /// [`TurnEvent::ConnectionAttempt`], and bound with
    /// [`TurnClient::connection_bind`](super::TurnClient::connection_bind). Needs
    /// [`Transport::Stream`] to the server (RFC 6062 §4.1).
    Tcp,
}

/// How the client is set up.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The TURN server's transport address.
    pub server: SocketAddr,
    /// UDP or a byte stream (TCP/TLS).
    pub transport: Transport,
    /// What the allocation relays: UDP (RFC 8656) or TCP (RFC 6062). A TCP allocation sends
    /// no DONT-FRAGMENT, EVEN-PORT or RESERVATION-TOKEN (RFC 6062 §4.1: they concern UDP
    /// relaying), whatever the fields below say.
    pub relay_transport: RelayTransport,
    /// Long-term credential user name.
    pub username: String,
    /// Long-term credential password.
    pub password: String,
    /// The relayed address families to request.
    pub family: AllocationFamily,
    /// Ask for DONT-FRAGMENT on the Allocate and on Send indications (RFC 8656 §18.9).
    pub dont_fragment: bool,
    /// LIFETIME to request on Allocate and Refresh; `None` leaves it to the server (600 s by
    /// default, RFC 8656 §7.2).
    pub lifetime: Option<Duration>,
    /// How long after a CreatePermission succeeds it is refreshed. Permissions last 300 s
    /// (RFC 8656 §9); the default refreshes after 240 s.
    pub permission_refresh: Duration,
    /// How long after a ChannelBind succeeds it is refreshed. Bindings last 600 s (RFC 8656
    /// §12); the default refreshes after 540 s.
    pub channel_refresh: Duration,
    /// SOFTWARE to put in requests.
    pub software: Option<String>,
    /// Retransmission parameters (UDP) and Ti (streams). `initial_rto` (500 ms) is the RTO
    /// before any round trip is measured, and also the most a measured one may reach.
    /// `max_outstanding` is a hard cap on requests in flight and waiting together: beyond
    /// it a request fails with [`TurnError::Failed`].
    pub transactions: TransactionConfig,
    /// The least RTO measured round trips may give (RFC 8489 §6.2.1 sets no floor; RFC 6298's
    /// 1 s is for TCP). Default 100 ms: a request then still lives 7.9 s (Rm × RTO after 7
    /// transmissions), so a server that pauses briefly does not fail every transaction.
    pub min_rto: Duration,
    /// The round-trip estimate to start from (RFC 8489 §6.2.1: the RTO is kept per server for
    /// the next transactions). Pass [`TurnClient::rtt`](super::TurnClient::rtt) of a client
    /// that talked to the same server IP address within the last 10 minutes; older estimates
    /// are stale. Over UDP only: streams do not retransmit.
    pub rtt: RttEstimator,
    /// At most this many requests are outstanding towards the server (RFC 8489 §6.2: 10);
    /// further ones wait, in order, for one to end. 0 counts as 1.
    pub max_outstanding: usize,
    /// EVEN-PORT on the Allocate (RFC 8656 §7.1): an even relayed port, and with
    /// `reserve_next` (the R bit) the next port held for a later allocation under the token
    /// [`TurnClient::reservation_token`](super::TurnClient::reservation_token) reports.
    pub even_port: Option<EvenPort>,
    /// RESERVATION-TOKEN on the Allocate: take the port another allocation reserved. Its
    /// family is the reserved one, so `family` and `even_port` are then not sent (RFC 8656
    /// §7.1).
    pub reservation_token: Option<u64>,
}

impl ClientConfig {
    /// A UDP, IPv4 configuration with the RFC's timers.
    pub fn new(server: SocketAddr, username: &str, password: &str) -> Self {
        Self {
            server,
            transport: Transport::Udp,
            relay_transport: RelayTransport::Udp,
            username: username.to_owned(),
            password: password.to_owned(),
            family: AllocationFamily::Ipv4,
            dont_fragment: false,
            lifetime: None,
            permission_refresh: Duration::from_secs(240),
            channel_refresh: Duration::from_secs(540),
            software: None,
            transactions: TransactionConfig::default(),
            min_rto: Duration::from_millis(100),
            rtt: RttEstimator::new(),
            max_outstanding: 10,
            even_port: None,
            reservation_token: None,
        }
    }
}

/// Why the allocation, a permission or a channel failed. Terminal for what it concerns: the
/// client does not retry beyond the one 401 and the (at most three) 438 retries the RFCs call
/// for.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum TurnError {
    /// 401 to a request that carried credentials: the user name or password is wrong.
    Unauthorized,
    /// 441 Wrong Credentials: not the credentials the allocation was created with (RFC 8656).
    WrongCredentials,
    /// 438 Stale Nonce a fourth time, or with the nonce the request already used.
    StaleNonce,
    /// 437 Allocation Mismatch: on Allocate, an allocation already exists for this 5-tuple;
    /// on other requests, the allocation is gone (RFC 8656 §7.2, §8).
    AllocationMismatch,
    /// 486 Allocation Quota Reached.
    AllocationQuotaReached,
    /// 508 Insufficient Capacity.
    InsufficientCapacity,
    /// 440 Address Family not Supported.
    AddressFamilyNotSupported,
    /// 443 Peer Address Family Mismatch.
    PeerAddressFamilyMismatch,
    /// 403 Forbidden (for example a peer address the server refuses).
    Forbidden,
    /// 446 Connection Already Exists: a Connect to a peer the allocation already has a
    /// connection (or a Connect in progress) to (RFC 6062 §5.2).
    ConnectionAlreadyExists,
    /// 447 Connection Timeout or Failure: the server could not open the TCP connection to the
    /// peer (RFC 6062 §5.2): refused, unreachable or timed out.
    ConnectionTimeoutOrFailure,
    /// 300 Try Alternate to a server already tried, past 3 redirects, to an unusable address
    /// (another family, port 0, an internal address when the first server was not), or
    /// without ALTERNATE-SERVER.
    RedirectLoop,
    /// Another error response.
    Rejected {
        /// The code.
        code: u16,
        /// The reason phrase.
        reason: String,
    },
    /// The response had comprehension-required attributes we do not know (RFC 8489 §6.3.4),
    /// or a challenge we cannot answer.
    Failed,
    /// No response in time (RFC 8489 §6.2).
    Timeout,
    /// Responses failed their MESSAGE-INTEGRITY check (RFC 8489 §9.2.5): a wrong password, or
    /// forged responses. Over TCP/TLS at the first such response; over UDP, where such a
    /// response is dropped in case it is forged, when the transaction then times out.
    Integrity,
}

impl TurnError {
    /// The STUN error code behind the error, if the server sent one; a failed integrity check
    /// counts as 401 (the password is wrong, RFC 8489 §9.2.5).
    pub fn code(&self) -> Option<u16> {
        Some(match self {
            TurnError::Unauthorized | TurnError::Integrity => 401,
            TurnError::WrongCredentials => 441,
            TurnError::StaleNonce => 438,
            TurnError::AllocationMismatch => 437,
            TurnError::AllocationQuotaReached => 486,
            TurnError::InsufficientCapacity => 508,
            TurnError::AddressFamilyNotSupported => 440,
            TurnError::PeerAddressFamilyMismatch => 443,
            TurnError::Forbidden => 403,
            TurnError::ConnectionAlreadyExists => 446,
            TurnError::ConnectionTimeoutOrFailure => 447,
            TurnError::RedirectLoop => 300,
            TurnError::Rejected { code, .. } => *code,
            TurnError::Failed | TurnError::Timeout => return None,
        })
    }

    pub(crate) fn from_code(code: u16, reason: &str) -> Self {
        match code {
            401 => TurnError::Unauthorized,
            403 => TurnError::Forbidden,
            437 => TurnError::AllocationMismatch,
            438 => TurnError::StaleNonce,
            440 => TurnError::AddressFamilyNotSupported,
            441 => TurnError::WrongCredentials,
            443 => TurnError::PeerAddressFamilyMismatch,
            446 => TurnError::ConnectionAlreadyExists,
            447 => TurnError::ConnectionTimeoutOrFailure,
            486 => TurnError::AllocationQuotaReached,
            508 => TurnError::InsufficientCapacity,
            _ => TurnError::Rejected {
                code,
                reason: reason.to_owned(),
            },
        }
    }
}

impl fmt::Display for TurnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TurnError::Unauthorized => {
                f.write_str("401 Unauthenticated: the server rejected the user name or password")
            }
            TurnError::WrongCredentials => {
                f.write_str("441 Wrong Credentials: not the credentials of the allocation")
            }
            TurnError::StaleNonce => f.write_str("438 Stale Nonce even with fresh nonces"),
            TurnError::AllocationMismatch => f.write_str("437 Allocation Mismatch"),
            TurnError::AllocationQuotaReached => f.write_str("486 Allocation Quota Reached"),
            TurnError::InsufficientCapacity => f.write_str("508 Insufficient Capacity"),
            TurnError::AddressFamilyNotSupported => f.write_str("440 Address Family not Supported"),
            TurnError::PeerAddressFamilyMismatch => f.write_str("443 Peer Address Family Mismatch"),
            TurnError::Forbidden => f.write_str("403 Forbidden"),
            TurnError::ConnectionAlreadyExists => f.write_str("446 Connection Already Exists"),
            TurnError::ConnectionTimeoutOrFailure => f.write_str(
                "447 Connection Timeout or Failure: the server could not reach the peer",
            ),
            TurnError::RedirectLoop => f.write_str("300 Try Alternate to a server already tried"),
            TurnError::Rejected { code, reason } => write!(f, "{code} {reason}"),
            TurnError::Failed => f.write_str("unusable response"),
            TurnError::Timeout => f.write_str("no response from the TURN server"),
            TurnError::Integrity => f.write_str(
                "the TURN server's responses failed their integrity check (wrong password?)",
            ),
        }
    }
}

impl std::error::Error for TurnError {}

/// What happened, for the driver.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum TurnEvent {
    /// The allocation was granted (RFC 8656 §7.3).
    Allocated {
        /// XOR-RELAYED-ADDRESS: one, or one per family for dual-stack.
        relayed: Vec<SocketAddr>,
        /// XOR-MAPPED-ADDRESS: the client's server-reflexive address.
        mapped: Option<SocketAddr>,
        /// LIFETIME granted.
        lifetime: Duration,
    },
    /// A dual-stack allocation got no address of this family (ADDRESS-ERROR-CODE, RFC 8656
    /// §7.3); the other family's address is in [`TurnEvent::Allocated`].
    AddressFamilyRejected {
        /// The family not allocated.
        family: AddressFamily,
        /// The code, such as 440 or 508.
        code: u16,
        /// The reason phrase.
        reason: String,
    },
    /// A Refresh succeeded; the allocation now lasts `lifetime` (RFC 8656 §8).
    Refreshed {
        /// LIFETIME granted.
        lifetime: Duration,
    },
    /// The server redirected the Allocate (300 Try Alternate, RFC 8489 §10): from now on
    /// every transmit goes to `server`, and the driver must send there (over a new connection
    /// for streams). The Allocate is retried there automatically.
    AlternateServer {
        /// ALTERNATE-SERVER.
        server: SocketAddr,
    },
    /// A permission for this peer IP address is installed (RFC 8656 §9).
    PermissionCreated {
        /// The peer address (ports do not matter to permissions).
        peer: IpAddr,
    },
    /// A CreatePermission failed.
    PermissionFailed {
        /// The peer address.
        peer: IpAddr,
        /// Why.
        error: TurnError,
    },
    /// A channel is bound: data to and from `peer` now travels as ChannelData (RFC 8656 §12).
    ChannelBound {
        /// The peer transport address.
        peer: SocketAddr,
        /// The channel number.
        channel: u16,
    },
    /// A ChannelBind failed; data to `peer` keeps using Send indications.
    ChannelBindFailed {
        /// The peer transport address.
        peer: SocketAddr,
        /// Why.
        error: TurnError,
    },
    /// A Connect succeeded (RFC 6062 §4.3): the server holds a TCP connection to `peer`.
    /// Open a new stream to the server and hand it to the
    /// [`DataConnection`](super::DataConnection) that
    /// [`TurnClient::connection_bind`](super::TurnClient::connection_bind) returns for
    /// `connection_id` within 30 s, or the server closes the peer connection.
    Connected {
        /// XOR-PEER-ADDRESS of the Connect.
        peer: SocketAddr,
        /// CONNECTION-ID of the success response.
        connection_id: u32,
    },
    /// A Connect failed: [`TurnError::ConnectionTimeoutOrFailure`] (447),
    /// [`TurnError::ConnectionAlreadyExists`] (446), [`TurnError::Forbidden`] (403), or
    /// [`TurnError::Timeout`] when the server did not answer within Ti.
    ConnectFailed {
        /// XOR-PEER-ADDRESS of the Connect.
        peer: SocketAddr,
        /// Why.
        error: TurnError,
    },
    /// A ConnectionAttempt indication (RFC 6062 §4.4): `peer` opened a TCP connection to the
    /// relayed address (the allocation needs a permission for its IP). To accept it, call
    /// [`TurnClient::connection_bind`](super::TurnClient::connection_bind) within 30 s;
    /// ignoring it lets the server close the peer's connection after 30 s.
    ConnectionAttempt {
        /// XOR-PEER-ADDRESS: the peer's transport address.
        peer: SocketAddr,
        /// CONNECTION-ID naming the peer connection.
        connection_id: u32,
    },
    /// The allocation failed or was lost: nothing more will happen.
    Failed(TurnError),
    /// The allocation was deleted after [`TurnClient::close`](super::TurnClient::close).
    Closed,
}

/// What a received datagram or stream message was.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Received<'a> {
    /// Application data from a peer (Data indication or ChannelData): a slice of the input.
    Data {
        /// The peer that sent it, as seen by the server.
        peer: SocketAddr,
        /// The data.
        data: &'a [u8],
    },
    /// A TURN message the client consumed (a response, for instance).
    Handled,
    /// Not for this client (another source, not TURN, malformed, unexpected): drop it.
    Ignored,
}

/// A request to send to the server (UDP datagram or bytes on the stream).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[must_use = "a transmit that is not sent is a lost packet"]
pub struct Transmit<'a> {
    /// The server address.
    pub destination: SocketAddr,
    /// The encoded STUN request; on streams it is already framed (STUN needs no padding).
    pub payload: &'a [u8],
}

/// Why the client could not do what it was asked.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SendError {
    /// There is no allocation (not yet, or not any more).
    NotAllocated,
    /// [`TurnClient::allocate`](super::TurnClient::allocate) was already called.
    AlreadyStarted,
    /// All 4096 channel numbers are in use.
    NoChannelAvailable,
    /// The peer's address family matches no relayed address (RFC 8656 §10.2 would answer 443).
    PeerFamilyMismatch,
    /// The output buffer is too small.
    BufferTooSmall,
    /// The data does not fit in one message.
    TooLong,
    /// A TCP allocation (RFC 6062) asked over UDP: it needs a TCP or TLS connection to the
    /// server (RFC 6062 §4.1).
    TcpAllocationOverUdp,
    /// Connect or ConnectionBind on an allocation that relays UDP, not TCP.
    NotTcpAllocation,
    /// The allocation already has [`MAX_PENDING_CONNECTIONS`](super::MAX_PENDING_CONNECTIONS)
    /// Connects in flight and connections waiting for their ConnectionBind.
    TooManyConnections,
    /// No connection waits for a ConnectionBind under this CONNECTION-ID: never announced,
    /// already bound, or expired (30 s after it was announced).
    UnknownConnection,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::NotAllocated => "no TURN allocation",
            SendError::AlreadyStarted => "allocation already requested",
            SendError::NoChannelAvailable => "no free channel number",
            SendError::PeerFamilyMismatch => "peer address family matches no relayed address",
            SendError::BufferTooSmall => "output buffer too small",
            SendError::TooLong => "data too long for one TURN message",
            SendError::TcpAllocationOverUdp => {
                "a TCP allocation (RFC 6062) needs a TCP or TLS connection to the TURN server, not UDP"
            }
            SendError::NotTcpAllocation => "the allocation relays UDP, not TCP",
            SendError::TooManyConnections => "too many TCP connections pending on the allocation",
            SendError::UnknownConnection => "no TCP connection pending under that CONNECTION-ID",
        })
    }
}

impl std::error::Error for SendError {}
