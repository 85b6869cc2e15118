//! The `rill` binary; everything lives in the library's `cli` module.

fn main() {
    if let Err(error) = rill_host::cli::main() {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}
