//! Lists and their resourceVersion, as upstream's cache delegator serves them
//! (k8s.io/apiserver/pkg/storage/cacher/delegator.go): `"0"` from the watch cache at once,
//! `""` (consistent) after a quorum read of etcd's current revision, `"N"` once the cache
//! has N, or 504 "Too large resource version" after the cache's 3 s wait.

use std::collections::VecDeque;

use components::api::{
    ApiError, ApiOk, ApiVerb, FieldSelector, Kind, ListResourceVersion, StatusReason,
};
use components::apiserver::ApiServer;
use components::client::ApiClient;
use components::cluster::{Cluster, ClusterConfig};
use components::fixtures;
use components::kubectl::Action;
use components::msg::Msg;
use sim_core::{Actor, ActorId, Context, Event, Fault, SimDuration, SimTime};

mod common;

use common::{at, run_until, small_requests};

/// What a probe's list got: when it was sent and answered, and the answer.
#[derive(Debug)]
struct Answer {
    sent: SimTime,
    answered: SimTime,
    result: Result<(usize, u64), ApiError>,
}

/// Sends the next list of its script each time the timeline pokes it.
struct ListProbe {
    api: ApiClient,
    script: VecDeque<ListResourceVersion>,
    sent: Vec<SimTime>,
    answers: Vec<Answer>,
}

impl Actor<Msg> for ListProbe {
    fn on_event(&mut self, event: Event<Msg>, cx: &mut Context<'_, Msg>) {
        match event {
            Event::Start => {}
            Event::Timer(Msg::Action(_)) => {
                let resource_version = self.script.pop_front().expect("a scripted list");
                self.sent.push(cx.now());
                self.api.send(
                    cx,
                    ApiVerb::List {
                        kind: Kind::Pod,
                        namespace: None,
                        fields: FieldSelector::Everything,
                        resource_version,
                    },
                );
            }
            Event::Message {
                msg: Msg::ApiReply(response),
                ..
            } => {
                let index = usize::try_from(response.id - 1).expect("small ids");
                let result = match response.result {
                    Ok(ApiOk::List {
                        items,
                        resource_version,
                    }) => Ok((items.len(), resource_version)),
                    Ok(other) => panic!("a list answered {other:?}"),
                    Err(e) => Err(e),
                };
                self.answers.push(Answer {
                    sent: self.sent[index],
                    answered: cx.now(),
                    result,
                });
            }
            Event::Message { msg, .. } | Event::Timer(msg) => panic!("list probe got {msg:?}"),
        }
    }

    fn on_crash(&mut self) {}
}

fn cluster(members: usize, seed: u64) -> Cluster {
    let mut config = ClusterConfig::default();
    config.etcd.members = members;
    config
        .node_pools
        .push(fixtures::node_pool("node", 2, Some("zone-a")));
    let deployment = fixtures::deployment("default", "web", 2, "nginx:1.14.2", small_requests());
    let mut cluster = Cluster::build(&config, seed, true);
    cluster.schedule_action(at(1), Action::Apply(vec![deployment.into()]));
    cluster
}

/// Adds a probe that sends `script[i]` at `times[i]`.
fn probe(cluster: &mut Cluster, script: &[(u64, ListResourceVersion)]) -> ActorId {
    let host = cluster.sim.add_host("probe");
    let probe = cluster.sim.add_actor(
        host,
        "probe",
        Box::new(ListProbe {
            api: ApiClient::new(cluster.apiserver),
            script: script.iter().map(|(_, rv)| *rv).collect(),
            sent: Vec::new(),
            answers: Vec::new(),
        }),
    );
    for (secs, _) in script {
        cluster.sim.schedule_timer(
            at(*secs),
            probe,
            Msg::Action(Box::new(Action::Apply(Vec::new()))),
        );
    }
    probe
}

fn answers(cluster: &Cluster, probe: ActorId) -> &[Answer] {
    &cluster
        .sim
        .actor::<ListProbe>(probe)
        .expect("probe")
        .answers
}

fn latency(answer: &Answer) -> SimDuration {
    answer.answered.saturating_since(answer.sent)
}

