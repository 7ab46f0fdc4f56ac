#!/usr/bin/env bash
# Kafka-compatible shim: kafka-topics.sh → sluice topics
exec "$(dirname "${BASH_SOURCE[0]}")/sluice-exec.sh" topics "$@"
