#!/usr/bin/env bash
# bench/run.sh — build Sluice (release) and the librdkafka load generator, start a fresh
# broker on a free loopback port in a temp dir, run the benchmark set and print a table of
# measured numbers next to their targets. It never fails on a timing: it only prints.
#
# Usage: bench/run.sh            (knobs: see the variables below, e.g. P100_RECORDS=1000000 bench/run.sh)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

PARTITIONS="${PARTITIONS:-4}"
P100_RECORDS="${P100_RECORDS:-3000000}"   # 100-byte records, acks=1
P1K_RECORDS="${P1K_RECORDS:-1000000}"     # 1 KiB records, acks=1 (~1 GB on disk)
E2E_RATE="${E2E_RATE:-10000}"
E2E_SECS="${E2E_SECS:-15}"
STARTUP_RUNS="${STARTUP_RUNS:-5}"
IDLE_SECS="${IDLE_SECS:-3}"
GROUP_MEMBERS="${GROUP_MEMBERS:-10}"      # members joining one group (topic has as many partitions)
GROUP_RUNS="${GROUP_RUNS:-5}"
COMMIT_SECS="${COMMIT_SECS:-5}"           # seconds of sync commits, then of pipelined commits
CONSUMERS="${CONSUMERS:-2}"               # consumer instances (threads) for the read test
SKIP_BUILD="${SKIP_BUILD:-0}"

LOADGEN="$ROOT/bench/target/release/sluice-loadgen"
SLUICE="$ROOT/target/release/sluice"

if [ "$SKIP_BUILD" != 1 ]; then
  echo "== building sluice (release)"
  cargo build --release -p sluice-cli
  echo "== building loadgen (bench/loadgen, first build compiles librdkafka: a few minutes)"
  CARGO_TARGET_DIR="$ROOT/bench/target" cargo build --release --manifest-path bench/loadgen/Cargo.toml
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")"
BROKER_PID=""
stop_broker() {
  if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then
    kill -TERM "$BROKER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$BROKER_PID" 2>/dev/null || true
  fi
  BROKER_PID=""
}
cleanup() { stop_broker; rm -rf "$WORK"; }
trap cleanup EXIT

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=""
for _ in $(seq 1 50); do
  p=$((20000 + RANDOM % 40000))
  if ! port_in_use "$p"; then PORT=$p; break; fi
done
[ -n "$PORT" ] || { echo "run.sh: no free port found" >&2; exit 1; }
B="127.0.0.1:$PORT"

echo "== starting broker on $B (data in $WORK/data, log $WORK/broker.log)"
# group.initial.rebalance.delay.ms=0: the group-join benchmark measures the coordinator's own
# work; Kafka's default 3 s initial delay would only add a constant 3 s.
"$SLUICE" server start --override "listeners=PLAINTEXT://$B" --override "log.dirs=$WORK/data" \
  --override group.initial.rebalance.delay.ms=0 >"$WORK/broker.log" 2>&1 &
BROKER_PID=$!
for i in $(seq 1 100); do
  port_in_use "$PORT" && break
  kill -0 "$BROKER_PID" 2>/dev/null || { echo "broker exited:"; cat "$WORK/broker.log"; exit 1; }
  [ "$i" = 100 ] && { echo "broker not listening after 10s" >&2; exit 1; }
  sleep 0.1
done

lg() { timeout 180 "$LOADGEN" "$@"; }
for t in p100 p1k s100 s1k e2e groups; do
  parts=$PARTITIONS; [ "$t" = e2e ] && parts=1; [ "$t" = groups ] && parts=$GROUP_MEMBERS
  lg create-topic --bootstrap "$B" --topic "$t" --partitions "$parts"
done

OUT="$WORK/results.txt"
run() { echo "== $*"; lg "$@" --broker-pid "$BROKER_PID" | tee -a "$OUT"; }
run produce --bootstrap "$B" --topic p100 --records "$P100_RECORDS" --record-size 100 --acks 1
run produce --bootstrap "$B" --topic p1k --records "$P1K_RECORDS" --record-size 1024 --acks 1
# The same two runs through Sluice's own Rust producer (sluice-client), same settings, own topics.
run produce --client sluice --bootstrap "$B" --topic s100 --records "$P100_RECORDS" --record-size 100 --acks 1
run produce --client sluice --bootstrap "$B" --topic s1k --records "$P1K_RECORDS" --record-size 1024 --acks 1
run consume --bootstrap "$B" --topic p1k --records "$P1K_RECORDS" --consumers "$CONSUMERS"
# Same read with one librdkafka consumer: shows how much of the number is client-bound.
echo "== consume with 1 consumer (informational)"
lg consume --bootstrap "$B" --topic p1k --records "$P1K_RECORDS" --broker-pid "$BROKER_PID" \
  | sed 's/^RESULT consume /RESULT consume1 /' | tee -a "$OUT"
# Client comparison, one consumer each: librdkafka vs Sluice's Rust consumer (sluice-client),
# 100 B and 1 KiB records; CPU per record = loadgen cores x seconds / records.
echo "== consume with 1 consumer: librdkafka vs sluice-client"
lg consume --bootstrap "$B" --topic p100 --records "$P100_RECORDS" --broker-pid "$BROKER_PID" \
  | sed 's/^RESULT consume /RESULT consume100 /' | tee -a "$OUT"
