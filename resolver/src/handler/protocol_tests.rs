//! Issue #14's protocol corners, bytes in and bytes out: NOTIMP and
//! FORMERR echoing question and OPT, trailing bytes, oversize forwarded
//! answers cut to whole records, and the answers of `answer`'s new rules
//! as a client reads them.

use std::net::Ipv4Addr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::tests::{ask, query, reply, SETTINGS};
use super::{forwarded_reply, Outcome};
use crate::response::Transport;

fn reply_bytes(bytes: &[u8]) -> Message {
    match ask(bytes, Transport::Udp) {
        Outcome::Reply(bytes) => Message::from_vec(&bytes).unwrap(),
        other => panic!("{other:?}"),
    }
}

fn with_edns(mut message: Message) -> Message {
    message.edns = Some(
        Edns::new()
            .set_max_payload(1232)
            .set_dnssec_ok(true)
            .clone(),
    );
    message
}

#[test]
fn notimp_echoes_question_and_opt_and_clears_ra() {
    let mut bytes = with_edns(query("web.", RecordType::A)).to_vec().unwrap();
    bytes[2] = (bytes[2] & 0x87) | (15 << 3);
    let got = reply_bytes(&bytes);
    assert_eq!(got.metadata.response_code, ResponseCode::NotImp);
    assert_eq!(got.metadata.op_code, OpCode::Unknown(15));
    assert_eq!(got.queries.len(), 1, "question echoed");
    assert_eq!(got.queries[0].name().to_ascii(), "web.");
    let edns = got.edns.expect("OPT echoed (RFC 6891 section 7)");
    assert!(edns.flags().dnssec_ok);
    assert!(
        !got.metadata.recursion_available,
        "RA is defined for QUERY only"
    );
    assert!(got.metadata.recursion_desired, "RD copied");
    // A header-only query (genreport's opcode test) gets no question back.
    let mut header = bytes[..12].to_vec();
    header[4..12].fill(0);
    let got = reply_bytes(&header);
    assert_eq!(got.metadata.response_code, ResponseCode::NotImp);
    assert!(got.queries.is_empty() && got.edns.is_none());
}

#[test]
fn trailing_bytes_after_the_question_are_formerr() {
    for message in [
        query("web.", RecordType::A),
        with_edns(query("web.", RecordType::A)),
    ] {
        let mut bytes = message.to_vec().unwrap();
        bytes.extend_from_slice(&[0xde, 0xad]);
        let got = reply_bytes(&bytes);
        assert_eq!(got.metadata.response_code, ResponseCode::FormErr);
        assert!(got.answers.is_empty());
        assert_eq!(got.queries.len(), 1);
        assert_eq!(got.edns.is_some(), message.edns.is_some());
    }
}

#[test]
fn an_oversize_forwarded_answer_keeps_the_whole_records_that_fit_with_tc() {
    let request = query("big.example.", RecordType::A);
    let Outcome::Forward(forward) = ask(&request.to_vec().unwrap(), Transport::Udp) else {
        panic!("forwarded")
    };
    let mut upstream = Message::new(0x9999, MessageType::Response, OpCode::Query);
    upstream.queries.clone_from(&request.queries);
    let name = Name::from_ascii("big.example.").unwrap();
    for i in 0..40 {
        let address = RData::A(Ipv4Addr::new(192, 0, 2, i).into());
        upstream
            .answers
            .push(Record::from_rdata(name.clone(), 60, address));
    }
    let bytes = forwarded_reply(&forward, Some(upstream.to_vec().unwrap()), SETTINGS);
    assert!(bytes.len() <= 512);
    let got = Message::from_vec(&bytes).unwrap();
    assert_eq!(got.metadata.id, 0x1234);
    assert!(got.metadata.truncation);
    // 12 + 18 for header and question, 16 per record.
    assert_eq!(got.answers.len(), (512 - 30) / 16);
    assert_eq!(got.answers[0], upstream.answers[0]);
}

#[test]
fn localhost_class_any_and_type_any_as_a_client_reads_them() {
    let local = reply(&query("db.localhost.", RecordType::A));
    assert_eq!(local.answers.len(), 1);
    assert_eq!(local.answers[0].data, RData::A(Ipv4Addr::LOCALHOST.into()));
    let mut any_class = query("web.", RecordType::A);
    any_class.queries[0].set_query_class(DNSClass::ANY);
    let found = reply(&any_class);
    assert_eq!(found.metadata.response_code, ResponseCode::NoError);
    assert_eq!(found.answers.len(), 1);
    assert_eq!(found.queries[0].query_class(), DNSClass::ANY, "echoed");
    let mut chaos = query("web.", RecordType::TXT);
    chaos.queries[0].set_query_class(DNSClass::CH);
    assert_eq!(reply(&chaos).metadata.response_code, ResponseCode::Refused);
    let any_type = reply(&query("web.", RecordType::ANY));
    assert_eq!(any_type.answers.len(), 1);
    let soa = reply(&query("app.", RecordType::SOA));
    assert_eq!(soa.answers.len(), 1);
    assert_eq!(soa.answers[0].record_type(), RecordType::SOA);
    assert_eq!(soa.answers[0].name.to_ascii(), "app.");
    assert!(soa.metadata.authoritative);
}
