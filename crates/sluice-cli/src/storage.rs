//! `sluice storage` — Kafka's kafka-storage.sh: `random-uuid` prints a new cluster id,
//! `format` writes `meta.properties` into every `log.dirs` entry and the metadata log dir of a
//! server.properties, `info` shows what the dirs hold. Only `meta.properties` files are ever
//! written; it never starts a node, never talks to the network, never touches partition data.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use sluice_storage::meta::{self, METADATA_VERSION};

use crate::node_api::BrokerConfig;
use crate::ToolError;

#[derive(Debug, Subcommand)]
pub enum StorageCmd {
    /// Print a new random cluster id (22 characters of base64url).
    RandomUuid,
    /// Write meta.properties into every log dir and the metadata log dir of a config.
    Format(FormatArgs),
    /// Show the meta.properties of every log dir and the metadata log dir of a config.
    Info(InfoArgs),
}

#[derive(Debug, Args)]
pub struct FormatArgs {
    /// The server.properties to read log.dirs, metadata.log.dir and node.id from.
    #[arg(short = 'c', long = "config")]
    config: PathBuf,
    /// The cluster id (from `sluice storage random-uuid`).
    #[arg(short = 't', long = "cluster-id", allow_hyphen_values = true)]
    cluster_id: String,
    /// Skip dirs that are already formatted instead of failing.
    #[arg(short = 'g', long = "ignore-formatted")]
    ignore_formatted: bool,
    /// Accepted for Kafka's quickstart commands; the metadata quorum's voters come from
    /// controller.quorum.voters.
    #[arg(short = 's', long = "standalone")]
    standalone: bool,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The server.properties to read log.dirs and metadata.log.dir from.
    #[arg(short = 'c', long = "config")]
    config: PathBuf,
}

pub async fn run(cmd: StorageCmd) -> Result<(), ToolError> {
    match cmd {
        StorageCmd::RandomUuid => {
            println!("{}", meta::random_uuid());
            Ok(())
        }
        StorageCmd::Format(a) => format(a),
        StorageCmd::Info(a) => info(a),
    }
}

fn load(config: &std::path::Path) -> Result<BrokerConfig, ToolError> {
    let (cfg, warnings) =
        BrokerConfig::load(Some(config), &[]).map_err(|e| ToolError::failed(e.to_string()))?;
    for w in warnings {
        eprintln!("WARN {w}");
    }
    Ok(cfg)
}

fn format(a: FormatArgs) -> Result<(), ToolError> {
    let _ = a.standalone;
    meta::parse_cluster_id(&a.cluster_id).map_err(|e| ToolError::failed(e.to_string()))?;
    let cfg = load(&a.config)?;
    let report = meta::format_dirs(
        &cfg.log_dirs,
        &cfg.metadata_log_dir,
        &a.cluster_id,
        cfg.node_id,
        a.ignore_formatted,
    )
    .map_err(|e| ToolError::failed(e.to_string()))?;
    if report.formatted.is_empty() {
        println!("All of the log directories are already formatted.");
    }
    for d in &report.formatted {
        println!(
            "Formatting {} {} with metadata.version {METADATA_VERSION}.",
            d.kind.description(),
            d.path.display()
        );
    }
    Ok(())
}

/// Kafka's `info` layout: the dirs, the metadata they agree on, then any problems (exit 1).
fn info(a: InfoArgs) -> Result<(), ToolError> {
    let cfg = load(&a.config)?;
    let dirs = meta::storage_dirs(&cfg.log_dirs, &cfg.metadata_log_dir);
    let mut problems = Vec::new();
    let mut found = Vec::new();
    for d in &dirs {
        if !d.path.is_dir() {
            problems.push(format!("{} does not exist", d.path.display()));
            continue;
        }
        match meta::MetaProperties::read(&d.path) {
            Ok(Some(m)) => found.push((d.path.clone(), m)),
            Ok(None) => problems.push(format!("{} is not formatted.", d.path.display())),
            Err(e) => problems.push(format!("{}: {e}", d.path.display())),
        }
    }
    let plural = |n: usize, one: &'static str, many: &'static str| if n == 1 { one } else { many };
    println!(
        "Found log {}:",
        plural(dirs.len(), "directory", "directories")
    );
    for d in &dirs {
        println!("  {}", d.path.display());
    }
    println!();
    if let Some((_, m)) = found.first() {
        println!(
            "Found metadata: {{cluster.id={}, directory.id={}, node.id={}, version=1}}",
            m.cluster_id, m.directory_id, m.node_id
        );
        println!();
        for (p, other) in &found[1..] {
            if other.cluster_id != m.cluster_id || other.node_id != m.node_id {
                problems.push(format!(
                    "{} has cluster.id={} node.id={}, which differs from the first directory",
                    p.display(),
                    other.cluster_id,
                    other.node_id
                ));
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let mut msg = format!("Found {}:", plural(problems.len(), "problem", "problems"));
    for p in problems {
        msg.push_str("\n  ");
        msg.push_str(&p);
    }
    Err(ToolError::failed(msg))
}
