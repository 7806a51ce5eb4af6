//! The DNS redirect's nftables rules, written straight to the kernel over
//! netlink (NETLINK_NETFILTER), one transaction per sandbox.
//!
//! Running `nft -f -` cost about 12 ms per sandbox here, most of an
//! attach; this costs a fraction of a millisecond. rustables, the netlink
//! crate for nftables, has no `notrack` expression and no payload write
//! with checksum update, and builds with bindgen, so the few messages
//! needed are encoded here, following the kernel's uapi
//! (`linux/netfilter/nf_tables.h`, `linux/netfilter/nfnetlink.h`). The
//! result is the same ruleset [`super::ruleset`] describes, as `nft list
//! ruleset` shows (checked by the namespace tests).
//!
//! Must run in the sandbox's namespace: the socket is made where it is
//! called (the namespace worker).

use std::io;
use std::os::fd::AsRawFd;

use nix::sys::socket::{recv, MsgFlags};

use super::wire::{
    align, attr, attr_str, attr_u32, compare, expression, load_payload, nested, request, Batch,
    NFNL_SUBSYS_NFTABLES, NFT_REG_1, NLMSG_ERROR, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE,
    NLM_F_REQUEST,
};

/// The nftables table netagent owns in each sandbox.
pub const TABLE: &str = "netagent";
/// Its chain.
pub const CHAIN: &str = "dns-redirect";

const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NF_INET_LOCAL_OUT: u32 = 3;
const NF_IP_PRI_RAW: i32 = -300;
const NF_ACCEPT: u32 = 1;
const NFT_META_L4PROTO: u32 = 16;
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
const NFT_PAYLOAD_CSUM_INET: u32 = 1;

/// The protocols the redirect rewrites, with their number and where their
/// checksum sits in the transport header (RFC 768, RFC 9293).
const PROTOCOLS: [(u8, u32); 2] = [(17, 6), (6, 16)];
const EMBEDDED: [u8; 4] = config::EMBEDDED_RESOLVER.octets();

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
    let mut batch = Batch::default();
    if replace {
        batch.table(NFT_MSG_NEWTABLE, NLM_F_CREATE);
        batch.table(NFT_MSG_DELTABLE, 0);
    }
    batch.table(NFT_MSG_NEWTABLE, NLM_F_CREATE);
    batch.chain();
    for (protocol, checksum) in PROTOCOLS {
        // Queries in: 127.0.0.11:53 -> 127.0.0.11:port.
        batch.rule(&Rewrite {
            address_offset: 16,
            port_offset: 2,
            from: 53,
            to: port,
            protocol,
            checksum,
        });
        // Replies out: 127.0.0.11:port -> 127.0.0.11:53.
        batch.rule(&Rewrite {
            address_offset: 12,
            port_offset: 0,
            from: port,
            to: 53,
            protocol,
            checksum,
        });
    }
    batch
}

/// Whether the netagent table exists in this namespace.
fn table_exists_here() -> io::Result<bool> {
    const NFT_MSG_GETTABLE: u16 = 1;
    let fd = request(NFT_MSG_GETTABLE, NLM_F_REQUEST | NLM_F_ACK, |b| {
        attr_str(b, 1, TABLE);
    })?;
    let mut buffer = vec![0u8; 16 * 1024];
    let len = recv(fd.as_raw_fd(), &mut buffer, MsgFlags::empty())?;
    if len >= 20 && u16::from_ne_bytes([buffer[4], buffer[5]]) == NLMSG_ERROR {
        let code = i32::from_ne_bytes(buffer[16..20].try_into().expect("4 bytes"));
        return match -code {
            0 => Ok(true),
            libc::ENOENT => Ok(false),
            errno => Err(io::Error::from_raw_os_error(errno)),
        };
    }
    Ok(len >= 16)
}

/// Removes the netagent table, if there is one.
pub fn remove_here() -> io::Result<()> {
    remove_batch().commit()
}

/// Create-if-missing then delete: removes the table whether or not it
/// is there, in one transaction.
fn remove_batch() -> Batch {
    let mut batch = Batch::default();
    batch.table(NFT_MSG_NEWTABLE, NLM_F_CREATE);
    batch.table(NFT_MSG_DELTABLE, 0);
    batch
}

