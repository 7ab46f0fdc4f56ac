//! Classic group membership, as Kafka's GroupCoordinator does it: JoinGroup (new, pending
//! KIP-394, static KIP-345 and known members), SyncGroup, Heartbeat, LeaveGroup, and the
//! rebalance steps between them (prepare → complete join → store assignment → Stable).
//! Everything here runs under the coordinator lock and never awaits; waiting requests park a
//! oneshot sender on their member and the public async methods await it with a bound.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::codes;
use crate::config::NEW_MEMBER_JOIN_TIMEOUT;
use crate::coordinator::{now_ms, Ctx, GroupCoordinator};
use crate::group::{Group, GroupState, Member, PendingMember};
use crate::records::GroupRecord;
use crate::timers::{schedule_heartbeat, spawn_timer, TimerKind};
use crate::types::{
    JoinGroupParams, JoinGroupResult, LeaveGroupMemberResult, LeaveGroupResult, SyncGroupParams,
    SyncGroupResult,
};

pub(crate) enum Outcome<T> {
    Done(T),
    Wait(oneshot::Receiver<T>, Duration),
}

impl GroupCoordinator {
    /// JoinGroup. Returns once the member is part of a completed rebalance (or at once with
    /// an error, MEMBER_ID_REQUIRED, or the current generation when nothing changes).
    pub async fn join_group(&self, p: JoinGroupParams) -> JoinGroupResult {
        let member_id = p.member_id.clone();
        match self.join_locked(p) {
            Outcome::Done(r) => r,
            Outcome::Wait(rx, bound) => match tokio::time::timeout(bound, rx).await {
                Ok(Ok(r)) => r,
                // Superseded by a newer JoinGroup of the same member, or timed out: the
                // client rejoins.
                _ => JoinGroupResult::error(&member_id, codes::REBALANCE_IN_PROGRESS),
            },
        }
    }

    fn join_locked(&self, p: JoinGroupParams) -> Outcome<JoinGroupResult> {
        let err = |code| Outcome::Done(JoinGroupResult::error(&p.member_id, code));
        if p.group_id.is_empty() {
            return err(codes::INVALID_GROUP_ID);
        }
        let inner = &self.inner;
        let mut st = inner.lock();
        let partition = inner.partition_of(&p.group_id);
        let ctx = match st.ctx(inner, partition) {
            Ok(c) => c,
            Err(code) => return err(code),
        };
        if p.session_timeout_ms < inner.config.min_session_timeout_ms
            || p.session_timeout_ms > inner.config.max_session_timeout_ms
        {
            return err(codes::INVALID_SESSION_TIMEOUT);
        }
        let Some(groups) = st.groups(partition) else {
            return err(codes::NOT_COORDINATOR);
        };
        let is_unknown = p.member_id.is_empty();
        if !groups.contains_key(&p.group_id) {
            if !is_unknown {
                return err(codes::UNKNOWN_MEMBER_ID);
            }
            groups.insert(p.group_id.clone(), Group::new(&p.group_id, now_ms()));
        }
        let Some(g) = groups.get_mut(&p.group_id) else {
            return err(codes::UNKNOWN_MEMBER_ID);
        };
        if g.consumer.is_some() {
            // A group id is either classic or consumer: a consumer group with members
            // refuses classic members; an empty one becomes a classic group (offsets stay).
            if !g.has_no_members() {
                return err(codes::INCONSISTENT_GROUP_PROTOCOL);
            }
            let tombstones = crate::consumer_group::ConsumerGroup::group_tombstones(&p.group_id)
                .into_iter()
                .map(GroupRecord::Consumer)
                .collect();
            if let Err(code) = ctx.append(tombstones, Box::new(|_| {})) {
                return err(code);
            }
            tracing::info!(group = %p.group_id, "converting the empty consumer group to a classic group");
            g.consumer = None;
        }
        let outcome = if !accept_joining_member(g, &p.member_id, inner.config.max_size) {
            g.remove_member(&p.member_id);
            Outcome::Done(JoinGroupResult::error("", codes::GROUP_MAX_SIZE_REACHED))
        } else if is_unknown {
            new_member_join(&ctx, g, &p)
        } else {
            current_member_join(&ctx, g, &p)
        };
        if g.is(GroupState::PreparingRebalance) {
            try_complete_join(&ctx, g);
        }
        outcome
    }

