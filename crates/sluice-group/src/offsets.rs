//! Committed offsets (Kafka's offset side of GroupCoordinator/GroupMetadataManager):
//! OffsetCommit (group members, and standalone commits with generation -1 for groups without
//! members), OffsetFetch (an unknown group answers -1 with no error), OffsetDelete (refused
//! for topics the consumer group subscribes to) and retention (`expire_offsets`). Commits
//! and deletions are acknowledged only after their records are appended.

use std::time::Duration;

use tokio::sync::oneshot;

use crate::codes;
use crate::coordinator::{now_ms, tombstone_group, GroupCoordinator};
use crate::group::{CommittedOffset, Group, GroupState};
use crate::records::{GroupRecord, OffsetCommitKey, OffsetCommitValue};
use crate::timers::schedule_heartbeat;
use crate::types::{
    FetchedOffset, OffsetCommitEntry, OffsetDeleteResult, OffsetFetchResult, PartitionError,
};

fn all(offsets: &[OffsetCommitEntry], error: i16) -> Vec<PartitionError> {
    offsets
        .iter()
        .map(|o| PartitionError {
            topic: o.topic.clone(),
            partition: o.partition,
            error,
        })
        .collect()
}

impl GroupCoordinator {
    /// OffsetCommit. `generation_id` -1 with an empty member id is a standalone commit,
    /// allowed while the group has no members (the group is created if unknown).
    pub async fn commit_offsets(
        &self,
        group_id: &str,
        generation_id: i32,
        member_id: &str,
        group_instance_id: Option<&str>,
        offsets: Vec<OffsetCommitEntry>,
    ) -> Vec<PartitionError> {
        let (mut results, rx) = self.commit_locked(
            group_id,
            generation_id,
            member_id,
            group_instance_id,
            &offsets,
        );
        if let Some((rx, written)) = rx {
            let bound = self.inner.config.commit_timeout + Duration::from_secs(1);
            let error = match tokio::time::timeout(bound, rx).await {
                Ok(Ok(code)) => code,
                Ok(Err(_)) => codes::NOT_COORDINATOR,
                Err(_) => codes::REQUEST_TIMED_OUT,
            };
            results.extend(
                written
                    .into_iter()
                    .map(|(topic, partition)| PartitionError {
                        topic,
                        partition,
                        error,
                    }),
            );
        }
        results
    }

