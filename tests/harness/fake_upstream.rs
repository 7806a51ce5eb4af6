//! Fake upstream DNS servers on loopback, each with one behaviour, counting
//! what reaches them. They run on their own thread and runtime and stop
//! when dropped.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

use super::background::Background;

/// What a fake does with each question.
#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    /// NOERROR with one A record.
    Answer(Ipv4Addr),
    /// The same, after a delay.
    Slow(Duration, Ipv4Addr),
    /// NXDOMAIN with an SOA in the authority section.
    NxDomain,
    /// SERVFAIL.
    ServFail,
    /// REFUSED.
    Refused,
    /// Reads the question and never answers.
    Blackhole,
    /// Over UDP an empty answer with TC set; over TCP the A record.
    TruncateUdp(Ipv4Addr),
    /// First a datagram with the wrong id, then one with the wrong
    /// question, then the right answer.
    SpoofFirst(Ipv4Addr),
    /// NOERROR with `n` A records whatever the client's size.
    Oversized(usize),
    /// Over TCP, the query sent back as it came (QR clear): not an answer.
    EchoTcp,
}

/// A running fake.
pub struct FakeUpstream {
    /// Where it listens, UDP and TCP.
    pub addr: SocketAddr,
    udp_packets: Arc<AtomicUsize>,
    tcp_queries: Arc<AtomicUsize>,
    last_query: Arc<Mutex<Option<Vec<u8>>>>,
    _running: Background,
}

impl FakeUpstream {
    /// Starts a fake on a free port of 127.0.0.1.
    pub fn start(behaviour: Behaviour) -> FakeUpstream {
        Self::start_on("127.0.0.1:0".parse().unwrap(), behaviour)
    }

    /// Starts a fake on `addr` (port 0 picks one; UDP and TCP share it).
    /// A port the kernel picks for UDP may be taken for TCP (by another
    /// test's client connection): then another one is picked, a bounded
    /// number of times.
    pub fn start_on(addr: SocketAddr, behaviour: Behaviour) -> FakeUpstream {
        let (udp, tcp) = bind_pair(addr);
        Self::serve(udp, tcp, behaviour)
    }

    /// Starts a fake on `addr` inside the network namespace of process
    /// `pid` (a namespace the test made): the sockets are bound there by
    /// a thread that entered it, and keep it.
    pub fn start_in(pid: u32, addr: SocketAddr, behaviour: Behaviour) -> FakeUpstream {
        let (udp, tcp) = std::thread::spawn(move || {
            let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).expect("the namespace");
            nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("enter it");
            bind_pair(addr)
        })
        .join()
        .expect("bind in the namespace");
        Self::serve(udp, tcp, behaviour)
    }

    fn serve(
        udp: std::net::UdpSocket,
        tcp: std::net::TcpListener,
        behaviour: Behaviour,
    ) -> FakeUpstream {
        let addr = udp.local_addr().unwrap();
        udp.set_nonblocking(true).unwrap();
        tcp.set_nonblocking(true).unwrap();
        let udp_packets = Arc::new(AtomicUsize::new(0));
        let tcp_queries = Arc::new(AtomicUsize::new(0));
        let last_query = Arc::new(Mutex::new(None));
        let counters = (
            Arc::clone(&udp_packets),
            Arc::clone(&tcp_queries),
            Arc::clone(&last_query),
        );
        let running = Background::spawn(move |stopped| async move {
            let udp = UdpSocket::from_std(udp).unwrap();
            let tcp = TcpListener::from_std(tcp).unwrap();
            tokio::select! {
                _ = serve_udp(udp, behaviour, counters.0, counters.2) => {}
                _ = serve_tcp(tcp, behaviour, counters.1) => {}
                _ = stopped => {}
            }
        });
        FakeUpstream {
            addr,
            udp_packets,
            tcp_queries,
            last_query,
            _running: running,
        }
    }

    /// Datagrams received.
    pub fn udp_packets(&self) -> usize {
        self.udp_packets.load(Ordering::SeqCst)
    }

    /// Questions received over TCP.
    pub fn tcp_queries(&self) -> usize {
        self.tcp_queries.load(Ordering::SeqCst)
    }

    /// The last datagram received, as it came.
    pub fn last_query(&self) -> Option<Vec<u8>> {
        self.last_query.lock().unwrap().clone()
    }
}

/// UDP and TCP on one port: `addr`'s, or with port 0 a free UDP port
/// that TCP can take too (a client connection elsewhere in the suite may
/// hold it as its own port: then another).
fn bind_pair(addr: SocketAddr) -> (std::net::UdpSocket, std::net::TcpListener) {
    for _ in 0..20 {
        let udp = std::net::UdpSocket::bind(addr).expect("bind fake udp");
        match std::net::TcpListener::bind(udp.local_addr().unwrap()) {
            Ok(tcp) => return (udp, tcp),
            Err(err) if addr.port() != 0 => panic!("bind fake tcp on {addr}: {err}"),
            Err(_) => continue,
        }
    }
    panic!("no port free for both udp and tcp");
}

