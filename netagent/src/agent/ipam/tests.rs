//! The IPAM's own tests: bridge networks' subnets and addresses, and an
//! overlay network's blocks and the addresses other hosts hold.

use super::*;

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

#[test]
fn allocates_lowest_free_skipping_gateway_network_and_broadcast() {
    let mut subnet = SubnetAddresses::new(net("10.0.0.0/30"), None);
    assert_eq!(subnet.gateway, "10.0.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(
        subnet.allocate("app").unwrap(),
        "10.0.0.2".parse::<IpAddr>().unwrap()
    );
    let err = subnet.allocate("app").unwrap_err();
    assert_eq!(
        err.to_string(),
        "no free address left in 10.0.0.0/30 on network \"app\""
    );
    subnet.release("10.0.0.2".parse().unwrap());
    assert_eq!(
        subnet.allocate("app").unwrap(),
        "10.0.0.2".parse::<IpAddr>().unwrap()
    );
}

#[test]
fn an_address_released_below_the_last_one_is_handed_out_first() {
    let mut subnet = SubnetAddresses::new(net("10.0.0.0/24"), None);
    let first: Vec<IpAddr> = (0..5).map(|_| subnet.allocate("app").unwrap()).collect();
    assert_eq!(first[4], "10.0.0.6".parse::<IpAddr>().unwrap());
    subnet.release(first[1]);
    assert_eq!(subnet.allocate("app").unwrap(), first[1]);
    assert_eq!(
        subnet.allocate("app").unwrap(),
        "10.0.0.7".parse::<IpAddr>().unwrap()
    );
    subnet.reserve("10.0.0.8".parse().unwrap(), "app").unwrap();
    assert_eq!(
        subnet.allocate("app").unwrap(),
        "10.0.0.9".parse::<IpAddr>().unwrap()
    );
}

#[test]
fn static_addresses_are_checked() {
    let mut subnet = SubnetAddresses::new(net("10.0.0.0/24"), None);
    subnet.reserve("10.0.0.9".parse().unwrap(), "app").unwrap();
    let taken = subnet
        .reserve("10.0.0.9".parse().unwrap(), "app")
        .unwrap_err();
    assert!(
        taken.to_string().contains("another sandbox has it"),
        "{taken}"
    );
    let gateway = subnet
        .reserve("10.0.0.1".parse().unwrap(), "app")
        .unwrap_err();
    assert!(gateway.to_string().contains("gateway"), "{gateway}");
    assert!(subnet
        .reserve("10.0.0.255".parse().unwrap(), "app")
        .is_err());
    assert_eq!(
        subnet.allocate("app").unwrap(),
        "10.0.0.2".parse::<IpAddr>().unwrap()
    );
}

#[test]
fn ipv6_subnets_allocate_from_2() {
    let mut subnet = SubnetAddresses::new(net("fd00:1::/64"), None);
    assert_eq!(subnet.gateway, "fd00:1::1".parse::<IpAddr>().unwrap());
    assert_eq!(
        subnet.allocate("app").unwrap(),
        "fd00:1::2".parse::<IpAddr>().unwrap()
    );
}

#[test]
fn picks_subnets_clear_of_networks_and_routes() {
    let pools = vec![net("172.18.0.0/16"), net("172.19.0.0/16")];
    assert_eq!(pick_subnet(&pools, 24, &[]).unwrap(), net("172.18.0.0/24"));
    let taken = vec![net("172.18.0.0/23"), net("10.0.0.0/8")];
    assert_eq!(
        pick_subnet(&pools, 24, &taken).unwrap(),
        net("172.18.2.0/24")
    );
    let everything = vec![net("172.16.0.0/12")];
    assert!(matches!(
        pick_subnet(&pools, 24, &everything),
        Err(IpamError::PoolsExhausted { .. })
    ));
    assert!(overlaps(&net("10.0.0.0/8"), &net("10.1.0.0/16")));
    assert!(!overlaps(&net("10.0.0.0/16"), &net("10.1.0.0/16")));
}

