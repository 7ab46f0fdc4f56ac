//! The guard must never reject a valid request: for every covered request type and every
//! version kafka-protocol decodes, populated messages encoded by kafka-protocol (and bodies
//! generated from the tables, checked against the crate) pass the guard and round-trip
//! unchanged. Also checks the tables cover the required APIs at exactly the crate's versions.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    create_topics_request::{CreatableTopic, CreatableTopicConfig},
    fetch_request::{FetchPartition, FetchTopic},
    metadata_request::MetadataRequestTopic,
    produce_request::{PartitionProduceData, TopicProduceData},
    ApiKey, CreateTopicsRequest, FetchRequest, MetadataRequest, ProduceRequest, RequestKind,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::schema::{self, Msg};
use super::tests_gen::{gen_body, Rng};
use super::{decode_request, GuardError};

/// The api keys the broker needs the guard to cover.
const REQUIRED: &[i16] = &[
    18, 3, 0, 1, 2, 19, 20, 37, 32, 33, 44, 21, 60, 22, 23, 10, 11, 12, 13, 14, 15, 16, 8, 9, 42,
    47, 17, 36, 68, 69, 24, 25, 26, 28, 27, 61, 43, 45, 46, 29, 30, 31, 55, 35, 64,
];

fn api(msg: &Msg) -> ApiKey {
    ApiKey::try_from(msg.api_key).expect("table api keys are known to kafka-protocol")
}

fn encode(request: &RequestKind, version: i16) -> Bytes {
    let mut buf = BytesMut::new();
    request
        .encode(&mut buf, version)
        .unwrap_or_else(|e| panic!("kafka-protocol encodes v{version}: {e}"));
    buf.freeze()
}

/// The tables' version ranges are exactly the ones kafka-protocol's decoders accept (which for
/// OffsetCommit, OffsetFetch and InitProducerId is one less than `ApiKey::valid_versions`).
#[test]
fn tables_cover_required_apis_at_the_crates_versions() {
    for key in REQUIRED {
        assert!(schema::lookup(*key).is_some(), "api key {key} not covered");
    }
    assert_eq!(schema::ALL.len(), REQUIRED.len());
    for msg in schema::ALL {
        let range = api(msg).valid_versions();
        assert!(
            range.min <= msg.min && msg.max <= range.max,
            "{:?}",
            api(msg)
        );
        let body = gen_body(msg, msg.max, &mut Rng::new(3), false);
        for outside in [msg.min - 1, msg.max + 1] {
            let crate_result =
                RequestKind::decode(api(msg), &mut Bytes::from(body.clone()), outside);
            assert!(crate_result.is_err(), "{:?} v{outside} decodes", api(msg));
            assert!(
                matches!(
                    decode_request(msg.api_key, outside, Bytes::from(body.clone())),
                    Err(GuardError::UnsupportedVersion { .. })
                ),
                "{:?} v{outside}",
                api(msg)
            );
        }
    }
}

/// Generated (table-driven) bodies: the crate must decode them consuming every byte (so the
/// table matches the crate's layout), the guard must accept them, and the crate's re-encoding
/// must pass the guard and decode to the same message.
#[test]
fn every_request_and_version_round_trips_through_the_guard() {
    let mut checked = 0;
    for msg in schema::ALL {
        for version in msg.min..=msg.max {
            for seed in 0..12u64 {
                let mut rng = Rng::new(seed * 131 + msg.api_key as u64 * 7 + version as u64);
                let populated = seed != 0;
                let body = gen_body(msg, version, &mut rng, populated);
                let mut crate_buf = Bytes::from(body.clone());
                let direct =
                    RequestKind::decode(api(msg), &mut crate_buf, version).unwrap_or_else(|e| {
                        panic!("crate rejects generated {:?} v{version}: {e}", api(msg))
                    });
                assert!(
                    crate_buf.is_empty(),
                    "{:?} v{version}: table and crate disagree on layout ({} bytes left)",
                    api(msg),
                    crate_buf.len()
                );
                let guarded = decode_request(msg.api_key, version, Bytes::from(body))
                    .unwrap_or_else(|e| {
                        panic!("guard rejects valid {:?} v{version}: {e}", api(msg))
                    });
                assert_eq!(guarded, direct);

                let reencoded = encode(&direct, version);
                let again = decode_request(msg.api_key, version, reencoded).unwrap_or_else(|e| {
                    panic!("guard rejects crate-encoded {:?} v{version}: {e}", api(msg))
                });
                assert_eq!(again, direct, "{:?} v{version} round trip", api(msg));
                checked += 1;
            }
        }
    }
    assert!(checked > 2500, "only {checked} cases");
}

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

