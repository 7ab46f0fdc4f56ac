//! Client-side partition assignors of the classic group protocol, under Kafka's names: `range`,
//! `roundrobin`, `sticky` (eager) and `cooperative-sticky`. The group leader runs the one the
//! coordinator selected over every member's subscription. Assignors are pure functions of
//! their input (no I/O, deterministic for a given input) and every member appears in the
//! result, possibly with nothing.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::consumer_protocol::{
    decode_sticky_user_data, encode_sticky_user_data, MemberSubscription, TopicPartition,
};

/// Member id → its partitions.
pub type GroupAssignment = BTreeMap<String, Vec<TopicPartition>>;

/// Kafka's rebalance protocols: EAGER revokes everything before a rejoin, COOPERATIVE only
/// what moves (KIP-429).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebalanceProtocol {
    Eager,
    Cooperative,
}

/// A client-side assignor (Kafka's ConsumerPartitionAssignor).
pub trait PartitionAssignor: Send + Sync {
    /// The protocol name sent in JoinGroup (`range`, `cooperative-sticky`, ...).
    fn name(&self) -> &str;
    /// The rebalance protocols it supports.
    fn supports(&self, protocol: RebalanceProtocol) -> bool {
        protocol == RebalanceProtocol::Eager
    }
    /// User data to put in this member's subscription.
    fn user_data(&self, _owned: &[TopicPartition], _generation: i32) -> Option<Bytes> {
        None
    }
    /// Computes the assignment of every member.
    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        subscriptions: &BTreeMap<String, MemberSubscription>,
    ) -> GroupAssignment;
}

/// The assignor for a `partition.assignment.strategy` entry (short name or Kafka class name).
pub fn assignor_by_name(name: &str) -> Option<Box<dyn PartitionAssignor>> {
    let short = name.rsplit('.').next().unwrap_or(name);
    Some(match short {
        "range" | "RangeAssignor" => Box::new(RangeAssignor),
        "roundrobin" | "RoundRobinAssignor" => Box::new(RoundRobinAssignor),
        "sticky" | "StickyAssignor" => Box::new(StickyAssignor),
        "cooperative-sticky" | "CooperativeStickyAssignor" => Box::new(CooperativeStickyAssignor),
        _ => return None,
    })
}

fn empty_result(subscriptions: &BTreeMap<String, MemberSubscription>) -> GroupAssignment {
    subscriptions
        .keys()
        .map(|m| (m.clone(), Vec::new()))
        .collect()
}

/// Every existing partition of the subscribed topics, sorted.
fn all_partitions(
    partitions_per_topic: &BTreeMap<String, i32>,
    subscriptions: &BTreeMap<String, MemberSubscription>,
) -> Vec<TopicPartition> {
    let topics: BTreeSet<&String> = subscriptions.values().flat_map(|s| &s.topics).collect();
    let mut out = Vec::new();
    for t in topics {
        if let Some(&n) = partitions_per_topic.get(t) {
            out.extend((0..n.max(0)).map(|p| TopicPartition::new(t.clone(), p)));
        }
    }
    out
}

/// Kafka's RangeAssignor: per topic, subscribers sorted by member id each get a contiguous
/// range; the first `partitions % members` get one extra.
pub struct RangeAssignor;

impl PartitionAssignor for RangeAssignor {
    fn name(&self) -> &str {
        "range"
    }
    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        subscriptions: &BTreeMap<String, MemberSubscription>,
    ) -> GroupAssignment {
        let mut out = empty_result(subscriptions);
        for (topic, &n) in partitions_per_topic {
            let members: Vec<&String> = subscriptions
                .iter()
                .filter(|(_, s)| s.topics.contains(topic))
                .map(|(m, _)| m)
                .collect();
            if members.is_empty() || n <= 0 {
                continue;
            }
            let m = members.len() as i32;
            let (per, extra) = (n / m, n % m);
            for (i, member) in members.into_iter().enumerate() {
                let i = i as i32;
                let start = per * i + i.min(extra);
                let len = per + i32::from(i < extra);
                if let Some(v) = out.get_mut(member) {
                    v.extend((start..start + len).map(|p| TopicPartition::new(topic.clone(), p)));
                }
            }
        }
        out
    }
}

/// Kafka's RoundRobinAssignor: all partitions sorted by topic and partition, dealt in turn to
/// the members (sorted by id), skipping members not subscribed to the partition's topic.
pub struct RoundRobinAssignor;

