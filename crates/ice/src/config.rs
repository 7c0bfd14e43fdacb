//! Agent configuration.

use core::net::SocketAddr;
use std::time::Duration;

/// Which candidates the agent gathers, like RTCConfiguration's `iceTransportPolicy`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum TransportPolicy {
    /// Host, server-reflexive and relayed candidates.
    #[default]
    All,
    /// Relayed candidates only.
    Relay,
}

/// A TURN server to gather relayed candidates from (RFC 8445 §5.1.1.2, RFC 8656), with the
/// long-term credential mechanism.
#[derive(Clone, PartialEq, Eq)]
pub struct TurnServerConfig {
    /// The server's transport address.
    pub server: SocketAddr,
    /// How the server is reached: UDP datagrams, or a byte stream (TCP, or TLS over TCP) that
    /// the driver opens from the base and feeds through [`crate::IceAgent::handle_stream_data`].
    pub transport: floe_turn::Transport,
    /// Long-term credential user name.
    pub username: String,
    /// Long-term credential password.
    pub password: String,
}

impl core::fmt::Debug for TurnServerConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TurnServerConfig")
            .field("server", &self.server)
            .field("transport", &self.transport)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Everything an agent can be tuned with; `Default` gives the RFC's recommended values.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AgentConfig {
    /// Start as the controlling agent (the offerer, RFC 8445 §6.1.1). A lite agent is always
    /// controlled.
    pub controlling: bool,
    /// Run as an ICE-lite agent (RFC 8445 §2.5): host candidates only, no checks of its own.
    pub lite: bool,
    /// STUN servers to gather server-reflexive candidates from.
    pub stun_servers: Vec<SocketAddr>,
    /// TURN servers to gather relayed candidates from: one allocation per (base, server) of the
    /// same address family.
    pub turn_servers: Vec<TurnServerConfig>,
    /// Which candidates to gather.
    pub transport_policy: TransportPolicy,
    /// Ta, the pacing interval between new checks, and between server queries (RFC 8445
    /// §14.2 recommends 50 ms; floe's default is 25 ms, see DEVIATIONS.md; floor 5 ms).
    pub ta: Duration,
    /// A server that has not answered by then no longer holds gathering back (default 3 s).
    pub gather_timeout: Duration,
    /// Initial RTO of a connectivity check before any round trip has been measured, and the
    /// most a measured one may reach (RFC 8445 §14.3 recommends 500 ms; default 500 ms).
    pub check_rto: Duration,
    /// The least initial RTO of a check once round trips have been measured: the RTO is
    /// derived from them (RFC 6298) and clamped to `min_check_rto..=check_rto`; default 50 ms
    /// (two Ta). A check's retransmissions then come 50, 100, 200 … ms apart. See
    /// DEVIATIONS.md.
    pub min_check_rto: Duration,
    /// Checks are retransmitted up to this many times in all (RFC 8489 Rc, default 7).
    pub check_transmissions: u32,
    /// Maximum number of candidate pairs (RFC 8445 §6.1.2.5; default 100).
    pub max_pairs: usize,
    /// Maximum number of remote candidates, peer-reflexive ones included (default 100).
    pub max_remote_candidates: usize,
    /// Consent checks are sent this often on the selected pair, randomized ±20 %
    /// (RFC 7675 §5.1; default 5 s).
    pub consent_interval: Duration,
    /// No consent response for this long → `disconnected` (default 7 s).
    pub disconnect_timeout: Duration,
    /// No consent response for this long → consent lost, `failed` (RFC 7675 §5.1: 30 s).
    pub consent_timeout: Duration,
    /// The PAC timer: the agent does not give up before this (RFC 8863 §4; 39.5 s).
    pub pac_timeout: Duration,
    /// Keepalives on the selected pair when nothing else was sent for this long
    /// (RFC 8445 §11: Tr, at least 15 s).
    pub keepalive_interval: Duration,
    /// SOFTWARE attribute in requests, if any.
    pub software: Option<String>,
    /// ICE over TCP (RFC 6544): gather TCP candidates (passive ones on the listeners given to
    /// [`crate::IceAgent::add_local_tcp_listener`], active ones on each host address unless
    /// `lite`), pair and check remote TCP candidates. Off by default: remote TCP candidates
    /// are refused.
    pub ice_tcp: bool,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            controlling: false,
            lite: false,
            stun_servers: Vec::new(),
            turn_servers: Vec::new(),
            transport_policy: TransportPolicy::All,
            ta: Duration::from_millis(25),
            gather_timeout: Duration::from_secs(3),
            check_rto: Duration::from_millis(500),
            min_check_rto: Duration::from_millis(50),
            check_transmissions: 7,
            max_pairs: 100,
            max_remote_candidates: 100,
            consent_interval: Duration::from_secs(5),
            disconnect_timeout: Duration::from_secs(7),
            consent_timeout: Duration::from_secs(30),
            pac_timeout: Duration::from_millis(39_500),
            keepalive_interval: Duration::from_secs(15),
            software: None,
            ice_tcp: false,
        }
    }
}
