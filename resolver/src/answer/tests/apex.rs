//! Issue #14's protocol corners: zone apexes (SOA and NS at the apex, the
//! apex's SOA below it), type ANY, class ANY and CH, and `localhost`.

use super::*;

fn ask_class(view: &SandboxView, name: &str, qtype: RecordType, class: DNSClass) -> Decision {
    let query = Query::query(Name::from_ascii(name).unwrap(), qtype)
        .set_query_class(class)
        .clone();
    answer(view, &query, &domain(), &mut fastrand::Rng::with_seed(5))
}

#[test]
fn soa_and_ns_are_answered_at_each_apex_and_nodata_below_carries_the_apexs_soa() {
    let (_table, view) = fixture();
    // A network's name is its zone's apex.
    check(&view, "app", RecordType::SOA, Want::Apex(LocalRecord::Soa));
    check(&view, "App.", RecordType::NS, Want::Apex(LocalRecord::Ns));
    check(&view, "app", RecordType::TXT, Want::NoData(1));
    // Below it: NODATA, with the SOA of `app.`, one label.
    check(&view, "web.app", RecordType::SOA, Want::NoData(1));
    check(&view, "web.app", RecordType::NS, Want::NoData(1));
    check(&view, "nobody.app", RecordType::SOA, Want::NxDomain(1));
    // A bare name is its own apex.
    check(&view, "web", RecordType::SOA, Want::Apex(LocalRecord::Soa));
    check(&view, "web", RecordType::NS, Want::Apex(LocalRecord::Ns));
    // A network the sandbox is not on stays unknown.
    check(&view, "other", RecordType::SOA, Want::NxDomain(1));
}

#[test]
fn type_any_for_a_container_gives_its_addresses() {
    let (_table, view) = fixture();
    check(&view, "web", RecordType::ANY, Want::Addrs(&["10.0.0.2"]));
    check(
        &view,
        "dual",
        RecordType::ANY,
        Want::Addrs(&["10.1.0.6", "fd00::6"]),
    );
    check(
        &view,
        "v6only.app",
        RecordType::ANY,
        Want::Addrs(&["fd00::5"]),
    );
}

#[test]
fn class_any_finds_the_container_and_other_classes_are_refused_here() {
    let (_table, view) = fixture();
    let found = ask_class(&view, "web", RecordType::A, DNSClass::ANY);
    assert!(
        matches!(&found, Decision::Records { answers, .. } if answers.len() == 1),
        "{found:?}"
    );
    for class in [DNSClass::CH, DNSClass::HS, DNSClass::NONE] {
        for name in ["web", "web.app", "nobody.app", "localhost"] {
            let got = ask_class(&view, name, RecordType::A, class);
            assert_eq!(got, Decision::Refused, "{name} {class:?}");
        }
    }
    let elsewhere = ask_class(&view, "example.com", RecordType::A, DNSClass::CH);
    assert_eq!(elsewhere, Decision::Forward);
}

#[test]
fn localhost_and_names_under_it_are_loopback_and_never_forwarded() {
    let (_table, view) = fixture();
    check(
        &view,
        "localhost",
        RecordType::A,
        Want::Addrs(&["127.0.0.1"]),
    );
    check(&view, "LocalHost.", RecordType::AAAA, Want::Addrs(&["::1"]));
    check(
        &view,
        "web.localhost",
        RecordType::A,
        Want::Addrs(&["127.0.0.1"]),
    );
    check(
        &view,
        "a.b.localhost",
        RecordType::ANY,
        Want::Addrs(&["127.0.0.1", "::1"]),
    );
    check(
        &view,
        "localhost",
        RecordType::SOA,
        Want::Apex(LocalRecord::Soa),
    );
    check(&view, "x.localhost", RecordType::MX, Want::NoData(1));
    check(&view, "localhost.example.com", RecordType::A, Want::Forward);
}
