#!/usr/bin/env bash
# GSLB DNS: answers per second and latency of Warren's DNS server next to the two open-source
# authoritative servers operators use for the same job, on the same machine in the same run:
#
#   - warren: a real three-PoP cluster (Frankfurt, Ashburn, Singapore) on 127.0.0.1, one endpoint
#     (`api`) registered by a real agent; dnsperf asks pop-fra;
#   - pdns:   PowerDNS Authoritative (bind backend) with LUA records `pickclosest(...)`, located by
#     the geoip backend (which LUA's geographic functions need);
#   - gdnsd:  gdnsd's geoip plugin in city-auto-mode (datacenter coordinates, nearest first).
#
# All three locate clients in the same generated GeoIP2-City database (lib/dns_bench.py mmdb) and
# answer the apex and `api` with the nearest PoP's address (127.0.1.1/2/3). One dnsperf query file
# (binary format, -B) holds A queries whose EDNS Client Subnet options are spread over three client
# networks (Paris, New York, Tokyo). Before timing, `dig +subnet` checks that every server gives the
# nearest PoP for every network; the script fails loudly otherwise. Then dnsperf runs against each
# server in turn (warren, pdns, gdnsd, warren, ...): a load run (many queries outstanding) and an
# unloaded-latency run (one outstanding). On two or more cores the servers run on CPU 0 and dnsperf
# on CPU 1 (PIN=0 turns that off). Every process started here is stopped on exit.
#
#   bench/dns.sh              # 3 rounds x 30 s load + 5 s latency per server (~6 min)
#   QUICK=1 bench/dns.sh      # 3 rounds x 10 s + 3 s (~2.5 min)
#
# Knobs: WARREN_BIN (else target/release/warren, built with `cargo build --release -p warren-cli`
# when missing, or always with BUILD=1), ROUNDS, DURATION, LAT_DURATION, QUERIES (query file size),
# CLIENTS and OUTSTANDING (dnsperf -c and -q of load runs), PIN, OUT_DIR (default bench/results),
# KEEP_WORK=1. Needs root or password-less sudo to apt-get install dnsutils, dnsperf, pdns-server,
# pdns-backend-bind, pdns-backend-geoip and gdnsd when missing, and pip's mmdb-writer.
# Writes OUT_DIR/dns-latest.md and dns-latest.json.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_NAME=dns-bench
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"

QUICK=${QUICK:-0}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-$([[ $QUICK == 1 ]] && echo 10 || echo 30)}
LAT_DURATION=${LAT_DURATION:-$([[ $QUICK == 1 ]] && echo 3 || echo 5)}
QUERIES=${QUERIES:-30000}
CLIENTS=${CLIENTS:-4}
OUTSTANDING=${OUTSTANDING:-200}
PIN=${PIN:-1}
OUT_DIR=${OUT_DIR:-$HERE/results}
ADMIN_TOKEN=bench-admin-token
LOG_LEVEL=${LOG_LEVEL:-warn}
TOOLS=$HERE/lib/dns_bench.py

# ---------------------------------------------------------------- tools
# Debian bookworm: LUA records are built into pdns-server; they need a backend holding the zone
# (bind) and, for pickclosest, the geoip backend. The package "pdns-backend-lua2" is something
# else (a backend written in Lua).
need_tool python3 python3
need_tool curl curl
PACKAGES=(dnsutils dnsperf pdns-server pdns-backend-bind pdns-backend-geoip gdnsd)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    sudo=()
    [[ $(id -u) == 0 ]] || sudo=(sudo -n)
    # The packages' services must not start on their own (port 53): policy-rc.d says so where it
    # exists (containers); elsewhere they are stopped right after.
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
        || die "could not install ${missing[*]}"
    for svc in pdns gdnsd; do
        command -v systemctl >/dev/null 2>&1 && "${sudo[@]}" systemctl disable --now "$svc" >/dev/null 2>&1 || true
    done
fi
python3 -m pip --version >/dev/null 2>&1 || need_tool pip3 python3-pip
python3 -c 'import mmdb_writer' 2>/dev/null || {
    log "installing mmdb-writer (PyPI) to write the GeoIP2 test database"
    python3 -m pip install -q mmdb-writer 2>/dev/null || python3 -m pip install -q --break-system-packages mmdb-writer \
        || die "could not install mmdb-writer"
}
for tool in dig dnsperf; do command -v "$tool" >/dev/null || die "$tool is missing"; done
PDNS=$(command -v pdns_server || echo /usr/sbin/pdns_server)
GDNSD=$(command -v gdnsd || echo /usr/sbin/gdnsd)
[[ -x $PDNS && -x $GDNSD ]] || die "pdns_server or gdnsd is missing"

