//! The host firewall as a pure function: from the bridges and published
//! ports ([`Inputs`]) to the rules of each chain ([`Plan`]), with their
//! `nft` text for golden tests and for anyone reading `nft list ruleset`.
//! No kernel here; [`super::encode`] turns a plan into netlink.
//!
//! The chains, and why each rule is there (REFERENCE.md, "Bridge data
//! plane", has Docker's iptables rules they stand for):
//! - `prerouting`, `output` (nat, dstnat priority): traffic to one of the
//!   host's own addresses (`fib daddr type local`, which covers 127.0.0.1
//!   from the host itself) goes through `published`.
//! - `published`: one DNAT per published port.
//! - `postrouting` (nat, srcnat priority): masquerade of each network's
//!   subnets leaving by another interface (Docker's `-s SUBNET ! -o BRIDGE
//!   -j MASQUERADE`); hairpin (a sandbox reaching a published port of its
//!   own network through the host: without it the peer answers the
//!   sandbox directly and the reply is dropped); 127/8 to a bridge (the
//!   host's `localhost:PORT`, routed there by `route_localnet`).
//! - `forward` (filter): internal networks go nowhere; connections to
//!   published ports pass; the rest from one network to another jumps to
//!   `isolation`, which drops it (Docker's DOCKER-ISOLATION chains).
//! - `localnet` (filter, raw priority): 127/8 arriving on a bridge is
//!   dropped, so `route_localnet` lets in only what the host sent
//!   (CVE-2020-8558 was this hole in kube-proxy).
//!
//! ICC is not here: frames between two ports of one bridge never reach the
//! IP forward hook without br_netfilter, and the bridge family's `meta
//! ibrname` is missing from kernels built without nft_meta_bridge (this
//! one). An ICC-off network's veths are made *isolated* bridge ports
//! instead (`bridge link set dev VETH isolated on`, Linux 4.18): isolated
//! ports exchange no frames with each other, yet reach the bridge itself,
//! so the gateway, the way out and published ports (through the host)
//! still work. No rule, no per-packet cost.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// One bridge network, as the firewall needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeNet {
    /// The Linux bridge.
    pub bridge: String,
    /// Its subnets.
    pub subnets: Vec<IpNet>,
    /// No way out.
    pub internal: bool,
    /// Masquerade what leaves the host.
    pub masquerade: bool,
}

/// One published port: traffic to `host_ip` (every host address when
/// `None`) on `host_port` goes to `target`:`target_port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Forward {
    /// IANA protocol number (6 tcp, 17 udp, 132 sctp).
    pub protocol: u8,
    /// The host address it is published on.
    pub host_ip: Option<IpAddr>,
    /// The host port.
    pub host_port: u16,
    /// The sandbox's address.
    pub target: IpAddr,
    /// The sandbox's port.
    pub target_port: u16,
}

/// Everything the firewall is made from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inputs {
    /// Every bridge network.
    pub networks: Vec<BridgeNet>,
    /// Every published port.
    pub forwards: Vec<Forward>,
}

/// A condition of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// The packet is IPv4 (true) or IPv6 (false): `meta nfproto`.
    Ipv4(bool),
    /// `iifname NAME`, or `!=` when negated.
    InputInterface(String, bool),
    /// `oifname NAME`, or `!=` when negated.
    OutputInterface(String, bool),
    /// Source address in the prefix.
    Source(IpNet),
    /// Destination address in the prefix.
    Destination(IpNet),
    /// `meta l4proto`.
    Protocol(u8),
    /// `th dport`.
    DestinationPort(u16),
    /// `fib daddr type local`: addressed to the host itself.
    ToLocalAddress,
    /// `ct status dnat`: a connection whose destination was translated.
    Translated,
}

/// What a rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `accept`
    Accept,
    /// `drop`
    Drop,
    /// `masquerade`
    Masquerade,
    /// `dnat to ADDRESS:PORT`
    Dnat(IpAddr, u16),
    /// `jump CHAIN`
    Jump(&'static str),
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// All must hold.
    pub matches: Vec<Match>,
    /// Then this.
    pub action: Action,
    /// Its comment (NFTA_RULE_USERDATA): a published port's rule is
    /// found by it to be deleted alone.
    pub comment: Option<String>,
}

/// The chains of the agent's inet table, in the order they are made:
/// (name, base chain hook and type if any).
pub const PUBLISHED: &str = "published";
/// The chain cross-network traffic jumps to.
pub const ISOLATION: &str = "isolation";

/// The rules of each chain, by chain name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Chain name -> rules.
    pub chains: Vec<(&'static str, Vec<Rule>)>,
}

fn rule(matches: Vec<Match>, action: Action) -> Rule {
    Rule {
        matches,
        action,
        comment: None,
    }
}

impl Forward {
    /// The comment of its rule, which names it uniquely (one host port is
    /// published once): `netagent tcp *:8080 -> 10.1.0.2:80`.
    pub fn comment(&self) -> String {
        let host = self
            .host_ip
            .map_or_else(|| "*".to_owned(), |ip| ip.to_string());
        format!(
            "netagent {} {host}:{} -> {}",
            protocol_name(self.protocol),
            self.host_port,
            std::net::SocketAddr::new(self.target, self.target_port)
        )
    }
}

/// The `published` chain's rule for one forward.
pub fn published_rule(forward: &Forward) -> Rule {
    Rule {
        comment: Some(forward.comment()),
        ..dnat(forward)
    }
}

