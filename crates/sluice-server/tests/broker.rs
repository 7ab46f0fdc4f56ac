//! In-process broker tests: a real node on an ephemeral 127.0.0.1 port and a temp dir, driven
//! through `sluice-client` and raw frames. They check what users rely on: records come back
//! identical and in order, idempotent retries are not appended twice, a waiting fetch is woken
//! by an append, data and topics survive a restart, and hostile bytes never take the broker down.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sluice_client::{Client, FetchOptions, FetchTarget, ProduceOptions, ProduceRecord};
use sluice_config::BrokerConfig;
use sluice_protocol::kafka_protocol::messages::produce_request::{
    PartitionProduceData, TopicProduceData,
};
use sluice_protocol::kafka_protocol::messages::{
    ApiVersionsRequest, MetadataRequest, ProduceRequest, TopicName,
};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use sluice_protocol::kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use sluice_server::Node;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const DEADLINE: Duration = Duration::from_secs(30);

async fn start(dir: &std::path::Path, extra: &[(&str, &str)]) -> Node {
    let mut pairs = vec![
        (
            "listeners".to_string(),
            "PLAINTEXT://127.0.0.1:0".to_string(),
        ),
        ("log.dirs".to_string(), dir.display().to_string()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let (config, _) = BrokerConfig::load(None, &pairs).expect("config");
    Node::start(config).await.expect("node starts")
}

async fn client(node: &Node) -> Arc<Client> {
    Client::connect(&node.bootstrap())
        .await
        .expect("client connects")
}

fn records(n: usize, prefix: &str) -> Vec<ProduceRecord> {
    (0..n)
        .map(|i| ProduceRecord {
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(format!("{prefix}-{i}"))),
            headers: vec![("h".to_string(), Some(Bytes::from_static(b"v")))],
            timestamp: None,
        })
        .collect()
}

async fn read_all(
    client: &Arc<Client>,
    topic: &str,
    partition: i32,
    upto: i64,
) -> Vec<(i64, Bytes)> {
    let mut out = Vec::new();
    let mut offset = 0;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while offset < upto {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out reading {topic}"
        );
        let fetched = client
            .fetch_many(
                &[FetchTarget {
                    topic: topic.to_string(),
                    partition,
                    offset,
                }],
                &FetchOptions::default(),
            )
            .await;
        let p = fetched.into_iter().next().expect("one partition");
        for r in p.records.expect("fetch ok") {
            out.push((r.offset, r.value.unwrap_or_default()));
        }
        offset = p.next_offset;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_fetch_roundtrip_for_every_codec_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[("log.segment.bytes", "4096")]).await;
    let c = client(&node).await;
    let codecs = [
        ("none", Compression::None),
        ("gzip", Compression::Gzip),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ];
    for (name, compression) in codecs {
        let topic = format!("rt-{name}");
        let opts = ProduceOptions {
            acks: -1,
            compression,
            ..Default::default()
        };
        c.topic_metadata_for_produce(&topic)
            .await
            .expect("auto-created");
        for chunk in 0..5 {
            c.produce(&topic, 0, records(100, &format!("{name}{chunk}")), &opts)
                .await
                .expect("produce");
        }
        let got = read_all(&c, &topic, 0, 500).await;
        assert_eq!(got.len(), 500);
        for (i, (offset, value)) in got.iter().enumerate() {
            assert_eq!(*offset, i as i64);
            assert_eq!(
                value,
                &Bytes::from(format!("{name}{}-{}", i / 100, i % 100))
            );
        }
    }
    node.shutdown().await.unwrap();

    let node = start(dir.path(), &[("log.segment.bytes", "4096")]).await;
    let c = client(&node).await;
    let got = read_all(&c, "rt-zstd", 0, 500).await;
    assert_eq!(got.len(), 500, "records survive a clean restart");
    let next = c
        .produce(
            "rt-zstd",
            0,
            records(1, "after"),
            &ProduceOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(next, 500, "appends continue after the restart");
    node.shutdown().await.unwrap();
}

fn idempotent_batch(producer_id: i64, epoch: i16, sequence: i32, n: usize) -> Bytes {
    let recs: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: sequence + i as i32,
            timestamp: 1_700_000_000_000,
            key: None,
            value: Some(Bytes::from(format!("seq{}", sequence + i as i32))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        recs.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buf.freeze()
}

fn produce_request(topic: &str, batch: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch))])])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_retries_are_answered_with_the_original_offset() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]).await;
    let c = client(&node).await;
    c.metadata_with(Some(&["idem".to_string()]), true)
        .await
        .unwrap();
    let conn = c.any_connection().await.unwrap();
    let send = |batch: Bytes| {
        let conn = conn.clone();
        async move {
            let r = conn.send(&produce_request("idem", batch)).await.unwrap();
            let p = &r.responses[0].partition_responses[0];
            (p.error_code, p.base_offset)
        }
    };
    let pid = 4242;
    assert_eq!(send(idempotent_batch(pid, 0, 0, 3)).await, (0, 0));
    assert_eq!(send(idempotent_batch(pid, 0, 3, 2)).await, (0, 3));
    // A retry of the first batch: success with its original offset, nothing appended.
    assert_eq!(send(idempotent_batch(pid, 0, 0, 3)).await, (0, 0));
    // A gap in sequences.
    assert_eq!(
        send(idempotent_batch(pid, 0, 9, 1)).await.0,
        45,
        "OUT_OF_ORDER_SEQUENCE_NUMBER"
    );
    // An older epoch after a newer one was seen.
    assert_eq!(send(idempotent_batch(pid, 1, 0, 1)).await, (0, 5));
    assert_eq!(
        send(idempotent_batch(pid, 0, 5, 1)).await.0,
        47,
        "INVALID_PRODUCER_EPOCH"
    );
    let got = read_all(&c, "idem", 0, 6).await;
    let values: Vec<_> = got.iter().map(|(_, v)| v.clone()).collect();
    assert_eq!(
        values,
        ["seq0", "seq1", "seq2", "seq3", "seq4", "seq0"]
            .map(Bytes::from)
            .to_vec()
    );
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_fetch_is_woken_by_an_append() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]).await;
    let c = client(&node).await;
    c.topic_metadata_for_produce("wake").await.unwrap();
    c.produce("wake", 0, records(1, "first"), &ProduceOptions::default())
        .await
        .unwrap();
    // Its own client: a broker answers a connection's requests in order, so a produce queued
    // behind the waiting fetch on the same connection would wait too (as with Kafka).
    let consumer = client(&node).await;
    consumer.topic_metadata("wake", true).await.unwrap();
    let fetcher = {
        let c = consumer.clone();
        tokio::spawn(async move {
            // max_wait far longer than the test's deadline: only an append can end it in time.
            let opts = FetchOptions {
                max_wait_ms: 600_000,
                ..Default::default()
            };
            c.fetch_many(
                &[FetchTarget {
                    topic: "wake".into(),
                    partition: 0,
                    offset: 1,
                }],
                &opts,
            )
            .await
        })
    };
    // Produce only once the fetch is parked, so this checks the wake-up, not a lucky order.
    let partition = node.broker().replicas.get_by_name("wake", 0).unwrap();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while partition.waiting_fetches() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "fetch never parked");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    c.produce("wake", 0, records(1, "second"), &ProduceOptions::default())
        .await
        .unwrap();
    let fetched = tokio::time::timeout(DEADLINE, fetcher)
        .await
        .expect("fetch woken before the deadline")
        .unwrap();
    let recs = fetched.into_iter().next().unwrap().records.unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].value.as_deref(), Some(&b"second-0"[..]));
    node.shutdown().await.unwrap();
}

