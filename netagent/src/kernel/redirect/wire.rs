//! Netlink framing for nf_tables (NETLINK_NETFILTER): a batch of messages
//! between BATCH_BEGIN and BATCH_END, the kernel's acknowledgements read
//! back, and the attribute encoders (`linux/netlink.h`,
//! `linux/netfilter/nfnetlink.h`). What the rules say is in the parent
//! module.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{
    bind, recv, send, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol,
    SockType,
};

pub(super) const NLM_F_REQUEST: u16 = 0x1;
pub(super) const NLM_F_ACK: u16 = 0x4;
pub(super) const NLM_F_CREATE: u16 = 0x400;
pub(super) const NLM_F_APPEND: u16 = 0x800;
pub(super) const NLMSG_ERROR: u16 = 2;
pub(super) const NLA_F_NESTED: u16 = 0x8000;
pub(super) const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
pub(super) const NFNL_MSG_BATCH_END: u16 = 0x11;
pub(super) const NFNL_SUBSYS_NFTABLES: u16 = 10;
pub(super) const NFPROTO_IPV4: u8 = 2;
pub(super) const NFT_REG_1: u32 = 1;
pub(super) const NFT_CMP_EQ: u32 = 0;

/// Messages to send in one go, and how many acknowledgements they ask for.
#[derive(Default)]
pub(super) struct Batch {
    pub(super) buf: Vec<u8>,
    seq: u32,
    pub(super) acks: u32,
}

impl Batch {
    /// Appends one netlink message whose body `body` writes.
    pub(super) fn message(
        &mut self,
        kind: u16,
        flags: u16,
        family: u8,
        res_id: u16,
        body: impl FnOnce(&mut Vec<u8>),
    ) {
        self.seq += 1;
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; 16]);
        self.buf.extend_from_slice(&[family, 0]);
        self.buf.extend_from_slice(&res_id.to_be_bytes());
        body(&mut self.buf);
        let len = (self.buf.len() - start) as u32;
        self.buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
        self.buf[start + 4..start + 6].copy_from_slice(&kind.to_ne_bytes());
        self.buf[start + 6..start + 8].copy_from_slice(&flags.to_ne_bytes());
        self.buf[start + 8..start + 12].copy_from_slice(&self.seq.to_ne_bytes());
    }

    /// Appends one nf_tables message, opening the batch first if needed.
    pub(super) fn nft(&mut self, msg: u16, flags: u16, body: impl FnOnce(&mut Vec<u8>)) {
        if self.buf.is_empty() {
            self.message(
                NFNL_MSG_BATCH_BEGIN,
                NLM_F_REQUEST,
                0,
                NFNL_SUBSYS_NFTABLES,
                |_| {},
            );
        }
        self.acks += 1;
        self.message(
            (NFNL_SUBSYS_NFTABLES << 8) | msg,
            NLM_F_REQUEST | NLM_F_ACK | flags,
            NFPROTO_IPV4,
            0,
            body,
        );
    }

    /// Sends the batch and waits for the kernel's verdict on each message.
    pub(super) fn commit(mut self) -> io::Result<()> {
        self.message(
            NFNL_MSG_BATCH_END,
            NLM_F_REQUEST,
            0,
            NFNL_SUBSYS_NFTABLES,
            |_| {},
        );
        let fd = open_socket()?;
        send(fd.as_raw_fd(), &self.buf, MsgFlags::empty())?;
        let mut pending = self.acks;
        let mut buffer = vec![0u8; 16 * 1024];
        while pending > 0 {
            let len = recv(fd.as_raw_fd(), &mut buffer, MsgFlags::empty())?;
            let mut at = 0;
            while at + 20 <= len {
                let msg_len =
                    u32::from_ne_bytes(buffer[at..at + 4].try_into().expect("4 bytes")) as usize;
                let kind = u16::from_ne_bytes(buffer[at + 4..at + 6].try_into().expect("2 bytes"));
                if kind == NLMSG_ERROR {
                    let code =
                        i32::from_ne_bytes(buffer[at + 16..at + 20].try_into().expect("4 bytes"));
                    if code != 0 {
                        return Err(io::Error::from_raw_os_error(-code));
                    }
                    pending -= 1;
                }
                if msg_len == 0 {
                    break;
                }
                at += align(msg_len);
            }
        }
        Ok(())
    }
}

