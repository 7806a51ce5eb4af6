//! What `docker run` and `docker network create` take beyond names and
//! subnets (issue #13): `--add-host HOST:IP`, `--mac-address`,
//! `--ip-range`, `--aux-address`, and the state of the command `run`
//! started in a sandbox, as the CLI reports it to the agent. Each check
//! names the value; none is stricter than Docker's.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::{check_dns_name, ConfigError};

/// The command `netagent run` started in a sandbox: what `ps` shows as
/// `Up` or `Exited (CODE)`, and what `rm` refuses to remove while it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandState {
    /// The command and its arguments.
    pub argv: Vec<String>,
    /// Its process (in the host's pid namespace).
    pub pid: Option<u32>,
    /// When it started (RFC 3339).
    pub started: String,
    /// Its exit code, once it has exited.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// When it exited (RFC 3339).
    #[serde(default)]
    pub finished: Option<String>,
}

/// `--add-host HOST:IP` entries that are not one (Docker splits at the
/// first `:`, so `host:::1` is IPv6 `::1`; `host-gateway` is Docker's
/// word for its bridge's address, which netagent does not have).
pub fn extra_host_problems(hosts: &[String]) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for (i, entry) in hosts.iter().enumerate() {
        let field = format!("extra_hosts[{i}]");
        match entry.split_once(':') {
            None => errors.push(ConfigError::new(
                field,
                format!("invalid argument {entry:?} for \"--add-host\": not HOST:IP"),
            )),
            Some((host, address)) => {
                if check_dns_name(host, "host").is_err() {
                    errors.push(ConfigError::new(
                        &field,
                        format!("{host:?} in {entry:?} is not a host name"),
                    ));
                }
                if address.parse::<IpAddr>().is_err() {
                    errors.push(ConfigError::new(
                        field,
                        format!("invalid IP address in add-host: {address:?}"),
                    ));
                }
            }
        }
    }
    errors
}

/// A `--mac-address` that is not six hex octets, or is a multicast one
/// (no interface may have it; Docker refuses both).
pub fn mac_problems(mac: Option<&str>) -> Vec<ConfigError> {
    let Some(mac) = mac else { return Vec::new() };
    match parse_mac(mac) {
        Some(octets) if octets[0] & 1 == 0 => Vec::new(),
        Some(_) => vec![ConfigError::new(
            "mac_address",
            format!("{mac} is a multicast MAC address"),
        )],
        None => vec![ConfigError::new(
            "mac_address",
            format!("{mac} is not a valid mac address"),
        )],
    }
}

/// Six octets from `aa:bb:cc:dd:ee:ff` (or `-` between them).
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = text.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut octets = [0u8; 6];
    for (octet, part) in octets.iter_mut().zip(parts) {
        if part.len() != 2 {
            return None;
        }
        *octet = u8::from_str_radix(part, 16).ok()?;
    }
    Some(octets)
}

/// `--ip-range` and `--aux-address` outside every subnet, or given with no
/// subnet at all (Docker: they describe a subnet the user gives).
pub fn range_problems(
    subnets: &[IpNet],
    ranges: &[IpNet],
    aux: &BTreeMap<String, IpAddr>,
) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for range in ranges {
        if !subnets.iter().any(|s| s.contains(range)) {
            errors.push(ConfigError::new(
                "ip_ranges",
                format!("ip-range {range} is not inside any --subnet given"),
            ));
        }
    }
    for (name, address) in aux {
        if !subnets.iter().any(|s| s.contains(address)) {
            errors.push(ConfigError::new(
                "aux_addresses",
                format!("aux-address {name}={address} is not inside any --subnet given"),
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_host_is_split_at_the_first_colon_as_docker_does() {
        assert!(extra_host_problems(&["db:10.0.0.5".into(), "v6:::1".into()]).is_empty());
        let errors = extra_host_problems(&["nocolon".into(), "db:300.1.1.1".into()]);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[1].to_string().contains("300.1.1.1"));
    }

    #[test]
    fn macs_are_six_octets_and_unicast() {
        assert_eq!(
            parse_mac("02:42:ac:11:00:02"),
            Some([2, 0x42, 0xac, 0x11, 0, 2])
        );
        assert!(mac_problems(Some("02:42:ac:11:00:02")).is_empty());
        assert!(mac_problems(Some("01:00:5e:00:00:01"))[0]
            .to_string()
            .contains("multicast"));
        assert!(mac_problems(Some("02:42:ac"))[0]
            .to_string()
            .contains("02:42:ac"));
    }

    #[test]
    fn ranges_and_aux_addresses_must_be_inside_a_subnet() {
        let subnets: Vec<IpNet> = vec!["10.1.0.0/16".parse().unwrap()];
        let ranges: Vec<IpNet> = vec!["10.1.2.0/24".parse().unwrap()];
        let aux = BTreeMap::from([("router".to_owned(), "10.1.0.5".parse().unwrap())]);
        assert!(range_problems(&subnets, &ranges, &aux).is_empty());
        let errors = range_problems(&[], &ranges, &aux);
        assert_eq!(errors.len(), 2);
        assert!(errors[0].to_string().contains("10.1.2.0/24"));
    }
}
