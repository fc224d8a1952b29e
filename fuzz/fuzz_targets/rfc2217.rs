//! cargo-fuzz target: `pycom_sim_fuzz::rfc2217` (the corpus replay test calls the same function).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = pycom_sim_fuzz::rfc2217(data);
});
