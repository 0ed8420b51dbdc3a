# Shared pieces of the bench/ scripts: sourced, not run. Everything listens on 127.0.0.1, and
# every process started through these functions is stopped on exit (the EXIT trap below).
#
# The sourcing script sets BENCH_NAME (log prefix) and, before calling them, the knobs the
# functions read: START_TIMEOUT, NGINX_WORKERS, LOG_LEVEL, ADMIN_TOKEN, OUT_DIR.
# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables set here are read by the scripts that source this file

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
START_TIMEOUT=${START_TIMEOUT:-60}

log() { printf '[%s %(%H:%M:%S)T] %s\n' "${BENCH_NAME:-bench}" -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- processes and cleanup
PIDS=()           # in start order; stopped in reverse
PGROUPS=()        # leaders of process groups (child scripts started with setsid): the whole group is
                  # sent TERM first, and KILL once the leaders are gone or past their grace period
WORK=""
PERF_PIDS=()
cleanup() {
    local rc=$?
    # Run to the end: a Ctrl-C (or TERM) now would fire the traps below inside this function and
    # leave the processes not yet stopped running.
    trap '' INT TERM
    set +e
    for pid in "${PERF_PIDS[@]}"; do kill -INT "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    for pgid in "${PGROUPS[@]}"; do kill -TERM -- "-$pgid" 2>/dev/null; done
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill -TERM "${PIDS[i]}" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    for pgid in "${PGROUPS[@]}"; do kill -KILL -- "-$pgid" 2>/dev/null; done
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

need_base_tools() { # wrk, nginx, curl, python3; sets NGINX
    need_tool wrk wrk
    need_tool nginx nginx-light
    need_tool curl curl
    need_tool python3 python3
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
}

# Sets WARREN_BIN (cargo build --release unless WARREN_BIN is given) and BIN_GIVEN.
warren_binary() {
    BIN_GIVEN=1
    if [[ -z ${WARREN_BIN:-} ]]; then
        BIN_GIVEN=0
        log "cargo build --release --bin warren"
        (cd "$ROOT" && cargo build --release --bin warren)
        WARREN_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/warren
    fi
    [[ -x $WARREN_BIN ]] || die "no warren binary at $WARREN_BIN"
}

make_work() { # make_work PREFIX: the temporary directory WORK, and OUT_DIR
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    chmod 755 "$WORK"   # nginx workers may run as another user
    mkdir -p "$WORK/runs" "$WORK/www" "$WORK/nginx" "$OUT_DIR"
}

# ---------------------------------------------------------------- backend: nginx
# A small static file; access log off; keep-alive connections never recycled during a run.
# NGINX_EXTRA_HTTP, if set, goes into the http block (e.g. `sendfile on;`). Sets NGINX_PID, NGINX_PORT, BODY_BYTES and DIRECT_URL.
start_nginx() {
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
    ${NGINX_EXTRA_HTTP:-}
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
    DIRECT_URL="http://127.0.0.1:$NGINX_PORT/"
}

# ---------------------------------------------------------------- PoP
# Starts `warren pop` (zone edge.test) and creates an agent authtoken. POP_EXTRA_YAML, if set, is
# appended to pop.yaml (top-level keys such as `tcp_ports: 21000-21099`).
# Sets POP_PID, POP_HTTP, POP_TUNNEL, POP_ADMIN and AUTHTOKEN.
start_pop() {
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
${POP_EXTRA_YAML:-}
EOF
    log "starting warren pop"
    # No proxy: the PoP's own HTTP fetches (JWKS) go to 127.0.0.1 directly.
    env -u http_proxy -u HTTP_PROXY -u https_proxy -u HTTPS_PROXY -u all_proxy -u ALL_PROXY \
        WARREN_ADMIN_TOKEN="$ADMIN_TOKEN" "$WARREN_BIN" pop --config "$WORK/pop/pop.yaml" --log-level "$LOG_LEVEL" \
        >"$WORK/pop/stdout" 2>"$WORK/pop/stderr" &
    POP_PID=$!
    PIDS+=("$POP_PID")
    POP_HTTP=$(pop_listener http)
    POP_TUNNEL=$(pop_listener tunnel)
    POP_ADMIN=$(pop_listener admin)
    log "pop: http=$POP_HTTP tunnel=$POP_TUNNEL admin=$POP_ADMIN"
    AUTHTOKEN=$("$WARREN_BIN" admin --url "http://$POP_ADMIN" --token "$ADMIN_TOKEN" --log-level warn \
        tokens create --description bench 2>"$WORK/pop/tokens-create.stderr" | tail -1 | tr -d '[:space:]')
    [[ -n $AUTHTOKEN ]] || die "tokens create printed no token"
}
pop_listener() { # the addr= of `listening name=NAME addr=...`
    wait_line "$WORK/pop/stdout" "^listening name=$1 addr=" "warren pop ($1 listener)" "$POP_PID"
    grep -E "^listening name=$1 addr=" "$WORK/pop/stdout" | head -1 | sed -E 's/.* addr=([^ ]+).*/\1/'
}

# ---------------------------------------------------------------- agent
# start_agent NAME HOST [more `warren http` args]: an agent for nginx at http://HOST, its files in
# $WORK/NAME. Sets LAST_PID.
start_agent() {
    local name=$1 host=$2
    shift 2
    mkdir -p "$WORK/$name/config"
    log "starting warren http 127.0.0.1:$NGINX_PORT --url http://$host $*"
    env -u WARREN_AUTHTOKEN -u WARREN_SERVER_ADDR XDG_CONFIG_HOME="$WORK/$name/config" \
        "$WARREN_BIN" http "127.0.0.1:$NGINX_PORT" --url "http://$host" --authtoken "$AUTHTOKEN" \
        --server-addr "$POP_TUNNEL" --ca-file "$WORK/pop/ca/ca.pem" --log-level "$LOG_LEVEL" "$@" \
        >"$WORK/$name/stdout" 2>"$WORK/$name/stderr" &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    wait_line "$WORK/$name/stdout" "endpoint online" "warren http ($name)" "$LAST_PID"
    log "$name: $(grep -m1 'endpoint online' "$WORK/$name/stdout")"
}

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
# shellcheck disable=SC2046 # a word list of pids
nginx_pids() { echo "$NGINX_PID" $(pgrep -P "$NGINX_PID" || true); }
sys_ticks() { # "busy total" over all CPUs from /proc/stat
    local _cpu user nice system idle iowait irq softirq steal rest
    read -r _cpu user nice system idle iowait irq softirq steal rest </proc/stat
    echo "$((user + nice + system + irq + softirq + steal)) $((user + nice + system + idle + iowait + irq + softirq + steal))"
}

# run_wrk ID SCENARIO PATH URL THREADS CONNS SECONDS [wrk args...]
# One wrk run; appends a JSON line to $WORK/runs.jsonl with wrk's figures and the CPU time of the
# PoP ($POP_PID), the agent serving PATH ($AGENT_PID; empty for none), nginx, wrk and the machine.
# WRK_SCRIPT (default lib/wrk-report.lua) is the wrk Lua script; it must print the WRKJSON line.
# shellcheck disable=SC2086,SC2046 # AGENT_PID and nginx_pids are word lists of pids (or empty)
run_wrk() {
    local id=$1 scenario=$2 path=$3 url=$4 t=$5 c=$6 secs=$7
    shift 7
    local script=${WRK_SCRIPT:-$BENCH_DIR/lib/wrk-report.lua}
    local p0 a0 n0 s0 p1 a1 n1 s1 wall0 wall1 pid
    p0=$(proc_ticks "$POP_PID"); a0=$(proc_ticks ${AGENT_PID:-}); n0=$(proc_ticks $(nginx_pids)); s0=$(sys_ticks)
    wall0=$(date +%s.%N)
    local TIMEFORMAT='%3U %3S'
    { time timeout $((secs + 30)) wrk -t"$t" -c"$c" -d"${secs}s" --timeout 5s --latency \
        -s "$script" "$@" "$url" \
        >"$WORK/runs/$id.txt" 2>&1; } 2>"$WORK/runs/$id.time" || die "wrk failed: $(cat "$WORK/runs/$id.txt")"
    wall1=$(date +%s.%N)
    p1=$(proc_ticks "$POP_PID"); a1=$(proc_ticks ${AGENT_PID:-}); n1=$(proc_ticks $(nginx_pids)); s1=$(sys_ticks)
    for pid in "${PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null || die "process $pid (nginx, PoP or agent: see $WORK) died during $id"
    done
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

# ---------------------------------------------------------------- report
# Sets REPORT_ARGS: the arguments every report script takes (code, binary, machine, tools).
report_common_args() {
    local commit dirty diff_hash
    commit=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
    # Uncommitted changes to the code at run time: how many files, and a hash of the diff to tell trees apart.
    dirty=$(git -C "$ROOT" status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null | wc -l)
    diff_hash=$(git -C "$ROOT" diff HEAD -- crates Cargo.toml Cargo.lock 2>/dev/null | sha256sum | cut -c1-12)
    REPORT_ARGS=(
        --commit "$commit" --dirty "$dirty" --diff-hash "$diff_hash" --bin "$WARREN_BIN"
        --bin-sha "$(sha256sum "$WARREN_BIN" | cut -c1-12)" --bin-given "$BIN_GIVEN"
        --bin-mtime "$(date -u -r "$WARREN_BIN" '+%Y-%m-%d %H:%M UTC')" --nproc "$NPROC"
        --cpu-model "$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
        --kernel "$(uname -r)" --loadavg "$(cut -d' ' -f1-3 /proc/loadavg)"
        --wrk-version "$(wrk -v 2>&1 | head -1)" --nginx-version "$("$NGINX" -v 2>&1 | head -1)"
        --warren-version "$("$WARREN_BIN" --version 2>/dev/null | head -1 || echo unknown)"
        --body-bytes "$BODY_BYTES" --nginx-workers "$NGINX_WORKERS" --log-level "$LOG_LEVEL"
    )
}
