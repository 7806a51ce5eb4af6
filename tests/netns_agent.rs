//! Namespace tier: the real daemon in a private host, driven by the real
//! CLI, checked with dig through 127.0.0.11 and `getent hosts` through the
//! sandbox's resolv.conf (issue #4's list, one test each). Every test ends
//! by removing what it made and checking that nothing is left.

use crate::harness::host::{OutputExt, TestHost};

/// `netagent run ARGS`, which must succeed.
pub(crate) fn run(host: &TestHost, args: &[&str]) {
    let mut full = vec!["run"];
    full.extend_from_slice(args);
    host.cli(&full).assert_ok(&format!("netagent {full:?}"));
}

#[test]
fn two_sandboxes_on_one_network_resolve_each_other_with_dig_and_getent() {
    let host = TestHost::new();
    host.cli(&["network", "create", "app"])
        .assert_ok("network create");
    run(&host, &["--name", "web", "--network", "app"]);
    run(
        &host,
        &["--name", "db", "--network", "app", "--hostname", "database"],
    );
    let db = host.dig_short("web", &["db"]);
    assert_eq!(db.len(), 1, "{db:?}");
    assert_eq!(
        host.dig_short("web", &["database.app"]),
        db,
        "hostname and NAME.NETWORK"
    );
    assert_eq!(
        host.getent("web", "db").as_deref(),
        Some(db[0].as_str()),
        "the C library through resolv.conf"
    );
    let web = host.getent("db", "web").expect("db resolves web");
    assert_eq!(
        host.dig_short("db", &["-x", &web]),
        ["web.app."],
        "reverse lookup"
    );
    let resolv = host.exec("web", &["cat", "/etc/resolv.conf"]).stdout_text();
    assert!(
        resolv.contains("nameserver 127.0.0.11") && resolv.contains("ndots:0"),
        "{resolv}"
    );
    host.assert_clean_after_removal();
}

#[test]
fn default_bridge_cannot_resolve_until_connected_and_not_after_disconnect() {
    let host = TestHost::new();
    host.cli(&["network", "create", "app"])
        .assert_ok("network create");
    run(&host, &["--name", "web", "--network", "app"]);
    run(&host, &["--name", "plain"]);
    assert_eq!(
        host.getent("plain", "web"),
        None,
        "no embedded DNS on the default bridge"
    );
    host.cli(&["network", "connect", "app", "plain"])
        .assert_ok("connect");
    assert!(
        host.getent("plain", "web").is_some(),
        "resolves once connected"
    );
    assert!(
        !host.dig_short("web", &["plain"]).is_empty(),
        "and is resolvable itself"
    );
    host.cli(&["network", "disconnect", "app", "plain"])
        .assert_ok("disconnect");
    assert_eq!(host.getent("plain", "web"), None, "not after disconnect");
    assert!(
        host.dig_short("web", &["plain"]).is_empty(),
        "its name is gone too"
    );
    host.assert_clean_after_removal();
}

#[test]
fn an_alias_shared_by_two_sandboxes_returns_both() {
    let host = TestHost::new();
    host.cli(&["network", "create", "app", "--subnet", "10.77.0.0/24"])
        .assert_ok("network create");
    run(
        &host,
        &[
            "--name",
            "a",
            "--network",
            "app",
            "--alias",
            "api",
            "--ip",
            "10.77.0.10",
        ],
    );
    run(
        &host,
        &[
            "--name",
            "b",
            "--network",
            "app",
            "--alias",
            "api",
            "--ip",
            "10.77.0.11",
        ],
    );
    run(&host, &["--name", "client", "--network", "app"]);
    assert_eq!(
        host.dig_short("client", &["api"]),
        ["10.77.0.10", "10.77.0.11"]
    );
    host.assert_clean_after_removal();
}

