//! Interop through the driver: the real `floe call` / `floe answer` commands against aioice
//! (Python) through the real `floe signal` server, both roles, host candidates on 127.0.0.1,
//! datagrams both ways. The aioice side is `tests/aioice_signaling_peer.py`, run with the Python
//! named by `FLOE_PYTHON` (CI installs aioice 0.13.0 in a venv and sets it) or `python3`.
//!
//! Without aioice the tests are skipped with a message, except in CI (`CI` set), where they fail.
//! The relay-only case through coturn also needs TURN in the driver: it is skipped until
//! `floe call --help` offers `--turn`.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{coturn_installed, python_can, signal_url, Coturn, Guard, FLOE};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/aioice_signaling_peer.py"
);
const PING: &str = "ping from floe";
const HELLO: &str = "hello from aioice";

fn python() -> String {
    std::env::var("FLOE_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn aioice_available() -> bool {
    python_can(
        &python(),
        "import aioice",
        "aioice",
        "pip install aioice==0.13.0, or set FLOE_PYTHON",
    )
}

/// Waits for the child to exit, killing it after `limit`; returns (success, stdout, stderr).
/// Output is read on threads so a chatty child cannot block on a full pipe.
fn finish(mut g: Guard, limit: Duration, what: &str) -> (bool, String, String) {
    let mut out = g.0.stdout.take().expect("stdout piped");
    let mut err = g.0.stderr.take().expect("stderr piped");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = g.0.try_wait().expect("wait") {
            break Some(s);
        }
        if start.elapsed() > limit {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(g); // kills it if still running, which closes the pipes
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    let Some(status) = status else {
        panic!("{what} did not finish in {limit:?}\nstdout:\n{out}\nstderr:\n{err}");
    };
    (status.success(), out, err)
}

fn spawn(program: &str, args: &[&str]) -> Guard {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    Guard(child)
}

/// Checks the floe peer's `--json` timeline: connected, echo of its own message received, the
/// aioice hello received and echoed, a host pair on 127.0.0.1.
fn check_floe(ok: bool, out: &str, err: &str) {
    assert!(ok, "floe failed\nstdout:\n{out}\nstderr:\n{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l:?}")))
        .collect();
    let has = |event: &str, message: &str| {
        lines
            .iter()
            .any(|l| l["event"] == event && l["data"] == message)
    };
    assert!(has("message", HELLO), "no hello from aioice:\n{out}");
    assert!(has("echo", HELLO), "hello not echoed:\n{out}");
    let result = lines.last().unwrap();
    assert_eq!(result["result"], "connected", "{out}");
    assert_eq!(result["echo_ok"], true, "{out}");
    let pair = result["selected_pair"].as_str().unwrap_or_default();
    assert!(
        pair.starts_with("host ") && pair.contains("127.0.0.1:"),
        "{pair}"
    );
    println!("floe: {pair}");
}

fn check_aioice(ok: bool, out: &str, err: &str) {
    assert!(ok, "aioice peer failed\nstdout:\n{out}\nstderr:\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    for want in [
        "connected",
        &format!("got {PING}"),
        &format!("got {HELLO}"),
        "done",
    ] {
        assert!(lines.contains(&want), "aioice: no {want:?}:\n{out}\n{err}");
    }
}

const LIMIT: Duration = Duration::from_secs(25);

