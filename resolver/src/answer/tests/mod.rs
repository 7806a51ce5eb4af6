//! The answer matrix: each row is a question from the sandbox `client`
//! and the decision it must get (REFERENCE.md, issue #2); the sandboxes'
//! own domain in [`domain`].

mod apex;
mod domain;

use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::op::Query;
use hickory_proto::rr::{DNSClass, Name, RecordType};

use super::{answer, Decision, LocalRecord};
use crate::qname::LocalDomain;
use crate::table::tests::{endpoint, network};
use crate::table::{Endpoint, EndpointTable, SandboxView};

/// `client` is on `app` and `backend`; `secret` is on `other`.
fn fixture() -> (EndpointTable, Arc<SandboxView>) {
    let table = EndpointTable::new();
    for name in ["app", "backend", "other"] {
        table.add_network(network(name)).unwrap();
    }
    let mut client = endpoint("client", "app", "10.0.0.10");
    table.connect(client.clone()).unwrap();
    client.network = "backend".into();
    client.ipv4 = Some("10.1.0.10".parse().unwrap());
    table.connect(client.clone()).unwrap();

    let mut web = endpoint("web", "app", "10.0.0.2");
    web.aliases = vec!["www".into()];
    web.hostname = Some("web-host".into());
    web.services = vec!["http=80/tcp".parse().unwrap()];
    let mut web2 = endpoint("web2", "app", "10.0.0.3");
    web2.aliases = vec!["WWW".into()];
    web2.services = vec!["http=8080/tcp".parse().unwrap()];
    let mut v6only = endpoint("v6only", "app", "");
    v6only.ipv6 = Some("fd00::5".parse().unwrap());
    let mut dual_app = endpoint("dual", "app", "");
    dual_app.ipv6 = Some("fd00::6".parse().unwrap());
    let dual_backend = Endpoint {
        network: "backend".into(),
        ..endpoint("dual", "backend", "10.1.0.6")
    };
    let secret = endpoint("secret", "other", "10.2.0.2");
    let long = endpoint(&"l".repeat(70), "app", "10.0.0.70");
    for e in [web, web2, v6only, dual_app, dual_backend, secret, long] {
        table.connect(e).unwrap();
    }
    let view = table.view(&client.id).unwrap();
    (table, view)
}

/// What a row expects; record lists are compared as sets.
#[derive(Debug, Clone)]
enum Want {
    Addrs(&'static [&'static str]),
    Ptr(&'static str),
    Srv(&'static [(u16, &'static str)], &'static [&'static str]),
    NoData(u8),
    NxDomain(u8),
    Forward,
    ServFail,
    /// An apex's own record: SOA or NS.
    Apex(LocalRecord),
}

/// The default domain: every row of the other tests is asked with it on,
/// so it is seen to change nothing outside itself.
fn domain() -> LocalDomain {
    LocalDomain::new("netagent.internal")
}

fn check(view: &SandboxView, qname: &str, qtype: RecordType, want: Want) {
    check_in(view, &domain(), qname, qtype, want);
}

fn check_in(view: &SandboxView, domain: &LocalDomain, qname: &str, qtype: RecordType, want: Want) {
    let query = Query::query(Name::from_ascii(qname).unwrap(), qtype);
    let got = answer(view, &query, domain, &mut fastrand::Rng::with_seed(7));
    let ok = match (&want, &got) {
        (Want::Addrs(addrs), Decision::Records { answers, glue }) => {
            glue.is_empty()
                && same_set(
                    answers,
                    addrs
                        .iter()
                        .map(|a| LocalRecord::Address(a.parse().unwrap())),
                )
        }
        (Want::Ptr(target), Decision::Records { answers, .. }) => {
            answers == &[LocalRecord::Ptr(Name::from_ascii(target).unwrap())]
        }
        (Want::Srv(targets, glue_addrs), Decision::Records { answers, glue }) => {
            let srv = targets.iter().map(|(port, t)| LocalRecord::Srv {
                port: *port,
                target: Name::from_ascii(t).unwrap(),
            });
            let glue_got: Vec<IpAddr> = glue.iter().map(|g| g.address).collect();
            same_set(answers, srv)
                && same_set(&glue_got, glue_addrs.iter().map(|a| a.parse().unwrap()))
        }
        (Want::NoData(n), Decision::NoData { apex_labels }) => n == apex_labels,
        (Want::NxDomain(n), Decision::NxDomain { apex_labels }) => n == apex_labels,
        (Want::Apex(record), Decision::Records { answers, glue }) => {
            glue.is_empty() && answers == std::slice::from_ref(record)
        }
        (Want::Forward, Decision::Forward) | (Want::ServFail, Decision::ServFail) => true,
        _ => false,
    };
    assert!(ok, "{qname} {qtype}: wanted {want:?}, got {got:?}");
}

