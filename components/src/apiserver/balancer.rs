//! How clients reach one of several kube-apiserver replicas: a TCP load balancer in front
//! of them, as kubeadm's high-availability guide sets one up (HAProxy in `mode tcp` with
//! `balance roundrobin`). A TCP balancer chooses a replica when a connection opens and
//! pins the connection to it; every request on that connection then goes to that replica.
//!
//! kubesim models exactly that and nothing more, so the balancer costs no event per
//! request: a client holds the replica its connection is pinned to and sends straight to
//! it. The balancer's choice is made when a connection opens: at build time for every
//! client behind it, and when a replica's connections break (its shutdown or restart),
//! for each stream the replica closes — the choice rides on the close
//! (`WatchEvent::Closed::reconnect_to`), since the client's reconnect goes through the
//! balancer at that instant.
//!
//! A replica that is shutting down or restarting fails the balancer's health check, so
//! the choice skips it. kubesim does not model the health checks themselves (HAProxy's
//! `inter 2s fall 3 rise 2`): a replica that dies and stays down is still chosen for new
//! connections only through `RoundRobin::pick`'s `avoid`, which callers set to the
//! replica that is going away.

use sim_core::ActorId;

/// `balance roundrobin`: each new connection goes to the next replica in turn.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoundRobin {
    next_index: usize,
}

impl RoundRobin {
    /// The replica the next connection lands on, skipping `avoid` (a replica that fails
    /// its health check). `None` when no replica is left.
    pub fn pick(&mut self, replicas: &[ActorId], avoid: Option<ActorId>) -> Option<ActorId> {
        for _ in 0..replicas.len() {
            let candidate = replicas[self.next_index % replicas.len()];
            self.next_index = (self.next_index + 1) % replicas.len();
            if Some(candidate) != avoid {
                return Some(candidate);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u32) -> Vec<ActorId> {
        (10..10 + n).map(ActorId).collect()
    }

    #[test]
    fn connections_go_to_each_replica_in_turn() {
        let replicas = ids(3);
        let mut balancer = RoundRobin::default();
        let picks: Vec<u32> = (0..5)
            .map(|_| balancer.pick(&replicas, None).unwrap().0)
            .collect();
        assert_eq!(picks, [10, 11, 12, 10, 11]);
    }

    #[test]
    fn a_failing_replica_is_skipped() {
        let replicas = ids(2);
        let mut balancer = RoundRobin::default();
        let picks: Vec<u32> = (0..3)
            .map(|_| balancer.pick(&replicas, Some(ActorId(10))).unwrap().0)
            .collect();
        assert_eq!(picks, [11, 11, 11]);
    }

    #[test]
    fn one_replica_that_is_going_away_leaves_nothing_to_pick() {
        let replicas = ids(1);
        let mut balancer = RoundRobin::default();
        assert_eq!(balancer.pick(&replicas, Some(ActorId(10))), None);
        assert_eq!(balancer.pick(&replicas, None), Some(ActorId(10)));
        assert_eq!(balancer.pick(&[], None), None);
    }
}
