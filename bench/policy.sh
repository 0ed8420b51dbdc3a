#!/usr/bin/env bash
# The cost of JWT validation at the edge: requests per second and latency percentiles through a
# Warren endpoint with a `jwt-validation` traffic policy, next to the same endpoint setup without
# a policy (same PoP, same nginx backend, same wrk settings, same bearer token sent both ways).
# Everything runs on 127.0.0.1; every process started here is stopped on exit.
#
#   bench/policy.sh                 # full: 3 rounds of 15 s runs (~6 min)
#   QUICK=1 bench/policy.sh         # 1 round of 5 s runs (~1.5 min)
#
# Paths (one agent each, both connected to the one PoP for the whole run, identical flags but
# --traffic-policy-file):
#   none       wrk -> PoP (Host: plain.edge.test) -> tunnel -> agent A -> nginx; no policy
#   jwt        wrk -> PoP (Host: authz.edge.test) -> jwt-validation -> tunnel -> agent B -> nginx,
#              the same token on every request (after the first, the PoP's memo of verified
#              tokens answers: the steady state of a client reusing its token)
#   jwt-fresh  as jwt, but every request carries a different token (a pool larger than the memo,
#              lib/wrk-tokens.lua): a full RS256 signature check per request
# Each round runs every path, in alternating order (none first, then last), for each scenario:
# `wrk -tTHREADS -cCONNS` (load) and `wrk -t1 -c1` (latency).
#
# The identity provider is lib/jwt_idp.py (RSA-2048 key, JWKS over HTTP on 127.0.0.1, RS256
# tokens with a 1 h expiry), standing in for `warren dev-idp`; it needs PyJWT and cryptography,
# pip-installed here when missing.
#
# Knobs (environment): WARREN_BIN (skip the build), BIN_NOTE (where that binary comes from, for
# the report), DURATION (s), ROUNDS, THREADS and CONNS (the load scenario), TOKEN_POOL (tokens of
# the jwt-fresh path, default 12000, more than the PoP's memo of 10 000; 0: no jwt-fresh path),
# NGINX_WORKERS (default 1), LOG_LEVEL (PoP and agents, default info), OUT_DIR (default
# bench/results), KEEP_WORK=1 (keep the temporary directory and logs).
#
# Writes OUT_DIR/policy-latest.md and policy-latest.json.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_NAME=policy-bench
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"   # log, die, cleanup trap, nginx / PoP / agent start-up, run_wrk, report args

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
    DURATION=${DURATION:-5}; ROUNDS=${ROUNDS:-1}
else
    DURATION=${DURATION:-15}; ROUNDS=${ROUNDS:-3}
fi
THREADS=${THREADS:-2}
CONNS=${CONNS:-32}
TOKEN_POOL=${TOKEN_POOL:-12000}
NGINX_WORKERS=${NGINX_WORKERS:-1}
LOG_LEVEL=${LOG_LEVEL:-info}
OUT_DIR=${OUT_DIR:-$HERE/results}
BIN_NOTE=${BIN_NOTE:-}
PLAIN_HOST=plain.edge.test   # same length as AUTHZ_HOST: the requests differ only by the policy
AUTHZ_HOST=authz.edge.test
AUDIENCE=warren-bench
ADMIN_TOKEN=bench-admin-token

# ---------------------------------------------------------------- tools
need_base_tools
if ! python3 -c 'import jwt, cryptography' 2>/dev/null; then
    log "installing PyJWT and cryptography (pip, for lib/jwt_idp.py)"
    python3 -m pip install -q pyjwt cryptography >/dev/null 2>&1 \
        || python3 -m pip install -q --user pyjwt cryptography >/dev/null 2>&1 \
        || python3 -m pip install -q --user --break-system-packages pyjwt cryptography >/dev/null \
        || die "could not pip install pyjwt cryptography; install them and re-run"
fi
warren_binary
make_work warren-policy-bench

