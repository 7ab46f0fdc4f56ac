//! `RecordAccumulator`: per-partition deques of batches, filled by `send` and drained by the
//! sender task. It accounts `buffer.memory` (a send waits for space up to `max.block.ms`),
//! decides when a partition is ready (full batch, `linger.ms` elapsed, flush, close, memory
//! pressure, retry backoff over), assigns idempotent sequences at drain time and puts retried
//! batches back in sequence order. One `std::sync::Mutex`, never held across an await or
//! while compressing.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::batch::{ProducerBatch, HEADER_SIZE};
use super::partitioner::UniformSticky;

/// One partition's queue and idempotence state.
#[derive(Default)]
pub struct PartitionQueue {
    pub batches: VecDeque<(u64, ProducerBatch)>,
    pub in_flight: usize,
    /// Next base sequence for the current producer id.
    pub next_seq: i32,
    /// Last sequence acknowledged for the current producer id (-1 = none).
    pub last_acked: i32,
}

/// One topic's partitions and keyless stickiness.
#[derive(Default)]
pub struct TopicQueues {
    pub name: Arc<str>,
    pub partitions: Vec<PartitionQueue>,
    pub sticky: UniformSticky,
}

/// Everything behind the accumulator lock.
#[derive(Default)]
pub struct AccState {
    pub topics: HashMap<Arc<str>, TopicQueues>,
    /// Ids of batches created and not yet completed.
    pub incomplete: BTreeSet<u64>,
    pub next_batch_id: u64,
    /// Batches with an id below this are sent without waiting for linger (flush).
    pub flush_below: u64,
    pub closing: bool,
    /// buffer.memory in use.
    pub used: usize,
    /// Sends waiting for buffer space: drain everything meanwhile.
    pub memory_waiters: usize,
    /// Buffers of completed batches, reused by new ones (Java's BufferPool): a fresh
    /// batch.size allocation costs a page fault per 4 KiB.
    pub spare: Vec<Vec<u8>>,
}

/// Most completed-batch buffers kept for reuse.
const MAX_SPARE: usize = 8;

impl AccState {
    /// Keeps a completed batch's buffer when it suits batches of `batch_size` (not an
    /// oversized single-record buffer, not beyond MAX_SPARE).
    pub fn recycle(&mut self, buf: Vec<u8>, batch_size: usize) {
        let need = HEADER_SIZE + batch_size;
        if self.spare.len() < MAX_SPARE && buf.capacity() >= need && buf.capacity() <= 2 * need {
            self.spare.push(buf);
        }
    }
}

impl AccState {
    /// The partition queue, created on demand.
    pub fn queue(&mut self, topic: &Arc<str>, partition: i32) -> &mut PartitionQueue {
        let t = self
            .topics
            .entry(topic.clone())
            .or_insert_with(|| TopicQueues {
                name: topic.clone(),
                ..Default::default()
            });
        let p = partition.max(0) as usize;
        if t.partitions.len() <= p {
            t.partitions.resize_with(p + 1, || PartitionQueue {
                last_acked: -1,
                ..Default::default()
            });
        }
        &mut t.partitions[p]
    }

    /// Appends to the partition's open batch or a new one, with one topic lookup. `choose`
    /// picks the partition (it sees the topic's sticky state). Returns (batch, record index,
    /// whether a new batch was started, the topic's shared name, the partition).
    pub fn append(
        &mut self,
        topic: &str,
        choose: impl FnOnce(&mut TopicQueues) -> i32,
        batch_size: usize,
        size: usize,
        append: impl FnOnce(&mut ProducerBatch) -> u32,
    ) -> (&mut ProducerBatch, u32, bool, Arc<str>, i32) {
        let AccState {
            topics,
            incomplete,
            next_batch_id,
            used,
            spare,
            ..
        } = self;
        if !topics.contains_key(topic) {
            let name: Arc<str> = Arc::from(topic);
            topics.insert(
                name.clone(),
                TopicQueues {
                    name,
                    ..Default::default()
                },
            );
        }
        let tq = topics.get_mut(topic).expect("inserted above");
        let partition = choose(tq).max(0);
        let p = partition as usize;
        if tq.partitions.len() <= p {
            tq.partitions.resize_with(p + 1, || PartitionQueue {
                last_acked: -1,
                ..Default::default()
            });
        }
        let q = &mut tq.partitions[p];
        let fits = q
            .batches
            .back()
            .is_some_and(|(_, b)| b.has_room(size, batch_size));
        if !fits {
            let id = *next_batch_id;
            *next_batch_id += 1;
            incomplete.insert(id);
            // A spare buffer when it fits, else a new one.
            let need = HEADER_SIZE + batch_size.max(size);
            let buf = match spare.pop() {
                Some(b) if b.capacity() >= need => b,
                _ => Vec::with_capacity(need),
            };
            q.batches.push_back((
                id,
                ProducerBatch::with_buffer(tq.name.clone(), partition, buf),
            ));
        }
        *used += size;
        let (_, batch) = q.batches.back_mut().expect("a batch was just ensured");
        batch.reserved += size;
        let index = append(batch);
        (batch, index, !fits, tq.name.clone(), partition)
    }

