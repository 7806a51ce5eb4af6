//! The pure parts of the claims: which block is free, who has an address,
//! and which address a borrow takes.

use super::*;

fn endpoint(host: &str, sandbox: &str, ipv4: &str) -> EndpointDoc {
    EndpointDoc {
        network: "ov".into(),
        host: host.into(),
        advertise: "192.0.2.11".parse().unwrap(),
        sandbox: sandbox.into(),
        sandbox_id: format!("{sandbox}-id"),
        hostname: None,
        aliases: vec![],
        ipv4: ipv4.parse().unwrap(),
        ipv6: None,
        mac: "02:00:00:00:00:01".into(),
    }
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[test]
fn blocks_are_claimed_lowest_free_first_until_none_is_left() {
    let mut held = BTreeMap::new();
    assert_eq!(first_free_block(4, &held), Some(0));
    held.insert(0, "h1".to_owned());
    held.insert(2, "h2".to_owned());
    assert_eq!(first_free_block(4, &held), Some(1));
    held.insert(1, "h1".to_owned());
    held.insert(3, "h3".to_owned());
    assert_eq!(first_free_block(4, &held), None);
}

#[test]
fn an_address_is_held_by_an_endpoint_or_a_claim_and_said_so() {
    let snapshot = Snapshot {
        claims: [(ip("10.8.0.40"), "h2".to_owned())].into(),
        endpoints: vec![endpoint("h1", "web", "10.8.0.5")],
        ..Snapshot::default()
    };
    assert_eq!(
        snapshot.holder_of(ip("10.8.0.5")).as_deref(),
        Some("sandbox \"web\" on host h1")
    );
    assert_eq!(
        snapshot.holder_of(ip("10.8.0.40")).as_deref(),
        Some("host h2")
    );
    assert_eq!(snapshot.holder_of(ip("10.8.0.41")), None);
}

#[test]
fn a_borrow_takes_the_lowest_free_address_outside_the_own_blocks() {
    // A /27 in two /28 blocks: h1 holds block 0, h2 block 1.
    let pool: Ipv4Net = "10.8.0.0/27".parse().unwrap();
    let snapshot = Snapshot {
        blocks: [(0, "h1".to_owned()), (1, "h2".to_owned())].into(),
        claims: [(ip("10.8.0.17"), "h3".to_owned())].into(),
        endpoints: vec![endpoint("h2", "db", "10.8.0.16")],
        ..Snapshot::default()
    };
    // Usable: what the borrower's own IPAM allows (here, not .18: an aux).
    let usable = |a: Ipv4Addr| a != ip("10.8.0.18");
    assert_eq!(
        snapshot.free_elsewhere(pool, "h1", usable),
        Some(ip("10.8.0.19"))
    );
    // h2 borrows from h1's block.
    assert_eq!(
        snapshot.free_elsewhere(pool, "h2", |_| true),
        Some(ip("10.8.0.1"))
    );
    assert_eq!(snapshot.free_elsewhere(pool, "h1", |_| false), None);
}

#[test]
fn a_full_network_names_its_pool_and_the_hosts_holding_its_blocks() {
    let snapshot = Snapshot {
        blocks: [
            (0, "h1".to_owned()),
            (1, "h2".to_owned()),
            (2, "h1".to_owned()),
        ]
        .into(),
        ..Snapshot::default()
    };
    let err = no_room("ov", "10.8.0.0/27".parse().unwrap(), &snapshot).to_string();
    assert!(
        err.contains("\"ov\"") && err.contains("10.8.0.0/27") && err.contains("by h1, h2"),
        "{err}"
    );
}
