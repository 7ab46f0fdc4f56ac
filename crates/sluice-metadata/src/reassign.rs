//! Partition reassignment (KIP-455), as Kafka's KRaft controller does it: pure functions from
//! an image to the partition records that start, complete or cancel a reassignment. The active
//! controller commits them (`sluice-server`'s AlterPartitionReassignments handler, and its
//! AlterPartition path and periodic check for completion). Never touches the network or disk.
//!
//! While a partition moves, its replica list is the target replicas followed by the original
//! replicas being removed, so the new replicas get created and fetch from the leader;
//! `adding_replicas` / `removing_replicas` say which is which. Once every target replica is in
//! the ISR the reassignment completes: replicas = target, ISR = ISR ∩ target, and a leader that
//! is being removed hands over to the first target replica in the ISR (new leader epoch).
//! Cancelling restores the original replicas.

use thiserror::Error;

use crate::cluster::{partition_record, NO_LEADER};
use crate::image::{MetadataImage, PartitionInfo};
use crate::records::MetadataRecord;

/// Why one partition's reassignment request was refused, with Kafka's error codes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReassignError {
    #[error("This server does not host this topic-partition.")]
    UnknownTopicOrPartition,
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    #[error("{0}")]
    InvalidReplicationFactor(String),
    #[error("No ongoing reassignment for this partition.")]
    NoReassignmentInProgress,
}

impl ReassignError {
    pub fn kafka_code(&self) -> i16 {
        match self {
            ReassignError::UnknownTopicOrPartition => 3,
            ReassignError::InvalidReplicaAssignment(_) => 39,
            ReassignError::InvalidReplicationFactor(_) => 38,
            ReassignError::NoReassignmentInProgress => 85,
        }
    }
}

/// Validates a requested replica list as Kafka does for manual assignments: not empty, no
/// broker twice, every broker registered (fenced brokers are allowed; they catch up once back).
pub fn validate_replicas(image: &MetadataImage, replicas: &[i32]) -> Result<(), ReassignError> {
    if replicas.is_empty() {
        return Err(ReassignError::InvalidReplicaAssignment(
            "The manual partition assignment includes an empty replica list.".into(),
        ));
    }
    for (i, b) in replicas.iter().enumerate() {
        if !image.brokers.contains_key(b) {
            return Err(ReassignError::InvalidReplicaAssignment(format!(
                "The manual partition assignment includes broker {b}, but no such broker is registered."
            )));
        }
        if replicas[..i].contains(b) {
            return Err(ReassignError::InvalidReplicaAssignment(format!(
                "The manual partition assignment includes the broker {b} more than once."
            )));
        }
    }
    Ok(())
}

/// AlterPartitionReassignments for one partition: `Some(target)` starts (or replaces) a
/// reassignment, `None` cancels the ongoing one. Returns the partition record to commit (none
/// when nothing changes, e.g. the same target submitted again).
pub fn alter_reassignment(
    image: &MetadataImage,
    topic: &str,
    partition: i32,
    target: Option<&[i32]>,
    allow_replication_factor_change: bool,
) -> Result<Option<MetadataRecord>, ReassignError> {
    let t = image
        .topic(topic)
        .ok_or(ReassignError::UnknownTopicOrPartition)?;
    let p = usize::try_from(partition)
        .ok()
        .and_then(|i| t.partitions.get(i))
        .ok_or(ReassignError::UnknownTopicOrPartition)?;
    let next = match target {
        None => {
            if !p.is_reassigning() {
                return Err(ReassignError::NoReassignmentInProgress);
            }
            revert(image, p)
        }
        Some(target) => {
            validate_replicas(image, target)?;
            if p.is_reassigning() && p.target_replicas() == target {
                return Ok(None);
            }
            let base = if p.is_reassigning() {
                revert(image, p)
            } else {
                p.clone()
            };
            if !allow_replication_factor_change && target.len() != base.replicas.len() {
                return Err(ReassignError::InvalidReplicationFactor(format!(
                    "The replication factor is changed from {} to {} but allowReplicationFactorChange is false.",
                    base.replicas.len(),
                    target.len()
                )));
            }
            let started = start(&base, target);
            maybe_complete(image, &started).unwrap_or(started)
        }
    };
    if next == *p {
        return Ok(None);
    }
    let mut next = next;
    next.partition_epoch = p.partition_epoch + 1;
    Ok(Some(partition_record(t.topic_id, &next)))
}

