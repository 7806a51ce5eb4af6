//! `netagent run`, `attach`, `ps`, `inspect`, `exec`, `rm`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use config::{Adopt, NetworkMode, SandboxSpec};
use serde_json::Value;

use super::args::{AttachArgs, RunArgs, SandboxFlags};
use super::client::{encode, Client};
use super::exec::run_in_sandbox;
use super::output::table;

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
        adopt,
    }
}

/// `netagent run`: creates the sandbox; runs the command inside, if any,
/// and exits with its status.
pub async fn run(client: &Client, args: RunArgs) -> Result<i32> {
    let name = args.sandbox.name.clone();
    let view: Value = client
        .post(
            "/v1/sandboxes",
            &serde_json::to_value(spec_of(args.sandbox, None))?,
        )
        .await?;
    if args.command.is_empty() {
        println!("{}", view["id"].as_str().unwrap_or_default());
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
    let view: Value = client
        .post(
            "/v1/sandboxes",
            &serde_json::to_value(spec_of(args.sandbox, Some(adopt)))?,
        )
        .await?;
    println!("{}", view["id"].as_str().unwrap_or_default());
    Ok(())
}

/// `netagent ps`.
pub async fn ps(client: &Client) -> Result<()> {
    let sandboxes: Vec<Value> = client.get("/v1/sandboxes").await?;
    let rows: Vec<Vec<String>> = sandboxes
        .iter()
        .map(|s| {
            let endpoints = s["endpoints"].as_array().cloned().unwrap_or_default();
            let networks: Vec<String> = endpoints
                .iter()
                .filter_map(|e| e["network"].as_str().map(str::to_owned))
                .collect();
            let addresses: Vec<String> = endpoints
                .iter()
                .filter_map(|e| e["ipv4"].as_str().map(str::to_owned))
                .collect();
            let mode = match &s["spec"]["network"] {
                Value::String(mode) => mode.clone(),
                other => other
                    .as_object()
                    .and_then(|o| o.iter().next())
                    .map(|(k, v)| format!("{k}:{}", v.as_str().unwrap_or_default()))
                    .unwrap_or_default(),
            };
            vec![
                s["id"]
                    .as_str()
                    .unwrap_or_default()
                    .chars()
                    .take(12)
                    .collect(),
                s["name"].as_str().unwrap_or_default().to_owned(),
                if networks.is_empty() {
                    mode
                } else {
                    networks.join(",")
                },
                addresses.join(","),
                if s["resolver_port"].is_null() {
                    "-".into()
                } else {
                    config::EMBEDDED_RESOLVER.to_string()
                },
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &["SANDBOX ID", "NAME", "NETWORKS", "ADDRESSES", "DNS"],
            &rows
        )
    );
    Ok(())
}

/// `netagent inspect`.
pub async fn inspect(client: &Client, name: &str) -> Result<()> {
    let view: Value = client
        .get(&format!("/v1/sandboxes/{}", encode(name)))
        .await?;
    println!("{}", serde_json::to_string_pretty(&view)?);
    Ok(())
}

/// `netagent exec`.
pub async fn exec(client: &Client, sandbox: &str, command: &[String]) -> Result<i32> {
    let view: Value = client
        .get(&format!("/v1/sandboxes/{}", encode(sandbox)))
        .await?;
    exec_with(&view, command)
}

fn exec_with(view: &Value, command: &[String]) -> Result<i32> {
    let netns = PathBuf::from(
        view["netns"]
            .as_str()
            .context("the agent gave no namespace path")?,
    );
    let resolv_conf = view["resolv_conf"].as_str().map(PathBuf::from);
    let status = run_in_sandbox(&netns, resolv_conf.as_deref(), command)
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
