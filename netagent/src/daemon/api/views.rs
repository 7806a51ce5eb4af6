//! Response bodies. `network inspect` follows `docker network inspect`'s
//! field names, so scripts written for Docker's output work.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

use crate::agent::store::{NetworkRecord, SandboxRecord, State};

/// One row of `network ls`.
#[derive(Debug, Serialize)]
pub struct NetworkSummary {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Always `bridge`.
    pub driver: &'static str,
    /// Always `local`.
    pub scope: &'static str,
    /// Subnets.
    pub subnets: Vec<String>,
    /// Internal or not.
    pub internal: bool,
    /// Sandboxes on it.
    pub sandboxes: usize,
}

/// Summaries of every network, by name.
pub fn network_list(state: &State) -> Vec<NetworkSummary> {
    state
        .networks
        .values()
        .map(|n| NetworkSummary {
            id: n.id.clone(),
            name: n.name.clone(),
            driver: "bridge",
            scope: "local",
            subnets: n.subnets.iter().map(|s| s.subnet.to_string()).collect(),
            internal: n.internal,
            sandboxes: sandboxes_on(state, &n.name).count(),
        })
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
pub fn network_inspect(state: &State, network: &NetworkRecord) -> Value {
    let mut containers = BTreeMap::new();
    for sandbox in sandboxes_on(state, &network.name) {
        let endpoint = sandbox
            .endpoints
            .iter()
            .find(|e| e.network == network.name)
            .expect("filtered");
        let with_prefix = |address: Option<std::net::IpAddr>| -> String {
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
            json!({
                "Name": sandbox.name,
                "EndpointID": endpoint.id,
                "MacAddress": endpoint.mac.clone().unwrap_or_default(),
                "IPv4Address": with_prefix(endpoint.ipv4.map(Into::into)),
                "IPv6Address": with_prefix(endpoint.ipv6.map(Into::into)),
            }),
        );
    }
    let config: Vec<Value> = network
        .subnets
        .iter()
        .map(|s| json!({ "Subnet": s.subnet.to_string(), "Gateway": s.gateway.to_string() }))
        .collect();
    json!({
        "Name": network.name,
        "Id": network.id,
        "Created": network.created,
        "Scope": "local",
        "Driver": "bridge",
        "EnableIPv6": network.ipv6,
        "IPAM": { "Driver": "default", "Options": {}, "Config": config },
        "Internal": network.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": { "Network": "" },
        "ConfigOnly": false,
        "Containers": containers,
        "Options": { "com.docker.network.bridge.name": network.bridge },
        "Labels": network.labels,
    })
}

/// A sandbox as `inspect` and `ps` show it.
#[derive(Debug, Serialize)]
pub struct SandboxView {
    /// Everything the agent keeps about it.
    #[serde(flatten)]
    pub record: SandboxRecord,
    /// Its resolv.conf.
    pub resolv_conf: String,
    /// The port its resolver listens on inside it (53 in direct mode).
    pub resolver_port: Option<u16>,
}
