//! What the agent answers with: responses to checks (RFC 8445 §7.3) and keepalives (§11).
//!
//! They are queued as what to say, not as bytes, and written straight into the caller's buffer
//! by `IceAgent::poll_transmit`: an agent that answers a check holds no buffer for it, and the
//! answer is encoded once, where it is sent from.

use core::net::SocketAddr;
use std::collections::VecDeque;

use floe_stun::attributes::{ErrorCode, List, UnknownAttributes, XorMappedAddress};
use floe_stun::{IntegrityKey, MessageType, MessageWriter, TransactionId};

use crate::agent::Generation;

/// Most unknown attribute types a 420 lists.
pub(crate) const MAX_UNKNOWN: usize = 8;

/// What the answer to a check says.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Answer {
    /// Success, with XOR-MAPPED-ADDRESS: the source the request came from.
    Success,
    /// An error code and its reason phrase.
    Error(u16, &'static str),
    /// 420 with the unknown comprehension-required attributes (RFC 8489 §6.3.1.1).
    UnknownAttributes { types: [u16; MAX_UNKNOWN], len: u8 },
}

impl Answer {
    /// A 420 listing up to [`MAX_UNKNOWN`] of `types`.
    pub(crate) fn unknown_attributes(types: impl Iterator<Item = u16>) -> Self {
        let mut list = [0u16; MAX_UNKNOWN];
        let mut len = 0;
        for (slot, t) in list.iter_mut().zip(types) {
            *slot = t;
            len += 1;
        }
        Answer::UnknownAttributes { types: list, len }
    }
}

/// One datagram to answer with.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Reply {
    /// The answer to a check, signed with the password of the generation the check was for.
    Answer {
        tid: TransactionId,
        answer: Answer,
        generation: Generation,
    },
    /// A Binding indication with FINGERPRINT (RFC 8445 §11).
    Keepalive { tid: TransactionId },
}

/// A queued reply and its path.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outgoing {
    pub(crate) source: SocketAddr,
    pub(crate) destination: SocketAddr,
    pub(crate) reply: Reply,
}

impl Outgoing {
    /// Writes the reply into `buf`, signing answers with `key`; `None` if it does not fit or
    /// the key is gone.
    pub(crate) fn write(&self, key: Option<&IntegrityKey>, buf: &mut [u8]) -> Option<usize> {
        match self.reply {
            Reply::Keepalive { tid } => {
                let mut w = MessageWriter::new(buf, MessageType::BINDING_INDICATION, tid).ok()?;
                w.add_fingerprint().ok()?;
                Some(w.finish())
            }
            Reply::Answer { tid, answer, .. } => {
                let key = key?;
                let message_type = match answer {
                    Answer::Success => MessageType::BINDING_SUCCESS,
                    Answer::Error(..) | Answer::UnknownAttributes { .. } => {
                        MessageType::BINDING_ERROR
                    }
                };
                let mut w = MessageWriter::new(buf, message_type, tid).ok()?;
                match answer {
                    Answer::Success => w.add(&XorMappedAddress(self.destination)),
                    Answer::Error(code, reason) => w.add(&ErrorCode::new(code, reason)),
                    Answer::UnknownAttributes { types, len } => w
                        .add(&ErrorCode::new(
                            ErrorCode::UNKNOWN_ATTRIBUTE,
                            "Unknown Attribute",
                        ))
                        .and_then(|()| {
                            w.add(&UnknownAttributes(List::Items(&types[..usize::from(len)])))
                        }),
                }
                .ok()?;
                w.add_message_integrity(key).ok()?;
                w.add_fingerprint().ok()?;
                Some(w.finish())
            }
        }
    }

    /// The generation whose password signs it, for answers.
    pub(crate) fn generation(&self) -> Option<Generation> {
        match self.reply {
            Reply::Answer { generation, .. } => Some(generation),
            Reply::Keepalive { .. } => None,
        }
    }
}

/// Most replies queued: answers beyond it are dropped (the peer retransmits its check), so a
/// caller that does not drain `IceAgent::poll_transmit` cannot grow the agent.
const MAX_QUEUED: usize = 64;

/// The queue. Its memory goes once it is drained: an agent answers a check at a time, and an
/// idle one (most of a server's) holds nothing for replies.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    queue: VecDeque<Outgoing>,
}

impl Outbox {
    pub(crate) fn push(&mut self, out: Outgoing) {
        if self.queue.len() < MAX_QUEUED {
            if self.queue.capacity() == 0 {
                self.queue.reserve_exact(1);
            }
            self.queue.push_back(out);
        }
    }

