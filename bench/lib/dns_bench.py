#!/usr/bin/env python3
"""Helpers of bench/dns.sh: the GeoIP2 City database all three servers locate clients with, the
dnsperf query file, and the report.

    dns_bench.py mmdb OUT.mmdb             # client networks and PoP addresses with coordinates
    dns_bench.py queries OUT.bin COUNT     # dnsperf -B file: A queries with ECS, spread evenly
    dns_bench.py report WORK OUT_DIR ...   # reads WORK/runs.jsonl, writes dns-latest.{md,json}

Every address here is data: the client networks only ever appear inside EDNS Client Subnet
options of queries sent to 127.0.0.1.
"""
import json
import os
import platform
import random
import re
import statistics
import struct
import subprocess
import sys

# The PoPs: id, coordinates, the address GSLB hands out for each.
POPS = [
    ("pop-fra", 50.11, 8.68, "127.0.1.1"),
    ("pop-iad", 39.04, -77.49, "127.0.1.2"),
    ("pop-sin", 1.35, 103.82, "127.0.1.3"),
]
# Client networks near each PoP: (cidr, city, lat, lon, the PoP each server must answer with).
NETWORKS = [
    ("10.1.0.0/16", "Paris", 48.86, 2.35, "127.0.1.1"),
    ("10.2.0.0/16", "New York", 40.71, -74.01, "127.0.1.2"),
    ("10.3.0.0/16", "Tokyo", 35.68, 139.69, "127.0.1.3"),
]
ZONE = "edge.test"
# Names asked: the zone apex and one endpoint (registered by an agent on the Warren side).
NAMES = [ZONE, "api." + ZONE]


def city_record(name, lat, lon, country, continent):
    from mmdb_writer import MmdbF64

    return {
        "city": {"names": {"en": name}},
        "continent": {"code": continent},
        "country": {"iso_code": country, "names": {"en": country}},
        "location": {"latitude": MmdbF64(lat), "longitude": MmdbF64(lon), "accuracy_radius": 20},
    }


