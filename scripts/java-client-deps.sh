#!/usr/bin/env bash
# scripts/java-client-deps.sh — what compat/test_java_client.py needs, installed only when
# missing (a second run takes a second):
#   * a JDK (javac + java): Debian's openjdk-17-jdk-headless
#   * Apache kafka-clients 3.9.1 and its runtime dependencies (slf4j-api, lz4-java,
#     snappy-java, zstd-jni), into target/java-client/lib. There is no Maven repository here:
#     the jars come from the PyPI wheel shigawire-apache-flink-libraries 2.0.0.post1, which
#     redistributes them unmodified under pyflink/lib/ (Apache-2.0). The wheel (~90 MB) is
#     downloaded to a temporary directory, only these five jars are extracted, each checked
#     against its SHA-256 below, and the wheel is deleted.
#   * slf4j-simple.jar (Debian's libslf4j-java) beside them, so the test can read the
#     client's own log lines (its WARN/ERROR lines fail the test).
# Called by scripts/test.sh deps; usable alone: ./scripts/java-client-deps.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
LIB="${SLUICE_JAVA_LIB:-$ROOT/target/java-client/lib}"
PY="${PY:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY=python3
WHEEL_SPEC="shigawire-apache-flink-libraries==2.0.0.post1"
WHEEL_SHA256=aaa65537d3f0c0ff279185d8243024f0efd95788ba044bf249ba0f40b69289cd
JARS=(
  "kafka-clients.jar 7568b998572d256f0b7bc0afdc1b7a2588b8b08415c62ce314c864a6851ae9d9"
  "slf4j-api.jar d3ef575e3e4979678dc01bf1dcce51021493b4d11fb7f1be8ad982877c16a1c0"
  "lz4-java.jar d74a3334fb35195009b338a951f918203d6bbca3d1d359033dc33edd1cadc9ef"
  "snappy-java.jar 4c766cb3f855415ee734b2392949a0b6f12a60879334a74518deaf6270d32e36"
  "zstd-jni.jar 793ca8734aa15687e7e64564eab8b6ae9ee2720eae27aa663074682144b1c386"
)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

if command -v javac >/dev/null 2>&1 && command -v java >/dev/null 2>&1; then
  echo "jdk: $(command -v javac) present"
else
  echo "jdk: missing, installing Debian's openjdk-17-jdk-headless"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root mkdir -p /usr/share/man/man1 # slim images lack it and the JRE postinst needs it
  as_root apt-get install -y -qq --no-install-recommends openjdk-17-jdk-headless
fi
javac -version 2>&1

jars_ok() {
  local entry name sum
  for entry in "${JARS[@]}"; do
    read -r name sum <<<"$entry"
    [ -f "$LIB/$name" ] || return 1
    [ "$(sha256sum "$LIB/$name" | cut -d' ' -f1)" = "$sum" ] || return 1
  done
}

if jars_ok; then
  echo "kafka-clients jars: $LIB up to date"
else
  echo "kafka-clients jars: fetching $WHEEL_SPEC from PyPI"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  "$PY" -m pip download -q --no-deps --retries 3 --timeout 60 "$WHEEL_SPEC" -d "$tmp"
  wheel=$(ls "$tmp"/*.whl)
  got=$(sha256sum "$wheel" | cut -d' ' -f1)
  [ "$got" = "$WHEEL_SHA256" ] || { echo "unexpected wheel checksum $got" >&2; exit 1; }
  rm -rf "$LIB"
  mkdir -p "$LIB"
  names=()
  for entry in "${JARS[@]}"; do
    read -r name sum <<<"$entry"
    names+=("$name")
  done
  # python's zipfile rather than unzip, which a fresh Debian machine may lack
  "$PY" - "$wheel" "$LIB" "${names[@]}" <<'PYEOF'
import sys, zipfile
wheel, lib, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    for n in names:
        with open(f"{lib}/{n}", "wb") as out:
            out.write(z.read(f"pyflink/lib/{n}"))
PYEOF
  jars_ok || { echo "extracted jars do not match their checksums" >&2; exit 1; }
  echo "kafka-clients jars: installed into $LIB"
fi
if [ ! -f "$LIB/slf4j-simple.jar" ]; then
  if [ ! -f /usr/share/java/slf4j-simple.jar ]; then
    echo "slf4j-simple: missing, installing Debian's libslf4j-java"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    as_root apt-get install -y -qq --no-install-recommends libslf4j-java
  fi
  cp -L /usr/share/java/slf4j-simple.jar "$LIB/slf4j-simple.jar"
fi
"$PY" -c 'import sys, zipfile; print("kafka-clients", [l.split("=")[1] for l in zipfile.ZipFile(sys.argv[1]).read("kafka/kafka-version.properties").decode().splitlines() if l.startswith("version=")][0])' "$LIB/kafka-clients.jar"
