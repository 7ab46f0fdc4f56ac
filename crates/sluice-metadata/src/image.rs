//! The cluster image: what every broker knows about topics, partitions and config overrides,
//! built by applying metadata records in log order. Immutable snapshots are shared behind
//! `Arc` so request handlers read a consistent view without locks.

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

use crate::records::{MetadataRecord, RESOURCE_BROKER, RESOURCE_TOPIC};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: String,
    pub topic_id: Uuid,
    /// Indexed by partition number.
    pub partitions: Vec<PartitionInfo>,
}

impl TopicInfo {
    pub fn is_internal(&self) -> bool {
        self.name.starts_with("__")
    }
}

#[derive(Debug, Clone, Default)]
pub struct MetadataImage {
    pub topics: BTreeMap<String, TopicInfo>,
    pub topic_names: HashMap<Uuid, String>,
    /// Topic config overrides by topic name.
    pub topic_configs: HashMap<String, BTreeMap<String, String>>,
    /// Dynamic broker configs by broker id ("" = cluster default).
    pub broker_configs: HashMap<String, BTreeMap<String, String>>,
    pub next_producer_id: i64,
    /// Offset of the last record applied (-1 when empty).
    pub last_offset: i64,
}

impl MetadataImage {
    pub fn empty() -> Self {
        MetadataImage {
            last_offset: -1,
            ..Default::default()
        }
    }

    pub fn topic(&self, name: &str) -> Option<&TopicInfo> {
        self.topics.get(name)
    }

    pub fn topic_by_id(&self, id: &Uuid) -> Option<&TopicInfo> {
        self.topic_names.get(id).and_then(|n| self.topics.get(n))
    }

    pub fn topic_config(&self, name: &str) -> BTreeMap<String, String> {
        self.topic_configs.get(name).cloned().unwrap_or_default()
    }

    pub fn apply(&mut self, offset: i64, record: &MetadataRecord) {
        self.last_offset = offset;
        match record {
            MetadataRecord::Topic { name, topic_id } => {
                self.topic_names.insert(*topic_id, name.clone());
                self.topics.insert(
                    name.clone(),
                    TopicInfo {
                        name: name.clone(),
                        topic_id: *topic_id,
                        partitions: Vec::new(),
                    },
                );
            }
            MetadataRecord::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
                leader_epoch,
                partition_epoch,
            } => {
                let Some(name) = self.topic_names.get(topic_id) else {
                    return;
                };
                let Some(topic) = self.topics.get_mut(name) else {
                    return;
                };
                let info = PartitionInfo {
                    partition: *partition,
                    replicas: replicas.clone(),
                    isr: isr.clone(),
                    leader: *leader,
                    leader_epoch: *leader_epoch,
                    partition_epoch: *partition_epoch,
                };
                let idx = *partition as usize;
                if *partition < 0 {
                    return;
                }
                if idx < topic.partitions.len() {
                    topic.partitions[idx] = info;
                } else if idx == topic.partitions.len() {
                    topic.partitions.push(info);
                }
            }
            MetadataRecord::Config {
                resource_type,
                resource_name,
                name,
                value,
            } => {
                let map = match *resource_type {
                    RESOURCE_TOPIC => self.topic_configs.entry(resource_name.clone()).or_default(),
                    RESOURCE_BROKER => self
                        .broker_configs
                        .entry(resource_name.clone())
                        .or_default(),
                    _ => return,
                };
                match value {
                    Some(v) => {
                        map.insert(name.clone(), v.clone());
                    }
                    None => {
                        map.remove(name);
                    }
                }
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                if let Some(name) = self.topic_names.remove(topic_id) {
                    self.topics.remove(&name);
                    self.topic_configs.remove(&name);
                }
            }
            MetadataRecord::ProducerIds {
                next_producer_id, ..
            } => {
                self.next_producer_id = self.next_producer_id.max(*next_producer_id);
            }
        }
    }
}
