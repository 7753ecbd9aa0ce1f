-- Shared by every scenario: numbers the threads and, when the run ends, prints one line
--   BENCH_RESULT {json}
-- with the counts and latency percentiles (microseconds) that bench/run.py reads.

local threads = {}

function setup(thread)
   thread:set("thread_index", #threads)
   table.insert(threads, thread)
end

local function sum_of(name)
   local total = 0
   for _, thread in ipairs(threads) do
      total = total + (tonumber(thread:get(name)) or 0)
   end
   return total
end

function done(summary, latency, requests)
   local e = summary.errors
   local fields = {
      string.format('"requests":%d', summary.requests),
      string.format('"duration_us":%d', summary.duration),
      string.format('"non_2xx_3xx":%d', e.status),
      string.format('"connect_errors":%d', e.connect),
      string.format('"read_errors":%d', e.read),
      string.format('"write_errors":%d', e.write),
      string.format('"timeouts":%d', e.timeout),
      string.format('"tokens_exhausted":%d', sum_of("exhausted")),
      string.format('"mean_us":%.1f', latency.mean),
      string.format('"max_us":%d', latency.max),
   }
   for _, p in ipairs({50, 90, 99, 99.9}) do
      table.insert(fields, string.format('"p%s_us":%d', tostring(p):gsub("%.", "_"), latency:percentile(p)))
   end
   io.write("BENCH_RESULT {" .. table.concat(fields, ",") .. "}\n")
end