    pub(crate) fn pop(&mut self) -> Option<Outgoing> {
        let out = self.queue.pop_front();
        if out.is_none() && self.queue.capacity() > 0 {
            self.queue = VecDeque::new();
        }
        out
    }

    pub(crate) fn clear(&mut self) {
        self.queue = VecDeque::new();
    }

    /// ICE restart: answers for the generation that just ended are signed with its password
    /// when it is kept as the previous one (`kept`), and dropped otherwise; answers for the
    /// generation before that are gone with it.
    pub(crate) fn on_restart(&mut self, kept: bool) {
        self.queue.retain_mut(|out| match &mut out.reply {
            Reply::Answer { generation, .. } => match (*generation, kept) {
                (Generation::Current, true) => {
                    *generation = Generation::Previous;
                    true
                }
                (Generation::Current, false) => false,
                (Generation::Previous, kept) => !kept,
            },
            Reply::Keepalive { .. } => true,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use floe_stun::{Class, Message};

    fn answer(n: u8, generation: Generation) -> Outgoing {
        Outgoing {
            source: "10.0.0.1:5000".parse().unwrap(),
            destination: "10.0.0.2:6000".parse().unwrap(),
            reply: Reply::Answer {
                tid: TransactionId::new([n; 12]),
                answer: Answer::Success,
                generation,
            },
        }
    }

    fn tid(out: &Outgoing) -> TransactionId {
        match out.reply {
            Reply::Answer { tid, .. } | Reply::Keepalive { tid } => tid,
        }
    }

    #[test]
    fn replies_come_out_in_order_and_a_drained_queue_holds_no_memory() {
        let mut outbox = Outbox::default();
        for n in 0..3 {
            outbox.push(answer(n, Generation::Current));
        }
        for n in 0..3 {
            assert_eq!(tid(&outbox.pop().unwrap()), TransactionId::new([n; 12]));
        }
        assert!(outbox.pop().is_none());
        assert_eq!(outbox.queue.capacity(), 0);
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut outbox = Outbox::default();
        for n in 0..200u32 {
            outbox.push(answer(n as u8, Generation::Current));
        }
        assert_eq!(outbox.queue.len(), MAX_QUEUED);
    }

    #[test]
    fn a_restart_re_signs_kept_answers_with_the_old_password_and_drops_the_rest() {
        let mut outbox = Outbox::default();
        outbox.push(answer(1, Generation::Current));
        outbox.push(answer(2, Generation::Previous));
        outbox.on_restart(true);
        let kept = outbox.pop().unwrap();
        assert_eq!(tid(&kept), TransactionId::new([1; 12]));
        assert_eq!(kept.generation(), Some(Generation::Previous));
        assert!(
            outbox.pop().is_none(),
            "the generation before the previous one is gone"
        );

        outbox.push(answer(3, Generation::Current));
        outbox.push(answer(4, Generation::Previous));
        outbox.on_restart(false);
        let kept = outbox.pop().unwrap();
        assert_eq!(tid(&kept), TransactionId::new([4; 12]));
        assert!(
            outbox.pop().is_none(),
            "nothing signs the ended generation any more"
        );
    }

    #[test]
    fn answers_are_written_signed_with_the_mapped_address_and_a_420_lists_the_unknown() {
        let key = IntegrityKey::short_term("0123456789012345678901");
        let mut buf = [0u8; 548];
        let out = answer(7, Generation::Current);
        let len = out.write(Some(&key), &mut buf).unwrap();
        let msg = Message::decode(&buf[..len]).unwrap();
        assert_eq!(msg.class(), Class::SuccessResponse);
        msg.verify_integrity(&key).unwrap();
        msg.verify_fingerprint().unwrap();
        let Ok(Some(XorMappedAddress(mapped))) = msg.get::<XorMappedAddress>() else {
            panic!("no XOR-MAPPED-ADDRESS");
        };
        assert_eq!(mapped, out.destination);
        assert!(
            out.write(None, &mut buf).is_none(),
            "an answer is never sent unsigned"
        );

        let unknown = Outgoing {
            reply: Reply::Answer {
                tid: TransactionId::new([8; 12]),
                answer: Answer::unknown_attributes([0x7f01, 0x7f02].into_iter()),
                generation: Generation::Current,
            },
            ..out
        };
        let len = unknown.write(Some(&key), &mut buf).unwrap();
        let msg = Message::decode(&buf[..len]).unwrap();
        assert_eq!(msg.class(), Class::ErrorResponse);
        let Ok(Some(UnknownAttributes(List::Encoded(raw)))) = msg.get::<UnknownAttributes>() else {
            panic!("no UNKNOWN-ATTRIBUTES");
        };
        assert_eq!(raw, [0x7f, 0x01, 0x7f, 0x02]);
    }
}
