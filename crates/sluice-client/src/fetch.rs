//! Fetch (sessionless, v4 up to what the broker advertises, topic ids from v13) and
//! ListOffsets, routed to partition leaders, plus decoding of fetched RecordBatches (every
//! codec) into `ConsumerRecord`s. Partial trailing batches are dropped, never decoded, and
//! control records are never returned to callers.

use std::collections::HashMap;

use bytes::{Buf, Bytes};
use sluice_protocol::kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use sluice_protocol::kafka_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsTopic,
};
use sluice_protocol::kafka_protocol::messages::{
    BrokerId, FetchRequest, ListOffsetsRequest, TopicName,
};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use sluice_protocol::kafka_protocol::records::{RecordBatchDecoder, TimestampType};

use crate::client::Client;
use crate::error::{ClientError, Result};

/// ListOffsets special timestamps.
pub const LATEST_TIMESTAMP: i64 = -1;
pub const EARLIEST_TIMESTAMP: i64 = -2;
pub const MAX_TIMESTAMP: i64 = -3;

/// A record read from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    /// True for LogAppendTime, false for CreateTime.
    pub log_append_time: bool,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// One partition to fetch from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchTarget {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// Fetch tuning.
#[derive(Debug, Clone, Copy)]
pub struct FetchOptions {
    pub max_wait_ms: i32,
    pub min_bytes: i32,
    pub max_bytes: i32,
    pub partition_max_bytes: i32,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            max_wait_ms: 500,
            min_bytes: 1,
            max_bytes: 52_428_800,
            partition_max_bytes: 1_048_576,
        }
    }
}

/// What one partition returned.
#[derive(Debug)]
pub struct PartitionFetch {
    pub topic: String,
    pub partition: i32,
    /// Records at or after the requested offset, in order; or the partition's error.
    pub records: Result<Vec<ConsumerRecord>>,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    /// Offset to fetch next (requested offset if nothing came back).
    pub next_offset: i64,
}

/// Splits a fetched records blob into whole batches and decodes them. Records before
/// `from_offset` (inside a compressed batch) and control batches are skipped.
pub fn decode_records(
    topic: &str,
    partition: i32,
    mut data: Bytes,
    from_offset: i64,
) -> Result<Vec<ConsumerRecord>> {
    let mut out = Vec::new();
    while data.len() >= 17 {
        let batch_len = i32::from_be_bytes([data[8], data[9], data[10], data[11]]);
        if batch_len < 0 {
            return Err(ClientError::Invalid(format!(
                "corrupt batch length {batch_len} in {topic}-{partition}"
            )));
        }
        let total = 12 + batch_len as usize;
        if data.len() < total {
            break; // partial batch at the end of a size-limited fetch
        }
        let mut batch = data.split_to(total);
        let magic = batch[16];
        if magic != 2 {
            continue;
        }
        let set = RecordBatchDecoder::decode(&mut batch).map_err(|e| {
            ClientError::Invalid(format!(
                "decoding a record batch of {topic}-{partition}: {e}"
            ))
        })?;
        for r in set.records {
            if r.control || r.offset < from_offset {
                continue;
            }
            out.push(ConsumerRecord {
                topic: topic.to_string(),
                partition,
                offset: r.offset,
                timestamp: r.timestamp,
                log_append_time: r.timestamp_type == TimestampType::LogAppend,
                key: r.key,
                value: r.value,
                headers: r
                    .headers
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            });
        }
    }
    // Some decoders leave trailing bytes; nothing more to read.
    let _ = data.remaining();
    Ok(out)
}

