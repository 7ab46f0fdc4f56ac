//! Replica fetchers (Kafka's ReplicaFetcherThread): for every partition this broker follows,
//! a fetcher per leader broker sends Fetch requests with this broker's replica id from the
//! follower's log end offset, appends what comes back exactly as the leader wrote it, takes
//! the leader's high watermark and log start offset, and truncates when the leader reports a
//! diverging epoch (KIP-320: Fetch v12 carries the last fetched epoch, so no separate
//! OffsetForLeaderEpoch round trip is needed). Which partitions to fetch, and from whom, follows
//! the metadata image (`FetcherManager::update`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

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
    /// Not fetched before this instant: the partition's last answer was an error
    /// (`replica.fetch.backoff.ms`, Kafka's delayed partitions).
    delayed_until: Option<Instant>,
}

type Parts = Arc<Mutex<HashMap<TopicPartition, Fetching>>>;

/// A fetcher is identified as in Kafka: the broker it fetches from and its fetcher id
/// (`0..num.replica.fetchers`).
type FetcherKey = (i32, i32);

struct Fetcher {
    addr: String,
    /// The partitions this fetcher owns. A response is applied with this lock held, and only
    /// to partitions still owned at the epoch and log end offset it was fetched for, so a
    /// partition moved to another fetcher is never written by two fetchers.
    parts: Parts,
    wake: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

/// The fetchers of this broker: `num.replica.fetchers` per leader it follows (only those with
/// partitions run), each with its own connection.
#[derive(Default)]
pub struct FetcherManager {
    fetchers: Mutex<HashMap<FetcherKey, Fetcher>>,
    /// While set, fetchers send no fetch and drop any answer that arrives (tests use it to
    /// stall a live follower: it keeps heartbeating but falls behind).
    paused: std::sync::atomic::AtomicBool,
}

/// Java's `String.hashCode` (UTF-16 code units, 32-bit wrapping arithmetic).
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// Kafka's `AbstractFetcherManager.getFetcherId`:
/// `Utils.abs(31 * topic.hashCode() + partition) % numFetchers` (`Utils.abs(MIN_VALUE)` is 0).
pub fn fetcher_id(topic: &str, partition: i32, num_fetchers: i32) -> i32 {
    let n = 31i32
        .wrapping_mul(java_string_hash(topic))
        .wrapping_add(partition);
    let abs = if n == i32::MIN { 0 } else { n.abs() };
    abs % num_fetchers.max(1)
}

/// Replica fetch settings (Kafka's `replica.fetch.*`, `replica.socket.*`).
#[derive(Clone, Copy)]
struct Settings {
    max_wait_ms: i32,
    min_bytes: i32,
    max_bytes: i32,
    partition_max_bytes: i32,
    backoff: Duration,
    socket_timeout: Duration,
    receive_buffer: Option<u32>,
}

fn settings(broker: &Broker) -> Settings {
    let c = broker.effective_config();
    let int = |k: &str, d: i64| c.get_i64(k).unwrap_or(d);
    let i32_max = i64::from(i32::MAX);
    Settings {
        max_wait_ms: int("replica.fetch.wait.max.ms", 500).clamp(0, i32_max) as i32,
        min_bytes: int("replica.fetch.min.bytes", 1).clamp(0, i32_max) as i32,
        max_bytes: int("replica.fetch.response.max.bytes", 10 << 20).clamp(0, i32_max) as i32,
        partition_max_bytes: int("replica.fetch.max.bytes", 1 << 20).clamp(0, i32_max) as i32,
        // 0 is honoured as 1 ms so that a broken leader cannot spin a fetcher.
        backoff: Duration::from_millis(
            int("replica.fetch.backoff.ms", 1000).clamp(1, i32_max) as u64
        ),
        socket_timeout: Duration::from_millis(
            int("replica.socket.timeout.ms", 30_000).clamp(1, i32_max) as u64,
        ),
        // Kafka's -1: the OS default.
        receive_buffer: u32::try_from(int("replica.socket.receive.buffer.bytes", 65_536))
            .ok()
            .filter(|n| *n > 0),
    }
}

impl FetcherManager {
    /// Brings the fetchers in line with the image: every hosted partition led by another live
    /// broker is fetched from that broker, by fetcher [`fetcher_id`] of
    /// `num.replica.fetchers`, at its current leader epoch; nothing else is.
    pub fn update(
        &self,
        broker: &Arc<Broker>,
        image: &MetadataImage,
        partitions: &[Arc<Partition>],
    ) {
        let num_fetchers = broker
            .effective_config()
            .get_i64("num.replica.fetchers")
            .unwrap_or(1)
            .clamp(1, i64::from(i32::MAX)) as i32;
        let mut want: HashMap<FetcherKey, Vec<(Arc<Partition>, i32)>> = HashMap::new();
        for p in partitions {
            let st = p.state();
            if st.leader >= 0
                && st.leader != broker.node_id
                && st.replicas.contains(&broker.node_id)
            {
                let id = fetcher_id(&p.tp.topic, p.tp.partition, num_fetchers);
                want.entry((st.leader, id))
                    .or_default()
                    .push((p.clone(), st.leader_epoch));
            }
        }
        let listener = broker.config.inter_broker_listener_name.clone();
        let mut fetchers = lock(&self.fetchers);
        let addr_of = |leader: i32| {
            image.brokers.get(&leader).and_then(|b| {
                b.endpoints
                    .iter()
                    .find(|e| e.listener == listener)
                    .or_else(|| b.endpoints.first())
                    .map(|e| format!("{}:{}", e.host, e.port))
            })
        };
        // First every fetcher lets go of what it no longer owns (waiting for a response being
        // applied), and fetchers of leaders we no longer follow, whose address changed or
        // whose id is beyond `num.replica.fetchers`, stop; only then are partitions handed to
        // their new fetchers.
        fetchers.retain(|key, f| {
            let keep = want.contains_key(key) && addr_of(key.0).as_deref() == Some(&f.addr);
            let mut map = lock(&f.parts);
            if keep {
                let owned = &want[key];
                map.retain(|tp, _| owned.iter().any(|(p, _)| p.tp == *tp));
            } else {
                map.clear();
                f.task.abort();
            }
            keep
        });
        for (key, parts) in want {
            let (leader, fetcher_id) = key;
            let Some(addr) = addr_of(leader) else {
                continue;
            };
            let f = fetchers.entry(key).or_insert_with(|| {
                let parts: Parts = Arc::new(Mutex::new(HashMap::new()));
                let wake = Arc::new(Notify::new());
                let task = tokio::spawn(run(
                    Arc::downgrade(broker),
                    key,
                    addr.clone(),
                    parts.clone(),
                    wake.clone(),
                ));
                tracing::info!(leader, fetcher_id, %addr, "started replica fetcher");
                Fetcher {
                    addr,
                    parts,
                    wake,
                    task,
                }
            });
            let mut map = lock(&f.parts);
            for (p, epoch) in parts {
                // A partition kept at the same epoch keeps its backoff (Kafka keeps its fetch
                // state); a new one or a new epoch starts fresh.
                let delayed_until = map
                    .get(&p.tp)
                    .filter(|old| old.leader_epoch == epoch && Arc::ptr_eq(&old.partition, &p))
                    .and_then(|old| old.delayed_until);
                map.insert(
                    p.tp.clone(),
                    Fetching {
                        partition: p,
                        leader_epoch: epoch,
                        delayed_until,
                    },
                );
            }
            drop(map);
            f.wake.notify_one();
        }
    }

