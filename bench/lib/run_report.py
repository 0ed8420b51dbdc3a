#!/usr/bin/env python3
"""bench/run's report: the scenarios' raw runs in, results/latest.md and latest.json out.

Every figure in a table is the median over rounds of that path's runs; ratios are Warren / the
other (what "above 1" means is said under each table; the summary's "reading" says it in words, from
whether the measure is better higher or lower). Scenarios 5 and 6 are bench/dns.sh's and
bench/cluster.sh's reports, written by this run into its own directory (not over the standalone records
results/dns-latest.* and cluster-latest.*) and taken in whole into latest.json.
"""

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess


RUN_ARGS = ("run-dir", "results", "out-dir", "mode", "scenarios", "started", "load-before", "load-after",
            "root", "warren", "built-bin", "rathole", "bore", "nginx", "knobs", "wall", "t0")


def args():
    p = argparse.ArgumentParser(description="bench/run's report. With --rerender, no run: latest.md and latest.json "
                                "are written again from a latest.json (the same figures, the current renderer).")
    for name in RUN_ARGS[:-2]:
        p.add_argument("--" + name)
    p.add_argument("--wall", type=int)
    p.add_argument("--t0", type=int, help="the run's start, epoch seconds")
    p.add_argument("--rerender", metavar="LATEST_JSON",
                   help="render again from this latest.json (written next to it unless --out-dir is given)")
    a = p.parse_args()
    if not a.rerender:
        missing = [n for n in RUN_ARGS if getattr(a, n.replace("-", "_")) is None]
        if missing:
            p.error("without --rerender these are required: " + " ".join("--" + n for n in missing))
    return a


