//! The answer logic: a pure function from (what a sandbox sees, one
//! question) to a [`Decision`] (DESIGN.md, seam 2). No sockets, no clock,
//! no I/O; the only impure input is the random generator that shuffles
//! addresses, passed in so tests can fix it.
//!
//! The rules, and why they differ from Docker's and aardvark-dns's, are in
//! REFERENCE.md. In short:
//! - a name of one of the sandbox's networks gets its addresses, merged over
//!   every network the sandbox shares with it, without duplicates, in a new
//!   order each time;
//! - a known name asked for another type gets NODATA (never forwarded:
//!   moby#20448, aardvark#679);
//! - `X.NETWORK` for a network the sandbox is not on gets NXDOMAIN without
//!   forwarding (Docker forwards and leaks the name);
//! - reverse lookups of the sandbox's networks' addresses get
//!   `SANDBOX.NETWORK.`, or SERVFAIL when that cannot be encoded
//!   (moby#46928);
//! - `_SERVICE._PROTO.NAME` gets SRV records from exposed ports (RFC 2782),
//!   which Docker documents but never fills (moby#24605);
//! - the sandboxes' own domain ([`LocalDomain`], `netagent.internal` by
//!   default) is one zone the resolver owns: `NAME.DOMAIN` is answered as
//!   `NAME` (`NAME.NETWORK.DOMAIN` as `NAME.NETWORK`, and SRV likewise),
//!   with the domain's apex owning the SOA of negative answers; any other
//!   name under it gets NXDOMAIN and is never forwarded (it would leak
//!   container names); the domain itself gets NODATA. The domain is
//!   matched before the table, so a container or network named like one of
//!   its labels cannot shadow it (`netagent` is the container,
//!   `netagent.internal` the apex). This is podman's `dns.podman`, which
//!   busybox's `nslookup NAME` needs: it never asks the bare `NAME`, only
//!   `NAME.<search domain>`, and the domain comes first in the sandbox's
//!   search list ([`crate::resolv_conf`]);
//! - anything else is forwarded.

use std::net::IpAddr;

use hickory_proto::op::Query;
use hickory_proto::rr::{DNSClass, Name, RecordType};

use crate::qname::{reverse_address, DomainPlace, LocalDomain, NameKey};
use crate::table::{SandboxView, ZoneEndpoint};

/// One record of a local answer. Answer records are owned by the query
/// name; additional records by their own name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalRecord {
    /// An address: A or AAAA by its family.
    Address(IpAddr),
    /// A reverse-lookup target.
    Ptr(Name),
    /// A service location (RFC 2782); priority and weight are 0.
    Srv {
        /// The service's port.
        port: u16,
        /// `SANDBOX.NETWORK.` of the endpoint offering it.
        target: Name,
    },
}

/// An address record for the additional section: the address of an SRV
/// target, so the client needs no second query (RFC 2782).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glue {
    /// The SRV target.
    pub name: Name,
    /// One of its addresses.
    pub address: IpAddr,
}

/// What to do with one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Answer from the table.
    Records {
        /// The answer section, owned by the query name.
        answers: Vec<LocalRecord>,
        /// The additional section.
        glue: Vec<Glue>,
    },
    /// The name exists here but has no record of the asked type: NOERROR
    /// with an empty answer and an SOA (RFC 2308 section 2.2).
    NoData {
        /// How many trailing labels of the query name make the SOA's owner.
        apex_labels: u8,
    },
    /// The name is in a zone the resolver owns and does not exist:
    /// NXDOMAIN with an SOA (RFC 2308 section 2.1).
    NxDomain {
        /// How many trailing labels of the query name make the SOA's owner.
        apex_labels: u8,
    },
    /// Not a local name: hand it to the upstream forwarder.
    Forward,
    /// A local answer exists but cannot be encoded.
    ServFail,
}

/// Decides how to answer `query` for the sandbox whose view is `view`,
/// `domain` being the sandboxes' own domain (off when empty).
pub fn answer(
    view: &SandboxView,
    query: &Query,
    domain: &LocalDomain,
    rng: &mut fastrand::Rng,
) -> Decision {
    // The whole domain is ours: nothing under it is ever forwarded, not
    // even a name the table could not hold or another class.
    let not_here = Decision::NxDomain {
        apex_labels: domain.labels(),
    };
    if query.query_class() != DNSClass::IN {
        return if domain.holds(query.name()) {
            not_here
        } else {
            Decision::Forward
        };
    }
    if query.query_type() == RecordType::PTR {
        if let Some(address) = reverse_address(query.name()) {
            return reverse(view, &address);
        }
    }
    let Some(mut key) = NameKey::of(query.name()) else {
        return if domain.holds(query.name()) {
            not_here
        } else {
            Decision::Forward
        };
    };
    match key.strip_domain(domain) {
        DomainPlace::Outside => {
            local(view, &key, query.query_type(), rng).unwrap_or(Decision::Forward)
        }
        DomainPlace::Apex => Decision::NoData {
            apex_labels: domain.labels(),
        },
        DomainPlace::Under => match local(view, &key, query.query_type(), rng) {
            // One zone, the domain: its apex owns the SOA of every negative
            // answer under it.
            Some(Decision::NoData { .. }) => Decision::NoData {
                apex_labels: domain.labels(),
            },
            Some(Decision::NxDomain { .. }) | None => not_here,
            Some(decision) => decision,
        },
    }
}

