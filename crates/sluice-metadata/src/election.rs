//! Leader elections asked for by an admin (Kafka's ElectLeaders) and the automatic preferred
//! leader rebalance of the active controller (`auto.leader.rebalance.enable`). Pure functions
//! from an image to per-partition outcomes and the records that carry them out, as in
//! `cluster.rs`; the active controller commits the records.
//!
//! Kafka's KRaft rules: a PREFERRED election makes the first replica the leader when it is
//! live (unfenced) and in the ISR; it is not needed when that replica already leads. An UNCLEAN
//! election only runs for a partition without a leader: a live ISR member if there is one,
//! else any live replica (which then is the whole ISR — records acknowledged by the old ISR
//! may be lost). A leader change bumps the leader epoch and the partition epoch.

use std::collections::{BTreeMap, BTreeSet};

use crate::cluster::{partition_record, NO_LEADER};
use crate::image::{MetadataImage, PartitionInfo};
use crate::records::MetadataRecord;

/// Kafka's ElectionType (the request's `election_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    Preferred,
    Unclean,
}

impl ElectionType {
    /// From the wire value: 0 preferred, 1 unclean.
    pub fn from_i8(v: i8) -> Option<ElectionType> {
        match v {
            0 => Some(ElectionType::Preferred),
            1 => Some(ElectionType::Unclean),
            _ => None,
        }
    }

    pub fn as_i8(self) -> i8 {
        match self {
            ElectionType::Preferred => 0,
            ElectionType::Unclean => 1,
        }
    }

    /// Kafka's enum name, as its tool prints it.
    pub fn name(self) -> &'static str {
        match self {
            ElectionType::Preferred => "PREFERRED",
            ElectionType::Unclean => "UNCLEAN",
        }
    }
}

/// Why a partition got no new leader, with Kafka's error codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElectionError {
    UnknownTopic(String),
    UnknownPartition(String, i32),
    /// The desired leader already leads (ELECTION_NOT_NEEDED).
    ElectionNotNeeded,
    /// The preferred replica is fenced or out of the ISR (PREFERRED_LEADER_NOT_AVAILABLE).
    PreferredLeaderNotAvailable,
    /// No live replica can lead (ELIGIBLE_LEADERS_NOT_AVAILABLE).
    EligibleLeadersNotAvailable,
}

impl ElectionError {
    pub fn kafka_code(&self) -> i16 {
        match self {
            ElectionError::UnknownTopic(_) | ElectionError::UnknownPartition(..) => 3,
            ElectionError::PreferredLeaderNotAvailable => 80,
            ElectionError::EligibleLeadersNotAvailable => 83,
            ElectionError::ElectionNotNeeded => 84,
        }
    }
}

impl std::fmt::Display for ElectionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ElectionError::UnknownTopic(t) => write!(f, "No such topic as {t}"),
            ElectionError::UnknownPartition(t, p) => write!(f, "No such partition as {t}-{p}"),
            ElectionError::ElectionNotNeeded => {
                f.write_str("Leader election not needed for topic partition.")
            }
            ElectionError::PreferredLeaderNotAvailable => {
                f.write_str("The preferred leader was not available.")
            }
            ElectionError::EligibleLeadersNotAvailable => {
                f.write_str("Eligible topic partition leaders are not available.")
            }
        }
    }
}

/// One partition's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionElection {
    pub topic: String,
    pub partition: i32,
    pub result: Result<(), ElectionError>,
}

/// What an ElectLeaders request does: per-partition outcomes (in topic, partition order) and
/// the partition records of the elections that happen.
#[derive(Debug, Default)]
pub struct Elections {
    pub results: Vec<PartitionElection>,
    pub records: Vec<MetadataRecord>,
}

fn live(image: &MetadataImage, b: i32) -> bool {
    image.brokers.get(&b).is_some_and(|r| !r.fenced)
}

/// The new state of one partition after an election of `kind`, or why there is none.
fn elect_one(
    image: &MetadataImage,
    topic: &str,
    p: &PartitionInfo,
    kind: ElectionType,
) -> Result<PartitionInfo, ElectionError> {
    let mut next = p.clone();
    match kind {
        ElectionType::Preferred => {
            let preferred = *p
                .replicas
                .first()
                .ok_or(ElectionError::PreferredLeaderNotAvailable)?;
            if p.leader == preferred {
                return Err(ElectionError::ElectionNotNeeded);
            }
            if !p.isr.contains(&preferred) || !live(image, preferred) {
                return Err(ElectionError::PreferredLeaderNotAvailable);
            }
            next.leader = preferred;
        }
        ElectionType::Unclean => {
            if p.leader != NO_LEADER {
                return Err(ElectionError::ElectionNotNeeded);
            }
            let clean = p
                .replicas
                .iter()
                .copied()
                .find(|b| p.isr.contains(b) && live(image, *b));
            let leader = match clean {
                Some(b) => b,
                None => {
                    let b = p
                        .replicas
                        .iter()
                        .copied()
                        .find(|b| live(image, *b))
                        .ok_or(ElectionError::EligibleLeadersNotAvailable)?;
                    tracing::warn!(
                        topic,
                        partition = p.partition,
                        leader = b,
                        "unclean leader election: records acknowledged by the old ISR may be lost"
                    );
                    next.isr = vec![b];
                    b
                }
            };
            next.leader = leader;
        }
    }
    next.leader_epoch += 1;
    next.partition_epoch += 1;
    Ok(next)
}

