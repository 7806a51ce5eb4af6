//! The daemon's configuration file (TOML), parsed into validated types.
//!
//! ```toml
//! [resolver]
//! ttl = 0                     # seconds on every local answer (aardvark#429: stale addresses)
//! edns_udp_size = 1232        # largest UDP answer offered to EDNS clients (DNS flag day 2020)
//! tcp_idle_timeout_ms = 10000 # RFC 7766 section 6.2.3
//! max_tcp_connections = 64    # per sandbox
//! max_tcp_connections_total = 1024 # over all sandboxes
//! tcp_write_timeout_ms = 5000 # a client that stops reading loses its connection
//! max_tcp_unanswered = 32     # queries read but not yet answered, per connection
//! domain = "netagent.internal" # the sandboxes' own domain; "" turns it off
//!
//! [forwarding]
//! max_in_flight = 1024
//! max_in_flight_per_sandbox = 256
//! fallback_delay_ms = 150
//! total_timeout_ms = 2000
//! cache_size = 10000         # forwarded answers kept (TTL-honouring); 0 turns the cache off
//!
//! [paths]
//! state_dir = "/var/lib/netagent"
//! netns_dir = "/run/netns"
//! socket = "/run/netagent/netagent.sock"
//! host_resolv_conf = "/etc/resolv.conf"
//! resolv_dir = "/etc/netns"
//!
//! [log]
//! level = "info"              # a tracing filter
//! format = "text"             # or "json"
//!
//! [agent]
//! dns_mode = "redirect"       # or "direct" (bind 127.0.0.11:53 itself)
//! address_pools = [{ base = "172.18.0.0/16", size = 16 }, { base = "192.168.0.0/16", size = 20 }]
//! subnet_size = 24            # for pools written as a bare "CIDR"
//! bridge_subnet = "172.17.0.0/16"
//!
//! [cluster]                   # absent: this host is alone (see cluster.rs)
//! endpoints = ["http://10.0.0.1:2379"]
//! host = "node1"
//! advertise = "10.0.0.11"
//! ```
//!
//! Every key is optional. An unknown section or key, a value of the wrong
//! type and a value out of range are all errors, and every error in the file
//! is reported together (see [`crate::ConfigErrors`]), so a user fixes the
//! file in one pass.

use std::path::{Path, PathBuf};

use crate::{ConfigError, ConfigErrors};

mod cluster;
mod cluster_tls;
mod domain;
mod pools;
mod raw;
mod sections;
mod tcp;

pub use cluster::{ClusterConfig, DEFAULT_LEASE_TTL_S};
use domain::check_domain;
pub use domain::DEFAULT_DOMAIN;
pub use pools::{docker_default_pools, AddressPool};
use raw::{check_range, section, RawAgent, RawForwarding, RawLog, RawPaths, RawResolver, SECTIONS};

/// The resolver's settings, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverConfig {
    /// TTL of every local answer, in seconds. Default 0: answers come from
    /// the live table at local cost, so clients need not cache them
    /// (aardvark-dns went 86400 -> 60 -> 0 for this reason, aardvark#429).
    pub ttl: u32,
    /// Largest UDP answer offered to EDNS clients (RFC 6891). Default 1232,
    /// the size that avoids IP fragmentation (DNS flag day 2020).
    pub edns_udp_size: u16,
    /// How long an idle TCP connection is kept, in milliseconds (RFC 7766).
    pub tcp_idle_timeout_ms: u64,
    /// Open TCP connections allowed per sandbox; more are closed at once.
    pub max_tcp_connections: usize,
    /// Open TCP connections allowed over all sandboxes; more are closed at
    /// once.
    pub max_tcp_connections_total: usize,
    /// How long writing one answer to a TCP client may take, in
    /// milliseconds; a client that does not read for that long loses its
    /// connection (issue #14).
    pub tcp_write_timeout_ms: u64,
    /// Queries read from one TCP connection and not yet answered (in
    /// flight upstream or waiting for the client to make room); a client
    /// that pipelines past it without reading loses its connection.
    pub max_tcp_unanswered: usize,
    /// The sandboxes' own domain, lower case and without the trailing dot;
    /// `None` when the file turns it off with `domain = ""`.
    ///
    /// The resolver answers `NAME.DOMAIN` as it answers `NAME` (and
    /// `NAME.NETWORK.DOMAIN` as `NAME.NETWORK`), gives NXDOMAIN for any
    /// other name under it without ever forwarding it, and a sandbox with
    /// the embedded resolver gets it first in its resolv.conf search list.
    /// That is what makes busybox's `nslookup web` work: for a one-label
    /// name it never asks `web` itself, only `web.<search domain>` (podman
    /// gets away with it by putting `dns.podman` first).
    ///
    /// Default `netagent.internal`: ICANN reserved the `.internal` top-level
    /// domain for private use in 2024 (it will never be delegated), so the
    /// domain cannot collide with a public name, and since the resolver
    /// answers everything under it, nothing under it is forwarded (no
    /// container name leaks upstream). A domain under `arpa` (the reverse
    /// zones) or `localhost` (RFC 6761 section 6.3) is refused.
    pub domain: Option<String>,
}

