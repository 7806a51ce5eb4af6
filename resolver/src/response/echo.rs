//! Replies made from a query's bytes without decoding it: NOTIMP for an
//! opcode other than QUERY, FORMERR for a message the decoder refuses or
//! that [`crate::shape`] finds flawed.
//!
//! The question is echoed when the query had exactly one (RFC 1035 section
//! 4.1.1 copies the question into the reply) and an OPT record is added
//! when the query had one (RFC 6891 section 7: a responder that
//! understands EDNS includes OPT in its reply, even an error). RA, AD and
//! CD are defined for QUERY only, so a reply to another opcode clears
//! them (as ISC's genreport checks); RD is copied (RFC 1035 section 4.1.1).

use hickory_proto::op::ResponseCode;

use crate::response::MIN_UDP_SIZE;
use crate::shape::Shape;

/// The OPT record type (RFC 6891 section 6.1.2).
const OPT: [u8; 2] = [0, 41];

/// The reply with `code` to the message `bytes` (at least a header), whose
/// walk gave `shape` (`None` when it could not be walked).
pub fn echo_reply(
    bytes: &[u8],
    shape: Option<&Shape>,
    code: ResponseCode,
    edns_udp_size: u16,
) -> Vec<u8> {
    let is_query = (bytes[2] >> 3) & 0x0f == 0;
    let one_question = bytes[4..6] == [0, 1];
    let question = shape
        .and_then(|shape| shape.question.clone())
        .filter(|range| one_question && ends_in_root(bytes, range))
        .map(|range| &bytes[range]);
    let opt = shape.and_then(|shape| shape.opt);
    let mut reply = Vec::with_capacity(12 + question.map_or(0, <[u8]>::len) + 11);
    reply.extend_from_slice(&bytes[..2]);
    // QR, the opcode and RD of the query; AA and TC clear.
    reply.push(0x80 | (bytes[2] & 0x79));
    let flags = if is_query {
        0x80 | (bytes[3] & 0x10)
    } else {
        0
    };
    reply.push(flags | (u16::from(code) as u8 & 0x0f));
    reply.extend_from_slice(&[0, u8::from(question.is_some()), 0, 0, 0, 0]);
    reply.extend_from_slice(&[0, u8::from(opt.is_some())]);
    reply.extend_from_slice(question.unwrap_or_default());
    if let Some(opt) = opt {
        reply.push(0);
        reply.extend_from_slice(&OPT);
        reply.extend_from_slice(&edns_udp_size.max(MIN_UDP_SIZE).to_be_bytes());
        let do_bit = if opt.dnssec_ok { 0x80 } else { 0 };
        reply.extend_from_slice(&[0, 0, do_bit, 0, 0, 0]);
    }
    reply
}

/// Whether the question's name ends in a root label rather than a
/// compression pointer, which would point elsewhere in the reply.
fn ends_in_root(bytes: &[u8], question: &std::ops::Range<usize>) -> bool {
    let mut at = question.start;
    while let Some(&len) = bytes.get(at).filter(|_| at < question.end) {
        match len {
            0 => return true,
            1..=63 => at += 1 + usize::from(len),
            _ => return false,
        }
    }
    false
}
