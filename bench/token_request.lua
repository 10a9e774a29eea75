-- wrk script for the token endpoint. Env: BENCH_BODY (a fixed form body) or BENCH_FILE + BENCH_TEMPLATE
-- (one single-use credential per request, substituted for {}, starting at line BENCH_OFFSET + 1),
-- BENCH_AUTH (Basic credentials), BENCH_DELAY_MS (per-connection pause: caps the offered rate).
local body = os.getenv("BENCH_BODY")
local template = os.getenv("BENCH_TEMPLATE")
local offset = tonumber(os.getenv("BENCH_OFFSET") or "0")
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local values = {}
if os.getenv("BENCH_FILE") then
  for line in io.lines(os.getenv("BENCH_FILE")) do values[#values + 1] = line end
end
local i = offset
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_AUTH")

request = function()
  if template then
    i = i + 1
    local s, e = template:find("{}", 1, true)
    return wrk.format(nil, nil, nil, template:sub(1, s - 1) .. (values[i] or "exhausted") .. template:sub(e + 1))
  end
  return wrk.format(nil, nil, nil, body)
end

if delay_ms > 0 then
  delay = function() return delay_ms end
end