run consume-sluice --bootstrap "$B" --topic p100 --records "$P100_RECORDS"
run consume-sluice --bootstrap "$B" --topic p1k --records "$P1K_RECORDS"
run e2e --bootstrap "$B" --topic e2e --rate "$E2E_RATE" --duration "$E2E_SECS"
run group-join --bootstrap "$B" --topic groups --members "$GROUP_MEMBERS" --runs "$GROUP_RUNS"
run commits --bootstrap "$B" --topic groups --duration "$COMMIT_SECS"
LOADED_RSS_KB=$(awk '/^VmRSS:/ {print $2}' "/proc/$BROKER_PID/status" 2>/dev/null || echo 0)
LOADED_HWM_KB=$(awk '/^VmHWM:/ {print $2}' "/proc/$BROKER_PID/status" 2>/dev/null || echo 0)
stop_broker; rm -rf "$WORK/data"
echo "== startup / idle RSS ($STARTUP_RUNS fresh brokers)"
lg startup --broker-bin "$SLUICE" --runs "$STARTUP_RUNS" --idle-secs "$IDLE_SECS" | tee -a "$OUT"

# value MODE KEY [N]: the KEY= field of the Nth (default first) `RESULT MODE` line.
value() {
  awk -v m="$1" -v k="$2" -v n="${3:-1}" '$1 == "RESULT" && $2 == m { c++; if (c == n) {
      for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } } }' "$OUT"
}
row() { printf '%-44s %16s %14s   %s\n' "$1" "$2" "$3" "$4"; }

echo
echo "Sluice benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load avg $(cut -d' ' -f1-3 /proc/loadavg)"
echo "(shared/noisy machine: broker and loadgen share the same cores; numbers are indicative)"
row "benchmark" "measured" "target" "notes"
row "--------------------------------------------" "----------------" "--------------" "-----"
row "produce 100 B, acks=1 (rec/s)" "$(value produce rec_per_s 1)" ">= 1000000" \
  "$(value produce mb_per_s 1) MB/s; cores broker $(value produce broker_cores 1) loadgen $(value produce loadgen_cores 1)"
row "produce 1 KiB, acks=1 (MB/s)" "$(value produce mb_per_s 2)" ">= 800" \
  "$(value produce rec_per_s 2) rec/s; cores broker $(value produce broker_cores 2) loadgen $(value produce loadgen_cores 2)"
row "sluice-client produce 100 B, acks=1 (rec/s)" "$(value produce rec_per_s 3)" ">= librdkafka" \
  "$(value produce mb_per_s 3) MB/s; client CPU $(value produce cpu_ns_per_rec 3) ns/rec vs librdkafka $(value produce cpu_ns_per_rec 1)"
row "sluice-client produce 1 KiB, acks=1 (MB/s)" "$(value produce mb_per_s 4)" ">= librdkafka" \
  "$(value produce rec_per_s 4) rec/s; client CPU $(value produce cpu_ns_per_rec 4) ns/rec vs librdkafka $(value produce cpu_ns_per_rec 2)"
row "consume 1 KiB, page cache, $CONSUMERS consumers (MB/s)" "$(value consume mb_per_s)" ">= 1500" \
  "$(value consume rec_per_s) rec/s; cores broker $(value consume broker_cores) loadgen $(value consume loadgen_cores)"
row "  same, 1 consumer (MB/s)" "$(value consume1 mb_per_s)" "(info)" \
  "cores broker $(value consume1 broker_cores) loadgen $(value consume1 loadgen_cores)"
row "consume 100 B, 1 librdkafka consumer (rec/s)" "$(value consume100 rec_per_s)" "(info)" \
  "$(value consume100 cpu_us_per_rec) us CPU/record; $(value consume100 mb_per_s) MB/s"
row "consume 100 B, 1 sluice-client consumer (rec/s)" "$(value consume_sluice rec_per_s 1)" ">= librdkafka" \
  "$(value consume_sluice cpu_us_per_rec 1) us CPU/record; $(value consume_sluice mb_per_s 1) MB/s"
row "consume 1 KiB, 1 librdkafka consumer (rec/s)" "$(value consume1 rec_per_s)" "(info)" \
  "$(value consume1 cpu_us_per_rec) us CPU/record; $(value consume1 mb_per_s) MB/s"
row "consume 1 KiB, 1 sluice-client consumer (rec/s)" "$(value consume_sluice rec_per_s 2)" ">= librdkafka" \
  "$(value consume_sluice cpu_us_per_rec 2) us CPU/record; $(value consume_sluice mb_per_s 2) MB/s"
row "e2e p99 @ $E2E_RATE rec/s (ms)" "$(awk -v u="$(value e2e p99_us)" 'BEGIN{printf "%.2f", u/1000}')" "< 3" \
  "p50 $(value e2e p50_us) p95 $(value e2e p95_us) p99.9 $(value e2e p999_us) max $(value e2e max_us) us"
row "$GROUP_MEMBERS members to Stable, median (ms)" "$(value group_join median_ms)" "(info)" \
  "min $(value group_join min_ms) max $(value group_join max_ms); $GROUP_RUNS fresh groups, initial delay 0"
row "offset commits, sync (commits/s)" "$(value commits sync_per_s)" "(info)" \
  "p50 $(value commits sync_p50_us) p99 $(value commits sync_p99_us) us; broker cores $(value commits broker_cores_sync)"
row "offset commits, pipelined (commits/s)" "$(value commits async_per_s)" "(info)" \
  "window $(value commits window); broker cores $(value commits broker_cores_async)"
row "start to ready, median (ms)" "$(value startup ready_ms_median)" "< 100" \
  "min $(value startup ready_ms_min) max $(value startup ready_ms_max); shutdown $(value startup shutdown_ms_median) ms"
row "idle RSS, median (MB)" "$(value startup rss_mb_median)" "< 30" \
  "after ${IDLE_SECS}s idle; after the load above: RSS $((LOADED_RSS_KB / 1024)) MB, peak $((LOADED_HWM_KB / 1024)) MB"
