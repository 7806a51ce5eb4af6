//! Namespace tier, issue #15: what a Docker user gives an overlay network
//! besides its subnet, on two hosts. `-o com.docker.network.driver.mtu`:
//! every host's VXLAN device, bridge and sandbox interfaces take it, and a
//! TCP transfer of full-size segments crosses hosts; without it, the MTU
//! is the creating host's underlay less 50. `--dns`: both hosts'
//! resolvers forward the network's other names to its own server (a fake
//! in the underlay namespace). `--internal`: no way out, even for a
//! sandbox that adds a default route itself. Options an overlay network
//! cannot take are refused by name. IPv6 (`--ipv6 --subnet`): each host's
//! addresses from its own /96, AAAA answers and TCP across hosts.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::harness::cluster::{leftovers, within, Underlay};
use crate::harness::fake_upstream::{Behaviour, FakeUpstream};
use crate::harness::host::{OutputExt, TestHost};
use crate::harness::world::{ask_until_answered, serve};

/// Receives one connection's bytes and answers with their count.
const SINK: &str = r#"
import socket
s = socket.socket(); s.settimeout(20)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 9000)); s.listen(1)
c, _ = s.accept(); c.settimeout(20); n = 0
while True:
    data = c.recv(65536)
    if not data: break
    n += len(data)
c.sendall(str(n).encode()); c.close()
"#;

/// Sends 2 MiB to argv[1]:9000 and prints the count the sink saw.
const SOURCE: &str = r#"
import socket, sys, time
for _ in range(50):
    try:
        s = socket.create_connection((sys.argv[1], 9000), timeout=10); break
    except OSError:
        time.sleep(0.1)
s.sendall(b"x" * (2 << 20)); s.shutdown(socket.SHUT_WR)
print(s.recv(100).decode())
"#;

/// The MTU of `device` on `host`.
fn mtu_of_link(host: &TestHost, device: &str) -> String {
    let link = host
        .in_host(&["ip", "-o", "link", "show", device])
        .stdout_text();
    let mtu = link.split(" mtu ").nth(1).and_then(|r| r.split(' ').next());
    mtu.unwrap_or_default().to_owned()
}

fn address(host: &TestHost, sandbox: &str) -> String {
    address_of(host, sandbox, "IPAddress")
}

fn address_of(host: &TestHost, sandbox: &str, field: &str) -> String {
    let format = format!("{{{{range .NetworkSettings.Networks}}}}{{{{.{field}}}}}{{{{end}}}}");
    let out = host.cli(&["inspect", sandbox, "--format", &format]);
    out.assert_ok("inspect").stdout_text().trim().to_owned()
}

fn python(host: &TestHost, sandbox: &str, code: &str, args: &[&str]) -> std::process::Command {
    let netns = format!("--net={}", host.netns_path(sandbox).display());
    let mut full = vec!["nsenter", &netns, "timeout", "30", "python3", "-c", code];
    full.extend_from_slice(args);
    host.host_command(&full)
}

