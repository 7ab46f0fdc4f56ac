//! `sluice reassign-partitions` — Kafka's kafka-reassign-partitions.sh: `--generate` proposes
//! an assignment of some topics over a broker list, `--execute` starts the reassignments of a
//! JSON file (printing the current assignment for rollback), `--verify` reports their progress,
//! `--cancel` cancels them, `--list` shows every ongoing one. Same flags, JSON format and output
//! lines as Kafka's tool. Replication throttles and log-directory moves are not implemented:
//! `--throttle` is accepted and reported as not applied, `log_dirs` other than "any" are refused.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use serde_json::Value;
use sluice_client::admin_reassign::TopicPartitionName;
use sluice_client::{Client, ClientError};

use crate::{bootstrap, ToolError};

#[derive(Debug, Args)]
pub struct ReassignArgs {
    /// REQUIRED: The Kafka server to connect to.
    #[arg(long)]
    bootstrap_server: Option<String>,
    /// Not supported: use --bootstrap-server.
    #[arg(long)]
    bootstrap_controller: Option<String>,
    /// Accepted, not used (no security settings are supported).
    #[arg(long)]
    command_config: Option<String>,
    /// Generate a candidate partition reassignment configuration (does not execute it).
    #[arg(long)]
    generate: bool,
    /// Start the reassignment specified in --reassignment-json-file.
    #[arg(long)]
    execute: bool,
    /// Verify whether the reassignments in --reassignment-json-file are complete.
    #[arg(long)]
    verify: bool,
    /// Cancel the active reassignments in --reassignment-json-file.
    #[arg(long)]
    cancel: bool,
    /// List every active partition reassignment.
    #[arg(long)]
    list: bool,
    /// The JSON file with the partition reassignment configuration.
    #[arg(long)]
    reassignment_json_file: Option<PathBuf>,
    /// Generate a reassignment moving the partitions of the topics in this JSON file
    /// ({"topics": [{"topic": "foo"}], "version": 1}).
    #[arg(long)]
    topics_to_move_json_file: Option<PathBuf>,
    /// The brokers to reassign the partitions to, as "0,1,2" (with --generate).
    #[arg(long)]
    broker_list: Option<String>,
    /// Accepted; placement ignores racks either way (rack-aware placement is not implemented).
    #[arg(long)]
    disable_rack_aware: bool,
    /// Execute this reassignment in addition to the ongoing ones.
    #[arg(long)]
    additional: bool,
    /// Accepted but NOT applied: Sluice does not throttle replication.
    #[arg(long, allow_hyphen_values = true)]
    throttle: Option<i64>,
    /// Accepted but NOT applied: log-directory moves are not implemented.
    #[arg(long, allow_hyphen_values = true)]
    replica_alter_log_dirs_throttle: Option<i64>,
    /// Accepted (Kafka uses it for log-directory moves, which Sluice does not do).
    #[arg(long)]
    timeout: Option<i64>,
    /// Accepted (there are no throttles to clear).
    #[arg(long)]
    preserve_throttles: bool,
    /// Refuse reassignments that change a partition's replication factor (KIP-860).
    #[arg(long)]
    disallow_replication_factor_change: bool,
}

type Assignment = BTreeMap<TopicPartitionName, Vec<i32>>;

const CANNOT_EXECUTE_BECAUSE_OF_EXISTING: &str = "Cannot execute because there is an existing partition assignment.  Use --additional to override this and create a new partition assignment in addition to the existing one. The --additional flag can also be used to change the throttle by resubmitting the current reassignment.";

fn tp(p: &TopicPartitionName) -> String {
    format!("{}-{}", p.0, p.1)
}

