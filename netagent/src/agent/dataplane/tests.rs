use std::collections::BTreeMap;

use super::*;
use crate::agent::store::{EndpointRecord, NetworkRecord, SandboxRecord, SubnetRecord};
use crate::agent::way_out::way_out;

fn network(name: &str, subnet: &str, internal: bool) -> NetworkRecord {
    let subnet: ipnet::IpNet = subnet.parse().unwrap();
    NetworkRecord {
        name: name.into(),
        id: format!("{name}-id"),
        created: String::new(),
        bridge: format!("na-{name}"),
        subnets: vec![SubnetRecord {
            subnet,
            gateway: subnet.hosts().next().unwrap(),
            ip_range: None,
            aux: Default::default(),
        }],
        builtin: false,
        internal,
        ipv6: false,
        dns: vec![],
        labels: BTreeMap::new(),
        dns_only: false,
        options: BTreeMap::new(),
        user_subnets: true,
        overlay: None,
    }
}

fn endpoint(network: &str, ipv4: &str) -> EndpointRecord {
    EndpointRecord {
        network: network.into(),
        id: String::new(),
        ifname: "eth0".into(),
        host_veth: "veth0".into(),
        ipv4: Some(ipv4.parse().unwrap()),
        ipv6: None,
        mac: None,
        aliases: vec![],
        services: vec![],
    }
}

fn state() -> State {
    let mut state = State::default();
    for net in [
        network("zeta", "10.1.0.0/24", false),
        network("alpha", "10.2.0.0/24", true),
        network("beta", "10.3.0.0/24", false),
    ] {
        state.networks.insert(net.name.clone(), net);
    }
    let mut spec = SandboxSpec::named("web");
    spec.publish = vec![
        "8080:80".parse().unwrap(),
        "127.0.0.1:5353:53/udp".parse().unwrap(),
    ];
    let record = SandboxRecord {
        name: "web".into(),
        id: "web-id".into(),
        created: String::new(),
        spec: spec.clone(),
        netns: "/run/netns/web".into(),
        netns_inode: 1,
        owns_netns: true,
        shares_with: None,
        host_mode: false,
        endpoints: vec![
            endpoint("zeta", "10.1.0.2"),
            endpoint("alpha", "10.2.0.2"),
            endpoint("beta", "10.3.0.2"),
        ],
        dns_mode: config::DnsMode::Redirect,
        container: None,
        ports: spec.publish.clone(),
        command: None,
    };
    state.sandboxes.insert("web".into(), record);
    state
}

#[test]
fn the_way_out_is_the_first_non_internal_network_in_lexical_order() {
    let state = state();
    let web = &state.sandboxes["web"];
    assert_eq!(
        way_out(&state, web).unwrap().name,
        "beta",
        "alpha is internal"
    );
    let mut only_internal = web.clone();
    only_internal.endpoints.retain(|e| e.network == "alpha");
    assert!(way_out(&state, &only_internal).is_none());
}

#[test]
fn published_ports_go_to_the_way_outs_address() {
    let inputs = inputs(&state());
    assert_eq!(inputs.networks.len(), 3);
    let targets: Vec<String> = inputs
        .forwards
        .iter()
        .map(|f| {
            format!(
                "{:?} {} -> {}:{}",
                f.host_ip, f.host_port, f.target, f.target_port
            )
        })
        .collect();
    assert_eq!(
        targets,
        [
            "None 8080 -> 10.3.0.2:80",
            "Some(127.0.0.1) 5353 -> 10.3.0.2:53"
        ]
    );
}

#[test]
fn host_and_none_modes_publish_nothing_and_publish_all_uses_exposed_ports() {
    let mut spec = SandboxSpec::named("web");
    spec.publish = vec!["8080:80".parse().unwrap()];
    spec.network = NetworkMode::Host;
    assert!(wanted_ports(&spec, None).is_empty());
    spec.network = NetworkMode::Bridge;
    spec.publish_all = true;
    spec.expose = vec![
        "http=80/tcp".parse().unwrap(),
        "dns=53/udp".parse().unwrap(),
    ];
    let wanted = wanted_ports(&spec, Some("127.0.0.1".parse().unwrap()));
    let shown: Vec<String> = wanted.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["127.0.0.1:8080:80/tcp", "127.0.0.1::53/udp"]);
}
