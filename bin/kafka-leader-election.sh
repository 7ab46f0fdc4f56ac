#!/usr/bin/env bash
# Kafka-compatible shim: kafka-leader-election.sh → sluice leader-election
exec "$(dirname "${BASH_SOURCE[0]}")/sluice-exec.sh" leader-election "$@"
