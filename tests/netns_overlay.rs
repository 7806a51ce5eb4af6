//! Namespace tier, issue #15: overlay networks across hosts. Each host is
//! a private host with its own agent, joined to an underlay namespace
//! where etcd runs ([`crate::harness::cluster`]). Checks: a create seen
//! everywhere, two creates racing, names and TCP across hosts through the
//! VXLAN overlay, a shared alias, a disconnect gone elsewhere within a
//! second, `network rm` refused naming host and sandbox, an agent killed
//! (its lease expires) and restarted (it re-owns its endpoints), etcd
//! stopped and started (watches resumed), a host cut off while a delete
//! happens (a resume; a full read when compacted), a quiet watch that
//! stays up, and nothing left anywhere after removal.

use std::time::Duration;

use crate::harness::cluster::{leftovers, metric, within, Underlay, PREFIX};
use crate::harness::host::{OutputExt, TestHost};
use crate::harness::world::{ask_until_answered, serve};

pub(crate) fn run(host: &TestHost, args: &[&str]) {
    let mut full = vec!["run"];
    full.extend_from_slice(args);
    host.cli(&full).assert_ok(&format!("netagent {full:?}"));
}

/// Whether `host`'s `network ls` lists `name` as an overlay of scope swarm.
pub(crate) fn lists_overlay(host: &TestHost, name: &str) -> bool {
    host.cli(&[
        "network",
        "ls",
        "--format",
        "{{.Name}} {{.Driver}} {{.Scope}}",
    ])
    .stdout_text()
    .lines()
    .any(|l| l == format!("{name} overlay swarm"))
}

/// Waits (at most 10 s) until `sandbox` on `host` resolves `name` to
/// exactly `count` addresses; returns them.
pub(crate) fn resolves(host: &TestHost, sandbox: &str, name: &str, count: usize) -> Vec<String> {
    let mut last = vec![];
    within(Duration::from_secs(10), || {
        last = host.dig_short(sandbox, &[name]);
        last.len() == count
    })
    .unwrap_or_else(|| {
        panic!(
            "{sandbox} never resolved {name} to {count} addresses: {last:?}\n{}",
            host.daemon_log()
        )
    });
    last
}

/// Removes every sandbox on `hosts`, the overlay `network` through the
/// last host, and checks that no host has anything of it left and etcd no
/// key under the prefix but the hosts' own.
pub(crate) fn remove_all(underlay: &Underlay, hosts: &[&TestHost], network: &str) {
    for host in hosts {
        let ps = host
            .cli(&["ps", "-a", "--format", "{{.Names}}"])
            .stdout_text();
        for name in ps.lines() {
            host.cli(&["rm", "--force", name]).assert_ok("rm");
        }
    }
    hosts[hosts.len() - 1]
        .cli(&["network", "rm", network])
        .assert_ok("network rm");
    for host in hosts {
        let clean = within(Duration::from_secs(5), || leftovers(host).is_empty());
        assert!(clean.is_some(), "left on a host: {:?}", leftovers(host));
        assert!(!lists_overlay(host, network));
    }
    let hosts = format!("{PREFIX}hosts/");
    let keys = underlay.keys();
    assert!(
        keys.iter().all(|k| k.starts_with(&hosts)),
        "keys left in etcd besides the live hosts' own: {keys:?}"
    );
}

#[test]
fn overlay_without_a_cluster_is_refused_with_the_reason() {
    let host = TestHost::new();
    host.cli(&["network", "create", "-d", "overlay", "app"])
        .assert_fails_with("the overlay driver needs a cluster");
    host.assert_clean_after_removal();
}

