//! Namespace tier, issue #15: an overlay network's addresses across hosts
//! (two private hosts and a real etcd, as in
//! [`crate::netns_overlay`]). Checks: a host whose block fills claims
//! another and gives it back when unused, every name still resolving
//! across hosts; `--aux-address` never handed out; a host borrows an
//! address when no block is free, and a full subnet is refused naming it;
//! two hosts racing for one `--ip` (exactly one wins, the other told who
//! holds it); `--ip-range`; a static address in another host's block; a
//! local subnet overlapping an overlay refused naming it.

use std::time::Duration;

use crate::harness::cluster::{within, Underlay, PREFIX};
use crate::harness::host::{OutputExt, TestHost};
use crate::netns_overlay::{lists_overlay, remove_all, resolves, run};

/// `network create -d overlay ov` on `host` with `args`, then waits (5 s
/// at most) until every one of `others` lists it.
fn create_overlay(host: &TestHost, others: &[&TestHost], args: &[&str]) {
    let mut full = vec!["network", "create", "-d", "overlay", "ov"];
    full.extend_from_slice(args);
    host.cli(&full).assert_ok("network create -d overlay");
    for other in others {
        let seen = within(Duration::from_secs(5), || lists_overlay(other, "ov"));
        assert!(seen.is_some(), "the overlay never showed on another host");
    }
}

/// The address of `sandbox` on the overlay.
fn ip_of(host: &TestHost, sandbox: &str) -> String {
    host.cli(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.ov.IPAddress}}",
        sandbox,
    ])
    .assert_ok("inspect")
    .stdout_text()
    .trim()
    .to_owned()
}

/// The last octet of an address of a /24 or smaller.
fn last(ip: &str) -> u8 {
    ip.rsplit('.').next().unwrap().parse().unwrap()
}

/// The keys under `blocks/ov/` or `addresses/ov/` with their values, as
/// `INDEX=HOST` or `IP=HOST`.
fn held(underlay: &Underlay, what: &str) -> Vec<String> {
    let prefix = format!("{PREFIX}{what}/ov/");
    let text = underlay
        .etcdctl(&["get", "--prefix", &prefix])
        .assert_ok("etcdctl get")
        .stdout_text();
    let lines: Vec<&str> = text.lines().collect();
    lines
        .chunks(2)
        .map(|kv| format!("{}={}", kv[0].trim_start_matches(&prefix), kv[1]))
        .collect()
}

#[test]
fn overlay_host_claims_a_second_block_when_its_first_fills_and_gives_it_back() {
    let underlay = Underlay::new();
    let (h1, h2) = (underlay.host(1, 10), underlay.host(2, 10));
    // A /26 in four blocks of 16; ten aux addresses (.2 to .11) leave four
    // in block 0 (.0 is the network's, .1 the gateway).
    let aux: Vec<String> = (2..=11).map(|n| format!("a{n}=10.131.0.{n}")).collect();
    let mut args = vec!["--subnet", "10.131.0.0/26"];
    for a in &aux {
        args.extend(["--aux-address", a.as_str()]);
    }
    create_overlay(&h1, &[&h2], &args);
    let names: Vec<String> = (1..=6).map(|n| format!("s{n}")).collect();
    for name in &names {
        run(&h1, &["--name", name, "--network", "ov"]);
    }
    let got: Vec<u8> = names.iter().map(|n| last(&ip_of(&h1, n))).collect();
    assert_eq!(got, [12, 13, 14, 15, 16, 17], "block 0, then block 1");
    assert_eq!(held(&underlay, "blocks"), ["0=h1", "1=h1"]);
    run(&h2, &["--name", "t1", "--network", "ov"]);
    assert_eq!(last(&ip_of(&h2, "t1")), 32, "host 2's own block");
    // Every name across hosts, from either block.
    for name in ["s1", "s6"] {
        assert_eq!(resolves(&h2, "t1", name, 1)[0], ip_of(&h1, name));
    }
    assert_eq!(resolves(&h1, "s6", "t1", 1)[0], "10.131.0.32");
    // Block 1's sandboxes gone: block 1 given back, block 0 kept.
    for name in ["s5", "s6"] {
        h1.cli(&["rm", "--force", name]).assert_ok("rm");
    }
    assert_eq!(held(&underlay, "blocks"), ["0=h1", "2=h2"]);
    remove_all(&underlay, &[&h1, &h2], "ov");
}

