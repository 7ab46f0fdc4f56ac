//! One KIP-848 consumer group's in-memory state (Kafka's `ConsumerGroup` and
//! `ConsumerGroupMember`): group epoch, target assignment (and its epoch), members with their
//! member epochs, current assignments and partitions pending revocation, and who currently
//! owns each partition. `reconcile` is Kafka's CurrentAssignmentBuilder: a member moves
//! towards its target only as fast as revocations allow — it first revokes (keeping its
//! epoch), then gets partitions once their previous owners released them, and its epoch
//! reaches the target epoch when nothing is left to revoke. Pure state: no I/O, no timers.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use tokio::time::Instant;
use uuid::Uuid;

use crate::assignor::Assignment;
use crate::consumer_records::{
    ConsumerMemberMetadataValue, ConsumerRecord, CurrentMemberAssignmentValue, TopicPartitions,
};

/// Member epoch of a leaving member (ConsumerGroupHeartbeat).
pub(crate) const LEAVE_GROUP_MEMBER_EPOCH: i32 = -1;
/// Member epoch of a static member leaving temporarily.
pub(crate) const LEAVE_GROUP_STATIC_MEMBER_EPOCH: i32 = -2;

/// Kafka's consumer group states, as ListGroups and ConsumerGroupDescribe name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerGroupState {
    Empty,
    Assigning,
    Reconciling,
    Stable,
    Dead,
}

impl ConsumerGroupState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsumerGroupState::Empty => "Empty",
            ConsumerGroupState::Assigning => "Assigning",
            ConsumerGroupState::Reconciling => "Reconciling",
            ConsumerGroupState::Stable => "Stable",
            ConsumerGroupState::Dead => "Dead",
        }
    }
}

impl fmt::Display for ConsumerGroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kafka's MemberState (the byte is what CurrentMemberAssignment records store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MemberState {
    Stable,
    UnrevokedPartitions,
    UnreleasedPartitions,
    Unknown,
}

impl MemberState {
    pub(crate) fn value(self) -> i8 {
        match self {
            MemberState::Stable => 0,
            MemberState::UnrevokedPartitions => 1,
            MemberState::UnreleasedPartitions => 2,
            MemberState::Unknown => 127,
        }
    }

    pub(crate) fn from_value(v: i8) -> Self {
        match v {
            0 => MemberState::Stable,
            1 => MemberState::UnrevokedPartitions,
            2 => MemberState::UnreleasedPartitions,
            _ => MemberState::Unknown,
        }
    }
}

#[derive(Clone)]
pub(crate) struct ConsumerMember {
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) rack_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) subscribed_topic_names: Vec<String>,
    pub(crate) subscribed_topic_regex: Option<String>,
    /// `subscribed_topic_regex` compiled (kept in step by `set_regex`).
    pub(crate) regex: Option<std::sync::Arc<regex_automata::meta::Regex>>,
    pub(crate) server_assignor: Option<String>,
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) member_epoch: i32,
    pub(crate) previous_member_epoch: i32,
    pub(crate) state: MemberState,
    pub(crate) assigned: Assignment,
    pub(crate) pending_revocation: Assignment,
    /// Session deadline and the live session timer (incarnation, next wake).
    pub(crate) session_deadline: Instant,
    pub(crate) timer: Option<u64>,
    pub(crate) timer_wake: Instant,
    /// Set while the member must revoke partitions: it is fenced if it has not by then.
    pub(crate) revocation_deadline: Option<Instant>,
    /// The member epoch at which each owned partition was assigned (KIP-1251: a commit
    /// with an older epoch is still valid for partitions the member owned at that epoch).
    /// Not persisted: after a reload, commits need the current epoch.
    pub(crate) assigned_at: HashMap<(Uuid, i32), i32>,
}

