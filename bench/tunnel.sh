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
ROOT=$(cd "$HERE/.." && pwd)

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
START_TIMEOUT=60

log() { printf '[tunnel-bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- processes and cleanup
PIDS=()           # in start order; stopped in reverse
WORK=""
PERF_PIDS=()
cleanup() {
    local rc=$?
    set +e
    for pid in "${PERF_PIDS[@]}"; do kill -INT "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill -TERM "${PIDS[i]}" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [[ -n $WORK && -d $WORK ]]; then
        if [[ ${KEEP_WORK:-0} == 1 || $rc != 0 ]]; then
            log "logs and configs kept in $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Waits until FILE has a line matching REGEX (extended), or fails after START_TIMEOUT s.
wait_line() {
    local file=$1 regex=$2 what=$3 pid=$4
    for _ in $(seq $((START_TIMEOUT * 10))); do
        if grep -Eq "$regex" "$file" 2>/dev/null; then return 0; fi
        kill -0 "$pid" 2>/dev/null || die "$what exited before it was ready (see $WORK)"
        sleep 0.1
    done
    die "$what not ready after ${START_TIMEOUT}s (see $WORK)"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---------------------------------------------------------------- tools
need_tool() { # need_tool COMMAND DEBIAN_PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    [[ -x /usr/sbin/$1 ]] && return 0
    log "installing $2 (for $1)"
    local sudo=()
    [[ $(id -u) == 0 ]] || sudo=(sudo -n)
    "${sudo[@]}" apt-get install -y -q "$2" >/dev/null || die "could not install $2; install it and re-run"
}
need_tool wrk wrk
need_tool nginx nginx-light
need_tool curl curl
need_tool python3 python3
if [[ $PROFILE == 1 ]] && ! command -v perf >/dev/null 2>&1; then   # optional: no perf, no profiled run
    log "installing linux-perf (optional)"
    apt-get install -y -q linux-perf >/dev/null 2>&1 || sudo -n apt-get install -y -q linux-perf >/dev/null 2>&1 || true
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

BIN_GIVEN=1
if [[ -z ${WARREN_BIN:-} ]]; then
    BIN_GIVEN=0
    log "cargo build --release --bin warren"
    (cd "$ROOT" && cargo build --release --bin warren)
    WARREN_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/warren
fi
[[ -x $WARREN_BIN ]] || die "no warren binary at $WARREN_BIN"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/warren-bench.XXXXXX")
chmod 755 "$WORK"   # nginx workers may run as another user
mkdir -p "$WORK/runs" "$WORK/www" "$WORK/nginx" "$OUT_DIR"

# ---------------------------------------------------------------- backend: nginx
# A small static file; access log off; keep-alive connections never recycled during a run.
printf 'Hello from the Warren tunnel benchmark backend. This body is a fixed 100 bytes long, padded.%6s\n' '' \
    > "$WORK/www/index.html"
chmod 644 "$WORK/www/index.html"
BODY_BYTES=$(stat -c %s "$WORK/www/index.html")
NGINX_PORT=$(free_port)
cat > "$WORK/nginx/nginx.conf" <<EOF
worker_processes $NGINX_WORKERS;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    default_type text/html;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $WORK/www;
        location / { }
    }
}
EOF
log "starting nginx on 127.0.0.1:$NGINX_PORT"
"$NGINX" -p "$WORK/nginx" -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf" \
    >"$WORK/nginx/stdout" 2>"$WORK/nginx/stderr" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
for _ in $(seq $((START_TIMEOUT * 10))); do
    curl -fsS -o /dev/null "http://127.0.0.1:$NGINX_PORT/" 2>/dev/null && break
    kill -0 "$NGINX_PID" 2>/dev/null || die "nginx exited: $(cat "$WORK/nginx/stderr" "$WORK/nginx/error.log" 2>/dev/null)"
    sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$NGINX_PORT/" || die "nginx does not answer"

# ---------------------------------------------------------------- PoP
mkdir -p "$WORK/pop"
cat > "$WORK/pop/pop.yaml" <<EOF
id: pop-bench
region: bench
location: { lat: 50.11, lon: 8.68 }
public_ipv4: 127.0.0.1
zone: edge.test
data_dir: $WORK/pop/data
listen:
  http: 127.0.0.1:0
  https: 127.0.0.1:0
  tunnel: 127.0.0.1:0
  cluster: 127.0.0.1:0
  admin: 127.0.0.1:0
tls:
  dev_ca_dir: $WORK/pop/ca
EOF
log "starting warren pop"
WARREN_ADMIN_TOKEN=$ADMIN_TOKEN "$WARREN_BIN" pop --config "$WORK/pop/pop.yaml" --log-level "$LOG_LEVEL" \
    >"$WORK/pop/stdout" 2>"$WORK/pop/stderr" &
POP_PID=$!
PIDS+=("$POP_PID")
listener() { # the addr= of `listening name=NAME addr=...`
    wait_line "$WORK/pop/stdout" "^listening name=$1 addr=" "warren pop ($1 listener)" "$POP_PID"
    grep -E "^listening name=$1 addr=" "$WORK/pop/stdout" | head -1 | sed -E 's/.* addr=([^ ]+).*/\1/'
}
POP_HTTP=$(listener http)
POP_TUNNEL=$(listener tunnel)
POP_ADMIN=$(listener admin)
log "pop: http=$POP_HTTP tunnel=$POP_TUNNEL admin=$POP_ADMIN"

AUTHTOKEN=$("$WARREN_BIN" admin --url "http://$POP_ADMIN" --token "$ADMIN_TOKEN" --log-level warn \
    tokens create --description bench 2>"$WORK/pop/tokens-create.stderr" | tail -1 | tr -d '[:space:]')
[[ -n $AUTHTOKEN ]] || die "tokens create printed no token"

# ---------------------------------------------------------------- agent
mkdir -p "$WORK/agent/config"
log "starting warren http 127.0.0.1:$NGINX_PORT --url http://$HOST"
env -u WARREN_AUTHTOKEN -u WARREN_SERVER_ADDR XDG_CONFIG_HOME="$WORK/agent/config" \
    "$WARREN_BIN" http "127.0.0.1:$NGINX_PORT" --url "http://$HOST" --authtoken "$AUTHTOKEN" \
    --server-addr "$POP_TUNNEL" --ca-file "$WORK/pop/ca/ca.pem" --log-level "$LOG_LEVEL" \
    >"$WORK/agent/stdout" 2>"$WORK/agent/stderr" &
AGENT_PID=$!
PIDS+=("$AGENT_PID")
wait_line "$WORK/agent/stdout" "endpoint online" "warren http" "$AGENT_PID"
log "agent: $(grep -m1 'endpoint online' "$WORK/agent/stdout")"

DIRECT_URL="http://127.0.0.1:$NGINX_PORT/"
TUNNEL_URL="http://$POP_HTTP/"
# The same bytes both ways, or the comparison means nothing.
direct_body=$(curl -fsS "$DIRECT_URL")
tunnel_body=$(curl -fsS -H "Host: $HOST" "$TUNNEL_URL") || die "no 2xx through the tunnel"
[[ $direct_body == "$tunnel_body" ]] || die "tunnel body differs from the direct body"

# ---------------------------------------------------------------- measuring
CLK_TCK=$(getconf CLK_TCK)
NPROC=$(nproc)

proc_ticks() { # summed utime+stime (all threads) of the given pids
    local t=0 pid f
    for pid in "$@"; do
        if f=$(cat "/proc/$pid/stat" 2>/dev/null); then
            f=${f##*) }
            read -r -a a <<<"$f"
            t=$((t + a[11] + a[12]))
        fi
    done
    echo "$t"
}
nginx_pids() { echo "$NGINX_PID" $(pgrep -P "$NGINX_PID" || true); }
sys_ticks() { # "busy total" over all CPUs from /proc/stat
    local _cpu user nice system idle iowait irq softirq steal rest
    read -r _cpu user nice system idle iowait irq softirq steal rest </proc/stat
    echo "$((user + nice + system + irq + softirq + steal)) $((user + nice + system + idle + iowait + irq + softirq + steal))"
}

# run_wrk ID SCENARIO PATH THREADS CONNS SECONDS [wrk args...]
run_wrk() {
    local id=$1 scenario=$2 path=$3 t=$4 c=$5 secs=$6
    shift 6
    local url=$DIRECT_URL hdr=()
    if [[ $path == tunnel ]]; then url=$TUNNEL_URL; hdr=(-H "Host: $HOST"); fi
    local p0 a0 n0 s0 p1 a1 n1 s1 wall0 wall1
    p0=$(proc_ticks "$POP_PID"); a0=$(proc_ticks "$AGENT_PID"); n0=$(proc_ticks $(nginx_pids)); s0=$(sys_ticks)
    wall0=$(date +%s.%N)
    local TIMEFORMAT='%3U %3S'
    { time timeout $((secs + 30)) wrk -t"$t" -c"$c" -d"${secs}s" --timeout 5s --latency \
        -s "$HERE/lib/wrk-report.lua" "${hdr[@]}" "$@" "$url" \
        >"$WORK/runs/$id.txt" 2>&1; } 2>"$WORK/runs/$id.time" || die "wrk failed: $(cat "$WORK/runs/$id.txt")"
    wall1=$(date +%s.%N)
    p1=$(proc_ticks "$POP_PID"); a1=$(proc_ticks "$AGENT_PID"); n1=$(proc_ticks $(nginx_pids)); s1=$(sys_ticks)
    kill -0 "$POP_PID" 2>/dev/null || die "warren pop died during $id"
    kill -0 "$AGENT_PID" 2>/dev/null || die "warren http died during $id"
    local wrkjson wu ws sb0 st0 sb1 st1 wall
    wrkjson=$(grep '^WRKJSON ' "$WORK/runs/$id.txt" | sed 's/^WRKJSON //') || die "no result line from wrk ($id)"
    read -r wu ws <"$WORK/runs/$id.time"
    read -r sb0 st0 <<<"$s0"
    read -r sb1 st1 <<<"$s1"
    wall=$(awk -v a="$wall1" -v b="$wall0" 'BEGIN { printf "%.3f", a - b }')
    # CPU figures are clock ticks (CLK_TCK per second) except wrk's, which are seconds.
    printf '{"id":"%s","scenario":"%s","path":"%s","threads":%d,"connections":%d,"duration_s":%d,"wall_s":%s,"clk_tck":%d,"ticks":{"pop":%d,"agent":%d,"nginx":%d,"machine_busy":%d,"machine_total":%d},"wrk_cpu_s":%s,"wrk":%s}\n' \
        "$id" "$scenario" "$path" "$t" "$c" "$secs" "$wall" "$CLK_TCK" \
        $((p1 - p0)) $((a1 - a0)) $((n1 - n0)) $((sb1 - sb0)) $((st1 - st0)) \
        "$(awk -v u="$wu" -v s="$ws" 'BEGIN { printf "%.3f", u + s }')" "$wrkjson" >>"$WORK/runs.jsonl"
    log "$id: $(awk '/Requests\/sec/ { r = $2 } /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
        /Non-2xx|Socket errors/ { e = e " | " $0 } END { print r " req/s, p50 " p50 ", p99 " p99 e }' "$WORK/runs/$id.txt")"
}

log "warm-up (3 s each way, not recorded)"
run_wrk warmup-direct warmup direct "$THREADS" "$CONNS" 3
run_wrk warmup-tunnel warmup tunnel "$THREADS" "$CONNS" 3
: >"$WORK/runs.jsonl"

LOAD="load-t${THREADS}c${CONNS}"
for round in $(seq "$ROUNDS"); do
    log "round $round/$ROUNDS (${DURATION}s per run)"
    run_wrk "r$round-$LOAD-direct" "$LOAD" direct "$THREADS" "$CONNS" "$DURATION"
    run_wrk "r$round-$LOAD-tunnel" "$LOAD" tunnel "$THREADS" "$CONNS" "$DURATION"
    run_wrk "r$round-latency-t1c1-direct" latency-t1c1 direct 1 1 "$DURATION"
    run_wrk "r$round-latency-t1c1-tunnel" latency-t1c1 tunnel 1 1 "$DURATION"
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
        run_wrk profile-tunnel "$LOAD" tunnel "$THREADS" "$CONNS" "$PROFILE_SECONDS"
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
COMMIT=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
# Uncommitted changes to the code at run time: how many files, and a hash of the diff to tell trees apart.
DIRTY=$(git -C "$ROOT" status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null | wc -l)
DIFF_HASH=$(git -C "$ROOT" diff HEAD -- crates Cargo.toml Cargo.lock 2>/dev/null | sha256sum | cut -c1-12)
python3 "$HERE/lib/tunnel_report.py" \
    --runs "$WORK/runs.jsonl" --profile-run "$WORK/profile.jsonl" --perf-dir "$WORK" \
    --out-md "$OUT_DIR/tunnel-latest.md" --out-json "$OUT_DIR/tunnel-latest.json" \
    --commit "$COMMIT" --dirty "$DIRTY" --diff-hash "$DIFF_HASH" --bin "$WARREN_BIN" \
    --bin-sha "$(sha256sum "$WARREN_BIN" | cut -c1-12)" --bin-given "$BIN_GIVEN" --bin-mtime "$(date -u -r "$WARREN_BIN" '+%Y-%m-%d %H:%M UTC')" --nproc "$NPROC" \
    --cpu-model "$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
    --kernel "$(uname -r)" --loadavg "$(cut -d' ' -f1-3 /proc/loadavg)" \
    --wrk-version "$(wrk -v 2>&1 | head -1)" --nginx-version "$("$NGINX" -v 2>&1 | head -1)" \
    --warren-version "$("$WARREN_BIN" --version 2>/dev/null | head -1 || echo unknown)" \
    --duration "$DURATION" --rounds "$ROUNDS" --quick "$QUICK" --body-bytes "$BODY_BYTES" \
    --nginx-workers "$NGINX_WORKERS" --log-level "$LOG_LEVEL" --profile-status "$PROFILE_STATUS"
log "wrote $OUT_DIR/tunnel-latest.md, tunnel-latest.json and tunnel-latest-profile.txt"
