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

use std::sync::Arc;

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
use crate::table::{EndpointTable, SandboxView};
use crate::upstream::{ForwardRequest, Upstream};

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
    let outcome = handle(context, bytes, transport, rng, true);
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
    /// Asked for a cached answer to a plain question before it becomes a
    /// [`ForwardRequest`] ([`plain`]); `None` leaves every forwarded
    /// question to the caller.
    pub upstream: Option<&'a dyn Upstream>,
    /// The sandbox's view as its serving loop keeps it
    /// ([`crate::table::CachedView`]);
    /// `None` reads it from `table` for each message.
    pub known_view: Option<&'a Arc<SandboxView>>,
}

impl HandlerContext<'_> {
    /// The sandbox's view: the one its serving loop keeps, else the
    /// table's; `None` while the sandbox is on no network.
    fn view(&self) -> Option<Arc<SandboxView>> {
        match self.known_view {
            Some(view) => Some(Arc::clone(view)),
            None => self.table.view(self.sandbox_id),
        }
    }
}

type Counted = Option<(Option<RecordType>, QueryResult)>;

/// [`handle_message`], without counting; `plain_path` off sends every
/// message the general way (the tests compare the two).
fn handle(
    context: &HandlerContext<'_>,
    bytes: &[u8],
    transport: Transport,
    rng: &mut fastrand::Rng,
    plain_path: bool,
) -> (Outcome, Counted) {
    let HandlerContext {
        settings, domain, ..
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
    let plain = shape
        .as_ref()
        .filter(|_| plain_path)
        .and_then(|shape| plain::question(bytes, shape, transport, settings.edns_udp_size));
    let mut decided = match plain {
        Some(plain) => match plain::decide(context, bytes, shape.as_ref(), plain, rng) {
            plain::Plain::Replied(outcome) => return outcome,
            plain::Plain::Decided(decided) => Some(decided),
            plain::Plain::NoView => None,
        },
        None => None,
    };
    let request = match decided.as_mut().and_then(|decided| decided.message.take()) {
        Some(message) => message,
        None => match Message::from_vec(bytes) {
            Ok(request) => request,
            Err(_) => return (echo(ResponseCode::FormErr), malformed),
        },
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
    let Decided {
        view,
        decision,
        cache_checked,
        ..
    } = match decided {
        Some(decided) => decided,
        None => {
            let Some(view) = context.view() else {
                let refused = Some((qtype, QueryResult::Refused));
                let reply = reply_to(
                    &request,
                    ResponseCode::Refused,
                    false,
                    settings.edns_udp_size,
                );
                return (Outcome::Reply(encode_within(reply, limit)), refused);
            };
            let decision = answer(&view, &request.queries[0], domain, rng);
            Decided {
                view,
                decision,
                cache_checked: false,
                message: None,
            }
        }
    };
    let result = result_of(&decision);
    if let Decision::Forward = decision {
        let forwarded = ForwardRequest {
            sandbox_id: Arc::clone(&view.sandbox_id),
            query: request,
            wire: bytes.to_vec(),
            view,
            transport,
            reply_limit: limit,
            socket_hint: 0,
            cache_checked,
            alone: false,
        };
        return (Outcome::Forward(Box::new(forwarded)), Some((qtype, result)));
    }
    if let Some(reply) = direct_reply(&decision, bytes, shape.as_ref(), settings, limit) {
        return (Outcome::Reply(reply), Some((qtype, result)));
    }
    let reply = general_reply(&request, &view, decision, settings);
    (
        Outcome::Reply(encode_within(reply, limit)),
        Some((qtype, result)),
    )
}

/// A decision taken for a sandbox's view, to be made a reply.
struct Decided {
    view: Arc<SandboxView>,
    decision: Decision,
    /// The cache was asked and had nothing.
    cache_checked: bool,
    /// The whole message, when the plain path could build it from what it
    /// decoded ([`plain`]); else the caller decodes it.
    message: Option<Message>,
}

/// How a decision is counted.
fn result_of(decision: &Decision) -> QueryResult {
    match decision {
        Decision::Records { .. } => QueryResult::Answer,
        Decision::NoData { .. } => QueryResult::NoData,
        Decision::NxDomain { .. } => QueryResult::NxDomain,
        Decision::Refused => QueryResult::Refused,
        Decision::ServFail => QueryResult::ServFail,
        Decision::Forward => QueryResult::Forwarded,
    }
}

/// The reply of addresses written straight into bytes
/// ([`encode_addresses`]), when the decision is addresses alone and the
/// reply fits `limit`.
fn direct_reply(
    decision: &Decision,
    bytes: &[u8],
    shape: Option<&shape::Shape>,
    settings: AnswerSettings,
    limit: usize,
) -> Option<Vec<u8>> {
    let (Decision::Records { answers, glue }, Some(shape)) = (decision, shape) else {
        return None;
    };
    if !glue.is_empty() {
        return None;
    }
    let query = AddressQuery {
        bytes,
        question: shape.question.clone()?,
        opt: shape.opt,
    };
    encode_addresses(&query, answers, settings.ttl, settings.edns_udp_size, limit)
}

/// The reply a decision other than forwarding gets, built as a message.
fn general_reply(
    request: &Message,
    view: &SandboxView,
    decision: Decision,
    settings: AnswerSettings,
) -> Message {
    let (code, authoritative) = match &decision {
        Decision::ServFail | Decision::Forward => (ResponseCode::ServFail, false),
        Decision::Refused => (ResponseCode::Refused, false),
        Decision::NxDomain { .. } => (ResponseCode::NXDomain, true),
        Decision::Records { .. } | Decision::NoData { .. } => (ResponseCode::NoError, true),
    };
    let mut reply = reply_to(request, code, authoritative, settings.edns_udp_size);
    let name = request.queries[0].name();
    match decision {
        Decision::Records { answers, glue } => {
            add_records(&mut reply, name, settings.ttl, view.serial, answers, glue);
        }
        Decision::NoData { apex_labels } | Decision::NxDomain { apex_labels } => {
            add_soa(&mut reply, name, apex_labels, settings.ttl, view.serial);
        }
        Decision::ServFail | Decision::Forward | Decision::Refused => {}
    }
    reply
}

mod forwarded;
mod plain;

pub use forwarded::{forwarded_reply, refused_reply};

#[cfg(test)]
pub(crate) mod flood_tests;
#[cfg(test)]
mod plain_tests;
#[cfg(test)]
mod protocol_tests;
#[cfg(test)]
mod tests;