#[test]
fn overlay_names_and_tcp_cross_three_hosts() {
    let underlay = Underlay::new();
    let (h1, h2, h3) = (
        underlay.host(1, 10),
        underlay.host(2, 10),
        underlay.host(3, 10),
    );
    h1.cli(&[
        "network",
        "create",
        "-d",
        "overlay",
        "app",
        "--subnet",
        "10.123.0.0/24",
    ])
    .assert_ok("network create -d overlay");
    for host in [&h2, &h3] {
        assert!(within(Duration::from_secs(5), || lists_overlay(host, "app")).is_some());
    }
    // Two hosts creating the same name at once: exactly one wins.
    let racers = [&h2, &h3].map(|h| h.cli_spawn(&["network", "create", "-d", "overlay", "race"]));
    let won = racers
        .into_iter()
        .map(|mut c| c.wait().unwrap().success())
        .filter(|ok| *ok)
        .count();
    assert_eq!(won, 1, "racing creates");
    h1.cli(&["network", "rm", "race"]).assert_ok("rm race");

    // Another host's local network is in the way of an overlay subnet.
    h2.cli(&["network", "create", "loc2", "--subnet", "10.124.0.0/24"])
        .assert_ok("a local network on host 2");
    let key = format!("{PREFIX}hosts/h2");
    let published = within(Duration::from_secs(10), || {
        underlay
            .etcdctl(&["get", &key])
            .stdout_text()
            .contains("10.124.0.0/24")
    });
    assert!(published.is_some(), "host 2 never published its subnets");
    h1.cli(&[
        "network",
        "create",
        "-d",
        "overlay",
        "clash",
        "--subnet",
        "10.124.0.0/25",
    ])
    .assert_fails_with("10.124.0.0/24, in use on host h2");
    h2.cli(&["network", "rm", "loc2"]).assert_ok("rm loc2");

    run(
        &h1,
        &[
            "--name",
            "web",
            "--network",
            "app",
            "--network-alias",
            "api",
        ],
    );
    run(
        &h2,
        &[
            "--name",
            "mid",
            "--network",
            "app",
            "--network-alias",
            "api",
        ],
    );
    run(&h3, &["--name", "db", "--network", "app"]);
    let web = resolves(&h3, "db", "web", 1);
    let db = resolves(&h1, "web", "db", 1);
    assert_eq!(
        h3.getent("db", "web").as_deref(),
        Some(web[0].as_str()),
        "getent"
    );
    assert_eq!(
        h1.getent("web", "db").as_deref(),
        Some(db[0].as_str()),
        "getent"
    );
    assert_eq!(
        resolves(&h3, "db", "api", 2).len(),
        2,
        "a shared alias across hosts"
    );

    // TCP from host 3 to host 1 through the overlay.
    let _server = serve(&h1, Some(&h1.netns_path("web")), 8080);
    let seen = ask_until_answered(&h3, Some(&h3.netns_path("db")), &web[0], 8080, "tcp");
    assert_eq!(
        seen.as_deref(),
        Some(db[0].as_str()),
        "TCP across hosts, no NAT"
    );

    // Every host's endpoints, with their hosts, on any host.
    let inspect = h2
        .cli(&[
            "network",
            "inspect",
            "app",
            "--format",
            "{{range .Containers}}{{.Name}}@{{.Host}} {{end}}",
        ])
        .stdout_text();
    for needle in ["web@h1", "mid@h2", "db@h3"] {
        assert!(inspect.contains(needle), "{needle} in {inspect}");
    }
    h2.cli(&["network", "rm", "app"])
        .assert_fails_with("on host h");

    // A disconnect on host 1 is gone on host 3 within a second.
    h1.cli(&["network", "disconnect", "app", "web"])
        .assert_ok("disconnect");
    let gone = within(Duration::from_secs(1), || {
        h3.dig_status("db", &["web.app"]) == "NXDOMAIN"
    });
    assert!(
        gone.is_some(),
        "webeta still answers on host 3 a second after its disconnect"
    );
    remove_all(&underlay, &[&h1, &h2, &h3], "app");
}

