//! Loopback tier: `netagent dns serve` on 127.0.0.1 answering real dig and
//! kdig, one row of the answer matrix per assertion.

use std::io::Write;

use crate::harness::clients::{dig, kdig};
use crate::harness::fixture_table;
use crate::harness::serve::ServeProcess;

fn serve() -> ServeProcess {
    ServeProcess::start(&fixture_table(), "client", None)
}

#[test]
fn names_aliases_hostnames_short_ids_and_network_suffix_resolve_in_any_case() {
    let server = serve();
    for name in [
        "web",
        "WEB",
        "web.app",
        "Web.APP.",
        "web-host",
        "abcdef012345",
        "ABCDEF012345.app",
    ] {
        let reply = dig(&server, &[name, "A"]);
        assert_eq!(reply.status, "NOERROR", "{name}: {}", reply.text);
        assert_eq!(reply.answer_data(), ["10.89.0.2"], "{name}: {}", reply.text);
        let owner = reply.answer[0].split(' ').next().unwrap();
        assert_eq!(
            owner.trim_end_matches('.'),
            name.trim_end_matches('.'),
            "the answer echoes the query's spelling"
        );
    }
    let v6 = dig(&server, &["web", "AAAA"]);
    assert_eq!(v6.answer_data(), ["fd00:89::2"], "{}", v6.text);
}

#[test]
fn flags_ttl_and_edns_of_a_local_answer() {
    let server = serve();
    let reply = dig(&server, &["web"]);
    for flag in ["qr", "aa", "rd", "ra"] {
        assert!(reply.flag(flag), "{flag} missing: {}", reply.text);
    }
    assert!(!reply.flag("tc"));
    assert_eq!(
        reply.answer[0].split(' ').nth(1),
        Some("0"),
        "default TTL is 0: {}",
        reply.text
    );
    assert!(reply.has_opt, "OPT echoed to an EDNS query: {}", reply.text);
    assert!(reply.text.contains("udp: 1232"), "{}", reply.text);
    let plain = dig(&server, &["web", "+norecurse", "+noedns"]);
    assert!(
        !plain.flag("rd") && plain.flag("aa"),
        "RD copied: {}",
        plain.text
    );
    assert!(!plain.has_opt, "no OPT without EDNS: {}", plain.text);
    let badvers = dig(&server, &["web", "+edns=1", "+noednsnegotiation"]);
    assert_eq!(badvers.status, "BADVERS", "{}", badvers.text);
}

#[test]
fn ttl_comes_from_the_config_file() {
    let mut config = tempfile::NamedTempFile::new().unwrap();
    writeln!(config, "[resolver]\nttl = 30").unwrap();
    let server = ServeProcess::start(&fixture_table(), "client", Some(config.path()));
    let reply = dig(&server, &["web"]);
    assert_eq!(
        reply.answer[0].split(' ').nth(1),
        Some("30"),
        "{}",
        reply.text
    );
    let nodata = dig(&server, &["web", "TXT"]);
    assert!(
        nodata.authority[0].contains(" 30 IN SOA "),
        "{}",
        nodata.text
    );
}

#[test]
fn shared_alias_returns_every_address_once() {
    let server = serve();
    let reply = dig(&server, &["www.app"]);
    assert_eq!(
        reply.answer_data(),
        ["10.89.0.2", "10.89.0.3"],
        "{}",
        reply.text
    );
}

#[test]
fn known_name_of_another_type_is_nodata_with_soa() {
    let server = serve();
    for (name, qtype) in [
        ("web2", "AAAA"),
        ("v6only", "A"),
        ("web", "TXT"),
        ("web", "MX"),
        ("web.app", "SOA"),
        ("web", "CNAME"),
        ("web", "HTTPS"),
    ] {
        let reply = dig(&server, &[name, qtype]);
        assert_eq!(reply.status, "NOERROR", "{name} {qtype}: {}", reply.text);
        assert!(reply.answer.is_empty(), "{name} {qtype}: {}", reply.text);
        assert_eq!(reply.authority.len(), 1, "{name} {qtype}: {}", reply.text);
        assert!(reply.authority[0].contains(" IN SOA "), "{}", reply.text);
    }
}

#[test]
fn other_networks_get_nxdomain_and_unknown_names_are_forwarded() {
    let server = serve();
    let hidden = dig(&server, &["secret.other"]);
    assert_eq!(hidden.status, "NXDOMAIN", "{}", hidden.text);
    assert!(
        hidden.flag("aa") && hidden.authority[0].contains(" IN SOA "),
        "{}",
        hidden.text
    );
    // `dns serve` has no upstream: a forwarded name comes back SERVFAIL,
    // which tells it apart from the local NXDOMAIN above.
    for name in ["secret", "example.com"] {
        let forwarded = dig(&server, &[name]);
        assert_eq!(forwarded.status, "SERVFAIL", "{name}: {}", forwarded.text);
        assert!(!forwarded.flag("aa"));
    }
}

