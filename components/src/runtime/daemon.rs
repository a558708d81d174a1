//! The runtime's daemon (containerd, CRI-O) crashing and coming back while its node
//! runs.
//!
//! The containers do not depend on the daemon: each runs under its shim
//! (`containerd-shim-runc-v2`, or conmon for CRI-O), which keeps the process, its stdio
//! and its exit code. When the daemon dies its socket closes: calls in flight fail with
//! `Unavailable`, new calls are refused, and nothing is reported to the kubelet (no
//! answer, no container event). Its records are on disk (containerd's metadata store,
//! CRI-O's state directory) and the shims survive, so when it starts again it finds
//! every sandbox and container as they are now, exits included, and serves them as
//! before; the kubelet learns what changed from its next relist.
//!
//! kubesim keeps the records in the actor while the daemon is down and lets the
//! kernel's events update them (that is the shims' work); only the daemon's voice is
//! cut.

use sim_core::Context;

use super::{ContainerRuntime, ContainerStage, CriError, CriErrorCode, CriReply, SandboxStage};
use crate::msg::Msg;

/// Whether the runtime's daemon runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Daemon {
    Running,
    /// Crashed or stopped; its containers run on.
    Down,
}

impl ContainerRuntime {
    /// The daemon's socket path, as the kubelet's `--container-runtime-endpoint` names it.
    fn socket(&self) -> &'static str {
        if self.config.name == "cri-o" {
            "/var/run/crio/crio.sock"
        } else {
            "/run/containerd/containerd.sock"
        }
    }

    /// What a call to a dead daemon gets: the socket refuses the connection.
    pub(super) fn refused(&self) -> CriError {
        CriError {
            code: CriErrorCode::Unavailable,
            message: format!(
                "rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial unix {}: connect: connection refused\"",
                self.socket()
            ),
        }
    }

    /// The daemon dies: calls in flight fail, the kubelet's connection closes, and the
    /// runtime stays silent until [`ContainerRuntime::recover_daemon`].
    pub(super) fn crash_daemon(&mut self, cx: &mut Context<'_, Msg>) {
        if self.daemon == Daemon::Down {
            return;
        }
        // Every call still owed an answer fails with the transport.
        let mut failed = Vec::new();
        for sandbox in self.sandboxes.values_mut() {
            match &mut sandbox.stage {
                SandboxStage::Creating { call } => failed.push(*call),
                SandboxStage::Stopping { calls } => failed.append(calls),
                SandboxStage::Ready | SandboxStage::NotReady => {}
            }
        }
        for container in self.containers.values_mut() {
            if let ContainerStage::Starting { call } = container.stage {
                failed.push(call);
            }
            failed.append(&mut container.stop_calls);
        }
        for pull in self.pulls_active.values().chain(&self.pulls_queued) {
            failed.extend(&pull.calls);
        }
        // The transfers die with the daemon; a registry answer that comes later finds
        // no pull waiting for it.
        self.pulls_active.clear();
        self.pulls_queued.clear();
        failed.sort();
        let error = CriError {
            code: CriErrorCode::Unavailable,
            message: "rpc error: code = Unavailable desc = error reading from server: EOF"
                .to_string(),
        };
        for call in failed {
            self.answer(call, Err(error.clone()), cx);
        }
        if let Some(kubelet) = self.kubelet {
            cx.send(kubelet, Msg::CriReply(Box::new(CriReply::Disconnected)));
        }
        self.daemon = Daemon::Down;
        let (name, node) = (self.config.name.clone(), self.node_name.clone());
        let running = self.running_container_count();
        cx.record("step", || {
            format!(
                "{name} on node {node} crashed: its socket is closed; its {running} running containers keep running under their shims"
            )
        });
    }

    /// The daemon starts again and reloads its records: the sandboxes and containers as
    /// the shims kept them.
    pub(super) fn recover_daemon(&mut self, cx: &mut Context<'_, Msg>) {
        if self.daemon == Daemon::Running {
            return;
        }
        self.daemon = Daemon::Running;
        let (name, node) = (self.config.name.clone(), self.node_name.clone());
        let (containers, sandboxes) = (self.containers.len(), self.sandboxes.len());
        cx.record("step", || {
            format!(
                "{name} on node {node} is running again: reloaded {sandboxes} sandboxes and {containers} containers from its store and their shims"
            )
        });
    }
}
