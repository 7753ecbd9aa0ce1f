-- POST /token, grant_type=refresh_token, HTTP Basic client authentication.
-- Refresh tokens rotate (each is accepted once), so every request sends a fresh one from
-- BENCH_TOKENS_FILE (one per line). Thread i of n takes lines i+1, i+1+n, ... so no token is sent
-- twice. When a thread runs out it sends a dummy token, which the server refuses: the run then
-- shows errors and a non-zero tokens_exhausted instead of silently measuring something else.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

local tokens = {}
local next_token = 1
exhausted = 0

function init(args)
   local n = tonumber(os.getenv("BENCH_THREADS"))
   local line_no = 0
   for line in io.lines(os.getenv("BENCH_TOKENS_FILE")) do
      if line_no % n == thread_index then
         table.insert(tokens, line)
      end
      line_no = line_no + 1
   end
end

local headers = {
   ["Content-Type"] = "application/x-www-form-urlencoded",
   ["Authorization"] = os.getenv("BENCH_AUTHORIZATION"),
}

function request()
   local token = tokens[next_token]
   if token then
      tokens[next_token] = nil
      next_token = next_token + 1
   else
      token = "exhausted"
      exhausted = exhausted + 1
   end
   return wrk.format("POST", "/token", headers, "grant_type=refresh_token&refresh_token=" .. token)
end
