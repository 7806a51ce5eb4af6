//! What a user asks the agent for: a network ([`NetworkSpec`], `netagent
//! network create`) and a sandbox ([`SandboxSpec`], `netagent run`). These
//! are the control API's request bodies; [`NetworkSpec::check`] and
//! [`SandboxSpec::check`] report every problem at once, each naming the
//! value and the field.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::extras::{extra_host_problems, mac_problems, range_problems};
use crate::subnets::subnet_problems;
use crate::{
    check_dns_name, BridgeOptions, ConfigError, ConfigErrors, NameServer, PortMapping, ServicePort,
};

/// Names of the networks every host has, as in Docker.
pub const BUILTIN_NETWORKS: [&str; 3] = ["bridge", "host", "none"];

/// A user-defined bridge network to create.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSpec {
    /// The network's name; `NAME.NETWORK` resolves on it.
    pub name: String,
    /// Subnets (IPv4 and/or IPv6); empty picks an IPv4 one from the
    /// default pools (and an IPv6 one when `ipv6` is set).
    pub subnets: Vec<IpNet>,
    /// Gateways, one per subnet at most; the first host address of a subnet
    /// when not given.
    pub gateways: Vec<IpAddr>,
    /// Give the network an IPv6 subnet too (`--ipv6`).
    pub ipv6: bool,
    /// No route out, and no forwarding of names to the host's servers.
    pub internal: bool,
    /// Upstream servers for the network's sandboxes (`--dns`).
    pub dns: Vec<NameServer>,
    /// Free-form labels (`--label KEY=VALUE`).
    pub labels: BTreeMap<String, String>,
    /// Driver options (`-o KEY=VALUE`), Docker's keys
    /// ([`crate::bridge_options`]).
    pub options: BTreeMap<String, String>,
    /// Sub-ranges of the subnets to allocate from (`--ip-range`).
    pub ip_ranges: Vec<IpNet>,
    /// Addresses never handed out (`--aux-address NAME=IP`).
    pub aux_addresses: BTreeMap<String, IpAddr>,
    /// `bridge` (or empty, the same) or `overlay` (across hosts, with a
    /// cluster configured).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub driver: String,
}

impl NetworkSpec {
    /// Checks the spec; every problem is reported.
    pub fn check(&self) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        if let Err(err) = check_dns_name(&self.name, "name") {
            errors.push(ConfigError::new("name", strip_origin(&err.to_string())));
        } else if BUILTIN_NETWORKS.contains(&self.name.as_str()) {
            errors.push(ConfigError::new(
                "name",
                format!("{:?} is a built-in network", self.name),
            ));
        }
        errors.extend(subnet_problems(&self.subnets, &self.gateways));
        errors.extend(range_problems(
            &self.subnets,
            &self.ip_ranges,
            &self.aux_addresses,
        ));
        errors.extend(self.ipv6_problems());
        errors.extend(dns_problems(&self.dns));
        let options = if self.driver == "overlay" {
            crate::OverlayOptions::parse(&self.options).err()
        } else {
            BridgeOptions::parse(&self.options).err()
        };
        errors.extend(options.into_iter().flatten());
        finish(errors)
    }

    /// An IPv6 subnet on a network without `ipv6` is refused. Docker
    /// (libnetwork#967, as in 20.10) creates such a network but silently
    /// drops the subnet, so its containers get no IPv6 address although
    /// one was asked for; refusing says so where it can be fixed.
    fn ipv6_problems(&self) -> Vec<ConfigError> {
        if self.ipv6 {
            return Vec::new();
        }
        self.subnets
            .iter()
            .enumerate()
            .filter(|(_, subnet)| subnet.addr().is_ipv6())
            .map(|(i, subnet)| {
                ConfigError::new(
                    format!("subnets[{i}]"),
                    format!(
                        "{subnet} is an IPv6 subnet but IPv6 is off; add --ipv6 (\"ipv6\": true)"
                    ),
                )
            })
            .collect()
    }
}

/// How a sandbox is networked (`--network`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// The default bridge: no embedded DNS; the host's upstreams are
    /// written into its resolv.conf.
    Bridge,
    /// The agent's own namespace.
    Host,
    /// Loopback only, no DNS.
    None,
    /// Another sandbox's namespace, and therefore its resolver.
    Container(String),
    /// A user-defined network.
    Network(String),
}

impl NetworkMode {
    /// Reads Docker's spelling: `bridge`, `host`, `none`, `container:NAME`
    /// or a network name.
    pub fn parse(text: &str) -> NetworkMode {
        match text {
            "bridge" | "" => NetworkMode::Bridge,
            "host" => NetworkMode::Host,
            "none" => NetworkMode::None,
            other => match other.strip_prefix("container:") {
                Some(name) => NetworkMode::Container(name.to_owned()),
                None => NetworkMode::Network(other.to_owned()),
            },
        }
    }
}