# ---------------------------------------------------------------- identity provider
mkdir -p "$WORK/idp"
IDP_ARGS=(--audience "$AUDIENCE" --token-out "$WORK/idp/token")
[[ $TOKEN_POOL -gt 0 ]] && IDP_ARGS+=(--pool "$TOKEN_POOL" --pool-out "$WORK/idp/pool")
log "starting the identity provider (lib/jwt_idp.py; $TOKEN_POOL pool tokens to mint)"
python3 "$HERE/lib/jwt_idp.py" "${IDP_ARGS[@]}" >"$WORK/idp/stdout" 2>"$WORK/idp/stderr" &
IDP_PID=$!
PIDS+=("$IDP_PID")
wait_line "$WORK/idp/stdout" '^listening addr=' "identity provider" "$IDP_PID"
ISSUER=$(sed -nE 's/^listening .* issuer=([^ ]+).*/\1/p' "$WORK/idp/stdout" | head -1)
JWKS_URL=$(sed -nE 's/^listening .* jwks_url=([^ ]+).*/\1/p' "$WORK/idp/stdout" | head -1)
START_TIMEOUT=300 wait_line "$WORK/idp/stdout" '^ready$' "identity provider (minting tokens)" "$IDP_PID"
TOKEN=$(tr -d '[:space:]' <"$WORK/idp/token")
[[ -n $TOKEN ]] || die "the identity provider wrote no token"
log "idp: issuer=$ISSUER jwks=$JWKS_URL; $(grep -m1 '^pool ' "$WORK/idp/stdout" || echo 'no token pool')"
curl -fsS -o /dev/null "$JWKS_URL" || die "no JWKS at $JWKS_URL"

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
"$WARREN_BIN" policy validate "$WORK/policy.yaml" >"$WORK/policy-validate.txt" 2>&1 \
    || die "policy does not validate: $(cat "$WORK/policy-validate.txt")"

# ---------------------------------------------------------------- backend, PoP, agents
start_nginx
start_pop
start_agent agent-plain "$PLAIN_HOST"
PLAIN_AGENT_PID=$LAST_PID
start_agent agent-authz "$AUTHZ_HOST" --traffic-policy-file "$WORK/policy.yaml"
AUTHZ_AGENT_PID=$LAST_PID

URL="http://$POP_HTTP/"
AUTH_HEADER="Authorization: Bearer $TOKEN"
# The same bytes every way, and the policy really enforced, or the comparison means nothing.
direct_body=$(curl -fsS "$DIRECT_URL")
plain_body=$(curl -fsS -H "Host: $PLAIN_HOST" -H "$AUTH_HEADER" "$URL") || die "no 2xx through the plain endpoint"
authz_body=$(curl -fsS -H "Host: $AUTHZ_HOST" -H "$AUTH_HEADER" "$URL") \
    || die "the token is refused: $(curl -sS -i -H "Host: $AUTHZ_HOST" -H "$AUTH_HEADER" "$URL" | head -5)"
