//! Why connectivity checks failed, in words a user can act on: each pair remembers why it
//! failed ([`PairFailure`]), and [`CheckSummary`] adds the pairs up with what the agent saw of
//! the candidates, the peer's answers and the TURN servers. [`crate::IceFailure::NoWorkingPair`]
//! carries the summary taken when the agent gave up; [`IceAgent::check_summary`] takes one at
//! any time (an application that stops waiting before the PAC timer says why with it).

use core::fmt;

use floe_stun::attributes::ErrorCode;
use floe_stun::redact::Addr;
use tracing::info;

use crate::agent::IceAgent;
use crate::checks::SentCheck;
use crate::pair::{PairId, PairState};

/// Why a candidate pair failed (RFC 8445 §7.2.5.2), as [`crate::CandidatePair::failure`] says.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum PairFailure {
    /// No response to any transmission of the check (RFC 8489 §6.2.1).
    TimedOut,
    /// Responses came, but every one failed its MESSAGE-INTEGRITY check and was discarded;
    /// RFC 8489 §9.1.4 then signals that "the integrity protection was violated" instead of a
    /// timeout. The peer does not hold the password the check was signed with: `code` is the
    /// ERROR-CODE of such a response, if it was an error (401 when the peer could not
    /// authenticate the check, RFC 8489 §9.1.3).
    IntegrityViolated {
        /// The code of an unauthenticated error response, if any.
        code: Option<u16>,
    },
    /// An authenticated error response other than 487 (RFC 8445 §7.2.5.2.4): its ERROR-CODE.
    ErrorResponse(u16),
    /// The response came from another address than the request went to, or arrived on another
    /// base (RFC 8445 §7.2.5.2.1).
    NonSymmetric,
    /// The response carried comprehension-required attributes the agent does not know, which
    /// fails the transaction (RFC 8489 §6.3.3, §6.3.4).
    UnusableResponse,
    /// The check left from a relayed candidate whose TURN server refused a permission for the
    /// peer (RFC 8656 §9), so the server dropped it: the TURN error code, if there was one.
    TurnPermission(Option<u16>),
    /// The check could not be started (too many transactions outstanding).
    NotSent,
    /// The check was stopped when another pair was selected (RFC 8445 §8.1.2).
    Stopped,
}

impl fmt::Display for PairFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PairFailure::TimedOut => f.write_str("timed out"),
            PairFailure::IntegrityViolated { code: Some(code) } => {
                write!(f, "got {} (unauthenticated)", Code(code))
            }
            PairFailure::IntegrityViolated { code: None } => {
                f.write_str("answers failed the integrity check")
            }
            PairFailure::ErrorResponse(code) => write!(f, "got {}", Code(code)),
            PairFailure::NonSymmetric => f.write_str("answered from another address"),
            PairFailure::UnusableResponse => f.write_str("answer with unknown attributes"),
            PairFailure::TurnPermission(Some(code)) => {
                write!(f, "TURN permission refused ({})", Code(code))
            }
            PairFailure::TurnPermission(None) => f.write_str("TURN permission failed"),
            PairFailure::NotSent => f.write_str("check could not be sent"),
            PairFailure::Stopped => f.write_str("stopped: another pair was selected"),
        }
    }
}

/// An error code with its reason phrase from the RFCs that define it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Code(pub(crate) u16);

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // RFC 8489 §14.8, RFC 8445 §16.1 (487), RFC 8656 §18 (TURN codes).
        let phrase = match self.0 {
            ErrorCode::TRY_ALTERNATE => "Try Alternate",
            ErrorCode::BAD_REQUEST => "Bad Request",
            ErrorCode::UNAUTHENTICATED => "Unauthenticated",
            ErrorCode::FORBIDDEN => "Forbidden",
            ErrorCode::UNKNOWN_ATTRIBUTE => "Unknown Attribute",
            ErrorCode::ALLOCATION_MISMATCH => "Allocation Mismatch",
            ErrorCode::STALE_NONCE => "Stale Nonce",
            ErrorCode::ADDRESS_FAMILY_NOT_SUPPORTED => "Address Family not Supported",
            ErrorCode::WRONG_CREDENTIALS => "Wrong Credentials",
            ErrorCode::UNSUPPORTED_TRANSPORT => "Unsupported Transport Protocol",
            ErrorCode::PEER_ADDRESS_FAMILY_MISMATCH => "Peer Address Family Mismatch",
            ErrorCode::ALLOCATION_QUOTA_REACHED => "Allocation Quota Reached",
            ErrorCode::ROLE_CONFLICT => "Role Conflict",
            ErrorCode::SERVER_ERROR => "Server Error",
            ErrorCode::INSUFFICIENT_CAPACITY => "Insufficient Capacity",
            _ => return write!(f, "error {}", self.0),
        };
        write!(f, "{} {phrase}", self.0)
    }
}

