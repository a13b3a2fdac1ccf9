-- wrk script: viewer heartbeats over keep-alive connections, cycling through joined viewers.
--   wrk -t1 -c64 -d10s --latency -s bench/heartbeat.lua http://127.0.0.1:PORT -- VIEWERS_FILE [API_KEY]
-- VIEWERS_FILE holds one "userId stageArn" line per joined viewer (bench/join_10k.py --out writes it).
-- Every answer other than 200 is counted; done() prints the rate, p50/p99 and "heartbeat: FAIL" if any.

local threads = {}
local counter = 1

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local bodies = {}
nviewers = 0
local next_index = 1
local headers = {}
bad = 0
last_bad = ""

function init(args)
  local file = args[1] or "viewers.txt"
  headers["x-api-key"] = args[2] or "bench-key"
  headers["Content-Type"] = "application/json"
  for line in io.lines(file) do
    local user, arn = line:match("^(%S+)%s+(%S+)$")
    if user then
      bodies[#bodies + 1] = string.format('{"userId":"%s","stageArn":"%s"}', user, arn)
    end
  end
  if #bodies == 0 then
    error("no viewers in " .. file)
  end
  nviewers = #bodies
  -- spread threads over the list so that they do not send the same viewers in step
  next_index = ((id - 1) * 7919) % #bodies + 1
end

function request()
  local body = bodies[next_index]
  next_index = next_index + 1
  if next_index > #bodies then next_index = 1 end
  return wrk.format("POST", "/api/viewer/heartbeat", headers, body)
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
  local viewers = 0
  for _, t in ipairs(threads) do
    viewers = t:get("nviewers")
    total_bad = total_bad + t:get("bad")
    if t:get("bad") > 0 then example = t:get("last_bad") end
  end
  local e = summary.errors
  local socket_errors = e.connect + e.read + e.write + e.timeout
  io.write(string.format("heartbeat: %d requests in %.2f s = %.0f heartbeats/s; latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
  io.write(string.format("heartbeat: %d non-200 answers, %d socket errors, %d viewers cycled per thread\n",
    total_bad, socket_errors, viewers))
  if total_bad > 0 or socket_errors > 0 or summary.requests == 0 then
    if example ~= "" then io.write("heartbeat: example bad answer: " .. example .. "\n") end
    io.write("heartbeat: FAIL\n")
  else
    io.write("heartbeat: PASS\n")
  end
end
