//! Kafka's consumer embedded protocol: the bytes a "consumer" group carries inside JoinGroup
//! metadata (ConsumerProtocolSubscription) and SyncGroup/DescribeGroups assignments
//! (ConsumerProtocolAssignment), each an int16 version followed by the body. Encoding uses the
//! kafka-protocol types; decoding walks the bytes with a bounds-checked reader, because they
//! come from other clients and kafka-protocol 0.18 trusts array lengths (a hostile count
//! would make it reserve gigabytes and abort). Decoding never panics.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use sluice_protocol::kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use sluice_protocol::kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as SubscribedTopic;
use sluice_protocol::kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName,
};
use sluice_protocol::kafka_protocol::protocol::{Encodable, StrBytes};

use crate::error::{ClientError, Result};

/// The protocol type of groups formed by Kafka consumers.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// Versions this client writes (v0 is read by every consumer, old librdkafka included).
const SUBSCRIPTION_VERSION: i16 = 0;
const ASSIGNMENT_VERSION: i16 = 0;

/// A topic partition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl std::fmt::Display for TopicPartition {
    /// Kafka's `TopicPartition.toString`: `topic-partition`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

fn versioned(
    version: i16,
    body: impl FnOnce(&mut BytesMut) -> anyhow::Result<()>,
) -> Result<Bytes> {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&version.to_be_bytes());
    body(&mut buf).map_err(|e| ClientError::Invalid(format!("encoding consumer protocol: {e}")))?;
    Ok(buf.freeze())
}

/// JoinGroup metadata for a consumer subscribed to `topics`.
pub fn encode_subscription(topics: &[String]) -> Result<Bytes> {
    let sub = ConsumerProtocolSubscription::default().with_topics(
        topics
            .iter()
            .map(|t| StrBytes::from_string(t.clone()))
            .collect(),
    );
    versioned(SUBSCRIPTION_VERSION, |b| {
        sub.encode(b, SUBSCRIPTION_VERSION)
    })
}

/// A member's assignment as SyncGroup carries it.
pub fn encode_assignment(partitions: &[TopicPartition]) -> Result<Bytes> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    let a = ConsumerProtocolAssignment::default().with_assigned_partitions(
        by_topic
            .into_iter()
            .map(|(t, ps)| {
                AssignedTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(t.to_string())))
                    .with_partitions(ps)
            })
            .collect(),
    );
    versioned(ASSIGNMENT_VERSION, |b| a.encode(b, ASSIGNMENT_VERSION))
}

/// Everything a member's ConsumerProtocolSubscription says (v0–v3): the assignors of the
/// group leader need the owned partitions and generation for sticky assignments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberSubscription {
    pub topics: Vec<String>,
    pub user_data: Option<Bytes>,
    /// Partitions the member owns now (v1+; empty for eager members, which revoke first).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation the owned partitions belong to (v2+), -1 when unknown.
    pub generation: i32,
}

/// JoinGroup metadata carrying owned partitions and generation (v2), for consumers whose
/// assignors are sticky or cooperative.
pub fn encode_subscription_with(
    topics: &[String],
    user_data: Option<Bytes>,
    owned: &[TopicPartition],
    generation: i32,
) -> Result<Bytes> {
    const V: i16 = 2;
    let sub = ConsumerProtocolSubscription::default()
        .with_topics(
            topics
                .iter()
                .map(|t| StrBytes::from_string(t.clone()))
                .collect(),
        )
        .with_user_data(user_data)
        .with_owned_partitions(
            by_topic(owned)
                .into_iter()
                .map(|(t, ps)| {
                    SubscribedTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(t.to_string())))
                        .with_partitions(ps)
                })
                .collect(),
        )
        .with_generation_id(generation);
    versioned(V, |b| sub.encode(b, V))
}

fn by_topic(partitions: &[TopicPartition]) -> BTreeMap<&str, Vec<i32>> {
    let mut m: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        m.entry(&tp.topic).or_default().push(tp.partition);
    }
    m
}

