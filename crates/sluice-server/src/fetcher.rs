//! Replica fetchers (Kafka's ReplicaFetcherThread): for every partition this broker follows,
//! a fetcher per leader broker sends Fetch requests with this broker's replica id from the
//! follower's log end offset, appends what comes back exactly as the leader wrote it, takes
//! the leader's high watermark and log start offset, and truncates when the leader reports a
//! diverging epoch (KIP-320: Fetch v12 carries the last fetched epoch, so no separate
//! OffsetForLeaderEpoch round trip is needed). Which partitions to fetch, and from whom, follows
//! the metadata image (`FetcherManager::update`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use sluice_client::Connection;
use sluice_metadata::MetadataImage;
use sluice_protocol::kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use sluice_protocol::kafka_protocol::messages::fetch_response::PartitionData;
use sluice_protocol::kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
use sluice_storage::TopicPartition;
use tokio::sync::Notify;

use crate::broker::{lock, Broker};
use crate::handlers::str_bytes;
use crate::replica_manager::{codes, Partition};

/// The Fetch version fetchers use: topic names, replica_id in the body, KIP-320 fields.
const FETCH_VERSION: i16 = 12;

/// One partition being fetched, at the leader epoch the image gave it.
struct Fetching {
    partition: Arc<Partition>,
    leader_epoch: i32,
}

struct Fetcher {
    addr: String,
    parts: Arc<Mutex<HashMap<TopicPartition, Fetching>>>,
    wake: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

/// The fetchers of this broker, one per leader it follows.
#[derive(Default)]
pub struct FetcherManager {
    fetchers: Mutex<HashMap<i32, Fetcher>>,
    /// While set, fetchers send no fetch and drop any answer that arrives (tests use it to
    /// stall a live follower: it keeps heartbeating but falls behind).
    paused: std::sync::atomic::AtomicBool,
}

/// Replica fetch settings (Kafka's `replica.fetch.*`).
#[derive(Clone, Copy)]
struct Settings {
    max_wait_ms: i32,
    min_bytes: i32,
    max_bytes: i32,
    partition_max_bytes: i32,
    backoff: Duration,
}

fn settings(broker: &Broker) -> Settings {
    let c = broker.effective_config();
    let int = |k: &str, d: i64| c.get_i64(k).unwrap_or(d);
    Settings {
        max_wait_ms: int("replica.fetch.wait.max.ms", 500).clamp(0, 60_000) as i32,
        min_bytes: int("replica.fetch.min.bytes", 1).clamp(0, i32::MAX as i64) as i32,
        max_bytes: int("replica.fetch.response.max.bytes", 10 << 20).clamp(1, i32::MAX as i64)
            as i32,
        partition_max_bytes: int("replica.fetch.max.bytes", 1 << 20).clamp(1, i32::MAX as i64)
            as i32,
        backoff: Duration::from_millis(
            int("replica.fetch.backoff.ms", 1000).clamp(10, 60_000) as u64
        ),
    }
}

impl FetcherManager {
    /// Brings the fetchers in line with the image: every hosted partition led by another live
    /// broker is fetched from that broker at its current leader epoch; nothing else is.
    pub fn update(
        &self,
        broker: &Arc<Broker>,
        image: &MetadataImage,
        partitions: &[Arc<Partition>],
    ) {
        let mut want: HashMap<i32, Vec<(Arc<Partition>, i32)>> = HashMap::new();
        for p in partitions {
            let st = p.state();
            if st.leader >= 0
                && st.leader != broker.node_id
                && st.replicas.contains(&broker.node_id)
            {
                want.entry(st.leader)
                    .or_default()
                    .push((p.clone(), st.leader_epoch));
            }
        }
        let listener = broker.config.inter_broker_listener_name.clone();
        let mut fetchers = lock(&self.fetchers);
        // Fetchers of leaders we no longer follow (or whose address changed) stop.
        let addr_of = |leader: i32| {
            image.brokers.get(&leader).and_then(|b| {
                b.endpoints
                    .iter()
                    .find(|e| e.listener == listener)
                    .or_else(|| b.endpoints.first())
                    .map(|e| format!("{}:{}", e.host, e.port))
            })
        };
        fetchers.retain(|leader, f| {
            let keep = want.contains_key(leader) && addr_of(*leader).as_deref() == Some(&f.addr);
            if !keep {
                f.task.abort();
            }
            keep
        });
        for (leader, parts) in want {
            let Some(addr) = addr_of(leader) else {
                continue;
            };
            let f = fetchers.entry(leader).or_insert_with(|| {
                let parts = Arc::new(Mutex::new(HashMap::new()));
                let wake = Arc::new(Notify::new());
                let task = tokio::spawn(run(
                    Arc::downgrade(broker),
                    leader,
                    addr.clone(),
                    parts.clone(),
                    wake.clone(),
                ));
                tracing::info!(leader, %addr, "started replica fetcher");
                Fetcher {
                    addr,
                    parts,
                    wake,
                    task,
                }
            });
            let mut map = lock(&f.parts);
            map.clear();
            for (p, epoch) in parts {
                map.insert(
                    p.tp.clone(),
                    Fetching {
                        partition: p,
                        leader_epoch: epoch,
                    },
                );
            }
            drop(map);
            f.wake.notify_one();
        }
    }

    /// Pauses (true) or resumes (false) replica fetching on this broker.
    pub fn set_paused(&self, paused: bool) {
        self.paused
            .store(paused, std::sync::atomic::Ordering::SeqCst);
        if !paused {
            for f in lock(&self.fetchers).values() {
                f.wake.notify_one();
            }
        }
    }

