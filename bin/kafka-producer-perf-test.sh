#!/usr/bin/env bash
# Kafka-compatible shim: kafka-producer-perf-test.sh → sluice producer-perf-test
exec "$(dirname "${BASH_SOURCE[0]}")/sluice-exec.sh" producer-perf-test "$@"
