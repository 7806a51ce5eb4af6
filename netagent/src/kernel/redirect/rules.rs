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
    let mut batch = Batch::default();
    // Deleting a table makes the commit wait for an RCU grace period
    // (about 10 ms here); a namespace without the table skips that.
    if table_exists_here()? {
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
    batch.commit()
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
    let mut batch = Batch::default();
    batch.table(NFT_MSG_NEWTABLE, NLM_F_CREATE);
    batch.table(NFT_MSG_DELTABLE, 0);
    batch.commit()
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
}
