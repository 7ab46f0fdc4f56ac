//! Controller logic: validates admin operations against the image and produces the metadata
//! records that carry them out (topic creation with replica placement, partition increases,
//! deletion, config changes, producer id blocks). Pure functions: committing is the caller's job.

use std::collections::BTreeMap;

use rand::Rng;
use thiserror::Error;
use uuid::Uuid;

use crate::image::MetadataImage;
use crate::records::{MetadataRecord, RESOURCE_TOPIC};

/// Errors with the Kafka error code each maps to.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ControllerError {
    #[error("Topic '{0}' already exists.")]
    TopicAlreadyExists(String),
    #[error("{0}")]
    InvalidTopic(String),
    #[error("{0}")]
    InvalidPartitions(String),
    #[error("{0}")]
    InvalidReplicationFactor(String),
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    #[error("This server does not host this topic-partition.")]
    UnknownTopic,
}

impl ControllerError {
    pub fn kafka_code(&self) -> i16 {
        match self {
            ControllerError::TopicAlreadyExists(_) => 36,
            ControllerError::InvalidTopic(_) => 17,
            ControllerError::InvalidPartitions(_) => 37,
            ControllerError::InvalidReplicationFactor(_) => 38,
            ControllerError::InvalidReplicaAssignment(_) => 39,
            ControllerError::UnknownTopic => 3,
        }
    }
}

