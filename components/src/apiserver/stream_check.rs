//! The watch-stream invariant: every watch stream an API server replica keeps open has
//! been sent exactly the changes its filter selects, in etcd's order — strictly
//! increasing resourceVersions, none missing, none twice. (A stream that cannot start
//! where it asked is refused with 410 and never opens.)
//!
//! The truth is etcd's change history, not the replica's cache: each replica keeps, per
//! stream, a ledger of the last revision sent and how many changes were sent; the
//! checker follows etcd's history as far as the replica's cache has come and counts what
//! each stream should have been sent, using the stream's own filter. It runs after every
//! event of a replica (nothing else moves its cache or its streams), incrementally: a new change costs a look at the streams that may care about it
//! (the replica's index by kind and node), a new stream one walk of the history since
//! its start.

use sim_core::{ActorId, Simulation};

use super::{ApiServer, Watcher};
use crate::api::Object;
use crate::etcd::Etcd;
use crate::msg::Msg;

/// What one stream should have been sent so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Expected {
    last_revision: u64,
    count: u64,
}

/// The checker's view of one replica.
#[derive(Debug, Default)]
struct ReplicaCheck {
    /// The replica's incarnation this state belongs to.
    incarnation: u64,
    /// The cache revision the streams have been checked up to.
    checked_revision: u64,
    /// `watch_streams_opened` at the last look: streams with a higher serial are new.
    streams_seen: u64,
    /// Each stream's expectation, by its serial (the cache numbers the streams it
    /// registers from 1, so the serial indexes a vector: a change's streams are found
    /// without hashing). A closed stream's entry stays; one entry per stream opened.
    expected: Vec<Option<Expected>>,
}

impl Expected {
    /// Counts the change at revision `changed_at` if `watcher`'s stream carries it.
    fn count_change(
        &mut self,
        watcher: &Watcher,
        changed_at: u64,
        previous: Option<&Object>,
        current: Option<&Object>,
    ) {
        if changed_at > watcher.start_revision && concerns(watcher, previous, current) {
            self.last_revision = changed_at;
            self.count += 1;
        }
    }
}

/// Whether a change from `previous` to `current` (`None`: deleted) is sent on `watcher`:
/// the object matched its filter before or matches it after.
fn concerns(watcher: &Watcher, previous: Option<&Object>, current: Option<&Object>) -> bool {
    let matches = |object: Option<&Object>| {
        object.is_some_and(|o| o.kind() == watcher.kind && watcher.sees(o))
    };
    matches(previous) || matches(current)
}

fn describe(sim: &Simulation<Msg>, watcher: &Watcher) -> String {
    format!(
        "watch {} of {} ({}, from revision {})",
        watcher.watch_id,
        sim.actor_name(watcher.client),
        watcher.kind.resource(),
        watcher.start_revision
    )
}

fn compare(
    sim: &Simulation<Msg>,
    replica: ActorId,
    watcher: &Watcher,
    expected: Expected,
) -> Result<(), String> {
    if watcher.sent_revision == expected.last_revision && watcher.sent_count == expected.count {
        return Ok(());
    }
    Err(format!(
        "{} on {}: sent {} changes up to revision {}, but etcd's history holds {} for it up to revision {}",
        describe(sim, watcher),
        sim.actor_name(replica),
        watcher.sent_count,
        watcher.sent_revision,
        expected.count,
        expected.last_revision
    ))
}

impl ReplicaCheck {
    fn expected_mut(&mut self, watcher: &Watcher) -> Option<&mut Expected> {
        let slot = usize::try_from(watcher.serial).ok()?;
        self.expected.get_mut(slot)?.as_mut()
    }

    fn set_expected(&mut self, watcher: &Watcher, expected: Expected) {
        let slot = usize::try_from(watcher.serial).expect("a serial fits in memory");
        if self.expected.len() <= slot {
            self.expected.resize(slot + 1, None);
        }
        self.expected[slot] = Some(expected);
    }

