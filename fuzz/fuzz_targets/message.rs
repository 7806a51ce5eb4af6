//! cargo-fuzz target `message`: see [`netagent_fuzz::message`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netagent_fuzz::message(data));
