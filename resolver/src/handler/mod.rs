//! One message in, one outcome out: the part of serving that does not
//! touch a socket, so it is tested by feeding bytes (DESIGN.md, seam 3).
//!
//! Message rules (RFC 1035, RFC 6891), checked in this order:
//! 1. shorter than a header: dropped (nothing to reply to);
//! 2. QR set: dropped, so two servers never answer each other in a loop;
//! 3. opcode other than QUERY: NOTIMP, echoing question and OPT;
//! 4. malformed EDNS options or bytes after the last record
//!    ([`crate::shape`]): FORMERR, a malformed option also counted and
//!    logged as an event ([`crate::events`]);
//! 5. undecodable, or QDCOUNT other than 1: FORMERR;
//! 6. EDNS version above 0: BADVERS;
//! 7. a sandbox that is on no network any more: REFUSED;
//! 8. otherwise the [`crate::answer`] decision: a local reply, or a
//!    [`ForwardRequest`] for the caller to relay.

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::RecordType;

use crate::answer::{answer, Decision};
use crate::events::{Event, EventLog};
use crate::qname::LocalDomain;
use crate::response::{
    add_records, add_soa, echo_reply, encode_addresses, encode_within, reply_limit, reply_to,
    AddressQuery, Transport,
};
use crate::shape::{self, Flaw};
use crate::stats::{QueryResult, QueryStats};
use crate::table::EndpointTable;
use crate::upstream::ForwardRequest;

/// The resolver settings a handler needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerSettings {
    /// TTL of local answers and of the SOA of negative ones.
    pub ttl: u32,
    /// Our EDNS UDP size.
    pub edns_udp_size: u16,
}

impl From<&config::ResolverConfig> for AnswerSettings {
    fn from(config: &config::ResolverConfig) -> Self {
        AnswerSettings {
            ttl: config.ttl,
            edns_udp_size: config.edns_udp_size,
        }
    }
}

/// What to do with one received message.
#[derive(Debug)]
pub enum Outcome {
    /// Send these bytes back.
    Reply(Vec<u8>),
    /// Relay upstream; the reply is built from what comes back.
    Forward(Box<ForwardRequest>),
    /// Send nothing.
    Drop,
}

/// Handles one message received from a client of the sandbox `sandbox_id`.
pub fn handle_message(
    context: &HandlerContext<'_>,
    bytes: &[u8],
    transport: Transport,
    rng: &mut fastrand::Rng,
) -> Outcome {
    let outcome = handle(context, bytes, transport, rng);
    if let Some((qtype, result)) = outcome.1 {
        context.stats.record(qtype, result);
    }
    outcome.0
}

/// What one sandbox's handler works with.
pub struct HandlerContext<'a> {
    /// The live table.
    pub table: &'a EndpointTable,
    /// The sandbox the socket belongs to.
    pub sandbox_id: &'a str,
    /// TTL and EDNS size.
    pub settings: AnswerSettings,
    /// The sandboxes' own domain.
    pub domain: &'a LocalDomain,
    /// Where questions are counted.
    pub stats: &'a QueryStats,
    /// Where client-caused events are counted and logged.
    pub events: &'a EventLog,
}

type Counted = Option<(Option<RecordType>, QueryResult)>;

