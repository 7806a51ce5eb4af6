//! Namespace tier, issue #15: the cluster store over TLS. etcd on https
//! with `--client-cert-auth` ([`Underlay::with_tls`], certificates made by
//! openssl); two hosts with the right CA and client certificate make an
//! overlay network and resolve each other across it. A third host's agent
//! with the wrong CA, or without a client certificate, does not start,
//! and says which endpoint refused TLS and why; a missing certificate
//! file is refused when the config is loaded, naming the path; an agent
//! started while etcd is away (so it could not check TLS) says what is
//! wrong with TLS at its first overlay command.

use std::time::Duration;

use crate::harness::cluster::{
    leftovers, set_tls, start_failing, within, Underlay, ETCD_TLS, PREFIX,
};
use crate::harness::host::{OutputExt, TestHost};

fn lists_overlay(host: &TestHost, name: &str) -> bool {
    host.cli(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"])
        .stdout_text()
        .lines()
        .any(|l| l == format!("{name} overlay"))
}

fn resolves(host: &TestHost, sandbox: &str, name: &str) -> String {
    let mut last = vec![];
    within(Duration::from_secs(10), || {
        last = host.dig_short(sandbox, &[name]);
        last.len() == 1
    })
    .unwrap_or_else(|| {
        panic!(
            "{sandbox} never resolved {name}: {last:?}\n{}",
            host.daemon_log()
        )
    });
    last.remove(0)
}

#[test]
fn overlay_over_tls_works_and_bad_certificates_are_refused_by_name() {
    let mut underlay = Underlay::with_tls();
    let (h1, h2) = (underlay.host(1, 10), underlay.host(2, 10));
    h1.cli(&[
        "network",
        "create",
        "-d",
        "overlay",
        "app",
        "--subnet",
        "10.125.0.0/24",
    ])
    .assert_ok("network create -d overlay over TLS");
    assert!(within(Duration::from_secs(5), || lists_overlay(&h2, "app")).is_some());
    for (host, name) in [(&h1, "web"), (&h2, "db")] {
        host.cli(&["run", "--name", name, "--network", "app"])
            .assert_ok("run");
    }
    let web = resolves(&h2, "db", "web");
    let db = resolves(&h1, "web", "db");
    assert!(web.starts_with("10.125.0.") && db.starts_with("10.125.0."));
    assert_ne!(web, db);

    // The wrong CA, then no client certificate: the agent does not start,
    // and says which endpoint and what.
    let certs = underlay.tls.as_ref().unwrap();
    let wrong_ca = certs.lines(&certs.path("other-ca.pem"), true);
    let h3 = underlay.host_stopped(3, 10, &wrong_ca);
    let said = start_failing(&h3);
    let endpoint = format!("TLS to etcd at {ETCD_TLS} failed");
    for needle in [endpoint.as_str(), "UnknownIssuer", "cluster.ca_file"] {
        assert!(said.contains(needle), "{needle} not in: {said}");
    }
    set_tls(&h3, &certs.lines(&certs.path("ca.pem"), false));
    let said = start_failing(&h3);
    for needle in [endpoint.as_str(), "alert", "cluster.cert_file"] {
        assert!(said.contains(needle), "{needle} not in: {said}");
    }
    // A certificate file that is not there: refused at load, by path.
    set_tls(
        &h3,
        &certs
            .lines(&certs.path("ca.pem"), true)
            .replace("client.pem", "absent.pem"),
    );
    let said = start_failing(&h3);
    let absent = certs.path("absent.pem");
    let needle = format!("cluster.cert_file: cannot read {}", absent.display());
    assert!(said.contains(&needle), "{needle} not in: {said}");
    assert!(leftovers(&h3).is_empty(), "{:?}", leftovers(&h3));

    // Started while etcd is away, it cannot check TLS and starts; its first
    // overlay command says what is wrong, not that etcd does not answer.
    underlay.stop_etcd();
    set_tls(&h3, &wrong_ca);
    let mut h3 = h3;
    h3.start_daemon();
    underlay.start_etcd();
    let created = h3.cli(&["network", "create", "-d", "overlay", "late"]);
    let said = created.stderr_text();
    assert!(!created.status.success(), "created over a wrong CA");
    for needle in [endpoint.as_str(), "UnknownIssuer"] {
        assert!(said.contains(needle), "{needle} not in: {said}");
    }
    drop(h3);

    // Removal leaves nothing on either host, nor in etcd.
    for (host, name) in [(&h1, "web"), (&h2, "db")] {
        host.cli(&["rm", "--force", name]).assert_ok("rm");
    }
    // h1's watch may still be catching up after etcd's restart.
    let removed = within(Duration::from_secs(10), || {
        h1.cli(&["network", "rm", "app"]).status.success()
    });
    assert!(removed.is_some(), "network rm after etcd's restart");
    for host in [&h1, &h2] {
        let clean = within(Duration::from_secs(5), || leftovers(host).is_empty());
        assert!(clean.is_some(), "left on a host: {:?}", leftovers(host));
    }
    let hosts = format!("{PREFIX}hosts/");
    let keys = underlay.keys();
    assert!(keys.iter().all(|k| k.starts_with(&hosts)), "{keys:?}");
}
