//! The tables and messages of `sluice consumer-groups`, as Kafka's ConsumerGroupCommand
//! prints them: column headers, minimum widths (15, 17 for GROUP-INSTANCE-ID, 25 for the
//! coordinator), `-` for unknown values, the leading blank line of each table. Pure
//! functions, no I/O.

use std::collections::BTreeMap;

use sluice_client::{GroupDescription, TopicPartition};

pub const MISSING: &str = "-";

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

/// A value, or `-` when unknown.
pub fn opt<T: ToString>(v: Option<T>) -> String {
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
pub fn deletion_error(e: &sluice_client::ClientError) -> String {
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

/// Kafka's `--delete-offsets` result table (`TOPIC PARTITION STATUS`), sorted like Kafka
/// (by topic name followed by partition, as one string).
pub fn format_delete_offsets(mut rows: Vec<(String, String, String)>) -> String {
    rows.sort_by_key(|r| r.0.clone() + &r.1);
    let t = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(15);
    let mut out = format!("\n{:<t$} {:<10} {:<15}", "TOPIC", "PARTITION", "STATUS");
    for (topic, p, status) in &rows {
        out.push_str(&format!("\n{topic:<t$} {p:<10} {status:<15}"));
    }
    out
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
    fn delete_offsets_table() {
        let rows = vec![
            ("t".to_string(), "1".to_string(), "Successful".to_string()),
            ("t".to_string(), "0".to_string(), "Error: x".to_string()),
        ];
        assert_eq!(
            format_delete_offsets(rows),
            "\nTOPIC           PARTITION  STATUS         \nt               0          Error: x       \nt               1          Successful     "
        );
    }
}
