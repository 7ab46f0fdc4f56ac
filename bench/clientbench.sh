#!/usr/bin/env bash
# bench/clientbench.sh — sluice-client vs librdkafka on one fresh broker, same settings.
#
# For each of produce 100 B, produce 1 KiB, consume 100 B, consume 1 KiB it runs the
# librdkafka loadgen mode and the sluice-client mode back to back, ROUNDS times, alternating
# which client goes first (round 1 librdkafka first, round 2 sluice first, ...), so both see
# the same machine conditions. Every produce run writes a fresh topic; the consume runs read
# the topics the first librdkafka produce round wrote (page cache), one consumer each.
# Prints every run's RESULT line and a table of medians: records/s and client CPU ns/record.
# It never fails on a timing: it only prints.
#
# Usage: SKIP_BUILD=1 bench/clientbench.sh   (knobs: ROUNDS, P100_RECORDS, P1K_RECORDS, PARTITIONS)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

ROUNDS="${ROUNDS:-3}"
PARTITIONS="${PARTITIONS:-4}"
P100_RECORDS="${P100_RECORDS:-2000000}"
P1K_RECORDS="${P1K_RECORDS:-500000}"
SKIP_BUILD="${SKIP_BUILD:-0}"

LOADGEN="$ROOT/bench/target/release/sluice-loadgen"
SLUICE="$ROOT/target/release/sluice"

if [ "$SKIP_BUILD" != 1 ]; then
  cargo build --release -p sluice-cli
  CARGO_TARGET_DIR="$ROOT/bench/target" cargo build --release --manifest-path bench/loadgen/Cargo.toml
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/sluice-clientbench.XXXXXX")"
BROKER_PID=""
cleanup() {
  if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then
    kill -TERM "$BROKER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$BROKER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=""
for _ in $(seq 1 50); do
  p=$((20000 + RANDOM % 40000))
  if ! port_in_use "$p"; then PORT=$p; break; fi
done
[ -n "$PORT" ] || { echo "clientbench.sh: no free port found" >&2; exit 1; }
B="127.0.0.1:$PORT"

"$SLUICE" server start --override "listeners=PLAINTEXT://$B" --override "log.dirs=$WORK/data" \
  >"$WORK/broker.log" 2>&1 &
BROKER_PID=$!
for i in $(seq 1 100); do
  port_in_use "$PORT" && break
  kill -0 "$BROKER_PID" 2>/dev/null || { echo "broker exited:"; cat "$WORK/broker.log"; exit 1; }
  [ "$i" = 100 ] && { echo "broker not listening after 10s" >&2; exit 1; }
  sleep 0.1
done
echo "== broker pid $BROKER_PID on $B; load avg $(cut -d' ' -f1-3 /proc/loadavg)"

lg() { timeout 180 "$LOADGEN" "$@"; }
OUT="$WORK/results.txt"
# tag NAME: prefix every RESULT line with the case name so the summary can group them.
tag() { sed -u "s/^RESULT /RESULT $1 /" | tee -a "$OUT"; }

for r in $(seq 1 "$ROUNDS"); do
  for s in 100 1k; do
    for c in rdkafka sluice; do
      lg create-topic --bootstrap "$B" --topic "$c$s-$r" --partitions "$PARTITIONS" >/dev/null
    done
  done
done

produce() { # CLIENT SIZE ROUND
  local n size
  if [ "$2" = 100 ]; then n=$P100_RECORDS; size=100; else n=$P1K_RECORDS; size=1024; fi
  echo "== round $3: produce $size B, $1"
  lg produce --client "$1" --bootstrap "$B" --topic "$1$2-$3" --records "$n" --record-size "$size" \
    --acks 1 --broker-pid "$BROKER_PID" | tag "produce$2-$1"
}
consume() { # CLIENT SIZE ROUND
  local n
  if [ "$2" = 100 ]; then n=$P100_RECORDS; else n=$P1K_RECORDS; fi
  echo "== round $3: consume $2, $1"
  if [ "$1" = rdkafka ]; then
    lg consume --bootstrap "$B" --topic "rdkafka$2-1" --records "$n" --consumers 1 \
      --broker-pid "$BROKER_PID" | tag "consume$2-rdkafka"
  else
    lg consume-sluice --bootstrap "$B" --topic "rdkafka$2-1" --records "$n" \
      --broker-pid "$BROKER_PID" | tag "consume$2-sluice"
  fi
}
order() { if [ $(($1 % 2)) = 1 ]; then echo "rdkafka sluice"; else echo "sluice rdkafka"; fi; }

for r in $(seq 1 "$ROUNDS"); do
  for s in 100 1k; do
    for c in $(order "$r"); do produce "$c" "$s" "$r"; done
  done
done
for r in $(seq 1 "$ROUNDS"); do
  for s in 100 1k; do
    for c in $(order "$r"); do consume "$c" "$s" "$r"; done
  done
done

# values CASE KEY: the KEY= field of every `RESULT CASE` line, one per line.
values() {
  awk -v m="$1" -v k="$2" '$1 == "RESULT" && $2 == m {
      for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' "$OUT"
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
all() { tr '\n' ' ' | sed 's/ $//'; }
# cpu_ns CASE: client CPU ns per record (produce prints it; consume prints us per record).
cpu_ns() {
  case "$1" in
    produce*) values "$1" cpu_ns_per_rec ;;
    consume*-rdkafka) values "$1" cpu_us_per_rec | awk '{ printf "%.0f\n", $1 * 1000 }' ;;
    consume*-sluice) values "$1" cpu_us_per_rec | awk '{ printf "%.0f\n", $1 * 1000 }' ;;
  esac
}

echo
echo "sluice-client vs librdkafka — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load avg $(cut -d' ' -f1-3 /proc/loadavg), $ROUNDS rounds"
printf '%-16s %-8s %12s %12s   %s\n' "case" "client" "rec/s (med)" "CPU ns/rec" "all runs: rec/s | ns/rec"
for k in produce100 produce1k consume100 consume1k; do
  for c in rdkafka sluice; do
    m="$k-$c"
    printf '%-16s %-8s %12s %12s   %s | %s\n' "$k" "$c" "$(values "$m" rec_per_s | median)" \
      "$(cpu_ns "$m" | median)" "$(values "$m" rec_per_s | all)" "$(cpu_ns "$m" | all)"
  done
done
