//! `loadgen run …` and `loadgen baseline …`: see the crate docs and `bench/run.sh`.

use std::process::ExitCode;

use clap::Parser;
use loadgen::cli::{Cli, main as run_cli};

#[tokio::main]
async fn main() -> ExitCode {
    run_cli(Cli::parse()).await
}
