#!/bin/sh
# Stops the PoP of POP_DIR (SIGTERM: it drains, then SIGKILL after 15 s) and removes POP_DIR,
# unless --keep. Only a process running this folder's pop.yaml is signalled, never a recycled pid.
set -eu

# alive PID: the process exists and is not a zombie (a zombie still answers kill -0).
alive() {
  [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -c1)" != Z ]
}

[ -n "${POP_DIR:-}" ] || { echo "warren-local: POP_DIR is not set" >&2; exit 1; }
pid_file="$POP_DIR/warren.pid"
if [ -f "$pid_file" ]; then
  pid=$(cat "$pid_file")
  if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--config $POP_DIR/pop.yaml"; then
    kill -TERM "$pid" 2>/dev/null || true
    i=0
    while alive "$pid" && [ "$i" -lt 75 ]; do
      sleep 0.2
      i=$((i + 1))
    done
    if alive "$pid"; then
      echo "warren-local: pid $pid did not stop within 15s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    echo "warren-local: stopped $(basename "$POP_DIR") (pid $pid)"
  fi
  rm -f "$pid_file"
fi
if [ "${1:-}" != "--keep" ]; then
  rm -rf "$POP_DIR"
fi