/// Elections of `kind` for the given partitions, or for every partition when `only` is
/// `None` — then, as Kafka, partitions whose election is not needed are left out of the
/// results. Duplicates in `only` are answered once.
pub fn elect_leaders(
    image: &MetadataImage,
    kind: ElectionType,
    only: Option<&[(String, i32)]>,
) -> Elections {
    let mut out = Elections::default();
    let push = |out: &mut Elections, topic: &str, p: &PartitionInfo, all: bool| {
        let Some(t) = image.topics.get(topic) else {
            return;
        };
        let result = elect_one(image, topic, p, kind).map(|next| {
            out.records.push(partition_record(t.topic_id, &next));
        });
        if all && result == Err(ElectionError::ElectionNotNeeded) {
            return;
        }
        out.results.push(PartitionElection {
            topic: topic.to_string(),
            partition: p.partition,
            result,
        });
    };
    match only {
        None => {
            for t in image.topics.values() {
                for p in &t.partitions {
                    push(&mut out, &t.name, p, true);
                }
            }
        }
        Some(only) => {
            let wanted: BTreeSet<(&str, i32)> =
                only.iter().map(|(t, p)| (t.as_str(), *p)).collect();
            for (topic, partition) in wanted {
                let Some(t) = image.topics.get(topic) else {
                    out.results.push(PartitionElection {
                        topic: topic.to_string(),
                        partition,
                        result: Err(ElectionError::UnknownTopic(topic.to_string())),
                    });
                    continue;
                };
                match usize::try_from(partition)
                    .ok()
                    .and_then(|i| t.partitions.get(i))
                {
                    Some(p) => push(&mut out, topic, p, false),
                    None => out.results.push(PartitionElection {
                        topic: topic.to_string(),
                        partition,
                        result: Err(ElectionError::UnknownPartition(
                            topic.to_string(),
                            partition,
                        )),
                    }),
                }
            }
        }
    }
    out
}

