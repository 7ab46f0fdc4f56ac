//! `sluice consumer-groups` — kafka-consumer-groups.sh (Kafka's ConsumerGroupCommand): list,
//! describe (offsets / members / state), delete, reset offsets and delete offsets, with
//! Kafka's flags, column layouts and messages. Talks to brokers only through
//! `sluice-client`; every table is rendered by a pure function tested below. Where Kafka only
//! prints an error about a group ("does not exist", "can only be reset if ... inactive"), this
//! tool prints the same line and exits 0 as Kafka does; failures of the command itself exit 1.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use clap::Args;
use sluice_client::{
    Client, CommittedOffset, GroupDescription, TopicPartition, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP,
};

use crate::consumer_groups_tables::{
    deletion_error, format_delete_offsets, format_list_with_state, format_members, format_offsets,
    format_reset_plan, format_state, kafka_message, opt, OffsetRow, MISSING,
};
use crate::offset_reset::{new_offset, parse_datetime, parse_duration, PartitionState, ResetSpec};
use crate::{bootstrap, ToolError};

/// Kafka's group states for consumer groups, in its canonical spelling.
const STATES: [&str; 7] = [
    "PreparingRebalance",
    "CompletingRebalance",
    "Stable",
    "Dead",
    "Empty",
    "Assigning",
    "Reconciling",
];

#[derive(Debug, Args)]
pub struct ConsumerGroupsArgs {
    /// REQUIRED: The server(s) to connect to.
    #[arg(long)]
    bootstrap_server: Option<String>,
    /// Property file containing configs to be passed to Admin Client (accepted, not used yet).
    #[arg(long)]
    command_config: Option<String>,
    /// List all consumer groups.
    #[arg(long)]
    list: bool,
    /// Describe consumer group and list offset lag (number of messages not yet processed) related to given group.
    #[arg(long)]
    describe: bool,
    /// Pass in groups to delete topic partition offsets and ownership information over the entire consumer group.
    #[arg(long)]
    delete: bool,
    /// Reset offsets of consumer group (inactive groups only). --dry-run (default) or --execute.
    #[arg(long)]
    reset_offsets: bool,
    /// Delete offsets of consumer group. Supports one consumer group at the time, and multiple topics.
    #[arg(long)]
    delete_offsets: bool,
    /// The consumer group we wish to act on (repeatable).
    #[arg(long)]
    group: Vec<String>,
    /// Apply to all consumer groups.
    #[arg(long)]
    all_groups: bool,
    /// The topic (reset-offsets: `topic` or `topic:0,1,2`; repeatable).
    #[arg(long)]
    topic: Vec<String>,
    /// Consider all topics assigned to a group in the reset-offsets process.
    #[arg(long)]
    all_topics: bool,
    /// Describe members of the group.
    #[arg(long)]
    members: bool,
    /// Provide additional information, if any, when describing the group.
    #[arg(long)]
    verbose: bool,
    /// Describe the group and list all topic partitions in the group along with their offset lag (default).
    #[arg(long)]
    offsets: bool,
    /// With --describe: the state of the group. With --list: show states, or filter by
    /// comma-separated states (e.g. stable,empty).
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    state: Option<String>,
    /// The timeout in ms for admin operations (accepted; requests use the client timeout).
    #[arg(long, default_value_t = 5000)]
    timeout: u64,
    /// Only show results without executing changes (the default for --reset-offsets).
    #[arg(long)]
    dry_run: bool,
    /// Execute operation. Supported operations: reset-offsets.
    #[arg(long)]
    execute: bool,
    /// Reset offsets to a specific offset.
    #[arg(long, allow_hyphen_values = true)]
    to_offset: Option<i64>,
    /// Reset offsets shifting current offset by 'n', where 'n' can be positive or negative.
    #[arg(long, allow_hyphen_values = true)]
    shift_by: Option<i64>,
    /// Reset offsets to offset from datetime. Format: 'YYYY-MM-DDTHH:mm:SS.sss'
    #[arg(long)]
    to_datetime: Option<String>,
    /// Reset offsets to offset by duration from current timestamp. Format: 'PnDTnHnMnS'
    #[arg(long, allow_hyphen_values = true)]
    by_duration: Option<String>,
    /// Reset offsets to earliest offset.
    #[arg(long)]
    to_earliest: bool,
    /// Reset offsets to latest offset.
    #[arg(long)]
    to_latest: bool,
    /// Reset offsets to current offset.
    #[arg(long)]
    to_current: bool,
    /// Not supported yet.
    #[arg(long)]
    from_file: Option<String>,
    /// Not supported yet.
    #[arg(long)]
    export: bool,
}