    /// SyncGroup. The leader's call stores the assignment; followers wait for it.
    pub async fn sync_group(&self, p: SyncGroupParams) -> SyncGroupResult {
        match self.sync_locked(p) {
            Outcome::Done(r) => r,
            Outcome::Wait(rx, bound) => match tokio::time::timeout(bound, rx).await {
                Ok(Ok(r)) => r,
                _ => SyncGroupResult::error(codes::REBALANCE_IN_PROGRESS),
            },
        }
    }

    fn sync_locked(&self, p: SyncGroupParams) -> Outcome<SyncGroupResult> {
        let err = |code| Outcome::Done(SyncGroupResult::error(code));
        if p.group_id.is_empty() {
            return err(codes::INVALID_GROUP_ID);
        }
        let inner = &self.inner;
        let mut st = inner.lock();
        let partition = inner.partition_of(&p.group_id);
        let ctx = match st.ctx(inner, partition) {
            // The rebalance state was lost with the load: have the member rejoin.
            Err(codes::COORDINATOR_LOAD_IN_PROGRESS) => return err(codes::REBALANCE_IN_PROGRESS),
            Err(code) => return err(code),
            Ok(c) => c,
        };
        let Some(g) = st.groups(partition).and_then(|m| m.get_mut(&p.group_id)) else {
            return err(codes::UNKNOWN_MEMBER_ID);
        };
        if g.is(GroupState::Dead) {
            return err(codes::COORDINATOR_NOT_AVAILABLE);
        }
        if g.is_static_member_fenced(p.group_instance_id.as_deref(), &p.member_id) {
            return err(codes::FENCED_INSTANCE_ID);
        }
        if !g.members.contains_key(&p.member_id) {
            return err(codes::UNKNOWN_MEMBER_ID);
        }
        if p.generation_id != g.generation {
            return err(codes::ILLEGAL_GENERATION);
        }
        if p.protocol_type
            .as_ref()
            .is_some_and(|t| g.protocol_type.as_ref() != Some(t))
            || p.protocol_name
                .as_ref()
                .is_some_and(|n| g.protocol_name.as_ref() != Some(n))
        {
            return err(codes::INCONSISTENT_GROUP_PROTOCOL);
        }
        match g.state {
            GroupState::Empty | GroupState::Dead => err(codes::UNKNOWN_MEMBER_ID),
            GroupState::PreparingRebalance => err(codes::REBALANCE_IN_PROGRESS),
            GroupState::Stable => {
                g.pending_sync.remove(&p.member_id);
                let result = SyncGroupResult {
                    error: codes::NONE,
                    protocol_type: g.protocol_type.clone(),
                    protocol_name: g.protocol_name.clone(),
                    assignment: g
                        .members
                        .get(&p.member_id)
                        .map(|m| m.assignment.clone())
                        .unwrap_or_default(),
                };
                schedule_heartbeat(&ctx, g, &p.member_id);
                Outcome::Done(result)
            }
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                if let Some(m) = g.members.get_mut(&p.member_id) {
                    m.awaiting_sync = Some(tx);
                }
                g.pending_sync.remove(&p.member_id);
                if g.is_leader(&p.member_id) {
                    let mut assignment: HashMap<String, Bytes> = HashMap::new();
                    for (member, bytes) in p.assignments {
                        if g.members.contains_key(&member) {
                            assignment.insert(member, bytes);
                        }
                    }
                    for id in g.members.keys() {
                        assignment.entry(id.clone()).or_default();
                    }
                    store_assignment(&ctx, g, assignment);
                }
                let bound = Duration::from_millis(g.rebalance_timeout_ms())
                    + inner.config.commit_timeout
                    + Duration::from_secs(1);
                Outcome::Wait(rx, bound)
            }
        }
    }

    /// Heartbeat: keeps the member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.
    pub async fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
    ) -> i16 {
        if group_id.is_empty() {
            return codes::INVALID_GROUP_ID;
        }
        let inner = &self.inner;
        let mut st = inner.lock();
        let partition = inner.partition_of(group_id);
        let ctx = match st.ctx(inner, partition) {
            // Kafka answers heartbeats blindly while loading.
            Err(codes::COORDINATOR_LOAD_IN_PROGRESS) => return codes::NONE,
            Err(code) => return code,
            Ok(c) => c,
        };
        let Some(g) = st.groups(partition).and_then(|m| m.get_mut(group_id)) else {
            return codes::UNKNOWN_MEMBER_ID;
        };
        if g.is(GroupState::Dead) {
            return codes::COORDINATOR_NOT_AVAILABLE;
        }
        if g.is_static_member_fenced(group_instance_id, member_id) {
            return codes::FENCED_INSTANCE_ID;
        }
        if !g.members.contains_key(member_id) {
            return codes::UNKNOWN_MEMBER_ID;
        }
        if generation_id != g.generation {
            return codes::ILLEGAL_GENERATION;
        }
        match g.state {
            GroupState::Empty | GroupState::Dead => codes::UNKNOWN_MEMBER_ID,
            GroupState::CompletingRebalance | GroupState::Stable => {
                schedule_heartbeat(&ctx, g, member_id);
                codes::NONE
            }
            GroupState::PreparingRebalance => {
                schedule_heartbeat(&ctx, g, member_id);
                codes::REBALANCE_IN_PROGRESS
            }
        }
    }

    /// LeaveGroup for a batch of (member id, group instance id); a static member may be
    /// removed by instance id alone (empty member id), as the admin client does.
    pub async fn leave_group(
        &self,
        group_id: &str,
        members: Vec<(String, Option<String>)>,
    ) -> LeaveGroupResult {
        let top = |error| LeaveGroupResult {
            error,
            members: Vec::new(),
        };
        if group_id.is_empty() {
            return top(codes::INVALID_GROUP_ID);
        }
        let inner = &self.inner;
        let mut st = inner.lock();
        let partition = inner.partition_of(group_id);
        let ctx = match st.ctx(inner, partition) {
            Ok(c) => c,
            Err(code) => return top(code),
        };
        let each = |members: Vec<(String, Option<String>)>,
                    f: &mut dyn FnMut(&str, Option<&str>) -> i16| {
            members
                .into_iter()
                .map(|(member_id, group_instance_id)| {
                    let error = f(&member_id, group_instance_id.as_deref());
                    LeaveGroupMemberResult {
                        member_id,
                        group_instance_id,
                        error,
                    }
                })
                .collect()
        };
        let Some(g) = st.groups(partition).and_then(|m| m.get_mut(group_id)) else {
            return LeaveGroupResult {
                error: codes::NONE,
                members: each(members, &mut |_, _| codes::UNKNOWN_MEMBER_ID),
            };
        };
        if g.is(GroupState::Dead) {
            return top(codes::COORDINATOR_NOT_AVAILABLE);
        }
        let results = each(members, &mut |member_id, instance_id| {
            if !member_id.is_empty() && g.pending_members.contains_key(member_id) {
                remove_pending_member(&ctx, g, member_id);
                return codes::NONE;
            }
            let target = if member_id.is_empty() {
                match instance_id.and_then(|i| g.static_members.get(i)).cloned() {
                    Some(current) => current,
                    None => return codes::UNKNOWN_MEMBER_ID,
                }
            } else if g.is_static_member_fenced(instance_id, member_id) {
                return codes::FENCED_INSTANCE_ID;
            } else if !g.members.contains_key(member_id) {
                return codes::UNKNOWN_MEMBER_ID;
            } else {
                member_id.to_string()
            };
            tracing::info!(group = %g.group_id, member = %target, "member left the group");
            remove_member_and_update_group(&ctx, g, &target);
            codes::NONE
        });
        LeaveGroupResult {
            error: codes::NONE,
            members: results,
        }
    }
}

