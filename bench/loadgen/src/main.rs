//! sluice-loadgen: an independent, librdkafka-based load generator for a Kafka-compatible
//! broker (written for Sluice, works against any Kafka). It owns the client side of every
//! benchmark in `bench/run.sh` and prints numbers; it never judges them (no pass/fail on timings).
//!
//! Every mode prints a human line and one machine line `RESULT <mode> key=value ...` that
//! `bench/run.sh` parses.

mod admin;
mod consume;
mod consume_sluice;
mod e2e;
mod groups;
mod probe_sluice;
mod produce;
mod produce_sluice;
mod startup;
mod util;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "sluice-loadgen",
    about = "librdkafka load generator for Kafka-compatible brokers"
)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Create a topic (no-op if it exists)
    CreateTopic(admin::CreateTopicArgs),
    /// Produce N records of S bytes as fast as possible; print records/s and MB/s
    Produce(produce::ProduceArgs),
    /// Read N records from the beginning of every partition; print records/s and MB/s
    Consume(consume::ConsumeArgs),
    /// The same read with Sluice's Rust consumer (sluice-client) instead of librdkafka
    ConsumeSluice(consume_sluice::ConsumeSluiceArgs),
    /// Produce timestamped records at a fixed rate while consuming; print latency percentiles
    E2e(e2e::E2eArgs),
    /// N group members subscribe at once; time until the group is Stable with all of them
    GroupJoin(groups::GroupJoinArgs),
    /// Offset commits per second, synchronous and pipelined
    Commits(groups::CommitArgs),
    /// Failover probe on Sluice's Rust producer: one record every interval, a line per ack
    ProbeSluice(probe_sluice::ProbeArgs),
    /// Spawn the broker, time spawn -> Metadata answered, then read its idle RSS
    Startup(startup::StartupArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.mode {
        Mode::CreateTopic(a) => admin::run(a),
        Mode::Produce(a) => produce::run(a),
        Mode::Consume(a) => consume::run(a),
        Mode::ConsumeSluice(a) => consume_sluice::run(a),
        Mode::E2e(a) => e2e::run(a),
        Mode::Startup(a) => startup::run(a),
        Mode::ProbeSluice(a) => probe_sluice::run(&a),
        Mode::GroupJoin(a) => groups::run_join(a),
        Mode::Commits(a) => groups::run_commits(a),
    };
    if let Err(e) = result {
        eprintln!("sluice-loadgen: {e:#}");
        std::process::exit(1);
    }
}
