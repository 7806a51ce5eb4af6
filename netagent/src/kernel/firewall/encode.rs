//! A [`Plan`] as one nf_tables transaction: the table and its chains made
//! if missing, every chain flushed and filled again. Base
//! chains are never deleted on an update: deleting one unregisters its
//! hook and makes the commit wait for an RCU grace period (about 10 ms
//! here, see the redirect), while flushing rules does not, so an attach
//! with `-p` stays well under a millisecond of netlink.
//!
//! Expressions the crate has no type for (`fib`, `ct`, `masq`, `nat`) go
//! as named expressions with their attributes, as `linux/netfilter/
//! nf_tables.h` numbers them; their registers and numbers are big-endian
//! 32-bit values (`nft_parse_register`, `nla_get_be32`), while what `fib`
//! and `ct status` load into a register is a host-order `u32`.

use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_core::{DefaultNla, NLM_F_APPEND, NLM_F_CREATE};
use netlink_packet_netfilter::nftables::{
    Bitwise, ChainAttribute, ChainMessage, Cmp, DataAttribute, ExpressionAttribute, Expressions,
    Hook, HookNumber, Immediate, InetHookNumber, ListAttribute, Meta, MetaKey, NfTablesMessage,
    Operator, Register, RuleAttribute, RuleMessage, TableAttribute, TableMessage, Verdict,
    VerdictAttribute,
};
use netlink_packet_netfilter::NetfilterProtoFamily;

use super::plan::{Action, Match, Plan, Rule, PUBLISHED};
use crate::kernel::nft::{equals, load, Batch};

/// The agent's table in the host namespace (inet: IPv4 and IPv6).
pub const TABLE: &str = "netagent";

