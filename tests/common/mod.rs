//! What the CLI tests share: running `floe`, and killing what they started. Built on the
//! coturn tests' module, which has the child-process helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

#[path = "../coturn/mod.rs"]
mod coturn;

// Each test binary uses its own part.
#[allow(unused_imports)]
pub use coturn::{wait_for, Guard, FLOE};

/// Runs `floe args...` to completion, killing it after `limit`.
pub fn run(args: &[&str], limit: Duration) -> Output {
    coturn::run(FLOE, args, limit)
}

/// Starts a long-running `floe` server with `--json` and returns it with its first line.
pub fn start_server(args: &[&str]) -> (Guard, serde_json::Value) {
    let mut child = Command::new(FLOE)
        .args(args)
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn floe");
    let stdout = child.stdout.take().expect("stdout");
    let guard = Guard(child);
    let mut line = String::new();
    // The server prints its address at once; read_line on a dead child returns 0 rather than
    // blocking.
    BufReader::new(stdout).read_line(&mut line).expect("read");
    let value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line:?}"));
    (guard, value)
}
