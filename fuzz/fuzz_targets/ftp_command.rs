//! cargo-fuzz target: `pycom_sim_fuzz::ftp_command` (the corpus replay test calls the same function).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = pycom_sim_fuzz::ftp_command(data);
});
