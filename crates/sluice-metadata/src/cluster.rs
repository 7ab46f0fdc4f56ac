//! Controller logic for brokers and partition leadership: registration, fencing and unfencing
//! (with the leader elections they cause), ISR changes requested by partition leaders
//! (AlterPartition) and preferred-leader elections. Pure functions from an image to the records
//! that carry the change out, as in `controller.rs`; the active controller commits them.
//!
//! Kafka's KRaft rules: a fenced broker leads nothing and leaves every ISR it is in (unless it
//! is the last member); a new leader comes from the ISR, and only with
//! `unclean.leader.election.enable` from outside it; every leader change bumps the leader
//! epoch, every change bumps the partition epoch.

use uuid::Uuid;

use crate::image::{MetadataImage, PartitionInfo};
use crate::records::{BrokerEndpoint, MetadataRecord};

/// "No leader" in partition records and Metadata responses.
pub const NO_LEADER: i32 = -1;

/// A broker registering (or re-registering after a restart).
pub struct Registration {
    pub broker_id: i32,
    pub incarnation_id: Uuid,
    pub endpoints: Vec<BrokerEndpoint>,
    pub rack: Option<String>,
}

/// Records for a registration: a new or restarted incarnation is registered fenced with the
/// next metadata offset as its epoch; the same incarnation again writes nothing.
pub fn register_broker(image: &MetadataImage, r: &Registration) -> Vec<MetadataRecord> {
    if let Some(b) = image.brokers.get(&r.broker_id) {
        if b.incarnation_id == r.incarnation_id && b.endpoints == r.endpoints && b.rack == r.rack {
            return Vec::new();
        }
    }
    let mut out = Vec::new();
    // A restarted broker is fenced while it re-registers: move its leaderships first.
    if image.brokers.get(&r.broker_id).is_some_and(|b| !b.fenced) {
        out.extend(fence_broker(image, r.broker_id, |_| false));
    }
    out.push(MetadataRecord::RegisterBroker {
        broker_id: r.broker_id,
        incarnation_id: r.incarnation_id,
        epoch: image.last_offset + 1 + out.len() as i64,
        endpoints: r.endpoints.clone(),
        rack: r.rack.clone(),
        fenced: true,
    });
    out
}

/// The record that sets a partition to `p` (every field, including an ongoing reassignment).
pub fn partition_record(topic_id: Uuid, p: &PartitionInfo) -> MetadataRecord {
    MetadataRecord::Partition {
        topic_id,
        partition: p.partition,
        replicas: p.replicas.clone(),
        isr: p.isr.clone(),
        leader: p.leader,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        adding_replicas: p.adding_replicas.clone(),
        removing_replicas: p.removing_replicas.clone(),
    }
}

/// Fences `broker_id`: it leaves every ISR it is in (unless it is the last member), and
/// partitions it led get a new leader from the remaining ISR (or none). `unclean(topic)` says
/// whether a topic allows an out-of-sync leader. Returns the partition changes followed by the
/// FenceBroker record.
pub fn fence_broker(
    image: &MetadataImage,
    broker_id: i32,
    unclean: impl Fn(&str) -> bool,
) -> Vec<MetadataRecord> {
    let Some(reg) = image.brokers.get(&broker_id) else {
        return Vec::new();
    };
    let live = |b: i32| b != broker_id && image.brokers.get(&b).is_some_and(|r| !r.fenced);
    let mut out = Vec::new();
    for topic in image.topics.values() {
        for p in &topic.partitions {
            if !p.replicas.contains(&broker_id) {
                continue;
            }
            let mut next = p.clone();
            if next.isr.len() > 1 {
                next.isr.retain(|b| *b != broker_id);
            }
            if next.leader == broker_id || next.leader == NO_LEADER {
                next.leader = elect(&next, &live, unclean(&topic.name));
                if next.leader != NO_LEADER && !next.isr.contains(&next.leader) {
                    next.isr = vec![next.leader];
                }
                next.leader_epoch += 1;
            }
            if next != *p {
                next.partition_epoch += 1;
                out.push(partition_record(topic.topic_id, &next));
            }
        }
    }
    out.push(MetadataRecord::FenceBroker {
        broker_id,
        epoch: reg.epoch,
    });
    out
}

/// The leader for a partition: its first replica (preference order) that is in the ISR and
/// live; with `unclean`, else the first live replica at all; else none.
fn elect(p: &PartitionInfo, live: &impl Fn(i32) -> bool, unclean: bool) -> i32 {
    p.replicas
        .iter()
        .copied()
        .find(|b| p.isr.contains(b) && live(*b))
        .or_else(|| {
            unclean
                .then(|| p.replicas.iter().copied().find(|b| live(*b)))
                .flatten()
        })
        .unwrap_or(NO_LEADER)
}