    fn is_paused(&self) -> bool {
        self.paused.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn shutdown(&self) {
        for (_, f) in lock(&self.fetchers).drain() {
            f.task.abort();
        }
    }
}

async fn run(
    broker: Weak<Broker>,
    leader: i32,
    addr: String,
    parts: Arc<Mutex<HashMap<TopicPartition, Fetching>>>,
    wake: Arc<Notify>,
) {
    let mut conn: Option<Connection> = None;
    loop {
        let Some(b) = broker.upgrade() else { return };
        let s = settings(&b);
        let node_id = b.node_id;
        let paused = b.fetchers.is_paused();
        drop(b);
        if paused {
            let _ = tokio::time::timeout(Duration::from_millis(20), wake.notified()).await;
            continue;
        }
        let snapshot: Vec<(TopicPartition, Arc<Partition>, i32)> = lock(&parts)
            .iter()
            .map(|(tp, f)| (tp.clone(), f.partition.clone(), f.leader_epoch))
            .collect();
        if snapshot.is_empty() {
            let _ = tokio::time::timeout(Duration::from_secs(1), wake.notified()).await;
            continue;
        }
        let usable = match &conn {
            Some(c) => c.is_usable().await,
            None => false,
        };
        if !usable {
            let timeout = Duration::from_millis(s.max_wait_ms as u64) + Duration::from_secs(30);
            match Connection::connect(
                &addr,
                &format!("broker-{node_id}-fetcher-{leader}"),
                timeout,
            )
            .await
            {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::debug!(leader, %addr, error = %e, "replica fetcher cannot connect");
                    conn = None;
                    tokio::time::sleep(s.backoff).await;
                    continue;
                }
            }
        }
        let Some(c) = conn.as_ref() else { continue };
        let mut topics: BTreeMap<String, Vec<FetchPartition>> = BTreeMap::new();
        for (tp, p, epoch) in &snapshot {
            topics.entry(tp.topic.clone()).or_default().push(
                FetchPartition::default()
                    .with_partition(tp.partition)
                    .with_current_leader_epoch(*epoch)
                    .with_fetch_offset(p.log.log_end_offset())
                    .with_last_fetched_epoch(p.log.latest_epoch().unwrap_or(-1))
                    .with_log_start_offset(p.log.log_start_offset())
                    .with_partition_max_bytes(s.partition_max_bytes),
            );
        }
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(node_id))
            .with_max_wait_ms(s.max_wait_ms)
            .with_min_bytes(s.min_bytes)
            .with_max_bytes(s.max_bytes)
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        FetchTopic::default()
                            .with_topic(TopicName(str_bytes(t)))
                            .with_partitions(ps)
                    })
                    .collect(),
            );
        let response = match c.send_at(&request, FETCH_VERSION).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(leader, error = %e, "replica fetch failed");
                conn = None;
                tokio::time::sleep(s.backoff).await;
                continue;
            }
        };
        if broker.upgrade().is_none_or(|b| b.fetchers.is_paused()) {
            continue;
        }
        let mut backoff = false;
        for topic in response.responses {
            for data in topic.partitions {
                let tp = TopicPartition::new(topic.topic.0.to_string(), data.partition_index);
                // Only if still fetched at the same epoch (the image may have moved on).
                let current = lock(&parts)
                    .get(&tp)
                    .map(|f| (f.partition.clone(), f.leader_epoch));
                let Some((p, epoch)) = current else { continue };
                if snapshot.iter().any(|(t, _, e)| *t == tp && *e != epoch) {
                    continue;
                }
                backoff |= !process(&p, &data);
            }
        }
        if backoff {
            tokio::time::sleep(s.backoff.min(Duration::from_millis(200))).await;
        }
    }
}

/// Applies one partition's fetch answer to the follower log. False when the partition
/// answered an error the fetcher should back off from.
fn process(p: &Partition, data: &PartitionData) -> bool {
    let log = &p.log;
    match data.error_code {
        codes::NONE => {}
        codes::OFFSET_OUT_OF_RANGE => {
            // Our log end is outside the leader's log: below its start (retention moved on)
            // → start over there; above its end → drop what the leader never had.
            let r = if log.log_end_offset() < data.log_start_offset {
                log.truncate_fully_and_start_at(data.log_start_offset)
            } else {
                log.truncate_to(data.high_watermark.max(0))
            };
            if let Err(e) = r {
                tracing::warn!(partition = %p.tp, error = %e, "follower truncation failed");
            }
            p.notify();
            return true;
        }
        code => {
            tracing::debug!(partition = %p.tp, code, "replica fetch error");
            return false;
        }
    }
    if data.diverging_epoch.epoch >= 0 {
        let to = data.diverging_epoch.end_offset.min(log.log_end_offset());
        tracing::info!(
            partition = %p.tp,
            epoch = data.diverging_epoch.epoch,
            truncate_to = to,
            "follower log diverged from the leader: truncating"
        );
        if let Err(e) = log.truncate_to(to) {
            tracing::warn!(partition = %p.tp, error = %e, "follower truncation failed");
        }
        p.notify();
        return true;
    }
    if let Some(records) = data.records.as_ref().filter(|r| !r.is_empty()) {
        if let Err(e) = log.append_as_follower(records) {
            tracing::warn!(partition = %p.tp, error = %e, "follower append failed");
            return false;
        }
    }
    log.update_high_watermark(data.high_watermark.min(log.log_end_offset()));
    if data.log_start_offset > log.log_start_offset() {
        // DeleteRecords / retention on the leader moved its log start: follow it.
        let _ = log.delete_records_before(data.log_start_offset.min(log.log_end_offset()));
    }
    p.notify();
    true
}
