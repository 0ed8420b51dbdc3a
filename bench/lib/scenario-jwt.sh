#!/usr/bin/env bash
# bench/run scenario 2, JWT-validated HTTP: the cost of a `jwt-validation` traffic policy at the
# edge, and nginx as a plain reverse proxy for scale. One nginx backend, one PoP, two agents with
# the same flags but --traffic-policy-file; every request carries `Authorization: Bearer TOKEN`.
#   none         wrk -> PoP (Host: plain.edge.test) -> tunnel -> agent -> nginx; no policy
#   jwt          the same through authz.edge.test with the policy; one token reused (after the first
#                request the PoP answers from its memo of verified tokens)
#   jwt-fresh    the policy, a different token on every request (a pool larger than the memo, cycled
#                by lib/wrk-tokens.lua): a full RS256 signature check per request (load runs only:
#                h2load cannot vary a header per request)
#   nginx-proxy  wrk -> nginx reverse proxy (upstream keep-alive) -> nginx; no auth, one hop
# Tokens come from `warren dev-idp` (RS256, its JWKS on 127.0.0.1). Writes RESULT_DIR/jwt.jsonl.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_NAME=run/jwt
# shellcheck source=common.sh
source "$HERE/common.sh"
# shellcheck source=peers.sh
source "$HERE/peers.sh"

: "${DURATION:?}" "${ROUNDS:?}" "${THREADS:?}" "${CONNS:?}" "${RATE:?}" "${RATE_CONNS:?}"
TOKEN_POOL=${TOKEN_POOL:-12000}
NGINX_WORKERS=${NGINX_WORKERS:-1}
WARMUP=${WARMUP:-2}
LOG_LEVEL=${LOG_LEVEL:-warn}
OUT_DIR=$RESULT_DIR
ADMIN_TOKEN=bench-admin-token
PLAIN_HOST=plain.edge.test   # same length as AUTHZ_HOST: the requests differ only by the policy
AUTHZ_HOST=authz.edge.test
AUDIENCE=warren-bench
need_base_tools
warren_binary
make_work warren-run-jwt

# ---------------------------------------------------------------- identity provider and tokens
mkdir -p "$WORK/idp"
env -u http_proxy -u HTTP_PROXY "$WARREN_BIN" dev-idp --listen 127.0.0.1:0 --audience "$AUDIENCE" \
    --log-level "$LOG_LEVEL" >"$WORK/idp/stdout" 2>"$WORK/idp/stderr" &
IDP_PID=$!
PIDS+=("$IDP_PID")
wait_line "$WORK/idp/stdout" '^JWKS: ' "warren dev-idp" "$IDP_PID"
IDP_ADDR=$(sed -nE 's/^listening name=dev-idp addr=([^ ]+).*/\1/p' "$WORK/idp/stdout" | head -1)
ISSUER=$(sed -nE 's/^issuer: +([^ ]+).*/\1/p' "$WORK/idp/stdout" | head -1)
JWKS_URL=$(sed -nE 's/^JWKS: +([^ ]+).*/\1/p' "$WORK/idp/stdout" | head -1)
[[ -n $IDP_ADDR && -n $ISSUER && -n $JWKS_URL ]] || die "cannot read warren dev-idp's addresses: $(cat "$WORK/idp/stdout")"
log "dev-idp: issuer $ISSUER; minting 1 token and a pool of $TOKEN_POOL"
python3 "$TOOLS_PY" mint --token-url "http://$IDP_ADDR/token" --audience "$AUDIENCE" \
    --token-out "$WORK/idp/token" --pool "$TOKEN_POOL" --pool-out "$WORK/idp/pool" 2>"$WORK/idp/mint.log" \
    || die "minting tokens failed: $(tail -3 "$WORK/idp/mint.log")"
[[ $TOKEN_POOL -gt 0 ]] && log "$(cat "$WORK/idp/mint.log")"
TOKEN=$(tr -d '[:space:]' <"$WORK/idp/token")

cat >"$WORK/policy.yaml" <<EOF
on_http_request:
  - name: Require a bench token
    actions:
      - type: jwt-validation
        config:
          issuer:
            allow_list:
              - value: $ISSUER
          audience:
            allow_list:
              - value: $AUDIENCE
          http:
            tokens:
              - type: jwt
                method: header
                name: Authorization
                prefix: "Bearer "
          jws:
            allowed_algorithms:
              - RS256
            keys:
              sources:
                additional_jkus:
                  - $JWKS_URL
EOF

# ---------------------------------------------------------------- backend, PoP, agents, proxy
start_nginx
start_pop
start_agent agent-plain "$PLAIN_HOST"
PLAIN_AGENT_PID=$LAST_PID
start_agent agent-authz "$AUTHZ_HOST" --traffic-policy-file "$WORK/policy.yaml"
AUTHZ_AGENT_PID=$LAST_PID
start_nginx_proxy "127.0.0.1:$NGINX_PORT"
sleep 0.5   # nginx forks its workers
NGINX_PROXY_WORKER_PIDS=$(pgrep -P "$NGINX_PROXY_PID" | tr '\n' ' ')