impl PartitionAssignor for RoundRobinAssignor {
    fn name(&self) -> &str {
        "roundrobin"
    }
    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        subscriptions: &BTreeMap<String, MemberSubscription>,
    ) -> GroupAssignment {
        let mut out = empty_result(subscriptions);
        let members: Vec<(&String, &MemberSubscription)> = subscriptions.iter().collect();
        if members.is_empty() {
            return out;
        }
        let mut next = 0usize;
        for tp in all_partitions(partitions_per_topic, subscriptions) {
            for step in 0..members.len() {
                let (m, s) = members[(next + step) % members.len()];
                if s.topics.contains(&tp.topic) {
                    if let Some(v) = out.get_mut(m) {
                        v.push(tp);
                    }
                    next = (next + step + 1) % members.len();
                    break;
                }
            }
        }
        out
    }
}

/// The partitions each member claims to own and may keep: they must still exist and be
/// subscribed; a partition claimed by several members goes to the highest generation.
fn previous_owners(
    partitions_per_topic: &BTreeMap<String, i32>,
    subscriptions: &BTreeMap<String, MemberSubscription>,
) -> BTreeMap<TopicPartition, String> {
    let mut owner: BTreeMap<TopicPartition, (i32, String)> = BTreeMap::new();
    for (m, s) in subscriptions {
        let (owned, generation) = if s.owned_partitions.is_empty() {
            match s.user_data.as_deref().map(decode_sticky_user_data) {
                Some(Ok((owned, g))) => (owned, g.max(s.generation)),
                _ => (Vec::new(), s.generation),
            }
        } else {
            (s.owned_partitions.clone(), s.generation)
        };
        for tp in owned {
            let exists = partitions_per_topic
                .get(&tp.topic)
                .is_some_and(|&n| tp.partition >= 0 && tp.partition < n);
            if !exists || !s.topics.contains(&tp.topic) {
                continue;
            }
            match owner.get(&tp) {
                Some((g, _)) if *g >= generation => {}
                _ => {
                    owner.insert(tp, (generation, m.clone()));
                }
            }
        }
    }
    owner.into_iter().map(|(tp, (_, m))| (tp, m)).collect()
}