#[test]
fn overlay_mtu_dns_and_internal_hold_on_every_host() {
    let underlay = Underlay::new();
    let (h1, h2) = (underlay.host(1, 10), underlay.host(2, 10));
    let upstream = FakeUpstream::start_in(
        underlay.pid(),
        "192.0.2.1:5353".parse().unwrap(),
        Behaviour::Answer(Ipv4Addr::new(203, 0, 113, 7)),
    );
    let create = |args: &[&str]| {
        let mut full = vec!["network", "create", "-d", "overlay"];
        full.extend_from_slice(args);
        h1.cli(&full)
    };
    let bad = create(&["bad", "-o", "encrypted=true", "-o", "colour=blue"]);
    bad.assert_fails_with("no IPsec");
    bad.assert_fails_with("unknown option \"colour\"");
    create(&[
        "app",
        "--subnet",
        "10.126.0.0/24",
        "-o",
        "com.docker.network.driver.mtu=1400",
        "-o",
        "com.docker.network.driver.overlay.vxlanid_list=7001",
        "--dns",
        "192.0.2.1:5353",
    ])
    .assert_ok("create app");
    create(&["inside", "--subnet", "10.127.0.0/24", "--internal"]).assert_ok("create inside");
    // The default MTU follows the creator's underlay (here 1480).
    h1.in_host(&["ip", "link", "set", "ul0", "mtu", "1480"])
        .assert_ok("underlay MTU");
    create(&["plain"]).assert_ok("create plain");
    // More than the underlay carries: refused, naming both numbers.
    let big = create(&["big", "-o", "com.docker.network.driver.mtu=1450"]);
    big.assert_fails_with("MTU 1450 is more than this host's underlay carries: 1430");
    let mtu_of = |host: &TestHost, net: &str| {
        host.cli(&[
            "network",
            "inspect",
            net,
            "--format",
            "{{index .Options \"com.docker.network.driver.mtu\"}}",
        ])
        .stdout_text()
        .trim()
        .to_owned()
    };
    let seen = within(Duration::from_secs(5), || mtu_of(&h2, "plain") == "1430");
    assert!(
        seen.is_some(),
        "plain's MTU on h2: {}",
        mtu_of(&h2, "plain")
    );
    assert_eq!(mtu_of(&h2, "app"), "1400");
    let vni = h2.cli(&[
        "network",
        "inspect",
        "app",
        "--format",
        "{{index .Options \"com.docker.network.driver.overlay.vxlanid_list\"}}",
    ]);
    assert_eq!(
        vni.stdout_text().trim(),
        "7001",
        "inspect on h2 shows the VNI"
    );
    h1.cli(&["network", "rm", "plain"]).assert_ok("rm plain");

    h1.cli(&["run", "--name", "a", "--network", "app"])
        .assert_ok("run a");
    h2.cli(&["run", "--name", "b", "--network", "app"])
        .assert_ok("run b");
    h2.cli(&["run", "--name", "c", "--network", "inside"])
        .assert_ok("run c");
    for (host, sandbox) in [(&h1, "a"), (&h2, "b")] {
        let id = host
            .cli(&["network", "inspect", "app", "--format", "{{.Id}}"])
            .stdout_text();
        for device in [format!("vx-{}", &id[..12]), format!("na-{}", &id[..12])] {
            assert_eq!(mtu_of_link(host, &device), "1400", "{device}");
        }
        let inside = host
            .exec(sandbox, &["ip", "link", "show", "eth0"])
            .stdout_text();
        assert!(inside.contains("mtu 1400"), "{sandbox}: {inside}");
        // The network's own server answers, through each host's resolver.
        let answer = host.dig_short(sandbox, &["upstream.example"]);
        assert_eq!(answer, ["203.0.113.7"], "{sandbox} through --dns");
    }
    assert!(
        upstream.udp_packets() >= 2,
        "the network's server was asked"
    );
    let vni = h2.in_host(&["ip", "-d", "link", "show"]).stdout_text();
    assert!(vni.contains("vxlan id 7001"), "{vni}");

    // Full-size segments from h2 to h1 at MTU 1400 (MSS 1360).
    let mut sink = python(&h1, "a", SINK, &[]).spawn().expect("sink");
    let a = address(&h1, "a");
    let sent = python(&h2, "b", SOURCE, &[&a]).output().expect("source");
    let _ = sink.wait();
    assert_eq!(
        sent.stdout_text().trim(),
        (2 << 20).to_string(),
        "{}",
        sent.stderr_text()
    );

    // --internal: no default route, and none that works when added by hand;
    // a sandbox of a network that is not internal gets out (b to etcd).
    let routes = h2.exec("c", &["ip", "route"]).stdout_text();
    assert!(!routes.contains("default"), "{routes}");
    h2.exec("c", &["ip", "route", "add", "default", "via", "10.127.0.1"])
        .assert_ok("a default route by hand");
    let reach = |sandbox: &str| {
        let code = "import socket; socket.create_connection(('192.0.2.1', 2379), timeout=2)";
        h2.exec(sandbox, &["python3", "-c", code]).status.success()
    };
    assert!(
        reach("b"),
        "a sandbox of a network that is not internal gets out"
    );
    assert!(
        !reach("c"),
        "a sandbox of an internal overlay network got out"
    );

    for (host, name) in [(&h1, "a"), (&h2, "b"), (&h2, "c")] {
        host.cli(&["rm", "--force", name]).assert_ok("rm");
    }
    for net in ["app", "inside"] {
        h2.cli(&["network", "rm", net]).assert_ok("network rm");
    }
    for host in [&h1, &h2] {
        let clean = within(Duration::from_secs(5), || leftovers(host).is_empty());
        assert!(clean.is_some(), "left on a host: {:?}", leftovers(host));
    }
}

#[test]
fn overlay_ipv6_addresses_names_and_tcp_cross_hosts() {
    let underlay = Underlay::new();
    let (h1, h2) = (underlay.host(1, 10), underlay.host(2, 10));
    h1.cli(&["network", "create", "-d", "overlay", "half", "--ipv6"])
        .assert_fails_with("with an IPv6 --subnet");
    h1.cli(&[
        "network",
        "create",
        "-d",
        "overlay",
        "six",
        "--ipv6",
        "--subnet",
        "10.128.0.0/24",
        "--subnet",
        "fd00:128::/64",
    ])
    .assert_ok("create six");
    assert!(within(Duration::from_secs(5), || h2
        .cli(&["network", "inspect", "six"])
        .status
        .success())
    .is_some());
    h1.cli(&["run", "--name", "alpha", "--network", "six"])
        .assert_ok("run alpha");
    h2.cli(&["run", "--name", "beta", "--network", "six"])
        .assert_ok("run beta");
    // Each host's own /96: 192.0.2.11 is c000:20b, 192.0.2.12 c000:20c.
    let a6 = address_of(&h1, "alpha", "GlobalIPv6Address");
    let b6 = address_of(&h2, "beta", "GlobalIPv6Address");
    assert!(a6.starts_with("fd00:128::c000:20b:"), "{a6}");
    assert!(b6.starts_with("fd00:128::c000:20c:"), "{b6}");
    for (host, sandbox, name, expected) in
        [(&h1, "alpha", "beta", &b6), (&h2, "beta", "alpha", &a6)]
    {
        let mut last = vec![];
        let seen = within(Duration::from_secs(10), || {
            last = host.dig_short(sandbox, &[name, "AAAA"]);
            last == [expected.clone()]
        });
        assert!(seen.is_some(), "{sandbox} AAAA {name}: {last:?}");
    }
    // TCP over IPv6 from h2 to h1, no NAT.
    let _server = serve(&h1, Some(&h1.netns_path("alpha")), 8080);
    let seen = ask_until_answered(&h2, Some(&h2.netns_path("beta")), &a6, 8080, "tcp");
    assert_eq!(
        seen.as_deref(),
        Some(b6.as_str()),
        "TCP over IPv6 across hosts"
    );

    for (host, name) in [(&h1, "alpha"), (&h2, "beta")] {
        host.cli(&["rm", "--force", name]).assert_ok("rm");
    }
    h2.cli(&["network", "rm", "six"]).assert_ok("network rm");
    for host in [&h1, &h2] {
        let clean = within(Duration::from_secs(5), || leftovers(host).is_empty());
        assert!(clean.is_some(), "left on a host: {:?}", leftovers(host));
    }
    let keys = underlay.keys();
    assert!(keys.iter().all(|k| k.contains("/hosts/")), "{keys:?}");
}
