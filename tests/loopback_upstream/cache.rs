//! The forwarding cache against a fake upstream that counts packets: one
//! question per name per TTL reaches it, whatever the letter case; what is
//! never kept; a host resolv.conf change never serves the old set's
//! answers.

use std::net::SocketAddr;

use config::DaemonConfig;
use hickory_proto::op::{Edns, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};

use super::{
    address, ask, ask_until, question, resolver_watching, resolver_with_host, ANSWER, OTHER,
};
use crate::harness::fake_upstream::{Behaviour, FakeUpstream};

#[test]
fn the_upstream_sees_one_question_per_name_per_ttl() {
    let fake = FakeUpstream::start(Behaviour::Answer(ANSWER));
    let (resolver, forwarder) = resolver_with_host(&[&fake], DaemonConfig::default());
    for (id, name) in [(1, "a.example."), (2, "A.Example."), (3, "a.EXAMPLE.")] {
        let (reply, _) = ask(&resolver, &question(id, name));
        assert_eq!(reply.metadata.id, id);
        assert_eq!(address(&reply), Some(ANSWER));
        assert_eq!(
            reply.queries[0].name().to_string(),
            name,
            "the asker's case"
        );
        assert!(reply.answers[0].ttl <= 60);
    }
    assert_eq!(fake.udp_packets(), 1, "one question for three askings");
    ask(&resolver, &question(4, "b.example."));
    assert_eq!(fake.udp_packets(), 2, "another name is asked");
    let stats = forwarder.cache_stats(None).expect("on by default");
    assert_eq!((stats.hits, stats.entries), (2, 2), "{stats:?}");
    assert_eq!(forwarder.cache_stats(Some("app")).unwrap().hits, 2);
    assert_eq!(forwarder.flush_cache(), 2);
    ask(&resolver, &question(5, "a.example."));
    assert_eq!(fake.udp_packets(), 3, "a flushed name is asked again");
}

#[test]
fn plain_and_general_questions_share_entries_and_counters() {
    // A question with an EDNS option takes the general path (the whole
    // message decoded); one with an empty OPT record, or none, is asked of
    // the cache before any request is built. Same flags, same entry.
    let fake = FakeUpstream::start(Behaviour::Answer(ANSWER));
    let (resolver, forwarder) = resolver_with_host(&[&fake], DaemonConfig::default());
    let with_edns = |id: u16, name: &str, cookie: bool| {
        let mut message = question(id, name);
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        if cookie {
            let option = EdnsOption::Unknown(EdnsCode::Cookie.into(), vec![9; 8]);
            edns.options_mut().insert(option);
        }
        message.edns = Some(edns);
        message
    };
    let (first, _) = ask(&resolver, &with_edns(21, "shared.example.", true));
    let (second, _) = ask(&resolver, &with_edns(22, "SHARED.example.", false));
    assert_eq!(fake.udp_packets(), 1, "the plain question was a hit");
    assert_eq!((first.metadata.id, second.metadata.id), (21, 22));
    assert_eq!(address(&second), Some(ANSWER));
    assert_eq!(second.queries[0].name().to_string(), "SHARED.example.");
    // Without EDNS the flags differ: another entry, asked upstream once.
    ask(&resolver, &question(23, "shared.example."));
    ask(&resolver, &question(24, "shared.example."));
    assert_eq!(fake.udp_packets(), 2);
    let stats = forwarder.cache_stats(None).unwrap();
    assert_eq!(
        (stats.hits, stats.misses, stats.entries),
        (2, 2, 2),
        "{stats:?}"
    );
    let network = forwarder.cache_stats(Some("app")).unwrap();
    assert_eq!((network.hits, network.misses), (2, 2), "{network:?}");
}

#[test]
fn negative_answers_are_kept_and_servfail_is_not() {
    let nx = FakeUpstream::start(Behaviour::NxDomain);
    let (resolver, _) = resolver_with_host(&[&nx], DaemonConfig::default());
    for id in 1..=3 {
        let (reply, _) = ask(&resolver, &question(id, "gone.example."));
        assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
        assert!(reply.authorities[0].ttl <= 30, "the SOA's TTL counts down");
    }
    assert_eq!(nx.udp_packets(), 1, "RFC 2308: kept for the SOA minimum");

    let failing = FakeUpstream::start(Behaviour::ServFail);
    let (resolver, _) = resolver_with_host(&[&failing], DaemonConfig::default());
    for id in 1..=2 {
        let (reply, _) = ask(&resolver, &question(id, "broken.example."));
        assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    }
    assert!(failing.udp_packets() >= 2, "SERVFAIL is never kept");
}

#[test]
fn the_cd_bit_and_cache_size_zero_ask_again() {
    let fake = FakeUpstream::start(Behaviour::Answer(ANSWER));
    let (resolver, _) = resolver_with_host(&[&fake], DaemonConfig::default());
    ask(&resolver, &question(1, "a.example."));
    let mut cd = question(2, "a.example.");
    cd.metadata.checking_disabled = true;
    ask(&resolver, &cd);
    assert_eq!(fake.udp_packets(), 2, "CD is part of the key");

    let mut config = DaemonConfig::default();
    config.forwarding.cache_size = 0;
    let off = FakeUpstream::start(Behaviour::Answer(ANSWER));
    let (resolver, forwarder) = resolver_with_host(&[&off], config);
    ask(&resolver, &question(1, "a.example."));
    ask(&resolver, &question(2, "a.example."));
    assert_eq!(off.udp_packets(), 2, "cache_size = 0 turns the cache off");
    assert!(forwarder.cache_stats(None).is_none());
}

#[test]
fn a_host_resolv_conf_change_never_serves_the_old_sets_answers() {
    // Port 53 on loopback addresses of their own, as resolv.conf has no
    // port syntax (root, as every test machine is).
    let first_addr: SocketAddr = "127.77.4.1:53".parse().unwrap();
    let second_addr: SocketAddr = "127.77.4.2:53".parse().unwrap();
    let first = FakeUpstream::start_on(first_addr, Behaviour::Answer(OTHER));
    let second = FakeUpstream::start_on(second_addr, Behaviour::Answer(ANSWER));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resolv.conf");
    std::fs::write(&path, "nameserver 127.77.4.1\n").unwrap();
    let resolver = resolver_watching(&path);
    let name = "same.example.";
    assert_eq!(address(&ask(&resolver, &question(1, name)).0), Some(OTHER));
    assert_eq!(address(&ask(&resolver, &question(2, name)).0), Some(OTHER));
    assert_eq!(first.udp_packets(), 1, "the second asking was a hit");
    std::fs::write(&path, "nameserver 127.77.4.2\n").unwrap();
    // Asking the same cached name all along.
    ask_until(&resolver, 3, name, ANSWER, "the old set's answer stayed");
    assert_eq!(second.udp_packets(), 1);
}
