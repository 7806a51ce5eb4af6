//! The cache without sockets: keys, expiry on an injected clock, negative
//! answers, what is never kept, case, bounds.

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::entry::{MAX_NEGATIVE_TTL, MAX_POSITIVE_TTL};
use super::*;
use crate::forward::wire;

fn query(name: &str, id: u16) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = id;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    m.to_vec().unwrap()
}

fn reply(name: &str, code: ResponseCode, answers: &[(u32, Ipv4Addr)]) -> Message {
    let mut m = Message::new(7, MessageType::Response, OpCode::Query);
    m.metadata.response_code = code;
    let name = Name::from_str(name).unwrap();
    m.add_query(Query::query(name.clone(), RecordType::A));
    for &(ttl, a) in answers {
        m.answers
            .push(Record::from_rdata(name.clone(), ttl, RData::A(A(a))));
    }
    m
}

fn with_soa(mut m: Message, ttl: u32, minimum: u32) -> Message {
    let apex = Name::from_str("example.").unwrap();
    let soa = SOA::new(apex.clone(), apex.clone(), 1, 60, 60, 60, minimum);
    m.authorities
        .push(Record::from_rdata(apex, ttl, RData::SOA(soa)));
    m
}

fn key_of(scope: Scope<'_>, flags: QueryFlags, name: &str) -> Key {
    Key::new(scope, flags, wire::question(&query(name, 1)).unwrap()).unwrap()
}

fn host_key(name: &str) -> Key {
    key_of(Scope::Host(0), QueryFlags::default(), name)
}

fn serve(cache: &Cache, name: &str, id: u16, now: Instant) -> Option<Message> {
    let q = query(name, id);
    let bytes = cache.get(&host_key(name), id, wire::question(&q).unwrap(), now)?;
    Some(Message::from_vec(&bytes).unwrap())
}

fn ttls(m: &Message) -> Vec<u32> {
    m.answers
        .iter()
        .chain(&m.authorities)
        .map(|r| r.ttl)
        .collect()
}

#[test]
fn ttls_count_down_and_the_entry_expires() {
    let cache = Cache::new(100).unwrap();
    let t0 = Instant::now();
    let answer = reply(
        "a.example.",
        ResponseCode::NoError,
        &[(30, [1, 2, 3, 4].into()), (90, [5, 6, 7, 8].into())],
    );
    assert!(cache.insert(&host_key("a.example."), &answer.to_vec().unwrap(), t0));
    let first = serve(&cache, "a.example.", 9, t0).unwrap();
    assert_eq!(first.metadata.id, 9);
    assert_eq!(
        ttls(&first),
        [30, 30],
        "every TTL cut to the entry's lifetime"
    );
    let later = serve(&cache, "a.example.", 9, t0 + Duration::from_millis(12_500)).unwrap();
    assert_eq!(ttls(&later), [18, 18]);
    assert!(serve(&cache, "a.example.", 9, t0 + Duration::from_secs(30)).is_none());
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (2, 1, 1));
}

#[test]
fn the_question_keeps_the_askers_letter_case() {
    let cache = Cache::new(100).unwrap();
    let now = Instant::now();
    let answer = reply(
        "www.example.",
        ResponseCode::NoError,
        &[(60, [1, 1, 1, 1].into())],
    );
    cache.insert(&host_key("www.example."), &answer.to_vec().unwrap(), now);
    let served = serve(&cache, "wWw.ExAmple.", 3, now).unwrap();
    assert_eq!(served.queries[0].name().to_string(), "wWw.ExAmple.");
    assert_eq!(served.answers.len(), 1);
}

#[test]
fn keys_separate_upstream_sets_flags_and_types() {
    let a: SocketAddr = "192.0.2.1:53".parse().unwrap();
    let b: SocketAddr = "192.0.2.2:53".parse().unwrap();
    let plain = QueryFlags::default();
    let dnssec = QueryFlags {
        dnssec_ok: true,
        edns: true,
        ..plain
    };
    let cd = QueryFlags { cd: true, ..plain };
    let keys = [
        key_of(Scope::Host(0), plain, "x.example."),
        key_of(Scope::Host(1), plain, "x.example."),
        key_of(Scope::Sandbox(0), plain, "x.example."),
        key_of(Scope::Servers(&[a]), plain, "x.example."),
        key_of(Scope::Servers(&[a, b]), plain, "x.example."),
        key_of(Scope::Servers(&[b, a]), plain, "x.example."),
        key_of(Scope::Host(0), dnssec, "x.example."),
        key_of(Scope::Host(0), cd, "x.example."),
    ];
    for (i, x) in keys.iter().enumerate() {
        for y in &keys[i + 1..] {
            assert_ne!(x.as_bytes(), y.as_bytes());
        }
    }
    assert_eq!(
        host_key("X.Example.").as_bytes(),
        host_key("x.example.").as_bytes()
    );
    let mut https = query("x.example.", 1);
    let at = https.len() - 3;
    https[at] = 65; // type HTTPS (0x41, an 'A' if it were a letter)
    let https = Key::new(Scope::Host(0), plain, wire::question(&https).unwrap()).unwrap();
    let mut type97 = query("x.example.", 1);
    type97[at] = 97;
    let type97 = Key::new(Scope::Host(0), plain, wire::question(&type97).unwrap()).unwrap();
    assert_ne!(
        https.as_bytes(),
        type97.as_bytes(),
        "type bytes are not lowercased"
    );
}

