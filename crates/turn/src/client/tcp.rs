//! RFC 6062 on the control connection: [`TurnClient::connect`],
//! [`TurnClient::connection_bind`], ConnectionAttempt indications, and the TCP connections of
//! the allocation that the client still tracks: Connects in flight, and peer connections the
//! server announced (Connect success or ConnectionAttempt) that wait for their ConnectionBind.
//!
//! Once bound, a connection is its [`DataConnection`](super::DataConnection)'s business and
//! leaves this table, so the table only holds what is pending, bounded by
//! [`MAX_PENDING_CONNECTIONS`].

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use floe_stun::attributes::{ConnectionId, XorPeerAddress};
use floe_stun::redact::Addr;
use floe_stun::Message;
use tracing::debug;

use super::allocation::{Pending as Request, RequestKind, State};
use super::{Core, DataConnection, Received, RelayTransport, SendError, TurnClient, TurnEvent};

/// At most this many TCP connections are pending per allocation: Connects in flight plus
/// connections announced and not yet handed to a [`DataConnection`](super::DataConnection).
/// Beyond it, `connect` fails with
/// [`SendError::TooManyConnections`](super::SendError::TooManyConnections) and
/// ConnectionAttempt indications are dropped (the server closes those peer connections after
/// 30 s), so a peer flooding the relayed address with connections costs the client no memory.
pub const MAX_PENDING_CONNECTIONS: usize = 16;

/// RFC 6062 §5.2, §5.3: the server closes a peer connection that no ConnectionBind claims
/// within 30 s; the client forgets it at the same time.
pub(crate) const BIND_WITHIN: Duration = Duration::from_secs(30);

/// RFC 6062 on the control connection.
impl TurnClient {
    /// Asks the server to open a TCP connection to `peer` (RFC 6062 §4.3): a Connect request.
    /// [`TurnEvent::Connected`] brings its CONNECTION-ID for
    /// [`TurnClient::connection_bind`]; [`TurnEvent::ConnectFailed`] says why not (447 when
    /// the peer cannot be reached, 446 when a connection to it exists already, 403 when the
    /// server refuses the peer).
    pub fn connect(&mut self, now: Instant, peer: SocketAddr) -> Result<(), SendError> {
        self.core.check_tcp_allocation()?;
        self.core.check_peer(peer.ip())?;
        if !self.core.connections.start_connect(peer) {
            return Err(SendError::TooManyConnections);
        }
        self.core
            .request(now, Request::new(RequestKind::Connect { peer }));
        Ok(())
    }

    /// Takes the peer connection `connection_id` (from [`TurnEvent::Connected`] or
    /// [`TurnEvent::ConnectionAttempt`]) for binding: the [`DataConnection`] returned holds the
    /// ConnectionBind request, signed with the allocation's credentials, for the driver to
    /// write on a NEW stream to [`TurnClient::server`] (RFC 6062 §4.3, §4.4). Its transaction
    /// ids come from this client's CSPRNG, hence from the seed the client was made with.
    pub fn connection_bind(
        &mut self,
        now: Instant,
        connection_id: u32,
    ) -> Result<DataConnection, SendError> {
        self.core.check_tcp_allocation()?;
        let peer = self
            .core
            .connections
            .take(connection_id, now)
            .ok_or(SendError::UnknownConnection)?;
        let core = &mut self.core;
        Ok(DataConnection::new(
            now,
            connection_id,
            peer,
            core.config.server,
            core.auth.clone(),
            core.config.software.clone(),
            core.config.transactions.reliable_timeout,
            core.rng.key(),
        ))
    }

    /// How many TCP connections are pending (RFC 6062): Connects in flight and connections
    /// announced but not yet taken by [`TurnClient::connection_bind`], at most
    /// [`MAX_PENDING_CONNECTIONS`].
    pub fn pending_connections(&self) -> usize {
        self.core.connections.len()
    }
}

impl Core {
    /// RFC 6062 §4.4: a peer connected to the relayed address. Dropped unless the allocation
    /// relays TCP, the indication has CONNECTION-ID and XOR-PEER-ADDRESS, and fewer than
    /// [`MAX_PENDING_CONNECTIONS`] connections are pending.
    pub(super) fn connection_attempt(
        &mut self,
        now: Instant,
        msg: &Message<'_>,
    ) -> Received<'static> {
        if self.check_tcp_allocation().is_err()
            || (msg.has_fingerprint() && msg.verify_fingerprint().is_err())
        {
            return Received::Ignored;
        }
        let (Ok(Some(XorPeerAddress(peer))), Ok(Some(ConnectionId(connection_id)))) =
            (msg.get::<XorPeerAddress>(), msg.get::<ConnectionId>())
        else {
            return Received::Ignored;
        };
        if !self.connections.attempt(peer, connection_id, now) {
            debug!(peer = %Addr(peer), connection_id, "TURN ConnectionAttempt dropped");
            return Received::Ignored;
        }
        self.events.push_back(TurnEvent::ConnectionAttempt {
            peer,
            connection_id,
        });
        Received::Handled
    }

    pub(super) fn check_tcp_allocation(&self) -> Result<(), SendError> {
        match self.state {
            State::Allocated(_) if self.config.relay_transport == RelayTransport::Tcp => Ok(()),
            State::Allocated(_) => Err(SendError::NotTcpAllocation),
            _ => Err(SendError::NotAllocated),
        }
    }
}

