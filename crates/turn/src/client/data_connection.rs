//! The client side of an RFC 6062 data connection: a second TCP (or TLS) connection to the
//! server that a ConnectionBind request turns into a raw pipe to one peer (RFC 6062 §4.3,
//! §4.4).
//!
//! The driver opens the stream, writes [`DataConnection::poll_transmit`] to it and feeds what
//! it reads to [`DataConnection::handle_stream_data`]. Until the ConnectionBind success the
//! stream carries STUN; from the byte after it on, it carries the peer's bytes unframed, in
//! both directions: the driver then writes application data straight to the stream.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use floe_stun::attributes::{ConnectionId, ErrorCode, Nonce, Software};
use floe_stun::{Class, Message, MessageType, MessageWriter, Method, TransactionId};
use tracing::debug;

use super::auth::Auth;
use super::{Transmit, TurnError};
use crate::rng::Csprng;

/// Where a data connection stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum DataConnectionState {
    /// The ConnectionBind request is (to be) sent; no answer yet.
    Binding,
    /// The ConnectionBind succeeded: the stream now carries the peer's bytes.
    Bound,
    /// The ConnectionBind failed or timed out; the driver should close the stream.
    Failed,
}

/// What happened to a data connection.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum DataConnectionEvent {
    /// The ConnectionBind succeeded: bytes written to the stream reach the peer and bytes read
    /// from it came from the peer.
    Bound {
        /// The CONNECTION-ID bound.
        connection_id: u32,
        /// The peer at the other end.
        peer: SocketAddr,
    },
    /// The ConnectionBind failed (an error response, a response failing its integrity check,
    /// input that is not STUN, or no answer within Ti): close the stream.
    Failed(TurnError),
}

/// The most a STUN message on the data connection may take before the bind: the
/// ConnectionBind response is small, so a length beyond this is not a TURN server talking.
const MAX_MESSAGE: usize = 4096;

/// A ConnectionBind answers at most this many 438 Stale Nonce (RFC 8489 §9.2.5), as the
/// control connection's requests do.
const MAX_STALE_RETRIES: u8 = 3;

/// Room for the ConnectionBind request.
const REQUEST_CAPACITY: usize = 1024;

/// One RFC 6062 data connection, sans-IO. Made by
/// [`TurnClient::connection_bind`](super::TurnClient::connection_bind) with the allocation's
/// credentials.
///
/// Over a stream the ConnectionBind is sent once and fails if no answer comes within Ti
/// ([`ClientConfig::transactions`](super::ClientConfig::transactions)`.reliable_timeout`,
/// 39.5 s by default, RFC 8489 §6.2.2). It is signed with the allocation's credentials and
/// nonce (coturn accepts them on the new connection); a 438 Stale Nonce is answered with a new
/// ConnectionBind on the same stream, up to three times. A 401 means the credentials are wrong
/// and is not retried (RFC 8489 §9.2.5).
#[derive(Debug)]
pub struct DataConnection {
    connection_id: u32,
    peer: SocketAddr,
    server: SocketAddr,
    auth: Auth,
    software: Option<String>,
    rng: Csprng,
    ti: Duration,
    state: DataConnectionState,
    /// The transaction of the ConnectionBind in flight.
    tid: TransactionId,
    /// The nonce it was signed with: a 438 must bring another.
    nonce: Option<String>,
    stale_retries: u8,
    /// When the ConnectionBind in flight times out.
    deadline: Option<Instant>,
    /// The encoded request not yet polled, and the one last polled (what the transmit borrows).
    outgoing: Option<Vec<u8>>,
    polled: Vec<u8>,
    /// Bytes read before the bind completed; after it, what followed the response (peer data),
    /// handed out once.
    rx: Vec<u8>,
    events: VecDeque<DataConnectionEvent>,
}

