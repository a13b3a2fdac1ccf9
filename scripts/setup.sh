#!/usr/bin/env bash
# Installs everything Stagecast needs to build, test and benchmark on Debian 12.
# Idempotent: safe to run again. Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  # libraries
  libssl-dev libsrtp2-dev libboost1.74-dev nlohmann-json3-dev libspdlog-dev libcli11-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  chromium
  python3 python3-aiortc
  wrk procps iproute2 util-linux
  # ingest layer (FFmpeg libraries) and its fake RTSP camera (GStreamer RTSP server via python3-gi)
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev libopus-dev
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  # Redis store (several nodes sharing channels) and its tests
  redis-server libhiredis-dev
  # interoperability oracle for participant tokens (PyJWT)
  python3-jwt
  libsoci-dev postgresql
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js: use the one present (it may bundle npm); otherwise Debian's.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Browser-test driver (never downloads a browser: Debian's /usr/bin/chromium is used).
if [ -f tests/e2e/package.json ]; then
  (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi
