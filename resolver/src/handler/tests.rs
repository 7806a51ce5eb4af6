//! Bytes in, bytes out: the message rules, flags, EDNS and truncation,
//! checked without a socket.

use std::net::Ipv4Addr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

use super::{forwarded_reply, handle_message, AnswerSettings, HandlerContext, Outcome};
use crate::events::EventLog;
use crate::qname::LocalDomain;
use crate::response::Transport;
use crate::stats::QueryStats;
use crate::table::tests::{endpoint, network};
use crate::table::EndpointTable;

pub(super) const SETTINGS: AnswerSettings = AnswerSettings {
    ttl: 0,
    edns_udp_size: 1232,
};

/// `client` and `web` on `app`, and 60 sandboxes sharing the alias `many`.
pub(super) fn table() -> (EndpointTable, String) {
    let table = EndpointTable::new();
    table.add_network(network("app")).unwrap();
    let client = endpoint("client", "app", "10.0.0.10");
    table.connect(client.clone()).unwrap();
    table.connect(endpoint("web", "app", "10.0.0.2")).unwrap();
    for i in 0..60 {
        let mut e = endpoint(&format!("m{i}"), "app", &format!("10.0.1.{i}"));
        e.aliases = vec!["many".into()];
        table.connect(e).unwrap();
    }
    (table, client.id)
}

pub(super) fn query(name: &str, qtype: RecordType) -> Message {
    let mut message = Message::query();
    message.metadata.id = 0x1234;
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    message
}

