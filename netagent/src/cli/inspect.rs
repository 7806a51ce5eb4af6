//! `netagent inspect NAME...`: an array in `docker inspect`'s shape (Id,
//! Name `/NAME`, Created, State, Config, HostConfig, NetworkSettings with
//! one entry per network, as Docker's walkthrough shows them), with
//! netagent's own fields (netns, resolver port, DNS mode, resolv.conf,
//! endpoints' host veths) under `Netagent`. `-f` formats each one.

use std::collections::BTreeMap;
use std::net::IpAddr;

use anyhow::Result;
use serde_json::{json, Value};

use super::args::InspectArgs;
use super::client::{encode, Client};
use super::errors::{is_not_found, Exit};
use super::format::render_one;
use super::output::print_json;
use super::ports::{host_config_port_bindings, network_settings_ports};
use super::ps::state_and_status;
use crate::daemon::api::model::{EndpointView, NetworkInspect, SandboxView};

/// `netagent inspect`: the found ones, then `Error: No such container`
/// for each missing one, exit 1 if any was (Docker prints `[]`-style
/// partial output the same way).
pub async fn inspect(client: &Client, args: InspectArgs) -> Result<()> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for name in &args.names {
        match client
            .get::<SandboxView>(&format!("/v1/sandboxes/{}", encode(name)))
            .await
        {
            Ok(view) => found.push(docker_shape(client, &view).await?),
            Err(err) if is_not_found(&err) => missing.push(name.clone()),
            Err(err) => return Err(err),
        }
    }
    print_found(&found, args.format.as_deref())?;
    finish_missing(&missing, "container")
}

/// Prints the objects: JSON, or each through the template.
pub fn print_found(found: &[Value], format: Option<&str>) -> Result<()> {
    match format {
        Some(template) => {
            for value in found {
                println!("{}", render_one(template, value)?);
            }
            Ok(())
        }
        None => print_json(&found),
    }
}

/// Docker's `Error: No such KIND: NAME` for each missing name, one line
/// each, and exit 1 when there was any.
pub fn finish_missing(missing: &[String], kind: &str) -> Result<()> {
    let lines: Vec<String> = missing
        .iter()
        .map(|name| format!("Error: No such {kind}: {name}"))
        .collect();
    if lines.is_empty() {
        Ok(())
    } else {
        Err(Exit::new(lines.join("\n")).into())
    }
}

/// One sandbox in `docker inspect`'s shape.
pub async fn docker_shape(client: &Client, view: &SandboxView) -> Result<Value> {
    let mut networks = BTreeMap::new();
    for endpoint in &view.endpoints {
        let network: NetworkInspect = client
            .get(&format!("/v1/networks/{}", encode(&endpoint.network)))
            .await?;
        networks.insert(
            endpoint.network.clone(),
            network_entry(view, endpoint, &network),
        );
    }
    Ok(shape(view, networks))
}

