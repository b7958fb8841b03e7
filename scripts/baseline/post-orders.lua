-- wrk script: POST seed 001 orders, each with its own order_number.
local counter = 0
local thread_id = 0
function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
end
function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  counter = counter + 1
  local body = string.format(
    '{"order_number":"B-%d-%d","product":"Nike Shoes","price":99.99,"quantity":1,"email":"customer@example.com","status":"pending"}',
    id, counter)
  return wrk.format(nil, "/api/v2/webhooks/orders", nil, body)
end