#[test]
fn overlay_agent_killed_its_names_go_with_its_lease_and_come_back_on_restart() {
    let underlay = Underlay::new();
    // A 6 s lease, renewed every 2 s: a restart has at least 4 s to publish
    // again before the old lease lapses, which a loaded CI machine needs (a
    // 3 s lease left 2 s, and the whole suite once took longer).
    let (h1, mut h2) = (underlay.host(1, 6), underlay.host(2, 6));
    h1.cli(&["network", "create", "-d", "overlay", "app"])
        .assert_ok("create");
    assert!(within(Duration::from_secs(5), || lists_overlay(&h2, "app")).is_some());
    run(&h1, &["--name", "alpha", "--network", "app"]);
    run(&h2, &["--name", "beta", "--network", "app"]);
    resolves(&h1, "alpha", "beta", 1);

    // Restarted before its lease expires: no gap on host 1.
    h2.kill_daemon();
    h2.start_daemon();
    for _ in 0..10 {
        assert_eq!(
            h1.dig_short("alpha", &["beta"]).len(),
            1,
            "beta went away during a restart"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // Killed for good: b goes when h2's lease (6 s) expires.
    h2.kill_daemon();
    let gone = within(Duration::from_secs(15), || {
        h1.dig_status("alpha", &["beta.app"]) == "NXDOMAIN"
    });
    assert!(
        gone.is_some(),
        "beta still answers after h2's lease expired"
    );
    h2.start_daemon();
    resolves(&h1, "alpha", "beta", 1);
    remove_all(&underlay, &[&h1, &h2], "app");
}

#[test]
fn overlay_etcd_away_names_keep_answering_creates_fail_fast_then_converge() {
    let mut underlay = Underlay::new();
    let (h1, mut h2) = (underlay.host(1, 10), underlay.host(2, 10));
    h1.cli(&["network", "create", "-d", "overlay", "app"])
        .assert_ok("create");
    assert!(within(Duration::from_secs(5), || lists_overlay(&h2, "app")).is_some());
    run(&h1, &["--name", "alpha", "--network", "app"]);
    run(&h2, &["--name", "beta", "--network", "app"]);
    run(&h2, &["--name", "gone", "--network", "app"]);
    resolves(&h1, "alpha", "gone", 1);

    underlay.stop_etcd();
    assert_eq!(
        h1.dig_short("alpha", &["beta"]).len(),
        1,
        "stale but answering"
    );
    assert_eq!(
        h2.dig_short("beta", &["alpha"]).len(),
        1,
        "stale but answering"
    );
    h1.cli(&["network", "create", "-d", "overlay", "other"])
        .assert_fails_with("does not answer");
    h1.cli(&["run", "--name", "early", "--network", "app"])
        .assert_fails_with("does not answer");
    let ps = h1
        .cli(&["ps", "-a", "--format", "{{.Names}}"])
        .stdout_text();
    assert!(
        !ps.lines().any(|n| n == "early"),
        "a failed run leaves no sandbox: {ps}"
    );
    h1.cli(&["network", "create", "local"])
        .assert_ok("local networks work as before");
    h1.cli(&["network", "rm", "local"]).assert_ok("rm local");
    // A delete while etcd is away is written once it is back.
    h2.cli(&["rm", "--force", "gone"])
        .assert_ok("rm while etcd is away");

    // An agent (re)started while etcd is away comes up, and catches up.
    h2.kill_daemon();
    h2.start_daemon();

    underlay.start_etcd();
    run_until_ok(&h1, &["--name", "late", "--network", "app"]);
    resolves(&h2, "beta", "late", 1);
    resolves(&h2, "beta", "alpha", 1);
    let gone = within(Duration::from_secs(15), || {
        h1.dig_status("alpha", &["gone.app"]) == "NXDOMAIN"
    });
    assert!(
        gone.is_some(),
        "a sandbox removed while etcd was away still answers elsewhere"
    );
    // Host 1 lived through it: its watch resumed, no full read again.
    assert!(
        metric(&h1, "netagent_cluster_watch_resumes_total") >= 1,
        "{}",
        h1.daemon_log()
    );
    assert_eq!(
        metric(&h1, "netagent_cluster_full_reads_total"),
        1,
        "{}",
        h1.daemon_log()
    );
    remove_all(&underlay, &[&h1, &h2], "app");
}

#[test]
fn overlay_quiet_watch_stays_up() {
    // Pinged every 2 s, more often than etcd's --grpc-keepalive-min-time
    // (5 s), a host's connection was closed every 8 to 14 s with nothing
    // cut, and its watch with it. A lease kept alive every few seconds
    // hides it (etcd forgives pings after it sends data): a long TTL here.
    let underlay = Underlay::new();
    let h1 = underlay.host(1, 60);
    h1.cli(&["network", "create", "-d", "overlay", "app"])
        .assert_ok("create");
    std::thread::sleep(Duration::from_secs(20));
    let resumes = metric(&h1, "netagent_cluster_watch_resumes_total");
    assert_eq!(resumes, 0, "{}", h1.daemon_log());
    remove_all(&underlay, &[&h1], "app");
}

#[test]
fn overlay_host_cut_off_misses_a_delete_and_forgets_the_name_when_back() {
    const READS: &str = "netagent_cluster_full_reads_total";
    const RESUMES: &str = "netagent_cluster_watch_resumes_total";
    let underlay = Underlay::new();
    // Host 2's lease outlives its cuts: its lease expiring meanwhile
    // would be a write it missed besides the delete.
    let (h1, h2) = (underlay.host(1, 10), underlay.host(2, 60));
    h1.cli(&["network", "create", "-d", "overlay", "app"])
        .assert_ok("create");
    assert!(within(Duration::from_secs(5), || lists_overlay(&h2, "app")).is_some());
    run(&h1, &["--name", "alpha", "--network", "app"]);
    run(&h2, &["--name", "beta", "--network", "app"]);
    resolves(&h2, "beta", "alpha", 1);
    assert_eq!(metric(&h2, READS), 1, "one full read, at start");
    let resumes = metric(&h2, RESUMES);
    cut_off(&underlay, &h2);
    h1.cli(&["rm", "--force", "alpha"])
        .assert_ok("rm while host 2 is cut off");
    assert_eq!(
        h2.dig_short("beta", &["alpha"]).len(),
        1,
        "cut off: stale but answering"
    );
    underlay.link(2, true);
    let gone = within(Duration::from_secs(15), || {
        h2.dig_status("beta", &["alpha.app"]) == "NXDOMAIN"
    });
    assert!(
        gone.is_some(),
        "host 2 still answers a name deleted while it was cut off"
    );
    // The delete came through the resumed watch, with no full read.
    assert!(metric(&h2, RESUMES) > resumes, "{}", h2.daemon_log());
    assert_eq!(metric(&h2, READS), 1, "{}", h2.daemon_log());

    // Again, with the history compacted at the delete's own revision
    // (etcd-io/etcd#18089: a watch from there would get neither the
    // delete nor a compaction error): one full read brings it.
    run(&h1, &["--name", "gamma", "--network", "app"]);
    resolves(&h2, "beta", "gamma", 1);
    let seen = underlay.revision();
    cut_off(&underlay, &h2);
    h1.cli(&["rm", "--force", "gamma"])
        .assert_ok("rm while host 2 is cut off");
    let revision = underlay.revision();
    assert_eq!(
        revision,
        seen + 1,
        "the test's premise: the delete is the only write host 2 missed"
    );
    underlay
        .etcdctl(&["compact", &revision.to_string()])
        .assert_ok("compact");
    underlay.link(2, true);
    let gone = within(Duration::from_secs(30), || {
        h2.dig_status("beta", &["gamma.app"]) == "NXDOMAIN"
    });
    assert!(
        gone.is_some(),
        "host 2 still answers a name deleted and compacted away:\n{}",
        h2.daemon_log()
    );
    assert_eq!(metric(&h2, READS), 2, "{}", h2.daemon_log());
    assert!(
        h2.daemon_log().contains("read the whole cluster again"),
        "{}",
        h2.daemon_log()
    );
    remove_all(&underlay, &[&h1, &h2], "app");
}

/// Cuts host 2 off the underlay and waits (at most 15 s) until its agent
/// has noticed: its watch is lost, so what follows is missed for real.
fn cut_off(underlay: &Underlay, host: &TestHost) {
    let lost = |h: &TestHost| h.daemon_log().matches("lost the cluster watch").count();
    let before = lost(host);
    underlay.link(2, false);
    let noticed = within(Duration::from_secs(15), || lost(host) > before);
    assert!(
        noticed.is_some(),
        "host 2 never lost its watch:\n{}",
        host.daemon_log()
    );
}

/// `run` until the agent's lease is back (etcd just restarted), for at
/// most 15 s.
fn run_until_ok(host: &TestHost, args: &[&str]) {
    let mut full = vec!["run"];
    full.extend_from_slice(args);
    let ok = within(Duration::from_secs(15), || host.cli(&full).status.success());
    assert!(
        ok.is_some(),
        "{full:?} never worked:\n{}",
        host.daemon_log()
    );
}
