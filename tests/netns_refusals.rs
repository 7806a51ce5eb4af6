//! Namespace tier: caller errors the agent answered 500 or accepted
//! (issue #14), each now a 4xx naming the value, with nothing left
//! behind: adoptions of what does not exist, a namespace file that is not
//! the agent's, bodies over the limit, IPv6 subnets without IPv6, names
//! that end in a network's name, and network creations refused before
//! any bridge exists.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::harness::host::{OutputExt, TestHost};

/// `curl` over the agent's socket: the status code and the message.
fn call(socket: &Path, method: &str, path: &str, body: Option<&str>) -> (String, String) {
    let url = format!("http://localhost{path}");
    let mut command = Command::new("curl");
    command.args(["-sS", "--max-time", "20", "--unix-socket"]);
    command
        .arg(socket)
        .args(["-w", "\n%{http_code}", "-X", method, &url]);
    if let Some(body) = body {
        command.args(["-H", "content-type: application/json"]);
        command.args(["--data-binary", body]);
    }
    let text = command.output().expect("curl").stdout_text();
    let (answer, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    let message = serde_json::from_str::<Value>(answer)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| answer.to_owned());
    (code.to_owned(), message)
}

#[test]
fn caller_errors_are_4xx_naming_the_value() {
    let host = TestHost::new();
    let socket = host.socket();
    host.cli(&["network", "create", "app"])
        .assert_ok("network create app");
    host.cli(&["run", "--name", "web", "--network", "app"])
        .assert_ok("run web");
    host.cli(&["run", "--name", "plain", "--network", "none"])
        .assert_ok("run plain");
    std::fs::write(host.netns_path("taken"), b"").unwrap();
    // A runtime asking for an interface its namespace has already.
    let clash = format!(
        r#"{{"id":"c1","netns":"{}","network":"app","joining":{{"kind":"bridge","ifname":"eth0"}},"name":"c1","door":"cni"}}"#,
        host.netns_path("web").display()
    );
    let plain_file = host.dir.path().join("host-resolv.conf");
    let adopt_file = format!(
        r#"{{"name":"a","network":{{"network":"app"}},"adopt":{{"path":"{}"}}}}"#,
        plain_file.display()
    );
    #[rustfmt::skip]
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        ("POST", "/v1/sandboxes", r#"{"name":"a","network":{"network":"app"},"adopt":{"path":"/nonexistent/ns"}}"#, "404", "/nonexistent/ns: no such file"),
        ("POST", "/v1/sandboxes", r#"{"name":"a","network":{"network":"app"},"adopt":{"pid":2147483647}}"#, "404", "process 2147483647: no such process"),
        ("POST", "/v1/sandboxes", &adopt_file, "400", "host-resolv.conf: not a network namespace"),
        ("POST", "/v1/sandboxes", r#"{"name":"taken","network":{"network":"app"}}"#, "409", "netns/taken exists already"),
        ("POST", "/v1/containers", &clash, "409", "has an interface \"eth0\" already"),
        ("GET", "/v1/dns/lookup?from=plain&name=web", "", "409", "sandbox \"plain\" has no embedded resolver"),
        ("POST", "/v1/networks", r#"{"name":"n","subnets":["224.0.0.0/24"]}"#, "400", "224.0.0.0/24"),
        ("POST", "/v1/networks", r#"{"name":"n","ipv6":true,"subnets":["ff00::/8"]}"#, "400", "ff00::/8"),
        ("POST", "/v1/networks", r#"{"name":"n","subnets":["10.5.0.0/24","10.5.0.0/24"]}"#, "400", "10.5.0.0/24"),
        ("POST", "/v1/networks", r#"{"name":"n","subnets":["10.6.0.0/24","fd00:6::/64"]}"#, "400", "fd00:6::/64 is an IPv6 subnet but IPv6 is off"),
    ];
    let mut wrong = Vec::new();
    for (method, path, body, want, says) in cases {
        let body = Some(*body).filter(|b| !b.is_empty());
        let (code, message) = call(&socket, method, path, body);
        if code != *want || !message.contains(says) {
            wrong.push(format!(
                "{method} {path} {body:?}: {code} {message} (wanted {want}, {says:?})"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let veths = host
        .links()
        .iter()
        .filter(|l| l.starts_with("veth"))
        .count();
    assert_eq!(veths, 1, "web's veth only: {:?}", host.links());
    let bridges = host.links().iter().filter(|l| l.starts_with("na-")).count();
    assert_eq!(bridges, 1, "only app's bridge: {:?}", host.links());
    assert!(
        host.netns_path("taken").exists(),
        "someone else's file stays"
    );
    std::fs::remove_file(host.netns_path("taken")).unwrap();
    host.assert_clean_after_removal();
}

#[test]
fn a_body_over_the_limit_is_413() {
    let host = TestHost::new();
    let big = host.dir.path().join("big.json");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(100 << 20).unwrap();
    let at = format!("@{}", big.display());
    let (code, message) = call(&host.socket(), "POST", "/v1/networks", Some(&at));
    assert_eq!(code, "413", "{message}");
}

#[test]
fn names_ending_in_a_network_name_are_refused_both_ways() {
    let host = TestHost::new();
    for network in ["app", "other"] {
        host.cli(&["network", "create", network])
            .assert_ok("network create");
    }
    host.cli(&["run", "--name", "x.app", "--network", "other"])
        .assert_fails_with("ends in \".app\"");
    host.cli(&[
        "run",
        "--name",
        "web",
        "--network",
        "other",
        "--alias",
        "db.APP",
    ])
    .assert_fails_with("\"db.APP\" ends in \".app\"");
    host.cli(&["run", "--name", "y.svc", "--network", "other"])
        .assert_ok("a dotted name whose suffix is no network's");
    host.cli(&["network", "create", "svc"])
        .assert_fails_with("\"y.svc\"");
    host.cli(&["run", "--name", "x", "--network", "app"])
        .assert_ok("run x");
    host.cli(&["run", "--name", "client", "--network", "app"])
        .assert_ok("run client");
    host.cli(&["network", "connect", "other", "client"])
        .assert_ok("connect client to other");
    assert_eq!(
        host.dig_short("client", &["x.app"]).len(),
        1,
        "x.app is x on app, and only that"
    );
    host.assert_clean_after_removal();
}
