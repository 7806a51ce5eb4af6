//! The `host` and `none` networks, which every Docker host lists and
//! inspects (drivers `host` and `null`) though nothing is made for them
//! (issue #13): `network ls` shows them beside `bridge`, `network inspect
//! host|none` answers with the sandboxes in that mode, and `network rm`
//! refuses them as Docker does. Their ids are derived from the default
//! bridge's, so they stay the same across restarts of one agent.

use std::collections::BTreeMap;

use config::NetworkMode;

use super::model::{ConfigFrom, Ipam, NetworkContainer, NetworkInspect, NetworkSummary};
use crate::agent::store::State;

/// The networks with nothing behind them, and their drivers.
pub const MODE_NETWORKS: [(&str, &str); 2] = [("host", "host"), ("none", "null")];

/// A stable 64-hex id for `name`, from the default bridge's id (FNV-1a,
/// four rounds): ids only need to be unique on this host.
fn id_of(state: &State, name: &str) -> String {
    let seed = state
        .networks
        .get(config::BUILTIN_NETWORKS[0])
        .map(|n| n.id.as_str())
        .unwrap_or("");
    (0u8..4)
        .map(|round| {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
            for byte in [round].iter().chain(seed.as_bytes()).chain(name.as_bytes()) {
                hash ^= u64::from(*byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
            format!("{hash:016x}")
        })
        .collect()
}

/// `network ls`'s rows for `host` and `none`.
pub fn mode_summaries(state: &State) -> Vec<NetworkSummary> {
    MODE_NETWORKS
        .iter()
        .map(|(name, driver)| NetworkSummary {
            id: id_of(state, name),
            name: (*name).into(),
            driver: (*driver).into(),
            scope: "local".into(),
            subnets: vec![],
            internal: false,
            sandboxes: in_mode(state, name).count(),
            created: created_of(state),
            labels: BTreeMap::new(),
        })
        .collect()
}

fn created_of(state: &State) -> String {
    state
        .networks
        .get(config::BUILTIN_NETWORKS[0])
        .map(|n| n.created.clone())
        .unwrap_or_default()
}

fn in_mode<'a>(
    state: &'a State,
    name: &'a str,
) -> impl Iterator<Item = &'a crate::agent::store::SandboxRecord> + 'a {
    let mode = NetworkMode::parse(name);
    state
        .sandboxes
        .values()
        .filter(move |s| s.spec.network == mode && s.container.is_none())
}

/// `network inspect host` or `none`, or `None` for any other name.
pub fn mode_inspect(state: &State, name: &str) -> Option<NetworkInspect> {
    let (name, driver) = MODE_NETWORKS.iter().find(|(n, _)| *n == name)?;
    let containers = in_mode(state, name)
        .map(|s| {
            let entry = NetworkContainer {
                name: s.name.clone(),
                endpoint_id: String::new(),
                mac_address: String::new(),
                ipv4_address: String::new(),
                ipv6_address: String::new(),
                host: None,
            };
            (s.id.clone(), entry)
        })
        .collect();
    Some(NetworkInspect {
        attachable: false,
        config_from: ConfigFrom {
            network: String::new(),
        },
        config_only: false,
        containers,
        created: created_of(state),
        driver: (*driver).into(),
        enable_ipv6: false,
        ipam: Ipam {
            config: vec![],
            driver: "default".into(),
            options: BTreeMap::new(),
        },
        id: id_of(state, name),
        ingress: false,
        internal: false,
        labels: BTreeMap::new(),
        name: (*name).into(),
        options: BTreeMap::new(),
        scope: "local".into(),
    })
}
