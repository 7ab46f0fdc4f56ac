//! `consume-sluice`: the `consume` benchmark with Sluice's own Rust consumer
//! (`sluice_client::consumer::Consumer`) instead of librdkafka — every partition assigned from
//! the beginning, no group, read until N records arrived — so the two clients can be compared
//! on the same data: records/s, MB/s of payload and CPU per record (getrusage of this process,
//! which runs nothing else). Consumers run as tasks of one 2-worker tokio runtime.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use sluice_client::consumer::{Consumer, ConsumerConfig};
use sluice_client::TopicPartition;

use crate::util::{fmt_cpu, CpuMeter};

#[derive(Args)]
pub struct ConsumeSluiceArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap: String,
    #[arg(long)]
    topic: String,
    /// Stop after this many records
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Consumer instances (tasks); partitions are dealt round-robin between them
    #[arg(long, default_value_t = 1)]
    consumers: usize,
    /// Give up if no record arrives for this many seconds
    #[arg(long, default_value_t = 10)]
    idle_timeout_secs: u64,
    /// Broker pid, to report the broker's CPU use during the run
    #[arg(long)]
    broker_pid: Option<u32>,
    /// Runtime worker threads
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

fn config(bootstrap: &str) -> ConsumerConfig {
    let mut c = ConsumerConfig::new(bootstrap, None);
    // The same fetch sizes as the librdkafka run.
    c.fetch_max_bytes = 52_428_800;
    c.max_partition_fetch_bytes = 10_485_760;
    c.max_poll_records = 10_000;
    c
}

pub fn run(a: ConsumeSluiceArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.threads.max(1))
        .enable_all()
        .build()?;
    rt.block_on(run_async(a))
}

async fn run_async(a: ConsumeSluiceArgs) -> anyhow::Result<()> {
    let probe = Consumer::new(config(&a.bootstrap)).await?;
    let md = probe
        .client()
        .topic_metadata(&a.topic, true)
        .await
        .context("topic metadata")?;
    let parts: Vec<i32> = md.partitions.iter().map(|p| p.partition).collect();
    drop(probe);
    let n = a.consumers.clamp(1, parts.len().max(1));
    let mut consumers = Vec::with_capacity(n);
    for i in 0..n {
        let mut c = Consumer::new(config(&a.bootstrap)).await?;
        let tps: Vec<TopicPartition> = parts
            .iter()
            .skip(i)
            .step_by(n)
            .map(|p| TopicPartition::new(a.topic.as_str(), *p))
            .collect();
        // Connect and look up start offsets before the clock starts.
        c.assign(&tps).await?;
        c.seek_to_beginning(&[])?;
        for tp in &tps {
            c.position(tp).await?;
        }
        consumers.push(c);
    }
    let records = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let meter = CpuMeter::start(a.broker_pid);
    let idle = Duration::from_secs(a.idle_timeout_secs);
    let mut tasks = Vec::new();
    for mut c in consumers {
        let (records, bytes, target) = (records.clone(), bytes.clone(), a.records);
        tasks.push(tokio::spawn(async move {
            let mut last = Instant::now();
            loop {
                let recs = c.poll(Duration::from_millis(100)).await?;
                if recs.is_empty() {
                    if records.load(Ordering::Relaxed) >= target || last.elapsed() > idle {
                        break;
                    }
                    continue;
                }
                last = Instant::now();
                let b: u64 = recs
                    .iter()
                    .map(|r| r.value.as_ref().map_or(0, |v| v.len() as u64))
                    .sum();
                bytes.fetch_add(b, Ordering::Relaxed);
                let before = records.fetch_add(recs.len() as u64, Ordering::Relaxed);
                if before + recs.len() as u64 >= target {
                    break;
                }
            }
            c.close().await?;
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let (finished, my_cpu, broker_cpu) = meter.stop();
    let got = records.load(Ordering::Relaxed);
    let b = bytes.load(Ordering::Relaxed);
    let secs = finished.as_secs_f64();
    let rps = got as f64 / secs;
    let mbps = b as f64 / secs / 1e6;
    let cpu_us = my_cpu * secs * 1e6 / (got.max(1) as f64);
    println!(
        "consume-sluice: {got} records, {b} payload bytes in {secs:.2}s = {rps:.0} rec/s, {mbps:.1} MB/s \
         ({n} consumer(s); cores used: loadgen {my_cpu:.2} = {cpu_us:.3} us CPU/record, broker {})",
        fmt_cpu(broker_cpu)
    );
    if got < a.records {
        eprintln!(
            "consume-sluice: only {got} of {} records arrived before the idle timeout",
            a.records
        );
    }
    println!(
        "RESULT consume_sluice records={got} bytes={b} secs={secs:.3} rec_per_s={rps:.0} \
         mb_per_s={mbps:.1} loadgen_cores={my_cpu:.2} cpu_us_per_rec={cpu_us:.3} broker_cores={}",
        fmt_cpu(broker_cpu)
    );
    Ok(())
}
