-- wrk script for bench/api.py: each request takes the next path of a list file (one path a line),
-- each thread starting at its own offset; done() prints one machine-readable RESULT line.
--   wrk -t2 -c32 -d10s -s bench/wrk_paths.lua http://127.0.0.1:PORT -- paths.txt
local paths = {}
local i = 0
local thread_no = 0
local threads = {}

function setup(thread)
  thread:set("id", thread_no)
  thread_no = thread_no + 1
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  i = (id or 0) * 7919
end

function request()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT requests=%d duration_us=%d bytes=%d p50_us=%d p95_us=%d p99_us=%d max_us=%d "
                         .. "status_errors=%d socket_errors=%d\n",
                         summary.requests, summary.duration, summary.bytes, latency:percentile(50),
                         latency:percentile(95), latency:percentile(99), latency.max, e.status,
                         e.connect + e.read + e.write + e.timeout))
end
