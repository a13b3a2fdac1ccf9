#!/usr/bin/env bash
# Fan-out benchmark: the server pinned to core 0 (one media worker), the benchmark clients pinned to core 1.
#   bench/fanout.sh [build-dir] [extra fanout_bench flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/server_port.sh
BUILD="${1:-build}"
shift || true
BIN="$BUILD/src/app/stagecast"
BENCH="$BUILD/bench/fanout_bench"
[ -x "$BIN" ] && [ -x "$BENCH" ] || { echo "build first: cmake --build $BUILD" >&2; exit 1; }

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, kernel $(uname -r)"
echo "server: one media worker pinned to core 0; clients pinned to core 1"

LOG=$(mktemp)
DATA_DIR="$(mktemp -d)"
taskset -c 0 "$BIN" serve --http 127.0.0.1:0 --udp 127.0.0.1:0 --workers 1 --log-level info --no-media-auth \
  --data-dir "$DATA_DIR" --api-key bench-key 2>"$LOG" &
SERVER=$!
finish() {
  kill -TERM "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  ended=$(grep -c " ended: " "$LOG" || true)
  echo "server: $ended session(s) ended by themselves during the run"
  grep " ended: " "$LOG" | sed 's/.* ended: //' | sort | uniq -c | head -5
  rm -f "$LOG"
}
trap finish EXIT
PORT=$(server_port "$LOG") || exit 1
taskset -c 1 "$BENCH" --http-port "$PORT" --server-pid "$SERVER" "$@"