/// A sandbox to create (`netagent run`) or a namespace to adopt
/// (`netagent attach`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSpec {
    /// The sandbox's name.
    pub name: String,
    /// How it is networked.
    #[serde(default = "default_mode")]
    pub network: NetworkMode,
    /// Names it answers to on its first network (`--alias`).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Its hostname (`--hostname`); its name when not given.
    #[serde(default)]
    pub hostname: Option<String>,
    /// A static address on its first network (`--ip`).
    #[serde(default)]
    pub ip: Option<IpAddr>,
    /// Its own upstream servers (`--dns`).
    #[serde(default)]
    pub dns: Vec<NameServer>,
    /// Search domains for its resolv.conf (`--dns-search`).
    #[serde(default)]
    pub dns_search: Vec<String>,
    /// Options for its resolv.conf (`--dns-option`).
    #[serde(default)]
    pub dns_options: Vec<String>,
    /// Exposed services (`--expose SERVICE=PORT/PROTO`).
    #[serde(default)]
    pub expose: Vec<ServicePort>,
    /// Published ports (`-p`).
    #[serde(default)]
    pub publish: Vec<PortMapping>,
    /// Publish every exposed port on an ephemeral host port (`-P`).
    #[serde(default)]
    pub publish_all: bool,
    /// A namespace to adopt instead of creating one: a path to a namespace
    /// file (`--netns`) or a process id (`--pid`).
    #[serde(default)]
    pub adopt: Option<Adopt>,
    /// A static IPv6 address on its first network (`--ip6`).
    #[serde(default)]
    pub ip6: Option<Ipv6Addr>,
    /// Its interface's MAC address on its first network (`--mac-address`).
    #[serde(default)]
    pub mac_address: Option<String>,
    /// Lines for its /etc/hosts, `HOST:IP` (`--add-host`).
    #[serde(default)]
    pub extra_hosts: Vec<String>,
}

fn default_mode() -> NetworkMode {
    NetworkMode::Bridge
}

/// A namespace made by someone else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Adopt {
    /// A namespace file such as `/run/netns/NAME` or `/proc/PID/ns/net`.
    Path(std::path::PathBuf),
    /// The network namespace of a running process.
    Pid(u32),
}

impl SandboxSpec {
    /// A spec with only a name, on the default bridge.
    pub fn named(name: &str) -> SandboxSpec {
        SandboxSpec {
            name: name.to_owned(),
            network: NetworkMode::Bridge,
            aliases: vec![],
            hostname: None,
            ip: None,
            dns: vec![],
            dns_search: vec![],
            dns_options: vec![],
            expose: vec![],
            publish: vec![],
            publish_all: false,
            adopt: None,
            ip6: None,
            mac_address: None,
            extra_hosts: vec![],
        }
    }

    /// Checks the spec; every problem is reported.
    pub fn check(&self) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        let mut name = |value: &str, field: &str| {
            if let Err(err) = check_dns_name(value, field) {
                errors.push(ConfigError::new(field, strip_origin(&err.to_string())));
            }
        };
        name(&self.name, "name");
        for (i, alias) in self.aliases.iter().enumerate() {
            name(alias, &format!("aliases[{i}]"));
        }
        if let Some(hostname) = &self.hostname {
            name(hostname, "hostname");
        }
        for (i, domain) in self.dns_search.iter().enumerate() {
            name(domain, &format!("dns_search[{i}]"));
        }
        for (i, option) in self.dns_options.iter().enumerate() {
            if option.is_empty() || option.contains(char::is_whitespace) {
                errors.push(ConfigError::new(
                    format!("dns_options[{i}]"),
                    format!("{option:?} is not one resolv.conf option"),
                ));
            }
        }
        errors.extend(dns_problems(&self.dns));
        errors.extend(extra_host_problems(&self.extra_hosts));
        errors.extend(mac_problems(self.mac_address.as_deref()));
        let needs_network = matches!(
            self.network,
            NetworkMode::Host | NetworkMode::None | NetworkMode::Container(_)
        );
        let endpoint_flags = !self.aliases.is_empty()
            || self.ip.is_some()
            || self.ip6.is_some()
            || self.mac_address.is_some();
        if needs_network && endpoint_flags {
            errors.push(ConfigError::new(
                "network",
                "--alias, --ip, --ip6 and --mac-address need a bridge or user-defined network",
            ));
        }
        errors.extend(publish_problems(&self.publish));
        if matches!(self.network, NetworkMode::Container(_)) && self.publishes() {
            // Docker's own words for it.
            errors.push(ConfigError::new(
                "publish",
                "conflicting options: port publishing and the container type network mode",
            ));
        }
        finish(errors)
    }

    /// Whether it asks for published ports (which host and none modes
    /// discard, with Docker's warning).
    pub fn publishes(&self) -> bool {
        !self.publish.is_empty() || self.publish_all
    }
}

/// The same host port, protocol and address asked for twice.
fn publish_problems(publish: &[PortMapping]) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for (i, mapping) in publish.iter().enumerate() {
        let Some(port) = mapping.host_port else {
            continue;
        };
        let clash = publish[..i].iter().any(|other| {
            other.host_port == Some(port)
                && other.protocol == mapping.protocol
                && (other.host_ip.is_none()
                    || mapping.host_ip.is_none()
                    || other.host_ip == mapping.host_ip)
        });
        if clash {
            errors.push(ConfigError::new(
                format!("publish[{i}]"),
                format!(
                    "host port {port}/{} is published twice",
                    mapping.protocol.as_str()
                ),
            ));
        }
    }
    errors
}

/// Upstream servers that cannot be one: the embedded resolver itself
/// (every question would come back to it) and the unspecified address.
fn dns_problems(dns: &[NameServer]) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for server in dns {
        if server.is_embedded_resolver() {
            errors.push(ConfigError::new(
                "dns",
                "127.0.0.11 is the embedded resolver itself",
            ));
        } else if server.0.ip().is_unspecified() {
            errors.push(ConfigError::new(
                "dns",
                format!("{server} is the unspecified address, not a server"),
            ));
        }
    }
    errors
}

fn strip_origin(text: &str) -> String {
    text.split_once(": ")
        .map(|(_, rest)| rest.to_owned())
        .unwrap_or_else(|| text.to_owned())
}

/// `Ok` when no problem was found, else all of them.
pub(crate) fn finish(errors: Vec<ConfigError>) -> Result<(), ConfigErrors> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors::from(errors))
    }
}

#[cfg(test)]
mod tests;
