#!/usr/bin/env bash
# Camera preview benchmark: Stagecast side by side with a reference of the original design (aiortc MediaPlayer +
# MediaRelay, bench/camera_ref.py), on the same cameras in the same run. Each server runs alone, pinned to core 0
# (Stagecast with one media worker); cameras and clients run on core 1.
#
#   bench/camera_preview.sh [options]
#     --build DIR          where the stagecast binary is (DIR/src/app/stagecast; default build)
#     --bench-build DIR    where camera_load is (DIR/bench/camera_load; default: --build)
#     --quick              small run for a smoke test (5 samples, 4 cameras, short windows, few steps)
#     --samples N          offer -> first frame samples per case (20)
#     --cameras N          cameras started (16); the "many cameras" capacity uses all of them
#     --camera KIND        replay (default): bench/replay_camera.py, always-on cameras replaying a pre-encoded loop
#                          (viewers join mid-GOP, as with a real camera, at the cost of packetization only);
#                          fixture: tests/fixtures/rtsp_camera.py, one live x264 encoder per pull (about a quarter
#                          of a core each at 720p30, and every pull starts on a keyframe)
#     --pattern P          replay picture: detail (default, about 2 Mbit/s) or ball (the fixture's, about 0.2 Mbit/s)
#     --cpu-window S       seconds of each CPU measurement (10)
#     --duration S         seconds measured per capacity step (5)
#     --steps-one LIST     Stagecast viewer counts of one camera (50,100,200,300,...,800)
#     --steps-many LIST    Stagecast viewer counts over all cameras (16,64,160,320,...,800)
#     --ref-steps LIST     reference viewer counts, of one camera and over all cameras (1,2,3,4,6,8,12,16)
#     --ref-codec C        what the reference's viewers offer: vp8 (default; a browser's first codec) or h264
#     --only WHICH         stagecast or ref
#     --skip PARTS         comma list of ttff, cpu, capacity
# Needs: taskset, curl, /usr/bin/python3 with python3-aiortc and python3-gi (GStreamer RTSP server), camera_load.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/server_port.sh

BUILD=build
BENCH_BUILD=""
SAMPLES=20
CAMERAS=16
CAMERA_KIND=replay
PATTERN=detail
CPU_WINDOW=10
DURATION=5
STEPS_ONE=50,100,200,300,400,500,600,800
STEPS_MANY=16,64,160,320,480,640,800
REF_STEPS=1,2,3,4,6,8,12,16
REF_CODEC=vp8
ONLY=""
SKIP=""
CPU_VIEWERS=50      # Stagecast: CPU with 1 and with this many viewers of one camera gives the cost per viewer
REF_CPU_VIEWERS=2
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD="$2"; shift 2 ;;
    --bench-build) BENCH_BUILD="$2"; shift 2 ;;
    --quick) SAMPLES=5; CAMERAS=4; CPU_WINDOW=5; DURATION=3; STEPS_ONE=50,100; STEPS_MANY=4,40; REF_STEPS=1,2
             CPU_VIEWERS=10; shift ;;
    --samples) SAMPLES="$2"; shift 2 ;;
    --cameras) CAMERAS="$2"; shift 2 ;;
    --camera) CAMERA_KIND="$2"; shift 2 ;;
    --pattern) PATTERN="$2"; shift 2 ;;
    --cpu-window) CPU_WINDOW="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --steps-one) STEPS_ONE="$2"; shift 2 ;;
    --steps-many) STEPS_MANY="$2"; shift 2 ;;
    --ref-steps) REF_STEPS="$2"; shift 2 ;;
    --ref-codec) REF_CODEC="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --skip) SKIP="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
