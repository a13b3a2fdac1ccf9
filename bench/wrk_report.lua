-- Shared done() reporting of the wrk scripts (loaded with dofile from beside the calling script).
-- report(label, unit, summary, latency, extra) prints
--   LABEL: N requests in S s = R UNIT/s; latency p50 .., p99 .., max ..
--   LABEL: B answers with status >= 400, E socket errors[, EXTRA]
--   LABEL: PASS | FAIL
-- wrk counts answers with a status of 400 or more itself (summary.errors.status), so no response() callback
-- is needed: the load tool spends its CPU on sending and receiving rather than in Lua.
return function(label, unit, summary, latency, extra)
  local secs = summary.duration / 1e6
  local e = summary.errors
  local socket_errors = e.connect + e.read + e.write + e.timeout
  io.write(string.format("%s: %d requests in %.2f s = %.0f %s/s; latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    label, summary.requests, secs, summary.requests / secs, unit,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
  io.write(string.format("%s: %d answers with status >= 400, %d socket errors%s\n",
    label, e.status, socket_errors, extra and (", " .. extra) or ""))
  if e.status > 0 or socket_errors > 0 or summary.requests == 0 then
    io.write(label .. ": FAIL\n")
  else
    io.write(label .. ": PASS\n")
  end
end