/// Unfences `broker_id` and elects leaders for leaderless partitions it can lead (it is in
/// their ISR, or `unclean(topic)`).
pub fn unfence_broker(
    image: &MetadataImage,
    broker_id: i32,
    unclean: impl Fn(&str) -> bool,
) -> Vec<MetadataRecord> {
    let Some(reg) = image.brokers.get(&broker_id) else {
        return Vec::new();
    };
    let mut out = vec![MetadataRecord::UnfenceBroker {
        broker_id,
        epoch: reg.epoch,
    }];
    let live = |b: i32| b == broker_id || image.brokers.get(&b).is_some_and(|r| !r.fenced);
    for topic in image.topics.values() {
        for p in &topic.partitions {
            if p.leader != NO_LEADER || !p.replicas.contains(&broker_id) {
                continue;
            }
            let mut next = p.clone();
            next.leader = elect(&next, &live, unclean(&topic.name));
            if next.leader == NO_LEADER {
                continue;
            }
            if !next.isr.contains(&next.leader) {
                tracing::warn!(
                    topic = %topic.name,
                    partition = p.partition,
                    leader = next.leader,
                    "unclean leader election: records acknowledged by the old ISR may be lost"
                );
                next.isr = vec![next.leader];
            }
            next.leader_epoch += 1;
            next.partition_epoch += 1;
            out.push(partition_record(topic.topic_id, &next));
        }
    }
    out
}

/// Why an AlterPartition request was refused, with Kafka's error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlterPartitionError {
    UnknownTopicOrPartition,
    /// The requester is not the leader or its leader epoch is stale (FENCED_LEADER_EPOCH).
    FencedLeaderEpoch,
    /// The partition epoch is stale (INVALID_UPDATE_VERSION).
    InvalidUpdateVersion,
    /// The proposed ISR names a replica that is not assigned or is fenced (INELIGIBLE_REPLICA).
    IneligibleReplica,
}

impl AlterPartitionError {
    pub fn kafka_code(self) -> i16 {
        match self {
            AlterPartitionError::UnknownTopicOrPartition => 3,
            AlterPartitionError::FencedLeaderEpoch => 74,
            AlterPartitionError::InvalidUpdateVersion => 95,
            AlterPartitionError::IneligibleReplica => 107,
        }
    }
}

/// A leader's request to change a partition's ISR (Kafka's AlterPartition).
pub fn alter_partition(
    image: &MetadataImage,
    topic: &str,
    partition: i32,
    leader_id: i32,
    leader_epoch: i32,
    partition_epoch: i32,
    new_isr: &[i32],
) -> Result<(MetadataRecord, PartitionInfo), AlterPartitionError> {
    let t = image
        .topic(topic)
        .ok_or(AlterPartitionError::UnknownTopicOrPartition)?;
    let p = t
        .partitions
        .get(partition.max(0) as usize)
        .filter(|_| partition >= 0)
        .ok_or(AlterPartitionError::UnknownTopicOrPartition)?;
    if p.leader != leader_id || p.leader_epoch != leader_epoch {
        return Err(AlterPartitionError::FencedLeaderEpoch);
    }
    if p.partition_epoch != partition_epoch {
        return Err(AlterPartitionError::InvalidUpdateVersion);
    }
    let current: std::collections::BTreeSet<i32> = p.isr.iter().copied().collect();
    let eligible = |b: &i32| {
        p.replicas.contains(b)
            && (current.contains(b) || image.brokers.get(b).is_some_and(|r| !r.fenced))
    };
    if new_isr.is_empty() || !new_isr.contains(&leader_id) || !new_isr.iter().all(eligible) {
        return Err(AlterPartitionError::IneligibleReplica);
    }
    let mut next = p.clone();
    // Keep replica order so ISR prints like Kafka's (assignment order).
    next.isr = p
        .replicas
        .iter()
        .copied()
        .filter(|b| new_isr.contains(b))
        .collect();
    next.partition_epoch += 1;
    Ok((partition_record(t.topic_id, &next), next))
}

