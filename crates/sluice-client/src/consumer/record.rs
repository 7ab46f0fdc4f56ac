//! What `poll` returns: typed `ConsumerRecord`s grouped in `ConsumerRecords`, and the
//! `Deserializer` trait that turns a record's key and value bytes into the consumer's types
//! (bytes, UTF-8 strings, Kafka's big-endian integers). Deserializers must not panic on any
//! input: bad bytes are an error naming what was expected.

use std::sync::Arc;

use bytes::Bytes;

use crate::consumer_protocol::TopicPartition;

/// A record header (Kafka allows repeated keys and null values).
pub type Header = (String, Option<Bytes>);

/// How a record's timestamp was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// One record read from a partition (Kafka's ConsumerRecord).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord<K = Bytes, V = Bytes> {
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub timestamp_type: TimestampType,
    /// The partition leader epoch the batch was written in (`None` from old brokers).
    pub leader_epoch: Option<i32>,
    pub key: Option<K>,
    pub value: Option<V>,
    pub headers: Vec<Header>,
    /// Size of the key/value bytes before deserialization (-1 for null), as Kafka reports.
    pub serialized_key_size: i32,
    pub serialized_value_size: i32,
}

impl<K, V> ConsumerRecord<K, V> {
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(self.topic.as_ref(), self.partition)
    }
}

/// The records of one `poll`, in fetch order (per partition: offset order).
#[derive(Debug, Clone)]
pub struct ConsumerRecords<K = Bytes, V = Bytes> {
    records: Vec<ConsumerRecord<K, V>>,
}

impl<K, V> Default for ConsumerRecords<K, V> {
    fn default() -> Self {
        ConsumerRecords {
            records: Vec::new(),
        }
    }
}

impl<K, V> ConsumerRecords<K, V> {
    pub(crate) fn new(records: Vec<ConsumerRecord<K, V>>) -> Self {
        ConsumerRecords { records }
    }
    pub fn len(&self) -> usize {
        self.records.len()
    }
    /// Kafka's `count()`.
    pub fn count(&self) -> usize {
        self.records.len()
    }
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
    pub fn iter(&self) -> std::slice::Iter<'_, ConsumerRecord<K, V>> {
        self.records.iter()
    }
    /// The partitions that have records in this batch (sorted).
    pub fn partitions(&self) -> Vec<TopicPartition> {
        let mut v: Vec<TopicPartition> = self.records.iter().map(|r| r.topic_partition()).collect();
        v.sort();
        v.dedup();
        v
    }
    /// The records of one partition, in offset order.
    pub fn records(&self, tp: &TopicPartition) -> Vec<&ConsumerRecord<K, V>> {
        self.records
            .iter()
            .filter(|r| r.partition == tp.partition && *r.topic == *tp.topic)
            .collect()
    }
    pub fn into_vec(self) -> Vec<ConsumerRecord<K, V>> {
        self.records
    }
}

impl<K, V> IntoIterator for ConsumerRecords<K, V> {
    type Item = ConsumerRecord<K, V>;
    type IntoIter = std::vec::IntoIter<ConsumerRecord<K, V>>;
    fn into_iter(self) -> Self::IntoIter {
        self.records.into_iter()
    }
}

impl<'a, K, V> IntoIterator for &'a ConsumerRecords<K, V> {
    type Item = &'a ConsumerRecord<K, V>;
    type IntoIter = std::slice::Iter<'a, ConsumerRecord<K, V>>;
    fn into_iter(self) -> Self::IntoIter {
        self.records.iter()
    }
}

/// Turns key or value bytes into `T` (Kafka's Deserializer). Null keys/values never reach it:
/// they stay `None` in the record.
pub trait Deserializer<T>: Send + Sync {
    fn deserialize(&self, topic: &str, headers: &[Header], data: Bytes) -> Result<T, String>;
}

/// Bytes as they came (a zero-copy slice of the fetched buffer).
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesDeserializer;

impl Deserializer<Bytes> for BytesDeserializer {
    fn deserialize(&self, _: &str, _: &[Header], data: Bytes) -> Result<Bytes, String> {
        Ok(data)
    }
}

impl Deserializer<Vec<u8>> for BytesDeserializer {
    fn deserialize(&self, _: &str, _: &[Header], data: Bytes) -> Result<Vec<u8>, String> {
        Ok(data.to_vec())
    }
}

/// UTF-8 text (Kafka's StringDeserializer with the default encoding).
#[derive(Debug, Clone, Copy, Default)]
pub struct StringDeserializer;

impl Deserializer<String> for StringDeserializer {
    fn deserialize(&self, _: &str, _: &[Header], data: Bytes) -> Result<String, String> {
        String::from_utf8(data.to_vec()).map_err(|e| format!("not valid UTF-8: {e}"))
    }
}

/// Kafka's LongDeserializer: exactly 8 big-endian bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct LongDeserializer;

impl Deserializer<i64> for LongDeserializer {
    fn deserialize(&self, _: &str, _: &[Header], data: Bytes) -> Result<i64, String> {
        let b: [u8; 8] = data[..].try_into().map_err(|_| {
            format!(
                "Size of data received by LongDeserializer is not 8 (got {})",
                data.len()
            )
        })?;
        Ok(i64::from_be_bytes(b))
    }
}

/// Kafka's IntegerDeserializer: exactly 4 big-endian bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct IntegerDeserializer;

impl Deserializer<i32> for IntegerDeserializer {
    fn deserialize(&self, _: &str, _: &[Header], data: Bytes) -> Result<i32, String> {
        let b: [u8; 4] = data[..].try_into().map_err(|_| {
            format!(
                "Size of data received by IntegerDeserializer is not 4 (got {})",
                data.len()
            )
        })?;
        Ok(i32::from_be_bytes(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_deserializers_check_sizes() {
        let d = LongDeserializer;
        assert_eq!(
            d.deserialize("t", &[], Bytes::from(7i64.to_be_bytes().to_vec())),
            Ok(7)
        );
        assert!(d.deserialize("t", &[], Bytes::from_static(b"abc")).is_err());
        assert!(IntegerDeserializer
            .deserialize("t", &[], Bytes::from_static(b"abcde"))
            .is_err());
        assert!(StringDeserializer
            .deserialize("t", &[], Bytes::from_static(&[0xff, 0xfe]))
            .is_err());
    }
}