/// A whole ConsumerProtocolSubscription of any version (newer versions' extra trailing
/// fields are ignored).
pub fn decode_subscription(bytes: &[u8]) -> Result<MemberSubscription> {
    let mut r = Reader { buf: bytes };
    let version = r.version()?;
    let n = r.count(2)?;
    let mut out = MemberSubscription {
        generation: -1,
        ..Default::default()
    };
    for _ in 0..n {
        out.topics.push(r.string()?);
    }
    if r.buf.is_empty() {
        return Ok(out);
    }
    out.user_data = r.nullable_bytes()?;
    if version >= 1 {
        out.owned_partitions = r.topic_partitions()?;
    }
    if version >= 2 {
        out.generation = r.i32()?;
    }
    Ok(out)
}

/// Kafka's StickyAssignorUserData v1 (what eager `sticky` members carry instead of owned
/// partitions): the previous assignment and its generation.
pub fn encode_sticky_user_data(owned: &[TopicPartition], generation: i32) -> Bytes {
    let mut b = BytesMut::new();
    let topics = by_topic(owned);
    b.extend_from_slice(&(topics.len() as i32).to_be_bytes());
    for (t, ps) in topics {
        b.extend_from_slice(&(t.len() as i16).to_be_bytes());
        b.extend_from_slice(t.as_bytes());
        b.extend_from_slice(&(ps.len() as i32).to_be_bytes());
        for p in ps {
            b.extend_from_slice(&p.to_be_bytes());
        }
    }
    b.extend_from_slice(&generation.to_be_bytes());
    b.freeze()
}

/// Decodes StickyAssignorUserData (v0 has no generation: -1).
pub fn decode_sticky_user_data(bytes: &[u8]) -> Result<(Vec<TopicPartition>, i32)> {
    let mut r = Reader { buf: bytes };
    let owned = r.topic_partitions()?;
    let generation = if r.buf.len() >= 4 { r.i32()? } else { -1 };
    Ok((owned, generation))
}

/// The topics of a ConsumerProtocolSubscription (any version: the topic list comes first).
pub fn decode_subscription_topics(bytes: &[u8]) -> Result<Vec<String>> {
    let mut r = Reader { buf: bytes };
    r.version()?;
    let n = r.count(2)?;
    let mut topics = Vec::with_capacity(n);
    for _ in 0..n {
        topics.push(r.string()?);
    }
    Ok(topics)
}

/// The partitions of a ConsumerProtocolAssignment (any version: the partition list comes
/// first). Empty bytes (a member that has no assignment yet) decode to no partitions.
pub fn decode_assignment(bytes: &[u8]) -> Result<Vec<TopicPartition>> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let mut r = Reader { buf: bytes };
    r.version()?;
    let topics = r.count(6)?;
    let mut out = Vec::new();
    for _ in 0..topics {
        let topic = r.string()?;
        let n = r.count(4)?;
        for _ in 0..n {
            out.push(TopicPartition::new(topic.clone(), r.i32()?));
        }
    }
    Ok(out)
}

/// A bounds-checked big-endian reader over untrusted bytes.
struct Reader<'a> {
    buf: &'a [u8],
}