#[test]
fn internal_networks_have_no_route_out_and_forward_nothing() {
    let host = TestHost::new();
    host.cli(&["network", "create", "secure", "--internal"])
        .assert_ok("network create");
    run(&host, &["--name", "vault", "--network", "secure"]);
    run(&host, &["--name", "app", "--network", "secure"]);
    assert!(
        !host.dig_short("app", &["vault"]).is_empty(),
        "names on the internal network resolve"
    );
    assert_eq!(
        host.dig_status("app", &["outside.example"]),
        "SERVFAIL",
        "outside names are not forwarded"
    );
    let routes = host.exec("app", &["ip", "route"]).stdout_text();
    assert!(!routes.contains("default"), "no default route: {routes}");
    host.assert_clean_after_removal();
}

#[test]
fn container_mode_shares_the_namespace_and_its_resolver() {
    let host = TestHost::new();
    host.cli(&["network", "create", "app"])
        .assert_ok("network create");
    run(&host, &["--name", "web", "--network", "app"]);
    run(&host, &["--name", "db", "--network", "app"]);
    run(&host, &["--name", "sidecar", "--network", "container:web"]);
    assert_eq!(
        host.dig_short("sidecar", &["db"]),
        host.dig_short("web", &["db"])
    );
    assert!(
        host.getent("sidecar", "db").is_some(),
        "its resolv.conf is web's"
    );
    host.cli(&["rm", "web"])
        .assert_fails_with("share the namespace");
    host.assert_clean_after_removal();
}

#[test]
fn ip_netns_del_behind_the_agents_back_releases_the_veth() {
    let host = TestHost::new();
    host.cli(&["network", "create", "app"])
        .assert_ok("network create");
    run(&host, &["--name", "web", "--network", "app"]);
    run(&host, &["--name", "gone", "--network", "app"]);
    let before = host
        .links()
        .iter()
        .filter(|l| l.starts_with("veth"))
        .count();
    assert_eq!(before, 2);
    let netns = host.netns_path("gone");
    host.in_host(&["umount", netns.to_str().unwrap()])
        .assert_ok("umount");
    std::fs::remove_file(&netns).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while host
        .links()
        .iter()
        .filter(|l| l.starts_with("veth"))
        .count()
        != 1
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the veth stayed: {:?}\n{}",
            host.links(),
            host.daemon_log()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!host.cli(&["ps"]).stdout_text().contains("gone"));
    assert!(
        host.dig_short("web", &["gone"]).is_empty(),
        "its name went with it"
    );
    host.assert_clean_after_removal();
}

#[test]
fn names_keep_resolving_after_kill_9_and_restart() {
    let mut host = TestHost::new();
    host.cli(&["network", "create", "app"])
        .assert_ok("network create");
    run(
        &host,
        &["--name", "web", "--network", "app", "--alias", "www"],
    );
    run(&host, &["--name", "db", "--network", "app"]);
    let before = host.dig_short("web", &["www"]);
    host.kill_daemon();
    host.start_daemon();
    assert_eq!(
        host.dig_short("db", &["www"]),
        before,
        "names survive the restart:\n{}",
        host.daemon_log()
    );
    assert!(host.getent("web", "db").is_some());
    run(&host, &["--name", "late", "--network", "app"]);
    let late = host.dig_short("web", &["late"]);
    assert_eq!(late.len(), 1);
    assert_ne!(
        late,
        host.dig_short("web", &["db"]),
        "IPAM remembered the addresses in use"
    );
    host.assert_clean_after_removal();
}

