//! The numbers an off-path spoofer would have to guess to forge an
//! upstream answer: the id of every forwarded question and the pool socket
//! it leaves from (RFC 5452 section 9). They come from the kernel's
//! cryptographically secure generator (getrandom(2)), not from a fast
//! generator whose state a stream of outputs can give away (fastrand's
//! documentation says it is not secure).
//!
//! A system call per question would cost more than the rest of choosing a
//! server, so each thread draws 512 bytes at a time and hands them out;
//! the bytes never leave the process and are used once.
//!
//! The odds: a forged datagram is taken only if it comes from the server's
//! address and port, reaches the socket the question left from, and
//! carries its id and question (`forward::pool`). With the 16-bit id and
//! one of the pool's 16 sockets (each on a port the kernel picked at
//! random from 28,232: Linux's 32768-60999), a spoofer who knows the
//! question but not the ports hits with one datagram in about 1.8 billion
//! (65,536 x 28,232); one who somehow learnt all 16 ports, one in about a
//! million (65,536 x 16).

use std::cell::RefCell;

/// How many bytes a thread draws from the kernel at a time.
const DRAW: usize = 512;

struct Drawn {
    bytes: [u8; DRAW],
    used: usize,
}

thread_local! {
    static DRAWN: RefCell<Drawn> = const {
        RefCell::new(Drawn { bytes: [0; DRAW], used: DRAW })
    };
}

/// `N` unpredictable bytes.
fn take<const N: usize>() -> [u8; N] {
    DRAWN.with(|drawn| {
        let mut drawn = drawn.borrow_mut();
        if drawn.used + N > DRAW {
            // getrandom(2) on the kernel's pool does not fail once the
            // system has booted; if it ever does, nothing here is safe to
            // send.
            if let Err(err) = getrandom::fill(&mut drawn.bytes) {
                panic!("the kernel's random source failed: {err}");
            }
            drawn.used = 0;
        }
        let start = drawn.used;
        drawn.used += N;
        let mut out = [0; N];
        out.copy_from_slice(&drawn.bytes[start..start + N]);
        // Used once: not left where a later take could repeat it.
        drawn.bytes[start..start + N].fill(0);
        out
    })
}

/// An unpredictable 16-bit number (a forwarded question's id).
pub fn u16() -> u16 {
    u16::from_ne_bytes(take())
}

/// An unpredictable 32-bit number (which pool socket a batch uses).
pub fn u32() -> u32 {
    u32::from_ne_bytes(take())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_again_when_the_bytes_run_out_and_never_repeats_a_run() {
        // More than one draw's worth: 2,000 ids cross several refills.
        let ids: Vec<u16> = (0..2_000).map(|_| u16()).collect();
        let distinct: std::collections::BTreeSet<_> = ids.iter().collect();
        // 2,000 draws from 65,536 values: about 30 collisions expected;
        // a stuck or zeroed buffer would give a handful of values.
        assert!(distinct.len() > 1_900, "{} distinct", distinct.len());
        assert!(ids.windows(8).all(|w| w.iter().any(|&v| v != w[0])));
    }
}
