//! `produce --client sluice`: the same measurement as `produce` (N records of S bytes, clock
//! from first send to the last acknowledgement) through Sluice's own Rust producer
//! (`sluice-client`), configured like the librdkafka run: acks, linger.ms, batch.size,
//! compression, idempotence, a large buffer. Prints the same RESULT line plus CPU per record
//! of this process (user+sys from getrusage), so the two clients can be compared.

use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use sluice_client::producer::{ProducerConfig, ProducerRecord};
use sluice_client::Producer;

use crate::produce::ProduceArgs;
use crate::util::{fmt_cpu, CpuMeter};

pub fn run(a: &ProduceArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(run_async(a))
}

async fn run_async(a: &ProduceArgs) -> anyhow::Result<()> {
    let acks = if a.acks == "all" {
        "-1"
    } else {
        a.acks.as_str()
    };
    let mut cfg = ProducerConfig::new(a.bootstrap.as_str())
        .set("client.id", "sluice-loadgen")?
        .set("acks", acks)?
        .set("linger.ms", &a.linger_ms.to_string())?
        .set("batch.size", &a.batch_size.to_string())?
        .set("compression.type", &a.compression)?
        .set("enable.idempotence", &a.idempotence.to_string())?
        .set("buffer.memory", &(2u64 << 30).to_string())?
        .set("max.request.size", "10000000")?;
    for kv in &a.extra {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("-X expects key=value, got {kv:?}"))?;
        cfg.apply(k, v)?;
    }
    let producer = Producer::new(cfg).await.context("creating producer")?;
    // Connect and learn partition leaders before the clock starts.
    producer
        .partitions_for(&a.topic)
        .await
        .context("metadata for topic")?;

    let payload = Bytes::from(
        (0..a.record_size)
            .map(|i| (i * 31 % 251) as u8)
            .collect::<Vec<u8>>(),
    );
    let meter = CpuMeter::start(a.broker_pid);
    for _ in 0..a.records {
        let record = ProducerRecord {
            topic: a.topic.clone(),
            partition: None,
            key: None,
            value: Some(payload.clone()),
            headers: Vec::new(),
            timestamp: None,
        };
        drop(producer.send(record).await);
    }
    producer.flush().await;
    let (elapsed, my_cpu, broker_cpu) = meter.stop();
    let m = producer.metrics();
    let ok = m.records_sent.load(Ordering::Relaxed);
    let failed = m.record_errors.load(Ordering::Relaxed);
    producer.close(Duration::from_secs(10)).await;

    let secs = elapsed.as_secs_f64();
    let rps = ok as f64 / secs;
    let mbps = ok as f64 * a.record_size as f64 / secs / 1e6;
    let ns_per_rec = my_cpu * secs * 1e9 / ok.max(1) as f64;
    println!(
        "produce (sluice-client): {ok} records x {} B acks={} in {secs:.2}s = {rps:.0} rec/s, \
         {mbps:.1} MB/s (failed {failed}; cores used: loadgen {my_cpu:.2}, broker {}; \
         {ns_per_rec:.0} ns CPU/record)",
        a.record_size,
        a.acks,
        fmt_cpu(broker_cpu)
    );
    println!(
        "RESULT produce client=sluice records={ok} failed={failed} secs={secs:.3} rec_per_s={rps:.0} \
         mb_per_s={mbps:.1} loadgen_cores={my_cpu:.2} broker_cores={} cpu_ns_per_rec={ns_per_rec:.0}",
        fmt_cpu(broker_cpu)
    );
    Ok(())
}