/// Kafka's per-group notice before a describe table; false when nothing is to be printed.
fn should_print(group: &str, state: &str, rows: usize) -> bool {
    match state {
        "Dead" => {
            println!("\nError: Consumer group '{group}' does not exist.");
            return false;
        }
        "Empty" => eprintln!("\nConsumer group '{group}' has no active members."),
        "PreparingRebalance" | "CompletingRebalance" | "Assigning" | "Reconciling" => {
            eprintln!("\nWarning: Consumer group '{group}' is rebalancing.")
        }
        _ => {}
    }
    rows > 0
}

fn failed(e: impl std::fmt::Display) -> ToolError {
    ToolError::failed(format!(
        "\nError: Executing consumer group command failed due to {e}"
    ))
}

pub async fn run(a: ConsumerGroupsArgs) -> Result<(), ToolError> {
    let actions = [
        a.list,
        a.describe,
        a.delete,
        a.reset_offsets,
        a.delete_offsets,
    ];
    if actions.iter().filter(|x| **x).count() != 1 {
        return Err(ToolError::usage(
            "Command must include exactly one action: --list, --describe, --delete, --reset-offsets, --delete-offsets",
        ));
    }
    let Some(server) = a.bootstrap_server.clone() else {
        return Err(ToolError::usage(
            "Missing required argument \"[bootstrap-server]\"",
        ));
    };
    check_args(&a)?;
    let client = bootstrap(&server).await?;
    if a.list {
        list(&client, &a).await
    } else if a.describe {
        describe(&client, &a).await
    } else if a.delete {
        delete(&client, &a).await
    } else if a.reset_offsets {
        reset(&client, &a).await
    } else {
        delete_offsets(&client, &a).await
    }
}

/// Kafka's option checks (`ConsumerGroupCommandOptions.checkArgs`).
fn check_args(a: &ConsumerGroupsArgs) -> Result<(), ToolError> {
    let u = |m: &str| Err(ToolError::usage(m));
    let has_groups = !a.group.is_empty() || a.all_groups;
    if !a.group.is_empty() && a.all_groups {
        return u("Option \"[group]\" can't be used with option \"[all-groups]\"");
    }
    if (a.members || a.offsets || a.verbose) && !a.describe {
        return u("Options --members, --offsets and --verbose are available with --describe only");
    }
    if a.state.is_some() && !(a.describe || a.list) {
        return u("Option --state is available with --describe and --list only");
    }
    if a.describe {
        if !has_groups {
            return u("Option [describe] takes one of these options: [all-groups], [group]");
        }
        if [a.members, a.offsets, a.state.is_some()]
            .iter()
            .filter(|x| **x)
            .count()
            > 1
        {
            return u("Option [describe] takes at most one of these options: [members], [offsets], [state]");
        }
        if a.state.as_deref().is_some_and(|s| !s.is_empty()) {
            return u("Option [describe] does not take a value for [state]");
        }
    }
    if a.list && !a.group.is_empty() {
        return u("Option \"[group]\" can't be used with option \"[list]\"");
    }
    if a.delete {
        if !has_groups {
            return u("Option [delete] takes one of these options: [all-groups], [group]");
        }
        if !a.topic.is_empty() {
            return u("The consumer does not support topic-specific offset deletion from a consumer group.");
        }
    }
    if a.delete_offsets && (a.group.len() != 1 || a.topic.is_empty()) {
        return u("Option [delete-offsets] takes the following options: [group], [topic]");
    }
    if !(a.topic.is_empty() || a.delete || a.reset_offsets || a.delete_offsets) {
        return u("Option \"[topic]\" can't be used with option \"[list]\" or \"[describe]\"");
    }
    if a.reset_offsets {
        if a.dry_run && a.execute {
            return u("Option [reset-offsets] only accepts one of [execute] and [dry-run]");
        }
        if !has_groups {
            return u("Option [reset-offsets] takes one of these options: [all-groups], [group]");
        }
        if a.from_file.is_some() || a.export {
            return u("--from-file and --export are not supported yet");
        }
        if reset_spec_count(a) != 1 {
            return u("Option [reset-offsets] requires exactly one of the following scenarios: [to-offset], [shift-by], [to-datetime], [by-duration], [to-earliest], [to-latest], [to-current]");
        }
        if !a.all_topics && a.topic.is_empty() {
            return u("One of the reset scopes should be defined: --all-topics, --topic.");
        }
        if a.all_topics && !a.topic.is_empty() {
            return u("Option \"[all-topics]\" can't be used with option \"[topic]\"");
        }
    }
    Ok(())
}

