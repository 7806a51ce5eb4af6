//! Loopback tier: the real forwarder against fake upstream servers on
//! loopback (issue #3's list, one test each). Durations asserted here are
//! behaviour (a dead server must not cost the client seconds), with wide
//! margins, not benchmarks.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use config::{DaemonConfig, NameServer};
use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use resolver::forward::host::HostServers;
use resolver::forward::sockets::HostSockets;
use resolver::forward::Forwarder;
use resolver::EndpointTable;

use crate::harness::clients::dig;
use crate::harness::fake_upstream::{Behaviour, FakeUpstream};
use crate::harness::fixture_table;
use crate::harness::inprocess::InProcessServer;
use crate::harness::serve::ServeProcess;
use crate::harness::tables::{client_on, network, CLIENT_ID};

const ANSWER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 42);
const OTHER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 43);

fn server(fakes: &[&FakeUpstream]) -> NameServer {
    NameServer(fakes[0].addr)
}

/// A resolver for `client` on one ordinary network, forwarding to `host`.
fn resolver_with_host(
    host: &[&FakeUpstream],
    config: DaemonConfig,
) -> (InProcessServer, Arc<Forwarder>) {
    let servers: Vec<NameServer> = host.iter().map(|f| server(&[f])).collect();
    resolver(
        client_on(vec![network("app", false, &[])]),
        HostServers::fixed(&servers),
        config,
    )
}

fn resolver(
    table: EndpointTable,
    host: Arc<HostServers>,
    config: DaemonConfig,
) -> (InProcessServer, Arc<Forwarder>) {
    let forwarding = config.forwarding.clone();
    InProcessServer::start_with(table, CLIENT_ID, config, move || {
        Arc::new(Forwarder::new(host, &forwarding).unwrap())
    })
}

fn question(id: u16, name: &str) -> Message {
    let mut message = Message::query();
    message.metadata.id = id;
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    message
}

/// Asks over UDP; the reply and how long it took.
fn ask(server: &InProcessServer, message: &Message) -> (Message, Duration) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let started = Instant::now();
    socket
        .send_to(&message.to_vec().unwrap(), server.addr)
        .unwrap();
    let mut buffer = vec![0u8; 65535];
    let len = socket.recv(&mut buffer).expect("an answer within 5 s");
    (
        Message::from_vec(&buffer[..len]).unwrap(),
        started.elapsed(),
    )
}

fn address(reply: &Message) -> Option<Ipv4Addr> {
    reply.answers.iter().find_map(|r| match &r.data {
        RData::A(a) => Some(a.0),
        _ => None,
    })
}

#[test]
fn dead_first_server_costs_well_under_a_second_and_is_skipped_next_time() {
    let dead = FakeUpstream::start(Behaviour::Blackhole);
    let live = FakeUpstream::start(Behaviour::Answer(ANSWER));
    let (resolver, _) = resolver_with_host(&[&dead, &live], DaemonConfig::default());
    let (reply, took) = ask(&resolver, &question(1, "one.example."));
    assert_eq!((reply.metadata.id, address(&reply)), (1, Some(ANSWER)));
    assert!(took < Duration::from_millis(900), "failover took {took:?}");
    let (reply, _) = ask(&resolver, &question(2, "two.example."));
    assert_eq!(address(&reply), Some(ANSWER));
    assert_eq!(
        dead.udp_packets(),
        1,
        "the second question went straight to the live server"
    );
    assert_eq!(live.udp_packets(), 2);
}

#[test]
fn a_server_the_kernel_refuses_to_send_to_fails_over_without_waiting() {
    // A datagram to the broadcast address from a socket without
    // SO_BROADCAST is refused (EACCES) by the kernel: that try fails at
    // once, and the next server is asked without the fallback delay.
    let live = FakeUpstream::start(Behaviour::Answer(ANSWER));
    let refused = NameServer("255.255.255.255:53".parse().unwrap());
    let mut config = DaemonConfig::default();
    config.forwarding.fallback_delay_ms = 3_000;
    config.forwarding.total_timeout_ms = 4_500;
    let (resolver, forwarder) = resolver(
        client_on(vec![network("app", false, &[])]),
        HostServers::fixed(&[refused, server(&[&live])]),
        config,
    );
    let (reply, took) = ask(&resolver, &question(17, "sent.example."));
    assert_eq!((reply.metadata.id, address(&reply)), (17, Some(ANSWER)));
    assert!(took < Duration::from_millis(2_000), "waited {took:?}");
    assert_eq!(forwarder.stats().answered, 1);
}

