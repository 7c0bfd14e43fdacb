//! NAT behaviour discovery (RFC 5780): a sans-IO client that tells the RFC 4787 mapping and
//! filtering behaviour of the NATs between it and an RFC 5780 STUN server, and whether they
//! hairpin.
//!
//! [`NatDiscovery`] owns no socket and reads no clock. The caller sends what
//! [`NatDiscovery::poll_transmit`] yields from one UDP socket, feeds every datagram that socket
//! receives to [`NatDiscovery::handle_datagram`], calls [`NatDiscovery::handle_timeout`] at
//! [`NatDiscovery::poll_timeout`], and stops when [`NatDiscovery::result`] is `Some`.
//! Retransmissions are those of the crate's [`ClientTransactions`] (RFC 8489 §6.2.1).
//!
//! # The tests, in the order they run
//!
//! 1. Test I (§4.3, §4.4): a Binding request to the server; learns the mapped address and the
//!    server's OTHER-ADDRESS. No answer: [`NatDiscoveryError::ServerUnreachable`]; no
//!    OTHER-ADDRESS: [`NatDiscoveryError::NoOtherAddress`].
//! 2. Filtering test II (§4.4): CHANGE-REQUEST asks for the answer from the alternate IP and
//!    port. An answer means endpoint-independent filtering.
//! 3. Filtering test III: without an answer to II, CHANGE-REQUEST asks for the alternate port
//!    only. An answer means address-dependent filtering, none address-and-port-dependent.
//! 4. Mapping test II (§4.3): a request to the alternate IP at the primary port. The same mapped
//!    address as test I means endpoint-independent mapping.
//! 5. Mapping test III: otherwise a request to the alternate IP and port. The same mapped
//!    address as mapping test II means address-dependent mapping, another one
//!    address-and-port-dependent.
//! 6. Hairpinning (§4.5): a Binding request to the mapped address; the NAT hairpins if the
//!    request comes back to the socket.
//!
//! The filtering tests run before mapping tests II and III although RFC 5780 describes them
//! after: they are "sensitive to prior state on the NAT" (§4.4), and the mapping tests talk to
//! the alternate IP, which would open an address-dependent filter to the very address filtering
//! test II's answer comes from, and show it as endpoint-independent.
//!
//! Every test waits for its answer at most [`NatDiscoveryConfig::test_timeout`], so discovery
//! behind an address-and-port-dependent filter, where two tests go unanswered by design, takes
//! twice that at least.
//!
//! ```
//! use std::time::Instant;
//! use floe_stun::nat_discovery::{NatDiscovery, NatDiscoveryConfig};
//!
//! let local = "192.0.2.7:50000".parse().unwrap();
//! let server = "198.51.100.1:3478".parse().unwrap();
//! let now = Instant::now();
//! let mut discovery = NatDiscovery::new(now, NatDiscoveryConfig::default(), local, server, [7; 32]);
//! let transmit = discovery.poll_transmit().unwrap(); // test I, to send from `local`
//! assert_eq!(transmit.destination, server);
//! // ... send it, then feed answers to `handle_datagram` and wake up at `poll_timeout` until
//! // `discovery.result()` is `Some`.
//! assert!(discovery.result().is_none());
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::attributes::{ChangeRequest, MappedAddress, OtherAddress, XorMappedAddress};
use crate::header::{Class, MessageType, TransactionId};
use crate::message::Message;
use crate::transaction::{
    ClientTransactions, TransactionConfig, TransactionError, TransactionOutcome, Transmit,
};
use crate::writer::MessageWriter;

/// How discovery runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NatDiscoveryConfig {
    /// Retransmission parameters of each test's Binding request (RFC 8489 §6.2.1).
    pub transactions: TransactionConfig,
    /// How long each test waits for its answer, retransmitting meanwhile; a test also ends when
    /// its transaction times out, if that comes first (39.5 s with the default
    /// [`TransactionConfig`]). An unanswered filtering or hairpinning test is a result, not a
    /// failure, so this bounds how long those take. Default 5 s.
    pub test_timeout: Duration,
    /// Whether to run the hairpinning test (RFC 5780 §4.5); without it
    /// [`NatBehaviour::hairpinning`] is [`Hairpinning::Unknown`]. Default true.
    pub hairpinning: bool,
}