if [[ -z ${WARREN_BIN:-} ]]; then
    BIN_GIVEN=0
    WARREN_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/warren
    if [[ ! -x $WARREN_BIN || ${BUILD:-0} == 1 ]]; then
        log "cargo build --release -p warren-cli"
        (cd "$ROOT" && cargo build --release -p warren-cli)
    fi
else
    BIN_GIVEN=1
fi
[[ -x $WARREN_BIN ]] || die "no warren binary at $WARREN_BIN"
log "warren binary: $WARREN_BIN (built $(date -r "$WARREN_BIN" '+%F %T'))"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/warren-dns-bench.XXXXXX")
mkdir -p "$WORK/runs" "$OUT_DIR"
SERVER_CPU=() CLIENT_CPU=()
if [[ $PIN == 1 && $NPROC -ge 2 ]] && command -v taskset >/dev/null; then
    SERVER_CPU=(taskset -c 0) CLIENT_CPU=(taskset -c 1)
    PINNING="Servers pinned to CPU 0 (taskset), dnsperf to CPU 1."
else
    PINNING="No CPU pinning: servers and dnsperf share the cores."
fi

python3 "$TOOLS" mmdb "$WORK/geo.mmdb"
python3 "$TOOLS" queries "$WORK/queries.bin" "$QUERIES"
# What every server must answer: network -> the nearest PoP's address.
declare -A EXPECT=([10.1.5.0/24]=127.0.1.1 [10.2.77.0/24]=127.0.1.2 [10.3.250.0/24]=127.0.1.3)
NAMES=(edge.test api.edge.test)

# ---------------------------------------------------------------- warren: three PoPs
printf 'a-benchmark-cluster-secret-%s\n' "$(date +%s%N)" > "$WORK/cluster.secret"
IDS=(pop-fra pop-iad pop-sin)
LOCS=("50.11, lon: 8.68" "39.04, lon: -77.49" "1.35, lon: 103.82")
CLUSTER_PORTS=() DNS_PORTS=()
for _ in "${IDS[@]}"; do CLUSTER_PORTS+=("$(free_port)"); DNS_PORTS+=("$(free_port)"); done
declare -A ADMIN TUNNEL WARREN_PID
for i in "${!IDS[@]}"; do
    id=${IDS[i]}
    mkdir -p "$WORK/$id"
    {
        echo "id: $id"
        echo "location: { lat: ${LOCS[i]} }"
        echo "public_ipv4: 127.0.1.$((i + 1))"
        echo "zone: edge.test"
        echo "data_dir: $WORK/$id/data"
        echo "listen:"
        echo "  tunnel: 127.0.0.1:0"
        echo "  cluster: 127.0.0.1:${CLUSTER_PORTS[i]}"
        echo "  admin: 127.0.0.1:0"
        echo "  dns: 127.0.0.1:${DNS_PORTS[i]}"
        echo "cluster:"
        echo "  bootstrap: $([[ $i == 0 ]] && echo true || echo false)"
        echo "  secret_file: $WORK/cluster.secret"
        echo "  peers:"
        for j in "${!IDS[@]}"; do echo "    ${IDS[j]}: 127.0.0.1:${CLUSTER_PORTS[j]}"; done
        echo "tls: { dev_ca_dir: $WORK/ca }"
        echo "geo: { mmdb: $WORK/geo.mmdb }"
        echo "dns: { ttl: 30 }"
    } > "$WORK/$id/pop.yaml"
    WARREN_ADMIN_TOKEN=$ADMIN_TOKEN "${SERVER_CPU[@]}" "$WARREN_BIN" pop --config "$WORK/$id/pop.yaml" \
        --log-level "$LOG_LEVEL" >"$WORK/$id/stdout" 2>"$WORK/$id/stderr" &
    WARREN_PID[$id]=$!
    PIDS+=("$!")
    wait_line "$WORK/$id/stdout" '^listening name=dns addr=' "warren pop $id" "$!"
    ADMIN[$id]=$(grep -E '^listening name=admin addr=' "$WORK/$id/stdout" | sed -E 's/.* addr=([^ ]+).*/\1/')
    TUNNEL[$id]=$(grep -E '^listening name=tunnel addr=' "$WORK/$id/stdout" | sed -E 's/.* addr=([^ ]+).*/\1/')
