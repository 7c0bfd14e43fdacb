//! Ta pacing shared between agents (RFC 8445 §14.2).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Hands out transmission slots Ta apart. Clones share the same slots, so several agents in
/// one process together keep to one new STUN transaction per Ta (RFC 8445 §14.2).
#[derive(Clone, Debug)]
pub struct Pacer {
    ta: Duration,
    next_slot: Arc<Mutex<Option<Instant>>>,
}

impl Pacer {
    /// A pacer with interval `ta`.
    /// `ta` is clamped to one day, so a slot never overflows `Instant`.
    pub fn new(ta: Duration) -> Self {
        Self {
            ta: ta.min(Duration::from_secs(86_400)),
            next_slot: Arc::new(Mutex::new(None)),
        }
    }

    /// The interval.
    pub fn ta(&self) -> Duration {
        self.ta
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        // A poisoned lock only means another agent panicked; the slot value is still sound.
        self.next_slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the slot if it is free at `now`; otherwise returns when it frees up.
    pub fn try_acquire(&self, now: Instant) -> Result<(), Instant> {
        let mut slot = self.slot();
        match *slot {
            Some(next) if next > now => Err(next),
            _ => {
                *slot = Some(now.checked_add(self.ta).unwrap_or(now));
                Ok(())
            }
        }
    }

    /// When the next slot is free (`None`: now).
    pub fn next_free(&self) -> Option<Instant> {
        *self.slot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_pacer_spaces_agents_by_ta() {
        let t0 = Instant::now();
        let a = Pacer::new(Duration::from_millis(50));
        let b = a.clone();
        assert!(a.try_acquire(t0).is_ok());
        assert_eq!(b.try_acquire(t0), Err(t0 + Duration::from_millis(50)));
        assert!(b.try_acquire(t0 + Duration::from_millis(50)).is_ok());
        assert!(a.try_acquire(t0 + Duration::from_millis(60)).is_err());
    }
}
