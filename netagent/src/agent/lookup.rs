//! `netagent dns lookup --from SANDBOX`: a question asked from inside the
//! sandbox to 127.0.0.11:53, the way its processes ask, so the answer
//! shows what they get (redirect, resolver and all).

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};

use super::{Agent, AgentError};
use crate::kernel::netns::NsRef;

const TIMEOUT: Duration = Duration::from_secs(3);

/// What a lookup got.
#[derive(Debug, Clone)]
pub struct LookupResult {
    /// NOERROR, NXDOMAIN, ...
    pub rcode: String,
    /// The answer records' data, as dig's short form prints it.
    pub answers: Vec<String>,
    /// Whether the reply was truncated.
    pub truncated: bool,
}

impl Agent {
    /// Asks `name` (of type `qtype`) from inside `sandbox`, over UDP or TCP.
    pub async fn lookup(
        &self,
        sandbox: &str,
        name: &str,
        qtype: &str,
        tcp: bool,
    ) -> Result<LookupResult, AgentError> {
        let qtype: RecordType = qtype
            .to_ascii_uppercase()
            .parse()
            .map_err(|_| AgentError::BadInput(format!("{qtype:?} is not a DNS record type")))?;
        let qname = Name::from_ascii(name)
            .map_err(|err| AgentError::BadInput(format!("{name:?} is not a DNS name: {err}")))?;
        let mut query = Message::query();
        query.metadata.recursion_desired = true;
        query.add_query(Query::query(qname, qtype));
        let bytes = query.to_vec().map_err(|err| {
            AgentError::io(format!("encode the question for {name:?}"))(std::io::Error::other(err))
        })?;
        let record = self.sandbox(sandbox).await?;
        // Only sandboxes on a user-defined network have 127.0.0.11 (or
        // their owner's, for `container:`); asking another is the
        // caller's mistake, not a failure of the agent's.
        let owner = record.shares_with.as_deref().unwrap_or(sandbox);
        if self.resolver_port_of(owner).await.is_none() {
            return Err(AgentError::Conflict(format!(
                "sandbox {sandbox:?} has no embedded resolver: it is on no user-defined network"
            )));
        }
        let ns = NsRef::Path(record.netns);
        let reply = self
            .worker
            .run_in(&ns, move || exchange(&bytes, tcp))
            .await
            .map_err(AgentError::io(format!(
                "ask 127.0.0.11 from sandbox {sandbox:?}"
            )))?;
        let reply = Message::from_vec(&reply).map_err(|err| {
            AgentError::io(format!("decode the reply in sandbox {sandbox:?}"))(
                std::io::Error::other(err),
            )
        })?;
        Ok(LookupResult {
            rcode: rcode_name(u16::from(reply.metadata.response_code)),
            answers: reply.answers.iter().map(|r| r.data.to_string()).collect(),
            truncated: reply.metadata.truncation,
        })
    }
}

/// Runs on the namespace worker inside the sandbox: the socket must be
/// made there, and loopback answers within the timeout or not at all.
fn exchange(query: &[u8], tcp: bool) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Write};
    let server = SocketAddr::from((config::EMBEDDED_RESOLVER, 53));
    if tcp {
        let mut stream = TcpStream::connect_timeout(&server, TIMEOUT)?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        let mut frame = (query.len() as u16).to_be_bytes().to_vec();
        frame.extend_from_slice(query);
        stream.write_all(&frame)?;
        let mut len = [0u8; 2];
        stream.read_exact(&mut len)?;
        let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut reply)?;
        Ok(reply)
    } else {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_read_timeout(Some(TIMEOUT))?;
        socket.send_to(query, server)?;
        let mut buffer = vec![0u8; 65_535];
        let len = socket.recv(&mut buffer)?;
        buffer.truncate(len);
        Ok(buffer)
    }
}

/// The rcode as dig names it (RFC 1035 section 4.1.1, RFC 6895).
fn rcode_name(code: u16) -> String {
    match code {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        16 => "BADVERS".into(),
        other => format!("RCODE{other}"),
    }
}

impl Agent {
    /// The forwarding cache's size and counters (`None`: the cache is
    /// off); with a network, hits and misses of its sandboxes' questions.
    pub fn cache_stats(
        &self,
        network: Option<&str>,
    ) -> Result<Option<resolver::forward::cache::CacheStats>, AgentError> {
        if let Some(network) = network {
            let known = self.table().networks().iter().any(|n| n.name == network);
            if !known {
                return Err(AgentError::NotFound {
                    kind: "network",
                    name: network.to_owned(),
                });
            }
        }
        Ok(self.forwarder.cache_stats(network))
    }

    /// Empties the forwarding cache; returns how many entries it held.
    pub fn flush_cache(&self) -> usize {
        self.forwarder.flush_cache()
    }
}