    /// Puts a batch back for a retry: in sequence order among already-stamped batches at the
    /// front of the queue, else at the very front.
    pub fn reenqueue(&mut self, id: u64, batch: ProducerBatch) {
        let topic = batch.topic.clone();
        let q = self.queue(&topic, batch.partition);
        let seq = batch.stamp.map(|s| s.2);
        let pos = match seq {
            Some(seq) => q
                .batches
                .iter()
                .position(|(_, b)| !b.is_sealed() || b.stamp.is_none_or(|s| s.2 > seq))
                .unwrap_or(q.batches.len()),
            None => 0,
        };
        q.batches.insert(pos, (id, batch));
    }

    /// Resets sequence state after the producer id or epoch changed.
    pub fn reset_sequences(&mut self) {
        for t in self.topics.values_mut() {
            for p in &mut t.partitions {
                p.next_seq = 0;
                p.last_acked = -1;
            }
        }
    }

    /// Removes batches still queued whose delivery timeout passed.
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> Vec<(u64, ProducerBatch)> {
        let mut out = Vec::new();
        for t in self.topics.values_mut() {
            for p in &mut t.partitions {
                while let Some((_, b)) = p.batches.front() {
                    if now.duration_since(b.created) < timeout {
                        break;
                    }
                    if let Some(x) = p.batches.pop_front() {
                        out.push(x);
                    }
                }
            }
        }
        out
    }

    /// Every queued batch (for a forced close).
    pub fn take_all(&mut self) -> Vec<(u64, ProducerBatch)> {
        let mut out = Vec::new();
        for t in self.topics.values_mut() {
            for p in &mut t.partitions {
                out.extend(p.batches.drain(..));
            }
        }
        out
    }

    pub fn queued_batches(&self) -> usize {
        self.topics
            .values()
            .flat_map(|t| t.partitions.iter())
            .map(|p| p.batches.len())
            .sum()
    }
}

/// The shared accumulator.
pub struct Accumulator {
    state: Mutex<AccState>,
    /// Wakes the sender (new batch, full batch, flush, close, completion).
    pub wake_sender: Notify,
    /// Signalled when buffer memory is released.
    pub memory_freed: Notify,
    /// Signalled when batches complete (flush waits on it).
    pub completed: Notify,
}

impl Default for Accumulator {
    fn default() -> Self {
        Accumulator {
            state: Mutex::new(AccState::default()),
            wake_sender: Notify::new(),
            memory_freed: Notify::new(),
            completed: Notify::new(),
        }
    }
}

impl Accumulator {
    pub fn lock(&self) -> MutexGuard<'_, AccState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks a batch finished: releases its memory (keeping its buffer for reuse when it
    /// suits `batch_size`) and wakes waiters.
    pub fn release(&self, id: u64, reserved: usize, buffer: Option<Vec<u8>>, batch_size: usize) {
        {
            let mut s = self.lock();
            s.used = s.used.saturating_sub(reserved);
            s.incomplete.remove(&id);
            if let Some(b) = buffer {
                s.recycle(b, batch_size);
            }
        }
        self.memory_freed.notify_waiters();
        self.completed.notify_waiters();
    }

