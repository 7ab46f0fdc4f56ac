//! The KIP-848 consumer-group records of `__consumer_offsets`, byte for byte in Kafka's
//! layout (group-coordinator `ConsumerGroup*Key/Value.json`): keys are non-flexible and start
//! with the record type as an int16 (3 ConsumerGroupMetadata, 4 ConsumerGroupPartitionMetadata,
//! 5 ConsumerGroupMemberMetadata, 6 ConsumerGroupTargetAssignmentMetadata,
//! 7 ConsumerGroupTargetAssignmentMember, 8 ConsumerGroupCurrentMemberAssignment); values are
//! flexible version 0 (compact strings and arrays, tagged fields). Type 4 (deprecated by
//! Kafka 4.1's metadata hash) is read and ignored, never written. Decoding is defensive: bad
//! bytes give a `DecodeError`, never a panic. No group logic lives here.

use bytes::{BufMut, Bytes, BytesMut};
use uuid::Uuid;

use crate::wire::{
    put_compact_array_len, put_compact_nullable_string, put_compact_string, put_string,
    put_uvarint, DecodeError, Reader,
};

pub const CONSUMER_GROUP_METADATA: i16 = 3;
pub const CONSUMER_GROUP_PARTITION_METADATA: i16 = 4;
pub const CONSUMER_GROUP_MEMBER_METADATA: i16 = 5;
pub const CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA: i16 = 6;
pub const CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER: i16 = 7;
pub const CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT: i16 = 8;