/// The sticky algorithm shared by `sticky` and `cooperative-sticky`: every member keeps what
/// it owned up to its fair share (ceil of partitions over the members eligible for them),
/// unowned partitions go to the least loaded eligible member, then partitions move from the
/// most to the least loaded eligible member until the counts differ by at most one.
fn sticky_assign(
    partitions_per_topic: &BTreeMap<String, i32>,
    subscriptions: &BTreeMap<String, MemberSubscription>,
) -> GroupAssignment {
    let mut out = empty_result(subscriptions);
    if subscriptions.is_empty() {
        return out;
    }
    let all = all_partitions(partitions_per_topic, subscriptions);
    let eligible = |m: &str, tp: &TopicPartition| {
        subscriptions
            .get(m)
            .is_some_and(|s| s.topics.contains(&tp.topic))
    };
    let quota = all.len().div_ceil(subscriptions.len()).max(1);
    let owners = previous_owners(partitions_per_topic, subscriptions);
    let mut unassigned = Vec::new();
    for tp in &all {
        match owners.get(tp) {
            Some(m) if out.get(m).is_some_and(|v| v.len() < quota) => {
                if let Some(v) = out.get_mut(m) {
                    v.push(tp.clone());
                }
            }
            _ => unassigned.push(tp.clone()),
        }
    }
    for tp in unassigned {
        let target = out
            .iter()
            .filter(|(m, _)| eligible(m, &tp))
            .min_by_key(|(m, v)| (v.len(), (*m).clone()))
            .map(|(m, _)| m.clone());
        if let Some(m) = target {
            if let Some(v) = out.get_mut(&m) {
                v.push(tp);
            }
        }
    }
    // Balance: bounded by the number of partitions (each move lowers the spread).
    for _ in 0..all.len() * 2 {
        let mut moved = false;
        let mut by_load: Vec<(String, usize)> =
            out.iter().map(|(m, v)| (m.clone(), v.len())).collect();
        by_load.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        'outer: for (from, from_len) in &by_load {
            for (to, to_len) in by_load.iter().rev() {
                if from_len <= &(to_len + 1) {
                    break;
                }
                let candidate = out[from].iter().rposition(|tp| eligible(to, tp));
                if let Some(i) = candidate {
                    let tp = out.get_mut(from).map(|v| v.remove(i));
                    if let (Some(tp), Some(v)) = (tp, out.get_mut(to)) {
                        v.push(tp);
                        moved = true;
                        break 'outer;
                    }
                }
            }
        }
        if !moved {
            break;
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// Kafka's StickyAssignor (eager): balanced, keeping as many previous partitions as possible.
/// Carries the previous assignment in StickyAssignorUserData, as Kafka does.
pub struct StickyAssignor;

impl PartitionAssignor for StickyAssignor {
    fn name(&self) -> &str {
        "sticky"
    }
    fn user_data(&self, owned: &[TopicPartition], generation: i32) -> Option<Bytes> {
        Some(encode_sticky_user_data(owned, generation))
    }
    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        subscriptions: &BTreeMap<String, MemberSubscription>,
    ) -> GroupAssignment {
        sticky_assign(partitions_per_topic, subscriptions)
    }
}

/// Kafka's CooperativeStickyAssignor: the sticky target, minus every partition that another
/// member still owns — that member revokes it first and the follow-up rebalance hands it over.
pub struct CooperativeStickyAssignor;

impl PartitionAssignor for CooperativeStickyAssignor {
    fn name(&self) -> &str {
        "cooperative-sticky"
    }
    fn supports(&self, _protocol: RebalanceProtocol) -> bool {
        true
    }
    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        subscriptions: &BTreeMap<String, MemberSubscription>,
    ) -> GroupAssignment {
        let mut target = sticky_assign(partitions_per_topic, subscriptions);
        let owners = previous_owners(partitions_per_topic, subscriptions);
        for (m, v) in target.iter_mut() {
            v.retain(|tp| owners.get(tp).is_none_or(|o| o == m));
        }
        target
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(topics: &[&str], owned: &[(&str, i32)], generation: i32) -> MemberSubscription {
        MemberSubscription {
            topics: topics.iter().map(|t| t.to_string()).collect(),
            user_data: None,
            owned_partitions: owned
                .iter()
                .map(|(t, p)| TopicPartition::new(*t, *p))
                .collect(),
            generation,
        }
    }

    fn counts(v: &[(&str, i32)]) -> BTreeMap<String, i32> {
        v.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    fn assert_complete_and_balanced(a: &GroupAssignment, total: usize) {
        let mut seen = BTreeSet::new();
        for v in a.values() {
            for tp in v {
                assert!(seen.insert(tp.clone()), "{tp} assigned twice");
            }
        }
        assert_eq!(seen.len(), total, "every partition assigned once");
        let max = a.values().map(Vec::len).max().unwrap_or(0);
        let min = a.values().map(Vec::len).min().unwrap_or(0);
        assert!(max - min <= 1, "unbalanced: {a:?}");
    }

    #[test]
    fn range_extra_partitions_go_to_the_first_members() {
        let s = BTreeMap::from([
            ("c2".to_string(), sub(&["t"], &[], -1)),
            ("c1".to_string(), sub(&["t"], &[], -1)),
            ("c3".to_string(), sub(&["t"], &[], -1)),
        ]);
        let a = RangeAssignor.assign(&counts(&[("t", 7)]), &s);
        let ps = |m: &str| a[m].iter().map(|tp| tp.partition).collect::<Vec<_>>();
        assert_eq!(ps("c1"), vec![0, 1, 2]);
        assert_eq!(ps("c2"), vec![3, 4]);
        assert_eq!(ps("c3"), vec![5, 6]);
    }

    #[test]
    fn roundrobin_deals_in_turn_and_respects_subscriptions() {
        let s = BTreeMap::from([
            ("a".to_string(), sub(&["x", "y"], &[], -1)),
            ("b".to_string(), sub(&["x"], &[], -1)),
        ]);
        let a = RoundRobinAssignor.assign(&counts(&[("x", 3), ("y", 2)]), &s);
        let names = |m: &str| a[m].iter().map(|tp| tp.to_string()).collect::<Vec<_>>();
        assert_eq!(names("a"), vec!["x-0", "x-2", "y-0", "y-1"]);
        assert_eq!(names("b"), vec!["x-1"]);
        let even = BTreeMap::from([
            ("a".to_string(), sub(&["x"], &[], -1)),
            ("b".to_string(), sub(&["x"], &[], -1)),
            ("c".to_string(), sub(&["x"], &[], -1)),
        ]);
        assert_complete_and_balanced(&RoundRobinAssignor.assign(&counts(&[("x", 8)]), &even), 8);
    }

    #[test]
    fn sticky_is_balanced_and_keeps_previous_partitions() {
        // a owned everything; b joins: a keeps 3 of its partitions, b gets the other 3.
        let owned: Vec<(&str, i32)> = (0..6).map(|p| ("t", p)).collect();
        let s = BTreeMap::from([
            ("a".to_string(), sub(&["t"], &owned, 3)),
            ("b".to_string(), sub(&["t"], &[], -1)),
        ]);
        let a = StickyAssignor.assign(&counts(&[("t", 6)]), &s);
        assert_complete_and_balanced(&a, 6);
        let a_parts: BTreeSet<i32> = a["a"].iter().map(|tp| tp.partition).collect();
        assert_eq!(a_parts.len(), 3);
        // Three members, one leaves: the survivors keep everything they had.
        let s3 = BTreeMap::from([
            ("a".to_string(), sub(&["t"], &[("t", 0), ("t", 3)], 5)),
            ("c".to_string(), sub(&["t"], &[("t", 2), ("t", 5)], 5)),
        ]);
        let a = StickyAssignor.assign(&counts(&[("t", 6)]), &s3);
        assert_complete_and_balanced(&a, 6);
        for (m, had) in [("a", [0, 3]), ("c", [2, 5])] {
            for p in had {
                assert!(
                    a[m].contains(&TopicPartition::new("t", p)),
                    "{m} lost t-{p}"
                );
            }
        }
    }

    #[test]
    fn sticky_reads_previous_assignment_from_user_data() {
        let mut a_sub = sub(&["t"], &[], -1);
        a_sub.user_data = StickyAssignor.user_data(&[TopicPartition::new("t", 3)], 2);
        let s = BTreeMap::from([
            ("a".to_string(), a_sub),
            ("b".to_string(), sub(&["t"], &[], -1)),
        ]);
        let a = StickyAssignor.assign(&counts(&[("t", 4)]), &s);
        assert!(a["a"].contains(&TopicPartition::new("t", 3)));
        assert_complete_and_balanced(&a, 4);
    }

    #[test]
    fn cooperative_withholds_partitions_still_owned_elsewhere() {
        // a owns all 4; b joins. First round: a keeps 2, b gets nothing yet (the 2 that move
        // are still owned by a, which must revoke them first).
        let owned: Vec<(&str, i32)> = (0..4).map(|p| ("t", p)).collect();
        let s = BTreeMap::from([
            ("a".to_string(), sub(&["t"], &owned, 1)),
            ("b".to_string(), sub(&["t"], &[], -1)),
        ]);
        let first = CooperativeStickyAssignor.assign(&counts(&[("t", 4)]), &s);
        assert_eq!(first["a"].len(), 2);
        assert!(first["b"].is_empty());
        // a revoked only the moved partitions; second round: b gets exactly those.
        let kept: Vec<(String, i32)> = first["a"]
            .iter()
            .map(|tp| (tp.topic.clone(), tp.partition))
            .collect();
        let kept_ref: Vec<(&str, i32)> = kept.iter().map(|(t, p)| (t.as_str(), *p)).collect();
        let s2 = BTreeMap::from([
            ("a".to_string(), sub(&["t"], &kept_ref, 2)),
            ("b".to_string(), sub(&["t"], &[], -1)),
        ]);
        let second = CooperativeStickyAssignor.assign(&counts(&[("t", 4)]), &s2);
        assert_eq!(second["a"], first["a"], "a keeps its partitions");
        assert_complete_and_balanced(&second, 4);
    }

    #[test]
    fn conflicting_claims_go_to_the_newest_generation() {
        let s = BTreeMap::from([
            ("a".to_string(), sub(&["t"], &[("t", 0)], 1)),
            ("b".to_string(), sub(&["t"], &[("t", 0)], 4)),
        ]);
        let a = CooperativeStickyAssignor.assign(&counts(&[("t", 2)]), &s);
        assert_eq!(a["b"], vec![TopicPartition::new("t", 0)]);
        assert_eq!(a["a"], vec![TopicPartition::new("t", 1)]);
    }

    #[test]
    fn names_and_class_names() {
        for (n, want) in [
            ("range", "range"),
            (
                "org.apache.kafka.clients.consumer.RoundRobinAssignor",
                "roundrobin",
            ),
            ("sticky", "sticky"),
            (
                "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
                "cooperative-sticky",
            ),
        ] {
            assert_eq!(assignor_by_name(n).unwrap().name(), want);
        }
        assert!(assignor_by_name("uniform").is_none());
    }
}
