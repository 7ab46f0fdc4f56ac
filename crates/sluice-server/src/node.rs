//! Node lifecycle: opens the log dirs and the metadata log, reconciles local partition logs
//! with the metadata image, binds every listener and serves until shutdown. Shutdown is
//! graceful: stop accepting, let in-flight requests finish (bounded), flush logs and write
//! checkpoints and the clean-shutdown marker.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sluice_config::BrokerConfig;
use sluice_metadata::quorum::{Quorum, QuorumConfig};
use sluice_metadata::MetadataStore;
use sluice_storage::LogManager;
use tokio::net::TcpListener;
use tokio::sync::watch;

use sluice_group::GroupCoordinator;

use crate::broker::{self, group_config, Broker, Endpoint};
use crate::group_log::ReplicaGroupLog;
use crate::network::{self, tokio_util_tracker::Tracker};
use crate::replica_manager::ReplicaManager;
use crate::{controller, isr, lifecycle};

/// How long shutdown waits for open connections to finish their in-flight request.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(10);
/// How long shutdown waits for the controller to move this broker's leaderships away.
const CONTROLLED_SHUTDOWN: Duration = Duration::from_secs(10);
/// How long shutdown lets background tasks finish before aborting them.
const TASK_GRACE: Duration = Duration::from_secs(3);

pub struct Node {
    broker: Arc<Broker>,
    bound: Vec<(String, SocketAddr)>,
    shutdown: watch::Sender<bool>,
    connections: Tracker,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The metadata applier stops last: requests still in flight during shutdown may commit
    /// records and wait to see them applied.
    applier_stop: watch::Sender<bool>,
    applier: tokio::task::JoinHandle<()>,
}

