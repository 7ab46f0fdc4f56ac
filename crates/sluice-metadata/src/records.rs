//! Metadata records: Kafka's metadata record kinds (RegisterBrokerRecord, UnregisterBrokerRecord,
//! FenceBrokerRecord, UnfenceBrokerRecord, TopicRecord, PartitionRecord, ConfigRecord,
//! RemoveTopicRecord, ProducerIdsRecord) and their versioned binary encoding.
//! Decoding is defensive: bytes come from disk (and later from the Raft log) and must never
//! make this code panic.

use thiserror::Error;
use uuid::Uuid;

/// Config resource types, with Kafka's ids.
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

/// One listener of a registered broker.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BrokerEndpoint {
    pub listener: String,
    pub host: String,
    pub port: i32,
    /// Kafka's security protocol id (0 = PLAINTEXT, 1 = SSL, 2 = SASL_PLAINTEXT, 3 = SASL_SSL).
    pub security_protocol: i16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataRecord {
    /// A broker (re-)registered: its endpoints and rack; a new registration starts fenced
    /// (Kafka's RegisterBrokerRecord). `epoch` is the metadata offset it was written at.
    RegisterBroker {
        broker_id: i32,
        incarnation_id: Uuid,
        epoch: i64,
        endpoints: Vec<BrokerEndpoint>,
        rack: Option<String>,
        fenced: bool,
    },
    /// The broker is gone from the cluster (Kafka's UnregisterBrokerRecord).
    UnregisterBroker { broker_id: i32, epoch: i64 },
    /// The broker missed its session (or shut down): it hosts no leaders (FenceBrokerRecord).
    FenceBroker { broker_id: i32, epoch: i64 },
    /// The broker caught up and may lead again (UnfenceBrokerRecord).
    UnfenceBroker { broker_id: i32, epoch: i64 },
    /// A topic exists with this name and id (Kafka's TopicRecord).
    Topic { name: String, topic_id: Uuid },
    /// A partition's full state (Kafka's PartitionRecord; also used for changes). During a
    /// reassignment `replicas` is the union of target and original replicas (target first),
    /// `adding_replicas` / `removing_replicas` what the reassignment adds / removes (KIP-455);
    /// both are empty otherwise.
    Partition {
        topic_id: Uuid,
        partition: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        adding_replicas: Vec<i32>,
        removing_replicas: Vec<i32>,
    },
    /// A config override; `value: None` deletes it (Kafka's ConfigRecord).
    Config {
        resource_type: i8,
        resource_name: String,
        name: String,
        value: Option<String>,
    },
    /// The topic and all its partitions are gone (Kafka's RemoveTopicRecord).
    RemoveTopic { topic_id: Uuid },
    /// Producer ids below `next_producer_id` are handed out (Kafka's ProducerIdsRecord).
    ProducerIds {
        broker_id: i32,
        next_producer_id: i64,
    },
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("metadata record truncated")]
    Truncated,
    #[error("unknown metadata record kind {0} version {1}")]
    Unknown(u8, u8),
    #[error("invalid utf-8 in metadata record")]
    Utf8,
}

const REGISTER_BROKER: u8 = 0;
const UNREGISTER_BROKER: u8 = 1;
const TOPIC: u8 = 2;
const PARTITION: u8 = 3;
const CONFIG: u8 = 4;
const REMOVE_TOPIC: u8 = 9;
const FENCE_BROKER: u8 = 7;
const UNFENCE_BROKER: u8 = 8;
const PRODUCER_IDS: u8 = 15;
const VERSION: u8 = 0;
/// Partition records with a reassignment in progress: version 0 plus the adding and removing
/// replica lists. Records without one are still written as version 0, so logs stay readable
/// by older binaries and old logs/snapshots decode unchanged.
const PARTITION_VERSION_REASSIGNMENT: u8 = 1;

struct Writer(Vec<u8>);
impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v)
    }
    fn i16(&mut self, v: i16) {
        self.0.extend_from_slice(&v.to_be_bytes())
    }
    fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_be_bytes())
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_be_bytes())
    }
    fn str(&mut self, s: &str) {
        self.i32(s.len() as i32);
        self.0.extend_from_slice(s.as_bytes());
    }
    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => self.i32(-1),
        }
    }
    fn uuid(&mut self, u: &Uuid) {
        self.0.extend_from_slice(u.as_bytes())
    }
    fn ids(&mut self, v: &[i32]) {
        self.i32(v.len() as i32);
        for x in v {
            self.i32(*x);
        }
    }
}

