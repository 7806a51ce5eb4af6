//! The fuzz targets' bodies (issue #14), one function per target, shared
//! by the cargo-fuzz binaries in `fuzz_targets/` (nightly, libFuzzer) and
//! by the stable test `tests/fuzz_corpus.rs`, which runs each over its
//! committed corpus (`fuzz/corpus/TARGET/`) plus bounded random and
//! mutated inputs. A body panics only on a broken invariant; any input is
//! allowed.
//!
//! - [`message`]: one client message through the handler, UDP and TCP.
//! - [`upstream_reply`]: an upstream's datagram made into a client's reply.
//! - [`tcp_framing`]: a byte stream into a live sandbox server's TCP port.
//! - [`resolv_conf`]: resolv.conf(5) text, parsed and written back.
//! - [`config`]: the daemon's TOML and the API's JSON specs, checked.
//! - [`cni_conf`]: a CNI network configuration on stdin.
//! - [`hook_state`]: the OCI state on the hook's stdin.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};
use resolver::events::EventLog;
use resolver::handler::{forwarded_reply, handle_message, AnswerSettings, HandlerContext, Outcome};
use resolver::qname::LocalDomain;
use resolver::response::Transport;
use resolver::stats::QueryStats;
use resolver::upstream::{ForwardRequest, ServFailUpstream};
use resolver::{EndpointTable, ResolverCore, SandboxServer, SandboxSockets, TableSnapshot};

/// The largest UDP reply the default settings allow (`edns_udp_size`).
const UDP_CEILING: usize = 1232;

/// The loopback tier's table (tests/data/table.json) and the id of its
/// sandbox `client`, built once.
fn fixture() -> &'static (EndpointTable, String) {
    static FIXTURE: OnceLock<(EndpointTable, String)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let text = include_str!("../../tests/data/table.json");
        let snapshot: TableSnapshot = serde_json::from_str(text).expect("the fixture table");
        let table = snapshot.into_table().expect("a valid fixture table");
        let client = table
            .endpoints()
            .into_iter()
            .find(|e| e.sandbox == "client");
        let id = client.expect("a sandbox named client").id;
        (table, id)
    })
}

fn settings() -> AnswerSettings {
    AnswerSettings::from(&config::DaemonConfig::default().resolver)
}

fn handle(bytes: &[u8], transport: Transport) -> Outcome {
    let (table, client) = fixture();
    let (stats, events) = (QueryStats::default(), EventLog::new(Arc::default(), "fuzz"));
    let context = HandlerContext {
        table,
        sandbox_id: client,
        settings: settings(),
        domain: &LocalDomain::new("netagent.internal"),
        stats: &stats,
        events: &events,
        upstream: None,
        known_view: None,
    };
    handle_message(&context, bytes, transport, &mut fastrand::Rng::with_seed(1))
}

/// A reply's invariants: a header at least, the query's id, QR set, and
/// within the transport's size.
fn check_reply(query: &[u8], reply: &[u8], limit: usize) {
    assert!(
        reply.len() >= 12 && reply.len() <= limit,
        "reply of {} bytes",
        reply.len()
    );
    assert_eq!(reply[..2], query[..2], "the query's id");
    assert!(reply[2] & 0x80 != 0, "QR set");
}

/// One client message, over UDP and over TCP; a forwarded one also gets
/// the replies for no upstream answer and for its own bytes, QR set, as
/// the answer (the forwarder takes only responses).
pub fn message(data: &[u8]) {
    let mut echoed = data.to_vec();
    if let Some(flags) = echoed.get_mut(2) {
        *flags |= 0x80;
    }
    for (transport, limit) in [(Transport::Udp, UDP_CEILING), (Transport::Tcp, 65_535)] {
        match handle(data, transport) {
            Outcome::Reply(reply) => check_reply(data, &reply, limit),
            Outcome::Forward(request) => {
                for upstream in [None, Some(echoed.clone())] {
                    let reply = forwarded_reply(&request, upstream, settings());
                    check_reply(data, &reply, limit);
                }
            }
            Outcome::Drop => {}
        }
    }
}

/// The forwarded question `upstream_reply` answers: `example.com. A` over
/// UDP with EDNS, as the handler decodes it.
fn forwarded_question(transport: Transport) -> Box<ForwardRequest> {
    let mut query = Message::query();
    query.metadata.id = 0x5eed;
    query.add_query(Query::query(
        Name::from_ascii("example.com.").unwrap(),
        RecordType::A,
    ));
    match handle(&query.to_vec().unwrap(), transport) {
        Outcome::Forward(request) => request,
        other => panic!("example.com. is forwarded, got {other:?}"),
    }
}

