#!/usr/bin/env bash
# fileport SDK compatibility suite: runs the official `openai` Node SDK (6.x) against a fresh
# fileport server.
#
# usage: tests/sdk/run.sh PATH_TO_FILEPORT_BINARY [extra `node --test` args, e.g. --test-name-pattern=md5]
#
# Works from any cwd. Needs node ≥ 20, npm, curl, and python3 or node to pick a free port.
set -euo pipefail

die() { echo "run.sh: $*" >&2; exit 2; }

[[ $# -ge 1 ]] || die "usage: $0 PATH_TO_FILEPORT_BINARY [node --test args...]"
BIN_ARG=$1
shift
[[ -x "$BIN_ARG" && ! -d "$BIN_ARG" ]] || die "not an executable: $BIN_ARG"
BIN=$(cd "$(dirname "$BIN_ARG")" && pwd)/$(basename "$BIN_ARG")

SDK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

command -v node >/dev/null || die "node is not installed"
command -v npm >/dev/null || die "npm is not installed"
command -v curl >/dev/null || die "curl is not installed"

# --- dependencies: npm ci when node_modules is missing or older than package-lock.json -------
STAMP="$SDK_DIR/node_modules/.fileport-package-lock.json"
if [[ ! -d "$SDK_DIR/node_modules/openai" || ! -f "$STAMP" ]] || ! cmp -s "$SDK_DIR/package-lock.json" "$STAMP"; then
  echo "run.sh: installing SDK dependencies (npm ci)" >&2
  (cd "$SDK_DIR" && npm ci --no-audit --no-fund) >&2
  cp "$SDK_DIR/package-lock.json" "$STAMP"
fi

# --- server ------------------------------------------------------------------------------------
TMPDIR_RUN=$(mktemp -d "${TMPDIR:-/tmp}/fileport-sdk.XXXXXX")
SERVER_PID=
cleanup() {
  local rc=$?
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$TMPDIR_RUN"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  if command -v python3 >/dev/null; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
  else
    node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
  fi
}
PORT=$(free_port)
DATA="$TMPDIR_RUN/data"
mkdir -p "$DATA"
LOG="$TMPDIR_RUN/server.log"

"$BIN" serve --listen "127.0.0.1:$PORT" --data "$DATA" >"$LOG" 2>&1 &
SERVER_PID=$!

up=
for _ in $(seq 1 100); do # ~10 s
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "run.sh: fileport exited before becoming healthy; server log:" >&2
    cat "$LOG" >&2
    exit 1
  fi
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$PORT/healthz" || true)
  if [[ "$code" == 200 ]]; then up=1; break; fi
  sleep 0.1
done
if [[ -z "$up" ]]; then
  echo "run.sh: GET http://127.0.0.1:$PORT/healthz never answered 200 within 10 s; server log:" >&2
  cat "$LOG" >&2
  exit 1
fi

export FILEPORT_BASE_URL="http://127.0.0.1:$PORT/v1"
export FILEPORT_BIN="$BIN"
export FILEPORT_DATA="$DATA"
# keep the SDK from picking up a developer's real credentials or endpoint
unset OPENAI_API_KEY OPENAI_BASE_URL OPENAI_ORG_ID OPENAI_PROJECT_ID OPENAI_ADMIN_KEY || true

echo "run.sh: fileport up at $FILEPORT_BASE_URL (data $DATA), openai $(node -p "require('$SDK_DIR/node_modules/openai/package.json').version")" >&2

# Watchdog: a test that hangs on an open handle would otherwise keep node alive indefinitely.
WATCHDOG=()
if command -v timeout >/dev/null; then
  WATCHDOG=(timeout --kill-after=10 "${FILEPORT_SDK_TIMEOUT:-900}")
fi

set +e
"${WATCHDOG[@]}" node --test --test-concurrency=1 "$@" "$SDK_DIR"/*.test.mjs
rc=$?
[[ $rc -eq 124 ]] && echo "run.sh: the suite exceeded ${FILEPORT_SDK_TIMEOUT:-900} s and was killed" >&2
set -e

if [[ $rc -ne 0 ]]; then
  echo "run.sh: tests failed (exit $rc); last 60 lines of the server log:" >&2
  tail -n 60 "$LOG" >&2 || true
fi
exit "$rc"
