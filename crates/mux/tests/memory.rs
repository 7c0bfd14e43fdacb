//! A flood of 1,000,000 random and malformed datagrams (garbage, STUN with unknown ufrags,
//! responses to nothing, malformed STUN, ChannelData headers, data from unknown addresses)
//! through `route` while sessions are registered: nothing is allocated, the tables keep their
//! sizes, and every session still routes as before.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;

use floe_mux::{Mux, MuxConfig};
use floe_stun::attributes::{Priority, Username};
use floe_stun::{MessageType, MessageWriter, TransactionId};

/// Counts this thread's allocations and live bytes (the test harness's own threads allocate
/// at their own pace, and are not what is measured).
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn note(allocations: u64, bytes: isize) {
    let _ = ALLOCATIONS.try_with(|a| a.set(a.get() + allocations));
    let _ = LIVE.try_with(|l| l.set(l.get() + bytes));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(1, layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(1, layout.size() as isize);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(0, -(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(1, new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counters() -> (u64, isize) {
    (ALLOCATIONS.with(Cell::get), LIVE.with(Cell::get))
}

const SESSIONS: u32 = 1_000;
const FLOOD: usize = 1_000_000;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let r = self.next().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
    }
}

fn ufrag(key: u32) -> String {
    format!("sess{key:06}")
}

fn remote(key: u32) -> SocketAddr {
    SocketAddr::from(([10, 0, (key >> 8) as u8, key as u8], 40_000))
}

fn tid(key: u32) -> TransactionId {
    let mut t = [0x5a; 12];
    t[..4].copy_from_slice(&key.to_be_bytes());
    TransactionId::new(t)
}

fn stun(out: &mut [u8], message_type: MessageType, id: TransactionId, user: Option<&str>) -> usize {
    let mut w = MessageWriter::new(out, message_type, id).unwrap();
    if let Some(user) = user {
        w.add(&Username(user)).unwrap();
    }
    w.add(&Priority(1)).unwrap();
    w.add_fingerprint().unwrap();
    w.finish()
}

/// One hostile datagram into `out`; returns its length and source.
fn hostile(rng: &mut Rng, out: &mut [u8]) -> (usize, SocketAddr) {
    let r = rng.next();
    // Sources outside 10/8, where the sessions' peers are.
    let from = SocketAddr::from((
        [198, 18 + (r & 1) as u8, (r >> 8) as u8, (r >> 16) as u8],
        (r >> 24) as u16,
    ));
    let len = match (r >> 40) % 6 {
        // Garbage of any length, any first byte.
        0 => {
            let len = (r >> 48) as usize % 600;
            rng.fill(&mut out[..len]);
            len
        }
        // A well-formed check naming a ufrag nobody has (some of them near misses).
        1 => {
            let mut user = [0u8; 24];
            let n = 4 + (r >> 48) as usize % 16;
            for b in &mut user[..n] {
                *b = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                    [rng.next() as usize % 64];
            }
            if r >> 60 == 0 {
                user[..10].copy_from_slice(b"sess999999");
            }
            user[n] = b':';
            user[n + 1..n + 5].copy_from_slice(b"peer");
            let username = std::str::from_utf8(&user[..n + 5]).unwrap();
            let mut t = [0u8; 12];
            rng.fill(&mut t);
            stun(
                out,
                MessageType::BINDING_REQUEST,
                TransactionId::new(t),
                Some(username),
            )
        }
        // Responses, indications and requests without USERNAME: nobody's transaction or address.
        2 => {
            let mut t = [0u8; 12];
            rng.fill(&mut t);
            let message_type = match (r >> 48) % 4 {
                0 => MessageType::BINDING_SUCCESS,
                1 => MessageType::BINDING_ERROR,
                2 => MessageType::BINDING_INDICATION,
                _ => MessageType::BINDING_REQUEST,
            };
            stun(out, message_type, TransactionId::new(t), None)
        }
        // STUN header with a random body: lengths that lie, attributes that overrun.
        3 => {
            let body = ((r >> 48) as usize % 128) & !3;
            rng.fill(&mut out[..20 + body]);
            out[0] &= 0x3f;
            out[4..8].copy_from_slice(&floe_stun::MAGIC_COOKIE.to_be_bytes());
            let declared = if r >> 63 == 0 { body } else { body + 4 };
            out[2..4].copy_from_slice(&(declared as u16).to_be_bytes());
            20 + body
        }
        // ChannelData headers (RFC 8656 §12.4), any channel and length.
        4 => {
            let len = 4 + (r >> 48) as usize % 64;
            rng.fill(&mut out[..len]);
            out[0] = 0x40 | (out[0] & 0x3f);
            len
        }
        // A registered session's check, truncated: malformed.
        _ => {
            let key = (r >> 48) as u32 % SESSIONS;
            let user = format!("{}:peer", ufrag(key));
            let len = stun(out, MessageType::BINDING_REQUEST, tid(key), Some(&user));
            len - 1 - (r >> 56) as usize % 8
        }
    };
    (len, from)
}

#[test]
fn a_million_hostile_datagrams_leave_memory_flat_and_sessions_undisturbed() {
    let mut mux: Mux<u32> = Mux::new(MuxConfig::default());
    let mut request = [0u8; 128];
    for key in 0..SESSIONS {
        mux.insert(key, &ufrag(key)).unwrap();
        mux.learn_remote(key, remote(key));
        let len = stun(&mut request, MessageType::BINDING_REQUEST, tid(key), None);
        mux.on_transmit(key, remote(key), &request[..len]);
    }
    let before = mux.stats();
    assert_eq!(
        (before.sessions, before.remotes, before.transactions),
        (1000, 1000, 1000)
    );

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut buf = [0u8; 700];
    let (mut allocations, mut live) = (0u64, 0isize);
    for _ in 0..FLOOD {
        let (len, from) = hostile(&mut rng, &mut buf);
        let (a0, l0) = counters();
        let routed = mux.route(from, &buf[..len]);
        let (a1, l1) = counters();
        allocations += a1 - a0;
        live += l1 - l0;
        assert_eq!(routed, None);
    }
    let after = mux.stats();
    println!("{after:?}");
    assert_eq!(allocations, 0, "route allocated");
    assert_eq!(live, 0);
    assert_eq!(
        (after.sessions, after.remotes, after.transactions),
        (before.sessions, before.remotes, before.transactions)
    );
    assert_eq!(after.routed, 0);
    let dropped = after.dropped_unknown_ufrag
        + after.dropped_unknown_remote
        + after.dropped_unknown_transaction
        + after.dropped_malformed;
    assert_eq!(dropped, FLOOD as u64);
    for count in [
        after.dropped_unknown_ufrag,
        after.dropped_unknown_remote,
        after.dropped_unknown_transaction,
        after.dropped_malformed,
    ] {
        assert!(count > 50_000, "{after:?}");
    }

    // Every session routes as before: by ufrag, by address, and its pending response.
    let mut out = [0u8; 128];
    for key in 0..SESSIONS {
        let user = format!("{}:peer", ufrag(key));
        let len = stun(
            &mut out,
            MessageType::BINDING_REQUEST,
            tid(9999),
            Some(&user),
        );
        assert_eq!(
            mux.route(remote(SESSIONS - 1 - key), &out[..len]),
            Some(key)
        );
        assert_eq!(mux.route(remote(key), b"data"), Some(key));
        let len = stun(&mut out, MessageType::BINDING_SUCCESS, tid(key), None);
        assert_eq!(mux.route(remote(key), &out[..len]), Some(key));
    }
}
