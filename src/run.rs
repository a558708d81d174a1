//! `kubesim run` and `kubesim scenarios`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use clap::{Args, ValueEnum};
use reports::eventlog::{Footer, hex};
use scenarios::duration::parse_duration;
use scenarios::{BUILT_INS, RunOptions};

use crate::output;
use crate::trace::RunObserver;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A scenario file, or the name of a built-in scenario (`kubesim scenarios`).
    pub scenario: String,
    /// The master seed; the scenario's own seed when absent.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output: the narrated timeline and a summary (text), or one JSON object (json).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the event log (JSON Lines) to FILE; `kubesim replay FILE` runs it again.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Stop after this much simulated time (e.g. 90s, 5m), before the scenario's end.
    #[arg(long, value_name = "DURATION")]
    pub until: Option<String>,
    /// Narrate detail records too, not only the textbook steps.
    #[arg(long, short)]
    pub verbose: bool,
    /// Also print the API requests the kube-apiservers answered, per verb, in windows
    /// of this much simulated time (e.g. 10s): counts, errors and list/watch latency.
    #[arg(long, value_name = "WINDOW")]
    pub requests: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub fn execute(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let scenario = scenarios::load(&args.scenario)?;
    let until = args
        .until
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(|why| anyhow!("--until: {why}"))?;
    let requests_window = args
        .requests
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(|why| anyhow!("--requests: {why}"))?;
    if requests_window.is_some_and(|w| w < sim_core::SimDuration::from_secs(1)) {
        return Err(anyhow!("--requests: the window is at least 1s"));
    }
    let seed = args.seed.unwrap_or(scenario.seed);
    let narrate = args.format == Format::Text;
    let options = RunOptions {
        seed,
        until,
        records: narrate || args.trace.is_some(),
    };
    let mut observer = RunObserver::new(narrate);
    if let Some(path) = &args.trace {
        observer
            .write_log(path, &scenario, seed, until)
            .with_context(|| format!("cannot write the event log {}", path.display()))?;
    }
    for note in &scenario.notes {
        eprintln!("note: {note}");
    }
    let (report, wall_time_s) =
        wall_clock(|| scenarios::run(&scenario, &options, Some(&mut observer)));
    observer
        .finish(&Footer {
            trace_hash: hex(report.trace_hash),
            events: report.events,
            outcome: report.outcome.name().to_string(),
        })
        .with_context(|| {
            let path = args
                .trace
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            format!("cannot write the event log {path}")
        })?;
    match args.format {
        Format::Text => {
            let records = observer.records.take().unwrap_or_default();
            print!(
                "{}",
                output::text(
                    &scenario,
                    &report,
                    &records,
                    args.verbose,
                    wall_time_s,
                    &args.scenario
                )
            );
        }
        Format::Json => println!("{}", output::json(&scenario, &report, wall_time_s)),
    }
    if let Some(window) = requests_window {
        print!("{}", output::requests_table(&report.requests, window));
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Runs `work`, and measures how long it took on the wall clock. The CLI reads the wall
/// clock only here, to report `wall_time_s`; nothing inside a simulation ever does.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
fn wall_clock<T>(work: impl FnOnce() -> T) -> (T, f64) {
    let start = std::time::Instant::now();
    let value = work();
    (value, start.elapsed().as_secs_f64())
}

pub fn list_scenarios() -> anyhow::Result<ExitCode> {
    let width = BUILT_INS.iter().map(|b| b.name.len()).max().unwrap_or(0);
    for built_in in BUILT_INS {
        let scenario = built_in.load()?;
        println!("{:<width$}  {}", built_in.name, scenario.description);
    }
    Ok(ExitCode::SUCCESS)
}
