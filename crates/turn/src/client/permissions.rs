//! Permissions (RFC 8656 §9) and channels (RFC 8656 §12) as the client keeps them.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::channel_data::{CHANNEL_MAX, CHANNEL_MIN};

/// Where a permission or channel binding stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Install {
    /// Requested, not yet confirmed.
    Pending,
    /// Confirmed; refreshed at `refresh_at`.
    Installed {
        /// When to send the refreshing request.
        refresh_at: Instant,
    },
}

/// One permission, keyed by peer IP address (RFC 8656 §9: ports are ignored).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Permission {
    pub(crate) state: Install,
    /// A CreatePermission for it is outstanding.
    pub(crate) in_flight: bool,
}

/// One channel binding: a number and the peer transport address it stands for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Channel {
    pub(crate) number: u16,
    pub(crate) state: Install,
    pub(crate) in_flight: bool,
}

/// The client's permissions and channels.
#[derive(Debug, Default)]
pub(crate) struct Permissions {
    pub(crate) permissions: BTreeMap<IpAddr, Permission>,
    pub(crate) channels: BTreeMap<SocketAddr, Channel>,
    by_number: BTreeMap<u16, SocketAddr>,
    next_channel: u16,
    /// Numbers whose binding ended, with their peer and when they may go to another peer: not
    /// before 5 minutes (RFC 8656 §12). The clock starts at the next `channel_for`, as a
    /// failure is learnt without the time; the wait is then 5 minutes or a little more.
    cooling: BTreeMap<u16, (SocketAddr, Option<Instant>)>,
}

/// RFC 8656 §12: a channel number (and its peer) stays out of other bindings this long after
/// its binding ended.
const CHANNEL_COOLDOWN: Duration = Duration::from_secs(300);

impl Permissions {
    /// Marks `ip` as being requested; false when a request for it is already outstanding.
    pub(crate) fn start_permission(&mut self, ip: IpAddr) -> bool {
        let p = self.permissions.entry(ip).or_insert(Permission {
            state: Install::Pending,
            in_flight: false,
        });
        !core::mem::replace(&mut p.in_flight, true)
    }

    /// A CreatePermission for `ips` succeeded: installed, refreshed after `refresh`.
    pub(crate) fn permission_installed(&mut self, ips: &[IpAddr], now: Instant, refresh: Duration) {
        for ip in ips {
            if let Some(p) = self.permissions.get_mut(ip) {
                p.in_flight = false;
                p.state = Install::Installed {
                    refresh_at: now + refresh,
                };
            }
        }
    }

    /// A CreatePermission failed: forget the permissions (the server has none, or will drop
    /// them when they expire).
    pub(crate) fn permission_failed(&mut self, ips: &[IpAddr]) {
        for ip in ips {
            self.permissions.remove(ip);
        }
    }

    /// True when a permission for `ip` is installed.
    pub(crate) fn has_permission(&self, ip: IpAddr) -> bool {
        matches!(
            self.permissions.get(&ip),
            Some(Permission {
                state: Install::Installed { .. },
                ..
            })
        )
    }

    /// The channel bound, or being bound, to `peer`, or a fresh number for it.
    pub(crate) fn channel_for(&mut self, peer: SocketAddr, now: Instant) -> Option<u16> {
        if let Some(c) = self.channels.get(&peer) {
            return Some(c.number);
        }
        for (_, until) in self.cooling.values_mut() {
            until.get_or_insert(now + CHANNEL_COOLDOWN);
        }
        self.cooling
            .retain(|_, (_, until)| until.is_some_and(|t| t > now));
        // The same peer may have its old number back at once (RFC 8656 §12 forbids only a
        // different pairing).
        let again = self
            .cooling
            .iter()
            .find(|(_, (p, _))| *p == peer)
            .map(|(n, _)| *n);
        let number = match again {
            Some(n) => {
                self.cooling.remove(&n);
                n
            }
            None => self.free_number()?,
        };
        self.by_number.insert(number, peer);
        self.channels.insert(
            peer,
            Channel {
                number,
                state: Install::Pending,
                in_flight: false,
            },
        );
        Some(number)
    }

    /// A number neither bound nor cooling down, if any is left.
    fn free_number(&mut self) -> Option<u16> {
        let span = CHANNEL_MAX - CHANNEL_MIN + 1;
        if self.by_number.len() + self.cooling.len() >= usize::from(span) {
            return None;
        }
        let mut n = self.next_channel;
        loop {
            let number = CHANNEL_MIN + n % span;
            n = n.wrapping_add(1);
            if !self.by_number.contains_key(&number) && !self.cooling.contains_key(&number) {
                self.next_channel = n;
                return Some(number);
            }
        }
    }

