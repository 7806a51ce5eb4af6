//! Published ports, written as Docker's `-p` takes them:
//! `[IP:][HOSTPORT:]CONTAINERPORT[/PROTO]`, an IPv6 host address in
//! brackets (`[::1]:8080:80`). A missing host port means one from the
//! ephemeral range, chosen when the sandbox is made; a missing address
//! means every address of the host (the network's `host_binding_ipv4`
//! when it has one).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use thiserror::Error;

use crate::Protocol;

/// One `-p` mapping as asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortMapping {
    /// The host address it is published on; all of them when `None`.
    pub host_ip: Option<IpAddr>,
    /// The host port; an ephemeral one when `None`.
    pub host_port: Option<u16>,
    /// The port inside the sandbox.
    pub container_port: u16,
    /// Its transport protocol.
    pub protocol: Protocol,
}

/// Why a `-p` text was refused; it names the text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid publish spec {value:?}: {reason}")]
pub struct PortMappingError {
    /// The offending text.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FromStr for PortMapping {
    type Err = PortMappingError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| PortMappingError {
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        let (ports, protocol) = match value.rsplit_once('/') {
            Some((ports, protocol)) => (
                ports,
                Protocol::parse(protocol)
                    .ok_or_else(|| fail("the protocol must be tcp, udp or sctp"))?,
            ),
            None => (value, Protocol::Tcp),
        };
        let (host_ip, ports) = split_host_ip(ports).map_err(|reason| fail(&reason))?;
        let parts: Vec<&str> = ports.split(':').collect();
        let (host_port, container_port) = match parts.as_slice() {
            [container] => (None, port(container).map_err(|r| fail(&r))?),
            ["", container] => (None, port(container).map_err(|r| fail(&r))?),
            [host, container] => (
                Some(port(host).map_err(|r| fail(&r))?),
                port(container).map_err(|r| fail(&r))?,
            ),
            _ => return Err(fail("expected [IP:][HOSTPORT:]CONTAINERPORT[/PROTO]")),
        };
        Ok(PortMapping {
            host_ip,
            host_port,
            container_port,
            protocol,
        })
    }
}

/// Splits a leading host address off `text`: `IP:REST` for IPv4,
/// `[IPv6]:REST` for IPv6. Three colon-separated parts mean the first is
/// an address (Docker's rule); two are `HOSTPORT:CONTAINERPORT`.
fn split_host_ip(text: &str) -> Result<(Option<IpAddr>, &str), String> {
    if let Some(rest) = text.strip_prefix('[') {
        let (address, rest) = rest
            .split_once("]:")
            .ok_or("an IPv6 address in brackets must be followed by ':'")?;
        let address: IpAddr = address
            .parse()
            .map_err(|_| format!("{address:?} is not an IP address"))?;
        return Ok((Some(address), rest));
    }
    if text.matches(':').count() < 2 {
        return Ok((None, text));
    }
    let (address, rest) = text.split_once(':').expect("two colons");
    if address.is_empty() {
        return Ok((None, rest));
    }
    let address: IpAddr = address
        .parse()
        .map_err(|_| format!("{address:?} is not an IP address"))?;
    Ok((Some(address), rest))
}

/// A port number from 1 to 65535; ranges are named as unsupported.
fn port(text: &str) -> Result<u16, String> {
    if text.contains('-') {
        return Err(format!(
            "port ranges ({text}) are not supported; publish each port"
        ));
    }
    match text.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!("{text:?} is not a port from 1 to 65535")),
    }
}

impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host_ip {
            Some(IpAddr::V6(v6)) => write!(f, "[{v6}]:")?,
            Some(IpAddr::V4(v4)) => write!(f, "{v4}:")?,
            None => {}
        }
        match (self.host_port, self.host_ip) {
            (Some(port), _) => write!(f, "{port}:")?,
            (None, Some(_)) => write!(f, ":")?,
            (None, None) => {}
        }
        write!(f, "{}/{}", self.container_port, self.protocol.as_str())
    }
}

serde_as_text!(PortMapping);

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> PortMapping {
        text.parse().unwrap_or_else(|err| panic!("{err}"))
    }

    #[test]
    fn dockers_forms_parse_and_print_round_trip() {
        for (text, printed) in [
            ("80", "80/tcp"),
            ("8080:80", "8080:80/tcp"),
            ("8080:80/udp", "8080:80/udp"),
            ("127.0.0.1:8080:80", "127.0.0.1:8080:80/tcp"),
            ("127.0.0.1::80", "127.0.0.1::80/tcp"),
            ("[::1]:8080:80/sctp", "[::1]:8080:80/sctp"),
            ("0.0.0.0:81:80/TCP", "0.0.0.0:81:80/tcp"),
        ] {
            let mapping = parse(text);
            assert_eq!(mapping.to_string(), printed, "{text}");
            assert_eq!(parse(printed), mapping, "{printed}");
        }
        let full = parse("10.0.0.1:8080:80/udp");
        assert_eq!(full.host_ip, Some("10.0.0.1".parse().unwrap()));
        assert_eq!((full.host_port, full.container_port), (Some(8080), 80));
        assert_eq!(full.protocol, Protocol::Udp);
        assert_eq!(parse("80").host_port, None);
    }

    #[test]
    fn bad_texts_are_refused_naming_them() {
        for (bad, why) in [
            ("", "not a port"),
            ("0", "not a port"),
            ("70000", "not a port"),
            ("80/icmp", "tcp, udp or sctp"),
            ("8000-8010:80-90", "ranges"),
            ("nowhere:80:80", "not an IP address"),
            ("[::1:80", "followed by ':'"),
            ("1:2:3:4", "not an IP address"),
        ] {
            let err = bad.parse::<PortMapping>().unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
