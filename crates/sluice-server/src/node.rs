//! Node lifecycle: opens the log dirs and the metadata log, reconciles local partition logs
//! with the metadata image, binds every listener and serves until shutdown. Shutdown is
//! graceful: stop accepting, let in-flight requests finish (bounded), flush logs and write
//! checkpoints and the clean-shutdown marker.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sluice_config::BrokerConfig;
use sluice_metadata::MetadataStore;
use sluice_storage::LogManager;
use tokio::net::TcpListener;
use tokio::sync::watch;

use sluice_group::GroupCoordinator;

use crate::broker::{group_config, Broker, Endpoint};
use crate::group_log::ReplicaGroupLog;
use crate::network::{self, tokio_util_tracker::Tracker};
use crate::replica_manager::ReplicaManager;

/// How long shutdown waits for open connections to finish their in-flight request.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(10);

pub struct Node {
    broker: Arc<Broker>,
    bound: Vec<(String, SocketAddr)>,
    shutdown: watch::Sender<bool>,
    connections: Tracker,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Node {
    /// Brings the node up; returns once every listener is bound and serving.
    pub async fn start(config: BrokerConfig) -> anyhow::Result<Node> {
        let started = std::time::Instant::now();
        let node_id = config.node_id;
        let dirs = config.log_dirs.clone();
        let metadata_dir = config.metadata_log_dir.clone();
        let cfg = config.clone();
        let (logs, metadata) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let metadata = MetadataStore::open(&metadata_dir)
                .with_context(|| format!("opening metadata log in {}", metadata_dir.display()))?;
            let image = metadata.image();
            let topic_config = |topic: &str| {
                sluice_config::topic_log_config(&cfg, &image.topic_config(topic))
                    .unwrap_or_else(|_| cfg.log_config())
            };
            let logs = LogManager::open(&dirs, node_id, None, cfg.log_config(), topic_config)
                .with_context(|| format!("opening log dirs {dirs:?}"))?;
            Ok((logs, metadata))
        })
        .await??;
        let cluster_id = logs.cluster_id();
        let replicas = ReplicaManager::new(logs, node_id);

        let mut listeners = Vec::new();
        let mut bound = Vec::new();
        for l in &config.listeners {
            if config.controller_listener_names.contains(&l.listener_name) {
                continue;
            }
            let addr = format!("{}:{}", l.host, l.port);
            let listener = TcpListener::bind(&addr)
                .await
                .with_context(|| format!("binding listener {} on {addr}", l.listener_name))?;
            let local = listener.local_addr()?;
            bound.push((l.listener_name.clone(), local));
            listeners.push((l.listener_name.clone(), listener));
        }
        let advertised = config
            .advertised_listeners
            .iter()
            .map(|e| {
                // An advertised port 0 means "whatever we bound" (tests use ephemeral ports).
                let port = if e.port == 0 {
                    bound
                        .iter()
                        .find(|(n, _)| *n == e.listener_name)
                        .map(|(_, a)| a.port() as i32)
                        .unwrap_or(0)
                } else {
                    e.port as i32
                };
                Endpoint {
                    listener: e.listener_name.clone(),
                    // Kafka advertises the canonical host name for a wildcard bind.
                    host: if e.host == "0.0.0.0" || e.host.is_empty() {
                        "localhost".to_string()
                    } else {
                        e.host.clone()
                    },
                    port,
                }
            })
            .collect();
        let broker = Arc::new_cyclic(|weak| {
            let groups = GroupCoordinator::new(
                group_config(&config),
                Arc::new(ReplicaGroupLog::new(weak.clone())),
            );
            Broker::new(
                config.clone(),
                node_id,
                cluster_id.clone(),
                metadata,
                replicas,
                advertised,
                groups,
            )
        });
        {
            let b = broker.clone();
            tokio::task::spawn_blocking(move || {
                let image = b.image();
                b.apply_image(&image)
            })
            .await??;
        }
        broker
            .replicas
            .log_manager()
            .set_cleaner_config(config.cleaner_config());
        broker.replicas.log_manager().start_background(
            config.log_retention_check_interval_ms.max(1) as u64,
            config.log_flush_scheduler_interval_ms.clamp(1, 60_000) as u64,
        );
        let (shutdown, shutdown_rx) = watch::channel(false);
        let connections = Tracker::default();
        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(expire_offsets_task(
            broker.clone(),
            config
                .get_i64("offsets.retention.check.interval.ms")
                .unwrap_or(600_000)
                .max(1) as u64,
            shutdown_rx.clone(),
        )));
        for (name, listener) in listeners {
            tasks.push(tokio::spawn(network::serve(
                listener,
                name,
                broker.clone(),
                shutdown_rx.clone(),
                connections.clone(),
            )));
        }
        tracing::info!(
            node_id,
            cluster_id = %cluster_id,
            listeners = ?bound,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Sluice node started"
        );
        Ok(Node {
            broker,
            bound,
            shutdown,
            connections,
            tasks,
        })
    }

    /// The address each listener actually bound (useful with port 0).
    pub fn bound_addrs(&self) -> Vec<(String, SocketAddr)> {
        self.bound.clone()
    }

    /// First bound client address, as `host:port`.
    pub fn bootstrap(&self) -> String {
        self.bound
            .first()
            .map(|(_, a)| a.to_string())
            .unwrap_or_default()
    }

    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Graceful shutdown: stop accepting, finish in-flight requests, flush, checkpoint.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        tracing::info!("shutting down");
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        self.connections.wait_idle(SHUTDOWN_DRAIN).await;
        let broker = self.broker.clone();
        tokio::task::spawn_blocking(move || broker.replicas.log_manager().shutdown()).await??;
        tracing::info!("shutdown complete");
        Ok(())
    }
}

/// Every `offsets.retention.check.interval.ms`, drops expired committed offsets (and Empty
/// groups left without any). Stops on shutdown.
async fn expire_offsets_task(
    broker: Arc<Broker>,
    interval_ms: u64,
    mut shutdown: watch::Receiver<bool>,
) {
    let period = Duration::from_millis(interval_ms);
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let removed = broker.groups.expire_offsets(crate::handlers::now_ms()).await;
                if removed > 0 {
                    tracing::info!(removed, "expired committed offsets");
                }
            }
            r = shutdown.changed() => {
                if r.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
    }
}
