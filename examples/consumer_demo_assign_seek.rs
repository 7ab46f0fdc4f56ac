//! consumer_demo_assign_seek: no group — assign partition 0 of a topic by hand, seek to an
//! offset (default: 10 before the end), print what follows. Stops on Ctrl-C or `--max-seconds`.
//!
//!     cargo run -p sluice-client --example consumer_demo_assign_seek -- [BOOTSTRAP]
//!         [--topic T] [--partition P] [--offset O] [--max-seconds N]

use std::time::{Duration, Instant};

use sluice_client::consumer::{Consumer, ConsumerConfig};
use sluice_client::TopicPartition;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut bootstrap = std::env::var("BOOTSTRAP").unwrap_or_else(|_| "localhost:9092".into());
    let (mut topic, mut partition, mut offset, mut max_seconds) =
        ("demo".to_string(), 0i32, None::<i64>, None);
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--topic" => topic = it.next().expect("--topic needs a value"),
            "--partition" => partition = it.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            "--offset" => offset = it.next().and_then(|v| v.parse().ok()),
            "--max-seconds" => max_seconds = it.next().and_then(|v| v.parse::<u64>().ok()),
            other => bootstrap = other.to_string(),
        }
    }
    let mut consumer = Consumer::new(ConsumerConfig::new(&bootstrap, None)).await?;
    let tp = TopicPartition::new(topic.as_str(), partition);
    consumer.assign(std::slice::from_ref(&tp)).await?;
    let end = consumer.end_offsets(std::slice::from_ref(&tp)).await?[&tp];
    let start = offset.unwrap_or((end - 10).max(0));
    consumer.seek(&tp, start)?;
    println!("{tp}: end offset {end}, reading from {start}");
    let stop_at = max_seconds.map(|s| Instant::now() + Duration::from_secs(s));
    while stop_at.is_none_or(|t| Instant::now() < t) {
        let records = tokio::select! {
            r = consumer.poll(Duration::from_millis(500)) => r?,
            _ = tokio::signal::ctrl_c() => break,
        };
        for r in &records {
            println!(
                "{}/{} ts={} value={}",
                r.partition,
                r.offset,
                r.timestamp,
                String::from_utf8_lossy(r.value.as_deref().unwrap_or(b""))
            );
        }
    }
    println!("position: {}", consumer.position(&tp).await?);
    consumer.close().await?;
    Ok(())
}
