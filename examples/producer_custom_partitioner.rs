//! A custom partitioner (Java's `partitioner.class`): "vip-" keys go to partition 0, every
//! other key is hashed over the remaining partitions.
//! Run: `cargo run -p sluice-client --example producer_custom_partitioner [bootstrap]`.

use std::sync::Arc;
use std::time::Duration;

use sluice_client::partition_for_key;
use sluice_client::producer::{Partitioner, TopicPartitions};
use sluice_client::{Producer, ProducerConfig, ProducerRecord};

struct VipPartitioner;

impl Partitioner for VipPartitioner {
    fn partition(&self, key: Option<&[u8]>, _value: Option<&[u8]>, t: &TopicPartitions) -> i32 {
        match key {
            Some(k) if k.starts_with(b"vip-") || t.num_partitions < 2 => 0,
            Some(k) => 1 + partition_for_key(k, t.num_partitions - 1),
            None => 1 + rand_index(t.num_partitions - 1),
        }
    }
}

fn rand_index(n: i32) -> i32 {
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0) as i32)
        .rem_euclid(n.max(1))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bootstrap = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("BOOTSTRAP").ok())
        .unwrap_or_else(|| "localhost:9092".into());
    let config = ProducerConfig::new(bootstrap).with_partitioner(Arc::new(VipPartitioner));
    let producer = Producer::new(config).await?;
    for key in ["vip-ann", "joe", "vip-bea", "max", "sue"] {
        let md = producer
            .send(ProducerRecord::new("demo", "order").key(key))
            .await
            .await?;
        println!("key={key} partition={}", md.partition);
    }
    producer.close(Duration::from_secs(5)).await;
    Ok(())
}
