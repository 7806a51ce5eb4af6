//! The records of a name the table knows: addresses by type, SOA and NS
//! at zone apexes, reverse lookups, services, and the networks' own names.

use std::net::IpAddr;

use hickory_proto::rr::RecordType;

use super::{endpoints, has_name, Decision, Glue, LocalRecord};
use crate::qname::NameKey;
use crate::table::{SandboxView, ZoneEndpoint};

/// Where a name's zone apex is: how many of its trailing labels, and
/// whether that is the name itself.
#[derive(Debug, Clone, Copy)]
pub(super) struct Apex {
    labels: u8,
    here: bool,
}

impl Apex {
    /// The apex of the known name `key` of `labels` labels: the network
    /// of `NAME.NETWORK`, else the name itself (a bare name, one label
    /// below the root, can have no other apex here).
    pub(super) fn of(view: &SandboxView, key: &str, labels: u8) -> Apex {
        let apex = apex_labels(view, key, labels);
        Apex {
            labels: apex,
            here: apex == labels,
        }
    }

    /// A name below an apex decided elsewhere (the domain's).
    pub(super) fn below(labels: u8) -> Apex {
        Apex {
            labels,
            here: false,
        }
    }
}

/// The labels of the apex of `key`: its longest suffix naming a network,
/// else all of them.
fn apex_labels(view: &SandboxView, key: &str, labels: u8) -> u8 {
    key.bytes()
        .enumerate()
        .filter(|&(_, byte)| byte == b'.')
        .enumerate()
        .map(|(i, (at, _))| (&key[at + 1..], labels - 1 - i as u8))
        .find(|(suffix, _)| view.is_network(suffix))
        .map_or(labels, |(_, apex)| apex)
}

/// The answer at an apex of `labels` labels to a type other than an
/// address: its SOA and NS, NODATA for the rest.
pub(super) fn at_apex(qtype: RecordType, labels: u8) -> Decision {
    let record = match qtype {
        RecordType::SOA | RecordType::ANY => LocalRecord::Soa,
        RecordType::NS => LocalRecord::Ns,
        _ => {
            return Decision::NoData {
                apex_labels: labels,
            }
        }
    };
    Decision::Records {
        answers: vec![record],
        glue: Vec::new(),
    }
}

/// A name the sandbox can see: its addresses of the asked family (both
/// for ANY, RFC 8482 section 4.1), merged over every network; SOA and NS
/// when it is an apex; else NODATA with its apex's SOA.
pub(super) fn by_type(
    view: &SandboxView,
    key: &str,
    qtype: RecordType,
    apex: Apex,
    rng: &mut fastrand::Rng,
) -> Decision {
    let (v4, v6) = match qtype {
        RecordType::A => (true, false),
        RecordType::AAAA => (false, true),
        RecordType::ANY => (true, true),
        _ if apex.here => return at_apex(qtype, apex.labels),
        _ => {
            return Decision::NoData {
                apex_labels: apex.labels,
            }
        }
    };
    let mut answers = Vec::new();
    for zone_endpoint in endpoints(view, key) {
        let endpoint = &zone_endpoint.endpoint;
        let v4 = endpoint.ipv4.filter(|_| v4).map(IpAddr::V4);
        let v6 = endpoint.ipv6.filter(|_| v6).map(IpAddr::V6);
        for record in v4.into_iter().chain(v6).map(LocalRecord::Address) {
            if !answers.contains(&record) {
                answers.push(record);
            }
        }
    }
    if answers.is_empty() {
        return match apex.here {
            true => at_apex(qtype, apex.labels),
            false => Decision::NoData {
                apex_labels: apex.labels,
            },
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
pub(super) fn reverse(view: &SandboxView, address: &IpAddr) -> Decision {
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
pub(super) fn service(
    view: &SandboxView,
    key: &NameKey,
    qtype: RecordType,
    rng: &mut fastrand::Rng,
) -> Option<Decision> {
    let (service, proto, target) = key.split_service()?;
    if !has_name(view, target) {
        return None;
    }
    let apex_labels = apex_labels(view, target, key.labels() - 2);
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
        (true, _) => Decision::NxDomain { apex_labels },
        (false, RecordType::SRV) => {
            rng.shuffle(&mut answers);
            Decision::Records { answers, glue }
        }
        (false, _) => Decision::NoData { apex_labels },
    })
}

/// `X.NETWORK` that no endpoint answers to: the network's zone is ours, so
/// the name does not exist, and it is not forwarded (the name would leak).
/// The network's own name is its zone's apex for a sandbox on it (SOA and
/// NS, NODATA for other types; only NODATA under the domain, whose apex is
/// the one there) and unknown for others (NXDOMAIN, so as not to reveal
/// it).
pub(super) fn network_suffix(
    view: &SandboxView,
    key: &NameKey,
    qtype: RecordType,
    own_apexes: bool,
) -> Option<Decision> {
    let name = key.as_str();
    let max_labels = view.network_max_labels();
    if key.labels() <= max_labels && view.is_network(name) {
        let apex_labels = key.labels();
        return Some(match view.is_attached_to(name) {
            true if own_apexes => at_apex(qtype, apex_labels),
            true => Decision::NoData { apex_labels },
            false => Decision::NxDomain { apex_labels },
        });
    }
    key.parent_suffixes()
        .skip_while(|&(_, labels)| labels > max_labels)
        .find(|(suffix, _)| view.is_network(suffix))
        .map(|(_, apex_labels)| Decision::NxDomain { apex_labels })
}
