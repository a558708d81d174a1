//! The simulated network: latency with jitter, loss, partitions, FIFO per connection.
//!
//! A connection is an ordered (sender actor, receiver actor) pair, like one HTTP/2 or
//! watch stream: messages on it arrive in the order they were sent, whatever the jitter.
//! Separate connections are not ordered with respect to each other. Actors on the same
//! host talk through a local socket with a small fixed latency.

use std::collections::BTreeMap;

use crate::actor::{ActorId, HostId};
use std::hash::BuildHasherDefault;

use crate::rng::SimRng;
use crate::time::{SimDuration, SimTime};
use rustc_hash::FxHasher;

/// Latency and loss of the path between two hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    pub latency: SimDuration,
    /// Extra delay drawn uniformly from `0..=jitter` per message.
    pub jitter: SimDuration,
    /// Probability that a message is lost, in parts per million.
    pub loss_per_million: u32,
}

impl Link {
    /// A same-datacenter default: 500 µs one way, up to 100 µs jitter, no loss. An
    /// assumption, not an upstream figure.
    pub const DATACENTER: Link = Link {
        latency: SimDuration::from_micros(500),
        jitter: SimDuration::from_micros(100),
        loss_per_million: 0,
    };
}

/// A network partition. Messages that would cross it are dropped when sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cut {
    /// The two hosts cannot reach each other.
    Link(HostId, HostId),
    /// The host can reach nobody and nobody can reach it.
    Isolate(HostId),
    /// Hosts in different groups cannot reach each other; hosts in no group are unaffected.
    Groups(Vec<Vec<HostId>>),
}

impl Cut {
    fn blocks(&self, a: HostId, b: HostId) -> bool {
        match self {
            Cut::Link(x, y) => (*x == a && *y == b) || (*x == b && *y == a),
            Cut::Isolate(h) => *h == a || *h == b,
            Cut::Groups(groups) => {
                let group_of = |h: HostId| groups.iter().position(|g| g.contains(&h));
                match (group_of(a), group_of(b)) {
                    (Some(ga), Some(gb)) => ga != gb,
                    _ => false,
                }
            }
        }
    }
}

/// The decision for one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Deliver(SimTime),
    Drop(DropReason),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    Partitioned,
    Lost,
}

/// Routes messages between hosts.
#[derive(Debug)]
pub struct Network {
    default_link: Link,
    links: BTreeMap<(HostId, HostId), Link>,
    local_latency: SimDuration,
    cuts: Vec<Cut>,
    rng: SimRng,
    /// Latest delivery time scheduled on each connection, to keep it FIFO. Only looked
    /// up, never iterated, so its order cannot leak into a run.
    last_delivery: hashbrown::HashMap<(ActorId, ActorId), SimTime, BuildHasherDefault<FxHasher>>,
    dropped_count: u64,
}

impl Network {
    pub fn new(rng: SimRng) -> Network {
        Network {
            default_link: Link::DATACENTER,
            links: BTreeMap::new(),
            local_latency: SimDuration::from_micros(20),
            cuts: Vec::new(),
            rng,
            last_delivery: hashbrown::HashMap::default(),
            dropped_count: 0,
        }
    }

    pub fn set_default_link(&mut self, link: Link) {
        self.default_link = link;
    }

    /// Sets the path between `a` and `b`, both ways.
    pub fn set_link(&mut self, a: HostId, b: HostId, link: Link) {
        self.links.insert(ordered(a, b), link);
    }

    pub fn set_local_latency(&mut self, latency: SimDuration) {
        self.local_latency = latency;
    }

    pub fn partition(&mut self, cut: Cut) {
        self.cuts.push(cut);
    }

    /// Removes one cut, or every cut when `cut` is `None`.
    pub fn heal(&mut self, cut: Option<&Cut>) {
        match cut {
            Some(cut) => self.cuts.retain(|c| c != cut),
            None => self.cuts.clear(),
        }
    }

    #[inline]
    pub fn is_partitioned(&self, a: HostId, b: HostId) -> bool {
        !self.cuts.is_empty() && a != b && self.cuts.iter().any(|cut| cut.blocks(a, b))
    }

    pub fn dropped_count(&self) -> u64 {
        self.dropped_count
    }

