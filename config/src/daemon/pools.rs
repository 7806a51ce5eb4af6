//! Default address pools, as Docker's (issue #13): `172.17.0.0/16` is the
//! default `bridge`'s, then each of `172.18.0.0/16` ... `172.31.0.0/16` is
//! one network's whole /16, then `192.168.0.0/16` is cut into /20s
//! (moby's `ipamutils` defaults). Configurable as Docker's
//! `default-address-pools` is: each entry of `[agent] address_pools` is
//! `{ base = "CIDR", size = N }`, or a bare `"CIDR"` cut into
//! `subnet_size` subnets (netagent's earlier form, still read).

use ipnet::IpNet;
use serde::Deserialize;

use crate::ConfigError;

/// One pool: `/size` subnets cut from `base`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPool {
    /// The range the subnets come from.
    pub base: IpNet,
    /// The prefix length of each subnet.
    pub size: u8,
}

/// An entry as the file has it.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawPool {
    /// `"172.18.0.0/16"`: cut into `subnet_size` subnets.
    Cidr(IpNet),
    /// `{ base = "...", size = N }`, Docker's form.
    Table(PoolTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PoolTable {
    base: IpNet,
    size: u8,
}

/// Docker's defaults, less the bridge's 172.17.0.0/16.
pub fn docker_default_pools() -> Vec<AddressPool> {
    (18..=31)
        .map(|b| AddressPool {
            base: format!("172.{b}.0.0/16").parse().expect("literal"),
            size: 16,
        })
        .chain([AddressPool {
            base: "192.168.0.0/16".parse().expect("literal"),
            size: 20,
        }])
        .collect()
}

/// The pools of the file, each checked: IPv4, and a size that fits.
pub(super) fn resolve(
    raw: Vec<RawPool>,
    subnet_size: u8,
    errors: &mut Vec<ConfigError>,
) -> Vec<AddressPool> {
    if raw.is_empty() {
        errors.push(ConfigError::new(
            "agent.address_pools",
            "is empty; networks would get no subnet",
        ));
    }
    let pools: Vec<AddressPool> = raw
        .into_iter()
        .map(|pool| match pool {
            RawPool::Cidr(base) => AddressPool {
                base,
                size: subnet_size,
            },
            RawPool::Table(PoolTable { base, size }) => AddressPool { base, size },
        })
        .collect();
    for pool in &pools {
        let AddressPool { base, size } = pool;
        if !base.addr().is_ipv4() || base.prefix_len() > *size || *size > 30 {
            errors.push(ConfigError::new(
                "agent.address_pools",
                format!("{base} is not an IPv4 pool that holds /{size} subnets"),
            ));
        }
    }
    pools
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_defaults_are_whole_16s_then_20s_of_192_168() {
        let pools = docker_default_pools();
        assert_eq!(pools.len(), 15);
        assert_eq!(pools[0].base.to_string(), "172.18.0.0/16");
        assert_eq!(pools[0].size, 16);
        assert_eq!(pools[14].base.to_string(), "192.168.0.0/16");
        assert_eq!(pools[14].size, 20);
    }

    #[test]
    fn both_forms_are_read_and_bad_pools_named() {
        let raw: Vec<RawPool> = toml::from_str::<toml::Table>(
            r#"p = ["10.10.0.0/16", { base = "10.20.0.0/16", size = 20 }, { base = "fd00::/8", size = 64 }]"#,
        )
        .unwrap()["p"]
            .clone()
            .try_into()
            .unwrap();
        let mut errors = Vec::new();
        let pools = resolve(raw, 24, &mut errors);
        assert_eq!((pools[0].size, pools[1].size), (24, 20));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].to_string().contains("fd00::/8"));
    }
}