/// Kafka's `acceptJoiningMember` (group.max.size).
fn accept_joining_member(g: &Group, member_id: &str, max_size: usize) -> bool {
    match g.state {
        GroupState::Empty | GroupState::Dead => true,
        GroupState::PreparingRebalance => {
            g.members
                .get(member_id)
                .is_some_and(|m| m.awaiting_join.is_some())
                || g.awaiting_join_count() < max_size
        }
        GroupState::CompletingRebalance | GroupState::Stable => {
            g.members.contains_key(member_id) || g.members.len() < max_size
        }
    }
}

fn new_member_join(ctx: &Ctx, g: &mut Group, p: &JoinGroupParams) -> Outcome<JoinGroupResult> {
    if g.is(GroupState::Dead) {
        return Outcome::Done(JoinGroupResult::error(
            &p.member_id,
            codes::COORDINATOR_NOT_AVAILABLE,
        ));
    }
    if !g.supports_protocols(&p.protocol_type, &p.protocols) {
        return Outcome::Done(JoinGroupResult::error(
            &p.member_id,
            codes::INCONSISTENT_GROUP_PROTOCOL,
        ));
    }
    match &p.group_instance_id {
        Some(instance) => {
            let new_id = ctx.inner.new_member_id(instance);
            match g.static_members.get(instance).cloned() {
                Some(old_id) => update_static_member(ctx, g, instance, &old_id, &new_id, p),
                None => add_member_and_rebalance(ctx, g, &new_id, p),
            }
        }
        None => {
            let new_id = ctx.inner.new_member_id(&p.client_id);
            if p.require_known_member_id {
                let timer = ctx.inner.next_timer();
                let deadline =
                    Instant::now() + Duration::from_millis(p.session_timeout_ms.max(0) as u64);
                g.pending_members.insert(
                    new_id.clone(),
                    PendingMember {
                        deadline,
                        timer: Some(timer),
                    },
                );
                spawn_timer(
                    ctx,
                    &g.group_id,
                    TimerKind::Member(new_id.clone()),
                    timer,
                    deadline,
                );
                Outcome::Done(JoinGroupResult::error(&new_id, codes::MEMBER_ID_REQUIRED))
            } else {
                add_member_and_rebalance(ctx, g, &new_id, p)
            }
        }
    }
}

