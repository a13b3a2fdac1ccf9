#!/usr/bin/env bash
# Builds Stagecast and runs every test: unit, integration, fuzz smoke runs and browser end-to-end.
#   scripts/test.sh            release build (build/)
#   scripts/test.sh --asan     AddressSanitizer + UBSan build (build-asan/)
#   scripts/test.sh --fuzz     libFuzzer smoke run of every parser (build-fuzz/, clang)
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS="${JOBS:-$(nproc)}"

mode="${1:-release}"
case "$mode" in
  release|"")
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build -j "$JOBS"
    ctest --test-dir build --output-on-failure -j "$JOBS" --timeout 600
    ;;
  --asan)
    # Browser tests are left to the release run; sanitizers slow the media path past real-time.
    cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSTAGECAST_SANITIZE=ON -DSTAGECAST_BENCH=OFF >/dev/null
    cmake --build build-asan -j "$JOBS"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest --test-dir build-asan --output-on-failure -j "$JOBS" --timeout 900 -LE e2e
    ;;
  --fuzz)
    CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTAGECAST_FUZZ=ON \
      -DSTAGECAST_TESTS=OFF -DSTAGECAST_BENCH=OFF -DSTAGECAST_LAYERS="common;auth;stun;rtp;rtcp;sdp;ingest;http;control" >/dev/null
    cmake --build build-fuzz -j "$JOBS"
    seconds="${FUZZ_SECONDS:-30}"
    failed=0
    passed=0
    for f in build-fuzz/fuzz/fuzz_*; do
      name="$(basename "$f")"
      mkdir -p "build-fuzz/corpus-$name"
      # A dictionary (fuzz/<target without fuzz_>.dict) and seeds (fuzz/corpus/<target>/, read only: new
      # inputs go to the first directory) where a target has them.
      dict=()
      seeds=()
      [ -f "fuzz/${name#fuzz_}.dict" ] && dict=(-dict="fuzz/${name#fuzz_}.dict")
      [ -d "fuzz/corpus/$name" ] && seeds=("fuzz/corpus/$name")
      if "$f" -max_total_time="$seconds" -print_final_stats=0 "${dict[@]}" "build-fuzz/corpus-$name" "${seeds[@]}" \
        2>"$f.log"; then
        echo "fuzz $name: ok ($(grep -Eo 'Done [0-9]+ runs' "$f.log" || true))"
        passed=$((passed + 1))
      else
        echo "fuzz $name: FAILED"; tail -40 "$f.log"; failed=$((failed + 1))
      fi
    done
    echo "fuzz: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    ;;
  *)
    echo "usage: $0 [--asan|--fuzz]" >&2
    exit 2
    ;;
esac
