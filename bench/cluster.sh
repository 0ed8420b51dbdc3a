#!/usr/bin/env bash
# Replicated writes: commit latency (p50/p99) of admin writes on a three-PoP Warren cluster vs a
# `put` on a three-member etcd cluster (Debian's etcd-server), same client, same concurrency (one
# write at a time), each through the leader and through a follower (forwarded to the leader), and
# the time until every member has applied each write. Both on 127.0.0.1 with the same Raft timings
# (heartbeat 250 ms, election 1.5 s) and durable logs (fsync per commit); the systems alternate
# round by round; every process is stopped on exit.
#
#   bench/cluster.sh              # 3 rounds x 200 writes per target per system
#   QUICK=1 bench/cluster.sh      # 1 round x 50 writes
#
# Knobs: WARREN_BIN (skip the build), WRITES, ROUNDS, OUT_DIR (default bench/results), KEEP_WORK=1.
# Writes OUT_DIR/cluster-latest.md and cluster-latest.json.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_NAME=cluster-bench
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"

QUICK=${QUICK:-0}
WRITES=${WRITES:-$([[ $QUICK == 1 ]] && echo 50 || echo 200)}
ROUNDS=${ROUNDS:-$([[ $QUICK == 1 ]] && echo 1 || echo 3)}
OUT_DIR=${OUT_DIR:-$HERE/results}
ADMIN_TOKEN=bench-admin-token
LOG_LEVEL=${LOG_LEVEL:-warn}
need_tool python3 python3
need_tool curl curl
need_tool etcd etcd-server
warren_binary
make_work warren-cluster-bench

printf 'a-benchmark-cluster-secret-%s\n' "$(date +%s%N)" > "$WORK/cluster.secret"
IDS=(pop-fra pop-iad pop-sin)
LOCS=("50.11, lon: 8.68" "39.04, lon: -77.49" "1.35, lon: 103.82")
PORTS=()
for _ in "${IDS[@]}"; do PORTS+=("$(free_port)"); done
declare -A ADMIN
for i in "${!IDS[@]}"; do
    id=${IDS[i]}
    mkdir -p "$WORK/$id"
    {
        echo "id: $id"
        echo "location: { lat: ${LOCS[i]} }"
        echo "zone: edge.test"
        echo "data_dir: $WORK/$id/data"
        echo "listen: { tunnel: 127.0.0.1:0, cluster: 127.0.0.1:${PORTS[i]}, admin: 127.0.0.1:0 }"
        echo "cluster:"
        echo "  bootstrap: $([[ $i == 0 ]] && echo true || echo false)"
        echo "  secret_file: $WORK/cluster.secret"
        echo "  peers:"
        for j in "${!IDS[@]}"; do echo "    ${IDS[j]}: 127.0.0.1:${PORTS[j]}"; done
    } > "$WORK/$id/pop.yaml"
    WARREN_ADMIN_TOKEN=$ADMIN_TOKEN "$WARREN_BIN" pop --config "$WORK/$id/pop.yaml" --log-level "$LOG_LEVEL" \
        >"$WORK/$id/stdout" 2>"$WORK/$id/stderr" &
    PIDS+=("$!")
    wait_line "$WORK/$id/stdout" '^listening name=admin addr=' "warren pop $id" "$!"
    ADMIN[$id]=$(grep -E '^listening name=admin addr=' "$WORK/$id/stdout" | sed -E 's/.* addr=([^ ]+).*/\1/')
done
log "waiting for the cluster to elect a leader"
LEADER=""
for _ in $(seq 300); do
    LEADER=$(curl -fsS -H "Authorization: Bearer $ADMIN_TOKEN" "http://${ADMIN[pop-fra]}/v1/cluster" 2>/dev/null \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["leader"] or "")' 2>/dev/null || true)
    ready=1
    for id in "${IDS[@]}"; do curl -fsS -o /dev/null "http://${ADMIN[$id]}/readyz" 2>/dev/null || ready=0; done
    [[ -n $LEADER && $ready == 1 ]] && break
    sleep 0.1
done
[[ -n $LEADER ]] || die "no leader"
FOLLOWER=""
OTHERS=()
for id in "${IDS[@]}"; do
    [[ $id == "$LEADER" ]] && continue
    if [[ -z $FOLLOWER ]]; then FOLLOWER=$id; else OTHERS+=("${ADMIN[$id]}"); fi
done
WARREN_MEMBERS=("${ADMIN[$LEADER]}" "${ADMIN[$FOLLOWER]}" "${OTHERS[@]}")
log "warren: leader $LEADER, follower $FOLLOWER"

# ---------------------------------------------------------------- etcd, three members
ETCD_CLIENT=() ETCD_PEER=()
for i in 0 1 2; do ETCD_CLIENT+=("$(free_port)"); ETCD_PEER+=("$(free_port)"); done
INITIAL=""
for i in 0 1 2; do INITIAL+="${INITIAL:+,}e$i=http://127.0.0.1:${ETCD_PEER[i]}"; done
for i in 0 1 2; do
    etcd --name "e$i" --data-dir "$WORK/etcd$i" \
        --listen-client-urls "http://127.0.0.1:${ETCD_CLIENT[i]}" --advertise-client-urls "http://127.0.0.1:${ETCD_CLIENT[i]}" \
        --listen-peer-urls "http://127.0.0.1:${ETCD_PEER[i]}" --initial-advertise-peer-urls "http://127.0.0.1:${ETCD_PEER[i]}" \
        --initial-cluster "$INITIAL" --initial-cluster-state new --initial-cluster-token warren-bench \
        --heartbeat-interval 250 --election-timeout 1500 --log-level error \
        >"$WORK/etcd$i.log" 2>&1 &
    PIDS+=("$!")
