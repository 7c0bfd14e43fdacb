//! `floe signal`, `floe stun`, `floe stun-server`, `floe call` and `floe answer`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use floe::signaling::{SignalingChannel, SignalingServer};
use floe::stun_tools::{binding_request, StunServer};
use floe::{BindConfig, Configuration, Error, IceServer, Result};
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

/// `floe stun HOST:PORT`: one Binding request; prints the mapped address and the RTT.
pub async fn stun(
    server: &str,
    bind: Option<IpAddr>,
    timeout: Duration,
    tl: Timeline,
) -> Result<()> {
    let target = server.strip_prefix("stun:").unwrap_or(server);
    let url: floe::IceServerUrl = format!("stun:{target}").parse()?;
    let addr = tokio::net::lookup_host((url.host.as_str(), url.port))
        .await
        .map_err(|e| Error::InvalidConfiguration(format!("cannot resolve {target}: {e}")))?
        .find(|a| bind.map_or(true, |b| b.is_ipv4() == a.is_ipv4()))
        .ok_or_else(|| Error::InvalidConfiguration(format!("no usable address for {target}")))?;
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

/// Options shared by `floe call` and `floe answer`.
#[derive(Clone, Debug)]
pub struct PeerArgs {
    /// The signaling room URL.
    pub url: String,
    /// STUN server URLs (`stun:host[:port]` or `host[:port]`).
    pub stun: Vec<String>,
    /// Addresses to bind; empty: every up non-loopback interface.
    pub bind: Vec<IpAddr>,
    /// Also bind loopback interfaces when enumerating.
    pub include_loopback: bool,
    /// Text to send once connected.
    pub send: Option<String>,
    /// Echo what arrives.
    pub echo: bool,
    /// Overall timeout.
    pub timeout: Duration,
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
    let ice_servers = if urls.is_empty() {
        Vec::new()
    } else {
        vec![IceServer::new(urls)?]
    };
    let config = Configuration {
        ice_servers,
        bind: BindConfig {
            addresses: args.bind.iter().map(|ip| SocketAddr::new(*ip, 0)).collect(),
            include_loopback: args.include_loopback,
            ipv4_only: false,
        },
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
        echo: args.echo,
        timeout: args.timeout,
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