fn join(ids: &[i32]) -> String {
    ids.iter()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// The broker's message for a failed partition (Kafka prints the exception message).
fn message(e: &ClientError) -> String {
    match e {
        ClientError::Kafka {
            message: Some(m), ..
        } if !m.is_empty() => m.clone(),
        other => other.to_string(),
    }
}

/// Kafka's reassignment JSON: compact, partitions sorted by topic then partition, keys in
/// Kafka's order, `log_dirs` all "any".
pub fn format_reassignment_json(assignment: &Assignment) -> String {
    let parts: Vec<String> = assignment
        .iter()
        .map(|((topic, partition), replicas)| {
            let dirs = vec!["\"any\""; replicas.len()].join(",");
            format!(
                "{{\"topic\":{},\"partition\":{partition},\"replicas\":[{}],\"log_dirs\":[{dirs}]}}",
                Value::String(topic.clone()),
                join(replicas)
            )
        })
        .collect();
    format!("{{\"version\":1,\"partitions\":[{}]}}", parts.join(","))
}

fn parse_json(text: &str) -> Result<Value, ToolError> {
    serde_json::from_str(text)
        .map_err(|e| ToolError::failed(format!("Error: The input string is not a valid JSON: {e}")))
}

fn check_version(js: &Value) -> Result<(), ToolError> {
    match js.get("version") {
        None => Ok(()),
        Some(v) if v.as_i64() == Some(1) => Ok(()),
        Some(v) => Err(ToolError::failed(format!(
            "Error: Not supported version field value {v}"
        ))),
    }
}

fn field<'a>(obj: &'a Value, name: &str) -> Result<&'a Value, ToolError> {
    obj.get(name)
        .ok_or_else(|| ToolError::failed(format!("Error: No such field exists: `{name}`")))
}

fn as_i32(v: &Value, what: &str) -> Result<i32, ToolError> {
    v.as_i64()
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| ToolError::failed(format!("Error: {what} must be an integer, not {v}")))
}

/// Parses a reassignment JSON file's partitions, in file order (duplicates kept so they can be
/// reported). `log_dirs` other than "any" are refused: Sluice has no log-directory moves.
pub fn parse_reassignment_json(
    text: &str,
) -> Result<Vec<(TopicPartitionName, Vec<i32>)>, ToolError> {
    let js = parse_json(text)?;
    check_version(&js)?;
    let mut out = Vec::new();
    let Some(parts) = js.get("partitions") else {
        return Ok(out);
    };
    let parts = parts
        .as_array()
        .ok_or_else(|| ToolError::failed("Error: \"partitions\" must be an array"))?;
    for p in parts {
        let topic = field(p, "topic")?
            .as_str()
            .ok_or_else(|| ToolError::failed("Error: \"topic\" must be a string"))?
            .to_string();
        let partition = as_i32(field(p, "partition")?, "partition")?;
        let replicas = field(p, "replicas")?
            .as_array()
            .ok_or_else(|| ToolError::failed("Error: \"replicas\" must be an array"))?
            .iter()
            .map(|r| as_i32(r, "a replica"))
            .collect::<Result<Vec<i32>, _>>()?;
        if let Some(dirs) = p.get("log_dirs") {
            let dirs: Vec<&str> = dirs
                .as_array()
                .ok_or_else(|| ToolError::failed("Error: \"log_dirs\" must be an array"))?
                .iter()
                .map(|d| d.as_str().unwrap_or(""))
                .collect();
            if dirs.len() != replicas.len() {
                return Err(ToolError::failed(format!(
                    "Error: Size of replicas list {replicas:?} is different from size of log dirs list {dirs:?} for partition {topic}-{partition}"
                )));
            }
            if dirs.iter().any(|d| *d != "any") {
                return Err(ToolError::failed(format!(
                    "Error: moving replicas between log directories is not supported; use \"any\" in log_dirs (partition {topic}-{partition})"
                )));
            }
        }
        out.push(((topic, partition), replicas));
    }
    Ok(out)
}

/// Parses a topics-to-move JSON file.
pub fn parse_topics_json(text: &str) -> Result<Vec<String>, ToolError> {
    let js = parse_json(text)?;
    check_version(&js)?;
    let Some(topics) = js.get("topics") else {
        return Ok(Vec::new());
    };
    topics
        .as_array()
        .ok_or_else(|| ToolError::failed("Error: \"topics\" must be an array"))?
        .iter()
        .map(|t| {
            field(t, "topic")?
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| ToolError::failed("Error: \"topic\" must be a string"))
        })
        .collect()
}

fn duplicates<T: Ord + Clone>(items: &[T]) -> Vec<T> {
    let mut seen = std::collections::BTreeSet::new();
    let mut dups = std::collections::BTreeSet::new();
    for i in items {
        if !seen.insert(i.clone()) {
            dups.insert(i.clone());
        }
    }
    dups.into_iter().collect()
}