/// Runs `work` with a handler context for `client` of `table`: the test
/// settings and domain, fresh counters, no upstream.
pub(super) fn with_context<T>(
    table: &EndpointTable,
    client: &str,
    work: impl FnOnce(&HandlerContext<'_>) -> T,
) -> T {
    let stats = QueryStats::default();
    let events = EventLog::new(Default::default(), "test");
    let domain = LocalDomain::new("netagent.internal");
    work(&HandlerContext {
        table,
        sandbox_id: client,
        settings: SETTINGS,
        domain: &domain,
        stats: &stats,
        events: &events,
        upstream: None,
        known_view: None,
    })
}

pub(super) fn ask(bytes: &[u8], transport: Transport) -> Outcome {
    thread_local!(static TABLE: (EndpointTable, String) = table());
    TABLE.with(|(table, client)| {
        with_context(table, client, |context| {
            handle_message(context, bytes, transport, &mut fastrand::Rng::with_seed(3))
        })
    })
}

pub(super) fn reply(message: &Message) -> Message {
    match ask(&message.to_vec().unwrap(), Transport::Udp) {
        Outcome::Reply(bytes) => Message::from_vec(&bytes).unwrap(),
        other => panic!("expected a reply, got {other:?}"),
    }
}

#[test]
fn local_answer_flags_ttl_and_echoed_question() {
    let request = query("WeB.app.", RecordType::A);
    let got = reply(&request);
    let meta = &got.metadata;
    assert_eq!(meta.id, 0x1234);
    assert_eq!(meta.message_type, MessageType::Response);
    assert!(
        meta.authoritative
            && meta.recursion_available
            && meta.recursion_desired
            && !meta.truncation
    );
    assert_eq!(meta.response_code, ResponseCode::NoError);
    assert_eq!(got.queries, request.queries);
    assert!(
        got.queries[0].name().eq_case(request.queries[0].name()),
        "spelling echoed"
    );
    assert_eq!(got.answers.len(), 1);
    assert!(got.answers[0].name.eq_case(request.queries[0].name()));
    assert_eq!(got.answers[0].ttl, 0);
    assert_eq!(
        got.answers[0].data,
        RData::A(Ipv4Addr::new(10, 0, 0, 2).into())
    );
    assert!(got.edns.is_none(), "no OPT for a query without one");
}

#[test]
fn nodata_and_nxdomain_carry_an_soa() {
    let nodata = reply(&query("web.app.", RecordType::TXT));
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    assert!(nodata.answers.is_empty());
    assert_eq!(nodata.authorities.len(), 1);
    assert_eq!(nodata.authorities[0].record_type(), RecordType::SOA);
    // The SOA of the zone's apex, the network (issue #14), not of the name.
    assert_eq!(nodata.authorities[0].name.to_ascii(), "app.");
    let nx = reply(&query("ghost.App.", RecordType::A));
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert!(nx.metadata.authoritative);
    assert_eq!(nx.authorities[0].name.to_ascii(), "App.");
}

#[test]
fn the_domain_answers_like_the_short_name_with_its_apex_owning_the_soa() {
    let web = reply(&query("Web.NetAgent.Internal.", RecordType::A));
    assert_eq!(web.metadata.response_code, ResponseCode::NoError);
    assert!(web.metadata.authoritative);
    assert_eq!(web.answers.len(), 1);
    assert!(web.answers[0]
        .name
        .eq_case(&Name::from_ascii("Web.NetAgent.Internal.").unwrap()));
    assert_eq!(
        web.answers[0].data,
        RData::A(Ipv4Addr::new(10, 0, 0, 2).into())
    );
    for (name, code) in [
        ("web.app.NetAgent.internal.", ResponseCode::NoError),
        ("NetAgent.internal.", ResponseCode::NoError),
        ("nosuch.NetAgent.internal.", ResponseCode::NXDomain),
    ] {
        let got = reply(&query(name, RecordType::AAAA));
        assert_eq!(got.metadata.response_code, code, "{name}");
        assert!(
            got.metadata.authoritative && got.answers.is_empty(),
            "{name}"
        );
        assert_eq!(got.authorities.len(), 1, "{name}");
        let soa = &got.authorities[0];
        assert_eq!(soa.record_type(), RecordType::SOA);
        assert_eq!(soa.name.to_ascii(), "NetAgent.internal.", "{name}");
    }
}

#[test]
fn edns_is_echoed_and_badvers_refused() {
    let mut request = query("web.", RecordType::A);
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    edns.set_dnssec_ok(true);
    request.edns = Some(edns.clone());
    let got = reply(&request);
    let opt = got.edns.expect("OPT echoed");
    assert_eq!(opt.max_payload(), 1232);
    assert!(opt.flags().dnssec_ok);
    edns.set_version(1);
    request.edns = Some(edns);
    let got = reply(&request);
    // BADVERS and BADSIG share code 16 (RFC 6891, RFC 8945).
    assert_eq!(u16::from(got.metadata.response_code), 16);
    assert_eq!(got.edns.unwrap().version(), 0);
}

#[test]
fn oversized_udp_answer_is_truncated_whole_and_fits_over_edns_or_tcp() {
    let request = query("many.", RecordType::A);
    let plain = reply(&request);
    assert!(plain.metadata.truncation);
    // As many whole records as fit in 512 bytes (issue #14: musl ignores
    // TC): 12 + 10 for header and question, 16 per record.
    assert_eq!(plain.answers.len(), (512 - 22) / 16);
    let mut with_edns = request.clone();
    with_edns.edns = Some(Edns::new().set_max_payload(1232).clone());
    let big = reply(&with_edns);
    assert!(!big.metadata.truncation);
    assert_eq!(big.answers.len(), 60);
    match ask(&request.to_vec().unwrap(), Transport::Tcp) {
        Outcome::Reply(bytes) => assert_eq!(Message::from_vec(&bytes).unwrap().answers.len(), 60),
        other => panic!("{other:?}"),
    }
}

#[test]
fn message_rules() {
    let good = query("web.", RecordType::A).to_vec().unwrap();
    // QR=1: no reply.
    let mut response = good.clone();
    response[2] |= 0x80;
    assert!(matches!(ask(&response, Transport::Udp), Outcome::Drop));
    // Too short for a header.
    assert!(matches!(ask(&good[..11], Transport::Udp), Outcome::Drop));
    // Opcode STATUS (2): NOTIMP, id kept.
    let mut status = good.clone();
    status[2] = (status[2] & 0x87) | (2 << 3);
    assert_rcode(&ask(&status, Transport::Udp), ResponseCode::NotImp);
    // Two questions, then none: FORMERR.
    let mut two = query("web.", RecordType::A);
    two.add_query(Query::query(
        Name::from_ascii("db.").unwrap(),
        RecordType::A,
    ));
    assert_rcode(
        &ask(&two.to_vec().unwrap(), Transport::Udp),
        ResponseCode::FormErr,
    );
    let mut none = query("web.", RecordType::A);
    none.queries.clear();
    assert_rcode(
        &ask(&none.to_vec().unwrap(), Transport::Udp),
        ResponseCode::FormErr,
    );
    // A header promising a question that is not there, and random garbage.
    assert_rcode(&ask(&good[..14], Transport::Udp), ResponseCode::FormErr);
    let mut rng = fastrand::Rng::with_seed(99);
    for len in 12..300 {
        let mut noise: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        noise[2] &= 0x7f;
        let _ = ask(&noise, Transport::Udp);
    }
}

fn assert_rcode(outcome: &Outcome, code: ResponseCode) {
    let Outcome::Reply(bytes) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(&bytes[..2], &[0x12, 0x34]);
    assert_eq!(bytes[2] & 0x80, 0x80, "QR set");
    assert_eq!(u16::from(bytes[3] & 0x0f), u16::from(code), "{bytes:?}");
}

#[test]
fn unknown_names_are_forwarded_and_the_reply_gets_the_clients_id() {
    let request = query("example.com.", RecordType::A);
    let Outcome::Forward(forward) = ask(&request.to_vec().unwrap(), Transport::Udp) else {
        panic!()
    };
    assert_eq!(forward.query.queries, request.queries);
    let mut upstream = Message::new(0x9999, MessageType::Response, OpCode::Query);
    upstream.queries.clone_from(&request.queries);
    let bytes = forwarded_reply(&forward, Some(upstream.to_vec().unwrap()), SETTINGS);
    assert_eq!(Message::from_vec(&bytes).unwrap().metadata.id, 0x1234);
    let failed = Message::from_vec(&forwarded_reply(&forward, None, SETTINGS)).unwrap();
    assert_eq!(failed.metadata.response_code, ResponseCode::ServFail);
    assert!(!failed.metadata.authoritative);
}

#[test]
fn a_sandbox_on_no_network_is_refused() {
    let (table, _) = table();
    let bytes = query("web.", RecordType::A).to_vec().unwrap();
    let stats = QueryStats::default();
    let context = HandlerContext {
        table: &table,
        sandbox_id: "gone",
        settings: SETTINGS,
        domain: &LocalDomain::default(),
        stats: &stats,
        events: &EventLog::new(Default::default(), "test"),
        upstream: None,
        known_view: None,
    };
    let outcome = handle_message(&context, &bytes, Transport::Udp, &mut fastrand::Rng::new());
    assert_eq!(stats.snapshot(), [("A", "refused", 1)]);
    assert_rcode(&outcome, ResponseCode::Refused);
}

/// The serving loop hands the handler the view it keeps
/// ([`crate::table::CachedView`]); the handler answers from that view,
/// whether a question takes the plain path or the general one.
#[test]
fn the_view_the_loop_keeps_is_the_one_answered_from() {
    let (table, client) = table();
    let kept = table.view(&client).unwrap();
    let web = endpoint("web", "app", "10.0.0.2");
    table.disconnect(&web.id, "app").unwrap();
    let bytes = query("web", RecordType::A).to_vec().unwrap();
    for plain_path in [true, false] {
        let answered = |known_view| {
            with_context(&table, &client, |context| {
                let context = HandlerContext {
                    known_view,
                    ..*context
                };
                let rng = &mut fastrand::Rng::with_seed(1);
                super::handle(&context, &bytes, Transport::Udp, rng, plain_path).0
            })
        };
        assert!(
            matches!(answered(Some(&kept)), Outcome::Reply(_)),
            "web is in the kept view"
        );
        assert!(
            matches!(answered(None), Outcome::Forward(_)),
            "and gone from the table's"
        );
    }
}