/// Partitions of one topic, by topic id (Kafka's `TopicPartitions` common struct).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPartitions {
    pub topic_id: Uuid,
    pub partitions: Vec<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerGroupMetadataValue {
    pub epoch: i32,
    /// Tagged field 0 (Kafka 4.1+): hash of the subscribed topics' metadata.
    pub metadata_hash: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerMemberMetadataValue {
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub server_assignor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CurrentMemberAssignmentValue {
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    /// Kafka's MemberState: 0 stable, 1 unrevoked partitions, 2 unreleased partitions.
    pub state: i8,
    pub assigned_partitions: Vec<TopicPartitions>,
    pub partitions_pending_revocation: Vec<TopicPartitions>,
}

/// One consumer-group record; `None` values are tombstones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerRecord {
    GroupMetadata {
        group: String,
        value: Option<ConsumerGroupMetadataValue>,
    },
    /// Read only (Kafka < 4.1 wrote it); its value is not kept.
    PartitionMetadata { group: String },
    MemberMetadata {
        group: String,
        member: String,
        value: Option<ConsumerMemberMetadataValue>,
    },
    TargetAssignmentMetadata {
        group: String,
        /// The assignment epoch.
        value: Option<i32>,
    },
    TargetAssignmentMember {
        group: String,
        member: String,
        value: Option<Vec<TopicPartitions>>,
    },
    CurrentMemberAssignment {
        group: String,
        member: String,
        value: Option<CurrentMemberAssignmentValue>,
    },
}

impl ConsumerRecord {
    pub fn group(&self) -> &str {
        match self {
            ConsumerRecord::GroupMetadata { group, .. }
            | ConsumerRecord::PartitionMetadata { group }
            | ConsumerRecord::MemberMetadata { group, .. }
            | ConsumerRecord::TargetAssignmentMetadata { group, .. }
            | ConsumerRecord::TargetAssignmentMember { group, .. }
            | ConsumerRecord::CurrentMemberAssignment { group, .. } => group,
        }
    }

    pub(crate) fn encode_key(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(64);
        let (kind, group, member) = match self {
            ConsumerRecord::GroupMetadata { group, .. } => (CONSUMER_GROUP_METADATA, group, None),
            ConsumerRecord::PartitionMetadata { group } => {
                (CONSUMER_GROUP_PARTITION_METADATA, group, None)
            }
            ConsumerRecord::MemberMetadata { group, member, .. } => {
                (CONSUMER_GROUP_MEMBER_METADATA, group, Some(member))
            }
            ConsumerRecord::TargetAssignmentMetadata { group, .. } => {
                (CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA, group, None)
            }
            ConsumerRecord::TargetAssignmentMember { group, member, .. } => {
                (CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER, group, Some(member))
            }
            ConsumerRecord::CurrentMemberAssignment { group, member, .. } => (
                CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT,
                group,
                Some(member),
            ),
        };
        buf.put_i16(kind);
        put_string(&mut buf, group);
        if let Some(m) = member {
            put_string(&mut buf, m);
        }
        buf.freeze()
    }

    pub(crate) fn encode_value(&self) -> Option<Bytes> {
        let mut buf = BytesMut::with_capacity(64);
        buf.put_i16(0);
        match self {
            ConsumerRecord::GroupMetadata { value, .. } => {
                let v = value.as_ref()?;
                buf.put_i32(v.epoch);
                if v.metadata_hash != 0 {
                    put_uvarint(&mut buf, 1); // one tagged field
                    put_uvarint(&mut buf, 0); // tag 0: MetadataHash
                    put_uvarint(&mut buf, 8);
                    buf.put_i64(v.metadata_hash);
                } else {
                    put_uvarint(&mut buf, 0);
                }
            }
            ConsumerRecord::PartitionMetadata { .. } => return None,
            ConsumerRecord::MemberMetadata { value, .. } => {
                let v = value.as_ref()?;
                put_compact_nullable_string(&mut buf, v.instance_id.as_deref());
                put_compact_nullable_string(&mut buf, v.rack_id.as_deref());
                put_compact_string(&mut buf, &v.client_id);
                put_compact_string(&mut buf, &v.client_host);
                put_compact_array_len(&mut buf, v.subscribed_topic_names.len());
                for t in &v.subscribed_topic_names {
                    put_compact_string(&mut buf, t);
                }
                put_compact_nullable_string(&mut buf, v.subscribed_topic_regex.as_deref());
                buf.put_i32(v.rebalance_timeout_ms);
                put_compact_nullable_string(&mut buf, v.server_assignor.as_deref());
                put_uvarint(&mut buf, 0);
            }
            ConsumerRecord::TargetAssignmentMetadata { value, .. } => {
                buf.put_i32((*value)?);
                put_uvarint(&mut buf, 0);
            }
            ConsumerRecord::TargetAssignmentMember { value, .. } => {
                put_topic_partitions(&mut buf, value.as_ref()?);
                put_uvarint(&mut buf, 0);
            }
            ConsumerRecord::CurrentMemberAssignment { value, .. } => {
                let v = value.as_ref()?;
                buf.put_i32(v.member_epoch);
                buf.put_i32(v.previous_member_epoch);
                buf.put_i8(v.state);
                put_topic_partitions(&mut buf, &v.assigned_partitions);
                put_topic_partitions(&mut buf, &v.partitions_pending_revocation);
                put_uvarint(&mut buf, 0);
            }
        }
        Some(buf.freeze())
    }

    /// Decodes a record whose key starts with type `kind` (3..=8); `r` is positioned after
    /// the type.
    pub(crate) fn decode(
        kind: i16,
        r: &mut Reader<'_>,
        value: Option<&[u8]>,
    ) -> Result<ConsumerRecord, DecodeError> {
        let group = r.string()?;
        let mut member = || r.string();
        Ok(match kind {
            CONSUMER_GROUP_METADATA => ConsumerRecord::GroupMetadata {
                group,
                value: value.map(decode_group_metadata).transpose()?,
            },
            CONSUMER_GROUP_PARTITION_METADATA => ConsumerRecord::PartitionMetadata { group },
            CONSUMER_GROUP_MEMBER_METADATA => ConsumerRecord::MemberMetadata {
                member: member()?,
                group,
                value: value.map(decode_member_metadata).transpose()?,
            },
            CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA => ConsumerRecord::TargetAssignmentMetadata {
                group,
                value: value
                    .map(|b| {
                        let mut r = value_reader(b)?;
                        r.i32()
                    })
                    .transpose()?,
            },
            CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER => ConsumerRecord::TargetAssignmentMember {
                member: member()?,
                group,
                value: value
                    .map(|b| {
                        let mut r = value_reader(b)?;
                        read_topic_partitions(&mut r)
                    })
                    .transpose()?,
            },
            CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT => ConsumerRecord::CurrentMemberAssignment {
                member: member()?,
                group,
                value: value.map(decode_current_assignment).transpose()?,
            },
            v => return Err(DecodeError::UnsupportedVersion(v)),
        })
    }
}

fn put_topic_partitions(buf: &mut BytesMut, tps: &[TopicPartitions]) {
    put_compact_array_len(buf, tps.len());
    for tp in tps {
        buf.put_slice(tp.topic_id.as_bytes());
        put_compact_array_len(buf, tp.partitions.len());
        for p in &tp.partitions {
            buf.put_i32(*p);
        }
        put_uvarint(buf, 0);
    }
}

/// A value reader past its int16 version (any version ≥ 0 is read as v0: later versions only
/// add tagged fields).
fn value_reader(bytes: &[u8]) -> Result<Reader<'_>, DecodeError> {
    let mut r = Reader::new(bytes);
    let version = r.i16()?;
    if version < 0 {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    Ok(r)
}

fn read_topic_partitions(r: &mut Reader<'_>) -> Result<Vec<TopicPartitions>, DecodeError> {
    let n = r
        .compact_array_len(18)?
        .ok_or(DecodeError::UnexpectedNull)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let topic_id = r.uuid()?;
        let count = r.compact_array_len(4)?.ok_or(DecodeError::UnexpectedNull)?;
        let mut partitions = Vec::with_capacity(count);
        for _ in 0..count {
            partitions.push(r.i32()?);
        }
        r.skip_tagged_fields()?;
        out.push(TopicPartitions {
            topic_id,
            partitions,
        });
    }
    Ok(out)
}

