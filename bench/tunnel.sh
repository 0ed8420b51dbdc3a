#!/usr/bin/env bash
# Requests per second and latency percentiles of plain HTTP/1.1 through a Warren tunnel
# (client -> PoP http listener -> QUIC tunnel -> agent -> backend), next to the same backend
# hit directly. Everything runs on 127.0.0.1; every process started here is stopped on exit.
#
#   bench/tunnel.sh                 # full: 2 rounds of 15 s runs, then a 10 s profiled run
#   QUICK=1 bench/tunnel.sh         # 1 round of 5 s runs
#
# Knobs (environment): WARREN_BIN (skip the build), DURATION (s), ROUNDS, THREADS and CONNS
# (the load scenario; the latency scenario is always -t1 -c1), PROFILE=0 (no profiled run),
# PROFILE_SECONDS, PERF_ARGS (default "-F 999 -g"; "-F 499 --call-graph dwarf" for user stacks),
# NGINX_WORKERS (default 1), LOG_LEVEL (PoP and agent, default info),
# OUT_DIR (default bench/results), KEEP_WORK=1 (keep the temporary directory and logs).
#
# Writes OUT_DIR/tunnel-latest.md, tunnel-latest.json and tunnel-latest-profile.txt.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_NAME=tunnel-bench
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"   # log, die, cleanup trap, nginx / PoP / agent start-up, run_wrk, report args

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
    DURATION=${DURATION:-5}; ROUNDS=${ROUNDS:-1}; PROFILE_SECONDS=${PROFILE_SECONDS:-5}
else
    DURATION=${DURATION:-15}; ROUNDS=${ROUNDS:-2}; PROFILE_SECONDS=${PROFILE_SECONDS:-10}
fi
THREADS=${THREADS:-2}
CONNS=${CONNS:-32}
PROFILE=${PROFILE:-1}
PERF_ARGS=${PERF_ARGS:--F 999 -g}
NGINX_WORKERS=${NGINX_WORKERS:-1}
LOG_LEVEL=${LOG_LEVEL:-info}
OUT_DIR=${OUT_DIR:-$HERE/results}
HOST=bench.edge.test
ADMIN_TOKEN=bench-admin-token

# ---------------------------------------------------------------- tools
need_base_tools
if [[ $PROFILE == 1 ]] && ! command -v perf >/dev/null 2>&1; then   # optional: no perf, no profiled run
    log "installing linux-perf (optional)"
    apt-get install -y -q linux-perf >/dev/null 2>&1 || sudo -n apt-get install -y -q linux-perf >/dev/null 2>&1 || true
fi
warren_binary
make_work warren-bench

# ---------------------------------------------------------------- backend, PoP, agent
start_nginx
start_pop
start_agent agent "$HOST"
AGENT_PID=$LAST_PID

TUNNEL_URL="http://$POP_HTTP/"
# The same bytes both ways, or the comparison means nothing.
direct_body=$(curl -fsS "$DIRECT_URL")
tunnel_body=$(curl -fsS -H "Host: $HOST" "$TUNNEL_URL") || die "no 2xx through the tunnel"
[[ $direct_body == "$tunnel_body" ]] || die "tunnel body differs from the direct body"

# ---------------------------------------------------------------- measuring
# tunnel_wrk ID SCENARIO PATH THREADS CONNS SECONDS: run_wrk (lib/common.sh) to direct or tunnel.
tunnel_wrk() {
    local id=$1 scenario=$2 path=$3
    shift 3
    if [[ $path == tunnel ]]; then
        run_wrk "$id" "$scenario" "$path" "$TUNNEL_URL" "$@" -H "Host: $HOST"
    else
        run_wrk "$id" "$scenario" "$path" "$DIRECT_URL" "$@"
    fi
}

log "warm-up (3 s each way, not recorded)"
tunnel_wrk warmup-direct warmup direct "$THREADS" "$CONNS" 3
tunnel_wrk warmup-tunnel warmup tunnel "$THREADS" "$CONNS" 3
: >"$WORK/runs.jsonl"

LOAD="load-t${THREADS}c${CONNS}"
for round in $(seq "$ROUNDS"); do
    log "round $round/$ROUNDS (${DURATION}s per run)"
    tunnel_wrk "r$round-$LOAD-direct" "$LOAD" direct "$THREADS" "$CONNS" "$DURATION"
    tunnel_wrk "r$round-$LOAD-tunnel" "$LOAD" tunnel "$THREADS" "$CONNS" "$DURATION"
    tunnel_wrk "r$round-latency-t1c1-direct" latency-t1c1 direct 1 1 "$DURATION"
    tunnel_wrk "r$round-latency-t1c1-tunnel" latency-t1c1 tunnel 1 1 "$DURATION"