    #[allow(clippy::type_complexity)]
    fn commit_locked(
        &self,
        group_id: &str,
        generation_id: i32,
        member_id: &str,
        group_instance_id: Option<&str>,
        offsets: &[OffsetCommitEntry],
    ) -> (
        Vec<PartitionError>,
        Option<(oneshot::Receiver<i16>, Vec<(String, i32)>)>,
    ) {
        let inner = &self.inner;
        let mut st = inner.lock();
        let partition = inner.partition_of(group_id);
        let ctx = match st.ctx(inner, partition) {
            Ok(c) => c,
            Err(code) => return (all(offsets, code), None),
        };
        let Some(groups) = st.groups(partition) else {
            return (all(offsets, codes::NOT_COORDINATOR), None);
        };
        if !groups.contains_key(group_id) {
            if generation_id >= 0 {
                return (all(offsets, codes::ILLEGAL_GENERATION), None);
            }
            groups.insert(group_id.to_string(), Group::new(group_id, now_ms()));
        }
        let Some(g) = groups.get_mut(group_id) else {
            return (all(offsets, codes::UNKNOWN_SERVER_ERROR), None);
        };
        if let Some(cg) = g.consumer.as_deref() {
            let code = if g.is(GroupState::Dead) {
                Some(codes::COORDINATOR_NOT_AVAILABLE)
            } else {
                let topics = self.topics();
                let partitions: Vec<_> = offsets
                    .iter()
                    .filter_map(|o| Some((topics.by_name.get(&o.topic)?.0, o.partition)))
                    .collect();
                validate_consumer_member(cg, member_id, generation_id, true, &partitions)
            };
            if let Some(code) = code {
                return (all(offsets, code), None);
            }
        } else if let Some(code) = validate_commit(g, generation_id, member_id, group_instance_id) {
            return (all(offsets, code), None);
        }
        match g.state {
            _ if g.consumer.is_some() => {}
            GroupState::Empty => {}
            GroupState::Stable | GroupState::PreparingRebalance => {
                if g.members.contains_key(member_id) {
                    schedule_heartbeat(&ctx, g, member_id);
                }
            }
            GroupState::CompletingRebalance => {
                return (all(offsets, codes::REBALANCE_IN_PROGRESS), None)
            }
            GroupState::Dead => return (all(offsets, codes::COORDINATOR_NOT_AVAILABLE), None),
        }
        let max = inner.config.offset_metadata_max_bytes;
        let now = now_ms();
        let mut results = Vec::new();
        let mut records = Vec::new();
        let mut written = Vec::new();
        for o in offsets {
            let metadata = o.metadata.clone().unwrap_or_default();
            if metadata.encode_utf16().count() > max {
                results.push(PartitionError {
                    topic: o.topic.clone(),
                    partition: o.partition,
                    error: codes::OFFSET_METADATA_TOO_LARGE,
                });
                continue;
            }
            let key = OffsetCommitKey {
                group: group_id.to_string(),
                topic: o.topic.clone(),
                partition: o.partition,
            };
            let value = OffsetCommitValue {
                offset: o.offset,
                leader_epoch: o.leader_epoch,
                metadata,
                commit_timestamp: now,
                expire_timestamp: None,
            };
            written.push((o.topic.clone(), o.partition));
            records.push(GroupRecord::OffsetCommit {
                key,
                value: Some(value),
            });
        }
        if records.is_empty() {
            return (results, None);
        }
        for k in &written {
            *g.pending_commits.entry(k.clone()).or_default() += 1;
        }
        let (tx, rx) = oneshot::channel();
        let later = ctx.later();
        let gid = group_id.to_string();
        let applied = records.clone();
        let queued = ctx.append(
            records,
            Box::new(move |result| {
                later.with_group(&gid, |_, g| {
                    for r in &applied {
                        let GroupRecord::OffsetCommit {
                            key,
                            value: Some(value),
                        } = r
                        else {
                            continue;
                        };
                        let k = (key.topic.clone(), key.partition);
                        if let Some(n) = g.pending_commits.get_mut(&k) {
                            *n = n.saturating_sub(1);
                            if *n == 0 {
                                g.pending_commits.remove(&k);
                            }
                        }
                        if result.is_ok() && !g.is(GroupState::Dead) {
                            g.offsets.insert(
                                k,
                                CommittedOffset {
                                    value: value.clone(),
                                },
                            );
                        }
                    }
                });
                let _ = tx.send(result.map_or_else(|e| e.offset_error_code(), |()| codes::NONE));
            }),
        );
        if let Err(code) = queued {
            for k in &written {
                if let Some(n) = g.pending_commits.get_mut(k) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        g.pending_commits.remove(k);
                    }
                }
                results.push(PartitionError {
                    topic: k.0.clone(),
                    partition: k.1,
                    error: code,
                });
            }
            return (results, None);
        }
        (results, Some((rx, written)))
    }

    /// OffsetFetch v9+ of a member of a KIP-848 consumer group: the member must exist
    /// (UNKNOWN_MEMBER_ID) at the given epoch (STALE_MEMBER_EPOCH). Requests without a member
    /// (admin clients: no member id, epoch -1) and classic groups are not checked.
    pub fn validate_offset_fetch(
        &self,
        group_id: &str,
        member_id: Option<&str>,
        member_epoch: i32,
    ) -> i16 {
        let inner = &self.inner;
        let mut st = inner.lock();
        let partition = inner.partition_of(group_id);
        if let Err(code) = st.ctx(inner, partition) {
            return code;
        }
        let Some(cg) = st
            .groups(partition)
            .and_then(|m| m.get(group_id))
            .and_then(|g| g.consumer.as_deref())
        else {
            return codes::NONE;
        };
        match member_id {
            None if member_epoch < 0 => codes::NONE,
            _ => validate_consumer_member(
                cg,
                member_id.unwrap_or_default(),
                member_epoch,
                false,
                &[],
            )
            .unwrap_or(codes::NONE),
        }
    }

    /// OffsetFetch for the given partitions, or every committed partition when `None`.
    /// Unknown groups answer offset -1 with no error (never GROUP_ID_NOT_FOUND). With
    /// `require_stable`, partitions with a commit still being appended answer
    /// UNSTABLE_OFFSET_COMMIT.
    pub async fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<Vec<(String, i32)>>,
        require_stable: bool,
    ) -> OffsetFetchResult {
        let inner = &self.inner;
        let mut st = inner.lock();
        let partition = inner.partition_of(group_id);
        if let Err(error) = st.ctx(inner, partition) {
            return OffsetFetchResult {
                error,
                partitions: Vec::new(),
            };
        }
        let group = st
            .groups(partition)
            .and_then(|m| m.get(group_id))
            .filter(|g| !g.is(GroupState::Dead));
        let entry = |g: Option<&Group>, topic: &str, p: i32| {
            let key = (topic.to_string(), p);
            let mut f = FetchedOffset {
                topic: topic.to_string(),
                partition: p,
                offset: -1,
                leader_epoch: -1,
                metadata: String::new(),
                error: codes::NONE,
            };
            if let Some(g) = g {
                if require_stable && g.pending_commits.contains_key(&key) {
                    f.error = codes::UNSTABLE_OFFSET_COMMIT;
                } else if let Some(o) = g.offsets.get(&key) {
                    f.offset = o.value.offset;
                    f.leader_epoch = o.value.leader_epoch;
                    f.metadata = o.value.metadata.clone();
                }
            }
            f
        };
        let partitions = match partitions {
            Some(list) => list.iter().map(|(t, p)| entry(group, t, *p)).collect(),
            None => group
                .map(|g| {
                    g.offsets
                        .keys()
                        .map(|(t, p)| entry(Some(g), t, *p))
                        .collect()
                })
                .unwrap_or_default(),
        };
        OffsetFetchResult {
            error: codes::NONE,
            partitions,
        }
    }

    /// OffsetDelete: Empty groups may delete any offsets; consumer groups with members only
    /// those of topics no member subscribes to (GROUP_SUBSCRIBED_TO_TOPIC otherwise).
    pub async fn delete_offsets(
        &self,
        group_id: &str,
        partitions: Vec<(String, i32)>,
    ) -> OffsetDeleteResult {
        let top = |error| OffsetDeleteResult {
            error,
            partitions: Vec::new(),
        };
        let rx = {
            let inner = &self.inner;
            let mut st = inner.lock();
            let partition = inner.partition_of(group_id);
            let ctx = match st.ctx(inner, partition) {
                Ok(c) => c,
                Err(code) => return top(code),
            };
            let Some(g) = st.groups(partition).and_then(|m| m.get_mut(group_id)) else {
                return top(codes::GROUP_ID_NOT_FOUND);
            };
            if g.state == GroupState::Dead {
                return top(codes::GROUP_ID_NOT_FOUND);
            }
            // Topics members subscribe to keep their offsets: a consumer-protocol group with
            // members names them in its heartbeats, a non-empty classic consumer group in its
            // members' subscriptions; other non-empty classic groups cannot delete offsets.
            let consumer_subscribed = g
                .consumer
                .as_deref()
                .filter(|cg| !cg.members.is_empty())
                .map(|cg| consumer_subscribed_topics(cg, &self.topics()));
            let classic_members = g.state != GroupState::Empty;
            if consumer_subscribed.is_none() && classic_members && !g.is_consumer_group() {
                return top(codes::NON_EMPTY_GROUP);
            }
            let is_subscribed = |topic: &str| match &consumer_subscribed {
                Some(topics) => topics.contains(topic),
                None => classic_members && g.is_subscribed_to(topic),
            };
            let (subscribed, eligible): (Vec<_>, Vec<_>) =
                partitions.into_iter().partition(|(t, _)| is_subscribed(t));
            let mut results: Vec<PartitionError> = subscribed
                .into_iter()
                .map(|(topic, partition)| PartitionError {
                    topic,
                    partition,
                    error: codes::GROUP_SUBSCRIBED_TO_TOPIC,
                })
                .collect();
            if eligible.is_empty() {
                return OffsetDeleteResult {
                    error: codes::NONE,
                    partitions: results,
                };
            }
            let (tx, rx) = oneshot::channel();
            let present: Vec<(String, i32)> = eligible
                .iter()
                .filter(|k| g.offsets.contains_key(*k))
                .cloned()
                .collect();
            if let Err(code) = tombstone_group(&ctx, g, present, false, move |r| {
                let _ = tx.send(r.map_or_else(|e| e.offset_error_code(), |()| codes::NONE));
            }) {
                results.extend(
                    eligible
                        .into_iter()
                        .map(|(topic, partition)| PartitionError {
                            topic,
                            partition,
                            error: code,
                        }),
                );
                return OffsetDeleteResult {
                    error: codes::NONE,
                    partitions: results,
                };
            }
            (rx, eligible, results)
        };
        let (rx, eligible, mut results) = rx;
        let bound = self.inner.config.commit_timeout + Duration::from_secs(1);
        let error = match tokio::time::timeout(bound, rx).await {
            Ok(Ok(code)) => code,
            Ok(Err(_)) => codes::NOT_COORDINATOR,
            Err(_) => codes::REQUEST_TIMED_OUT,
        };
        results.extend(
            eligible
                .into_iter()
                .map(|(topic, partition)| PartitionError {
                    topic,
                    partition,
                    error,
                }),
        );
        OffsetDeleteResult {
            error: codes::NONE,
            partitions: results,
        }
    }

    /// Offset retention (`offsets.retention.minutes`), Kafka's rules: in an Empty group,
    /// offsets expire once the group has been Empty longer than the retention (or, without a
    /// state timestamp, once committed longer ago); in a Stable consumer group with known
    /// subscriptions, offsets of unsubscribed topics committed longer ago; in a standalone
    /// group (no protocol type), offsets committed longer ago. Offsets with a commit in flight
    /// never expire. Empty groups left without offsets are deleted (tombstoned). Returns the
    /// number of offsets expired once their tombstones are appended.
    pub async fn expire_offsets(&self, now_ms: i64) -> usize {
        let retention = self.inner.config.offsets_retention_ms;
        let mut waits = Vec::new();
        {
            let inner = &self.inner;
            let mut st = inner.lock();
            let partitions: Vec<i32> = st.partitions.keys().copied().collect();
            for partition in partitions {
                let Ok(ctx) = st.ctx(inner, partition) else {
                    continue;
                };
                let Some(groups) = st.groups(partition) else {
                    continue;
                };
                for g in groups.values_mut() {
                    let expired = expired_offsets(g, now_ms, retention);
                    let kill = g.has_no_members()
                        && g.pending_commits.is_empty()
                        && expired.len() == g.offsets.len();
                    if expired.is_empty() && !kill {
                        continue;
                    }
                    let (tx, rx) = oneshot::channel();
                    let n = expired.len();
                    let queued = tombstone_group(&ctx, g, expired, kill, move |r| {
                        let _ = tx.send(r.is_ok());
                    });
                    if queued.is_ok() {
                        tracing::info!(group = %g.group_id, offsets = n, dead = kill, "expiring offsets");
                        waits.push((rx, n));
                    }
                }
            }
        }
        let mut total = 0;
        for (rx, n) in waits {
            if let Ok(Ok(true)) =
                tokio::time::timeout(self.inner.config.commit_timeout * 2, rx).await
            {
                total += n;
            }
        }
        total
    }
}

