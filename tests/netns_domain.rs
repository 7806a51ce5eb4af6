//! Namespace tier: the sandboxes' own domain, `netagent.internal` by
//! default. busybox's `nslookup web` asks only `web.<first search domain>`
//! (RUNTIMES.md, "Two traps"), so the domain must come first in the
//! sandbox's resolv.conf and the resolver must answer under it: checked
//! with busybox, the C library (getent), dig and kdig through the default
//! resolv.conf and 127.0.0.11, with the real daemon in a private host.

use crate::harness::clients::parse_dig;
use crate::harness::host::{OutputExt, TestHost};
use crate::harness::require_program;

/// `web` and `client` on `app`; returns web's address as `client` sees it.
fn web_and_client(host: &TestHost) -> String {
    host.cli(&["network", "create", "app"])
        .assert_ok("network create");
    for name in ["web", "client"] {
        host.cli(&["run", "--name", name, "--network", "app"])
            .assert_ok(&format!("run {name}"));
    }
    let web = host.dig_short("client", &["web"]);
    assert_eq!(web.len(), 1, "web resolves by its short name: {web:?}");
    web[0].clone()
}

/// dig from inside `sandbox`, its whole reply parsed.
fn dig_in(host: &TestHost, sandbox: &str, args: &[&str]) -> crate::harness::clients::DigReply {
    let mut full = vec!["dig", "+time=2", "+tries=1"];
    full.extend_from_slice(args);
    parse_dig(&host.exec(sandbox, &full).stdout_text())
}

#[test]
fn busybox_glibc_dig_and_kdig_resolve_short_names_through_the_domain() {
    require_program("busybox", "busybox-static");
    require_program("kdig", "knot-dnsutils");
    let host = TestHost::new();
    let web = web_and_client(&host);

    let resolv = host
        .exec("client", &["cat", "/etc/resolv.conf"])
        .stdout_text();
    assert!(
        resolv.contains("\nsearch netagent.internal test.example\n"),
        "the domain first, then the host's search list:\n{resolv}"
    );

    // busybox never asks the bare name `web`: it asks it under the search
    // domains (1.35 under each, older ones under the first only), so it
    // finds `web` only because the domain comes first and is answered here.
    let nslookup = host.exec("client", &["busybox", "nslookup", "web"]);
    let text = nslookup.stdout_text();
    assert!(
        text.contains(&format!("Name:\tweb.netagent.internal\nAddress: {web}\n")),
        "busybox nslookup web (status {:?}):\n{text}\n{}",
        nslookup.status,
        nslookup.stderr_text()
    );
    assert!(
        !text.contains("can't find web.netagent.internal"),
        "the domain is answered for A and AAAA: {text}"
    );

    // The C library, by the full name and by NAME.NETWORK.DOMAIN.
    for name in ["web.netagent.internal", "WEB.app.NetAgent.Internal"] {
        assert_eq!(
            host.getent("client", name).as_deref(),
            Some(web.as_str()),
            "getent hosts {name}"
        );
    }

    // dig and kdig through 127.0.0.11.
    let answer = dig_in(&host, "client", &["web.netagent.internal"]);
    assert_eq!(answer.status, "NOERROR", "{}", answer.text);
    assert!(answer.flag("aa"), "{}", answer.text);
    assert_eq!(answer.answer_data(), [web.as_str()], "{}", answer.text);
    let kdig = host
        .exec(
            "client",
            &[
                "kdig",
                "+short",
                "+time=2",
                "+retry=0",
                "@127.0.0.11",
                "web.app.netagent.internal",
            ],
        )
        .stdout_text();
    assert_eq!(kdig.trim(), web, "kdig NAME.NETWORK.DOMAIN");

    // Unknown under the domain: NXDOMAIN from the resolver itself (the
    // host's upstream, 127.0.0.53, is dead here: a forwarded question would
    // come back SERVFAIL), with the domain's SOA.
    let nosuch = dig_in(&host, "client", &["nosuch.netagent.internal"]);
    assert_eq!(nosuch.status, "NXDOMAIN", "{}", nosuch.text);
    assert!(nosuch.flag("aa"), "answered locally: {}", nosuch.text);
    assert!(
        nosuch
            .authority
            .iter()
            .any(|l| l.starts_with("netagent.internal. 0 IN SOA")),
        "{}",
        nosuch.text
    );
    // The apex: NODATA with the same SOA.
    let apex = dig_in(&host, "client", &["netagent.internal"]);
    assert_eq!(apex.status, "NOERROR", "{}", apex.text);
    assert!(apex.answer.is_empty(), "{}", apex.text);
    assert!(
        apex.authority.iter().any(|l| l.contains("SOA")),
        "{}",
        apex.text
    );
    // The default bridge has no embedded resolver, so no domain either.
    host.cli(&["run", "--name", "plain"]).assert_ok("run plain");
    let plain = host
        .exec("plain", &["cat", "/etc/resolv.conf"])
        .stdout_text();
    assert!(!plain.contains("netagent.internal"), "{plain}");
    // Outside the domain nothing changed: an unknown name is forwarded.
    assert_eq!(
        host.dig_status("client", &["nosuch.example"]),
        "SERVFAIL",
        "forwarded to the dead upstream"
    );

    host.assert_clean_after_removal();
}

#[test]
fn a_domain_of_ones_own_and_the_domain_turned_off() {
    // `--dns-search` replaces the host's list; the domain still comes first.
    let host = TestHost::with_config("[resolver]\ndomain = \"Lab.Test.\"\n");
    host.cli(&["network", "create", "app"])
        .assert_ok("network create");
    host.cli(&["run", "--name", "web", "--network", "app"])
        .assert_ok("run web");
    host.cli(&[
        "run",
        "--name",
        "client",
        "--network",
        "app",
        "--dns-search",
        "corp.example",
    ])
    .assert_ok("run client");
    let resolv = host
        .exec("client", &["cat", "/etc/resolv.conf"])
        .stdout_text();
    assert!(
        resolv.contains("\nsearch lab.test corp.example\n"),
        "{resolv}"
    );
    let web = host.dig_short("client", &["web"]);
    assert_eq!(host.dig_short("client", &["web.lab.test"]), web);
    assert_eq!(host.dig_status("client", &["nosuch.lab.test"]), "NXDOMAIN");
    assert_eq!(
        host.dig_status("client", &["web.netagent.internal"]),
        "SERVFAIL",
        "not our domain here: forwarded"
    );
    host.assert_clean_after_removal();
    drop(host);

    // Turned off: resolv.conf as before, names under it forwarded.
    let host = TestHost::with_config("[resolver]\ndomain = \"\"\n");
    let web = web_and_client(&host);
    let resolv = host
        .exec("client", &["cat", "/etc/resolv.conf"])
        .stdout_text();
    assert!(resolv.contains("\nsearch test.example\n"), "{resolv}");
    assert!(!resolv.contains("netagent.internal"), "{resolv}");
    assert_eq!(host.getent("client", "web").as_deref(), Some(web.as_str()));
    assert_eq!(
        host.dig_status("client", &["web.netagent.internal"]),
        "SERVFAIL",
        "forwarded to the dead upstream"
    );
    host.assert_clean_after_removal();
}
