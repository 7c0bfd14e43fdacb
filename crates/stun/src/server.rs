//! A sans-IO STUN Binding server (RFC 8489 §6.3), with NAT behaviour discovery (RFC 5780).
//!
//! [`BindingServer`] owns no socket. The driver binds [`BindingServer::local_addresses`], hands
//! every datagram to [`BindingServer::handle`] with the local address it arrived on, and sends
//! the reply it gets back from the [`Reply::source`] address it names. The server keeps no
//! per-client state: Binding is idempotent, so a retransmitted request is simply answered again
//! (RFC 8489 §6.3.1).
//!
//! # What is dropped and what is answered
//!
//! - Not STUN, malformed headers or attribute lists, indications (Binding indications are
//!   keepalives, RFC 8445 §11), success and error responses, and requests whose FINGERPRINT does
//!   not verify: dropped silently.
//! - Requests for methods other than Binding: 400 Bad Request.
//! - Comprehension-required attributes this crate does not know: 420 with UNKNOWN-ATTRIBUTES
//!   (RFC 8489 §6.3.1.1). CHANGE-REQUEST and RESPONSE-PORT count as unknown when no alternate
//!   address is configured (RFC 5780 §6.1: a server without one does not support them).
//! - CHANGE-REQUEST or RESPONSE-PORT that cannot be read, RESPONSE-PORT 0, or RESPONSE-PORT
//!   together with PADDING (RFC 5780 §7.5): 400 Bad Request.
//! - MESSAGE-INTEGRITY and USERNAME are ignored: this server authenticates nobody.
//!
//! # Amplification
//!
//! A 400 is never longer than the bad request that caused it: the reason phrase is left out
//! when it does not fit, and a 400 that does not fit even so is not sent. Other replies carry
//! what the request needs (XOR-MAPPED-ADDRESS; RESPONSE-ORIGIN and OTHER-ADDRESS on an RFC 5780
//! server; a 420's UNKNOWN-ATTRIBUTES; FINGERPRINT if the request had one), so they may exceed
//! the request by that much and no more: at most `max(request length,
//! `[`MAX_REQUIRED_REPLY`]`)`. SOFTWARE and reason phrases are added only when the reply stays
//! within the request's length. A bare 20-byte
//! Binding request gets 32 bytes (IPv4), never 128. PADDING (RFC 5780 §7.6) is accepted but
//! never echoed; RESPONSE-PORT only redirects to another port of the requester's own IP address
//! (RFC 5780 §7.5), never to a third party. RESPONSE-PORT is meant for UDP; the driver should
//! not offer this server's RFC 5780 addresses over TCP.

use std::fmt;
use std::net::SocketAddr;

use crate::attribute::types;
use crate::attributes::{
    ChangeRequest, ErrorCode, List, OtherAddress, ResponseOrigin, ResponsePort, Software,
    UnknownAttributes, XorMappedAddress,
};
use crate::header::{Class, Method};
use crate::message::Message;
use crate::writer::MessageWriter;

/// The most attribute types a 420 response lists; more unknown ones are left out.
pub const MAX_UNKNOWN_ATTRIBUTES: usize = 16;

/// The longest reply with only what a request needs: an RFC 5780 answer over IPv6 with
/// FINGERPRINT (20-byte header, three 24-byte addresses, 8-byte FINGERPRINT); a 420 listing
/// [`MAX_UNKNOWN_ATTRIBUTES`] types is 72 bytes. A reply is at most `max(request length,
/// MAX_REQUIRED_REPLY)` long, a 400 at most the request's length (see the module docs).
pub const MAX_REQUIRED_REPLY: usize = 100;

/// FINGERPRINT's size on the wire: header and 4-byte value.
const FINGERPRINT_LEN: usize = 8;

/// How the server is set up.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BindingServerConfig {
    /// SOFTWARE to put in replies when room allows (RFC 8489 §14.14); `None` leaves it out.
    pub software: Option<String>,
    /// The server's main transport address.
    pub primary: SocketAddr,
    /// For RFC 5780: the second address, with an IP and a port both different from `primary`'s.
    /// The driver then also binds the two mixed combinations (see
    /// [`BindingServer::local_addresses`]).
    pub alternate: Option<SocketAddr>,
}