fn same_set<T: PartialEq + std::fmt::Debug>(got: &[T], want: impl Iterator<Item = T>) -> bool {
    let want: Vec<T> = want.collect();
    got.len() == want.len() && want.iter().all(|w| got.contains(w))
}

#[test]
fn container_names_in_any_form_and_case() {
    let (_table, view) = fixture();
    let short_id = crate::table::tests::endpoint("web", "app", "").short_id();
    for qname in [
        "web",
        "WEB.",
        "web.app",
        "Web.APP.",
        "web-host",
        "web-host.app",
        &short_id,
        &format!("{short_id}.app"),
    ] {
        check(&view, qname, RecordType::A, Want::Addrs(&["10.0.0.2"]));
    }
}

#[test]
fn shared_alias_gives_every_address_once() {
    let (_table, view) = fixture();
    check(
        &view,
        "www",
        RecordType::A,
        Want::Addrs(&["10.0.0.2", "10.0.0.3"]),
    );
    check(
        &view,
        "www.app",
        RecordType::A,
        Want::Addrs(&["10.0.0.2", "10.0.0.3"]),
    );
}

#[test]
fn shared_alias_order_changes_between_queries() {
    let (_table, view) = fixture();
    let query = Query::query(Name::from_ascii("www").unwrap(), RecordType::A);
    let mut rng = fastrand::Rng::with_seed(1);
    let firsts: std::collections::HashSet<String> = (0..64)
        .map(|_| match answer(&view, &query, &domain(), &mut rng) {
            Decision::Records { answers, .. } => format!("{:?}", answers[0]),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(firsts.len(), 2, "both addresses come first sometimes");
}

#[test]
fn known_name_without_that_type_is_nodata() {
    let (_table, view) = fixture();
    check(&view, "web", RecordType::AAAA, Want::NoData(1));
    for qtype in [
        RecordType::TXT,
        RecordType::MX,
        RecordType::CNAME,
        RecordType::HTTPS,
        RecordType::SRV,
    ] {
        check(&view, "web", qtype, Want::NoData(1));
    }
    // Below the network's apex: its SOA, not one owned by the name.
    check(&view, "web.app", RecordType::TXT, Want::NoData(1));
    check(&view, "v6only", RecordType::A, Want::NoData(1));
    check(&view, "v6only", RecordType::AAAA, Want::Addrs(&["fd00::5"]));
}

#[test]
fn families_merge_across_the_sandboxs_networks() {
    let (_table, view) = fixture();
    check(&view, "dual", RecordType::A, Want::Addrs(&["10.1.0.6"]));
    check(&view, "dual", RecordType::AAAA, Want::Addrs(&["fd00::6"]));
    check(&view, "dual.app", RecordType::A, Want::NoData(1));
    check(
        &view,
        "dual.backend",
        RecordType::A,
        Want::Addrs(&["10.1.0.6"]),
    );
}

#[test]
fn other_networks_are_invisible_and_never_forwarded_by_suffix() {
    let (_table, view) = fixture();
    check(&view, "secret", RecordType::A, Want::Forward);
    check(&view, "secret.other", RecordType::A, Want::NxDomain(1));
    check(&view, "SECRET.Other.", RecordType::AAAA, Want::NxDomain(1));
    check(&view, "nobody.app", RecordType::A, Want::NxDomain(1));
    check(
        &view,
        "a.b.nobody.backend",
        RecordType::A,
        Want::NxDomain(1),
    );
    check(&view, "app", RecordType::A, Want::NoData(1));
    check(&view, "other", RecordType::A, Want::NxDomain(1));
}

/// Only suffixes of no more labels than the longest network name are
/// looked up (issue #16); a network name of two labels still owns its
/// names, however deep.
#[test]
fn a_network_named_with_a_dot_still_owns_its_suffix() {
    let table = EndpointTable::new();
    for name in ["app", "corp.lan"] {
        table.add_network(network(name)).unwrap();
    }
    let client = endpoint("client", "app", "10.0.0.10");
    table.connect(client.clone()).unwrap();
    let view = table.view(&client.id).unwrap();
    assert_eq!(view.network_max_labels(), 2);
    check(&view, "corp.lan", RecordType::A, Want::NxDomain(2));
    check(&view, "x.corp.lan", RecordType::A, Want::NxDomain(2));
    check(
        &view,
        "a.b.c.Corp.LAN.",
        RecordType::AAAA,
        Want::NxDomain(2),
    );
    check(&view, "a.b.app", RecordType::A, Want::NxDomain(1));
    check(&view, "lan", RecordType::A, Want::Forward);
    check(&view, "corp.lan.example", RecordType::A, Want::Forward);
}

#[test]
fn everything_else_is_forwarded() {
    let (_table, view) = fixture();
    check(&view, "example.com", RecordType::A, Want::Forward);
    check(&view, "nosuchcontainer", RecordType::A, Want::Forward);
    let odd = Query::query(
        Name::from_labels([b"we*b".as_slice()]).unwrap(),
        RecordType::A,
    );
    assert_eq!(
        answer(&view, &odd, &domain(), &mut fastrand::Rng::new()),
        Decision::Forward
    );
    let chaos = Query::query(Name::from_ascii("web").unwrap(), RecordType::TXT)
        .set_query_class(DNSClass::CH)
        .clone();
    assert_eq!(
        answer(&view, &chaos, &domain(), &mut fastrand::Rng::new()),
        Decision::Refused,
        "a local name in another class: answered here, not forwarded"
    );
    let version = Query::query(Name::from_ascii("version.bind").unwrap(), RecordType::TXT)
        .set_query_class(DNSClass::CH)
        .clone();
    assert_eq!(
        answer(&view, &version, &domain(), &mut fastrand::Rng::new()),
        Decision::Forward
    );
}

#[test]
fn reverse_lookups_of_the_sandboxs_networks() {
    let (_table, view) = fixture();
    check(
        &view,
        "2.0.0.10.in-addr.arpa",
        RecordType::PTR,
        Want::Ptr("web.app."),
    );
    check(
        &view,
        "2.0.0.10.IN-ADDR.ARPA.",
        RecordType::PTR,
        Want::Ptr("web.app."),
    );
    check(
        &view,
        "6.0.1.10.in-addr.arpa",
        RecordType::PTR,
        Want::Ptr("dual.backend."),
    );
    let v6 = "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.IP6.arpa.";
    check(&view, v6, RecordType::PTR, Want::Ptr("v6only.app."));
    check(
        &view,
        "2.0.2.10.in-addr.arpa",
        RecordType::PTR,
        Want::Forward,
    );
    check(
        &view,
        "9.9.9.9.in-addr.arpa",
        RecordType::PTR,
        Want::Forward,
    );
    check(&view, "0.0.10.in-addr.arpa", RecordType::PTR, Want::Forward);
}

#[test]
fn reverse_target_too_long_to_encode_is_servfail() {
    let (_table, view) = fixture();
    check(
        &view,
        "70.0.0.10.in-addr.arpa",
        RecordType::PTR,
        Want::ServFail,
    );
}

#[test]
fn services_from_exposed_ports() {
    let (_table, view) = fixture();
    check(
        &view,
        "_http._tcp.web",
        RecordType::SRV,
        Want::Srv(&[(80, "web.app.")], &["10.0.0.2"]),
    );
    check(
        &view,
        "_HTTP._TCP.web.app",
        RecordType::SRV,
        Want::Srv(&[(80, "web.app.")], &["10.0.0.2"]),
    );
    check(
        &view,
        "_http._tcp.www",
        RecordType::SRV,
        Want::Srv(
            &[(80, "web.app."), (8080, "web2.app.")],
            &["10.0.0.2", "10.0.0.3"],
        ),
    );
    check(&view, "_http._tcp.web", RecordType::A, Want::NoData(1));
    check(&view, "_ftp._tcp.web", RecordType::SRV, Want::NxDomain(1));
    check(
        &view,
        "_http._udp.web.app",
        RecordType::SRV,
        Want::NxDomain(1),
    );
    check(&view, "_http._tcp.secret", RecordType::SRV, Want::Forward);
}
