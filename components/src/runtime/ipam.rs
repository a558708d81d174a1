//! Pod IP allocation from the node's pod CIDR, as the `host-local` IPAM plugin does it:
//! `.1` is the bridge's gateway, pods get the following addresses, handed out round-robin
//! after the last one reserved (so a freed address is not reused at once), skipping the
//! network and broadcast addresses.

use std::collections::BTreeSet;

pub use crate::api::net::{format_ipv4, parse_ipv4};

/// An IPv4 network such as `10.244.3.0/24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Cidr {
    pub base: u32,
    pub prefix_len: u32,
}

impl Ipv4Cidr {
    pub fn parse(text: &str) -> Option<Ipv4Cidr> {
        let (address, prefix) = text.split_once('/')?;
        let prefix_len: u32 = prefix.parse().ok()?;
        if !(1..=30).contains(&prefix_len) {
            return None;
        }
        let base = parse_ipv4(address)?;
        let mask = u32::MAX << (32 - prefix_len);
        Some(Ipv4Cidr {
            base: base & mask,
            prefix_len,
        })
    }

    /// Number of addresses in the network, network and broadcast included.
    pub fn size(&self) -> u32 {
        1 << (32 - self.prefix_len)
    }
}

/// The addresses in use, by their offset in the network.
#[derive(Clone, Debug, Default)]
pub struct Ipam {
    allocated: BTreeSet<u32>,
    last_reserved: u32,
}

/// The first offset pods get (`.1` is the gateway).
const FIRST_POD_OFFSET: u32 = 2;

impl Ipam {
    /// Reserves the next free address after the last one reserved; `None` when the range
    /// is exhausted.
    pub fn allocate(&mut self, cidr: Ipv4Cidr) -> Option<u32> {
        let last_usable = cidr.size() - 2;
        if last_usable < FIRST_POD_OFFSET {
            return None;
        }
        let span = last_usable - FIRST_POD_OFFSET + 1;
        let start = if (FIRST_POD_OFFSET..=last_usable).contains(&self.last_reserved) {
            self.last_reserved + 1 - FIRST_POD_OFFSET
        } else {
            0
        };
        for step in 0..span {
            let offset = FIRST_POD_OFFSET + (start + step) % span;
            if self.allocated.insert(offset) {
                self.last_reserved = offset;
                return Some(cidr.base + offset);
            }
        }
        None
    }

    pub fn release(&mut self, cidr: Ipv4Cidr, ip: u32) {
        let removed = self.allocated.remove(&(ip.wrapping_sub(cidr.base)));
        assert!(
            removed,
            "released {} which was not allocated",
            format_ipv4(ip)
        );
    }

    pub fn in_use_count(&self) -> usize {
        self.allocated.len()
    }

    pub fn clear(&mut self) {
        self.allocated.clear();
        self.last_reserved = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_parse_and_mask() {
        let cidr = Ipv4Cidr::parse("10.244.3.7/24").expect("valid");
        assert_eq!(format_ipv4(cidr.base), "10.244.3.0");
        assert_eq!(cidr.size(), 256);
        assert_eq!(Ipv4Cidr::parse("10.244.3.0"), None);
        assert_eq!(Ipv4Cidr::parse("10.244.3/24"), None);
        assert_eq!(Ipv4Cidr::parse("10.244.3.0/33"), None);
    }

    #[test]
    fn host_local_hands_out_round_robin_from_dot_two() {
        let cidr = Ipv4Cidr::parse("10.244.3.0/24").expect("valid");
        let mut ipam = Ipam::default();
        let a = ipam.allocate(cidr).expect("free");
        let b = ipam.allocate(cidr).expect("free");
        assert_eq!(format_ipv4(a), "10.244.3.2");
        assert_eq!(format_ipv4(b), "10.244.3.3");
        ipam.release(cidr, a);
        // Not reused at once.
        assert_eq!(
            format_ipv4(ipam.allocate(cidr).expect("free")),
            "10.244.3.4"
        );
    }

    #[test]
    fn a_small_range_wraps_and_then_runs_out() {
        // /29: offsets 0..8; .0 network, .1 gateway, .7 broadcast: pods get .2 to .6.
        let cidr = Ipv4Cidr::parse("10.0.0.0/29").expect("valid");
        let mut ipam = Ipam::default();
        let ips: Vec<u32> = (0..5).map(|_| ipam.allocate(cidr).expect("free")).collect();
        assert_eq!(format_ipv4(ips[4]), "10.0.0.6");
        assert_eq!(ipam.allocate(cidr), None);
        ipam.release(cidr, ips[1]);
        assert_eq!(format_ipv4(ipam.allocate(cidr).expect("wraps")), "10.0.0.3");
        assert_eq!(ipam.in_use_count(), 5);
    }
}