struct Reader<'a>(&'a [u8]);
impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn i16(&mut self) -> Result<i16, DecodeError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Result<i32, DecodeError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i64(&mut self) -> Result<i64, DecodeError> {
        let mut x = [0u8; 8];
        x.copy_from_slice(self.take(8)?);
        Ok(i64::from_be_bytes(x))
    }
    fn opt_str(&mut self) -> Result<Option<String>, DecodeError> {
        let len = self.i32()?;
        if len < 0 {
            return Ok(None);
        }
        let b = self.take(len as usize)?;
        String::from_utf8(b.to_vec())
            .map(Some)
            .map_err(|_| DecodeError::Utf8)
    }
    fn str(&mut self) -> Result<String, DecodeError> {
        self.opt_str()?.ok_or(DecodeError::Truncated)
    }
    fn uuid(&mut self) -> Result<Uuid, DecodeError> {
        let mut x = [0u8; 16];
        x.copy_from_slice(self.take(16)?);
        Ok(Uuid::from_bytes(x))
    }
    fn ids(&mut self) -> Result<Vec<i32>, DecodeError> {
        let n = self.i32()?;
        if n < 0 || n as usize > self.0.len() / 4 {
            return Err(DecodeError::Truncated);
        }
        (0..n).map(|_| self.i32()).collect()
    }
}

