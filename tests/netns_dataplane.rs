//! Namespace tier: the bridges' data plane (issue #12). A "world"
//! namespace stands for the outside ([`crate::harness::world`]); servers
//! that answer with the address they saw show what NAT did.

use crate::harness::host::{OutputExt, TestHost};
use crate::harness::world::{
    ask, ask_until_answered, make_world, remove_world, serve, world, HOST_ADDRESS, HOST_ADDRESS6,
    WORLD_ADDRESS, WORLD_ADDRESS6,
};

pub(crate) fn cli_ok(host: &TestHost, args: &[&str]) -> String {
    host.cli(args)
        .assert_ok(&format!("netagent {args:?}"))
        .stdout_text()
}

/// The sandbox's IPv4 address on `network`.
fn address_of(host: &TestHost, sandbox: &str, network: &str) -> String {
    let view: serde_json::Value =
        serde_json::from_str(&cli_ok(host, &["inspect", sandbox])).expect("inspect is JSON");
    view[0]["NetworkSettings"]["Networks"][network]["IPAddress"]
        .as_str()
        .filter(|address| !address.is_empty())
        .unwrap_or_else(|| panic!("{sandbox} has no address on {network}: {view}"))
        .to_owned()
}

/// The agent's inet table as `nft` lists it.
pub(crate) fn agent_table(host: &TestHost) -> String {
    host.in_host(&["nft", "list", "table", "inet", "netagent"])
        .stdout_text()
}

/// After removal, the agent's table holds the default bridge's rules and
/// nothing of what was removed.
pub(crate) fn assert_only_default_bridge_rules(host: &TestHost) {
    let table = agent_table(host);
    assert!(table.contains("netagent0"), "{table}");
    for gone in ["na-", "dnat ip to", "8080"] {
        assert!(!table.contains(gone), "{gone} left in: {table}");
    }
}

