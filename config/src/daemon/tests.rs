//! The daemon file: defaults, every section, and every error at once.

use super::*;

#[test]
fn empty_file_gives_the_defaults() {
    assert_eq!(DaemonConfig::parse("").unwrap(), DaemonConfig::default());
}

#[test]
fn reads_every_section() {
    let config = DaemonConfig::parse(
        "[resolver]\nttl = 30\nedns_udp_size = 4096\n[forwarding]\nfallback_delay_ms = 100\n\
         [paths]\nnetns_dir = \"/tmp/ns\"\n[log]\nformat = \"json\"\nlevel = \"debug\"\n",
    )
    .unwrap();
    assert_eq!(config.resolver.ttl, 30);
    assert_eq!(config.resolver.edns_udp_size, 4096);
    assert_eq!(config.forwarding.fallback_delay_ms, 100);
    assert_eq!(config.paths.netns_dir, PathBuf::from("/tmp/ns"));
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(config.log.level, "debug");
}

#[test]
fn reports_every_error_of_the_file_at_once() {
    let text = "[resolver]\nttl = \"ten\"\nedns_udp_size = 100\ntypo = 1\n\
                [paths]\nsocket = \"relative.sock\"\n[log]\nformat = \"xml\"\n[extra]\n";
    let errors = DaemonConfig::parse(text).unwrap_err();
    let text = errors.to_string();
    for expected in [
        "resolver.ttl: \"ten\" is not valid",
        "resolver.typo: unknown key",
        "paths.socket: relative.sock is not an absolute path",
        "log.format: \"xml\" is not \"text\" or \"json\"",
        "extra: unknown section",
        "resolver.edns_udp_size: 100 is outside 512..=4096",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert_eq!(errors.errors.len(), 6, "{text}");
}

#[test]
fn range_errors_name_key_and_value() {
    let errors = DaemonConfig::parse(
        "[resolver]\nedns_udp_size = 100\n[forwarding]\ntotal_timeout_ms = 9000\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        errors.contains("resolver.edns_udp_size: 100 is outside 512..=4096"),
        "{errors}"
    );
    assert!(
        errors.contains("forwarding.total_timeout_ms: 9000 is outside 100..=5000"),
        "{errors}"
    );
}

#[test]
fn syntax_error_is_reported() {
    let errors = DaemonConfig::parse("[resolver\n").unwrap_err().to_string();
    assert!(errors.contains("syntax"), "{errors}");
}

#[test]
fn domain_defaults_to_netagent_internal() {
    let config = DaemonConfig::default();
    assert_eq!(config.resolver.domain.as_deref(), Some("netagent.internal"));
    assert_eq!(DEFAULT_DOMAIN, "netagent.internal");
}

#[test]
fn domain_is_read_in_lower_case_without_its_trailing_dot() {
    for (given, want) in [
        ("cluster.lan", Some("cluster.lan")),
        ("Sandboxes.Example.", Some("sandboxes.example")),
        ("internal", Some("internal")),
        ("", None),
    ] {
        let config = DaemonConfig::parse(&format!("[resolver]\ndomain = {given:?}\n")).unwrap();
        assert_eq!(config.resolver.domain.as_deref(), want, "{given:?}");
    }
}

#[test]
fn a_bad_domain_is_refused_naming_the_value() {
    for (given, expected) in [
        ("my domain", "\"my domain\" contains ' '"),
        ("a..b", "\"a..b\" has an empty label"),
        (".", "\".\" is the root"),
        ("in-addr.arpa", "\"in-addr.arpa\" is under .arpa"),
        (
            "sandboxes.LOCALHOST.",
            "\"sandboxes.LOCALHOST.\" is under .localhost",
        ),
    ] {
        let errors = DaemonConfig::parse(&format!("[resolver]\ndomain = {given:?}\n"))
            .unwrap_err()
            .to_string();
        assert!(
            errors.contains(&format!("resolver.domain: {expected}")),
            "{given:?}: {errors}"
        );
        assert_eq!(errors.lines().count(), 2, "one error: {errors}");
    }
    let long = format!("{}.internal", "x".repeat(64));
    let errors = DaemonConfig::parse(&format!("[resolver]\ndomain = {long:?}\n"))
        .unwrap_err()
        .to_string();
    assert!(
        errors.contains(&format!(
            "resolver.domain: {long:?} has a label of 64 bytes"
        )),
        "{errors}"
    );
    let errors = DaemonConfig::parse("[resolver]\ndomain = 7\n")
        .unwrap_err()
        .to_string();
    assert!(
        errors.contains("resolver.domain: 7 is not valid"),
        "{errors}"
    );
}

#[test]
fn tcp_bounds_are_read_and_checked() {
    let config = DaemonConfig::parse(
        "[resolver]\nmax_tcp_connections_total = 10\ntcp_write_timeout_ms = 250\nmax_tcp_unanswered = 4\n",
    )
    .unwrap();
    assert_eq!(config.resolver.max_tcp_connections_total, 10);
    assert_eq!(config.resolver.tcp_write_timeout_ms, 250);
    assert_eq!(config.resolver.max_tcp_unanswered, 4);
    let errors = DaemonConfig::parse(
        "[resolver]\nmax_tcp_connections_total = 0\ntcp_write_timeout_ms = 1\nmax_tcp_unanswered = 0\n",
    )
    .unwrap_err();
    assert_eq!(errors.errors.len(), 3, "{errors}");
}