/// Kafka's topic name rules: 1..=249 chars of [a-zA-Z0-9._-], not "." or "..".
pub fn validate_topic_name(name: &str) -> Result<(), ControllerError> {
    if name.is_empty() {
        return Err(ControllerError::InvalidTopic(
            "Topic name is illegal, it can't be empty".into(),
        ));
    }
    if name == "." || name == ".." {
        return Err(ControllerError::InvalidTopic(
            "Topic name cannot be \".\" or \"..\"".into(),
        ));
    }
    if name.len() > 249 {
        return Err(ControllerError::InvalidTopic(format!(
            "Topic name is illegal, it can't be longer than 249 characters, topic name: {name}"
        )));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
    {
        return Err(ControllerError::InvalidTopic(format!(
            "Topic name {name} is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        )));
    }
    Ok(())
}

/// Replica placement as Kafka's (rack-unaware) assignment: round-robin from a random start,
/// with followers shifted so leaders and followers spread evenly.
pub fn assign_replicas(
    brokers: &[i32],
    partitions: i32,
    replication_factor: i16,
    first_partition: i32,
) -> Vec<Vec<i32>> {
    let n = brokers.len();
    if n == 0 {
        return Vec::new();
    }
    let mut sorted = brokers.to_vec();
    sorted.sort_unstable();
    let mut rng = rand::rng();
    let start = rng.random_range(0..n);
    let mut shift = rng.random_range(0..n);
    let mut out = Vec::with_capacity(partitions.max(0) as usize);
    for i in 0..partitions.max(0) as usize {
        let p = first_partition as usize + i;
        if p > 0 && p.is_multiple_of(n) {
            shift += 1;
        }
        let first = (p + start) % n;
        let mut replicas = vec![sorted[first]];
        for j in 0..(replication_factor.max(1) as usize - 1) {
            let step = 1 + (shift + j) % (n - 1).max(1);
            replicas.push(sorted[(first + step) % n]);
        }
        out.push(replicas);
    }
    out
}

/// Placement for new partitions on `brokers`: rack-aware (as Kafka's
/// `assignReplicasToBrokersRackAware`) when every one of them has a `broker.rack` in the image,
/// else `assign_replicas`.
pub fn place_replicas(
    image: &MetadataImage,
    brokers: &[i32],
    partitions: i32,
    replication_factor: i16,
    first_partition: i32,
) -> Vec<Vec<i32>> {
    let racks: Option<Vec<(i32, String)>> = brokers
        .iter()
        .map(|b| {
            image
                .brokers
                .get(b)
                .and_then(|r| r.rack.clone())
                .map(|rack| (*b, rack))
        })
        .collect();
    match racks {
        Some(racks) if !racks.is_empty() => {
            assign_replicas_rack_aware(&racks, partitions, replication_factor, first_partition)
        }
        _ => assign_replicas(brokers, partitions, replication_factor, first_partition),
    }
}

/// Kafka's rack-aware assignment: brokers are listed alternating between racks (racks and the
/// brokers in each sorted), leaders go round-robin over that list from a random start, and each
/// further replica takes the next broker (shifted as in `assign_replicas`) on a rack that has
/// no replica of the partition yet (any rack once every rack has one), never the same broker
/// twice. Every partition thus spans min(replication factor, racks) racks.
pub fn assign_replicas_rack_aware(
    brokers: &[(i32, String)],
    partitions: i32,
    replication_factor: i16,
    first_partition: i32,
) -> Vec<Vec<i32>> {
    let n = brokers.len();
    if n == 0 {
        return Vec::new();
    }
    let mut by_rack: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (b, rack) in brokers {
        by_rack.entry(rack.as_str()).or_default().push(*b);
    }
    for list in by_rack.values_mut() {
        list.sort_unstable();
    }
    let num_racks = by_rack.len();
    let mut arranged = Vec::with_capacity(n);
    for i in 0..by_rack.values().map(Vec::len).max().unwrap_or(0) {
        arranged.extend(by_rack.values().filter_map(|l| l.get(i).copied()));
    }
    let rack_of: BTreeMap<i32, &str> = brokers.iter().map(|(b, r)| (*b, r.as_str())).collect();
    let mut rng = rand::rng();
    let start = rng.random_range(0..n);
    let mut shift = rng.random_range(0..n);
    let rf = (replication_factor.max(1) as usize).min(n);
    let mut out = Vec::with_capacity(partitions.max(0) as usize);
    for i in 0..partitions.max(0) as usize {
        let p = first_partition as usize + i;
        if p > 0 && p.is_multiple_of(n) {
            shift += 1;
        }
        let first = (p + start) % n;
        let leader = arranged[first];
        let mut replicas = vec![leader];
        let mut racks_used = vec![rack_of[&leader]];
        let mut k = 0usize;
        while replicas.len() < rf {
            let step = 1 + (shift * num_racks + k) % (n - 1).max(1);
            let b = arranged[(first + step) % n];
            let rack = rack_of[&b];
            k += 1;
            let rack_ok = !racks_used.contains(&rack) || racks_used.len() == num_racks;
            if rack_ok && !replicas.contains(&b) {
                replicas.push(b);
                if !racks_used.contains(&rack) {
                    racks_used.push(rack);
                }
            }
            if k > 4 * n * n {
                // Unreachable with distinct brokers; keeps the loop bounded regardless.
                break;
            }
        }
        out.push(replicas);
    }
    out
}

/// A created topic: its id, replica assignment and the records that create it.
pub type CreatedTopic = (Uuid, Vec<Vec<i32>>, Vec<MetadataRecord>);

/// A validated CreateTopics entry.
pub struct NewTopic<'a> {
    pub name: &'a str,
    pub num_partitions: i32,
    pub replication_factor: i16,
    /// Explicit assignment (partition → replicas); overrides the two fields above.
    pub assignments: Option<Vec<Vec<i32>>>,
    pub configs: BTreeMap<String, String>,
}

pub fn create_topic(
    image: &MetadataImage,
    live_brokers: &[i32],
    t: &NewTopic<'_>,
) -> Result<CreatedTopic, ControllerError> {
    validate_topic_name(t.name)?;
    if image.topic(t.name).is_some() {
        return Err(ControllerError::TopicAlreadyExists(t.name.to_string()));
    }
    let assignment = match &t.assignments {
        Some(a) => {
            if a.is_empty() {
                return Err(ControllerError::InvalidReplicaAssignment(
                    "Replica assignment must not be empty.".into(),
                ));
            }
            let rf = a[0].len();
            for (p, replicas) in a.iter().enumerate() {
                if replicas.is_empty() || replicas.len() != rf {
                    return Err(ControllerError::InvalidReplicaAssignment(format!(
                        "All partitions should have the same number of replicas; partition {p} has {}",
                        replicas.len()
                    )));
                }
                let mut seen = replicas.clone();
                seen.sort_unstable();
                seen.dedup();
                if seen.len() != replicas.len() {
                    return Err(ControllerError::InvalidReplicaAssignment(format!(
                        "Duplicate brokers not allowed in replica assignment: {replicas:?} for partition {p}"
                    )));
                }
                if let Some(b) = replicas.iter().find(|b| !live_brokers.contains(b)) {
                    return Err(ControllerError::InvalidReplicaAssignment(format!(
                        "Unknown broker id {b} in replica assignment for partition {p}"
                    )));
                }
            }
            a.clone()
        }
        None => {
            if t.num_partitions < 1 {
                return Err(ControllerError::InvalidPartitions(
                    "Number of partitions must be larger than 0.".into(),
                ));
            }
            if t.replication_factor < 1 {
                return Err(ControllerError::InvalidReplicationFactor(
                    "Replication factor must be larger than 0.".into(),
                ));
            }
            if t.replication_factor as usize > live_brokers.len() {
                return Err(ControllerError::InvalidReplicationFactor(format!(
                    "Unable to replicate the partition {} time(s): The target replication factor of {} cannot be reached because only {} broker(s) are registered.",
                    t.replication_factor, t.replication_factor, live_brokers.len()
                )));
            }
            place_replicas(
                image,
                live_brokers,
                t.num_partitions,
                t.replication_factor,
                0,
            )
        }
    };
    let topic_id = Uuid::new_v4();
    let mut records = vec![MetadataRecord::Topic {
        name: t.name.to_string(),
        topic_id,
    }];
    for (k, v) in &t.configs {
        records.push(MetadataRecord::Config {
            resource_type: RESOURCE_TOPIC,
            resource_name: t.name.to_string(),
            name: k.clone(),
            value: Some(v.clone()),
        });
    }
    records.extend(partition_records(topic_id, 0, &assignment));
    Ok((topic_id, assignment, records))
}

fn partition_records(topic_id: Uuid, first: i32, assignment: &[Vec<i32>]) -> Vec<MetadataRecord> {
    assignment
        .iter()
        .enumerate()
        .map(|(i, replicas)| MetadataRecord::Partition {
            topic_id,
            partition: first + i as i32,
            replicas: replicas.clone(),
            isr: replicas.clone(),
            leader: replicas[0],
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        })
        .collect()
}

/// CreatePartitions: raise the partition count of `name` to `count`.
pub fn create_partitions(
    image: &MetadataImage,
    live_brokers: &[i32],
    name: &str,
    count: i32,
    assignments: Option<Vec<Vec<i32>>>,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let topic = image.topic(name).ok_or(ControllerError::UnknownTopic)?;
    let current = topic.partitions.len() as i32;
    if count < current {
        return Err(ControllerError::InvalidPartitions(format!(
            "Topic currently has {current} partitions, which is higher than the requested {count}."
        )));
    }
    if count == current {
        return Err(ControllerError::InvalidPartitions(format!(
            "Topic already has {current} partitions."
        )));
    }
    let rf = topic
        .partitions
        .first()
        .map(|p| p.target_replicas().len())
        .unwrap_or(1) as i16;
    let new = match assignments {
        Some(a) => {
            if a.len() as i32 != count - current {
                return Err(ControllerError::InvalidReplicaAssignment(format!(
                    "Increasing the number of partitions by {} but {} assignments provided.",
                    count - current,
                    a.len()
                )));
            }
            a
        }
        None => {
            if rf as usize > live_brokers.len() {
                return Err(ControllerError::InvalidReplicationFactor(format!(
                    "Unable to replicate the partition {rf} time(s): only {} broker(s) are registered.",
                    live_brokers.len()
                )));
            }
            place_replicas(image, live_brokers, count - current, rf, current)
        }
    };
    Ok(partition_records(topic.topic_id, current, &new))
}

pub fn delete_topic(image: &MetadataImage, name: &str) -> Result<MetadataRecord, ControllerError> {
    let topic = image.topic(name).ok_or(ControllerError::UnknownTopic)?;
    Ok(MetadataRecord::RemoveTopic {
        topic_id: topic.topic_id,
    })
}

/// Reserves a block of producer ids; returns the first id and the record to commit.
pub fn allocate_producer_ids(
    image: &MetadataImage,
    broker_id: i32,
    block: i64,
) -> (i64, MetadataRecord) {
    let first = image.next_producer_id;
    (
        first,
        MetadataRecord::ProducerIds {
            broker_id,
            next_producer_id: first + block,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rack_aware_placement_spans_racks_and_spreads_leaders() {
        let racks = |spec: &[(i32, &str)]| -> Vec<(i32, String)> {
            spec.iter().map(|(b, r)| (*b, r.to_string())).collect()
        };
        // 6 brokers on 3 racks, RF=3: every partition on 3 racks, 3 distinct brokers.
        let brokers = racks(&[(1, "a"), (2, "a"), (3, "b"), (4, "b"), (5, "c"), (6, "c")]);
        let rack_of: BTreeMap<i32, String> = brokers.iter().cloned().collect();
        for _ in 0..20 {
            let a = assign_replicas_rack_aware(&brokers, 12, 3, 0);
            assert_eq!(a.len(), 12);
            let mut leaders = BTreeMap::<i32, usize>::new();
            for r in &a {
                let mut rs: Vec<&String> = r.iter().map(|b| &rack_of[b]).collect();
                rs.sort();
                rs.dedup();
                assert_eq!(rs.len(), 3, "{r:?} spans 3 racks");
                let mut bs = r.clone();
                bs.sort();
                bs.dedup();
                assert_eq!(bs.len(), 3, "{r:?} repeats a broker");
                *leaders.entry(r[0]).or_default() += 1;
            }
            assert_eq!(leaders.len(), 6, "every broker leads: {leaders:?}");
            assert!(
                leaders.values().all(|c| *c == 2),
                "leaders even: {leaders:?}"
            );
        }
        // Uneven racks (3 on a, 1 on b), RF=2: both racks used by every partition.
        let uneven = racks(&[(1, "a"), (2, "a"), (3, "a"), (4, "b")]);
        for _ in 0..20 {
            for r in assign_replicas_rack_aware(&uneven, 8, 2, 0) {
                assert!(r.contains(&4) && r.len() == 2, "{r:?}");
            }
        }
        // More replicas than racks: racks repeat only after all are used, brokers never.
        let two = racks(&[(1, "a"), (2, "a"), (3, "b"), (4, "b")]);
        for r in assign_replicas_rack_aware(&two, 8, 3, 0) {
            let mut bs = r.clone();
            bs.sort();
            bs.dedup();
            assert_eq!(bs.len(), 3, "{r:?}");
            assert!(
                r.iter().any(|b| *b <= 2) && r.iter().any(|b| *b >= 3),
                "{r:?}"
            );
        }
    }

    #[test]
    fn placement_spreads_leaders_and_never_repeats_a_broker() {
        let a = assign_replicas(&[1, 2, 3], 6, 3, 0);
        assert_eq!(a.len(), 6);
        for r in &a {
            let mut s = r.clone();
            s.sort();
            s.dedup();
            assert_eq!(s.len(), 3);
        }
        for b in 1..=3 {
            assert_eq!(a.iter().filter(|r| r[0] == b).count(), 2);
        }
    }

    #[test]
    fn create_validates_and_rejects_duplicates() {
        let mut image = MetadataImage::empty();
        let t = NewTopic {
            name: "t",
            num_partitions: 2,
            replication_factor: 1,
            assignments: None,
            configs: BTreeMap::new(),
        };
        let (_, _, recs) = create_topic(&image, &[1], &t).unwrap();
        for (i, r) in recs.iter().enumerate() {
            image.apply(i as i64, r);
        }
        assert_eq!(image.topic("t").unwrap().partitions.len(), 2);
        assert_eq!(create_topic(&image, &[1], &t).unwrap_err().kafka_code(), 36);
        let bad_rf = NewTopic {
            name: "u",
            replication_factor: 3,
            ..t
        };
        assert_eq!(
            create_topic(&image, &[1], &bad_rf)
                .unwrap_err()
                .kafka_code(),
            38
        );
        assert!(validate_topic_name("a/b").is_err());
        assert!(validate_topic_name(&"x".repeat(250)).is_err());
        assert_eq!(
            create_partitions(&image, &[1], "t", 1, None)
                .unwrap_err()
                .kafka_code(),
            37
        );
        assert_eq!(
            create_partitions(&image, &[1], "t", 4, None).unwrap().len(),
            2
        );
    }
}
