//! Namespace ids (nsids): the number this namespace knows another
//! namespace by, which tags the events a listener here hears from there
//! (netlink(7), `NETLINK_LISTEN_ALL_NSID`; `ip netns set`).

use std::os::fd::{AsRawFd, BorrowedFd};

use futures_util::StreamExt;
use netlink_packet_core::{NetlinkMessage, NLM_F_ACK, NLM_F_REQUEST};
use rtnetlink::packet_route::nsid::{NsidAttribute, NsidMessage};
use rtnetlink::packet_route::RouteNetlinkMessage;

use super::{kernel, LinkError, Links};

/// What the kernel says when a namespace has no id here
/// (`NETNSA_NSID_NOT_ASSIGNED`, linux/net_namespace.h).
const NOT_ASSIGNED: i32 = -1;

impl Links {
    /// The id this handle's namespace gives the namespace `netns`,
    /// assigned first when it has none (the kernel picks the lowest free
    /// number). It lasts as long as that namespace.
    pub async fn nsid_of(&self, netns: BorrowedFd<'_>) -> Result<i32, LinkError> {
        let fd = netns.as_raw_fd() as u32;
        if let Some(id) = self.get_nsid(fd).await? {
            return Ok(id);
        }
        let mut assign = NsidMessage::default();
        assign.attributes = vec![NsidAttribute::Fd(fd), NsidAttribute::Id(NOT_ASSIGNED)];
        let mut request = NetlinkMessage::from(RouteNetlinkMessage::NewNsId(assign));
        request.header.flags = NLM_F_REQUEST | NLM_F_ACK;
        let mut replies = self
            .handle()
            .clone()
            .request(request)
            .map_err(kernel("assign an id to namespace fd", fd.to_string()))?;
        while let Some(reply) = replies.next().await {
            if let netlink_packet_core::NetlinkPayload::Error(err) = reply.payload {
                // EEXIST: someone else gave it one meanwhile, read below.
                if err.code.is_some_and(|c| -c.get() != libc::EEXIST) {
                    return Err(kernel("assign an id to namespace fd", fd.to_string())(
                        rtnetlink::Error::NetlinkError(err),
                    ));
                }
            }
        }
        self.get_nsid(fd).await?.ok_or_else(|| LinkError::Kernel {
            step: "assign an id to namespace fd",
            name: fd.to_string(),
            message: "the kernel kept none".into(),
        })
    }

    /// The namespace's id here, if it has one (RTM_GETNSID).
    async fn get_nsid(&self, fd: u32) -> Result<Option<i32>, LinkError> {
        let mut query = NsidMessage::default();
        query.attributes = vec![NsidAttribute::Fd(fd)];
        let mut request = NetlinkMessage::from(RouteNetlinkMessage::GetNsId(query));
        request.header.flags = NLM_F_REQUEST;
        let step = "read the id of namespace fd";
        let mut replies = self
            .handle()
            .clone()
            .request(request)
            .map_err(kernel(step, fd.to_string()))?;
        match replies.next().await.map(|r| r.payload) {
            Some(netlink_packet_core::NetlinkPayload::InnerMessage(
                RouteNetlinkMessage::NewNsId(message),
            )) => Ok(message.attributes.iter().find_map(|a| match a {
                NsidAttribute::Id(id) if *id != NOT_ASSIGNED => Some(*id),
                _ => None,
            })),
            Some(netlink_packet_core::NetlinkPayload::Error(err)) => {
                Err(kernel(step, fd.to_string())(
                    rtnetlink::Error::NetlinkError(err),
                ))
            }
            other => Err(LinkError::Kernel {
                step,
                name: fd.to_string(),
                message: format!("unexpected reply {other:?}"),
            }),
        }
    }
}
