#!/usr/bin/env bash
# Kafka-compatible shim: kafka-metadata-quorum.sh → sluice metadata-quorum
exec "$(dirname "${BASH_SOURCE[0]}")/sluice-exec.sh" metadata-quorum "$@"
