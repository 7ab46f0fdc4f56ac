#!/usr/bin/env bash
# Kafka-compatible shim: kafka-consumer-perf-test.sh → sluice consumer-perf-test
exec "$(dirname "${BASH_SOURCE[0]}")/sluice-exec.sh" consumer-perf-test "$@"
