#!/usr/bin/env bash
# Control-plane benchmark: 10,000 viewers joining, then viewer heartbeats and token requests per second.
#   bench/control.sh [build-dir]
# Two servers in turn:
#   1. one HTTP loop pinned to one core, wrk on the other core; open-loop runs (below) at fixed rates with the
#      load generator polling on the other core; then wrk again while that server (on its one core) also streams
#      one stage to 50 viewers whose clients run on wrk's core;
#   2. two HTTP loops sharing both cores with wrk, without and with one stage streaming. The heartbeat target is
#      checked on these two-core runs: each is repeated and the median rate and p99 of the repeats are compared
#      with the target (one run alone says little on a machine the load tool shares). While the stage still
#      streams, open-loop runs follow: wrk is a closed loop (a connection sends its next request only after the
#      answer), so at saturation its p99 is its own queue, and a stall of the server holds the sending back
#      instead of showing in the latency. bench/paced_load offers fixed rates instead and measures each request
#      from its scheduled send time: the latency at each offered rate, the last one the target's.
#   On a machine with four cores or more, the target's own configuration follows: the server on two cores of its
#      own, the open-loop generator and the stream's clients on the others.
# Environment: JOIN_COUNT (10000), JOIN_THREADS (4), DURATION (10, seconds per heartbeat run),
#   CONNECTIONS (64), REPEAT (3: runs per two-core configuration), STREAM (1: the runs while a stage streams,
#   needs fanout_bench), STREAM_VIEWERS (50: one full stage at the default stage capacity),
#   STREAM_CONNECTIONS ("64 32": one configuration per number of wrk connections while the stage streams; fewer
#   requests in flight, less queueing in the latency), OPEN_RATES ("20000 30000 40000 50000": offered rates of
#   the two-core open-loop runs, needs paced_load), OPEN_ONE_CORE_RATES ("30000 40000 50000": those of the
#   one-core runs), OPEN_CONNECTIONS (64), DEDICATED (1 on machines with four cores or more: the run below),
#   DEDICATED_SERVER_CPUS (0,1), DEDICATED_LOAD_CPU (2), DEDICATED_CLIENT_CPUS (3 to the last).
# Needs wrk, python3 (standard library only) and taskset. Exit status 1 if any check failed.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/server_port.sh
BUILD="${1:-build}"
BIN="$BUILD/src/app/stagecast"
FANOUT="$BUILD/bench/fanout_bench"
PACED="$BUILD/bench/paced_load"
JOIN_COUNT="${JOIN_COUNT:-10000}"
JOIN_THREADS="${JOIN_THREADS:-4}"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-64}"
STREAM="${STREAM:-1}"
STREAM_VIEWERS="${STREAM_VIEWERS:-50}"
STREAM_CONNECTIONS="${STREAM_CONNECTIONS:-64 32}"
REPEAT="${REPEAT:-3}"
OPEN_RATES="${OPEN_RATES:-20000 30000 40000 50000}"
OPEN_CONNECTIONS="${OPEN_CONNECTIONS:-64}"
OPEN_ONE_CORE_RATES="${OPEN_ONE_CORE_RATES:-30000 40000 50000}"
CPUS=$(nproc)
DEDICATED="${DEDICATED:-$([ "$CPUS" -ge 4 ] && echo 1 || echo 0)}"
DEDICATED_SERVER_CPUS="${DEDICATED_SERVER_CPUS:-0,1}"
DEDICATED_LOAD_CPU="${DEDICATED_LOAD_CPU:-2}"
DEDICATED_CLIENT_CPUS="${DEDICATED_CLIENT_CPUS:-3-$((CPUS - 1))}"
[ -x "$BIN" ] || { echo "build first: cmake --build $BUILD --target stagecast" >&2; exit 1; }
for tool in wrk python3 taskset /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, kernel $(uname -r)"
echo "wrk: $(wrk -v 2>&1 | head -1)"
load() { echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"; }

WORK="$(mktemp -d)"
SERVER=""
stop_server() {
  if [ -n "$SERVER" ]; then
    kill -TERM "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
  fi
}
finish() {
  stop_server
  rm -rf "$WORK"
}
trap finish EXIT

# start_server HTTP_THREADS: a fresh server (memory store) with one HTTP event loop per thread; sets SERVER, URL.
start_server() {
  local threads="$1"
  stop_server
  rm -rf "$WORK/data"
  echo "{ \"stageCapacity\": 50, \"viewerTimeoutSeconds\": 600, \"httpThreads\": $threads }" >"$WORK/config.json"
  "$BIN" serve --config "$WORK/config.json" --http 127.0.0.1:0 --udp 127.0.0.1:0 --log-level info --no-media-auth \
    --data-dir "$WORK/data" --api-key bench-key 2>"$WORK/server.log" &
  SERVER=$!
  PORT=$(server_port "$WORK/server.log") || exit 1
  URL="http://127.0.0.1:$PORT"
  echo
  echo "server: pid $SERVER, httpThreads $threads, stageCapacity 50, viewerTimeoutSeconds 600"
}
FAILED=0

# CPU seconds the server used so far (user + system, all threads)
server_cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / hz}' "/proc/$SERVER/stat"; }

