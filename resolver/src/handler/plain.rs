//! The commonest question, answered without decoding the whole message
//! (issue #16): one question, no other records but an OPT record of the
//! root with no options, EDNS version 0. That is what the C libraries
//! (glibc, musl) and dnsperf send.
//!
//! Why: callgrind of `netagent dns serve` at 400 q/s put about a tenth of
//! a local answer's instructions in hickory's `Message` decoder (the
//! header, a `Vec` of questions, three record sections, the `Edns`), and
//! a reply of addresses ([`super::direct_reply`]) needs none of it: only
//! the question and the client's payload size, which [`crate::shape`]
//! already read. The question's name is read straight from the wire as the
//! table's key ([`NameKey::of_wire`]), with no `Name` decoded at all; a
//! reverse name, or one no table name can be, is decoded alone by
//! hickory's own `Query` decoder.
//!
//! Nothing changes for the client: a message is plain only when the whole
//! decoder would accept it and see the same question and payload size
//! (hickory reads an OPT record's class below 512 as 512, as
//! [`limit_for`] does). Any other decision than addresses is handed back
//! ([`Plain::Decided`]) with the decision, so the answer logic runs once
//! either way; the caller decodes the whole message then, unless it had
//! no OPT record, when the header and the question decoded here are the
//! whole of it ([`message_of`]).

