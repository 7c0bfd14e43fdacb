//! The agent's timers in one table (as quinn-proto's `TimerTable`): at the end of every input
//! each concern writes its deadline into its slot, and [`crate::IceAgent::poll_timeout`] only
//! reads the earliest.

use std::time::Instant;

/// What a deadline is for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Timer {
    /// STUN retransmissions and timeouts of checks, queries and consent requests.
    Transactions,
    /// A server-reflexive query gives up.
    Gathering,
    /// TURN clients: retransmissions, refreshes, allocation deadlines.
    Relays,
    /// The next pacer slot for a check or query that is waiting (RFC 8445 §14.2).
    Pacing,
    /// The controlling agent stops waiting for better pairs and nominates (RFC 8445 §8.1.1).
    Nomination,
    /// Consent requests, keepalives, `disconnected` and expiry (RFC 7675, RFC 8445 §11).
    Consent,
    /// The PAC timer (RFC 8863 §4).
    Pac,
    /// ICE-TCP connections that must open, or authenticate, in time.
    Streams,
}

const COUNT: usize = 8;

impl Timer {
    const fn index(self) -> usize {
        match self {
            Timer::Transactions => 0,
            Timer::Gathering => 1,
            Timer::Relays => 2,
            Timer::Pacing => 3,
            Timer::Nomination => 4,
            Timer::Consent => 5,
            Timer::Pac => 6,
            Timer::Streams => 7,
        }
    }
}

/// One optional deadline per [`Timer`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TimerTable {
    deadlines: [Option<Instant>; COUNT],
}

impl TimerTable {
    /// Sets (or with `None` stops) a timer.
    pub(crate) fn set(&mut self, timer: Timer, deadline: Option<Instant>) {
        self.deadlines[timer.index()] = deadline;
    }

    /// The deadline of one timer.
    #[cfg(test)]
    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.index()]
    }

    /// Stops every timer.
    pub(crate) fn clear(&mut self) {
        self.deadlines = [None; COUNT];
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn next_is_the_earliest_set_timer() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        assert_eq!(table.next(), None);
        table.set(Timer::Pac, Some(t0 + Duration::from_secs(39)));
        table.set(Timer::Consent, Some(t0 + Duration::from_secs(5)));
        assert_eq!(table.next(), Some(t0 + Duration::from_secs(5)));
        table.set(Timer::Consent, None);
        assert_eq!(table.get(Timer::Consent), None);
        assert_eq!(table.next(), Some(t0 + Duration::from_secs(39)));
        table.clear();
        assert_eq!(table.next(), None);
    }
}
