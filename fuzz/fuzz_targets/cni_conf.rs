//! cargo-fuzz target `cni_conf`: see [`netagent_fuzz::cni_conf`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netagent_fuzz::cni_conf(data));
