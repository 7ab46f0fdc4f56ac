//! `poll`: one turn of the consumer loop — group work (join/rebalance, auto-commit), starting
//! positions (committed offsets, else `auto.offset.reset`), returning buffered records (at most
//! `max.poll.records`, per-partition order, round robin over partitions) and keeping the next
//! fetches in flight. Waits only on fetch responses, group events or wakeup, bounded by the
//! poll timeout.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::consumer::config::OffsetReset;
use crate::consumer::record::{ConsumerRecord, ConsumerRecords, TimestampType};
use crate::consumer::state::ResetTo;
use crate::consumer::Consumer;
use crate::consumer_protocol::TopicPartition;
use crate::error::{ClientError, Result};
use crate::fetch::{EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};

impl<K: Send + 'static, V: Send + 'static> Consumer<K, V> {
    /// Returns the records fetched since the last call, waiting up to `timeout` for some.
    /// Joins the group first when needed (a join may take longer than `timeout`: it is bounded
    /// by `max.poll.interval.ms`).
    pub async fn poll(&mut self, timeout: Duration) -> Result<ConsumerRecords<K, V>> {
        self.ensure_open()?;
        if matches!(self.subscription, super::Subscription::None) {
            return Err(ClientError::Invalid(
                "Consumer is not subscribed to any topics or assigned any partitions".into(),
            ));
        }
        // Restarts max.poll.interval.ms when this call ends (or is cancelled).
        let _polling = self.poll_timer.enter();
        let deadline = Instant::now() + timeout;
        let notify = self.group.as_ref().map(|g| g.notify());
        loop {
            if self.wakeup.take() {
                return Err(ClientError::Wakeup);
            }
            self.ensure_group().await?;
            self.maybe_auto_commit(false).await;
            self.update_positions().await?;
            self.fetcher.drain(&mut self.state);
            let records = self.collect()?;
            self.fetcher.send_fetches(&mut self.state).await;
            if !records.is_empty() {
                return Ok(ConsumerRecords::new(records));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(ConsumerRecords::default());
            }
            // Retry soon when partitions wait out a backoff, else wait for events.
            let retry = self
                .state
                .parts
                .values()
                .filter_map(|st| st.retry_at)
                .min()
                .map_or(deadline, |t| t.min(deadline));
            let group_event = async {
                match &notify {
                    Some(n) => n.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = self.fetcher.next_response(), if self.fetcher.has_inflight() => {
                    if let Some(r) = r {
                        self.fetcher.apply(&mut self.state, r);
                    }
                }
                _ = group_event => {}
                _ = self.wakeup.notify.notified() => {}
                _ = tokio::time::sleep_until(retry.max(now).into()) => {}
            }
        }
    }

    /// Takes up to `max.poll.records` buffered records, advancing positions.
    fn collect(&mut self) -> Result<Vec<ConsumerRecord<K, V>>> {
        let max = self.config.max_poll_records;
        let mut out = Vec::new();
        let n = self.state.parts.len();
        if n == 0 {
            return Ok(out);
        }
        let start = self.state.cursor % n;
        self.state.cursor = self.state.cursor.wrapping_add(1);
        let keys: Vec<TopicPartition> = self
            .state
            .parts
            .iter()
            .cycle()
            .skip(start)
            .take(n)
            .filter(|(_, st)| !st.paused && (!st.buffered.is_empty() || st.error.is_some()))
            .map(|(tp, _)| tp.clone())
            .collect();
        for tp in keys {
            if out.len() >= max {
                break;
            }
            let Some(st) = self.state.parts.get_mut(&tp) else {
                continue;
            };
            if st.buffered.is_empty() {
                if let Some(e) = st.error.take() {
                    if out.is_empty() {
                        return Err(e);
                    }
                    st.error = Some(e);
                }
                continue;
            }
            while out.len() < max {
                let Some(b) = st.buffered.front_mut() else {
                    break;
                };
                let Some(r) = b.records.as_slice().first() else {
                    let next = b.next_offset;
                    st.buffered.pop_front();
                    if st.position.is_some_and(|p| p < next) {
                        st.position = Some(next);
                    }
                    continue;
                };
                let key = match &r.key {
                    None => None,
                    Some(k) => Some(self.key_de.deserialize(&st.topic, &r.headers, k.clone())),
                };
                let value = match &r.value {
                    None => None,
                    Some(v) => Some(self.value_de.deserialize(&st.topic, &r.headers, v.clone())),
                };
                let (key, value) = match (key.transpose(), value.transpose()) {
                    (Ok(k), Ok(v)) => (k, v),
                    (Err(e), _) | (_, Err(e)) => {
                        let err = ClientError::Invalid(format!(
                            "Error deserializing key/value for partition {tp} at offset {}: {e}. If needed, please seek past the record to continue consumption.",
                            r.offset
                        ));
                        if out.is_empty() {
                            return Err(err);
                        }
                        return Ok(out);
                    }
                };
                let Some(r) = b.records.next() else { break };
                st.position = Some(r.offset + 1);
                out.push(ConsumerRecord {
                    topic: st.topic.clone(),
                    partition: tp.partition,
                    offset: r.offset,
                    timestamp: r.timestamp,
                    timestamp_type: if r.log_append_time {
                        TimestampType::LogAppendTime
                    } else {
                        TimestampType::CreateTime
                    },
                    leader_epoch: (r.leader_epoch >= 0).then_some(r.leader_epoch),
                    serialized_key_size: r.key.as_ref().map_or(-1, |k| k.len() as i32),
                    serialized_value_size: r.value.as_ref().map_or(-1, |v| v.len() as i32),
                    key,
                    value,
                    headers: r.headers,
                });
                if r.leader_epoch >= 0 {
                    st.leader_epoch = Some(r.leader_epoch);
                }
            }
        }
        Ok(out)
    }

    /// Gives every assigned partition a position: the committed offset, else a reset.
    pub(crate) async fn update_positions(&mut self) -> Result<()> {
        let unknown: Vec<TopicPartition> = self
            .state
            .parts
            .iter()
            .filter(|(_, st)| st.position.is_none() && st.reset.is_none())
            .map(|(tp, _)| tp.clone())
            .collect();
        if !unknown.is_empty() {
            let committed = match &self.config.group_id {
                Some(g) => self.client.list_group_offsets(g, Some(&unknown)).await?,
                None => BTreeMap::new(),
            };
            let mut undefined = Vec::new();
            for tp in unknown {
                let Some(st) = self.state.parts.get_mut(&tp) else {
                    continue;
                };
                match committed.get(&tp) {
                    Some(c) => st.seek(c.offset),
                    None => match self.config.auto_offset_reset {
                        OffsetReset::Earliest => st.reset = Some(ResetTo::Earliest),
                        OffsetReset::Latest => st.reset = Some(ResetTo::Latest),
                        OffsetReset::None => undefined.push(tp.to_string()),
                    },
                }
            }
            if !undefined.is_empty() {
                return Err(ClientError::NoOffsetForPartition {
                    partitions: undefined,
                });
            }
        }
        let mut by_topic: BTreeMap<String, Vec<(i32, i64)>> = BTreeMap::new();
        for (tp, st) in &self.state.parts {
            if let Some(r) = st.reset {
                let ts = match r {
                    ResetTo::Earliest => EARLIEST_TIMESTAMP,
                    ResetTo::Latest => LATEST_TIMESTAMP,
                };
                by_topic
                    .entry(tp.topic.clone())
                    .or_default()
                    .push((tp.partition, ts));
            }
        }
        for (topic, qs) in by_topic {
            let offsets = self.client.list_offsets(&topic, &qs).await?;
            for (p, off, _) in offsets {
                let tp = TopicPartition::new(topic.clone(), p);
                if let Some(st) = self.state.parts.get_mut(&tp) {
                    if st.reset.is_some() {
                        st.seek(off);
                    }
                }
            }
        }
        Ok(())
    }

    /// Commits consumed positions when auto-commit is on and the interval passed (or
    /// `force`). Failures are logged; the next round retries.
    pub(crate) async fn maybe_auto_commit(&mut self, force: bool) {
        if !self.config.auto_commit_active() {
            return;
        }
        let now = Instant::now();
        if !force && now < self.next_auto_commit {
            return;
        }
        self.next_auto_commit = now + self.config.auto_commit_interval;
        let positions = self.state.positions();
        if positions.is_empty() {
            return;
        }
        if let Err(e) = self.commit_offsets(&positions).await {
            tracing::warn!("auto-commit of offsets failed: {e}");
        }
    }
}
