//! Test helper for compat/test_rust_producer.py (not a tutorial): produces COUNT records with
//! key `key-<i>`, value `value-<i>-<codec>`, headers `i=<i>` and a null `nullh`, timestamp
//! 1700000000000+i, with the given compression, to TOPIC; prints `<i> <partition> <offset>`
//! per record and exits non-zero if any failed.
//! Usage: producer_compat BOOTSTRAP TOPIC COUNT CODEC

use std::time::Duration;

use sluice_client::{Producer, ProducerConfig, ProducerRecord};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        return Err("usage: producer_compat BOOTSTRAP TOPIC COUNT CODEC".into());
    }
    let (bootstrap, topic, count, codec) = (&args[1], &args[2], args[3].parse::<u64>()?, &args[4]);
    let config = ProducerConfig::new(bootstrap.as_str()).set("compression.type", codec)?;
    let producer = Producer::new(config).await?;
    let mut pending = Vec::new();
    for i in 0..count {
        let record = ProducerRecord::new(topic.as_str(), format!("value-{i}-{codec}"))
            .key(format!("key-{i}"))
            .header("i", i.to_string())
            .null_header("nullh")
            .timestamp(1_700_000_000_000 + i as i64);
        pending.push(producer.send(record).await);
    }
    let mut out = String::new();
    for (i, f) in pending.into_iter().enumerate() {
        let md = f.await?;
        out.push_str(&format!("{i} {} {}\n", md.partition, md.offset));
    }
    print!("{out}");
    producer.close(Duration::from_secs(10)).await;
    Ok(())
}
