//! Netlink framing for nf_tables (NETLINK_NETFILTER), shared by the
//! sandbox redirect ([`super::redirect`]) and the host firewall
//! ([`super::firewall`]): the one socket opener, batches between NFNL_MSG_BATCH_BEGIN and NFNL_MSG_BATCH_END,
//! the one reader of the kernel's replies (acknowledgements, errors,
//! multi-part dumps), and the two expressions every match is made of.
//! The messages themselves are the types of netlink-packet-netfilter,
//! serialised by netlink-packet-core (the same core as rtnetlink); what
//! they say is in `redirect::rules` and `firewall::encode`.
//!
//! Names follow the kernel's uapi: `linux/netlink.h` and
//! `linux/netfilter/nfnetlink.h`.

use std::io;
use std::ops::ControlFlow;
use std::os::fd::{AsRawFd, OwnedFd};

use netlink_packet_core::ParseableParametrized;
use netlink_packet_core::{
    DecodeError, ErrorBuffer, NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload,
    NLMSG_ALIGNTO, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK, NLM_F_REQUEST,
};
use netlink_packet_netfilter::nftables::{
    Cmp, DataAttribute, ExpressionAttribute, Expressions, GenAttribute, GenMessage, ListAttribute,
    NfTablesMessage, NfTablesMessageType, Operator, Payload, Register,
};
use netlink_packet_netfilter::none::ControlMessage;
use netlink_packet_netfilter::{
    NetfilterHeader, NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily,
    NetfilterSubsystem,
};
use nix::sys::socket::{
    bind, recv, send, setsockopt, socket,
    sockopt::{ReceiveTimeout, SndBufForce},
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};
use nix::sys::time::TimeVal;

/// `nfgenmsg.version`: NFNETLINK_V0, the only version there is
/// (nfnetlink.h).
const NFNETLINK_V0: u8 = 0;
/// The multicast group of nftables ruleset changes (`enum
/// nfnetlink_groups`, nfnetlink.h); bit `NFNLGRP_NFTABLES - 1` of a
/// `sockaddr_nl.nl_groups` mask.
const NFNLGRP_NFTABLES: u32 = 7;
/// How long a request waits for the kernel, so that a silent kernel cannot
/// hang the namespace worker.
const RECEIVE_TIMEOUT: TimeVal = TimeVal::new(2, 0);
/// One `recv`. A datagram that does not fit is cut short; the kernel
/// makes a dump's datagrams at most 32 KiB (`netlink_recvmsg` caps
/// `max_recvmsg_len`, net/netlink/af_netlink.c).
const RECEIVE_BUFFER: usize = 64 * 1024;
/// Requests larger than this raise the socket's send buffer first.
const SEND_BUFFER_KEPT: usize = 128 * 1024;
/// The sequence number of a lone request, as of the first message of a
/// batch.
const FIRST_SEQUENCE: u32 = 1;

/// What a netfilter socket is for.
pub(crate) enum Purpose {
    /// Requests and their replies: blocking, with a receive timeout.
    Requests,
    /// The nftables event group, non-blocking, for the event loop.
    Events,
}

/// A NETLINK_NETFILTER socket of the calling thread's namespace (the
/// worker's, inside a sandbox): the only place one is made.
pub(crate) fn open_socket(purpose: Purpose) -> io::Result<OwnedFd> {
    let (flags, groups) = match purpose {
        Purpose::Requests => (SockFlag::SOCK_CLOEXEC, 0),
        Purpose::Events => (
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            1 << (NFNLGRP_NFTABLES - 1),
        ),
    };
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        flags,
        SockProtocol::NetlinkNetFilter,
    )?;
    bind(fd.as_raw_fd(), &NetlinkAddr::new(0, groups))?;
    if let Purpose::Requests = purpose {
        setsockopt(&fd, ReceiveTimeout, &RECEIVE_TIMEOUT)?;
    }
    Ok(fd)
}

/// Reads every queued event off an [`Purpose::Events`] socket: one check
/// of the rules covers them all.
pub(crate) fn drain_events(events: &OwnedFd, buffer: &mut [u8]) {
    while recv(events.as_raw_fd(), buffer, MsgFlags::empty()).is_ok() {}
}