def make_mmdb(out):
    """A GeoIP2-City-format database: the client networks, and the PoP addresses (PowerDNS's
    pickclosest locates the candidate addresses in the same database)."""
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    w = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-City", languages=["en"],
                   description="Warren DNS benchmark: three client networks and three PoPs")
    countries = {"Paris": ("FR", "EU"), "New York": ("US", "NA"), "Tokyo": ("JP", "AS")}
    for cidr, city, lat, lon, _ in NETWORKS:
        w.insert_network(IPSet([cidr]), city_record(city, lat, lon, *countries[city]))
    pop_cities = {"pop-fra": ("Frankfurt", "DE", "EU"), "pop-iad": ("Ashburn", "US", "NA"),
                  "pop-sin": ("Singapore", "SG", "AS")}
    for pop, lat, lon, addr in POPS:
        city, country, continent = pop_cities[pop]
        w.insert_network(IPSet([addr + "/32"]), city_record(city, lat, lon, country, continent))
    w.to_db_file(out)


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def query(name, subnet, prefix):
    """An A query with EDNS (payload 1232) and a Client Subnet option for subnet/prefix."""
    header = struct.pack(">HHHHHH", 0, 0x0000, 1, 0, 0, 1)  # id (dnsperf rewrites it), no RD
    question = encode_name(name) + struct.pack(">HH", 1, 1)
    addr = bytes(int(x) for x in subnet.split("."))[: (prefix + 7) // 8]
    ecs = struct.pack(">HBB", 1, prefix, 0) + addr
    option = struct.pack(">HH", 8, len(ecs)) + ecs
    opt = b"\0" + struct.pack(">HHIH", 41, 1232, 0, len(option)) + option
    return header + question + opt


def make_queries(out, count):
    """COUNT queries, the networks and names in turn, each from a random /24 of its network:
    3 x 256 subnets, so no server sees one client over and over."""
    rng = random.Random(7871)
    with open(out, "wb") as f:
        for i in range(count):
            cidr = NETWORKS[i % len(NETWORKS)][0]
            a, b = cidr.split(".")[:2]
            name = NAMES[(i // len(NETWORKS)) % len(NAMES)]
            q = query(name, f"{a}.{b}.{rng.randrange(256)}.0", 24)
            f.write(struct.pack(">H", len(q)) + q)


def parse_dnsperf(text):
    """The figures of one dnsperf run."""
    r = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("Queries sent:"):
            r["sent"] = int(line.split()[2])
        elif line.startswith("Queries completed:"):
            r["completed"] = int(line.split()[2])
        elif line.startswith("Queries lost:"):
            r["lost"] = int(line.split()[2])
        elif line.startswith("Response codes:"):
            r["rcodes"] = line.split(":", 1)[1].strip()
        elif line.startswith("Queries per second:"):
            r["qps"] = float(line.split()[3])
        elif line.startswith("Average Latency (s):"):
            m = re.match(r"Average Latency \(s\):\s+([\d.]+) \(min ([\d.]+), max ([\d.]+)\)", line)
            if m:
                r["lat_avg_ms"], r["lat_min_ms"], r["lat_max_ms"] = (float(x) * 1000 for x in m.groups())
        elif line.startswith("Latency StdDev (s):"):
            r["lat_stddev_ms"] = float(line.split()[3]) * 1000
    missing = {"sent", "completed", "lost", "qps", "lat_avg_ms"} - r.keys()
    if missing:
        raise SystemExit(f"dnsperf output without {sorted(missing)}:\n{text}")
    return r


def report(work, out_dir, meta):
    runs = [json.loads(line) for line in open(os.path.join(work, "runs.jsonl"))]
    servers = ["warren", "pdns", "gdnsd"]
    res = {"meta": meta, "runs": runs, "summary": {}}
    for scenario in ("load", "latency"):
        res["summary"][scenario] = {}
        for s in servers:
            rs = [r for r in runs if r["server"] == s and r["scenario"] == scenario]
            if not rs:
                continue
            res["summary"][scenario][s] = {
                "qps_median": statistics.median(r["qps"] for r in rs),
                "qps_all": [r["qps"] for r in rs],
                "lat_avg_ms_median": statistics.median(r["lat_avg_ms"] for r in rs),
                "lat_stddev_ms_median": statistics.median(r.get("lat_stddev_ms", 0.0) for r in rs),
                "lost": sum(r["lost"] for r in rs),
                "sent": sum(r["sent"] for r in rs),
                "server_cpu_s_per_run_median": statistics.median(r["server_cpu_s"] for r in rs),
                "server_cpu_us_per_query_median": statistics.median(
                    r["server_cpu_s"] * 1e6 / max(r["completed"], 1) for r in rs),
                "loadavg_1m": [r["loadavg_1m"] for r in rs],
            }
    load = res["summary"]["load"]
    res["ratios"] = {
        f"warren/{s}": {
            "qps": load["warren"]["qps_median"] / load[s]["qps_median"],
            "lat_avg": load["warren"]["lat_avg_ms_median"] / load[s]["lat_avg_ms_median"],
            "cpu_per_query": load["warren"]["server_cpu_us_per_query_median"]
            / load[s]["server_cpu_us_per_query_median"],
        }
        for s in ("pdns", "gdnsd")
    }
    if res["summary"].get("latency"):
        lat = res["summary"]["latency"]
        for s in ("pdns", "gdnsd"):
            res["ratios"][f"warren/{s}"]["lat_avg_unloaded"] = (
                lat["warren"]["lat_avg_ms_median"] / lat[s]["lat_avg_ms_median"])
    os.makedirs(out_dir, exist_ok=True)
    json.dump(res, open(os.path.join(out_dir, "dns-latest.json"), "w"), indent=2)

    m = meta
    names = {"warren": f"Warren ({m['warren_version']})", "pdns": f"PowerDNS {m['pdns_version']} LUA `pickclosest`",
             "gdnsd": f"gdnsd {m['gdnsd_version']} geoip (city-auto-mode)"}
    lines = [
        "# GSLB DNS: Warren vs PowerDNS LUA records vs gdnsd geoip",
        "",
        f"dnsperf {m['dnsperf_version']}, {m['rounds']} round(s) per server, servers alternating "
        f"(warren, pdns, gdnsd, warren, ...). Load runs: {m['seconds']} s each, `{m['load_args']}`; unloaded-latency "
        f"runs: {m['lat_seconds']} s each, one query outstanding (`{m['lat_args']}`). One query file for all: "
        f"{m['queries']} `A` queries (the apex and one endpoint) with EDNS Client Subnet /24s spread evenly over "
        "three client networks (Paris, New York, Tokyo; 768 distinct subnets), each answered with the nearest of "
        "three PoPs (Frankfurt, Ashburn, Singapore). Every server locates clients in the same GeoIP2-City database "
        "(generated, `lib/dns_bench.py mmdb`) and was checked with `dig +subnet` to give the nearest PoP's address "
        "for each network before timing.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}. {m['pinning']} Load average (1, 5, 15 min) "
        f"{m['loadavg_start']} before the runs, {m['loadavg_end']} after: the machine is shared, and other work on "
        "CPU 0 takes its time from whichever server is measured then; the CPU time per query (from /proc) is the "
        "figure least disturbed by it.",
        "",
        "## Queries per second (load runs)",
        "",
        "| server | QPS median | all runs | avg latency (median of runs) | latency stddev | lost | server CPU per query |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in servers:
        r = load[s]
        lines.append(
            f"| {names[s]} | {r['qps_median']:,.0f} | {', '.join(f'{q:,.0f}' for q in r['qps_all'])} | "
            f"{r['lat_avg_ms_median']:.3f} ms | {r['lat_stddev_ms_median']:.3f} ms | {r['lost']} of {r['sent']} | "
            f"{r['server_cpu_us_per_query_median']:.1f} µs |")
    if res["summary"].get("latency"):
        lines += ["", "## Latency with one query outstanding", "",
                  "| server | avg latency (median of runs) | stddev | QPS |", "| --- | --- | --- | --- |"]
        for s in servers:
            r = res["summary"]["latency"][s]
            lines.append(f"| {names[s]} | {r['lat_avg_ms_median'] * 1000:.1f} µs | "
                         f"{r['lat_stddev_ms_median'] * 1000:.1f} µs | {r['qps_median']:,.0f} |")
    lines += ["", "## Ratios (Warren / other)", ""]
    for s in ("pdns", "gdnsd"):
        r = res["ratios"][f"warren/{s}"]
        extra = f", unloaded latency {r['lat_avg_unloaded']:.2f}x" if "lat_avg_unloaded" in r else ""
        lines.append(f"- vs {s}: QPS {r['qps']:.2f}x (above 1: Warren answers more); "
                     f"average latency under load {r['lat_avg']:.2f}x{extra}, CPU per query "
                     f"{r['cpu_per_query']:.2f}x (below 1: Warren is faster or cheaper)")
    lines += ["", "## Set-up", ""] + [f"- {line}" for line in m["setup"]]
    lines += ["", f"Code: commit {m['commit']} ({m['dirty']} uncommitted files under crates/ at run time), "
              f"binary {m['bin']} (sha256 {m['bin_sha']}, built {m['bin_mtime']}).", ""]
    open(os.path.join(out_dir, "dns-latest.md"), "w").write("\n".join(lines))
    print("\n".join(lines))


def main():
    cmd = sys.argv[1]
    if cmd == "mmdb":
        make_mmdb(sys.argv[2])
    elif cmd == "queries":
        make_queries(sys.argv[2], int(sys.argv[3]))
    elif cmd == "parse":
        # parse SERVER SCENARIO OUTPUT_FILE SERVER_CPU_S LOADAVG: one JSON line for runs.jsonl
        server, scenario, path, cpu, load = sys.argv[2:7]
        r = parse_dnsperf(open(path).read())
        r.update({"server": server, "scenario": scenario, "server_cpu_s": float(cpu), "loadavg_1m": float(load)})
        print(json.dumps(r))
    elif cmd == "line":
        # line < ONE_RUNS_JSONL_LINE: a one-line summary for the log
        r = json.loads(sys.stdin.read())
        print(f"{r['qps']:,.0f} qps, avg {r['lat_avg_ms']:.3f} ms, lost {r['lost']}, {r.get('rcodes', '')}, "
              f"server CPU {r['server_cpu_s']} s, load {r['loadavg_1m']}")
    elif cmd == "report":
        work, out_dir, meta_path = sys.argv[2:5]
        meta = json.load(open(meta_path))
        meta.setdefault("cpu", subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                                              capture_output=True, text=True).stdout.strip())
        meta.setdefault("cores", os.cpu_count())
        meta.setdefault("kernel", platform.release())
        report(work, out_dir, meta)
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