async fn serve_udp(
    socket: UdpSocket,
    behaviour: Behaviour,
    packets: Arc<AtomicUsize>,
    last: Arc<Mutex<Option<Vec<u8>>>>,
) {
    let socket = Arc::new(socket);
    let mut buffer = vec![0u8; 65535];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buffer).await else {
            continue;
        };
        packets.fetch_add(1, Ordering::SeqCst);
        *last.lock().unwrap() = Some(buffer[..len].to_vec());
        let Ok(query) = Message::from_vec(&buffer[..len]) else {
            continue;
        };
        let socket = Arc::clone(&socket);
        tokio::spawn(async move {
            for datagram in udp_replies(&query, behaviour).await {
                let _ = socket.send_to(&datagram, peer).await;
            }
        });
    }
}

async fn udp_replies(query: &Message, behaviour: Behaviour) -> Vec<Vec<u8>> {
    match behaviour {
        Behaviour::Blackhole => vec![],
        Behaviour::Slow(delay, ip) => {
            tokio::time::sleep(delay).await;
            vec![reply(query, Behaviour::Answer(ip))]
        }
        Behaviour::TruncateUdp(_) => {
            let mut message = base_reply(query, ResponseCode::NoError);
            message.metadata.truncation = true;
            vec![message.to_vec().unwrap()]
        }
        Behaviour::SpoofFirst(ip) => {
            let right = reply(query, Behaviour::Answer(ip));
            let mut wrong_id = right.clone();
            wrong_id[0] ^= 0xff;
            let mut wrong_question = query.clone();
            wrong_question.queries[0].set_name(Name::from_ascii("evil.example.").unwrap());
            let wrong_question = reply(
                &wrong_question,
                Behaviour::Answer(Ipv4Addr::new(127, 6, 6, 6)),
            );
            vec![wrong_id, wrong_question, right]
        }
        other => vec![reply(query, other)],
    }
}

async fn serve_tcp(listener: TcpListener, behaviour: Behaviour, queries: Arc<AtomicUsize>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let queries = Arc::clone(&queries);
        tokio::spawn(async move {
            while let Ok(len) = stream.read_u16().await {
                let mut body = vec![0u8; usize::from(len)];
                if stream.read_exact(&mut body).await.is_err() {
                    return;
                }
                queries.fetch_add(1, Ordering::SeqCst);
                let Ok(query) = Message::from_vec(&body) else {
                    return;
                };
                let behaviour = match behaviour {
                    Behaviour::TruncateUdp(ip) | Behaviour::SpoofFirst(ip) => Behaviour::Answer(ip),
                    Behaviour::Blackhole => return,
                    other => other,
                };
                let answer = match behaviour {
                    Behaviour::EchoTcp => body,
                    other => reply(&query, other),
                };
                let mut frame = (answer.len() as u16).to_be_bytes().to_vec();
                frame.extend(answer);
                if stream.write_all(&frame).await.is_err() {
                    return;
                }
            }
        });
    }
}

fn base_reply(query: &Message, code: ResponseCode) -> Message {
    let mut message = Message::new(
        query.metadata.id,
        MessageType::Response,
        query.metadata.op_code,
    );
    message.metadata.response_code = code;
    message.metadata.recursion_desired = query.metadata.recursion_desired;
    message.metadata.recursion_available = true;
    message.queries.clone_from(&query.queries);
    message
}

fn reply(query: &Message, behaviour: Behaviour) -> Vec<u8> {
    let name = query.queries[0].name().clone();
    let message = match behaviour {
        Behaviour::Answer(ip)
        | Behaviour::Slow(_, ip)
        | Behaviour::TruncateUdp(ip)
        | Behaviour::SpoofFirst(ip) => {
            let mut m = base_reply(query, ResponseCode::NoError);
            m.answers
                .push(Record::from_rdata(name, 60, RData::A(A(ip))));
            m
        }
        Behaviour::NxDomain => {
            let mut m = base_reply(query, ResponseCode::NXDomain);
            let apex = Name::from_ascii("example.").unwrap();
            let soa = SOA::new(apex.clone(), apex.clone(), 1, 1, 1, 1, 30);
            m.authorities
                .push(Record::from_rdata(apex, 30, RData::SOA(soa)));
            m
        }
        Behaviour::ServFail | Behaviour::Blackhole => base_reply(query, ResponseCode::ServFail),
        Behaviour::Refused => base_reply(query, ResponseCode::Refused),
        Behaviour::EchoTcp => query.clone(),
        Behaviour::Oversized(n) => {
            let mut m = base_reply(query, ResponseCode::NoError);
            for i in 0..n {
                let ip = Ipv4Addr::new(127, 8, (i / 256) as u8, (i % 256) as u8);
                m.answers
                    .push(Record::from_rdata(name.clone(), 60, RData::A(A(ip))));
            }
            m
        }
    };
    message.to_vec().unwrap()
}
