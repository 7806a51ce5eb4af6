//! The commonest reply, written straight into its bytes: a name's
//! addresses, and nothing else (issue #16).
//!
//! Why: profiled at 5,000 q/s (callgrind, `netagent dns serve`), building
//! a hickory `Message` for the reply and encoding it was over half of the
//! user-space instructions of a local answer (the question cloned, a
//! `Record` per address with its own copy of the name, the encoder's
//! compression map). A reply of addresses has one fixed shape, so this
//! writes it directly: the header, the question copied from the query's
//! bytes (the client's own spelling, RFC 4343 section 4.1), one record
//! per address owned by a pointer to the question's name (RFC 1035
//! section 4.1.4), and the OPT record when the query had one (RFC 6891).
//!
//! The bytes are the same as the general path's
//! ([`super::reply_to`], [`super::add_records`],
//! [`super::encode_within`]): the tests compare the two over many
//! questions. Anything else (a reply that would not fit the client's
//! limit, glue, other record types) goes the general way.

use std::net::IpAddr;
use std::ops::Range;

use crate::answer::LocalRecord;
use crate::shape::OptSeen;

use super::MIN_UDP_SIZE;

/// The type of an OPT record (RFC 6891 section 6.1.2).
const OPT: u16 = 41;
/// Class IN.
const IN: u16 = 1;
/// A compression pointer to offset 12, where the question's name is.
const QUESTION_NAME: [u8; 2] = [0xc0, 0x0c];

/// What the direct encoding needs of the query.
#[derive(Debug, Clone)]
pub struct AddressQuery<'a> {
    /// The query's bytes.
    pub bytes: &'a [u8],
    /// Where its (first and only) question is.
    pub question: Range<usize>,
    /// Its OPT record, if it had one.
    pub opt: Option<OptSeen>,
}

/// The reply giving `answers` for `query`, authoritative, with `ttl` on
/// each record and `edns_udp_size` offered in the OPT record; `None` when
/// the answers are not all addresses or the reply would exceed `limit`
/// bytes (the general path then truncates it).
pub fn encode_addresses(
    query: &AddressQuery<'_>,
    answers: &[LocalRecord],
    ttl: u32,
    edns_udp_size: u16,
    limit: usize,
) -> Option<Vec<u8>> {
    let AddressQuery {
        bytes,
        question,
        opt,
    } = query;
    // The question must be the first thing after the header, with a name
    // that is all labels (a pointer there would point nowhere earlier).
    let name_end = question.end.checked_sub(4)?;
    if question.start != 12 || bytes.get(name_end.checked_sub(1)?) != Some(&0) {
        return None;
    }
    let size = answers
        .iter()
        .try_fold(0usize, |size, record| match record {
            LocalRecord::Address(IpAddr::V4(_)) => Some(size + 16),
            LocalRecord::Address(IpAddr::V6(_)) => Some(size + 28),
            _ => None,
        })?;
    let total = question.end + size + if opt.is_some() { 11 } else { 0 };
    if total > limit || answers.is_empty() {
        return None;
    }
    let mut reply = Vec::with_capacity(total);
    reply.extend_from_slice(&bytes[..2]);
    // QR, the query's opcode, AA and RD; RA, and CD copied (RFC 1035
    // section 4.1.1, RFC 4035 section 3.2.2). RCODE NOERROR.
    reply.push(0x80 | (bytes[2] & 0x78) | 0x04 | (bytes[2] & 0x01));
    reply.push(0x80 | (bytes[3] & 0x10));
    reply.extend_from_slice(&1u16.to_be_bytes());
    reply.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    reply.extend_from_slice(&0u16.to_be_bytes());
    reply.extend_from_slice(&u16::from(opt.is_some()).to_be_bytes());
    reply.extend_from_slice(&bytes[question.clone()]);
    for record in answers {
        let LocalRecord::Address(address) = record else {
            unreachable!("sized above: addresses only");
        };
        match address {
            IpAddr::V4(v4) => push_record(&mut reply, 1, ttl, &v4.octets()),
            IpAddr::V6(v6) => push_record(&mut reply, 28, ttl, &v6.octets()),
        }
    }
    if let Some(opt) = opt {
        reply.push(0);
        reply.extend_from_slice(&OPT.to_be_bytes());
        reply.extend_from_slice(&edns_udp_size.max(MIN_UDP_SIZE).to_be_bytes());
        // Extended RCODE and version 0, then the flags: DO copied.
        reply.extend_from_slice(&[0, 0, u8::from(opt.dnssec_ok) << 7, 0]);
        reply.extend_from_slice(&0u16.to_be_bytes());
    }
    debug_assert_eq!(reply.len(), total);
    Some(reply)
}

