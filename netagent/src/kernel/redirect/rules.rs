//! The DNS redirect's nftables rules, written straight to the kernel over
//! netlink (NETLINK_NETFILTER), one transaction per sandbox.
//!
//! Running `nft -f -` cost about 12 ms per sandbox here, most of an
//! attach; this costs a fraction of a millisecond. The messages are the
//! types of netlink-packet-netfilter 0.4 (rust-netlink, on the same
//! netlink-packet-core 0.9 as rtnetlink), whose variants stand for the
//! uapi's attributes (`Payload::CsumType` is NFTA_PAYLOAD_CSUM_TYPE, and
//! so on: `linux/netfilter/nf_tables.h`). It expresses everything the
//! redirect needs, with these gaps, filled here:
//! - no `notrack` expression: it goes as `Expressions::Other`, its name
//!   and an empty NFTA_EXPR_DATA;
//! - no names for the payload bases (`enum nft_payload_bases`), for
//!   NF_ACCEPT (`linux/netfilter.h`) or NF_IP_PRI_RAW
//!   (`linux/netfilter_ipv4.h`): constants below;
//! - no socket and no reply handling: [`crate::kernel::nft`].
//!
//! rustables, the other nftables crate, has neither `notrack` nor a
//! payload write with checksum update, and builds with bindgen. The
//! result is the ruleset [`super::ruleset`] describes, as `nft list
//! ruleset` shows it; the namespace tests exercise it for real.
//!
//! Must run in the sandbox's namespace: the socket is made where it is
//! called (the namespace worker).

use std::io;
use std::ops::ControlFlow;

