#!/usr/bin/env bash
# Kafka-compatible shim: kafka-consumer-groups.sh → sluice consumer-groups
exec "$(dirname "${BASH_SOURCE[0]}")/sluice-exec.sh" consumer-groups "$@"
