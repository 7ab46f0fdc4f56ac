//! Produce: encoding records into v2 RecordBatches (any codec) and sending them to partition
//! leaders, one Produce request per leader, retrying after metadata refresh on leader moves.
//! No idempotence or transactions yet (producer id -1); a later producer builds on
//! `Client::produce_batches`. Never retries non-retriable errors.

use std::collections::HashMap;

use bytes::Bytes;
use sluice_protocol::encode::{encode_new_batch, NewRecord};
use sluice_protocol::kafka_protocol::messages::produce_request::{
    PartitionProduceData, TopicProduceData,
};
use sluice_protocol::kafka_protocol::messages::{ProduceRequest, TopicName};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use sluice_protocol::kafka_protocol::records::Compression;

use crate::client::Client;
use crate::error::{ClientError, Result};

/// Highest Produce version used: v13 addresses topics by id only.
const PRODUCE_MAX_VERSION: i16 = 12;

/// A record to produce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProduceRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
    /// CreateTime in ms; `None` = now.
    pub timestamp: Option<i64>,
}

impl ProduceRecord {
    /// Approximate encoded size, for batching decisions.
    pub fn size_estimate(&self) -> usize {
        let h: usize = self
            .headers
            .iter()
            .map(|(k, v)| k.len() + v.as_ref().map_or(0, |v| v.len()) + 4)
            .sum();
        16 + self.key.as_ref().map_or(0, |k| k.len())
            + self.value.as_ref().map_or(0, |v| v.len())
            + h
    }
}

/// How records are sent.
#[derive(Debug, Clone, Copy)]
pub struct ProduceOptions {
    /// 0, 1 or -1 (all).
    pub acks: i16,
    pub compression: Compression,
    pub timeout_ms: i32,
}

impl Default for ProduceOptions {
    fn default() -> Self {
        ProduceOptions {
            acks: -1,
            compression: Compression::None,
            timeout_ms: 30_000,
        }
    }
}

/// Parses Kafka's `compression.type` names.
pub fn parse_compression(name: &str) -> Option<Compression> {
    match name.to_ascii_lowercase().as_str() {
        "none" | "" => Some(Compression::None),
        "gzip" => Some(Compression::Gzip),
        "snappy" => Some(Compression::Snappy),
        "lz4" => Some(Compression::Lz4),
        "zstd" => Some(Compression::Zstd),
        _ => None,
    }
}

/// Records destined for one partition.
#[derive(Debug, Clone)]
pub struct PartitionBatch {
    pub topic: String,
    pub partition: i32,
    pub records: Vec<ProduceRecord>,
}

/// The outcome for one partition: base offset of the appended batch (-1 with acks=0).
#[derive(Debug)]
pub struct PartitionResult {
    pub topic: String,
    pub partition: i32,
    pub base_offset: Result<i64>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Encodes `records` as one v2 RecordBatch (base offset 0, no producer id).
pub fn encode_batch(records: &[ProduceRecord], compression: Compression) -> Result<Bytes> {
    let now = now_ms();
    let recs: Vec<NewRecord> = records
        .iter()
        .map(|r| NewRecord {
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r.headers.clone(),
            timestamp: r.timestamp.unwrap_or(now),
        })
        .collect();
    encode_new_batch(&recs, compression).map_err(ClientError::Invalid)
}

impl Client {
    /// Produces `records` to one partition; returns the base offset.
    pub async fn produce(
        &self,
        topic: &str,
        partition: i32,
        records: Vec<ProduceRecord>,
        opts: &ProduceOptions,
    ) -> Result<i64> {
        let mut res = self
            .produce_batches(
                vec![PartitionBatch {
                    topic: topic.to_string(),
                    partition,
                    records,
                }],
                opts,
            )
            .await;
        match res.pop() {
            Some(r) => r.base_offset,
            None => Err(ClientError::Invalid("no produce result".into())),
        }
    }

