//! What an API server replica served, per verb and per second of simulated time: how
//! many requests, how many failed, and how long they took from arrival to the answer
//! leaving (the `apiserver_request_total` and `apiserver_request_duration_seconds`
//! metrics a real kube-apiserver exports). Observers read it after or during a run; it
//! survives a restart of the replica, as a scraped metric outlives the process.

use sim_core::{SimDuration, SimTime};

use crate::api::ApiVerb;

/// The verbs counted, in `ApiVerb::code` order (code 1 is index 0).
pub const VERBS: [&str; 9] = [
    "create",
    "update",
    "update-status",
    "delete",
    "get",
    "list",
    "watch",
    "bind",
    "evict",
];

/// The index of `verb` in [`VERBS`]. Every request pays for it, so the check that
/// `VERBS` follows the codes is a debug assertion: the tests' debug builds make it for
/// every verb they send.
pub fn verb_index(verb: &ApiVerb) -> usize {
    let index = verb.code() as usize - 1;
    debug_assert_eq!(VERBS[index], verb.name(), "VERBS out of step with ApiVerb");
    index
}

/// One verb's requests answered in one second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerbSecond {
    pub count: u64,
    /// Answered with an error status (4xx or 5xx).
    pub errors: u64,
    pub latency_total: SimDuration,
    pub latency_max: SimDuration,
}

impl VerbSecond {
    pub fn latency_mean(&self) -> SimDuration {
        SimDuration::from_nanos(
            self.latency_total
                .as_nanos()
                .checked_div(self.count)
                .unwrap_or(0),
        )
    }

    fn add(&mut self, other: &VerbSecond) {
        self.count += other.count;
        self.errors += other.errors;
        self.latency_total = self.latency_total + other.latency_total;
        self.latency_max = self.latency_max.max(other.latency_max);
    }
}

/// Per-second, per-verb counts of answered requests, by the second the answer left.
#[derive(Clone, Debug, Default)]
pub struct RequestStats {
    /// Index `s` holds second `[s, s+1)` of the run.
    seconds: Vec<[VerbSecond; VERBS.len()]>,
}

impl RequestStats {
    /// A request of verb `verb_index` that arrived at `arrived` was answered, the answer
    /// leaving at `answered`.
    pub fn observe(&mut self, verb_index: usize, arrived: SimTime, answered: SimTime, error: bool) {
        let second = (answered.as_nanos() / 1_000_000_000) as usize;
        if self.seconds.len() <= second {
            self.seconds.resize(second + 1, Default::default());
        }
        let cell = &mut self.seconds[second][verb_index];
        let latency = answered.saturating_since(arrived);
        cell.count += 1;
        cell.errors += u64::from(error);
        cell.latency_total = cell.latency_total + latency;
        cell.latency_max = cell.latency_max.max(latency);
    }

    /// Seconds observed so far (the last one with an answer, plus one).
    pub fn seconds(&self) -> usize {
        self.seconds.len()
    }

    /// Verb `verb_index`'s requests answered in `[from, to)`.
    pub fn between(&self, verb_index: usize, from: SimTime, to: SimTime) -> VerbSecond {
        let first = (from.as_nanos() / 1_000_000_000) as usize;
        let last = (to.as_nanos().div_ceil(1_000_000_000) as usize).min(self.seconds.len());
        let mut total = VerbSecond::default();
        for second in self.seconds.iter().take(last).skip(first) {
            total.add(&second[verb_index]);
        }
        total
    }

    /// Second `second`'s counts for every verb.
    pub fn second(&self, second: usize) -> [VerbSecond; VERBS.len()] {
        self.seconds.get(second).copied().unwrap_or_default()
    }

    /// Adds another replica's counts (a cluster-wide view).
    pub fn merge(&mut self, other: &RequestStats) {
        if self.seconds.len() < other.seconds.len() {
            self.seconds.resize(other.seconds.len(), Default::default());
        }
        for (mine, theirs) in self.seconds.iter_mut().zip(&other.seconds) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                a.add(b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_ms(ms: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_millis(ms)
    }

    #[test]
    fn requests_are_counted_by_the_second_their_answer_left() {
        let mut stats = RequestStats::default();
        let list = 5;
        stats.observe(list, at_ms(900), at_ms(1_100), false);
        stats.observe(list, at_ms(1_000), at_ms(1_004), true);
        stats.observe(0, at_ms(2_500), at_ms(2_501), false);
        assert_eq!(stats.seconds(), 3);
        let second = stats.second(1)[list];
        assert_eq!(second.count, 2);
        assert_eq!(second.errors, 1);
        assert_eq!(second.latency_max, SimDuration::from_millis(200));
        assert_eq!(second.latency_mean(), SimDuration::from_millis(102));
        assert_eq!(stats.second(0)[list], VerbSecond::default());
        assert_eq!(stats.between(list, at_ms(0), at_ms(3_000)).count, 2);
        assert_eq!(stats.between(list, at_ms(2_000), at_ms(3_000)).count, 0);
        assert_eq!(stats.between(0, at_ms(2_000), at_ms(2_600)).count, 1);
    }

    #[test]
    fn replicas_merge_into_one_view() {
        let mut a = RequestStats::default();
        let mut b = RequestStats::default();
        a.observe(4, at_ms(0), at_ms(10), false);
        b.observe(4, at_ms(3_000), at_ms(3_030), false);
        a.merge(&b);
        assert_eq!(a.seconds(), 4);
        let both = a.between(4, at_ms(0), at_ms(4_000));
        assert_eq!(both.count, 2);
        assert_eq!(both.latency_max, SimDuration::from_millis(30));
        assert_eq!(both.latency_mean(), SimDuration::from_millis(20));
    }

    #[test]
    fn verb_indexes_follow_the_verbs_codes() {
        use crate::api::{FieldSelector, Kind};
        let list = ApiVerb::List {
            kind: Kind::Pod,
            namespace: None,
            fields: FieldSelector::Everything,
            resource_version: crate::api::ListResourceVersion::Any,
        };
        assert_eq!(VERBS[verb_index(&list)], "list");
    }
}