/// What the agent's candidates and checks went through, added up: the words of
/// [`crate::IceFailure::NoWorkingPair`]. Its `Display` names the most likely cause and what to
/// check, e.g. "no candidate pair succeeded: 4 pairs tried, 3 timed out, 1 got 401
/// Unauthenticated — check the ice-ufrag and ice-pwd passed through signaling".
///
/// Counts cover the current ICE generation (an ICE restart starts them again).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
#[non_exhaustive]
pub struct CheckSummary {
    /// The agent was controlling when the summary was taken.
    pub controlling: bool,
    /// The peer's ice-ufrag and ice-pwd were known.
    pub remote_credentials: bool,
    /// Local candidates gathered (peer-reflexive ones included).
    pub local_candidates: u32,
    /// Remote candidates known, signalled or peer-reflexive.
    pub remote_candidates: u32,
    /// Remote candidates refused (invalid, unsupported component, over the limit) or ignored
    /// (after the peer's end-of-candidates).
    pub remote_refused: u32,
    /// Candidate pairs on the check list.
    pub pairs: u32,
    /// Pairs at least one check was sent on.
    pub tried: u32,
    /// Pairs whose check succeeded.
    pub succeeded: u32,
    /// Pairs whose check is in flight, unanswered so far.
    pub in_progress: u32,
    /// Pairs not checked yet (Frozen or Waiting).
    pub pending: u32,
    /// Pairs whose checks went unanswered ([`PairFailure::TimedOut`]).
    pub timed_out: u32,
    /// Pairs whose only answers failed their integrity check and were no error responses
    /// ([`PairFailure::IntegrityViolated`] without a code; those with a code count under
    /// [`CheckSummary::error_codes`]).
    pub integrity_violated: u32,
    /// Pairs answered from another address ([`PairFailure::NonSymmetric`]).
    pub non_symmetric: u32,
    /// Relayed pairs whose TURN permission for the peer failed ([`PairFailure::TurnPermission`]).
    pub turn_permission_failed: u32,
    /// Pairs that failed otherwise (checks not sent, stopped by a selection).
    pub other_failures: u32,
    /// Pairs the peer's checks arrived on: the path works towards us.
    pub checked_by_peer: u32,
    /// Checks from the peer dropped because their MESSAGE-INTEGRITY did not match our
    /// ice-pwd: the peer holds another password than ours.
    pub peer_checks_refused: u32,
    /// 487 Role Conflict answers received (RFC 8445 §7.2.5.1).
    pub role_conflicts: u32,
    /// TURN allocations requested.
    pub turn_allocations: u32,
    /// TURN allocations that failed.
    pub turn_failed: u32,
    /// The error code of the last TURN allocation that failed with one (401 also when its
    /// answers failed their integrity check); `None` when none did, or the server did not
    /// answer.
    pub turn_error: Option<u16>,
    /// (code, pairs) of the error responses pairs failed with, authenticated or not, in the
    /// order first seen; see [`CheckSummary::error_codes`].
    errors: [(u16, u32); 4],
}