/// Kafka's `ConsumerGroup.validateOffsetCommit/validateOffsetFetch`: with a negative epoch
/// and no members (admin commits; fetches pass `allow_admin` false and are screened by the
/// caller) nothing is checked; otherwise the member must exist (UNKNOWN_MEMBER_ID) at this
/// epoch, or commit with an older epoch only partitions it has owned since then (KIP-1251;
/// STALE_MEMBER_EPOCH otherwise). This closes the race between a commit and the heartbeat
/// response that bumped the member's epoch.
fn validate_consumer_member(
    cg: &crate::consumer_group::ConsumerGroup,
    member_id: &str,
    member_epoch: i32,
    allow_admin: bool,
    partitions: &[(uuid::Uuid, i32)],
) -> Option<i16> {
    if allow_admin && member_epoch < 0 && cg.members.is_empty() {
        return None;
    }
    let Some(m) = cg.members.get(member_id) else {
        return Some(codes::UNKNOWN_MEMBER_ID);
    };
    (!m.accepts_epoch(member_epoch, partitions)).then_some(codes::STALE_MEMBER_EPOCH)
}

/// Topic names the members of a consumer group subscribe to (names and regex matches).
fn consumer_subscribed_topics(
    cg: &crate::consumer_group::ConsumerGroup,
    topics: &crate::consumer_topics::TopicsImage,
) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for m in cg.members.values() {
        out.extend(m.subscribed_topic_names.iter().cloned());
        out.extend(topics.subscribed(m));
    }
    out
}

