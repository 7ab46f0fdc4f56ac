//! The shared state of a running node that every handler sees: configuration, the metadata
//! quorum and the image this broker applied, the controller commit path, the replica manager,
//! producer-id allocation and the advertised endpoints. Handlers get `&Broker`; nothing here
//! knows about sockets.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use sluice_config::BrokerConfig;
use sluice_group::{GroupConfig, GroupCoordinator};
use sluice_metadata::controller::{self, NewTopic};
use sluice_metadata::quorum::{Quorum, QuorumError};
use sluice_metadata::{MetadataImage, MetadataRecord};
use tokio::sync::watch;

use crate::controller::ControllerState;
use crate::rpc::{self, RpcClient};

use crate::group_log::{self, CONSUMER_OFFSETS};
use crate::replica_manager::ReplicaManager;

/// An endpoint clients are told to use (from `advertised.listeners`).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub listener: String,
    pub host: String,
    pub port: i32,
}

pub struct Broker {
    /// The static config (file + overrides). Use [`Broker::effective_config`] for values
    /// that dynamic broker configs can change.
    pub config: BrokerConfig,
    /// Static config with the dynamic broker configs of the metadata image layered on.
    effective: std::sync::RwLock<Arc<BrokerConfig>>,
    pub node_id: i32,
    pub cluster_id: String,
    /// This node's handle on the metadata quorum (every node is a voter today).
    pub quorum: Arc<Quorum>,
    /// Controller listener address of every voter.
    pub voters: BTreeMap<i32, String>,
    /// Identifies this process's registration (a restart registers a new incarnation).
    pub incarnation_id: uuid::Uuid,
    /// The image this broker applied last (handlers serve from it).
    image: RwLock<Arc<MetadataImage>>,
    /// Offset of that image, for waiting until a committed change is applied here.
    applied: watch::Sender<i64>,
    /// The active controller's in-memory state (heartbeat times); used only while leader.
    pub(crate) controller: ControllerState,
    /// Connections to controllers, by address.
    rpc_clients: Mutex<HashMap<String, Arc<RpcClient>>>,
    /// Broker-only nodes: controller addresses to try while no leader is known
    /// (`controller.quorum.voters` or `controller.quorum.bootstrap.servers`), and the next one
    /// to try.
    pub(crate) controller_bootstrap: Mutex<(Vec<String>, usize)>,
    /// Replica fetchers of the partitions this broker follows.
    pub fetchers: crate::fetcher::FetcherManager,
    /// Set by `Node::start` once the fetchers may run (never during shutdown).
    self_ref: std::sync::OnceLock<std::sync::Weak<Broker>>,
    pub replicas: ReplicaManager,
    pub advertised: Vec<Endpoint>,
    /// The classic group coordinator over this node's `__consumer_offsets` partitions.
    pub groups: GroupCoordinator,
    /// Producer ids handed out from the current block: (next, end exclusive).
    producer_ids: tokio::sync::Mutex<(i64, i64)>,
    /// Serializes controller operations: validate against the image, then commit.
    controller_lock: tokio::sync::Mutex<()>,
}

/// Size of the producer id block a broker reserves from the controller at a time (Kafka's).
const PRODUCER_ID_BLOCK: i64 = 1000;
/// How long a controller waits for its metadata records to commit.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(30);

