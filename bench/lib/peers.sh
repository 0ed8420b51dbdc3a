# Pieces of bench/run's scenarios (lib/scenario-*.sh), sourced after lib/common.sh: the peers
# (rathole, bore, nginx as a reverse proxy), Warren's TCP agent, fixed-rate latency runs with
# h2load, and memory readings from /proc. Everything listens on 127.0.0.1 (rathole's idle services
# on 127.0.99.1); every process started here joins PIDS and is stopped by common.sh's EXIT trap.
# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables set here are read by the scripts that source this file

PEER_BIN_DIR=${PEER_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/warren-bench/cargo/bin}
RATHOLE=${RATHOLE:-$PEER_BIN_DIR/rathole}
BORE=${BORE:-$PEER_BIN_DIR/bore}
TOOLS_PY=$BENCH_DIR/lib/bench_tools.py
RESULT_DIR=${RESULT_DIR:-${OUT_DIR:-$BENCH_DIR/results}}   # where a scenario writes its *.jsonl

# Stops the given processes (TERM, then KILL after 5 s) and forgets them.
stop_procs() {
    local pid keep=() p
    for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "$@"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        [[ " $* " == *" $p "* ]] || keep+=("$p")
    done
    PIDS=("${keep[@]}")
}

# ---------------------------------------------------------------- /proc readings (KiB)
status_kb() { # status_kb PID FIELD (VmRSS, VmHWM, RssAnon...): 0 when the process is gone
    awk -v f="$2:" '$1 == f { print $2; found = 1 } END { if (!found) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0
}
rss_kb() { local t=0 pid; for pid in "$@"; do t=$((t + $(status_kb "$pid" VmRSS))); done; echo "$t"; }
hwm_kb() { local t=0 pid; for pid in "$@"; do t=$((t + $(status_kb "$pid" VmHWM))); done; echo "$t"; }
# Resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0; needs to own the process or root).
reset_hwm() { local pid; for pid in "$@"; do echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true; done; }

# Waits until TCP port ADDR (host:port) accepts connections.
wait_tcp() {
    local addr=$1 what=$2 pid=$3
    for _ in $(seq $((START_TIMEOUT * 10))); do
        python3 -c 'import socket,sys; h,p=sys.argv[1].rsplit(":",1); socket.create_connection((h,int(p)),1).close()' \
            "$addr" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || die "$what exited before it was ready (see $WORK)"
        sleep 0.1
    done
    die "$what not listening on $addr after ${START_TIMEOUT}s (see $WORK)"
}

# get_body URL [curl args]: the body of a 2xx answer, retried for up to 10 s (a tunnel's public
# port may accept before its first data channel works: rathole opens those on demand).
get_body() {
    local url=$1 out
    shift
    for _ in $(seq 20); do
        if out=$(curl -fsS --max-time 5 "$@" "$url" 2>/dev/null); then printf '%s' "$out"; return 0; fi
        sleep 0.5
    done
    curl -fsS --max-time 5 "$@" "$url"
}

# ---------------------------------------------------------------- Warren TCP agent
# start_tcp_agent NAME BACKEND_HOST:PORT: `warren tcp` for the backend, through the PoP of
# start_pop (which needs `tcp_ports` in POP_EXTRA_YAML). Sets LAST_PID and TCP_ENDPOINT_PORT.
start_tcp_agent() {
    local name=$1 backend=$2
    mkdir -p "$WORK/$name/config"
    log "starting warren tcp $backend"
    env -u WARREN_AUTHTOKEN -u WARREN_SERVER_ADDR XDG_CONFIG_HOME="$WORK/$name/config" \
        "$WARREN_BIN" tcp "$backend" --authtoken "$AUTHTOKEN" \
        --server-addr "$POP_TUNNEL" --ca-file "$WORK/pop/ca/ca.pem" --log-level "$LOG_LEVEL" \
        >"$WORK/$name/stdout" 2>"$WORK/$name/stderr" &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    wait_line "$WORK/$name/stdout" "endpoint online tcp://" "warren tcp ($name)" "$LAST_PID"
    TCP_ENDPOINT_PORT=$(grep -m1 -oE 'endpoint online tcp://[^ ]+' "$WORK/$name/stdout" | sed -E 's/.*:([0-9]+)$/\1/')
    log "$name: $(grep -m1 'endpoint online' "$WORK/$name/stdout")"
}

