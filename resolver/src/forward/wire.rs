//! The few facts the forwarder reads straight from message bytes, so that
//! a relayed message is never decoded and re-encoded (its EDNS options and
//! DO/CD bits travel untouched).

/// The question section of a message (name, type, class), or `None` if the
/// message does not hold exactly one well-formed question.
pub fn question(message: &[u8]) -> Option<&[u8]> {
    if message.len() < 12 || message[4..6] != [0, 1] {
        return None;
    }
    let mut at = 12;
    loop {
        let len = usize::from(*message.get(at)?);
        if len == 0 {
            at += 1;
            break;
        }
        // A question name comes first in the message: a compression
        // pointer (RFC 1035 section 4.1.4) has nothing to point back to.
        if len > 63 {
            return None;
        }
        at += 1 + len;
    }
    message.get(12..at + 4)
}

/// Whether two question sections ask the same thing; names compare without
/// regard to ASCII case (RFC 4343).
pub fn same_question(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The message id.
pub fn id(message: &[u8]) -> u16 {
    u16::from_be_bytes([message[0], message[1]])
}

/// Writes a new id into a message.
pub fn set_id(message: &mut [u8], id: u16) {
    message[..2].copy_from_slice(&id.to_be_bytes());
}

/// The 4-bit header rcode.
pub fn rcode(message: &[u8]) -> u8 {
    message[3] & 0x0f
}

/// RCODE 2, SERVFAIL.
pub const SERVFAIL: u8 = 2;
/// RCODE 5, REFUSED.
pub const REFUSED: u8 = 5;

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, Query};
    use hickory_proto::rr::{Name, RecordType};

    fn query(name: &str) -> Vec<u8> {
        let mut m = Message::query();
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
        m.to_vec().unwrap()
    }

    #[test]
    fn finds_the_question_and_compares_without_case() {
        let a = query("Example.COM.");
        let b = query("example.com.");
        assert_eq!(question(&a).unwrap().len(), 13 + 4);
        assert!(same_question(question(&a).unwrap(), question(&b).unwrap()));
        assert!(!same_question(
            question(&a).unwrap(),
            question(&query("example.org.")).unwrap()
        ));
    }

    #[test]
    fn refuses_broken_questions() {
        let good = query("a.example.");
        assert!(question(&good[..good.len() - 1]).is_none());
        let mut two = good.clone();
        two[5] = 2;
        assert!(question(&two).is_none());
        let mut pointer = good;
        pointer[12] = 0xc0;
        assert!(question(&pointer).is_none());
    }
}
