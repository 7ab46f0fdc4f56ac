//! consumer_demo: subscribe to a topic in a group and print every record
//! (`topic-partition/offset key=K value=V`) until Ctrl-C or `--max-seconds`. Any consumer
//! setting can be given with `--property name=value` (Kafka's names, e.g.
//! `partition.assignment.strategy=cooperative-sticky` or `group.protocol=consumer`).
//!
//!     cargo run -p sluice-client --example consumer_demo -- [BOOTSTRAP] [--topic T]
//!         [--group G] [--property K=V]... [--max-seconds N]
//!
//! BOOTSTRAP defaults to $BOOTSTRAP, then localhost:9092. Reads from the earliest offset
//! when the group has no committed offset.

use std::time::{Duration, Instant};

use sluice_client::consumer::{Consumer, ConsumerConfig, StringDeserializer};

struct Args {
    bootstrap: String,
    topic: String,
    group: String,
    max_seconds: Option<u64>,
    properties: Vec<(String, String)>,
}

fn args() -> Args {
    let mut a = Args {
        bootstrap: std::env::var("BOOTSTRAP").unwrap_or_else(|_| "localhost:9092".into()),
        topic: "demo".into(),
        group: "consumer-demo".into(),
        max_seconds: None,
        properties: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--topic" => a.topic = it.next().expect("--topic needs a value"),
            "--group" => a.group = it.next().expect("--group needs a value"),
            "--max-seconds" => {
                a.max_seconds = it.next().and_then(|v| v.parse().ok());
            }
            "--property" => {
                let kv = it.next().expect("--property needs name=value");
                let (k, v) = kv.split_once('=').expect("--property needs name=value");
                a.properties.push((k.to_string(), v.to_string()));
            }
            other => a.bootstrap = other.to_string(),
        }
    }
    a
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = args();
    let mut props = vec![
        ("bootstrap.servers", a.bootstrap.as_str()),
        ("group.id", a.group.as_str()),
        ("auto.offset.reset", "earliest"),
    ];
    props.extend(a.properties.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let config = ConsumerConfig::from_props(props)?;
    let mut consumer =
        Consumer::with_deserializers(config, StringDeserializer, StringDeserializer).await?;
    consumer.subscribe(&[&a.topic], None).await?;
    let stop_at = a
        .max_seconds
        .map(|s| Instant::now() + Duration::from_secs(s));
    let mut count = 0u64;
    loop {
        if stop_at.is_some_and(|t| Instant::now() >= t) {
            break;
        }
        let records = tokio::select! {
            r = consumer.poll(Duration::from_millis(500)) => r?,
            _ = tokio::signal::ctrl_c() => break,
        };
        for r in &records {
            count += 1;
            println!(
                "{}-{}/{} key={} value={}",
                r.topic,
                r.partition,
                r.offset,
                r.key.as_deref().unwrap_or("null"),
                r.value.as_deref().unwrap_or("null")
            );
        }
    }
    consumer.close().await?;
    eprintln!("consumed {count} records");
    Ok(())
}
