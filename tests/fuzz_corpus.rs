//! The fuzz targets on stable (issue #14): each target's body
//! (`fuzz/src/lib.rs`, shared with the cargo-fuzz binaries, which need
//! nightly) run over its committed corpus (`fuzz/corpus/TARGET/`), then
//! over a bounded number of random inputs and of mutations of the corpus
//! (bytes flipped, inserted, removed, chunks repeated, entries spliced).
//! Seeded, so a failure repeats; `FUZZ_SEED` picks another seed and
//! `FUZZ_ROUNDS` another number of rounds.

use std::path::PathBuf;

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod bodies;

/// Random plus mutated inputs per target, unless `FUZZ_ROUNDS` says.
const ROUNDS: usize = 3000;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    let seeds: Vec<Vec<u8>> = entries.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(!seeds.is_empty(), "{target}: an empty corpus");
    seeds
}

/// One mutation of `input`, sometimes spliced with `other`.
fn mutate(rng: &mut fastrand::Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.usize(1..=4) {
        let at = rng.usize(..=out.len());
        match rng.u8(..6) {
            0 if !out.is_empty() => {
                let i = rng.usize(..out.len());
                out[i] ^= 1 << rng.u8(..8);
            }
            1 => out.insert(at, rng.u8(..)),
            2 => out.truncate(at),
            3 if at < out.len() => {
                let end = rng.usize(at..=out.len());
                out.drain(at..end);
            }
            4 => {
                let end = rng.usize(at..=out.len());
                let chunk = out[at..end].to_vec();
                out.splice(at..at, chunk);
            }
            _ => {
                let from = rng.usize(..=other.len());
                out.truncate(at);
                out.extend_from_slice(&other[from..]);
            }
        }
    }
    out
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `body` over the corpus of `target`, then `rounds` random and
/// mutated inputs.
fn run(target: &str, rounds: usize, body: fn(&[u8])) {
    let seeds = corpus(target);
    for seed in &seeds {
        body(seed);
    }
    let seed = env_number("FUZZ_SEED", 14);
    let rounds = env_number("FUZZ_ROUNDS", rounds as u64) as usize;
    let mut rng = fastrand::Rng::with_seed(seed);
    for round in 0..rounds {
        let input = if round % 4 == 0 {
            let len = rng.usize(..600);
            (0..len).map(|_| rng.u8(..)).collect()
        } else {
            let base = &seeds[rng.usize(..seeds.len())];
            let other = &seeds[rng.usize(..seeds.len())];
            mutate(&mut rng, base, other)
        };
        let outcome = std::panic::catch_unwind(|| body(&input));
        assert!(
            outcome.is_ok(),
            "{target}, FUZZ_SEED={seed}, round {round}: input {input:02x?}"
        );
    }
}

#[test]
fn fuzz_message() {
    run("message", ROUNDS, bodies::message);
}

#[test]
fn fuzz_upstream_reply() {
    run("upstream_reply", ROUNDS, bodies::upstream_reply);
}

#[test]
fn fuzz_tcp_framing() {
    // A connection per input (two, with the check): fewer rounds.
    run("tcp_framing", ROUNDS / 10, bodies::tcp_framing);
}

#[test]
fn fuzz_resolv_conf() {
    run("resolv_conf", ROUNDS, bodies::resolv_conf);
}

#[test]
fn fuzz_config() {
    run("config", ROUNDS, bodies::config);
}

#[test]
fn fuzz_cni_conf() {
    run("cni_conf", ROUNDS, bodies::cni_conf);
}

#[test]
fn fuzz_hook_state() {
    run("hook_state", ROUNDS, bodies::hook_state);
}
