//! `sluice e2e-latency` — kafka-e2e-latency.sh (Kafka's EndToEndLatency): sends
//! `num_messages` records one at a time (acks 1 or all, waiting for each acknowledgement) and
//! polls each back with a `sluice_client::Consumer` assigned to the topic's partitions at their
//! end (fetch.max.wait.ms=0). Prints `i<TAB>latency-ms` every 1000 records, then
//! `Avg latency: X ms` and `Percentiles: 50th = a, 99th = b, 99.9th = c` (whole ms), as Kafka
//! does. Creates the topic (1 partition, replication factor 1) when missing. Produces with the
//! low-level `Client::produce` to partition 0.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use sluice_client::consumer::config::CONSUMER_KEYS;
use sluice_client::consumer::{Consumer, ConsumerConfig};
use sluice_client::{parse_compression, NewTopic, ProduceOptions, ProduceRecord, TopicPartition};

use crate::props::load_properties;
use crate::ToolError;

const POLL_TIMEOUT: Duration = Duration::from_millis(60_000);

#[derive(Debug, Args)]
pub struct E2eLatencyArgs {
    /// broker_list topic num_messages producer_acks message_size_bytes [properties_file]
    #[arg(num_args = 5..=6, value_name = "ARGS")]
    args: Vec<String>,
}

const USAGE: &str = "USAGE: sluice e2e-latency broker_list topic num_messages producer_acks message_size_bytes [optional] properties_file";

/// Kafka's result lines for latencies in nanoseconds.
pub fn results(latencies_ns: &[u64]) -> (String, String) {
    let n = latencies_ns.len().max(1);
    let total: f64 = latencies_ns.iter().map(|&x| x as f64).sum();
    let avg = format!("Avg latency: {:.4} ms", total / n as f64 / 1000.0 / 1000.0);
    let mut ms: Vec<u64> = latencies_ns.iter().map(|x| x / 1_000_000).collect();
    ms.sort_unstable();
    let at = |q: f64| {
        ms.get(((ms.len() as f64) * q) as usize)
            .or(ms.last())
            .copied()
            .unwrap_or(0)
    };
    let pct = format!(
        "Percentiles: 50th = {}, 99th = {}, 99.9th = {}",
        at(0.5),
        at(0.99),
        at(0.999)
    );
    (avg, pct)
}

/// A payload of `len` copies of one random uppercase letter (as Kafka's tool sends).
fn payload(len: usize, seed: &mut u64) -> Bytes {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let letter = b'A' + ((*seed >> 33) % 26) as u8;
    Bytes::from(vec![letter; len])
}

