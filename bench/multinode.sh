#!/usr/bin/env bash
# Part ingest and download throughput of one and of three fileport nodes sharing PostgreSQL
# and a Ceph RGW (S3), all on this machine. Starts the engines itself (scripts/postgres.sh,
# scripts/ceph.sh) unless FILEPORT_TEST_POSTGRES / FILEPORT_TEST_S3 are already set.
#   bench/multinode.sh [path/to/fileport] [parts (default 12)]
# Parts are 64 MiB, sent 6 at a time (round-robin over the nodes in the 3-node case); the
# download is of the completed file, 3 readers at once (each on its own node when 3).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(realpath "${1:-$ROOT/build/src/cli/fileport}")
PARTS=${2:-12}
WORK=$(mktemp -d /tmp/fileport-multinode-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do { wait "$p"; } 2>/dev/null || true; done
  [ -n "${OWN_CEPH:-}" ] && "$ROOT/scripts/ceph.sh" stop "$WORK/ceph" >/dev/null 2>&1 || true
  [ -n "${OWN_PG:-}" ] && "$ROOT/scripts/postgres.sh" stop "$WORK/pg" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
if [ -z "${FILEPORT_TEST_POSTGRES:-}" ]; then eval "$("$ROOT/scripts/postgres.sh" start "$WORK/pg")"; OWN_PG=1; fi
if [ -z "${FILEPORT_TEST_S3:-}" ]; then eval "$("$ROOT/scripts/ceph.sh" start "$WORK/ceph")"; OWN_CEPH=1; fi

head -c $((64 << 20)) /dev/urandom >"$WORK/part"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
json() { python3 -c "import sys,json; print(json.load(sys.stdin)$1)"; }
now() { date +%s.%N; }
mibs() { python3 -c "print(f'{$1 / ($3 - $2) / 1048576:.0f} MiB/s')"; }

run() {  # nodes
  local n=$1 tag="b$(date +%s%N)" urls=() pids=()
  local db="fileport_$tag"
  psql "$FILEPORT_TEST_POSTGRES" -qc "CREATE DATABASE $db" >/dev/null
  local meta
  meta=$(python3 -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/"+sys.argv[2])))' "$FILEPORT_TEST_POSTGRES" "$db")
  local blobs
  blobs=$(echo "$FILEPORT_TEST_S3" | sed -E "s#^s3://([^/?]+)(/[^?]*)?#s3://\\1/$tag#")
  for i in $(seq "$n"); do
    local port; port=$(free_port)
    "$BIN" serve --listen "127.0.0.1:$port" --data "$WORK/$tag-$i" --meta "$meta" --blobs "$blobs" --log-level warn >"$WORK/$tag-$i.log" 2>&1 &
    pids+=($!); PIDS+=($!); urls+=("http://127.0.0.1:$port/v1")
  done
  for u in "${urls[@]}"; do
    for _ in $(seq 100); do curl -sf "${u%/v1}/readyz" >/dev/null && break; sleep 0.1; done
  done
  local total=$((PARTS * (64 << 20)))
  local up
  up=$(curl -sf -H 'content-type: application/json' -d "{\"bytes\":$total,\"filename\":\"b.bin\",\"mime_type\":\"application/octet-stream\",\"purpose\":\"assistants\"}" "${urls[0]}/uploads" | json '["id"]')
  local t0; t0=$(now)
  seq 0 $((PARTS - 1)) | xargs -P 6 -I{} sh -c 'u=$(echo "$0" | cut -d" " -f$(( {} % '"$n"' + 1 ))); curl -sf -H "Expect:" -F data=@"$1" "$u/uploads/$2/parts" | python3 -c "import sys,json; print({},json.load(sys.stdin)[\"id\"])"' "${urls[*]}" "$WORK/part" "$up" >"$WORK/$tag.parts"
  local t1; t1=$(now)
  local ids; ids=$(sort -n "$WORK/$tag.parts" | awk '{printf "%s\"%s\"", (NR>1?",":""), $2}')
  local file; file=$(curl -sf -H 'content-type: application/json' -d "{\"part_ids\":[$ids]}" "${urls[$((n - 1))]}/uploads/$up/complete" | json '["file"]["id"]')
  local t2; t2=$(now)
  local readers=()
  for r in 0 1 2; do curl -sf -o /dev/null "${urls[$((r % n))]}/files/$file/content" & readers+=($!); done
  for p in "${readers[@]}"; do wait "$p"; done
  local t3; t3=$(now)
  echo "| $n | $(mibs "$total" "$t0" "$t1") | $(mibs "$((3 * total))" "$t2" "$t3") |"
  for p in "${pids[@]}"; do kill "$p"; { wait "$p"; } 2>/dev/null || true; done
}
echo "| nodes | part ingest ($PARTS x 64 MiB, 6 at a time) | download (3 readers of $((PARTS * 64)) MiB) |"
echo "|---|---|---|"
run 1
run 3
