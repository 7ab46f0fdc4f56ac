//! Server-side assignors of the KIP-848 consumer protocol (`group.consumer.assignors`):
//! `uniform` (Kafka's default: balanced and sticky — members keep what they had as long as
//! the balance allows, the rest goes to the least loaded eligible member) and `range` (per
//! topic, contiguous ranges over the subscribed members sorted by member id; the first
//! `partitions % members` get one more). Pure functions over member subscriptions, topic
//! partition counts and the previous target assignment; deterministic for equal inputs.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use uuid::Uuid;

/// Partitions per topic id.
pub(crate) type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

pub(crate) const UNIFORM: &str = "uniform";
pub(crate) const RANGE: &str = "range";

/// One member as the assignor sees it.
pub(crate) struct AssignorMember<'a> {
    pub(crate) member_id: &'a str,
    /// Subscribed topics that exist (by id).
    pub(crate) topics: BTreeSet<Uuid>,
}

/// Computes the target assignment of every member with assignor `name` (unknown names fall
/// back to uniform; the coordinator refuses them before they get here).
pub(crate) fn assign(
    name: &str,
    members: &[AssignorMember<'_>],
    partitions: &BTreeMap<Uuid, i32>,
    previous: &HashMap<String, Assignment>,
) -> HashMap<String, Assignment> {
    if name == RANGE {
        range(members, partitions)
    } else {
        uniform(members, partitions, previous)
    }
}

fn range(
    members: &[AssignorMember<'_>],
    partitions: &BTreeMap<Uuid, i32>,
) -> HashMap<String, Assignment> {
    let mut out: HashMap<String, Assignment> = members
        .iter()
        .map(|m| (m.member_id.to_string(), Assignment::new()))
        .collect();
    for (topic, &count) in partitions {
        let mut subscribers: Vec<&str> = members
            .iter()
            .filter(|m| m.topics.contains(topic))
            .map(|m| m.member_id)
            .collect();
        if subscribers.is_empty() || count <= 0 {
            continue;
        }
        subscribers.sort_unstable();
        let n = subscribers.len() as i32;
        let (quota, extra) = (count / n, count % n);
        let mut next = 0;
        for (i, member) in subscribers.iter().enumerate() {
            let take = quota + i32::from((i as i32) < extra);
            if take == 0 {
                continue;
            }
            let set: BTreeSet<i32> = (next..next + take).collect();
            next += take;
            if let Some(a) = out.get_mut(*member) {
                a.insert(*topic, set);
            }
        }
    }
    out
}

fn uniform(
    members: &[AssignorMember<'_>],
    partitions: &BTreeMap<Uuid, i32>,
    previous: &HashMap<String, Assignment>,
) -> HashMap<String, Assignment> {
    let mut sorted: Vec<&AssignorMember<'_>> = members.iter().collect();
    sorted.sort_by_key(|m| m.member_id);
    let all: Vec<(Uuid, i32)> = partitions
        .iter()
        .flat_map(|(t, &n)| (0..n.max(0)).map(move |p| (*t, p)))
        .filter(|(t, _)| sorted.iter().any(|m| m.topics.contains(t)))
        .collect();
    let active = sorted
        .iter()
        .filter(|m| !m.topics.is_empty())
        .count()
        .max(1);
    let min_quota = all.len() / active;
    let mut extra = all.len() % active;
    let mut load: HashMap<&str, usize> = sorted.iter().map(|m| (m.member_id, 0)).collect();
    let mut owner: HashMap<(Uuid, i32), &str> = HashMap::new();
    // Sticky pass: members keep previous partitions still valid, up to their quota; members
    // that had more than the minimum take the `extra` slots first come, first served.
    for m in &sorted {
        let Some(prev) = previous.get(m.member_id) else {
            continue;
        };
        let kept: Vec<(Uuid, i32)> = prev
            .iter()
            .filter(|(t, _)| m.topics.contains(*t))
            .flat_map(|(t, ps)| {
                let n = partitions.get(t).copied().unwrap_or(0);
                ps.iter().filter(move |p| **p < n).map(move |p| (*t, *p))
            })
            .collect();
        let mut cap = min_quota;
        if kept.len() > min_quota && extra > 0 {
            cap += 1;
            extra -= 1;
        }
        for tp in kept.into_iter().take(cap) {
            if owner.contains_key(&tp) {
                continue;
            }
            owner.insert(tp, m.member_id);
            *load.entry(m.member_id).or_default() += 1;
        }
    }
    // Remaining partitions, those with the fewest eligible members first, go to the least
    // loaded eligible member (ties: smallest member id).
    let mut rest: Vec<(Uuid, i32)> = all
        .iter()
        .filter(|tp| !owner.contains_key(*tp))
        .copied()
        .collect();
    let eligible = |t: &Uuid| sorted.iter().filter(|m| m.topics.contains(t)).count();
    rest.sort_by_key(|(t, p)| (eligible(t), *t, *p));
    for tp in rest {
        let best = sorted
            .iter()
            .filter(|m| m.topics.contains(&tp.0))
            .min_by_key(|m| (load.get(m.member_id).copied().unwrap_or(0), m.member_id));
        if let Some(m) = best {
            owner.insert(tp, m.member_id);
            *load.entry(m.member_id).or_default() += 1;
        }
    }
    let mut out: HashMap<String, Assignment> = sorted
        .iter()
        .map(|m| (m.member_id.to_string(), Assignment::new()))
        .collect();
    for ((t, p), m) in owner {
        if let Some(a) = out.get_mut(m) {
            a.entry(t).or_default().insert(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn members<'a>(ids: &[&'a str], topics: &[Uuid]) -> Vec<AssignorMember<'a>> {
        ids.iter()
            .map(|id| AssignorMember {
                member_id: id,
                topics: topics.iter().copied().collect(),
            })
            .collect()
    }

    fn count(a: &Assignment) -> usize {
        a.values().map(BTreeSet::len).sum()
    }

    fn check_exact_cover(out: &HashMap<String, Assignment>, parts: &BTreeMap<Uuid, i32>) {
        let mut seen = BTreeSet::new();
        for a in out.values() {
            for (t, ps) in a {
                for p in ps {
                    assert!(seen.insert((*t, *p)), "partition {t}:{p} assigned twice");
                }
            }
        }
        let expected: usize = parts.values().map(|n| *n as usize).sum();
        assert_eq!(seen.len(), expected);
    }

    #[test]
    fn uniform_is_balanced_and_sticky() {
        let parts = BTreeMap::from([(t(1), 6), (t(2), 1)]);
        let ms = members(&["a", "b", "c"], &[t(1), t(2)]);
        let first = assign(UNIFORM, &ms, &parts, &HashMap::new());
        check_exact_cover(&first, &parts);
        let mut counts: Vec<usize> = first.values().map(count).collect();
        counts.sort_unstable();
        assert_eq!(counts, vec![2, 2, 3]);
        // A fourth member joins: everyone keeps most of what they had.
        let ms4 = members(&["a", "b", "c", "d"], &[t(1), t(2)]);
        let second = assign(UNIFORM, &ms4, &parts, &first);
        check_exact_cover(&second, &parts);
        let mut counts: Vec<usize> = second.values().map(count).collect();
        counts.sort_unstable();
        assert_eq!(counts, vec![1, 2, 2, 2]);
        for id in ["a", "b", "c"] {
            let before = &first[id];
            let after = &second[id];
            for (topic, ps) in after {
                for p in ps {
                    assert!(
                        before.get(topic).is_some_and(|b| b.contains(p)),
                        "{id} got a new partition"
                    );
                }
            }
        }
    }

    #[test]
    fn uniform_respects_subscriptions() {
        let parts = BTreeMap::from([(t(1), 4), (t(2), 4)]);
        let ms = vec![
            AssignorMember {
                member_id: "a",
                topics: [t(1)].into(),
            },
            AssignorMember {
                member_id: "b",
                topics: [t(1), t(2)].into(),
            },
        ];
        let out = assign(UNIFORM, &ms, &parts, &HashMap::new());
        check_exact_cover(&out, &parts);
        assert!(!out["a"].contains_key(&t(2)));
        assert_eq!(count(&out["a"]), 4);
        assert_eq!(count(&out["b"]), 4);
    }

    #[test]
    fn range_gives_contiguous_ranges_per_topic() {
        let parts = BTreeMap::from([(t(1), 5), (t(2), 2)]);
        let ms = members(&["b", "a"], &[t(1), t(2)]);
        let out = assign(RANGE, &ms, &parts, &HashMap::new());
        check_exact_cover(&out, &parts);
        assert_eq!(out["a"][&t(1)], BTreeSet::from([0, 1, 2]));
        assert_eq!(out["b"][&t(1)], BTreeSet::from([3, 4]));
        assert_eq!(out["a"][&t(2)], BTreeSet::from([0]));
        assert_eq!(out["b"][&t(2)], BTreeSet::from([1]));
    }
}
