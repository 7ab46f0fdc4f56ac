//! Offset APIs of the consumer: commits (sync, async with a callback; by the group member
//! with its generation/epoch, or standalone for assign mode), committed offsets, positions and
//! ListOffsets lookups (`offsets_for_times`, `beginning_offsets`, `end_offsets`). Commits are
//! bounded by the request timeout and coordinator retries of `admin_groups.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::admin_groups::CommitIdentity;
use crate::client::Client;
use crate::consumer::group::Membership;
use crate::consumer::{no_group, Consumer};
use crate::consumer_protocol::TopicPartition;
use crate::error::{ClientError, Result};
use crate::fetch::{EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};
use crate::group_member::GroupCommitter;

/// An offset found by timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetAndTimestamp {
    pub offset: i64,
    pub timestamp: i64,
}

/// Who commits, detached from the consumer (for asynchronous commits).
#[derive(Clone)]
pub(crate) enum Committer {
    Member(GroupCommitter),
    Kip848(super::kip848::Kip848Committer),
    Standalone(Arc<Client>, String),
}

impl Committer {
    pub async fn commit(&self, offsets: &BTreeMap<TopicPartition, i64>) -> Result<()> {
        match self {
            Committer::Member(c) => c.commit(offsets).await,
            Committer::Kip848(c) => c.commit(offsets).await,
            Committer::Standalone(client, group) => {
                let res = client
                    .commit_group_offsets(group, &CommitIdentity::standalone(), offsets)
                    .await?;
                match res.into_iter().find_map(|(tp, r)| r.err().map(|e| (tp, e))) {
                    Some((tp, e)) => Err(ClientError::Kafka {
                        code: e.code().unwrap_or(-1),
                        message: Some(format!("committing offsets of {tp} for group {group}")),
                    }),
                    None => Ok(()),
                }
            }
        }
    }
}

impl<K: Send + 'static, V: Send + 'static> Consumer<K, V> {
    pub(crate) fn committer(&self) -> Result<Committer> {
        match (&self.group, &self.config.group_id) {
            (Some(Membership::Classic(c)), _) => Ok(Committer::Member(c.member.committer())),
            (Some(Membership::Consumer(k)), _) => Ok(Committer::Kip848(k.committer())),
            (None, Some(g)) => Ok(Committer::Standalone(self.client.clone(), g.clone())),
            (None, None) => Err(no_group()),
        }
    }

    pub(crate) async fn commit_offsets(
        &self,
        offsets: &BTreeMap<TopicPartition, i64>,
    ) -> Result<()> {
        self.committer()?.commit(offsets).await
    }

    /// Commits `offsets`, or the consumed positions of every assigned partition (`None`).
    pub async fn commit_sync(
        &mut self,
        offsets: Option<&BTreeMap<TopicPartition, i64>>,
    ) -> Result<()> {
        self.ensure_open()?;
        let offsets = match offsets {
            Some(o) => o.clone(),
            None => self.state.positions(),
        };
        self.commit_offsets(&offsets).await
    }

    /// Commits in the background; `callback` gets the offsets and the outcome (it runs on a
    /// runtime task, not inside `poll` as in Java).
    pub fn commit_async(
        &mut self,
        offsets: Option<BTreeMap<TopicPartition, i64>>,
        callback: impl FnOnce(&BTreeMap<TopicPartition, i64>, Result<()>) + Send + 'static,
    ) -> Result<()> {
        self.ensure_open()?;
        let offsets = offsets.unwrap_or_else(|| self.state.positions());
        let committer = self.committer()?;
        tokio::spawn(async move {
            let r = committer.commit(&offsets).await;
            callback(&offsets, r);
        });
        Ok(())
    }

    /// The group's committed offsets of these partitions (absent = none committed).
    pub async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        let group = self.config.group_id.as_deref().ok_or_else(no_group)?;
        Ok(self
            .client
            .list_group_offsets(group, Some(partitions))
            .await?
            .into_iter()
            .map(|(tp, c)| (tp, c.offset))
            .collect())
    }

    /// The offset of the next record `poll` returns for `tp` (looked up when not known yet).
    pub async fn position(&mut self, tp: &TopicPartition) -> Result<i64> {
        self.ensure_open()?;
        let st = self.assigned_state(tp)?;
        if st.reset.is_none() {
            if let Some(p) = st.position {
                return Ok(p);
            }
        }
        self.update_positions().await?;
        self.assigned_state(tp)?
            .position
            .ok_or_else(|| ClientError::Invalid(format!("no position for partition {tp}")))
    }

    /// The earliest offset whose timestamp is at or after the given one, per partition
    /// (`None` when there is no such record).
    pub async fn offsets_for_times(
        &self,
        query: &BTreeMap<TopicPartition, i64>,
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndTimestamp>>> {
        for (tp, ts) in query {
            if *ts < 0 {
                return Err(ClientError::Invalid(format!(
                    "The target time for partition {tp} is {ts}. The target time cannot be negative."
                )));
            }
        }
        let raw = self.list_offsets(query).await?;
        Ok(raw
            .into_iter()
            .map(|(tp, (offset, timestamp))| {
                let found = (offset >= 0).then_some(OffsetAndTimestamp { offset, timestamp });
                (tp, found)
            })
            .collect())
    }

    /// The first offset of each partition.
    pub async fn beginning_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        self.special_offsets(partitions, EARLIEST_TIMESTAMP).await
    }

    /// The end offset (high watermark) of each partition.
    pub async fn end_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        self.special_offsets(partitions, LATEST_TIMESTAMP).await
    }

    async fn special_offsets(
        &self,
        partitions: &[TopicPartition],
        ts: i64,
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        let q = partitions.iter().map(|tp| (tp.clone(), ts)).collect();
        Ok(self
            .list_offsets(&q)
            .await?
            .into_iter()
            .map(|(tp, (o, _))| (tp, o))
            .collect())
    }

    async fn list_offsets(
        &self,
        query: &BTreeMap<TopicPartition, i64>,
    ) -> Result<BTreeMap<TopicPartition, (i64, i64)>> {
        let mut by_topic: BTreeMap<&str, Vec<(i32, i64)>> = BTreeMap::new();
        for (tp, ts) in query {
            by_topic
                .entry(tp.topic.as_str())
                .or_default()
                .push((tp.partition, *ts));
        }
        let mut out = BTreeMap::new();
        for (topic, qs) in by_topic {
            for (p, offset, ts) in self.client.list_offsets(topic, &qs).await? {
                out.insert(TopicPartition::new(topic, p), (offset, ts));
            }
        }
        Ok(out)
    }
}