/// The checks Kafka's tool makes on an --execute file before talking to the cluster.
fn validate_execute(parts: &[(TopicPartitionName, Vec<i32>)]) -> Result<Assignment, ToolError> {
    if parts.is_empty() {
        return Err(ToolError::failed(
            "Error: Partition reassignment list cannot be empty",
        ));
    }
    if parts.iter().any(|(_, r)| r.is_empty()) {
        return Err(ToolError::failed(
            "Error: Partition replica list cannot be empty",
        ));
    }
    let names: Vec<TopicPartitionName> = parts.iter().map(|(p, _)| p.clone()).collect();
    let dup = duplicates(&names);
    if !dup.is_empty() {
        return Err(ToolError::failed(format!(
            "Error: Partition reassignment contains duplicate topic partitions: {}",
            dup.iter().map(tp).collect::<Vec<_>>().join(",")
        )));
    }
    let dup_replicas: Vec<String> = parts
        .iter()
        .filter_map(|(p, r)| {
            let d = duplicates(r);
            (!d.is_empty()).then(|| format!("{} contains multiple entries for {}", tp(p), join(&d)))
        })
        .collect();
    if !dup_replicas.is_empty() {
        return Err(ToolError::failed(format!(
            "Error: Partition replica lists may not contain duplicate entries: {}",
            dup_replicas.join(". ")
        )));
    }
    Ok(parts.iter().cloned().collect())
}

fn required<'a>(v: &'a Option<PathBuf>, name: &str) -> Result<&'a PathBuf, ToolError> {
    v.as_ref()
        .ok_or_else(|| ToolError::usage(format!("Missing required argument \"[{name}]\"")))
}

fn read_file(path: &PathBuf) -> Result<String, ToolError> {
    std::fs::read_to_string(path)
        .map_err(|e| ToolError::failed(format!("Error: cannot read {}: {e}", path.display())))
}

/// Checks the action and the options allowed with it, with Kafka's messages.
fn check_args(a: &ReassignArgs) -> Result<(&'static str, String), ToolError> {
    let actions = [
        ("generate", a.generate),
        ("execute", a.execute),
        ("verify", a.verify),
        ("cancel", a.cancel),
        ("list", a.list),
    ];
    let chosen: Vec<&str> = actions
        .iter()
        .filter(|(_, on)| *on)
        .map(|(n, _)| *n)
        .collect();
    let [action] = chosen[..] else {
        return Err(ToolError::usage(
            "Command must include exactly one action: --generate, --execute, --verify, --cancel, --list",
        ));
    };
    if a.bootstrap_controller.is_some() {
        return Err(ToolError::usage(
            "The --bootstrap-controller option is not supported with these action.",
        ));
    }
    let Some(server) = a.bootstrap_server.clone() else {
        return Err(ToolError::usage(
            "Please specify either --bootstrap-server or --bootstrap-controller",
        ));
    };
    let required: &[(&str, bool)] = match action {
        "generate" => &[
            (
                "topics-to-move-json-file",
                a.topics_to_move_json_file.is_some(),
            ),
            ("broker-list", a.broker_list.is_some()),
        ],
        "execute" | "verify" | "cancel" => {
            &[("reassignment-json-file", a.reassignment_json_file.is_some())]
        }
        _ => &[],
    };
    if let Some((name, _)) = required.iter().find(|(_, present)| !present) {
        return Err(ToolError::usage(format!(
            "Missing required argument \"[{name}]\""
        )));
    }
    let given = [
        (
            "reassignment-json-file",
            a.reassignment_json_file.is_some(),
            &["execute", "verify", "cancel"][..],
        ),
        (
            "topics-to-move-json-file",
            a.topics_to_move_json_file.is_some(),
            &["generate"][..],
        ),
        ("broker-list", a.broker_list.is_some(), &["generate"][..]),
        (
            "disable-rack-aware",
            a.disable_rack_aware,
            &["generate"][..],
        ),
        ("additional", a.additional, &["execute"][..]),
        ("throttle", a.throttle.is_some(), &["execute"][..]),
        (
            "replica-alter-log-dirs-throttle",
            a.replica_alter_log_dirs_throttle.is_some(),
            &["execute"][..],
        ),
        ("timeout", a.timeout.is_some(), &["execute", "cancel"][..]),
        (
            "preserve-throttles",
            a.preserve_throttles,
            &["verify", "cancel"][..],
        ),
        (
            "disallow-replication-factor-change",
            a.disallow_replication_factor_change,
            &["execute"][..],
        ),
    ];
    for (name, present, allowed) in given {
        if present && !allowed.contains(&action) {
            return Err(ToolError::usage(format!(
                "Option \"[{name}]\" can't be used with action \"[{action}]\""
            )));
        }
    }
    Ok((action, server))
}

