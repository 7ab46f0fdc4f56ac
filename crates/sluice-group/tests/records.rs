//! `__consumer_offsets` record encodings against Kafka's byte layouts, defensive decoding,
//! and `partition_for` against Java's `String.hashCode`.

use bytes::Bytes;
use sluice_group::records::{java_string_hash, OFFSET_COMMIT_VALUE_VERSION};
use sluice_group::{
    partition_for, GroupMetadataValue, GroupRecord, MemberMetadataValue, OffsetCommitKey,
    OffsetCommitValue,
};

fn offset_record() -> GroupRecord {
    GroupRecord::OffsetCommit {
        key: OffsetCommitKey {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
        },
        value: Some(OffsetCommitValue {
            offset: 42,
            leader_epoch: 7,
            metadata: "m".into(),
            commit_timestamp: 1000,
            expire_timestamp: None,
        }),
    }
}

#[test]
fn offset_commit_bytes_match_kafka_layout() {
    let r = offset_record();
    // key v1: version, group "g", topic "t", partition 3
    assert_eq!(
        &r.encode_key()[..],
        &[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3]
    );
    // value v3: version, offset 42, leader epoch 7, metadata "m", commit timestamp 1000
    let mut expected = vec![0, 3];
    expected.extend(42i64.to_be_bytes());
    expected.extend(7i32.to_be_bytes());
    expected.extend([0, 1, b'm']);
    expected.extend(1000i64.to_be_bytes());
    assert_eq!(&r.encode_value().unwrap()[..], &expected[..]);
    assert_eq!(OFFSET_COMMIT_VALUE_VERSION, 3);
    assert_eq!(
        GroupRecord::decode(&r.encode_key(), r.encode_value().as_deref()).unwrap(),
        r
    );
}

#[test]
fn group_metadata_bytes_match_kafka_layout() {
    let r = GroupRecord::GroupMetadata {
        group: "g".into(),
        value: Some(GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 5,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            current_state_timestamp: 99,
            members: vec![MemberMetadataValue {
                member_id: "m1".into(),
                group_instance_id: None,
                client_id: "c".into(),
                client_host: "h".into(),
                rebalance_timeout: 300,
                session_timeout: 100,
                subscription: Bytes::from_static(&[1, 2]),
                assignment: Bytes::from_static(&[3]),
            }],
        }),
    };
    assert_eq!(&r.encode_key()[..], &[0, 2, 0, 1, b'g']);
    let mut e = vec![0, 3, 0, 8];
    e.extend(b"consumer");
    e.extend(5i32.to_be_bytes());
    e.extend([0, 5]);
    e.extend(b"range");
    e.extend([0, 2, b'm', b'1']);
    e.extend(99i64.to_be_bytes());
    e.extend(1i32.to_be_bytes());
    e.extend([0, 2, b'm', b'1', 0xff, 0xff, 0, 1, b'c', 0, 1, b'h']);
    e.extend(300i32.to_be_bytes());
    e.extend(100i32.to_be_bytes());
    e.extend([0, 0, 0, 2, 1, 2, 0, 0, 0, 1, 3]);
    assert_eq!(&r.encode_value().unwrap()[..], &e[..]);
    assert_eq!(
        GroupRecord::decode(&r.encode_key(), r.encode_value().as_deref()).unwrap(),
        r
    );
}

#[test]
fn tombstones_and_old_versions_decode() {
    let key = offset_record().encode_key();
    assert_eq!(
        GroupRecord::decode(&key, None).unwrap(),
        GroupRecord::OffsetCommit {
            key: OffsetCommitKey {
                group: "g".into(),
                topic: "t".into(),
                partition: 3
            },
            value: None
        }
    );
    // OffsetCommitValue v1 (with expire timestamp) and v0.
    let mut v1 = vec![0, 1];
    v1.extend(5i64.to_be_bytes());
    v1.extend([0, 0]);
    v1.extend(10i64.to_be_bytes());
    v1.extend(20i64.to_be_bytes());
    let GroupRecord::OffsetCommit { value: Some(v), .. } =
        GroupRecord::decode(&key, Some(&v1)).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (
            v.offset,
            v.leader_epoch,
            v.commit_timestamp,
            v.expire_timestamp
        ),
        (5, -1, 10, Some(20))
    );
    // OffsetCommitValue v4 (flexible): compact string metadata + empty tagged fields.
    let mut v4 = vec![0, 4];
    v4.extend(9i64.to_be_bytes());
    v4.extend(2i32.to_be_bytes());
    v4.extend([2, b'x']);
    v4.extend(11i64.to_be_bytes());
    v4.push(0);
    let GroupRecord::OffsetCommit { value: Some(v), .. } =
        GroupRecord::decode(&key, Some(&v4)).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (
            v.offset,
            v.leader_epoch,
            v.metadata.as_str(),
            v.commit_timestamp
        ),
        (9, 2, "x", 11)
    );
    // GroupMetadataValue v0: member without rebalance timeout.
    let mut g0 = vec![0, 0, 0, 0];
    g0.extend(0i32.to_be_bytes());
    g0.extend([0xff, 0xff, 0xff, 0xff]);
    g0.extend(0i32.to_be_bytes());
    let GroupRecord::GroupMetadata { value: Some(v), .. } =
        GroupRecord::decode(&[0, 2, 0, 1, b'g'], Some(&g0)).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (
            v.generation,
            v.protocol,
            v.current_state_timestamp,
            v.members.len()
        ),
        (0, None, -1, 0)
    );
}

#[test]
fn hostile_bytes_are_errors_not_panics() {
    let r = offset_record();
    let key = r.encode_key();
    let value = r.encode_value().unwrap();
    for cut in 0..key.len() {
        assert!(GroupRecord::decode(&key[..cut], None).is_err());
    }
    for cut in 0..value.len() {
        assert!(GroupRecord::decode(&key, Some(&value[..cut])).is_err());
    }
    assert!(GroupRecord::decode(&[0, 9, 0, 0], None).is_err());
    // GroupMetadataValue claiming i32::MAX members.
    let mut g = vec![0, 3, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
    g.extend(0i64.to_be_bytes());
    g.extend(i32::MAX.to_be_bytes());
    assert!(GroupRecord::decode(&[0, 2, 0, 1, b'g'], Some(&g)).is_err());
    // Pseudo-random garbage never panics.
    let mut x: u32 = 12345;
    for len in 0..300 {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        let _ = GroupRecord::decode(&bytes, Some(&bytes));
        let _ = GroupRecord::decode(&[0, 2, 0, 0], Some(&bytes));
        let _ = sluice_group::subscription::subscribed_topics(&bytes);
    }
}

#[test]
fn partition_for_matches_java_string_hash_code() {
    // Values printed by Java 's.hashCode()' and '(h & 0x7fffffff) % 50'.
    let cases = [
        ("my-group", -1_906_497_762, 36),
        ("test-group", 627_841_412, 12),
        ("console-consumer-12345", 158_455_506, 6),
        ("", 0, 0),
        ("gr\u{fc}ppe-\u{1F600}", -1_039_948_164, 34),
        (
            "a-much-longer-group-name-that-overflows-the-hash",
            1_017_885_960,
            10,
        ),
    ];
    for (s, hash, partition) in cases {
        assert_eq!(java_string_hash(s), hash, "{s}");
        assert_eq!(partition_for(s, 50), partition, "{s}");
    }
}
