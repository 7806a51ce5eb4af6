//! What a container runtime asks of the agent through one of its doors,
//! the CNI plugin or the OCI hook (DESIGN.md, seam 9): attach this
//! container's namespace, known by the runtime's container id, either to a
//! netagent bridge network (the plugin as the network's main plugin, or
//! the hook) or, with addresses another plugin already gave it, to a
//! DNS-only network (the plugin chained after `bridge` + `host-local`).
//!
//! Everything here came from a runtime's environment, stdin or
//! annotations: [`ContainerSpec::check`] treats it as hostile and names
//! every bad value.

use std::path::PathBuf;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, ConfigErrors};
use crate::names::check_dns_name;
use crate::spec::finish;

/// Which door a container came through: what releases it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Door {
    /// A CNI plugin call (ADD; DEL, GC or the process's exit release it).
    Cni,
    /// An OCI runtime hook (createRuntime; poststop or the exit releases it).
    Hook,
}

/// How the container joins the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Joining {
    /// A netagent bridge network: bridge, IPAM, veth named `ifname` inside.
    Bridge {
        /// The interface inside the namespace (CNI_IFNAME, `eth0`).
        ifname: String,
    },
    /// Names only: the addresses were given by the plugins before this one,
    /// and the DNS-only network is made on first use.
    DnsOnly {
        /// The interface those addresses are on.
        ifname: String,
        /// The addresses, with their prefixes (the previous result's `ips`).
        addresses: Vec<IpNet>,
    },
}

/// A runtime's request to attach one container to one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerSpec {
    /// The runtime's container id (CNI_CONTAINERID, the OCI state's `id`).
    pub id: String,
    /// The container's network namespace (CNI_NETNS, `/proc/PID/ns/net`).
    pub netns: PathBuf,
    /// The container's first process, when known: its exit releases the
    /// sandbox even if the runtime never says so (`ctr run -d` sends no DEL).
    #[serde(default)]
    pub pid: Option<u32>,
    /// The netagent network (or, for [`Joining::DnsOnly`], the DNS-only
    /// network named after the CNI network).
    pub network: String,
    /// How it joins.
    pub joining: Joining,
    /// Its name; the container id when the runtime gave none.
    #[serde(default)]
    pub name: Option<String>,
    /// Aliases on this network.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Published ports (CNI's `portMappings` capability, the hook's
    /// `netagent.publish` annotation), on a bridge network only.
    #[serde(default)]
    pub publish: Vec<crate::PortMapping>,
    /// The door it came through.
    pub door: Door,
}

/// The longest container id accepted (runtimes use 64 hex digits; ctr
/// adds its namespace in front).
pub const MAX_CONTAINER_ID: usize = 128;

impl ContainerSpec {
    /// The sandbox's name: the given name, else the container id, or its
    /// 12-digit short id when it is a full 64-digit one (what Docker shows
    /// as a nameless container's hostname; 64 bytes is no DNS label).
    pub fn sandbox_name(&self) -> &str {
        match &self.name {
            Some(name) => name,
            None if self.id.len() == 64 && self.id.bytes().all(|b| b.is_ascii_hexdigit()) => {
                &self.id[..12]
            }
            None => &self.id,
        }
    }

    /// Checks every field; every problem is reported, naming its value.
    pub fn check(&self) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        if self.id.is_empty()
            || self.id.len() > MAX_CONTAINER_ID
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            errors.push(ConfigError::new(
                "id",
                format!("{:?} is not a container id (letters, digits, '-', '_', '.'; at most {MAX_CONTAINER_ID})", self.id),
            ));
        }
        if !self.netns.is_absolute() {
            errors.push(ConfigError::new(
                "netns",
                format!("{:?} is not an absolute path", self.netns),
            ));
        }
        let mut name = |value: &str, field: String| {
            if let Err(err) = check_dns_name(value, &field) {
                errors.push(ConfigError::new(field, err.to_string()));
            }
        };
        name(self.sandbox_name(), "name".into());
        name(&self.network, "network".into());
        for (i, alias) in self.aliases.iter().enumerate() {
            name(alias, format!("aliases[{i}]"));
        }
        let ifname = match &self.joining {
            Joining::Bridge { ifname } | Joining::DnsOnly { ifname, .. } => ifname,
        };
        if ifname.is_empty() || ifname.len() > 15 || ifname.contains(['/', ' ', ':']) {
            // IFNAMSIZ is 16 with the terminating NUL (netdevice(7)).
            errors.push(ConfigError::new(
                "ifname",
                format!("{ifname:?} is not an interface name"),
            ));
        }
        if matches!(self.joining, Joining::DnsOnly { .. }) && !self.publish.is_empty() {
            errors.push(ConfigError::new(
                "publish",
                "a DNS-only attachment publishes no ports: chain the `portmap` plugin instead",
            ));
        }
        for (i, mapping) in self.publish.iter().enumerate() {
            if mapping.container_port == 0 || mapping.host_port == Some(0) {
                errors.push(ConfigError::new(
                    format!("publish[{i}]"),
                    format!("{mapping} has a port 0"),
                ));
            }
        }
        if let Joining::DnsOnly { addresses, .. } = &self.joining {
            if addresses.is_empty() {
                errors.push(ConfigError::new(
                    "addresses",
                    "a DNS-only attachment needs the addresses the plugins before it gave",
                ));
            }
        }
        finish(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ContainerSpec {
        ContainerSpec {
            id: "0123456789abcdef".into(),
            netns: "/run/netns/cni-1".into(),
            pid: None,
            network: "app".into(),
            joining: Joining::Bridge {
                ifname: "eth0".into(),
            },
            name: Some("web".into()),
            aliases: vec!["www".into()],
            publish: vec![],
            door: Door::Cni,
        }
    }

    #[test]
    fn a_good_spec_passes_and_the_id_names_a_nameless_one() {
        assert!(spec().check().is_ok());
        let nameless = ContainerSpec {
            name: None,
            id: "default-web".into(),
            ..spec()
        };
        assert_eq!(nameless.sandbox_name(), "default-web");
        assert!(nameless.check().is_ok());
        let podman_id = ContainerSpec {
            name: None,
            id: "0123456789ab".repeat(5) + "cdef",
            ..spec()
        };
        assert_eq!(podman_id.sandbox_name(), "0123456789ab");
    }

    #[test]
    fn every_hostile_field_is_named() {
        let bad = ContainerSpec {
            id: "../../etc".into(),
            netns: "relative/ns".into(),
            network: "no such!".into(),
            joining: Joining::DnsOnly {
                ifname: "eth0/../x".into(),
                addresses: vec![],
            },
            name: Some("a b".into()),
            aliases: vec!["ok".into(), "x,y".into()],
            ..spec()
        };
        let text = bad.check().unwrap_err().to_string();
        for expected in [
            "\"../../etc\" is not a container id",
            "\"relative/ns\" is not an absolute path",
            "network",
            "name",
            "aliases[1]",
            "\"eth0/../x\" is not an interface name",
            "needs the addresses",
        ] {
            assert!(text.contains(expected), "{expected:?} missing in {text}");
        }
    }
}
