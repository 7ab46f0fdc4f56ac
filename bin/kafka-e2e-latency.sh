#!/usr/bin/env bash
# Kafka-compatible shim: kafka-e2e-latency.sh → sluice e2e-latency
exec "$(dirname "${BASH_SOURCE[0]}")/sluice-exec.sh" e2e-latency "$@"