impl ConsumerMember {
    pub(crate) fn new(member_id: &str) -> Self {
        let now = Instant::now();
        ConsumerMember {
            member_id: member_id.to_string(),
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            subscribed_topic_names: Vec::new(),
            subscribed_topic_regex: None,
            regex: None,
            server_assignor: None,
            rebalance_timeout_ms: -1,
            member_epoch: 0,
            previous_member_epoch: 0,
            state: MemberState::Stable,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
            session_deadline: now,
            timer: None,
            timer_wake: now,
            revocation_deadline: None,
            assigned_at: HashMap::new(),
        }
    }

    /// Whether a commit (or fetch) at `epoch` may touch `partitions`: the current epoch
    /// always; an older one only for partitions owned since that epoch or earlier.
    pub(crate) fn accepts_epoch(&self, epoch: i32, partitions: &[(Uuid, i32)]) -> bool {
        if epoch == self.member_epoch {
            return true;
        }
        epoch >= 0
            && epoch < self.member_epoch
            && !partitions.is_empty()
            && partitions.iter().all(|(t, p)| {
                let owned =
                    contains(&self.assigned, t, *p) || contains(&self.pending_revocation, t, *p);
                owned
                    && self
                        .assigned_at
                        .get(&(*t, *p))
                        .is_some_and(|at| *at <= epoch)
            })
    }

    /// Records when newly owned partitions were assigned (at the member's new epoch).
    pub(crate) fn track_assignment_epochs(&mut self, before: &ConsumerMember) {
        let epoch = self.member_epoch;
        let mut at = HashMap::new();
        for (t, ps) in self.assigned.iter().chain(self.pending_revocation.iter()) {
            for p in ps {
                let since = before.assigned_at.get(&(*t, *p)).copied();
                let was_owned = contains(&before.assigned, t, *p)
                    || contains(&before.pending_revocation, t, *p);
                at.insert(
                    (*t, *p),
                    if was_owned {
                        since.unwrap_or(epoch)
                    } else {
                        epoch
                    },
                );
            }
        }
        self.assigned_at = at;
    }

    pub(crate) fn metadata_value(&self) -> ConsumerMemberMetadataValue {
        ConsumerMemberMetadataValue {
            instance_id: self.instance_id.clone(),
            rack_id: self.rack_id.clone(),
            client_id: self.client_id.clone(),
            client_host: self.client_host.clone(),
            subscribed_topic_names: self.subscribed_topic_names.clone(),
            subscribed_topic_regex: self.subscribed_topic_regex.clone(),
            rebalance_timeout_ms: self.rebalance_timeout_ms,
            server_assignor: self.server_assignor.clone(),
        }
    }

    pub(crate) fn apply_metadata(&mut self, v: ConsumerMemberMetadataValue) {
        self.instance_id = v.instance_id;
        self.rack_id = v.rack_id;
        self.client_id = v.client_id;
        self.client_host = v.client_host;
        self.subscribed_topic_names = v.subscribed_topic_names;
        self.set_regex(v.subscribed_topic_regex);
        self.rebalance_timeout_ms = v.rebalance_timeout_ms;
        self.server_assignor = v.server_assignor;
    }

    /// Sets the regex subscription (empty = none) and its compiled form.
    pub(crate) fn set_regex(&mut self, regex: Option<String>) {
        let regex = regex.filter(|r| !r.is_empty());
        if regex != self.subscribed_topic_regex || (regex.is_some() && self.regex.is_none()) {
            self.regex = regex
                .as_deref()
                .and_then(crate::consumer_topics::compile_regex)
                .map(std::sync::Arc::new);
        }
        self.subscribed_topic_regex = regex;
    }

    pub(crate) fn assignment_value(&self) -> CurrentMemberAssignmentValue {
        CurrentMemberAssignmentValue {
            member_epoch: self.member_epoch,
            previous_member_epoch: self.previous_member_epoch,
            state: self.state.value(),
            assigned_partitions: to_topic_partitions(&self.assigned),
            partitions_pending_revocation: to_topic_partitions(&self.pending_revocation),
        }
    }

