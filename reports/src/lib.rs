//! reports: reads what a run left behind — trace records and the event log — and never
//! the live simulation.
//!
//! Module map:
//! - [`eventlog`]: the event log, kubesim's one versioned serialized format (JSON Lines:
//!   header, events with their records, footer): its types, writer and reader. The format
//!   is documented there.
//! - [`narration`]: the narrated timeline the CLI prints, from records.

pub mod eventlog;
pub mod narration;
