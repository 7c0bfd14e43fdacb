//! Client transactions (RFC 8489 §6.2): retransmission, response matching and timeouts.
//!
//! [`ClientTransactions`] keeps any number of concurrent requests, each tagged with user data
//! (for ICE, the candidate pair a check belongs to). It owns no socket and reads no clock: the
//! caller passes `now`, sends what [`ClientTransactions::poll_transmit`] yields, wakes up at
//! [`ClientTransactions::poll_timeout`] and feeds received responses to
//! [`ClientTransactions::handle_response`].
//!
//! ```
//! use std::time::{Duration, Instant};
//! use floe_stun::{ClientTransactions, MessageType, MessageWriter, TransactionConfig, TransactionId};
//!
//! let mut transactions = ClientTransactions::new(TransactionConfig::default());
//! let mut buf = [0u8; 64];
//! let w = MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, TransactionId::new([1; 12])).unwrap();
//! let len = w.finish();
//! let now = Instant::now();
//! let server = "192.0.2.1:3478".parse().unwrap();
//! transactions.start(now, server, &buf[..len], false, "my check").unwrap();
//! let transmit = transactions.poll_transmit().unwrap();
//! assert_eq!(transmit.destination, server);
//! assert_eq!(transactions.poll_timeout(), Some(now + Duration::from_millis(500)));
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::attributes::ErrorCode;
use crate::header::{Class, Method, TransactionId};
use crate::message::Message;

/// Retransmission parameters (RFC 8489 §6.2.1) and the bound on outstanding transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransactionConfig {
    /// RTO for the first retransmission over unreliable transports; doubled after each one.
    /// RFC 8489 §6.2.1 recommends 500 ms.
    pub initial_rto: Duration,
    /// Rc: the number of transmissions over unreliable transports, the first included (7).
    pub max_transmissions: u32,
    /// Rm: after the last transmission the client waits Rm times the initial RTO (16).
    pub last_wait_multiplier: u32,
    /// Ti: how long a request over a reliable transport (TCP, TLS) waits for its response,
    /// 39.5 s (RFC 8489 §6.2.2).
    pub reliable_timeout: Duration,
    /// At most this many transactions may be outstanding at once; [`ClientTransactions::start`]
    /// fails beyond it.
    pub max_outstanding: usize,
}

impl Default for TransactionConfig {
    fn default() -> Self {
        Self {
            initial_rto: Duration::from_millis(500),
            max_transmissions: 7,
            last_wait_multiplier: 16,
            reliable_timeout: Duration::from_millis(39_500),
            max_outstanding: 1024,
        }
    }
}

/// Why a transaction could not be started.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TransactionError {
    /// A transaction with this id is already outstanding; ids must be unique (RFC 8489 §6).
    DuplicateId,
    /// [`TransactionConfig::max_outstanding`] transactions are already outstanding.
    Full,
    /// The bytes are not a well-formed STUN request.
    NotARequest,
}

impl fmt::Display for TransactionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransactionError::DuplicateId => "a transaction with this id is already outstanding",
            TransactionError::Full => "too many outstanding STUN transactions",
            TransactionError::NotARequest => "not a well-formed STUN request",
        })
    }
}

impl std::error::Error for TransactionError {}

/// How a transaction ended.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum TransactionOutcome {
    /// A success response arrived; the caller reads its attributes from the [`Message`] it
    /// passed to [`ClientTransactions::handle_response`].
    Success,
    /// An error response arrived with this ERROR-CODE (RFC 8489 §6.3.4).
    Error {
        /// The code, 300-699.
        code: u16,
        /// The reason phrase.
        reason: Box<str>,
    },
    /// The response carried comprehension-required attributes this crate does not know: it is
    /// discarded and the transaction has failed (RFC 8489 §6.3.3, §6.3.4).
    Failed,
    /// No response arrived in time (RFC 8489 §6.2.1, §6.2.2).
    TimedOut,
}

