//! Which servers are asked, and how failing ones are left behind.

use super::*;

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
fn a_lone_servers_failure_is_relayed_and_its_silence_is_servfail() {
    // One server and nothing to fail over to (the forwarder's own path for
    // a single server): its SERVFAIL goes back as it came, and a server
    // that never answers gives SERVFAIL once the total time is up.
    let failing = FakeUpstream::start(Behaviour::ServFail);
    let (resolver, forwarder) = resolver_with_host(&[&failing], DaemonConfig::default());
    let (reply, _) = ask(&resolver, &question(8, "fails.example."));
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    assert_eq!((failing.udp_packets(), forwarder.stats().answered), (1, 1));
    let silent = FakeUpstream::start(Behaviour::Blackhole);
    let mut config = DaemonConfig::default();
    config.forwarding.total_timeout_ms = 300;
    let (resolver, forwarder) = resolver_with_host(&[&silent], config);
    for id in [9, 10] {
        let (reply, _) = ask(&resolver, &question(id, "silent.example."));
        assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    }
    // Asked again although it failed: there is no one else to ask.
    assert_eq!((silent.udp_packets(), forwarder.stats().failed), (2, 2));
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
    let resolver = resolver_watching(&path);
    assert_eq!(
        address(&ask(&resolver, &question(14, "a.example.")).0),
        Some(OTHER)
    );
    let staged = dir.path().join("resolv.conf.new");
    std::fs::write(&staged, "nameserver 127.77.3.2\n").unwrap();
    std::fs::rename(&staged, &path).unwrap();
    ask_until(
        &resolver,
        15,
        "b.example.",
        ANSWER,
        "the new resolv.conf was not picked up",
    );
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