impl Client {
    /// Fetches from many partitions, one request per leader (leaders queried concurrently).
    pub async fn fetch_many(
        self: &std::sync::Arc<Self>,
        targets: &[FetchTarget],
        opts: &FetchOptions,
    ) -> Vec<PartitionFetch> {
        let mut by_leader: HashMap<i32, Vec<FetchTarget>> = HashMap::new();
        let mut out = Vec::new();
        for t in targets {
            match self.leader_for(&t.topic, t.partition, false).await {
                Ok(l) => by_leader.entry(l).or_default().push(t.clone()),
                Err(e) => out.push(failed(t, e)),
            }
        }
        let mut set = tokio::task::JoinSet::new();
        for (leader, ts) in by_leader {
            let client = self.clone();
            let opts = *opts;
            set.spawn(async move {
                match client.fetch_from(leader, &ts, &opts).await {
                    Ok(r) => r,
                    Err(e) => {
                        if e.needs_metadata_refresh() {
                            client.forget_broker(leader).await;
                        }
                        ts.iter()
                            .map(|t| failed(t, ClientError::Invalid(e.to_string())))
                            .collect()
                    }
                }
            });
        }
        while let Some(res) = set.join_next().await {
            if let Ok(r) = res {
                out.extend(r);
            }
        }
        // Refresh leaders for the next round if any partition moved.
        if out.iter().any(|p| {
            p.records
                .as_ref()
                .err()
                .is_some_and(|e| e.needs_metadata_refresh())
        }) {
            let topics: Vec<String> = {
                let mut v: Vec<String> = targets.iter().map(|t| t.topic.clone()).collect();
                v.sort();
                v.dedup();
                v
            };
            let _ = self.metadata(Some(&topics)).await;
        }
        out
    }