impl Node {
    /// Brings the node up: opens the logs, starts the metadata quorum, applies the image,
    /// binds every listener (the controller listener serves at once: peers need it for Raft),
    /// registers with the active controller and, once unfenced, serves clients.
    pub async fn start(config: BrokerConfig) -> anyhow::Result<Node> {
        let started = std::time::Instant::now();
        let node_id = config.node_id;
        let dirs = config.log_dirs.clone();
        let cfg = config.clone();
        let logs = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            // Topic configs come from the image, applied right after start: open with the
            // broker defaults; `sync_with_image` sets each log's config.
            let logs =
                LogManager::open(&dirs, node_id, None, cfg.log_config(), |_| cfg.log_config())
                    .with_context(|| format!("opening log dirs {dirs:?}"))?;
            Ok(logs)
        })
        .await??;
        let cluster_id = logs.cluster_id();
        let replicas = ReplicaManager::new(logs, node_id);

        // Listeners: bound now (advertised port 0 means the bound one, and registration
        // carries the advertised endpoints); client listeners serve once unfenced.
        let mut listeners = Vec::new();
        let mut bound = Vec::new();
        for l in &config.listeners {
            let addr = format!("{}:{}", l.host, l.port);
            let listener = TcpListener::bind(&addr)
                .await
                .with_context(|| format!("binding listener {} on {addr}", l.listener_name))?;
            let local = listener.local_addr()?;
            bound.push((l.listener_name.clone(), local));
            listeners.push((l.listener_name.clone(), listener));
        }
        let advertised = advertised_endpoints(&config, &bound);
        let (quorum, voters, candidates) = start_quorum(&config, &bound).await?;
        let broker = Arc::new_cyclic(|weak| {
            let groups = GroupCoordinator::new(
                group_config(&config),
                Arc::new(ReplicaGroupLog::new(weak.clone())),
            );
            Broker::new(
                config.clone(),
                node_id,
                cluster_id.clone(),
                quorum.clone(),
                voters,
                replicas,
                advertised,
                groups,
            )
        });
        broker.enable_fetchers();
        broker::lock(&broker.controller_bootstrap).0 = candidates;
        {
            let b = broker.clone();
            let image = quorum.image();
            tokio::task::spawn_blocking(move || b.install_image(image)).await??;
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
        // Served at once: controller listeners (peers need them for Raft) and, on a
        // broker-only node, the inter-broker listener, where the active controller replicates
        // the metadata log to it (it must catch up before it is unfenced).
        let learner = quorum.is_learner();
        let (controller_listeners, client_listeners): (Vec<_>, Vec<_>) =
            listeners.into_iter().partition(|(name, _)| {
                config.controller_listener_names.contains(name)
                    || (learner && *name == config.inter_broker_listener_name)
            });
        for (name, listener) in controller_listeners {
            tasks.push(tokio::spawn(network::serve(
                listener,
                name,
                broker.clone(),
                shutdown_rx.clone(),
                connections.clone(),
            )));
        }
        let (applier_stop, applier_stop_rx) = watch::channel(false);
        let applier = tokio::spawn(lifecycle::applier_task(
            broker.clone(),
            quorum.subscribe(),
            applier_stop_rx,
        ));
        tasks.push(tokio::spawn(isr::shrink_task(
            broker.clone(),
            shutdown_rx.clone(),
        )));
        tasks.push(tokio::spawn(controller::session_task(
            broker.clone(),
            shutdown_rx.clone(),
        )));
        tasks.push(tokio::spawn(crate::rebalance::auto_rebalance_task(
            broker.clone(),
            shutdown_rx.clone(),
        )));
        if broker.voters.len() == 1 && broker.voters.contains_key(&node_id) {
            // A lone voter leads at once instead of after an election timeout.
            let _ = quorum.raft().trigger().elect().await;
            import_legacy_metadata(&broker).await?;
        }
        // A controller-only node (process.roles=controller) votes and runs the controller but
        // never registers as a broker: it hosts no partitions and Metadata does not list it.
        if config.is_broker() {
            tasks.push(tokio::spawn(lifecycle::heartbeat_task(
                broker.clone(),
                shutdown_rx.clone(),
            )));
            lifecycle::wait_unfenced(&broker).await;
        }
        tasks.push(tokio::spawn(expire_offsets_task(
            broker.clone(),
            config
                .get_i64("offsets.retention.check.interval.ms")
                .unwrap_or(600_000)
                .max(1) as u64,
            shutdown_rx.clone(),
        )));
        for (name, listener) in client_listeners {
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
            controller = ?quorum.leader(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Sluice node started"
        );
        Ok(Node {
            broker,
            bound,
            shutdown,
            connections,
            tasks,
            applier_stop,
            applier,
        })
    }

    /// The address each listener actually bound (useful with port 0).
    pub fn bound_addrs(&self) -> Vec<(String, SocketAddr)> {
        self.bound.clone()
    }

    /// First bound client address, as `host:port`.
    pub fn bootstrap(&self) -> String {
        let controllers = &self.broker.config.controller_listener_names;
        self.bound
            .iter()
            .find(|(n, _)| !controllers.contains(n))
            .map(|(_, a)| a.to_string())
            .unwrap_or_default()
    }

    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Stops the node abruptly, as a crash would for its peers: no controlled shutdown, no
    /// flush or checkpoints; connections, fetchers and the quorum member stop at once. Tests
    /// use it to exercise fencing and failover in-process.
    pub async fn kill(self) {
        let _ = self.shutdown.send(true);
        for t in &self.tasks {
            t.abort();
        }
        self.applier.abort();
        self.broker.fetchers.shutdown();
        self.broker.quorum.shutdown().await;
        let broker = self.broker.clone();
        let _ =
            tokio::task::spawn_blocking(move || broker.replicas.log_manager().stop_background())
                .await;
    }

    /// Graceful shutdown: stop accepting, finish in-flight requests, flush, checkpoint.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        tracing::info!("shutting down");
        if self.broker.config.is_broker() {
            lifecycle::controlled_shutdown(&self.broker, CONTROLLED_SHUTDOWN).await;
        }
        let _ = self.shutdown.send(true);
        // Background tasks stop at their next await point; one caught in a controller write
        // that cannot commit (peers stopping at the same time took the quorum with them)
        // would hold shutdown up to the commit timeout, so they get a bounded grace.
        let grace = tokio::time::Instant::now() + TASK_GRACE;
        for mut t in self.tasks {
            if tokio::time::timeout_at(grace, &mut t).await.is_err() {
                t.abort();
            }
        }
        self.connections.wait_idle(SHUTDOWN_DRAIN).await;
        let _ = self.applier_stop.send(true);
        let _ = self.applier.await;
        self.broker.fetchers.shutdown();
        self.broker.quorum.shutdown().await;
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

/// Endpoints clients are told to use: `advertised.listeners`, with port 0 meaning the bound
/// port (tests use ephemeral ports) and a wildcard host advertised as `localhost`.
fn advertised_endpoints(config: &BrokerConfig, bound: &[(String, SocketAddr)]) -> Vec<Endpoint> {
    config
        .advertised_listeners
        .iter()
        .map(|e| {
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
                host: if e.host == "0.0.0.0" || e.host.is_empty() {
                    "localhost".to_string()
                } else {
                    e.host.clone()
                },
                port,
            }
        })
        .collect()
}

