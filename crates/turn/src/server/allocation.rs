//! Allocations (RFC 8656 §7.2) and their refreshes (§8.2): the Allocate checks in the RFC's
//! order, the relay sockets the driver binds for them, port reservations, lifetimes.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use floe_stun::attribute::types;
use floe_stun::attributes::{
    AdditionalAddressFamily, AddressErrorCode, AddressFamily, DontFragment, ErrorCode, EvenPort,
    Lifetime, RequestedAddressFamily, RequestedTransport, ReservationToken, Software,
    XorMappedAddress, XorRelayedAddress,
};
use floe_stun::{Class, EncodeError, Message, MessageType, MessageWriter, Method};

use super::auth::Verified;
use super::relay_ports::PortRequest;
use super::timers::Timer;
use super::{
    secs, Allocation, AllocationId, FiveTuple, ServerEvent, TurnServer, RESPONSE_CAPACITY,
};

/// Ports tried for one relay before the family gets 508 (each failed bind draws another).
const BIND_ATTEMPTS: u8 = 8;

/// A relay the driver has been asked to bind and has not reported yet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct PendingRelay {
    pub(super) family: AddressFamily,
    /// Ports tried so far.
    attempts: u8,
}

/// What the Allocate asked of its relays beyond the family.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(super) struct RelayRequest {
    pub(super) ports: PortRequest,
    pub(super) dont_fragment: bool,
}

impl TurnServer {
    /// Reports the relay socket bound for [`ServerEvent::BindRelay`]: `Some(address)` (with
    /// `reserve_next`, port + 1 is bound too), or `None` when that port could not be bound.
    /// A failed port is retried with another; after 8 failures the family gets
    /// ADDRESS-ERROR-CODE 508, or the Allocate a 508 if no family succeeded.
    pub fn relay_bound(
        &mut self,
        now: Instant,
        allocation: AllocationId,
        family: AddressFamily,
        relay: Option<SocketAddr>,
    ) {
        let Some(a) = self.allocations.get_mut(&allocation) else {
            return;
        };
        let Some(at) = a.pending.iter().position(|p| p.family == family) else {
            return;
        };
        match relay {
            Some(relay) => {
                a.pending.remove(at);
                a.relays.push(relay);
                self.by_relay.insert(relay, allocation);
                if a.request.ports.reserve_next {
                    let next = SocketAddr::new(relay.ip(), relay.port().wrapping_add(1));
                    let token = self.ports.reserve(&mut self.rng, now, next);
                    a.reservation = Some(token);
                    self.timers.schedule(
                        now + super::relay_ports::RESERVATION_LIFETIME,
                        Timer::Reservations,
                    );
                }
            }
            None if a.pending[at].attempts < BIND_ATTEMPTS => {
                a.pending[at].attempts += 1;
                let request = a.request;
                if let Some(port) = self.ports.pick(&mut self.rng, request.ports) {
                    self.events.push_back(ServerEvent::BindRelay {
                        allocation,
                        family,
                        port,
                        reserve_next: request.ports.reserve_next,
                        dont_fragment: request.dont_fragment,
                    });
                    return;
                }
                a.pending.remove(at);
                a.address_errors
                    .push((family, ErrorCode::INSUFFICIENT_CAPACITY));
            }
            None => {
                a.pending.remove(at);
                a.address_errors
                    .push((family, ErrorCode::INSUFFICIENT_CAPACITY));
            }
        }
        if a.pending.is_empty() {
            self.grant(now, allocation);
        }
    }

    /// Answers the Allocate once every relay is bound (or failed): success with the relayed
    /// addresses, or 508 when there is none.
    fn grant(&mut self, now: Instant, id: AllocationId) {
        let Some(a) = self.allocations.get_mut(&id) else {
            return;
        };
        let tuple = a.tuple;
        let tid = a.allocate_tid;
        let verified = a.allocate_auth.clone();
        if a.relays.is_empty() {
            self.remove(id);
            let code = ErrorCode::INSUFFICIENT_CAPACITY;
            self.error(now, tuple, Method::ALLOCATE, tid, code, Some(&verified));
            return;
        }
        a.expires = now + a.lifetime;
        self.timers.schedule(a.expires, Timer::Allocation(id));
        let software = self.config.software.clone();
        let response = (|| -> Result<Vec<u8>, EncodeError> {
            let mut buf = vec![0u8; RESPONSE_CAPACITY];
            let ty = MessageType::new(Class::SuccessResponse, Method::ALLOCATE);
            let mut w = MessageWriter::new(&mut buf, ty, tid)?;
            if let Some(s) = &software {
                w.add(&Software(s))?;
            }
            for relay in &a.relays {
                w.add(&XorRelayedAddress(*relay))?;
            }
            for (family, code) in &a.address_errors {
                w.add(&AddressErrorCode {
                    family: *family,
                    code: *code,
                    reason: "Address Family not Supported",
                })?;
            }
            w.add(&Lifetime(secs(a.lifetime)))?;
            if let Some(token) = a.reservation {
                w.add(&ReservationToken(token))?;
            }
            w.add(&XorMappedAddress(tuple.client))?;
            verified.sign(&mut w)?;
            let len = w.finish();
            buf.truncate(len);
            Ok(buf)
        })();
        if let Ok(response) = response {
            a.allocate_response = Some(response.clone());
            self.send_to_client(tuple, response);
        }
    }

