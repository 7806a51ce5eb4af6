//! Living beside other firewalls. nf_tables runs every base chain on a
//! hook, each table's in turn: an accept in the agent's table does not
//! stop another table's chain from dropping the packet. Docker sets its
//! iptables `FORWARD` policy to DROP (moby#14041), and firewalld's tables
//! drop forwarded traffic by default; either drops the sandboxes' way out
//! and their published ports. The agent cannot fix another's table (it
//! never touches one), so it finds such chains and says what to do.

use std::io;

use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_netfilter::nftables::{
    ChainAttribute, ChainMessage, Hook, HookNumber, InetHookNumber, NfTablesMessage,
};
use netlink_packet_netfilter::NetfilterProtoFamily;

use super::encode::TABLE;
use crate::kernel::nft::{dump, request};

/// NF_DROP (linux/netfilter.h).
const NF_DROP: u32 = 0;
/// NF_INET_FORWARD, as a raw hook number.
const FORWARD: u32 = 2;

/// Base chains of other tables on the IP forward hook whose policy is
/// drop, as `FAMILY TABLE CHAIN` (`ip filter FORWARD`).
pub fn forward_drops_elsewhere() -> io::Result<Vec<String>> {
    let query = request(
        NetfilterProtoFamily::Unspec,
        NfTablesMessage::GetChain(ChainMessage { attributes: vec![] }),
        NLM_F_REQUEST | NLM_F_DUMP,
    );
    Ok(dump(&query)?
        .into_iter()
        .filter_map(|(family, message)| match message {
            NfTablesMessage::NewChain(chain) => dropping_forward_chain(family, &chain),
            _ => None,
        })
        .collect())
}

fn dropping_forward_chain(family: NetfilterProtoFamily, chain: &ChainMessage) -> Option<String> {
    let family = match family {
        NetfilterProtoFamily::IPv4 => "ip",
        NetfilterProtoFamily::IPv6 => "ip6",
        NetfilterProtoFamily::Inet => "inet",
        _ => return None,
    };
    let (mut table, mut name, mut forward, mut drops) = (None, None, false, false);
    for attribute in &chain.attributes {
        match attribute {
            ChainAttribute::Table(t) => table = Some(t.as_str()),
            ChainAttribute::Name(n) => name = Some(n.as_str()),
            ChainAttribute::Policy(policy) => drops = *policy == NF_DROP,
            ChainAttribute::Hook(hook) => forward = hook.iter().any(is_forward),
            _ => {}
        }
    }
    let table = table?;
    (forward && drops && table != TABLE)
        .then(|| format!("{family} {table} {}", name.unwrap_or("?")))
}

fn is_forward(hook: &Hook) -> bool {
    matches!(
        hook,
        Hook::Number(HookNumber::Inet(InetHookNumber::Forward))
            | Hook::Number(HookNumber::Other(FORWARD))
    )
}

/// What to tell the operator about one such chain.
pub fn advice(chain: &str, bridges: &[String]) -> String {
    let accepts: Vec<String> = bridges
        .iter()
        .map(|b| {
            format!("iifname \"{b}\" accept; oifname \"{b}\" ct state established,related accept")
        })
        .collect();
    format!(
        "the base chain `{chain}` drops forwarded traffic by default, so sandboxes get no way out and \
         published ports do not answer; let the agent's bridges through it, for example \
         `nft insert rule {chain} ...` with: {} (or, with Docker, `iptables -I DOCKER-USER -i BRIDGE -j ACCEPT` \
         and `-o BRIDGE -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`)",
        accepts.join("; ")
    )
}
