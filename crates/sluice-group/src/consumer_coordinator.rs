//! The KIP-848 consumer protocol on the coordinator: ConsumerGroupHeartbeat (join with epoch
//! 0, heartbeats, leave with -1, static temporary leave with -2), ConsumerGroupDescribe, and
//! the member timers (session expiry, revocation deadline) — Kafka's
//! `GroupMetadataManager.consumerGroupHeartbeat` flow: validate, get or create the group and
//! member, update the member's subscription (bumping the group epoch when subscriptions or
//! the subscribed topics' metadata change), recompute the target assignment when the group
//! epoch passed the assignment epoch, then reconcile the member. Runs under the coordinator
//! lock and never awaits there; a heartbeat that changed state answers after its records
//! are appended. State is applied in memory when decided (a failed append is reported to
//! the member, which retries; the partition's leadership is then normally lost anyway).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::assignor::{self, Assignment, AssignorMember};
use crate::codes;
use crate::consumer_group::{
    from_topic_partitions, is_subset, to_topic_partitions, ConsumerGroup, ConsumerMember,
    MemberState, LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH,
};
use crate::consumer_records::{ConsumerGroupMetadataValue, ConsumerRecord};
use crate::consumer_topics::{compile_regex, metadata_hash, new_member_id, TopicsImage};
use crate::coordinator::{now_ms, Ctx, GroupCoordinator};
use crate::group::{Group, GroupState};
use crate::records::GroupRecord;
use crate::timers::{spawn_timer, TimerKind};
use crate::types::{
    ConsumerGroupDescription, ConsumerHeartbeatParams, ConsumerHeartbeatResult,
    ConsumerMemberDescription, NamedTopicPartitions, TopicMetadata,
};

type Failure = (i16, Option<String>);

fn fail<T>(code: i16, message: impl Into<String>) -> Result<T, Failure> {
    Err((code, Some(message.into())))
}

impl GroupCoordinator {
    /// Replaces the coordinator's view of the topics (called when the metadata image
    /// changes). Groups notice changed subscriptions on their next heartbeat, as in Kafka.
    pub fn update_topics(&self, topics: Vec<TopicMetadata>) {
        let image = Arc::new(TopicsImage::new(topics));
        match self.inner.topics.write() {
            Ok(mut g) => *g = image,
            Err(p) => *p.into_inner() = image,
        }
    }

