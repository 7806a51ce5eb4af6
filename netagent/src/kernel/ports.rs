//! Host ports held for published ports: a bound socket per port (never
//! listening, so nothing is ever accepted on it), which keeps a host
//! process from taking a port the firewall sends to a sandbox, and finds
//! one that already has it. No process per port, unlike docker-proxy.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

/// IANA protocol numbers of the transports that can be published.
pub const TCP: u8 = 6;
/// UDP
pub const UDP: u8 = 17;
/// SCTP
pub const SCTP: u8 = 132;

/// A held host port.
#[derive(Debug)]
pub struct Reservation {
    /// The port (the kernel's choice when 0 was asked for).
    pub port: u16,
    /// Held, not read: closing it frees the port. `None` when the kernel
    /// has no such transport (SCTP without its module): nothing to hold.
    _socket: Option<Socket>,
}

/// Binds `protocol` on `address` (every IPv4 address when `None`) and
/// `port`, 0 for one from the ephemeral range
/// (`net.ipv4.ip_local_port_range`). EADDRINUSE means someone has it.
pub fn reserve(protocol: u8, address: Option<IpAddr>, port: u16) -> io::Result<Reservation> {
    let address = address.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let domain = Domain::for_address(SocketAddr::new(address, port));
    let (kind, proto) = match protocol {
        UDP => (Type::DGRAM, Protocol::UDP),
        TCP => (Type::STREAM, Protocol::TCP),
        other => (Type::STREAM, Protocol::from(i32::from(other))),
    };
    let socket = match Socket::new(domain, kind, Some(proto)) {
        Ok(socket) => socket,
        Err(err)
            if protocol == SCTP
                && matches!(
                    err.raw_os_error(),
                    Some(libc::EPROTONOSUPPORT | libc::ESOCKTNOSUPPORT)
                ) =>
        {
            if port == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "SCTP is not available to choose a host port: give one",
                ));
            }
            return Ok(Reservation {
                port,
                _socket: None,
            });
        }
        Err(err) => return Err(err),
    };
    if domain == Domain::IPV6 {
        // `[::]:PORT` then holds the IPv6 side only; IPv4 has its own.
        socket.set_only_v6(true)?;
    }
    socket.set_cloexec(true)?;
    socket.bind(&SocketAddr::new(address, port).into())?;
    let port = socket
        .local_addr()?
        .as_socket()
        .map(|a| a.port())
        .unwrap_or(port);
    Ok(Reservation {
        port,
        _socket: Some(socket),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_port_cannot_be_taken_again() {
        let first = reserve(TCP, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)), 0).unwrap();
        assert_ne!(first.port, 0, "an ephemeral port was chosen");
        let again = reserve(TCP, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)), first.port);
        assert_eq!(again.unwrap_err().raw_os_error(), Some(libc::EADDRINUSE));
        let udp = reserve(UDP, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)), first.port);
        assert!(udp.is_ok(), "UDP is another port space");
        drop(first);
    }
}
