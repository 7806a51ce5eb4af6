//! The addresses of an endpoint: static ones (`--ip`, `--ip6`, which
//! Docker takes only on a network whose subnets the user gave) or the
//! lowest free ones of each subnet, given back on detach or on a failed
//! attach.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use super::store::NetworkRecord;
use super::{AgentError, Inner};

/// One IPv4 and (on a dual-stack network) one IPv6 address, the static
/// one reserved where asked for.
pub(super) fn allocate(
    inner: &mut Inner,
    net: &NetworkRecord,
    ip: Option<IpAddr>,
    ip6: Option<Ipv6Addr>,
    taken: &mut Vec<IpAddr>,
) -> Result<(Option<Ipv4Addr>, Option<Ipv6Addr>), AgentError> {
    let wanted: Vec<IpAddr> = ip.into_iter().chain(ip6.map(IpAddr::V6)).collect();
    if !wanted.is_empty() && !net.user_subnets {
        // Docker's rule and words (moby's daemon/network.go).
        return Err(AgentError::Conflict(format!(
            "user specified IP address is supported only when connecting to networks with user configured subnets (network {:?} has none)",
            net.name
        )));
    }
    let subnets = inner
        .ipam
        .get_mut(&net.name)
        .ok_or_else(|| AgentError::not_found("network", &net.name))?;
    for &address in &wanted {
        if !subnets.iter().any(|s| s.contains(&address)) {
            return Err(crate::agent::ipam::IpamError::OutsideSubnet {
                address,
                subnets: net.subnets.iter().map(|s| s.subnet).collect(),
                network: net.name.clone(),
            }
            .into());
        }
    }
    let (mut ipv4, mut ipv6) = (None, None);
    for subnet in subnets.iter_mut() {
        let is_v4 = subnet.subnet.addr().is_ipv4();
        if (is_v4 && ipv4.is_some()) || (!is_v4 && ipv6.is_some()) {
            continue;
        }
        let address = match wanted.iter().copied().find(|a| subnet.contains(a)) {
            Some(address) => {
                subnet.reserve(address, &net.name)?;
                address
            }
            None => subnet.allocate(&net.name)?,
        };
        taken.push(address);
        match address {
            IpAddr::V4(v4) => ipv4 = Some(v4),
            IpAddr::V6(v6) => ipv6 = Some(v6),
        }
    }
    Ok((ipv4, ipv6))
}

pub(super) fn release(inner: &mut Inner, network: &str, addresses: &[IpAddr]) {
    if let Some(subnets) = inner.ipam.get_mut(network) {
        for address in addresses {
            for subnet in subnets.iter_mut().filter(|s| s.contains(address)) {
                subnet.release(*address);
            }
        }
    }
}

/// Each address with its subnet's prefix, as the interface carries it.
pub(super) fn addresses_with_prefix(
    net: &NetworkRecord,
    ipv4: Option<Ipv4Addr>,
    ipv6: Option<Ipv6Addr>,
) -> Vec<IpNet> {
    let addresses = ipv4.map(IpAddr::V4).into_iter().chain(ipv6.map(IpAddr::V6));
    addresses
        .filter_map(|a| {
            let subnet = net.subnets.iter().find(|s| s.subnet.contains(&a))?;
            IpNet::new(a, subnet.subnet.prefix_len()).ok()
        })
        .collect()
}

/// The first `ethN` the sandbox does not use yet.
pub(super) fn next_ifname(record: &super::store::SandboxRecord) -> String {
    (0..)
        .map(|i| format!("eth{i}"))
        .find(|name| !record.endpoints.iter().any(|e| &e.ifname == name))
        .expect("unbounded")
}
