//! The shared state of a running node that every handler sees: configuration, the metadata
//! store (image + controller commit path), the replica manager, producer-id allocation and the
//! advertised endpoints. Handlers get `&Broker`; nothing here knows about sockets.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use sluice_config::BrokerConfig;
use sluice_group::{GroupConfig, GroupCoordinator};
use sluice_metadata::controller::{self, ControllerError, NewTopic};
use sluice_metadata::{MetadataImage, MetadataRecord, MetadataStore};

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
    pub metadata: MetadataStore,
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

impl Broker {
    pub fn new(
        config: BrokerConfig,
        node_id: i32,
        cluster_id: String,
        metadata: MetadataStore,
        replicas: ReplicaManager,
        advertised: Vec<Endpoint>,
        groups: GroupCoordinator,
    ) -> Broker {
        Broker {
            effective: std::sync::RwLock::new(Arc::new(config.clone())),
            config,
            node_id,
            cluster_id,
            metadata,
            replicas,
            advertised,
            groups,
            producer_ids: tokio::sync::Mutex::new((0, 0)),
            controller_lock: tokio::sync::Mutex::new(()),
        }
    }

    pub fn image(&self) -> Arc<MetadataImage> {
        self.metadata.image()
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
        self.replicas.sync_with_image(image, &effective)?;
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
    /// FindCoordinator). Ok(()) once it exists.
    pub async fn ensure_offsets_topic(self: &Arc<Self>) -> anyhow::Result<()> {
        if self.image().topic(CONSUMER_OFFSETS).is_some() {
            return Ok(());
        }
        let config = self.effective_config();
        let live = self.live_brokers();
        let rf = (config.offsets_topic_replication_factor.max(1) as usize).min(live.len().max(1));
        let segment_bytes = config
            .get_i64("offsets.topic.segment.bytes")
            .unwrap_or(104_857_600);
        let configs = BTreeMap::from([
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("segment.bytes".to_string(), segment_bytes.to_string()),
            ("compression.type".to_string(), "producer".to_string()),
        ]);
        let new = NewTopic {
            name: CONSUMER_OFFSETS,
            num_partitions: config.offsets_topic_num_partitions,
            replication_factor: rf as i16,
            assignments: None,
            configs,
        };
        match self
            .controller_write(|image| {
                controller::create_topic(image, &live, &new).map(|(_, _, r)| (r, ()))
            })
            .await?
        {
            Ok(()) => {
                tracing::info!(
                    partitions = new.num_partitions,
                    replication_factor = rf,
                    "created {CONSUMER_OFFSETS}"
                );
                Ok(())
            }
            Err(ControllerError::TopicAlreadyExists(_)) => Ok(()),
            Err(e) => Err(anyhow::anyhow!("creating {CONSUMER_OFFSETS}: {e}")),
        }
    }

    /// Brokers that can host replicas. One node today; the cluster issue registers more.
    pub fn live_brokers(&self) -> Vec<i32> {
        vec![self.node_id]
    }

    /// The endpoint to advertise for the listener a request arrived on (falls back to the
    /// first advertised endpoint).
    pub fn endpoint_for(&self, listener: &str) -> Option<&Endpoint> {
        self.advertised
            .iter()
            .find(|e| e.listener == listener)
            .or_else(|| self.advertised.first())
    }

    /// Commits metadata records (fsync, off the async workers) and brings the local replicas
    /// in line with the new image (creating or deleting partition logs).
    pub async fn commit(
        self: &Arc<Self>,
        records: Vec<MetadataRecord>,
    ) -> anyhow::Result<Arc<MetadataImage>> {
        let this = self.clone();
        let image = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let image = this.metadata.commit(records)?;
            this.apply_image(&image)?;
            Ok(image)
        })
        .await??;
        Ok(image)
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
