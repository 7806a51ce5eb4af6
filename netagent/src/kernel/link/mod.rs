//! Links, addresses and routes over rtnetlink (DESIGN.md, seam 6).
//!
//! A [`Links`] talks to the kernel of the namespace its netlink socket was
//! made in: the agent's own for bridges and host-side veth ends, a
//! sandbox's (socket made by the namespace worker) for `lo`, `ethN`, the
//! sandbox's addresses and its default route. Errors name the link and
//! the step, and "exists already" is said in words (EEXIST).
//!
//! - `route`: default routes and the prefixes the host routes.
//! - `nsid`: the ids this namespace gives others (for their events).

use std::os::fd::{AsRawFd, BorrowedFd};

use futures_util::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::packet_route::link::{
    AfSpecInet6, AfSpecUnspec, In6AddrGenMode, InfoBridgePort, InfoData, InfoVeth, LinkAttribute,
    LinkMessage,
};
use rtnetlink::{Handle, LinkBridge, LinkBridgePort, LinkMessageBuilder, LinkUnspec, LinkVeth};
use thiserror::Error;

mod nsid;
mod route;

/// How a veth's host end sits on its bridge.
#[derive(Debug, Clone, Copy, Default)]
pub struct PortOptions {
    /// MTU of both ends; the kernel's default when `None`.
    pub mtu: Option<u32>,
    /// An isolated port: no frames to or from other isolated ports of the
    /// bridge (a network with ICC off), only to the bridge itself.
    pub isolated: bool,
    /// Hairpin mode: frames may go back out the port they came in by.
    /// With br_netfilter loaded, a sandbox reaching its own published port
    /// is translated at the bridge and sent back to its own port (Docker
    /// sets it with `userland-proxy=false` for the same reason).
    pub hairpin: bool,
}

/// A failed link operation.
#[derive(Debug, Error)]
pub enum LinkError {
    /// The kernel refused a step.
    #[error("{step} {name}: {message}")]
    Kernel {
        /// What was being done.
        step: &'static str,
        /// The link (or address) it was done to.
        name: String,
        /// The kernel's reason, in words.
        message: String,
    },
    /// The netlink socket could not be made.
    #[error("netlink: {0}")]
    Socket(#[from] std::io::Error),
}

/// A random locally administered unicast MAC (IEEE 802: the second-lowest
/// bit of the first byte set, the lowest clear), for a bridge.
fn bridge_mac() -> [u8; 6] {
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&fastrand::u64(..).to_ne_bytes()[..6]);
    mac[0] = (mac[0] & 0xfe) | 0x02;
    mac
}

pub(super) fn kernel(
    step: &'static str,
    name: impl Into<String>,
) -> impl FnOnce(rtnetlink::Error) -> LinkError {
    let name = name.into();
    move |err| {
        let message = match &err {
            rtnetlink::Error::NetlinkError(msg) => match msg.code.map(|c| -c.get()) {
                Some(libc::EEXIST) => "exists already".to_owned(),
                Some(libc::ENODEV) => "no such link".to_owned(),
                Some(code) => std::io::Error::from_raw_os_error(code).to_string(),
                None => err.to_string(),
            },
            _ => err.to_string(),
        };
        LinkError::Kernel {
            step,
            name,
            message,
        }
    }
}

/// An rtnetlink handle for one namespace.
#[derive(Clone)]
pub struct Links {
    handle: Handle,
}

impl Links {
    /// A handle on the calling thread's namespace; its connection runs on
    /// the current tokio runtime.
    pub fn here() -> Result<Links, LinkError> {
        Ok(Self::from_connection(Self::socket_here()?))
    }

    /// Makes the netlink socket now, without a runtime: for the namespace
    /// worker, which hands it back to [`Links::from_connection`].
    pub fn socket_here() -> std::io::Result<RawConnection> {
        // The third part receives multicast messages, which the agent
        // never subscribes to: dropped here.
        let (connection, handle, _) = rtnetlink::new_connection()?;
        Ok(RawConnection { connection, handle })
    }