impl DataConnection {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        now: Instant,
        connection_id: u32,
        peer: SocketAddr,
        server: SocketAddr,
        auth: Auth,
        software: Option<String>,
        ti: Duration,
        seed: [u8; 32],
    ) -> Self {
        let mut conn = Self {
            connection_id,
            peer,
            server,
            auth,
            software,
            rng: Csprng::new(seed),
            ti,
            state: DataConnectionState::Binding,
            tid: TransactionId::new([0; 12]),
            nonce: None,
            stale_retries: 0,
            deadline: None,
            outgoing: None,
            polled: Vec::new(),
            rx: Vec::new(),
            events: VecDeque::new(),
        };
        conn.send_bind(now);
        conn
    }

    /// CONNECTION-ID of the peer connection this binds.
    pub fn connection_id(&self) -> u32 {
        self.connection_id
    }

    /// The peer at the other end (XOR-PEER-ADDRESS of the Connect or ConnectionAttempt).
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Where it stands.
    pub fn state(&self) -> DataConnectionState {
        self.state
    }

    /// True once the stream carries the peer's bytes.
    pub fn is_bound(&self) -> bool {
        self.state == DataConnectionState::Bound
    }

    /// The ConnectionBind request to write to the new stream (and another after a 438), with
    /// the server's address to open that stream to.
    pub fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
        self.polled = self.outgoing.take()?;
        Some(Transmit {
            destination: self.server,
            payload: &self.polled,
        })
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<DataConnectionEvent> {
        self.events.pop_front()
    }

    /// When [`DataConnection::handle_timeout`] must next be called: Ti after the
    /// ConnectionBind, while it is unanswered.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// Fails the ConnectionBind with [`TurnError::Timeout`] once Ti has passed unanswered.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_some_and(|d| now >= d) {
            self.fail(TurnError::Timeout);
        }
    }

    /// Handles bytes read from the data connection; returns the peer's bytes among them. Before
    /// the bind completes they are STUN (buffered until the response is whole, at most 4 KiB);
    /// the bytes that follow the success response in the same read, and everything after, are
    /// the peer's, returned as they come (a slice of `bytes` once bound). After a failure
    /// everything is dropped.
    pub fn handle_stream_data<'a>(&'a mut self, now: Instant, bytes: &'a [u8]) -> &'a [u8] {
        match self.state {
            DataConnectionState::Bound => {
                // What followed the response was handed out by the last call.
                self.rx = Vec::new();
                bytes
            }
            DataConnectionState::Failed => &[],
            DataConnectionState::Binding => {
                self.rx.extend_from_slice(bytes);
                let consumed = self.read_messages(now);
                match self.state {
                    DataConnectionState::Bound => {
                        self.rx.drain(..consumed);
                        &self.rx
                    }
                    DataConnectionState::Binding => {
                        self.rx.drain(..consumed);
                        &[]
                    }
                    DataConnectionState::Failed => {
                        self.rx = Vec::new();
                        &[]
                    }
                }
            }
        }
    }

    /// Handles every whole STUN message at the front of `rx` until the bind ends; how many
    /// bytes they took.
    fn read_messages(&mut self, now: Instant) -> usize {
        let mut at = 0;
        while self.state == DataConnectionState::Binding {
            let rest = &self.rx[at..];
            // A STUN header (RFC 8489 §5): the top two bits 0, the magic cookie, a length that
            // is a multiple of 4. Checked as soon as the bytes are there, so a peer or a
            // middlebox talking something else fails the bind at once, not after Ti.
            let cookie_ok = rest.len() < 8 || rest[4..8] == [0x21, 0x12, 0xa4, 0x42];
            if rest.first().is_some_and(|b| b & 0xc0 != 0) || !cookie_ok {
                self.fail(TurnError::Failed);
                break;
            }
            if rest.len() < 20 {
                break;
            }
            let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
            if len % 4 != 0 || 20 + len > MAX_MESSAGE {
                self.fail(TurnError::Failed);
                break;
            }
            if rest.len() < 20 + len {
                break;
            }
            let message = rest[..20 + len].to_vec();
            at += 20 + len;
            self.handle_message(now, &message);
        }
        at
    }

    fn handle_message(&mut self, now: Instant, bytes: &[u8]) {
        let Ok(msg) = Message::decode(bytes) else {
            self.fail(TurnError::Failed);
            return;
        };
        // Anything but the answer to our ConnectionBind (a stray indication) is dropped.
        if msg.transaction_id() != self.tid
            || !matches!(msg.class(), Class::SuccessResponse | Class::ErrorResponse)
        {
            debug!(
                connection_id = self.connection_id,
                "unexpected message on a data connection"
            );
            return;
        }
        let code = match msg.class() {
            Class::ErrorResponse => {
                Some(msg.get::<ErrorCode>().ok().flatten().map_or(0, |e| e.code))
            }
            _ => None,
        };
        if msg.method() != Method::CONNECTION_BIND {
            self.fail(TurnError::Failed);
            return;
        }
        if !self.auth.accept_response(&msg, code) {
            // RFC 8489 §9.2.5: over a stream, a response failing its check ends the
            // transaction at once.
            self.fail(TurnError::Integrity);
            return;
        }
        let reason = msg
            .get::<ErrorCode>()
            .ok()
            .flatten()
            .map(|e| e.reason.to_owned())
            .unwrap_or_default();
        let fresh_nonce = msg
            .get::<Nonce>()
            .ok()
            .flatten()
            .is_some_and(|n| Some(n.0) != self.nonce.as_deref());
        match code {
            None => {
                self.deadline = None;
                self.state = DataConnectionState::Bound;
                self.events.push_back(DataConnectionEvent::Bound {
                    connection_id: self.connection_id,
                    peer: self.peer,
                });
            }
            // RFC 8489 §9.2.5: retry with the new nonce.
            Some(438) if fresh_nonce && self.stale_retries < MAX_STALE_RETRIES => {
                if self.auth.challenge(&msg).is_ok() {
                    self.stale_retries += 1;
                    self.send_bind(now);
                } else {
                    self.fail(TurnError::StaleNonce);
                }
            }
            Some(code) => self.fail(TurnError::from_code(code, &reason)),
        }
    }

    /// Encodes and queues a ConnectionBind with a new transaction id (RFC 6062 §4.3).
    fn send_bind(&mut self, now: Instant) {
        self.tid = self.rng.transaction_id();
        self.nonce = self.auth.nonce().map(str::to_owned);
        let mut buf = vec![0u8; REQUEST_CAPACITY];
        let ty = MessageType::new(Class::Request, Method::CONNECTION_BIND);
        let encoded = MessageWriter::new(&mut buf, ty, self.tid).and_then(|mut w| {
            if let Some(software) = &self.software {
                w.add(&Software(software))?;
            }
            w.add(&ConnectionId(self.connection_id))?;
            self.auth.sign(&mut w)?;
            Ok(w.finish())
        });
        match encoded {
            Ok(len) => {
                buf.truncate(len);
                self.outgoing = Some(buf);
                self.deadline = Some(now + self.ti);
            }
            // Only an absurdly long SOFTWARE or user name gets here.
            Err(_) => self.fail(TurnError::Failed),
        }
    }

    fn fail(&mut self, error: TurnError) {
        if self.state == DataConnectionState::Failed {
            return;
        }
        debug!(connection_id = self.connection_id, reason = %error, "ConnectionBind failed");
        self.state = DataConnectionState::Failed;
        self.deadline = None;
        self.outgoing = None;
        self.events.push_back(DataConnectionEvent::Failed(error));
    }
}
