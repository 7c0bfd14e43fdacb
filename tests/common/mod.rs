//! What the CLI tests share: running `floe`, and killing what they started.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const FLOE: &str = env!("CARGO_BIN_EXE_floe");

/// Kills the child when dropped, so a failed assertion leaves no server behind.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for `child` to exit, killing it after `limit`.
pub fn wait_for(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `floe args...` to completion, killing it after `limit`. (Outputs are a few KiB, well
/// under a pipe's buffer, so the child never blocks on them before exiting.)
pub fn run(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(FLOE)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn floe");
    wait_for(&mut child, limit, &format!("floe {args:?}"));
    child.wait_with_output().expect("output")
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
