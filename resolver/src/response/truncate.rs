//! Fitting a reply into the client's size (RFC 1035 section 4.2.1, RFC
//! 6891 section 6.2.3).
//!
//! Additional records are dropped first: they are optional and their loss
//! needs no TC (RFC 2181 section 9). If the answer still does not fit, the
//! authority section goes, TC is set, and as many whole answer records as
//! fit are kept (RFC 2181 section 9 allows the partial RRset when TC is
//! set). A stub resolver that honours TC retries over TCP and gets them
//! all; one that ignores it (musl up to 1.2.3, which never retries: issue
//! #14) still gets addresses instead of "Name does not resolve". The OPT
//! record is kept throughout.

use hickory_proto::op::{Message, ResponseCode};

/// Encodes `reply` so that it fits `limit` bytes, as the module
/// documentation describes. A reply that cannot be encoded at all becomes
/// SERVFAIL.
pub fn encode_within(mut reply: Message, limit: usize) -> Vec<u8> {
    if let Some(bytes) = encode_if_fits(&reply, limit) {
        return bytes;
    }
    if !reply.additionals.is_empty() {
        reply.additionals.clear();
        if let Some(bytes) = encode_if_fits(&reply, limit) {
            return bytes;
        }
    }
    reply.authorities.clear();
    reply.metadata.truncation = true;
    let answers = std::mem::take(&mut reply.answers);
    let Some(mut best) = encode_if_fits(&reply, limit) else {
        // Only an unencodable question can get here.
        reply.queries.clear();
        reply.metadata.truncation = false;
        reply.metadata.response_code = ResponseCode::ServFail;
        return reply.to_vec().unwrap_or_default();
    };
    // The most answers that fit: all of them did not, none did. A binary
    // search, the records being of different sizes once compressed.
    let (mut fits, mut too_many) = (0, answers.len());
    while too_many - fits > 1 {
        let middle = fits + (too_many - fits) / 2;
        reply.answers = answers[..middle].to_vec();
        match encode_if_fits(&reply, limit) {
            Some(bytes) => (best, fits) = (bytes, middle),
            None => too_many = middle,
        }
    }
    best
}

fn encode_if_fits(reply: &Message, limit: usize) -> Option<Vec<u8>> {
    reply.to_vec().ok().filter(|bytes| bytes.len() <= limit)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_proto::op::{Edns, Message, Query};
    use hickory_proto::rr::{Name, RData, Record, RecordType};

    use super::encode_within;

    /// A reply to `many. A` with `count` addresses and an OPT record.
    fn reply(count: u8) -> Message {
        let name = Name::from_ascii("many.").unwrap();
        let mut reply = Message::query();
        reply.add_query(Query::query(name.clone(), RecordType::A));
        reply.edns = Some(Edns::new());
        for i in 0..count {
            let address = RData::A(Ipv4Addr::new(10, 0, 0, i).into());
            reply
                .answers
                .push(Record::from_rdata(name.clone(), 0, address));
        }
        reply
    }

    #[test]
    fn an_oversize_answer_keeps_the_whole_records_that_fit_with_tc() {
        let bytes = encode_within(reply(60), 512);
        assert!(bytes.len() <= 512);
        let got = Message::from_vec(&bytes).unwrap();
        assert!(got.metadata.truncation);
        assert!(got.edns.is_some(), "OPT kept");
        // 12 header + 10 question + 11 OPT = 33; 16 bytes per record.
        assert_eq!(got.answers.len(), (512 - 33) / 16);
        assert_eq!(got.answers[0].data, reply(1).answers[0].data);
    }

    #[test]
    fn a_reply_that_fits_is_left_alone() {
        let got = Message::from_vec(&encode_within(reply(20), 512)).unwrap();
        assert!(!got.metadata.truncation);
        assert_eq!(got.answers.len(), 20);
    }
}
