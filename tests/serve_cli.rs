//! What a user sees when `netagent dns serve` is given something wrong:
//! one line on stderr naming the value, and a non-zero exit.

use crate::harness::fixture_table;
use crate::harness::serve::run_netagent;

fn serve_with(table: &std::path::Path, sandbox: &str) -> (bool, String) {
    run_netagent(&[
        "dns",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--as",
        sandbox,
        "--table",
        table.to_str().unwrap(),
    ])
}

#[test]
fn unknown_sandbox_lists_the_ones_there_are() {
    let (ok, stderr) = serve_with(&fixture_table(), "nobody");
    assert!(!ok);
    assert!(
        stderr.contains("no sandbox \"nobody\"")
            && stderr.contains("the table has client, ")
            && stderr.contains("more"),
        "{stderr}"
    );
}

#[test]
fn bad_table_file_names_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("table.json");
    let id = "a".repeat(64);
    std::fs::write(
        &path,
        format!(
            r#"{{"networks": [{{"name": "my net", "id": "{id}"}}],
                "endpoints": [{{"sandbox": "web", "id": "short", "network": "app", "aliases": ["a,b"], "ipv4": "10.0.0.2"}}]}}"#
        ),
    )
    .unwrap();
    let (ok, stderr) = serve_with(&path, "web");
    assert!(!ok);
    for expected in [
        "table.json has 4 errors",
        "networks[0].name: \"my net\" contains ' '",
        "endpoints[0].id: \"short\" is not 64 hexadecimal digits",
        "endpoints[0].aliases[0]: \"a,b\" contains ','",
        "endpoints[0].network: \"app\" is not in \"networks\"",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in {stderr}"
        );
    }
}

#[test]
fn json_syntax_and_unknown_fields_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("table.json");
    std::fs::write(&path, "{\"networks\": [], \"endpoint\": []}").unwrap();
    let (ok, stderr) = serve_with(&path, "web");
    assert!(!ok);
    assert!(
        stderr.contains("unknown field `endpoint`") && stderr.contains("line 1 column"),
        "{stderr}"
    );
    let (ok, stderr) = serve_with(&dir.path().join("missing.json"), "web");
    assert!(
        !ok && stderr.contains("missing.json") && stderr.contains("cannot read it"),
        "{stderr}"
    );
}

#[test]
fn bad_config_file_reports_all_its_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("netagent.toml");
    std::fs::write(&config, "[resolver]\nttl = -1\nedns_udp_size = 9000\n").unwrap();
    let table = fixture_table();
    let (ok, stderr) = run_netagent(&[
        "dns",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--as",
        "client",
        "--table",
        table.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("has 2 errors")
            && stderr.contains("resolver.ttl")
            && stderr.contains("resolver.edns_udp_size: 9000"),
        "{stderr}"
    );
}
