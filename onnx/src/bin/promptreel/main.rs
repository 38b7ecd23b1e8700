//! `promptreel`: the command-line renderer.
//!
//! `promptreel generate` renders a clip into PNG frames plus an animated GIF preview;
//! `promptreel inspect` says what a model package holds and whether it is valid;
//! `promptreel devices` says which execution providers can run here;
//! `promptreel triton-repo` writes a Triton model repository for a package.

mod args;
mod devices;
mod generate;
mod inspect;
mod output;
mod triton_repo;

use std::process::ExitCode;

use clap::Parser;
use promptreel_engine::{Error, ErrorKind};

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let result = match cli.command {
        args::Command::Generate(a) => generate::run(*a),
        args::Command::Inspect(a) => inspect::run(a),
        args::Command::Devices(a) => devices::run(a),
        args::Command::TritonRepo(a) => triton_repo::run(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("promptreel: error: {e}");
            ExitCode::from(exit_code(&e))
        }
    }
}

/// Exit status per error kind, so scripts can tell a bad setting from a broken model.
fn exit_code(e: &Error) -> u8 {
    match e.kind() {
        ErrorKind::InvalidSetting => 2,
        ErrorKind::Package => 3,
        ErrorKind::Runtime | ErrorKind::Device => 4,
        ErrorKind::Inference => 5,
        ErrorKind::Io => 6,
        ErrorKind::Memory => 7,
        ErrorKind::Server => 8,
        ErrorKind::Cancelled => 130,
        _ => 1,
    }
}
