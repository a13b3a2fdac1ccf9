#!/usr/bin/env python3
"""Join N distinct viewers to a channel as fast as a few keep-alive HTTP connections allow, then check the counts.

    bench/join_10k.py --port PORT [--count 10000] [--threads 4] [--prefix j] [--out viewers.txt]

Each worker thread keeps one HTTP/1.1 connection open and sends POST /api/token/viewer for its share of the
userIds (PREFIX-0 ... PREFIX-(N-1)). Afterwards GET /api/channels/CHANNEL must report total == N (plus
--already, viewers joined before this run) and ceil(total / capacity) stages. With --out, one
"userId stageArn" line per viewer is written (input for bench/heartbeat.lua). Only the standard library is used.
Exit status 1 if a join failed, the counts are wrong, or the joins took longer than --limit seconds.
"""
import argparse
import http.client
import json
import math
import sys
import threading
import time


def connect(args):
    return http.client.HTTPConnection(args.host, args.port, timeout=30)


def worker(args, ids, results, errors, latencies):
    conn = connect(args)
    headers = {"x-api-key": args.api_key, "content-type": "application/json"}
    for i in ids:
        user = "%s-%d" % (args.prefix, i)
        body = json.dumps({"userId": user})
        for attempt in range(2):
            try:
                t0 = time.perf_counter()
                conn.request("POST", "/api/token/viewer", body, headers)
                resp = conn.getresponse()
                data = resp.read()
                latencies.append(time.perf_counter() - t0)
                break
            except (http.client.HTTPException, OSError):
                conn.close()
                conn = connect(args)
                if attempt == 1:
                    errors.append((user, "connection error"))
                    data = None
        if data is None:
            continue
        if resp.status != 200:
            errors.append((user, "HTTP %d %s" % (resp.status, data[:120])))
            continue
        doc = json.loads(data)
        if not doc.get("success"):
            errors.append((user, data[:120]))
            continue
        results[i] = doc["data"]["stageArn"]
    conn.close()


def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, int(math.ceil(p / 100.0 * len(sorted_values))) - 1)
    return sorted_values[max(k, 0)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--api-key", default="bench-key")
    ap.add_argument("--channel", default="main")
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--prefix", default="j")
    ap.add_argument("--capacity", type=int, default=50, help="stageCapacity the server runs with")
    ap.add_argument("--already", type=int, default=0, help="viewers in the channel before this run")
    ap.add_argument("--limit", type=float, default=60.0, help="seconds the joins may take")
    ap.add_argument("--out", help="write 'userId stageArn' lines here")
    args = ap.parse_args()

    results = [None] * args.count
    errors = []
    latencies = []
    shares = [range(t, args.count, args.threads) for t in range(args.threads)]
    threads = [threading.Thread(target=worker, args=(args, s, results, errors, latencies)) for s in shares]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0

    conn = connect(args)
    conn.request("GET", "/api/channels/%s" % args.channel, headers={"x-api-key": args.api_key})
    resp = conn.getresponse()
    doc = json.loads(resp.read())
    conn.close()
    data = doc.get("data", {})
    total = data.get("total")
    stages = data.get("stages", [])
    per_stage = sum(s.get("viewerCount", 0) for s in stages)
    fullest = max((s.get("viewerCount", 0) for s in stages), default=0)
    want_total = args.count + args.already
    want_stages = math.ceil(want_total / args.capacity)

    latencies.sort()
    joined = sum(1 for r in results if r is not None)
    print("join: %d/%d viewers joined in %.2f s (%.0f joins/s, %d threads); join latency p50 %.2f ms, p99 %.2f ms"
          % (joined, args.count, elapsed, joined / elapsed, args.threads,
             pct(latencies, 50) * 1e3, pct(latencies, 99) * 1e3))
    print("join: channel %s reports total=%s (want %d), stages=%d (want %d), sum of stage viewerCounts=%d, fullest stage=%d"
          % (args.channel, total, want_total, len(stages), want_stages, per_stage, fullest))
    for user, why in errors[:5]:
        print("join: error %s: %s" % (user, why), file=sys.stderr)

    if args.out:
        with open(args.out, "w") as f:
            for i, arn in enumerate(results):
                if arn is not None:
                    f.write("%s-%d %s\n" % (args.prefix, i, arn))

    ok = (not errors and joined == args.count and total == want_total and len(stages) == want_stages
          and per_stage == want_total and fullest <= args.capacity and elapsed <= args.limit)
    print("join: %s (%d errors; limit %.0f s)" % ("PASS" if ok else "FAIL", len(errors), args.limit))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