/// Why a [`BindingServerConfig`] was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ServerConfigError {
    /// The alternate address has the primary's IP; RFC 5780 §4.1 needs two IPs.
    AlternateSameIp,
    /// The alternate address has the primary's port; RFC 5780 §4.1 needs two ports.
    AlternateSamePort,
    /// The alternate address is not of the primary's address family.
    FamilyMismatch,
    /// SOFTWARE is longer than the attribute allows (RFC 8489 §14.14).
    SoftwareTooLong,
}

impl fmt::Display for ServerConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServerConfigError::AlternateSameIp => "alternate address must differ in IP",
            ServerConfigError::AlternateSamePort => "alternate address must differ in port",
            ServerConfigError::FamilyMismatch => "alternate address must be of the same family",
            ServerConfigError::SoftwareTooLong => "SOFTWARE is too long",
        })
    }
}

impl std::error::Error for ServerConfigError {}

/// A reply written into the caller's buffer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Reply {
    /// The local address to send from: the one the request arrived on, or another of
    /// [`BindingServer::local_addresses`] when CHANGE-REQUEST asked for it.
    pub source: SocketAddr,
    /// Where to send it: the client, or its IP at RESPONSE-PORT's port.
    pub destination: SocketAddr,
    /// The reply is `out[..len]`.
    pub len: usize,
}

/// Answers Binding requests; see the module documentation.
#[derive(Clone, Debug)]
pub struct BindingServer {
    software: Option<Box<str>>,
    primary: SocketAddr,
    alternate: Option<SocketAddr>,
}

/// What a request asked for, once checked.
struct Plan {
    source: SocketAddr,
    destination: SocketAddr,
    /// The address OTHER-ADDRESS names, when RFC 5780 applies.
    other: Option<SocketAddr>,
}

/// An error reply to write.
#[derive(Clone, Copy)]
enum Refusal {
    BadRequest,
    UnknownAttributes([u16; MAX_UNKNOWN_ATTRIBUTES], usize),
}

impl BindingServer {
    /// A server for `config`.
    pub fn new(config: BindingServerConfig) -> Result<Self, ServerConfigError> {
        if let Some(alt) = config.alternate {
            if alt.is_ipv4() != config.primary.is_ipv4() {
                return Err(ServerConfigError::FamilyMismatch);
            }
            if alt.ip() == config.primary.ip() {
                return Err(ServerConfigError::AlternateSameIp);
            }
            if alt.port() == config.primary.port() {
                return Err(ServerConfigError::AlternateSamePort);
            }
        }
        if let Some(software) = &config.software {
            if software.len() > Software::MAX_BYTES {
                return Err(ServerConfigError::SoftwareTooLong);
            }
        }
        Ok(Self {
            software: config.software.map(String::into_boxed_str),
            primary: config.primary,
            alternate: config.alternate,
        })
    }

    /// The addresses the driver must bind and feed to [`BindingServer::handle`]: the primary
    /// alone, or with an alternate the four IP/port combinations (RFC 5780 §4.1), in the order
    /// primary, (primary IP, alternate port), (alternate IP, primary port), alternate.
    pub fn local_addresses(&self) -> Vec<SocketAddr> {
        let p = self.primary;
        match self.alternate {
            None => vec![p],
            Some(a) => vec![
                p,
                SocketAddr::new(p.ip(), a.port()),
                SocketAddr::new(a.ip(), p.port()),
                a,
            ],
        }
    }

