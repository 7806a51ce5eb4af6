//! The control API's bodies, each defined once: the daemon serializes the
//! answers and deserializes the requests, the CLI (and the demo) the other
//! way round, through these same types. The module depends on nothing else
//! of this crate (only on `config`'s specs and `resolver`'s table
//! snapshot, which are bodies too), so `cli` can use it without reaching
//! into the agent; filling the answers from the agent's records is the
//! work of the API's `views` module, on the daemon's side.
//!
//! | route | request | answer |
//! |---|---|---|
//! | `GET /v1/health` | | [`Health`] |
//! | `GET /v1/networks` | | [`NetworkSummary`]s |
//! | `POST /v1/networks` | [`NetworkSpec`] | [`NetworkInspect`] |
//! | `GET /v1/networks/{name}` | | [`NetworkInspect`] |
//! | `POST /v1/networks/prune` | | [`Pruned`] |
//! | `POST /v1/networks/{name}/connect` | [`ConnectBody`] | [`EndpointView`] |
//! | `POST /v1/networks/{name}/disconnect` | [`DisconnectBody`] | none (204) |
//! | `GET /v1/sandboxes` | | [`SandboxView`]s |
//! | `POST /v1/sandboxes` | [`SandboxSpec`] | [`SandboxView`] |
//! | `GET /v1/sandboxes/{name}` | | [`SandboxView`] |
//! | `PUT /v1/sandboxes/{name}/command` | [`CommandState`] | none (204) |
//! | `GET /v1/dns/table` | | [`TableSnapshot`] |
//! | `GET /v1/dns/lookup` | | [`LookupAnswer`] |
//! | `POST /v1/containers` | [`config::ContainerSpec`] | [`ContainerView`] |
//! | `DELETE /v1/containers/{id}?network=` | | none (204) |
//! | `GET /v1/containers/{id}/check?network=` | | none (204) |
//! | `POST /v1/containers/gc` | [`GcRequest`] | [`GcReport`] |
//! | every error | | [`ErrorBody`] |

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use config::{DnsMode, ServicePort};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub use config::{CommandState, NetworkSpec, SandboxSpec};
pub use resolver::TableSnapshot;

/// `GET /v1/health`: `{"status":"ok"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

/// Every error's body: `{"message": "..."}`, naming the offending value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub message: String,
}

/// One row of `network ls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSummary {
    /// Its 64-hex id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Always `bridge`.
    pub driver: String,
    /// Always `local`.
    pub scope: String,
    /// Its subnets.
    pub subnets: Vec<IpNet>,
    /// Whether it has no route out.
    pub internal: bool,
    /// How many sandboxes are on it.
    pub sandboxes: usize,
    /// When it was made (RFC 3339), for `network ls --format {{.CreatedAt}}`.
    #[serde(default)]
    pub created: String,
    /// Its labels, for `network ls --filter label=`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// One network as `docker network inspect` shows it, with Docker's field
/// names so scripts written for Docker's output work. The fields are
/// declared in sorted order: that is the order the API has always written
/// them in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkInspect {
    /// Always `false`.
    pub attachable: bool,
    /// Always `{"Network": ""}`.
    pub config_from: ConfigFrom,
    /// Always `false`.
    pub config_only: bool,
    /// The sandboxes on it, by sandbox id.
    pub containers: BTreeMap<String, NetworkContainer>,
    /// When it was made (RFC 3339).
    pub created: String,
    /// Always `bridge`.
    pub driver: String,
    /// Whether it has an IPv6 subnet.
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    /// Its subnets and gateways.
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    /// Its 64-hex id.
    pub id: String,
    /// Always `false`.
    pub ingress: bool,
    /// Whether it has no route out.
    pub internal: bool,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its name.
    pub name: String,
    /// Driver options: those given, and `com.docker.network.bridge.name`,
    /// its Linux bridge (all six of Docker's for the default `bridge`).
    pub options: BTreeMap<String, String>,
    /// Always `local`.
    pub scope: String,
}

/// `ConfigFrom` of [`NetworkInspect`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigFrom {
    /// Always empty: networks are not made from config-only networks.
    pub network: String,
}

/// `IPAM` of [`NetworkInspect`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ipam {
    /// One entry per subnet.
    pub config: Vec<IpamConfig>,
    /// Always `default`.
    pub driver: String,
    /// Always empty.
    pub options: BTreeMap<String, String>,
}

/// One subnet in [`Ipam::config`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamConfig {
    /// The bridge's address on the subnet.
    pub gateway: IpAddr,
    /// The subnet.
    pub subnet: IpNet,
}

/// One sandbox in [`NetworkInspect::containers`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkContainer {
    /// Its endpoint's 64-hex id on the network.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// `ADDRESS/PREFIX`, or empty when it has no IPv4 address.
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    /// `ADDRESS/PREFIX`, or empty when it has no IPv6 address.
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
    /// Its interface's MAC address, or empty.
    pub mac_address: String,
    /// The sandbox's name.
    pub name: String,
    /// The host it lives on, for an overlay network's endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// `POST /v1/networks/prune`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pruned {
    /// The networks removed, by name.
    pub removed: Vec<String>,
}

