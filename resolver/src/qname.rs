//! Turning a query name into what the table is keyed by, without
//! allocating: a lower-case copy on the stack, and the address inside a
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
        let mut key = NameKey {
            bytes: [0; 255],
            len: 0,
            labels: 0,
        };
        for label in name.iter() {
            if key.len > 0 {
                key.push(b'.')?;
            }
            for &byte in label {
                if !(byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_') {
                    return None;
                }
                key.push(byte.to_ascii_lowercase())?;
            }
            key.labels += 1;
        }
        Some(key)
    }

    fn push(&mut self, byte: u8) -> Option<()> {
        *self.bytes.get_mut(self.len)? = byte;
        self.len += 1;
        Some(())
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII bytes were pushed.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
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
        text.match_indices('.')
            .enumerate()
            .map(move |(i, (at, _))| (&text[at + 1..], total - 1 - i as u8))
    }

    /// For `_service._proto.rest`, the service, the protocol and `rest`
    /// (RFC 2782 owner names); `None` for other shapes.
    pub fn split_service(&self) -> Option<(&str, &str, &str)> {
        let (service, rest) = self.as_str().split_once('.')?;
        let (proto, target) = rest.split_once('.')?;
        Some((service.strip_prefix('_')?, proto.strip_prefix('_')?, target))
    }
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
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    #[test]
    fn key_is_lower_case_without_trailing_dot() {
        let key = NameKey::of(&name("Web.APP.")).unwrap();
        assert_eq!(key.as_str(), "web.app");
        assert_eq!(key.labels(), 2);
        assert_eq!(NameKey::of(&Name::root()).unwrap().as_str(), "");
        assert!(NameKey::of(&Name::from_labels([b"we*b".as_slice(), b"app"]).unwrap()).is_none());
    }

    #[test]
    fn suffixes_and_services() {
        let key = NameKey::of(&name("_http._tcp.web.app.")).unwrap();
        let suffixes: Vec<_> = key.parent_suffixes().collect();
        assert_eq!(suffixes, [("_tcp.web.app", 3), ("web.app", 2), ("app", 1)]);
        assert_eq!(key.split_service(), Some(("http", "tcp", "web.app")));
        assert_eq!(
            NameKey::of(&name("web.app.")).unwrap().split_service(),
            None
        );
    }

    #[test]
    fn reverse_names_in_any_case() {
        assert_eq!(
            reverse_address(&name("4.3.2.10.IN-ADDR.arpa.")),
            Some("10.2.3.4".parse().unwrap())
        );
        let v6: Ipv6Addr = "fd00::1:abcd".parse().unwrap();
        let labels: String = format!("{:032x}", u128::from(v6))
            .chars()
            .rev()
            .map(|c| format!("{}.", c.to_ascii_uppercase()))
            .collect();
        assert_eq!(
            reverse_address(&name(&format!("{labels}Ip6.ARPA."))),
            Some(IpAddr::V6(v6))
        );
        for partial in [
            "3.2.10.in-addr.arpa.",
            "4.3.2.010.in-addr.arpa.",
            "4.3.2.300.in-addr.arpa.",
            "4.3.2.1.example.com.",
        ] {
            assert_eq!(reverse_address(&name(partial)), None, "{partial}");
        }
    }
}
