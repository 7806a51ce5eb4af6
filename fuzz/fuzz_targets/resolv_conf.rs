//! cargo-fuzz target `resolv_conf`: see [`netagent_fuzz::resolv_conf`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netagent_fuzz::resolv_conf(data));
