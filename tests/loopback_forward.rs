//! Loopback tier with fake upstreams: which questions leave the resolver,
//! what comes back to the client, and the bound on questions in flight.

use std::net::{Ipv4Addr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use config::DaemonConfig;
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use resolver::upstream::{FixedUpstream, ForwardRequest, Upstream, UpstreamFuture};

use crate::harness::clients;
use crate::harness::inprocess::InProcessServer;

/// An upstream that never answers, to hold queries in flight.
struct StalledUpstream;

impl Upstream for StalledUpstream {
    fn forward<'a>(&'a self, _request: &'a ForwardRequest) -> UpstreamFuture<'a> {
        Box::pin(std::future::pending())
    }
}

fn dig(server: &InProcessServer, args: &[&str]) -> String {
    clients::dig(server, args).text
}

#[test]
fn forwarded_names_get_the_upstreams_answer() {
    let upstream = Arc::new(FixedUpstream::new(Ipv4Addr::new(127, 0, 0, 99)));
    let server = InProcessServer::start(DaemonConfig::default(), upstream.clone());
    let out = dig(&server, &["example.com", "+short"]);
    assert_eq!(out.trim(), "127.0.0.99");
    let tcp = dig(&server, &["example.org", "+tcp"]);
    assert!(
        tcp.contains("status: NOERROR") && tcp.contains("127.0.0.99"),
        "{tcp}"
    );
    assert_eq!(upstream.asked(), 2);
}

#[test]
fn local_names_and_other_networks_never_reach_the_upstream() {
    let upstream = Arc::new(FixedUpstream::new(Ipv4Addr::new(127, 0, 0, 99)));
    let server = InProcessServer::start(DaemonConfig::default(), upstream.clone());
    for args in [
        &["web"][..],
        &["web", "TXT"],
        &["web", "MX"],
        &["web2", "AAAA"],
        &["secret.other"],
        &["ghost.app"],
        &["-x", "10.89.0.2"],
        &["_http._tcp.web", "SRV"],
    ] {
        let out = dig(&server, args);
        assert!(!out.contains("127.0.0.99"), "{args:?} was forwarded: {out}");
    }
    assert_eq!(upstream.asked(), 0, "no local question went upstream");
    dig(&server, &["secret"]);
    assert_eq!(upstream.asked(), 1, "a plain unknown name is forwarded");
}

#[test]
fn the_in_flight_bound_refuses_at_once_and_local_answers_go_on() {
    let mut config = DaemonConfig::default();
    config.forwarding.max_in_flight_per_sandbox = 2;
    let server = InProcessServer::start(config, Arc::new(StalledUpstream));
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    for id in 1..=3u16 {
        let mut message = Message::query();
        message.metadata.id = id;
        message.add_query(Query::query(
            Name::from_ascii(format!("n{id}.example.")).unwrap(),
            RecordType::A,
        ));
        socket
            .send_to(&message.to_vec().unwrap(), server.addr)
            .unwrap();
    }
    let mut buffer = [0u8; 512];
    let len = socket
        .recv(&mut buffer)
        .expect("the third query is refused, not left waiting");
    let reply = Message::from_vec(&buffer[..len]).unwrap();
    assert_eq!(
        (reply.metadata.id, reply.metadata.response_code),
        (3, ResponseCode::Refused)
    );
    let local = dig(&server, &["web", "+short"]);
    assert_eq!(local.trim(), "10.89.0.2", "local answers need no slot");
}
