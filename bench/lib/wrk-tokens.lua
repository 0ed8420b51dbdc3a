-- wrk script for bench/policy.sh's "jwt-fresh" path: every request carries a different bearer
-- token, so the PoP cannot answer from its memo of verified tokens and checks an RS256
-- signature each time.
--
-- The tokens form one cycle. Thread i of n sends positions base+i, base+i+n, base+i+2n... of it,
-- so a token comes back only after about (number of tokens) requests in all: keep the file
-- larger than the PoP's memo (10 000 tokens per policy). done() saves where the run stopped and
-- the next run goes on from there, with the tokens used longest ago (starting over at the first
-- token would find the previous run's tokens still in the memo).
--
-- Environment:
--   WRK_TOKENS       the tokens, one a line
--   WRK_TOKEN_STATE  a file holding the next base position (created by done())
--   WRK_THREADS      wrk's -t
--   WRK_REPORT_LUA   the path of wrk-report.lua, whose done() prints the WRKJSON line
-- Requests are formatted once, in init, so wrk does no more work per request than with -H.

dofile(os.getenv("WRK_REPORT_LUA"))
local report_done = done

local nthreads = tonumber(os.getenv("WRK_THREADS") or "1")
local base = 0
do
  local f = io.open(os.getenv("WRK_TOKEN_STATE") or "", "r")
  if f then
    base = tonumber(f:read("*l") or "0") or 0
    f:close()
  end
end

local threads = {}
function setup(thread)
  thread:set("index", #threads)
  threads[#threads + 1] = thread
end

local reqs, count
sent = 0   -- global, so done() can read it with thread:get("sent")

function init(args)
  local path = os.getenv("WRK_TOKENS")
  local f = assert(io.open(path or "", "r"), "cannot open WRK_TOKENS " .. tostring(path))
  reqs = {}
  for line in f:lines() do
    if #line > 0 then
      local headers = {}
      for name, value in pairs(wrk.headers) do headers[name] = value end   -- Host, other -H
      headers["Authorization"] = "Bearer " .. line
      reqs[#reqs + 1] = wrk.format(nil, nil, headers)
    end
  end
  f:close()
  count = #reqs
end

function request()
  local k = (base + index + sent * nthreads) % count
  sent = sent + 1
  return reqs[k + 1]
end

function done(summary, latency, requests)
  report_done(summary, latency, requests)
  local most = 0
  for _, t in ipairs(threads) do most = math.max(most, t:get("sent") or 0) end
  local lines = 0
  local f = io.open(os.getenv("WRK_TOKENS") or "", "r")
  if f then
    for _ in f:lines() do lines = lines + 1 end
    f:close()
  end
  f = io.open(os.getenv("WRK_TOKEN_STATE") or "", "w")
  if f and lines > 0 then
    f:write(tostring((base + most * nthreads) % lines), "\n")
    f:close()
  end
end