/// The plan for `inputs`.
pub fn plan(inputs: &Inputs) -> Plan {
    let to_host = vec![rule(vec![Match::ToLocalAddress], Action::Jump(PUBLISHED))];
    Plan {
        chains: vec![
            ("prerouting", to_host.clone()),
            ("output", to_host),
            (
                PUBLISHED,
                inputs.forwards.iter().map(published_rule).collect(),
            ),
            ("postrouting", postrouting(&inputs.networks)),
            ("forward", forward(&inputs.networks)),
            (ISOLATION, isolation(&inputs.networks)),
            ("localnet", localnet(&inputs.networks)),
        ],
    }
}

fn dnat(forward: &Forward) -> Rule {
    let mut matches = vec![Match::Ipv4(forward.target.is_ipv4())];
    if let Some(host_ip) = forward.host_ip {
        matches.push(Match::Destination(IpNet::from(host_ip)));
    }
    matches.push(Match::Protocol(forward.protocol));
    matches.push(Match::DestinationPort(forward.host_port));
    rule(matches, Action::Dnat(forward.target, forward.target_port))
}

fn postrouting(networks: &[BridgeNet]) -> Vec<Rule> {
    let mut rules = Vec::new();
    for net in networks.iter().filter(|n| !n.internal) {
        let bridge = |negated| Match::OutputInterface(net.bridge.clone(), negated);
        for subnet in &net.subnets {
            let family = Match::Ipv4(subnet.addr().is_ipv4());
            if net.masquerade {
                rules.push(rule(
                    vec![family.clone(), Match::Source(*subnet), bridge(true)],
                    Action::Masquerade,
                ));
            }
            rules.push(rule(
                vec![
                    family,
                    Match::Source(*subnet),
                    bridge(false),
                    Match::Translated,
                ],
                Action::Masquerade,
            ));
        }
        rules.push(rule(
            vec![Match::Ipv4(true), Match::Source(loopback()), bridge(false)],
            Action::Masquerade,
        ));
    }
    rules
}

fn forward(networks: &[BridgeNet]) -> Vec<Rule> {
    let mut rules = Vec::new();
    for net in networks.iter().filter(|n| n.internal) {
        let name = || net.bridge.clone();
        rules.push(rule(
            vec![
                Match::InputInterface(name(), false),
                Match::OutputInterface(name(), true),
            ],
            Action::Drop,
        ));
        rules.push(rule(
            vec![
                Match::OutputInterface(name(), false),
                Match::InputInterface(name(), true),
            ],
            Action::Drop,
        ));
    }
    if !networks.is_empty() {
        rules.push(rule(vec![Match::Translated], Action::Accept));
    }
    for net in networks {
        rules.push(rule(
            vec![
                Match::InputInterface(net.bridge.clone(), false),
                Match::OutputInterface(net.bridge.clone(), true),
            ],
            Action::Jump(ISOLATION),
        ));
    }
    rules
}

fn isolation(networks: &[BridgeNet]) -> Vec<Rule> {
    networks
        .iter()
        .map(|n| {
            rule(
                vec![Match::OutputInterface(n.bridge.clone(), false)],
                Action::Drop,
            )
        })
        .collect()
}

fn localnet(networks: &[BridgeNet]) -> Vec<Rule> {
    networks
        .iter()
        .filter(|n| !n.internal)
        .map(|n| {
            rule(
                vec![
                    Match::InputInterface(n.bridge.clone(), false),
                    Match::Ipv4(true),
                    Match::Destination(loopback()),
                ],
                Action::Drop,
            )
        })
        .collect()
}

fn loopback() -> IpNet {
    "127.0.0.0/8".parse().expect("a prefix")
}

impl fmt::Display for Match {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let not = |negated: &bool| if *negated { "!= " } else { "" };
        let ip = |net: &IpNet| if net.addr().is_ipv4() { "ip" } else { "ip6" };
        match self {
            Match::Ipv4(true) => write!(f, "meta nfproto ipv4"),
            Match::Ipv4(false) => write!(f, "meta nfproto ipv6"),
            Match::InputInterface(name, negated) => write!(f, "iifname {}\"{name}\"", not(negated)),
            Match::OutputInterface(name, negated) => {
                write!(f, "oifname {}\"{name}\"", not(negated))
            }
            Match::Source(net) => write!(f, "{} saddr {}", ip(net), net.trunc()),
            Match::Destination(net) => write!(f, "{} daddr {}", ip(net), net.trunc()),
            Match::Protocol(number) => write!(f, "meta l4proto {}", protocol_name(*number)),
            Match::DestinationPort(port) => write!(f, "th dport {port}"),
            Match::ToLocalAddress => write!(f, "fib daddr type local"),
            Match::Translated => write!(f, "ct status dnat"),
        }
    }
}

fn protocol_name(number: u8) -> String {
    match number {
        6 => "tcp".into(),
        17 => "udp".into(),
        132 => "sctp".into(),
        other => other.to_string(),
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for m in &self.matches {
            write!(f, "{m} ")?;
        }
        match &self.action {
            Action::Accept => write!(f, "accept"),
            Action::Drop => write!(f, "drop"),
            Action::Masquerade => write!(f, "masquerade"),
            Action::Dnat(IpAddr::V4(to), port) => write!(f, "dnat ip to {to}:{port}"),
            Action::Dnat(IpAddr::V6(to), port) => write!(f, "dnat ip6 to [{to}]:{port}"),
            Action::Jump(chain) => write!(f, "jump {chain}"),
        }?;
        match &self.comment {
            Some(comment) => write!(f, " comment \"{comment}\""),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