/// How many rules the netagent chain has in this namespace (0 when the
/// table or chain is missing): a dump of NFT_MSG_GETRULE.
pub fn rule_count_here() -> io::Result<usize> {
    const NLM_F_DUMP: u16 = 0x300;
    const NFT_MSG_GETRULE: u16 = 7;
    const NLMSG_DONE: u16 = 3;
    let fd = request(NFT_MSG_GETRULE, NLM_F_REQUEST | NLM_F_DUMP, |b| {
        attr_str(b, 1, TABLE);
        attr_str(b, 2, CHAIN);
    })?;
    let mut rules = 0;
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let len = recv(fd.as_raw_fd(), &mut buffer, MsgFlags::empty())?;
        let mut at = 0;
        while at + 16 <= len {
            let msg_len =
                u32::from_ne_bytes(buffer[at..at + 4].try_into().expect("4 bytes")) as usize;
            match u16::from_ne_bytes(buffer[at + 4..at + 6].try_into().expect("2 bytes")) {
                NLMSG_DONE => return Ok(rules),
                NLMSG_ERROR => {
                    let code =
                        i32::from_ne_bytes(buffer[at + 16..at + 20].try_into().expect("4 bytes"));
                    return match -code {
                        0 => Ok(rules),
                        libc::ENOENT => Ok(0),
                        errno => Err(io::Error::from_raw_os_error(errno)),
                    };
                }
                kind if kind == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE => rules += 1,
                _ => {}
            }
            if msg_len == 0 {
                return Ok(rules);
            }
            at += align(msg_len);
        }
    }
}

/// One stateless rewrite: match the embedded address at `address_offset`
/// of the IP header and port `from` at `port_offset` of the transport
/// header, skip conntrack, and write port `to` there.
struct Rewrite {
    address_offset: u32,
    port_offset: u32,
    from: u16,
    to: u16,
    protocol: u8,
    checksum: u32,
}

/// The messages of the redirect's ruleset.
impl Batch {
    fn table(&mut self, msg: u16, flags: u16) {
        self.nft(msg, flags, |b| attr_str(b, 1, TABLE));
    }

    fn chain(&mut self) {
        self.nft(NFT_MSG_NEWCHAIN, NLM_F_CREATE, |b| {
            attr_str(b, 1, TABLE);
            attr_str(b, 3, CHAIN);
            nested(b, 4, |b| {
                attr_u32(b, 1, NF_INET_LOCAL_OUT);
                attr_u32(b, 2, NF_IP_PRI_RAW as u32);
            });
            attr_u32(b, 5, NF_ACCEPT);
            attr_str(b, 7, "filter");
        });
    }

