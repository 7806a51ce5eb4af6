//! Turning a query name into what the table is keyed by, without
//! allocating: a lower-case copy on the stack, with the sandboxes' own
//! domain ([`LocalDomain`]) cut off its end, and the address inside a
//! reverse-lookup name (RFC 1035 section 3.5, RFC 3596 section 2.5).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::Name;

/// A query name in lower case, dot-separated, without the trailing dot:
/// the form the [`crate::table`] indexes names by. Lives on the stack.
pub struct NameKey {
    bytes: [u8; 255],
    len: usize,
    labels: u8,
}

impl NameKey {
    /// The key of `name`, or `None` when a label holds a byte no table
    /// name can have (so the name cannot be local).
    pub fn of(name: &Name) -> Option<NameKey> {
        let mut key = NameKey::empty();
        for label in name.iter() {
            key.push_label(label)?;
        }
        Some(key)
    }

    /// The key of the name at the start of `bytes` as it stands on the
    /// wire, and its length there: what [`Self::of`] gives for the name a
    /// decoder reads from those bytes, without decoding it (the plain path,
    /// issue #16). `None` when `of` would give none, and when the name is
    /// not all labels and the root (a compression pointer, another label
    /// type), is cut short, or is longer than a name may be (255 bytes on
    /// the wire, RFC 1035 section 3.1: hickory refuses it then).
    pub fn of_wire(bytes: &[u8]) -> Option<(NameKey, usize)> {
        let mut key = NameKey::empty();
        let mut at = 0;
        loop {
            let len = usize::from(*bytes.get(at)?);
            at += 1;
            if len == 0 {
                break;
            }
            // 64 and over: a pointer or a label type that is no length.
            let label = bytes.get(at..at + len).filter(|_| len <= 63)?;
            at += len;
            if at + 1 > 255 {
                return None;
            }
            key.push_label(label)?;
        }
        Some((key, at))
    }

    fn empty() -> NameKey {
        NameKey {
            bytes: [0; 255],
            len: 0,
            labels: 0,
        }
    }

    /// Appends `label` in lower case after a dot; `None` when it holds a
    /// byte no table name can have, or does not fit.
    fn push_label(&mut self, label: &[u8]) -> Option<()> {
        if self.len > 0 {
            self.push(b'.')?;
        }
        let start = self.len;
        let room = self.bytes.get_mut(start..start + label.len())?;
        room.copy_from_slice(label);
        for byte in room.iter_mut() {
            if !(byte.is_ascii_alphanumeric() || *byte == b'-' || *byte == b'_') {
                return None;
            }
            byte.make_ascii_lowercase();
        }
        self.len = start + label.len();
        self.labels += 1;
        Some(())
    }

    fn push(&mut self, byte: u8) -> Option<()> {
        *self.bytes.get_mut(self.len)? = byte;
        self.len += 1;
        Some(())
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        let bytes = &self.bytes[..self.len];
        debug_assert!(bytes.is_ascii());
        // SAFETY: only ASCII bytes are ever pushed (`of` refuses any other
        // and adds dots), and `len` only shrinks after; ASCII is UTF-8.
        // Unchecked because the answer path reads the key several times per
        // question (callgrind, issue #16).
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// How many labels the name has.
    pub fn labels(&self) -> u8 {
        self.labels
    }

    /// Each proper suffix that starts after a dot, longest first, with the
    /// number of labels it has: `a.b.c` gives `(b.c, 2)` then `(c, 1)`.
    pub fn parent_suffixes(&self) -> impl Iterator<Item = (&str, u8)> {
        let text = self.as_str();
        let total = self.labels;
        // A byte scan: names are short, and `match_indices` set up a
        // searcher for each (callgrind, issue #16).
        text.bytes()
            .enumerate()
            .filter(|&(_, byte)| byte == b'.')
            .enumerate()
            .map(move |(i, (at, _))| (&text[at + 1..], total - 1 - i as u8))
    }

    /// Where the key stands relative to `domain`. A name under it loses the
    /// domain's labels (`web.app.netagent.internal` becomes `web.app`): the
    /// bytes stay where they are, only the length shrinks.
    pub fn strip_domain(&mut self, domain: &LocalDomain) -> DomainPlace {
        let suffix = domain.as_str();
        if suffix.is_empty() {
            return DomainPlace::Outside;
        }
        let text = self.as_str();
        if text == suffix {
            return DomainPlace::Apex;
        }
        let Some(rest) = text.strip_suffix(suffix) else {
            return DomainPlace::Outside;
        };
        let Some(inner) = rest.strip_suffix('.') else {
            return DomainPlace::Outside;
        };
        self.len = inner.len();
        self.labels -= domain.labels();
        DomainPlace::Under
    }

    /// For `_service._proto.rest`, the service, the protocol and `rest`
    /// (RFC 2782 owner names); `None` for other shapes.
    pub fn split_service(&self) -> Option<(&str, &str, &str)> {
        // Most names are not service names: no split for them (every
        // forwarded name comes through here, issue #16).
        if !self.as_str().starts_with('_') {
            return None;
        }
        let (service, rest) = self.as_str().split_once('.')?;
        let (proto, target) = rest.split_once('.')?;
        Some((service.strip_prefix('_')?, proto.strip_prefix('_')?, target))
    }
}

/// The sandboxes' own domain (`[resolver] domain`, default
/// `netagent.internal`): the resolver answers `NAME.DOMAIN` as `NAME` and
/// owns every name under it. Lower case, without the trailing dot; empty
/// when turned off ([`LocalDomain::default`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalDomain {
    name: Box<str>,
    labels: u8,
}