fn reset_spec_count(a: &ConsumerGroupsArgs) -> usize {
    [
        a.to_offset.is_some(),
        a.shift_by.is_some(),
        a.to_datetime.is_some(),
        a.by_duration.is_some(),
        a.to_earliest,
        a.to_latest,
        a.to_current,
    ]
    .iter()
    .filter(|x| **x)
    .count()
}

fn parse_states(input: &str) -> Result<Vec<String>, ToolError> {
    input
        .split(',')
        .map(|s| {
            let s = s.trim();
            STATES
                .iter()
                .find(|k| k.eq_ignore_ascii_case(s))
                .map(|k| k.to_string())
                .ok_or_else(|| {
                    ToolError::usage(format!(
                        "Invalid state list '{input}'. Valid states are: {}",
                        STATES.join(", ")
                    ))
                })
        })
        .collect()
}

async fn list(client: &Client, a: &ConsumerGroupsArgs) -> Result<(), ToolError> {
    match a.state.as_deref() {
        None => {
            for g in client.list_groups(&[]).await.map_err(failed)? {
                println!("{}", g.group_id);
            }
        }
        Some(filter) => {
            let states = if filter.is_empty() {
                Vec::new()
            } else {
                parse_states(filter)?
            };
            let groups = client.list_groups(&states).await.map_err(failed)?;
            let rows: Vec<(String, String)> = groups
                .into_iter()
                .map(|g| (g.group_id, g.state.unwrap_or_else(|| "Unknown".into())))
                .collect();
            print!("{}", format_list_with_state(&rows));
        }
    }
    Ok(())
}

async fn group_ids(client: &Client, a: &ConsumerGroupsArgs) -> Result<Vec<String>, ToolError> {
    let mut ids: Vec<String> = if a.all_groups {
        client
            .list_groups(&[])
            .await
            .map_err(failed)?
            .into_iter()
            .map(|g| g.group_id)
            .collect()
    } else {
        a.group.clone()
    };
    ids.sort();
    ids.dedup();
    Ok(ids)
}

async fn describe(client: &Arc<Client>, a: &ConsumerGroupsArgs) -> Result<(), ToolError> {
    let ids = group_ids(client, a).await?;
    let descs = client.describe_groups(&ids).await.map_err(failed)?;
    for d in &descs {
        if a.members {
            if should_print(&d.group_id, &d.state, d.members.len()) {
                print!("{}", format_members(d, a.verbose));
            }
        } else if a.state.is_some() {
            if should_print(&d.group_id, &d.state, 1) {
                print!("{}", format_state(d));
            }
        } else {
            let rows = offset_rows(client, d).await?;
            if should_print(&d.group_id, &d.state, rows.len()) {
                print!("{}", format_offsets(&rows));
            }
        }
    }
    Ok(())
}