/// A finished transaction, with the user data it was started with.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TransactionEvent<T> {
    /// The request's transaction id.
    pub transaction_id: TransactionId,
    /// Where the request was sent.
    pub destination: SocketAddr,
    /// The data given to [`ClientTransactions::start`].
    pub user: T,
    /// How the transaction ended.
    pub outcome: TransactionOutcome,
}

/// A datagram to send, borrowed from the transaction that owns it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[must_use = "a transmit that is not sent is a lost packet"]
pub struct Transmit<'a, T> {
    /// Where to send it.
    pub destination: SocketAddr,
    /// The encoded request.
    pub payload: &'a [u8],
    /// The data the transaction was started with (for example which local socket to use).
    pub user: &'a T,
}

/// One outstanding request.
#[derive(Debug)]
struct Transaction<T> {
    destination: SocketAddr,
    method: Method,
    /// The encoded request, resent unchanged so the server sees the same transaction.
    request: Box<[u8]>,
    user: T,
    /// The initial RTO; `None` over reliable transports, which never retransmit.
    rto: Option<Duration>,
    transmissions: u32,
    deadline: Instant,
    /// True while an entry for this transaction sits in the transmit queue.
    queued: bool,
    /// Ends without an event when its time is up (see [`ClientTransactions::stop_retransmitting`]).
    silent: bool,
}

/// Concurrent client transactions keyed by transaction id, each carrying user data `T`.
#[derive(Debug)]
pub struct ClientTransactions<T> {
    config: TransactionConfig,
    /// Ordered by id so that simultaneous retransmissions and timeouts come out in the same
    /// order on every run (a `HashMap` would seed its order randomly).
    transactions: BTreeMap<TransactionId, Transaction<T>>,
    transmit_queue: VecDeque<TransactionId>,
    events: VecDeque<TransactionEvent<T>>,
}

/// `now + d`, clamped to `now` if an absurd configuration overflows `Instant`.
fn after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d).unwrap_or(now)
}

/// How long to wait after the `n`-th transmission of a request with initial RTO `rto`: the RTO
/// doubled n-1 times, or Rm × RTO after the last (RFC 8489 §6.2.1).
fn wait_after(config: &TransactionConfig, rto: Duration, n: u32) -> Duration {
    if n >= config.max_transmissions {
        rto.saturating_mul(config.last_wait_multiplier)
    } else {
        let factor = 1u32.checked_shl(n - 1).unwrap_or(u32::MAX);
        rto.saturating_mul(factor)
    }
}

