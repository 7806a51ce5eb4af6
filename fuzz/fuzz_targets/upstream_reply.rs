//! cargo-fuzz target `upstream_reply`: see [`netagent_fuzz::upstream_reply`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netagent_fuzz::upstream_reply(data));
