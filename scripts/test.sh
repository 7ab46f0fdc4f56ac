#!/usr/bin/env bash
# scripts/test.sh — THE project test command (CI runs it through .ci/run).
#
# Steps, in this order, each bounded by `timeout`; the first failing step stops the run
# and prints the summary:
#   deps    kcat (Debian package) and the Python clients of compat/requirements.txt in
#           ./.venv, a JDK and the Java kafka-clients jars (scripts/java-client-deps.sh) —
#           installed only when missing, so a second run skips this in seconds
#   build   cargo build --release -p sluice-cli            (-> target/release/sluice)
#   rust    cargo nextest run --workspace --release        (cargo test when nextest is absent)
#   fuzz    cargo fuzz run decode_request for FUZZ_SECONDS (30) — installs cargo-fuzz if missing
#   compat  pytest compat -m "not crash"   real clients (kcat, confluent-kafka, kafka-python,
#                                          Java kafka-clients)
#   crash   pytest compat -m crash         kill -9 and torn-segment recovery
#
# Usage: ./scripts/test.sh [STEP...]        e.g. ./scripts/test.sh build compat
#        PYTEST_ARGS="-k kcat -x" ./scripts/test.sh deps build compat
# Works unattended (CI=true, no stdin) on a fresh Debian machine as root.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

ALL_STEPS=(deps build rust fuzz compat crash)
if [ "$#" -gt 0 ]; then STEPS=("$@"); else STEPS=("${ALL_STEPS[@]}"); fi
for s in "${STEPS[@]}"; do
  case " ${ALL_STEPS[*]} " in *" $s "*) ;; *) echo "test.sh: unknown step '$s' (steps: ${ALL_STEPS[*]})" >&2; exit 2 ;; esac
done

LOGDIR="$ROOT/target/test-logs"
mkdir -p "$LOGDIR"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
export SLUICE_BIN="$ROOT/target/release/sluice"

SUMMARY=()
PASSED=0
FAILED=0
COUNTED=1 # 0 once a step's test counts could not be read

summary() {
  echo
  echo "==================== scripts/test.sh summary ===================="
  for line in "${SUMMARY[@]}"; do echo "  $line"; done
  echo "  logs: $LOGDIR"
  echo "================================================================="
  if [ "$COUNTED" = 1 ] && [ $((PASSED + FAILED)) -gt 0 ]; then echo "total: $PASSED passed, $FAILED failed"; fi
}

# run_step NAME TIMEOUT_SECONDS COMMAND... — output goes to the terminal and target/test-logs/NAME.log
run_step() {
  local name=$1 limit=$2
  shift 2
  local log="$LOGDIR/$name.log" start rc
  echo
  echo "===== [$name] $* (limit ${limit}s)"
  start=$(date +%s)
  set +e
  timeout --kill-after=30 "$limit" "$@" </dev/null 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  local took=$(($(date +%s) - start))
  if [ "$rc" = 0 ]; then
    SUMMARY+=("PASS  $name  (${took}s)")
  else
    local why="exit $rc"
    [ "$rc" = 124 ] && why="timed out after ${limit}s"
    SUMMARY+=("FAIL  $name  ($why, ${took}s) — see $log")
    count_tests "$name"
    summary
    exit 1
  fi
}

# count_tests NAME — add the step's passed/failed test counts to the totals
count_tests() {
  local name=$1 p f
  case "$name" in
    rust)
      if grep -qE 'Summary \[' "$LOGDIR/rust.log"; then
        p=$(grep -E 'Summary \[' "$LOGDIR/rust.log" | tail -1 | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)
        f=$(grep -E 'Summary \[' "$LOGDIR/rust.log" | tail -1 | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' || echo 0)
      elif grep -qE '^test result:' "$LOGDIR/rust.log"; then
        p=$(grep -E '^test result:' "$LOGDIR/rust.log" | grep -oE '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
        f=$(grep -E '^test result:' "$LOGDIR/rust.log" | grep -oE '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
      else
        COUNTED=0
        return
      fi
      ;;
    compat | crash)
      local xml="$LOGDIR/$name.xml"
      if [ ! -s "$xml" ] || [ ! -x "$PY" ]; then COUNTED=0; return; fi
      read -r p f < <("$PY" - "$xml" <<'PYEOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
t = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skip = sum(int(s.get("skipped", 0)) for s in suites)
print(t - bad - skip, bad)
PYEOF
      ) || { COUNTED=0; return; }
      ;;
    *) return ;;
  esac
  PASSED=$((PASSED + ${p:-0}))
  FAILED=$((FAILED + ${f:-0}))
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" = 0 ]; then
    as_root apt-get update -qq
    APT_UPDATED=1
  fi
  as_root apt-get install -y -qq --no-install-recommends "$@"
}