#[test]
fn servfail_and_refused_fail_over_to_the_next_server() {
    for failing in [Behaviour::ServFail, Behaviour::Refused] {
        let bad = FakeUpstream::start(failing);
        let good = FakeUpstream::start(Behaviour::Answer(ANSWER));
        let (resolver, _) = resolver_with_host(&[&bad, &good], DaemonConfig::default());
        let (reply, _) = ask(&resolver, &question(7, "x.example."));
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::NoError,
            "{failing:?}"
        );
        assert_eq!(address(&reply), Some(ANSWER), "{failing:?}");
        assert_eq!(bad.udp_packets(), 1);
    }
}

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
fn a_slow_server_is_beaten_by_a_faster_second() {
    let slow = FakeUpstream::start(Behaviour::Slow(Duration::from_millis(1500), OTHER));
    let fast = FakeUpstream::start(Behaviour::Answer(ANSWER));
    let (resolver, _) = resolver_with_host(&[&slow, &fast], DaemonConfig::default());
    let (reply, took) = ask(&resolver, &question(4, "race.example."));
    assert_eq!(address(&reply), Some(ANSWER));
    assert!(took < Duration::from_millis(1200), "took {took:?}");
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
    assert!(
        reply.metadata.truncation && reply.answers.is_empty(),
        "{reply:?}"
    );
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
fn the_in_flight_bound_refuses_then_recovers() {
    let dead = FakeUpstream::start(Behaviour::Blackhole);
    let mut config = DaemonConfig::default();
    config.forwarding.max_in_flight_per_sandbox = 2;
    config.forwarding.total_timeout_ms = 300;
    config.forwarding.fallback_delay_ms = 100;
    let (resolver, forwarder) = resolver_with_host(&[&dead], config);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    for id in 1..=3u16 {
        socket
            .send_to(
                &question(id, &format!("n{id}.example.")).to_vec().unwrap(),
                resolver.addr,
            )
            .unwrap();
    }
    let mut codes = Vec::new();
    let mut buffer = [0u8; 512];
    for _ in 0..3 {
        let len = socket.recv(&mut buffer).unwrap();
        let reply = Message::from_vec(&buffer[..len]).unwrap();
        codes.push((reply.metadata.id, reply.metadata.response_code));
    }
    assert_eq!(
        codes[0],
        (3, ResponseCode::Refused),
        "refused at once, before the others time out: {codes:?}"
    );
    assert!(
        codes[1..]
            .iter()
            .all(|(_, code)| *code == ResponseCode::ServFail),
        "{codes:?}"
    );
    assert_eq!(forwarder.stats().refused_over_bound, 1);
    let (reply, _) = ask(&resolver, &question(4, "again.example."));
    assert_eq!(
        reply.metadata.response_code,
        ResponseCode::ServFail,
        "slots came back: forwarded, not refused"
    );
    assert_eq!(dead.udp_packets(), 3);
}

#[test]
fn sandboxes_on_internal_networks_only_send_nothing_to_the_host_servers() {
    let host = FakeUpstream::start(Behaviour::Answer(ANSWER));
    let table = client_on(vec![network("secure", true, &[])]);
    let (resolver, forwarder) = resolver(
        table,
        HostServers::fixed(&[server(&[&host])]),
        DaemonConfig::default(),
    );
    let (reply, _) = ask(&resolver, &question(9, "outside.example."));
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(host.udp_packets(), 0, "not one packet to the host's server");
    assert_eq!(forwarder.stats().no_servers, 1);
}

#[test]
fn an_internal_networks_own_server_is_still_used() {
    let host = FakeUpstream::start(Behaviour::Answer(OTHER));
    let own = FakeUpstream::start(Behaviour::Answer(ANSWER));
    let table = client_on(vec![network("secure", true, &[server(&[&own])])]);
    let (resolver, _) = resolver(
        table,
        HostServers::fixed(&[server(&[&host])]),
        DaemonConfig::default(),
    );
    let (reply, _) = ask(&resolver, &question(10, "inside.example."));
    assert_eq!(address(&reply), Some(ANSWER));
    assert_eq!(host.udp_packets(), 0);
}

#[test]
fn sandbox_servers_beat_network_servers_which_beat_the_hosts() {
    let host = FakeUpstream::start(Behaviour::Answer(Ipv4Addr::new(127, 0, 0, 50)));
    let net = FakeUpstream::start(Behaviour::Answer(Ipv4Addr::new(127, 0, 0, 51)));
    let own = FakeUpstream::start(Behaviour::Answer(Ipv4Addr::new(127, 0, 0, 52)));
    let table = client_on(vec![network("app", false, &[server(&[&net])])]);
    let (resolver, forwarder) = resolver(
        table,
        HostServers::fixed(&[server(&[&host])]),
        DaemonConfig::default(),
    );
    let (reply, _) = ask(&resolver, &question(11, "a.example."));
    assert_eq!(
        address(&reply),
        Some(Ipv4Addr::new(127, 0, 0, 51)),
        "network servers first"
    );
    forwarder
        .set_sandbox_servers(CLIENT_ID, &[server(&[&own])], Arc::new(HostSockets))
        .unwrap_or_else(|e| panic!("{e}"));
    let (reply, _) = ask(&resolver, &question(12, "b.example."));
    assert_eq!(
        address(&reply),
        Some(Ipv4Addr::new(127, 0, 0, 52)),
        "the sandbox's own servers first"
    );
    assert_eq!(host.udp_packets(), 0);
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
fn rewriting_the_hosts_resolv_conf_switches_servers_without_restart() {
    // resolv.conf has no port syntax, so these fakes listen on port 53, on
    // loopback addresses of their own (root, as every test machine is).
    let first_addr: SocketAddr = "127.77.3.1:53".parse().unwrap();
    let second_addr: SocketAddr = "127.77.3.2:53".parse().unwrap();
    let first = FakeUpstream::start_on(first_addr, Behaviour::Answer(OTHER));
    let second = FakeUpstream::start_on(second_addr, Behaviour::Answer(ANSWER));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resolv.conf");
    std::fs::write(&path, "# host\nnameserver 127.77.3.1\n").unwrap();
    let table = client_on(vec![network("app", false, &[])]);
    let forwarding = DaemonConfig::default().forwarding;
    let watched = path.clone();
    let (resolver, _) =
        InProcessServer::start_with(table, CLIENT_ID, DaemonConfig::default(), move || {
            let host = HostServers::from_file(&watched);
            std::mem::forget(host.watch().expect("inotify"));
            Arc::new(Forwarder::new(host, &forwarding).unwrap())
        });
    assert_eq!(
        address(&ask(&resolver, &question(14, "a.example.")).0),
        Some(OTHER)
    );
    let staged = dir.path().join("resolv.conf.new");
    std::fs::write(&staged, "nameserver 127.77.3.2\n").unwrap();
    std::fs::rename(&staged, &path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut id = 15;
    while address(&ask(&resolver, &question(id, "b.example.")).0) != Some(ANSWER) {
        assert!(
            Instant::now() < deadline,
            "the new resolv.conf was not picked up"
        );
        std::thread::sleep(Duration::from_millis(20));
        id += 1;
    }
    let before = first.udp_packets();
    ask(&resolver, &question(999, "c.example."));
    assert_eq!(
        first.udp_packets(),
        before,
        "the old server is no longer asked"
    );
    assert!(second.udp_packets() >= 1);
}

#[test]
fn dns_serve_forwards_to_the_servers_given_with_upstream() {
    let dead = FakeUpstream::start(Behaviour::Blackhole);
    let live = FakeUpstream::start(Behaviour::Answer(ANSWER));
    let args = [
        "--upstream".to_owned(),
        dead.addr.to_string(),
        "--upstream".to_owned(),
        live.addr.to_string(),
    ];
    let serve = ServeProcess::start_with_args(&fixture_table(), "client", &args);
    let out = dig(&serve, &["outside.example"]);
    assert_eq!(out.answer_data(), ["127.0.0.42"], "{}", out.text);
    let local = dig(&serve, &["web"]);
    assert_eq!(local.answer_data(), ["10.89.0.2"], "{}", local.text);
    assert_eq!(live.udp_packets(), 1, "the local name was not forwarded");
}
