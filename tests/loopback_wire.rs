//! Loopback tier, raw bytes: what dig cannot send. Every read is bounded
//! by a timeout so a broken server fails the test instead of hanging it.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

use crate::harness::fixture_table;
use crate::harness::serve::ServeProcess;

const WAIT: Duration = Duration::from_secs(5);

fn query(id: u16, name: &str) -> Vec<u8> {
    let mut message = Message::query();
    message.metadata.id = id;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    message.to_vec().unwrap()
}

fn framed(bytes: &[u8]) -> Vec<u8> {
    let mut frame = (bytes.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(bytes);
    frame
}

fn read_framed(stream: &mut TcpStream) -> Message {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).expect("a reply frame");
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut body).expect("the reply body");
    Message::from_vec(&body).expect("a decodable reply")
}

fn connect(server: &ServeProcess) -> TcpStream {
    let stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream
}

/// Whether the server closed the connection (EOF or reset) within WAIT.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Err(err) => err.kind() == ErrorKind::ConnectionReset,
        Ok(_) => false,
    }
}

fn udp_ask(server: &ServeProcess, bytes: &[u8], wait: Duration) -> Option<Message> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(wait)).unwrap();
    socket.send_to(bytes, server.addr).unwrap();
    let mut buffer = [0u8; 4096];
    let len = socket.recv(&mut buffer).ok()?;
    Some(Message::from_vec(&buffer[..len]).unwrap())
}

#[test]
fn several_pipelined_queries_on_one_tcp_connection() {
    let server = ServeProcess::start(&fixture_table(), "client", None);
    let mut stream = connect(&server);
    let mut burst = Vec::new();
    for (id, name) in [(1, "web."), (2, "www."), (3, "ghost.app.")] {
        burst.extend(framed(&query(id, name)));
    }
    stream.write_all(&burst).unwrap();
    let replies: Vec<Message> = (0..3).map(|_| read_framed(&mut stream)).collect();
    assert_eq!(
        replies.iter().map(|m| m.metadata.id).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(replies[1].answers.len(), 2);
    assert_eq!(replies[2].metadata.response_code, ResponseCode::NXDomain);
    stream.write_all(&framed(&query(4, "web2."))).unwrap();
    assert_eq!(
        read_framed(&mut stream).metadata.id,
        4,
        "still open after the burst"
    );
}

#[test]
fn malformed_frame_closes_only_its_own_connection() {
    let server = ServeProcess::start(&fixture_table(), "client", None);
    let mut good = connect(&server);
    let mut bad = connect(&server);
    bad.write_all(&[0, 3, 1, 2, 3]).unwrap();
    assert!(
        closed_by_server(&mut bad),
        "a 3-byte DNS message closes the connection"
    );
    good.write_all(&framed(&query(9, "web."))).unwrap();
    assert_eq!(read_framed(&mut good).metadata.id, 9);
    let mut garbage = connect(&server);
    let mut junk = vec![0x77u8; 40];
    junk[2] = 0x01;
    garbage.write_all(&framed(&junk)).unwrap();
    let reply = read_framed(&mut garbage);
    assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
}

#[test]
fn garbage_datagrams_never_stop_the_server() {
    let server = ServeProcess::start(&fixture_table(), "client", None);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rng = fastrand::Rng::with_seed(2026);
    for len in 0..300usize {
        let noise: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        socket.send_to(&noise, server.addr).unwrap();
    }
    // The burst can fill the socket's receive buffer and a datagram sent
    // right behind it may be dropped, as UDP allows: ask as a stub
    // resolver does, again after a second, a bounded number of times.
    let reply = (0..5)
        .find_map(|_| udp_ask(&server, &query(77, "web."), Duration::from_secs(1)))
        .expect("still answering");
    assert_eq!(reply.metadata.id, 77);
    assert_eq!(reply.answers.len(), 1);
}

#[test]
fn a_burst_from_one_client_gets_one_whole_datagram_per_question() {
    // Equal-sized replies to one client leave in one GSO message (the
    // server's send path); the client must still see one datagram each.
    let server = ServeProcess::start(&fixture_table(), "client", None);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    // Below the receive buffer, so none is dropped; the names alternate so
    // the burst holds two reply sizes.
    let ids: Vec<u16> = (1..=24).collect();
    for &id in &ids {
        let name = if id.is_multiple_of(3) {
            "web2."
        } else {
            "web."
        };
        socket.send_to(&query(id, name), server.addr).unwrap();
    }
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    for _ in &ids {
        let len = socket
            .recv(&mut buffer)
            .expect("a reply for every question");
        let reply = Message::from_vec(&buffer[..len]).expect("each datagram one whole reply");
        assert_eq!(reply.answers.len(), 1, "{reply:?}");
        let expected = if reply.metadata.id.is_multiple_of(3) {
            "web2."
        } else {
            "web."
        };
        assert_eq!(reply.queries[0].name().to_ascii(), expected);
        seen.push(reply.metadata.id);
    }
    seen.sort_unstable();
    assert_eq!(seen, ids);
}

#[test]
fn a_message_with_qr_set_gets_no_reply() {
    let server = ServeProcess::start(&fixture_table(), "client", None);
    let mut response = query(5, "web.");
    response[2] |= 0x80;
    assert!(udp_ask(&server, &response, Duration::from_millis(500)).is_none());
}

#[test]
fn idle_tcp_connections_are_closed_and_the_connection_bound_holds() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("netagent.toml");
    std::fs::write(
        &config,
        "[resolver]\ntcp_idle_timeout_ms = 300\nmax_tcp_connections = 2\n",
    )
    .unwrap();
    let server = ServeProcess::start(&fixture_table(), "client", Some(&config));
    let mut first = connect(&server);
    let mut second = connect(&server);
    first.write_all(&framed(&query(1, "web."))).unwrap();
    assert_eq!(read_framed(&mut first).metadata.id, 1);
    second.write_all(&framed(&query(2, "web."))).unwrap();
    assert_eq!(read_framed(&mut second).metadata.id, 2);
    let mut third = connect(&server);
    assert!(
        closed_by_server(&mut third),
        "a third connection is over the bound of 2"
    );
    assert!(closed_by_server(&mut first), "idle past 300 ms");
    assert!(closed_by_server(&mut second), "idle past 300 ms");
    let mut fresh = connect(&server);
    fresh.write_all(&framed(&query(3, "web."))).unwrap();
    assert_eq!(
        read_framed(&mut fresh).metadata.id,
        3,
        "slots come back after the idle ones close"
    );
}