    /// Handles one datagram from `from` that arrived on the local address `local`, writing the
    /// reply into `out`. Returns `None` when the datagram is to be dropped silently, including
    /// when `out` is too small. Never panics.
    pub fn handle(
        &self,
        local: SocketAddr,
        from: SocketAddr,
        packet: &[u8],
        out: &mut [u8],
    ) -> Option<Reply> {
        let request = Message::decode(packet).ok()?;
        if request.class() != Class::Request {
            return None;
        }
        // RFC 8489 §7.3 / §14.7: a FINGERPRINT that does not match means this is not STUN.
        if request.has_fingerprint() && request.verify_fingerprint().is_err() {
            return None;
        }
        let room = packet.len();
        match self.plan(local, from, &request) {
            Ok(plan) => {
                let out_len = out.len().min(room.max(MAX_REQUIRED_REPLY));
                let len = self.write_success(&request, from, &plan, &mut out[..out_len], room)?;
                Some(Reply {
                    source: plan.source,
                    destination: plan.destination,
                    len,
                })
            }
            Err(refusal) => {
                let len = self.write_error(&request, refusal, out, room)?;
                Some(Reply {
                    source: local,
                    destination: from,
                    len,
                })
            }
        }
    }

    /// Checks the request and decides where the reply goes.
    fn plan(
        &self,
        local: SocketAddr,
        from: SocketAddr,
        request: &Message<'_>,
    ) -> Result<Plan, Refusal> {
        if request.method() != Method::BINDING {
            return Err(Refusal::BadRequest);
        }
        // RESPONSE-ORIGIN and friends only make sense on an address this server knows the
        // siblings of; anywhere else it behaves as a plain RFC 8489 server.
        let rfc5780 = self.other_of(local, true, true).is_some();
        let mut unknown = [0u16; MAX_UNKNOWN_ATTRIBUTES];
        let mut count = 0;
        let unsupported = request.attributes().map(|a| a.attr_type).filter(|&t| {
            (types::is_comprehension_required(t) && !types::is_known(t))
                || (!rfc5780 && (t == types::CHANGE_REQUEST || t == types::RESPONSE_PORT))
        });
        for t in unsupported {
            if count < MAX_UNKNOWN_ATTRIBUTES && !unknown[..count].contains(&t) {
                unknown[count] = t;
                count += 1;
            }
        }
        if count > 0 {
            // RFC 8489 §6.3.1.1: MUST answer 420 listing the unknown attributes.
            return Err(Refusal::UnknownAttributes(unknown, count));
        }
        let change = request
            .get::<ChangeRequest>()
            .map_err(|_| Refusal::BadRequest)?
            .unwrap_or_default();
        let response_port = request
            .get::<ResponsePort>()
            .map_err(|_| Refusal::BadRequest)?;
        let source = if rfc5780 {
            self.other_of(local, change.change_ip, change.change_port)
                .ok_or(Refusal::BadRequest)?
        } else {
            local
        };
        let destination = match response_port {
            Some(ResponsePort(0)) => return Err(Refusal::BadRequest),
            // RFC 5780 §7.5: PADDING with RESPONSE-PORT would aim a large reply at another port.
            Some(_) if request.has(types::PADDING) => return Err(Refusal::BadRequest),
            // RFC 5780 §7.5: to the request's source IP, at the port asked for.
            Some(ResponsePort(port)) => SocketAddr::new(from.ip(), port),
            None => from,
        };
        Ok(Plan {
            source,
            destination,
            other: if rfc5780 {
                self.other_of(local, true, true)
            } else {
                None
            },
        })
    }

    /// `local` with its IP and/or port swapped for the sibling ones; `None` when `local` is not
    /// one of [`BindingServer::local_addresses`] or no alternate is configured.
    fn other_of(
        &self,
        local: SocketAddr,
        change_ip: bool,
        change_port: bool,
    ) -> Option<SocketAddr> {
        let alt = self.alternate?;
        let primary = self.primary;
        let on_primary_ip = pick(local.ip(), primary.ip(), alt.ip())?;
        let on_primary_port = pick(local.port(), primary.port(), alt.port())?;
        let ip = if on_primary_ip != change_ip {
            primary.ip()
        } else {
            alt.ip()
        };
        let port = if on_primary_port != change_port {
            primary.port()
        } else {
            alt.port()
        };
        Some(SocketAddr::new(ip, port))
    }

