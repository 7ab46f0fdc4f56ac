//! `GroupCoordinator`: owns the groups of the `__consumer_offsets` partitions this node leads.
//! All state sits behind one std mutex that is never held across an `.await`; requests that
//! must wait (JoinGroup until the rebalance completes, SyncGroup until the leader's
//! assignment is stored, commits until appended) park a oneshot sender and await it outside
//! the lock. Partition ownership (load/unload), DescribeGroups, ListGroups and DeleteGroups
//! live here; membership is in `membership.rs`, offsets in `offsets.rs`, timers in
//! `timers.rs`, log loading in `load.rs`.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};

use crate::codes;
use crate::config::GroupConfig;
use crate::consumer_group::ConsumerGroup;
use crate::group::{Group, GroupState};
use crate::log::{Completion, GroupLog, GroupLogError, WriteOp};
use crate::records::{partition_for, GroupRecord, OffsetCommitKey};
use crate::subscription::CONSUMER_PROTOCOL_TYPE;
use crate::types::{
    DescribedGroup, DescribedMember, JoinGroupResult, ListGroupsResult, ListedGroup,
    SyncGroupResult,
};

/// The classic-protocol group coordinator of one node.
#[derive(Clone)]
pub struct GroupCoordinator {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: GroupConfig,
    pub(crate) log: Arc<dyn GroupLog>,
    pub(crate) state: Mutex<State>,
    next_timer: AtomicU64,
    next_id: AtomicU64,
    id_seed: std::collections::hash_map::RandomState,
    /// The topics of the metadata image (KIP-848 subscriptions and assignments).
    pub(crate) topics: std::sync::RwLock<Arc<crate::consumer_topics::TopicsImage>>,
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) partitions: HashMap<i32, Partition>,
    next_epoch: u64,
}

pub(crate) struct Partition {
    pub(crate) epoch: u64,
    pub(crate) loading: bool,
    pub(crate) groups: HashMap<String, Group>,
    pub(crate) writer: Option<mpsc::Sender<WriteOp>>,
}

/// What a state-changing step needs besides the group: where its records go.
pub(crate) struct Ctx {
    pub(crate) inner: Arc<Inner>,
    pub(crate) partition: i32,
    pub(crate) epoch: u64,
    writer: Option<mpsc::Sender<WriteOp>>,
}

impl Ctx {
    /// Queues records for the partition's writer; `done` runs after the append, in order.
    pub(crate) fn append(&self, records: Vec<GroupRecord>, done: Completion) -> Result<(), i16> {
        let Some(writer) = &self.writer else {
            return Err(codes::NOT_COORDINATOR);
        };
        match writer.try_send(WriteOp { records, done }) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(codes::COORDINATOR_NOT_AVAILABLE),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(codes::NOT_COORDINATOR),
        }
    }

    /// Runs `f` on the group later (from an append completion), if this partition is still
    /// owned with the same load epoch and the group still exists.
    pub(crate) fn later(&self) -> Later {
        Later {
            inner: self.inner.clone(),
            partition: self.partition,
            epoch: self.epoch,
        }
    }
}

pub(crate) struct Later {
    inner: Arc<Inner>,
    partition: i32,
    epoch: u64,
}

impl Later {
    pub(crate) fn with_group<R>(
        &self,
        group_id: &str,
        f: impl FnOnce(&Ctx, &mut Group) -> R,
    ) -> Option<R> {
        let mut st = self.inner.lock();
        let ctx = st.ctx(&self.inner, self.partition).ok()?;
        if ctx.epoch != self.epoch {
            return None;
        }
        let g = st
            .partitions
            .get_mut(&self.partition)?
            .groups
            .get_mut(group_id)?;
        Some(f(&ctx, g))
    }

    /// Like `with_group`, with the partition's group map (to remove a dead group).
    pub(crate) fn with_partition<R>(
        &self,
        f: impl FnOnce(&Ctx, &mut HashMap<String, Group>) -> R,
    ) -> Option<R> {
        let mut st = self.inner.lock();
        let ctx = st.ctx(&self.inner, self.partition).ok()?;
        if ctx.epoch != self.epoch {
            return None;
        }
        Some(f(&ctx, &mut st.partitions.get_mut(&self.partition)?.groups))
    }
}

