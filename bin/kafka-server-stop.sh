#!/usr/bin/env bash
# Kafka-compatible shim: kafka-server-stop.sh → sluice server stop
exec "$(dirname "${BASH_SOURCE[0]}")/sluice-exec.sh" server stop
