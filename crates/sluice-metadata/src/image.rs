//! The cluster image: what every broker knows about topics, partitions and config overrides,
//! built by applying metadata records in log order. Immutable snapshots are shared behind
//! `Arc` so request handlers read a consistent view without locks.

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

use crate::records::{BrokerEndpoint, MetadataRecord, RESOURCE_BROKER, RESOURCE_TOPIC};

/// A registered broker as the cluster knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerRegistration {
    pub id: i32,
    pub incarnation_id: Uuid,
    /// The metadata offset of its registration (Kafka's broker epoch).
    pub epoch: i64,
    pub endpoints: Vec<BrokerEndpoint>,
    pub rack: Option<String>,
    /// Fenced brokers lead nothing and are left out of Metadata responses.
    pub fenced: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub partition: i32,
    /// Assigned replicas in preference order; during a reassignment the target replicas
    /// followed by the original ones being removed (Kafka's order).
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// Replicas an ongoing reassignment adds (empty when none is in progress).
    pub adding_replicas: Vec<i32>,
    /// Replicas an ongoing reassignment removes once the targets are in the ISR.
    pub removing_replicas: Vec<i32>,
}

impl PartitionInfo {
    /// Whether a reassignment (KIP-455) is in progress.
    pub fn is_reassigning(&self) -> bool {
        !self.adding_replicas.is_empty() || !self.removing_replicas.is_empty()
    }

