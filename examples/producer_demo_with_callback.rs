//! Asynchronous sends with a callback that prints where each record landed.
//! Run: `cargo run -p sluice-client --example producer_demo_with_callback [bootstrap]`.

use std::time::Duration;

use sluice_client::{Producer, ProducerConfig, ProducerRecord};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bootstrap = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("BOOTSTRAP").ok())
        .unwrap_or_else(|| "localhost:9092".into());
    let producer = Producer::new(ProducerConfig::new(bootstrap)).await?;
    for i in 0..10 {
        let record = ProducerRecord::new("demo", format!("hello {i}"));
        producer
            .send_with_callback(record, |result| match result {
                Ok(md) => println!(
                    "topic={} partition={} offset={} timestamp={}",
                    md.topic, md.partition, md.offset, md.timestamp
                ),
                Err(e) => eprintln!("send failed: {e}"),
            })
            .await;
    }
    producer.flush().await; // every callback has run when flush returns
    producer.close(Duration::from_secs(5)).await;
    Ok(())
}