async fn raw_roundtrip(addr: &str, frame: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(frame).await?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len).await?;
    let mut body = vec![0u8; i32::from_be_bytes(len).max(0) as usize];
    s.read_exact(&mut body).await?;
    Ok(body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bytes_close_only_that_connection() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]).await;
    let addr = node.bootstrap();
    let c = client(&node).await;
    // The 12-byte request that makes kafka-protocol 0.18 try to reserve ~200 GB: a Metadata v1
    // header with no client id, then a topics array length of i32::MAX and nothing after it.
    let mut evil = Vec::new();
    let body: Vec<u8> = [
        &3i16.to_be_bytes()[..],
        &1i16.to_be_bytes(),
        &7i32.to_be_bytes(),
        &(-1i16).to_be_bytes(),
        &i32::MAX.to_be_bytes(),
    ]
    .concat();
    evil.extend_from_slice(&(body.len() as i32).to_be_bytes());
    evil.extend_from_slice(&body);
    assert!(
        raw_roundtrip(&addr, &evil).await.is_err(),
        "connection closed, no answer"
    );
    // Frame size beyond socket.request.max.bytes, negative sizes, short frames, noise.
    for frame in [
        &i32::MAX.to_be_bytes()[..],
        &(-5i32).to_be_bytes(),
        &[0, 0, 0, 2, 0, 1],
        b"GET / HTTP/1.1\r\n\r\n",
    ] {
        assert!(raw_roundtrip(&addr, frame).await.is_err());
    }
    // ApiVersions at a version from the future: UNSUPPORTED_VERSION in the v0 layout.
    let mut av = Vec::new();
    let body: Vec<u8> = [
        &18i16.to_be_bytes()[..],
        &99i16.to_be_bytes(),
        &11i32.to_be_bytes(),
        &(-1i16).to_be_bytes(),
    ]
    .concat();
    av.extend_from_slice(&(body.len() as i32).to_be_bytes());
    av.extend_from_slice(&body);
    let resp = raw_roundtrip(&addr, &av).await.expect("answered");
    assert_eq!(&resp[0..4], &11i32.to_be_bytes(), "correlation id");
    assert_eq!(&resp[4..6], &35i16.to_be_bytes(), "UNSUPPORTED_VERSION");
    // Everyone else is still served.
    let conn = c.any_connection().await.unwrap();
    let versions = conn.send(&ApiVersionsRequest::default()).await.unwrap();
    assert_eq!(versions.error_code, 0);
    let md = conn.send(&MetadataRequest::default()).await.unwrap();
    assert_eq!(md.brokers.len(), 1);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_topics_get_an_error_when_auto_create_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[("auto.create.topics.enable", "false")]).await;
    let c = client(&node).await;
    let err = c
        .produce("nope", 0, records(1, "x"), &ProduceOptions::default())
        .await
        .expect_err("unknown topic");
    assert!(
        err.to_string().contains("UNKNOWN_TOPIC_OR_PARTITION"),
        "{err}"
    );
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_requests_follow_kafkas_rules() {
    use sluice_protocol::kafka_protocol::messages::create_topics_request::{
        CreatableReplicaAssignment, CreatableTopic,
    };
    use sluice_protocol::kafka_protocol::messages::delete_topics_request::DeleteTopicState;
    use sluice_protocol::kafka_protocol::messages::{
        BrokerId, CreateTopicsRequest, DeleteTopicsRequest,
    };

    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]).await;
    let c = client(&node).await;
    let conn = c.any_connection().await.unwrap();
    let topic = |name: &str| TopicName(StrBytes::from_string(name.to_string()));
    let create = |t: CreatableTopic, validate_only: bool| {
        CreateTopicsRequest::default()
            .with_topics(vec![t])
            .with_timeout_ms(5000)
            .with_validate_only(validate_only)
    };
    // validate_only answers like a real creation but creates nothing.
    let r = conn
        .send(&create(
            CreatableTopic::default()
                .with_name(topic("v"))
                .with_num_partitions(3)
                .with_replication_factor(1),
            true,
        ))
        .await
        .unwrap();
    assert_eq!((r.topics[0].error_code, r.topics[0].num_partitions), (0, 3));
    assert!(node.broker().image().topic("v").is_none());
    // Explicit assignment naming a broker that does not exist.
    let bad = CreatableTopic::default()
        .with_name(topic("a"))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
        .with_assignments(vec![CreatableReplicaAssignment::default()
            .with_partition_index(0)
            .with_broker_ids(vec![BrokerId(7)])]);
    let r = conn.send(&create(bad, false)).await.unwrap();
    assert_eq!(r.topics[0].error_code, 39, "INVALID_REPLICA_ASSIGNMENT");
    // Replication factor above the number of brokers; bad names.
    let r = conn
        .send(&create(
            CreatableTopic::default()
                .with_name(topic("rf"))
                .with_num_partitions(1)
                .with_replication_factor(3),
            false,
        ))
        .await
        .unwrap();
    assert_eq!(r.topics[0].error_code, 38, "INVALID_REPLICATION_FACTOR");
    let r = conn
        .send(&create(
            CreatableTopic::default()
                .with_name(topic("a/b"))
                .with_num_partitions(1)
                .with_replication_factor(1),
            false,
        ))
        .await
        .unwrap();
    assert_eq!(r.topics[0].error_code, 17, "INVALID_TOPIC_EXCEPTION");
    // A good explicit assignment, then delete it by topic id (DeleteTopics v6).
    let good = CreatableTopic::default()
        .with_name(topic("byid"))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
        .with_assignments(
            (0..2)
                .map(|p| {
                    CreatableReplicaAssignment::default()
                        .with_partition_index(p)
                        .with_broker_ids(vec![BrokerId(1)])
                })
                .collect(),
        );
    let r = conn.send(&create(good, false)).await.unwrap();
    assert_eq!((r.topics[0].error_code, r.topics[0].num_partitions), (0, 2));
    let id = r.topics[0].topic_id;
    assert!(dir.path().join("byid-1").exists());
    let del = DeleteTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![DeleteTopicState::default().with_topic_id(id)]);
    let r = conn.send_at(&del, 6).await.unwrap();
    assert_eq!(r.responses[0].error_code, 0);
    assert_eq!(
        r.responses[0].name.as_ref().map(|n| n.0.to_string()),
        Some("byid".into())
    );
    assert!(node.broker().image().topic("byid").is_none());
    assert!(
        !dir.path().join("byid-1").exists(),
        "partition logs removed"
    );
    let r = conn.send_at(&del, 6).await.unwrap();
    assert_eq!(r.responses[0].error_code, 100, "UNKNOWN_TOPIC_ID");
    node.shutdown().await.unwrap();
}

