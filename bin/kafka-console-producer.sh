#!/usr/bin/env bash
# Kafka-compatible shim: kafka-console-producer.sh → sluice console-producer
exec "$(dirname "${BASH_SOURCE[0]}")/sluice-exec.sh" console-producer "$@"