fn current_member_join(ctx: &Ctx, g: &mut Group, p: &JoinGroupParams) -> Outcome<JoinGroupResult> {
    let done = |code| Outcome::Done(JoinGroupResult::error(&p.member_id, code));
    if g.is(GroupState::Dead) {
        return done(codes::COORDINATOR_NOT_AVAILABLE);
    }
    if !g.supports_protocols(&p.protocol_type, &p.protocols) {
        return done(codes::INCONSISTENT_GROUP_PROTOCOL);
    }
    if g.pending_members.contains_key(&p.member_id) {
        if p.group_instance_id.is_some() {
            return done(codes::UNKNOWN_MEMBER_ID);
        }
        return add_member_and_rebalance(ctx, g, &p.member_id, p);
    }
    let instance = p.group_instance_id.as_deref();
    if g.is_static_member_fenced(instance, &p.member_id) {
        return done(codes::FENCED_INSTANCE_ID);
    }
    if !g.members.contains_key(&p.member_id)
        || instance.is_some_and(|i| !g.static_members.contains_key(i))
    {
        return done(codes::UNKNOWN_MEMBER_ID);
    }
    let matches = g
        .members
        .get(&p.member_id)
        .is_some_and(|m| m.matches(&p.protocols));
    match g.state {
        GroupState::PreparingRebalance => update_member_and_rebalance(ctx, g, p),
        GroupState::CompletingRebalance if matches => {
            let leader = g.is_leader(&p.member_id);
            Outcome::Done(g.join_result(&p.member_id, leader, false))
        }
        GroupState::CompletingRebalance => update_member_and_rebalance(ctx, g, p),
        GroupState::Stable if g.is_leader(&p.member_id) || !matches => {
            update_member_and_rebalance(ctx, g, p)
        }
        GroupState::Stable => Outcome::Done(g.join_result(&p.member_id, false, false)),
        GroupState::Empty | GroupState::Dead => done(codes::UNKNOWN_MEMBER_ID),
    }
}

fn join_bound(g: &Group, ctx: &Ctx) -> Duration {
    Duration::from_millis(g.rebalance_timeout_ms().saturating_mul(2))
        + ctx.inner.config.initial_rebalance_delay
        + NEW_MEMBER_JOIN_TIMEOUT
}

fn add_member_and_rebalance(
    ctx: &Ctx,
    g: &mut Group,
    member_id: &str,
    p: &JoinGroupParams,
) -> Outcome<JoinGroupResult> {
    let (tx, rx) = oneshot::channel();
    g.add_member(Member {
        member_id: member_id.to_string(),
        group_instance_id: p.group_instance_id.clone(),
        client_id: p.client_id.clone(),
        client_host: p.client_host.clone(),
        rebalance_timeout_ms: p.rebalance_timeout_ms,
        session_timeout_ms: p.session_timeout_ms,
        protocol_type: p.protocol_type.clone(),
        protocols: p.protocols.clone(),
        assignment: Bytes::new(),
        awaiting_join: Some(tx),
        awaiting_sync: None,
        is_new: true,
        heartbeat_deadline: Instant::now(),
        timer: None,
        timer_wake: Instant::now(),
    });
    if g.is(GroupState::PreparingRebalance) && g.generation == 0 {
        g.new_member_added = true;
    }
    schedule_heartbeat(ctx, g, member_id);
    maybe_prepare_rebalance(ctx, g, "adding new member");
    Outcome::Wait(rx, join_bound(g, ctx))
}