/// The decision for a name the table may answer (`key` without the
/// domain), or `None` when it is not a local name.
fn local(
    view: &SandboxView,
    key: &NameKey,
    qtype: RecordType,
    rng: &mut fastrand::Rng,
) -> Option<Decision> {
    let name = key.as_str();
    if has_name(view, name) {
        return Some(by_type(view, name, qtype, key.labels(), rng));
    }
    if let Some(decision) = service(view, key, qtype, rng) {
        return Some(decision);
    }
    network_suffix(view, key)
}

fn has_name(view: &SandboxView, key: &str) -> bool {
    view.zones.iter().any(|zone| zone.contains(key))
}

fn endpoints<'v>(view: &'v SandboxView, key: &'v str) -> impl Iterator<Item = &'v ZoneEndpoint> {
    view.zones.iter().flat_map(move |zone| zone.lookup(key))
}

/// A name the sandbox can see: its addresses of the asked family, merged
/// over every network, or NODATA.
fn by_type(
    view: &SandboxView,
    key: &str,
    qtype: RecordType,
    labels: u8,
    rng: &mut fastrand::Rng,
) -> Decision {
    let want_v4 = match qtype {
        RecordType::A => true,
        RecordType::AAAA => false,
        _ => {
            return Decision::NoData {
                apex_labels: labels,
            }
        }
    };
    let mut answers = Vec::new();
    for zone_endpoint in endpoints(view, key) {
        let endpoint = &zone_endpoint.endpoint;
        let address = if want_v4 {
            endpoint.ipv4.map(IpAddr::V4)
        } else {
            endpoint.ipv6.map(IpAddr::V6)
        };
        if let Some(record) = address.map(LocalRecord::Address) {
            if !answers.contains(&record) {
                answers.push(record);
            }
        }
    }
    if answers.is_empty() {
        return Decision::NoData {
            apex_labels: labels,
        };
    }
    rng.shuffle(&mut answers);
    Decision::Records {
        answers,
        glue: Vec::new(),
    }
}

/// A reverse lookup: answered for addresses on the sandbox's networks,
/// forwarded for any other address.
fn reverse(view: &SandboxView, address: &IpAddr) -> Decision {
    let found = view.zones.iter().find_map(|zone| zone.reverse(address));
    match found {
        Some(ZoneEndpoint {
            ptr_target: Some(target),
            ..
        }) => Decision::Records {
            answers: vec![LocalRecord::Ptr(target.clone())],
            glue: Vec::new(),
        },
        Some(ZoneEndpoint {
            ptr_target: None, ..
        }) => Decision::ServFail,
        None => Decision::Forward,
    }
}

/// `_SERVICE._PROTO.NAME` where NAME is visible: SRV records for the
/// endpoints that expose it (NODATA for other types), NXDOMAIN when none
/// does. `None` when the name is not of that shape or NAME is unknown.
fn service(
    view: &SandboxView,
    key: &NameKey,
    qtype: RecordType,
    rng: &mut fastrand::Rng,
) -> Option<Decision> {
    let (service, proto, target) = key.split_service()?;
    if !has_name(view, target) {
        return None;
    }
    let target_labels = key.labels() - 2;
    let mut answers = Vec::new();
    let mut glue = Vec::new();
    for zone_endpoint in endpoints(view, target) {
        let Some(target_name) = &zone_endpoint.ptr_target else {
            continue;
        };
        let endpoint = &zone_endpoint.endpoint;
        let ports = endpoint
            .services
            .iter()
            .filter(|s| s.service == service && s.protocol.as_str() == proto);
        let before = answers.len();
        for port in ports {
            let record = LocalRecord::Srv {
                port: port.port,
                target: target_name.clone(),
            };
            if !answers.contains(&record) {
                answers.push(record);
            }
        }
        if answers.len() > before {
            for address in endpoint.addresses() {
                glue.push(Glue {
                    name: target_name.clone(),
                    address,
                });
            }
        }
    }
    Some(match (answers.is_empty(), qtype) {
        (true, _) => Decision::NxDomain {
            apex_labels: target_labels,
        },
        (false, RecordType::SRV) => {
            rng.shuffle(&mut answers);
            Decision::Records { answers, glue }
        }
        (false, _) => Decision::NoData {
            apex_labels: key.labels(),
        },
    })
}

/// `X.NETWORK` that no endpoint answers to: the network's zone is ours, so
/// the name does not exist, and it is not forwarded (the name would leak).
/// The network's own name is an empty non-terminal for a sandbox on it
/// (NODATA) and unknown for others (NXDOMAIN, so as not to reveal it).
fn network_suffix(view: &SandboxView, key: &NameKey) -> Option<Decision> {
    let name = key.as_str();
    if view.is_network(name) {
        let apex_labels = key.labels();
        return Some(if view.is_attached_to(name) {
            Decision::NoData { apex_labels }
        } else {
            Decision::NxDomain { apex_labels }
        });
    }
    key.parent_suffixes()
        .find(|(suffix, _)| view.is_network(suffix))
        .map(|(_, apex_labels)| Decision::NxDomain { apex_labels })
}

#[cfg(test)]
mod tests;
