//! Broker decommissioning (Kafka's UnregisterBroker, KIP-631): removes a broker's registration
//! from the cluster metadata once it is gone for good. As Kafka's controller does, it leaves
//! every ISR (unless it is the last member) and every leadership first, then writes
//! UnregisterBrokerRecord; its replica assignments stay (move them with a reassignment first).
//! A broker that is still running re-registers with its next heartbeat. Pure functions; the
//! active controller commits the records.

use crate::cluster::fence_broker;
use crate::image::MetadataImage;
use crate::records::MetadataRecord;

/// BROKER_ID_NOT_REGISTERED: the broker is not registered.
pub const BROKER_ID_NOT_REGISTERED: i16 = 102;

/// The records that unregister `broker_id`, or Kafka's error code and message.
pub fn unregister_broker(
    image: &MetadataImage,
    broker_id: i32,
    unclean: impl Fn(&str) -> bool,
) -> Result<Vec<MetadataRecord>, (i16, String)> {
    let Some(reg) = image.brokers.get(&broker_id) else {
        return Err((
            BROKER_ID_NOT_REGISTERED,
            format!("Broker ID {broker_id} is not currently registered"),
        ));
    };
    let mut records: Vec<MetadataRecord> = fence_broker(image, broker_id, unclean)
        .into_iter()
        .filter(|r| !matches!(r, MetadataRecord::FenceBroker { .. }))
        .collect();
    records.push(MetadataRecord::UnregisterBroker {
        broker_id,
        epoch: reg.epoch,
    });
    Ok(records)
}

/// Partitions (topic, partition) that still list `broker_id` among their replicas.
pub fn hosted_partitions(image: &MetadataImage, broker_id: i32) -> Vec<(String, i32)> {
    image
        .topics
        .values()
        .flat_map(|t| {
            t.partitions
                .iter()
                .filter(|p| p.replicas.contains(&broker_id))
                .map(|p| (t.name.clone(), p.partition))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn unregistering_moves_leadership_and_removes_the_registration() {
        let mut image = MetadataImage::empty();
        let topic_id = Uuid::new_v4();
        let mut records: Vec<MetadataRecord> = [1, 2]
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
        records.push(MetadataRecord::Topic {
            name: "t".into(),
            topic_id,
        });
        records.push(MetadataRecord::Partition {
            topic_id,
            partition: 0,
            replicas: vec![1, 2],
            isr: vec![1, 2],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: vec![],
            removing_replicas: vec![],
        });
        for r in &records {
            image.apply(image.last_offset + 1, r);
        }
        assert_eq!(hosted_partitions(&image, 1), vec![("t".to_string(), 0)]);
        for r in unregister_broker(&image, 1, |_| false).unwrap() {
            image.apply(image.last_offset + 1, &r);
        }
        assert!(!image.brokers.contains_key(&1));
        let p = &image.topics["t"].partitions[0];
        assert_eq!((p.leader, p.isr.clone(), p.leader_epoch), (2, vec![2], 1));
        let (code, msg) = unregister_broker(&image, 1, |_| false).unwrap_err();
        assert_eq!(code, 102);
        assert_eq!(msg, "Broker ID 1 is not currently registered");
    }
}