def sh(*cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        return (out.stdout + out.stderr).strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def sha(path):
    import hashlib
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


def built(path):
    return datetime.datetime.fromtimestamp(os.path.getmtime(path), datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def first_line(text):
    return text.splitlines()[0].strip() if text else "not found"


def load_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# ---------------------------------------------------------------- formatting
def fmt_n(v, digits=0):
    return "—" if v is None else f"{v:,.{digits}f}"


def fmt_us(us):
    if us is None:
        return "—"
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"


def fmt_ratio(a, b, digits=2):
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.{digits}f}×"


def fmt_times(x):
    """A factor for prose: 5.76×, 1.10× (two decimals under 10, as in the ratio columns), 76.9×."""
    return f"{x:.2f}×" if x < 9.995 else f"{x:.1f}×"


def reading(warren, peer, better):
    """What Warren's figure divided by the peer's means, in words, from the measure's direction:
    better="higher" (req/s, MB/s, queries/s), "lower" (latency) or "memory" (less is better; said as a share)."""
    if warren is None or peer is None or warren <= 0 or peer <= 0:
        return "—"
    r = warren / peer
    if better == "memory":
        return f"Warren uses {fmt_times(r)} the memory"
    if abs(r - 1) < 0.005:
        return "Warren on par"
    faster = r > 1 if better == "higher" else r < 1
    return f"Warren {fmt_times(r if r > 1 else 1 / r)} {'faster' if faster else 'slower'}"


def table(header, rows, left=1):
    """A Markdown table; the first LEFT columns (or the column indexes in the set LEFT) are left-aligned,
    the others (numbers) right-aligned."""
    is_left = (lambda i: i in left) if isinstance(left, set) else (lambda i: i < left)
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" if is_left(i) else "---:" for i in range(len(header))) + " |"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


# ---------------------------------------------------------------- scenario summaries
def wrk_summary(runs):
    """Load runs (wrk) per path: medians over rounds."""
    by = {}
    for r in runs:
        if r.get("kind", "load") != "load":
            continue
        w = r["wrk"]
        secs = w["duration_us"] / 1e6
        reqs = w["requests"]
        errors = sum(w["errors"].values())
        ticks = r["ticks"]["pop"] + r["ticks"]["agent"]
        by.setdefault(r["path"], []).append({
            "rps": reqs / secs, "p50": w["latency_us"]["p50"], "p90": w["latency_us"]["p90"],
            "p99": w["latency_us"]["p99"], "errors": errors,
            "cpu_us_per_req": ticks / r["clk_tck"] * 1e6 / reqs if reqs else None,
            "cpu_cores": ticks / r["clk_tck"] / secs,
        })
    return {p: {"rounds": len(v), "rps": med([x["rps"] for x in v]), "rps_all": [round(x["rps"]) for x in v],
                "p50_us": med([x["p50"] for x in v]), "p90_us": med([x["p90"] for x in v]),
                "p99_us": med([x["p99"] for x in v]), "errors": sum(x["errors"] for x in v),
                "cpu_us_per_req": med([x["cpu_us_per_req"] for x in v]), "cpu_cores": med([x["cpu_cores"] for x in v])}
            for p, v in by.items()}


def rate_summary(runs):
    by = {}
    for r in runs:
        if r.get("kind") != "rate":
            continue
        by.setdefault(r["path"], []).append(r)
    out = {}
    for p, v in by.items():
        lat = [x["latency_us"] for x in v]
        out[p] = {"rounds": len(v), "rate": v[0]["rate"], "connections": v[0]["connections"],
                  "achieved_rps": med([x["achieved_rps"] for x in v]),
                  "p50_us": med([x["p50"] for x in lat]), "p90_us": med([x["p90"] for x in lat]),
                  "p99_us": med([x["p99"] for x in lat]), "p999_us": med([x["p999"] for x in lat]),
                  "errors": sum(x["errors"] for x in v)}
    return out


def bulk_summary(runs):
    by = {}
    for r in runs:
        by.setdefault(r["path"], []).append(r)
    out = {}
    for p, v in by.items():
        gib = [x["bytes"] / 2**30 for x in v]
        out[p] = {
            "rounds": len(v), "mb_per_s": med([x["bytes_per_s"] / 1e6 for x in v]),
            "mb_per_s_all": [round(x["bytes_per_s"] / 1e6) for x in v],
            "seconds": med([x["seconds"] for x in v]),
            "peak_rss_server_kb": max(x["hwm_kb"]["server"] for x in v),
            "peak_rss_client_kb": max(x["hwm_kb"]["client"] for x in v),
            "rss_before_server_kb": med([x["rss_before_kb"]["server"] for x in v]),
            "rss_before_client_kb": med([x["rss_before_kb"]["client"] for x in v]),
            "cpu_s_per_gib": med([(x["ticks"]["server"] + x["ticks"]["client"]) / x["clk_tck"] / g for x, g in zip(v, gib)]),
        }
    return out


def idle_summary(runs):
    out = []
    for r in runs:
        n = r["sessions"]
        delta = r["server_rss_after_kb"] - r["server_rss_before_kb"]
        out.append({**r, "server_kib_per_session": delta / n if n else None,
                    "client_kib_per_session": r["client_rss_kb"] / n if n else None,
                    "idle_cpu_pct": r["idle_server_ticks"] / r["clk_tck"] / r["idle_window_s"] * 100})
    return out


# ---------------------------------------------------------------- the document
NAMES = {
    "direct": "nginx direct (floor)", "warren": "**Warren**", "rathole": "rathole (TCP)",
    "rathole-noise": "rathole (Noise)", "bore": "bore",
    "none": "**Warren**, no policy", "jwt": "**Warren** + jwt-validation (token reused)",
    "jwt-fresh": "**Warren** + jwt-validation (new token each request)", "nginx-proxy": "nginx reverse proxy (no auth)",
}


def http_section(lines, runs, knobs, title, ref, paths, note):
    load, rate = wrk_summary(runs), rate_summary(runs)
    lines += [title, "", note, ""]
    rows = []
    for p in paths:
        if p not in load:
            continue
        s = load[p]
        rows.append([NAMES[p], fmt_n(s["rps"]), fmt_us(s["p50_us"]), fmt_us(s["p99_us"]), s["errors"],
                     fmt_n(s["cpu_us_per_req"], 1) if s["cpu_us_per_req"] else "—",
                     "—" if p == ref else fmt_ratio(load[ref]["rps"], s["rps"]) if ref in load else "—"])
    lines += table(["path", "req/s", "p50", "p99", "errors", "CPU µs/req", f"{NAMES[ref].replace('**', '')} ÷ this, req/s"], rows)
    lines += ["", f"Fixed rate: `h2load --h1` at {knobs.get('RATE')} req/s over {knobs.get('RATE_CONNS')} connections "
              "(below every path's saturation), latency of each request from h2load's per-request log:", ""]
    rows = []
    for p in paths:
        if p not in rate:
            continue
        s = rate[p]
        rows.append([NAMES[p], fmt_n(s["achieved_rps"]), fmt_us(s["p50_us"]), fmt_us(s["p90_us"]), fmt_us(s["p99_us"]),
                     s["errors"], "—" if p == ref else fmt_ratio(rate[ref]["p50_us"], s["p50_us"]) if ref in rate else "—",
                     "—" if p == ref else fmt_ratio(rate[ref]["p99_us"], s["p99_us"]) if ref in rate else "—"])
    if rows:
        lines += table(["path", "req/s done", "p50", "p90", "p99", "errors", "÷ p50", "÷ p99"], rows)
        lines += ["", f"÷ columns: {NAMES[ref].replace('**', '')}'s latency divided by the path's (above 1: it is slower)."]
    lines.append("")
    return {"load": load, "rate": rate}


def collect(a):
    """Everything the report needs from a run: the machine, the versions and the scenarios' raw results."""
    status = load_jsonl(os.path.join(a.run_dir, "status.jsonl"))
    state = {s["scenario"]: s for s in status}
    started_epoch = a.t0

    # Machine and versions.
    cpu = sh("sh", "-c", "grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2-").strip() or platform.processor()
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", open("/proc/meminfo").read()).group(1))
    osname = sh("sh", "-c", ". /etc/os-release && echo \"$PRETTY_NAME\"")
    rathole_v = re.search(r"Build Version:\s*(\S+)", sh(a.rathole, "--version"))
    versions = {
        "warren": first_line(sh(a.warren, "--version")),
        "rathole": f"rathole {rathole_v.group(1)}" if rathole_v else "not found",
        "bore": first_line(sh(a.bore, "--version")),
        "nginx": first_line(sh(a.nginx, "-v")).replace("nginx version: ", ""),
        "wrk": first_line(sh("wrk", "-v")).split(" Copyright")[0],
        "h2load": first_line(sh("h2load", "--version")),
        "curl": " ".join(first_line(sh("curl", "--version")).split()[:2]),
        "rustc": first_line(sh("rustc", "--version")),
        "python": first_line(sh("python3", "--version")),
    }
    commit = sh("git", "-C", a.root, "rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = len([l for l in sh("git", "-C", a.root, "status", "--porcelain", "--", "crates", "Cargo.toml", "Cargo.lock").splitlines() if l])
    machine = {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": round(mem_kb / 2**20, 1), "kernel": platform.release(),
               "os": osname, "load_before": a.load_before, "load_after": a.load_after}

    dns = cluster = None
    dns_path, cluster_path = os.path.join(a.results, "dns-latest.json"), os.path.join(a.results, "cluster-latest.json")
    if state.get("dns", {}).get("state") == "ok" and os.path.exists(dns_path) and os.path.getmtime(dns_path) >= started_epoch:
        dns = json.load(open(dns_path))
        for k in ("dnsperf_version", "pdns_version", "gdnsd_version"):
            if k in dns.get("meta", {}):
                versions[k.replace("_version", "")] = dns["meta"][k]
    if state.get("cluster", {}).get("state") == "ok" and os.path.exists(cluster_path) and os.path.getmtime(cluster_path) >= started_epoch:
        cluster = json.load(open(cluster_path))
        versions["etcd"] = cluster.get("etcd_version", "?")

    samples = []
    load_path = os.path.join(a.run_dir, "load.txt")
    if os.path.exists(load_path):
        for line in open(load_path):
            parts = line.split()
            if len(parts) >= 2:
                samples.append({"t": int(parts[0]) - a.t0, "load1": float(parts[1])})
    machine["load_samples"] = samples
    if samples:
        l1 = [x["load1"] for x in samples]
        machine["load1_during"] = {"min": min(l1), "median": statistics.median(l1), "max": max(l1)}

    return {"generated": datetime.datetime.now(datetime.timezone.utc).isoformat(), "mode": a.mode, "wall_s": a.wall,
            "started": a.started, "binary": {"path": a.built_bin, "sha256": sha(a.warren), "built": built(a.built_bin)},
            "machine": machine, "versions": versions, "commit": commit, "dirty_files": dirty, "knobs": a.knobs,
            "status": status,
            "raw": {"http": load_jsonl(os.path.join(a.results, "http.jsonl")),
                    "jwt": load_jsonl(os.path.join(a.results, "jwt.jsonl")),
                    "bulk": load_jsonl(os.path.join(a.results, "bulk.jsonl")),
                    "idle": load_jsonl(os.path.join(a.results, "idle.jsonl")), "dns": dns, "cluster": cluster}}


def from_json(path):
    """The same inputs, from a latest.json this script wrote: the raw runs are in it (idle's summary rows hold
    the raw fields; the derived ones are computed again, the same way). Reports written before latest.json
    kept the start time and the binary read them from the latest.md next to it."""
    d = json.load(open(path))
    sc = d.get("scenarios", {})
    d["raw"] = {"http": sc.get("http", {}).get("runs", []), "jwt": sc.get("jwt", {}).get("runs", []),
                "bulk": sc.get("bulk", {}).get("runs", []), "idle": sc.get("idle", {}).get("summary", []),
                "dns": sc.get("dns"), "cluster": sc.get("cluster")}
    md = os.path.join(os.path.dirname(path), "latest.md")
    text = open(md).read() if os.path.exists(md) else ""
    if "started" not in d:
        m = re.search(r"mode, started ([^,]+),", text)
        d["started"] = m.group(1) if m else "?"
    if "binary" not in d:
        m = re.search(r"; binary `([^`]+)` \(sha256 `([0-9a-f]+)`, built ([^)]+)\)", text)
        d["binary"] = {"path": m.group(1), "sha256": m.group(2), "built": m.group(3)} if m else {"path": "?", "sha256": "?", "built": "?"}
    return d


def render(d, out_dir, results_dir=None, rerendered=None):
    """latest.md and latest.json from collect()'s or from_json()'s inputs. RESULTS_DIR (a run's): where
    dns.sh's and cluster.sh's reports of the run are, copied next to latest.md."""
    knobs = dict(kv.split("=", 1) for kv in d["knobs"].split() if "=" in kv)
    status = d["status"]
    state = {s["scenario"]: s for s in status}
    machine, versions, raw, binary = d["machine"], d["versions"], d["raw"], d["binary"]
    commit, dirty, mode, wall = d["commit"], d["dirty_files"], d["mode"], d["wall_s"]
    cpu, osname = machine["cpu"], machine["os"]
    dns, cluster = raw["dns"], raw["cluster"]
    generated = datetime.datetime.fromisoformat(d["generated"])

    L = ["# Warren side by side with the tools users would pick instead", ""]
    L += [f"Generated {generated:%Y-%m-%d %H:%M UTC} by `bench/run"
          f"{' --quick' if mode == 'quick' else ''}` ({mode} mode, started {d['started']}, {wall // 60} min {wall % 60} s "
          f"in all)" + (f"; re-rendered {rerendered:%Y-%m-%d %H:%M UTC} from `latest.json` by `run_report.py --rerender` "
                        "(the same figures)" if rerendered else "")
          + ". Raw runs: `latest.json`. How to read every number, and what limits it: `docs/performance.md`.", ""]
    L += [f"- **machine:** {cpu}, {machine['cores']} cores, {machine['ram_gib']} GiB RAM, Linux {machine['kernel']} ({osname}); "
          f"load average {machine['load_before']} before, {machine['load_after']} after.",
          "- **caveat:** load generator, servers and tunnels share these cores (and, on a shared box, other work does "
          "too): compare the paths with each other (they ran back to back, alternating), not as absolute capacity.",
          f"- **code:** commit `{commit}`" + (f" with {dirty} uncommitted file(s) under crates/ and Cargo.*" if dirty else "")
          + f"; binary `{binary['path']}` (sha256 `{binary['sha256']}`, built {binary['built']}), copied for the run.",
          "- **versions:** " + "; ".join(f"{k} `{v}`" for k, v in versions.items()),
          f"- **knobs:** `{d['knobs']}`", ""]
    summary_at = len(L)
    H = []   # headline rows: [scenario, measure, Warren, peer, peer's figure, ratio, reading]
    L += ["## Scenarios", ""]
    L += table(["scenario", "state", "time", "load average before", "after", "note"],
               [[s["scenario"], s["state"], f"{s['seconds']} s", s.get("load_before") or "—", s.get("load_after") or "—",
                 s["note"] or ""] for s in status], left={0, 1, 5})
    samples = machine.get("load_samples") or []
    if samples:
        l1 = [x["load1"] for x in samples]
        L += ["", f"1-minute load average sampled every 10 s during the run: min {min(l1):.2f}, median "
              f"{statistics.median(l1):.2f}, max {max(l1):.2f} (the benchmark itself keeps up to about {machine['cores']} "
              "busy while it measures; well above that, other work shared the cores: every sample is in latest.json)."]
    L.append("")
    out = {"generated": d["generated"], "mode": mode, "wall_s": wall, "started": d["started"], "binary": binary,
           "machine": machine, "versions": versions, "commit": commit, "dirty_files": dirty, "knobs": d["knobs"],
           "status": status, "scenarios": {}}
    if rerendered:
        out["rerendered"] = rerendered.isoformat()

    def not_run(title, name):
        st = state.get(name)
        why = "not selected (--only)" if st is None else f"{st['state']}: {st['note']}" if st["note"] else st["state"]
        L.extend([title, "", f"Not run: {why}.", ""])

    # 1. HTTP
    runs = raw["http"]
    title = "## 1. HTTP through a tunnel"
    if runs and state.get("http", {}).get("state") == "ok":
        note = (f"The same nginx backend ({runs[0].get('body_bytes', '?')}-byte static file, "
                f"{runs[0].get('nginx_workers', 1)} worker) through each tunnel, HTTP/1.1 keep-alive, medians of "
                f"{knobs.get('ROUNDS')} round(s). Load: `wrk -t{knobs.get('THREADS')} -c{knobs.get('CONNS')}` for "
                f"{knobs.get('DURATION')} s. *CPU µs/req* is the CPU time of the tunnel's two processes (server and "
                "client side; none for direct) per request. The last column is Warren's req/s divided by the path's: "
                "below 1, Warren carries fewer requests.")
        s = http_section(L, runs, knobs, title, "warren", ["direct", "warren", "rathole", "rathole-noise", "bore"], note)
        out["scenarios"]["http"] = {"summary": s, "runs": runs}
        ld, rt = s["load"], s["rate"]
        for p in ("rathole", "rathole-noise", "bore", "direct"):
            if "warren" in ld and p in ld:
                H.append(["1 HTTP via tunnel", f"req/s, wrk -c{knobs.get('CONNS')}", fmt_n(ld["warren"]["rps"]), NAMES[p],
                          fmt_n(ld[p]["rps"]), fmt_ratio(ld["warren"]["rps"], ld[p]["rps"]),
                          reading(ld["warren"]["rps"], ld[p]["rps"], "higher")])
        for p in ("rathole", "bore"):
            if "warren" in rt and p in rt:
                H.append(["1 HTTP via tunnel", f"p50 latency at {knobs.get('RATE')} req/s", fmt_us(rt["warren"]["p50_us"]),
                          NAMES[p], fmt_us(rt[p]["p50_us"]), fmt_ratio(rt["warren"]["p50_us"], rt[p]["p50_us"]),
                          reading(rt["warren"]["p50_us"], rt[p]["p50_us"], "lower")])
    else:
        not_run(title, "http")

    # 2. JWT
    runs = raw["jwt"]
    title = "## 2. JWT-validated HTTP"
    if runs and state.get("jwt", {}).get("state") == "ok":
        note = (f"One PoP, two agents identical but for the traffic policy (`jwt-validation`, RS256 from `warren dev-idp`, "
                f"issuer and audience checked; {runs[0].get('token_bytes', '?')}-byte token on every request, on every path), "
                "and nginx as a plain reverse proxy (upstream keep-alive, no auth) for scale. *new token each request* "
                f"cycles {runs[0].get('token_pool', '?')} tokens, more than the PoP's memo of verified tokens, so every "
                "request pays a signature check. The last column is *Warren, no policy* ÷ the path: above 1 means the "
                "path is slower than Warren without a policy.")
        s = http_section(L, runs, knobs, title, "none", ["none", "jwt", "jwt-fresh", "nginx-proxy"], note)
        load = s["load"]
        for p in ("jwt", "jwt-fresh"):
            if p in load and "none" in load:
                H.append(["2 JWT", "req/s", fmt_n(load[p]["rps"]), NAMES[p].replace("**Warren** + ", "vs no policy; ")
                          .replace("jwt-validation", "validation"), fmt_n(load["none"]["rps"]),
                          fmt_ratio(load[p]["rps"], load["none"]["rps"]),
                          reading(load[p]["rps"], load["none"]["rps"], "higher").replace("Warren", "Warren with validation", 1)
                          + ": the cost of auth"])
        if "jwt" in load and "nginx-proxy" in load:
            H.append(["2 JWT", "req/s", fmt_n(load["jwt"]["rps"]), NAMES["nginx-proxy"], fmt_n(load["nginx-proxy"]["rps"]),
                      fmt_ratio(load["jwt"]["rps"], load["nginx-proxy"]["rps"]),
                      reading(load["jwt"]["rps"], load["nginx-proxy"]["rps"], "higher") + " (for scale: no tunnel, no auth)"])
        extra = []
        if "none" in load:
            for p in ("jwt", "jwt-fresh"):
                if p in load:
                    extra.append(f"- cost of {NAMES[p].replace('**', '')}: req/s {fmt_ratio(load[p]['rps'], load['none']['rps'])} "
                                 f"of no policy; +{(load[p]['cpu_us_per_req'] or 0) - (load['none']['cpu_us_per_req'] or 0):.1f} µs CPU per request")
            if "nginx-proxy" in load and "jwt" in load:
                extra.append(f"- Warren with jwt-validation ÷ nginx reverse proxy: req/s {fmt_ratio(load['jwt']['rps'], load['nginx-proxy']['rps'])} "
                             "(nginx is one hop with no tunnel and no auth: the scale, not a like-for-like peer)")
        L[len(L) - 1:len(L) - 1] = ([""] + extra) if extra else []
        out["scenarios"]["jwt"] = {"summary": s, "runs": runs}
    else:
        not_run(title, "jwt")

    # 3. Bulk
    runs = raw["bulk"]
    title = "## 3. Bulk transfer"
    if runs and state.get("bulk", {}).get("state") == "ok":
        s = bulk_summary(runs)
        size = runs[0]["bytes"]
        L += [title, "", f"`curl -o /dev/null` of a {size / 2**30:g} GiB file from nginx (sendfile) through each tunnel's TCP "
              "service (Warren: a `warren tcp` endpoint on the PoP's TCP port), medians of "
              f"{knobs.get('BULK_ROUNDS')} round(s). Peak RSS is VmHWM, reset just before each transfer (the largest over "
              "rounds); *CPU s/GiB* is the CPU time of the tunnel's two processes per GiB carried.", ""]
        ref = s.get("warren")
        rows = []
        for p in ("direct", "warren", "rathole", "rathole-noise", "bore"):
            if p not in s:
                continue
            x = s[p]
            rows.append([NAMES[p], fmt_n(x["mb_per_s"]), f"{x['seconds']:.2f} s",
                         "—" if p == "direct" else f"{x['peak_rss_server_kb'] / 1024:.1f} MiB",
                         "—" if p == "direct" else f"{x['peak_rss_client_kb'] / 1024:.1f} MiB",
                         "—" if p == "direct" else f"{x['cpu_s_per_gib']:.2f}",
                         "—" if p == "warren" or not ref else fmt_ratio(ref["mb_per_s"], x["mb_per_s"]),
                         "—" if p in ("warren", "direct") or not ref else
                         fmt_ratio(ref["peak_rss_server_kb"] + ref["peak_rss_client_kb"], x["peak_rss_server_kb"] + x["peak_rss_client_kb"])])
        L += table(["path", "MB/s", "time", "peak RSS server", "peak RSS client", "CPU s/GiB", "Warren ÷ this, MB/s",
                    "Warren ÷ this, peak RSS"], rows)
        L += ["", "MB/s ratio below 1: Warren is slower; peak RSS ratio above 1: Warren uses more memory (server + client).", ""]
        out["scenarios"]["bulk"] = {"summary": s, "runs": runs}
        for p in ("rathole", "rathole-noise", "bore"):
            if ref and p in s:
                x = s[p]
                H.append(["3 bulk 1 GiB", "MB/s", fmt_n(ref["mb_per_s"]), NAMES[p], fmt_n(x["mb_per_s"]),
                          fmt_ratio(ref["mb_per_s"], x["mb_per_s"]), reading(ref["mb_per_s"], x["mb_per_s"], "higher")])
                H.append(["3 bulk 1 GiB", "peak RSS, server + client",
                          f"{(ref['peak_rss_server_kb'] + ref['peak_rss_client_kb']) / 1024:.1f} MiB", NAMES[p],
                          f"{(x['peak_rss_server_kb'] + x['peak_rss_client_kb']) / 1024:.1f} MiB",
                          fmt_ratio(ref["peak_rss_server_kb"] + ref["peak_rss_client_kb"],
                                    x["peak_rss_server_kb"] + x["peak_rss_client_kb"]),
                          reading(ref["peak_rss_server_kb"] + ref["peak_rss_client_kb"],
                                  x["peak_rss_server_kb"] + x["peak_rss_client_kb"], "memory")])
    else:
        not_run(title, "bulk")

    # 4. Idle
    runs = raw["idle"]
    title = "## 4. Many idle tunnels"
    if runs and state.get("idle", {}).get("state") == "ok":
        s = idle_summary(runs)
        L += [title, "", "Memory per connected agent session on the server: RSS with N sessions up (settled) minus RSS "
              "before the first, divided by N. Warren: N sessions from one `warren-bench-idle` process (bench/idle-agents, "
              "the agent SDK), each a QUIC connection with the authtoken, one registered HTTP endpoint, heartbeats; spread "
              f"over {knobs.get('IDLE_SOCKETS')} client UDP sockets, all to the PoP's one tunnel socket. rathole: one client "
              "with N services, each its own control channel (a TCP connection), a listening port on the server and the "
              "pool of 8 data channels rathole opens ahead of visitors. *idle CPU* is the server's CPU while the N sessions sit idle "
              "(keep-alives), in % of one core.", ""]
        rows = []
        for x in s:
            rows.append([x["system"], f"{x['sessions']:,}" + (f" (of {x['asked']:,})" if x["sessions"] != x["asked"] else ""),
                         f"{x['server_rss_before_kb'] / 1024:.1f} MiB", f"{x['server_rss_after_kb'] / 1024:.1f} MiB",
                         f"{x['server_kib_per_session']:.1f} KiB", f"{x['client_kib_per_session']:.1f} KiB",
                         f"{x['connect_s']:.1f} s", f"{x['idle_cpu_pct']:.1f}%", x["server_fds"]])
        L += table(["server", "sessions", "RSS before", "RSS after", "per session", "client per session", "all up in",
                    "idle CPU", "server fds"], rows)
        L += ["", "*per session* is the figure to compare; the Warren client (`warren-bench-idle`) is a test harness "
              "holding 10,000 SDK sessions in one process, not what one real agent holds."]
        L.append("")
        warren = {x["asked"]: x for x in s if x["system"] == "warren"}
        for x in s:
            if x["system"] == "rathole" and x["asked"] in warren:
                w = warren[x["asked"]]
                L.append(f"- at {x['asked']:,}: Warren ÷ rathole memory per session on the server "
                         f"{fmt_ratio(w['server_kib_per_session'], x['server_kib_per_session'])} (above 1: Warren uses more)")
                H.append([f"4 idle sessions", f"server KiB per session at {x['asked']:,} asked",
                          f"{w['server_kib_per_session']:.1f} ({w['sessions']:,})", "rathole (TCP)",
                          f"{x['server_kib_per_session']:.1f} ({x['sessions']:,})",
                          fmt_ratio(w["server_kib_per_session"], x["server_kib_per_session"]),
                          reading(w["server_kib_per_session"], x["server_kib_per_session"], "memory") + " per session"])
        for x in s:
            if x.get("note"):
                L.append(f"- {x['system']} at {x['asked']:,}: {x['note']}")
        L.append("")
        out["scenarios"]["idle"] = {"summary": s}
    else:
        not_run(title, "idle")

    # 5. DNS
    title = "## 5. GSLB DNS"
    if dns:
        L += [title, "", "From `bench/dns.sh`, run by this run (its full report: `latest-dns.md`): queries/s with EDNS Client Subnet "
              "against Warren (three-PoP cluster), PowerDNS LUA `pickclosest` and gdnsd geoip, same query file.", ""]
        try:
            rows = []
            load, lat = dns["summary"]["load"], dns["summary"].get("latency", {})
            w = load["warren"]
            for srv in load:
                x = load[srv]
                rows.append([srv, fmt_n(x["qps_median"]), f"{x['lat_avg_ms_median']:.3f} ms",
                             f"{lat[srv]['lat_avg_ms_median'] * 1000:.0f} µs" if srv in lat else "—",
                             f"{x['server_cpu_us_per_query_median']:.1f} µs",
                             "—" if srv == "warren" else fmt_ratio(w["qps_median"], x["qps_median"])])
            L += table(["server", "QPS", "avg latency under load", "avg latency, 1 outstanding", "CPU per query",
                        "Warren ÷ this, QPS"], rows)
            for srv in load:
                if srv != "warren":
                    H.append(["5 GSLB DNS", "queries/s with ECS", fmt_n(w["qps_median"]), srv, fmt_n(load[srv]["qps_median"]),
                              fmt_ratio(w["qps_median"], load[srv]["qps_median"]),
                              reading(w["qps_median"], load[srv]["qps_median"], "higher")])
        except (KeyError, TypeError) as e:
            L.append(f"(dns-latest.json has another shape than expected ({e!r}); see dns-latest.md)")
        L.append("")
        out["scenarios"]["dns"] = dns
    else:
        not_run(title, "dns")

    # 6. Cluster
    title = "## 6. Replicated writes"
    if cluster:
        L += [title, "", f"From `bench/cluster.sh`, run by this run (its full report: `latest-cluster.md`): commit latency of sequential writes, "
              f"Warren `PUT /v1/policy` on three PoPs vs etcd {cluster.get('etcd_version', '?')} `put` on three members, "
              f"{cluster.get('rounds')} round(s) x {cluster.get('writes_per_round')} writes per target.", ""]
        try:
            rows = []
            for system in ("warren", "etcd"):
                for target in ("leader", "follower"):
                    r = cluster[system][target]
                    rows.append([system, target, f"{r['commit_ms']['p50']:.2f} ms", f"{r['commit_ms']['p99']:.2f} ms",
                                 f"{r['applied_everywhere_ms']['p50']:.2f} ms", f"{r['applied_everywhere_ms']['p99']:.2f} ms"])
            L += table(["system", "written through", "commit p50", "commit p99", "applied everywhere p50", "p99"], rows)
            L.append("")
            for target in ("leader", "follower"):
                w, e = cluster["warren"][target], cluster["etcd"][target]
                H.append(["6 replicated writes", f"commit p50 / p99, via the {target}",
                          f"{w['commit_ms']['p50']:.2f} / {w['commit_ms']['p99']:.2f} ms", "etcd",
                          f"{e['commit_ms']['p50']:.2f} / {e['commit_ms']['p99']:.2f} ms",
                          f"{fmt_ratio(w['commit_ms']['p50'], e['commit_ms']['p50'])} / {fmt_ratio(w['commit_ms']['p99'], e['commit_ms']['p99'])}",
                          reading(w["commit_ms"]["p50"], e["commit_ms"]["p50"], "lower") + " at p50, "
                          + reading(w["commit_ms"]["p99"], e["commit_ms"]["p99"], "lower").replace("Warren ", "", 1) + " at p99"])
                L.append(f"- through the {target}: Warren ÷ etcd commit p50 {fmt_ratio(w['commit_ms']['p50'], e['commit_ms']['p50'])}, "
                         f"p99 {fmt_ratio(w['commit_ms']['p99'], e['commit_ms']['p99'])}; applied everywhere p50 "
                         f"{fmt_ratio(w['applied_everywhere_ms']['p50'], e['applied_everywhere_ms']['p50'])} (above 1: Warren is slower)")
        except (KeyError, TypeError) as e:
            L.append(f"(cluster-latest.json has another shape than expected ({e!r}); see cluster-latest.md)")
        L.append("")
        out["scenarios"]["cluster"] = cluster
    else:
        not_run(title, "cluster")

    if H:
        L[summary_at:summary_at] = (["## Summary: Warren ÷ each peer", "",
                                     "Every ratio is Warren's figure divided by the peer's (medians; details and the "
                                     "floors in the sections below).", ""]
                                    + table(["scenario", "measure", "Warren", "peer", "peer's", "Warren ÷ peer", "reading"], H, left={0, 1, 3, 6})
                                    + [""])
        out["headline"] = [dict(zip(["scenario", "measure", "warren", "peer", "peer_value", "ratio", "reading"], h)) for h in H]
    # The dns and cluster scripts' own reports of this run, next to latest.md (a re-render keeps the copies).
    os.makedirs(out_dir, exist_ok=True)
    for name, ok in (("dns", dns), ("cluster", cluster)):
        src = os.path.join(results_dir, f"{name}-latest.md") if results_dir else ""
        if ok and src and os.path.exists(src):
            with open(src) as f, open(os.path.join(out_dir, f"latest-{name}.md"), "w") as g:
                g.write(f"<!-- bench/{name}.sh's report, written by `bench/run` ({mode} mode, started {d['started']}) -->\n")
                g.write(f.read())
    with open(os.path.join(out_dir, "latest.md"), "w") as f:
        f.write("\n".join(L).rstrip() + "\n")
    with open(os.path.join(out_dir, "latest.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


def main():
    a = args()
    if a.rerender:
        render(from_json(a.rerender), a.out_dir or os.path.dirname(os.path.abspath(a.rerender)),
               rerendered=datetime.datetime.now(datetime.timezone.utc))
    else:
        render(collect(a), a.out_dir, results_dir=a.results)


if __name__ == "__main__":
    main()
