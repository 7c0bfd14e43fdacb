//! The packet path: links, routers, NAT translation and delivery to endpoints.

use super::{Event, Hop, LinkRef, PublicOwner, Sim};
use crate::host::{Datagram, HostId, NetworkId, Segment};
use crate::link::{Direction, Link, Verdict};
use crate::nat::NatDrop;
use crate::trace::{DropReason, TraceEntry, TraceKind};

impl Sim {
    fn record(&mut self, kind: TraceKind, datagram: &Datagram) {
        let entry = TraceEntry {
            at: self.now,
            kind,
            source: datagram.source,
            destination: datagram.destination,
            len: datagram.payload.len(),
        };
        self.hash.record(&entry, &datagram.payload);
        if self.tracing {
            self.trace.push(entry);
        }
    }

    fn drop_datagram(&mut self, reason: DropReason, datagram: &Datagram) {
        self.stats.dropped += 1;
        *self.drops.entry(reason).or_insert(0) += 1;
        self.record(TraceKind::Dropped(reason), datagram);
    }

    /// Sends everything the host's endpoint has queued, then re-reads its timeout.
    pub(super) fn drain(&mut self, host: HostId) {
        let now = self.now();
        while let Some(datagram) = self.hosts[host.0].endpoint.poll_transmit(now) {
            self.send_from(host, datagram);
        }
        let h = &mut self.hosts[host.0];
        h.timeout = h.endpoint.poll_timeout();
    }

    pub(super) fn send_from(&mut self, host: HostId, datagram: Datagram) {
        self.stats.sent += 1;
        self.record(TraceKind::Sent(host), &datagram);
        match self.hosts[host.0].interface(datagram.source.ip()) {
            Some(iface) => {
                let segment = iface.segment;
                self.traverse(
                    LinkRef::Host(host),
                    Direction::Up,
                    Hop::Router(segment),
                    datagram,
                );
            }
            None => self.drop_datagram(DropReason::UnknownSource, &datagram),
        }
    }

    fn link_mut(&mut self, link: LinkRef) -> &mut Link {
        match link {
            LinkRef::Host(h) => &mut self.hosts[h.0].link,
            LinkRef::Wan(n) => &mut self.networks[n.0].wan,
        }
    }

    /// Puts a datagram on a link towards `hop`.
    fn traverse(&mut self, link: LinkRef, dir: Direction, hop: Hop, datagram: Datagram) {
        let now = self.now;
        let ipv6 = datagram.destination.is_ipv6();
        let len = datagram.payload.len();
        match self.link_mut(link).transmit(dir, now, len, ipv6) {
            Verdict::Oversized => self.drop_datagram(DropReason::Oversized, &datagram),
            Verdict::Lost => self.drop_datagram(DropReason::Lost, &datagram),
            Verdict::Deliver(delays) => {
                let copies = delays.len();
                let mut datagram = Some(datagram);
                for (i, delay) in delays.into_iter().enumerate() {
                    let datagram = if i + 1 == copies {
                        datagram.take().expect("last copy")
                    } else {
                        datagram.clone().expect("copy")
                    };
                    self.seq += 1;
                    self.queue.push(Event {
                        at: now + delay,
                        seq: self.seq,
                        hop,
                        via: (link, dir),
                        datagram,
                    });
                }
            }
        }
    }

    pub(super) fn arrive(&mut self, event: Event) {
        let (link, dir) = event.via;
        let stats = self.link_mut(link).stats_mut(dir);
        stats.delivered += 1;
        stats.bytes_delivered += event.datagram.payload.len() as u64;
        let datagram = event.datagram;
        match event.hop {
            Hop::Host(host) => self.deliver(host, datagram),
            Hop::Router(Segment::Public) => self.route_public(datagram),
            Hop::Router(Segment::Private(net)) => self.route_private(net, datagram),
            Hop::NatWan(net) => self.nat_inbound(net, datagram),
        }
    }

    fn deliver(&mut self, host: HostId, datagram: Datagram) {
        self.stats.delivered += 1;
        self.record(TraceKind::Delivered(host), &datagram);
        let now = self.now();
        self.hosts[host.0].endpoint.handle_datagram(
            now,
            datagram.destination,
            datagram.source,
            &datagram.payload,
        );
        self.drain(host);
    }

    fn down_to(&mut self, host: HostId, datagram: Datagram) {
        self.traverse(
            LinkRef::Host(host),
            Direction::Down,
            Hop::Host(host),
            datagram,
        );
    }

    /// The public router: straight to a public host, or over the WAN link to a NAT box.
    fn route_public(&mut self, datagram: Datagram) {
        match self.public.get(&datagram.destination.ip()).copied() {
            Some(PublicOwner::Host(host)) => self.down_to(host, datagram),
            Some(PublicOwner::Nat(net)) => self.traverse(
                LinkRef::Wan(net),
                Direction::Down,
                Hop::NatWan(net),
                datagram,
            ),
            None => self.drop_datagram(DropReason::Unroutable, &datagram),
        }
    }

    /// A private network's router: LAN delivery, hairpinning (RFC 4787 §6) or outbound
    /// translation (RFC 4787 §4.1) towards the internet.
    fn route_private(&mut self, net: NetworkId, mut datagram: Datagram) {
        let dst_ip = datagram.destination.ip();
        if let Some(&host) = self.private.get(&(net, dst_ip)) {
            return self.down_to(host, datagram);
        }
        let hairpin = dst_ip == self.networks[net.0].nat.public_ip;
        if hairpin && !self.networks[net.0].nat.config.hairpinning {
            self.networks[net.0].nat.stats.hairpin_refused += 1;
            return self.drop_datagram(DropReason::HairpinRefused, &datagram);
        }
        let now = self.now;
        match self.networks[net.0]
            .nat
            .outbound(now, datagram.source, datagram.destination)
        {
            Ok(external) => datagram.source = external,
            Err(e) => return self.nat_drop(e, &datagram),
        }
        self.record(TraceKind::Translated(net), &datagram);
        if hairpin {
            // REQ-9: the internal receiver sees the sender's external address as source.
            self.networks[net.0].nat.stats.hairpinned += 1;
            self.nat_inbound(net, datagram);
        } else {
            self.traverse(
                LinkRef::Wan(net),
                Direction::Up,
                Hop::Router(Segment::Public),
                datagram,
            );
        }
    }

    fn nat_drop(&mut self, e: NatDrop, datagram: &Datagram) {
        let reason = match e {
            NatDrop::Filtered => DropReason::Filtered,
            NatDrop::NoMapping => DropReason::NoMapping,
            NatDrop::PortsExhausted => DropReason::PortsExhausted,
        };
        self.drop_datagram(reason, datagram);
    }

    /// The public side of a NAT box: filtering (RFC 4787 §5) and inbound translation.
    fn nat_inbound(&mut self, net: NetworkId, mut datagram: Datagram) {
        let now = self.now;
        let internal = match self.networks[net.0].nat.inbound(
            now,
            datagram.source,
            datagram.destination.port(),
        ) {
            Ok(internal) => internal,
            Err(e) => return self.nat_drop(e, &datagram),
        };
        datagram.destination = internal;
        self.record(TraceKind::Translated(net), &datagram);
        match self.private.get(&(net, internal.ip())).copied() {
            Some(host) => self.down_to(host, datagram),
            None => self.drop_datagram(DropReason::Unroutable, &datagram),
        }
    }
}
