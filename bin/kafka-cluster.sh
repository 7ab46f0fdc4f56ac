#!/usr/bin/env bash
# Kafka-compatible shim: kafka-cluster.sh → sluice cluster-tool
exec "$(dirname "${BASH_SOURCE[0]}")/sluice-exec.sh" cluster-tool "$@"
