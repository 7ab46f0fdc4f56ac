//! Shared setup of the consumer integration tests: an in-process node on 127.0.0.1:0 with
//! no initial rebalance delay, topic creation, producing numbered records and polling with
//! a deadline (never a fixed sleep).
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sluice_client::consumer::{Consumer, ConsumerConfig, ConsumerRecord, OffsetReset};
use sluice_client::{
    Client, ConsumerRebalanceListener, NewTopic, ProduceOptions, ProduceRecord, RebalanceContext,
    TopicPartition,
};
use sluice_config::BrokerConfig;
use sluice_server::Node;

pub struct Broker {
    pub node: Node,
    pub client: Arc<Client>,
    _dir: tempfile::TempDir,
}

pub async fn start() -> Broker {
    let dir = tempfile::tempdir().unwrap();
    let pairs: Vec<(String, String)> = [
        ("listeners", "PLAINTEXT://127.0.0.1:0"),
        ("log.dirs", dir.path().to_str().unwrap()),
        ("offsets.topic.num.partitions", "3"),
        ("group.initial.rebalance.delay.ms", "0"),
        ("auto.create.topics.enable", "false"),
        ("group.consumer.heartbeat.interval.ms", "500"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let (config, _) = BrokerConfig::load(None, &pairs).expect("config");
    let node = Node::start(config).await.expect("node starts");
    let client = Client::connect(&node.bootstrap()).await.unwrap();
    Broker {
        node,
        client,
        _dir: dir,
    }
}

impl Broker {
    pub fn bootstrap(&self) -> String {
        self.node.bootstrap()
    }

    pub async fn create_topic(&self, name: &str, partitions: i32) {
        let r = self
            .client
            .create_topics(
                &[NewTopic {
                    name: name.into(),
                    num_partitions: Some(partitions),
                    replication_factor: Some(1),
                    configs: vec![],
                }],
                false,
            )
            .await
            .unwrap();
        r[0].1.as_ref().expect("topic created");
        // Wait for leaders (bounded).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(t) = self.client.topic_metadata(name, true).await {
                if t.partitions.len() == partitions as usize
                    && t.partitions.iter().all(|p| p.leader >= 0)
                {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "topic {name} has no leaders");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Produces `n` records `"{topic}-{partition}-{i}"` (key `k{i}`) to one partition.
    pub async fn produce(&self, topic: &str, partition: i32, from: usize, n: usize) {
        let records = (from..from + n)
            .map(|i| ProduceRecord {
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(format!("{topic}-{partition}-{i}"))),
                headers: vec![("n".into(), Some(Bytes::from(i.to_string())))],
                timestamp: None,
            })
            .collect();
        self.client
            .produce(topic, partition, records, &ProduceOptions::default())
            .await
            .expect("produce");
    }
}

/// Test defaults: earliest, short heartbeats, small polls.
pub fn config(bootstrap: &str, group: Option<&str>) -> ConsumerConfig {
    let mut c = ConsumerConfig::new(bootstrap, group);
    c.auto_offset_reset = OffsetReset::Earliest;
    c.heartbeat_interval = Duration::from_millis(200);
    c.session_timeout = Duration::from_millis(6_000);
    c.max_poll_interval = Duration::from_millis(20_000);
    c.fetch_max_wait = Duration::from_millis(100);
    c
}

/// Polls until `n` records came back or the deadline passes.
pub async fn poll_n(consumer: &mut Consumer, n: usize, within: Duration) -> Vec<ConsumerRecord> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < n && Instant::now() < deadline {
        let recs = consumer
            .poll(Duration::from_millis(200))
            .await
            .expect("poll");
        out.extend(recs);
    }
    out
}

pub fn value(r: &ConsumerRecord) -> String {
    String::from_utf8(r.value.as_ref().unwrap().to_vec()).unwrap()
}

/// Rebalance callbacks as they happened: ("revoked" | "assigned" | "lost", partitions).
#[allow(dead_code)]
pub type Events = std::sync::Arc<std::sync::Mutex<Vec<(&'static str, Vec<TopicPartition>)>>>;

/// A rebalance listener that records every callback into `Events`.
#[allow(dead_code)]
pub struct Recorder(pub Events);

impl ConsumerRebalanceListener for Recorder {
    fn on_partitions_revoked(&mut self, p: &[TopicPartition], _: &mut RebalanceContext) {
        self.0.lock().unwrap().push(("revoked", p.to_vec()));
    }
    fn on_partitions_assigned(&mut self, p: &[TopicPartition], _: &mut RebalanceContext) {
        self.0.lock().unwrap().push(("assigned", p.to_vec()));
    }
    fn on_partitions_lost(&mut self, p: &[TopicPartition], _: &mut RebalanceContext) {
        self.0.lock().unwrap().push(("lost", p.to_vec()));
    }
}
