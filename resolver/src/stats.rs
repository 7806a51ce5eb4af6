//! Counters of questions by type and result, for the metrics endpoint.
//! Relaxed atomic adds: no lock and no allocation on the answer path.

use std::sync::atomic::{AtomicU64, Ordering};

use hickory_proto::rr::RecordType;

const TYPES: [&str; 5] = ["A", "AAAA", "PTR", "SRV", "other"];
const RESULTS: [&str; 7] = [
    "answer",
    "nodata",
    "nxdomain",
    "servfail",
    "forwarded",
    "refused",
    "malformed",
];

/// How a question ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryResult {
    /// Answered from the table.
    Answer = 0,
    /// Known name, no record of that type.
    NoData = 1,
    /// Name does not exist in a zone the resolver owns.
    NxDomain = 2,
    /// A local answer that could not be encoded.
    ServFail = 3,
    /// Handed to the upstream forwarder.
    Forwarded = 4,
    /// Refused (sandbox on no network).
    Refused = 5,
    /// FORMERR, NOTIMP or BADVERS.
    Malformed = 6,
}

/// Questions counted by type and result.
#[derive(Debug, Default)]
pub struct QueryStats {
    counts: [[AtomicU64; RESULTS.len()]; TYPES.len()],
}

impl QueryStats {
    /// Counts one question.
    pub fn record(&self, qtype: Option<RecordType>, result: QueryResult) {
        let row = match qtype {
            Some(RecordType::A) => 0,
            Some(RecordType::AAAA) => 1,
            Some(RecordType::PTR) => 2,
            Some(RecordType::SRV) => 3,
            _ => 4,
        };
        self.counts[row][result as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Every non-zero counter as (type, result, count).
    pub fn snapshot(&self) -> Vec<(&'static str, &'static str, u64)> {
        let mut out = Vec::new();
        for (row, qtype) in TYPES.iter().enumerate() {
            for (column, result) in RESULTS.iter().enumerate() {
                let value = self.counts[row][column].load(Ordering::Relaxed);
                if value > 0 {
                    out.push((*qtype, *result, value));
                }
            }
        }
        out
    }
}