    pub(crate) fn apply_assignment(&mut self, v: CurrentMemberAssignmentValue) {
        self.member_epoch = v.member_epoch;
        self.previous_member_epoch = v.previous_member_epoch;
        self.state = MemberState::from_value(v.state);
        self.assigned = from_topic_partitions(&v.assigned_partitions);
        self.pending_revocation = from_topic_partitions(&v.partitions_pending_revocation);
    }

    /// Same subscription-relevant metadata (what changes the group epoch when it changes).
    pub(crate) fn same_subscription(&self, other: &ConsumerMember) -> bool {
        self.subscribed_topic_names == other.subscribed_topic_names
            && self.subscribed_topic_regex == other.subscribed_topic_regex
            && self.server_assignor == other.server_assignor
    }
}

pub(crate) fn to_topic_partitions(a: &Assignment) -> Vec<TopicPartitions> {
    a.iter()
        .filter(|(_, ps)| !ps.is_empty())
        .map(|(t, ps)| TopicPartitions {
            topic_id: *t,
            partitions: ps.iter().copied().collect(),
        })
        .collect()
}

pub(crate) fn from_topic_partitions(tps: &[TopicPartitions]) -> Assignment {
    let mut a = Assignment::new();
    for tp in tps {
        if !tp.partitions.is_empty() {
            a.entry(tp.topic_id)
                .or_default()
                .extend(tp.partitions.iter().copied());
        }
    }
    a
}

fn contains(a: &Assignment, t: &Uuid, p: i32) -> bool {
    a.get(t).is_some_and(|s| s.contains(&p))
}

/// True when `owned` holds every partition of `a` ... reversed: every owned partition is in `a`.
pub(crate) fn is_subset(owned: &Assignment, of: &Assignment) -> bool {
    owned
        .iter()
        .all(|(t, ps)| ps.iter().all(|p| contains(of, t, *p)))
}

fn intersects(a: &Assignment, b: &Assignment) -> bool {
    a.iter()
        .any(|(t, ps)| ps.iter().any(|p| contains(b, t, *p)))
}

pub(crate) struct ConsumerGroup {
    pub(crate) group_epoch: i32,
    pub(crate) assignment_epoch: i32,
    /// Hash of the subscribed topics' metadata at the group epoch.
    pub(crate) metadata_hash: i64,
    pub(crate) members: BTreeMap<String, ConsumerMember>,
    /// instance id → member id.
    pub(crate) static_members: HashMap<String, String>,
    /// member id → target assignment (at `assignment_epoch`).
    pub(crate) target: HashMap<String, Assignment>,
    /// partition → (owning member, its epoch): assigned or pending revocation.
    pub(crate) owners: HashMap<(Uuid, i32), (String, i32)>,
}

impl ConsumerGroup {
    pub(crate) fn new() -> Self {
        ConsumerGroup {
            group_epoch: 0,
            assignment_epoch: 0,
            metadata_hash: 0,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            target: HashMap::new(),
            owners: HashMap::new(),
        }
    }

    pub(crate) fn state(&self) -> ConsumerGroupState {
        if self.members.is_empty() {
            ConsumerGroupState::Empty
        } else if self.group_epoch != self.assignment_epoch {
            ConsumerGroupState::Assigning
        } else if self
            .members
            .values()
            .any(|m| m.state != MemberState::Stable || m.member_epoch != self.assignment_epoch)
        {
            ConsumerGroupState::Reconciling
        } else {
            ConsumerGroupState::Stable
        }
    }

    /// Replaces (or adds, or with `None` removes) a member, keeping the partition owners and
    /// the static-member map in step.
    pub(crate) fn put_member(&mut self, member_id: &str, new: Option<ConsumerMember>) {
        if let Some(old) = self.members.remove(member_id) {
            for (t, ps) in old.assigned.iter().chain(old.pending_revocation.iter()) {
                for p in ps {
                    if self
                        .owners
                        .get(&(*t, *p))
                        .is_some_and(|(m, _)| m == member_id)
                    {
                        self.owners.remove(&(*t, *p));
                    }
                }
            }
            if let Some(i) = &old.instance_id {
                if self.static_members.get(i).map(String::as_str) == Some(member_id) {
                    self.static_members.remove(i);
                }
            }
        }
        if let Some(m) = new {
            for (t, ps) in m.assigned.iter().chain(m.pending_revocation.iter()) {
                for p in ps {
                    self.owners
                        .insert((*t, *p), (m.member_id.clone(), m.member_epoch));
                }
            }
            if let Some(i) = &m.instance_id {
                self.static_members.insert(i.clone(), m.member_id.clone());
            }
            self.members.insert(member_id.to_string(), m);
        }
    }

