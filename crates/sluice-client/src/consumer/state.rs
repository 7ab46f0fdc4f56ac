//! The consumer's per-partition state (Kafka's SubscriptionState): the assigned partitions,
//! each with its consumed position, the offset the next Fetch asks for, pause flag, pending
//! offset reset, buffered fetched records and an error to raise from `poll`. Pure bookkeeping:
//! no I/O, no waiting.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use crate::consumer::decode::RawRecord;
use crate::consumer_protocol::TopicPartition;
use crate::error::ClientError;

/// Where a pending reset goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResetTo {
    Earliest,
    Latest,
}

/// Fetched records not yet returned by `poll`.
#[derive(Debug)]
pub(crate) struct Buffered {
    pub records: std::vec::IntoIter<RawRecord>,
    /// Offset after the batches these records came from.
    pub next_offset: i64,
}

/// One assigned partition.
#[derive(Debug)]
pub(crate) struct PartitionState {
    pub topic: Arc<str>,
    /// Next offset `poll` returns (`None` until known: committed offset or reset pending).
    pub position: Option<i64>,
    /// Offset the next Fetch asks for (ahead of `position` while records are buffered).
    pub fetch_offset: i64,
    pub leader_epoch: Option<i32>,
    pub paused: bool,
    pub reset: Option<ResetTo>,
    pub inflight: bool,
    pub buffered: VecDeque<Buffered>,
    pub retry_at: Option<Instant>,
    pub high_watermark: i64,
    pub error: Option<ClientError>,
}

impl PartitionState {
    fn new(topic: Arc<str>) -> Self {
        PartitionState {
            topic,
            position: None,
            fetch_offset: -1,
            leader_epoch: None,
            paused: false,
            reset: None,
            inflight: false,
            buffered: VecDeque::new(),
            retry_at: None,
            high_watermark: -1,
            error: None,
        }
    }

    /// Moves to `offset`, dropping buffered records (an in-flight fetch for another offset
    /// is discarded when it arrives).
    pub fn seek(&mut self, offset: i64) {
        self.position = Some(offset);
        self.fetch_offset = offset;
        self.buffered.clear();
        self.reset = None;
        self.error = None;
    }

    /// True when a Fetch may be sent for this partition now.
    pub fn fetchable(&self, now: Instant) -> bool {
        self.position.is_some()
            && self.reset.is_none()
            && !self.paused
            && !self.inflight
            && self.error.is_none()
            && self.buffered.len() < 2
            && self.retry_at.is_none_or(|t| t <= now)
    }
}

/// All assigned partitions.
#[derive(Debug, Default)]
pub(crate) struct SubscriptionState {
    pub parts: BTreeMap<TopicPartition, PartitionState>,
    /// Interned topic names shared by records.
    names: BTreeMap<String, Arc<str>>,
    /// Where the next `poll` starts collecting (round robin over partitions).
    pub cursor: usize,
}

impl SubscriptionState {
    pub fn topic_arc(&mut self, topic: &str) -> Arc<str> {
        if let Some(a) = self.names.get(topic) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(topic);
        self.names.insert(topic.to_string(), a.clone());
        a
    }

    /// Replaces the assignment; partitions kept keep their state.
    pub fn set_assignment(&mut self, tps: &[TopicPartition]) {
        let mut next = BTreeMap::new();
        for tp in tps {
            let st = match self.parts.remove(tp) {
                Some(st) => st,
                None => PartitionState::new(self.topic_arc(&tp.topic)),
            };
            next.insert(tp.clone(), st);
        }
        self.parts = next;
    }

    pub fn add(&mut self, tps: &[TopicPartition]) {
        for tp in tps {
            if !self.parts.contains_key(tp) {
                let st = PartitionState::new(self.topic_arc(&tp.topic));
                self.parts.insert(tp.clone(), st);
            }
        }
    }

    pub fn remove(&mut self, tps: &[TopicPartition]) {
        for tp in tps {
            self.parts.remove(tp);
        }
    }

    pub fn assigned(&self) -> Vec<TopicPartition> {
        self.parts.keys().cloned().collect()
    }

    /// Consumed positions of every partition that has one.
    pub fn positions(&self) -> BTreeMap<TopicPartition, i64> {
        self.parts
            .iter()
            .filter_map(|(tp, st)| st.position.map(|p| (tp.clone(), p)))
            .collect()
    }
}
