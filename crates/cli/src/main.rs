//! The `hookledger` binary: parses the command line and calls into the `cli` library.

use clap::Parser;

/// mimalloc for Rust and, through its `override` feature, for the bundled SQLite's own
/// allocations too: glibc's allocator cost the writer a quarter of its time
/// (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    match cli::Cli::try_parse() {
        Ok(args) => cli::run(args),
        Err(error) => cli::usage_error(error),
    }
}
