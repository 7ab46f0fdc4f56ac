//! ConsumerGroupDescribe (KIP-848, v0-1): epochs, state, assignor and members (current and
//! target assignments with topic names) of consumer-protocol groups; unknown and classic
//! groups get GROUP_ID_NOT_FOUND, as in Kafka. Authorized operations are not computed
//! (Kafka's "not requested" value is returned). Translation only.

use sluice_group::NamedTopicPartitions;
use sluice_protocol::kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use sluice_protocol::kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, GroupId, TopicName,
};

use super::str_bytes;
use crate::dispatch::RequestContext;

/// Kafka's MemberType for consumer-protocol members (v1+).
const MEMBER_TYPE_CONSUMER: i8 = 1;

pub async fn handle(
    ctx: &RequestContext<'_>,
    request: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    let v = ctx.api_version;
    let ids: Vec<String> = request.group_ids.iter().map(|g| g.0.to_string()).collect();
    let described = ctx.broker.groups.consumer_group_describe(&ids).await;
    let assignment = |tps: Vec<NamedTopicPartitions>| {
        Assignment::default().with_topic_partitions(
            tps.into_iter()
                .map(|tp| {
                    TopicPartitions::default()
                        .with_topic_id(tp.topic_id)
                        .with_topic_name(TopicName(str_bytes(tp.topic_name)))
                        .with_partitions(tp.partitions)
                })
                .collect(),
        )
    };
    let groups = described
        .into_iter()
        .map(|g| {
            DescribedGroup::default()
                .with_error_code(g.error)
                .with_error_message(g.error_message.map(str_bytes))
                .with_group_id(GroupId(str_bytes(g.group_id)))
                .with_group_state(str_bytes(g.state))
                .with_group_epoch(g.group_epoch)
                .with_assignment_epoch(g.assignment_epoch)
                .with_assignor_name(str_bytes(g.assignor_name))
                .with_authorized_operations(i32::MIN)
                .with_members(
                    g.members
                        .into_iter()
                        .map(|m| {
                            let mut out = Member::default()
                                .with_member_id(str_bytes(m.member_id))
                                .with_instance_id(m.instance_id.map(str_bytes))
                                .with_rack_id(m.rack_id.map(str_bytes))
                                .with_member_epoch(m.member_epoch)
                                .with_client_id(str_bytes(m.client_id))
                                .with_client_host(str_bytes(m.client_host))
                                .with_subscribed_topic_names(
                                    m.subscribed_topic_names
                                        .into_iter()
                                        .map(|t| TopicName(str_bytes(t)))
                                        .collect(),
                                )
                                .with_subscribed_topic_regex(
                                    m.subscribed_topic_regex.map(str_bytes),
                                )
                                .with_assignment(assignment(m.assignment))
                                .with_target_assignment(assignment(m.target_assignment));
                            if v >= 1 {
                                out = out.with_member_type(MEMBER_TYPE_CONSUMER);
                            }
                            out
                        })
                        .collect(),
                )
        })
        .collect();
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}