impl State {
    /// NOT_COORDINATOR if the partition is not owned, COORDINATOR_LOAD_IN_PROGRESS while it
    /// is being loaded.
    pub(crate) fn ctx(&self, inner: &Arc<Inner>, partition: i32) -> Result<Ctx, i16> {
        match self.partitions.get(&partition) {
            None => Err(codes::NOT_COORDINATOR),
            Some(p) if p.loading => Err(codes::COORDINATOR_LOAD_IN_PROGRESS),
            Some(p) => Ok(Ctx {
                inner: inner.clone(),
                partition,
                epoch: p.epoch,
                writer: p.writer.clone(),
            }),
        }
    }

    pub(crate) fn groups(&mut self, partition: i32) -> Option<&mut HashMap<String, Group>> {
        self.partitions.get_mut(&partition).map(|p| &mut p.groups)
    }

    /// Installs a partition (loading, or loaded with its groups and writer) under a fresh
    /// load epoch, returning the epoch and whatever it replaced.
    pub(crate) fn install(
        &mut self,
        partition: i32,
        loading: bool,
        groups: HashMap<String, Group>,
        writer: Option<mpsc::Sender<WriteOp>>,
    ) -> (u64, Option<Partition>) {
        self.next_epoch += 1;
        let epoch = self.next_epoch;
        let old = self.partitions.insert(
            partition,
            Partition {
                epoch,
                loading,
                groups,
                writer,
            },
        );
        (epoch, old)
    }
}

impl Inner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn partition_of(&self, group_id: &str) -> i32 {
        partition_for(group_id, self.config.offsets_topic_num_partitions)
    }

    pub(crate) fn next_timer(&self) -> u64 {
        self.next_timer.fetch_add(1, Ordering::Relaxed)
    }

    /// `<prefix>-<uuid-shaped random id>`, like Kafka's `clientId + "-" + UUID`.
    pub(crate) fn new_member_id(&self, prefix: &str) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        let mut h1 = self.id_seed.build_hasher();
        h1.write_u64(n);
        h1.write_u64(nanos);
        let a = h1.finish();
        h1.write_u64(!n);
        let b = h1.finish();
        format!(
            "{prefix}-{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0x0fff,
            ((b >> 48) & 0x3fff) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }
}

/// Wall-clock milliseconds (commit timestamps, currentStateTimestamp).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

impl GroupCoordinator {
    pub fn new(config: GroupConfig, log: Arc<dyn GroupLog>) -> Self {
        GroupCoordinator {
            inner: Arc::new(Inner {
                config,
                log,
                state: Mutex::new(State::default()),
                next_timer: AtomicU64::new(1),
                next_id: AtomicU64::new(1),
                id_seed: std::collections::hash_map::RandomState::new(),
                topics: std::sync::RwLock::new(Arc::default()),
            }),
        }
    }

    pub fn config(&self) -> &GroupConfig {
        &self.inner.config
    }

    /// The `__consumer_offsets` partition (and so the coordinator) of a group.
    pub fn partition_for(&self, group_id: &str) -> i32 {
        self.inner.partition_of(group_id)
    }

    /// Marks a partition as loading: its groups answer COORDINATOR_LOAD_IN_PROGRESS until
    /// `load_partition` is called with the partition's records.
    pub fn begin_loading(&self, partition: i32) {
        let (_, old) = self
            .inner
            .lock()
            .install(partition, true, HashMap::new(), None);
        if let Some(p) = old {
            fail_waiters(p.groups, codes::NOT_COORDINATOR);
        }
    }

