//! VXLAN for overlay networks: one device per network on this host,
//! enslaved to the network's bridge, and for every endpoint on another
//! host a static forwarding entry (its MAC -> that host's underlay
//! address) and static neighbour entries (its IPv4 and IPv6 addresses ->
//! its MAC).
//!
//! No multicast group, no learning, no flooding: the device has no
//! all-zeros forwarding entry, so an unknown destination is dropped, and
//! it answers ARP (and IPv6 neighbour solicitations) itself from its
//! neighbour table (`proxy`, Docker's "ARP reduction"), so a sandbox's ARP
//! broadcast never crosses hosts.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rtnetlink::packet_route::neighbour::{NeighbourFlags, NeighbourMessage, NeighbourState};
use rtnetlink::LinkVxlan;

use super::link::{kernel, LinkError, Links};

/// IANA's VXLAN port (RFC 7348).
pub const VXLAN_PORT: u16 = 4789;

/// Bytes VXLAN adds to a frame over IPv4 (outer IP 20, UDP 8, VXLAN 8,
/// inner Ethernet 14): an overlay's MTU is the underlay's less this.
pub const VXLAN_OVERHEAD: u32 = 50;

/// One remote endpoint as the kernel needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RemoteEntry {
    /// Its address on the overlay.
    pub ip: Ipv4Addr,
    /// Its IPv6 address, on a network with IPv6.
    pub ip6: Option<Ipv6Addr>,
    /// Its interface's MAC.
    pub mac: [u8; 6],
    /// The underlay address of the host it lives on.
    pub host: Ipv4Addr,
}

impl Links {
    /// Creates the VXLAN device `name` (id `vni`, sourced from `local`)
    /// on the bridge `bridge` and brings it up; `mtu` should be the
    /// bridge's.
    pub async fn create_vxlan(
        &self,
        name: &str,
        vni: u32,
        local: Ipv4Addr,
        bridge: u32,
        mtu: u32,
    ) -> Result<u32, LinkError> {
        let message = LinkVxlan::new(name, vni)
            .local(local)
            .port(VXLAN_PORT)
            .learning(false)
            .proxy(true)
            .mtu(mtu)
            .controller(bridge)
            .build();
        self.handle()
            .link()
            .add(message)
            .execute()
            .await
            .map_err(kernel("create vxlan", name))?;
        let index = self.existing_index(name, "create vxlan").await?;
        self.set_up(index, name).await?;
        Ok(index)
    }

    /// The MTU of the link that holds `address` (the underlay's, for the
    /// advertised address), if one does.
    pub async fn mtu_of_address(&self, address: Ipv4Addr) -> Result<Option<u32>, LinkError> {
        use futures_util::TryStreamExt;
        use rtnetlink::packet_route::link::LinkAttribute;
        let what = || address.to_string();
        let mut addresses = self
            .handle()
            .address()
            .get()
            .set_address_filter(IpAddr::V4(address))
            .execute();
        let Some(found) = addresses
            .try_next()
            .await
            .map_err(kernel("find address", what()))?
        else {
            return Ok(None);
        };
        let mut links = self
            .handle()
            .link()
            .get()
            .match_index(found.header.index)
            .execute();
        let link = links
            .try_next()
            .await
            .map_err(kernel("find link of", what()))?;
        Ok(link.and_then(|l| {
            l.attributes.into_iter().find_map(|a| match a {
                LinkAttribute::Mtu(mtu) => Some(mtu),
                _ => None,
            })
        }))
    }

    /// Programs one remote endpoint on the VXLAN device `index`: its
    /// forwarding entry, then its neighbour entry. Replaces what was there.
    pub async fn add_remote(&self, index: u32, entry: RemoteEntry) -> Result<(), LinkError> {
        let what = || format!("{} at {}", entry.ip, entry.host);
        let neighbours = self.handle().neighbours();
        let mut fdb = neighbours
            .add_bridge(index, &entry.mac)
            .destination(IpAddr::V4(entry.host))
            .replace();
        // `bridge fdb replace ... self permanent`: the device's own table.
        fdb.message_mut().header.flags = NeighbourFlags::Own;
        fdb.execute()
            .await
            .map_err(kernel("add fdb entry", what()))?;
        let ips = [Some(IpAddr::V4(entry.ip)), entry.ip6.map(IpAddr::V6)];
        for ip in ips.into_iter().flatten() {
            neighbours
                .add(index, ip)
                .link_layer_address(&entry.mac)
                .state(NeighbourState::Permanent)
                .replace()
                .execute()
                .await
                .map_err(kernel("add neighbour", format!("{ip} at {}", entry.host)))?;
        }
        Ok(())
    }

    /// Removes one remote endpoint's entries; entries already gone are not
    /// an error.
    pub async fn remove_remote(&self, index: u32, entry: RemoteEntry) -> Result<(), LinkError> {
        use rtnetlink::packet_route::neighbour::NeighbourAddress;
        use rtnetlink::packet_route::AddressFamily;
        let what = || format!("{} at {}", entry.ip, entry.host);
        let ips = [
            Some((AddressFamily::Inet, NeighbourAddress::Inet(entry.ip))),
            entry
                .ip6
                .map(|ip6| (AddressFamily::Inet6, NeighbourAddress::Inet6(ip6))),
        ];
        for (family, address) in ips.into_iter().flatten() {
            let mut neighbour = NeighbourMessage::default();
            neighbour.header.family = family;
            neighbour.header.ifindex = index;
            neighbour
                .attributes
                .push(rtnetlink::packet_route::neighbour::NeighbourAttribute::Destination(address));
            ignore_absent(self.handle().neighbours().del(neighbour).execute().await)
                .map_err(kernel("delete neighbour", what()))?;
        }
        let mut fdb = NeighbourMessage::default();
        fdb.header.family = rtnetlink::packet_route::AddressFamily::Bridge;
        fdb.header.ifindex = index;
        fdb.header.flags = NeighbourFlags::Own;
        fdb.attributes.push(
            rtnetlink::packet_route::neighbour::NeighbourAttribute::LinkLayerAddress(
                entry.mac.to_vec(),
            ),
        );
        fdb.attributes.push(
            rtnetlink::packet_route::neighbour::NeighbourAttribute::Destination(
                rtnetlink::packet_route::neighbour::NeighbourAddress::Inet(entry.host),
            ),
        );
        ignore_absent(self.handle().neighbours().del(fdb).execute().await)
            .map_err(kernel("delete fdb entry", what()))
    }
}

/// ENOENT (the entry is gone already) as success.
fn ignore_absent(result: Result<(), rtnetlink::Error>) -> Result<(), rtnetlink::Error> {
    match result {
        Err(rtnetlink::Error::NetlinkError(msg))
            if msg.code.map(|c| -c.get()) == Some(libc::ENOENT) =>
        {
            Ok(())
        }
        other => other,
    }
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}