pub async fn run(a: ReassignArgs) -> Result<(), ToolError> {
    let (action, server) = check_args(&a)?;
    if a.command_config.is_some() {
        eprintln!(
            "Note: --command-config is accepted but not used (no security settings are supported)."
        );
    }
    let client = bootstrap(&server).await?;
    match action {
        "generate" => generate(&client, &a).await,
        "execute" => execute(&client, &a).await,
        "verify" => verify(&client, &a).await,
        "cancel" => cancel(&client, &a).await,
        _ => list(&client).await,
    }
}

/// Current replicas of every partition of `topics` ("Topic X not found." if one is missing).
async fn current_assignment(client: &Client, topics: &[String]) -> Result<Assignment, ToolError> {
    let mut out = Assignment::new();
    for topic in topics {
        let described = client.describe_topics(std::slice::from_ref(topic)).await;
        let t = match described {
            Ok(mut d) if !d.is_empty() => d.remove(0),
            Ok(_) => {
                return Err(ToolError::failed(format!(
                    "Error: Topic {topic} not found."
                )))
            }
            Err(e) if e.code() == Some(3) => {
                return Err(ToolError::failed(format!(
                    "Error: Topic {topic} not found."
                )))
            }
            Err(e) => return Err(e.into()),
        };
        for p in t.partitions {
            out.insert((topic.clone(), p.partition), p.replicas);
        }
    }
    Ok(out)
}

async fn generate(client: &Client, a: &ReassignArgs) -> Result<(), ToolError> {
    let list = a.broker_list.as_deref().unwrap_or_default();
    let brokers: Vec<i32> = list
        .split(',')
        .map(|b| b.trim().parse::<i32>())
        .collect::<Result<_, _>>()
        .map_err(|_| ToolError::usage(format!("Error: invalid --broker-list '{list}'")))?;
    let dup = duplicates(&brokers);
    if !dup.is_empty() {
        return Err(ToolError::failed(format!(
            "Error: Broker list contains duplicate entries: {}",
            join(&dup)
        )));
    }
    let path = required(&a.topics_to_move_json_file, "topics-to-move-json-file")?;
    let topics = parse_topics_json(&read_file(path)?)?;
    let dup = duplicates(&topics);
    if !dup.is_empty() {
        return Err(ToolError::failed(format!(
            "Error: List of topics to reassign contains duplicate entries: {}",
            dup.join(",")
        )));
    }
    let current = current_assignment(client, &topics).await?;
    // Only brokers that exist take part (as Kafka's tool).
    let live: Vec<i32> = client
        .describe_cluster()
        .await?
        .brokers
        .iter()
        .map(|b| b.id)
        .filter(|id| brokers.contains(id))
        .collect();
    let mut proposed = Assignment::new();
    for topic in &topics {
        let parts: Vec<(&TopicPartitionName, &Vec<i32>)> =
            current.iter().filter(|((t, _), _)| t == topic).collect();
        let Some((_, first)) = parts.first() else {
            continue;
        };
        let rf = first.len();
        if rf > live.len() {
            return Err(ToolError::failed(format!(
                "Error: Replication factor: {rf} larger than available brokers: {}.",
                live.len()
            )));
        }
        let assigned =
            sluice_metadata::controller::assign_replicas(&live, parts.len() as i32, rf as i16, 0);
        for (p, replicas) in assigned.into_iter().enumerate() {
            proposed.insert((topic.clone(), p as i32), replicas);
        }
    }
    println!(
        "Current partition replica assignment\n{}\n",
        format_reassignment_json(&current)
    );
    println!(
        "Proposed partition reassignment configuration\n{}",
        format_reassignment_json(&proposed)
    );
    Ok(())
}