impl Broker {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: BrokerConfig,
        node_id: i32,
        cluster_id: String,
        quorum: Arc<Quorum>,
        voters: BTreeMap<i32, String>,
        replicas: ReplicaManager,
        advertised: Vec<Endpoint>,
        groups: GroupCoordinator,
    ) -> Broker {
        let (applied, _) = watch::channel(-1);
        Broker {
            effective: std::sync::RwLock::new(Arc::new(config.clone())),
            config,
            node_id,
            cluster_id,
            quorum,
            voters,
            incarnation_id: uuid::Uuid::new_v4(),
            image: RwLock::new(Arc::new(MetadataImage::empty())),
            applied,
            controller: ControllerState::default(),
            rpc_clients: Mutex::new(HashMap::new()),
            controller_bootstrap: Mutex::new((Vec::new(), 0)),
            fetchers: Default::default(),
            self_ref: std::sync::OnceLock::new(),
            replicas,
            advertised,
            groups,
            producer_ids: tokio::sync::Mutex::new((0, 0)),
            controller_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The image this broker has applied (its partitions and caches match it).
    pub fn image(&self) -> Arc<MetadataImage> {
        match self.image.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Applies `image` (blocking: creates/deletes logs, loads groups) and publishes it to
    /// handlers. Called by the node's single applier task, in log order.
    pub fn install_image(&self, image: Arc<MetadataImage>) -> anyhow::Result<()> {
        self.apply_image(&image)?;
        let offset = image.last_offset;
        match self.image.write() {
            Ok(mut g) => *g = image,
            Err(p) => *p.into_inner() = image,
        }
        self.applied.send_replace(offset);
        Ok(())
    }

    /// Waits (bounded) until this broker applied the metadata offset `offset`.
    pub async fn wait_applied(&self, offset: i64, timeout: Duration) -> bool {
        let mut rx = self.applied.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|o| *o >= offset))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Whether this node is the active controller (the Raft leader).
    pub fn is_active_controller(&self) -> bool {
        self.quorum.is_leader()
    }

    /// The active controller's id as clients see it (-1 when unknown).
    pub fn controller_id(&self) -> i32 {
        self.quorum.leader().map_or(-1, |l| l as i32)
    }

    /// A connection to the active controller (None when no leader is known or it is us). Its
    /// address comes from `controller.quorum.voters`, else from the Raft membership (a
    /// broker-only node that found the controllers through bootstrap servers).
    pub fn controller_client(&self) -> Option<Arc<RpcClient>> {
        let leader = self.quorum.leader()?;
        if leader as i32 == self.node_id {
            return None;
        }
        let addr = match self.voters.get(&(leader as i32)) {
            Some(a) => a.clone(),
            None => self.quorum.members().get(&leader)?.clone(),
        };
        Some(self.rpc_client(&addr))
    }

    /// The (shared) connection to the controller at `addr`.
    pub fn rpc_client(&self, addr: &str) -> Arc<RpcClient> {
        lock(&self.rpc_clients)
            .entry(addr.to_string())
            .or_insert_with(|| Arc::new(RpcClient::new(addr.to_string())))
            .clone()
    }

    /// A broker-only node that knows no leader yet: the next controller address to try.
    pub fn next_bootstrap_controller(&self) -> Option<Arc<RpcClient>> {
        let addr = {
            let mut b = lock(&self.controller_bootstrap);
            if b.0.is_empty() {
                return None;
            }
            let i = b.1 % b.0.len();
            b.1 = b.1.wrapping_add(1);
            b.0[i].clone()
        };
        Some(self.rpc_client(&addr))
    }

    /// Runs a Kafka request frame (header + body) on the active controller and returns its
    /// complete response frame once this broker has applied what the controller committed.
    /// While there is no controller, or the one we reached has just lost leadership
    /// (NOT_CONTROLLER) or cannot be reached, it waits for the quorum to elect one and retries,
    /// for up to `FORWARD_TIMEOUT` (as Kafka's forwarding manager does); it gives up at once if
    /// this node becomes the active controller, so the caller can run the request itself.
    pub async fn forward(&self, frame: &[u8]) -> anyhow::Result<Vec<u8>> {
        const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);
        let deadline = tokio::time::Instant::now() + FORWARD_TIMEOUT;
        let mut backoff = Duration::from_millis(50);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if self.is_active_controller() {
                anyhow::bail!("this node became the active controller");
            }
            let attempt = match self.controller_client() {
                Some(client) => client
                    .call(rpc::API_FORWARD, frame, left)
                    .await
                    .map_err(|e| anyhow::anyhow!("controller {}: {e}", self.controller_id())),
                None => Err(anyhow::anyhow!("no active controller known")),
            };
            match attempt {
                Ok(answer) => {
                    if answer.len() < 8 {
                        anyhow::bail!("short forward response");
                    }
                    let offset = i64::from_be_bytes(answer[..8].try_into().unwrap_or_default());
                    if !self.wait_applied(offset, Duration::from_secs(5)).await {
                        tracing::warn!(offset, "forwarded change not applied here within 5 s");
                    }
                    return Ok(answer[8..].to_vec());
                }
                Err(e) if tokio::time::Instant::now() + backoff < deadline => {
                    tracing::debug!(error = %e, "forwarding failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Lets `apply_image` start replica fetchers (they hold a weak reference to the broker).
    pub fn enable_fetchers(self: &Arc<Self>) {
        let _ = self.self_ref.set(Arc::downgrade(self));
    }

    /// The config in force now: static settings plus dynamic broker configs.
    pub fn effective_config(&self) -> Arc<BrokerConfig> {
        match self.effective.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Recomputes the effective config from the image's dynamic broker configs and brings
    /// local partition logs in line with the image. Blocking: call off the async workers.
    pub fn apply_image(&self, image: &MetadataImage) -> anyhow::Result<()> {
        let empty = BTreeMap::new();
        let defaults = image.broker_configs.get("").unwrap_or(&empty);
        let mine = image
            .broker_configs
            .get(&self.node_id.to_string())
            .unwrap_or(&empty);
        let effective = match self.config.with_dynamic(defaults, mine) {
            Ok(c) => Arc::new(c),
            Err(e) => {
                tracing::error!(error = %e, "ignoring invalid dynamic broker configs");
                Arc::new(self.config.clone())
            }
        };
        match self.effective.write() {
            Ok(mut g) => *g = effective.clone(),
            Err(p) => *p.into_inner() = effective.clone(),
        }
        let partitions = self.replicas.sync_with_image(image, &effective)?;
        if let Some(me) = self.self_ref.get().and_then(|w| w.upgrade()) {
            self.fetchers.update(&me, image, &partitions);
        }
        self.sync_group_partitions(image);
        self.groups.update_topics(
            image
                .topics
                .values()
                .map(|t| sluice_group::TopicMetadata {
                    name: t.name.clone(),
                    topic_id: t.topic_id,
                    partitions: t.partitions.len() as i32,
                })
                .collect(),
        );
        Ok(())
    }

    /// Loads the `__consumer_offsets` partitions this node now leads into the group
    /// coordinator (log start → HW) and unloads those it no longer leads. Blocking (reads
    /// the logs); runs inside the runtime's blocking pool, as `apply_image` does.
    fn sync_group_partitions(&self, image: &MetadataImage) {
        let led: Vec<i32> = image
            .topic(CONSUMER_OFFSETS)
            .map(|t| {
                t.partitions
                    .iter()
                    .filter(|p| p.leader == self.node_id)
                    .map(|p| p.partition)
                    .collect()
            })
            .unwrap_or_default();
        let owned = self.groups.owned_partitions();
        for p in owned.iter().filter(|p| !led.contains(p)) {
            self.groups.unload_partition(*p);
        }
        for p in led.into_iter().filter(|p| !owned.contains(p)) {
            let Some(partition) = self.replicas.get_by_name(CONSUMER_OFFSETS, p) else {
                continue;
            };
            self.groups.begin_loading(p);
            match group_log::load_partition_records(&partition) {
                Ok(records) => {
                    tracing::debug!(partition = p, records = records.len(), "loading groups");
                    self.groups.load_partition(p, records);
                }
                Err(e) => {
                    tracing::error!(partition = p, error = %e, "loading __consumer_offsets failed");
                    self.groups.unload_partition(p);
                }
            }
        }
    }

    /// Creates `__consumer_offsets` if it does not exist yet (Kafka does this on the first
    /// FindCoordinator), with replication factor min(offsets.topic.replication.factor, live
    /// brokers). Ok(()) once it exists.
    pub async fn ensure_offsets_topic(self: &Arc<Self>) -> anyhow::Result<()> {
        if self.image().topic(CONSUMER_OFFSETS).is_some() {
            return Ok(());
        }
        let config = self.effective_config();
        let segment_bytes = config
            .get_i64("offsets.topic.segment.bytes")
            .unwrap_or(104_857_600);
        let configs = BTreeMap::from([
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("segment.bytes".to_string(), segment_bytes.to_string()),
            ("compression.type".to_string(), "producer".to_string()),
        ]);
        match self
            .create_topic_internal(
                CONSUMER_OFFSETS,
                config.offsets_topic_num_partitions,
                config.offsets_topic_replication_factor.max(1),
                configs,
            )
            .await?
        {
            Ok(()) => {
                tracing::info!("created {CONSUMER_OFFSETS}");
                Ok(())
            }
            Err((36, _)) => Ok(()),
            Err((code, msg)) => Err(anyhow::anyhow!(
                "creating {CONSUMER_OFFSETS}: error {code}: {msg}"
            )),
        }
    }

    /// Creates a topic on behalf of the broker itself (auto-creation, internal topics): on the
    /// active controller directly, elsewhere through a forwarded CreateTopics request. The
    /// replication factor is capped at the number of live brokers (as Kafka does for internal
    /// topics and auto-creation). Inner error: (Kafka error code, message).
    pub async fn create_topic_internal(
        self: &Arc<Self>,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
    ) -> anyhow::Result<Result<(), (i16, String)>> {
        if self.is_active_controller() {
            let done = self
                .controller_write(|image| {
                    let live = image.live_brokers();
                    let rf = replication_factor.clamp(1, live.len().max(1) as i16);
                    let new = NewTopic {
                        name,
                        num_partitions: partitions,
                        replication_factor: rf,
                        assignments: None,
                        configs: configs.clone(),
                    };
                    controller::create_topic(image, &live, &new).map(|(_, _, r)| (r, ()))
                })
                .await?;
            return Ok(done.map_err(|e| (e.kafka_code(), e.to_string())));
        }
        use sluice_protocol::kafka_protocol::messages::create_topics_request::{
            CreatableTopic, CreatableTopicConfig,
        };
        use sluice_protocol::kafka_protocol::messages::{CreateTopicsRequest, TopicName};
        let rf = replication_factor.clamp(1, self.live_brokers().len().max(1) as i16);
        let topic = CreatableTopic::default()
            .with_name(TopicName(crate::handlers::str_bytes(name.to_string())))
            .with_num_partitions(partitions)
            .with_replication_factor(rf)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(crate::handlers::str_bytes(k.clone()))
                            .with_value(Some(crate::handlers::str_bytes(v.clone())))
                    })
                    .collect(),
            );
        let request = CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(30_000);
        let response = self.forward_request(&request, 7).await?;
        let Some(t) = response.topics.first() else {
            anyhow::bail!("empty CreateTopics response from the controller");
        };
        Ok(match t.error_code {
            0 => Ok(()),
            code => Err((
                code,
                t.error_message
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
            )),
        })
    }

    /// Sends a Kafka request the broker built itself to the active controller (forwarded as a
    /// client request would be) and decodes the answer.
    pub async fn forward_request<R>(&self, request: &R, version: i16) -> anyhow::Result<R::Response>
    where
        R: sluice_protocol::kafka_protocol::protocol::Request,
    {
        use bytes::{Buf, BytesMut};
        use sluice_protocol::kafka_protocol::messages::{RequestHeader, ResponseHeader};
        use sluice_protocol::kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
        let mut frame = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(0)
            .with_client_id(Some(StrBytes::from_string(format!(
                "broker-{}",
                self.node_id
            ))))
            .encode(&mut frame, R::header_version(version))?;
        request.encode(&mut frame, version)?;
        let answer = self.forward(&frame).await?;
        let mut buf = bytes::Bytes::from(answer);
        if buf.len() < 4 {
            anyhow::bail!("short response from the controller");
        }
        buf.advance(4);
        let key = sluice_protocol::kafka_protocol::messages::ApiKey::try_from(R::KEY)
            .map_err(|_| anyhow::anyhow!("unknown api key {}", R::KEY))?;
        ResponseHeader::decode(&mut buf, key.response_header_version(version))?;
        R::Response::decode(&mut buf, version)
    }

    /// Registered, unfenced brokers (those that can host new replicas and leaders).
    pub fn live_brokers(&self) -> Vec<i32> {
        self.image().live_brokers()
    }

    /// Live brokers with their endpoint for `listener` (the listener a request arrived on):
    /// (id, host, port, rack) — what Metadata and DescribeCluster list. This broker is always
    /// listed while it answers, even fenced by its own controlled shutdown (as Kafka lists a
    /// broker in controlled shutdown): a client told that no broker exists drops its
    /// connections (librdkafka decommissions unlisted brokers) and, with a single broker, has
    /// nothing left to reconnect to after the restart.
    pub fn broker_endpoints(
        &self,
        image: &MetadataImage,
        listener: &str,
    ) -> Vec<(i32, String, i32, Option<String>)> {
        image
            .brokers
            .values()
            .filter(|b| !b.fenced || b.id == self.node_id)
            .filter_map(|b| {
                let e = b
                    .endpoints
                    .iter()
                    .find(|e| e.listener == listener)
                    .or_else(|| b.endpoints.first())?;
                Some((b.id, e.host.clone(), e.port, b.rack.clone()))
            })
            .collect()
    }

    /// The endpoint to advertise for the listener a request arrived on (falls back to the
    /// first advertised endpoint).
    pub fn endpoint_for(&self, listener: &str) -> Option<&Endpoint> {
        self.advertised
            .iter()
            .find(|e| e.listener == listener)
            .or_else(|| self.advertised.first())
    }

    /// Commits metadata records through the quorum (this node must be the active
    /// controller) and returns once this broker applied them (logs created or deleted).
    pub async fn commit(
        self: &Arc<Self>,
        records: Vec<MetadataRecord>,
    ) -> anyhow::Result<Arc<MetadataImage>> {
        // A Raft leader that lost its quorum waits for it forever: bounded, as Kafka's
        // controller requests time out (the records may still commit later).
        let proposed = tokio::time::timeout(COMMIT_TIMEOUT, self.quorum.propose(&records)).await;
        let image = match proposed {
            Ok(Ok(image)) => image,
            Ok(Err(QuorumError::NotLeader(leader))) => {
                anyhow::bail!(NotController(leader.map(|l| l as i32)))
            }
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => anyhow::bail!(
                "metadata records not committed within {COMMIT_TIMEOUT:?} (no quorum of controllers?)"
            ),
        };
        if !self
            .wait_applied(image.last_offset, Duration::from_secs(30))
            .await
        {
            anyhow::bail!(
                "metadata offset {} not applied within 30 s",
                image.last_offset
            );
        }
        Ok(self.image())
    }

    /// Runs a controller operation: `f` validates against the current image and returns the
    /// records to commit (or its own error); the records are then committed. Serialized, so
    /// two requests never validate against the same image (e.g. double topic creation).
    /// Outer error: the commit failed; inner error: `f` refused.
    pub async fn controller_write<T, E>(
        self: &Arc<Self>,
        f: impl FnOnce(&MetadataImage) -> Result<(Vec<MetadataRecord>, T), E>,
    ) -> anyhow::Result<Result<T, E>> {
        let _guard = self.controller_lock.lock().await;
        let image = self.image();
        match f(&image) {
            Ok((records, value)) => {
                self.commit(records).await?;
                Ok(Ok(value))
            }
            Err(e) => Ok(Err(e)),
        }
    }

    /// Next producer id for InitProducerId, reserving a new block through the metadata log
    /// when the current one is used up, so ids are never reused across restarts.
    pub async fn next_producer_id(self: &Arc<Self>) -> anyhow::Result<i64> {
        // Held across the commit so two callers never reserve the same block.
        let mut ids = self.producer_ids.lock().await;
        if ids.0 >= ids.1 {
            let node_id = self.node_id;
            let first = self
                .controller_write(|image| {
                    let (first, record) =
                        controller::allocate_producer_ids(image, node_id, PRODUCER_ID_BLOCK);
                    Ok::<_, std::convert::Infallible>((vec![record], first))
                })
                .await?;
            let first = match first {
                Ok(f) => f,
                Err(never) => match never {},
            };
            *ids = (first, first + PRODUCER_ID_BLOCK);
        }
        ids.0 += 1;
        Ok(ids.0 - 1)
    }

    /// Topic config overrides as stored in the image.
    pub fn topic_overrides(&self, topic: &str) -> BTreeMap<String, String> {
        self.image().topic_config(topic)
    }
}

/// A controller operation reached a node that is not the active controller.
#[derive(Debug, thiserror::Error)]
#[error("this node is not the active controller (controller: {0:?})")]
pub struct NotController(pub Option<i32>);

/// Locks a std mutex, recovering from poisoning (a panicked holder cannot corrupt the plain
/// data these mutexes guard).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// The coordinator's settings from Kafka's broker properties.
pub fn group_config(config: &BrokerConfig) -> GroupConfig {
    let d = GroupConfig::default();
    let int = |k: &str, default: i64| config.get_i64(k).unwrap_or(default);
    GroupConfig {
        offsets_topic_num_partitions: config.offsets_topic_num_partitions.max(1),
        initial_rebalance_delay: std::time::Duration::from_millis(
            config.group_initial_rebalance_delay_ms.max(0) as u64,
        ),
        min_session_timeout_ms: int("group.min.session.timeout.ms", 6000) as i32,
        max_session_timeout_ms: int("group.max.session.timeout.ms", 1_800_000) as i32,
        max_size: int("group.max.size", i32::MAX as i64).max(1) as usize,
        offsets_retention_ms: int("offsets.retention.minutes", 10080).saturating_mul(60_000),
        offset_metadata_max_bytes: int("offset.metadata.max.bytes", 4096).max(0) as usize,
        commit_timeout: std::time::Duration::from_millis(
            int("offsets.commit.timeout.ms", 5000).max(1) as u64,
        ),
        max_queued_appends: d.max_queued_appends,
        consumer_heartbeat_interval_ms: int("group.consumer.heartbeat.interval.ms", 5000).max(1)
            as i32,
        consumer_session_timeout_ms: int("group.consumer.session.timeout.ms", 45000).max(1) as i32,
        consumer_max_size: int("group.consumer.max.size", i32::MAX as i64).max(1) as usize,
        consumer_assignors: config
            .get("group.consumer.assignors")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
            })
            .filter(|v| !v.is_empty())
            .unwrap_or(d.consumer_assignors),
        consumer_protocol_enabled: config
            .get("group.coordinator.rebalance.protocols")
            .is_none_or(|v| v.split(',').any(|s| s.trim() == "consumer")),
    }
}
