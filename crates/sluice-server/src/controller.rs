//! The active controller's duties beyond admin requests: broker registration and heartbeats,
//! fencing brokers that miss `broker.session.timeout.ms` (moving their leaderships), unfencing
//! brokers that caught up, controlled shutdown, and ISR changes from partition leaders
//! (AlterPartition). The decisions are the pure functions of `sluice_metadata::cluster`; this
//! module holds the in-memory heartbeat clock and commits through `Broker::controller_write`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice_metadata::cluster::{self, Registration};
use sluice_metadata::reassign;
use sluice_metadata::MetadataImage;
use tokio::sync::watch;

use crate::broker::{lock, Broker};
use crate::rpc::{
    AlterPartitionRequest, AlterPartitionResponse, HeartbeatRequest, HeartbeatResponse,
};

/// NOT_CONTROLLER: the request reached a node that is not the active controller.
pub const NOT_CONTROLLER: i16 = 41;
/// STALE_BROKER_EPOCH / UNKNOWN_SERVER_ERROR for failed commits.
const UNKNOWN_SERVER_ERROR: i16 = -1;

/// Heartbeat clock of the active controller. A controller that just took over gives every
/// broker a full session from the moment it first looks (as Kafka's does).
#[derive(Default)]
pub struct ControllerState {
    last_heartbeat: Mutex<HashMap<i32, Instant>>,
}

impl ControllerState {
    fn touch(&self, broker: i32) {
        lock(&self.last_heartbeat).insert(broker, Instant::now());
    }

    /// Brokers whose session expired (unknown brokers start their session now).
    fn expired(&self, brokers: &[i32], session: Duration) -> Vec<i32> {
        let mut seen = lock(&self.last_heartbeat);
        let now = Instant::now();
        brokers
            .iter()
            .copied()
            .filter(|b| now.duration_since(*seen.entry(*b).or_insert(now)) > session)
            .collect()
    }

    /// Starts `broker`'s session as if its last heartbeat was `silent_for` ago.
    fn credit_silence(&self, broker: i32, silent_for: Duration) {
        let now = Instant::now();
        let last = now.checked_sub(silent_for).unwrap_or(now);
        lock(&self.last_heartbeat).insert(broker, last);
    }

    /// Forgets every heartbeat (on losing leadership, so a later term starts fresh).
    pub fn reset(&self) {
        lock(&self.last_heartbeat).clear();
    }
}

/// Whether unclean leader election is allowed for `topic` (topic override, else broker).
pub fn unclean_allowed(broker: &Broker, image: &MetadataImage, topic: &str) -> bool {
    image
        .topic_configs
        .get(topic)
        .and_then(|c| c.get("unclean.leader.election.enable"))
        .map(|v| v == "true")
        .unwrap_or_else(|| {
            broker
                .effective_config()
                .get("unclean.leader.election.enable")
                .is_some_and(|v| v == "true")
        })
}

/// Handles a heartbeat (which carries the registration) on the active controller.
pub async fn handle_heartbeat(broker: &Arc<Broker>, req: HeartbeatRequest) -> HeartbeatResponse {
    let error = |code| HeartbeatResponse {
        error: code,
        epoch: -1,
        fenced: true,
        shutdown_ready: false,
        metadata_offset: -1,
    };
    if !broker.is_active_controller() {
        return error(NOT_CONTROLLER);
    }
    broker.controller.touch(req.broker_id);
    let registration = Registration {
        broker_id: req.broker_id,
        incarnation_id: uuid::Uuid::from_u128(req.incarnation_id),
        endpoints: req.endpoints.clone(),
        rack: req.rack.clone(),
    };
    let b2 = broker.clone();
    let result = broker
        .controller_write(|image| {
            let mut records = cluster::register_broker(image, &registration);
            let mut next = image.clone();
            for r in &records {
                let off = next.last_offset + 1;
                next.apply(off, r);
            }
            let reg = next.brokers.get(&req.broker_id);
            let unclean = |t: &str| unclean_allowed(&b2, &next, t);
            match reg {
                Some(r) if req.want_shutdown && !r.fenced => {
                    records.extend(cluster::fence_broker(&next, req.broker_id, unclean));
                }
                Some(r) if !req.want_shutdown && r.fenced && req.applied_offset >= r.epoch => {
                    records.extend(cluster::unfence_broker(&next, req.broker_id, unclean));
                }
                _ => {}
            }
            Ok::<_, std::convert::Infallible>((records, ()))
        })
        .await;
    if let Err(e) = result {
        tracing::warn!(broker = req.broker_id, error = %e, "heartbeat commit failed");
        return error(UNKNOWN_SERVER_ERROR);
    }
    follow_as_learner(broker, &req);
    let image = broker.image();
    match image.brokers.get(&req.broker_id) {
        Some(r) => HeartbeatResponse {
            error: 0,
            epoch: r.epoch,
            fenced: r.fenced,
            shutdown_ready: req.want_shutdown && r.fenced,
            metadata_offset: image.last_offset,
        },
        None => error(UNKNOWN_SERVER_ERROR),
    }
}

