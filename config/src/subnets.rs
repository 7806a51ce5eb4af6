//! A network's subnets and gateways, checked: what a bridge can carry and
//! route for its sandboxes. Each problem names the value.
//!
//! Refused, beyond size and host bits: ranges with a meaning of their own
//! that a bridge must not claim (a loopback subnet would put 127.0.0.1/8 on
//! a host bridge and let a sandbox take 127.0.0.11, the resolver's own
//! address), a gateway on the subnet's network or broadcast address, two
//! gateways for one subnet, and subnets of one network that overlap.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::ConfigError;

/// Ranges no network may overlap, and why (RFC 6890's special-purpose
/// registries, the parts a host acts on itself).
const RESERVED: [(&str, &str); 10] = [
    ("0.0.0.0/8", "\"this network\" (RFC 791)"),
    ("127.0.0.0/8", "loopback (RFC 1122)"),
    ("169.254.0.0/16", "link-local (RFC 3927)"),
    ("224.0.0.0/4", "multicast (RFC 5771)"),
    (
        "240.0.0.0/4",
        "reserved, with the broadcast address (RFC 1112)",
    ),
    ("::/128", "the unspecified address (RFC 4291)"),
    ("::1/128", "loopback (RFC 4291)"),
    ("::ffff:0:0/96", "IPv4-mapped addresses (RFC 4291)"),
    ("fe80::/10", "link-local (RFC 4291)"),
    ("ff00::/8", "multicast (RFC 4291)"),
];

/// Every problem with `subnets` and `gateways`.
pub(crate) fn subnet_problems(subnets: &[IpNet], gateways: &[IpAddr]) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let mut problem = |message: String| errors.push(ConfigError::new("subnets", message));
    for (i, subnet) in subnets.iter().enumerate() {
        if let Some(message) = shape_problem(subnet) {
            problem(message);
        }
        for (range, why) in RESERVED {
            let range: IpNet = range.parse().expect("a reserved range");
            if overlaps(subnet, &range) {
                problem(format!("{subnet} overlaps {range}, {why}"));
            }
        }
        for other in &subnets[i + 1..] {
            if overlaps(subnet, other) {
                problem(format!("{subnet} and {other} overlap"));
            }
        }
    }
    errors.extend(gateway_problems(subnets, gateways));
    errors
}

/// Too small, or host bits set.
fn shape_problem(subnet: &IpNet) -> Option<String> {
    let too_small = match subnet {
        IpNet::V4(v4) => v4.prefix_len() > 30,
        IpNet::V6(v6) => v6.prefix_len() > 126,
    };
    if too_small {
        return Some(format!(
            "{subnet} leaves no room for a gateway and a sandbox"
        ));
    }
    (subnet.trunc() != *subnet).then(|| {
        format!(
            "{subnet} has host bits set; did you mean {}?",
            subnet.trunc()
        )
    })
}

fn gateway_problems(subnets: &[IpNet], gateways: &[IpAddr]) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let mut problem = |message: String| errors.push(ConfigError::new("gateways", message));
    for (i, gateway) in gateways.iter().enumerate() {
        let Some(subnet) = subnets.iter().find(|s| s.contains(gateway)) else {
            problem(format!("{gateway} is in none of the subnets {subnets:?}"));
            continue;
        };
        let broadcast = matches!(subnet, IpNet::V4(_)) && *gateway == subnet.broadcast();
        if *gateway == subnet.network() || broadcast {
            let what = if broadcast { "broadcast" } else { "network" };
            problem(format!(
                "{gateway} is the {what} address of {subnet}, not a host"
            ));
        }
        if let Some(other) = gateways[i + 1..].iter().find(|g| subnet.contains(*g)) {
            problem(format!(
                "{gateway} and {other} are both gateways of {subnet}: one per subnet"
            ));
        }
    }
    errors
}

/// Whether two subnets share any address.
fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(subnets: &[&str], gateways: &[&str]) -> String {
        let subnets: Vec<IpNet> = subnets.iter().map(|s| s.parse().unwrap()).collect();
        let gateways: Vec<IpAddr> = gateways.iter().map(|g| g.parse().unwrap()).collect();
        subnet_problems(&subnets, &gateways)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn ordinary_subnets_and_gateways_pass() {
        assert_eq!(
            problems(
                &["10.89.0.0/24", "fd00:1::/64"],
                &["10.89.0.1", "fd00:1::1"]
            ),
            ""
        );
        assert_eq!(problems(&["172.18.0.0/16"], &[]), "");
    }

    #[test]
    fn special_purpose_ranges_are_refused_naming_the_range() {
        for (subnet, range) in [
            ("127.0.0.0/8", "127.0.0.0/8"),
            ("127.1.0.0/16", "127.0.0.0/8"),
            ("169.254.0.0/24", "169.254.0.0/16"),
            ("224.0.0.0/24", "224.0.0.0/4"),
            ("255.255.255.0/24", "240.0.0.0/4"),
            ("0.0.0.0/8", "0.0.0.0/8"),
            ("fe80::/64", "fe80::/10"),
            ("ff00::/8", "ff00::/8"),
            ("::ffff:10.0.0.0/120", "::ffff:0.0.0.0/96"),
            ("::/64", "::/128"),
        ] {
            let text = problems(&[subnet], &[]);
            assert!(
                text.contains(&format!("overlaps {range}")),
                "{subnet}: {text}"
            );
        }
    }

    #[test]
    fn gateways_must_be_hosts_one_per_subnet() {
        let text = problems(&["10.1.0.0/24"], &["10.1.0.0"]);
        assert!(text.contains("10.1.0.0 is the network address"), "{text}");
        let text = problems(&["10.1.0.0/24"], &["10.1.0.255"]);
        assert!(
            text.contains("10.1.0.255 is the broadcast address"),
            "{text}"
        );
        let text = problems(&["10.1.0.0/24"], &["10.1.0.1", "10.1.0.2"]);
        assert!(
            text.contains("10.1.0.1 and 10.1.0.2 are both gateways of 10.1.0.0/24"),
            "{text}"
        );
        let text = problems(&["10.1.0.0/24"], &["10.9.0.1"]);
        assert!(text.contains("10.9.0.1 is in none"), "{text}");
    }

    #[test]
    fn subnets_of_one_network_must_not_overlap() {
        let text = problems(&["10.1.0.0/16", "10.1.2.0/24"], &[]);
        assert!(
            text.contains("10.1.0.0/16 and 10.1.2.0/24 overlap"),
            "{text}"
        );
        let text = problems(&["10.1.0.0/24", "10.1.0.0/24"], &[]);
        assert!(text.contains("overlap"), "the same subnet twice: {text}");
    }
}