/// The partitions the automatic leader rebalance moves back to their preferred leader: for
/// every broker, imbalance = partitions it is the preferred leader of but does not lead,
/// divided by partitions it is the preferred leader of; when that ratio exceeds
/// `percentage`% (`leader.imbalance.per.broker.percentage`), its partitions whose preferred
/// election is possible now (the broker is live and in the ISR).
pub fn imbalanced_partitions(image: &MetadataImage, percentage: i64) -> Vec<(String, i32)> {
    // preferred broker → (partitions it is preferred for, those it does not lead)
    type Tally<'a> = (usize, Vec<(&'a str, &'a PartitionInfo)>);
    let mut per_broker: BTreeMap<i32, Tally> = BTreeMap::new();
    for t in image.topics.values() {
        for p in &t.partitions {
            let Some(&preferred) = p.replicas.first() else {
                continue;
            };
            let e = per_broker.entry(preferred).or_default();
            e.0 += 1;
            if p.leader != preferred {
                e.1.push((&t.name, p));
            }
        }
    }
    let mut out = Vec::new();
    for (broker, (total, off)) in per_broker {
        // ratio > percentage / 100, in integers.
        if off.is_empty() || (off.len() as i64) * 100 <= percentage.max(0) * total as i64 {
            continue;
        }
        for (topic, p) in off {
            if p.isr.contains(&broker) && live(image, broker) {
                out.push((topic.to_string(), p.partition));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    /// Brokers (id, fenced) and partitions of topic "t" as (replicas, isr, leader).
    fn image(brokers: &[(i32, bool)], parts: &[(&[i32], &[i32], i32)]) -> MetadataImage {
        let mut records = Vec::new();
        for (b, fenced) in brokers {
            records.push(MetadataRecord::RegisterBroker {
                broker_id: *b,
                incarnation_id: Uuid::nil(),
                epoch: 0,
                endpoints: vec![],
                rack: None,
                fenced: *fenced,
            });
        }
        let id = Uuid::new_v4();
        records.push(MetadataRecord::Topic {
            name: "t".into(),
            topic_id: id,
        });
        for (i, (replicas, isr, leader)) in parts.iter().enumerate() {
            records.push(MetadataRecord::Partition {
                topic_id: id,
                partition: i as i32,
                replicas: replicas.to_vec(),
                isr: isr.to_vec(),
                leader: *leader,
                leader_epoch: 3,
                partition_epoch: 7,
                adding_replicas: vec![],
                removing_replicas: vec![],
            });
        }
        let mut image = MetadataImage::empty();
        apply(&mut image, &records);
        image
    }

    fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
        for r in records {
            let off = image.last_offset + 1;
            image.apply(off, r);
        }
    }

    fn codes(e: &Elections) -> Vec<(i32, i16)> {
        e.results
            .iter()
            .map(|r| {
                (
                    r.partition,
                    r.result.as_ref().err().map_or(0, |e| e.kafka_code()),
                )
            })
            .collect()
    }

    fn only(parts: &[i32]) -> Vec<(String, i32)> {
        parts.iter().map(|p| ("t".to_string(), *p)).collect()
    }

    #[test]
    fn preferred_election_outcomes() {
        let mut img = image(
            &[(1, false), (2, false), (3, true)],
            &[
                (&[1, 2], &[1, 2], 2), // 0: moves back to 1
                (&[1, 2], &[1, 2], 1), // 1: already led by 1
                (&[1, 2], &[2], 2),    // 2: 1 not in the ISR
                (&[3, 2], &[3, 2], 2), // 3: 3 fenced
            ],
        );
        let e = elect_leaders(&img, ElectionType::Preferred, Some(&only(&[0, 1, 2, 3, 9])));
        assert_eq!(
            codes(&e),
            vec![(0, 0), (1, 84), (2, 80), (3, 80), (9, 3)],
            "{e:?}"
        );
        assert_eq!(e.records.len(), 1);
        apply(&mut img, &e.records);
        let p = &img.topics["t"].partitions[0];
        assert_eq!(
            (p.leader, p.leader_epoch, p.partition_epoch, p.isr.clone()),
            (1, 4, 8, vec![1, 2])
        );
        // Everything: the partitions needing no election are left out.
        let e = elect_leaders(&img, ElectionType::Preferred, None);
        assert_eq!(codes(&e), vec![(2, 80), (3, 80)]);
        assert!(e.records.is_empty());
    }

    #[test]
    fn unknown_topics_and_negative_partitions() {
        let img = image(&[(1, false)], &[(&[1], &[1], 1)]);
        let req = vec![("nope".to_string(), 0), ("t".to_string(), -1)];
        let e = elect_leaders(&img, ElectionType::Preferred, Some(&req));
        let got: Vec<_> = e
            .results
            .iter()
            .map(|r| (r.topic.as_str(), r.partition, r.result.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("nope", 0, Err(ElectionError::UnknownTopic("nope".into()))),
                (
                    "t",
                    -1,
                    Err(ElectionError::UnknownPartition("t".into(), -1))
                ),
            ]
        );
        // Duplicates are answered once.
        let e = elect_leaders(&img, ElectionType::Preferred, Some(&only(&[0, 0])));
        assert_eq!(codes(&e), vec![(0, 84)]);
    }

    #[test]
    fn unclean_election_outcomes() {
        let mut img = image(
            &[(1, true), (2, false), (3, false)],
            &[
                (&[1, 2], &[1], -1),       // 0: ISR member fenced → 2, out of sync
                (&[1, 3, 2], &[1, 2], -1), // 1: 2 is a live ISR member → clean
                (&[1, 2], &[1, 2], 2),     // 2: has a leader
                (&[1], &[1], -1),          // 3: nobody live
            ],
        );
        let e = elect_leaders(&img, ElectionType::Unclean, Some(&only(&[0, 1, 2, 3])));
        assert_eq!(codes(&e), vec![(0, 0), (1, 0), (2, 84), (3, 83)], "{e:?}");
        apply(&mut img, &e.records);
        let ps = &img.topics["t"].partitions;
        assert_eq!((ps[0].leader, ps[0].isr.clone()), (2, vec![2]));
        assert_eq!((ps[1].leader, ps[1].isr.clone()), (2, vec![1, 2]));
        assert_eq!((ps[0].leader_epoch, ps[0].partition_epoch), (4, 8));
        // Unclean for everything leaves out partitions that have a leader.
        let e = elect_leaders(&img, ElectionType::Unclean, None);
        assert_eq!(codes(&e), vec![(3, 83)]);
    }

    #[test]
    fn imbalance_above_the_percentage_triggers_preferred_elections() {
        // Broker 1 prefers 4 partitions and leads 3: 25% imbalance.
        let parts: &[(&[i32], &[i32], i32)] = &[
            (&[1, 2], &[1, 2], 1),
            (&[1, 2], &[1, 2], 1),
            (&[1, 2], &[1, 2], 1),
            (&[1, 2], &[1, 2], 2),
            (&[2, 1], &[2, 1], 2),
        ];
        let img = image(&[(1, false), (2, false)], parts);
        assert_eq!(imbalanced_partitions(&img, 10), vec![("t".to_string(), 3)]);
        assert!(imbalanced_partitions(&img, 25).is_empty(), "not above 25%");
        // Not in the ISR: nothing to do even when imbalanced.
        let img = image(&[(1, false), (2, false)], &[(&[1, 2], &[2], 2)]);
        assert!(imbalanced_partitions(&img, 10).is_empty());
        // Fenced: nothing either.
        let img = image(&[(1, true), (2, false)], &[(&[1, 2], &[1, 2], 2)]);
        assert!(imbalanced_partitions(&img, 10).is_empty());
    }
}