/// Log end offsets of many partitions; `None` where they cannot be read.
async fn log_offsets(
    client: &Client,
    tps: &BTreeSet<TopicPartition>,
    spec: i64,
) -> BTreeMap<TopicPartition, i64> {
    let mut by_topic: BTreeMap<&str, Vec<(i32, i64)>> = BTreeMap::new();
    for tp in tps {
        by_topic
            .entry(&tp.topic)
            .or_default()
            .push((tp.partition, spec));
    }
    let mut out = BTreeMap::new();
    for (topic, qs) in by_topic {
        match client.list_offsets(topic, &qs).await {
            Ok(r) => out.extend(
                r.into_iter()
                    .map(|(p, off, _)| (TopicPartition::new(topic, p), off)),
            ),
            Err(e) => tracing::debug!("ListOffsets {topic}: {e}"),
        }
    }
    out
}

/// Kafka's rows for the offsets view: members by partition count (most first), each
/// member's partitions in order, then committed partitions nobody is assigned.
async fn offset_rows(client: &Client, d: &GroupDescription) -> Result<Vec<OffsetRow>, ToolError> {
    if d.state == "Dead" {
        return Ok(Vec::new());
    }
    let committed: BTreeMap<TopicPartition, CommittedOffset> = client
        .list_group_offsets(&d.group_id, None)
        .await
        .map_err(failed)?;
    let mut members: Vec<&sluice_client::MemberDescription> = d
        .members
        .iter()
        .filter(|m| !m.assignment.is_empty())
        .collect();
    members.sort_by_key(|m| std::cmp::Reverse(m.assignment.len()));
    let mut all: BTreeSet<TopicPartition> = committed.keys().cloned().collect();
    for m in &members {
        all.extend(m.assignment.iter().cloned());
    }
    let leo = log_offsets(client, &all, LATEST_TIMESTAMP).await;
    let row = |tp: &TopicPartition, who: Option<&sluice_client::MemberDescription>| {
        let cur = committed.get(tp).map(|c| c.offset);
        let end = leo.get(tp).copied().filter(|o| *o >= 0);
        let lag = cur.zip(end).map(|(c, e)| e - c);
        OffsetRow {
            group: d.group_id.clone(),
            topic: tp.topic.clone(),
            partition: tp.partition.to_string(),
            current: opt(cur),
            log_end: opt(end),
            lag: opt(lag),
            consumer_id: opt(who.map(|m| &m.member_id)),
            host: opt(who.map(|m| &m.client_host)),
            client_id: opt(who.map(|m| &m.client_id)),
        }
    };
    let mut rows = Vec::new();
    let mut assigned = BTreeSet::new();
    for m in members {
        let mut tps = m.assignment.clone();
        tps.sort();
        for tp in &tps {
            rows.push(row(tp, Some(m)));
            assigned.insert(tp.clone());
        }
    }
    for tp in committed.keys().filter(|tp| !assigned.contains(*tp)) {
        rows.push(row(tp, None));
    }
    Ok(rows)
}

