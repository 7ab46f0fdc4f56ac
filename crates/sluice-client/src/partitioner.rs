//! Partition choice exactly as Java's kafka-clients makes it: keyed records go to
//! `toPositive(murmur2(key)) % numPartitions`; keyless records stick to one partition per
//! batch (KIP-480's sticky partitioner, simplified). Pure functions; no I/O.

/// Kafka's `Utils.murmur2` (seed 0x9747b28c), bit for bit, as a signed Java int.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= (rest[2] as u32) << 16;
    }
    if rest.len() >= 2 {
        h ^= (rest[1] as u32) << 8;
    }
    if !rest.is_empty() {
        h ^= rest[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Kafka's `Utils.toPositive`.
pub fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition Java's default partitioner picks for a key.
pub fn partition_for_key(key: &[u8], num_partitions: i32) -> i32 {
    if num_partitions <= 0 {
        return 0;
    }
    to_positive(murmur2(key)) % num_partitions
}

/// Keyless records: one partition until [`StickyPartitioner::next_batch`] is called.
#[derive(Debug, Default)]
pub struct StickyPartitioner {
    current: Option<i32>,
}

impl StickyPartitioner {
    /// The sticky partition for a topic with `num_partitions` partitions.
    pub fn partition(&mut self, num_partitions: i32) -> i32 {
        let n = num_partitions.max(1);
        match self.current {
            Some(p) if p < n => p,
            _ => {
                let p = rand::random_range(0..n);
                self.current = Some(p);
                p
            }
        }
    }

    /// Moves to a different partition after a batch was sent.
    pub fn next_batch(&mut self, num_partitions: i32) {
        let n = num_partitions.max(1);
        self.current = Some(match self.current {
            Some(p) if n > 1 => (p + 1 + rand::random_range(0..n - 1)) % n,
            _ => rand::random_range(0..n),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors from Kafka's `UtilsTest.testMurmur2`.
    #[test]
    fn murmur2_matches_java() {
        assert_eq!(murmur2(b"21"), -973932308);
        assert_eq!(murmur2(b"foobar"), -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1486304829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
            -58897971
        );
        assert_eq!(murmur2(b"abc"), 479470107);
    }

    #[test]
    fn keyed_partition_is_positive_and_stable() {
        assert_eq!(partition_for_key(b"21", 3), to_positive(-973932308) % 3);
        for n in 1..10 {
            let p = partition_for_key(b"foobar", n);
            assert!((0..n).contains(&p));
        }
    }

    #[test]
    fn sticky_changes_partition_between_batches() {
        let mut s = StickyPartitioner::default();
        let p = s.partition(4);
        assert_eq!(s.partition(4), p);
        s.next_batch(4);
        assert_ne!(s.partition(4), p);
        assert_eq!(s.partition(1), 0);
    }
}
