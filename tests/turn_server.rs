//! `floe turn-server` against coturn's own TURN client, `turnutils_uclient`, on loopback: relaying
//! to coturn's `turnutils_peer` (an echo peer), and client to client through two allocations;
//! a wrong password is refused. Plus the command's own errors.
//!
//! `turnutils_uclient` runs with `-c` (no RTCP allocation: that one asks for an EVEN-PORT
//! reservation, which floe's server answers with 508) and `-s` (Send indications: its channel
//! numbers are drawn from RFC 5766's 0x4000-0x7FFF, while floe follows RFC 8656's 0x4000-0x4FFF
//! and refuses the others with 400). Channels are covered by the relay-only call in
//! `tests/peers.rs`.
//!
//! Without coturn installed the tests print that they skipped, except in CI (`CI` set), where
//! they fail.

mod coturn;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use coturn::{coturn_installed, free_port, programs_installed, run, text, Guard, FLOE};

/// True when coturn's test clients are installed too (see [`coturn_installed`]).
fn uclient_installed() -> bool {
    coturn_installed() && programs_installed(&["turnutils_uclient", "turnutils_peer"])
}

/// Starts `floe turn-server ARGS... --json`; returns it and its first line.
fn floe_turn_server(args: &[&str]) -> (Guard, Value) {
    let mut child = Command::new(FLOE)
        .arg("turn-server")
        .args(args)
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn floe turn-server");
    let stdout = child.stdout.take().unwrap();
    let guard = Guard(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read");
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line:?}"));
    (guard, v)
}

/// The port `floe turn-server` reported, after checking the rest of its first line.
fn listening_port(v: &Value) -> u16 {
    assert_eq!(v["event"], "listening", "{v}");
    assert_eq!(v["relay_ip"], "127.0.0.1", "{v}");
    let addr: SocketAddr = v["addresses"][0].as_str().unwrap().parse().unwrap();
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    addr.port()
}

