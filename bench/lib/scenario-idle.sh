#!/usr/bin/env bash
# bench/run scenario 4, many idle tunnels: memory per connected agent session.
#   warren   a fresh PoP per count; `warren-bench-idle` (bench/idle-agents) opens N sessions from
#            one process through the agent SDK, each a QUIC connection with its authtoken, one
#            registered HTTP endpoint, an accept loop and the 10 s heartbeat, spread over
#            IDLE_SOCKETS client UDP sockets. PoP RSS after (settled) minus before, divided by the
#            sessions still open then (fewer than N if some could not be opened within
#            IDLE_DEADLINE or closed again: the report says so, with the PoP's UDP drops).
#   rathole  a fresh server and client per count, with N services (each service is one control
#            channel, a TCP connection, one listening port on the server, on 127.0.99.1, and a pool
#            of 8 data channels the server asks the client to open ahead of any visitor):
#            server RSS once all N are up minus before the client connected, divided by N.
# Also: the client side's RSS per session, the time to bring N up, and the CPU the server spends
# on N idle sessions (keep-alives) over IDLE_WINDOW seconds. rathole needs ten descriptors per
# service on the server (and nine on the client); counts above what RLIMIT_NOFILE allows are
# capped (and say so).
# Writes RESULT_DIR/idle.jsonl.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_NAME=run/idle
# shellcheck source=common.sh
source "$HERE/common.sh"
# shellcheck source=peers.sh
source "$HERE/peers.sh"

: "${IDLE_BIN:?}"
IDLE_COUNTS=${IDLE_COUNTS:-1000 10000}
IDLE_SETTLE=${IDLE_SETTLE:-5}
IDLE_WINDOW=${IDLE_WINDOW:-5}
IDLE_DEADLINE=${IDLE_DEADLINE:-300}        # s: no new Warren session started after this
IDLE_CONCURRENCY=${IDLE_CONCURRENCY:-16}   # handshakes in flight
IDLE_SOCKETS=${IDLE_SOCKETS:-8}            # client UDP sockets the sessions are spread over
LOG_LEVEL=${LOG_LEVEL:-warn}
OUT_DIR=$RESULT_DIR
ADMIN_TOKEN=bench-admin-token
RATHOLE_IP=127.0.99.1
RATHOLE_BASE_PORT=20000   # services on RATHOLE_IP:20000..; below the ephemeral range
warren_binary
[[ -x $IDLE_BIN ]] || die "no warren-bench-idle at $IDLE_BIN"
make_work warren-run-idle
: >"$WORK/runs.jsonl"
NOFILE=$(ulimit -n)

# idle_record SYSTEM ASKED N BEFORE_KB AFTER_KB CLIENT_KB CONNECT_S IDLE_TICKS SERVER_FDS UDP_DROPS NOTE
idle_record() {
    python3 - "$@" "$IDLE_WINDOW" "$CLK_TCK" "$NOFILE" >>"$WORK/runs.jsonl" <<'PY'
import json, sys
a = sys.argv[1:]
keys = ["system", "asked", "sessions", "server_rss_before_kb", "server_rss_after_kb", "client_rss_kb", "connect_s",
        "idle_server_ticks", "server_fds", "udp_drops", "note", "idle_window_s", "clk_tck", "nofile"]
r = dict(zip(keys, a))
for k in keys:
    if k not in ("system", "note", "connect_s"):
        r[k] = int(r[k])
r["connect_s"] = float(r["connect_s"])
print(json.dumps(r))
PY
    log "$1 x $3: server RSS $4 -> $5 KiB ($(( ($5 - $4) * 1024 / $3 )) B per session), client $6 KiB, up in ${7}s, idle CPU $8 ticks in ${IDLE_WINDOW}s${11:+; ${11}}"
}
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
# Datagrams the kernel dropped on the UDP socket bound to 127.0.0.1:PORT (its receive buffer was full).
udp_drops() {
    awk -v p="$(printf ':%04X' "$1")" '$2 == "0100007F" p { print $NF; found = 1 } END { if (!found) print 0 }' /proc/net/udp
}

