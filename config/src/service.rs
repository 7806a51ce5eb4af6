//! Exposed ports, written `SERVICE=PORT/PROTO` (`http=80/tcp`) or, as
//! Docker's `--expose` takes them, `PORT[/PROTO]` (no service name).
//!
//! The resolver answers SRV queries `_SERVICE._PROTO.NAME` from them
//! (RFC 2782). Service names follow RFC 6335 section 5.1: 1 to 15
//! characters, letters, digits and hyphens, at least one letter, no hyphen
//! at either end or twice in a row.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Transport protocol of an exposed port: the `_PROTO` label of an SRV name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `_tcp`
    Tcp,
    /// `_udp`
    Udp,
    /// `_sctp`
    Sctp,
}

impl Protocol {
    /// The protocol's name as it appears in `SERVICE=PORT/PROTO` and, with
    /// a leading underscore, in SRV owner names.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }

    /// Parses `tcp`, `udp` or `sctp` in any letter case.
    pub fn parse(text: &str) -> Option<Protocol> {
        [Protocol::Tcp, Protocol::Udp, Protocol::Sctp]
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(text))
    }
}

/// One exposed port: `SERVICE=PORT/PROTO`, or Docker's `PORT[/PROTO]`
/// (an empty service: published by `-P`, but no SRV record).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServicePort {
    /// Service name, stored in lower case (DNS compares names without case).
    pub service: String,
    /// Port number, 1 to 65535.
    pub port: u16,
    /// Transport protocol.
    pub protocol: Protocol,
}

/// Why a `SERVICE=PORT/PROTO` text was refused; it names the text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{value:?} is not SERVICE=PORT/PROTO: {reason}")]
pub struct ServicePortError {
    /// The offending text.
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl FromStr for ServicePort {
    type Err = ServicePortError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let fail = |reason| ServicePortError {
            value: value.to_owned(),
            reason,
        };
        // Docker's own form, `PORT[/PROTO]`: exposed, with no service name
        // (so no SRV record), tcp unless said.
        let (service, rest) = match value.split_once('=') {
            Some(("", _)) => return Err(fail("the service name before '=' is empty")),
            Some((service, rest)) => (service, rest),
            None => ("", value),
        };
        let (port, protocol) = match rest.split_once('/') {
            Some(pair) => pair,
            None if service.is_empty() => (rest, "tcp"),
            None => return Err(fail("no '/PROTO'")),
        };
        if !service.is_empty() && !is_service_name(service) {
            return Err(fail(
                "the service name must be 1-15 letters, digits or inner hyphens (RFC 6335)",
            ));
        }
        let port: u16 = port
            .parse()
            .map_err(|_| fail("the port is not a number from 1 to 65535"))?;
        if port == 0 {
            return Err(fail("the port is not a number from 1 to 65535"));
        }
        let protocol = Protocol::parse(protocol).ok_or(fail("PROTO must be tcp, udp or sctp"))?;
        Ok(ServicePort {
            service: service.to_ascii_lowercase(),
            port,
            protocol,
        })
    }
}

/// RFC 6335 section 5.1 service names.
fn is_service_name(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && name.bytes().any(|b| b.is_ascii_alphabetic())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

impl fmt::Display for ServicePort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.service.is_empty() {
            write!(f, "{}=", self.service)?;
        }
        write!(f, "{}/{}", self.port, self.protocol.as_str())
    }
}

serde_as_text!(ServicePort);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_round_trip() {
        let port: ServicePort = "HTTP=8080/TCP".parse().unwrap();
        assert_eq!(port.service, "http");
        assert_eq!(port.port, 8080);
        assert_eq!(port.protocol, Protocol::Tcp);
        assert_eq!(port.to_string(), "http=8080/tcp");
    }

    #[test]
    fn dockers_port_form_has_no_service() {
        let port: ServicePort = "8080".parse().unwrap();
        assert_eq!(
            (port.service.as_str(), port.port, port.protocol),
            ("", 8080, Protocol::Tcp)
        );
        assert_eq!(port.to_string(), "8080/tcp");
        let udp: ServicePort = "53/udp".parse().unwrap();
        assert_eq!(udp.to_string(), "53/udp");
        assert_eq!(udp.to_string().parse::<ServicePort>().unwrap(), udp);
    }

    #[test]
    fn refuses_bad_texts_naming_them() {
        for bad in [
            "http",
            "http=80",
            "80-90/tcp",
            "=80/tcp",
            "http=0/tcp",
            "http=70000/tcp",
            "http=80/icmp",
            "-web=80/tcp",
            "a-very-long-service-name=1/tcp",
            "123=80/tcp",
        ] {
            let err = bad.parse::<ServicePort>().unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }
}
