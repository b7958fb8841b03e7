-- wrk script: sends pre-built requests from the file named by the REQUESTS environment variable
-- (one per line: path TAB header:value|header:value TAB body), each thread its own share, each
-- request once (a thread that runs out starts its share over, which the upstreams' dedupe
-- answers as duplicates); counts the 2xx answers like post-orders.lua.
local lines = {}
local next_line = 1
ok = 0  -- global: done() reads it per thread with thread:get
local threads = {}
local thread_id = 0
local n_threads = tonumber(os.getenv("WRK_THREADS") or "2")
function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
  table.insert(threads, thread)
end
function init(args)
  local n = 0
  for line in io.lines(os.getenv("REQUESTS")) do
    if n % n_threads == id then
      local path, headers, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      local h = {}
      for pair in headers:gmatch("[^|]+") do
        local k, v = pair:match("^([^:]+):(.*)$")
        h[k] = v
      end
      table.insert(lines, wrk.format("POST", path, h, body))
    end
    n = n + 1
  end
end
function request()
  local r = lines[next_line]
  next_line = next_line + 1
  if next_line > #lines then next_line = 1 end
  return r
end
function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("ok") end
  io.write(string.format("answered_2xx %d\n", total))
end