fn update_member_and_rebalance(
    ctx: &Ctx,
    g: &mut Group,
    p: &JoinGroupParams,
) -> Outcome<JoinGroupResult> {
    let (tx, rx) = oneshot::channel();
    if let Some(m) = g.members.get_mut(&p.member_id) {
        m.protocols = p.protocols.clone();
        m.rebalance_timeout_ms = p.rebalance_timeout_ms;
        m.session_timeout_ms = p.session_timeout_ms;
        // A previous JoinGroup of this member still parked is superseded.
        m.awaiting_join = Some(tx);
    }
    maybe_prepare_rebalance(ctx, g, "member rejoined");
    Outcome::Wait(rx, join_bound(g, ctx))
}

/// KIP-345: a static member rejoined with an unknown member id. Its slot gets the new id;
/// in a Stable group whose protocol does not change, no rebalance happens: the group is
/// stored and the member gets the current generation back.
fn update_static_member(
    ctx: &Ctx,
    g: &mut Group,
    instance: &str,
    old_id: &str,
    new_id: &str,
    p: &JoinGroupParams,
) -> Outcome<JoinGroupResult> {
    let current_leader = g.leader.clone().unwrap_or_default();
    g.replace_static_member(instance, old_id, new_id);
    let (tx, rx) = oneshot::channel();
    let Some(m) = g.members.get_mut(new_id) else {
        return Outcome::Done(JoinGroupResult::error("", codes::UNKNOWN_MEMBER_ID));
    };
    let old = (
        m.protocols.clone(),
        m.rebalance_timeout_ms,
        m.session_timeout_ms,
    );
    m.protocols = p.protocols.clone();
    m.rebalance_timeout_ms = p.rebalance_timeout_ms;
    m.session_timeout_ms = p.session_timeout_ms;
    m.awaiting_join = Some(tx);
    schedule_heartbeat(ctx, g, new_id);
    match g.state {
        GroupState::Stable if g.select_protocol() == g.protocol_name => {
            tracing::info!(group = %g.group_id, member = %new_id, "static member rejoined a stable group without changing the protocol; no rebalance");
            let record = GroupRecord::GroupMetadata {
                group: g.group_id.clone(),
                value: Some(g.metadata_value(&g.current_assignment())),
            };
            let later = ctx.later();
            let (gid, instance_s, old_id_s, new_id_owned) = (
                g.group_id.clone(),
                instance.to_string(),
                old_id.to_string(),
                new_id.to_string(),
            );
            let old_saved = old.clone();
            let skip = p.supports_skip_assignment;
            let queued = ctx.append(
                vec![record],
                Box::new(move |result| {
                    later.with_group(&gid, |ctx, g| {
                        let Some(tx) = g
                            .members
                            .get_mut(&new_id_owned)
                            .and_then(|m| m.awaiting_join.take())
                        else {
                            return;
                        };
                        match result {
                            Err(e) => {
                                revert_static_member(
                                    ctx,
                                    g,
                                    &instance_s,
                                    &old_id_s,
                                    &new_id_owned,
                                    old_saved,
                                );
                                let mut r = JoinGroupResult::error("", e.group_error_code());
                                r.generation_id = g.generation;
                                let _ = tx.send(r);
                            }
                            Ok(()) if skip => {
                                let leader = g.is_leader(&new_id_owned);
                                let _ = tx.send(g.join_result(&new_id_owned, leader, leader));
                            }
                            Ok(()) => {
                                let mut r = g.join_result(&new_id_owned, false, false);
                                r.leader = current_leader;
                                let _ = tx.send(r);
                            }
                        }
                    });
                }),
            );
            if let Err(code) = queued {
                if let Some(tx) = g
                    .members
                    .get_mut(new_id)
                    .and_then(|m| m.awaiting_join.take())
                {
                    let _ = tx.send(JoinGroupResult::error("", code));
                }
                revert_static_member(ctx, g, instance, old_id, new_id, old);
            }
        }
        GroupState::Stable | GroupState::CompletingRebalance => {
            maybe_prepare_rebalance(ctx, g, "static member rejoined with a protocol change");
        }
        _ => {}
    }
    Outcome::Wait(rx, join_bound(g, ctx))
}