    /// Which partitions each fetcher owns: (source broker, fetcher id) → partitions, sorted.
    /// (Kafka exposes the same through its fetcher thread names and metrics.)
    pub fn assignment(&self) -> BTreeMap<(i32, i32), Vec<TopicPartition>> {
        lock(&self.fetchers)
            .iter()
            .map(|(key, f)| {
                let mut tps: Vec<TopicPartition> = lock(&f.parts).keys().cloned().collect();
                tps.sort();
                (*key, tps)
            })
            .filter(|(_, tps)| !tps.is_empty())
            .collect()
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

/// What one fetch asked for a partition.
struct Sent {
    partition: Arc<Partition>,
    leader_epoch: i32,
    fetch_offset: i64,
}

async fn run(broker: Weak<Broker>, key: FetcherKey, addr: String, parts: Parts, wake: Arc<Notify>) {
    let (leader, fetcher_id) = key;
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
        let now = Instant::now();
        let mut next_ready: Option<Instant> = None;
        let mut sent: HashMap<TopicPartition, Sent> = HashMap::new();
        for (tp, f) in lock(&parts).iter() {
            if let Some(until) = f.delayed_until.filter(|u| *u > now) {
                next_ready = Some(next_ready.map_or(until, |n| n.min(until)));
                continue;
            }
            sent.insert(
                tp.clone(),
                Sent {
                    partition: f.partition.clone(),
                    leader_epoch: f.leader_epoch,
                    fetch_offset: f.partition.log.log_end_offset(),
                },
            );
        }
        if sent.is_empty() {
            // Nothing fetchable: wait for new partitions, or for the first backoff to end.
            let wait = next_ready.map_or(s.backoff, |n| n.saturating_duration_since(now));
            let _ = tokio::time::timeout(wait, wake.notified()).await;
            continue;
        }
        let usable = match &conn {
            Some(c) => c.is_usable().await,
            None => false,
        };
        if !usable {
            match Connection::connect_with_receive_buffer(
                &addr,
                &format!("broker-{node_id}-fetcher-{fetcher_id}"),
                s.socket_timeout,
                s.receive_buffer,
            )
            .await
            {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::debug!(leader, fetcher_id, %addr, error = %e, "replica fetcher cannot connect");
                    conn = None;
                    tokio::time::sleep(s.backoff).await;
                    continue;
                }
            }
        }
        let Some(c) = conn.as_ref() else { continue };
        let mut topics: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
        for (tp, x) in &sent {
            topics.entry(tp.topic.as_str()).or_default().push(
                FetchPartition::default()
                    .with_partition(tp.partition)
                    .with_current_leader_epoch(x.leader_epoch)
                    .with_fetch_offset(x.fetch_offset)
                    .with_last_fetched_epoch(x.partition.log.latest_epoch().unwrap_or(-1))
                    .with_log_start_offset(x.partition.log.log_start_offset())
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
                            .with_topic(TopicName(str_bytes(t.to_string())))
                            .with_partitions(ps)
                    })
                    .collect(),
            );
        let response = match c.send_at(&request, FETCH_VERSION).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(leader, fetcher_id, error = %e, "replica fetch failed");
                conn = None;
                tokio::time::sleep(s.backoff).await;
                continue;
            }
        };
        if broker.upgrade().is_none_or(|b| b.fetchers.is_paused()) {
            continue;
        }
        if response.error_code != codes::NONE {
            tracing::debug!(
                leader,
                fetcher_id,
                code = response.error_code,
                "replica fetch refused"
            );
            tokio::time::sleep(s.backoff).await;
            continue;
        }
        let mut map = lock(&parts);
        for topic in response.responses {
            for data in topic.partitions {
                let tp = TopicPartition::new(topic.topic.0.to_string(), data.partition_index);
                // Only if this fetcher still owns the partition at the epoch and offset it
                // asked for (the image may have moved it, or it was truncated meanwhile).
                let (Some(asked), Some(f)) = (sent.get(&tp), map.get_mut(&tp)) else {
                    continue;
                };
                if f.leader_epoch != asked.leader_epoch
                    || !Arc::ptr_eq(&f.partition, &asked.partition)
                    || f.partition.log.log_end_offset() != asked.fetch_offset
                {
                    continue;
                }
                match process(&f.partition, &data) {
                    Fetched::Ok => {}
                    Fetched::Backoff => f.delayed_until = Some(Instant::now() + s.backoff),
                    Fetched::LeaderBehind => {
                        f.delayed_until = Some(Instant::now() + s.backoff.min(LEADER_BEHIND_RETRY))
                    }
                }
            }
        }
    }
}

