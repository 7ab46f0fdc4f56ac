//! The broker side of the cluster lifecycle: the applier that brings this broker in line
//! with every committed metadata image (in log order), the heartbeat loop that registers the
//! broker with the active controller and keeps its session alive, waiting to be unfenced at
//! start, and controlled shutdown (leaderships moved away before the process exits).

use std::sync::Arc;
use std::time::Duration;

use sluice_config::SecurityProtocol;
use sluice_metadata::{BrokerEndpoint, MetadataImage};
use tokio::sync::watch;

use crate::broker::Broker;
use crate::controller::handle_heartbeat;
use crate::rpc::{self, HeartbeatRequest, HeartbeatResponse};

/// Applies every new image the quorum publishes, one at a time, off the async workers.
pub async fn applier_task(
    broker: Arc<Broker>,
    mut images: watch::Receiver<Arc<MetadataImage>>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let image = images.borrow_and_update().clone();
        if image.last_offset != broker.image().last_offset {
            let b = broker.clone();
            match tokio::task::spawn_blocking(move || b.install_image(image)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "applying metadata failed"),
                Err(e) => tracing::error!(error = %e, "metadata applier panicked"),
            }
        }
        tokio::select! {
            r = images.changed() => if r.is_err() { return },
            r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { return },
        }
    }
}

/// Kafka's security protocol ids.
fn protocol_id(p: SecurityProtocol) -> i16 {
    match p {
        SecurityProtocol::Plaintext => 0,
        SecurityProtocol::Ssl => 1,
        SecurityProtocol::SaslPlaintext => 2,
        SecurityProtocol::SaslSsl => 3,
    }
}

fn endpoints(broker: &Broker) -> Vec<BrokerEndpoint> {
    broker
        .advertised
        .iter()
        .map(|e| BrokerEndpoint {
            listener: e.listener.clone(),
            host: e.host.clone(),
            port: e.port,
            security_protocol: broker
                .config
                .listener_security_protocol_map
                .get(&e.listener)
                .copied()
                .map_or(0, protocol_id),
        })
        .collect()
}

/// Sends one heartbeat to the active controller (handled in-process when that is us).
pub async fn heartbeat(broker: &Arc<Broker>, want_shutdown: bool) -> Option<HeartbeatResponse> {
    let req = HeartbeatRequest {
        broker_id: broker.node_id,
        incarnation_id: broker.incarnation_id.as_u128(),
        endpoints: endpoints(broker),
        rack: broker.config.broker_rack.clone(),
        applied_offset: broker.image().last_offset,
        want_shutdown,
    };
    if broker.is_active_controller() {
        return Some(handle_heartbeat(broker, req).await);
    }
    // A broker-only node that knows no leader yet (its learner log is empty) asks the
    // configured controllers in turn; the active one registers it and adds it as a learner.
    let client = match broker.controller_client() {
        Some(c) => c,
        None if broker.quorum.is_learner() => broker.next_bootstrap_controller()?,
        None => return None,
    };
    match client
        .call(
            rpc::API_BROKER_HEARTBEAT,
            &rpc::encode(&req),
            Duration::from_secs(5),
        )
        .await
    {
        Ok(body) => rpc::decode(&body).ok(),
        Err(e) => {
            tracing::debug!(controller = client.addr(), error = %e, "heartbeat failed");
            None
        }
    }
}

/// Heartbeats every `broker.heartbeat.interval.ms` (every 100 ms while not yet registered and
/// unfenced, or after a failure). Stops on shutdown.
pub async fn heartbeat_task(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let interval = Duration::from_millis(
        broker
            .config
            .get_i64("broker.heartbeat.interval.ms")
            .unwrap_or(2000)
            .clamp(10, 60_000) as u64,
    );
    loop {
        let healthy =
            matches!(heartbeat(&broker, false).await, Some(r) if r.error == 0 && !r.fenced);
        let wait = if healthy {
            interval
        } else {
            Duration::from_millis(100)
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { return },
        }
    }
}

/// True once this process's registration is in the applied image and unfenced.
pub fn is_unfenced(broker: &Broker) -> bool {
    broker
        .image()
        .brokers
        .get(&broker.node_id)
        .is_some_and(|b| b.incarnation_id == broker.incarnation_id && !b.fenced)
}

/// Waits until the controller unfenced this broker, logging every 10 s while it waits.
pub async fn wait_unfenced(broker: &Broker) {
    let mut last_log = tokio::time::Instant::now();
    while !is_unfenced(broker) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if last_log.elapsed() > Duration::from_secs(10) {
            tracing::info!(
                controller = ?broker.quorum.leader(),
                "waiting to be registered and unfenced by the controller"
            );
            last_log = tokio::time::Instant::now();
        }
    }
}

/// Controlled shutdown: asks the controller to move this broker's leaderships away and fence
/// it, and waits (bounded) until that change is applied here.
pub async fn controlled_shutdown(broker: &Arc<Broker>, timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        // Bounded even when the controller cannot commit (no quorum while peers stop too).
        let answer = tokio::time::timeout_at(deadline, heartbeat(broker, true)).await;
        if let Ok(Some(r)) = answer {
            if r.error == 0 && r.shutdown_ready {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                broker.wait_applied(r.metadata_offset, left).await;
                tracing::info!("controlled shutdown: leaderships moved away");
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tracing::warn!("controlled shutdown did not complete in {timeout:?}; shutting down anyway");
}