fn revert_static_member(
    ctx: &Ctx,
    g: &mut Group,
    instance: &str,
    old_id: &str,
    new_id: &str,
    old: (Vec<(String, Bytes)>, i32, i32),
) {
    if let Some(m) = g.members.get_mut(new_id) {
        (m.protocols, m.rebalance_timeout_ms, m.session_timeout_ms) = old;
        m.awaiting_join = None;
    }
    g.replace_static_member(instance, new_id, old_id);
    schedule_heartbeat(ctx, g, old_id);
}

pub(crate) fn maybe_prepare_rebalance(ctx: &Ctx, g: &mut Group, reason: &str) {
    if g.can_rebalance() {
        prepare_rebalance(ctx, g, reason);
    }
}

/// Kafka's `prepareRebalance`: parked SyncGroups are told to rejoin, and a delayed join is
/// armed — the initial delay for an Empty group, the rebalance timeout otherwise.
pub(crate) fn prepare_rebalance(ctx: &Ctx, g: &mut Group, reason: &str) {
    if g.is(GroupState::CompletingRebalance) {
        reset_and_propagate_assignment_error(ctx, g, codes::REBALANCE_IN_PROGRESS);
    }
    g.sync_timer = None;
    let now = Instant::now();
    let rebalance_timeout = g.rebalance_timeout_ms();
    if g.is(GroupState::Empty) {
        let delay = ctx.inner.config.initial_rebalance_delay.as_millis() as u64;
        g.initial_delay = Some((delay, rebalance_timeout.saturating_sub(delay)));
        g.join_deadline = now + Duration::from_millis(delay);
    } else {
        g.initial_delay = None;
        g.join_deadline = now + Duration::from_millis(rebalance_timeout);
    }
    g.transition(GroupState::PreparingRebalance, now_ms());
    tracing::info!(group = %g.group_id, generation = g.generation, reason, "preparing to rebalance group");
    let timer = ctx.inner.next_timer();
    g.join_timer = Some(timer);
    spawn_timer(ctx, &g.group_id, TimerKind::Join, timer, g.join_deadline);
    try_complete_join(ctx, g);
}

/// Completes the join early when every member has rejoined (never during the initial delay).
pub(crate) fn try_complete_join(ctx: &Ctx, g: &mut Group) {
    if g.is(GroupState::PreparingRebalance)
        && g.initial_delay.is_none()
        && g.has_all_members_joined()
    {
        complete_join(ctx, g);
    }
}

/// Kafka's `onCompleteJoin`: members that did not rejoin are removed; the next generation
/// starts (CompletingRebalance, everyone answered, the leader with the member list) or the
/// group becomes Empty and is stored.
pub(crate) fn complete_join(ctx: &Ctx, g: &mut Group) {
    g.join_timer = None;
    g.initial_delay = None;
    let not_rejoined: Vec<String> = g
        .members
        .values()
        .filter(|m| m.awaiting_join.is_none())
        .map(|m| m.member_id.clone())
        .collect();
    for id in &not_rejoined {
        tracing::info!(group = %g.group_id, member = %id, "member did not rejoin in time; removing it");
        g.remove_member(id);
    }
    g.init_next_generation(now_ms());
    if g.is(GroupState::Empty) {
        tracing::info!(group = %g.group_id, generation = g.generation, "group is now empty");
        store_group_fire_and_forget(ctx, g);
        return;
    }
    tracing::info!(group = %g.group_id, generation = g.generation, members = g.members.len(),
        protocol = ?g.protocol_name, "stabilized group");
    let ids: Vec<String> = g.members.keys().cloned().collect();
    for id in &ids {
        let result = g.join_result(id, g.is_leader(id), false);
        if let Some(m) = g.members.get_mut(id) {
            if let Some(tx) = m.awaiting_join.take() {
                let _ = tx.send(result);
            }
            m.is_new = false;
        }
        schedule_heartbeat(ctx, g, id);
        g.pending_sync.insert(id.clone());
    }
    let timer = ctx.inner.next_timer();
    g.sync_timer = Some(timer);
    let deadline = Instant::now() + Duration::from_millis(g.rebalance_timeout_ms());
    spawn_timer(
        ctx,
        &g.group_id,
        TimerKind::Sync(g.generation),
        timer,
        deadline,
    );
}