/// nf_tables messages to send as one transaction, and how many
/// acknowledgements they ask for.
pub(crate) struct Batch {
    family: NetfilterProtoFamily,
    buf: Vec<u8>,
    sequence: u32,
    acks: u32,
    /// Ask for one acknowledgement, of the last message, instead of one
    /// per message ([`Batch::acknowledge_last_only`]).
    last_only: bool,
    /// Where the last nf_tables message starts in `buf`.
    last: usize,
}

impl Batch {
    /// A batch opened by NFNL_MSG_BATCH_BEGIN, whose `res_id` names the
    /// subsystem the batch is for (nfnetlink.h).
    pub(crate) fn new(family: NetfilterProtoFamily) -> Self {
        let mut batch = Self {
            family,
            buf: Vec::new(),
            sequence: FIRST_SEQUENCE - 1,
            acks: 0,
            last_only: false,
            last: 0,
        };
        batch.push(control(ControlMessage::BatchBegin), NLM_F_REQUEST);
        batch
    }

    /// Asks the kernel to acknowledge only the batch's last message. A
    /// large batch (the host firewall with hundreds of published ports)
    /// otherwise gets one acknowledgement per message, each carrying its
    /// message back, more than a socket's receive buffer holds (ENOBUFS).
    /// Errors are reported whatever the flag (nfnetlink_rcv_batch), and a
    /// failure aborts the whole transaction, so one acknowledgement of the
    /// last message means all were applied.
    pub(crate) fn acknowledge_last_only(mut self) -> Self {
        self.last_only = true;
        self
    }

    /// Appends one nf_tables message, asking for its acknowledgement.
    pub(crate) fn add(&mut self, message: NfTablesMessage, flags: u16) {
        self.add_for(self.family, message, flags);
    }

    /// Appends one nf_tables message of another address family (one
    /// transaction may change tables of several).
    pub(crate) fn add_for(
        &mut self,
        family: NetfilterProtoFamily,
        message: NfTablesMessage,
        flags: u16,
    ) {
        self.last = self.buf.len();
        if self.last_only {
            self.acks = 1;
            self.push(nft(family, message), NLM_F_REQUEST | flags);
        } else {
            self.acks += 1;
            self.push(nft(family, message), NLM_F_REQUEST | NLM_F_ACK | flags);
        }
    }

    fn push(&mut self, message: NetfilterMessage, flags: u16) {
        self.sequence += 1;
        append(&mut self.buf, message, flags, self.sequence);
    }

    /// Closes the batch with NFNL_MSG_BATCH_END: its bytes, and how many
    /// acknowledgements to wait for.
    pub(crate) fn end(mut self) -> (Vec<u8>, u32) {
        if self.last_only && self.acks == 1 {
            // nlmsg_flags: the u16 after the length and the type.
            let flags = self.last + 6;
            let value = u16::from_ne_bytes([self.buf[flags], self.buf[flags + 1]]) | NLM_F_ACK;
            self.buf[flags..flags + 2].copy_from_slice(&value.to_ne_bytes());
        }
        self.push(control(ControlMessage::BatchEnd), NLM_F_REQUEST);
        (self.buf, self.acks)
    }