fn handle(
    context: &HandlerContext<'_>,
    bytes: &[u8],
    transport: Transport,
    rng: &mut fastrand::Rng,
) -> (Outcome, Counted) {
    let HandlerContext {
        table,
        sandbox_id,
        settings,
        domain,
        ..
    } = *context;
    let malformed = Some((None, QueryResult::Malformed));
    let Some(header) = bytes.first_chunk::<12>() else {
        return (Outcome::Drop, None);
    };
    if header[2] & 0x80 != 0 {
        return (Outcome::Drop, None);
    }
    let shape = shape::walk(bytes);
    let echo = |code| {
        Outcome::Reply(echo_reply(
            bytes,
            shape.as_ref(),
            code,
            settings.edns_udp_size,
        ))
    };
    if OpCode::from_u8((header[2] >> 3) & 0x0f) != OpCode::Query {
        return (echo(ResponseCode::NotImp), malformed);
    }
    if let Some(flaw) = shape.as_ref().and_then(|shape| shape.flaw) {
        if flaw == Flaw::BadEdnsOptions {
            context.events.note(Event::MalformedEdns);
        }
        return (echo(ResponseCode::FormErr), malformed);
    }
    let Ok(request) = Message::from_vec(bytes) else {
        return (echo(ResponseCode::FormErr), malformed);
    };
    if request.queries.len() != 1 {
        return (echo(ResponseCode::FormErr), malformed);
    }
    let limit = reply_limit(&request, transport, settings.edns_udp_size);
    if request.edns.as_ref().is_some_and(|edns| edns.version() > 0) {
        let mut reply = reply_to(
            &request,
            ResponseCode::BADVERS,
            false,
            settings.edns_udp_size,
        );
        reply.queries.clear();
        return (Outcome::Reply(encode_within(reply, limit)), malformed);
    }
    let qtype = Some(request.queries[0].query_type());
    let Some(view) = table.view(sandbox_id) else {
        let refused = Some((qtype, QueryResult::Refused));
        return (
            Outcome::Reply(encode_within(
                reply_to(
                    &request,
                    ResponseCode::Refused,
                    false,
                    settings.edns_udp_size,
                ),
                limit,
            )),
            refused,
        );
    };
    let query = &request.queries[0];
    let decision = answer(&view, query, domain, rng);
    let (code, authoritative) = match &decision {
        Decision::Forward => {
            let forwarded = Some((qtype, QueryResult::Forwarded));
            return (
                Outcome::Forward(Box::new(ForwardRequest {
                    sandbox_id: sandbox_id.into(),
                    query: request,
                    wire: bytes.to_vec(),
                    view,
                    transport,
                    reply_limit: limit,
                    socket_hint: crate::secure_random::u32(),
                })),
                forwarded,
            );
        }
        Decision::ServFail => (ResponseCode::ServFail, false),
        Decision::Refused => (ResponseCode::Refused, false),
        Decision::NxDomain { .. } => (ResponseCode::NXDomain, true),
        Decision::Records { .. } | Decision::NoData { .. } => (ResponseCode::NoError, true),
    };
    let result = match &decision {
        Decision::Records { .. } => QueryResult::Answer,
        Decision::NoData { .. } => QueryResult::NoData,
        Decision::NxDomain { .. } => QueryResult::NxDomain,
        Decision::Refused => QueryResult::Refused,
        Decision::ServFail | Decision::Forward => QueryResult::ServFail,
    };
    if let (Decision::Records { answers, glue }, Some(shape)) = (&decision, &shape) {
        let direct = glue.is_empty().then_some(shape.question.clone()).flatten();
        if let Some(question) = direct {
            let query = AddressQuery {
                bytes,
                question,
                opt: shape.opt,
            };
            let ttl = settings.ttl;
            if let Some(reply) =
                encode_addresses(&query, answers, ttl, settings.edns_udp_size, limit)
            {
                return (Outcome::Reply(reply), Some((qtype, result)));
            }
        }
    }
    let mut reply = reply_to(&request, code, authoritative, settings.edns_udp_size);
    match decision {
        Decision::Records { answers, glue } => add_records(
            &mut reply,
            query.name(),
            settings.ttl,
            view.serial,
            answers,
            glue,
        ),
        Decision::NoData { apex_labels } | Decision::NxDomain { apex_labels } => add_soa(
            &mut reply,
            query.name(),
            apex_labels,
            settings.ttl,
            view.serial,
        ),
        Decision::ServFail | Decision::Forward | Decision::Refused => {}
    }
    (
        Outcome::Reply(encode_within(reply, limit)),
        Some((qtype, result)),
    )
}

mod forwarded;

pub use forwarded::{forwarded_reply, refused_reply};

#[cfg(test)]
pub(crate) mod flood_tests;
#[cfg(test)]
mod protocol_tests;
#[cfg(test)]
mod tests;
