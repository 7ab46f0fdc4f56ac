//! The `__consumer_offsets` record schemas, byte for byte as Kafka writes them:
//! OffsetCommitKey (versions 0-1) → OffsetCommitValue (written as v3; v0-v4 read), and
//! GroupMetadataKey (version 2) → GroupMetadataValue (written as v3; v0-v4 read). A record
//! whose value is `None` is a tombstone. Keys and values start with an int16 version; values
//! newer than v4 are read as v4 (KIP-915: later versions only add tagged fields). Decoding is
//! defensive: malformed bytes give a `DecodeError`, never a panic. This file knows nothing of
//! group state; it only converts records to and from bytes.

use bytes::{BufMut, Bytes, BytesMut};

use crate::consumer_records::ConsumerRecord;
use crate::wire::{put_bytes, put_nullable_string, put_string, DecodeError, Reader};

/// Key version Kafka writes for offset commits (v0 is read too; the fields are identical).
pub const OFFSET_COMMIT_KEY_VERSION: i16 = 1;
/// Key version of group metadata records.
pub const GROUP_METADATA_KEY_VERSION: i16 = 2;
/// Value version written for offset commits (offset, leader epoch, metadata, timestamp).
pub const OFFSET_COMMIT_VALUE_VERSION: i16 = 3;
/// Value version written for group metadata (with currentStateTimestamp and instance ids).
pub const GROUP_METADATA_VALUE_VERSION: i16 = 3;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OffsetCommitKey {
    pub group: String,
    pub topic: String,
    pub partition: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitValue {
    pub offset: i64,
    /// -1 when unknown (values older than v3).
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
    /// Only in v1 values: an explicit per-offset expiry (old retention semantics).
    pub expire_timestamp: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupMetadataValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// -1 when unknown (values older than v2).
    pub current_state_timestamp: i64,
    pub members: Vec<MemberMetadataValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberMetadataValue {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout: i32,
    pub session_timeout: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// One record of `__consumer_offsets`: Kafka's key/value pair; `value: None` = tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRecord {
    OffsetCommit {
        key: OffsetCommitKey,
        value: Option<OffsetCommitValue>,
    },
    GroupMetadata {
        group: String,
        value: Option<GroupMetadataValue>,
    },
    /// KIP-848 consumer-group records (types 3-8).
    Consumer(ConsumerRecord),
}

impl GroupRecord {
    /// The group this record belongs to.
    pub fn group(&self) -> &str {
        match self {
            GroupRecord::OffsetCommit { key, .. } => &key.group,
            GroupRecord::GroupMetadata { group, .. } => group,
            GroupRecord::Consumer(c) => c.group(),
        }
    }

    pub fn encode_key(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(64);
        match self {
            GroupRecord::OffsetCommit { key, .. } => {
                buf.put_i16(OFFSET_COMMIT_KEY_VERSION);
                put_string(&mut buf, &key.group);
                put_string(&mut buf, &key.topic);
                buf.put_i32(key.partition);
            }
            GroupRecord::GroupMetadata { group, .. } => {
                buf.put_i16(GROUP_METADATA_KEY_VERSION);
                put_string(&mut buf, group);
            }
            GroupRecord::Consumer(c) => return c.encode_key(),
        }
        buf.freeze()
    }

    /// The value bytes, or `None` for a tombstone (a record with a null value).
    pub fn encode_value(&self) -> Option<Bytes> {
        match self {
            GroupRecord::OffsetCommit { value, .. } => value.as_ref().map(encode_offset_value),
            GroupRecord::GroupMetadata { value, .. } => value.as_ref().map(encode_group_value),
            GroupRecord::Consumer(c) => c.encode_value(),
        }
    }

    /// Decodes a record read from `__consumer_offsets`. `value: None` is a tombstone.
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<GroupRecord, DecodeError> {
        let mut r = Reader::new(key);
        let version = r.i16()?;
        match version {
            0 | 1 => {
                let key = OffsetCommitKey {
                    group: r.string()?,
                    topic: r.string()?,
                    partition: r.i32()?,
                };
                let value = value.map(decode_offset_value).transpose()?;
                Ok(GroupRecord::OffsetCommit { key, value })
            }
            2 => {
                let group = r.string()?;
                let value = value.map(decode_group_value).transpose()?;
                Ok(GroupRecord::GroupMetadata { group, value })
            }
            3..=8 => ConsumerRecord::decode(version, &mut r, value).map(GroupRecord::Consumer),
            v => Err(DecodeError::UnsupportedVersion(v)),
        }
    }
}

fn encode_offset_value(v: &OffsetCommitValue) -> Bytes {
    let mut buf = BytesMut::with_capacity(32 + v.metadata.len());
    if let Some(expire) = v.expire_timestamp {
        // Only v1 can carry an explicit expiry; keep it rather than silently dropping it.
        buf.put_i16(1);
        buf.put_i64(v.offset);
        put_string(&mut buf, &v.metadata);
        buf.put_i64(v.commit_timestamp);
        buf.put_i64(expire);
    } else {
        buf.put_i16(OFFSET_COMMIT_VALUE_VERSION);
        buf.put_i64(v.offset);
        buf.put_i32(v.leader_epoch);
        put_string(&mut buf, &v.metadata);
        buf.put_i64(v.commit_timestamp);
    }
    buf.freeze()
}

fn decode_offset_value(bytes: &[u8]) -> Result<OffsetCommitValue, DecodeError> {
    let mut r = Reader::new(bytes);
    let version = r.i16()?;
    if version < 0 {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let version = version.min(4);
    let offset = r.i64()?;
    let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
    let metadata = if version >= 4 {
        r.compact_string()?
    } else {
        r.string()?
    };
    let commit_timestamp = r.i64()?;
    let expire_timestamp = if version == 1 { Some(r.i64()?) } else { None };
    if version >= 4 {
        r.skip_tagged_fields()?;
    }
    Ok(OffsetCommitValue {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp,
        expire_timestamp: expire_timestamp.filter(|&t| t != -1),
    })
}

fn encode_group_value(v: &GroupMetadataValue) -> Bytes {
    let mut buf = BytesMut::with_capacity(
        64 + v
            .members
            .iter()
            .map(|m| 64 + m.subscription.len() + m.assignment.len())
            .sum::<usize>(),
    );
    buf.put_i16(GROUP_METADATA_VALUE_VERSION);
    put_string(&mut buf, &v.protocol_type);
    buf.put_i32(v.generation);
    put_nullable_string(&mut buf, v.protocol.as_deref());
    put_nullable_string(&mut buf, v.leader.as_deref());
    buf.put_i64(v.current_state_timestamp);
    buf.put_i32(v.members.len() as i32);
    for m in &v.members {
        put_string(&mut buf, &m.member_id);
        put_nullable_string(&mut buf, m.group_instance_id.as_deref());
        put_string(&mut buf, &m.client_id);
        put_string(&mut buf, &m.client_host);
        buf.put_i32(m.rebalance_timeout);
        buf.put_i32(m.session_timeout);
        put_bytes(&mut buf, &m.subscription);
        put_bytes(&mut buf, &m.assignment);
    }
    buf.freeze()
}

fn decode_group_value(bytes: &[u8]) -> Result<GroupMetadataValue, DecodeError> {
    let mut r = Reader::new(bytes);
    let version = r.i16()?;
    if version < 0 {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let version = version.min(4);
    let flexible = version >= 4;
    let string = |r: &mut Reader<'_>| {
        if flexible {
            r.compact_string()
        } else {
            r.string()
        }
    };
    let nullable_string = |r: &mut Reader<'_>| {
        if flexible {
            r.compact_nullable_string()
        } else {
            r.nullable_string()
        }
    };
    let bytes_field = |r: &mut Reader<'_>| {
        let b = if flexible {
            r.compact_nullable_bytes()?
        } else {
            r.nullable_bytes()?
        };
        b.ok_or(DecodeError::UnexpectedNull)
    };
    let protocol_type = string(&mut r)?;
    let generation = r.i32()?;
    let protocol = nullable_string(&mut r)?;
    let leader = nullable_string(&mut r)?;
    let current_state_timestamp = if version >= 2 { r.i64()? } else { -1 };
    // Smallest member: 4 strings + 2 ints + 2 byte arrays, at least 1 byte each when compact.
    let count = if flexible {
        r.compact_array_len(8)?
    } else {
        r.array_len(20)?
    }
    .ok_or(DecodeError::UnexpectedNull)?;
    let mut members = Vec::with_capacity(count);
    for _ in 0..count {
        let member_id = string(&mut r)?;
        let group_instance_id = if version >= 3 {
            nullable_string(&mut r)?
        } else {
            None
        };
        let client_id = string(&mut r)?;
        let client_host = string(&mut r)?;
        let session_first = version == 0;
        let (rebalance_timeout, session_timeout) = if session_first {
            let s = r.i32()?;
            (s, s)
        } else {
            (r.i32()?, r.i32()?)
        };
        let subscription = bytes_field(&mut r)?;
        let assignment = bytes_field(&mut r)?;
        if flexible {
            r.skip_tagged_fields()?;
        }
        members.push(MemberMetadataValue {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout,
            session_timeout,
            subscription,
            assignment,
        });
    }
    if flexible {
        r.skip_tagged_fields()?;
    }
    Ok(GroupMetadataValue {
        protocol_type,
        generation,
        protocol,
        leader,
        current_state_timestamp,
        members,
    })
}

/// Java's `String.hashCode`: `31 * h + c` over UTF-16 code units, wrapping at 32 bits.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The `__consumer_offsets` partition of a group, exactly as Kafka computes it:
/// `Utils.abs(groupId.hashCode) % groupMetadataTopicPartitionCount`, where `Utils.abs(x)` is
/// `x & 0x7fffffff`. `num_partitions` below 1 is treated as 1.
pub fn partition_for(group_id: &str, num_partitions: i32) -> i32 {
    (java_string_hash(group_id) & 0x7fff_ffff) % num_partitions.max(1)
}
