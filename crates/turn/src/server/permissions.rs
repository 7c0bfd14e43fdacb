//! Permissions and channels (RFC 8656 §9, §10, §12), and the data they let through (§11, §12).

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use floe_stun::attribute::types;
use floe_stun::attributes::{AddressFamily, ChannelNumber, Data, ErrorCode, XorPeerAddress};
use floe_stun::{Attribute, Message, Method};

use super::auth::Verified;
use super::peer_policy::PeerPolicy;
use super::timers::Timer;
use super::{Allocation, AllocationId, FiveTuple, ServerTransmit, TurnServer};
use crate::channel_data::{is_channel_number, ChannelData};
use crate::Transport;

impl TurnServer {
    /// Checks that every XOR-PEER-ADDRESS matches a relayed family (`Err(443)` otherwise) and
    /// is one the server relays to (`Err(403)`, RFC 8656 §21.4).
    fn peers(
        msg: &Message<'_>,
        a: &Allocation,
        policy: &PeerPolicy,
    ) -> Result<Vec<SocketAddr>, u16> {
        let tid = msg.transaction_id();
        let mut peers = Vec::new();
        for raw in msg
            .attributes()
            .filter(|r| r.attr_type == types::XOR_PEER_ADDRESS)
        {
            let peer = XorPeerAddress::decode(raw.value, &tid)
                .map_err(|_| 400u16)?
                .0;
            let family = AddressFamily::of(&peer.ip());
            if !a
                .relays
                .iter()
                .any(|r| AddressFamily::of(&r.ip()) == family)
            {
                // RFC 8656 §10.2 / §12.2: 443 Peer Address Family Mismatch.
                return Err(443);
            }
            if !policy.permits_ip(peer.ip()) {
                return Err(ErrorCode::FORBIDDEN);
            }
            peers.push(peer);
        }
        if peers.is_empty() {
            return Err(400);
        }
        Ok(peers)
    }

    /// Whether `a` may relay to `peer`: the peer policy allows it, and it is not one of the
    /// allocation's own relayed addresses, which would loop its data back through the server
    /// (RFC 8656 §21.4), whatever [`super::ServerConfig::allowed_peers`] opens. Another
    /// allocation's relayed address is a fine peer: two clients of one server reach each other
    /// relay to relay.
    fn permits(
        policy: &PeerPolicy,
        a: &Allocation,
        peer: SocketAddr,
        listening: SocketAddr,
    ) -> bool {
        policy.permits(peer, listening) && !a.relays.contains(&peer)
    }

    /// RFC 8656 §10.2.
    pub(super) fn create_permission(
        &mut self,
        now: Instant,
        tuple: FiveTuple,
        id: AllocationId,
        msg: &Message<'_>,
        verified: &Verified,
    ) {
        let tid = msg.transaction_id();
        let lifetime = self.config.permission_lifetime;
        let (max_peers, max_permissions) = (
            self.config.max_peers_per_request,
            self.config.max_permissions,
        );
        let Some(a) = self.allocations.get_mut(&id) else {
            return;
        };
        let checked = Self::peers(msg, a, &self.peers).and_then(|peers| {
            if peers.len() > max_peers {
                return Err(ErrorCode::BAD_REQUEST);
            }
            // Bounded state: expired permissions go, and new ones only up to the cap (508).
            a.permissions.retain(|_, e| *e > now);
            let mut ips: Vec<IpAddr> = peers.iter().map(SocketAddr::ip).collect();
            ips.sort_unstable();
            ips.dedup();
            let new = ips
                .iter()
                .filter(|ip| !a.permissions.contains_key(ip))
                .count();
            if a.permissions.len() + new > max_permissions {
                return Err(ErrorCode::INSUFFICIENT_CAPACITY);
            }
            Ok(ips)
        });
        match checked {
            Ok(ips) => {
                for ip in ips {
                    a.permissions.insert(ip, now + lifetime);
                    self.timers
                        .schedule(now + lifetime, Timer::Permission(id, ip));
                }
                self.success(tuple, Method::CREATE_PERMISSION, tid, verified, |_| Ok(()));
            }
            Err(code) => self.error(
                now,
                tuple,
                Method::CREATE_PERMISSION,
                tid,
                code,
                Some(verified),
            ),
        }
    }

