//! Where the forwarder's sockets come from. A socket belongs to the network
//! namespace it was created in, whichever thread later uses it, so a
//! sandbox's own `--dns` servers are reached through sockets made inside
//! that sandbox (by the agent, at attach time) and the host's servers
//! through sockets of the agent's own namespace, where a resolver on
//! 127.0.0.53 answers (DESIGN.md, life of a query).

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The family of `addr`.
    pub fn of(addr: &SocketAddr) -> Family {
        if addr.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }
}

/// Makes sockets in one network namespace.
pub trait SocketFactory: Send + Sync + 'static {
    /// A UDP socket bound to a port the kernel picks at random.
    fn udp(&self, family: Family) -> io::Result<UdpSocket>;
    /// An unconnected TCP socket.
    fn tcp(&self, family: Family) -> io::Result<Socket>;
}

/// Sockets of the calling process's own namespace.
#[derive(Debug, Default, Clone, Copy)]
pub struct HostSockets;

impl SocketFactory for HostSockets {
    fn udp(&self, family: Family) -> io::Result<UdpSocket> {
        match family {
            Family::V4 => UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)),
            Family::V6 => UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0)),
        }
    }

    fn tcp(&self, family: Family) -> io::Result<Socket> {
        let domain = match family {
            Family::V4 => Domain::IPV4,
            Family::V6 => Domain::IPV6,
        };
        Socket::new(domain, Type::STREAM, Some(Protocol::TCP))
    }
}
