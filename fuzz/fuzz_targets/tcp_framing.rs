//! cargo-fuzz target `tcp_framing`: see [`netagent_fuzz::tcp_framing`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netagent_fuzz::tcp_framing(data));