pub async fn run(a: E2eLatencyArgs) -> Result<(), ToolError> {
    if a.args.len() != 5 && a.args.len() != 6 {
        return Err(ToolError::usage(USAGE));
    }
    let (brokers, topic) = (a.args[0].clone(), a.args[1].clone());
    let num: usize = a.args[2]
        .parse()
        .map_err(|_| ToolError::usage(format!("num_messages must be a number: {}", a.args[2])))?;
    let acks: i16 = match a.args[3].as_str() {
        "1" => 1,
        "all" | "-1" => -1,
        _ => {
            return Err(ToolError::usage(
                "Latency testing requires synchronous acknowledgement. Please use 1 or all",
            ))
        }
    };
    let size: usize = a.args[4].parse().map_err(|_| {
        ToolError::usage(format!(
            "message_size_bytes must be a number: {}",
            a.args[4]
        ))
    })?;
    let file: BTreeMap<String, String> = match a.args.get(5).filter(|s| !s.trim().is_empty()) {
        Some(p) => {
            load_properties(&PathBuf::from(p)).map_err(|e| ToolError::usage(e.to_string()))?
        }
        None => BTreeMap::new(),
    };
    let mut props: BTreeMap<String, String> = file
        .iter()
        .filter(|(k, _)| CONSUMER_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    props.insert("bootstrap.servers".into(), brokers.clone());
    props.insert("group.id".into(), format!("test-group-{millis}"));
    props.insert("enable.auto.commit".into(), "false".into());
    props.insert("auto.offset.reset".into(), "latest".into());
    props.insert("fetch.max.wait.ms".into(), "0".into());
    let cfg = ConsumerConfig::from_map(&props).map_err(|e| ToolError::usage(e.to_string()))?;
    let compression = match file.get("compression.type") {
        None => sluice_client::Compression::None,
        Some(c) => parse_compression(c).ok_or_else(|| {
            ToolError::usage(format!(
                "Invalid value {c} for configuration compression.type"
            ))
        })?,
    };
    let mut consumer = Consumer::new(cfg).await?;
    let client = consumer.client().clone();
    if !client.list_topics(false).await?.contains(&topic) {
        println!("Topic \"{topic}\" does not exist. Will create topic with 1 partition(s) and replication factor = 1");
        let r = client
            .create_topics(
                &[NewTopic {
                    name: topic.clone(),
                    num_partitions: Some(1),
                    replication_factor: Some(1),
                    configs: vec![],
                }],
                false,
            )
            .await?;
        if let Some((_, Err(e))) = r.into_iter().next() {
            println!("Creation of topic {topic} failed");
            return Err(ToolError::failed(format!("Error: {e}")));
        }
    }
    let md = client.topic_metadata_for_produce(&topic).await?;
    let tps: Vec<TopicPartition> = md
        .partitions
        .iter()
        .map(|p| TopicPartition::new(topic.clone(), p.partition))
        .collect();
    consumer.assign(&tps).await?;
    consumer.seek_to_end(&tps)?;
    for tp in &tps {
        consumer.position(tp).await?;
    }
    let opts = ProduceOptions {
        acks,
        compression,
        timeout_ms: 30_000,
    };
    let mut seed = 0u64;
    let mut latencies = Vec::with_capacity(num);
    for i in 0..num {
        let message = payload(size, &mut seed);
        let begin = Instant::now();
        let record = ProduceRecord {
            value: Some(message.clone()),
            ..Default::default()
        };
        client.produce(&topic, 0, vec![record], &opts).await?;
        let records = consumer.poll(POLL_TIMEOUT).await?;
        let elapsed = begin.elapsed();
        let first = records.iter().next();
        let Some(first) = first else {
            let _ = consumer.commit_sync(None).await;
            return Err(ToolError::failed(format!(
                "poll() timed out before finding a result (timeout:[{}])",
                POLL_TIMEOUT.as_millis()
            )));
        };
        if first.value.as_ref() != Some(&message) {
            let _ = consumer.commit_sync(None).await;
            return Err(ToolError::failed(format!(
                "The message read [{}] did not match the message sent [{}]",
                String::from_utf8_lossy(first.value.as_deref().unwrap_or(b"")),
                String::from_utf8_lossy(&message)
            )));
        }
        if records.len() != 1 {
            let _ = consumer.commit_sync(None).await;
            return Err(ToolError::failed(format!(
                "Only one result was expected during this test. We found [{}]",
                records.len()
            )));
        }
        if i % 1000 == 0 {
            println!("{i}\t{}", elapsed.as_nanos() as f64 / 1e6);
        }
        latencies.push(elapsed.as_nanos() as u64);
    }
    let (avg, pct) = results(&latencies);
    println!("{avg}");
    println!("{pct}");
    consumer.close().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_format_like_kafka() {
        let lat: Vec<u64> = (1..=1000).map(|i| i * 1_000_000).collect();
        let (avg, pct) = results(&lat);
        assert_eq!(avg, "Avg latency: 500.5000 ms");
        assert_eq!(pct, "Percentiles: 50th = 501, 99th = 991, 99.9th = 1000");
    }

    #[test]
    fn payload_is_one_uppercase_letter() {
        let mut seed = 0;
        let p = payload(20, &mut seed);
        assert_eq!(p.len(), 20);
        assert!(p.iter().all(|b| *b == p[0] && p[0].is_ascii_uppercase()));
    }
}