impl Reader<'_> {
    fn bad(what: &str) -> ClientError {
        ClientError::Invalid(format!("malformed consumer protocol data: {what}"))
    }

    fn take(&mut self, n: usize) -> Result<&[u8]> {
        if self.buf.len() < n {
            return Err(Self::bad("truncated"));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn i16(&mut self) -> Result<i16> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Result<i32> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn version(&mut self) -> Result<i16> {
        let v = self.i16()?;
        if v < 0 {
            return Err(Self::bad("negative version"));
        }
        Ok(v)
    }

    /// An array length whose elements take at least `min_size` bytes each.
    fn count(&mut self, min_size: usize) -> Result<usize> {
        let n = self.i32()?;
        if n < 0 {
            return Err(Self::bad("null array"));
        }
        let n = n as usize;
        if n.saturating_mul(min_size) > self.buf.len() {
            return Err(Self::bad("array longer than the data"));
        }
        Ok(n)
    }

    fn nullable_bytes(&mut self) -> Result<Option<Bytes>> {
        let len = self.i32()?;
        if len < 0 {
            return Ok(None);
        }
        Ok(Some(Bytes::copy_from_slice(self.take(len as usize)?)))
    }

    /// `[topic string, [partition int32]]`.
    fn topic_partitions(&mut self) -> Result<Vec<TopicPartition>> {
        let topics = self.count(6)?;
        let mut out = Vec::new();
        for _ in 0..topics {
            let topic = self.string()?;
            let n = self.count(4)?;
            for _ in 0..n {
                out.push(TopicPartition::new(topic.clone(), self.i32()?));
            }
        }
        Ok(out)
    }

    fn string(&mut self) -> Result<String> {
        let len = self.i16()?;
        if len < 0 {
            return Err(Self::bad("null string"));
        }
        let b = self.take(len as usize)?;
        String::from_utf8(b.to_vec()).map_err(|_| Self::bad("string is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_round_trip() {
        let tps = vec![
            TopicPartition::new("b", 1),
            TopicPartition::new("a", 0),
            TopicPartition::new("a", 2),
        ];
        let bytes = encode_assignment(&tps).unwrap();
        let mut got = decode_assignment(&bytes).unwrap();
        got.sort();
        let mut want = tps;
        want.sort();
        assert_eq!(got, want);
        assert!(decode_assignment(&[]).unwrap().is_empty());
    }

    #[test]
    fn subscription_round_trip() {
        let bytes = encode_subscription(&["orders".into(), "x".into()]).unwrap();
        assert_eq!(&bytes[..2], &[0, 0]);
        assert_eq!(
            decode_subscription_topics(&bytes).unwrap(),
            vec!["orders", "x"]
        );
    }

    #[test]
    fn reads_newer_versions_by_their_leading_fields() {
        // v3 assignment: partitions, then user data (null).
        let mut b = vec![
            0, 3, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 5,
        ];
        b.extend((-1i32).to_be_bytes());
        assert_eq!(
            decode_assignment(&b).unwrap(),
            vec![TopicPartition::new("t", 4), TopicPartition::new("t", 5)]
        );
    }

    #[test]
    fn full_subscription_round_trip() {
        let owned = vec![TopicPartition::new("a", 0), TopicPartition::new("b", 3)];
        let bytes = encode_subscription_with(&["a".into(), "b".into()], None, &owned, 7).unwrap();
        let got = decode_subscription(&bytes).unwrap();
        assert_eq!(got.topics, vec!["a", "b"]);
        assert_eq!(got.owned_partitions, owned);
        assert_eq!(got.generation, 7);
        assert_eq!(got.user_data, None);
        let v0 = decode_subscription(&encode_subscription(&["x".into()]).unwrap()).unwrap();
        assert_eq!(v0.topics, vec!["x"]);
        assert_eq!(v0.generation, -1);
        let ud = encode_sticky_user_data(&owned, 4);
        assert_eq!(decode_sticky_user_data(&ud).unwrap(), (owned, 4));
    }

    #[test]
    fn hostile_bytes_are_errors() {
        assert!(decode_assignment(&[0]).is_err());
        assert!(decode_assignment(&[0, 0, 0x7f, 0xff, 0xff, 0xff]).is_err());
        assert!(decode_assignment(&[0xff, 0xff, 0, 0, 0, 0]).is_err());
        assert!(decode_subscription_topics(&[0, 0, 0, 0, 0, 1, 0, 9, b'a']).is_err());
        assert!(decode_subscription_topics(&[0, 1, 0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