    /// Marks the channel to `peer` as being (re)bound; false when a request is outstanding.
    pub(crate) fn start_channel(&mut self, peer: SocketAddr) -> bool {
        match self.channels.get_mut(&peer) {
            Some(c) => !core::mem::replace(&mut c.in_flight, true),
            None => false,
        }
    }

    /// A ChannelBind succeeded.
    pub(crate) fn channel_bound(&mut self, peer: SocketAddr, now: Instant, refresh: Duration) {
        if let Some(c) = self.channels.get_mut(&peer) {
            c.in_flight = false;
            c.state = Install::Installed {
                refresh_at: now + refresh,
            };
        }
    }

    /// A ChannelBind failed: the number is released unless the binding was already confirmed
    /// and merely failed to refresh, in which case it is dropped too (it will expire).
    pub(crate) fn channel_failed(&mut self, peer: SocketAddr) {
        if let Some(c) = self.channels.remove(&peer) {
            self.by_number.remove(&c.number);
            self.cooling.insert(c.number, (peer, None));
        }
    }

    /// The bound channel to use for `peer`, if confirmed (RFC 8656 §12: ChannelData only after
    /// the success response).
    pub(crate) fn bound_channel(&self, peer: SocketAddr) -> Option<u16> {
        match self.channels.get(&peer) {
            Some(Channel {
                number,
                state: Install::Installed { .. },
                ..
            }) => Some(*number),
            _ => None,
        }
    }

    /// The peer a channel number stands for (confirmed or pending: the server may relay before
    /// our copy of the success response arrives).
    pub(crate) fn peer_of(&self, number: u16) -> Option<SocketAddr> {
        self.by_number.get(&number).copied()
    }

    /// Permissions due for refresh at `now` that have no request outstanding.
    pub(crate) fn due_permissions(&self, now: Instant) -> Vec<IpAddr> {
        self.permissions
            .iter()
            .filter(|(_, p)| {
                !p.in_flight
                    && matches!(p.state, Install::Installed { refresh_at } if refresh_at <= now)
            })
            .map(|(ip, _)| *ip)
            .collect()
    }

    /// Channels due for refresh at `now`.
    pub(crate) fn due_channels(&self, now: Instant) -> Vec<SocketAddr> {
        self.channels
            .iter()
            .filter(|(_, c)| {
                !c.in_flight
                    && matches!(c.state, Install::Installed { refresh_at } if refresh_at <= now)
            })
            .map(|(peer, _)| *peer)
            .collect()
    }

    /// The earliest refresh deadline among idle permissions and channels.
    pub(crate) fn next_refresh(&self) -> Option<Instant> {
        let perms = self
            .permissions
            .values()
            .filter(|p| !p.in_flight)
            .map(|p| p.state);
        let chans = self
            .channels
            .values()
            .filter(|c| !c.in_flight)
            .map(|c| c.state);
        perms
            .chain(chans)
            .filter_map(|s| match s {
                Install::Installed { refresh_at } => Some(refresh_at),
                Install::Pending => None,
            })
            .min()
    }

    /// Forgets everything (the allocation is gone).
    pub(crate) fn clear(&mut self) {
        self.permissions.clear();
        self.channels.clear();
        self.by_number.clear();
        self.cooling.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(i: u32) -> SocketAddr {
        SocketAddr::from(([198, 51, (i >> 8) as u8, i as u8], 7000))
    }

    /// RFC 8656 §12: after a binding ends, its number goes to no other peer, and its peer to
    /// no other number, for 5 minutes. With every other number taken, a new peer gets none
    /// until then; the old peer gets its number back at once.
    #[test]
    fn a_failed_channel_number_cools_down_for_five_minutes() {
        let mut p = Permissions::default();
        let now = Instant::now();
        let span = u32::from(CHANNEL_MAX - CHANNEL_MIN) + 1;
        for i in 0..span {
            assert!(p.channel_for(peer(i), now).is_some());
        }
        let freed = p.channel_for(peer(7), now).unwrap();
        p.channel_failed(peer(7));
        let newcomer = peer(span + 1);
        assert_eq!(p.channel_for(newcomer, now), None);
        let later = now + CHANNEL_COOLDOWN - Duration::from_secs(1);
        assert_eq!(p.channel_for(newcomer, later), None);
        assert_eq!(
            p.channel_for(newcomer, now + CHANNEL_COOLDOWN * 2),
            Some(freed)
        );
    }

    #[test]
    fn the_same_peer_gets_its_number_back_at_once() {
        let mut p = Permissions::default();
        let now = Instant::now();
        let n = p.channel_for(peer(1), now).unwrap();
        p.channel_failed(peer(1));
        assert_eq!(p.channel_for(peer(2), now).map(|m| m == n), Some(false));
        assert_eq!(p.channel_for(peer(1), now), Some(n));
    }
}
