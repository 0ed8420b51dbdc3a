#!/bin/sh
# Writes POP_DIR/pop.yaml, checks it, starts `warren pop` in the background (pid file, log) and
# waits until ADMIN_URL/healthz answers 200. Fails with the PoP's log if it exits or times out.
set -eu

# alive PID: the process exists and is not a zombie (a zombie still answers kill -0).
alive() {
  [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -c1)" != Z ]
}

mkdir -p "$POP_DIR"
cd "$POP_DIR"
printf '%s' "$POP_YAML" >pop.yaml
"$WARREN_BIN" pop --config "$POP_DIR/pop.yaml" --check

# A PoP left over from an interrupted run holds the ports: stop it first.
if [ -f warren.pid ]; then
  "$(dirname "$0")/pop-down.sh" --keep
fi

# setsid: the PoP outlives this shell and Terraform; every descriptor is redirected so
# Terraform does not wait for it.
setsid "$WARREN_BIN" pop --config "$POP_DIR/pop.yaml" >warren.log 2>&1 </dev/null &
pid=$!
echo "$pid" >warren.pid

deadline=$(($(date +%s) + ${STARTUP_TIMEOUT:-30}))
while :; do
  if curl -fsS -o /dev/null --max-time 2 "$ADMIN_URL/healthz" 2>/dev/null; then
    echo "warren-local: $(basename "$POP_DIR") (pid $pid) answers $ADMIN_URL/healthz"
    exit 0
  fi
  if ! alive "$pid"; then
    echo "warren-local: $(basename "$POP_DIR") exited during start; its log:" >&2
    cat warren.log >&2
    rm -f warren.pid
    exit 1
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "warren-local: $(basename "$POP_DIR") did not answer $ADMIN_URL/healthz within ${STARTUP_TIMEOUT:-30}s; its log:" >&2
    cat warren.log >&2
    "$(dirname "$0")/pop-down.sh" --keep
    exit 1
  fi
  sleep 0.2
done
