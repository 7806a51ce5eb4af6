//! The plain path ([`super::plain`]) against the general one: for every
//! message, well formed or mangled, both give the same outcome, byte for
//! byte, and count it the same way.

use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::rr::{DNSClass, Name, RecordType};

use super::tests::{query, table, with_context};
use super::{handle, Outcome};
use crate::response::Transport;
use crate::table::EndpointTable;

const NAMES: [&str; 10] = [
    "web.",
    "WeB.app.",
    "many.",
    "m7.app.",
    "nothere.",
    "nope.example.",
    "2.0.0.10.in-addr.arpa.",
    "app.",
    "web.netagent.internal.",
    "x.y.netagent.internal.",
];
const TYPES: [RecordType; 8] = [
    RecordType::A,
    RecordType::AAAA,
    RecordType::ANY,
    RecordType::PTR,
    RecordType::SRV,
    RecordType::TXT,
    RecordType::MX,
    RecordType::SOA,
];

/// A query as some client might send it: any name of the table's or not,
/// any type, class IN mostly, EDNS or not, with or without options.
fn random_query(rng: &mut fastrand::Rng) -> Vec<u8> {
    let name = NAMES[rng.usize(..NAMES.len())];
    let mut message = query(name, TYPES[rng.usize(..TYPES.len())]);
    message.metadata.id = rng.u16(..);
    message.metadata.recursion_desired = rng.bool();
    message.metadata.checking_disabled = rng.bool();
    if rng.u8(..4) == 0 {
        let class = [DNSClass::ANY, DNSClass::CH, DNSClass::NONE][rng.usize(..3)];
        message.queries[0].set_query_class(class);
    }
    if rng.bool() {
        let mut edns = Edns::new();
        edns.set_max_payload([100, 512, 600, 1232, 4096][rng.usize(..5)]);
        edns.set_dnssec_ok(rng.bool());
        edns.set_version([0, 0, 0, 1][rng.usize(..4)]);
        if rng.u8(..3) == 0 {
            let cookie = EdnsOption::Unknown(EdnsCode::Cookie.into(), vec![7; 8]);
            edns.options_mut().insert(cookie);
        }
        message.edns = Some(edns);
    }
    if rng.u8(..10) == 0 {
        message.add_query(Query::query(
            Name::from_ascii("web.").unwrap(),
            RecordType::A,
        ));
    }
    message.to_vec().unwrap()
}

/// `bytes` with a few bytes changed, cut short or grown.
fn mangle(mut bytes: Vec<u8>, rng: &mut fastrand::Rng) -> Vec<u8> {
    for _ in 0..rng.usize(1..4) {
        match rng.u8(..3) {
            0 => {
                let at = rng.usize(..bytes.len());
                bytes[at] = rng.u8(..);
            }
            1 => bytes.truncate(rng.usize(..bytes.len())),
            _ => bytes.push(rng.u8(..)),
        }
        if bytes.is_empty() {
            break;
        }
    }
    bytes
}

/// The outcome and count of `bytes`, by the plain path or not.
fn outcome(table: &EndpointTable, client: &str, bytes: &[u8], plain: bool) -> String {
    let rng = &mut fastrand::Rng::with_seed(5);
    let (outcome, counted) = with_context(table, client, |context| {
        handle(context, bytes, Transport::Udp, rng, plain)
    });
    let outcome = match outcome {
        Outcome::Reply(reply) => format!("reply {reply:?}"),
        Outcome::Forward(request) => format!(
            "forward {:?} {:?} {} {:?}",
            request.query, request.wire, request.reply_limit, request.transport
        ),
        Outcome::Drop => "drop".to_string(),
    };
    format!("{outcome} counted {counted:?}")
}

#[test]
fn every_message_gets_what_the_general_path_gives() {
    let (table, client) = table();
    let mut rng = fastrand::Rng::with_seed(16);
    let mut addresses = 0;
    for round in 0..6000 {
        let mut bytes = random_query(&mut rng);
        if round % 3 == 0 {
            bytes = mangle(bytes, &mut rng);
        }
        let plain = outcome(&table, &client, &bytes, true);
        let general = outcome(&table, &client, &bytes, false);
        assert_eq!(plain, general, "message {bytes:?}");
        addresses += usize::from(plain.contains(", Answer))"));
    }
    // Enough of them were answers of addresses, the plain path's own.
    assert!(addresses > 300, "{addresses} answers");
}

/// A message of one question whose name is `name` as it stands on the
/// wire, asked for `qtype`, with or without a bare OPT record.
fn raw_query(name: &[u8], qtype: u16, opt: bool) -> Vec<u8> {
    let mut bytes = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(opt)];
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(&qtype.to_be_bytes());
    bytes.extend_from_slice(&1u16.to_be_bytes());
    if opt {
        bytes.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    }
    bytes
}

/// Names the wire allows and the table cannot hold, names at and over the
/// 255-byte bound, pointers and label types: the name read straight from
/// the wire ([`crate::qname::NameKey::of_wire`]) decides as the decoded
/// one does.
#[test]
fn names_at_the_edges_of_the_wire_get_what_the_general_path_gives() {
    let (table, client) = table();
    let labels = |lens: &[usize]| -> Vec<u8> {
        let mut wire = Vec::new();
        for &len in lens {
            wire.push(len as u8);
            wire.extend(std::iter::repeat_n(b'w', len));
        }
        wire.push(0);
        wire
    };
    let names: Vec<Vec<u8>> = vec![
        b"\x03WEB\x00".to_vec(),
        b"\x03web\x03APP\x00".to_vec(),
        b"\x03w*b\x00".to_vec(),
        b"\x03w.b\x00".to_vec(),
        b"\x03w\xe9b\x03app\x00".to_vec(),
        b"\x03web\xc0\x0c".to_vec(),
        b"\x03web\xc0\x05".to_vec(),
        b"\x03web\x40".to_vec(),
        b"\x09localhost\x00".to_vec(),
        b"\x03web\x08netagent\x08internal\x00".to_vec(),
        b"\x01_\x04_tcp\x03web\x00".to_vec(),
        vec![0],
        labels(&[63, 63, 63, 61]),
        labels(&[63, 63, 63, 62]),
        labels(&[1; 127]),
        labels(&[1; 128]),
    ];
    for name in &names {
        for qtype in [1, 28, 12, 33, 255, 65535] {
            for opt in [false, true] {
                let bytes = raw_query(name, qtype, opt);
                let plain = outcome(&table, &client, &bytes, true);
                let general = outcome(&table, &client, &bytes, false);
                assert_eq!(plain, general, "message {bytes:?}");
            }
        }
    }
}

#[test]
fn a_sandbox_on_no_network_is_refused_either_way() {
    let (table, _) = table();
    let bytes = Message::to_vec(&query("web.", RecordType::A)).unwrap();
    let plain = outcome(&table, "gone", &bytes, true);
    assert_eq!(plain, outcome(&table, "gone", &bytes, false));
    assert!(plain.contains(", Refused))"), "{plain}");
}

#[test]
fn a_forwarded_question_counts_as_forwarded() {
    let (table, client) = table();
    for edns in [false, true] {
        let mut message = query("nope.example.", RecordType::A);
        if edns {
            message.edns = Some(Edns::new());
        }
        let bytes = message.to_vec().unwrap();
        let plain = outcome(&table, &client, &bytes, true);
        assert!(plain.starts_with("forward"), "{plain}");
        assert!(plain.ends_with("Some((Some(A), Forwarded))"), "{plain}");
    }
}