# cpu_report TOOL SECONDS REQUESTS BEFORE AFTER: the CPU the server used over a run (server_cpu readings BEFORE
# and AFTER) and the load tool's (its /usr/bin/time line in $WORK/tool-time), per second and per request.
cpu_report() {
  awk -v b="$4" -v a="$5" -v d="$2" -v n="$3" \
    'BEGIN { printf "server CPU: %.0f %% of one core, %.1f µs per request\n", (a - b) / d * 100, (a - b) / n * 1e6 }'
  awk -v tool="$1" -v d="$2" -v n="$3" '/^tool-cpu/ {
      printf "%s CPU: %.0f %% of one core, %.1f µs per request\n", tool, ($2 + $3) / d * 100, ($2 + $3) / n * 1e6 }' \
    "$WORK/tool-time"
}

# run_wrk LABEL CPUS_FOR_SERVER CPUS_FOR_WRK SCRIPT ARGS... : one wrk run, with the server's CPU share
run_wrk() {
  local label="$1" server_cpus="$2" wrk_cpus="$3" duration="$4" script="$5"
  shift 5
  taskset -a -cp "$server_cpus" "$SERVER" >/dev/null
  echo
  # wrk gets one thread per CPU it may use (one pinned, two when it shares both cores with the server).
  local wrk_threads=$(( $(echo "$wrk_cpus" | tr ',' '\n' | wc -l) ))
  echo "== $label: server on CPU $server_cpus, wrk -t$wrk_threads -c$CONNECTIONS on CPU $wrk_cpus, ${duration} s; $(load)"
  local before after out
  before=$(server_cpu)
  out=$(/usr/bin/time -f 'tool-cpu %U %S' -o "$WORK/tool-time" \
    taskset -c "$wrk_cpus" wrk -t"$wrk_threads" -c"$CONNECTIONS" -d"${duration}s" --latency -s "$script" "$URL" -- "$@")
  after=$(server_cpu)
  echo "$out" | grep -E '^(heartbeat|token):'
  local requests
  requests=$(echo "$out" | sed -n 's/^[a-z]*: \([0-9]*\) requests in.*/\1/p')
  cpu_report wrk "$duration" "$requests" "$before" "$after"
  echo "after: $(load)"
  echo "$out" | grep -q ': PASS$' || FAILED=1
  LAST="$out"
}

# heartbeats LABEL CPUS_FOR_SERVER CPUS_FOR_WRK: one heartbeat run over the joined viewers
heartbeats() { run_wrk "$1" "$2" "$3" "$DURATION" bench/heartbeat.lua "$WORK/viewers.txt" bench-key; }

# rate and p99 of the last heartbeat run: "RATE P99"
last_figures() { echo "$LAST" | awk '/^heartbeat: [0-9]+ requests/ { print $8, $15 }'; }

# summarize LABEL: the last heartbeat run's rate and p99 into the summary
summarize() {
  local rate p99
  read -r rate p99 <<<"$(last_figures)"
  echo "$1: $rate heartbeats/s, p99 $p99 ms" | tee -a "$WORK/summary.txt"
}

# repeated LABEL SERVER_CPUS WRK_CPUS: REPEAT heartbeat runs, then the median rate and median p99 against the
# target (>= 50,000 heartbeats/s with p99 < 5 ms).
repeated() {
  local label="$1" server_cpus="$2" wrk_cpus="$3" i figures=""
  for i in $(seq "$REPEAT"); do
    heartbeats "$label (run $i of $REPEAT)" "$server_cpus" "$wrk_cpus"
    figures+="$(last_figures)"$'\n'
  done
  echo "$figures" | verdict "$label" 50000
}

# verdict LABEL MIN_RATE: reads "RATE P99" lines (one per run) and writes the median rate and the median p99
# against the target into the summary: met when the median rate is at least MIN_RATE and the median p99 < 5 ms.
verdict() {
  awk -v label="$1" -v min="$2" 'NF == 2 { rate[++k] = $1; p99[k] = $2 }
    function median(a, k,   i, j, t) {
      for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
    }
    END {
      r = median(rate, k); p = median(p99, k)
      printf "%s, median of %d runs: %.0f heartbeats/s, p99 %.2f ms; target (>= 50,000/s, p99 < 5 ms): %s\n",
        label, k, r, p, (r >= min && p < 5) ? "met" : "NOT met"
    }' | tee -a "$WORK/summary.txt"
}