#[test]
fn overlay_host_borrows_when_no_block_is_free_and_a_full_subnet_is_refused() {
    let underlay = Underlay::new();
    let (h1, h2) = (underlay.host(1, 10), underlay.host(2, 10));
    // A /29 is one block: .5 and .6 are all there is (.1 the gateway, .2
    // to .4 aux addresses, .7 the broadcast).
    create_overlay(
        &h1,
        &[&h2],
        &[
            "--subnet",
            "10.132.0.0/29",
            "--aux-address",
            "a=10.132.0.2",
            "--aux-address",
            "b=10.132.0.3",
            "--aux-address",
            "c=10.132.0.4",
        ],
    );
    run(&h1, &["--name", "a", "--network", "ov"]);
    assert_eq!(ip_of(&h1, "a"), "10.132.0.5");
    run(&h2, &["--name", "b", "--network", "ov"]);
    assert_eq!(ip_of(&h2, "b"), "10.132.0.6", "borrowed from h1's block");
    assert_eq!(held(&underlay, "blocks"), ["0=h1"]);
    assert_eq!(held(&underlay, "addresses"), ["10.132.0.6=h2"]);
    assert_eq!(resolves(&h1, "a", "b", 1), ["10.132.0.6"]);
    h1.cli(&["run", "--name", "c", "--network", "ov"])
        .assert_fails_with("network \"ov\": no free address left in 10.132.0.0/29");
    // The borrowed address goes back with its sandbox.
    h2.cli(&["rm", "--force", "b"]).assert_ok("rm b");
    assert!(held(&underlay, "addresses").is_empty());
    remove_all(&underlay, &[&h1, &h2], "ov");
}

#[test]
fn overlay_static_ip_raced_ip_range_and_local_overlap() {
    let underlay = Underlay::new();
    let (h1, h2) = (underlay.host(1, 10), underlay.host(2, 10));
    create_overlay(
        &h1,
        &[&h2],
        &[
            "--subnet",
            "10.133.0.0/24",
            "--ip-range",
            "10.133.0.128/25",
            "--aux-address",
            "r=10.133.0.200",
        ],
    );
    // A local network overlapping the overlay, on either host.
    for host in [&h1, &h2] {
        host.cli(&["network", "create", "loc", "--subnet", "10.133.0.0/16"])
            .assert_fails_with("of overlay network \"ov\"");
    }
    // Two hosts asking for one address at once: exactly one wins.
    let ask = |host: &TestHost, name: &str| {
        host.cli(&[
            "run",
            "--name",
            name,
            "--network",
            "ov",
            "--ip",
            "10.133.0.10",
        ])
    };
    let (o1, o2) = std::thread::scope(|s| {
        let one = s.spawn(|| ask(&h1, "r1"));
        let two = s.spawn(|| ask(&h2, "r2"));
        (one.join().unwrap(), two.join().unwrap())
    });
    assert!(
        o1.status.success() != o2.status.success(),
        "exactly one wins: {:?} / {:?}",
        o1.stderr_text(),
        o2.stderr_text()
    );
    let (lost, winner) = if o1.status.success() {
        (&o2, "h1")
    } else {
        (&o1, "h2")
    };
    let why = lost.stderr_text();
    assert!(
        why.contains("10.133.0.10") && why.contains(&format!("host {winner}")),
        "the loser is told the address and who holds it: {why}"
    );
    // Dynamic addresses from the range, the aux address never.
    run(&h2, &["--name", "d2", "--network", "ov"]);
    assert_eq!(ip_of(&h2, "d2"), "10.133.0.128");
    h1.cli(&[
        "run",
        "--name",
        "x",
        "--network",
        "ov",
        "--ip",
        "10.134.0.5",
    ])
    .assert_fails_with("10.134.0.5 is outside the subnets");
    h1.cli(&[
        "run",
        "--name",
        "x",
        "--network",
        "ov",
        "--ip",
        "10.133.0.200",
    ])
    .assert_fails_with("10.133.0.200 is not free on network \"ov\" (it is an --aux-address");
    // A static address in host 2's block, taken on host 1: host 2's next
    // dynamic address skips it.
    run(
        &h1,
        &["--name", "s", "--network", "ov", "--ip", "10.133.0.129"],
    );
    assert_eq!(resolves(&h2, "d2", "s", 1), ["10.133.0.129"]);
    run(&h2, &["--name", "d3", "--network", "ov"]);
    assert_eq!(ip_of(&h2, "d3"), "10.133.0.130");
    remove_all(&underlay, &[&h1, &h2], "ov");
}
