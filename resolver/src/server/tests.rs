//! The TCP bounds that span sandboxes (issue #14): the overall bound on
//! connections holds across two sandboxes' servers sharing one core, and
//! a slot comes back when its connection closes.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{ResolverCore, SandboxServer, SandboxSockets};
use crate::table::tests::{endpoint, network};
use crate::table::EndpointTable;
use crate::upstream::ServFailUpstream;

fn sockets() -> SandboxSockets {
    SandboxSockets {
        udp: std::net::UdpSocket::bind("127.0.0.1:0").unwrap(),
        tcp: std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
    }
}

/// A framed `web. A` query.
fn framed_query() -> Vec<u8> {
    let mut frame = vec![0, 21, 0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    frame.extend_from_slice(b"\x03web\x00\x00\x01\x00\x01");
    frame
}

/// Whether a query on `stream` gets an answer (else the server closed it).
async fn answered(stream: &mut TcpStream) -> bool {
    let _ = stream.write_all(&framed_query()).await;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.is_ok()
}

#[tokio::test]
async fn the_overall_tcp_bound_holds_across_sandboxes() {
    let table = EndpointTable::new();
    table.add_network(network("app")).unwrap();
    let (a, b) = (
        endpoint("a", "app", "10.0.0.2"),
        endpoint("b", "app", "10.0.0.3"),
    );
    table.connect(a.clone()).unwrap();
    table.connect(b.clone()).unwrap();
    let mut config = config::DaemonConfig::default();
    config.resolver.max_tcp_connections_total = 1;
    let core = Arc::new(ResolverCore::new(
        Arc::new(table),
        &config,
        Arc::new(ServFailUpstream),
    ));
    let first = SandboxServer::start(Arc::clone(&core), &a.id, sockets()).unwrap();
    let second = SandboxServer::start(core, &b.id, sockets()).unwrap();
    let mut held = TcpStream::connect(first.tcp_addr()).await.unwrap();
    assert!(answered(&mut held).await, "the first connection is served");
    let mut over = TcpStream::connect(second.tcp_addr()).await.unwrap();
    assert!(
        !answered(&mut over).await,
        "another sandbox's is over the bound of 1"
    );
    drop(held);
    // The slot comes back once the server sees the close; a client retries.
    let mut served = false;
    for _ in 0..100 {
        let mut fresh = TcpStream::connect(second.tcp_addr()).await.unwrap();
        if answered(&mut fresh).await {
            served = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(served, "the slot came back");
}