done

# ---------------------------------------------------------------- profile (not part of the table)
PROFILE_TXT="$OUT_DIR/tunnel-latest-profile.txt"
PROFILE_STATUS="skipped (PROFILE=0)"
: >"$WORK/profile.jsonl"
[[ $PROFILE == 1 ]] || echo "no profiled run (PROFILE=0)" >"$PROFILE_TXT"
if [[ $PROFILE == 1 ]]; then
    if command -v perf >/dev/null 2>&1 && perf record -q -e cpu-clock -o "$WORK/perf-probe.data" -- true >/dev/null 2>&1; then
        log "profiled tunnel run (${PROFILE_SECONDS}s, perf record -e cpu-clock on pop, agent, nginx)"
        # One perf per process, so each report is that process's own time split.
        perf_start() { # NAME PIDS (comma-separated)
            # shellcheck disable=SC2086 # PERF_ARGS is a list of flags
            perf record -q -e cpu-clock $PERF_ARGS -p "$2" -o "$WORK/perf-$1.data" -- sleep $((PROFILE_SECONDS + 1)) \
                >"$WORK/perf-$1.log" 2>&1 &
            PERF_PIDS+=("$!")
        }
        perf_start pop "$POP_PID"
        perf_start agent "$AGENT_PID"
        perf_start nginx "$(nginx_pids | tr ' ' ',')"
        sleep 0.5
        cp "$WORK/runs.jsonl" "$WORK/runs.keep"
        tunnel_wrk profile-tunnel "$LOAD" tunnel "$THREADS" "$CONNS" "$PROFILE_SECONDS"
        tail -1 "$WORK/runs.jsonl" >"$WORK/profile.jsonl"
        mv "$WORK/runs.keep" "$WORK/runs.jsonl"
        for pid in "${PERF_PIDS[@]}"; do wait "$pid" || true; done
        PERF_PIDS=()
        {
            echo "# perf record -e cpu-clock $PERF_ARGS, one per process, during a ${PROFILE_SECONDS}s"
            echo "# wrk -t$THREADS -c$CONNS run through the tunnel (perf adds overhead; this run is not in the tables)."
            echo "# Percentages are of that process's own samples (self time)."
            for name in pop agent nginx; do
                data="$WORK/perf-$name.data"
                echo
                echo "######## $name: by object"
                perf report -i "$data" --stdio --no-children --sort dso -g none 2>/dev/null \
                    | grep -v '^#' | grep -v '^$' | head -12
                echo "######## $name: top symbols (self)"
                perf report -i "$data" --stdio --no-children --sort dso,sym -g none --percent-limit 0.5 2>/dev/null \
                    | grep -v '^#' | grep -v '^$' | head -40
                perf report -i "$data" --stdio --no-children --sort dso,sym -g none --percent-limit 0 2>/dev/null \
                    | grep -v '^#' | grep -v '^$' >"$WORK/perf-flat-$name.txt" || true
                # Inclusive time per syscall: kernel stacks are complete even without user call graphs.
                perf report -i "$data" --stdio --children --sort sym -g none 2>/dev/null \
                    | grep -E '\] (__x64_sys_|__do_sys_|__sys_|ksys_)[a-z0-9_]+$|\] (do_writev|do_readv|do_epoll_wait|do_epoll_ctl|net_rx_action)$' >"$WORK/perf-sys-$name.txt" || true
                echo "######## $name: inclusive time of syscalls, and of loopback packet delivery (net_rx_action)"
                head -16 "$WORK/perf-sys-$name.txt"
            done
        } >"$PROFILE_TXT"
        PROFILE_STATUS="perf"
    else
        log "perf is not usable here; the profile is the per-process CPU time of the runs only"
        PROFILE_STATUS="no perf (per-process CPU time from /proc only)"
        echo "perf not usable on this machine; see the CPU columns of tunnel-latest.md" >"$PROFILE_TXT"
    fi
fi

# ---------------------------------------------------------------- report
report_common_args
python3 "$HERE/lib/tunnel_report.py" "${REPORT_ARGS[@]}" \
    --runs "$WORK/runs.jsonl" --profile-run "$WORK/profile.jsonl" --perf-dir "$WORK" \
    --out-md "$OUT_DIR/tunnel-latest.md" --out-json "$OUT_DIR/tunnel-latest.json" \
    --duration "$DURATION" --rounds "$ROUNDS" --quick "$QUICK" --profile-status "$PROFILE_STATUS"
log "wrote $OUT_DIR/tunnel-latest.md, tunnel-latest.json and tunnel-latest-profile.txt"
