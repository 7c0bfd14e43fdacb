//! A real browser against floe: headless Chromium (libwebrtc) loads the page `floe signal`
//! serves, and calls or answers a `floe` peer through it. Everything runs in a network
//! namespace of its own (a veth pair with 10.99.0.1 and a default route: Chromium gathers no
//! candidates on loopback alone), so no traffic leaves the machine.
//!
//! Each case checks that the browser's `iceConnectionState` reaches `connected`, that floe
//! reports `connected`, and that both name the same candidate pair; it prints the time from the
//! offer to connected on each side (median of `FLOE_BROWSER_RUNS` runs, default 3) and the pair
//! types. Chromium hides its host addresses behind mDNS names by default, so floe learns the
//! browser's address as a peer-reflexive candidate from its checks.
//!
//! The ICE-TCP cases (RFC 6544) drop all UDP in the namespace with nftables
//! ([`Netns::block_udp`]): floe listens on TCP (`--ice-tcp`) and Chromium, which only ever
//! connects actively, reaches it there.
//!
//! Needs root (`ip netns`, `nft`), `/usr/bin/chromium` (or `FLOE_CHROMIUM`), node, and playwright-core
//! installed in `tests/browser` (`npm ci`). Without them the tests print that they skipped,
//! except in CI (`CI` set), where they fail.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

const FLOE: &str = env!("CARGO_BIN_EXE_floe");
/// The namespace's only address.
const IP: &str = "10.99.0.1";

/// One Chromium at a time: the machines are small and the timings would suffer.
static SERIAL: Mutex<()> = Mutex::new(());

/// Kills the child when dropped (also when a test panics).
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A network namespace with a veth pair, deleted (with its interfaces) when dropped.
struct Netns {
    name: String,
}