    /// Checks the streams `server` opened or fed since the last call; `etcd` is asked for
    /// only then (most events change neither).
    fn check<'a>(
        &mut self,
        sim: &'a Simulation<Msg>,
        etcd: impl Fn() -> &'a Etcd,
        replica: ActorId,
        server: &ApiServer,
    ) -> Result<(), String> {
        if server.incarnation() != self.incarnation || !server.is_serving() {
            *self = ReplicaCheck {
                incarnation: server.incarnation(),
                checked_revision: server.cache_revision(),
                ..ReplicaCheck::default()
            };
            return Ok(());
        }
        let revision = server.cache_revision();
        let streams_opened = server.watch_streams_opened();
        if revision <= self.checked_revision && streams_opened == self.streams_seen {
            return Ok(());
        }
        let etcd = etcd();
        if revision == self.checked_revision + 1
            && let Some((previous, current)) = etcd.change_at(revision)
        {
            // The usual case, one write: count and compare in one pass.
            let object = current.or(previous).expect("a change has a value");
            self.checked_revision = revision;
            for watchers in server.watchers_of(object, previous) {
                for watcher in watchers {
                    let Some(expected) = self.expected_mut(watcher) else {
                        continue;
                    };
                    expected.count_change(watcher, revision, previous, current);
                    compare(sim, replica, watcher, *expected)?;
                }
            }
        } else if revision > self.checked_revision {
            let from = self.checked_revision;
            let Some(changes) = etcd.changes_since(from) else {
                // History compacted or rewritten under us: start over from here.
                self.expected.clear();
                self.checked_revision = revision;
                self.streams_seen = 0;
                return Ok(());
            };
            // One write is found by `change_at` whenever the history holds it.
            assert!(
                revision - from > 1,
                "the change the cache saw is not in etcd's history"
            );
            let changes = changes.take((revision - from) as usize);
            self.check_changes(sim, replica, server, changes.collect(), from, revision)?;
        }
        if streams_opened != self.streams_seen {
            // Each new stream is checked from its start once; a scan of serials finds
            // them without a lookup per open stream.
            let seen = self.streams_seen;
            for watcher in server.watchers().filter(|w| w.serial > seen) {
                let expected = expected_since_start(etcd, watcher, revision)?;
                compare(sim, replica, watcher, expected)?;
                self.set_expected(watcher, expected);
            }
            self.streams_seen = streams_opened;
        }
        Ok(())
    }

    /// Several changes at once (the cache took a batch): counts them all, then compares
    /// every stream they concern.
    fn check_changes(
        &mut self,
        sim: &Simulation<Msg>,
        replica: ActorId,
        server: &ApiServer,
        changes: Vec<(Option<&Object>, Option<&Object>)>,
        from: u64,
        revision: u64,
    ) -> Result<(), String> {
        for (offset, &(previous, current)) in changes.iter().enumerate() {
            let changed_at = from + 1 + offset as u64;
            let object = current.or(previous).expect("a change has a value");
            for watcher in server.watchers_of(object, previous).into_iter().flatten() {
                let Some(expected) = self.expected_mut(watcher) else {
                    continue;
                };
                expected.count_change(watcher, changed_at, previous, current);
            }
        }
        self.checked_revision = revision;
        for &(previous, current) in &changes {
            let object = current.or(previous).expect("a change has a value");
            for watcher in server.watchers_of(object, previous).into_iter().flatten() {
                if let Some(&expected) = self.expected_mut(watcher).as_deref() {
                    compare(sim, replica, watcher, expected)?;
                }
            }
        }
        Ok(())
    }
}

/// What a stream that opened at `watcher.start_revision` should have been sent by the
/// time the cache reached `revision`.
fn expected_since_start(etcd: &Etcd, watcher: &Watcher, revision: u64) -> Result<Expected, String> {
    let mut expected = Expected {
        last_revision: watcher.start_revision,
        count: 0,
    };
    if watcher.start_revision >= revision {
        return Ok(expected);
    }
    let Some(changes) = etcd.changes_since(watcher.start_revision) else {
        return Err(format!(
            "watch {} starts at revision {}, which etcd's history no longer holds: it should have been refused with 410",
            watcher.watch_id, watcher.start_revision
        ));
    };
    let span = (revision - watcher.start_revision) as usize;
    for (offset, (previous, current)) in changes.take(span).enumerate() {
        let changed_at = watcher.start_revision + 1 + offset as u64;
        expected.count_change(watcher, changed_at, previous, current);
    }
    Ok(expected)
}

