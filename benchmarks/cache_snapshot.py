"""Benchmark: ``ytempire_dq.cache.dump`` of a large cache -- keys/s and peak memory.

    .venv/bin/python benchmarks/cache_snapshot.py --keys 1000000 [--batch 1000] [--tracemalloc]
        [--redis-url redis://host:port/N --flush] [--out results.json]

Without ``--redis-url`` it starts a throw-away redis-server (the embedded one of ``ytdq services``,
in a temporary directory) and stops it at the end. The keys are written server-side by a Lua
script (so this process's memory is untouched before the measurement), in the platform's mix:
10% ``session:*`` hashes (2 fields, TTL), 70% ``video:*:stats`` hashes (3 fields), 20%
``ratelimit:*`` counters (TTL). Peak memory is the growth of this process's max RSS during the
snapshot (``resource.getrusage``); ``--tracemalloc`` adds a second run measuring Python
allocations' peak (slower, so its time is not the one reported as keys/s).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
import tracemalloc

POPULATE = """
local start, n = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = start, start + n - 1 do
  local m = i % 10
  if m == 0 then
    local k = 'session:' .. string.format('%032x', i)
    redis.call('HSET', k, 'user_id', string.format('00000000-0000-4000-8000-%012d', i % 100000),
               'created_at', '2024-05-01T00:00:00+00:00')
    redis.call('EXPIRE', k, 86400)
  elseif m <= 7 then
    redis.call('HSET', string.format('video:00000000-0000-4000-8000-%012d:stats', i),
               'view_count', i % 100000, 'revenue', '12.3456', 'cached_at', '2024-05-01T00:00:00+00:00')
  else
    local window = (m == 8) and '3600s' or '60s'
    redis.call('SET', string.format('ratelimit:00000000-0000-4000-8000-%012d:%s', i, window), i % 1000, 'EX', 86400)
  end
end
return n
"""


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--redis-url", default=None, help="use this server/DB instead of a throw-away one")
    ap.add_argument("--flush", action="store_true", help="FLUSHDB the given --redis-url DB first (and after)")
    ap.add_argument("--tracemalloc", action="store_true", help="also measure Python's allocation peak")
    ap.add_argument("--out", default=None, help="write the result as JSON here")
    args = ap.parse_args(argv)

    import pandas  # noqa: F401  (imported before the baseline, as a caller would have it)
    import redis

    from ytempire_dq.cache.dump import snapshot
    from ytempire_dq.ops import services

    tmp = None
    url = args.redis_url
    if url is None:
        tmp = tempfile.mkdtemp(prefix="ytdq-bench-")
        os.environ.pop("REDIS_URL", None)
        url = services.up(tmp, postgres=False)["redis"]["url"]
    elif not args.flush:
        print("--redis-url needs --flush (the benchmark owns that database)", file=sys.stderr)
        return 2
    r = redis.Redis.from_url(url)
    try:
        r.flushdb()
        t0 = time.perf_counter()
        populate = r.register_script(POPULATE)
        chunk = 20_000
        for start in range(0, args.keys, chunk):
            populate(args=[start, min(chunk, args.keys - start)])
        populate_s = time.perf_counter() - t0
        assert r.dbsize() == args.keys, r.dbsize()

        base = _maxrss_mb()
        t0 = time.perf_counter()
        df = snapshot(url, batch=args.batch)
        seconds = time.perf_counter() - t0
        peak_delta = _maxrss_mb() - base
        assert len(df) == args.keys, len(df)
        frame_mb = df.memory_usage(deep=True).sum() / 2**20
        result = {
            "keys": args.keys,
            "batch": args.batch,
            "seconds": round(seconds, 2),
            "keys_per_second": round(args.keys / seconds),
            "peak_rss_delta_mb": round(peak_delta, 1),
            "dataframe_mb": round(frame_mb, 1),
            "columns": list(df.columns),
            "populate_seconds": round(populate_s, 2),
            "redis_version": r.info("server")["redis_version"],
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        }
        del df
        if args.tracemalloc:
            tracemalloc.start()
            t0 = time.perf_counter()
            df = snapshot(url, batch=args.batch)
            traced_s = time.perf_counter() - t0
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            result["tracemalloc_peak_mb"] = round(peak / 2**20, 1)
            result["tracemalloc_seconds"] = round(traced_s, 2)
            del df
    finally:
        if args.redis_url is None:
            r.close()
            services.down(tmp, purge=True)
        else:
            r.flushdb()
            r.close()
    print(
        f"snapshot of {result['keys']:,} keys (batch {result['batch']}): {result['seconds']} s, "
        f"{result['keys_per_second']:,} keys/s, peak RSS +{result['peak_rss_delta_mb']} MB, "
        f"DataFrame {result['dataframe_mb']} MB"
        + (f", tracemalloc peak {result['tracemalloc_peak_mb']} MB" if "tracemalloc_peak_mb" in result else "")
    )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    else:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
