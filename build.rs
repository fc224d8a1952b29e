//! Links the `pycom-sim` binary as a position-dependent executable. As a PIE its 57 000
//! relocations (RustPython's tables of types and methods) were applied at every start, each
//! page of them copied on write: a third of the page faults of `pycom-sim --version`, paid by
//! every scenario run, test and host tool that starts the simulator.
fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