/// An upstream's datagram as the answer to a forwarded question: the
/// client's reply keeps its id and fits its size.
pub fn upstream_reply(data: &[u8]) {
    for transport in [Transport::Udp, Transport::Tcp] {
        let request = forwarded_question(transport);
        let reply = forwarded_reply(&request, Some(data.to_vec()), settings());
        assert!(reply.len() >= 12 && reply.len() <= request.reply_limit);
        assert_eq!(reply[..2], [0x5e, 0xed], "the client's id");
    }
    if let Some(question) = resolver::forward::wire::question(data) {
        assert!(resolver::forward::wire::same_question(question, question));
    }
}

/// Where the shared TCP server listens: the fixture's `client` served on
/// 127.0.0.1 by a runtime on its own thread, started once.
fn tcp_server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = tcp.local_addr().unwrap();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let (table, client) = fixture();
                let snapshot = TableSnapshot::of(table).into_table().unwrap();
                let mut config = config::DaemonConfig::default();
                config.resolver.tcp_idle_timeout_ms = 1000;
                config.resolver.tcp_write_timeout_ms = 1000;
                let core =
                    ResolverCore::new(Arc::new(snapshot), &config, Arc::new(ServFailUpstream));
                let sockets = SandboxSockets { udp, tcp };
                let _server = SandboxServer::start(Arc::new(core), client, sockets).unwrap();
                std::future::pending::<()>().await;
            });
        });
        addr
    })
}

/// A byte stream written to a sandbox server's TCP port, the write side
/// then closed: every frame that comes back is a whole reply, and the
/// server still answers a good query on a new connection afterwards (a bad
/// stream closes its own connection only).
pub fn tcp_framing(data: &[u8]) {
    let replies = exchange(data);
    let mut rest = &replies[..];
    while let Some((len, tail)) = rest.split_first_chunk::<2>() {
        let len = usize::from(u16::from_be_bytes(*len));
        assert!(len >= 12 && len <= tail.len(), "a whole frame");
        rest = &tail[len..];
    }
    assert!(rest.is_empty(), "no partial frame");
    let mut good = Message::query();
    good.add_query(Query::query(
        Name::from_ascii("web.").unwrap(),
        RecordType::A,
    ));
    let good = good.to_vec().unwrap();
    let mut frame = (good.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(&good);
    assert!(exchange(&frame).len() > 2, "the server still answers");
}

/// Writes `bytes`, closes the write side, reads until the server closes.
fn exchange(bytes: &[u8]) -> Vec<u8> {
    // Under libFuzzer's rate, ports can run short for a moment: retry.
    let mut stream = (0..100)
        .find_map(|_| {
            let stream = TcpStream::connect(tcp_server()).ok();
            if stream.is_none() {
                std::thread::sleep(Duration::from_millis(10));
            }
            stream
        })
        .expect("connect to the sandbox server");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut replies = Vec::new();
    let _ = stream.read_to_end(&mut replies);
    replies
}

/// resolv.conf text as the host's file: parsed, a sandbox's file written
/// from it (embedded or not), and that file parses again.
pub fn resolv_conf(data: &[u8]) {
    use resolver::resolv_conf::{ResolvConf, SandboxResolvConf};
    let host = ResolvConf::parse(&String::from_utf8_lossy(data));
    for embedded in [true, false] {
        let sandbox = SandboxResolvConf {
            host: &host,
            host_path: "/etc/resolv.conf",
            embedded,
            dns: &[],
            dns_search: &[],
            domain: Some("netagent.internal"),
            dns_options: &[],
        };
        let written = ResolvConf::parse(&sandbox.render());
        assert!(written.warnings.is_empty(), "{:?}", written.warnings);
    }
}

/// The daemon's TOML, and the API's JSON specs, parsed and checked.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = config::DaemonConfig::parse(&text);
    if let Ok(spec) = serde_json::from_slice::<config::NetworkSpec>(data) {
        let _ = spec.check();
    }
    if let Ok(spec) = serde_json::from_slice::<config::SandboxSpec>(data) {
        let _ = spec.check();
    }
    if let Ok(spec) = serde_json::from_slice::<config::ContainerSpec>(data) {
        let _ = spec.check();
    }
}

/// A CNI network configuration as the plugin reads it on stdin.
pub fn cni_conf(data: &[u8]) {
    if let Ok(conf) = netagent::cli::cni::conf::NetConf::parse(data) {
        let _ = conf.netagent_network();
        let _ = conf.aliases();
    }
}

/// The OCI state on the hook's stdin, made into the container spec that
/// createRuntime posts; a spec it makes passes the agent's checks or is
/// refused by them, never panics them, and survives JSON.
pub fn hook_state(data: &[u8]) {
    if let Ok(spec) = netagent::cli::hook::spec_from_state(data) {
        let _ = spec.check();
        let json = serde_json::to_vec(&spec).expect("a spec is JSON");
        let back: config::ContainerSpec = serde_json::from_slice(&json).expect("and back");
        assert_eq!(back, spec);
    }
}