/// Installs the watch-stream invariant over `apiservers`, against the history of the
/// freshest of the etcd `members`.
pub fn install(sim: &mut Simulation<Msg>, members: &[ActorId], apiservers: &[ActorId]) {
    let members = members.to_vec();
    let mut replicas: Vec<(ActorId, ReplicaCheck)> = apiservers
        .iter()
        .map(|&id| (id, ReplicaCheck::default()))
        .collect();
    // Only a replica's own events move its cache or open its streams; after an etcd
    // member's event the check would find nothing new to compare, so it runs after the
    // replicas' events alone (etcd's history is read when a replica has moved).
    sim.add_invariant_over(
        "watch streams deliver every change in order, once",
        apiservers,
        Box::new(move |sim| {
            for (id, check) in &mut replicas {
                let server = sim.actor::<ApiServer>(*id).expect("an API server replica");
                check.check(sim, || crate::etcd::freshest(sim, &members), *id, server)?;
            }
            Ok(())
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{FieldSelector, Kind, ObjectMeta, Pod, PodSpec, s};

    fn watcher(kind: Kind, fields: FieldSelector) -> Watcher {
        Watcher {
            client: ActorId(1),
            watch_id: 7,
            kind,
            namespace: None,
            fields,
            start_revision: 0,
            sent_revision: 0,
            sent_count: 0,
            serial: 1,
        }
    }

    fn pod_on(node: Option<&str>) -> Object {
        Object::from(Pod {
            metadata: ObjectMeta::named("default", "web"),
            spec: PodSpec {
                node_name: node.map(s),
                ..Default::default()
            },
            status: Default::default(),
        })
    }

    #[test]
    fn a_stream_is_sent_what_matched_before_or_after() {
        let kubelet = watcher(Kind::Pod, FieldSelector::NodeName(s("node-1")));
        let pending = pod_on(None);
        let bound = pod_on(Some("node-1"));
        let moved = pod_on(Some("node-2"));
        // Bound to its node: an Added for the kubelet.
        assert!(concerns(&kubelet, Some(&pending), Some(&bound)));
        // Deleted while on its node: a Deleted.
        assert!(concerns(&kubelet, Some(&bound), None));
        // Leaves the filter: a Deleted too.
        assert!(concerns(&kubelet, Some(&bound), Some(&moved)));
        // Never on its node: nothing.
        assert!(!concerns(&kubelet, Some(&pending), Some(&moved)));
        // Another kind's stream is never concerned.
        let nodes = watcher(Kind::Node, FieldSelector::Everything);
        assert!(!concerns(&nodes, Some(&pending), Some(&bound)));
    }

    #[test]
    fn a_ledger_that_misses_or_repeats_a_change_is_reported() {
        let sim: Simulation<Msg> = {
            let mut sim = Simulation::new(1);
            let host = sim.add_host("h");
            sim.add_actor(
                host,
                "kube-apiserver",
                Box::new(ApiServer::new(Default::default(), ActorId(9))),
            );
            sim.add_actor(
                host,
                "kubelet/node-1",
                Box::new(ApiServer::new(Default::default(), ActorId(9))),
            );
            sim
        };
        let mut stream = watcher(Kind::Pod, FieldSelector::Everything);
        stream.sent_revision = 5;
        stream.sent_count = 2;
        let exact = Expected {
            last_revision: 5,
            count: 2,
        };
        assert_eq!(compare(&sim, ActorId(0), &stream, exact), Ok(()));
        // A gap: etcd holds three changes for it, two were sent.
        let gap = Expected {
            last_revision: 5,
            count: 3,
        };
        let message = compare(&sim, ActorId(0), &stream, gap).unwrap_err();
        assert_eq!(
            message,
            "watch 7 of kubelet/node-1 (pods, from revision 0) on kube-apiserver: sent 2 changes up to revision 5, but etcd's history holds 3 for it up to revision 5"
        );
        // A duplicate or a change from the future.
        let behind = Expected {
            last_revision: 4,
            count: 1,
        };
        assert!(compare(&sim, ActorId(0), &stream, behind).is_err());
    }
}
