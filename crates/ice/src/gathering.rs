//! Gathering server-reflexive candidates: one STUN Binding transaction per (base, server), each
//! with its own deadline so a dead server never holds `complete` back (RFC 8445 §5.1.1.2).

use core::net::SocketAddr;
use std::time::Instant;

use floe_stun::TransactionId;

/// Where one server query stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum QueryState {
    /// Waiting for a pacer slot.
    Queued,
    /// Request sent; gives up at the deadline.
    Sent {
        transaction: TransactionId,
        deadline: Instant,
    },
    /// Answered, failed or timed out.
    Done,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Query {
    pub(crate) base: SocketAddr,
    pub(crate) server: SocketAddr,
    pub(crate) state: QueryState,
}

/// The server queries of one gathering round.
#[derive(Clone, Debug, Default)]
pub(crate) struct Gathering {
    pub(crate) started: bool,
    pub(crate) queries: Vec<Query>,
}

impl Gathering {
    /// Queues a query for every server of the base's address family.
    pub(crate) fn add_base(&mut self, base: SocketAddr, servers: &[SocketAddr]) {
        for &server in servers {
            if server.is_ipv4() == base.is_ipv4() {
                self.queries.push(Query {
                    base,
                    server,
                    state: QueryState::Queued,
                });
            }
        }
    }

    pub(crate) fn next_queued(&mut self) -> Option<&mut Query> {
        self.queries
            .iter_mut()
            .find(|q| q.state == QueryState::Queued)
    }

    pub(crate) fn has_queued(&self) -> bool {
        self.queries.iter().any(|q| q.state == QueryState::Queued)
    }

    pub(crate) fn find(&mut self, transaction: TransactionId) -> Option<&mut Query> {
        self.queries.iter_mut().find(
            |q| matches!(q.state, QueryState::Sent { transaction: t, .. } if t == transaction),
        )
    }

    /// The earliest query deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.queries
            .iter()
            .filter_map(|q| match q.state {
                QueryState::Sent { deadline, .. } => Some(deadline),
                _ => None,
            })
            .min()
    }

    /// Ends queries past their deadline; returns their transactions so they can be cancelled.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<TransactionId> {
        let mut expired = Vec::new();
        for q in &mut self.queries {
            if let QueryState::Sent {
                transaction,
                deadline,
            } = q.state
            {
                if now >= deadline {
                    q.state = QueryState::Done;
                    expired.push(transaction);
                }
            }
        }
        expired
    }

    /// All queries are done.
    pub(crate) fn is_complete(&self) -> bool {
        self.started && self.queries.iter().all(|q| q.state == QueryState::Done)
    }
}