/// Builds a request valid at the given version.
type Builder = Box<dyn Fn(i16) -> RequestKind>;

/// Hand-built messages (Default plus populated nested elements), encoded by kafka-protocol at
/// every version, pass the guard unchanged.
#[test]
fn hand_built_messages_pass_at_every_version() {
    let cases: Vec<(ApiKey, Builder)> = vec![
        (
            ApiKey::Metadata,
            Box::new(|v| {
                let topic = MetadataRequestTopic::default().with_name(Some(TopicName(s("orders"))));
                RequestKind::Metadata(
                    MetadataRequest::default()
                        .with_topics(Some(vec![topic.clone(), topic]))
                        .with_include_topic_authorized_operations(v >= 8),
                )
            }),
        ),
        (
            ApiKey::Produce,
            Box::new(|v| {
                let partition = PartitionProduceData::default()
                    .with_index(3)
                    .with_records(Some(Bytes::from_static(b"not-a-real-batch")));
                let mut topic = TopicProduceData::default().with_partition_data(vec![partition]);
                if v >= 13 {
                    topic = topic.with_topic_id(uuid::Uuid::from_u128(7));
                } else {
                    topic = topic.with_name(TopicName(s("orders")));
                }
                RequestKind::Produce(
                    ProduceRequest::default()
                        .with_transactional_id(Some(s("txn-1").into()))
                        .with_acks(-1)
                        .with_timeout_ms(30_000)
                        .with_topic_data(vec![topic]),
                )
            }),
        ),
        (
            ApiKey::Fetch,
            Box::new(|v| {
                let partition = FetchPartition::default()
                    .with_partition(1)
                    .with_fetch_offset(42)
                    .with_partition_max_bytes(1 << 20);
                let mut topic =
                    FetchTopic::default().with_partitions(vec![partition.clone(), partition]);
                if v >= 13 {
                    topic = topic.with_topic_id(uuid::Uuid::from_u128(9));
                } else {
                    topic = topic.with_topic(TopicName(s("orders")));
                }
                let mut request = FetchRequest::default()
                    .with_max_wait_ms(500)
                    .with_max_bytes(1 << 24)
                    .with_topics(vec![topic]);
                if v >= 12 {
                    request = request.with_cluster_id(Some(s("cluster-a")));
                }
                RequestKind::Fetch(request)
            }),
        ),
        (
            ApiKey::CreateTopics,
            Box::new(|_| {
                let config = CreatableTopicConfig::default()
                    .with_name(s("cleanup.policy"))
                    .with_value(Some(s("compact")));
                let topic = CreatableTopic::default()
                    .with_name(TopicName(s("orders")))
                    .with_num_partitions(3)
                    .with_replication_factor(1)
                    .with_configs(vec![config]);
                RequestKind::CreateTopics(
                    CreateTopicsRequest::default()
                        .with_topics(vec![topic])
                        .with_timeout_ms(1000),
                )
            }),
        ),
    ];
    for (key, build) in cases {
        let range = key.valid_versions();
        for version in range.min..=range.max {
            let request = build(version);
            let got = decode_request(key as i16, version, encode(&request, version));
            assert_eq!(got, Ok(request), "{key:?} v{version}");
        }
    }
}

#[test]
fn default_messages_pass_at_every_version() {
    for msg in schema::ALL {
        for version in msg.min..=msg.max {
            let body = gen_body(msg, version, &mut Rng::new(1), false);
            let result = decode_request(msg.api_key, version, Bytes::from(body));
            assert!(result.is_ok(), "{:?} v{version}: {result:?}", api(msg));
        }
    }
}
