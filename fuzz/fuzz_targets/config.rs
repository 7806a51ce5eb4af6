//! cargo-fuzz target `config`: see [`netagent_fuzz::config`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netagent_fuzz::config(data));
