#!/usr/bin/env bash
# Kafka-compatible shim: kafka-console-consumer.sh → sluice console-consumer
exec "$(dirname "${BASH_SOURCE[0]}")/sluice-exec.sh" console-consumer "$@"