BENCH_BUILD="${BENCH_BUILD:-$BUILD}"
BIN="$BUILD/src/app/stagecast"
LOAD="$BENCH_BUILD/bench/camera_load"
PY=/usr/bin/python3
[ -x "$BIN" ] || { echo "no server binary: $BIN (cmake --build $BUILD --target stagecast)" >&2; exit 1; }
[ -x "$LOAD" ] || { echo "no load client: $LOAD (cmake --build $BENCH_BUILD --target camera_load)" >&2; exit 1; }
for tool in taskset curl "$PY"; do command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }; done
"$PY" -c 'import aiortc, gi' 2>/dev/null || { echo "$PY needs python3-aiortc and python3-gi" >&2; exit 1; }
case "$CAMERA_KIND" in replay|fixture) ;; *) echo "--camera: replay or fixture" >&2; exit 2 ;; esac
case "$REF_CODEC" in vp8|h264) ;; *) echo "--ref-codec: vp8 or h264" >&2; exit 2 ;; esac
skipped() { [[ ",$SKIP," == *",$1,"* ]]; }
wanted() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }
# Time zero of the run; every phase prints its start.
T0=$(date +%s)
phase() { echo; echo "== [$(( $(date +%s) - T0 )) s] $*; load average $(cut -d' ' -f1-3 /proc/loadavg)"; }

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB," \
  "kernel $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "aiortc $("$PY" -c 'import aiortc; print(aiortc.__version__)'), PyAV $("$PY" -c 'import av; print(av.__version__)')," \
  "GStreamer $("$PY" -c 'import gi; gi.require_version("Gst","1.0"); from gi.repository import Gst; Gst.init(None); print(Gst.version_string())')"
echo "servers pinned to core 0 (Stagecast --workers 1), cameras and clients on core 1; one server at a time"