    /// Sends the batch and waits for the kernel's verdict on each message.
    pub(crate) fn commit(self) -> io::Result<()> {
        let (bytes, mut pending) = self.end();
        exchange(&bytes, |reply| {
            if let Reply::Ack = reply {
                pending -= 1;
            }
            if pending == 0 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
    }
}

/// One nf_tables request outside a batch (a query), as bytes.
pub(crate) fn request(
    family: NetfilterProtoFamily,
    message: NfTablesMessage,
    flags: u16,
) -> Vec<u8> {
    let mut buf = Vec::new();
    append(&mut buf, nft(family, message), flags, FIRST_SEQUENCE);
    buf
}

/// An nf_tables message for `family`'s tables.
fn nft(family: NetfilterProtoFamily, message: NfTablesMessage) -> NetfilterMessage {
    let header = NetfilterHeader::new(family, NFNETLINK_V0, 0);
    NetfilterMessage::new(header, message)
}

/// A batch delimiter, for the nf_tables subsystem.
fn control(message: ControlMessage) -> NetfilterMessage {
    let subsystem = u8::from(NetfilterSubsystem::NfTables).into();
    let header = NetfilterHeader::new(NetfilterProtoFamily::Unspec, NFNETLINK_V0, subsystem);
    NetfilterMessage::new(header, message)
}

/// Serialises `message` behind its netlink header at the end of `buf`.
fn append(buf: &mut Vec<u8>, message: NetfilterMessage, flags: u16, sequence: u32) {
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = sequence;
    let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(message));
    packet.finalize();
    let start = buf.len();
    buf.resize(start + packet.buffer_len(), 0);
    packet.serialize(&mut buf[start..]);
}

/// One reply from the kernel, as [`exchange`] hands it on.
pub(crate) enum Reply {
    /// NLMSG_ERROR with error 0: a request was applied.
    Ack,
    /// An nf_tables message (a dump's part, or a query's answer).
    Nft(NfTablesMessageType),
    /// Anything else, of no interest here.
    Other,
}

/// Sends `request` on a fresh socket and hands each reply to `on_reply`
/// until it breaks or the kernel ends a dump (NLMSG_DONE). An NLMSG_ERROR
/// carrying an error ends the exchange with that errno. The one reader of
/// replies: batches, queries and dumps all go through it.
pub(crate) fn exchange(
    request: &[u8],
    mut on_reply: impl FnMut(Reply) -> ControlFlow<()>,
) -> io::Result<()> {
    exchange_raw(request, |reply, _| on_reply(reply))
}

/// The ruleset's generation in the calling thread's namespace
/// (NFT_MSG_GETGEN): one more after every transaction anyone commits
/// there, so two equal readings mean nothing changed in between.
pub(crate) fn generation() -> io::Result<u32> {
    let query = request(
        NetfilterProtoFamily::Unspec,
        NfTablesMessage::GetGen(GenMessage { attributes: vec![] }),
        NLM_F_REQUEST,
    );
    let mut id = None;
    exchange_raw(&query, |reply, message| {
        if !matches!(reply, Reply::Nft(NfTablesMessageType::NewGen)) {
            return ControlFlow::Continue(());
        }
        let parsed = NetfilterMessage::parse_with_param(message.payload(), message.message_type());
        if let Ok(NetfilterMessage {
            inner: NetfilterMessageInner::NfTables(NfTablesMessage::NewGen(answer)),
            ..
        }) = parsed
        {
            id = answer.attributes.iter().find_map(|a| match a {
                GenAttribute::Id(id) => Some(*id),
                _ => None,
            });
        }
        ControlFlow::Break(())
    })?;
    id.ok_or_else(|| io::Error::other("no generation id in the kernel's answer"))
}

/// The nf_tables messages of a dump (`request` with NLM_F_DUMP), parsed;
/// parts that do not parse are skipped.
pub(crate) fn dump(request: &[u8]) -> io::Result<Vec<(NetfilterProtoFamily, NfTablesMessage)>> {
    let mut messages = Vec::new();
    exchange_raw(request, |reply, message| {
        if let Reply::Nft(_) = reply {
            let parsed =
                NetfilterMessage::parse_with_param(message.payload(), message.message_type());
            if let Ok(NetfilterMessage {
                header,
                inner: NetfilterMessageInner::NfTables(nft),
                ..
            }) = parsed
            {
                messages.push((header.family, nft));
            }
        }
        ControlFlow::Continue(())
    })?;
    Ok(messages)
}

/// [`exchange`], handing on each message's bytes too.
fn exchange_raw(
    request: &[u8],
    mut on_reply: impl FnMut(Reply, &NetlinkBuffer<&[u8]>) -> ControlFlow<()>,
) -> io::Result<()> {
    let fd = open_socket(Purpose::Requests)?;
    if request.len() > SEND_BUFFER_KEPT {
        // A transaction must reach the kernel in one message; the default
        // send buffer (about 200 KiB) refuses a larger one with EMSGSIZE.
        // Root may raise it past net.core.wmem_max, as nft does.
        setsockopt(&fd, SndBufForce, &(request.len() * 2))?;
    }
    send(fd.as_raw_fd(), request, MsgFlags::empty())?;
    let mut buffer = vec![0u8; RECEIVE_BUFFER];
    loop {
        let len = recv(fd.as_raw_fd(), &mut buffer, MsgFlags::empty())?;
        let mut at = 0;
        while at < len {
            let message = NetlinkBuffer::new_checked(&buffer[at..len]).map_err(invalid)?;
            let Some(reply) = reply(&message)? else {
                return Ok(());
            };
            if on_reply(reply, &message).is_break() {
                return Ok(());
            }
            at += align(message.length() as usize);
        }
    }
}

/// What one message says; `None` for the end of a dump.
fn reply(message: &NetlinkBuffer<&[u8]>) -> io::Result<Option<Reply>> {
    let kind = message.message_type();
    Ok(Some(match kind {
        NLMSG_DONE => return Ok(None),
        NLMSG_ERROR => match ErrorBuffer::new_checked(message.payload())
            .map_err(invalid)?
            .code()
        {
            // `struct nlmsgerr.error` is a negative errno (netlink.h).
            Some(code) => return Err(io::Error::from_raw_os_error(-code.get())),
            None => Reply::Ack,
        },
        // NFNL_SUBSYS_ID and NFNL_MSG_TYPE (nfnetlink.h).
        _ if NetfilterSubsystem::from((kind >> 8) as u8) == NetfilterSubsystem::NfTables => {
            Reply::Nft(NfTablesMessageType::from(kind as u8))
        }
        _ => Reply::Other,
    }))
}

/// Loads `len` bytes at `offset` of `base` into register 1.
pub(crate) fn load(base: u32, offset: u32, len: u32) -> ListAttribute<ExpressionAttribute> {
    Expressions::Payload(vec![
        Payload::DestinationRegister(Register::Reg1),
        Payload::Base(base),
        Payload::Offset(offset),
        Payload::Len(len),
    ])
    .into()
}

/// Register 1 equals `value`, or the rule stops here.
pub(crate) fn equals(value: &[u8]) -> ListAttribute<ExpressionAttribute> {
    Expressions::Cmp(vec![
        Cmp::SourceRegister(Register::Reg1),
        Cmp::Op(Operator::Equal),
        Cmp::Data(DataAttribute::Value(value.to_vec())),
    ])
    .into()
}

/// NLMSG_ALIGN (netlink.h): messages start on 4-byte boundaries.
fn align(len: usize) -> usize {
    let to = NLMSG_ALIGNTO as usize;
    (len + to - 1) & !(to - 1)
}

fn invalid(err: DecodeError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, err)
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroI32;

