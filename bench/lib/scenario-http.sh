#!/usr/bin/env bash
# bench/run scenario 1, HTTP through a tunnel: the same nginx backend (a 100-byte static file)
# reached directly (the floor), through Warren (PoP http listener -> QUIC tunnel -> `warren http`),
# through rathole (TCP transport, and Noise-encrypted), and through bore. Per round and path:
#   load  `wrk -tTHREADS -cCONNS` for DURATION s: requests/s at fixed concurrency, wrk's percentiles;
#   rate  `h2load --h1` at RATE requests/s over RATE_CONNS connections: latency below saturation.
# Paths alternate within a round, in reverse order every other round. Run by bench/run (which sets
# the knobs); writes RESULT_DIR/http.jsonl (one JSON line per run).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_NAME=run/http
# shellcheck source=common.sh
source "$HERE/common.sh"
# shellcheck source=peers.sh
source "$HERE/peers.sh"

: "${DURATION:?}" "${ROUNDS:?}" "${THREADS:?}" "${CONNS:?}" "${RATE:?}" "${RATE_CONNS:?}"
NGINX_WORKERS=${NGINX_WORKERS:-1}
WARMUP=${WARMUP:-2}
LOG_LEVEL=${LOG_LEVEL:-warn}
OUT_DIR=$RESULT_DIR
ADMIN_TOKEN=bench-admin-token
HOST=bench.edge.test
need_base_tools
warren_binary
make_work warren-run-http

start_nginx
start_pop
start_agent agent "$HOST"
declare -A URL SPID CPID HOSTH
URL[direct]=$DIRECT_URL; SPID[direct]=""; CPID[direct]=""
URL[warren]="http://$POP_HTTP/"; SPID[warren]=$POP_PID; CPID[warren]=$LAST_PID; HOSTH[warren]=$HOST
start_rathole rathole tcp "127.0.0.1:$NGINX_PORT"
URL[rathole]="http://$RATHOLE_ADDR/"; SPID[rathole]=$RATHOLE_SERVER_PID; CPID[rathole]=$RATHOLE_CLIENT_PID
start_rathole rathole-noise noise "127.0.0.1:$NGINX_PORT"
URL[rathole-noise]="http://$RATHOLE_ADDR/"; SPID[rathole-noise]=$RATHOLE_SERVER_PID; CPID[rathole-noise]=$RATHOLE_CLIENT_PID
start_bore bore "$NGINX_PORT"
URL[bore]="http://$BORE_ADDR/"; SPID[bore]=$BORE_SERVER_PID; CPID[bore]=$BORE_CLIENT_PID
PATHS=(direct warren rathole rathole-noise bore)

# The same bytes every way, or the comparison means nothing.
want=$(curl -fsS "$DIRECT_URL")
for p in "${PATHS[@]}"; do
    host=()
    [[ -n ${HOSTH[$p]:-} ]] && host=(-H "Host: ${HOSTH[$p]}")
    got=$(get_body "${URL[$p]}" "${host[@]}") || die "no 2xx through $p"
    [[ $got == "$want" ]] || die "the body through $p differs from the direct body"
done
log "checks: the same body through every path"

# http_run KIND(load|rate) ID PATH SECONDS
http_run() {
    local kind=$1 id=$2 p=$3 secs=$4 host=()
    [[ -n ${HOSTH[$p]:-} ]] && host=(-H "Host: ${HOSTH[$p]}")
    if [[ $kind == load ]]; then
        POP_PID=${SPID[$p]} AGENT_PID=${CPID[$p]} WRK_SCRIPT="" \
            run_wrk "$id" load "$p" "${URL[$p]}" "$THREADS" "$CONNS" "$secs" "${host[@]}"
    else
        POP_PID=${SPID[$p]} AGENT_PID=${CPID[$p]} run_rate "$id" rate "$p" "${URL[$p]}" "$secs" "${host[@]}"
    fi
}

log "warm-up (${WARMUP}s per path, not recorded)"
for p in "${PATHS[@]}"; do http_run load "warmup-$p" "$p" "$WARMUP"; done
: >"$WORK/runs.jsonl"
for round in $(seq "$ROUNDS"); do
    order=("${PATHS[@]}")
    if ((round % 2 == 0)); then order=(); for ((k = ${#PATHS[@]} - 1; k >= 0; k--)); do order+=("${PATHS[k]}"); done; fi
    log "round $round/$ROUNDS (${DURATION}s per run; order: ${order[*]})"
    for p in "${order[@]}"; do http_run load "r$round-load-$p" "$p" "$DURATION"; done
    for p in "${order[@]}"; do http_run rate "r$round-rate-$p" "$p" "$DURATION"; done
done
python3 - "$WORK/runs.jsonl" "$BODY_BYTES" "$NGINX_WORKERS" >"$RESULT_DIR/http.jsonl" <<'PY'
import json, sys
path, body, workers = sys.argv[1:4]
for line in open(path):
    r = json.loads(line)
    r.setdefault("kind", "load")
    r["body_bytes"], r["nginx_workers"] = int(body), int(workers)
    print(json.dumps(r))
PY
log "wrote $RESULT_DIR/http.jsonl"
