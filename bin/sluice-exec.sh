#!/usr/bin/env bash
# Shared by the kafka-*.sh shims: finds the sluice binary ($SLUICE_BIN, then the repo's
# target/release and target/debug, then PATH) and execs it with the given arguments.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
if [[ -n "${SLUICE_BIN:-}" ]]; then
  bin="$SLUICE_BIN"
elif [[ -x "$root/target/release/sluice" ]]; then
  bin="$root/target/release/sluice"
elif [[ -x "$root/target/debug/sluice" ]]; then
  bin="$root/target/debug/sluice"
elif command -v sluice >/dev/null 2>&1; then
  bin="$(command -v sluice)"
else
  echo "sluice binary not found: set SLUICE_BIN or run 'cargo build --release -p sluice-cli'" >&2
  exit 1
fi
exec "$bin" "$@"
