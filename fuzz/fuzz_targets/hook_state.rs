//! cargo-fuzz target `hook_state`: see [`netagent_fuzz::hook_state`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netagent_fuzz::hook_state(data));