    /// RFC 8656 §7.2, steps in the RFC's order.
    pub(super) fn allocate(
        &mut self,
        now: Instant,
        tuple: FiveTuple,
        msg: &Message<'_>,
        verified: Verified,
    ) {
        let tid = msg.transaction_id();
        let m = Method::ALLOCATE;
        if let Some(a) = self
            .by_tuple
            .get(&tuple)
            .and_then(|id| self.allocations.get(id))
        {
            // A retransmission of the Allocate that created it gets the same answer; anything
            // else 437 (RFC 8656 §7.2 step 2).
            if a.allocate_tid == tid {
                if let Some(response) = a.allocate_response.clone() {
                    self.send_to_client(tuple, response);
                }
                return;
            }
            return self.error(now, tuple, m, tid, 437, Some(&verified));
        }
        let v = Some(&verified);
        // Step 3: REQUESTED-TRANSPORT is mandatory; only UDP is relayed here.
        match msg.get::<RequestedTransport>() {
            Ok(Some(RequestedTransport::UDP)) => {}
            Ok(Some(_)) => return self.error(now, tuple, m, tid, 442, v),
            _ => return self.error(now, tuple, m, tid, 400, v),
        }
        let requested = msg.get::<RequestedAddressFamily>();
        let additional = msg.get::<AdditionalAddressFamily>();
        let even_port = msg.get::<EvenPort>();
        let (Ok(requested), Ok(additional), Ok(even_port)) = (requested, additional, even_port)
        else {
            return self.error(now, tuple, m, tid, 400, v);
        };
        // Step 5: a RESERVATION-TOKEN stands alone, and names a live reservation or gets 508.
        let token = if msg.has(types::RESERVATION_TOKEN) {
            let Ok(Some(ReservationToken(token))) = msg.get::<ReservationToken>() else {
                return self.error(now, tuple, m, tid, 400, v);
            };
            if even_port.is_some() || requested.is_some() || additional.is_some() {
                return self.error(now, tuple, m, tid, 400, v);
            }
            Some(token)
        } else {
            None
        };
        let supported = |f: AddressFamily| match f {
            AddressFamily::Ipv4 => self.config.ipv4_relays,
            AddressFamily::Ipv6 => self.config.ipv6_relays,
        };
        let mut address_errors = Vec::new();
        let families = match (requested, additional) {
            // Step 6: both at once is a 400.
            (Some(_), Some(_)) => return self.error(now, tuple, m, tid, 400, v),
            (Some(RequestedAddressFamily(f)), None) => {
                if !supported(f) {
                    return self.error(now, tuple, m, tid, 440, v);
                }
                vec![f]
            }
            (None, Some(AdditionalAddressFamily(AddressFamily::Ipv6))) => {
                let mut fams = Vec::new();
                for f in [AddressFamily::Ipv4, AddressFamily::Ipv6] {
                    if supported(f) {
                        fams.push(f);
                    } else {
                        address_errors.push((f, ErrorCode::ADDRESS_FAMILY_NOT_SUPPORTED));
                    }
                }
                fams
            }
            // RFC 8656 §18.11: ADDITIONAL-ADDRESS-FAMILY IPv4 is invalid.
            (None, Some(_)) => return self.error(now, tuple, m, tid, 400, v),
            // A reserved relay has the family it was reserved with.
            (None, None) if token.is_some() => Vec::new(),
            (None, None) => {
                if !supported(AddressFamily::Ipv4) {
                    return self.error(now, tuple, m, tid, 440, v);
                }
                vec![AddressFamily::Ipv4]
            }
        };
        if families.is_empty() && token.is_none() {
            return self.error(now, tuple, m, tid, 440, v);
        }
        // EVEN-PORT's R bit reserves one port next to one relay: not with two families.
        if even_port.is_some_and(|e| e.reserve_next) && families.len() > 1 {
            return self.error(now, tuple, m, tid, 400, v);
        }
        // Reservations past their time go now, so an expired token is refused and its socket
        // released rather than lost.
        for relay in self.ports.expire(now) {
            self.events.push_back(ServerEvent::ReleaseRelay { relay });
        }
        // Step 10: quotas, for the server (reserved ports hold sockets too; the one a token
        // redeems is counted once) and per user.
        let per_user = self
            .allocations
            .values()
            .filter(|a| a.username == verified.username)
            .count();
        let held =
            self.ports.reserved() - usize::from(token.is_some() && self.ports.reserved() > 0);
        if self.allocations.len() + held >= self.config.max_allocations
            || per_user >= self.config.max_allocations_per_user
        {
            return self.error(now, tuple, m, tid, 486, v);
        }
        let reserved = match token {
            Some(token) => match self.ports.redeem(now, token) {
                Some(relay) => Some(relay),
                None => return self.error(now, tuple, m, tid, 508, v),
            },
            None => None,
        };
        // Step 7: an even port, with the R bit the next one too, or 508 when the range has
        // none.
        let request = RelayRequest {
            ports: PortRequest {
                even: even_port.is_some(),
                reserve_next: even_port.is_some_and(|e| e.reserve_next),
            },
            dont_fragment: msg.get::<DontFragment>().ok().flatten().is_some(),
        };
        let mut binds = Vec::new();
        for &family in &families {
            let Some(port) = self.ports.pick(&mut self.rng, request.ports) else {
                return self.error(now, tuple, m, tid, 508, v);
            };
            binds.push(ServerEvent::BindRelay {
                allocation: AllocationId(self.next_id),
                family,
                port,
                reserve_next: request.ports.reserve_next,
                dont_fragment: request.dont_fragment,
            });
        }
        let lifetime = self.lifetime(msg);
        let id = AllocationId(self.next_id);
        self.next_id += 1;
        self.events.extend(binds);
        self.by_tuple.insert(tuple, id);
        self.allocations.insert(
            id,
            Allocation {
                tuple,
                username: verified.username.clone(),
                relays: Vec::new(),
                pending: families
                    .into_iter()
                    .map(|family| PendingRelay {
                        family,
                        attempts: 1,
                    })
                    .collect(),
                request,
                reservation: None,
                address_errors,
                lifetime,
                expires: now + lifetime,
                permissions: Default::default(),
                channels: Default::default(),
                allocate_tid: tid,
                allocate_auth: verified,
                allocate_response: None,
            },
        );
        if let Some(relay) = reserved {
            if let Some(a) = self.allocations.get_mut(&id) {
                a.relays.push(relay);
            }
            self.by_relay.insert(relay, id);
            self.grant(now, id);
        }
    }