#[test]
fn negative_answers_live_for_the_soa_minimum_capped() {
    let cache = Cache::new(100).unwrap();
    let t0 = Instant::now();
    let nx = with_soa(
        reply("gone.example.", ResponseCode::NXDomain, &[]),
        3600,
        20,
    );
    assert!(cache.insert(&host_key("gone.example."), &nx.to_vec().unwrap(), t0));
    let served = serve(&cache, "gone.example.", 1, t0 + Duration::from_secs(5)).unwrap();
    assert_eq!(served.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(ttls(&served), [15]);
    assert!(serve(&cache, "gone.example.", 1, t0 + Duration::from_secs(20)).is_none());

    let long = with_soa(
        reply("nodata.example.", ResponseCode::NoError, &[]),
        86_400,
        86_400,
    );
    let entry = Entry::new(&long.to_vec().unwrap(), t0).unwrap();
    assert_eq!(entry.lifetime(), MAX_NEGATIVE_TTL);
    let huge = reply(
        "a.example.",
        ResponseCode::NoError,
        &[(1 << 30, [1, 1, 1, 1].into())],
    );
    assert_eq!(
        Entry::new(&huge.to_vec().unwrap(), t0).unwrap().lifetime(),
        MAX_POSITIVE_TTL
    );
}

#[test]
fn failures_truncation_and_soa_less_negatives_are_not_kept() {
    let now = Instant::now();
    let servfail = reply("a.example.", ResponseCode::ServFail, &[]);
    let refused = reply("a.example.", ResponseCode::Refused, &[]);
    let bare_nx = reply("a.example.", ResponseCode::NXDomain, &[]);
    let mut truncated = reply(
        "a.example.",
        ResponseCode::NoError,
        &[(60, [1, 1, 1, 1].into())],
    );
    truncated.metadata.truncation = true;
    let zero = reply(
        "a.example.",
        ResponseCode::NoError,
        &[(0, [1, 1, 1, 1].into())],
    );
    for m in [servfail, refused, bare_nx, truncated, zero] {
        assert!(Entry::new(&m.to_vec().unwrap(), now).is_none(), "{m:?}");
    }
    let mut trailing = reply(
        "a.example.",
        ResponseCode::NoError,
        &[(60, [1, 1, 1, 1].into())],
    )
    .to_vec()
    .unwrap();
    trailing.push(0);
    assert!(Entry::new(&trailing, now).is_none());
}

#[test]
fn opt_options_of_the_first_asker_are_dropped() {
    let now = Instant::now();
    let mut m = reply(
        "a.example.",
        ResponseCode::NoError,
        &[(60, [1, 1, 1, 1].into())],
    );
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    edns.set_dnssec_ok(true);
    edns.options_mut()
        .insert(hickory_proto::rr::rdata::opt::EdnsOption::Unknown(
            10,
            vec![1; 16],
        ));
    m.edns = Some(edns);
    let bytes = m.to_vec().unwrap();
    let entry = Entry::new(&bytes, now).unwrap();
    let q = query("a.example.", 5);
    let served =
        Message::from_vec(&entry.serve(5, wire::question(&q).unwrap(), now).unwrap()).unwrap();
    let edns = served.edns.expect("the OPT stays");
    assert!(edns.flags().dnssec_ok, "its DO bit stays");
    assert_eq!(edns.options().as_ref().len(), 0, "its options go");
}

#[test]
fn entries_and_memory_are_bounded_with_eviction() {
    let cache = Cache::new(SHARDS).unwrap(); // one entry a shard
    let t0 = Instant::now();
    for i in 0..200u32 {
        let name = format!("n{i}.example.");
        let answer = reply(
            &name,
            ResponseCode::NoError,
            &[(60 + i, [1, 1, 1, 1].into())],
        );
        assert!(cache.insert(&host_key(&name), &answer.to_vec().unwrap(), t0));
    }
    let stats = cache.stats();
    assert!(stats.entries <= SHARDS as u64, "{stats:?}");
    assert!(stats.bytes <= (SHARDS * BYTES_PER_SLOT) as u64, "{stats:?}");
    assert_eq!(stats.evictions, 200 - stats.entries);
    assert_eq!(cache.flush() as u64, stats.entries);
    assert_eq!(cache.stats().entries, 0);
    assert!(Cache::new(0).is_none(), "0 turns the cache off");
}

#[test]
fn expired_entries_are_removed_before_live_ones() {
    let cache = Cache::new(SHARDS).unwrap();
    let t0 = Instant::now();
    for i in 0..64u32 {
        let name = format!("e{i}.example.");
        let answer = reply(&name, ResponseCode::NoError, &[(1, [1, 1, 1, 1].into())]);
        cache.insert(
            &host_key(&name),
            &answer.to_vec().unwrap(),
            t0 + Duration::from_secs(u64::from(i) * 2),
        );
    }
    let stats = cache.stats();
    assert!(stats.expired > 0, "{stats:?}");
}
