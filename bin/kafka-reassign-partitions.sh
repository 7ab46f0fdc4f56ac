#!/usr/bin/env bash
# Kafka-compatible shim: kafka-reassign-partitions.sh → sluice reassign-partitions
exec "$(dirname "${BASH_SOURCE[0]}")/sluice-exec.sh" reassign-partitions "$@"
