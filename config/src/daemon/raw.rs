//! The file as serde reads it, before validation: every key optional,
//! unknown keys refused, and each key read on its own so that every error
//! of the file is reported, not the first only.

use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::DnsMode;
use crate::ConfigError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawResolver {
    pub(super) ttl: Option<u32>,
    pub(super) edns_udp_size: Option<u16>,
    pub(super) tcp_idle_timeout_ms: Option<u64>,
    pub(super) max_tcp_connections: Option<usize>,
    pub(super) max_tcp_connections_total: Option<usize>,
    pub(super) tcp_write_timeout_ms: Option<u64>,
    pub(super) max_tcp_unanswered: Option<usize>,
    pub(super) domain: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawForwarding {
    pub(super) max_in_flight: Option<usize>,
    pub(super) max_in_flight_per_sandbox: Option<usize>,
    pub(super) fallback_delay_ms: Option<u64>,
    pub(super) total_timeout_ms: Option<u64>,
    pub(super) cache_size: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPaths {
    pub(super) state_dir: Option<PathBuf>,
    pub(super) netns_dir: Option<PathBuf>,
    pub(super) socket: Option<PathBuf>,
    pub(super) host_resolv_conf: Option<PathBuf>,
    pub(super) resolv_dir: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAgent {
    pub(super) dns_mode: Option<DnsMode>,
    pub(super) address_pools: Option<Vec<super::pools::RawPool>>,
    pub(super) subnet_size: Option<u8>,
    pub(super) bridge_subnet: Option<ipnet::IpNet>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    pub(super) level: Option<String>,
    pub(super) format: Option<String>,
}

/// The sections of the file and the keys each one takes, for reporting
/// every unknown key rather than the first one serde meets.
pub(super) const SECTIONS: [(&str, &[&str]); 6] = [
    (
        "resolver",
        &[
            "ttl",
            "edns_udp_size",
            "tcp_idle_timeout_ms",
            "max_tcp_connections",
            "max_tcp_connections_total",
            "tcp_write_timeout_ms",
            "max_tcp_unanswered",
            "domain",
        ],
    ),
    (
        "forwarding",
        &[
            "max_in_flight",
            "max_in_flight_per_sandbox",
            "fallback_delay_ms",
            "total_timeout_ms",
            "cache_size",
        ],
    ),
    (
        "paths",
        &[
            "state_dir",
            "netns_dir",
            "socket",
            "host_resolv_conf",
            "resolv_dir",
        ],
    ),
    ("log", &["level", "format"]),
    (
        "agent",
        &["dns_mode", "address_pools", "subnet_size", "bridge_subnet"],
    ),
    ("cluster", super::cluster::KEYS),
];

/// Deserializes section `index` of [`SECTIONS`], reporting each unknown key
/// and each badly typed value on its own before giving up on the section.
pub(super) fn section<T: DeserializeOwned + Default>(
    table: &toml::Table,
    index: usize,
    errors: &mut Vec<ConfigError>,
) -> T {
    let (name, keys) = SECTIONS[index];
    let Some(value) = table.get(name) else {
        return T::default();
    };
    let Some(entries) = value.as_table() else {
        errors.push(ConfigError::new(name, "must be a table ([section])"));
        return T::default();
    };
    let mut good = toml::Table::new();
    for (key, value) in entries {
        let origin = format!("{name}.{key}");
        if !keys.contains(&key.as_str()) {
            errors.push(ConfigError::new(
                origin,
                format!("unknown key; expected one of {}", keys.join(", ")),
            ));
            continue;
        }
        let single = toml::Table::from_iter([(key.clone(), value.clone())]);
        match T::deserialize(toml::Value::Table(single)) {
            Ok(_) => {
                good.insert(key.clone(), value.clone());
            }
            Err(err) => errors.push(ConfigError::new(
                origin,
                format!("{value} is not valid: {}", err.message().trim()),
            )),
        }
    }
    // The keys that parsed on their own go on to the range checks, so a
    // type error in one key does not hide a range error in another.
    T::deserialize(toml::Value::Table(good)).unwrap_or_default()
}

pub(super) fn check_range(
    errors: &mut Vec<ConfigError>,
    key: &str,
    value: u64,
    min: u64,
    max: u64,
) {
    if !(min..=max).contains(&value) {
        errors.push(ConfigError::new(
            key,
            format!("{value} is outside {min}..={max}"),
        ));
    }
}
