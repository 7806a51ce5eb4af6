//! Building and encoding replies: flags, the echoed question, EDNS, the
//! SOA of negative answers, and truncation to the client's size.
//!
//! - Flags (RFC 1035 section 4.1.1): QR set, the query's id, opcode, RD
//!   and CD copied, RA set (this server recurses for its clients), AA on
//!   answers from the table.
//! - EDNS (RFC 6891): a query with an OPT record gets one back, offering
//!   our UDP size and copying the DO bit (RFC 3225 section 3); an EDNS
//!   version above 0 gets BADVERS (section 6.1.3).
//! - Size: a UDP reply fits the client's limit, 512 bytes without EDNS
//!   ([`truncate`]).
//! - A reply of addresses only is written straight into its bytes
//!   ([`addresses`]), the same bytes the general path makes, without a
//!   `Message`.

use std::net::IpAddr;

use hickory_proto::op::{Edns, Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, NS, PTR, SOA, SRV};
use hickory_proto::rr::{Name, RData, Record};

use crate::answer::{Glue, LocalRecord};

mod addresses;
mod echo;
mod truncate;

pub use addresses::{encode_addresses, AddressQuery};
pub use echo::echo_reply;
pub use truncate::encode_within;

/// Smallest UDP payload every client accepts (RFC 1035 section 4.2.1).
pub const MIN_UDP_SIZE: u16 = 512;

/// How the query reached us; it bounds the reply's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Over UDP: the reply must fit the client's advertised size.
    Udp,
    /// Over TCP: up to 65535 bytes (RFC 1035 section 4.2.2).
    Tcp,
}

/// The largest reply this client takes over `transport`: 512 bytes without
/// EDNS, else its advertised size capped by ours (`edns_udp_size`).
pub fn reply_limit(request: &Message, transport: Transport, edns_udp_size: u16) -> usize {
    let max_payload = request.edns.as_ref().map(|edns| edns.max_payload());
    limit_for(transport, max_payload, edns_udp_size)
}

/// [`reply_limit`] from the requestor's payload size as the decoder
/// gives it (`None` without EDNS; RFC 6891 section 6.2.5 reads a value
/// under 512 as 512, and so does hickory's decoder).
pub fn limit_for(transport: Transport, max_payload: Option<u16>, edns_udp_size: u16) -> usize {
    match (transport, max_payload) {
        (Transport::Tcp, _) => usize::from(u16::MAX),
        (Transport::Udp, None) => usize::from(MIN_UDP_SIZE),
        (Transport::Udp, Some(size)) => {
            usize::from(size.max(512).min(edns_udp_size).max(MIN_UDP_SIZE))
        }
    }
}

/// A reply to `request` with the question echoed, the flags set as the
/// module documentation says, and an OPT record if the request had one.
pub fn reply_to(
    request: &Message,
    code: ResponseCode,
    authoritative: bool,
    edns_udp_size: u16,
) -> Message {
    let mut reply = Message::new(
        request.metadata.id,
        MessageType::Response,
        request.metadata.op_code,
    );
    let meta = &mut reply.metadata;
    meta.response_code = code;
    meta.authoritative = authoritative;
    meta.recursion_desired = request.metadata.recursion_desired;
    meta.checking_disabled = request.metadata.checking_disabled;
    meta.recursion_available = true;
    reply.queries.clone_from(&request.queries);
    if let Some(asked) = &request.edns {
        let mut edns = Edns::new();
        edns.set_max_payload(edns_udp_size.max(MIN_UDP_SIZE));
        edns.set_dnssec_ok(asked.flags().dnssec_ok);
        reply.edns = Some(edns);
    }
    reply
}

/// Adds the answer records, all owned by the query name, and the glue;
/// `serial` goes into an apex's SOA.
pub fn add_records(
    reply: &mut Message,
    owner: &Name,
    ttl: u32,
    serial: u32,
    answers: Vec<LocalRecord>,
    glue: Vec<Glue>,
) {
    reply.answers = answers
        .into_iter()
        .map(|record| {
            let data = match record {
                LocalRecord::Address(address) => address_data(address),
                LocalRecord::Ptr(target) => RData::PTR(PTR(target)),
                LocalRecord::Srv { port, target } => RData::SRV(SRV::new(0, 0, port, target)),
                LocalRecord::Soa => return soa_record(owner.clone(), ttl, serial),
                LocalRecord::Ns => RData::NS(NS(owner.clone())),
            };
            Record::from_rdata(owner.clone(), ttl, data)
        })
        .collect();
    reply.additionals = glue
        .into_iter()
        .map(|g| Record::from_rdata(g.name, ttl, address_data(g.address)))
        .collect();
}

fn address_data(address: IpAddr) -> RData {
    match address {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    }
}

/// Adds the SOA that lets a client cache a negative answer (RFC 2308
/// section 3): owned by the zone apex, the last `apex_labels` labels of the
/// query name in the client's spelling. Its TTL and MINIMUM are both the
/// configured TTL, so with the default of 0 nothing is cached.
pub fn add_soa(reply: &mut Message, query_name: &Name, apex_labels: u8, ttl: u32, serial: u32) {
    let apex = query_name.trim_to(usize::from(apex_labels));
    reply.authorities.push(soa_record(apex, ttl, serial));
}

/// The SOA of the zone whose apex is `apex`: the apex is its own primary
/// (this resolver), `hostmaster.APEX` its mailbox.
fn soa_record(apex: Name, ttl: u32, serial: u32) -> Record {
    let mname = apex.clone();
    let rname = Name::from_ascii("hostmaster.")
        .ok()
        .and_then(|h| h.append_domain(&apex).ok())
        .unwrap_or_else(Name::root);
    // Refresh, retry and expire matter only to secondaries, which a
    // resolver inside a sandbox never has; RFC 1912 section 2.2 values.
    let soa = SOA::new(mname, rname, serial, 3600, 600, 86400, ttl);
    Record::from_rdata(apex, ttl, RData::SOA(soa))
}
