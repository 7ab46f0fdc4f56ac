//! ISR maintenance on partition leaders (Kafka's Partition.maybeShrinkIsr / maybeExpandIsr):
//! followers that have not caught up for `replica.lag.time.max.ms` leave the ISR, followers
//! whose fetch reached the high watermark join it. Changes go to the active controller as
//! AlterPartition (one in flight per partition); the leader uses the new ISR once the
//! committed change reaches its image.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::broker::Broker;
use crate::controller::handle_alter_partition;
use crate::replica_manager::Partition;
use crate::rpc::{self, AlterPartitionRequest, AlterPartitionResponse};

/// Asks the controller to set `partition`'s ISR to `new_isr` (no-op while another change is in
/// flight). Returns at once; the change lands through the image.
pub fn request_isr_change(broker: &Arc<Broker>, partition: &Arc<Partition>, new_isr: Vec<i32>) {
    if partition.isr_change_pending.swap(true, Ordering::AcqRel) {
        return;
    }
    let (broker, partition) = (broker.clone(), partition.clone());
    tokio::spawn(async move {
        let st = partition.state();
        let req = AlterPartitionRequest {
            broker_id: broker.node_id,
            topic: partition.tp.topic.clone(),
            partition: partition.tp.partition,
            leader_epoch: st.leader_epoch,
            partition_epoch: st.partition_epoch,
            new_isr: new_isr.clone(),
        };
        let resp = if broker.is_active_controller() {
            Some(handle_alter_partition(&broker, req).await)
        } else if let Some(c) = broker.controller_client() {
            match c
                .call(
                    rpc::API_ALTER_PARTITION,
                    &rpc::encode(&req),
                    Duration::from_secs(10),
                )
                .await
            {
                Ok(b) => rpc::decode::<AlterPartitionResponse>(&b).ok(),
                Err(e) => {
                    tracing::debug!(error = %e, "AlterPartition failed");
                    None
                }
            }
        } else {
            None
        };
        match resp {
            Some(r) if r.error == 0 => {
                tracing::info!(partition = %partition.tp, from = ?st.isr, to = ?new_isr, "ISR changed");
                broker
                    .wait_applied(r.metadata_offset, Duration::from_secs(5))
                    .await;
            }
            Some(r) => {
                tracing::debug!(partition = %partition.tp, code = r.error, "AlterPartition refused")
            }
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
        partition.isr_change_pending.store(false, Ordering::Release);
    });
}

/// Every half `replica.lag.time.max.ms` (at most every 5 s), shrinks the ISR of led partitions
/// by the followers that fell behind. Stops on shutdown.
pub async fn shrink_task(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let lag = Duration::from_millis(
            broker
                .effective_config()
                .get_i64("replica.lag.time.max.ms")
                .unwrap_or(30_000)
                .clamp(10, 3_600_000) as u64,
        );
        let period = (lag / 2).min(Duration::from_secs(5));
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { return },
        }
        let now = Instant::now();
        for p in broker.replicas.all() {
            let st = p.state();
            if st.leader != broker.node_id || st.isr.len() <= 1 {
                continue;
            }
            let followers = p.followers();
            let leo = p.log.log_end_offset();
            let lagging: Vec<i32> = st
                .isr
                .iter()
                .copied()
                .filter(|b| *b != broker.node_id)
                .filter(|b| {
                    followers
                        .get(b)
                        .is_none_or(|f| f.leo < leo && now.duration_since(f.last_caught_up) > lag)
                })
                .collect();
            if !lagging.is_empty() {
                let isr: Vec<i32> = st
                    .isr
                    .iter()
                    .copied()
                    .filter(|b| !lagging.contains(b))
                    .collect();
                tracing::info!(partition = %p.tp, ?lagging, ?lag, "shrinking ISR: followers fell behind");
                request_isr_change(&broker, &p, isr);
            }
        }
    }
}