done
log "waiting for the cluster to be ready"
for _ in $(seq $((START_TIMEOUT * 10))); do
    ready=1
    for id in "${IDS[@]}"; do curl -fsS -o /dev/null "http://${ADMIN[$id]}/readyz" 2>/dev/null || ready=0; done
    [[ $ready == 1 ]] && break
    sleep 0.1
done
[[ $ready == 1 ]] || die "the warren cluster is not ready after ${START_TIMEOUT}s (see $WORK)"
AUTHTOKEN=$("$WARREN_BIN" admin --url "http://${ADMIN[pop-fra]}" --token "$ADMIN_TOKEN" --log-level warn \
    tokens create --description dns-bench 2>"$WORK/tokens.stderr" | tail -1 | tr -d '[:space:]')
[[ -n $AUTHTOKEN ]] || die "tokens create printed no token"
# The endpoint's backend need not exist: only its registration (and tunnel) matters to DNS.
mkdir -p "$WORK/agent/config"
env -u WARREN_AUTHTOKEN -u WARREN_SERVER_ADDR XDG_CONFIG_HOME="$WORK/agent/config" \
    "$WARREN_BIN" http "127.0.0.1:$(free_port)" --url https://api.edge.test --authtoken "$AUTHTOKEN" \
    --server-addr "${TUNNEL[pop-fra]}" --ca-file "$WORK/ca/ca.pem" --log-level "$LOG_LEVEL" \
    >"$WORK/agent/stdout" 2>"$WORK/agent/stderr" &
PIDS+=("$!")
wait_line "$WORK/agent/stdout" "endpoint online" "warren http (agent)" "$!"
WARREN_PORT=${DNS_PORTS[0]}
WARREN_SERVER_PID=${WARREN_PID[pop-fra]}

# ---------------------------------------------------------------- PowerDNS with LUA records
PDNS_PORT=$(free_port)
mkdir -p "$WORK/pdns"
PICK="pickclosest({'127.0.1.1','127.0.1.2','127.0.1.3'})"
cat > "$WORK/pdns/edge.test.zone" <<EOF
\$TTL 30
@     IN SOA ns1.edge.test. hostmaster.edge.test. 1 3600 600 604800 30
@     IN NS  ns1.edge.test.
ns1   3600 IN A 127.0.0.1
@     30 IN LUA A "$PICK"
api   30 IN LUA A "$PICK"
EOF
echo "zone \"edge.test\" { type master; file \"$WORK/pdns/edge.test.zone\"; };" > "$WORK/pdns/named.conf"
printf 'domains: []\n' > "$WORK/pdns/geo-zones.yaml"
# Defaults otherwise (packet cache on, 3 distributor threads). No security poll: it would query
# a public name.
cat > "$WORK/pdns/pdns.conf" <<EOF
launch=bind,geoip
bind-config=$WORK/pdns/named.conf
geoip-database-files=mmdb:$WORK/geo.mmdb
geoip-zones-file=$WORK/pdns/geo-zones.yaml
enable-lua-records=yes
edns-subnet-processing=yes
local-address=127.0.0.1:$PDNS_PORT
socket-dir=$WORK/pdns
security-poll-suffix=
daemon=no
guardian=no
disable-syslog=yes
loglevel=4
EOF
"${SERVER_CPU[@]}" "$PDNS" --config-dir="$WORK/pdns" >"$WORK/pdns/log" 2>&1 &
PDNS_PID=$!
PIDS+=("$PDNS_PID")
wait_line "$WORK/pdns/log" 'Done launching threads' "pdns_server" "$PDNS_PID"
PDNS_VERSION=$(grep -m1 -oE 'Authoritative Server [0-9.]+' "$WORK/pdns/log" | awk '{print $3}')

