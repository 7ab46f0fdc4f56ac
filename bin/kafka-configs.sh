#!/usr/bin/env bash
# Kafka-compatible shim: kafka-configs.sh → sluice configs
exec "$(dirname "${BASH_SOURCE[0]}")/sluice-exec.sh" configs "$@"
