//! The event log: the one versioned, serialized format that reports, replay and external
//! tools read. JSON Lines, UTF-8, one JSON object per line.
//!
//! # Format, version 1
//!
//! Line 1, the **header**:
//!
//! ```json
//! {"kubesim_version": "0.1.0", "format_version": 1, "scenario": "deploy",
//!  "scenario_file": "library/deploy.yaml", "scenario_source": "<the whole scenario text>",
//!  "included_files": {"web.yaml": "<text>"}, "seed": 1, "until_ns": null}
//! ```
//!
//! `scenario_source` and `included_files` (the files the scenario names with `path:`)
//! hold everything needed to run the scenario again: `kubesim replay` needs nothing else.
//! `until_ns` is the `--until` bound in nanoseconds, or null.
//!
//! Then, in processing order, one **event** line per processed event:
//!
//! ```json
//! {"t": 1500000, "seq": 42, "kind": "message", "actor": "kube-apiserver",
//!  "from": "kubectl", "label": "ApiRequest", "digest": "9f1c04e2a7d35b60"}
//! ```
//!
//! `t` is simulated time in nanoseconds; `seq` the event's queue sequence number (events
//! at one instant run in `seq` order); `kind` one of `start`, `message`, `timer`,
//! `dropped` (a delivery to a host that crashed or restarted since it was sent), `fault`;
//! `actor` the receiving actor (null for a fault); `from` the sender of a message (null
//! otherwise); `label` the message's kind; `digest` the event's own 64-bit digest, 16
//! lower-case hex digits. The run's trace hash folds these digests in order.
//!
//! Each event line may be followed by the **records** its actor made while handling it
//! (present when records were on, which they are whenever a log is written):
//!
//! ```json
//! {"t": 1500000, "seq": 42, "record": "step", "actor": "kube-scheduler",
//!  "detail": "pod default/nginx-...: bound to node-2"}
//! ```
//!
//! `record` is `step` (the narrated textbook flow) or `detail`.
//!
//! The last line, the **footer**:
//!
//! ```json
//! {"trace_hash": "0c9d5e...", "events": 12345, "outcome": "completed"}
//! ```
//!
//! A reader tells lines apart by their keys: `format_version` (header), `record`
//! (record), `trace_hash` (footer), otherwise an event. Readers must ignore keys they do
//! not know; a change that breaks them bumps `format_version`.

use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};

use serde::{Deserialize, Serialize};
use sim_core::{LoggedEvent, Record};
use thiserror::Error;

/// The version this module writes and reads.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub kubesim_version: String,
    pub format_version: u32,
    pub scenario: String,
    #[serde(default)]
    pub scenario_file: String,
    pub scenario_source: String,
    #[serde(default)]
    pub included_files: BTreeMap<String, String>,
    pub seed: u64,
    #[serde(default)]
    pub until_ns: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLine {
    pub t: u64,
    pub seq: u64,
    pub kind: String,
    pub actor: Option<String>,
    pub from: Option<String>,
    pub label: String,
    pub digest: String,
}

