//! Automatic preferred-leader rebalance on the active controller
//! (`auto.leader.rebalance.enable`, default true): every
//! `leader.imbalance.check.interval.seconds` (300), brokers whose share of partitions they are
//! the preferred leader of but do not lead exceeds `leader.imbalance.per.broker.percentage`
//! (10) get those partitions back where the preferred replica is live and in the ISR. The
//! choice is `sluice_metadata::election::imbalanced_partitions`; the elections are the same
//! preferred elections ElectLeaders makes.

use std::sync::Arc;
use std::time::Duration;

use sluice_metadata::election::{self, ElectionType};
use tokio::sync::watch;

use crate::broker::Broker;

/// Runs for the node's lifetime (doing nothing while this node is not the active controller
/// or when the rebalance is disabled); stops on shutdown.
pub async fn auto_rebalance_task(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let config = &broker.config;
    if !config
        .get_bool("auto.leader.rebalance.enable")
        .unwrap_or(true)
    {
        return;
    }
    let interval = Duration::from_secs(
        config
            .get_i64("leader.imbalance.check.interval.seconds")
            .unwrap_or(300)
            .max(1) as u64,
    );
    let percentage = config
        .get_i64("leader.imbalance.per.broker.percentage")
        .unwrap_or(10);
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            r = shutdown.changed() => {
                if r.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
        if !broker.is_active_controller()
            || election::imbalanced_partitions(&broker.image(), percentage).is_empty()
        {
            continue;
        }
        let result = broker
            .controller_write(|image| {
                let wanted = election::imbalanced_partitions(image, percentage);
                let e = election::elect_leaders(image, ElectionType::Preferred, Some(&wanted));
                let elected: Vec<String> = e
                    .results
                    .iter()
                    .filter(|r| r.result.is_ok())
                    .map(|r| format!("{}-{}", r.topic, r.partition))
                    .collect();
                Ok::<_, std::convert::Infallible>((e.records, elected))
            })
            .await;
        match result {
            Ok(Ok(elected)) if !elected.is_empty() => {
                tracing::info!(partitions = ?elected, "auto leader rebalance: preferred leaders elected");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "auto leader rebalance failed"),
        }
    }
}
