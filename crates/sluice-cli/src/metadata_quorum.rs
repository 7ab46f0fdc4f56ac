//! `sluice metadata-quorum` — Kafka's kafka-metadata-quorum.sh: `describe --status` prints the
//! quorum summary block, `describe --replication` one row per voter and observer. Through a
//! broker (`--bootstrap-server`, which forwards DescribeQuorum to the active controller) or a
//! controller listener (`--bootstrap-controller`). Read-only.

use std::time::Duration;

use clap::{Args, Subcommand};
use sluice_client::quorum::{cluster_id, describe_quorum, QuorumInfo, QuorumReplica};
use sluice_client::Connection;

use crate::ToolError;

#[derive(Debug, Args)]
pub struct MetadataQuorumArgs {
    /// A comma-separated list of host:port pairs to use for establishing the connection to
    /// the Kafka cluster.
    #[arg(long)]
    bootstrap_server: Option<String>,
    /// A comma-separated list of host:port pairs to use for establishing the connection to
    /// the KRaft controllers.
    #[arg(long)]
    bootstrap_controller: Option<String>,
    /// Accepted, not used yet.
    #[arg(long)]
    command_config: Option<String>,
    #[command(subcommand)]
    cmd: QuorumCmd,
}

#[derive(Debug, Subcommand)]
enum QuorumCmd {
    /// Describe the metadata quorum info.
    Describe(DescribeArgs),
}

#[derive(Debug, Args)]
struct DescribeArgs {
    /// A short summary of the quorum status and the other provides detailed information about
    /// the status of replication.
    #[arg(long)]
    status: bool,
    /// Detailed information about the status of replication.
    #[arg(long)]
    replication: bool,
}

pub async fn run(a: MetadataQuorumArgs) -> Result<(), ToolError> {
    let servers = match (&a.bootstrap_server, &a.bootstrap_controller) {
        (Some(s), None) | (None, Some(s)) => s.clone(),
        _ => {
            return Err(ToolError::usage(
                "Only one of --bootstrap-server or --bootstrap-controller must be specified",
            ))
        }
    };
    let QuorumCmd::Describe(d) = a.cmd;
    if d.status == d.replication {
        return Err(ToolError::usage(
            "One of --status or --replication must be specified with describe sub-command",
        ));
    }
    let conn = connect(&servers).await?;
    let info = describe_quorum(&conn).await?;
    if d.status {
        let id = cluster_id(&conn).await?;
        print!("{}", status_block(&id, &info));
    } else {
        print!("{}", replication_table(&info));
    }
    Ok(())
}

async fn connect(servers: &str) -> Result<Connection, ToolError> {
    let mut last = String::from("the server list is empty");
    for addr in servers.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match Connection::connect(addr, "sluice-metadata-quorum", Duration::from_secs(30)).await {
            Ok(c) => return Ok(c),
            Err(e) => last = e.to_string(),
        }
    }
    Err(ToolError::failed(format!(
        "Error: no server of {servers} is reachable: {last}"
    )))
}

fn leader_of(info: &QuorumInfo) -> Option<&QuorumReplica> {
    info.voters.iter().find(|v| v.id == info.leader_id)
}

fn id_list(replicas: &[QuorumReplica]) -> String {
    let ids: Vec<String> = replicas.iter().map(|r| r.id.to_string()).collect();
    format!("[{}]", ids.join(","))
}

/// `describe --status`, as Kafka 3.x prints it.
pub fn status_block(cluster_id: &str, info: &QuorumInfo) -> String {
    let leader = leader_of(info);
    // The voter furthest behind the leader and how long ago it was last caught up relative
    // to the leader.
    let laggard = info.voters.iter().min_by_key(|v| v.log_end_offset);
    let (max_lag, max_lag_ms) = match (leader, laggard) {
        (Some(l), Some(f)) => {
            let lag = l.log_end_offset - f.log_end_offset;
            let ms = if l.id == f.id {
                0
            } else {
                match (l.last_caught_up_timestamp, f.last_caught_up_timestamp) {
                    (Some(a), Some(b)) => a - b,
                    _ => -1,
                }
            };
            (lag, ms)
        }
        _ => (0, -1),
    };
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{:<24}{v}\n", format!("{k}:")));
    line("ClusterId", cluster_id.to_string());
    line("LeaderId", info.leader_id.to_string());
    line("LeaderEpoch", info.leader_epoch.to_string());
    line("HighWatermark", info.high_watermark.to_string());
    line("MaxFollowerLag", max_lag.to_string());
    line("MaxFollowerLagTimeMs", max_lag_ms.to_string());
    line("CurrentVoters", id_list(&info.voters));
    line("CurrentObservers", id_list(&info.observers));
    out
}

