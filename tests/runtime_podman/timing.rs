//! How long a new container's name takes to answer from a peer, counted
//! from the start of `podman run -d`: a thread of the test process inside
//! the peer's network namespace asks 127.0.0.11 every 10 ms (spawning a
//! `dig` per try would compete with podman for the two cores).

use std::fs::File;
use std::net::{Ipv4Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use nix::sched::CloneFlags;

use crate::harness::host::{OutputExt, TestHost};
use crate::harness::runtimes::checked;
use crate::harness::runtimes::podman::Podman;

use super::support::*;

/// A path of the private host's mount namespace as the test process can
/// open it: through the holder's root, which gives "the same view of the
/// filesystem (including namespaces and the set of per-process mounts) as
/// the process itself" (proc(5)).
pub(super) fn from_outside(host: &TestHost, path: &Path) -> PathBuf {
    let inside = path.strip_prefix("/").expect("an absolute path");
    PathBuf::from(format!("/proc/{}/root", host.pid())).join(inside)
}

/// Asks 127.0.0.11 for `name.`'s A records from inside the network
/// namespace at `netns` (a path the test process can open), as any process
/// in there would, every 10 ms until an answer has addresses or `limit`
/// passes. In-process and on a thread of its own (setns moves one thread
/// only), so that polling costs next to no CPU while a runtime starts a
/// container on the same two cores. Returns the addresses and when they
/// came.
pub(super) fn ask_until_answered(
    netns: PathBuf,
    name: String,
    limit: Duration,
) -> JoinHandle<Option<(Vec<Ipv4Addr>, Instant)>> {
    std::thread::spawn(move || {
        let file = File::open(&netns).unwrap_or_else(|e| panic!("open {}: {e}", netns.display()));
        nix::sched::setns(&file, CloneFlags::CLONE_NEWNET).expect("setns into the peer");
        let socket = UdpSocket::bind("0.0.0.0:0").expect("a socket in the peer");
        socket
            .set_read_timeout(Some(Duration::from_millis(10)))
            .unwrap();
        let question = Name::from_ascii(format!("{name}.")).expect("a DNS name");
        let deadline = Instant::now() + limit;
        let mut id = 0u16;
        let mut buffer = [0u8; 1500];
        while Instant::now() < deadline {
            id = id.wrapping_add(1);
            let mut query = Message::query();
            query.metadata.id = id;
            query.metadata.recursion_desired = true;
            query.add_query(Query::query(question.clone(), RecordType::A));
            let sent = Instant::now();
            // Nothing listens before the resolver is injected: the send
            // may fail or the answer never come; both mean "not yet".
            let _ = socket.send_to(&query.to_vec().unwrap(), "127.0.0.11:53");
            while let Ok(len) = socket.recv(&mut buffer) {
                let Ok(reply) = Message::from_vec(&buffer[..len]) else {
                    continue;
                };
                if reply.metadata.id != id {
                    continue;
                }
                let addresses: Vec<Ipv4Addr> = reply
                    .answers
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::A(a) => Some(a.0),
                        _ => None,
                    })
                    .collect();
                if !addresses.is_empty() {
                    return Some((addresses, Instant::now()));
                }
                break;
            }
            if let Some(rest) = Duration::from_millis(10).checked_sub(sent.elapsed()) {
                std::thread::sleep(rest);
            }
        }
        None
    })
}

/// What one timed start measured.
pub(super) struct Timing {
    /// From the start of `podman run -d` until the name answered.
    named: Duration,
    /// From the start of `podman run -d` until it returned.
    returned: Duration,
}

/// Starts `podman run -d --name NAME OPTIONS IMAGE sleep 600` while asking
/// for NAME from the peer namespace `peer` (see [`ask_until_answered`]);
/// checks that the answer is the address `address_of(NAME)` reports, then
/// removes the container.
pub(super) fn time_name(
    podman: &Podman,
    peer: &Path,
    name: &str,
    options: &[String],
    address_of: &dyn Fn(&str) -> String,
) -> Timing {
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let start = Instant::now();
    let asking = ask_until_answered(peer.to_owned(), name.to_owned(), NAME_LIMIT);
    let mut run = podman.run_detached_command(name, &options, &["sleep", "600"]);
    let out = run.output().expect("run podman");
    let returned = start.elapsed();
    out.assert_ok(&format!("podman run -d --name {name} {options:?}"));
    let (addresses, when) = asking
        .join()
        .expect("the asking thread")
        .unwrap_or_else(|| panic!("{name} did not answer within {NAME_LIMIT:?}"));
    let expected: Ipv4Addr = address_of(name).parse().expect("an IPv4 address");
    assert_eq!(addresses, [expected], "{name} answers with its address");
    checked(podman.podman(&["rm", "-f", "-t0", name]), "podman rm");
    Timing {
        named: when - start,
        returned,
    }
}

/// Runs [`time_name`] [`TIMED_RUNS`] times (containers `timed0`, ...,
/// started with `options_for(NAME)`) and prints the medians.
pub(super) fn report_timing(
    mode: &str,
    podman: &Podman,
    peer: &Path,
    options_for: &dyn Fn(&str) -> Vec<String>,
    address_of: &dyn Fn(&str) -> String,
) {
    let runs: Vec<Timing> = (0..TIMED_RUNS)
        .map(|i| {
            let name = format!("timed{i}");
            time_name(podman, peer, &name, &options_for(&name), address_of)
        })
        .collect();
    let mut named: Vec<Duration> = runs.iter().map(|t| t.named).collect();
    let mut returned: Vec<Duration> = runs.iter().map(|t| t.returned).collect();
    named.sort();
    returned.sort();
    let ms = |d: &Duration| format!("{:.0}", d.as_secs_f64() * 1000.0);
    eprintln!(
        "timing ({mode}, {TIMED_RUNS} runs): podman run -d start -> name answers from a peer: \
         median {} ms (all {:?} ms); podman run -d returned after: median {} ms",
        ms(&named[TIMED_RUNS / 2]),
        named.iter().map(ms).collect::<Vec<_>>(),
        ms(&returned[TIMED_RUNS / 2]),
    );
}

/// Times new containers on the CNI network `network` as seen from the
/// container `client`, then removes every container and checks that no
/// sandbox of netagent's is left.
pub(super) fn time_then_remove(host: &TestHost, podman: &Podman, label: &str, network: &str) {
    let peer = from_outside(host, Path::new(&netns_of(podman, "client")));
    report_timing(
        label,
        podman,
        &peer,
        &|_| vec!["--network".into(), network.into()],
        &|name| podman.ip(name, network),
    );
    podman.remove_all();
    assert_no_sandbox_left(host);
}