/// `floe call --send PING --echo` to aioice answering in `room` (with `py_extra` flags): both
/// sides checked; returns floe's and aioice's stdout.
fn floe_calls_aioice(room: &str, py_extra: &[&str]) -> (String, String) {
    let (_signal, url) = signal_url(room);
    // aioice joins first so the offer is not waiting for the once-a-second resend.
    let mut py_args = vec!["-u", SCRIPT, "answer", &url, "20"];
    py_args.extend_from_slice(py_extra);
    let py = spawn(&python(), &py_args);
    std::thread::sleep(Duration::from_millis(300));
    let floe = spawn(
        FLOE,
        &[
            "call",
            &url,
            "--bind",
            "127.0.0.1",
            "--send",
            PING,
            "--echo",
            "--timeout",
            "20",
            "--json",
        ],
    );
    let (ok, out, err) = finish(floe, LIMIT, "floe call");
    let (py_ok, py_out, py_err) = finish(py, Duration::from_secs(5), "aioice peer");
    check_aioice(py_ok, &py_out, &py_err);
    check_floe(ok, &out, &err);
    (out, py_out)
}

#[test]
fn floe_calls_aioice_answers() {
    if !aioice_available() {
        return;
    }
    floe_calls_aioice("floe-calls", &[]);
}

#[test]
fn aioice_calls_floe_answers() {
    if !aioice_available() {
        return;
    }
    let (_signal, url) = signal_url("aioice-calls");
    let floe = spawn(
        FLOE,
        &[
            "answer",
            &url,
            "--include-loopback",
            "--send",
            PING,
            "--echo",
            "--timeout",
            "20",
            "--json",
        ],
    );
    let py = spawn(&python(), &["-u", SCRIPT, "offer", &url, "20"]);
    let (py_ok, py_out, py_err) = finish(py, LIMIT, "aioice peer");
    let (ok, out, err) = finish(floe, Duration::from_secs(5), "floe answer");
    check_aioice(py_ok, &py_out, &py_err);
    check_floe(ok, &out, &err);
}

/// `--send` is repeated every second until echoed: aioice answering ignores the first
/// application datagram it receives (a peer not ready for data yet), and floe still gets its
/// echo, from the resend.
#[test]
fn send_survives_a_peer_that_drops_the_first_datagram() {
    if !aioice_available() {
        return;
    }
    let (out, py_out) = floe_calls_aioice("drop-first", &["--drop-first"]);
    assert!(
        py_out.lines().any(|l| l == format!("dropped {PING}")),
        "aioice dropped nothing:\n{py_out}"
    );
    let sends = out
        .lines()
        .filter(|l| l.contains("\"event\":\"send\""))
        .count();
    assert!(sends >= 2, "the probe was sent again:\n{out}");
}

/// Relay-only: both peers allowed relay candidates only, through one coturn.
#[test]
fn relay_only_through_coturn() {
    let help = Command::new(FLOE)
        .args(["call", "--help"])
        .output()
        .expect("floe call --help");
    let help = String::from_utf8_lossy(&help.stdout);
    if !help.contains("--turn") {
        eprintln!("SKIPPED: the driver has no TURN yet (`floe call --help` offers no --turn)");
        return;
    }
    if !aioice_available() {
        return;
    }
    if !coturn_installed() {
        return;
    }
    let coturn = Coturn::start(&["127.0.0.1"], None);
    let (_signal, url) = signal_url("relay-only");
    let turn = format!("127.0.0.1:{}", coturn.port);
    let floe = spawn(
        FLOE,
        &[
            "answer",
            &url,
            "--bind",
            "127.0.0.1",
            "--turn",
            &turn,
            "--user",
            "alice",
            "--pass",
            "secret",
            "--relay-only",
            "--send",
            PING,
            "--echo",
            "--timeout",
            "20",
            "--json",
        ],
    );
    let py = spawn(
        &python(),
        &[
            "-u",
            SCRIPT,
            "offer",
            &url,
            "20",
            "--turn",
            &turn,
            "--turn-user",
            "alice",
            "--turn-password",
            "secret",
        ],
    );
    let (py_ok, py_out, py_err) = finish(py, LIMIT, "aioice peer");
    let (ok, out, err) = finish(floe, Duration::from_secs(5), "floe answer");
    check_aioice(py_ok, &py_out, &py_err);
    assert!(ok, "floe failed\nstdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("relay"), "no relayed pair:\n{out}");
}