/// `describe --replication`: the leader, the other voters, then the observers.
pub fn replication_table(info: &QuorumInfo) -> String {
    let leader_end = leader_of(info).map_or(info.high_watermark, |l| l.log_end_offset);
    let mut out = String::from(
        "NodeId\tLogEndOffset\tLag\tLastFetchTimestamp\tLastCaughtUpTimestamp\tStatus\t\n",
    );
    let rows = info
        .voters
        .iter()
        .filter(|v| v.id == info.leader_id)
        .map(|r| (r, "Leader"))
        .chain(
            info.voters
                .iter()
                .filter(|v| v.id != info.leader_id)
                .map(|r| (r, "Follower")),
        )
        .chain(info.observers.iter().map(|r| (r, "Observer")));
    for (r, status) in rows {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{status}\t\n",
            r.id,
            r.log_end_offset,
            (leader_end - r.log_end_offset).max(0),
            r.last_fetch_timestamp.unwrap_or(-1),
            r.last_caught_up_timestamp.unwrap_or(-1),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(id: i32, leo: i64, fetch: Option<i64>, caught: Option<i64>) -> QuorumReplica {
        QuorumReplica {
            id,
            log_end_offset: leo,
            last_fetch_timestamp: fetch,
            last_caught_up_timestamp: caught,
        }
    }

    fn info() -> QuorumInfo {
        QuorumInfo {
            leader_id: 2,
            leader_epoch: 7,
            high_watermark: 40,
            voters: vec![
                replica(1, 38, Some(1_000), Some(900)),
                replica(2, 40, Some(1_500), Some(1_500)),
                replica(3, 40, Some(1_400), Some(1_400)),
            ],
            observers: vec![replica(5, 35, None, None)],
            endpoints: Default::default(),
        }
    }

    #[test]
    fn status_block_matches_kafka() {
        assert_eq!(
            status_block("abc", &info()),
            "ClusterId:              abc\n\
             LeaderId:               2\n\
             LeaderEpoch:            7\n\
             HighWatermark:          40\n\
             MaxFollowerLag:         2\n\
             MaxFollowerLagTimeMs:   600\n\
             CurrentVoters:          [1,2,3]\n\
             CurrentObservers:       [5]\n"
        );
        // As Kafka: the first voter with the lowest log end is compared with the leader, so a
        // caught-up follower still shows how long ago it last was (lag 0, time 600).
        let mut caught_up = info();
        caught_up.voters[0].log_end_offset = 40;
        let s = status_block("abc", &caught_up);
        assert!(s.contains("MaxFollowerLag:         0\n"), "{s}");
        assert!(s.contains("MaxFollowerLagTimeMs:   600\n"), "{s}");
        // A quorum of one: the leader is the laggard.
        let mut alone = info();
        alone.voters.retain(|v| v.id == 2);
        let s = status_block("abc", &alone);
        assert!(s.contains("MaxFollowerLagTimeMs:   0\n"), "{s}");
        // A follower never caught up: unknown.
        let mut unknown = info();
        unknown.voters[0].last_caught_up_timestamp = None;
        let s = status_block("abc", &unknown);
        assert!(s.contains("MaxFollowerLagTimeMs:   -1\n"), "{s}");
    }

    #[test]
    fn replication_table_lists_leader_followers_observers() {
        assert_eq!(
            replication_table(&info()),
            "NodeId\tLogEndOffset\tLag\tLastFetchTimestamp\tLastCaughtUpTimestamp\tStatus\t\n\
             2\t40\t0\t1500\t1500\tLeader\t\n\
             1\t38\t2\t1000\t900\tFollower\t\n\
             3\t40\t0\t1400\t1400\tFollower\t\n\
             5\t35\t5\t-1\t-1\tObserver\t\n"
        );
    }
}
