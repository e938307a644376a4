//! Entry point; the commands are added as the library crates land.
#![forbid(unsafe_code)]

fn main() {
    println!("{} {}", env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"));
}
