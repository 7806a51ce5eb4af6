//! Replies to forwarded questions: the upstream's answer relayed, cut to
//! the client's size when it is too large, or an error of our own.

use hickory_proto::op::{Message, ResponseCode};

use super::AnswerSettings;
use crate::response::{encode_within, reply_to};
use crate::upstream::ForwardRequest;

/// The reply to a forwarded question: the upstream's bytes with the
/// client's id put back, or SERVFAIL when the upstream gave none. An answer
/// larger than the client takes is not dropped (moby#44575) but cut to the
/// whole records that fit, with TC set ([`crate::response::encode_within`]),
/// so a client that honours TC retries over TCP and one that does not
/// (musl) still gets addresses; one that cannot be decoded comes back
/// empty with TC and the upstream's rcode.
pub fn forwarded_reply(
    request: &ForwardRequest,
    upstream: Option<Vec<u8>>,
    settings: AnswerSettings,
) -> Vec<u8> {
    let code = match upstream {
        Some(mut bytes) if bytes.len() >= 12 && bytes.len() <= request.reply_limit => {
            bytes[..2].copy_from_slice(&request.query.metadata.id.to_be_bytes());
            return bytes;
        }
        Some(bytes) if bytes.len() >= 12 => match cut_to_fit(request, &bytes, settings) {
            Some(reply) => return reply,
            None => ResponseCode::from(0, bytes[3] & 0x0f),
        },
        _ => ResponseCode::ServFail,
    };
    let mut reply = reply_to(&request.query, code, false, settings.edns_udp_size);
    reply.metadata.truncation = code != ResponseCode::ServFail;
    encode_within(reply, request.reply_limit)
}

/// The upstream's oversize answer as the client's reply: its id, its EDNS
/// (our size, its DO bit: RFC 6891 section 6.1.1, RFC 3225 section 3),
/// and the whole records that fit.
fn cut_to_fit(request: &ForwardRequest, bytes: &[u8], settings: AnswerSettings) -> Option<Vec<u8>> {
    let mut reply = Message::from_vec(bytes).ok()?;
    reply.metadata.id = request.query.metadata.id;
    reply.edns = reply_to(
        &request.query,
        ResponseCode::NoError,
        false,
        settings.edns_udp_size,
    )
    .edns;
    Some(encode_within(reply, request.reply_limit))
}

/// The reply when the bound on forwarded queries is reached: REFUSED at
/// once, so the client moves on instead of waiting (Docker waits 4 s).
pub fn refused_reply(request: &ForwardRequest, settings: AnswerSettings) -> Vec<u8> {
    let reply = reply_to(
        &request.query,
        ResponseCode::Refused,
        false,
        settings.edns_udp_size,
    );
    encode_within(reply, request.reply_limit)
}
