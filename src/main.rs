//! The `genesis` command: parses arguments and hands them on.

use std::process::ExitCode;

fn main() -> ExitCode {
    genesis::cli::run()
}
