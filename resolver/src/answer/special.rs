//! Special-use names answered here whatever the table holds.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::RecordType;

use super::records::at_apex;
use super::{Decision, LocalRecord};
use crate::qname::NameKey;

/// `localhost.` and every name under it (RFC 6761 section 6.3): 127.0.0.1
/// and ::1, never forwarded (item 4 there: caching servers answer them
/// locally); `localhost.` is the apex of its zone. `None` for other names.
pub(super) fn localhost(key: &NameKey, qtype: RecordType) -> Option<Decision> {
    let name = key.as_str();
    if name != "localhost" && !name.ends_with(".localhost") {
        return None;
    }
    let v4 = LocalRecord::Address(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let v6 = LocalRecord::Address(IpAddr::V6(Ipv6Addr::LOCALHOST));
    let answers = match qtype {
        RecordType::A => vec![v4],
        RecordType::AAAA => vec![v6],
        RecordType::ANY => vec![v4, v6],
        _ if key.labels() == 1 => return Some(at_apex(qtype, 1)),
        _ => return Some(Decision::NoData { apex_labels: 1 }),
    };
    Some(Decision::Records {
        answers,
        glue: Vec::new(),
    })
}