impl Default for NatDiscoveryConfig {
    fn default() -> Self {
        Self {
            transactions: TransactionConfig::default(),
            test_timeout: Duration::from_secs(5),
            hairpinning: true,
        }
    }
}

/// An RFC 4787 §4.1 mapping behaviour: on what the NAT's choice of mapped address depends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MappingBehaviour {
    /// The same mapped address for every destination.
    EndpointIndependent,
    /// The same mapped address for every port of one destination IP address.
    AddressDependent,
    /// A mapped address per destination IP address and port.
    AddressAndPortDependent,
}

impl MappingBehaviour {
    /// The RFC 4787 name in lower case: `endpoint-independent`, `address-dependent` or
    /// `address-and-port-dependent`.
    pub fn as_str(self) -> &'static str {
        match self {
            MappingBehaviour::EndpointIndependent => "endpoint-independent",
            MappingBehaviour::AddressDependent => "address-dependent",
            MappingBehaviour::AddressAndPortDependent => "address-and-port-dependent",
        }
    }
}

impl fmt::Display for MappingBehaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An RFC 4787 §5 filtering behaviour: whom the NAT lets send to a mapped address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FilteringBehaviour {
    /// Anyone, once the mapping exists.
    EndpointIndependent,
    /// Any port of an IP address the client has sent to from that mapping.
    AddressDependent,
    /// Only the IP addresses and ports the client has sent to from that mapping.
    AddressAndPortDependent,
}

impl FilteringBehaviour {
    /// The RFC 4787 name in lower case: `endpoint-independent`, `address-dependent` or
    /// `address-and-port-dependent`.
    pub fn as_str(self) -> &'static str {
        match self {
            FilteringBehaviour::EndpointIndependent => "endpoint-independent",
            FilteringBehaviour::AddressDependent => "address-dependent",
            FilteringBehaviour::AddressAndPortDependent => "address-and-port-dependent",
        }
    }
}

impl fmt::Display for FilteringBehaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the NAT hairpins (RFC 4787 §6): forwards a packet sent to one of its mapped
/// addresses from inside back inside.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hairpinning {
    /// The request sent to the mapped address came back.
    Yes,
    /// It did not come back in time.
    No,
    /// The test was not run ([`NatDiscoveryConfig::hairpinning`] is off).
    Unknown,
}

/// What discovery found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NatBehaviour {
    /// The local address given to [`NatDiscovery::new`].
    pub local: SocketAddr,
    /// The server's primary address.
    pub server: SocketAddr,
    /// The mapped address of test I (XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS from an old server).
    pub mapped: SocketAddr,
    /// The server's alternate address, from OTHER-ADDRESS.
    pub other_address: SocketAddr,
    /// The mapped address of mapping test II.
    pub mapped_test_ii: SocketAddr,
    /// The mapped address of mapping test III; `None` when test II made it unnecessary.
    pub mapped_test_iii: Option<SocketAddr>,
    /// The mapping behaviour.
    pub mapping: MappingBehaviour,
    /// The filtering behaviour.
    pub filtering: FilteringBehaviour,
    /// Whether the NAT hairpins.
    pub hairpinning: Hairpinning,
}

impl NatBehaviour {
    /// True unless the mapped address is the local address: then no NAT translates between the
    /// client and the server (RFC 5780 §4.3).
    pub fn behind_nat(&self) -> bool {
        self.mapped != self.local
    }
}

/// One of the tests of RFC 5780 §4.3-§4.5.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NatTest {
    /// Test I, shared by the mapping and filtering tests: a plain request to the server.
    TestI,
    /// Filtering test II: answer from the alternate IP address and port.
    FilteringTestII,
    /// Filtering test III: answer from the alternate port.
    FilteringTestIII,
    /// Mapping test II: to the alternate IP address, primary port.
    MappingTestII,
    /// Mapping test III: to the alternate IP address and port.
    MappingTestIII,
    /// The hairpinning test: to the client's own mapped address.
    Hairpinning,
}

impl fmt::Display for NatTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NatTest::TestI => "test I",
            NatTest::FilteringTestII => "filtering test II",
            NatTest::FilteringTestIII => "filtering test III",
            NatTest::MappingTestII => "mapping test II",
            NatTest::MappingTestIII => "mapping test III",
            NatTest::Hairpinning => "the hairpinning test",
        })
    }
}