/// `POST /v1/networks/{name}/connect`'s body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectBody {
    /// The sandbox to connect.
    pub sandbox: String,
    /// Names it answers to on the network (`--alias`).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// A static address on the network (`--ip`).
    #[serde(default)]
    pub ip: Option<IpAddr>,
    /// A static IPv6 address on the network (`--ip6`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<Ipv6Addr>,
}

/// `POST /v1/networks/{name}/disconnect`'s body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisconnectBody {
    /// The sandbox to disconnect.
    pub sandbox: String,
}

/// A sandbox as `inspect` and `ps` show it: everything the agent keeps
/// about it, and where its resolver is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxView {
    /// Its name.
    pub name: String,
    /// Its 64-hex id.
    pub id: String,
    /// When it was made (RFC 3339).
    pub created: String,
    /// What it was asked to be.
    pub spec: SandboxSpec,
    /// Its namespace file (`/proc/PID/ns/net` for an adopted process).
    pub netns: PathBuf,
    /// The namespace's inode when it was made or adopted.
    pub netns_inode: u64,
    /// Whether the agent made the namespace (and so removes it).
    pub owns_netns: bool,
    /// The sandbox whose namespace this one shares (`container:NAME`).
    pub shares_with: Option<String>,
    /// Whether it is the agent's own namespace (`host`).
    pub host_mode: bool,
    /// Its endpoints, one per network.
    pub endpoints: Vec<EndpointView>,
    /// How its resolver is bound, if it has one.
    pub dns_mode: DnsMode,
    /// Its resolv.conf.
    pub resolv_conf: String,
    /// The port its resolver listens on inside it (53 in direct mode);
    /// `None` when it has no resolver.
    pub resolver_port: Option<u16>,
    /// Its published ports, host ports chosen.
    #[serde(default)]
    pub ports: Vec<config::PortMapping>,
    /// The command `netagent run` started in it, if any.
    #[serde(default)]
    pub command: Option<CommandState>,
    /// Whether that command is still running.
    #[serde(default)]
    pub running: bool,
    /// Its /etc/hosts (beside its resolv.conf, for `ip netns exec`).
    #[serde(default)]
    pub hosts_file: String,
    /// Its /etc/hostname, likewise.
    #[serde(default)]
    pub hostname_file: String,
}

/// One sandbox's attachment to one network: an element of
/// [`SandboxView::endpoints`], and `connect`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointView {
    /// The network's name.
    pub network: String,
    /// Its 64-hex id.
    pub id: String,
    /// The interface inside the sandbox (`eth0`, ...).
    pub ifname: String,
    /// The veth end on the host, attached to the bridge.
    pub host_veth: String,
    /// IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 address.
    pub ipv6: Option<Ipv6Addr>,
    /// MAC address of the interface in the sandbox.
    pub mac: Option<String>,
    /// Aliases on this network.
    pub aliases: Vec<String>,
    /// Exposed services.
    pub services: Vec<ServicePort>,
}

/// `GET /v1/dns/lookup`'s answer: what a question asked from inside the
/// sandbox got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupAnswer {
    /// `NOERROR`, `NXDOMAIN`, ...
    pub rcode: String,
    /// The answer records' data, as dig's short form prints it.
    pub answers: Vec<String>,
    /// Whether the reply was truncated.
    pub truncated: bool,
}

/// An attached container, as the doors get it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerView {
    /// The sandbox's name (what the container's name resolves as).
    pub sandbox: String,
    /// The sandbox's id (the container id when it has Docker's form).
    pub id: String,
    /// The container's namespace.
    pub netns: PathBuf,
    /// The network it is on.
    pub network: String,
    /// Its interface inside the namespace.
    pub ifname: String,
    /// That interface's MAC.
    pub mac: Option<String>,
    /// The host's end of the veth (none on a DNS-only network).
    pub host_ifname: Option<String>,
    /// Its MAC.
    pub host_mac: Option<String>,
    /// Each address with its prefix length, `10.89.0.5/24`.
    pub addresses: Vec<String>,
    /// Default routes go through these (none when internal or DNS-only).
    pub gateways: Vec<IpAddr>,
    /// The resolv.conf the agent wrote for it.
    pub resolv_conf: String,
    /// The same, parsed: `nameserver` lines.
    pub nameservers: Vec<String>,
    /// The `search` list.
    pub search: Vec<String>,
    /// The `options`.
    pub options: Vec<String>,
}

/// A GC request: every container on `network` whose id is not in `valid`
/// is released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcRequest {
    /// The network swept.
    pub network: String,
    /// The container ids still in use.
    pub valid: Vec<String>,
}

/// What GC released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcReport {
    /// The container ids released.
    pub released: Vec<String>,
}

/// The forwarding cache's counters (`GET /v1/dns/cache`).
pub use resolver::forward::cache::CacheStats;

/// `POST /v1/dns/cache/flush`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheFlushed {
    /// Entries the cache held.
    pub flushed: usize,
}