/// Starts this node's member of the metadata quorum in `<metadata.log.dir>/__cluster_metadata-0`.
/// Voters come from `controller.quorum.voters`; without it a controller is a quorum of one
/// (the embedded default). A broker-only node (`process.roles=broker`) follows the log as a
/// learner; it finds the controllers through `controller.quorum.voters` or
/// `controller.quorum.bootstrap.servers`. Returns the quorum, the voters' controller
/// addresses and the controller addresses a learner tries until it knows the leader.
#[allow(clippy::type_complexity)]
async fn start_quorum(
    config: &BrokerConfig,
    bound: &[(String, SocketAddr)],
) -> anyhow::Result<(
    Arc<Quorum>,
    std::collections::BTreeMap<i32, String>,
    Vec<String>,
)> {
    use std::collections::BTreeMap;
    let node_id = config.node_id;
    let mut voters: BTreeMap<i32, String> = config
        .controller_quorum_voters
        .iter()
        .map(|v| (v.id, format!("{}:{}", v.host, v.port)))
        .collect();
    let bootstrap: Vec<String> = config
        .controller_quorum_bootstrap_servers
        .iter()
        .map(|h| format!("{}:{}", h.host, h.port))
        .collect();
    let learner = !config.is_controller();
    if learner {
        if !config.is_broker() {
            anyhow::bail!("process.roles must contain broker, controller or both");
        }
        if voters.contains_key(&node_id) {
            anyhow::bail!(
                "node.id={node_id} is in controller.quorum.voters but process.roles=broker: \
                 voters must have the controller role (process.roles=controller or broker,controller)"
            );
        }
        if voters.is_empty() && bootstrap.is_empty() {
            anyhow::bail!(
                "a broker-only node (process.roles=broker) needs controller.quorum.voters or \
                 controller.quorum.bootstrap.servers to find the controllers"
            );
        }
    } else if voters.is_empty() {
        if !bootstrap.is_empty() {
            anyhow::bail!(
                "controller.quorum.bootstrap.servers without controller.quorum.voters on a controller \
                 needs a dynamic quorum (KIP-853), which is not supported: list the voters in \
                 controller.quorum.voters (id@host:port,...); broker-only nodes may use \
                 controller.quorum.bootstrap.servers"
            );
        }
        // A quorum of one: our own controller listener if any (no peer ever dials it).
        let own = bound
            .iter()
            .find(|(n, _)| config.controller_listener_names.contains(n))
            .or_else(|| bound.first())
            .map(|(_, a)| a.to_string())
            .unwrap_or_else(|| "127.0.0.1:0".into());
        voters.insert(node_id, own);
    } else if !voters.contains_key(&node_id) {
        anyhow::bail!(
            "node.id={node_id} has the controller role but is not in controller.quorum.voters ({}): \
             add it to the voters, or make it a broker-only node (process.roles=broker)",
            voters
                .keys()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
    }
    let election = config
        .get_i64("controller.quorum.election.timeout.ms")
        .unwrap_or(1000)
        .clamp(50, 60_000) as u64;
    let mut qc = QuorumConfig::new(
        node_id as u64,
        voters.iter().map(|(k, v)| (*k as u64, v.clone())).collect(),
        config.metadata_log_dir.join("__cluster_metadata-0"),
    );
    qc.learner = learner;
    qc.election_timeout_min_ms = election;
    qc.election_timeout_max_ms = election * 2;
    qc.heartbeat_interval_ms = (election / 10).clamp(10, 500);
    if let Some(bytes) = config.get_i64("metadata.log.max.record.bytes.between.snapshots") {
        qc.snapshot_max_bytes = bytes.max(1) as u64;
    }
    if let Some(ms) = config.get_i64("metadata.log.max.snapshot.interval.ms") {
        qc.snapshot_max_interval_ms = ms.max(0) as u64;
    }
    let quorum = Quorum::start(qc).await.with_context(|| {
        format!(
            "starting the metadata quorum in {}",
            config.metadata_log_dir.display()
        )
    })?;
    let candidates = if learner {
        if voters.is_empty() {
            bootstrap
        } else {
            voters.values().cloned().collect()
        }
    } else {
        Vec::new()
    };
    Ok((Arc::new(quorum), voters, candidates))
}

/// A node upgraded from the single-node metadata log (`metadata.log`, before the quorum):
/// its records become the quorum's first batch, then the old file is renamed.
async fn import_legacy_metadata(broker: &Arc<Broker>) -> anyhow::Result<()> {
    let dir = broker.config.metadata_log_dir.clone();
    let legacy = dir.join("metadata.log");
    if !legacy.exists() {
        return Ok(());
    }
    if broker
        .quorum
        .wait_for_leader(Duration::from_secs(10))
        .await
        .is_none()
    {
        anyhow::bail!("the metadata quorum elected no leader within 10 s");
    }
    if broker.quorum.image().last_offset < 0 {
        let store = MetadataStore::open(&dir)?;
        let records = store.image().to_records();
        tracing::info!(
            records = records.len(),
            "importing the single-node metadata log into the quorum"
        );
        broker.quorum.propose(&records).await?;
    }
    std::fs::rename(&legacy, dir.join("metadata.log.imported"))?;
    Ok(())
}