/// OffsetForLeaderEpoch (KIP-320) as Kafka answers it: the latest epoch ends at the LEO, an
/// epoch newer than the log's is undefined (-1, -1), and a client's current leader epoch is
/// checked (newer than ours = UNKNOWN_LEADER_EPOCH); unknown partitions get their error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_for_leader_epoch_answers_from_the_epoch_cache() {
    use sluice_protocol::kafka_protocol::messages::offset_for_leader_epoch_request::{
        OffsetForLeaderPartition, OffsetForLeaderTopic,
    };
    use sluice_protocol::kafka_protocol::messages::{BrokerId, OffsetForLeaderEpochRequest};

    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]).await;
    let c = client(&node).await;
    c.topic_metadata_for_produce("epochs").await.unwrap();
    c.produce("epochs", 0, records(7, "e"), &ProduceOptions::default())
        .await
        .expect("produce");
    let ask = |current: i32, epoch: i32, partition: i32| {
        OffsetForLeaderTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("epochs")))
            .with_partitions(vec![OffsetForLeaderPartition::default()
                .with_partition(partition)
                .with_current_leader_epoch(current)
                .with_leader_epoch(epoch)])
    };
    let req = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            ask(-1, 0, 0),
            ask(-1, 5, 0),
            ask(1, 0, 0),
            ask(-1, 0, 9),
        ]);
    let conn = c.any_connection().await.expect("connection");
    let resp = conn
        .send_at(&req, 4)
        .await
        .expect("OffsetForLeaderEpoch v4");
    let got: Vec<(i16, i32, i64)> = resp
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| (p.error_code, p.leader_epoch, p.end_offset))
        .collect();
    assert_eq!(
        got,
        vec![(0, 0, 7), (0, -1, -1), (76, -1, -1), (3, -1, -1)],
        "epoch 0 ends at the LEO; epoch 5 is unknown; current epoch 1 is newer than ours; \
         partition 9 does not exist"
    );
    node.shutdown().await.unwrap();
}

/// A broker in controlled shutdown still lists itself in Metadata. A single node fences itself
/// and its partitions lose their leader; if its Metadata then named no broker at all, clients
/// (librdkafka) would drop the broker and have nothing to reconnect to after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_in_controlled_shutdown_still_lists_itself() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]).await;
    let c = client(&node).await;
    c.create_topics(
        &[sluice_client::NewTopic {
            name: "cs".into(),
            num_partitions: Some(1),
            replication_factor: Some(1),
            configs: vec![],
        }],
        false,
    )
    .await
    .unwrap();
    sluice_server::lifecycle::controlled_shutdown(node.broker(), Duration::from_secs(10)).await;
    let fenced = node.broker().image().brokers[&1].fenced;
    assert!(fenced, "controlled shutdown fences the only broker");
    let md = c.metadata(Some(&["cs".to_string()])).await.unwrap();
    let ids: Vec<i32> = md.brokers.iter().map(|b| b.id).collect();
    assert_eq!(ids, vec![1], "{md:?}");
    assert_eq!(md.topic("cs").unwrap().partitions[0].leader, -1, "{md:?}");
    node.shutdown().await.unwrap();
}
