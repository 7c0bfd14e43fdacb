//! The `floe` command: a demo call, a signaling server, call/answer peers and STUN tools.

mod cli;

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use cli::output::Timeline;
use cli::session::Role;
use cli::tools::PeerArgs;

/// floe: ICE/STUN on a sans-IO stack.
#[derive(Parser, Debug)]
#[command(name = "floe", version, about)]
struct Cli {
    /// Print one JSON object per line instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Log what ICE, STUN and TURN do: -v state changes (candidates, pairs and why they
    /// failed, roles, consent, TURN allocations), -vv every check and request, -vvv all.
    /// RUST_LOG (e.g. floe_ice=debug) selects more finely. To stderr; with --json, to stdout.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Hide IP addresses in log lines: only their family, kind of network and port show.
    #[arg(long, global = true)]
    redact: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Two peers, STUN and TURN servers and a signaling server in one process, on loopback:
    /// prints the event timeline of a call and the time from offer to connected.
    Demo,
    /// A WebSocket signaling server: every text message goes to the other members of the room
    /// named by the URL path.
    Signal {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// One UDP port for every peer: answer each offer (any room path) with a session of its
    /// own, all sharing one UDP socket on the WebSocket listener's port.
    Serve {
        /// Address for the WebSocket listener (TCP) and the shared UDP socket, same port.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// Echo every datagram back to its sender.
        #[arg(long)]
        echo: bool,
        /// At most this many sessions at once.
        #[arg(long, default_value_t = 10_000)]
        max_sessions: usize,
        /// Full ICE agents instead of ICE-lite ones (the default, --lite).
        #[arg(long, conflicts_with = "lite")]
        full: bool,
        /// ICE-lite sessions (RFC 8445 §2.5): the default.
        #[arg(long)]
        lite: bool,
        /// ICE over TCP (RFC 6544) for peers whose networks drop UDP: one more TCP listener,
        /// every session's passive candidate, on --ice-tcp-port of the listen address.
        #[arg(long)]
        ice_tcp: bool,
        /// Port of the ICE-TCP listener (implies --ice-tcp; 0: an ephemeral one, the
        /// default). It cannot be the --listen port, which carries the WebSocket.
        #[arg(long)]
        ice_tcp_port: Option<u16>,
    },
    /// Call through a signaling room: send an offer, trickle candidates, connect.
    Call(PeerCommand),
    /// Answer a call in a signaling room.
    Answer(PeerCommand),
    /// Send one STUN Binding request; print the mapped address and the round-trip time.
    Stun {
        /// The server, `HOST[:PORT]` or `stun:HOST[:PORT]` (default port 3478).
        server: String,
        /// Local IP address to send from.
        #[arg(long)]
        bind: Option<IpAddr>,
        /// Give up after this many seconds (with --nat: per test).
        #[arg(long, default_value_t = 5.0)]
        timeout: f64,
        /// RFC 5780 NAT behaviour discovery: mapping and filtering behaviour, hairpinning (the
        /// server must support RFC 5780, e.g. `floe stun-server --alternate`).
        #[arg(long)]
        nat: bool,
    },
    /// Allocate a relayed address on a TURN server over UDP, TCP or TLS; print the relayed and
    /// mapped addresses and the lifetime; with --peer and --send, relay a message to the peer
    /// and wait for its answer; deallocate.
    Turn(TurnCommand),
    /// A STUN Binding server (RFC 8489; RFC 5780 with --alternate).
    StunServer {
        /// Primary address to listen on.
        #[arg(long, default_value = "127.0.0.1:3478")]
        listen: SocketAddr,
        /// Alternate address (another IP and port) for NAT behaviour discovery (RFC 5780).
        #[arg(long)]
        alternate: Option<SocketAddr>,
    },
    /// A TURN server (RFC 8656 over UDP, long-term credentials, one relay port per allocation).
    TurnServer {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3478")]
        listen: SocketAddr,
        /// IP to relay from (default: the listening IP).
        #[arg(long)]
        relay_ip: Option<IpAddr>,
        /// A user, `NAME:PASSWORD` (repeatable).
        #[arg(
            long = "user",
            value_name = "NAME:PASSWORD",
            required_unless_present = "users_file",
            value_parser = user_password
        )]
        users: Vec<(String, String)>,
        /// A file of users, one `NAME:PASSWORD` per line (blank lines and lines starting
        /// with `#` skipped), read once at start; keeps passwords off the command line.
        #[arg(long = "users", value_name = "FILE")]
        users_file: Option<std::path::PathBuf>,
        /// REALM of the long-term credentials (default: this machine's host name).
        #[arg(long)]
        realm: Option<String>,
        /// At most this many allocations at once.
        #[arg(long, default_value_t = floe::turn_server::DEFAULT_MAX_ALLOCATIONS)]
        max_allocations: usize,
        /// Relay to peers in this range although it is internal (loopback, private,
        /// link-local, …: refused by default, RFC 8656 §21.4), e.g. 127.0.0.0/8 (repeatable).
        #[arg(long = "allow-peer", value_name = "CIDR")]
        allowed_peers: Vec<floe_turn::IpNet>,
        /// Relay ports, `LOW-HIGH`, drawn at random (RFC 8656 §7.2).
        #[arg(long, value_name = "LOW-HIGH", default_value = "49152-65535", value_parser = port_range)]
        relay_ports: std::ops::RangeInclusive<u16>,
    },
}

