# Sourced by the benchmark scripts.
# server_port LOG [SECONDS]: waits (default 10 s) until a Stagecast server started with --http HOST:0 logs its
# listening address to LOG, then prints the port. On timeout prints the log to stderr and returns 1.
server_port() {
  local log="$1" limit="${2:-10}" port="" _
  for _ in $(seq $((limit * 10))); do
    port=$(sed -n 's/.*http: listening on [^ ]*:\([0-9]*\).*/\1/p' "$log" 2>/dev/null | head -1)
    [ -n "$port" ] && { echo "$port"; return 0; }
    sleep 0.1
  done
  cat "$log" >&2
  return 1
}
