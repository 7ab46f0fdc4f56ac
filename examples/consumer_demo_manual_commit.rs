//! consumer_demo_manual_commit: `enable.auto.commit=false`; each batch of records is
//! "processed" (printed) and then committed with `commit_sync`, so a restart resumes after the
//! last processed record. Stops on Ctrl-C or `--max-seconds`.
//!
//!     cargo run -p sluice-client --example consumer_demo_manual_commit -- [BOOTSTRAP]
//!         [--topic T] [--group G] [--max-seconds N]

use std::time::{Duration, Instant};

use sluice_client::consumer::{Consumer, ConsumerConfig, OffsetReset};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut bootstrap = std::env::var("BOOTSTRAP").unwrap_or_else(|_| "localhost:9092".into());
    let (mut topic, mut group, mut max_seconds) =
        ("demo".to_string(), "consumer-demo-manual".to_string(), None);
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--topic" => topic = it.next().expect("--topic needs a value"),
            "--group" => group = it.next().expect("--group needs a value"),
            "--max-seconds" => max_seconds = it.next().and_then(|v| v.parse::<u64>().ok()),
            other => bootstrap = other.to_string(),
        }
    }
    let mut config = ConsumerConfig::new(&bootstrap, Some(&group));
    config.enable_auto_commit = false;
    config.auto_offset_reset = OffsetReset::Earliest;
    let mut consumer = Consumer::new(config).await?;
    consumer.subscribe(&[&topic], None).await?;
    let stop_at = max_seconds.map(|s| Instant::now() + Duration::from_secs(s));
    while stop_at.is_none_or(|t| Instant::now() < t) {
        let records = tokio::select! {
            r = consumer.poll(Duration::from_millis(500)) => r?,
            _ = tokio::signal::ctrl_c() => break,
        };
        if records.is_empty() {
            continue;
        }
        for r in &records {
            println!(
                "processed {}-{}/{} ({} bytes)",
                r.topic,
                r.partition,
                r.offset,
                r.serialized_value_size.max(0)
            );
        }
        // Commit the positions after the records just processed.
        consumer.commit_sync(None).await?;
        println!("committed {} records", records.len());
    }
    consumer.close().await?;
    Ok(())
}