    /// Spawns the connection made by [`Links::socket_here`].
    pub fn from_connection(raw: RawConnection) -> Links {
        tokio::spawn(raw.connection);
        Links { handle: raw.handle }
    }

    /// The link called `name`, if it exists.
    async fn link(&self, name: &str) -> Result<Option<LinkMessage>, LinkError> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_owned())
            .execute();
        match links.try_next().await {
            Ok(link) => Ok(link),
            Err(rtnetlink::Error::NetlinkError(msg))
                if msg.code.map(|c| -c.get()) == Some(libc::ENODEV) =>
            {
                Ok(None)
            }
            Err(err) => Err(kernel("find", name)(err)),
        }
    }

    /// The rtnetlink handle, for the sibling modules' own requests.
    pub(super) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The index of the link `name`, if it exists.
    pub async fn index_of(&self, name: &str) -> Result<Option<u32>, LinkError> {
        Ok(self.link(name).await?.map(|link| link.header.index))
    }

    /// Creates a bridge with `addresses` (gateways with their prefixes) and
    /// `mtu` (the kernel's default when `None`) and brings it up; returns
    /// its index.
    pub async fn create_bridge(
        &self,
        name: &str,
        addresses: &[IpNet],
        mtu: Option<u32>,
    ) -> Result<u32, LinkError> {
        // A bridge without an address of its own takes the lowest of its
        // ports' MACs, so the gateway's MAC changes when that port's
        // sandbox goes, and its peers send to the old one until their ARP
        // entries are probed again: 5-50 s with no way out
        // (containers/netavark#833). A fixed one of its own avoids it.
        let mut bridge = LinkBridge::new(name).address(bridge_mac().to_vec());
        if let Some(mtu) = mtu {
            bridge = bridge.mtu(mtu);
        }
        let bridge = bridge.build();
        self.handle
            .link()
            .add(bridge)
            .execute()
            .await
            .map_err(kernel("create bridge", name))?;
        let index = self.existing_index(name, "create bridge").await?;
        for address in addresses {
            self.add_address(index, *address, name).await?;
        }
        self.set_up(index, name).await?;
        Ok(index)
    }

    /// Creates a veth pair: `host_end` here, attached to the bridge
    /// `bridge` and up; `peer` made directly inside the namespace `peer_ns`
    /// (no window in which it sits in the host namespace).
    pub async fn create_veth(
        &self,
        host_end: &str,
        peer: &str,
        peer_ns: BorrowedFd<'_>,
        bridge: u32,
        port: PortOptions,
    ) -> Result<(), LinkError> {
        let index = self.create_pair(host_end, peer, peer_ns, port.mtu).await?;
        let attach = LinkUnspec::new_with_index(index)
            .controller(bridge)
            .up()
            .build();
        self.handle
            .link()
            .change(attach)
            .execute()
            .await
            .map_err(kernel("attach to bridge", host_end))?;
        if port.isolated || port.hairpin {
            let flags = LinkBridgePort::new(index)
                .append_info_data(InfoBridgePort::Isolated(port.isolated))
                .hairpin(port.hairpin)
                .build();
            self.handle
                .link()
                .change(flags)
                .execute()
                .await
                .map_err(kernel("set bridge port flags of", host_end))?;
        }
        Ok(())
    }

    /// Creates a veth pair, `peer` directly inside `peer_ns`, the host end
    /// down and without IPv6 addresses of its own; returns its index.
    pub async fn create_pair(
        &self,
        host_end: &str,
        peer: &str,
        peer_ns: BorrowedFd<'_>,
        mtu: Option<u32>,
    ) -> Result<u32, LinkError> {
        let mut peer_message = LinkMessageBuilder::<LinkUnspec>::new()
            .name(peer.to_owned())
            .setns_by_fd(peer_ns.as_raw_fd());
        let mut message = LinkVeth::new(host_end, peer);
        if let Some(mtu) = mtu {
            peer_message = peer_message.mtu(mtu);
            message = message.mtu(mtu);
        }
        let message = message
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_message.build())))
            .build();
        self.handle
            .link()
            .add(message)
            .execute()
            .await
            .map_err(kernel("create veth", host_end))?;
        let index = self.existing_index(host_end, "create veth").await?;
        // A bridge port needs no IPv6 address of its own.
        self.without_ipv6_addresses(index, host_end).await?;
        Ok(index)
    }

    /// Sets the MAC address of link `index` (`--mac-address`), before it
    /// is up.
    pub async fn set_mac(&self, index: u32, mac: [u8; 6], name: &str) -> Result<(), LinkError> {
        let message = LinkUnspec::new_with_index(index)
            .address(mac.to_vec())
            .build();
        self.handle
            .link()
            .change(message)
            .execute()
            .await
            .map_err(kernel("set MAC address", name))
    }

    /// The index of a link that must exist for `step` to go on.
    pub async fn existing_index(&self, name: &str, step: &'static str) -> Result<u32, LinkError> {
        self.index_of(name).await?.ok_or_else(|| LinkError::Kernel {
            step,
            name: name.to_owned(),
            message: "no such link".into(),
        })
    }

    /// Deletes the link `name`; a link already gone is not an error.
    pub async fn delete(&self, name: &str) -> Result<(), LinkError> {
        match self.index_of(name).await? {
            Some(index) => self
                .handle
                .link()
                .del(index)
                .execute()
                .await
                .map_err(kernel("delete", name)),
            None => Ok(()),
        }
    }

    /// Brings a link up.
    pub async fn set_up(&self, index: u32, name: &str) -> Result<(), LinkError> {
        let message: LinkMessage = LinkUnspec::new_with_index(index).up().build();
        self.handle
            .link()
            .change(message)
            .execute()
            .await
            .map_err(kernel("bring up", name))
    }

    /// Tells the kernel to give the link no IPv6 address of its own (no
    /// link-local address, so no duplicate address detection and no
    /// multicast listener reports when it comes up: work that otherwise
    /// grows with the number of sandboxes). Must come before the link is
    /// up. Said over netlink (`ip link set X addrgenmode none`) rather than
    /// through `net.ipv6.conf.X.disable_ipv6`: every namespace adds its own
    /// dentries under /proc/sys/net, so a path walk there costs time in
    /// proportion to the number of sandboxes on the host. A kernel without
    /// IPv6 has nothing to turn off.
    pub async fn without_ipv6_addresses(&self, index: u32, name: &str) -> Result<(), LinkError> {
        let mode = AfSpecInet6::AddrGenMode(In6AddrGenMode::None);
        let message = LinkUnspec::new_with_index(index)
            .append_extra_attribute(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
                vec![mode],
            )]))
            .build();
        match self.handle.link().change(message).execute().await {
            Err(rtnetlink::Error::NetlinkError(err))
                if err.code.map(|c| -c.get()) == Some(libc::EAFNOSUPPORT) =>
            {
                Ok(())
            }
            result => result.map_err(kernel("turn off IPv6 addresses of", name)),
        }
    }

    /// Brings up the link called `name`.
    pub async fn set_up_by_name(&self, name: &str) -> Result<u32, LinkError> {
        let index = self.existing_index(name, "bring up").await?;
        self.set_up(index, name).await?;
        Ok(index)
    }

    /// Adds an address with its prefix to a link.
    pub async fn add_address(
        &self,
        index: u32,
        address: IpNet,
        name: &str,
    ) -> Result<(), LinkError> {
        self.handle
            .address()
            .add(index, address.addr(), address.prefix_len())
            .execute()
            .await
            .map_err(kernel("add address", format!("{address} to {name}")))
    }

    /// The MAC address of a link, as `aa:bb:cc:dd:ee:ff`.
    pub async fn mac_of(&self, name: &str) -> Result<Option<String>, LinkError> {
        let Some(link) = self.link(name).await? else {
            return Ok(None);
        };
        Ok(link.attributes.iter().find_map(|a| match a {
            LinkAttribute::Address(mac) => Some(
                mac.iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":"),
            ),
            _ => None,
        }))
    }
}

/// An rtnetlink connection, made in one namespace and used from another
/// thread.
pub struct RawConnection {
    connection: rtnetlink::proto::Connection<rtnetlink::packet_route::RouteNetlinkMessage>,
    handle: Handle,
}