    pub(crate) fn topics(&self) -> Arc<TopicsImage> {
        match self.inner.topics.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// ConsumerGroupHeartbeat.
    pub async fn consumer_group_heartbeat(
        &self,
        p: ConsumerHeartbeatParams,
    ) -> ConsumerHeartbeatResult {
        match self.heartbeat_locked(p) {
            Err((code, message)) => ConsumerHeartbeatResult::error(code, message),
            Ok((result, None)) => result,
            Ok((result, Some(rx))) => {
                let bound = self.inner.config.commit_timeout + Duration::from_secs(1);
                match tokio::time::timeout(bound, rx).await {
                    Ok(Ok(codes::NONE)) => result,
                    Ok(Ok(code)) => ConsumerHeartbeatResult::error(code, None),
                    Ok(Err(_)) => ConsumerHeartbeatResult::error(codes::NOT_COORDINATOR, None),
                    Err(_) => ConsumerHeartbeatResult::error(codes::REQUEST_TIMED_OUT, None),
                }
            }
        }
    }

    fn validate(&self, p: &ConsumerHeartbeatParams) -> Result<(), Failure> {
        let config = &self.inner.config;
        if !config.consumer_protocol_enabled {
            return fail(
                codes::UNSUPPORTED_VERSION,
                "The consumer rebalance protocol is disabled (group.coordinator.rebalance.protocols).",
            );
        }
        if p.group_id.is_empty() {
            return fail(codes::INVALID_REQUEST, "GroupId can't be empty.");
        }
        if (p.api_version >= 1 || p.member_epoch != 0) && p.member_id.is_empty() {
            return fail(codes::INVALID_REQUEST, "MemberId can't be empty.");
        }
        if p.instance_id.as_deref() == Some("") {
            return fail(codes::INVALID_REQUEST, "InstanceId can't be empty.");
        }
        if p.rack_id.as_deref() == Some("") {
            return fail(codes::INVALID_REQUEST, "RackId can't be empty.");
        }
        if p.member_epoch == 0 {
            if p.rebalance_timeout_ms == -1 {
                return fail(
                    codes::INVALID_REQUEST,
                    "RebalanceTimeoutMs must be provided in first request.",
                );
            }
            if p.owned_topic_partitions
                .as_ref()
                .is_none_or(|o| !o.is_empty())
            {
                return fail(
                    codes::INVALID_REQUEST,
                    "TopicPartitions must be empty when (re-)joining.",
                );
            }
            let names = p
                .subscribed_topic_names
                .as_ref()
                .is_some_and(|n| !n.is_empty());
            let regex = p
                .subscribed_topic_regex
                .as_ref()
                .is_some_and(|r| !r.is_empty());
            if !names && !regex {
                return fail(
                    codes::INVALID_REQUEST,
                    "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
                );
            }
        } else if p.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH {
            if p.instance_id.is_none() {
                return fail(codes::INVALID_REQUEST, "InstanceId can't be null.");
            }
        } else if p.member_epoch < LEAVE_GROUP_STATIC_MEMBER_EPOCH {
            return fail(codes::INVALID_REQUEST, "MemberEpoch is invalid.");
        }
        if let Some(a) = &p.server_assignor {
            if !config.consumer_assignors.iter().any(|c| c == a) {
                return fail(
                    codes::UNSUPPORTED_ASSIGNOR,
                    format!(
                        "ServerAssignor {a} is not supported. Supported assignors: {}.",
                        config.consumer_assignors.join(", ")
                    ),
                );
            }
        }
        if let Some(re) = p
            .subscribed_topic_regex
            .as_deref()
            .filter(|r| !r.is_empty())
        {
            if compile_regex(re).is_none() {
                return fail(
                    codes::INVALID_REGULAR_EXPRESSION,
                    format!("SubscribedTopicRegex `{re}` is not a valid regular expression."),
                );
            }
        }
        Ok(())
    }

    #[allow(clippy::type_complexity)]
    fn heartbeat_locked(
        &self,
        p: ConsumerHeartbeatParams,
    ) -> Result<(ConsumerHeartbeatResult, Option<oneshot::Receiver<i16>>), Failure> {
        self.validate(&p)?;
        let topics = self.topics();
        let inner = &self.inner;
        let mut st = inner.lock();
        let partition = inner.partition_of(&p.group_id);
        let ctx = st.ctx(inner, partition).map_err(|c| (c, None))?;
        let groups = st.groups(partition).ok_or((codes::NOT_COORDINATOR, None))?;
        let mut records = Vec::new();
        let mut created = false;
        match groups.get_mut(&p.group_id) {
            None => {
                if p.member_epoch != 0 {
                    return fail(
                        codes::GROUP_ID_NOT_FOUND,
                        format!("Consumer group {} not found.", p.group_id),
                    );
                }
                groups.insert(
                    p.group_id.clone(),
                    Group::new_consumer(&p.group_id, now_ms()),
                );
                created = true;
            }
            Some(g) if g.is(GroupState::Dead) => {
                return Err((codes::COORDINATOR_NOT_AVAILABLE, None))
            }
            Some(g) if g.consumer.is_none() => {
                if p.member_epoch != 0 || !g.has_no_members() {
                    return fail(
                        codes::GROUP_ID_NOT_FOUND,
                        format!("Group {} is not a consumer group.", p.group_id),
                    );
                }
                // An empty classic group becomes a consumer group; its offsets stay.
                tracing::info!(group = %p.group_id, "converting the empty classic group to a consumer group");
                records.push(GroupRecord::GroupMetadata {
                    group: p.group_id.clone(),
                    value: None,
                });
                let offsets = std::mem::take(&mut g.offsets);
                let pending = std::mem::take(&mut g.pending_commits);
                *g = Group::new_consumer(&p.group_id, now_ms());
                g.offsets = offsets;
                g.pending_commits = pending;
            }
            Some(_) => {}
        }
        let Some(g) = groups.get_mut(&p.group_id) else {
            return Err((codes::UNKNOWN_SERVER_ERROR, None));
        };
        let outcome = heartbeat_in_group(&ctx, g, &p, &topics, &mut records);
        let result = match outcome {
            Ok(r) => r,
            Err(e) => {
                if created {
                    groups.remove(&p.group_id);
                }
                return Err(e);
            }
        };
        if records.is_empty() {
            return Ok((result, None));
        }
        let (tx, rx) = oneshot::channel();
        ctx.append(
            records,
            Box::new(move |r| {
                let _ = tx.send(r.map_or_else(|e| e.group_error_code(), |()| codes::NONE));
            }),
        )
        .map_err(|c| (c, None))?;
        Ok((result, Some(rx)))
    }

    /// ConsumerGroupDescribe: GROUP_ID_NOT_FOUND for unknown groups and classic groups.
    pub async fn consumer_group_describe(
        &self,
        group_ids: &[String],
    ) -> Vec<ConsumerGroupDescription> {
        let topics = self.topics();
        let mut st = self.inner.lock();
        let default_assignor = self.default_assignor();
        group_ids
            .iter()
            .map(|gid| {
                let error = |code, message: Option<String>| ConsumerGroupDescription {
                    group_id: gid.clone(),
                    error: code,
                    error_message: message,
                    state: String::new(),
                    group_epoch: 0,
                    assignment_epoch: 0,
                    assignor_name: String::new(),
                    members: Vec::new(),
                };
                let partition = self.inner.partition_of(gid);
                if let Err(code) = st.ctx(&self.inner, partition) {
                    return error(code, None);
                }
                let group = st.groups(partition).and_then(|m| m.get(gid));
                let Some(g) = group.filter(|g| !g.is(GroupState::Dead)) else {
                    return error(
                        codes::GROUP_ID_NOT_FOUND,
                        Some(format!("Group {gid} not found.")),
                    );
                };
                let Some(cg) = g.consumer.as_deref() else {
                    return error(
                        codes::GROUP_ID_NOT_FOUND,
                        Some(format!("Group {gid} is not a consumer group.")),
                    );
                };
                let named = |a: &Assignment| -> Vec<NamedTopicPartitions> {
                    a.iter()
                        .filter_map(|(id, ps)| {
                            let (name, _) = topics.by_id.get(id)?;
                            Some(NamedTopicPartitions {
                                topic_id: *id,
                                topic_name: name.clone(),
                                partitions: ps.iter().copied().collect(),
                            })
                        })
                        .collect()
                };
                let empty = Assignment::new();
                ConsumerGroupDescription {
                    group_id: gid.clone(),
                    error: codes::NONE,
                    error_message: None,
                    state: cg.state().as_str().to_string(),
                    group_epoch: cg.group_epoch,
                    assignment_epoch: cg.assignment_epoch,
                    assignor_name: cg.preferred_assignor(&default_assignor),
                    members: cg
                        .members
                        .values()
                        .map(|m| ConsumerMemberDescription {
                            member_id: m.member_id.clone(),
                            instance_id: m.instance_id.clone(),
                            rack_id: m.rack_id.clone(),
                            member_epoch: m.member_epoch,
                            client_id: m.client_id.clone(),
                            client_host: m.client_host.clone(),
                            subscribed_topic_names: m.subscribed_topic_names.clone(),
                            subscribed_topic_regex: m.subscribed_topic_regex.clone(),
                            assignment: named(&m.assigned),
                            target_assignment: named(cg.target.get(&m.member_id).unwrap_or(&empty)),
                        })
                        .collect(),
                }
            })
            .collect()
    }

    fn default_assignor(&self) -> String {
        self.inner
            .config
            .consumer_assignors
            .first()
            .cloned()
            .unwrap_or_else(|| assignor::UNIFORM.to_string())
    }
}

/// The heartbeat once the group exists and is a consumer group.
fn heartbeat_in_group(
    ctx: &Ctx,
    g: &mut Group,
    p: &ConsumerHeartbeatParams,
    topics: &TopicsImage,
    records: &mut Vec<GroupRecord>,
) -> Result<ConsumerHeartbeatResult, Failure> {
    let config = &ctx.inner.config;
    let group_id = g.group_id.clone();
    let Some(cg) = g.consumer.as_deref_mut() else {
        return Err((codes::UNKNOWN_SERVER_ERROR, None));
    };
    let owned = p
        .owned_topic_partitions
        .as_ref()
        .map(|o| from_topic_partitions(o));
    if p.member_epoch == LEAVE_GROUP_MEMBER_EPOCH
        || p.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH
    {
        return leave(ctx, &group_id, cg, p, topics, records);
    }
    let member_id = if p.member_id.is_empty() {
        new_member_id()
    } else {
        p.member_id.clone()
    };
    if !cg.members.contains_key(&member_id) && cg.members.len() >= config.consumer_max_size {
        return fail(
            codes::GROUP_MAX_SIZE_REACHED,
            format!(
                "The consumer group has reached its maximum capacity of {} members.",
                config.consumer_max_size
            ),
        );
    }
    // Get or create the member.
    let mut is_new = false;
    let old: ConsumerMember = match (&p.instance_id, p.member_epoch) {
        (Some(instance), 0) => match cg.static_members.get(instance).cloned() {
            None => {
                is_new = true;
                ConsumerMember::new(&member_id)
            }
            Some(previous_id) => {
                let Some(previous) = cg.members.get(&previous_id) else {
                    return Err((codes::UNKNOWN_SERVER_ERROR, None));
                };
                if previous.member_epoch != LEAVE_GROUP_STATIC_MEMBER_EPOCH {
                    return fail(
                        codes::UNRELEASED_INSTANCE_ID,
                        format!("Static member {previous_id} with instance id {instance} is still active; it must leave first."),
                    );
                }
                // The static member comes back under a new member id and takes over its
                // predecessor's assignment.
                let mut m = ConsumerMember::new(&member_id);
                m.assigned = previous.assigned.clone();
                let target = cg.target.remove(&previous_id);
                cg.put_member(&previous_id, None);
                records.extend(
                    ConsumerGroup::member_tombstones(&group_id, &previous_id)
                        .into_iter()
                        .map(GroupRecord::Consumer),
                );
                if let Some(t) = target {
                    records.push(GroupRecord::Consumer(
                        ConsumerRecord::TargetAssignmentMember {
                            group: group_id.clone(),
                            member: member_id.clone(),
                            value: Some(to_topic_partitions(&t)),
                        },
                    ));
                    cg.target.insert(member_id.clone(), t);
                }
                is_new = true;
                m
            }
        },
        (Some(instance), epoch) => {
            let Some(current) = cg.static_members.get(instance) else {
                return fail(
                    codes::UNKNOWN_MEMBER_ID,
                    format!("Instance id {instance} is unknown."),
                );
            };
            if *current != member_id {
                return fail(
                    codes::FENCED_INSTANCE_ID,
                    format!("Instance id {instance} belongs to another member."),
                );
            }
            let m = known_member(cg, &member_id)?;
            check_epoch(m, epoch, owned.as_ref())?;
            m.clone()
        }
        (None, 0) => match cg.members.get(&member_id) {
            Some(m) => m.clone(),
            None => {
                is_new = true;
                ConsumerMember::new(&member_id)
            }
        },
        (None, epoch) => {
            let m = known_member(cg, &member_id)?;
            check_epoch(m, epoch, owned.as_ref())?;
            m.clone()
        }
    };
    // Update the member's metadata and subscription.
    let mut m = old.clone();
    if is_new {
        m.instance_id = p.instance_id.clone();
    }
    if p.rack_id.is_some() {
        m.rack_id = p.rack_id.clone();
    }
    if p.rebalance_timeout_ms != -1 {
        m.rebalance_timeout_ms = p.rebalance_timeout_ms;
    }
    m.client_id = p.client_id.clone();
    m.client_host = p.client_host.clone();
    if let Some(names) = &p.subscribed_topic_names {
        let mut names = names.clone();
        names.sort();
        names.dedup();
        m.subscribed_topic_names = names;
    }
    if let Some(re) = &p.subscribed_topic_regex {
        m.set_regex(Some(re.clone()));
    }
    if p.server_assignor.is_some() {
        m.server_assignor = p.server_assignor.clone();
    }
    if is_new || m.metadata_value() != old.metadata_value() {
        records.push(GroupRecord::Consumer(ConsumerRecord::MemberMetadata {
            group: group_id.clone(),
            member: member_id.clone(),
            value: Some(m.metadata_value()),
        }));
    }
    let subscription_changed = is_new || !m.same_subscription(&old);
    cg.put_member(&member_id, Some(m));
    let hash = metadata_hash(cg, topics);
    if subscription_changed || hash != cg.metadata_hash {
        bump_group_epoch(&group_id, cg, hash, records);
    }
    if cg.group_epoch > cg.assignment_epoch {
        compute_target_assignment(ctx, &group_id, cg, topics, records);
    }
    // Reconcile the member towards its target.
    let current = cg
        .members
        .get(&member_id)
        .cloned()
        .unwrap_or_else(|| old.clone());
    let mut next = cg.reconcile(&current, owned.as_ref());
    if next.state == MemberState::UnrevokedPartitions {
        if current.state != MemberState::UnrevokedPartitions || next.revocation_deadline.is_none() {
            let timeout = Duration::from_millis(next.rebalance_timeout_ms.max(0) as u64);
            let deadline = Instant::now() + timeout;
            next.revocation_deadline = Some(deadline);
            let incarnation = ctx.inner.next_timer();
            spawn_timer(
                ctx,
                &group_id,
                TimerKind::ConsumerRevocation(member_id.clone(), next.member_epoch),
                incarnation,
                deadline,
            );
        }
    } else {
        next.revocation_deadline = None;
    }
    if next.assignment_value() != current.assignment_value() || is_new {
        records.push(GroupRecord::Consumer(
            ConsumerRecord::CurrentMemberAssignment {
                group: group_id.clone(),
                member: member_id.clone(),
                value: Some(next.assignment_value()),
            },
        ));
    }
    next.track_assignment_epochs(&current);
    let assigned_changed = next.assigned != old.assigned;
    let assignment = next.assigned.clone();
    let epoch = next.member_epoch;
    cg.put_member(&member_id, Some(next));
    schedule_session(ctx, &group_id, cg, &member_id);
    let full = p.member_epoch == 0
        || (p.rebalance_timeout_ms != -1
            && (p.subscribed_topic_names.is_some() || p.subscribed_topic_regex.is_some())
            && p.owned_topic_partitions.is_some());
    Ok(ConsumerHeartbeatResult {
        error: codes::NONE,
        error_message: None,
        member_id: Some(member_id),
        member_epoch: epoch,
        heartbeat_interval_ms: config.consumer_heartbeat_interval_ms,
        assignment: (full || assigned_changed).then(|| to_topic_partitions(&assignment)),
    })
}

fn known_member<'a>(cg: &'a ConsumerGroup, member_id: &str) -> Result<&'a ConsumerMember, Failure> {
    cg.members.get(member_id).map_or_else(
        || {
            fail(
                codes::UNKNOWN_MEMBER_ID,
                format!("Member {member_id} is not a member of the group."),
            )
        },
        Ok,
    )
}