#[test]
fn bad_requests_name_the_offending_value_and_leave_nothing() {
    let host = TestHost::new();
    host.cli(&["network", "create", "app", "--subnet", "10.78.0.0/24"])
        .assert_ok("network create");
    run(
        &host,
        &["--name", "web", "--network", "app", "--ip", "10.78.0.5"],
    );
    host.cli(&["run", "--name", "x", "--network", "nope"])
        .assert_fails_with("no network named \"nope\"");
    host.cli(&["run", "--name", "web", "--network", "app"])
        .assert_fails_with("a sandbox named \"web\" exists already");
    host.cli(&[
        "run",
        "--name",
        "y",
        "--network",
        "app",
        "--ip",
        "10.99.0.5",
    ])
    .assert_fails_with("10.99.0.5 is outside the subnets");
    host.cli(&[
        "run",
        "--name",
        "z",
        "--network",
        "app",
        "--ip",
        "10.78.0.5",
    ])
    .assert_fails_with("10.78.0.5 is not free");
    host.cli(&["network", "create", "clash", "--subnet", "10.78.0.128/25"])
        .assert_fails_with("overlaps 10.78.0.0/24 of network \"app\"");
    host.cli(&["run", "--name", "bad name", "--network", "app"])
        .assert_fails_with("\"bad name\" contains ' '");
    host.cli(&["network", "rm", "app"])
        .assert_fails_with("has sandboxes attached: web");
    let links = host.links();
    assert_eq!(
        links.iter().filter(|l| l.starts_with("veth")).count(),
        1,
        "failed attaches left no veth: {links:?}"
    );
    assert_eq!(
        host.files_in("netns"),
        ["web"],
        "failed creates left no namespace"
    );
    host.assert_clean_after_removal();
}

#[test]
fn ipv6_networks_answer_aaaa_and_ipv4_only_interfaces_get_no_ipv6_address() {
    let host = TestHost::new();
    host.cli(&[
        "network",
        "create",
        "dual",
        "--ipv6",
        "--subnet",
        "10.77.0.0/24",
        "--subnet",
        "fd00:77::/64",
    ])
    .assert_ok("network create dual");
    host.cli(&["network", "create", "v4", "--subnet", "10.78.0.0/24"])
        .assert_ok("network create v4");
    run(&host, &["--name", "six", "--network", "dual"]);
    run(&host, &["--name", "peer", "--network", "dual"]);
    run(&host, &["--name", "four", "--network", "v4"]);
    assert_eq!(host.dig_short("peer", &["six", "AAAA"]), ["fd00:77::2"]);
    let six = host
        .exec("six", &["ip", "-6", "-o", "addr", "show", "dev", "eth0"])
        .stdout_text();
    assert!(
        six.contains("fd00:77::2/64") && six.contains("fe80::"),
        "an IPv6 endpoint keeps its link-local address: {six}"
    );
    let four = host
        .exec("four", &["ip", "-6", "-o", "addr", "show", "dev", "eth0"])
        .stdout_text();
    assert!(
        four.trim().is_empty(),
        "no IPv6 address on an IPv4-only interface: {four}"
    );
    let host_side = host
        .in_host(&["ip", "-6", "-o", "addr", "show"])
        .stdout_text();
    assert!(
        !host_side.contains(": veth"),
        "bridge ports have no IPv6 address of their own: {host_side}"
    );
    host.assert_clean_after_removal();
}

/// The MAC of the link `name` in the private host.
fn mac_of(host: &TestHost, name: &str) -> String {
    let text = host
        .in_host(&["ip", "-o", "link", "show", name])
        .assert_ok("ip link show")
        .stdout_text();
    text.split("link/ether ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn the_gateway_keeps_its_mac_while_sandboxes_come_and_go() {
    // A bridge with no MAC of its own takes its lowest port's, so removing
    // that sandbox changed the gateway's MAC and cut its peers off until
    // their ARP entries were probed again (containers/netavark#833).
    let host = TestHost::new();
    host.cli(&["network", "create", "app"])
        .assert_ok("network create");
    let inspect = host.cli(&["network", "inspect", "app"]).stdout_text();
    let bridge = inspect
        .split("\"com.docker.network.bridge.name\": \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the bridge's name in inspect")
        .to_owned();
    let before = mac_of(&host, &bridge);
    let first_byte = u8::from_str_radix(&before[..2], 16).unwrap();
    assert_eq!(
        first_byte & 0x03,
        0x02,
        "locally administered unicast: {before}"
    );
    for round in 0..6 {
        let name = format!("s{round}");
        run(&host, &["--name", &name, "--network", "app"]);
        assert_eq!(mac_of(&host, &bridge), before, "after {name} came");
    }
    for round in 0..6 {
        host.cli(&["rm", &format!("s{round}")]).assert_ok("rm");
        assert_eq!(mac_of(&host, &bridge), before, "after s{round} went");
    }
    host.assert_clean_after_removal();
}
