//! The linker scripts of the machine being built: esp-hal's `linkall.x` for the ESP32-C3;
//! riscv-rt's `link.x` with `qemu/memory.x` (the virt machine's RAM) for QEMU.

use std::env;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let esp32c3 = env::var_os("CARGO_FEATURE_ESP32C3").is_some();
    let qemu = env::var_os("CARGO_FEATURE_QEMU").is_some();
    println!("cargo:rerun-if-changed=qemu/memory.x");
    if esp32c3 && qemu {
        eprintln!(
            "pycom-firmware: build one machine at a time: --features esp32c3 OR --features qemu"
        );
        return ExitCode::FAILURE;
    }
    if esp32c3 {
        println!("cargo:rustc-link-arg-bins=-Tlinkall.x");
    }
    if qemu {
        let Some(out) = env::var_os("OUT_DIR").map(PathBuf::from) else {
            eprintln!("pycom-firmware: cargo did not set OUT_DIR");
            return ExitCode::FAILURE;
        };
        if let Err(e) = std::fs::copy("qemu/memory.x", out.join("memory.x")) {
            eprintln!("pycom-firmware: cannot copy qemu/memory.x: {e}");
            return ExitCode::FAILURE;
        }
        println!("cargo:rustc-link-search={}", out.display());
        println!("cargo:rustc-link-arg-bins=-Tlink.x");
    }
    ExitCode::SUCCESS
}