URL="http://$POP_HTTP/"
AUTH_HEADER="Authorization: Bearer $TOKEN"
want=$(curl -fsS "$DIRECT_URL")
[[ $(curl -fsS -H "Host: $PLAIN_HOST" -H "$AUTH_HEADER" "$URL") == "$want" ]] || die "plain endpoint: wrong body"
[[ $(curl -fsS -H "Host: $AUTHZ_HOST" -H "$AUTH_HEADER" "$URL") == "$want" ]] \
    || die "the token is refused: $(curl -sS -i -H "Host: $AUTHZ_HOST" -H "$AUTH_HEADER" "$URL" | head -5)"
[[ $(curl -fsS -H "$AUTH_HEADER" "http://$NGINX_PROXY_ADDR/") == "$want" ]] || die "nginx proxy: wrong body"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Host: $AUTHZ_HOST" "$URL")
[[ $code == 401 ]] || die "the jwt endpoint answered $code without a token (expected 401)"
if [[ $TOKEN_POOL -gt 0 ]]; then
    code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Host: $AUTHZ_HOST" -H "Authorization: Bearer $(tail -1 "$WORK/idp/pool")" "$URL")
    [[ $code == 200 ]] || die "a pool token is refused ($code)"
fi
log "checks: 200 with the token, 401 without; the same body through nginx"

# ---------------------------------------------------------------- measuring
export WRK_REPORT_LUA="$HERE/wrk-report.lua" WRK_TOKENS="$WORK/idp/pool" WRK_TOKEN_STATE="$WORK/token-state"
# jwt_run KIND ID PATH SECONDS
jwt_run() {
    local kind=$1 id=$2 p=$3 secs=$4 server="" client="" url=$URL args=()
    case $p in
        none) server=$POP_PID; client=$PLAIN_AGENT_PID; args=(-H "Host: $PLAIN_HOST" -H "$AUTH_HEADER") ;;
        jwt) server=$POP_PID; client=$AUTHZ_AGENT_PID; args=(-H "Host: $AUTHZ_HOST" -H "$AUTH_HEADER") ;;
        jwt-fresh) server=$POP_PID; client=$AUTHZ_AGENT_PID; args=(-H "Host: $AUTHZ_HOST") ;;
        nginx-proxy) server=$NGINX_PROXY_PID; client=$NGINX_PROXY_WORKER_PIDS; url="http://$NGINX_PROXY_ADDR/"
            args=(-H "$AUTH_HEADER") ;;
    esac
    if [[ $kind == load ]]; then
        local script=""
        [[ $p == jwt-fresh ]] && script="$HERE/wrk-tokens.lua"
        POP_PID=$server AGENT_PID=$client WRK_SCRIPT=$script WRK_THREADS=$THREADS \
            run_wrk "$id" load "$p" "$url" "$THREADS" "$CONNS" "$secs" "${args[@]}"
    else
        POP_PID=$server AGENT_PID=$client run_rate "$id" rate "$p" "$url" "$secs" "${args[@]}"
    fi
}
PATHS=(none jwt)
[[ $TOKEN_POOL -gt 0 ]] && PATHS+=(jwt-fresh)
PATHS+=(nginx-proxy)
log "warm-up (${WARMUP}s per path, not recorded; the PoP fetches the JWKS here)"
for p in "${PATHS[@]}"; do jwt_run load "warmup-$p" "$p" "$WARMUP"; done
: >"$WORK/runs.jsonl"
for round in $(seq "$ROUNDS"); do
    order=("${PATHS[@]}")
    if ((round % 2 == 0)); then order=(); for ((k = ${#PATHS[@]} - 1; k >= 0; k--)); do order+=("${PATHS[k]}"); done; fi
    log "round $round/$ROUNDS (${DURATION}s per run; order: ${order[*]})"
    for p in "${order[@]}"; do jwt_run load "r$round-load-$p" "$p" "$DURATION"; done
    for p in "${order[@]}"; do
        [[ $p == jwt-fresh ]] || jwt_run rate "r$round-rate-$p" "$p" "$DURATION"
    done
done
python3 - "$WORK/runs.jsonl" "${#TOKEN}" "$TOKEN_POOL" "$(grep -c . "$WORK/policy.yaml")" >"$RESULT_DIR/jwt.jsonl" <<'PY'
import json, sys
path, token_bytes, pool, _ = sys.argv[1:5]
for line in open(path):
    r = json.loads(line)
    r.setdefault("kind", "load")
    r["token_bytes"], r["token_pool"] = int(token_bytes), int(pool)
    print(json.dumps(r))
PY
cp "$WORK/policy.yaml" "$RESULT_DIR/jwt-policy.yaml"
log "wrote $RESULT_DIR/jwt.jsonl"
