//! consumer_demo_cooperative: `partition.assignment.strategy=cooperative-sticky` with a
//! rebalance listener that prints what is assigned and revoked. Start two of these in the same
//! group: the first one gives up only the partitions that move (incremental rebalance).
//! Stops on Ctrl-C or `--max-seconds`.
//!
//!     cargo run -p sluice-client --example consumer_demo_cooperative -- [BOOTSTRAP]
//!         [--topic T] [--group G] [--max-seconds N]

use std::time::{Duration, Instant};

use sluice_client::consumer::{Consumer, ConsumerConfig};
use sluice_client::{ConsumerRebalanceListener, RebalanceContext, TopicPartition};

struct Printer;

fn names(p: &[TopicPartition]) -> String {
    p.iter()
        .map(|tp| tp.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl ConsumerRebalanceListener for Printer {
    fn on_partitions_assigned(&mut self, p: &[TopicPartition], _: &mut RebalanceContext) {
        println!("assigned: [{}]", names(p));
    }
    fn on_partitions_revoked(&mut self, p: &[TopicPartition], _: &mut RebalanceContext) {
        println!("revoked: [{}]", names(p));
    }
    fn on_partitions_lost(&mut self, p: &[TopicPartition], _: &mut RebalanceContext) {
        println!("lost: [{}]", names(p));
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut bootstrap = std::env::var("BOOTSTRAP").unwrap_or_else(|_| "localhost:9092".into());
    let (mut topic, mut group, mut max_seconds) =
        ("demo".to_string(), "consumer-demo-coop".to_string(), None);
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--topic" => topic = it.next().expect("--topic needs a value"),
            "--group" => group = it.next().expect("--group needs a value"),
            "--max-seconds" => max_seconds = it.next().and_then(|v| v.parse::<u64>().ok()),
            other => bootstrap = other.to_string(),
        }
    }
    let config = ConsumerConfig::from_props([
        ("bootstrap.servers", bootstrap.as_str()),
        ("group.id", group.as_str()),
        ("partition.assignment.strategy", "cooperative-sticky"),
        ("auto.offset.reset", "earliest"),
    ])?;
    let mut consumer = Consumer::new(config).await?;
    consumer
        .subscribe(&[&topic], Some(Box::new(Printer)))
        .await?;
    let stop_at = max_seconds.map(|s| Instant::now() + Duration::from_secs(s));
    let mut count = 0usize;
    while stop_at.is_none_or(|t| Instant::now() < t) {
        tokio::select! {
            r = consumer.poll(Duration::from_millis(500)) => count += r?.len(),
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    consumer.close().await?;
    println!("consumed {count} records");
    Ok(())
}
