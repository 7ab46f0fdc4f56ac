//! Shared test fixtures: an in-memory `GroupLog` that records every appended batch (and can
//! be told to fail), and helpers to build coordinators and join requests.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use sluice_group::{
    BoxFuture, GroupConfig, GroupCoordinator, GroupLog, GroupLogError, GroupRecord, JoinGroupParams,
};

#[derive(Default)]
pub struct MemoryLog {
    pub records: Mutex<Vec<(i32, GroupRecord)>>,
    pub fail: AtomicBool,
}

impl MemoryLog {
    pub fn records(&self) -> Vec<(i32, GroupRecord)> {
        self.records.lock().unwrap().clone()
    }

    /// Every record round-tripped through Kafka's byte encoding, as a reload would see it.
    pub fn reencoded(&self, partition: i32) -> Vec<GroupRecord> {
        self.records()
            .into_iter()
            .filter(|(p, _)| *p == partition)
            .map(|(_, r)| {
                GroupRecord::decode(&r.encode_key(), r.encode_value().as_deref()).unwrap()
            })
            .collect()
    }
}

impl GroupLog for MemoryLog {
    fn append(
        &self,
        partition: i32,
        records: Vec<GroupRecord>,
    ) -> BoxFuture<'_, Result<(), GroupLogError>> {
        Box::pin(async move {
            if self.fail.load(Ordering::SeqCst) {
                return Err(GroupLogError::NotLeader);
            }
            let mut log = self.records.lock().unwrap();
            log.extend(records.into_iter().map(|r| (partition, r)));
            Ok(())
        })
    }
}

pub fn config() -> GroupConfig {
    GroupConfig {
        offsets_topic_num_partitions: 1,
        ..GroupConfig::default()
    }
}

/// A coordinator owning partition 0 of a 1-partition `__consumer_offsets`.
pub fn coordinator_with(config: GroupConfig) -> (GroupCoordinator, Arc<MemoryLog>) {
    let log = Arc::new(MemoryLog::default());
    let c = GroupCoordinator::new(config, log.clone());
    c.load_partition(0, Vec::new());
    (c, log)
}

pub fn coordinator() -> (GroupCoordinator, Arc<MemoryLog>) {
    coordinator_with(config())
}

/// ConsumerProtocolSubscription v0 bytes for `topics`.
pub fn subscription(topics: &[&str]) -> Bytes {
    let mut out = 0i16.to_be_bytes().to_vec();
    out.extend((topics.len() as i32).to_be_bytes());
    for t in topics {
        out.extend((t.len() as i16).to_be_bytes());
        out.extend(t.as_bytes());
    }
    out.extend((-1i32).to_be_bytes());
    Bytes::from(out)
}

pub fn join(group: &str, member_id: &str, client: &str) -> JoinGroupParams {
    JoinGroupParams {
        group_id: group.to_string(),
        member_id: member_id.to_string(),
        group_instance_id: None,
        client_id: client.to_string(),
        client_host: "/127.0.0.1".to_string(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        protocol_type: "consumer".to_string(),
        protocols: vec![("range".to_string(), subscription(&["orders"]))],
        require_known_member_id: false,
        supports_skip_assignment: false,
        reason: None,
    }
}