    /// True while any batch created before `below` is incomplete.
    pub fn pending_below(&self, below: u64) -> bool {
        self.lock().incomplete.first().is_some_and(|id| *id < below)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_protocol::kafka_protocol::records::Compression;

    fn add(s: &mut AccState, topic: &str, p: i32, n: usize, batch_size: usize) -> bool {
        let (_, _, created, _, _) = s.append(
            topic,
            |_| p,
            batch_size,
            n + 30,
            |b| b.append(0, None, Some(&vec![7u8; n]), &[]),
        );
        created
    }

    #[test]
    fn batches_fill_to_batch_size_then_roll_over() {
        let mut s = AccState::default();
        let t: Arc<str> = "t".into();
        assert!(add(&mut s, &t, 0, 100, 450));
        assert!(!add(&mut s, &t, 0, 100, 450));
        assert!(!add(&mut s, &t, 0, 100, 450));
        assert!(
            add(&mut s, &t, 0, 100, 450),
            "fourth record starts a new batch"
        );
        assert!(add(&mut s, &t, 1, 100, 450), "other partition, own batch");
        assert_eq!(s.queue(&t, 0).batches.len(), 2);
        assert_eq!(s.queue(&t, 0).batches[0].1.count, 3);
        assert_eq!(s.used, 5 * 130);
        assert_eq!(s.incomplete.len(), 3);
        // A record larger than batch.size gets a batch of its own.
        assert!(add(&mut s, &t, 2, 5000, 450));
        assert!(add(&mut s, &t, 2, 10, 450));
    }

    #[test]
    fn retries_go_back_in_sequence_order() {
        let mut s = AccState::default();
        let t: Arc<str> = "t".into();
        add(&mut s, &t, 0, 10, 10); // a fresh open batch stays at the back
        let mk = |seq: i32| {
            let mut b = ProducerBatch::new(t.clone(), 0, 10);
            b.append(0, None, Some(b"x"), &[]);
            b.seal(
                sluice_protocol::kafka_protocol::records::Compression::None,
                &Default::default(),
            )
            .unwrap();
            b.set_stamp(1, 0, seq);
            b
        };
        s.reenqueue(12, mk(12));
        s.reenqueue(5, mk(5));
        s.reenqueue(9, mk(9));
        let seqs: Vec<Option<i32>> = s
            .queue(&t, 0)
            .batches
            .iter()
            .map(|(_, b)| b.stamp.map(|x| x.2))
            .collect();
        assert_eq!(seqs, vec![Some(5), Some(9), Some(12), None]);
    }

    #[test]
    fn completed_batch_buffers_are_reused_unless_still_shared() {
        let acc = Accumulator::default();
        let t: Arc<str> = "t".into();
        let take = |acc: &Accumulator| {
            let mut s = acc.lock();
            add(&mut s, &t, 0, 100, 1000);
            let q = s.queue(&t, 0);
            q.batches.pop_front().unwrap()
        };
        let (id, mut b) = take(&acc);
        b.seal(Compression::None, &Default::default()).unwrap();
        let ptr = b.wire().as_ptr();
        let held = b.wire(); // a request still being written
        assert!(b.into_buffer().is_none(), "a shared buffer is not reused");
        acc.release(id, 130, None, 1000);
        let (id, mut b) = take(&acc);
        b.seal(Compression::None, &Default::default()).unwrap();
        let ptr2 = b.wire().as_ptr();
        assert_ne!(ptr2, ptr, "the first buffer is still in use");
        assert_eq!(held.as_ptr(), ptr);
        let buf = b.into_buffer().expect("unique after sealing");
        acc.release(id, 130, Some(buf), 1000);
        assert_eq!(acc.lock().spare.len(), 1);
        // The next batch encodes into the recycled buffer and decodes as a fresh one would.
        let (_, mut b) = take(&acc);
        b.seal(Compression::None, &Default::default()).unwrap();
        let w = b.wire();
        assert_eq!(w.as_ptr(), ptr2);
        let h = sluice_protocol::record_batch::BatchHeader::parse(&w).unwrap();
        h.validate().unwrap();
        assert_eq!(h.records_count(), 1);
        assert!(acc.lock().spare.is_empty());
        // Buffers that do not suit batch.size are dropped.
        acc.lock().recycle(Vec::with_capacity(10), 1000);
        acc.lock().recycle(Vec::with_capacity(100_000), 1000);
        assert!(acc.lock().spare.is_empty());
    }

    #[test]
    fn expiry_takes_only_old_batches() {
        let mut s = AccState::default();
        let t: Arc<str> = "t".into();
        add(&mut s, &t, 0, 10, 10);
        assert!(s.expire(Instant::now(), Duration::from_secs(60)).is_empty());
        let later = Instant::now() + Duration::from_secs(61);
        assert_eq!(s.expire(later, Duration::from_secs(60)).len(), 1);
        assert_eq!(s.queued_batches(), 0);
    }
}
