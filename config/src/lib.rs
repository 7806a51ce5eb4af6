//! Typed, validated configuration for netagent.
//!
//! Module map:
//! - [`daemon`]: the daemon's TOML file (`[resolver]`, `[forwarding]`,
//!   `[paths]`, `[log]`), parsed with unknown keys refused and every error
//!   of the file reported together.
//! - [`names`]: checks for sandbox names, aliases, hostnames and network
//!   names, with errors that name the value and where it came from.
//! - [`extras`]: `--add-host`, `--mac-address`, `--ip-range`,
//!   `--aux-address` checks, and the state of a sandbox's command.
//! - [`service`]: exposed service ports, `SERVICE=PORT/PROTO`.
//! - [`ports`]: published ports, `-p [IP:][HOSTPORT:]CONTAINERPORT[/PROTO]`.
//! - [`bridge_options`]: a bridge network's `-o KEY=VALUE`, Docker's keys.
//! - [`overlay_options`]: an overlay network's `-o KEY=VALUE`.
//! - [`spec`]: what users ask for: networks and sandboxes, checked.
//! - `subnets`: a network's subnets and gateways, checked.
//! - [`container`]: what a container runtime asks for through the CNI
//!   plugin or the OCI hook, checked as hostile input.
//! - [`nameserver`]: upstream server addresses (`IP`, `IP:PORT`,
//!   `IPv6%iface`).
//! - [`error`]: [`ConfigError`] (one problem) and [`ConfigErrors`] (all of
//!   a file's problems).
//!
//! This crate has no I/O beyond reading the file it is given (and the TLS
//! files that file names), so the
//! resolver and the agent can both depend on it.

/// Serializes a type as its `Display` text and deserializes it with its
/// `FromStr`, so the JSON and TOML forms are what users type on the
/// command line.
macro_rules! serde_as_text {
    ($type:ty) => {
        impl serde::Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

pub mod bridge_options;
pub mod container;
pub mod daemon;
pub mod error;
pub mod extras;
pub mod names;
pub mod nameserver;
pub mod overlay_options;
pub mod ports;
pub mod service;
pub mod spec;
mod subnets;

pub use bridge_options::BridgeOptions;
pub use container::{ContainerSpec, Door, Joining};
pub use daemon::{
    docker_default_pools, AddressPool, AgentConfig, ClusterConfig, DaemonConfig, DnsMode,
    ForwardingConfig, LogConfig, LogFormat, PathsConfig, ResolverConfig, DEFAULT_LEASE_TTL_S,
};
pub use error::{ConfigError, ConfigErrors};
pub use extras::{parse_mac, CommandState};
pub use names::{check_dns_name, check_sandbox_name, NameError};
pub use nameserver::{NameServer, NameServerError, DNS_PORT, EMBEDDED_RESOLVER};
pub use overlay_options::OverlayOptions;
pub use ports::{PortMapping, PortMappingError};
pub use service::{Protocol, ServicePort, ServicePortError};
pub use spec::{Adopt, NetworkMode, NetworkSpec, SandboxSpec, BUILTIN_NETWORKS};