    /// Decides when (or whether) a message sent at `departs` arrives.
    #[inline]
    pub fn route(
        &mut self,
        departs: SimTime,
        from: (ActorId, HostId),
        to: (ActorId, HostId),
    ) -> Verdict {
        let (from_actor, from_host) = from;
        let (to_actor, to_host) = to;
        if from_host == to_host {
            // Constant latency keeps the local socket FIFO by insertion order.
            return Verdict::Deliver(departs + self.local_latency);
        }
        if self.is_partitioned(from_host, to_host) {
            self.dropped_count += 1;
            return Verdict::Drop(DropReason::Partitioned);
        }
        let link = *self
            .links
            .get(&ordered(from_host, to_host))
            .unwrap_or(&self.default_link);
        if link.loss_per_million > 0 && self.rng.chance(u64::from(link.loss_per_million), 1_000_000)
        {
            self.dropped_count += 1;
            return Verdict::Drop(DropReason::Lost);
        }
        let candidate = departs + link.latency + self.rng.duration_up_to(link.jitter);
        let last = self
            .last_delivery
            .entry((from_actor, to_actor))
            .or_insert(SimTime::ZERO);
        // Equal times are delivered in send order, since the queue breaks ties by sequence.
        let arrives = candidate.max(*last);
        *last = arrives;
        Verdict::Deliver(arrives)
    }
}

fn ordered(a: HostId, b: HostId) -> (HostId, HostId) {
    if a <= b { (a, b) } else { (b, a) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net() -> Network {
        Network::new(SimRng::for_stream(1, "network"))
    }

    const A: (ActorId, HostId) = (ActorId(0), HostId(0));
    const B: (ActorId, HostId) = (ActorId(1), HostId(1));
    const C: (ActorId, HostId) = (ActorId(2), HostId(2));

    #[test]
    fn connection_is_fifo_despite_jitter() {
        let mut network = net();
        network.set_default_link(Link {
            latency: SimDuration::from_millis(1),
            jitter: SimDuration::from_millis(50),
            loss_per_million: 0,
        });
        let mut previous = SimTime::ZERO;
        for step in 0..1000 {
            let departs = SimTime::from_nanos(step * 1000);
            let Verdict::Deliver(at) = network.route(departs, A, B) else {
                panic!("no loss configured")
            };
            assert!(at >= previous, "message {step} overtook an earlier one");
            assert!(at >= departs + SimDuration::from_millis(1));
            previous = at;
        }
    }

    #[test]
    fn link_cut_blocks_both_ways_and_only_that_link() {
        let mut network = net();
        network.partition(Cut::Link(HostId(0), HostId(1)));
        assert_eq!(
            network.route(SimTime::ZERO, A, B),
            Verdict::Drop(DropReason::Partitioned)
        );
        assert_eq!(
            network.route(SimTime::ZERO, B, A),
            Verdict::Drop(DropReason::Partitioned)
        );
        assert!(matches!(
            network.route(SimTime::ZERO, A, C),
            Verdict::Deliver(_)
        ));
        network.heal(None);
        assert!(matches!(
            network.route(SimTime::ZERO, A, B),
            Verdict::Deliver(_)
        ));
    }

    #[test]
    fn isolate_and_groups() {
        let mut network = net();
        network.partition(Cut::Isolate(HostId(2)));
        assert!(network.is_partitioned(HostId(0), HostId(2)));
        assert!(!network.is_partitioned(HostId(0), HostId(1)));
        network.heal(None);
        network.partition(Cut::Groups(vec![
            vec![HostId(0)],
            vec![HostId(1), HostId(2)],
        ]));
        assert!(network.is_partitioned(HostId(0), HostId(1)));
        assert!(!network.is_partitioned(HostId(1), HostId(2)));
        assert!(
            !network.is_partitioned(HostId(0), HostId(7)),
            "ungrouped host"
        );
    }

    #[test]
    fn loss_drops_about_the_configured_share() {
        let mut network = net();
        network.set_default_link(Link {
            latency: SimDuration::from_millis(1),
            jitter: SimDuration::ZERO,
            loss_per_million: 250_000,
        });
        let lost = (0..4000)
            .filter(|_| network.route(SimTime::ZERO, A, B) == Verdict::Drop(DropReason::Lost))
            .count();
        assert!((800..1200).contains(&lost), "lost {lost} of 4000 at 25%");
    }
}