# ---------------------------------------------------------------- rathole
RATHOLE_TOKEN=warren-bench-rathole-token
# rathole_keys: a Noise keypair (RATHOLE_PRIV, RATHOLE_PUB), made once per scenario.
rathole_keys() {
    [[ -n ${RATHOLE_PUB:-} ]] && return 0
    local out
    out=$("$RATHOLE" --genkey 2>/dev/null) || die "rathole --genkey failed"
    RATHOLE_PRIV=$(awk '/Private Key/ { getline; print; exit }' <<<"$out")
    RATHOLE_PUB=$(awk '/Public Key/ { getline; print; exit }' <<<"$out")
    [[ -n $RATHOLE_PRIV && -n $RATHOLE_PUB ]] || die "no keys in rathole --genkey's output: $out"
}
# rathole_transport SIDE(server|client) TRANSPORT(tcp|noise): the [SIDE.transport] tables.
rathole_transport() {
    local side=$1 transport=$2
    echo "[$side.transport]"
    echo "type = \"$transport\""
    if [[ $transport == noise ]]; then
        rathole_keys
        echo "[$side.transport.noise]"
        if [[ $side == server ]]; then echo "local_private_key = \"$RATHOLE_PRIV\""
        else echo "remote_public_key = \"$RATHOLE_PUB\""; fi
    fi
}
# start_rathole_server NAME TRANSPORT: the server, its services from $WORK/NAME/services.toml
# (server half). Sets RATHOLE_SERVER_PID and RATHOLE_CONTROL (its control address).
start_rathole_server() {
    local name=$1 transport=$2
    mkdir -p "$WORK/$name"
    RATHOLE_CONTROL=127.0.0.1:$(free_port)
    {
        echo "[server]"
        echo "bind_addr = \"$RATHOLE_CONTROL\""
        echo "default_token = \"$RATHOLE_TOKEN\""
        rathole_transport server "$transport"
        cat "$WORK/$name/server-services.toml"
    } >"$WORK/$name/server.toml"
    RUST_LOG=${RATHOLE_LOG:-warn} "$RATHOLE" --server "$WORK/$name/server.toml" \
        >"$WORK/$name/server.stdout" 2>"$WORK/$name/server.stderr" &
    RATHOLE_SERVER_PID=$!
    PIDS+=("$RATHOLE_SERVER_PID")
    wait_tcp "$RATHOLE_CONTROL" "rathole server ($name)" "$RATHOLE_SERVER_PID"
}
# start_rathole_client NAME TRANSPORT: the client, its services from $WORK/NAME/client-services.toml.
# Sets RATHOLE_CLIENT_PID.
start_rathole_client() {
    local name=$1 transport=$2
    {
        echo "[client]"
        echo "remote_addr = \"$RATHOLE_CONTROL\""
        echo "default_token = \"$RATHOLE_TOKEN\""
        rathole_transport client "$transport"
        cat "$WORK/$name/client-services.toml"
    } >"$WORK/$name/client.toml"
    RUST_LOG=${RATHOLE_LOG:-warn} "$RATHOLE" --client "$WORK/$name/client.toml" \
        >"$WORK/$name/client.stdout" 2>"$WORK/$name/client.stderr" &
    RATHOLE_CLIENT_PID=$!
    PIDS+=("$RATHOLE_CLIENT_PID")
}
# start_rathole NAME TRANSPORT BACKEND_HOST:PORT: one service carrying the backend. Sets
# RATHOLE_SERVER_PID, RATHOLE_CLIENT_PID and RATHOLE_ADDR (the public side, 127.0.0.1:PORT).
start_rathole() {
    local name=$1 transport=$2 backend=$3
    mkdir -p "$WORK/$name"
    RATHOLE_ADDR=127.0.0.1:$(free_port)
    printf '[server.services.bench]\nbind_addr = "%s"\n' "$RATHOLE_ADDR" >"$WORK/$name/server-services.toml"
    printf '[client.services.bench]\nlocal_addr = "%s"\n' "$backend" >"$WORK/$name/client-services.toml"
    log "starting rathole ($transport) for $backend"
    start_rathole_server "$name" "$transport"
    start_rathole_client "$name" "$transport"
    wait_tcp "$RATHOLE_ADDR" "rathole service ($name)" "$RATHOLE_CLIENT_PID"
}