/// The partition with `target` as its reassignment target: replicas = target followed by the
/// current replicas it removes (Kafka's order), ISR and leader unchanged.
fn start(p: &PartitionInfo, target: &[i32]) -> PartitionInfo {
    let adding: Vec<i32> = target
        .iter()
        .copied()
        .filter(|b| !p.replicas.contains(b))
        .collect();
    let removing: Vec<i32> = p
        .replicas
        .iter()
        .copied()
        .filter(|b| !target.contains(b))
        .collect();
    let mut next = p.clone();
    next.replicas = target
        .iter()
        .copied()
        .chain(removing.iter().copied())
        .collect();
    next.adding_replicas = adding;
    next.removing_replicas = removing;
    if next.adding_replicas.is_empty() && next.removing_replicas.is_empty() {
        // A reordering of the same replicas takes effect at once.
        next.replicas = target.to_vec();
    }
    next
}

/// The partition without its reassignment: the adding replicas leave the replicas and the ISR
/// (Kafka's PartitionReassignmentRevert). A leader among them hands over to the first original
/// replica in the ISR that is live.
fn revert(image: &MetadataImage, p: &PartitionInfo) -> PartitionInfo {
    let mut next = p.clone();
    next.replicas.retain(|b| !p.adding_replicas.contains(b));
    next.isr.retain(|b| !p.adding_replicas.contains(b));
    next.adding_replicas.clear();
    next.removing_replicas.clear();
    if next.isr.is_empty() {
        // Only added replicas were in sync: as Kafka, fall back to an original replica
        // (records written since may be lost, as with an unclean election).
        next.isr = next.replicas.iter().copied().take(1).collect();
    }
    if !next.replicas.contains(&next.leader) {
        next.leader = elect_in(image, &next);
        next.leader_epoch += 1;
    }
    next
}

/// The first replica (preference order) that is in the ISR and live, or none.
fn elect_in(image: &MetadataImage, p: &PartitionInfo) -> i32 {
    p.replicas
        .iter()
        .copied()
        .find(|b| p.isr.contains(b) && image.brokers.get(b).is_some_and(|r| !r.fenced))
        .unwrap_or(NO_LEADER)
}

/// Completes `p`'s reassignment if every target replica is in the ISR: replicas = target,
/// ISR = ISR ∩ target (target order), and a leader being removed is replaced by the first
/// target replica in the ISR (leader epoch bumped). None when there is nothing to complete.
/// The partition epoch is left to the caller.
pub fn maybe_complete(image: &MetadataImage, p: &PartitionInfo) -> Option<PartitionInfo> {
    if !p.is_reassigning() {
        return None;
    }
    let target = p.target_replicas();
    if target.is_empty() || !target.iter().all(|b| p.isr.contains(b)) {
        return None;
    }
    let mut next = p.clone();
    next.isr = target
        .iter()
        .copied()
        .filter(|b| p.isr.contains(b))
        .collect();
    next.replicas = target;
    next.adding_replicas.clear();
    next.removing_replicas.clear();
    if !next.replicas.contains(&next.leader) {
        next.leader = elect_in(image, &next);
        next.leader_epoch += 1;
    }
    Some(next)
}

/// Records completing every reassignment whose targets are all in the ISR (the controller's
/// periodic check; normally an AlterPartition completes them as it happens).
pub fn complete_ready(image: &MetadataImage) -> Vec<MetadataRecord> {
    let mut out = Vec::new();
    for topic in image.topics.values() {
        for p in &topic.partitions {
            if let Some(mut next) = maybe_complete(image, p) {
                next.partition_epoch = p.partition_epoch + 1;
                out.push(partition_record(topic.topic_id, &next));
            }
        }
    }
    out
}

/// One ongoing reassignment, as ListPartitionReassignments reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ongoing {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub adding_replicas: Vec<i32>,
    pub removing_replicas: Vec<i32>,
}

