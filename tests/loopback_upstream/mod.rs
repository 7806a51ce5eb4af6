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

pub(super) const ANSWER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 42);
pub(super) const OTHER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 43);

pub(super) fn server(fakes: &[&FakeUpstream]) -> NameServer {
    NameServer(fakes[0].addr)
}

/// A resolver for `client` on one ordinary network, forwarding to `host`.
pub(super) fn resolver_with_host(
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

pub(super) fn resolver(
    table: EndpointTable,
    host: Arc<HostServers>,
    config: DaemonConfig,
) -> (InProcessServer, Arc<Forwarder>) {
    let forwarding = config.forwarding.clone();
    InProcessServer::start_with(table, CLIENT_ID, config, move || {
        Arc::new(Forwarder::new(host, &forwarding).unwrap())
    })
}

/// A resolver for `client` on one ordinary network whose host servers
/// come from the resolv.conf at `path`, watched as the agent watches it.
pub(super) fn resolver_watching(path: &std::path::Path) -> InProcessServer {
    let table = client_on(vec![network("app", false, &[])]);
    let forwarding = DaemonConfig::default().forwarding;
    let watched = path.to_owned();
    let (resolver, _) =
        InProcessServer::start_with(table, CLIENT_ID, DaemonConfig::default(), move || {
            let host = HostServers::from_file(&watched);
            std::mem::forget(host.watch().expect("inotify"));
            Arc::new(Forwarder::new(host, &forwarding).unwrap())
        });
    resolver
}

/// Asks `name` (ids from `first_id` up) until the answer is `wanted`, for
/// at most five seconds: a resolv.conf reload is asynchronous (inotify).
pub(super) fn ask_until(
    resolver: &InProcessServer,
    first_id: u16,
    name: &str,
    wanted: Ipv4Addr,
    what: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut id = first_id;
    while address(&ask(resolver, &question(id, name)).0) != Some(wanted) {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
        id += 1;
    }
}

pub(super) fn question(id: u16, name: &str) -> Message {
    let mut message = Message::query();
    message.metadata.id = id;
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    message
}

/// Asks over UDP; the reply and how long it took.
pub(super) fn ask(server: &InProcessServer, message: &Message) -> (Message, Duration) {
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

pub(super) fn address(reply: &Message) -> Option<Ipv4Addr> {
    reply.answers.iter().find_map(|r| match &r.data {
        RData::A(a) => Some(a.0),
        _ => None,
    })
}

mod answers;
mod cache;
mod servers;