# deps: idempotent; every network step is bounded by the step's timeout.
install_deps() {
  set -euo pipefail
  if command -v kcat >/dev/null 2>&1; then
    echo "kcat: $(command -v kcat) present"
  else
    echo "kcat: missing, installing the Debian package"
    apt_install kcat
  fi
  kcat -V 2>&1 | grep -m1 librdkafka || true

  if ! command -v python3 >/dev/null 2>&1; then
    echo "python3: missing, installing the Debian package"
    apt_install python3 python3-venv
  fi
  local want have=""
  want=$(sha256sum compat/requirements.txt | cut -d' ' -f1)
  [ -f "$VENV/.requirements.sha256" ] && have=$(cat "$VENV/.requirements.sha256")
  if [ "$want" = "$have" ] && "$PY" -c 'import confluent_kafka, kafka, pytest, pytest_timeout' 2>/dev/null; then
    echo "python clients: $VENV up to date"
  else
    echo "python clients: (re)creating $VENV"
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV"; then
      rm -rf "$VENV"
      apt_install python3-venv
      python3 -m venv "$VENV"
    fi
    printf '*\n' >"$VENV/.gitignore" # keep the venv out of `git status`
    "$PY" -m pip install -q --retries 3 --timeout 60 -r compat/requirements.txt
    "$PY" -c 'import confluent_kafka, kafka, pytest, pytest_timeout'
    echo "$want" >"$VENV/.requirements.sha256"
  fi
  "$PY" -c 'import confluent_kafka as c, kafka as k, pytest as p; print("confluent-kafka", c.version() if isinstance(c.version(), str) else c.version()[0], "librdkafka", c.libversion()[0], "| kafka-python", k.__version__, "| pytest", p.__version__)'

  # JDK + Java kafka-clients jars for compat/test_java_client.py (after the venv: it uses pip)
  PY="$PY" ./scripts/java-client-deps.sh
}

run_rust_tests() {
  set -euo pipefail
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --release --no-tests=warn --no-fail-fast
  else
    cargo test --workspace --release --no-fail-fast
  fi
}

# A short, bounded run of the cargo-fuzz target on request decoding (libFuzzer on stable with
# `-s none`): any panic or abort in the guard/decoder fails the step.
run_fuzz() {
  set -euo pipefail
  if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked --quiet
  fi
  mkdir -p fuzz/corpus/decode_request
  cd fuzz
  cargo fuzz run decode_request -s none -- -max_total_time="${FUZZ_SECONDS:-30}" -malloc_limit_mb=512 -print_final_stats=1
}

run_pytest() {
  local name=$1 marker=$2
  set -euo pipefail
  [ -x "$SLUICE_BIN" ] || { echo "no broker binary at $SLUICE_BIN: run the build step first"; return 1; }
  # shellcheck disable=SC2086 # PYTEST_ARGS is a word list on purpose
  "$PY" -m pytest compat -m "$marker" --junitxml="$LOGDIR/$name.xml" -o junit_family=xunit1 ${PYTEST_ARGS:-}
}

export -f install_deps apt_install as_root run_rust_tests run_fuzz run_pytest
export APT_UPDATED VENV PY LOGDIR

for step in "${STEPS[@]}"; do
  case "$step" in
    deps) run_step deps 600 bash -c install_deps ;;
    build) run_step build 1500 cargo build --release -p sluice-cli ;;
    rust) run_step rust 1200 bash -c run_rust_tests ;;
    fuzz) run_step fuzz 900 bash -c run_fuzz ;;
    compat) run_step compat 900 bash -c 'run_pytest compat "not crash"' ;;
    crash) run_step crash 600 bash -c 'run_pytest crash crash' ;;
  esac
  count_tests "$step"
done
summary
