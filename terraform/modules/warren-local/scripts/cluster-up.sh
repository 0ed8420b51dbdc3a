#!/bin/sh
# Creates STATE_DIR with the cluster secret and the admin token (random, owner-only, kept if present).
set -eu
umask 077
mkdir -p "$STATE_DIR"
for f in "$SECRET_FILE" "$ADMIN_TOKEN_FILE"; do
  if [ ! -s "$f" ]; then
    od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$f"
  fi
done
echo "warren-local: $STATE_DIR ready"