/// Why discovery failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NatDiscoveryError {
    /// Test I got no answer: the server is unreachable, or no STUN server listens there.
    ServerUnreachable {
        /// The server's address.
        server: SocketAddr,
    },
    /// The answer to test I had no OTHER-ADDRESS: the server does not support RFC 5780.
    NoOtherAddress {
        /// The server's address.
        server: SocketAddr,
    },
    /// OTHER-ADDRESS does not differ from the server's address in both IP address and port,
    /// in the same family, so the tests cannot tell behaviours apart (RFC 5780 §4.1).
    InvalidOtherAddress {
        /// The server's address.
        server: SocketAddr,
        /// What OTHER-ADDRESS said.
        other: SocketAddr,
    },
    /// A mapping test got no answer from the server's alternate address.
    NoResponse {
        /// The test.
        test: NatTest,
        /// Where its request went.
        destination: SocketAddr,
    },
    /// A test got an error response (RFC 8489 §6.3.4).
    ErrorResponse {
        /// The test.
        test: NatTest,
        /// Where its request went.
        destination: SocketAddr,
        /// ERROR-CODE's code.
        code: u16,
        /// ERROR-CODE's reason phrase.
        reason: Box<str>,
    },
    /// A success response without XOR-MAPPED-ADDRESS or MAPPED-ADDRESS.
    NoMappedAddress {
        /// The test.
        test: NatTest,
        /// Where its request went.
        destination: SocketAddr,
    },
    /// A response with comprehension-required attributes this crate does not know, which fails
    /// the transaction (RFC 8489 §6.3.3).
    UnknownAttributes {
        /// The test.
        test: NatTest,
        /// Where its request went.
        destination: SocketAddr,
    },
    /// A filtering test was answered from another address than CHANGE-REQUEST asked for: the
    /// server does not honour CHANGE-REQUEST (RFC 5780 §7.2), so filtering cannot be told.
    ChangeRequestIgnored {
        /// The test.
        test: NatTest,
        /// The server's address.
        server: SocketAddr,
        /// Where the answer came from.
        response_origin: SocketAddr,
        /// Where it should have come from.
        expected: SocketAddr,
    },
    /// A test's transaction could not be started (for example
    /// [`TransactionConfig::max_outstanding`] is 0).
    Transaction(TransactionError),
}

impl fmt::Display for NatDiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NatDiscoveryError::ServerUnreachable { server } => {
                write!(f, "no answer from {server} to test I")
            }
            NatDiscoveryError::NoOtherAddress { server } => write!(
                f,
                "{server} sent no OTHER-ADDRESS: it does not support RFC 5780"
            ),
            NatDiscoveryError::InvalidOtherAddress { server, other } => write!(
                f,
                "OTHER-ADDRESS {other} must differ from {server} in both address and port, \
                 in the same family"
            ),
            NatDiscoveryError::NoResponse { test, destination } => {
                write!(f, "no answer from {destination} to {test}")
            }
            NatDiscoveryError::ErrorResponse {
                test,
                destination,
                code,
                reason,
            } => write!(f, "{destination} answered {code} {reason} to {test}"),
            NatDiscoveryError::NoMappedAddress { test, destination } => {
                write!(f, "{destination} answered {test} without a mapped address")
            }
            NatDiscoveryError::UnknownAttributes { test, destination } => write!(
                f,
                "{destination} answered {test} with comprehension-required attributes \
                 this client does not know"
            ),
            NatDiscoveryError::ChangeRequestIgnored {
                test,
                server,
                response_origin,
                expected,
            } => write!(
                f,
                "{server} ignored CHANGE-REQUEST: answered {test} from {response_origin} \
                 instead of {expected}"
            ),
            NatDiscoveryError::Transaction(e) => write!(f, "cannot start a STUN transaction: {e}"),
        }
    }
}

impl std::error::Error for NatDiscoveryError {}

/// What test I learnt.
#[derive(Clone, Copy, Debug)]
struct TestI {
    mapped: SocketAddr,
    other: SocketAddr,
}

