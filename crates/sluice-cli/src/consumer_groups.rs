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

use crate::offset_reset::{new_offset, parse_datetime, parse_duration, PartitionState, ResetSpec};
use crate::{bootstrap, ToolError};

const MISSING: &str = "-";

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

/// One row of the default (offsets) view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetRow {
    pub group: String,
    pub topic: String,
    pub partition: String,
    pub current: String,
    pub log_end: String,
    pub lag: String,
    pub consumer_id: String,
    pub host: String,
    pub client_id: String,
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| MISSING.to_string(), |x| x.to_string())
}

/// Kafka's `--describe --offsets` table (leading blank line, trailing newline).
pub fn format_offsets(rows: &[OffsetRow]) -> String {
    let w = |f: fn(&OffsetRow) -> &str| rows.iter().map(|r| f(r).len()).max().unwrap_or(0).max(15);
    let (g, t, c, h) = (
        w(|r| &r.group),
        w(|r| &r.topic),
        w(|r| &r.consumer_id),
        w(|r| &r.host),
    );
    let line = |cols: [&str; 9]| {
        format!(
            "\n{:<g$} {:<t$} {:<10} {:<15} {:<15} {:<15} {:<c$} {:<h$} {}",
            cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8]
        )
    };
    let mut out = line([
        "GROUP",
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST",
        "CLIENT-ID",
    ]);
    for r in rows {
        out.push_str(&line([
            &r.group,
            &r.topic,
            &r.partition,
            &r.current,
            &r.log_end,
            &r.lag,
            &r.consumer_id,
            &r.host,
            &r.client_id,
        ]));
    }
    out.push('\n');
    out
}