async fn delete(client: &Client, a: &ConsumerGroupsArgs) -> Result<(), ToolError> {
    let ids = group_ids(client, a).await?;
    let results = client.delete_groups(&ids).await.map_err(failed)?;
    let quote = |v: Vec<&String>| {
        v.iter()
            .map(|g| format!("'{g}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let ok: Vec<&String> = results
        .iter()
        .filter(|r| r.1.is_ok())
        .map(|r| &r.0)
        .collect();
    let bad: Vec<(&String, String)> = results
        .iter()
        .filter_map(|(g, r)| r.as_ref().err().map(|e| (g, deletion_error(e))))
        .collect();
    if bad.is_empty() {
        println!(
            "Deletion of requested consumer groups ({}) was successful.",
            quote(ok)
        );
        return Ok(());
    }
    println!("\nError: Deletion of some consumer groups failed:");
    for (g, e) in &bad {
        println!("* Group '{g}' could not be deleted due to: {e}");
    }
    if !ok.is_empty() {
        println!(
            "\nThese consumer groups were deleted successfully: {}",
            quote(ok)
        );
    }
    Ok(())
}

/// `topic` → every partition (from metadata); `topic:0,2` → those partitions.
async fn parse_topic_args(
    client: &Client,
    args: &[String],
) -> Result<Vec<Result<TopicPartition, (String, String)>>, ToolError> {
    let mut out = Vec::new();
    for arg in args {
        match arg.split_once(':') {
            Some((topic, parts)) => {
                if topic.is_empty() || parts.contains(':') {
                    return Err(ToolError::usage(format!(
                        "Invalid topic arg '{arg}', expected topic name and partitions"
                    )));
                }
                for p in parts.split(',') {
                    let n: i32 = p.trim().parse().map_err(|_| {
                        ToolError::usage(format!(
                            "Invalid partition '{p}' specified in topic arg '{arg}''"
                        ))
                    })?;
                    out.push(Ok(TopicPartition::new(topic, n)));
                }
            }
            None => match client.topic_metadata(arg, true).await {
                Ok(md) => out.extend(
                    md.partitions
                        .iter()
                        .map(|p| Ok(TopicPartition::new(arg.as_str(), p.partition))),
                ),
                Err(e) => out.push(Err((arg.clone(), kafka_message(&e)))),
            },
        }
    }
    Ok(out)
}

fn reset_spec(a: &ConsumerGroupsArgs) -> Result<ResetSpec, ToolError> {
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    };
    Ok(if let Some(o) = a.to_offset {
        ResetSpec::ToOffset(o)
    } else if let Some(n) = a.shift_by {
        ResetSpec::ShiftBy(n)
    } else if let Some(dt) = &a.to_datetime {
        ResetSpec::Timestamp(parse_datetime(dt).map_err(failed)?)
    } else if let Some(d) = &a.by_duration {
        ResetSpec::Timestamp(now_ms() - parse_duration(d).map_err(failed)?)
    } else if a.to_earliest {
        ResetSpec::Earliest
    } else if a.to_latest {
        ResetSpec::Latest
    } else {
        ResetSpec::Current
    })
}

async fn reset(client: &Client, a: &ConsumerGroupsArgs) -> Result<(), ToolError> {
    let spec = reset_spec(a)?;
    if !a.dry_run && !a.execute {
        eprintln!("WARN: No action will be performed as the --execute option is missing.In a future major release, the default behavior of this command will be to prompt the user before executing the reset rather than doing a dry run. You should add the --dry-run option explicitly if you are scripting this command and want to keep the current default behavior without prompting.");
    }
    let ids = group_ids(client, a).await?;
    let descs = client.describe_groups(&ids).await.map_err(failed)?;
    let mut plan = Vec::new();
    for d in descs {
        if d.state != "Empty" && d.state != "Dead" {
            println!("\nError: Assignments can only be reset if the group '{}' is inactive, but the current state is {}.", d.group_id, d.state);
            plan.push((d.group_id, Vec::new()));
            continue;
        }
        let offsets = plan_group(client, a, spec, &d.group_id).await?;
        if a.execute {
            let map: BTreeMap<TopicPartition, i64> = offsets.iter().cloned().collect();
            for (tp, r) in client
                .alter_group_offsets(&d.group_id, &map)
                .await
                .map_err(failed)?
            {
                r.map_err(|e| failed(format!("{tp}: {}", kafka_message(&e))))?;
            }
        }
        plan.push((d.group_id, offsets));
    }
    print!("{}", format_reset_plan(&plan));
    Ok(())
}

/// The new offsets of one inactive group.
async fn plan_group(
    client: &Client,
    a: &ConsumerGroupsArgs,
    spec: ResetSpec,
    group: &str,
) -> Result<Vec<(TopicPartition, i64)>, ToolError> {
    let committed = client
        .list_group_offsets(group, None)
        .await
        .map_err(failed)?;
    let tps: BTreeSet<TopicPartition> = if a.all_topics {
        committed.keys().cloned().collect()
    } else {
        let mut set = BTreeSet::new();
        for r in parse_topic_args(client, &a.topic).await? {
            match r {
                Ok(tp) => {
                    set.insert(tp);
                }
                Err((topic, e)) => return Err(failed(format!("topic {topic}: {e}"))),
            }
        }
        set
    };
    // Kafka's checkAllTopicPartitionsValid.
    let mut missing = Vec::new();
    for tp in &tps {
        let md = client.topic_metadata(&tp.topic, false).await.ok();
        if !md.is_some_and(|m| m.partitions.iter().any(|p| p.partition == tp.partition)) {
            missing.push(tp.to_string());
        }
    }
    if !missing.is_empty() {
        return Err(failed(format!(
            "The partitions \"{}\" do not exist",
            missing.join(",")
        )));
    }
    let starts = log_offsets(client, &tps, EARLIEST_TIMESTAMP).await;
    let ends = log_offsets(client, &tps, LATEST_TIMESTAMP).await;
    let by_time = match spec {
        ResetSpec::Timestamp(ts) => Some(log_offsets(client, &tps, ts).await),
        _ => None,
    };
    let mut out = Vec::new();
    for tp in tps {
        let (Some(&log_start), Some(&log_end)) = (starts.get(&tp), ends.get(&tp)) else {
            return Err(failed(format!(
                "Error getting starting or ending offset of topic partition: {tp}"
            )));
        };
        let state = PartitionState {
            committed: committed.get(&tp).map(|c| c.offset),
            log_start,
            log_end,
            by_timestamp: by_time.as_ref().map(|m| m.get(&tp).copied().unwrap_or(-1)),
        };
        if state.by_timestamp.is_some_and(|o| o < 0) {
            println!(
                "\nWarn: Partition {} from topic {} is empty. Falling back to latest known offset.",
                tp.partition, tp.topic
            );
        }
        let off = new_offset(spec, &state, &tp.to_string()).map_err(ToolError::usage)?;
        out.push((tp, off));
    }
    Ok(out)
}

async fn delete_offsets(client: &Client, a: &ConsumerGroupsArgs) -> Result<(), ToolError> {
    let group = &a.group[0];
    let mut rows: Vec<(String, String, String)> = Vec::new();
    let mut tps = Vec::new();
    for r in parse_topic_args(client, &a.topic).await? {
        match r {
            Ok(tp) => tps.push(tp),
            Err((topic, e)) => rows.push((topic, MISSING.into(), format!("Error: {e}"))),
        }
    }
    tps.sort();
    tps.dedup();
    let (top, per) = client
        .delete_group_offsets(group, &tps)
        .await
        .map_err(failed)?;
    match &top {
        Ok(()) if rows.is_empty() => {
            println!("Request succeeded for deleting offsets from group {group}.")
        }
        Ok(()) => {
            println!("\nError: Encountered some partition-level error, see the follow-up details.")
        }
        Err(e) => match e.code() {
            Some(24) | Some(69) | Some(30) | Some(68) => println!("\nError: {}", kafka_message(e)),
            Some(86) | Some(29) | Some(3) => println!(
                "\nError: Encountered some partition-level error, see the follow-up details."
            ),
            _ => println!("\nError: Encountered some unknown error: {e}"),
        },
    }
    if per.is_empty() {
        // A group-level failure: every requested partition failed with it.
        if let Err(e) = &top {
            for tp in &tps {
                rows.push((
                    tp.topic.clone(),
                    tp.partition.to_string(),
                    format!("Error: {}", kafka_message(e)),
                ));
            }
        }
    }
    for (tp, r) in per {
        let status = match r {
            Ok(()) => "Successful".to_string(),
            Err(e) => format!("Error: {}", kafka_message(&e)),
        };
        rows.push((tp.topic.clone(), tp.partition.to_string(), status));
    }
    println!("{}", format_delete_offsets(rows));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_parse_case_insensitively() {
        assert_eq!(
            parse_states("stable, EMPTY").unwrap(),
            vec!["Stable", "Empty"]
        );
        assert!(parse_states("bogus")
            .unwrap_err()
            .message
            .contains("Valid states are"));
    }
}
