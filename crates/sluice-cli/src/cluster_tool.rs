//! `sluice cluster-tool` — Kafka's kafka-cluster.sh: `cluster-id` prints the cluster id,
//! `unregister --id N` removes a decommissioned broker's registration (UnregisterBroker). Same
//! subcommands, flags and output lines as Kafka's tool.

use clap::{Args, Subcommand};

use crate::{bootstrap, ToolError};

#[derive(Debug, Subcommand)]
pub enum ClusterToolCmd {
    /// Get information about the ID of a cluster.
    ClusterId(Common),
    /// Unregister a broker (after moving its replicas away and stopping it).
    Unregister {
        #[command(flatten)]
        common: Common,
        /// The ID of the broker to unregister.
        #[arg(long, short = 'i')]
        id: i32,
    },
}

#[derive(Debug, Args)]
pub struct Common {
    /// A list of host/port pairs to use for establishing the connection to the kafka cluster.
    #[arg(long, short = 'b')]
    bootstrap_server: Option<String>,
    /// Accepted, not used (no security settings are supported).
    #[arg(long, short = 'c')]
    config: Option<String>,
}

fn server(c: &Common) -> Result<&str, ToolError> {
    if c.config.is_some() {
        eprintln!("Note: --config is accepted but not used (no security settings are supported).");
    }
    c.bootstrap_server
        .as_deref()
        .ok_or_else(|| ToolError::usage("Please specify --bootstrap-server."))
}

pub async fn run(cmd: ClusterToolCmd) -> Result<(), ToolError> {
    match cmd {
        ClusterToolCmd::ClusterId(c) => {
            let client = bootstrap(server(&c)?).await?;
            let d = client.describe_cluster().await?;
            if d.cluster_id.is_empty() {
                println!("No cluster ID found. The Kafka version is probably too old.");
            } else {
                println!("Cluster ID: {}", d.cluster_id);
            }
            Ok(())
        }
        ClusterToolCmd::Unregister { common, id } => {
            let client = bootstrap(server(&common)?).await?;
            match client.unregister_broker(id).await {
                Ok(()) => {
                    println!("Broker {id} is no longer registered.");
                    Ok(())
                }
                Err(e) if e.code() == Some(35) => {
                    println!("The target cluster does not support the broker unregistration API.");
                    Ok(())
                }
                Err(sluice_client::ClientError::UnsupportedApi { .. }) => {
                    println!("The target cluster does not support the broker unregistration API.");
                    Ok(())
                }
                Err(e) => Err(ToolError::failed(e.to_string())),
            }
        }
    }
}
