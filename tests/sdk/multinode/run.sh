#!/usr/bin/env bash
# The multi-node suite: three `fileport serve` processes sharing one PostgreSQL database and
# one S3 bucket (prefix), driven by the official `openai` SDK (tests/sdk/node_modules).
#
# usage: tests/sdk/multinode/run.sh PATH_TO_FILEPORT_BINARY
#
# Needs FILEPORT_TEST_POSTGRES (a libpq URI of a server where databases may be created),
# FILEPORT_TEST_S3 (s3://BUCKET?endpoint=…&region=…) and AWS_ACCESS_KEY_ID /
# AWS_SECRET_ACCESS_KEY, as printed by scripts/postgres.sh and scripts/ceph.sh. Without them
# the suite is reported skipped (TAP counts on stdout, like node --test), never passed.
set -euo pipefail
die() { echo "multinode: $*" >&2; exit 2; }
[[ $# -ge 1 ]] || die "usage: $0 PATH_TO_FILEPORT_BINARY"
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ -z "${FILEPORT_TEST_POSTGRES:-}" || -z "${FILEPORT_TEST_S3:-}" ]]; then
  echo "SKIPPED: multi-node suite: FILEPORT_TEST_POSTGRES and FILEPORT_TEST_S3 are not both set (scripts/postgres.sh and scripts/ceph.sh start the engines)"
  printf '# pass 0\n# fail 0\n# skipped 1\n'
  exit 0
fi
[[ -d "$HERE/../node_modules/openai" ]] || die "run tests/sdk/run.sh first (npm ci)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fileport-multinode.XXXXXX")
PIDS=()
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do { wait "$pid"; } 2>/dev/null || true; done
  if [[ -n "${DB:-}" ]]; then psql "$FILEPORT_TEST_POSTGRES" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

# A fresh database and a fresh key prefix: runs never see each other's objects.
TAG="mn$(date +%s)$$"
DB="fileport_$TAG"
psql "$FILEPORT_TEST_POSTGRES" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $DB" >/dev/null
META=$(python3 -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/"+sys.argv[2])))' "$FILEPORT_TEST_POSTGRES" "$DB")
BLOBS=$(echo "$FILEPORT_TEST_S3" | sed -E "s#^s3://([^/?]+)(/[^?]*)?#s3://\\1/$TAG#")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
URLS=()
for n in 1 2 3; do
  port=$(free_port)
  "$BIN" serve --listen "127.0.0.1:$port" --data "$WORK/node$n" --meta "$META" --blobs "$BLOBS" \
    --log-level warn >"$WORK/node$n.log" 2>&1 &
  PIDS+=($!)
  URLS+=("http://127.0.0.1:$port")
done
for i in 0 1 2; do
  up=
  for _ in $(seq 1 100); do
    kill -0 "${PIDS[$i]}" 2>/dev/null || { cat "$WORK/node$((i + 1)).log" >&2; die "node $((i + 1)) exited"; }
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "${URLS[$i]}/readyz" || true)" == 200 ]] && { up=1; break; }
    sleep 0.1
  done
  [[ -n "$up" ]] || { cat "$WORK/node$((i + 1)).log" >&2; die "node $((i + 1)) never became ready"; }
done
echo "multinode: 3 nodes on $(echo "$META" | sed -E 's#//[^@]*@#//#') and ${BLOBS%%\?*}" >&2

export FILEPORT_NODES=$(IFS=,; echo "${URLS[*]}")
export FILEPORT_MN_META="$META" FILEPORT_MN_BLOBS="$BLOBS"
export FILEPORT_NODE_PIDS=$(IFS=,; echo "${PIDS[*]}")
unset OPENAI_API_KEY OPENAI_BASE_URL OPENAI_ORG_ID OPENAI_PROJECT_ID || true
set +e
timeout --kill-after=10 600 node --test --test-concurrency=1 "$HERE"/*.test.mjs
rc=$?
set -e
if [[ $rc -ne 0 ]]; then
  for n in 1 2 3; do echo "--- node $n log (last 30 lines)" >&2; tail -n 30 "$WORK/node$n.log" >&2; done
fi
exit $rc
