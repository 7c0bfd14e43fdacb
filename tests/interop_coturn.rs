//! The `floe` STUN tools against coturn, a real third-party STUN/TURN server, on loopback:
//! `floe stun` against `turnserver`, coturn's `turnutils_stunclient` against `floe stun-server`,
//! and RFC 5780 NAT behaviour discovery (`floe stun --nat`) against both servers.
//!
//! Without coturn installed the tests print that they skipped, except in CI (`CI` set), where
//! they fail.

mod coturn;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use coturn::{coturn_installed, floe_json, free_port, run, text, Coturn, Guard, FLOE};

fn ipv6_loopback() -> bool {
    UdpSocket::bind("[::1]:0").is_ok()
}

/// Starts `floe stun-server ARGS... --json`; returns it and the addresses it listens on.
fn floe_stun_server(args: &[&str]) -> (Guard, Vec<SocketAddr>) {
    let mut child = Command::new(FLOE)
        .arg("stun-server")
        .args(args)
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn floe stun-server");
    let stdout = child.stdout.take().unwrap();
    let guard = Guard(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read");
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line:?}"));
    let addrs = v["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().parse().unwrap())
        .collect();
    (guard, addrs)
}

#[test]
fn floe_stun_against_coturn() {
    if !coturn_installed() {
        return;
    }
    let v6 = ipv6_loopback();
    let listen: &[&str] = if v6 {
        &["127.0.0.1", "::1"]
    } else {
        &["127.0.0.1"]
    };
    let coturn = Coturn::start(listen, None);
    let server = format!("127.0.0.1:{}", coturn.port);
    let v = floe_json(&["stun", &server, "--bind", "127.0.0.1"]);
    assert_eq!(v["server"], server.as_str());
    assert_eq!(v["mapped"], v["local"], "{v}");
    assert!(v["local"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(
        v["software"]
            .as_str()
            .unwrap_or_default()
            .contains("Coturn"),
        "{v}"
    );
    // The human-readable line names the mapped address too.
    let out = run(
        FLOE,
        &["stun", &format!("stun:{server}"), "--bind", "127.0.0.1"],
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("mapped address 127.0.0.1:"),
        "{}",
        text(&out.stdout)
    );
    if v6 {
        let server6 = format!("[::1]:{}", coturn.port);
        let v = floe_json(&["stun", &server6, "--bind", "::1"]);
        assert_eq!(v["mapped"], v["local"], "{v}");
        assert!(v["mapped"].as_str().unwrap().starts_with("[::1]:"), "{v}");
    } else {
        eprintln!("no ::1 here: the IPv6 part is skipped");
    }
}

#[test]
fn turnutils_stunclient_against_floe_stun_server() {
    if !coturn_installed() {
        return;
    }
    let (_server, addrs) = floe_stun_server(&["--listen", "127.0.0.1:0"]);
    let port = addrs[0].port().to_string();
    let out = run(
        "turnutils_stunclient",
        &["-p", &port, "127.0.0.1"],
        Duration::from_secs(30),
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("UDP reflexive addr: 127.0.0.1:"),
        "{stdout}"
    );

    // With an alternate address, coturn's client runs its RFC 5780 exchanges too.
    let alt = free_port(&["127.0.0.2"]);
    let (_server, addrs) = floe_stun_server(&[
        "--listen",
        "127.0.0.1:0",
        "--alternate",
        &format!("127.0.0.2:{alt}"),
    ]);
    let port = addrs[0].port().to_string();
    let out = run(
        "turnutils_stunclient",
        &["-p", &port, "127.0.0.1"],
        Duration::from_secs(30),
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!("Other addr: : 127.0.0.2:{alt}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("Response origin: : 127.0.0.2:{alt}")),
        "CHANGE-REQUEST not honoured:\n{stdout}"
    );
    assert!(
        stdout.contains("UDP reflexive addr: 127.0.0.1:"),
        "{stdout}"
    );
}

/// On loopback there is no NAT: endpoint-independent mapping and filtering, and hairpinning
/// (a request to our own mapped address reaches us).
fn check_no_nat(v: &Value, other: &str) {
    assert_eq!(v["event"], "nat", "{v}");
    assert_eq!(v["other_address"], other, "{v}");
    assert_eq!(v["nat"], false, "{v}");
    assert_eq!(v["mapped"], v["local"], "{v}");
    assert_eq!(v["mapped_test_ii"], v["mapped"], "{v}");
    assert_eq!(v["mapping"], "endpoint-independent", "{v}");
    assert_eq!(v["filtering"], "endpoint-independent", "{v}");
    assert_eq!(v["hairpinning"], true, "{v}");
}

#[test]
fn nat_discovery_against_coturn() {
    if !coturn_installed() {
        return;
    }
    let alt = free_port(&["127.0.0.1", "127.0.0.2"]);
    // Two addresses of one family: coturn enables RFC 5780 by itself (4.6; no --rfc5780 flag).
    let coturn = Coturn::start(&["127.0.0.1", "127.0.0.2"], Some(alt));
    let server = format!("127.0.0.1:{}", coturn.port);
    let v = floe_json(&["stun", "--nat", &server, "--bind", "127.0.0.1"]);
    check_no_nat(&v, &format!("127.0.0.2:{alt}"));
    println!("floe stun --nat vs coturn: {v}");
}

#[test]
fn nat_discovery_against_floe_stun_server() {
    let alt = free_port(&["127.0.0.2"]);
    let (_server, addrs) = floe_stun_server(&[
        "--listen",
        "127.0.0.1:0",
        "--alternate",
        &format!("127.0.0.2:{alt}"),
    ]);
    let v = floe_json(&[
        "stun",
        "--nat",
        &addrs[0].to_string(),
        "--bind",
        "127.0.0.1",
    ]);
    check_no_nat(&v, &format!("127.0.0.2:{alt}"));
    // Without the bind option the local address is the one the kernel picks.
    let v = floe_json(&["stun", "--nat", &addrs[0].to_string()]);
    check_no_nat(&v, &format!("127.0.0.2:{alt}"));

    // A server without RFC 5780 is a clear one-line error.
    let (_plain, addrs) = floe_stun_server(&["--listen", "127.0.0.1:0"]);
    let out = run(
        FLOE,
        &["stun", "--nat", &addrs[0].to_string(), "--timeout", "2"],
        Duration::from_secs(30),
    );
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("does not support RFC 5780"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