    /// Writes the success response: XOR-MAPPED-ADDRESS, RFC 5780 addresses, SOFTWARE if the
    /// reply stays within `room` bytes, FINGERPRINT if the request had one.
    fn write_success(
        &self,
        request: &Message<'_>,
        from: SocketAddr,
        plan: &Plan,
        out: &mut [u8],
        room: usize,
    ) -> Option<usize> {
        let mut w = self.writer(request, out, true)?;
        w.add(&XorMappedAddress(from)).ok()?;
        if let Some(other) = plan.other {
            w.add(&ResponseOrigin(plan.source)).ok()?;
            w.add(&OtherAddress(other)).ok()?;
        }
        self.finish(request, w, room)
    }

    /// Writes a 400 or 420 error response: with its reason phrase if the reply stays within
    /// `room` (the request's length), else without. A 400 answers bad input, so one that does
    /// not fit even so is dropped; a 420 may exceed the request by the list of attributes it
    /// has to name (RFC 8489 §6.3.1.1), which the request itself carried.
    fn write_error(
        &self,
        request: &Message<'_>,
        refusal: Refusal,
        out: &mut [u8],
        room: usize,
    ) -> Option<usize> {
        let (code, reason, required) = match refusal {
            Refusal::BadRequest => (ErrorCode::BAD_REQUEST, "Bad Request", room),
            Refusal::UnknownAttributes(..) => (
                ErrorCode::UNKNOWN_ATTRIBUTE,
                "Unknown Attribute",
                room.max(MAX_REQUIRED_REPLY),
            ),
        };
        let mut write = |reason: &str, limit: usize| -> Option<usize> {
            let limit = limit.min(out.len());
            let mut w = self.writer(request, &mut out[..limit], false)?;
            w.add(&ErrorCode::new(code, reason)).ok()?;
            if let Refusal::UnknownAttributes(list, count) = refusal {
                w.add(&UnknownAttributes(List::Items(&list[..count])))
                    .ok()?;
            }
            self.finish(request, w, room)
        };
        write(reason, room).or_else(|| write("", required))
    }

    fn writer<'b>(
        &self,
        request: &Message<'_>,
        out: &'b mut [u8],
        success: bool,
    ) -> Option<MessageWriter<'b>> {
        let message_type = request.message_type().response(success);
        MessageWriter::new(out, message_type, request.transaction_id()).ok()
    }

    /// Adds SOFTWARE when the reply stays within `room` bytes, then FINGERPRINT when the
    /// request carried one.
    fn finish(
        &self,
        request: &Message<'_>,
        mut w: MessageWriter<'_>,
        room: usize,
    ) -> Option<usize> {
        let fingerprint = request.has_fingerprint();
        if let Some(software) = self.software.as_deref() {
            let trailer = if fingerprint { FINGERPRINT_LEN } else { 0 };
            let with_software = w.len() + 4 + software.len().div_ceil(4) * 4 + trailer;
            if with_software <= room {
                w.add(&Software(software)).ok()?;
            }
        }
        if fingerprint {
            w.add_fingerprint().ok()?;
        }
        Some(w.finish())
    }
}