impl<T> ClientTransactions<T> {
    /// An empty set of transactions.
    pub fn new(config: TransactionConfig) -> Self {
        Self {
            config,
            transactions: BTreeMap::new(),
            transmit_queue: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &TransactionConfig {
        &self.config
    }

    /// Changes the RTO used by transactions started from now on, for example the value ICE
    /// derives from its pacing (RFC 8445 §14.3); outstanding ones keep theirs.
    pub fn set_initial_rto(&mut self, rto: Duration) {
        self.config.initial_rto = rto;
    }

    /// Starts a transaction for the encoded `request` (copied once) towards `destination`, and
    /// queues its first transmission. `reliable` is true over TCP or TLS, where the request is
    /// sent once and times out after Ti (RFC 8489 §6.2.2). Returns the request's transaction id.
    pub fn start(
        &mut self,
        now: Instant,
        destination: SocketAddr,
        request: &[u8],
        reliable: bool,
        user: T,
    ) -> Result<TransactionId, TransactionError> {
        let rto = (!reliable).then_some(self.config.initial_rto);
        self.start_inner(now, destination, request, rto, user)
    }

    /// Like [`Self::start`] over an unreliable transport, with an initial RTO of its own for
    /// this request: for a caller that estimates round-trip times per destination
    /// (RFC 8489 §6.2.1, with [`crate::RttEstimator`]).
    pub fn start_with_rto(
        &mut self,
        now: Instant,
        destination: SocketAddr,
        request: &[u8],
        rto: Duration,
        user: T,
    ) -> Result<TransactionId, TransactionError> {
        self.start_inner(now, destination, request, Some(rto), user)
    }

    fn start_inner(
        &mut self,
        now: Instant,
        destination: SocketAddr,
        request: &[u8],
        rto: Option<Duration>,
        user: T,
    ) -> Result<TransactionId, TransactionError> {
        let msg = Message::decode(request).map_err(|_| TransactionError::NotARequest)?;
        if msg.class() != Class::Request {
            return Err(TransactionError::NotARequest);
        }
        let id = msg.transaction_id();
        if self.transactions.contains_key(&id) {
            return Err(TransactionError::DuplicateId);
        }
        if self.transactions.len() >= self.config.max_outstanding {
            return Err(TransactionError::Full);
        }
        let deadline = match rto {
            None => after(now, self.config.reliable_timeout),
            Some(rto) => after(now, wait_after(&self.config, rto, 1)),
        };
        self.transactions.insert(
            id,
            Transaction {
                destination,
                method: msg.method(),
                request: request.into(),
                user,
                rto,
                transmissions: 1,
                deadline,
                queued: true,
                silent: false,
            },
        );
        self.transmit_queue.push_back(id);
        Ok(id)
    }

    /// Starts a transaction whose request is sent once and never retransmitted, failing with
    /// [`TransactionOutcome::TimedOut`] after `timeout`: for requests that a protocol above
    /// STUN says not to retransmit, such as consent freshness (RFC 7675 §5.1).
    pub fn start_once(
        &mut self,
        now: Instant,
        destination: SocketAddr,
        request: &[u8],
        timeout: Duration,
        user: T,
    ) -> Result<TransactionId, TransactionError> {
        let id = self.start(now, destination, request, true, user)?;
        if let Some(t) = self.transactions.get_mut(&id) {
            t.deadline = after(now, timeout);
        }
        Ok(id)
    }

    /// Stops retransmitting a request but keeps listening for its response until the
    /// transaction's timeout (Rm × RTO from now), then drops it without an event: what RFC 8445
    /// §7.3.1.4 calls cancelling an in-progress check. A response still ends it as usual.
    ///
    /// A request whose first transmission has not been taken by [`Self::poll_transmit`] yet is
    /// still sent once: the caller already counts it as sent, and its response may be what
    /// the caller waits for (a nominating check, say).
    pub fn stop_retransmitting(&mut self, now: Instant, transaction_id: TransactionId) {
        let config = &self.config;
        if let Some(t) = self.transactions.get_mut(&transaction_id) {
            let rto = t.rto.take().unwrap_or(config.initial_rto);
            t.deadline = after(now, rto.saturating_mul(config.last_wait_multiplier));
            if t.transmissions > 1 {
                t.queued = false;
            }
            t.silent = true;
        }
    }

    /// Abandons, without events, every transaction whose user data `cancel` picks.
    pub fn cancel_where(&mut self, mut cancel: impl FnMut(&T) -> bool) {
        self.transactions.retain(|_, t| !cancel(&t.user));
    }

    /// The user data of every outstanding transaction.
    pub fn iter(&self) -> impl Iterator<Item = (TransactionId, &T)> + '_ {
        self.transactions.iter().map(|(id, t)| (*id, &t.user))
    }

    /// True when a transaction with this id, sent to `source`, is outstanding: lets the caller
    /// skip integrity checks on responses nobody waits for.
    pub fn is_outstanding(&self, transaction_id: TransactionId, source: SocketAddr) -> bool {
        self.transactions
            .get(&transaction_id)
            .is_some_and(|t| t.destination == source)
    }

    /// Matches a response received from `source` and, on a match, ends its transaction.
    ///
    /// A response matches when its transaction id and method are those of an outstanding request
    /// and it comes from the address the request was sent to (RFC 8489 §6.3: the response
    /// arrives on the 5-tuple of the request). Anything else returns `None` and changes nothing,
    /// as does an error response without a readable ERROR-CODE, which is discarded so that a
    /// mangled packet cannot end the transaction. Integrity is the caller's to check first.
    pub fn handle_response(
        &mut self,
        source: SocketAddr,
        response: &Message<'_>,
    ) -> Option<TransactionEvent<T>> {
        self.match_response(Some(source), response)
    }

    /// Like [`Self::handle_response`], but matches on transaction id and method alone, whatever
    /// address the response came from: for a request whose response the server sends from
    /// another address on purpose, such as one carrying CHANGE-REQUEST (RFC 5780 §7.2). The
    /// 96 random bits of the transaction id are then the only check against forged responses.
    pub fn handle_response_from_any_source(
        &mut self,
        response: &Message<'_>,
    ) -> Option<TransactionEvent<T>> {
        self.match_response(None, response)
    }

    /// Matches `response`, from `source` when given, against the outstanding transactions.
    fn match_response(
        &mut self,
        source: Option<SocketAddr>,
        response: &Message<'_>,
    ) -> Option<TransactionEvent<T>> {
        let id = response.transaction_id();
        let t = self.transactions.get(&id)?;
        if !response.class().is_response()
            || source.is_some_and(|s| s != t.destination)
            || t.method != response.method()
        {
            return None;
        }
        let outcome = if response.unknown_comprehension_required().next().is_some() {
            // RFC 8489 §6.3.3/§6.3.4: discarded, and the transaction is considered failed.
            TransactionOutcome::Failed
        } else if response.class() == Class::SuccessResponse {
            TransactionOutcome::Success
        } else {
            let error = response.get::<ErrorCode<'_>>().ok().flatten()?;
            TransactionOutcome::Error {
                code: error.code,
                reason: error.reason.into(),
            }
        };
        let t = self.transactions.remove(&id)?;
        Some(TransactionEvent {
            transaction_id: id,
            destination: t.destination,
            user: t.user,
            outcome,
        })
    }

    /// Abandons a transaction without an event, returning its user data.
    pub fn cancel(&mut self, transaction_id: TransactionId) -> Option<T> {
        // Its queued transmit, if any, is skipped by `poll_transmit`.
        self.transactions.remove(&transaction_id).map(|t| t.user)
    }

    /// Queues retransmissions that are due and expires transactions whose time is up.
    ///
    /// Over unreliable transports a request is retransmitted when its RTO elapses, the RTO
    /// doubling each time, until Rc transmissions; the transaction fails Rm × initial RTO after
    /// the last one (RFC 8489 §6.2.1). Over reliable ones it fails after Ti (§6.2.2).
    pub fn handle_timeout(&mut self, now: Instant) {
        let config = &self.config;
        let max_transmissions = config.max_transmissions.max(1);
        let mut expired = Vec::new();
        for (id, t) in self.transactions.iter_mut() {
            if t.deadline > now {
                continue;
            }
            match t.rto {
                Some(rto) if t.transmissions < max_transmissions => {
                    t.transmissions += 1;
                    t.deadline = after(now, wait_after(config, rto, t.transmissions));
                    if !t.queued {
                        t.queued = true;
                        self.transmit_queue.push_back(*id);
                    }
                }
                _ => expired.push(*id),
            }
        }
        for id in expired {
            if let Some(t) = self.transactions.remove(&id).filter(|t| !t.silent) {
                self.events.push_back(TransactionEvent {
                    transaction_id: id,
                    destination: t.destination,
                    user: t.user,
                    outcome: TransactionOutcome::TimedOut,
                });
            }
        }
    }

    /// The next datagram to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Transmit<'_, T>> {
        while let Some(id) = self.transmit_queue.pop_front() {
            // Ids of cancelled or finished transactions are stale and skipped.
            if let Some(t) = self.transactions.get_mut(&id) {
                if t.queued {
                    t.queued = false;
                    let t = &self.transactions[&id];
                    return Some(Transmit {
                        destination: t.destination,
                        payload: &t.request,
                        user: &t.user,
                    });
                }
            }
        }
        None
    }

