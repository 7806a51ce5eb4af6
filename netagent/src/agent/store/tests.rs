use super::*;

#[test]
fn saves_and_loads_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.load().unwrap(), State::default());
    let mut state = State::default();
    state.networks.insert(
        "app".into(),
        NetworkRecord {
            name: "app".into(),
            id: new_id(),
            created: now_rfc3339(),
            bridge: "na-0123".into(),
            subnets: vec![SubnetRecord {
                subnet: "10.1.0.0/24".parse().unwrap(),
                gateway: "10.1.0.1".parse().unwrap(),
                ip_range: None,
                aux: vec![],
            }],
            builtin: false,
            internal: false,
            ipv6: false,
            dns: vec![],
            labels: BTreeMap::new(),
            dns_only: false,
            options: BTreeMap::new(),
            user_subnets: true,
            overlay: None,
        },
    );
    store.save(&state).unwrap();
    let reopened = Store::open(dir.path()).unwrap();
    assert_eq!(reopened.load().unwrap(), state);
    assert!(dir.path().join("networks/app.json").exists());
    assert!(!dir.path().join("networks/app.json.tmp").exists());
    state.networks.clear();
    reopened.save(&state).unwrap();
    assert!(
        !dir.path().join("networks/app.json").exists(),
        "a removed record's file goes"
    );
}

#[test]
fn dates_are_rfc3339() {
    let now = now_rfc3339();
    assert_eq!(now.len(), 20, "{now}");
    assert!(humantime::parse_rfc3339(&now).is_ok(), "{now}");
    assert_eq!(new_id().len(), 64);
}