    /// RFC 8656 §12.2.
    pub(super) fn channel_bind(
        &mut self,
        now: Instant,
        tuple: FiveTuple,
        id: AllocationId,
        msg: &Message<'_>,
        verified: &Verified,
    ) {
        let tid = msg.transaction_id();
        let m = Method::CHANNEL_BIND;
        let (channel_lifetime, permission_lifetime) = (
            self.config.channel_lifetime,
            self.config.permission_lifetime,
        );
        let (max_channels, max_permissions) =
            (self.config.max_channels, self.config.max_permissions);
        let Some(a) = self.allocations.get_mut(&id) else {
            return;
        };
        let channel = match msg.get::<ChannelNumber>() {
            Ok(Some(ChannelNumber(n))) if is_channel_number(n) => n,
            _ => return self.error(now, tuple, m, tid, 400, Some(verified)),
        };
        let peer = match Self::peers(msg, a, &self.peers) {
            Ok(peers)
                if peers.len() == 1 && !Self::permits(&self.peers, a, peers[0], tuple.server) =>
            {
                return self.error(now, tuple, m, tid, ErrorCode::FORBIDDEN, Some(verified));
            }
            Ok(peers) if peers.len() == 1 => peers[0],
            Ok(_) => return self.error(now, tuple, m, tid, 400, Some(verified)),
            Err(code) => return self.error(now, tuple, m, tid, code, Some(verified)),
        };
        // RFC 8656 §12.2: the channel may not be bound to another peer, nor the peer to another
        // channel.
        let conflict = a.channels.iter().any(|(n, (p, exp))| {
            *exp > now && ((*n == channel && *p != peer) || (*n != channel && *p == peer))
        });
        if conflict {
            return self.error(now, tuple, m, tid, 400, Some(verified));
        }
        // Bounded state: a new channel, or the permission it installs, only up to the caps.
        a.channels.retain(|_, (_, e)| *e > now);
        a.permissions.retain(|_, e| *e > now);
        let full = (!a.channels.contains_key(&channel) && a.channels.len() >= max_channels)
            || (!a.permissions.contains_key(&peer.ip()) && a.permissions.len() >= max_permissions);
        if full {
            let code = ErrorCode::INSUFFICIENT_CAPACITY;
            return self.error(now, tuple, m, tid, code, Some(verified));
        }
        a.channels.insert(channel, (peer, now + channel_lifetime));
        let perm = a.permissions.entry(peer.ip()).or_insert(now);
        *perm = (*perm).max(now + permission_lifetime);
        let permission_expires = *perm;
        self.timers
            .schedule(now + channel_lifetime, Timer::Channel(id, channel));
        self.timers
            .schedule(permission_expires, Timer::Permission(id, peer.ip()));
        self.success(tuple, m, tid, verified, |_| Ok(()));
    }

    /// RFC 8656 §11.2: relay a Send indication's DATA to its peer if permitted; otherwise drop.
    /// An indication gets no error response, so one with DONT-FRAGMENT the server cannot
    /// honour, or with another comprehension-required attribute it does not know, is dropped
    /// (RFC 8656 §11.2, RFC 8489 §6.3.2).
    pub(super) fn send_indication(&mut self, now: Instant, tuple: FiveTuple, msg: &Message<'_>) {
        let refuse_df = msg.has(types::DONT_FRAGMENT) && !self.config.dont_fragment;
        if refuse_df || msg.unknown_comprehension_required().next().is_some() {
            return;
        }
        let (Ok(Some(XorPeerAddress(peer))), Ok(Some(Data(data)))) =
            (msg.get::<XorPeerAddress>(), msg.get::<Data>())
        else {
            return;
        };
        self.relay_to_peer(now, tuple, peer, data);
    }

    /// RFC 8656 §12.6: relay ChannelData from the client to the channel's peer.
    pub(super) fn client_channel_data(&mut self, now: Instant, tuple: FiveTuple, bytes: &[u8]) {
        let Ok(cd) = ChannelData::decode(bytes) else {
            return;
        };
        let Some(a) = self
            .by_tuple
            .get(&tuple)
            .and_then(|id| self.allocations.get(id))
        else {
            return;
        };
        let Some(&(peer, expires)) = a.channels.get(&cd.channel) else {
            return;
        };
        if expires > now {
            self.relay_to_peer(now, tuple, peer, cd.data);
        }
    }

    fn relay_to_peer(&mut self, now: Instant, tuple: FiveTuple, peer: SocketAddr, data: &[u8]) {
        let Some(a) = self
            .by_tuple
            .get(&tuple)
            .and_then(|id| self.allocations.get(id))
        else {
            return;
        };
        if !a.permissions.get(&peer.ip()).is_some_and(|&e| e > now)
            || !Self::permits(&self.peers, a, peer, tuple.server)
        {
            return;
        }
        let family = AddressFamily::of(&peer.ip());
        let Some(&relay) = a
            .relays
            .iter()
            .find(|r| AddressFamily::of(&r.ip()) == family)
        else {
            return;
        };
        self.transmits.push_back(ServerTransmit {
            source: relay,
            destination: peer,
            transport: Transport::Udp,
            payload: data.to_vec(),
        });
    }
}