/// The test under way, with what the earlier ones found.
#[derive(Clone, Copy, Debug)]
enum Step {
    TestI,
    FilteringII(TestI),
    FilteringIII(TestI),
    MappingII(TestI, FilteringBehaviour),
    MappingIII(TestI, FilteringBehaviour, SocketAddr),
    /// Everything but hairpinning is known.
    Hairpinning(NatBehaviour),
    Done,
}

/// The transaction of the test under way.
#[derive(Clone, Copy, Debug)]
struct Current {
    id: TransactionId,
    /// When the test gives up; `None` if `now + test_timeout` does not fit in an `Instant`.
    deadline: Option<Instant>,
}

/// An RFC 5780 NAT behaviour discovery client over one UDP socket; see the module docs.
#[derive(Debug)]
pub struct NatDiscovery {
    config: NatDiscoveryConfig,
    local: SocketAddr,
    server: SocketAddr,
    /// Transaction ids come from here: they must not be predictable (RFC 8489 §6), since an
    /// answer from any source is accepted by id alone in the filtering tests.
    rng: StdRng,
    transactions: ClientTransactions<NatTest>,
    step: Step,
    current: Option<Current>,
    result: Option<Result<NatBehaviour, NatDiscoveryError>>,
}

impl NatDiscovery {
    /// Starts discovery against the RFC 5780 server at `server`, from the socket bound to
    /// `local`, and queues test I's request. `local` should be the address the socket actually
    /// sends from (not an unspecified one) so that [`NatBehaviour::behind_nat`] is meaningful.
    /// `seed` keys the CSPRNG that draws transaction ids; draw it from the OS.
    pub fn new(
        now: Instant,
        config: NatDiscoveryConfig,
        local: SocketAddr,
        server: SocketAddr,
        seed: [u8; 32],
    ) -> Self {
        let mut discovery = Self {
            config,
            local,
            server,
            rng: StdRng::from_seed(seed),
            transactions: ClientTransactions::new(config.transactions),
            step: Step::TestI,
            current: None,
            result: None,
        };
        discovery.begin(now, Step::TestI);
        discovery
    }

