use super::*;

fn net(bridge: &str, subnets: &[&str]) -> BridgeNet {
    BridgeNet {
        bridge: bridge.into(),
        subnets: subnets.iter().map(|s| s.parse().unwrap()).collect(),
        internal: false,
        masquerade: true,
    }
}

/// The plan as `nft list ruleset` would show each chain's rules.
fn text(plan: &Plan) -> String {
    let mut out = String::new();
    for (chain, rules) in &plan.chains {
        out.push_str(&format!("{chain}:\n"));
        for rule in rules {
            out.push_str(&format!("  {rule}\n"));
        }
    }
    out
}

#[test]
fn a_network_with_a_published_port() {
    let inputs = Inputs {
        networks: vec![net("na-app", &["10.1.0.0/24", "fd00:1::/64"])],
        forwards: vec![Forward {
            protocol: 6,
            host_ip: None,
            host_port: 8080,
            target: "10.1.0.2".parse().unwrap(),
            target_port: 80,
        }],
    };
    let expected = "\
prerouting:
  fib daddr type local jump published
output:
  fib daddr type local jump published
published:
  meta nfproto ipv4 meta l4proto tcp th dport 8080 dnat ip to 10.1.0.2:80 comment \"netagent tcp *:8080 -> 10.1.0.2:80\"
postrouting:
  meta nfproto ipv4 ip saddr 10.1.0.0/24 oifname != \"na-app\" masquerade
  meta nfproto ipv4 ip saddr 10.1.0.0/24 oifname \"na-app\" ct status dnat masquerade
  meta nfproto ipv6 ip6 saddr fd00:1::/64 oifname != \"na-app\" masquerade
  meta nfproto ipv6 ip6 saddr fd00:1::/64 oifname \"na-app\" ct status dnat masquerade
  meta nfproto ipv4 ip saddr 127.0.0.0/8 oifname \"na-app\" masquerade
forward:
  ct status dnat accept
  iifname \"na-app\" oifname != \"na-app\" jump isolation
isolation:
  oifname \"na-app\" drop
localnet:
  iifname \"na-app\" meta nfproto ipv4 ip daddr 127.0.0.0/8 drop
";
    assert_eq!(text(&plan(&inputs)), expected);
}

#[test]
fn options_internal_networks_and_addresses_change_the_rules() {
    let mut quiet = net("na-quiet", &["10.2.0.0/24"]);
    quiet.masquerade = false;
    let mut internal = net("na-int", &["10.3.0.0/24"]);
    internal.internal = true;
    let inputs = Inputs {
        networks: vec![quiet, internal],
        forwards: vec![Forward {
            protocol: 17,
            host_ip: Some("127.0.0.1".parse().unwrap()),
            host_port: 5353,
            target: "10.2.0.2".parse().unwrap(),
            target_port: 53,
        }],
    };
    let text = text(&plan(&inputs));
    assert!(
        text.contains("meta nfproto ipv4 ip daddr 127.0.0.1/32 meta l4proto udp th dport 5353 dnat ip to 10.2.0.2:53 comment \"netagent udp 127.0.0.1:5353 -> 10.2.0.2:53\""),
        "{text}"
    );
    assert!(
        !text.contains("ip saddr 10.2.0.0/24 oifname != \"na-quiet\" masquerade"),
        "masquerade off: {text}"
    );
    assert!(
        text.contains("ip saddr 10.2.0.0/24 oifname \"na-quiet\" ct status dnat masquerade"),
        "hairpin stays: {text}"
    );
    assert!(
        !text.contains("10.3.0.0/24"),
        "internal: no masquerade at all: {text}"
    );
    assert!(
        text.contains("iifname \"na-int\" oifname != \"na-int\" drop"),
        "{text}"
    );
    assert!(
        text.contains("oifname \"na-int\" iifname != \"na-int\" drop"),
        "{text}"
    );
    let forward = text.split("forward:\n").nth(1).unwrap();
    let internal_drop = forward.find("na-int").unwrap();
    let published = forward.find("ct status dnat accept").unwrap();
    assert!(
        internal_drop < published,
        "internal first, even for published ports: {forward}"
    );
}

#[test]
fn nothing_to_do_without_networks() {
    let plan = plan(&Inputs::default());
    let rules: usize = plan.chains.iter().map(|(_, rules)| rules.len()).sum();
    assert_eq!(rules, 2, "only the two jumps to an empty chain");
}
