//! Routes: the default route of a sandbox (moved when its way out
//! changes) and the prefixes the host already routes (kept clear of new
//! subnets).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures_util::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::RouteMessageBuilder;

use super::{kernel, LinkError, Links};

impl Links {
    /// Adds a default route via `gateway`.
    pub async fn add_default_route(&self, gateway: IpAddr) -> Result<(), LinkError> {
        let message = match gateway {
            IpAddr::V4(v4) => RouteMessageBuilder::<Ipv4Addr>::new().gateway(v4).build(),
            IpAddr::V6(v6) => RouteMessageBuilder::<Ipv6Addr>::new().gateway(v6).build(),
        };
        self.handle
            .route()
            .add(message)
            .execute()
            .await
            .map_err(kernel("add default route via", gateway.to_string()))
    }

    /// Deletes every default route (IPv4 and IPv6) of the main table:
    /// before the way out moves to another network.
    pub async fn delete_default_routes(&self) -> Result<(), LinkError> {
        for request in [
            RouteMessageBuilder::<Ipv4Addr>::new().build(),
            RouteMessageBuilder::<Ipv6Addr>::new().build(),
        ] {
            let mut defaults = Vec::new();
            let mut routes = self.handle.route().get(request).execute();
            while let Some(route) = routes
                .try_next()
                .await
                .map_err(kernel("list routes", "default"))?
            {
                let main = route.header.table == libc::RT_TABLE_MAIN;
                if main && route.header.destination_prefix_length == 0 {
                    defaults.push(route);
                }
            }
            for route in defaults {
                self.handle
                    .route()
                    .del(route)
                    .execute()
                    .await
                    .map_err(kernel("delete route", "default"))?;
            }
        }
        Ok(())
    }

    /// Every IPv4 and IPv6 destination in the main routing table, to keep
    /// new subnets clear of networks the host already reaches.
    pub async fn routed_prefixes(&self) -> Result<Vec<IpNet>, LinkError> {
        let mut prefixes = Vec::new();
        for request in [
            RouteMessageBuilder::<Ipv4Addr>::new().build(),
            RouteMessageBuilder::<Ipv6Addr>::new().build(),
        ] {
            let mut routes = self.handle.route().get(request).execute();
            while let Some(route) = routes
                .try_next()
                .await
                .map_err(kernel("list routes", "main"))?
            {
                let prefix_len = route.header.destination_prefix_length;
                let destination = route.attributes.iter().find_map(|a| match a {
                    rtnetlink::packet_route::route::RouteAttribute::Destination(d) => match d {
                        rtnetlink::packet_route::route::RouteAddress::Inet(v4) => {
                            Some(IpAddr::V4(*v4))
                        }
                        rtnetlink::packet_route::route::RouteAddress::Inet6(v6) => {
                            Some(IpAddr::V6(*v6))
                        }
                        _ => None,
                    },
                    _ => None,
                });
                if let Some(net) = destination.and_then(|d| IpNet::new(d, prefix_len).ok()) {
                    if prefix_len > 0 && !net.addr().is_loopback() && !is_link_local(&net) {
                        prefixes.push(net);
                    }
                }
            }
        }
        Ok(prefixes)
    }
}

/// Link-local and multicast prefixes, which every interface has and no
/// subnet would clash with.
fn is_link_local(net: &IpNet) -> bool {
    match net.addr() {
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80 || v6.is_multicast(),
        IpAddr::V4(v4) => v4.is_link_local() || v4.is_multicast(),
    }
}
