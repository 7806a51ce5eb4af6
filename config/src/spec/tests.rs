use super::*;

#[test]
fn network_spec_reports_every_problem() {
    let spec = NetworkSpec {
        name: "my net".into(),
        subnets: vec![
            "10.1.2.3/24".parse().unwrap(),
            "10.9.0.0/31".parse().unwrap(),
        ],
        gateways: vec!["192.168.1.1".parse().unwrap()],
        ..NetworkSpec::default()
    };
    let text = spec.check().unwrap_err().to_string();
    for expected in [
        "name: \"my net\" contains ' '",
        "10.1.2.3/24 has host bits set",
        "10.9.0.0/31 leaves no room",
        "192.168.1.1 is in none",
    ] {
        assert!(text.contains(expected), "{expected:?} missing in {text}");
    }
    let builtin = NetworkSpec {
        name: "host".into(),
        ..NetworkSpec::default()
    };
    assert!(builtin
        .check()
        .unwrap_err()
        .to_string()
        .contains("built-in"));
}

#[test]
fn an_ipv6_subnet_needs_ipv6_on() {
    let mut spec = NetworkSpec {
        name: "dual".into(),
        subnets: vec![
            "10.1.0.0/24".parse().unwrap(),
            "fd00:1::/64".parse().unwrap(),
        ],
        ..NetworkSpec::default()
    };
    let text = spec.check().unwrap_err().to_string();
    assert!(
        text.contains("subnets[1]: fd00:1::/64 is an IPv6 subnet but IPv6 is off"),
        "{text}"
    );
    spec.ipv6 = true;
    assert_eq!(spec.check(), Ok(()));
}

#[test]
fn unusable_upstreams_are_refused() {
    let spec = NetworkSpec {
        name: "app".into(),
        dns: vec!["0.0.0.0".parse().unwrap(), "[::]:53".parse().unwrap()],
        ..NetworkSpec::default()
    };
    let text = spec.check().unwrap_err().to_string();
    assert!(
        text.contains("0.0.0.0 is the unspecified address"),
        "{text}"
    );
    assert!(text.contains(":: is the unspecified address"), "{text}");
    let mut sandbox = SandboxSpec::named("web");
    sandbox.dns = vec!["127.0.0.11".parse().unwrap()];
    let text = sandbox.check().unwrap_err().to_string();
    assert!(text.contains("embedded resolver itself"), "{text}");
}

#[test]
fn network_modes_in_dockers_spelling() {
    assert_eq!(NetworkMode::parse("bridge"), NetworkMode::Bridge);
    assert_eq!(
        NetworkMode::parse("container:web"),
        NetworkMode::Container("web".into())
    );
    assert_eq!(
        NetworkMode::parse("app"),
        NetworkMode::Network("app".into())
    );
}

#[test]
fn sandbox_spec_reports_every_problem() {
    let mut spec = SandboxSpec::named("web 1");
    spec.aliases = vec!["ok".into(), "a,b".into()];
    spec.dns_options = vec!["ndots 2".into()];
    spec.network = NetworkMode::Host;
    let text = spec.check().unwrap_err().to_string();
    for expected in [
        "name: \"web 1\"",
        "aliases[1]: \"a,b\"",
        "dns_options[0]",
        "--alias, --ip, --ip6 and --mac-address need",
    ] {
        assert!(text.contains(expected), "{expected:?} missing in {text}");
    }
}