# ---------------------------------------------------------------- warren
for n in $IDLE_COUNTS; do
    rm -rf "$WORK/pop"
    start_pop
    sleep 2
    before=$(rss_kb "$POP_PID")
    drops0=$(udp_drops "${POP_TUNNEL##*:}")
    log "warren: opening $n sessions ($IDLE_CONCURRENCY handshakes at a time over $IDLE_SOCKETS UDP sockets; new ones started for at most ${IDLE_DEADLINE}s)"
    "$IDLE_BIN" --server-addr "$POP_TUNNEL" --ca-file "$WORK/pop/ca/ca.pem" --authtoken "$AUTHTOKEN" \
        --sessions "$n" --zone edge.test --prefix "idle$n" --concurrency "$IDLE_CONCURRENCY" --sockets "$IDLE_SOCKETS" \
        --deadline-secs "$IDLE_DEADLINE" >"$WORK/idle-$n.stdout" 2>"$WORK/idle-$n.stderr" &
    idle_pid=$!
    PIDS+=("$idle_pid")
    START_TIMEOUT=$((IDLE_DEADLINE + 90)) wait_line "$WORK/idle-$n.stdout" '^ready ' "warren-bench-idle ($n sessions)" "$idle_pid"
    ready=$(grep -m1 '^ready ' "$WORK/idle-$n.stdout")
    connect_s=$(sed -nE 's/.* seconds=([0-9.]+).*/\1/p' <<<"$ready")
    log "warren: $ready"
    sleep "$IDLE_SETTLE"
    i0=$(proc_ticks "$POP_PID"); sleep "$IDLE_WINDOW"; i1=$(proc_ticks "$POP_PID")
    after=$(rss_kb "$POP_PID")
    live=$(grep -E '^live ' "$WORK/idle-$n.stdout" | tail -1 | cut -d' ' -f2)
    drops=$(($(udp_drops "${POP_TUNNEL##*:}") - drops0))
    [[ ${live:-0} -gt 0 ]] || die "no warren session left open (see $WORK/idle-$n.stderr)"
    note=""
    if ((live < n)); then
        closed=$(grep -c ' closed: ' "$WORK/idle-$n.stderr" || true)
        note="only $live of $n sessions open when measured ($ready; $closed closed after opening, mostly idle timeouts); the PoP's tunnel socket dropped $drops datagrams (receive buffer full)"
    fi
    idle_record warren "$n" "$live" "$before" "$after" "$(rss_kb "$idle_pid")" "$connect_s" $((i1 - i0)) \
        "$(fds "$POP_PID")" "$drops" "$note"
    stop_procs "$idle_pid" "$POP_PID"
done

# ---------------------------------------------------------------- rathole
for n in $IDLE_COUNTS; do
    cap=$(( (NOFILE - 256) / 10 ))
    m=$n note=""
    if ((m > cap)); then
        m=$cap
        note="capped at $m services: the rathole server holds 10 descriptors per TCP service (a listener, the control connection and a pool of 8 pre-opened data channels, TCP_POOL_SIZE in rathole 0.5's server.rs) and RLIMIT_NOFILE is $NOFILE here"
        log "rathole: $note"
    fi
    name=rathole-$n
    mkdir -p "$WORK/$name"
    python3 - "$m" "$RATHOLE_IP" "$RATHOLE_BASE_PORT" "$WORK/$name" <<'PY'
import sys
m, ip, base, d = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
with open(f"{d}/server-services.toml", "w") as s, open(f"{d}/client-services.toml", "w") as c:
    for i in range(m):
        s.write(f'[server.services.s{i}]\nbind_addr = "{ip}:{base + i}"\n')
        c.write(f'[client.services.s{i}]\nlocal_addr = "127.0.0.1:9"\n')
PY
    start_rathole_server "$name" tcp
    sleep 2
    before=$(rss_kb "$RATHOLE_SERVER_PID")
    log "rathole: a client with $m services"
    t0=$(date +%s.%N)
    start_rathole_client "$name" tcp
    # Up = the server listens on the service's port (it does once the control channel is open).
    # Measured with whatever is up after IDLE_DEADLINE, as for Warren.
    up=0 deadline=$(($(date +%s) + IDLE_DEADLINE))
    while :; do
        up=$(ss -Hltn "src $RATHOLE_IP" 2>/dev/null | wc -l)
        ((up >= m || $(date +%s) >= deadline)) && break
        kill -0 "$RATHOLE_CLIENT_PID" 2>/dev/null || die "rathole client exited (see $WORK/$name)"
        sleep 0.5
    done
    t1=$(date +%s.%N)
    ((up > 0)) || die "no rathole service came up (see $WORK/$name)"
    connect_s=$(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
    if ((up < m)); then
        note="${note:+$note; }only $up of $m services up after ${IDLE_DEADLINE}s: $(grep -c 'Connection timed out' "$WORK/$name/client.stdout" || true) control-channel connects timed out (the listen backlog overflowed) and were retried"
    fi
    sleep "$IDLE_SETTLE"
    i0=$(proc_ticks "$RATHOLE_SERVER_PID"); sleep "$IDLE_WINDOW"; i1=$(proc_ticks "$RATHOLE_SERVER_PID")
    after=$(rss_kb "$RATHOLE_SERVER_PID")
    idle_record rathole "$n" "$up" "$before" "$after" "$(rss_kb "$RATHOLE_CLIENT_PID")" "$connect_s" $((i1 - i0)) \
        "$(fds "$RATHOLE_SERVER_PID")" 0 "$note"
    stop_procs "$RATHOLE_CLIENT_PID" "$RATHOLE_SERVER_PID"
done
cp "$WORK/runs.jsonl" "$RESULT_DIR/idle.jsonl"
log "wrote $RESULT_DIR/idle.jsonl"