/// A broker that is not a voter (a broker-only node) follows the metadata log as an openraft
/// learner: the active controller adds it (or updates its address) in the background. The
/// log is replicated to its inter-broker listener, where it serves the Raft RPCs.
fn follow_as_learner(broker: &Arc<Broker>, req: &HeartbeatRequest) {
    let id = req.broker_id as u64;
    if req.broker_id == broker.node_id || broker.quorum.is_voter(id) {
        return;
    }
    let Some(e) = req
        .endpoints
        .iter()
        .find(|e| e.listener == broker.config.inter_broker_listener_name)
        .or_else(|| req.endpoints.first())
    else {
        return;
    };
    let addr = format!("{}:{}", e.host, e.port);
    if broker.quorum.members().get(&id) == Some(&addr) {
        return;
    }
    let quorum = broker.quorum.clone();
    tokio::spawn(async move {
        if let Err(e) = quorum.ensure_learner(id, &addr).await {
            tracing::debug!(broker = id, error = %e, "adding the broker as a learner failed");
        }
    });
}

/// Handles AlterPartition on the active controller.
pub async fn handle_alter_partition(
    broker: &Arc<Broker>,
    req: AlterPartitionRequest,
) -> AlterPartitionResponse {
    if !broker.is_active_controller() {
        return AlterPartitionResponse {
            error: NOT_CONTROLLER,
            metadata_offset: -1,
        };
    }
    let result = broker
        .controller_write(|image| {
            cluster::alter_partition(
                image,
                &req.topic,
                req.partition,
                req.broker_id,
                req.leader_epoch,
                req.partition_epoch,
                &req.new_isr,
            )
            .map(|(record, next)| {
                // The ISR change that brings the last target replica in sync completes its
                // reassignment in the same record (as Kafka's controller does).
                let record = match reassign::maybe_complete(image, &next) {
                    Some(done) => {
                        tracing::info!(topic = %req.topic, partition = req.partition, replicas = ?done.replicas, leader = done.leader, "partition reassignment completed");
                        cluster::partition_record(
                            image.topic(&req.topic).map(|t| t.topic_id).unwrap_or_default(),
                            &done,
                        )
                    }
                    None => record,
                };
                (vec![record], ())
            })
        })
        .await;
    match result {
        Ok(Ok(())) => AlterPartitionResponse {
            error: 0,
            metadata_offset: broker.image().last_offset,
        },
        Ok(Err(e)) => AlterPartitionResponse {
            error: e.kafka_code(),
            metadata_offset: -1,
        },
        Err(e) => {
            tracing::warn!(error = %e, "AlterPartition commit failed");
            AlterPartitionResponse {
                error: UNKNOWN_SERVER_ERROR,
                metadata_offset: -1,
            }
        }
    }
}

/// While this node is the active controller, fences brokers whose heartbeats stopped for
/// `broker.session.timeout.ms`. Runs for the node's lifetime; stops on shutdown.
pub async fn session_task(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let session = Duration::from_millis(
        broker
            .config
            .get_i64("broker.session.timeout.ms")
            .unwrap_or(9000)
            .max(1) as u64,
    );
    // The quorum elected us because the voters stopped hearing from the previous leader: an
    // openraft follower stands for election only after the leader lease (the maximum election
    // timeout, 2 x controller.quorum.election.timeout.ms here) plus its own election timeout
    // (at least 1 x) passed without a word from the leader. That silence, 3 x the election
    // timeout, counts towards the old leader's broker session (its heartbeats went to itself),
    // so a killed broker+controller node is fenced, and its partitions move, one session after
    // it died rather than one session after the election. Every other broker gets a full
    // session from now, as in Kafka.
    let election = Duration::from_millis(
        broker
            .config
            .get_i64("controller.quorum.election.timeout.ms")
            .unwrap_or(1000)
            .max(0) as u64,
    );
    let silence_before_election = election * 3;
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was_leader = false;
    let mut previous_leader: Option<i32> = None;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            r = shutdown.changed() => {
                if r.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
        let leader = broker.is_active_controller();
        if leader != was_leader {
            broker.controller.reset();
            was_leader = leader;
            if let Some(old) = previous_leader.filter(|_| leader) {
                broker
                    .controller
                    .credit_silence(old, silence_before_election);
            }
        }
        if !leader {
            previous_leader = broker
                .quorum
                .leader()
                .map(|l| l as i32)
                .filter(|l| *l != broker.node_id)
                .or(previous_leader);
            continue;
        }
        complete_reassignments(&broker).await;
        let image = broker.image();
        let live = image.live_brokers();
        for id in broker.controller.expired(&live, session) {
            tracing::warn!(broker = id, ?session, "broker session expired: fencing it");
            let b2 = broker.clone();
            let r = broker
                .controller_write(|image| {
                    let still_live = image.brokers.get(&id).is_some_and(|r| !r.fenced);
                    let records = if still_live {
                        cluster::fence_broker(image, id, |t| unclean_allowed(&b2, image, t))
                    } else {
                        Vec::new()
                    };
                    Ok::<_, std::convert::Infallible>((records, ()))
                })
                .await;
            if let Err(e) = r {
                tracing::warn!(broker = id, error = %e, "fencing failed");
            }
        }
    }
}

/// Completes reassignments whose target replicas are all in the ISR but that no ISR change
/// completed (e.g. a controller failover between the two). Cheap when none is ready.
async fn complete_reassignments(broker: &Arc<Broker>) {
    let ready = |image: &MetadataImage| {
        image
            .topics
            .values()
            .flat_map(|t| &t.partitions)
            .any(|p| reassign::maybe_complete(image, p).is_some())
    };
    if !ready(&broker.image()) {
        return;
    }
    let r = broker
        .controller_write(|image| {
            Ok::<_, std::convert::Infallible>((reassign::complete_ready(image), ()))
        })
        .await;
    match r {
        Ok(_) => tracing::info!("completed partition reassignments whose targets are in sync"),
        Err(e) => tracing::warn!(error = %e, "completing reassignments failed"),
    }
}
