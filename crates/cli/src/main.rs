//! The `hookledger` binary: parses the command line and calls into the `cli` library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    match cli::Cli::try_parse() {
        Ok(args) => cli::run(args),
        Err(error) => cli::usage_error(error),
    }
}
