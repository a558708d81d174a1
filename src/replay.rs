//! `kubesim replay TRACE`: runs the scenario in the event log's header again with the
//! same seed and compares the run with the log event by event.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use reports::eventlog::{EventLine, EventLogReader, Line, LogError, hex};
use reports::narration::format_time;
use scenarios::{Includes, Observer, RunOptions};
use sim_core::{LoggedEvent, Record, SimDuration};

pub fn execute(trace: &Path) -> anyhow::Result<ExitCode> {
    let name = trace.display().to_string();
    let file = File::open(trace).with_context(|| format!("cannot open the event log {name}"))?;
    let reader = EventLogReader::new(BufReader::new(file), &name)?;
    let header = reader.header.clone();
    let version = env!("CARGO_PKG_VERSION");
    if header.kubesim_version != version {
        eprintln!(
            "warning: {name} was written by kubesim {}, this is {version}: the runs may differ",
            header.kubesim_version
        );
    }
    let scenario = scenarios::parse(
        &header.scenario_file,
        &header.scenario_source,
        &Includes::Embedded(header.included_files.clone()),
    )
    .with_context(|| format!("the scenario in {name}"))?;
    let options = RunOptions {
        seed: header.seed,
        until: header.until_ns.map(SimDuration::from_nanos),
        records: false,
    };
    let mut comparer = Comparer {
        reader,
        compared: 0,
        divergence: None,
        error: None,
    };
    let report = scenarios::run(&scenario, &options, Some(&mut comparer));
    if let Some(error) = comparer.error {
        return Err(error.into());
    }
    if comparer.divergence.is_none() {
        // The log must end here: a footer with this run's hash.
        loop {
            match comparer.reader.next_line()? {
                Some(Line::Record(_)) => continue,
                Some(Line::Event(extra)) => {
                    comparer.divergence = Some(format!(
                        "the replay ended after {} events, but the log goes on (line {}): {}",
                        comparer.compared,
                        comparer.reader.line_number(),
                        describe(&extra)
                    ));
                }
                Some(Line::Footer(footer)) => {
                    if footer.trace_hash != hex(report.trace_hash) || footer.events != report.events
                    {
                        comparer.divergence = Some(format!(
                            "every event matches, but the log's footer says trace hash {} over {} events, and the replay has {} over {}",
                            footer.trace_hash,
                            footer.events,
                            hex(report.trace_hash),
                            report.events
                        ));
                    }
                }
                None => {
                    comparer.divergence = Some(format!(
                        "the log has no footer: it was cut short after {} events",
                        comparer.compared
                    ));
                }
            }
            break;
        }
    }
    match comparer.divergence {
        None => {
            println!(
                "replay matches: {}  ({} events, seed {}, scenario {})",
                hex(report.trace_hash),
                report.events,
                header.seed,
                header.scenario
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(divergence) => {
            println!("replay diverged: {divergence}");
            Ok(ExitCode::from(1))
        }
    }
}

/// Compares the replay's events with the log's, as they are produced.
struct Comparer {
    reader: EventLogReader<BufReader<File>>,
    compared: u64,
    divergence: Option<String>,
    /// A malformed log: bad input, not a divergence.
    error: Option<LogError>,
}

impl Observer for Comparer {
    fn wants_events(&self) -> bool {
        true
    }

    fn observe(&mut self, events: &[LoggedEvent], _records: &[Record], names: &[String]) {
        for event in events {
            if self.divergence.is_some() || self.error.is_some() {
                return;
            }
            let actual = EventLine::from_logged(event, names);
            match self.reader.next_event() {
                Err(error) => self.error = Some(error),
                Ok(None) => {
                    self.divergence = Some(format!(
                        "the log ends after {} events, but the replay goes on: {}",
                        self.compared,
                        describe(&actual)
                    ));
                }
                Ok(Some(expected)) if expected != actual => {
                    self.divergence = Some(format!(
                        "first diverging event is #{} (line {} of the log)\n  expected: {}\n  actual:   {}",
                        self.compared + 1,
                        self.reader.line_number(),
                        describe(&expected),
                        describe(&actual)
                    ));
                }
                Ok(Some(_)) => self.compared += 1,
            }
        }
    }
}

/// `at 12.345s seq 678: message to kubelet/node-1 from kube-apiserver, WatchEvent, digest 0123…`
fn describe(event: &EventLine) -> String {
    let mut text = format!(
        "at {} seq {}: {} to {}",
        format_time(event.t),
        event.seq,
        event.kind,
        event.actor.as_deref().unwrap_or("-")
    );
    if let Some(from) = &event.from {
        text.push_str(&format!(" from {from}"));
    }
    text.push_str(&format!(", label {}, digest {}", event.label, event.digest));
    text
}
