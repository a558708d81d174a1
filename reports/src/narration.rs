//! The narrated timeline: records as a student reads them.
//!
//! ```text
//!    0.000s  kubectl                  kubectl apply: deployment/default/nginx-deployment
//!    1.234s  kube-scheduler           pod default/nginx-deployment-7c5ddbdf54-x2lqp: bound to node-2
//! ```
//!
//! Step records form the textbook flow; with `verbose`, detail records are shown too,
//! marked with `·`.

use sim_core::SimTime;

use crate::eventlog::RecordLine;

/// The narration of `lines` (in time order), one line each, ending with a newline.
pub fn narrate(lines: &[RecordLine], verbose: bool) -> String {
    let shown: Vec<&RecordLine> = lines
        .iter()
        .filter(|line| verbose || line.record == "step")
        .collect();
    let time_width = shown
        .iter()
        .map(|line| format_time(line.t).len())
        .max()
        .unwrap_or(0);
    let actor_width = shown
        .iter()
        .map(|line| line.actor.chars().count())
        .max()
        .unwrap_or(0)
        .max(18);
    let mut out = String::new();
    for line in shown {
        let marker = if line.record == "step" { "" } else { "· " };
        out.push_str(&format!(
            "  {:>time_width$}  {:<actor_width$}  {marker}{}\n",
            format_time(line.t),
            line.actor,
            line.detail
        ));
    }
    out
}

/// Seconds with milliseconds: `12.345s`.
pub fn format_time(nanos: u64) -> String {
    SimTime::from_nanos(nanos).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(t_ms: u64, record: &str, actor: &str, detail: &str) -> RecordLine {
        RecordLine {
            t: t_ms * 1_000_000,
            seq: t_ms,
            record: record.to_string(),
            actor: actor.to_string(),
            detail: detail.to_string(),
        }
    }

    #[test]
    fn steps_align_and_details_show_only_when_verbose() {
        let lines = vec![
            line(
                0,
                "step",
                "kubectl",
                "kubectl apply: deployment/default/web",
            ),
            line(
                12_345,
                "step",
                "kube-scheduler",
                "pod default/web-1: bound to node-2",
            ),
            line(12_346, "detail", "kube-apiserver", "bind pods/web-1"),
        ];
        assert_eq!(
            narrate(&lines, false),
            "   0.000s  kubectl             kubectl apply: deployment/default/web\n  12.345s  kube-scheduler      pod default/web-1: bound to node-2\n"
        );
        let verbose = narrate(&lines, true);
        assert!(
            verbose.ends_with("  12.346s  kube-apiserver      · bind pods/web-1\n"),
            "{verbose}"
        );
        assert_eq!(narrate(&[], false), "");
    }
}