#[test]
fn each_pool_is_cut_into_its_own_size_as_dockers_defaults_are() {
    let pools = config::docker_default_pools();
    assert_eq!(pick_from_pools(&pools, &[]).unwrap(), net("172.18.0.0/16"));
    let taken: Vec<IpNet> = (18..=31).map(|b| net(&format!("172.{b}.0.0/16"))).collect();
    assert_eq!(
        pick_from_pools(&pools, &taken).unwrap(),
        net("192.168.0.0/20")
    );
    let mut all = taken.clone();
    all.push(net("192.168.0.0/16"));
    assert!(pick_from_pools(&pools, &all).is_err());
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn an_overlay_hands_out_its_blocks_only_and_fills_them_in_order() {
    // A /27 of 2 blocks of /28 (see cluster::keys::block_prefix).
    let mut subnet = SubnetAddresses::new(net("10.5.0.0/27"), None);
    subnet.set_blocks(vec![]);
    assert!(!subnet.has_free(), "no block held: nothing to hand out");
    assert!(matches!(
        subnet.allocate("ov"),
        Err(IpamError::Exhausted { .. })
    ));
    subnet.set_blocks(vec![net("10.5.0.16/28")]);
    // A block's own first address is a host address of the subnet (.16);
    // the subnet's broadcast (.31) is not.
    let got: Vec<IpAddr> = (0..15).map(|_| subnet.allocate("ov").unwrap()).collect();
    assert_eq!(got[0], ip("10.5.0.16"));
    assert_eq!(got[14], ip("10.5.0.30"));
    assert!(!subnet.has_free());
    // One given back below where the search stopped is free again.
    subnet.release(got[3]);
    assert!(subnet.has_free());
    assert_eq!(subnet.allocate("ov").unwrap(), got[3]);
    assert!(!subnet.has_free());
    // A second block: lowest first, the gateway (.1) and the subnet's
    // network address skipped.
    subnet.set_blocks(vec![net("10.5.0.16/28"), net("10.5.0.0/28")]);
    assert_eq!(subnet.allocate("ov").unwrap(), ip("10.5.0.2"));
    assert!(subnet.uses_any_in(&net("10.5.0.0/28")));
    subnet.release(ip("10.5.0.2"));
    assert!(!subnet.uses_any_in(&net("10.5.0.0/28")));
}

#[test]
fn an_overlay_block_skips_aux_addresses_and_what_other_hosts_hold() {
    let mut subnet = SubnetAddresses::new(net("10.5.0.0/24"), None)
        .with_limits(None, &[ip("10.5.0.2"), ip("10.5.0.3")]);
    subnet.set_blocks(vec![net("10.5.0.0/28")]);
    subnet.set_elsewhere(ip("10.5.0.4"), Some("h2".into()));
    assert_eq!(subnet.allocate("ov").unwrap(), ip("10.5.0.5"));
    let held = subnet.reserve(ip("10.5.0.4"), "ov").unwrap_err();
    assert_eq!(
        held.to_string(),
        "10.5.0.4 is not free on network \"ov\" (host h2 holds it)"
    );
    let aux = subnet.check(ip("10.5.0.3"), "ov").unwrap_err();
    assert!(aux.to_string().contains("--aux-address"), "{aux}");
    // Given back by its host: handed out again, lowest first.
    subnet.set_elsewhere(ip("10.5.0.4"), None);
    assert_eq!(subnet.allocate("ov").unwrap(), ip("10.5.0.4"));
    subnet.set_elsewhere(ip("10.5.0.6"), Some("h3".into()));
    subnet.clear_elsewhere();
    assert_eq!(subnet.allocate("ov").unwrap(), ip("10.5.0.6"));
}

#[test]
fn a_static_address_may_lie_outside_the_range_but_not_outside_the_subnet() {
    let mut subnet =
        SubnetAddresses::new(net("10.6.0.0/24"), None).with_limits(Some(net("10.6.0.128/25")), &[]);
    assert_eq!(subnet.allocate("app").unwrap(), ip("10.6.0.129"));
    subnet.reserve(ip("10.6.0.10"), "app").unwrap();
    assert!(!subnet.contains(&ip("10.7.0.1")));
    // Limits changed later (an overlay's from the cluster): used stays used.
    subnet.set_limits(Some(net("10.6.0.0/25")), &[ip("10.6.0.2")]);
    assert_eq!(subnet.allocate("app").unwrap(), ip("10.6.0.3"));
    assert!(subnet.check(ip("10.6.0.129"), "app").is_err());
}
