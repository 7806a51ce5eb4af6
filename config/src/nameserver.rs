//! Upstream name server addresses as users write them: `10.0.0.1`,
//! `10.0.0.1:5353`, `fd00::1`, `[fd00::1]:53`, `fe80::1%eth0`.
//!
//! Docker's `--dns` takes an address only; netagent also takes a port so
//! that a server on a non-standard port (or a test's fake) can be used.
//! A link-local IPv6 address needs its interface (RFC 4007 section 11):
//! `%NAME` is looked up, `%INDEX` taken as it is.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::str::FromStr;

use thiserror::Error;

/// The DNS port (RFC 1035 section 4.2).
pub const DNS_PORT: u16 = 53;

/// One upstream server: address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NameServer(pub SocketAddr);

/// Why a name server text was refused; it names the text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{value:?} is not a name server address: {reason}")]
pub struct NameServerError {
    /// The offending text.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FromStr for NameServer {
    type Err = NameServerError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| NameServerError {
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        if let Ok(addr) = value.parse::<SocketAddr>() {
            return Ok(NameServer(addr));
        }
        if let Ok(ip) = value.parse::<IpAddr>() {
            return Ok(NameServer(SocketAddr::new(ip, DNS_PORT)));
        }
        let (address, scope) = value
            .split_once('%')
            .ok_or_else(|| fail("expected IP, IP:PORT or [IPv6]:PORT"))?;
        let ip: Ipv6Addr = address
            .parse()
            .map_err(|_| fail("only an IPv6 address takes a %scope"))?;
        let scope_id =
            scope_index(scope).ok_or_else(|| fail(&format!("no network interface {scope:?}")))?;
        Ok(NameServer(SocketAddr::V6(SocketAddrV6::new(
            ip, DNS_PORT, 0, scope_id,
        ))))
    }
}

fn scope_index(scope: &str) -> Option<u32> {
    if let Ok(index) = scope.parse() {
        return Some(index);
    }
    nix::net::if_::if_nametoindex(scope).ok()
}

/// The embedded resolver's address, as sandboxes see it (Docker's).
pub const EMBEDDED_RESOLVER: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 11);

impl NameServer {
    /// Whether this is the embedded resolver's own address, which as an
    /// upstream would send every query back to itself.
    pub fn is_embedded_resolver(&self) -> bool {
        self.0.ip() == IpAddr::V4(EMBEDDED_RESOLVER)
    }
}

impl fmt::Display for NameServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.port() == DNS_PORT {
            match self.0 {
                SocketAddr::V6(v6) if v6.scope_id() != 0 => {
                    write!(f, "{}%{}", v6.ip(), v6.scope_id())
                }
                addr => write!(f, "{}", addr.ip()),
            }
        } else {
            write!(f, "{}", self.0)
        }
    }
}

serde_as_text!(NameServer);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_written_form_and_prints_it_back() {
        for (text, addr, printed) in [
            ("10.0.0.1", "10.0.0.1:53", "10.0.0.1"),
            ("10.0.0.1:5353", "10.0.0.1:5353", "10.0.0.1:5353"),
            ("fd00::1", "[fd00::1]:53", "fd00::1"),
            ("[fd00::1]:54", "[fd00::1]:54", "[fd00::1]:54"),
            ("fe80::1%1", "[fe80::1%1]:53", "fe80::1%1"),
            ("fe80::1%lo", "[fe80::1%1]:53", "fe80::1%1"),
        ] {
            let server: NameServer = text.parse().unwrap();
            assert_eq!(server.0, addr.parse::<SocketAddr>().unwrap(), "{text}");
            assert_eq!(server.to_string(), printed);
        }
    }

    #[test]
    fn refuses_bad_texts_naming_them() {
        for bad in [
            "dns.example",
            "10.0.0.1%eth0",
            "fe80::1%no-such-if0",
            "10.0.0.256",
        ] {
            let err = bad.parse::<NameServer>().unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
        assert!("127.0.0.11"
            .parse::<NameServer>()
            .unwrap()
            .is_embedded_resolver());
    }
}