/// `topic(0,1), other(2)`: a member's partitions grouped by topic, or `-`.
pub fn assignment_string(tps: &[TopicPartition]) -> String {
    if tps.is_empty() {
        return MISSING.to_string();
    }
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in tps {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    by_topic
        .into_iter()
        .map(|(t, mut ps)| {
            ps.sort();
            let ps: Vec<String> = ps.iter().map(|p| p.to_string()).collect();
            format!("{t}({})", ps.join(","))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Kafka's `--describe --members [--verbose]` table.
pub fn format_members(d: &GroupDescription, verbose: bool) -> String {
    let ms = &d.members;
    let w = |f: &dyn Fn(&sluice_client::MemberDescription) -> usize, min: usize| {
        ms.iter().map(f).max().unwrap_or(0).max(min)
    };
    let g = d.group_id.len().max(15);
    let c = w(&|m| m.member_id.len(), 15);
    let i = w(&|m| m.group_instance_id.as_deref().map_or(0, str::len), 17);
    let h = w(&|m| m.client_host.len(), 15);
    let cl = w(&|m| m.client_id.len(), 15);
    let with_instance = ms.iter().any(|m| m.group_instance_id.is_some());
    let line = |group: &str, id: &str, inst: &str, host: &str, client: &str, n: &str| {
        if with_instance {
            format!("{group:<g$} {id:<c$} {inst:<i$} {host:<h$} {client:<cl$} {n:<15} ")
        } else {
            format!("{group:<g$} {id:<c$} {host:<h$} {client:<cl$} {n:<15} ")
        }
    };
    let mut out = String::from("\n");
    out.push_str(&line(
        "GROUP",
        "CONSUMER-ID",
        "GROUP-INSTANCE-ID",
        "HOST",
        "CLIENT-ID",
        "#PARTITIONS",
    ));
    if verbose {
        out.push_str("ASSIGNMENT");
    }
    out.push('\n');
    for m in ms {
        out.push_str(&line(
            &d.group_id,
            &m.member_id,
            m.group_instance_id.as_deref().unwrap_or(""),
            &m.client_host,
            &m.client_id,
            &m.assignment.len().to_string(),
        ));
        if verbose {
            out.push_str(&assignment_string(&m.assignment));
        }
        out.push('\n');
    }
    out
}

/// Kafka's `--describe --state` table.
pub fn format_state(d: &GroupDescription) -> String {
    let coordinator = format!(
        "{}:{}  ({})",
        d.coordinator.host, d.coordinator.port, d.coordinator.id
    );
    let c = coordinator.len().max(25);
    let g = d.group_id.len().max(15);
    let strategy = if d.protocol.is_empty() {
        MISSING
    } else {
        &d.protocol
    };
    format!(
        "\n{:<g$} {:<c$} {:<20} {:<20} {}\n{:<g$} {:<c$} {:<20} {:<20} {}\n",
        "GROUP",
        "COORDINATOR (ID)",
        "ASSIGNMENT-STRATEGY",
        "STATE",
        "#MEMBERS",
        d.group_id,
        coordinator,
        strategy,
        d.state,
        d.members.len()
    )
}

/// Kafka's `--list --state` table (group column 10 wider than the longest id).
pub fn format_list_with_state(groups: &[(String, String)]) -> String {
    let g = groups.iter().map(|x| x.0.len().max(15)).max().unwrap_or(15) + 10;
    let mut out = format!("{:<g$} {:<20}\n", "GROUP", "STATE");
    for (id, st) in groups {
        out.push_str(&format!("{id:<g$} {st:<20}\n"));
    }
    out
}

/// Kafka's reset-offsets plan table (`GROUP TOPIC PARTITION NEW-OFFSET`).
pub fn format_reset_plan(plan: &[(String, Vec<(TopicPartition, i64)>)]) -> String {
    let g = plan.iter().map(|p| p.0.len()).max().unwrap_or(0).max(15);
    let t = plan
        .iter()
        .flat_map(|p| p.1.iter().map(|x| x.0.topic.len()))
        .max()
        .unwrap_or(0)
        .max(15);
    let mut out = String::new();
    if !plan.is_empty() {
        out.push_str(&format!(
            "\n{:<g$} {:<t$} {:<10} {}",
            "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"
        ));
    }
    for (group, offsets) in plan {
        for (tp, off) in offsets {
            out.push_str(&format!(
                "\n{group:<g$} {:<t$} {:<10} {off}",
                tp.topic, tp.partition
            ));
        }
    }
    out.push('\n');
    out
}

/// Kafka's message for the error codes this tool reports in its own words.
pub fn kafka_message(e: &sluice_client::ClientError) -> String {
    match e.code() {
        Some(3) => "This server does not host this topic-partition.".into(),
        Some(24) => "The configured groupId is invalid.".into(),
        Some(25) => "The coordinator is not aware of this member.".into(),
        Some(68) => "The group is not empty.".into(),
        Some(69) => "The group id does not exist.".into(),
        Some(86) => "The consumer group is actively subscribed to the topic.".into(),
        _ => e.to_string(),
    }
}

/// The Java exception Kafka's tool prints for a failed group deletion.
fn deletion_error(e: &sluice_client::ClientError) -> String {
    let class = match e.code() {
        Some(68) => "GroupNotEmptyException",
        Some(69) => "GroupIdNotFoundException",
        Some(24) => "InvalidGroupIdException",
        _ => return e.to_string(),
    };
    format!(
        "org.apache.kafka.common.errors.{class}: {}",
        kafka_message(e)
    )
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
    if !a.topic.is_empty() && !(a.delete || a.reset_offsets || a.delete_offsets) {
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
    rows.sort_by(|x, y| (x.0.clone() + &x.1).cmp(&(y.0.clone() + &y.1)));
    let t = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(15);
    let mut out = format!("\n{:<t$} {:<10} {:<15}", "TOPIC", "PARTITION", "STATUS");
    for (topic, p, status) in &rows {
        out.push_str(&format!("\n{topic:<t$} {p:<10} {status:<15}"));
    }
    println!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_client::{BrokerInfo, MemberDescription};

    fn desc(members: Vec<MemberDescription>) -> GroupDescription {
        GroupDescription {
            group_id: "g1".into(),
            state: "Stable".into(),
            protocol_type: "consumer".into(),
            protocol: "range".into(),
            members,
            coordinator: BrokerInfo {
                id: 1,
                host: "127.0.0.1".into(),
                port: 9092,
                rack: None,
            },
        }
    }

    fn member(id: &str, tps: &[(&str, i32)]) -> MemberDescription {
        MemberDescription {
            member_id: id.into(),
            group_instance_id: None,
            client_id: "cli".into(),
            client_host: "/127.0.0.1".into(),
            assignment: tps
                .iter()
                .map(|(t, p)| TopicPartition::new(*t, *p))
                .collect(),
        }
    }

    #[test]
    fn offsets_table_is_aligned_like_kafka() {
        let rows = vec![OffsetRow {
            group: "g1".into(),
            topic: "a-rather-long-topic-name".into(),
            partition: "0".into(),
            current: "3".into(),
            log_end: "10".into(),
            lag: "7".into(),
            consumer_id: "-".into(),
            host: "-".into(),
            client_id: "-".into(),
        }];
        let s = format_offsets(&rows);
        let lines: Vec<&str> = s.split('\n').collect();
        assert_eq!(lines[0], "");
        assert_eq!(lines[1], "GROUP           TOPIC                    PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID");
        assert_eq!(lines[2], "g1              a-rather-long-topic-name 0          3               10              7               -               -               -");
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[3], "");
    }

    #[test]
    fn members_table_and_assignment() {
        let d = desc(vec![member(
            "consumer-1-abc",
            &[("t", 1), ("t", 0), ("u", 2)],
        )]);
        let s = format_members(&d, true);
        assert_eq!(
            s,
            "\nGROUP           CONSUMER-ID     HOST            CLIENT-ID       #PARTITIONS     ASSIGNMENT\n\
             g1              consumer-1-abc  /127.0.0.1      cli             3               t(0,1), u(2)\n"
        );
        assert_eq!(assignment_string(&[]), "-");
        let plain = format_members(&d, false);
        assert!(plain.ends_with("3               \n"));
    }

    #[test]
    fn state_table() {
        let d = desc(vec![member("m", &[])]);
        assert_eq!(
            format_state(&d),
            "\nGROUP           COORDINATOR (ID)          ASSIGNMENT-STRATEGY  STATE                #MEMBERS\n\
             g1              127.0.0.1:9092  (1)       range                Stable               1\n"
        );
    }

    #[test]
    fn reset_plan_and_list_tables() {
        let plan = vec![("g".to_string(), vec![(TopicPartition::new("t", 0), 5)])];
        assert_eq!(
            format_reset_plan(&plan),
            "\nGROUP           TOPIC           PARTITION  NEW-OFFSET\ng               t               0          5\n"
        );
        assert_eq!(format_reset_plan(&[]), "\n");
        assert_eq!(
            format_list_with_state(&[("g".into(), "Empty".into())]),
            format!(
                "{:<25} {:<20}\n{:<25} {:<20}\n",
                "GROUP", "STATE", "g", "Empty"
            )
        );
    }

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