/// Kafka's `throwIfMemberEpochIsInvalid`: a newer epoch than the member's is fenced; an
/// older one only passes when it is the previous epoch and the member owns no more than its
/// current assignment (the response carrying the bump was lost).
fn check_epoch(
    m: &ConsumerMember,
    received: i32,
    owned: Option<&Assignment>,
) -> Result<(), Failure> {
    let fenced = || {
        fail(
            codes::FENCED_MEMBER_EPOCH,
            format!("The consumer group member has a smaller or larger member epoch ({received}) than the one known by the group coordinator ({}).", m.member_epoch),
        )
    };
    if received > m.member_epoch {
        return fenced();
    }
    if received < m.member_epoch
        && (received != m.previous_member_epoch
            || !owned.is_some_and(|o| is_subset(o, &m.assigned)))
    {
        return fenced();
    }
    Ok(())
}

fn bump_group_epoch(
    group_id: &str,
    cg: &mut ConsumerGroup,
    hash: i64,
    records: &mut Vec<GroupRecord>,
) {
    cg.group_epoch = cg.group_epoch.saturating_add(1);
    cg.metadata_hash = hash;
    records.push(GroupRecord::Consumer(ConsumerRecord::GroupMetadata {
        group: group_id.to_string(),
        value: Some(ConsumerGroupMetadataValue {
            epoch: cg.group_epoch,
            metadata_hash: hash,
        }),
    }));
}