    /// The next request to send, from the socket bound to the local address.
    #[must_use = "every queued request must be sent"]
    pub fn poll_transmit(&mut self) -> Option<Transmit<'_, NatTest>> {
        self.transactions.poll_transmit()
    }

    /// When [`Self::handle_timeout`] must next be called; `None` once finished.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let current = self.current?;
        match (self.transactions.poll_timeout(), current.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Retransmits requests that are due, and ends the test under way if its time is up.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(current) = self.current else {
            return;
        };
        if current.deadline.is_some_and(|d| now >= d) {
            self.transactions.cancel(current.id);
            self.step_done(now, None);
            return;
        }
        self.transactions.handle_timeout(now);
        while let Some(event) = self.transactions.poll_event() {
            if event.transaction_id == current.id {
                self.step_done(now, None);
            }
        }
    }

    /// Handles a datagram that arrived from `from` on the socket. Returns true when it was an
    /// answer to the test under way, false when it is not for discovery (or came too late).
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) -> bool {
        let Some(current) = self.current else {
            return false;
        };
        let Ok(msg) = Message::decode(datagram) else {
            return false;
        };
        if msg.transaction_id() != current.id {
            return false;
        }
        let (test, destination) = match self.request_of(self.step) {
            Some((test, destination, _)) => (test, destination),
            None => return false,
        };
        if test == NatTest::Hairpinning {
            // RFC 5780 §4.5: the answer is the request itself, hairpinned back to the socket.
            if msg.class() != Class::Request {
                return false;
            }
            self.transactions.cancel(current.id);
            self.step_done(now, Some((from, &msg)));
            return true;
        }
        // With CHANGE-REQUEST the answer comes from another address than the request went to
        // on purpose; which one is checked in `step_done`.
        let event = match test {
            NatTest::FilteringTestII | NatTest::FilteringTestIII => {
                self.transactions.handle_response_from_any_source(&msg)
            }
            _ => self.transactions.handle_response(from, &msg),
        };
        let Some(event) = event else {
            return false;
        };
        match event.outcome {
            TransactionOutcome::Success => self.step_done(now, Some((from, &msg))),
            TransactionOutcome::Error { code, reason } => {
                self.fail(NatDiscoveryError::ErrorResponse {
                    test,
                    destination,
                    code,
                    reason,
                })
            }
            TransactionOutcome::Failed => {
                self.fail(NatDiscoveryError::UnknownAttributes { test, destination })
            }
            TransactionOutcome::TimedOut => self.step_done(now, None),
        }
        true
    }

    /// The outcome, once discovery has finished.
    pub fn result(&self) -> Option<&Result<NatBehaviour, NatDiscoveryError>> {
        self.result.as_ref()
    }

    /// True once [`Self::result`] is `Some`: nothing more to send or wait for.
    pub fn is_finished(&self) -> bool {
        self.result.is_some()
    }

    /// The test under way; `None` once finished.
    pub fn current_test(&self) -> Option<NatTest> {
        self.current?;
        self.request_of(self.step).map(|(test, _, _)| test)
    }

    /// The test a step runs: which one, where its request goes and its CHANGE-REQUEST.
    fn request_of(&self, step: Step) -> Option<(NatTest, SocketAddr, Option<ChangeRequest>)> {
        let change = |change_ip| {
            Some(ChangeRequest {
                change_ip,
                change_port: true,
            })
        };
        Some(match step {
            Step::TestI => (NatTest::TestI, self.server, None),
            Step::FilteringII(_) => (NatTest::FilteringTestII, self.server, change(true)),
            Step::FilteringIII(_) => (NatTest::FilteringTestIII, self.server, change(false)),
            Step::MappingII(t1, _) => (
                NatTest::MappingTestII,
                SocketAddr::new(t1.other.ip(), self.server.port()),
                None,
            ),
            Step::MappingIII(t1, _, _) => (NatTest::MappingTestIII, t1.other, None),
            Step::Hairpinning(b) => (NatTest::Hairpinning, b.mapped, None),
            Step::Done => return None,
        })
    }

    /// Moves on to `step` and sends its request.
    fn begin(&mut self, now: Instant, step: Step) {
        self.step = step;
        self.current = None;
        if let Step::Hairpinning(behaviour) = step {
            if !self.config.hairpinning {
                return self.finish(Ok(behaviour));
            }
        }
        let Some((test, destination, change)) = self.request_of(step) else {
            return;
        };
        let mut id = [0u8; 12];
        self.rng.fill_bytes(&mut id);
        let id = TransactionId::new(id);
        // 20-byte header, 8-byte CHANGE-REQUEST, 8-byte FINGERPRINT: nothing here can fail to
        // fit, and `ClientTransactions::start` refuses anything malformed anyway.
        let mut buf = [0u8; 64];
        let len = MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, id)
            .and_then(|mut w| {
                if let Some(change) = change {
                    w.add(&change)?;
                }
                w.add_fingerprint()?;
                Ok(w.finish())
            })
            .unwrap_or(0);
        match self
            .transactions
            .start(now, destination, &buf[..len], false, test)
        {
            Ok(id) => {
                self.current = Some(Current {
                    id,
                    deadline: now.checked_add(self.config.test_timeout),
                })
            }
            Err(e) => self.fail(NatDiscoveryError::Transaction(e)),
        }
    }

    /// Ends the test under way with its answer (the sender and the message), or `None` when
    /// none came in time, and starts the next one.
    fn step_done(&mut self, now: Instant, answer: Option<(SocketAddr, &Message<'_>)>) {
        let step = self.step;
        let Some((test, destination, _)) = self.request_of(step) else {
            return;
        };
        let server = self.server;
        let mapped = |msg: &Message<'_>| {
            mapped_address(msg).ok_or(NatDiscoveryError::NoMappedAddress { test, destination })
        };
        let next = match (step, answer) {
            (Step::TestI, None) => Err(NatDiscoveryError::ServerUnreachable { server }),
            (Step::TestI, Some((_, msg))) => mapped(msg).and_then(|mapped| {
                let other = msg
                    .get::<OtherAddress>()
                    .ok()
                    .flatten()
                    .ok_or(NatDiscoveryError::NoOtherAddress { server })?
                    .0;
                if other.ip() == server.ip()
                    || other.port() == server.port()
                    || other.is_ipv4() != server.is_ipv4()
                {
                    return Err(NatDiscoveryError::InvalidOtherAddress { server, other });
                }
                Ok(Step::FilteringII(TestI { mapped, other }))
            }),
            (Step::FilteringII(t1), Some((from, _))) => self
                .check_origin(test, from, t1.other)
                .map(|()| Step::MappingII(t1, FilteringBehaviour::EndpointIndependent)),
            (Step::FilteringII(t1), None) => Ok(Step::FilteringIII(t1)),
            (Step::FilteringIII(t1), Some((from, _))) => self
                .check_origin(test, from, SocketAddr::new(server.ip(), t1.other.port()))
                .map(|()| Step::MappingII(t1, FilteringBehaviour::AddressDependent)),
            (Step::FilteringIII(t1), None) => Ok(Step::MappingII(
                t1,
                FilteringBehaviour::AddressAndPortDependent,
            )),
            (Step::MappingII(..) | Step::MappingIII(..), None) => {
                Err(NatDiscoveryError::NoResponse { test, destination })
            }
            (Step::MappingII(t1, filtering), Some((_, msg))) => mapped(msg).map(|mapped_ii| {
                if mapped_ii == t1.mapped {
                    let mapping = MappingBehaviour::EndpointIndependent;
                    Step::Hairpinning(self.behaviour(t1, filtering, mapping, mapped_ii, None))
                } else {
                    Step::MappingIII(t1, filtering, mapped_ii)
                }
            }),
            (Step::MappingIII(t1, filtering, mapped_ii), Some((_, msg))) => {
                mapped(msg).map(|mapped_iii| {
                    let mapping = if mapped_iii == mapped_ii {
                        MappingBehaviour::AddressDependent
                    } else {
                        MappingBehaviour::AddressAndPortDependent
                    };
                    let b = self.behaviour(t1, filtering, mapping, mapped_ii, Some(mapped_iii));
                    Step::Hairpinning(b)
                })
            }
            (Step::Hairpinning(mut b), answer) => {
                b.hairpinning = if answer.is_some() {
                    Hairpinning::Yes
                } else {
                    Hairpinning::No
                };
                return self.finish(Ok(b));
            }
            (Step::Done, _) => return,
        };
        match next {
            Ok(step) => self.begin(now, step),
            Err(e) => self.fail(e),
        }
    }

    /// The result once mapping and filtering are known; hairpinning still unknown.
    fn behaviour(
        &self,
        t1: TestI,
        filtering: FilteringBehaviour,
        mapping: MappingBehaviour,
        mapped_test_ii: SocketAddr,
        mapped_test_iii: Option<SocketAddr>,
    ) -> NatBehaviour {
        NatBehaviour {
            local: self.local,
            server: self.server,
            mapped: t1.mapped,
            other_address: t1.other,
            mapped_test_ii,
            mapped_test_iii,
            mapping,
            filtering,
            hairpinning: Hairpinning::Unknown,
        }
    }

    /// A filtering test's answer must come from where CHANGE-REQUEST asked: a server that
    /// ignores it would make every NAT look endpoint-independent.
    fn check_origin(
        &self,
        test: NatTest,
        from: SocketAddr,
        expected: SocketAddr,
    ) -> Result<(), NatDiscoveryError> {
        if from == expected {
            Ok(())
        } else {
            Err(NatDiscoveryError::ChangeRequestIgnored {
                test,
                server: self.server,
                response_origin: from,
                expected,
            })
        }
    }

    fn fail(&mut self, e: NatDiscoveryError) {
        self.finish(Err(e));
    }

    /// Records the outcome and abandons whatever is outstanding.
    fn finish(&mut self, result: Result<NatBehaviour, NatDiscoveryError>) {
        if let Some(current) = self.current.take() {
            self.transactions.cancel(current.id);
        }
        self.step = Step::Done;
        self.result = Some(result);
    }
}

/// XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS from a server that predates RFC 5389.
fn mapped_address(msg: &Message<'_>) -> Option<SocketAddr> {
    msg.get::<XorMappedAddress>()
        .ok()
        .flatten()
        .map(|a| a.0)
        .or_else(|| msg.get::<MappedAddress>().ok().flatten().map(|a| a.0))
}