/// One class-IN record owned by the question's name.
fn push_record(reply: &mut Vec<u8>, rtype: u16, ttl: u32, data: &[u8]) {
    reply.extend_from_slice(&QUESTION_NAME);
    reply.extend_from_slice(&rtype.to_be_bytes());
    reply.extend_from_slice(&IN.to_be_bytes());
    reply.extend_from_slice(&ttl.to_be_bytes());
    reply.extend_from_slice(&(data.len() as u16).to_be_bytes());
    reply.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use hickory_proto::op::{Edns, Message, Query, ResponseCode};
    use hickory_proto::rr::{DNSClass, Name, RecordType};

    use super::*;
    use crate::response::{add_records, encode_within, reply_limit, reply_to, Transport};
    use crate::shape;

    /// A random query as a client would send it.
    fn random_query(rng: &mut fastrand::Rng) -> Message {
        let labels: Vec<String> = (0..rng.usize(1..4))
            .map(|_| {
                (0..rng.usize(1..12))
                    .map(|_| match rng.u8(0..3) {
                        0 => rng.uppercase(),
                        1 => rng.lowercase(),
                        _ => rng.digit(10),
                    })
                    .collect()
            })
            .collect();
        let name = Name::from_ascii(format!("{}.", labels.join("."))).unwrap();
        let qtype = [RecordType::A, RecordType::AAAA, RecordType::ANY][rng.usize(0..3)];
        let mut query = Query::query(name, qtype);
        if rng.bool() {
            query.set_query_class(DNSClass::ANY);
        }
        let mut message = Message::query();
        message.metadata.id = rng.u16(..);
        message.metadata.recursion_desired = rng.bool();
        message.metadata.checking_disabled = rng.bool();
        message.add_query(query);
        if rng.bool() {
            let mut edns = Edns::new();
            edns.set_max_payload([512, 1232, 4096, 100][rng.usize(0..4)]);
            edns.set_dnssec_ok(rng.bool());
            message.edns = Some(edns);
        }
        message
    }

    fn random_addresses(rng: &mut fastrand::Rng) -> Vec<LocalRecord> {
        (0..rng.usize(1..40))
            .map(|_| {
                LocalRecord::Address(match rng.bool() {
                    true => IpAddr::V4(Ipv4Addr::from(rng.u32(..))),
                    false => IpAddr::V6(Ipv6Addr::from(rng.u128(..))),
                })
            })
            .collect()
    }

    /// The general path's bytes for the same reply.
    fn general(request: &Message, answers: &[LocalRecord], ttl: u32, size: u16) -> Vec<u8> {
        let limit = reply_limit(request, Transport::Udp, size);
        let mut reply = reply_to(request, ResponseCode::NoError, true, size);
        let owner = request.queries[0].name().clone();
        add_records(&mut reply, &owner, ttl, 1, answers.to_vec(), Vec::new());
        encode_within(reply, limit)
    }

    #[test]
    fn the_bytes_are_the_general_paths_and_an_oversize_reply_is_left_to_it() {
        let mut rng = fastrand::Rng::with_seed(16);
        let (mut direct, mut left) = (0, 0);
        for _ in 0..3000 {
            let request = random_query(&mut rng);
            let answers = random_addresses(&mut rng);
            let ttl = [0, 600, rng.u32(..)][rng.usize(0..3)];
            let size = [512, 1232, 4096][rng.usize(0..3)];
            let bytes = request.to_vec().unwrap();
            let walked = shape::walk(&bytes).unwrap();
            let query = AddressQuery {
                bytes: &bytes,
                question: walked.question.clone().unwrap(),
                opt: walked.opt,
            };
            let limit = reply_limit(&request, Transport::Udp, size);
            let expected = general(&request, &answers, ttl, size);
            match encode_addresses(&query, &answers, ttl, size, limit) {
                Some(got) => {
                    assert_eq!(got, expected, "{request:?} {answers:?}");
                    direct += 1;
                }
                None => {
                    let truncated = Message::from_vec(&expected).unwrap().metadata.truncation;
                    assert!(truncated, "left a reply that fits: {request:?}");
                    left += 1;
                }
            }
        }
        assert!(direct > 1000 && left > 100, "{direct} direct, {left} left");
    }

    #[test]
    fn other_records_and_a_pointer_in_the_question_go_the_general_way() {
        let request = random_query(&mut fastrand::Rng::with_seed(1));
        let bytes = request.to_vec().unwrap();
        let question = shape::walk(&bytes).unwrap().question.unwrap();
        let query = AddressQuery {
            bytes: &bytes,
            question: question.clone(),
            opt: None,
        };
        let mixed = [
            LocalRecord::Address(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            LocalRecord::Ns,
        ];
        assert_eq!(encode_addresses(&query, &mixed, 0, 1232, 512), None);
        assert_eq!(encode_addresses(&query, &[], 0, 1232, 512), None);
        let mut pointed = bytes[..12].to_vec();
        pointed.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
        let query = AddressQuery {
            bytes: &pointed,
            question: 12..18,
            opt: None,
        };
        let one = [LocalRecord::Address(IpAddr::V4(Ipv4Addr::LOCALHOST))];
        assert_eq!(encode_addresses(&query, &one, 0, 1232, 512), None);
    }
}
