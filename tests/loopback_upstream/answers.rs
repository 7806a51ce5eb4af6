//! What comes back: rcodes, sizes, truncation, EDNS, and answers that
//! do not match the question.

use super::*;

#[test]
fn nxdomain_is_final_and_relayed_with_its_soa() {
    let nx = FakeUpstream::start(Behaviour::NxDomain);
    let other = FakeUpstream::start(Behaviour::Answer(ANSWER));
    let (resolver, _) = resolver_with_host(&[&nx, &other], DaemonConfig::default());
    let (reply, _) = ask(&resolver, &question(3, "missing.example."));
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(reply.authorities.len(), 1);
    assert_eq!(reply.authorities[0].record_type(), RecordType::SOA);
    assert_eq!(other.udp_packets(), 0, "NXDOMAIN does not fail over");
}

#[test]
fn truncated_answers_reach_udp_clients_and_tcp_clients_go_upstream_over_tcp() {
    let upstream = FakeUpstream::start(Behaviour::TruncateUdp(ANSWER));
    let (resolver, _) = resolver_with_host(&[&upstream], DaemonConfig::default());
    let (reply, _) = ask(&resolver, &question(5, "big.example."));
    assert!(
        reply.metadata.truncation,
        "TC passed through to the UDP client"
    );
    let out = std::process::Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &resolver.port(),
            "+time=2",
            "+tries=1",
            "big.example",
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.contains("127.0.0.42") && out.contains("(TCP)"),
        "dig retried over TCP: {out}"
    );
    assert_eq!(
        upstream.tcp_queries(),
        1,
        "the TCP retry went upstream over TCP"
    );
}

#[test]
fn an_answer_too_big_for_the_client_comes_back_truncated_not_lost() {
    let upstream = FakeUpstream::start(Behaviour::Oversized(60));
    let (resolver, _) = resolver_with_host(&[&upstream], DaemonConfig::default());
    let (reply, _) = ask(&resolver, &question(6, "many.example."));
    assert_eq!(reply.metadata.id, 6);
    // TC, and the whole records that fit in 512 bytes (issue #14: musl
    // ignores TC): 12 + 18 for header and question, 16 per record.
    assert!(reply.metadata.truncation, "{reply:?}");
    assert_eq!(reply.answers.len(), (512 - 30) / 16, "{reply:?}");
}

#[test]
fn an_answer_over_4_kib_reaches_a_client_that_takes_it_whole() {
    // About 9.6 KB of answers: the forwarder reads upstream datagrams of
    // any size, not only what a query buffer holds.
    let upstream = FakeUpstream::start(Behaviour::Oversized(600));
    let mut config = DaemonConfig::default();
    config.resolver.edns_udp_size = 16_384;
    let (resolver, _) = resolver_with_host(&[&upstream], config);
    let mut message = question(16, "many.example.");
    let mut edns = Edns::new();
    edns.set_max_payload(16_384);
    message.edns = Some(edns);
    let (reply, _) = ask(&resolver, &message);
    assert_eq!(reply.metadata.id, 16);
    assert!(!reply.metadata.truncation);
    assert_eq!(reply.answers.len(), 600);
}

#[test]
fn spoofed_answers_with_wrong_id_or_question_are_ignored() {
    let upstream = FakeUpstream::start(Behaviour::SpoofFirst(ANSWER));
    let (resolver, forwarder) = resolver_with_host(&[&upstream], DaemonConfig::default());
    let (reply, _) = ask(&resolver, &question(8, "target.example."));
    assert_eq!(address(&reply), Some(ANSWER));
    assert_eq!(reply.queries[0].name().to_ascii(), "target.example.");
    assert!(forwarder.stats().mismatched >= 2, "{:?}", forwarder.stats());
}

#[test]
fn the_clients_edns_options_and_do_cd_bits_reach_the_upstream() {
    let upstream = FakeUpstream::start(Behaviour::Answer(ANSWER));
    let (resolver, _) = resolver_with_host(&[&upstream], DaemonConfig::default());
    let mut message = question(13, "signed.example.");
    message.metadata.checking_disabled = true;
    let mut edns = Edns::new();
    edns.set_max_payload(1400).set_dnssec_ok(true);
    message.edns = Some(edns);
    let (reply, _) = ask(&resolver, &message);
    assert_eq!((reply.metadata.id, address(&reply)), (13, Some(ANSWER)));
    let relayed = Message::from_vec(&upstream.last_query().unwrap()).unwrap();
    assert!(relayed.metadata.checking_disabled);
    let opt = relayed.edns.expect("OPT relayed");
    assert!(opt.flags().dnssec_ok);
    assert_eq!(opt.max_payload(), 1400);
    assert_ne!(
        relayed.metadata.id, 13,
        "the upstream sees our random id, not the client's"
    );
}

#[test]
fn a_tcp_upstream_that_echoes_the_query_is_not_relayed_as_an_answer() {
    use std::io::{Read, Write};
    let upstream = FakeUpstream::start(Behaviour::EchoTcp);
    let (resolver, _) = resolver_with_host(&[&upstream], DaemonConfig::default());
    let query = question(21, "echo.example.").to_vec().unwrap();
    let mut stream = std::net::TcpStream::connect(resolver.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut frame = (query.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(&query);
    stream.write_all(&frame).unwrap();
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut body).unwrap();
    let reply = Message::from_vec(&body).unwrap();
    assert_eq!(upstream.tcp_queries(), 1, "asked over TCP");
    assert_eq!(
        reply.metadata.message_type,
        hickory_proto::op::MessageType::Response,
        "{reply:?}"
    );
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
}

/// A question alone in flight leaves and comes back without the pool's
/// sender task and the serving task's outbox; questions in flight together
/// go through both, so that they leave and come back in batches (issue
/// #16). Either way each client gets its own answer, once.
#[test]
fn a_burst_and_a_lone_question_each_get_their_own_answer() {
    let upstream = FakeUpstream::start(Behaviour::Slow(Duration::from_millis(30), ANSWER));
    let (resolver, _) = resolver_with_host(&[&upstream], DaemonConfig::default());
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let burst = 1..=24u16;
    for id in burst.clone() {
        let message = question(id, &format!("burst{id}.example."));
        socket
            .send_to(&message.to_vec().unwrap(), resolver.addr)
            .unwrap();
    }
    let mut answered = Vec::new();
    let mut buffer = vec![0u8; 65535];
    for _ in burst.clone() {
        let len = socket
            .recv(&mut buffer)
            .expect("every burst question answered");
        let reply = Message::from_vec(&buffer[..len]).unwrap();
        let id = reply.metadata.id;
        assert_eq!(
            reply.queries[0].name().to_ascii(),
            format!("burst{id}.example."),
            "the answer is to the client's own question"
        );
        assert_eq!(address(&reply), Some(ANSWER));
        answered.push(id);
    }
    answered.sort_unstable();
    assert_eq!(answered, burst.collect::<Vec<_>>(), "each once");
    for id in [100, 101] {
        let (reply, _) = ask(&resolver, &question(id, &format!("lone{id}.example.")));
        assert_eq!((reply.metadata.id, address(&reply)), (id, Some(ANSWER)));
    }
    assert_eq!(upstream.udp_packets(), 26);
}
