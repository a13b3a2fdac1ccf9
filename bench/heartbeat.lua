-- wrk script: viewer heartbeats over keep-alive connections, cycling through joined viewers.
--   wrk -t1 -c64 -d10s --latency -s bench/heartbeat.lua http://127.0.0.1:PORT -- VIEWERS_FILE [API_KEY]
-- VIEWERS_FILE holds one "userId stageArn" line per joined viewer (bench/join_10k.py --out writes it).
-- done() prints the rate, p50/p99 and "heartbeat: FAIL" on any answer with status >= 400 or socket error
-- (bench/wrk_report.lua). The requests are formatted once, in init().

local threads = {}
local counter = 1

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local requests = {}
nviewers = 0
local next_index = 1
local headers = {}

function init(args)
  local file = args[1] or "viewers.txt"
  headers["x-api-key"] = args[2] or "bench-key"
  headers["Content-Type"] = "application/json"
  for line in io.lines(file) do
    local user, arn = line:match("^(%S+)%s+(%S+)$")
    if user then
      local body = string.format('{"userId":"%s","stageArn":"%s"}', user, arn)
      requests[#requests + 1] = wrk.format("POST", "/api/viewer/heartbeat", headers, body)
    end
  end
  if #requests == 0 then
    error("no viewers in " .. file)
  end
  nviewers = #requests
  -- spread threads over the list so that they do not send the same viewers in step
  next_index = ((id - 1) * 7919) % #requests + 1
end

function request()
  local r = requests[next_index]
  next_index = next_index + 1
  if next_index > nviewers then next_index = 1 end
  return r
end

local report = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk_report.lua")

function done(summary, latency, requests)
  local viewers = 0
  for _, t in ipairs(threads) do viewers = t:get("nviewers") end
  report("heartbeat", "heartbeats", summary, latency, string.format("%d viewers cycled per thread", viewers))
end
