//! `floe signal`, `floe stun`, `floe stun-server`, `floe turn`, `floe call` and `floe answer`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use floe::convert::os_random;
use floe::signaling::{SignalingChannel, SignalingServer};
use floe::stun::nat_discovery::{Hairpinning, NatDiscovery, NatDiscoveryConfig};
use floe::stun_tools::{binding_request, resolve_server, StunServer};
use floe::turn_tools::{TurnOptions, TurnSession, TurnTarget, TurnTransport};
use floe::{BindConfig, Configuration, Error, IceServer, IceTransportPolicy, Result};
use serde_json::json;

use super::output::Timeline;
use super::session::{self, Options, Role};

/// `floe signal --listen ADDR`: relays messages between the members of each room until killed.
pub async fn signal(listen: SocketAddr, tl: Timeline) -> Result<()> {
    let server = SignalingServer::bind(listen).await?;
    let addr = server.local_addr()?;
    tl.info(
        &format!("signaling server listening on ws://{addr}/ (one room per path)"),
        json!({ "event": "listening", "url": format!("ws://{addr}/") }),
    );
    server.run().await;
    Ok(())
}

/// `floe serve --listen ADDR [--echo] [--max-sessions N] [--full] [--ice-tcp]`: one UDP port
/// for every peer, until killed.
pub async fn serve(config: floe::server::ServerConfig, tl: Timeline) -> Result<()> {
    let lite = config.lite;
    let server = floe::server::Server::bind(config).await?;
    let addr = server.local_addr();
    let tcp = server.ice_tcp_addr();
    tl.info(
        &format!(
            "serving on ws://{addr}/ (any room path), ICE over UDP {addr}{} for every session{}",
            tcp.map_or(String::new(), |t| format!(" and TCP {t}")),
            if lite { ", ICE-lite" } else { "" }
        ),
        json!({
            "event": "listening",
            "url": format!("ws://{addr}/"),
            "udp": addr.to_string(),
            "ice_tcp": tcp.map(|t| t.to_string()),
            "lite": lite,
        }),
    );
    server.run().await;
    Ok(())
}

/// `floe stun-server --listen ADDR [--alternate ADDR]`: answers Binding requests until killed.
pub async fn stun_server(
    listen: SocketAddr,
    alternate: Option<SocketAddr>,
    tl: Timeline,
) -> Result<()> {
    let server = StunServer::bind(listen, alternate).await?;
    let addrs: Vec<String> = server
        .local_addresses()
        .iter()
        .map(|a| a.to_string())
        .collect();
    tl.info(
        &format!("STUN server listening on {}", addrs.join(", ")),
        json!({ "event": "listening", "addresses": addrs }),
    );
    server.run().await;
    Ok(())
}

/// `floe turn-server --listen ADDR --user U:P [--relay-ip IP] [--realm R]`: a TURN server
/// (UDP, long-term credentials) until killed.
pub async fn turn_server(config: floe::turn_server::TurnServerConfig, tl: Timeline) -> Result<()> {
    let realm = config.realm.clone();
    let server = floe::turn_server::TurnServer::bind(config).await?;
    let addr = server.local_addr();
    let relay_ip = server.relay_ip();
    tl.info(
        &format!("TURN server listening on {addr} (realm {realm:?}, relaying from {relay_ip})"),
        json!({
            "event": "listening",
            "addresses": [addr.to_string()],
            "realm": realm,
            "relay_ip": relay_ip.to_string(),
        }),
    );
    server.run().await;
    Ok(())
}