# heartbeats the server has accepted so far (stagecast_viewer_heartbeats_total of /metrics)
accepted_heartbeats() {
  python3 -c 'import sys, urllib.request
for line in urllib.request.urlopen(sys.argv[1] + "/metrics", timeout=10).read().decode().splitlines():
    if line.startswith("stagecast_viewer_heartbeats_total "):
        print(int(float(line.split()[1])))' "$URL"
}

# paced LABEL SERVER_CPUS LOAD_CPUS RATE CHECK [PACED_LOAD_ARGS...]: one open-loop run of bench/paced_load
# offering RATE heartbeats/s over OPEN_CONNECTIONS connections (2 s warm-up, then DURATION s measured). With CHECK
# "target" the run's p99 and rate are compared with the heartbeat target.
paced() {
  local label="$1" server_cpus="$2" load_cpus="$3" rate="$4" check="$5" warmup=2
  shift 5
  taskset -a -cp "$server_cpus" "$SERVER" >/dev/null
  echo
  echo "== $label: server on CPU $server_cpus, paced_load --rate $rate --connections $OPEN_CONNECTIONS $* on CPU" \
    "$load_cpus, ${warmup} s warm-up + ${DURATION} s; $(load)"
  local before after out counted_before counted
  counted_before=$(accepted_heartbeats)
  before=$(server_cpu)
  out=$(/usr/bin/time -f 'tool-cpu %U %S' -o "$WORK/tool-time" taskset -c "$load_cpus" "$PACED" --port "$PORT" \
    --viewers "$WORK/viewers.txt" --api-key bench-key --rate "$rate" --connections "$OPEN_CONNECTIONS" \
    --duration "$DURATION" --warmup "$warmup" "$@") || true
  after=$(server_cpu)
  counted=$(( $(accepted_heartbeats) - counted_before ))
  echo "$out"
  LAST="$out"
  # The generator's counts against the server's own: every answer it got must be a heartbeat the server
  # accepted, and the server cannot have accepted more than were sent.
  echo "$out" | awk -v counted="$counted" '/^heartbeat: whole run/ {
      sent = $6; answered = $9
      ok = answered <= counted && counted <= sent
      printf "server accepted %d heartbeats during the run (generator: %d sent, %d answered): %s\n", counted, sent,
        answered, ok ? "consistent" : "INCONSISTENT"
      exit ok ? 0 : 1
    }' || FAILED=1
  cpu_report paced_load "$((DURATION + warmup))" "$((rate * (DURATION + warmup)))" "$before" "$after"
  echo "after: $(load)"
  # Error answers or socket errors fail the script; an offered rate the machine could not keep up with is a result.
  echo "$out" | grep -Eq '^heartbeat: 0 answers with status >= 400, 0 socket errors' || FAILED=1
  echo "$out" | awk -v label="$label" -v rate="$rate" -v check="$check" '
    /^heartbeat: [0-9]+ requests/ { achieved = $8; p99 = $17 }
    /^heartbeat: service time/ { service = $8 }
    END {
      kept = achieved >= 0.99 * rate
      printf "%s, offered %d/s: %s/s answered, p99 %s ms from the scheduled send (service time p99 %s ms)%s", \
        label, rate, achieved, p99, service, kept ? "" : ", offered rate not kept up"
      if (check == "target") printf "; target (>= 50,000/s, p99 < 5 ms): %s", (rate >= 50000 && kept && p99 < 5) ? "met" : "NOT met"
      printf "\n"
    }' | tee -a "$WORK/summary.txt"
}

# stream SERVER_CPUS CLIENT_CPUS SECONDS: one stage streams (synthetic 2.5 Mbit/s publisher, STREAM_VIEWERS
# WHEP viewers, from fanout_bench) in the background; sets FAN. Returns once the viewers are receiving.
stream() {
  taskset -a -cp "$1" "$SERVER" >/dev/null
  taskset -c "$2" "$FANOUT" --http-port "$PORT" --server-pid "$SERVER" --subscribers "$STREAM_VIEWERS" \
    --duration "$3" >"$WORK/fanout.txt" 2>&1 &
  FAN=$!
  sleep 6  # publisher up, keyframe seen, viewers joined
}
stream_report() {
  # The stream must outlast the runs it accompanies; a stream that ended early makes them runs without one.
  if ! kill -0 "$FAN" 2>/dev/null; then
    echo "the stream ended before the heartbeat runs did: lengthen its --duration"
    FAILED=1
  fi
  wait "$FAN" || FAILED=1
  echo "stream during those runs (fanout_bench):"
  grep -E '^(subscribers|[0-9]+ )' "$WORK/fanout.txt" || tail -3 "$WORK/fanout.txt"
}

