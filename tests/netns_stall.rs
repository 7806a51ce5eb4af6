//! Namespace tier: the agent's work does not hold up answers (issue #14).
//! Removing a sandbox deletes veths (the kernel waits out RCU grace
//! periods in the `RTM_DELLINK` call), unpins a namespace, fsyncs a
//! record: milliseconds of blocking system calls each. When those ran on
//! the thread that serves DNS, local answers stalled up to 35 ms.
//!
//! A client inside a sandbox asks 127.0.0.11 for a peer without pause
//! while 20 other sandboxes are removed by one `rm`, and times each
//! answer. The bound (20 ms) is generous, and the two worst answers are
//! let off it: on a shared two-core machine (load 4-7 from other builds)
//! the scheduler alone held an answer up to 20 ms with no removal at all,
//! while with the agent's work on the answering thread a dozen answers
//! of each run waited 20-80 ms, one per removal. The measured numbers
//! are printed (`--nocapture`).

use std::fs::File;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};

use crate::harness::host::{OutputExt, TestHost};

/// The worst answer latency allowed while the agent removes sandboxes.
const BOUND: Duration = Duration::from_millis(20);

/// A query for `name` A, class IN, with id `id`.
fn query(id: u16, name: &str) -> Vec<u8> {
    let mut bytes = id.to_be_bytes().to_vec();
    bytes.extend([0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        bytes.push(label.len() as u8);
        bytes.extend(label.as_bytes());
    }
    bytes.extend([0, 0, 1, 0, 1]);
    bytes
}

/// Asks `name` inside the namespace `netns` until `stop`; the latency of
/// each answer, and how many answers were wrong (not NOERROR with one
/// address: `name` never goes). A lost answer counts as the 2 s it was
/// waited for, and as wrong.
fn ask_until(
    netns: File,
    name: &str,
    stop: &AtomicBool,
    asked: &AtomicUsize,
) -> (Vec<Duration>, usize) {
    setns(&netns, CloneFlags::CLONE_NEWNET).expect("enter the client's namespace");
    drop(netns);
    let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
    socket.connect("127.0.0.11:53").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut latencies = Vec::new();
    let mut buf = [0u8; 512];
    let mut id: u16 = 0;
    let mut wrong = 0;
    while !stop.load(Ordering::Relaxed) {
        id = id.wrapping_add(1);
        let sent = Instant::now();
        socket.send(&query(id, name)).unwrap();
        let answered = loop {
            match socket.recv(&mut buf) {
                Ok(n) if n >= 12 && buf[..2] == id.to_be_bytes() => break Some(n),
                Ok(_) => continue,
                Err(_) => break None,
            }
        };
        latencies.push(sent.elapsed());
        // RCODE in the low bits of byte 3, ANCOUNT in bytes 6-7.
        let right = answered.is_some() && buf[3] & 0x0f == 0 && buf[6..8] == [0, 1];
        wrong += usize::from(!right);
        asked.fetch_add(1, Ordering::Relaxed);
    }
    (latencies, wrong)
}

#[test]
fn answers_do_not_wait_while_sandboxes_are_removed() {
    let host = TestHost::new();
    host.cli(&["network", "create", "app"])
        .assert_ok("network create");
    let names: Vec<String> = (0..20).map(|i| format!("gone{i}")).collect();
    for name in ["client", "stay"]
        .into_iter()
        .chain(names.iter().map(String::as_str))
    {
        host.cli(&["run", "--name", name, "--network", "app"])
            .assert_ok("run");
    }
    // The pin lives in the private host's mount namespace: reached
    // through its holder's root.
    let pin = format!(
        "/proc/{}/root{}",
        host.pid(),
        host.netns_path("client").display()
    );
    let netns = File::open(&pin).expect("the client's namespace");
    let stop = Arc::new(AtomicBool::new(false));
    let asked = Arc::new(AtomicUsize::new(0));
    let asker = {
        let (stop, asked) = (Arc::clone(&stop), Arc::clone(&asked));
        std::thread::spawn(move || ask_until(netns, "stay", &stop, &asked))
    };
    // The client asks before the first removal starts.
    while asked.load(Ordering::Relaxed) < 10 {
        assert!(!asker.is_finished(), "the asking thread ended");
        std::thread::sleep(Duration::from_millis(1));
    }
    // One CLI process for all 20: a burst of processes would compete
    // for the two cores with the client and blur what is measured.
    let mut rm = vec!["rm"];
    rm.extend(names.iter().map(String::as_str));
    host.cli(&rm).assert_ok("rm the 20");
    stop.store(true, Ordering::Relaxed);
    let (mut latencies, wrong) = asker.join().expect("the asking thread");
    assert_eq!(wrong, 0, "every answer during the churn is right");
    latencies.sort();
    let max = *latencies.last().expect("answers");
    let p99 = latencies[latencies.len() * 99 / 100];
    let over = |ms: u64| {
        latencies
            .iter()
            .filter(|l| **l > Duration::from_millis(ms))
            .count()
    };
    eprintln!(
        "answers during 20 removals: {} asked, p50 {:?}, p99 {p99:?}, max {max:?}; over 2/5/10/20 ms: {}/{}/{}/{}",
        latencies.len(),
        latencies[latencies.len() / 2],
        over(2), over(5), over(10), over(20)
    );
    let worst_but_two = latencies[latencies.len().saturating_sub(3)];
    assert!(
        worst_but_two < BOUND,
        "answers waited up to {max:?} ({} over {BOUND:?}, p99 {p99:?}) while sandboxes were removed",
        over(20)
    );
    host.assert_clean_after_removal();
}
