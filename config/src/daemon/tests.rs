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