impl Netns {
    fn create() -> Result<Self, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}x{n}", std::process::id());
        let ns = Netns {
            name: format!("floe-browser-{id}"),
        };
        // Interface names: at most 15 bytes.
        let (a, b) = (format!("fb{id}a"), format!("fb{id}b"));
        let steps: [&[&str]; 9] = [
            &["netns", "add", &ns.name],
            &["-n", &ns.name, "link", "set", "lo", "up"],
            &["link", "add", &a, "type", "veth", "peer", "name", &b],
            &["link", "set", &a, "netns", &ns.name],
            &["link", "set", &b, "netns", &ns.name],
            &[
                "-n",
                &ns.name,
                "addr",
                "add",
                &format!("{IP}/24"),
                "dev",
                &a,
            ],
            &["-n", &ns.name, "link", "set", &a, "up"],
            &["-n", &ns.name, "link", "set", &b, "up"],
            &["-n", &ns.name, "route", "add", "default", "dev", &a],
        ];
        for (i, args) in steps.iter().enumerate() {
            let out = Command::new("ip")
                .args(*args)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run ip: {e}"))?;
            if !out.status.success() {
                if i == 2 {
                    // The veth pair was not created in the namespace: nothing else to remove.
                    let _ = Command::new("ip").args(["link", "del", &a]).output();
                }
                return Err(format!(
                    "ip {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        Ok(ns)
    }

    /// Drops every UDP datagram in the namespace, in and out (also between floe and the
    /// browser, on its one address): ICE can then only succeed over TCP. The table goes with the
    /// namespace.
    fn block_udp(&self) -> Result<(), String> {
        const RULES: &str = "table inet floe_block_udp {
            chain input { type filter hook input priority 0; meta l4proto udp drop; }
            chain output { type filter hook output priority 0; meta l4proto udp drop; }
            chain forward { type filter hook forward priority 0; meta l4proto udp drop; }
        }";
        let mut nft = self
            .command("nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run nft: {e}"))?;
        let written = nft
            .stdin
            .take()
            .expect("nft stdin")
            .write_all(RULES.as_bytes());
        let out = nft.wait_with_output().map_err(|e| format!("nft: {e}"))?;
        match written {
            Ok(()) if out.status.success() => Ok(()),
            _ => Err(format!(
                "nft -f - (blocking UDP): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
        }
    }

    /// `ip netns exec NAME program`.
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c.stdin(Stdio::null());
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A child whose stdout lines arrive on a channel; stderr is kept for failure messages.
struct Proc {
    guard: Guard,
    lines: Receiver<String>,
    seen: Vec<String>,
    what: String,
    stderr: PathBuf,
}

impl Proc {
    fn spawn(mut cmd: Command, what: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let stderr = std::env::temp_dir().join(format!(
            "floe-browser-{}-{}.err",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let file = std::fs::File::create(&stderr).expect("stderr file");
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc {
            guard: Guard(child),
            lines,
            seen: Vec::new(),
            what: what.to_owned(),
            stderr,
        }
    }

    /// The first JSON line (from now on) that `pred` accepts.
    fn wait_json(&mut self, limit: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if let Ok(v) = serde_json::from_str::<Value>(&line) {
                        if pred(&v) {
                            return v;
                        }
                    }
                }
                Err(_) => panic!("{}: expected line not seen\n{}", self.what, self.output()),
            }
        }
    }

    /// Waits for the exit (killing it after `limit`) and takes every remaining line.
    fn finish(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(s) = self.guard.0.try_wait().expect("wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.guard.0.kill();
                panic!(
                    "{} did not finish in {limit:?}\n{}",
                    self.what,
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader thread ends with the pipe.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(line);
        }
        status
    }

    fn json_lines(&self) -> Vec<Value> {
        self.seen
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn output(&self) -> String {
        let err = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        format!(
            "--- {} stdout\n{}\n--- stderr\n{err}",
            self.what,
            self.seen.join("\n")
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.stderr);
    }
}

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn chromium() -> PathBuf {
    std::env::var_os("FLOE_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// What is missing to run the browser tests, if anything.
fn missing() -> Option<String> {
    if !chromium().exists() {
        return Some(format!(
            "Chromium is not installed ({})",
            chromium().display()
        ));
    }
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Some("node is not installed".into());
    }
    if !browser_dir().join("node_modules/playwright-core").exists() {
        return Some("playwright-core is not installed (npm ci in tests/browser)".into());
    }
    None
}

/// The namespace, or `None` (after saying why) when the test cannot run here.
fn setup() -> Option<Netns> {
    let why = match missing() {
        Some(why) => why,
        None => match Netns::create() {
            Ok(ns) => return Some(ns),
            Err(e) => format!("cannot create a network namespace (root needed): {e}"),
        },
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "browser tests cannot run in CI: {why}"
    );
    eprintln!("SKIPPED: {why}");
    None
}

fn runs() -> usize {
    std::env::var("FLOE_BROWSER_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(3)
}

/// One side of a pair.
struct End {
    typ: String,
    /// Empty when the browser hides it.
    address: String,
    port: u16,
    /// `udp` or `tcp`.
    protocol: String,
    /// `active`, `passive` or `so` for TCP.
    tcp_type: Option<String>,
}

/// floe's `selectedcandidatepairchange` event: `local` and `remote` candidate lines.
fn floe_pair(event: &Value) -> (End, End) {
    let end = |key: &str| -> End {
        let line = event[key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key}: {event}"));
        let c: floe::sdp::Candidate = line.parse().unwrap_or_else(|e| panic!("{line}: {e}"));
        End {
            typ: c.typ.to_string(),
            address: c.address.to_string(),
            port: c.port,
            protocol: c.transport.to_string(),
            tcp_type: c.tcp_type.map(|t| t.to_string()),
        }
    };
    (end("local"), end("remote"))
}

/// A side of run.mjs's `selected` pair (from getStats).
fn browser_end(v: &Value) -> End {
    let text = |key: &str| v[key].as_str().unwrap_or("").to_owned();
    End {
        typ: v["type"].as_str().unwrap_or("?").into(),
        address: text("address"),
        port: v["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(0),
        protocol: text("protocol"),
        tcp_type: v["tcpType"].as_str().map(str::to_owned),
    }
}

fn show(e: &End) -> String {
    let addr = if e.address.is_empty() {
        "(hidden)"
    } else {
        &e.address
    };
    let tcp_type = e
        .tcp_type
        .as_ref()
        .map_or_else(String::new, |t| format!(" {t}"));
    format!("{} {}{tcp_type} {addr}:{}", e.typ, e.protocol, e.port)
}

#[derive(Default)]
struct Case {
    name: &'static str,
    /// The page calls and `floe answer` answers; otherwise `floe call` calls the page.
    browser_calls: bool,
    /// Chromium's default mDNS hiding of host addresses.
    mdns: bool,
    /// Query parameters for a relay-only browser (with a TURN server in the namespace).
    page_extra: String,
    /// Extra `floe call`/`floe answer` arguments (relay-only through the same TURN server).
    floe_extra: Vec<String>,
    /// floe echoes what the browser sends (`--echo`); otherwise it just stays in the call
    /// until the browser says bye.
    echo: bool,
    /// Runs in a row, instead of `FLOE_BROWSER_RUNS` (3).
    runs: Option<usize>,
    /// No UDP at all in the namespace ([`Netns::block_udp`]).
    block_udp: bool,
    /// The selected pair's protocol both sides must report (`udp`, `tcp`), if checked.
    protocol: Option<&'static str>,
}

struct Measured {
    browser_ms: f64,
    floe_ms: f64,
    browser_pair: (End, End),
    floe_pair: (End, End),
    /// What the browser gathered, from its log: `transport type [tcptype]` per candidate.
    browser_gathered: Vec<String>,
}

/// `transport type [tcptype]` of each candidate the page logged as gathered.
fn gathered(result: &Value) -> Vec<String> {
    let mut kinds: Vec<String> = result["log"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["text"].as_str()?.strip_prefix("icecandidate candidate:"))
        .filter_map(|c| c.parse::<floe::sdp::Candidate>().ok())
        .map(|c| {
            let tcp_type = c.tcp_type.map_or_else(String::new, |t| format!(" {t}"));
            format!("{} {}{tcp_type}", c.transport, c.typ)
        })
        .collect();
    kinds.sort();
    kinds
}

fn run_once(ns: &Netns, signal_port: u16, case: &Case, run: usize) -> Measured {
    let room = format!("/{}-{run}", case.name);
    let url = format!("ws://{IP}:{signal_port}{room}");
    let role = if case.browser_calls { "&role=call" } else { "" };
    let page = format!(
        "http://{IP}:{signal_port}/?room={room}{role}{}",
        case.page_extra
    );
    let floe_peer = |verb: &str| {
        let mut c = ns.command(FLOE);
        c.args([verb, &url, "--bind", IP, "--timeout", "30", "--json"]);
        if case.echo {
            c.arg("--echo");
        }
        c.args(&case.floe_extra);
        Proc::spawn(c, &format!("floe {verb}"))
    };
    let mut node_cmd = run_mjs(ns, &page);
    if !case.mdns {
        node_cmd.env(
            "FLOE_CHROMIUM_ARGS",
            "--disable-features=WebRtcHideLocalIpsWithMdns",
        );
    }
    let (mut floe, mut node) = if case.browser_calls {
        // floe waits in the room first (the page resends its offer anyway).
        let mut floe = floe_peer("answer");
        floe.wait_json(Duration::from_secs(10), |v| v["event"] == "bound");
        (floe, Proc::spawn(node_cmd, "chromium (run.mjs)"))
    } else {
        // The page waits in the room first, so floe's offer-to-connected time is not Chromium's
        // start-up time.
        let mut node = Proc::spawn(node_cmd, "chromium (run.mjs)");
        node.wait_json(Duration::from_secs(40), |v| v["ready"] == true);
        (floe_peer("call"), node)
    };
    let node_status = node.finish(Duration::from_secs(60));
    let result = browser_result(&node);
    let floe_status = floe.finish(Duration::from_secs(40));
    let context = || format!("{}\n{}", node.output(), floe.output());
    assert!(
        node_status.success() && result["ok"] == true,
        "{}: the browser did not connect\n{}",
        case.name,
        context()
    );
    assert!(
        result["state"]["ice"] == "connected" || result["state"]["ice"] == "completed",
        "{}",
        context()
    );
    assert!(
        floe_status.success(),
        "{}: floe failed\n{}",
        case.name,
        context()
    );
    let events = floe.json_lines();
    let floe_connected = events
        .iter()
        .find(|v| v["event"] == "connected")
        .unwrap_or_else(|| panic!("{}: floe did not connect\n{}", case.name, context()));
    let selected = events
        .iter()
        .rev()
        .find(|v| v["event"] == "selectedcandidatepairchange")
        .unwrap_or_else(|| panic!("no selected pair from floe\n{}", context()));
    let (floe_local, floe_remote) = floe_pair(selected);
    let b_local = browser_end(&result["selected"]["local"]);
    let b_remote = browser_end(&result["selected"]["remote"]);
    // The same pair seen from both ends: the browser's remote is floe's local candidate, and
    // floe's remote is where the browser's checks come from (its local candidate, or the relayed
    // address for a relay candidate). Chromium's getStats gives no address for its own
    // mDNS-hidden candidates, nor for a remote candidate it learned as peer-reflexive (floe's
    // check arrived before floe's candidate): then the ports must match.
    // A TCP connection's local port is the active side's own: Chromium's stats may name the
    // port of its `tcptype active` candidate (9, RFC 6544 §4.5) instead.
    let same = |b: &End, f: &End| {
        (b.port == f.port || (b.protocol == "tcp" && b.tcp_type.as_deref() == Some("active")))
            && (b.address.is_empty() || b.address == f.address)
    };
    let pairs = || {
        format!(
            "browser {} -> {}, floe {} -> {}\n{}",
            show(&b_local),
            show(&b_remote),
            show(&floe_local),
            show(&floe_remote),
            context()
        )
    };
    assert!(
        same(&b_remote, &floe_local) && same(&b_local, &floe_remote),
        "{}: pairs differ: {}",
        case.name,
        pairs()
    );
    if let Some(protocol) = case.protocol {
        assert!(
            [&b_local, &b_remote, &floe_local, &floe_remote]
                .iter()
                .all(|e| e.protocol.eq_ignore_ascii_case(protocol))
                && selected["protocol"] == protocol,
            "{}: the pair is not {protocol}: {}",
            case.name,
            pairs()
        );
    }
    // floe skips the mDNS candidates it cannot resolve, yet still takes the browser's
    // end-of-candidates, and so completes.
    assert!(
        events
            .iter()
            .any(|v| v["event"] == "addIceCandidate" && v["candidate"] == "null"),
        "{}: no end-of-candidates from the browser\n{}",
        case.name,
        context()
    );
    // With UDP blocked, floe's mDNS lookups of the browser's names and its UDP checks can only
    // time out, which takes longer than the browser stays: floe is connected, not completed.
    assert!(
        case.block_udp
            || events
                .iter()
                .any(|v| v["event"] == "iceconnectionstatechange" && v["state"] == "completed"),
        "{}: floe did not complete\n{}",
        case.name,
        context()
    );
    // What the browser signaled: mDNS names unless hiding is off.
    let candidates: Vec<&str> = events
        .iter()
        .filter(|v| v["event"] == "addIceCandidate")
        .filter_map(|v| v["candidate"].as_str())
        .filter(|c| c.contains(" typ host"))
        .collect();
    if case.page_extra.is_empty() {
        let hidden = candidates.iter().any(|c| c.contains(".local "));
        assert_eq!(
            hidden, case.mdns,
            "{}: browser candidates {candidates:?}",
            case.name
        );
        // floe resolved the names by multicast DNS: the browser's address is a host
        // candidate among floe's remote candidates, not only a peer-reflexive one.
        let stats = events
            .iter()
            .find(|v| v["event"] == "stats")
            .unwrap_or_else(|| panic!("{}: no stats from floe\n{}", case.name, context()));
        let resolved = stats["remote_candidates"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .any(|c| c.contains(&format!(" {IP} ")) && c.contains(" typ host"));
        assert!(
            resolved,
            "{}: no host candidate for the browser in {stats}",
            case.name
        );
    }
    Measured {
        browser_ms: result["state"]["offerToIceConnectedMs"]
            .as_f64()
            .expect("offerToIceConnectedMs"),
        floe_ms: floe_connected["offer_to_connected_ms"]
            .as_f64()
            .expect("offer_to_connected_ms"),
        browser_pair: (b_local, b_remote),
        floe_pair: (floe_local, floe_remote),
        browser_gathered: gathered(&result),
    }
}

/// Headless Chromium on `page` through run.mjs, in the namespace.
fn run_mjs(ns: &Netns, page: &str) -> Command {
    let mut c = ns.command("node");
    c.arg(browser_dir().join("run.mjs"))
        .current_dir(browser_dir())
        .env("FLOE_PAGE_URL", page)
        .env("FLOE_CHROMIUM", chromium())
        .env("FLOE_TIMEOUT_MS", "20000");
    c
}

/// run.mjs's last line with the outcome (`ok`, states, the selected pair).
fn browser_result(node: &Proc) -> Value {
    node.json_lines()
        .into_iter()
        .rev()
        .find(|v| v.get("ok").is_some())
        .unwrap_or_else(|| panic!("no result from run.mjs\n{}", node.output()))
}

/// `a x2, b` from sorted `[a, a, b]`.
fn counted(sorted: &[String]) -> String {
    sorted
        .chunk_by(|a, b| a == b)
        .map(|run| match run.len() {
            1 => run[0].clone(),
            n => format!("{} x{n}", run[0]),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn run_case(case: &Case, turn: Option<&dyn Fn(&Netns) -> Guard>) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(ns) = setup() else { return };
    if case.block_udp {
        if let Err(why) = ns.block_udp() {
            assert!(std::env::var_os("CI").is_none(), "{}: {why}", case.name);
            eprintln!("SKIPPED: {why}");
            return;
        }
    }
    let mut signal = {
        let mut c = ns.command(FLOE);
        c.args(["signal", "--listen", &format!("{IP}:0"), "--json"]);
        Proc::spawn(c, "floe signal")
    };
    let listening = signal.wait_json(Duration::from_secs(10), |v| v["event"] == "listening");
    let port: u16 = listening["url"]
        .as_str()
        .and_then(|u| u.trim_end_matches('/').rsplit_once(':'))
        .and_then(|(_, p)| p.parse().ok())
        .expect("signal port");
    let _turn = turn.map(|start| start(&ns));
    let runs = case.runs.unwrap_or_else(runs);
    let measured: Vec<Measured> = (0..runs).map(|i| run_once(&ns, port, case, i)).collect();
    let b = median(measured.iter().map(|m| m.browser_ms).collect());
    let f = median(measured.iter().map(|m| m.floe_ms).collect());
    let last = measured.last().expect("one run");
    let (bl, br) = &last.browser_pair;
    let (fl, fr) = &last.floe_pair;
    let mut types: Vec<String> = measured
        .iter()
        .map(|m| {
            let ((bl, br), (fl, fr)) = (&m.browser_pair, &m.floe_pair);
            format!(
                "browser {}->{}, floe {}->{}",
                bl.typ, br.typ, fl.typ, fr.typ
            )
        })
        .collect();
    types.sort();
    types.dedup();
    let (who_offers, browser_from, floe_from) = if case.browser_calls {
        ("browser calls floe", "sent", "received")
    } else {
        ("floe calls browser", "received", "sent")
    };
    println!(
        "{}: {who_offers}; median of {} runs: browser ICE connected {b:.1} ms after the offer was \
         {browser_from}, floe connected {f:.1} ms after the offer was {floe_from}; \
         last run: browser pair {} -> {}, floe pair {} -> {}, browser gathered [{}]; \
         pair types seen: {}",
        case.name,
        measured.len(),
        show(bl),
        show(br),
        show(fl),
        show(fr),
        counted(&last.browser_gathered),
        types.join("; ")
    );
}

#[test]
fn browser_calls_floe_with_mdns() {
    run_case(
        &Case {
            name: "browser-calls-mdns",
            browser_calls: true,
            mdns: true,
            page_extra: String::new(),
            floe_extra: Vec::new(),
            echo: true,
            runs: None,
            ..Case::default()
        },
        None,
    );
}

#[test]
fn floe_calls_browser_with_mdns() {
    run_case(
        &Case {
            name: "floe-calls-mdns",
            browser_calls: false,
            mdns: true,
            page_extra: String::new(),
            floe_extra: Vec::new(),
            echo: true,
            runs: None,
            ..Case::default()
        },
        None,
    );
}

#[test]
fn browser_calls_floe_without_mdns() {
    run_case(
        &Case {
            name: "browser-calls-plain",
            browser_calls: true,
            mdns: false,
            page_extra: String::new(),
            floe_extra: Vec::new(),
            echo: true,
            runs: None,
            ..Case::default()
        },
        None,
    );
}

#[test]
fn floe_calls_browser_without_mdns() {
    run_case(
        &Case {
            name: "floe-calls-plain",
            browser_calls: false,
            mdns: false,
            page_extra: String::new(),
            floe_extra: Vec::new(),
            echo: true,
            runs: None,
            ..Case::default()
        },
        None,
    );
}

/// The page adds a receive-only audio transceiver (`tcp=1`), so Chromium gathers its
/// `tcptype active` candidates; floe listens on TCP (`--ice-tcp`).
fn ice_tcp(name: &'static str, browser_calls: bool, block_udp: bool) {
    run_case(
        &Case {
            name,
            browser_calls,
            mdns: true,
            page_extra: "&tcp=1".into(),
            floe_extra: vec!["--ice-tcp".into()],
            echo: true,
            block_udp,
            protocol: Some(if block_udp { "tcp" } else { "udp" }),
            ..Case::default()
        },
        None,
    );
}

#[test]
fn browser_calls_floe_over_tcp_when_udp_is_blocked() {
    ice_tcp("browser-calls-tcp", true, true);
}

#[test]
fn floe_calls_browser_over_tcp_when_udp_is_blocked() {
    ice_tcp("floe-calls-tcp", false, true);
}

/// Both sides offer TCP candidates, yet UDP wins where it works (floe gives TCP candidates a
/// lower type preference than RFC 6544 §4.2 does: see crates/ice/DEVIATIONS.md).
#[test]
fn udp_is_selected_when_the_namespace_allows_it() {
    ice_tcp("browser-calls-udp-and-tcp", true, false);
}

const TURN_PORT: u16 = 3478;
const TURN_USER: &str = "floe";
const TURN_PASS: &str = "browser-test";

/// coturn inside the namespace, long-term credentials, UDP only.
fn start_coturn(ns: &Netns) -> Guard {
    let port = TURN_PORT.to_string();
    let user = format!("{TURN_USER}:{TURN_PASS}");
    let mut c = ns.command("turnserver");
    c.args([
        "-n",
        "--no-cli",
        "--no-tls",
        "--no-dtls",
        "--no-tcp-relay",
        "--listening-ip",
        IP,
        "--relay-ip",
        IP,
        "--listening-port",
        &port,
        "--min-port",
        "49152",
        "--max-port",
        "49300",
        "--lt-cred-mech",
        "--realm",
        "floe.test",
        "--user",
        &user,
        "--log-file",
        "stdout",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let guard = Guard(c.spawn().expect("start turnserver"));
    // coturn prints no machine-readable "ready"; its UDP listener is up well within this.
    std::thread::sleep(Duration::from_millis(1500));
    guard
}

fn coturn_installed() -> bool {
    let found = Command::new("turnserver")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "coturn (turnserver) is not installed in CI"
        );
        eprintln!("SKIPPED: coturn is not installed (turnserver)");
    }
    found
}

/// The browser relay-only (`iceTransportPolicy: 'relay'`) through coturn; floe answers with its
/// host candidate and learns the relayed address as peer-reflexive. This needs no TURN in floe.
#[test]
fn relay_only_browser_through_coturn_calls_floe() {
    if !coturn_installed() {
        return;
    }
    run_case(
        &Case {
            name: "browser-relay",
            browser_calls: true,
            mdns: true,
            page_extra: format!("&relay=1&turn={IP}:{TURN_PORT}&user={TURN_USER}&pass={TURN_PASS}"),
            floe_extra: Vec::new(),
            echo: true,
            runs: None,
            ..Case::default()
        },
        Some(&start_coturn),
    );
}

/// Both sides relay-only through coturn: the page with `iceTransportPolicy: 'relay'`, floe with
/// `--relay-only` and its own TURN allocation.
fn both_relay(name: &'static str, browser_calls: bool, echo: bool, runs: Option<usize>) {
    if !coturn_installed() {
        return;
    }
    run_case(
        &Case {
            name,
            browser_calls,
            mdns: true,
            page_extra: format!("&relay=1&turn={IP}:{TURN_PORT}&user={TURN_USER}&pass={TURN_PASS}"),
            floe_extra: [
                "--turn",
                &format!("{IP}:{TURN_PORT}"),
                "--user",
                TURN_USER,
                "--pass",
                TURN_PASS,
                "--relay-only",
            ]
            .map(String::from)
            .to_vec(),
            echo,
            runs,
            ..Case::default()
        },
        Some(&start_coturn),
    );
}

#[test]
fn relay_only_both_sides_through_coturn() {
    both_relay("both-relay", true, true, None);
}

/// floe neither sending nor echoing stays in the call until the browser leaves, so the browser
/// (controlled, `connected` only after its own check on the nominated pair) stays connected
/// through its hold, 5 runs in a row. (Before, `floe call` left at `connected` and deleted its
/// allocation under the browser's check.)
#[test]
fn floe_calls_browser_relay_only_and_stays_in_the_call() {
    both_relay("floe-calls-stays", false, false, Some(5));
}

#[test]
fn browser_calls_floe_relay_only_and_floe_stays_in_the_call() {
    both_relay("browser-calls-stays", true, false, Some(5));
}

/// Headless Chromium calls `floe serve` (an ICE-lite answerer on one shared UDP socket): its
/// ICE reaches `connected` on a host pair to the server's one port.
#[test]
fn browser_calls_floe_serve() {
    serve_case(false);
}

/// The same with all UDP dropped in the namespace: `floe serve --ice-tcp` is reached over
/// TCP, on its ICE-TCP listener (RFC 6544), by the browser's active connection.
#[test]
fn browser_calls_floe_serve_over_tcp_when_udp_is_blocked() {
    serve_case(true);
}

fn serve_case(tcp: bool) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(ns) = setup() else { return };
    if tcp {
        if let Err(why) = ns.block_udp() {
            assert!(std::env::var_os("CI").is_none(), "serve over TCP: {why}");
            eprintln!("SKIPPED: {why}");
            return;
        }
    }
    let mut serve = {
        let mut c = ns.command(FLOE);
        c.args(["serve", "--listen", &format!("{IP}:0"), "--echo", "--json"]);
        if tcp {
            c.arg("--ice-tcp");
        }
        Proc::spawn(c, "floe serve")
    };
    let listening = serve.wait_json(Duration::from_secs(10), |v| v["event"] == "listening");
    let port_of = |key: &str| -> u16 {
        listening[key]
            .as_str()
            .and_then(|a| a.rsplit_once(':'))
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {listening}"))
    };
    let port = port_of("udp");
    let (ice_port, protocol) = if tcp {
        (port_of("ice_tcp"), "tcp")
    } else {
        (port, "udp")
    };
    let extra = if tcp { "&tcp=1" } else { "" };
    let page = format!("http://{IP}:{port}/?room=/serve&role=call{extra}");
    let node_cmd = run_mjs(&ns, &page);
    let mut node = Proc::spawn(node_cmd, "chromium (run.mjs)");
    let status = node.finish(Duration::from_secs(60));
    let result = browser_result(&node);
    let context = || format!("{}\n{}", node.output(), serve.output());
    assert!(
        status.success() && result["ok"] == true,
        "the browser did not connect to floe serve\n{}",
        context()
    );
    assert!(
        result["state"]["ice"] == "connected" || result["state"]["ice"] == "completed",
        "{}",
        context()
    );
    let remote = browser_end(&result["selected"]["remote"]);
    assert_eq!(
        (remote.port, remote.protocol.as_str()),
        (ice_port, protocol),
        "the pair ends at the server's ICE port\n{}",
        context()
    );
    println!(
        "browser -> floe serve over {protocol}: ICE connected {:.1} ms after the offer was sent",
        result["state"]["offerToIceConnectedMs"]
            .as_f64()
            .unwrap_or(f64::NAN)
    );
}