/// Parses `turnutils_uclient`'s summary: (messages sent, messages received, lost packets).
fn uclient_totals(stdout: &str) -> (u64, u64, u64) {
    let number_after = |key: &str| -> Option<u64> {
        let line = stdout.lines().rev().find(|l| l.contains(key))?;
        let rest = &line[line.find(key)? + key.len()..];
        let digits: String = rest
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    let get = |key| number_after(key).unwrap_or_else(|| panic!("no {key:?} in:\n{stdout}"));
    (
        get("tot_send_msgs="),
        get("tot_recv_msgs="),
        get("Total lost packets"),
    )
}

/// Runs `turnutils_uclient -c -s WHO... -p PORT COUNTS... 127.0.0.1` (`-c`: no EVEN-PORT
/// reservation, `-s`: channel numbers in RFC 8656's range); returns success and the output.
fn uclient(port: &str, who: &[&str], counts: &[&str]) -> (bool, String) {
    let mut args = vec!["-c", "-s"];
    args.extend_from_slice(who);
    args.extend_from_slice(&["-p", port]);
    args.extend_from_slice(counts);
    args.push("127.0.0.1");
    let out = run("turnutils_uclient", &args, Duration::from_secs(60));
    let output = format!("{}{}", text(&out.stdout), text(&out.stderr));
    (out.status.success(), output)
}

/// Starts coturn's echo peer (`turnutils_peer`) on a free loopback port; returns it and the port.
fn echo_peer() -> (Guard, u16) {
    let port = free_port(&["127.0.0.1"]);
    let peer = Command::new("turnutils_peer")
        .args(["-L", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start turnutils_peer");
    std::thread::sleep(Duration::from_millis(200));
    (Guard(peer), port)
}

#[test]
fn turnutils_uclient_through_floe_turn_server() {
    if !uclient_installed() {
        return;
    }
    let (_server, v) = floe_turn_server(&[
        "--listen",
        "127.0.0.1:0",
        "--user",
        "alice:secret",
        "--user",
        "bob:other:with:colons",
        "--realm",
        "floe.test",
        // The echo peer is on loopback, which the server refuses unless told (RFC 8656 §21.4).
        "--allow-peer",
        "127.0.0.0/8",
    ]);
    assert_eq!(v["realm"], "floe.test");
    let port = listening_port(&v).to_string();

    // Three clients relaying to coturn's echo peer: 3 x 10 messages out and back.
    let (_peer, peer_port) = echo_peer();
    let peer_port = peer_port.to_string();
    let (ok, stdout) = uclient(
        &port,
        &["-u", "alice", "-w", "secret", "-e", "127.0.0.1"],
        &["-r", &peer_port, "-n", "10", "-m", "3"],
    );
    assert!(ok, "{stdout}");
    assert!(!stdout.contains("error"), "{stdout}");
    assert_eq!(uclient_totals(&stdout), (30, 30, 0), "{stdout}");

    // Client to client: two allocations send to each other's relayed address (the second user,
    // whose password has colons in it).
    let (ok, stdout) = uclient(
        &port,
        &["-y", "-u", "bob", "-w", "other:with:colons"],
        &["-n", "10", "-m", "2"],
    );
    assert!(ok, "{stdout}");
    assert_eq!(uclient_totals(&stdout), (20, 20, 0), "{stdout}");

    // A wrong password gets no allocation.
    let (ok, stdout) = uclient(
        &port,
        &["-u", "alice", "-w", "wrong", "-e", "127.0.0.1"],
        &["-n", "1"],
    );
    assert!(!ok, "{stdout}");
    assert!(stdout.contains("Cannot complete Allocation"), "{stdout}");
}

/// RFC 8656 §21.4: by default the server relays nothing into its own network. coturn's client,
/// pointed at an echo peer on loopback, gets its permission refused and no data through.
#[test]
fn turn_server_refuses_loopback_peers_unless_allowed() {
    if !uclient_installed() {
        return;
    }
    let (_server, v) = floe_turn_server(&["--listen", "127.0.0.1:0", "--user", "alice:secret"]);
    let port = listening_port(&v).to_string();
    let (_peer, peer_port) = echo_peer();
    let (ok, stdout) = uclient(
        &port,
        &["-u", "alice", "-w", "secret", "-e", "127.0.0.1"],
        &["-r", &peer_port.to_string(), "-n", "5", "-m", "1"],
    );
    // uclient gives up when its channel bind is refused, or reports nothing received.
    let received = if stdout.contains("tot_recv_msgs=") {
        uclient_totals(&stdout).1
    } else {
        0
    };
    assert!(
        !ok || received == 0,
        "data went through a loopback peer:\n{stdout}"
    );
    assert_eq!(received, 0, "{stdout}");
    assert!(
        stdout.contains("403") || stdout.contains("Forbidden") || !ok,
        "no sign of the refusal:\n{stdout}"
    );
}

/// `--users FILE` reads `NAME:PASSWORD` lines (comments and blank lines skipped), and the
/// realm defaults to the host name; `floe turn` then allocates with a user from the file.
#[test]
fn turn_server_reads_users_from_a_file_and_names_the_host_as_realm() {
    let dir = std::env::temp_dir().join(format!("floe-users-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("users");
    std::fs::write(
        &file,
        "# who may allocate\n\ncarol:pw:with:colons\ndave:x\n",
    )
    .unwrap();
    let (_server, v) =
        floe_turn_server(&["--listen", "127.0.0.1:0", "--users", file.to_str().unwrap()]);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "floe".into());
    assert_eq!(v["realm"], host.as_str(), "{v}");
    let port = listening_port(&v);
    let server = format!("127.0.0.1:{port}");
    let out = run(
        FLOE,
        &[
            "turn",
            &server,
            "--user",
            "carol",
            "--pass",
            "pw:with:colons",
        ],
        Duration::from_secs(20),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(
        FLOE,
        &["turn", &server, "--user", "carol", "--pass", "wrong"],
        Duration::from_secs(20),
    );
    assert!(!out.status.success());
    // A file with a bad line is refused with its line number.
    std::fs::write(&file, "carol:pw\nnocolon\n").unwrap();
    let out = run(
        FLOE,
        &[
            "turn-server",
            "--listen",
            "127.0.0.1:0",
            "--users",
            file.to_str().unwrap(),
        ],
        Duration::from_secs(10),
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains(":2:"), "{}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn turn_server_usage_errors() {
    // No user: clap refuses before anything is bound.
    let out = run(
        FLOE,
        &["turn-server", "--listen", "127.0.0.1:0"],
        Duration::from_secs(10),
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--user"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        FLOE,
        &[
            "turn-server",
            "--listen",
            "127.0.0.1:0",
            "--user",
            "nocolon",
        ],
        Duration::from_secs(10),
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("NAME:PASSWORD"),
        "{}",
        text(&out.stderr)
    );
    // Listening on every address needs a relay IP peers can reach: a one-line error.
    let out = run(
        FLOE,
        &["turn-server", "--listen", "0.0.0.0:0", "--user", "a:b"],
        Duration::from_secs(10),
    );
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("floe: error:"), "{stderr}");
    assert!(stderr.contains("relay IP"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // A relay IP of its own; the text line names the address and the relay IP.
    let mut child = Command::new(FLOE)
        .args([
            "turn-server",
            "--listen",
            "127.0.0.1:0",
            "--relay-ip",
            "127.0.0.2",
            "--user",
            "a:b",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _server = Guard(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    assert!(
        line.starts_with("TURN server listening on 127.0.0.1:")
            && line.contains("relaying from 127.0.0.2"),
        "{line}"
    );
}
