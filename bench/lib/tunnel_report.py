#!/usr/bin/env python3
"""Turns the runs of bench/tunnel.sh into tunnel-latest.md and tunnel-latest.json."""

import argparse
import datetime
import json
import re
import statistics
from collections import defaultdict

PATHS = ("direct", "tunnel")


def args():
    p = argparse.ArgumentParser()
    for name in ("runs", "profile-run", "perf-dir", "out-md", "out-json", "commit", "cpu-model", "kernel",
                 "loadavg", "wrk-version", "nginx-version", "warren-version", "log-level", "profile-status", "diff-hash", "bin", "bin-sha", "bin-mtime"):
        p.add_argument("--" + name, default="")
    for name in ("dirty", "nproc", "duration", "rounds", "quick", "body-bytes", "nginx-workers", "bin-given"):
        p.add_argument("--" + name, type=int, default=0)
    return p.parse_args()


def load_jsonl(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def enrich(run):
    """Adds derived figures: req/s, errors, CPU seconds and CPU microseconds per request."""
    w = run["wrk"]
    secs = w["duration_us"] / 1e6
    tck = run["clk_tck"]
    t = run["ticks"]
    cpu = {
        "pop": t["pop"] / tck,
        "agent": t["agent"] / tck,
        "nginx": t["nginx"] / tck,
        "wrk": run["wrk_cpu_s"],
    }
    busy = t["machine_busy"] / tck
    capacity = t["machine_total"] / tck
    cpu["other"] = max(0.0, busy - sum(cpu.values()))
    run["rps"] = w["requests"] / secs if secs else 0.0
    run["errors"] = sum(w["errors"].values())
    run["cpu_s"] = {k: round(v, 3) for k, v in cpu.items()}
    run["machine"] = {"busy_s": round(busy, 3), "capacity_s": round(capacity, 3),
                      "busy_pct": round(100 * busy / capacity, 1) if capacity else None}
    run["cpu_us_per_request"] = {k: round(1e6 * v / w["requests"], 1) if w["requests"] else None
                                 for k, v in cpu.items() if k != "other"}
    return run


def ms(us):
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"


def summarise(runs):
    """Mean over rounds for each (scenario, path)."""
    groups = defaultdict(list)
    for r in runs:
        groups[(r["scenario"], r["path"])].append(r)
    out = {}
    for key, rs in groups.items():
        lat = {p: statistics.mean(r["wrk"]["latency_us"][p] for r in rs) for p in ("p50", "p90", "p99", "p999")}
        out[key] = {
            "scenario": key[0], "path": key[1], "rounds": len(rs),
            "rps_mean": round(statistics.mean(r["rps"] for r in rs), 1),
            "rps_min": round(min(r["rps"] for r in rs), 1), "rps_max": round(max(r["rps"] for r in rs), 1),
            "latency_us": {k: round(v, 1) for k, v in lat.items()},
            "errors": sum(r["errors"] for r in rs),
            "requests": sum(r["wrk"]["requests"] for r in rs),
            "cpu_us_per_request": {
                k: round(statistics.mean(r["cpu_us_per_request"][k] for r in rs), 1)
                for k in ("pop", "agent", "nginx", "wrk")},
            "cpu_pct": {
                k: round(100 * statistics.mean(r["cpu_s"][k] / (r["wrk"]["duration_us"] / 1e6) for r in rs), 1)
                for k in ("pop", "agent", "nginx", "wrk", "other")},
            "machine_busy_pct": round(statistics.mean(r["machine"]["busy_pct"] or 0 for r in rs), 1),
        }
    return out


# ------------------------------------------------------------------ perf
BUCKETS = [  # (bucket, dso regex or None for "not the kernel", symbol regex); first match wins
    # On a VM, cpu-clock samples taken with interrupts off land where they are re-enabled
    # (_raw_spin_unlock_irqrestore, finish_task_switch): mostly wake-ups and context switches.
    ("kernel: scheduling, wake-ups, epoll, futex", r"kernel",
     r"sched|futex|switch|epoll|wake|^ep_|unlock_irq|pick_|enqueue|dequeue|update_curr|select_task|hrtimer|tick|idle"),
    ("kernel: UDP", r"kernel", r"udp"),
    ("kernel: TCP", r"kernel", r"tcp|inet_csk|bbr"),
    ("kernel: IP, sockets, skb and slab", r"kernel",
     r"ip_|inet|net_rx|netif|loopback|skb|sock|sendmsg|recvmsg|dev_|napi|csum|kmem|slab|memcg|copy_|_copy|page"),
    ("kernel: syscall entry/exit, fds", r"kernel", r"entry|syscall|fdget|fput|vfs_|rcu|exit_to_user|irqentry|read_tsc"),
    ("kernel: other", r"kernel", r""),
    ("crypto (aws-lc)", None, r"aws_lc|aes|gcm|ghash|chacha|poly1305|sha256|sha512|hmac|CRYPTO|EVP_"),
    ("memset (buffer zeroing)", None, r"memset"),
    ("memcpy/memmove", None, r"memcpy|memmove|memcmp"),
    ("allocator (malloc/free)", None, r"malloc|free|realloc|calloc|_int_|unlink_chunk|alloc::|__rust_alloc|__rust_dealloc|tcache|arena"),
    ("QUIC (quinn)", None, r"quinn"),
    ("HTTP (hyper, h2, http)", None, r"hyper|\bh2::|http::|httparse|http_body"),
    ("tokio runtime", None, r"tokio"),
    ("tracing / logging", None, r"tracing|log::"),
    ("warren code", None, r"warren"),
    ("nginx", r"nginx", r""),
    ("libc other", r"libc", r""),
    ("other user space", None, r""),
]

LINE = re.compile(r"^\s*([\d.]+)%\s+(\S+)\s+\[([.k])\]\s+(.*)$")


def perf_buckets(path):
    """{bucket: percent of the process's samples} and its top symbols, from `perf report --sort dso,sym`."""
    try:
        lines = open(path).read().splitlines()
    except FileNotFoundError:
        return None
    per = defaultdict(float)
    syms = []
    for line in lines:
        m = LINE.match(line)
        if not m:
            continue
        pct, dso, sym = float(m[1]), m[2], m[4].strip()
        if dso.startswith("[kernel"):
            dso = "kernel"
        for name, dso_re, sym_re in BUCKETS:
            if dso_re is not None and not re.search(dso_re, dso):
                continue
            if dso_re is None and dso == "kernel":
                continue
            if sym_re and not re.search(sym_re, sym, re.I):
                continue
            per[name] += pct
            break
        syms.append([f"{dso} {sym}"[:100], pct])
    if not per:
        return None
    sysc = {}
    try:
        for line in open(path.replace("perf-flat-", "perf-sys-")).read().splitlines():
            m = re.match(r"^\s*([\d.]+)%\s+[\d.]+%\s+\[k\]\s+(\S+)$", line)
            if m:
                # __x64_sys_X, __sys_X, do_X ...: one entry per syscall, the largest
                name = re.sub(r"^(__x64_sys_|__do_sys_|__sys_|ksys_|do_)", "", m[2])
                sysc[name] = max(sysc.get(name, 0.0), float(m[1]))
    except FileNotFoundError:
        pass
    return {
        "inclusive_pct": dict(sorted(sysc.items(), key=lambda kv: -kv[1])[:10]),
        "buckets_pct": {k: round(v, 1) for k, v in sorted(per.items(), key=lambda kv: -kv[1])},
        "top_symbols_pct": sorted(syms, key=lambda kv: -kv[1])[:10],
    }


# ------------------------------------------------------------------ output
def main():
    a = args()
    runs = [enrich(r) for r in load_jsonl(a.runs)]
    prof_runs = [enrich(r) for r in load_jsonl(a.profile_run)]
    summary = summarise(runs)
    scenarios = []
    for r in runs:
        if r["scenario"] not in scenarios:
            scenarios.append(r["scenario"])
    perf = {}
    if a.profile_status == "perf":
        for role, name in (("warren pop", "pop"), ("warren http (agent)", "agent"), ("nginx", "nginx")):
            b = perf_buckets(f"{a.perf_dir}/perf-flat-{name}.txt")
            if b:
                perf[role] = b

    ratios = {}
    for sc in scenarios:
        d, t = summary.get((sc, "direct")), summary.get((sc, "tunnel"))
        if d and t:
            ratios[sc] = {
                "rps_tunnel_over_direct": round(t["rps_mean"] / d["rps_mean"], 3) if d["rps_mean"] else None,
                "p50_tunnel_over_direct": round(t["latency_us"]["p50"] / d["latency_us"]["p50"], 2)
                if d["latency_us"]["p50"] else None,
                "p99_tunnel_over_direct": round(t["latency_us"]["p99"] / d["latency_us"]["p99"], 2)
                if d["latency_us"]["p99"] else None,
                "added_p50_us": round(t["latency_us"]["p50"] - d["latency_us"]["p50"], 1),
            }

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = {"nproc": a.nproc, "cpu_model": a.cpu_model, "kernel": a.kernel, "loadavg_at_end": a.loadavg}
    setup = {
        "mode": "quick" if a.quick else "full", "duration_s": a.duration, "rounds": a.rounds,
        "body_bytes": a.body_bytes, "nginx_workers": a.nginx_workers, "warren_log_level": a.log_level,
        "wrk": a.wrk_version, "nginx": a.nginx_version, "warren": a.warren_version,
        "profile": a.profile_status,
    }
    doc = {
        "benchmark": "tunnel", "generated": now,
        "commit": a.commit, "uncommitted_files": a.dirty, "uncommitted_diff_sha256": a.diff_hash if a.dirty else None,
        "binary": a.bin, "binary_sha256": a.bin_sha, "binary_built": a.bin_mtime, "binary_from_warren_bin": bool(a.bin_given),
        "machine": machine, "setup": setup,
        "summary": list(summary.values()), "ratios": ratios, "runs": runs,
        "profile_run": prof_runs[0] if prof_runs else None, "perf": perf,
    }
    with open(a.out_json, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")

    md = []
    w = md.append
    w("# Tunnel benchmark: through Warren vs direct to the backend\n")
    w(f"Generated {now} by `bench/tunnel.sh` ({setup['mode']} mode: {a.rounds} round(s) of {a.duration} s "
      f"per run, runs alternating direct / tunnel). Raw data: `tunnel-latest.json`; profile: "
      f"`tunnel-latest-profile.txt`.\n")
    w(f"- commit `{a.commit}`" + (f" plus uncommitted changes in {a.dirty} file(s) under crates/ and Cargo.* "
      f"in the tree at run time (diff sha256 `{a.diff_hash}`; other work in progress)" if a.dirty else "")
      + f"; binary `{a.bin}` built {a.bin_mtime} (sha256 `{a.bin_sha}`)"
      + (" given by `WARREN_BIN`: it may come from another tree than this commit" if a.bin_given else
         ", built by the script from this tree"))
    w(f"- machine: {a.nproc} CPU(s) (`nproc`), {a.cpu_model}, Linux {a.kernel}; load average at the end: "
      f"{a.loadavg}")
    w(f"- tools: {a.wrk_version}; {a.nginx_version} ({a.nginx_workers} worker, access log off) serving a "
      f"{a.body_bytes}-byte static file; warren `--log-level {a.log_level}`")
    w("- paths: **direct** = wrk → nginx; **tunnel** = wrk → PoP http listener (`Host: bench.edge.test`) → "
      "QUIC tunnel → agent (`warren http`) → nginx. HTTP/1.1 keep-alive from wrk; everything on 127.0.0.1.")
    w(f"- **Caveat:** this machine has {a.nproc} cores, shared with other work during the run. wrk, nginx, the "
      "PoP and the agent all compete for the same cores (see the CPU table), so these are figures for *this* "
      "box at *this* moment, useful for comparing the two paths run side by side, not absolute capacity.\n")

    w("## Results (mean over rounds)\n")
    w("| scenario | path | req/s | p50 | p90 | p99 | errors |")
    w("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for sc in scenarios:
        for p in PATHS:
            s = summary.get((sc, p))
            if not s:
                continue
            spread = f" ({s['rps_min']:.0f}–{s['rps_max']:.0f})" if s["rounds"] > 1 else ""
            lat = s["latency_us"]
            w(f"| {sc} | {p} | {s['rps_mean']:.0f}{spread} | {ms(lat['p50'])} | {ms(lat['p90'])} | "
              f"{ms(lat['p99'])} | {s['errors']} |")
    w("")
    for sc, r in ratios.items():
        w(f"- {sc}: tunnel/direct throughput **{r['rps_tunnel_over_direct']:.2f}×**, p50 "
          f"{r['p50_tunnel_over_direct']}× (+{ms(r['added_p50_us'])}), p99 {r['p99_tunnel_over_direct']}×")
    w("\n`load-tXcY` = `wrk -tX -cY` (throughput under concurrency); `latency-t1c1` = one connection, one "
      "request at a time (the per-request cost of each hop). Ranges in brackets are min–max over rounds.\n")

    w("## Where the CPU went (mean over rounds)\n")
    w("CPU time of each process during the runs (from `/proc`, all threads), as % of one core, and per "
      "request. *other* is the rest of the machine's busy time: the other work on this box, plus kernel "
      "work not charged to these processes.\n")
    w("| scenario | path | machine busy | wrk | nginx | PoP | agent | other | PoP µs/req | agent µs/req | nginx µs/req |")
    w("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for sc in scenarios:
        for p in PATHS:
            s = summary.get((sc, p))
            if not s:
                continue
            c, u = s["cpu_pct"], s["cpu_us_per_request"]
            w(f"| {sc} | {p} | {s['machine_busy_pct']:.0f}% | {c['wrk']:.0f}% | {c['nginx']:.0f}% | "
              f"{c['pop']:.0f}% | {c['agent']:.0f}% | {c['other']:.0f}% | {u['pop']} | {u['agent']} | {u['nginx']} |")
    w("")

    if perf:
        w("## Profile of the tunnel path\n")
        pr = prof_runs[0] if prof_runs else None
        if pr:
            w(f"`perf record -e cpu-clock` on the PoP, the agent and nginx during one extra "
              f"{pr['duration_s']} s `wrk -t{pr['threads']} -c{pr['connections']}` run through the tunnel "
              f"({pr['rps']:.0f} req/s under perf; not in the tables above). Share of each process's samples "
              "by category (symbols classified by name):\n")
        for role in ("warren pop", "warren http (agent)", "nginx"):
            if role not in perf:
                continue
            pp = perf[role]
            buckets = ", ".join(f"{k} {v:.0f}%" for k, v in pp["buckets_pct"].items() if v >= 1.0)
            w(f"- **{role}**: {buckets}")
            if pp.get("inclusive_pct"):
                inc = ", ".join(f"{k} {v:.0f}%" for k, v in pp["inclusive_pct"].items() if v >= 2.0)
                w(f"  - inclusive: {inc} (`net_rx_action` = loopback packet delivery, charged to the sender)")
        w("")
    w("## Findings\n")
    w("_None yet for this run: read the tables and `tunnel-latest-profile.txt`, then write 3-5 bullets here._\n")
    with open(a.out_md, "w") as f:
        f.write("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
