//! The safe settings spelled out: acks=all, unlimited retries within delivery.timeout.ms and
//! idempotence (no duplicates or reordering on retries). These are the defaults already;
//! setting enable.idempotence=true explicitly makes conflicting settings an error.
//! Run: `cargo run -p sluice-client --example producer_safe [bootstrap]`.

use std::time::Duration;

use sluice_client::{Producer, ProducerConfig, ProducerRecord};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bootstrap = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("BOOTSTRAP").ok())
        .unwrap_or_else(|| "localhost:9092".into());
    let config = ProducerConfig::new(bootstrap)
        .set("acks", "all")?
        .set("enable.idempotence", "true")?
        .set("retries", &i32::MAX.to_string())?
        .set("max.in.flight.requests.per.connection", "5")?
        .set("delivery.timeout.ms", "120000")?;
    let producer = Producer::new(config).await?;
    for i in 0..10 {
        let md = producer
            .send(ProducerRecord::new("demo-safe", format!("payment {i}")).key("account-42"))
            .await
            .await?;
        println!("payment {i} stored at offset {}", md.offset);
    }
    producer.close(Duration::from_secs(10)).await;
    Ok(())
}
