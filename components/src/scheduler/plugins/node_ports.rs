//! NodePorts: a pod's host ports must be free on the node.
//!
//! Upstream: `pkg/scheduler/framework/plugins/nodeports/node_ports.go`,
//! `pkg/scheduler/util.GetHostPorts` (regular containers and sidecars, host port > 0) and
//! `framework.HostPortInfo.CheckConflict` (an empty host IP is `0.0.0.0`, which conflicts
//! with every address on the same protocol and port).

use crate::api::{Pod, Protocol, Str};

use super::{NodeInfo, Unfit};

/// One host port a pod claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort {
    /// `None` or `0.0.0.0`: every address.
    pub ip: Option<Str>,
    pub protocol: Protocol,
    pub port: u16,
}

impl HostPort {
    fn wildcard(&self) -> bool {
        self.ip
            .as_deref()
            .is_none_or(|ip| ip.is_empty() || ip == "0.0.0.0")
    }

    /// Same protocol and port, and the same address or either one is the wildcard.
    pub fn conflicts(&self, other: &HostPort) -> bool {
        self.protocol == other.protocol
            && self.port == other.port
            && (self.wildcard() || other.wildcard() || self.ip == other.ip)
    }
}

/// `GetHostPorts`: the host ports of the sidecars (restartable init containers) and the
/// regular containers; plain init containers have exited before the pod runs.
pub fn host_ports(pod: &Pod) -> Vec<HostPort> {
    let sidecars = pod.spec.init_containers.iter().filter(|c| c.is_sidecar());
    sidecars
        .chain(pod.spec.containers.iter())
        .flat_map(|c| c.ports.iter())
        .filter_map(|port| {
            port.host_port.filter(|&p| p > 0).map(|p| HostPort {
                ip: port.host_ip.clone(),
                protocol: port.protocol,
                port: p,
            })
        })
        .collect()
}

/// NodePorts filter: none of `wanted` conflicts with a host port of a pod on the node.
pub fn filter(wanted: &[HostPort], node: &NodeInfo) -> Result<(), Unfit> {
    if wanted.is_empty() {
        return Ok(());
    }
    for pod in &node.pods.all {
        for used in host_ports(pod) {
            if wanted.iter().any(|want| want.conflicts(&used)) {
                return Err(Unfit::NodePorts);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;
    use crate::api::{Container, ContainerPort, ContainerRestartPolicy, s};
    use crate::scheduler::plugins::NodeTotals;
    use crate::scheduler::plugins::tests::{node_with, pod_with};

    fn port(ip: Option<&str>, protocol: Protocol, host_port: u16) -> ContainerPort {
        ContainerPort {
            name: None,
            container_port: 80,
            protocol,
            host_port: Some(host_port),
            host_ip: ip.map(s),
        }
    }

    fn with_ports(ports: Vec<ContainerPort>, sidecar: bool) -> Pod {
        let container = Container {
            ports,
            restart_policy: sidecar.then_some(ContainerRestartPolicy::Always),
            ..Container::default()
        };
        if sidecar {
            pod_with(vec![], vec![container])
        } else {
            pod_with(vec![container], vec![])
        }
    }

    fn node_running(pods: Vec<Pod>) -> NodeInfo {
        let mut node = NodeInfo::new(
            Rc::new(node_with("n", 1000, 1 << 30, 110)),
            NodeTotals::default(),
        );
        for (uid, mut pod) in pods.into_iter().enumerate() {
            pod.metadata.uid = uid as u64 + 1;
            node.pods.add(Rc::new(pod));
        }
        node
    }

    #[test]
    fn conflicts_follow_host_port_info() {
        // node_ports_test.go cases: same port and protocol on the same IP conflict;
        // different protocol or IP do not; 0.0.0.0 conflicts with any IP.
        let node = node_running(vec![with_ports(
            vec![port(Some("127.0.0.1"), Protocol::Tcp, 8080)],
            false,
        )]);
        let want = |ip, protocol, p| host_ports(&with_ports(vec![port(ip, protocol, p)], false));
        assert_eq!(
            filter(&want(Some("127.0.0.1"), Protocol::Tcp, 8080), &node),
            Err(Unfit::NodePorts)
        );
        assert_eq!(
            filter(&want(Some("127.0.0.1"), Protocol::Udp, 8080), &node),
            Ok(())
        );
        assert_eq!(
            filter(&want(Some("127.0.0.2"), Protocol::Tcp, 8080), &node),
            Ok(())
        );
        assert_eq!(
            filter(&want(Some("127.0.0.1"), Protocol::Tcp, 8081), &node),
            Ok(())
        );
        assert_eq!(
            filter(&want(None, Protocol::Tcp, 8080), &node),
            Err(Unfit::NodePorts)
        );
        assert_eq!(
            filter(&want(Some("0.0.0.0"), Protocol::Tcp, 8080), &node),
            Err(Unfit::NodePorts)
        );
    }

    #[test]
    fn sidecar_ports_count_and_zero_host_ports_do_not() {
        let node = node_running(vec![with_ports(
            vec![port(None, Protocol::Tcp, 9000)],
            true,
        )]);
        let want = host_ports(&with_ports(
            vec![port(Some("10.0.0.1"), Protocol::Tcp, 9000)],
            false,
        ));
        assert_eq!(filter(&want, &node), Err(Unfit::NodePorts));
        let mut unset = port(None, Protocol::Tcp, 0);
        unset.host_port = None;
        assert!(host_ports(&with_ports(vec![unset], false)).is_empty());
        // A plain init container's ports are not held while the pod runs.
        let mut init = with_ports(vec![port(None, Protocol::Tcp, 7000)], true);
        Rc::make_mut(&mut init.spec.init_containers)[0].restart_policy = None;
        assert!(host_ports(&init).is_empty());
    }
}