done
ETCD_LEADER="" ETCD_FOLLOWERS=()
for _ in $(seq 300); do
    ETCD_LEADER="" ETCD_FOLLOWERS=()
    for i in 0 1 2; do
        role=$(curl -fsS -X POST -d '{}' "http://127.0.0.1:${ETCD_CLIENT[i]}/v3/maintenance/status" 2>/dev/null \
            | python3 -c 'import json,sys; s=json.load(sys.stdin); print("leader" if s.get("leader") and s["leader"]==s["header"]["member_id"] else ("follower" if s.get("leader") else ""))' 2>/dev/null || true)
        case $role in
            leader) ETCD_LEADER="127.0.0.1:${ETCD_CLIENT[i]}" ;;
            follower) ETCD_FOLLOWERS+=("127.0.0.1:${ETCD_CLIENT[i]}") ;;
        esac
    done
    [[ -n $ETCD_LEADER && ${#ETCD_FOLLOWERS[@]} == 2 ]] && break
    sleep 0.1
done
[[ -n $ETCD_LEADER && ${#ETCD_FOLLOWERS[@]} == 2 ]] || die "etcd elected no leader (see $WORK/etcd*.log)"
ETCD_MEMBERS=("$ETCD_LEADER" "${ETCD_FOLLOWERS[@]}")
log "etcd $(etcd --version | sed -n '1s/.*: //p'): leader $ETCD_LEADER"

# ---------------------------------------------------------------- alternate the systems
for r in $(seq "$ROUNDS"); do
    log "round $r/$ROUNDS: warren, $WRITES writes through the leader and through a follower"
    python3 "$HERE/lib/cluster_writes.py" warren "$ADMIN_TOKEN" "$WRITES" "${WARREN_MEMBERS[@]}" > "$WORK/warren-$r.json"
    log "round $r/$ROUNDS: etcd, $WRITES writes through the leader and through a follower"
    python3 "$HERE/lib/cluster_writes.py" etcd - "$WRITES" "${ETCD_MEMBERS[@]}" > "$WORK/etcd-$r.json"
done
ETCD_VERSION=$(etcd --version | sed -n '1s/.*: //p')

python3 - "$WORK" "$OUT_DIR" "$WRITES" "$ROUNDS" "$ETCD_VERSION" <<'PY'
import glob, json, os, platform, statistics, subprocess, sys
work, out, writes, rounds, etcd_version = sys.argv[1:6]
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()

def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]

res = {"writes_per_round": int(writes), "rounds": int(rounds), "etcd_version": etcd_version,
       "machine": {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release()}}
for system in ("warren", "etcd"):
    merged = {}
    for f in sorted(glob.glob(os.path.join(work, f"{system}-*.json"))):
        for target, series in json.load(open(f)).items():
            for metric, samples in series.items():
                merged.setdefault(target, {}).setdefault(metric, []).extend(samples)
    res[system] = {
        target: {metric: {"p50": pct(v, 50), "p99": pct(v, 99), "mean": statistics.mean(v), "n": len(v)}
                 for metric, v in series.items()}
        for target, series in merged.items()
    }
json.dump(res, open(os.path.join(out, "cluster-latest.json"), "w"), indent=2)
lines = [
    "# Replicated writes on a three-member cluster: Warren vs etcd",
    "",
    f"{rounds} round(s) x {writes} sequential writes per target per system, alternating: Warren `PUT /v1/policy` on a "
    f"three-PoP cluster vs etcd {etcd_version} `put` (v3 JSON gateway) on a three-member cluster, both on 127.0.0.1, "
    "heartbeat 250 ms / election 1.5 s, fsync per commit. Warren's PoP-to-PoP traffic is QUIC + TLS with mutual "
    f"authentication; etcd's peers talk plain HTTP here. Machine: {cpu}, {os.cpu_count()} cores.",
    "",
    "| system | written through | commit p50 | commit p99 | applied on every member p50 | p99 |",
    "| --- | --- | --- | --- | --- | --- |",
]
for system in ("warren", "etcd"):
    for target in ("leader", "follower"):
        r = res[system][target]
        lines.append(
            f"| {system} | {target} | {r['commit_ms']['p50']:.2f} ms | {r['commit_ms']['p99']:.2f} ms | "
            f"{r['applied_everywhere_ms']['p50']:.2f} ms | {r['applied_everywhere_ms']['p99']:.2f} ms |"
        )
lines += ["", "Ratios (Warren / etcd; below 1 means Warren is faster):", ""]
for target in ("leader", "follower"):
    w, e = res["warren"][target], res["etcd"][target]
    lines.append(
        f"- through the {target}: commit p50 {w['commit_ms']['p50'] / e['commit_ms']['p50']:.2f}x, "
        f"p99 {w['commit_ms']['p99'] / e['commit_ms']['p99']:.2f}x; applied everywhere p50 "
        f"{w['applied_everywhere_ms']['p50'] / e['applied_everywhere_ms']['p50']:.2f}x"
    )
open(os.path.join(out, "cluster-latest.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
