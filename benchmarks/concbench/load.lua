-- wrk script of benchmarks/concurrency.py: POST one intent per request, and end cleanly.
--
-- Arguments (after `--`): warm-up seconds, measured seconds, a marker file path, wrk's
-- thread count. Each connection sends requests back to back. The measured window opens
-- warm-up seconds after the thread's first answer; once it closes a connection sends
-- no new request (delay() parks it), so the requests still in flight finish during
-- the drain that wrk's -d allows. A thread stops as soon as none of its requests is in flight;
-- the last one to stop interrupts wrk's main thread (which otherwise sleeps for all
-- of -d), so a run lasts as long as its requests, bounded by -d.
-- Nothing is abandoned half-way, which makes "every request left exactly one trace" an
-- exact check: sent == answered == traces.
-- Throughput counts only the responses completed inside the measured window.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
int open(const char *path, int flags, int mode);
long write(int fd, const char *buf, unsigned long count);
long lseek(int fd, long offset, int whence);
int close(int fd);
int getpid(void);
long syscall(long number, ...);
]]
-- Linux x86-64 values.
local O_WRONLY, O_APPEND, O_CREAT, SEEK_END = 1, 0x400, 0x40, 2
local SYS_TGKILL, SIGINT = 234, 2
local CLOCK_MONOTONIC = 1
local now_ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, now_ts)
  return tonumber(now_ts.tv_sec) + tonumber(now_ts.tv_nsec) / 1e9
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"intent": "show the status of the benchmark"}'

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local warmup, duration, window_start, window_end, marker, thread_count
local stopped = false
sent, answered, in_window, non_2xx = 0, 0, 0, 0

function init(args)
  warmup = tonumber(args[1] or "0")
  duration = tonumber(args[2] or "10")
  marker = args[3]
  thread_count = tonumber(args[4] or "1")
end

-- Record that this thread is done; the last one wakes wrk's main thread with SIGINT
-- (wrk treats it as the end of the run and prints its summary).
local function finish_thread()
  stopped = true
  if marker then
    local fd = ffi.C.open(marker, O_WRONLY + O_APPEND + O_CREAT, 420)
    if fd >= 0 then
      ffi.C.write(fd, "x", 1)
      local size = ffi.C.lseek(fd, 0, SEEK_END)
      ffi.C.close(fd)
      if size >= thread_count then
        local pid = ffi.C.getpid()
        ffi.C.syscall(SYS_TGKILL, ffi.cast("long", pid), ffi.cast("long", pid), ffi.cast("long", SIGINT))
      end
    end
  end
  wrk.thread:stop()
end

-- Called before every request a connection sends (request() is not used to count:
-- wrk calls it once more on the first thread, to check the script).
function delay()
  if window_end and now() >= window_end then
    return 3600 * 1000 -- parked until the thread stops or wrk's -d ends the run
  end
  sent = sent + 1
  return 0
end

function response(status, headers, body)
  answered = answered + 1
  if status < 200 or status > 299 then
    non_2xx = non_2xx + 1
  end
  local t = now()
  if not window_start then
    -- The window opens `warmup` seconds after the first answer, so that a server
    -- slower than the warm-up is still measured once its pipeline is full.
    window_start = t + warmup
    window_end = window_start + duration
  end
  if t >= window_start and t < window_end then
    in_window = in_window + 1
  elseif t >= window_end and sent == answered and not stopped then
    finish_thread()
  end
end

function done(summary, latency, requests)
  local totals = { sent = 0, answered = 0, in_window = 0, non_2xx = 0 }
  for _, thread in ipairs(threads) do
    for key, _ in pairs(totals) do
      totals[key] = totals[key] + thread:get(key)
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"sent": %d, "answered": %d, "in_window": %d, "non_2xx": %d, ' ..
    '"wrk_requests": %d, "duration_us": %d, "errors": {"connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d}, "latency_us": {"mean": %.1f, ' ..
    '"p50": %d, "p90": %d, "p99": %d, "max": %d}}\n',
    totals.sent, totals.answered, totals.in_window, totals.non_2xx,
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end