/// Runs the group's assignor over every member and records the changed targets.
fn compute_target_assignment(
    ctx: &Ctx,
    group_id: &str,
    cg: &mut ConsumerGroup,
    topics: &TopicsImage,
    records: &mut Vec<GroupRecord>,
) {
    let default = ctx
        .inner
        .config
        .consumer_assignors
        .first()
        .cloned()
        .unwrap_or_else(|| assignor::UNIFORM.to_string());
    let name = cg.preferred_assignor(&default);
    let mut partitions = BTreeMap::new();
    let members: Vec<AssignorMember<'_>> = cg
        .members
        .values()
        .map(|m| AssignorMember {
            member_id: &m.member_id,
            topics: topics
                .subscribed(m)
                .iter()
                .filter_map(|t| topics.by_name.get(t))
                .map(|(id, n)| {
                    partitions.insert(*id, *n);
                    *id
                })
                .collect(),
        })
        .collect();
    let target = assignor::assign(&name, &members, &partitions, &cg.target);
    drop(members);
    for (member, a) in &target {
        if cg.target.get(member) != Some(a) {
            records.push(GroupRecord::Consumer(
                ConsumerRecord::TargetAssignmentMember {
                    group: group_id.to_string(),
                    member: member.clone(),
                    value: Some(to_topic_partitions(a)),
                },
            ));
        }
    }
    tracing::debug!(group = %group_id, epoch = cg.group_epoch, assignor = %name, "computed target assignment");
    cg.target = target;
    cg.assignment_epoch = cg.group_epoch;
    records.push(GroupRecord::Consumer(
        ConsumerRecord::TargetAssignmentMetadata {
            group: group_id.to_string(),
            value: Some(cg.assignment_epoch),
        },
    ));
}