/// What one partition's fetch answer asks of the fetcher.
enum Fetched {
    Ok,
    /// An error: hold the partition back for `replica.fetch.backoff.ms`.
    Backoff,
    /// The leader we fetch from has not applied the leadership change we know of yet
    /// (NOT_LEADER_OR_FOLLOWER or UNKNOWN_LEADER_EPOCH from the replica our image names as
    /// leader): it does within milliseconds, so retry after `LEADER_BEHIND_RETRY`. Kafka
    /// waits the full backoff (1 s by default) here, which right after a failover holds up
    /// the new leader's HW, and so every acks=all produce, by that second.
    LeaderBehind,
}

/// Retry delay for `Fetched::LeaderBehind` (capped by `replica.fetch.backoff.ms`).
const LEADER_BEHIND_RETRY: Duration = Duration::from_millis(50);

/// Applies one partition's fetch answer to the follower log.
fn process(p: &Partition, data: &PartitionData) -> Fetched {
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
            return Fetched::Ok;
        }
        codes::NOT_LEADER_OR_FOLLOWER | codes::UNKNOWN_LEADER_EPOCH => {
            tracing::debug!(partition = %p.tp, code = data.error_code, "leader has not applied the leadership change yet");
            return Fetched::LeaderBehind;
        }
        code => {
            tracing::debug!(partition = %p.tp, code, "replica fetch error");
            return Fetched::Backoff;
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
        return Fetched::Ok;
    }
    if let Some(records) = data.records.as_ref().filter(|r| !r.is_empty()) {
        if let Err(e) = log.append_as_follower(records) {
            tracing::warn!(partition = %p.tp, error = %e, "follower append failed");
            return Fetched::Backoff;
        }
    }
    log.update_high_watermark(data.high_watermark.min(log.log_end_offset()));
    if data.log_start_offset > log.log_start_offset() {
        // DeleteRecords / retention on the leader moved its log start: follow it.
        let _ = log.delete_records_before(data.log_start_offset.min(log.log_end_offset()));
    }
    p.notify();
    Fetched::Ok
}

