//! Synchronous sends: await each record's acknowledgement before sending the next.
//! Run: `cargo run -p sluice-client --example producer_demo_sync [bootstrap]`.

use std::time::Duration;

use sluice_client::{Producer, ProducerConfig, ProducerRecord};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bootstrap = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("BOOTSTRAP").ok())
        .unwrap_or_else(|| "localhost:9092".into());
    let producer = Producer::new(ProducerConfig::new(bootstrap)).await?;
    for i in 0..5 {
        // First await: queued (may wait for metadata/buffer). Second: acknowledged.
        let md = producer
            .send(ProducerRecord::new("demo", format!("sync {i}")))
            .await
            .await?;
        println!("written at {}-{}@{}", md.topic, md.partition, md.offset);
    }
    producer.close(Duration::from_secs(5)).await;
    Ok(())
}
