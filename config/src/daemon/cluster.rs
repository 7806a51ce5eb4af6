//! `[cluster]`: joining a cluster of hosts that share overlay networks
//! through etcd (issue #15). Without the section the daemon runs alone
//! and no etcd code runs.
//!
//! ```toml
//! [cluster]
//! endpoints = ["http://10.0.0.1:2379"]  # etcd's client URLs
//! host = "node1"              # this host's name, unique in the cluster
//! advertise = "10.0.0.11"     # this host's underlay address (VXLAN)
//! prefix = "/netagent/"       # every key lives under it
//! lease_ttl_s = 10            # a dead host's endpoints go after this
//! overlay_pool = "10.0.0.0/8" # overlay subnets without --subnet, as /20s
//! ca_file = "/etc/netagent/etcd-ca.pem"      # for https:// endpoints
//! cert_file = "/etc/netagent/etcd-client.pem" # client certificate ...
//! key_file = "/etc/netagent/etcd-client.key"  # ... and its key
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use ipnet::Ipv4Net;
use serde::Deserialize;

use crate::ConfigError;

/// Default seconds of a host's lease: its endpoints vanish from the other
/// hosts this long after its agent dies (etcd's own default election
/// timeout is 1 s; 10 s rides out a slow keep-alive or a GC pause).
pub const DEFAULT_LEASE_TTL_S: u64 = 10;

/// The cluster this host belongs to, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// etcd's client URLs, `http://` or `https://`.
    pub endpoints: Vec<String>,
    /// This host's name in the cluster.
    pub host: String,
    /// The underlay address other hosts send this host's VXLAN traffic to.
    pub advertise: Ipv4Addr,
    /// The key prefix, ending in `/`.
    pub prefix: String,
    /// Seconds of this host's lease.
    pub lease_ttl_s: u64,
    /// Where overlay subnets not given come from, as /20s (the whole
    /// pool when it is smaller).
    pub overlay_pool: Ipv4Net,
    /// The CA that signed etcd's server certificate.
    pub ca_file: Option<PathBuf>,
    /// This host's client certificate and key, both or neither.
    pub cert_file: Option<PathBuf>,
    /// The key of `cert_file`.
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    pub(super) endpoints: Option<Vec<String>>,
    pub(super) host: Option<String>,
    pub(super) advertise: Option<IpAddr>,
    pub(super) prefix: Option<String>,
    pub(super) lease_ttl_s: Option<u64>,
    pub(super) overlay_pool: Option<Ipv4Net>,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) cert_file: Option<PathBuf>,
    pub(super) key_file: Option<PathBuf>,
}

/// The keys of `[cluster]`.
pub(super) const KEYS: &[&str] = &[
    "endpoints",
    "host",
    "advertise",
    "prefix",
    "lease_ttl_s",
    "overlay_pool",
    "ca_file",
    "cert_file",
    "key_file",
];

impl RawCluster {
    fn is_empty(&self) -> bool {
        self.endpoints.is_none() && self.host.is_none() && self.advertise.is_none()
    }

    /// The validated section, `None` when absent; every problem is pushed.
    pub(super) fn resolve(
        self,
        present: bool,
        errors: &mut Vec<ConfigError>,
    ) -> Option<ClusterConfig> {
        if !present && self.is_empty() {
            return None;
        }
        let before = errors.len();
        let endpoints = self.endpoints.unwrap_or_default();
        if endpoints.is_empty() {
            errors.push(ConfigError::new(
                "cluster.endpoints",
                "is missing or empty; give etcd's client URLs",
            ));
        }
        for url in &endpoints {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                errors.push(ConfigError::new(
                    "cluster.endpoints",
                    format!("{url:?} is not an http:// or https:// URL"),
                ));
            }
        }
        let host = self.host.unwrap_or_default();
        if !valid_host(&host) {
            errors.push(ConfigError::new(
                "cluster.host",
                format!("{host:?} is not a host name (letters, digits, '-', '_', '.', 1 to 63)"),
            ));
        }
        let advertise = match self.advertise {
            Some(IpAddr::V4(a)) if !a.is_unspecified() && !a.is_loopback() => a,
            Some(other) => {
                errors.push(ConfigError::new(
                    "cluster.advertise",
                    format!("{other} is not a unicast IPv4 address of this host"),
                ));
                Ipv4Addr::UNSPECIFIED
            }
            None => {
                errors.push(ConfigError::new(
                    "cluster.advertise",
                    "is missing; give this host's underlay address",
                ));
                Ipv4Addr::UNSPECIFIED
            }
        };
        let prefix = self.prefix.unwrap_or_else(|| "/netagent/".into());
        if !prefix.ends_with('/') || prefix.len() < 2 {
            errors.push(ConfigError::new(
                "cluster.prefix",
                format!("{prefix:?} must be a non-empty path ending in '/'"),
            ));
        }
        let lease_ttl_s = self.lease_ttl_s.unwrap_or(DEFAULT_LEASE_TTL_S);
        super::raw::check_range(errors, "cluster.lease_ttl_s", lease_ttl_s, 2, 3600);
        let overlay_pool = self
            .overlay_pool
            .unwrap_or_else(|| "10.0.0.0/8".parse().expect("literal"));
        if overlay_pool.prefix_len() > 24 {
            errors.push(ConfigError::new(
                "cluster.overlay_pool",
                format!("{overlay_pool} is smaller than one /24"),
            ));
        }
        if self.cert_file.is_some() != self.key_file.is_some() {
            errors.push(ConfigError::new(
                "cluster.cert_file",
                "cert_file and key_file go together",
            ));
        }
        let tls = [&self.ca_file, &self.cert_file, &self.key_file];
        errors.extend(super::cluster_tls::problems(&endpoints, tls));
        (errors.len() == before).then_some(ClusterConfig {
            endpoints,
            host,
            advertise,
            prefix,
            lease_ttl_s,
            overlay_pool: overlay_pool.trunc(),
            ca_file: self.ca_file,
            cert_file: self.cert_file,
            key_file: self.key_file,
        })
    }
}

/// A host name as keys and logs take it: no `/`, nothing odd.
fn valid_host(host: &str) -> bool {
    (1..=63).contains(&host.len())
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use crate::DaemonConfig;

    #[test]
    fn absent_section_means_no_cluster() {
        assert_eq!(DaemonConfig::parse("").unwrap().cluster, None);
    }

    #[test]
    fn minimal_section_takes_defaults() {
        let config = DaemonConfig::parse(
            "[cluster]\nendpoints = [\"http://10.0.0.1:2379\"]\nhost = \"n1\"\nadvertise = \"10.0.0.11\"\n",
        )
        .unwrap();
        let cluster = config.cluster.unwrap();
        assert_eq!(cluster.prefix, "/netagent/");
        assert_eq!(cluster.lease_ttl_s, super::DEFAULT_LEASE_TTL_S);
        assert_eq!(cluster.advertise.to_string(), "10.0.0.11");
    }

    #[test]
    fn every_bad_value_is_named() {
        let err = DaemonConfig::parse(
            "[cluster]\nendpoints = [\"etcd:2379\"]\nhost = \"a/b\"\nadvertise = \"::1\"\nprefix = \"x\"\nlease_ttl_s = 1\ncert_file = \"/c\"\n",
        )
        .unwrap_err()
        .to_string();
        for needle in [
            "etcd:2379",
            "a/b",
            "::1",
            "\"x\"",
            "lease_ttl_s",
            "key_file",
        ] {
            assert!(err.contains(needle), "{needle} not in {err}");
        }
    }
}