    /// Produces to many partitions: one request per leader, bounded retries for partitions
    /// whose leader moved. Results come back in input order.
    pub async fn produce_batches(
        &self,
        batches: Vec<PartitionBatch>,
        opts: &ProduceOptions,
    ) -> Vec<PartitionResult> {
        let mut results: Vec<Option<Result<i64>>> = (0..batches.len()).map(|_| None).collect();
        let mut encoded: Vec<Option<Bytes>> = Vec::with_capacity(batches.len());
        for (i, b) in batches.iter().enumerate() {
            match encode_batch(&b.records, opts.compression) {
                Ok(bytes) => encoded.push(Some(bytes)),
                Err(e) => {
                    results[i] = Some(Err(e));
                    encoded.push(None);
                }
            }
        }
        let mut pending: Vec<usize> = (0..batches.len())
            .filter(|i| results[*i].is_none())
            .collect();
        let mut attempt = 0;
        while !pending.is_empty() {
            let refresh = attempt > 0;
            let mut by_leader: HashMap<i32, Vec<usize>> = HashMap::new();
            let mut retry = Vec::new();
            for &i in &pending {
                match self
                    .leader_for(&batches[i].topic, batches[i].partition, refresh)
                    .await
                {
                    Ok(l) => by_leader.entry(l).or_default().push(i),
                    Err(e) if e.needs_metadata_refresh() && attempt < self.config().retries => {
                        retry.push(i)
                    }
                    Err(e) => results[i] = Some(Err(e)),
                }
            }
            for (leader, idxs) in by_leader {
                let outcome = self
                    .produce_to_leader(leader, &batches, &encoded, &idxs, opts)
                    .await;
                match outcome {
                    Ok(per) => {
                        for (i, r) in idxs.iter().zip(per) {
                            match r {
                                Err(e)
                                    if e.needs_metadata_refresh()
                                        && attempt < self.config().retries =>
                                {
                                    retry.push(*i)
                                }
                                r => results[*i] = Some(r),
                            }
                        }
                    }
                    Err(e) => {
                        self.forget_broker(leader).await;
                        let retriable =
                            e.needs_metadata_refresh() && attempt < self.config().retries;
                        for i in idxs {
                            if retriable {
                                retry.push(i);
                            } else {
                                results[i] = Some(Err(ClientError::Invalid(e.to_string())));
                            }
                        }
                    }
                }
            }
            pending = retry;
            if !pending.is_empty() {
                self.backoff(attempt).await;
                attempt += 1;
            }
        }
        batches
            .into_iter()
            .zip(results)
            .map(|(b, r)| PartitionResult {
                topic: b.topic,
                partition: b.partition,
                base_offset: r.unwrap_or_else(|| Err(ClientError::Invalid("not sent".into()))),
            })
            .collect()
    }

    async fn produce_to_leader(
        &self,
        leader: i32,
        batches: &[PartitionBatch],
        encoded: &[Option<Bytes>],
        idxs: &[usize],
        opts: &ProduceOptions,
    ) -> Result<Vec<Result<i64>>> {
        let conn = self.broker_connection(leader).await?;
        let mut topics: Vec<TopicProduceData> = Vec::new();
        for &i in idxs {
            let b = &batches[i];
            let data = PartitionProduceData::default()
                .with_index(b.partition)
                .with_records(encoded[i].clone());
            match topics.iter_mut().find(|t| t.name.0.as_str() == b.topic) {
                Some(t) => t.partition_data.push(data),
                None => topics.push(
                    TopicProduceData::default()
                        .with_name(TopicName(StrBytes::from_string(b.topic.clone())))
                        .with_partition_data(vec![data]),
                ),
            }
        }
        let req = ProduceRequest::default()
            .with_acks(opts.acks)
            .with_timeout_ms(opts.timeout_ms)
            .with_topic_data(topics);
        let version = conn.version_for::<ProduceRequest>(Some(PRODUCE_MAX_VERSION))?;
        if opts.acks == 0 {
            conn.send_no_response(&req, version).await?;
            return Ok(idxs.iter().map(|_| Ok(-1)).collect());
        }
        let resp = conn.send_at(&req, version).await?;
        Ok(idxs
            .iter()
            .map(|&i| {
                let b = &batches[i];
                let p = resp
                    .responses
                    .iter()
                    .filter(|t| t.name.0.as_str() == b.topic)
                    .flat_map(|t| t.partition_responses.iter())
                    .find(|p| p.index == b.partition);
                match p {
                    None => Err(ClientError::Invalid(format!(
                        "the broker did not answer for {}-{}",
                        b.topic, b.partition
                    ))),
                    Some(p) => match ClientError::from_code(
                        p.error_code,
                        p.error_message.as_ref().map(|m| m.to_string()),
                    ) {
                        Some(e) => Err(e),
                        None => Ok(p.base_offset),
                    },
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_protocol::kafka_protocol::records::RecordBatchDecoder;

    #[test]
    fn batch_round_trips_with_every_codec() {
        let records: Vec<ProduceRecord> = (0..5)
            .map(|i| ProduceRecord {
                key: (i % 2 == 0).then(|| Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(format!("value {i}"))),
                headers: vec![("h".into(), Some(Bytes::from_static(b"v")))],
                timestamp: Some(1_700_000_000_000 + i),
            })
            .collect();
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut bytes = encode_batch(&records, c).unwrap();
            let sets = RecordBatchDecoder::decode_all(&mut bytes).unwrap();
            assert_eq!(sets.len(), 1, "one batch for {c:?}");
            let got = &sets[0].records;
            assert_eq!(got.len(), 5);
            for (i, r) in got.iter().enumerate() {
                assert_eq!(r.offset, i as i64);
                assert_eq!(r.value, records[i].value);
                assert_eq!(r.key, records[i].key);
                assert_eq!(r.timestamp, 1_700_000_000_000 + i as i64);
                assert_eq!(r.sequence, -1 + i as i32);
            }
        }
    }
}