    use netlink_packet_core::ErrorMessage;

    use super::*;

    const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
    const NFNL_MSG_BATCH_END: u16 = 0x11;

    #[test]
    fn a_batch_is_framed_by_begin_and_end() {
        let (bytes, acks) = Batch::new(NetfilterProtoFamily::IPv4).end();
        let begin = NetlinkBuffer::new_checked(&bytes[..]).unwrap();
        let end = NetlinkBuffer::new_checked(&bytes[begin.length() as usize..]).unwrap();
        assert_eq!(
            (begin.message_type(), end.message_type()),
            (NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END)
        );
        assert_eq!(acks, 0);
    }

    /// An NLMSG_ERROR carrying `code` (0 for an acknowledgement).
    fn error(code: i32) -> Vec<u8> {
        let mut error = ErrorMessage::default();
        error.code = NonZeroI32::new(code);
        let mut packet = NetlinkMessage::<NetfilterMessage>::new(
            NetlinkHeader::default(),
            NetlinkPayload::Error(error),
        );
        packet.finalize();
        let mut bytes = vec![0; packet.buffer_len()];
        packet.serialize(&mut bytes);
        bytes
    }

    #[test]
    fn an_error_ends_the_exchange_with_its_errno() {
        let nack = error(-libc::ENOENT);
        let err = reply(&NetlinkBuffer::new_checked(&nack[..]).unwrap()).err();
        assert_eq!(err.and_then(|err| err.raw_os_error()), Some(libc::ENOENT));
        let ack = error(0);
        let ack = reply(&NetlinkBuffer::new_checked(&ack[..]).unwrap()).unwrap();
        assert!(matches!(ack, Some(Reply::Ack)));
    }
}