    /// The next transaction that timed out.
    pub fn poll_event(&mut self) -> Option<TransactionEvent<T>> {
        self.events.pop_front()
    }

    /// When [`ClientTransactions::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.transactions.values().map(|t| t.deadline).min()
    }

    /// The number of outstanding transactions.
    pub fn len(&self) -> usize {
        self.transactions.len()
    }

    /// True when no transaction is outstanding.
    pub fn is_empty(&self) -> bool {
        self.transactions.is_empty()
    }

    /// The user data of an outstanding transaction.
    pub fn get(&self, transaction_id: TransactionId) -> Option<&T> {
        self.transactions.get(&transaction_id).map(|t| &t.user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::{ErrorCode, XorMappedAddress};
    use crate::header::MessageType;
    use crate::writer::MessageWriter;

    const SERVER: &str = "192.0.2.1:3478";

    fn server() -> SocketAddr {
        SERVER.parse().unwrap()
    }

    fn request(tid: u8) -> Vec<u8> {
        let mut buf = [0u8; 64];
        let w = MessageWriter::new(
            &mut buf,
            MessageType::BINDING_REQUEST,
            TransactionId::new([tid; 12]),
        )
        .unwrap();
        let len = w.finish();
        buf[..len].to_vec()
    }

    fn success(tid: u8) -> Vec<u8> {
        let mut buf = [0u8; 64];
        let mut w = MessageWriter::new(
            &mut buf,
            MessageType::BINDING_SUCCESS,
            TransactionId::new([tid; 12]),
        )
        .unwrap();
        w.add(&XorMappedAddress("203.0.113.5:4000".parse().unwrap()))
            .unwrap();
        let len = w.finish();
        buf[..len].to_vec()
    }

    /// Drives the transactions from `start` until they are idle, recording send times (in ms
    /// since `start`) and the time of the timeout.
    fn run(t: &mut ClientTransactions<u32>, start: Instant) -> (Vec<u128>, Option<u128>) {
        let mut sends = Vec::new();
        let mut timed_out = None;
        let mut now = start;
        loop {
            while let Some(tx) = t.poll_transmit() {
                assert_eq!(tx.destination, server());
                sends.push((now - start).as_millis());
            }
            if let Some(ev) = t.poll_event() {
                assert_eq!(ev.outcome, TransactionOutcome::TimedOut);
                assert_eq!(ev.user, 7);
                timed_out = Some((now - start).as_millis());
            }
            match t.poll_timeout() {
                Some(at) => {
                    assert!(at >= now, "deadline in the past");
                    now = at;
                    t.handle_timeout(now);
                }
                None => break,
            }
        }
        (sends, timed_out)
    }

    #[test]
    fn retransmits_follow_rfc8489_schedule() {
        let start = Instant::now();
        let mut t = ClientTransactions::new(TransactionConfig::default());
        t.start(start, server(), &request(1), false, 7).unwrap();
        let (sends, timed_out) = run(&mut t, start);
        assert_eq!(sends, [0, 500, 1500, 3500, 7500, 15500, 31500]);
        assert_eq!(timed_out, Some(39_500));
        assert!(t.is_empty());
    }

    #[test]
    fn configured_rto_scales_the_schedule() {
        let start = Instant::now();
        let mut t = ClientTransactions::new(TransactionConfig {
            max_transmissions: 3,
            last_wait_multiplier: 2,
            ..TransactionConfig::default()
        });
        t.set_initial_rto(Duration::from_millis(100));
        t.start(start, server(), &request(1), false, 7).unwrap();
        let (sends, timed_out) = run(&mut t, start);
        assert_eq!(sends, [0, 100, 300]);
        assert_eq!(timed_out, Some(500));
    }

    #[test]
    fn a_request_can_carry_its_own_rto() {
        let start = Instant::now();
        let mut t = ClientTransactions::new(TransactionConfig {
            max_transmissions: 3,
            last_wait_multiplier: 2,
            ..TransactionConfig::default()
        });
        t.start_with_rto(start, server(), &request(1), Duration::from_millis(40), 7)
            .unwrap();
        let (sends, timed_out) = run(&mut t, start);
        assert_eq!(sends, [0, 40, 120]);
        assert_eq!(timed_out, Some(200));
        // Others keep the configured RTO.
        assert_eq!(t.config().initial_rto, Duration::from_millis(500));
    }

    #[test]
    fn reliable_transport_sends_once_and_times_out_after_39_5s() {
        let start = Instant::now();
        let mut t = ClientTransactions::new(TransactionConfig::default());
        t.start(start, server(), &request(1), true, 7).unwrap();
        let (sends, timed_out) = run(&mut t, start);
        assert_eq!(sends, [0]);
        assert_eq!(timed_out, Some(39_500));
    }

    #[test]
    fn success_response_ends_the_transaction() {
        let start = Instant::now();
        let mut t = ClientTransactions::new(TransactionConfig::default());
        let id = t.start(start, server(), &request(1), false, 7u32).unwrap();
        assert_eq!(id, TransactionId::new([1; 12]));
        assert_eq!(t.poll_transmit().unwrap().payload, &request(1)[..]);
        let bytes = success(1);
        let msg = Message::decode(&bytes).unwrap();
        assert!(t.is_outstanding(id, server()));
        let ev = t.handle_response(server(), &msg).unwrap();
        assert_eq!(ev.user, 7);
        assert_eq!(ev.transaction_id, id);
        assert_eq!(ev.outcome, TransactionOutcome::Success);
        assert!(t.is_empty());
        assert_eq!(t.poll_timeout(), None);
        // A retransmitted response for the finished transaction matches nothing.
        assert!(t.handle_response(server(), &msg).is_none());
    }

    #[test]
    fn response_from_other_address_does_not_match() {
        let start = Instant::now();
        let mut t = ClientTransactions::new(TransactionConfig::default());
        let id = t.start(start, server(), &request(1), false, 7u32).unwrap();
        let other: SocketAddr = "192.0.2.1:3479".parse().unwrap();
        let bytes = success(1);
        let msg = Message::decode(&bytes).unwrap();
        assert!(!t.is_outstanding(id, other));
        assert!(t.handle_response(other, &msg).is_none());
        assert_eq!(t.len(), 1);
        assert!(t.handle_response(server(), &msg).is_some());
    }

    #[test]
    fn response_from_any_source_matches_on_transaction_id_alone() {
        let start = Instant::now();
        let mut t = ClientTransactions::new(TransactionConfig::default());
        t.start(start, server(), &request(1), false, 7u32).unwrap();
        let bytes = success(2);
        assert!(t
            .handle_response_from_any_source(&Message::decode(&bytes).unwrap())
            .is_none());
        let bytes = request(1);
        assert!(t
            .handle_response_from_any_source(&Message::decode(&bytes).unwrap())
            .is_none());
        let bytes = success(1);
        let ev = t
            .handle_response_from_any_source(&Message::decode(&bytes).unwrap())
            .unwrap();
        assert_eq!(ev.outcome, TransactionOutcome::Success);
        assert_eq!(ev.destination, server());
        assert!(t.is_empty());
    }

    #[test]
    fn unknown_transaction_id_and_non_responses_do_not_match() {
        let start = Instant::now();
        let mut t = ClientTransactions::new(TransactionConfig::default());
        t.start(start, server(), &request(1), false, 7u32).unwrap();
        let bytes = success(2);
        assert!(t
            .handle_response(server(), &Message::decode(&bytes).unwrap())
            .is_none());
        // The request itself, looped back, is not a response.
        let bytes = request(1);
        assert!(t
            .handle_response(server(), &Message::decode(&bytes).unwrap())
            .is_none());
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn error_response_reports_code_and_reason() {
        let start = Instant::now();
        let mut t = ClientTransactions::new(TransactionConfig::default());
        t.start(start, server(), &request(1), false, 7u32).unwrap();
        let mut buf = [0u8; 64];
        let mut w = MessageWriter::new(
            &mut buf,
            MessageType::BINDING_ERROR,
            TransactionId::new([1; 12]),
        )
        .unwrap();
        w.add(&ErrorCode::new(487, "Role Conflict")).unwrap();
        let len = w.finish();
        let ev = t
            .handle_response(server(), &Message::decode(&buf[..len]).unwrap())
            .unwrap();
        assert_eq!(
            ev.outcome,
            TransactionOutcome::Error {
                code: 487,
                reason: "Role Conflict".into()
            }
        );
    }

    #[test]
    fn error_response_without_error_code_is_discarded() {
        let start = Instant::now();
        let mut t = ClientTransactions::new(TransactionConfig::default());
        t.start(start, server(), &request(1), false, 7u32).unwrap();
        let mut buf = [0u8; 64];
        let w = MessageWriter::new(
            &mut buf,
            MessageType::BINDING_ERROR,
            TransactionId::new([1; 12]),
        )
        .unwrap();
        let len = w.finish();
        assert!(t
            .handle_response(server(), &Message::decode(&buf[..len]).unwrap())
            .is_none());
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn unknown_comprehension_required_attribute_fails_the_transaction() {
        let start = Instant::now();
        let mut t = ClientTransactions::new(TransactionConfig::default());
        t.start(start, server(), &request(1), false, 7u32).unwrap();
        let mut buf = [0u8; 64];
        let mut w = MessageWriter::new(
            &mut buf,
            MessageType::BINDING_SUCCESS,
            TransactionId::new([1; 12]),
        )
        .unwrap();
        w.add_raw(0x7f00, &[1, 2, 3, 4]).unwrap();
        let len = w.finish();
        let ev = t
            .handle_response(server(), &Message::decode(&buf[..len]).unwrap())
            .unwrap();
        assert_eq!(ev.outcome, TransactionOutcome::Failed);
    }

    #[test]
    fn duplicate_transaction_id_rejected() {
        let start = Instant::now();
        let mut t = ClientTransactions::new(TransactionConfig::default());
        t.start(start, server(), &request(1), false, 1u32).unwrap();
        assert_eq!(
            t.start(start, server(), &request(1), false, 2),
            Err(TransactionError::DuplicateId)
        );
        assert_eq!(t.get(TransactionId::new([1; 12])), Some(&1));
        // Once cancelled, the id is free again.
        assert_eq!(t.cancel(TransactionId::new([1; 12])), Some(1));
        t.start(start, server(), &request(1), false, 3).unwrap();
        assert_eq!(t.poll_transmit().map(|tx| tx.payload.len()), Some(20));
        assert!(t.poll_transmit().is_none());
    }

    #[test]
    fn capacity_limit() {
        let start = Instant::now();
        let mut t = ClientTransactions::new(TransactionConfig {
            max_outstanding: 2,
            ..TransactionConfig::default()
        });
        t.start(start, server(), &request(1), false, 1u32).unwrap();
        t.start(start, server(), &request(2), false, 2).unwrap();
        assert_eq!(
            t.start(start, server(), &request(3), false, 3),
            Err(TransactionError::Full)
        );
        t.cancel(TransactionId::new([1; 12]));
        t.start(start, server(), &request(3), false, 3).unwrap();
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn non_requests_are_refused() {
        let mut t = ClientTransactions::new(TransactionConfig::default());
        let now = Instant::now();
        assert_eq!(
            t.start(now, server(), &success(1), false, 1u32),
            Err(TransactionError::NotARequest)
        );
        assert_eq!(
            t.start(now, server(), &[0u8; 7], false, 1),
            Err(TransactionError::NotARequest)
        );
    }

    #[test]
    fn cancelled_transaction_neither_sends_nor_times_out() {
        let start = Instant::now();
        let mut t = ClientTransactions::new(TransactionConfig::default());
        t.start(start, server(), &request(1), false, 1u32).unwrap();
        t.cancel(TransactionId::new([1; 12]));
        assert!(t.poll_transmit().is_none());
        assert_eq!(t.poll_timeout(), None);
        t.handle_timeout(start + Duration::from_secs(60));
        assert!(t.poll_event().is_none());
    }

    #[test]
    fn late_wakeup_sends_one_retransmission() {
        let start = Instant::now();
        let mut t = ClientTransactions::new(TransactionConfig::default());
        t.start(start, server(), &request(1), false, 1u32).unwrap();
        let _ = t.poll_transmit().unwrap();
        // Woken up well after two RTOs: one retransmission, and the next one an RTO of
        // 1 s later.
        let late = start + Duration::from_millis(2000);
        t.handle_timeout(late);
        assert!(t.poll_transmit().is_some());
        assert!(t.poll_transmit().is_none());
        assert_eq!(t.poll_timeout(), Some(late + Duration::from_millis(1000)));
    }

    #[test]
    fn start_once_sends_once_and_times_out_after_its_timeout() {
        let start = Instant::now();
        let mut t = ClientTransactions::new(TransactionConfig::default());
        t.start_once(start, server(), &request(1), Duration::from_secs(2), 1u32)
            .unwrap();
        assert!(t.poll_transmit().is_some());
        t.handle_timeout(start + Duration::from_millis(1999));
        assert!(t.poll_transmit().is_none());
        assert!(t.poll_event().is_none());
        t.handle_timeout(start + Duration::from_secs(2));
        assert!(t.poll_transmit().is_none());
        assert_eq!(
            t.poll_event().map(|e| e.outcome),
            Some(TransactionOutcome::TimedOut)
        );
    }

    #[test]
    fn stopped_transaction_still_takes_its_response_but_never_resends_or_fails() {
        let start = Instant::now();
        let mut t = ClientTransactions::new(TransactionConfig::default());
        t.start(start, server(), &request(1), false, 1u32).unwrap();
        let _ = t.poll_transmit().unwrap();
        t.stop_retransmitting(start, TransactionId::new([1; 12]));
        t.handle_timeout(start + Duration::from_secs(1));
        assert!(t.poll_transmit().is_none());
        let ev = t
            .handle_response(server(), &Message::decode(&success(1)).unwrap())
            .unwrap();
        assert_eq!(ev.outcome, TransactionOutcome::Success);
        // Without a response it ends silently.
        t.start(start, server(), &request(2), false, 2u32).unwrap();
        t.stop_retransmitting(start, TransactionId::new([2; 12]));
        t.handle_timeout(start + Duration::from_secs(60));
        assert!(t.poll_event().is_none());
        assert!(t.is_empty());
    }

    #[test]
    fn a_stopped_request_not_yet_sent_is_still_sent_once() {
        // RFC 8445 §7.3.1.4 cancels retransmissions, not the first transmission the caller
        // already counts as sent.
        let start = Instant::now();
        let mut t = ClientTransactions::new(TransactionConfig::default());
        t.start(start, server(), &request(3), false, 3u32).unwrap();
        t.stop_retransmitting(start, TransactionId::new([3; 12]));
        assert!(
            t.poll_transmit().is_some(),
            "the first transmission goes out"
        );
        assert!(t.poll_transmit().is_none());
        t.handle_timeout(start + Duration::from_secs(5));
        assert!(t.poll_transmit().is_none(), "and nothing after it");
    }
}
