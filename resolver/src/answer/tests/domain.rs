//! The sandboxes' own domain (`netagent.internal` by default): answered
//! like the short names under it, never forwarded, SOA and NS at its apex.

use super::*;

/// The fixture plus a network `internal` (named like the domain's last
/// label) that `client` is on, with a container `netagent` (named like its
/// first label) on it.
fn fixture_with_lookalikes() -> (EndpointTable, Arc<SandboxView>) {
    let (table, view) = fixture();
    table.add_network(network("internal")).unwrap();
    let client = Endpoint {
        id: view.sandbox_id.to_string(),
        ..endpoint("client", "internal", "10.3.0.10")
    };
    table.connect(client).unwrap();
    table
        .connect(endpoint("netagent", "internal", "10.3.0.80"))
        .unwrap();
    let view = table.view(&view.sandbox_id).unwrap();
    (table, view)
}

#[test]
fn the_sandboxes_domain_is_answered_like_the_short_name() {
    use RecordType::{A, AAAA, MX, NS, PTR, SOA, SRV, TXT};
    let (_table, view) = fixture_with_lookalikes();
    let rows: &[(&str, RecordType, Want)] = &[
        // Short names, as before.
        ("web", A, Want::Addrs(&["10.0.0.2"])),
        ("web.app", A, Want::Addrs(&["10.0.0.2"])),
        // NAME.DOMAIN and NAME.NETWORK.DOMAIN, any case, every kind of name.
        ("web.netagent.internal", A, Want::Addrs(&["10.0.0.2"])),
        ("Web.NetAgent.INTERNAL.", A, Want::Addrs(&["10.0.0.2"])),
        ("web.app.netagent.internal", A, Want::Addrs(&["10.0.0.2"])),
        ("WEB.App.Netagent.Internal.", A, Want::Addrs(&["10.0.0.2"])),
        ("web-host.netagent.internal", A, Want::Addrs(&["10.0.0.2"])),
        (
            "www.netagent.internal",
            A,
            Want::Addrs(&["10.0.0.2", "10.0.0.3"]),
        ),
        ("dual.netagent.internal", A, Want::Addrs(&["10.1.0.6"])),
        ("dual.netagent.internal", AAAA, Want::Addrs(&["fd00::6"])),
        ("v6only.netagent.internal", AAAA, Want::Addrs(&["fd00::5"])),
        // NODATA rules; the domain's apex (2 labels) owns the SOA.
        ("web.netagent.internal", AAAA, Want::NoData(2)),
        ("web.netagent.internal", TXT, Want::NoData(2)),
        ("web.netagent.internal", MX, Want::NoData(2)),
        ("dual.app.netagent.internal", A, Want::NoData(2)),
        ("app.netagent.internal", A, Want::NoData(2)),
        // SRV under the domain; targets stay SANDBOX.NETWORK.
        (
            "_http._tcp.web.netagent.internal",
            SRV,
            Want::Srv(&[(80, "web.app.")], &["10.0.0.2"]),
        ),
        (
            "_HTTP._tcp.www.app.NETAGENT.internal",
            SRV,
            Want::Srv(
                &[(80, "web.app."), (8080, "web2.app.")],
                &["10.0.0.2", "10.0.0.3"],
            ),
        ),
        ("_http._tcp.web.netagent.internal", A, Want::NoData(2)),
        ("_ftp._tcp.web.netagent.internal", SRV, Want::NxDomain(2)),
        (
            "_http._tcp.nosuch.netagent.internal",
            SRV,
            Want::NxDomain(2),
        ),
        // Unknown under the domain: NXDOMAIN here, never forwarded, even
        // for a name that a short question would forward.
        ("nosuch.netagent.internal", A, Want::NxDomain(2)),
        ("NoSuch.NetAgent.Internal.", AAAA, Want::NxDomain(2)),
        ("secret.netagent.internal", A, Want::NxDomain(2)),
        ("secret.other.netagent.internal", A, Want::NxDomain(2)),
        ("nobody.app.netagent.internal", A, Want::NxDomain(2)),
        ("example.com.netagent.internal", A, Want::NxDomain(2)),
        ("a.b.c.netagent.internal", TXT, Want::NxDomain(2)),
        // The apex: its SOA and NS, NODATA with its SOA for other types.
        ("netagent.internal", A, Want::NoData(2)),
        ("NetAgent.Internal.", AAAA, Want::NoData(2)),
        ("netagent.internal", SOA, Want::Apex(LocalRecord::Soa)),
        ("netagent.internal", NS, Want::Apex(LocalRecord::Ns)),
        // Below it, NODATA with the apex's SOA, networks' names included.
        ("web.netagent.internal", SOA, Want::NoData(2)),
        ("app.netagent.internal", NS, Want::NoData(2)),
        // A container named like the domain's first label, on a network
        // named like its last: the container keeps its names, but the
        // domain's apex is matched first.
        ("netagent", A, Want::Addrs(&["10.3.0.80"])),
        ("netagent.netagent.internal", A, Want::Addrs(&["10.3.0.80"])),
        (
            "netagent.internal.netagent.internal",
            A,
            Want::Addrs(&["10.3.0.80"]),
        ),
        ("internal", A, Want::NoData(1)),
        ("web.internal", A, Want::NxDomain(1)),
        // Outside the domain, as before; reverse lookups unchanged.
        ("secret", A, Want::Forward),
        ("example.com", A, Want::Forward),
        ("web.internal.example", A, Want::Forward),
        ("2.0.0.10.in-addr.arpa", PTR, Want::Ptr("web.app.")),
        (
            "80.0.3.10.in-addr.arpa",
            PTR,
            Want::Ptr("netagent.internal."),
        ),
    ];
    for (qname, qtype, want) in rows {
        check(&view, qname, *qtype, want.clone());
    }
}

