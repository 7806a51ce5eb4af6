//! `netagent run`, `attach`, `ps`, `inspect`, `exec`, `rm`.

use std::path::Path;

use anyhow::{bail, Context, Result};
use config::{Adopt, NetworkMode};

use super::args::{AttachArgs, RunArgs, SandboxFlags};
use super::client::{encode, Client};
use super::exec::run_in_sandbox;
use super::output::{print_json, table};
use crate::daemon::api::model::{SandboxSpec, SandboxView};

fn spec_of(flags: SandboxFlags, adopt: Option<Adopt>) -> SandboxSpec {
    SandboxSpec {
        name: flags.name,
        network: NetworkMode::parse(&flags.network),
        aliases: flags.aliases,
        hostname: flags.hostname,
        ip: flags.ip,
        dns: flags.dns,
        dns_search: flags.dns_search,
        dns_options: flags.dns_options,
        expose: flags.expose,
        publish: flags.publish,
        publish_all: flags.publish_all,
        adopt,
    }
}

/// `netagent run`: creates the sandbox; runs the command inside, if any,
/// and exits with its status.
pub async fn run(client: &Client, args: RunArgs) -> Result<i32> {
    let name = args.sandbox.name.clone();
    let mode = NetworkMode::parse(&args.sandbox.network);
    let publishes = !args.sandbox.publish.is_empty() || args.sandbox.publish_all;
    if publishes && matches!(mode, NetworkMode::Host | NetworkMode::None) {
        // Docker's words (moby daemon/container_operations.go).
        let mode = if mode == NetworkMode::Host {
            "host"
        } else {
            "none"
        };
        eprintln!("WARNING: Published ports are discarded when using {mode} network mode");
    }
    let view: SandboxView = client
        .post("/v1/sandboxes", &spec_of(args.sandbox, None))
        .await?;
    if args.command.is_empty() {
        println!("{}", view.id);
        return Ok(0);
    }
    let code = exec_with(&view, &args.command);
    if args.rm {
        client
            .delete(&format!("/v1/sandboxes/{}", encode(&name)))
            .await?;
    }
    code
}

/// `netagent attach`: adopts a runtime's namespace.
pub async fn attach(client: &Client, args: AttachArgs) -> Result<()> {
    let adopt = match (args.netns, args.pid) {
        (Some(path), _) => Adopt::Path(path),
        (None, Some(pid)) => Adopt::Pid(pid),
        (None, None) => bail!("--netns PATH or --pid PID is required"),
    };
    let view: SandboxView = client
        .post("/v1/sandboxes", &spec_of(args.sandbox, Some(adopt)))
        .await?;
    println!("{}", view.id);
    Ok(())
}

/// `netagent ps`.
pub async fn ps(client: &Client) -> Result<()> {
    let sandboxes: Vec<SandboxView> = client.get("/v1/sandboxes").await?;
    let rows: Vec<Vec<String>> = sandboxes
        .into_iter()
        .map(|s| {
            let networks: Vec<&str> = s.endpoints.iter().map(|e| e.network.as_str()).collect();
            let addresses: Vec<String> = s
                .endpoints
                .iter()
                .filter_map(|e| e.ipv4.map(|a| a.to_string()))
                .collect();
            vec![
                s.id.chars().take(12).collect(),
                s.name.clone(),
                if networks.is_empty() {
                    mode_text(&s.spec.network)
                } else {
                    networks.join(",")
                },
                addresses.join(","),
                match s.resolver_port {
                    Some(_) => config::EMBEDDED_RESOLVER.to_string(),
                    None => "-".into(),
                },
                ports_text(&s.ports),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "SANDBOX ID",
                "NAME",
                "NETWORKS",
                "ADDRESSES",
                "DNS",
                "PORTS"
            ],
            &rows
        )
    );
    Ok(())
}

/// Published ports as Docker's `ps` shows them:
/// `0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp`.
pub fn ports_text(ports: &[config::PortMapping]) -> String {
    let shown: Vec<String> = ports
        .iter()
        .map(|p| {
            let address = match p.host_ip {
                Some(std::net::IpAddr::V6(v6)) => format!("[{v6}]"),
                Some(ip) => ip.to_string(),
                None => "0.0.0.0".into(),
            };
            format!(
                "{address}:{}->{}/{}",
                p.host_port.unwrap_or(0),
                p.container_port,
                p.protocol.as_str()
            )
        })
        .collect();
    shown.join(", ")
}

/// How `ps` shows a sandbox on no network: `bridge`, `host`, `none`,
/// `container:NAME` (or `network:NAME`).
fn mode_text(mode: &NetworkMode) -> String {
    match mode {
        NetworkMode::Bridge => "bridge".into(),
        NetworkMode::Host => "host".into(),
        NetworkMode::None => "none".into(),
        NetworkMode::Container(name) => format!("container:{name}"),
        NetworkMode::Network(name) => format!("network:{name}"),
    }
}

/// `netagent inspect`.
pub async fn inspect(client: &Client, name: &str) -> Result<()> {
    let view: SandboxView = client
        .get(&format!("/v1/sandboxes/{}", encode(name)))
        .await?;
    print_json(&view)
}

/// `netagent exec`.
pub async fn exec(client: &Client, sandbox: &str, command: &[String]) -> Result<i32> {
    let view: SandboxView = client
        .get(&format!("/v1/sandboxes/{}", encode(sandbox)))
        .await?;
    exec_with(&view, command)
}

fn exec_with(view: &SandboxView, command: &[String]) -> Result<i32> {
    let netns = &view.netns;
    let resolv_conf = Path::new(&view.resolv_conf);
    let status = run_in_sandbox(netns, Some(resolv_conf), command)
        .with_context(|| format!("cannot run {:?} in {}", command[0], netns.display()))?;
    Ok(status.code().unwrap_or(128 + 9))
}

/// `netagent rm`.
pub async fn rm(client: &Client, names: &[String], force: bool) -> Result<()> {
    for name in names {
        let suffix = if force { "?force=true" } else { "" };
        client
            .delete(&format!("/v1/sandboxes/{}{suffix}", encode(name)))
            .await?;
        println!("{name}");
    }
    Ok(())
}