fn leave(
    ctx: &Ctx,
    group_id: &str,
    cg: &mut ConsumerGroup,
    p: &ConsumerHeartbeatParams,
    topics: &TopicsImage,
    records: &mut Vec<GroupRecord>,
) -> Result<ConsumerHeartbeatResult, Failure> {
    let member_id = match &p.instance_id {
        Some(instance) => {
            let Some(current) = cg.static_members.get(instance) else {
                return fail(
                    codes::UNKNOWN_MEMBER_ID,
                    format!("Instance id {instance} is unknown."),
                );
            };
            if *current != p.member_id {
                return fail(
                    codes::FENCED_INSTANCE_ID,
                    format!("Instance id {instance} belongs to another member."),
                );
            }
            current.clone()
        }
        None => known_member(cg, &p.member_id)?.member_id.clone(),
    };
    if p.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH {
        // A static member leaving temporarily keeps its assignment until its session
        // expires or it comes back.
        if let Some(m) = cg.members.get(&member_id).cloned() {
            let mut m = m;
            m.member_epoch = LEAVE_GROUP_STATIC_MEMBER_EPOCH;
            m.revocation_deadline = None;
            records.push(GroupRecord::Consumer(
                ConsumerRecord::CurrentMemberAssignment {
                    group: group_id.to_string(),
                    member: member_id.clone(),
                    value: Some(m.assignment_value()),
                },
            ));
            cg.put_member(&member_id, Some(m));
            schedule_session(ctx, group_id, cg, &member_id);
        }
    } else {
        tracing::info!(group = %group_id, member = %member_id, "consumer group member left");
        remove_member(group_id, cg, &member_id, topics, records);
    }
    Ok(ConsumerHeartbeatResult {
        error: codes::NONE,
        error_message: None,
        member_id: Some(member_id),
        member_epoch: p.member_epoch,
        heartbeat_interval_ms: 0,
        assignment: None,
    })
}