    fn owned_by_other(&self, member_id: &str, t: &Uuid, p: i32) -> bool {
        self.owners
            .get(&(*t, p))
            .is_some_and(|(m, _)| m != member_id)
    }

    /// The preferred server assignor: the one most members ask for (ties: smallest name),
    /// else `default`.
    pub(crate) fn preferred_assignor(&self, default: &str) -> String {
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(a) = &m.server_assignor {
                *votes.entry(a.as_str()).or_default() += 1;
            }
        }
        let best = votes.values().copied().max().unwrap_or(0);
        votes
            .into_iter()
            .find(|(_, v)| *v == best && best > 0)
            .map(|(n, _)| n.to_string())
            .unwrap_or_else(|| default.to_string())
    }

    /// Kafka's CurrentAssignmentBuilder: the member's next state given the target assignment
    /// and what the client reports owning (`None`: not reported in this request).
    pub(crate) fn reconcile(
        &self,
        m: &ConsumerMember,
        owned: Option<&Assignment>,
    ) -> ConsumerMember {
        let target_epoch = self.assignment_epoch;
        let empty = Assignment::new();
        let target = self.target.get(&m.member_id).unwrap_or(&empty);
        match m.state {
            MemberState::Stable if m.member_epoch == target_epoch => m.clone(),
            MemberState::UnrevokedPartitions => {
                let still_owns = owned.is_none_or(|o| intersects(o, &m.pending_revocation));
                if still_owns {
                    m.clone()
                } else {
                    self.next_assignment(
                        m,
                        m.member_epoch.saturating_add(1).min(target_epoch),
                        &m.assigned,
                        target,
                        owned,
                    )
                }
            }
            _ => self.next_assignment(m, m.member_epoch, &m.assigned, target, owned),
        }
    }

    fn next_assignment(
        &self,
        m: &ConsumerMember,
        member_epoch: i32,
        current: &Assignment,
        target: &Assignment,
        owned: Option<&Assignment>,
    ) -> ConsumerMember {
        let target_epoch = self.assignment_epoch;
        let mut kept = Assignment::new();
        let mut revoking = Assignment::new();
        let mut newly = Assignment::new();
        let mut unreleased = false;
        let topics: BTreeSet<&Uuid> = current.keys().chain(target.keys()).collect();
        for t in topics {
            let cur = current.get(t);
            let tgt = target.get(t);
            for p in cur.into_iter().flatten() {
                if tgt.is_some_and(|s| s.contains(p)) {
                    kept.entry(*t).or_default().insert(*p);
                } else {
                    revoking.entry(*t).or_default().insert(*p);
                }
            }
            for p in tgt.into_iter().flatten() {
                if cur.is_some_and(|s| s.contains(p)) {
                    continue;
                }
                if self.owned_by_other(&m.member_id, t, *p) {
                    unreleased = true;
                } else {
                    newly.entry(*t).or_default().insert(*p);
                }
            }
        }
        let mut next = m.clone();
        let owns_revoked = owned.is_none_or(|o| intersects(o, &revoking));
        if !revoking.is_empty() && owns_revoked {
            // Revocations first: keep the epoch, hand out nothing new until they are done.
            next.state = MemberState::UnrevokedPartitions;
            next.previous_member_epoch = m.member_epoch;
            next.member_epoch = member_epoch;
            next.assigned = kept;
            next.pending_revocation = revoking;
            return next;
        }
        for (t, ps) in newly {
            kept.entry(t).or_default().extend(ps);
        }
        next.state = if unreleased {
            MemberState::UnreleasedPartitions
        } else {
            MemberState::Stable
        };
        if m.member_epoch != target_epoch {
            next.previous_member_epoch = m.member_epoch;
        }
        next.member_epoch = target_epoch;
        next.assigned = kept;
        next.pending_revocation = Assignment::new();
        next
    }

    /// Tombstones for a member Kafka writes when it leaves or is fenced (current
    /// assignment, target assignment, member metadata).
    pub(crate) fn member_tombstones(group: &str, member_id: &str) -> Vec<ConsumerRecord> {
        vec![
            ConsumerRecord::CurrentMemberAssignment {
                group: group.to_string(),
                member: member_id.to_string(),
                value: None,
            },
            ConsumerRecord::TargetAssignmentMember {
                group: group.to_string(),
                member: member_id.to_string(),
                value: None,
            },
            ConsumerRecord::MemberMetadata {
                group: group.to_string(),
                member: member_id.to_string(),
                value: None,
            },
        ]
    }

    /// Every tombstone of the group itself (its members must be gone already).
    pub(crate) fn group_tombstones(group: &str) -> Vec<ConsumerRecord> {
        vec![
            ConsumerRecord::TargetAssignmentMetadata {
                group: group.to_string(),
                value: None,
            },
            ConsumerRecord::GroupMetadata {
                group: group.to_string(),
                value: None,
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(parts: &[(u128, &[i32])]) -> Assignment {
        parts
            .iter()
            .map(|(t, ps)| (Uuid::from_u128(*t), ps.iter().copied().collect()))
            .collect()
    }

    #[test]
    fn revocation_before_assignment_and_epoch_bumps_when_converged() {
        let mut g = ConsumerGroup::new();
        let mut m1 = ConsumerMember::new("m1");
        m1.member_epoch = 1;
        m1.assigned = a(&[(1, &[0, 1])]);
        g.put_member("m1", Some(m1.clone()));
        let m2 = ConsumerMember::new("m2");
        g.put_member("m2", Some(m2.clone()));
        g.group_epoch = 2;
        g.assignment_epoch = 2;
        g.target.insert("m1".into(), a(&[(1, &[0])]));
        g.target.insert("m2".into(), a(&[(1, &[1])]));

        // m2 wants partition 1, still owned by m1: unreleased, but at the target epoch.
        let n2 = g.reconcile(&m2, Some(&Assignment::new()));
        assert_eq!(n2.state, MemberState::UnreleasedPartitions);
        assert_eq!(n2.member_epoch, 2);
        assert!(n2.assigned.is_empty());
        g.put_member("m2", Some(n2.clone()));

        // m1 must revoke partition 1 first and keeps epoch 1.
        let n1 = g.reconcile(&m1, Some(&a(&[(1, &[0, 1])])));
        assert_eq!(n1.state, MemberState::UnrevokedPartitions);
        assert_eq!(n1.member_epoch, 1);
        assert_eq!(n1.assigned, a(&[(1, &[0])]));
        assert_eq!(n1.pending_revocation, a(&[(1, &[1])]));
        g.put_member("m1", Some(n1.clone()));
        // Still reported as owned: nothing changes.
        assert_eq!(g.reconcile(&n1, Some(&a(&[(1, &[0, 1])]))).member_epoch, 1);
        // Revoked: m1 reaches epoch 2, stable.
        let n1 = g.reconcile(&n1, Some(&a(&[(1, &[0])])));
        assert_eq!((n1.state, n1.member_epoch), (MemberState::Stable, 2));
        assert!(n1.pending_revocation.is_empty());
        g.put_member("m1", Some(n1));
        // Now m2 gets partition 1.
        let n2 = g.reconcile(&n2, None);
        assert_eq!(n2.state, MemberState::Stable);
        assert_eq!(n2.assigned, a(&[(1, &[1])]));
        g.put_member("m2", Some(n2));
        assert_eq!(g.state(), ConsumerGroupState::Stable);
    }
}
