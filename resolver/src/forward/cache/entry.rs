//! One cached answer: what of an upstream's reply may be kept and for how
//! long, read from its bytes, and the reply served from it later.
//!
//! Kept (RFC 1035 section 7.4, RFC 2308, RFC 9520):
//! - NOERROR with answers: for the smallest TTL of its records, at most
//!   [`MAX_POSITIVE_TTL`];
//! - NXDOMAIN, and NOERROR without answers (NODATA): only with an SOA in
//!   the authority section, for the smaller of its TTL and its MINIMUM
//!   (RFC 2308 section 5), at most [`MAX_NEGATIVE_TTL`];
//! - never: SERVFAIL and every other rcode (RFC 9520 allows a few seconds;
//!   we keep none, so a failing upstream is asked again at once), a
//!   truncated answer, one with TSIG or SIG(0), one that does not parse
//!   to its last byte, one larger than [`MAX_ENTRY_BYTES`], a TTL of 0.
//!
//! Every TTL is cut to the entry's lifetime when it is stored and counts
//! down as it is served (RFC 1035 section 6.1.3: a cached record's TTL is
//! what remains). The OPT record's options (a COOKIE for the first
//! client, padding) are dropped: they belonged to that exchange, and a
//! reply without them is what a server without those options sends
//! (RFC 7873 section 5.3).

use std::time::Instant;

/// Longest a positive answer is kept, seconds (one day, as RFC 8767's
/// suggested cap on stale data is a week and resolvers cap at a day).
pub const MAX_POSITIVE_TTL: u32 = 86_400;
/// Longest a negative answer is kept, seconds (RFC 2308 section 5
/// suggests one to three hours; a container host wants new names fast).
pub const MAX_NEGATIVE_TTL: u32 = 300;
/// Largest answer kept, bytes.
pub const MAX_ENTRY_BYTES: usize = 4096;

const TYPE_SOA: u16 = 6;
const TYPE_SIG: u16 = 24;
const TYPE_OPT: u16 = 41;
const TYPE_TSIG: u16 = 250;

/// An answer as the cache keeps it.
#[derive(Debug)]
pub struct Entry {
    bytes: Box<[u8]>,
    /// Where each record's TTL is, OPT's excepted.
    ttl_offsets: Box<[u16]>,
    stored: Instant,
    lifetime: u32,
}

impl Entry {
    /// The entry for `reply`, stored at `now`, or `None` when the reply
    /// must not be cached (see the module's rules).
    pub fn new(reply: &[u8], now: Instant) -> Option<Entry> {
        let walked = walk(reply)?;
        let mut bytes = reply[..walked.end].to_vec();
        if let Some(at) = walked.opt_rdlength {
            bytes[at..at + 2].copy_from_slice(&[0, 0]);
        }
        for &at in &walked.ttl_offsets {
            let at = usize::from(at);
            let ttl = read_u32(&bytes, at).min(walked.lifetime);
            bytes[at..at + 4].copy_from_slice(&ttl.to_be_bytes());
        }
        Some(Entry {
            bytes: bytes.into_boxed_slice(),
            ttl_offsets: walked.ttl_offsets.into_boxed_slice(),
            stored: now,
            lifetime: walked.lifetime,
        })
    }

    /// The reply's size in bytes.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    /// Seconds the entry lives from when it was stored.
    pub fn lifetime(&self) -> u32 {
        self.lifetime
    }

    /// Whether the entry is past its lifetime at `now`.
    pub fn expired(&self, now: Instant) -> bool {
        self.elapsed(now) >= u64::from(self.lifetime)
    }

    /// When the entry expires.
    pub fn expires_at(&self) -> Instant {
        self.stored + std::time::Duration::from_secs(u64::from(self.lifetime))
    }

    /// Bytes this entry holds, for the memory bound.
    pub fn footprint(&self) -> usize {
        self.bytes.len() + self.ttl_offsets.len() * 2 + std::mem::size_of::<Entry>()
    }