# join: 10,000 distinct viewers join; counts checked afterwards
join() {
  echo
  echo "== join: $JOIN_COUNT distinct viewers, python3 with $JOIN_THREADS keep-alive connections, unpinned; $(load)"
  python3 bench/join_10k.py --port "$PORT" --count "$JOIN_COUNT" --threads "$JOIN_THREADS" --prefix viewer \
    --already 0 --out "$WORK/viewers.txt" || FAILED=1
  echo "after: $(load)"
}

# 1. One core: a server with one HTTP loop pinned to CPU 0, wrk on CPU 1 (what one core of the server does).
start_server 1
join
heartbeats "heartbeat, one core" 0 1
summarize "one core"
if [ -x "$PACED" ]; then
  # Open loop with the load generator polling on a core of its own (it never sleeps, so its wake-ups neither
  # delay its sends nor cost the server's core anything): what one core of the server answers at fixed rates.
  for rate in $OPEN_ONE_CORE_RATES; do paced "open loop, one core" 0 1 "$rate" "" --spin; done
fi
if [ "$STREAM" = 1 ] && [ -x "$FANOUT" ]; then
  # The same core also carries the stage's media; the viewers' clients run beside wrk on CPU 1.
  stream 0 1 $((DURATION + 10))
  heartbeats "heartbeat, one core, while it streams to $STREAM_VIEWERS viewers" 0 1
  summarize "one core while streaming to $STREAM_VIEWERS viewers"
  stream_report
fi

# 2. Two cores: a server with two HTTP loops; server and wrk share both cores (the load tool runs on the same
#    machine, so the server has less than two cores here).
start_server 2
join
repeated "heartbeat, two cores, wrk -c$CONNECTIONS" 0,1 0,1

# 3. heartbeats while one stage streams; the viewers' clients share the two cores as well
if [ "$STREAM" = 1 ] && [ -x "$FANOUT" ]; then
  configurations=$(echo "$STREAM_CONNECTIONS" | wc -w)
  open_runs=0
  [ -x "$PACED" ] && open_runs=$(echo "$OPEN_RATES" | wc -w)
  stream 0,1 0,1 $((configurations * REPEAT * (DURATION + 4) + open_runs * (DURATION + 6) + 10))
  all_connections="$CONNECTIONS"
  for CONNECTIONS in $STREAM_CONNECTIONS; do
    repeated "heartbeat, two cores, while one stage streams to $STREAM_VIEWERS viewers, wrk -c$CONNECTIONS" 0,1 0,1
  done
  CONNECTIONS="$all_connections"
  # open loop at fixed offered rates, same stream
  if [ "$open_runs" -gt 0 ]; then
    for rate in $OPEN_RATES; do
      check=""
      [ "$rate" = "${OPEN_RATES##* }" ] && [ "$rate" -ge 50000 ] && check=target
      paced "open loop, two cores shared, one stage streaming" 0,1 0,1 "$rate" "$check"
    done
  fi
  stream_report
fi

# The target's own configuration, on a machine with at least four cores (or DEDICATED=1): the server on two
# cores of its own (DEDICATED_SERVER_CPUS), the open-loop generator polling on another (DEDICATED_LOAD_CPU), the
# stream's clients on the rest (DEDICATED_CLIENT_CPUS); REPEAT runs at 50,000/s, medians against the target.
if [ "$DEDICATED" = 1 ] && [ "$STREAM" = 1 ] && [ -x "$FANOUT" ] && [ -x "$PACED" ]; then
  stream "$DEDICATED_SERVER_CPUS" "$DEDICATED_CLIENT_CPUS" $((REPEAT * (DURATION + 6) + 10))
  figures=""
  for i in $(seq "$REPEAT"); do
    paced "open loop, server on two cores of its own, one stage streaming (run $i of $REPEAT)" \
      "$DEDICATED_SERVER_CPUS" "$DEDICATED_LOAD_CPU" 50000 "" --spin
    figures+="$(echo "$LAST" | awk '/^heartbeat: [0-9]+ requests/ { print $8, $17 }')"$'\n'
  done
  stream_report
  # The open loop offered 50,000/s: kept up means at least 99 % of that answered in the window.
  echo "$figures" | verdict "open loop, server on two cores of its own, one stage streaming, offered 50000/s" 49500
fi

# 4. viewer tokens (each a new userId: one join plus one ES384 signature)
run_wrk "token, server on one core" 0 1 5 bench/token.lua tp bench-key
run_wrk "token, two cores" 0,1 0,1 5 bench/token.lua tu bench-key

echo
echo "== summary"
cat "$WORK/summary.txt"
if [ "$FAILED" = 0 ]; then echo "control: PASS"; else echo "control: FAIL"; fi
exit "$FAILED"