    async fn fetch_from(
        &self,
        leader: i32,
        targets: &[FetchTarget],
        opts: &FetchOptions,
    ) -> Result<Vec<PartitionFetch>> {
        let conn = self.broker_connection(leader).await?;
        let version = conn.version_for::<FetchRequest>(None)?;
        let mut topics: Vec<FetchTopic> = Vec::new();
        let mut ids = HashMap::new();
        for t in targets {
            let p = FetchPartition::default()
                .with_partition(t.partition)
                .with_fetch_offset(t.offset)
                .with_current_leader_epoch(-1)
                .with_last_fetched_epoch(-1)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(opts.partition_max_bytes);
            match topics.iter_mut().find(|ft| ft.topic.0.as_str() == t.topic) {
                Some(ft) => ft.partitions.push(p),
                None => {
                    let mut ft = FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(t.topic.clone())))
                        .with_partitions(vec![p]);
                    if version >= 13 {
                        let id = self.topic_metadata(&t.topic, false).await?.topic_id;
                        ids.insert(id, t.topic.clone());
                        ft = ft.with_topic_id(id);
                    }
                    topics.push(ft);
                }
            }
        }
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(opts.max_wait_ms)
            .with_min_bytes(opts.min_bytes)
            .with_max_bytes(opts.max_bytes)
            .with_isolation_level(0)
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(topics);
        let resp = conn.send_at(&req, version).await?;
        if let Some(e) = ClientError::from_code(resp.error_code, None) {
            return Err(e);
        }
        let mut out = Vec::new();
        for t in targets {
            let p = resp
                .responses
                .iter()
                .filter(|r| {
                    if version >= 13 {
                        ids.get(&r.topic_id).is_some_and(|n| *n == t.topic)
                    } else {
                        r.topic.0.as_str() == t.topic
                    }
                })
                .flat_map(|r| r.partitions.iter())
                .find(|p| p.partition_index == t.partition);
            let Some(p) = p else {
                out.push(failed(
                    t,
                    ClientError::Invalid(format!("no data for {}-{}", t.topic, t.partition)),
                ));
                continue;
            };
            let records = match ClientError::from_code(p.error_code, None) {
                Some(e) => Err(e),
                None => decode_records(
                    &t.topic,
                    t.partition,
                    p.records.clone().unwrap_or_default(),
                    t.offset,
                ),
            };
            let next_offset = match &records {
                Ok(rs) => rs.last().map_or(t.offset, |r| r.offset + 1),
                Err(_) => t.offset,
            };
            out.push(PartitionFetch {
                topic: t.topic.clone(),
                partition: t.partition,
                records,
                high_watermark: p.high_watermark,
                log_start_offset: p.log_start_offset,
                next_offset,
            });
        }
        Ok(out)
    }

    /// ListOffsets for partitions of one topic: `(partition, timestamp)` → `(partition,
    /// offset, timestamp)`. Timestamps: -1 latest, -2 earliest, -3 max timestamp, or ms.
    pub async fn list_offsets(
        &self,
        topic: &str,
        queries: &[(i32, i64)],
    ) -> Result<Vec<(i32, i64, i64)>> {
        let mut by_leader: HashMap<i32, Vec<(i32, i64)>> = HashMap::new();
        for &(p, ts) in queries {
            let leader = self.leader_for(topic, p, false).await?;
            by_leader.entry(leader).or_default().push((p, ts));
        }
        let mut out = Vec::new();
        for (leader, qs) in by_leader {
            let mut attempt = 0;
            loop {
                match self.list_offsets_from(leader, topic, &qs).await {
                    Ok(r) => {
                        out.extend(r);
                        break;
                    }
                    Err(e) if e.needs_metadata_refresh() && attempt < self.config().retries => {
                        self.forget_broker(leader).await;
                        self.backoff(attempt).await;
                        attempt += 1;
                        // Re-resolve: the leader may have moved.
                        let _ = self.topic_metadata(topic, true).await;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        out.sort_by_key(|r| r.0);
        Ok(out)
    }

    async fn list_offsets_from(
        &self,
        leader: i32,
        topic: &str,
        qs: &[(i32, i64)],
    ) -> Result<Vec<(i32, i64, i64)>> {
        let conn = self.broker_connection(leader).await?;
        let version = conn.version_for::<ListOffsetsRequest>(None)?;
        if qs.iter().any(|q| q.1 == MAX_TIMESTAMP) && version < 7 {
            return Err(ClientError::Invalid(
                "the broker does not support --time -3 (max timestamp)".into(),
            ));
        }
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(0)
            .with_timeout_ms(self.config().request_timeout.as_millis() as i32)
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(
                    qs.iter()
                        .map(|&(p, ts)| {
                            ListOffsetsPartition::default()
                                .with_partition_index(p)
                                .with_current_leader_epoch(-1)
                                .with_timestamp(ts)
                        })
                        .collect(),
                )]);
        let resp = conn.send_at(&req, version).await?;
        let mut out = Vec::new();
        for t in resp.topics.iter().filter(|t| t.name.0.as_str() == topic) {
            for p in &t.partitions {
                if let Some(e) = ClientError::from_code(p.error_code, None) {
                    return Err(e);
                }
                out.push((p.partition_index, p.offset, p.timestamp));
            }
        }
        Ok(out)
    }
}

fn failed(t: &FetchTarget, e: ClientError) -> PartitionFetch {
    PartitionFetch {
        topic: t.topic.clone(),
        partition: t.partition,
        records: Err(e),
        high_watermark: -1,
        log_start_offset: -1,
        next_offset: t.offset,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::produce::{encode_batch, ProduceRecord};
    use sluice_protocol::kafka_protocol::records::Compression;

    #[test]
    fn decodes_whole_batches_and_drops_partial_tail() {
        let recs: Vec<ProduceRecord> = (0..3)
            .map(|i| ProduceRecord {
                value: Some(Bytes::from(format!("v{i}"))),
                ..Default::default()
            })
            .collect();
        let one = encode_batch(&recs, Compression::Lz4).unwrap();
        let mut blob = one.to_vec();
        blob.extend_from_slice(&one[..one.len() / 2]);
        let got = decode_records("t", 0, Bytes::from(blob), 1).unwrap();
        assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(got[0].value.as_deref(), Some(&b"v1"[..]));
    }
}
