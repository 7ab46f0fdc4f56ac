//! Rebuilding a partition's groups from its `__consumer_offsets` records when this node
//! becomes the partition's leader (Kafka's `GroupMetadataManager.loadGroupsAndOffsets`):
//! the latest record per key wins, tombstones delete. Groups with members come back Stable
//! with their stored assignment and fresh session timers; groups with only offsets come back
//! Empty. The caller reads the log; this file never does I/O.

use std::collections::{BTreeMap, HashMap};

use tokio::time::Instant;

use crate::consumer_coordinator::schedule_session;
use crate::consumer_group::{from_topic_partitions, ConsumerGroup, ConsumerMember};
use crate::consumer_records::{
    ConsumerGroupMetadataValue, ConsumerMemberMetadataValue, ConsumerRecord,
    CurrentMemberAssignmentValue, TopicPartitions,
};
use crate::coordinator::{fail_waiters, now_ms, GroupCoordinator};
use crate::group::{CommittedOffset, Group, GroupState, Member};
use crate::log::spawn_writer;
use crate::membership::maybe_prepare_rebalance;
use crate::records::{GroupMetadataValue, GroupRecord, OffsetCommitValue};
use crate::timers::schedule_heartbeat;

impl GroupCoordinator {
    /// Takes ownership of `partition` with the groups its records describe (records in log
    /// order). Must run inside a tokio runtime (it starts the partition's writer task).
    pub fn load_partition(&self, partition: i32, records: impl IntoIterator<Item = GroupRecord>) {
        let mut metadata: HashMap<String, Option<GroupMetadataValue>> = HashMap::new();
        let mut offsets: HashMap<String, BTreeMap<(String, i32), Option<OffsetCommitValue>>> =
            HashMap::new();
        let mut consumer: HashMap<String, ConsumerGroupRecords> = HashMap::new();
        for record in records {
            match record {
                GroupRecord::OffsetCommit { key, value } => {
                    offsets
                        .entry(key.group)
                        .or_default()
                        .insert((key.topic, key.partition), value);
                }
                GroupRecord::GroupMetadata { group, value } => {
                    metadata.insert(group, value);
                }
                GroupRecord::Consumer(c) => {
                    consumer.entry(c.group().to_string()).or_default().apply(c)
                }
            }
        }
        let now = now_ms();
        let mut groups = HashMap::new();
        let mut names: Vec<String> = metadata
            .keys()
            .chain(offsets.keys())
            .chain(consumer.keys())
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        for name in &names {
            let consumer_group = consumer.remove(name.as_str()).and_then(|c| c.build());
            let is_consumer = consumer_group.is_some();
            let mut g = match (consumer_group, metadata.get(name).cloned().flatten()) {
                (Some(cg), _) => {
                    let mut g = Group::new(name, now);
                    g.consumer = Some(Box::new(cg));
                    g
                }
                (None, Some(value)) => group_from_value(name, value, now),
                (None, None) => Group::new(name, now),
            };
            if let Some(map) = offsets.get(name) {
                for (key, value) in map {
                    if let Some(value) = value {
                        g.offsets.insert(
                            key.clone(),
                            CommittedOffset {
                                value: value.clone(),
                            },
                        );
                    }
                }
            }
            let has_metadata = is_consumer || metadata.get(name).is_some_and(Option::is_some);
            if !has_metadata && g.offsets.is_empty() {
                continue; // deleted group (or only offset tombstones left)
            }
            groups.insert(name.clone(), g);
        }
        let config = &self.inner.config;
        let writer = spawn_writer(
            partition,
            self.inner.log.clone(),
            config.max_queued_appends,
            config.commit_timeout,
        );
        let mut st = self.inner.lock();
        let (_, old) = st.install(partition, false, groups, Some(writer));
        let Ok(ctx) = st.ctx(&self.inner, partition) else {
            return;
        };
        if let Some(groups) = st.groups(partition) {
            tracing::info!(
                partition,
                groups = groups.len(),
                "loaded __consumer_offsets partition"
            );
            for g in groups.values_mut() {
                if let Some(cg) = g.consumer.as_deref_mut() {
                    let gid = g.group_id.clone();
                    let ids: Vec<String> = cg.members.keys().cloned().collect();
                    for id in &ids {
                        schedule_session(&ctx, &gid, cg, id);
                    }
                    continue;
                }
                let ids: Vec<String> = g.members.keys().cloned().collect();
                for id in &ids {
                    schedule_heartbeat(&ctx, g, id);
                }
                if g.members.len() > config.max_size {
                    maybe_prepare_rebalance(&ctx, g, "group over group.max.size after load");
                }
            }
        }
        drop(st);
        if let Some(p) = old {
            fail_waiters(p.groups, crate::codes::NOT_COORDINATOR);
        }
    }
}