async fn execute(client: &Client, a: &ReassignArgs) -> Result<(), ToolError> {
    let path = required(&a.reassignment_json_file, "reassignment-json-file")?;
    let proposed = validate_execute(&parse_reassignment_json(&read_file(path)?)?)?;
    let ongoing = client.list_partition_reassignments(None).await?;
    if !a.additional && !ongoing.is_empty() {
        return Err(ToolError::failed(CANNOT_EXECUTE_BECAUSE_OF_EXISTING));
    }
    let known: Vec<i32> = client
        .describe_cluster()
        .await?
        .brokers
        .iter()
        .map(|b| b.id)
        .collect();
    let mut wanted: Vec<i32> = proposed.values().flatten().copied().collect();
    wanted.sort_unstable();
    if let Some(b) = wanted.iter().find(|b| !known.contains(b)) {
        return Err(ToolError::failed(format!("Error: Unknown broker id {b}")));
    }
    let mut topics: Vec<String> = proposed.keys().map(|(t, _)| t.clone()).collect();
    topics.dedup();
    let mut current = current_assignment(client, &topics).await?;
    current.retain(|p, _| proposed.contains_key(p));
    let missing: Vec<String> = proposed
        .keys()
        .filter(|p| !current.contains_key(*p))
        .map(tp)
        .collect();
    if !missing.is_empty() {
        return Err(ToolError::failed(format!(
            "Error: Unable to find partition: {}",
            missing.join(", ")
        )));
    }
    println!(
        "Current partition replica assignment\n\n{}\n\nSave this to use as the --reassignment-json-file option during rollback",
        format_reassignment_json(&current)
    );
    if a.throttle.is_some_and(|t| t >= 0)
        || a.replica_alter_log_dirs_throttle.is_some_and(|t| t >= 0)
    {
        println!("Warning: the throttle was NOT applied: Sluice does not throttle replication, so this reassignment copies data at full speed.");
    }
    let request: Vec<(TopicPartitionName, Option<Vec<i32>>)> = proposed
        .iter()
        .map(|(p, r)| (p.clone(), Some(r.clone())))
        .collect();
    let results = client
        .alter_partition_reassignments(&request, !a.disallow_replication_factor_change)
        .await?;
    let errors: Vec<String> = results
        .iter()
        .filter_map(|(p, r)| {
            r.as_ref()
                .err()
                .map(|e| format!("{}: {}", tp(p), message(e)))
        })
        .collect();
    if !errors.is_empty() {
        return Err(ToolError::failed(format!(
            "Error reassigning partition(s):\n{}",
            errors.join("\n")
        )));
    }
    println!(
        "Successfully started partition reassignment{} for {}",
        if proposed.len() == 1 { "" } else { "s" },
        proposed.keys().map(tp).collect::<Vec<_>>().join(",")
    );
    Ok(())
}

async fn verify(client: &Client, a: &ReassignArgs) -> Result<(), ToolError> {
    let path = required(&a.reassignment_json_file, "reassignment-json-file")?;
    let targets: Assignment = parse_reassignment_json(&read_file(path)?)?
        .into_iter()
        .collect();
    let ongoing = client.list_partition_reassignments(None).await?;
    let mut topics: Vec<String> = targets
        .keys()
        .filter(|p| !ongoing.contains_key(*p))
        .map(|(t, _)| t.clone())
        .collect();
    topics.dedup();
    // Partitions of topics that are gone count as done with no replicas (as Kafka's tool).
    let mut current = Assignment::new();
    for t in topics {
        if let Ok(a) = current_assignment(client, std::slice::from_ref(&t)).await {
            current.extend(a);
        }
    }
    println!("Status of partition reassignment:");
    for (p, target) in &targets {
        if ongoing.contains_key(p) {
            println!("Reassignment of partition {} is still in progress.", tp(p));
            continue;
        }
        let replicas = current.get(p).cloned().unwrap_or_default();
        if replicas == *target {
            println!("Reassignment of partition {} is completed.", tp(p));
        } else {
            println!(
                "There is no active reassignment of partition {}, but replica set is {} rather than {}.",
                tp(p),
                join(&replicas),
                join(target)
            );
        }
    }
    Ok(())
}

