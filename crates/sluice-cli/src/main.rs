//! The `sluice` binary: argument parsing and dispatch to the server and the tools named after
//! Kafka's scripts (topics, console-producer, console-consumer, consumer-groups, get-offsets,
//! configs, reassign-partitions, cluster-tool, storage, producer-perf-test, consumer-perf-test, e2e-latency, leader-election). Every failure ends
//! as one line on stderr and exit code 1 — never a panic or backtrace.

mod cluster;
mod cluster_tool;
mod configs;
mod console_consumer;
mod console_group;
mod console_producer;
mod consumer_groups;
mod consumer_groups_tables;
mod consumer_perf;
mod e2e_latency;
mod get_offsets;
mod leader_election;
mod metadata_quorum;
mod node_api;
mod offset_reset;
mod producer_perf;
mod props;
mod reassign_partitions;
mod server;
mod storage;
mod topics;

use std::sync::Arc;

use clap::{Parser, Subcommand};
use sluice_client::{Client, ClientConfig};

#[derive(Debug, Parser)]
#[command(
    name = "sluice",
    version,
    about = "Sluice: Apache Kafka rebuilt in Rust — broker and tools in one binary"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Describe the metadata quorum: `describe --status` or `describe --replication`
    /// (kafka-metadata-quorum.sh).
    MetadataQuorum(metadata_quorum::MetadataQuorumArgs),
    /// Start or stop a node.
    #[command(subcommand)]
    Server(server::ServerCmd),
    /// Create, delete, describe, or change a topic (kafka-topics.sh).
    Topics(topics::TopicsArgs),
    /// Send lines from standard input as records (kafka-console-producer.sh).
    ConsoleProducer(console_producer::ProducerArgs),
    /// Print records of a topic to standard output (kafka-console-consumer.sh).
    ConsoleConsumer(console_consumer::ConsumerArgs),
    /// Print partition offsets (kafka-get-offsets.sh / GetOffsetShell).
    GetOffsets(get_offsets::GetOffsetsArgs),
    /// Describe or alter topic and broker configs (kafka-configs.sh).
    Configs(configs::ConfigsArgs),
    /// List, describe, delete consumer groups; reset or delete their offsets
    /// (kafka-consumer-groups.sh).
    ConsumerGroups(consumer_groups::ConsumerGroupsArgs),
    /// Print the cluster id or unregister a decommissioned broker (kafka-cluster.sh).
    #[command(subcommand)]
    ClusterTool(cluster_tool::ClusterToolCmd),
    /// Move partition replicas between brokers: generate, execute, verify, cancel or list
    /// reassignments (kafka-reassign-partitions.sh).
    ReassignPartitions(reassign_partitions::ReassignArgs),
    /// Run (`up`) or stop (`down`) a local N-node cluster.
    #[command(subcommand)]
    Cluster(cluster::ClusterCmd),
    /// Format log dirs, print a new cluster id, or show what the dirs hold
    /// (kafka-storage.sh).
    #[command(subcommand)]
    Storage(storage::StorageCmd),
    /// Measure producer throughput and latency (kafka-producer-perf-test.sh).
    ProducerPerfTest(producer_perf::PerfArgs),
    /// Measure consumer throughput with sluice's Rust consumer
    /// (kafka-consumer-perf-test.sh).
    ConsumerPerfTest(consumer_perf::ConsumerPerfArgs),
    /// Measure produce-to-consume latency one record at a time (kafka-e2e-latency.sh);
    /// positional: broker_list topic num_messages producer_acks message_size_bytes
    /// [properties_file].
    E2eLatency(e2e_latency::E2eLatencyArgs),
    /// Elect preferred or unclean partition leaders (kafka-leader-election.sh).
    LeaderElection(leader_election::LeaderElectionArgs),
}

/// A tool failure: the message is printed as is, exit code 1.
#[derive(Debug)]
pub struct ToolError {
    pub message: String,
}

impl ToolError {
    pub fn usage(m: impl Into<String>) -> Self {
        ToolError { message: m.into() }
    }
    pub fn failed(m: impl Into<String>) -> Self {
        ToolError { message: m.into() }
    }
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ToolError {}

impl From<sluice_client::ClientError> for ToolError {
    fn from(e: sluice_client::ClientError) -> Self {
        ToolError::failed(format!("Error: {e}"))
    }
}

/// Connects a tool to the cluster.
pub async fn bootstrap(servers: &str) -> Result<Arc<Client>, ToolError> {
    let cfg = ClientConfig {
        client_id: "sluice-cli".into(),
        ..ClientConfig::default()
    };
    Client::connect_with(servers, cfg)
        .await
        .map_err(ToolError::from)
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 1,
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let is_server = matches!(cli.cmd, Cmd::Server(_));
    // One line, never a backtrace, even on a bug.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("sluice: internal error: {info}");
    }));
    if !is_server {
        // Tools die quietly when stdout is closed (`| head`), like Kafka's scripts.
        // SAFETY: restoring the default disposition of SIGPIPE before any thread exists.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    init_tracing(if is_server { "info" } else { "off" });
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let res = rt.block_on(async move {
        match cli.cmd {
            Cmd::Server(c) => server::run(c).await,
            Cmd::Topics(a) => topics::run(a).await,
            Cmd::ConsoleProducer(a) => console_producer::run(a).await,
            Cmd::ConsoleConsumer(a) => console_consumer::run(a).await,
            Cmd::GetOffsets(a) => get_offsets::run(a).await,
            Cmd::MetadataQuorum(a) => metadata_quorum::run(a).await,
            Cmd::Configs(a) => configs::run(a).await,
            Cmd::ConsumerGroups(a) => consumer_groups::run(a).await,
            Cmd::ClusterTool(c) => cluster_tool::run(c).await,
            Cmd::ReassignPartitions(a) => reassign_partitions::run(a).await,
            Cmd::Storage(c) => storage::run(c).await,
            Cmd::Cluster(c) => cluster::run(c).await,
            Cmd::ProducerPerfTest(a) => producer_perf::run(a).await,
            Cmd::ConsumerPerfTest(a) => consumer_perf::run(a).await,
            Cmd::E2eLatency(a) => e2e_latency::run(a).await,
            Cmd::LeaderElection(a) => leader_election::run(a).await,
        }
    });
    // Don't wait for the stdin reader thread or idle connections.
    rt.shutdown_timeout(std::time::Duration::from_millis(100));
    if let Err(e) = res {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