impl EventLine {
    /// The line for an event the engine processed; `names` names actors by id.
    pub fn from_logged(event: &LoggedEvent, names: &[String]) -> EventLine {
        let name = |id: sim_core::ActorId| {
            names
                .get(id.index())
                .cloned()
                .unwrap_or_else(|| format!("actor#{}", id.0))
        };
        EventLine {
            t: event.time.as_nanos(),
            seq: event.seq,
            kind: event.kind.name().to_string(),
            actor: event.actor.map(name),
            from: event.from.map(name),
            label: event.label.to_string(),
            digest: hex(event.digest),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordLine {
    pub t: u64,
    pub seq: u64,
    /// `step` or `detail`.
    pub record: String,
    pub actor: String,
    pub detail: String,
}

impl RecordLine {
    pub fn from_record(record: &Record, names: &[String]) -> RecordLine {
        RecordLine {
            t: record.time.as_nanos(),
            seq: record.seq,
            record: record.kind.to_string(),
            actor: names
                .get(record.actor.index())
                .cloned()
                .unwrap_or_else(|| format!("actor#{}", record.actor.0)),
            detail: record.detail.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Footer {
    pub trace_hash: String,
    pub events: u64,
    #[serde(default)]
    pub outcome: String,
}

/// One line after the header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    Event(EventLine),
    Record(RecordLine),
    Footer(Footer),
}

/// 16 lower-case hex digits.
pub fn hex(value: u64) -> String {
    format!("{value:016x}")
}

#[derive(Debug, Error)]
pub enum LogError {
    #[error("{file}:{line}: {message}")]
    Malformed {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: io::Error,
    },
}

/// Writes an event log.
pub struct EventLogWriter<W: Write> {
    out: W,
}

impl<W: Write> EventLogWriter<W> {
    /// Starts a log with its header.
    pub fn new(mut out: W, header: &Header) -> io::Result<EventLogWriter<W>> {
        write_json_line(&mut out, header)?;
        Ok(EventLogWriter { out })
    }

    pub fn event(&mut self, line: &EventLine) -> io::Result<()> {
        write_json_line(&mut self.out, line)
    }

    pub fn record(&mut self, line: &RecordLine) -> io::Result<()> {
        write_json_line(&mut self.out, line)
    }

    /// Writes `events` with each one's `records` after it. Records carry the sequence
    /// number of the event being handled when they were made.
    pub fn events_with_records(
        &mut self,
        events: &[LoggedEvent],
        records: &[Record],
        names: &[String],
    ) -> io::Result<()> {
        let mut pending = records.iter().peekable();
        for event in events {
            // A record can only belong to an event written before or now.
            while let Some(record) = pending.next_if(|r| r.seq < event.seq) {
                self.record(&RecordLine::from_record(record, names))?;
            }
            self.event(&EventLine::from_logged(event, names))?;
            while let Some(record) = pending.next_if(|r| r.seq == event.seq) {
                self.record(&RecordLine::from_record(record, names))?;
            }
        }
        for record in pending {
            self.record(&RecordLine::from_record(record, names))?;
        }
        Ok(())
    }

    /// Ends the log with its footer and flushes it.
    pub fn finish(mut self, footer: &Footer) -> io::Result<W> {
        write_json_line(&mut self.out, footer)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

fn write_json_line<W: Write, T: Serialize>(out: &mut W, value: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

/// Reads an event log line by line.
pub struct EventLogReader<R: BufRead> {
    input: R,
    file: String,
    line_number: usize,
    buffer: String,
    pub header: Header,
}

impl<R: BufRead> EventLogReader<R> {
    /// Reads the header; `file` names the log in errors.
    pub fn new(mut input: R, file: &str) -> Result<EventLogReader<R>, LogError> {
        let mut buffer = String::new();
        let read = input
            .read_line(&mut buffer)
            .map_err(|source| LogError::Io {
                file: file.to_string(),
                source,
            })?;
        let malformed = |message: String| LogError::Malformed {
            file: file.to_string(),
            line: 1,
            message,
        };
        if read == 0 {
            return Err(malformed("empty file: not a kubesim event log".to_string()));
        }
        let header: Header = serde_json::from_str(buffer.trim_end())
            .map_err(|e| malformed(format!("not a kubesim event log header: {e}")))?;
        if header.format_version != FORMAT_VERSION {
            return Err(malformed(format!(
                "event log format version {} (this kubesim reads version {FORMAT_VERSION})",
                header.format_version
            )));
        }
        Ok(EventLogReader {
            input,
            file: file.to_string(),
            line_number: 1,
            buffer,
            header,
        })
    }

    /// The line number of the last line read.
    pub fn line_number(&self) -> usize {
        self.line_number
    }

    /// The next line, or `None` at the end of the file.
    pub fn next_line(&mut self) -> Result<Option<Line>, LogError> {
        self.buffer.clear();
        let read = self
            .input
            .read_line(&mut self.buffer)
            .map_err(|source| LogError::Io {
                file: self.file.clone(),
                source,
            })?;
        if read == 0 {
            return Ok(None);
        }
        self.line_number += 1;
        let malformed = |message: String| LogError::Malformed {
            file: self.file.clone(),
            line: self.line_number,
            message,
        };
        let value: serde_json::Value = serde_json::from_str(self.buffer.trim_end())
            .map_err(|e| malformed(format!("not JSON: {e}")))?;
        let line = if value.get("record").is_some() {
            Line::Record(
                serde_json::from_value(value)
                    .map_err(|e| malformed(format!("bad record line: {e}")))?,
            )
        } else if value.get("trace_hash").is_some() {
            Line::Footer(
                serde_json::from_value(value)
                    .map_err(|e| malformed(format!("bad footer line: {e}")))?,
            )
        } else {
            Line::Event(
                serde_json::from_value(value)
                    .map_err(|e| malformed(format!("bad event line: {e}")))?,
            )
        };
        Ok(Some(line))
    }

    /// The next event line, skipping records; `Ok(None)` at the footer or the end.
    pub fn next_event(&mut self) -> Result<Option<EventLine>, LogError> {
        loop {
            match self.next_line()? {
                Some(Line::Event(event)) => return Ok(Some(event)),
                Some(Line::Record(_)) => continue,
                Some(Line::Footer(_)) | None => return Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use sim_core::{ActorId, EventKind, SimTime};

    use super::*;

    fn header() -> Header {
        Header {
            kubesim_version: "0.1.0".to_string(),
            format_version: FORMAT_VERSION,
            scenario: "deploy".to_string(),
            scenario_file: "deploy.yaml".to_string(),
            scenario_source: "name: deploy\n".to_string(),
            included_files: BTreeMap::new(),
            seed: 7,
            until_ns: None,
        }
    }

    fn event(seq: u64, actor: u32) -> LoggedEvent {
        LoggedEvent {
            time: SimTime::from_nanos(1000 * seq),
            seq,
            kind: EventKind::Message,
            actor: Some(ActorId(actor)),
            from: Some(ActorId(0)),
            label: "ApiRequest",
            digest: 0xabc,
        }
    }

    fn record(seq: u64) -> Record {
        Record {
            time: SimTime::from_nanos(1000 * seq),
            seq,
            actor: ActorId(1),
            kind: "step",
            detail: format!("step {seq}"),
        }
    }

    #[test]
    fn round_trip_interleaves_records_after_their_event() {
        let names = vec!["kubectl".to_string(), "kube-apiserver".to_string()];
        let mut writer = EventLogWriter::new(Vec::new(), &header()).unwrap();
        writer
            .events_with_records(
                &[event(1, 1), event(2, 1), event(5, 0)],
                &[record(2), record(2), record(5)],
                &names,
            )
            .unwrap();
        let bytes = writer
            .finish(&Footer {
                trace_hash: hex(0xfeed),
                events: 3,
                outcome: "completed".to_string(),
            })
            .unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 8);
        assert_eq!(
            lines[1],
            r#"{"t":1000,"seq":1,"kind":"message","actor":"kube-apiserver","from":"kubectl","label":"ApiRequest","digest":"0000000000000abc"}"#
        );
        assert_eq!(
            lines[3],
            r#"{"t":2000,"seq":2,"record":"step","actor":"kube-apiserver","detail":"step 2"}"#
        );

        let mut reader = EventLogReader::new(text.as_bytes(), "t.jsonl").unwrap();
        assert_eq!(reader.header, header());
        let kinds: Vec<&str> = std::iter::from_fn(|| reader.next_line().unwrap())
            .map(|line| match line {
                Line::Event(_) => "event",
                Line::Record(_) => "record",
                Line::Footer(_) => "footer",
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "event", "event", "record", "record", "event", "record", "footer"
            ]
        );
    }

    #[test]
    fn malformed_lines_are_named() {
        let mut text = serde_json::to_string(&header()).unwrap();
        text.push_str("\n{not json\n");
        let mut reader = EventLogReader::new(text.as_bytes(), "t.jsonl").unwrap();
        let error = reader.next_line().unwrap_err().to_string();
        assert!(error.starts_with("t.jsonl:2: not JSON"), "{error}");
        assert!(EventLogReader::new("".as_bytes(), "e.jsonl").is_err());
        let mut future = header();
        future.format_version = 2;
        let text = serde_json::to_string(&future).unwrap();
        let error = EventLogReader::new(text.as_bytes(), "f.jsonl")
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("format version 2"), "{error}");
    }
}
