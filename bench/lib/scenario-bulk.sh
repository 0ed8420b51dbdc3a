#!/usr/bin/env bash
# bench/run scenario 3, bulk transfer: `curl -o /dev/null` of a BULK_BYTES file (1 GiB) served by
# nginx, directly (the floor), through a Warren TCP endpoint (PoP TCP port -> QUIC tunnel ->
# `warren tcp` -> nginx), through rathole (TCP transport, and Noise-encrypted) and through bore.
# Per transfer: MB/s (curl's average download speed), the CPU time of the tunnel's two processes,
# and the peak RSS (VmHWM, reset to the current RSS just before the transfer with
# /proc/PID/clear_refs) of each process. Paths alternate; reverse order every other round.
# Writes RESULT_DIR/bulk.jsonl.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_NAME=run/bulk
# shellcheck source=common.sh
source "$HERE/common.sh"
# shellcheck source=peers.sh
source "$HERE/peers.sh"

: "${BULK_ROUNDS:?}"
BULK_BYTES=${BULK_BYTES:-1073741824}
NGINX_WORKERS=${NGINX_WORKERS:-1}
LOG_LEVEL=${LOG_LEVEL:-warn}
OUT_DIR=$RESULT_DIR
ADMIN_TOKEN=bench-admin-token
need_base_tools
warren_binary
make_work warren-run-bulk

NGINX_EXTRA_HTTP="sendfile on; tcp_nopush on;"   # the source as fast as nginx goes: the tunnel is the bottleneck
start_nginx
truncate -s "$BULK_BYTES" "$WORK/www/bulk.bin"   # sparse: read from the page cache, no disk
chmod 644 "$WORK/www/bulk.bin"
tcp_port=$(free_port)
POP_EXTRA_YAML="tcp_ports: $tcp_port-$tcp_port"
start_pop
start_tcp_agent agent-tcp "127.0.0.1:$NGINX_PORT"
declare -A ADDR SPID CPID
ADDR[direct]=127.0.0.1:$NGINX_PORT; SPID[direct]=""; CPID[direct]=""
ADDR[warren]=127.0.0.1:$TCP_ENDPOINT_PORT; SPID[warren]=$POP_PID; CPID[warren]=$LAST_PID
start_rathole rathole tcp "127.0.0.1:$NGINX_PORT"
ADDR[rathole]=$RATHOLE_ADDR; SPID[rathole]=$RATHOLE_SERVER_PID; CPID[rathole]=$RATHOLE_CLIENT_PID
start_rathole rathole-noise noise "127.0.0.1:$NGINX_PORT"
ADDR[rathole-noise]=$RATHOLE_ADDR; SPID[rathole-noise]=$RATHOLE_SERVER_PID; CPID[rathole-noise]=$RATHOLE_CLIENT_PID
start_bore bore "$NGINX_PORT"
ADDR[bore]=$BORE_ADDR; SPID[bore]=$BORE_SERVER_PID; CPID[bore]=$BORE_CLIENT_PID
PATHS=(direct warren rathole rathole-noise bore)
for p in "${PATHS[@]}"; do
    [[ $(get_body "http://${ADDR[$p]}/") == "$(curl -fsS "$DIRECT_URL")" ]] || die "wrong body through $p"
done
sleep 0.3
NGINX_WORKER_PIDS=$(pgrep -P "$NGINX_PID" | tr '\n' ' ')

# transfer ID PATH: one download; appends a JSON line to $WORK/runs.jsonl.
# shellcheck disable=SC2086 # $s, $c and $NGINX_WORKER_PIDS are word lists of pids (or empty)
transfer() {
    local id=$1 p=$2 s=${SPID[$2]} c=${CPID[$2]} out s0 c0 s1 c1 n0 n1 rs rc
    reset_hwm $s $c $NGINX_WORKER_PIDS
    rs=$(rss_kb $s); rc=$(rss_kb $c)
    s0=$(proc_ticks $s); c0=$(proc_ticks $c); n0=$(proc_ticks $NGINX_WORKER_PIDS)
    out=$(curl -sS --max-time 900 -o /dev/null -w '%{size_download} %{time_total} %{speed_download} %{http_code}' \
        "http://${ADDR[$p]}/bulk.bin") || die "the transfer through $p failed: $out"
    s1=$(proc_ticks $s); c1=$(proc_ticks $c); n1=$(proc_ticks $NGINX_WORKER_PIDS)
    read -r size secs speed code <<<"$out"
    [[ $code == 200 && $size == "$BULK_BYTES" ]] || die "$p: got $size bytes (status $code), expected $BULK_BYTES"
    local pid
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || die "process $pid died during $id (see $WORK)"; done
    printf '{"id":"%s","path":"%s","bytes":%s,"seconds":%s,"bytes_per_s":%s,"clk_tck":%d,"ticks":{"server":%d,"client":%d,"nginx":%d},"rss_before_kb":{"server":%d,"client":%d},"hwm_kb":{"server":%d,"client":%d,"nginx":%d}}\n' \
        "$id" "$p" "$size" "$secs" "$speed" "$CLK_TCK" $((s1 - s0)) $((c1 - c0)) $((n1 - n0)) "$rs" "$rc" \
        "$(hwm_kb $s)" "$(hwm_kb $c)" "$(hwm_kb $NGINX_WORKER_PIDS)" >>"$WORK/runs.jsonl"
    log "$id: $(awk -v b="$speed" 'BEGIN { printf "%.0f MB/s", b / 1e6 }') in ${secs}s; peak RSS server $(hwm_kb $s) KiB, client $(hwm_kb $c) KiB"
}

# The file into the page cache first (a sparse file's pages are allocated on the first read): the
# first recorded transfer must not pay for it.
curl -fsS -o /dev/null "http://${ADDR[direct]}/bulk.bin" || die "warm-up transfer failed"
: >"$WORK/runs.jsonl"
for round in $(seq "$BULK_ROUNDS"); do
    order=("${PATHS[@]}")
    if ((round % 2 == 0)); then order=(); for ((k = ${#PATHS[@]} - 1; k >= 0; k--)); do order+=("${PATHS[k]}"); done; fi
    log "round $round/$BULK_ROUNDS ($((BULK_BYTES >> 20)) MiB per transfer; order: ${order[*]})"
    for p in "${order[@]}"; do transfer "r$round-$p" "$p"; done
done
cp "$WORK/runs.jsonl" "$RESULT_DIR/bulk.jsonl"
log "wrote $RESULT_DIR/bulk.jsonl"