    /// The replicas the partition will have once its reassignment completes (the current
    /// replicas when none is in progress).
    pub fn target_replicas(&self) -> Vec<i32> {
        self.replicas
            .iter()
            .copied()
            .filter(|b| !self.removing_replicas.contains(b))
            .collect()
    }
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

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataImage {
    /// Registered brokers by id.
    pub brokers: BTreeMap<i32, BrokerRegistration>,
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

    /// Ids of registered, unfenced brokers (those that may host leaders and new replicas).
    pub fn live_brokers(&self) -> Vec<i32> {
        self.brokers
            .values()
            .filter(|b| !b.fenced)
            .map(|b| b.id)
            .collect()
    }

    pub fn topic_config(&self, name: &str) -> BTreeMap<String, String> {
        self.topic_configs.get(name).cloned().unwrap_or_default()
    }

    /// The records that rebuild this image from empty (a metadata snapshot's content): topics
    /// with their partitions, config overrides, the producer-id high-water mark. Applying them
    /// in order to an empty image gives an image equal to this one except `last_offset`, which
    /// the snapshot carries separately.
    pub fn to_records(&self) -> Vec<MetadataRecord> {
        let mut out = Vec::new();
        for b in self.brokers.values() {
            out.push(MetadataRecord::RegisterBroker {
                broker_id: b.id,
                incarnation_id: b.incarnation_id,
                epoch: b.epoch,
                endpoints: b.endpoints.clone(),
                rack: b.rack.clone(),
                fenced: b.fenced,
            });
        }
        for topic in self.topics.values() {
            out.push(MetadataRecord::Topic {
                name: topic.name.clone(),
                topic_id: topic.topic_id,
            });
            for p in &topic.partitions {
                out.push(MetadataRecord::Partition {
                    topic_id: topic.topic_id,
                    partition: p.partition,
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                    leader: p.leader,
                    leader_epoch: p.leader_epoch,
                    partition_epoch: p.partition_epoch,
                    adding_replicas: p.adding_replicas.clone(),
                    removing_replicas: p.removing_replicas.clone(),
                });
            }
        }
        let configs = [
            (RESOURCE_TOPIC, &self.topic_configs),
            (RESOURCE_BROKER, &self.broker_configs),
        ];
        for (resource_type, by_resource) in configs {
            let mut names: Vec<&String> = by_resource.keys().collect();
            names.sort();
            for resource_name in names {
                for (name, value) in &by_resource[resource_name] {
                    out.push(MetadataRecord::Config {
                        resource_type,
                        resource_name: resource_name.clone(),
                        name: name.clone(),
                        value: Some(value.clone()),
                    });
                }
            }
        }
        if self.next_producer_id > 0 {
            out.push(MetadataRecord::ProducerIds {
                broker_id: -1,
                next_producer_id: self.next_producer_id,
            });
        }
        out
    }

    pub fn apply(&mut self, offset: i64, record: &MetadataRecord) {
        self.last_offset = offset;
        match record {
            MetadataRecord::RegisterBroker {
                broker_id,
                incarnation_id,
                epoch,
                endpoints,
                rack,
                fenced,
            } => {
                self.brokers.insert(
                    *broker_id,
                    BrokerRegistration {
                        id: *broker_id,
                        incarnation_id: *incarnation_id,
                        epoch: *epoch,
                        endpoints: endpoints.clone(),
                        rack: rack.clone(),
                        fenced: *fenced,
                    },
                );
            }
            MetadataRecord::UnregisterBroker { broker_id, epoch } => {
                if self
                    .brokers
                    .get(broker_id)
                    .is_some_and(|b| b.epoch == *epoch)
                {
                    self.brokers.remove(broker_id);
                }
            }
            MetadataRecord::FenceBroker { broker_id, epoch }
            | MetadataRecord::UnfenceBroker { broker_id, epoch } => {
                let fence = matches!(record, MetadataRecord::FenceBroker { .. });
                if let Some(b) = self.brokers.get_mut(broker_id) {
                    if b.epoch == *epoch {
                        b.fenced = fence;
                    }
                }
            }
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
                adding_replicas,
                removing_replicas,
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
                    adding_replicas: adding_replicas.clone(),
                    removing_replicas: removing_replicas.clone(),
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
                let by_resource = match *resource_type {
                    RESOURCE_TOPIC => &mut self.topic_configs,
                    RESOURCE_BROKER => &mut self.broker_configs,
                    _ => return,
                };
                match value {
                    Some(v) => {
                        by_resource
                            .entry(resource_name.clone())
                            .or_default()
                            .insert(name.clone(), v.clone());
                    }
                    None => {
                        // Drop emptied maps so an image equals its snapshot's replay.
                        if let Some(map) = by_resource.get_mut(resource_name) {
                            map.remove(name);
                            if map.is_empty() {
                                by_resource.remove(resource_name);
                            }
                        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(records: &[MetadataRecord]) -> MetadataImage {
        let mut image = MetadataImage::empty();
        for (i, r) in records.iter().enumerate() {
            image.apply(i as i64, r);
        }
        image
    }

    #[test]
    fn to_records_rebuilds_the_same_image() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let part = |topic_id, partition, leader| MetadataRecord::Partition {
            topic_id,
            partition,
            replicas: vec![1, 2, 3],
            isr: vec![1, 2],
            leader,
            leader_epoch: 4,
            partition_epoch: 7,
            adding_replicas: if leader == 2 { vec![3] } else { vec![] },
            removing_replicas: if leader == 2 { vec![1] } else { vec![] },
        };
        let cfg = |resource_type, resource_name: &str, name: &str, value: Option<&str>| {
            MetadataRecord::Config {
                resource_type,
                resource_name: resource_name.into(),
                name: name.into(),
                value: value.map(Into::into),
            }
        };
        let history = vec![
            MetadataRecord::RegisterBroker {
                broker_id: 1,
                incarnation_id: a,
                epoch: 0,
                endpoints: vec![],
                rack: None,
                fenced: true,
            },
            MetadataRecord::UnfenceBroker {
                broker_id: 1,
                epoch: 0,
            },
            MetadataRecord::Topic {
                name: "a".into(),
                topic_id: a,
            },
            part(a, 0, 1),
            part(a, 1, 2),
            MetadataRecord::Topic {
                name: "b".into(),
                topic_id: b,
            },
            part(b, 0, 3),
            cfg(RESOURCE_TOPIC, "a", "retention.ms", Some("10")),
            cfg(RESOURCE_TOPIC, "b", "cleanup.policy", Some("compact")),
            cfg(RESOURCE_TOPIC, "b", "cleanup.policy", None),
            cfg(RESOURCE_BROKER, "", "log.retention.ms", Some("5")),
            part(a, 1, 3),
            MetadataRecord::ProducerIds {
                broker_id: 1,
                next_producer_id: 2000,
            },
            MetadataRecord::RemoveTopic { topic_id: b },
        ];
        let image = replay(&history);
        let mut rebuilt = replay(&image.to_records());
        assert_ne!(rebuilt.last_offset, image.last_offset);
        rebuilt.last_offset = image.last_offset;
        assert_eq!(rebuilt, image);
        assert_eq!(image.topics["a"].partitions[1].leader, 3);
        assert!(image.topic("b").is_none());
        assert!(!image.topic_configs.contains_key("b"));
    }
}