/// `floe stun HOST:PORT`: one Binding request; prints the mapped address and the RTT.
pub async fn stun(
    server: &str,
    bind: Option<IpAddr>,
    timeout: Duration,
    tl: Timeline,
) -> Result<()> {
    let addr = resolve(server, bind).await?;
    let r = binding_request(addr, bind.map(|ip| SocketAddr::new(ip, 0)), timeout).await?;
    let rtt_ms = r.rtt.as_secs_f64() * 1e3;
    let mut text = format!(
        "mapped address {} (from {} to {}), rtt {rtt_ms:.3} ms",
        r.mapped, r.local, r.server
    );
    if r.transmissions > 1 {
        text.push_str(&format!(", {} transmissions", r.transmissions));
    }
    if let Some(other) = r.other_address {
        text.push_str(&format!(", other address {other}"));
    }
    if let Some(sw) = &r.software {
        text.push_str(&format!(", server software {sw:?}"));
    }
    tl.info(
        &text,
        json!({
            "event": "binding",
            "server": r.server.to_string(),
            "local": r.local.to_string(),
            "mapped": r.mapped.to_string(),
            "rtt_ms": rtt_ms,
            "transmissions": r.transmissions,
            "response_origin": r.response_origin.map(|a| a.to_string()),
            "other_address": r.other_address.map(|a| a.to_string()),
            "software": r.software,
        }),
    );
    Ok(())
}

/// `HOST[:PORT]` or `stun:HOST[:PORT]` to an address of `bind`'s family.
async fn resolve(server: &str, bind: Option<IpAddr>) -> Result<SocketAddr> {
    let target = server.strip_prefix("stun:").unwrap_or(server);
    let url: floe::IceServerUrl = format!("stun:{target}").parse()?;
    resolve_server(&url.host, url.port, bind).await
}

/// Options of `floe turn`.
#[derive(Clone, Debug)]
pub struct TurnArgs {
    /// `HOST[:PORT]`, `turn:HOST[:PORT][?transport=udp|tcp]` or `turns:HOST[:PORT]`.
    pub server: String,
    /// `--transport`; must agree with a URL.
    pub transport: Option<TurnTransport>,
    /// TURN user name.
    pub user: String,
    /// TURN password.
    pub pass: String,
    /// Peer to relay `send` to, and wait for an answer from.
    pub peer: Option<SocketAddr>,
    /// Text to relay to `peer`.
    pub send: Option<String>,
    /// Bind a channel (ChannelData) instead of Send indications.
    pub channel: bool,
    /// Local IP address to send from.
    pub bind: Option<IpAddr>,
    /// Per step: allocate, relay, deallocate.
    pub timeout: Duration,
    /// Extra trusted root certificates (PEM files) for TLS.
    pub ca: Vec<PathBuf>,
    /// Name the TLS certificate must be valid for; default: the host of the server argument.
    pub server_name: Option<String>,
}

/// `floe turn HOST:PORT --user U --pass P`: allocates, prints the relayed and mapped addresses
/// and the lifetime; with `--peer ADDR --send TEXT` relays TEXT to the peer and prints its
/// answer with the RTT; deallocates.
pub async fn turn(args: TurnArgs, tl: Timeline) -> Result<()> {
    let target = TurnTarget::parse(&args.server, args.transport)?;
    let server = target.resolve(args.bind).await?;
    let opts = TurnOptions {
        bind: args.bind,
        server_name: args.server_name.or(Some(target.host)),
        ca_files: args.ca,
        timeout: args.timeout,
        ..TurnOptions::new(server, target.transport, &args.user, &args.pass)
    };
    let mut session = TurnSession::allocate(&opts).await?;
    let a = session.info().clone();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let relayed: Vec<String> = a.relayed.iter().map(|r| r.to_string()).collect();
    let mapped = a.mapped.map(|m| m.to_string());
    tl.info(
        &format!(
            "relayed address {}, mapped address {}, lifetime {} s ({} from {} to {}, allocated in {:.3} ms)",
            relayed.join(" "),
            mapped.as_deref().unwrap_or("none"),
            a.lifetime.as_secs(),
            a.transport,
            a.local,
            a.server,
            ms(a.allocate_time),
        ),
        json!({
            "event": "allocated",
            "server": a.server.to_string(),
            "transport": a.transport.as_str(),
            "local": a.local.to_string(),
            "relayed": relayed.first(),
            "mapped": mapped,
            "lifetime_s": a.lifetime.as_secs(),
            "connect_ms": ms(a.connect_time),
            "allocate_ms": ms(a.allocate_time),
        }),
    );
    if let (Some(peer), Some(text)) = (args.peer, &args.send) {
        let reply = match session.echo(peer, text.as_bytes(), args.channel).await {
            Ok(reply) => reply,
            Err(e) => {
                // Free the allocation anyway; the first error is the one to report.
                let _ = session.close().await;
                return Err(e);
            }
        };
        let data = String::from_utf8_lossy(&reply.data);
        let via = reply
            .channel
            .map_or("Send/Data indications".to_owned(), |c| {
                format!("channel {c:#06x}")
            });
        tl.info(
            &format!(
                "reply {data:?} from {} via {via}, rtt {:.3} ms",
                reply.peer,
                ms(reply.rtt)
            ),
            json!({
                "event": "reply",
                "peer": reply.peer.to_string(),
                "data": data,
                "rtt_ms": ms(reply.rtt),
                "channel": reply.channel,
            }),
        );
    }
    session.close().await?;
    tl.info(
        &format!("deallocated on {}", a.server),
        json!({ "event": "deallocated", "server": a.server.to_string() }),
    );
    Ok(())
}

