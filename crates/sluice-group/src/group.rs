//! One classic group's in-memory state (Kafka's GroupMetadata + MemberMetadata): members,
//! static-member map, pending (KIP-394) members, generation, selected protocol, committed
//! offsets, and the parked JoinGroup/SyncGroup responses. Pure state transitions only: no
//! timers, no I/O, no locking — the coordinator drives those around it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::records::{GroupMetadataValue, MemberMetadataValue, OffsetCommitValue};
use crate::subscription::{subscribed_topics, CONSUMER_PROTOCOL_TYPE};
use crate::types::{JoinGroupMember, JoinGroupResult, SyncGroupResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// Kafka's state names, as DescribeGroups and ListGroups report them.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(crate) struct Member {
    pub(crate) member_id: String,
    pub(crate) group_instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) session_timeout_ms: i32,
    pub(crate) protocol_type: String,
    pub(crate) protocols: Vec<(String, Bytes)>,
    pub(crate) assignment: Bytes,
    pub(crate) awaiting_join: Option<oneshot::Sender<JoinGroupResult>>,
    pub(crate) awaiting_sync: Option<oneshot::Sender<SyncGroupResult>>,
    /// Joined but has not yet received a JoinGroup response (Kafka's `isNew`).
    pub(crate) is_new: bool,
    pub(crate) heartbeat_deadline: Instant,
    /// Incarnation of the live session timer task, if any, and when it next wakes.
    pub(crate) timer: Option<u64>,
    pub(crate) timer_wake: Instant,
}

impl Member {
    pub(crate) fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// Same protocols, same metadata, same order (Kafka's `MemberMetadata.matches`).
    pub(crate) fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    /// Whether an expired session timer should be ignored (Kafka's `hasSatisfiedHeartbeat`,
    /// called only once the deadline has passed).
    pub(crate) fn satisfies_expired_heartbeat(&self) -> bool {
        !self.is_new && (self.awaiting_join.is_some() || self.awaiting_sync.is_some())
    }
}

pub(crate) struct PendingMember {
    pub(crate) deadline: Instant,
    pub(crate) timer: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommittedOffset {
    pub(crate) value: OffsetCommitValue,
}

pub(crate) struct Group {
    pub(crate) group_id: String,
    pub(crate) state: GroupState,
    /// Wall-clock ms of the last state change (`currentStateTimestamp`), -1 if unknown.
    pub(crate) state_timestamp_ms: i64,
    pub(crate) generation: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) leader: Option<String>,
    pub(crate) members: BTreeMap<String, Member>,
    pub(crate) static_members: HashMap<String, String>,
    pub(crate) pending_members: HashMap<String, PendingMember>,
    pub(crate) pending_sync: HashSet<String>,
    pub(crate) new_member_added: bool,
    pub(crate) subscribed_topics: Option<HashSet<String>>,
    pub(crate) offsets: BTreeMap<(String, i32), CommittedOffset>,
    /// Offset commits appended but not yet acknowledged, per partition.
    pub(crate) pending_commits: HashMap<(String, i32), u32>,
    /// Incarnation of the live delayed-join timer (PreparingRebalance only).
    pub(crate) join_timer: Option<u64>,
    pub(crate) join_deadline: Instant,
    /// Set while the first rebalance of an empty group is held (InitialDelayedJoin):
    /// (current delay ms, remaining ms).
    pub(crate) initial_delay: Option<(u64, u64)>,
    /// Incarnation of the live pending-sync timer (CompletingRebalance/Stable).
    pub(crate) sync_timer: Option<u64>,
    /// Set for KIP-848 consumer-protocol groups (then the classic fields stay unused and
    /// `state` is Empty, or Dead while the group is being deleted).
    pub(crate) consumer: Option<Box<crate::consumer_group::ConsumerGroup>>,
}

impl Group {
    pub(crate) fn new(group_id: &str, now_ms: i64) -> Self {
        Group {
            group_id: group_id.to_string(),
            state: GroupState::Empty,
            state_timestamp_ms: now_ms,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending_members: HashMap::new(),
            pending_sync: HashSet::new(),
            new_member_added: false,
            subscribed_topics: None,
            offsets: BTreeMap::new(),
            pending_commits: HashMap::new(),
            join_timer: None,
            join_deadline: Instant::now(),
            initial_delay: None,
            sync_timer: None,
            consumer: None,
        }
    }