/// `Some(true)` when `value` is `primary`, `Some(false)` when it is `alternate`.
fn pick<V: PartialEq>(value: V, primary: V, alternate: V) -> Option<bool> {
    if value == primary {
        Some(true)
    } else if value == alternate {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::{Padding, Username};
    use crate::header::{MessageType, TransactionId};
    use crate::transaction::{ClientTransactions, TransactionConfig, TransactionOutcome};
    use std::time::Instant;

    const PRIMARY: &str = "198.51.100.1:3478";
    const ALTERNATE: &str = "198.51.100.2:3479";
    const CLIENT: &str = "203.0.113.9:50000";

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn plain() -> BindingServer {
        BindingServer::new(BindingServerConfig {
            software: Some("floe test".into()),
            primary: addr(PRIMARY),
            alternate: None,
        })
        .unwrap()
    }

    fn rfc5780() -> BindingServer {
        BindingServer::new(BindingServerConfig {
            software: None,
            primary: addr(PRIMARY),
            alternate: Some(addr(ALTERNATE)),
        })
        .unwrap()
    }

    /// Builds a Binding request with the given extra attributes (written by `f`).
    fn request_with(
        tid: u8,
        message_type: MessageType,
        fingerprint: bool,
        f: impl FnOnce(&mut MessageWriter<'_>),
    ) -> Vec<u8> {
        let mut buf = [0u8; 1024];
        let mut w =
            MessageWriter::new(&mut buf, message_type, TransactionId::new([tid; 12])).unwrap();
        f(&mut w);
        if fingerprint {
            w.add_fingerprint().unwrap();
        }
        let len = w.finish();
        buf[..len].to_vec()
    }

    fn binding(fingerprint: bool, f: impl FnOnce(&mut MessageWriter<'_>)) -> Vec<u8> {
        request_with(9, MessageType::BINDING_REQUEST, fingerprint, f)
    }

    fn handle(server: &BindingServer, local: &str, request: &[u8]) -> Option<(Reply, Vec<u8>)> {
        let mut out = [0u8; 1500];
        let reply = server.handle(addr(local), addr(CLIENT), request, &mut out)?;
        Some((reply, out[..reply.len].to_vec()))
    }

    #[test]
    fn success_response_carries_xor_mapped_address_for_ipv4_and_ipv6() {
        for (local, client) in [
            (PRIMARY, CLIENT),
            ("[2001:db8::1]:3478", "[2001:db8::77]:61000"),
        ] {
            let server = BindingServer::new(BindingServerConfig {
                software: None,
                primary: addr(local),
                alternate: None,
            })
            .unwrap();
            let request = binding(false, |_| {});
            let mut out = [0u8; 512];
            let reply = server
                .handle(addr(local), addr(client), &request, &mut out)
                .unwrap();
            assert_eq!(reply.source, addr(local));
            assert_eq!(reply.destination, addr(client));
            let msg = Message::decode(&out[..reply.len]).unwrap();
            assert_eq!(msg.message_type(), MessageType::BINDING_SUCCESS);
            assert_eq!(msg.transaction_id(), TransactionId::new([9; 12]));
            assert_eq!(
                msg.get::<XorMappedAddress>().unwrap(),
                Some(XorMappedAddress(addr(client)))
            );
            assert!(!msg.has(types::RESPONSE_ORIGIN));
            assert!(!msg.has(types::OTHER_ADDRESS));
        }
    }

    #[test]
    fn fingerprint_present_iff_requested_and_valid() {
        let server = plain();
        let (_, without) = handle(&server, PRIMARY, &binding(false, |_| {})).unwrap();
        assert!(!Message::decode(&without).unwrap().has_fingerprint());
        let (_, with) = handle(&server, PRIMARY, &binding(true, |_| {})).unwrap();
        let msg = Message::decode(&with).unwrap();
        msg.verify_fingerprint().unwrap();
    }

    #[test]
    fn bad_fingerprint_is_dropped() {
        let mut request = binding(true, |_| {});
        let last = request.len() - 1;
        request[last] ^= 1;
        assert!(handle(&plain(), PRIMARY, &request).is_none());
    }

    #[test]
    fn software_included_only_within_the_amplification_bound() {
        let server = plain();
        // A bare request gets only what it needs: XOR-MAPPED-ADDRESS and FINGERPRINT.
        let bare = binding(true, |_| {});
        let (_, reply) = handle(&server, PRIMARY, &bare).unwrap();
        assert_eq!(reply.len(), bare.len() + 12);
        assert!(!Message::decode(&reply).unwrap().has(types::SOFTWARE));
        let padded = binding(true, |w| w.add(&Padding(&[0; 32])).unwrap());
        let (_, reply) = handle(&server, PRIMARY, &padded).unwrap();
        let msg = Message::decode(&reply).unwrap();
        assert_eq!(msg.get::<Software>().unwrap(), Some(Software("floe test")));
        assert!(reply.len() <= padded.len());

        let long = "x".repeat(200);
        let server = BindingServer::new(BindingServerConfig {
            software: Some(long.clone()),
            primary: addr(PRIMARY),
            alternate: None,
        })
        .unwrap();
        let small = binding(true, |_| {});
        let (_, reply) = handle(&server, PRIMARY, &small).unwrap();
        assert!(reply.len() <= small.len().max(MAX_REQUIRED_REPLY));
        assert!(!Message::decode(&reply).unwrap().has(types::SOFTWARE));
        // A request as large as the reply would be earns the SOFTWARE.
        let name = "y".repeat(240);
        let big = binding(true, |w| w.add(&Username(&name)).unwrap());
        let (_, reply) = handle(&server, PRIMARY, &big).unwrap();
        assert!(reply.len() <= big.len());
        assert!(Message::decode(&reply).unwrap().has(types::SOFTWARE));
    }

    #[test]
    fn change_request_answers_from_alternate_ip_and_port() {
        let server = rfc5780();
        let cases = [
            (false, false, PRIMARY),
            (true, false, "198.51.100.2:3478"),
            (false, true, "198.51.100.1:3479"),
            (true, true, ALTERNATE),
        ];
        for (change_ip, change_port, expected) in cases {
            let request = binding(false, |w| {
                w.add(&ChangeRequest {
                    change_ip,
                    change_port,
                })
                .unwrap()
            });
            let (reply, bytes) = handle(&server, PRIMARY, &request).unwrap();
            assert_eq!(reply.source, addr(expected));
            assert_eq!(reply.destination, addr(CLIENT));
            let msg = Message::decode(&bytes).unwrap();
            assert_eq!(msg.class(), Class::SuccessResponse);
            assert_eq!(
                msg.get::<ResponseOrigin>().unwrap(),
                Some(ResponseOrigin(addr(expected)))
            );
        }
        // Changing from the alternate address leads back to the primary.
        let request = binding(false, |w| {
            w.add(&ChangeRequest {
                change_ip: true,
                change_port: true,
            })
            .unwrap()
        });
        let (reply, _) = handle(&server, ALTERNATE, &request).unwrap();
        assert_eq!(reply.source, addr(PRIMARY));
        let (reply, _) = handle(&server, "198.51.100.2:3478", &request).unwrap();
        assert_eq!(reply.source, addr("198.51.100.1:3479"));
    }

    #[test]
    fn response_port_redirects_reply() {
        let server = rfc5780();
        let request = binding(false, |w| w.add(&ResponsePort(40000)).unwrap());
        let (reply, bytes) = handle(&server, PRIMARY, &request).unwrap();
        assert_eq!(reply.destination, addr("203.0.113.9:40000"));
        assert_eq!(reply.source, addr(PRIMARY));
        let msg = Message::decode(&bytes).unwrap();
        // XOR-MAPPED-ADDRESS still names where the request came from.
        assert_eq!(
            msg.get::<XorMappedAddress>().unwrap(),
            Some(XorMappedAddress(addr(CLIENT)))
        );
        let zero = binding(false, |w| w.add(&ResponsePort(0)).unwrap());
        let (reply, bytes) = handle(&server, PRIMARY, &zero).unwrap();
        assert_eq!(reply.destination, addr(CLIENT));
        assert_eq!(error_code(&bytes), 400);
    }

    #[test]
    fn response_port_with_padding_gets_400_at_the_source() {
        let server = rfc5780();
        let request = binding(false, |w| {
            w.add(&ResponsePort(40000)).unwrap();
            w.add(&Padding(&[0; 64])).unwrap();
        });
        let (reply, bytes) = handle(&server, PRIMARY, &request).unwrap();
        assert_eq!(reply.destination, addr(CLIENT));
        assert_eq!(error_code(&bytes), 400);
        assert!(bytes.len() <= request.len());
    }

    #[test]
    fn other_address_and_response_origin_present_with_alternate() {
        let server = rfc5780();
        assert_eq!(
            server.local_addresses(),
            [
                addr(PRIMARY),
                addr("198.51.100.1:3479"),
                addr("198.51.100.2:3478"),
                addr(ALTERNATE)
            ]
        );
        let (_, bytes) = handle(&server, PRIMARY, &binding(false, |_| {})).unwrap();
        let msg = Message::decode(&bytes).unwrap();
        assert_eq!(
            msg.get::<ResponseOrigin>().unwrap(),
            Some(ResponseOrigin(addr(PRIMARY)))
        );
        assert_eq!(
            msg.get::<OtherAddress>().unwrap(),
            Some(OtherAddress(addr(ALTERNATE)))
        );
        let (_, bytes) = handle(&server, ALTERNATE, &binding(false, |_| {})).unwrap();
        let msg = Message::decode(&bytes).unwrap();
        assert_eq!(
            msg.get::<OtherAddress>().unwrap(),
            Some(OtherAddress(addr(PRIMARY)))
        );
    }

    fn error_code(bytes: &[u8]) -> u16 {
        let msg = Message::decode(bytes).unwrap();
        assert_eq!(msg.class(), Class::ErrorResponse);
        msg.get::<ErrorCode>().unwrap().unwrap().code
    }

    fn unknown_list(bytes: &[u8]) -> Vec<u16> {
        let msg = Message::decode(bytes).unwrap();
        msg.get::<UnknownAttributes>()
            .unwrap()
            .unwrap()
            .iter()
            .collect()
    }

    #[test]
    fn unknown_comprehension_required_attribute_gets_420_with_unknown_attributes() {
        let request = binding(true, |w| {
            w.add_raw(0x7f01, &[0; 4]).unwrap();
            w.add_raw(0xff01, &[0; 4]).unwrap(); // comprehension-optional: ignored
            w.add_raw(0x7f02, &[]).unwrap();
            w.add_raw(0x7f01, &[0; 8]).unwrap();
        });
        let (reply, bytes) = handle(&plain(), PRIMARY, &request).unwrap();
        assert_eq!(reply.destination, addr(CLIENT));
        assert_eq!(error_code(&bytes), 420);
        assert_eq!(unknown_list(&bytes), [0x7f01, 0x7f02]);
        let msg = Message::decode(&bytes).unwrap();
        assert_eq!(msg.transaction_id(), TransactionId::new([9; 12]));
        msg.verify_fingerprint().unwrap();
    }

    /// The smallest request with an unknown attribute still gets its 420 (RFC 8489 §6.3.1.1),
    /// without a reason phrase: 12 bytes more than the request, the list it must name.
    #[test]
    fn a_short_request_with_an_unknown_attribute_gets_a_420_without_reason() {
        let request = binding(true, |w| w.add_raw(0x7f01, &[]).unwrap());
        let (_, bytes) = handle(&plain(), PRIMARY, &request).unwrap();
        assert_eq!(error_code(&bytes), 420);
        assert_eq!(unknown_list(&bytes), [0x7f01]);
        let msg = Message::decode(&bytes).unwrap();
        assert_eq!(msg.get::<ErrorCode>().unwrap().unwrap().reason, "");
        assert_eq!(bytes.len(), request.len() + 12);
    }

    #[test]
    fn rfc5780_attributes_without_alternate_get_420() {
        let request = binding(false, |w| {
            w.add(&ChangeRequest {
                change_ip: true,
                change_port: false,
            })
            .unwrap();
            w.add(&ResponsePort(4000)).unwrap();
        });
        let (_, bytes) = handle(&plain(), PRIMARY, &request).unwrap();
        assert_eq!(error_code(&bytes), 420);
        assert_eq!(
            unknown_list(&bytes),
            [types::CHANGE_REQUEST, types::RESPONSE_PORT]
        );
        // Likewise on an address the RFC 5780 server does not know as one of its own.
        let (_, bytes) = handle(&rfc5780(), "198.51.100.9:3478", &request).unwrap();
        assert_eq!(error_code(&bytes), 420);
    }

    #[test]
    fn malformed_change_request_gets_400() {
        let request = binding(false, |w| {
            w.add_raw(types::CHANGE_REQUEST, &[0; 2]).unwrap()
        });
        let (_, bytes) = handle(&rfc5780(), PRIMARY, &request).unwrap();
        assert_eq!(error_code(&bytes), 400);
    }

    /// A 400 never outgrows the request: a bare 20-byte one is dropped, a 32-byte one gets the
    /// error without its reason phrase, a larger one the whole answer.
    #[test]
    fn other_methods_get_400_no_larger_than_the_request() {
        let allocate = MessageType::new(Class::Request, Method::ALLOCATE);
        let bare = request_with(3, allocate, false, |_| {});
        assert!(handle(&plain(), PRIMARY, &bare).is_none());
        let small = request_with(3, allocate, false, |w| w.add_raw(0x8001, &[0; 8]).unwrap());
        let (_, bytes) = handle(&plain(), PRIMARY, &small).unwrap();
        assert!(
            bytes.len() <= small.len(),
            "{} > {}",
            bytes.len(),
            small.len()
        );
        let msg = Message::decode(&bytes).unwrap();
        assert_eq!(msg.method(), Method::ALLOCATE);
        assert_eq!(msg.get::<ErrorCode>().unwrap().unwrap().reason, "");
        assert_eq!(error_code(&bytes), 400);
        let large = request_with(3, allocate, false, |w| w.add_raw(0x8001, &[0; 64]).unwrap());
        let (_, bytes) = handle(&plain(), PRIMARY, &large).unwrap();
        let msg = Message::decode(&bytes).unwrap();
        assert_eq!(
            msg.get::<ErrorCode>().unwrap().unwrap().reason,
            "Bad Request"
        );
    }

    #[test]
    fn padding_is_never_echoed() {
        let request = binding(false, |w| w.add(&Padding(&[0; 200])).unwrap());
        let (_, bytes) = handle(&rfc5780(), PRIMARY, &request).unwrap();
        let msg = Message::decode(&bytes).unwrap();
        assert_eq!(msg.class(), Class::SuccessResponse);
        assert!(!msg.has(types::PADDING));
        assert!(bytes.len() <= request.len());
    }

    #[test]
    fn garbage_and_indications_are_dropped() {
        let server = rfc5780();
        assert!(handle(&server, PRIMARY, b"").is_none());
        assert!(handle(&server, PRIMARY, b"GET / HTTP/1.1\r\n\r\n....").is_none());
        assert!(handle(&server, PRIMARY, &[0x80; 40]).is_none());
        let indication = request_with(1, MessageType::BINDING_INDICATION, true, |_| {});
        assert!(handle(&server, PRIMARY, &indication).is_none());
        for response in [MessageType::BINDING_SUCCESS, MessageType::BINDING_ERROR] {
            assert!(handle(&server, PRIMARY, &request_with(1, response, false, |_| {})).is_none());
        }
    }

    #[test]
    fn small_output_buffer_drops() {
        let request = binding(true, |_| {});
        let mut out = [0u8; 30];
        assert!(rfc5780()
            .handle(addr(PRIMARY), addr(CLIENT), &request, &mut out)
            .is_none());
    }

    #[test]
    fn config_is_validated() {
        let bad = |alternate: &str| {
            BindingServer::new(BindingServerConfig {
                software: None,
                primary: addr(PRIMARY),
                alternate: Some(addr(alternate)),
            })
            .unwrap_err()
        };
        assert_eq!(bad("198.51.100.1:4000"), ServerConfigError::AlternateSameIp);
        assert_eq!(
            bad("198.51.100.2:3478"),
            ServerConfigError::AlternateSamePort
        );
        assert_eq!(bad("[2001:db8::2]:4000"), ServerConfigError::FamilyMismatch);
    }

    #[test]
    fn client_transaction_round_trip_through_server() {
        let server = plain();
        let mut client = ClientTransactions::new(TransactionConfig::default());
        let now = Instant::now();
        let request = binding(true, |_| {});
        client
            .start(now, addr(PRIMARY), &request, false, "pair 1")
            .unwrap();
        let transmit = client.poll_transmit().unwrap();
        assert_eq!(transmit.destination, addr(PRIMARY));
        let mut out = [0u8; 512];
        let reply = server
            .handle(
                transmit.destination,
                addr(CLIENT),
                transmit.payload,
                &mut out,
            )
            .unwrap();
        assert_eq!(reply.destination, addr(CLIENT));
        let response = Message::decode(&out[..reply.len]).unwrap();
        response.verify_fingerprint().unwrap();
        let event = client.handle_response(reply.source, &response).unwrap();
        assert_eq!(event.user, "pair 1");
        assert_eq!(event.outcome, TransactionOutcome::Success);
        assert_eq!(
            response.get::<XorMappedAddress>().unwrap(),
            Some(XorMappedAddress(addr(CLIENT)))
        );
        assert!(client.is_empty());
    }
}
