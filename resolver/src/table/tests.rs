//! The table's own tests, and fixtures other modules' tests share.

use super::*;

/// A network with a /16 for tests.
pub(crate) fn network(name: &str) -> Network {
    Network {
        name: name.into(),
        id: format!("{:0>64}", name.len()),
        subnets: vec![],
        internal: false,
        dns: vec![],
    }
}

/// An endpoint whose id is derived from its name.
pub(crate) fn endpoint(sandbox: &str, network: &str, ipv4: &str) -> Endpoint {
    let hex: String = sandbox.bytes().map(|b| format!("{b:02x}")).collect();
    Endpoint {
        sandbox: sandbox.into(),
        id: format!("{hex:a<64}")[..64].to_owned(),
        hostname: None,
        network: network.into(),
        aliases: vec![],
        ipv4: ipv4.parse().ok(),
        ipv6: None,
        services: vec![],
    }
}

/// A table with networks `a` and `b` and the sandbox `web` on both (its
/// endpoint on `b` is returned).
fn web_on_a_and_b() -> (EndpointTable, Endpoint) {
    let table = EndpointTable::new();
    table.add_network(network("a")).unwrap();
    table.add_network(network("b")).unwrap();
    let mut web = endpoint("web", "a", "10.0.0.2");
    table.connect(web.clone()).unwrap();
    web.network = "b".into();
    web.ipv4 = "10.1.0.2".parse().ok();
    table.connect(web.clone()).unwrap();
    (table, web)
}

#[test]
fn connect_publishes_views_of_every_sandbox_on_the_network() {
    let table = EndpointTable::new();
    table.add_network(network("app")).unwrap();
    let web = endpoint("web", "app", "10.0.0.2");
    let db = endpoint("db", "app", "10.0.0.3");
    table.connect(web.clone()).unwrap();
    let before = table.view(&web.id).unwrap();
    table.connect(db.clone()).unwrap();
    let after = table.view(&web.id).unwrap();
    assert!(
        !before.zones[0].contains("db"),
        "an old snapshot stays as it was"
    );
    assert!(after.zones[0].contains("db"));
    assert!(table.view(&db.id).unwrap().zones[0].contains("web"));
}

#[test]
fn disconnect_and_remove_drop_views() {
    let (table, web) = web_on_a_and_b();
    assert_eq!(table.view(&web.id).unwrap().zones.len(), 2);
    table.disconnect(&web.id, "A").unwrap();
    assert_eq!(table.view(&web.id).unwrap().zones.len(), 1);
    assert_eq!(table.remove_sandbox(&web.id).len(), 1);
    assert!(table.view(&web.id).is_none());
}

#[test]
fn refuses_bad_writes_naming_the_value() {
    let table = EndpointTable::new();
    table.add_network(network("app")).unwrap();
    let web = endpoint("web", "app", "10.0.0.2");
    table.connect(web.clone()).unwrap();
    let mut clash = endpoint("other", "app", "10.0.0.2");
    let err = table.connect(clash.clone()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "address 10.0.0.2 is taken on network \"app\" by sandbox \"web\""
    );
    clash.sandbox = "web".into();
    clash.ipv4 = None;
    assert!(matches!(
        table.connect(clash).unwrap_err(),
        TableError::NameTaken { .. }
    ));
    assert!(matches!(
        table.connect(web.clone()).unwrap_err(),
        TableError::AlreadyAttached { .. }
    ));
    let mut lost = endpoint("x", "nope", "");
    lost.network = "nope".into();
    assert_eq!(
        table.connect(lost).unwrap_err(),
        TableError::UnknownNetwork("nope".into())
    );
    assert!(matches!(
        table.remove_network("app").unwrap_err(),
        TableError::NetworkInUse { .. }
    ));
    assert!(matches!(
        table.add_network(network("APP")).unwrap_err(),
        TableError::DuplicateNetwork(_)
    ));
}

#[test]
fn rename_moves_every_name_and_reverse_target() {
    let table = EndpointTable::new();
    table.add_network(network("app")).unwrap();
    let web = endpoint("web", "app", "10.0.0.2");
    table.connect(web.clone()).unwrap();
    table.rename_sandbox(&web.id, "front").unwrap();
    let view = table.view(&web.id).unwrap();
    assert!(!view.zones[0].contains("web"));
    assert!(view.zones[0].contains("front.app"));
    let back = view.zones[0].reverse(&"10.0.0.2".parse().unwrap()).unwrap();
    assert_eq!(back.ptr_target.as_ref().unwrap().to_ascii(), "front.app.");
}

#[test]
fn a_new_network_reaches_existing_views() {
    let table = EndpointTable::new();
    table.add_network(network("app")).unwrap();
    let web = endpoint("web", "app", "10.0.0.2");
    table.connect(web.clone()).unwrap();
    table.add_network(network("secret")).unwrap();
    let view = table.view(&web.id).unwrap();
    assert!(view.is_network("secret") && !view.is_attached_to("secret"));
}

#[test]
fn a_peer_on_two_networks_sees_each_change_on_the_right_one() {
    let (table, web) = web_on_a_and_b();
    let db = endpoint("db", "b", "10.1.0.3");
    table.connect(db.clone()).unwrap();
    let view = table.view(&web.id).unwrap();
    let zone = |key: &str| view.zones.iter().find(|z| &*z.key == key).unwrap();
    assert!(zone("b").contains("db.b") && !zone("a").contains("db"));
    let cache = endpoint("cache", "a", "10.0.0.9");
    table.connect(cache.clone()).unwrap();
    let later = table.view(&web.id).unwrap();
    assert!(later.zones[0].contains("cache.a") && later.zones[1].contains("db.b"));
    assert!(later.serial != view.serial);
    table.remove_sandbox(&db.id);
    table.disconnect(&cache.id, "a").unwrap();
    let last = table.view(&web.id).unwrap();
    assert!(!last.zones[0].contains("cache") && !last.zones[1].contains("db"));
    assert!(last.zones[1].contains("web.b"));
    assert!(table.view(&cache.id).is_none());
}
