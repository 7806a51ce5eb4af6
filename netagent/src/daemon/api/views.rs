//! The agent's records as the API shows them: each function fills one of
//! [`super::model`]'s bodies from [`crate::agent::store`]'s records (or the
//! agent's lookup result). `network inspect` follows `docker network
//! inspect`'s field names, so scripts written for Docker's output work.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::model::{
    ConfigFrom, EndpointView, Ipam, IpamConfig, LookupAnswer, NetworkContainer, NetworkInspect,
    NetworkSummary, SandboxView,
};
use crate::agent::cluster::keys::EndpointDoc;
use crate::agent::lookup::LookupResult;
use crate::agent::store::{EndpointRecord, NetworkRecord, SandboxRecord, State};

/// A network's driver as `network ls` shows it: `bridge`, or `dns-only`
/// for the names-only network of chained CNI plugins.
fn driver_of(network: &NetworkRecord) -> &'static str {
    if network.overlay.is_some() {
        "overlay"
    } else if network.dns_only {
        "dns-only"
    } else {
        "bridge"
    }
}

/// Docker's scope: `swarm` for an overlay network, `local` otherwise.
fn scope_of(network: &NetworkRecord) -> &'static str {
    if network.overlay.is_some() {
        "swarm"
    } else {
        "local"
    }
}

/// An overlay network's inspect with every host's endpoints, each with
/// its host's name (this host's own too).
pub fn with_cluster_endpoints(
    mut view: NetworkInspect,
    endpoints: Vec<EndpointDoc>,
) -> NetworkInspect {
    let prefix = view.ipam.config.first().map(|c| c.subnet.prefix_len());
    for doc in endpoints {
        let ipv4_address = prefix
            .map(|p| format!("{}/{p}", doc.ipv4))
            .unwrap_or_default();
        let entry = view
            .containers
            .entry(doc.sandbox_id.clone())
            .or_insert(NetworkContainer {
                name: doc.sandbox.clone(),
                endpoint_id: String::new(),
                mac_address: doc.mac.clone(),
                ipv4_address,
                ipv6_address: String::new(),
                host: None,
            });
        entry.host = Some(doc.host);
    }
    view
}

/// Summaries of every network, by name.
pub fn network_list(state: &State) -> Vec<NetworkSummary> {
    state
        .networks
        .values()
        .map(|n| NetworkSummary {
            id: n.id.clone(),
            name: n.name.clone(),
            driver: driver_of(n).into(),
            scope: scope_of(n).into(),
            subnets: n.subnets.iter().map(|s| s.subnet).collect(),
            internal: n.internal,
            sandboxes: sandboxes_on(state, &n.name).count(),
            created: n.created.clone(),
            labels: n.labels.clone(),
        })
        .chain(super::builtin::mode_summaries(state))
        .collect()
}

fn sandboxes_on<'a>(
    state: &'a State,
    network: &'a str,
) -> impl Iterator<Item = &'a SandboxRecord> + 'a {
    state
        .sandboxes
        .values()
        .filter(move |s| s.endpoints.iter().any(|e| e.network == network))
}

/// `docker network inspect`'s object for one network.
pub fn network_inspect(state: &State, network: &NetworkRecord) -> NetworkInspect {
    let mut containers = BTreeMap::new();
    for sandbox in sandboxes_on(state, &network.name) {
        let endpoint = sandbox
            .endpoints
            .iter()
            .find(|e| e.network == network.name)
            .expect("filtered");
        let with_prefix = |address: Option<IpAddr>| -> String {
            let Some(address) = address else {
                return String::new();
            };
            let prefix = network
                .subnets
                .iter()
                .find(|s| s.subnet.contains(&address))
                .map(|s| s.subnet.prefix_len());
            prefix.map(|p| format!("{address}/{p}")).unwrap_or_default()
        };
        containers.insert(
            sandbox.id.clone(),
            NetworkContainer {
                name: sandbox.name.clone(),
                endpoint_id: endpoint.id.clone(),
                mac_address: endpoint.mac.clone().unwrap_or_default(),
                ipv4_address: with_prefix(endpoint.ipv4.map(Into::into)),
                ipv6_address: with_prefix(endpoint.ipv6.map(Into::into)),
                host: None,
            },
        );
    }
    NetworkInspect {
        name: network.name.clone(),
        id: network.id.clone(),
        created: network.created.clone(),
        scope: scope_of(network).into(),
        driver: driver_of(network).into(),
        enable_ipv6: network.ipv6,
        ipam: Ipam {
            driver: "default".into(),
            options: BTreeMap::new(),
            config: network
                .subnets
                .iter()
                .map(|s| IpamConfig {
                    subnet: s.subnet,
                    gateway: s.gateway,
                })
                .collect(),
        },
        internal: network.internal,
        // Any sandbox may be connected to any user-defined network, as
        // to an `--attachable` one of Docker's.
        attachable: !network.builtin,
        ingress: false,
        config_from: ConfigFrom {
            network: String::new(),
        },
        config_only: false,
        containers,
        options: network_options(network),
        labels: network.labels.clone(),
    }
}

/// A network's `Options` as Docker shows them: every option in force for
/// the default `bridge` (as for docker0); for a user-defined network the
/// options it was given, and its bridge's name, which the agent chose; for
/// an overlay network also its VXLAN id, under Docker's
/// `com.docker.network.driver.overlay.vxlanid_list`.
fn network_options(network: &NetworkRecord) -> BTreeMap<String, String> {
    if network.builtin {
        return network.bridge_options().shown_for_default(&network.bridge);
    }
    let mut options = network.options.clone();
    options.insert(
        config::bridge_options::BRIDGE_NAME.to_owned(),
        network.bridge.clone(),
    );
    if let Some(overlay) = &network.overlay {
        options.insert(
            config::overlay_options::VXLANID_LIST.to_owned(),
            overlay.vni.to_string(),
        );
    }
    options
}

/// A sandbox's view: its record, its resolv.conf and its resolver's port.
pub fn sandbox_view(
    record: SandboxRecord,
    resolv_conf: String,
    resolver_port: Option<u16>,
) -> SandboxView {
    let running = crate::agent::running_command(&record).is_some();
    let sibling = |file: &str| {
        std::path::Path::new(&resolv_conf)
            .with_file_name(file)
            .display()
            .to_string()
    };
    let (hosts_file, hostname_file) = (sibling("hosts"), sibling("hostname"));
    SandboxView {
        command: record.command,
        running,
        hosts_file,
        hostname_file,
        name: record.name,
        id: record.id,
        created: record.created,
        spec: record.spec,
        netns: record.netns,
        netns_inode: record.netns_inode,
        owns_netns: record.owns_netns,
        shares_with: record.shares_with,
        host_mode: record.host_mode,
        endpoints: record.endpoints.into_iter().map(endpoint_view).collect(),
        dns_mode: record.dns_mode,
        resolv_conf,
        resolver_port,
        ports: record.ports,
    }
}

/// An endpoint's view.
pub fn endpoint_view(record: EndpointRecord) -> EndpointView {
    EndpointView {
        network: record.network,
        id: record.id,
        ifname: record.ifname,
        host_veth: record.host_veth,
        ipv4: record.ipv4,
        ipv6: record.ipv6,
        mac: record.mac,
        aliases: record.aliases,
        services: record.services,
    }
}

/// What a lookup got, as the API answers it.
pub fn lookup_answer(result: LookupResult) -> LookupAnswer {
    LookupAnswer {
        rcode: result.rcode,
        answers: result.answers,
        truncated: result.truncated,
    }
}

#[cfg(test)]
mod tests;