/// Ongoing reassignments, of every partition (`only = None`) or of the named ones (unknown
/// topics and partitions are skipped, as Kafka does).
pub fn list_ongoing(image: &MetadataImage, only: Option<&[(String, Vec<i32>)]>) -> Vec<Ongoing> {
    let mut out = Vec::new();
    for topic in image.topics.values() {
        let wanted: Option<&Vec<i32>> = match only {
            None => None,
            Some(list) => match list.iter().find(|(t, _)| *t == topic.name) {
                Some((_, parts)) => Some(parts),
                None => continue,
            },
        };
        for p in &topic.partitions {
            if !p.is_reassigning() || wanted.is_some_and(|w| !w.contains(&p.partition)) {
                continue;
            }
            out.push(Ongoing {
                topic: topic.name.clone(),
                partition: p.partition,
                replicas: p.replicas.clone(),
                adding_replicas: p.adding_replicas.clone(),
                removing_replicas: p.removing_replicas.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{alter_partition, fence_broker};
    use uuid::Uuid;

    fn image(brokers: &[i32], replicas: &[i32], leader: i32) -> MetadataImage {
        let mut image = MetadataImage::empty();
        let mut records: Vec<MetadataRecord> = brokers
            .iter()
            .map(|b| MetadataRecord::RegisterBroker {
                broker_id: *b,
                incarnation_id: Uuid::nil(),
                epoch: 0,
                endpoints: vec![],
                rack: None,
                fenced: false,
            })
            .collect();
        let topic_id = Uuid::new_v4();
        records.push(MetadataRecord::Topic {
            name: "t".into(),
            topic_id,
        });
        records.push(MetadataRecord::Partition {
            topic_id,
            partition: 0,
            replicas: replicas.to_vec(),
            isr: replicas.to_vec(),
            leader,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: vec![],
            removing_replicas: vec![],
        });
        apply(&mut image, &records);
        image
    }

    fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
        for r in records {
            let off = image.last_offset + 1;
            image.apply(off, r);
        }
    }

    fn part(image: &MetadataImage) -> &PartitionInfo {
        &image.topics["t"].partitions[0]
    }

    fn reassign(image: &mut MetadataImage, target: Option<&[i32]>) -> Result<(), ReassignError> {
        let rec = alter_reassignment(image, "t", 0, target, true)?;
        apply(image, &rec.into_iter().collect::<Vec<_>>());
        Ok(())
    }

    /// The leader adds `follower` to the ISR (what a caught-up follower's fetch triggers),
    /// with the controller completing the reassignment in the same change.
    fn follower_joins_isr(image: &mut MetadataImage, follower: i32) {
        let p = part(image).clone();
        let mut isr = p.isr.clone();
        isr.push(follower);
        let (_, next) = alter_partition(
            image,
            "t",
            0,
            p.leader,
            p.leader_epoch,
            p.partition_epoch,
            &isr,
        )
        .unwrap();
        let topic_id = image.topics["t"].topic_id;
        let next = maybe_complete(image, &next).unwrap_or(next);
        apply(image, &[partition_record(topic_id, &next)]);
    }

    #[test]
    fn move_adds_catches_up_then_completes_and_moves_leadership() {
        let mut img = image(&[1, 2, 3], &[1, 2], 1);
        reassign(&mut img, Some(&[2, 3])).unwrap();
        let p = part(&img);
        assert_eq!(p.replicas, vec![2, 3, 1]);
        assert_eq!(
            (p.adding_replicas.clone(), p.removing_replicas.clone()),
            (vec![3], vec![1])
        );
        assert_eq!(
            (p.leader, p.isr.clone(), p.partition_epoch),
            (1, vec![1, 2], 1)
        );
        assert_eq!(list_ongoing(&img, None).len(), 1);
        // Nothing to complete until 3 is in sync; submitting the same target is a no-op.
        assert!(complete_ready(&img).is_empty());
        assert_eq!(
            alter_reassignment(&img, "t", 0, Some(&[2, 3]), true),
            Ok(None)
        );
        follower_joins_isr(&mut img, 3);
        let p = part(&img);
        assert_eq!(p.replicas, vec![2, 3]);
        assert_eq!(p.isr, vec![2, 3]);
        assert!(!p.is_reassigning());
        // The removed leader handed over to the first target replica in the ISR.
        assert_eq!((p.leader, p.leader_epoch), (2, 1));
        assert!(list_ongoing(&img, None).is_empty());
    }

    #[test]
    fn shrinking_completes_at_once_and_keeps_a_remaining_leader() {
        let mut img = image(&[1, 2, 3], &[1, 2, 3], 1);
        reassign(&mut img, Some(&[1, 3])).unwrap();
        let p = part(&img);
        assert_eq!(
            (p.replicas.clone(), p.isr.clone()),
            (vec![1, 3], vec![1, 3])
        );
        assert_eq!((p.leader, p.leader_epoch), (1, 0));
        assert!(!p.is_reassigning());
        // A pure reordering takes effect at once too.
        reassign(&mut img, Some(&[3, 1])).unwrap();
        assert_eq!(part(&img).replicas, vec![3, 1]);
    }

    #[test]
    fn cancel_restores_the_original_replicas() {
        let mut img = image(&[1, 2, 3, 4], &[1, 2], 1);
        assert_eq!(
            reassign(&mut img, None).unwrap_err(),
            ReassignError::NoReassignmentInProgress
        );
        reassign(&mut img, Some(&[3, 4])).unwrap();
        follower_joins_isr(&mut img, 3);
        assert_eq!(part(&img).isr, vec![3, 1, 2]);
        reassign(&mut img, None).unwrap();
        let p = part(&img);
        assert_eq!(
            (p.replicas.clone(), p.isr.clone()),
            (vec![1, 2], vec![1, 2])
        );
        assert_eq!(p.leader, 1);
        assert!(!p.is_reassigning());
        assert_eq!(reassign(&mut img, None).unwrap_err().kafka_code(), 85);
    }

    #[test]
    fn a_new_target_replaces_the_ongoing_one_from_the_original() {
        let mut img = image(&[1, 2, 3, 4], &[1, 2], 1);
        reassign(&mut img, Some(&[2, 3])).unwrap();
        reassign(&mut img, Some(&[2, 4])).unwrap();
        let p = part(&img);
        assert_eq!(p.replicas, vec![2, 4, 1]);
        assert_eq!(
            (p.adding_replicas.clone(), p.removing_replicas.clone()),
            (vec![4], vec![1])
        );
    }

    #[test]
    fn validation_uses_kafkas_codes() {
        let img = image(&[1, 2, 3], &[1, 2], 1);
        let code = |topic: &str, partition: i32, target: Option<&[i32]>, allow: bool| {
            alter_reassignment(&img, topic, partition, target, allow)
                .unwrap_err()
                .kafka_code()
        };
        assert_eq!(code("nope", 0, Some(&[1]), true), 3);
        assert_eq!(code("t", 1, Some(&[1]), true), 3);
        assert_eq!(code("t", -1, Some(&[1]), true), 3);
        assert_eq!(code("t", 0, Some(&[]), true), 39);
        assert_eq!(code("t", 0, Some(&[1, 1]), true), 39);
        assert_eq!(code("t", 0, Some(&[1, 9]), true), 39);
        assert_eq!(code("t", 0, Some(&[1, 2, 3]), false), 38);
        assert_eq!(code("t", 0, None, true), 85);
        assert!(alter_reassignment(&img, "t", 0, Some(&[1, 2, 3]), true).is_ok());
    }

    #[test]
    fn fencing_during_a_reassignment_keeps_it() {
        let mut img = image(&[1, 2, 3], &[1, 2], 1);
        reassign(&mut img, Some(&[2, 3])).unwrap();
        let recs = fence_broker(&img, 1, |_| false);
        apply(&mut img, &recs);
        let p = part(&img);
        assert_eq!(p.leader, 2);
        assert_eq!(
            (p.adding_replicas.clone(), p.removing_replicas.clone()),
            (vec![3], vec![1])
        );
        // The snapshot of the image carries the reassignment.
        let mut rebuilt = MetadataImage::empty();
        apply(&mut rebuilt, &img.to_records());
        assert_eq!(part(&rebuilt), part(&img));
    }
}
