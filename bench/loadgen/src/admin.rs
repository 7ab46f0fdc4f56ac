//! `create-topic`: creates one topic through librdkafka's admin API so the benchmark does not
//! depend on the broker's own CLI. An existing topic is accepted (TOPIC_ALREADY_EXISTS).

use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

#[derive(Args)]
pub struct CreateTopicArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap: String,
    #[arg(long)]
    topic: String,
    #[arg(long, default_value_t = 1)]
    partitions: i32,
}

pub fn run(a: CreateTopicArgs) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = crate::util::base_config(&a.bootstrap)
        .create()
        .context("creating admin client")?;
    let topic = NewTopic::new(&a.topic, a.partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = futures_executor::block_on(admin.create_topics([&topic], &opts))
        .context("CreateTopics request")?;
    for r in results {
        match r {
            Ok(name) => println!("created topic {name} ({} partitions)", a.partitions),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                println!("topic {name} already exists")
            }
            Err((name, code)) => bail!("creating topic {name}: {code}"),
        }
    }
    Ok(())
}