#[derive(Args, Debug)]
struct PeerCommand {
    /// Signaling room, e.g. ws://127.0.0.1:8080/room1.
    url: String,
    /// STUN server for server-reflexive candidates, `stun:HOST[:PORT]` (repeatable).
    #[arg(long)]
    stun: Vec<String>,
    /// TURN server for relayed candidates (repeatable): `turn:HOST[:PORT]` over UDP,
    /// `turn:HOST[:PORT]?transport=tcp` over TCP, `turns:HOST[:PORT]` over TLS.
    #[arg(long)]
    turn: Vec<String>,
    /// PEM file of a CA to trust for `turns:` servers, besides the system's (repeatable).
    #[arg(long)]
    ca: Vec<std::path::PathBuf>,
    /// TURN user name.
    #[arg(long, default_value = "")]
    user: String,
    /// TURN password.
    #[arg(long, default_value = "")]
    pass: String,
    /// Gather relayed candidates only (iceTransportPolicy "relay").
    #[arg(long)]
    relay_only: bool,
    /// Local IP address to bind (repeatable); default: every up non-loopback interface.
    #[arg(long)]
    bind: Vec<IpAddr>,
    /// Also bind loopback interfaces when enumerating (ignored with --bind).
    #[arg(long)]
    include_loopback: bool,
    /// ICE over TCP (RFC 6544): also listen on a TCP port on every bound address (passive
    /// candidates), connect out from each (active candidates) and use the peer's TCP
    /// candidates. For networks that block UDP. Off by default because the listeners open TCP
    /// ports on every host address; UDP is always preferred when both work.
    #[arg(long)]
    ice_tcp: bool,
    /// Testing: bind no UDP socket, so only TCP host candidates are gathered (no STUN or TURN
    /// candidates either). Implies --ice-tcp.
    #[arg(long)]
    no_udp: bool,
    /// Send this text once connected, again every second until it is echoed back, then leave.
    /// Without --send or --echo the peer stays in the call until the other side leaves,
    /// SIGINT/SIGTERM, --timeout (all exit 0 once connected) or a failure.
    #[arg(long)]
    send: Option<String>,
    /// With --send: send N probes one second apart (the text and ` #K`), print each RTT and
    /// the loss; exit 0 when at least one came back.
    #[arg(long, value_name = "N", requires = "send", value_parser = clap::value_parser!(u32).range(1..))]
    count: Option<u32>,
    /// With --count: exit 0 only when every probe came back.
    #[arg(long, requires = "count")]
    strict: bool,
    /// Echo every message received, until the other side leaves.
    #[arg(long)]
    echo: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// Do not trickle: send the offer or answer once gathering is complete, every candidate
    /// in it.
    #[arg(long)]
    no_trickle: bool,
}

/// `--user NAME:PASSWORD` (the password may contain colons).
fn user_password(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((user, pass)) if !user.is_empty() => Ok((user.to_owned(), pass.to_owned())),
        _ => Err("expected NAME:PASSWORD".into()),
    }
}

/// `LOW-HIGH`, both above the well-known ports.
fn port_range(s: &str) -> Result<std::ops::RangeInclusive<u16>, String> {
    let (low, high) = s
        .split_once('-')
        .ok_or("expected LOW-HIGH, e.g. 49152-65535")?;
    let parse = |p: &str| p.trim().parse::<u16>().map_err(|e| format!("{p:?}: {e}"));
    let (low, high) = (parse(low)?, parse(high)?);
    if low < 1024 || low > high {
        return Err(format!("{low}-{high}: need 1024 <= LOW <= HIGH"));
    }
    Ok(low..=high)
}

/// The users of a `--users` file: `NAME:PASSWORD` lines; blank lines and `#` comments skipped.
fn read_users(path: &std::path::Path) -> Result<Vec<(String, String)>, floe::Error> {
    let bad = |what: String| floe::Error::InvalidConfiguration(what);
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
    let mut users = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let user =
            user_password(line).map_err(|e| bad(format!("{}:{}: {e}", path.display(), n + 1)))?;
        users.push(user);
    }
    if users.is_empty() {
        return Err(bad(format!("{}: no users", path.display())));
    }
    Ok(users)
}

/// This machine's host name (the default realm), or "floe" when it cannot be read.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "floe".to_owned())
}

