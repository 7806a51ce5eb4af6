//! Cache keys, built on the stack: the upstream set that would be asked,
//! the query's flags, and its question with the name in lower case
//! (RFC 4343: names compare without regard to ASCII case).
//!
//! Layout: a scope tag and its bytes, a flags byte, the question section.
//! The scope is written whole, never hashed, so two upstream sets can
//! never share an entry:
//! - [`Scope::Sandbox`]: a sandbox's own `--dns` servers, by a number
//!   given each time they are set (asked from its namespace, so never
//!   shared even with a sandbox naming the same addresses);
//! - [`Scope::Servers`]: the servers of its networks, every address and
//!   port in order;
//! - [`Scope::Host`]: the host's resolv.conf servers, by the generation
//!   of the file's contents, which a change to the file moves on.

use std::net::SocketAddr;

/// The longest key: a scope of [`MAX_SCOPE_SERVERS`] servers, flags and
/// a question of the longest name (255 bytes) with type and class.
pub const MAX_KEY: usize = 1 + 1 + MAX_SCOPE_SERVERS * 19 + 1 + 255 + 4;
/// Networks' server lists longer than this are not cached.
pub const MAX_SCOPE_SERVERS: usize = 8;

/// Which upstream set a question would go to.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// A sandbox's own servers, by the number of their setting.
    Sandbox(u64),
    /// Networks' servers.
    Servers(&'a [SocketAddr]),
    /// The host's servers, by generation.
    Host(u64),
}

/// The query bits that change an upstream's answer: RD (RFC 1035), CD and
/// DO (RFC 4035 section 3.2), and whether EDNS was used at all (an OPT in
/// the reply only for a query with one, RFC 6891 section 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueryFlags {
    /// Recursion desired.
    pub rd: bool,
    /// Checking disabled.
    pub cd: bool,
    /// DNSSEC OK.
    pub dnssec_ok: bool,
    /// The query had an OPT record.
    pub edns: bool,
}

impl QueryFlags {
    fn byte(self) -> u8 {
        u8::from(self.rd)
            | u8::from(self.cd) << 1
            | u8::from(self.dnssec_ok) << 2
            | u8::from(self.edns) << 3
    }
}

/// A key in a stack buffer.
pub struct Key {
    bytes: [u8; MAX_KEY],
    len: usize,
}

impl Key {
    /// The key of `question` (the question section's bytes: name, type,
    /// class) asked with `flags` of `scope`'s servers; `None` when it does
    /// not fit (more than [`MAX_SCOPE_SERVERS`] servers, a bad question).
    pub fn new(scope: Scope<'_>, flags: QueryFlags, question: &[u8]) -> Option<Key> {
        let mut key = Key {
            bytes: [0; MAX_KEY],
            len: 0,
        };
        match scope {
            Scope::Sandbox(number) => key.push(&[0])?.push(&number.to_be_bytes())?,
            Scope::Host(generation) => key.push(&[1])?.push(&generation.to_be_bytes())?,
            Scope::Servers(servers) if servers.len() <= MAX_SCOPE_SERVERS => {
                key.push(&[2, servers.len() as u8])?;
                for server in servers {
                    push_server(&mut key, server)?;
                }
                &mut key
            }
            Scope::Servers(_) => return None,
        };
        key.push(&[flags.byte()])?;
        let start = key.len;
        key.push(question)?;
        // The name only: type and class bytes are numbers, not letters.
        let name_end = key.len.checked_sub(4).filter(|&end| end > start)?;
        key.bytes[start..name_end].make_ascii_lowercase();
        Some(key)
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn push(&mut self, bytes: &[u8]) -> Option<&mut Key> {
        let end = self.len + bytes.len();
        self.bytes.get_mut(self.len..end)?.copy_from_slice(bytes);
        self.len = end;
        Some(self)
    }
}

/// A server as a family byte, its address and its port.
fn push_server(key: &mut Key, server: &SocketAddr) -> Option<()> {
    match server {
        SocketAddr::V4(v4) => key.push(&[4])?.push(&v4.ip().octets())?,
        SocketAddr::V6(v6) => key.push(&[6])?.push(&v6.ip().octets())?,
    };
    key.push(&server.port().to_be_bytes())?;
    Some(())
}
