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
//! - zone apexes (issue #14): a network's name is its zone's apex, a bare
//!   name (no network suffix) is its own, the domain's apex is the one
//!   zone under it, and `localhost.` is one; SOA and NS are answered at an
//!   apex, and a negative answer below carries its apex's SOA (RFC 2308
//!   section 3), never one owned by the name itself;
//! - type ANY gets the name's addresses (RFC 8482 section 4.1 allows a
//!   subset); class ANY is answered as IN, and another class's question
//!   about a local name is REFUSED, never forwarded;
//! - `localhost` and `*.localhost` get 127.0.0.1 and ::1 (RFC 6761
//!   section 6.3), never forwarded;
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
    /// The SOA of a zone apex, the query name (RFC 1035 section 3.3.13);
    /// its fields are the reply's to fill.
    Soa,
    /// The NS of a zone apex, the query name: the apex itself, served by
    /// this resolver (RFC 1035 section 3.3.11).
    Ns,
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
    /// A local name asked in a class other than IN or ANY: it exists in
    /// IN only, and is not forwarded.
    Refused,
}

/// Decides how to answer `query` for the sandbox whose view is `view`,
/// `domain` being the sandboxes' own domain (off when empty).
pub fn answer(
    view: &SandboxView,
    query: &Query,
    domain: &LocalDomain,
    rng: &mut fastrand::Rng,
) -> Decision {
    let decision = answer_in(view, query.name(), query.query_type(), domain, rng);
    in_class(query.query_class(), decision)
}

/// [`answer`] for a question whose name came as a key straight from the
/// wire ([`NameKey::of_wire`]), asked for `qtype` in `qclass`: the same
/// decision, without a decoded `Name` (the plain path, issue #16). Not for
/// PTR questions, whose reverse names are read from a decoded `Name`.
pub fn answer_key(
    view: &SandboxView,
    key: NameKey,
    qtype: RecordType,
    qclass: DNSClass,
    domain: &LocalDomain,
    rng: &mut fastrand::Rng,
) -> Decision {
    debug_assert_ne!(qtype, RecordType::PTR, "reverse names take `answer`");
    in_class(qclass, answer_keyed(view, key, qtype, domain, rng))
}

/// The decision in `class` given the class-IN one.
fn in_class(class: DNSClass, decision: Decision) -> Decision {
    match class {
        // Class ANY (RFC 1035 section 3.2.5) finds the IN records.
        DNSClass::IN | DNSClass::ANY => decision,
        _ if decision == Decision::Forward => decision,
        // Local names exist in class IN only: another class's question
        // about one is answered here and never forwarded (it would leak
        // the name).
        _ => Decision::Refused,
    }
}

/// The class-IN decision for `name` and `qtype`.
fn answer_in(
    view: &SandboxView,
    name: &Name,
    qtype: RecordType,
    domain: &LocalDomain,
    rng: &mut fastrand::Rng,
) -> Decision {
    if qtype == RecordType::PTR {
        if let Some(address) = reverse_address(name) {
            return reverse(view, &address);
        }
    }
    let Some(key) = NameKey::of(name) else {
        // The whole domain is ours: nothing under it is ever forwarded,
        // not even a name the table could not hold.
        return if domain.holds(name) {
            not_here(domain)
        } else {
            Decision::Forward
        };
    };
    answer_keyed(view, key, qtype, domain, rng)
}

/// A name under the domain that nothing there answers.
fn not_here(domain: &LocalDomain) -> Decision {
    Decision::NxDomain {
        apex_labels: domain.labels(),
    }
}

/// The class-IN decision for a name the table could hold, as its `key`.
fn answer_keyed(
    view: &SandboxView,
    mut key: NameKey,
    qtype: RecordType,
    domain: &LocalDomain,
    rng: &mut fastrand::Rng,
) -> Decision {
    if let Some(decision) = localhost(&key, qtype) {
        return decision;
    }
    match key.strip_domain(domain) {
        DomainPlace::Outside => local(view, &key, qtype, true, rng).unwrap_or(Decision::Forward),
        DomainPlace::Apex => at_apex(qtype, domain.labels()),
        DomainPlace::Under => match local(view, &key, qtype, false, rng) {
            // One zone, the domain: its apex owns the SOA of every negative
            // answer under it.
            Some(Decision::NoData { .. }) => Decision::NoData {
                apex_labels: domain.labels(),
            },
            Some(Decision::NxDomain { .. }) | None => not_here(domain),
            Some(decision) => decision,
        },
    }
}

/// The decision for a name the table may answer (`key` without the
/// domain), or `None` when it is not a local name. `own_apexes` is false
/// under the domain, whose apex is the only one there.
fn local(
    view: &SandboxView,
    key: &NameKey,
    qtype: RecordType,
    own_apexes: bool,
    rng: &mut fastrand::Rng,
) -> Option<Decision> {
    let name = key.as_str();
    if has_name(view, name) {
        let apex = match own_apexes {
            true => Apex::of(view, name, key.labels()),
            false => Apex::below(key.labels()),
        };
        return Some(by_type(view, name, qtype, apex, rng));
    }
    if let Some(decision) = service(view, key, qtype, rng) {
        return Some(decision);
    }
    network_suffix(view, key, qtype, own_apexes)
}

fn has_name(view: &SandboxView, key: &str) -> bool {
    view.zones.iter().any(|zone| zone.contains(key))
}

fn endpoints<'v>(view: &'v SandboxView, key: &'v str) -> impl Iterator<Item = &'v ZoneEndpoint> {
    view.zones.iter().flat_map(move |zone| zone.lookup(key))
}

mod records;
mod special;

use records::{at_apex, by_type, network_suffix, reverse, service, Apex};
use special::localhost;

#[cfg(test)]
mod tests;
