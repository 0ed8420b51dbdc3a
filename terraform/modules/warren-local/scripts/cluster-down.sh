#!/bin/sh
# Removes STATE_DIR (the PoPs in it were stopped first: they depend on it).
set -eu
case "$STATE_DIR" in
  /?*) ;;
  *) echo "warren-local: refusing to remove '$STATE_DIR'" >&2; exit 1 ;;
esac
for pid_file in "$STATE_DIR"/*/warren.pid; do
  [ -e "$pid_file" ] || continue
  echo "warren-local: $pid_file is still there; stopping it" >&2
  POP_DIR=$(dirname "$pid_file") "$(dirname "$0")/pop-down.sh"
done
rm -rf "$STATE_DIR"
echo "warren-local: removed $STATE_DIR"