/// Kafka's `validateOffsetCommit` (non-transactional).
fn validate_commit(
    g: &Group,
    generation_id: i32,
    member_id: &str,
    instance_id: Option<&str>,
) -> Option<i16> {
    if g.is(GroupState::Dead) {
        return Some(codes::COORDINATOR_NOT_AVAILABLE);
    }
    if generation_id >= 0 || !member_id.is_empty() || instance_id.is_some() {
        if let Some(instance) = instance_id {
            if !g.static_members.contains_key(instance) {
                return Some(codes::UNKNOWN_MEMBER_ID);
            }
            if g.is_static_member_fenced(Some(instance), member_id) {
                return Some(codes::FENCED_INSTANCE_ID);
            }
        } else if !g.members.contains_key(member_id) {
            return Some(codes::UNKNOWN_MEMBER_ID);
        }
        if generation_id != g.generation {
            return Some(codes::ILLEGAL_GENERATION);
        }
        None
    } else if !g.is(GroupState::Empty) {
        Some(codes::UNKNOWN_MEMBER_ID)
    } else {
        None
    }
}

fn expired_offsets(g: &Group, now_ms: i64, retention_ms: i64) -> Vec<(String, i32)> {
    if let Some(cg) = g.consumer.as_deref() {
        // Consumer groups: committed longer ago than the retention, and (while the group
        // has members) only for topics nobody subscribes to.
        let names: std::collections::BTreeSet<&str> = cg
            .members
            .values()
            .flat_map(|m| m.subscribed_topic_names.iter().map(String::as_str))
            .collect();
        let has_regex = cg
            .members
            .values()
            .any(|m| m.subscribed_topic_regex.is_some());
        return g
            .offsets
            .iter()
            .filter(|(k, o)| {
                !g.pending_commits.contains_key(*k)
                    && !names.contains(k.0.as_str())
                    && !has_regex
                    && now_ms.saturating_sub(o.value.commit_timestamp) >= retention_ms
            })
            .map(|(k, _)| k.clone())
            .collect();
    }
    let state_ts = (g.state_timestamp_ms >= 0).then_some(g.state_timestamp_ms);
    let select =
        |base: &dyn Fn(&CommittedOffset) -> i64, skip_subscribed: bool| -> Vec<(String, i32)> {
            g.offsets
                .iter()
                .filter(|(k, o)| {
                    let subscribed = skip_subscribed && g.is_subscribed_to(&k.0);
                    !subscribed
                        && !g.pending_commits.contains_key(*k)
                        && match o.value.expire_timestamp {
                            Some(expire) => now_ms >= expire,
                            None => now_ms.saturating_sub(base(o)) >= retention_ms,
                        }
                })
                .map(|(k, _)| k.clone())
                .collect()
        };
    match &g.protocol_type {
        Some(_) if g.is(GroupState::Empty) => {
            select(&|o| state_ts.unwrap_or(o.value.commit_timestamp), false)
        }
        Some(_)
            if g.is_consumer_group()
                && g.subscribed_topics.is_some()
                && g.is(GroupState::Stable) =>
        {
            select(&|o| o.value.commit_timestamp, true)
        }
        None => select(&|o| o.value.commit_timestamp, false),
        _ => Vec::new(),
    }
}