# ---------------------------------------------------------------- bore
# start_bore NAME BACKEND_PORT: `bore server` (control port 7835, fixed by bore) and `bore local`.
# Sets BORE_SERVER_PID, BORE_CLIENT_PID and BORE_ADDR.
start_bore() {
    local name=$1 backend_port=$2 port
    mkdir -p "$WORK/$name"
    if python3 -c 'import socket; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 7835))' 2>/dev/null; then :; else
        die "port 7835 (bore's fixed control port) is taken on 127.0.0.1"
    fi
    port=$(free_port)
    log "starting bore server and bore local $backend_port (port $port)"
    RUST_LOG=${BORE_LOG:-warn} "$BORE" server --bind-addr 127.0.0.1 --min-port 1024 --max-port 65535 \
        >"$WORK/$name/server.stdout" 2>"$WORK/$name/server.stderr" &
    BORE_SERVER_PID=$!
    PIDS+=("$BORE_SERVER_PID")
    wait_tcp 127.0.0.1:7835 "bore server" "$BORE_SERVER_PID"
    RUST_LOG=${BORE_LOG:-warn} "$BORE" local "$backend_port" --local-host 127.0.0.1 --to 127.0.0.1 --port "$port" \
        >"$WORK/$name/client.stdout" 2>"$WORK/$name/client.stderr" &
    BORE_CLIENT_PID=$!
    PIDS+=("$BORE_CLIENT_PID")
    BORE_ADDR=127.0.0.1:$port
    wait_tcp "$BORE_ADDR" "bore local ($name)" "$BORE_CLIENT_PID"
}

# ---------------------------------------------------------------- nginx as a reverse proxy
# start_nginx_proxy UPSTREAM_HOST:PORT: a second nginx, a plain reverse proxy with upstream
# keep-alive (HTTP/1.1), NGINX_PROXY_WORKERS workers. Sets NGINX_PROXY_PID and NGINX_PROXY_ADDR.
start_nginx_proxy() {
    local upstream=$1 dir=$WORK/nginx-proxy
    mkdir -p "$dir"
    NGINX_PROXY_ADDR=127.0.0.1:$(free_port)
    cat >"$dir/nginx.conf" <<EOF
worker_processes ${NGINX_PROXY_WORKERS:-auto};
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    upstream backend {
        server $upstream;
        keepalive 128;
        keepalive_requests 100000000;
    }
    server {
        listen $NGINX_PROXY_ADDR;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$remote_addr;
            proxy_set_header X-Forwarded-Proto \$scheme;
        }
    }
}
EOF
    log "starting nginx as a reverse proxy on $NGINX_PROXY_ADDR -> $upstream"
    "$NGINX" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/stdout" 2>"$dir/stderr" &
    NGINX_PROXY_PID=$!
    PIDS+=("$NGINX_PROXY_PID")
    wait_tcp "$NGINX_PROXY_ADDR" "nginx (reverse proxy)" "$NGINX_PROXY_PID"
}

# ---------------------------------------------------------------- fixed-rate latency (h2load)
# run_rate ID SCENARIO PATH URL SECONDS [h2load args, e.g. -H 'Host: x']
# RATE requests/s in all, over RATE_CONNS HTTP/1.1 connections (`h2load --h1 -c RATE_CONNS
# --rps RATE/RATE_CONNS`), for SECONDS; latency percentiles from h2load's per-request log.
# Appends a JSON line to $WORK/runs.jsonl (kind "rate"); the CPU time of POP_PID and AGENT_PID
# (here: the tunnel's server and client side, whatever they are) is recorded as in run_wrk.
# shellcheck disable=SC2086 # AGENT_PID is a word list of pids (or empty)
run_rate() {
    local id=$1 scenario=$2 path=$3 url=$4 secs=$5
    shift 5
    local rps=$((RATE / RATE_CONNS)) p0 a0 p1 a1 args=() a
    # h2load sends -H 'Host: x' as a second Host header over HTTP/1.1; ':authority: x' replaces it.
    for a in "$@"; do
        if [[ $a =~ ^[Hh]ost:\ *(.*)$ ]]; then args+=(":authority: ${BASH_REMATCH[1]}"); else args+=("$a"); fi
    done
    p0=$(proc_ticks "${POP_PID:-}"); a0=$(proc_ticks ${AGENT_PID:-})
    timeout $((secs + 30)) h2load --h1 -c "$RATE_CONNS" -t 1 --rps "$rps" -D "$secs" \
        --log-file "$WORK/runs/$id.log" "${args[@]}" "$url" >"$WORK/runs/$id.txt" 2>&1 \
        || die "h2load failed ($id): $(tail -5 "$WORK/runs/$id.txt")"
    p1=$(proc_ticks "${POP_PID:-}"); a1=$(proc_ticks ${AGENT_PID:-})
    python3 "$TOOLS_PY" rate-run --id "$id" --scenario "$scenario" --path "$path" --rate "$RATE" \
        --conns "$RATE_CONNS" --seconds "$secs" --log "$WORK/runs/$id.log" --stdout "$WORK/runs/$id.txt" \
        --ticks "$((p1 - p0)),$((a1 - a0)),$CLK_TCK" >>"$WORK/runs.jsonl" 2>"$WORK/runs/$id.summary" \
        || die "cannot read h2load's results ($id): $(cat "$WORK/runs/$id.summary")"
    log "$id: $(cat "$WORK/runs/$id.summary")"
}
