//! The hot paths do not allocate: decoding and verifying an ICE connectivity check, and encoding
//! one into a stack buffer, with a counting global allocator watching.
//!
//! Only allocations made by the thread that is counting are counted, so the test harness's other
//! threads do not interfere.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use floe_stun::attributes::*;
use floe_stun::*;

mod common;
use common::vector;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note_allocation() {
    // `try_with` so that allocations during thread teardown do not panic.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by this thread while running `f`.
///
/// Tests in this binary may run in parallel, so the global counter is only meaningful while a
/// single thread counts; a mutex serializes the counting sections.
fn allocations_during<R>(f: impl FnOnce() -> R) -> (usize, R) {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    ALLOCATIONS.store(0, Ordering::SeqCst);
    COUNTING.with(|c| c.set(true));
    let result = std::hint::black_box(f());
    COUNTING.with(|c| c.set(false));
    (ALLOCATIONS.load(Ordering::SeqCst), result)
}

const PASSWORD: &str = "VOkJxbRl1RmTxUk/WvJxBt";
const TID: TransactionId = TransactionId::new([
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
]);

/// An ICE connectivity check: USERNAME, PRIORITY, ICE-CONTROLLING, USE-CANDIDATE,
/// MESSAGE-INTEGRITY, FINGERPRINT.
fn write_check(buf: &mut [u8], key: &IntegrityKey) -> usize {
    let mut w = MessageWriter::new(buf, MessageType::BINDING_REQUEST, TID).unwrap();
    w.add(&Username("evtj:h6vY")).unwrap();
    w.add(&Priority(0x6e00_01ff)).unwrap();
    w.add(&IceControlling(0x932f_f9b1_5126_3b36)).unwrap();
    w.add(&UseCandidate).unwrap();
    w.add_message_integrity(key).unwrap();
    w.add_fingerprint().unwrap();
    w.finish()
}

#[test]
fn counting_allocator_sees_allocations() {
    // Guards the tests below against a counter that never counts.
    let (n, v) = allocations_during(|| vec![1u8; 64]);
    assert!(n >= 1, "the counting allocator saw {n} allocations");
    drop(v);
}

#[test]
fn decoding_and_verifying_a_binding_request_does_not_allocate() {
    let key = IntegrityKey::short_term(PASSWORD);
    let mut buf = [0u8; 128];
    let len = write_check(&mut buf, &key);
    let bytes = &buf[..len];

    let (n, ok) = allocations_during(|| {
        let msg = Message::decode(bytes).unwrap();
        msg.verify_integrity(&key).unwrap();
        msg.verify_fingerprint().unwrap();
        let username = msg.get::<Username>().unwrap().unwrap();
        let priority = msg.get::<Priority>().unwrap().unwrap();
        let controlling = msg.get::<IceControlling>().unwrap().unwrap();
        let nominated = msg.get::<UseCandidate>().unwrap().is_some();
        let unknown = msg.unknown_comprehension_required().count();
        let tid = msg.transaction_id();
        let all_typed = msg
            .attributes()
            .all(|raw| AnyAttribute::decode(raw, &tid).is_ok());
        username.0 == "evtj:h6vY"
            && priority.0 == 0x6e00_01ff
            && controlling.0 == 0x932f_f9b1_5126_3b36
            && nominated
            && unknown == 0
            && all_typed
    });
    assert!(ok);
    assert_eq!(n, 0, "decode + verify allocated {n} times");
}

#[test]
fn decoding_and_verifying_the_rfc5769_sample_request_does_not_allocate() {
    let bytes = vector("sample-request.hex");
    let key = IntegrityKey::short_term(PASSWORD);

    let (n, ok) = allocations_during(|| {
        let msg = Message::decode(&bytes).unwrap();
        msg.verify_integrity(&key).is_ok()
            && msg.verify_fingerprint().is_ok()
            && msg.get::<Username>().unwrap() == Some(Username("evtj:h6vY"))
            && msg.get::<Priority>().unwrap() == Some(Priority(0x6e00_01ff))
            && msg.get::<IceControlled>().unwrap().is_some()
    });
    assert!(ok);
    assert_eq!(n, 0, "decode + verify allocated {n} times");
}

#[test]
fn encoding_a_connectivity_check_into_a_stack_buffer_does_not_allocate() {
    let key = IntegrityKey::short_term(PASSWORD);
    let (n, (buf, len)) = allocations_during(|| {
        let mut buf = [0u8; 128];
        let len = write_check(&mut buf, &key);
        (buf, len)
    });
    assert_eq!(n, 0, "encoding allocated {n} times");
    let msg = Message::decode(&buf[..len]).unwrap();
    msg.verify_integrity(&key).unwrap();
    msg.verify_fingerprint().unwrap();
    assert!(msg.has(types::USE_CANDIDATE));
}