fn seconds(s: f64) -> Result<Duration, floe::Error> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| floe::Error::InvalidConfiguration(format!("bad timeout {s}")))
}

impl PeerCommand {
    fn into_args(self) -> Result<PeerArgs, floe::Error> {
        Ok(PeerArgs {
            url: self.url,
            stun: self.stun,
            turn: self.turn,
            user: self.user,
            pass: self.pass,
            relay_only: self.relay_only,
            bind: self.bind,
            include_loopback: self.include_loopback,
            ice_tcp: self.ice_tcp || self.no_udp,
            no_udp: self.no_udp,
            send: self.send,
            count: self.count,
            strict: self.strict,
            echo: self.echo,
            timeout: seconds(self.timeout)?,
            no_trickle: self.no_trickle,
            ca: self.ca,
        })
    }
}

#[derive(Args, Debug)]
struct TurnCommand {
    /// The server: `HOST[:PORT]`, `turn:HOST[:PORT][?transport=tcp]` or `turns:HOST[:PORT]`.
    server: String,
    /// TURN user name.
    #[arg(long)]
    user: String,
    /// TURN password.
    #[arg(long)]
    pass: String,
    /// udp, tcp or tls (default: from the URL, else udp).
    #[arg(long)]
    transport: Option<floe::turn_tools::TurnTransport>,
    /// A peer to relay --send to through the allocation, e.g. a UDP echo server.
    #[arg(long, requires = "send")]
    peer: Option<SocketAddr>,
    /// Text to relay to --peer; its answer is printed with the round-trip time.
    #[arg(long, requires = "peer")]
    send: Option<String>,
    /// Relay through a channel (ChannelBind, ChannelData) instead of Send/Data indications.
    #[arg(long, requires = "peer")]
    channel: bool,
    /// Local IP address to send from.
    #[arg(long)]
    bind: Option<IpAddr>,
    /// Give up on a step (allocate, relay, deallocate) after this many seconds.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// TLS: a PEM file of root certificates to trust besides the system's (repeatable).
    #[arg(long)]
    ca: Vec<std::path::PathBuf>,
    /// TLS: the name the server certificate must be valid for (default: the server's host).
    #[arg(long)]
    server_name: Option<String>,
}

impl TurnCommand {
    fn into_args(self) -> Result<cli::tools::TurnArgs, floe::Error> {
        Ok(cli::tools::TurnArgs {
            server: self.server,
            transport: self.transport,
            user: self.user,
            pass: self.pass,
            peer: self.peer,
            send: self.send,
            channel: self.channel,
            bind: self.bind,
            timeout: seconds(self.timeout)?,
            ca: self.ca,
            server_name: self.server_name,
        })
    }
}

async fn run(cli: Cli) -> Result<(), floe::Error> {
    let tl = Timeline::new(cli.json);
    match cli.command {
        Command::Demo => cli::demo::run(cli.json).await,
        Command::Signal { listen } => cli::tools::signal(listen, tl).await,
        Command::Serve {
            listen,
            echo,
            max_sessions,
            full,
            lite: _,
            ice_tcp,
            ice_tcp_port,
        } => {
            let config = floe::server::ServerConfig {
                echo,
                max_sessions,
                lite: !full,
                ice_tcp: ice_tcp_port.or(ice_tcp.then_some(0)),
                ..floe::server::ServerConfig::new(listen)
            };
            cli::tools::serve(config, tl).await
        }
        Command::Call(p) => cli::tools::peer(Role::Caller, p.into_args()?, tl).await,
        Command::Answer(p) => cli::tools::peer(Role::Callee, p.into_args()?, tl).await,
        Command::Stun {
            server,
            bind,
            timeout,
            nat,
        } => {
            let timeout = seconds(timeout)?;
            if nat {
                cli::tools::stun_nat(&server, bind, timeout, tl).await
            } else {
                cli::tools::stun(&server, bind, timeout, tl).await
            }
        }
        Command::Turn(t) => cli::tools::turn(t.into_args()?, tl).await,
        Command::StunServer { listen, alternate } => {
            cli::tools::stun_server(listen, alternate, tl).await
        }
        Command::TurnServer {
            listen,
            relay_ip,
            mut users,
            users_file,
            realm,
            max_allocations,
            allowed_peers,
            relay_ports,
        } => {
            if let Some(path) = users_file {
                users.extend(read_users(&path)?);
            }
            let realm = realm.unwrap_or_else(host_name);
            let config = floe::turn_server::TurnServerConfig {
                relay_ip,
                max_allocations,
                allowed_peers,
                relay_ports,
                ..floe::turn_server::TurnServerConfig::new(listen, &realm, users)
            };
            cli::tools::turn_server(config, tl).await
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    cli::logging::init(cli.verbose, json, cli.redact);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("floe: error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "event": "error", "error": e.to_string() })
                );
            }
            eprintln!("floe: error: {e}");
            ExitCode::FAILURE
        }
    }
}
