//! Loopback tier, hostile clients (issue #14): a TCP client that pipelines
//! queries and never reads its answers loses its connection, holds only a
//! bounded number of answers, and another client is still served.
//! Assertions are on what the clients see, never on how long it took;
//! every read and write is bounded by a timeout so a broken server fails
//! the test instead of hanging it.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};

use crate::harness::fixture_table;
use crate::harness::serve::ServeProcess;

const WAIT: Duration = Duration::from_secs(5);
/// Queries each never-reading client pipelines: about 600 KB of queries
/// and 1.5 MB of answers, far more than the socket buffers hold.
const PIPELINED: u16 = 20_000;

fn framed_query(id: u16) -> Vec<u8> {
    let mut message = Message::query();
    message.metadata.id = id;
    message.add_query(Query::query(
        Name::from_ascii("web.").unwrap(),
        RecordType::A,
    ));
    let bytes = message.to_vec().unwrap();
    let mut frame = (bytes.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(&bytes);
    frame
}

/// Connects and writes `PIPELINED` queries without reading; write errors
/// (the server closed the connection) end the burst early.
fn never_reading_client(server: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(server).unwrap();
    stream.set_write_timeout(Some(WAIT)).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let burst: Vec<u8> = (0..PIPELINED).flat_map(framed_query).collect();
    let _ = stream.write_all(&burst);
    stream
}

/// Reads everything the server sent until it closes the connection:
/// `Some(bytes read)` when it closed (EOF or reset), `None` when it was
/// still open after WAIT with nothing more to read.
fn drain_until_closed(stream: &mut TcpStream) -> Option<usize> {
    let mut buffer = [0u8; 65536];
    let mut total = 0;
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return Some(total),
            Ok(n) => total += n,
            Err(err) if err.kind() == ErrorKind::ConnectionReset => return Some(total),
            Err(_) => return None,
        }
    }
}

/// Asks for `web.` over a fresh connection, retrying the connection until
/// a deadline, as a client whose connection was refused would.
fn served_eventually(server: &ServeProcess) -> bool {
    let deadline = Instant::now() + 4 * WAIT;
    while Instant::now() < deadline {
        if let Ok(mut stream) = TcpStream::connect(server.addr) {
            stream.set_read_timeout(Some(WAIT)).unwrap();
            let mut len = [0u8; 2];
            if stream.write_all(&framed_query(7)).is_ok() && stream.read_exact(&mut len).is_ok() {
                return true;
            }
        }
        thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn a_never_reading_tcp_client_loses_its_connection_and_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("netagent.toml");
    std::fs::write(
        &config,
        "[resolver]\nmax_tcp_connections = 2\ntcp_idle_timeout_ms = 60000\n",
    )
    .unwrap();
    let server = ServeProcess::start(&fixture_table(), "client", Some(&config));
    // Both of the sandbox's connection slots taken by clients that never
    // read (in threads: each blocks until its writes stop going through).
    let hogs: Vec<_> = (0..2)
        .map(|_| {
            let addr = server.addr;
            thread::spawn(move || never_reading_client(addr))
        })
        .collect();
    let mut hogs: Vec<TcpStream> = hogs.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(
        served_eventually(&server),
        "another client is served while the never-reading ones stay connected"
    );
    for hog in &mut hogs {
        let read = drain_until_closed(hog).expect("the server closed the never-reading client");
        // Each answer to `web.` is well over 20 bytes: fewer bytes than
        // that many answers means the server stopped answering it.
        assert!(
            read < usize::from(PIPELINED) * 20,
            "{read} bytes of answers held for a client that never read"
        );
    }
}

#[test]
fn a_client_that_takes_no_answer_within_the_write_timeout_is_closed() {
    // The unanswered bound out of the way: only the write timeout can end
    // the connection.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("netagent.toml");
    std::fs::write(
        &config,
        "[resolver]\nmax_tcp_unanswered = 65536\ntcp_write_timeout_ms = 300\ntcp_idle_timeout_ms = 60000\n",
    )
    .unwrap();
    let server = ServeProcess::start(&fixture_table(), "client", Some(&config));
    let mut hog = never_reading_client(server.addr);
    // The server reads every query (no bound stops it) and its writes
    // stall on the full buffers; the client takes nothing for well over
    // the write timeout, then finds the connection closed.
    thread::sleep(Duration::from_secs(2));
    drain_until_closed(&mut hog).expect("closed by the write timeout");
    assert!(served_eventually(&server), "others are still served");
}