/// `floe stun --nat HOST:PORT`: RFC 5780 NAT behaviour discovery from one socket (mapping tests
/// I-III, filtering tests I-III, hairpinning): a socket loop around floe-stun's sans-IO
/// [`NatDiscovery`].
pub async fn stun_nat(
    server: &str,
    bind: Option<IpAddr>,
    timeout: Duration,
    tl: Timeline,
) -> Result<()> {
    let primary = resolve(server, bind).await?;
    let bind = SocketAddr::new(
        bind.unwrap_or(if primary.is_ipv4() {
            IpAddr::from([0, 0, 0, 0])
        } else {
            IpAddr::from(std::net::Ipv6Addr::UNSPECIFIED)
        }),
        0,
    );
    let socket = tokio::net::UdpSocket::bind(bind).await?;
    let mut local = socket.local_addr()?;
    if local.ip().is_unspecified() {
        // The source address the kernel picks towards the server, to tell "no NAT" apart.
        let probe = std::net::UdpSocket::bind(bind)?;
        probe.connect(primary)?;
        local.set_ip(probe.local_addr()?.ip());
    }
    let config = NatDiscoveryConfig {
        test_timeout: timeout,
        ..NatDiscoveryConfig::default()
    };
    let mut nat = NatDiscovery::new(Instant::now(), config, local, primary, os_random());
    let mut buf = vec![0u8; 2048];
    let b = loop {
        while let Some(t) = nat.poll_transmit() {
            socket.send_to(t.payload, t.destination).await?;
        }
        match nat.result() {
            Some(Ok(b)) => break *b,
            Some(Err(e)) => return Err(Error::Stun(e.to_string())),
            None => {}
        }
        // Unfinished discovery always has a timeout; the fallback only avoids a panic.
        let next = nat
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + timeout);
        tokio::select! {
            res = socket.recv_from(&mut buf) => {
                let (n, from) = res?;
                nat.handle_datagram(Instant::now(), from, &buf[..n]);
            }
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(next)) => {
                nat.handle_timeout(Instant::now());
            }
        }
    };

    let hairpinning = match b.hairpinning {
        Hairpinning::Yes => Some(true),
        Hairpinning::No => Some(false),
        Hairpinning::Unknown => None,
    };
    let text = format!(
        "mapped address {} (from {local} to {primary}), other address {}: {}\n\
         mapping: {}\nfiltering: {}\nhairpinning: {}",
        b.mapped,
        b.other_address,
        if b.behind_nat() {
            "behind a NAT"
        } else {
            "no NAT"
        },
        b.mapping,
        b.filtering,
        match hairpinning {
            Some(true) => "yes",
            Some(false) => "no",
            None => "unknown",
        },
    );
    tl.info(
        &text,
        json!({
            "event": "nat",
            "server": primary.to_string(),
            "local": local.to_string(),
            "mapped": b.mapped.to_string(),
            "other_address": b.other_address.to_string(),
            "mapped_test_ii": b.mapped_test_ii.to_string(),
            "mapped_test_iii": b.mapped_test_iii.map(|a| a.to_string()),
            "nat": b.behind_nat(),
            "mapping": b.mapping.as_str(),
            "filtering": b.filtering.as_str(),
            "hairpinning": hairpinning,
        }),
    );
    Ok(())
}