/// Preferred-leader election for the given partitions (all when `None`): partitions whose
/// first replica is live, in the ISR and not the leader get it as leader.
pub fn elect_preferred(
    image: &MetadataImage,
    only: Option<&[(String, i32)]>,
) -> Vec<MetadataRecord> {
    let mut out = Vec::new();
    for topic in image.topics.values() {
        for p in &topic.partitions {
            if let Some(only) = only {
                if !only
                    .iter()
                    .any(|(t, n)| *t == topic.name && *n == p.partition)
                {
                    continue;
                }
            }
            let Some(&preferred) = p.replicas.first() else {
                continue;
            };
            let live = image.brokers.get(&preferred).is_some_and(|r| !r.fenced);
            if p.leader == preferred || !live || !p.isr.contains(&preferred) {
                continue;
            }
            let mut next = p.clone();
            next.leader = preferred;
            next.leader_epoch += 1;
            next.partition_epoch += 1;
            out.push(partition_record(topic.topic_id, &next));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_with(brokers: &[i32], replicas: &[i32], isr: &[i32], leader: i32) -> MetadataImage {
        let mut image = MetadataImage::empty();
        let mut off = 0;
        let mut apply = |image: &mut MetadataImage, r: MetadataRecord| {
            image.apply(off, &r);
            off += 1;
        };
        for b in brokers {
            apply(
                &mut image,
                MetadataRecord::RegisterBroker {
                    broker_id: *b,
                    incarnation_id: Uuid::nil(),
                    epoch: 0,
                    endpoints: vec![],
                    rack: None,
                    fenced: false,
                },
            );
        }
        let id = Uuid::new_v4();
        apply(
            &mut image,
            MetadataRecord::Topic {
                name: "t".into(),
                topic_id: id,
            },
        );
        apply(
            &mut image,
            MetadataRecord::Partition {
                topic_id: id,
                partition: 0,
                replicas: replicas.to_vec(),
                isr: isr.to_vec(),
                leader,
                leader_epoch: 0,
                partition_epoch: 0,
                adding_replicas: vec![],
                removing_replicas: vec![],
            },
        );
        image
    }

    fn apply_all(image: &mut MetadataImage, records: &[MetadataRecord]) {
        for r in records {
            let off = image.last_offset + 1;
            image.apply(off, r);
        }
    }

    #[test]
    fn fencing_the_leader_elects_from_the_isr_and_shrinks_it() {
        let mut image = image_with(&[1, 2, 3], &[1, 2, 3], &[1, 2, 3], 1);
        let recs = fence_broker(&image, 1, |_| false);
        apply_all(&mut image, &recs);
        let p = &image.topics["t"].partitions[0];
        assert_eq!(
            (p.leader, p.isr.clone(), p.leader_epoch),
            (2, vec![2, 3], 1)
        );
        assert!(image.brokers[&1].fenced);
        // Fence the rest: the last ISR member stays, no leader.
        let recs = fence_broker(&image, 2, |_| false);
        apply_all(&mut image, &recs);
        let recs = fence_broker(&image, 3, |_| false);
        apply_all(&mut image, &recs);
        let p = &image.topics["t"].partitions[0];
        assert_eq!((p.leader, p.isr.clone()), (NO_LEADER, vec![3]));
        // Broker 1 comes back: not in the ISR, so no clean election...
        let recs = unfence_broker(&image, 1, |_| false);
        apply_all(&mut image, &recs);
        assert_eq!(image.topics["t"].partitions[0].leader, NO_LEADER);
        // ...3 comes back: it is the ISR, it leads.
        let recs = unfence_broker(&image, 3, |_| false);
        apply_all(&mut image, &recs);
        assert_eq!(image.topics["t"].partitions[0].leader, 3);
    }

    #[test]
    fn unclean_election_takes_an_out_of_sync_replica() {
        let mut image = image_with(&[1, 2], &[1, 2], &[1], 1);
        let recs = fence_broker(&image, 1, |_| true);
        apply_all(&mut image, &recs);
        let p = &image.topics["t"].partitions[0];
        assert_eq!((p.leader, p.isr.clone()), (2, vec![2]));
    }

    #[test]
    fn alter_partition_checks_epochs_and_eligibility() {
        let image = image_with(&[1, 2, 3], &[1, 2, 3], &[1, 2, 3], 1);
        assert_eq!(
            alter_partition(&image, "t", 0, 2, 0, 0, &[2]).unwrap_err(),
            AlterPartitionError::FencedLeaderEpoch
        );
        assert_eq!(
            alter_partition(&image, "t", 0, 1, 0, 5, &[1]).unwrap_err(),
            AlterPartitionError::InvalidUpdateVersion
        );
        assert_eq!(
            alter_partition(&image, "t", 0, 1, 0, 0, &[1, 4]).unwrap_err(),
            AlterPartitionError::IneligibleReplica
        );
        let (_, p) = alter_partition(&image, "t", 0, 1, 0, 0, &[3, 1]).unwrap();
        assert_eq!((p.isr, p.partition_epoch), (vec![1, 3], 1));
    }

    #[test]
    fn preferred_election_moves_leadership_back() {
        let mut image = image_with(&[1, 2], &[1, 2], &[1, 2], 2);
        let recs = elect_preferred(&image, None);
        apply_all(&mut image, &recs);
        assert_eq!(image.topics["t"].partitions[0].leader, 1);
        assert!(elect_preferred(&image, None).is_empty());
    }
}