#[test]
fn published_ports_reach_the_sandbox_from_the_world_the_host_and_peers() {
    let host = TestHost::with_private_run("");
    make_world(&host);
    cli_ok(&host, &["network", "create", "app"]);
    cli_ok(
        &host,
        &[
            "run",
            "--name",
            "web",
            "--network",
            "app",
            "-p",
            "8080:80",
            "-p",
            "8081:81/udp",
        ],
    );
    cli_ok(&host, &["run", "--name", "peer", "--network", "app"]);
    let web = host.netns_path("web");
    let peer = host.netns_path("peer");
    let _web_server = serve(&host, Some(&web), 80);
    let _web_udp = serve(&host, Some(&web), 81);
    let _world_server = serve(&host, Some(world()), 7000);

    // The way out: the world sees the host's address (masquerade).
    assert_eq!(
        ask_until_answered(&host, Some(&web), WORLD_ADDRESS, 7000, "tcp").as_deref(),
        Some(HOST_ADDRESS)
    );
    // The world reaches the published port on the host's address, and the
    // sandbox sees the world's own address (DNAT only).
    assert_eq!(
        ask_until_answered(&host, Some(world()), HOST_ADDRESS, 8080, "tcp").as_deref(),
        Some(WORLD_ADDRESS)
    );
    assert_eq!(
        ask_until_answered(&host, Some(world()), HOST_ADDRESS, 8081, "udp").as_deref(),
        Some(WORLD_ADDRESS),
        "UDP publishing"
    );
    // The host itself, on localhost and on its own address.
    assert!(
        ask(&host, None, "127.0.0.1", 8080, "tcp").is_some(),
        "localhost:8080"
    );
    assert!(
        ask(&host, None, HOST_ADDRESS, 8080, "tcp").is_some(),
        "host address"
    );
    // Hairpin: a peer and the sandbox itself through the host's address.
    assert!(
        ask(&host, Some(&peer), HOST_ADDRESS, 8080, "tcp").is_some(),
        "a peer, hairpin"
    );
    assert!(
        ask(&host, Some(&web), HOST_ADDRESS, 8080, "tcp").is_some(),
        "itself, hairpin"
    );
    let ps = cli_ok(&host, &["ps"]);
    assert!(
        ps.contains("0.0.0.0:8080->80/tcp") && ps.contains("0.0.0.0:8081->81/udp"),
        "{ps}"
    );

    // The same host port again: refused, naming it; and one a host
    // process holds.
    host.cli(&[
        "run",
        "--name",
        "again",
        "--network",
        "app",
        "-p",
        "8080:80",
    ])
    .assert_fails_with("8080/tcp is already published by sandbox \"web\"");
    let _host_server = serve(&host, None, 9090);
    ask_until_answered(&host, None, "127.0.0.1", 9090, "tcp").expect("the host's own server");
    host.cli(&[
        "run",
        "--name",
        "taken",
        "--network",
        "app",
        "-p",
        "9090:80",
    ])
    .assert_fails_with("9090/tcp is in use by a process on the host");

    // -P: each exposed port (Docker's `--expose PORT`) on an ephemeral
    // host port, which inspect tells.
    cli_ok(
        &host,
        &[
            "run",
            "--name",
            "auto",
            "--network",
            "app",
            "--expose",
            "9000",
            "-P",
        ],
    );
    let _auto_server = serve(&host, Some(&host.netns_path("auto")), 9000);
    let port: u16 = cli_ok(
        &host,
        &[
            "inspect",
            "-f",
            "{{(index (index .NetworkSettings.Ports \"9000/tcp\") 0).HostPort}}",
            "auto",
        ],
    )
    .trim()
    .parse()
    .expect("a host port");
    assert!(port >= 1024, "{port}");
    assert_eq!(
        ask_until_answered(&host, Some(world()), HOST_ADDRESS, port, "tcp").as_deref(),
        Some(WORLD_ADDRESS)
    );

    // The mapping follows the way out through connect and disconnect: a
    // sandbox on an internal network only publishes nothing.
    cli_ok(&host, &["network", "create", "--internal", "closed"]);
    cli_ok(
        &host,
        &[
            "run",
            "--name",
            "late",
            "--network",
            "closed",
            "-p",
            "8090:80",
        ],
    );
    let _late_server = serve(&host, Some(&host.netns_path("late")), 80);
    ask_until_answered(&host, None, &address_of(&host, "late", "closed"), 80, "tcp")
        .expect("late serves");
    assert_eq!(
        ask(&host, Some(world()), HOST_ADDRESS, 8090, "tcp"),
        None,
        "internal only"
    );
    cli_ok(&host, &["network", "connect", "app", "late"]);
    // app comes before closed: the default route is app's now.
    let routes = host
        .exec("late", &["ip", "route", "show", "default"])
        .stdout_text();
    let app_gateway = address_of(&host, "web", "app")
        .rsplit_once('.')
        .map(|(net, _)| format!("{net}.1"));
    assert!(
        routes.contains(&format!("default via {}", app_gateway.unwrap())),
        "{routes}"
    );
    assert!(
        ask(&host, Some(world()), HOST_ADDRESS, 8090, "tcp").is_some(),
        "after connect"
    );
    cli_ok(&host, &["network", "disconnect", "app", "late"]);
    assert_eq!(
        ask(&host, Some(world()), HOST_ADDRESS, 8090, "tcp"),
        None,
        "after disconnect"
    );

    // rm takes the mapping away.
    cli_ok(&host, &["rm", "web"]);
    assert_eq!(ask(&host, Some(world()), HOST_ADDRESS, 8080, "tcp"), None);
    remove_world(&host);
    host.assert_clean_after_removal();
    assert_only_default_bridge_rules(&host);
}

