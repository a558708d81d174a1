//! The observer `kubesim run` hands the runner: it writes the event log (`--trace`) and
//! keeps the records the narration is made of.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;

use reports::eventlog::{EventLogWriter, Footer, Header, RecordLine};
use scenarios::{Observer, Scenario};
use sim_core::{LoggedEvent, Record, SimDuration};

pub struct RunObserver {
    log: Option<EventLogWriter<BufWriter<File>>>,
    /// The first write error, reported once the run ends.
    log_error: Option<io::Error>,
    /// Records for the narration, when it is printed.
    pub records: Option<Vec<RecordLine>>,
}

impl RunObserver {
    pub fn new(keep_records: bool) -> RunObserver {
        RunObserver {
            log: None,
            log_error: None,
            records: keep_records.then(Vec::new),
        }
    }

    /// Starts the event log at `path`, with a header that lets replay run it again.
    pub fn write_log(
        &mut self,
        path: &Path,
        scenario: &Scenario,
        seed: u64,
        until: Option<SimDuration>,
    ) -> io::Result<()> {
        let file = File::create(path)?;
        let header = Header {
            kubesim_version: env!("CARGO_PKG_VERSION").to_string(),
            format_version: reports::eventlog::FORMAT_VERSION,
            scenario: scenario.name.clone(),
            scenario_file: scenario.source.file.clone(),
            scenario_source: scenario.source.text.clone(),
            included_files: scenario.source.files.clone(),
            seed,
            until_ns: until.map(SimDuration::as_nanos),
        };
        self.log = Some(EventLogWriter::new(BufWriter::new(file), &header)?);
        Ok(())
    }

    /// Ends the event log, if one is being written; returns the first write error.
    pub fn finish(&mut self, footer: &Footer) -> io::Result<()> {
        if let Some(error) = self.log_error.take() {
            return Err(error);
        }
        match self.log.take() {
            Some(log) => log.finish(footer).map(drop),
            None => Ok(()),
        }
    }
}

impl Observer for RunObserver {
    fn wants_events(&self) -> bool {
        self.log.is_some()
    }

    fn observe(&mut self, events: &[LoggedEvent], records: &[Record], names: &[String]) {
        if let Some(log) = &mut self.log
            && self.log_error.is_none()
            && let Err(error) = log.events_with_records(events, records, names)
        {
            self.log_error = Some(error);
        }
        if let Some(kept) = &mut self.records {
            kept.extend(records.iter().map(|r| RecordLine::from_record(r, names)));
        }
    }
}
