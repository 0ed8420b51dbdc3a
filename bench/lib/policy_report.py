#!/usr/bin/env python3
"""Turns the runs of bench/policy.sh into policy-latest.md and policy-latest.json."""

import argparse
import datetime
import json
import os
import statistics
import sys
from collections import defaultdict

sys.dont_write_bytecode = True   # no __pycache__ in bench/lib
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tunnel_report import enrich, load_jsonl, ms, summarise  # noqa: E402 (shared with tunnel.sh's report)

PATHS = ("none", "jwt", "jwt-fresh")
BASE = "none"
DESCRIPTION = {
    "none": "no policy",
    "jwt": "jwt-validation, one token reused (memo of verified tokens)",
    "jwt-fresh": "jwt-validation, a new token per request (RS256 check each time)",
}


def args():
    p = argparse.ArgumentParser()
    for name in ("runs", "out-md", "out-json", "commit", "cpu-model", "kernel", "loadavg", "wrk-version",
                 "nginx-version", "warren-version", "log-level", "diff-hash", "bin", "bin-sha", "bin-mtime",
                 "bin-note", "policy"):
        p.add_argument("--" + name, default="")
    for name in ("dirty", "nproc", "duration", "rounds", "quick", "body-bytes", "nginx-workers", "bin-given",
                 "token-pool", "token-bytes", "jwks-fetches"):
        p.add_argument("--" + name, type=int, default=0)
    return p.parse_args()


def ratio(a, b, digits=3):
    return round(a / b, digits) if b else None


def compare(summary, runs, scenario, path):
    """The figures of PATH against the no-policy path, for one scenario."""
    b, s = summary.get((scenario, BASE)), summary.get((scenario, path))
    if not b or not s:
        return None
    # Per round: each round ran both paths back to back, so its ratio is the least disturbed figure.
    by_round = defaultdict(dict)
    for r in runs:
        if r["scenario"] == scenario:
            by_round[r["id"].split("-", 1)[0]][r["path"]] = r
    per_round = [ratio(rr[path]["rps"], rr[BASE]["rps"]) for _, rr in sorted(by_round.items())
                 if path in rr and BASE in rr]
    bl, sl = b["latency_us"], s["latency_us"]
    return {
        "rps_ratio": ratio(s["rps_mean"], b["rps_mean"]),
        "rps_ratio_per_round": per_round,
        "p50_added_us": round(sl["p50"] - bl["p50"], 1),
        "p90_added_us": round(sl["p90"] - bl["p90"], 1),
        "p99_added_us": round(sl["p99"] - bl["p99"], 1),
        "p50_ratio": ratio(sl["p50"], bl["p50"], 2),
        "p99_ratio": ratio(sl["p99"], bl["p99"], 2),
        "pop_cpu_us_per_request_added": round(s["cpu_us_per_request"]["pop"] - b["cpu_us_per_request"]["pop"], 1),
    }


def signed_ms(us):
    return ("+" if us >= 0 else "−") + ms(abs(us))