    fn rule(&mut self, rewrite: &Rewrite) {
        self.nft(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, |b| {
            attr_str(b, 1, TABLE);
            attr_str(b, 2, CHAIN);
            nested(b, 4, |b| {
                load_payload(b, NFT_PAYLOAD_NETWORK_HEADER, rewrite.address_offset, 4);
                compare(b, &EMBEDDED);
                expression(b, "meta", |b| {
                    attr_u32(b, 1, NFT_REG_1);
                    attr_u32(b, 2, NFT_META_L4PROTO);
                });
                compare(b, &[rewrite.protocol]);
                load_payload(b, NFT_PAYLOAD_TRANSPORT_HEADER, rewrite.port_offset, 2);
                compare(b, &rewrite.from.to_be_bytes());
                expression(b, "notrack", |_| {});
                expression(b, "immediate", |b| {
                    attr_u32(b, 1, NFT_REG_1);
                    nested(b, 2, |b| attr(b, 1, &rewrite.to.to_be_bytes()));
                });
                expression(b, "payload", |b| {
                    attr_u32(b, 5, NFT_REG_1);
                    attr_u32(b, 2, NFT_PAYLOAD_TRANSPORT_HEADER);
                    attr_u32(b, 3, rewrite.port_offset);
                    attr_u32(b, 4, 2);
                    attr_u32(b, 6, NFT_PAYLOAD_CSUM_INET);
                    attr_u32(b, 7, rewrite.checksum);
                });
            });
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::wire::{NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END};
    use super::*;

    #[test]
    fn a_batch_is_framed_by_begin_and_end() {
        let mut batch = Batch::default();
        batch.table(NFT_MSG_NEWTABLE, NLM_F_CREATE);
        batch.message(
            NFNL_MSG_BATCH_END,
            NLM_F_REQUEST,
            0,
            NFNL_SUBSYS_NFTABLES,
            |_| {},
        );
        let kind = |at: usize| u16::from_ne_bytes([batch.buf[at + 4], batch.buf[at + 5]]);
        assert_eq!(kind(0), NFNL_MSG_BATCH_BEGIN);
        let first = u32::from_ne_bytes(batch.buf[0..4].try_into().unwrap()) as usize;
        assert_eq!(kind(first), (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE);
        assert_eq!(batch.acks, 1);
    }

    // The bytes this encoder sends for port 40123, captured from it: any
    // rewrite of the encoding must keep them, byte for byte.
    const PROGRAM_FRESH: &str = concat!(
        "140000001000010001000000000000000000000a24000000000a05040200000000000000020000000d000100",
        "6e65746167656e740000000060000000030a05040300000000000000020000000d0001006e65746167656e74",
        "0000000011000300646e732d72656469726563740000000014000480080001000000000308000200fffffed4",
        "08000500000000010b00070066696c7465720000d0010000060a050c0400000000000000020000000d000100",
        "6e65746167656e740000000011000200646e732d72656469726563740000000098010480340001800c000100",
        "7061796c6f616400240002800800010000000001080002000000000108000300000000100800040000000004",
        "2c00018008000100636d700020000280080001000000000108000200000000000c000380080001007f00000b",
        "24000180090001006d6574610000000014000280080001000000000108000200000000102c00018008000100",
        "636d700020000280080001000000000108000200000000000c0003800500010011000000340001800c000100",
        "7061796c6f616400240002800800010000000001080002000000000208000300000000020800040000000002",
        "2c00018008000100636d700020000280080001000000000108000200000000000c0003800600010000350000",
        "140001800c0001006e6f747261636b00040002802c0001800e000100696d6d65646961746500000018000280",
        "08000100000000010c000280060001009cbb0000440001800c0001007061796c6f6164003400028008000500",
        "0000000108000200000000020800030000000002080004000000000208000600000000010800070000000006",
        "d0010000060a050c0500000000000000020000000d0001006e65746167656e740000000011000200646e732d",
        "72656469726563740000000098010480340001800c0001007061796c6f616400240002800800010000000001",
        "0800020000000001080003000000000c08000400000000042c00018008000100636d70002000028008000100",
        "0000000108000200000000000c000380080001007f00000b24000180090001006d6574610000000014000280",
        "080001000000000108000200000000102c00018008000100636d700020000280080001000000000108000200",
        "000000000c0003800500010011000000340001800c0001007061796c6f616400240002800800010000000001",
        "0800020000000002080003000000000008000400000000022c00018008000100636d70002000028008000100",
        "0000000108000200000000000c000380060001009cbb0000140001800c0001006e6f747261636b0004000280",
        "2c0001800e000100696d6d6564696174650000001800028008000100000000010c0002800600010000350000",
        "440001800c0001007061796c6f61640034000280080005000000000108000200000000020800030000000000",
        "080004000000000208000600000000010800070000000006d0010000060a050c060000000000000002000000",
        "0d0001006e65746167656e740000000011000200646e732d7265646972656374000000009801048034000180",
        "0c0001007061796c6f6164002400028008000100000000010800020000000001080003000000001008000400",
        "000000042c00018008000100636d700020000280080001000000000108000200000000000c00038008000100",
        "7f00000b24000180090001006d6574610000000014000280080001000000000108000200000000102c000180",
        "08000100636d700020000280080001000000000108000200000000000c000380050001000600000034000180",
        "0c0001007061796c6f6164002400028008000100000000010800020000000002080003000000000208000400",
        "000000022c00018008000100636d700020000280080001000000000108000200000000000c00038006000100",
        "00350000140001800c0001006e6f747261636b00040002802c0001800e000100696d6d656469617465000000",
        "1800028008000100000000010c000280060001009cbb0000440001800c0001007061796c6f61640034000280",
        "0800050000000001080002000000000208000300000000020800040000000002080006000000000108000700",
        "00000010d0010000060a050c0700000000000000020000000d0001006e65746167656e740000000011000200",
        "646e732d72656469726563740000000098010480340001800c0001007061796c6f6164002400028008000100",
        "000000010800020000000001080003000000000c08000400000000042c00018008000100636d700020000280",
        "080001000000000108000200000000000c000380080001007f00000b24000180090001006d65746100000000",
        "14000280080001000000000108000200000000102c00018008000100636d7000200002800800010000000001",
        "08000200000000000c0003800500010006000000340001800c0001007061796c6f6164002400028008000100",
        "000000010800020000000002080003000000000008000400000000022c00018008000100636d700020000280",
        "080001000000000108000200000000000c000380060001009cbb0000140001800c0001006e6f747261636b00",
        "040002802c0001800e000100696d6d6564696174650000001800028008000100000000010c00028006000100",
        "00350000440001800c0001007061796c6f616400340002800800050000000001080002000000000208000300",
        "0000000008000400000000020800060000000001080007000000001014000000110001000800000000000000",
        "0000000a",
    );
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

    /// The batch's bytes, closed as [`Batch::commit`] closes it.
    fn bytes(mut batch: Batch) -> String {
        batch.message(
            NFNL_MSG_BATCH_END,
            NLM_F_REQUEST,
            0,
            NFNL_SUBSYS_NFTABLES,
            |_| {},
        );
        batch.buf.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    #[test]
    fn batches_are_byte_identical_to_the_captured_ones() {
        assert_eq!(bytes(program_batch(40123, false)), PROGRAM_FRESH);
        assert_eq!(bytes(program_batch(40123, true)), PROGRAM_REPLACE);
        assert_eq!(bytes(remove_batch()), REMOVE);
    }
}
