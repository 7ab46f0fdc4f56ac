//! Keyed records: the same key always goes to the same partition (murmur2, as Java), so
//! records of one key stay in order. Uses the typed producer with String keys and values.
//! Run: `cargo run -p sluice-client --example producer_demo_keys [bootstrap]`.

use std::time::Duration;

use sluice_client::{ProducerConfig, ProducerRecord, TypedProducer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bootstrap = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("BOOTSTRAP").ok())
        .unwrap_or_else(|| "localhost:9092".into());
    let producer = TypedProducer::<String, String>::new(ProducerConfig::new(bootstrap)).await?;
    for round in 0..3 {
        for user in ["alice", "bob", "carol"] {
            let record = ProducerRecord::new("demo-keys", format!("event {round} of {user}"))
                .key(user.to_string());
            let md = producer.send(record).await.await?;
            println!("key={user} partition={} offset={}", md.partition, md.offset);
        }
    }
    producer.close(Duration::from_secs(5)).await;
    Ok(())
}
