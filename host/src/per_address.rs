//! Connections counted per remote address, so one host cannot take every place a listener
//! offers: the HTTP listener counts all its connections, the stream those still waiting to
//! authenticate. A place is held by an [`AddressSlot`] and given back when it drops.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The count of each address's connections, up to a cap.
#[derive(Debug)]
pub struct PerAddress {
    max: usize,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place among its address's.
#[derive(Debug)]
pub struct AddressSlot {
    owner: Arc<PerAddress>,
    address: IpAddr,
}

impl PerAddress {
    /// At most `max` connections from any one address.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self { max, counts: Mutex::new(HashMap::new()) })
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.max
    }

    /// A place for a connection from `address`, unless it already has `max`.
    pub fn take(self: &Arc<Self>, address: IpAddr) -> Option<AddressSlot> {
        let mut counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = counts.entry(address).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(AddressSlot { owner: self.clone(), address })
    }

    /// The connections `address` holds.
    pub fn count(&self, address: IpAddr) -> usize {
        self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&address).copied().unwrap_or(0)
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self.owner.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = counts.get_mut(&self.address) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_per_address_and_given_back() {
        let per = PerAddress::new(2);
        let (a, b): (IpAddr, IpAddr) = ([127, 0, 0, 1].into(), [127, 0, 0, 2].into());
        let s1 = per.take(a).expect("first");
        let _s2 = per.take(a).expect("second");
        assert!(per.take(a).is_none(), "a third from the same address");
        assert!(per.take(b).is_some(), "another address has its own places");
        drop(s1);
        assert_eq!(per.count(a), 1);
        assert!(per.take(a).is_some(), "a place given back is free again");
        assert_eq!(per.count(b), 0, "a dropped slot leaves no entry behind");
    }
}
