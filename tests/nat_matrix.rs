//! floe through real Linux NATs: `tests/nat/nat_matrix.py` builds network namespaces behind
//! nftables routers of the five RFC 4787 types (open, full cone, address-restricted,
//! port-restricted, symmetric), checks each box with coturn's RFC 5780 client, and makes a
//! `floe call` / `floe answer` for all 25 pairs with a STUN server, then with a STUN and a
//! TURN server (coturn), and the same with aioice at both ends as a reference.
//!
//! It asserts what must hold whatever the timing: the 22 direct-capable pairs connect
//! directly in both modes; symmetric ↔ symmetric and symmetric ↔ port-restricted connect only
//! through the relay. The times go to the printed table, not to assertions (run with
//! `--nocapture` to see it; it is also written to `target/nat_matrix.txt`).
//!
//! Needs root, `ip`, `nft`, `turnserver` and `turnutils_natdiscovery` (coturn), python3, and
//! aioice in `FLOE_PYTHON` (the venv `.ci/run` makes). Without them the test says it skipped,
//! except in CI (`CI` set), where it fails.

use std::path::Path;
use std::process::Command;

const FLOE: &str = env!("CARGO_BIN_EXE_floe");

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// What is missing to run the matrix, if anything.
fn missing(python: &str) -> Option<String> {
    let uid = Command::new("id").arg("-u").output();
    if !uid.is_ok_and(|o| o.stdout.starts_with(b"0\n")) {
        return Some("not root (network namespaces need it)".into());
    }
    for program in [
        "ip",
        "nft",
        "turnserver",
        "turnutils_natdiscovery",
        "python3",
    ] {
        if !have(program) {
            return Some(format!("{program} is not installed"));
        }
    }
    let aioice = Command::new(python).args(["-c", "import aioice"]).output();
    if !aioice.is_ok_and(|o| o.status.success()) {
        return Some(format!("aioice is not importable by {python}"));
    }
    None
}

#[test]
fn real_nats_connect_every_direct_capable_pair_directly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var("FLOE_PYTHON").unwrap_or_else(|_| {
        root.join("target/aioice-venv/bin/python")
            .display()
            .to_string()
    });
    if let Some(why) = missing(&python) {
        assert!(
            std::env::var_os("CI").is_none(),
            "the NAT matrix cannot run in CI: {why}"
        );
        eprintln!("SKIPPED: {why}");
        return;
    }
    let out = Command::new("python3")
        .arg(root.join("tests/nat/nat_matrix.py"))
        .args(["--floe", FLOE, "--python", &python])
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let _ = std::fs::write(root.join("target/nat_matrix.txt"), stdout.as_bytes());
    println!("{stdout}");
    assert!(
        out.status.success(),
        "NAT matrix failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}
