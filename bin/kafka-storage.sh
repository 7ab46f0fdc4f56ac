#!/usr/bin/env bash
# Kafka-compatible shim: kafka-storage.sh → sluice storage
exec "$(dirname "${BASH_SOURCE[0]}")/sluice-exec.sh" storage "$@"
