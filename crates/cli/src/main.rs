//! The `hookledger` binary: parses the command line and calls into the `cli` library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    cli::run(args)
}