/// Removes a member (left or fenced): its records are tombstoned, its partitions freed and
/// the group epoch bumped so the others get a new target.
pub(crate) fn remove_member(
    group_id: &str,
    cg: &mut ConsumerGroup,
    member_id: &str,
    topics: &TopicsImage,
    records: &mut Vec<GroupRecord>,
) {
    cg.put_member(member_id, None);
    cg.target.remove(member_id);
    records.extend(
        ConsumerGroup::member_tombstones(group_id, member_id)
            .into_iter()
            .map(GroupRecord::Consumer),
    );
    let hash = metadata_hash(cg, topics);
    bump_group_epoch(group_id, cg, hash, records);
}

/// Restarts the member's session (`group.consumer.session.timeout.ms`).
pub(crate) fn schedule_session(ctx: &Ctx, group_id: &str, cg: &mut ConsumerGroup, member_id: &str) {
    let timeout = Duration::from_millis(ctx.inner.config.consumer_session_timeout_ms.max(0) as u64);
    let Some(m) = cg.members.get_mut(member_id) else {
        return;
    };
    m.session_deadline = Instant::now() + timeout;
    if m.timer.is_none() || m.session_deadline < m.timer_wake {
        let incarnation = ctx.inner.next_timer();
        m.timer = Some(incarnation);
        m.timer_wake = m.session_deadline;
        spawn_timer(
            ctx,
            group_id,
            TimerKind::ConsumerSession(member_id.to_string()),
            incarnation,
            m.session_deadline,
        );
    }
}