fn shape(view: &SandboxView, networks: BTreeMap<String, Value>) -> Value {
    let (status, _) = state_and_status(view);
    let command = view.command.as_ref();
    let argv = command.map(|c| c.argv.clone()).unwrap_or_default();
    let hostname = view
        .spec
        .hostname
        .clone()
        .unwrap_or_else(|| view.name.clone());
    let bridge = networks.get("bridge").cloned().unwrap_or(Value::Null);
    let field = |name: &str| bridge.get(name).cloned().unwrap_or_else(|| json!(""));
    json!({
        "Id": view.id,
        "Created": view.created,
        "Path": argv.first().cloned().unwrap_or_default(),
        "Args": argv.iter().skip(1).collect::<Vec<_>>(),
        "State": {
            "Status": status,
            "Running": status == "running",
            "Paused": false,
            "Restarting": false,
            "OOMKilled": false,
            "Dead": status == "dead",
            "Pid": command.and_then(|c| c.pid).filter(|_| view.running).unwrap_or(0),
            "ExitCode": command.and_then(|c| c.exit_code).unwrap_or(0),
            "Error": "",
            "StartedAt": command.map(|c| c.started.clone()).unwrap_or_else(|| view.created.clone()),
            "FinishedAt": command.and_then(|c| c.finished.clone()).unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
        },
        "Name": format!("/{}", view.name),
        "ResolvConfPath": view.resolv_conf,
        "HostnamePath": view.hostname_file,
        "HostsPath": view.hosts_file,
        "HostConfig": {
            "NetworkMode": network_mode(view),
            "PortBindings": host_config_port_bindings(view),
            "Dns": view.spec.dns.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "DnsSearch": view.spec.dns_search,
            "DnsOptions": view.spec.dns_options,
            "ExtraHosts": view.spec.extra_hosts,
        },
        "Config": {
            "Hostname": hostname,
            "Domainname": "",
            "Cmd": argv,
            "Image": "",
            "MacAddress": view.spec.mac_address.clone().unwrap_or_default(),
        },
        "NetworkSettings": {
            "SandboxID": view.id,
            "SandboxKey": view.netns,
            "Ports": network_settings_ports(view),
            "Gateway": field("Gateway"),
            "IPAddress": field("IPAddress"),
            "IPPrefixLen": bridge.get("IPPrefixLen").cloned().unwrap_or(json!(0)),
            "IPv6Gateway": field("IPv6Gateway"),
            "GlobalIPv6Address": field("GlobalIPv6Address"),
            "GlobalIPv6PrefixLen": bridge.get("GlobalIPv6PrefixLen").cloned().unwrap_or(json!(0)),
            "MacAddress": field("MacAddress"),
            "EndpointID": field("EndpointID"),
            "Networks": networks,
        },
        "Netagent": {
            "Netns": view.netns,
            "NetnsInode": view.netns_inode,
            "OwnsNetns": view.owns_netns,
            "SharesWith": view.shares_with,
            "HostMode": view.host_mode,
            "DnsMode": view.dns_mode,
            "ResolverPort": view.resolver_port,
            "Endpoints": view.endpoints,
            "Spec": view.spec,
        },
    })
}

fn network_mode(view: &SandboxView) -> String {
    match &view.spec.network {
        config::NetworkMode::Bridge => "default".into(),
        config::NetworkMode::Host => "host".into(),
        config::NetworkMode::None => "none".into(),
        config::NetworkMode::Container(name) => format!("container:{name}"),
        config::NetworkMode::Network(name) => name.clone(),
    }
}

/// `NetworkSettings.Networks.<net>`, as Docker fills it.
fn network_entry(view: &SandboxView, endpoint: &EndpointView, network: &NetworkInspect) -> Value {
    let subnet_of = |address: IpAddr| {
        network
            .ipam
            .config
            .iter()
            .find(|c| c.subnet.contains(&address))
    };
    let v4 = endpoint.ipv4.map(IpAddr::V4).and_then(subnet_of);
    let v6 = endpoint.ipv6.map(IpAddr::V6).and_then(subnet_of);
    let first = view
        .endpoints
        .first()
        .map(|e| e.network == endpoint.network)
        == Some(true);
    // A static address is the endpoint's IPAM config, as in Docker.
    let ipam_config = match (
        first.then_some(view.spec.ip).flatten(),
        first.then_some(view.spec.ip6).flatten(),
    ) {
        (None, None) => Value::Null,
        (v4, v6) => json!({
            "IPv4Address": v4.map(|a| a.to_string()).unwrap_or_default(),
            "IPv6Address": v6.map(|a| a.to_string()).unwrap_or_default(),
        }),
    };
    // Docker adds the short id on user-defined networks; it answers in
    // DNS here too.
    let mut aliases = endpoint.aliases.clone();
    if network.name != "bridge" {
        aliases.push(view.id.chars().take(12).collect());
    }
    json!({
        "IPAMConfig": ipam_config,
        "Links": Value::Null,
        "Aliases": if network.name == "bridge" { Value::Null } else { json!(aliases) },
        "NetworkID": network.id,
        "EndpointID": endpoint.id,
        "Gateway": v4.map(|c| c.gateway.to_string()).unwrap_or_default(),
        "IPAddress": endpoint.ipv4.map(|a| a.to_string()).unwrap_or_default(),
        "IPPrefixLen": v4.map(|c| c.subnet.prefix_len()).unwrap_or(0),
        "IPv6Gateway": v6.map(|c| c.gateway.to_string()).unwrap_or_default(),
        "GlobalIPv6Address": endpoint.ipv6.map(|a| a.to_string()).unwrap_or_default(),
        "GlobalIPv6PrefixLen": v6.map(|c| c.subnet.prefix_len()).unwrap_or(0),
        "MacAddress": endpoint.mac.clone().unwrap_or_default(),
        "DriverOpts": Value::Null,
    })
}