impl LocalDomain {
    /// The domain `name` (as the configuration checked it: a DNS name of
    /// letters, digits, `-` and `_`); an empty `name` turns it off.
    pub fn new(name: &str) -> LocalDomain {
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        let labels = if name.is_empty() {
            0
        } else {
            name.split('.').count().min(usize::from(u8::MAX)) as u8
        };
        LocalDomain {
            name: name.into(),
            labels,
        }
    }

    /// The domain of a daemon configuration, off when it has none.
    pub fn of(config: &config::ResolverConfig) -> LocalDomain {
        LocalDomain::new(config.domain.as_deref().unwrap_or_default())
    }

    /// The domain in lower case without the trailing dot; empty when off.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// Whether the domain is turned on.
    pub fn is_on(&self) -> bool {
        self.labels > 0
    }

    /// How many labels the domain has; 0 when off.
    pub fn labels(&self) -> u8 {
        self.labels
    }

    /// Whether `name` is the domain or under it, in any letter case, whatever
    /// bytes its other labels hold (for names [`NameKey::of`] refuses).
    pub fn holds(&self, name: &Name) -> bool {
        if !self.is_on() {
            return false;
        }
        let mut labels = name.iter().rev();
        self.name.rsplit('.').all(|want| {
            labels
                .next()
                .is_some_and(|got| got.eq_ignore_ascii_case(want.as_bytes()))
        })
    }
}

/// Where a [`NameKey`] stands relative to the [`LocalDomain`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainPlace {
    /// Not under the domain (or the domain is off): the key is unchanged.
    Outside,
    /// The domain itself.
    Apex,
    /// Under the domain: the key now holds the name without it.
    Under,
}

/// The address a reverse-lookup name stands for, if the name is a whole
/// address under `in-addr.arpa.` or `ip6.arpa.` (any letter case); `None`
/// for other names and for partial (network) names.
pub fn reverse_address(name: &Name) -> Option<IpAddr> {
    let labels = name.num_labels();
    let mut iter = name.iter();
    match labels {
        6 => {
            let mut octets = [0u8; 4];
            for slot in octets.iter_mut().rev() {
                *slot = parse_octet(iter.next()?)?;
            }
            suffix_is(iter, &[b"in-addr", b"arpa"]).then(|| IpAddr::V4(Ipv4Addr::from(octets)))
        }
        34 => {
            let mut value: u128 = 0;
            for shift in 0..32 {
                let nibble = parse_nibble(iter.next()?)?;
                value |= u128::from(nibble) << (4 * shift);
            }
            suffix_is(iter, &[b"ip6", b"arpa"]).then(|| IpAddr::V6(Ipv6Addr::from(value)))
        }
        _ => None,
    }
}

fn suffix_is<'a>(mut iter: impl Iterator<Item = &'a [u8]>, expected: &[&[u8]]) -> bool {
    expected.iter().all(|want| {
        iter.next()
            .is_some_and(|got| got.eq_ignore_ascii_case(want))
    })
}

/// A decimal octet without leading zeros (`01` is not `1`: RFC 1035
/// section 3.5 writes octets in plain decimal).
fn parse_octet(label: &[u8]) -> Option<u8> {
    if label.is_empty() || label.len() > 3 || (label.len() > 1 && label[0] == b'0') {
        return None;
    }
    let text = std::str::from_utf8(label).ok()?;
    text.parse().ok()
}

fn parse_nibble(label: &[u8]) -> Option<u8> {
    match label {
        [digit] => (*digit as char).to_digit(16).map(|d| d as u8),
        _ => None,
    }
}

#[cfg(test)]
#[path = "qname_tests.rs"]
mod tests;