    /// A new, empty consumer-protocol group.
    pub(crate) fn new_consumer(group_id: &str, now_ms: i64) -> Self {
        let mut g = Group::new(group_id, now_ms);
        g.consumer = Some(Box::new(crate::consumer_group::ConsumerGroup::new()));
        g
    }

    /// No members under either protocol and not being deleted.
    pub(crate) fn has_no_members(&self) -> bool {
        self.is(GroupState::Empty)
            && self.members.is_empty()
            && self.consumer.as_ref().is_none_or(|c| c.members.is_empty())
    }

    pub(crate) fn is(&self, state: GroupState) -> bool {
        self.state == state
    }

    pub(crate) fn transition(&mut self, state: GroupState, now_ms: i64) {
        self.state = state;
        self.state_timestamp_ms = now_ms;
    }

    pub(crate) fn can_rebalance(&self) -> bool {
        matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        )
    }

    pub(crate) fn is_leader(&self, member_id: &str) -> bool {
        self.leader.as_deref() == Some(member_id)
    }

    pub(crate) fn is_consumer_group(&self) -> bool {
        self.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE)
    }

    pub(crate) fn is_static_member_fenced(
        &self,
        instance_id: Option<&str>,
        member_id: &str,
    ) -> bool {
        instance_id
            .and_then(|i| self.static_members.get(i))
            .is_some_and(|current| current != member_id)
    }

    pub(crate) fn awaiting_join_count(&self) -> usize {
        self.members
            .values()
            .filter(|m| m.awaiting_join.is_some())
            .count()
    }

    pub(crate) fn has_all_members_joined(&self) -> bool {
        self.members.len() == self.awaiting_join_count() && self.pending_members.is_empty()
    }

    /// The largest rebalance timeout among the members (Kafka's `group.rebalanceTimeoutMs`).
    pub(crate) fn rebalance_timeout_ms(&self) -> u64 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms.max(0) as u64)
            .max()
            .unwrap_or(0)
    }

    fn supported_by_all(&self, protocol: &str) -> bool {
        self.members
            .values()
            .all(|m| m.protocols.iter().any(|(n, _)| n == protocol))
    }

    /// Kafka's `supportsProtocols`: a new or rejoining member can join only if its protocol
    /// type matches and it shares at least one protocol with every current member.
    pub(crate) fn supports_protocols(
        &self,
        protocol_type: &str,
        protocols: &[(String, Bytes)],
    ) -> bool {
        if self.is(GroupState::Empty) {
            !protocol_type.is_empty() && !protocols.is_empty()
        } else {
            self.protocol_type.as_deref() == Some(protocol_type)
                && protocols.iter().any(|(n, _)| self.supported_by_all(n))
        }
    }

    /// Kafka's `selectProtocol`: among the protocols every member supports, each member votes
    /// for its most preferred one; the most votes wins (ties: the smallest name, for
    /// determinism). `None` only if the members share no protocol or there are none.
    pub(crate) fn select_protocol(&self) -> Option<String> {
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            let vote = m
                .protocols
                .iter()
                .map(|(n, _)| n.as_str())
                .find(|n| self.supported_by_all(n))?;
            *votes.entry(vote).or_default() += 1;
        }
        let best = votes.values().copied().max()?;
        votes
            .into_iter()
            .find(|(_, v)| *v == best)
            .map(|(n, _)| n.to_string())
    }

    pub(crate) fn add_member(&mut self, member: Member) {
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(member.member_id.clone());
        }
        if let Some(instance) = &member.group_instance_id {
            self.static_members
                .insert(instance.clone(), member.member_id.clone());
        }
        self.pending_members.remove(&member.member_id);
        self.members.insert(member.member_id.clone(), member);
    }

    /// Removes a member (Kafka's `GroupMetadata.remove`), re-electing the leader if needed.
    /// A parked SyncGroup of the member is answered UNKNOWN_MEMBER_ID; a parked JoinGroup
    /// must have been answered by the caller.
    pub(crate) fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        let mut member = self.members.remove(member_id)?;
        if let Some(instance) = &member.group_instance_id {
            if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                self.static_members.remove(instance);
            }
        }
        if self.is_leader(member_id) {
            self.leader = self.members.keys().next().cloned();
        }
        self.pending_sync.remove(member_id);
        if let Some(tx) = member.awaiting_sync.take() {
            let _ = tx.send(SyncGroupResult::error(crate::codes::UNKNOWN_MEMBER_ID));
        }
        Some(member)
    }

    /// KIP-345: gives a static member's slot a new member id. The old id's parked requests
    /// are fenced; leadership and pending-sync status follow the slot.
    pub(crate) fn replace_static_member(&mut self, instance_id: &str, old_id: &str, new_id: &str) {
        let Some(mut member) = self.members.remove(old_id) else {
            return;
        };
        if let Some(tx) = member.awaiting_join.take() {
            let _ = tx.send(JoinGroupResult::error(
                old_id,
                crate::codes::FENCED_INSTANCE_ID,
            ));
        }
        if let Some(tx) = member.awaiting_sync.take() {
            let _ = tx.send(SyncGroupResult::error(crate::codes::FENCED_INSTANCE_ID));
        }
        member.member_id = new_id.to_string();
        member.timer = None;
        if self.is_leader(old_id) {
            self.leader = Some(new_id.to_string());
        }
        if self.pending_sync.remove(old_id) {
            self.pending_sync.insert(new_id.to_string());
        }
        self.static_members
            .insert(instance_id.to_string(), new_id.to_string());
        self.members.insert(new_id.to_string(), member);
    }

    /// Topics the members subscribe to, when this is a consumer group whose subscriptions
    /// all parse; `None` when unknown (Kafka's `computeSubscribedTopics`).
    pub(crate) fn compute_subscribed_topics(&self) -> Option<HashSet<String>> {
        if !self.is_consumer_group() {
            return None;
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = HashSet::new();
        for m in self.members.values() {
            match subscribed_topics(&m.metadata_for(protocol)) {
                Ok(t) => topics.extend(t),
                Err(e) => {
                    tracing::warn!(group = %self.group_id, member = %m.member_id, error = %e,
                        "cannot parse consumer subscription; subscribed topics unknown");
                    return None;
                }
            }
        }
        Some(topics)
    }

    pub(crate) fn is_subscribed_to(&self, topic: &str) -> bool {
        self.subscribed_topics
            .as_ref()
            .is_some_and(|t| t.contains(topic))
    }

    /// Kafka's `initNextGeneration`: bump the generation and pick the protocol
    /// (CompletingRebalance), or become Empty when nobody is left.
    pub(crate) fn init_next_generation(&mut self, now_ms: i64) {
        self.generation = self.generation.wrapping_add(1);
        if self.members.is_empty() {
            self.protocol_name = None;
            self.transition(GroupState::Empty, now_ms);
        } else {
            self.protocol_name = self.select_protocol();
            self.transition(GroupState::CompletingRebalance, now_ms);
        }
        self.subscribed_topics = self.compute_subscribed_topics();
        self.pending_sync.clear();
    }

    /// The JoinGroup response for a member of the current generation.
    pub(crate) fn join_result(
        &self,
        member_id: &str,
        with_members: bool,
        skip: bool,
    ) -> JoinGroupResult {
        let members = if with_members {
            let protocol = self.protocol_name.as_deref().unwrap_or_default();
            self.members
                .values()
                .map(|m| JoinGroupMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    metadata: m.metadata_for(protocol),
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinGroupResult {
            error: crate::codes::NONE,
            generation_id: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members,
            skip_assignment: skip,
        }
    }

    /// The GroupMetadataValue Kafka stores for this group with the given assignment.
    pub(crate) fn metadata_value(&self, assignment: &HashMap<String, Bytes>) -> GroupMetadataValue {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        GroupMetadataValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol_name.clone(),
            leader: self.leader.clone(),
            current_state_timestamp: self.state_timestamp_ms,
            members: self
                .members
                .values()
                .map(|m| MemberMetadataValue {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout: m.rebalance_timeout_ms,
                    session_timeout: m.session_timeout_ms,
                    subscription: m.metadata_for(protocol),
                    assignment: assignment.get(&m.member_id).cloned().unwrap_or_default(),
                })
                .collect(),
        }
    }

    pub(crate) fn current_assignment(&self) -> HashMap<String, Bytes> {
        self.members
            .values()
            .map(|m| (m.member_id.clone(), m.assignment.clone()))
            .collect()
    }
}
