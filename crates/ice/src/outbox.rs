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