#[test]
fn icc_isolation_internal_networks_and_bridge_options() {
    let host = TestHost::with_private_run("");
    make_world(&host);
    let _world_server = serve(&host, Some(world()), 7000);
    cli_ok(
        &host,
        &[
            "network",
            "create",
            "-o",
            "com.docker.network.bridge.enable_icc=false",
            "-o",
            "com.docker.network.driver.mtu=1400",
            "quiet",
        ],
    );
    cli_ok(&host, &["network", "create", "other"]);
    cli_ok(&host, &["network", "create", "--internal", "closed"]);
    cli_ok(
        &host,
        &[
            "network",
            "create",
            "-o",
            "com.docker.network.bridge.enable_ip_masquerade=false",
            "--subnet",
            "10.77.0.0/24",
            "plain",
        ],
    );
    for (name, network) in [
        ("a", "quiet"),
        ("b", "quiet"),
        ("o", "other"),
        ("c", "closed"),
        ("p", "plain"),
    ] {
        cli_ok(&host, &["run", "--name", name, "--network", network]);
    }
    let path = |name: &str| host.netns_path(name);
    let _b_server = serve(&host, Some(&path("b")), 80);
    let _o_server = serve(&host, Some(&path("o")), 80);
    let b = address_of(&host, "b", "quiet");
    let o = address_of(&host, "o", "other");
    // The servers are up: the host reaches both.
    ask_until_answered(&host, None, &b, 80, "tcp").expect("the host reaches b");
    ask_until_answered(&host, None, &o, 80, "tcp").expect("the host reaches o");

    // ICC off: a cannot reach b, but resolves it and still gets out.
    assert_eq!(ask(&host, Some(&path("a")), &b, 80, "tcp"), None, "ICC off");
    assert_eq!(
        host.dig_short("a", &["b"]),
        std::slice::from_ref(&b),
        "names still resolve"
    );
    assert!(
        ask(&host, Some(&path("a")), WORLD_ADDRESS, 7000, "tcp").is_some(),
        "a gets out"
    );
    // Isolation: a network does not reach another's sandboxes...
    assert_eq!(
        ask(&host, Some(&path("b")), &o, 80, "tcp"),
        None,
        "isolated"
    );
    // ...unless the sandbox is on both.
    cli_ok(&host, &["network", "connect", "other", "b"]);
    assert!(
        ask(&host, Some(&path("b")), &o, 80, "tcp").is_some(),
        "on both networks"
    );
    // Internal: no way out.
    assert_eq!(
        ask(&host, Some(&path("c")), WORLD_ADDRESS, 7000, "tcp"),
        None,
        "internal"
    );
    // Masquerade off: the world sees the sandbox's own address (given a
    // route back).
    host.in_host(&[
        "ip",
        "netns",
        "exec",
        "world",
        "ip",
        "route",
        "add",
        "10.77.0.0/24",
        "via",
        HOST_ADDRESS,
    ])
    .assert_ok("route back");
    let p = address_of(&host, "p", "plain");
    assert_eq!(
        ask(&host, Some(&path("p")), WORLD_ADDRESS, 7000, "tcp"),
        Some(p)
    );

    // Options: MTU on bridge and veth, shown in inspect; a bad key refused.
    let inside = host
        .exec("a", &["ip", "link", "show", "eth0"])
        .stdout_text();
    assert!(inside.contains("mtu 1400"), "{inside}");
    let inspect = cli_ok(&host, &["network", "inspect", "quiet"]);
    assert!(
        inspect.contains("\"com.docker.network.bridge.enable_icc\": \"false\""),
        "{inspect}"
    );
    let bridge = cli_ok(&host, &["network", "inspect", "bridge"]);
    assert!(
        bridge.contains("\"com.docker.network.bridge.default_bridge\": \"true\""),
        "{bridge}"
    );
    host.cli(&[
        "network",
        "create",
        "-o",
        "com.docker.network.bridge.colour=blue",
        "bad",
    ])
    .assert_fails_with("unknown option \"com.docker.network.bridge.colour\"");
    remove_world(&host);
    host.assert_clean_after_removal();
    assert_only_default_bridge_rules(&host);
}

#[test]
fn ipv6_goes_out_masqueraded_and_reaches_published_ports() {
    let host = TestHost::with_private_run("");
    make_world(&host);
    let _world_server = serve(&host, Some(world()), 7000);
    cli_ok(
        &host,
        &[
            "network",
            "create",
            "--ipv6",
            "--subnet",
            "fd00:77::/64",
            "six",
        ],
    );
    cli_ok(
        &host,
        &["run", "--name", "web", "--network", "six", "-p", "8080:80"],
    );
    let web = host.netns_path("web");
    let _web_server = serve(&host, Some(&web), 80);
    // Out over IPv6: the world sees the host's IPv6 address.
    assert_eq!(
        ask_until_answered(&host, Some(&web), WORLD_ADDRESS6, 7000, "tcp").as_deref(),
        Some(HOST_ADDRESS6)
    );
    // In over IPv6: the published port on the host's IPv6 address.
    assert_eq!(
        ask_until_answered(&host, Some(world()), HOST_ADDRESS6, 8080, "tcp").as_deref(),
        Some(WORLD_ADDRESS6)
    );
    remove_world(&host);
    host.assert_clean_after_removal();
}
