//! `produce`: pushes N records of S bytes through one librdkafka producer as fast as the
//! broker acknowledges them, and prints records/s and MB/s (MB = 10^6 payload bytes; keys,
//! headers and batch overhead are not counted). The clock runs from the first send to the
//! last delivery report (flush), so the number is acknowledged throughput, not enqueue rate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

use crate::util::{apply_overrides, base_config, fmt_cpu, CpuMeter};

#[derive(Args)]
pub struct ProduceArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub bootstrap: String,
    #[arg(long)]
    pub topic: String,
    /// Number of records to send
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Payload bytes per record (no key)
    #[arg(long, default_value_t = 100)]
    pub record_size: usize,
    /// acks: 0, 1 or all
    #[arg(long, default_value = "1")]
    pub acks: String,
    /// batch.size (bytes per partition batch)
    #[arg(long, default_value_t = 1_000_000)]
    pub batch_size: u64,
    /// linger.ms
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u64,
    /// compression.type: none, gzip, snappy, lz4, zstd (zstd needs a zstd-enabled build)
    #[arg(long, default_value = "none")]
    pub compression: String,
    /// enable.idempotence
    #[arg(long)]
    pub idempotence: bool,
    /// Broker pid, to report the broker's CPU use during the run
    #[arg(long)]
    pub broker_pid: Option<u32>,
    /// Extra client properties, key=value (repeatable; librdkafka or Java names by client)
    #[arg(short = 'X')]
    pub extra: Vec<String>,
    /// Producer implementation: rdkafka (librdkafka) or sluice (sluice-client)
    #[arg(long, default_value = "rdkafka")]
    pub client: String,
}

/// Counts delivery reports; the first error is kept for the final message.
#[derive(Default)]
struct Counting {
    ok: AtomicU64,
    failed: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
}

impl ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        match r {
            Ok(_) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut g) = self.first_error.lock() {
                    g.get_or_insert_with(|| e.to_string());
                }
            }
        }
    }
}

pub fn run(a: ProduceArgs) -> anyhow::Result<()> {
    match a.client.as_str() {
        "rdkafka" => {}
        "sluice" => return crate::produce_sluice::run(&a),
        other => bail!("--client must be rdkafka or sluice, got {other:?}"),
    }
    let mut cfg = base_config(&a.bootstrap);
    cfg.set("acks", &a.acks)
        .set("linger.ms", a.linger_ms.to_string())
        .set("batch.size", a.batch_size.to_string())
        .set("batch.num.messages", "1000000")
        .set("compression.type", &a.compression)
        .set("enable.idempotence", a.idempotence.to_string())
        .set("queue.buffering.max.messages", "2000000")
        .set("queue.buffering.max.kbytes", "2097151")
        .set("message.max.bytes", "10000000");
    apply_overrides(&mut cfg, &a.extra)?;
    let producer: BaseProducer<Counting> = cfg
        .create_with_context(Counting::default())
        .context("creating producer")?;
    // Connect and learn partition leaders before the clock starts.
    producer
        .client()
        .fetch_metadata(Some(&a.topic), Duration::from_secs(10))
        .context("metadata for topic")?;

    let payload: Vec<u8> = (0..a.record_size).map(|i| (i * 31 % 251) as u8).collect();
    let meter = CpuMeter::start(a.broker_pid);
    let mut sent = 0u64;
    while sent < a.records {
        match producer.send::<[u8], [u8]>(BaseRecord::to(&a.topic).payload(&payload[..])) {
            Ok(()) => {
                sent += 1;
                if sent.is_multiple_of(1024) {
                    producer.poll(Duration::ZERO);
                }
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                producer.poll(Duration::from_millis(1));
            }
            Err((e, _)) => bail!("send failed after {sent} records: {e}"),
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .context("flush (waiting for delivery reports)")?;
    let (elapsed, my_cpu, broker_cpu) = meter.stop();

    let ctx = producer.context();
    let ok = ctx.ok.load(Ordering::Relaxed);
    let failed = ctx.failed.load(Ordering::Relaxed);
    let secs = elapsed.as_secs_f64();
    let rps = ok as f64 / secs;
    let mbps = ok as f64 * a.record_size as f64 / secs / 1e6;
    let ns_per_rec = my_cpu * secs * 1e9 / ok.max(1) as f64;
    println!(
        "produce: {ok} records x {} B acks={} in {secs:.2}s = {rps:.0} rec/s, {mbps:.1} MB/s \
         (failed {failed}; cores used: loadgen {my_cpu:.2}, broker {})",
        a.record_size,
        a.acks,
        fmt_cpu(broker_cpu)
    );
    if let Some(e) = ctx.first_error.lock().ok().and_then(|g| g.clone()) {
        eprintln!("produce: first delivery error: {e}");
    }
    println!(
        "RESULT produce client=rdkafka records={ok} failed={failed} secs={secs:.3} rec_per_s={rps:.0} \
         mb_per_s={mbps:.1} loadgen_cores={my_cpu:.2} broker_cores={} cpu_ns_per_rec={ns_per_rec:.0}",
        fmt_cpu(broker_cpu)
    );
    Ok(())
}
