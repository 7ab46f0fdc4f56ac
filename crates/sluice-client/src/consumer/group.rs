//! Group membership as the consumer drives it between polls (Kafka's ConsumerCoordinator
//! `poll`): join when needed, run the rebalance listener, and apply the assignment with the
//! rebalance protocol of the configured assignors — EAGER (commit, revoke everything, join,
//! assign) or COOPERATIVE (join keeping owned partitions, revoke only those that moved, then
//! rejoin so they can be handed over). Pattern subscriptions are re-resolved here. The
//! KIP-848 member (`kip848.rs`) is reconciled the same way. Never waits without a deadline:
//! joins are bounded by the rebalance timeout.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Notify;

use crate::consumer::assignor::{assignor_by_name, RebalanceProtocol};
use crate::consumer::config::GroupProtocol;
use crate::consumer::kip848::Kip848Member;
use crate::consumer::{Consumer, RebalanceContext, Subscription};
use crate::consumer_protocol::TopicPartition;
use crate::error::Result;
use crate::group_member::GroupMember;

/// A classic-protocol member and what the consumer knows about its rebalances.
pub(crate) struct Classic {
    pub member: GroupMember,
    pub protocol: RebalanceProtocol,
    pub joined: bool,
}

impl Classic {
    pub fn new(member: GroupMember) -> Self {
        Classic {
            member,
            protocol: RebalanceProtocol::Eager,
            joined: false,
        }
    }
}

/// The consumer's group membership, by protocol.
pub(crate) enum Membership {
    Classic(Box<Classic>),
    Consumer(Box<Kip848Member>),
}

impl Membership {
    pub fn set_topics(
        &mut self,
        _protocol: GroupProtocol,
        sub: &Subscription,
        topics: Vec<String>,
    ) {
        match self {
            Membership::Classic(c) => {
                c.member.set_topics(topics);
                if c.joined {
                    c.member.request_rejoin();
                }
            }
            Membership::Consumer(k) => k.set_subscription(topics, sub),
        }
    }

    pub fn topics(&self) -> Vec<String> {
        match self {
            Membership::Classic(c) => c.member.topics().to_vec(),
            Membership::Consumer(k) => k.topics(),
        }
    }

    pub fn member_id(&self) -> String {
        match self {
            Membership::Classic(c) => c.member.member_id(),
            Membership::Consumer(k) => k.member_id(),
        }
    }

    /// Signalled when the membership needs the consumer's attention (rejoin, new assignment).
    pub fn notify(&self) -> Arc<Notify> {
        match self {
            Membership::Classic(c) => c.member.rejoin_notify(),
            Membership::Consumer(k) => k.notify(),
        }
    }
}

fn minus(a: &[TopicPartition], b: &[TopicPartition]) -> Vec<TopicPartition> {
    let b: BTreeSet<&TopicPartition> = b.iter().collect();
    a.iter().filter(|tp| !b.contains(tp)).cloned().collect()
}

impl<K: Send + 'static, V: Send + 'static> Consumer<K, V> {
    /// The rebalance protocol of the configured assignors: COOPERATIVE only if all support it.
    fn rebalance_protocol(&self) -> RebalanceProtocol {
        let all_coop = self.config.partition_assignment_strategy.iter().all(|n| {
            assignor_by_name(n).is_some_and(|a| a.supports(RebalanceProtocol::Cooperative))
        });
        if all_coop {
            RebalanceProtocol::Cooperative
        } else {
            RebalanceProtocol::Eager
        }
    }

    /// Re-lists topics for a pattern subscription when due; a change triggers a rejoin.
    async fn refresh_pattern(&mut self) -> Result<()> {
        let Subscription::Pattern { regex, .. } = &self.subscription else {
            return Ok(());
        };
        if matches!(self.group, Some(Membership::Consumer(_))) {
            return Ok(()); // the broker resolves the regex
        }
        if self
            .pattern_checked
            .is_some_and(|t| t.elapsed() < self.config.metadata_max_age)
        {
            return Ok(());
        }
        let md = self.client.metadata(None).await?;
        self.pattern_checked = Some(Instant::now());
        let mut topics: Vec<String> = md
            .topics
            .iter()
            .filter(|t| t.error_code == 0)
            .filter(|t| !(self.config.exclude_internal_topics && t.is_internal))
            .filter(|t| regex.is_match(&t.name))
            .map(|t| t.name.clone())
            .collect();
        topics.sort();
        if let Some(m) = &mut self.group {
            if m.topics() != topics {
                m.set_topics(self.config.group_protocol, &self.subscription, topics);
            }
        }
        Ok(())
    }

    /// Joins or rejoins the group when needed and applies the new assignment.
    pub(crate) async fn ensure_group(&mut self) -> Result<()> {
        self.refresh_pattern().await?;
        match &self.group {
            Some(Membership::Classic(_)) => self.ensure_classic().await,
            Some(Membership::Consumer(_)) => self.reconcile_kip848().await,
            None => Ok(()),
        }
    }

