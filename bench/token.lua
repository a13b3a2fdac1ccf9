-- wrk script: viewer token requests (each one joins a new, distinct userId and signs an ES384 JWT).
--   wrk -t1 -c16 -d5s --latency -s bench/token.lua http://127.0.0.1:PORT -- [PREFIX] [API_KEY]
-- done() prints the rate, p50/p99 and "token: FAIL" on any answer with status >= 400 or socket error
-- (bench/wrk_report.lua).

local counter = 1

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

local headers = {}
local prefix = "t"
local n = 0

function init(args)
  prefix = (args[1] or "t") .. "-" .. id .. "-"
  headers["x-api-key"] = args[2] or "bench-key"
  headers["Content-Type"] = "application/json"
end

function request()
  n = n + 1
  return wrk.format("POST", "/api/token/viewer", headers, '{"userId":"' .. prefix .. n .. '"}')
end

local report = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk_report.lua")

function done(summary, latency, requests)
  report("token", "tokens", summary, latency)
end
