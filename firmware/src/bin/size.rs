#![no_std]
#![no_main]
#[riscv_rt::entry]
fn main() -> ! {
    loop {}
}
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
