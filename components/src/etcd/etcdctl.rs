//! etcdctl: the operator's maintenance client, on the client host. The scenario's
//! timeline hands it commands; it calls the members as `etcdctl --endpoints=<all
//! members>` would and keeps saved snapshots (the files on the operator's machine, which
//! survive any member's disk loss).

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use sim_core::{Actor, ActorId, Context, Event, TraceHasher};

use super::{EtcdRequest, Maintenance, MemberIndex, Store};
use crate::msg::{Fingerprint, Msg};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EtcdctlCommand {
    /// `etcdctl snapshot save NAME`.
    SnapshotSave(String),
    /// `etcdutl snapshot restore NAME` on every member, each started again on its
    /// restored data directory.
    SnapshotRestore(String),
    /// `etcdctl defrag --cluster`.
    Defrag,
    /// `etcdctl alarm disarm`.
    AlarmDisarm,
    /// `etcdctl compact <the current revision>`.
    Compact,
}

impl EtcdctlCommand {
    pub fn describe(&self) -> String {
        match self {
            EtcdctlCommand::SnapshotSave(name) => format!("etcdctl snapshot save {name}"),
            EtcdctlCommand::SnapshotRestore(name) => format!(
                "etcdutl snapshot restore {name} on every member, then the members start again"
            ),
            EtcdctlCommand::Defrag => "etcdctl defrag --cluster".to_string(),
            EtcdctlCommand::AlarmDisarm => "etcdctl alarm disarm".to_string(),
            EtcdctlCommand::Compact => "etcdctl compact <current revision>".to_string(),
        }
    }
}

#[derive(Clone, Debug)]
pub enum EtcdctlMsg {
    /// The timeline → etcdctl.
    Command(EtcdctlCommand),
    /// A member → etcdctl: the snapshot it took.
    SnapshotSaved {
        name: String,
        member: MemberIndex,
        store: Rc<Store>,
    },
}

pub struct Etcdctl {
    members: Vec<ActorId>,
    /// Saved snapshots by name: files on the operator's disk.
    snapshots: BTreeMap<String, Rc<Store>>,
    /// Saves asked for and not yet answered: the first member to answer provides it.
    saving: BTreeSet<String>,
}

impl Etcdctl {
    pub fn new(members: Vec<ActorId>) -> Etcdctl {
        Etcdctl {
            members,
            snapshots: BTreeMap::new(),
            saving: BTreeSet::new(),
        }
    }

    /// The revision a saved snapshot holds.
    pub fn snapshot_revision(&self, name: &str) -> Option<u64> {
        self.snapshots.get(name).map(|store| store.revision())
    }

    fn to_every_member(&self, request: EtcdRequest, cx: &mut Context<'_, Msg>) {
        for &member in &self.members {
            cx.send(member, Msg::Etcd(Box::new(request.clone())));
        }
    }

    fn command(&mut self, command: EtcdctlCommand, cx: &mut Context<'_, Msg>) {
        let line = command.describe();
        cx.record("detail", || format!("etcdctl: {line}"));
        match command {
            EtcdctlCommand::SnapshotSave(name) => {
                self.saving.insert(name.clone());
                self.to_every_member(
                    EtcdRequest::Maintenance(Maintenance::SnapshotSave { name }),
                    cx,
                );
            }
            EtcdctlCommand::SnapshotRestore(name) => match self.snapshots.get(&name) {
                Some(store) => {
                    let store = store.clone();
                    self.to_every_member(
                        EtcdRequest::Maintenance(Maintenance::Restore { name, store }),
                        cx,
                    );
                }
                None => cx.record("step", || {
                    format!("etcdutl: snapshot restore {name}: no such snapshot was saved")
                }),
            },
            EtcdctlCommand::Defrag => {
                self.to_every_member(EtcdRequest::Maintenance(Maintenance::Defragment), cx)
            }
            EtcdctlCommand::AlarmDisarm => {
                self.to_every_member(EtcdRequest::Maintenance(Maintenance::AlarmDisarm), cx)
            }
            EtcdctlCommand::Compact => {
                self.to_every_member(EtcdRequest::Compact { revision: u64::MAX }, cx)
            }
        }
    }
}

impl Actor<Msg> for Etcdctl {
    fn on_event(&mut self, event: Event<Msg>, cx: &mut Context<'_, Msg>) {
        match event {
            Event::Start => {}
            Event::Timer(Msg::Etcdctl(msg))
            | Event::Message {
                msg: Msg::Etcdctl(msg),
                ..
            } => match *msg {
                EtcdctlMsg::Command(command) => self.command(command, cx),
                EtcdctlMsg::SnapshotSaved {
                    name,
                    member,
                    store,
                } => {
                    if self.saving.remove(&name) {
                        let revision = store.revision();
                        cx.record("detail", || {
                                format!(
                                    "etcdctl: snapshot {name} written from member {} at revision {revision}",
                                    member + 1
                                )
                            });
                        self.snapshots.insert(name, store);
                    }
                }
            },
            Event::Message { msg, .. } | Event::Timer(msg) => {
                panic!("etcdctl got an unexpected message: {msg:?}")
            }
        }
    }

    fn on_crash(&mut self) {
        self.saving.clear();
    }
}

impl Fingerprint for EtcdctlMsg {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            EtcdctlMsg::Command(command) => {
                hasher.write_u64(1);
                hasher.write_str(&command.describe());
            }
            EtcdctlMsg::SnapshotSaved {
                name,
                member,
                store,
            } => {
                hasher.write_u64(2);
                hasher.write_str(name);
                hasher.write_u64(*member as u64);
                hasher.write_u64(store.revision());
            }
        }
    }
}