/// Bounds and timings for queries sent upstream, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardingConfig {
    /// Forwarded queries in flight over all sandboxes; past it, REFUSED.
    pub max_in_flight: usize,
    /// Forwarded queries in flight for one sandbox; past it, REFUSED.
    pub max_in_flight_per_sandbox: usize,
    /// Delay before the next upstream server is asked in parallel, ms.
    pub fallback_delay_ms: u64,
    /// Total time a forwarded query may take before SERVFAIL, ms.
    pub total_timeout_ms: u64,
    /// Forwarded answers the cache keeps, over all upstream sets; 0 turns
    /// the cache off. Its memory is bounded too: 1 KiB of answers a slot.
    pub cache_size: usize,
}

/// Where the agent keeps and finds things, validated as absolute paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathsConfig {
    /// Directory of the persistent state.
    pub state_dir: PathBuf,
    /// Directory of the named network namespaces (`ip netns` uses /run/netns).
    pub netns_dir: PathBuf,
    /// Unix socket of the control API.
    pub socket: PathBuf,
    /// The host's resolv.conf, source of the default upstream servers.
    pub host_resolv_conf: PathBuf,
    /// Where sandboxes' resolv.conf files go, one directory per sandbox
    /// (`/etc/netns`, where `ip netns exec` looks).
    pub resolv_dir: PathBuf,
}

/// How the resolver is bound in a sandbox (see the agent's `redirect`
/// module).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DnsMode {
    /// Sockets on a random port and a stateless nftables redirect from 53,
    /// so a process in the sandbox can still bind port 53.
    #[default]
    Redirect,
    /// 127.0.0.11:53 bound directly: no rules, but port 53 is taken.
    Direct,
}

/// The agent's settings, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// How resolvers are bound in sandboxes.
    pub dns_mode: DnsMode,
    /// IPv4 pools new networks' subnets come from, in order.
    pub address_pools: Vec<AddressPool>,
    /// Prefix length of the subnets of a pool written as a bare CIDR.
    pub subnet_size: u8,
    /// The default `bridge` network's subnet.
    pub bridge_subnet: ipnet::IpNet,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging settings, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// A `tracing_subscriber::EnvFilter` directive such as `info` or `resolver=debug`.
    pub level: String,
    /// Text or JSON.
    pub format: LogFormat,
}

/// The whole daemon configuration, validated; [`Default`] is what an empty
/// file gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    /// `[resolver]`
    pub resolver: ResolverConfig,
    /// `[forwarding]`
    pub forwarding: ForwardingConfig,
    /// `[paths]`
    pub paths: PathsConfig,
    /// `[log]`
    pub log: LogConfig,
    /// `[agent]`
    pub agent: AgentConfig,
    /// `[cluster]`, if this host shares overlay networks with others.
    pub cluster: Option<ClusterConfig>,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            resolver: ResolverConfig {
                ttl: 0,
                edns_udp_size: 1232,
                tcp_idle_timeout_ms: 10_000,
                max_tcp_connections: 64,
                max_tcp_connections_total: 1024,
                tcp_write_timeout_ms: 5000,
                max_tcp_unanswered: 32,
                domain: Some(DEFAULT_DOMAIN.to_owned()),
            },
            forwarding: ForwardingConfig {
                max_in_flight: 1024,
                max_in_flight_per_sandbox: 256,
                fallback_delay_ms: 150,
                total_timeout_ms: 2000,
                cache_size: 10_000,
            },
            paths: PathsConfig {
                state_dir: "/var/lib/netagent".into(),
                netns_dir: "/run/netns".into(),
                socket: "/run/netagent/netagent.sock".into(),
                host_resolv_conf: "/etc/resolv.conf".into(),
                resolv_dir: "/etc/netns".into(),
            },
            log: LogConfig {
                level: "info".into(),
                format: LogFormat::Text,
            },
            agent: AgentConfig {
                dns_mode: DnsMode::Redirect,
                // Docker's default pools, less 172.17.0.0/16 (the bridge).
                address_pools: docker_default_pools(),
                subnet_size: 24,
                bridge_subnet: "172.17.0.0/16".parse().expect("literal"),
            },
            cluster: None,
        }
    }
}

