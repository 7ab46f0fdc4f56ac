//! `probe-sluice`: the failover probe of `bench/cluster.sh` on Sluice's own Rust producer.
//! Sends one small record to one partition every `--interval-ms` (idempotent, acks=all, the
//! producer settings given with `-X`) for at most `--duration-secs`, and prints one line per
//! delivery: `ACK <sent> <acknowledged> <offset>` or `ERR <sent> <message>`, both instants in
//! seconds of CLOCK_MONOTONIC (the clock Python's `time.monotonic()` reads), so the caller can
//! relate them to the instant it killed a broker.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use clap::Args;
use sluice_client::producer::{ProducerConfig, ProducerRecord};
use sluice_client::Producer;

#[derive(Args)]
pub struct ProbeArgs {
    #[arg(long)]
    bootstrap: String,
    #[arg(long)]
    topic: String,
    #[arg(long, default_value_t = 0)]
    partition: i32,
    #[arg(long, default_value_t = 5)]
    interval_ms: u64,
    #[arg(long, default_value_t = 120)]
    duration_secs: u64,
    /// Extra producer property (key=value), repeatable.
    #[arg(short = 'X')]
    extra: Vec<String>,
}

fn monotonic() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

fn emit(line: String) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

pub fn run(a: &ProbeArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(run_async(a))
}

async fn run_async(a: &ProbeArgs) -> anyhow::Result<()> {
    let mut cfg = ProducerConfig::new(a.bootstrap.as_str())
        .set("client.id", "sluice-failover-probe")?
        .set("acks", "-1")?
        .set("enable.idempotence", "true")?
        .set("linger.ms", "0")?;
    for kv in &a.extra {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("-X expects key=value, got {kv:?}"))?;
        cfg.apply(k, v)?;
    }
    let producer = Producer::new(cfg).await.context("creating producer")?;
    producer
        .partitions_for(&a.topic)
        .await
        .context("metadata for topic")?;
    let end = tokio::time::Instant::now() + Duration::from_secs(a.duration_secs);
    let mut tick = tokio::time::interval(Duration::from_millis(a.interval_ms.max(1)));
    let mut n: u64 = 0;
    while tokio::time::Instant::now() < end {
        tick.tick().await;
        let mut value = format!("{n:012}").into_bytes();
        value.resize(100, b'x');
        n += 1;
        let record = ProducerRecord {
            topic: a.topic.clone(),
            partition: Some(a.partition),
            key: None,
            value: Some(Bytes::from(value)),
            headers: Vec::new(),
            timestamp: None,
        };
        let sent = monotonic();
        let delivery = producer.send(record).await;
        tokio::spawn(async move {
            match delivery.await {
                Ok(md) => emit(format!("ACK {sent:.6} {:.6} {}", monotonic(), md.offset)),
                Err(e) => emit(format!("ERR {sent:.6} {e}")),
            }
        });
    }
    producer.flush().await;
    producer.close(Duration::from_secs(10)).await;
    Ok(())
}
