//! kubesim, the command line: thin over clap; the work is done in the modules.
//!
//! - `kubesim run SCENARIO [--seed N] [--format text|json] [--trace FILE] [--until D] [--verbose]`
//! - `kubesim scenarios`
//! - `kubesim replay TRACE`
//! - `kubesim schedule FILE [--config KUBE_SCHEDULER_CONFIG] [--format text|json] [--seed N]`
//!
//! Exit codes: 0 success; 1 an expectation or invariant failed, the run hit its event
//! bound, or a replay diverged; 2 bad input (arguments, scenario, manifests, trace file).

mod allocator;
mod output;
mod replay;
mod run;
mod schedule;
mod trace;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A simulation allocates and frees millions of small objects; mimalloc does that several
/// times faster than the system allocator (see `allocator` for how it is entered).
/// Allocation never affects what a run does.
#[global_allocator]
static ALLOCATOR: allocator::Allocator = allocator::Allocator;

#[derive(Debug, Parser)]
#[command(
    name = "kubesim",
    version,
    about = "A deterministic discrete-event simulator of a whole Kubernetes cluster"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario (a file, or the name of a built-in scenario) and check its expectations.
    Run(run::RunArgs),
    /// List the built-in scenarios.
    Scenarios,
    /// Run again the run an event log came from, and compare it event by event.
    Replay {
        /// An event log written by `kubesim run --trace`.
        trace: PathBuf,
    },
    /// Explain where kube-scheduler places each pending pod of a manifest file, plugin by
    /// plugin and node by node.
    Schedule(schedule::ScheduleArgs),
}

/// Exit code for bad input.
const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    // Usage errors exit with 2 (clap's convention, and ours).
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::execute(&args),
        Command::Scenarios => run::list_scenarios(),
        Command::Replay { trace } => replay::execute(&trace),
        Command::Schedule(args) => schedule::execute(&args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}
