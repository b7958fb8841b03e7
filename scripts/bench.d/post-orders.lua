-- wrk script: POST seed 001 orders, each with its own order_number, and count the 2xx answers
-- (printed by done() as "answered_2xx N", so that scripts/bench can check each is in the log).
local counter = 0
-- a global, not a local: done() reads it from each thread with thread:get.
ok = 0
local threads = {}
local thread_id = 0
function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
  table.insert(threads, thread)
end
-- wrk ... -- PREFIX: order numbers start with PREFIX (default B), so that several wrk at once
-- send different orders.
local prefix = "B"
function init(args)
  if args[1] then prefix = args[1] end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  counter = counter + 1
  local body = string.format(
    '{"order_number":"%s-%d-%d","product":"Nike Shoes","price":99.99,"quantity":1,"email":"customer@example.com","status":"pending"}',
    prefix, id, counter)
  return wrk.format(nil, "/api/v2/webhooks/orders", nil, body)
end
function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("ok") end
  io.write(string.format("answered_2xx %d\n", total))
end