    /// RFC 8656 §7.2 step 7 / §8.2: the requested lifetime, capped at the maximum, and at least
    /// the default.
    fn lifetime(&self, msg: &Message<'_>) -> Duration {
        match msg.get::<Lifetime>() {
            Ok(Some(Lifetime(s))) => Duration::from_secs(u64::from(s))
                .min(self.config.max_lifetime)
                .max(self.config.default_lifetime),
            _ => self.config.default_lifetime,
        }
    }

    /// RFC 8656 §8.2.
    pub(super) fn refresh(
        &mut self,
        now: Instant,
        tuple: FiveTuple,
        id: AllocationId,
        msg: &Message<'_>,
        verified: &Verified,
    ) {
        let tid = msg.transaction_id();
        let m = Method::REFRESH;
        let family = match msg.get::<RequestedAddressFamily>() {
            Ok(Some(RequestedAddressFamily(family))) => Some(family),
            Ok(None) => None,
            Err(_) => return self.error(now, tuple, m, tid, 400, Some(verified)),
        };
        let Some(a) = self.allocations.get_mut(&id) else {
            return;
        };
        // A REQUESTED-ADDRESS-FAMILY that is not the allocation's gets 443.
        if let Some(family) = family {
            if !a
                .relays
                .iter()
                .any(|r| AddressFamily::of(&r.ip()) == family)
            {
                return self.error(now, tuple, m, tid, 443, Some(verified));
            }
        }
        let zero = matches!(msg.get::<Lifetime>(), Ok(Some(Lifetime(0))));
        let lifetime = match family {
            // LIFETIME 0 with a family deletes that family's relay only, unless it is the last.
            Some(family) if zero && a.relays.len() > 1 => {
                let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut a.relays)
                    .into_iter()
                    .partition(|r| AddressFamily::of(&r.ip()) == family);
                a.relays = kept;
                for relay in gone {
                    self.by_relay.remove(&relay);
                    self.events.push_back(ServerEvent::ReleaseRelay { relay });
                }
                Duration::ZERO
            }
            _ if zero => {
                self.remove(id);
                Duration::ZERO
            }
            _ => {
                let lifetime = self.lifetime(msg);
                if let Some(a) = self.allocations.get_mut(&id) {
                    a.lifetime = lifetime;
                    a.expires = now + lifetime;
                    self.timers.schedule(a.expires, Timer::Allocation(id));
                }
                lifetime
            }
        };
        self.success(tuple, m, tid, verified, |w| {
            w.add(&Lifetime(secs(lifetime)))
        });
    }
}