use netlink_packet_core::{NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_netfilter::nftables::{
    ChainAttribute, ChainMessage, ChecksumType, DataAttribute, ExpressionAttribute, Expressions,
    Hook, HookNumber, Immediate, InetHookNumber, ListAttribute, Meta, MetaKey, NfTablesMessage,
    NfTablesMessageType, Payload, Register, RuleAttribute, RuleMessage, TableAttribute,
    TableMessage,
};

use netlink_packet_netfilter::NetfilterProtoFamily;

use crate::kernel::nft::{equals, exchange, load, request, Batch, Reply};

/// The redirect's tables are of the ip family: it rewrites IPv4 only.
const FAMILY: NetfilterProtoFamily = NetfilterProtoFamily::IPv4;

/// The nftables table netagent owns in each sandbox.
pub const TABLE: &str = "netagent";
/// Its chain.
pub const CHAIN: &str = "dns-redirect";

/// The chain's type, NFTA_CHAIN_TYPE (`nft_chain_filter_ipv4`'s name).
const CHAIN_TYPE: &str = "filter";
/// The chain's policy, NFTA_CHAIN_POLICY (`linux/netfilter.h`).
const NF_ACCEPT: u32 = 1;
/// The chain's priority, before conntrack (`enum nf_ip_hook_priorities`,
/// `linux/netfilter_ipv4.h`), carried as a big-endian 32-bit number.
const NF_IP_PRI_RAW: i32 = -300;
/// `enum nft_payload_bases` (nf_tables.h).
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
/// The expression that marks a packet untracked (`nft_ct.c`).
const NOTRACK: &str = "notrack";

/// Where the addresses sit in the IPv4 header (RFC 791).
const IPV4_SOURCE: u32 = 12;
const IPV4_DESTINATION: u32 = 16;
/// Where the ports sit in the UDP and TCP headers (RFC 768, RFC 9293).
const SOURCE_PORT: u32 = 0;
const DESTINATION_PORT: u32 = 2;
const PORT_LEN: u32 = 2;
const DNS_PORT: u16 = 53;
const EMBEDDED: [u8; 4] = config::EMBEDDED_RESOLVER.octets();

/// Where the checksum sits in the UDP header (RFC 768) and the TCP header
/// (RFC 9293).
const UDP_CHECKSUM: u32 = 6;
const TCP_CHECKSUM: u32 = 16;
/// The protocols the redirect rewrites, with where their checksum sits.
const PROTOCOLS: [(u8, u32); 2] = [
    (libc::IPPROTO_UDP as u8, UDP_CHECKSUM),
    (libc::IPPROTO_TCP as u8, TCP_CHECKSUM),
];

/// Replaces the netagent table with the redirect of port 53 to `port`, in
/// one transaction: create-if-missing, delete, create with the rules.
pub fn program_here(port: u16) -> io::Result<()> {
    // Deleting a table makes the commit wait for an RCU grace period
    // (about 10 ms here); a namespace without the table skips that.
    program_batch(port, table_exists_here()?).commit()
}

/// The transaction [`program_here`] sends, replacing an existing table if
/// `replace`.
fn program_batch(port: u16, replace: bool) -> Batch {
    let mut batch = Batch::new(FAMILY);
    if replace {
        batch.add(table(NfTablesMessage::NewTable), NLM_F_CREATE);
        batch.add(table(NfTablesMessage::DeleteTable), 0);
    }
    batch.add(table(NfTablesMessage::NewTable), NLM_F_CREATE);
    batch.add(chain(), NLM_F_CREATE);
    for (protocol, checksum) in PROTOCOLS {
        for rewrite in [Rewrite::query(port), Rewrite::reply(port)] {
            batch.add(
                rewrite.rule(protocol, checksum),
                NLM_F_CREATE | NLM_F_APPEND,
            );
        }
    }
    batch
}

/// Whether the netagent table exists in this namespace: NFT_MSG_GETTABLE
/// answers with the table or ENOENT.
fn table_exists_here() -> io::Result<bool> {
    let query = request(
        FAMILY,
        table(NfTablesMessage::GetTable),
        NLM_F_REQUEST | NLM_F_ACK,
    );
    unless_missing(
        exchange(&query, |_| ControlFlow::Break(())).map(|()| true),
        false,
    )
}

/// `result`, or `missing` if the kernel answered ENOENT (no such table or
/// chain).
fn unless_missing<T>(result: io::Result<T>, missing: T) -> io::Result<T> {
    match result {
        Err(err) if err.raw_os_error() == Some(libc::ENOENT) => Ok(missing),
        result => result,
    }
}

/// Removes the netagent table, if there is one.
pub fn remove_here() -> io::Result<()> {
    remove_batch().commit()
}

/// Create-if-missing then delete: removes the table whether or not it
/// is there, in one transaction.
fn remove_batch() -> Batch {
    let mut batch = Batch::new(FAMILY);
    batch.add(table(NfTablesMessage::NewTable), NLM_F_CREATE);
    batch.add(table(NfTablesMessage::DeleteTable), 0);
    batch
}

/// How many rules the netagent chain has in this namespace (0 when the
/// table or chain is missing): a dump of NFT_MSG_GETRULE.
pub fn rule_count_here() -> io::Result<usize> {
    let mut rules = 0;
    let dump = exchange(&rules_query(), |reply| match reply {
        Reply::Nft(NfTablesMessageType::NewRule) => {
            rules += 1;
            ControlFlow::Continue(())
        }
        Reply::Ack => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    });
    unless_missing(dump.map(|()| rules), 0)
}

/// The dump request of the chain's rules.
fn rules_query() -> Vec<u8> {
    let attributes = vec![
        RuleAttribute::Table(TABLE.into()),
        RuleAttribute::Chain(CHAIN.into()),
    ];
    request(
        FAMILY,
        NfTablesMessage::GetRule(RuleMessage { attributes }),
        NLM_F_REQUEST | NLM_F_DUMP,
    )
}

/// A table message (`NfTablesMessage::NewTable`, `GetTable` or
/// `DeleteTable`) naming the netagent table.
fn table(kind: fn(TableMessage) -> NfTablesMessage) -> NfTablesMessage {
    kind(TableMessage {
        attributes: vec![TableAttribute::Name(TABLE.into())],
    })
}

/// NFT_MSG_NEWCHAIN: a base chain on the output hook at raw priority.
fn chain() -> NfTablesMessage {
    let hook = vec![
        Hook::Number(HookNumber::Inet(InetHookNumber::LocalOut)),
        Hook::Priority(NF_IP_PRI_RAW as u32),
    ];
    NfTablesMessage::NewChain(ChainMessage {
        attributes: vec![
            ChainAttribute::Table(TABLE.into()),
            ChainAttribute::Name(CHAIN.into()),
            ChainAttribute::Hook(hook),
            ChainAttribute::Policy(NF_ACCEPT),
            ChainAttribute::Type(CHAIN_TYPE.into()),
        ],
    })
}

/// One stateless rewrite: match the embedded address at `address` of the
/// IP header and port `from` at `port` of the transport header, skip
/// conntrack, and write port `to` there.
struct Rewrite {
    address: u32,
    port: u32,
    from: u16,
    to: u16,
}

impl Rewrite {
    /// Queries in: 127.0.0.11:53 -> 127.0.0.11:`port`.
    fn query(port: u16) -> Self {
        Self {
            address: IPV4_DESTINATION,
            port: DESTINATION_PORT,
            from: DNS_PORT,
            to: port,
        }
    }

    /// Replies out: 127.0.0.11:`port` -> 127.0.0.11:53.
    fn reply(port: u16) -> Self {
        Self {
            address: IPV4_SOURCE,
            port: SOURCE_PORT,
            from: port,
            to: DNS_PORT,
        }
    }

    /// NFT_MSG_NEWRULE for `protocol`, whose checksum is at `checksum`.
    fn rule(&self, protocol: u8, checksum: u32) -> NfTablesMessage {
        let expressions = vec![
            load(
                NFT_PAYLOAD_NETWORK_HEADER,
                self.address,
                EMBEDDED.len() as u32,
            ),
            equals(&EMBEDDED),
            Expressions::Meta(vec![
                Meta::DestinationRegister(Register::Reg1),
                Meta::Key(MetaKey::L4Proto),
            ])
            .into(),
            equals(&[protocol]),
            load(NFT_PAYLOAD_TRANSPORT_HEADER, self.port, PORT_LEN),
            equals(&self.from.to_be_bytes()),
            Expressions::Other {
                expression_type: NOTRACK.into(),
                attributes: Vec::new(),
            }
            .into(),
            Expressions::Immediate(vec![
                Immediate::DestinationRegister(Register::Reg1),
                Immediate::Data(DataAttribute::Value(self.to.to_be_bytes().to_vec())),
            ])
            .into(),
            self.write(checksum),
        ];
        NfTablesMessage::NewRule(RuleMessage {
            attributes: vec![
                RuleAttribute::Table(TABLE.into()),
                RuleAttribute::Chain(CHAIN.into()),
                RuleAttribute::Expressions(expressions),
            ],
        })
    }

    /// The payload write of the new port, with the incremental update of
    /// the internet checksum at `checksum` (NFTA_PAYLOAD_CSUM_*).
    fn write(&self, checksum: u32) -> ListAttribute<ExpressionAttribute> {
        Expressions::Payload(vec![
            Payload::SourceRegister(Register::Reg1),
            Payload::Base(NFT_PAYLOAD_TRANSPORT_HEADER),
            Payload::Offset(self.port),
            Payload::Len(PORT_LEN),
            Payload::CsumType(ChecksumType::Inet),
            Payload::CsumOffset(checksum),
        ])
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use netlink_packet_core::NetlinkBuffer;

    // What the hand-written encoder sent before the switch to
    // netlink-packet-netfilter, captured from it for port 40123: the
    // messages stay byte for byte what the kernel accepted.
    const PROGRAM_REPLACE: &str = concat!(
        "140000001000010001000000000000000000000a24000000000a05040200000000000000020000000d000100",
        "6e65746167656e740000000024000000020a05000300000000000000020000000d0001006e65746167656e74",
        "0000000024000000000a05040400000000000000020000000d0001006e65746167656e740000000060000000",
        "030a05040500000000000000020000000d0001006e65746167656e740000000011000300646e732d72656469",
        "726563740000000014000480080001000000000308000200fffffed408000500000000010b00070066696c74",
        "65720000d0010000060a050c0600000000000000020000000d0001006e65746167656e740000000011000200",
        "646e732d72656469726563740000000098010480340001800c0001007061796c6f6164002400028008000100",
        "000000010800020000000001080003000000001008000400000000042c00018008000100636d700020000280",
        "080001000000000108000200000000000c000380080001007f00000b24000180090001006d65746100000000",
        "14000280080001000000000108000200000000102c00018008000100636d7000200002800800010000000001",
        "08000200000000000c0003800500010011000000340001800c0001007061796c6f6164002400028008000100",
        "000000010800020000000002080003000000000208000400000000022c00018008000100636d700020000280",
        "080001000000000108000200000000000c0003800600010000350000140001800c0001006e6f747261636b00",
        "040002802c0001800e000100696d6d6564696174650000001800028008000100000000010c00028006000100",
        "9cbb0000440001800c0001007061796c6f616400340002800800050000000001080002000000000208000300",
        "00000002080004000000000208000600000000010800070000000006d0010000060a050c0700000000000000",
        "020000000d0001006e65746167656e740000000011000200646e732d72656469726563740000000098010480",
        "340001800c0001007061796c6f6164002400028008000100000000010800020000000001080003000000000c",
        "08000400000000042c00018008000100636d700020000280080001000000000108000200000000000c000380",
        "080001007f00000b24000180090001006d657461000000001400028008000100000000010800020000000010",
        "2c00018008000100636d700020000280080001000000000108000200000000000c0003800500010011000000",
        "340001800c0001007061796c6f61640024000280080001000000000108000200000000020800030000000000",
        "08000400000000022c00018008000100636d700020000280080001000000000108000200000000000c000380",
        "060001009cbb0000140001800c0001006e6f747261636b00040002802c0001800e000100696d6d6564696174",
        "650000001800028008000100000000010c0002800600010000350000440001800c0001007061796c6f616400",
        "3400028008000500000000010800020000000002080003000000000008000400000000020800060000000001",
        "0800070000000006d0010000060a050c0800000000000000020000000d0001006e65746167656e7400000000",
        "11000200646e732d72656469726563740000000098010480340001800c0001007061796c6f61640024000280",
        "08000100000000010800020000000001080003000000001008000400000000042c00018008000100636d7000",
        "20000280080001000000000108000200000000000c000380080001007f00000b24000180090001006d657461",
        "0000000014000280080001000000000108000200000000102c00018008000100636d70002000028008000100",
        "0000000108000200000000000c0003800500010006000000340001800c0001007061796c6f61640024000280",
        "08000100000000010800020000000002080003000000000208000400000000022c00018008000100636d7000",
        "20000280080001000000000108000200000000000c0003800600010000350000140001800c0001006e6f7472",
        "61636b00040002802c0001800e000100696d6d6564696174650000001800028008000100000000010c000280",
        "060001009cbb0000440001800c0001007061796c6f6164003400028008000500000000010800020000000002",
        "0800030000000002080004000000000208000600000000010800070000000010d0010000060a050c09000000",
        "00000000020000000d0001006e65746167656e740000000011000200646e732d726564697265637400000000",
        "98010480340001800c0001007061796c6f616400240002800800010000000001080002000000000108000300",
        "0000000c08000400000000042c00018008000100636d70002000028008000100000000010800020000000000",
        "0c000380080001007f00000b24000180090001006d6574610000000014000280080001000000000108000200",
        "000000102c00018008000100636d700020000280080001000000000108000200000000000c00038005000100",
        "06000000340001800c0001007061796c6f616400240002800800010000000001080002000000000208000300",
        "0000000008000400000000022c00018008000100636d70002000028008000100000000010800020000000000",
        "0c000380060001009cbb0000140001800c0001006e6f747261636b00040002802c0001800e000100696d6d65",
        "64696174650000001800028008000100000000010c0002800600010000350000440001800c0001007061796c",
        "6f61640034000280080005000000000108000200000000020800030000000000080004000000000208000600",
        "00000001080007000000001014000000110001000a000000000000000000000a",
    );
    const REMOVE: &str = concat!(
        "140000001000010001000000000000000000000a24000000000a05040200000000000000020000000d000100",
        "6e65746167656e740000000024000000020a05000300000000000000020000000d0001006e65746167656e74",
        "00000000140000001100010004000000000000000000000a",
    );
    const GET_TABLE: &str =
        "24000000010a05000100000000000000020000000d0001006e65746167656e7400000000";
    const GET_RULES: &str = concat!(
        "38000000070a01030100000000000000020000000d0001006e65746167656e740000000011000200646e732d",
        "726564697265637400000000",
    );

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    /// A batch's messages, their sequence numbers cleared.
    fn messages(bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut messages = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let len = NetlinkBuffer::new_checked(rest).unwrap().length() as usize;
            let mut message = rest[..len].to_vec();
            NetlinkBuffer::new(&mut message[..]).set_sequence_number(0);
            messages.push(message);
            rest = &rest[len..];
        }
        messages
    }

    #[test]
    fn batches_are_byte_identical_to_the_hand_encoding() {
        let (program, acks) = program_batch(40123, true).end();
        assert_eq!((hex(&program), acks), (PROGRAM_REPLACE.into(), 8));
        let (remove, acks) = remove_batch().end();
        assert_eq!((hex(&remove), acks), (REMOVE.into(), 2));
    }

    #[test]
    fn a_first_program_is_a_replacement_without_the_delete() {
        let mut replace = messages(&program_batch(40123, true).end().0);
        replace.drain(1..3);
        assert_eq!(messages(&program_batch(40123, false).end().0), replace);
    }

    #[test]
    fn queries_are_byte_identical_to_the_hand_encoding() {
        let table = request(
            FAMILY,
            table(NfTablesMessage::GetTable),
            NLM_F_REQUEST | NLM_F_ACK,
        );
        assert_eq!(hex(&table), GET_TABLE);
        assert_eq!(hex(&rules_query()), GET_RULES);
    }
}