impl CheckSummary {
    /// The error codes pairs failed with and how many pairs got each (up to four codes).
    pub fn error_codes(&self) -> impl Iterator<Item = (u16, u32)> + '_ {
        self.errors.iter().copied().filter(|(_, n)| *n > 0)
    }

    fn count_error(&mut self, code: u16) {
        if let Some(slot) = self.errors.iter_mut().find(|(c, n)| *c == code || *n == 0) {
            slot.0 = code;
            slot.1 += 1;
        } else {
            self.other_failures += 1;
        }
    }

    fn has_error(&self, code: u16) -> bool {
        self.error_codes().any(|(c, _)| c == code)
    }

    /// The outcomes of the pairs that failed, as ", 3 timed out, 1 got 401 Unauthenticated".
    fn write_outcomes(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.timed_out > 0 {
            write!(f, ", {} timed out", self.timed_out)?;
        }
        for (code, n) in self.error_codes() {
            write!(f, ", {n} got {}", Code(code))?;
        }
        let rest = [
            (
                self.integrity_violated,
                "got answers that failed the integrity check",
            ),
            (self.non_symmetric, "answered from another address"),
            (
                self.turn_permission_failed,
                "could not get a TURN permission",
            ),
            (self.other_failures, "failed otherwise"),
            (self.in_progress, "still unanswered"),
            (self.pending, "not checked yet"),
        ];
        for (n, what) in rest {
            if n > 0 {
                write!(f, ", {n} {what}")?;
            }
        }
        if self.role_conflicts > 0 {
            write!(f, " ({} role conflicts)", self.role_conflicts)?;
        }
        Ok(())
    }

    /// What to check, from what the pairs went through.
    fn hint(&self) -> Option<&'static str> {
        if self.integrity_violated > 0
            || self.peer_checks_refused > 0
            || self.has_error(ErrorCode::UNAUTHENTICATED)
        {
            return Some(CHECK_CREDENTIALS);
        }
        if self.turn_permission_failed > 0 {
            return Some("the TURN server refused to relay to the peer's address");
        }
        if self.has_error(ErrorCode::ROLE_CONFLICT) {
            return Some("both sides kept claiming the same ICE role");
        }
        let unanswered = self.timed_out + self.in_progress;
        if unanswered > 0 && unanswered == self.tried {
            if self.checked_by_peer > 0 {
                return Some(
                    "the peer's checks reach us but ours get no answer: the peer drops them \
                     (another ice-pwd?) or a firewall or NAT on the way does",
                );
            }
            return Some(
                "nothing answered: the peer's addresses cannot be reached from here (firewall, \
                 NAT, another network); a TURN server would get through",
            );
        }
        None
    }

    fn write_turn(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.turn_error {
            Some(code @ (ErrorCode::UNAUTHENTICATED | ErrorCode::WRONG_CREDENTIALS)) => write!(
                f,
                "the TURN server refused the credentials ({}) — check the TURN user name and \
                 password",
                Code(code)
            ),
            Some(code) => write!(f, "the TURN allocation failed ({})", Code(code)),
            None => f.write_str(
                "the TURN server did not answer — check its address, and that UDP to it is \
                 allowed",
            ),
        }
    }
}

/// A duration in milliseconds to the microsecond, as log fields show round trips.
pub(crate) fn millis(d: core::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// The hint when credentials look wrong: they travel with the offer and answer.
const CHECK_CREDENTIALS: &str = "check the ice-ufrag and ice-pwd passed through signaling";

fn plural(n: u32, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 {
        one
    } else {
        many
    }
}

impl fmt::Display for CheckSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.remote_credentials {
            return f.write_str("the peer's ice-ufrag and ice-pwd never arrived — check signaling");
        }
        if self.local_candidates == 0 {
            f.write_str("no local candidates: ")?;
            if self.turn_failed > 0 {
                return self.write_turn(f);
            }
            return f
                .write_str("nothing was gathered — check the local addresses and the ICE servers");
        }
        if self.remote_candidates == 0 {
            if self.remote_refused > 0 {
                let n = self.remote_refused;
                return write!(
                    f,
                    "the peer's {n} {} refused or ignored — the log says why",
                    plural(n, "candidate was", "candidates were")
                );
            }
            return f.write_str("the peer sent no candidates — check signaling");
        }
        if self.pairs == 0 {
            let (l, r) = (self.local_candidates, self.remote_candidates);
            return write!(
                f,
                "no candidate pair could be formed from {l} local and {r} remote {}: no address \
                 family in common",
                plural(r, "candidate", "candidates")
            );
        }
        if self.succeeded > 0 {
            let (s, p) = (self.succeeded, self.pairs);
            write!(
                f,
                "{s} of {p} candidate {} succeeded but none was nominated",
                plural(p, "pair", "pairs")
            )?;
            if !self.controlling {
                f.write_str(" — the controlling peer never sent USE-CANDIDATE")?;
            }
            if self.peer_checks_refused > 0 {
                write!(
                    f,
                    "; {} checks from the peer failed our integrity check — {CHECK_CREDENTIALS}",
                    self.peer_checks_refused
                )?;
            }
            return Ok(());
        }
        let (p, t) = (self.pairs, self.tried);
        if p == t {
            write!(
                f,
                "no candidate pair succeeded: {t} {} tried",
                plural(t, "pair", "pairs")
            )?;
        } else {
            write!(
                f,
                "no candidate pair succeeded: {p} {}, {t} tried",
                plural(p, "pair", "pairs")
            )?;
        }
        self.write_outcomes(f)?;
        if let Some(hint) = self.hint() {
            write!(f, " — {hint}")?;
        }
        if self.turn_failed > 0 {
            f.write_str("; ")?;
            self.write_turn(f)?;
        }
        Ok(())
    }
}