fn group_from_value(group_id: &str, v: GroupMetadataValue, now: i64) -> Group {
    let mut g = Group::new(group_id, now);
    g.generation = v.generation;
    g.protocol_type = Some(v.protocol_type).filter(|t| !t.is_empty());
    g.protocol_name = v.protocol;
    g.leader = v.leader;
    g.state_timestamp_ms = v.current_state_timestamp;
    let protocol = g.protocol_name.clone().unwrap_or_default();
    for m in v.members {
        if let Some(instance) = &m.group_instance_id {
            g.static_members
                .insert(instance.clone(), m.member_id.clone());
        }
        g.members.insert(
            m.member_id.clone(),
            Member {
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                rebalance_timeout_ms: m.rebalance_timeout,
                session_timeout_ms: m.session_timeout,
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                protocols: vec![(protocol.clone(), m.subscription)],
                assignment: m.assignment,
                awaiting_join: None,
                awaiting_sync: None,
                is_new: false,
                heartbeat_deadline: Instant::now(),
                timer: None,
                timer_wake: Instant::now(),
            },
        );
    }
    if g.leader
        .as_ref()
        .is_some_and(|l| !g.members.contains_key(l))
    {
        g.leader = g.members.keys().next().cloned();
    }
    g.state = if g.members.is_empty() {
        GroupState::Empty
    } else {
        GroupState::Stable
    };
    g.subscribed_topics = g.compute_subscribed_topics();
    g
}

/// The latest consumer-group records of one group, by key (None = tombstone).
#[derive(Default)]
struct ConsumerGroupRecords {
    metadata: Option<ConsumerGroupMetadataValue>,
    assignment_epoch: Option<i32>,
    members: BTreeMap<String, Option<ConsumerMemberMetadataValue>>,
    targets: BTreeMap<String, Option<Vec<TopicPartitions>>>,
    current: BTreeMap<String, Option<CurrentMemberAssignmentValue>>,
}

impl ConsumerGroupRecords {
    fn apply(&mut self, r: ConsumerRecord) {
        match r {
            ConsumerRecord::GroupMetadata { value, .. } => self.metadata = value,
            ConsumerRecord::PartitionMetadata { .. } => {}
            ConsumerRecord::MemberMetadata { member, value, .. } => {
                self.members.insert(member, value);
            }
            ConsumerRecord::TargetAssignmentMetadata { value, .. } => self.assignment_epoch = value,
            ConsumerRecord::TargetAssignmentMember { member, value, .. } => {
                self.targets.insert(member, value);
            }
            ConsumerRecord::CurrentMemberAssignment { member, value, .. } => {
                self.current.insert(member, value);
            }
        }
    }

    /// The group, if its ConsumerGroupMetadata record is live (else it was deleted or
    /// converted to a classic group). Members need their metadata record.
    fn build(self) -> Option<ConsumerGroup> {
        let meta = self.metadata?;
        let mut cg = ConsumerGroup::new();
        cg.group_epoch = meta.epoch;
        cg.metadata_hash = meta.metadata_hash;
        cg.assignment_epoch = self.assignment_epoch.unwrap_or(0);
        for (id, target) in self.targets {
            if let Some(t) = target {
                cg.target.insert(id, from_topic_partitions(&t));
            }
        }
        let mut current = self.current;
        for (id, value) in self.members {
            let Some(value) = value else { continue };
            let mut m = ConsumerMember::new(&id);
            m.apply_metadata(value);
            if let Some(Some(a)) = current.remove(&id) {
                m.apply_assignment(a);
            }
            cg.put_member(&id, Some(m));
        }
        cg.target.retain(|id, _| cg.members.contains_key(id));
        Some(cg)
    }
}
