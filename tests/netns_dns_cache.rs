//! Namespace tier: `netagent dns cache` and `dns cache flush` against the
//! real daemon (issue #16); what the cache keeps is tested in
//! `loopback_upstream::cache` and the resolver's unit tests.

use crate::harness::host::{OutputExt, TestHost};

#[test]
fn dns_cache_shows_size_and_hit_ratio_and_flushes() {
    let host = TestHost::new();
    host.cli(&["network", "create", "app"])
        .assert_ok("network create");
    let shown = host.cli(&["dns", "cache"]);
    let text = shown.assert_ok("dns cache").stdout_text();
    assert!(
        text.contains("HIT RATIO") && text.contains("0/10000"),
        "on by default, 10,000 entries: {text}"
    );
    let network = host.cli(&["dns", "cache", "--network", "app"]);
    assert!(network
        .assert_ok("dns cache --network")
        .stdout_text()
        .contains("HITS"));
    host.cli(&["dns", "cache", "--network", "nope"])
        .assert_fails_with("nope");
    let flushed = host.cli(&["dns", "cache", "flush"]);
    assert_eq!(
        flushed.assert_ok("dns cache flush").stdout_text().trim(),
        "flushed 0 entries"
    );
    host.assert_clean_after_removal();
}