WORK="$(mktemp -d)"
PIDS=()
stop_pid() {  # stop_pid PID: SIGTERM, then wait (only processes this script started)
  local pid="$1"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
finish() {
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  rm -rf "$WORK"
}
trap finish EXIT

# wait_for_line FILE REGEX SECONDS: polls until a line matches
wait_for_line() {
  local file="$1" regex="$2" limit="$3" i
  for i in $(seq $((limit * 10))); do
    grep -qE "$regex" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# --- cameras (core 1) ---------------------------------------------------------------------------------------------
phase "starting $CAMERAS $CAMERA_KIND camera(s), 1280x720 at 30 fps, H.264 with a 2 s GOP"
URLS=()
if [ "$CAMERA_KIND" = replay ]; then
  taskset -c 1 "$PY" bench/replay_camera.py --cameras "$CAMERAS" --width 1280 --height 720 --fps 30 --gop-seconds 2 \
    --pattern "$PATTERN" >"$WORK/cameras.out" 2>"$WORK/cameras.err" &
  CAMERA_PID=$!
  PIDS+=("$CAMERA_PID")
  wait_for_line "$WORK/cameras.out" '^ALL READY' 60 || { cat "$WORK/cameras.err"; exit 1; }
  mapfile -t URLS < <(awk '/^READY rtsp/{print $2}' "$WORK/cameras.out")
  echo "camera stream: $(grep -m1 '^loop:' "$WORK/cameras.err")"
  CAMERA_PIDS=("$CAMERA_PID")
else
  [ "$CAMERAS" -gt 2 ] && echo "note: each pulled fixture camera encodes live (about 25 % of a core at 720p30)"
  CAMERA_PIDS=()
  for i in $(seq "$CAMERAS"); do
    taskset -c 1 "$PY" tests/fixtures/rtsp_camera.py --width 1280 --height 720 --fps 30 --gop-seconds 2 --port 0 \
      >"$WORK/camera$i.out" 2>"$WORK/camera$i.err" &
    PIDS+=("$!")
    CAMERA_PIDS+=("$!")
  done
  for i in $(seq "$CAMERAS"); do
    wait_for_line "$WORK/camera$i.out" '^READY rtsp' 30 || { cat "$WORK/camera$i.err"; exit 1; }
    URLS+=("$(awk '/^READY rtsp/{print $2; exit}' "$WORK/camera$i.out")")
  done
fi
[ "${#URLS[@]}" -eq "$CAMERAS" ] || { echo "expected $CAMERAS camera URLs, got ${#URLS[@]}" >&2; exit 1; }
CAMERA_ARGS=()
for u in "${URLS[@]}"; do CAMERA_ARGS+=(--camera "$u"); done

# pulls_of URL HEADER...: the server's pull count
pulls_of() {
  local url="$1"
  shift
  curl -s --max-time 5 "$@" "$url" | sed -n 's/.*"pulls": *\([0-9]*\).*/\1/p'
}
# wait_idle URL HEADER...: until the server holds no pull (Stagecast stops a pull 5 s after its last preview)
wait_idle() {
  local i p
  for i in $(seq 200); do
    p=$(pulls_of "$@")
    [ "$p" = 0 ] && return 0
    sleep 0.1
  done
  echo "warning: the server still holds $p pull(s)" >&2
}
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }

# run_side NAME PID PORT STATS_URL TTFF_ARGS LOAD_ARGS: every measurement against one running server.
# Results go to $WORK/NAME.*
run_side() {
  local name="$1" pid="$2" port="$3" stats="$4"
  local -a ttff_args load_args hdr
  read -r -a ttff_args <<<"$5"
  read -r -a load_args <<<"$6"
  hdr=()
  [ "$name" = stagecast ] && hdr=(-H "x-api-key: bench-key")
  local cpu_steps="0,1,$CPU_VIEWERS" one="$STEPS_ONE" many="$STEPS_MANY"
  if [ "$name" = ref ]; then cpu_steps="0,1,$REF_CPU_VIEWERS"; one="$REF_STEPS"; many="$REF_STEPS"; fi

  if ! skipped ttff; then
    phase "$name: offer -> first decoded frame, cold camera ($SAMPLES samples over ${#URLS[@]} cameras)"
    wait_idle "$stats" "${hdr[@]}"
    taskset -c 1 "$PY" bench/camera_ttff.py "${ttff_args[@]}" --http-port "$port" "${CAMERA_ARGS[@]}" --mode cold \
      --samples "$SAMPLES" | tee "$WORK/$name.cold" || true
    phase "$name: offer -> first decoded frame, warm camera ($SAMPLES samples, one viewer keeps the pull)"
    taskset -c 1 "$PY" bench/camera_ttff.py "${ttff_args[@]}" --http-port "$port" --camera "${URLS[0]}" --mode warm \
      --samples "$SAMPLES" | tee "$WORK/$name.warm" || true
  fi
  if ! skipped cpu; then
    phase "$name: server CPU over ${CPU_WINDOW} s windows: idle, 1 camera with 1 viewer, with ${cpu_steps##*,} viewers"
    wait_idle "$stats" "${hdr[@]}"
    taskset -c 1 "$LOAD" "${load_args[@]}" --http-port "$port" --server-pid "$pid" --camera "${URLS[0]}" \
      --steps "$cpu_steps" --duration "$CPU_WINDOW" --keep-going | tee "$WORK/$name.cpu" || true
  fi
  if ! skipped capacity; then
    phase "$name: capacity, previews of one camera (steps $one, ${DURATION} s each, until a step does not hold)"
    wait_idle "$stats" "${hdr[@]}"
    taskset -c 1 "$LOAD" "${load_args[@]}" --http-port "$port" --server-pid "$pid" --camera "${URLS[0]}" \
      --steps "$one" --duration "$DURATION" | tee "$WORK/$name.one" || true
    phase "$name: capacity, previews spread over ${#URLS[@]} cameras (steps $many)"
    wait_idle "$stats" "${hdr[@]}"
    taskset -c 1 "$LOAD" "${load_args[@]}" --http-port "$port" --server-pid "$pid" "${CAMERA_ARGS[@]}" \
      --steps "$many" --duration "$DURATION" | tee "$WORK/$name.many" || true
  fi
}

# --- Stagecast (core 0) ---------------------------------------------------------------------------------------------
if wanted stagecast; then
  phase "Stagecast: $BIN serve --workers 1 on core 0"
  taskset -c 0 "$BIN" serve --http 127.0.0.1:0 --udp 127.0.0.1:0 --workers 1 --log-level info \
    --api-key bench-key --data-dir "$(mktemp -d -p "$WORK")" 2>"$WORK/stagecast.log" &
  SERVER=$!
  PIDS+=("$SERVER")
  PORT=$(server_port "$WORK/stagecast.log" 15) || exit 1
  run_side stagecast "$SERVER" "$PORT" "http://127.0.0.1:$PORT/api/cameras/preview/stats" \
    "--target stagecast --api-key bench-key" "--target stagecast --api-key bench-key --codec h264"
  STAGECAST_CPU_TOTAL=$(cpu_seconds "$SERVER")
  stop_pid "$SERVER"
  echo "stagecast: $(grep -c 'retrying' "$WORK/stagecast.log" || true) pull retries, server CPU in total ${STAGECAST_CPU_TOTAL} s"
  grep -E ' (warn|error) ' "$WORK/stagecast.log" | sed 's/^/  /' | head -5 || true
fi

# --- aiortc reference (core 0) -------------------------------------------------------------------------------------
if wanted ref; then
  # --linger 0: a reference player decodes as long as it runs, so lingering players of the cold samples would
  # slow the next samples down; stopping them at once favours the reference. (Stagecast's pulls do linger 5 s.)
  phase "reference: bench/camera_ref.py (aiortc, $(basename "$PY")) on core 0, viewers offer $REF_CODEC"
  taskset -c 0 "$PY" bench/camera_ref.py --port 0 --linger 0 >"$WORK/ref.out" 2>"$WORK/ref.log" &
  REF=$!
  PIDS+=("$REF")
  wait_for_line "$WORK/ref.out" '^READY http' 30 || { cat "$WORK/ref.log"; exit 1; }
  REF_PORT=$(sed -n 's/^READY http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/ref.out")
  run_side ref "$REF" "$REF_PORT" "http://127.0.0.1:$REF_PORT/stats" "--target ref --codec $REF_CODEC" \
    "--target ref --codec $REF_CODEC"
  stop_pid "$REF"
fi

# --- summary ---------------------------------------------------------------------------------------------------------
# ttff FILE: "p50 / p95 / max ms (n)" from camera_ttff's summary line
ttff() {
  [ -s "$1" ] || { echo "-"; return; }
  awk '/^ttff / { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                  if (v["samples"] == 0) { printf "no frame (%s failed)", v["failed"]; exit }
                  printf "%.0f / %.0f / %.0f ms (%s", v["p50"], v["p95"], v["max"], v["samples"]
                  if (v["failed"] > 0) printf ", %s failed", v["failed"]
                  printf ")" }' "$1"
}
target_met() {
  [ -s "$1" ] || { echo "-"; return; }
  awk '/^ttff / { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                  print (v["samples"] > 0 && v["failed"] == 0 && v["p95"] < 500) ? "met" : "not met" }' "$1"
}
# cpu FILE ROW: server_cpu_% of the row with that many viewers
cpu_at() { [ -s "$1" ] && awk -v n="$2" '$1 == n && $2 ~ /^[0-9]+$/ { print $8 }' "$1" | tail -1; }
cpu_figures() {
  local f="$1" k="$2" idle one many
  idle=$(cpu_at "$f" 0); one=$(cpu_at "$f" 1); many=$(cpu_at "$f" "$k")
  if [ -z "$idle" ] || [ -z "$one" ]; then echo "- | -"; return; fi
  awk -v i="$idle" -v o="$one" -v m="$many" -v k="$k" 'BEGIN {
      printf "%.1f %% of a core (idle %.1f %%)", o - i, i
      if (m != "") printf " | %.2f %% per viewer (%s viewers: %.1f %%)", (m - o) / (k - 1), k, m; else printf " | -" }'
}
# per_camera FILE: CPU per camera with one viewer each: the largest step of the many-camera run in which every
# viewer watched a different camera and which held (else its first such step)
per_camera() {
  [ -s "$1" ] || { echo "-"; return; }
  awk '$2 ~ /^[0-9]+$/ && $1 == $2 && $1 > 1 { if (!first) first = $0; if ($11 == "yes") best = $0 }
       END { row = best ? best : first; if (!row) { printf "-"; exit }
             split(row, f); printf "%.1f %% (%d cameras: %.1f %%%s)", f[8] / f[1], f[1], f[8],
                                   f[11] == "yes" ? "" : ", did not hold" }' "$1"
}
# capacity FILE: the largest step that held, and the first that did not (with why)
capacity() {
  [ -s "$1" ] || { echo "-"; return; }
  awk '$2 ~ /^[0-9]+$/ && $1 > 0 { if ($11 == "yes") held = $1; else if (!fail) { fail = $1; why = $0 } }
       END { if (held == "") printf "none held"; else printf "%s", held
             if (fail == "") { printf " (every step held; the limit is higher)"; exit }
             split(why, f)
             printf(" (%s: %s/%s connected, %s fps min, %s %% loss, %s %% late, server %s %%, client %s %% CPU", \
                    fail, f[3], f[1], f[5], f[4], f[7], f[8], f[12])
             if (f[12] >= 90) printf "; the load client was saturated, the server limit may be higher"
             printf ")" }' "$1"
}
phase "summary"
echo
echo "| measurement | Stagecast | aiortc reference ($REF_CODEC) |"
echo "|---|---|---|"
echo "| offer → first decoded frame, cold camera: p50 / p95 / max | $(ttff "$WORK/stagecast.cold") | $(ttff "$WORK/ref.cold") |"
echo "| offer → first decoded frame, warm camera: p50 / p95 / max | $(ttff "$WORK/stagecast.warm") | $(ttff "$WORK/ref.warm") |"
echo "| target p95 < 500 ms, cold / warm | $(target_met "$WORK/stagecast.cold") / $(target_met "$WORK/stagecast.warm") | $(target_met "$WORK/ref.cold") / $(target_met "$WORK/ref.warm") |"
IFS='|' read -r s_cam s_view <<<"$(cpu_figures "$WORK/stagecast.cpu" "$CPU_VIEWERS")"
IFS='|' read -r r_cam r_view <<<"$(cpu_figures "$WORK/ref.cpu" "$REF_CPU_VIEWERS")"
trim() { sed 's/^ *//; s/ *$//' <<<"${1:--}"; }
echo "| server CPU, one camera with one viewer | $(trim "$s_cam") | $(trim "$r_cam") |"
echo "| server CPU per additional viewer | $(trim "$s_view") | $(trim "$r_view") |"
echo "| server CPU per camera, one viewer on each of several cameras | $(per_camera "$WORK/stagecast.many") | $(per_camera "$WORK/ref.many") |"
echo "| previews of one camera held by one core | $(capacity "$WORK/stagecast.one") | $(capacity "$WORK/ref.one") |"
echo "| previews over ${#URLS[@]} cameras held by one core | $(capacity "$WORK/stagecast.many") | $(capacity "$WORK/ref.many") |"
echo
echo "A step holds when every viewer connected and received video, loss < 0.1 %, every viewer got >= 95 % of the"
echo "camera's 30 fps and < 1 % of frames arrived > 200 ms later than that viewer's best. Viewers over several"
echo "cameras are spread round-robin (the first ${#URLS[@]} viewers each watch a different camera)."
echo "total time: $(( $(date +%s) - T0 )) s"
