//! consumer_dump: reads every partition of a topic from the beginning (assign, no group) and
//! prints one JSON line per record with key, value and header values in hex — a byte-exact
//! dump used by the compat tests. Stops after `--expect N` records or `--max-seconds`.
//!
//!     cargo run -p sluice-client --example consumer_dump -- [BOOTSTRAP] --topic T
//!         [--expect N] [--max-seconds N]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use sluice_client::consumer::{Consumer, ConsumerConfig, TimestampType};
use sluice_client::TopicPartition;

fn hex(b: Option<&[u8]>) -> String {
    match b {
        None => "null".into(),
        Some(b) => {
            let mut s = String::with_capacity(b.len() * 2 + 2);
            s.push('"');
            for x in b {
                let _ = write!(s, "{x:02x}");
            }
            s.push('"');
            s
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut bootstrap = std::env::var("BOOTSTRAP").unwrap_or_else(|_| "localhost:9092".into());
    let (mut topic, mut expect, mut max_seconds) = ("demo".to_string(), usize::MAX, 60u64);
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--topic" => topic = it.next().expect("--topic needs a value"),
            "--expect" => expect = it.next().and_then(|v| v.parse().ok()).unwrap_or(usize::MAX),
            "--max-seconds" => max_seconds = it.next().and_then(|v| v.parse().ok()).unwrap_or(60),
            other => bootstrap = other.to_string(),
        }
    }
    let mut consumer = Consumer::new(ConsumerConfig::new(&bootstrap, None)).await?;
    let md = consumer.client().topic_metadata(&topic, true).await?;
    let tps: Vec<TopicPartition> = md
        .partitions
        .iter()
        .map(|p| TopicPartition::new(topic.as_str(), p.partition))
        .collect();
    consumer.assign(&tps).await?;
    consumer.seek_to_beginning(&[])?;
    let deadline = Instant::now() + Duration::from_secs(max_seconds);
    let mut n = 0usize;
    while n < expect && Instant::now() < deadline {
        for r in consumer.poll(Duration::from_millis(200)).await? {
            n += 1;
            let headers: Vec<String> = r
                .headers
                .iter()
                .map(|(k, v)| format!("[{:?},{}]", k, hex(v.as_deref())))
                .collect();
            println!(
                "{{\"p\":{},\"o\":{},\"ts\":{},\"log_append\":{},\"k\":{},\"v\":{},\"h\":[{}]}}",
                r.partition,
                r.offset,
                r.timestamp,
                r.timestamp_type == TimestampType::LogAppendTime,
                hex(r.key.as_deref()),
                hex(r.value.as_deref()),
                headers.join(",")
            );
        }
    }
    consumer.close().await?;
    Ok(())
}
