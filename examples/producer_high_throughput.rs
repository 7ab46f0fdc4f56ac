//! Throughput-oriented settings: bigger batches, a longer linger, snappy compression and a
//! 64 MiB buffer; 1,000,000 records sent without waiting, then one flush.
//! Run: `cargo run --release -p sluice-client --example producer_high_throughput [bootstrap]`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use sluice_client::{Producer, ProducerConfig, ProducerRecord};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bootstrap = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("BOOTSTRAP").ok())
        .unwrap_or_else(|| "localhost:9092".into());
    let config = ProducerConfig::new(bootstrap)
        .set("batch.size", "32768")?
        .set("linger.ms", "20")?
        .set("compression.type", "snappy")?
        .set("buffer.memory", &(64 * 1024 * 1024).to_string())?;
    let producer = Producer::new(config).await?;
    let payload = Bytes::from(vec![b'x'; 100]);
    let n = 1_000_000;
    let start = Instant::now();
    for _ in 0..n {
        drop(
            producer
                .send(ProducerRecord::new("demo-throughput", payload.clone()))
                .await,
        );
    }
    producer.flush().await;
    let secs = start.elapsed().as_secs_f64();
    let failed = producer
        .metrics()
        .record_errors
        .load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "{n} records in {secs:.2} s: {:.0} records/s, {failed} failed",
        n as f64 / secs
    );
    producer.close(Duration::from_secs(10)).await;
    Ok(())
}