impl DaemonConfig {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<DaemonConfig, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            ConfigErrors::one(
                path,
                ConfigError::new("file", format!("cannot read it: {err}")),
            )
        })?;
        let config = DaemonConfig::parse(&text).map_err(|errors| errors.in_file(path))?;
        // The files the file names: a missing or wrong one is a problem of
        // this file, said now rather than at the first overlay command.
        let problems = config
            .cluster
            .as_ref()
            .map(ClusterConfig::check_files)
            .unwrap_or_default();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors::from(problems).in_file(path))
        }
    }

    /// Parses and validates TOML text; every problem in it is reported.
    pub fn parse(text: &str) -> Result<DaemonConfig, ConfigErrors> {
        let table: toml::Table = toml::from_str(text)
            .map_err(|err| ConfigErrors::from(vec![ConfigError::new("syntax", err.message())]))?;
        let mut errors = Vec::new();
        for key in table.keys() {
            if !SECTIONS.iter().any(|(name, _)| name == key) {
                errors.push(ConfigError::new(
                    key,
                    "unknown section; expected resolver, forwarding, paths, log, agent or cluster",
                ));
            }
        }
        let resolver: RawResolver = section(&table, 0, &mut errors);
        let forwarding: RawForwarding = section(&table, 1, &mut errors);
        let paths: RawPaths = section(&table, 2, &mut errors);
        let log: RawLog = section(&table, 3, &mut errors);
        let agent: RawAgent = section(&table, 4, &mut errors);
        let cluster: cluster::RawCluster = section(&table, 5, &mut errors);
        let cluster = cluster.resolve(table.contains_key("cluster"), &mut errors);
        let config = DaemonConfig::default()
            .with_resolver(resolver, &mut errors)
            .with_forwarding(forwarding, &mut errors)
            .with_paths(paths, &mut errors)
            .with_log(log, &mut errors)
            .with_agent(agent, &mut errors);
        let config = DaemonConfig { cluster, ..config };
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors::from(errors))
        }
    }

    fn with_resolver(mut self, raw: RawResolver, errors: &mut Vec<ConfigError>) -> Self {
        let r = &mut self.resolver;
        r.ttl = raw.ttl.unwrap_or(r.ttl);
        // RFC 2181 section 8: a TTL has its top bit clear.
        if r.ttl > i32::MAX as u32 {
            errors.push(ConfigError::new(
                "resolver.ttl",
                format!("{} is above 2147483647 (RFC 2181 section 8)", r.ttl),
            ));
        }
        r.edns_udp_size = raw.edns_udp_size.unwrap_or(r.edns_udp_size);
        check_range(
            errors,
            "resolver.edns_udp_size",
            r.edns_udp_size.into(),
            512,
            4096,
        );
        r.tcp_idle_timeout_ms = raw.tcp_idle_timeout_ms.unwrap_or(r.tcp_idle_timeout_ms);
        check_range(
            errors,
            "resolver.tcp_idle_timeout_ms",
            r.tcp_idle_timeout_ms,
            100,
            600_000,
        );
        r.max_tcp_connections = raw.max_tcp_connections.unwrap_or(r.max_tcp_connections);
        check_range(
            errors,
            "resolver.max_tcp_connections",
            r.max_tcp_connections as u64,
            1,
            65_536,
        );
        r.with_tcp_bounds(&raw, errors);
        if let Some(domain) = raw.domain {
            match check_domain(&domain) {
                Ok(domain) => r.domain = domain,
                Err(message) => errors.push(ConfigError::new("resolver.domain", message)),
            }
        }
        self
    }

    fn with_forwarding(mut self, raw: RawForwarding, errors: &mut Vec<ConfigError>) -> Self {
        let f = &mut self.forwarding;
        f.max_in_flight = raw.max_in_flight.unwrap_or(f.max_in_flight);
        check_range(
            errors,
            "forwarding.max_in_flight",
            f.max_in_flight as u64,
            1,
            1 << 20,
        );
        f.max_in_flight_per_sandbox = raw
            .max_in_flight_per_sandbox
            .unwrap_or(f.max_in_flight_per_sandbox);
        check_range(
            errors,
            "forwarding.max_in_flight_per_sandbox",
            f.max_in_flight_per_sandbox as u64,
            1,
            f.max_in_flight as u64,
        );
        f.total_timeout_ms = raw.total_timeout_ms.unwrap_or(f.total_timeout_ms);
        // A client's stub resolver gives up after 5 s (resolv.conf(5) `timeout`);
        // an answer after that reaches nobody.
        check_range(
            errors,
            "forwarding.total_timeout_ms",
            f.total_timeout_ms,
            100,
            5000,
        );
        f.fallback_delay_ms = raw.fallback_delay_ms.unwrap_or(f.fallback_delay_ms);
        check_range(
            errors,
            "forwarding.fallback_delay_ms",
            f.fallback_delay_ms,
            1,
            f.total_timeout_ms,
        );
        f.cache_size = raw.cache_size.unwrap_or(f.cache_size);
        check_range(
            errors,
            "forwarding.cache_size",
            f.cache_size as u64,
            0,
            1 << 20,
        );
        self
    }

    fn with_paths(mut self, raw: RawPaths, errors: &mut Vec<ConfigError>) -> Self {
        let p = &mut self.paths;
        for (key, given, field) in [
            ("paths.state_dir", raw.state_dir, &mut p.state_dir),
            ("paths.netns_dir", raw.netns_dir, &mut p.netns_dir),
            ("paths.socket", raw.socket, &mut p.socket),
            (
                "paths.host_resolv_conf",
                raw.host_resolv_conf,
                &mut p.host_resolv_conf,
            ),
            ("paths.resolv_dir", raw.resolv_dir, &mut p.resolv_dir),
        ] {
            let Some(path) = given else { continue };
            if path.is_absolute() {
                *field = path;
            } else {
                errors.push(ConfigError::new(
                    key,
                    format!("{} is not an absolute path", path.display()),
                ));
            }
        }
        self
    }
}

#[cfg(test)]
mod tests;