/// A base chain's hook, priority and type.
struct Base(InetHookNumber, i32, &'static str);

/// The table's chains in the order they are made (regular chains
/// have no [`Base`]); the plan lists the same names.
const CHAINS: [(&str, Option<Base>); 7] = [
    ("published", None),
    ("isolation", None),
    (
        "prerouting",
        Some(Base(InetHookNumber::PreRouting, -100, "nat")),
    ),
    ("output", Some(Base(InetHookNumber::LocalOut, -100, "nat"))),
    (
        "postrouting",
        Some(Base(InetHookNumber::PostRouting, 100, "nat")),
    ),
    ("forward", Some(Base(InetHookNumber::Forward, 0, "filter"))),
    (
        "localnet",
        Some(Base(InetHookNumber::PreRouting, -300, "filter")),
    ),
];

/// `nf_tables.h` numbers the crate does not name.
const NF_DROP: u32 = 0;
const NF_ACCEPT: u32 = 1;
const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
const NFTA_FIB_DREG: u16 = 1;
const NFTA_FIB_RESULT: u16 = 2;
const NFTA_FIB_FLAGS: u16 = 3;
const NFT_FIB_RESULT_ADDRTYPE: u32 = 3;
const NFTA_FIB_F_DADDR: u32 = 1 << 1;
/// `RTN_LOCAL` (linux/rtnetlink.h): an address of this host.
const RTN_LOCAL: u32 = 2;
const NFTA_CT_DREG: u16 = 1;
const NFTA_CT_KEY: u16 = 2;
const NFT_CT_STATUS: u32 = 2;
/// `IPS_DST_NAT` (linux/netfilter/nf_conntrack_common.h).
const IPS_DST_NAT: u32 = 1 << 5;
const NFTA_NAT_TYPE: u16 = 1;
const NFTA_NAT_FAMILY: u16 = 2;
const NFTA_NAT_REG_ADDR_MIN: u16 = 3;
const NFTA_NAT_REG_PROTO_MIN: u16 = 5;
const NFT_NAT_DNAT: u32 = 1;
const NFT_REG_1: u32 = 1;
const NFT_REG_2: u32 = 2;
/// IFNAMSIZ: `meta iifname` loads the whole zero-padded name.
const IFNAMSIZ: usize = 16;

/// The transaction that makes the kernel hold `plan`.
pub fn program(plan: &Plan) -> Batch {
    let mut batch = Batch::new(NetfilterProtoFamily::Inet).acknowledge_last_only();
    batch.add(table(NfTablesMessage::NewTable), NLM_F_CREATE);
    for (name, base) in &CHAINS {
        batch.add(chain(name, base.as_ref()), NLM_F_CREATE);
    }
    for (name, _) in &CHAINS {
        batch.add(flush(name), 0);
    }
    for (name, rules) in &plan.chains {
        for rule in rules {
            batch.add(new_rule(name, rule), NLM_F_CREATE | NLM_F_APPEND);
        }
    }
    batch
}

/// The transaction that appends `rules` to the `published` chain: a
/// published port added, with no rule deleted (deleting rules makes the
/// commit wait, about 10 ms here).
pub fn add_published(rules: &[Rule]) -> Batch {
    let mut batch = Batch::new(NetfilterProtoFamily::Inet).acknowledge_last_only();
    for rule in rules {
        batch.add(new_rule(PUBLISHED, rule), NLM_F_CREATE | NLM_F_APPEND);
    }
    batch
}

/// The transaction that deletes the `published` chain's rules `handles`.
pub fn delete_published(handles: &[u64]) -> Batch {
    let mut batch = Batch::new(NetfilterProtoFamily::Inet).acknowledge_last_only();
    for handle in handles {
        batch.add(
            NfTablesMessage::DeleteRule(RuleMessage {
                attributes: vec![
                    RuleAttribute::Table(TABLE.into()),
                    RuleAttribute::Chain(PUBLISHED.into()),
                    RuleAttribute::Handle(*handle),
                ],
            }),
            0,
        );
    }
    batch
}

/// A dumped rule's handle and comment, if it has both.
pub fn handle_and_comment(message: &NfTablesMessage) -> Option<(u64, String)> {
    let NfTablesMessage::NewRule(rule) = message else {
        return None;
    };
    let handle = rule.attributes.iter().find_map(|a| match a {
        RuleAttribute::Handle(handle) => Some(*handle),
        _ => None,
    })?;
    let comment = rule.attributes.iter().find_map(|a| match a {
        RuleAttribute::UserData(bytes) => comment_of(bytes),
        _ => None,
    })?;
    Some((handle, comment))
}

/// The transaction that removes the table, present or not.
pub fn remove() -> Batch {
    let mut batch = Batch::new(NetfilterProtoFamily::Inet);
    batch.add(table(NfTablesMessage::NewTable), NLM_F_CREATE);
    batch.add(table(NfTablesMessage::DeleteTable), 0);
    batch
}

/// How many rules the plan puts in each chain: what a healthy table
/// holds, for the check after a ruleset change.
pub fn rule_counts(plan: &Plan) -> impl Iterator<Item = (&'static str, usize)> + '_ {
    plan.chains.iter().map(|(name, rules)| (*name, rules.len()))
}

/// A table message naming the agent's table.
pub fn table(kind: fn(TableMessage) -> NfTablesMessage) -> NfTablesMessage {
    kind(TableMessage {
        attributes: vec![TableAttribute::Name(TABLE.into())],
    })
}

fn chain(name: &str, base: Option<&Base>) -> NfTablesMessage {
    let mut attributes = vec![
        ChainAttribute::Table(TABLE.into()),
        ChainAttribute::Name(name.into()),
    ];
    if let Some(Base(hook, priority, kind)) = base {
        attributes.push(ChainAttribute::Hook(vec![
            Hook::Number(HookNumber::Inet(*hook)),
            Hook::Priority(*priority as u32),
        ]));
        attributes.push(ChainAttribute::Policy(NF_ACCEPT));
        attributes.push(ChainAttribute::Type((*kind).into()));
    }
    NfTablesMessage::NewChain(ChainMessage { attributes })
}

/// NFT_MSG_DELRULE naming a chain and no rule: flushes the chain.
fn flush(chain: &str) -> NfTablesMessage {
    NfTablesMessage::DeleteRule(RuleMessage {
        attributes: vec![
            RuleAttribute::Table(TABLE.into()),
            RuleAttribute::Chain(chain.into()),
        ],
    })
}

/// A request for the rules of one chain (a dump).
pub fn rules_of(chain: &str) -> NfTablesMessage {
    NfTablesMessage::GetRule(RuleMessage {
        attributes: vec![
            RuleAttribute::Table(TABLE.into()),
            RuleAttribute::Chain(chain.into()),
        ],
    })
}

fn new_rule(chain: &str, rule: &Rule) -> NfTablesMessage {
    let mut expressions = Vec::new();
    for condition in &rule.matches {
        expressions.extend(matches(condition));
    }
    expressions.extend(action(&rule.action));
    let mut attributes = vec![
        RuleAttribute::Table(TABLE.into()),
        RuleAttribute::Chain(chain.into()),
        RuleAttribute::Expressions(expressions),
    ];
    if let Some(comment) = &rule.comment {
        attributes.push(RuleAttribute::UserData(comment_bytes(comment)));
    }
    NfTablesMessage::NewRule(RuleMessage { attributes })
}

/// NFTNL_UDATA_RULE_COMMENT: libnftnl's type-length-value in a rule's
/// user data, so `nft list` shows it as `comment "..."`.
const UDATA_RULE_COMMENT: u8 = 0;
/// nft's limit on a comment, with its NUL.
const MAX_COMMENT: usize = 128;

fn comment_bytes(comment: &str) -> Vec<u8> {
    let mut value: Vec<u8> = comment.bytes().take(MAX_COMMENT - 1).collect();
    value.push(0);
    let mut bytes = vec![UDATA_RULE_COMMENT, value.len() as u8];
    bytes.extend(value);
    bytes
}

/// The comment in a rule's user data (the first comment TLV).
fn comment_of(bytes: &[u8]) -> Option<String> {
    let mut rest = bytes;
    while let [kind, len, tail @ ..] = rest {
        let (value, after) = tail.split_at_checked(usize::from(*len))?;
        if *kind == UDATA_RULE_COMMENT {
            let text = value.strip_suffix(&[0]).unwrap_or(value);
            return String::from_utf8(text.to_vec()).ok();
        }
        rest = after;
    }
    None
}

type Expression = ListAttribute<ExpressionAttribute>;

fn matches(condition: &Match) -> Vec<Expression> {
    match condition {
        Match::Ipv4(v4) => vec![
            meta(MetaKey::Nfproto),
            equals(&[if *v4 { NFPROTO_IPV4 } else { NFPROTO_IPV6 }]),
        ],
        Match::InputInterface(name, negated) => interface(MetaKey::Iifname, name, *negated),
        Match::OutputInterface(name, negated) => interface(MetaKey::Oifname, name, *negated),
        Match::Source(net) => prefix(net, if net.addr().is_ipv4() { 12 } else { 8 }),
        Match::Destination(net) => prefix(net, if net.addr().is_ipv4() { 16 } else { 24 }),
        Match::Protocol(number) => vec![meta(MetaKey::L4Proto), equals(&[*number])],
        Match::DestinationPort(port) => vec![
            load(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2),
            equals(&port.to_be_bytes()),
        ],
        Match::ToLocalAddress => vec![
            named(
                "fib",
                &[
                    (NFTA_FIB_DREG, NFT_REG_1),
                    (NFTA_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE),
                    (NFTA_FIB_FLAGS, NFTA_FIB_F_DADDR),
                ],
            ),
            equals(&RTN_LOCAL.to_ne_bytes()),
        ],
        Match::Translated => vec![
            named(
                "ct",
                &[(NFTA_CT_DREG, NFT_REG_1), (NFTA_CT_KEY, NFT_CT_STATUS)],
            ),
            mask(&IPS_DST_NAT.to_ne_bytes()),
            compare(Operator::NotEqual, &[0; 4]),
        ],
    }
}

fn action(action: &Action) -> Vec<Expression> {
    match action {
        Action::Accept => vec![verdict(Verdict::Other(NF_ACCEPT), None)],
        Action::Drop => vec![verdict(Verdict::Other(NF_DROP), None)],
        Action::Jump(chain) => vec![verdict(Verdict::Jump, Some(chain))],
        Action::Masquerade => vec![named("masq", &[])],
        Action::Dnat(to, port) => {
            let (address, family) = match to {
                IpAddr::V4(v4) => (v4.octets().to_vec(), NFPROTO_IPV4),
                IpAddr::V6(v6) => (v6.octets().to_vec(), NFPROTO_IPV6),
            };
            vec![
                immediate(Register::Reg1, address),
                immediate(Register::Reg2, port.to_be_bytes().to_vec()),
                named(
                    "nat",
                    &[
                        (NFTA_NAT_TYPE, NFT_NAT_DNAT),
                        (NFTA_NAT_FAMILY, u32::from(family)),
                        (NFTA_NAT_REG_ADDR_MIN, NFT_REG_1),
                        (NFTA_NAT_REG_PROTO_MIN, NFT_REG_2),
                    ],
                ),
            ]
        }
    }
}

fn meta(key: MetaKey) -> Expression {
    Expressions::Meta(vec![
        Meta::DestinationRegister(Register::Reg1),
        Meta::Key(key),
    ])
    .into()
}

fn interface(key: MetaKey, name: &str, negated: bool) -> Vec<Expression> {
    let mut padded = name.as_bytes().to_vec();
    padded.resize(IFNAMSIZ, 0);
    let operator = if negated {
        Operator::NotEqual
    } else {
        Operator::Equal
    };
    vec![meta(key), compare(operator, &padded)]
}

/// The address at `offset` of the network header is in `net`.
fn prefix(net: &IpNet, offset: u32) -> Vec<Expression> {
    let (network, netmask) = match net.trunc() {
        IpNet::V4(v4) => (
            v4.network().octets().to_vec(),
            v4.netmask().octets().to_vec(),
        ),
        IpNet::V6(v6) => (
            v6.network().octets().to_vec(),
            v6.netmask().octets().to_vec(),
        ),
    };
    let mut expressions = vec![load(
        NFT_PAYLOAD_NETWORK_HEADER,
        offset,
        network.len() as u32,
    )];
    if net.prefix_len() < net.max_prefix_len() {
        expressions.push(mask(&netmask));
    }
    expressions.push(equals(&network));
    expressions
}

/// Register 1 &= `mask` (`nft`'s bitwise with a zero xor).
fn mask(mask: &[u8]) -> Expression {
    Expressions::Bitwise(vec![
        Bitwise::SourceRegister(Register::Reg1),
        Bitwise::DestinationRegister(Register::Reg1),
        Bitwise::Length(mask.len() as u32),
        Bitwise::Mask(DataAttribute::Value(mask.to_vec())),
        Bitwise::Xor(DataAttribute::Value(vec![0; mask.len()])),
    ])
    .into()
}

fn compare(operator: Operator, value: &[u8]) -> Expression {
    Expressions::Cmp(vec![
        Cmp::SourceRegister(Register::Reg1),
        Cmp::Op(operator),
        Cmp::Data(DataAttribute::Value(value.to_vec())),
    ])
    .into()
}

fn immediate(register: Register, value: Vec<u8>) -> Expression {
    Expressions::Immediate(vec![
        Immediate::DestinationRegister(register),
        Immediate::Data(DataAttribute::Value(value)),
    ])
    .into()
}

fn verdict(code: Verdict, chain: Option<&str>) -> Expression {
    let mut attributes = vec![VerdictAttribute::Code(code)];
    attributes.extend(chain.map(|chain| VerdictAttribute::Chain(chain.into())));
    Expressions::Immediate(vec![
        Immediate::DestinationRegister(Register::Verdict),
        Immediate::Data(DataAttribute::Verdict(attributes)),
    ])
    .into()
}

/// An expression the crate has no type for: its name and big-endian
/// 32-bit attributes.
fn named(name: &str, attributes: &[(u16, u32)]) -> Expression {
    Expressions::Other {
        expression_type: name.into(),
        attributes: attributes
            .iter()
            .map(|(kind, value)| DefaultNla::new(*kind, value.to_be_bytes().to_vec()))
            .collect(),
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comment_survives_the_round_trip_through_user_data() {
        let bytes = comment_bytes("netagent tcp *:8080 -> 10.1.0.2:80");
        assert_eq!(bytes[0], UDATA_RULE_COMMENT);
        assert_eq!(
            comment_of(&bytes).as_deref(),
            Some("netagent tcp *:8080 -> 10.1.0.2:80")
        );
        assert_eq!(comment_of(&[0, 200, 1]), None, "a length past the end");
        let mut other_first = vec![1, 1, 7];
        other_first.extend(comment_bytes("x"));
        assert_eq!(comment_of(&other_first).as_deref(), Some("x"));
    }
}