fn store_group_fire_and_forget(ctx: &Ctx, g: &Group) {
    let record = GroupRecord::GroupMetadata {
        group: g.group_id.clone(),
        value: Some(g.metadata_value(&HashMap::new())),
    };
    let gid = g.group_id.clone();
    let done = Box::new(move |r: Result<(), crate::log::GroupLogError>| {
        if let Err(e) = r {
            tracing::warn!(group = %gid, error = %e, "failed to store empty group metadata");
        }
    });
    if let Err(code) = ctx.append(vec![record], done) {
        tracing::warn!(group = %g.group_id, code, "could not queue empty group metadata");
    }
}

/// The leader synced: store the group with its assignment, then answer everyone (Stable).
fn store_assignment(ctx: &Ctx, g: &mut Group, assignment: HashMap<String, Bytes>) {
    let record = GroupRecord::GroupMetadata {
        group: g.group_id.clone(),
        value: Some(g.metadata_value(&assignment)),
    };
    let later = ctx.later();
    let gid = g.group_id.clone();
    let generation = g.generation;
    let queued = ctx.append(
        vec![record],
        Box::new(move |result| {
            later.with_group(&gid, |ctx, g| {
                if !g.is(GroupState::CompletingRebalance) || g.generation != generation {
                    return;
                }
                match result {
                    Ok(()) => {
                        set_and_propagate_assignment(ctx, g, &assignment);
                        g.transition(GroupState::Stable, now_ms());
                    }
                    Err(e) => {
                        reset_and_propagate_assignment_error(ctx, g, e.group_error_code());
                        maybe_prepare_rebalance(ctx, g, "failed to store the group assignment");
                    }
                }
            });
        }),
    );
    if let Err(code) = queued {
        reset_and_propagate_assignment_error(ctx, g, code);
        maybe_prepare_rebalance(ctx, g, "could not queue the group assignment");
    }
}

fn set_and_propagate_assignment(ctx: &Ctx, g: &mut Group, assignment: &HashMap<String, Bytes>) {
    let ids: Vec<String> = g.members.keys().cloned().collect();
    for id in ids {
        let (pt, pn) = (g.protocol_type.clone(), g.protocol_name.clone());
        let Some(m) = g.members.get_mut(&id) else {
            continue;
        };
        m.assignment = assignment.get(&id).cloned().unwrap_or_default();
        if let Some(tx) = m.awaiting_sync.take() {
            let _ = tx.send(SyncGroupResult {
                error: codes::NONE,
                protocol_type: pt,
                protocol_name: pn,
                assignment: m.assignment.clone(),
            });
            schedule_heartbeat(ctx, g, &id);
        }
    }
}

pub(crate) fn reset_and_propagate_assignment_error(ctx: &Ctx, g: &mut Group, error: i16) {
    let ids: Vec<String> = g.members.keys().cloned().collect();
    for id in ids {
        let Some(m) = g.members.get_mut(&id) else {
            continue;
        };
        m.assignment = Bytes::new();
        if let Some(tx) = m.awaiting_sync.take() {
            let _ = tx.send(SyncGroupResult::error(error));
            schedule_heartbeat(ctx, g, &id);
        }
    }
}

/// Kafka's `removeMemberAndUpdateGroup`: a parked JoinGroup is answered UNKNOWN_MEMBER_ID,
/// then the group rebalances (or the pending join may now complete).
pub(crate) fn remove_member_and_update_group(ctx: &Ctx, g: &mut Group, member_id: &str) {
    if let Some(tx) = g
        .members
        .get_mut(member_id)
        .and_then(|m| m.awaiting_join.take())
    {
        let _ = tx.send(JoinGroupResult::error("", codes::UNKNOWN_MEMBER_ID));
    }
    g.remove_member(member_id);
    match g.state {
        GroupState::Dead | GroupState::Empty => {}
        GroupState::Stable | GroupState::CompletingRebalance => {
            maybe_prepare_rebalance(ctx, g, "removing member")
        }
        GroupState::PreparingRebalance => try_complete_join(ctx, g),
    }
}

pub(crate) fn remove_pending_member(ctx: &Ctx, g: &mut Group, member_id: &str) {
    g.pending_members.remove(member_id);
    if g.is(GroupState::PreparingRebalance) {
        try_complete_join(ctx, g);
    }
}
