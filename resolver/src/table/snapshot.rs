//! The table's JSON form: what `netagent dns table --format json` prints and
//! what `netagent dns serve --table FILE` reads.
//!
//! ```json
//! {
//!   "networks": [
//!     { "name": "app", "id": "<64 hex>", "subnets": ["10.89.0.0/24"], "internal": false }
//!   ],
//!   "endpoints": [
//!     { "sandbox": "web", "id": "<64 hex>", "network": "app", "hostname": "web-1",
//!       "aliases": ["www"], "ipv4": "10.89.0.2", "ipv6": "fd00::2",
//!       "services": ["http=80/tcp"] }
//!   ]
//! }
//! ```
//!
//! Loading checks the whole file and reports every problem, each naming the
//! value and its place (`endpoints[1].aliases[0]`).

use std::path::Path;

use config::{check_dns_name, check_sandbox_name, ConfigError, ConfigErrors};
use serde::{Deserialize, Serialize};

use super::{Endpoint, EndpointTable, Network};

/// Every network and endpoint of a table, in a serializable form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSnapshot {
    /// The networks, ordered by name.
    #[serde(default)]
    pub networks: Vec<Network>,
    /// The endpoints, ordered by network then sandbox id.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
}

impl TableSnapshot {
    /// Takes a consistent copy of the table.
    pub fn of(table: &EndpointTable) -> TableSnapshot {
        TableSnapshot {
            networks: table.networks(),
            endpoints: table.endpoints(),
        }
    }

    /// Reads a snapshot file, checks it and builds a table from it.
    pub fn load(path: &Path) -> Result<EndpointTable, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            ConfigErrors::one(
                path,
                ConfigError::new("file", format!("cannot read it: {err}")),
            )
        })?;
        let snapshot: TableSnapshot = serde_json::from_str(&text).map_err(|err| {
            let origin = format!("line {} column {}", err.line(), err.column());
            ConfigErrors::one(path, ConfigError::new(origin, err.to_string()))
        })?;
        snapshot.into_table().map_err(|errors| errors.in_file(path))
    }

    /// Checks the snapshot and builds a table from it; every problem found
    /// is reported.
    pub fn into_table(self) -> Result<EndpointTable, ConfigErrors> {
        let mut errors = self.check();
        let table = EndpointTable::new();
        if errors.is_empty() {
            for network in self.networks {
                let origin = format!("network {:?}", network.name);
                if let Err(err) = table.add_network(network) {
                    errors.push(ConfigError::new(origin, err.to_string()));
                }
            }
            for (i, endpoint) in self.endpoints.into_iter().enumerate() {
                if let Err(err) = table.connect(endpoint) {
                    errors.push(ConfigError::new(format!("endpoints[{i}]"), err.to_string()));
                }
            }
        }
        if errors.is_empty() {
            Ok(table)
        } else {
            Err(ConfigErrors::from(errors))
        }
    }

    /// Checks names, ids and addresses without building anything.
    fn check(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        for (i, network) in self.networks.iter().enumerate() {
            let at = format!("networks[{i}]");
            push_err(
                &mut errors,
                check_dns_name(&network.name, &format!("{at}.name")),
            );
            check_hex_id(&mut errors, &network.id, &format!("{at}.id"));
        }
        for (i, endpoint) in self.endpoints.iter().enumerate() {
            check_endpoint(&mut errors, self, endpoint, &format!("endpoints[{i}]"));
        }
        errors
    }
}

fn check_endpoint(
    errors: &mut Vec<ConfigError>,
    snapshot: &TableSnapshot,
    endpoint: &Endpoint,
    at: &str,
) {
    push_err(
        errors,
        check_sandbox_name(&endpoint.sandbox, &format!("{at}.sandbox")),
    );
    check_hex_id(errors, &endpoint.id, &format!("{at}.id"));
    if let Some(hostname) = &endpoint.hostname {
        push_err(errors, check_dns_name(hostname, &format!("{at}.hostname")));
    }
    for (j, alias) in endpoint.aliases.iter().enumerate() {
        push_err(errors, check_dns_name(alias, &format!("{at}.aliases[{j}]")));
    }
    let Some(network) = snapshot
        .networks
        .iter()
        .find(|n| n.name.eq_ignore_ascii_case(&endpoint.network))
    else {
        errors.push(ConfigError::new(
            format!("{at}.network"),
            format!("{:?} is not in \"networks\"", endpoint.network),
        ));
        return;
    };
    if endpoint.ipv4.is_none() && endpoint.ipv6.is_none() {
        errors.push(ConfigError::new(at, "has neither \"ipv4\" nor \"ipv6\""));
    }
    for address in endpoint.addresses() {
        if !network.subnets.is_empty() && !network.subnets.iter().any(|s| s.contains(&address)) {
            errors.push(ConfigError::new(
                at,
                format!(
                    "address {address} is outside the subnets of network {:?}",
                    network.name
                ),
            ));
        }
    }
}

fn check_hex_id(errors: &mut Vec<ConfigError>, id: &str, at: &str) {
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        errors.push(ConfigError::new(
            at,
            format!("{id:?} is not 64 hexadecimal digits"),
        ));
    }
}

fn push_err<E: std::fmt::Display>(errors: &mut Vec<ConfigError>, result: Result<(), E>) {
    if let Err(err) = result {
        let text = err.to_string();
        // Name errors already start with their origin: keep them whole.
        let (origin, message) = text.split_once(": ").unwrap_or(("", &text));
        errors.push(ConfigError::new(origin, message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::tests::{endpoint, network};

    #[test]
    fn round_trips_through_json() {
        let table = EndpointTable::new();
        table.add_network(network("app")).unwrap();
        let mut web = endpoint("web", "app", "10.0.0.2");
        web.services = vec!["http=80/tcp".parse().unwrap()];
        table.connect(web).unwrap();
        let json = serde_json::to_string(&TableSnapshot::of(&table)).unwrap();
        let back: TableSnapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(back, TableSnapshot::of(&back.clone().into_table().unwrap()));
        assert!(json.contains("\"services\":[\"http=80/tcp\"]"), "{json}");
    }

    #[test]
    fn reports_every_problem_naming_value_and_place() {
        let mut bad = endpoint("web", "app", "192.168.1.2");
        bad.aliases = vec!["ok".into(), "not ok".into()];
        bad.id = "xyz".into();
        let mut lost = endpoint("db", "app", "10.0.0.3");
        lost.network = "nowhere".into();
        let mut net = network("app");
        net.subnets = vec!["10.0.0.0/24".parse().unwrap()];
        let snapshot = TableSnapshot {
            networks: vec![net],
            endpoints: vec![bad, lost],
        };
        let text = snapshot.into_table().unwrap_err().to_string();
        for expected in [
            "endpoints[0].aliases[1]: \"not ok\" contains ' '",
            "endpoints[0].id: \"xyz\" is not 64 hexadecimal digits",
            "endpoints[0]: address 192.168.1.2 is outside the subnets of network \"app\"",
            "endpoints[1].network: \"nowhere\" is not in \"networks\"",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }
}