#[cfg(test)]
mod tests {
    use super::{fetcher_id, java_string_hash};

    /// Expected values computed outside Rust by emulating Java's `String.hashCode` (UTF-16
    /// code units, 32-bit two's-complement wrapping) and Kafka's
    /// `Utils.abs(31 * hash + partition) % n` in Python.
    #[test]
    fn java_string_hash_matches_java() {
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("spread"), -895_684_237);
        assert_eq!(java_string_hash("__consumer_offsets"), -970_371_369);
        assert_eq!(java_string_hash("my-topic"), -1_894_580_786);
        assert_eq!(java_string_hash("payments.eu-west-1"), 1_677_770_191);
        // Non-ASCII, including a character outside the BMP (a UTF-16 surrogate pair).
        assert_eq!(java_string_hash("zürich-€-𝄞"), 1_192_112_378);
        assert_eq!(java_string_hash("bzcqugrr"), -1_454_747_624);
    }

    #[test]
    fn fetcher_id_is_kafkas_formula() {
        let ids = |t: &str, n: i32| (0..6).map(|p| fetcher_id(t, p, n)).collect::<Vec<_>>();
        assert_eq!(ids("spread", 3), [1, 0, 2, 1, 0, 2]);
        assert_eq!(ids("__consumer_offsets", 3), [2, 1, 0, 2, 1, 0]);
        assert_eq!(ids("my-topic", 3), [0, 1, 2, 0, 1, 2]);
        assert_eq!(ids("payments.eu-west-1", 3), [1, 2, 0, 1, 2, 0]);
        assert_eq!(ids("zürich-€-𝄞", 3), [1, 0, 2, 1, 0, 2]);
        assert_eq!(ids("", 3), [0, 1, 2, 0, 1, 2]);
        assert_eq!(fetcher_id("spread", 7, 5), 4);
        assert_eq!(fetcher_id("my-topic", 1000, 7), 6);
        assert_eq!(fetcher_id("payments.eu-west-1", 1000, 7), 4);
        assert_eq!(fetcher_id("zürich-€-𝄞", 1000, 7), 3);
        // 31 * hash("bzcqugrr") + 19736 wraps to Integer.MIN_VALUE, which Utils.abs maps to 0;
        // one less is Integer.MAX_VALUE, one more is -MAX_VALUE.
        assert_eq!(fetcher_id("bzcqugrr", 19_736, 3), 0);
        assert_eq!(fetcher_id("bzcqugrr", 19_735, 3), 1);
        assert_eq!(fetcher_id("bzcqugrr", 19_735, 7), 1);
        assert_eq!(fetcher_id("bzcqugrr", 19_737, 7), 1);
        // One fetcher: everything on fetcher 0.
        assert!((0..100).all(|p| fetcher_id("spread", p, 1) == 0));
    }
}
