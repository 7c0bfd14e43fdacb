//! What the agent benchmarks share: a counting allocator (live bytes and allocation count, for
//! the memory tables) and the controlling peer's check. Include it with `mod common;`.
#![allow(dead_code)] // each bench uses its own part

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

use floe_ice::IceAgent;
use floe_stun::attributes::{IceControlling, Priority, UseCandidate, Username};
use floe_stun::{IntegrityKey, MessageType, MessageWriter, TransactionId};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes allocated and not freed.
pub fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Allocations (and reallocations) so far.
pub fn allocations() -> usize {
    ALLOCATIONS.load(Ordering::Relaxed)
}

pub const PEER_UFRAG: &str = "peer";
pub const PEER_PWD: &str = "peer-password-0123456789";
pub const PEER_TIE_BREAKER: u64 = u64::MAX;

pub fn v4(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), port))
}

/// The controlling peer's check: USERNAME, PRIORITY, ICE-CONTROLLING, optionally USE-CANDIDATE,
/// MESSAGE-INTEGRITY with the agent's password, FINGERPRINT.
pub fn peer_request(agent: &IceAgent, tid: [u8; 12], use_candidate: bool) -> Vec<u8> {
    let creds = agent.local_credentials();
    let key = IntegrityKey::short_term(&creds.pwd);
    let mut buf = [0u8; 256];
    let username = format!("{}:{PEER_UFRAG}", creds.ufrag);
    let len = write_peer_check(&mut buf, &username, &key, tid, use_candidate);
    buf[..len].to_vec()
}

/// [`peer_request`] into `buf` (256 bytes are plenty), for any credentials: `username` is
/// `agent_ufrag:peer_ufrag`, `key` the agent's (the answerer's) password. Returns the length.
pub fn write_peer_check(
    buf: &mut [u8],
    username: &str,
    key: &IntegrityKey,
    tid: [u8; 12],
    use_candidate: bool,
) -> usize {
    let mut w =
        MessageWriter::new(buf, MessageType::BINDING_REQUEST, TransactionId::new(tid)).unwrap();
    w.add(&Username(username)).unwrap();
    w.add(&Priority(0x6e00_01ff)).unwrap();
    w.add(&IceControlling(PEER_TIE_BREAKER)).unwrap();
    if use_candidate {
        w.add(&UseCandidate).unwrap();
    }
    w.add_message_integrity(key).unwrap();
    w.add_fingerprint().unwrap();
    w.finish()
}
