#!/usr/bin/env bash
# Kafka-compatible shim: kafka-get-offsets.sh → sluice get-offsets
exec "$(dirname "${BASH_SOURCE[0]}")/sluice-exec.sh" get-offsets "$@"