#[test]
fn a_consistent_list_needs_a_quorum_and_a_list_from_0_does_not() {
    let mut cluster = cluster(3, 4);
    let probe = probe(
        &mut cluster,
        &[
            (10, ListResourceVersion::MostRecent),
            (25, ListResourceVersion::MostRecent),
            (26, ListResourceVersion::Any),
        ],
    );
    let (second, third) = (cluster.etcd_members[1], cluster.etcd_members[2]);
    cluster.schedule_fault(at(21), Fault::CrashActor(second));
    cluster.schedule_fault(at(21), Fault::CrashActor(third));
    run_until(&mut cluster, at(40));
    let answers = answers(&cluster, probe);
    assert_eq!(answers.len(), 3, "{answers:#?}");
    // Healthy: the revision read and the cached answer take milliseconds.
    let (pods, _) = answers[0]
        .result
        .clone()
        .expect("the healthy consistent list");
    assert_eq!(pods, 2);
    assert!(latency(&answers[0]) < SimDuration::from_millis(20));
    // Without a quorum the list from "0" is still served by the cache at once...
    let any = answers
        .iter()
        .find(|a| a.sent == at(26))
        .expect("the list from 0");
    assert_eq!(any.result.clone().expect("served from the cache").0, 2);
    assert!(latency(any) < SimDuration::from_millis(20));
    // ...while the consistent one waits for etcd's quorum read, which times out after
    // etcd's request timeout (5 s + 2 x 1 s election timeout).
    let consistent = answers
        .iter()
        .find(|a| a.sent == at(25))
        .expect("the consistent list");
    let failure = consistent.result.clone().expect_err("no quorum");
    assert_eq!(failure.reason, StatusReason::InternalError);
    assert_eq!(failure.message, "etcdserver: request timed out");
    let waited = latency(consistent);
    assert!(
        waited >= SimDuration::from_secs(7) && waited < SimDuration::from_millis(7_100),
        "{waited}"
    );
}

#[test]
fn a_list_from_a_version_the_cache_lacks_gets_504_after_the_cache_wait() {
    let mut cluster = cluster(1, 2);
    run_until(&mut cluster, at(9));
    let revision = cluster
        .sim
        .actor::<ApiServer>(cluster.apiserver)
        .expect("apiserver")
        .cache_revision();
    let probe = probe(
        &mut cluster,
        &[
            (10, ListResourceVersion::NotOlderThan(revision)),
            (11, ListResourceVersion::NotOlderThan(revision + 1_000)),
        ],
    );
    run_until(&mut cluster, at(20));
    let answers = answers(&cluster, probe);
    assert_eq!(answers.len(), 2, "{answers:#?}");
    let (_, listed_at) = answers[0].result.clone().expect("the cache has it");
    assert!(listed_at >= revision);
    assert!(latency(&answers[0]) < SimDuration::from_millis(20));
    let too_large = answers[1].result.clone().expect_err("ahead of the cache");
    assert_eq!(too_large.reason, StatusReason::Timeout);
    assert!(too_large.is_too_large_resource_version(), "{too_large:?}");
    assert!(
        too_large.message.starts_with(&format!(
            "Timeout: Too large resource version: {}, current: ",
            revision + 1_000
        )),
        "{}",
        too_large.message
    );
    // The cache's 3 s wait, plus the network both ways.
    let waited = latency(&answers[1]);
    assert!(
        waited >= SimDuration::from_secs(3) && waited < SimDuration::from_millis(3_010),
        "{waited}"
    );
}

/// The request cost model: a list costs the base request latency plus a per-object cost
/// (500 µs and 2 µs by default), measured where the API server answers.
#[test]
fn a_list_costs_the_base_latency_plus_a_cost_per_object() {
    let mut config = ClusterConfig::default();
    config
        .node_pools
        .push(fixtures::node_pool("node", 2, Some("zone-a")));
    let deployment = fixtures::deployment("default", "web", 30, "nginx:1.14.2", small_requests());
    let mut cluster = Cluster::build(&config, 3, true);
    cluster.schedule_action(at(1), Action::Apply(vec![deployment.into()]));
    let probe = probe(&mut cluster, &[(10, ListResourceVersion::Any)]);
    run_until(&mut cluster, at(12));
    let (pods, _) = answers(&cluster, probe)[0].result.clone().expect("listed");
    assert_eq!(pods, 30);
    let server = cluster
        .sim
        .actor::<ApiServer>(cluster.apiserver)
        .expect("apiserver");
    let list = components::apiserver::requests::VERBS
        .iter()
        .position(|verb| *verb == "list")
        .expect("list is a verb");
    let answered = server.request_stats().between(list, at(10), at(11));
    assert_eq!(answered.count, 1);
    assert_eq!(
        answered.latency_max,
        SimDuration::from_micros(500) + SimDuration::from_micros(2 * 30)
    );
}
