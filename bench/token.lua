-- wrk script: viewer token requests (each one joins a new, distinct userId and signs an ES384 JWT).
--   wrk -t1 -c16 -d5s --latency -s bench/token.lua http://127.0.0.1:PORT -- [PREFIX] [API_KEY]
-- done() prints the rate, p50/p99 and "token: FAIL" if any answer was not 200.

local threads = {}
local counter = 1

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local headers = {}
local prefix = "t"
local n = 0
bad = 0
last_bad = ""

function init(args)
  prefix = (args[1] or "t") .. "-" .. id .. "-"
  headers["x-api-key"] = args[2] or "bench-key"
  headers["Content-Type"] = "application/json"
end

function request()
  n = n + 1
  return wrk.format("POST", "/api/token/viewer", headers, '{"userId":"' .. prefix .. n .. '"}')
end

function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
    last_bad = status .. " " .. (body or "")
  end
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local total_bad = 0
  local example = ""
  for _, t in ipairs(threads) do
    total_bad = total_bad + t:get("bad")
    if t:get("bad") > 0 then example = t:get("last_bad") end
  end
  local e = summary.errors
  local socket_errors = e.connect + e.read + e.write + e.timeout
  io.write(string.format("token: %d requests in %.2f s = %.0f tokens/s; latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
  io.write(string.format("token: %d non-200 answers, %d socket errors\n", total_bad, socket_errors))
  if total_bad > 0 or socket_errors > 0 or summary.requests == 0 then
    if example ~= "" then io.write("token: example bad answer: " .. example .. "\n") end
    io.write("token: FAIL\n")
  else
    io.write("token: PASS\n")
  end
end