    /// The reply to a client at `now`: the stored bytes (the one
    /// allocation), with the client's id and question (its letter case,
    /// RFC 4343 and the 0x20 trick) and the TTLs counted down; `None` once
    /// expired. `question` must be the client's question section, equal to
    /// the stored one but for case (the key makes it so).
    pub fn serve(&self, id: u16, question: &[u8], now: Instant) -> Option<Vec<u8>> {
        let elapsed = self.elapsed(now);
        if elapsed >= u64::from(self.lifetime) {
            return None;
        }
        let mut reply = self.bytes.to_vec();
        reply[..2].copy_from_slice(&id.to_be_bytes());
        reply
            .get_mut(12..12 + question.len())?
            .copy_from_slice(question);
        for &at in self.ttl_offsets.iter() {
            let at = usize::from(at);
            let ttl = u64::from(read_u32(&reply, at)).saturating_sub(elapsed) as u32;
            reply[at..at + 4].copy_from_slice(&ttl.to_be_bytes());
        }
        Some(reply)
    }

    fn elapsed(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.stored).as_secs()
    }
}

/// What a walk over a reply found.
struct Walked {
    end: usize,
    ttl_offsets: Vec<u16>,
    opt_rdlength: Option<usize>,
    lifetime: u32,
}

/// Walks a reply's records; `None` when it must not be cached.
fn walk(reply: &[u8]) -> Option<Walked> {
    let header = reply.first_chunk::<12>()?;
    let (qr, opcode, tc) = (header[2] & 0x80, (header[2] >> 3) & 0x0f, header[2] & 0x02);
    let rcode = header[3] & 0x0f;
    let count = |i: usize| usize::from(u16::from_be_bytes([header[i], header[i + 1]]));
    if qr == 0 || opcode != 0 || tc != 0 || count(4) != 1 || !matches!(rcode, 0 | 3) {
        return None;
    }
    if reply.len() > MAX_ENTRY_BYTES {
        return None;
    }
    let mut at = skip_name(reply, 12)? + 4;
    let (answers, authority, additional) = (count(6), count(8), count(10));
    let mut walked = Walked {
        end: 0,
        ttl_offsets: Vec::with_capacity(answers + authority + additional),
        opt_rdlength: None,
        lifetime: u32::MAX,
    };
    let mut soa_minimum = None;
    for index in 0..answers + authority + additional {
        let name_end = skip_name(reply, at)?;
        let fixed = reply.get(name_end..name_end + 10)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let rdlength = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let rdata = name_end + 10;
        let next = rdata.checked_add(rdlength).filter(|&n| n <= reply.len())?;
        match rtype {
            TYPE_TSIG | TYPE_SIG => return None,
            // OPT only as the last record, so its options can be cut off.
            TYPE_OPT
                if index + 1 == answers + authority + additional
                    && index >= answers + authority =>
            {
                if next != reply.len() {
                    return None;
                }
                walked.opt_rdlength = Some(name_end + 8);
                walked.end = rdata;
                return finish(walked, rcode, answers, soa_minimum);
            }
            TYPE_OPT => return None,
            _ => {}
        }
        let ttl = read_u32(reply, name_end + 4);
        walked.lifetime = walked.lifetime.min(ttl);
        walked.ttl_offsets.push(u16::try_from(name_end + 4).ok()?);
        let in_authority = (answers..answers + authority).contains(&index);
        if rtype == TYPE_SOA && in_authority && rdlength >= 22 {
            soa_minimum = Some(read_u32(reply, next - 4));
        }
        at = next;
    }
    if at != reply.len() {
        return None;
    }
    walked.end = at;
    finish(walked, rcode, answers, soa_minimum)
}

/// Applies the positive or negative lifetime rule.
fn finish(
    mut walked: Walked,
    rcode: u8,
    answers: usize,
    soa_minimum: Option<u32>,
) -> Option<Walked> {
    let negative = rcode == 3 || answers == 0;
    walked.lifetime = if negative {
        // RFC 2308 section 5: no SOA, no negative caching.
        walked.lifetime.min(soa_minimum?).min(MAX_NEGATIVE_TTL)
    } else {
        walked.lifetime.min(MAX_POSITIVE_TTL)
    };
    (walked.lifetime > 0).then_some(walked)
}

/// The offset after the name at `at` (labels, ending in a root label or a
/// compression pointer, RFC 1035 section 4.1.4).
fn skip_name(message: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *message.get(at)?;
        match len {
            0 => return Some(at + 1),
            1..=63 => at += 1 + usize::from(len),
            0xc0..=0xff => {
                message.get(at + 1)?;
                return Some(at + 2);
            }
            _ => return None,
        }
    }
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}