/// A consumer member timer fired: returns a later deadline to sleep until, or `None`.
pub(crate) fn on_consumer_timer(
    ctx: &Ctx,
    g: &mut Group,
    kind: &TimerKind,
    incarnation: u64,
    topics: &TopicsImage,
) -> Option<Instant> {
    let group_id = g.group_id.clone();
    let cg = g.consumer.as_deref_mut()?;
    let now = Instant::now();
    let expired = match kind {
        TimerKind::ConsumerSession(member_id) => {
            let m = cg.members.get_mut(member_id)?;
            if m.timer != Some(incarnation) {
                return None;
            }
            if now < m.session_deadline {
                m.timer_wake = m.session_deadline;
                return Some(m.session_deadline);
            }
            m.timer = None;
            tracing::info!(group = %group_id, member = %member_id, "consumer group member session expired; fencing it");
            member_id.clone()
        }
        TimerKind::ConsumerRevocation(member_id, epoch) => {
            let m = cg.members.get(member_id)?;
            let deadline = m.revocation_deadline?;
            if m.state != MemberState::UnrevokedPartitions || m.member_epoch != *epoch {
                return None;
            }
            if now < deadline {
                return Some(deadline);
            }
            tracing::info!(group = %group_id, member = %member_id, "consumer group member did not revoke its partitions within the rebalance timeout; fencing it");
            member_id.clone()
        }
        _ => return None,
    };
    let mut records = Vec::new();
    remove_member(&group_id, cg, &expired, topics, &mut records);
    let _ = ctx.append(records, Box::new(|_| {}));
    None
}
