//! Deadline timers of the coordinator (Kafka's delayed heartbeat, delayed join,
//! initial delayed join and pending-sync expiry), on tokio's clock. Each timer is one task
//! that sleeps until its deadline; pushing a deadline later (a heartbeat) costs nothing — the
//! task sees the new deadline when it wakes and sleeps again, so it wakes at most once per
//! timeout. A timer is identified by a unique incarnation stored on its member/group; a task
//! whose incarnation was replaced or cleared exits. Tasks hold only a weak reference.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::NEW_MEMBER_JOIN_TIMEOUT;
use crate::coordinator::{Ctx, Inner};
use crate::group::{Group, GroupState};
use crate::membership::{
    complete_join, prepare_rebalance, remove_member_and_update_group, remove_pending_member,
};

#[derive(Debug, Clone)]
pub(crate) enum TimerKind {
    /// Session timeout of a member or a pending (KIP-394) member.
    Member(String),
    /// The delayed join of the current PreparingRebalance.
    Join,
    /// Members of this generation that have not sent SyncGroup in time.
    Sync(i32),
    /// Session timeout of a KIP-848 consumer-group member.
    ConsumerSession(String),
    /// A consumer-group member that must revoke partitions at this member epoch.
    ConsumerRevocation(String, i32),
}

pub(crate) fn spawn_timer(
    ctx: &Ctx,
    group_id: &str,
    kind: TimerKind,
    incarnation: u64,
    deadline: Instant,
) {
    let weak = Arc::downgrade(&ctx.inner);
    let partition = ctx.partition;
    let group_id = group_id.to_string();
    tokio::spawn(async move {
        let mut deadline = deadline;
        loop {
            tokio::time::sleep_until(deadline).await;
            let Some(inner) = weak.upgrade() else { return };
            match on_timer(&inner, partition, &group_id, &kind, incarnation) {
                Some(next) => deadline = next,
                None => return,
            }
        }
    });
}

/// Kafka's `completeAndScheduleNextHeartbeatExpiration`: the member's session restarts now
/// (new members get NEW_MEMBER_JOIN_TIMEOUT while their first JoinGroup is parked).
pub(crate) fn schedule_heartbeat(ctx: &Ctx, g: &mut Group, member_id: &str) {
    let group_id = g.group_id.clone();
    let Some(m) = g.members.get_mut(member_id) else {
        return;
    };
    let timeout = if m.is_new {
        NEW_MEMBER_JOIN_TIMEOUT
    } else {
        Duration::from_millis(m.session_timeout_ms.max(0) as u64)
    };
    m.heartbeat_deadline = Instant::now() + timeout;
    // A running timer wakes at `timer_wake` and re-arms itself for a later deadline; an
    // earlier deadline (a new member's long first timeout replaced by its session timeout)
    // needs a fresh timer, which retires the old one.
    if m.timer.is_none() || m.heartbeat_deadline < m.timer_wake {
        let incarnation = ctx.inner.next_timer();
        m.timer = Some(incarnation);
        m.timer_wake = m.heartbeat_deadline;
        spawn_timer(
            ctx,
            &group_id,
            TimerKind::Member(member_id.to_string()),
            incarnation,
            m.heartbeat_deadline,
        );
    }
}

/// Runs a fired timer; returns a later deadline to sleep until, or `None` when done.
fn on_timer(
    inner: &Arc<Inner>,
    partition: i32,
    group_id: &str,
    kind: &TimerKind,
    incarnation: u64,
) -> Option<Instant> {
    let topics = match kind {
        TimerKind::ConsumerSession(_) | TimerKind::ConsumerRevocation(..) => Some(
            crate::coordinator::GroupCoordinator {
                inner: inner.clone(),
            }
            .topics(),
        ),
        _ => None,
    };
    let mut st = inner.lock();
    let ctx = st.ctx(inner, partition).ok()?;
    let g = st.groups(partition)?.get_mut(group_id)?;
    let now = Instant::now();
    if let Some(topics) = topics {
        return crate::consumer_coordinator::on_consumer_timer(&ctx, g, kind, incarnation, &topics);
    }
    match kind {
        TimerKind::Member(member_id) => {
            if let Some(m) = g.members.get_mut(member_id) {
                if m.timer != Some(incarnation) {
                    return None;
                }
                if now < m.heartbeat_deadline {
                    m.timer_wake = m.heartbeat_deadline;
                    return Some(m.heartbeat_deadline);
                }
                m.timer = None;
                if m.satisfies_expired_heartbeat() {
                    return None;
                }
                tracing::info!(group = %group_id, member = %member_id, "member session expired; removing it from the group");
                remove_member_and_update_group(&ctx, g, member_id);
            } else if let Some(p) = g.pending_members.get(member_id) {
                if p.timer != Some(incarnation) {
                    return None;
                }
                if now < p.deadline {
                    return Some(p.deadline);
                }
                tracing::info!(group = %group_id, member = %member_id, "pending member did not rejoin in time");
                remove_pending_member(&ctx, g, member_id);
            }
            None
        }
        TimerKind::Join => {
            if g.join_timer != Some(incarnation) || !g.is(GroupState::PreparingRebalance) {
                return None;
            }
            if now < g.join_deadline {
                return Some(g.join_deadline);
            }
            if let Some((delay, remaining)) = g.initial_delay {
                if g.new_member_added && remaining > 0 {
                    // InitialDelayedJoin: members keep arriving; hold a little longer, bounded
                    // by the rebalance timeout in total.
                    g.new_member_added = false;
                    let configured = ctx.inner.config.initial_rebalance_delay.as_millis() as u64;
                    let next_delay = configured.min(remaining);
                    g.initial_delay = Some((next_delay, remaining.saturating_sub(delay)));
                    g.join_deadline = now + Duration::from_millis(next_delay);
                    return Some(g.join_deadline);
                }
            }
            complete_join(&ctx, g);
            None
        }
        TimerKind::Sync(generation) => {
            if g.sync_timer != Some(incarnation) {
                return None;
            }
            g.sync_timer = None;
            let in_sync_phase = matches!(
                g.state,
                GroupState::CompletingRebalance | GroupState::Stable
            );
            if g.generation == *generation && in_sync_phase && !g.pending_sync.is_empty() {
                let missing: Vec<String> = g.pending_sync.iter().cloned().collect();
                tracing::info!(group = %group_id, ?missing, "members did not send SyncGroup in time; removing them");
                for id in &missing {
                    g.remove_member(id);
                }
                prepare_rebalance(&ctx, g, "pending SyncGroup expired");
            }
            None
        }
        TimerKind::ConsumerSession(_) | TimerKind::ConsumerRevocation(..) => None,
    }
}