fn decode_group_metadata(bytes: &[u8]) -> Result<ConsumerGroupMetadataValue, DecodeError> {
    let mut r = value_reader(bytes)?;
    let epoch = r.i32()?;
    let mut metadata_hash = 0;
    let count = r.uvarint()?;
    for _ in 0..count {
        let tag = r.uvarint()?;
        let size = r.uvarint()? as usize;
        if tag == 0 && size == 8 {
            metadata_hash = r.i64()?;
        } else {
            for _ in 0..size {
                r.i8()?;
            }
        }
    }
    Ok(ConsumerGroupMetadataValue {
        epoch,
        metadata_hash,
    })
}

fn decode_member_metadata(bytes: &[u8]) -> Result<ConsumerMemberMetadataValue, DecodeError> {
    let mut r = value_reader(bytes)?;
    let instance_id = r.compact_nullable_string()?;
    let rack_id = r.compact_nullable_string()?;
    let client_id = r.compact_string()?;
    let client_host = r.compact_string()?;
    let n = r.compact_array_len(1)?.ok_or(DecodeError::UnexpectedNull)?;
    let mut subscribed_topic_names = Vec::with_capacity(n);
    for _ in 0..n {
        subscribed_topic_names.push(r.compact_string()?);
    }
    let subscribed_topic_regex = r.compact_nullable_string()?;
    let rebalance_timeout_ms = r.i32()?;
    let server_assignor = r.compact_nullable_string()?;
    r.skip_tagged_fields()?;
    Ok(ConsumerMemberMetadataValue {
        instance_id,
        rack_id,
        client_id,
        client_host,
        subscribed_topic_names,
        subscribed_topic_regex,
        rebalance_timeout_ms,
        server_assignor,
    })
}

fn decode_current_assignment(bytes: &[u8]) -> Result<CurrentMemberAssignmentValue, DecodeError> {
    let mut r = value_reader(bytes)?;
    let member_epoch = r.i32()?;
    let previous_member_epoch = r.i32()?;
    let state = r.i8()?;
    let assigned_partitions = read_topic_partitions(&mut r)?;
    let partitions_pending_revocation = read_topic_partitions(&mut r)?;
    r.skip_tagged_fields()?;
    Ok(CurrentMemberAssignmentValue {
        member_epoch,
        previous_member_epoch,
        state,
        assigned_partitions,
        partitions_pending_revocation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::GroupRecord;

    fn roundtrip(r: ConsumerRecord) {
        let rec = GroupRecord::Consumer(r);
        let key = rec.encode_key();
        let value = rec.encode_value();
        let back = GroupRecord::decode(&key, value.as_deref()).unwrap();
        assert_eq!(back, rec);
    }

    #[test]
    fn records_roundtrip_and_keys_carry_the_record_type() {
        let t = Uuid::from_u128(0x1234);
        roundtrip(ConsumerRecord::GroupMetadata {
            group: "g".into(),
            value: Some(ConsumerGroupMetadataValue {
                epoch: 7,
                metadata_hash: -5,
            }),
        });
        roundtrip(ConsumerRecord::GroupMetadata {
            group: "g".into(),
            value: None,
        });
        roundtrip(ConsumerRecord::MemberMetadata {
            group: "g".into(),
            member: "m".into(),
            value: Some(ConsumerMemberMetadataValue {
                instance_id: Some("i".into()),
                rack_id: None,
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                subscribed_topic_names: vec!["a".into(), "b".into()],
                subscribed_topic_regex: Some("x.*".into()),
                rebalance_timeout_ms: 300000,
                server_assignor: Some("range".into()),
            }),
        });
        roundtrip(ConsumerRecord::TargetAssignmentMetadata {
            group: "g".into(),
            value: Some(3),
        });
        roundtrip(ConsumerRecord::TargetAssignmentMember {
            group: "g".into(),
            member: "m".into(),
            value: Some(vec![TopicPartitions {
                topic_id: t,
                partitions: vec![0, 2],
            }]),
        });
        roundtrip(ConsumerRecord::CurrentMemberAssignment {
            group: "g".into(),
            member: "m".into(),
            value: Some(CurrentMemberAssignmentValue {
                member_epoch: 4,
                previous_member_epoch: 3,
                state: 1,
                assigned_partitions: vec![TopicPartitions {
                    topic_id: t,
                    partitions: vec![1],
                }],
                partitions_pending_revocation: vec![TopicPartitions {
                    topic_id: t,
                    partitions: vec![0],
                }],
            }),
        });
        let key = GroupRecord::Consumer(ConsumerRecord::TargetAssignmentMetadata {
            group: "g".into(),
            value: None,
        })
        .encode_key();
        assert_eq!(&key[..], &[0, 6, 0, 1, b'g']);
    }

    #[test]
    fn hostile_values_are_errors_not_panics() {
        let key = [0u8, 8, 0, 1, b'g', 0, 1, b'm'];
        for value in [
            &[][..],
            &[0, 0, 0, 0, 0, 1][..],
            &[0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x0f][..],
        ] {
            assert!(GroupRecord::decode(&key, Some(value)).is_err());
        }
    }
}