/// Sends one nf_tables request (no batch) and returns the socket its
/// answer is to be read from.
pub(super) fn request(
    msg: u16,
    flags: u16,
    body: impl FnOnce(&mut Vec<u8>),
) -> io::Result<OwnedFd> {
    let mut request = Batch::default();
    request.message(
        (NFNL_SUBSYS_NFTABLES << 8) | msg,
        flags,
        NFPROTO_IPV4,
        0,
        body,
    );
    let fd = open_socket()?;
    send(fd.as_raw_fd(), &request.buf, MsgFlags::empty())?;
    Ok(fd)
}

/// A netfilter netlink socket of the calling thread's namespace, with a
/// receive timeout so a silent kernel cannot hang the worker.
pub(super) fn open_socket() -> io::Result<OwnedFd> {
    let fd: OwnedFd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkNetFilter,
    )?;
    bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
    let timeout = nix::sys::time::TimeVal::new(2, 0);
    nix::sys::socket::setsockopt(&fd, nix::sys::socket::sockopt::ReceiveTimeout, &timeout)?;
    Ok(fd)
}

pub(super) fn align(len: usize) -> usize {
    (len + 3) & !3
}

pub(super) fn attr(buf: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = (4 + value.len()) as u16;
    buf.extend_from_slice(&len.to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(value);
    buf.resize(align(buf.len()), 0);
}

pub(super) fn attr_str(buf: &mut Vec<u8>, kind: u16, value: &str) {
    let mut bytes = value.as_bytes().to_vec();
    bytes.push(0);
    attr(buf, kind, &bytes);
}

/// nf_tables carries its 32-bit numbers in network byte order.
pub(super) fn attr_u32(buf: &mut Vec<u8>, kind: u16, value: u32) {
    attr(buf, kind, &value.to_be_bytes());
}

pub(super) fn nested(buf: &mut Vec<u8>, kind: u16, body: impl FnOnce(&mut Vec<u8>)) {
    let start = buf.len();
    buf.extend_from_slice(&[0; 4]);
    body(buf);
    let len = (buf.len() - start) as u16;
    buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    buf[start + 2..start + 4].copy_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
}

/// One element of a rule's expression list: NFTA_LIST_ELEM { NAME, DATA }.
pub(super) fn expression(buf: &mut Vec<u8>, name: &str, data: impl FnOnce(&mut Vec<u8>)) {
    nested(buf, 1, |b| {
        attr_str(b, 1, name);
        nested(b, 2, data);
    });
}

pub(super) fn load_payload(buf: &mut Vec<u8>, base: u32, offset: u32, len: u32) {
    expression(buf, "payload", |b| {
        attr_u32(b, 1, NFT_REG_1);
        attr_u32(b, 2, base);
        attr_u32(b, 3, offset);
        attr_u32(b, 4, len);
    });
}

pub(super) fn compare(buf: &mut Vec<u8>, value: &[u8]) {
    expression(buf, "cmp", |b| {
        attr_u32(b, 1, NFT_REG_1);
        attr_u32(b, 2, NFT_CMP_EQ);
        nested(b, 3, |b| attr(b, 1, value));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_to_four_bytes() {
        let mut buf = Vec::new();
        attr_str(&mut buf, 1, "netagent");
        assert_eq!(buf.len(), 16, "4 header + 9 bytes, padded to 16");
        assert_eq!(u16::from_ne_bytes([buf[0], buf[1]]), 13);
        let mut nest = Vec::new();
        nested(&mut nest, 4, |b| attr_u32(b, 1, 3));
        assert_eq!(u16::from_ne_bytes([nest[2], nest[3]]), 4 | NLA_F_NESTED);
        assert_eq!(&nest[8..12], &3u32.to_be_bytes());
    }
}