# ---------------------------------------------------------------- gdnsd, geoip plugin
GDNSD_PORT=$(free_port)
mkdir -p "$WORK/gdnsd/zones" "$WORK/gdnsd/geoip" "$WORK/gdnsd/run" "$WORK/gdnsd/state"
cp "$WORK/geo.mmdb" "$WORK/gdnsd/geoip/geo.mmdb"
cat > "$WORK/gdnsd/config" <<EOF
options => {
  listen => [ 127.0.0.1:$GDNSD_PORT ]
  run_dir => $WORK/gdnsd/run
  state_dir => $WORK/gdnsd/state
}
plugins => {
  geoip => {
    maps => {
      pops => {
        geoip2_db => geo.mmdb
        datacenters => [ pop-fra, pop-iad, pop-sin ]
        auto_dc_coords => {
          pop-fra => [ 50.11, 8.68 ]
          pop-iad => [ 39.04, -77.49 ]
          pop-sin => [ 1.35, 103.82 ]
        }
      }
    }
    resources => {
      edge => {
        map => pops
        dcmap => { pop-fra => 127.0.1.1, pop-iad => 127.0.1.2, pop-sin => 127.0.1.3 }
      }
    }
  }
}
EOF
cat > "$WORK/gdnsd/zones/edge.test" <<'EOF'
$TTL 30
@     SOA ns1 hostmaster 1 3600 600 604800 30
@     NS  ns1
ns1   3600 A 127.0.0.1
@     30 DYNA geoip!edge
api   30 DYNA geoip!edge
EOF
"${SERVER_CPU[@]}" "$GDNSD" -c "$WORK/gdnsd" start >"$WORK/gdnsd/log" 2>&1 &
GDNSD_PID=$!
PIDS+=("$GDNSD_PID")
wait_line "$WORK/gdnsd/log" 'DNS listeners started' "gdnsd" "$GDNSD_PID"
GDNSD_VERSION=$(grep -m1 -oE 'gdnsd version [0-9.]+' "$WORK/gdnsd/log" | awk '{print $3}')

# ---------------------------------------------------------------- every server gives GSLB answers
declare -A PORT=([warren]=$WARREN_PORT [pdns]=$PDNS_PORT [gdnsd]=$GDNSD_PORT)
declare -A SERVER_PID=([warren]=$WARREN_SERVER_PID [pdns]=$PDNS_PID [gdnsd]=$GDNSD_PID)
SERVERS=(warren pdns gdnsd)
check_gslb() { # check_gslb SERVER PORT: the nearest PoP for every network and name, or die
    local server=$1 port=$2 net name got out
    for name in "${NAMES[@]}"; do
        for net in "${!EXPECT[@]}"; do
            out=$(dig @127.0.0.1 -p "$port" +norecurse +time=2 +tries=2 "$name" A "+subnet=$net" 2>&1) || true
            got=$(awk -v n="$name." '$1 == n && $4 == "A" { print $5 }' <<<"$out")
            if [[ $got != "${EXPECT[$net]}" ]] || ! grep -q 'status: NOERROR' <<<"$out" \
                || ! grep -q "CLIENT-SUBNET: $net/" <<<"$out"; then
                die "$server (port $port) does not give a GSLB answer: $name from $net should be ${EXPECT[$net]}, got '${got}':
$out"
            fi
        done
    done
    log "$server: nearest PoP for every network (${NAMES[*]}), ECS echoed"
}
# Warren's endpoint and the other PoPs' records arrive through Raft: wait for the answers.
for _ in $(seq $((START_TIMEOUT * 10))); do
    (check_gslb warren "$WARREN_PORT" 2>/dev/null) && break
    sleep 0.1
done
for s in "${SERVERS[@]}"; do check_gslb "$s" "${PORT[$s]}"; done
for i in 1 2; do check_gslb "warren ${IDS[i]}" "${DNS_PORTS[i]}"; done

