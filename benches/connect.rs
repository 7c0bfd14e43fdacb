//! Connection setup time on loopback, host candidates only: from the moment both peers have the
//! other's description and candidates to `connected` on both.
//!
//! - `connect/floe`: two driver [`PeerConnection`]s in-process, a fresh pair per iteration. The
//!   offer/answer exchange and gathering happen first, untimed; the clock runs from applying the
//!   answer at the offerer and every candidate (and end-of-candidates) at both, to both
//!   reporting `connectionstatechange connected`.
//! - `connect/aioice`: the same with two aioice connections in one Python process (the Python
//!   named by `FLOE_PYTHON`, or `python3`): from setting the other's credentials and candidates
//!   on both to both `connect()` having returned. Skipped with a message when aioice is not
//!   importable.
//!
//! After criterion's report the medians of every timed connect and their ratio are printed.
//! Run: `cargo bench --bench connect`.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::Criterion;
use floe::sdp::IceCandidateInit;
use floe::{BindConfig, Configuration, PeerConnection, PeerConnectionState, PeerEvent};

/// Gives up on one connect after this long (it takes milliseconds).
const LIMIT: Duration = Duration::from_secs(10);

fn config() -> Configuration {
    Configuration {
        bind: BindConfig {
            addresses: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
            include_loopback: false,
            ipv4_only: true,
        },
        ..Configuration::default()
    }
}

/// Events until gathering completes; returns the trickled candidates.
async fn gather(pc: &PeerConnection) -> Vec<IceCandidateInit> {
    let mut candidates = Vec::new();
    loop {
        match pc.next_event().await.expect("events ended") {
            PeerEvent::IceCandidate(Some(c)) => candidates.push(c),
            PeerEvent::IceCandidate(None) => return candidates,
            _ => {}
        }
    }
}

async fn connected(pc: &PeerConnection) {
    loop {
        match pc.next_event().await.expect("events ended") {
            PeerEvent::ConnectionStateChange(PeerConnectionState::Connected) => return,
            PeerEvent::ConnectionStateChange(PeerConnectionState::Failed) => {
                panic!("connection failed")
            }
            _ => {}
        }
    }
}

async fn add_all(pc: &PeerConnection, candidates: Vec<IceCandidateInit>) {
    for c in candidates {
        pc.add_ice_candidate(Some(c)).await.unwrap();
    }
    pc.add_ice_candidate(None).await.unwrap();
}

/// One floe↔floe connect; returns the timed part.
async fn floe_connect() -> Duration {
    let a = PeerConnection::new(config()).await.unwrap();
    let b = PeerConnection::new(config()).await.unwrap();
    let offer = a.create_offer().await.unwrap();
    a.set_local_description(offer.clone()).await.unwrap();
    let a_candidates = gather(&a).await;
    b.set_remote_description(offer).await.unwrap();
    let answer = b.create_answer().await.unwrap();
    b.set_local_description(answer.clone()).await.unwrap();
    let b_candidates = gather(&b).await;

    let start = Instant::now();
    let side_a = async {
        a.set_remote_description(answer).await.unwrap();
        add_all(&a, b_candidates).await;
        connected(&a).await;
    };
    let side_b = async {
        add_all(&b, a_candidates).await;
        connected(&b).await;
    };
    tokio::time::timeout(LIMIT, async { tokio::join!(side_a, side_b) })
        .await
        .expect("floe peers did not connect");
    let elapsed = start.elapsed();
    let _ = a.close().await;
    let _ = b.close().await;
    elapsed
}

/// Reads a line "N" on stdin, does N connects, prints their durations in seconds on one line.
const AIOICE_SCRIPT: &str = r#"
import asyncio, sys, time
import aioice
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

async def once():
    a = aioice.Connection(ice_controlling=True, components=1)
    b = aioice.Connection(ice_controlling=False, components=1)
    await asyncio.gather(a.gather_candidates(), b.gather_candidates())
    start = time.perf_counter()
    for me, other in ((a, b), (b, a)):
        me.remote_username = other.local_username
        me.remote_password = other.local_password
        for c in other.local_candidates:
            await me.add_remote_candidate(c)
        await me.add_remote_candidate(None)
    await asyncio.gather(a.connect(), b.connect())
    elapsed = time.perf_counter() - start
    await asyncio.gather(a.close(), b.close())
    return elapsed

async def main():
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        times = [await asyncio.wait_for(once(), 10) for _ in range(int(line))]
        print(" ".join(repr(t) for t in times), flush=True)

asyncio.run(main())
"#;

/// The Python process running [`AIOICE_SCRIPT`], killed on drop.
struct Aioice {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Aioice {
    fn start() -> Option<Self> {
        let python = std::env::var("FLOE_PYTHON").unwrap_or_else(|_| "python3".into());
        let importable = Command::new(&python)
            .args(["-c", "import aioice"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !importable {
            eprintln!(
                "connect/aioice SKIPPED: aioice is not importable by {python} (pip install \
                 aioice==0.13.0, or set FLOE_PYTHON)"
            );
            return None;
        }
        let mut child = Command::new(&python)
            .args(["-u", "-c", AIOICE_SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Some(Self {
            child,
            stdin,
            stdout,
        })
    }

    /// `n` connects; their durations.
    fn connects(&mut self, n: u64) -> Vec<Duration> {
        writeln!(self.stdin, "{n}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let times: Vec<Duration> = line
            .split_whitespace()
            .map(|t| Duration::from_secs_f64(t.parse().expect("a duration")))
            .collect();
        assert_eq!(times.len() as u64, n, "the aioice script failed: {line:?}");
        times
    }
}

impl Drop for Aioice {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn median(v: &mut [Duration]) -> Option<Duration> {
    v.sort();
    (!v.is_empty()).then(|| v[v.len() / 2])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut floe_times = Vec::new();
    let mut aioice_times = Vec::new();
    let mut aioice = Aioice::start();
    {
        let mut group = c.benchmark_group("connect");
        group.bench_function("floe", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = runtime.block_on(floe_connect());
                    floe_times.push(t);
                    total += t;
                }
                total
            })
        });
        if let Some(aioice) = aioice.as_mut() {
            group.bench_function("aioice", |b| {
                b.iter_custom(|iters| {
                    let times = aioice.connects(iters);
                    let total = times.iter().sum();
                    aioice_times.extend(times);
                    total
                })
            });
        }
        group.finish();
    }
    c.final_summary();
    let floe = median(&mut floe_times);
    let py = median(&mut aioice_times);
    if let Some(f) = floe {
        println!(
            "connect/floe median {:.3} ms over {} connects",
            ms(f),
            floe_times.len()
        );
    }
    if let Some(p) = py {
        println!(
            "connect/aioice median {:.3} ms over {} connects",
            ms(p),
            aioice_times.len()
        );
    }
    if let (Some(f), Some(p)) = (floe, py) {
        println!(
            "aioice / floe median ratio: {:.1}",
            p.as_secs_f64() / f.as_secs_f64()
        );
    }
}
