//! Log flooding (issue #14): 10,000 queries with a malformed EDNS option
//! once wrote 10,000 WARN lines (hickory's decoder, one per message). Now
//! each is answered FORMERR, counted, and logged within the rate limit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use hickory_proto::op::{Message, ResponseCode};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use super::{handle_message, AnswerSettings, HandlerContext, Outcome};
use crate::events::{self, EventCounts, EventLog};
use crate::qname::LocalDomain;
use crate::response::Transport;
use crate::stats::QueryStats;
use crate::table::tests::{endpoint, network};
use crate::table::EndpointTable;

/// Counts the WARN-or-worse events logged, from any crate.
#[derive(Default)]
pub(crate) struct WarnCounter(pub(crate) Arc<AtomicUsize>);

impl Subscriber for WarnCounter {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        if *event.metadata().level() <= Level::WARN {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// `web. A` with an OPT record whose one option claims 9 bytes and has 1.
fn malformed_edns_query(id: u16) -> Vec<u8> {
    let mut bytes = id.to_be_bytes().to_vec();
    bytes.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
    bytes.extend_from_slice(b"\x03web\x00\x00\x01\x00\x01");
    bytes.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 5, 0, 10, 0, 9, 1]);
    bytes
}

#[test]
fn ten_thousand_malformed_edns_queries_log_a_bounded_number_of_lines_and_count_all() {
    let table = EndpointTable::new();
    table.add_network(network("app")).unwrap();
    let client = endpoint("client", "app", "10.0.0.10");
    table.connect(client.clone()).unwrap();
    let counts = Arc::new(EventCounts::default());
    let (stats, events) = (
        QueryStats::default(),
        EventLog::new(Arc::clone(&counts), &client.id),
    );
    let context = HandlerContext {
        table: &table,
        sandbox_id: &client.id,
        settings: AnswerSettings {
            ttl: 0,
            edns_udp_size: 1232,
        },
        domain: &LocalDomain::default(),
        stats: &stats,
        events: &events,
        upstream: None,
        known_view: None,
    };
    let warnings = Arc::new(AtomicUsize::new(0));
    let subscriber = WarnCounter(Arc::clone(&warnings));
    let mut rng = fastrand::Rng::with_seed(1);
    tracing::subscriber::with_default(subscriber, || {
        for id in 0..10_000 {
            let outcome = handle_message(
                &context,
                &malformed_edns_query(id),
                Transport::Udp,
                &mut rng,
            );
            let Outcome::Reply(bytes) = outcome else {
                panic!("no reply: {outcome:?}");
            };
            let reply = Message::from_vec(&bytes).unwrap();
            assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
            assert_eq!(reply.queries.len(), 1, "the question echoed");
            assert!(reply.edns.is_some(), "OPT echoed (RFC 6891 section 7)");
        }
    });
    let logged = warnings.load(Ordering::Relaxed);
    assert!(
        logged <= events::BURST as usize + 1,
        "{logged} warnings for 10,000 queries"
    );
    assert_eq!(counts.get(events::Event::MalformedEdns), 10_000);
    assert_eq!(stats.snapshot(), [("other", "malformed", 10_000)]);
}