impl MetadataRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(64));
        match self {
            MetadataRecord::RegisterBroker {
                broker_id,
                incarnation_id,
                epoch,
                endpoints,
                rack,
                fenced,
            } => {
                w.u8(REGISTER_BROKER);
                w.u8(VERSION);
                w.i32(*broker_id);
                w.uuid(incarnation_id);
                w.i64(*epoch);
                w.i32(endpoints.len() as i32);
                for e in endpoints {
                    w.str(&e.listener);
                    w.str(&e.host);
                    w.i32(e.port);
                    w.i16(e.security_protocol);
                }
                w.opt_str(rack.as_deref());
                w.u8(*fenced as u8);
            }
            MetadataRecord::UnregisterBroker { broker_id, epoch } => {
                w.u8(UNREGISTER_BROKER);
                w.u8(VERSION);
                w.i32(*broker_id);
                w.i64(*epoch);
            }
            MetadataRecord::FenceBroker { broker_id, epoch } => {
                w.u8(FENCE_BROKER);
                w.u8(VERSION);
                w.i32(*broker_id);
                w.i64(*epoch);
            }
            MetadataRecord::UnfenceBroker { broker_id, epoch } => {
                w.u8(UNFENCE_BROKER);
                w.u8(VERSION);
                w.i32(*broker_id);
                w.i64(*epoch);
            }
            MetadataRecord::Topic { name, topic_id } => {
                w.u8(TOPIC);
                w.u8(VERSION);
                w.str(name);
                w.uuid(topic_id);
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
                let reassigning = !adding_replicas.is_empty() || !removing_replicas.is_empty();
                w.u8(PARTITION);
                w.u8(if reassigning {
                    PARTITION_VERSION_REASSIGNMENT
                } else {
                    VERSION
                });
                w.uuid(topic_id);
                w.i32(*partition);
                w.ids(replicas);
                w.ids(isr);
                w.i32(*leader);
                w.i32(*leader_epoch);
                w.i32(*partition_epoch);
                if reassigning {
                    w.ids(adding_replicas);
                    w.ids(removing_replicas);
                }
            }
            MetadataRecord::Config {
                resource_type,
                resource_name,
                name,
                value,
            } => {
                w.u8(CONFIG);
                w.u8(VERSION);
                w.u8(*resource_type as u8);
                w.str(resource_name);
                w.str(name);
                w.opt_str(value.as_deref());
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                w.u8(REMOVE_TOPIC);
                w.u8(VERSION);
                w.uuid(topic_id);
            }
            MetadataRecord::ProducerIds {
                broker_id,
                next_producer_id,
            } => {
                w.u8(PRODUCER_IDS);
                w.u8(VERSION);
                w.i32(*broker_id);
                w.i64(*next_producer_id);
            }
        }
        w.0
    }

    pub fn decode(bytes: &[u8]) -> Result<MetadataRecord, DecodeError> {
        let mut r = Reader(bytes);
        let kind = r.u8()?;
        let version = r.u8()?;
        let known =
            version == VERSION || (kind == PARTITION && version == PARTITION_VERSION_REASSIGNMENT);
        if !known {
            return Err(DecodeError::Unknown(kind, version));
        }
        Ok(match kind {
            REGISTER_BROKER => {
                let broker_id = r.i32()?;
                let incarnation_id = r.uuid()?;
                let epoch = r.i64()?;
                let n = r.i32()?;
                // Each endpoint takes at least 14 bytes: refuse counts the input cannot hold.
                if n < 0 || n as usize > r.0.len() / 14 {
                    return Err(DecodeError::Truncated);
                }
                let endpoints = (0..n)
                    .map(|_| {
                        Ok(BrokerEndpoint {
                            listener: r.str()?,
                            host: r.str()?,
                            port: r.i32()?,
                            security_protocol: r.i16()?,
                        })
                    })
                    .collect::<Result<Vec<_>, DecodeError>>()?;
                MetadataRecord::RegisterBroker {
                    broker_id,
                    incarnation_id,
                    epoch,
                    endpoints,
                    rack: r.opt_str()?,
                    fenced: r.u8()? != 0,
                }
            }
            UNREGISTER_BROKER => MetadataRecord::UnregisterBroker {
                broker_id: r.i32()?,
                epoch: r.i64()?,
            },
            FENCE_BROKER => MetadataRecord::FenceBroker {
                broker_id: r.i32()?,
                epoch: r.i64()?,
            },
            UNFENCE_BROKER => MetadataRecord::UnfenceBroker {
                broker_id: r.i32()?,
                epoch: r.i64()?,
            },
            TOPIC => MetadataRecord::Topic {
                name: r.str()?,
                topic_id: r.uuid()?,
            },
            PARTITION => MetadataRecord::Partition {
                topic_id: r.uuid()?,
                partition: r.i32()?,
                replicas: r.ids()?,
                isr: r.ids()?,
                leader: r.i32()?,
                leader_epoch: r.i32()?,
                partition_epoch: r.i32()?,
                adding_replicas: if version >= PARTITION_VERSION_REASSIGNMENT {
                    r.ids()?
                } else {
                    Vec::new()
                },
                removing_replicas: if version >= PARTITION_VERSION_REASSIGNMENT {
                    r.ids()?
                } else {
                    Vec::new()
                },
            },
            CONFIG => MetadataRecord::Config {
                resource_type: r.u8()? as i8,
                resource_name: r.str()?,
                name: r.str()?,
                value: r.opt_str()?,
            },
            REMOVE_TOPIC => MetadataRecord::RemoveTopic {
                topic_id: r.uuid()?,
            },
            PRODUCER_IDS => MetadataRecord::ProducerIds {
                broker_id: r.i32()?,
                next_producer_id: r.i64()?,
            },
            other => return Err(DecodeError::Unknown(other, version)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_roundtrips_and_truncation_is_an_error() {
        let id = Uuid::new_v4();
        let all = vec![
            MetadataRecord::RegisterBroker {
                broker_id: 2,
                incarnation_id: id,
                epoch: 17,
                endpoints: vec![BrokerEndpoint {
                    listener: "PLAINTEXT".into(),
                    host: "localhost".into(),
                    port: 9092,
                    security_protocol: 0,
                }],
                rack: Some("r1".into()),
                fenced: true,
            },
            MetadataRecord::UnregisterBroker {
                broker_id: 2,
                epoch: 17,
            },
            MetadataRecord::FenceBroker {
                broker_id: 2,
                epoch: 17,
            },
            MetadataRecord::UnfenceBroker {
                broker_id: 2,
                epoch: 17,
            },
            MetadataRecord::Topic {
                name: "t".into(),
                topic_id: id,
            },
            MetadataRecord::Partition {
                topic_id: id,
                partition: 3,
                replicas: vec![1, 2],
                isr: vec![1],
                leader: 1,
                leader_epoch: 4,
                partition_epoch: 5,
                adding_replicas: vec![],
                removing_replicas: vec![],
            },
            MetadataRecord::Partition {
                topic_id: id,
                partition: 3,
                replicas: vec![3, 1, 2],
                isr: vec![1, 2],
                leader: 1,
                leader_epoch: 4,
                partition_epoch: 6,
                adding_replicas: vec![3],
                removing_replicas: vec![2],
            },
            MetadataRecord::Config {
                resource_type: RESOURCE_TOPIC,
                resource_name: "t".into(),
                name: "retention.ms".into(),
                value: None,
            },
            MetadataRecord::RemoveTopic { topic_id: id },
            MetadataRecord::ProducerIds {
                broker_id: 1,
                next_producer_id: 1000,
            },
        ];
        for rec in all {
            let bytes = rec.encode();
            assert_eq!(MetadataRecord::decode(&bytes).unwrap(), rec);
            for cut in 0..bytes.len() {
                assert!(MetadataRecord::decode(&bytes[..cut]).is_err());
            }
        }
    }

    /// A version-0 partition record (as written before reassignments existed) still decodes,
    /// with no reassignment; a reassigning one is written as version 1.
    #[test]
    fn partition_records_stay_backward_compatible() {
        let id = Uuid::from_u128(7);
        let mut v0 = vec![PARTITION, 0];
        v0.extend_from_slice(id.as_bytes());
        for x in [0i32, 2, 1, 2, 1, 1, 1, 0, 0] {
            v0.extend_from_slice(&x.to_be_bytes());
        }
        let plain = MetadataRecord::Partition {
            topic_id: id,
            partition: 0,
            replicas: vec![1, 2],
            isr: vec![1],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: vec![],
            removing_replicas: vec![],
        };
        assert_eq!(MetadataRecord::decode(&v0).unwrap(), plain);
        assert_eq!(plain.encode(), v0);
        let MetadataRecord::Partition {
            topic_id,
            partition,
            replicas,
            isr,
            leader,
            leader_epoch,
            partition_epoch,
            ..
        } = plain
        else {
            unreachable!()
        };
        let moving = MetadataRecord::Partition {
            topic_id,
            partition,
            replicas,
            isr,
            leader,
            leader_epoch,
            partition_epoch,
            adding_replicas: vec![3],
            removing_replicas: vec![],
        };
        assert_eq!(moving.encode()[1], 1);
        // Other kinds know no version 1.
        let mut topic = MetadataRecord::RemoveTopic { topic_id: id }.encode();
        topic[1] = 1;
        assert!(MetadataRecord::decode(&topic).is_err());
    }
}
