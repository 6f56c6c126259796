//! The `symship` binary.
fn main() {
    std::process::exit(0);
}