def main():
    a = args()
    runs = [enrich(r) for r in load_jsonl(a.runs)]
    summary = summarise(runs)
    scenarios = []
    for r in runs:
        if r["scenario"] not in scenarios:
            scenarios.append(r["scenario"])
    paths = [p for p in PATHS if any(r["path"] == p for r in runs)]
    ratios = {sc: {p: compare(summary, runs, sc, p) for p in paths if p != BASE} for sc in scenarios}
    try:
        policy_text = open(a.policy).read()
    except OSError:
        policy_text = ""

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = {"nproc": a.nproc, "cpu_model": a.cpu_model, "kernel": a.kernel, "loadavg_at_end": a.loadavg,
               "shared": "other work (builds, tests) ran on the same 2 cores during the benchmark"}
    setup = {
        "mode": "quick" if a.quick else "full", "duration_s": a.duration, "rounds": a.rounds,
        "body_bytes": a.body_bytes, "nginx_workers": a.nginx_workers, "warren_log_level": a.log_level,
        "wrk": a.wrk_version, "nginx": a.nginx_version, "warren": a.warren_version,
        "token_bytes": a.token_bytes, "token_pool": a.token_pool, "jwks_fetches_served": a.jwks_fetches,
        "policy": policy_text,
    }
    doc = {
        "benchmark": "policy-jwt-validation", "generated": now,
        "commit": a.commit, "uncommitted_files": a.dirty, "uncommitted_diff_sha256": a.diff_hash if a.dirty else None,
        "binary": a.bin, "binary_sha256": a.bin_sha, "binary_built": a.bin_mtime,
        "binary_from_warren_bin": bool(a.bin_given), "binary_note": a.bin_note or None,
        "machine": machine, "setup": setup,
        "summary": list(summary.values()), "ratios_vs_none": ratios, "runs": runs,
    }
    with open(a.out_json, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")

    md = []
    w = md.append
    w("# Policy benchmark: the cost of `jwt-validation` at the edge\n")
    w(f"Generated {now} by `bench/policy.sh` ({setup['mode']} mode: {a.rounds} round(s) of {a.duration} s per "
      f"run, paths in alternating order each round). Raw data: `policy-latest.json`.\n")
    code = f"- code: commit `{a.commit}`"
    if a.bin_note:
        code += f"; binary `{a.bin}` (sha256 `{a.bin_sha}`, built {a.bin_mtime}): {a.bin_note}"
    else:
        code += (f"; binary `{a.bin}` built {a.bin_mtime} (sha256 `{a.bin_sha}`)"
                 + (" given by `WARREN_BIN`: it may come from another tree than this commit" if a.bin_given else
                    ", built by the script from this tree"))
    if a.dirty:
        code += (f". At report time the tree had uncommitted changes in {a.dirty} file(s) under crates/ and "
                 f"Cargo.* (diff sha256 `{a.diff_hash}`; other work in progress)")
    w(code)
    w(f"- machine: {a.nproc} CPU(s) (`nproc`), {a.cpu_model}, Linux {a.kernel}; load average at the end: "
      f"{a.loadavg}")
    w(f"- tools: {a.wrk_version}; {a.nginx_version} ({a.nginx_workers} worker, access log off) serving a "
      f"{a.body_bytes}-byte static file; warren `--log-level {a.log_level}`")
    w("- paths, all wrk → PoP http listener → QUIC tunnel → agent (`warren http`) → the same nginx, HTTP/1.1 "
      "keep-alive, everything on 127.0.0.1, and every request carrying `Authorization: Bearer <token>` "
      f"({a.token_bytes}-byte RS256 token, RSA-2048, issuer and audience checked):")
    w("  - **none**: endpoint `plain.edge.test`, no traffic policy;")
    w("  - **jwt**: endpoint `authz.edge.test`, the `jwt-validation` policy below; the same token on every "
      "request, so after the first one the PoP answers from its memo of verified tokens (the steady state of "
      "a client reusing its access token);")
    if "jwt-fresh" in paths:
        w(f"  - **jwt-fresh**: the same endpoint and policy, but a different token on every request (a pool of "
          f"{a.token_pool}, more than the memo's 10 000, cycled by `lib/wrk-tokens.lua`), so every request pays a "
          "full RS256 signature check.")
    w("  Both agents run the same command but `--traffic-policy-file` and stay connected the whole time. "
      f"JWKS served by `lib/jwt_idp.py` on 127.0.0.1 ({a.jwks_fetches} request(s) for it in all, one of "
      "them the script's own check before starting).")
    w(f"- **Caveat:** this machine has {a.nproc} cores, and other work (builds, tests) ran on them during the "
      "benchmark. wrk, nginx, the PoP and both agents share those cores too, so the figures are for *this* box "
      "at *this* moment: compare the paths with each other (they ran back to back, in alternating order), not "
      "as absolute capacity.\n")

    w("## Results (mean over rounds)\n")
    w("| scenario | path | req/s | p50 | p90 | p99 | errors |")
    w("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for sc in scenarios:
        for p in paths:
            s = summary.get((sc, p))
            if not s:
                continue
            spread = f" ({s['rps_min']:.0f}–{s['rps_max']:.0f})" if s["rounds"] > 1 else ""
            lat = s["latency_us"]
            w(f"| {sc} | {p} | {s['rps_mean']:.0f}{spread} | {ms(lat['p50'])} | {ms(lat['p90'])} | "
              f"{ms(lat['p99'])} | {s['errors']} |")
    w("")
    for sc in scenarios:
        for p, r in ratios[sc].items():
            if not r:
                continue
            rounds = ""
            if len(r["rps_ratio_per_round"]) > 1:
                rounds = " (per round: " + ", ".join(f"{x:.2f}" for x in r["rps_ratio_per_round"]) + ")"
            w(f"- {sc}, {p} vs none: throughput **{r['rps_ratio']:.2f}×**{rounds}; p50 "
              f"{signed_ms(r['p50_added_us'])} ({r['p50_ratio']}×), p99 {signed_ms(r['p99_added_us'])} "
              f"({r['p99_ratio']}×); PoP CPU {r['pop_cpu_us_per_request_added']:+.1f} µs per request")
    w("\n`load-tXcY` = `wrk -tX -cY` (throughput under concurrency); `latency-t1c1` = one connection, one "
      "request at a time. Ranges in brackets are min–max over rounds; errors include non-2xx answers "
      "(a refused token would show there).\n")

    w("## Where the CPU went (mean over rounds)\n")
    w("CPU time of each process during the runs (from `/proc`, all threads), as % of one core, and per "
      "request; *agent* is the agent of the path measured. *other* is the rest of the machine's busy time: the "
      "other work on this box, plus kernel work not charged to these processes.\n")
    w("| scenario | path | machine busy | wrk | nginx | PoP | agent | other | PoP µs/req | agent µs/req | nginx µs/req |")
    w("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for sc in scenarios:
        for p in paths:
            s = summary.get((sc, p))
            if not s:
                continue
            c, u = s["cpu_pct"], s["cpu_us_per_request"]
            w(f"| {sc} | {p} | {s['machine_busy_pct']:.0f}% | {c['wrk']:.0f}% | {c['nginx']:.0f}% | "
              f"{c['pop']:.0f}% | {c['agent']:.0f}% | {c['other']:.0f}% | {u['pop']} | {u['agent']} | {u['nginx']} |")
    w("")
    if policy_text:
        w("## The policy\n")
        w("```yaml\n" + policy_text.rstrip() + "\n```\n")
    w("## Findings\n")
    w("_None yet for this run: read the tables above, then write 3-5 bullets here._\n")
    with open(a.out_md, "w") as f:
        f.write("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
