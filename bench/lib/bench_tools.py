#!/usr/bin/env python3
"""Small helpers of bench/run's scenarios (standard library only).

  rate-run   one h2load fixed-rate run -> one JSON line (latency percentiles from its per-request log)
  mint       tokens from `warren dev-idp`'s token endpoint: one token, and optionally a pool
"""

import argparse
import http.client
import json
import re
import sys
import time
import urllib.parse


def percentile(sorted_values, p):
    """Nearest-rank percentile of an already sorted list (what wrk and HdrHistogram report)."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def rate_run(a):
    durations, statuses = [], {}
    with open(a.log) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3:
                continue
            status, us = int(parts[1]), int(parts[2])
            statuses[status] = statuses.get(status, 0) + 1
            if 200 <= status < 300:
                durations.append(us)
    text = open(a.stdout).read()
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", text)
    if not m:
        raise SystemExit(f"no 'requests:' line in h2load's output: {text[-500:]}")
    total, started, done, ok, failed, errored, timeout = map(int, m.groups())
    fin = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", text)
    durations.sort()
    pop_t, agent_t, clk = map(int, a.ticks.split(","))
    non2xx = sum(n for s, n in statuses.items() if not 200 <= s < 300)
    run = {
        "id": a.id, "scenario": a.scenario, "path": a.path, "kind": "rate",
        "rate": a.rate, "connections": a.conns, "duration_s": a.seconds,
        "requests": len(durations), "achieved_rps": len(durations) / a.seconds,
        "h2load_rps": float(fin.group(3)) if fin else None,
        # h2load's "failed" counts non-2xx answers as well as errors and timeouts.
        "errors": max(failed, non2xx + errored),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "latency_us": {
            "min": durations[0] if durations else None,
            "mean": round(sum(durations) / len(durations), 1) if durations else None,
            "p50": percentile(durations, 50), "p90": percentile(durations, 90),
            "p99": percentile(durations, 99), "p999": percentile(durations, 99.9),
            "max": durations[-1] if durations else None,
        },
        "clk_tck": clk, "ticks": {"pop": pop_t, "agent": agent_t},
    }
    print(json.dumps(run))
    lat = run["latency_us"]
    print(f"{run['achieved_rps']:.0f} req/s ({a.rate} asked), p50 {lat['p50']} us, p99 {lat['p99']} us, "
          f"{run['errors']} errors", file=sys.stderr)


def mint(a):
    url = urllib.parse.urlsplit(a.token_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    body = json.dumps({"sub": "bench", "aud": a.audience, "ttl_secs": a.ttl}).encode()

    def one(i):
        for attempt in range(3):
            try:
                conn.request("POST", url.path, body=body.replace(b'"bench"', f'"bench-{i}"'.encode()),
                             headers={"content-type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 200:
                    raise SystemExit(f"token endpoint answered {resp.status}: {data[:300]!r}")
                return json.loads(data)["access_token"]
            except (ConnectionError, http.client.HTTPException):
                if attempt == 2:
                    raise
                conn.close()
                time.sleep(0.1)

    with open(a.token_out, "w") as f:
        f.write(one(0) + "\n")
    if a.pool:
        started = time.time()
        with open(a.pool_out, "w") as f:
            for i in range(1, a.pool + 1):
                f.write(one(i) + "\n")
        print(f"pool of {a.pool} tokens minted in {time.time() - started:.1f} s", file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("rate-run")
    r.add_argument("--id", required=True)
    r.add_argument("--scenario", required=True)
    r.add_argument("--path", required=True)
    r.add_argument("--rate", type=int, required=True)
    r.add_argument("--conns", type=int, required=True)
    r.add_argument("--seconds", type=int, required=True)
    r.add_argument("--log", required=True)
    r.add_argument("--stdout", required=True)
    r.add_argument("--ticks", required=True, help="pop,agent,clk_tck")
    m = sub.add_parser("mint")
    m.add_argument("--token-url", required=True)
    m.add_argument("--audience", required=True)
    m.add_argument("--ttl", type=int, default=3600)
    m.add_argument("--token-out", required=True)
    m.add_argument("--pool", type=int, default=0)
    m.add_argument("--pool-out")
    a = p.parse_args()
    {"rate-run": rate_run, "mint": mint}[a.cmd](a)


if __name__ == "__main__":
    main()