[[ $plain_body == "$direct_body" && $authz_body == "$direct_body" ]] || die "bodies differ between the paths"
noauth=$(curl -sS -o /dev/null -w '%{http_code}' -H "Host: $AUTHZ_HOST" "$URL")
[[ $noauth == 401 ]] || die "the jwt endpoint answered $noauth without a token (expected 401)"
sig=${TOKEN##*.}
c=${sig:10:1}; [[ $c == A ]] && c=B || c=A   # one character of the signature changed
badsig=$(curl -sS -o /dev/null -w '%{http_code}' -H "Host: $AUTHZ_HOST" \
    -H "Authorization: Bearer ${TOKEN%.*}.${sig:0:10}$c${sig:11}" "$URL")
[[ $badsig == 401 ]] || die "the jwt endpoint answered $badsig to a token with a broken signature (expected 401)"
if [[ $TOKEN_POOL -gt 0 ]]; then
    pool_code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Host: $AUTHZ_HOST" \
        -H "Authorization: Bearer $(tail -1 "$WORK/idp/pool")" "$URL")
    [[ $pool_code == 200 ]] || die "a pool token is refused ($pool_code)"
fi
log "checks: 200 with the token both ways, 401 without a token and with a bad signature"

# ---------------------------------------------------------------- measuring
export WRK_REPORT_LUA="$HERE/lib/wrk-report.lua" WRK_TOKENS="$WORK/idp/pool" WRK_TOKEN_STATE="$WORK/token-state"
# policy_wrk ID SCENARIO PATH THREADS CONNS SECONDS
policy_wrk() {
    local id=$1 scenario=$2 path=$3 t=$4
    shift 3
    case $path in
        none)
            AGENT_PID=$PLAIN_AGENT_PID WRK_SCRIPT="" \
                run_wrk "$id" "$scenario" "$path" "$URL" "$@" -H "Host: $PLAIN_HOST" -H "$AUTH_HEADER" ;;
        jwt)
            AGENT_PID=$AUTHZ_AGENT_PID WRK_SCRIPT="" \
                run_wrk "$id" "$scenario" "$path" "$URL" "$@" -H "Host: $AUTHZ_HOST" -H "$AUTH_HEADER" ;;
        jwt-fresh)
            AGENT_PID=$AUTHZ_AGENT_PID WRK_SCRIPT="$HERE/lib/wrk-tokens.lua" WRK_THREADS=$t \
                run_wrk "$id" "$scenario" "$path" "$URL" "$@" -H "Host: $AUTHZ_HOST" ;;
    esac
}
export WRK_THREADS=1
PATHS=(none jwt)
[[ $TOKEN_POOL -gt 0 ]] && PATHS+=(jwt-fresh)

log "warm-up (3 s per path, not recorded; the PoP fetches the JWKS here)"
for p in "${PATHS[@]}"; do policy_wrk "warmup-$p" warmup "$p" "$THREADS" "$CONNS" 3; done
grep -q 'JWKS fetched' "$WORK/pop/stdout" "$WORK/pop/stderr" || log "warning: no 'JWKS fetched' line in the PoP log"
: >"$WORK/runs.jsonl"

LOAD="load-t${THREADS}c${CONNS}"
for round in $(seq "$ROUNDS"); do
    order=("${PATHS[@]}")
    if ((round % 2 == 0)); then   # alternate the order, so no path always runs first
        order=()
        for ((k = ${#PATHS[@]} - 1; k >= 0; k--)); do order+=("${PATHS[k]}"); done
    fi
    log "round $round/$ROUNDS (${DURATION}s per run; order: ${order[*]})"
    for p in "${order[@]}"; do policy_wrk "r$round-$LOAD-$p" "$LOAD" "$p" "$THREADS" "$CONNS" "$DURATION"; done
    for p in "${order[@]}"; do policy_wrk "r$round-latency-t1c1-$p" latency-t1c1 "$p" 1 1 "$DURATION"; done
done

# ---------------------------------------------------------------- report
JWKS_FETCHES=$(grep -c 'jwks served' "$WORK/idp/stderr" || true)
report_common_args
python3 "$HERE/lib/policy_report.py" "${REPORT_ARGS[@]}" \
    --runs "$WORK/runs.jsonl" --out-md "$OUT_DIR/policy-latest.md" --out-json "$OUT_DIR/policy-latest.json" \
    --duration "$DURATION" --rounds "$ROUNDS" --quick "$QUICK" --token-pool "$TOKEN_POOL" \
    --token-bytes "${#TOKEN}" --jwks-fetches "$JWKS_FETCHES" --policy "$WORK/policy.yaml" --bin-note "$BIN_NOTE"
log "wrote $OUT_DIR/policy-latest.md and policy-latest.json"