/// Counts the agent keeps for [`CheckSummary`] that no pair holds.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Diagnostics {
    pub(crate) remote_refused: u32,
    pub(crate) peer_checks_refused: u32,
    pub(crate) role_conflicts: u32,
    pub(crate) turn_failed: u32,
    pub(crate) turn_error: Option<u16>,
}

impl IceAgent {
    /// A check failed (error, timeout, asymmetric answer). Only the pair's current check
    /// decides its state: a cancelled one (§7.3.1.4) or a stale one changes nothing. A timeout
    /// after answers that failed their integrity check, or a refused TURN permission, is
    /// reported as that (RFC 8489 §9.1.4).
    pub(crate) fn fail_check(&mut self, check: SentCheck, why: PairFailure) {
        let Some(pair) = self
            .checklist
            .get(check.pair)
            .filter(|p| p.transaction == Some(check.transaction))
        else {
            return;
        };
        let why = match why {
            PairFailure::TimedOut => pair.timeout_means.unwrap_or(why),
            other => other,
        };
        self.fail_pair(check.pair, why);
    }

    /// Marks a pair Failed, for `why`. A failed nominating check leaves the pair neither valid
    /// nor nominated, and a nomination the peer sent for it is forgotten: nothing is ever sent
    /// on a pair whose check did not succeed (RFC 7675 §5.1).
    pub(crate) fn fail_pair(&mut self, pair_id: PairId, why: PairFailure) {
        if let Some(pair) = self.checklist.get_mut(pair_id) {
            if pair.nominating {
                pair.valid = false;
                pair.nominated = false;
            }
            pair.state = PairState::Failed;
            pair.failure = Some(why);
            pair.transaction = None;
            pair.nominating = false;
            pair.nominate_on_success = false;
            info!(
                pair = pair_id.0,
                local = %Addr(pair.base),
                remote = %Addr(pair.remote_addr),
                reason = %why,
                "candidate pair failed"
            );
        }
        self.note_if_exhausted();
    }

    /// Says once, when the last pair left to check fails, why none works: the agent itself
    /// waits for new candidates until the PAC timer (RFC 8863 §4) before it gives up, but a
    /// user reading the log need not.
    fn note_if_exhausted(&self) {
        if self.selected.is_none()
            && !self.checklist.has_pending()
            && !self.checklist.pairs().iter().any(|p| p.valid)
        {
            info!(summary = %self.check_summary(), "every candidate pair failed");
        }
    }

    /// What the candidates and checks of this ICE generation went through so far; its
    /// `Display` says why no pair works yet, in words a user can act on.
    pub fn check_summary(&self) -> CheckSummary {
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let mut s = CheckSummary {
            controlling: self.controlling,
            remote_credentials: self.remote.credentials.is_some(),
            local_candidates: count(self.local.candidates.len()),
            remote_candidates: count(self.remote.candidates.len()),
            remote_refused: self.diagnostics.remote_refused,
            peer_checks_refused: self.diagnostics.peer_checks_refused,
            pairs: count(self.checklist.len()),
            role_conflicts: self.diagnostics.role_conflicts,
            turn_allocations: count(self.relays.len()),
            turn_failed: self.diagnostics.turn_failed,
            turn_error: self.diagnostics.turn_error,
            ..CheckSummary::default()
        };
        for pair in self.checklist.pairs() {
            if pair.stats.requests_sent > 0 {
                s.tried += 1;
            }
            if pair.stats.requests_received > 0 {
                s.checked_by_peer += 1;
            }
            match pair.state {
                PairState::Succeeded => s.succeeded += 1,
                PairState::InProgress => s.in_progress += 1,
                PairState::Frozen | PairState::Waiting => s.pending += 1,
                PairState::Failed => match pair.failure {
                    Some(PairFailure::TimedOut) => s.timed_out += 1,
                    Some(PairFailure::IntegrityViolated { code: None }) => {
                        s.integrity_violated += 1;
                    }
                    Some(PairFailure::IntegrityViolated { code: Some(code) }) => {
                        s.count_error(code);
                    }
                    Some(PairFailure::ErrorResponse(code)) => s.count_error(code),
                    Some(PairFailure::NonSymmetric) => s.non_symmetric += 1,
                    Some(PairFailure::TurnPermission(_)) => s.turn_permission_failed += 1,
                    Some(
                        PairFailure::NotSent | PairFailure::Stopped | PairFailure::UnusableResponse,
                    )
                    | None => {
                        s.other_failures += 1;
                    }
                },
            }
        }
        s
    }
}
