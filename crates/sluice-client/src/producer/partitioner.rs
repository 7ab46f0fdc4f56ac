//! Partition choice. Explicit partitions win; otherwise a custom [`Partitioner`] if configured,
//! else the built-in one (Java ≥ 3.3, KIP-794): keyed records go to
//! `toPositive(murmur2(key)) % numPartitions` (unless `partitioner.ignore.keys`), keyless ones
//! stick to one partition until `batch.size` bytes went to it, then move to another partition
//! picked uniformly (preferring partitions that have a leader). Pure state, no I/O.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::partitioner::partition_for_key;

/// What a partitioner knows about a topic.
#[derive(Debug, Clone, Copy)]
pub struct TopicPartitions<'a> {
    pub topic: &'a str,
    pub num_partitions: i32,
    /// Partitions that currently have a leader, ascending.
    pub available: &'a [i32],
}

/// A custom partitioner (Java's `partitioner.class`). Must return a partition in
/// `0..num_partitions`; anything else fails the send.
pub trait Partitioner: Send + Sync {
    fn partition(&self, key: Option<&[u8]>, value: Option<&[u8]>, topic: &TopicPartitions) -> i32;
}

/// Java's `RoundRobinPartitioner`: each record to the next partition of the topic, cycling
/// over available partitions (all partitions when none is available). Keys are ignored.
#[derive(Debug, Default)]
pub struct RoundRobinPartitioner {
    counters: Mutex<HashMap<String, u32>>,
}

impl Partitioner for RoundRobinPartitioner {
    fn partition(&self, _: Option<&[u8]>, _: Option<&[u8]>, t: &TopicPartitions) -> i32 {
        let n = {
            let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
            let slot = match c.get_mut(t.topic) {
                Some(s) => s,
                None => c.entry(t.topic.to_string()).or_insert(0),
            };
            let n = *slot;
            *slot = slot.wrapping_add(1);
            n
        };
        if t.available.is_empty() {
            (n % t.num_partitions.max(1) as u32) as i32
        } else {
            t.available[n as usize % t.available.len()]
        }
    }
}

/// Keyless stickiness of the built-in partitioner for one topic.
#[derive(Debug, Default)]
pub struct UniformSticky {
    current: Option<i32>,
    produced: usize,
}

impl UniformSticky {
    /// The partition for the next keyless record of `size` bytes.
    pub fn partition(&mut self, t: &TopicPartitions, batch_size: usize, size: usize) -> i32 {
        let n = t.num_partitions.max(1);
        let current = match self.current {
            Some(p) if p < n && self.produced < batch_size.max(1) => p,
            prev => {
                let p = pick_other(prev, n, t.available);
                self.current = Some(p);
                self.produced = 0;
                p
            }
        };
        self.produced += size;
        current
    }
}

/// A uniformly random partition different from `prev` when there is a choice, preferring
/// partitions with a leader.
fn pick_other(prev: Option<i32>, n: i32, available: &[i32]) -> i32 {
    let candidates: Vec<i32> = if available.is_empty() {
        (0..n).collect()
    } else {
        available.to_vec()
    };
    let others: Vec<i32> = candidates
        .iter()
        .copied()
        .filter(|p| Some(*p) != prev)
        .collect();
    let pool = if others.is_empty() {
        &candidates
    } else {
        &others
    };
    pool[rand::random_range(0..pool.len())]
}

/// The built-in choice for a keyed record.
pub fn keyed_partition(key: &[u8], num_partitions: i32) -> i32 {
    partition_for_key(key, num_partitions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(n: i32, available: &[i32]) -> TopicPartitions<'_> {
        TopicPartitions {
            topic: "t",
            num_partitions: n,
            available,
        }
    }

    #[test]
    fn keyed_matches_java_vectors() {
        // toPositive(murmur2("21")) = 1173551340 → % 3 = 0, % 7 = 2.
        assert_eq!(keyed_partition(b"21", 3), 1173551340 % 3);
        assert_eq!(
            keyed_partition(b"foobar", 10),
            (-790332482i32 & 0x7fffffff) % 10
        );
    }

    #[test]
    fn sticky_switches_after_batch_size_bytes() {
        let all = [0, 1, 2, 3];
        let mut s = UniformSticky::default();
        let t = tp(4, &all);
        let first = s.partition(&t, 100, 40);
        assert_eq!(s.partition(&t, 100, 40), first);
        assert_eq!(s.partition(&t, 100, 40), first); // 80 < 100 before this one
        let next = s.partition(&t, 100, 40); // 120 >= 100: switch
        assert_ne!(next, first);
    }

    #[test]
    fn sticky_prefers_available_partitions() {
        let mut s = UniformSticky::default();
        for _ in 0..50 {
            let p = s.partition(&tp(4, &[2]), 1, 10);
            assert_eq!(p, 2);
        }
    }

    #[test]
    fn round_robin_cycles() {
        let r = RoundRobinPartitioner::default();
        let got: Vec<i32> = (0..6)
            .map(|_| r.partition(None, None, &tp(3, &[])))
            .collect();
        assert_eq!(got, vec![0, 1, 2, 0, 1, 2]);
        let got: Vec<i32> = (0..4)
            .map(|_| r.partition(None, None, &tp(3, &[0, 2])))
            .collect();
        assert_eq!(got.len(), 4);
        assert!(got.iter().all(|p| *p == 0 || *p == 2));
    }
}
