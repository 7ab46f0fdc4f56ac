#!/usr/bin/env bash
# Kafka-compatible shim: kafka-server-start.sh [-daemon] server.properties [--override k=v]...
#   → sluice server start [server.properties] [--override k=v]... [--daemon]
args=()
daemon=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -daemon|--daemon) daemon=(--daemon) ;;
    -name|-loggc) [[ "$1" == -name ]] && shift ;;  # Kafka's JVM options: ignored
    *) args+=("$1") ;;
  esac
  shift
done
exec "$(dirname "${BASH_SOURCE[0]}")/sluice-exec.sh" server start "${args[@]}" "${daemon[@]}"