    /// This node no longer leads `partition`: its groups are dropped and parked JoinGroup and
    /// SyncGroup requests answered NOT_COORDINATOR. Queued appends still complete.
    pub fn unload_partition(&self, partition: i32) {
        let removed = self.inner.lock().partitions.remove(&partition);
        if let Some(p) = removed {
            tracing::info!(
                partition,
                groups = p.groups.len(),
                "unloaded __consumer_offsets partition"
            );
            fail_waiters(p.groups, codes::NOT_COORDINATOR);
        }
    }

    /// Partitions currently owned (loaded or loading).
    pub fn owned_partitions(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self.inner.lock().partitions.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// DescribeGroups. Unknown groups are described as Dead with no members and NONE.
    pub async fn describe_groups(&self, group_ids: &[String]) -> Vec<DescribedGroup> {
        let mut st = self.inner.lock();
        group_ids
            .iter()
            .map(|gid| {
                let dead = |error| DescribedGroup {
                    group_id: gid.clone(),
                    error,
                    state: GroupState::Dead.as_str().to_string(),
                    protocol_type: String::new(),
                    protocol_data: String::new(),
                    members: Vec::new(),
                };
                let partition = self.inner.partition_of(gid);
                if let Err(code) = st.ctx(&self.inner, partition) {
                    return dead(code);
                }
                let Some(g) = st.groups(partition).and_then(|m| m.get(gid)) else {
                    return dead(codes::NONE);
                };
                if g.consumer.is_some() {
                    // Kafka 4 describes only classic groups here (ConsumerGroupDescribe
                    // serves consumer groups): Dead, no error before v6.
                    return dead(codes::NONE);
                }
                describe(g)
            })
            .collect()
    }

    /// ListGroups over the owned partitions, optionally filtered by state names
    /// (case-insensitive). Dead groups are not listed.
    pub async fn list_groups(&self, states_filter: &[String]) -> ListGroupsResult {
        let st = self.inner.lock();
        let mut error = codes::NONE;
        let mut groups = Vec::new();
        for p in st.partitions.values() {
            if p.loading {
                error = codes::COORDINATOR_LOAD_IN_PROGRESS;
                continue;
            }
            for g in p.groups.values() {
                let (state, protocol_type, group_type) = match &g.consumer {
                    Some(cg) if !g.is(GroupState::Dead) => (
                        cg.state().as_str(),
                        CONSUMER_PROTOCOL_TYPE.to_string(),
                        "consumer",
                    ),
                    _ => (
                        g.state.as_str(),
                        g.protocol_type.clone().unwrap_or_default(),
                        "classic",
                    ),
                };
                if g.is(GroupState::Dead)
                    || (!states_filter.is_empty()
                        && !states_filter.iter().any(|s| s.eq_ignore_ascii_case(state)))
                {
                    continue;
                }
                groups.push(ListedGroup {
                    group_id: g.group_id.clone(),
                    protocol_type,
                    state: state.to_string(),
                    group_type: group_type.to_string(),
                });
            }
        }
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        ListGroupsResult { error, groups }
    }

    /// DeleteGroups: only Empty groups can be deleted (NON_EMPTY_GROUP otherwise;
    /// GROUP_ID_NOT_FOUND for unknown or Dead groups). The group and all its offsets are
    /// tombstoned; the answer comes after the append.
    pub async fn delete_groups(&self, group_ids: &[String]) -> Vec<(String, i16)> {
        let mut out = Vec::with_capacity(group_ids.len());
        for gid in group_ids {
            let error = match self.delete_group_locked(gid) {
                Ok(rx) => rx.await.unwrap_or(codes::NOT_COORDINATOR),
                Err(code) => code,
            };
            out.push((gid.clone(), error));
        }
        out
    }

    fn delete_group_locked(&self, gid: &str) -> Result<oneshot::Receiver<i16>, i16> {
        let mut st = self.inner.lock();
        let partition = self.inner.partition_of(gid);
        let ctx = st.ctx(&self.inner, partition)?;
        let g = st
            .groups(partition)
            .and_then(|m| m.get_mut(gid))
            .ok_or(codes::GROUP_ID_NOT_FOUND)?;
        match g.state {
            GroupState::Dead => return Err(codes::GROUP_ID_NOT_FOUND),
            GroupState::Empty if g.has_no_members() => {}
            _ => return Err(codes::NON_EMPTY_GROUP),
        }
        let keys: Vec<(String, i32)> = g.offsets.keys().cloned().collect();
        let (tx, rx) = oneshot::channel();
        tombstone_group(&ctx, g, keys, true, move |r| {
            let _ = tx.send(r.map_or_else(|e| e.group_error_code(), |()| codes::NONE));
        })?;
        Ok(rx)
    }
}

/// Writes tombstones for `offsets` of the group (and for the group itself when
/// `kill_group`, moving it to Dead until the append lands). On success the offsets are
/// dropped and a dead group is removed; on failure a dead group goes back to Empty.
pub(crate) fn tombstone_group(
    ctx: &Ctx,
    g: &mut Group,
    offsets: Vec<(String, i32)>,
    kill_group: bool,
    done: impl FnOnce(Result<(), GroupLogError>) + Send + 'static,
) -> Result<(), i16> {
    let mut records: Vec<GroupRecord> = offsets
        .iter()
        .map(|(topic, partition)| GroupRecord::OffsetCommit {
            key: OffsetCommitKey {
                group: g.group_id.clone(),
                topic: topic.clone(),
                partition: *partition,
            },
            value: None,
        })
        .collect();
    if kill_group {
        if g.consumer.is_some() {
            records.extend(
                ConsumerGroup::group_tombstones(&g.group_id)
                    .into_iter()
                    .map(GroupRecord::Consumer),
            );
        } else {
            records.push(GroupRecord::GroupMetadata {
                group: g.group_id.clone(),
                value: None,
            });
        }
    }
    let expected: Vec<_> = offsets
        .iter()
        .map(|k| {
            (
                k.clone(),
                g.offsets.get(k).map(|o| o.value.commit_timestamp),
            )
        })
        .collect();
    let later = ctx.later();
    let gid = g.group_id.clone();
    ctx.append(
        records,
        Box::new(move |result| {
            later.with_partition(|_, groups| {
                let Some(g) = groups.get_mut(&gid) else {
                    return;
                };
                if result.is_ok() {
                    for (key, ts) in &expected {
                        // A commit applied after the tombstone was decided stays.
                        if g.offsets.get(key).map(|o| o.value.commit_timestamp) == *ts {
                            g.offsets.remove(key);
                        }
                    }
                }
                if kill_group && g.is(GroupState::Dead) {
                    if result.is_ok() {
                        groups.remove(&gid);
                    } else {
                        g.transition(GroupState::Empty, now_ms());
                    }
                }
            });
            done(result);
        }),
    )?;
    if kill_group {
        g.transition(GroupState::Dead, now_ms());
    }
    Ok(())
}

fn describe(g: &Group) -> DescribedGroup {
    let stable = g.is(GroupState::Stable);
    let protocol = g.protocol_name.clone().unwrap_or_default();
    DescribedGroup {
        group_id: g.group_id.clone(),
        error: codes::NONE,
        state: g.state.as_str().to_string(),
        protocol_type: g.protocol_type.clone().unwrap_or_default(),
        protocol_data: if stable {
            protocol.clone()
        } else {
            String::new()
        },
        members: g
            .members
            .values()
            .map(|m| DescribedMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: if stable {
                    m.metadata_for(&protocol)
                } else {
                    Default::default()
                },
                assignment: if stable {
                    m.assignment.clone()
                } else {
                    Default::default()
                },
            })
            .collect(),
    }
}

pub(crate) fn fail_waiters(groups: HashMap<String, Group>, error: i16) {
    for (_, mut g) in groups {
        for m in g.members.values_mut() {
            if let Some(tx) = m.awaiting_join.take() {
                let _ = tx.send(JoinGroupResult::error(&m.member_id, error));
            }
            if let Some(tx) = m.awaiting_sync.take() {
                let _ = tx.send(SyncGroupResult::error(error));
            }
        }
    }
}
