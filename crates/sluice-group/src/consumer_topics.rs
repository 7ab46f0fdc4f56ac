//! The consumer-group coordinator's view of the cluster's topics (by name and by id, pushed
//! from the broker's metadata image), how member subscriptions (names and whole-name
//! regexes) resolve against it, the subscription metadata hash whose change bumps the group
//! epoch, and Kafka-style member ids. Pure functions; no group state lives here.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use uuid::Uuid;

use crate::consumer_group::{ConsumerGroup, ConsumerMember};
use crate::types::TopicMetadata;

/// The topics of the metadata image, by name and by id.
#[derive(Debug, Default)]
pub(crate) struct TopicsImage {
    pub(crate) by_name: BTreeMap<String, (Uuid, i32)>,
    pub(crate) by_id: HashMap<Uuid, (String, i32)>,
}

impl TopicsImage {
    pub(crate) fn new(topics: Vec<TopicMetadata>) -> Self {
        let mut image = TopicsImage::default();
        for t in topics {
            image
                .by_id
                .insert(t.topic_id, (t.name.clone(), t.partitions));
            image.by_name.insert(t.name, (t.topic_id, t.partitions));
        }
        image
    }

    /// The existing topics a member subscribes to (names, plus regex matches among
    /// non-internal topics; Kafka's regexes must match the whole name).
    pub(crate) fn subscribed(&self, m: &ConsumerMember) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = m
            .subscribed_topic_names
            .iter()
            .filter(|t| self.by_name.contains_key(*t))
            .cloned()
            .collect();
        if let Some(re) = &m.regex {
            out.extend(
                self.by_name
                    .keys()
                    .filter(|t| !t.starts_with("__") && re.is_match(t.as_str()))
                    .cloned(),
            );
        }
        out
    }
}

pub(crate) fn compile_regex(pattern: &str) -> Option<regex_automata::meta::Regex> {
    regex_automata::meta::Regex::new(&format!("^(?:{pattern})$")).ok()
}

/// FNV-1a over the sorted (name, id, partitions) of the topics the group subscribes to.
pub(crate) fn metadata_hash(cg: &ConsumerGroup, topics: &TopicsImage) -> i64 {
    let mut names = BTreeSet::new();
    for m in cg.members.values() {
        names.extend(topics.subscribed(m));
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for name in &names {
        if let Some((id, n)) = topics.by_name.get(name) {
            feed(name.as_bytes());
            feed(&[0]);
            feed(id.as_bytes());
            feed(&n.to_be_bytes());
        }
    }
    h as i64
}

/// Kafka's `Uuid.randomUuid().toString()`: 16 random bytes in URL-safe base64, unpadded.
pub(crate) fn new_member_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = Uuid::new_v4().into_bytes();
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}