    async fn ensure_classic(&mut self) -> Result<()> {
        let protocol = self.rebalance_protocol();
        let (joined, member_lost) = match &self.group {
            Some(Membership::Classic(c)) => {
                if c.joined && !c.member.needs_rejoin()? {
                    return Ok(());
                }
                (c.joined, c.joined && c.member.membership_lost())
            }
            _ => return Ok(()),
        };
        let owned = self.state.assigned();
        if member_lost && !owned.is_empty() {
            // Fenced or expired: the partitions may already belong to someone else.
            self.invoke_listener(Callback::Lost, &owned).await;
            self.state.set_assignment(&[]);
        } else if joined {
            self.maybe_auto_commit(true).await;
            if protocol == RebalanceProtocol::Eager && !owned.is_empty() {
                self.invoke_listener(Callback::Revoked, &owned).await;
                self.state.set_assignment(&[]);
            }
        }
        let owned = self.state.assigned();
        let Some(Membership::Classic(c)) = &mut self.group else {
            return Ok(());
        };
        c.protocol = protocol;
        c.member.set_owned(owned.clone());
        let assigned = c.member.join().await?;
        c.joined = true;
        tracing::debug!(
            "group {}: generation {} assigned {:?} (assignor {:?})",
            c.member.group_id(),
            c.member.generation(),
            assigned,
            c.member.protocol()
        );
        let revoked = minus(&owned, &assigned);
        let added = minus(&assigned, &owned);
        if !revoked.is_empty() {
            // Cooperative: give up only what moved, then rejoin so it can be handed over.
            c.member.request_rejoin();
            self.invoke_listener(Callback::Revoked, &revoked).await;
            self.state.remove(&revoked);
        }
        self.state.add(&added);
        self.invoke_listener(Callback::Assigned, &added).await;
        Ok(())
    }

    /// Applies the KIP-848 member's latest assignment: revoke, acknowledge, assign.
    async fn reconcile_kip848(&mut self) -> Result<()> {
        let target = match &mut self.group {
            Some(Membership::Consumer(k)) => k.poll_target().await?,
            _ => return Ok(()),
        };
        let Some((target, lost)) = target else {
            return Ok(());
        };
        let owned = self.state.assigned();
        if lost {
            self.invoke_listener(Callback::Lost, &owned).await;
            self.state.set_assignment(&[]);
        }
        let owned = self.state.assigned();
        let revoked = minus(&owned, &target);
        let added = minus(&target, &owned);
        if !revoked.is_empty() {
            if self.config.auto_commit_active() {
                let offsets: BTreeMap<TopicPartition, i64> = self
                    .state
                    .positions()
                    .into_iter()
                    .filter(|(tp, _)| revoked.contains(tp))
                    .collect();
                if let Err(e) = self.commit_offsets(&offsets).await {
                    tracing::warn!("committing revoked partitions: {e}");
                }
            }
            self.invoke_listener(Callback::Revoked, &revoked).await;
            self.state.remove(&revoked);
        }
        self.state.add(&added);
        if let Some(Membership::Consumer(k)) = &mut self.group {
            k.ack_owned(self.state.assigned());
        }
        if !added.is_empty() || !revoked.is_empty() {
            self.invoke_listener(Callback::Assigned, &added).await;
        }
        Ok(())
    }

    /// Revokes everything through the listener (with a final auto-commit) and leaves. When
    /// the membership is already gone (poll timeout, fencing) the partitions are reported
    /// lost instead, without a commit that could only fail.
    pub(crate) async fn leave_group(&mut self) {
        let (joined, lost) = match &self.group {
            Some(Membership::Classic(c)) => (c.joined, c.joined && c.member.membership_lost()),
            Some(Membership::Consumer(k)) => (k.joined(), k.lost_pending()),
            None => (false, false),
        };
        if !lost && (self.group.is_some() || self.config.group_id.is_some()) {
            self.maybe_auto_commit(true).await;
        }
        let owned = self.state.assigned();
        if lost && !owned.is_empty() {
            self.invoke_listener(Callback::Lost, &owned).await;
        } else if joined && !owned.is_empty() {
            self.invoke_listener(Callback::Revoked, &owned).await;
        }
        match self.group.take() {
            Some(Membership::Classic(c)) => {
                if let Err(e) = c.member.leave().await {
                    tracing::warn!("leaving the group: {e}");
                }
            }
            Some(Membership::Consumer(k)) => (*k).leave().await,
            None => {}
        }
    }

    /// Runs one listener callback, then its commits and seeks.
    async fn invoke_listener(&mut self, cb: Callback, partitions: &[TopicPartition]) {
        let Some(mut listener) = self.listener.take() else {
            return;
        };
        let mut ctx = RebalanceContext {
            positions: self
                .state
                .positions()
                .into_iter()
                .filter(|(tp, _)| partitions.contains(tp))
                .collect(),
            ..Default::default()
        };
        match cb {
            Callback::Revoked => listener.on_partitions_revoked(partitions, &mut ctx),
            Callback::Assigned => listener.on_partitions_assigned(partitions, &mut ctx),
            Callback::Lost => listener.on_partitions_lost(partitions, &mut ctx),
        }
        self.listener = Some(listener);
        if !ctx.commits.is_empty() {
            if let Err(e) = self.commit_offsets(&ctx.commits).await {
                tracing::warn!("commit from the rebalance listener failed: {e}");
            }
        }
        for (tp, off) in ctx.seeks {
            if let Some(st) = self.state.parts.get_mut(&tp) {
                st.seek(off);
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Callback {
    Revoked,
    Assigned,
    Lost,
}
