#!/usr/bin/env bash
# bench/cluster.sh — replicated-cluster benchmark: single broker acks=1 vs 3 brokers RF=3
# acks=all min.insync.replicas=2 (same librdkafka producer, same records), and failover time
# after `kill -9` of a partition leader. Prints a table; never fails on a timing.
#
# Usage: bench/cluster.sh                 (builds sluice + bench/loadgen unless SKIP_BUILD=1)
# Knobs: RECORDS (1000000) RECORD_SIZE (100) PARTITIONS (3) TRIALS (5) DEFAULT_TRIALS (1)
#        SESSION_MS (1000) HEARTBEAT_MS (250) PROBE_MS (5) — see bench/README.md
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release -p sluice-cli
  CARGO_TARGET_DIR="$ROOT/bench/target" cargo build --release --manifest-path bench/loadgen/Cargo.toml
fi
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || { echo "cluster.sh: needs the compat venv (./scripts/test.sh deps) for confluent-kafka" >&2; exit 1; }
export SLUICE_BIN="${SLUICE_BIN:-$ROOT/target/release/sluice}"
exec timeout 1200 "$PY" bench/cluster_bench.py