/// Where one pending connection stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Pending {
    /// The Connect request is in flight; the server has not named the connection yet.
    Connecting,
    /// The server named it (Connect success or ConnectionAttempt); it waits for its
    /// ConnectionBind until `expires`.
    AwaitingBind {
        connection_id: u32,
        expires: Instant,
    },
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    peer: SocketAddr,
    state: Pending,
}

/// The pending connections of one allocation.
#[derive(Debug, Default)]
pub(crate) struct TcpConnections {
    entries: Vec<Entry>,
}

impl TcpConnections {
    fn is_full(&self) -> bool {
        self.entries.len() >= MAX_PENDING_CONNECTIONS
    }

    /// Records a Connect to `peer` about to be sent; false when the table is full.
    pub(crate) fn start_connect(&mut self, peer: SocketAddr) -> bool {
        if self.is_full() {
            return false;
        }
        self.entries.push(Entry {
            peer,
            state: Pending::Connecting,
        });
        true
    }

    /// The Connect to `peer` succeeded with `connection_id`; false when no Connect to it was
    /// in flight (the allocation was closed meanwhile) or the id is already taken.
    pub(crate) fn connected(&mut self, peer: SocketAddr, connection_id: u32, now: Instant) -> bool {
        if self.has_id(connection_id) {
            self.connect_failed(peer);
            return false;
        }
        match self
            .entries
            .iter_mut()
            .find(|e| e.peer == peer && e.state == Pending::Connecting)
        {
            Some(e) => {
                e.state = Pending::AwaitingBind {
                    connection_id,
                    expires: now + BIND_WITHIN,
                };
                true
            }
            None => false,
        }
    }

    /// The Connect to `peer` failed: its slot is free again.
    pub(crate) fn connect_failed(&mut self, peer: SocketAddr) {
        if let Some(i) = self
            .entries
            .iter()
            .position(|e| e.peer == peer && e.state == Pending::Connecting)
        {
            self.entries.remove(i);
        }
    }

    /// A ConnectionAttempt for `peer` named `connection_id`; false (drop the indication) when
    /// the table is full or the id is known already (a duplicate).
    pub(crate) fn attempt(&mut self, peer: SocketAddr, connection_id: u32, now: Instant) -> bool {
        if self.is_full() || self.has_id(connection_id) {
            return false;
        }
        self.entries.push(Entry {
            peer,
            state: Pending::AwaitingBind {
                connection_id,
                expires: now + BIND_WITHIN,
            },
        });
        true
    }

    fn has_id(&self, id: u32) -> bool {
        self.entries.iter().any(|e| {
            matches!(e.state, Pending::AwaitingBind { connection_id, .. } if connection_id == id)
        })
    }

    /// Removes the connection `id` for its ConnectionBind; its peer, or `None` when no such
    /// connection waits (or it expired at `now`).
    pub(crate) fn take(&mut self, id: u32, now: Instant) -> Option<SocketAddr> {
        self.expire(now);
        let i = self.entries.iter().position(|e| {
            matches!(e.state, Pending::AwaitingBind { connection_id, .. } if connection_id == id)
        })?;
        Some(self.entries.remove(i).peer)
    }

    /// Forgets connections whose 30 s ran out.
    pub(crate) fn expire(&mut self, now: Instant) {
        self.entries.retain(|e| match e.state {
            Pending::Connecting => true,
            Pending::AwaitingBind { expires, .. } => expires > now,
        });
    }

    /// When the next connection expires.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.entries
            .iter()
            .filter_map(|e| match e.state {
                Pending::Connecting => None,
                Pending::AwaitingBind { expires, .. } => Some(expires),
            })
            .min()
    }

    /// The allocation is gone, and every pending connection with it.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    /// How many connections are pending.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::from(([198, 51, 100, 7], port))
    }

    #[test]
    fn the_table_is_bounded_and_entries_expire() {
        let now = Instant::now();
        let mut t = TcpConnections::default();
        for i in 0..MAX_PENDING_CONNECTIONS as u32 {
            assert!(t.attempt(peer(1000), i, now));
        }
        assert!(!t.attempt(peer(1000), 99, now), "full");
        assert!(!t.start_connect(peer(2000)), "full");
        assert_eq!(t.take(3, now), Some(peer(1000)));
        assert_eq!(t.take(3, now), None, "taken once");
        assert!(t.start_connect(peer(2000)));
        assert_eq!(t.next_expiry(), Some(now + BIND_WITHIN));
        t.expire(now + BIND_WITHIN);
        assert_eq!(t.len(), 1, "only the Connect in flight is left");
        assert!(t.connected(peer(2000), 7, now));
        assert!(!t.attempt(peer(3000), 7, now), "duplicate id");
    }
}