# ---------------------------------------------------------------- alternate the servers
LOAD_ARGS="-B -c $CLIENTS -q $OUTSTANDING -T 1 -t 2"
LAT_ARGS="-B -c 1 -q 1 -T 1 -t 2"
run_dnsperf() { # run_dnsperf SERVER SCENARIO ROUND SECONDS ARGS...
    local server=$1 scenario=$2 round=$3 secs=$4 id t0 t1
    shift 4
    id=$server-$scenario-$round
    t0=$(proc_ticks "${SERVER_PID[$server]}")
    # shellcheck disable=SC2086
    "${CLIENT_CPU[@]}" timeout $((secs + 30)) dnsperf -s 127.0.0.1 -p "${PORT[$server]}" -d "$WORK/queries.bin" \
        -l "$secs" "$@" >"$WORK/runs/$id.txt" 2>&1 || die "dnsperf failed against $server: $(tail -5 "$WORK/runs/$id.txt")"
    t1=$(proc_ticks "${SERVER_PID[$server]}")
    for pid in "${PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null || die "process $pid died during $id (see $WORK)"
    done
    python3 "$TOOLS" parse "$server" "$scenario" "$WORK/runs/$id.txt" \
        "$(awk -v t=$((t1 - t0)) -v h="$CLK_TCK" 'BEGIN { printf "%.2f", t / h }')" "$(cut -d' ' -f1 /proc/loadavg)" \
        >>"$WORK/runs.jsonl"
    log "$id: $(tail -1 "$WORK/runs.jsonl" | python3 "$TOOLS" line)"
}
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$ROUNDS"); do
    for s in "${SERVERS[@]}"; do
        # shellcheck disable=SC2086
        run_dnsperf "$s" load "$r" "$DURATION" $LOAD_ARGS
        # shellcheck disable=SC2086
        run_dnsperf "$s" latency "$r" "$LAT_DURATION" $LAT_ARGS
    done
done
# Still right after the load.
for s in "${SERVERS[@]}"; do check_gslb "$s" "${PORT[$s]}"; done
# PowerDNS's packet cache cannot hold LUA answers: its counters say whether it served any.
PDNS_CACHE=$(pdns_control --config-dir="$WORK/pdns" --socket-dir="$WORK/pdns" show '*' 2>/dev/null | tr ',' '\n' \
    | grep -E '^packetcache-(hit|miss)=' | tr '\n' ' ' || true)

# ---------------------------------------------------------------- report
commit=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$ROOT" status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null | wc -l)
python3 - "$WORK/meta.json" <<PY
import json, sys
json.dump({
    "rounds": $ROUNDS, "seconds": $DURATION, "lat_seconds": $LAT_DURATION, "queries": $QUERIES,
    "load_args": "dnsperf $LOAD_ARGS -l $DURATION", "lat_args": "dnsperf $LAT_ARGS -l $LAT_DURATION",
    "dnsperf_version": "$(dnsperf -h 2>&1 | awk '/^Version/ { print $2 }')",
    "pdns_version": "$PDNS_VERSION", "gdnsd_version": "$GDNSD_VERSION", "pdns_packetcache": "$PDNS_CACHE",
    "warren_version": "$("$WARREN_BIN" --version 2>/dev/null | head -1 || echo warren)",
    "pinning": "$PINNING", "commit": "$commit", "dirty": $dirty, "bin": "$WARREN_BIN",
    "bin_sha": "$(sha256sum "$WARREN_BIN" | cut -c1-12)", "bin_mtime": "$(date -u -r "$WARREN_BIN" '+%Y-%m-%d %H:%M UTC')",
    "bin_given": $BIN_GIVEN, "loadavg_start": "$LOADAVG_START", "loadavg_end": "$(cut -d' ' -f1-3 /proc/loadavg)",
    "setup": [
        "Warren: three \`warren pop\` processes forming one cluster on 127.0.0.1 (Raft, peer health probes every second), "
        "\`geo.mmdb\` the generated database, \`dns.ttl\` 30; endpoint \`api\` registered by a \`warren http\` agent "
        "with its tunnel on pop-fra (so the tunnel-aware ranking runs for it); dnsperf asks pop-fra.",
        "PowerDNS: \`launch=bind,geoip\`, \`enable-lua-records=yes\`, \`edns-subnet-processing=yes\`, the zone's apex and "
        "\`api\` as \`LUA A \"$PICK\"\`; otherwise defaults (packet cache on, 3 distributor threads). pickclosest locates "
        "the client and the three addresses in the same database. Its packet cache at the end: $PDNS_CACHE.",
        "gdnsd: geoip plugin, one map with \`geoip2_db\` the same database, \`datacenters\` the three PoPs and "
        "\`auto_dc_coords\` their coordinates (city-auto-mode: nearest first); apex and \`api\` as \`DYNA geoip!edge\`; "
        "otherwise defaults (2 UDP threads per listener).",
        "Each server answers every query in the file NOERROR with one A record; the checks before and after the runs "
        "asked each for both names from each network with dig +subnet.",
    ],
}, open(sys.argv[1], "w"), indent=2)
PY
python3 "$TOOLS" report "$WORK" "$OUT_DIR" "$WORK/meta.json"
log "wrote $OUT_DIR/dns-latest.md and dns-latest.json"
