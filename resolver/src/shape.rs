//! A walk over a message's bytes before it is decoded, for what
//! hickory's decoder lets through or only logs, and for the replies made
//! without a decode:
//! - bytes after the last record: nothing in RFC 1035 section 4.1 makes
//!   room for them, and hickory's own server answers FORMERR (issue #14);
//! - an OPT record whose options do not parse (RFC 6891 section 6.1.2):
//!   hickory logs a WARN per message and drops the options; the handler
//!   answers FORMERR and logs through [`crate::events`];
//! - where the question is and whether there is an OPT record, so that
//!   NOTIMP and FORMERR echo them (RFC 6891 section 7).
//!
//! No allocation: offsets into the caller's bytes.

use std::ops::Range;

/// The OPT record type (RFC 6891 section 6.1.2).
const OPT: u16 = 41;

/// What the walk found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// The first question's bytes (name, type and class), if any.
    pub question: Option<Range<usize>>,
    /// The OPT record of the additional section, if any.
    pub opt: Option<OptSeen>,
    /// Why the message must get FORMERR, if it must.
    pub flaw: Option<Flaw>,
}

/// What a reply needs of the query's OPT record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptSeen {
    /// The DO bit (RFC 3225 section 3), copied into the reply.
    pub dnssec_ok: bool,
    /// The requestor's UDP payload size, as it came (the CLASS field,
    /// RFC 6891 section 6.1.2).
    pub udp_size: u16,
    /// The EDNS version (RFC 6891 section 6.1.3).
    pub version: u8,
    /// Owned by the root and carrying no options: nothing in it that a
    /// decoder could refuse (the plain path's condition, see
    /// `crate::handler`).
    pub bare: bool,
}

/// A fault the decoder would let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    /// Bytes after the last record the header counts.
    TrailingBytes,
    /// An OPT record whose options do not fill its RDATA exactly.
    BadEdnsOptions,
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(*bytes.get(at..)?.first_chunk::<2>()?))
}

/// The offset just past the name at `at` (labels, ending in a root label
/// or a compression pointer), or `None` if it runs off the end or uses a
/// reserved label type.
fn skip_name(bytes: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *bytes.get(at)?;
        match len & 0xc0 {
            0x00 if len == 0 => return Some(at + 1),
            0x00 => at += 1 + usize::from(len),
            0xc0 => return bytes.get(at + 1).map(|_| at + 2),
            _ => return None,
        }
    }
}

/// Whether OPT RDATA is a whole number of {code, length, data} options.
fn options_parse(rdata: &[u8]) -> bool {
    let mut at = 0;
    while at < rdata.len() {
        let Some(len) = u16_at(rdata, at + 2) else {
            return false;
        };
        at += 4 + usize::from(len);
    }
    at == rdata.len()
}

/// Walks `bytes` as a DNS message; `None` when it cannot be walked to the
/// end of the records its header counts (the decoder then refuses it).
pub fn walk(bytes: &[u8]) -> Option<Shape> {
    let questions = u16_at(bytes, 4)?;
    let answers = usize::from(u16_at(bytes, 6)?) + usize::from(u16_at(bytes, 8)?);
    let records = answers + usize::from(u16_at(bytes, 10)?);
    let mut at = 12;
    let mut question = None;
    for index in 0..questions {
        let start = at;
        at = skip_name(bytes, at)? + 4;
        bytes.get(..at)?;
        if index == 0 {
            question = Some(start..at);
        }
    }
    let (mut opt, mut flaw) = (None, None);
    for index in 0..records {
        let owner = at;
        at = skip_name(bytes, at)?;
        let fixed = bytes.get(at..at + 10)?;
        let rdata_len = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let rdata = bytes.get(at + 10..at + 10 + rdata_len)?;
        if index >= answers && u16::from_be_bytes([fixed[0], fixed[1]]) == OPT {
            opt = Some(OptSeen {
                dnssec_ok: fixed[6] & 0x80 != 0,
                udp_size: u16::from_be_bytes([fixed[2], fixed[3]]),
                version: fixed[5],
                bare: rdata.is_empty() && bytes.get(owner) == Some(&0),
            });
            if !options_parse(rdata) {
                flaw = Some(Flaw::BadEdnsOptions);
            }
        }
        at += 10 + rdata_len;
    }
    if flaw.is_none() && at != bytes.len() {
        flaw = Some(Flaw::TrailingBytes);
    }
    Some(Shape {
        question,
        opt,
        flaw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `web. A IN` with an OPT record holding `options`.
    fn query(options: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1];
        bytes.extend_from_slice(b"\x03web\x00\x00\x01\x00\x01");
        bytes.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, 0x80, 0]);
        bytes.extend_from_slice(&(options.len() as u16).to_be_bytes());
        bytes.extend_from_slice(options);
        bytes
    }

    #[test]
    fn a_sound_query_has_its_question_and_opt() {
        let shape = walk(&query(&[0, 10, 0, 2, 1, 2])).unwrap();
        assert_eq!(shape.question, Some(12..21));
        let opt = OptSeen {
            dnssec_ok: true,
            udp_size: 1232,
            version: 0,
            bare: false,
        };
        assert_eq!(shape.opt, Some(opt));
        assert_eq!(shape.flaw, None);
    }

    #[test]
    fn an_opt_of_the_root_without_options_is_bare() {
        assert!(walk(&query(&[])).unwrap().opt.unwrap().bare);
        let mut owned = query(&[]);
        owned[21] = 0xc0; // the OPT's owner: a pointer to the question's name
        owned.insert(22, 12);
        let opt = walk(&owned).unwrap().opt.unwrap();
        assert!(!opt.bare, "{opt:?}");
    }

    #[test]
    fn options_that_overrun_or_stop_short_are_flawed() {
        for options in [&[0, 10, 0, 9, 1][..], &[0, 10, 0], &[0, 10, 0, 0, 7]] {
            let flaw = walk(&query(options)).unwrap().flaw;
            assert_eq!(flaw, Some(Flaw::BadEdnsOptions), "{options:?}");
        }
    }

    #[test]
    fn bytes_after_the_last_record_are_flawed() {
        let mut bytes = query(&[]);
        bytes.push(0);
        assert_eq!(walk(&bytes).unwrap().flaw, Some(Flaw::TrailingBytes));
    }

    #[test]
    fn a_message_short_of_its_counts_cannot_be_walked() {
        let bytes = query(&[]);
        assert_eq!(walk(&bytes[..bytes.len() - 3]), None);
        assert_eq!(walk(&[0; 11]), None);
    }
}
