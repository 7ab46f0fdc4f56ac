//! Fire and forget: send ten records without waiting for each acknowledgement, then flush.
//! Run: `cargo run -p sluice-client --example producer_demo [bootstrap]` against
//! `sluice server start` (bootstrap also from $BOOTSTRAP; default localhost:9092).

use std::time::Duration;

use sluice_client::{Producer, ProducerConfig, ProducerRecord};

fn bootstrap() -> String {
    std::env::args()
        .nth(1)
        .or_else(|| std::env::var("BOOTSTRAP").ok())
        .unwrap_or_else(|| "localhost:9092".into())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let producer = Producer::new(ProducerConfig::new(bootstrap())).await?;
    for i in 0..10 {
        // Dropping the DeliveryFuture = fire and forget; the record is still sent.
        drop(
            producer
                .send(ProducerRecord::new("demo", format!("hello {i}")))
                .await,
        );
    }
    producer.flush().await;
    println!("sent 10 records to topic demo");
    producer.close(Duration::from_secs(5)).await;
    Ok(())
}
