//! The shared state of a running node that every handler sees: configuration, the metadata
//! store (image + controller commit path), the replica manager, producer-id allocation and the
//! advertised endpoints. Handlers get `&Broker`; nothing here knows about sockets.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use sluice_config::BrokerConfig;
use sluice_metadata::{controller, MetadataImage, MetadataRecord, MetadataStore};

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
    ) -> Broker {
        Broker {
            effective: std::sync::RwLock::new(Arc::new(config.clone())),
            config,
            node_id,
            cluster_id,
            metadata,
            replicas,
            advertised,
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
        Ok(())
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