use hickory_proto::op::{Header, Message, Query};
use hickory_proto::rr::{DNSClass, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::{direct_reply, result_of, Counted, Decided, HandlerContext, Outcome};
use crate::answer::{answer, answer_key, Decision};
use crate::qname::NameKey;
use crate::response::{limit_for, Transport};
use crate::shape::Shape;
use crate::stats::QueryResult;
use crate::table::SandboxView;
use crate::upstream::{CacheProbe, ProbeAnswer};

/// A plain message's question and reply limit.
pub(super) struct PlainQuestion {
    name: PlainName,
    qtype: RecordType,
    /// Where the question starts in the message.
    start: usize,
    limit: usize,
    /// Whether the message had no OPT record: then it is its header and
    /// its question, and [`message_of`] builds it.
    header_and_question: bool,
}

/// A plain question's name: as the table's key, read straight from the
/// wire, or decoded by hickory when that cannot be (a reverse name, a
/// name no table name can be, a compression pointer).
enum PlainName {
    Key(NameKey, DNSClass),
    Decoded(Query),
}

/// What became of a plain question.
pub(super) enum Plain {
    /// Answered with addresses: the reply and how it counts.
    Replied((Outcome, Counted)),
    /// Decided, but the reply needs the whole message.
    Decided(Decided),
    /// The sandbox is on no network: the caller refuses it.
    NoView,
}

/// The question of `bytes` when the message is plain (see the module
/// documentation), decoded alone; `None` sends the message the general
/// way. `shape` is the walk of `bytes` and found no flaw.
pub(super) fn question(
    bytes: &[u8],
    shape: &Shape,
    transport: Transport,
    edns_udp_size: u16,
) -> Option<PlainQuestion> {
    let count = |at: usize| Some(u16::from_be_bytes(*bytes.get(at..)?.first_chunk::<2>()?));
    if count(4)? != 1 || count(6)? != 0 || count(8)? != 0 {
        return None;
    }
    let max_payload = match (count(10)?, shape.opt) {
        (0, None) => None,
        (1, Some(opt)) if opt.bare && opt.version == 0 => Some(opt.udp_size),
        _ => return None,
    };
    let start = shape.question.as_ref()?.start;
    let (name, qtype) = match keyed(bytes.get(start..)?) {
        Some((key, qtype, qclass)) => (PlainName::Key(key, qclass), qtype),
        None => {
            let query = read_query(bytes, start)?;
            let qtype = query.query_type();
            (PlainName::Decoded(query), qtype)
        }
    };
    Some(PlainQuestion {
        name,
        qtype,
        start,
        limit: limit_for(transport, max_payload, edns_udp_size),
        header_and_question: max_payload.is_none(),
    })
}

/// The question at the start of `question` as a key, its type and its
/// class, when its name is one [`NameKey::of_wire`] reads and it is no
/// PTR question. A decoder would read the same question (hickory's
/// `Query` decoder takes any type and class number).
fn keyed(question: &[u8]) -> Option<(NameKey, RecordType, DNSClass)> {
    let (key, len) = NameKey::of_wire(question)?;
    let fixed = question.get(len..len + 4)?;
    let qtype = RecordType::from(u16::from_be_bytes([fixed[0], fixed[1]]));
    let qclass = DNSClass::from(u16::from_be_bytes([fixed[2], fixed[3]]));
    (qtype != RecordType::PTR).then_some((key, qtype, qclass))
}

/// The question at `start` in `bytes`, decoded by hickory.
fn read_query(bytes: &[u8], start: usize) -> Option<Query> {
    let mut decoder = BinDecoder::new(bytes);
    decoder.read_slice(start).ok()?;
    Query::read(&mut decoder).ok()
}

/// Decides a plain question, and answers it at once when the answer is
/// addresses.
pub(super) fn decide(
    context: &HandlerContext<'_>,
    bytes: &[u8],
    shape: Option<&Shape>,
    plain: PlainQuestion,
    rng: &mut fastrand::Rng,
) -> Plain {
    let Some(view) = context.view() else {
        return Plain::NoView;
    };
    let (decision, query) = match plain.name {
        PlainName::Key(key, qclass) => {
            let decision = answer_key(&view, key, plain.qtype, qclass, context.domain, rng);
            (decision, None)
        }
        PlainName::Decoded(query) => (answer(&view, &query, context.domain, rng), Some(query)),
    };
    let qtype = Some(plain.qtype);
    let mut cache_checked = false;
    if let (Decision::Forward, Some(upstream), Some(shape)) = (&decision, context.upstream, shape) {
        match upstream.cached_plain(&probe(bytes, shape, &view, plain.limit)) {
            ProbeAnswer::Hit(reply) => {
                let counted = Some((qtype, QueryResult::Forwarded));
                return Plain::Replied((Outcome::Reply(reply), counted));
            }
            ProbeAnswer::Miss => cache_checked = true,
            ProbeAnswer::Unasked => {}
        }
    }
    match direct_reply(&decision, bytes, shape, context.settings, plain.limit) {
        Some(reply) => {
            let counted = Some((qtype, result_of(&decision)));
            Plain::Replied((Outcome::Reply(reply), counted))
        }
        None => {
            // Decoded only now, for the few that need the message.
            let message = plain
                .header_and_question
                .then(|| query.or_else(|| read_query(bytes, plain.start)))
                .flatten()
                .and_then(|query| message_of(bytes, query));
            Plain::Decided(Decided {
                view,
                decision,
                cache_checked,
                message,
            })
        }
    }
}

/// What the cache is asked for a plain question (`shape` is its walk).
fn probe<'a>(
    bytes: &'a [u8],
    shape: &Shape,
    view: &'a SandboxView,
    limit: usize,
) -> CacheProbe<'a> {
    let question = shape.question.clone().and_then(|range| bytes.get(range));
    CacheProbe {
        view,
        question: question.unwrap_or_default(),
        id: u16::from_be_bytes([bytes[0], bytes[1]]),
        recursion_desired: bytes[2] & 0x01 != 0,
        checking_disabled: bytes[3] & 0x10 != 0,
        dnssec_ok: shape.opt.is_some_and(|opt| opt.dnssec_ok),
        edns: shape.opt.is_some(),
        limit,
    }
}

/// The message a header and one question make, as `Message::from_vec`
/// would decode it (the tests compare the two): a forwarded question is
/// not decoded twice.
fn message_of(bytes: &[u8], query: Query) -> Option<Message> {
    let Header { metadata, .. } = Header::read(&mut BinDecoder::new(bytes)).ok()?;
    let mut message = Message::new(metadata.id, metadata.message_type, metadata.op_code);
    message.metadata = metadata;
    message.queries.push(query);
    Some(message)
}