async fn cancel(client: &Client, a: &ReassignArgs) -> Result<(), ToolError> {
    let path = required(&a.reassignment_json_file, "reassignment-json-file")?;
    let targets: Vec<TopicPartitionName> = parse_reassignment_json(&read_file(path)?)?
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let ongoing = client.list_partition_reassignments(Some(&targets)).await?;
    let active: Vec<TopicPartitionName> = ongoing.keys().cloned().collect();
    if active.is_empty() {
        println!("None of the specified partition reassignments are active.");
    } else {
        let request: Vec<(TopicPartitionName, Option<Vec<i32>>)> =
            active.iter().map(|p| (p.clone(), None)).collect();
        let results = client.alter_partition_reassignments(&request, true).await?;
        let errors: Vec<String> = results
            .iter()
            .filter_map(|(p, r)| {
                r.as_ref()
                    .err()
                    .map(|e| format!("{}: {}", tp(p), message(e)))
            })
            .collect();
        if !errors.is_empty() {
            return Err(ToolError::failed(format!(
                "Error cancelling partition reassignment{} for:\n{}",
                if errors.len() == 1 { "" } else { "s" },
                errors.join("\n")
            )));
        }
        println!(
            "Successfully cancelled partition reassignment{} for: {}",
            if active.len() == 1 { "" } else { "s" },
            active.iter().map(tp).collect::<Vec<_>>().join(",")
        );
    }
    println!("None of the specified partition moves are active.");
    Ok(())
}

async fn list(client: &Client) -> Result<(), ToolError> {
    let ongoing = client.list_partition_reassignments(None).await?;
    if ongoing.is_empty() {
        println!("No partition reassignments found.");
        return Ok(());
    }
    println!("Current partition reassignments:");
    for (p, r) in &ongoing {
        let mut line = format!("{}: replicas: {}.", tp(p), join(&r.replicas));
        if !r.adding_replicas.is_empty() {
            line.push_str(&format!(" adding: {}.", join(&r.adding_replicas)));
        }
        if !r.removing_replicas.is_empty() {
            line.push_str(&format!(" removing: {}.", join(&r.removing_replicas)));
        }
        println!("{line}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_in_kafkas_format() {
        let text = r#"{"version":1,"partitions":[{"topic":"t","partition":1,"replicas":[2,3],"log_dirs":["any","any"]},{"topic":"a\"b","partition":0,"replicas":[1]}]}"#;
        let parsed: Assignment = parse_reassignment_json(text).unwrap().into_iter().collect();
        assert_eq!(
            format_reassignment_json(&parsed),
            r#"{"version":1,"partitions":[{"topic":"a\"b","partition":0,"replicas":[1],"log_dirs":["any"]},{"topic":"t","partition":1,"replicas":[2,3],"log_dirs":["any","any"]}]}"#
        );
        assert_eq!(
            parse_topics_json(r#"{"topics":[{"topic":"foo"},{"topic":"bar"}],"version":1}"#)
                .unwrap(),
            vec!["foo", "bar"]
        );
    }

    #[test]
    fn bad_files_get_kafkas_messages() {
        let err = |t: &str| {
            parse_reassignment_json(t)
                .and_then(|p| validate_execute(&p))
                .unwrap_err()
                .to_string()
        };
        assert!(err("{").contains("not a valid JSON"));
        assert!(err(r#"{"version":2}"#).contains("Not supported version field value 2"));
        assert!(err(r#"{"partitions":[]}"#).contains("cannot be empty"));
        assert!(
            err(r#"{"partitions":[{"topic":"t","partition":0,"replicas":[]}]}"#)
                .contains("Partition replica list cannot be empty")
        );
        assert!(err(
            r#"{"partitions":[{"topic":"t","partition":0,"replicas":[1]},{"topic":"t","partition":0,"replicas":[2]}]}"#
        )
        .contains("duplicate topic partitions: t-0"));
        assert!(
            err(r#"{"partitions":[{"topic":"t","partition":0,"replicas":[1,1]}]}"#)
                .contains("t-0 contains multiple entries for 1")
        );
        assert!(err(
            r#"{"partitions":[{"topic":"t","partition":0,"replicas":[1],"log_dirs":["any","any"]}]}"#
        )
        .contains("Size of replicas list"));
        assert!(err(
            r#"{"partitions":[{"topic":"t","partition":0,"replicas":[1],"log_dirs":["/d"]}]}"#
        )
        .contains("not supported"));
        assert!(err(r#"{"partitions":[{"partition":0,"replicas":[1]}]}"#).contains("topic"));
    }
}