/// Options shared by `floe call` and `floe answer`.
#[derive(Clone, Debug)]
pub struct PeerArgs {
    /// The signaling room URL.
    pub url: String,
    /// STUN server URLs (`stun:host[:port]` or `host[:port]`).
    pub stun: Vec<String>,
    /// TURN server URLs (`turn:host[:port]` or `host[:port]`).
    pub turn: Vec<String>,
    /// TURN user name.
    pub user: String,
    /// TURN password.
    pub pass: String,
    /// Relayed candidates only.
    pub relay_only: bool,
    /// Addresses to bind; empty: every up non-loopback interface.
    pub bind: Vec<IpAddr>,
    /// Also bind loopback interfaces when enumerating.
    pub include_loopback: bool,
    /// ICE over TCP (RFC 6544) as well as UDP.
    pub ice_tcp: bool,
    /// No UDP sockets: TCP host candidates only (testing).
    pub no_udp: bool,
    /// Text to send once connected, again every second until echoed.
    pub send: Option<String>,
    /// Probes of `send` to send, one second apart.
    pub count: Option<u32>,
    /// With `count`: all probes must come back.
    pub strict: bool,
    /// Echo what arrives.
    pub echo: bool,
    /// Overall timeout.
    pub timeout: Duration,
    /// Send the description after gathering instead of trickling candidates.
    pub no_trickle: bool,
    /// Extra CAs for `turns:` servers.
    pub ca: Vec<std::path::PathBuf>,
}

/// `floe call URL` / `floe answer URL`.
pub async fn peer(role: Role, args: PeerArgs, tl: Timeline) -> Result<()> {
    let urls: Vec<String> = args
        .stun
        .iter()
        .map(|s| {
            let has_scheme = ["stun:", "stuns:", "turn:", "turns:"]
                .iter()
                .any(|p| s.to_ascii_lowercase().starts_with(p));
            if has_scheme {
                s.clone()
            } else {
                format!("stun:{s}")
            }
        })
        .collect();
    let mut ice_servers = if urls.is_empty() {
        Vec::new()
    } else {
        vec![IceServer::new(urls)?]
    };
    if !args.turn.is_empty() {
        let turn = args.turn.iter().map(|s| {
            if s.to_ascii_lowercase().starts_with("turn") {
                s.clone()
            } else {
                format!("turn:{s}")
            }
        });
        ice_servers.push(IceServer {
            username: Some(args.user.clone()),
            credential: Some(args.pass.clone()),
            ..IceServer::new(turn)?
        });
    }
    let config = Configuration {
        ice_servers,
        ice_transport_policy: if args.relay_only {
            IceTransportPolicy::Relay
        } else {
            IceTransportPolicy::All
        },
        bind: BindConfig {
            addresses: args.bind.iter().map(|ip| SocketAddr::new(*ip, 0)).collect(),
            include_loopback: args.include_loopback,
            ipv4_only: false,
        },
        tls_ca_files: args.ca.clone(),
        ice_tcp: args.ice_tcp,
        no_udp: args.no_udp,
        ..Configuration::default()
    };
    let name = match role {
        Role::Caller => "caller",
        Role::Callee => "callee",
    };
    let channel = SignalingChannel::connect(&args.url).await?;
    let opts = Options {
        name: name.into(),
        role,
        send: args.send.clone(),
        count: args.count,
        strict: args.strict,
        echo: args.echo,
        timeout: args.timeout,
        trickle: !args.no_trickle,
    };
    let out = session::run(channel, config, opts, tl)
        .await
        .map_err(|e| match e {
            Error::NoUsableAddress => Error::InvalidConfiguration(
                "no up non-loopback interface to bind; pass --bind IP or --include-loopback".into(),
            ),
            e => e,
        })?;
    tl.info(
        &format!(
            "connected{}",
            match (&args.send, out.echo_ok) {
                (Some(_), true) => ", echo received",
                _ => "",
            }
        ),
        json!({ "event": "result", "result": "connected", "echo_ok": out.echo_ok, "selected_pair": out.selected }),
    );
    Ok(())
}