#[test]
fn with_the_domain_turned_off_names_under_it_are_forwarded() {
    use RecordType::{A, AAAA};
    let off = LocalDomain::default();
    let (_table, view) = fixture();
    let rows: &[(&str, RecordType, Want)] = &[
        ("web", A, Want::Addrs(&["10.0.0.2"])),
        ("web.app", A, Want::Addrs(&["10.0.0.2"])),
        ("web.netagent.internal", A, Want::Forward),
        ("nosuch.netagent.internal", AAAA, Want::Forward),
        ("netagent.internal", A, Want::Forward),
    ];
    for (qname, qtype, want) in rows {
        check_in(&view, &off, qname, *qtype, want.clone());
    }
    // With no domain, `netagent.internal` is NAME.NETWORK again, and
    // `web.netagent.internal` is under the network `internal`.
    let (_table, view) = fixture_with_lookalikes();
    let rows: &[(&str, RecordType, Want)] = &[
        ("netagent.internal", A, Want::Addrs(&["10.3.0.80"])),
        ("netagent", A, Want::Addrs(&["10.3.0.80"])),
        ("web.netagent.internal", A, Want::NxDomain(1)),
    ];
    for (qname, qtype, want) in rows {
        check_in(&view, &off, qname, *qtype, want.clone());
    }
}

#[test]
fn nothing_under_the_domain_is_forwarded_whatever_its_bytes_or_class() {
    let (_table, view) = fixture();
    let odd = Query::query(
        Name::from_labels([b"we*b".as_slice(), b"NetAgent", b"internal"]).unwrap(),
        RecordType::A,
    );
    let chaos = Query::query(
        Name::from_ascii("web.netagent.internal").unwrap(),
        RecordType::TXT,
    )
    .set_query_class(DNSClass::CH)
    .clone();
    // Another class about a name under the domain: REFUSED here, the
    // name exists in IN only.
    let wants = [Decision::NxDomain { apex_labels: 2 }, Decision::Refused];
    for (query, want) in [odd, chaos].into_iter().zip(wants) {
        assert_eq!(
            answer(&view, &query, &domain(), &mut fastrand::Rng::new()),
            want,
            "{query}"
        );
        assert_eq!(
            answer(
                &view,
                &query,
                &LocalDomain::default(),
                &mut fastrand::Rng::new()
            ),
            Decision::Forward,
            "{query} with the domain off"
        );
    }
}

#[test]
fn another_domain_is_honoured_the_same_way() {
    let (_table, view) = fixture();
    let one_label = LocalDomain::new("Sandbox.");
    check_in(
        &view,
        &one_label,
        "web.sandbox",
        RecordType::A,
        Want::Addrs(&["10.0.0.2"]),
    );
    check_in(
        &view,
        &one_label,
        "web.app.SANDBOX",
        RecordType::A,
        Want::Addrs(&["10.0.0.2"]),
    );
    check_in(
        &view,
        &one_label,
        "nosuch.sandbox",
        RecordType::A,
        Want::NxDomain(1),
    );
    check_in(&view, &one_label, "sandbox", RecordType::A, Want::NoData(1));
    check_in(
        &view,
        &one_label,
        "web.netagent.internal",
        RecordType::A,
        Want::Forward,
    );
}