#[test]
fn reverse_lookups_ipv4_ipv6_and_unencodable_target() {
    let server = serve();
    let v4 = dig(&server, &["-x", "10.89.0.2"]);
    assert_eq!(v4.answer_data(), ["web.app."], "{}", v4.text);
    let upper = dig(&server, &["2.0.89.10.IN-ADDR.ARPA", "PTR"]);
    assert_eq!(upper.answer_data(), ["web.app."], "{}", upper.text);
    let v6 = dig(&server, &["-x", "fd00:89::6"]);
    assert_eq!(v6.answer_data(), ["v6only.app."], "{}", v6.text);
    let long = dig(&server, &["-x", "10.89.0.70"]);
    assert_eq!(long.status, "SERVFAIL", "{}", long.text);
    let still_up = dig(&server, &["web"]);
    assert_eq!(
        still_up.status, "NOERROR",
        "the server survived: {}",
        still_up.text
    );
}

#[test]
fn services_answer_srv_with_addresses_in_additional() {
    let server = serve();
    for name in ["_http._tcp.web", "_HTTP._TCP.web.app"] {
        let reply = dig(&server, &[name, "SRV"]);
        assert_eq!(reply.answer.len(), 1, "{}", reply.text);
        assert!(
            reply.answer[0].ends_with("IN SRV 0 0 80 web.app."),
            "{}",
            reply.text
        );
        let glue: Vec<&str> = reply
            .additional
            .iter()
            .filter_map(|l| l.rsplit(' ').next())
            .collect();
        assert_eq!(glue, ["10.89.0.2", "fd00:89::2"], "{}", reply.text);
    }
    let missing = dig(&server, &["_ftp._tcp.web", "SRV"]);
    assert_eq!(missing.status, "NXDOMAIN", "{}", missing.text);
}

#[test]
fn oversized_answer_sets_tc_over_udp_and_comes_whole_over_tcp() {
    let server = serve();
    let udp = dig(&server, &["many", "+noedns", "+ignore"]);
    assert!(udp.flag("tc"), "{}", udp.text);
    // As many whole records as fit in 512 bytes, for stub resolvers that
    // ignore TC (musl, issue #14): 12 + 10 + 16 per record.
    assert_eq!(udp.answer.len(), (512 - 22) / 16, "{}", udp.text);
    let retried = dig(&server, &["many", "+noedns"]);
    assert_eq!(
        retried.answer.len(),
        40,
        "dig retries over TCP: {}",
        retried.text
    );
    let tcp = dig(&server, &["many", "+tcp"]);
    assert_eq!(tcp.answer.len(), 40, "{}", tcp.text);
    let edns = dig(&server, &["many", "+bufsize=1232"]);
    assert!(
        !edns.flag("tc") && edns.answer.len() == 40,
        "fits the EDNS size: {}",
        edns.text
    );
}

#[test]
fn message_rules_notimp_and_formerr() {
    let server = serve();
    let status = dig(&server, &["web", "+opcode=status"]);
    assert_eq!(status.status, "NOTIMP", "{}", status.text);
    let no_question = dig(&server, &["+header-only", "web"]);
    assert_eq!(no_question.status, "FORMERR", "{}", no_question.text);
}

#[test]
fn kdig_reuses_one_tcp_connection_for_several_queries() {
    let server = serve();
    let out = kdig(
        &server,
        &[
            "+tcp",
            "+keepopen",
            "web",
            "A",
            "www",
            "A",
            "_http._tcp.web",
            "SRV",
        ],
    );
    assert_eq!(out.matches("status: NOERROR").count(), 3, "{out}");
    assert!(
        out.contains("10.89.0.2") && out.contains("10.89.0.3") && out.contains("SRV"),
        "{out}"
    );
    assert_eq!(out.matches("(TCP)").count(), 3, "{out}");
}

#[test]
fn kdig_over_udp_agrees() {
    let server = serve();
    let out = kdig(&server, &["web-host.APP", "A"]);
    assert!(
        out.contains("status: NOERROR") && out.contains("10.89.0.2"),
        "{out}"
    );
    assert!(out.contains("Flags: qr aa rd ra"), "{out}");
}

#[test]
fn the_sandboxes_domain_comes_from_the_config_file() {
    let server = serve();
    for name in ["web.netagent.internal", "Web.App.NetAgent.Internal."] {
        let reply = dig(&server, &[name]);
        assert_eq!(reply.answer_data(), ["10.89.0.2"], "{name}: {}", reply.text);
    }
    for (name, status) in [
        ("nosuch.netagent.internal", "NXDOMAIN"),
        ("secret.netagent.internal", "NXDOMAIN"),
        ("netagent.internal", "NOERROR"),
    ] {
        let reply = dig(&server, &[name]);
        assert_eq!(reply.status, status, "{name}: {}", reply.text);
        assert!(
            reply.flag("aa") && reply.answer.is_empty(),
            "{}",
            reply.text
        );
        assert!(
            reply.authority[0].starts_with("netagent.internal. 0 IN SOA "),
            "the domain's apex owns the SOA: {}",
            reply.text
        );
    }
    let mut config = tempfile::NamedTempFile::new().unwrap();
    writeln!(config, "[resolver]\ndomain = \"lab.test\"").unwrap();
    let server = ServeProcess::start(&fixture_table(), "client", Some(config.path()));
    let own = dig(&server, &["web.lab.test"]);
    assert_eq!(own.answer_data(), ["10.89.0.2"], "{}", own.text);
    let not_ours = dig(&server, &["web.netagent.internal"]);
    assert_eq!(not_ours.status, "SERVFAIL", "forwarded: {}", not_ours.text);
}
